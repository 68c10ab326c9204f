-- The port's own obligations, done by the database: discrepancies against the expected list
-- (18 / 19), DISCHARGE_DONE, YARD_MAP, CANCEL_PASSED, vessel matching and deadlines.

-- A vessel call key as customs writes it: MA_TAU/SO_CHUYEN, trimmed and upper-case.
CREATE FUNCTION _vessel_call(vessel_call text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT vasscm._norm(split_part(vessel_call, '/', 1)) || '/' || coalesce(vasscm._norm(split_part(vessel_call, '/', 2)), '')
$$;

-- Differences between customs' current expected list (01 containers, 02 bulk) for a vessel
-- call and the gate-ins the port reported (14 / 15, as amended, without cancelled ones).
CREATE FUNCTION discrepancies(vessel_call text)
RETURNS TABLE (cargo_kind text, reference text, discrepancy text, port_value text, customs_value text, note text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH call AS (SELECT vasscm._vessel_call(vessel_call) AS k),
exp AS (
    SELECT i.* FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id
     WHERE l.current AND l.form = '01' AND l.vessel_call = (SELECT k FROM call)),
got AS (
    SELECT DISTINCT ON (g.container_no) g.container_no, g.bl_no, vasscm._norm(g.data ->> 'SO_NIEM_PHONG') AS carrier_seal
      FROM vasscm.gate_ins g WHERE g.message_type = '14' AND g.vessel_call = (SELECT k FROM call)
     ORDER BY g.container_no, g.id DESC),
missing AS (
    SELECT e.*, row_number() OVER (PARTITION BY e.bl_no ORDER BY e.container_no) AS n
      FROM exp e WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.container_no = e.container_no)),
extra AS (
    SELECT g.*, row_number() OVER (PARTITION BY g.bl_no ORDER BY g.container_no) AS n
      FROM got g WHERE NOT EXISTS (SELECT 1 FROM exp e WHERE e.container_no = g.container_no)),
renamed AS (   -- a missing and an unexpected container on the same B/L: a wrong number
    SELECT m.container_no AS listed, x.container_no AS seen, m.bl_no
      FROM missing m JOIN extra x ON x.bl_no = m.bl_no AND x.n = m.n),
bulk_exp AS (
    SELECT i.bl_no, min(i.goods_kind) AS goods_kind, sum(i.quantity) AS quantity, sum(i.weight_kg) AS weight_kg, sum(i.volume_m3) AS volume_m3
      FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id
     WHERE l.current AND l.form = '02' AND l.vessel_call = (SELECT k FROM call)
     GROUP BY i.bl_no),
bulk_got AS (
    SELECT g.bl_no, sum((g.data ->> 'SO_LUONG')::numeric) AS quantity,
           sum(vasscm._kg((g.data ->> 'TRONG_LUONG')::numeric, g.data ->> 'DVT_TRONG_LUONG')) AS weight_kg,
           sum((g.data ->> 'THE_TICH_M3')::numeric) AS volume_m3
      FROM vasscm.gate_ins g WHERE g.message_type = '15' AND g.vessel_call = (SELECT k FROM call)
     GROUP BY g.bl_no)
SELECT 'container', r.listed, 'SO_CONTAINER', r.seen, r.listed,
       format('Số container khác danh sách (vận đơn %s) / container number differs from the list (B/L %s)', r.bl_no, r.bl_no)
  FROM renamed r
UNION ALL
SELECT 'container', m.container_no, 'THIEU', NULL, m.container_no,
       'Có trong danh sách dự kiến, chưa hạ bãi / on the expected list, not in the port'
  FROM missing m WHERE NOT EXISTS (SELECT 1 FROM renamed r WHERE r.listed = m.container_no)
UNION ALL
SELECT 'container', x.container_no, 'NGOAI_DANH_SACH', x.container_no, NULL,
       'Đã hạ bãi, không có trong danh sách dự kiến / in the port, not on the expected list'
  FROM extra x WHERE NOT EXISTS (SELECT 1 FROM renamed r WHERE r.seen = x.container_no)
UNION ALL
SELECT 'container', e.container_no, 'NIEM_PHONG', coalesce(g.carrier_seal, ''), e.carrier_seal,
       'Niêm phong hãng tàu khác danh sách / carrier seal differs from the list'
  FROM exp e JOIN got g USING (container_no)
 WHERE e.carrier_seal IS NOT NULL AND e.carrier_seal IS DISTINCT FROM g.carrier_seal
UNION ALL
SELECT 'bulk', e.bl_no, 'THIEU', NULL, e.bl_no, 'Vận đơn có trong danh sách, chưa hạ bãi / B/L on the expected list, nothing landed'
  FROM bulk_exp e WHERE NOT EXISTS (SELECT 1 FROM bulk_got g WHERE g.bl_no = e.bl_no)
UNION ALL
SELECT 'bulk', g.bl_no, 'NGOAI_DANH_SACH', g.bl_no, NULL, 'Hàng đã hạ bãi, vận đơn không có trong danh sách / landed, B/L not on the expected list'
  FROM bulk_got g WHERE NOT EXISTS (SELECT 1 FROM bulk_exp e WHERE e.bl_no = g.bl_no)
UNION ALL
SELECT 'bulk', e.bl_no, 'SO_LUONG', vasscm._fmt(g.quantity), vasscm._fmt(e.quantity),
       'Số lượng thực tế khác danh sách / landed quantity differs from the list'
  FROM bulk_exp e JOIN bulk_got g USING (bl_no) WHERE e.quantity IS NOT NULL AND g.quantity IS DISTINCT FROM e.quantity
UNION ALL
SELECT 'bulk', e.bl_no, 'TRONG_LUONG', vasscm._fmt(g.weight_kg) || ' kg', vasscm._fmt(e.weight_kg) || ' kg',
       'Trọng lượng thực tế khác danh sách / landed weight differs from the list'
  FROM bulk_exp e JOIN bulk_got g USING (bl_no) WHERE e.weight_kg IS NOT NULL AND g.weight_kg IS DISTINCT FROM e.weight_kg
ORDER BY 1, 2, 3
$$;
COMMENT ON FUNCTION discrepancies(text) IS 'Differences between the expected list (01 / 02) of a vessel call (MA_TAU/SO_CHUYEN) and what got in.';

-- Header fields of a message the port sends about a vessel call.
CREATE FUNCTION _call_cargo(vessel_call text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l vasscm.expected_list;
BEGIN
    SELECT * INTO l FROM vasscm.expected_list x
     WHERE x.vessel_call = vasscm._vessel_call(_call_cargo.vessel_call) AND x.current ORDER BY x.listed_at DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: customs sent no expected list (form 01 / 02) for vessel call %', vessel_call
            USING ERRCODE = 'no_data_found', HINT = 'A vessel call is written MA_TAU/SO_CHUYEN, e.g. 9321483/245N.';
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'MA_HQ', coalesce(l.customs_office, vasscm._customs_office()), 'MA_DIA_DIEM', vasscm._place_code(),
        'LOAI_HANG', coalesce(l.cargo_flow, 'NHAP'), 'TEN_TAU', l.vessel_name, 'MA_TAU', l.vessel_code, 'SO_CHUYEN', l.voyage));
END
$$;

-- Enqueues form 18 (containers) and / or 19 (bulk) from vasscm.discrepancies(); a report
-- identical to one already sent or queued is not sent again. Returns the Transaction_IDs.
CREATE FUNCTION report_discrepancies(vessel_call text) RETURNS SETOF uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head jsonb := vasscm._call_cargo(vessel_call);
    kind text;
    list jsonb;
    msg  jsonb;
    form text;
BEGIN
    FOREACH kind IN ARRAY ARRAY['container', 'bulk'] LOOP
        form := CASE kind WHEN 'container' THEN '18' ELSE '19' END;
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   CASE kind WHEN 'container' THEN 'SO_CONTAINER' ELSE 'SO_VAN_DON' END, d.reference,
                   'LOAI_SAI_KHAC', d.discrepancy, 'GIA_TRI_CANG', left(d.port_value, 100),
                   'GIA_TRI_HQ', left(d.customs_value, 100), 'GHI_CHU', left(d.note, 250))) ORDER BY d.reference, d.discrepancy)
          INTO list FROM vasscm.discrepancies(vessel_call) d WHERE d.cargo_kind = kind;
        CONTINUE WHEN list IS NULL;
        msg := head || jsonb_build_object('LIST_SAI_KHAC', list);
        IF EXISTS (SELECT 1 FROM vasscm.outbox o WHERE o.message_type = form AND o.data = msg AND vasscm._counts(o.status)) THEN
            RAISE NOTICE 'vasscm: the same % discrepancies of % were already reported (form %)', kind, vessel_call, form;
            CONTINUE;
        END IF;
        RETURN NEXT vasscm.enqueue(form, msg);
    END LOOP;
END
$$;
COMMENT ON FUNCTION report_discrepancies(text) IS 'Operator: enqueues forms 18 / 19 for the discrepancies of a vessel call (not twice the same).';

-- DISCHARGE_DONE: all cargo of a vessel call has got in. Refuses while something on the list
-- is missing, unless force. Idempotent: returns the existing message when already reported.
CREATE FUNCTION report_discharge_done(vessel_call text, force boolean DEFAULT false) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head    jsonb := vasscm._call_cargo(vessel_call);
    k       text := vasscm._vessel_call(vessel_call);
    missing int;
    done    uuid;
    t       record;
BEGIN
    SELECT o.transaction_id INTO done FROM vasscm.outbox o
     WHERE o.message_type = 'DISCHARGE_DONE' AND vasscm._counts(o.status)
       AND vasscm._vessel_call_of(o.data) = k;
    IF FOUND THEN
        RAISE NOTICE 'vasscm: DISCHARGE_DONE of % was already reported', k;
        RETURN done;
    END IF;
    SELECT count(*) INTO missing FROM vasscm.discrepancies(k) d WHERE d.discrepancy = 'THIEU';
    IF missing > 0 AND NOT force THEN
        RAISE EXCEPTION 'vasscm: % item(s) of the expected list of % have not got in', missing, k
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM vasscm.discrepancies(...) lists them; report_discharge_done(call, force => true) reports anyway.';
    END IF;
    SELECT max(g.entered_at) AS last_in, count(*) FILTER (WHERE g.message_type = '14') AS containers,
           sum(CASE WHEN g.message_type = '14' THEN (g.data ->> 'TRONG_LUONG_KG')::numeric
                    ELSE vasscm._kg((g.data ->> 'TRONG_LUONG')::numeric, g.data ->> 'DVT_TRONG_LUONG') END) AS kg
      INTO t FROM vasscm.gate_ins g WHERE g.vessel_call = k;
    RETURN vasscm.enqueue('DISCHARGE_DONE', head || jsonb_strip_nulls(jsonb_build_object(
        'THOI_GIAN', to_char(coalesce(t.last_in, now()) AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS"+07:00"'),
        'TONG_SO_CONTAINER', t.containers, 'TONG_TRONG_LUONG', t.kg, 'DVT_TRONG_LUONG', CASE WHEN t.kg IS NOT NULL THEN 'KGM' END)));
END
$$;
COMMENT ON FUNCTION report_discharge_done(text, boolean) IS 'Operator: enqueues DISCHARGE_DONE for a vessel call once all its listed cargo got in.';

-- Job: DISCHARGE_DONE for every vessel call whose whole expected list got in. Returns how many.
CREATE FUNCTION discharge_done_due() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    n int := 0;
BEGIN
    FOR k IN SELECT DISTINCT l.vessel_call FROM vasscm.expected_list l
              WHERE l.current AND l.form IN ('01', '02') AND l.vessel_call IS NOT NULL
                AND EXISTS (SELECT 1 FROM vasscm.gate_ins g WHERE g.vessel_call = l.vessel_call)
                AND NOT EXISTS (SELECT 1 FROM vasscm.outbox o WHERE o.message_type = 'DISCHARGE_DONE' AND vasscm._counts(o.status)
                                   AND vasscm._vessel_call_of(o.data) = l.vessel_call)
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM vasscm.discrepancies(k) d WHERE d.discrepancy = 'THIEU');
        PERFORM vasscm.report_discharge_done(k, force => true);   -- just checked: nothing missing
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION discharge_done_due() IS 'Job: reports DISCHARGE_DONE for vessel calls whose listed cargo is all in.';

-- A TOS relation vasscm reads must have these columns (a view can rename them).
CREATE FUNCTION _require_columns(rel regclass, columns text[], hint text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col text;
BEGIN
    FOREACH col IN ARRAY columns LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'vasscm: % has no column "%"', rel, col USING ERRCODE = 'undefined_column', HINT = hint;
        END IF;
    END LOOP;
END
$$;

-- The yard as last reported to customs, to send incremental YARD_MAPs.
CREATE TABLE yard_block_reported (
    block_code   text PRIMARY KEY,
    block_name   text,
    capacity_teu numeric,
    used_teu     numeric,
    reported_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE yard_block_reported IS 'Yard blocks as last reported in a YARD_MAP (the base of incremental maps).';

-- YARD_MAP from a TOS yard relation with columns block_code, block_name, capacity_teu,
-- used_teu: full (every block) or incremental (added / changed / removed blocks since the
-- last map). Returns the Transaction_ID, or NULL when an incremental map has nothing to say.
CREATE FUNCTION report_yard_map(yard regclass, full_map boolean DEFAULT false) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    items jsonb;
BEGIN
    IF NOT has_table_privilege(session_user, yard, 'SELECT') THEN
        RAISE EXCEPTION 'vasscm: % may not read %', session_user, yard USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM vasscm._require_columns(yard, ARRAY['block_code', 'block_name', 'capacity_teu', 'used_teu'],
                                    'The yard relation needs block_code, block_name, capacity_teu, used_teu (a view can rename).');
    CREATE TEMP TABLE IF NOT EXISTS vasscm_yard_now (block_code text PRIMARY KEY, block_name text, capacity_teu numeric, used_teu numeric) ON COMMIT DROP;
    TRUNCATE vasscm_yard_now;
    EXECUTE format('INSERT INTO vasscm_yard_now SELECT DISTINCT ON (block_code::text) block_code::text, block_name::text, capacity_teu::numeric, used_teu::numeric FROM %s WHERE block_code IS NOT NULL', yard);
    IF full_map THEN
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object('MA_BAI', n.block_code, 'TEN_BAI', n.block_name,
                   'SUC_CHUA_TEU', n.capacity_teu, 'DANG_SU_DUNG_TEU', n.used_teu)) ORDER BY n.block_code)
          INTO items FROM vasscm_yard_now n;
    ELSE
        SELECT jsonb_agg(x.item ORDER BY x.code) INTO items FROM (
            SELECT n.block_code AS code, jsonb_strip_nulls(jsonb_build_object('MA_BAI', n.block_code, 'TEN_BAI', n.block_name,
                       'SUC_CHUA_TEU', n.capacity_teu, 'DANG_SU_DUNG_TEU', n.used_teu,
                       'THAO_TAC_BAI', CASE WHEN r.block_code IS NULL THEN 'THEM' ELSE 'SUA' END)) AS item
              FROM vasscm_yard_now n LEFT JOIN vasscm.yard_block_reported r USING (block_code)
             WHERE r.block_code IS NULL OR (r.block_name, r.capacity_teu, r.used_teu) IS DISTINCT FROM (n.block_name, n.capacity_teu, n.used_teu)
            UNION ALL
            SELECT r.block_code, jsonb_build_object('MA_BAI', r.block_code, 'THAO_TAC_BAI', 'XOA')
              FROM vasscm.yard_block_reported r WHERE NOT EXISTS (SELECT 1 FROM vasscm_yard_now n WHERE n.block_code = r.block_code)) x;
        IF items IS NULL THEN
            RAISE NOTICE 'vasscm: the yard has not changed since the last YARD_MAP';
            RETURN NULL;
        END IF;
    END IF;
    IF items IS NULL THEN
        RAISE EXCEPTION 'vasscm: % has no yard blocks', yard USING ERRCODE = 'no_data_found';
    END IF;
    DELETE FROM vasscm.yard_block_reported;
    INSERT INTO vasscm.yard_block_reported (block_code, block_name, capacity_teu, used_teu) SELECT * FROM vasscm_yard_now;
    RETURN vasscm.enqueue('YARD_MAP', jsonb_build_object(
        'MA_HQ', vasscm._customs_office(), 'MA_DIA_DIEM', vasscm._place_code(),
        'LOAI_CAP_NHAT', CASE WHEN full_map THEN 'TOAN_BO' ELSE 'THAY_DOI' END,
        'THOI_GIAN', to_char(now() AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD"T"HH24:MI:SS"+07:00"'), 'LIST_BAI', items));
END
$$;
COMMENT ON FUNCTION report_yard_map(regclass, boolean) IS 'Operator: enqueues a full or incremental YARD_MAP from a TOS yard relation.';

-- CANCEL_PASSED: asks customs to cancel a gate-out confirmation (21 / 22), with the reason.
CREATE FUNCTION cancel_passed(gate_out uuid, reason text) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o vasscm.outbox;
BEGIN
    SELECT * INTO o FROM vasscm.outbox x WHERE x.transaction_id = gate_out;
    IF NOT FOUND OR o.message_type NOT IN ('21', '22') THEN
        RAISE EXCEPTION 'vasscm: % is not a gate-out message (form 21 / 22)', gate_out USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT vasscm._counts(o.status) THEN
        RAISE EXCEPTION 'vasscm: gate-out % is %, there is nothing to cancel', gate_out, o.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN vasscm.enqueue('CANCEL_PASSED', jsonb_strip_nulls(jsonb_build_object(
        'MA_HQ', o.data ->> 'MA_HQ', 'MA_DIA_DIEM', o.data ->> 'MA_DIA_DIEM', 'TRANSACTION_ID_GOC', gate_out,
        'SO_CONTAINER', o.data ->> 'SO_CONTAINER', 'SO_VAN_DON', o.data ->> 'SO_VAN_DON', 'SO_TK', o.data -> 'LIST_TK' ->> 0,
        'LY_DO', reason)));
END
$$;
COMMENT ON FUNCTION cancel_passed(uuid, text) IS 'Operator: asks customs to cancel a "passed the zone" confirmation; the goods count as not gone once customs accepts.';

-- Vessel names compared without punctuation, spaces or an M/V-style prefix.
CREATE FUNCTION _vessel_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(regexp_replace(upper(btrim(name)), '^(M[/.]?V|M[/.]?T|S[/.]?S)[.]?\s+', ''), '[^A-Z0-9]', '', 'g'), '')
$$;

-- Matches customs' vessel calls to the TOS's vessel visits (a relation with columns visit_id,
-- imo, call_sign, vessel_name, eta): IMO 1.00, call sign 0.90, normalised name 0.60, less up
-- to 0.10 as the ETAs drift apart within the window. Manual matches are never changed.
-- Returns how many matches were made or changed.
CREATE FUNCTION match_vessels(visits regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT has_table_privilege(session_user, visits, 'SELECT') THEN
        RAISE EXCEPTION 'vasscm: % may not read %', session_user, visits USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN vasscm._match_vessels(visits);
END
$$;
COMMENT ON FUNCTION match_vessels(regclass) IS 'Matches VESSEL_LIST entries to TOS vessel visits (IMO, call sign, name, ETA window) with a confidence.';

-- The matching itself (also run when a VESSEL_LIST arrives, from the configured source).
CREATE FUNCTION _match_vessels(visits regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n      int;
    hours  float8 := coalesce(vasscm._setting_value('vessel_match_window_hours'), '48')::float8;
BEGIN
    PERFORM vasscm._require_columns(visits, ARRAY['visit_id', 'imo', 'call_sign', 'vessel_name', 'eta'],
                                    'Vessel visits need visit_id, imo, call_sign, vessel_name, eta (a view can rename).');
    EXECUTE format($q$
        WITH v AS (
            SELECT visit_id::text AS visit_id, nullif(btrim(imo::text), '') AS imo, vasscm._norm(call_sign::text) AS call_sign,
                   vasscm._vessel_name(vessel_name::text) AS name, eta::timestamptz AS eta FROM %s),
        cand AS (
            SELECT c.vessel_call, v.visit_id,
                   CASE WHEN c.imo IS NOT NULL AND c.imo = v.imo THEN 1.00
                        WHEN c.vessel_code = v.imo THEN 1.00
                        WHEN c.call_sign IS NOT NULL AND c.call_sign = v.call_sign THEN 0.90
                        WHEN c.vessel_code = v.call_sign THEN 0.90
                        ELSE 0.60 END
                   - 0.10 * coalesce(abs(extract(epoch FROM c.eta - v.eta)) / 3600 / $1, 0) AS confidence,
                   CASE WHEN c.imo = v.imo OR c.vessel_code = v.imo THEN 'imo'
                        WHEN c.call_sign = v.call_sign OR c.vessel_code = v.call_sign THEN 'call_sign'
                        ELSE 'name' END AS method
              FROM vasscm.customs_vessel c JOIN v
                ON (c.imo = v.imo OR c.vessel_code = v.imo OR c.call_sign = v.call_sign OR c.vessel_code = v.call_sign
                    OR vasscm._vessel_name(c.vessel_name) = v.name)
             WHERE c.eta IS NULL OR v.eta IS NULL OR abs(extract(epoch FROM c.eta - v.eta)) <= $1 * 3600),
        ranked AS (
            SELECT cand.*, count(*) OVER (PARTITION BY vessel_call, round(confidence::numeric, 2)) AS ties,
                   row_number() OVER (PARTITION BY vessel_call ORDER BY confidence DESC, visit_id) AS rank
              FROM cand),
        best AS (SELECT * FROM ranked WHERE rank = 1 AND ties = 1)
        INSERT INTO vasscm.vessel_match AS m (vessel_call, visit_id, confidence, method)
        SELECT vessel_call, visit_id, round(confidence::numeric, 2), method FROM best
        ON CONFLICT (vessel_call) DO UPDATE
           SET visit_id = EXCLUDED.visit_id, confidence = EXCLUDED.confidence, method = EXCLUDED.method, matched_at = now()
         WHERE NOT m.manual AND (m.visit_id, m.confidence) IS DISTINCT FROM (EXCLUDED.visit_id, EXCLUDED.confidence)$q$, visits)
    USING hours;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Manual override of a vessel match (NULL visit_id: back to automatic).
CREATE FUNCTION set_vessel_match(vessel_call text, visit_id text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text := vasscm._vessel_call(vessel_call);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.customs_vessel c WHERE c.vessel_call = k) THEN
        RAISE EXCEPTION 'vasscm: customs announced no vessel call % (VESSEL_LIST)', k USING ERRCODE = 'no_data_found';
    END IF;
    IF visit_id IS NULL THEN
        DELETE FROM vasscm.vessel_match m WHERE m.vessel_call = k AND m.manual;
        RETURN;
    END IF;
    INSERT INTO vasscm.vessel_match AS m (vessel_call, visit_id, confidence, method, manual)
    VALUES (k, visit_id, 1.00, 'manual', true)
    ON CONFLICT ON CONSTRAINT vessel_match_pkey DO UPDATE SET visit_id = EXCLUDED.visit_id, confidence = 1.00, method = 'manual', manual = true,
                                            matched_at = now(), matched_by = session_user;
END
$$;
COMMENT ON FUNCTION set_vessel_match(text, text) IS 'Operator: sets (or with NULL clears) the TOS visit of a customs vessel call by hand.';

CREATE VIEW vessel_calls AS
SELECT c.vessel_call, c.vessel_code, c.voyage, c.imo, c.call_sign, c.vessel_name, c.eta, c.etd, c.previous_port,
       m.visit_id, m.confidence, m.method, m.manual, c.listed_at
  FROM vasscm.customs_vessel c LEFT JOIN vasscm.vessel_match m USING (vessel_call);
COMMENT ON VIEW vessel_calls IS 'Vessel calls announced by customs and the TOS visit each is matched to.';

-- Legal deadlines missed or running late: gate-outs (21 / 22) not accepted by customs within
-- 15 min (import) / 30 min (export) of the goods leaving, lists (01 / 02) later than 8 h and
-- scan lists (03) later than 4 h before ETA. Gate-outs come from the movement ledger (when the
-- goods left), whatever became of their message: one queued, dead, rejected, invalid or held
-- back by another message is exactly the one that misses its limit. A message declined by an
-- operator (cancelled) is an explicit decision and is not listed; a gate-out undone in the TOS,
-- or whose pass customs cancelled (CANCEL_PASSED accepted), did not happen.
CREATE INDEX outbox_gate_out_by_time ON outbox (created_at) WHERE message_type IN ('21', '22');
-- (happened_at IS NOT NULL: only a query on the time uses it; per-container lookups take the container's index.)
CREATE INDEX movement_gate_out_by_time ON movement (happened_at) WHERE kind = 'gate_out' AND undone_at IS NULL AND happened_at IS NOT NULL;
INSERT INTO setting VALUES
    ('deadline_window_days', '7', 'vasscm.deadlines looks this many days back (older misses stay in vasscm.deadline_alert)');

-- The deadlines of messages (gate-outs, customs lists); vasscm.deadlines (sql/incident.sql)
-- adds the incident notifications.
CREATE VIEW _deadlines_of_messages AS
WITH lim AS (
    SELECT vasscm._setting_value('gate_out_deadline_import_minutes')::int AS imp, vasscm._setting_value('gate_out_deadline_export_minutes')::int AS exp,
           vasscm._setting_value('list_lead_hours')::int AS list_h, vasscm._setting_value('scan_list_lead_hours')::int AS scan_h,
           now() - make_interval(days => vasscm._setting_value('deadline_window_days')::int) AS since),
gate AS (
    SELECT o.id, o.transaction_id, m.message_type, coalesce(m.container_no, m.bl_no) AS reference, o.status, o.order_key, o.last_error,
           -- when the goods left: as the port reports it (the message), or as the ledger has it when the message is unusable
           coalesce(CASE WHEN o.status NOT IN ('invalid', 'cancelled') THEN (o.data ->> 'THOI_GIAN')::timestamptz END, m.happened_at) AS event_at,
           coalesce(m.facts ->> 'LOAI_HANG', o.data ->> 'LOAI_HANG') AS flow,
           (SELECT min(h.at) FROM vasscm.outbox_history h WHERE h.outbox_id = o.id AND h.to_status = 'accepted') AS accepted_at
      FROM vasscm.movement m
      JOIN vasscm.outbox o ON o.id = m.outbox_id
     WHERE m.kind = 'gate_out' AND m.undone_at IS NULL AND o.status <> 'cancelled'
       AND m.happened_at > (SELECT lim.since - interval '1 day' FROM lim)
       AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                        WHERE c.message_type = 'CANCEL_PASSED' AND c.original_transaction_id = o.transaction_id AND c.status = 'accepted')),
late AS (
    SELECT g.*, CASE WHEN g.flow = 'NHAP' THEN lim.imp ELSE lim.exp END AS mins
      FROM gate g CROSS JOIN lim
     WHERE g.event_at > lim.since
       AND coalesce(g.accepted_at, now()) > g.event_at + make_interval(mins => CASE WHEN g.flow = 'NHAP' THEN lim.imp ELSE lim.exp END))
SELECT 'gate_out'::text AS kind, g.transaction_id, g.message_type, g.reference, g.event_at,
       g.event_at + make_interval(mins => g.mins) AS due_at, g.accepted_at AS done_at,
       CASE WHEN g.accepted_at IS NULL THEN 'overdue' ELSE 'late' END AS state,
       format('Mẫu %s chưa được hải quan chấp nhận trong %s phút kể từ khi hàng ra (trạng thái %s)%s / form %s not accepted by customs within %s minutes of the goods leaving (status %s)%s',
              g.message_type, g.mins, g.status, coalesce('; ' || b.vi, ''), g.message_type, g.mins, g.status, coalesce('; ' || b.en, '')) AS detail
  FROM late g
  -- what holds it back: its own data (invalid), an earlier message for the same container / B/L
  -- still waiting (for an approval, for its own original), or customs' answer (dead, rejected)
  LEFT JOIN LATERAL (
      SELECT CASE WHEN g.status = 'invalid' THEN format('không hợp lệ: %s', left(coalesce(g.last_error, ''), 200))
                  WHEN e.id IS NOT NULL THEN format('bị giữ lại sau mẫu %s (%s) %s', e.message_type, e.transaction_id,
                       CASE WHEN e.status = 'pending_approval' THEN 'đang chờ phê duyệt'
                            WHEN e.orig_status IS NOT NULL THEN format('đang chờ thông điệp gốc của nó (trạng thái %s)', e.orig_status)
                            ELSE format('chưa được gửi (trạng thái %s)', e.status) END)
                  WHEN g.status = 'dead' THEN 'gửi không thành công, cần gửi lại (vasscm.requeue)'
                  WHEN g.status = 'rejected' THEN 'bị hải quan từ chối' END AS vi,
             CASE WHEN g.status = 'invalid' THEN format('invalid: %s', left(coalesce(g.last_error, ''), 200))
                  WHEN e.id IS NOT NULL THEN format('held back by form %s (%s) %s', e.message_type, e.transaction_id,
                       CASE WHEN e.status = 'pending_approval' THEN 'waiting for approval'
                            WHEN e.orig_status IS NOT NULL THEN format('waiting for its original (status %s)', e.orig_status)
                            ELSE format('not sent yet (status %s)', e.status) END)
                  WHEN g.status = 'dead' THEN 'sending failed, requeue it (vasscm.requeue)'
                  WHEN g.status = 'rejected' THEN 'rejected by customs' END AS en
        FROM (SELECT NULL::int AS one) one
        LEFT JOIN LATERAL (
            SELECT x.id, x.message_type, x.transaction_id, x.status,
                   (SELECT y.status FROM vasscm.outbox y WHERE y.transaction_id = x.original_transaction_id
                       AND y.status IN ('invalid', 'pending_approval', 'queued', 'sending', 'dead')) AS orig_status
              FROM vasscm.outbox x
             WHERE g.status IN ('queued', 'pending_approval') AND x.order_key = g.order_key AND x.id < g.id
               AND x.status IN ('queued', 'sending', 'pending_approval')
             ORDER BY (x.status = 'pending_approval') DESC, x.id LIMIT 1) e ON true) b ON true
UNION ALL
SELECT 'list', l.transaction_id, l.form, l.vessel_call, l.received_at, l.eta - make_interval(hours => lim.list_h), l.received_at, 'late',
       format('Danh sách mẫu %s đến muộn: %s trước ETA, quy định %s giờ / list form %s arrived %s before ETA, %s h required',
              l.form, to_char(l.eta - l.received_at, 'HH24:MI'), lim.list_h, l.form, to_char(l.eta - l.received_at, 'HH24:MI'), lim.list_h)
  FROM vasscm.expected_list l CROSS JOIN lim
 WHERE l.form IN ('01', '02') AND l.eta IS NOT NULL AND l.received_at > l.eta - make_interval(hours => lim.list_h)
   AND l.received_at > lim.since
UNION ALL
SELECT 'scan_list', s.transaction_id, '03', min(s.vessel_call), min(s.received_at), min(s.eta) - make_interval(hours => min(lim.scan_h)),
       min(s.received_at), 'late',
       format('Danh sách soi chiếu (mẫu 03) đến muộn, quy định %s giờ trước ETA / scan list (form 03) arrived later than %s h before ETA',
              min(lim.scan_h), min(lim.scan_h))
  FROM vasscm.scan_selection s CROSS JOIN lim
 WHERE s.eta IS NOT NULL AND s.received_at > lim.since
 GROUP BY s.transaction_id
HAVING min(s.received_at) > min(s.eta) - make_interval(hours => min(lim.scan_h));
COMMENT ON VIEW _deadlines_of_messages IS 'Deadlines of messages (gate-outs from the movement ledger, customs lists); vasscm.deadlines adds the incident notifications.';

-- Alerts: deadlines as first seen, so that a job can notify once (NOTIFY vasscm_deadline).
CREATE TABLE deadline_alert (
    kind           text NOT NULL,
    transaction_id uuid NOT NULL,
    reference      text,
    due_at         timestamptz,
    state          text NOT NULL,
    detail         text,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, transaction_id)
);
COMMENT ON TABLE deadline_alert IS 'Deadlines missed, as found by vasscm.refresh_deadline_alerts() (a pg_cron job).';

CREATE FUNCTION refresh_deadline_alerts() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
BEGIN
    WITH up AS (
        INSERT INTO vasscm.deadline_alert AS a (kind, transaction_id, reference, due_at, state, detail)
        SELECT d.kind, d.transaction_id, d.reference, d.due_at, d.state, d.detail FROM vasscm.deadlines d
        ON CONFLICT (kind, transaction_id) DO UPDATE SET state = EXCLUDED.state, detail = EXCLUDED.detail, last_seen = now()
        RETURNING (xmax = 0) AS inserted)
    SELECT count(*) FILTER (WHERE inserted) INTO n FROM up;
    IF n > 0 THEN
        PERFORM pg_notify('vasscm_deadline', n::text);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION refresh_deadline_alerts() IS 'Job: records newly missed deadlines in vasscm.deadline_alert and notifies vasscm_deadline; returns how many are new.';
