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
