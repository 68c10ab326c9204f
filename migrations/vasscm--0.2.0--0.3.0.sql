-- vasscm 0.2.0 → 0.3.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- 1. Customs' messages: the worker passes the document it verified (the signed content) and,
--    separately, the body as received for the log; customs' Sender_Code and this port's
--    Receiver_Code are checked (setting vasscm.customs_sender_code, default TCHQ); refused
--    inbound bodies are logged as a bounded prefix with their size and SHA-256.
-- 2. Capture: a gate-in / gate-out is one event per TOS row however the row arrives (upserts
--    replayed, DELETE + INSERT, TRUNCATE + reload, a row first seen gated in and out); undone in
--    the TOS it is withdrawn (17 / CANCEL_PASSED if customs had it); a gate-out corrected after
--    customs had it gets CANCEL_PASSED and the corrected one; a yard move (a position) is never an amendment; a seal a seal change (24)
--    reported is not a correction of the gate-in; a DELETE after the gate-out of the same row
--    is archiving, not a cancellation; a dead gate-in is amended, never sent twice; no
--    internal table names in reason texts sent to customs.
-- 3. Bindings: the DBA's expressions run with the privileges of the role that bound the table
--    (a mapping function owned by it), never as the extension owner; existing bindings are
--    regenerated that way, owned by the role that created them.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.3.0'" to load this file. \quit


-- 1. Customs' messages ----------------------------------------------------------------------
DROP FUNCTION vasscm.record_reply(uuid, text, int);
DROP FUNCTION vasscm.record_refused(text, text);
DROP FUNCTION vasscm.receive(text);

-- Whether a customs message's header names customs as its sender and this port as its
-- receiver: NULL when it does, the reason otherwise.
CREATE FUNCTION _customs_header_problem(header jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN coalesce(current_setting('vasscm.sender_code', true), '') = '' THEN
            'vasscm.sender_code is not set: messages addressed to this port cannot be recognised'
        WHEN header ->> 'Receiver_Code' IS DISTINCT FROM trim(current_setting('vasscm.sender_code', true)) THEN
            format('Receiver_Code %s is not this port (%s)', coalesce(header ->> 'Receiver_Code', 'missing'),
                   trim(current_setting('vasscm.sender_code', true)))
        WHEN NOT coalesce(header ->> 'Sender_Code', '') = ANY (
                 SELECT trim(c) FROM unnest(string_to_array(coalesce(current_setting('vasscm.customs_sender_code', true), ''), ',')) c) THEN
            format('Sender_Code %s is not customs (vasscm.customs_sender_code = %s)', coalesce(header ->> 'Sender_Code', 'missing'),
                   coalesce(current_setting('vasscm.customs_sender_code', true), ''))
    END
$$;

-- Customs' reply (form 200 accepted / 299 rejected) to a message. `reply` is the document the
-- worker verified (the signed content, canonical); `signed` the body as received, which is what
-- the log keeps. An unusable reply (not XML, hostile, not from customs to this port, not a
-- reply to this message) is logged and the message retried.
CREATE FUNCTION record_reply(transaction_id uuid, reply text, http_status int DEFAULT 200, signed text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parsed jsonb;
    kind   text;
    errs   text;
    o      vasscm.outbox;
    raw    text := coalesce(signed, reply);
    why    text;
BEGIN
    BEGIN
        parsed := vasscm.parse_message(reply);
    EXCEPTION WHEN OTHERS THEN
        RETURN vasscm.record_failure(transaction_id, 'unusable reply: ' || SQLERRM, http_status, left(raw, 1048576));
    END;
    kind := parsed -> 'header' ->> 'Message_Type';
    IF kind NOT IN ('200', '299') THEN
        RETURN vasscm.record_failure(transaction_id, format('reply of type %s, expected 200 or 299', kind), http_status, raw);
    END IF;
    IF parsed -> 'header' ->> 'Request_ID' IS DISTINCT FROM transaction_id::text THEN
        RETURN vasscm.record_failure(transaction_id,
            format('reply answers %s, not this message', coalesce(parsed -> 'header' ->> 'Request_ID', 'nothing')), http_status, raw);
    END IF;
    why := vasscm._customs_header_problem(parsed -> 'header');
    IF why IS NOT NULL THEN
        RETURN vasscm.record_failure(transaction_id, 'reply refused: ' || why, http_status, raw);
    END IF;
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, http_status, body) VALUES (transaction_id, 'in', 'reply', http_status, raw);
    SELECT * INTO o FROM vasscm.outbox x WHERE x.transaction_id = record_reply.transaction_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF o.status IN ('accepted', 'rejected') THEN
        RETURN o.status;   -- a duplicate delivery's reply: the first one settled it
    END IF;
    SELECT string_agg(format('%s: %s', e ->> 'ErrorNumber', e ->> 'ErrorMessage'), '; ')
      INTO errs FROM jsonb_array_elements(coalesce(parsed -> 'data' -> 'Error', '[]')) AS e
     WHERE e ->> 'ErrorNumber' <> '0';
    PERFORM set_config('vasscm.status_reason',
                       CASE WHEN kind = '200' THEN 'accepted by customs' ELSE 'rejected by customs: ' || coalesce(errs, '') END, true);
    UPDATE vasscm.outbox x SET status = CASE WHEN kind = '200' THEN 'accepted' ELSE 'rejected' END,
                               last_error = CASE WHEN kind = '299' THEN errs END,
                               lease_until = NULL, updated_at = now()
     WHERE x.id = o.id;
    PERFORM set_config('vasscm.status_reason', '', true);
    RETURN CASE WHEN kind = '200' THEN 'accepted' ELSE 'rejected' END;
END
$$;
COMMENT ON FUNCTION record_reply(uuid, text, int, text) IS 'Worker: records customs'' verified reply (200 / 299) to a message.';

-- An inbound body the worker refused (bad signature, unreadable, not for this port): logged,
-- never stored. Such bodies come from anyone who can reach the endpoint, so the log keeps a
-- bounded prefix (4 KiB) and the SHA-256 and size of the whole body, never all of it.
CREATE FUNCTION record_refused(body text, reason text, source text DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.message_log (direction, kind, body, note)
    VALUES ('in', 'refused', left(body, 4096),
            format('%s (from %s; %s bytes, sha256 %s%s)', reason, coalesce(source, 'unknown'), octet_length(body),
                   encode(sha256(convert_to(body, 'UTF8')), 'hex'),
                   CASE WHEN length(body) > 4096 THEN '; first 4096 characters kept' ELSE '' END));
$$;
COMMENT ON FUNCTION record_refused(text, text, text) IS
    'Worker: logs an inbound body it refused: a bounded prefix, its size and SHA-256, the reason and the source.';

-- A customs → port message whose signature the worker verified: stored once per Transaction_ID.
-- `message` is the verified document (the signed content, canonical): it alone is parsed and
-- applied; `signed` is the body as received, kept in the log. A message not from customs
-- (vasscm.customs_sender_code) or not to this port (vasscm.sender_code) is refused.
CREATE FUNCTION receive(message text, signed text DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parsed jsonb := vasscm.parse_message(message);   -- raises a clear error on hostile input
    tid    uuid := (parsed -> 'header' ->> 'Transaction_ID')::uuid;
    kind   text := parsed -> 'header' ->> 'Message_Type';
    why    text := vasscm._customs_header_problem(parsed -> 'header');
    inbox_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.message_types t WHERE t.code = kind AND t.direction = 'C2P') THEN
        RAISE EXCEPTION 'vasscm: % is not a customs-to-port message type', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: message % refused: %', tid, why USING ERRCODE = 'invalid_parameter_value',
            HINT = 'customs'' messages must name vasscm.customs_sender_code as Sender_Code and vasscm.sender_code as Receiver_Code';
    END IF;
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, body) VALUES (tid, 'in', 'inbound', coalesce(signed, message));
    INSERT INTO vasscm.inbox (transaction_id, message_type, request_id, sent_at, header, data, message)
    VALUES (tid, kind, nullif(parsed -> 'header' ->> 'Request_ID', '')::uuid,
            (parsed -> 'header' ->> 'Transaction_Date')::timestamptz, parsed -> 'header', parsed -> 'data', message)
    ON CONFLICT (transaction_id) DO NOTHING
    RETURNING id INTO inbox_id;
    IF inbox_id IS NOT NULL THEN
        -- The clearance state follows in the same transaction; a message that cannot be
        -- applied is still stored, with the reason in inbox.apply_error.
        PERFORM vasscm._apply_inbox_safely(inbox_id);
    END IF;
    PERFORM pg_notify('vasscm_inbox', kind);
    RETURN tid;
END
$$;
COMMENT ON FUNCTION receive(text, text) IS
    'Stores a verified customs → port message (from customs, to this port) once per Transaction_ID and applies it to the clearance state.';

-- Claims up to batch_size messages that may be sent now, in order: nothing whose earlier
-- message for the same container / B/L / declaration is still waiting, and no amendment or
-- cancellation before its original was sent (a dead original holds its follow-ups until it is
-- requeued and sent). Expired leases (a crashed worker) come back.
CREATE OR REPLACE FUNCTION claim(worker text, batch_size int DEFAULT 10, lease_seconds int DEFAULT 60) RETURNS SETOF outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('vasscm.status_reason', format('claimed by %s', worker), true);
    RETURN QUERY
    WITH candidates AS (
        SELECT o.id FROM vasscm.outbox o
         WHERE ((o.status = 'queued' AND o.next_attempt_at <= now())
                OR (o.status = 'sending' AND o.lease_until < now()))
           AND NOT EXISTS (SELECT 1 FROM vasscm.outbox e
                            WHERE e.order_key = o.order_key AND e.id < o.id
                              AND e.status IN ('queued', 'sending', 'pending_approval'))
           AND NOT EXISTS (SELECT 1 FROM vasscm.outbox g
                            WHERE g.transaction_id = o.original_transaction_id
                              AND g.status IN ('invalid', 'pending_approval', 'queued', 'sending', 'dead'))
         ORDER BY o.id
         LIMIT batch_size
         FOR UPDATE SKIP LOCKED
    )
    UPDATE vasscm.outbox o
       SET status = 'sending', lease_until = now() + make_interval(secs => lease_seconds), claimed_by = worker,
           attempts = o.attempts + 1, updated_at = now()
      FROM candidates c
     WHERE o.id = c.id
    RETURNING o.*;
    PERFORM set_config('vasscm.status_reason', '', true);
END
$$;
COMMENT ON FUNCTION claim(text, int, int) IS 'Worker: claims messages to send (FOR UPDATE SKIP LOCKED, with a lease).';

ALTER FUNCTION vasscm.claim(text, int, int) SECURITY DEFINER;

ALTER FUNCTION vasscm.record_reply(uuid, text, int, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_refused(text, text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.receive(text, text) SECURITY DEFINER;
REVOKE ALL ON FUNCTION vasscm._customs_header_problem(jsonb), vasscm.record_reply(uuid, text, int, text),
                       vasscm.record_refused(text, text, text), vasscm.receive(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vasscm.record_reply(uuid, text, int, text), vasscm.record_refused(text, text, text),
                          vasscm.receive(text, text)
   TO vasscm_worker;

-- 2, 3. Capture and bindings -------------------------------------------------------------------------------
COMMENT ON TABLE followup_rule IS 'Gate-in forms: corrections of their facts become amendments (amend_type), withdrawals cancellations (cancel_type). Gate-outs (21, 22) are withdrawn by CANCEL_PASSED.';

-- Fields that say where a box stands, not what customs was told about it: a change of these
-- alone (a yard move, a reshuffle, a move to the inspection area) is never an amendment. The
-- yard map (form 13 / YARD_MAP) is the place for positions.
CREATE FUNCTION _informational_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY['VI_TRI']
$$;

-- Called by every binding's trigger function with the mapped data of one TOS row change.
-- Gate-ins (14 / 15) and gate-outs (21 / 22) are events of a TOS row, one per row (its key):
-- the row arriving again — an upsert replayed, a TRUNCATE + reload, an update written as
-- DELETE + INSERT, a row first seen already gated in and out — is not a new event; a change
-- of what customs holds is a correction; the event undone in the TOS is withdrawn.
--   op: INSERT / UPDATE (the binding's condition holds), DELETE (it held for the old row),
--       UNDONE (an UPDATE after which it no longer holds).
-- Not sent yet (pending approval, queued, invalid), a corrected event is rebuilt in place and an
-- undone one withdrawn here: customs never hears of it. Once customs has it (or may have it: a
-- dead message may have arrived): a gate-in corrected gets an amendment (16) — never for a
-- position (_informational_fields) nor for a seal a seal change (24) reported — and undone a
-- cancellation (17); a gate-out corrected (a weighbridge ticket) or undone (a truck turned back)
-- gets a CANCEL_PASSED, then the corrected gate-out. A DELETE after the goods left (a gate-out
-- of the same row) is archiving. Other messages: each captured change is one.
CREATE OR REPLACE FUNCTION _capture(binding_id int, message_type text, mode text, source_table text, op text, data jsonb, source_key jsonb)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rule        vasscm.followup_rule;
    kind        text;
    cur         vasscm.outbox;
    last_source jsonb;
    reason      text := format('captured from %s (%s)', source_table, op);
    info        text[] := vasscm._informational_fields();
    seal        text;
BEGIN
    SELECT * INTO rule FROM vasscm.followup_rule f WHERE f.message_type = _capture.message_type;
    kind := CASE WHEN rule.message_type IS NOT NULL THEN 'gate_in' WHEN message_type IN ('21', '22') THEN 'gate_out' END;
    IF kind IS NULL OR source_key IS NULL THEN
        IF op IN ('INSERT', 'UPDATE') THEN
            PERFORM vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, NULL, reason);
            IF message_type = '24' THEN
                PERFORM vasscm._withdraw_seal_amendments(data ->> 'SO_CONTAINER', data ->> 'NIEM_PHONG_MOI');
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
        RETURN;
    END IF;
    IF cur.id IS NULL THEN
        -- The row came back in the same transaction (an update written as DELETE + INSERT):
        -- the withdrawal its DELETE queued is taken back and the row compared as an update.
        cur := vasscm._take_back_withdrawal(binding_id, source_key, message_type);
        IF cur.id IS NULL THEN
            PERFORM vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, NULL, reason);
            RETURN;
        END IF;
    END IF;
    SELECT o.source_data INTO last_source FROM vasscm.outbox o
     WHERE o.id = cur.id
        OR (o.original_transaction_id = cur.transaction_id AND o.message_type = rule.amend_type AND o.status <> 'cancelled')
     ORDER BY o.id DESC LIMIT 1;
    IF jsonb_strip_nulls(last_source) - info = jsonb_strip_nulls(data) - info THEN
        RETURN;   -- nothing customs holds has changed: a yard move, a re-delivered or reloaded row
    END IF;
    IF cur.status IN ('invalid', 'pending_approval', 'queued') THEN
        -- Not sent yet: the same message, rebuilt; customs only ever sees the corrected one.
        PERFORM vasscm._reprepare(cur.id, data, format('corrected in %s before it was sent', source_table));
        RETURN;
    END IF;
    IF kind = 'gate_in' THEN
        -- A seal that a seal change (24) reported is not a correction: the box arrived with the old seal.
        FOREACH seal IN ARRAY ARRAY['SO_NIEM_PHONG', 'SO_NIEM_PHONG_HQ'] LOOP
            IF data ->> seal IS DISTINCT FROM last_source ->> seal AND EXISTS (
                   SELECT 1 FROM vasscm.outbox c
                    WHERE c.order_key = cur.order_key AND c.message_type = '24' AND c.id > cur.id
                      AND c.status NOT IN ('cancelled', 'invalid', 'rejected')
                      AND c.data ->> 'NIEM_PHONG_MOI' = _capture.data ->> seal) THEN
                data := jsonb_set(data, ARRAY[seal], coalesce(last_source -> seal, 'null'));
            END IF;
        END LOOP;
        IF jsonb_strip_nulls(last_source) - info = jsonb_strip_nulls(data) - info THEN
            RETURN;
        END IF;
        PERFORM vasscm._enqueue(rule.amend_type,
            data || jsonb_build_object('TRANSACTION_ID_GOC', cur.transaction_id, 'LOAI_TIN_GOC', _capture.message_type,
                                       'LY_DO', 'Cập nhật thông tin trong TOS / corrected in the TOS'),
            mode, binding_id, source_table, source_key, data, cur.transaction_id, cur.order_key, reason);
    ELSE
        -- Customs has (or may have: a dead message may have arrived) the pass: ask to cancel it,
        -- then the corrected gate-out.
        PERFORM vasscm._withdraw(cur, mode, 'Điều chỉnh trong TOS (phiếu cân) / corrected in the TOS (weighbridge ticket)',
                                 format('corrected in %s', source_table));
        PERFORM vasscm._enqueue(message_type, data, mode, binding_id, source_table, source_key, data, NULL, cur.order_key, reason);
    END IF;
END
$$;

-- Checks and builds an existing message again (same transaction_id), e.g. after its data was fixed.
CREATE OR REPLACE FUNCTION _reprepare(outbox_id bigint, data jsonb, reason text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o    vasscm.outbox;
    prep jsonb;
    st   text;
BEGIN
    SELECT * INTO o FROM vasscm.outbox WHERE id = outbox_id FOR UPDATE;
    prep := vasscm._prepare(o.message_type, data, o.transaction_id::text);
    st := CASE WHEN NOT (prep ->> 'valid')::boolean THEN 'invalid'
               WHEN o.mode = 'manual' THEN 'pending_approval'
               ELSE 'queued' END;
    PERFORM set_config('vasscm.status_reason',
                       CASE WHEN st = 'invalid' THEN reason || ': ' || vasscm._errors_summary(prep -> 'errors') ELSE reason END, true);
    UPDATE vasscm.outbox
       SET status = st, data = prep -> 'data', message = prep ->> 'message', errors = prep -> 'errors',
           source_data = CASE WHEN o.binding_id IS NOT NULL THEN _reprepare.data ELSE o.source_data END,
           -- a corrected container / B/L / declaration is the key the message is ordered by
           order_key = CASE WHEN o.original_transaction_id IS NULL
                            THEN coalesce(prep -> 'data' ->> 'SO_CONTAINER', prep -> 'data' ->> 'SO_VAN_DON',
                                          prep -> 'data' ->> 'SO_TK', o.order_key)
                            ELSE o.order_key END,
           last_error = CASE WHEN st = 'invalid' THEN vasscm._errors_summary(prep -> 'errors') END,
           attempts = 0, next_attempt_at = now(), updated_at = now()
     WHERE id = outbox_id;
    PERFORM set_config('vasscm.status_reason', '', true);
    RETURN st;
END
$$;

-- The message standing for a TOS row's gate-in or gate-out: the latest of the binding for the
-- row's key that was neither cancelled nor rejected, nor withdrawn by a cancellation (17) or a
-- CANCEL_PASSED still in force.
CREATE FUNCTION _current_event(binding_id int, source_key jsonb, message_type text) RETURNS outbox
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT o.* FROM vasscm.outbox o
     WHERE o.binding_id = _current_event.binding_id AND o.source_key = _current_event.source_key
       AND o.message_type = _current_event.message_type AND o.status NOT IN ('cancelled', 'rejected')
       AND NOT EXISTS (SELECT 1 FROM vasscm.outbox w
                        WHERE w.original_transaction_id = o.transaction_id
                          AND (w.message_type = 'CANCEL_PASSED' OR w.message_type IN (SELECT f.cancel_type FROM vasscm.followup_rule f))
                          AND w.status NOT IN ('cancelled', 'rejected'))
     ORDER BY o.id DESC LIMIT 1
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
        PERFORM vasscm._set_status(x.id, 'cancelled', reason || ': withdrawn before it was sent')
           FROM vasscm.outbox x
          WHERE (x.id = cur.id OR x.original_transaction_id = cur.transaction_id)
            AND x.status IN ('invalid', 'pending_approval', 'queued');
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
CREATE FUNCTION _take_back_withdrawal(binding_id int, source_key jsonb, message_type text) RETURNS outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w   vasscm.outbox;
    cur vasscm.outbox;
BEGIN
    SELECT x.* INTO w FROM vasscm.outbox x
     WHERE x.binding_id = _take_back_withdrawal.binding_id AND x.source_key = _take_back_withdrawal.source_key
       AND (x.message_type = 'CANCEL_PASSED' OR x.message_type IN (SELECT f.cancel_type FROM vasscm.followup_rule f))
       AND x.created_at = now()
       AND x.status IN ('pending_approval', 'queued')
     ORDER BY x.id DESC LIMIT 1;
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

-- A seal change (24) captured after the gate-in row was updated with the new seal, in the same
-- transaction (the TOS's rows arrive in any order): the amendment that update queued only
-- rewrote the seal the box arrived with, so it is withdrawn before anyone sent it.
CREATE FUNCTION _withdraw_seal_amendments(container_no text, new_seal text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a     vasscm.outbox;
    prev  jsonb;
    fixed jsonb;
    info  text[] := vasscm._informational_fields();
    f     text;
BEGIN
    FOR a IN SELECT * FROM vasscm.outbox o
              WHERE o.order_key = container_no AND o.message_type = '16' AND o.created_at = now()
                AND o.status IN ('queued', 'pending_approval') LOOP
        SELECT o.source_data INTO prev FROM vasscm.outbox o
         WHERE o.id < a.id AND (o.transaction_id = a.original_transaction_id
                                OR (o.original_transaction_id = a.original_transaction_id AND o.message_type = '16'
                                    AND o.status <> 'cancelled'))
         ORDER BY o.id DESC LIMIT 1;
        fixed := a.source_data;
        FOREACH f IN ARRAY ARRAY['SO_NIEM_PHONG', 'SO_NIEM_PHONG_HQ'] LOOP
            IF fixed ->> f = new_seal THEN
                fixed := jsonb_set(fixed, ARRAY[f], coalesce(prev -> f, 'null'));
            END IF;
        END LOOP;
        IF jsonb_strip_nulls(fixed) - info = jsonb_strip_nulls(prev) - info THEN
            PERFORM vasscm._set_status(a.id, 'cancelled', 'the seal change (24) reports the new seal; the gate-in stays as the box arrived');
        END IF;
    END LOOP;
END
$$;

ALTER FUNCTION vasscm._capture(int, text, text, text, text, jsonb, jsonb) SECURITY DEFINER;
REVOKE ALL ON FUNCTION vasscm._informational_fields(), vasscm._withdraw_seal_amendments(text, text),
                       vasscm._current_event(int, jsonb, text), vasscm._withdraw(vasscm.outbox, text, text, text),
                       vasscm._take_back_withdrawal(int, jsonb, text) FROM PUBLIC;

-- (Re)creates what a binding runs: vasscm._binding_map_N, which evaluates the DBA's condition,
-- mapping and key expressions with the privileges of `owner` (the role that bound the table:
-- SECURITY DEFINER owned by it), and the trigger function vasscm._binding_N, which runs as the
-- extension owner only to write the outbox. The expressions are compiled against the table
-- first, as `owner` too, so that a typo or an expression the owner may not run fails here.
CREATE FUNCTION _install_binding(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b       vasscm.binding;
    pairs   text;
    keyexpr text := 'NULL::jsonb';
    cond    text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    cond := coalesce(b.condition, 'true');
    SELECT string_agg(format('%L, (%s)', key, value #>> '{}'), ', ' ORDER BY key) INTO pairs FROM jsonb_each(b.mapping);
    IF b.key_columns IS NOT NULL THEN
        keyexpr := format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, _row.%I', c, c), ', ') FROM unnest(b.key_columns) c));
    END IF;

    -- The compile check, run as the owner (a function of the owner's, dropped right after).
    EXECUTE format($c$
CREATE OR REPLACE FUNCTION vasscm._binding_check_%1$s() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    -- NEW and OLD are outer aliases; bare names resolve to _row, the nearer scope.
    PERFORM x.* FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "new",
                     (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "old",
            LATERAL (SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s
                       FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS _row) AS x WHERE false;
END
$body$$c$, b.id, b.source, cond, pairs, keyexpr);
    EXECUTE format('ALTER FUNCTION vasscm._binding_check_%s() OWNER TO %I', b.id, owner);
    BEGIN
        EXECUTE format('SELECT vasscm._binding_check_%s()', b.id);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'vasscm: the binding does not compile against % as %: %', b.source, owner, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'expressions may use the table''s columns, NEW.col and OLD.col (UPDATE), and schema-qualified functions the binding''s owner may run';
    END;
    EXECUTE format('DROP FUNCTION vasscm._binding_check_%s()', b.id);

    EXECUTE format($m$
CREATE OR REPLACE FUNCTION vasscm._binding_map_%1$s("new" %2$s, "old" %2$s, _op text, OUT _ok boolean, OUT _data jsonb, OUT _key jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
#variable_conflict use_column
BEGIN
    IF _op = 'DELETE' THEN
        SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s INTO _ok, _data, _key FROM (SELECT ("old").*) AS _row;
    ELSE
        SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s INTO _ok, _data, _key FROM (SELECT ("new").*) AS _row;
    END IF;
END
$body$$m$, b.id, b.source, cond, pairs, keyexpr);
    EXECUTE format('ALTER FUNCTION vasscm._binding_map_%s(%s, %s, text) OWNER TO %I', b.id, b.source, b.source, owner);
    EXECUTE format('REVOKE ALL ON FUNCTION vasscm._binding_map_%s(%s, %s, text) FROM PUBLIC', b.id, b.source, b.source);
    EXECUTE format('COMMENT ON FUNCTION vasscm._binding_map_%s(%s, %s, text) IS %L', b.id, b.source, b.source,
                   format('vasscm binding %s: the mapping of %s, evaluated as %s (generated by vasscm.bind)', b.id, b.source, owner));

    EXECUTE format($f$
CREATE OR REPLACE FUNCTION vasscm._binding_%1$s() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    _m record;
BEGIN
    BEGIN
        IF TG_OP = 'DELETE' THEN
            _m := vasscm._binding_map_%1$s(NULL, OLD, TG_OP);
        ELSIF TG_OP = 'UPDATE' THEN
            _m := vasscm._binding_map_%1$s(NEW, OLD, TG_OP);
        ELSE
            _m := vasscm._binding_map_%1$s(NEW, NULL, TG_OP);
        END IF;
        IF _m._ok IS TRUE THEN
            PERFORM vasscm._capture(%1$s, %2$L, %3$L, %4$L, TG_OP, _m._data, _m._key);
        ELSIF TG_OP = 'UPDATE' AND %5$L THEN
            PERFORM vasscm._capture(%1$s, %2$L, %3$L, %4$L, 'UNDONE', NULL, _m._key);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        BEGIN
            PERFORM vasscm._capture_failed(%1$s, %2$L, %4$L, TG_OP, SQLSTATE, SQLERRM,
                CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'vasscm: binding %1$s could not record a failed capture: %%', SQLERRM;
        END;
    END;
    RETURN NULL;
END
$body$$f$, b.id, b.message_type, b.mode, b.source::text,
       -- A condition saying that the event happened (not a transition written with OLD) is
       -- false again when the TOS undoes the event.
       b.message_type IN ('14', '15', '21', '22') AND coalesce(b.condition, '') !~* '\mold\s*\.');
    EXECUTE format('COMMENT ON FUNCTION vasscm._binding_%s() IS %L', b.id,
                   format('vasscm binding %s: %s → message %s (generated by vasscm.bind)', b.id, b.source, b.message_type));
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = b.source AND t.tgname = format('vasscm_binding_%s', b.id)) THEN
        EXECUTE format('DROP TRIGGER vasscm_binding_%s ON %s', b.id, b.source);
    END IF;
    EXECUTE format('CREATE TRIGGER vasscm_binding_%s AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION vasscm._binding_%s()',
                   b.id, array_to_string(b.events, ' OR '), b.source, b.id);
    -- Fire for rows applied by logical replication too (session_replication_role = replica).
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER vasscm_binding_%s', b.source, b.id);
END
$install$;

CREATE OR REPLACE FUNCTION bind(source regclass, message_type text, mapping jsonb, events text[] DEFAULT '{INSERT}',
                     condition text DEFAULT NULL, mode text DEFAULT 'auto') RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $bind$
DECLARE
    ev       text[] := (SELECT array_agg(DISTINCT upper(trim(e))) FROM unnest(events) AS e);
    known    text[];
    field    text;
    expr     jsonb;
    keycols  text[];
    b_id     int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.message_types t WHERE t.code = bind.message_type AND t.direction = 'P2C') THEN
        RAISE EXCEPTION 'vasscm: message type % is not a port-to-customs message of the active catalogue', message_type
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT code, name_en FROM vasscm.message_types WHERE direction = ''P2C''';
    END IF;
    IF mode IS NULL OR mode NOT IN ('auto', 'manual') THEN
        RAISE EXCEPTION 'vasscm: mode must be auto or manual, not %', mode USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- bind runs as the extension owner: the caller must be allowed to add triggers to the table.
    IF NOT has_table_privilege(session_user, source, 'TRIGGER') THEN
        RAISE EXCEPTION 'vasscm: % may not create triggers on %', session_user, source
            USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT TRIGGER ON %s TO %I', source, session_user);
    END IF;
    IF ev IS NULL OR NOT ev <@ ARRAY['INSERT', 'UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'vasscm: events must be a non-empty subset of {INSERT,UPDATE,DELETE}, not %', events
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mapping IS NULL OR jsonb_typeof(mapping) <> 'object' OR mapping = '{}' THEN
        RAISE EXCEPTION 'vasscm: mapping must be a JSON object from field name to SQL expression'
            USING ERRCODE = 'invalid_parameter_value', HINT = '{"SO_CONTAINER": "upper(trim(ctr_nbr))", "PHUONG_TIEN": "''XE''"}';
    END IF;
    -- Fields a mapping may name: top-level elements and group paths (LIST_TK/SO_TK, LIST_X/F, LIST_X/ITEM/F).
    SELECT array_agg(p) INTO known FROM (
        SELECT f.path AS p FROM vasscm.catalogue_field f JOIN vasscm.catalogue c ON c.version = f.version AND c.active
         WHERE f.message_code = bind.message_type
        UNION
        SELECT regexp_replace(f.path, '/ITEM/', '/') FROM vasscm.catalogue_field f JOIN vasscm.catalogue c ON c.version = f.version AND c.active
         WHERE f.message_code = bind.message_type) s;
    FOR field, expr IN SELECT key, value FROM jsonb_each(mapping) LOOP
        IF jsonb_typeof(expr) <> 'string' THEN
            RAISE EXCEPTION 'vasscm: the mapping of % must be a SQL expression in a JSON string', field
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT field = ANY (known) THEN
            RAISE EXCEPTION 'vasscm: % is not a field of message %', field, message_type
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('fields: %s', (SELECT string_agg(k, ', ' ORDER BY k) FROM unnest(known) k));
        END IF;
        PERFORM vasscm._check_expression(format('mapping of %s', field), expr #>> '{}');
    END LOOP;
    PERFORM vasscm._check_expression('condition', coalesce(nullif(trim(condition), ''), 'true'));

    SELECT array_agg(a.attname::text ORDER BY k.n) INTO keycols
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indexrelid = (SELECT i2.indexrelid FROM pg_index i2 WHERE i2.indrelid = source
                              AND (i2.indisprimary OR i2.indisreplident) ORDER BY i2.indisprimary DESC LIMIT 1);
    IF keycols IS NULL AND ev && ARRAY['UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'vasscm: table % has no primary key nor replica identity index: updates and deletes cannot be matched to earlier messages', source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO vasscm.binding (source, message_type, mapping, events, condition, mode, key_columns)
    VALUES (source, message_type, mapping, ev, nullif(trim(condition), ''), mode, keycols)
    RETURNING id INTO b_id;
    -- The expressions run as the role that binds (session_user), never as the extension owner.
    PERFORM vasscm._install_binding(b_id, session_user);
    RETURN b_id;
END
$bind$;
COMMENT ON FUNCTION bind(regclass, text, jsonb, text[], text, text) IS
    'Binds a (replicated) TOS table to a message type: each matching row change becomes an outbox message.';

CREATE OR REPLACE FUNCTION unbind(binding_id int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b vasscm.binding;
BEGIN
    SELECT * INTO b FROM vasscm.binding WHERE id = binding_id AND active FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no active binding %', binding_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT id, source, message_type FROM vasscm.binding WHERE active';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS vasscm_binding_%s ON %s', b.id, b.source);
    EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_%s()', b.id);
    EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source);
    UPDATE vasscm.binding SET active = false, unbound_at = now() WHERE id = b.id;
END
$$;

REVOKE ALL ON FUNCTION vasscm._install_binding(int, name) FROM PUBLIC;
-- CREATE OR REPLACE resets SECURITY DEFINER; the privileges are kept.
ALTER FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.unbind(int) SECURITY DEFINER;

-- Existing bindings: regenerated so that their expressions run as the role that created them
-- (or, when that role no longer exists, as the owner of the bound table). A binding whose
-- expressions that role may not run is unbound, with a warning: it read what its creator
-- could not.
DO $regenerate$
DECLARE
    b     vasscm.binding;
    owner name;
BEGIN
    FOR b IN SELECT * FROM vasscm.binding WHERE active ORDER BY id LOOP
        owner := coalesce((SELECT r.rolname FROM pg_roles r WHERE r.rolname = b.created_by),
                          (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = b.source));
        BEGIN
            -- Made anew (a function made by bind is not a member of the extension, so it cannot be
            -- replaced from this script), then left out of the extension as bind leaves it.
            EXECUTE format('DROP TRIGGER IF EXISTS vasscm_binding_%s ON %s', b.id, b.source);
            EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_%s()', b.id);
            PERFORM vasscm._install_binding(b.id, owner);
            EXECUTE format('ALTER EXTENSION vasscm DROP FUNCTION vasscm._binding_%s()', b.id);
            EXECUTE format('ALTER EXTENSION vasscm DROP FUNCTION vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'vasscm: binding % (%) is unbound: its expressions cannot run as %: %', b.id, b.source, owner, SQLERRM;
            EXECUTE format('DROP TRIGGER IF EXISTS vasscm_binding_%s ON %s', b.id, b.source);
            EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_%s()', b.id);
            UPDATE vasscm.binding SET active = false, unbound_at = now() WHERE id = b.id;
        END;
    END LOOP;
END
$regenerate$;
