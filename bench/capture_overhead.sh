#!/usr/bin/env bash
# Benchmark: rows/s a logical-replication replica applies for a stream of TOS container
# gate-ins, with the vasscm bindings off and on, in the same run (alternating, best of 3).
# Usage: bench/capture_overhead.sh [ROWS]  (default 20000). Prints figures; asserts nothing.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-20000}
PUB=${BENCH_PUB_PORT:-55461}
SUB=${BENCH_SUB_PORT:-55462}
EX="$ROOT/sql/examples"
ensure_setup
install_extension
fresh_cluster bench_pub "$PUB"
fresh_cluster bench_sub "$SUB" "max_wal_size=4GB"
trap 'stop_cluster bench_sub; stop_cluster bench_pub' EXIT
psql_at "$PUB" -qc "CREATE DATABASE tos"
psql_at "$PUB" -d tos -q -f "$EX/generic_tos_tables.sql"
psql_at "$PUB" -d tos -qc "CREATE PUBLICATION tos_pub FOR TABLE tos_container_move"
psql_at "$SUB" -qc "CREATE DATABASE replica" -c "ALTER DATABASE replica SET vasscm.sender_code = 'CANGBENCH'" \
    -c "ALTER DATABASE replica SET vasscm.sender_name = 'Bench'" -c "ALTER DATABASE replica SET vasscm.receiver_code = '03CC'"
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_tables.sql"
psql_at "$SUB" -d replica -qc "CREATE EXTENSION vasscm"
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_bindings.sql" >/dev/null
psql_at "$SUB" -d replica -qc "CREATE SUBSCRIPTION tos_sub CONNECTION 'host=127.0.0.1 port=$PUB dbname=tos user=postgres' PUBLICATION tos_pub" 2>/dev/null
until [ "$(psql_at "$SUB" -d replica -Atc "SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel")" = t ]; do sleep 0.2; done

triggers() {   # on | off
    local action; if [ "$1" = on ]; then action="ENABLE ALWAYS"; else action="DISABLE"; fi
    psql_at "$SUB" -d replica -Atc "SELECT format('ALTER TABLE tos_container_move %s TRIGGER %I;', '$action', tgname)
                                      FROM pg_trigger WHERE tgrelid = 'tos_container_move'::regclass AND tgname LIKE 'vasscm_binding_%'" |
        psql_at "$SUB" -d replica -q
}

run() {   # mode → rows/s
    triggers "$1"
    psql_at "$PUB" -d tos -qc "TRUNCATE tos_container_move"
    psql_at "$SUB" -d replica -qc "SET vasscm.audit_maintenance = 'on'" -c "TRUNCATE vasscm.outbox, vasscm.outbox_history, vasscm.incident_gate_out"
    until [ "$(psql_at "$SUB" -d replica -Atc "SELECT count(*) FROM tos_container_move")" = 0 ]; do sleep 0.1; done
    psql_at "$SUB" -d replica -qc "CHECKPOINT"
    local t0 t1
    t0=$(date +%s.%N)
    psql_at "$PUB" -d tos -qc "INSERT INTO tos_container_move (move_id, container_no, iso_type, line_seal, bl_no, vessel_name,
                                      vessel_imo, voyage, gate_in_at, weight_kg, yard_position)
                               SELECT g, 'MSKU1234565', '45G1', 'ML' || g, 'BL' || g, 'MAERSK HAI PHONG', '9321483', '245N',
                                      now(), 18250.5, 'A01-' || g FROM generate_series(1, $N) g"
    until [ "$(psql_at "$SUB" -d replica -Atc "SELECT count(*) FROM tos_container_move")" = "$N" ]; do sleep 0.05; done
    t1=$(date +%s.%N)
    if [ "$1" = on ]; then
        [ "$(psql_at "$SUB" -d replica -Atc "SELECT count(*) FROM vasscm.outbox WHERE status = 'queued'")" = "$N" ] \
            || { echo "bindings on but not every row captured" >&2; exit 1; }
    fi
    echo "$N / ($t1 - $t0)" | bc -l
}

best_off=0; best_on=0
for round in 1 2 3; do
    off=$(run off); on=$(run on)
    printf 'round %s: bindings off %8.0f rows/s, on %8.0f rows/s\n' "$round" "$off" "$on"
    best_off=$(echo "if ($off > $best_off) $off else $best_off" | bc -l)
    best_on=$(echo "if ($on > $best_on) $on else $best_on" | bc -l)
done
printf 'best of 3 (%s rows, one TOS transaction, end to end: TOS insert → replica committed):\n' "$N"
printf '  bindings off: %8.0f rows/s\n  bindings on:  %8.0f rows/s (each row → one checked, built, queued form-14 message)\n' "$best_off" "$best_on"
printf '  overhead: %.0f %%\n' "$(echo "(1 - $best_on / $best_off) * 100" | bc -l)"
