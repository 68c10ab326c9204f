#!/usr/bin/env bash
# Operations end to end: pg_cron jobs on a cluster with pg_cron preloaded (scheduled under
# stable names, idempotently, and really run), the clear error without pg_cron; the audit
# tables append-only for everyone and their hash chains verified, tampering found at the
# right row; monthly partitions and retention; monitoring views and the worker's /metrics
# and /healthz after real sends through the simulator.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${OPS_DB_PORT:-55520}
SIM_PORT=${OPS_SIM_PORT:-55530}
METRICS_PORT=${OPS_METRICS_PORT:-55531}
PLAIN=${E2E_PORT:?}
BIN="$ROOT/target/release"
W="$RUN_DIR/operations-test"
DB=vasscm_ops
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"

make_pki "$W"
fresh_cluster ops_db "$PORT" shared_preload_libraries=pg_cron cron.database_name=$DB
trap 'stop_simulator "$W"; kill $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster ops_db' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
psql_at "$PORT" -d "$DB" -qc "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION vasscm"
q() { psql_at "$PORT" -d "$DB" -Atc "$1"; }
t() { check "$1" "$PORT" "$DB" "$2"; }
refused() {   # DESCRIPTION SQL EXPECTED-TEXT
    local out; out=$(psql_at "$PORT" -d "$DB" -Atc "$2" 2>&1 || true)
    if grep -qF -- "$3" <<<"$out"; then PASSED=$((PASSED + 1)); echo "  ok   $1"
    else FAILED=$((FAILED + 1)); echo "  FAIL $1 (got: $out)" >&2; fi
}

echo "pg_cron: jobs under stable names, idempotent, really run"
t "schedule_jobs() creates the ten jobs" \
  "SELECT count(*) = 10 FROM vasscm.schedule_jobs()"
first=$(q "SELECT string_agg(jobid::text || jobname, ',' ORDER BY jobname) FROM cron.job")
q "SELECT count(*) FROM vasscm.schedule_jobs()" >/dev/null
t "scheduling again changes nothing (same names, same ids)" \
  "SELECT string_agg(jobid::text || jobname, ',' ORDER BY jobname) = '$first' AND count(*) = 10 FROM cron.job"
t "every job is an ordinary function that works by hand" \
  "SELECT vasscm.requeue_expired() >= 0 AND vasscm.refresh_deadline_alerts() >= 0 AND vasscm.discharge_done_due() >= 0
      AND vasscm.match_vessels_job() = 0 AND vasscm.seal_audit() >= 0 AND (SELECT count(*) FROM vasscm.maintain_partitions()) >= 0"
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B0\"}')" >/dev/null
# a worker claims it with a lease that runs out at once, then dies
q "SELECT count(*) FROM vasscm.claim('crashed-worker', 10, 0)" >/dev/null
echo "  (waiting up to 75 s for pg_cron's next minute)"
wait_until "$PORT" "$DB" "SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                          WHERE j.jobname = 'vasscm-requeue' AND d.status = 'succeeded'" 75 || true
t "pg_cron ran vasscm-requeue: the expired lease is queued again" \
  "SELECT status = 'queued' FROM vasscm.outbox WHERE claimed_by IS NULL AND message_type = 'CHECK_BL'"
t "pg_cron ran the other minute jobs without error" \
  "SELECT count(DISTINCT j.jobname) >= 3 AND bool_and(d.status = 'succeeded') FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
removed=$(q "SELECT vasscm.unschedule_jobs()")
t "unschedule_jobs() removes them all ($removed)" "SELECT $removed = 10 AND NOT EXISTS (SELECT 1 FROM cron.job)"
q "SELECT count(*) FROM vasscm.schedule_jobs()" >/dev/null
psql_at "$PLAIN" -qc "DROP DATABASE IF EXISTS ops_nocron" -c "CREATE DATABASE ops_nocron" >/dev/null 2>&1
psql_at "$PLAIN" -d ops_nocron -qc "CREATE EXTENSION vasscm"
out=$(psql_at "$PLAIN" -d ops_nocron -Atc "SELECT vasscm.schedule_jobs()" 2>&1 || true)
check "without pg_cron: a clear error saying what to add" "$PORT" "$DB" \
  "SELECT \$o\$$out\$o\$ LIKE '%pg_cron is not loaded%shared_preload_libraries = ''pg_cron''%cron.database_name = ''ops_nocron''%'"
check "... and the extension works without it" "$PLAIN" ops_nocron "SELECT vasscm.requeue_expired() = 0"

echo "worker: real sends, then monitoring views and /metrics, /healthz"
start_simulator "$W" "$SIM_PORT"
worker_config "$W/worker.toml" "$PORT" "$DB" "$SIM_PORT" "[metrics]
listen = \"127.0.0.1:$METRICS_PORT\""
q "SELECT vasscm.enqueue('CHECK_CONTAINER', jsonb_build_object('MA_HQ', '03CC', 'SO_CONTAINER', 'MSKU1234565')) FROM generate_series(1, 20)" >/dev/null
q "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B1\"}', 'manual')" >/dev/null
"$BIN/vasscm-worker" run --config "$W/worker.toml" >> "$W/worker.log" 2>&1 &
echo $! > "$W/worker.pid"
disown
wait_until "$PORT" "$DB" "SELECT count(*) = 21 FROM vasscm.outbox WHERE status = 'accepted'" 60 || true
t "queue_depth by status and type" \
  "SELECT messages = 1 FROM vasscm.queue_depth WHERE status = 'pending_approval' AND message_type = 'CHECK_BL'"
t "oldest_waiting: the message awaiting approval" "SELECT status = 'pending_approval' AND waiting > interval '0' FROM vasscm.oldest_waiting"
q "SELECT vasscm.set_setting('stuck_after_minutes', '0')" >/dev/null
t "stuck_messages lists it once the threshold passes (one query)" "SELECT count(*) = 1 FROM vasscm.stuck_messages"
t "error_rates: 21 accepted in the last hour, nothing rejected" \
  "SELECT accepted = 21 AND rejected = 0 AND rejection_rate = 0 FROM vasscm.error_rates WHERE period = '1 hour'"
t "latency: signing and sending percentiles" \
  "SELECT messages = 20 AND sign_ms_p50 > 0 AND send_ms_p99 >= send_ms_p50 AND total_ms_p50 > 0 FROM vasscm.latency WHERE message_type = 'CHECK_CONTAINER'"
metrics=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
check "/metrics: accepted messages counted" "$PORT" "$DB" \
  "SELECT \$m\$$metrics\$m\$ LIKE '%vasscm_worker_messages_total{status=\"accepted\"} 21%'"
check "/metrics: signing histogram and the queue from the database" "$PORT" "$DB" \
  "SELECT \$m\$$metrics\$m\$ LIKE '%vasscm_worker_sign_seconds_count 21%' AND \$m\$$metrics\$m\$ LIKE '%vasscm_outbox_messages{status=\"pending_approval\"} 1%'"
check "/healthz: ok" "$PORT" "$DB" "SELECT '$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz")' = '200'"
check "served on loopback only" "$PORT" "$DB" "SELECT $(ss -ltn | grep -c "127.0.0.1:$METRICS_PORT") = 1"
kill -TERM "$(cat "$W/worker.pid")" 2>/dev/null || true

echo "audit: append-only for everyone, hash chains, tampering found"
t "verify_audit: both chains intact" \
  "SELECT bool_and(first_broken_id IS NULL AND unsealed = 0 AND rows_checked > 0) FROM vasscm.verify_audit()"
refused "UPDATE of message_log refused (even for a superuser)" "UPDATE vasscm.message_log SET note = 'x'" "message_log is append-only: UPDATE refused"
refused "DELETE of outbox_history refused" "DELETE FROM vasscm.outbox_history" "is append-only: DELETE refused"
refused "TRUNCATE refused" "TRUNCATE vasscm.message_log" "is append-only: TRUNCATE refused"
refused "a sealed row cannot be re-sealed" "SET vasscm.audit_sealing = 'on'; UPDATE vasscm.message_log SET row_hash = NULL" "append-only: UPDATE refused"
victim=$(q "SELECT id FROM vasscm.message_log WHERE kind = 'reply' ORDER BY chain_seq LIMIT 1 OFFSET 5")
q "ALTER TABLE vasscm.message_log DISABLE TRIGGER message_log_append_only;
   UPDATE vasscm.message_log SET body = replace(body, 'Tiếp nhận', 'Từ chối') WHERE id = $victim;
   ALTER TABLE vasscm.message_log ENABLE ALWAYS TRIGGER message_log_append_only" >/dev/null
t "a changed row is found: the first broken link is that row" \
  "SELECT first_broken_id = $victim AND problem LIKE 'the row was changed%' FROM vasscm.verify_audit() WHERE table_name = 'message_log'"
gone=$(q "SELECT id FROM vasscm.outbox_history ORDER BY chain_seq LIMIT 1 OFFSET 10")
q "ALTER TABLE vasscm.outbox_history DISABLE TRIGGER outbox_history_append_only;
   DELETE FROM vasscm.outbox_history WHERE id = $gone;
   ALTER TABLE vasscm.outbox_history ENABLE ALWAYS TRIGGER outbox_history_append_only" >/dev/null
t "a deleted row is found: the chain has a hole right after it" \
  "SELECT problem LIKE 'rows 11 to 11 of the chain are missing%' FROM vasscm.verify_audit() WHERE table_name = 'outbox_history'"

echo "partitions and retention"
t "monthly partitions made ahead: this month and the next two" \
  "SELECT count(*) = 3 FROM vasscm._audit_partitions('message_log') WHERE month >= date_trunc('month', now())"
t "retention: 60 months by default (article 52đ: 5 years)" "SELECT value = '60' FROM vasscm.setting WHERE name = 'audit_retention_months'"
refused "retention under five years refused" "SELECT vasscm.set_setting('audit_retention_months', '59')" "must be at least 60"
psql_at "$PORT" -qc "CREATE DATABASE ops_retention" >/dev/null
psql_at "$PORT" -d ops_retention -qc "CREATE EXTENSION vasscm"
r() { psql_at "$PORT" -d ops_retention -Atc "$1"; }
r "INSERT INTO vasscm.message_log (at, direction, kind, note) VALUES
     (now() - interval '62 months', 'in', 'refused', 'old 1'), (now() - interval '61 months', 'in', 'refused', 'old 2'),
     (now() - interval '59 months', 'in', 'refused', 'young'), (now() - interval '2 months', 'in', 'refused', 'recent'),
     (now(), 'in', 'refused', 'now')" >/dev/null
r "SELECT vasscm.seal_audit()" >/dev/null
check "rows of months without partition wait in the default partition" "$PORT" ops_retention \
  "SELECT count(*) = 5 FROM vasscm.message_log_default"
actions=$(r "SELECT string_agg(action || ' ' || regexp_replace(partition, '^message_log_', '') || ' ' || rows, ', ' ORDER BY action, partition) FROM vasscm.maintain_partitions() WHERE table_name = 'message_log'")
echo "    maintain_partitions: $actions"
check "months older than 5 years dropped, younger ones (59 months) kept, made and filled from the default partition" "$PORT" ops_retention \
  "SELECT count(*) = 3 FROM vasscm.message_log WHERE note IN ('young', 'recent', 'now') AND (SELECT count(*) FROM vasscm.message_log) = 3
      AND (SELECT count(*) FROM vasscm.message_log_default) = 0"
check "the anchor keeps the chain verifiable after the cut" "$PORT" ops_retention \
  "SELECT (SELECT max(up_to_seq) FROM vasscm.audit_anchor WHERE table_name = 'message_log') = 2 AND v.first_broken_id IS NULL AND v.rows_checked = 3
     FROM vasscm.verify_audit() v WHERE v.table_name = 'message_log'"
echo "backups: pg_dump keeps every row"
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS ops_restored" -c "CREATE DATABASE ops_restored" >/dev/null 2>&1
pg_dump -h 127.0.0.1 -p "$PORT" -U postgres "$DB" > "$W/dump.sql"
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d ops_restored -f "$W/dump.sql" > "$W/restore.log" 2>&1 || true
counts="SELECT (SELECT count(*) FROM vasscm.outbox) || '/' || (SELECT count(*) FROM vasscm.outbox_history) || '/' || (SELECT count(*) FROM vasscm.message_log) || '/' || (SELECT count(*) FROM vasscm.inbox)"
check "outbox, history, message log and inbox restored row for row ($(q "$counts"))" "$PORT" ops_restored "$counts = '$(q "$counts")'"
# pg_dump recreates each audit partition, attaches it (the parent, made by CREATE EXTENSION,
# gives it its key and indexes), then adds them again: those errors change nothing.
other_errors=$(grep 'ERROR' "$W/restore.log" | grep -v '"\(message_log\|outbox_history\)_y[0-9]\{4\}m[0-9][0-9]' | grep -vc 'cron\|can only create extension in database' || true)
check "restore errors: only the audit partitions' keys and indexes, which the parent already gave them (and pg_cron, bound to its own database)" \
  "$PORT" ops_restored "SELECT $other_errors = 0"
broken="SELECT string_agg(table_name || ':' || coalesce(first_broken_seq::text, '-') || ':' || rows_checked, ',' ORDER BY table_name) FROM vasscm.verify_audit(false)"
check "the restored chains verify to the same result, breaks included ($(q "$broken"))" "$PORT" ops_restored "SELECT ($broken) = '$(q "$broken")'"
finish operations
