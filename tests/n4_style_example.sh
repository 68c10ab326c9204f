#!/usr/bin/env bash
# The second example TOS schema (sql/examples/n4_style_*.sql): gate moves as event INSERTs,
# padded container ids, local timestamps, weighbridge / meter tickets. Every cargo kind must
# come out as the right, valid, queued message.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${E2E_PORT:?}
DB=n4_example
EX="$ROOT/sql/examples"
psql_at "$PORT" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql_at "$PORT" -qc "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGN4'" -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng N4'" \
    -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'"
psql_at "$PORT" -d $DB -q -f "$EX/n4_style_tables.sql"
psql_at "$PORT" -d $DB -qc "CREATE EXTENSION vasscm"
psql_at "$PORT" -d $DB -q -f "$EX/n4_style_bindings.sql" >/dev/null

psql_at "$PORT" -d $DB -q <<'SQL'
INSERT INTO srv_event VALUES
  (1, 100, 'UNIT_DISCH',   '2026-11-26 07:15', 'VESSEL', '9321483', 'MSKU 123456 5', 'IMPRT', 'FCL', 'ML1', NULL, 'BL1', '308044805740'),
  (2, 101, 'UNIT_RECEIVE', '2026-11-26 08:00', 'TRUCK', '15C-111.11', 'OOLU 188001 6', 'EXPRT', 'FCL', 'ML2', 'HQ2', NULL, '308044805741'),
  (3, 100, 'UNIT_DELIVER', '2026-11-26 15:40', 'TRUCK', '15C-123.45', 'MSKU 123456 5', 'IMPRT', 'FCL', 'ML1', NULL, 'BL1', '308044805740,308044805742'),
  (4, 102, 'UNIT_DISCH',   '2026-11-26 07:20', 'VESSEL', '9321483', 'TGHU 765432 0', 'IMPRT', 'MTY', NULL, NULL, NULL, NULL),
  (5, 103, 'UNIT_YARD_SHIFT', '2026-11-26 09:00', 'TRUCK', NULL, 'MSKU 123456 5', 'IMPRT', 'FCL', 'ML1', NULL, 'BL1', NULL);
INSERT INTO bulk_ticket VALUES
  ('T1', 'HPBL0002', NULL, 'BREAKBULK', 40, 'CUON', 800250, NULL, NULL, 'VESSEL', '3WAB7', 'RECEIVE', '2026-11-27 16:30'),
  ('T2', 'HPBL0001', NULL, 'DRYBULK', NULL, NULL, 5000000, NULL, NULL, 'VESSEL', '3WAB7', 'RECEIVE', '2026-11-27 16:31'),
  ('T3', 'HPBL0003', NULL, 'LIQUID', NULL, NULL, 3200000, 1000.5, 4810.7, 'PIPE', 'PIPE-2', 'RECEIVE', '2026-11-27 16:32'),
  ('T4', 'HPBL0003', '101234567891', 'LIQUID', NULL, NULL, 31500, 4810.7, 4848.18, 'PIPE', 'METER-07', 'DELIVER', '2026-11-28 11:05'),
  ('T5', 'HPBL0001', '101234567890', 'DRYBULK', NULL, NULL, 31420, NULL, NULL, 'TRUCK', '15H-678.90', 'DELIVER', '2026-11-28 11:06');
SQL

check "event inserts → 3 container gate-ins (import full, export full, import empty), padded ids normalised" "$PORT" $DB \
    "SELECT count(*) = 3 AND bool_and(status = 'queued') AND bool_and(data ->> 'SO_CONTAINER' !~ ' ')
       FROM vasscm.outbox WHERE message_type = '14'"
check "local time taken as Vietnam time" "$PORT" $DB \
    "SELECT data ->> 'THOI_GIAN' = '2026-11-26T07:15:00+07:00' FROM vasscm.outbox WHERE message_type = '14' AND data ->> 'SO_CONTAINER' = 'MSKU1234565'"
check "delivery event → gate-out 21 with both declarations" "$PORT" $DB \
    "SELECT data -> 'LIST_TK' = '[\"308044805740\", \"308044805742\"]' AND status = 'queued' FROM vasscm.outbox WHERE message_type = '21'"
check "yard shifts are not gate moves" "$PORT" $DB "SELECT count(*) = 4 FROM vasscm.outbox WHERE message_type IN ('14', '21')"
check "tickets → 15 for breakbulk, dry bulk, liquid (volume from meter readings)" "$PORT" $DB \
    "SELECT array_agg(data ->> 'LOAI_HANG_HOA' ORDER BY id) = '{KIEN,ROI,LONG}' AND bool_and(status = 'queued')
            AND max((data ->> 'THE_TICH_M3')::numeric) = 3810.2 FROM vasscm.outbox WHERE message_type = '15'"
check "weights converted to tonnes" "$PORT" $DB \
    "SELECT (data ->> 'TRONG_LUONG')::numeric = 800.25 FROM vasscm.outbox WHERE message_type = '15' AND data ->> 'SO_VAN_DON' = 'HPBL0002'"
check "pump-out and truck trip → 22" "$PORT" $DB "SELECT count(*) = 2 AND bool_and(status = 'queued') FROM vasscm.outbox WHERE message_type = '22'"
check "every queued message validates" "$PORT" $DB \
    "SELECT bool_and(NOT EXISTS (SELECT 1 FROM vasscm.validate_message(message))) FROM vasscm.outbox WHERE status = 'queued'"
# customs has the gate-ins (recorded as accepted: no worker here), so a correction is an
# amendment and a deleted ticket a cancellation.
psql_at "$PORT" -d $DB -qc "UPDATE vasscm.outbox SET status = 'accepted' WHERE message_type = '15'"
psql_at "$PORT" -d $DB -qc "UPDATE bulk_ticket SET net_kg = 800000 WHERE ticket_nbr = 'T1'" -c "DELETE FROM bulk_ticket WHERE ticket_nbr = 'T2'"
check "ticket corrected → 16, ticket deleted → 17" "$PORT" $DB \
    "SELECT array_agg(message_type ORDER BY id) = '{16,17}' FROM vasscm.outbox WHERE original_transaction_id IS NOT NULL"
finish n4_style_example
