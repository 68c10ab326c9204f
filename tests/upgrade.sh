#!/usr/bin/env bash
# Upgrade from the last release (0.2.0) to the current version: install the released 0.2.0, load
# data (messages in every state, their history and message log, a customs message received, a
# binding capturing TOS rows), ALTER EXTENSION vasscm UPDATE, check that nothing was lost and the
# new features work on the old data, then compare the upgraded extension with a fresh install: the same members (pg_describe_object over pg_depend),
# the same definitions of functions, views and tables, the same privileges. Finally the roles
# and clearance suites run against upgraded databases (VASSCM_UPGRADE_FROM).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${E2E_PORT:?}
OLD=0.2.0
NEW=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
q() { psql_at "$PORT" -d "$1" -Atc "$2"; }

psql_at "$PORT" -qc "DROP DATABASE IF EXISTS upgraded" -c "DROP DATABASE IF EXISTS fresh" -c "CREATE DATABASE upgraded" -c "CREATE DATABASE fresh" >/dev/null 2>&1
for db in upgraded fresh; do
    psql_at "$PORT" -qc "ALTER DATABASE $db SET vasscm.sender_code = 'CANGTEST'" -c "ALTER DATABASE $db SET vasscm.sender_name = 'Test'" \
        -c "ALTER DATABASE $db SET vasscm.receiver_code = '03CC'" -c "ALTER DATABASE $db SET vasscm.place_code = '03CCC01'"
done

echo "0.1.0 with data"
q upgraded "CREATE EXTENSION vasscm VERSION '$OLD'"
check "installed at $OLD" "$PORT" upgraded "SELECT extversion = '$OLD' FROM pg_extension WHERE extname = 'vasscm'"
q upgraded "SELECT vasscm.enqueue('CHECK_CONTAINER', jsonb_build_object('MA_HQ', '03CC', 'SO_CONTAINER', 'MSKU1234565')) FROM generate_series(1, 5);
            SELECT vasscm.enqueue('CHECK_BL', '{\"MA_HQ\": \"03CC\", \"SO_VAN_DON\": \"B1\"}', 'manual');
            SELECT vasscm.reject((SELECT id FROM vasscm.outbox WHERE status = 'pending_approval'), 'not needed');
            SELECT count(*) FROM vasscm.claim('old-worker', 2, 60);
            SELECT vasscm.record_signed(transaction_id, '<signed/>') FROM vasscm.outbox WHERE status = 'sending';
            SELECT vasscm.record_failure(transaction_id, 'customs down') FROM vasscm.outbox WHERE status = 'sending';" >/dev/null
q upgraded "SELECT vasscm.receive(vasscm.build_message('04', '{\"SO_TK\": \"308044805740\", \"NGAY_DK\": \"2026-11-25\", \"MA_HQ\": \"03CC\", \"LUONG\": \"2\",
              \"LIST_CONTAINER\": [{\"SO_CONTAINER\": \"MSKU1234565\", \"SO_NIEM_PHONG\": \"ML1\"}]}', '{\"Sender_Code\": \"TCHQ\", \"Sender_Name\": \"TCHQ\"}'))" >/dev/null
q upgraded "CREATE TABLE tos_moves (id int PRIMARY KEY, ctr text);
            SELECT vasscm.bind('tos_moves', 'CHECK_CONTAINER', '{\"MA_HQ\": \"''03CC''\", \"SO_CONTAINER\": \"ctr\"}');
            INSERT INTO tos_moves VALUES (1, 'MSKU1234565');" >/dev/null
before=$(q upgraded "SELECT (SELECT count(*) FROM vasscm.outbox) || '/' || (SELECT count(*) FROM vasscm.outbox_history) || '/' ||
                            (SELECT count(*) FROM vasscm.message_log) || '/' || (SELECT count(*) FROM vasscm.inbox)")
history_before=$(q upgraded "SELECT md5(string_agg(concat_ws('|', id, outbox_id, at, actor, from_status, to_status, reason), ',' ORDER BY id)) FROM vasscm.outbox_history")

echo "ALTER EXTENSION vasscm UPDATE"
q upgraded "ALTER EXTENSION vasscm UPDATE" >/dev/null
check "now at $NEW" "$PORT" upgraded "SELECT extversion = '$NEW' FROM pg_extension WHERE extname = 'vasscm'"
check "nothing lost: outbox / history / message log / inbox ($before)" "$PORT" upgraded \
  "SELECT (SELECT count(*) FROM vasscm.outbox) || '/' || (SELECT count(*) FROM vasscm.outbox_history) || '/' ||
          (SELECT count(*) FROM vasscm.message_log) || '/' || (SELECT count(*) FROM vasscm.inbox) = '$before'"
check "the status history is unchanged, row for row" "$PORT" upgraded \
  "SELECT md5(string_agg(concat_ws('|', id, outbox_id, at, actor, from_status, to_status, reason), ',' ORDER BY id)) = '$history_before' FROM vasscm.outbox_history"
check "the form 04 received under $OLD is now clearance state" "$PORT" upgraded \
  "SELECT state = 'eligible' AND channel_name = 'yellow' FROM vasscm.clearance('MSKU1234565')"
check "the old rows are chained and verify" "$PORT" upgraded \
  "SELECT bool_and(first_broken_id IS NULL AND rows_checked > 0 AND unsealed = 0) FROM vasscm.verify_audit()"
check "the binding made under $OLD now maps as the role that created it" "$PORT" upgraded \
  "SELECT pg_get_userbyid(proowner) = 'postgres' FROM pg_proc WHERE proname = '_binding_map_1'"
q upgraded "INSERT INTO tos_moves VALUES (2, 'MSKU1234565')" >/dev/null
check "and still captures TOS rows" "$PORT" upgraded \
  "SELECT count(*) = 2 FROM vasscm.outbox WHERE message_type = 'CHECK_CONTAINER' AND binding_id = 1"
old_max=$(q upgraded "SELECT max(id) FROM vasscm.outbox_history")
q upgraded "UPDATE vasscm.outbox SET next_attempt_at = now() WHERE status = 'queued'" >/dev/null   # no waiting for the back-off
check "the queue still works on the old messages" "$PORT" upgraded "SELECT count(*) = 1 FROM vasscm.claim('new-worker', 10, 60)"
check "new history rows continue the ids" "$PORT" upgraded \
  "SELECT min(id) > $old_max AND count(*) = 1 FROM vasscm.outbox_history WHERE id > $old_max"
check "the audit tables refuse changes after the upgrade too" "$PORT" upgraded \
  "SELECT \$x\$$(q upgraded "DELETE FROM vasscm.message_log" 2>&1 || true)\$x\$ LIKE '%message_log is append-only: DELETE refused%'"

echo "upgraded = fresh install"
q fresh "CREATE EXTENSION vasscm"
describe() {   # DB: every member of the extension with its definition and privileges
    q "$1" "SET TimeZone = 'UTC';
      SELECT string_agg(d, E'\n' ORDER BY d) FROM (
        SELECT pg_describe_object(dep.classid, dep.objid, 0) || ' ' || coalesce(CASE dep.classid
            WHEN 'pg_proc'::regclass THEN (SELECT md5(pg_get_functiondef(p.oid)) || ' ' || coalesce(p.proacl::text, '') FROM pg_proc p WHERE p.oid = dep.objid)
            WHEN 'pg_class'::regclass THEN (SELECT c.relkind::text || ' ' || coalesce(c.relacl::text, '') || ' ' ||
                   coalesce(pg_get_viewdef(c.oid), '') || ' ' ||
                   coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull || ':' ||
                                               coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''), ',' ORDER BY a.attnum)
                               FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ' ||
                   coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY pg_get_indexdef(i.indexrelid)) FROM pg_index i WHERE i.indrelid = c.oid), '') || ' ' ||
                   coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || t.tgenabled::text, ',' ORDER BY t.tgname) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
                   FROM pg_class c WHERE c.oid = dep.objid)
            ELSE '' END, '') AS d
          FROM pg_depend dep
         WHERE dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
           AND dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vasscm')) x"
}
describe upgraded > "$RUN_DIR/upgraded.members"
describe fresh > "$RUN_DIR/fresh.members"
n=$(wc -l < "$RUN_DIR/fresh.members")
if diff -u "$RUN_DIR/fresh.members" "$RUN_DIR/upgraded.members" > "$RUN_DIR/members.diff"; then
    PASSED=$((PASSED + 1)); echo "  ok   the same $n members, definitions and privileges"
else
    FAILED=$((FAILED + 1)); echo "  FAIL the upgraded extension differs from a fresh install:" >&2; head -40 "$RUN_DIR/members.diff" >&2
fi
check "the extension's configuration tables for pg_dump are the same" "$PORT" upgraded \
  "SELECT (SELECT array_length(extconfig, 1) FROM pg_extension WHERE extname = 'vasscm') = $(q fresh "SELECT array_length(extconfig, 1) FROM pg_extension WHERE extname = 'vasscm'")"

psql_at "$PORT" -qc "DROP DATABASE IF EXISTS chained" -c "CREATE DATABASE chained" >/dev/null 2>&1
q chained "CREATE EXTENSION vasscm VERSION '0.1.0'; ALTER EXTENSION vasscm UPDATE" >/dev/null
check "0.1.0 upgrades to $NEW through every release" "$PORT" chained "SELECT extversion = '$NEW' FROM pg_extension WHERE extname = 'vasscm'"

echo "the suites on upgraded databases"
if VASSCM_UPGRADE_FROM=$OLD bash "$ROOT/tests/roles.sh" | tail -1 | grep -q ", 0 failed"; then PASSED=$((PASSED + 1)); echo "  ok   roles.sh on a database upgraded from $OLD"
else FAILED=$((FAILED + 1)); echo "  FAIL roles.sh on a database upgraded from $OLD" >&2; fi
if VASSCM_UPGRADE_FROM=$OLD bash "$ROOT/tests/clearance_scenarios.sh" | tail -1 | grep -q ", 0 failed"; then PASSED=$((PASSED + 1)); echo "  ok   clearance_scenarios.sh on a database upgraded from $OLD"
else FAILED=$((FAILED + 1)); echo "  FAIL clearance_scenarios.sh on a database upgraded from $OLD" >&2; fi
finish upgrade
