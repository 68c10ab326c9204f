-- The worker's side of the outbox: claim with a lease, record what was signed and sent,
-- record replies and failures, receive customs → port messages. The worker (worker/) calls
-- only these functions; the state and the retry policy live here, readable by a DBA.

-- Append-only and hash-chained (sql/audit.sql), in monthly partitions by `at`.
CREATE SEQUENCE message_log_id_seq;
CREATE TABLE message_log (
    id             bigint NOT NULL DEFAULT nextval('vasscm.message_log_id_seq'),
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    transaction_id uuid,
    direction      text NOT NULL CHECK (direction IN ('out', 'in')),
    kind           text NOT NULL CHECK (kind IN ('signed', 'reply', 'bad_reply', 'send_error', 'inbound', 'refused')),
    http_status    int,
    body           text,
    note           text,
    actor          text NOT NULL DEFAULT session_user,
    chain_seq      bigint,
    prev_hash      bytea,
    row_hash       bytea,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE message_log_id_seq OWNED BY message_log.id;
CREATE TABLE message_log_default PARTITION OF message_log DEFAULT;
COMMENT ON TABLE message_log IS 'Every signed message sent and every raw reply or inbound message. Append-only, hash-chained, monthly partitions.';
CREATE INDEX message_log_by_transaction ON message_log (transaction_id, id);
CREATE INDEX message_log_by_at ON message_log (at);
CREATE INDEX message_log_chain ON message_log (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX message_log_unsealed ON message_log (id) WHERE chain_seq IS NULL;

CREATE TABLE inbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL UNIQUE,
    message_type   text NOT NULL,
    request_id     uuid,
    received_at    timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    header         jsonb NOT NULL,
    data           jsonb NOT NULL,
    message        text NOT NULL,
    applied_at     timestamptz,
    apply_error    text
);
COMMENT ON COLUMN inbox.apply_error IS 'Why the message could not be applied to the clearance state (it is kept; fix and call vasscm.reapply_inbox()).';
CREATE INDEX inbox_by_request ON inbox (request_id) WHERE request_id IS NOT NULL;
COMMENT ON TABLE inbox IS 'Customs → port messages (forms 01–08, VESSEL_LIST, query results), verified and stored once per Transaction_ID.';

-- Claims up to batch_size messages that may be sent now, in order: nothing whose earlier
-- message for the same container / B/L / declaration is still waiting, and no amendment or
-- cancellation before its original was sent (a dead original holds its follow-ups until it is
-- requeued and sent). Expired leases (a crashed worker) come back.
CREATE FUNCTION claim(worker text, batch_size int DEFAULT 10, lease_seconds int DEFAULT 60) RETURNS SETOF outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._catch_up();   -- captured changes still pending (vasscm.interpret = async) become messages first
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

-- Puts a claimed message back without counting the attempt (HSM unavailable, shutdown).
CREATE FUNCTION release(transaction_id uuid, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('vasscm.status_reason', reason, true);
    UPDATE vasscm.outbox o SET status = 'queued', lease_until = NULL, claimed_by = NULL, last_error = reason,
                               attempts = greatest(o.attempts - 1, 0), next_attempt_at = now(), updated_at = now()
     WHERE o.transaction_id = release.transaction_id AND o.status = 'sending';
    PERFORM set_config('vasscm.status_reason', '', true);
END
$$;

-- Logs the signed message before it is sent (so that what customs may receive is on record).
CREATE FUNCTION record_signed(transaction_id uuid, signed text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, body) VALUES (transaction_id, 'out', 'signed', signed);
$$;

-- A transport failure or an unusable reply: retry with exponential back-off and jitter, or
-- give up ('dead') after max_attempts. Returns the new status.
CREATE FUNCTION record_failure(transaction_id uuid, error text, http_status int DEFAULT NULL, body text DEFAULT NULL,
                               max_attempts int DEFAULT 10, base_delay_seconds float8 DEFAULT 2,
                               max_delay_seconds float8 DEFAULT 300) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o     vasscm.outbox;
    delay float8;
    st    text;
BEGIN
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, http_status, body, note)
    VALUES (transaction_id, 'in', CASE WHEN body IS NULL THEN 'send_error' ELSE 'bad_reply' END, http_status, body, error);
    SELECT * INTO o FROM vasscm.outbox x WHERE x.transaction_id = record_failure.transaction_id FOR UPDATE;
    IF NOT FOUND OR o.status <> 'sending' THEN
        RETURN o.status;   -- already settled by another worker: nothing to do
    END IF;
    st := CASE WHEN o.attempts >= max_attempts THEN 'dead' ELSE 'queued' END;
    delay := least(max_delay_seconds, base_delay_seconds * power(2, greatest(o.attempts - 1, 0))) * (0.5 + random() / 2);
    PERFORM set_config('vasscm.status_reason',
                       format('attempt %s failed: %s', o.attempts, error) || CASE WHEN st = 'dead' THEN ' (giving up)' ELSE '' END, true);
    UPDATE vasscm.outbox x SET status = st, last_error = error, lease_until = NULL, claimed_by = NULL,
                               next_attempt_at = now() + make_interval(secs => delay), updated_at = now()
     WHERE x.id = o.id;
    PERFORM set_config('vasscm.status_reason', '', true);
    RETURN st;
END
$$;
COMMENT ON FUNCTION record_failure(uuid, text, int, text, int, float8, float8) IS
    'Worker: a send failed; re-queues with exponential back-off and jitter, or marks the message dead.';

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
CREATE FUNCTION record_reply(transaction_id uuid, reply text, http_status int DEFAULT 200, signed text DEFAULT NULL,
                             max_attempts int DEFAULT 10, base_delay_seconds float8 DEFAULT 2,
                             max_delay_seconds float8 DEFAULT 300) RETURNS text
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
        RETURN vasscm.record_failure(transaction_id, 'unusable reply: ' || SQLERRM, http_status, left(raw, 1048576),
                                     max_attempts, base_delay_seconds, max_delay_seconds);
    END;
    kind := parsed -> 'header' ->> 'Message_Type';
    IF kind NOT IN ('200', '299') THEN
        RETURN vasscm.record_failure(transaction_id, format('reply of type %s, expected 200 or 299', kind), http_status, raw,
                                     max_attempts, base_delay_seconds, max_delay_seconds);
    END IF;
    IF parsed -> 'header' ->> 'Request_ID' IS DISTINCT FROM transaction_id::text THEN
        RETURN vasscm.record_failure(transaction_id,
            format('reply answers %s, not this message', coalesce(parsed -> 'header' ->> 'Request_ID', 'nothing')), http_status, raw,
            max_attempts, base_delay_seconds, max_delay_seconds);
    END IF;
    why := vasscm._customs_header_problem(parsed -> 'header');
    IF why IS NOT NULL THEN
        RETURN vasscm.record_failure(transaction_id, 'reply refused: ' || why, http_status, raw,
                                     max_attempts, base_delay_seconds, max_delay_seconds);
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
COMMENT ON FUNCTION record_reply(uuid, text, int, text, int, float8, float8) IS 'Worker: records customs'' verified reply (200 / 299) to a message.';

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
