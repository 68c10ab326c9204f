#!/usr/bin/env bash
# Clearance end to end, one scenario per cargo kind, through the real chain: customs
# simulator (signed 01/02/03/04/05/06 messages, answers to queries) → worker polling →
# vasscm.receive → clearance state; TOS rows → bindings → outbox → worker signing on SoftHSM2
# → simulator. The SQL state is checked at every step: gate-out decisions (allowed and
# refused: wrong seal, scan not done, heavier than declared, suspended declaration),
# discrepancies (18 / 19), DISCHARGE_DONE, queries, vessel matching, YARD_MAP, deadlines.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PORT=${CLEARANCE_DB_PORT:-55500}
SIM_PORT=${CLEARANCE_SIM_PORT:-55510}
BIN="$ROOT/target/release"
W="$RUN_DIR/clearance-test"
DB=vasscm_clearance
EX="$ROOT/sql/examples"
mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"

make_pki "$W"
fresh_cluster clearance_db "$PORT"
trap 'stop_simulator "$W"; kill $(cat "$W/worker.pid" 2>/dev/null) 2>/dev/null || true; stop_cluster clearance_db' EXIT
psql_at "$PORT" -qc "CREATE DATABASE $DB" -c "ALTER DATABASE $DB SET vasscm.sender_code = 'CANGTEST'" \
    -c "ALTER DATABASE $DB SET vasscm.sender_name = 'Cảng thử nghiệm'" -c "ALTER DATABASE $DB SET vasscm.receiver_code = '03CC'" \
    -c "ALTER DATABASE $DB SET vasscm.place_code = '03CCC01'"
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
# customs KIND DATA-JSON: customs sends a signed message; waits until vasscm applied it.
customs() {
    local before; before=$(q "SELECT count(*) FROM vasscm.inbox")
    curl -sf -X POST -H 'Content-Type: application/json' -d "{\"message_type\": \"$1\", \"data\": $2}" \
        "http://127.0.0.1:$SIM_PORT/script" >/dev/null
    wait_until "$PORT" "$DB" "SELECT count(*) > $before FROM vasscm.inbox WHERE applied_at IS NOT NULL" 30
}
# settled: every message sent so far has customs' answer.
settled() { wait_until "$PORT" "$DB" "SELECT count(*) = 0 FROM vasscm.outbox WHERE status IN ('queued', 'sending')" 60; }
allowed() { q "SELECT allowed FROM vasscm.gate_out_check($1)" | sed 's/^t$/true/; s/^f$/false/'; }
reasons() { q "SELECT array_to_string(reasons, ' | ') FROM $1"; }

echo "container: expected list, scan list, discharge, discrepancies"
customs 01 '{"MA_HQ": "03CC", "MA_TAU": "9321483", "TEN_TAU": "MAERSK HAI PHONG", "SO_CHUYEN": "245N",
  "NGAY_DEN_DU_KIEN": "2026-12-26T06:00:00+07:00", "LOAI_HANG": "NHAP", "LIST_HANG": [
  {"SO_VAN_DON": "MAEU245001", "SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "ML100001"},
  {"SO_VAN_DON": "MAEU245002", "SO_CONTAINER": "TGHU7654320", "SO_NIEM_PHONG": "ML100002"},
  {"SO_VAN_DON": "MAEU245003", "SO_CONTAINER": "CSQU3054383", "SO_NIEM_PHONG": "ML100003"},
  {"SO_VAN_DON": "MAEU245004", "SO_CONTAINER": "HLXU8765430", "SO_NIEM_PHONG": "ML100004"}]}'
customs 03 '{"MA_HQ": "03CC", "LOAI_HANG": "NHAP", "MA_TAU": "9321483", "SO_CHUYEN": "245N",
  "NGAY_DEN_DU_KIEN": "2026-12-26T06:00:00+07:00", "LIST_HANG": [{"SO_CONTAINER": "TGHU7654320", "LY_DO": "Soi chiếu"}]}'
t "listed, not yet eligible: state not_eligible, from form 01" \
  "SELECT state = 'not_eligible' AND set_by_form = '01' AND bl_no = 'MAEU245001' FROM vasscm.clearance(' msku1234565 ')"
t "scan required (form 03)" "SELECT scan_required AND NOT scan_done FROM vasscm.clearance('TGHU7654320')"
q "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, vessel_name, vessel_imo, voyage, gate_in_at, weight_kg) VALUES
   (1, 'MSKU1234565', 'ML100001', 'MAEU245001', 'MAERSK HAI PHONG', '9321483', '245N', now(), 18000),
   (2, 'TGHU7654320', 'ML100002', 'MAEU245002', 'MAERSK HAI PHONG', '9321483', '245N', now(), 12000),
   (3, 'HLXU8765430', 'ML999999', 'MAEU245004', 'MAERSK HAI PHONG', '9321483', '245N', now(), 9000),
   (4, 'CAXU1234563', 'ML100009', 'MAEU245009', 'MAERSK HAI PHONG', '9321483', '245N', now(), 9000)" >/dev/null
settled
t "gate-ins (14) accepted by customs" "SELECT count(*) = 4 FROM vasscm.outbox WHERE message_type = '14' AND status = 'accepted'"
t "discrepancies: missing, not on the list, seal mismatch" \
  "SELECT array_agg(reference || ':' || discrepancy ORDER BY reference) = '{CAXU1234563:NGOAI_DANH_SACH,CSQU3054383:THIEU,HLXU8765430:NIEM_PHONG}'
     FROM vasscm.discrepancies('9321483/245N')"
t "DISCHARGE_DONE refused while a listed container is missing" \
  "SELECT \$\$$(q "SELECT vasscm.report_discharge_done('9321483/245N')" 2>&1 || true)\$\$ LIKE '%1 item(s) of the expected list of 9321483/245N have not got in%'"
q "SELECT vasscm.report_discrepancies('9321483/245N')" >/dev/null
PGOPTIONS='-c client_min_messages=warning' t "a second identical report is not queued" "SELECT count(*) = 0 FROM vasscm.report_discrepancies('9321483/245N')"
settled
t "form 18 accepted, listing the three discrepancies" \
  "SELECT status = 'accepted' AND jsonb_array_length(data -> 'LIST_SAI_KHAC') = 3 FROM vasscm.outbox WHERE message_type = '18'"

echo "container: eligibility, gate-out decisions, gate-out by truck and by barge"
customs 04 '{"SO_TK": "308044805740", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "NHAP",
  "LIST_CONTAINER": [{"SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "ML100001"}, {"SO_CONTAINER": "TGHU7654320", "SO_NIEM_PHONG": "ML100002"}]}'
t "eligible, green, set by form 04" \
  "SELECT state = 'eligible' AND channel = 1 AND channel_name = 'green' AND set_by_form = '04' FROM vasscm.clearance('MSKU1234565')"
t "by B/L: the container customs listed on it" \
  "SELECT count(*) = 1 AND bool_and(container_no = 'MSKU1234565' AND state = 'eligible') FROM vasscm.clearance_by_bl(' maeu245001 ')"
t "by declaration: both containers" "SELECT count(*) = 2 AND bool_and(state = 'eligible') FROM vasscm.clearance_by_declaration('308044805740')"
t "gate-out allowed with the right seal" "SELECT allowed FROM vasscm.gate_out_check('MSKU1234565', 'ml100001', NULL)"
t "refused with a wrong seal, reason in Vietnamese and English" \
  "SELECT NOT allowed AND reasons[1] = 'Niêm phong hãng tàu ML555 không khớp dữ liệu hải quan (ML100001) / carrier seal ML555 does not match customs data (ML100001)'
     FROM vasscm.gate_out_check('MSKU1234565', 'ML555', NULL)"
t "refused: selected for scanning, not scanned" \
  "SELECT NOT allowed AND reasons[1] LIKE '%was selected for scanning (form 03) and has not been scanned' FROM vasscm.gate_out_check('TGHU7654320', 'ML100002', NULL)"
t "refused: not in the declaration given" \
  "SELECT NOT allowed AND array_to_string(reasons, ' ') LIKE '%container CSQU3054383 is not in declaration 308044805740%'
     FROM vasscm.gate_out_check('CSQU3054383', 'ML100003', NULL, '{308044805740}')"
q "SELECT vasscm.record_scan('TGHU7654320')" >/dev/null
t "allowed once scanned" "SELECT allowed FROM vasscm.gate_out_check('TGHU7654320', 'ML100002', NULL)"
q "UPDATE tos_container_move SET gate_out_at = now(), out_by = 'TRUCK', out_vehicle = '15C-123.45', declarations = '{308044805740}' WHERE move_id = 1" >/dev/null
q "UPDATE tos_container_move SET gate_out_at = now(), out_by = 'BARGE', out_vehicle = 'HP-1234', declarations = '{308044805740}' WHERE move_id = 2" >/dev/null
settled
t "gate-outs (21) by truck and barge accepted" \
  "SELECT count(*) = 2 AND bool_and(status = 'accepted') AND array_agg(data ->> 'PHUONG_TIEN' ORDER BY id) = '{XE,SALAN}' FROM vasscm.outbox WHERE message_type = '21'"
t "both passed" "SELECT bool_and(state = 'passed') AND sum(quantity_out) = 2 FROM vasscm.clearance_by_declaration('308044805740')"
t "a second gate-out is refused: already left" \
  "SELECT NOT allowed AND reasons[1] LIKE '%already left under declaration 308044805740%' FROM vasscm.gate_out_check('MSKU1234565', 'ML100001', NULL)"
q "INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, vessel_name, vessel_imo, voyage, gate_in_at)
   VALUES (5, 'CSQU3054383', 'ML100003', 'MAEU245003', 'MAERSK HAI PHONG', '9321483', '245N', now())" >/dev/null
settled
t "the late container got in: DISCHARGE_DONE due for the call" "SELECT vasscm.discharge_done_due() = 1"
settled
t "DISCHARGE_DONE accepted, with the container count" \
  "SELECT status = 'accepted' AND (data ->> 'TONG_SO_CONTAINER')::int = 5 FROM vasscm.outbox WHERE message_type = 'DISCHARGE_DONE'"

echo "container: queries to customs and their answers"
Q1=$(q "SELECT vasscm.check_container('MSKU1234565')")
Q2=$(q "SELECT vasscm.check_container('CSQU3054383')")
Q3=$(q "SELECT vasscm.request_tranship_id('HLXU8765430', 'VNSGN')")
wait_until "$PORT" "$DB" "SELECT count(*) = 3 FROM vasscm.inbox WHERE request_id IN ('$Q1', '$Q2', '$Q3')" 30 || true
t "CHECK_CONTAINER answered: eligible, green" \
  "SELECT status = 'answered' AND eligible AND channel_name = 'green' FROM vasscm.query_result('$Q1')"
t "CHECK_CONTAINER answered: no customs data" "SELECT status = 'answered' AND NOT eligible FROM vasscm.query_result('$Q2')"
t "TRANSHIP_ID answered and stored" \
  "SELECT r.tranship_id LIKE 'DDVNSG%' AND EXISTS (SELECT 1 FROM vasscm.tranship_id x WHERE x.container_no = 'HLXU8765430' AND x.identification = r.tranship_id)
     FROM vasscm.query_result('$Q3') r"

echo "packages: list, landed count differs, eligibility, suspension, lifted, last truck"
customs 02 '{"MA_HQ": "03CC", "MA_TAU": "3WAB7", "TEN_TAU": "VINACOMIN 01", "SO_CHUYEN": "V12",
  "NGAY_DEN_DU_KIEN": "2026-12-27T14:00:00+07:00", "LOAI_HANG": "NHAP", "LIST_HANG": [
  {"SO_VAN_DON": "HPBL0001", "LOAI_HANG_HOA": "ROI", "TRONG_LUONG": 5000, "DVT_TRONG_LUONG": "TNE"},
  {"SO_VAN_DON": "HPBL0002", "LOAI_HANG_HOA": "KIEN", "SO_LUONG": 120, "DVT_SO_LUONG": "CUON", "TRONG_LUONG": 2400, "DVT_TRONG_LUONG": "TNE"},
  {"SO_VAN_DON": "HPBL0003", "LOAI_HANG_HOA": "LONG", "TRONG_LUONG": 3200, "DVT_TRONG_LUONG": "TNE", "THE_TICH_M3": 3810.2}]}'
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, vessel_name, vessel_imo, voyage, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at) VALUES
   (1, 'PACKAGE', 'IN', 'HPBL0002', 'VINACOMIN 01', '3WAB7', 'V12', 118, 'CUON', 2400, 'VESSEL', 'VINACOMIN 01', now()),
   (2, 'BULK', 'IN', 'HPBL0001', 'VINACOMIN 01', '3WAB7', 'V12', NULL, NULL, 5000, 'VESSEL', 'VINACOMIN 01', now())" >/dev/null
q "INSERT INTO tos_pump_reading (reading_id, direction, meter, bl_no, vessel_name, vessel_imo, voyage, meter_start_m3, meter_end_m3, weight_tonnes, pumped_at)
   VALUES (1, 'IN', 'METER-07', 'HPBL0003', 'VINACOMIN 01', '3WAB7', 'V12', 120000, 123810.2, 3200, now())" >/dev/null
settled
t "pump-in (15) carries the metered volume" \
  "SELECT (data ->> 'THE_TICH_M3')::numeric = 3810.2 AND status = 'accepted' FROM vasscm.outbox WHERE message_type = '15' AND data ->> 'SO_VAN_DON' = 'HPBL0003'"
t "bulk discrepancy: 118 packages landed, 120 listed" \
  "SELECT array_agg(reference || ':' || discrepancy || ':' || port_value || '/' || customs_value) = '{HPBL0002:SO_LUONG:118/120}' FROM vasscm.discrepancies('3wab7/v12')"
q "SELECT vasscm.report_discrepancies('3WAB7/V12')" >/dev/null
settled
t "form 19 accepted" "SELECT status = 'accepted' FROM vasscm.outbox WHERE message_type = '19'"
customs 05 '{"SO_TK": "101234567892", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "2", "LOAI_HANG": "NHAP", "SO_VAN_DON": "HPBL0002",
  "LOAI_HANG_HOA": "KIEN", "SO_LUONG": 118, "DVT_SO_LUONG": "CUON", "TRONG_LUONG": 2390, "DVT_TRONG_LUONG": "TNE"}'
t "packages eligible, yellow, 118 declared" \
  "SELECT state = 'eligible' AND channel_name = 'yellow' AND quantity_declared = 118 AND weight_kg_declared = 2390000 FROM vasscm.clearance_by_bl('HPBL0002')"
t "truck of 60 packages allowed" "SELECT allowed FROM vasscm.gate_out_check_bulk('101234567892', 'HPBL0002', 60, 1200000, NULL)"
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at)
   VALUES (3, 'PACKAGE', 'OUT', 'HPBL0002', '101234567892', 60, 'CUON', 1200, 'TRUCK', '15C-111.11', now())" >/dev/null
settled
customs 06 '{"SO_TK": "101234567892", "MA_HQ": "03CC", "TRANG_THAI_TK": "TAM_DUNG", "LY_DO": "Kiểm tra sau thông quan"}'
t "suspended (form 06)" "SELECT state = 'suspended' AND set_by_form = '06' AND quantity_out = 60 FROM vasscm.clearance_by_declaration('101234567892')"
t "refused while suspended, with the reason" \
  "SELECT NOT allowed AND reasons = '{\"Tờ khai 101234567892 đang bị tạm dừng (mẫu 06): Kiểm tra sau thông quan / declaration 101234567892 is suspended (form 06): Kiểm tra sau thông quan\"}'
     FROM vasscm.gate_out_check_bulk('101234567892', 'HPBL0002', 58, 1190000, NULL)"
customs 06 '{"SO_TK": "101234567892", "MA_HQ": "03CC", "TRANG_THAI_TK": "BO_TAM_DUNG"}'
t "refused: 59 packages is more than the 58 left" \
  "SELECT NOT allowed AND reasons[1] LIKE '%quantity above declared: 60 out + 59 now > 118 CUON declared' FROM vasscm.gate_out_check_bulk('101234567892', 'HPBL0002', 59, 1000, NULL)"
t "suspension lifted: the last 58 allowed" "SELECT allowed FROM vasscm.gate_out_check_bulk('101234567892', 'HPBL0002', 58, 1190000, NULL)"
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at)
   VALUES (4, 'PACKAGE', 'OUT', 'HPBL0002', '101234567892', 58, 'CUON', 1190, 'BARGE', 'HP-2222', now())" >/dev/null
settled
t "all out: passed" "SELECT state = 'passed' AND quantity_out = 118 AND weight_kg_out = 2390000 FROM vasscm.clearance_by_bl('HPBL0002')"

echo "dry bulk: partial trips by truck and barge, heavier than declared refused, lighter passes"
customs 05 '{"SO_TK": "101234567890", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "NHAP", "SO_VAN_DON": "HPBL0001",
  "LOAI_HANG_HOA": "ROI", "TRONG_LUONG": 5000, "DVT_TRONG_LUONG": "TNE"}'
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, weight_tonnes, means, vehicle, moved_at) VALUES
   (5, 'BULK', 'OUT', 'HPBL0001', '101234567890', 30, 'TRUCK', '15C-222.22', now()),
   (6, 'BULK', 'OUT', 'HPBL0001', '101234567890', 4000, 'BARGE', 'HP-3333', now())" >/dev/null
settled
t "4,030 t out of 5,000 t" "SELECT state = 'eligible' AND weight_kg_out = 4030000 FROM vasscm.clearance_by_bl('HPBL0001')"
t "refused: a barge of 980 t is heavier than the 970 t left" \
  "SELECT NOT allowed AND reasons[1] LIKE '%heavier than declared: 4030000 kg out + 980000 kg now > 5000000 kg declared' FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0001', NULL, 980000, NULL)"
t "lighter passes: 969.5 t" "SELECT allowed FROM vasscm.gate_out_check_bulk('101234567890', NULL, NULL, 969500, NULL)"
q "INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, weight_tonnes, means, vehicle, moved_at)
   VALUES (7, 'BULK', 'OUT', 'HPBL0001', '101234567890', 970, 'BARGE', 'HP-4444', now())" >/dev/null
settled
t "the last barge: passed" "SELECT state = 'passed' AND weight_kg_out = 5000000 FROM vasscm.clearance_by_bl('HPBL0001')"

echo "liquid by pipeline: pump-outs measured by the meter"
customs 05 '{"SO_TK": "101234567891", "NGAY_DK": "2026-12-25", "MA_HQ": "03CC", "LUONG": "3", "LOAI_HANG": "NHAP", "SO_VAN_DON": "HPBL0003",
  "LOAI_HANG_HOA": "LONG", "TRONG_LUONG": 3200, "DVT_TRONG_LUONG": "TNE", "THE_TICH_M3": 3810.2}'
t "liquid eligible, red channel" "SELECT state = 'eligible' AND channel_name = 'red' AND volume_m3_declared = 3810.2 FROM vasscm.clearance_by_bl('HPBL0003')"
t "first pump-out of 2,000 m3 allowed" "SELECT allowed FROM vasscm.gate_out_check_bulk('101234567891', 'HPBL0003', NULL, 1680000, 2000)"
q "INSERT INTO tos_pump_reading (reading_id, direction, meter, bl_no, declaration_no, meter_start_m3, meter_end_m3, weight_tonnes, pumped_at)
   VALUES (2, 'OUT', 'METER-07', 'HPBL0003', '101234567891', 200000, 202000, 1680, now())" >/dev/null
settled
t "pump-out (22) accepted with the meter difference" \
  "SELECT status = 'accepted' AND (data ->> 'THE_TICH_M3')::numeric = 2000 AND data ->> 'PHUONG_TIEN' = 'DUONG_ONG' FROM vasscm.outbox WHERE message_type = '22' AND data ->> 'SO_VAN_DON' = 'HPBL0003'"
t "refused: 1,900 m3 more is above the declared volume" \
  "SELECT NOT allowed AND reasons[1] LIKE '%volume above declared: 2000 m3 out + 1900 m3 now > 3810.2 m3 declared' FROM vasscm.gate_out_check_bulk('101234567891', 'HPBL0003', NULL, 1500000, 1900)"
q "INSERT INTO tos_pump_reading (reading_id, direction, meter, bl_no, declaration_no, meter_start_m3, meter_end_m3, weight_tonnes, pumped_at)
   VALUES (3, 'OUT', 'METER-07', 'HPBL0003', '101234567891', 202000, 203810.2, 1520, now())" >/dev/null
settled
t "tank empty: passed" "SELECT state = 'passed' AND volume_m3_out = 3810.2 AND weight_kg_out = 3200000 FROM vasscm.clearance_by_bl('HPBL0003')"
t "every discharged bulk B/L accounted for: DISCHARGE_DONE for 3WAB7/V12" "SELECT vasscm.discharge_done_due() = 1"

echo "vessels, yard, deadlines, duplicates"
q "INSERT INTO tos_vessel_visit VALUES ('MHP245', '9321483', 'OZKD2', 'M/V Maersk Hai Phong', '2026-12-26T07:00:00+07:00'),
                                     ('VNC12', NULL, NULL, 'VINACOMIN 01', '2026-12-27T20:00:00+07:00'),
                                     ('OLD01', '9321483', 'OZKD2', 'MAERSK HAI PHONG', '2026-10-01T07:00:00+07:00')" >/dev/null
q "SELECT vasscm.set_setting('vessel_visit_source', 'public.tos_vessel_visit')" >/dev/null
customs VESSEL_LIST '{"MA_HQ": "03CC", "LIST_TAU": [
  {"MA_TAU": "9321483", "SO_IMO": "9321483", "HO_HIEU": "OZKD2", "TEN_TAU": "MAERSK HAI PHONG", "SO_CHUYEN": "245N", "NGAY_DEN_DU_KIEN": "2026-12-26T06:00:00+07:00"},
  {"MA_TAU": "3WAB7", "TEN_TAU": "VINACOMIN 01", "SO_CHUYEN": "V12", "NGAY_DEN_DU_KIEN": "2026-12-27T14:00:00+07:00"}]}'
t "matched on arrival of VESSEL_LIST: by IMO (the right visit, not last October's)" \
  "SELECT visit_id = 'MHP245' AND method = 'imo' AND confidence > 0.95 FROM vasscm.vessel_calls WHERE vessel_call = '9321483/245N'"
t "matched by normalised name and ETA, lower confidence" \
  "SELECT visit_id = 'VNC12' AND method = 'name' AND confidence BETWEEN 0.5 AND 0.6 FROM vasscm.vessel_calls WHERE vessel_call = '3WAB7/V12'"
q "SELECT vasscm.set_vessel_match('3WAB7/V12', 'VNC12-B')" >/dev/null
q "SELECT vasscm.match_vessels('tos_vessel_visit')" >/dev/null
t "a manual override stays" "SELECT visit_id = 'VNC12-B' AND manual FROM vasscm.vessel_calls WHERE vessel_call = '3WAB7/V12'"
q "INSERT INTO tos_yard_block VALUES ('A1', 'Bãi A1', 1200, 800), ('B2', 'Bãi B2', 900, 100)" >/dev/null
q "SELECT vasscm.report_yard_map('tos_yard_block', full_map => true)" >/dev/null
q "UPDATE tos_yard_block SET used_teu = 850 WHERE block_code = 'A1'; DELETE FROM tos_yard_block WHERE block_code = 'B2'; INSERT INTO tos_yard_block VALUES ('C3', 'Bãi C3', 500, 0)" >/dev/null
q "SELECT vasscm.report_yard_map('tos_yard_block')" >/dev/null
PGOPTIONS='-c client_min_messages=warning' t "nothing changed: no incremental map" "SELECT vasscm.report_yard_map('tos_yard_block') IS NULL"
settled
t "YARD_MAP full, then incremental (changed, removed, added)" \
  "SELECT string_agg(data ->> 'LOAI_CAP_NHAT' || ':' || (SELECT string_agg(i ->> 'MA_BAI' || coalesce('/' || (i ->> 'THAO_TAC_BAI'), ''), ',') FROM jsonb_array_elements(data -> 'LIST_BAI') i), ' ' ORDER BY id)
     = 'TOAN_BO:A1,B2 THAY_DOI:A1/SUA,B2/XOA,C3/THEM' AND bool_and(status = 'accepted') FROM vasscm.outbox WHERE message_type = 'YARD_MAP'"
q "UPDATE vasscm.outbox SET data = jsonb_set(data, '{THOI_GIAN}', to_jsonb(to_char(now() - interval '40 minutes', 'YYYY-MM-DD\"T\"HH24:MI:SSOF:00'))) WHERE message_type = '21' AND data ->> 'PHUONG_TIEN' = 'SALAN'" >/dev/null
t "a gate-out accepted more than 15 minutes after leaving is a late deadline" \
  "SELECT count(*) = 1 AND bool_and(state = 'late') FROM vasscm.deadlines WHERE kind = 'gate_out'"
t "the alert job records it once" "SELECT vasscm.refresh_deadline_alerts() = 1 AND vasscm.refresh_deadline_alerts() = 0"
before=$(q "SELECT count(*) FROM vasscm.inbox")
dup=$(curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{"message_type": "06", "data": {"SO_TK": "101234567890", "TRANG_THAI_TK": "TAM_DUNG"}, "header": {"Transaction_ID": "6a0e2f4c-1111-4222-8333-944455556666"}}' \
    "http://127.0.0.1:$SIM_PORT/script" >/dev/null; curl -sf -X POST -H 'Content-Type: application/json' \
    -d '{"message_type": "06", "data": {"SO_TK": "101234567890", "TRANG_THAI_TK": "TAM_DUNG"}, "header": {"Transaction_ID": "6a0e2f4c-1111-4222-8333-944455556666"}}' \
    "http://127.0.0.1:$SIM_PORT/script" >/dev/null; echo sent)
wait_until "$PORT" "$DB" "SELECT count(*) = 2 FROM vasscm.message_log WHERE kind = 'inbound' AND transaction_id = '6a0e2f4c-1111-4222-8333-944455556666'" 30 || true
t "the same customs message delivered twice is stored and applied once ($dup)" \
  "SELECT count(*) = $before + 1 FROM vasscm.inbox"
t "... and suspends the declaration once in the history" \
  "SELECT count(*) = 1 FROM vasscm.clearance_history WHERE transaction_id = '6a0e2f4c-1111-4222-8333-944455556666'"
t "every customs message applied without error" "SELECT bool_and(applied_at IS NOT NULL AND apply_error IS NULL) FROM vasscm.inbox"
t "nothing rejected, nothing invalid, nothing lost" \
  "SELECT count(*) FILTER (WHERE status NOT IN ('accepted')) = 0 FROM vasscm.outbox"
[ "$FAILED" = 0 ] || q "SELECT id, message_type, status, last_error, data FROM vasscm.outbox WHERE status <> 'accepted' OR message_type = 'YARD_MAP'" >&2
finish clearance_scenarios
