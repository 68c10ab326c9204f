#!/usr/bin/env bash
# Benchmark: what capturing costs the TOS replica, next to the floor, in the same run.
#   1. capture: µs per inserted row on a narrow bound table and on a realistic wide one
#      (40 columns, 6 indexes): bare (no trigger), the floor (a PL/pgSQL row trigger inserting
#      to_jsonb(NEW) into a one-index table), vasscm's capture trigger (vasscm.interpret =
#      async: the change recorded, interpreted later), and capture + interpretation at commit
#      (the default) — best of 3 rounds, alternating.
#   2. interpretation: rows/s of vasscm.interpret() over a backlog, the wide table bound to
#      gate-ins (14) and gate-outs (21) as the shipped example is: gate-ins that each build and
#      queue a form 14, yard moves that send nothing, the replica re-synced (TRUNCATE + reload:
#      nothing), corrections rebuilt in place, withdrawals, gate-outs that each build and queue a
#      form 21, the TOS archiving those finished moves, and all of them in turn; next to the
#      gate-ins their floor: the same rows (message built and validated, outbox, history,
#      outbox_open, ledger, clearance) written by plain set-based SQL from the TOS table, then the
#      writes alone and the builder alone (pure Rust): the bound of any interpretation here.
#   3. TOS commit → acceptance by customs at 50 msg/s: bench/worker_throughput.sh's latency
#      part (worker, SoftHSM2, simulator), unless SKIP_LATENCY=1.
# SKIP_CAPTURE=1 leaves out part 1 (to measure interpretation alone).
# Usage: bench/capture_overhead.sh [ROWS] (default 50000). Prints figures; asserts nothing.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-50000}
PORT=${BENCH_PORT:-55461}
ensure_setup
install_extension
fresh_cluster bench_capture "$PORT" "max_wal_size=4GB"
trap 'stop_cluster bench_capture' EXIT
DB=bench
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGBENCH'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Bench'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'"
q() { psql_at "$PORT" -d $DB -Atq "$@"; }
q -c "CREATE EXTENSION vasscm"
q >/dev/null <<'SQL'
CREATE SCHEMA floor;
CREATE TABLE floor.sink (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data jsonb);
CREATE FUNCTION floor.capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO floor.sink (data) VALUES (to_jsonb(NEW));
    RETURN NULL;
END $$;
CREATE TABLE narrow (id bigint PRIMARY KEY, ctr text, at timestamptz);
CREATE TABLE wide (move_id bigint PRIMARY KEY, container_no text, iso_type text, line_seal text, customs_seal text, bl_no text,
    vessel_name text, vessel_imo text, voyage text, gate_in_at timestamptz, gate_out_at timestamptz, weight_kg numeric,
    yard_position text, flow text, full_empty text, out_vehicle text, out_by text, declarations text[], shipper text,
    consignee text, commodity text, temperature numeric, imdg text, oog boolean, reefer boolean, pod text, pol text,
    agent text, line_op text, booking_no text, release_no text, hold_code text, truck_company text, driver text,
    chassis text, remarks text, created_by text, updated_by text, created_at timestamptz, updated_at timestamptz);
CREATE INDEX ON wide (container_no); CREATE INDEX ON wide (bl_no); CREATE INDEX ON wide (gate_in_at);
CREATE INDEX ON wide (vessel_imo, voyage); CREATE INDEX ON wide (yard_position);
SELECT vasscm.bind('narrow', '14', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''", "LOAI_HANG": "''NHAP''", "SO_CONTAINER": "ctr",
  "TRANG_THAI": "''E''", "HINH_THUC": "''XE''", "THOI_GIAN": "at"}');
SELECT vasscm.bind('wide', '14', $m${
    "MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'",
    "LOAI_HANG": "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "TEN_TAU": "vessel_name", "MA_TAU": "vessel_imo", "SO_CHUYEN": "voyage", "SO_CONTAINER": "container_no",
    "KICH_CO": "iso_type", "TRANG_THAI": "full_empty", "SO_NIEM_PHONG": "line_seal", "SO_VAN_DON": "bl_no",
    "TRONG_LUONG_KG": "weight_kg", "VI_TRI": "yard_position", "HINH_THUC": "'TAU'", "THOI_GIAN": "gate_in_at"
}$m$, '{INSERT,UPDATE,DELETE}', 'gate_in_at IS NOT NULL');
-- and its gate-outs, as the shipped example binds them: every change of a row is mapped by both
SELECT vasscm.bind('wide', '21', $m${
    "MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "SO_CONTAINER": "container_no", "TRANG_THAI": "full_empty", "SO_NIEM_PHONG": "line_seal", "LIST_TK/SO_TK": "declarations",
    "PHUONG_TIEN": "'XE'", "SO_PHUONG_TIEN": "out_vehicle", "CO_CHUNG_TU": "'Y'", "THOI_GIAN": "gate_out_at"
}$m$, '{INSERT,UPDATE}', 'gate_out_at IS NOT NULL');
SQL
# distinct, valid container numbers, made once (not part of what is timed)
q -c "CREATE TABLE bench_src AS SELECT g::bigint AS g, 'BNCU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(g::text, 6, '0')) AS ctr
        FROM generate_series(1, $N) g" -c "CREATE INDEX ON bench_src (g)" -c "ANALYZE bench_src"
rows() {   # table first last → INSERT … SELECT of rows first..last
    if [ "$1" = narrow ]; then
        echo "INSERT INTO narrow SELECT g, ctr, now() FROM bench_src WHERE g BETWEEN $2 AND $3"
    else
        echo "INSERT INTO wide SELECT g, ctr, '45G1', 'ML' || g, NULL, 'BL' || g, 'MAERSK HAI PHONG', '9321483', '245N',
              now(), NULL, 18250.5, 'A01-' || (g % 500), 'IMPORT', 'F', NULL, NULL, NULL, 'SHIPPER ' || g, 'CONSIGNEE ' || g,
              'FURNITURE', NULL, NULL, false, false, 'VNHPH', 'CNSHA', 'AGENT', 'MSK', 'BK' || g, NULL, NULL, NULL, NULL, NULL,
              'bench', 'tos', 'tos', now(), now() FROM bench_src WHERE g BETWEEN $2 AND $3"
    fi
}
mode() {   # table none|floor|capture|commit
    q -c "SET vasscm.audit_maintenance = 'on'" -c "TRUNCATE $1, floor.sink, vasscm.captured_change, vasscm.capture_failure, vasscm.movement, vasscm.movement_position, vasscm.incident_gate_out, vasscm.outbox, vasscm.outbox_history"
    q -c "ALTER TABLE $1 DISABLE TRIGGER vasscm_capture" -c "DROP TRIGGER IF EXISTS floor_capture ON $1"
    case $2 in
        floor) q -c "CREATE TRIGGER floor_capture AFTER INSERT OR UPDATE OR DELETE ON $1 FOR EACH ROW EXECUTE FUNCTION floor.capture()" ;;
        capture|commit) q -c "ALTER TABLE $1 ENABLE ALWAYS TRIGGER vasscm_capture" ;;
    esac
    q -c "VACUUM ANALYZE $1" -c "CHECKPOINT"
}
timed() {   # interpret-setting SQL → µs per row
    local t0 t1
    t0=$(date +%s.%N)
    q -c "SET vasscm.interpret = '$1'" -c "$2"
    t1=$(date +%s.%N)
    echo "($t1 - $t0) * 1000000 / $N" | bc -l
}

declare -A best
[ "${SKIP_CAPTURE:-0}" = 1 ] || {
echo "== 1. capture cost per inserted row ($N rows in one transaction, best of 3)"
for round in 1 2 3; do
    for t in narrow wide; do
        for m in none floor capture commit; do
            mode "$t" "$m"
            setting=async; [ "$m" = commit ] && setting=at_commit
            us=$(timed "$setting" "$(rows "$t" 1 "$N")")
            key="$t/$m"
            if [ -z "${best[$key]:-}" ] || [ "$(echo "$us < ${best[$key]}" | bc -l)" = 1 ]; then best[$key]=$us; fi
        done
        [ "$(q -c "SELECT count(*) FROM vasscm.outbox WHERE message_type = '14'")" = "$N" ] \
            || { echo "capture + interpretation at commit did not make one message per row" >&2; exit 1; }
    done
    echo "  round $round done"
done
for t in narrow wide; do
    bare=${best[$t/none]}; fl=${best[$t/floor]}; cap=${best[$t/capture]}; com=${best[$t/commit]}
    printf '  %-6s bare %6.1f µs | floor %6.1f µs | vasscm capture %6.1f µs = %.2f× the floor (trigger cost %.2f× the floor'"'"'s) | capture + interpretation at commit %7.1f µs\n' \
        "$t" "$bare" "$fl" "$cap" "$(echo "$cap / $fl" | bc -l)" "$(echo "($cap - $bare) / ($fl - $bare)" | bc -l)" "$com"
done
}

echo "== 2. interpretation of a backlog (vasscm.interpret = async, then vasscm.interpret())"
interpret_rate() {   # label → rows/s of vasscm.interpret() over what is pending
    local n t0 t1
    n=$(q -c "SELECT count(*) FROM vasscm.captured_change")
    t0=$(date +%s.%N)
    q -c "SELECT vasscm.interpret()" >/dev/null
    t1=$(date +%s.%N)
    printf '  %-58s %7d changes in %6.2f s = %8.0f rows/s\n' "$1" "$n" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$n / ($t1 - $t0)" | bc -l)"
    last_s=$(echo "$t1 - $t0" | bc -l)
    day_n=$((day_n + n)); day_s=$(echo "$day_s + $last_s" | bc -l)
}
day_n=0; day_s=0
# The floor of a gate-in: the rows vasscm writes for each (its message built and validated by
# the same builder, the outbox row, its first history row, its outbox_open row, its ledger row,
# its clearance row) written by plain set-based SQL straight from the TOS table into copies of
# those tables with the same indexes (no foreign keys, no triggers, no captured change to decode,
# nothing to decide) — what no interpretation of the same gate-ins can beat on this machine.
# Then the same rows again with every message already built (not timed): the writes alone; and
# the builder in pure Rust (cargo bench -p vasscm-core): writes + the bare builder bound what
# any interpretation of these gate-ins, however written, could reach here.
floor_tables() {
    q >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS floor_in CASCADE;
CREATE SCHEMA floor_in;
CREATE TABLE floor_in.outbox (LIKE vasscm.outbox INCLUDING ALL);
CREATE TABLE floor_in.history (LIKE vasscm.outbox_history INCLUDING ALL);
CREATE TABLE floor_in.open (LIKE vasscm.outbox_open INCLUDING ALL);
CREATE TABLE floor_in.movement (LIKE vasscm.movement INCLUDING ALL);
CREATE TABLE floor_in.clearance (LIKE vasscm.clearance_now INCLUDING ALL);
SQL
}
floor_mapped="SELECT w.move_id, gen_random_uuid() AS tid,
                   jsonb_build_object('MA_HQ', '03CC', 'MA_DIA_DIEM', '03CCC01', 'LOAI_HANG', CASE w.flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END,
                       'TEN_TAU', w.vessel_name, 'MA_TAU', w.vessel_imo, 'SO_CHUYEN', w.voyage, 'SO_CONTAINER', w.container_no,
                       'KICH_CO', w.iso_type, 'TRANG_THAI', w.full_empty, 'SO_NIEM_PHONG', w.line_seal, 'SO_VAN_DON', w.bl_no,
                       'TRONG_LUONG_KG', w.weight_kg, 'VI_TRI', w.yard_position, 'HINH_THUC', 'TAU', 'THOI_GIAN', w.gate_in_at) AS mapped
              FROM wide w WHERE w.gate_in_at IS NOT NULL"
floor_built="SELECT x.*, vasscm._prepare('14', x.mapped, x.tid::text) AS prep FROM ($floor_mapped) x"
floor_writes() {   # the gate-ins' rows (p: move_id, tid, mapped, prep) → seconds
    local t0 t1
    q -c "CHECKPOINT" >/dev/null
    t0=$(date +%s.%N)
    q >/dev/null <<SQL
WITH p AS MATERIALIZED ($1),
o AS (INSERT INTO floor_in.outbox (transaction_id, message_type, status, data, source_data, message, errors, binding_id, source_table,
                                   source_key, order_key)
      SELECT p.tid, '14', 'queued', p.prep -> 'data', p.mapped, p.prep ->> 'message', p.prep -> 'errors', 1, 'wide',
             jsonb_build_object('move_id', p.move_id), p.prep -> 'data' ->> 'SO_CONTAINER' FROM p
      RETURNING id, transaction_id, data, source_data, source_key, created_at),
h AS (INSERT INTO floor_in.history (outbox_id, transaction_id, from_status, to_status, reason)
      SELECT o.id, o.transaction_id, NULL, 'queued', 'captured from wide (INSERT)' FROM o),
q AS (INSERT INTO floor_in.open SELECT o.id, 'queued', '14', o.created_at FROM o),
m AS (INSERT INTO floor_in.movement (kind, message_type, container_no, happened_at, facts, source_data, binding_id, source_table,
                                     source_key, outbox_id)
      SELECT 'gate_in', '14', o.data ->> 'SO_CONTAINER', (o.data ->> 'THOI_GIAN')::timestamptz, o.data, o.source_data, 1, 'wide',
             o.source_key, o.id FROM o)
INSERT INTO floor_in.clearance (cargo_kind, container_no, state, visit_in_at)
SELECT 'container', o.data ->> 'SO_CONTAINER', 'unknown', (o.data ->> 'THOI_GIAN')::timestamptz FROM o;
SQL
    t1=$(date +%s.%N)
    [ "$(q -c "SELECT count(*) FROM floor_in.outbox WHERE status = 'queued' AND message IS NOT NULL")" = "$n" ] \
        || { echo "the floor did not write one valid message per gate-in" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l
}
floor_gate_ins() {
    local n s w rust_us
    n=$(q -c "SELECT count(*) FROM wide WHERE gate_in_at IS NOT NULL")
    floor_tables
    s=$(floor_writes "$floor_built")
    printf '  %-58s %7d rows    in %6.2f s = %8.0f rows/s (vasscm: %.2f× the floor'"'"'s time)\n' \
        "floor: the same rows written by plain SQL from the TOS table" "$n" "$s" "$(echo "$n / $s" | bc -l)" \
        "$(echo "$gate_in_s / $s" | bc -l)"
    floor_tables
    q -c "CREATE TABLE floor_in.built AS $floor_built"
    w=$(floor_writes "SELECT * FROM floor_in.built")
    printf '  %-58s %7d rows    in %6.2f s = %8.0f rows/s (%.1f µs/row)\n' \
        "  of which the writes alone (messages built beforehand)" "$n" "$w" "$(echo "$n / $w" | bc -l)" "$(echo "$w * 1000000 / $n" | bc -l)"
    rust_us=$(cd "$ROOT" && cargo bench -q -p vasscm-core --bench core_throughput 2>/dev/null | sed -n 's/^prepare.*(\([0-9.]*\) µs each)/\1/p')
    if [ -n "$rust_us" ]; then
        printf '  %-58s %7.1f µs/row: no interpretation of these gate-ins can exceed %.0f rows/s here\n' \
            "  the builder alone, in pure Rust (no PostgreSQL)" "$rust_us" "$(echo "1000000 / ($w * 1000000 / $n + $rust_us)" | bc -l)"
    fi
    q -c "SET client_min_messages = warning" -c "DROP SCHEMA floor_in CASCADE" >/dev/null
}
mode wide capture
q -c "SET vasscm.interpret = 'async'" -c "$(rows wide 1 "$N")"
interpret_rate "gate-ins (wide table: each builds and queues a form 14)"
gate_in_s=$last_s
floor_gate_ins
q -c "SET vasscm.interpret = 'async'" -c "UPDATE wide SET yard_position = 'B02-' || (move_id % 500)"
interpret_rate "yard moves of those boxes (nothing to send)"
q -c "DROP TABLE IF EXISTS wide_resync" -c "CREATE TABLE wide_resync AS SELECT * FROM wide"
q -c "SET vasscm.interpret = 'async'" -c "TRUNCATE wide" -c "INSERT INTO wide SELECT * FROM wide_resync"
interpret_rate "the replica re-synced (TRUNCATE + reload: nothing to send)"
q -c "DROP TABLE wide_resync"
q -c "SET vasscm.interpret = 'async'" -c "UPDATE wide SET bl_no = bl_no || 'X' WHERE move_id % 10 = 0"
interpret_rate "B/L corrected on 10 % of them before sending (rebuilt in place)"
q -c "SET vasscm.interpret = 'async'" -c "DELETE FROM wide WHERE move_id % 10 = 1"
interpret_rate "mistaken gate-ins deleted, not sent yet (withdrawn)"
q -c "SET vasscm.interpret = 'async'" -c "UPDATE wide SET gate_out_at = now(), out_by = 'TRUCK', out_vehicle = '15C-' || lpad((move_id % 1000)::text, 3, '0') || '.00',
                                            declarations = ARRAY['30' || lpad(move_id::text, 10, '0')]"
interpret_rate "gate-outs of the others (each builds and queues a form 21)"
q -c "SET vasscm.interpret = 'async'" -c "DELETE FROM wide"
interpret_rate "the TOS archives those finished moves (nothing to send)"
printf '  %-58s %7d changes in %6.2f s = %8.0f rows/s\n' "all of the above, one container's day after another" "$day_n" "$day_s" \
    "$(echo "$day_n / $day_s" | bc -l)"

if [ "${SKIP_LATENCY:-0}" != 1 ]; then
    echo "== 3. TOS commit → accepted by customs at 50 messages/s (bench/worker_throughput.sh, latency part)"
    stop_cluster bench_capture; trap - EXIT
    ONLY_LATENCY=1 bash "$ROOT/bench/worker_throughput.sh"   # ends with the machine line
else
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
fi
