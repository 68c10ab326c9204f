-- vasscm 0.5.0 → 0.6.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- Interpretation of captured TOS changes, faster again (issue: terminal operations):
-- 1. Where a box is now (a yard move) is kept in vasscm.movement_position, one narrow row per
--    ledger event, instead of rewriting the event (six indexes, the clearance state watching
--    it); the yard views read it. The ledger's columns are read inline (no call per row, no
--    subtransaction for an ISO 8601 time).
-- 2. Corrections and withdrawals decided one by one plan their lookups once per session,
--    through indexes only (they were planned at every call), the message's amendments and
--    follow-ups each by their own index.
-- 3. A binding's mapping decodes only the columns its expressions read (found in pg_depend
--    through a view of them) and builds its message data only when its condition holds; every
--    existing binding's mapping is made again below, as the role that owns it (the TOS tables
--    and their capture triggers are not touched).
-- 4. A batch's captured rows are read once for all bindings; identities alone in their batch
--    are decided without ordering the batch.
-- Privileges end as at install: sql/roles.sql is applied again at the end.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.6.0'" to load this file. \quit


-- 1. The ledger: where boxes are now, apart from their events ---------------------------------

-- Where a box is now: the binding's latest mapping of an event's TOS row when only
-- informational fields (a yard position) moved since the ledger row was written or corrected.
-- Kept apart from the ledger so that a yard move rewrites one narrow row, not the event (with
-- its six indexes and the clearance state that watches it); no foreign key, so that it does
-- not lock the event's row either (ledger rows are never deleted).
CREATE TABLE movement_position (
    movement_id bigint PRIMARY KEY,
    source_data jsonb NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE movement_position IS 'The latest mapping of a ledger event''s TOS row when only informational fields (VI_TRI) moved since the event was recorded or corrected: where the box is now.';

SELECT pg_catalog.pg_extension_config_dump('vasscm.movement_position', '');

-- Where boxes are now: the latest mapping of each ledger event's TOS row (movement_ids[i] ↔
-- datas[i], later entries win) after a change that moved only informational fields.
CREATE FUNCTION _record_positions(movement_ids bigint[], datas jsonb[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.movement_position AS p (movement_id, source_data)
    SELECT DISTINCT ON (u.id) u.id, u.data
      FROM unnest(movement_ids, datas) WITH ORDINALITY AS u(id, data, n)
     WHERE u.id IS NOT NULL
     ORDER BY u.id, u.n DESC
        ON CONFLICT (movement_id) DO UPDATE SET source_data = excluded.source_data, moved_at = now()
     WHERE p.source_data IS DISTINCT FROM excluded.source_data
$$;

-- Any text PostgreSQL reads as a time, or NULL.
CREATE FUNCTION _time_tried(t text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN t::timestamptz;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- A time as the TOS gave it, or NULL when it does not read as one (the message's checks say why).
-- ISO 8601 times that are always valid are read directly (inlined: no call); any other text is
-- tried by vasscm._time_tried (a subtransaction).
CREATE FUNCTION _time_or_null(t text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN t ~ ('^[1-9][0-9]{3}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)'
                          '[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$')
                THEN t::pg_catalog.timestamptz
                WHEN t IS NOT NULL THEN vasscm._time_tried(t) END
$$;

-- A number as the TOS gave it, or NULL when it does not read as one.
CREATE FUNCTION _number_or_null(t text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*[+-]?([0-9]{1,200}(\.[0-9]{0,200})?|\.[0-9]{1,200})([eE][+-]?[0-9]{1,3})?\s*$' THEN t::pg_catalog.numeric END
$$;

-- The ledger's columns are now a one-row set-returning SQL function (inlined where it is read).
DROP FUNCTION _movement_columns(jsonb);

-- The ledger columns of an event from its mapped (catalogue) data (one row). Numbers and times
-- that do not read as such stay NULL (the message is invalid anyway: its checks say why; an
-- unreadable time is now). A single SELECT without settings of its own, so that PostgreSQL
-- inlines it into the statement that reads it (no call per row).
CREATE FUNCTION _movement_columns(data jsonb)
RETURNS TABLE (container_no text, bl_no text, declarations text[], quantity numeric, quantity_unit text, weight_kg numeric,
               volume_m3 numeric, vehicle text, vehicle_no text, seal text, happened_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT data ->> 'SO_CONTAINER', vasscm._norm(data ->> 'SO_VAN_DON'),
           CASE WHEN data ? 'LIST_TK' OR data ? 'SO_TK' THEN ARRAY(SELECT DISTINCT d FROM (
                    SELECT upper(trim(x)) AS d FROM jsonb_array_elements_text(
                        CASE jsonb_typeof(data -> 'LIST_TK') WHEN 'array' THEN data -> 'LIST_TK' ELSE '[]' END) x
                    UNION ALL SELECT upper(trim(data ->> 'SO_TK'))) s WHERE coalesce(d, '') <> '') ELSE '{}' END,
           vasscm._number_or_null(data ->> 'SO_LUONG'), nullif(upper(trim(data ->> 'DVT_SO_LUONG')), ''),
           vasscm._kg(vasscm._number_or_null(data ->> 'TRONG_LUONG'), data ->> 'DVT_TRONG_LUONG'),
           vasscm._number_or_null(data ->> 'THE_TICH_M3'), data ->> 'PHUONG_TIEN', data ->> 'SO_PHUONG_TIEN',
           coalesce(data ->> 'NIEM_PHONG_MOI', data ->> 'SO_NIEM_PHONG_HQ', data ->> 'SO_NIEM_PHONG'),
           coalesce(vasscm._time_or_null(data ->> 'THOI_GIAN'), now())
$$;

-- New events, one per message just queued for them (in the order given; messages of forms that
-- report no physical event are skipped): the ledger row from the message's data, its binding,
-- TOS identity and mapped TOS data. Returns the new rows' ids.
CREATE OR REPLACE FUNCTION _insert_movements(outbox_ids bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$   -- PL/pgSQL: planned once per session
BEGIN
    RETURN QUERY
    INSERT INTO vasscm.movement (kind, message_type, container_no, bl_no, declarations, quantity, quantity_unit, weight_kg,
                                 volume_m3, vehicle, vehicle_no, seal, happened_at, facts, source_data, binding_id, source_table,
                                 source_key, outbox_id)
    SELECT k.kind, o.message_type, c.container_no, c.bl_no, c.declarations, c.quantity, c.quantity_unit, c.weight_kg,
           c.volume_m3, c.vehicle, c.vehicle_no, c.seal, c.happened_at, o.data, o.source_data, o.binding_id, o.source_table,
           o.source_key, o.id
      FROM unnest(outbox_ids) WITH ORDINALITY AS u(id, n)
      JOIN vasscm.outbox o ON o.id = u.id
      JOIN vasscm.movement_kind k ON k.message_type = o.message_type
     CROSS JOIN LATERAL vasscm._movement_columns(o.data) c
     ORDER BY u.n
    RETURNING movement.id;
END
$$;

-- The TOS corrected an event's facts: the ledger follows (and points at the message standing
-- for it now, if a new one replaced it).
CREATE OR REPLACE FUNCTION _correct_movement(outbox_id bigint, data jsonb, new_outbox_id bigint DEFAULT NULL,
                                  source_data jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics: one index, never a scan of a partial one
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM vasscm._movement_columns(data);
    UPDATE vasscm.movement m
       SET container_no = c.container_no, bl_no = c.bl_no, declarations = c.declarations, quantity = c.quantity,
           quantity_unit = c.quantity_unit, weight_kg = c.weight_kg, volume_m3 = c.volume_m3, vehicle = c.vehicle,
           vehicle_no = c.vehicle_no,
           seal = CASE WHEN m.kind = 'seal_change' THEN c.seal ELSE coalesce(data ->> 'SO_NIEM_PHONG_HQ', data ->> 'SO_NIEM_PHONG') END,
           happened_at = c.happened_at, facts = data, corrected_at = now(),
           source_data = coalesce(_correct_movement.source_data, m.source_data),
           outbox_id = coalesce(new_outbox_id, m.outbox_id)
     WHERE m.outbox_id = _correct_movement.outbox_id AND m.undone_at IS NULL;
    IF _correct_movement.source_data IS NOT NULL THEN   -- the corrected mapping says where the box is now
        DELETE FROM vasscm.movement_position p
         USING vasscm.movement m
         WHERE p.movement_id = m.id AND m.outbox_id = coalesce(new_outbox_id, _correct_movement.outbox_id) AND m.undone_at IS NULL;
    END IF;
END
$$;

-- The TOS undid an event (a truck turned back, a mistaken gate-in deleted): it no longer counts.
-- (PL/pgSQL: its plan is kept for the session; a SQL function called once per change would be
-- planned at every call.)
CREATE OR REPLACE FUNCTION _undo_movement(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
BEGIN
    UPDATE vasscm.movement m SET undone_at = now(), undone_reason = reason
     WHERE m.outbox_id = _undo_movement.outbox_id AND m.undone_at IS NULL;
END
$$;

-- Containers in the yard now, from the movement ledger (sql/ledger.sql): the gate-in (14) of the
-- box's current visit, not undone in the TOS, with no gate-out (21) since — whatever became of
-- the messages. block is VI_TRI (as last captured: yard moves keep it current in
-- vasscm.movement_position) up to its first
-- separator; teu from KICH_CO. A lookup by container_no goes through the ledger's index.
CREATE OR REPLACE VIEW _yard_containers AS
SELECT DISTINCT ON (m.container_no) m.container_no,
       upper(substring(coalesce(p.source_data, m.source_data, m.facts) ->> 'VI_TRI' FROM '^\s*([A-Za-z0-9]+)')) AS block,
       nullif(btrim(coalesce(p.source_data, m.source_data, m.facts) ->> 'VI_TRI'), '') AS position,
       m.happened_at AS gate_in_at,
       CASE upper(left(m.facts ->> 'KICH_CO', 1)) WHEN '1' THEN 0.5 WHEN '2' THEN 1 WHEN '3' THEN 1.5 WHEN '4' THEN 2
            WHEN 'L' THEN 2.25 WHEN 'M' THEN 2.4 ELSE 1 END::numeric AS teu
  FROM vasscm.movement m
  LEFT JOIN vasscm.movement_position p ON p.movement_id = m.id
 WHERE m.kind = 'gate_in' AND m.message_type = '14' AND m.undone_at IS NULL AND m.container_no IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = m.container_no AND g.message_type = '21' AND g.left_at >= m.happened_at)
 ORDER BY m.container_no, m.happened_at DESC;
COMMENT ON VIEW _yard_containers IS
    'Containers in the yard now, from the movement ledger (a gate-in of the current visit, not undone, no gate-out since), with block and position (VI_TRI as last captured), gate-in time and TEU.';


-- 2. Capture decisions: lookups planned once per session, through indexes only -----------------

-- Decides what one mapped TOS row change means, for one binding (stage 2, called by
-- vasscm._interpret_changes in capture order), and writes it to the ledger and the outbox.
-- Gate-ins (14 / 15) and gate-outs (21 / 22) are events of a TOS row, one per row (its key):
-- the row arriving again — an upsert replayed, a TRUNCATE + reload, an update written as
-- DELETE + INSERT, a row first seen already gated in and out — is not a new event; a change
-- of what customs holds is a correction; the event undone in the TOS is withdrawn.
--   op: INSERT / UPDATE (the binding's condition holds), DELETE (it held for the old row),
--       UNDONE (an UPDATE after which it no longer holds).
-- Not sent yet (pending approval, queued, invalid), a corrected event is rebuilt in place and an
-- undone one withdrawn here: customs never hears of it. Once customs has it (or may have it: a
-- dead message may have arrived): a gate-in corrected gets an amendment (16) — never for an
-- informational field (the binding's, or _informational_fields) nor for a seal a seal change
-- (24) reported — and undone a cancellation (17); a gate-out corrected (a weighbridge ticket)
-- or undone (a truck turned back) gets a CANCEL_PASSED, then the corrected gate-out. A DELETE
-- after the goods left (a gate-out of the same row) is archiving. Other messages: each
-- captured change is one. The ledger (vasscm.movement) follows: a new event is a row, a
-- correction changes it, an undone event is marked undone, archiving changes nothing.
-- (Its lookups are planned once per session and can only go through indexes: a plan made
-- per call costs more than the work, and a plan cached while the outbox grows within one large
-- transaction must not turn into a scan of the whole outbox per row.)
CREATE OR REPLACE FUNCTION _capture(binding_id int, message_type text, mode text, source_table text, op text, data jsonb, source_key jsonb)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    rule        vasscm.followup_rule;
    kind        text;
    cur         vasscm.outbox;
    r           vasscm.outbox;
    last_source jsonb;
    reason      text := format('captured from %s (%s)', source_table, op);
    info        text[] := coalesce((SELECT b.informational FROM vasscm.binding b WHERE b.id = _capture.binding_id),
                                   vasscm._informational_fields(message_type));
    seal_field  text;
BEGIN
    SELECT * INTO rule FROM vasscm.followup_rule f WHERE f.message_type = _capture.message_type;
    kind := CASE WHEN rule.message_type IS NOT NULL THEN 'gate_in' WHEN message_type IN ('21', '22') THEN 'gate_out' END;
    IF kind IS NULL OR source_key IS NULL THEN
        IF op IN ('INSERT', 'UPDATE') THEN
            r := vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, NULL, reason);
            PERFORM vasscm._record_movement(message_type, r.data, binding_id, source_table, source_key, r.id, data);
            IF message_type = '24' THEN
                PERFORM vasscm._withdraw_explained_amendments(r.data ->> 'SO_CONTAINER', ARRAY['SO_NIEM_PHONG', 'SO_NIEM_PHONG_HQ'],
                    r.data ->> 'NIEM_PHONG_MOI', 'the seal change (24) reports the new seal; the gate-in stays as the box arrived');
            ELSIF message_type IN ('20', '23') THEN
                PERFORM vasscm._withdraw_explained_amendments(r.data ->> 'SO_CONTAINER', ARRAY['TRANG_THAI'], NULL,
                    'the strip / stuff (20 / 23) reports the change; the gate-in stays as the box arrived');
            END IF;
        END IF;
        RETURN;
    END IF;
    cur := vasscm._current_event(binding_id, source_key, message_type);
    IF op = 'DELETE' THEN
        IF kind = 'gate_in' AND EXISTS (
               SELECT 1 FROM vasscm.outbox g
                WHERE g.binding_id IN (SELECT b.id FROM vasscm.binding b
                                        WHERE b.source = (SELECT x.source FROM vasscm.binding x WHERE x.id = _capture.binding_id))
                  AND g.source_key = _capture.source_key AND g.message_type IN ('21', '22')
                  AND g.status <> 'cancelled') THEN
            RETURN;   -- deleted after the goods left, whatever became of the message: archiving
        END IF;
        op := 'UNDONE';
    END IF;
    IF op = 'UNDONE' THEN
        IF cur.id IS NOT NULL THEN
            PERFORM vasscm._withdraw(cur, mode, CASE WHEN kind = 'gate_in'
                THEN 'Hủy thông tin hạ bãi trong TOS / gate-in withdrawn in the TOS'
                ELSE 'Hủy xác nhận qua khu vực giám sát trong TOS / gate-out undone in the TOS' END,
                format('undone in %s', source_table));
            PERFORM vasscm._undo_movement(cur.id, format('undone in %s', source_table));
        END IF;
        RETURN;
    END IF;
    IF cur.id IS NULL THEN
        -- The row came back in the same transaction (an update written as DELETE + INSERT):
        -- the withdrawal its DELETE queued is taken back and the row compared as an update.
        cur := vasscm._take_back_withdrawal(binding_id, source_key, message_type);
        IF cur.id IS NULL THEN
            r := vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, NULL, reason);
            PERFORM vasscm._record_movement(message_type, r.data, binding_id, source_table, source_key, r.id, data);
            RETURN;
        END IF;
        UPDATE vasscm.movement m SET undone_at = NULL, undone_reason = NULL WHERE m.outbox_id = cur.id;
    END IF;
    -- what customs was last told: the message, or its latest amendment (each by its own index)
    SELECT x.source_data INTO last_source
      FROM (SELECT o.id, o.source_data FROM vasscm.outbox o WHERE o.id = cur.id
            UNION ALL
            SELECT o.id, o.source_data FROM vasscm.outbox o
             WHERE o.original_transaction_id = cur.transaction_id AND o.message_type = rule.amend_type AND o.status <> 'cancelled') x
     ORDER BY x.id DESC LIMIT 1;
    IF jsonb_strip_nulls(last_source) - info = jsonb_strip_nulls(data) - info THEN
        -- nothing customs holds has changed: a yard move, a re-delivered or reloaded row; where
        -- the box is now follows
        PERFORM vasscm._record_positions(ARRAY(SELECT m.id FROM vasscm.movement m WHERE m.outbox_id = cur.id AND m.undone_at IS NULL),
                                         ARRAY[data]);
        RETURN;
    END IF;
    IF kind = 'gate_in' THEN
        -- A seal that a seal change (24) reported is not a correction: the box arrived with the old seal.
        FOREACH seal_field IN ARRAY ARRAY['SO_NIEM_PHONG', 'SO_NIEM_PHONG_HQ'] LOOP
            IF data ->> seal_field IS DISTINCT FROM last_source ->> seal_field AND EXISTS (
                   SELECT 1 FROM vasscm.movement c
                    WHERE c.container_no = cur.data ->> 'SO_CONTAINER' AND c.kind = 'seal_change' AND c.undone_at IS NULL
                      AND c.outbox_id > cur.id AND c.seal = _capture.data ->> seal_field) THEN
                data := jsonb_set(data, ARRAY[seal_field], coalesce(last_source -> seal_field, 'null'));
            END IF;
        END LOOP;
        IF jsonb_strip_nulls(last_source) - info = jsonb_strip_nulls(data) - info THEN
            RETURN;
        END IF;
    END IF;
    IF cur.status IN ('invalid', 'pending_approval', 'queued') THEN
        -- Not sent yet: the same message, rebuilt; customs only ever sees the corrected one.
        PERFORM vasscm._reprepare(cur.id, data, format('corrected in %s before it was sent', source_table));
        PERFORM vasscm._correct_movement(cur.id, (SELECT o.data FROM vasscm.outbox o WHERE o.id = cur.id), NULL, data);
        RETURN;
    END IF;
    IF kind = 'gate_in' THEN
        r := vasscm._enqueue(rule.amend_type,
            data || jsonb_build_object('TRANSACTION_ID_GOC', cur.transaction_id, 'LOAI_TIN_GOC', _capture.message_type,
                                       'LY_DO', 'Cập nhật thông tin trong TOS / corrected in the TOS'),
            mode, binding_id, source_table, source_key, data, cur.transaction_id, cur.order_key, reason);
        PERFORM vasscm._correct_movement(cur.id, r.data, NULL, data);
        -- Held a moment (vasscm.amendment_delay_seconds): a seal change or strip interpreted in a
        -- following transaction withdraws it if it only carried their result.
        UPDATE vasscm.outbox o
           SET next_attempt_at = now() + make_interval(secs => coalesce(nullif(current_setting('vasscm.amendment_delay_seconds', true), '')::int, 10))
         WHERE o.id = r.id AND o.status = 'queued';
    ELSE
        -- Customs has (or may have: a dead message may have arrived) the pass: ask to cancel it,
        -- then the corrected gate-out. The ledger's trip is the same one, corrected.
        PERFORM vasscm._withdraw(cur, mode, 'Điều chỉnh trong TOS (phiếu cân) / corrected in the TOS (weighbridge ticket)',
                                 format('corrected in %s', source_table));
        r := vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, cur.order_key, reason);
        PERFORM vasscm._correct_movement(cur.id, r.data, r.id, data);
    END IF;
END
$$;

-- The message standing for a TOS row's gate-in or gate-out: the latest of the binding for the
-- row's key that was neither cancelled nor rejected, nor withdrawn by a cancellation (17) or a
-- CANCEL_PASSED still in force.
-- (Two plain index lookups, planned once per session and only through indexes: a plan cached
-- while the outbox grows within one large transaction must not turn into a scan of the whole
-- outbox per row.)
CREATE OR REPLACE FUNCTION _current_event(binding_id int, source_key jsonb, message_type text) RETURNS outbox
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    cur vasscm.outbox;
BEGIN
    FOR cur IN SELECT o.* FROM vasscm.outbox o
                WHERE o.binding_id = _current_event.binding_id AND o.source_key = _current_event.source_key
                  AND o.message_type = _current_event.message_type AND o.status NOT IN ('cancelled', 'rejected')
                ORDER BY o.id + 0 DESC LOOP   -- + 0: through outbox_by_source, never by walking the primary key
        IF NOT EXISTS (SELECT 1 FROM vasscm.outbox w
                        WHERE w.original_transaction_id = cur.transaction_id
                          AND (w.message_type = 'CANCEL_PASSED' OR w.message_type IN (SELECT f.cancel_type FROM vasscm.followup_rule f))
                          AND w.status NOT IN ('cancelled', 'rejected')) THEN
            RETURN cur;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Withdraws a gate-in or gate-out undone in the TOS: a message not sent yet is cancelled here
-- (with its follow-ups not sent yet); one customs has or may have (sending, sent, accepted,
-- dead) gets a cancellation (17) or a CANCEL_PASSED, sent after it.
CREATE OR REPLACE FUNCTION _withdraw(cur outbox, mode text, why text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cancel_type text := (SELECT f.cancel_type FROM vasscm.followup_rule f WHERE f.message_type = cur.message_type);
    gate_in     boolean := cancel_type IS NOT NULL;
BEGIN
    IF cur.status IN ('invalid', 'pending_approval', 'queued') THEN
        -- the message and its follow-ups not sent yet (each found by its own index)
        PERFORM FROM (SELECT ARRAY(SELECT cur.id
                                   UNION
                                   SELECT x.id FROM vasscm.outbox x
                                    WHERE x.original_transaction_id = cur.transaction_id
                                      AND x.status IN ('invalid', 'pending_approval', 'queued')) AS ids) u,
                LATERAL vasscm._set_status(u.ids, array_fill('cancelled'::text, ARRAY[cardinality(u.ids)]),
                                           array_fill(reason || ': withdrawn before it was sent', ARRAY[cardinality(u.ids)]),
                                           array_fill(reason || ': withdrawn before it was sent', ARRAY[cardinality(u.ids)])) s;
        RETURN;
    END IF;
    PERFORM vasscm._enqueue(coalesce(cancel_type, 'CANCEL_PASSED'),
        jsonb_strip_nulls(jsonb_build_object(
            'TRANSACTION_ID_GOC', cur.transaction_id,
            'LOAI_TIN_GOC', CASE WHEN gate_in THEN cur.message_type END,
            'MA_HQ', cur.data -> 'MA_HQ', 'MA_DIA_DIEM', cur.data -> 'MA_DIA_DIEM',
            'SO_CONTAINER', cur.data -> 'SO_CONTAINER', 'SO_VAN_DON', cur.data -> 'SO_VAN_DON',
            'SO_TK', coalesce(cur.data -> 'SO_TK', cur.data -> 'LIST_TK' -> 0),
            'LY_DO', why)),
        mode, cur.binding_id, cur.source_table, cur.source_key, NULL, cur.transaction_id, cur.order_key, reason);
END
$$;

-- An update written as DELETE + INSERT in one transaction: the cancellation (17) or
-- CANCEL_PASSED that the DELETE queued, not sent, is cancelled; returns the message it withdrew.
CREATE OR REPLACE FUNCTION _take_back_withdrawal(binding_id int, source_key jsonb, message_type text) RETURNS outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    w   vasscm.outbox;
    cur vasscm.outbox;
BEGIN
    SELECT x.* INTO w FROM vasscm.outbox x
     WHERE x.binding_id = _take_back_withdrawal.binding_id AND x.source_key = _take_back_withdrawal.source_key
       AND (x.message_type = 'CANCEL_PASSED' OR x.message_type IN (SELECT f.cancel_type FROM vasscm.followup_rule f))
       AND x.created_at = now()
       AND x.status IN ('pending_approval', 'queued')
     ORDER BY x.id + 0 DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO cur FROM vasscm.outbox o
     WHERE o.transaction_id = w.original_transaction_id AND o.message_type = _take_back_withdrawal.message_type;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM vasscm._set_status(w.id, 'cancelled', 'the row came back in the same transaction (DELETE + INSERT): nothing was undone');
    RETURN cur;
END
$$;


-- 3. Bindings: only the columns their expressions read are decoded -----------------------------

-- What a binding evaluates on one row, as a select list: its condition, its mapping (a jsonb
-- object of the catalogue fields; only when the condition holds — a change that does not
-- hold is an undone event or nothing, neither reads it) and its identity (NULL without key
-- columns).
CREATE FUNCTION _binding_select_list(b binding) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT format('SELECT (%1$s)::boolean AS ok, CASE WHEN (%1$s)::boolean THEN jsonb_build_object(%2$s) END AS data, %3$s AS key',
              coalesce(b.condition, 'true'),
              (SELECT string_agg(format('%L, (%s)', e.key, e.value #>> '{}'), ', ' ORDER BY e.key) FROM jsonb_each(b.mapping) e),
              CASE WHEN b.key_columns IS NULL THEN 'NULL::jsonb'
                   ELSE format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, _row.%I', c, c), ', ') FROM unnest(b.key_columns) c)) END)
$$;

-- The columns of the bound table that a binding's expressions read, as a column definition
-- list for jsonb_to_record ("col" type, …); NULL when they read the row as a whole (or no
-- column at all): the row is then decoded whole. Found by PostgreSQL itself — a view of the
-- expressions records every column it reads in pg_depend (a whole-row reference shows in the
-- view's query as a Var of attribute 0) — and dropped right after.
CREATE FUNCTION _binding_columns(binding_id int) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b     vasscm.binding;
    view  text := format('vasscm._binding_columns_%s', binding_id);
    whole boolean;
    cols  text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    EXECUTE format('CREATE VIEW %s AS SELECT x.* FROM %s AS "new", %2$s AS "old", LATERAL (%s FROM %2$s AS _row) AS x',
                   view, b.source, vasscm._binding_select_list(b));
    SELECT r.ev_action::text ~ ':varattno 0 ' INTO whole
      FROM pg_rewrite r WHERE r.ev_class = view::regclass AND r.rulename = '_RETURN';
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = b.source AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attnum IN (SELECT d.refobjsubid FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                         WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class = view::regclass
                           AND d.refclassid = 'pg_class'::regclass AND d.refobjid = b.source);
    EXECUTE format('DROP VIEW %s', view);
    RETURN CASE WHEN whole THEN NULL ELSE cols END;
END
$$;

-- (Re)creates vasscm._binding_map_N: the DBA's condition, mapping and key expressions on a
-- batch of captured changes, set-based, with the privileges of `owner` (SECURITY DEFINER
-- owned by it). Only the columns the expressions read are decoded from the captured rows
-- (vasscm._binding_columns); NEW and OLD only when the expressions name them. Dropped and
-- made anew (never replaced: an upgrade script may not replace what it does not own).
CREATE FUNCTION _install_binding_map(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b     vasscm.binding;
    cols  text;
    exprs text;
    sig   text := format('vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', binding_id);
    dec   text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    cols := vasscm._binding_columns(b.id);
    exprs := concat_ws(' ', b.condition, (SELECT string_agg(e.value #>> '{}', ' ') FROM jsonb_each(b.mapping) e));
    -- how a captured row (jsonb) becomes the row the expressions read
    dec := CASE WHEN cols IS NULL THEN format('jsonb_populate_record(NULL::%s, %%s) AS %%s', b.source)
                ELSE format('jsonb_to_record(coalesce(%%s, ''{}'')) AS %%s(%s)', replace(cols, '%', '%%')) END;
    IF to_regprocedure(sig) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION %s', sig);
    END IF;
    -- NEW and OLD are outer aliases; bare names resolve to _row (the new row, or the old one
    -- of a DELETE), the nearer scope.
    EXECUTE format($m$
CREATE FUNCTION vasscm._binding_map_%1$s(_ids bigint[], _ops "char"[], _news jsonb[], _olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
SELECT _chg.i, _chg.o, _x.*
  FROM unnest(_ids, _ops, _news, _olds) AS _chg(i, o, n, d)
  %2$s
  %3$s
  CROSS JOIN LATERAL (%4$s FROM %5$s) AS _x
$body$$m$, b.id,
        CASE WHEN exprs ~* '\mnew\M' THEN 'LEFT JOIN LATERAL ' || format(dec, '_chg.n', '"new"') || ' ON true' ELSE '' END,
        CASE WHEN exprs ~* '\mold\M' THEN 'LEFT JOIN LATERAL ' || format(dec, '_chg.d', '"old"') || ' ON true' ELSE '' END,
        vasscm._binding_select_list(b),
        format(dec, 'CASE WHEN _chg.o = ''D'' THEN _chg.d ELSE _chg.n END', '_row'));
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', sig, owner);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', sig);
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', sig,
                   format('vasscm binding %s: the mapping of %s → message %s, evaluated as %s on captured changes (generated by vasscm.bind)',
                          b.id, b.source, b.message_type, owner));
END
$install$;

-- (Re)creates what a binding runs: vasscm._binding_map_N (vasscm._install_binding_map) and
-- the table's capture trigger. The expressions are compiled against the table first, as
-- `owner` (the role that bound the table), so that a typo or an expression the owner may not
-- run fails here.
CREATE OR REPLACE FUNCTION _install_binding(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b vasscm.binding;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;

    -- The compile check, run as the owner (a function of the owner's, dropped right after).
    EXECUTE format($c$
CREATE OR REPLACE FUNCTION vasscm._binding_check_%1$s() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    -- NEW and OLD are outer aliases; bare names resolve to _row, the nearer scope.
    PERFORM x.* FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "new",
                     (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "old",
            LATERAL (%3$s FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS _row) AS x WHERE false;
END
$body$$c$, b.id, b.source, vasscm._binding_select_list(b));
    EXECUTE format('ALTER FUNCTION vasscm._binding_check_%s() OWNER TO %I', b.id, owner);
    BEGIN
        EXECUTE format('SELECT vasscm._binding_check_%s()', b.id);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'vasscm: the binding does not compile against % as %: %', b.source, owner, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'expressions may use the table''s columns, NEW.col and OLD.col (UPDATE), and schema-qualified functions the binding''s owner may run';
    END;
    EXECUTE format('DROP FUNCTION vasscm._binding_check_%s()', b.id);

    -- Bindings made before 0.3.0 had a trigger and a row-by-row map of their own.
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = b.source AND t.tgname = format('vasscm_binding_%s', b.id)) THEN
        EXECUTE format('DROP TRIGGER vasscm_binding_%s ON %s', b.id, b.source);
    END IF;
    IF to_regprocedure(format('vasscm._binding_%s()', b.id)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_%s()', b.id);
    END IF;
    IF to_regprocedure(format('vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source);
    END IF;
    PERFORM vasscm._install_binding_map(b.id, owner);
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$install$;


-- 4. Interpretation ----------------------------------------------------------------------------
-- The captured rows are read once per batch and passed to each binding's mapping.
DROP FUNCTION _map_changes(int, bigint[]);

-- The mapping of a batch of captured changes (ids, ops, new and old rows) by one binding, as
-- the binding's owner. A change whose expressions raise is mapped alone to find it, and comes
-- back with its error.
CREATE FUNCTION _map_changes(binding_id int, ids bigint[], ops "char"[], news jsonb[], olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb, error text, sql_state text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i int;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        RETURN QUERY EXECUTE format('SELECT m.change_id, m.op, m.ok, m.data, m.key, NULL::text, NULL::text FROM vasscm._binding_map_%s($1, $2, $3, $4) m', binding_id)
            USING ids, ops, news, olds;
        RETURN;
    EXCEPTION WHEN OTHERS THEN
        NULL;   -- one of the rows: map them one by one below
    END;
    FOR i IN 1 .. cardinality(ids) LOOP
        BEGIN
            RETURN QUERY EXECUTE format('SELECT m.change_id, m.op, m.ok, m.data, m.key, NULL::text, NULL::text FROM vasscm._binding_map_%s($1, $2, $3, $4) m', binding_id)
                USING ARRAY[ids[i]], ARRAY[ops[i]], ARRAY[news[i]], ARRAY[olds[i]];
        EXCEPTION WHEN OTHERS THEN
            change_id := ids[i]; op := ops[i]; ok := NULL; data := NULL; key := NULL;
            error := SQLERRM; sql_state := SQLSTATE;
            RETURN NEXT;
        END;
    END LOOP;
END
$$;

-- Stage 2 for one batch of captured changes (their ids): every active binding of each change's
-- table, gate-ins first and gate-outs last (a row first seen already gated in and out is both,
-- in that order), mapped set-based by vasscm._binding_map_N. Decided set-based here:
--   nothing  — a gate event's change that maps to the facts the ledger already holds for its
--              TOS identity (a yard move, an upsert replayed, a row re-delivered or reloaded),
--              with nothing else before it in the batch: where the box is now follows
--              (vasscm.movement_position), first;
--   idle     — the binding's condition does not hold and there is nothing to undo (a TOS row
--              not gated out yet, for the gate-out binding): nothing at all;
--   new      — a gate event of a TOS identity vasscm never had a message for, alone in the batch:
--              its messages and ledger rows are made together (vasscm._capture_new_events), in
--              capture order with the rest.
-- The others go to vasscm._capture, one by one, in capture order (vasscm._interpret_one).
-- `only_message_type`: just the bindings of that form (running a failure again).
CREATE OR REPLACE FUNCTION _interpret_changes(ids bigint[], only_message_type text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    -- the ledger grows within one large transaction faster than its statistics: index lookups only
    -- a batch's captured rows and its mapped changes are sorted in memory, never on disk
    SET enable_seqscan = off SET jit = off SET work_mem = '64MB' AS $$
DECLARE
    todo       vasscm._interpretation[];
    m          vasscm._interpretation;
    moved_ids  bigint[];
    moved_data jsonb[];
    decide     text;
    direct     text;
    -- new events waiting to be made together (before the next change decided one by one)
    new_change  bigint[] := '{}';
    new_binding int[] := '{}';
    new_op      "char"[] := '{}';
    new_data    jsonb[] := '{}';
    new_key     jsonb[] := '{}';
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    -- The statement deciding the batch; %s is how each binding maps its changes.
    decide := $decide$
    WITH c AS MATERIALIZED (SELECT x.id, x.source, x.op, x.new_row, x.old_row FROM vasscm.captured_change x
                             WHERE x.id = ANY ($1) ORDER BY x.id),
         bs AS MATERIALIZED (SELECT x.*, coalesce(x.informational, vasscm._informational_fields(x.message_type)) AS info
                  FROM vasscm.binding x
                 WHERE x.active AND x.source::oid IN (SELECT DISTINCT c.source FROM c)
                   AND ($2 IS NULL OR x.message_type = $2)),
         mapped AS (
            SELECT bs.id AS binding_id, bs.message_type AS form,
                   bs.info,
                   coalesce(bs.condition, '') ~* '\mold\s*\.' AS reads_old, mp.*
              FROM bs
              CROSS JOIN LATERAL (SELECT array_agg(c.id) AS ids, array_agg(c.op) AS ops, array_agg(c.new_row) AS news,
                                         array_agg(c.old_row) AS olds
                                    FROM c
                                   WHERE c.source = bs.source::oid
                                     AND CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' ELSE 'DELETE' END = ANY (bs.events)) AS ch
              CROSS JOIN LATERAL (%s) AS mp),
         judged AS (
            SELECT mapped.*,
                   coalesce(mapped.error IS NULL AND mapped.ok AND mapped.op IN ('I', 'U') AND mapped.key IS NOT NULL
                            AND mapped.form IN ('14', '15', '21', '22')
                            AND live.source_data IS NOT NULL
                            AND jsonb_strip_nulls(live.source_data) - mapped.info = jsonb_strip_nulls(mapped.data) - mapped.info,
                            false) AS same,
                   -- a TOS identity vasscm never had a message for (no ledger row, no message)
                   coalesce(mapped.error IS NULL AND mapped.key IS NOT NULL AND mapped.form IN ('14', '15', '21', '22')
                            AND (mapped.ok OR mapped.op = 'U')
                            AND live.source_data IS NULL
                            AND NOT EXISTS (SELECT 1 FROM vasscm.outbox o
                                             WHERE o.binding_id = mapped.binding_id AND o.source_key = mapped.key),
                            false) AS unknown,
                   live.source_data, live.position, live.id AS movement_id
              FROM mapped
              LEFT JOIN LATERAL (SELECT mv.id, mv.source_data, coalesce(p.source_data, mv.source_data) AS position
                                   FROM vasscm.movement mv
                                   LEFT JOIN vasscm.movement_position p ON p.movement_id = mv.id
                                  WHERE mv.binding_id = mapped.binding_id AND mv.source_key = mapped.key
                                    AND mv.undone_at IS NULL AND mapped.key IS NOT NULL
                                  LIMIT 1) live ON true),
         -- identities mapped more than once in the batch (rare): decided in capture order below
         repeated AS MATERIALIZED (
            SELECT x.binding_id, x.key FROM mapped x WHERE x.key IS NOT NULL
             GROUP BY x.binding_id, x.key HAVING count(*) > 1),
         judged_once AS MATERIALIZED (
            SELECT j.*, j.key IS NULL OR (j.binding_id, j.key) NOT IN (SELECT r.binding_id, r.key FROM repeated r) AS alone
              FROM judged j),
         ordered AS (
            -- an identity alone in the batch: nothing if it maps to what the ledger holds; new if
            -- vasscm never had a message for it
            SELECT j.*, j.same AS nothing, j.unknown AND j.ok IS TRUE AND j.op IN ('I', 'U') AS new
              FROM judged_once j WHERE j.alone
            UNION ALL
            -- several changes of one identity: nothing while each maps to what the ledger holds
            SELECT j.*, bool_and(j.same) OVER (PARTITION BY j.binding_id, j.key ORDER BY j.change_id), false
              FROM judged_once j WHERE NOT j.alone),
         decided AS MATERIALIZED (
            SELECT o.*,
                   -- the binding's condition does not hold and nothing of this identity can be undone
                   -- (an insert, a delete, a row that never held, an identity vasscm never had a
                   -- message for): nothing to decide
                   o.error IS NULL AND o.ok IS NOT TRUE
                   AND (o.op <> 'U' OR o.form NOT IN ('14', '15', '21', '22') OR o.reads_old
                        OR o.key IS NULL OR o.unknown) AS idle,
                   CASE WHEN o.form IN ('21', '22') THEN 2 WHEN o.form IN ('14', '15') THEN 0 ELSE 1 END AS form_order
              FROM ordered o)
    SELECT array_agg(ROW(d.change_id, d.binding_id, d.op, d.ok, d.data, d.key, d.error, d.sql_state, d.new)::vasscm._interpretation
                     ORDER BY d.change_id, d.form_order, d.binding_id) FILTER (WHERE NOT d.nothing AND NOT d.idle),
           -- nothing happened, but an informational field (a position) moved
           array_agg(d.movement_id ORDER BY d.change_id) FILTER (WHERE d.nothing AND d.data IS DISTINCT FROM d.position),
           array_agg(d.data ORDER BY d.change_id) FILTER (WHERE d.nothing AND d.data IS DISTINCT FROM d.position)
      FROM decided d
$decide$;
    -- Each binding's mapping called directly (its rows go straight into the statement) ...
    SELECT string_agg(format('SELECT m.*, NULL::text AS error, NULL::text AS sql_state FROM vasscm._binding_map_%1$s(ch.ids, ch.ops, ch.news, ch.olds) m WHERE bs.id = %1$s', b.id),
                      ' UNION ALL ')
      INTO direct
      FROM vasscm.binding b WHERE b.active AND (only_message_type IS NULL OR b.message_type = only_message_type);
    BEGIN
        EXECUTE format(decide, coalesce(direct, 'SELECT NULL::bigint AS change_id, NULL::"char" AS op, NULL::boolean AS ok, NULL::jsonb AS data, NULL::jsonb AS key, NULL::text AS error, NULL::text AS sql_state WHERE false'))
           INTO todo, moved_ids, moved_data USING ids, only_message_type;
    EXCEPTION WHEN OTHERS THEN
        -- ... unless an expression raised on one of the rows: then binding by binding, the
        -- failing rows found one by one and kept with their error (vasscm._map_changes)
        EXECUTE format(decide, 'SELECT * FROM vasscm._map_changes(bs.id, ch.ids, ch.ops, ch.news, ch.olds)')
           INTO todo, moved_ids, moved_data USING ids, only_message_type;
    END;
    -- where the boxes are now follows, first (the changes decided below come after these)
    PERFORM vasscm._record_positions(moved_ids, moved_data);
    FOREACH m IN ARRAY coalesce(todo, '{}') LOOP
        IF m.new THEN
            new_change := array_append(new_change, m.change_id);
            new_binding := array_append(new_binding, m.binding_id);
            new_op := array_append(new_op, m.op);
            new_data := array_append(new_data, m.data);
            new_key := array_append(new_key, m.key);
            CONTINUE;
        END IF;
        IF cardinality(new_change) > 0 THEN
            PERFORM vasscm._capture_new_events(new_change, new_binding, new_op, new_data, new_key);
            new_change := '{}'; new_binding := '{}'; new_op := '{}'; new_data := '{}'; new_key := '{}';
        END IF;
        PERFORM vasscm._interpret_one(m.change_id, m.binding_id, m.op, m.ok, m.data, m.key, m.error, m.sql_state);
    END LOOP;
    IF cardinality(new_change) > 0 THEN
        PERFORM vasscm._capture_new_events(new_change, new_binding, new_op, new_data, new_key);
    END IF;
    RETURN cardinality(ids);
END
$$;


-- 5. Every active binding's mapping made again (dropped and created by
-- vasscm._install_binding_map), owned by the role that owned it, then left out of the extension
-- as vasscm.bind leaves it. A mapping that cannot be made again keeps the old one, with a
-- warning (its old form still works with 0.6.0).
DO $regenerate$
DECLARE
    b     vasscm.binding;
    owner name;
    sig   text;
BEGIN
    FOR b IN SELECT * FROM vasscm.binding WHERE active ORDER BY id LOOP
        sig := format('vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', b.id);
        owner := coalesce((SELECT pg_get_userbyid(p.proowner) FROM pg_proc p WHERE p.oid = to_regprocedure(sig)),
                          (SELECT r.rolname FROM pg_roles r WHERE r.rolname = b.created_by),
                          (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = b.source));
        BEGIN
            PERFORM vasscm._install_binding_map(b.id, owner);
            EXECUTE format('ALTER EXTENSION vasscm DROP FUNCTION %s', sig);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'vasscm: the mapping of binding % (%) is kept as it was: %', b.id, b.source, SQLERRM;
        END;
    END LOOP;
END
$regenerate$;


-- Privileges as at install (sql/roles.sql) ------------------------------------------------------

-- Roles and least privilege. Nothing is granted to PUBLIC. Five roles (NOLOGIN; grant them
-- to login roles):
--   vasscm_reader    reads clearance (functions, views, gate-out checks), outbox, history, inbox, catalogue; builds/validates/parses
--   vasscm_operator  reader + approve, reject, requeue, enqueue, queries to customs, reports (18/19, DISCHARGE_DONE, YARD_MAP), scans, vessel overrides
--   vasscm_admin     reader + bindings, catalogue, settings, jobs (pg_cron), audit verification
--   vasscm_worker    claims, records signed messages, replies, failures, inbound messages
--   vasscm_camera    camera systems at the gates: record reads (and ask their state), report camera outages
-- Functions that change state run SECURITY DEFINER with a fixed search_path, so that no role
-- needs write access to the tables themselves.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_reader') THEN CREATE ROLE vasscm_reader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_operator') THEN CREATE ROLE vasscm_operator NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_admin') THEN CREATE ROLE vasscm_admin NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_worker') THEN CREATE ROLE vasscm_worker NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_camera') THEN CREATE ROLE vasscm_camera NOLOGIN; END IF;
END
$roles$;
GRANT vasscm_reader TO vasscm_operator, vasscm_admin;

REVOKE ALL ON SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vasscm FROM PUBLIC;
GRANT USAGE ON SCHEMA vasscm TO vasscm_reader, vasscm_worker, vasscm_camera;

-- State-changing entry points run as the extension owner.
ALTER FUNCTION vasscm.load_catalogue(jsonb, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.activate_catalogue(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.unbind(int) SECURITY DEFINER;
ALTER FUNCTION vasscm.approve(bigint) SECURITY DEFINER;
ALTER FUNCTION vasscm.reject(bigint, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.requeue(bigint, jsonb) SECURITY DEFINER;
ALTER FUNCTION vasscm.enqueue(text, jsonb, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.claim(text, int, int) SECURITY DEFINER;
ALTER FUNCTION vasscm.release(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_signed(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_reply(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_failure(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_refused(text, text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.receive(text, text) SECURITY DEFINER;
-- Captures run in whatever role writes the TOS table (the apply worker, or a TOS user).
ALTER FUNCTION vasscm._capture(int, text, text, text, text, jsonb, jsonb) SECURITY DEFINER;
ALTER FUNCTION vasscm._capture_failed(int, text, text, bigint, text, text) SECURITY DEFINER;

-- Reader: read everything that is not raw signed traffic; pure message functions.
GRANT SELECT ON vasscm.message_types, vasscm.catalogue, vasscm.catalogue_message, vasscm.catalogue_field,
                vasscm.binding, vasscm.followup_rule, vasscm.outbox, vasscm.outbox_history, vasscm.inbox,
                vasscm.movement, vasscm.movement_position, vasscm.movement_kind, vasscm.captured_change,
                vasscm.capture_failure
   TO vasscm_reader;
-- Interpretation (sql/interpret.sql): pending changes are interpreted by whoever needs the
-- ledger current (a gate decision), as the extension owner.
ALTER FUNCTION vasscm._catch_up() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm._catch_up() TO vasscm_reader, vasscm_worker;
GRANT EXECUTE ON FUNCTION vasscm.interpret(int) TO vasscm_worker, vasscm_admin;
ALTER FUNCTION vasscm.reinterpret_failures(int) SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.reinterpret_failures(int) TO vasscm_admin;
GRANT EXECUTE ON FUNCTION vasscm.build_message(text, jsonb, jsonb), vasscm.check_message_data(text, jsonb),
                          vasscm.validate_message(text), vasscm.parse_message(text), vasscm.message_xsd(text),
                          vasscm.is_valid_container_no(text), vasscm.container_check_digit(text),
                          vasscm.normalize_container_no(text)
   TO vasscm_reader;
GRANT SELECT ON vasscm.message_log TO vasscm_admin;

GRANT EXECUTE ON FUNCTION vasscm.approve(bigint), vasscm.reject(bigint, text), vasscm.requeue(bigint, jsonb),
                          vasscm.enqueue(text, jsonb, text)
   TO vasscm_operator;

GRANT EXECUTE ON FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]), vasscm.unbind(int),
                          vasscm.load_catalogue(jsonb, boolean), vasscm.activate_catalogue(text)
   TO vasscm_admin;

GRANT SELECT ON vasscm.outbox TO vasscm_worker;
GRANT EXECUTE ON FUNCTION vasscm.claim(text, int, int), vasscm.release(uuid, text), vasscm.record_signed(uuid, text),
                          vasscm.record_reply(uuid, text, int, text, int, float8, float8), vasscm.record_failure(uuid, text, int, text, int, float8, float8),
                          vasscm.record_refused(text, text, text), vasscm.receive(text, text)
   TO vasscm_worker;

-- Clearance (sql/clearance.sql, gate.sql, obligations.sql).
ALTER FUNCTION vasscm.record_scan(text, timestamptz, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_vessel_match(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_yard_map(regclass, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_discrepancies(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_discharge_done(text, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.cancel_passed(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_container(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_declaration(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_bl(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.request_tranship_id(text, text, text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_setting(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.reapply_inbox() SECURITY DEFINER;
ALTER FUNCTION vasscm.match_vessels(regclass) SECURITY DEFINER;
ALTER FUNCTION vasscm.discharge_done_due() SECURITY DEFINER;
ALTER FUNCTION vasscm.refresh_deadline_alerts() SECURITY DEFINER;

-- Reader: the clearance state, its views and queries (plain SQL functions, inlined into reports).
GRANT SELECT ON vasscm.setting, vasscm.declaration, vasscm.declaration_container, vasscm.declaration_bulk,
                vasscm.expected_list, vasscm.expected_item, vasscm.scan_selection, vasscm.scan_record,
                vasscm.customs_vessel, vasscm.vessel_match, vasscm.tranship_id, vasscm.clearance_history,
                vasscm.yard_block_reported, vasscm.deadline_alert,
                vasscm.clearance_state, vasscm.gate_outs, vasscm.gate_ins, vasscm.vessel_calls, vasscm.deadlines
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.clearance(text), vasscm.clearance_by_declaration(text), vasscm.clearance_by_bl(text),
                          vasscm.gate_out_check(text, text, text, text[]),
                          vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric),
                          vasscm.query_result(uuid), vasscm.discrepancies(text),
                          vasscm._norm(text), vasscm._kg(numeric, text), vasscm._channel_name(smallint),
                          vasscm._unknown(text, text, text), vasscm._counts(text), vasscm._gone(text, text), vasscm._fmt(numeric),
                          vasscm._expected_seal(text, text, text, timestamptz), vasscm._setting_value(text),
                          vasscm._vessel_call(text), vasscm._vessel_call_of(jsonb)
   TO vasscm_reader;

GRANT EXECUTE ON FUNCTION vasscm.record_scan(text, timestamptz, text), vasscm.set_vessel_match(text, text),
                          vasscm.report_yard_map(regclass, boolean), vasscm.report_discrepancies(text),
                          vasscm.report_discharge_done(text, boolean), vasscm.cancel_passed(uuid, text),
                          vasscm.check_container(text, text), vasscm.check_declaration(text), vasscm.check_bl(text),
                          vasscm.request_tranship_id(text, text, text, text)
   TO vasscm_operator;

GRANT EXECUTE ON FUNCTION vasscm.set_setting(text, text), vasscm.reapply_inbox(), vasscm.match_vessels(regclass),
                          vasscm.discharge_done_due(), vasscm.refresh_deadline_alerts()
   TO vasscm_admin;

-- Operations (sql/audit.sql, operations.sql): jobs are admin functions run as the owner.
ALTER FUNCTION vasscm.schedule_jobs() SECURITY DEFINER;
ALTER FUNCTION vasscm.unschedule_jobs() SECURITY DEFINER;
ALTER FUNCTION vasscm.requeue_expired() SECURITY DEFINER;
ALTER FUNCTION vasscm.match_vessels_job() SECURITY DEFINER;
ALTER FUNCTION vasscm.seal_audit() SECURITY DEFINER;
ALTER FUNCTION vasscm.verify_audit(boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.maintain_partitions() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.schedule_jobs(), vasscm.unschedule_jobs(), vasscm.requeue_expired(), vasscm.match_vessels_job(),
                          vasscm.seal_audit(), vasscm.verify_audit(boolean), vasscm.maintain_partitions()
   TO vasscm_admin;
-- Monitoring views for everyone who reads (they read the logs as the view owner, aggregated).
GRANT SELECT ON vasscm.queue_depth, vasscm.oldest_waiting, vasscm.stuck_messages, vasscm.error_rates, vasscm.latency,
                vasscm.job, vasscm.audit_anchor
   TO vasscm_reader;

-- Incidents (sql/incident.sql): operators record what happens during an outage (article 52đ);
-- readers (the gate included) read incidents, paper lists and the incident log; the watcher is
-- an admin job.
ALTER FUNCTION vasscm.open_incident(text, timestamptz, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.close_incident(bigint, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_incident_notification(bigint, text, timestamptz, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_paper_list(bigint, text, text, jsonb, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.watch_incidents() SECURITY DEFINER;
GRANT SELECT ON vasscm.incident, vasscm.incident_event, vasscm.paper_list, vasscm.paper_list_item, vasscm.incident_gate_out,
                vasscm.incident_gate_outs
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.incident_log(bigint), vasscm.incident_summary(bigint), vasscm._incident(bigint),
                          vasscm._paper_cover(text, text[]), vasscm._paper_bulk(text, text, numeric, numeric, numeric, boolean),
                          vasscm._gone_in_incident(text), vasscm._vn_time(timestamptz), vasscm._open_incident()
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.open_incident(text, timestamptz, boolean), vasscm.close_incident(bigint, text),
                          vasscm.record_incident_notification(bigint, text, timestamptz, text),
                          vasscm.record_paper_list(bigint, text, text, jsonb, timestamptz)
   TO vasscm_operator, vasscm_admin;
GRANT EXECUTE ON FUNCTION vasscm.watch_incidents() TO vasscm_admin;

-- Camera reads (src/camera.rs): OCR correction of container numbers read at camera gates; pure
-- functions, for everyone who reads (the gate included).
GRANT EXECUTE ON FUNCTION vasscm.container_read_candidates(text), vasscm.correct_container_read(text, text[])
   TO vasscm_reader;

-- Clearance on the ledger (sql/clearance_now.sql, settings.sql, gate.sql).
GRANT SELECT ON vasscm.clearance_now, vasscm.setting_rule, vasscm.unit_conversion TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric, text),
                          vasscm._seal_key(text), vasscm._unit(text), vasscm._in_unit(numeric, text, text),
                          vasscm._gate_time(timestamptz),
                          vasscm._seal_after_changes(text, timestamptz, timestamptz[], text[], text[])
   TO vasscm_reader;
ALTER FUNCTION vasscm.gate_out_check(text, text, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric) SECURITY DEFINER;
ALTER FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric, text) SECURITY DEFINER;
ALTER FUNCTION vasscm._clearance_rebuild() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm._clearance_rebuild(), vasscm._clearance_drift() TO vasscm_admin;

-- Batched worker writes and the table of unsettled messages (sql/outbox.sql, sql/worker.sql).
ALTER FUNCTION vasscm.record_signed_batch(uuid[], text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8) SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.record_signed_batch(uuid[], text[]),
                          vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8)
   TO vasscm_worker;
GRANT SELECT ON vasscm.outbox_open TO vasscm_reader, vasscm_worker;

-- Camera gates (sql/camera.sql): a camera system records reads and reports outages, nothing
-- else (it cannot even read the reads); the officer on duty (operator) reviews held reads and
-- keeps the shift log; readers (traffic displays, the TOS) read the reports and views; admins
-- register cameras, yard blocks and run the jobs; admins may bind camera_exit to form 21.
ALTER FUNCTION vasscm.record_camera_read(text, timestamptz, jsonb, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.camera_read_status(bigint) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_camera_outage(text, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_camera_restored(text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.review_camera_read(bigint, text, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.write_shift_log(text, text, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.cancel_gate_appointment(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.register_camera(text, text, text, text, text, text, int) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_camera_active(text, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.issue_camera_key(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.camera_key_matches(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_yard_block(text, numeric, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.drop_yard_block(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.watch_cameras() SECURITY DEFINER;
ALTER FUNCTION vasscm.maintain_camera_partitions() SECURITY DEFINER;
GRANT SELECT ON vasscm.camera, vasscm.gate_appointment, vasscm.yard_block, vasscm.camera_read, vasscm.camera_exit,
                vasscm.camera_outage, vasscm.shift_log, vasscm._yard_containers, vasscm.camera_review_queue, vasscm.camera_status,
                vasscm.truck_visits, vasscm.trucks_inside, vasscm.dwell_by_lane, vasscm.gate_queue, vasscm.gate_flow, vasscm.yard_capacity
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.camera_statistics(timestamptz, timestamptz), vasscm.camera_shift_log(timestamptz, timestamptz),
                          vasscm.camera_read_status(bigint), vasscm._plate(text)
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.review_camera_read(bigint, text, text, text[]), vasscm.write_shift_log(text, text, text, timestamptz),
                          vasscm.report_camera_outage(text, text, timestamptz), vasscm.report_camera_restored(text, timestamptz),
                          vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text),
                          vasscm.cancel_gate_appointment(text)
   TO vasscm_operator;
GRANT EXECUTE ON FUNCTION vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text),
                          vasscm.cancel_gate_appointment(text), vasscm.register_camera(text, text, text, text, text, text, int),
                          vasscm.set_camera_active(text, boolean), vasscm.issue_camera_key(text), vasscm.set_yard_block(text, numeric, text),
                          vasscm.drop_yard_block(text), vasscm.watch_cameras(), vasscm.maintain_camera_partitions()
   TO vasscm_admin;
GRANT TRIGGER ON vasscm.camera_exit TO vasscm_admin;   -- vasscm.bind checks it: a port without a gate system binds camera_exit to form 21
GRANT EXECUTE ON FUNCTION vasscm.record_camera_read(text, timestamptz, jsonb, text, text[]), vasscm.camera_read_status(bigint),
                          vasscm.report_camera_outage(text, text, timestamptz), vasscm.report_camera_restored(text, timestamptz)
   TO vasscm_camera;
GRANT EXECUTE ON FUNCTION vasscm.camera_key_matches(text, text) TO vasscm_worker;   -- the worker's future HTTP endpoint for cameras
