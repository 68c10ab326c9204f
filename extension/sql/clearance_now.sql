-- The clearance as it stands now, maintained: one row per container × declaration, per
-- expected-list line no declaration covers yet, per container the port knows (from the movement
-- ledger or a scan) without customs data ('unknown'), and per bulk declaration × B/L. It is
-- what vasscm.clearance_state, vasscm.clearance() and the gate decisions read: a plain table
-- that a TOS report hash-joins (tos_yard LEFT JOIN LATERAL vasscm.clearance(container_no)).
--
-- Every row is computed here, from the state tables (customs' data), the movement ledger (the
-- yard's truth: visits, gate-outs, seal changes) and the outbox (a seal change or a cancelled
-- pass accepted by customs), by vasscm._container_rows / vasscm._bulk_rows; triggers on those
-- tables recompute the rows of what a change touches, in the same transaction (at the end of
-- the inbox message being applied: vasscm._apply_inbox defers to its end).
--
-- Visits. Every stay of a container in the port is a visit, from its latest gate-in (the
-- ledger's gate_in, not undone) to its gate-out. "Already left" belongs to the visit: a
-- gate-out (21) counts against the declarations it lists (or all, when it lists none: an empty
-- box) only if no gate-in came after it. A declaration customs set before the box's previous
-- gate-out belongs to an earlier visit: it shows as passed and covers nothing now. Scan
-- selections (03) belong to a visit too: one applies if it was made after the previous
-- gate-out and either for the vessel call the box came with, or at most
-- scan_selection_validity_days before the visit began (with no visit known: for that many
-- days).
--
-- Seals. The seal the gate expects is customs' (04 / 07) as changed by the seal changes (24) of
-- this visit that customs accepted: one accepted after customs' data was set applies; one
-- accepted before it (the 04 still listing the old seal) applies when its old seal is the seal
-- customs' data has. Seals are compared as identifiers (vasscm._seal_key).

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
CREATE FUNCTION _seal_after_changes(seal text, since timestamptz, ats timestamptz[], olds text[], news text[]) RETURNS text
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
CREATE FUNCTION _expected_seal(container_no text, seal_kind text, customs_value text, since timestamptz) RETURNS text
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
CREATE FUNCTION _container_rows(keys text[]) RETURNS SETOF clearance_now
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
               ch.ch_ats, ch.ch_olds, ch.ch_news, ch.cu_ats, ch.cu_olds, ch.cu_news,
               po.out_at
          FROM (SELECT DISTINCT x AS container_no FROM unnest(keys) AS x WHERE x IS NOT NULL) k
          -- the gate-in of the current visit, and the vessel call it came with
          LEFT JOIN LATERAL (SELECT m.happened_at AS in_at, vasscm._vessel_call_of(m.facts) AS call
                               FROM vasscm.movement m
                              WHERE m.container_no = k.container_no AND m.kind = 'gate_in' AND m.undone_at IS NULL
                              ORDER BY m.happened_at DESC, m.id DESC LIMIT 1) gi ON true
          -- the gate-out before it (an earlier visit), and the first one of this visit (one read of its gate-outs)
          LEFT JOIN LATERAL (SELECT max(g.left_at) FILTER (WHERE g.left_at < gi.in_at) AS prev_out,
                                    min(g.left_at) FILTER (WHERE g.left_at >= coalesce(gi.in_at, '-infinity')) AS out_at
                               FROM vasscm.gate_outs g WHERE g.container_no = k.container_no AND g.message_type = '21') po ON true
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
          -- seal changes (24) of this visit customs accepted, in order: the carrier's (ch_) and customs' (cu_)
          -- seals, from one read of its seal changes
          LEFT JOIN LATERAL (
              SELECT array_agg(m.happened_at ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id)
                         FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_news,
                     array_agg(m.happened_at ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id)
                         FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_news
                FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id AND o.status = 'accepted'
               WHERE m.container_no = k.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
                 AND m.facts ->> 'LOAI_NIEM_PHONG' IN ('HANG_TAU', 'HAI_QUAN') AND m.happened_at >= coalesce(gi.in_at, '-infinity')) ch ON true
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
CREATE FUNCTION _bulk_rows(declarations text[]) RETURNS SETOF clearance_now
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
CREATE FUNCTION _refresh_clearance(containers text[], declarations text[]) RETURNS void
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

-- What changed touches these containers / bulk declarations: recomputed now, or at the end of
-- the inbox message being applied (vasscm.clearance_refresh = 'defer': the keys wait in
-- vasscm.clearance_pending_*), or not at all while the whole state is rebuilt ('off').
CREATE FUNCTION _clearance_touch(containers text[], declarations text[]) RETURNS void
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
CREATE FUNCTION _clearance_defer() RETURNS boolean
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
CREATE FUNCTION _clearance_flush() RETURNS void
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
CREATE FUNCTION _clearance_rebuild() RETURNS bigint
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
CREATE FUNCTION _clearance_drift() RETURNS TABLE (side text, row_text text)
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
-- (a list of 3,000 containers is one recomputation); the outbox's status changes of 24 and
-- CANCEL_PASSED have a row trigger.
CREATE FUNCTION _clearance_changed() RETURNS trigger
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

-- The outbox: a seal change (24) or a CANCEL_PASSED settled changes what the gate expects.
CREATE FUNCTION _clearance_event() RETURNS trigger
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
CREATE FUNCTION _clearance_movement() RETURNS trigger
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
CREATE TRIGGER clearance_ins AFTER INSERT ON movement REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
CREATE TRIGGER clearance_upd AFTER UPDATE ON movement REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
CREATE TRIGGER clearance_del AFTER DELETE ON movement REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_movement();
CREATE TRIGGER clearance_trunc AFTER TRUNCATE ON movement
    FOR EACH STATEMENT EXECUTE FUNCTION _clearance_changed();
CREATE TRIGGER clearance_event AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (NEW.message_type IN ('24', 'CANCEL_PASSED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION _clearance_event();
-- The ledger's triggers fire for rows written by logical replication's apply worker too
-- (interpretation at commit runs in its transaction).
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_ins;
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_upd;
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_del;
ALTER TABLE movement ENABLE ALWAYS TRIGGER clearance_trunc;
ALTER TABLE outbox ENABLE ALWAYS TRIGGER clearance_event;

-- A new validity of scan selections changes which apply: the containers selected are recomputed.
CREATE FUNCTION _clearance_setting_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._clearance_touch(ARRAY(SELECT DISTINCT s.container_no FROM vasscm.scan_selection s), NULL);
    RETURN NULL;
END
$$;
CREATE TRIGGER clearance_setting AFTER UPDATE OF value ON setting
    FOR EACH ROW WHEN (NEW.name = 'scan_selection_validity_days' AND OLD.value IS DISTINCT FROM NEW.value)
    EXECUTE FUNCTION _clearance_setting_changed();
