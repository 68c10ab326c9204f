#!/usr/bin/env bash
# Benchmark: a TOS yard report that joins N containers (default 100,000) to their clearance,
# next to its floor, in the same run.
#
# The state is made the real way: the yard's gate-ins (14) and a fifth of them gated out (21)
# are TOS rows captured through the shipped bindings (sql/examples/generic_tos_*.sql) into the
# movement ledger; customs' eligibility (form 04, 50 containers each), suspensions (06) and scan
# lists (03) are built and stored through vasscm.receive. Then, best of 3 each:
#   report   SELECT … FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true
#   floor    the same report as a hash join to a table holding the same columns (a copy of
#            vasscm.clearance_state): the least PostgreSQL can do for it
#   view     the same report joined to vasscm.clearance_state
# and single lookups: vasscm.clearance(x) and vasscm.gate_out_check per container. Not a test:
# prints figures (and the plan of the report).
# Usage: bench/clearance_report.sh [N]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-100000}
PORT=${BENCH_PORT:-55435}
ensure_setup
install_extension
start_cluster bench_clearance "$PORT"
trap 'stop_cluster bench_clearance' EXIT
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS vasscm_bench" -c "CREATE DATABASE vasscm_bench" 2>/dev/null
psql_at "$PORT" -d vasscm_bench -qc "CREATE EXTENSION vasscm"
psql_at "$PORT" -d vasscm_bench -q -f "$ROOT/sql/examples/generic_tos_tables.sql"
log "the yard: $N containers gated in through the TOS bindings, customs' state through vasscm.receive"
psql_at "$PORT" -d vasscm_bench -q <<SQL
SET client_min_messages = warning;
SET vasscm.sender_code = 'CANGBENCH'; SET vasscm.sender_name = 'CANGBENCH'; SET vasscm.receiver_code = '03CC';
-- the shipped container bindings: gate-in (14) and gate-out (21)
SELECT vasscm.bind(source, message_type, mapping, events, condition, mode)
  FROM (VALUES ('tos_container_move'::regclass, '14', \$m\${"MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "'NHAP'",
          "TEN_TAU": "vessel_name", "MA_TAU": "vessel_imo", "SO_CHUYEN": "voyage", "SO_CONTAINER": "container_no", "TRANG_THAI": "full_empty",
          "SO_NIEM_PHONG": "line_seal", "SO_VAN_DON": "bl_no", "SO_TK": "declaration_no", "HINH_THUC": "'TAU'", "THOI_GIAN": "gate_in_at",
          "VI_TRI": "yard_position"}\$m\$::jsonb, '{INSERT,UPDATE,DELETE}'::text[], 'gate_in_at IS NOT NULL', 'auto'),
               ('tos_container_move'::regclass, '21', \$m\${"MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "'NHAP'",
          "SO_CONTAINER": "container_no", "TRANG_THAI": "full_empty", "SO_NIEM_PHONG": "line_seal", "LIST_TK/SO_TK": "declarations",
          "PHUONG_TIEN": "'XE'", "SO_PHUONG_TIEN": "out_vehicle", "CO_CHUNG_TU": "'Y'", "THOI_GIAN": "gate_out_at"}\$m\$::jsonb,
          '{INSERT,UPDATE}'::text[], 'gate_out_at IS NOT NULL', 'auto')) b(source, message_type, mapping, events, condition, mode);
CREATE TABLE tos_yard (container_no text PRIMARY KEY, block text, tier int, n int);
INSERT INTO tos_yard
SELECT 'BNCU' || lpad(i::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(i::text, 6, '0')), 'B' || (i % 40), i % 5, i
  FROM generate_series(1, $N) AS i;
ANALYZE tos_yard;
\timing on
-- gate-ins, in batches of 10,000 TOS rows (each batch interpreted at its commit)
SELECT format('INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, vessel_name, vessel_imo, voyage, gate_in_at, yard_position)
               SELECT y.n, y.container_no, ''SL'' || y.tier, ''BL'' || y.n, (300000000000 + (y.n - 1) / 50)::text, ''BENCH'', ''9321483'', ''245N'',
                      ''2026-11-20T08:00:00+07:00'', y.block FROM tos_yard y WHERE y.n > %s AND y.n <= %s', b, b + 10000)
  FROM generate_series(0, $N - 1, 10000) b \gexec
-- eligibility: one form 04 per 50 containers (a fifth of the declarations are export)
SET vasscm.sender_code = 'TCHQ'; SET vasscm.sender_name = 'TCHQ';
SELECT count(vasscm.receive(vasscm.build_message('04', jsonb_build_object(
           'SO_TK', (300000000000 + d)::text, 'NGAY_DK', '2026-11-25', 'MA_HQ', '03CC', 'LUONG', (1 + d % 3)::text,
           'LOAI_HANG', CASE WHEN d % 5 = 0 THEN 'XUAT' ELSE 'NHAP' END,
           'LIST_CONTAINER', (SELECT jsonb_agg(jsonb_build_object('SO_CONTAINER', y.container_no, 'SO_NIEM_PHONG', 'SL' || y.tier))
                                FROM tos_yard y WHERE y.n > d * 50 AND y.n <= d * 50 + 50)))))
  FROM generate_series(0, ($N * 9 / 10) / 50 - 1) AS d;
-- suspensions and scan lists (for the vessel call the boxes came with)
SELECT count(vasscm.receive(vasscm.build_message('06', jsonb_build_object('SO_TK', (300000000000 + d)::text, 'TRANG_THAI_TK', 'TAM_DUNG'))))
  FROM generate_series(0, ($N * 9 / 10) / 50 - 1, 37) AS d;
SELECT count(vasscm.receive(vasscm.build_message('03', jsonb_build_object('MA_HQ', '03CC', 'LOAI_HANG', 'NHAP', 'MA_TAU', '9321483', 'SO_CHUYEN', '245N',
           'LIST_HANG', (SELECT jsonb_agg(jsonb_build_object('SO_CONTAINER', container_no))
                           FROM tos_yard y WHERE y.n > s * 100 AND y.n <= s * 100 + 20)))))
  FROM generate_series(0, $N / 100 - 1) AS s;
-- gate-outs of a fifth of the eligible containers, by the TOS
SET vasscm.sender_code = 'CANGBENCH'; SET vasscm.sender_name = 'CANGBENCH';
UPDATE tos_container_move m SET gate_out_at = '2026-11-26T08:00:00+07:00', out_by = 'TRUCK', out_vehicle = '15C-000.00',
       declarations = ARRAY[m.declaration_no]
 WHERE m.move_id % 5 = 0 AND m.move_id <= $N * 9 / 10;
\timing off
VACUUM ANALYZE;
SELECT count(*) AS drift FROM vasscm._clearance_drift();
SQL
log "report over $N containers, next to its floor"
psql_at "$PORT" -d vasscm_bench -q <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = notice;
SELECT state, count(*) FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true GROUP BY state ORDER BY state;
EXPLAIN (ANALYZE, TIMING OFF) SELECT y.container_no, y.block, c.declaration_no, c.channel_name, c.state, c.scan_required
  FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true;
DROP TABLE IF EXISTS report_floor;
CREATE TABLE report_floor AS SELECT * FROM vasscm.clearance_state;
CREATE INDEX ON report_floor (container_no);
ANALYZE report_floor;
CREATE FUNCTION pg_temp.best_ms(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz; best float8 := 1e9; n bigint;
BEGIN
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        EXECUTE q INTO n;
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RETURN round((best * 1000)::numeric, 1);
END $$;
DO $$
DECLARE
    cols text := 'y.container_no, y.block, c.declaration_no, c.channel_name, c.state, c.scan_required, c.scan_done, c.set_by_form, c.carrier_seal';
    floor_ms numeric; report_ms numeric; view_ms numeric;
    t0 timestamptz; s float8; n bigint; k text; ks text[]; seals text[];
BEGIN
    -- the rows are materialised (count of the rows themselves, not count(*) that needs no column)
    floor_ms := pg_temp.best_ms(format('SELECT count(r.*) FROM (SELECT %s FROM tos_yard y LEFT JOIN report_floor c ON c.container_no = y.container_no) r', cols));
    report_ms := pg_temp.best_ms(format('SELECT count(r.*) FROM (SELECT %s FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true) r', cols));
    view_ms := pg_temp.best_ms(format('SELECT count(r.*) FROM (SELECT %s FROM tos_yard y LEFT JOIN vasscm.clearance_state c ON c.container_no = y.container_no) r', cols));
    EXECUTE 'SELECT count(*) FROM tos_yard' INTO n;
    RAISE NOTICE 'floor  (hash join to a table of the same columns): % ms', floor_ms;
    RAISE NOTICE 'report (LEFT JOIN LATERAL vasscm.clearance()):     % ms = % x the floor (% containers)', report_ms, round(report_ms / floor_ms, 2), n;
    RAISE NOTICE 'view   (LEFT JOIN vasscm.clearance_state):         % ms = % x the floor', view_ms, round(view_ms / floor_ms, 2);
    -- single lookups, as a clerk or the TOS asks them: 2,000 containers in random order
    SELECT array_agg(container_no), array_agg('SL' || tier) INTO ks, seals
      FROM (SELECT container_no, tier FROM tos_yard ORDER BY md5(container_no) LIMIT 2000) x;
    t0 := clock_timestamp();
    FOREACH k IN ARRAY ks LOOP
        PERFORM * FROM vasscm.clearance(k);
    END LOOP;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'clearance(x): 2000 lookups, % µs each', round((s * 1e6 / 2000)::numeric, 1);
    t0 := clock_timestamp();
    FOR i IN 1 .. 2000 LOOP
        PERFORM * FROM vasscm.gate_out_check(ks[i], seals[i], NULL);
    END LOOP;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'gate_out_check: 2000 checks one by one, the seal right, % µs each', round((s * 1e6 / 2000)::numeric, 1);
    t0 := clock_timestamp();
    FOR i IN 1 .. 2000 LOOP
        PERFORM * FROM vasscm.gate_out_check(ks[i], 'ML 9999999', NULL);
    END LOOP;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'gate_out_check: 2000 checks one by one, the seal wrong (refused, with its reasons), % µs each', round((s * 1e6 / 2000)::numeric, 1);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM (SELECT (vasscm.gate_out_check(y.container_no, 'SL' || y.tier, NULL)).allowed FROM tos_yard y) g;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'gate_out_check: % checks in one query, % µs each', n, round((s * 1e6 / n)::numeric, 1);
END
$$;
SQL
