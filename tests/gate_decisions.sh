#!/usr/bin/env bash
# Gate decisions against a real server, where one session is not enough (issue 12; the cases
# themselves, with every reason text, are the golden tier: tests/gate_regress.sh):
#   - the maintained clearance under concurrency: customs' messages applied while the TOS gates
#     the same boxes in and out in other sessions end where a recomputation does;
#   - with vasscm.interpret = async, a returning box whose new gate-in is not interpreted yet:
#     the gate interprets first, and answers for the new visit;
#   - an invalid 21 for a box that left 40 minutes ago raises the deadline alert: a listener on
#     vasscm_deadline is notified;
#   - a whole rebuild (vasscm.reapply_inbox) gives the same state.
# Own cluster on GATE_DB_PORT (55572); KEEP=1 leaves it running to look at.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${GATE_DB_PORT:-55572}
DB=vasscm_gate
EX="$ROOT/sql/examples"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
fresh_cluster gate_db "$PORT"
trap '[ -n "${KEEP:-}" ] || stop_cluster gate_db' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
create_vasscm "$PORT" "$DB"
psql_at "$PORT" -d "$DB" -q -f "$EX/generic_tos_tables.sql"
psql_at "$PORT" -d "$DB" -q -f "$EX/generic_tos_bindings.sql" >/dev/null

q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
t() { check "$1" "$PORT" "$DB" "$2"; }
# customs FORM AT DATA: a customs message as the worker hands it to vasscm.receive
customs() {
    q "SELECT vasscm.receive(vasscm.build_message('$1', \$d\$$3\$d\$, '{\"Transaction_Date\": \"$2\", \"Sender_Code\": \"TCHQ\", \"Sender_Name\": \"TCHQ\"}'))" >/dev/null
}
C=()
for n in $(seq 200001 200040); do C+=("$(q "SELECT 'TCLU$n' || vasscm.container_check_digit('TCLU$n')")"); done

echo "the maintained clearance under concurrency"
# 40 boxes: customs sends their 04s (one per box) while the TOS gates them in, and out again
# for half of them, in two other sessions at the same time.
{
    for i in $(seq 0 39); do
        echo "SELECT vasscm.receive(vasscm.build_message('04', '{\"SO_TK\": \"$((308100000000 + i))\", \"NGAY_DK\": \"2026-11-25\", \"MA_HQ\": \"03CC\", \"LUONG\": \"1\", \"LOAI_HANG\": \"NHAP\", \"LIST_CONTAINER\": [{\"SO_CONTAINER\": \"${C[$i]}\", \"SO_NIEM_PHONG\": \"ML$i\"}]}', '{\"Sender_Code\": \"TCHQ\", \"Sender_Name\": \"TCHQ\"}'));"
    done
} > "$RUN_DIR/gate-customs.sql"
{
    for i in $(seq 0 39); do
        echo "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES ($((1000 + i)), '${C[$i]}', 'ML$i', 'BL$i', '$((308100000000 + i))', now() - interval '1 day');"
    done
} > "$RUN_DIR/gate-in.sql"
{
    for i in $(seq 0 2 39); do
        echo "UPDATE tos_container_move SET gate_out_at = now(), out_by = 'TRUCK', out_vehicle = '15C-$i', declarations = ARRAY[declaration_no] WHERE move_id = $((1000 + i));"
    done
} > "$RUN_DIR/gate-out.sql"
psql_at "$PORT" -d "$DB" -q -f "$RUN_DIR/gate-customs.sql" >/dev/null & p1=$!
psql_at "$PORT" -d "$DB" -q -f "$RUN_DIR/gate-in.sql" >/dev/null & p2=$!
wait $p2
psql_at "$PORT" -d "$DB" -q -f "$RUN_DIR/gate-out.sql" >/dev/null & p3=$!
wait $p1 $p3
t "every box: one row per declaration, eligible or passed as the ledger says (20 passed, 20 eligible)" \
  "SELECT count(*) FILTER (WHERE state = 'passed') = 20 AND count(*) FILTER (WHERE state = 'eligible') = 20 AND count(*) = 40
     FROM vasscm.clearance_state WHERE container_no LIKE 'TCLU2%'"
t "the maintained state equals a recomputation" "SELECT count(*) = 0 FROM vasscm._clearance_drift()"
t "the gate agrees: a box that left is refused as gone, one in the yard allowed" \
  "SELECT (SELECT NOT allowed AND reasons[1] LIKE '%already left under declaration 308100000000%' FROM vasscm.gate_out_check('${C[0]}', 'ML0', NULL))
      AND (SELECT allowed FROM vasscm.gate_out_check('${C[1]}', 'ML1', NULL))"

echo "a returning box, its new gate-in not interpreted yet (vasscm.interpret = async)"
async() { psql_at "$PORT" -d "$DB" -qc "SET vasscm.interpret = 'async'" -c "$1" >/dev/null; }
sleep 1.1   # times are to the second: the box comes back a second after it left, at the earliest
async "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES (2000, '${C[0]}', 'ML0B', 'BL0B', '308100000099', now())"
customs 04 "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" "{\"SO_TK\": \"308100000099\", \"NGAY_DK\": \"2026-11-25\", \"MA_HQ\": \"03CC\", \"LUONG\": \"1\", \"LOAI_HANG\": \"NHAP\",
  \"LIST_CONTAINER\": [{\"SO_CONTAINER\": \"${C[0]}\", \"SO_NIEM_PHONG\": \"ML0B\"}]}"
t "captured, not interpreted: the box is still out in the ledger" \
  "SELECT EXISTS (SELECT 1 FROM vasscm.captured_change) AND (SELECT state FROM vasscm.clearance_state WHERE container_no = '${C[0]}' AND declaration_no = '308100000000') = 'passed'"
t "the gate interprets first, and answers for the new visit: allowed on the new declaration" \
  "SELECT allowed AND reasons = '{}' FROM vasscm.gate_out_check('${C[0]}', 'ml 0b', NULL)"
t "… the old declaration belongs to the earlier visit" \
  "SELECT state = 'passed' AND left_at IS NOT NULL FROM vasscm.clearance('${C[0]}') WHERE declaration_no = '308100000000'"

echo "deadlines: an invalid 21 for a box that left 40 minutes ago raises the alert"
rm -f "$RUN_DIR/gate-listen.out"
( printf 'LISTEN vasscm_deadline;\nSELECT pg_sleep(6);\n' | psql_at "$PORT" -d "$DB" > "$RUN_DIR/gate-listen.out" 2>&1 ) & listener=$!
sleep 1
q "UPDATE tos_container_move SET gate_out_at = now() - interval '40 minutes', out_by = 'TRUCK', out_vehicle = NULL WHERE move_id = 1001" >/dev/null
t "the 21 is invalid (no truck plate), yet the box left: overdue in vasscm.deadlines" \
  "SELECT state = 'overdue' AND detail LIKE '%status invalid%SO_PHUONG_TIEN%' FROM vasscm.deadlines WHERE kind = 'gate_out' AND reference = '${C[1]}'"
t "the alert job finds it" "SELECT vasscm.refresh_deadline_alerts() >= 1"
t "… and records it in vasscm.deadline_alert" "SELECT state = 'overdue' FROM vasscm.deadline_alert WHERE reference = '${C[1]}'"
wait $listener || true
t "a listener on vasscm_deadline was notified" "SELECT $(grep -c 'notification "vasscm_deadline"' "$RUN_DIR/gate-listen.out") >= 1"

echo "a whole rebuild"
digest="SELECT md5(string_agg((to_jsonb(x) - 'updated_at')::text, ',' ORDER BY (to_jsonb(x) - 'updated_at')::text)) FROM vasscm.clearance_now x"
before=$(q "$digest")
q "SELECT vasscm.reapply_inbox()" >/dev/null
t "vasscm.reapply_inbox() rebuilds the same maintained state (but the times customs' data was applied)" \
  "SELECT ($digest) = '$before'"
t "… equal to a recomputation" "SELECT count(*) = 0 FROM vasscm._clearance_drift()"
finish gate_decisions
