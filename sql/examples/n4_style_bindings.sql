-- Bindings for example TOS schema 2 (n4_style_tables.sql): gate moves are event INSERTs.

SELECT vasscm.bind('srv_event', '14', $m${
    "MA_HQ":            "'03CC'",
    "MA_DIA_DIEM":      "'03CCC02'",
    "LOAI_HANG":        "CASE category WHEN 'EXPRT' THEN 'XUAT' WHEN 'TRSHP' THEN 'CHUYEN_CANG' ELSE 'NHAP' END",
    "MA_TAU":           "CASE WHEN carrier_mode = 'VESSEL' THEN carrier_id END",
    "SO_CONTAINER":     "unit_id",
    "TRANG_THAI":       "CASE freight_kind WHEN 'MTY' THEN 'E' ELSE 'F' END",
    "SO_NIEM_PHONG":    "seal_nbr1",
    "SO_NIEM_PHONG_HQ": "seal_nbr4",
    "SO_VAN_DON":       "bl_nbr",
    "SO_TK":            "split_part(decls, ',', 1)",
    "HINH_THUC":        "CASE carrier_mode WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' ELSE 'TAU' END",
    "THOI_GIAN":        "placed_time"
}$m$, '{INSERT}', $c$event_type IN ('UNIT_DISCH', 'UNIT_RECEIVE')$c$);

SELECT vasscm.bind('srv_event', '21', $m${
    "MA_HQ":          "'03CC'",
    "MA_DIA_DIEM":    "'03CCC02'",
    "LOAI_HANG":      "CASE category WHEN 'EXPRT' THEN 'XUAT' WHEN 'TRSHP' THEN 'CHUYEN_CANG' ELSE 'NHAP' END",
    "SO_CONTAINER":   "unit_id",
    "TRANG_THAI":     "CASE freight_kind WHEN 'MTY' THEN 'E' ELSE 'F' END",
    "SO_NIEM_PHONG":  "seal_nbr1",
    "SO_NIEM_PHONG_HQ": "seal_nbr4",
    "LIST_TK/SO_TK":  "string_to_array(nullif(decls, ''), ',')",
    "PHUONG_TIEN":    "CASE carrier_mode WHEN 'BARGE' THEN 'SALAN' WHEN 'VESSEL' THEN 'TAU' ELSE 'XE' END",
    "SO_PHUONG_TIEN": "carrier_id",
    "CO_CHUNG_TU":    "'Y'",
    "THOI_GIAN":      "placed_time"
}$m$, '{INSERT}', $c$event_type IN ('UNIT_DELIVER', 'UNIT_LOAD')$c$);

SELECT vasscm.bind('bulk_ticket', '15', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC02'",
    "LOAI_HANG":       "'NHAP'",
    "LOAI_HANG_HOA":   "CASE commodity WHEN 'BREAKBULK' THEN 'KIEN' WHEN 'LIQUID' THEN 'LONG' ELSE 'ROI' END",
    "SO_VAN_DON":      "bl_nbr",
    "SO_TK":           "decl_nbr",
    "SO_LUONG":        "pieces",
    "DVT_SO_LUONG":    "piece_unit",
    "TRONG_LUONG":     "round(net_kg / 1000, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "meter_end - meter_start",
    "PHUONG_TIEN":     "CASE via WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' WHEN 'PIPE' THEN 'DUONG_ONG' ELSE 'TAU' END",
    "SO_PHUONG_TIEN":  "via_id",
    "THOI_GIAN":       "ticket_time"
}$m$, '{INSERT,UPDATE,DELETE}', $c$movement = 'RECEIVE'$c$);

SELECT vasscm.bind('bulk_ticket', '22', $m${
    "MA_HQ":           "'03CC'",
    "MA_DIA_DIEM":     "'03CCC02'",
    "LOAI_HANG":       "'NHAP'",
    "LOAI_HANG_HOA":   "CASE commodity WHEN 'BREAKBULK' THEN 'KIEN' WHEN 'LIQUID' THEN 'LONG' ELSE 'ROI' END",
    "SO_VAN_DON":      "bl_nbr",
    "LIST_TK/SO_TK":   "ARRAY[decl_nbr]",
    "SO_LUONG":        "pieces",
    "DVT_SO_LUONG":    "piece_unit",
    "TRONG_LUONG":     "round(net_kg / 1000, 3)",
    "DVT_TRONG_LUONG": "'TNE'",
    "THE_TICH_M3":     "meter_end - meter_start",
    "PHUONG_TIEN":     "CASE via WHEN 'TRUCK' THEN 'XE' WHEN 'BARGE' THEN 'SALAN' WHEN 'PIPE' THEN 'DUONG_ONG' ELSE 'TAU' END",
    "SO_PHUONG_TIEN":  "via_id",
    "THOI_GIAN":       "ticket_time"
}$m$, '{INSERT}', $c$movement = 'DELIVER'$c$);
