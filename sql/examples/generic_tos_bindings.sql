-- Bindings for example TOS schema 1 (generic_tos_tables.sql). Run on the replica, in the
-- database where vasscm is installed, after the subscription's initial copy (see README).
-- Codes shared by every message of this port:
--   customs office 03CC, supervision place 03CCC01.

-- Container gate-in (form 14): when the TOS records gate_in_at. A later correction of a fact
-- customs holds sends an amendment (16) — a yard move (VI_TRI) does not; a seal change reported
-- by form 24 does not. Deleting the move before it left, or clearing gate_in_at, withdraws the
-- gate-in (a cancellation, 17, if customs had it); deleting it after it left is archiving.
SELECT vasscm.bind('tos_container_move', '14', $m${
    "MA_HQ":            "'03CC'",
    "MA_DIA_DIEM":      "'03CCC01'",
    "LOAI_HANG":        "CASE flow WHEN 'EXPORT' THEN 'XUAT' WHEN 'TRANSIT' THEN 'QUA_CANH' ELSE 'NHAP' END",
    "TEN_TAU":          "vessel_name",
    "MA_TAU":           "vessel_imo",
    "SO_CHUYEN":        "voyage",
    "SO_CONTAINER":     "container_no",
    "KICH_CO":          "iso_type",
    "TRANG_THAI":       "full_empty",
    "SO_NIEM_PHONG":    "line_seal",
    "SO_NIEM_PHONG_HQ": "customs_seal",
    "SO_VAN_DON":       "bl_no",
    "SO_TK":            "declaration_no",
    "SO_QUAN_LY_HANG":  "cargo_ref",
    "HINH_THUC":        "CASE arrived_by WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' ELSE 'TAU' END",
    "THOI_GIAN":        "gate_in_at",
    "TRONG_LUONG_KG":   "weight_kg",
    "VI_TRI":           "yard_position"
}$m$, '{INSERT,UPDATE,DELETE}', 'gate_in_at IS NOT NULL');

-- Container gate-out (form 21): the move has a gate_out_at. One per move, however the row
-- arrives (a row first seen already gated out, an upsert replayed, a reload); cleared again (a
-- truck turned back), the 21 is withdrawn, or customs asked to cancel the pass (CANCEL_PASSED);
-- corrected after customs had it, CANCEL_PASSED and the corrected 21.
SELECT vasscm.bind('tos_container_move', '21', $m${
    "MA_HQ":            "'03CC'",
    "MA_DIA_DIEM":      "'03CCC01'",
    "LOAI_HANG":        "CASE flow WHEN 'EXPORT' THEN 'XUAT' WHEN 'TRANSIT' THEN 'QUA_CANH' ELSE 'NHAP' END",
    "SO_CONTAINER":     "container_no",
    "TRANG_THAI":       "full_empty",
    "SO_NIEM_PHONG":    "line_seal",
    "SO_NIEM_PHONG_HQ": "customs_seal",
    "LIST_TK/SO_TK":    "coalesce(declarations, ARRAY[declaration_no])",
    "PHUONG_TIEN":      "CASE out_by WHEN 'BARGE' THEN 'SALAN' WHEN 'VESSEL' THEN 'TAU' ELSE 'XE' END",
    "SO_PHUONG_TIEN":   "out_vehicle",
    "CO_CHUNG_TU":      "CASE WHEN with_documents THEN 'Y' ELSE 'N' END",
    "THOI_GIAN":        "gate_out_at"
}$m$, '{INSERT,UPDATE}', 'gate_out_at IS NOT NULL');

-- Seal change (form 24): every row of the seal log; the flow (import / export / transit) is the
-- container's current move's (the seal log does not carry it).
SELECT vasscm.bind('tos_seal_change', '24', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC01'",
    "LOAI_HANG":       "coalesce((SELECT CASE m.flow WHEN 'EXPORT' THEN 'XUAT' WHEN 'TRANSIT' THEN 'QUA_CANH' ELSE 'NHAP' END FROM public.tos_container_move m WHERE m.container_no = NEW.container_no ORDER BY m.gate_in_at DESC NULLS LAST LIMIT 1), 'NHAP')",
    "SO_CONTAINER":    "container_no",
    "LOAI_NIEM_PHONG": "CASE seal_kind WHEN 'CUSTOMS' THEN 'HAI_QUAN' ELSE 'HANG_TAU' END",
    "NIEM_PHONG_CU":   "old_seal",
    "NIEM_PHONG_MOI":  "new_seal",
    "LY_DO":           "reason",
    "THOI_GIAN":       "changed_at"
}$m$);

-- Packages, dry bulk and liquid: gate-in (form 15) and gate-out per trip / pump-out (form 22).
SELECT vasscm.bind('tos_cargo_move', '15', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC01'",
    "LOAI_HANG":       "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "TEN_TAU":         "vessel_name",
    "MA_TAU":          "vessel_imo",
    "SO_CHUYEN":       "voyage",
    "LOAI_HANG_HOA":   "CASE cargo_kind WHEN 'PACKAGE' THEN 'KIEN' WHEN 'LIQUID' THEN 'LONG' ELSE 'ROI' END",
    "SO_VAN_DON":      "bl_no",
    "SO_TK":           "declaration_no",
    "SO_LUONG":        "quantity",
    "DVT_SO_LUONG":    "quantity_unit",
    "TRONG_LUONG":     "round(weight_tonnes, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "volume_m3",
    "PHUONG_TIEN":     "CASE means WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' WHEN 'PIPELINE' THEN 'DUONG_ONG' ELSE 'TAU' END",
    "SO_PHUONG_TIEN":  "vehicle",
    "THOI_GIAN":       "moved_at"
}$m$, '{INSERT,UPDATE,DELETE}', $c$direction = 'IN'$c$);

-- Bulk / package trip out (form 22): one per trip row. A weighbridge ticket corrected in the TOS
-- (an UPDATE) rebuilds the 22 not yet sent, or asks customs to cancel the pass and sends the
-- corrected one. DELETE is not bound: this TOS purges finished trips, which is not an event; a
-- TOS that deletes duplicate tickets instead of voiding them binds DELETE too.
SELECT vasscm.bind('tos_cargo_move', '22', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC01'",
    "LOAI_HANG":       "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "LOAI_HANG_HOA":   "CASE cargo_kind WHEN 'PACKAGE' THEN 'KIEN' WHEN 'LIQUID' THEN 'LONG' ELSE 'ROI' END",
    "SO_VAN_DON":      "bl_no",
    "LIST_TK/SO_TK":   "ARRAY[declaration_no]",
    "SO_LUONG":        "quantity",
    "DVT_SO_LUONG":    "quantity_unit",
    "TRONG_LUONG":     "round(weight_tonnes, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "volume_m3",
    "PHUONG_TIEN":     "CASE means WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' WHEN 'PIPELINE' THEN 'DUONG_ONG' ELSE 'TAU' END",
    "SO_PHUONG_TIEN":  "vehicle",
    "THOI_GIAN":       "moved_at"
}$m$, '{INSERT,UPDATE}', $c$direction = 'OUT'$c$);

-- Liquids by pipeline: the volume is the difference of the meter readings.
SELECT vasscm.bind('tos_pump_reading', '15', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC01'",
    "LOAI_HANG":       "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "TEN_TAU":         "vessel_name",
    "MA_TAU":          "vessel_imo",
    "SO_CHUYEN":       "voyage",
    "LOAI_HANG_HOA":   "'LONG'",
    "SO_VAN_DON":      "bl_no",
    "SO_TK":           "declaration_no",
    "TRONG_LUONG":     "round(weight_tonnes, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "meter_end_m3 - meter_start_m3",
    "PHUONG_TIEN":     "'DUONG_ONG'",
    "SO_PHUONG_TIEN":  "meter",
    "THOI_GIAN":       "pumped_at"
}$m$, '{INSERT,UPDATE,DELETE}', $c$direction = 'IN'$c$);

SELECT vasscm.bind('tos_pump_reading', '22', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC01'",
    "LOAI_HANG":       "CASE flow WHEN 'EXPORT' THEN 'XUAT' ELSE 'NHAP' END",
    "LOAI_HANG_HOA":   "'LONG'",
    "SO_VAN_DON":      "bl_no",
    "LIST_TK/SO_TK":   "ARRAY[declaration_no]",
    "TRONG_LUONG":     "round(weight_tonnes, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "meter_end_m3 - meter_start_m3",
    "PHUONG_TIEN":     "'DUONG_ONG'",
    "SO_PHUONG_TIEN":  "meter",
    "THOI_GIAN":       "pumped_at"
}$m$, '{INSERT,UPDATE}', $c$direction = 'OUT'$c$);
