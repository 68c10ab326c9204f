#!/usr/bin/env bash
# Benchmark: a year of audit rows, sealed and verified; bytes per row; the disk a terminal needs
# to keep 5 years (article 52đ).
#
# 1. Real rows first: N_REAL form-21 gate-outs enqueued through vasscm.enqueue (checked, built,
#    queued, with their history), to measure the outbox and history bytes per row.
# 2. A year (DAYS) of P→C traffic at MSG_PER_DAY messages a day, in monthly partitions: per
#    message a signed message and customs' signed reply in vasscm.message_log (bodies the size
#    and make-up of the real ones: the built XML of a form 21 / 200 with an XML-DSig block whose
#    signature and certificate are incompressible base64, as real ones are), one customs →
#    port message per ten, and three status changes (queued, sending, accepted) in
#    vasscm.outbox_history. Rows are inserted unsealed, then vasscm.seal_audit() chains them
#    (the production job), then vasscm.verify_audit(false) checks both chains: rows / s.
# 3. Bytes per row (table + TOAST + indexes) and the estimate for a terminal of MOVES moves a
#    day at MSG_PER_MOVE messages per move over 5 years.
# Not a test: prints figures. Usage: bench/audit_year.sh [MSG_PER_DAY] [DAYS]
#   (default 1000 a day for 365 days: ≈ 1.9 M audit rows, ≈ 3 GB; 30000 is a large terminal's day)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
MSG_PER_DAY=${1:-1000}
DAYS=${2:-365}
N_REAL=${N_REAL:-20000}
MOVES=${MOVES:-15000}
MSG_PER_MOVE=${MSG_PER_MOVE:-2}
PORT=${BENCH_PORT:-55437}
DB=vasscm_bench_audit
ensure_setup
install_extension
start_cluster bench_audit "$PORT"
trap 'stop_cluster bench_audit' EXIT
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION vasscm" -c "SELECT count(*) FROM vasscm.maintain_partitions()" >/dev/null
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
secs() { date +%s.%N; }

log "1. $N_REAL real gate-outs (form 21) through vasscm.enqueue"
psql_at "$PORT" -d "$DB" -q <<SQL
SET vasscm.sender_code = 'CANGTEST'; SET vasscm.sender_name = 'Cảng thử nghiệm'; SET vasscm.receiver_code = '03CC';
SELECT count(vasscm.enqueue('21', jsonb_build_object(
         'MA_HQ', '03CC', 'MA_DIA_DIEM', '03CCC01', 'LOAI_HANG', 'NHAP',
         'SO_CONTAINER', 'BNCU' || lpad(i::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(i::text, 6, '0')),
         'TRANG_THAI', 'F', 'SO_NIEM_PHONG', 'ML' || i, 'LIST_TK', jsonb_build_array((300000000000 + i / 20)::text),
         'PHUONG_TIEN', 'XE', 'SO_PHUONG_TIEN', '15C-' || lpad((i % 100000)::text, 5, '0'), 'CO_CHUNG_TU', 'Y',
         'THOI_GIAN', to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS"+07:00"'))))
  FROM generate_series(1, $N_REAL) AS i;
VACUUM ANALYZE vasscm.outbox;
SQL
outbox_row=$(q "SELECT round(pg_total_relation_size('vasscm.outbox')::numeric / count(*)) FROM vasscm.outbox")
real_hist=$(q "SELECT round(sum(pg_column_size(h.*))::numeric / count(*)) FROM vasscm.outbox_history h")

log "2. a year: $MSG_PER_DAY messages a day for $DAYS days"
psql_at "$PORT" -d "$DB" -q <<SQL
SET TimeZone = 'UTC';
-- one partition per month of the year, made ahead as vasscm.maintain_partitions() would
DO \$\$
DECLARE
    m date;
    t text;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now() - make_interval(days => $DAYS)), date_trunc('month', now()) + interval '2 months', interval '1 month')::date LOOP
        FOREACH t IN ARRAY ARRAY['message_log', 'outbox_history'] LOOP
            IF to_regclass(format('vasscm.%I', t || '_y' || to_char(m, 'YYYY"m"MM'))) IS NULL THEN
                EXECUTE format('CREATE TABLE vasscm.%I PARTITION OF vasscm.%I FOR VALUES FROM (%L) TO (%L)',
                               t || '_y' || to_char(m, 'YYYY"m"MM'), t, m::timestamptz, (m + interval '1 month')::timestamptz);
            END IF;
        END LOOP;
    END LOOP;
END
\$\$;
SQL
N=$((MSG_PER_DAY * DAYS))
t0=$(secs)
psql_at "$PORT" -d "$DB" -q <<SQL
SET TimeZone = 'UTC';
-- the XML-DSig block of profile v1 (a 2048-bit RSA signature and the port's certificate, base64)
CREATE TEMP TABLE tpl AS
WITH b64 AS (SELECT (SELECT encode(string_agg(sha256(convert_to(g::text || s, 'UTF8')), ''), 'base64') FROM generate_series(1, n) g) AS v, s
               FROM (VALUES ('sig', 8), ('cert', 30)) AS x(s, n)),
sig AS (SELECT '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>'
               || (SELECT v FROM b64 WHERE s = 'sig') || '</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509SubjectName>CN=Cảng Test,O=Cang Test JSC,C=VN</ds:X509SubjectName><ds:X509Certificate>'
               || (SELECT v FROM b64 WHERE s = 'cert') || '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>' AS block)
SELECT replace(vasscm.build_message('21', (SELECT example FROM vasscm.catalogue_message WHERE code = '21' LIMIT 1),
                                    '{"Sender_Code": "CANGTEST", "Sender_Name": "Cảng thử nghiệm", "Receiver_Code": "03CC"}'),
               '</Customs>', (SELECT block FROM sig) || '</Customs>') AS signed,
       replace(vasscm.build_message('200', (SELECT example FROM vasscm.catalogue_message WHERE code = '200' LIMIT 1),
                                    '{"Sender_Code": "TCHQ", "Sender_Name": "Tổng cục Hải quan", "Receiver_Code": "CANGTEST"}'),
               '</Customs>', (SELECT block FROM sig) || '</Customs>') AS reply,
       replace(vasscm.build_message('04', (SELECT example FROM vasscm.catalogue_message WHERE code = '04' LIMIT 1),
                                    '{"Sender_Code": "TCHQ", "Sender_Name": "Tổng cục Hải quan", "Receiver_Code": "CANGTEST"}'),
               '</Customs>', (SELECT block FROM sig) || '</Customs>') AS inbound;
-- the templates' sizes (the real ones in tests: signed ≈ 3.3 kB, reply ≈ 3.7 kB)
SELECT 'template bytes: signed ' || octet_length(signed) || ', reply ' || octet_length(reply) || ', inbound ' || octet_length(inbound) FROM tpl;
-- message i at start + i * step; the Transaction_ID of each body is its own
INSERT INTO vasscm.message_log (at, transaction_id, direction, kind, http_status, body, actor)
SELECT now() - make_interval(days => $DAYS) + make_interval(secs => i * ($DAYS * 86400.0 / $N) + k * 0.3), tid,
       CASE k WHEN 0 THEN 'out' ELSE 'in' END, CASE k WHEN 0 THEN 'signed' WHEN 1 THEN 'reply' ELSE 'inbound' END,
       CASE k WHEN 1 THEN 200 END,
       replace(CASE k WHEN 0 THEN tpl.signed WHEN 1 THEN tpl.reply ELSE tpl.inbound END, '<Transaction_ID>', '<Transaction_ID>' || left(tid::text, 8)),
       'vasscm_worker_svc'
  FROM generate_series(1, $N) AS i
 CROSS JOIN LATERAL (SELECT gen_random_uuid() AS tid) u
 CROSS JOIN LATERAL generate_series(0, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END) AS k
 CROSS JOIN tpl;
INSERT INTO vasscm.outbox_history (outbox_id, transaction_id, at, actor, from_status, to_status, reason)
SELECT i, tid, now() - make_interval(days => $DAYS) + make_interval(secs => i * ($DAYS * 86400.0 / $N) + k * 0.1),
       CASE k WHEN 2 THEN 'vasscm_worker_svc' ELSE 'tos_repl' END,
       (ARRAY[NULL, 'queued', 'sending'])[k + 1], (ARRAY['queued', 'sending', 'accepted'])[k + 1],
       (ARRAY[NULL, 'claimed by worker-1', 'accepted by customs'])[k + 1]
  FROM generate_series(1, $N) AS i
 CROSS JOIN LATERAL (SELECT gen_random_uuid() AS tid) u
 CROSS JOIN generate_series(0, 2) AS k;
SQL
t1=$(secs)
rows=$(q "SELECT (SELECT count(*) FROM vasscm.message_log) + (SELECT count(*) FROM vasscm.outbox_history)")
log "   $rows audit rows inserted in $(printf '%.0f' "$(echo "$t1 - $t0" | bc)") s; sealing (vasscm.seal_audit)"
sealed=$(PGOPTIONS="-c client_min_messages=warning" q "SELECT vasscm.seal_audit()")
t2=$(secs)
psql_at "$PORT" -d "$DB" -qc "VACUUM ANALYZE vasscm.message_log" -c "VACUUM ANALYZE vasscm.outbox_history"
log "   verifying (vasscm.verify_audit)"
t3=$(secs)
verify=$(PGOPTIONS="-c client_min_messages=warning" q "SELECT string_agg(table_name || ' ' || rows_checked || ' rows, broken: ' || coalesce(first_broken_seq::text, 'none'), '; ') FROM vasscm.verify_audit(false)")
t4=$(secs)
size() {   # TABLE: bytes per row over its monthly partitions (heap + TOAST + indexes)
    q "SELECT round(sum(pg_total_relation_size(c.oid))::numeric / (SELECT count(*) FROM vasscm.$1))
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'vasscm.$1'::regclass"
}
ml_row=$(size message_log); oh_row=$(size outbox_history)
# the same, packed (what the space of a year is once autovacuum has reused the sealing's dead rows)
part=$(q "SELECT c.relname FROM vasscm.message_log x JOIN pg_class c ON c.oid = x.tableoid GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
hpart=$(q "SELECT c.relname FROM vasscm.outbox_history x JOIN pg_class c ON c.oid = x.tableoid GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
psql_at "$PORT" -d "$DB" -qc "VACUUM FULL vasscm.$part" -c "VACUUM FULL vasscm.$hpart"
ml_packed=$(q "SELECT round(pg_total_relation_size('vasscm.$part')::numeric / count(*)) FROM vasscm.$part")
oh_packed=$(q "SELECT round(pg_total_relation_size('vasscm.$hpart')::numeric / count(*)) FROM vasscm.$hpart")
ml_rows=$(q "SELECT count(*) FROM vasscm.message_log"); oh_rows=$(q "SELECT count(*) FROM vasscm.outbox_history")
cat <<EOF

audit rows of a year ($MSG_PER_DAY P→C messages a day × $DAYS days): message_log $ml_rows, outbox_history $oh_rows
  sealing  (seal_audit):   $sealed rows in $(printf '%.1f' "$(echo "$t2 - $t1" | bc)") s = $(printf '%.0f' "$(echo "$sealed / ($t2 - $t1)" | bc -l)") rows/s
  verifying (verify_audit): $verify
                            $rows rows in $(printf '%.1f' "$(echo "$t4 - $t3" | bc)") s = $(printf '%.0f' "$(echo "$rows / ($t4 - $t3)" | bc -l)") rows/s
bytes per row (heap + TOAST + indexes): message_log $ml_row as written ($ml_packed packed), outbox_history $oh_row ($oh_packed packed);
  real rows: outbox $outbox_row (of $N_REAL enqueued form 21, indexes included), outbox_history row data $real_hist
EOF
MSG_DAY=$((MOVES * MSG_PER_MOVE))
python3 - <<EOF
msg_day = $MSG_DAY
days = 5 * 365.25
ml = $ml_packed * 2.1     # signed + reply per message, an inbound customs message per ten
oh = $oh_packed * 3       # queued, sending, accepted
ob = $outbox_row          # the outbox row itself (kept: the ledger)
per_msg = ml + oh + ob
total = per_msg * msg_day * days
print(f"disk for {$MOVES:,} moves a day × {$MSG_PER_MOVE} messages per move = {msg_day:,} messages a day, kept 5 years:")
print(f"  per message {per_msg:,.0f} B (message_log {ml:,.0f}, outbox_history {oh:,.0f}, outbox {ob:,.0f})")
print(f"  a day {per_msg * msg_day / 1e9:.2f} GB, a year {per_msg * msg_day * 365.25 / 1e9:.0f} GB, 5 years {total / 1e12:.2f} TB (without WAL, backups, inbox)")
print(f"  verify_audit of one year of it: {msg_day * 365.25 * 5.1 / 1e6:.0f} M rows")
EOF
