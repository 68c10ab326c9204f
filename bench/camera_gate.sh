#!/usr/bin/env bash
# Benchmark: camera gate decisions (vasscm.record_camera_read) with a realistic yard.
#
# State, made the real way: YARD containers in the yard (gate-ins, form 14, in the outbox),
# their eligibility from customs (form 04 in 50-container messages through vasscm.receive, some
# declarations suspended), a gate-out appointment per container; camera_exit bound to form 21
# (a port without a gate system: every opened exit also queues its 21 in the same transaction).
# A plan of reads mixes clean exits (80 %), misreads the check digit fixes (10 %: category U
# read as V), plate mismatches (5 %), unreadable numbers (3 %) and entries on a booking (2 %).
#
# 1. fill: 10,000 reads through pgbench (one client, one read per transaction, as a camera
#    calls it): decisions per second;
# 2. with those 10,000 reads in the tables, 2,000 more: decisions per second, client-side
#    latency of each call (pgbench --log) and the decision time the database records on the read
#    (decision_ms), p50 / p99 (target p99 < 20 ms);
# 3. the same without the binding (a port whose TOS sends its gate-outs): what the 21 costs;
# 4. two clients at once (2,000 reads); and a bare one-row INSERT's commit, for scale.
# Prints figures; not a test. Usage: bench/camera_gate.sh [YARD]   (default 20000)
# CAMERA_SQL_DEV=1: loads extension/sql/camera.sql into the installed vasscm instead of
# building and installing the extension.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
YARD=${1:-20000}
FILL=10000 MEASURE=2000 PAIR=2000   # 16,000 reads in all (YARD must be at least that)
PORT=${BENCH_PORT:-55582}
DB=vasscm_bench
W="$RUN_DIR/bench-camera"
if [ "${CAMERA_SQL_DEV:-}" != 1 ]; then
    ensure_setup
    install_extension
fi
mkdir -p "$W"; chmod 777 "$W"
start_cluster bench_camera "$PORT" max_parallel_workers_per_gather=0
trap 'stop_cluster bench_camera' EXIT
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGBENCH'" -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng bench'" \
    -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'" 2>/dev/null
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION vasscm"
if [ "${CAMERA_SQL_DEV:-}" = 1 ]; then
    sed '/^DO \$dump\$/,/^\$dump\$;/d' "$ROOT/extension/sql/camera.sql" |
        psql_at "$PORT" -d "$DB" -q --single-transaction -c 'SET search_path = vasscm, pg_catalog' -f -
fi
TOTAL=$((FILL + 2 * MEASURE + PAIR))
log "making the yard: $YARD containers gated in, cleared, with appointments; a plan of $TOTAL reads"
psql_at "$PORT" -d "$DB" -q >/dev/null <<SQL
CREATE TABLE bench_box (n int PRIMARY KEY, container_no text NOT NULL, plate text NOT NULL, declaration_no text NOT NULL);
INSERT INTO bench_box
SELECT i, 'BNCU' || lpad(i::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(i::text, 6, '0')),
       '15C' || lpad(i::text, 5, '0'), (300000000000 + (i - 1) / 50)::text
  FROM generate_series(1, $YARD) AS i;
-- gate-ins (14), as a binding would have queued them (2,000 per transaction)
DO \$\$
BEGIN
    FOR k IN 0 .. ($YARD - 1) / 2000 LOOP
        PERFORM vasscm.enqueue('14', jsonb_build_object('MA_HQ', '03CC', 'MA_DIA_DIEM', '03CCC01', 'LOAI_HANG', 'NHAP',
                    'SO_CONTAINER', b.container_no, 'KICH_CO', CASE WHEN b.n % 3 = 0 THEN '45G1' ELSE '22G1' END, 'TRANG_THAI', 'F',
                    'SO_NIEM_PHONG', 'SL' || b.n, 'SO_VAN_DON', 'BL' || b.n, 'HINH_THUC', 'TAU',
                    'THOI_GIAN', to_char(now() - interval '3 days', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                    'VI_TRI', 'B' || (b.n % 40) || '-' || (b.n % 30) || '-' || (b.n % 6)))
           FROM bench_box b WHERE b.n > k * 2000 AND b.n <= (k + 1) * 2000;
        COMMIT;
    END LOOP;
END
\$\$;
-- eligibility (04) in 50-container messages; one declaration in 40 suspended (06)
SET vasscm.sender_code = 'TCHQ';
DO \$\$
DECLARE
    d text;
    i int := 0;
BEGIN
    FOR d IN SELECT DISTINCT declaration_no FROM bench_box ORDER BY 1 LOOP
        PERFORM vasscm.receive(vasscm.build_message('04', jsonb_build_object(
                    'SO_TK', d, 'NGAY_DK', '2026-11-25', 'MA_HQ', '03CC', 'LUONG', '1', 'LOAI_HANG', 'NHAP',
                    'LIST_CONTAINER', (SELECT jsonb_agg(jsonb_build_object('SO_CONTAINER', b.container_no, 'SO_NIEM_PHONG', 'SL' || b.n))
                                         FROM bench_box b WHERE b.declaration_no = d)),
                    '{"Sender_Code": "TCHQ", "Sender_Name": "TCHQ"}'));
        i := i + 1;
        IF i % 20 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
\$\$;
SELECT count(vasscm.receive(vasscm.build_message('06', jsonb_build_object('SO_TK', d.declaration_no, 'TRANG_THAI_TK', 'TAM_DUNG'),
           '{"Sender_Code": "TCHQ", "Sender_Name": "TCHQ"}')))
  FROM (SELECT DISTINCT declaration_no FROM bench_box WHERE (n - 1) / 50 % 40 = 39) d;
RESET vasscm.sender_code;
-- the TOS's appointments: a gate-out per container, a booking (entry) per export box
SELECT count(vasscm.set_gate_appointment('GP' || b.n, 'out', b.plate, b.container_no, now() - interval '1 hour', now() + interval '12 hours',
                                         NULL, NULL, 'SL' || b.n))
  FROM bench_box b;
SELECT count(vasscm.set_gate_appointment('BK' || i, 'in', '51D' || lpad(i::text, 5, '0'),
                                         'SEGU' || lpad(i::text, 6, '0') || vasscm.container_check_digit('SEGU' || lpad(i::text, 6, '0')),
                                         now() - interval '1 hour', now() + interval '12 hours'))
  FROM generate_series(1, $TOTAL / 50 + 1) AS i;
SELECT vasscm.register_camera('OUT' || l, 'A', 'L' || l, 'out') FROM generate_series(1, 4) AS l;
SELECT vasscm.register_camera('IN' || l, 'A', 'L' || (4 + l), 'in') FROM generate_series(1, 2) AS l;
SELECT vasscm.bind('vasscm.camera_exit', '21', \$m\${
    "MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "cargo_flow", "SO_CONTAINER": "container_no", "TRANG_THAI": "'F'",
    "SO_NIEM_PHONG": "carrier_seal", "LIST_TK/SO_TK": "declarations", "PHUONG_TIEN": "'XE'", "SO_PHUONG_TIEN": "plate",
    "CO_CHUNG_TU": "'Y'", "THOI_GIAN": "read_at"}\$m\$, '{INSERT}');
-- the plan: read k uses container k (each container leaves once)
CREATE TABLE bench_plan (k int PRIMARY KEY, camera text, containers jsonb, plate text);
INSERT INTO bench_plan
SELECT k,
       CASE WHEN k % 100 >= 98 THEN 'IN' || (1 + k % 2) ELSE 'OUT' || (1 + k % 4) END,
       CASE WHEN k % 100 < 80 THEN jsonb_build_array(jsonb_build_object('number', b.container_no, 'confidence', 0.97))
            WHEN k % 100 < 90 THEN jsonb_build_array(jsonb_build_object('number', overlay(b.container_no PLACING 'V' FROM 4 FOR 1), 'confidence', 0.61))
            WHEN k % 100 < 95 THEN jsonb_build_array(b.container_no)
            WHEN k % 100 < 98 THEN '["BNC?12"]'::jsonb
            ELSE jsonb_build_array('SEGU' || lpad((k / 50 + 1)::text, 6, '0') || vasscm.container_check_digit('SEGU' || lpad((k / 50 + 1)::text, 6, '0'))) END,
       CASE WHEN k % 100 >= 98 THEN '51D' || lpad((k / 50 + 1)::text, 5, '0')
            WHEN k % 100 BETWEEN 90 AND 94 THEN '29H' || lpad(k::text, 5, '0')
            ELSE b.plate END
  FROM generate_series(1, $TOTAL) AS k JOIN bench_box b ON b.n = k;
CREATE SEQUENCE bench_seq;
CREATE FUNCTION bench_next() RETURNS bench_plan LANGUAGE sql AS \$\$ SELECT * FROM bench_plan WHERE k = (SELECT nextval('bench_seq')) \$\$;
VACUUM ANALYZE;
SQL
cat > "$W/read.sql" <<'SQL'
SELECT r.decision FROM bench_next() p, LATERAL vasscm.record_camera_read(p.camera, clock_timestamp(), p.containers, p.plate, ARRAY['https://cam.example/' || p.k || '.jpg']) r;
SQL
PGB() { as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -f "$W/read.sql" "$@" "$DB"; }
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | head -1; }
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }

log "1. fill: $FILL reads, one client"
PGB -c 1 -t "$FILL" > "$W/fill.out" 2>&1
fill_tps=$(tps "$W/fill.out")
q "ANALYZE"
# measure NAME: $MEASURE reads, one client: decisions / s, client-side latency of each call (pgbench
# --log: client_id transaction_no time(us) …) and the database's decision time (decision_ms), p50 / p99 / max
measure() {
    rm -f "$W"/pgbench_log.*
    (cd "$W" && PGB -c 1 -t "$MEASURE" --log --log-prefix="$W/pgbench_log" > "$W/$1.out" 2>&1)
    local c s
    c=$(awk '{print $3}' "$W"/pgbench_log.* | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000, a[NR]/1000}')
    s=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY decision_ms)::numeric, 2) || ' ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY decision_ms)::numeric, 2)
              || ' ' || max(decision_ms) FROM (SELECT decision_ms FROM vasscm.camera_read ORDER BY id DESC LIMIT $MEASURE) x")
    echo "$(tps "$W/$1.out") $c $s"
}
log "2. with $(q "SELECT count(*) FROM vasscm.camera_read") reads in the tables: $MEASURE more, one client, camera exits bound to form 21"
read -r b_tps b_c50 b_c99 b_cmax b_s50 b_s99 b_smax <<<"$(measure bound)"
log "3. the same without the binding (a port whose TOS sends its gate-outs): $MEASURE reads"
q "SELECT vasscm.unbind(id) FROM vasscm.binding WHERE source = 'vasscm.camera_exit'::regclass AND active" >/dev/null
read -r u_tps u_c50 u_c99 u_cmax u_s50 u_s99 u_smax <<<"$(measure unbound)"
log "4. two clients at once, without the binding: $PAIR reads"
PGB -c 2 -j 2 -t $((PAIR / 2)) > "$W/pair.out" 2>&1
pair_tps=$(tps "$W/pair.out")
echo "INSERT INTO bench_commit VALUES (1);" > "$W/commit.sql"
q "CREATE TABLE bench_commit (x int)"
as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -f "$W/commit.sql" -t 1000 "$DB" > "$W/commit.out" 2>&1
commit_ms=$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$W/commit.out" | head -1)

echo
q "SELECT 'state made: ' || (SELECT count(*) FROM vasscm.inbox WHERE applied_at IS NOT NULL AND apply_error IS NULL) || ' customs messages applied ('
          || (SELECT count(*) FROM vasscm.inbox WHERE apply_error IS NOT NULL) || ' with an error), '
          || (SELECT count(*) FROM vasscm.declaration_container) || ' containers declared eligible of $YARD'"
echo "camera gate decisions, yard of $YARD containers ($(q "SELECT count(*) FROM vasscm._yard_containers") still in the yard at the end), $(nproc) cores"
q "SELECT 'decisions: ' || count(*) || ' reads, ' || count(*) FILTER (WHERE decision = 'open') || ' open, ' || count(*) FILTER (WHERE decision = 'hold')
          || ' hold (' || (SELECT string_agg(k || ' ' || n, ', ' ORDER BY n DESC) FROM (SELECT k, count(*) n FROM vasscm.camera_read, unnest(hold_kinds) k GROUP BY k) x)
          || '); ' || (SELECT count(*) FROM vasscm.outbox WHERE message_type = '21') || ' forms 21 queued by the binding' FROM vasscm.camera_read"
row() { printf '| %-62s | %20s | %20s |\n' "$@"; }
row "with $FILL reads in the tables, one read per transaction" "exits bound to 21" "not bound"
row "decisions / s, 1 client" "$b_tps" "$u_tps"
row "latency per read, client side (call + commit): p50 / p99" "$b_c50 / $b_c99 ms" "$u_c50 / $u_c99 ms"
row "decision in the database (decision_ms): p50 / p99" "$b_s50 / $b_s99 ms" "$u_s50 / $u_s99 ms"
row "worst read: client / database" "$b_cmax / $b_smax ms" "$u_cmax / $u_smax ms"
row "decisions / s, 2 clients" "" "$pair_tps"
row "decisions / s, 1 client, while filling (0 to $FILL reads, bound)" "$fill_tps" ""
row "a bare one-row INSERT and its commit on this machine" "" "$commit_ms ms"
for p in "$b_c99 bound" "$u_c99 unbound"; do
    set -- $p
    awk -v p="$1" -v n="$2" 'BEGIN { printf "p99 < 20 ms (%s): %s\n", n, (p < 20 ? "met" : "NOT met") }'
done
