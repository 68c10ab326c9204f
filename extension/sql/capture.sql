-- Capture: TOS rows → outbox messages, in the same transaction (transactional outbox).
--
-- Where does a gate-out become a message? Here: vasscm.bind() writes, per binding, a trigger
-- function that maps the replicated TOS row to catalogue fields and calls vasscm._capture(),
-- which decides between a new message, an amendment (16) or a cancellation (17) and calls
-- vasscm._enqueue(), which checks and builds the message (Rust: vasscm._prepare) and inserts
-- it into vasscm.outbox. Nothing here ever raises into the TOS replica's apply: bad data
-- becomes an 'invalid' outbox row with every reason.

CREATE TABLE binding (
    id           int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       regclass NOT NULL,
    message_type text NOT NULL,
    mapping      jsonb NOT NULL,
    events       text[] NOT NULL,
    condition    text,
    mode         text NOT NULL CHECK (mode IN ('auto', 'manual')),
    key_columns  text[],
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT session_user,
    unbound_at   timestamptz
);
COMMENT ON TABLE binding IS 'TOS tables bound to message types (vasscm.bind); unbound ones are kept for the record.';

-- Which message types are gate-ins that get amended / cancelled when their TOS row changes.
CREATE TABLE followup_rule (
    message_type text PRIMARY KEY,
    amend_type   text NOT NULL,
    cancel_type  text NOT NULL
);
COMMENT ON TABLE followup_rule IS 'Gate-in forms: corrections of their facts become amendments (amend_type), withdrawals cancellations (cancel_type). Gate-outs (21, 22) are withdrawn by CANCEL_PASSED.';
INSERT INTO followup_rule VALUES ('14', '16', '17'), ('15', '16', '17');

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
CREATE FUNCTION _capture(binding_id int, message_type text, mode text, source_table text, op text, data jsonb, source_key jsonb)
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

-- Called when a binding's trigger function failed (an expression raised, say): records the
-- row as an 'invalid' message so that nothing is lost and the DBA sees why.
CREATE FUNCTION _capture_failed(binding_id int, message_type text, source_table text, op text, sql_state text,
                                error text, row_data jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    detail text := format('the binding could not map the %s row: %s (SQLSTATE %s)', op, error, sql_state);
BEGIN
    PERFORM set_config('vasscm.status_reason', detail, true);
    PERFORM set_config('vasscm.enqueueing', 'on', true);
    INSERT INTO vasscm.outbox (transaction_id, message_type, status, data, errors, binding_id, source_table, last_error)
    VALUES (gen_random_uuid(), message_type, 'invalid', coalesce(row_data, '{}'),
            jsonb_build_array(jsonb_build_object('path', '', 'rule', 'capture', 'detail', detail)),
            binding_id, source_table, detail);
    PERFORM set_config('vasscm.enqueueing', '', true);
    PERFORM set_config('vasscm.status_reason', '', true);
END
$$;

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

CREATE FUNCTION bind(source regclass, message_type text, mapping jsonb, events text[] DEFAULT '{INSERT}',
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

CREATE FUNCTION unbind(binding_id int) RETURNS void
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
COMMENT ON FUNCTION unbind(int) IS 'Removes a binding''s trigger; its messages stay in the outbox.';

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
    RETURN r.transaction_id;
END
$$;
COMMENT ON FUNCTION enqueue(text, jsonb, text) IS 'Queues an ad-hoc message (raises when the data is invalid); returns its transaction_id.';
