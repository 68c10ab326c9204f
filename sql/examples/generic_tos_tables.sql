-- Example TOS schema 1 ("generic"): one row per container move, updated as the container
-- goes through the port; one row per bulk / package / liquid move; a seal-change log.
-- Run on the TOS (publisher) and, identically, on the replica.

CREATE TABLE IF NOT EXISTS tos_container_move (
    move_id        bigint PRIMARY KEY,
    container_no   text NOT NULL,
    iso_type       text,
    full_empty     char(1) NOT NULL DEFAULT 'F',       -- F / E
    line_seal      text,
    customs_seal   text,
    bl_no          text,
    declaration_no text,
    cargo_ref      text,
    flow           text NOT NULL DEFAULT 'IMPORT',      -- IMPORT / EXPORT / TRANSIT
    vessel_name    text,
    vessel_imo     text,
    voyage         text,
    arrived_by     text NOT NULL DEFAULT 'VESSEL',      -- VESSEL / TRUCK / BARGE
    gate_in_at     timestamptz,
    yard_position  text,
    weight_kg      numeric,
    gate_out_at    timestamptz,
    out_by         text,                               -- TRUCK / BARGE / VESSEL
    out_vehicle    text,
    declarations   text[],
    with_documents boolean DEFAULT true
);

CREATE TABLE IF NOT EXISTS tos_cargo_move (
    move_id        bigint PRIMARY KEY,
    cargo_kind     text NOT NULL,                      -- PACKAGE / BULK / LIQUID
    direction      text NOT NULL,                      -- IN / OUT
    bl_no          text,
    declaration_no text,
    flow           text NOT NULL DEFAULT 'IMPORT',
    vessel_name    text,
    vessel_imo     text,
    voyage         text,
    quantity       numeric,
    quantity_unit  text,
    weight_tonnes  numeric NOT NULL,
    volume_m3      numeric,
    means          text NOT NULL,                      -- TRUCK / BARGE / VESSEL / PIPELINE
    vehicle        text,
    moved_at       timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS tos_seal_change (
    change_id    bigint PRIMARY KEY,
    container_no text NOT NULL,
    seal_kind    text NOT NULL,                        -- LINE / CUSTOMS
    old_seal     text,
    new_seal     text NOT NULL,
    reason       text NOT NULL,
    changed_at   timestamptz NOT NULL
);

-- Liquids through a pipeline: one row per pump-in / pump-out, with the flow meter's readings
-- at start and end (the volume is their difference) and the weight the meter computed.
CREATE TABLE IF NOT EXISTS tos_pump_reading (
    reading_id     bigint PRIMARY KEY,
    direction      text NOT NULL,                      -- IN / OUT
    meter          text NOT NULL,
    bl_no          text,
    declaration_no text,
    flow           text NOT NULL DEFAULT 'IMPORT',
    vessel_name    text,
    vessel_imo     text,
    voyage         text,
    meter_start_m3 numeric NOT NULL,
    meter_end_m3   numeric NOT NULL,
    weight_tonnes  numeric NOT NULL,
    pumped_at      timestamptz NOT NULL
);

-- The yard, for YARD_MAP (vasscm.report_yard_map reads these column names).
CREATE TABLE IF NOT EXISTS tos_yard_block (
    block_code   text PRIMARY KEY,
    block_name   text,
    capacity_teu numeric,
    used_teu     numeric
);

-- Vessel visits, for matching customs' VESSEL_LIST (vasscm.match_vessels reads these names).
CREATE TABLE IF NOT EXISTS tos_vessel_visit (
    visit_id    text PRIMARY KEY,
    imo         text,
    call_sign   text,
    vessel_name text,
    eta         timestamptz
);
