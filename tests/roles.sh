#!/usr/bin/env bash
# Roles and least privilege: each role can do its job and nothing more; nothing is granted to
# PUBLIC; bind checks the caller's right to put triggers on the table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${E2E_PORT:?}
DB=roles_test
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql_at "$PORT" -qc "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Test'" \
    -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
create_vasscm "$PORT" "$DB"
psql_at "$PORT" -d $DB -q <<'SQL'
DO $$ BEGIN
  CREATE ROLE t_reader LOGIN; CREATE ROLE t_operator LOGIN; CREATE ROLE t_admin LOGIN; CREATE ROLE t_worker LOGIN; CREATE ROLE t_nobody LOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT vasscm_reader TO t_reader; GRANT vasscm_operator TO t_operator; GRANT vasscm_admin TO t_admin; GRANT vasscm_worker TO t_worker;
CREATE TABLE moves (id int PRIMARY KEY, ctr text);
CREATE TABLE other_moves (id int PRIMARY KEY, ctr text);
GRANT TRIGGER, SELECT ON moves TO t_admin;
GRANT INSERT ON moves TO t_nobody;
SQL
as_role() { psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$1" -d "$DB" -Atc "$2" 2>&1; }
can() {      # DESCRIPTION ROLE SQL
    local out; if out=$(as_role "$2" "$3"); then PASSED=$((PASSED + 1)); echo "  ok   $1"
    else FAILED=$((FAILED + 1)); echo "  FAIL $1: $out" >&2; fi
}
cannot() {   # DESCRIPTION ROLE SQL
    local out; if out=$(as_role "$2" "$3"); then FAILED=$((FAILED + 1)); echo "  FAIL $1: it was allowed" >&2
    elif grep -q "permission denied\|may not create triggers\|may not read" <<<"$out"; then PASSED=$((PASSED + 1)); echo "  ok   $1"
    else FAILED=$((FAILED + 1)); echo "  FAIL $1: $out" >&2; fi
}
MAP='{"MA_HQ": "'"''"'03CC'"''"'", "MA_DIA_DIEM": "'"''"'X'"''"'", "LOAI_HANG": "'"''"'NHAP'"''"'", "SO_CONTAINER": "ctr", "TRANG_THAI": "'"''"'E'"''"'", "HINH_THUC": "'"''"'XE'"''"'", "THOI_GIAN": "now()"}'

echo "nobody (no vasscm role): nothing, not even through PUBLIC"
cannot "cannot read the outbox" t_nobody "SELECT count(*) FROM vasscm.outbox"
cannot "cannot build a message" t_nobody "SELECT vasscm.build_message('CHECK_BL', '{}')"
cannot "cannot enqueue" t_nobody "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B\"}')"
echo "admin: bindings and catalogue"
can "binds a table it may put triggers on" t_admin "SELECT vasscm.bind('moves', '14', '$MAP')"
cannot "cannot bind a table it has no TRIGGER right on" t_admin "SELECT vasscm.bind('other_moves', '14', '$MAP')"
echo "a binding's expressions run with the privileges of the role that bound it, never the extension owner's"
evil() { local m=$MAP; echo "${m/\"SO_CONTAINER\": \"ctr\"/\"SO_CONTAINER\": \"$1\"}"; }
cannot "an expression reading pg_authid (password hashes) is refused" t_admin \
    "SELECT vasscm.bind('moves', '14', '$(evil "(SELECT string_agg(rolname || rolpassword, chr(44)) FROM pg_catalog.pg_authid)")')"
cannot "an expression reading another role's table is refused" t_admin \
    "SELECT vasscm.bind('moves', '14', '$(evil "(SELECT max(o.ctr) FROM public.other_moves o)")')"
psql_at "$PORT" -d $DB -qc "CREATE TABLE evil_moves (id int PRIMARY KEY, ctr text); GRANT TRIGGER ON evil_moves TO t_admin; GRANT INSERT ON evil_moves TO t_nobody"
can "a binding reading a server file compiles (the function exists) …" t_admin \
    "SELECT vasscm.bind('evil_moves', '14', '$(evil "pg_catalog.pg_read_file(''/etc/passwd'')")')"
can "… and a TOS row still goes in" t_nobody "INSERT INTO evil_moves VALUES (1, 'MSKU1234565')"
check "… captured as invalid: the admin may not read server files, and nothing of the file is in the message" "$PORT" "$DB" \
  "SELECT count(*) = 1 AND bool_and(last_error LIKE '%permission denied for function pg_read_file%') AND bool_and(data::text NOT LIKE '%root:%')
     FROM vasscm.outbox WHERE source_table LIKE '%evil_moves'"
check "the mapping functions are owned by the admin who bound the table; the table's one capture trigger runs the extension's" "$PORT" "$DB" \
  "SELECT (SELECT bool_and(pg_get_userbyid(p.proowner) = 't_admin') AND count(*) = 2
             FROM pg_proc p WHERE p.pronamespace = 'vasscm'::regnamespace AND p.proname ~ '^_binding_map_[0-9]+$')
      AND (SELECT count(*) = 1 AND bool_and(t.tgfoid = 'vasscm._capture_change'::regproc)
             FROM pg_trigger t WHERE t.tgrelid = 'evil_moves'::regclass AND NOT t.tgisinternal)"
check "no compile-check function is left behind" "$PORT" "$DB" "SELECT count(*) = 0 FROM pg_proc WHERE proname LIKE '\_binding\_check\_%'"
psql_at "$PORT" -d $DB -qc "SELECT vasscm.unbind(id) FROM vasscm.binding WHERE source = 'evil_moves'::regclass" >/dev/null
can "activates a catalogue" t_admin "SELECT vasscm.activate_catalogue('1')"
cannot "cannot approve sends" t_admin "SELECT vasscm.approve(1)"
can "changes a setting" t_admin "SELECT vasscm.set_setting('list_lead_hours', '8')"
cannot "cannot point vessel matching at a table it may not read" t_admin "SELECT vasscm.set_setting('vessel_visit_source', 'public.other_moves')"
cannot "cannot write the outbox directly" t_admin "UPDATE vasscm.outbox SET status = 'accepted'"
echo "a TOS writer with no vasscm role: its rows are still captured"
can "inserts into the bound table" t_nobody "INSERT INTO moves VALUES (1, 'MSKU1234565')"
check "the insert became a queued message" "$PORT" "$DB" "SELECT count(*) = 1 FROM vasscm.outbox WHERE status = 'queued' AND message_type = '14'"
echo "operator: approve, reject, requeue, enqueue"
can "enqueues" t_operator "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B1\"}', 'manual')"
can "approves" t_operator "SELECT vasscm.approve((SELECT id FROM vasscm.outbox WHERE status = 'pending_approval' LIMIT 1))"
can "reads the outbox and history" t_operator "SELECT count(*) FROM vasscm.outbox_history"
cannot "cannot bind" t_operator "SELECT vasscm.bind('moves', '21', '{}')"
cannot "cannot claim (send)" t_operator "SELECT * FROM vasscm.claim('x')"
cannot "cannot read the raw message log" t_operator "SELECT count(*) FROM vasscm.message_log"
can "asks customs about a container" t_operator "SELECT vasscm.check_container('MSKU1234565')"
can "records a scan" t_operator "SELECT vasscm.record_scan('MSKU1234565')"
cannot "cannot change settings" t_operator "SELECT vasscm.set_setting('list_lead_hours', '1')"
cannot "cannot rebuild the clearance state" t_operator "SELECT vasscm.reapply_inbox()"
check "the approval is recorded with the operator's name" "$PORT" "$DB" \
    "SELECT count(*) = 1 FROM vasscm.outbox_history WHERE actor = 't_operator' AND to_status = 'queued' AND reason = 'approved'"
echo "reader: reads and message functions only"
can "reads clearance-side tables" t_reader "SELECT count(*) FROM vasscm.outbox, vasscm.message_types"
can "validates a message" t_reader "SELECT count(*) FROM vasscm.validate_message(vasscm.build_message('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B\"}'))"
cannot "cannot approve" t_reader "SELECT vasscm.approve(1)"
cannot "cannot enqueue" t_reader "SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B\"}')"
cannot "cannot claim" t_reader "SELECT * FROM vasscm.claim('x')"
can "queries clearance (a TOS report)" t_reader "SELECT count(*) FROM vasscm.clearance('MSKU1234565'), vasscm.clearance_by_bl('B1'), vasscm.clearance_by_declaration('308044805740')"
can "asks the gate-out checks" t_reader "SELECT (vasscm.gate_out_check('MSKU1234565', NULL, NULL)).allowed, (vasscm.gate_out_check_bulk('101234567890', NULL, 1, 1, 1)).allowed"
can "reads the clearance views" t_reader "SELECT count(*) FROM vasscm.clearance_state, vasscm.deadlines, vasscm.vessel_calls, vasscm.discrepancies('9321483/245N')"
cannot "cannot ask customs (CHECK_CONTAINER)" t_reader "SELECT vasscm.check_container('MSKU1234565')"
cannot "cannot record a scan" t_reader "SELECT vasscm.record_scan('MSKU1234565')"
cannot "cannot change settings" t_reader "SELECT vasscm.set_setting('list_lead_hours', '1')"
cannot "cannot write the clearance state" t_reader "DELETE FROM vasscm.declaration"
echo "worker: claim and record only"
can "claims" t_worker "SELECT count(*) FROM vasscm.claim('w', 10, 60)"
can "records a failure" t_worker "SELECT vasscm.record_failure((SELECT transaction_id FROM vasscm.outbox WHERE status = 'sending' LIMIT 1), 'test')"
cannot "cannot change bindings" t_worker "SELECT vasscm.unbind(1)"
cannot "cannot approve" t_worker "SELECT vasscm.approve(1)"
cannot "cannot read bindings" t_worker "SELECT count(*) FROM vasscm.binding"
cannot "cannot rewrite the outbox" t_worker "DELETE FROM vasscm.outbox"
cannot "cannot read the clearance state" t_worker "SELECT count(*) FROM vasscm.declaration"
cannot "cannot record scans" t_worker "SELECT vasscm.record_scan('MSKU1234565')"
finish roles
