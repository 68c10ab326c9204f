-- The outbox: one row per message to customs, its status history and the operator's actions.
--
-- vasscm._enqueue() checks and builds a message (Rust: vasscm._prepare) and inserts it;
-- 'invalid' with every reason when the data is bad. Every status change goes through
-- vasscm._set_status(), which writes it to vasscm.outbox_history (append-only, hash-chained by
-- sql/audit.sql) and keeps vasscm.outbox_open, the small table of unsettled messages, in step.
-- No index of the outbox covers status or the worker's columns (lease, attempts, errors), so a
-- status change is a HOT update: the row is rewritten in its page and no index is touched.

CREATE TABLE outbox (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id          uuid NOT NULL UNIQUE,
    message_type            text NOT NULL,
    status                  text NOT NULL CHECK (status IN ('invalid', 'pending_approval', 'queued', 'sending', 'sent',
                                                             'accepted', 'rejected', 'dead', 'cancelled')),
    mode                    text NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'manual')),
    data                    jsonb NOT NULL,
    source_data             jsonb,
    message                 text,
    errors                  jsonb NOT NULL DEFAULT '[]',
    binding_id              int REFERENCES binding,
    source_table            text,
    source_key              jsonb,
    order_key               text,
    original_transaction_id uuid,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    attempts                int NOT NULL DEFAULT 0,
    next_attempt_at         timestamptz NOT NULL DEFAULT now(),
    last_error              text,
    lease_until             timestamptz,
    claimed_by              text
) WITH (fillfactor = 70);   -- room in each page for the new version of a row whose status changes (HOT)
COMMENT ON TABLE outbox IS 'One row per VASSCM message; transaction_id is the idempotency key customs sees.';
COMMENT ON COLUMN outbox.source_data IS 'The mapped TOS data as captured (compared to detect amendments).';
COMMENT ON COLUMN outbox.order_key IS 'Messages with the same key (container, B/L, declaration) are sent in id order.';
COMMENT ON COLUMN outbox.original_transaction_id IS 'For amendments and cancellations: the message they refer to; never sent before it.';
CREATE INDEX outbox_by_source ON outbox (binding_id, source_key, message_type) WHERE binding_id IS NOT NULL;
CREATE INDEX outbox_by_order ON outbox (order_key, id);
CREATE INDEX outbox_by_original ON outbox (original_transaction_id) WHERE original_transaction_id IS NOT NULL;

-- The messages not settled yet (invalid, waiting for approval, queued, sending, sent, dead), one
-- small row each: where the worker finds what to claim and the monitoring what waits, without
-- an index on outbox.status (which would make every status change rewrite every index of the
-- outbox). Kept in step by vasscm._set_status() and vasscm._first_status(); outbox.status is
-- the truth, this is its index. Rows leave when the message is accepted, rejected or cancelled.
CREATE TABLE outbox_open (
    outbox_id    bigint PRIMARY KEY,
    status       text NOT NULL,
    message_type text NOT NULL,
    created_at   timestamptz NOT NULL
) WITH (fillfactor = 50);
COMMENT ON TABLE outbox_open IS 'The unsettled outbox messages with their status (kept in step by vasscm._set_status): what the worker claims from, what monitoring counts.';

-- The statuses of an unsettled message (a row in vasscm.outbox_open).
CREATE FUNCTION _unsettled(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('invalid', 'pending_approval', 'queued', 'sending', 'sent', 'dead')
$$;

-- Append-only and hash-chained (sql/audit.sql), in monthly partitions by `at`.
CREATE SEQUENCE outbox_history_id_seq;
CREATE TABLE outbox_history (
    id             bigint NOT NULL DEFAULT nextval('vasscm.outbox_history_id_seq'),
    outbox_id      bigint NOT NULL,
    transaction_id uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor          text NOT NULL DEFAULT session_user,
    from_status    text,
    to_status      text NOT NULL,
    reason         text,
    chain_seq      bigint,
    prev_hash      bytea,
    row_hash       bytea,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE outbox_history_id_seq OWNED BY outbox_history.id;
CREATE TABLE outbox_history_default PARTITION OF outbox_history DEFAULT;
COMMENT ON TABLE outbox_history IS 'Every status change of every outbox message: who, when, from, to, why. Append-only, hash-chained, monthly partitions.';
CREATE INDEX outbox_history_by_message ON outbox_history (outbox_id, id);
CREATE INDEX outbox_history_by_at ON outbox_history (at);
CREATE INDEX outbox_history_chain ON outbox_history (chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX outbox_history_unsealed ON outbox_history (id) WHERE chain_seq IS NULL;

CREATE FUNCTION _errors_summary(errors jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) || ' problem(s): ' || string_agg(format('%s: %s: %s', e ->> 'path', e ->> 'rule', e ->> 'detail'), '; ')
      FROM jsonb_array_elements(errors) AS e
$$;

-- The one way a message's status changes. For each i: message ids[i] goes to statuses[i]
-- because of reasons[i]; last_errors[i] sets its last error ('' clears it, NULL keeps it);
-- delays[i] (seconds) sets its next attempt to now() + delay (NULL keeps it). A message going to
-- 'sending' is leased to `worker` for lease_seconds and counts an attempt; any other status
-- drops the lease. Each change is recorded in vasscm.outbox_history (who, when, from, to, why;
-- a message whose status does not change gets no history row), vasscm.outbox_open follows,
-- and the workers are woken (NOTIFY vasscm_outbox) for messages now queued. The rows are
-- locked first; returns one row per message changed.
CREATE FUNCTION _set_status(ids bigint[], statuses text[], reasons text[], last_errors text[] DEFAULT NULL,
                            delays float8[] DEFAULT NULL, worker text DEFAULT NULL, lease_seconds int DEFAULT NULL)
RETURNS TABLE (outbox_id bigint, transaction_id uuid, message_type text, from_status text, to_status text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    -- planned once per session (every row is found by its primary key), not at every call
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r_id   bigint[];
    r_tid  uuid[];
    r_type text[];
    r_from text[];
    r_to   text[];
    wake   text[];
BEGIN
    IF 'sending' = ANY (statuses) AND (worker IS NULL OR lease_seconds IS NULL) THEN
        RAISE EXCEPTION 'vasscm: a message is sent only under a lease: worker and lease_seconds are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH c AS MATERIALIZED (
        SELECT DISTINCT ON (u.id) u.id, u.st, u.why, u.err, u.delay
          FROM unnest(ids, statuses, reasons, last_errors, delays) AS u(id, st, why, err, delay)
         WHERE u.id IS NOT NULL
         ORDER BY u.id
    ), old AS MATERIALIZED (
        SELECT o.id, o.status FROM vasscm.outbox o WHERE o.id IN (SELECT c.id FROM c) ORDER BY o.id FOR UPDATE
    ), changed AS (
        UPDATE vasscm.outbox o
           SET status = c.st, updated_at = now(),
               last_error = CASE WHEN c.err IS NULL THEN o.last_error ELSE nullif(c.err, '') END,
               next_attempt_at = CASE WHEN c.delay IS NULL THEN o.next_attempt_at ELSE now() + make_interval(secs => c.delay) END,
               lease_until = CASE WHEN c.st = 'sending' THEN now() + make_interval(secs => lease_seconds) END,
               claimed_by = CASE WHEN c.st = 'sending' THEN worker
                                 WHEN c.st IN ('queued', 'dead', 'pending_approval') THEN NULL
                                 ELSE o.claimed_by END,
               attempts = o.attempts + CASE WHEN c.st = 'sending' THEN 1 ELSE 0 END
          FROM c JOIN old ON old.id = c.id
         WHERE o.id = c.id
        RETURNING o.id, o.transaction_id, o.message_type, o.created_at, old.status AS from_status, o.status AS to_status, c.why
    ), history AS (
        INSERT INTO vasscm.outbox_history (outbox_id, transaction_id, from_status, to_status, reason)
        SELECT x.id, x.transaction_id, x.from_status, x.to_status, x.why FROM changed x
         WHERE x.from_status IS DISTINCT FROM x.to_status
         ORDER BY x.id
    ), opened AS (
        INSERT INTO vasscm.outbox_open AS q (outbox_id, status, message_type, created_at)
        SELECT x.id, x.to_status, x.message_type, x.created_at FROM changed x WHERE vasscm._unsettled(x.to_status)
        ON CONFLICT ON CONSTRAINT outbox_open_pkey DO UPDATE SET status = EXCLUDED.status
    ), settled AS (
        DELETE FROM vasscm.outbox_open q USING changed x WHERE q.outbox_id = x.id AND NOT vasscm._unsettled(x.to_status)
    )
    SELECT array_agg(x.id ORDER BY x.id), array_agg(x.transaction_id ORDER BY x.id), array_agg(x.message_type ORDER BY x.id),
           array_agg(x.from_status ORDER BY x.id), array_agg(x.to_status ORDER BY x.id),
           array_agg(DISTINCT x.message_type) FILTER (WHERE x.to_status = 'queued' AND x.from_status IS DISTINCT FROM 'queued')
      INTO r_id, r_tid, r_type, r_from, r_to, wake
      FROM changed x;
    IF wake IS NOT NULL THEN
        PERFORM pg_notify('vasscm_outbox', t) FROM unnest(wake) t;
    END IF;
    RETURN QUERY SELECT * FROM unnest(r_id, r_tid, r_type, r_from, r_to);
END
$$;
COMMENT ON FUNCTION _set_status(bigint[], text[], text[], text[], float8[], text, int) IS
    'The one way outbox statuses change: updates the messages, records each change in outbox_history, keeps outbox_open in step, wakes workers.';

-- One message's status change (see above); a message cancelled or invalid keeps the reason as
-- its last error.
CREATE FUNCTION _set_status(outbox_id bigint, status text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM FROM vasscm._set_status(ARRAY[outbox_id], ARRAY[status], ARRAY[reason],
                                    ARRAY[CASE WHEN status IN ('cancelled', 'invalid') THEN coalesce(reason, '') END]);
END
$$;

-- Records the first status of messages just inserted into the outbox (by vasscm._enqueue_many,
-- or by any other code inserting a message): for each i, message ids[i]'s history row (why:
-- reasons[i]), its place in vasscm.outbox_open, the workers woken once per form now queued.
CREATE FUNCTION _first_status(ids bigint[], reasons text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    found bigint[];
    wake  text[];
BEGIN
    WITH o AS MATERIALIZED (
        SELECT x.id, x.transaction_id, x.message_type, x.status, x.created_at, u.reason
          FROM unnest(ids, reasons) AS u(id, reason) JOIN vasscm.outbox x ON x.id = u.id
    ), history AS (
        INSERT INTO vasscm.outbox_history (outbox_id, transaction_id, from_status, to_status, reason)
        SELECT o.id, o.transaction_id, NULL, o.status, o.reason FROM o ORDER BY o.id
    ), opened AS (
        INSERT INTO vasscm.outbox_open AS q (outbox_id, status, message_type, created_at)
        SELECT o.id, o.status, o.message_type, o.created_at FROM o WHERE vasscm._unsettled(o.status)
        ON CONFLICT ON CONSTRAINT outbox_open_pkey DO UPDATE SET status = EXCLUDED.status
    )
    SELECT array_agg(o.id), array_agg(DISTINCT o.message_type) FILTER (WHERE o.status = 'queued')
      INTO found, wake FROM o;
    IF coalesce(cardinality(found), 0) < cardinality(ids) THEN
        RAISE EXCEPTION 'vasscm: there is no outbox message %',
            array_to_string(ARRAY(SELECT i FROM unnest(ids) i WHERE i <> ALL (coalesce(found, '{}'))), ', ')
            USING ERRCODE = 'no_data_found';
    END IF;
    IF wake IS NOT NULL THEN
        PERFORM pg_notify('vasscm_outbox', t) FROM unnest(wake) t;
    END IF;
END
$$;

-- The first status of one message (see above).
CREATE FUNCTION _first_status(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._first_status(ARRAY[outbox_id], ARRAY[reason]);
END
$$;

-- Brings vasscm.outbox_open back in step with the outbox (after a status was changed by a
-- plain UPDATE instead of vasscm._set_status, or a restore that lacked it): every unsettled
-- message in it with its status, nothing else. Scans the whole outbox. Returns how many rows
-- it added, changed or removed.
CREATE FUNCTION _resync_open() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
    m bigint;
BEGIN
    INSERT INTO vasscm.outbox_open AS q (outbox_id, status, message_type, created_at)
    SELECT o.id, o.status, o.message_type, o.created_at FROM vasscm.outbox o WHERE vasscm._unsettled(o.status)
    ON CONFLICT ON CONSTRAINT outbox_open_pkey DO UPDATE SET status = EXCLUDED.status WHERE q.status IS DISTINCT FROM EXCLUDED.status;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM vasscm.outbox_open q
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.outbox o WHERE o.id = q.outbox_id AND vasscm._unsettled(o.status));
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;
COMMENT ON FUNCTION _resync_open() IS 'Admin: rebuilds vasscm.outbox_open from the outbox (after plain UPDATEs of outbox.status or a partial restore); returns how many rows changed.';

-- Checks and builds messages and inserts them into the outbox, in the order given ('invalid'
-- with reasons when bad): element i of each array is message i (see vasscm._enqueue). Each gets
-- its first status (vasscm._first_status; an invalid one's reason is what is wrong). Returns the
-- new messages' ids, in order.
CREATE FUNCTION _enqueue_many(message_types text[], datas jsonb[], modes text[], binding_ids int[], source_tables text[],
                              source_keys jsonb[], source_datas jsonb[], original_transaction_ids uuid[], order_keys text[],
                              reasons text[])
RETURNS SETOF bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    made bigint[];
    why  text[];
BEGIN
    -- vasscm.enqueueing tells the incident trigger (sql/incident.sql) a new message from a row
    -- restored by pg_dump, which brings its links with it
    PERFORM set_config('vasscm.enqueueing', 'on', true);
    WITH x AS (
        SELECT u.*, gen_random_uuid() AS tid
          FROM unnest(message_types, datas, modes, binding_ids, source_tables, source_keys, source_datas,
                      original_transaction_ids, order_keys, reasons) WITH ORDINALITY
               AS u(message_type, data, mode, binding_id, source_table, source_key, source_data, original_tid, order_key, reason, n)
    ), p AS MATERIALIZED (
        SELECT x.*, vasscm._prepare(x.message_type, x.data, x.tid::text) AS prep FROM x
    ), ins AS (
        INSERT INTO vasscm.outbox (transaction_id, message_type, status, mode, data, source_data, message, errors, binding_id,
                                   source_table, source_key, order_key, original_transaction_id, last_error)
        SELECT p.tid, p.message_type,
               CASE WHEN NOT (p.prep ->> 'valid')::boolean THEN 'invalid' WHEN p.mode = 'manual' THEN 'pending_approval' ELSE 'queued' END,
               p.mode, p.prep -> 'data', p.source_data, p.prep ->> 'message', p.prep -> 'errors', p.binding_id,
               p.source_table, p.source_key,
               coalesce(p.order_key, p.prep -> 'data' ->> 'SO_CONTAINER', p.prep -> 'data' ->> 'SO_VAN_DON',
                        p.prep -> 'data' ->> 'SO_TK', p.source_table || ' ' || p.source_key::text),
               p.original_tid,
               CASE WHEN NOT (p.prep ->> 'valid')::boolean THEN vasscm._errors_summary(p.prep -> 'errors') END
          FROM p ORDER BY p.n
        RETURNING id, transaction_id, status, last_error
    )
    SELECT array_agg(i.id ORDER BY i.id),
           array_agg(CASE WHEN i.status = 'invalid' THEN i.last_error ELSE p.reason END ORDER BY i.id)
      INTO made, why FROM ins i JOIN p ON p.tid = i.transaction_id;
    PERFORM set_config('vasscm.enqueueing', '', true);
    PERFORM vasscm._first_status(made, why);
    RETURN QUERY SELECT unnest(made);
END
$$;

-- Checks and builds a message and inserts it into the outbox ('invalid' with reasons when bad).
CREATE FUNCTION _enqueue(message_type text, data jsonb, mode text, binding_id int, source_table text, source_key jsonb,
                         source_data jsonb, original_transaction_id uuid, order_key text, reason text)
RETURNS outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    made bigint;
    r    vasscm.outbox;
BEGIN
    SELECT x INTO made FROM vasscm._enqueue_many(ARRAY[message_type], ARRAY[data], ARRAY[mode], ARRAY[binding_id],
                                                ARRAY[source_table], ARRAY[source_key], ARRAY[source_data],
                                                ARRAY[original_transaction_id], ARRAY[order_key], ARRAY[reason]) x;
    SELECT * INTO r FROM vasscm.outbox o WHERE o.id = made;
    RETURN r;
END
$$;

-- Checks and builds existing messages again (same transaction_id), e.g. after their data was
-- fixed: for each i, message ids[i] with datas[i] because of reasons[i] — invalid (with what is
-- wrong), pending approval (manual) or queued again, attempts reset. Returns each message's
-- new status.
CREATE FUNCTION _reprepare_many(ids bigint[], datas jsonb[], reasons text[])
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
CREATE FUNCTION _reprepare(outbox_id bigint, data jsonb, reason text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT r.status FROM vasscm._reprepare_many(ARRAY[outbox_id], ARRAY[data], ARRAY[reason]) r);
END
$$;

CREATE FUNCTION requeue(id bigint, data jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o vasscm.outbox;
BEGIN
    SELECT * INTO o FROM vasscm.outbox WHERE outbox.id = requeue.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no outbox message %', id USING ERRCODE = 'no_data_found';
    END IF;
    IF o.status = 'invalid' THEN
        RETURN vasscm._reprepare(o.id, coalesce(data, o.source_data, o.data), 'requeued');
    ELSIF o.status = 'dead' THEN
        IF data IS NOT NULL THEN
            RAISE EXCEPTION 'vasscm: message % is dead, not invalid: it is re-sent as it was (customs may have received it)', id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        UPDATE vasscm.outbox SET attempts = 0 WHERE outbox.id = o.id;
        SELECT x.to_status INTO o.status
          FROM vasscm._set_status(ARRAY[o.id], ARRAY[CASE WHEN o.mode = 'manual' THEN 'pending_approval' ELSE 'queued' END],
                                  ARRAY['requeued after giving up'], NULL, ARRAY[0::float8]) x;
        RETURN o.status;
    END IF;
    IF o.status = 'rejected' THEN
        RAISE EXCEPTION 'vasscm: message % is rejected, only invalid or dead messages can be re-queued', id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'customs rejected it: correct it with an amendment (16) or cancel it (17) through vasscm.enqueue';
    END IF;
    RAISE EXCEPTION 'vasscm: message % is %, only invalid or dead messages can be re-queued', id, o.status
        USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
COMMENT ON FUNCTION requeue(bigint, jsonb) IS 'Checks an invalid message again (with corrected data if given), or re-queues a dead one.';

CREATE FUNCTION approve(id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.outbox o WHERE o.id = approve.id AND o.status = 'pending_approval') THEN
        RAISE EXCEPTION 'vasscm: message % is not waiting for approval', id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT id, message_type, data FROM vasscm.outbox WHERE status = ''pending_approval''';
    END IF;
    PERFORM vasscm._set_status(id, 'queued', 'approved');
END
$$;
COMMENT ON FUNCTION approve(bigint) IS 'Manual mode: an operator approves sending a message.';

CREATE FUNCTION reject(id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o vasscm.outbox;
    f bigint;
BEGIN
    IF coalesce(trim(reason), '') = '' THEN
        RAISE EXCEPTION 'vasscm: a reason is required to reject a message' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO o FROM vasscm.outbox WHERE outbox.id = reject.id FOR UPDATE;
    IF NOT FOUND OR o.status NOT IN ('pending_approval', 'invalid') THEN
        RAISE EXCEPTION 'vasscm: message % is %, only messages waiting for approval or invalid can be rejected', id, coalesce(o.status, 'missing')
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM vasscm._set_status(o.id, 'cancelled', 'rejected by operator: ' || reason);
    -- Follow-ups of a message that will never be sent must not be sent either.
    FOR f IN SELECT x.id FROM vasscm.outbox x WHERE x.original_transaction_id = o.transaction_id
                AND x.status IN ('invalid', 'pending_approval', 'queued') LOOP
        PERFORM vasscm._set_status(f, 'cancelled', format('its original message %s was rejected by operator', o.id));
    END LOOP;
END
$$;
COMMENT ON FUNCTION reject(bigint, text) IS 'Manual mode: an operator declines to send a message (it becomes cancelled).';

CREATE FUNCTION enqueue(message_type text, data jsonb, mode text DEFAULT 'auto') RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r vasscm.outbox;
BEGIN
    IF mode IS NULL OR mode NOT IN ('auto', 'manual') THEN
        RAISE EXCEPTION 'vasscm: mode must be auto or manual, not %', mode USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.check_message_data(message_type, data)) THEN
        PERFORM vasscm.build_message(message_type, data);   -- raises one error listing every problem
    END IF;
    r := vasscm._enqueue(message_type, data, mode, NULL, NULL, NULL, NULL,
                           CASE WHEN data ->> 'TRANSACTION_ID_GOC' ~* '^[0-9a-f-]{36}$' THEN (data ->> 'TRANSACTION_ID_GOC')::uuid END,
                           NULL, format('enqueued by %s', session_user));
    -- An event reported by hand is in the ledger like a captured one; an amendment (16) or a
    -- cancellation (17) by hand corrects or undoes the gate-in it refers to.
    IF r.original_transaction_id IS NULL THEN
        PERFORM vasscm._record_movement(message_type, r.data, NULL, NULL, NULL, r.id);
    ELSIF message_type = '16' THEN
        PERFORM vasscm._correct_movement(o.id, r.data) FROM vasscm.outbox o WHERE o.transaction_id = r.original_transaction_id;
    ELSIF message_type = '17' THEN
        PERFORM vasscm._undo_movement(o.id, format('cancelled (17) by %s', session_user))
           FROM vasscm.outbox o WHERE o.transaction_id = r.original_transaction_id;
    END IF;
    RETURN r.transaction_id;
END
$$;
COMMENT ON FUNCTION enqueue(text, jsonb, text) IS 'Queues an ad-hoc message (raises when the data is invalid); returns its transaction_id.';
