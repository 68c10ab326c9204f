#!/usr/bin/env bash
# The worker end to end: a SoftHSM2 token and an openCryptoki soft token (keys made here, at run
# time), the customs simulator, a real cluster. On both tokens every message type is signed so
# that xmlsec1 and the simulator accept it; tampering is refused; kill -9 at random moments
# loses and duplicates nothing; PostgreSQL restarted (immediate) mid-run → the worker waits,
# reconnects and carries on, nothing lost or sent twice; customs down → everything delivered
# after, in order; HSM problems → clear errors, messages stay queued; hostile replies →
# recorded, retried; inbound messages by push and by polling, verified, refused pushes
# rate-limited.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${WORKER_DB_PORT:-55470}
SIM_PORT=${SIM_PORT:-55480}
PUSH_PORT=${WORKER_PUSH_PORT:-55481}
METRICS_PORT=${WORKER_METRICS_PORT:-29187}   # bound late: below the ephemeral range, which busy connections use
BIN="$ROOT/target/release"
W="$RUN_DIR/worker-test"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
DB=vasscm_worker

make_pki "$W"
start_sim() { start_simulator "$W" "$SIM_PORT"; }
stop_sim() { stop_simulator "$W"; }
stats() { curl -s "http://127.0.0.1:$SIM_PORT/stats"; }
control() { curl -s -X POST -H 'Content-Type: application/json' -d "$1" "http://127.0.0.1:$SIM_PORT/control" >/dev/null; }
write_config() { worker_config "$1" "$PORT" "$DB" "$SIM_PORT" "${2:-}"; }
start_worker() {   # CONFIG LOG → pid in $W/worker.pid (disowned: no job notices when killed)
    "$BIN/vasscm-worker" run --config "$1" >> "$2" 2>&1 &
    echo $! > "$W/worker.pid"
    disown
}
wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }

fresh_cluster worker_db "$PORT"
trap 'stop_sim; kill $(cat "$W"/worker*.pid 2>/dev/null) 2>/dev/null || true; stop_cluster worker_db; [ -z "${PKCSSLOTD_PID:-}" ] || stop_pkcsslotd' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'"
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION vasscm"
start_sim
write_config "$W/worker.toml" "[inbound]
mode = \"listen\"
listen = \"127.0.0.1:$PUSH_PORT\"
max_refused_per_minute = 5
max_body_bytes = 1048576"
# signing_suite NAME CONFIG PORT_CERT: every P→C message type enqueued, signed on the token of
# CONFIG by a worker (left running, pid in $W/worker.pid), accepted by the simulator, verified
# by xmlsec1 against PORT_CERT.
signing_suite() {
    local name=$1 conf=$2 cert=$3 from total ok=0 bad=0 f
    from=$(q "SELECT coalesce(max(id), 0) FROM vasscm.outbox")
    q "SELECT vasscm.enqueue(m.code, m.example) FROM vasscm.catalogue_message m WHERE m.direction = 'P2C' AND m.code <> '16' AND m.code <> '17'" >/dev/null
    q "SELECT vasscm.enqueue(m.code, m.example) FROM vasscm.catalogue_message m WHERE m.code IN ('16', '17')" >/dev/null
    start_worker "$conf" "$W/worker-$name.log"
    total=$(q "SELECT count(*) FROM vasscm.outbox WHERE id > $from")
    wait_until "$PORT" "$DB" "SELECT count(*) FILTER (WHERE status IN ('accepted', 'rejected')) = $total FROM vasscm.outbox WHERE id > $from" 60 || true
    check "$name: all $total accepted by the simulator" "$PORT" "$DB" "SELECT bool_and(status = 'accepted') FROM vasscm.outbox WHERE id > $from" \
        "SELECT message_type, status, attempts, last_error FROM vasscm.outbox WHERE id > $from AND status <> 'accepted' ORDER BY id"
    check "$name: every P→C type was sent" "$PORT" "$DB" \
        "SELECT count(DISTINCT message_type) = (SELECT count(*) FROM vasscm.message_types WHERE direction = 'P2C') FROM vasscm.outbox WHERE id > $from"
    rm -rf "$W/signed-$name"; mkdir -p "$W/signed-$name"
    q "SELECT o.message_type || '|' || replace(l.body, E'\n', '') FROM vasscm.message_log l JOIN vasscm.outbox o USING (transaction_id)
        WHERE l.kind = 'signed' AND o.id > $from ORDER BY l.id" | while IFS='|' read -r code body; do printf '%s' "$body" > "$W/signed-$name/$code.xml"; done
    for f in "$W/signed-$name"/*.xml; do
        if xmlsec1 --verify --pubkey-cert-pem "$cert" "$f" >/dev/null 2>&1; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "xmlsec1 refused $f" >&2; fi
    done
    check "$name: xmlsec1 --verify accepts all $ok signed P→C types" "$PORT" "$DB" \
        "SELECT $bad = 0 AND $ok = (SELECT count(*) FROM vasscm.message_types WHERE direction = 'P2C')"
}
# tool_case NAME EXPECTED-RC EXPECTED-TEXT COMMAND...: a worker command's exit code and output.
tool_case() {
    local name=$1 want_rc=$2 text=$3 rc; shift 3
    set +e; timeout 60 "$@" > "$W/tool.log" 2>&1; rc=$?; set -e
    if [ "$rc" = "$want_rc" ] && grep -q -- "$text" "$W/tool.log"; then
        PASSED=$((PASSED + 1)); echo "  ok   $name: exit $rc, \"$(grep -o -- "$text.*" "$W/tool.log" | head -1 | cut -c1-100)\""
    else
        FAILED=$((FAILED + 1)); echo "  FAIL $name (exit $rc, expected $want_rc and \"$text\"): $(tail -3 "$W/tool.log")" >&2
    fi
}

echo "HSM problems: clear errors, nothing claimed"
q "SELECT vasscm.enqueue('CHECK_CONTAINER', '{\"MA_HQ\": \"03CC\", \"SO_CONTAINER\": \"MSKU1234565\"}')" >/dev/null
hsm_case() {   # NAME EXPECTED-TEXT CONFIG-SED
    sed "$3" "$W/worker.toml" > "$W/bad.toml"
    set +e; VASSCM_PIN=${BAD_PIN:-1234} timeout 20 "$BIN/vasscm-worker" run --config "$W/bad.toml" > "$W/bad.log" 2>&1; rc=$?; set -e
    if [ "$rc" != 0 ] && grep -q "$2" "$W/bad.log"; then PASSED=$((PASSED + 1)); echo "  ok   $1: exit $rc, \"$(grep -o "$2.*" "$W/bad.log" | head -1 | cut -c1-90)\""
    else FAILED=$((FAILED + 1)); echo "  FAIL $1 (exit $rc): $(tail -2 "$W/bad.log")" >&2; fi
}
BAD_PIN=0000 hsm_case "wrong PIN" "login to token" "s/x/x/"
hsm_case "missing PKCS#11 module" "cannot load the PKCS#11 module" "s#/usr/lib/softhsm/libsofthsm2.so#/nonexistent/libpkcs11.so#"
hsm_case "token removed" "no token labelled" "s/token_label = \"vasscm\"/token_label = \"unplugged\"/"
check "messages stay queued" "$PORT" "$DB" "SELECT bool_and(status = 'queued') AND bool_and(attempts = 0) FROM vasscm.outbox" \
    "SELECT status, attempts, count(*) FROM vasscm.outbox GROUP BY 1, 2"

sed '/^certificate_file = .*customs.pem"$/d' "$W/worker.toml" > "$W/nocustoms.toml"
tool_case "run without [customs] certificate_file refuses to start" 78 "\[customs\] certificate_file is required" \
    "$BIN/vasscm-worker" run --config "$W/nocustoms.toml"
check "messages still queued" "$PORT" "$DB" "SELECT bool_and(status = 'queued') AND bool_and(attempts = 0) FROM vasscm.outbox"

echo "check: a real signature on the token, verified against the certificate"
tool_case "SoftHSM2: check signs with CKM_SHA256_RSA_PKCS and verifies" 0 "verified against the certificate" \
    "$BIN/vasscm-worker" check --config "$W/worker.toml"
check "SoftHSM2: check names the mechanism" "$PORT" "$DB" "SELECT $(grep -q 'mechanism: CKM_SHA256_RSA_PKCS' "$W/tool.log" && echo true || echo false)"
sed 's/^mechanism = .*//; s/^sessions = 2$/sessions = 2\nmechanism = "CKM_RSA_PKCS"/' "$W/worker.toml" > "$W/rawmech.toml"
tool_case "SoftHSM2 with mechanism = CKM_RSA_PKCS: SHA-256 DigestInfo made on the host, verified" 0 \
    "CKM_RSA_PKCS (SHA-256 DigestInfo computed on the host" "$BIN/vasscm-worker" check --config "$W/rawmech.toml"
check "  … and the test signature verified" "$PORT" "$DB" "SELECT $(grep -q 'verified against the certificate' "$W/tool.log" && echo true || echo false)"
sed "s#^sessions = 2\$#sessions = 2\ncertificate_file = \"$W/customs.pem\"#" "$W/worker.toml" > "$W/wrongcert.toml"
tool_case "check with a certificate that is not the key's: refused, exit 69" 69 "test signature refused" \
    "$BIN/vasscm-worker" check --config "$W/wrongcert.toml"

echo "SoftHSM2: every message type, signed on the token, accepted by customs and by xmlsec1"
signing_suite softhsm2 "$W/worker.toml" "$W/port.pem"
mkdir -p "$W/signed"; cp "$W/signed-softhsm2"/*.xml "$W/signed/"
sed 's#<MA_HQ>03CC</MA_HQ>#<MA_HQ>03CD</MA_HQ>#' "$W/signed/14.xml" > "$W/tampered.xml"
check "xmlsec1 refuses a tampered message" "$PORT" "$DB" "SELECT $(xmlsec1 --verify --pubkey-cert-pem "$W/port.pem" "$W/tampered.xml" >/dev/null 2>&1 && echo false || echo true)"
tampered_answer=$(curl -s -X POST --data-binary @"$W/tampered.xml" "http://127.0.0.1:$SIM_PORT/vasscm")
check "the simulator refuses it: 299 'Chữ ký số không hợp lệ'" "$PORT" "$DB" \
    "SELECT position('<Message_Type>299</Message_Type>' in \$a\$$tampered_answer\$a\$) > 0 AND position('1301' in \$a\$$tampered_answer\$a\$) > 0"

echo "inbound: customs pushes to the port's endpoint; a tampered push is refused"
push=$(curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"message_type\": \"04\", \"data\": $(q "SELECT example FROM vasscm.catalogue_message WHERE code = '04'"), \"deliver_to\": \"http://127.0.0.1:$PUSH_PORT/\"}" \
    "http://127.0.0.1:$SIM_PORT/script")
check "form 04 pushed, verified, stored in vasscm.inbox" "$PORT" "$DB" "SELECT count(*) = 1 FROM vasscm.inbox WHERE message_type = '04'"
# a signed form 04 as customs sends it: queued for polling and taken here (no poller runs yet;
# the answers to the queries sent above, queued before it, are taken too)
curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"message_type\": \"04\", \"data\": $(q "SELECT example FROM vasscm.catalogue_message WHERE code = '04'")}" \
    "http://127.0.0.1:$SIM_PORT/script" >/dev/null
signed04=""
for i in $(seq 1 100); do
    signed04=$(curl -s "http://127.0.0.1:$SIM_PORT/outbound")
    case "$signed04" in *"<Message_Type>04</Message_Type>"*|"") break ;; esac
done
printf '%s' "$signed04" > "$W/inbound04.xml"
check "xmlsec1 --verify accepts the simulator's (customs') signature too" "$PORT" "$DB" \
    "SELECT $(xmlsec1 --verify --pubkey-cert-pem "$W/customs.pem" "$W/inbound04.xml" >/dev/null 2>&1 && echo true || echo false)"
code=$(printf '%s' "${signed04/<LUONG>1</<LUONG>3<}" | curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @- "http://127.0.0.1:$PUSH_PORT/")
check "tampered push refused (HTTP $code) and logged" "$PORT" "$DB" \
    "SELECT $code = 400 AND count(*) = 1 FROM vasscm.message_log WHERE kind = 'refused' AND note LIKE 'customs signature refused%'"

refused_before=$(q "SELECT count(*) FROM vasscm.message_log WHERE kind = 'refused'")
code=$(head -c 2000000 /dev/zero | tr '\0' 'a' | curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @- "http://127.0.0.1:$PUSH_PORT/")
check "a 2 MB push refused with 413 (max_body_bytes), not logged" "$PORT" "$DB" \
    "SELECT $code = 413 AND count(*) = $refused_before FROM vasscm.message_log WHERE kind = 'refused'"
codes=""
for i in $(seq 1 8); do
    codes="$codes $(printf '%s' "${signed04/<LUONG>1</<LUONG>3<}" | curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @- "http://127.0.0.1:$PUSH_PORT/")"
done
n400=$(echo "$codes" | tr ' ' '\n' | grep -c '^400$' || true)
check "refused pushes rate-limited per source: 5 refusals a minute, then 429 without touching the database (codes:$codes)" "$PORT" "$DB" \
    "SELECT '$(echo $codes)' = '400 400 400 429 429 429 429 429' AND count(*) = $refused_before + $n400 FROM vasscm.message_log WHERE kind = 'refused'"

echo "several workers at once; inbound by polling"
write_config "$W/poller.toml" "[inbound]
mode = \"poll\"
poll_url = \"http://127.0.0.1:$SIM_PORT/outbound\"
poll_interval_ms = 200"
"$BIN/vasscm-worker" run --config "$W/poller.toml" >> "$W/poller.log" 2>&1 &
echo $! > "$W/worker-poller.pid"
curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"message_type\": \"06\", \"data\": {\"SO_TK\": \"308044805740\", \"TRANG_THAI_TK\": \"TAM_DUNG\", \"LY_DO\": \"Kiểm tra\"}}" \
    "http://127.0.0.1:$SIM_PORT/script" >/dev/null
wait_until "$PORT" "$DB" "SELECT count(*) = 1 FROM vasscm.inbox WHERE message_type = '06'" 20 || true
check "form 06 polled, verified, stored" "$PORT" "$DB" "SELECT count(*) = 1 FROM vasscm.inbox WHERE message_type = '06'"

echo "customs down for a while: everything delivered after, in order"
stop_sim
q "SELECT vasscm.enqueue('24', jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '24'), '{LY_DO}', to_jsonb('thay niêm phong ' || g)))
     FROM generate_series(1, 15) g" >/dev/null
q "SELECT vasscm.enqueue('CHECK_CONTAINER', jsonb_build_object('MA_HQ', '03CC', 'SO_CONTAINER',
       'TCLU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('TCLU' || lpad(g::text, 6, '0')))) FROM generate_series(1, 10) g" >/dev/null
wait_until "$PORT" "$DB" "SELECT count(*) > 0 FROM vasscm.outbox WHERE status = 'queued' AND attempts >= 2" 30 || true
check "failures recorded while customs is down, nothing lost" "$PORT" "$DB" \
    "SELECT count(*) = 25 AND count(*) FILTER (WHERE last_error LIKE 'cannot connect%') > 0
       FROM vasscm.outbox WHERE status IN ('queued', 'sending')"
start_sim
wait_until "$PORT" "$DB" "SELECT bool_and(status = 'accepted') FROM vasscm.outbox" 90 || true
check "all delivered after customs came back" "$PORT" "$DB" "SELECT bool_and(status = 'accepted') FROM vasscm.outbox" \
    "SELECT status, count(*), max(attempts) AS attempts, min(last_error) AS an_error FROM vasscm.outbox GROUP BY status"
order=$(stats | python3 -c "import json,sys; print(','.join(json.load(sys.stdin)['accepted_order']))")
check "the 15 seal changes of one container were accepted in queue order" "$PORT" "$DB" \
    "SELECT array_agg(transaction_id::text ORDER BY id) = (SELECT array_agg(t ORDER BY ord) FROM unnest(string_to_array('$order', ',')) WITH ORDINALITY u(t, ord)
              WHERE t IN (SELECT transaction_id::text FROM vasscm.outbox WHERE message_type = '24' AND data ->> 'LY_DO' LIKE 'thay%'))
       FROM vasscm.outbox WHERE message_type = '24' AND data ->> 'LY_DO' LIKE 'thay%'"

echo "hostile replies: recorded, retried, no crash"
control '{"garbage": 3}'
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"HOSTILE-1\"}')" >/dev/null
wait_until "$PORT" "$DB" "SELECT status = 'accepted' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'HOSTILE-1'" 60 || true
check "accepted after 3 hostile replies (not XML, entity bomb, 3 MiB)" "$PORT" "$DB" \
    "SELECT o.status = 'accepted' AND (SELECT count(*) FROM vasscm.message_log l WHERE l.transaction_id = o.transaction_id AND l.kind IN ('bad_reply', 'send_error')) >= 3
       FROM vasscm.outbox o WHERE data ->> 'SO_VAN_DON' = 'HOSTILE-1'"
check "both workers still running" "$PORT" "$DB" \
    "SELECT $(kill -0 "$(cat "$W/worker.pid")" 2>/dev/null && kill -0 "$(cat "$W/worker-poller.pid")" 2>/dev/null && echo true || echo false)"

echo "customs failing: HTTP 500, connections closed without an answer, slow answers"
control '{"http500": 2, "close": 2}'
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"FAULTY-1\"}')" >/dev/null
wait_until "$PORT" "$DB" "SELECT status = 'accepted' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'FAULTY-1'" 60 || true
check "accepted after 2 × HTTP 500 and 2 closed connections, each failure logged" "$PORT" "$DB" \
    "SELECT o.status = 'accepted' AND (SELECT count(*) FROM vasscm.message_log l WHERE l.transaction_id = o.transaction_id
        AND l.kind IN ('bad_reply', 'send_error')) >= 4 FROM vasscm.outbox o WHERE data ->> 'SO_VAN_DON' = 'FAULTY-1'"
control '{"slow_ms": 6000}'
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"SLOW-1\"}')" >/dev/null
wait_until "$PORT" "$DB" "SELECT last_error LIKE 'timeout%' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'SLOW-1'" 30 || true
control '{"slow_ms": 0}'
wait_until "$PORT" "$DB" "SELECT status = 'accepted' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'SLOW-1'" 30 || true
check "a slow customs times out (5 s), the message is retried and accepted" "$PORT" "$DB" \
    "SELECT status = 'accepted' AND attempts >= 2 FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'SLOW-1'"

echo "SIGTERM finishes what is in flight"
kill -TERM "$(cat "$W/worker-poller.pid")"; wait "$(cat "$W/worker-poller.pid")" 2>/dev/null && rc=0 || rc=$?
check "poller stopped cleanly (exit $rc)" "$PORT" "$DB" "SELECT $rc = 0"
kill -TERM "$(cat "$W/worker.pid")"; wait_gone "$(cat "$W/worker.pid")"

echo "a second PKCS#11 implementation: openCryptoki's soft token"
make_pki_opencryptoki "$W"
write_config "$W/ock.toml"
sed -i "s#/usr/lib/softhsm/libsofthsm2.so#$OCK_MODULE#" "$W/ock.toml"
if pkcs11-tool --module "$OCK_MODULE" --token-label vasscm -M 2>/dev/null | grep -q '^ *SHA256-RSA-PKCS,'; then
    ock_mech="mechanism: CKM_SHA256_RSA_PKCS (the token hashes"
else
    ock_mech="mechanism: CKM_RSA_PKCS (SHA-256 DigestInfo computed on the host"
fi
tool_case "openCryptoki: check finds the token, signs, verifies" 0 "verified against the certificate" \
    "$BIN/vasscm-worker" check --config "$W/ock.toml"
check "openCryptoki: the mechanism follows C_GetMechanismList (${ock_mech#mechanism: })" "$PORT" "$DB" \
    "SELECT $(grep -qF "$ock_mech" "$W/tool.log" && echo true || echo false)"
sed 's/^sessions = 2$/sessions = 2\nsignature_algorithm = "rsa-sha1"/' "$W/ock.toml" > "$W/ock-sha1.toml"
tool_case "openCryptoki, rsa-sha1: CKM_SHA1_RSA_PKCS, verified" 0 "verified against the certificate" \
    "$BIN/vasscm-worker" check --config "$W/ock-sha1.toml"
tool_case "openCryptoki: bench-sign makes signatures" 0 "signatures/s" "$BIN/vasscm-worker" bench-sign --config "$W/ock.toml"
check "  … a positive rate ($(grep -o '[0-9]* signatures/s' "$W/tool.log"))" "$PORT" "$DB" \
    "SELECT $(grep -o '[0-9]* signatures/s' "$W/tool.log" | cut -d' ' -f1 | sed 's/^$/0/') > 0"
sed 's/^token_label = "vasscm"$/token_label = "unplugged"/' "$W/ock.toml" > "$W/ock-absent.toml"
tool_case "openCryptoki: an absent label is reported with the tokens present" 69 'no token labelled "unplugged" is present.*"vasscm"' \
    "$BIN/vasscm-worker" check --config "$W/ock-absent.toml"
stop_sim
start_simulator "$W" "$SIM_PORT" "$W/port-ock.pem"
signing_suite opencryptoki "$W/ock.toml" "$W/port-ock.pem"
check "openCryptoki: the worker logged the mechanism it signs with" "$PORT" "$DB" \
    "SELECT $(grep -q 'mechanism=' "$W/worker-opencryptoki.log" && echo true || echo false)"
kill -TERM "$(cat "$W/worker.pid")"; wait_gone "$(cat "$W/worker.pid")"
stop_pkcsslotd
stop_sim
start_sim

echo "crash test: kill -9 at random moments while 500 messages flow"
control '{"reset": true}'
q "SELECT vasscm.enqueue('14', jsonb_set(jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '14'),
       '{SO_CONTAINER}', to_jsonb('ZCSU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('ZCSU' || lpad(g::text, 6, '0')))),
       '{VI_TRI}', to_jsonb('R' || g))) FROM generate_series(1, 500) g" >/dev/null
kills=0
for round in $(seq 1 40); do
    start_worker "$W/worker.toml" "$W/crash.log"
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "$(cat "$W/worker.pid")" 2>/dev/null && kills=$((kills + 1)) || true
    wait_gone "$(cat "$W/worker.pid")"
    [ "$(q "SELECT count(*) FROM vasscm.outbox WHERE message_type = '14' AND data ->> 'SO_CONTAINER' LIKE 'ZCSU%' AND status <> 'accepted'")" = 0 ] && break
done
start_worker "$W/worker.toml" "$W/crash.log"
wait_until "$PORT" "$DB" "SELECT bool_and(status = 'accepted') FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'ZCSU%'" 120 || true
kill -TERM "$(cat "$W/worker.pid")"; wait_gone "$(cat "$W/worker.pid")"
check "after $kills kill -9: all 500 accepted in the outbox" "$PORT" "$DB" \
    "SELECT count(*) = 500 AND bool_and(status = 'accepted') FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'ZCSU%'" \
    "SELECT status, count(*), max(attempts) AS attempts FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'ZCSU%' GROUP BY status"
stats > "$W/stats.json"
read -r acc uniq redeliv < <(python3 -c "import json; s=json.load(open('$W/stats.json')); o=s['accepted_order']; print(s['accepted'], len(set(o)) == len(o), s['redeliveries'])")
ids=$(python3 -c "import json; s=json.load(open('$W/stats.json')); print(','.join(k for k, v in s['ids'].items() if v['accepted']))")
check "the simulator accepted each of the 500 Transaction_IDs exactly once ($redeliv re-deliveries de-duplicated)" "$PORT" "$DB" \
    "SELECT $acc = 500 AND '$uniq' = 'True' AND (SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'ZCSU%'
        AND transaction_id::text = ANY (string_to_array('$ids', ','))) = 500"
echo "PostgreSQL restarted (immediate) while 300 messages flow: the worker waits, reconnects, carries on"
control '{"reset": true}'
write_config "$W/restart.toml" "[metrics]
listen = \"127.0.0.1:$METRICS_PORT\""
sed -i 's/^poll_interval_ms = 200$/poll_interval_ms = 60000/' "$W/restart.toml"   # only NOTIFY wakes it: LISTEN must come back
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz" || true; }
q "SELECT vasscm.enqueue('14', jsonb_set(jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '14'),
       '{SO_CONTAINER}', to_jsonb('RSTU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('RSTU' || lpad(g::text, 6, '0')))),
       '{VI_TRI}', to_jsonb('R' || g))) FROM generate_series(1, 300) g" >/dev/null
start_worker "$W/restart.toml" "$W/restart.log"
wpid=$(cat "$W/worker.pid")
wait_until "$PORT" "$DB" "SELECT count(*) >= 40 FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%' AND status = 'accepted'" 60 || true
before=$(q "SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%' AND status = 'accepted'")
as_pg "$PG_BIN/pg_ctl" -D "$RUN_DIR/clusters/worker_db/data" -l "$RUN_DIR/clusters/worker_db/server.log" restart -m immediate -w >/dev/null
mid=$(q "SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%' AND status = 'accepted'")
sleep 1
as_pg "$PG_BIN/pg_ctl" -D "$RUN_DIR/clusters/worker_db/data" stop -m immediate >/dev/null
sleep 2
down_health=$(healthz); down_alive=$(kill -0 "$wpid" 2>/dev/null && echo true || echo false)
start_cluster worker_db "$PORT"
check "restarted with $before of 300 accepted, stopped again after $mid: the worker kept running, /healthz said $down_health while the database was down" "$PORT" "$DB" \
    "SELECT $down_alive AND '$down_health' = '503' AND $before < 300 AND $mid < 300"
wait_until "$PORT" "$DB" "SELECT bool_and(status = 'accepted') FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%'" 120 || true
check "all 300 accepted after the restarts, the worker still running, /healthz 200 again" "$PORT" "$DB" \
    "SELECT count(*) = 300 AND bool_and(status = 'accepted') AND $(kill -0 "$wpid" 2>/dev/null && echo true || echo false) AND '$(healthz)' = '200'
       FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%'"
stats > "$W/stats-restart.json"
read -r acc uniq redeliv < <(python3 -c "import json; s=json.load(open('$W/stats-restart.json')); o=s['accepted_order']; print(s['accepted'], len(set(o)) == len(o), s['redeliveries'])")
ids=$(python3 -c "import json; s=json.load(open('$W/stats-restart.json')); print(','.join(k for k, v in s['ids'].items() if v['accepted']))")
check "the simulator accepted each of the 300 Transaction_IDs exactly once ($redeliv re-deliveries de-duplicated)" "$PORT" "$DB" \
    "SELECT $acc = 300 AND '$uniq' = 'True' AND (SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' LIKE 'RSTU%'
        AND transaction_id::text = ANY (string_to_array('$ids', ','))) = 300"
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"AFTER-RESTART\"}')" >/dev/null
wait_until "$PORT" "$DB" "SELECT status = 'accepted' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'AFTER-RESTART'" 10 || true
check "LISTEN re-established: a new message is sent at once (polling is every 60 s here)" "$PORT" "$DB" \
    "SELECT status = 'accepted' AND $(grep -q 'LISTEN re-established' "$W/restart.log" && echo true || echo false)
       FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'AFTER-RESTART'"
kill -TERM "$wpid"; wait_gone "$wpid"
check "the worker never exited on its own and stopped cleanly on SIGTERM" "$PORT" "$DB" \
    "SELECT $(grep -q 'ERROR' "$W/restart.log" && echo false || echo true) AND $(grep -q 'stopped$' "$W/restart.log" && echo true || echo false)"

echo "token removed while the worker runs (last: it destroys the token)"
start_worker "$W/worker.toml" "$W/removal.log"
sleep 1
rm -rf "$W/tokens"/*
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"AFTER-REMOVAL\"}')" >/dev/null
for i in $(seq 1 100); do kill -0 "$(cat "$W/worker.pid")" 2>/dev/null || break; sleep 0.1; done
check "the worker stops with a clear error" "$PORT" "$DB" \
    "SELECT $(kill -0 "$(cat "$W/worker.pid")" 2>/dev/null && echo false || echo true) AND $(grep -q 'HSM unavailable' "$W/removal.log" && echo true || echo false)"
check "the message stays queued, the attempt not counted, the reason recorded" "$PORT" "$DB" \
    "SELECT status = 'queued' AND attempts = 0 AND last_error LIKE 'HSM unavailable%' FROM vasscm.outbox WHERE data ->> 'SO_VAN_DON' = 'AFTER-REMOVAL'"
finish worker
