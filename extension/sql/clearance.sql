-- The clearance read API: what a TOS report, the console and a gate clerk read. Everything here
-- reads the maintained state (sql/clearance_now.sql).

-- The clearance of every container and bulk B/L customs told the port about, of every
-- container on a current expected list, and of every container the port knows (the movement
-- ledger, a scan) without customs data (state unknown).
CREATE VIEW clearance_state AS
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

-- The row for something nobody mentioned (vasscm.clearance_by_declaration / _by_bl).
CREATE FUNCTION _unknown(container_no text, declaration_no text, bl_no text) RETURNS SETOF clearance_state
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN container_no IS NULL THEN 'bulk' ELSE 'container' END, container_no, declaration_no, bl_no,
           NULL::date, NULL, NULL, NULL::smallint, NULL, 'unknown', false, false, NULL, NULL,
           NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
           NULL::uuid, NULL, NULL::timestamptz, NULL::timestamptz, NULL, NULL::timestamptz,
           NULL, NULL::timestamptz, NULL::timestamptz
$$;

-- Plain SQL functions without SET or SECURITY DEFINER, so that PostgreSQL inlines them into a
-- report's join: clearance() is one indexed table, which a whole-yard report hash-joins.
CREATE FUNCTION clearance(container_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM vasscm.clearance_state s WHERE s.container_no = vasscm.normalize_container_no(clearance.container_no)
$$;
COMMENT ON FUNCTION clearance(text) IS 'Clearance of a container (number normalised): one row per declaration, a row per expected-list line, or one row with state unknown when only the port knows it; no row for a number nobody ever mentioned.';

CREATE FUNCTION clearance_by_declaration(declaration_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no)
    UNION ALL
    SELECT u.* FROM vasscm._unknown(NULL, vasscm._norm(clearance_by_declaration.declaration_no), NULL) u
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no))
$$;
COMMENT ON FUNCTION clearance_by_declaration(text) IS 'Clearance of every container / B/L of a declaration, or one row with state unknown.';

CREATE FUNCTION clearance_by_bl(bl_no text) RETURNS SETOF clearance_state
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
