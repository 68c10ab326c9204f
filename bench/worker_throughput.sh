#!/usr/bin/env bash
# Benchmark: end-to-end messages/s of the worker (claim → sign on SoftHSM2 → send → customs
# simulator → reply recorded), compared in the same run with the token's bare C_Sign rate
# (same number of sessions) and `openssl speed rsa2048`; then latency from TOS commit to
# recorded acceptance at a steady 50 messages/s; then a backlog of 25,000 messages (an outage of
# 11 hours at a large terminal) queued while the worker is stopped, drained by one worker.
# Usage: bench/worker_throughput.sh [N]. ONLY_LATENCY=1: the latency part alone
# (bench/capture_overhead.sh runs it so). BACKLOG=n: the backlog's size (0: no backlog part).
# CONCURRENCY=n: the worker's messages in flight (default 32). BENCH_SETUP_SQL: SQL run in the
# bench database after CREATE EXTENSION (to measure a proposed change, e.g. an index dropped).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-3000}
BACKLOG=${BACKLOG:-25000}
PORT=${BENCH_PORT:-55490}
SIM=${BENCH_SIM_PORT:-55491}
D="$RUN_DIR/bench-worker"
ensure_setup
install_extension
build_binaries
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
make_pki "$D"
fresh_cluster bench_worker "$PORT"
SIM_PORT_CODE=CANGBENCH start_simulator "$D" "$SIM"
trap 'stop_simulator "$D"; kill $(cat "$D/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster bench_worker' EXIT
DB=bench
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGBENCH'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Bench'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'"
psql_at "$PORT" -d $DB -qc "CREATE EXTENSION vasscm"
[ -z "${BENCH_SETUP_SQL:-}" ] || psql_at "$PORT" -d $DB -qc "$BENCH_SETUP_SQL"
# 32 messages in flight: with a token signing in ≈ 1 ms and customs answering in ≈ 3 ms, that
# keeps both token sessions busy while the others' log and reply writes are batched
SESSIONS=2; CONC=${CONCURRENCY:-32}
worker_config "$D/worker.toml" "$PORT" "$DB" "$SIM"
sed -i "s/^concurrency = 4/concurrency = $CONC/; s/^sessions = 2/sessions = $SESSIONS/; s/^lease_seconds = 3/lease_seconds = 60/" "$D/worker.toml"
q() { psql_at "$PORT" -d $DB -Atc "$1"; }

if [ "${ONLY_LATENCY:-0}" != 1 ]; then
echo "== ceilings"
openssl_rate=$(openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
echo "openssl speed rsa2048 (one core): $openssl_rate signatures/s"
"$ROOT/target/release/vasscm-worker" bench-sign --config "$D/worker.toml" | tee "$D/bare.txt"
bare=$(awk '{print $3}' "$D/bare.txt")

echo "== throughput: $N form-14 gate-ins, distinct containers, worker concurrency $CONC, $SESSIONS token sessions"
q "SELECT vasscm.enqueue('14', jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '14'),
     '{SO_CONTAINER}', to_jsonb('BNCU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(g::text, 6, '0')))))
   FROM generate_series(1, $N) g" >/dev/null
"$ROOT/target/release/vasscm-worker" run --config "$D/worker.toml" >> "$D/worker.log" 2>&1 &
echo $! > "$D/worker.pid"
until [ "$(q "SELECT count(*) FROM vasscm.outbox WHERE status = 'accepted'")" -gt 0 ]; do sleep 0.05; done
t0=$(date +%s.%N)
until [ "$(q "SELECT count(*) FROM vasscm.outbox_open")" = 0 ]; do sleep 0.1; done
t1=$(date +%s.%N)
[ "$(q "SELECT count(*) FROM vasscm.outbox WHERE status = 'accepted'")" = "$N" ] || { echo "not all $N accepted" >&2; exit 1; }
rate=$(echo "($N - 1) / ($t1 - $t0)" | bc -l)
printf 'worker end to end: %.0f messages/s = %.0f %% of the bare token rate (%s/s)\n' "$rate" "$(echo "100 * $rate / $bare" | bc -l)" "$bare"
else
    "$ROOT/target/release/vasscm-worker" run --config "$D/worker.toml" >> "$D/worker.log" 2>&1 &
    echo $! > "$D/worker.pid"
fi

echo "== latency: a bound TOS table, one committed insert every 20 ms (50/s) for 20 s"
psql_at "$PORT" -d $DB -q <<'SQL'
CREATE TABLE gate (id int PRIMARY KEY, ctr text, at timestamptz DEFAULT now());
SELECT vasscm.bind('gate', '14', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''", "LOAI_HANG": "''NHAP''", "SO_CONTAINER": "ctr",
  "TRANG_THAI": "''E''", "HINH_THUC": "''XE''", "THOI_GIAN": "at"}');
SQL
python3 - "$PORT" "$DB" <<'PY'
import subprocess, sys, time
port, db = sys.argv[1], sys.argv[2]
p = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", db],
                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
def digit(s):
    v = {c: x for c, x in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [10,12,13,14,15,16,17,18,19,20,21,23,24,25,26,27,28,29,30,31,32,34,35,36,37,38])}
    return sum((v[c] if c.isalpha() else int(c)) << i for i, c in enumerate(s)) % 11 % 10
start = time.time()
for i in range(1000):
    n = "LATU%06d" % i
    p.stdin.write("INSERT INTO gate (id, ctr) VALUES (%d, '%s%d');\n" % (i, n, digit(n)))
    p.stdin.flush()
    target = start + (i + 1) * 0.02
    time.sleep(max(0, target - time.time()))
p.stdin.close(); p.wait()
PY
until [ "$(q "SELECT count(*) FROM vasscm.outbox WHERE source_table = 'public.gate' AND status = 'accepted'")" = 1000 ]; do sleep 0.2; done
q "SELECT format('TOS commit → accepted recorded, 1000 messages at 50/s: p50 %s ms, p99 %s ms, max %s ms',
          round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
          round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1))
     FROM (SELECT extract(epoch FROM h.at - o.created_at) * 1000 AS ms
             FROM vasscm.outbox o JOIN vasscm.outbox_history h ON h.outbox_id = o.id AND h.to_status = 'accepted'
            WHERE o.source_table = 'public.gate') s"
if [ "${ONLY_LATENCY:-0}" != 1 ] && [ "$BACKLOG" -gt 0 ]; then
    echo "== backlog: $BACKLOG form-14 gate-ins queued while the worker is stopped, then drained by one worker"
    kill -TERM "$(cat "$D/worker.pid")"
    while kill -0 "$(cat "$D/worker.pid")" 2>/dev/null; do sleep 0.05; done
    for from in $(seq 1 1000 "$BACKLOG"); do   # as an outage's backlog builds up: many transactions
        q "SELECT vasscm.enqueue('14', jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '14'),
             '{SO_CONTAINER}', to_jsonb('BKLU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('BKLU' || lpad(g::text, 6, '0')))))
           FROM generate_series($from, least($from + 999, $BACKLOG)) g" >/dev/null
    done
    q "CHECKPOINT" >/dev/null
    t0=$(date +%s.%N)
    "$ROOT/target/release/vasscm-worker" run --config "$D/worker.toml" >> "$D/worker.log" 2>&1 &
    echo $! > "$D/worker.pid"
    until [ "$(q "SELECT count(*) FROM vasscm.outbox_open")" = 0 ]; do sleep 0.2; done
    t1=$(date +%s.%N)
    [ "$(q "SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'BKLU%' AND status = 'accepted'")" = "$BACKLOG" ] \
        || { echo "not all $BACKLOG accepted" >&2; exit 1; }
    printf 'backlog of %s drained in %.1f s (%.0f messages/s, worker start included; target < 60 s)\n' "$BACKLOG" \
        "$(echo "$t1 - $t0" | bc -l)" "$(echo "$BACKLOG / ($t1 - $t0)" | bc -l)"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
