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
-- (outbox_id, undone_at): the live event of a message is found by two index conditions, which
-- no plan of the ledger's statistics (behind within one large transaction) prefers to reading
-- a partial index of live events (movement_by_container) whole.
CREATE INDEX movement_by_outbox ON movement (outbox_id, undone_at);

-- Where a box is now: the binding's latest mapping of an event's TOS row when only
-- informational fields (a yard position) moved since the ledger row was written or corrected.
-- Kept apart from the ledger so that a yard move rewrites one narrow row, not the event (with
-- its six indexes and the clearance state that watches it); no foreign key, so that it does
-- not lock the event's row either (ledger rows are never deleted).
CREATE TABLE movement_position (
    movement_id bigint PRIMARY KEY,
    source_data jsonb NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE movement_position IS 'The latest mapping of a ledger event''s TOS row when only informational fields (VI_TRI) moved since the event was recorded or corrected: where the box is now.';

-- Where boxes are now: the latest mapping of each ledger event's TOS row (movement_ids[i] ↔
-- datas[i], later entries win) after a change that moved only informational fields.
CREATE FUNCTION _record_positions(movement_ids bigint[], datas jsonb[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.movement_position AS p (movement_id, source_data)
    SELECT DISTINCT ON (u.id) u.id, u.data
      FROM unnest(movement_ids, datas) WITH ORDINALITY AS u(id, data, n)
     WHERE u.id IS NOT NULL
     ORDER BY u.id, u.n DESC
        ON CONFLICT (movement_id) DO UPDATE SET source_data = excluded.source_data, moved_at = now()
     WHERE p.source_data IS DISTINCT FROM excluded.source_data
$$;

-- Any text PostgreSQL reads as a time, or NULL.
CREATE FUNCTION _time_tried(t text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN t::timestamptz;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- A time as the TOS gave it, or NULL when it does not read as one (the message's checks say why).
-- ISO 8601 times that are always valid are read directly (inlined: no call); any other text is
-- tried by vasscm._time_tried (a subtransaction).
CREATE FUNCTION _time_or_null(t text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN t ~ ('^[1-9][0-9]{3}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)'
                          '[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?$')
                THEN t::pg_catalog.timestamptz
                WHEN t IS NOT NULL THEN vasscm._time_tried(t) END
$$;

-- A number as the TOS gave it, or NULL when it does not read as one.
CREATE FUNCTION _number_or_null(t text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^\s*[+-]?([0-9]{1,200}(\.[0-9]{0,200})?|\.[0-9]{1,200})([eE][+-]?[0-9]{1,3})?\s*$' THEN t::pg_catalog.numeric END
$$;

-- The ledger columns of an event from its mapped (catalogue) data (one row). Numbers and times
-- that do not read as such stay NULL (the message is invalid anyway: its checks say why; an
-- unreadable time is now). A single SELECT without settings of its own, so that PostgreSQL
-- inlines it into the statement that reads it (no call per row).
CREATE FUNCTION _movement_columns(data jsonb)
RETURNS TABLE (container_no text, bl_no text, declarations text[], quantity numeric, quantity_unit text, weight_kg numeric,
               volume_m3 numeric, vehicle text, vehicle_no text, seal text, happened_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT data ->> 'SO_CONTAINER', vasscm._norm(data ->> 'SO_VAN_DON'),
           CASE WHEN data ? 'LIST_TK' OR data ? 'SO_TK' THEN ARRAY(SELECT DISTINCT d FROM (
                    SELECT upper(trim(x)) AS d FROM jsonb_array_elements_text(
                        CASE jsonb_typeof(data -> 'LIST_TK') WHEN 'array' THEN data -> 'LIST_TK' ELSE '[]' END) x
                    UNION ALL SELECT upper(trim(data ->> 'SO_TK'))) s WHERE coalesce(d, '') <> '') ELSE '{}' END,
           vasscm._number_or_null(data ->> 'SO_LUONG'), nullif(upper(trim(data ->> 'DVT_SO_LUONG')), ''),
           vasscm._kg(vasscm._number_or_null(data ->> 'TRONG_LUONG'), data ->> 'DVT_TRONG_LUONG'),
           vasscm._number_or_null(data ->> 'THE_TICH_M3'), data ->> 'PHUONG_TIEN', data ->> 'SO_PHUONG_TIEN',
           coalesce(data ->> 'NIEM_PHONG_MOI', data ->> 'SO_NIEM_PHONG_HQ', data ->> 'SO_NIEM_PHONG'),
           coalesce(vasscm._time_or_null(data ->> 'THOI_GIAN'), now())
$$;

-- New events, one per message just queued for them (in the order given; messages of forms that
-- report no physical event are skipped): the ledger row from the message's data, its binding,
-- TOS identity and mapped TOS data. Returns the new rows' ids.
CREATE FUNCTION _insert_movements(outbox_ids bigint[]) RETURNS SETOF bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$   -- PL/pgSQL: planned once per session
BEGIN
    RETURN QUERY
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
    RETURNING movement.id;
END
$$;

-- Records a physical event reported by the message `outbox_id` (whose data, binding, TOS
-- identity and mapped data are those given); returns the ledger row. An event of a TOS
-- identity (binding, source key) already in the ledger and not undone is that event, corrected
-- (its message may have been replaced: customs rejected it, an operator declined it).
CREATE FUNCTION _record_movement(message_type text, data jsonb, binding_id int, source_table text, source_key jsonb,
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

-- The TOS corrected events' facts: the ledger follows. For each i, the event of message
-- outbox_ids[i] now has the facts datas[i], the message new_outbox_ids[i] standing for it (a
-- new one replaced it; NULL: the same) and, when source_datas[i] is given, that mapping of its
-- TOS row (which also says where the box is now).
CREATE FUNCTION _correct_movements(outbox_ids bigint[], datas jsonb[], new_outbox_ids bigint[], source_datas jsonb[])
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$   -- the ledger grows within one transaction faster than its statistics: one index, never a scan of a partial one
BEGIN
    WITH fixed AS (
        UPDATE vasscm.movement m
           SET container_no = c.container_no, bl_no = c.bl_no, declarations = c.declarations, quantity = c.quantity,
               quantity_unit = c.quantity_unit, weight_kg = c.weight_kg, volume_m3 = c.volume_m3, vehicle = c.vehicle,
               vehicle_no = c.vehicle_no,
               seal = CASE WHEN m.kind = 'seal_change' THEN c.seal ELSE coalesce(u.data ->> 'SO_NIEM_PHONG_HQ', u.data ->> 'SO_NIEM_PHONG') END,
               happened_at = c.happened_at, facts = u.data, corrected_at = now(),
               source_data = coalesce(u.source_data, m.source_data),
               outbox_id = coalesce(u.new_id, m.outbox_id)
          FROM unnest(outbox_ids, datas, new_outbox_ids, source_datas) AS u(id, data, new_id, source_data)
         CROSS JOIN LATERAL vasscm._movement_columns(u.data) c
         WHERE m.outbox_id = u.id AND m.undone_at IS NULL
        RETURNING m.id, u.source_data IS NOT NULL AS remapped)
    -- the corrected mapping says where the box is now
    DELETE FROM vasscm.movement_position p USING fixed f WHERE p.movement_id = f.id AND f.remapped;
END
$$;

-- One event corrected (see above).
CREATE FUNCTION _correct_movement(outbox_id bigint, data jsonb, new_outbox_id bigint DEFAULT NULL,
                                  source_data jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._correct_movements(ARRAY[outbox_id], ARRAY[data], ARRAY[new_outbox_id], ARRAY[source_data]);
END
$$;

-- The TOS undid events (a truck turned back, a mistaken gate-in deleted): they no longer
-- count. For each i, the event of message outbox_ids[i], because of reasons[i].
-- (PL/pgSQL: its plan is kept for the session; a SQL function called once per change would be
-- planned at every call.)
CREATE FUNCTION _undo_movements(outbox_ids bigint[], reasons text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off AS $$
BEGIN
    UPDATE vasscm.movement m SET undone_at = now(), undone_reason = u.reason
      FROM unnest(outbox_ids, reasons) AS u(id, reason)
     WHERE m.outbox_id = u.id AND m.undone_at IS NULL;
END
$$;

-- One event undone (see above).
CREATE FUNCTION _undo_movement(outbox_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._undo_movements(ARRAY[outbox_id], ARRAY[reason]);
END
$$;

-- Backups: the ledger is kept by pg_dump like the rest of vasscm's data.
SELECT pg_catalog.pg_extension_config_dump('vasscm.movement', '');
SELECT pg_catalog.pg_extension_config_dump('vasscm.movement_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('vasscm.movement_position', '');
