#!/usr/bin/env bash
# A terminal's day, as customs must hear it. The shipped generic schema and bindings, the real
# chain (TOS → logical replication → replica with vasscm → worker on SoftHSM2 → customs
# simulator), realistic TOS activity written the ways replication tools write it, and exactly
# which messages customs accepts, container by container:
#   - an import container through logical replication: discharge, three yard moves, an
#     inspection move, a seal change, a B/L correction, gate-out, the nightly archive job →
#     one 14, one 24, one 16 (the B/L), one 21; no 17;
#   - a container written by a CDC sink straight into the replica: upserts replayed, a yard
#     move written as DELETE + INSERT, a TRUNCATE + reload of unchanged rows → one 14;
#   - a row first seen already gated in and out (a compacted batch) → one 14 then one 21;
#   - a truck turned back after customs had its pass, then out again → 21, CANCEL_PASSED, 21;
#   - a gate-out typed wrong and corrected before it was sent → one 21, the corrected one;
#   - a bulk trip whose weighbridge ticket is corrected after customs had it → 22,
#     CANCEL_PASSED, 22 with the corrected weight;
#   - with vasscm.interpret = async: a gate decision interprets what is pending before it
#     answers; a CFS strip and a seal change reported a transaction after the row update →
#     14, 24, no 16; a gate-out whose 21 is invalid (no plate; then declined) still counts as gone;
#   - a binding that cannot map a row → kept with its reason, run again once fixed → one 14.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PUB=${DAY_PUB_PORT:-55541}
SUB=${DAY_SUB_PORT:-55542}
SIM_PORT=${DAY_SIM_PORT:-55543}
W="$RUN_DIR/terminal-day"
EX="$ROOT/sql/examples"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"

make_pki "$W"
fresh_cluster day_tos "$PUB"
fresh_cluster day_replica "$SUB"
trap 'stop_simulator "$W"; kill -CONT $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null; kill $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster day_replica; stop_cluster day_tos' EXIT
psql_at "$PUB" -qc "CREATE DATABASE tos"
psql_at "$PUB" -d tos -q -f "$EX/generic_tos_tables.sql"
psql_at "$PUB" -d tos -qc "CREATE TABLE day_marker (n int PRIMARY KEY)" \
    -c "CREATE PUBLICATION tos_pub FOR TABLE tos_container_move, tos_cargo_move, tos_seal_change, day_marker"
psql_at "$SUB" -qc "CREATE DATABASE replica" -c "ALTER DATABASE replica SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE replica SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE replica SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE replica SET vasscm.amendment_delay_seconds = 3" >/dev/null
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_tables.sql"
psql_at "$SUB" -d replica -qc "CREATE TABLE day_marker (n int PRIMARY KEY)" -c "CREATE EXTENSION vasscm"
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_bindings.sql" >/dev/null
psql_at "$SUB" -d replica -qc "CREATE SUBSCRIPTION tos_sub CONNECTION 'host=127.0.0.1 port=$PUB dbname=tos user=postgres' PUBLICATION tos_pub"
wait_until "$SUB" replica "SELECT count(*) = 4 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel"
start_simulator "$W" "$SIM_PORT"
worker_config "$W/worker.toml" "$SUB" replica "$SIM_PORT"
"$ROOT/target/release/vasscm-worker" run --config "$W/worker.toml" >> "$W/worker.log" 2>&1 &
echo $! > "$W/worker.pid"; disown

tos() { psql_at "$PUB" -d tos -qc "$1" >/dev/null; }        # the TOS, replicated
sink() { psql_at "$SUB" -d replica -qc "$1" >/dev/null; }   # a CDC sink writing the replica
q() { psql_at "$SUB" -d replica -Atc "$1"; }
t() { check "$1" "$SUB" replica "$2"; }
# settled: replication caught up (a marker row written last on the TOS has arrived) and
# customs answered everything that was sent.
MARK=0
settled() {
    MARK=$((MARK + 1))
    psql_at "$PUB" -d tos -qc "INSERT INTO day_marker VALUES ($MARK)" >/dev/null
    wait_until "$SUB" replica "SELECT EXISTS (SELECT 1 FROM day_marker WHERE n = $MARK)" 30
    wait_until "$SUB" replica "SELECT count(*) = 0 FROM vasscm.outbox WHERE status IN ('queued', 'sending')" 60
}
# heard CONTAINER-OR-B/L: what customs accepted for it, in order (forms, comma-separated).
heard() { q "SELECT string_agg(message_type, ',' ORDER BY id) FROM vasscm.outbox WHERE order_key = '$1' AND status = 'accepted'"; }
MOVE="INSERT INTO tos_container_move (move_id, container_no, iso_type, line_seal, bl_no, declaration_no, vessel_name, vessel_imo, voyage, gate_in_at, weight_kg, yard_position)"

echo "an import container's day, through logical replication"
tos "$MOVE VALUES (1, 'MSKU1234565', '45G1', 'ML1', 'BL1', '308044805740', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:15+00', 18250.5, 'A01-01-1')"
settled
for pos in A02-03-1 B07-01-2 INSPECTION; do tos "UPDATE tos_container_move SET yard_position = '$pos' WHERE move_id = 1"; done
tos "BEGIN; INSERT INTO tos_seal_change VALUES (1, 'MSKU1234565', 'LINE', 'ML1', 'ML9', 'Kiểm tra thực tế', '2026-11-26 02:00+00');
     UPDATE tos_container_move SET line_seal = 'ML9', yard_position = 'B07-01-2' WHERE move_id = 1; COMMIT"
settled
tos "UPDATE tos_container_move SET bl_no = 'BL1X' WHERE move_id = 1"
settled
tos "UPDATE tos_container_move SET gate_out_at = '2026-11-27 01:40+00', out_by = 'TRUCK', out_vehicle = '15C-123.45',
       declarations = '{308044805740}', yard_position = NULL WHERE move_id = 1"
settled
tos "DELETE FROM tos_container_move WHERE gate_out_at IS NOT NULL"   # the nightly archive job
settled
t "customs heard one 14, one 24, one 16 (the B/L), one 21 — in that order ($(heard MSKU1234565))" \
  "SELECT '$(heard MSKU1234565)' = '14,24,16,21'"
t "the 16 corrects the B/L and keeps the seal the box arrived with" \
  "SELECT data ->> 'SO_VAN_DON' = 'BL1X' AND data ->> 'SO_NIEM_PHONG' = 'ML1' FROM vasscm.outbox WHERE message_type = '16' AND order_key = 'MSKU1234565' AND status = 'accepted'"
t "no cancellation was even queued for it" "SELECT count(*) = 0 FROM vasscm.outbox WHERE order_key = 'MSKU1234565' AND message_type = '17'"
t "the archived container is not missing for discrepancies" \
  "SELECT count(*) = 0 FROM vasscm.discrepancies(NULL) d WHERE d::text LIKE '%MSKU1234565%'"

echo "a CDC sink writing the replica: upserts replayed, DELETE + INSERT, TRUNCATE + reload"
sink "$MOVE VALUES (2, 'TGHU7654320', '22G1', 'ML2', 'BL2', NULL, 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:16+00', 9000, 'C01-01-1')"
settled
UPSERT="$MOVE VALUES (2, 'TGHU7654320', '22G1', 'ML2', 'BL2', NULL, 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:16+00', 9000, 'C01-01-1')
        ON CONFLICT (move_id) DO UPDATE SET container_no = EXCLUDED.container_no, yard_position = EXCLUDED.yard_position"
sink "$UPSERT"; sink "$UPSERT"
sink "BEGIN; DELETE FROM tos_container_move WHERE move_id = 2;
      $MOVE VALUES (2, 'TGHU7654320', '22G1', 'ML2', 'BL2', NULL, 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:16+00', 9000, 'C09-02-1'); COMMIT"
sink "BEGIN; CREATE TEMP TABLE keep AS SELECT * FROM tos_container_move; TRUNCATE tos_container_move;
      INSERT INTO tos_container_move SELECT * FROM keep; COMMIT"
settled
t "customs heard one 14 ($(heard TGHU7654320))" "SELECT '$(heard TGHU7654320)' = '14'"
t "nothing else stands for it (the DELETE's cancellation was taken back by its INSERT, unsent)" \
  "SELECT count(*) FILTER (WHERE status <> 'cancelled') = 1 AND count(*) FILTER (WHERE message_type = '17' AND status <> 'cancelled') = 0
     FROM vasscm.outbox WHERE order_key = 'TGHU7654320'"

echo "a row first seen already gated in and out (a compacted batch)"
sink "INSERT INTO tos_container_move (move_id, container_no, full_empty, line_seal, bl_no, gate_in_at, gate_out_at, out_by, out_vehicle, declarations)
      VALUES (3, 'CSQU3054383', 'F', 'ML3', 'BL3', '2026-11-26 00:17+00', '2026-11-26 09:00+00', 'TRUCK', '15C-555.55', '{308044805741}')"
settled
t "customs heard its 14 then its 21 ($(heard CSQU3054383))" "SELECT '$(heard CSQU3054383)' = '14,21'"

echo "a truck turned back after customs had its pass; a gate-out typed wrong and fixed before it was sent"
tos "$MOVE VALUES (4, 'MAEU1234567', '45G1', 'ML4', 'BL4', '308044805742', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:18+00', 12000, 'D01-01-1')"
settled
tos "UPDATE tos_container_move SET gate_out_at = '2026-11-27 03:00+00', out_by = 'TRUCK', out_vehicle = '15C-111.11', declarations = '{308044805742}' WHERE move_id = 4"
settled
tos "UPDATE tos_container_move SET gate_out_at = NULL, out_vehicle = NULL WHERE move_id = 4"   # turned back at the gate
settled
# out again on another truck, typed wrong, corrected within the same second (before the worker took it)
tos "BEGIN; UPDATE tos_container_move SET gate_out_at = '2026-11-27 05:00+00', out_vehicle = '15C-222.2' WHERE move_id = 4;
     UPDATE tos_container_move SET out_vehicle = '15C-222.22' WHERE move_id = 4; COMMIT"
settled
t "customs heard 14, 21, CANCEL_PASSED, 21 ($(heard MAEU1234567))" "SELECT '$(heard MAEU1234567)' = '14,21,CANCEL_PASSED,21'"
t "the last 21 has the corrected truck" \
  "SELECT data ->> 'SO_PHUONG_TIEN' = '15C-222.22' FROM vasscm.outbox WHERE order_key = 'MAEU1234567' AND message_type = '21' AND status = 'accepted' ORDER BY id DESC LIMIT 1"
t "the container counts as gone once, on its last pass" \
  "SELECT count(*) = 1 FROM vasscm.gate_outs WHERE container_no = 'MAEU1234567'"

echo "a bulk trip whose weighbridge ticket is corrected after customs had it"
tos "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at)
     VALUES (10, 'BULK', 'IN', 'HPBL0009', '308044805743', NULL, NULL, 5000, 'VESSEL', NULL, '2026-11-26 01:00+00'),
            (11, 'BULK', 'OUT', 'HPBL0009', '308044805743', NULL, NULL, 30.1234, 'TRUCK', '15C-333.33', '2026-11-27 06:00+00')"
settled
tos "UPDATE tos_cargo_move SET weight_tonnes = 31.25 WHERE move_id = 11"
settled
t "customs heard 15, 22, CANCEL_PASSED, 22 ($(heard HPBL0009))" "SELECT '$(heard HPBL0009)' = '15,22,CANCEL_PASSED,22'"
t "the first 22 carried the weight rounded to what the form allows" \
  "SELECT (data ->> 'TRONG_LUONG')::numeric = 30.123 FROM vasscm.outbox WHERE order_key = 'HPBL0009' AND message_type = '22' ORDER BY id LIMIT 1"
t "the trip counts once, with the corrected weight" \
  "SELECT count(*) = 1 AND sum(weight_kg) = 31250 FROM vasscm.gate_outs WHERE bl_no = 'HPBL0009'"

echo "the replica interpreting later (vasscm.interpret = async): a strip, a seal change a transaction later, a gate decision that is never behind"
C5=$(q "SELECT 'TCLU100002' || vasscm.container_check_digit('TCLU100002')")
async() { psql_at "$SUB" -d replica -qc "SET vasscm.interpret = 'async'" -c "$1" >/dev/null; }
# The worker paused (it interprets what is pending before each claim, every 200 ms): what is
# pending, and the gate decision catching up, are seen as they are, not raced.
kill -STOP "$(cat "$W/worker.pid")"
async "$MOVE VALUES (5, '$C5', '45G1', 'ML5', 'BL5', '308044805744', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:19+00', 15000, 'E01-01-1')"
t "captured, not interpreted yet: nothing queued, the change is pending" \
  "SELECT NOT EXISTS (SELECT 1 FROM vasscm.outbox WHERE order_key = '$C5') AND EXISTS (SELECT 1 FROM vasscm.captured_change)"
t "a gate decision interprets what is pending before it answers (the box is in the yard, not cleared)" \
  "SELECT NOT allowed FROM vasscm.gate_out_check('$C5', 'ML5', NULL)"
t "… and its gate-in is in the ledger and the outbox" \
  "SELECT EXISTS (SELECT 1 FROM vasscm.movement WHERE container_no = '$C5' AND kind = 'gate_in' AND seal = 'ML5')
      AND EXISTS (SELECT 1 FROM vasscm.outbox WHERE order_key = '$C5' AND message_type = '14')"
kill -CONT "$(cat "$W/worker.pid")"
settled
async "UPDATE tos_container_move SET full_empty = 'E', yard_position = 'CFS-01' WHERE move_id = 5"   # stripped at the CFS
async "UPDATE tos_container_move SET line_seal = 'ML5B' WHERE move_id = 5"                        # the seal cut for the strip …
async "INSERT INTO tos_seal_change VALUES (5, '$C5', 'LINE', 'ML5', 'ML5B', 'Rút hàng tại CFS', '2026-11-26 04:00+00')"   # … reported a transaction later
q "SELECT vasscm.interpret()" >/dev/null
t "the pending changes are interpreted (by the worker's next claim, or vasscm.interpret())" \
  "SELECT NOT EXISTS (SELECT 1 FROM vasscm.captured_change)"
settled
t "customs heard 14 then 24 — no 16 for the strip nor for the seal ($(heard "$C5"))" "SELECT '$(heard "$C5")' = '14,24'"
t "the ledger keeps the gate-in as the box arrived and records the seal change" \
  "SELECT (SELECT seal = 'ML5' AND facts ->> 'TRANG_THAI' = 'F' FROM vasscm.movement WHERE container_no = '$C5' AND kind = 'gate_in')
      AND (SELECT count(*) = 1 FROM vasscm.movement WHERE container_no = '$C5' AND kind = 'seal_change' AND seal = 'ML5B')"
async "UPDATE tos_container_move SET gate_out_at = '2026-11-27 08:00+00', out_by = 'TRUCK', out_vehicle = NULL WHERE move_id = 5"
t "the box left but the TOS did not type the truck: its 21 is invalid (plate missing), yet the gate says it is gone" \
  "SELECT NOT allowed FROM vasscm.gate_out_check('$C5', 'ML5B', NULL)"
t "… gone in the ledger, whatever its message's status" \
  "SELECT count(*) = 1 FROM vasscm.gate_outs WHERE container_no = '$C5'"
q "SELECT vasscm.reject(id, 'sent on paper') FROM vasscm.outbox WHERE order_key = '$C5' AND message_type = '21' AND status = 'invalid'" >/dev/null
t "… and still gone once the operator declined to send the 21" \
  "SELECT count(*) = 1 FROM vasscm.gate_outs WHERE container_no = '$C5' AND status = 'cancelled'"

echo "a binding that cannot map a row: kept with its reason, interpreted again once the binding is fixed"
sink "CREATE TABLE tos_gate_event (id int PRIMARY KEY, ctr text NOT NULL, at_text text)"
BID=$(q "SELECT vasscm.bind('tos_gate_event', '14', '{\"MA_HQ\": \"''03CC''\", \"MA_DIA_DIEM\": \"''03CCC01''\", \"LOAI_HANG\": \"''NHAP''\",
         \"SO_CONTAINER\": \"ctr\", \"TRANG_THAI\": \"''E''\", \"HINH_THUC\": \"''XE''\", \"THOI_GIAN\": \"at_text::timestamptz\"}', '{INSERT}')")
C6=$(q "SELECT 'TCLU100003' || vasscm.container_check_digit('TCLU100003')")
sink "INSERT INTO tos_gate_event VALUES (1, '$C6', '26/11/2026 07:00')"
t "the TOS row went in; the change is kept in vasscm.capture_failure with the reason, and an invalid message says why" \
  "SELECT EXISTS (SELECT 1 FROM tos_gate_event) AND
          (SELECT count(*) = 1 AND bool_and(error LIKE '%could not map the INSERT row%') FROM vasscm.capture_failure WHERE binding_id = $BID)
      AND EXISTS (SELECT 1 FROM vasscm.outbox WHERE binding_id = $BID AND status = 'invalid' AND last_error LIKE '%could not map%')"
q "SELECT vasscm.unbind($BID)" >/dev/null
q "SELECT vasscm.bind('tos_gate_event', '14', '{\"MA_HQ\": \"''03CC''\", \"MA_DIA_DIEM\": \"''03CCC01''\", \"LOAI_HANG\": \"''NHAP''\",
     \"SO_CONTAINER\": \"ctr\", \"TRANG_THAI\": \"''E''\", \"HINH_THUC\": \"''XE''\", \"THOI_GIAN\": \"to_timestamp(at_text, ''DD/MM/YYYY HH24:MI'')\"}', '{INSERT}')" >/dev/null
t "vasscm.reinterpret_failures() runs it again through the fixed binding" "SELECT vasscm.reinterpret_failures() = 1"
settled
t "customs heard its 14 once; the invalid one was cancelled ($(heard "$C6"))" \
  "SELECT '$(heard "$C6")' = '14' AND NOT EXISTS (SELECT 1 FROM vasscm.capture_failure)
      AND (SELECT status = 'cancelled' FROM vasscm.outbox WHERE binding_id = $BID)"

echo "customs' side"
read -r sim_accepted sim_redeliveries < <(curl -s "http://127.0.0.1:$SIM_PORT/stats" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["accepted"], d["redeliveries"])')
accepted=$(q "SELECT count(*) FROM vasscm.outbox WHERE status = 'accepted'")
t "the simulator accepted exactly what vasscm recorded as accepted ($sim_accepted / $accepted), each once ($sim_redeliveries re-deliveries)" \
  "SELECT $sim_accepted = $accepted AND $sim_redeliveries = 0"
t "nothing was rejected, dead or invalid (the two invalid ones were declined or interpreted again)" \
  "SELECT count(*) = 0 FROM vasscm.outbox WHERE status IN ('rejected', 'dead', 'invalid')"
if [ "$FAILED" != 0 ]; then
    q "SELECT id, message_type, status, order_key, left(coalesce(last_error, ''), 200) FROM vasscm.outbox ORDER BY id" >&2
fi
finish terminal_day
