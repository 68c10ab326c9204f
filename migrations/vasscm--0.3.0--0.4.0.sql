-- vasscm 0.3.0 → 0.4.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- 1. Capture in three stages: one capture trigger per bound table (one insert into
--    vasscm.captured_change), interpretation at commit or asynchronously (vasscm.interpret),
--    the port movement ledger (vasscm.movement) built from the outbox already there; bindings
--    declare identity and informational fields; failed mappings kept and re-runnable.
-- 2. Gate decisions on the ledger: visits, units, seals as identifiers, scan selections per
--    visit, deadlines from when goods left, the maintained state vasscm.clearance_now,
--    settings validated as data (vasscm.setting_rule).
-- 3. The worker: claims from vasscm.outbox_open, batched log and reply writes, one status
--    function writing history explicitly, record_reply with the worker's retry policy.
-- 4. Camera gates (sql/camera.sql) and the role vasscm_camera.
-- Privileges end as at install: sql/roles.sql is applied again at the end.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.4.0'" to load this file. \quit

-- The bound TOS tables first: this update replaces their capture triggers and changes the
-- outbox their old triggers write. Taking the TOS tables' locks before anything else (their
-- writers wait the few seconds the update takes) avoids a deadlock with TOS writers under way.
DO $lock$
DECLARE
    r regclass;
BEGIN
    FOR r IN SELECT DISTINCT b.source FROM vasscm.binding b WHERE b.active ORDER BY 1 LOOP
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', r);
    END LOOP;
END
$lock$;

-- 1. Customs' messages ----------------------------------------------------------------------
-- Functions whose signature changed, and one that is gone.
DROP FUNCTION vasscm._informational_fields();
DROP FUNCTION vasscm._withdraw_seal_amendments(text, text);
DROP FUNCTION vasscm.record_reply(uuid, text, int, text);

-- Customs' reply (form 200 accepted / 299 rejected) to a message. `reply` is the document the
-- worker verified (the signed content, canonical); `signed` the body as received, which is what
-- the log keeps. An unusable reply (not XML, hostile, not from customs to this port, not a
-- reply to this message) is logged and the message retried.
CREATE OR REPLACE FUNCTION record_reply(transaction_id uuid, reply text, http_status int DEFAULT 200, signed text DEFAULT NULL,
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

-- Claims up to batch_size messages that may be sent now, in order: nothing whose earlier
-- message for the same container / B/L / declaration is still waiting, and no amendment or
-- cancellation before its original was sent (a dead original holds its follow-ups until it is
-- requeued and sent). Expired leases (a crashed worker) come back.
CREATE OR REPLACE FUNCTION claim(worker text, batch_size int DEFAULT 10, lease_seconds int DEFAULT 60) RETURNS SETOF outbox
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

ALTER FUNCTION vasscm.record_reply(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;

REVOKE ALL ON FUNCTION vasscm._customs_header_problem(jsonb), vasscm.record_reply(uuid, text, int, text, int, float8, float8),
                       vasscm.record_refused(text, text, text), vasscm.receive(text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION vasscm.record_reply(uuid, text, int, text, int, float8, float8), vasscm.record_refused(text, text, text),
                          vasscm.receive(text, text)
   TO vasscm_worker;

-- 6. The port movement ledger and capture in three stages (sql/ledger.sql, sql/interpret.sql):
--    the bound tables' triggers only record the row change (one insert); interpretation
--    (at commit by default, or by vasscm.interpret() with vasscm.interpret = async) writes the
--    ledger and the messages. Bindings declare their identity and informational fields.
ALTER TABLE binding ADD COLUMN informational text[];

COMMENT ON COLUMN binding.key_columns IS 'The business identity of the binding''s events: the TOS columns naming one event however the row arrives (DELETE + INSERT, TRUNCATE + reload); by default the primary key or replica identity.';

COMMENT ON COLUMN binding.informational IS 'Mapped fields whose change alone is never a follow-up (positions, states); NULL: vasscm._informational_fields(message_type).';

-- The port movement ledger: one row per physical event in the yard (a gate-in, a gate-out
-- trip, a seal change, a strip, a stuff), written when captured TOS changes are interpreted
-- (sql/interpret.sql), with what customs cares about and the TOS identity it came from.
--
-- It is the truth of what happened, independent of the state of any message: a gate-out
-- counts whether its 21 / 22 is queued, dead, rejected or invalid. A correction in the TOS
-- (a weighbridge ticket, a typed B/L) changes the row (the ledger follows the TOS); an event
-- undone in the TOS (a truck turned back, a mistaken gate-in) is marked undone; the TOS
-- archiving finished moves changes nothing. `outbox_id` is the message standing for the event
-- now (messages reference ledger rows through it; a corrected gate-out moves it to the new one).

-- Which port → customs forms report a physical event, and of what kind.
CREATE TABLE movement_kind (
    message_type text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('gate_in', 'gate_out', 'seal_change', 'strip', 'stuff'))
);

COMMENT ON TABLE movement_kind IS 'The forms that report a physical event (gate-in 14/15, gate-out 21/22, seal change 24, strip 20, stuff 23) and its kind in the movement ledger.';

INSERT INTO movement_kind VALUES ('14', 'gate_in'), ('15', 'gate_in'), ('21', 'gate_out'), ('22', 'gate_out'),
                                 ('24', 'seal_change'), ('20', 'strip'), ('23', 'stuff');

CREATE TABLE movement (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('gate_in', 'gate_out', 'seal_change', 'strip', 'stuff')),
    message_type  text NOT NULL,
    container_no  text,
    bl_no         text,
    declarations  text[] NOT NULL DEFAULT '{}',
    quantity      numeric,
    quantity_unit text,
    weight_kg     numeric,
    volume_m3     numeric,
    vehicle       text,
    vehicle_no    text,
    seal          text,
    happened_at   timestamptz NOT NULL,
    facts         jsonb NOT NULL,
    source_data   jsonb,
    binding_id    int REFERENCES binding,
    source_table  text,
    source_key    jsonb,
    outbox_id     bigint REFERENCES outbox,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    corrected_at  timestamptz,
    undone_at     timestamptz,
    undone_reason text
);

COMMENT ON TABLE movement IS 'Port movement ledger: one row per physical event (gate-in, gate-out trip, seal change, strip, stuff), as the TOS says it happened, whatever became of its message.';

COMMENT ON COLUMN movement.facts IS 'The event''s data as it stands now (after corrections), as checked for its message.';

COMMENT ON COLUMN movement.source_data IS 'The binding''s mapping of the TOS row as last interpreted: a change mapping to the same facts (a yard move, a re-delivered row) is nothing.';

COMMENT ON COLUMN movement.outbox_id IS 'The message standing for the event now (a corrected gate-out: the corrected one).';

COMMENT ON COLUMN movement.undone_at IS 'Set when the TOS undid the event (truck turned back, mistaken gate-in deleted); an undone event does not count.';

CREATE INDEX movement_by_container ON movement (container_no, kind) WHERE undone_at IS NULL;

CREATE INDEX movement_by_bl ON movement (bl_no, kind) WHERE undone_at IS NULL AND bl_no IS NOT NULL;

CREATE INDEX movement_by_source ON movement (binding_id, source_key) WHERE binding_id IS NOT NULL;

CREATE INDEX movement_by_outbox ON movement (outbox_id);

-- The ledger columns of an event from its mapped (catalogue) data.
CREATE OR REPLACE FUNCTION _movement_columns(data jsonb, OUT container_no text, OUT bl_no text, OUT declarations text[],
                                  OUT quantity numeric, OUT quantity_unit text, OUT weight_kg numeric, OUT volume_m3 numeric,
                                  OUT vehicle text, OUT vehicle_no text, OUT seal text, OUT happened_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    container_no := data ->> 'SO_CONTAINER';
    bl_no := vasscm._norm(data ->> 'SO_VAN_DON');
    declarations := ARRAY(SELECT DISTINCT d FROM (
                        SELECT upper(trim(x)) AS d FROM jsonb_array_elements_text(
                            CASE jsonb_typeof(data -> 'LIST_TK') WHEN 'array' THEN data -> 'LIST_TK' ELSE '[]' END) x
                        UNION ALL SELECT upper(trim(data ->> 'SO_TK'))) s WHERE coalesce(d, '') <> '');
    vehicle := data ->> 'PHUONG_TIEN';
    vehicle_no := data ->> 'SO_PHUONG_TIEN';
    seal := coalesce(data ->> 'NIEM_PHONG_MOI', data ->> 'SO_NIEM_PHONG_HQ', data ->> 'SO_NIEM_PHONG');
    quantity_unit := nullif(upper(trim(data ->> 'DVT_SO_LUONG')), '');
    BEGIN
        quantity := (data ->> 'SO_LUONG')::numeric;
        weight_kg := vasscm._kg((data ->> 'TRONG_LUONG')::numeric, data ->> 'DVT_TRONG_LUONG');
        volume_m3 := (data ->> 'THE_TICH_M3')::numeric;
    EXCEPTION WHEN invalid_text_representation THEN
        NULL;   -- the message is invalid anyway (its checks say why); the ledger keeps what it can read
    END;
    BEGIN
        happened_at := (data ->> 'THOI_GIAN')::timestamptz;
    EXCEPTION WHEN OTHERS THEN
        happened_at := NULL;
    END;
    happened_at := coalesce(happened_at, now());
END
$$;

-- Records a physical event; returns the ledger row. An event of a TOS identity (binding,
-- source key) already in the ledger and not undone is that event, corrected (its message may
-- have been replaced: customs rejected it, an operator declined it).
CREATE OR REPLACE FUNCTION _record_movement(message_type text, data jsonb, binding_id int, source_table text, source_key jsonb,
                                 outbox_id bigint, source_data jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics
DECLARE
    k  text := (SELECT m.kind FROM vasscm.movement_kind m WHERE m.message_type = _record_movement.message_type);
    c  record;
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
    c := vasscm._movement_columns(data);
    INSERT INTO vasscm.movement (kind, message_type, container_no, bl_no, declarations, quantity, quantity_unit, weight_kg,
                                 volume_m3, vehicle, vehicle_no, seal, happened_at, facts, source_data, binding_id, source_table,
                                 source_key, outbox_id)
    VALUES (k, message_type, c.container_no, c.bl_no, c.declarations, c.quantity, c.quantity_unit, c.weight_kg,
            c.volume_m3, c.vehicle, c.vehicle_no, c.seal, c.happened_at, data, source_data, binding_id, source_table,
            source_key, outbox_id)
    RETURNING movement.id INTO id;
    RETURN id;
END
$$;

-- The TOS corrected an event's facts: the ledger follows (and points at the message standing
-- for it now, if a new one replaced it).
CREATE OR REPLACE FUNCTION _correct_movement(outbox_id bigint, data jsonb, new_outbox_id bigint DEFAULT NULL,
                                  source_data jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics
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
LANGUAGE sql SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET jit = off AS $$
    UPDATE vasscm.movement m SET undone_at = now(), undone_reason = reason
     WHERE m.outbox_id = _undo_movement.outbox_id AND m.undone_at IS NULL
$$;

-- Backups: the ledger is kept by pg_dump like the rest of vasscm's data.
SELECT pg_catalog.pg_extension_config_dump('vasscm.movement', '');

SELECT pg_catalog.pg_extension_config_dump('vasscm.movement_id_seq', '');

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
CREATE OR REPLACE FUNCTION _capture_change() RETURNS trigger
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
CREATE OR REPLACE FUNCTION _refresh_capture_trigger(source regclass) RETURNS void
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

-- Stage 2 for one batch of changes (ids in order): every active binding of each change's table,
-- gate-ins first and gate-outs last (a row first seen already gated in and out is both, in that
-- order), mapped set-based by vasscm._binding_map_N. A gate event's change that maps to the
-- facts the ledger already holds for its TOS identity (a yard move, an upsert replayed, a row
-- re-delivered or reloaded), with nothing else before it in the batch, is nothing: decided
-- here, set-based. The others go to vasscm._capture, one by one, in capture order.
-- `only_message_type`: just the bindings of that form (running a failure again).
CREATE OR REPLACE FUNCTION _interpret_changes(changes captured_change[], only_message_type text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    -- the ledger grows within one large transaction faster than its statistics: index lookups only
    SET enable_seqscan = off SET jit = off AS $$
DECLARE
    bnd    vasscm.binding;
    m      record;
    -- nothing happened, but an informational field (a position) moved: the ledger's copy follows
    moved_binding int[] := '{}';
    moved_key     jsonb[] := '{}';
    moved_data    jsonb[] := '{}';
BEGIN
    IF changes IS NULL OR cardinality(changes) = 0 THEN
        RETURN 0;
    END IF;
    FOR m IN
        WITH c AS (SELECT * FROM unnest(changes)),
             bs AS (SELECT x.* FROM vasscm.binding x
                     WHERE x.active AND x.source::oid IN (SELECT DISTINCT c.source FROM c)
                       AND (only_message_type IS NULL OR x.message_type = only_message_type)),
             mapped AS (
                SELECT bs.id AS binding_id, bs.message_type AS form,
                       coalesce(bs.informational, vasscm._informational_fields(bs.message_type)) AS info, mp.*
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
                       live.source_data
                  FROM mapped
                  LEFT JOIN LATERAL (SELECT mv.source_data FROM vasscm.movement mv
                                      WHERE mv.binding_id = mapped.binding_id AND mv.source_key = mapped.key
                                        AND mv.undone_at IS NULL AND mapped.key IS NOT NULL
                                      LIMIT 1) live ON true)
        SELECT judged.*,
               bool_and(judged.same) OVER (PARTITION BY judged.binding_id, judged.key ORDER BY judged.change_id) AS nothing
          FROM judged
         ORDER BY judged.change_id,
                  CASE WHEN judged.form IN ('21', '22') THEN 2 WHEN judged.form IN ('14', '15') THEN 0 ELSE 1 END,
                  judged.binding_id
    LOOP
        IF m.nothing THEN
            IF m.data IS DISTINCT FROM m.source_data THEN
                moved_binding := array_append(moved_binding, m.binding_id);
                moved_key := array_append(moved_key, m.key);
                moved_data := array_append(moved_data, m.data);
            END IF;
            CONTINUE;
        END IF;
        SELECT * INTO bnd FROM vasscm.binding x WHERE x.id = m.binding_id;
        BEGIN
            IF m.error IS NOT NULL THEN
                RAISE EXCEPTION USING MESSAGE = m.error, ERRCODE = coalesce(m.sql_state, 'XX000');
            END IF;
            IF m.ok IS TRUE AND m.op = 'D' THEN
                PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text, 'DELETE', m.data, m.key);
            ELSIF m.ok IS TRUE THEN
                PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text,
                                        CASE m.op WHEN 'I' THEN 'INSERT' ELSE 'UPDATE' END, m.data, m.key);
            ELSIF m.op = 'U' AND bnd.message_type IN ('14', '15', '21', '22')
                  AND coalesce(bnd.condition, '') !~* '\mold\s*\.' THEN
                -- A condition saying that the event happened is false again when the TOS undoes it.
                PERFORM vasscm._capture(bnd.id, bnd.message_type, bnd.mode, bnd.source::text, 'UNDONE', NULL, m.key);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            PERFORM vasscm._capture_failed(bnd.id, bnd.message_type, bnd.source::text, m.change_id, SQLSTATE, SQLERRM);
        END;
    END LOOP;
    UPDATE vasscm.movement mv SET source_data = x.data
      FROM (SELECT DISTINCT ON (b, k) b, k, d AS data
              FROM unnest(moved_binding, moved_key, moved_data) WITH ORDINALITY AS u(b, k, d, n)
             ORDER BY b, k, n DESC) x
     WHERE mv.binding_id = x.b AND mv.source_key = x.k AND mv.undone_at IS NULL;
    RETURN cardinality(changes);
END
$$;

-- The mapping of a batch of changes by one binding, as the binding's owner. A change whose
-- expressions raise is mapped alone to find it, and comes back with its error.
CREATE OR REPLACE FUNCTION _map_changes(binding_id int, ids bigint[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb, error text, sql_state text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ops  "char"[];
    news jsonb[];
    olds jsonb[];
    i    int;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(c.op ORDER BY c.id), array_agg(c.new_row ORDER BY c.id), array_agg(c.old_row ORDER BY c.id)
      INTO ops, news, olds FROM vasscm.captured_change c WHERE c.id = ANY (ids);
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
CREATE OR REPLACE FUNCTION interpret(max_changes int DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    batch vasscm.captured_change[];
    total bigint := 0;
    step  int := 5000;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vasscm.interpret'));
    LOOP
        SELECT array_agg(c ORDER BY c.id) INTO batch
          FROM (SELECT * FROM vasscm.captured_change ORDER BY id
                 LIMIT least(step, coalesce(max_changes - total, step))) c;
        EXIT WHEN batch IS NULL;
        PERFORM vasscm._interpret_changes(batch);
        DELETE FROM vasscm.captured_change WHERE id = ANY (SELECT (unnest(batch)).id);
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
CREATE OR REPLACE FUNCTION _interpret_at_commit() RETURNS trigger
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
CREATE OR REPLACE FUNCTION _catch_up() RETURNS void
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
        PERFORM vasscm._interpret_changes(ARRAY[ROW(f.change_id, f.source, f.op, f.new_row, f.old_row, f.captured_at)::vasscm.captured_change],
                                          (SELECT b.message_type FROM vasscm.binding b WHERE b.id = f.binding_id));
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

DROP FUNCTION vasscm._capture_failed(int, text, text, text, text, text, jsonb);

-- Called when a binding could not map a captured change (an expression raised, say): the
-- change is kept in vasscm.capture_failure with the reason (vasscm.reinterpret_failures()
-- runs it again) and recorded as an 'invalid' message, so that nothing is lost and the DBA
-- sees why.
CREATE OR REPLACE FUNCTION _capture_failed(binding_id int, message_type text, source_table text, change_id bigint, sql_state text,
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

ALTER FUNCTION vasscm._capture_failed(int, text, text, bigint, text, text) SECURITY DEFINER;

REVOKE ALL ON FUNCTION vasscm._capture_failed(int, text, text, bigint, text, text) FROM PUBLIC;

-- Fields that say where a box stands, not what customs was told about it: a change of these
-- alone (a yard move, a reshuffle, a move to the inspection area) is never an amendment. The
-- yard map (form 13 / YARD_MAP) is the place for positions.
CREATE OR REPLACE FUNCTION _informational_fields(message_type text DEFAULT NULL) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN message_type IN ('14', '15') THEN ARRAY['VI_TRI', 'TRANG_THAI'] ELSE ARRAY['VI_TRI'] END
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
            PERFORM vasscm._undo_movement(cur.id, format('undone in %s', source_table));
        END IF;
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
    SELECT o.source_data INTO last_source FROM vasscm.outbox o
     WHERE o.id = cur.id
        OR (o.original_transaction_id = cur.transaction_id AND o.message_type = rule.amend_type AND o.status <> 'cancelled')
     ORDER BY o.id DESC LIMIT 1;
    IF jsonb_strip_nulls(last_source) - info = jsonb_strip_nulls(data) - info THEN
        RETURN;   -- nothing customs holds has changed: a yard move, a re-delivered or reloaded row
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
    UPDATE vasscm.outbox
       SET data = prep -> 'data', message = prep ->> 'message', errors = prep -> 'errors',
           source_data = CASE WHEN o.binding_id IS NOT NULL THEN _reprepare.data ELSE o.source_data END,
           -- a corrected container / B/L / declaration is the key the message is ordered by
           order_key = CASE WHEN o.original_transaction_id IS NULL
                            THEN coalesce(prep -> 'data' ->> 'SO_CONTAINER', prep -> 'data' ->> 'SO_VAN_DON',
                                          prep -> 'data' ->> 'SO_TK', o.order_key)
                            ELSE o.order_key END,
           attempts = 0, updated_at = now()
     WHERE id = outbox_id;
    PERFORM FROM vasscm._set_status(ARRAY[outbox_id], ARRAY[st],
        ARRAY[CASE WHEN st = 'invalid' THEN reason || ': ' || vasscm._errors_summary(prep -> 'errors') ELSE reason END],
        ARRAY[CASE WHEN st = 'invalid' THEN vasscm._errors_summary(prep -> 'errors') ELSE '' END], ARRAY[0::float8]);
    RETURN st;
END
$$;

-- The message standing for a TOS row's gate-in or gate-out: the latest of the binding for the
-- row's key that was neither cancelled nor rejected, nor withdrawn by a cancellation (17) or a
-- CANCEL_PASSED still in force.
-- (Two plain index lookups, planned for the values at hand (force_custom_plan): a generic plan
-- cached while the outbox grows within one large transaction can turn into a scan of the whole
-- outbox per row.)
CREATE OR REPLACE FUNCTION _current_event(binding_id int, source_key jsonb, message_type text) RETURNS outbox
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

-- An update written as DELETE + INSERT in one transaction: the cancellation (17) or
-- CANCEL_PASSED that the DELETE queued, not sent, is cancelled; returns the message it withdrew.
CREATE OR REPLACE FUNCTION _take_back_withdrawal(binding_id int, source_key jsonb, message_type text) RETURNS outbox
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

-- A seal change (24) or a strip / stuff (20 / 23) interpreted after the gate-in row was
-- updated with its result (the TOS's rows arrive in any order, in the same transaction or a
-- later one): an amendment (16) not sent yet that only rewrote those fields (to `value`, or to
-- anything when NULL) is withdrawn: the gate-in stays as the box arrived.
CREATE OR REPLACE FUNCTION _withdraw_explained_amendments(container_no text, fields text[], value text, why text) RETURNS void
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

REVOKE ALL ON FUNCTION vasscm._informational_fields(text), vasscm._withdraw_explained_amendments(text, text[], text, text),
                       vasscm._current_event(int, jsonb, text), vasscm._withdraw(vasscm.outbox, text, text, text),
                       vasscm._take_back_withdrawal(int, jsonb, text) FROM PUBLIC;

-- (Re)creates what a binding runs: vasscm._binding_map_N, which evaluates the DBA's condition,
-- mapping and key expressions with the privileges of `owner` (the role that bound the table:
-- SECURITY DEFINER owned by it), and the trigger function vasscm._binding_N, which runs as the
-- extension owner only to write the outbox. The expressions are compiled against the table
-- first, as `owner` too, so that a typo or an expression the owner may not run fails here.
CREATE OR REPLACE FUNCTION _install_binding(binding_id int, owner name) RETURNS void
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

    -- Bindings made before 0.3.0 had a trigger and a row-by-row map of their own.
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = b.source AND t.tgname = format('vasscm_binding_%s', b.id)) THEN
        EXECUTE format('DROP TRIGGER vasscm_binding_%s ON %s', b.id, b.source);
    END IF;
    IF to_regprocedure(format('vasscm._binding_%s()', b.id)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_%s()', b.id);
    END IF;
    IF to_regprocedure(format('vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source);
    END IF;

    -- The mapping of a batch of captured changes, set-based. NEW and OLD are outer aliases;
    -- bare names resolve to _row (the new row, or the old one of a DELETE), the nearer scope.
    EXECUTE format($m$
CREATE OR REPLACE FUNCTION vasscm._binding_map_%1$s(_ids bigint[], _ops "char"[], _news jsonb[], _olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
SELECT _chg.i, _chg.o, _x.*
  FROM unnest(_ids, _ops, _news, _olds) AS _chg(i, o, n, d)
  CROSS JOIN LATERAL jsonb_populate_record(NULL::%2$s, _chg.n) AS "new"
  CROSS JOIN LATERAL jsonb_populate_record(NULL::%2$s, _chg.d) AS "old"
  CROSS JOIN LATERAL (SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s
                        FROM jsonb_populate_record(NULL::%2$s, CASE WHEN _chg.o = 'D' THEN _chg.d ELSE _chg.n END) AS _row) AS _x
$body$$m$, b.id, b.source, cond, pairs, keyexpr);
    EXECUTE format('ALTER FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) OWNER TO %I', b.id, owner);
    EXECUTE format('REVOKE ALL ON FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) FROM PUBLIC', b.id);
    EXECUTE format('COMMENT ON FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) IS %L', b.id,
                   format('vasscm binding %s: the mapping of %s → message %s, evaluated as %s on captured changes (generated by vasscm.bind)',
                          b.id, b.source, b.message_type, owner));
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$install$;

DROP FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text);

CREATE OR REPLACE FUNCTION bind(source regclass, message_type text, mapping jsonb, events text[] DEFAULT '{INSERT}',
                     condition text DEFAULT NULL, mode text DEFAULT 'auto', identity text[] DEFAULT NULL,
                     informational text[] DEFAULT NULL) RETURNS int
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

    IF identity IS NOT NULL THEN
        -- The business identity the DBA declares (e.g. the TOS's move id, not a replica row id).
        IF cardinality(identity) = 0 OR EXISTS (
               SELECT 1 FROM unnest(identity) c
                WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = c
                                     AND a.attnum > 0 AND NOT a.attisdropped)) THEN
            RAISE EXCEPTION 'vasscm: identity must name columns of %, not %', source, identity
                USING ERRCODE = 'invalid_parameter_value', HINT = 'identity => ''{move_id}''';
        END IF;
    END IF;
    IF informational IS NOT NULL AND NOT informational <@ known THEN
        RAISE EXCEPTION 'vasscm: informational must name fields of message %, not %', message_type, informational
            USING ERRCODE = 'invalid_parameter_value', HINT = 'informational => ''{VI_TRI}''';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.n) INTO keycols
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE identity IS NULL
       AND i.indexrelid = (SELECT i2.indexrelid FROM pg_index i2 WHERE i2.indrelid = source
                              AND (i2.indisprimary OR i2.indisreplident) ORDER BY i2.indisprimary DESC LIMIT 1);
    keycols := coalesce(identity, keycols);
    IF keycols IS NULL AND ev && ARRAY['UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'vasscm: table % has no primary key nor replica identity index: updates and deletes cannot be matched to earlier messages', source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO vasscm.binding (source, message_type, mapping, events, condition, mode, key_columns, informational)
    VALUES (source, message_type, mapping, ev, nullif(trim(condition), ''), mode, keycols, informational)
    RETURNING id INTO b_id;
    -- The expressions run as the role that binds (session_user), never as the extension owner.
    PERFORM vasscm._install_binding(b_id, session_user);
    RETURN b_id;
END
$bind$;

COMMENT ON FUNCTION bind(regclass, text, jsonb, text[], text, text, text[], text[]) IS
    'Binds a (replicated) TOS table to a message type: what its row changes mean (events, identity, informational fields) becomes ledger rows and outbox messages.';

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
    PERFORM vasscm._catch_up();   -- what was captured while it was bound is interpreted with it
    EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', b.id);
    UPDATE vasscm.binding SET active = false, unbound_at = now() WHERE id = b.id;
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$$;

-- CREATE OR REPLACE resets SECURITY DEFINER; the privileges are kept.
ALTER FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]) SECURITY DEFINER;

REVOKE ALL ON FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]) TO vasscm_admin;

-- Existing bindings: regenerated so that their expressions run as the role that created them
-- (or, when that role no longer exists, as the owner of the bound table), on captured changes
-- (one capture trigger per table instead of a trigger per binding). A binding whose
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
            -- Made anew (the old trigger and functions made by bind are dropped by
            -- _install_binding), then left out of the extension as bind leaves it.
            PERFORM vasscm._install_binding(b.id, owner);
            EXECUTE format('ALTER EXTENSION vasscm DROP FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', b.id);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'vasscm: binding % (%) is unbound: its expressions cannot run as %: %', b.id, b.source, owner, SQLERRM;
            EXECUTE format('DROP TRIGGER IF EXISTS vasscm_binding_%s ON %s', b.id, b.source);
            EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_%s()', b.id);
            UPDATE vasscm.binding SET active = false, unbound_at = now() WHERE id = b.id;
            PERFORM vasscm._refresh_capture_trigger(b.source);
        END;
    END LOOP;
END
$regenerate$;

-- Gate-outs and "already left" read the movement ledger (sql/clearance.sql); the ledger starts
-- with the gate events already in the outbox (as they stand: amended, undone, corrected).
INSERT INTO vasscm.movement (kind, message_type, container_no, bl_no, declarations, quantity, quantity_unit, weight_kg,
                             volume_m3, vehicle, vehicle_no, seal, happened_at, facts, source_data, binding_id, source_table,
                             source_key, outbox_id, recorded_at, undone_at, undone_reason)
SELECT k.kind, o.message_type, c.container_no, c.bl_no, c.declarations, c.quantity, c.quantity_unit, c.weight_kg,
       c.volume_m3, c.vehicle, c.vehicle_no, c.seal,
       CASE WHEN f.data ? 'THOI_GIAN' THEN c.happened_at ELSE o.created_at END, f.data, f.source_data, o.binding_id,
       o.source_table, o.source_key, o.id, o.created_at, w.created_at,
       CASE WHEN w.id IS NOT NULL THEN format('withdrawn before 0.3.0 (%s)', w.message_type) END
  FROM vasscm.outbox o
  JOIN vasscm.movement_kind k ON k.message_type = o.message_type
 CROSS JOIN LATERAL (SELECT coalesce(a.data, o.data) AS data, coalesce(a.source_data, o.source_data) AS source_data
                       FROM (SELECT NULL) one
                       LEFT JOIN LATERAL (SELECT x.data, x.source_data FROM vasscm.outbox x
                                           WHERE x.original_transaction_id = o.transaction_id AND x.message_type = '16'
                                             AND x.status NOT IN ('cancelled', 'rejected')
                                           ORDER BY x.id DESC LIMIT 1) a ON true) f
 CROSS JOIN LATERAL vasscm._movement_columns(f.data) c
  LEFT JOIN LATERAL (SELECT x.id, x.message_type, x.created_at FROM vasscm.outbox x
                      WHERE x.original_transaction_id = o.transaction_id AND x.message_type IN ('17', 'CANCEL_PASSED')
                        AND x.status NOT IN ('cancelled', 'rejected')
                      ORDER BY x.id LIMIT 1) w ON true
 WHERE o.original_transaction_id IS NULL AND o.status <> 'cancelled'
 ORDER BY o.id;

-- Gate-outs (21 container, 22 bulk trip) that happened, from the movement ledger: whatever
-- became of their message (queued, dead, rejected, invalid all count), as corrected in the
-- TOS, without the ones the TOS undid, nor one customs cancelled on the port's request (an
-- accepted CANCEL_PASSED asked by an operator).
CREATE OR REPLACE VIEW gate_outs AS
SELECT o.id, o.transaction_id, m.message_type, o.status, m.container_no, m.bl_no, m.declarations,
       m.quantity, m.weight_kg, m.volume_m3, m.vehicle AS conveyance, m.vehicle_no AS conveyance_no,
       m.happened_at AS left_at, m.recorded_at AS created_at, m.id AS movement_id, m.quantity_unit
  FROM vasscm.movement m
  LEFT JOIN vasscm.outbox o ON o.id = m.outbox_id
 WHERE m.kind = 'gate_out' AND m.undone_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                    WHERE c.message_type = 'CANCEL_PASSED' AND c.original_transaction_id = o.transaction_id
                      AND c.status = 'accepted');

COMMENT ON VIEW gate_outs IS 'Gate-outs (21 container, 22 bulk per trip) that happened (movement ledger), whatever their message''s status; without those undone in the TOS or cancelled by an accepted CANCEL_PASSED.';

-- Has a container left under a declaration, in its current visit? A gate-out (21) in the
-- ledger listing that declaration (or none: an empty box), not followed by a later gate-in of
-- the same box (it came back: a new visit).
CREATE OR REPLACE FUNCTION _gone(container_no text, declaration_no text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = _gone.container_no AND g.message_type = '21'
                      AND (_gone.declaration_no = ANY (g.declarations) OR cardinality(g.declarations) = 0)
                      AND NOT EXISTS (SELECT 1 FROM vasscm.movement i
                                       WHERE i.container_no = _gone.container_no AND i.kind = 'gate_in'
                                         AND i.undone_at IS NULL AND i.happened_at > g.left_at))
$$;

-- Events enqueued by hand are in the ledger too.
CREATE OR REPLACE FUNCTION enqueue(message_type text, data jsonb, mode text DEFAULT 'auto') RETURNS uuid
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

ALTER FUNCTION vasscm.enqueue(text, jsonb, text) SECURITY DEFINER;

REVOKE ALL ON SEQUENCE vasscm.captured_change_id_seq, vasscm.movement_id_seq FROM PUBLIC;

COMMENT ON FUNCTION unbind(int) IS 'Removes a binding (its mapping; the table''s capture trigger with its last binding); its messages and ledger rows stay.';

INSERT INTO job VALUES
    ('vasscm-interpret', '* * * * *', 'SELECT vasscm.interpret()',
     'Interprets captured TOS changes still pending (vasscm.interpret = async, or left by a failed commit-time interpretation)');

REVOKE ALL ON FUNCTION vasscm._movement_columns(jsonb), vasscm._record_movement(text, jsonb, int, text, jsonb, bigint, jsonb),
                       vasscm._correct_movement(bigint, jsonb, bigint, jsonb), vasscm._undo_movement(bigint, text),
                       vasscm._capture_change(), vasscm._refresh_capture_trigger(regclass),
                       vasscm._interpret_changes(vasscm.captured_change[], text), vasscm._map_changes(int, bigint[]),
                       vasscm.interpret(int), vasscm._interpret_at_commit(), vasscm._catch_up(), vasscm.reinterpret_failures(int)
   FROM PUBLIC;

GRANT SELECT ON vasscm.movement, vasscm.movement_kind, vasscm.captured_change, vasscm.capture_failure TO vasscm_reader;

ALTER FUNCTION vasscm._catch_up() SECURITY DEFINER;

GRANT EXECUTE ON FUNCTION vasscm._catch_up() TO vasscm_reader, vasscm_worker;

GRANT EXECUTE ON FUNCTION vasscm.interpret(int) TO vasscm_worker, vasscm_admin;

ALTER FUNCTION vasscm.reinterpret_failures(int) SECURITY DEFINER;

GRANT EXECUTE ON FUNCTION vasscm.reinterpret_failures(int) TO vasscm_admin;

-- set_setting: audit_retention_months is checked by its trigger alone (at least 60).
CREATE OR REPLACE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE vasscm.setting s SET value = set_setting.value WHERE s.name = set_setting.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: unknown setting "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT name, description FROM vasscm.setting lists them.';
    END IF;
END
$$;

   -- CREATE OR REPLACE reset it (sql/roles.sql)

-- Gate-out decisions honour the paper lists of an open incident (sql/gate.sql).
CREATE OR REPLACE FUNCTION gate_out_check(container_no text, carrier_seal text, customs_seal text, declarations text[] DEFAULT NULL)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont    text;
    given   text[];
    why     text[] := '{}';
    cur_rows vasscm.clearance_now[];
    r       vasscm.clearance_now;
    dno     text;
    d       vasscm.declaration;
    w       text;
    covered int := 0;
    scan_due boolean := false;
    -- reasons that only say customs' electronic eligibility is missing: a paper list of the open
    -- incident (form 36) covering the container excuses them; not_in_* only a list line naming
    -- this container with that declaration
    missing     text[] := '{}';
    not_in_dno  text[] := '{}';
    not_in_why  text[] := '{}';
    by_paper    boolean := false;
    i           int;
BEGIN
    IF container_no IS NULL OR btrim(container_no) = '' THEN
        RAISE EXCEPTION 'vasscm: gate_out_check needs the container number'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'vasscm.gate_out_check(container_no, carrier_seal, customs_seal, declarations DEFAULT NULL): the seals and the declarations may be NULL (none given), the container number may not.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();   -- never behind what the TOS did (vasscm.interpret = async): vasscm._catch_up()
    END IF;
    cont := vasscm.normalize_container_no(container_no);
    IF NOT vasscm.is_valid_container_no(cont) THEN
        RETURN QUERY SELECT false, ARRAY[format('Số container "%s" không hợp lệ (ISO 6346) / "%s" is not a valid container number (ISO 6346)',
                                                container_no, container_no)];
        RETURN;
    END IF;
    IF declarations IS NOT NULL THEN
        given := (SELECT array_agg(DISTINCT vasscm._norm(x)) FROM unnest(declarations) AS x WHERE vasscm._norm(x) IS NOT NULL);
    END IF;
    cur_rows := ARRAY(SELECT x FROM vasscm.clearance_now x WHERE x.container_no = cont ORDER BY x.declaration_no);
    -- Declarations the clerk gave that do not cover this container (this visit).
    FOREACH dno IN ARRAY coalesce(given, '{}') LOOP
        r := NULL;
        FOR i IN 1 .. cardinality(cur_rows) LOOP
            IF cur_rows[i].declaration_no = dno THEN
                r := cur_rows[i];
            END IF;
        END LOOP;
        IF r.declaration_no IS NULL THEN
            SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
            IF d.eligible_at IS NULL THEN
                missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
            ELSE
                not_in_dno := not_in_dno || dno;
                not_in_why := not_in_why || format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno);
            END IF;
        ELSIF r.covers THEN
            CONTINUE;
        ELSIF r.eligible_at IS NULL THEN
            missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
        ELSIF NOT r.listed THEN
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || CASE WHEN r.set_by_form = '07'
                THEN format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                            cont, dno, vasscm._gate_time(r.container_set_at), cont, dno, vasscm._gate_time(r.container_set_at))
                ELSE format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno) END;
        ELSE   -- of an earlier visit
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s cần thông điệp đủ điều kiện mới (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); this visit (in since %s) needs a new eligibility message (form 04)',
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'));
        END IF;
    END LOOP;
    FOREACH r IN ARRAY cur_rows LOOP
        IF r.scan_until > now() AND NOT r.scan_ok THEN
            scan_due := true;
        END IF;
        CONTINUE WHEN NOT r.covers;
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
        IF r.carrier_seal IS NOT NULL AND vasscm._norm(carrier_seal) IS DISTINCT FROM r.carrier_seal THEN
            w := vasscm._seal_reason(cont, 'HANG_TAU', carrier_seal, r.carrier_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.customs_seal IS NOT NULL AND vasscm._norm(customs_seal) IS DISTINCT FROM r.customs_seal THEN
            w := vasscm._seal_reason(cont, 'HAI_QUAN', customs_seal, r.customs_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.gone THEN
            why := why || format('Container %s đã ra khỏi khu vực giám sát theo tờ khai %s lúc %s (lượt ra ghi nhận từ TOS) / container %s already left under declaration %s at %s (gate-out recorded from the TOS)',
                                 cont, r.declaration_no, vasscm._gate_time(r.left_at), cont, r.declaration_no, vasscm._gate_time(r.left_at));
        END IF;
    END LOOP;
    IF covered = 0 AND (given IS NULL OR cardinality(why) + cardinality(missing) + cardinality(not_in_dno) = 0) THEN
        -- Nothing covers it: say why when customs did say something about it.
        w := NULL;
        FOREACH r IN ARRAY cur_rows LOOP
            IF r.declaration_no IS NOT NULL AND NOT r.listed AND r.set_by_form = '07' AND NOT r.earlier_visit THEN
                w := concat_ws(' | ', w, format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at),
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at)));
            ELSIF r.earlier_visit AND r.listed AND r.eligible_at IS NOT NULL THEN
                w := concat_ws(' | ', w, format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s chưa có thông điệp đủ điều kiện (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); no eligibility message (form 04) covers this visit (in since %s)',
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?')));
            END IF;
        END LOOP;
        IF w IS NULL THEN
            missing := missing || format('Container %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container %s', cont, cont);
        ELSE
            missing := missing || string_to_array(w, ' | ');
        END IF;
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
    IF scan_due THEN
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
    allowed := cardinality(why) = 0;
    reasons := CASE WHEN cardinality(why) <= 1 THEN why
                    ELSE ARRAY(SELECT s.x FROM (SELECT DISTINCT ON (u.x) u.x, u.n FROM unnest(why) WITH ORDINALITY AS u(x, n) ORDER BY u.x, u.n) s ORDER BY s.n) END;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dno text := vasscm._norm(declaration_no);
    bl  text := vasscm._norm(bl_no);
    d   vasscm.declaration;
    b   vasscm.declaration_bulk;
    o   record;
    why text[] := '{}';
    n   int;
BEGIN
    PERFORM vasscm._catch_up();   -- never behind what the TOS did (vasscm.interpret = async)
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

-- 8. Worker throughput, status history, clearance on the ledger (issues 12, 16) ----------
-- 7. Clearance on the ledger (issue 12): visits, units, seals as identifiers, scan selections per visit,
--    deadlines from when the goods left, the maintained state (vasscm.clearance_now), settings validated as data.
--    (After the incident section: it replaces _deadlines_of_messages, which that section renames from deadlines.)

INSERT INTO setting VALUES
    ('scan_selection_validity_days', '30', 'A scan selection (form 03) applies to the container''s visit that came with its vessel call, or that began at most this many days after it was made (with no visit known: this many days)');

COMMENT ON TABLE setting IS 'vasscm settings kept in the database; change them with vasscm.set_setting(name, value). Their rules: vasscm.setting_rule.';

-- How each setting is validated. kind: whole_number (between min_value and max_value, in
-- `unit`), relation (a schema-qualified relation the caller may read, with `columns`),
-- hours_range (HH:MM-HH:MM). nullable: NULL is allowed (unset).
CREATE TABLE setting_rule (
    name      text PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('whole_number', 'relation', 'hours_range')),
    unit      text,
    min_value bigint,
    max_value bigint,
    columns   text[],
    nullable  boolean NOT NULL DEFAULT false,
    hint      text
);

COMMENT ON TABLE setting_rule IS 'How each vasscm setting is validated (checked on every change of vasscm.setting).';

INSERT INTO setting_rule (name, kind, unit, min_value, max_value, columns, nullable, hint) VALUES
    ('vessel_visit_source', 'relation', NULL, NULL, NULL, ARRAY['visit_id', 'imo', 'call_sign', 'vessel_name', 'eta'], true,
     'Give the schema-qualified name, e.g. public.tos_vessel_visit; a view can rename the columns.'),
    ('vessel_match_window_hours', 'whole_number', 'hours', 0, 8760, NULL, false, NULL),
    ('gate_out_deadline_import_minutes', 'whole_number', 'minutes', 1, 1440, NULL, false, 'Article 52: 15 minutes.'),
    ('gate_out_deadline_export_minutes', 'whole_number', 'minutes', 1, 1440, NULL, false, 'Article 52a: 30 minutes.'),
    ('list_lead_hours', 'whole_number', 'hours', 0, 720, NULL, false, 'Forms 01 / 02: 8 hours before ETA.'),
    ('scan_list_lead_hours', 'whole_number', 'hours', 0, 720, NULL, false, 'Form 03: 4 hours before ETA.'),
    ('scan_selection_validity_days', 'whole_number', 'days', 0, 3650, NULL, false, 'For example 30.'),
    ('deadline_window_days', 'whole_number', 'days', 1, 3650, NULL, false, NULL),
    ('stuck_after_minutes', 'whole_number', 'minutes', 0, 100000, NULL, false, NULL),
    ('audit_retention_months', 'whole_number', 'months', 60, 1200, NULL, false, 'Article 52đ keeps exchanged data 5 years: at least 60.'),
    ('incident_open_after_seconds', 'whole_number', 'seconds', 1, 999999999, NULL, false,
     'For example 300 (5 minutes of failures before an incident opens).'),
    ('incident_notify_seconds', 'whole_number', 'seconds', 1, 999999999, NULL, false, 'Article 52đ: 3600 (1 hour).'),
    ('camera_retention_months', 'whole_number', 'months', 12, 1200, NULL, false, 'Decision 1865/QĐ-TCHQ keeps camera data one year: at least 12.'),
    ('camera_outage_minutes', 'whole_number', 'minutes', 1, 999999, NULL, false, NULL),
    ('camera_truck_window_hours', 'whole_number', 'hours', 1, 999999, NULL, false, NULL),
    ('camera_working_hours', 'hours_range', NULL, NULL, NULL, NULL, false,
     '00:00-24:00 (always), 06:00-22:00, 22:00-06:00 (across midnight)'),
    ('camera_appointment_source', 'relation', NULL, NULL, NULL,
     ARRAY['appointment_ref', 'direction', 'plate', 'container_no', 'gate', 'valid_from', 'valid_to', 'declarations',
           'carrier_seal', 'customs_seal'], true,
     'A gate appointment relation needs the columns of vasscm.gate_appointment (a view can rename; NULL AS gate for any gate).');

-- Checks a setting's new value against its rule (a relation is stored by its canonical name).
-- Runs in the caller's session: session_user must be able to read a relation it names.
CREATE OR REPLACE FUNCTION _setting_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r   vasscm.setting_rule;
    rel regclass;
    col text;
BEGIN
    SELECT * INTO r FROM vasscm.setting_rule x WHERE x.name = NEW.name;
    IF NOT FOUND THEN
        RETURN NEW;   -- free text
    END IF;
    IF NEW.value IS NULL THEN
        IF r.nullable THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'vasscm: setting % cannot be empty', NEW.name
            USING ERRCODE = 'null_value_not_allowed', HINT = coalesce(r.hint, 'SELECT * FROM vasscm.setting_rule shows what it takes.');
    END IF;
    IF r.kind = 'whole_number' THEN
        IF NEW.value !~ '^[0-9]{1,12}$' OR NEW.value::bigint < coalesce(r.min_value, 0) OR NEW.value::bigint > coalesce(r.max_value, 999999999999) THEN
            RAISE EXCEPTION 'vasscm: setting % must be a whole number%, at least %, not "%"', NEW.name,
                  coalesce(' of ' || r.unit, ''), coalesce(r.min_value, 0), NEW.value
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = coalesce(r.hint || ' ', '') || format('Between %s and %s.', coalesce(r.min_value, 0), coalesce(r.max_value, 999999999999));
        END IF;
        NEW.value := NEW.value::bigint::text;
    ELSIF r.kind = 'hours_range' THEN
        IF NEW.value !~ '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$' THEN
            RAISE EXCEPTION 'vasscm: % must be HH:MM-HH:MM (Vietnam time), not "%"', NEW.name, NEW.value
                USING ERRCODE = 'invalid_parameter_value', HINT = r.hint;
        END IF;
    ELSIF r.kind = 'relation' THEN
        rel := to_regclass(NEW.value);   -- resolved with search_path = pg_catalog: schema-qualify
        IF rel IS NULL THEN
            RAISE EXCEPTION 'vasscm: relation "%" does not exist', NEW.value USING ERRCODE = 'undefined_table', HINT = r.hint;
        END IF;
        IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
            RAISE EXCEPTION 'vasscm: % may not read %', session_user, rel USING ERRCODE = 'insufficient_privilege';
        END IF;
        FOREACH col IN ARRAY coalesce(r.columns, '{}') LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
                RAISE EXCEPTION 'vasscm: % has no column "%"', rel, col USING ERRCODE = 'undefined_column', HINT = r.hint;
            END IF;
        END LOOP;
        NEW.value := rel::text;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER setting_validate BEFORE INSERT OR UPDATE OF value ON setting
    FOR EACH ROW EXECUTE FUNCTION _setting_check();

CREATE OR REPLACE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE vasscm.setting s SET value = set_setting.value WHERE s.name = set_setting.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: unknown setting "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT name, description FROM vasscm.setting lists them.';
    END IF;
END
$$;

COMMENT ON FUNCTION set_setting(text, text) IS 'Admin: changes a vasscm setting (see vasscm.setting; validated by vasscm.setting_rule).';

-- A seal as an identifier: upper-case letters and digits only, so that customs' "ML 0012345",
-- the gate's "ML0012345" and a TOS's "ml-0012345" are the same seal. Empty is absent.
CREATE OR REPLACE FUNCTION _seal_key(seal text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(regexp_replace(upper(seal), '[^[:alnum:]]', '', 'g'), '') $$;

-- Units of quantity (DVT_SO_LUONG) that convert into one another: weights to kilograms,
-- volumes to cubic metres. Any other unit (PK packages, PL pallets, CUON rolls…) is a count
-- that converts into nothing but itself: quantities in different units are never added.
CREATE TABLE unit_conversion (
    unit      text PRIMARY KEY,
    dimension text NOT NULL CHECK (dimension IN ('mass', 'volume')),
    factor    numeric NOT NULL CHECK (factor > 0)
);

COMMENT ON TABLE unit_conversion IS 'Units of quantity that convert into one another (factor to kg or m3); any other unit is a count compared as written.';

INSERT INTO unit_conversion VALUES
    ('KGM', 'mass', 1), ('KG', 'mass', 1), ('GRM', 'mass', 0.001), ('TNE', 'mass', 1000), ('TAN', 'mass', 1000),
    ('MTQ', 'volume', 1), ('M3', 'volume', 1), ('LTR', 'volume', 0.001);

-- A unit as written, compared: upper-case, no spaces or dots; empty is absent.
CREATE OR REPLACE FUNCTION _unit(unit text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(regexp_replace(upper(unit), '[\s.]', '', 'g'), '') $$;

-- A quantity in `from_unit` expressed in `to_unit`: the same value for the same unit (or when
-- either is not known), converted between weights or between volumes, NULL when the units
-- cannot be compared (40 pallets are not packages).
CREATE OR REPLACE FUNCTION _in_unit(quantity numeric, from_unit text, to_unit text) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN quantity IS NULL THEN NULL
                WHEN vasscm._unit(from_unit) IS NULL OR vasscm._unit(to_unit) IS NULL
                  OR vasscm._unit(from_unit) = vasscm._unit(to_unit) THEN quantity
                ELSE (SELECT trim_scale(quantity * f.factor / t.factor)
                        FROM vasscm.unit_conversion f JOIN vasscm.unit_conversion t ON t.dimension = f.dimension
                       WHERE f.unit = vasscm._unit(from_unit) AND t.unit = vasscm._unit(to_unit)) END
$$;

-- A time in a reason the gate clerk reads: Vietnam time, DD/MM/YYYY HH24:MI.
CREATE OR REPLACE FUNCTION _gate_time(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_char(at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'DD/MM/YYYY HH24:MI') $$;

CREATE OR REPLACE FUNCTION _apply_inbox(inbox_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m    vasscm.inbox;
    d    jsonb;
    at   timestamptz;
    item jsonb;
    deferring boolean := vasscm._clearance_defer();   -- the maintained state is recomputed once, at the end
BEGIN
    SELECT * INTO m FROM vasscm.inbox WHERE id = inbox_id;
    d := m.data;
    at := coalesce(m.sent_at, m.received_at);
    CASE m.message_type
    WHEN '01', '02', '08' THEN
        PERFORM vasscm._apply_list(m.transaction_id, m.message_type, at, d);
    WHEN '03' THEN
        PERFORM vasscm._apply_scan_list(m.transaction_id, at, d);
    WHEN '04' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '04', at, d, true);
        FOR item IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'LIST_CONTAINER', '[]')) LOOP
            PERFORM vasscm._apply_container(m.transaction_id, '04', at, d ->> 'SO_TK', item, true);
        END LOOP;
    WHEN '05' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '05', at, d, true);
        PERFORM vasscm._apply_bulk(m.transaction_id, at, d);
    WHEN '06' THEN
        PERFORM vasscm._apply_status(m.transaction_id, '06', at, d ->> 'SO_TK', d ->> 'TRANG_THAI_TK', d ->> 'LY_DO');
    WHEN '07' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '07', at, d, false);
        FOR item IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'LIST_CONTAINER', '[]')) LOOP
            PERFORM vasscm._apply_container(m.transaction_id, '07', at, d ->> 'SO_TK', item, item ->> 'THAO_TAC' <> 'HUY');
        END LOOP;
    WHEN 'VESSEL_LIST' THEN
        PERFORM vasscm._apply_vessels(m.transaction_id, at, d);
        IF vasscm._setting_value('vessel_visit_source') IS NOT NULL THEN
            BEGIN
                PERFORM vasscm._match_vessels(vasscm._setting_value('vessel_visit_source')::regclass);
            EXCEPTION WHEN OTHERS THEN   -- the vessel list itself is applied; matching can be redone by hand
                RAISE WARNING 'vasscm: vessel matching against % failed: %', vasscm._setting_value('vessel_visit_source'), SQLERRM;
            END;
        END IF;
    WHEN 'CHECK_RESULT' THEN
        IF d ? 'SO_TK' THEN
            PERFORM vasscm._apply_declaration(m.transaction_id, 'CHECK_RESULT', at, d, d ->> 'DU_DIEU_KIEN' = 'Y');
            IF d ? 'TRANG_THAI_TK' THEN
                PERFORM vasscm._apply_status(m.transaction_id, 'CHECK_RESULT', at, d ->> 'SO_TK', d ->> 'TRANG_THAI_TK', d ->> 'GHI_CHU');
            END IF;
            IF d ? 'SO_CONTAINER' AND d ->> 'DU_DIEU_KIEN' = 'Y' THEN
                PERFORM vasscm._apply_container(m.transaction_id, 'CHECK_RESULT', at, d ->> 'SO_TK', d, true);
            END IF;
        END IF;
    WHEN 'TRANSHIP_ID_RESULT' THEN
        INSERT INTO vasscm.tranship_id (container_no, destination, identification, request_id, transaction_id)
        VALUES (vasscm.normalize_container_no(d ->> 'SO_CONTAINER'), d ->> 'CANG_DEN', d ->> 'SO_DINH_DANH', m.request_id, m.transaction_id)
        ON CONFLICT DO NOTHING;
        PERFORM vasscm._history(m.transaction_id, m.message_type, at, 'container ' || vasscm.normalize_container_no(d ->> 'SO_CONTAINER'),
                                jsonb_build_object('tranship_id', d ->> 'SO_DINH_DANH'), true);
    ELSE
        NULL;   -- 200 / 299 and any other type: stored in the inbox, no clearance state
    END CASE;
    UPDATE vasscm.inbox SET applied_at = clock_timestamp(), apply_error = NULL WHERE id = inbox_id;
    IF deferring THEN
        PERFORM vasscm._clearance_flush();
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION reapply_inbox() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint := 0;
    i bigint;
BEGIN
    PERFORM set_config('vasscm.clearance_refresh', 'off', true);   -- the maintained state is rebuilt once, at the end
    TRUNCATE vasscm.vessel_match, vasscm.customs_vessel, vasscm.tranship_id, vasscm.scan_selection,
             vasscm.expected_item, vasscm.expected_list, vasscm.declaration_container, vasscm.declaration_bulk, vasscm.declaration;
    FOR i IN SELECT id FROM vasscm.inbox ORDER BY id LOOP
        PERFORM vasscm._apply_inbox_safely(i);
        n := n + 1;
    END LOOP;
    PERFORM set_config('vasscm.clearance_refresh', '', true);
    PERFORM vasscm._clearance_rebuild();
    RETURN n;
END
$$;

COMMENT ON FUNCTION reapply_inbox() IS 'Admin: rebuilds the clearance state from every stored customs message; returns how many were applied.';

CREATE TABLE clearance_now (
    cargo_kind         text NOT NULL CHECK (cargo_kind IN ('container', 'bulk')),
    container_no       text,
    declaration_no     text,
    bl_no              text,
    registered_on      date,
    customs_office     text,
    cargo_flow         text,
    channel            smallint,
    channel_name       text,
    state              text NOT NULL,
    scan_until         timestamptz,
    scan_ok            boolean NOT NULL DEFAULT false,
    carrier_seal       text,
    customs_seal       text,
    quantity_declared  numeric,
    quantity_out       numeric,
    weight_kg_declared numeric,
    weight_kg_out      numeric,
    volume_m3_declared numeric,
    volume_m3_out      numeric,
    set_by             uuid,
    set_by_form        text,
    eligible_at        timestamptz,
    status_at          timestamptz,
    status_reason      text,
    updated_at         timestamptz,
    quantity_unit      text,
    visit_in_at        timestamptz,
    left_at            timestamptz,
    -- for the gate (not in vasscm.clearance_state)
    status             text,
    listed             boolean,
    covers             boolean NOT NULL DEFAULT false,
    gone               boolean NOT NULL DEFAULT false,
    earlier_visit      boolean NOT NULL DEFAULT false,
    container_set_at   timestamptz,
    quantity_out_other text
);

CREATE INDEX clearance_now_by_container ON clearance_now (container_no);

CREATE INDEX clearance_now_by_declaration ON clearance_now (declaration_no);

CREATE INDEX clearance_now_by_bl ON clearance_now (bl_no);

COMMENT ON TABLE clearance_now IS 'The clearance as it stands now (maintained by triggers; see vasscm.clearance_state): per container × declaration, expected-list line, container known only to the port, bulk declaration × B/L.';

COMMENT ON COLUMN clearance_now.scan_until IS 'A scan selection (form 03) applies until then (infinity: for this visit); NULL: none applies.';

COMMENT ON COLUMN clearance_now.scan_ok IS 'Every scan selection that applies has a scan recorded after it.';

COMMENT ON COLUMN clearance_now.carrier_seal IS 'The carrier seal the gate expects: customs'' data as changed by accepted seal changes (24) of this visit.';

COMMENT ON COLUMN clearance_now.covers IS 'The declaration covers the container for its current visit (listed, eligible, not of an earlier visit).';

COMMENT ON COLUMN clearance_now.gone IS 'The container left in its current visit under this declaration (a gate-out, 21, in the ledger).';

COMMENT ON COLUMN clearance_now.earlier_visit IS 'Customs set this declaration for the container before (or in the second of) its previous gate-out: it belongs to an earlier visit.';

COMMENT ON COLUMN clearance_now.quantity_out_other IS 'Bulk: trips that left in a unit that does not convert to the declared one (not counted in quantity_out), e.g. "80 PL".';

-- Backups: maintained, rebuilt by vasscm._clearance_rebuild(); pg_dump need not keep it.

-- The seal after the seal changes (24) customs accepted, in order: one made at or after `since`
-- (when customs' data was set) applies; an earlier one applies when its old seal is the seal
-- so far.
CREATE OR REPLACE FUNCTION _seal_after_changes(seal text, since timestamptz, ats timestamptz[], olds text[], news text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cur text := seal;
    i   int;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(ats), 0) LOOP
        IF ats[i] >= since OR vasscm._seal_key(olds[i]) = vasscm._seal_key(cur) THEN
            cur := news[i];
        END IF;
    END LOOP;
    RETURN cur;
END
$$;

-- The seal customs expects now for a container's seal of a kind (HANG_TAU carrier, HAI_QUAN
-- customs): customs' value, set at `since`, as changed by the accepted seal changes (24) of the
-- container's current visit.
CREATE OR REPLACE FUNCTION _expected_seal(container_no text, seal_kind text, customs_value text, since timestamptz) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm._seal_after_changes(customs_value, since,
               array_agg(m.happened_at ORDER BY m.happened_at, m.id), array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id),
               array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id))
      FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id AND o.status = 'accepted'
     WHERE m.container_no = _expected_seal.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
       AND m.facts ->> 'LOAI_NIEM_PHONG' = seal_kind
       AND m.happened_at >= coalesce((SELECT max(i.happened_at) FROM vasscm.movement i
                                       WHERE i.container_no = _expected_seal.container_no AND i.kind = 'gate_in' AND i.undone_at IS NULL),
                                     '-infinity')
$$;

-- The rows of containers (see the head of this file), computed from the sources. Every lookup
-- is made per container through its index (LATERAL), so that recomputing one container is a
-- few index lookups and a whole rebuild is linear in the number of containers, whatever the
-- plan's estimate of the number of keys. (One generic plan per session: never planned again per
-- call, nor compiled by JIT.)
CREATE OR REPLACE FUNCTION _container_rows(keys text[]) RETURNS SETOF clearance_now
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off AS $$
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off AS $$
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
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off AS $$
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

-- What changed touches these containers / bulk declarations: recomputed now, or at the end of
-- the inbox message being applied (vasscm.clearance_refresh = 'defer': the keys wait in
-- vasscm.clearance_pending_*), or not at all while the whole state is rebuilt ('off').
CREATE OR REPLACE FUNCTION _clearance_touch(containers text[], declarations text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    mode text := current_setting('vasscm.clearance_refresh', true);
BEGIN
    IF mode = 'off' THEN
        RETURN;
    ELSIF mode = 'defer' THEN
        PERFORM set_config('vasscm.clearance_pending_containers',
                           concat_ws(E'\x1f', nullif(current_setting('vasscm.clearance_pending_containers', true), ''),
                                     nullif(array_to_string(containers, E'\x1f'), '')), true);
        PERFORM set_config('vasscm.clearance_pending_declarations',
                           concat_ws(E'\x1f', nullif(current_setting('vasscm.clearance_pending_declarations', true), ''),
                                     nullif(array_to_string(declarations, E'\x1f'), '')), true);
    ELSE
        PERFORM vasscm._refresh_clearance(containers, declarations);
    END IF;
END
$$;

-- Starts deferring (returns false when something else already defers or rebuilds: then the
-- caller must not flush).
CREATE OR REPLACE FUNCTION _clearance_defer() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coalesce(current_setting('vasscm.clearance_refresh', true), '') IN ('defer', 'off') THEN
        RETURN false;
    END IF;
    PERFORM set_config('vasscm.clearance_refresh', 'defer', true);
    RETURN true;
END
$$;

-- Recomputes what was deferred, and stops deferring.
CREATE OR REPLACE FUNCTION _clearance_flush() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text[] := string_to_array(nullif(current_setting('vasscm.clearance_pending_containers', true), ''), E'\x1f');
    d text[] := string_to_array(nullif(current_setting('vasscm.clearance_pending_declarations', true), ''), E'\x1f');
BEGIN
    PERFORM set_config('vasscm.clearance_refresh', '', true);
    PERFORM set_config('vasscm.clearance_pending_containers', '', true);
    PERFORM set_config('vasscm.clearance_pending_declarations', '', true);
    PERFORM vasscm._refresh_clearance(c, d);
END
$$;

-- Rebuilds the whole maintained state from its sources (after vasscm.reapply_inbox, a change of
-- scan_selection_validity_days, an upgrade). Returns how many rows.
CREATE OR REPLACE FUNCTION _clearance_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    c text[];
    d text[];
    n bigint;
BEGIN
    LOCK TABLE vasscm.clearance_now IN EXCLUSIVE MODE;
    SELECT array_agg(DISTINCT x) INTO c FROM (
        SELECT dc.container_no AS x FROM vasscm.declaration_container dc
        UNION ALL SELECT i.container_no FROM vasscm.expected_item i WHERE i.container_no IS NOT NULL
        UNION ALL SELECT s.container_no FROM vasscm.scan_selection s
        UNION ALL SELECT r.container_no FROM vasscm.scan_record r
        UNION ALL SELECT m.container_no FROM vasscm.movement m WHERE m.container_no IS NOT NULL) k;
    SELECT array_agg(DISTINCT b.declaration_no) INTO d FROM vasscm.declaration_bulk b;
    TRUNCATE vasscm.clearance_now;
    INSERT INTO vasscm.clearance_now SELECT * FROM vasscm._container_rows(coalesce(c, '{}'));
    INSERT INTO vasscm.clearance_now SELECT * FROM vasscm._bulk_rows(coalesce(d, '{}'));
    SELECT count(*) INTO n FROM vasscm.clearance_now;
    RETURN n;
END
$$;

COMMENT ON FUNCTION _clearance_rebuild() IS 'Rebuilds vasscm.clearance_now from the clearance state, the movement ledger and the outbox; returns how many rows.';

-- Rows that differ between the maintained state and a recomputation (a check: empty when the
-- triggers kept it right).
CREATE OR REPLACE FUNCTION _clearance_drift() RETURNS TABLE (side text, row_text text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH keys AS (
        SELECT array_agg(DISTINCT x) AS c FROM (
            SELECT dc.container_no AS x FROM vasscm.declaration_container dc
            UNION ALL SELECT i.container_no FROM vasscm.expected_item i WHERE i.container_no IS NOT NULL
            UNION ALL SELECT s.container_no FROM vasscm.scan_selection s
            UNION ALL SELECT r.container_no FROM vasscm.scan_record r
            UNION ALL SELECT m.container_no FROM vasscm.movement m WHERE m.container_no IS NOT NULL) k),
    fresh AS (
        SELECT r::text AS t FROM vasscm._container_rows((SELECT coalesce(c, '{}') FROM keys)) r
        UNION ALL SELECT r::text FROM vasscm._bulk_rows(ARRAY(SELECT DISTINCT b.declaration_no FROM vasscm.declaration_bulk b)) r),
    kept AS (SELECT n::text AS t FROM vasscm.clearance_now n)
    (SELECT 'maintained', t FROM kept EXCEPT ALL SELECT 'maintained', t FROM fresh)
    UNION ALL
    (SELECT 'recomputed', t FROM fresh EXCEPT ALL SELECT 'recomputed', t FROM kept)
$$;

COMMENT ON FUNCTION _clearance_drift() IS 'Check: rows of vasscm.clearance_now that a recomputation would not give (maintained) or that it lacks (recomputed); empty when it is right.';

-- Triggers: what each change touches. Statement triggers see every row a statement changed
-- (a list of 3,000 containers is one recomputation); the ledger and the outbox, written one
-- event at a time, have row triggers.
CREATE OR REPLACE FUNCTION _clearance_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text[] := '{}';
    d text[] := '{}';
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('vasscm.clearance_refresh', true), '') <> 'off' THEN
            PERFORM vasscm._clearance_rebuild();
        END IF;
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME IN ('declaration_container', 'expected_item', 'scan_selection', 'scan_record') THEN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            c := c || ARRAY(SELECT n.container_no FROM new_rows n);
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            c := c || ARRAY(SELECT o.container_no FROM old_rows o);
        END IF;
    ELSIF TG_TABLE_NAME = 'declaration_bulk' THEN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            d := d || ARRAY(SELECT n.declaration_no FROM new_rows n);
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            d := d || ARRAY(SELECT o.declaration_no FROM old_rows o);
        END IF;
    ELSIF TG_TABLE_NAME = 'declaration' THEN
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            d := d || ARRAY(SELECT n.declaration_no FROM new_rows n);
        END IF;
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            d := d || ARRAY(SELECT o.declaration_no FROM old_rows o);
        END IF;
        c := ARRAY(SELECT dc.container_no FROM vasscm.declaration_container dc WHERE dc.declaration_no = ANY (d));
        d := ARRAY(SELECT b.declaration_no FROM vasscm.declaration_bulk b WHERE b.declaration_no = ANY (d));
    ELSIF TG_TABLE_NAME = 'expected_list' THEN
        c := ARRAY(SELECT i.container_no FROM vasscm.expected_item i
                    WHERE i.list_id IN (SELECT n.transaction_id FROM new_rows n) AND i.container_no IS NOT NULL);
    END IF;
    PERFORM vasscm._clearance_touch(c, d);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION _clearance_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text[] := '{}';
    d text[] := '{}';
BEGIN
    IF TG_TABLE_NAME = 'movement' THEN
        IF TG_OP <> 'DELETE' THEN
            c := c || NEW.container_no;
            IF NEW.message_type = '22' THEN
                d := d || NEW.declarations;
            END IF;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            c := c || OLD.container_no;
            IF OLD.message_type = '22' THEN
                d := d || OLD.declarations;
            END IF;
        END IF;
    ELSIF NEW.message_type = '24' THEN
        c := ARRAY[NEW.data ->> 'SO_CONTAINER'];
    ELSE   -- CANCEL_PASSED: the gate-out it cancels counts no more, or again
        c := ARRAY[NEW.data ->> 'SO_CONTAINER'];
        d := ARRAY(SELECT b.declaration_no FROM vasscm.declaration_bulk b WHERE b.bl_no = vasscm._norm(NEW.data ->> 'SO_VAN_DON'));
    END IF;
    PERFORM vasscm._clearance_touch(c, d);
    RETURN NULL;
END
$$;

DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['declaration', 'declaration_container', 'declaration_bulk', 'expected_item', 'scan_selection', 'scan_record'] LOOP
        EXECUTE format('CREATE TRIGGER clearance_ins AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed()', t);
        EXECUTE format('CREATE TRIGGER clearance_upd AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed()', t);
        EXECUTE format('CREATE TRIGGER clearance_del AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed()', t);
        EXECUTE format('CREATE TRIGGER clearance_trunc AFTER TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed()', t);
    END LOOP;
END
$triggers$;

CREATE TRIGGER clearance_upd AFTER UPDATE ON expected_list REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed();

CREATE TRIGGER clearance_event AFTER INSERT OR UPDATE OR DELETE ON movement
    FOR EACH ROW EXECUTE FUNCTION _clearance_event();

CREATE TRIGGER clearance_trunc AFTER TRUNCATE ON movement
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed();

CREATE TRIGGER clearance_event AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (NEW.message_type IN ('24', 'CANCEL_PASSED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION _clearance_event();

-- The ledger's triggers fire for rows written by logical replication's apply worker too
-- (interpretation at commit runs in its transaction).
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_event;

ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_trunc;

ALTER TABLE outbox ENABLE ALWAYS TRIGGER clearance_event;

-- A new validity of scan selections changes which apply: the containers selected are recomputed.
CREATE OR REPLACE FUNCTION _clearance_setting_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._clearance_touch(ARRAY(SELECT DISTINCT s.container_no FROM vasscm.scan_selection s), NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER clearance_setting AFTER UPDATE OF value ON setting
    FOR EACH ROW WHEN (NEW.name = 'scan_selection_validity_days' AND OLD.value IS DISTINCT FROM NEW.value)
    EXECUTE FUNCTION _clearance_setting_changed();

CREATE OR REPLACE VIEW clearance_state AS
SELECT s.cargo_kind, s.container_no, s.declaration_no, s.bl_no, s.registered_on, s.customs_office, s.cargo_flow, s.channel,
       s.channel_name, s.state, coalesce(s.scan_until > now(), false) AS scan_required,
       s.scan_ok AND coalesce(s.scan_until > now(), false) AS scan_done, s.carrier_seal, s.customs_seal,
       s.quantity_declared, s.quantity_out, s.weight_kg_declared, s.weight_kg_out, s.volume_m3_declared, s.volume_m3_out,
       s.set_by, s.set_by_form, s.eligible_at, s.status_at, s.status_reason, s.updated_at,
       s.quantity_unit, s.visit_in_at, s.left_at
  FROM vasscm.clearance_now s;

COMMENT ON VIEW clearance_state IS 'Clearance of every container and bulk B/L customs told the port about, and of every container the port knows (see vasscm.clearance()).';

COMMENT ON COLUMN clearance_state.carrier_seal IS 'The carrier seal the gate expects: customs'' data as changed by the seal changes (24) of this visit customs accepted.';

COMMENT ON COLUMN clearance_state.quantity_out IS 'What left (all 22 trips in the ledger, whatever their message''s status), in the declared unit (quantity_unit); trips in a unit that does not convert are not counted.';

COMMENT ON COLUMN clearance_state.visit_in_at IS 'The gate-in of the container''s current visit (movement ledger).';

COMMENT ON COLUMN clearance_state.left_at IS 'When it left: a container in this visit under this declaration (or, for a declaration of an earlier visit, then); bulk, the last trip.';

CREATE OR REPLACE FUNCTION _unknown(container_no text, declaration_no text, bl_no text) RETURNS SETOF clearance_state
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN container_no IS NULL THEN 'bulk' ELSE 'container' END, container_no, declaration_no, bl_no,
           NULL::date, NULL, NULL, NULL::smallint, NULL, 'unknown', false, false, NULL, NULL,
           NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
           NULL::uuid, NULL, NULL::timestamptz, NULL::timestamptz, NULL, NULL::timestamptz,
           NULL, NULL::timestamptz, NULL::timestamptz
$$;

-- Plain SQL functions without SET or SECURITY DEFINER, so that PostgreSQL inlines them into a
-- report's join: clearance() is one indexed table, which a whole-yard report hash-joins.
CREATE OR REPLACE FUNCTION clearance(container_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM vasscm.clearance_state s WHERE s.container_no = vasscm.normalize_container_no(clearance.container_no)
$$;

COMMENT ON FUNCTION clearance(text) IS 'Clearance of a container (number normalised): one row per declaration, a row per expected-list line, or one row with state unknown when only the port knows it; no row for a number nobody ever mentioned.';

CREATE OR REPLACE FUNCTION clearance_by_declaration(declaration_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no)
    UNION ALL
    SELECT u.* FROM vasscm._unknown(NULL, vasscm._norm(clearance_by_declaration.declaration_no), NULL) u
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no))
$$;

COMMENT ON FUNCTION clearance_by_declaration(text) IS 'Clearance of every container / B/L of a declaration, or one row with state unknown.';

CREATE OR REPLACE FUNCTION clearance_by_bl(bl_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT r.* FROM (SELECT vasscm._norm(clearance_by_bl.bl_no) AS k OFFSET 0) n
    CROSS JOIN LATERAL (
        SELECT s.* FROM vasscm.clearance_state s WHERE s.cargo_kind = 'bulk' AND s.bl_no = n.k
        UNION ALL
        -- containers: those customs listed on this B/L (01), through the index on expected_item
        SELECT s.* FROM (SELECT DISTINCT i.container_no FROM vasscm.expected_item i
                          WHERE i.bl_no = n.k AND i.container_no IS NOT NULL) c
        CROSS JOIN LATERAL (SELECT x.* FROM vasscm.clearance_state x WHERE x.container_no = c.container_no OFFSET 0) s
         WHERE s.bl_no = n.k
        UNION ALL
        SELECT u.* FROM vasscm._unknown(NULL, NULL, n.k) u
         WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_bulk b WHERE b.bl_no = n.k)
           AND NOT EXISTS (SELECT 1 FROM vasscm.expected_item i WHERE i.bl_no = n.k)) r
$$;

COMMENT ON FUNCTION clearance_by_bl(text) IS 'Clearance of everything on a bill of lading, or one row with state unknown.';

CREATE OR REPLACE FUNCTION record_scan(container_no text, scanned_at timestamptz DEFAULT now(), note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF container_no IS NULL OR NOT vasscm.is_valid_container_no(container_no) THEN
        RAISE EXCEPTION 'vasscm: "%" is not a valid container number', coalesce(container_no, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.scan_record (container_no, scanned_at, note)
    VALUES (vasscm.normalize_container_no(container_no), coalesce(scanned_at, now()), note);
END
$$;

COMMENT ON FUNCTION record_scan(text, timestamptz, text) IS 'Operator: records that a container was scanned at the port.';

-- The seal a clerk typed against the seal the gate expects (customs' data, as changed by the
-- accepted seal changes of this visit): compared as identifiers; NULL when they match or
-- customs has no seal, else the reason (with a seal change of this visit still waiting for
-- customs, if any). seal_kind: HANG_TAU (carrier) or HAI_QUAN (customs).
CREATE OR REPLACE FUNCTION _seal_reason(container_no text, seal_kind text, given text, expected text, visit_in_at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    waiting record;
    shown   text := vasscm._norm(given);
BEGIN
    IF expected IS NULL OR vasscm._seal_key(given) IS NOT DISTINCT FROM vasscm._seal_key(expected) THEN
        RETURN NULL;
    END IF;
    SELECT vasscm._norm(m.seal) AS seal, coalesce(o.status, 'không có thông điệp') AS status INTO waiting
      FROM vasscm.movement m LEFT JOIN vasscm.outbox o ON o.id = m.outbox_id
     WHERE m.container_no = _seal_reason.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
       AND m.facts ->> 'LOAI_NIEM_PHONG' = _seal_reason.seal_kind AND m.happened_at >= coalesce(_seal_reason.visit_in_at, '-infinity')
       AND o.status IS DISTINCT FROM 'accepted' AND o.status IS DISTINCT FROM 'cancelled' AND o.status IS DISTINCT FROM 'rejected'
     ORDER BY m.happened_at DESC, m.id DESC LIMIT 1;
    RETURN format('Niêm phong %s %s không khớp dữ liệu hải quan (%s)%s / %s seal %s does not match customs data (%s)%s',
                  CASE seal_kind WHEN 'HANG_TAU' THEN 'hãng tàu' ELSE 'hải quan' END, coalesce(shown, 'trống'), expected,
                  CASE WHEN waiting.seal IS NOT NULL
                       THEN format('; thay đổi niêm phong (mẫu 24) sang %s đang chờ hải quan chấp nhận (trạng thái %s)', waiting.seal, waiting.status) ELSE '' END,
                  CASE seal_kind WHEN 'HANG_TAU' THEN 'carrier' ELSE 'customs' END, coalesce(shown, 'none'), expected,
                  CASE WHEN waiting.seal IS NOT NULL
                       THEN format('; a seal change (form 24) to %s is waiting for customs (status %s)', waiting.seal, waiting.status) ELSE '' END);
END
$$;

CREATE OR REPLACE FUNCTION gate_out_check(container_no text, carrier_seal text, customs_seal text, declarations text[] DEFAULT NULL)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont    text;
    given   text[];
    why     text[] := '{}';
    cur_rows vasscm.clearance_now[];
    r       vasscm.clearance_now;
    dno     text;
    d       vasscm.declaration;
    w       text;
    covered int := 0;
    scan_due boolean := false;
    -- reasons that only say customs' electronic eligibility is missing: a paper list of the open
    -- incident (form 36) covering the container excuses them; not_in_* only a list line naming
    -- this container with that declaration
    missing     text[] := '{}';
    not_in_dno  text[] := '{}';
    not_in_why  text[] := '{}';
    by_paper    boolean := false;
    i           int;
BEGIN
    IF container_no IS NULL OR btrim(container_no) = '' THEN
        RAISE EXCEPTION 'vasscm: gate_out_check needs the container number'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'vasscm.gate_out_check(container_no, carrier_seal, customs_seal, declarations DEFAULT NULL): the seals and the declarations may be NULL (none given), the container number may not.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();   -- never behind what the TOS did (vasscm.interpret = async): vasscm._catch_up()
    END IF;
    cont := vasscm.normalize_container_no(container_no);
    IF NOT vasscm.is_valid_container_no(cont) THEN
        RETURN QUERY SELECT false, ARRAY[format('Số container "%s" không hợp lệ (ISO 6346) / "%s" is not a valid container number (ISO 6346)',
                                                container_no, container_no)];
        RETURN;
    END IF;
    IF declarations IS NOT NULL THEN
        given := (SELECT array_agg(DISTINCT vasscm._norm(x)) FROM unnest(declarations) AS x WHERE vasscm._norm(x) IS NOT NULL);
    END IF;
    cur_rows := ARRAY(SELECT x FROM vasscm.clearance_now x WHERE x.container_no = cont ORDER BY x.declaration_no);
    -- Declarations the clerk gave that do not cover this container (this visit).
    FOREACH dno IN ARRAY coalesce(given, '{}') LOOP
        r := NULL;
        FOR i IN 1 .. cardinality(cur_rows) LOOP
            IF cur_rows[i].declaration_no = dno THEN
                r := cur_rows[i];
            END IF;
        END LOOP;
        IF r.declaration_no IS NULL THEN
            SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
            IF d.eligible_at IS NULL THEN
                missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
            ELSE
                not_in_dno := not_in_dno || dno;
                not_in_why := not_in_why || format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno);
            END IF;
        ELSIF r.covers THEN
            CONTINUE;
        ELSIF r.eligible_at IS NULL THEN
            missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
        ELSIF NOT r.listed THEN
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || CASE WHEN r.set_by_form = '07'
                THEN format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                            cont, dno, vasscm._gate_time(r.container_set_at), cont, dno, vasscm._gate_time(r.container_set_at))
                ELSE format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno) END;
        ELSE   -- of an earlier visit
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s cần thông điệp đủ điều kiện mới (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); this visit (in since %s) needs a new eligibility message (form 04)',
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'));
        END IF;
    END LOOP;
    FOREACH r IN ARRAY cur_rows LOOP
        IF r.scan_until > now() AND NOT r.scan_ok THEN
            scan_due := true;
        END IF;
        CONTINUE WHEN NOT r.covers;
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
        IF r.carrier_seal IS NOT NULL AND vasscm._norm(carrier_seal) IS DISTINCT FROM r.carrier_seal THEN
            w := vasscm._seal_reason(cont, 'HANG_TAU', carrier_seal, r.carrier_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.customs_seal IS NOT NULL AND vasscm._norm(customs_seal) IS DISTINCT FROM r.customs_seal THEN
            w := vasscm._seal_reason(cont, 'HAI_QUAN', customs_seal, r.customs_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.gone THEN
            why := why || format('Container %s đã ra khỏi khu vực giám sát theo tờ khai %s lúc %s (lượt ra ghi nhận từ TOS) / container %s already left under declaration %s at %s (gate-out recorded from the TOS)',
                                 cont, r.declaration_no, vasscm._gate_time(r.left_at), cont, r.declaration_no, vasscm._gate_time(r.left_at));
        END IF;
    END LOOP;
    IF covered = 0 AND (given IS NULL OR cardinality(why) + cardinality(missing) + cardinality(not_in_dno) = 0) THEN
        -- Nothing covers it: say why when customs did say something about it.
        w := NULL;
        FOREACH r IN ARRAY cur_rows LOOP
            IF r.declaration_no IS NOT NULL AND NOT r.listed AND r.set_by_form = '07' AND NOT r.earlier_visit THEN
                w := concat_ws(' | ', w, format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at),
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at)));
            ELSIF r.earlier_visit AND r.listed AND r.eligible_at IS NOT NULL THEN
                w := concat_ws(' | ', w, format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s chưa có thông điệp đủ điều kiện (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); no eligibility message (form 04) covers this visit (in since %s)',
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?')));
            END IF;
        END LOOP;
        IF w IS NULL THEN
            missing := missing || format('Container %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container %s', cont, cont);
        ELSE
            missing := missing || string_to_array(w, ' | ');
        END IF;
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
    IF scan_due THEN
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
    allowed := cardinality(why) = 0;
    reasons := CASE WHEN cardinality(why) <= 1 THEN why
                    ELSE ARRAY(SELECT s.x FROM (SELECT DISTINCT ON (u.x) u.x, u.n FROM unnest(why) WITH ORDINALITY AS u(x, n) ORDER BY u.x, u.n) s ORDER BY s.n) END;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION gate_out_check(text, text, text, text[]) IS
    'Gate: may this container leave the supervision zone in its current visit? (allowed, reasons in Vietnamese / English; during an incident, the paper list that allowed it).';

CREATE OR REPLACE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric,
                                    quantity_unit text)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    dno  text := vasscm._norm(declaration_no);
    bl   text := vasscm._norm(bl_no);
    unit text := vasscm._unit(quantity_unit);
    d    vasscm.declaration;
    b    vasscm.declaration_bulk;
    o    vasscm.clearance_now;
    q    numeric := quantity;
    why  text[] := '{}';
    n    int;
BEGIN
    IF dno IS NULL THEN
        RAISE EXCEPTION 'vasscm: gate_out_check_bulk needs the declaration number'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'vasscm.gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3 [, quantity_unit]): bl_no may be NULL when the declaration has one B/L.';
    END IF;
    IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
        RAISE EXCEPTION 'vasscm: gate_out_check_bulk needs the quantity, weight or volume leaving now'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give at least one of quantity (with its unit), weight_kg, volume_m3 of this truck, barge or pump-out.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();   -- never behind what the TOS did (vasscm.interpret = async): vasscm._catch_up()
    END IF;
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
                                                dno, dno)];
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
        SELECT * INTO o FROM vasscm.clearance_now x WHERE x.cargo_kind = 'bulk' AND x.declaration_no = dno AND x.bl_no = b.bl_no;
        IF quantity IS NOT NULL AND b.quantity IS NOT NULL THEN
            q := vasscm._in_unit(quantity, unit, b.quantity_unit);
            IF q IS NULL THEN
                why := why || format('Đơn vị tính của lần này (%s) khác đơn vị khai báo (%s): không cộng số lượng khác đơn vị / the unit of this trip (%s) differs from the declared unit (%s): quantities in different units are not added',
                                     unit, vasscm._unit(b.quantity_unit), unit, vasscm._unit(b.quantity_unit));
            ELSIF coalesce(o.quantity_out, 0) + q > b.quantity THEN
                why := why || format('Số lượng vượt khai báo: đã ra %s + lần này %s > khai báo %s %s / quantity above declared: %s out + %s now > %s %s declared',
                                     vasscm._fmt(o.quantity_out), vasscm._fmt(q), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''),
                                     vasscm._fmt(o.quantity_out), vasscm._fmt(q), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''));
            END IF;
        END IF;
        IF b.weight_kg IS NOT NULL AND weight_kg IS NOT NULL AND coalesce(o.weight_kg_out, 0) + weight_kg > b.weight_kg THEN
            why := why || format('Trọng lượng vượt khai báo: đã ra %s kg + lần này %s kg > khai báo %s kg / heavier than declared: %s kg out + %s kg now > %s kg declared',
                                 vasscm._fmt(o.weight_kg_out), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg),
                                 vasscm._fmt(o.weight_kg_out), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg));
        END IF;
        IF b.volume_m3 IS NOT NULL AND volume_m3 IS NOT NULL AND coalesce(o.volume_m3_out, 0) + volume_m3 > b.volume_m3 THEN
            why := why || format('Thể tích vượt khai báo: đã ra %s m3 + lần này %s m3 > khai báo %s m3 / volume above declared: %s m3 out + %s m3 now > %s m3 declared',
                                 vasscm._fmt(o.volume_m3_out), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3),
                                 vasscm._fmt(o.volume_m3_out), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3));
        END IF;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, why;
END
$$;

COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric, text) IS
    'Gate: may this truck / barge / pump-out of bulk leave? Every trip that left counts (the ledger); quantities in the declared unit (kg / t and m3 / l convert, other units never add up); lighter than declared passes; during an incident, within a paper list''s.';

-- The same, the trip's quantity in the declared unit.
CREATE OR REPLACE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM vasscm.gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3, NULL::text)
$$;

COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric) IS
    'Gate: gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3, quantity_unit) with the quantity in the declared unit.';

CREATE INDEX movement_gate_out_by_time ON movement (happened_at) WHERE kind = 'gate_out' AND undone_at IS NULL AND happened_at IS NOT NULL;

CREATE OR REPLACE VIEW _deadlines_of_messages AS
WITH lim AS (
    SELECT vasscm._setting_value('gate_out_deadline_import_minutes')::int AS imp, vasscm._setting_value('gate_out_deadline_export_minutes')::int AS exp,
           vasscm._setting_value('list_lead_hours')::int AS list_h, vasscm._setting_value('scan_list_lead_hours')::int AS scan_h,
           now() - make_interval(days => vasscm._setting_value('deadline_window_days')::int) AS since),
gate AS (
    SELECT o.id, o.transaction_id, m.message_type, coalesce(m.container_no, m.bl_no) AS reference, o.status, o.order_key, o.last_error,
           -- when the goods left: as the port reports it (the message), or as the ledger has it when the message is unusable
           coalesce(CASE WHEN o.status NOT IN ('invalid', 'cancelled') THEN (o.data ->> 'THOI_GIAN')::timestamptz END, m.happened_at) AS event_at,
           coalesce(m.facts ->> 'LOAI_HANG', o.data ->> 'LOAI_HANG') AS flow,
           (SELECT min(h.at) FROM vasscm.outbox_history h WHERE h.outbox_id = o.id AND h.to_status = 'accepted') AS accepted_at
      FROM vasscm.movement m
      JOIN vasscm.outbox o ON o.id = m.outbox_id
     WHERE m.kind = 'gate_out' AND m.undone_at IS NULL AND o.status <> 'cancelled'
       AND m.happened_at > (SELECT lim.since - interval '1 day' FROM lim)
       AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                        WHERE c.message_type = 'CANCEL_PASSED' AND c.original_transaction_id = o.transaction_id AND c.status = 'accepted')),
late AS (
    SELECT g.*, CASE WHEN g.flow = 'NHAP' THEN lim.imp ELSE lim.exp END AS mins
      FROM gate g CROSS JOIN lim
     WHERE g.event_at > lim.since
       AND coalesce(g.accepted_at, now()) > g.event_at + make_interval(mins => CASE WHEN g.flow = 'NHAP' THEN lim.imp ELSE lim.exp END))
SELECT 'gate_out'::text AS kind, g.transaction_id, g.message_type, g.reference, g.event_at,
       g.event_at + make_interval(mins => g.mins) AS due_at, g.accepted_at AS done_at,
       CASE WHEN g.accepted_at IS NULL THEN 'overdue' ELSE 'late' END AS state,
       format('Mẫu %s chưa được hải quan chấp nhận trong %s phút kể từ khi hàng ra (trạng thái %s)%s / form %s not accepted by customs within %s minutes of the goods leaving (status %s)%s',
              g.message_type, g.mins, g.status, coalesce('; ' || b.vi, ''), g.message_type, g.mins, g.status, coalesce('; ' || b.en, '')) AS detail
  FROM late g
  -- what holds it back: its own data (invalid), an earlier message for the same container / B/L
  -- still waiting (for an approval, for its own original), or customs' answer (dead, rejected)
  LEFT JOIN LATERAL (
      SELECT CASE WHEN g.status = 'invalid' THEN format('không hợp lệ: %s', left(coalesce(g.last_error, ''), 200))
                  WHEN e.id IS NOT NULL THEN format('bị giữ lại sau mẫu %s (%s) %s', e.message_type, e.transaction_id,
                       CASE WHEN e.status = 'pending_approval' THEN 'đang chờ phê duyệt'
                            WHEN e.orig_status IS NOT NULL THEN format('đang chờ thông điệp gốc của nó (trạng thái %s)', e.orig_status)
                            ELSE format('chưa được gửi (trạng thái %s)', e.status) END)
                  WHEN g.status = 'dead' THEN 'gửi không thành công, cần gửi lại (vasscm.requeue)'
                  WHEN g.status = 'rejected' THEN 'bị hải quan từ chối' END AS vi,
             CASE WHEN g.status = 'invalid' THEN format('invalid: %s', left(coalesce(g.last_error, ''), 200))
                  WHEN e.id IS NOT NULL THEN format('held back by form %s (%s) %s', e.message_type, e.transaction_id,
                       CASE WHEN e.status = 'pending_approval' THEN 'waiting for approval'
                            WHEN e.orig_status IS NOT NULL THEN format('waiting for its original (status %s)', e.orig_status)
                            ELSE format('not sent yet (status %s)', e.status) END)
                  WHEN g.status = 'dead' THEN 'sending failed, requeue it (vasscm.requeue)'
                  WHEN g.status = 'rejected' THEN 'rejected by customs' END AS en
        FROM (SELECT NULL::int AS one) one
        LEFT JOIN LATERAL (
            SELECT x.id, x.message_type, x.transaction_id, x.status,
                   (SELECT y.status FROM vasscm.outbox y WHERE y.transaction_id = x.original_transaction_id
                       AND y.status IN ('invalid', 'pending_approval', 'queued', 'sending', 'dead')) AS orig_status
              FROM vasscm.outbox x
             WHERE g.status IN ('queued', 'pending_approval') AND x.order_key = g.order_key AND x.id < g.id
               AND x.status IN ('queued', 'sending', 'pending_approval')
             ORDER BY (x.status = 'pending_approval') DESC, x.id LIMIT 1) e ON true) b ON true
UNION ALL
SELECT 'list', l.transaction_id, l.form, l.vessel_call, l.received_at, l.eta - make_interval(hours => lim.list_h), l.received_at, 'late',
       format('Danh sách mẫu %s đến muộn: %s trước ETA, quy định %s giờ / list form %s arrived %s before ETA, %s h required',
              l.form, to_char(l.eta - l.received_at, 'HH24:MI'), lim.list_h, l.form, to_char(l.eta - l.received_at, 'HH24:MI'), lim.list_h)
  FROM vasscm.expected_list l CROSS JOIN lim
 WHERE l.form IN ('01', '02') AND l.eta IS NOT NULL AND l.received_at > l.eta - make_interval(hours => lim.list_h)
   AND l.received_at > lim.since
UNION ALL
SELECT 'scan_list', s.transaction_id, '03', min(s.vessel_call), min(s.received_at), min(s.eta) - make_interval(hours => min(lim.scan_h)),
       min(s.received_at), 'late',
       format('Danh sách soi chiếu (mẫu 03) đến muộn, quy định %s giờ trước ETA / scan list (form 03) arrived later than %s h before ETA',
              min(lim.scan_h), min(lim.scan_h))
  FROM vasscm.scan_selection s CROSS JOIN lim
 WHERE s.eta IS NOT NULL AND s.received_at > lim.since
 GROUP BY s.transaction_id
HAVING min(s.received_at) > min(s.eta) - make_interval(hours => min(lim.scan_h));

COMMENT ON VIEW _deadlines_of_messages IS 'Deadlines of messages (gate-outs from the movement ledger, customs lists); vasscm.deadlines adds the incident notifications.';

REVOKE ALL ON vasscm.setting_rule, vasscm.unit_conversion, vasscm.clearance_now FROM PUBLIC;

REVOKE ALL ON FUNCTION vasscm._setting_check(), vasscm._seal_key(text), vasscm._unit(text), vasscm._in_unit(numeric, text, text),
                       vasscm._gate_time(timestamptz), vasscm._seal_after_changes(text, timestamptz, timestamptz[], text[], text[]),
                       vasscm._container_rows(text[]), vasscm._bulk_rows(text[]), vasscm._refresh_clearance(text[], text[]),
                       vasscm._clearance_touch(text[], text[]), vasscm._clearance_defer(), vasscm._clearance_flush(),
                       vasscm._clearance_rebuild(), vasscm._clearance_drift(), vasscm._clearance_changed(), vasscm._clearance_event(),
                       vasscm._clearance_setting_changed(), vasscm._seal_reason(text, text, text, text, timestamptz),
                       vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric, text)
   FROM PUBLIC;

-- (then the GRANTs of roles.sql, see the notes)

-- The maintained state from what 0.2.0 holds.
SELECT vasscm._clearance_rebuild();

-- Status changes through vasscm._set_status (explicit history, no trigger), HOT status
-- updates, the table of unsettled messages, batched worker writes.
DROP TRIGGER outbox_status_inserted ON vasscm.outbox;

DROP TRIGGER outbox_status_updated ON vasscm.outbox;

DROP FUNCTION vasscm._outbox_status_changed();

DROP INDEX vasscm.outbox_ready;

ALTER TABLE vasscm.outbox SET (fillfactor = 70);

CREATE TABLE vasscm.outbox_open (
    outbox_id    bigint PRIMARY KEY,
    status       text NOT NULL,
    message_type text NOT NULL,
    created_at   timestamptz NOT NULL
) WITH (fillfactor = 50);

COMMENT ON TABLE vasscm.outbox_open IS 'The unsettled outbox messages with their status (kept in step by vasscm._set_status): what the worker claims from, what monitoring counts.';

SELECT pg_catalog.pg_extension_config_dump('vasscm.outbox_open', '');

CREATE OR REPLACE FUNCTION vasscm._unsettled(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('invalid', 'pending_approval', 'queued', 'sending', 'sent', 'dead')
$$;

INSERT INTO vasscm.outbox_open (outbox_id, status, message_type, created_at)
SELECT id, status, message_type, created_at FROM vasscm.outbox WHERE vasscm._unsettled(status);

ALTER TABLE vasscm.message_log ALTER COLUMN body SET COMPRESSION lz4;

   -- new rows; recurses to the partitions

CREATE OR REPLACE FUNCTION _set_status(ids bigint[], statuses text[], reasons text[], last_errors text[] DEFAULT NULL,
                            delays float8[] DEFAULT NULL, worker text DEFAULT NULL, lease_seconds int DEFAULT NULL)
RETURNS TABLE (outbox_id bigint, transaction_id uuid, message_type text, from_status text, to_status text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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

CREATE OR REPLACE FUNCTION _set_status(outbox_id bigint, status text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM FROM vasscm._set_status(ARRAY[outbox_id], ARRAY[status], ARRAY[reason],
                                    ARRAY[CASE WHEN status IN ('cancelled', 'invalid') THEN coalesce(reason, '') END]);
END
$$;

CREATE OR REPLACE FUNCTION _first_status(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
BEGIN
    SELECT x.id, x.transaction_id, x.message_type, x.status, x.created_at INTO o
      FROM vasscm.outbox x WHERE x.id = _first_status.outbox_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no outbox message %', outbox_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO vasscm.outbox_history (outbox_id, transaction_id, from_status, to_status, reason)
    VALUES (o.id, o.transaction_id, NULL, o.status, reason);
    IF vasscm._unsettled(o.status) THEN
        INSERT INTO vasscm.outbox_open AS q (outbox_id, status, message_type, created_at)
        VALUES (o.id, o.status, o.message_type, o.created_at)
        ON CONFLICT ON CONSTRAINT outbox_open_pkey DO UPDATE SET status = EXCLUDED.status;
    END IF;
    IF o.status = 'queued' THEN
        PERFORM pg_notify('vasscm_outbox', o.message_type);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION _resync_open() RETURNS bigint
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

CREATE OR REPLACE FUNCTION _claimable(batch_size int) RETURNS SETOF bigint
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

CREATE OR REPLACE FUNCTION record_signed_batch(transaction_ids uuid[], signed text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO vasscm.message_log (transaction_id, direction, kind, body)
    SELECT u.tid, 'out', 'signed', u.body FROM unnest(transaction_ids, signed) WITH ORDINALITY AS u(tid, body, i) ORDER BY u.i;
END
$$;

COMMENT ON FUNCTION record_signed_batch(uuid[], text[]) IS 'Worker: logs several signed messages before they are sent.';

CREATE OR REPLACE FUNCTION record_replies(transaction_ids uuid[], replies jsonb[], http_statuses int[], bodies text[],
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

CREATE OR REPLACE FUNCTION requeue_expired() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(x.id) INTO ids FROM (
        SELECT o.id FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
         WHERE q.status = 'sending' AND o.status = 'sending' AND o.lease_until < now()
         ORDER BY o.id FOR UPDATE OF o SKIP LOCKED) x;
    IF ids IS NOT NULL THEN
        PERFORM FROM vasscm._set_status(ids, array_fill('queued'::text, ARRAY[cardinality(ids)]),
                                        array_fill('worker lease expired'::text, ARRAY[cardinality(ids)]),
                                        NULL, array_fill(0::float8, ARRAY[cardinality(ids)]));
    END IF;
    IF ids IS NOT NULL OR EXISTS (SELECT 1 FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
                                   WHERE q.status = 'queued' AND o.status = 'queued' AND o.next_attempt_at <= now()) THEN
        PERFORM pg_notify('vasscm_outbox', 'due');
    END IF;
    RETURN coalesce(cardinality(ids), 0);
END
$$;

COMMENT ON FUNCTION requeue_expired() IS 'Job: re-queues messages whose worker lease expired and wakes workers for due retries.';

CREATE OR REPLACE FUNCTION record_signed(transaction_id uuid, signed text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm.record_signed_batch(ARRAY[transaction_id], ARRAY[signed]);
END
$$;

CREATE OR REPLACE FUNCTION release(transaction_id uuid, reason text) RETURNS void
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

CREATE OR REPLACE FUNCTION record_failure(transaction_id uuid, error text, http_status int DEFAULT NULL, body text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION _enqueue(message_type text, data jsonb, mode text, binding_id int, source_table text, source_key jsonb,
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
    -- vasscm.enqueueing tells the incident trigger (sql/incident.sql) a new message from a row
    -- restored by pg_dump, which brings its links with it
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
    PERFORM vasscm._first_status(r.id, CASE WHEN st = 'invalid' THEN r.last_error ELSE reason END);
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION requeue(id bigint, data jsonb DEFAULT NULL) RETURNS text
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

CREATE OR REPLACE FUNCTION approve(id bigint) RETURNS void
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

CREATE OR REPLACE FUNCTION reject(id bigint, reason text) RETURNS void
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

ALTER FUNCTION vasscm.record_signed_batch(uuid[], text[]) SECURITY DEFINER;

ALTER FUNCTION vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8) SECURITY DEFINER;

ALTER FUNCTION vasscm.record_signed(uuid, text) SECURITY DEFINER;

ALTER FUNCTION vasscm.release(uuid, text) SECURITY DEFINER;

ALTER FUNCTION vasscm.record_failure(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;

ALTER FUNCTION vasscm.requeue(bigint, jsonb) SECURITY DEFINER;

ALTER FUNCTION vasscm.approve(bigint) SECURITY DEFINER;

ALTER FUNCTION vasscm.reject(bigint, text) SECURITY DEFINER;

ALTER FUNCTION vasscm.requeue_expired() SECURITY DEFINER;

REVOKE ALL ON FUNCTION vasscm.record_signed_batch(uuid[], text[]), vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8),
                       vasscm._unsettled(text), vasscm._first_status(bigint, text), vasscm._resync_open(), vasscm._claimable(int)
   FROM PUBLIC;

GRANT EXECUTE ON FUNCTION vasscm.record_signed_batch(uuid[], text[]),
                          vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8)
   TO vasscm_worker;

GRANT SELECT ON vasscm.outbox_open TO vasscm_reader, vasscm_worker;

-- CREATE OR REPLACE above reset these (sql/roles.sql).
ALTER FUNCTION vasscm.reapply_inbox() SECURITY DEFINER;

ALTER FUNCTION vasscm.record_scan(text, timestamptz, text) SECURITY DEFINER;

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

-- 7. Camera gates (sql/camera.sql) --------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_camera') THEN CREATE ROLE vasscm_camera NOLOGIN; END IF;
END
$roles$;

GRANT USAGE ON SCHEMA vasscm TO vasscm_camera;

-- Camera gates (ICD pilot, Decision 1865/QĐ-TCHQ) and digital border gates: recognition
-- cameras read container numbers and truck plates at a gate lane; each read is reconciled with
-- customs' data (clearance, expected lists) and the port's own data (the yard, the TOS's gate
-- appointments) and gets a barrier decision, `open` or `hold`, with reasons in Vietnamese and
-- English, in a few milliseconds. Where is a camera read decided? Here: vasscm.record_camera_read().
--
-- * Cameras are registered in vasscm.camera (gate, lane, direction in / out). A camera system
--   (or the vendor's middleware) calls vasscm.record_camera_read(camera_id, read_at,
--   containers, plate, images) as a login role holding vasscm_camera; the same read sent twice
--   (same camera, same read_at) is recorded once and gets the same answer.
-- * Container numbers as read are corrected by their ISO 6346 check digit only when exactly one
--   candidate is plausible — expected at this gate: for an exit in the yard or on a gate-out
--   appointment, for an entry on a gate-in appointment or on customs' expected lists (01 / 02 /
--   08). Ambiguous and unreadable reads are never guessed: they are held for the officer on
--   duty with their candidates (vasscm.camera_review_queue).
-- * An exit opens when every container read is on a gate-out appointment of the TOS for this
--   truck (plate, valid window, gate) and may leave the supervision zone
--   (vasscm.gate_out_check with the appointment's seals and declarations). An entry opens when
--   every container is on a gate-in appointment for this truck or on an expected list, and is
--   not already in the yard. A truck without container needs an appointment of its plate.
--   Everything else is held, with every reason.
-- * The TOS tells vasscm which truck carries which container through vasscm.gate_appointment
--   (filled with vasscm.set_gate_appointment), or through a TOS relation with the same columns
--   named by the setting camera_appointment_source (a view over the replicated TOS tables).
-- * A confirmed exit (opened automatically or by the officer) is a row of vasscm.camera_exit per
--   container: a port without a gate system binds that table to form 21 (vasscm.bind), so that
--   the camera's exit is the gate-out of record.
-- * The officer on duty reviews holds (vasscm.review_camera_read: open manually / keep closed,
--   officer and time recorded) and keeps the shift log (vasscm.shift_log: incidents, camera
--   outages, hand-over, notes; reviews are logged by themselves). A camera silent for
--   camera_outage_minutes during camera_working_hours is an outage (vasscm.watch_cameras(), a
--   job); the vendor or the officer may report one (report_camera_outage).
-- * Reports: vasscm.camera_statistics(from, to) (reads, matches, mismatches, OCR corrections,
--   manual openings, outages per gate / lane: the quarterly statistics), the printable shift log
--   vasscm.camera_shift_log(from, to); views for a TOS or a traffic display: yard_capacity
--   (per block, from vasscm.yard_block and the containers in the yard; it is also a valid
--   relation for report_yard_map), trucks_inside, truck_visits, dwell_by_lane, gate_queue,
--   gate_flow, camera_status.
-- * Camera reads are kept in monthly partitions (camera_read_yYYYYmMM) for
--   camera_retention_months (13 by default, at least 12: Decision 1865 keeps camera data one
--   year); vasscm.maintain_camera_partitions() (a job) makes months ahead and drops old ones.
--   Images are never stored: reads carry their URIs.

-- Containers in the yard now, from the movement ledger (sql/ledger.sql): the gate-in (14) of the
-- box's current visit, not undone in the TOS, with no gate-out (21) since — whatever became of
-- the messages. block is VI_TRI (as last captured: yard moves keep it current) up to its first
-- separator; teu from KICH_CO. A lookup by container_no goes through the ledger's index.
CREATE VIEW _yard_containers AS
SELECT DISTINCT ON (m.container_no) m.container_no,
       upper(substring(coalesce(m.source_data, m.facts) ->> 'VI_TRI' FROM '^\s*([A-Za-z0-9]+)')) AS block,
       nullif(btrim(coalesce(m.source_data, m.facts) ->> 'VI_TRI'), '') AS position,
       m.happened_at AS gate_in_at,
       CASE upper(left(m.facts ->> 'KICH_CO', 1)) WHEN '1' THEN 0.5 WHEN '2' THEN 1 WHEN '3' THEN 1.5 WHEN '4' THEN 2
            WHEN 'L' THEN 2.25 WHEN 'M' THEN 2.4 ELSE 1 END::numeric AS teu
  FROM vasscm.movement m
 WHERE m.kind = 'gate_in' AND m.message_type = '14' AND m.undone_at IS NULL AND m.container_no IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = m.container_no AND g.message_type = '21' AND g.left_at >= m.happened_at)
 ORDER BY m.container_no, m.happened_at DESC;

COMMENT ON VIEW _yard_containers IS
    'Containers in the yard now, from the movement ledger (a gate-in of the current visit, not undone, no gate-out since), with block and position (VI_TRI as last captured), gate-in time and TEU.';

-- Settings (their rules — retention at least 12 months, whole numbers, HH:MM-HH:MM, a readable
-- relation with the appointment columns — are in vasscm.setting_rule, sql/settings.sql).
INSERT INTO setting VALUES
    ('camera_retention_months', '13', 'Camera reads (vasscm.camera_read, monthly partitions) are kept this many months (at least 12: Decision 1865/QĐ-TCHQ keeps camera data one year)'),
    ('camera_outage_minutes', '15', 'A camera with no read for this many minutes during camera_working_hours is recorded as an outage (per camera: vasscm.camera.outage_minutes)'),
    ('camera_working_hours', '00:00-24:00', 'Working hours of the camera gates, Vietnam time, HH:MM-HH:MM (22:00-06:00 spans midnight); outages are detected only inside them'),
    ('camera_appointment_source', NULL, 'Schema-qualified TOS relation (view) of gate appointments with the columns of vasscm.gate_appointment, read instead of that table'),
    ('camera_truck_window_hours', '72', 'How far back (hours) vasscm.trucks_inside and vasscm.truck_visits look for entries');

-- Tables --------------------------------------------------------------------------------------
CREATE TABLE camera (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$'),
    gate           text NOT NULL CHECK (btrim(gate) <> ''),
    lane           text NOT NULL CHECK (btrim(lane) <> ''),
    direction      text NOT NULL CHECK (direction IN ('in', 'out')),
    description    text,
    login_role     text,
    key_hash       bytea,
    key_issued_at  timestamptz,
    outage_minutes int CHECK (outage_minutes >= 1),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT session_user,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE camera IS 'Recognition cameras at the gates: gate, lane, direction (in / out); register with vasscm.register_camera.';

COMMENT ON COLUMN camera.login_role IS 'When set, only this login role may record reads for the camera (else any holder of vasscm_camera).';

COMMENT ON COLUMN camera.key_hash IS 'SHA-256 of the camera''s key for an HTTP endpoint (vasscm.issue_camera_key, vasscm.camera_key_matches); the key itself is never stored.';

COMMENT ON COLUMN camera.outage_minutes IS 'Minutes without a read that make an outage for this camera (NULL: setting camera_outage_minutes).';

-- Which truck carries which container through which gate, as the TOS planned it (gate pass,
-- EIR, truck appointment). One row per truck and container (a truck with two boxes: two rows;
-- a truck coming to pick up or leaving empty: container_no NULL).
CREATE TABLE gate_appointment (
    appointment_ref text PRIMARY KEY,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    plate           text NOT NULL,
    container_no    text,
    gate            text,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz NOT NULL,
    declarations    text[],
    carrier_seal    text,
    customs_seal    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT session_user,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to > valid_from)
);

CREATE INDEX gate_appointment_by_container ON gate_appointment (container_no, direction, valid_to);

CREATE INDEX gate_appointment_by_plate ON gate_appointment (plate, direction, valid_to);

COMMENT ON TABLE gate_appointment IS
    'Gate appointments from the TOS: which truck (plate) takes which container in or out, when, through which gate (NULL: any), with the declarations and seals of a gate-out. Filled with vasscm.set_gate_appointment, or replaced by the setting camera_appointment_source.';

-- Yard blocks and their capacity, as the port declares them (the yard map, form 13 / YARD_MAP).
CREATE TABLE yard_block (
    block_code   text PRIMARY KEY,
    block_name   text,
    capacity_teu numeric NOT NULL CHECK (capacity_teu >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL DEFAULT session_user
);

COMMENT ON TABLE yard_block IS 'Yard blocks and their capacity in TEU (vasscm.set_yard_block); occupancy in vasscm.yard_capacity.';

-- Camera reads and their decisions, in monthly partitions.
CREATE SEQUENCE camera_read_id_seq;

CREATE TABLE camera_read (
    id               bigint NOT NULL DEFAULT nextval('vasscm.camera_read_id_seq'),
    read_at          timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    camera_id        text NOT NULL,
    gate             text NOT NULL,
    lane             text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    containers       jsonb NOT NULL DEFAULT '[]',
    plate_read       text,
    plate            text,
    images           text[],
    results          jsonb NOT NULL DEFAULT '[]',
    container_nos    text[] NOT NULL DEFAULT '{}',
    decision         text NOT NULL CHECK (decision IN ('open', 'hold')),
    reasons          text[] NOT NULL DEFAULT '{}',
    hold_kinds       text[] NOT NULL DEFAULT '{}',
    appointment_refs text[] NOT NULL DEFAULT '{}',
    decided_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    decision_ms      numeric,
    review_decision  text CHECK (review_decision IN ('open', 'keep_closed')),
    reviewed_at      timestamptz,
    reviewed_by      text,
    review_note      text,
    review_containers text[],
    opened           boolean GENERATED ALWAYS AS (decision = 'open' OR review_decision = 'open') STORED,
    PRIMARY KEY (id, read_at),
    CONSTRAINT camera_read_once UNIQUE (camera_id, read_at),
    CHECK (review_decision IS NULL OR decision = 'hold')
) PARTITION BY RANGE (read_at);

ALTER SEQUENCE camera_read_id_seq OWNED BY camera_read.id;

CREATE TABLE camera_read_default PARTITION OF camera_read DEFAULT;

CREATE INDEX camera_read_by_at ON camera_read (read_at);

CREATE INDEX camera_read_by_plate ON camera_read (plate, read_at) WHERE opened AND plate IS NOT NULL;

CREATE INDEX camera_read_pending ON camera_read (read_at) WHERE decision = 'hold' AND review_decision IS NULL;

CREATE INDEX camera_read_by_container ON camera_read USING gin (container_nos);

COMMENT ON TABLE camera_read IS
    'Every camera read (as read: containers with confidence, plate, image URIs) and its decision (open / hold, reasons, per-container OCR results) and review. Monthly partitions, kept camera_retention_months.';

COMMENT ON COLUMN camera_read.containers IS 'The container numbers as the camera read them: [{"number": "...", "confidence": 0.97}].';

COMMENT ON COLUMN camera_read.results IS 'Per container read: outcome of the OCR correction (valid, corrected, ambiguous, unreadable), the number used, candidates, whether it matched, kind and reasons, the appointment.';

COMMENT ON COLUMN camera_read.container_nos IS 'The container numbers the decision used (read or corrected), or the officer''s after a manual opening.';

COMMENT ON COLUMN camera_read.hold_kinds IS 'Why held, as codes: camera_inactive, unreadable, ambiguous, no_appointment, appointment_window, plate_unread, plate_mismatch, not_cleared, already_in_yard, not_expected, container_missing.';

COMMENT ON COLUMN camera_read.opened IS 'The barrier opened: automatically (decision open) or by the officer (review_decision open).';

-- Confirmed exits, one row per container: what a port without a gate system binds to form 21.
CREATE TABLE camera_exit (
    read_id         bigint NOT NULL,
    container_no    text NOT NULL,
    read_at         timestamptz NOT NULL,
    camera_id       text NOT NULL,
    gate            text NOT NULL,
    lane            text NOT NULL,
    plate           text,
    declarations    text[] NOT NULL DEFAULT '{}',
    carrier_seal    text,
    customs_seal    text,
    cargo_flow      text NOT NULL DEFAULT 'NHAP',
    appointment_ref text,
    confirmed_by    text NOT NULL,
    confirmed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (read_id, container_no)
);

CREATE INDEX camera_exit_by_container ON camera_exit (container_no, read_at);

CREATE INDEX camera_exit_by_at ON camera_exit (read_at);

COMMENT ON TABLE camera_exit IS
    'Confirmed exits by camera, one row per container: read_at is the time of record of the gate-out. A port without a gate system binds this table to form 21 (vasscm.bind).';

COMMENT ON COLUMN camera_exit.confirmed_by IS '''camera'' (opened automatically) or the officer who opened the barrier by hand.';

COMMENT ON COLUMN camera_exit.cargo_flow IS 'LOAI_HANG of the container''s declaration (NHAP when customs gave none).';

CREATE TABLE camera_outage (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_id   text NOT NULL REFERENCES camera,
    began_at    timestamptz NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    detection   text NOT NULL CHECK (detection IN ('automatic', 'reported')),
    reported_by text NOT NULL DEFAULT session_user,
    cause       text NOT NULL,
    ended_at    timestamptz,
    ended_by    text,
    CHECK (ended_at IS NULL OR ended_at >= began_at)
);

CREATE UNIQUE INDEX camera_outage_one_open ON camera_outage (camera_id) WHERE ended_at IS NULL;

CREATE INDEX camera_outage_by_time ON camera_outage (began_at);

COMMENT ON TABLE camera_outage IS 'Camera outages: detected (no read for camera_outage_minutes during working hours) or reported by the vendor or the officer; an automatic one ends at the camera''s next read.';

-- The shift log (sổ nhật ký) of the officer on duty.
CREATE TABLE shift_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    officer   text NOT NULL DEFAULT session_user,
    kind      text NOT NULL CHECK (kind IN ('incident', 'camera_outage', 'camera_restored', 'handover', 'note', 'review')),
    gate      text,
    lane      text,
    camera_id text,
    read_id   bigint,
    outage_id bigint,
    note      text NOT NULL CHECK (btrim(note) <> '')
);

CREATE INDEX shift_log_by_at ON shift_log (at);

COMMENT ON TABLE shift_log IS
    'The shift log (sổ nhật ký) of the camera gates: incidents, camera outages and restorations, hand-overs, notes (vasscm.write_shift_log), reviews of held reads (written by vasscm.review_camera_read).';

-- Backups: camera data is kept by pg_dump like the rest of vasscm's data (the monthly
-- partitions made later are not extension members and are dumped as they are).
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['camera', 'gate_appointment', 'yard_block', 'camera_read_default', 'camera_exit', 'camera_outage',
                             'shift_log', 'camera_read_id_seq', 'camera_outage_id_seq', 'shift_log_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('vasscm.%I', t)::regclass, '');
    END LOOP;
END
$dump$;

-- Jobs (pg_cron, optional: vasscm.schedule_jobs()).
INSERT INTO job VALUES
    ('vasscm-cameras', '* * * * *', 'SELECT vasscm.watch_cameras()',
     'Records camera outages: active cameras without a read for camera_outage_minutes during camera_working_hours'),
    ('vasscm-camera-partitions', '23 3 * * *', 'SELECT vasscm.maintain_camera_partitions()',
     'Creates the coming monthly partitions of camera reads and drops those past camera_retention_months');

-- Helpers -------------------------------------------------------------------------------------

-- A plate as compared: upper-case letters and digits only ('15C-123.45' → '15C12345').
CREATE OR REPLACE FUNCTION _plate(plate text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(upper(coalesce(plate, '')), '[^A-Z0-9]', '', 'g'), '')
$$;

-- A camera read of a container number as the OCR correction normalises it (vasscm_core::ocr):
-- no white space, upper-case, no - . / _.
CREATE OR REPLACE FUNCTION _camera_read_text(read text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(vasscm.normalize_container_no(coalesce(read, '')), '-./_', '')
$$;

-- The valid container numbers one character away from a valid number (any character allowed in
-- its position): a superset of the look-alikes the OCR correction consults for a valid read that
-- is not expected, so that only these need a plausibility lookup.
CREATE OR REPLACE FUNCTION _one_substitution(number text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(m), '{}') FROM (
        SELECT overlay(number PLACING ch FROM p FOR 1) AS m
          FROM generate_series(1, 11) AS p
         CROSS JOIN LATERAL unnest(CASE WHEN p <= 3 THEN string_to_array('ABCDEFGHIJKLMNOPQRSTUVWXYZ', NULL)
                                        WHEN p = 4 THEN ARRAY['U', 'J', 'Z']
                                        ELSE string_to_array('0123456789', NULL) END) AS ch
         WHERE length(number) = 11 AND ch <> substr(number, p, 1)) s
     WHERE vasscm.is_valid_container_no(s.m)
$$;

-- The gate appointments of a direction near a time (a day either side) for some containers or a
-- plate, from vasscm.gate_appointment or the TOS relation of camera_appointment_source.
-- Numbers and plates come back normalised.
CREATE OR REPLACE FUNCTION _camera_appointments(dir text, numbers text[], truck text, at timestamptz)
RETURNS TABLE (appointment_ref text, direction text, plate text, container_no text, gate text, valid_from timestamptz,
               valid_to timestamptz, declarations text[], carrier_seal text, customs_seal text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    src text := vasscm._setting_value('camera_appointment_source');
BEGIN
    IF src IS NULL THEN
        RETURN QUERY
        SELECT a.appointment_ref, a.direction, a.plate, a.container_no, a.gate, a.valid_from, a.valid_to, a.declarations,
               a.carrier_seal, a.customs_seal
          FROM vasscm.gate_appointment a
         WHERE a.direction = dir AND a.valid_to >= at - interval '1 day' AND a.valid_from <= at + interval '1 day'
           AND a.container_no = ANY (numbers)
        UNION
        SELECT a.appointment_ref, a.direction, a.plate, a.container_no, a.gate, a.valid_from, a.valid_to, a.declarations,
               a.carrier_seal, a.customs_seal
          FROM vasscm.gate_appointment a
         WHERE a.direction = dir AND a.valid_to >= at - interval '1 day' AND a.valid_from <= at + interval '1 day'
           AND a.plate = truck;
    ELSE
        RETURN QUERY EXECUTE format($q$
            SELECT * FROM (
                SELECT x.appointment_ref::text, lower(x.direction::text), vasscm._plate(x.plate::text),
                       vasscm.normalize_container_no(x.container_no::text), nullif(btrim(x.gate::text), ''),
                       x.valid_from::timestamptz, x.valid_to::timestamptz,
                       x.declarations::text[], vasscm._norm(x.carrier_seal::text), vasscm._norm(x.customs_seal::text)
                  FROM %s x
                 WHERE x.valid_to::timestamptz >= $2 - interval '1 day' AND x.valid_from::timestamptz <= $2 + interval '1 day') a (
                  appointment_ref, direction, plate, container_no, gate, valid_from, valid_to, declarations, carrier_seal, customs_seal)
             WHERE a.direction = $1 AND (a.container_no = ANY ($3) OR a.plate = $4)$q$, src::regclass)
          USING dir, at, numbers, truck;
    END IF;
END
$$;

-- Which of these container numbers are expected at a gate (plausible for the OCR correction):
-- for an exit, in the yard or on a gate-out appointment; for an entry, on a gate-in appointment
-- or on a current expected list of customs (01 / 02 / 08).
-- (A generic plan, made once per session: the yard lookup is an index probe whatever the
-- numbers, and planning it for each call would cost more than running it.)
CREATE OR REPLACE FUNCTION _camera_expected(direction text, container_nos text[], at timestamptz) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    appointed text[];
BEGIN
    IF cardinality(container_nos) = 0 THEN
        RETURN '{}';
    END IF;
    appointed := ARRAY(SELECT a.container_no FROM vasscm._camera_appointments(direction, container_nos, NULL, at) a
                        WHERE a.container_no = ANY (container_nos));
    RETURN ARRAY(
        SELECT DISTINCT n FROM unnest(container_nos) AS n
         WHERE n = ANY (appointed)
            OR (direction = 'out' AND EXISTS (SELECT 1 FROM vasscm._yard_containers y WHERE y.container_no = n))
            OR (direction = 'in' AND EXISTS (SELECT 1 FROM vasscm.expected_item i
                                               JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                                              WHERE i.container_no = n))
         ORDER BY n);
END
$$;

-- The declarations customs declared a container eligible under and that may still be used
-- (listed, eligible, active): the 21's LIST_TK when the appointment names none.
CREATE OR REPLACE FUNCTION _covering_declarations(container_no text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(dc.declaration_no ORDER BY dc.declaration_no), '{}')
      FROM vasscm.declaration_container dc JOIN vasscm.declaration d USING (declaration_no)
     WHERE dc.container_no = _covering_declarations.container_no AND dc.listed AND d.eligible_at IS NOT NULL AND d.status = 'active'
$$;

-- One container read of a camera read, decided: the OCR correction against what is expected
-- at this gate, then the match with the TOS's appointments and, for an exit, with customs'
-- clearance. Returns {read, confidence, outcome, container_no, candidates, ok, kind, reasons,
-- appointment_ref, declarations, carrier_seal, customs_seal}. (Volatile: gate_out_check first
-- catches up with what the TOS did.)
CREATE OR REPLACE FUNCTION _camera_container(direction text, gate text, at timestamptz, plate text, read text, confidence numeric)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n     text := vasscm._camera_read_text(read);
    plaus text[];
    ocr   record;
    c     text;
    a     record;
    chk   record;
    lst_form text;
    lst_what text;
    ok    boolean := false;
    kind  text;
    why   text[] := '{}';
    fixed text;
    in_window boolean := false;
    matched jsonb := '{}';
BEGIN
    IF vasscm.is_valid_container_no(n) THEN
        plaus := vasscm._camera_expected(direction, ARRAY[n], at);
        IF cardinality(plaus) = 0 THEN   -- unexpected: is a look-alike expected? (then ambiguous)
            plaus := vasscm._camera_expected(direction, vasscm._one_substitution(n), at);
        END IF;
    ELSIF n <> '' THEN
        plaus := vasscm._camera_expected(direction, vasscm.container_read_candidates(n), at);
    END IF;
    SELECT * INTO ocr FROM vasscm.correct_container_read(nullif(n, ''), coalesce(plaus, '{}'));
    c := ocr.container_no;
    IF ocr.outcome = 'unreadable' THEN
        kind := 'unreadable';
        why := ARRAY[format('Không đọc được số container "%s" / container number "%s" cannot be read', coalesce(read, ''), coalesce(read, ''))];
    ELSIF ocr.outcome = 'ambiguous' THEN
        kind := 'ambiguous';
        why := ARRAY[format('Số container đọc được "%s" không xác định, có thể là: %s / container read "%s" is ambiguous, candidates: %s',
                            read, coalesce(nullif(array_to_string(ocr.candidates, ', '), ''), 'không có'),
                            read, coalesce(nullif(array_to_string(ocr.candidates, ', '), ''), 'none'))];
    ELSE
        IF ocr.outcome = 'corrected' THEN
            fixed := format('Số container đọc "%s", sửa thành %s theo số kiểm tra ISO 6346 / container read "%s", corrected to %s by its ISO 6346 check digit',
                            read, c, read, c);
        END IF;
        -- the appointment of this container: in its window at this gate first, then this plate's
        SELECT x.*, (x.valid_from <= at AND x.valid_to >= at AND (x.gate IS NULL OR x.gate = _camera_container.gate)) AS fits
          INTO a
          FROM vasscm._camera_appointments(direction, ARRAY[c], NULL, at) x
         WHERE x.container_no = c
         ORDER BY 11 DESC, (x.plate = _camera_container.plate) DESC NULLS LAST, x.valid_from DESC
         LIMIT 1;
        in_window := coalesce(a.fits, false);
        IF in_window THEN
            matched := jsonb_build_object('appointment_ref', a.appointment_ref, 'declarations', to_jsonb(a.declarations),
                                          'carrier_seal', a.carrier_seal, 'customs_seal', a.customs_seal);
        END IF;
        IF direction = 'in' AND EXISTS (SELECT 1 FROM vasscm._yard_containers y WHERE y.container_no = c) THEN
            kind := 'already_in_yard';
            why := ARRAY[format('Container %s đang ở trong bãi (đã hạ bãi, chưa ra) / container %s is already in the yard (gated in, not out)', c, c)];
        ELSIF in_window AND plate IS NULL THEN
            kind := 'plate_unread';
            why := ARRAY[format('Không đọc được biển số xe; lịch hẹn %s của container %s là xe %s / the plate could not be read; appointment %s of container %s is for truck %s',
                                a.appointment_ref, c, a.plate, a.appointment_ref, c, a.plate)];
        ELSIF in_window AND a.plate IS DISTINCT FROM plate THEN
            kind := 'plate_mismatch';
            why := ARRAY[format('Biển số %s không khớp lịch hẹn %s của container %s (xe %s) / plate %s does not match appointment %s of container %s (truck %s)',
                                plate, a.appointment_ref, c, a.plate, plate, a.appointment_ref, c, a.plate)];
        ELSIF in_window AND direction = 'out' THEN
            SELECT * INTO chk FROM vasscm.gate_out_check(c, a.carrier_seal, a.customs_seal, a.declarations);
            IF chk.allowed THEN
                ok := true;
                why := ARRAY[format('Container %s khớp lệnh giao %s, xe %s, đủ điều kiện qua khu vực giám sát / container %s matches gate-out appointment %s, truck %s, and may leave the supervision zone',
                                    c, a.appointment_ref, plate, c, a.appointment_ref, plate)] || coalesce(chk.reasons, '{}');
            ELSE
                kind := 'not_cleared';
                why := chk.reasons;
            END IF;
        ELSIF in_window THEN
            ok := true;
            why := ARRAY[format('Container %s khớp lịch hẹn vào cổng %s, xe %s / container %s matches gate-in appointment %s, truck %s',
                                c, a.appointment_ref, plate, c, a.appointment_ref, plate)];
        ELSE
            IF direction = 'in' THEN
                SELECT l.form, coalesce(l.vessel_call, l.declaration_no, l.transaction_id::text) INTO lst_form, lst_what
                  FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                 WHERE i.container_no = c ORDER BY l.listed_at DESC LIMIT 1;
            END IF;
            IF lst_form IS NOT NULL THEN
                ok := true;
                why := ARRAY[format('Container %s có trong danh sách dự kiến của hải quan (mẫu %s, %s) / container %s is on customs'' expected list (form %s, %s)',
                                    c, lst_form, lst_what, c, lst_form, lst_what)];
            ELSIF a.appointment_ref IS NOT NULL THEN
                kind := 'appointment_window';
                why := ARRAY[format('Lịch hẹn %s của container %s có hiệu lực %s–%s%s, xe đến lúc %s / appointment %s of container %s is valid %s to %s%s, the truck came at %s',
                                    a.appointment_ref, c, vasscm._vn_time(a.valid_from), vasscm._vn_time(a.valid_to),
                                    coalesce(' tại cổng ' || a.gate, ''), vasscm._vn_time(at),
                                    a.appointment_ref, c, vasscm._vn_time(a.valid_from), vasscm._vn_time(a.valid_to),
                                    coalesce(' at gate ' || a.gate, ''), vasscm._vn_time(at))];
            ELSIF direction = 'out' THEN
                kind := 'no_appointment';
                why := ARRAY[format('Container %s không có lệnh giao (lịch hẹn ra cổng) trong TOS / container %s has no gate-out appointment in the TOS', c, c)];
            ELSE
                kind := 'not_expected';
                why := ARRAY[format('Container %s không có lịch hẹn vào cổng và không có trong danh sách dự kiến của hải quan / container %s has no gate-in appointment and is on no expected list of customs', c, c)];
            END IF;
        END IF;
        IF fixed IS NOT NULL THEN
            why := fixed || why;
        END IF;
    END IF;
    RETURN jsonb_build_object(
        'read', read, 'confidence', confidence, 'outcome', ocr.outcome, 'container_no', c, 'candidates', to_jsonb(ocr.candidates),
        'ok', ok, 'kind', kind, 'reasons', to_jsonb(why)) || matched;
END
$$;

-- A camera by id, or a clear error.
CREATE OR REPLACE FUNCTION _camera(camera_id text) RETURNS camera
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c vasscm.camera;
BEGIN
    SELECT * INTO c FROM vasscm.camera x WHERE x.id = camera_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no camera "%"', coalesce(camera_id, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT id, gate, lane, direction FROM vasscm.camera; register one with vasscm.register_camera.';
    END IF;
    RETURN c;
END
$$;

-- Writes a line of the shift log; returns its id.
CREATE OR REPLACE FUNCTION _shift_log(kind text, note text, at timestamptz DEFAULT now(), gate text DEFAULT NULL, lane text DEFAULT NULL,
                           camera_id text DEFAULT NULL, read_id bigint DEFAULT NULL, outage_id bigint DEFAULT NULL) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.shift_log (kind, note, at, gate, lane, camera_id, read_id, outage_id)
    VALUES (kind, note, coalesce(at, now()), gate, lane, camera_id, read_id, outage_id)
    RETURNING id
$$;

-- Records the confirmed exit of each container of an opened exit read (camera_exit), with the
-- declarations and seals of its appointment, else customs' data; a port without a gate system
-- has bound camera_exit to form 21, so the 21 is queued in the same transaction.
CREATE OR REPLACE FUNCTION _camera_exit(r camera_read, confirmed_by text) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c    text;
    res  jsonb;
    decl text[];
    seal record;
    n    int := 0;
BEGIN
    FOREACH c IN ARRAY coalesce(r.review_containers, r.container_nos) LOOP
        SELECT x INTO res FROM jsonb_array_elements(r.results) x WHERE x ->> 'container_no' = c AND x ->> 'appointment_ref' IS NOT NULL LIMIT 1;
        decl := CASE WHEN res -> 'declarations' IS NOT NULL AND jsonb_typeof(res -> 'declarations') = 'array'
                     THEN ARRAY(SELECT jsonb_array_elements_text(res -> 'declarations')) END;
        IF coalesce(cardinality(decl), 0) = 0 THEN
            decl := vasscm._covering_declarations(c);
        END IF;
        SELECT dc.carrier_seal, dc.customs_seal INTO seal FROM vasscm.declaration_container dc
         WHERE dc.container_no = c AND dc.listed AND dc.declaration_no = ANY (decl) ORDER BY dc.set_at DESC LIMIT 1;
        INSERT INTO vasscm.camera_exit (read_id, container_no, read_at, camera_id, gate, lane, plate, declarations, carrier_seal, customs_seal,
                                        cargo_flow, appointment_ref, confirmed_by)
        VALUES (r.id, c, r.read_at, r.camera_id, r.gate, r.lane, r.plate, decl,
                coalesce(res ->> 'carrier_seal', seal.carrier_seal), coalesce(res ->> 'customs_seal', seal.customs_seal),
                coalesce((SELECT d.cargo_flow FROM vasscm.declaration d WHERE d.declaration_no = ANY (decl) AND d.cargo_flow IS NOT NULL
                           ORDER BY d.declaration_no LIMIT 1), 'NHAP'),
                res ->> 'appointment_ref', confirmed_by)
        ON CONFLICT DO NOTHING;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- The camera API ------------------------------------------------------------------------------

-- A camera read, decided and recorded. Parameters:
--   camera_id   a registered camera (vasscm.camera.id)
--   read_at     when the truck was read (the camera's clock, synchronised; NULL: now). More
--               than 5 minutes in the future is refused. (camera_id, read_at) identifies the
--               read: sent again, the first answer is returned and nothing is recorded twice.
--   containers  JSON array of the containers read, each {"number": "MSKU1234565",
--               "confidence": 0.97} (or just the number as a string); [] or NULL: no container
--   plate       the truck plate as read (NULL: not read)
--   images      URIs of the images kept by the camera system (never the images themselves)
-- Returns one row: read_id, decision ('open': raise the barrier; 'hold': keep it down, the
-- officer on duty decides), reasons (Vietnamese / English, for the gate display), results (per
-- container: outcome of the OCR correction, number used, candidates, kind and reasons).
CREATE OR REPLACE FUNCTION record_camera_read(camera_id text, read_at timestamptz, containers jsonb, plate text, images text[] DEFAULT NULL)
RETURNS TABLE (read_id bigint, decision text, reasons text[], results jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    t0      timestamptz := clock_timestamp();
    cam     vasscm.camera := vasscm._camera(camera_id);
    at      timestamptz := coalesce(read_at, now());
    pl      text := vasscm._plate(plate);
    items   jsonb := coalesce(containers, '[]');
    item    jsonb;
    raw     text;
    conf    numeric;
    res     jsonb;
    outs    jsonb := '[]';
    nos     text[] := '{}';
    refs    text[] := '{}';
    kinds   text[] := '{}';
    held    text[] := '{}';
    passed  text[] := '{}';
    verdict text;
    r       vasscm.camera_read;
    o       record;
    u       text;
    appt    record;
BEGIN
    IF cam.login_role IS NOT NULL AND cam.login_role IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'vasscm: % may not record reads for camera %', session_user, cam.id
            USING ERRCODE = 'insufficient_privilege', HINT = format('camera %s records only as %s', cam.id, cam.login_role);
    END IF;
    IF at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: read_at % is in the future: is the camera''s clock synchronised?', at
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Synchronise the camera system with NTP; send the time of the read with its offset.';
    END IF;
    IF length(plate) > 32 THEN
        RAISE EXCEPTION 'vasscm: a plate is at most 32 characters, not %', length(plate) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(items) <> 'array' OR jsonb_array_length(items) > 4 THEN
        RAISE EXCEPTION 'vasscm: containers must be a JSON array of at most 4 reads, not %', left(items::text, 200)
            USING ERRCODE = 'invalid_parameter_value', HINT = '[{"number": "MSKU1234565", "confidence": 0.97}]';
    END IF;
    FOREACH u IN ARRAY coalesce(images, '{}') LOOP
        IF u IS NULL OR length(u) > 2048 OR u !~* '^[a-z][a-z0-9+.-]*://' OR u ~* '^data:' THEN
            RAISE EXCEPTION 'vasscm: images are URIs of images kept by the camera system (at most 2048 characters), not "%"', left(coalesce(u, 'NULL'), 80)
                USING ERRCODE = 'invalid_parameter_value', HINT = 'https://cam.example/2026/11/29/L2-0815.jpg — never the image itself';
        END IF;
    END LOOP;
    -- the same read again (a retry of the camera system): the first answer
    SELECT * INTO r FROM vasscm.camera_read x WHERE x.camera_id = cam.id AND x.read_at = at;
    IF FOUND THEN
        RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
        RETURN;
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(items) LOOP
        IF jsonb_typeof(item) = 'string' THEN
            raw := item #>> '{}'; conf := NULL;
        ELSIF jsonb_typeof(item) = 'object' THEN
            raw := coalesce(item ->> 'number', item ->> 'container_no');
            conf := CASE WHEN item ->> 'confidence' ~ '^\s*[0-9]+(\.[0-9]+)?\s*$' THEN (item ->> 'confidence')::numeric END;
        ELSE
            RAISE EXCEPTION 'vasscm: a container read is a string or {"number": ..., "confidence": ...}, not %', item
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF length(raw) > 64 THEN
            RAISE EXCEPTION 'vasscm: a container read is at most 64 characters, not %', length(raw) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        res := vasscm._camera_container(cam.direction, cam.gate, at, pl, raw, conf);
        IF res ->> 'container_no' IS NOT NULL AND res ->> 'container_no' = ANY (nos) THEN
            res := res || '{"duplicate": true}';   -- the same box read twice (front and back)
        ELSE
            IF res ->> 'container_no' IS NOT NULL THEN
                nos := nos || (res ->> 'container_no');
            END IF;
            IF res ->> 'appointment_ref' IS NOT NULL THEN
                refs := refs || (res ->> 'appointment_ref');
            END IF;
            IF (res ->> 'ok')::boolean THEN
                passed := passed || ARRAY(SELECT jsonb_array_elements_text(res -> 'reasons'));
            ELSE
                kinds := kinds || (res ->> 'kind');
                held := held || ARRAY(SELECT jsonb_array_elements_text(res -> 'reasons'));
            END IF;
        END IF;
        outs := outs || jsonb_build_array(res);
    END LOOP;

    IF jsonb_array_length(items) = 0 THEN   -- a truck without container
        SELECT x.* INTO appt FROM vasscm._camera_appointments(cam.direction, '{}', pl, at) x
         WHERE pl IS NOT NULL AND x.plate = pl AND x.valid_from <= at AND x.valid_to >= at AND (x.gate IS NULL OR x.gate = cam.gate)
         -- leaving: an appointment naming a container first (its box was not read); coming in: one without
         ORDER BY CASE WHEN cam.direction = 'out' THEN x.container_no IS NULL ELSE x.container_no IS NOT NULL END, x.valid_from DESC
         LIMIT 1;
        IF pl IS NULL THEN
            kinds := kinds || 'plate_unread'::text;
            held := held || 'Không đọc được biển số xe và không có container / neither a plate nor a container was read'::text;
        ELSIF cam.direction = 'out' AND appt.container_no IS NOT NULL THEN
            kinds := kinds || 'container_missing'::text;
            held := held || format('Lệnh giao %s cho xe %s có container %s nhưng camera không đọc được container nào / appointment %s of truck %s is for container %s but no container was read',
                                   appt.appointment_ref, pl, appt.container_no, appt.appointment_ref, pl, appt.container_no);
        ELSIF cam.direction = 'out' THEN
            passed := passed || format('Xe %s ra không chở container / truck %s leaves without a container', pl, pl);
        ELSE
            IF appt.appointment_ref IS NULL THEN   -- coming in to pick up: a gate-out appointment of this truck
                SELECT x.* INTO appt FROM vasscm._camera_appointments('out', '{}', pl, at) x
                 WHERE x.plate = pl AND x.valid_to >= at AND x.valid_from <= at + interval '12 hours'
                 ORDER BY x.valid_from LIMIT 1;
            END IF;
            IF appt.appointment_ref IS NOT NULL THEN
                refs := refs || appt.appointment_ref;
                passed := passed || format('Xe %s có lịch hẹn %s / truck %s has appointment %s', pl, appt.appointment_ref, pl, appt.appointment_ref);
            ELSE
                kinds := kinds || 'not_expected'::text;
                held := held || format('Xe %s không có lịch hẹn ra vào cảng / truck %s has no gate appointment', pl, pl);
            END IF;
        END IF;
    END IF;
    IF NOT cam.active THEN
        kinds := 'camera_inactive'::text || kinds;
        held := format('Camera %s đang ngừng sử dụng: công chức quyết định / camera %s is not in service: the officer decides', cam.id, cam.id) || held;
    END IF;
    verdict := CASE WHEN cardinality(held) = 0 THEN 'open' ELSE 'hold' END;

    INSERT INTO vasscm.camera_read AS x (read_at, camera_id, gate, lane, direction, containers, plate_read, plate, images, results,
                                         container_nos, decision, reasons, hold_kinds, appointment_refs, decided_at, decision_ms)
    VALUES (at, cam.id, cam.gate, cam.lane, cam.direction, items, plate, pl, images, outs, nos, verdict,
            CASE WHEN verdict = 'open' THEN passed ELSE held END,
            ARRAY(SELECT DISTINCT k FROM unnest(kinds) k ORDER BY k), refs, clock_timestamp(),
            round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 3))
    ON CONFLICT ON CONSTRAINT camera_read_once DO NOTHING
    RETURNING x.* INTO r;
    IF r.id IS NULL THEN   -- the same read, recorded by a concurrent retry
        SELECT * INTO r FROM vasscm.camera_read x WHERE x.camera_id = cam.id AND x.read_at = at;
        RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
        RETURN;
    END IF;
    IF verdict = 'open' AND cam.direction = 'out' THEN
        PERFORM vasscm._camera_exit(r, 'camera');
    ELSIF verdict = 'hold' THEN   -- a truck waits at the barrier: the officer's console listens
        PERFORM pg_notify('vasscm_camera', format('hold %s %s', r.id, cam.id));
    END IF;
    -- the camera reads again: an automatic outage ends
    FOR o IN UPDATE vasscm.camera_outage x SET ended_at = greatest(at, x.began_at), ended_by = 'camera read'
              WHERE x.camera_id = cam.id AND x.ended_at IS NULL AND x.detection = 'automatic' RETURNING x.* LOOP
        PERFORM vasscm._shift_log('camera_restored',
            format('Camera %s (cổng %s, làn %s) hoạt động trở lại lúc %s, gián đoạn từ %s / camera %s (gate %s, lane %s) reads again at %s, silent since %s',
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at),
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at)),
            o.ended_at, cam.gate, cam.lane, cam.id, NULL, o.id);
    END LOOP;
    RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
END
$$;

COMMENT ON FUNCTION record_camera_read(text, timestamptz, jsonb, text, text[]) IS
    'Camera: records a read (containers with confidence, plate, image URIs) and returns the barrier decision (open / hold) with reasons in Vietnamese / English; the same read twice gives the same answer.';

-- Review of a held read by the officer on duty. decision: 'open' (the barrier is opened by
-- hand; a note saying why is required) or 'keep_closed'. containers: the numbers the officer
-- checked on the truck (required to open an exit whose numbers were not read with certainty).
-- Officer (session user) and time are recorded on the read and in the shift log; an opened exit
-- becomes a confirmed exit (camera_exit, form 21 where bound). A read is reviewed once.
CREATE OR REPLACE FUNCTION review_camera_read(read_id bigint, decision text, note text, containers text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r     vasscm.camera_read;
    nos   text[];
    c     text;
    bad   text[];
BEGIN
    SELECT * INTO r FROM vasscm.camera_read x WHERE x.id = read_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no camera read %', coalesce(read_id::text, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT read_id, gate, lane, reasons FROM vasscm.camera_review_queue;';
    END IF;
    IF decision IS NULL OR decision NOT IN ('open', 'keep_closed') THEN
        RAISE EXCEPTION 'vasscm: a review decides open or keep_closed, not %', coalesce(decision, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.decision <> 'hold' THEN
        RAISE EXCEPTION 'vasscm: camera read % was opened automatically: there is nothing to review', r.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF r.review_decision IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: camera read % was already reviewed (% by % at %)', r.id, r.review_decision, r.reviewed_by, vasscm._vn_time(r.reviewed_at)
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Write what happened since in the shift log: vasscm.write_shift_log(''note'', ...).';
    END IF;
    IF decision = 'open' AND nullif(btrim(note), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: opening the barrier by hand needs a note saying why' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Đã kiểm tra thực tế số container và biển số / container number and plate checked on the truck''.';
    END IF;
    IF containers IS NOT NULL THEN
        bad := ARRAY(SELECT coalesce(x, 'NULL') FROM unnest(containers) x WHERE x IS NULL OR NOT vasscm.is_valid_container_no(x));
        IF cardinality(bad) > 0 THEN
            RAISE EXCEPTION 'vasscm: not valid container numbers: %', array_to_string(bad, ', ') USING ERRCODE = 'invalid_parameter_value';
        END IF;
        nos := ARRAY(SELECT DISTINCT vasscm.normalize_container_no(x) FROM unnest(containers) x ORDER BY 1);
    END IF;
    IF decision = 'open' AND r.direction = 'out' AND nos IS NULL
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.results) x WHERE x ->> 'container_no' IS NULL) THEN
        RAISE EXCEPTION 'vasscm: camera read % has container numbers that were not read with certainty: give the numbers you checked', r.id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('candidates: %s; SELECT vasscm.review_camera_read(%s, ''open'', note, ARRAY[''...'']);',
                                (SELECT string_agg(x ->> 'read' || ' → ' || coalesce(x ->> 'candidates', '[]'), '; ') FROM jsonb_array_elements(r.results) x
                                  WHERE x ->> 'container_no' IS NULL), r.id);
    END IF;
    UPDATE vasscm.camera_read x SET review_decision = review_camera_read.decision, reviewed_at = clock_timestamp(), reviewed_by = session_user,
                                    review_note = nullif(btrim(note), ''), review_containers = nos,
                                    container_nos = coalesce(nos, x.container_nos)
     WHERE x.id = r.id AND x.read_at = r.read_at
    RETURNING x.* INTO r;
    IF decision = 'open' AND r.direction = 'out' THEN
        PERFORM vasscm._camera_exit(r, session_user);
    END IF;
    -- the barrier controller listens: an opened read raises the barrier
    PERFORM pg_notify('vasscm_camera', format('review %s %s %s', r.id, r.camera_id, review_camera_read.decision));
    PERFORM vasscm._shift_log('review',
        format('%s: %s %s, xe / truck %s%s. Lý do giữ / held for: %s%s',
               CASE review_camera_read.decision WHEN 'open' THEN 'Mở barrier thủ công / barrier opened by hand'
                                                ELSE 'Giữ barrier đóng / barrier kept closed' END,
               CASE r.direction WHEN 'out' THEN 'lượt ra / exit' ELSE 'lượt vào / entry' END, vasscm._vn_time(r.read_at),
               coalesce(r.plate, '?'), coalesce(', container ' || nullif(array_to_string(r.container_nos, ', '), ''), ''),
               array_to_string(r.reasons, '; '), coalesce('. Ghi chú / note: ' || nullif(btrim(note), ''), '')),
        now(), r.gate, r.lane, r.camera_id, r.id, NULL);
    RETURN decision;
END
$$;

COMMENT ON FUNCTION review_camera_read(bigint, text, text, text[]) IS
    'Officer: decides a held camera read — open (by hand, with a note) or keep_closed; recorded with the officer and time, and in the shift log.';

-- The state of a read for the camera system: its decision, the officer's review (NULL while
-- waiting) and whether the barrier may open now. For a controller that missed the
-- 'review …' notification on channel vasscm_camera (after a reconnection).
CREATE OR REPLACE FUNCTION camera_read_status(read_id bigint)
RETURNS TABLE (camera_id text, read_at timestamptz, decision text, review_decision text, reviewed_at timestamptz, opened boolean, reasons text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.camera_id, r.read_at, r.decision, r.review_decision, r.reviewed_at, r.opened, r.reasons
      FROM vasscm.camera_read r JOIN vasscm.camera c ON c.id = r.camera_id
     WHERE r.id = camera_read_status.read_id
       AND (c.login_role IS NULL OR c.login_role = session_user::text)   -- a camera bound to a login: only that login
$$;

COMMENT ON FUNCTION camera_read_status(bigint) IS 'Camera: the decision and review of a read (opened: the barrier may open).';

-- Writes the shift log: kind 'incident', 'handover' (hand-over of the shift: say to whom and
-- what is pending) or 'note'; at defaults to now. Returns the entry's id.
CREATE OR REPLACE FUNCTION write_shift_log(kind text, note text, gate text DEFAULT NULL, at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NULL OR kind NOT IN ('incident', 'handover', 'note') THEN
        RAISE EXCEPTION 'vasscm: the shift log takes incident, handover or note entries, not %', coalesce(kind, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Camera outages: vasscm.report_camera_outage / report_camera_restored; reviews: vasscm.review_camera_read.';
    END IF;
    IF nullif(btrim(note), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a shift log entry needs its text' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF at IS NULL OR at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: a shift log entry cannot be in the future (%)', at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN vasscm._shift_log(kind, btrim(note), at, nullif(btrim(gate), ''));
END
$$;

COMMENT ON FUNCTION write_shift_log(text, text, text, timestamptz) IS 'Officer: writes the shift log (incident, handover, note); returns the entry id.';

-- Opens an outage of a camera reported by the vendor or the officer (the camera is down, reads
-- are unreliable, maintenance). Returns the outage id; an outage already open is kept (its id).
CREATE OR REPLACE FUNCTION report_camera_outage(camera_id text, cause text, began_at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cam vasscm.camera := vasscm._camera(camera_id);
    id  bigint;
BEGIN
    IF nullif(btrim(cause), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a camera outage needs its cause' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF began_at IS NULL OR began_at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: a camera outage cannot begin in the future (%)', began_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.id INTO id FROM vasscm.camera_outage o WHERE o.camera_id = cam.id AND o.ended_at IS NULL;
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    INSERT INTO vasscm.camera_outage (camera_id, began_at, detection, cause) VALUES (cam.id, began_at, 'reported', btrim(cause))
    RETURNING camera_outage.id INTO id;
    PERFORM vasscm._shift_log('camera_outage',
        format('Camera %s (cổng %s, làn %s) gián đoạn từ %s, báo bởi %s: %s / camera %s (gate %s, lane %s) out of service since %s, reported by %s',
               cam.id, cam.gate, cam.lane, vasscm._vn_time(began_at), session_user, btrim(cause),
               cam.id, cam.gate, cam.lane, vasscm._vn_time(began_at), session_user),
        began_at, cam.gate, cam.lane, cam.id, NULL, id);
    RETURN id;
END
$$;

COMMENT ON FUNCTION report_camera_outage(text, text, timestamptz) IS 'Camera vendor / officer: records that a camera is out of service; returns the outage id.';

-- Ends the open outage of a camera (reported or detected). Returns its id, NULL when none was open.
CREATE OR REPLACE FUNCTION report_camera_restored(camera_id text, at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cam vasscm.camera := vasscm._camera(camera_id);
    o   vasscm.camera_outage;
BEGIN
    UPDATE vasscm.camera_outage x SET ended_at = greatest(coalesce(report_camera_restored.at, now()), x.began_at), ended_by = session_user
     WHERE x.camera_id = cam.id AND x.ended_at IS NULL RETURNING x.* INTO o;
    IF o.id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM vasscm._shift_log('camera_restored',
        format('Camera %s (cổng %s, làn %s) hoạt động trở lại lúc %s, gián đoạn từ %s, báo bởi %s / camera %s (gate %s, lane %s) back in service at %s, out since %s, reported by %s',
               cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at), session_user,
               cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at), session_user),
        o.ended_at, cam.gate, cam.lane, cam.id, NULL, o.id);
    RETURN o.id;
END
$$;

COMMENT ON FUNCTION report_camera_restored(text, timestamptz) IS 'Camera vendor / officer: records that a camera works again; returns the outage id.';

-- Whether the camera gates work at a time (setting camera_working_hours, Vietnam time) and
-- since when the current working period runs (-infinity when they always work).
CREATE OR REPLACE FUNCTION _camera_working(at timestamptz, OUT working boolean, OUT since timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hours text := coalesce(vasscm._setting_value('camera_working_hours'), '00:00-24:00');
    local timestamp := at AT TIME ZONE 'Asia/Ho_Chi_Minh';
    t     interval := local - date_trunc('day', local);
    a     interval := split_part(hours, '-', 1)::interval;
    b     interval := split_part(hours, '-', 2)::interval;
BEGIN
    IF a = b OR (a = interval '0' AND b = interval '24 hours') THEN
        working := true; since := '-infinity';
    ELSIF a < b THEN
        working := t >= a AND t < b;
        since := (date_trunc('day', local) + a) AT TIME ZONE 'Asia/Ho_Chi_Minh';
    ELSE   -- across midnight, e.g. 22:00-06:00
        working := t >= a OR t < b;
        since := (date_trunc('day', local) + a - CASE WHEN t < b THEN interval '1 day' ELSE interval '0' END) AT TIME ZONE 'Asia/Ho_Chi_Minh';
    END IF;
END
$$;

-- Job: records an outage for every active camera without a read for its outage minutes (the
-- camera's, else camera_outage_minutes) during working hours, counted from its last read, its
-- registration or the start of the working period, whichever is latest. Returns the outages
-- opened. (An automatic outage ends at the camera's next read.)
CREATE OR REPLACE FUNCTION watch_cameras() RETURNS TABLE (camera_id text, outage_id bigint, silent_since timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w    record := vasscm._camera_working(now());
    mins int := coalesce(vasscm._setting_value('camera_outage_minutes'), '15')::int;
    cam  vasscm.camera;
    last timestamptz;
    id   bigint;
BEGIN
    IF NOT w.working THEN
        RETURN;
    END IF;
    FOR cam IN SELECT * FROM vasscm.camera c WHERE c.active
                  AND NOT EXISTS (SELECT 1 FROM vasscm.camera_outage o WHERE o.camera_id = c.id AND o.ended_at IS NULL)
                ORDER BY c.id LOOP
        SELECT max(r.read_at) INTO last FROM vasscm.camera_read r WHERE r.camera_id = cam.id;
        last := greatest(last, cam.created_at, w.since);
        CONTINUE WHEN now() - last < make_interval(mins => coalesce(cam.outage_minutes, mins));
        INSERT INTO vasscm.camera_outage (camera_id, began_at, detection, reported_by, cause)
        VALUES (cam.id, last, 'automatic', 'vasscm',
                format('Không có dữ liệu từ camera từ %s (quá %s phút) / no read from the camera since %s (more than %s minutes)',
                       vasscm._vn_time(last), coalesce(cam.outage_minutes, mins), vasscm._vn_time(last), coalesce(cam.outage_minutes, mins)))
        ON CONFLICT DO NOTHING
        RETURNING camera_outage.id INTO id;
        CONTINUE WHEN id IS NULL;
        PERFORM vasscm._shift_log('camera_outage',
            format('Camera %s (cổng %s, làn %s) không gửi dữ liệu từ %s (phát hiện tự động) / camera %s (gate %s, lane %s) silent since %s (detected automatically)',
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(last), cam.id, cam.gate, cam.lane, vasscm._vn_time(last)),
            now(), cam.gate, cam.lane, cam.id, NULL, id);
        PERFORM pg_notify('vasscm_camera', format('outage %s %s', cam.id, id));
        camera_id := cam.id; outage_id := id; silent_since := last;
        RETURN NEXT;
    END LOOP;
END
$$;

COMMENT ON FUNCTION watch_cameras() IS 'Job: records an outage (and a shift log line, NOTIFY vasscm_camera) for each active camera silent for its outage minutes during working hours.';

-- Administration ------------------------------------------------------------------------------

-- Registers (or changes) a camera: gate, lane, direction 'in' / 'out'; login_role: the only
-- login role that may record its reads (NULL: any holder of vasscm_camera); outage_minutes:
-- this camera's silence threshold (NULL: the setting). Active again if it was not.
CREATE OR REPLACE FUNCTION register_camera(camera_id text, gate text, lane text, direction text, description text DEFAULT NULL,
                                login_role text DEFAULT NULL, outage_minutes int DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF direction IS NULL OR lower(direction) NOT IN ('in', 'out') THEN
        RAISE EXCEPTION 'vasscm: a camera reads trucks going in or out, not %', coalesce(direction, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF login_role IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login_role) THEN
        RAISE EXCEPTION 'vasscm: there is no role %', login_role USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO vasscm.camera AS c (id, gate, lane, direction, description, login_role, outage_minutes)
    VALUES (camera_id, btrim(gate), btrim(lane), lower(direction), description, login_role, outage_minutes)
    ON CONFLICT (id) DO UPDATE SET gate = EXCLUDED.gate, lane = EXCLUDED.lane, direction = EXCLUDED.direction,
                                   description = EXCLUDED.description, login_role = EXCLUDED.login_role,
                                   outage_minutes = EXCLUDED.outage_minutes, active = true, updated_at = now();
END
$$;

COMMENT ON FUNCTION register_camera(text, text, text, text, text, text, int) IS 'Admin: registers or changes a camera (gate, lane, direction in / out).';

CREATE OR REPLACE FUNCTION set_camera_active(camera_id text, active boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._camera(camera_id);
    UPDATE vasscm.camera c SET active = coalesce(set_camera_active.active, false), updated_at = now() WHERE c.id = camera_id;
END
$$;

COMMENT ON FUNCTION set_camera_active(text, boolean) IS 'Admin: takes a camera out of service (its reads are held for the officer) or back.';

-- Issues a new key for a camera (for an HTTP endpoint of the worker): returned once, only its
-- SHA-256 is kept. The previous key stops working.
CREATE OR REPLACE FUNCTION issue_camera_key(camera_id text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
BEGIN
    PERFORM vasscm._camera(camera_id);
    UPDATE vasscm.camera c SET key_hash = sha256(convert_to(k, 'UTF8')), key_issued_at = now(), updated_at = now() WHERE c.id = camera_id;
    RETURN k;
END
$$;

COMMENT ON FUNCTION issue_camera_key(text) IS 'Admin: issues a new key for a camera (returned once; only its SHA-256 is kept).';

CREATE OR REPLACE FUNCTION camera_key_matches(camera_id text, key text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT c.active AND c.key_hash = sha256(convert_to(key, 'UTF8')) FROM vasscm.camera c WHERE c.id = camera_id), false)
$$;

COMMENT ON FUNCTION camera_key_matches(text, text) IS 'Whether a key is the active camera''s current key (for the worker''s HTTP endpoint).';

-- A gate appointment from the TOS (inserted or replaced by its reference). container_no NULL:
-- a truck without container. Numbers, plates and seals are normalised.
CREATE OR REPLACE FUNCTION set_gate_appointment(appointment_ref text, direction text, plate text, container_no text, valid_from timestamptz,
                                     valid_to timestamptz, gate text DEFAULT NULL, declarations text[] DEFAULT NULL,
                                     carrier_seal text DEFAULT NULL, customs_seal text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    why text[] := '{}';
    d   text;
BEGIN
    IF nullif(btrim(appointment_ref), '') IS NULL THEN why := why || 'appointment_ref is empty'::text; END IF;
    IF direction IS NULL OR lower(direction) NOT IN ('in', 'out') THEN why := why || format('direction must be in or out, not %s', coalesce(direction, 'NULL')); END IF;
    IF vasscm._plate(plate) IS NULL THEN why := why || 'plate is empty'::text; END IF;
    IF container_no IS NOT NULL AND NOT vasscm.is_valid_container_no(container_no) THEN
        why := why || format('%s is not a valid container number (ISO 6346)', container_no);
    END IF;
    IF valid_from IS NULL OR valid_to IS NULL OR valid_to <= valid_from THEN why := why || 'valid_to must be after valid_from'::text; END IF;
    FOREACH d IN ARRAY coalesce(declarations, '{}') LOOP
        IF d IS NULL OR btrim(d) !~ '^[0-9]{12}$' THEN why := why || format('declaration %s is not 12 digits', coalesce(d, 'NULL')); END IF;
    END LOOP;
    IF cardinality(why) > 0 THEN
        RAISE EXCEPTION 'vasscm: gate appointment % is invalid: %', coalesce(appointment_ref, 'NULL'), array_to_string(why, '; ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.gate_appointment AS a (appointment_ref, direction, plate, container_no, gate, valid_from, valid_to, declarations,
                                              carrier_seal, customs_seal)
    VALUES (btrim(appointment_ref), lower(direction), vasscm._plate(plate), vasscm.normalize_container_no(container_no), nullif(btrim(gate), ''),
            valid_from, valid_to, nullif(ARRAY(SELECT btrim(x) FROM unnest(declarations) x), '{}'), vasscm._norm(carrier_seal), vasscm._norm(customs_seal))
    ON CONFLICT ON CONSTRAINT gate_appointment_pkey DO UPDATE SET direction = EXCLUDED.direction, plate = EXCLUDED.plate, container_no = EXCLUDED.container_no,
        gate = EXCLUDED.gate, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, declarations = EXCLUDED.declarations,
        carrier_seal = EXCLUDED.carrier_seal, customs_seal = EXCLUDED.customs_seal, updated_at = now();
END
$$;

COMMENT ON FUNCTION set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text) IS
    'TOS / operator: records a gate appointment (which truck takes which container in or out, when, through which gate, with which declarations and seals).';

CREATE OR REPLACE FUNCTION cancel_gate_appointment(appointment_ref text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM vasscm.gate_appointment a WHERE a.appointment_ref = btrim(cancel_gate_appointment.appointment_ref) RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

COMMENT ON FUNCTION cancel_gate_appointment(text) IS 'TOS / operator: removes a gate appointment; true when there was one.';

-- A yard block and its capacity (TEU); replaced by its code.
CREATE OR REPLACE FUNCTION set_yard_block(block_code text, capacity_teu numeric, block_name text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF nullif(btrim(block_code), '') IS NULL OR capacity_teu IS NULL OR capacity_teu < 0 THEN
        RAISE EXCEPTION 'vasscm: a yard block needs a code and a capacity in TEU (at least 0)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.yard_block AS b (block_code, block_name, capacity_teu) VALUES (upper(btrim(block_code)), block_name, capacity_teu)
    ON CONFLICT ON CONSTRAINT yard_block_pkey DO UPDATE SET block_name = EXCLUDED.block_name, capacity_teu = EXCLUDED.capacity_teu,
                                           updated_at = now(), updated_by = session_user;
END
$$;

COMMENT ON FUNCTION set_yard_block(text, numeric, text) IS 'Admin: records a yard block and its capacity in TEU.';

CREATE OR REPLACE FUNCTION drop_yard_block(block_code text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM vasscm.yard_block b WHERE b.block_code = upper(btrim(drop_yard_block.block_code)) RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;

COMMENT ON FUNCTION drop_yard_block(text) IS 'Admin: removes a yard block; true when there was one.';

-- Partitions and retention ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION _camera_partitions() RETURNS TABLE (partition text, month date)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text, to_date(substring(c.relname FROM '_y([0-9]{4}m[0-9]{2})$'), 'YYYY"m"MM')
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'vasscm.camera_read'::regclass AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
$$;

-- Job: makes the monthly partitions of camera_read for this month, the next two and any month
-- with reads waiting in the default partition (moving them), drops the months older than
-- camera_retention_months (at least 12), and with them the confirmed exits of those months and
-- the appointments that ended before. Shift log and outages are kept. One row per action.
CREATE OR REPLACE FUNCTION maintain_camera_partitions() RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    keep int := greatest(coalesce(vasscm._setting_value('camera_retention_months'), '13')::int, 12);
    cut  timestamptz := date_trunc('month', now()) - make_interval(months => keep);
    cols text := (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                   WHERE a.attrelid = 'vasscm.camera_read'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '');
    m    date;
    part text;
    n    bigint;
    p    record;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now())::date, (date_trunc('month', now()) + interval '2 months')::date, interval '1 month')::date
             UNION
             SELECT DISTINCT date_trunc('month', d.read_at)::date FROM vasscm.camera_read_default d
             ORDER BY 1 LOOP
        part := format('camera_read_y%s', to_char(m, 'YYYY"m"MM'));
        CONTINUE WHEN to_regclass(format('vasscm.%I', part)) IS NOT NULL;
        SELECT count(*) INTO n FROM vasscm.camera_read_default d WHERE d.read_at >= m::timestamptz AND d.read_at < (m + interval '1 month')::timestamptz;
        IF n > 0 THEN   -- reads of that month wait in the default partition: set them aside
            IF to_regclass('pg_temp.vasscm_camera_moving') IS NOT NULL THEN
                DROP TABLE vasscm_camera_moving;
            END IF;
            EXECUTE format('CREATE TEMP TABLE vasscm_camera_moving ON COMMIT DROP AS SELECT %s FROM vasscm.camera_read_default WHERE read_at >= %L AND read_at < %L',
                           cols, m::timestamptz, (m + interval '1 month')::timestamptz);
            DELETE FROM vasscm.camera_read_default d WHERE d.read_at >= m::timestamptz AND d.read_at < (m + interval '1 month')::timestamptz;
        END IF;
        EXECUTE format('CREATE TABLE vasscm.%I PARTITION OF vasscm.camera_read FOR VALUES FROM (%L) TO (%L)',
                       part, m::timestamptz, (m + interval '1 month')::timestamptz);
        IF n > 0 THEN
            EXECUTE format('INSERT INTO vasscm.camera_read (%s) SELECT %s FROM vasscm_camera_moving', cols, cols);
            DROP TABLE vasscm_camera_moving;
        END IF;
        action := 'created'; partition := part; rows := n;
        RETURN NEXT;
    END LOOP;
    FOR p IN SELECT * FROM vasscm._camera_partitions() x WHERE x.month < cut::date ORDER BY x.month LOOP
        EXECUTE format('SELECT count(*) FROM vasscm.%I', p.partition) INTO n;
        EXECUTE format('DROP TABLE vasscm.%I', p.partition);
        action := 'dropped'; partition := p.partition; rows := n;
        RETURN NEXT;
    END LOOP;
    DELETE FROM vasscm.camera_read_default d WHERE d.read_at < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'camera_read_default'; rows := n;
        RETURN NEXT;
    END IF;
    DELETE FROM vasscm.camera_exit e WHERE e.read_at < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'camera_exit'; rows := n;
        RETURN NEXT;
    END IF;
    DELETE FROM vasscm.gate_appointment a WHERE a.valid_to < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'gate_appointment'; rows := n;
        RETURN NEXT;
    END IF;
END
$$;

COMMENT ON FUNCTION maintain_camera_partitions() IS
    'Job: creates the monthly partitions of camera reads ahead and drops those older than camera_retention_months (at least 12).';

-- Views for the officer, the TOS and traffic displays ---------------------------------------------

-- Held reads waiting for the officer on duty, oldest first.
CREATE VIEW camera_review_queue AS
SELECT r.id AS read_id, r.read_at, r.gate, r.lane, r.direction, r.camera_id, r.plate_read, r.plate, r.containers,
       ARRAY(SELECT coalesce(x ->> 'container_no', '?') FROM jsonb_array_elements(r.results) x) AS container_nos,
       (SELECT jsonb_agg(jsonb_build_object('read', x ->> 'read', 'outcome', x ->> 'outcome', 'candidates', x -> 'candidates'))
          FROM jsonb_array_elements(r.results) x WHERE x ->> 'outcome' IN ('ambiguous', 'unreadable')) AS candidates,
       r.hold_kinds, r.reasons, r.images, now() - r.read_at AS waiting
  FROM vasscm.camera_read r
 WHERE r.decision = 'hold' AND r.review_decision IS NULL;

COMMENT ON VIEW camera_review_queue IS 'Held camera reads waiting for the officer on duty (vasscm.review_camera_read), with candidates of uncertain container reads.';

-- Cameras now: last read, reads in the last hour, open outage.
CREATE VIEW camera_status AS
SELECT c.id AS camera_id, c.gate, c.lane, c.direction, c.active, l.last_read_at, now() - l.last_read_at AS silent_for,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.camera_id = c.id AND r.read_at > now() - interval '1 hour') AS reads_last_hour,
       o.id AS outage_id, o.began_at AS outage_since, o.detection AS outage_detection, o.cause AS outage_cause
  FROM vasscm.camera c
  CROSS JOIN LATERAL (SELECT max(r.read_at) AS last_read_at FROM vasscm.camera_read r WHERE r.camera_id = c.id) l
  LEFT JOIN vasscm.camera_outage o ON o.camera_id = c.id AND o.ended_at IS NULL;

COMMENT ON VIEW camera_status IS 'Each camera: last read, reads in the last hour, open outage.';

-- Truck visits over camera_truck_window_hours: each opened entry with the first opened exit of
-- the same plate after it (NULL: still inside), the dwell time.
CREATE VIEW truck_visits AS
SELECT e.plate, e.id AS entry_read_id, e.read_at AS entered_at, e.gate AS entry_gate, e.lane AS entry_lane,
       e.container_nos AS containers_in, x.id AS exit_read_id, x.read_at AS exited_at, x.gate AS exit_gate, x.lane AS exit_lane,
       x.container_nos AS containers_out, coalesce(x.read_at, now()) - e.read_at AS dwell, x.id IS NULL AS inside
  FROM vasscm.camera_read e
  LEFT JOIN LATERAL (SELECT o.* FROM vasscm.camera_read o
                      WHERE o.plate = e.plate AND o.opened AND o.direction = 'out' AND o.read_at > e.read_at
                      ORDER BY o.read_at LIMIT 1) x ON true
 WHERE e.opened AND e.direction = 'in' AND e.plate IS NOT NULL
   AND e.read_at > now() - make_interval(hours => coalesce(vasscm._setting_value('camera_truck_window_hours'), '72')::int)
   -- a later entry of the same plate before this exit: this one's exit was missed
   AND NOT EXISTS (SELECT 1 FROM vasscm.camera_read n
                    WHERE n.plate = e.plate AND n.opened AND n.direction = 'in' AND n.read_at > e.read_at
                      AND n.read_at < coalesce(x.read_at, 'infinity'));

COMMENT ON VIEW truck_visits IS 'Trucks that entered through a camera gate in the last camera_truck_window_hours: entry, exit (NULL: inside), dwell time.';

CREATE VIEW trucks_inside AS
SELECT v.plate, v.entered_at, v.entry_gate AS gate, v.entry_lane AS lane, v.entry_read_id AS read_id, v.containers_in AS containers, v.dwell
  FROM vasscm.truck_visits v WHERE v.inside;

COMMENT ON VIEW trucks_inside IS 'Trucks inside now: an opened entry read without an opened exit read of the same plate after it.';

-- Dwell per lane over the visits that ended in the last 24 hours: by the lane trucks came in
-- through (direction in) and the lane they left through (direction out).
CREATE VIEW dwell_by_lane AS
WITH v AS (SELECT * FROM vasscm.truck_visits WHERE NOT inside AND exited_at > now() - interval '24 hours'),
l AS (SELECT entry_gate AS gate, entry_lane AS lane, 'in'::text AS direction, dwell FROM v
      UNION ALL
      SELECT exit_gate, exit_lane, 'out', dwell FROM v)
SELECT l.gate, l.lane, l.direction, count(*) AS visits,
       round(extract(epoch FROM avg(l.dwell))::numeric / 60, 1) AS avg_minutes,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.dwell)))::numeric / 60, 1) AS p50_minutes,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM l.dwell)))::numeric / 60, 1) AS p90_minutes,
       round(extract(epoch FROM max(l.dwell))::numeric / 60, 1) AS max_minutes
  FROM l GROUP BY l.gate, l.lane, l.direction;

COMMENT ON VIEW dwell_by_lane IS 'Truck dwell time (minutes: average, median, 90th percentile, maximum) per lane of entry and of exit, visits ended in the last 24 hours.';

-- The queue at each lane: trucks held at the barrier waiting for the officer, reads in the last
-- 15 minutes and hour, the rate per hour, the camera's state.
CREATE VIEW gate_queue AS
SELECT c.gate, c.lane, c.direction,
       count(DISTINCT c.id) AS cameras,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.decision = 'hold' AND r.review_decision IS NULL
           AND r.read_at > now() - interval '24 hours') AS waiting,
       (SELECT min(r.read_at) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.decision = 'hold' AND r.review_decision IS NULL
           AND r.read_at > now() - interval '24 hours') AS waiting_since,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.read_at > now() - interval '15 minutes') AS reads_last_15_min,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.read_at > now() - interval '1 hour') AS reads_last_hour,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.opened AND r.read_at > now() - interval '1 hour') AS passed_last_hour,
       (SELECT max(r.read_at) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane) AS last_read_at,
       bool_or(o.id IS NOT NULL) AS camera_down
  FROM vasscm.camera c
  LEFT JOIN vasscm.camera_outage o ON o.camera_id = c.id AND o.ended_at IS NULL
 WHERE c.active
 GROUP BY c.gate, c.lane, c.direction;

COMMENT ON VIEW gate_queue IS 'Each gate lane now: trucks held waiting for the officer (last 24 h), reads in the last 15 minutes and hour, trucks passed in the last hour, whether a camera is down.';

-- Vehicle flow per gate, lane, direction and hour (Vietnam time) over the last 24 hours.
CREATE VIEW gate_flow AS
SELECT r.gate, r.lane, r.direction, date_trunc('hour', r.read_at AT TIME ZONE 'Asia/Ho_Chi_Minh') AS hour_vn,
       count(*) AS reads, count(*) FILTER (WHERE r.opened) AS passed, count(*) FILTER (WHERE r.decision = 'open') AS opened_automatically,
       count(*) FILTER (WHERE r.decision = 'hold') AS held, sum(cardinality(r.container_nos)) AS containers
  FROM vasscm.camera_read r
 WHERE r.read_at > now() - interval '24 hours'
 GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW gate_flow IS 'Vehicle flow over the last 24 hours per gate, lane, direction and hour (Vietnam time): reads, passed, opened automatically, held, containers.';

-- Occupancy and free capacity per yard block: the blocks the port declared (vasscm.yard_block)
-- and the containers in the yard by block (blocks with containers but not declared show a NULL
-- capacity). Columns block_code, block_name, capacity_teu, used_teu: vasscm.report_yard_map
-- ('vasscm.yard_capacity') sends it as YARD_MAP.
CREATE VIEW yard_capacity AS
WITH used AS (SELECT y.block, count(*) AS containers, sum(y.teu) AS used_teu FROM vasscm._yard_containers y GROUP BY y.block)
SELECT coalesce(b.block_code, u.block) AS block_code, b.block_name, b.capacity_teu, coalesce(u.used_teu, 0) AS used_teu,
       b.capacity_teu - coalesce(u.used_teu, 0) AS free_teu, coalesce(u.containers, 0) AS containers,
       round(100 * coalesce(u.used_teu, 0) / nullif(b.capacity_teu, 0), 1) AS occupancy_pct
  FROM vasscm.yard_block b
  FULL JOIN used u ON u.block = b.block_code;

COMMENT ON VIEW yard_capacity IS 'Yard occupancy per block: capacity, used and free TEU, containers, occupancy %; a relation for vasscm.report_yard_map.';

-- Reports -----------------------------------------------------------------------------------------

-- Statistics of the camera gates for a period [from_at, to_at) per gate and lane, and a total
-- row (gate and lane NULL): the quarterly report of Decision 1865. reads; entries / exits; trucks
-- opened automatically (matches) and held (mismatches); OCR corrections (container numbers
-- fixed by the check digit), ambiguous and unreadable numbers; plate mismatches; containers not
-- cleared; manual openings and reads kept closed by the officer, and those still waiting;
-- camera outages that overlap the period and their minutes inside it; the 99th percentile of
-- the decision time.
CREATE OR REPLACE FUNCTION camera_statistics(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (gate text, lane text, reads bigint, entries bigint, exits bigint, containers bigint, matches bigint, mismatches bigint,
               ocr_corrections bigint, ambiguous bigint, unreadable bigint, plate_mismatches bigint, not_cleared bigint,
               manual_openings bigint, kept_closed bigint, awaiting_review bigint, outages bigint, outage_minutes numeric,
               p99_decision_ms numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH r AS (
        SELECT x.gate, x.lane, x.direction, x.decision, x.review_decision, x.hold_kinds, x.decision_ms, x.container_nos,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'corrected') AS corrected,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'ambiguous') AS ambiguous,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'unreadable') AS unreadable
          FROM vasscm.camera_read x WHERE x.read_at >= from_at AND x.read_at < to_at),
    o AS (
        SELECT c.gate, c.lane,
               extract(epoch FROM least(coalesce(x.ended_at, now()), to_at) - greatest(x.began_at, from_at)) / 60 AS minutes
          FROM vasscm.camera_outage x JOIN vasscm.camera c ON c.id = x.camera_id
         WHERE x.began_at < to_at AND coalesce(x.ended_at, now()) > from_at),
    m AS (
        SELECT r.gate, r.lane, 1 AS reads, (r.direction = 'in')::int AS entries, (r.direction = 'out')::int AS exits,
               cardinality(r.container_nos) AS containers, (r.decision = 'open')::int AS matches, (r.decision = 'hold')::int AS mismatches,
               r.corrected, r.ambiguous, r.unreadable, ('plate_mismatch' = ANY (r.hold_kinds))::int AS plate_mismatches,
               ('not_cleared' = ANY (r.hold_kinds))::int AS not_cleared, coalesce(r.review_decision = 'open', false)::int AS manual_openings,
               coalesce(r.review_decision = 'keep_closed', false)::int AS kept_closed,
               (r.decision = 'hold' AND r.review_decision IS NULL)::int AS awaiting_review, 0 AS outages, 0::numeric AS outage_minutes,
               r.decision_ms
          FROM r
        UNION ALL
        SELECT o.gate, o.lane, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, o.minutes::numeric, NULL FROM o)
    SELECT m.gate, m.lane, sum(m.reads)::bigint, sum(m.entries)::bigint, sum(m.exits)::bigint, sum(m.containers)::bigint,
           sum(m.matches)::bigint, sum(m.mismatches)::bigint, sum(m.corrected)::bigint, sum(m.ambiguous)::bigint, sum(m.unreadable)::bigint,
           sum(m.plate_mismatches)::bigint, sum(m.not_cleared)::bigint, sum(m.manual_openings)::bigint, sum(m.kept_closed)::bigint,
           sum(m.awaiting_review)::bigint, sum(m.outages)::bigint, round(sum(m.outage_minutes), 1),
           round((percentile_cont(0.99) WITHIN GROUP (ORDER BY m.decision_ms))::numeric, 2)
      FROM m
     GROUP BY GROUPING SETS ((m.gate, m.lane), ())
     ORDER BY m.gate NULLS LAST, m.lane NULLS LAST
$$;

COMMENT ON FUNCTION camera_statistics(timestamptz, timestamptz) IS
    'Camera gate statistics for [from_at, to_at) per gate / lane and in total: reads, matches, mismatches, OCR corrections, plate mismatches, not cleared, manual openings, outages, p99 decision time.';

-- The shift log of a period as a printable text in Vietnamese (sổ nhật ký ca trực): every entry,
-- then the period's figures per gate and lane and the reads still waiting for review.
CREATE OR REPLACE FUNCTION camera_shift_log(from_at timestamptz, to_at timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc text[] := '{}';
    kinds CONSTANT jsonb := '{"incident": "Sự cố", "camera_outage": "Camera gián đoạn", "camera_restored": "Camera hoạt động lại",
                              "handover": "Bàn giao ca", "note": "Ghi chú", "review": "Xử lý nghi vấn"}';
BEGIN
    doc := doc || 'SỔ NHẬT KÝ CA TRỰC — CỔNG GIÁM SÁT BẰNG CAMERA'::text
               || format('Doanh nghiệp: %s (mã %s); địa điểm giám sát: %s; chi cục hải quan: %s',
                         coalesce(nullif(current_setting('vasscm.sender_name', true), ''), '-'), coalesce(nullif(current_setting('vasscm.sender_code', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.place_code', true), ''), '-'), coalesce(nullif(current_setting('vasscm.receiver_code', true), ''), '-'))
               || format('Từ %s đến %s (giờ Việt Nam)', vasscm._vn_time(from_at), vasscm._vn_time(to_at)) || ''::text
               || 'I. DIỄN BIẾN'::text;
    doc := doc || ARRAY(SELECT format('   %s  %-22s %s  %s', vasscm._vn_time(l.at), kinds ->> l.kind, l.officer, l.note)
                          FROM vasscm.shift_log l WHERE l.at >= from_at AND l.at < to_at ORDER BY l.at, l.id);
    IF NOT EXISTS (SELECT 1 FROM vasscm.shift_log l WHERE l.at >= from_at AND l.at < to_at) THEN
        doc := doc || '   (không có)'::text;
    END IF;
    doc := doc || ''::text || 'II. SỐ LIỆU'::text;
    doc := doc || ARRAY(SELECT format('   %s: %s lượt đọc (%s vào, %s ra), %s tự động mở, %s giữ lại (%s sửa số container, %s biển số không khớp, %s chưa đủ điều kiện), %s mở thủ công, %s giữ đóng, %s chờ xử lý; %s lần camera gián đoạn (%s phút)',
                                      CASE WHEN s.gate IS NULL THEN 'Tổng' ELSE 'Cổng ' || s.gate || ' làn ' || s.lane END,
                                      s.reads, s.entries, s.exits, s.matches, s.mismatches, s.ocr_corrections, s.plate_mismatches, s.not_cleared,
                                      s.manual_openings, s.kept_closed, s.awaiting_review, s.outages, s.outage_minutes)
                          FROM vasscm.camera_statistics(from_at, to_at) s);
    doc := doc || ''::text || 'III. LƯỢT XE ĐANG CHỜ CÔNG CHỨC XỬ LÝ'::text;
    doc := doc || ARRAY(SELECT format('   #%s  %s  cổng %s làn %s  xe %s  %s', q.read_id, vasscm._vn_time(q.read_at), q.gate, q.lane,
                                      coalesce(q.plate, '?'), array_to_string(q.reasons, '; '))
                          FROM vasscm.camera_review_queue q WHERE q.read_at < to_at ORDER BY q.read_at);
    doc := doc || ''::text || 'Người giao ca                                  Người nhận ca'::text
               || '(ký, ghi rõ họ tên)                           (ký, ghi rõ họ tên)'::text;
    RETURN array_to_string(doc, E'\n') || E'\n';
END
$$;

COMMENT ON FUNCTION camera_shift_log(timestamptz, timestamptz) IS 'The shift log of the camera gates for a period, printable, in Vietnamese: entries, figures, reads waiting.';

-- As at install (sql/roles.sql): nothing for PUBLIC on what this update created.
REVOKE ALL ON ALL TABLES IN SCHEMA vasscm FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA vasscm FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vasscm FROM PUBLIC;

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

GRANT TRIGGER ON vasscm.camera_exit TO vasscm_admin;

   -- vasscm.bind checks it: a port without a gate system binds camera_exit to form 21
GRANT EXECUTE ON FUNCTION vasscm.record_camera_read(text, timestamptz, jsonb, text, text[]), vasscm.camera_read_status(bigint),
                          vasscm.report_camera_outage(text, text, timestamptz), vasscm.report_camera_restored(text, timestamptz)
   TO vasscm_camera;

GRANT EXECUTE ON FUNCTION vasscm.camera_key_matches(text, text) TO vasscm_worker;

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
