-- The outbox: one row per message to customs, its status history and the operator's actions.
--
-- vasscm._enqueue() checks and builds a message (Rust: vasscm._prepare) and inserts it;
-- 'invalid' with every reason when the data is bad. Status changes are recorded in
-- vasscm.outbox_history (append-only, hash-chained by sql/audit.sql).

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
);
COMMENT ON TABLE outbox IS 'One row per VASSCM message; transaction_id is the idempotency key customs sees.';
COMMENT ON COLUMN outbox.source_data IS 'The mapped TOS data as captured (compared to detect amendments).';
COMMENT ON COLUMN outbox.order_key IS 'Messages with the same key (container, B/L, declaration) are sent in id order.';
COMMENT ON COLUMN outbox.original_transaction_id IS 'For amendments and cancellations: the message they refer to; never sent before it.';
CREATE INDEX outbox_ready ON outbox (id) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_by_source ON outbox (binding_id, source_key, message_type) WHERE binding_id IS NOT NULL;
CREATE INDEX outbox_by_order ON outbox (order_key, id);
CREATE INDEX outbox_by_original ON outbox (original_transaction_id) WHERE original_transaction_id IS NOT NULL;

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

-- History and wake-up. ENABLE ALWAYS: these must also fire inside the logical replication
-- apply worker (session_replication_role = replica), where captures happen.
CREATE FUNCTION _outbox_status_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- A row restored by pg_dump (COPY, not vasscm._enqueue) brings its history with it.
    IF TG_OP = 'INSERT' AND current_setting('vasscm.enqueueing', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO vasscm.outbox_history (outbox_id, transaction_id, from_status, to_status, reason)
    VALUES (NEW.id, NEW.transaction_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
            nullif(current_setting('vasscm.status_reason', true), ''));
    IF NEW.status = 'queued' THEN
        PERFORM pg_notify('vasscm_outbox', NEW.message_type);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_status_inserted AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION _outbox_status_changed();
CREATE TRIGGER outbox_status_updated AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION _outbox_status_changed();
ALTER TABLE outbox ENABLE ALWAYS TRIGGER outbox_status_inserted;
ALTER TABLE outbox ENABLE ALWAYS TRIGGER outbox_status_updated;

CREATE FUNCTION _errors_summary(errors jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) || ' problem(s): ' || string_agg(format('%s: %s: %s', e ->> 'path', e ->> 'rule', e ->> 'detail'), '; ')
      FROM jsonb_array_elements(errors) AS e
$$;

-- Changes a message's status, recording why in the history.
CREATE FUNCTION _set_status(outbox_id bigint, status text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('vasscm.status_reason', coalesce(reason, ''), true);
    UPDATE vasscm.outbox o SET status = _set_status.status, updated_at = now(),
                               last_error = CASE WHEN _set_status.status IN ('cancelled', 'invalid') THEN reason ELSE o.last_error END
     WHERE o.id = outbox_id;
    PERFORM set_config('vasscm.status_reason', '', true);
END
$$;

-- Checks and builds a message and inserts it into the outbox ('invalid' with reasons when bad).
CREATE FUNCTION _enqueue(message_type text, data jsonb, mode text, binding_id int, source_table text, source_key jsonb,
                         source_data jsonb, original_transaction_id uuid, order_key text, reason text)
RETURNS outbox
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tid  uuid := gen_random_uuid();
    prep jsonb := vasscm._prepare(message_type, data, tid::text);
    st   text;
    r    vasscm.outbox;
BEGIN
    st := CASE WHEN NOT (prep ->> 'valid')::boolean THEN 'invalid'
               WHEN mode = 'manual' THEN 'pending_approval'
               ELSE 'queued' END;
    PERFORM set_config('vasscm.status_reason',
                       CASE WHEN st = 'invalid' THEN vasscm._errors_summary(prep -> 'errors') ELSE reason END, true);
    PERFORM set_config('vasscm.enqueueing', 'on', true);
    INSERT INTO vasscm.outbox (transaction_id, message_type, status, mode, data, source_data, message, errors, binding_id,
                               source_table, source_key, order_key, original_transaction_id, last_error)
    VALUES (tid, message_type, st, mode, prep -> 'data', source_data, prep ->> 'message', prep -> 'errors', binding_id,
            source_table, source_key,
            coalesce(order_key, prep -> 'data' ->> 'SO_CONTAINER', prep -> 'data' ->> 'SO_VAN_DON',
                     prep -> 'data' ->> 'SO_TK', source_table || ' ' || source_key::text),
            original_transaction_id,
            CASE WHEN st = 'invalid' THEN vasscm._errors_summary(prep -> 'errors') END)
    RETURNING * INTO r;
    PERFORM set_config('vasscm.enqueueing', '', true);
    PERFORM set_config('vasscm.status_reason', '', true);
    RETURN r;
END
$$;

-- Checks and builds an existing message again (same transaction_id), e.g. after its data was fixed.
CREATE FUNCTION _reprepare(outbox_id bigint, data jsonb, reason text) RETURNS text
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
        PERFORM set_config('vasscm.status_reason', 'requeued after giving up', true);
        UPDATE vasscm.outbox SET status = CASE WHEN mode = 'manual' THEN 'pending_approval' ELSE 'queued' END,
                                 attempts = 0, next_attempt_at = now(), lease_until = NULL, updated_at = now()
         WHERE outbox.id = o.id RETURNING status INTO o.status;
        PERFORM set_config('vasscm.status_reason', '', true);
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
