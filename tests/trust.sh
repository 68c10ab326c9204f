#!/usr/bin/env bash
# Trust end to end, as an attacker would try it: a genuine customs-signed form 04 taken and
# forged (the signature's start tag hidden in one comment, the rest in another, a container
# customs never cleared inserted between them) is refused by the worker's inbound endpoint and
# by xmlsec1, changes no state, and the gate refuses the container; the genuine message is
# applied. Messages not addressed from customs to this port are refused and logged; refused
# bodies are logged bounded, with their SHA-256; the endpoint caps body size and refusals per
# source.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${TRUST_DB_PORT:-55520}
SIM_PORT=${TRUST_SIM_PORT:-55521}
PUSH_PORT=${TRUST_PUSH_PORT:-55522}
W="$RUN_DIR/trust-test"
DB=vasscm_trust
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
t() { check "$1" "$PORT" "$DB" "$2"; }
push() {   # FILE → "HTTP-status body"
    curl -s -o "$W/answer" -w '%{http_code}' -X POST --data-binary "@$1" "http://127.0.0.1:$PUSH_PORT/" || true
}
scripted() {   # DATA-JSON [HEADER-JSON] → the signed message customs would send, in FILE $W/scripted.xml
    curl -sf -X POST -H 'Content-Type: application/json' \
        -d "{\"message_type\": \"04\", \"data\": $1, \"header\": ${2:-{\}}}" "http://127.0.0.1:$SIM_PORT/script" >/dev/null
    curl -sf "http://127.0.0.1:$SIM_PORT/outbound" > "$W/scripted.xml"
}

make_pki "$W"
fresh_cluster trust_db "$PORT"
trap 'stop_simulator "$W"; kill $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster trust_db' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" >/dev/null
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION vasscm"
start_simulator "$W" "$SIM_PORT"
worker_config "$W/worker.toml" "$PORT" "$DB" "$SIM_PORT" "[inbound]
mode = \"listen\"
listen = \"127.0.0.1:$PUSH_PORT\"
max_refused_per_minute = 6
max_body_bytes = 1048576"
"$ROOT/target/release/vasscm-worker" run --config "$W/worker.toml" >> "$W/worker.log" 2>&1 &
echo $! > "$W/worker.pid"; disown
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PUSH_PORT/" && break; sleep 0.1; done

DATA='{"SO_TK": "308044805740", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "NHAP",
       "LIST_CONTAINER": [{"SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "ML123456"}]}'
scripted "$DATA"
cp "$W/scripted.xml" "$W/genuine04.xml"
python3 - "$W/genuine04.xml" "$W/forged04.xml" <<'PY'
import sys
s = open(sys.argv[1], encoding="utf-8").read()
a = s.index("<ds:Signature")
first = s.index(">", a) + 1
b = s.rindex("</ds:Signature>") + len("</ds:Signature>")
item = "<ITEM><SO_CONTAINER>CSQU3054383</SO_CONTAINER><SO_NIEM_PHONG>X1</SO_NIEM_PHONG></ITEM>"
forged = s[:a].replace("</LIST_CONTAINER>", item + "</LIST_CONTAINER>", 1)
forged += "<!--" + s[a:first] + "-->" + "<!--" + s[first:b] + "-->" + s[b:]
open(sys.argv[2], "w", encoding="utf-8").write(forged)
PY

echo "the reported forgery: a customs-signed 04 with a container added between two comments"
t "xmlsec1 accepts the genuine 04" "SELECT $(xmlsec1 --verify --pubkey-cert-pem "$W/customs.pem" "$W/genuine04.xml" >/dev/null 2>&1 && echo true || echo false)"
t "xmlsec1 refuses the forged 04" "SELECT $(xmlsec1 --verify --pubkey-cert-pem "$W/customs.pem" "$W/forged04.xml" >/dev/null 2>&1 && echo false || echo true)"
code=$(push "$W/forged04.xml")
t "the worker's endpoint refuses it (HTTP $code: $(head -c 100 "$W/answer"))" "SELECT '$code' = '400'"
t "nothing was stored" "SELECT count(*) = 0 FROM vasscm.inbox"
t "the forged container is unknown to clearance" "SELECT count(*) = 0 FROM vasscm.clearance('CSQU3054383') WHERE state = 'eligible'"
t "and the gate refuses it" "SELECT NOT allowed FROM vasscm.gate_out_check('CSQU3054383', 'X1', NULL)"
t "the refusal is logged with its reason and source" \
  "SELECT count(*) = 1 FROM vasscm.message_log WHERE kind = 'refused' AND note LIKE '%signature%' AND note LIKE '%127.0.0.1%'"

echo "the genuine 04 is applied, and only what it says"
code=$(push "$W/genuine04.xml")
t "accepted (HTTP $code)" "SELECT '$code' = '200'"
t "stored once" "SELECT count(*) = 1 FROM vasscm.inbox WHERE message_type = '04' AND applied_at IS NOT NULL"
t "MSKU1234565 is eligible" "SELECT state = 'eligible' FROM vasscm.clearance('MSKU1234565')"
t "CSQU3054383 still is not" "SELECT count(*) = 0 FROM vasscm.clearance('CSQU3054383') WHERE state = 'eligible'"
t "what is stored is the verified document; the log keeps the body as received, signature and all" \
  "SELECT i.message NOT LIKE '%Signature%' AND l.body LIKE '%<ds:Signature%'
     FROM vasscm.inbox i JOIN vasscm.message_log l ON l.transaction_id = i.transaction_id AND l.kind = 'inbound'"

echo "addressing: from customs, to this port"
scripted "$DATA" '{"Receiver_Code": "OTHERPORT"}'
code=$(push "$W/scripted.xml")
t "a genuine customs message addressed to another port is refused (HTTP $code)" \
  "SELECT '$code' = '400' AND $(grep -q 'Receiver_Code OTHERPORT is not this port' "$W/answer" && echo true || echo false)"
scripted "$DATA" '{"Sender_Code": "NOTCUSTOMS"}'
code=$(push "$W/scripted.xml")
t "one naming another sender is refused (HTTP $code)" \
  "SELECT '$code' = '400' AND $(grep -q 'Sender_Code NOTCUSTOMS is not customs' "$W/answer" && echo true || echo false)"
t "both logged, nothing stored" \
  "SELECT (SELECT count(*) FROM vasscm.message_log WHERE kind = 'refused') = 3 AND (SELECT count(*) FROM vasscm.inbox) = 1"

echo "hostile bodies: bounded log, size cap, refusals limited per source"
python3 -c "print('<Customs>' + 'A' * 600000 + '</Customs>')" > "$W/big.xml"
code=$(push "$W/big.xml")
sha=$(sha256sum "$W/big.xml" | cut -c1-64)
t "a 600 kB unsigned body is refused (HTTP $code)" "SELECT '$code' = '400'"
t "and logged as its first 4 KiB with the SHA-256 of the whole body" \
  "SELECT length(body) = 4096 AND note LIKE '%$sha%' FROM vasscm.message_log WHERE kind = 'refused' ORDER BY id DESC LIMIT 1"
python3 -c "print('<Customs>' + 'A' * 2000000 + '</Customs>')" > "$W/huge.xml"
code=$(push "$W/huge.xml")
t "a 2 MB body is refused before it is read (HTTP $code)" "SELECT '$code' = '413'"
codes=""
for _ in $(seq 1 5); do codes="$codes $(push "$W/forged04.xml")"; done
t "refusals beyond 6 a minute from one source get 429 without touching the database ($codes)" \
  "SELECT '$codes' LIKE '% 429' AND (SELECT count(*) FROM vasscm.message_log WHERE kind = 'refused') <= 8"
finish trust
