-- vasscm 0.4.0 → 0.5.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- Interpretation of captured TOS changes, faster (issue: terminal operations):
-- 1. A gate event of a TOS identity vasscm never had a message for is made set-based with the
--    other new events of its batch: messages (vasscm._enqueue_many, which vasscm._enqueue now
--    calls with one) and ledger rows (vasscm._insert_movements) together.
-- 2. The maintained clearance state follows the ledger through statement triggers that skip a
--    position kept current (a yard move) and is recomputed once per interpreted batch.
-- 3. The live event of a message is found by two index conditions (movement_by_outbox on
--    (outbox_id, undone_at)); status changes are planned once per session.
-- Privileges end as at install: sql/roles.sql is applied again at the end.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.5.0'" to load this file. \quit

-- The ledger first: its triggers and an index change (interpreters wait the moment this takes).
LOCK TABLE vasscm.movement IN ACCESS EXCLUSIVE MODE;

-- 1. Messages, set-based ---------------------------------------------------------------------
-- The one way a message's status changes. For each i: message ids[i] goes to statuses[i]
-- because of reasons[i]; last_errors[i] sets its last error ('' clears it, NULL keeps it);
-- delays[i] (seconds) sets its next attempt to now() + delay (NULL keeps it). A message going to
-- 'sending' is leased to `worker` for lease_seconds and counts an attempt; any other status
-- drops the lease. Each change is recorded in vasscm.outbox_history (who, when, from, to, why;
-- a message whose status does not change gets no history row), vasscm.outbox_open follows,
-- and the workers are woken (NOTIFY vasscm_outbox) for messages now queued. The rows are
-- locked first; returns one row per message changed.
CREATE OR REPLACE FUNCTION _set_status(ids bigint[], statuses text[], reasons text[], last_errors text[] DEFAULT NULL,
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

-- Records the first status of messages just inserted into the outbox (by vasscm._enqueue_many,
-- or by any other code inserting a message): for each i, message ids[i]'s history row (why:
-- reasons[i]), its place in vasscm.outbox_open, the workers woken once per form now queued.
CREATE OR REPLACE FUNCTION _first_status(ids bigint[], reasons text[]) RETURNS void
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
CREATE OR REPLACE FUNCTION _first_status(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._first_status(ARRAY[outbox_id], ARRAY[reason]);
END
$$;

-- Checks and builds messages and inserts them into the outbox, in the order given ('invalid'
-- with reasons when bad): element i of each array is message i (see vasscm._enqueue). Each gets
-- its first status (vasscm._first_status; an invalid one's reason is what is wrong). Returns the
-- new messages' ids, in order.
CREATE OR REPLACE FUNCTION _enqueue_many(message_types text[], datas jsonb[], modes text[], binding_ids int[], source_tables text[],
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
CREATE OR REPLACE FUNCTION _enqueue(message_type text, data jsonb, mode text, binding_id int, source_table text, source_key jsonb,
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

-- 2. The ledger -----------------------------------------------------------------------------
DROP INDEX vasscm.movement_by_outbox;
-- (outbox_id, undone_at): the live event of a message is found by two index conditions, which
-- no plan of the ledger's statistics (behind within one large transaction) prefers to reading
-- a partial index of live events (movement_by_container) whole.
CREATE INDEX movement_by_outbox ON movement (outbox_id, undone_at);

-- New events, one per message just queued for them (in the order given; messages of forms that
-- report no physical event are skipped): the ledger row from the message's data, its binding,
-- TOS identity and mapped TOS data. Returns the new rows' ids.
CREATE OR REPLACE FUNCTION _insert_movements(outbox_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
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
    RETURNING movement.id
$$;

-- Records a physical event reported by the message `outbox_id` (whose data, binding, TOS
-- identity and mapped data are those given); returns the ledger row. An event of a TOS
-- identity (binding, source key) already in the ledger and not undone is that event, corrected
-- (its message may have been replaced: customs rejected it, an operator declined it).
CREATE OR REPLACE FUNCTION _record_movement(message_type text, data jsonb, binding_id int, source_table text, source_key jsonb,
                                 outbox_id bigint, source_data jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics: one index, never a scan of a partial one
DECLARE
    k  text := (SELECT m.kind FROM vasscm.movement_kind m WHERE m.message_type = _record_movement.message_type);
    id bigint;
BEGIN
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    IF binding_id IS NOT NULL AND source_key IS NOT NULL AND k IN ('gate_in', 'gate_out') THEN
        SELECT m.id INTO id FROM vasscm.movement m
         WHERE m.binding_id = _record_movement.binding_id AND m.source_key = _record_movement.source_key
           AND m.kind = k AND m.undone_at IS NULL
         LIMIT 1;   -- one live event per identity (no ORDER BY: never a walk of the primary key)
        IF id IS NOT NULL THEN
            PERFORM vasscm._correct_movement(m.outbox_id, data, outbox_id, source_data) FROM vasscm.movement m WHERE m.id = id;
            RETURN id;
        END IF;
    END IF;
    SELECT x INTO id FROM vasscm._insert_movements(ARRAY[outbox_id]) x;
    RETURN id;
END
$$;

-- The TOS corrected an event's facts: the ledger follows (and points at the message standing
-- for it now, if a new one replaced it).
CREATE OR REPLACE FUNCTION _correct_movement(outbox_id bigint, data jsonb, new_outbox_id bigint DEFAULT NULL,
                                  source_data jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics: one index, never a scan of a partial one
DECLARE
    c record := vasscm._movement_columns(data);
BEGIN
    UPDATE vasscm.movement m
       SET container_no = c.container_no, bl_no = c.bl_no, declarations = c.declarations, quantity = c.quantity,
           quantity_unit = c.quantity_unit, weight_kg = c.weight_kg, volume_m3 = c.volume_m3, vehicle = c.vehicle,
           vehicle_no = c.vehicle_no,
           seal = CASE WHEN m.kind = 'seal_change' THEN c.seal ELSE coalesce(data ->> 'SO_NIEM_PHONG_HQ', data ->> 'SO_NIEM_PHONG') END,
           happened_at = c.happened_at, facts = data, corrected_at = now(),
           source_data = coalesce(_correct_movement.source_data, m.source_data),
           outbox_id = coalesce(new_outbox_id, m.outbox_id)
     WHERE m.outbox_id = _correct_movement.outbox_id AND m.undone_at IS NULL;
END
$$;

-- The TOS undid an event (a truck turned back, a mistaken gate-in deleted): it no longer counts.
CREATE OR REPLACE FUNCTION _undo_movement(outbox_id bigint, reason text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
    UPDATE vasscm.movement m SET undone_at = now(), undone_reason = reason
     WHERE m.outbox_id = _undo_movement.outbox_id AND m.undone_at IS NULL
$$;

-- 3. Interpretation ---------------------------------------------------------------------------
-- A batch is passed by the ids of its captured changes (the rows are read once).
DROP FUNCTION _interpret_changes(captured_change[], text);
-- A mapped change still to decide (vasscm._interpret_changes).
CREATE TYPE _interpretation AS (change_id bigint, binding_id int, op "char", ok boolean, data jsonb, key jsonb, error text,
                                sql_state text, new boolean);

-- Stage 2 for one batch of captured changes (their ids): every active binding of each change's
-- table, gate-ins first and gate-outs last (a row first seen already gated in and out is both,
-- in that order), mapped set-based by vasscm._binding_map_N. Decided set-based here:
--   nothing  — a gate event's change that maps to the facts the ledger already holds for its
--              TOS identity (a yard move, an upsert replayed, a row re-delivered or reloaded),
--              with nothing else before it in the batch: the ledger's copy of the mapped row
--              follows (a position), first, in one statement;
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
    SET enable_seqscan = off SET jit = off AS $$
DECLARE
    todo vasscm._interpretation[];
    m    vasscm._interpretation;
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
    WITH c AS (SELECT x.id, x.source, x.op FROM vasscm.captured_change x WHERE x.id = ANY (ids)),
         bs AS (SELECT x.* FROM vasscm.binding x
                 WHERE x.active AND x.source::oid IN (SELECT DISTINCT c.source FROM c)
                   AND (only_message_type IS NULL OR x.message_type = only_message_type)),
         mapped AS (
            SELECT bs.id AS binding_id, bs.message_type AS form,
                   coalesce(bs.informational, vasscm._informational_fields(bs.message_type)) AS info,
                   coalesce(bs.condition, '') ~* '\mold\s*\.' AS reads_old, mp.*
              FROM bs
              CROSS JOIN LATERAL vasscm._map_changes(bs.id,
                    (SELECT array_agg(c.id ORDER BY c.id) FROM c
                      WHERE c.source = bs.source::oid
                        AND CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' ELSE 'DELETE' END = ANY (bs.events))) AS mp),
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
                   live.source_data, live.id AS movement_id
              FROM mapped
              LEFT JOIN LATERAL (SELECT mv.id, mv.source_data FROM vasscm.movement mv
                                  WHERE mv.binding_id = mapped.binding_id AND mv.source_key = mapped.key
                                    AND mv.undone_at IS NULL AND mapped.key IS NOT NULL
                                  LIMIT 1) live ON true),
         decided AS MATERIALIZED (
            SELECT judged.*,
                   bool_and(judged.same) OVER (PARTITION BY judged.binding_id, judged.key ORDER BY judged.change_id) AS nothing,
                   -- the binding's condition does not hold and nothing of this identity can be undone
                   -- (an insert, a delete, a row that never held, an identity vasscm never had a
                   -- message for): nothing to decide
                   judged.error IS NULL AND judged.ok IS NOT TRUE
                   AND (judged.op <> 'U' OR judged.form NOT IN ('14', '15', '21', '22') OR judged.reads_old
                        OR judged.key IS NULL OR judged.unknown) AS idle,
                   judged.unknown AND judged.ok IS TRUE AND judged.op IN ('I', 'U')
                   AND count(*) OVER (PARTITION BY judged.binding_id, judged.key) = 1 AS new,
                   CASE WHEN judged.form IN ('21', '22') THEN 2 WHEN judged.form IN ('14', '15') THEN 0 ELSE 1 END AS form_order
              FROM judged),
         -- nothing happened, but an informational field (a position) moved: the ledger's copy follows
         moved AS (
            UPDATE vasscm.movement mv SET source_data = x.data
              FROM (SELECT DISTINCT ON (d.movement_id) d.movement_id, d.data
                      FROM decided d
                     WHERE d.nothing AND d.data IS DISTINCT FROM d.source_data
                     ORDER BY d.movement_id, d.change_id DESC) x
             WHERE mv.id = x.movement_id)
    SELECT array_agg(ROW(d.change_id, d.binding_id, d.op, d.ok, d.data, d.key, d.error, d.sql_state, d.new)::vasscm._interpretation
                     ORDER BY d.change_id, d.form_order, d.binding_id)
      INTO todo
      FROM decided d WHERE NOT d.nothing AND NOT d.idle;
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

-- One mapped change, decided by vasscm._capture for its binding. A failure (the binding's
-- expression raised, or deciding did) is recorded with its reason (vasscm._capture_failed).
CREATE OR REPLACE FUNCTION _interpret_one(change_id bigint, binding_id int, op "char", ok boolean, data jsonb, key jsonb,
                               error text, sql_state text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bnd vasscm.binding;
BEGIN
    SELECT * INTO bnd FROM vasscm.binding x WHERE x.id = _interpret_one.binding_id;
    IF error IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = error, ERRCODE = coalesce(sql_state, 'XX000');
    END IF;
    IF ok IS TRUE AND op = 'D' THEN
        PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text, 'DELETE', data, key);
    ELSIF ok IS TRUE THEN
        PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text,
                                CASE op WHEN 'I' THEN 'INSERT' ELSE 'UPDATE' END, data, key);
    ELSIF op = 'U' AND bnd.message_type IN ('14', '15', '21', '22')
          AND coalesce(bnd.condition, '') !~* '\mold\s*\.' THEN
        -- A condition saying that the event happened is false again when the TOS undoes it.
        PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text, 'UNDONE', NULL, key);
    END IF;
EXCEPTION WHEN OTHERS THEN
    PERFORM vasscm._capture_failed(bnd.id, bnd.message_type, bnd.source::text, change_id, SQLSTATE, SQLERRM);
END
$$;

-- New gate events (TOS identities vasscm never had a message for), in capture order: their
-- messages (vasscm._enqueue_many) and ledger rows (vasscm._insert_movements) made together —
-- what vasscm._capture does for each, set-based. Should that fail, each is decided alone.
CREATE OR REPLACE FUNCTION _capture_new_events(change_ids bigint[], binding_ids int[], ops "char"[], datas jsonb[], keys jsonb[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    forms  text[];
    modes  text[];
    tables text[];
    i      int;
BEGIN
    SELECT array_agg(b.message_type ORDER BY u.n), array_agg(b.mode ORDER BY u.n), array_agg(b.source::text ORDER BY u.n)
      INTO forms, modes, tables
      FROM unnest(binding_ids) WITH ORDINALITY AS u(id, n) JOIN vasscm.binding b ON b.id = u.id;
    BEGIN
        PERFORM vasscm._insert_movements(ARRAY(
            SELECT vasscm._enqueue_many(forms, datas, modes, binding_ids, tables, keys, datas, NULL, NULL,
                       ARRAY(SELECT format('captured from %s (%s)', t, CASE o WHEN 'I' THEN 'INSERT' ELSE 'UPDATE' END)
                               FROM unnest(tables, ops) WITH ORDINALITY AS x(t, o, n) ORDER BY n))));
    EXCEPTION WHEN OTHERS THEN
        FOR i IN 1 .. cardinality(change_ids) LOOP
            PERFORM vasscm._interpret_one(change_ids[i], binding_ids[i], ops[i], true, datas[i], keys[i], NULL, NULL);
        END LOOP;
    END;
END
$$;

-- Interprets pending captured changes, oldest first, at most `max_changes` (all when NULL);
-- returns how many. One interpreter at a time (the others wait, then find nothing left).
CREATE OR REPLACE FUNCTION interpret(max_changes int DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    batch    bigint[];
    total    bigint := 0;
    step     int := 5000;
    deferred boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vasscm.interpret'));
    LOOP
        SELECT array_agg(c.id ORDER BY c.id) INTO batch
          FROM (SELECT x.id FROM vasscm.captured_change x ORDER BY x.id
                 LIMIT least(step, coalesce(max_changes - total, step))) c;
        EXIT WHEN batch IS NULL;
        -- the maintained clearance state of what the batch touched: recomputed once, at its end
        deferred := vasscm._clearance_defer();
        PERFORM vasscm._interpret_changes(batch);
        IF deferred THEN
            PERFORM vasscm._clearance_flush();
        END IF;
        DELETE FROM vasscm.captured_change WHERE id = ANY (batch);
        total := total + cardinality(batch);
        EXIT WHEN max_changes IS NOT NULL AND total >= max_changes;
    END LOOP;
    RETURN total;
END
$$;

-- Runs failed changes again, after the binding was fixed (replaced by vasscm.unbind + vasscm.bind,
-- or the data it reads corrected): their 'invalid' messages are cancelled and each change is
-- interpreted again, in the original order, by the active bindings of its table for the form
-- that failed. `binding_id`: only the failures of that (old) binding. Returns how many.
CREATE OR REPLACE FUNCTION reinterpret_failures(binding_id int DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f vasscm.capture_failure;
    n bigint := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vasscm.interpret'));
    FOR f IN SELECT * FROM vasscm.capture_failure cf
              WHERE reinterpret_failures.binding_id IS NULL OR cf.binding_id = reinterpret_failures.binding_id
              ORDER BY cf.change_id, cf.binding_id FOR UPDATE LOOP
        IF f.outbox_id IS NOT NULL THEN
            PERFORM vasscm._set_status(f.outbox_id, 'cancelled', 'interpreted again (vasscm.reinterpret_failures)');
        END IF;
        DELETE FROM vasscm.capture_failure cf WHERE cf.change_id = f.change_id AND cf.binding_id = f.binding_id;
        INSERT INTO vasscm.captured_change (id, source, op, new_row, old_row, captured_at) OVERRIDING SYSTEM VALUE
        VALUES (f.change_id, f.source, f.op, f.new_row, f.old_row, f.captured_at);
        PERFORM vasscm._interpret_changes(ARRAY[f.change_id], (SELECT b.message_type FROM vasscm.binding b WHERE b.id = f.binding_id));
        DELETE FROM vasscm.captured_change c WHERE c.id = f.change_id;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- 4. The maintained clearance state follows the ledger by statement ------------------------------
DROP TRIGGER clearance_event ON movement;
-- The rows of containers (see the head of this file), computed from the sources. Every lookup
-- is made per container through its index (LATERAL), so that recomputing one container is a
-- few index lookups and a whole rebuild is linear in the number of containers, whatever the
-- plan's estimate of the number of keys. (One generic plan per session: never planned again per
-- call, nor compiled by JIT.)
CREATE OR REPLACE FUNCTION _container_rows(keys text[]) RETURNS SETOF clearance_now
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off
    -- planned once per session, maybe when the tables were small: every table is reached by index
    -- from the keys asked for, never scanned whole (a scan per call grows with the port's history)
    SET enable_seqscan = off AS $$
DECLARE
    validity interval := make_interval(days => coalesce(vasscm._setting_value('scan_selection_validity_days'), '30')::int);
BEGIN
    RETURN QUERY
    WITH v AS MATERIALIZED (   -- per container: its current visit, the scan selections and seal changes of it
        SELECT k.container_no, gi.in_at, gi.call, po.prev_out, sc.until AS scan_until, sc.ok AS scan_ok,
               ch.ats AS ch_ats, ch.olds AS ch_olds, ch.news AS ch_news, cu.ats AS cu_ats, cu.olds AS cu_olds, cu.news AS cu_news,
               go.out_at
          FROM (SELECT DISTINCT x AS container_no FROM unnest(keys) AS x WHERE x IS NOT NULL) k
          -- the gate-in of the current visit, and the vessel call it came with
          LEFT JOIN LATERAL (SELECT m.happened_at AS in_at, vasscm._vessel_call_of(m.facts) AS call
                               FROM vasscm.movement m
                              WHERE m.container_no = k.container_no AND m.kind = 'gate_in' AND m.undone_at IS NULL
                              ORDER BY m.happened_at DESC, m.id DESC LIMIT 1) gi ON true
          -- the gate-out before it (an earlier visit), and the first one of this visit
          LEFT JOIN LATERAL (SELECT max(g.left_at) FILTER (WHERE g.left_at < gi.in_at) AS prev_out
                               FROM vasscm.gate_outs g WHERE g.container_no = k.container_no AND g.message_type = '21') po ON true
          LEFT JOIN LATERAL (SELECT min(g.left_at) FILTER (WHERE g.left_at >= coalesce(gi.in_at, '-infinity')) AS out_at
                               FROM vasscm.gate_outs g WHERE g.container_no = k.container_no AND g.message_type = '21') go ON true
          -- scan selections (03) of this visit: made after the previous gate-out, for the vessel call the box came with
          -- or within the validity before the visit began (with no visit known: until then)
          LEFT JOIN LATERAL (
              SELECT max(CASE WHEN gi.in_at IS NULL THEN s.selected_at + validity ELSE 'infinity' END) AS until,
                     bool_and(EXISTS (SELECT 1 FROM vasscm.scan_record r
                                       WHERE r.container_no = s.container_no AND r.scanned_at >= s.selected_at - interval '1 day'
                                         AND r.scanned_at > coalesce(po.prev_out, '-infinity'))) AS ok
                FROM vasscm.scan_selection s
               WHERE s.container_no = k.container_no AND s.selected_at > coalesce(po.prev_out, '-infinity')
                 AND (gi.in_at IS NULL OR s.selected_at >= gi.in_at - validity OR s.vessel_call = gi.call)) sc ON true
          -- seal changes (24) of this visit customs accepted, in order
          LEFT JOIN LATERAL (
              SELECT array_agg(m.happened_at ORDER BY m.happened_at, m.id) AS ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id) AS olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) AS news
                FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id AND o.status = 'accepted'
               WHERE m.container_no = k.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
                 AND m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU' AND m.happened_at >= coalesce(gi.in_at, '-infinity')) ch ON true
          LEFT JOIN LATERAL (
              SELECT array_agg(m.happened_at ORDER BY m.happened_at, m.id) AS ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id) AS olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) AS news
                FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id AND o.status = 'accepted'
               WHERE m.container_no = k.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
                 AND m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN' AND m.happened_at >= coalesce(gi.in_at, '-infinity')) cu ON true
    )
    -- one row per declaration of the container
    SELECT 'container'::text, c.container_no, c.declaration_no,
           (SELECT i.bl_no FROM vasscm.expected_item i WHERE i.container_no = c.container_no AND i.bl_no IS NOT NULL LIMIT 1),
           c.registered_on, c.customs_office, c.cargo_flow, c.channel, vasscm._channel_name(c.channel),
           CASE WHEN c.status = 'cancelled' THEN 'cancelled'
                WHEN NOT c.listed OR c.eligible_at IS NULL THEN 'not_eligible'
                WHEN c.status = 'suspended' THEN 'suspended'
                WHEN c.gone_at IS NOT NULL OR c.earlier THEN 'passed'
                ELSE 'eligible' END,
           c.scan_until, coalesce(c.scan_ok, false),
           CASE WHEN c.ch_ats IS NULL THEN c.carrier_seal ELSE vasscm._seal_after_changes(c.carrier_seal, c.set_at, c.ch_ats, c.ch_olds, c.ch_news) END,
           CASE WHEN c.cu_ats IS NULL THEN c.customs_seal ELSE vasscm._seal_after_changes(c.customs_seal, c.set_at, c.cu_ats, c.cu_olds, c.cu_news) END,
           1::numeric, CASE WHEN c.gone_at IS NOT NULL OR c.earlier THEN 1 ELSE 0 END::numeric,
           NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
           CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN c.status_by
                WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by ELSE c.eligible_by END,
           CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN '06'
                WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by_form ELSE c.eligible_form END,
           c.eligible_at, c.status_at, c.status_reason, greatest(c.updated_at, c.set_at),
           NULL::text, c.in_at, CASE WHEN c.gone_at IS NOT NULL THEN c.gone_at WHEN c.earlier THEN c.prev_out END,
           c.status, c.listed, c.listed AND c.eligible_at IS NOT NULL AND NOT c.earlier, c.gone_at IS NOT NULL, c.earlier, c.set_at,
           NULL::text
      FROM (SELECT v.*, dc.declaration_no, dc.carrier_seal, dc.customs_seal, dc.listed, dc.set_at, dc.set_by, dc.set_by_form,
                   d.registered_on, d.customs_office, d.cargo_flow, d.channel, d.eligible_form, d.eligible_at, d.eligible_by,
                   d.status, d.status_at, d.status_by, d.status_reason, d.updated_at,
                   (v.prev_out IS NOT NULL AND dc.set_at <= v.prev_out) AS earlier,
                   -- gone in this visit: a gate-out (21) of it listing this declaration, or none (an empty box)
                   (SELECT min(g.left_at) FROM vasscm.gate_outs g
                     WHERE g.container_no = v.container_no AND g.message_type = '21'
                       AND (g.left_at >= coalesce(v.in_at, '-infinity')) IS TRUE   -- (by the container's index, never by time)
                       AND (dc.declaration_no = ANY (g.declarations) OR cardinality(g.declarations) = 0)) AS gone_at
              FROM v
              JOIN LATERAL (SELECT x.* FROM vasscm.declaration_container x WHERE x.container_no = v.container_no) dc ON true
              JOIN vasscm.declaration d ON d.declaration_no = dc.declaration_no) c
    UNION ALL
    -- on a current expected list (01, 08), no declaration yet
    SELECT 'container', v.container_no, NULL, i.bl_no, NULL, i.customs_office, i.cargo_flow, NULL, NULL, 'not_eligible',
           v.scan_until, coalesce(v.scan_ok, false), i.carrier_seal, i.customs_seal, 1, 0, i.weight_kg, NULL, NULL, NULL,
           i.transaction_id, i.form, NULL, NULL, NULL, i.received_at, NULL, v.in_at, v.out_at,
           NULL, NULL, false, v.out_at IS NOT NULL, false, NULL, NULL
      FROM v
      JOIN LATERAL (SELECT x.bl_no, x.carrier_seal, x.customs_seal, x.weight_kg, l.customs_office, l.cargo_flow, l.transaction_id,
                           l.form, l.received_at
                      FROM vasscm.expected_item x JOIN vasscm.expected_list l ON l.transaction_id = x.list_id AND l.current
                     WHERE x.container_no = v.container_no) i ON true
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = v.container_no)
    UNION ALL
    -- known to the port (the ledger, a scan) or selected for scanning, nothing else from customs
    SELECT 'container', v.container_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'unknown',
           v.scan_until, coalesce(v.scan_ok, false), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, v.in_at, v.out_at,
           NULL, NULL, false, v.out_at IS NOT NULL, false, NULL, NULL
      FROM v
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = v.container_no)
       AND NOT EXISTS (SELECT 1 FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                        WHERE i.container_no = v.container_no)
       AND (v.in_at IS NOT NULL OR v.scan_until IS NOT NULL
            OR EXISTS (SELECT 1 FROM vasscm.movement m WHERE m.container_no = v.container_no)
            OR EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = v.container_no)
            OR EXISTS (SELECT 1 FROM vasscm.scan_record r WHERE r.container_no = v.container_no));
END
$$;

-- The rows of bulk declarations × B/L: declared maxima (05) and what left (22 trips in the
-- ledger, whatever their message's status). Quantities are added in the declared unit: a trip
-- in a unit that converts (kg / t, m3 / l) is converted, one in a unit that does not (pallets
-- against packages) is not counted in quantity_out (quantity_out_other says what it was).
CREATE OR REPLACE FUNCTION _bulk_rows(declarations text[]) RETURNS SETOF clearance_now
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off
    -- planned once per session, maybe when the tables were small: every table is reached by index
    -- from the keys asked for, never scanned whole (a scan per call grows with the port's history)
    SET enable_seqscan = off AS $$
BEGIN
    RETURN QUERY
    SELECT 'bulk'::text, NULL::text, b.declaration_no, b.bl_no, d.registered_on, d.customs_office, d.cargo_flow, d.channel,
           vasscm._channel_name(d.channel),
           CASE WHEN d.status = 'cancelled' THEN 'cancelled'
                WHEN d.eligible_at IS NULL THEN 'not_eligible'
                WHEN d.status = 'suspended' THEN 'suspended'
                WHEN (b.quantity IS NOT NULL OR b.weight_kg IS NOT NULL OR b.volume_m3 IS NOT NULL)
                 AND (b.quantity IS NULL OR coalesce(o.q, 0) >= b.quantity)
                 AND (b.weight_kg IS NULL OR coalesce(o.w, 0) >= b.weight_kg)
                 AND (b.volume_m3 IS NULL OR coalesce(o.v, 0) >= b.volume_m3) THEN 'passed'
                ELSE 'eligible' END,
           NULL::timestamptz, false, NULL::text, NULL::text,
           b.quantity, coalesce(o.q, 0), b.weight_kg, coalesce(o.w, 0), b.volume_m3, coalesce(o.v, 0),
           CASE WHEN d.status <> 'active' AND d.status_at IS NOT NULL THEN d.status_by ELSE b.set_by END,
           CASE WHEN d.status <> 'active' AND d.status_at IS NOT NULL THEN '06' ELSE '05' END,
           d.eligible_at, d.status_at, d.status_reason, greatest(d.updated_at, b.set_at),
           b.quantity_unit, NULL::timestamptz, o.last_at,
           d.status, NULL::boolean, d.eligible_at IS NOT NULL, false, false, b.set_at, o.other
      FROM vasscm.declaration_bulk b
      JOIN vasscm.declaration d ON d.declaration_no = b.declaration_no
      LEFT JOIN LATERAL (
          SELECT sum(vasscm._in_unit(g.quantity, g.quantity_unit, b.quantity_unit)) AS q, sum(g.weight_kg) AS w,
                 sum(g.volume_m3) AS v, max(g.left_at) AS last_at,
                 (SELECT string_agg(vasscm._fmt(x.q) || ' ' || x.u, ', ' ORDER BY x.u)
                    FROM (SELECT vasscm._unit(g2.quantity_unit) AS u, sum(g2.quantity) AS q
                            FROM vasscm.gate_outs g2
                           WHERE g2.message_type = '22' AND g2.bl_no = b.bl_no AND b.declaration_no = ANY (g2.declarations)
                             AND g2.quantity IS NOT NULL AND vasscm._in_unit(g2.quantity, g2.quantity_unit, b.quantity_unit) IS NULL
                           GROUP BY 1) x) AS other
            FROM vasscm.gate_outs g
           WHERE g.message_type = '22' AND g.bl_no = b.bl_no AND b.declaration_no = ANY (g.declarations)) o ON true
     WHERE b.declaration_no = ANY (declarations);
END
$$;

-- Recomputes the rows of these containers and bulk declarations now. Their keys are locked for
-- the transaction first, so that two transactions touching the same container recompute one
-- after the other, each from what the other committed. The locks are 128 stripes of the keys
-- (a transaction interpreting 10,000 TOS rows holds at most 256 advisory locks), taken in order.
CREATE OR REPLACE FUNCTION _refresh_clearance(containers text[], declarations text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off
    SET enable_seqscan = off AS $$   -- the keys' rows by index, whatever the state's size when the plan was made
DECLARE
    c text[] := ARRAY(SELECT DISTINCT x FROM unnest(containers) x WHERE x IS NOT NULL);
    d text[] := ARRAY(SELECT DISTINCT x FROM unnest(declarations) x WHERE x IS NOT NULL);
BEGIN
    IF cardinality(c) > 0 THEN
        PERFORM pg_advisory_xact_lock(5510, s) FROM (SELECT DISTINCT hashtext(x) & 127 AS s FROM unnest(c) x ORDER BY 1) k;
        DELETE FROM vasscm.clearance_now n WHERE n.container_no = ANY (c) AND n.cargo_kind = 'container';
        INSERT INTO vasscm.clearance_now SELECT * FROM vasscm._container_rows(c);
    END IF;
    IF cardinality(d) > 0 THEN
        PERFORM pg_advisory_xact_lock(5511, s) FROM (SELECT DISTINCT hashtext(x) & 127 AS s FROM unnest(d) x ORDER BY 1) k;
        DELETE FROM vasscm.clearance_now n WHERE n.declaration_no = ANY (d) AND n.cargo_kind = 'bulk';
        INSERT INTO vasscm.clearance_now SELECT * FROM vasscm._bulk_rows(d);
    END IF;
END
$$;

-- The outbox: a seal change (24) or a CANCEL_PASSED settled changes what the gate expects.
CREATE OR REPLACE FUNCTION _clearance_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.message_type = '24' THEN
        PERFORM vasscm._clearance_touch(ARRAY[NEW.data ->> 'SO_CONTAINER'], NULL);
    ELSE   -- CANCEL_PASSED: the gate-out it cancels counts no more, or again
        PERFORM vasscm._clearance_touch(ARRAY[NEW.data ->> 'SO_CONTAINER'],
            ARRAY(SELECT b.declaration_no FROM vasscm.declaration_bulk b WHERE b.bl_no = vasscm._norm(NEW.data ->> 'SO_VAN_DON')));
    END IF;
    RETURN NULL;
END
$$;

-- The ledger: the containers (and, for bulk trips, declarations) of the events a statement
-- inserted, deleted, or changed in anything clearance reads — not a position kept current in
-- source_data (a yard move), which touches nothing.
CREATE OR REPLACE FUNCTION _clearance_movement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text[];
    d text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.container_no), array_agg(x) FILTER (WHERE x IS NOT NULL)
          INTO c, d FROM new_rows n LEFT JOIN LATERAL unnest(CASE WHEN n.message_type = '22' THEN n.declarations END) x ON true;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.container_no), array_agg(x) FILTER (WHERE x IS NOT NULL)
          INTO c, d FROM old_rows o LEFT JOIN LATERAL unnest(CASE WHEN o.message_type = '22' THEN o.declarations END) x ON true;
    ELSE
        WITH changed AS (
            SELECT n.container_no AS new_c, o.container_no AS old_c,
                   CASE WHEN n.message_type = '22' THEN n.declarations END || CASE WHEN o.message_type = '22' THEN o.declarations END AS ds
              FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE (n.kind, n.message_type, n.container_no, n.bl_no, n.declarations, n.quantity, n.quantity_unit, n.weight_kg,
                    n.volume_m3, n.vehicle, n.vehicle_no, n.seal, n.happened_at, n.facts, n.outbox_id, n.undone_at)
                   IS DISTINCT FROM
                   (o.kind, o.message_type, o.container_no, o.bl_no, o.declarations, o.quantity, o.quantity_unit, o.weight_kg,
                    o.volume_m3, o.vehicle, o.vehicle_no, o.seal, o.happened_at, o.facts, o.outbox_id, o.undone_at))
        SELECT array_agg(k), (SELECT array_agg(x) FROM changed, unnest(changed.ds) x)
          INTO c, d FROM changed, LATERAL (VALUES (changed.new_c), (changed.old_c)) v(k);
    END IF;
    IF c IS NOT NULL OR d IS NOT NULL THEN
        PERFORM vasscm._clearance_touch(c, d);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER clearance_ins AFTER INSERT ON movement REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
CREATE TRIGGER clearance_upd AFTER UPDATE ON movement REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
CREATE TRIGGER clearance_del AFTER DELETE ON movement REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_ins;
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_upd;
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_del;

-- Privileges as at install (sql/roles.sql).
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
                vasscm.movement, vasscm.movement_kind, vasscm.captured_change, vasscm.capture_failure
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
