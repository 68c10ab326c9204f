#!/usr/bin/env bash
# Incident mode (article 52đ) end to end, through the real chain (TOS rows → bindings → outbox →
# worker signing on SoftHSM2 → customs simulator): customs goes down (the simulator is
# stopped: connections refused), vasscm.watch_incidents() opens an incident from what the
# worker recorded, the 1-hour notification deadline is raised, goes overdue and is cleared, a
# paper list (form 36) lets trucks out that have no electronic clearance while one not on it
# is refused, the gate-outs wait in the outbox, customs comes back, the incident closes, every
# held message is delivered in order and each gate-out is tied to its list; the incident log
# (form 35) has the facts; then a manual incident, roles and the pg_cron job.
#
# Time is compressed by settings, not by shifting timestamps: the 5-minute detection threshold
# (incident_open_after_seconds) is 6 s and the 1-hour notification limit
# (incident_notify_seconds) is briefly 1 s to see it overdue; the outage (11 h in the field)
# lasts about 30 s here, long enough for hundreds of failed attempts and every gate activity of
# an outage. The watcher is called by hand (it is the job pg_cron runs every minute).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${INCIDENT_DB_PORT:-55535}
SIM_PORT=${INCIDENT_SIM_PORT:-55536}
BIN="$ROOT/target/release"
W="$RUN_DIR/incident-test"
DB=vasscm_incident
EX="$ROOT/sql/examples"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"

make_pki "$W"
fresh_cluster incident_db "$PORT" shared_preload_libraries=pg_cron cron.database_name=$DB
trap 'stop_simulator "$W"; kill $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster incident_db' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION pg_cron"
create_vasscm "$PORT" "$DB"
psql_at "$PORT" -d "$DB" -q -f "$EX/generic_tos_tables.sql"
psql_at "$PORT" -d "$DB" -q -f "$EX/generic_tos_bindings.sql" >/dev/null
start_simulator "$W" "$SIM_PORT"
worker_config "$W/worker.toml" "$PORT" "$DB" "$SIM_PORT" "[inbound]
mode = \"poll\"
poll_url = \"http://127.0.0.1:$SIM_PORT/outbound\"
poll_interval_ms = 200"
"$BIN/vasscm-worker" run --config "$W/worker.toml" >> "$W/worker.log" 2>&1 &
echo $! > "$W/worker.pid"
disown

q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
t() { check "$1" "$PORT" "$DB" "$2"; }
refused() {   # DESCRIPTION SQL EXPECTED-TEXT
    local out; out=$(psql_at "$PORT" -d "$DB" -Atc "$2" 2>&1 || true)
    if grep -qF -- "$3" <<<"$out"; then PASSED=$((PASSED + 1)); echo "  ok   $1"
    else FAILED=$((FAILED + 1)); echo "  FAIL $1 (got: $out)" >&2; fi
}
customs() {   # KIND DATA-JSON: customs sends a signed message; waits until vasscm applied it
    local before; before=$(q "SELECT count(*) FROM vasscm.inbox")
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"message_type\": \"$1\", \"data\": $2}" \
        "http://127.0.0.1:$SIM_PORT/script" >/dev/null
    wait_until "$PORT" "$DB" "SELECT count(*) > $before FROM vasscm.inbox WHERE applied_at IS NOT NULL" 30
}
settled() { wait_until "$PORT" "$DB" "SELECT count(*) = 0 FROM vasscm.outbox WHERE status IN ('queued', 'sending')" "${1:-60}"; }
# container moves: id, container, declaration
move() { q "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, vessel_name, vessel_imo, voyage, gate_in_at, weight_kg)
            VALUES ($1, '$2', 'ML$1', 'HPBL$1', '$3', 'MAERSK HAI PHONG', '9321483', '245N', now(), 18000)" >/dev/null; }
gate_out() { q "UPDATE tos_container_move SET gate_out_at = now(), out_by = 'TRUCK', out_vehicle = '15C-$1', declarations = ARRAY[declaration_no] WHERE move_id = $1" >/dev/null; }

# A (electronic 04 before the outage), B (paper, container line), C (paper, declaration line),
# D (on no list), E and F (gated in during the outage, out against the paper list), G (on the
# list, never gated out: after the incident only customs' electronic data counts).
A=MSKU1234565 B=TGHU7654320 C=CSQU3054383 D=HLXU8765430 E=CAXU1234563 F=MSCU6639870 G=TCLU1234568
for c in $A $B $C $D $E $F $G; do
    [ "$(q "SELECT vasscm.is_valid_container_no('$c')")" = t ] || { echo "bad test container $c" >&2; exit 1; }
done

echo "before the outage: customs answers, no incident"
customs 04 "{\"SO_TK\": \"308044805740\", \"NGAY_DK\": \"2026-12-25\", \"MA_HQ\": \"03CC\", \"LUONG\": \"1\", \"LOAI_HANG\": \"NHAP\",
  \"LIST_CONTAINER\": [{\"SO_CONTAINER\": \"$A\", \"SO_NIEM_PHONG\": \"ML1\"}]}"
move 1 $A 308044805740; move 2 $B 308044805741; move 3 $C 308044805742; move 4 $D 308044805743
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, vessel_name, vessel_imo, voyage, weight_tonnes, means, vehicle, moved_at)
   VALUES (1, 'BULK', 'IN', 'HPBL0009', '101234567890', 'VINACOMIN 01', '3WAB7', 'V12', 120, 'VESSEL', 'VINACOMIN 01', now())" >/dev/null
settled
t "gate-ins accepted" "SELECT count(*) = 5 AND bool_and(status = 'accepted') FROM vasscm.outbox"
q "SELECT vasscm.set_setting('incident_open_after_seconds', '6')" >/dev/null
refused "incident settings are whole seconds" "SELECT vasscm.set_setting('incident_open_after_seconds', '0')" "must be a whole number of seconds, at least 1"
sleep 6.2
t "customs answering: watch_incidents opens nothing" "SELECT vasscm.watch_incidents() = 'none' AND NOT EXISTS (SELECT 1 FROM vasscm.incident)"
t "no paper list anywhere: B refused as today" \
  "SELECT NOT allowed AND reasons = ARRAY['Container $B chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container $B']
     FROM vasscm.gate_out_check('$B', 'ML2', NULL)"

echo "customs goes down (connections refused)"
stop_simulator "$W"
outage_start=$(q "SELECT now()")
gate_out 1     # A leaves on its electronic clearance; its 21 cannot be sent
move 5 $E 308044805744
move 6 $F 308044805744
wait_until "$PORT" "$DB" "SELECT count(*) >= 3 FROM vasscm.message_log WHERE kind = 'send_error' AND at > '$outage_start'" 30 || true
t "the worker records the failures (send_error) and the messages wait" \
  "SELECT count(*) >= 3 FROM vasscm.message_log WHERE kind = 'send_error' AND at > '$outage_start'
      AND (SELECT count(*) FROM vasscm.outbox WHERE status IN ('queued', 'sending') AND last_error IS NOT NULL) >= 1"
t "not yet: failing for less than incident_open_after_seconds" "SELECT vasscm.watch_incidents() = 'none'"
wait_until "$PORT" "$DB" "SELECT min(created_at) < now() - interval '6.5 s' FROM vasscm.outbox WHERE status IN ('queued', 'sending')" 20 || true
t "incident opened automatically, from the failures, with the worker's error as cause" \
  "SELECT vasscm.watch_incidents() LIKE 'opened %'"
INC=$(q "SELECT id FROM vasscm.incident WHERE closed_at IS NULL")
t "the incident: automatic, began at the first failure, cause names the error" \
  "SELECT detection = 'automatic' AND began_at >= date_trunc('second', '$outage_start'::timestamptz) AND began_at < opened_at AND cause LIKE '%customs unreachable or failing since%'
      AND cause ~* 'connect|refused|error' AND opened_by = 'vasscm' FROM vasscm.incident WHERE id = $INC"
t "watching again keeps the same incident open" "SELECT vasscm.watch_incidents() = 'open $INC' AND (SELECT count(*) FROM vasscm.incident) = 1"
refused "a second incident cannot be opened while one is open" "SELECT vasscm.open_incident('test')" "incident $INC is already open"

echo "notify customs within 1 hour: deadline raised, overdue, cleared"
t "deadlines: 'notify customs within 1 h' pending, due 1 h after the start" \
  "SELECT state = 'pending' AND message_type = '35' AND due_at = event_at + interval '1 hour' AND detail LIKE '%within 60 minutes%not notified'
     FROM vasscm.deadlines WHERE kind = 'incident_notice'"
new_alerts=$(q "SELECT vasscm.refresh_deadline_alerts()")
t "the deadline job records it and notifies (deadline_alert, $new_alerts new)" \
  "SELECT $new_alerts >= 1 AND EXISTS (SELECT 1 FROM vasscm.deadline_alert WHERE kind = 'incident_notice' AND state = 'pending')"
q "SELECT vasscm.set_setting('incident_notify_seconds', '1')" >/dev/null
t "past the limit: overdue" "SELECT state = 'overdue' FROM vasscm.deadlines WHERE kind = 'incident_notice'"
q "SELECT vasscm.set_setting('incident_notify_seconds', '3600')" >/dev/null
refused "the notification needs how, when and the officer" \
  "SELECT vasscm.record_incident_notification($INC, 'điện thoại', now(), NULL)" "say how and when customs was notified, and which officer"
q "SELECT vasscm.record_incident_notification($INC, 'điện thoại tới Chi cục HQ cửa khẩu cảng', now(), 'Lê Thị Thu')" >/dev/null
t "notified in time: the deadline is cleared" "SELECT NOT EXISTS (SELECT 1 FROM vasscm.deadlines WHERE kind = 'incident_notice')"
t "who notified whom, when, how: on the incident and in its event log" \
  "SELECT i.notified_officer = 'Lê Thị Thu' AND i.notified_by = 'postgres'
      AND EXISTS (SELECT 1 FROM vasscm.incident_event e WHERE e.incident_id = i.id AND e.event = 'notified' AND e.detail LIKE '%Lê Thị Thu%')
     FROM vasscm.incident i WHERE i.id = $INC"

echo "paper list (form 36): released against it, the rest refused as before"
refused "a paper list with a bad line is refused whole, every problem named" \
  "SELECT vasscm.record_paper_list($INC, 'Nguyễn Văn Hải', 'DS-36/01', '[{\"container_no\": \"$B\"}, {\"container_no\": \"TGHU7654321\"}, {\"declaration_no\": \"12\"}, {\"seal\": \"x\"}]')" \
  "paper list DS-36/01 has 4 problem(s)"
q "SELECT vasscm.record_paper_list($INC, 'Nguyễn Văn Hải', 'DS-36/01', '[
     {\"container_no\": \"$B\"}, {\"declaration_no\": \"308044805742\"}, {\"container_no\": \"$E\", \"declaration_no\": \"308044805744\"},
     {\"container_no\": \"$F\"}, {\"container_no\": \"$G\"},
     {\"declaration_no\": \"101234567890\", \"bl_no\": \"HPBL0009\", \"weight_kg\": 50000}]', now() - interval '1 minute')" >/dev/null
refused "the same reference twice is refused" \
  "SELECT vasscm.record_paper_list($INC, 'Nguyễn Văn Hải', 'DS-36/01', '[{\"container_no\": \"$B\"}]')" "already recorded"
t "B allowed without form 04, the reason naming the list, the officer and the incident" \
  "SELECT allowed AND cardinality(reasons) = 1 AND reasons[1] LIKE 'Cho qua theo danh sách giấy DS-36/01 do công chức hải quan Nguyễn Văn Hải xác nhận lúc %, sự cố số $INC (mẫu 36, Điều 52đ) / released against paper list DS-36/01 confirmed by customs officer Nguyễn Văn Hải at %, incident $INC (form 36, article 52đ)'
     FROM vasscm.gate_out_check('$B', 'ML2', NULL)"
PGOPTIONS='-c role=vasscm_reader' t "the gate clerk (vasscm_reader) gets the same decisions, container and bulk" \
  "SELECT (SELECT allowed FROM vasscm.gate_out_check('$B', 'ML2', NULL)) AND (SELECT allowed FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0009', NULL, 1000, NULL))"
t "C allowed when its declaration (a whole-declaration line) is given" \
  "SELECT allowed AND reasons[1] LIKE '%paper list DS-36/01%' FROM vasscm.gate_out_check('$C', 'ML3', NULL, '{308044805742}')"
t "C refused when the declaration is not given (the line names only the declaration)" \
  "SELECT NOT allowed AND reasons[1] LIKE '%no eligibility message (form 04) covers container $C' FROM vasscm.gate_out_check('$C', 'ML3', NULL)"
t "D, on no list: refused exactly as without an incident" \
  "SELECT NOT allowed AND reasons = ARRAY['Container $D chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container $D']
     FROM vasscm.gate_out_check('$D', 'ML4', NULL)"
q "SELECT vasscm.record_scan('$F', now() - interval '3 days')" >/dev/null
q "INSERT INTO vasscm.scan_selection (transaction_id, container_no, selected_at) VALUES (gen_random_uuid(), '$F', now() - interval '1 hour')" >/dev/null
t "nothing else is loosened: F on the list but selected for scanning (03) and not scanned is refused" \
  "SELECT NOT allowed AND reasons = ARRAY['Container $F phải soi chiếu (mẫu 03) nhưng chưa soi / container $F was selected for scanning (form 03) and has not been scanned']
     FROM vasscm.gate_out_check('$F', 'ML6', NULL)"
q "SELECT vasscm.record_scan('$F')" >/dev/null
t "A keeps its electronic clearance: already left (no paper reason)" \
  "SELECT NOT allowed AND reasons[1] LIKE '%already left under declaration 308044805740%' FROM vasscm.gate_out_check('$A', 'ML1', NULL)"
t "bulk on the list: 30 t allowed against 50 t on paper" \
  "SELECT allowed AND reasons[1] LIKE '%paper list DS-36/01%' FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0009', NULL, 30000, NULL)"
gate_out 2; gate_out 3; gate_out 5; gate_out 6
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, weight_tonnes, means, vehicle, moved_at)
   VALUES (2, 'BULK', 'OUT', 'HPBL0009', '101234567890', 30, 'TRUCK', '15C-90001', now())" >/dev/null
t "the second bulk trip above what the list allows is refused" \
  "SELECT NOT allowed AND reasons = ARRAY['Trọng lượng vượt danh sách giấy DS-36/01: đã ra 30000 kg + lần này 30000 kg > cho phép 50000 kg / heavier than paper list DS-36/01 allows: 30000 kg out + 30000 kg now > 50000 kg']
     FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0009', NULL, 30000, NULL)"
t "B cannot leave twice on the same list" \
  "SELECT NOT allowed AND reasons[1] LIKE '%already left%' FROM vasscm.gate_out_check('$B', 'ML2', NULL)"
t "the gate-outs of the incident, marked, each tied to the list line that covered it" \
  "SELECT count(*) = 6
      AND string_agg(coalesce(container_no, bl_no) || ':' || coalesce(paper_list_reference || '#' || paper_list_item, 'electronic'), ',' ORDER BY outbox_id)
          = '$A:electronic,$B:DS-36/01#1,$C:DS-36/01#2,$E:DS-36/01#3,$F:DS-36/01#4,HPBL0009:DS-36/01#6'
     FROM vasscm.incident_gate_outs WHERE incident_id = $INC"
t "they all wait in the outbox (customs is down)" \
  "SELECT bool_and(status IN ('queued', 'sending')) FROM vasscm.incident_gate_outs WHERE incident_id = $INC"
sleep 15   # the rest of the outage: the worker keeps retrying
t "still open; the worker failed many times meanwhile" \
  "SELECT vasscm.watch_incidents() = 'open $INC' AND (SELECT count(*) FROM vasscm.message_log WHERE kind = 'send_error' AND at > '$outage_start') >= 20"

echo "customs is back: backlog delivered in order, incident closed"
start_simulator "$W" "$SIM_PORT"
wait_until "$PORT" "$DB" "SELECT count(*) > 0 FROM vasscm.message_log WHERE kind = 'reply' AND at > (SELECT opened_at FROM vasscm.incident WHERE id = $INC)" 60 || true
sleep 0.5
t "the first replies after the outage close the incident automatically" "SELECT vasscm.watch_incidents() = 'closed $INC'"
settled 90 || true
t "every held message accepted" "SELECT count(*) = 0 FROM vasscm.outbox WHERE status <> 'accepted'"
stats=$(curl -s "http://127.0.0.1:$SIM_PORT/stats")
t "in order: per container / B/L, customs accepted the messages in queue order (gate-in before gate-out)" \
  "WITH acc AS (SELECT value::uuid AS tid, ordinality AS pos FROM jsonb_array_elements_text(\$j\$$stats\$j\$::jsonb -> 'accepted_order') WITH ORDINALITY),
        m AS (SELECT o.id, o.order_key, o.message_type, acc.pos FROM vasscm.outbox o JOIN acc ON acc.tid = o.transaction_id)
   SELECT count(*) >= 8 AND bool_and(ok) FROM (SELECT pos > lag(pos) OVER (PARTITION BY order_key ORDER BY id) IS NOT FALSE AS ok FROM m) x"
t "E and F: gate-in (14) and gate-out (21) of the outage both delivered, 14 first" \
  "WITH acc AS (SELECT value::uuid AS tid, ordinality AS pos FROM jsonb_array_elements_text(\$j\$$stats\$j\$::jsonb -> 'accepted_order') WITH ORDINALITY)
   SELECT count(*) = 2 AND bool_and(p14 < p21) FROM (
     SELECT o.data ->> 'SO_CONTAINER' AS c, min(acc.pos) FILTER (WHERE o.message_type = '14') AS p14, min(acc.pos) FILTER (WHERE o.message_type = '21') AS p21
       FROM vasscm.outbox o JOIN acc ON acc.tid = o.transaction_id WHERE o.data ->> 'SO_CONTAINER' IN ('$E', '$F') GROUP BY 1) x"
t "each gate-out of the incident accepted by customs and still tied to its list" \
  "SELECT count(*) = 6 AND bool_and(accepted_at IS NOT NULL AND status = 'accepted') AND count(paper_list_id) = 5
      AND (SELECT count(*) FROM vasscm.incident_gate_out WHERE incident_id = $INC) = 5
     FROM vasscm.incident_gate_outs WHERE incident_id = $INC"
t "closed with its summary: messages held, sent, rejected; gate-outs" \
  "SELECT closed_by LIKE 'vasscm%' AND close_reason LIKE '%customs answers again%'
      AND (summary ->> 'held')::int = 8 AND (summary ->> 'rejected')::int = 0 AND (summary ->> 'gate_outs')::int = 6
      AND (summary ->> 'gate_outs_on_paper')::int = 5
      AND (SELECT held = (summary ->> 'held')::int AND sent = held AND rejected = 0 AND waiting = 0 FROM vasscm.incident_summary($INC))
     FROM vasscm.incident WHERE id = $INC"
t "after the incident the paper lists stop applying: G (on the list) is refused" \
  "SELECT NOT allowed AND reasons[1] LIKE '%no eligibility message (form 04) covers container $G' FROM vasscm.gate_out_check('$G', NULL, NULL)"
customs 04 "{\"SO_TK\": \"308044805749\", \"NGAY_DK\": \"2026-12-25\", \"MA_HQ\": \"03CC\", \"LUONG\": \"1\", \"LOAI_HANG\": \"NHAP\",
  \"LIST_CONTAINER\": [{\"SO_CONTAINER\": \"$G\", \"SO_NIEM_PHONG\": \"ML7\"}]}"
t "... and customs' electronic data decides again (G allowed, no paper reason)" \
  "SELECT allowed AND reasons = '{}' FROM vasscm.gate_out_check('$G', 'ML7', NULL)"
t "not reopened: the failures before the close do not count again" "SELECT vasscm.watch_incidents() = 'none'"
t "the deadline stays cleared (notified in time)" "SELECT NOT EXISTS (SELECT 1 FROM vasscm.deadlines WHERE kind = 'incident_notice')"

echo "the incident log (form 35)"
q "SELECT vasscm.incident_log($INC)" > "$W/incident_log.txt"
log_has() {   # DESCRIPTION TEXT...
    local what=$1 missing=(); shift
    for s in "$@"; do grep -qF -- "$s" "$W/incident_log.txt" || missing+=("$s"); done
    if [ ${#missing[@]} = 0 ]; then PASSED=$((PASSED + 1)); echo "  ok   $what"
    else FAILED=$((FAILED + 1)); echo "  FAIL $what (missing: ${missing[*]})" >&2; fi
}
log_has "heading, port, incident, state" "SỔ THEO DÕI SỰ CỐ HỆ THỐNG TRAO ĐỔI DỮ LIỆU VỚI CƠ QUAN HẢI QUAN" "mẫu số 35" \
    "Cảng thử nghiệm (mã CANGTEST)" "Sự cố số: $INC" "ĐÃ KHẮC PHỤC" "phát hiện tự động"
log_has "cause and times" "Nguyên nhân, hiện tượng: Không trao đổi được dữ liệu với hải quan từ" "Thời điểm khắc phục:" "Thời gian gián đoạn: 0 giờ"
log_has "the notification, in time" "Đã thông báo lúc" "công chức hải quan tiếp nhận: Lê Thị Thu" "(đúng hạn)"
log_has "the paper list and its lines" "Danh sách số DS-36/01, công chức hải quan Nguyễn Văn Hải" "6 dòng" "- container $B" \
    "- tờ khai 101234567890; vận đơn HPBL0009; trọng lượng 50000 kg"
log_has "every gate-out, its list and customs' acceptance" "6 lượt, 5 theo danh sách giấy, 6 đã được hải quan chấp nhận" \
    "Mẫu 21 container $B, ra lúc" "theo danh sách giấy DS-36/01 dòng 1" "Mẫu 21 container $A" "theo dữ liệu điện tử" "hải quan chấp nhận lúc" \
    "Mẫu 22 vận đơn HPBL0009"
held=$(q "SELECT summary ->> 'held' FROM vasscm.incident WHERE id = $INC")
log_has "messages held and sent" "Thông điệp lưu giữ trong thời gian sự cố: $held; đã gửi: $held (hải quan chấp nhận $held, từ chối 0); đang chờ: 0"
log_has "the events" "Tự động mở sự cố" "Danh sách giấy DS-36/01 (mẫu 36)" "Đóng sự cố: hải quan phản hồi trở lại"

echo "an incident opened and closed by an operator"
INC2=$(q "SELECT vasscm.open_incident('Hải quan báo hệ thống VASSCM bảo trì / customs announced maintenance', now() - interval '10 minutes', auto_close => false)")
t "opened by the operator, not closed by customs' replies when auto_close is off" \
  "SELECT vasscm.watch_incidents() = 'open $INC2' AND (SELECT detection = 'operator' AND opened_by = 'postgres' FROM vasscm.incident WHERE id = $INC2)"
refused "closing needs a reason" "SELECT vasscm.close_incident($INC2, ' ')" "give the reason for closing incident $INC2"
q "SELECT vasscm.close_incident($INC2, 'Hải quan thông báo đã xong bảo trì')" >/dev/null
refused "closed once" "SELECT vasscm.close_incident($INC2, 'again')" "incident $INC2 was already closed"
t "closed before its 1-hour limit without notification: not listed in deadlines" \
  "SELECT NOT EXISTS (SELECT 1 FROM vasscm.deadlines WHERE kind = 'incident_notice')"
refused "an unknown incident: a clear error" "SELECT vasscm.incident_log(999)" "there is no incident 999"

echo "roles and the job"
PGOPTIONS='-c role=vasscm_reader' t "reader: reads incidents and the log" \
  "SELECT count(*) = 2 AND bool_and(vasscm.incident_log(id) LIKE 'CỘNG HÒA%') FROM vasscm.incident"
refused "reader: may not record a paper list" \
  "SET ROLE vasscm_reader; SELECT vasscm.record_paper_list($INC, 'x', 'y', '[{\"container_no\": \"$B\"}]')" "permission denied for function record_paper_list"
refused "operator: may not run the watcher (an admin job)" "SET ROLE vasscm_operator; SELECT vasscm.watch_incidents()" "permission denied for function watch_incidents"
INC3=$(PGOPTIONS='-c role=vasscm_operator' q "SELECT vasscm.open_incident('exercise')")
PGOPTIONS='-c role=vasscm_operator' q "SELECT vasscm.close_incident($INC3, 'exercise over')" >/dev/null
t "operator: opens and closes incidents (as the extension owner, no table rights needed)" \
  "SELECT detection = 'operator' AND closed_at IS NOT NULL FROM vasscm.incident WHERE id = $INC3"
scheduled=$(q "SELECT string_agg(job_name || ' ' || schedule || ' ' || command, ',') FROM vasscm.schedule_jobs() WHERE job_name = 'vasscm-incidents'")
t "schedule_jobs() schedules vasscm-incidents every minute in pg_cron" \
  "SELECT '$scheduled' = 'vasscm-incidents * * * * * SELECT vasscm.watch_incidents()'
      AND EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'vasscm-incidents' AND schedule = '* * * * *')"
q "SELECT vasscm.unschedule_jobs()" >/dev/null
fields() { echo "SELECT array_agg(concat_ws(':', path, type, mandatory, rule, codes) ORDER BY position) FROM vasscm.catalogue_field f JOIN vasscm.catalogue c ON c.version = f.version AND c.active WHERE message_code = '$1'"; }
t "form 13 in the catalogue: the same fields as YARD_MAP" \
  "SELECT cardinality(($(fields 13))) = 10 AND ($(fields 13)) = ($(fields YARD_MAP))"
t "form 13 builds, validates and is sent like YARD_MAP (same data)" \
  "SELECT count(*) = 0 FROM vasscm.validate_message(vasscm.build_message('13', (SELECT example FROM vasscm.catalogue_message m JOIN vasscm.catalogue c ON c.version = m.version AND c.active WHERE code = 'YARD_MAP')))"
t "audit chains verify after the outage" \
  "SELECT bool_and(first_broken_id IS NULL AND unsealed = 0) FROM vasscm.verify_audit()"
if [ "$FAILED" != 0 ]; then
    q "SELECT id, message_type, status, last_error FROM vasscm.outbox WHERE status <> 'accepted'" >&2 || true
    tail -5 "$W/worker.log" >&2 || true
fi
finish incident
