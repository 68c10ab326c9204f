-- Gate decisions as a gate clerk reads them: each case of issue 12 played through the TOS
-- tables of sql/examples (bindings → capture → the movement ledger), customs' messages through
-- vasscm.receive, then the decision and its reasons (Vietnamese / English). What customs or
-- the worker made of a port message (accepted, rejected, dead) is set by hand here
-- (vasscm._set_status), as the worker would. Times are Vietnam time.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE EXTENSION vasscm;
SET timezone = 'Asia/Ho_Chi_Minh';
SET datestyle = 'ISO, YMD';
SET vasscm.sender_code = 'CANGTEST';
SET vasscm.sender_name = 'Cảng thử nghiệm';
SET vasscm.receiver_code = '03CC';
SET vasscm.place_code = '03CCC01';
\set ECHO none
\o /dev/null
\i examples/generic_tos_tables.sql
\i examples/generic_tos_bindings.sql
\o
\set ECHO all
-- A customs message, as the worker hands it to vasscm.receive after checking its signature.
CREATE FUNCTION customs(form text, at text, data jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT FROM vasscm.receive(vasscm.build_message(form, data,
        jsonb_build_object('Transaction_Date', at, 'Sender_Code', 'TCHQ', 'Sender_Name', 'TCHQ')))
$$;
-- What became of the port's message for a TOS row (the worker's or customs' answer).
CREATE FUNCTION answered(form text, source text, key jsonb, new_status text) RETURNS void LANGUAGE sql AS $$
    SELECT vasscm._set_status(o.id, answered.new_status, 'test: ' || answered.new_status) FROM vasscm.outbox o
     WHERE o.message_type = answered.form AND o.source_table = answered.source AND o.source_key = answered.key
       AND o.status NOT IN ('cancelled', 'rejected')
$$;
-- The gate's answer, one reason a line.
CREATE FUNCTION gate(container text, carrier_seal text DEFAULT NULL, customs_seal text DEFAULT NULL, declarations text[] DEFAULT NULL)
RETURNS TABLE (decision text, reason text) LANGUAGE sql AS $$
    SELECT CASE WHEN g.allowed THEN 'ALLOWED' ELSE 'REFUSED' END, r
      FROM vasscm.gate_out_check(container, carrier_seal, customs_seal, declarations) g LEFT JOIN LATERAL unnest(g.reasons) r ON true
$$;
CREATE FUNCTION bulk(declaration text, bl text, quantity numeric, weight_kg numeric, volume_m3 numeric, unit text DEFAULT NULL)
RETURNS TABLE (decision text, reason text) LANGUAGE sql AS $$
    SELECT CASE WHEN g.allowed THEN 'ALLOWED' ELSE 'REFUSED' END, r
      FROM vasscm.gate_out_check_bulk(declaration, bl, quantity, weight_kg, volume_m3, unit) g LEFT JOIN LATERAL unnest(g.reasons) r ON true
$$;

------------------------------------------------------------------------------------------------
-- 1. Bulk that physically left counts, whatever its 22's status; a corrected ticket counts as
--    corrected; a deleted duplicate ticket does not count.
------------------------------------------------------------------------------------------------
SELECT customs('05', '2025-03-01T08:00:00+07:00', '{"SO_TK": "101000000001", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "SO_VAN_DON": "BLBULK01", "LOAI_HANG_HOA": "ROI", "TRONG_LUONG": 5000, "DVT_TRONG_LUONG": "TNE"}');
INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, weight_tonnes, means, vehicle, moved_at) VALUES
    (11, 'BULK', 'OUT', 'BLBULK01', '101000000001', 1000, 'BARGE', 'HP-1111', '2025-03-02 08:00+07'),
    (12, 'BULK', 'OUT', 'BLBULK01', '101000000001', 2000, 'BARGE', 'HP-2222', '2025-03-02 10:00+07'),
    (13, 'BULK', 'OUT', 'BLBULK01', '101000000001', 1000, 'TRUCK', 'A PLATE TYPED FAR TOO LONG FOR FORM 22', '2025-03-02 12:00+07');
SELECT answered('22', 'public.tos_cargo_move', '{"move_id": 11}', 'dead');       -- customs was down long enough
SELECT answered('22', 'public.tos_cargo_move', '{"move_id": 12}', 'rejected');   -- customs rejected it
SELECT move_id, o.status FROM tos_cargo_move m JOIN vasscm.outbox o ON o.source_key = jsonb_build_object('move_id', m.move_id)
 WHERE o.message_type = '22' AND m.move_id BETWEEN 11 AND 13 ORDER BY move_id;
-- 4,000 t left: the trips count in the ledger whatever their messages became
SELECT state, weight_kg_declared, weight_kg_out FROM vasscm.clearance_by_bl('BLBULK01');
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, 5000000, NULL);
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, 1000000, NULL);
-- the weighbridge ticket of the dead trip is corrected: 1,200 t (CANCEL_PASSED, the corrected 22)
UPDATE tos_cargo_move SET weight_tonnes = 1200 WHERE move_id = 11;
SELECT weight_kg_out FROM vasscm.clearance_by_bl('BLBULK01');
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, 801000, NULL);
-- a TOS that deletes duplicate weighbridge tickets (its 22 binding has DELETE)
CREATE TABLE tos_ticket (ticket_no int PRIMARY KEY, bl_no text, declaration_no text, net_kg numeric, truck text, weighed_at timestamptz);
\o /dev/null
SELECT vasscm.bind('tos_ticket', '22', $m${"MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "'NHAP'", "LOAI_HANG_HOA": "'ROI'",
  "SO_VAN_DON": "bl_no", "LIST_TK/SO_TK": "ARRAY[declaration_no]", "TRONG_LUONG": "net_kg", "DVT_TRONG_LUONG": "'KGM'",
  "PHUONG_TIEN": "'XE'", "SO_PHUONG_TIEN": "truck", "THOI_GIAN": "weighed_at"}$m$, '{INSERT,UPDATE,DELETE}');
\o
INSERT INTO tos_ticket VALUES (1, 'BLBULK01', '101000000001', 300000, '15C-300.01', '2025-03-03 08:00+07'),
                              (2, 'BLBULK01', '101000000001', 300000, '15C-300.01', '2025-03-03 08:00+07');
SELECT weight_kg_out FROM vasscm.clearance_by_bl('BLBULK01');
DELETE FROM tos_ticket WHERE ticket_no = 2;   -- the duplicate
SELECT weight_kg_out FROM vasscm.clearance_by_bl('BLBULK01');
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, 500000, NULL);
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, 500001, NULL);

------------------------------------------------------------------------------------------------
-- 2. Units: quantities in different units are never added; weights convert (kg / t); a trip in
--    another unit than the declaration's is refused, naming both.
------------------------------------------------------------------------------------------------
SELECT customs('05', '2025-03-01T08:00:00+07:00', '{"SO_TK": "101000000002", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "SO_VAN_DON": "BLPK02", "LOAI_HANG_HOA": "KIEN", "SO_LUONG": 100, "DVT_SO_LUONG": "PK",
  "TRONG_LUONG": 20, "DVT_TRONG_LUONG": "TNE"}');
INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at) VALUES
    (21, 'PACKAGE', 'OUT', 'BLPK02', '101000000002', 40, 'PL', 4, 'TRUCK', '15C-210.01', '2025-03-02 08:00+07'),
    (22, 'PACKAGE', 'OUT', 'BLPK02', '101000000002', 40, 'PL', 4, 'TRUCK', '15C-210.02', '2025-03-02 09:00+07');
-- 80 pallets left: not counted against 100 packages
SELECT state, quantity_declared, quantity_unit, quantity_out, weight_kg_out FROM vasscm.clearance_by_bl('BLPK02');
SELECT quantity_out_other FROM vasscm.clearance_now WHERE bl_no = 'BLPK02';
SELECT * FROM bulk('101000000002', 'BLPK02', 60, 6000, NULL, 'PK');
SELECT * FROM bulk('101000000002', 'BLPK02', 40, 4000, NULL, 'PL');
SELECT * FROM vasscm.gate_out_check_bulk('101000000002', 'BLPK02', 101, NULL, NULL);   -- the old call: the declared unit
-- a quantity declared in tonnes, a trip weighed in kilograms
SELECT customs('05', '2025-03-01T08:00:00+07:00', '{"SO_TK": "101000000003", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "SO_VAN_DON": "BLTNE03", "LOAI_HANG_HOA": "ROI", "SO_LUONG": 50, "DVT_SO_LUONG": "TNE",
  "TRONG_LUONG": 50, "DVT_TRONG_LUONG": "TNE"}');
INSERT INTO tos_cargo_move (move_id, cargo_kind, direction, bl_no, declaration_no, quantity, quantity_unit, weight_tonnes, means, vehicle, moved_at) VALUES
    (23, 'BULK', 'OUT', 'BLTNE03', '101000000003', 20000, 'KGM', 20, 'TRUCK', '15C-230.01', '2025-03-02 08:00+07');
SELECT quantity_declared, quantity_unit, quantity_out FROM vasscm.clearance_by_bl('BLTNE03');
SELECT * FROM bulk('101000000003', 'BLTNE03', 30000, NULL, NULL, 'KGM');
SELECT * FROM bulk('101000000003', 'BLTNE03', 30.001, NULL, NULL, 'tne');

------------------------------------------------------------------------------------------------
-- 3. Visits: a returning container is not "already left".
------------------------------------------------------------------------------------------------
-- An empty box: in, out on a 21 without declarations, back days later on a new move with a new 04.
INSERT INTO tos_container_move (move_id, container_no, full_empty, line_seal, gate_in_at, arrived_by) VALUES
    (31, 'MAEU1234567', 'E', NULL, '2025-03-01 08:00+07', 'TRUCK');
UPDATE tos_container_move SET gate_out_at = '2025-03-02 08:00+07', out_by = 'TRUCK', out_vehicle = '15C-310.01' WHERE move_id = 31;
SELECT container_no, state, visit_in_at, left_at FROM vasscm.clearance('MAEU1234567');
INSERT INTO tos_container_move (move_id, container_no, full_empty, line_seal, bl_no, declaration_no, gate_in_at, arrived_by) VALUES
    (32, 'MAEU1234567', 'F', 'ML3201', 'BL3201', '308000000031', '2025-03-10 08:00+07', 'TRUCK');
SELECT customs('04', '2025-03-10T10:00:00+07:00', '{"SO_TK": "308000000031", "NGAY_DK": "2025-03-10", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "MAEU1234567", "SO_NIEM_PHONG": "ML3201"}]}');
SELECT container_no, declaration_no, state, visit_in_at, left_at FROM vasscm.clearance('MAEU1234567');
SELECT * FROM gate('MAEU1234567', 'ML3201');
-- A full box that left under its declaration and came back: that declaration was for the earlier visit.
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES
    (33, 'TCLU1000019', 'ML3301', 'BL3301', '308000000032', '2025-03-01 08:00+07');
SELECT customs('04', '2025-03-01T10:00:00+07:00', '{"SO_TK": "308000000032", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "TCLU1000019", "SO_NIEM_PHONG": "ML3301"}]}');
UPDATE tos_container_move SET gate_out_at = '2025-03-02 08:00+07', out_by = 'TRUCK', out_vehicle = '15C-330.01', declarations = '{308000000032}' WHERE move_id = 33;
SELECT * FROM gate('TCLU1000019', 'ML3301');
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at, flow) VALUES
    (34, 'TCLU1000019', 'ML3401', 'BL3401', '308000000033', '2025-03-12 08:00+07', 'EXPORT');
SELECT * FROM gate('TCLU1000019', 'ML3401');
SELECT * FROM gate('TCLU1000019', 'ML3401', NULL, '{308000000032}');
SELECT customs('04', '2025-03-12T10:00:00+07:00', '{"SO_TK": "308000000033", "NGAY_DK": "2025-03-12", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "XUAT", "LIST_CONTAINER": [{"SO_CONTAINER": "TCLU1000019", "SO_NIEM_PHONG": "ML3401"}]}');
SELECT * FROM gate('TCLU1000019', 'ML3401', NULL, '{308000000033}');
SELECT declaration_no, state, quantity_out, visit_in_at, left_at FROM vasscm.clearance('TCLU1000019') ORDER BY declaration_no;

------------------------------------------------------------------------------------------------
-- 4. Scan selections expire: a form 03 applies to its vessel call / the visit (and a validity).
------------------------------------------------------------------------------------------------
-- January: selected on call 9321483/118S; the box came with that call and left again (that visit is over).
SELECT customs('03', '2025-01-05T08:00:00+07:00', '{"MA_HQ": "03CC", "LOAI_HANG": "NHAP", "MA_TAU": "9321483", "SO_CHUYEN": "118S",
  "LIST_HANG": [{"SO_CONTAINER": "CAXU1234563", "LY_DO": "Soi chiếu"}]}');
INSERT INTO tos_container_move (move_id, container_no, full_empty, line_seal, bl_no, declaration_no, vessel_imo, voyage, gate_in_at, gate_out_at, out_by, out_vehicle) VALUES
    (41, 'CAXU1234563', 'E', NULL, NULL, NULL, '9321483', '118S', '2025-01-06 08:00+07', '2025-01-08 08:00+07', 'TRUCK', '15C-410.01');
-- March: back by truck for export, a new declaration
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at, flow, arrived_by) VALUES
    (42, 'CAXU1234563', 'ML4201', 'BL4201', '308000000041', '2025-03-15 08:00+07', 'EXPORT', 'TRUCK');
SELECT customs('04', '2025-03-15T10:00:00+07:00', '{"SO_TK": "308000000041", "NGAY_DK": "2025-03-15", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "XUAT", "LIST_CONTAINER": [{"SO_CONTAINER": "CAXU1234563", "SO_NIEM_PHONG": "ML4201"}]}');
SELECT declaration_no, state, scan_required, scan_done FROM vasscm.clearance('CAXU1234563');
SELECT * FROM gate('CAXU1234563', 'ML4201', NULL, '{308000000041}');
-- Selected long before, but on the call the box came with: applies until it is scanned.
SELECT customs('03', '2025-01-02T08:00:00+07:00', '{"MA_HQ": "03CC", "LOAI_HANG": "NHAP", "MA_TAU": "9321483", "SO_CHUYEN": "245N",
  "LIST_HANG": [{"SO_CONTAINER": "CSQU3054383", "LY_DO": "Soi chiếu"}]}');
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, vessel_imo, voyage, gate_in_at) VALUES
    (43, 'CSQU3054383', 'ML4301', 'BL4301', '308000000042', '9321483', '245N', '2025-03-20 08:00+07');
SELECT customs('04', '2025-03-20T10:00:00+07:00', '{"SO_TK": "308000000042", "NGAY_DK": "2025-03-20", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "CSQU3054383", "SO_NIEM_PHONG": "ML4301"}]}');
SELECT * FROM gate('CSQU3054383', 'ML4301');
SELECT vasscm.record_scan('CSQU3054383', '2025-03-20 14:00+07');
SELECT * FROM gate('CSQU3054383', 'ML4301');
-- Selected without a vessel call 40 days before the box came: expired with a validity of 30 days.
SELECT customs('03', '2025-01-20T08:00:00+07:00', '{"MA_HQ": "03CC", "LOAI_HANG": "NHAP",
  "LIST_HANG": [{"SO_CONTAINER": "TCLU1000024", "LY_DO": "Soi chiếu"}]}');
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES
    (44, 'TCLU1000024', 'ML4401', 'BL4401', '308000000043', '2025-03-01 08:00+07');
SELECT customs('04', '2025-03-01T10:00:00+07:00', '{"SO_TK": "308000000043", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "TCLU1000024", "SO_NIEM_PHONG": "ML4401"}]}');
SELECT * FROM gate('TCLU1000024', 'ML4401');
SELECT vasscm.set_setting('scan_selection_validity_days', '60');
SELECT * FROM gate('TCLU1000024', 'ML4401');
SELECT vasscm.set_setting('scan_selection_validity_days', '30');
SELECT vasscm.set_setting('scan_selection_validity_days', 'thirty');

------------------------------------------------------------------------------------------------
-- 5. Seals are identifiers; a seal change still waiting for customs is named; one accepted
--    before the 04 arrived applies when its old seal is the 04's; clearance() shows the seal
--    the gate will expect.
------------------------------------------------------------------------------------------------
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES
    (51, 'HLXU8765430', 'ML0012345', 'BL5101', '308000000051', '2025-03-01 08:00+07');
SELECT customs('04', '2025-03-01T10:00:00+07:00', '{"SO_TK": "308000000051", "NGAY_DK": "2025-03-01", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "HLXU8765430", "SO_NIEM_PHONG": "ML 0012345"}]}');
SELECT * FROM gate('HLXU8765430', 'ML0012345');
SELECT * FROM gate('HLXU8765430', 'ml-0012345');
SELECT * FROM gate('HLXU8765430', 'ML0012346');
-- the port changes the seal (24): until customs accepts it, the gate expects the old one and says why
INSERT INTO tos_seal_change VALUES (51, 'HLXU8765430', 'LINE', 'ML0012345', 'ML0099999', 'Kiểm tra thực tế', '2025-03-02 09:00+07');
SELECT carrier_seal FROM vasscm.clearance('HLXU8765430');
SELECT * FROM gate('HLXU8765430', 'ML0099999');
SELECT answered('24', 'public.tos_seal_change', '{"change_id": 51}', 'accepted');
SELECT carrier_seal FROM vasscm.clearance('HLXU8765430');
SELECT * FROM gate('HLXU8765430', 'ML 0099999');
-- a seal change accepted before the 04 arrived, the 04 still listing the old seal
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES
    (52, 'MSCU6639870', 'MLA1', 'BL5201', '308000000052', '2025-03-05 08:00+07'),
    (53, 'TCLU1000030', 'MLX1', 'BL5301', '308000000053', '2025-03-05 08:00+07');
INSERT INTO tos_seal_change VALUES (52, 'MSCU6639870', 'LINE', 'MLA1', 'MLB2', 'Kiểm tra thực tế', '2025-03-05 10:00+07'),
                                   (53, 'TCLU1000030', 'LINE', 'MLX1', 'MLX2', 'Kiểm tra thực tế', '2025-03-05 10:00+07');
SELECT answered('24', 'public.tos_seal_change', '{"change_id": 52}', 'accepted');
SELECT answered('24', 'public.tos_seal_change', '{"change_id": 53}', 'accepted');
SELECT customs('04', '2025-03-05T15:00:00+07:00', '{"SO_TK": "308000000052", "NGAY_DK": "2025-03-05", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "MSCU6639870", "SO_NIEM_PHONG": "MLA1"}]}');
SELECT customs('04', '2025-03-05T15:00:00+07:00', '{"SO_TK": "308000000053", "NGAY_DK": "2025-03-05", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "TCLU1000030", "SO_NIEM_PHONG": "MLC3"}]}');
SELECT container_no, carrier_seal FROM vasscm.clearance_state WHERE container_no IN ('MSCU6639870', 'TCLU1000030') ORDER BY 1;
SELECT * FROM gate('MSCU6639870', 'MLB2');
SELECT * FROM gate('MSCU6639870', 'MLA1');
SELECT * FROM gate('TCLU1000030', 'MLX2');

------------------------------------------------------------------------------------------------
-- 6. Reasons: removed by form 07 (and when); no input is taken for "none".
------------------------------------------------------------------------------------------------
INSERT INTO tos_container_move (move_id, container_no, line_seal, bl_no, declaration_no, gate_in_at) VALUES
    (61, 'TGHU7654320', 'ML6101', 'BL6101', '308000000061', '2025-03-05 08:00+07');
SELECT customs('04', '2025-03-05T10:00:00+07:00', '{"SO_TK": "308000000061", "NGAY_DK": "2025-03-05", "MA_HQ": "03CC", "LUONG": "1",
  "LOAI_HANG": "NHAP", "LIST_CONTAINER": [{"SO_CONTAINER": "TGHU7654320", "SO_NIEM_PHONG": "ML6101"},
                                          {"SO_CONTAINER": "TCLU1000045", "SO_NIEM_PHONG": "ML6102"}]}');
SELECT customs('07', '2025-03-06T09:30:00+07:00', '{"SO_TK": "308000000061", "LY_DO": "Tách container",
  "LIST_CONTAINER": [{"SO_CONTAINER": "TGHU7654320", "THAO_TAC": "HUY"}]}');
SELECT declaration_no, state, set_by_form FROM vasscm.clearance('TGHU7654320');
SELECT * FROM gate('TGHU7654320', 'ML6101');
SELECT * FROM gate('TGHU7654320', 'ML6101', NULL, '{308000000061}');
SELECT * FROM gate('NOTA1234567');
SELECT * FROM gate('TCLU1000050');
SELECT * FROM vasscm.clearance('TCLU1000050');   -- never mentioned by customs nor the TOS: no row
SELECT * FROM vasscm.gate_out_check(NULL, 'ML1', NULL);
SELECT * FROM vasscm.gate_out_check('  ', 'ML1', NULL);
SELECT * FROM vasscm.gate_out_check_bulk(NULL, 'BLBULK01', NULL, 1000, NULL);
SELECT * FROM vasscm.gate_out_check_bulk('101000000001', 'BLBULK01', NULL, NULL, NULL);
SELECT * FROM bulk('101000000001', 'BLBULK01', NULL, -1, NULL);

------------------------------------------------------------------------------------------------
-- 7. Deadlines from the ledger: an invalid 21 for a box that left 40 minutes ago is in
--    vasscm.deadlines and raises an alert; a gate-out held back by another message names it.
------------------------------------------------------------------------------------------------
INSERT INTO tos_container_move (move_id, container_no, full_empty, gate_in_at, arrived_by) VALUES
    (71, 'TCLU1000066', 'E', now() - interval '2 hours', 'TRUCK');
UPDATE tos_container_move SET gate_out_at = now() - interval '40 minutes', out_by = 'TRUCK', out_vehicle = NULL WHERE move_id = 71;
SELECT o.message_type, o.status, o.last_error FROM vasscm.outbox o WHERE o.order_key = 'TCLU1000066' ORDER BY o.id;
SELECT kind, message_type, reference, state, detail FROM vasscm.deadlines WHERE kind = 'gate_out' ORDER BY reference;
SELECT vasscm.refresh_deadline_alerts();
SELECT kind, reference, state FROM vasscm.deadline_alert ORDER BY reference;
-- a gate-in table bound in manual mode: the amendment (16) waits for an operator's approval
CREATE TABLE tos_gate_visit (visit_id int PRIMARY KEY, container_no text, bl_no text, in_at timestamptz, out_at timestamptz, truck text);
\o /dev/null
SELECT vasscm.bind('tos_gate_visit', '14', $m${"MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "'NHAP'", "SO_CONTAINER": "container_no",
  "TRANG_THAI": "'E'", "SO_VAN_DON": "bl_no", "HINH_THUC": "'XE'", "THOI_GIAN": "in_at"}$m$, '{INSERT,UPDATE,DELETE}', 'in_at IS NOT NULL', 'manual');
SELECT vasscm.bind('tos_gate_visit', '21', $m${"MA_HQ": "'03CC'", "MA_DIA_DIEM": "'03CCC01'", "LOAI_HANG": "'NHAP'", "SO_CONTAINER": "container_no",
  "TRANG_THAI": "'E'", "PHUONG_TIEN": "'XE'", "SO_PHUONG_TIEN": "truck", "CO_CHUNG_TU": "'N'", "THOI_GIAN": "out_at"}$m$,
  '{INSERT,UPDATE}', 'out_at IS NOT NULL');
\o
INSERT INTO tos_gate_visit VALUES (72, 'TCLU1000071', 'BL7201', now() - interval '3 hours', NULL, NULL);
SELECT vasscm.approve(id) FROM vasscm.outbox WHERE order_key = 'TCLU1000071' AND message_type = '14';
SELECT answered('14', 'public.tos_gate_visit', '{"visit_id": 72}', 'accepted');
UPDATE tos_gate_visit SET bl_no = 'BL7202' WHERE visit_id = 72;   -- a typed B/L corrected: 16, waiting for approval
UPDATE tos_gate_visit SET out_at = now() - interval '40 minutes', truck = '15C-720.01' WHERE visit_id = 72;
SELECT message_type, status FROM vasscm.outbox WHERE order_key = 'TCLU1000071' ORDER BY id;
SELECT kind, message_type, reference, state,
       regexp_replace(detail, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<transaction>', 'g') AS detail
  FROM vasscm.deadlines WHERE kind = 'gate_out' AND reference = 'TCLU1000071';

------------------------------------------------------------------------------------------------
-- The maintained state equals a recomputation from its sources.
------------------------------------------------------------------------------------------------
SELECT count(*) AS drift FROM vasscm._clearance_drift();
SELECT vasscm._clearance_rebuild() > 0 AS rebuilt;
SELECT count(*) AS drift FROM vasscm._clearance_drift();
