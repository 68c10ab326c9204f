#!/usr/bin/env bash
# Capture under real logical replication: a "TOS" cluster (publisher, no vasscm) and a replica
# cluster (subscriber, with vasscm and the generic example bindings). Rows inserted, updated
# and deleted on the TOS become the right outbox rows on the replica; bad rows become
# 'invalid' while replication keeps streaming; aborted TOS transactions leave nothing;
# concurrent writers lose nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PUB=${REPL_PUB_PORT:-55451}
SUB=${REPL_SUB_PORT:-55452}
EX="$ROOT/sql/examples"

fresh_cluster tos_pub "$PUB"
fresh_cluster tos_sub "$SUB"
trap 'stop_cluster tos_sub; stop_cluster tos_pub' EXIT
psql_at "$PUB" -qc "CREATE DATABASE tos"
psql_at "$PUB" -d tos -q -f "$EX/generic_tos_tables.sql"
psql_at "$PUB" -d tos -qc "CREATE PUBLICATION tos_pub FOR TABLE tos_container_move, tos_cargo_move, tos_seal_change"

psql_at "$SUB" -qc "CREATE DATABASE replica" >/dev/null
psql_at "$SUB" -qc "ALTER DATABASE replica SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE replica SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE replica SET vasscm.receiver_code = '03CC'"
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_tables.sql"
psql_at "$SUB" -d replica -qc "CREATE EXTENSION vasscm"
psql_at "$SUB" -d replica -q -f "$EX/generic_tos_bindings.sql" >/dev/null
psql_at "$SUB" -d replica -qc "CREATE SUBSCRIPTION tos_sub CONNECTION 'host=127.0.0.1 port=$PUB dbname=tos user=postgres' PUBLICATION tos_pub"
wait_until "$SUB" replica "SELECT count(*) = 3 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel"

pub() { psql_at "$PUB" -d tos -qc "$1" >/dev/null; }
q() { psql_at "$SUB" -d replica -Atc "$1"; }

echo "gate-in, amendment, cancellation"
pub "INSERT INTO tos_container_move (move_id, container_no, iso_type, line_seal, bl_no, vessel_name, vessel_imo, voyage, gate_in_at, weight_kg)
     VALUES (1, 'MSKU1234565', '45G1', 'ML1', 'BL1', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:15+00', 18250.5),
            (2, 'TGHU7654320', '22G1', 'ML2', 'BL2', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:16+00', 9000),
            (3, 'CSQU3054383', '22G1', 'ML3', 'BL3', 'MAERSK HAI PHONG', '9321483', '245N', '2026-11-26 00:17+00', 9100)"
wait_until "$SUB" replica "SELECT count(*) = 3 FROM vasscm.outbox WHERE message_type = '14'"
check "three gate-ins queued with their XML" "$SUB" replica \
    "SELECT count(*) = 3 FROM vasscm.outbox WHERE message_type = '14' AND status = 'queued' AND message LIKE '%<Message_Type>14</Message_Type>%'"
check "each validates" "$SUB" replica \
    "SELECT bool_and(NOT EXISTS (SELECT 1 FROM vasscm.validate_message(message))) FROM vasscm.outbox"
# customs has the three gate-ins (no worker runs here: recorded as accepted), so corrections
# are amendments and a withdrawal is a cancellation (before sending they are rebuilt / withdrawn).
q "UPDATE vasscm.outbox SET status = 'accepted' WHERE message_type = '14'" >/dev/null
pub "UPDATE tos_container_move SET line_seal = 'ML1-B' WHERE move_id = 1"
pub "DELETE FROM tos_container_move WHERE move_id = 2"
wait_until "$SUB" replica "SELECT count(*) = 2 FROM vasscm.outbox WHERE message_type IN ('16', '17')"
check "update → amendment 16 referencing the original" "$SUB" replica \
    "SELECT count(*) = 1 FROM vasscm.outbox a JOIN vasscm.outbox o ON o.transaction_id = a.original_transaction_id
      WHERE a.message_type = '16' AND o.data ->> 'SO_CONTAINER' = 'MSKU1234565' AND a.data ->> 'SO_NIEM_PHONG' = 'ML1-B'
        AND a.data ->> 'TRANSACTION_ID_GOC' = o.transaction_id::text AND a.status = 'queued'"
check "delete → cancellation 17 referencing the original" "$SUB" replica \
    "SELECT count(*) = 1 FROM vasscm.outbox c JOIN vasscm.outbox o ON o.transaction_id = c.original_transaction_id
      WHERE c.message_type = '17' AND o.data ->> 'SO_CONTAINER' = 'TGHU7654320' AND c.status = 'queued'"
check "follow-ups come after their original (id order, same order key)" "$SUB" replica \
    "SELECT bool_and(f.id > o.id AND f.order_key = o.order_key) FROM vasscm.outbox f JOIN vasscm.outbox o ON o.transaction_id = f.original_transaction_id"

echo "gate-out and seal change"
pub "UPDATE tos_container_move SET gate_out_at = '2026-11-26 08:40+00', out_by = 'TRUCK', out_vehicle = '15C-123.45',
       declarations = '{308044805740,308044805741}' WHERE move_id = 3"
pub "INSERT INTO tos_seal_change VALUES (1, 'MSKU1234565', 'LINE', 'ML1-B', 'ML9', 'Niêm phong đứt khi nâng hạ', '2026-11-26 02:00+00')"
wait_until "$SUB" replica "SELECT count(*) = 2 FROM vasscm.outbox WHERE message_type IN ('21', '24')"
check "gate-out 21 with both declarations" "$SUB" replica \
    "SELECT count(*) = 1 FROM vasscm.outbox WHERE message_type = '21' AND status = 'queued'
        AND message LIKE '%<LIST_TK><SO_TK>308044805740</SO_TK><SO_TK>308044805741</SO_TK></LIST_TK>%'"
check "seal change 24 queued" "$SUB" replica "SELECT count(*) = 1 FROM vasscm.outbox WHERE message_type = '24' AND status = 'queued'"

echo "packages, dry bulk, liquid"
pub "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, quantity, quantity_unit, weight_tonnes, volume_m3, means, vehicle, moved_at, declaration_no) VALUES
       (1, 'PACKAGE', 'IN', 'HPBL0002', 40, 'CUON', 800.25, NULL, 'VESSEL', '3WAB7', '2026-11-27 09:30+00', NULL),
       (2, 'BULK', 'IN', 'HPBL0001', NULL, NULL, 5000, NULL, 'VESSEL', '3WAB7', '2026-11-27 09:31+00', NULL),
       (3, 'LIQUID', 'IN', 'HPBL0003', NULL, NULL, 3200, 3810.2, 'PIPELINE', 'PIPE-2', '2026-11-27 09:32+00', NULL),
       (4, 'LIQUID', 'OUT', 'HPBL0003', NULL, NULL, 31.5, 37.48, 'PIPELINE', 'METER-07', '2026-11-28 04:05+00', '101234567891'),
       (5, 'BULK', 'OUT', 'HPBL0001', NULL, NULL, 31.42, NULL, 'TRUCK', '15H-678.90', '2026-11-28 04:06+00', '101234567890')"
wait_until "$SUB" replica "SELECT count(*) = 5 FROM vasscm.outbox WHERE message_type IN ('15', '22')"
check "gate-ins 15 for package, bulk, liquid" "$SUB" replica \
    "SELECT array_agg(data ->> 'LOAI_HANG_HOA' ORDER BY id) = '{KIEN,ROI,LONG}' AND bool_and(status = 'queued')
       FROM vasscm.outbox WHERE message_type = '15'"
check "gate-outs 22 (pump-out, truck)" "$SUB" replica \
    "SELECT count(*) = 2 AND bool_and(status = 'queued') FROM vasscm.outbox WHERE message_type = '22'"

echo "bad TOS data never stops replication"
pub "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at, full_empty) VALUES (10, 'MSKU1234566', NULL, NULL, now(), 'X')"
pub "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES (11, 'OOLU1880016', 'S11', 'BL11', now())"
wait_until "$SUB" replica "SELECT count(*) = 1 FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'OOLU1880016'"
check "bad row → invalid with every reason" "$SUB" replica \
    "SELECT count(*) = 1 FROM vasscm.outbox WHERE status = 'invalid' AND errors::text LIKE '%check_digit%'
        AND errors::text LIKE '%Data/TRANG_THAI%' AND last_error LIKE '2 problem(s)%'"
check "the row itself was applied" "$SUB" replica "SELECT count(*) = 1 FROM tos_container_move WHERE move_id = 10"
check "a later good row arrived and is queued" "$SUB" replica \
    "SELECT status = 'queued' FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'OOLU1880016'"
check "apply worker still streaming" "$SUB" replica \
    "SELECT pid IS NOT NULL AND received_lsn IS NOT NULL FROM pg_stat_subscription WHERE subname = 'tos_sub'"
pub "UPDATE tos_container_move SET full_empty = 'F', line_seal = 'S10', bl_no = 'BL10', container_no = 'MSKU1234565' WHERE move_id = 10"
wait_until "$SUB" replica "SELECT status = 'queued' FROM vasscm.outbox WHERE source_key = '{\"move_id\": 10}' AND message_type = '14'"
check "fixing the TOS row fixes the invalid message in place" "$SUB" replica \
    "SELECT count(*) = 1 FROM vasscm.outbox WHERE source_key = '{\"move_id\": 10}'"

echo "aborted TOS transactions leave no message"
psql_at "$PUB" -d tos -q <<'SQL'
BEGIN;
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES (20, 'HLXU1002000', 'S20', 'BL20', now());
ROLLBACK;
SQL
pub "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES (21, 'ZIMU3004009', 'S21', 'BL21', now())"
wait_until "$SUB" replica "SELECT count(*) = 1 FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'ZIMU3004009'"
check "nothing for the rolled-back row" "$SUB" replica "SELECT count(*) = 0 FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'HLXU1002000'"

echo "concurrent TOS writers"
before=$(q "SELECT count(*) FROM vasscm.outbox")
# 4 writers × 50 transactions, each with a valid container number computed by vasscm itself.
mapfile -t numbers < <(q "SELECT 'TCLU' || lpad(n::text, 6, '0') || vasscm.container_check_digit('TCLU' || lpad(n::text, 6, '0'))
                          FROM generate_series(1, 200) n")
for w in 0 1 2 3; do
    (
        for i in $(seq 0 49); do
            n=$((w * 50 + i))
            echo "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, gate_in_at) VALUES ($((1000 + n)), '${numbers[$n]}', 'S$n', 'BL$n', now());"
        done | psql_at "$PUB" -d tos -q >/dev/null
    ) &
done
wait
wait_until "$SUB" replica "SELECT count(*) = $before + 200 FROM vasscm.outbox" 120
check "200 concurrent gate-ins, 200 queued messages, no duplicates" "$SUB" replica \
    "SELECT count(*) = 200 AND count(DISTINCT source_key) = 200 AND bool_and(status = 'queued')
       FROM vasscm.outbox WHERE (source_key ->> 'move_id')::int >= 1000"
check "every message has a status history" "$SUB" replica \
    "SELECT bool_and(EXISTS (SELECT 1 FROM vasscm.outbox_history h WHERE h.outbox_id = o.id)) FROM vasscm.outbox o"
check "no apply worker error in the replica's log" "$SUB" replica \
    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_subscription WHERE subname = 'tos_sub' AND pid IS NULL)"
if grep -q "logical replication.*ERROR\|ERROR:.*vasscm" "$RUN_DIR/clusters/tos_sub/server.log"; then
    FAILED=$((FAILED + 1)); echo "  FAIL the replica's log shows errors:" >&2; grep "ERROR" "$RUN_DIR/clusters/tos_sub/server.log" | head -5 >&2
else
    PASSED=$((PASSED + 1)); echo "  ok   replica log free of apply errors"
fi
finish replication
