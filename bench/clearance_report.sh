#!/usr/bin/env bash
# Benchmark: a TOS report that joins N yard containers (default 100,000) to their clearance.
# The state is made the real way: 50-container eligibility messages (form 04) built and
# stored through vasscm.receive, a suspension (06) for some declarations, scan lists (03),
# and gate-outs (21) in the outbox for a fifth of the containers. Then the report
#   SELECT ... FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true
# is timed (best of 3), as is a gate-out check per container. Not a test: prints figures.
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
log "making the clearance state of $N containers through vasscm.receive"
psql_at "$PORT" -d vasscm_bench -q <<SQL
SET vasscm.sender_code = 'TCHQ'; SET vasscm.sender_name = 'TCHQ'; SET vasscm.receiver_code = '03CC';
CREATE TABLE tos_yard (container_no text PRIMARY KEY, block text, tier int);
INSERT INTO tos_yard
SELECT 'BNCU' || lpad(i::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(i::text, 6, '0')),
       'B' || (i % 40), i % 5
  FROM generate_series(1, $N) AS i;
ANALYZE tos_yard;
\timing on
-- eligibility: one form 04 per 50 containers (a fifth of the declarations are export)
SELECT count(vasscm.receive(vasscm.build_message('04', jsonb_build_object(
           'SO_TK', (300000000000 + d)::text, 'NGAY_DK', '2026-11-25', 'MA_HQ', '03CC', 'LUONG', (1 + d % 3)::text,
           'LOAI_HANG', CASE WHEN d % 5 = 0 THEN 'XUAT' ELSE 'NHAP' END,
           'LIST_CONTAINER', (SELECT jsonb_agg(jsonb_build_object('SO_CONTAINER', y.container_no, 'SO_NIEM_PHONG', 'SL' || y.tier))
                                FROM (SELECT container_no, tier FROM tos_yard ORDER BY container_no OFFSET d * 50 LIMIT 50) y)))))
  FROM generate_series(0, ($N * 9 / 10) / 50 - 1) AS d;
-- suspensions and scan lists
SELECT count(vasscm.receive(vasscm.build_message('06', jsonb_build_object('SO_TK', (300000000000 + d)::text, 'TRANG_THAI_TK', 'TAM_DUNG'))))
  FROM generate_series(0, ($N * 9 / 10) / 50 - 1, 37) AS d;
SELECT count(vasscm.receive(vasscm.build_message('03', jsonb_build_object('MA_HQ', '03CC', 'LOAI_HANG', 'NHAP',
           'LIST_HANG', (SELECT jsonb_agg(jsonb_build_object('SO_CONTAINER', container_no))
                           FROM (SELECT container_no FROM tos_yard ORDER BY container_no OFFSET s * 100 LIMIT 20) y)))))
  FROM generate_series(0, $N / 100 - 1) AS s;
-- gate-outs of a fifth of the eligible containers
SET vasscm.sender_code = 'CANGBENCH';
SELECT count(vasscm.enqueue('21', jsonb_build_object('MA_HQ', '03CC', 'MA_DIA_DIEM', '03CCC01', 'LOAI_HANG', 'NHAP',
           'SO_CONTAINER', y.container_no, 'TRANG_THAI', 'F', 'SO_NIEM_PHONG', 'SL' || y.tier,
           'LIST_TK', jsonb_build_array((300000000000 + (y.n - 1) / 50)::text), 'PHUONG_TIEN', 'XE',
           'SO_PHUONG_TIEN', '15C-000.00', 'CO_CHUNG_TU', 'Y', 'THOI_GIAN', '2026-11-26T08:00:00+07:00')))
  FROM (SELECT container_no, tier, row_number() OVER (ORDER BY container_no) AS n FROM tos_yard) y
 WHERE y.n % 5 = 0 AND y.n <= $N * 9 / 10;
ANALYZE;
SQL
log "report over $N containers"
psql_at "$PORT" -d vasscm_bench -q <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT state, count(*) FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true GROUP BY state ORDER BY state;
EXPLAIN (COSTS OFF) SELECT y.container_no, c.state FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true;
DO \$\$
DECLARE
    t0 timestamptz; best float8 := 1e9; s float8; n bigint;
BEGIN
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM (
            SELECT y.container_no, y.block, c.declaration_no, c.channel_name, c.state, c.scan_required, c.scan_done, c.set_by_form
              FROM tos_yard y LEFT JOIN LATERAL vasscm.clearance(y.container_no) c ON true) r;
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RAISE NOTICE 'report, LATERAL vasscm.clearance(): % rows in % ms (best of 3), % rows/s', n, round((best * 1000)::numeric, 1), round(n / best);
    best := 1e9;
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM (
            SELECT y.container_no, c.state FROM tos_yard y LEFT JOIN vasscm.clearance_state c ON c.container_no = y.container_no) r;
        best := least(best, extract(epoch FROM clock_timestamp() - t0));
    END LOOP;
    RAISE NOTICE 'report, JOIN vasscm.clearance_state: % rows in % ms (best of 3)', n, round((best * 1000)::numeric, 1);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM (SELECT (vasscm.gate_out_check(y.container_no, 'SL' || y.tier, NULL)).allowed FROM tos_yard y) g;
    s := extract(epoch FROM clock_timestamp() - t0);
    RAISE NOTICE 'gate_out_check: % checks in % ms, % µs each', n, round((s * 1000)::numeric, 1), round((s * 1e6 / n)::numeric, 1);
END
\$\$;
SQL
