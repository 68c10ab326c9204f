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
-- 4. Incidents (article 52đ): incident state, paper lists honoured by the gate, the 5-year
--    record (retention at least 60 months), form 13 in the catalogue (reloaded).
-- 5. Camera reads: OCR correction of container numbers (container_read_candidates,
--    correct_container_read).
-- 3. Bindings: the DBA's expressions run with the privileges of the role that bound the table
--    (a mapping function owned by it), never as the extension owner; existing bindings are
--    regenerated that way, owned by the role that created them.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.3.0'" to load this file. \quit


-- 1. Customs' messages ----------------------------------------------------------------------
DROP FUNCTION vasscm.record_reply(uuid, text, int);
DROP FUNCTION vasscm.record_refused(text, text);
DROP FUNCTION vasscm.receive(text);

-- vasscm::settings::_customs_sender_codes
CREATE  FUNCTION "_customs_sender_codes"() RETURNS TEXT /* String */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_customs_sender_codes_wrapper';
REVOKE ALL ON FUNCTION vasscm._customs_sender_codes() FROM PUBLIC;

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
                 SELECT trim(c) FROM unnest(string_to_array(vasscm._customs_sender_codes(), ',')) c) THEN
            format('Sender_Code %s is not customs (vasscm.customs_sender_code = %s)', coalesce(header ->> 'Sender_Code', 'missing'),
                   vasscm._customs_sender_codes())
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
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
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
-- (Two plain index lookups, planned for the values at hand (force_custom_plan): a generic plan
-- cached while the outbox grows within one large transaction can turn into a scan of the whole
-- outbox per row.)
CREATE FUNCTION _current_event(binding_id int, source_key jsonb, message_type text) RETURNS outbox
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
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
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan AS $$
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

-- set_setting: audit_retention_months is checked by its trigger alone (at least 60).
CREATE OR REPLACE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    IF name = 'vessel_visit_source' AND value IS NOT NULL THEN
        rel := to_regclass(value);   -- resolved here with search_path = pg_catalog: schema-qualify
        IF rel IS NULL THEN
            RAISE EXCEPTION 'vasscm: relation "%" does not exist', value USING ERRCODE = 'undefined_table',
                  HINT = 'Give the schema-qualified name, e.g. public.tos_vessel_visit.';
        END IF;
        IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
            RAISE EXCEPTION 'vasscm: % may not read %', session_user, rel USING ERRCODE = 'insufficient_privilege';
        END IF;
        value := rel::text;
    ELSIF value IS NOT NULL AND name IN ('vessel_match_window_hours', 'stuck_after_minutes', 'deadline_window_days', 'gate_out_deadline_import_minutes',
                                        'gate_out_deadline_export_minutes', 'list_lead_hours', 'scan_list_lead_hours')
          AND value !~ '^[0-9]+$' THEN
        RAISE EXCEPTION 'vasscm: setting % must be a whole number, not "%"', name, value USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vasscm.setting s SET value = set_setting.value WHERE s.name = set_setting.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: unknown setting "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT name, description FROM vasscm.setting lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION set_setting(text, text) IS 'Admin: changes a vasscm setting (see vasscm.setting).';

ALTER FUNCTION vasscm.set_setting(text, text) SECURITY DEFINER;

-- ==== Incidents (article 52đ), issue 13 ==========================================================
-- 5 years of audit: retention default and minimum 60 months (sql/audit.sql).
UPDATE vasscm.setting
   SET value = CASE WHEN value ~ '^[0-9]{1,6}$' AND value::int >= 60 THEN value ELSE '60' END,
       description = 'Monthly audit partitions (message_log, outbox_history) are kept this many months (at least 60: article 52đ keeps exchanged data 5 years)'
 WHERE name = 'audit_retention_months';
-- Retention is never shorter than 5 years (article 52đ).
CREATE FUNCTION _audit_retention_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.value IS NULL OR NEW.value !~ '^[0-9]{1,6}$' OR NEW.value::int < 60 THEN
        RAISE EXCEPTION 'vasscm: audit_retention_months must be at least 60 (article 52đ: exchanged data is kept 5 years), not "%"', coalesce(NEW.value, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER setting_audit_retention_check BEFORE UPDATE ON setting
    FOR EACH ROW WHEN (NEW.name = 'audit_retention_months') EXECUTE FUNCTION _audit_retention_check();

-- Job: makes the monthly partitions of this month, the next two and any month with rows waiting
-- in the default partition (moving those rows), and drops the months past the retention after
-- recording where the chain continues. Returns one row per action.
CREATE OR REPLACE FUNCTION maintain_partitions() RETURNS TABLE (table_name text, action text, partition text, rows bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    t      text;
    m      date;
    part   text;
    keep   int := greatest(coalesce(vasscm._setting_value('audit_retention_months'), '60')::int, 60);
    n      bigint;
    p      record;
    last   record;
BEGIN
    FOREACH t IN ARRAY ARRAY['message_log', 'outbox_history'] LOOP
        table_name := t;
        -- this month, the next two, and every month that has rows waiting in the default partition
        FOR m IN SELECT generate_series(date_trunc('month', now())::date, (date_trunc('month', now()) + interval '2 months')::date, interval '1 month')::date
                 UNION
                 SELECT * FROM vasscm._default_months(t)
                 ORDER BY 1 LOOP
            part := format('%s_y%s', t, to_char(m, 'YYYY"m"MM'));
            CONTINUE WHEN to_regclass(format('vasscm.%I', part)) IS NOT NULL;
            EXECUTE format('SELECT count(*) FROM vasscm.%I WHERE at >= $1 AND at < $2', t || '_default') INTO n
              USING m::timestamptz, (m + interval '1 month')::timestamptz;
            IF n > 0 THEN   -- rows of that month wait in the default partition: set them aside
                IF to_regclass('pg_temp.vasscm_moving_rows') IS NULL THEN
                    CREATE TEMP TABLE vasscm_moving_rows (row jsonb) ON COMMIT DROP;
                END IF;
                TRUNCATE vasscm_moving_rows;
                PERFORM set_config('vasscm.audit_maintenance', 'on', true);
                EXECUTE format('WITH moved AS (DELETE FROM vasscm.%I x WHERE at >= $1 AND at < $2 RETURNING x.*)
                                INSERT INTO vasscm_moving_rows SELECT to_jsonb(m) FROM moved m', t || '_default')
                  USING m::timestamptz, (m + interval '1 month')::timestamptz;
                PERFORM set_config('vasscm.audit_maintenance', '', true);
            END IF;
            EXECUTE format('CREATE TABLE vasscm.%I PARTITION OF vasscm.%I FOR VALUES FROM (%L) TO (%L)',
                           part, t, m::timestamptz, (m + interval '1 month')::timestamptz);
            IF n > 0 THEN   -- back through the parent, unchanged (ids, times, chain columns)
                EXECUTE format('INSERT INTO vasscm.%I SELECT (jsonb_populate_record(NULL::vasscm.%I, row)).* FROM vasscm_moving_rows', t, t);
            END IF;
            action := 'created'; partition := part; rows := n;
            RETURN NEXT;
        END LOOP;
        FOR p IN SELECT * FROM vasscm._audit_partitions(t) x
                  WHERE x.month < (date_trunc('month', now()) - make_interval(months => keep))::date ORDER BY x.month LOOP
            PERFORM vasscm._seal(t);
            EXECUTE format('SELECT max(chain_seq) AS seq, count(*) AS n FROM vasscm.%I', p.partition) INTO last;
            IF last.seq IS NOT NULL THEN
                EXECUTE format('INSERT INTO vasscm.audit_anchor (table_name, up_to_seq, last_hash, partition, rows)
                                SELECT $1, x.chain_seq, x.row_hash, $2, $3 FROM vasscm.%I x WHERE x.chain_seq = $4', p.partition)
                  USING t, p.partition, last.n, last.seq;
            END IF;
            EXECUTE format('DROP TABLE vasscm.%I', p.partition);
            action := 'dropped'; partition := p.partition; rows := last.n;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION maintain_partitions() IS
    'Job: creates the monthly audit partitions ahead and drops those older than audit_retention_months (at least 60), keeping the chain anchor.';
ALTER FUNCTION vasscm.maintain_partitions() SECURITY DEFINER;   -- CREATE OR REPLACE reset it (sql/roles.sql)

-- Gate-out decisions honour the paper lists of an open incident (sql/gate.sql).
CREATE OR REPLACE FUNCTION gate_out_check(container_no text, carrier_seal text, customs_seal text, declarations text[] DEFAULT NULL)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont    text := vasscm.normalize_container_no(coalesce(container_no, ''));
    given   text[] := (SELECT array_agg(DISTINCT vasscm._norm(x)) FROM unnest(declarations) AS x WHERE vasscm._norm(x) IS NOT NULL);
    why     text[] := '{}';
    r       record;
    dno     text;
    want    text;
    covered int := 0;
    -- reasons that only say customs' electronic eligibility is missing: a paper list of the open
    -- incident (form 36) covering the container excuses them; not_in_* only a list line naming
    -- this container with that declaration
    missing     text[] := '{}';
    not_in_dno  text[] := '{}';
    not_in_why  text[] := '{}';
    by_paper    boolean := false;
    i           int;
BEGIN
    IF NOT vasscm.is_valid_container_no(cont) THEN
        RETURN QUERY SELECT false, ARRAY[format('Số container "%s" không hợp lệ (ISO 6346) / "%s" is not a valid container number (ISO 6346)',
                                                coalesce(container_no, ''), coalesce(container_no, ''))];
        RETURN;
    END IF;
    -- Declarations the clerk gave that do not cover this container.
    FOREACH dno IN ARRAY coalesce(given, '{}') LOOP
        IF NOT EXISTS (SELECT 1 FROM vasscm.declaration d WHERE d.declaration_no = dno AND d.eligible_at IS NOT NULL) THEN
            missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
        ELSIF NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.declaration_no = dno AND dc.container_no = cont AND dc.listed) THEN
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno);
        END IF;
    END LOOP;
    FOR r IN SELECT dc.*, d.status, d.status_reason, d.cargo_flow, d.eligible_at
               FROM vasscm.declaration_container dc JOIN vasscm.declaration d USING (declaration_no)
              WHERE dc.container_no = cont AND dc.listed AND d.eligible_at IS NOT NULL
              ORDER BY dc.declaration_no LOOP
        IF given IS NOT NULL AND NOT r.declaration_no = ANY (given) THEN
            IF r.cargo_flow = 'XUAT' THEN
                why := why || format('Container xuất khẩu còn thuộc tờ khai %s nhưng tờ khai này không được khai báo / export container: declaration %s must also be given',
                                     r.declaration_no, r.declaration_no);
            END IF;
            CONTINUE;
        END IF;
        IF given IS NULL AND r.cargo_flow = 'XUAT' THEN
            why := why || format('Container xuất khẩu: phải khai báo đủ các tờ khai, thiếu tờ khai %s / export container: every declaration must be given, %s is missing',
                                 r.declaration_no, r.declaration_no);
        END IF;
        covered := covered + 1;
        IF r.status = 'suspended' THEN
            why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', r.declaration_no,
                                 coalesce(': ' || r.status_reason, ''), r.declaration_no, coalesce(': ' || r.status_reason, ''));
        ELSIF r.status = 'cancelled' THEN
            why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', r.declaration_no, r.declaration_no);
        END IF;
        want := vasscm._expected_seal(cont, 'HANG_TAU', r.carrier_seal, r.set_at);
        IF want IS NOT NULL AND want IS DISTINCT FROM vasscm._norm(carrier_seal) THEN
            why := why || format('Niêm phong hãng tàu %s không khớp dữ liệu hải quan (%s) / carrier seal %s does not match customs data (%s)',
                                 coalesce(vasscm._norm(carrier_seal), 'trống'), want, coalesce(vasscm._norm(carrier_seal), 'none'), want);
        END IF;
        want := vasscm._expected_seal(cont, 'HAI_QUAN', r.customs_seal, r.set_at);
        IF want IS NOT NULL AND want IS DISTINCT FROM vasscm._norm(customs_seal) THEN
            why := why || format('Niêm phong hải quan %s không khớp dữ liệu hải quan (%s) / customs seal %s does not match customs data (%s)',
                                 coalesce(vasscm._norm(customs_seal), 'trống'), want, coalesce(vasscm._norm(customs_seal), 'none'), want);
        END IF;
        IF vasscm._gone(cont, r.declaration_no) THEN
            why := why || format('Container %s đã ra khỏi khu vực giám sát theo tờ khai %s (mẫu 21 đã gửi) / container %s already left under declaration %s (form 21 sent)',
                                 cont, r.declaration_no, cont, r.declaration_no);
        END IF;
    END LOOP;
    IF covered = 0 AND (given IS NULL OR cardinality(why) + cardinality(missing) + cardinality(not_in_dno) = 0) THEN
        missing := missing || format('Container %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container %s', cont, cont);
    END IF;
    IF cardinality(missing) + cardinality(not_in_dno) > 0 THEN   -- an incident's paper list (only then looked up)
        FOR i IN 1 .. cardinality(not_in_dno) LOOP
            IF EXISTS (SELECT 1 FROM vasscm._paper_cover(cont, given) c WHERE c.container_no = cont AND c.declaration_no = not_in_dno[i]) THEN
                by_paper := true;
            ELSE
                why := why || not_in_why[i];
            END IF;
        END LOOP;
        IF cardinality(missing) > 0 THEN
            IF EXISTS (SELECT 1 FROM vasscm._paper_cover(cont, given)) THEN
                by_paper := true;
            ELSE
                why := why || missing;
            END IF;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = cont
                  AND NOT EXISTS (SELECT 1 FROM vasscm.scan_record x WHERE x.container_no = cont AND x.scanned_at >= s.selected_at - interval '1 day')) THEN
        why := why || format('Container %s phải soi chiếu (mẫu 03) nhưng chưa soi / container %s was selected for scanning (form 03) and has not been scanned', cont, cont);
    END IF;
    IF by_paper AND vasscm._gone_in_incident(cont) THEN
        why := why || format('Container %s đã ra khỏi khu vực giám sát trong thời gian sự cố (mẫu 21 đã lập) / container %s already left during the incident (form 21 recorded)',
                             cont, cont);
    END IF;
    IF by_paper AND cardinality(why) = 0 THEN
        RETURN QUERY SELECT true, ARRAY[(SELECT c.note FROM vasscm._paper_cover(cont, given) c LIMIT 1)];
        RETURN;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, (SELECT coalesce(array_agg(DISTINCT w), '{}') FROM unnest(why) AS w);
END
$$;
COMMENT ON FUNCTION gate_out_check(text, text, text, text[]) IS
    'Gate: may this container leave the supervision zone? (allowed, reasons in Vietnamese / English; during an incident, the paper list that allowed it).';

CREATE OR REPLACE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dno text := vasscm._norm(declaration_no);
    bl  text := vasscm._norm(bl_no);
    d   vasscm.declaration;
    b   vasscm.declaration_bulk;
    o   record;
    why text[] := '{}';
    n   int;
BEGIN
    IF quantity < 0 OR weight_kg < 0 OR volume_m3 < 0 THEN
        RETURN QUERY SELECT false, ARRAY['Số lượng, trọng lượng, thể tích không được âm / quantity, weight and volume cannot be negative'];
        RETURN;
    END IF;
    SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
    IF NOT FOUND OR d.eligible_at IS NULL THEN
        -- no electronic eligibility: an incident's paper list (form 36) may cover it
        RETURN QUERY SELECT * FROM vasscm._paper_bulk(dno, bl, quantity, weight_kg, volume_m3, false);
        IF FOUND THEN
            RETURN;
        END IF;
        RETURN QUERY SELECT false, ARRAY[format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 05) / declaration %s has no eligibility message (form 05)',
                                                coalesce(dno, 'trống'), coalesce(dno, 'none'))];
        RETURN;
    END IF;
    IF bl IS NULL THEN
        SELECT count(*) INTO n FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno;
        IF n = 1 THEN
            SELECT x.bl_no INTO bl FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno;
        END IF;
    END IF;
    SELECT * INTO b FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno AND x.bl_no = bl;
    IF NOT FOUND AND bl IS NOT NULL THEN
        -- customs' electronic data has the declaration without this B/L: a paper list line naming both may cover it
        RETURN QUERY SELECT * FROM vasscm._paper_bulk(dno, bl, quantity, weight_kg, volume_m3, true);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF b.declaration_no IS NULL THEN
        why := why || CASE WHEN bl IS NULL
            THEN format('Tờ khai %s có nhiều vận đơn: phải ghi số vận đơn / declaration %s covers several B/Ls: give the B/L number', dno, dno)
            ELSE format('Vận đơn %s không thuộc tờ khai %s (mẫu 05) / B/L %s is not in declaration %s (form 05)', bl, dno, bl, dno) END;
    END IF;
    IF d.status = 'suspended' THEN
        why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', dno,
                             coalesce(': ' || d.status_reason, ''), dno, coalesce(': ' || d.status_reason, ''));
    ELSIF d.status = 'cancelled' THEN
        why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', dno, dno);
    END IF;
    IF b.declaration_no IS NOT NULL THEN
        SELECT coalesce(sum(g.quantity), 0) AS q, coalesce(sum(g.weight_kg), 0) AS w, coalesce(sum(g.volume_m3), 0) AS v INTO o
          FROM vasscm.gate_outs g WHERE g.message_type = '22' AND g.bl_no = b.bl_no AND dno = ANY (g.declarations);
        IF b.quantity IS NOT NULL AND quantity IS NOT NULL AND o.q + quantity > b.quantity THEN
            why := why || format('Số lượng vượt khai báo: đã ra %s + lần này %s > khai báo %s %s / quantity above declared: %s out + %s now > %s %s declared',
                                 vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''),
                                 vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''));
        END IF;
        IF b.weight_kg IS NOT NULL AND weight_kg IS NOT NULL AND o.w + weight_kg > b.weight_kg THEN
            why := why || format('Trọng lượng vượt khai báo: đã ra %s kg + lần này %s kg > khai báo %s kg / heavier than declared: %s kg out + %s kg now > %s kg declared',
                                 vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg),
                                 vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg));
        END IF;
        IF b.volume_m3 IS NOT NULL AND volume_m3 IS NOT NULL AND o.v + volume_m3 > b.volume_m3 THEN
            why := why || format('Thể tích vượt khai báo: đã ra %s m3 + lần này %s m3 > khai báo %s m3 / volume above declared: %s m3 out + %s m3 now > %s m3 declared',
                                 vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3),
                                 vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3));
        END IF;
        IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
            why := why || 'Phải ghi số lượng, trọng lượng hoặc thể tích lần này / give the quantity, weight or volume leaving now'::text;
        END IF;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, why;
END
$$;
COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric) IS
    'Gate: may this truck / barge / pump-out of bulk leave? Cumulative quantity, weight and volume stay within the declared ones (lighter passes); during an incident, within a paper list''s.';

-- sql/incident.sql, verbatim:
-- Incident mode (article 52đ): what the port does while its system and customs' cannot
-- exchange data.
--
-- * An incident is a row of vasscm.incident. vasscm.watch_incidents() (a job, every minute)
--   opens one when customs has been unreachable or failing for incident_open_after_seconds —
--   read from what the worker records: send errors and bad replies in vasscm.message_log with
--   no customs reply since, or messages waiting with no reply at all — and closes it when
--   customs answers again. An operator may open (open_incident) and close (close_incident) one
--   too. Everything done about an incident is in vasscm.incident_event.
-- * Customs must be told within 1 hour (incident_notify_seconds): vasscm.deadlines lists the
--   obligation from the moment the incident is open until the operator records how and when
--   customs was notified (record_incident_notification).
-- * Paper lists (form 36): the goods customs confirms on paper during the incident, recorded by
--   an operator with the officer's name and the document's reference (record_paper_list). While
--   the incident is open, gate_out_check / gate_out_check_bulk allow what a list covers when the
--   electronic clearance (04 / 05) is missing; nothing else is loosened. Once it is closed, the
--   lists stop applying: customs' electronic messages decide again.
-- * Gate-outs (21 / 22) whose time falls in an incident are listed by vasscm.incident_gate_outs;
--   each one covered by a paper list is tied to it (vasscm.incident_gate_out). They wait in the
--   outbox like everything else and go out in order when customs is back; closing the incident
--   releases the backlog at once (retries no longer wait for their back-off).
-- * vasscm.incident_log(id) prints the incident log (form 35 content) in Vietnamese.

INSERT INTO setting VALUES
    ('incident_open_after_seconds', '300', 'An incident (article 52đ) opens automatically when customs has been unreachable or failing, or has answered nothing while messages wait, for this many seconds'),
    ('incident_notify_seconds', '3600', 'Customs must be notified of an incident within this many seconds of its start (article 52đ: 1 hour)');

-- Incident settings are whole numbers of seconds, at least 1.
CREATE FUNCTION _incident_setting_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.value IS NULL OR NEW.value !~ '^[0-9]{1,9}$' OR NEW.value::int < 1 THEN
        RAISE EXCEPTION 'vasscm: setting % must be a whole number of seconds, at least 1, not "%"', NEW.name, coalesce(NEW.value, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE NEW.name WHEN 'incident_notify_seconds' THEN 'Article 52đ: 3600 (1 hour).'
                                       ELSE 'For example 300 (5 minutes of failures before an incident opens).' END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER setting_incident_check BEFORE UPDATE ON setting
    FOR EACH ROW WHEN (NEW.name IN ('incident_open_after_seconds', 'incident_notify_seconds'))
    EXECUTE FUNCTION _incident_setting_check();

CREATE TABLE incident (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid              uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    began_at         timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    opened_by        text NOT NULL DEFAULT session_user,
    detection        text NOT NULL CHECK (detection IN ('automatic', 'operator')),
    cause            text NOT NULL,
    auto_close       boolean NOT NULL DEFAULT true,
    notified_at      timestamptz,
    notified_how     text,
    notified_officer text,
    notified_by      text,
    closed_at        timestamptz,
    closed_by        text,
    close_reason     text,
    summary          jsonb,
    CHECK (began_at <= opened_at),
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE UNIQUE INDEX incident_one_open ON incident ((true)) WHERE closed_at IS NULL;
COMMENT ON TABLE incident IS 'Incidents (article 52đ): the port and customs could not exchange data from began_at to closed_at. uid is the incident''s key in vasscm.deadlines.';
COMMENT ON COLUMN incident.began_at IS 'When exchanges stopped (the first message queued and not answered, or the first failure, since customs last answered), or as the operator said.';
COMMENT ON COLUMN incident.auto_close IS 'Closed by vasscm.watch_incidents() as soon as customs answers again.';
COMMENT ON COLUMN incident.summary IS 'At closing: messages held during the incident, sent, accepted, rejected, still waiting; gate-outs and those released against paper lists.';

CREATE TABLE incident_event (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incident,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL DEFAULT session_user,
    event       text NOT NULL CHECK (event IN ('opened', 'notified', 'paper_list', 'closed')),
    detail      text NOT NULL
);
CREATE INDEX incident_event_by_incident ON incident_event (incident_id, id);
COMMENT ON TABLE incident_event IS 'Who did what about an incident, and when (opened, customs notified, paper lists, closed).';

-- Paper lists (form 36): goods customs confirmed on paper during an incident.
CREATE TABLE paper_list (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incident,
    reference    text NOT NULL,
    officer      text NOT NULL,
    confirmed_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL DEFAULT session_user,
    UNIQUE (incident_id, reference)
);
COMMENT ON TABLE paper_list IS 'Lists of goods customs confirmed on paper during an incident (form 36): the document''s reference, the officer, when.';

CREATE TABLE paper_list_item (
    paper_list_id  bigint NOT NULL REFERENCES paper_list,
    item_no        int NOT NULL,
    container_no   text,
    declaration_no text,
    bl_no          text,
    quantity       numeric CHECK (quantity >= 0),
    weight_kg      numeric CHECK (weight_kg >= 0),
    volume_m3      numeric CHECK (volume_m3 >= 0),
    PRIMARY KEY (paper_list_id, item_no),
    CHECK (container_no IS NOT NULL OR declaration_no IS NOT NULL OR bl_no IS NOT NULL)
);
CREATE INDEX paper_list_item_by_container ON paper_list_item (container_no) WHERE container_no IS NOT NULL;
CREATE INDEX paper_list_item_by_declaration ON paper_list_item (declaration_no) WHERE declaration_no IS NOT NULL;
CREATE INDEX paper_list_item_by_bl ON paper_list_item (bl_no) WHERE bl_no IS NOT NULL;
COMMENT ON TABLE paper_list_item IS 'A line of a paper list: a container, a declaration or a B/L (or a combination), with the quantity, weight or volume allowed to pass (bulk).';

-- Which paper list line each gate-out made during an incident was released against.
CREATE TABLE incident_gate_out (
    outbox_id      bigint PRIMARY KEY REFERENCES outbox,
    transaction_id uuid NOT NULL,
    incident_id    bigint NOT NULL REFERENCES incident,
    paper_list_id  bigint NOT NULL,
    item_no        int NOT NULL,
    linked_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (paper_list_id, item_no) REFERENCES paper_list_item
);
CREATE INDEX incident_gate_out_by_item ON incident_gate_out (paper_list_id, item_no);
COMMENT ON TABLE incident_gate_out IS 'Gate-outs (21 / 22) made during an incident and the paper list line (form 36) that covered them.';

-- Backups: incidents are kept by pg_dump like the rest of vasscm's data.
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['incident', 'incident_event', 'paper_list', 'paper_list_item', 'incident_gate_out',
                             'incident_id_seq', 'incident_event_id_seq', 'paper_list_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('vasscm.%I', t)::regclass, '');
    END LOOP;
END
$dump$;

-- A time as the port reads it: Vietnam time, DD/MM/YYYY HH24:MI:SS.
CREATE FUNCTION _vn_time(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'DD/MM/YYYY HH24:MI:SS')
$$;

-- The open incident, if any (at most one).
CREATE FUNCTION _open_incident() RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.id FROM vasscm.incident i WHERE i.closed_at IS NULL
$$;

-- Records an event of an incident: event (opened, notified, paper_list, closed), detail (the
-- text of the log), actor (default: the session user).
CREATE FUNCTION _incident_event(incident_id bigint, event text, detail text, actor text DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.incident_event (incident_id, event, detail, actor)
    VALUES (incident_id, event, detail, coalesce(actor, session_user::text));
$$;

-- An incident by id, or a clear error.
CREATE FUNCTION _incident(incident_id bigint) RETURNS incident
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident;
BEGIN
    SELECT * INTO i FROM vasscm.incident x WHERE x.id = incident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no incident %', coalesce(incident_id::text, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT id, began_at, closed_at, cause FROM vasscm.incident ORDER BY id DESC;';
    END IF;
    RETURN i;
END
$$;

-- Opens an incident by hand (customs phoned that its system is down, the line to customs is
-- cut...). Parameters: cause (free text, for the log), began_at (when exchanges stopped,
-- default now), auto_close (false: only an operator closes it, even if customs answers).
-- Returns the incident id; refused while another incident is open.
CREATE FUNCTION open_incident(cause text, began_at timestamptz DEFAULT now(), auto_close boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cur bigint := vasscm._open_incident();
    id  bigint;
BEGIN
    IF cur IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: incident % is already open', cur
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Record on it, or close it first: SELECT vasscm.close_incident(id, reason);';
    END IF;
    IF nullif(btrim(cause), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: an incident needs its cause' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Hệ thống VASSCM không tiếp nhận thông điệp / VASSCM not accepting messages''.';
    END IF;
    IF began_at IS NULL OR began_at > now() THEN
        RAISE EXCEPTION 'vasscm: the incident cannot begin in the future (%)', began_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.incident (began_at, detection, cause, auto_close) VALUES (began_at, 'operator', btrim(cause), auto_close)
    RETURNING incident.id INTO id;
    PERFORM vasscm._incident_event(id, 'opened', format('Mở sự cố (người vận hành), bắt đầu lúc %s: %s%s / incident opened by an operator, began %s',
                                                         vasscm._vn_time(began_at), btrim(cause),
                                                         CASE WHEN auto_close THEN '' ELSE ' (chỉ đóng thủ công / closed by hand only)' END,
                                                         vasscm._vn_time(began_at)));
    PERFORM vasscm._incident_relink(id);
    PERFORM pg_notify('vasscm_incident', format('opened %s', id));
    RETURN id;
END
$$;
COMMENT ON FUNCTION open_incident(text, timestamptz, boolean) IS
    'Operator: opens an incident (article 52đ) by hand; returns its id.';

-- What happened to the messages of an incident: held (every message that waited to be sent
-- while it lasted: queued or retried between began_at and its end), and of those, how many
-- customs has answered (sent = accepted + rejected), how many still wait or gave up; the
-- gate-outs made during it and how many were released against a paper list.
CREATE FUNCTION incident_summary(incident_id bigint)
RETURNS TABLE (held bigint, sent bigint, accepted bigint, rejected bigint, waiting bigint, dead bigint,
               gate_outs bigint, gate_outs_on_paper bigint, gate_outs_accepted bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH i AS (SELECT x.* FROM vasscm.incident x WHERE x.id = incident_summary.incident_id),
    m AS (
        SELECT o.status FROM vasscm.outbox o
         WHERE o.id IN (SELECT h.outbox_id FROM vasscm.outbox_history h, i
                         WHERE h.at >= i.began_at AND h.at < coalesce(i.closed_at, 'infinity')
                           AND h.to_status IN ('queued', 'sending'))),
    g AS (SELECT * FROM vasscm.incident_gate_outs x WHERE x.incident_id = incident_summary.incident_id)
    SELECT (SELECT count(*) FROM m),
           (SELECT count(*) FROM m WHERE m.status IN ('accepted', 'rejected')),
           (SELECT count(*) FROM m WHERE m.status = 'accepted'),
           (SELECT count(*) FROM m WHERE m.status = 'rejected'),
           (SELECT count(*) FROM m WHERE m.status IN ('queued', 'sending', 'sent', 'pending_approval')),
           (SELECT count(*) FROM m WHERE m.status = 'dead'),
           (SELECT count(*) FROM g),
           (SELECT count(*) FROM g WHERE g.paper_list_id IS NOT NULL),
           (SELECT count(*) FROM g WHERE g.status = 'accepted')
$$;
COMMENT ON FUNCTION incident_summary(bigint) IS
    'Messages held during an incident, sent (accepted, rejected), still waiting, dead; gate-outs made during it and those released against paper lists.';

-- Closes an incident: the summary is kept, paper lists stop applying, and the messages waiting
-- for a retry are released at once (customs answers again).
CREATE FUNCTION _close_incident(incident_id bigint, reason text, actor text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s jsonb;
    n bigint;
BEGIN
    UPDATE vasscm.incident i SET closed_at = now(), closed_by = actor, close_reason = reason
     WHERE i.id = incident_id AND i.closed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: incident % is not open', incident_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM vasscm._incident_relink(incident_id);   -- gate-outs after the end are no longer tied to its lists
    SELECT to_jsonb(x) INTO s FROM vasscm.incident_summary(incident_id) x;
    UPDATE vasscm.incident i SET summary = s WHERE i.id = incident_id;
    -- the backlog goes out now, in order (vasscm.claim keeps the order per container / B/L)
    UPDATE vasscm.outbox o SET next_attempt_at = now() WHERE o.status = 'queued' AND o.next_attempt_at > now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_notify('vasscm_outbox', 'incident closed');
    PERFORM vasscm._incident_event(incident_id, 'closed',
        format('Đóng sự cố: %s. Thông điệp lưu giữ %s, đã gửi %s (chấp nhận %s, từ chối %s), đang chờ %s; %s lượt ra cổng, %s theo danh sách giấy / closed: %s. Messages held %s, sent %s (accepted %s, rejected %s), waiting %s; %s gate-outs, %s against paper lists; %s retries released',
               reason, s ->> 'held', s ->> 'sent', s ->> 'accepted', s ->> 'rejected', s ->> 'waiting', s ->> 'gate_outs', s ->> 'gate_outs_on_paper',
               reason, s ->> 'held', s ->> 'sent', s ->> 'accepted', s ->> 'rejected', s ->> 'waiting', s ->> 'gate_outs', s ->> 'gate_outs_on_paper', n),
        actor);
    PERFORM pg_notify('vasscm_incident', format('closed %s', incident_id));
END
$$;

-- Closes an incident by hand. Parameters: incident_id, reason (for the log).
CREATE FUNCTION close_incident(incident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
BEGIN
    IF i.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: incident % was already closed at %', incident_id, vasscm._vn_time(i.closed_at)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF nullif(btrim(reason), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: give the reason for closing incident %', incident_id USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Hệ thống hải quan đã khôi phục / customs system restored''.';
    END IF;
    PERFORM vasscm._close_incident(incident_id, btrim(reason), session_user);
END
$$;
COMMENT ON FUNCTION close_incident(bigint, text) IS 'Operator: closes an incident with its reason; paper lists stop applying, waiting messages go out at once.';

-- Job: opens an incident when customs has been unreachable or failing for
-- incident_open_after_seconds (send errors or bad replies and no customs reply since the first
-- of them; or messages waiting and no customs reply at all) — it began when the first message
-- that could not go was queued (or at the first failure) —, and closes the open incident
-- (unless auto_close is off) once customs replied after it was opened and its latest reply
-- is newer than every failure. Failures before the last closing never reopen an incident.
-- Returns what it did: 'opened N', 'closed N', 'open N' or 'none'.
CREATE FUNCTION watch_incidents() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    after_s    int := coalesce(vasscm._setting_value('incident_open_after_seconds'), '300')::int;
    cur        vasscm.incident;
    last_ok    timestamptz;
    last_fail  timestamptz;
    first_fail timestamptz;
    fails      bigint;
    last_err   text;
    oldest     timestamptz;
    first_held timestamptz;
    waiting    bigint;
    since      timestamptz;
    began      timestamptz;
    cause      text;
    id         bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vasscm.watch_incidents'));
    SELECT l.at INTO last_ok FROM vasscm.message_log l WHERE l.kind = 'reply' ORDER BY l.at DESC LIMIT 1;
    SELECT * INTO cur FROM vasscm.incident i WHERE i.closed_at IS NULL;
    IF FOUND THEN
        IF cur.auto_close AND last_ok > cur.opened_at THEN
            SELECT l.at INTO last_fail FROM vasscm.message_log l
             WHERE l.kind IN ('send_error', 'bad_reply') ORDER BY l.at DESC LIMIT 1;
            IF last_fail IS NULL OR last_ok > last_fail THEN
                PERFORM vasscm._close_incident(cur.id,
                    format('hải quan phản hồi trở lại lúc %s / customs answers again since %s', vasscm._vn_time(last_ok), vasscm._vn_time(last_ok)),
                    'vasscm (tự động / automatic)');
                RETURN format('closed %s', cur.id);
            END IF;
        END IF;
        RETURN format('open %s', cur.id);
    END IF;
    since := greatest(last_ok, (SELECT max(i.closed_at) FROM vasscm.incident i), now() - interval '1 day');
    SELECT min(l.at), max(l.at), count(*) INTO first_fail, last_fail, fails FROM vasscm.message_log l
     WHERE l.kind IN ('send_error', 'bad_reply') AND l.at > since;
    SELECT min(o.created_at), min(o.created_at) FILTER (WHERE o.created_at > since), count(*) INTO oldest, first_held, waiting
      FROM vasscm.outbox o WHERE o.status IN ('queued', 'sending');
    IF first_fail <= now() - make_interval(secs => after_s) THEN
        SELECT l.note INTO last_err FROM vasscm.message_log l
         WHERE l.kind IN ('send_error', 'bad_reply') AND l.at = last_fail ORDER BY l.id DESC LIMIT 1;
        -- the first message that could not go, or its first failure; to the second, as gate-out times are
        began := date_trunc('second', least(first_fail, first_held));
        cause := format('Không trao đổi được dữ liệu với hải quan từ %s: %s lần gửi lỗi, %s thông điệp đang chờ; lỗi gần nhất: %s / customs unreachable or failing since %s: %s failed attempts, %s messages waiting; last error: %s',
                        vasscm._vn_time(first_fail), fails, waiting, coalesce(last_err, '-'),
                        vasscm._vn_time(first_fail), fails, waiting, coalesce(last_err, '-'));
    ELSIF oldest IS NOT NULL AND greatest(oldest, since) <= now() - make_interval(secs => after_s) THEN
        began := date_trunc('second', greatest(oldest, since));
        cause := format('Hải quan không phản hồi từ %s trong khi %s thông điệp đang chờ gửi / no answer from customs since %s while %s messages wait',
                        vasscm._vn_time(began), waiting, vasscm._vn_time(began), waiting);
    ELSE
        RETURN 'none';
    END IF;
    INSERT INTO vasscm.incident (began_at, opened_by, detection, cause) VALUES (began, 'vasscm', 'automatic', cause)
    RETURNING incident.id INTO id;
    PERFORM vasscm._incident_event(id, 'opened', 'Tự động mở sự cố / opened automatically: ' || cause, 'vasscm (tự động / automatic)');
    PERFORM vasscm._incident_relink(id);
    PERFORM pg_notify('vasscm_incident', format('opened %s', id));
    RETURN format('opened %s', id);
END
$$;
COMMENT ON FUNCTION watch_incidents() IS
    'Job: opens an incident when customs has been unreachable for incident_open_after_seconds, closes it when customs answers again.';

INSERT INTO job VALUES
    ('vasscm-incidents', '* * * * *', 'SELECT vasscm.watch_incidents()',
     'Opens an incident (article 52đ) when customs has been unreachable for incident_open_after_seconds; closes it when customs answers again');

-- Records how and when customs was told about an incident (article 52đ: within 1 hour); this
-- clears its entry in vasscm.deadlines. Parameters: incident_id; how (telephone, e-mail,
-- official letter no. …); at (when customs was told); officer (the customs officer told).
-- Recording again corrects it (both are in the event log).
CREATE FUNCTION record_incident_notification(incident_id bigint, how text, at timestamptz, officer text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
BEGIN
    IF nullif(btrim(how), '') IS NULL OR nullif(btrim(officer), '') IS NULL OR at IS NULL THEN
        RAISE EXCEPTION 'vasscm: say how and when customs was notified, and which officer' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT vasscm.record_incident_notification(1, ''điện thoại / telephone'', now(), ''Nguyễn Văn A'');';
    END IF;
    IF at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: customs cannot have been notified in the future (%)', at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vasscm.incident x SET notified_at = at, notified_how = btrim(how), notified_officer = btrim(officer), notified_by = session_user
     WHERE x.id = incident_id;
    PERFORM vasscm._incident_event(incident_id, 'notified',
        format('Đã thông báo cho hải quan lúc %s qua %s, công chức tiếp nhận: %s%s / customs notified at %s by %s, officer %s',
               vasscm._vn_time(at), btrim(how), btrim(officer),
               CASE WHEN i.notified_at IS NOT NULL THEN format(' (sửa ghi nhận trước: %s, %s)', vasscm._vn_time(i.notified_at), i.notified_how) ELSE '' END,
               vasscm._vn_time(at), btrim(how), btrim(officer)));
END
$$;
COMMENT ON FUNCTION record_incident_notification(bigint, text, timestamptz, text) IS
    'Operator: records how and when customs was notified of an incident (article 52đ: within 1 hour), clearing the deadline.';

-- Ties a gate-out (21 / 22) to the paper list line of the incident its time falls in that
-- covers it: for a container, a line with that container (and, if the line names a
-- declaration, one of the gate-out's), else a line naming only one of its declarations; for
-- bulk, a line with its B/L (and declaration, if named), else only its declaration. The line
-- confirmed earliest wins. No line: no link.
CREATE FUNCTION _incident_link(gate_out bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o     vasscm.outbox;
    at    timestamptz;
    decls text[];
    inc   bigint;
    list  bigint;
    item  int;
BEGIN
    SELECT * INTO o FROM vasscm.outbox x WHERE x.id = gate_out;
    IF NOT FOUND OR o.message_type NOT IN ('21', '22') OR o.status IN ('invalid', 'cancelled') THEN
        DELETE FROM vasscm.incident_gate_out l WHERE l.outbox_id = gate_out;
        RETURN;
    END IF;
    at := coalesce((o.data ->> 'THOI_GIAN')::timestamptz, o.created_at);
    decls := ARRAY(SELECT vasscm._norm(x.v) FROM jsonb_array_elements_text(coalesce(o.data -> 'LIST_TK', '[]')) AS x(v));
    SELECT i.id INTO inc FROM vasscm.incident i
     WHERE i.began_at <= at AND (i.closed_at IS NULL OR i.closed_at > at) ORDER BY i.began_at DESC LIMIT 1;
    IF inc IS NOT NULL THEN
        SELECT p.id, t.item_no INTO list, item
          FROM vasscm.paper_list p JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
         WHERE p.incident_id = inc
           AND CASE WHEN o.message_type = '21'
                    THEN (t.container_no = o.data ->> 'SO_CONTAINER'
                          AND (t.declaration_no IS NULL OR cardinality(decls) = 0 OR t.declaration_no = ANY (decls)))
                      OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (decls))
                    ELSE (t.bl_no = vasscm._norm(o.data ->> 'SO_VAN_DON') AND t.container_no IS NULL
                          AND (t.declaration_no IS NULL OR t.declaration_no = ANY (decls)))
                      OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (decls)) END
         ORDER BY (t.container_no IS NOT NULL OR t.bl_no IS NOT NULL) DESC, p.confirmed_at, p.id, t.item_no
         LIMIT 1;
    END IF;
    IF list IS NULL THEN
        DELETE FROM vasscm.incident_gate_out l WHERE l.outbox_id = gate_out;
        RETURN;
    END IF;
    INSERT INTO vasscm.incident_gate_out AS l (outbox_id, transaction_id, incident_id, paper_list_id, item_no)
    VALUES (o.id, o.transaction_id, inc, list, item)
    ON CONFLICT (outbox_id) DO UPDATE SET incident_id = EXCLUDED.incident_id, paper_list_id = EXCLUDED.paper_list_id,
                                          item_no = EXCLUDED.item_no, linked_at = now()
     WHERE (l.incident_id, l.paper_list_id, l.item_no) IS DISTINCT FROM (EXCLUDED.incident_id, EXCLUDED.paper_list_id, EXCLUDED.item_no);
END
$$;

-- Links again every gate-out recorded since an incident began (after a paper list is recorded,
-- or an incident opened with a start in the past). Gate-outs recorded up to 7 days after the
-- incident closed count: the TOS may enter the gate-outs of an outage late.
CREATE FUNCTION _incident_relink(incident_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
    g bigint;
BEGIN
    FOR g IN SELECT o.id FROM vasscm.outbox o
              WHERE o.message_type IN ('21', '22') AND o.created_at >= i.began_at
                AND o.created_at < coalesce(i.closed_at, 'infinity') + interval '7 days'
              ORDER BY o.id LOOP
        PERFORM vasscm._incident_link(g);
    END LOOP;
END
$$;

-- Every new or corrected gate-out is tied to its paper list, if an incident covers its time.
-- ENABLE ALWAYS: gate-outs are captured inside the logical replication apply worker. A row
-- restored by pg_dump (not vasscm._enqueue) brings its link with it.
CREATE FUNCTION _incident_link_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' AND current_setting('vasscm.enqueueing', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.incident) THEN
        PERFORM vasscm._incident_link(NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_incident_link AFTER INSERT OR UPDATE OF data ON outbox
    FOR EACH ROW WHEN (NEW.message_type IN ('21', '22')) EXECUTE FUNCTION _incident_link_trigger();
ALTER TABLE outbox ENABLE ALWAYS TRIGGER outbox_incident_link;

-- Records a paper list customs confirmed during an incident (form 36). Parameters:
-- incident_id; officer (the customs officer who confirmed it); reference (the document's
-- number, unique per incident); items (a JSON array, one object per line, keys container_no,
-- declaration_no, bl_no — at least one — and for bulk quantity, weight_kg, volume_m3: what may
-- pass; lines of the same B/L on several lists add up); confirmed_at (the time on the paper,
-- default now). Returns the list's id. Refuses the whole list, naming every bad line, if any
-- line is wrong. A list recorded on a closed incident is kept for the record only.
CREATE FUNCTION record_paper_list(incident_id bigint, officer text, reference text, items jsonb, confirmed_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i        vasscm.incident := vasscm._incident(incident_id);
    allowed  text[] := ARRAY['container_no', 'declaration_no', 'bl_no', 'quantity', 'weight_kg', 'volume_m3'];
    problems text[] := '{}';
    e        jsonb;
    n        int := 0;
    k        text;
    cont     text;
    dno      text;
    list_id  bigint;
BEGIN
    IF nullif(btrim(officer), '') IS NULL OR nullif(btrim(reference), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a paper list needs the customs officer''s name and the document''s reference' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT vasscm.record_paper_list(1, ''Nguyễn Văn A'', ''DS-01'', ''[{"container_no": "MSKU1234565"}]'');';
    END IF;
    IF confirmed_at IS NULL OR confirmed_at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: the list cannot be confirmed in the future (%)', confirmed_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(items) IS DISTINCT FROM 'array' OR jsonb_array_length(items) = 0 THEN
        RAISE EXCEPTION 'vasscm: items must be a non-empty JSON array of lines' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each line: {"container_no": …} or {"declaration_no": …} or {"bl_no": …, "declaration_no": …, "weight_kg": …}.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.paper_list p WHERE p.incident_id = i.id AND p.reference = btrim(record_paper_list.reference)) THEN
        RAISE EXCEPTION 'vasscm: paper list % is already recorded for incident %', btrim(reference), i.id
            USING ERRCODE = 'unique_violation', HINT = 'SELECT * FROM vasscm.paper_list_item JOIN vasscm.paper_list ON id = paper_list_id WHERE incident_id = …;';
    END IF;
    FOR e IN SELECT x.v FROM jsonb_array_elements(items) AS x(v) LOOP
        n := n + 1;
        IF jsonb_typeof(e) <> 'object' THEN
            problems := problems || format('line %s: not a JSON object', n);
            CONTINUE;
        END IF;
        FOR k IN SELECT jsonb_object_keys(e) LOOP
            IF NOT k = ANY (allowed) THEN
                problems := problems || format('line %s: unknown key "%s" (known: %s)', n, k, array_to_string(allowed, ', '));
            END IF;
        END LOOP;
        cont := nullif(btrim(e ->> 'container_no'), '');
        dno := vasscm._norm(e ->> 'declaration_no');
        IF cont IS NULL AND dno IS NULL AND vasscm._norm(e ->> 'bl_no') IS NULL THEN
            problems := problems || format('line %s: give a container_no, a declaration_no or a bl_no', n);
        END IF;
        IF cont IS NOT NULL AND NOT vasscm.is_valid_container_no(cont) THEN
            problems := problems || format('line %s: "%s" is not a valid container number (ISO 6346)', n, cont);
        END IF;
        IF dno IS NOT NULL AND dno !~ '^[0-9]{12}$' THEN
            problems := problems || format('line %s: declaration number "%s" must be 12 digits', n, dno);
        END IF;
        FOREACH k IN ARRAY ARRAY['quantity', 'weight_kg', 'volume_m3'] LOOP
            IF e ? k AND jsonb_typeof(e -> k) <> 'null' AND NOT (e ->> k ~ '^[0-9]+(\.[0-9]+)?$') THEN
                problems := problems || format('line %s: %s must be a number at least 0, not %s', n, k, e -> k);
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'vasscm: paper list % has % problem(s)', btrim(reference), cardinality(problems)
            USING ERRCODE = 'invalid_parameter_value', DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'Keys: container_no, declaration_no, bl_no (at least one), quantity, weight_kg, volume_m3.';
    END IF;
    INSERT INTO vasscm.paper_list (incident_id, reference, officer, confirmed_at)
    VALUES (i.id, btrim(reference), btrim(officer), confirmed_at) RETURNING id INTO list_id;
    INSERT INTO vasscm.paper_list_item (paper_list_id, item_no, container_no, declaration_no, bl_no, quantity, weight_kg, volume_m3)
    SELECT list_id, x.n, CASE WHEN nullif(btrim(x.e ->> 'container_no'), '') IS NOT NULL THEN vasscm.normalize_container_no(x.e ->> 'container_no') END,
           vasscm._norm(x.e ->> 'declaration_no'), vasscm._norm(x.e ->> 'bl_no'),
           (x.e ->> 'quantity')::numeric, (x.e ->> 'weight_kg')::numeric, (x.e ->> 'volume_m3')::numeric
      FROM jsonb_array_elements(items) WITH ORDINALITY AS x(e, n);
    PERFORM vasscm._incident_event(i.id, 'paper_list',
        format('Danh sách giấy %s (mẫu 36) do công chức %s xác nhận lúc %s: %s dòng%s / paper list %s confirmed by officer %s at %s: %s lines',
               btrim(reference), btrim(officer), vasscm._vn_time(confirmed_at), n,
               CASE WHEN i.closed_at IS NOT NULL THEN ' (ghi sau khi sự cố đã đóng: chỉ để lưu / recorded after closing: for the record only)' ELSE '' END,
               btrim(reference), btrim(officer), vasscm._vn_time(confirmed_at), n));
    IF i.closed_at IS NOT NULL THEN
        RAISE NOTICE 'vasscm: incident % is closed: list % is kept for the record, gates no longer honour it', i.id, btrim(reference);
    END IF;
    PERFORM vasscm._incident_relink(i.id);
    RETURN list_id;
END
$$;
COMMENT ON FUNCTION record_paper_list(bigint, text, text, jsonb, timestamptz) IS
    'Operator: records a list customs confirmed on paper during an incident (form 36): officer, reference, lines (containers, declarations, B/Ls, quantities).';

-- The paper list lines of the open incident that cover a container, best first (a line naming
-- the container and one of the given declarations, the container alone, a given declaration
-- alone; then the earliest confirmed), with the reason text the gate shows.
CREATE FUNCTION _paper_cover(container text, declarations text[])
RETURNS TABLE (incident_id bigint, paper_list_id bigint, item_no int, container_no text, declaration_no text, note text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.incident_id, p.id, t.item_no, t.container_no, t.declaration_no,
           format('Cho qua theo danh sách giấy %s do công chức hải quan %s xác nhận lúc %s, sự cố số %s (mẫu 36, Điều 52đ) / released against paper list %s confirmed by customs officer %s at %s, incident %s (form 36, article 52đ)',
                  p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id,
                  p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id)
      FROM vasscm.incident i
      JOIN vasscm.paper_list p ON p.incident_id = i.id
      JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
     WHERE i.closed_at IS NULL
       AND ((t.container_no = container
             AND (t.declaration_no IS NULL OR declarations IS NULL OR t.declaration_no = ANY (declarations)))
            OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (declarations)))
     ORDER BY (t.container_no IS NOT NULL AND t.declaration_no IS NOT NULL) DESC, (t.container_no IS NOT NULL) DESC,
              p.confirmed_at, p.id, t.item_no
$$;

-- Has a container left since the open incident began? A gate-out (21) that counts, not
-- cancelled by an accepted CANCEL_PASSED: a paper list lets a container out once.
CREATE FUNCTION _gone_in_incident(container text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM vasscm.incident i
                     JOIN vasscm.outbox g ON g.message_type = '21' AND g.data ->> 'SO_CONTAINER' = container AND g.created_at >= i.began_at
                    WHERE i.closed_at IS NULL AND vasscm._counts(g.status)
                      AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c WHERE c.original_transaction_id = g.transaction_id
                                         AND c.message_type = 'CANCEL_PASSED' AND c.status = 'accepted'))
$$;

-- The gate decision for bulk against the paper lists of the open incident, when the electronic
-- clearance (05) is missing: no rows when no line covers the declaration / B/L. Lines naming
-- the B/L (with this declaration or none) or only this declaration count; their quantities add
-- up, less what left against them during the incident; a measure no line limits is not
-- limited. A suspended or cancelled declaration is still refused. explicit_bl: only a line
-- naming this B/L with this declaration counts (customs' electronic data has the declaration
-- without this B/L).
CREATE FUNCTION _paper_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric, explicit_bl boolean)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dno  text := vasscm._norm(declaration_no);
    bl   text := vasscm._norm(bl_no);
    lim  record;
    o    record;
    d    vasscm.declaration;
    why  text[] := '{}';
BEGIN
    SELECT count(*) AS lines, count(DISTINCT x.bl_no) AS bls, sum(x.quantity) AS q, sum(x.weight_kg) AS w, sum(x.volume_m3) AS v,
           string_agg(DISTINCT x.reference, ', ') AS refs, (array_agg(x.note ORDER BY x.id, x.item_no))[1] AS note,
           array_agg(x.id::text || '/' || x.item_no) AS keys
      INTO lim
      FROM (SELECT p.id, t.item_no, t.bl_no, t.quantity, t.weight_kg, t.volume_m3, p.reference,
                   format('Cho qua theo danh sách giấy %s do công chức hải quan %s xác nhận lúc %s, sự cố số %s (mẫu 36, Điều 52đ) / released against paper list %s confirmed by customs officer %s at %s, incident %s (form 36, article 52đ)',
                          p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id,
                          p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id) AS note
              FROM vasscm.incident i
              JOIN vasscm.paper_list p ON p.incident_id = i.id
              JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
             WHERE i.closed_at IS NULL AND t.container_no IS NULL
               AND CASE WHEN explicit_bl THEN t.bl_no = bl AND t.declaration_no = dno
                        ELSE (t.bl_no = bl AND (t.declaration_no IS NULL OR t.declaration_no = dno))
                          OR (t.bl_no IS NULL AND t.declaration_no = dno)
                          OR (bl IS NULL AND t.declaration_no = dno) END) x;
    IF lim.lines = 0 THEN
        RETURN;
    END IF;
    IF bl IS NULL AND lim.bls > 1 THEN
        RETURN QUERY SELECT false, ARRAY[format('Tờ khai %s có nhiều vận đơn trong danh sách giấy: phải ghi số vận đơn / declaration %s has several B/Ls on the paper lists: give the B/L number', dno, dno)];
        RETURN;
    END IF;
    SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
    IF d.status = 'suspended' THEN
        why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', dno,
                             coalesce(': ' || d.status_reason, ''), dno, coalesce(': ' || d.status_reason, ''));
    ELSIF d.status = 'cancelled' THEN
        why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', dno, dno);
    END IF;
    SELECT coalesce(sum(g.quantity), 0) AS q, coalesce(sum(g.weight_kg), 0) AS w, coalesce(sum(g.volume_m3), 0) AS v INTO o
      FROM vasscm.gate_outs g JOIN vasscm.incident_gate_out l ON l.outbox_id = g.id
     WHERE l.paper_list_id::text || '/' || l.item_no = ANY (lim.keys);
    IF lim.q IS NOT NULL AND quantity IS NOT NULL AND o.q + quantity > lim.q THEN
        why := why || format('Số lượng vượt danh sách giấy %s: đã ra %s + lần này %s > cho phép %s / quantity above paper list %s: %s out + %s now > %s allowed',
                             lim.refs, vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(lim.q),
                             lim.refs, vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(lim.q));
    END IF;
    IF lim.w IS NOT NULL AND weight_kg IS NOT NULL AND o.w + weight_kg > lim.w THEN
        why := why || format('Trọng lượng vượt danh sách giấy %s: đã ra %s kg + lần này %s kg > cho phép %s kg / heavier than paper list %s allows: %s kg out + %s kg now > %s kg',
                             lim.refs, vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(lim.w),
                             lim.refs, vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(lim.w));
    END IF;
    IF lim.v IS NOT NULL AND volume_m3 IS NOT NULL AND o.v + volume_m3 > lim.v THEN
        why := why || format('Thể tích vượt danh sách giấy %s: đã ra %s m3 + lần này %s m3 > cho phép %s m3 / volume above paper list %s: %s m3 out + %s m3 now > %s m3 allowed',
                             lim.refs, vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(lim.v),
                             lim.refs, vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(lim.v));
    END IF;
    IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
        why := why || 'Phải ghi số lượng, trọng lượng hoặc thể tích lần này / give the quantity, weight or volume leaving now'::text;
    END IF;
    IF cardinality(why) > 0 THEN
        RETURN QUERY SELECT false, why;
    ELSE
        RETURN QUERY SELECT true, ARRAY[lim.note];
    END IF;
END
$$;

-- Gate-outs (21 / 22) whose time falls in an incident (from its start to its end; recorded up
-- to 7 days after it), with the paper list line that covered each one (NULL: released on
-- customs' electronic data) and when customs accepted it.
CREATE VIEW incident_gate_outs AS
SELECT i.id AS incident_id, o.id AS outbox_id, o.transaction_id, o.message_type, o.status,
       o.data ->> 'SO_CONTAINER' AS container_no, vasscm._norm(o.data ->> 'SO_VAN_DON') AS bl_no,
       ARRAY(SELECT jsonb_array_elements_text(coalesce(o.data -> 'LIST_TK', '[]'))) AS declarations,
       (o.data ->> 'SO_LUONG')::numeric AS quantity,
       vasscm._kg((o.data ->> 'TRONG_LUONG')::numeric, o.data ->> 'DVT_TRONG_LUONG') AS weight_kg,
       (o.data ->> 'THE_TICH_M3')::numeric AS volume_m3,
       o.data ->> 'PHUONG_TIEN' AS conveyance, o.data ->> 'SO_PHUONG_TIEN' AS conveyance_no,
       t.at AS left_at, o.created_at,
       l.paper_list_id, p.reference AS paper_list_reference, p.officer AS paper_list_officer, l.item_no AS paper_list_item,
       (SELECT min(h.at) FROM vasscm.outbox_history h WHERE h.outbox_id = o.id AND h.to_status = 'accepted') AS accepted_at
  FROM vasscm.incident i
  JOIN vasscm.outbox o ON o.message_type IN ('21', '22') AND o.status NOT IN ('invalid', 'cancelled')
                      AND o.created_at >= i.began_at AND o.created_at < coalesce(i.closed_at, 'infinity') + interval '7 days'
  CROSS JOIN LATERAL (SELECT CASE WHEN o.status NOT IN ('invalid', 'cancelled') THEN (o.data ->> 'THOI_GIAN')::timestamptz END AS at) t
  LEFT JOIN vasscm.incident_gate_out l ON l.outbox_id = o.id
  LEFT JOIN vasscm.paper_list p ON p.id = l.paper_list_id
 WHERE t.at >= i.began_at AND (i.closed_at IS NULL OR t.at < i.closed_at);
COMMENT ON VIEW incident_gate_outs IS
    'Gate-outs (21 / 22) made during an incident, the paper list (form 36) each was released against (NULL: on electronic data), and customs'' acceptance.';

-- The deadline "notify customs within 1 hour" joins vasscm.deadlines (same columns): listed as
-- 'pending' while an incident is open and customs not yet told, 'overdue' past the limit,
-- 'late' when told after it (or never told, the incident having outlasted the limit). An
-- incident closed before its limit without notification is not listed.
ALTER VIEW deadlines RENAME TO _deadlines_of_messages;
COMMENT ON VIEW _deadlines_of_messages IS 'Deadlines of messages (gate-outs, customs lists); vasscm.deadlines adds the incident notifications.';
CREATE VIEW deadlines AS
SELECT * FROM vasscm._deadlines_of_messages
UNION ALL
SELECT 'incident_notice'::text, i.uid, '35'::text, format('sự cố %s / incident %s', i.id, i.id), i.began_at, n.due_at, i.notified_at,
       CASE WHEN i.notified_at IS NULL AND i.closed_at IS NULL AND now() <= n.due_at THEN 'pending'
            WHEN i.notified_at IS NULL AND i.closed_at IS NULL THEN 'overdue'
            ELSE 'late' END,
       format('Phải thông báo sự cố cho cơ quan hải quan trong %s phút kể từ %s (Điều 52đ)%s / customs must be notified of the incident within %s minutes of %s (article 52đ)%s',
              n.mins, vasscm._vn_time(i.began_at),
              CASE WHEN i.notified_at IS NOT NULL THEN ': đã thông báo lúc ' || vasscm._vn_time(i.notified_at) ELSE ': chưa thông báo' END,
              n.mins, vasscm._vn_time(i.began_at),
              CASE WHEN i.notified_at IS NOT NULL THEN ': notified at ' || vasscm._vn_time(i.notified_at) ELSE ': not notified' END)
  FROM vasscm.incident i
 CROSS JOIN LATERAL (SELECT i.began_at + make_interval(secs => s.v) AS due_at, trim_scale(round(s.v / 60.0, 1)) AS mins
                       FROM (SELECT vasscm._setting_value('incident_notify_seconds')::int AS v) s) n
 WHERE (i.closed_at IS NULL AND (i.notified_at IS NULL OR i.notified_at > n.due_at))
    OR (i.closed_at IS NOT NULL AND i.opened_at > now() - make_interval(days => vasscm._setting_value('deadline_window_days')::int)
        AND (i.notified_at > n.due_at OR (i.notified_at IS NULL AND i.closed_at > n.due_at)));
COMMENT ON VIEW deadlines IS 'Legal deadlines missed (late), being missed (overdue) or running (pending: an incident''s notification) in the last deadline_window_days: gate-out messages, customs lists, incident notifications.';

-- The incident log (form 35 content), in Vietnamese, as plain text to print or attach: the
-- port, the incident's times, cause, the notification to customs, every paper list with its
-- lines, every gate-out made during the incident with its list and customs' acceptance, the
-- messages held and sent, and every event. Figures are as of printing.
CREATE FUNCTION incident_log(incident_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i    vasscm.incident := vasscm._incident(incident_id);
    s    record;
    r    record;
    due  timestamptz := i.began_at + make_interval(secs => coalesce(vasscm._setting_value('incident_notify_seconds'), '3600')::int);
    dur  interval := coalesce(i.closed_at, now()) - i.began_at;
    doc  text[] := '{}';
    n    int := 0;
BEGIN
    SELECT * INTO s FROM vasscm.incident_summary(incident_id);
    doc := doc || 'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM'::text || 'Độc lập - Tự do - Hạnh phúc'::text || ''::text
               || 'SỔ THEO DÕI SỰ CỐ HỆ THỐNG TRAO ĐỔI DỮ LIỆU VỚI CƠ QUAN HẢI QUAN'::text
               || '(nội dung mẫu số 35, Điều 52đ Thông tư 38/2015/TT-BTC, sửa đổi bởi Thông tư 39/2018/TT-BTC)'::text || ''::text
               || format('Doanh nghiệp kinh doanh cảng: %s (mã %s)', coalesce(nullif(current_setting('vasscm.sender_name', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.sender_code', true), ''), '-'))
               || format('Địa điểm giám sát hải quan: %s     Chi cục hải quan: %s', coalesce(nullif(current_setting('vasscm.place_code', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.receiver_code', true), ''), '-'))
               || ''::text
               || format('Sự cố số: %s   (mã %s)', i.id, i.uid)
               || format('Tình trạng: %s', CASE WHEN i.closed_at IS NULL THEN 'ĐANG XẢY RA' ELSE 'ĐÃ KHẮC PHỤC' END)
               || format('Thời điểm bắt đầu: %s (giờ Việt Nam)', vasscm._vn_time(i.began_at))
               || format('Thời điểm ghi nhận: %s, %s', vasscm._vn_time(i.opened_at),
                         CASE i.detection WHEN 'automatic' THEN 'phát hiện tự động' ELSE 'do ' || i.opened_by || ' ghi nhận' END)
               || format('Nguyên nhân, hiện tượng: %s', i.cause)
               || format('Thời điểm khắc phục: %s', coalesce(vasscm._vn_time(i.closed_at) || ' (' || i.close_reason || ', ' || i.closed_by || ')', 'chưa khắc phục'))
               || format('Thời gian gián đoạn: %s giờ %s phút %s giây', floor(extract(epoch FROM dur) / 3600)::int, floor(extract(epoch FROM dur) / 60)::int % 60,
                         floor(extract(epoch FROM dur))::int % 60)
               || ''::text
               || 'I. THÔNG BÁO CHO CƠ QUAN HẢI QUAN (trong 01 giờ)'::text
               || CASE WHEN i.notified_at IS NULL
                       THEN format('   CHƯA THÔNG BÁO (hạn: %s)', vasscm._vn_time(due))
                       ELSE format('   Đã thông báo lúc %s, hình thức: %s, công chức hải quan tiếp nhận: %s, người ghi: %s (%s)',
                                   vasscm._vn_time(i.notified_at), i.notified_how, i.notified_officer, i.notified_by,
                                   CASE WHEN i.notified_at <= due THEN 'đúng hạn' ELSE 'QUÁ HẠN, hạn ' || vasscm._vn_time(due) END) END
               || ''::text
               || 'II. DANH SÁCH HÀNG HÓA HẢI QUAN XÁC NHẬN TRONG THỜI GIAN SỰ CỐ (mẫu số 36)'::text;
    FOR r IN SELECT p.*, (SELECT count(*) FROM vasscm.paper_list_item t WHERE t.paper_list_id = p.id) AS lines
               FROM vasscm.paper_list p WHERE p.incident_id = i.id ORDER BY p.confirmed_at, p.id LOOP
        n := n + 1;
        doc := doc || format('   %s. Danh sách số %s, công chức hải quan %s, xác nhận lúc %s, %s dòng (ghi bởi %s lúc %s)',
                             n, r.reference, r.officer, vasscm._vn_time(r.confirmed_at), r.lines, r.recorded_by, vasscm._vn_time(r.recorded_at));
        doc := doc || ARRAY(SELECT format('      - %s', concat_ws('; ', 'container ' || t.container_no, 'tờ khai ' || t.declaration_no, 'vận đơn ' || t.bl_no,
                                                               'số lượng ' || trim_scale(t.quantity), 'trọng lượng ' || trim_scale(t.weight_kg) || ' kg',
                                                               'thể tích ' || trim_scale(t.volume_m3) || ' m3'))
                              FROM vasscm.paper_list_item t WHERE t.paper_list_id = r.id ORDER BY t.item_no);
    END LOOP;
    IF n = 0 THEN
        doc := doc || '   (không có)'::text;
    END IF;
    doc := doc || ''::text || format('III. HÀNG HÓA QUA KHU VỰC GIÁM SÁT TRONG THỜI GIAN SỰ CỐ: %s lượt, %s theo danh sách giấy, %s đã được hải quan chấp nhận',
                                      s.gate_outs, s.gate_outs_on_paper, s.gate_outs_accepted);
    doc := doc || ARRAY(SELECT format('   - Mẫu %s %s, ra lúc %s%s, %s; cập nhật lên hệ thống: %s',
                                      g.message_type, coalesce('container ' || g.container_no, 'vận đơn ' || g.bl_no),
                                      vasscm._vn_time(g.left_at), coalesce(' bằng ' || g.conveyance_no, ''),
                                      coalesce('theo danh sách giấy ' || g.paper_list_reference || ' dòng ' || g.paper_list_item, 'theo dữ liệu điện tử'),
                                      CASE WHEN g.accepted_at IS NOT NULL THEN 'hải quan chấp nhận lúc ' || vasscm._vn_time(g.accepted_at)
                                           WHEN g.status = 'rejected' THEN 'BỊ TỪ CHỐI'
                                           ELSE 'đang chờ gửi (' || g.status || ')' END)
                          FROM vasscm.incident_gate_outs g WHERE g.incident_id = i.id ORDER BY g.left_at, g.outbox_id);
    doc := doc || ''::text || 'IV. THÔNG ĐIỆP LƯU GIỮ VÀ GỬI LẠI'::text
               || format('   Thông điệp lưu giữ trong thời gian sự cố: %s; đã gửi: %s (hải quan chấp nhận %s, từ chối %s); đang chờ: %s; không gửi được: %s',
                         s.held, s.sent, s.accepted, s.rejected, s.waiting, s.dead)
               || format('   (số liệu tại thời điểm in %s)', vasscm._vn_time(now()))
               || ''::text || 'V. DIỄN BIẾN'::text;
    doc := doc || ARRAY(SELECT format('   %s  %s  %s', vasscm._vn_time(e.at), e.actor, e.detail)
                          FROM vasscm.incident_event e WHERE e.incident_id = i.id ORDER BY e.at, e.id);
    doc := doc || ''::text || 'Người lập sổ                                  Xác nhận của công chức hải quan'::text
               || '(ký, ghi rõ họ tên)                           (ký, ghi rõ họ tên)'::text;
    RETURN array_to_string(doc, E'\n') || E'\n';
END
$$;
COMMENT ON FUNCTION incident_log(bigint) IS
    'The incident log (form 35 content) in Vietnamese, plain text: times, cause, notification, paper lists, gate-outs, messages held and sent, events.';

-- Privileges as a fresh install has them (sql/roles.sql: nothing to PUBLIC; its Incidents block).
REVOKE ALL ON FUNCTION vasscm._incident_setting_check(), vasscm._vn_time(timestamptz), vasscm._open_incident(),
                       vasscm._incident_event(bigint, text, text, text), vasscm._incident(bigint),
                       vasscm.open_incident(text, timestamptz, boolean), vasscm.incident_summary(bigint),
                       vasscm._close_incident(bigint, text, text), vasscm.close_incident(bigint, text), vasscm.watch_incidents(),
                       vasscm.record_incident_notification(bigint, text, timestamptz, text), vasscm._incident_link(bigint),
                       vasscm._incident_relink(bigint), vasscm._incident_link_trigger(),
                       vasscm.record_paper_list(bigint, text, text, jsonb, timestamptz), vasscm._paper_cover(text, text[]),
                       vasscm._gone_in_incident(text), vasscm._paper_bulk(text, text, numeric, numeric, numeric, boolean),
                       vasscm.incident_log(bigint), vasscm._audit_retention_check() FROM PUBLIC;
REVOKE ALL ON SEQUENCE vasscm.incident_id_seq, vasscm.incident_event_id_seq, vasscm.paper_list_id_seq FROM PUBLIC;
REVOKE ALL ON vasscm._deadlines_of_messages FROM vasscm_reader;
GRANT SELECT ON vasscm.deadlines TO vasscm_reader;
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

-- Catalogue v1 with form 13 (catalogue/v1.json, built into this version's library); the active
-- version stays the active one.
SELECT vasscm.load_catalogue(vasscm._builtin_catalogue());

-- Camera reads: OCR correction of container numbers (src/camera.rs) ---------------------------
-- vasscm::camera::container_read_candidates
CREATE  FUNCTION "container_read_candidates"(
	"read" TEXT /* & str */
) RETURNS TEXT[] /* Vec < String > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'container_read_candidates_wrapper';
-- vasscm::camera::correct_container_read
CREATE  FUNCTION "correct_container_read"(
	"read" TEXT, /* Option < & str > */
	"plausible" TEXT[] /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"outcome" TEXT,  /* String */
	"container_no" TEXT,  /* Option < String > */
	"candidates" TEXT[]  /* Vec < String > */
)
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'correct_container_read_wrapper';
REVOKE ALL ON FUNCTION vasscm.container_read_candidates(text), vasscm.correct_container_read(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vasscm.container_read_candidates(text), vasscm.correct_container_read(text, text[])
   TO vasscm_reader;
