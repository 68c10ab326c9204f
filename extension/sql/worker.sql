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
    body           text COMPRESSION lz4,   -- a signed message is ≈ 3.4 kB: lz4 makes it ≈ 2.5 kB at half pglz's cost (pglz gives up on it and stores it whole)
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

-- The messages that may be sent now, at most batch_size, locked (FOR UPDATE SKIP LOCKED: another
-- worker's claims in flight are passed over), in order: nothing whose earlier message for the
-- same container / B/L / declaration is still waiting, and no amendment or cancellation before
-- its original was sent (a dead original holds its follow-ups until it is requeued and sent).
-- Expired leases (a crashed worker) come back.
--
-- One plan whatever the statistics say: the candidates come from vasscm.outbox_open in id
-- order, each looked up in the outbox by its key and checked against its predecessors by index
-- probes (OFFSET 0 keeps each NOT EXISTS a probe per candidate). Right after a bulk enqueue the
-- statistics of outbox.status are stale and the planner otherwise materialises a scan of the
-- whole outbox, or walks the outbox from its oldest row; `+ 0` keeps the outbox from being
-- the ordered side, the enable_* settings keep the planner to index probes, and jit = off
-- keeps the (large, meaningless) cost estimate of such a plan from compiling it.
CREATE FUNCTION _claimable(batch_size int) RETURNS SETOF bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET jit = off SET enable_seqscan = off SET enable_sort = off SET enable_hashjoin = off SET enable_mergejoin = off
SET enable_material = off AS $$
BEGIN
    RETURN QUERY
    SELECT o.id
      FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id + 0
     WHERE q.status IN ('queued', 'sending')
       AND ((o.status = 'queued' AND o.next_attempt_at <= now())
            OR (o.status = 'sending' AND o.lease_until < now()))
       AND NOT EXISTS (SELECT 1 FROM vasscm.outbox e
                        WHERE e.order_key = o.order_key AND e.id < o.id
                          AND e.status IN ('queued', 'sending', 'pending_approval')
                       OFFSET 0)
       AND (o.original_transaction_id IS NULL
            OR NOT EXISTS (SELECT 1 FROM vasscm.outbox g
                            WHERE g.transaction_id = o.original_transaction_id
                              AND g.status IN ('invalid', 'pending_approval', 'queued', 'sending', 'dead')
                           OFFSET 0))
     ORDER BY q.outbox_id
     LIMIT batch_size
     FOR UPDATE OF o SKIP LOCKED;
END
$$;

-- Claims up to batch_size messages that may be sent now (see vasscm._claimable), leased to
-- `worker` for lease_seconds; returns them in id order.
CREATE FUNCTION claim(worker text, batch_size int DEFAULT 10, lease_seconds int DEFAULT 60) RETURNS SETOF outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
BEGIN
    PERFORM vasscm._catch_up();   -- captured changes still pending (vasscm.interpret = async) become messages first
    SELECT array_agg(c.id ORDER BY c.id) INTO ids FROM vasscm._claimable(batch_size) AS c(id);
    IF ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM FROM vasscm._set_status(ids, array_fill('sending'::text, ARRAY[cardinality(ids)]),
                                    array_fill(format('claimed by %s', worker), ARRAY[cardinality(ids)]),
                                    NULL, NULL, worker, lease_seconds);
    RETURN QUERY SELECT o.* FROM vasscm.outbox o WHERE o.id = ANY (ids) ORDER BY o.id;
END
$$;
COMMENT ON FUNCTION claim(text, int, int) IS 'Worker: claims messages to send (FOR UPDATE SKIP LOCKED, with a lease).';

-- Puts a claimed message back without counting the attempt (HSM unavailable, shutdown).
CREATE FUNCTION release(transaction_id uuid, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    oid_ bigint;
BEGIN
    SELECT o.id INTO oid_ FROM vasscm.outbox o
     WHERE o.transaction_id = release.transaction_id AND o.status = 'sending' FOR UPDATE;
    IF FOUND THEN
        UPDATE vasscm.outbox o SET attempts = greatest(o.attempts - 1, 0) WHERE o.id = oid_;
        PERFORM FROM vasscm._set_status(ARRAY[oid_], ARRAY['queued'], ARRAY[reason], ARRAY[coalesce(reason, '')], ARRAY[0::float8]);
    END IF;
END
$$;

-- Logs the signed message before it is sent (so that what customs may receive is on record).
CREATE FUNCTION record_signed(transaction_id uuid, signed text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm.record_signed_batch(ARRAY[transaction_id], ARRAY[signed]);
END
$$;

-- The same for several messages at once (transaction_ids[i] signed as signed[i]), in one
-- statement. (PL/pgSQL, not SQL: its plan is kept, where an SQL function's INSERT would be
-- parsed and planned again at every call. Not an overload of record_signed: a call with two
-- untyped literals would not know which to take.)
CREATE FUNCTION record_signed_batch(transaction_ids uuid[], signed text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, body)
    SELECT u.tid, 'out', 'signed', u.body FROM unnest(transaction_ids, signed) WITH ORDINALITY AS u(tid, body, i) ORDER BY u.i;
END
$$;
COMMENT ON FUNCTION record_signed_batch(uuid[], text[]) IS 'Worker: logs several signed messages before they are sent.';

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
    PERFORM FROM vasscm._set_status(ARRAY[o.id], ARRAY[st],
        ARRAY[format('attempt %s failed: %s', o.attempts, error) || CASE WHEN st = 'dead' THEN ' (giving up)' ELSE '' END],
        ARRAY[coalesce(error, '')], ARRAY[delay]);
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

-- Customs' replies (form 200 accepted / 299 rejected) to several messages, as the worker
-- verified and parsed them: replies[i] is the reply to transaction_ids[i] as vasscm.parse_message
-- gives it ({"header": …, "data": …}, parsed from the signed content the worker verified),
-- bodies[i] the body as received (what the log keeps), http_statuses[i] its HTTP status. A
-- reply that is not a 200 / 299 answering that message from customs to this port is logged and
-- the message retried under the retry policy given. One statement logs the replies and one
-- status change settles the messages. Returns each message's new status (NULL: no such
-- message; a message already answered keeps its first answer).
CREATE FUNCTION record_replies(transaction_ids uuid[], replies jsonb[], http_statuses int[], bodies text[],
                               max_attempts int DEFAULT 10, base_delay_seconds float8 DEFAULT 2,
                               max_delay_seconds float8 DEFAULT 300)
RETURNS TABLE (transaction_id uuid, status text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_tid     uuid[];
    v_kind    text[];
    v_errs    text[];
    v_http    int[];
    v_body    text[];
    v_problem text[];
    good      int[];
    i         int;
    l_id      bigint[];
    l_tid     uuid[];
    l_status  text[];
    n_id      bigint[];
    n_status  text[];
BEGIN
    -- the verdicts: each reply checked as record_reply always did (the header once per sender and
    -- receiver, not once per reply), the errors of a 299 listed
    WITH r AS MATERIALIZED (
        SELECT u.i, u.tid, u.http, u.body, u.reply,
               u.reply -> 'header' ->> 'Message_Type' AS kind,
               coalesce(u.reply -> 'header' ->> 'Sender_Code', '') AS sender,
               coalesce(u.reply -> 'header' ->> 'Receiver_Code', '') AS receiver
          FROM unnest(transaction_ids, replies, http_statuses, bodies) WITH ORDINALITY AS u(tid, reply, http, body, i)
    ), parties AS MATERIALIZED (
        SELECT p.sender, p.receiver,
               vasscm._customs_header_problem(jsonb_build_object('Sender_Code', nullif(p.sender, ''),
                                                                 'Receiver_Code', nullif(p.receiver, ''))) AS problem
          FROM (SELECT DISTINCT r.sender, r.receiver FROM r) p
    ), v AS MATERIALIZED (
        SELECT r.i, r.tid, r.http, r.body, r.kind,
               (SELECT string_agg(format('%s: %s', e ->> 'ErrorNumber', e ->> 'ErrorMessage'), '; ')
                  FROM jsonb_array_elements(CASE jsonb_typeof(r.reply -> 'data' -> 'Error')
                                                WHEN 'array' THEN r.reply -> 'data' -> 'Error'
                                                WHEN 'object' THEN jsonb_build_array(r.reply -> 'data' -> 'Error')
                                                ELSE '[]' END) AS e
                 WHERE e ->> 'ErrorNumber' <> '0') AS errs,
               CASE WHEN jsonb_typeof(r.reply -> 'header') IS DISTINCT FROM 'object' THEN 'unusable reply: no header'
                    WHEN r.kind IS NULL OR r.kind NOT IN ('200', '299') THEN format('reply of type %s, expected 200 or 299', r.kind)
                    WHEN r.reply -> 'header' ->> 'Request_ID' IS DISTINCT FROM r.tid::text THEN
                        format('reply answers %s, not this message', coalesce(r.reply -> 'header' ->> 'Request_ID', 'nothing'))
                    ELSE 'reply refused: ' || p.problem END AS problem
          FROM r JOIN parties p USING (sender, receiver)
    )
    SELECT array_agg(v.tid ORDER BY v.i), array_agg(v.kind ORDER BY v.i), array_agg(v.errs ORDER BY v.i),
           array_agg(v.http ORDER BY v.i), array_agg(v.body ORDER BY v.i), array_agg(v.problem ORDER BY v.i),
           array_agg(v.i::int ORDER BY v.i) FILTER (WHERE v.problem IS NULL)
      INTO v_tid, v_kind, v_errs, v_http, v_body, v_problem, good
      FROM v;
    IF v_tid IS NULL THEN
        RETURN;
    END IF;
    -- unusable replies (rare): logged as bad_reply and retried, one by one
    FOR i IN 1 .. cardinality(v_tid) LOOP
        CONTINUE WHEN v_problem[i] IS NULL;
        transaction_id := v_tid[i];
        status := vasscm.record_failure(v_tid[i], v_problem[i], v_http[i], v_body[i], max_attempts, base_delay_seconds, max_delay_seconds);
        RETURN NEXT;
    END LOOP;
    IF good IS NULL THEN
        RETURN;
    END IF;
    -- the replies logged as received; the messages locked, and settled unless a duplicate
    -- delivery's reply settled them already
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, http_status, body)
    SELECT v_tid[g], 'in', 'reply', v_http[g], v_body[g] FROM unnest(good) AS g ORDER BY g;
    SELECT array_agg(o.id ORDER BY o.id), array_agg(o.transaction_id ORDER BY o.id), array_agg(o.status ORDER BY o.id)
      INTO l_id, l_tid, l_status
      FROM (SELECT x.id, x.transaction_id, x.status FROM vasscm.outbox x
             WHERE x.transaction_id = ANY (ARRAY(SELECT v_tid[g] FROM unnest(good) AS g))
             ORDER BY x.id FOR UPDATE) o;
    SELECT array_agg(x.outbox_id), array_agg(x.to_status) INTO n_id, n_status
      FROM vasscm._set_status(
               ARRAY(SELECT l_id[k] FROM generate_subscripts(l_id, 1) k
                      WHERE l_status[k] NOT IN ('accepted', 'rejected') ORDER BY k),
               ARRAY(SELECT CASE WHEN v_kind[array_position(v_tid, l_tid[k])] = '200' THEN 'accepted' ELSE 'rejected' END
                       FROM generate_subscripts(l_id, 1) k WHERE l_status[k] NOT IN ('accepted', 'rejected') ORDER BY k),
               ARRAY(SELECT CASE WHEN v_kind[array_position(v_tid, l_tid[k])] = '200' THEN 'accepted by customs'
                                 ELSE 'rejected by customs: ' || coalesce(v_errs[array_position(v_tid, l_tid[k])], '') END
                       FROM generate_subscripts(l_id, 1) k WHERE l_status[k] NOT IN ('accepted', 'rejected') ORDER BY k),
               ARRAY(SELECT CASE WHEN v_kind[array_position(v_tid, l_tid[k])] = '200' THEN ''
                                 ELSE coalesce(v_errs[array_position(v_tid, l_tid[k])], '') END
                       FROM generate_subscripts(l_id, 1) k WHERE l_status[k] NOT IN ('accepted', 'rejected') ORDER BY k)) x;
    RETURN QUERY
    SELECT v_tid[g], coalesce(n_status[array_position(n_id, l_id[array_position(l_tid, v_tid[g])])],
                              l_status[array_position(l_tid, v_tid[g])])
      FROM unnest(good) AS g ORDER BY g;
END
$$;
COMMENT ON FUNCTION record_replies(uuid[], jsonb[], int[], text[], int, float8, float8) IS
    'Worker: records customs'' verified and parsed replies (200 / 299) to several messages at once.';

-- Customs' reply (form 200 accepted / 299 rejected) to one message. `reply` is the document the
-- worker verified (the signed content, canonical), parsed here; `signed` the body as received,
-- which is what the log keeps. An unusable reply (not XML, hostile, not from customs to this
-- port, not a reply to this message) is logged and the message retried. (The worker parses
-- what it verified itself and calls vasscm.record_replies.)
CREATE FUNCTION record_reply(transaction_id uuid, reply text, http_status int DEFAULT 200, signed text DEFAULT NULL,
                             max_attempts int DEFAULT 10, base_delay_seconds float8 DEFAULT 2,
                             max_delay_seconds float8 DEFAULT 300) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parsed jsonb;
    raw    text := coalesce(signed, reply);
BEGIN
    BEGIN
        parsed := vasscm.parse_message(reply);
    EXCEPTION WHEN OTHERS THEN
        RETURN vasscm.record_failure(transaction_id, 'unusable reply: ' || SQLERRM, http_status, left(raw, 1048576),
                                     max_attempts, base_delay_seconds, max_delay_seconds);
    END;
    RETURN (SELECT r.status FROM vasscm.record_replies(ARRAY[transaction_id], ARRAY[parsed], ARRAY[http_status], ARRAY[raw],
                                                       max_attempts, base_delay_seconds, max_delay_seconds) r);
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
