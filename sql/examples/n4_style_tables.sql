-- Example TOS schema 2 ("N4 style"): units and an append-only event log. A gate move is an
-- INSERT of an event row (not an update of the unit); container ids are stored padded
-- ('MSKU 123456 5'); times are local (timestamp without time zone). Bulk, packages and
-- liquids go through weighbridge / meter tickets with meter readings.

CREATE TABLE IF NOT EXISTS inv_unit (
    gkey         bigint PRIMARY KEY,
    id           text NOT NULL,
    category     text NOT NULL,          -- IMPRT / EXPRT / TRSHP
    freight_kind text NOT NULL,          -- FCL / MTY
    seal_nbr1    text,                   -- carrier seal
    seal_nbr4    text,                   -- customs seal
    bl_nbr       text,
    ufv_decl     text                    -- declarations, comma separated
);

CREATE TABLE IF NOT EXISTS srv_event (
    gkey         bigint PRIMARY KEY,
    unit_gkey    bigint NOT NULL,
    event_type   text NOT NULL,          -- UNIT_DISCH / UNIT_RECEIVE / UNIT_DELIVER / UNIT_LOAD
    placed_time  timestamp NOT NULL,     -- local time (Asia/Ho_Chi_Minh)
    carrier_mode text NOT NULL,          -- VESSEL / TRUCK / BARGE
    carrier_id   text,
    -- denormalised unit attributes at event time, as N4-style event feeds carry them
    unit_id      text NOT NULL,
    category     text NOT NULL,
    freight_kind text NOT NULL,
    seal_nbr1    text,
    seal_nbr4    text,
    bl_nbr       text,
    decls        text
);

CREATE TABLE IF NOT EXISTS bulk_ticket (
    ticket_nbr   text PRIMARY KEY,
    bl_nbr       text NOT NULL,
    decl_nbr     text,
    commodity    text NOT NULL,          -- BREAKBULK / DRYBULK / LIQUID
    pieces       integer,
    piece_unit   text,
    net_kg       numeric NOT NULL,
    meter_start  numeric,                -- m3 meter readings for pipeline transfers
    meter_end    numeric,
    via          text NOT NULL,          -- TRUCK / BARGE / VESSEL / PIPE
    via_id       text,
    movement     text NOT NULL,          -- RECEIVE / DELIVER
    ticket_time  timestamp NOT NULL
);
