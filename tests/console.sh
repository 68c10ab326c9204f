#!/usr/bin/env bash
# The operator console (vasscm-console) end to end in a real browser: a fresh cluster that
# asks for passwords (scram-sha-256), login roles holding each vasscm role, realistic data
# (TOS gate-ins captured in manual mode, one with a bad container number; queries sent by the
# real worker signing on SoftHSM2 to the customs simulator and answered; customs' signed 03 /
# 04 / 05 received), then headless Chromium driven through chromedriver (W3C WebDriver, from
# console/e2e/browser.py): each role sees what it may, a reader is refused approve, an
# operator approves and watches the message reach customs, a gate refusal with its reasons,
# CSRF and wrong passwords refused, an operator opens an incident and records its notification
# and paper lists while a reader is refused. Screenshots go to docs/screenshots/. Every wait is bounded.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${CONSOLE_DB_PORT:-55490}
SIM_PORT=${CONSOLE_SIM_PORT:-55491}
METRICS_PORT=${CONSOLE_METRICS_PORT:-55492}
HTTP_PORT=${CONSOLE_HTTP_PORT:-55493}
DRIVER_PORT=${CONSOLE_DRIVER_PORT:-55494}
SECURE_PORT=${CONSOLE_SECURE_PORT:-55489}
BIN="$ROOT/target/release"
W="$RUN_DIR/console-test"
DB=vasscm_console
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"

(cd "$ROOT" && cargo build --release -q -p vasscm-console -p vasscm-worker -p vasscm-customs-sim)
for b in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$b" ] || { echo "console: $b is missing (apt-get install chromium chromium-driver)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "console: python3 is missing (apt-get install python3)" >&2; exit 1; }

make_pki "$W"
fresh_cluster console_db "$PORT"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_simulator "$W"
    stop_cluster console_db
}
trap cleanup EXIT
# Passwords are asked of everyone but the test's own superuser: the console logs people in
# with their PostgreSQL credentials, so the database must check them.
cat > "$RUN_DIR/clusters/console_db/data/pg_hba.conf" <<'EOF'
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
EOF
psql_at "$PORT" -qAtc "SELECT pg_reload_conf()" >/dev/null
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
create_vasscm "$PORT" "$DB"
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
t() { check "$1" "$PORT" "$DB" "$2"; }

pw() { openssl rand -hex 12; }
declare -A PW=([c_reader]=$(pw) [c_operator]=$(pw) [c_admin]=$(pw) [c_worker]=$(pw) [c_nobody]=$(pw))
for r in c_reader c_operator c_admin c_worker c_nobody; do
    q "CREATE ROLE $r LOGIN PASSWORD '${PW[$r]}'" >/dev/null
done
q "GRANT vasscm_reader TO c_reader; GRANT vasscm_operator TO c_operator; GRANT vasscm_admin TO c_admin; GRANT vasscm_worker TO c_worker" >/dev/null

echo "data: TOS gate-ins in manual mode, queries through the worker, customs' messages"
start_simulator "$W" "$SIM_PORT"
worker_config "$W/worker.toml" "$PORT" "$DB" "$SIM_PORT" "[metrics]
listen = \"127.0.0.1:$METRICS_PORT\""
"$BIN/vasscm-worker" run --config "$W/worker.toml" >> "$W/worker.log" 2>&1 &
pids+=($!)
customs() {   # KIND DATA-JSON [HEADER-SQL]: a customs message received (as the worker stores a verified one)
    q "SELECT vasscm.receive(vasscm.build_message('$1', \$d\$$2\$d\$::jsonb, ${3:-'{}'::jsonb} || '{\"Sender_Code\": \"TCHQ\", \"Sender_Name\": \"Tổng cục Hải quan\"}'))" >/dev/null
}
customs 04 '{"SO_TK": "308044805740", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "NHAP",
  "LIST_CONTAINER": [{"SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "ML100001"}, {"SO_CONTAINER": "TGHU7654320", "SO_NIEM_PHONG": "ML100002"}]}'
customs 03 '{"MA_HQ": "03CC", "LOAI_HANG": "NHAP", "MA_TAU": "9321483", "SO_CHUYEN": "245N",
  "NGAY_DEN_DU_KIEN": "2026-12-26T06:00:00+07:00", "LIST_HANG": [{"SO_CONTAINER": "TGHU7654320", "LY_DO": "Soi chiếu"}]}'
customs 05 '{"SO_TK": "101234567892", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "2", "LOAI_HANG": "NHAP", "SO_VAN_DON": "HPBL0002",
  "LOAI_HANG_HOA": "KIEN", "SO_LUONG": 118, "DVT_SO_LUONG": "CUON", "TRONG_LUONG": 2390, "DVT_TRONG_LUONG": "TNE"}'
# a list of expected containers received only 2 hours before the ship's ETA (8 h required): a missed deadline
customs 01 "{\"MA_HQ\": \"03CC\", \"MA_TAU\": \"9321483\", \"TEN_TAU\": \"MAERSK HAI PHONG\", \"SO_CHUYEN\": \"245N\",
  \"NGAY_DEN_DU_KIEN\": \"$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S+00:00)\", \"LOAI_HANG\": \"NHAP\", \"LIST_HANG\": [
  {\"SO_VAN_DON\": \"MAEU245001\", \"SO_CONTAINER\": \"MSKU1234565\", \"SO_NIEM_PHONG\": \"ML100001\"},
  {\"SO_VAN_DON\": \"MAEU245002\", \"SO_CONTAINER\": \"TGHU7654320\", \"SO_NIEM_PHONG\": \"ML100002\"}]}"
t "customs' 01, 03, 04, 05 received and applied" "SELECT count(*) = 4 FROM vasscm.inbox WHERE applied_at IS NOT NULL AND apply_error IS NULL"
q "CREATE TABLE public.tos_gate_in (id int PRIMARY KEY, container_no text, seal text, bl_no text, gate_in_at timestamptz)" >/dev/null
q "SELECT vasscm.bind('public.tos_gate_in', '14', '{\"MA_HQ\": \"''03CC''\", \"MA_DIA_DIEM\": \"''03CCC01''\", \"LOAI_HANG\": \"''NHAP''\",
     \"SO_CONTAINER\": \"container_no\", \"TRANG_THAI\": \"''F''\", \"HINH_THUC\": \"''XE''\", \"SO_NIEM_PHONG\": \"seal\",
     \"SO_VAN_DON\": \"bl_no\", \"THOI_GIAN\": \"gate_in_at\"}', '{INSERT}', NULL, 'manual')" >/dev/null
q "INSERT INTO public.tos_gate_in VALUES (1, 'MSKU1234565', 'ML100001', 'MAEU245001', now()), (2, 'TGHU7654320', 'ML100002', 'MAEU245002', now()),
     (3, 'CSQU3054383', 'ML100003', 'MAEU245003', now()), (4, 'MSKU1234566', 'ML100004', 'MAEU245004', now())" >/dev/null
q "SELECT vasscm.check_container('HLXU8765430')" >/dev/null
q "SELECT vasscm.check_declaration('308044805740')" >/dev/null
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"HPBL0002\"}')" >/dev/null
wait_until "$PORT" "$DB" "SELECT count(*) = 3 FROM vasscm.outbox WHERE status = 'accepted'" 60 || true
# customs answers the two queries it accepted (CHECK_RESULT, Request_ID = the query)
declare -A ANSWER=([CHECK_CONTAINER]='{"SO_CONTAINER": "HLXU8765430", "DU_DIEU_KIEN": "N", "GHI_CHU": "Chưa có tờ khai / no declaration yet"}'
                   [CHECK_DECLARATION]='{"SO_TK": "308044805740", "DU_DIEU_KIEN": "Y", "LUONG": "1", "NGAY_DK": "2026-12-25"}')
for qt in CHECK_CONTAINER CHECK_DECLARATION; do
    tid=$(q "SELECT transaction_id FROM vasscm.outbox WHERE message_type = '$qt' AND status = 'accepted'")
    if [ -n "$tid" ]; then
        customs CHECK_RESULT "${ANSWER[$qt]}" "'{\"Request_ID\": \"$tid\"}'::jsonb"
    fi
done
t "data: 3 gate-ins pending approval, 1 invalid (check digit), 3 queries accepted and answered" \
  "SELECT (SELECT count(*) FROM vasscm.outbox WHERE status = 'pending_approval') = 3
      AND (SELECT count(*) FROM vasscm.outbox WHERE status = 'invalid') = 1
      AND (SELECT count(*) FROM vasscm.outbox WHERE status = 'accepted') = 3
      AND (SELECT count(*) FROM vasscm.inbox WHERE message_type = 'CHECK_RESULT') >= 2"

echo "the console"
cat > "$W/console.toml" <<EOF
listen = "127.0.0.1:$HTTP_PORT"
audit_log = "$W/console-audit.log"
refresh_seconds = 2
default_language = "vi"
[database]
host = "127.0.0.1"
port = $PORT
dbname = "$DB"
[session]
cookie_secure = false
[worker]
metrics_url = "http://127.0.0.1:$METRICS_PORT"
EOF
rm -f "$W/console-audit.log"
"$BIN/vasscm-console" --config "$W/console.toml" >> "$W/console.log" 2>&1 &
pids+=($!)
sed -e "s/^listen = .*/listen = \"127.0.0.1:$SECURE_PORT\"/" -e 's/^cookie_secure = false/cookie_secure = true/' \
    -e "s#^audit_log = .*#audit_log = \"$W/console-secure-audit.log\"#" "$W/console.toml" > "$W/console-secure.toml"
"$BIN/vasscm-console" --config "$W/console-secure.toml" >> "$W/console-secure.log" 2>&1 &
pids+=($!)
chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1 >> "$W/chromedriver.log" 2>&1 &
pids+=($!)
up() { local i=0; until curl -sf -o /dev/null "$1"; do i=$((i + 1)); [ "$i" -gt 100 ] && { echo "not up: $1" >&2; return 1; }; sleep 0.1; done; }
up "http://127.0.0.1:$HTTP_PORT/login"
up "http://127.0.0.1:$SECURE_PORT/login"
up "http://127.0.0.1:$DRIVER_PORT/status"

headers=$(curl -s -D - -o /dev/null "http://127.0.0.1:$HTTP_PORT/login")
secure_headers=$(curl -s -D - -o /dev/null "http://127.0.0.1:$SECURE_PORT/login")
ok_if() {   # DESCRIPTION COMMAND...: passes when the command succeeds
    local what=$1; shift
    if "$@"; then PASSED=$((PASSED + 1)); echo "  ok   $what"; else FAILED=$((FAILED + 1)); echo "  FAIL $what" >&2; fi
}
not() { ! "$@"; }
ok_if "Content-Security-Policy: scripts only from the console" grep -qi '^content-security-policy: .*script-src .self.' <<<"$headers"
ok_if "no framing (X-Frame-Options)" grep -qi '^x-frame-options: DENY' <<<"$headers"
ok_if "login token cookie HttpOnly, SameSite=Strict" grep -qi '^set-cookie: vasscm_login=.*HttpOnly; SameSite=Strict' <<<"$headers"
ok_if "cookie_secure = false: no Secure flag (plain HTTP test)" not grep -qi '^set-cookie:.*Secure' <<<"$headers"
ok_if "cookie_secure = true: Secure flag" grep -qi '^set-cookie: vasscm_login=.*; Secure' <<<"$secure_headers"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'user=c_admin&password=x' "http://127.0.0.1:$HTTP_PORT/login")
ok_if "login POST without the login form's token: refused ($code)" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/monitor/live")
ok_if "the live fragment needs a session ($code)" test "$code" = 401

metrics=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" || true)
missing=""
for m in $(grep -o 'vasscm_[a-z_]*' "$ROOT/docs/grafana/vasscm-worker.json" | sort -u); do
    grep -Eq "^$m(_bucket|_sum|_count)?[{ ]" <<<"$metrics" || missing="$missing $m"
done
ok_if "every metric of the Grafana dashboard is one the worker exports${missing:+ (missing:$missing)}" test -z "$missing"

echo "in the browser (headless Chromium through chromedriver)"
passwords=$(printf '{"c_reader": "%s", "c_operator": "%s", "c_admin": "%s", "c_worker": "%s", "c_nobody": "%s"}' \
    "${PW[c_reader]}" "${PW[c_operator]}" "${PW[c_admin]}" "${PW[c_worker]}" "${PW[c_nobody]}")
set +e
CONSOLE_URL="http://127.0.0.1:$HTTP_PORT" DRIVER_URL="http://127.0.0.1:$DRIVER_PORT" DB_PORT="$PORT" DB_NAME="$DB" \
    SCREENSHOTS="$ROOT/docs/screenshots" PASSWORDS="$passwords" REFRESH_SECONDS=2 \
    timeout 300 python3 "$ROOT/console/e2e/browser.py" > "$W/browser.out"
rc=$?
set -e
cat "$W/browser.out"
summary=$(tail -1 "$W/browser.out")
if [[ "$summary" =~ ^browser:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1])); FAILED=$((FAILED + BASH_REMATCH[2]))
    [ "$rc" = 0 ] || [ "${BASH_REMATCH[2]}" != 0 ] || { FAILED=$((FAILED + 1)); echo "  FAIL the browser run exited $rc" >&2; }
else
    FAILED=$((FAILED + 1)); echo "  FAIL the browser run did not finish (exit $rc)" >&2
fi

echo "what the database and the console's log kept"
t "the approval is in the outbox history with the operator as actor" \
  "SELECT count(*) = 1 FROM vasscm.outbox_history WHERE actor = 'c_operator' AND reason = 'approved'"
t "the reader's and the CSRF-less attempts changed nothing" \
  "SELECT NOT EXISTS (SELECT 1 FROM vasscm.outbox_history WHERE actor = 'c_reader')
      AND (SELECT count(*) FROM vasscm.outbox_history WHERE actor = 'c_operator' AND reason = 'approved') = 1"
# (the incident case's logged-out sessions close their connections too)
wait_until "$PORT" "$DB" "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'vasscm-console' AND usename = 'c_reader')
    AND (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vasscm-console' AND usename = 'c_operator') <= 2" 10 || true
t "the console's connections are the people's own (the logged-out reader's are closed, no shared role)" \
  "SELECT count(*) FILTER (WHERE usename = 'c_admin') = 2 AND count(*) FILTER (WHERE usename = 'c_operator') = 2
      AND count(*) FILTER (WHERE usename IN ('c_reader', 'postgres')) = 0
     FROM pg_stat_activity WHERE application_name = 'vasscm-console'"
LOG="$W/console-audit.log"
logged() {   # DESCRIPTION PATTERN (grep -E on the JSON lines)
    if grep -Eq "$2" "$LOG"; then PASSED=$((PASSED + 1)); echo "  ok   $1"; else FAILED=$((FAILED + 1)); echo "  FAIL $1 (no line matching $2)" >&2; fi
}
logged "console log: the wrong password" '"action":"login","target":"","outcome":"refused","detail":"wrong user name or password"'
logged "console log: the operator's login with its roles" '"user":"c_operator","roles":"vasscm_operator, vasscm_reader","action":"login","target":"","outcome":"ok"'
logged "console log: the reader's refused approve" '"user":"c_reader","roles":"vasscm_reader","action":"approve","target":"[0-9]+","outcome":"refused","detail":"permission denied for function approve'
logged "console log: the operator's approve" '"user":"c_operator","roles":"vasscm_operator, vasscm_reader","action":"approve","target":"[0-9]+","outcome":"ok"'
logged "console log: the CSRF refusals" '"user":"c_operator",.*"action":"post",.*"outcome":"refused","detail":"missing or wrong CSRF token"'
logged "console log: the operator's paper list" '"user":"c_operator",.*"action":"paper_list","target":"[0-9]+","outcome":"ok","detail":"DS-36/01: '
logged "console log: the reader's refused paper list" '"user":"c_reader",.*"action":"paper_list","target":"[0-9]+","outcome":"refused","detail":"permission denied for function record_paper_list'
logged "console log: the gate decision with its reasons" '"action":"gate_out_check","target":"MSKU1234565","outcome":"not_allowed","detail":"[^"]*carrier seal ML555'
check_out=$("$BIN/vasscm-console" --config "$W/console.toml" --check 2>&1 || true)
ok_if "console log: its hash chain verifies ($check_out)" grep -q "chain intact" <<<"$check_out"
sed -i '2s/"peer":"/"peer":"tampered /' "$LOG"
check_out=$("$BIN/vasscm-console" --config "$W/console.toml" --check 2>&1 || true)
ok_if "console log: a changed line is found ($check_out)" grep -q "BROKEN at line 3" <<<"$check_out"

finish console
