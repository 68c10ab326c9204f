-- vasscm demo: the catalogue, and one message of every cargo kind built, validated and parsed.
\pset pager off
\set QUIET on
CREATE EXTENSION vasscm;
-- Header defaults come from settings; a port sets them once per database.
SET vasscm.sender_code = 'CANGDEMO';
SET vasscm.sender_name = 'Cảng Demo Hải Phòng';
SET vasscm.receiver_code = '03CC';
\set QUIET off

\echo '--- The active catalogue: message types by direction and cargo kind'
SELECT direction, count(*) AS types, string_agg(code, ' ' ORDER BY code) AS codes
  FROM vasscm.message_types GROUP BY direction;

\echo '--- Container gate-in (form 14): built XML'
SELECT vasscm.build_message('14', '{
  "MA_HQ": "03CC", "MA_DIA_DIEM": "03CCC01", "LOAI_HANG": "NHAP",
  "TEN_TAU": "MAERSK HAI PHONG", "MA_TAU": "9321483", "SO_CHUYEN": "245N",
  "SO_CONTAINER": " msku 123456 5", "KICH_CO": "45G1", "TRANG_THAI": "F", "SO_NIEM_PHONG": "ML123456",
  "SO_VAN_DON": "MAEU245001", "HINH_THUC": "TAU", "THOI_GIAN": "2026-11-26 00:15:00+00",
  "TRONG_LUONG_KG": 18250.5, "VI_TRI": "A01-02-03"}') AS form_14 \gset
\echo :form_14

\echo '--- ... validated (no rows = valid) and parsed back'
SELECT * FROM vasscm.validate_message(:'form_14');
SELECT jsonb_pretty(vasscm.parse_message(:'form_14') -> 'data') AS parsed_data;

\echo '--- Every cargo kind: container gate-out (21), packages (15 KIEN), dry bulk (22 ROI), liquid pump-out (22 LONG)'
WITH samples(kind, form, data) AS (VALUES
  ('container', '21', '{"MA_HQ":"03CC","MA_DIA_DIEM":"03CCC01","LOAI_HANG":"NHAP","SO_CONTAINER":"MSKU1234565","TRANG_THAI":"F",
     "SO_NIEM_PHONG":"ML123456","LIST_TK":["308044805740"],"PHUONG_TIEN":"XE","SO_PHUONG_TIEN":"15C-123.45","CO_CHUNG_TU":"Y",
     "THOI_GIAN":"2026-11-26T15:40:00+07:00"}'::jsonb),
  ('package', '15', '{"MA_HQ":"03CC","MA_DIA_DIEM":"03CCC01","LOAI_HANG":"NHAP","LOAI_HANG_HOA":"KIEN","SO_VAN_DON":"HPBL0002",
     "SO_LUONG":40,"DVT_SO_LUONG":"CUON","TRONG_LUONG":800.25,"DVT_TRONG_LUONG":"TNE","PHUONG_TIEN":"TAU","SO_PHUONG_TIEN":"3WAB7",
     "THOI_GIAN":"2026-11-27T16:30:00+07:00"}'),
  ('dry bulk', '22', '{"MA_HQ":"03CC","MA_DIA_DIEM":"03CCC01","LOAI_HANG":"NHAP","LOAI_HANG_HOA":"ROI","SO_VAN_DON":"HPBL0001",
     "TRONG_LUONG":31.42,"DVT_TRONG_LUONG":"TNE","PHUONG_TIEN":"XE","SO_PHUONG_TIEN":"15H-678.90","LIST_TK":["101234567890"],
     "THOI_GIAN":"2026-11-28T09:12:00+07:00"}'),
  ('liquid', '22', '{"MA_HQ":"03CC","MA_DIA_DIEM":"03CCC01","LOAI_HANG":"NHAP","LOAI_HANG_HOA":"LONG","SO_VAN_DON":"HPBL0003",
     "TRONG_LUONG":31.5,"DVT_TRONG_LUONG":"TNE","THE_TICH_M3":37.48,"PHUONG_TIEN":"DUONG_ONG","SO_PHUONG_TIEN":"METER-07",
     "LIST_TK":["101234567891"],"THOI_GIAN":"2026-11-28T11:05:00+07:00"}')
), built AS (
  SELECT kind, form, data, vasscm.build_message(form, data) AS xml FROM samples
)
SELECT kind, form, length(xml) AS xml_bytes,
       (SELECT count(*) FROM vasscm.validate_message(xml)) AS problems,
       vasscm.parse_message(xml) -> 'data' = data AS round_trip_exact
  FROM built;

\echo '--- Bad TOS data: every problem is listed, with its path and rule'
SELECT * FROM vasscm.check_message_data('14',
  '{"MA_HQ":"03CC","SO_CONTAINER":"MSKU1234566","TRANG_THAI":"X","HINH_THUC":"TAU","SO_VAN_DON":"B/L & <co>"}');

\echo '--- Hostile XML is refused with a clear error'
SELECT * FROM vasscm.validate_message('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Customs>&a;</Customs>');

\echo '--- The XSD of form 14, generated from the same catalogue (container number element)'
\pset format unaligned
\pset tuples_only on
SELECT line FROM regexp_split_to_table(vasscm.message_xsd('14'), E'\n') WITH ORDINALITY AS t(line, n)
 WHERE n BETWEEN (SELECT min(n) FROM regexp_split_to_table(vasscm.message_xsd('14'), E'\n') WITH ORDINALITY AS u(l, n)
                   WHERE l LIKE '%name="SO_CONTAINER"%') AND
                 (SELECT min(n) + 7 FROM regexp_split_to_table(vasscm.message_xsd('14'), E'\n') WITH ORDINALITY AS u(l, n)
                   WHERE l LIKE '%name="SO_CONTAINER"%')
 ORDER BY n;
