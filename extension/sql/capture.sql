-- Capture decisions: what one mapped TOS row change means for customs (stage 2 of
-- sql/interpret.sql). vasscm._capture() decides between a new event, a correction (16, or
-- CANCEL_PASSED + a new gate-out), a withdrawal (17 / CANCEL_PASSED), archiving or nothing;
-- writes the movement ledger (sql/ledger.sql) and queues the messages (sql/outbox.sql).
-- Nothing here runs in the TOS's trigger: a failure is recorded (vasscm._capture_failed).

-- Which message types are gate-ins that get amended / cancelled when their TOS row changes.
CREATE TABLE followup_rule (
    message_type text PRIMARY KEY,
    amend_type   text NOT NULL,
    cancel_type  text NOT NULL
);
COMMENT ON TABLE followup_rule IS 'Gate-in forms: corrections of their facts become amendments (amend_type), withdrawals cancellations (cancel_type). Gate-outs (21, 22) are withdrawn by CANCEL_PASSED.';
INSERT INTO followup_rule VALUES ('14', '16', '17'), ('15', '16', '17');

-- Fields that say where a box stands or what state it is in now, not what customs was told
-- about its arrival: a change of these alone (a yard move, a reshuffle, a move to the inspection
-- area; for a gate-in also a strip or stuff at the CFS, which empties or fills the box) is
-- never an amendment. The yard map (form 13 / YARD_MAP) is the place for positions. A binding
-- may declare its own list (vasscm.bind(…, informational => …)).
CREATE FUNCTION _informational_fields(message_type text DEFAULT NULL) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN message_type IN ('14', '15') THEN ARRAY['VI_TRI', 'TRANG_THAI'] ELSE ARRAY['VI_TRI'] END
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
CREATE FUNCTION _capture(binding_id int, message_type text, mode text, source_table text, op text, data jsonb, source_key jsonb)
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

-- The message standing for a TOS row's gate-in or gate-out: the latest of the binding for the
-- row's key that was neither cancelled nor rejected, nor withdrawn by a cancellation (17) or a
-- CANCEL_PASSED still in force.
-- (Two plain index lookups, planned once per session and only through indexes: a plan cached
-- while the outbox grows within one large transaction must not turn into a scan of the whole
-- outbox per row.)
CREATE FUNCTION _current_event(binding_id int, source_key jsonb, message_type text) RETURNS outbox
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
CREATE FUNCTION _withdraw(cur outbox, mode text, why text, reason text) RETURNS void
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

-- Events customs never heard of, withdrawn: for each i, message ids[i] (not sent yet) and its
-- follow-ups not sent yet are cancelled, because of reasons[i] (each found by its own index).
CREATE FUNCTION _cancel_unsent(ids bigint[], reasons text[]) RETURNS void
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

-- An update written as DELETE + INSERT in one transaction: the cancellation (17) or
-- CANCEL_PASSED that the DELETE queued, not sent, is cancelled; returns the message it withdrew.
CREATE FUNCTION _take_back_withdrawal(binding_id int, source_key jsonb, message_type text) RETURNS outbox
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

-- A seal change (24) or a strip / stuff (20 / 23) interpreted after the gate-in row was
-- updated with its result (the TOS's rows arrive in any order, in the same transaction or a
-- later one): an amendment (16) not sent yet that only rewrote those fields (to `value`, or to
-- anything when NULL) is withdrawn: the gate-in stays as the box arrived.
CREATE FUNCTION _withdraw_explained_amendments(container_no text, fields text[], value text, why text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a     vasscm.outbox;
    prev  jsonb;
    fixed jsonb;
    info  text[];
    f     text;
BEGIN
    FOR a IN SELECT * FROM vasscm.outbox o
              WHERE o.order_key = container_no AND o.message_type = '16'
                AND o.status IN ('queued', 'pending_approval', 'invalid') LOOP
        SELECT o.source_data INTO prev FROM vasscm.outbox o
         WHERE o.id < a.id AND (o.transaction_id = a.original_transaction_id
                                OR (o.original_transaction_id = a.original_transaction_id AND o.message_type = '16'
                                    AND o.status <> 'cancelled'))
         ORDER BY o.id DESC LIMIT 1;
        info := coalesce((SELECT b.informational FROM vasscm.binding b WHERE b.id = a.binding_id), vasscm._informational_fields('14'));
        fixed := a.source_data;
        FOREACH f IN ARRAY fields LOOP
            IF value IS NULL OR fixed ->> f = value THEN
                fixed := jsonb_set(fixed, ARRAY[f], coalesce(prev -> f, 'null'));
            END IF;
        END LOOP;
        IF jsonb_strip_nulls(fixed) - info = jsonb_strip_nulls(prev) - info THEN
            PERFORM vasscm._set_status(a.id, 'cancelled', why);
            -- the ledger's gate-in keeps the facts it arrived with
            PERFORM vasscm._correct_movement(o.id, prev, NULL, prev) FROM vasscm.outbox o WHERE o.transaction_id = a.original_transaction_id;
        END IF;
    END LOOP;
END
$$;

-- Called when a binding could not map a captured change (an expression raised, say): the
-- change is kept in vasscm.capture_failure with the reason (vasscm.reinterpret_failures()
-- runs it again) and recorded as an 'invalid' message, so that nothing is lost and the DBA
-- sees why.
CREATE FUNCTION _capture_failed(binding_id int, message_type text, source_table text, change_id bigint, sql_state text,
                                error text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c      vasscm.captured_change;
    detail text;
    oid_   bigint;
BEGIN
    SELECT * INTO c FROM vasscm.captured_change x WHERE x.id = change_id;
    detail := format('the binding could not map the %s row: %s (SQLSTATE %s)',
                     CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' ELSE 'DELETE' END, error, sql_state);
    PERFORM set_config('vasscm.enqueueing', 'on', true);
    INSERT INTO vasscm.outbox (transaction_id, message_type, status, data, errors, binding_id, source_table, last_error)
    VALUES (gen_random_uuid(), message_type, 'invalid', coalesce(c.new_row, c.old_row, '{}'),
            jsonb_build_array(jsonb_build_object('path', '', 'rule', 'capture', 'detail', detail)),
            binding_id, source_table, detail)
    RETURNING id INTO oid_;
    PERFORM set_config('vasscm.enqueueing', '', true);
    PERFORM vasscm._first_status(oid_, detail);   -- its history row (→ invalid, why) and its place among the unsettled
    INSERT INTO vasscm.capture_failure (change_id, source, op, new_row, old_row, captured_at, binding_id, error, outbox_id)
    VALUES (c.id, c.source, c.op, c.new_row, c.old_row, c.captured_at, binding_id, detail, oid_)
    ON CONFLICT ON CONSTRAINT capture_failure_pkey DO UPDATE SET error = EXCLUDED.error, outbox_id = EXCLUDED.outbox_id, failed_at = now();
END
$$;
