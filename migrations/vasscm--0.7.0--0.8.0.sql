-- vasscm 0.7.0 → 0.8.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- 0.6.0 was released with the upgrade script migrations/vasscm--0.5.0--0.6.0.sql as it stood at
-- ae3f6b9. Work of the same version that came after it (set-based decisions for corrections and
-- withdrawals before sending; an event undone in the TOS undone in the ledger whatever became of
-- its message) had been written into that released script; it is carried here instead, and the
-- released script is back to its released content. A database that got these definitions with
-- its 0.6.0 gets them again, unchanged.
-- 1. Corrections before sending rebuilt in place and withdrawals before sending cancelled
--    set-based when the TOS row changed once in a batch: _reprepare_many, _correct_movements,
--    _undo_movements and _cancel_unsent (new), which the one-message functions _reprepare,
--    _correct_movement, _undo_movement and _withdraw call; _capture and _interpret_changes use
--    them.
-- 2. An event undone in the TOS is undone in the ledger whatever became of its message (a 21
--    customs rejected, then the truck turned back, no longer counts as gone).
-- 3. _cancel_unsent reads the withdrawn messages once.
-- Privileges end as at install: sql/roles.sql is applied again at the end.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.8.0'" to load this file. \quit

-- 1–3. Interpretation: corrections and withdrawals set-based; undone events in the ledger ----------

-- The TOS corrected events' facts: the ledger follows. For each i, the event of message
-- outbox_ids[i] now has the facts datas[i], the message new_outbox_ids[i] standing for it (a
-- new one replaced it; NULL: the same) and, when source_datas[i] is given, that mapping of its
-- TOS row (which also says where the box is now).
CREATE OR REPLACE FUNCTION _correct_movements(outbox_ids bigint[], datas jsonb[], new_outbox_ids bigint[], source_datas jsonb[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics: one index, never a scan of a partial one
BEGIN
    WITH fixed AS (
        UPDATE vasscm.movement m
           SET container_no = c.container_no, bl_no = c.bl_no, declarations = c.declarations, quantity = c.quantity,
               quantity_unit = c.quantity_unit, weight_kg = c.weight_kg, volume_m3 = c.volume_m3, vehicle = c.vehicle,
               vehicle_no = c.vehicle_no,
               seal = CASE WHEN m.kind = 'seal_change' THEN c.seal ELSE coalesce(u.data ->> 'SO_NIEM_PHONG_HQ', u.data ->> 'SO_NIEM_PHONG') END,
               happened_at = c.happened_at, facts = u.data, corrected_at = now(),
               source_data = coalesce(u.source_data, m.source_data),
               outbox_id = coalesce(u.new_id, m.outbox_id)
          FROM unnest(outbox_ids, datas, new_outbox_ids, source_datas) AS u(id, data, new_id, source_data)
         CROSS JOIN LATERAL vasscm._movement_columns(u.data) c
         WHERE m.outbox_id = u.id AND m.undone_at IS NULL
        RETURNING m.id, u.source_data IS NOT NULL AS remapped)
    -- the corrected mapping says where the box is now
    DELETE FROM vasscm.movement_position p USING fixed f WHERE p.movement_id = f.id AND f.remapped;
END
$$;

-- One event corrected (see above).
CREATE OR REPLACE FUNCTION _correct_movement(outbox_id bigint, data jsonb, new_outbox_id bigint DEFAULT NULL,
                                  source_data jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._correct_movements(ARRAY[outbox_id], ARRAY[data], ARRAY[new_outbox_id], ARRAY[source_data]);
END
$$;

-- The TOS undid events (a truck turned back, a mistaken gate-in deleted): they no longer
-- count. For each i, the event of message outbox_ids[i], because of reasons[i].
-- (PL/pgSQL: its plan is kept for the session; a SQL function called once per change would be
-- planned at every call.)
CREATE OR REPLACE FUNCTION _undo_movements(outbox_ids bigint[], reasons text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
BEGIN
    UPDATE vasscm.movement m SET undone_at = now(), undone_reason = u.reason
      FROM unnest(outbox_ids, reasons) AS u(id, reason)
     WHERE m.outbox_id = u.id AND m.undone_at IS NULL;
END
$$;

-- One event undone (see above).
CREATE OR REPLACE FUNCTION _undo_movement(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._undo_movements(ARRAY[outbox_id], ARRAY[reason]);
END
$$;

-- Checks and builds existing messages again (same transaction_id), e.g. after their data was
-- fixed: for each i, message ids[i] with datas[i] because of reasons[i] — invalid (with what is
-- wrong), pending approval (manual) or queued again, attempts reset. Returns each message's
-- new status.
CREATE OR REPLACE FUNCTION _reprepare_many(ids bigint[], datas jsonb[], reasons text[])
RETURNS TABLE (outbox_id bigint, status text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r_id  bigint[];
    r_st  text[];
    r_why text[];
    r_err text[];
BEGIN
    WITH o AS MATERIALIZED (
        SELECT x.id, x.message_type, x.mode, x.binding_id, x.source_data, x.original_transaction_id, x.order_key,
               u.data AS new_data, u.reason,
               vasscm._prepare(x.message_type, u.data, x.transaction_id::text) AS prep
          FROM unnest(ids, datas, reasons) AS u(id, data, reason)
          JOIN vasscm.outbox x ON x.id = u.id
         ORDER BY x.id
           FOR UPDATE OF x
    ), fixed AS (
        UPDATE vasscm.outbox x
           SET data = o.prep -> 'data', message = o.prep ->> 'message', errors = o.prep -> 'errors',
               source_data = CASE WHEN o.binding_id IS NOT NULL THEN o.new_data ELSE o.source_data END,
               -- a corrected container / B/L / declaration is the key the message is ordered by
               order_key = CASE WHEN o.original_transaction_id IS NULL
                                THEN coalesce(o.prep -> 'data' ->> 'SO_CONTAINER', o.prep -> 'data' ->> 'SO_VAN_DON',
                                              o.prep -> 'data' ->> 'SO_TK', o.order_key)
                                ELSE o.order_key END,
               attempts = 0, updated_at = now()
          FROM o WHERE x.id = o.id
        RETURNING x.id)
    SELECT array_agg(o.id ORDER BY o.id),
           array_agg(CASE WHEN NOT (o.prep ->> 'valid')::boolean THEN 'invalid' WHEN o.mode = 'manual' THEN 'pending_approval'
                          ELSE 'queued' END ORDER BY o.id),
           array_agg(CASE WHEN NOT (o.prep ->> 'valid')::boolean THEN o.reason || ': ' || vasscm._errors_summary(o.prep -> 'errors')
                          ELSE o.reason END ORDER BY o.id),
           array_agg(CASE WHEN NOT (o.prep ->> 'valid')::boolean THEN vasscm._errors_summary(o.prep -> 'errors') ELSE '' END ORDER BY o.id)
      INTO r_id, r_st, r_why, r_err
      FROM o JOIN fixed f ON f.id = o.id;
    IF r_id IS NOT NULL THEN
        PERFORM FROM vasscm._set_status(r_id, r_st, r_why, r_err, array_fill(0::float8, ARRAY[cardinality(r_id)]));
    END IF;
    RETURN QUERY SELECT * FROM unnest(r_id, r_st);
END
$$;

-- Checks and builds an existing message again (see above); returns its new status.
CREATE OR REPLACE FUNCTION _reprepare(outbox_id bigint, data jsonb, reason text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT r.status FROM vasscm._reprepare_many(ARRAY[outbox_id], ARRAY[data], ARRAY[reason]) r);
END
$$;

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
        END IF;
        -- The ledger's event is undone whatever became of its message: one customs rejected
        -- (no message stands for it any more) counted as gone all the same.
        PERFORM vasscm._undo_movements(u.ids, array_fill(format('undone in %s', source_table), ARRAY[cardinality(u.ids)]))
           FROM (SELECT ARRAY(SELECT m.outbox_id FROM vasscm.movement m
                               WHERE m.binding_id = _capture.binding_id AND m.source_key = _capture.source_key
                                 AND m.undone_at IS NULL) AS ids) u
          WHERE cardinality(u.ids) > 0;
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

-- Events customs never heard of, withdrawn: for each i, message ids[i] (not sent yet) and its
-- follow-ups not sent yet are cancelled, because of reasons[i] (each found by its own index).
CREATE OR REPLACE FUNCTION _cancel_unsent(ids bigint[], reasons text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    all_ids bigint[];
    why     text[];
BEGIN
    WITH w AS (SELECT o.id, o.transaction_id, o.status, u.reason || ': withdrawn before it was sent' AS reason
                 FROM unnest(ids, reasons) AS u(id, reason) JOIN vasscm.outbox o ON o.id = u.id)
    SELECT array_agg(x.id ORDER BY x.id), array_agg(x.reason ORDER BY x.id) INTO all_ids, why
      FROM (SELECT w.id, w.reason FROM w WHERE w.status IN ('invalid', 'pending_approval', 'queued')
            UNION
            SELECT f.id, w.reason FROM w JOIN vasscm.outbox f ON f.original_transaction_id = w.transaction_id
             WHERE f.status IN ('invalid', 'pending_approval', 'queued')) x;
    IF all_ids IS NOT NULL THEN
        PERFORM FROM vasscm._set_status(all_ids, array_fill('cancelled'::text, ARRAY[cardinality(all_ids)]), why, why);
    END IF;
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
        PERFORM vasscm._cancel_unsent(ARRAY[cur.id], ARRAY[reason]);
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

-- Stage 2 for one batch of captured changes (their ids): every active binding of each change's
-- table, gate-ins first and gate-outs last (a row first seen already gated in and out is both,
-- in that order), mapped set-based by vasscm._binding_map_N. Decided set-based here:
--   nothing  — a gate event's change that maps to the facts the ledger already holds for its
--              TOS identity (a yard move, an upsert replayed, a row re-delivered or reloaded),
--              with nothing else before it in the batch: where the box is now follows
--              (vasscm.movement_position), first;
--   idle     — the binding's condition does not hold and there is nothing to undo (a TOS row
--              not gated out yet, for the gate-out binding), or the TOS archived a gate-in's
--              row after the goods left: nothing at all;
--   withdrawn — a gate event undone in the TOS before customs heard of it (a mistaken gate-in
--              deleted, a gate-out cleared before its 21 went), the TOS row's only change in
--              the batch: its messages cancelled, its ledger event undone;
--   corrected — a gate event's facts corrected in the TOS before customs heard of it, the TOS
--              row's only change in the batch: its message rebuilt in place, its ledger event
--              corrected;
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
    undone_ids bigint[];
    undone_why text[];
    fixed_ids  bigint[];
    fixed_data jsonb[];
    fixed_why  text[];
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
                             WHERE x.id = ANY ($1)),
         bs AS MATERIALIZED (SELECT x.*, coalesce(x.informational, vasscm._informational_fields(x.message_type)) AS info,
                                    coalesce(x.condition, '') ~* '\mold\s*\.' AS reads_old
                  FROM vasscm.binding x
                 WHERE x.active AND x.source::oid IN (SELECT DISTINCT c.source FROM c)
                   AND ($2 IS NULL OR x.message_type = $2)),
         mapped AS (
            SELECT bs.id AS binding_id, bs.message_type AS form, bs.source AS source_table,
                   bs.info, bs.reads_old, mp.*
              FROM bs
              CROSS JOIN LATERAL (SELECT array_agg(c.id) AS ids, array_agg(c.op) AS ops, array_agg(c.new_row) AS news,
                                         array_agg(c.old_row) AS olds
                                    FROM c
                                   WHERE c.source = bs.source::oid
                                     AND CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' ELSE 'DELETE' END = ANY (bs.events)) AS ch
              CROSS JOIN LATERAL (%s) AS mp),
         looked AS MATERIALIZED (   -- (its judgements computed once, then read)
            SELECT x.*,
                   -- a change that may undo or correct the live event of its identity
                   x.movement_id IS NOT NULL AND x.error IS NULL AND NOT x.same AND NOT x.archived AS may_undo_or_correct
              FROM (
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
                       -- a gate-in's TOS row deleted after the goods left (a gate-out of the same row
                       -- that was not cancelled, whatever became of it): the TOS archiving, nothing
                       coalesce(mapped.error IS NULL AND mapped.ok AND mapped.op = 'D' AND mapped.key IS NOT NULL
                                AND mapped.form IN (SELECT f.message_type FROM vasscm.followup_rule f)
                                AND EXISTS (SELECT 1 FROM vasscm.binding b2 JOIN vasscm.outbox g ON g.binding_id = b2.id
                                             WHERE b2.source = mapped.source_table AND g.source_key = mapped.key
                                               AND g.message_type IN ('21', '22') AND g.status <> 'cancelled'),
                                false) AS archived,
                       -- where the box is now differs from this change's mapping (a position to record)
                       coalesce(mapped.ok AND live.id IS NOT NULL AND mapped.data IS DISTINCT FROM live.position, false) AS moves,
                       live.id AS movement_id, live.outbox_id AS live_outbox_id
                  FROM mapped
                  LEFT JOIN LATERAL (SELECT mv.id, mv.source_data, coalesce(p.source_data, mv.source_data) AS position, mv.outbox_id
                                       FROM vasscm.movement mv
                                       LEFT JOIN vasscm.movement_position p ON p.movement_id = mv.id
                                      WHERE mv.binding_id = mapped.binding_id AND mv.source_key = mapped.key
                                        AND mv.undone_at IS NULL AND mapped.key IS NOT NULL
                                      LIMIT 1) live ON true
                OFFSET 0) x),   -- (OFFSET 0: not flattened, so that each judgement is computed once)
         judged AS (
            -- a change that may undo or correct a live event: the message standing for it (as
            -- vasscm._current_event finds it): the latest not cancelled, rejected nor
            -- withdrawn; plain: nothing follows it (no amendment, no cancellation)
            SELECT l.*, cur.id AS cur_id, cur.source_data AS cur_source, cur.plain AS cur_plain,
                   -- the ledger's event stands for that message and customs has not heard of it
                   coalesce(cur.status IN ('invalid', 'pending_approval', 'queued') AND l.live_outbox_id = cur.id, false) AS cur_unsent
              FROM looked l
              LEFT JOIN LATERAL (SELECT o.id, o.status, o.source_data,
                                        NOT EXISTS (SELECT 1 FROM vasscm.outbox a
                                                     WHERE a.original_transaction_id = o.transaction_id AND a.status <> 'cancelled') AS plain
                                   FROM vasscm.outbox o
                                  WHERE o.binding_id = l.binding_id AND o.source_key = l.key
                                    AND o.message_type = l.form AND o.status NOT IN ('cancelled', 'rejected')
                                    AND NOT EXISTS (SELECT 1 FROM vasscm.outbox w
                                                     WHERE w.original_transaction_id = o.transaction_id
                                                       AND (w.message_type = 'CANCEL_PASSED'
                                                            OR w.message_type IN (SELECT f.cancel_type FROM vasscm.followup_rule f))
                                                       AND w.status NOT IN ('cancelled', 'rejected'))
                                  ORDER BY o.id + 0 DESC LIMIT 1) cur ON true
             WHERE l.may_undo_or_correct
            UNION ALL
            -- any other change (a yard move, a new event, archiving): none
            SELECT l.*, NULL, NULL, NULL, false
              FROM looked l
             WHERE NOT l.may_undo_or_correct),
         -- TOS rows (table, identity) changed more than once in the batch, whatever their
         -- bindings (rare): their changes are decided in capture order below
         repeated AS MATERIALIZED (
            SELECT x.source_table, x.key FROM mapped x WHERE x.key IS NOT NULL
             GROUP BY x.source_table, x.key HAVING min(x.change_id) <> max(x.change_id)),
         judged_once AS MATERIALIZED (
            -- alone: the TOS row's only change in the batch
            SELECT j.*, j.key IS NULL OR (j.source_table, j.key) NOT IN (SELECT r.source_table, r.key FROM repeated r) AS alone
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
                   (o.error IS NULL AND o.ok IS NOT TRUE
                    AND (o.op <> 'U' OR o.form NOT IN ('14', '15', '21', '22') OR o.reads_old
                         OR o.key IS NULL OR o.unknown))
                   -- or the TOS archived a row whose goods left (the row's only change in the batch)
                   OR (o.archived AND o.alone) AS idle,
                   -- a gate event undone in the TOS (the row deleted before the goods left, its
                   -- condition no longer true) before customs heard of it: its message and
                   -- follow-ups are cancelled and the ledger's event undone, set-based (the row's
                   -- only change in the batch, the ledger's event standing for that message)
                   coalesce(o.alone AND o.error IS NULL AND o.form IN ('14', '15', '21', '22')
                            AND ((o.op = 'D' AND o.ok IS TRUE AND NOT o.archived) OR (o.op = 'U' AND o.ok IS NOT TRUE AND NOT o.reads_old))
                            AND o.cur_unsent,
                            false) AS withdrawn,
                   -- a gate event's facts corrected in the TOS before customs heard of it (and
                   -- nothing follows its message; for a gate-in, not its seal, which a seal
                   -- change may explain): its message rebuilt in place and the ledger's event
                   -- corrected, set-based (the TOS row's only change in the batch)
                   coalesce(o.alone AND o.error IS NULL AND o.form IN ('14', '15', '21', '22') AND o.ok IS TRUE
                            AND o.op IN ('I', 'U')
                            AND o.cur_unsent AND o.cur_plain
                            AND jsonb_strip_nulls(o.cur_source) - o.info IS DISTINCT FROM jsonb_strip_nulls(o.data) - o.info
                            AND (o.form IN ('21', '22')
                                 OR (o.data ->> 'SO_NIEM_PHONG' IS NOT DISTINCT FROM o.cur_source ->> 'SO_NIEM_PHONG'
                                     AND o.data ->> 'SO_NIEM_PHONG_HQ' IS NOT DISTINCT FROM o.cur_source ->> 'SO_NIEM_PHONG_HQ')),
                            false) AS corrected,
                   CASE WHEN o.form IN ('21', '22') THEN 2 WHEN o.form IN ('14', '15') THEN 0 ELSE 1 END AS form_order
              FROM ordered o)
    SELECT array_agg(ROW(d.change_id, d.binding_id, d.op, d.ok, d.data, d.key, d.error, d.sql_state, d.new)::vasscm._interpretation
                     ORDER BY d.change_id, d.form_order, d.binding_id)
                     FILTER (WHERE NOT d.nothing AND NOT d.idle AND NOT d.withdrawn AND NOT d.corrected),
           array_agg(d.cur_id ORDER BY d.change_id) FILTER (WHERE d.corrected),
           array_agg(d.data ORDER BY d.change_id) FILTER (WHERE d.corrected),
           array_agg(format('corrected in %%s before it was sent', d.source_table) ORDER BY d.change_id) FILTER (WHERE d.corrected),
           array_agg(d.cur_id ORDER BY d.change_id) FILTER (WHERE d.withdrawn),
           array_agg(format('undone in %%s', d.source_table) ORDER BY d.change_id) FILTER (WHERE d.withdrawn),
           -- nothing happened, but an informational field (a position) moved
           array_agg(d.movement_id ORDER BY d.change_id) FILTER (WHERE d.nothing AND d.moves),
           array_agg(d.data ORDER BY d.change_id) FILTER (WHERE d.nothing AND d.moves)
      FROM decided d
$decide$;
    -- Each binding's mapping called directly (its rows go straight into the statement) ...
    SELECT string_agg(format('SELECT m.*, NULL::text AS error, NULL::text AS sql_state FROM vasscm._binding_map_%1$s(ch.ids, ch.ops, ch.news, ch.olds) m WHERE bs.id = %1$s', b.id),
                      ' UNION ALL ')
      INTO direct
      FROM vasscm.binding b WHERE b.active AND (only_message_type IS NULL OR b.message_type = only_message_type);
    BEGIN
        EXECUTE format(decide, coalesce(direct, 'SELECT NULL::bigint AS change_id, NULL::"char" AS op, NULL::boolean AS ok, NULL::jsonb AS data, NULL::jsonb AS key, NULL::text AS error, NULL::text AS sql_state WHERE false'))
           INTO todo, fixed_ids, fixed_data, fixed_why, undone_ids, undone_why, moved_ids, moved_data USING ids, only_message_type;
    EXCEPTION WHEN OTHERS THEN
        -- ... unless an expression raised on one of the rows: then binding by binding, the
        -- failing rows found one by one and kept with their error (vasscm._map_changes)
        EXECUTE format(decide, 'SELECT * FROM vasscm._map_changes(bs.id, ch.ids, ch.ops, ch.news, ch.olds)')
           INTO todo, fixed_ids, fixed_data, fixed_why, undone_ids, undone_why, moved_ids, moved_data USING ids, only_message_type;
    END;
    -- where the boxes are now follows, and events undone before customs heard of them are
    -- withdrawn, first (the changes decided below concern other TOS rows, or come after these)
    PERFORM vasscm._record_positions(moved_ids, moved_data);
    IF undone_ids IS NOT NULL THEN
        PERFORM vasscm._cancel_unsent(undone_ids, undone_why);
        PERFORM vasscm._undo_movements(undone_ids, undone_why);
    END IF;
    IF fixed_ids IS NOT NULL THEN   -- corrected before customs heard of them: rebuilt in place
        PERFORM vasscm._reprepare_many(fixed_ids, fixed_data, fixed_why);
        PERFORM vasscm._correct_movements(fixed_ids, ARRAY(SELECT o.data FROM unnest(fixed_ids) WITH ORDINALITY AS u(id, n)
                                                             JOIN vasscm.outbox o ON o.id = u.id ORDER BY u.n),
                                          array_fill(NULL::bigint, ARRAY[cardinality(fixed_ids)]), fixed_data);
    END IF;
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
