-- Capture and interpretation: how a replicated TOS row change becomes ledger rows and messages.
--
-- Three stages, each in one place:
--   1. capture  — vasscm._capture_change(), the one trigger of a bound TOS table: records the
--                 row change (to_jsonb of the row) in vasscm.captured_change. One insert, in the
--                 TOS transaction, no subtransaction, nothing that can raise on the TOS's data.
--   2. interpret — vasscm.interpret(): takes the captured changes in order, evaluates every
--                 binding of the table on them (set-based, as the binding's owner), and decides
--                 what happened (vasscm._capture: a new event, a correction, an undone event,
--                 archiving, a re-delivered row) → ledger rows (sql/ledger.sql) and messages.
--                 A change that cannot be interpreted (a binding's expression raised) is kept in
--                 vasscm.capture_failure with the reason, as an 'invalid' message, and
--                 vasscm.reinterpret_failures() runs it again once the binding is fixed.
--   3. send     — the worker (sql/worker.sql), unchanged.
-- When: with vasscm.interpret = at_commit (the default) at the commit of the TOS transaction
-- (a deferred trigger); with async, by the job vasscm-interpret, the worker, and every gate
-- decision, which interprets what is pending before it answers: a worker that is down never
-- makes the gate blind.

CREATE TABLE captured_change (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      oid NOT NULL,
    op          "char" NOT NULL,   -- I, U, D
    new_row     jsonb,
    old_row     jsonb,
    captured_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE captured_change IS 'TOS row changes captured by the bound tables'' trigger, waiting to be interpreted (vasscm.interpret); empty when nothing is pending.';

-- With vasscm.interpret = at_commit, a transaction that captured changes leaves one row here
-- (its first capture does); a deferred trigger on it interprets at commit.
CREATE TABLE interpret_request (
    requested_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE interpret_request IS 'One row per transaction that captured changes to interpret at its commit (vasscm.interpret = at_commit); empty between transactions.';

-- Stage 1. The trigger function of every bound TOS table (one trigger per table, whatever the
-- number of bindings). TG_ARGV[0] = 'old' keeps the old row of an UPDATE too (a binding's
-- expressions read OLD.col). SECURITY DEFINER: TOS writers need no right on vasscm's tables.
-- One insert per row; the first capture of a transaction to interpret at commit also asks for
-- that (once per transaction, remembered in a transaction-local setting).
CREATE FUNCTION _capture_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO vasscm.captured_change (source, op, old_row) VALUES (TG_RELID, 'D', to_jsonb(OLD));
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO vasscm.captured_change (source, op, new_row) VALUES (TG_RELID, 'I', to_jsonb(NEW));
    ELSIF TG_NARGS > 0 THEN
        INSERT INTO vasscm.captured_change (source, op, new_row, old_row) VALUES (TG_RELID, 'U', to_jsonb(NEW), to_jsonb(OLD));
    ELSE
        INSERT INTO vasscm.captured_change (source, op, new_row) VALUES (TG_RELID, 'U', to_jsonb(NEW));
    END IF;
    IF current_setting('vasscm.interpret', true) IS DISTINCT FROM 'async'
       AND current_setting('vasscm.interpret_requested', true) IS DISTINCT FROM 'on' THEN
        PERFORM set_config('vasscm.interpret_requested', 'on', true);
        INSERT INTO vasscm.interpret_request DEFAULT VALUES;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION _capture_change() IS 'Capture trigger of bound TOS tables: one insert into vasscm.captured_change per row change.';

-- (Re)creates the capture trigger of a TOS table for its active bindings (or drops it when it
-- has none): AFTER the union of their events, keeping OLD when one of them reads it.
CREATE FUNCTION _refresh_capture_trigger(source regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ev       text[];
    keep_old boolean;
BEGIN
    SELECT array_agg(DISTINCT e ORDER BY e), bool_or(coalesce(b.condition, '') || b.mapping::text ~* '\mold\s*\.')
      INTO ev, keep_old
      FROM vasscm.binding b CROSS JOIN LATERAL unnest(b.events) e
     WHERE b.source = _refresh_capture_trigger.source AND b.active;
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = source AND t.tgname = 'vasscm_capture') THEN
        EXECUTE format('DROP TRIGGER vasscm_capture ON %s', source);
    END IF;
    IF ev IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TRIGGER vasscm_capture AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION vasscm._capture_change(%s)',
                   array_to_string(ev, ' OR '), source, CASE WHEN keep_old THEN '''old''' ELSE '' END);
    -- Fire for rows applied by logical replication too (session_replication_role = replica).
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER vasscm_capture', source);
END
$$;

-- Changes whose interpretation failed (a binding's expression raised on the row), kept with
-- the reason until vasscm.reinterpret_failures() runs them again.
CREATE TABLE capture_failure (
    change_id   bigint NOT NULL,
    source      oid NOT NULL,
    op          "char" NOT NULL,
    new_row     jsonb,
    old_row     jsonb,
    captured_at timestamptz NOT NULL,
    binding_id  int REFERENCES binding,
    error       text NOT NULL,
    outbox_id   bigint REFERENCES outbox,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (change_id, binding_id)
);
COMMENT ON TABLE capture_failure IS 'Captured TOS changes a binding could not interpret, with the reason; vasscm.reinterpret_failures() runs them again.';

-- A mapped change still to decide (vasscm._interpret_changes).
CREATE TYPE _interpretation AS (change_id bigint, binding_id int, op "char", ok boolean, data jsonb, key jsonb, error text,
                                sql_state text, new boolean);

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
CREATE FUNCTION _interpret_changes(ids bigint[], only_message_type text DEFAULT NULL) RETURNS int
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

-- One mapped change, decided by vasscm._capture for its binding. A failure (the binding's
-- expression raised, or deciding did) is recorded with its reason (vasscm._capture_failed).
CREATE FUNCTION _interpret_one(change_id bigint, binding_id int, op "char", ok boolean, data jsonb, key jsonb,
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
CREATE FUNCTION _capture_new_events(change_ids bigint[], binding_ids int[], ops "char"[], datas jsonb[], keys jsonb[])
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

-- The mapping of a batch of captured changes (ids, ops, new and old rows) by one binding, as
-- the binding's owner. A change whose expressions raise is mapped alone to find it, and comes
-- back with its error.
CREATE FUNCTION _map_changes(binding_id int, ids bigint[], ops "char"[], news jsonb[], olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb, error text, sql_state text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i int;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        RETURN QUERY EXECUTE format('SELECT m.change_id, m.op, m.ok, m.data, m.key, NULL::text, NULL::text FROM vasscm._binding_map_%s($1, $2, $3, $4) m', binding_id)
            USING ids, ops, news, olds;
        RETURN;
    EXCEPTION WHEN OTHERS THEN
        NULL;   -- one of the rows: map them one by one below
    END;
    FOR i IN 1 .. cardinality(ids) LOOP
        BEGIN
            RETURN QUERY EXECUTE format('SELECT m.change_id, m.op, m.ok, m.data, m.key, NULL::text, NULL::text FROM vasscm._binding_map_%s($1, $2, $3, $4) m', binding_id)
                USING ARRAY[ids[i]], ARRAY[ops[i]], ARRAY[news[i]], ARRAY[olds[i]];
        EXCEPTION WHEN OTHERS THEN
            change_id := ids[i]; op := ops[i]; ok := NULL; data := NULL; key := NULL;
            error := SQLERRM; sql_state := SQLSTATE;
            RETURN NEXT;
        END;
    END LOOP;
END
$$;

-- Interprets pending captured changes, oldest first, at most `max_changes` (all when NULL);
-- returns how many. One interpreter at a time (the others wait, then find nothing left).
CREATE FUNCTION interpret(max_changes int DEFAULT NULL) RETURNS bigint
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
COMMENT ON FUNCTION interpret(int) IS 'Interprets the captured TOS changes still pending (ledger rows and messages); returns how many. Run by the job vasscm-interpret, the worker and gate decisions when vasscm.interpret = async.';

-- With vasscm.interpret = at_commit: the changes of this transaction are interpreted when it
-- commits (or at the end of the statement with SET CONSTRAINTS … IMMEDIATE; the next capture
-- then asks again).
CREATE FUNCTION _interpret_at_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('vasscm.interpret_requested', '', true);
    DELETE FROM vasscm.interpret_request;
    BEGIN
        PERFORM vasscm.interpret();
    EXCEPTION WHEN OTHERS THEN
        -- Never fail the TOS's commit: the changes stay captured for vasscm.interpret().
        RAISE WARNING 'vasscm: interpreting at commit failed, the changes stay for vasscm.interpret(): %', SQLERRM;
    END;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER interpret_at_commit AFTER INSERT ON interpret_request
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION _interpret_at_commit();
ALTER TABLE interpret_request ENABLE ALWAYS TRIGGER interpret_at_commit;

-- Before a decision that reads the ledger: interprets whatever is pending (async mode, or
-- changes left by a failed commit-time interpretation).
CREATE FUNCTION _catch_up() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();
    END IF;
END
$$;

-- Runs failed changes again, after the binding was fixed (replaced by vasscm.unbind + vasscm.bind,
-- or the data it reads corrected): their 'invalid' messages are cancelled and each change is
-- interpreted again, in the original order, by the active bindings of its table for the form
-- that failed. `binding_id`: only the failures of that (old) binding. Returns how many.
CREATE FUNCTION reinterpret_failures(binding_id int DEFAULT NULL) RETURNS bigint
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
COMMENT ON FUNCTION reinterpret_failures(int) IS 'Admin: interprets again the captured changes a binding could not map (after fixing it); returns how many.';

-- Backups: captured changes not interpreted yet, and failures, are kept by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('vasscm.captured_change', '');
SELECT pg_catalog.pg_extension_config_dump('vasscm.captured_change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vasscm.capture_failure', '');
