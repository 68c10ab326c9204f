-- Clearance: customs → port messages become state the gate and every TOS report can query.
--
-- vasscm.receive() stores each verified customs message once in vasscm.inbox and applies it
-- here (vasscm._apply_inbox). Every piece of state remembers the (Transaction_Date,
-- Transaction_ID) of the message that set it, and a message only changes what an older one
-- set: applying the same message twice changes nothing, and messages applied out of order
-- end in the state their timestamps say. Every application, including the ones that changed
-- nothing because newer data was already there, is kept in vasscm.clearance_history.

-- Settings kept in the database (not GUCs: they are shared by every session and by pg_cron).
CREATE TABLE setting (
    name        text PRIMARY KEY,
    value       text,
    description text NOT NULL
);
COMMENT ON TABLE setting IS 'vasscm settings kept in the database; change them with vasscm.set_setting(name, value).';
INSERT INTO setting VALUES
    ('vessel_visit_source', NULL, 'Schema-qualified relation (table or view) of the TOS''s vessel visits with columns visit_id, imo, call_sign, vessel_name, eta; VESSEL_LIST entries are matched to it automatically'),
    ('vessel_match_window_hours', '48', 'How far (hours) the TOS ETA may be from customs'' ETA for a match by name'),
    ('gate_out_deadline_import_minutes', '15', 'Legal limit between an import gate-out and its message being accepted by customs'),
    ('gate_out_deadline_export_minutes', '30', 'Legal limit between an export gate-out (departure, truck passing) and its message being accepted'),
    ('list_lead_hours', '8', 'Forms 01 / 02 must arrive at least this long before ETA'),
    ('scan_list_lead_hours', '4', 'Form 03 (import) must arrive at least this long before ETA');

CREATE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    IF name = 'vessel_visit_source' AND value IS NOT NULL THEN
        rel := to_regclass(value);   -- resolved here with search_path = pg_catalog: schema-qualify
        IF rel IS NULL THEN
            RAISE EXCEPTION 'vasscm: relation "%" does not exist', value USING ERRCODE = 'undefined_table',
                  HINT = 'Give the schema-qualified name, e.g. public.tos_vessel_visit.';
        END IF;
        IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
            RAISE EXCEPTION 'vasscm: % may not read %', session_user, rel USING ERRCODE = 'insufficient_privilege';
        END IF;
        value := rel::text;
    ELSIF value IS NOT NULL AND name IN ('vessel_match_window_hours', 'stuck_after_minutes', 'deadline_window_days', 'gate_out_deadline_import_minutes',
                                        'gate_out_deadline_export_minutes', 'list_lead_hours', 'scan_list_lead_hours')
          AND value !~ '^[0-9]+$' THEN
        RAISE EXCEPTION 'vasscm: setting % must be a whole number, not "%"', name, value USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vasscm.setting s SET value = set_setting.value WHERE s.name = set_setting.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: unknown setting "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT name, description FROM vasscm.setting lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION set_setting(text, text) IS 'Admin: changes a vasscm setting (see vasscm.setting).';

CREATE FUNCTION _setting_value(name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.value FROM vasscm.setting s WHERE s.name = _setting_value.name
$$;

-- Seals, B/Ls and declaration numbers are compared trimmed and upper-case; empty is absent.
CREATE FUNCTION _norm(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(upper(btrim(value)), '') $$;

-- The vessel call (MA_TAU/SO_CHUYEN, trimmed, upper-case) a message's data is about.
CREATE FUNCTION _vessel_call_of(data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT vasscm._norm(data ->> 'MA_TAU') || '/' || vasscm._norm(data ->> 'SO_CHUYEN')
$$;

-- A weight in kilograms from a value and its unit (KGM, TNE).
CREATE FUNCTION _kg(value numeric, unit text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN upper(unit) = 'TNE' THEN value * 1000 ELSE value END
$$;

CREATE FUNCTION _channel_name(channel smallint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE channel WHEN 1 THEN 'green' WHEN 2 THEN 'yellow' WHEN 3 THEN 'red' END
$$;

-- Declarations (tờ khai) as customs last described them: eligibility (04 / 05), channel and
-- status (06). eligible_at / status_at are the Transaction_Date of the message that set them.
CREATE TABLE declaration (
    declaration_no text PRIMARY KEY,
    registered_on  date,
    customs_office text,
    cargo_flow     text,
    channel        smallint CHECK (channel IN (1, 2, 3)),
    eligible_form  text,
    eligible_at    timestamptz,
    eligible_by    uuid,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'cancelled')),
    status_at      timestamptz,
    status_by      uuid,
    status_reason  text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE declaration IS 'Declarations as customs described them (forms 04, 05, 06, CHECK_RESULT).';

-- Containers of a declaration (04, amended or removed by 07). listed = false: removed by 07.
CREATE TABLE declaration_container (
    declaration_no text NOT NULL REFERENCES declaration,
    container_no   text NOT NULL,
    carrier_seal   text,
    customs_seal   text,
    listed         boolean NOT NULL,
    set_at         timestamptz NOT NULL,
    set_by         uuid NOT NULL,
    set_by_form    text NOT NULL,
    PRIMARY KEY (declaration_no, container_no)
);
CREATE INDEX declaration_container_by_container ON declaration_container (container_no);
COMMENT ON TABLE declaration_container IS 'Containers customs declared eligible (04), amended or removed (07).';

-- Bulk, packages and liquids of a declaration (05): the declared maxima.
CREATE TABLE declaration_bulk (
    declaration_no text NOT NULL REFERENCES declaration,
    bl_no          text NOT NULL,
    goods_kind     text,
    quantity       numeric,
    quantity_unit  text,
    weight_kg      numeric,
    volume_m3      numeric,
    set_at         timestamptz NOT NULL,
    set_by         uuid NOT NULL,
    PRIMARY KEY (declaration_no, bl_no)
);
CREATE INDEX declaration_bulk_by_bl ON declaration_bulk (bl_no);
COMMENT ON TABLE declaration_bulk IS 'Bulk / package / liquid quantities customs declared eligible (form 05): the maxima that may leave.';

-- Expected lists: 01 (containers), 02 (bulk, packages, liquids), 08 (at an ICD / CFS). A newer
-- list for the same vessel call replaces the older one (current = true on the newest).
CREATE TABLE expected_list (
    transaction_id uuid PRIMARY KEY,
    form           text NOT NULL,
    vessel_call    text,
    vessel_code    text,
    vessel_name    text,
    voyage         text,
    eta            timestamptz,
    cargo_flow     text,
    customs_office text,
    declaration_no text,
    place_code     text,
    listed_at      timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    current        boolean NOT NULL DEFAULT true
);
CREATE INDEX expected_list_by_call ON expected_list (vessel_call, form);
COMMENT ON TABLE expected_list IS 'Expected lists from customs (forms 01, 02, 08); vessel_call is MA_TAU/SO_CHUYEN.';

CREATE TABLE expected_item (
    list_id        uuid NOT NULL REFERENCES expected_list,
    item_no        int NOT NULL,
    bl_no          text,
    container_no   text,
    size_type      text,
    goods_kind     text,
    carrier_seal   text,
    customs_seal   text,
    description    text,
    quantity       numeric,
    quantity_unit  text,
    weight_kg      numeric,
    volume_m3      numeric,
    PRIMARY KEY (list_id, item_no)
);
CREATE INDEX expected_item_by_container ON expected_item (container_no) WHERE container_no IS NOT NULL;
CREATE INDEX expected_item_by_bl ON expected_item (bl_no) WHERE bl_no IS NOT NULL;

-- Containers customs selected for X-ray scanning (03), and scans the port recorded.
CREATE TABLE scan_selection (
    transaction_id uuid NOT NULL,
    container_no   text NOT NULL,
    bl_no          text,
    declaration_no text,
    vessel_call    text,
    eta            timestamptz,
    reason         text,
    selected_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, container_no)
);
CREATE INDEX scan_selection_by_container ON scan_selection (container_no);
COMMENT ON TABLE scan_selection IS 'Containers selected for scanning before leaving (form 03).';

CREATE TABLE scan_record (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container_no text NOT NULL,
    scanned_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL DEFAULT session_user,
    note         text
);
CREATE INDEX scan_record_by_container ON scan_record (container_no, scanned_at);
COMMENT ON TABLE scan_record IS 'Scans done at the port (vasscm.record_scan), which satisfy a form 03 selection.';

-- Vessels due at the port (VESSEL_LIST), and their match to the TOS's vessel visits.
CREATE TABLE customs_vessel (
    vessel_call    text PRIMARY KEY,
    vessel_code    text NOT NULL,
    voyage         text NOT NULL,
    imo            text,
    call_sign      text,
    vessel_name    text,
    eta            timestamptz,
    etd            timestamptz,
    previous_port  text,
    customs_office text,
    listed_at      timestamptz NOT NULL,
    listed_by      uuid NOT NULL
);
COMMENT ON TABLE customs_vessel IS 'Vessel calls announced by customs (VESSEL_LIST); vessel_call is MA_TAU/SO_CHUYEN.';

CREATE TABLE vessel_match (
    vessel_call text PRIMARY KEY REFERENCES customs_vessel,
    visit_id    text NOT NULL,
    confidence  numeric(3, 2) NOT NULL,
    method      text NOT NULL,
    manual      boolean NOT NULL DEFAULT false,
    matched_at  timestamptz NOT NULL DEFAULT now(),
    matched_by  text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE vessel_match IS 'Customs vessel call → TOS vessel visit, with a confidence (1 = IMO) or a manual override.';

CREATE TABLE tranship_id (
    container_no   text NOT NULL,
    destination    text,
    identification text NOT NULL,
    request_id     uuid,
    received_at    timestamptz NOT NULL DEFAULT now(),
    transaction_id uuid PRIMARY KEY
);
CREATE INDEX tranship_id_by_container ON tranship_id (container_no);
COMMENT ON TABLE tranship_id IS 'Identification numbers customs gave for containers moving to another port (TRANSHIP_ID_RESULT).';

-- Every application of a customs message to the state: what it changed, or why it did not.
CREATE TABLE clearance_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    transaction_id uuid NOT NULL,
    message_type   text NOT NULL,
    message_at     timestamptz NOT NULL,
    subject        text NOT NULL,
    change         jsonb NOT NULL,
    applied        boolean NOT NULL
);
CREATE INDEX clearance_history_by_subject ON clearance_history (subject, id);
COMMENT ON TABLE clearance_history IS 'Every change customs messages made to the clearance state (applied = false: older than the state, kept for the record).';


-- Is a message (at, tid) newer than the one that set the current state (cur_at, cur_tid)?
-- By Transaction_Date; messages of the same second are ordered as they arrived.
CREATE FUNCTION _newer(at timestamptz, tid uuid, cur_at timestamptz, cur_tid uuid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT cur_at IS NULL
        OR (at, (SELECT i.id FROM vasscm.inbox i WHERE i.transaction_id = tid))
           > (cur_at, (SELECT i.id FROM vasscm.inbox i WHERE i.transaction_id = cur_tid))
$$;

CREATE FUNCTION _history(tid uuid, kind text, at timestamptz, subject text, change jsonb, applied boolean) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.clearance_history (transaction_id, message_type, message_at, subject, change, applied)
    VALUES (tid, kind, at, subject, change, applied);
$$;

-- Declaration header from 04 / 05 / CHECK_RESULT: registration data and, when eligible, the
-- eligibility; only a newer message overwrites.
CREATE FUNCTION _apply_declaration(tid uuid, kind text, at timestamptz, d jsonb, eligible boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    no  text := vasscm._norm(d ->> 'SO_TK');
    cur vasscm.declaration;
    newer boolean;
BEGIN
    INSERT INTO vasscm.declaration (declaration_no) VALUES (no) ON CONFLICT DO NOTHING;
    SELECT * INTO cur FROM vasscm.declaration x WHERE x.declaration_no = no FOR UPDATE;
    newer := eligible AND vasscm._newer(at, tid, cur.eligible_at, cur.eligible_by);
    UPDATE vasscm.declaration x
       SET registered_on  = coalesce(CASE WHEN newer OR x.registered_on IS NULL THEN (d ->> 'NGAY_DK')::date END, x.registered_on),
           customs_office = coalesce(CASE WHEN newer OR x.customs_office IS NULL THEN d ->> 'MA_HQ' END, x.customs_office),
           cargo_flow     = coalesce(CASE WHEN newer OR x.cargo_flow IS NULL THEN d ->> 'LOAI_HANG' END, x.cargo_flow),
           channel        = coalesce(CASE WHEN newer OR x.channel IS NULL THEN (d ->> 'LUONG')::smallint END, x.channel),
           eligible_form  = CASE WHEN newer THEN kind ELSE x.eligible_form END,
           eligible_at    = CASE WHEN newer THEN at ELSE x.eligible_at END,
           eligible_by    = CASE WHEN newer THEN tid ELSE x.eligible_by END,
           updated_at     = now()
     WHERE x.declaration_no = no;
    IF eligible THEN
        PERFORM vasscm._history(tid, kind, at, 'declaration ' || no,
                                jsonb_build_object('eligible', true, 'channel', d ->> 'LUONG'), newer);
    END IF;
END
$$;

-- Declaration status (06, or TRANG_THAI_TK of a CHECK_RESULT): latest wins; cancelled is final.
CREATE FUNCTION _apply_status(tid uuid, kind text, at timestamptz, no text, code text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cur   vasscm.declaration;
    st    text := CASE code WHEN 'TAM_DUNG' THEN 'suspended' WHEN 'BO_TAM_DUNG' THEN 'active' WHEN 'HUY' THEN 'cancelled' END;
    newer boolean;
BEGIN
    no := vasscm._norm(no);
    INSERT INTO vasscm.declaration (declaration_no) VALUES (no) ON CONFLICT DO NOTHING;
    SELECT * INTO cur FROM vasscm.declaration x WHERE x.declaration_no = no FOR UPDATE;
    newer := st = 'cancelled' AND cur.status <> 'cancelled'
             OR cur.status <> 'cancelled' AND vasscm._newer(at, tid, cur.status_at, cur.status_by);
    IF newer THEN
        UPDATE vasscm.declaration x SET status = st, status_at = at, status_by = tid, status_reason = reason, updated_at = now()
         WHERE x.declaration_no = no;
    END IF;
    PERFORM vasscm._history(tid, kind, at, 'declaration ' || no, jsonb_build_object('status', st, 'reason', reason), newer);
END
$$;

-- One container of a declaration (04 item, 07 item, CHECK_RESULT): only a newer message overwrites.
CREATE FUNCTION _apply_container(tid uuid, kind text, at timestamptz, no text, item jsonb, listed boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont  text := vasscm.normalize_container_no(item ->> 'SO_CONTAINER');
    cur   vasscm.declaration_container;
    newer boolean;
BEGIN
    no := vasscm._norm(no);
    SELECT * INTO cur FROM vasscm.declaration_container x WHERE x.declaration_no = no AND x.container_no = cont FOR UPDATE;
    newer := NOT FOUND OR vasscm._newer(at, tid, cur.set_at, cur.set_by);
    IF newer THEN
        INSERT INTO vasscm.declaration_container AS x (declaration_no, container_no, carrier_seal, customs_seal, listed, set_at, set_by, set_by_form)
        VALUES (no, cont, vasscm._norm(item ->> 'SO_NIEM_PHONG'), vasscm._norm(item ->> 'SO_NIEM_PHONG_HQ'), listed, at, tid, kind)
        ON CONFLICT (declaration_no, container_no) DO UPDATE
           SET carrier_seal = coalesce(EXCLUDED.carrier_seal, CASE WHEN EXCLUDED.listed THEN x.carrier_seal END),
               customs_seal = coalesce(EXCLUDED.customs_seal, CASE WHEN EXCLUDED.listed THEN x.customs_seal END),
               listed = EXCLUDED.listed, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by, set_by_form = EXCLUDED.set_by_form;
    END IF;
    PERFORM vasscm._history(tid, kind, at, 'container ' || cont,
                            jsonb_build_object('declaration', no, 'listed', listed,
                                               'carrier_seal', item ->> 'SO_NIEM_PHONG', 'customs_seal', item ->> 'SO_NIEM_PHONG_HQ'), newer);
END
$$;

CREATE FUNCTION _apply_bulk(tid uuid, at timestamptz, d jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    no    text := vasscm._norm(d ->> 'SO_TK');
    bl    text := vasscm._norm(d ->> 'SO_VAN_DON');
    cur   vasscm.declaration_bulk;
    newer boolean;
BEGIN
    SELECT * INTO cur FROM vasscm.declaration_bulk x WHERE x.declaration_no = no AND x.bl_no = bl FOR UPDATE;
    newer := NOT FOUND OR vasscm._newer(at, tid, cur.set_at, cur.set_by);
    IF newer THEN
        INSERT INTO vasscm.declaration_bulk AS x (declaration_no, bl_no, goods_kind, quantity, quantity_unit, weight_kg, volume_m3, set_at, set_by)
        VALUES (no, bl, d ->> 'LOAI_HANG_HOA', (d ->> 'SO_LUONG')::numeric, d ->> 'DVT_SO_LUONG',
                vasscm._kg((d ->> 'TRONG_LUONG')::numeric, d ->> 'DVT_TRONG_LUONG'), (d ->> 'THE_TICH_M3')::numeric, at, tid)
        ON CONFLICT (declaration_no, bl_no) DO UPDATE
           SET goods_kind = EXCLUDED.goods_kind, quantity = EXCLUDED.quantity, quantity_unit = EXCLUDED.quantity_unit,
               weight_kg = EXCLUDED.weight_kg, volume_m3 = EXCLUDED.volume_m3, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by;
    END IF;
    PERFORM vasscm._history(tid, '05', at, 'bulk ' || no || ' ' || bl,
                            jsonb_build_object('quantity', d -> 'SO_LUONG', 'weight', d -> 'TRONG_LUONG',
                                               'weight_unit', d -> 'DVT_TRONG_LUONG', 'volume_m3', d -> 'THE_TICH_M3'), newer);
END
$$;

-- Expected lists (01, 02, 08): stored whole; the newest per vessel call (per declaration for 08) is current.
CREATE FUNCTION _apply_list(tid uuid, kind text, at timestamptz, d jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    call text := CASE WHEN kind IN ('01', '02') THEN vasscm._vessel_call_of(d) END;
    key  text := coalesce(call, 'declaration ' || vasscm._norm(d ->> 'SO_TK'));
    newest uuid;
BEGIN
    INSERT INTO vasscm.expected_list (transaction_id, form, vessel_call, vessel_code, vessel_name, voyage, eta, cargo_flow,
                                      customs_office, declaration_no, place_code, listed_at)
    VALUES (tid, kind, call, vasscm._norm(d ->> 'MA_TAU'), d ->> 'TEN_TAU', vasscm._norm(d ->> 'SO_CHUYEN'),
            (d ->> 'NGAY_DEN_DU_KIEN')::timestamptz, d ->> 'LOAI_HANG', d ->> 'MA_HQ', vasscm._norm(d ->> 'SO_TK'),
            d ->> 'MA_DIA_DIEM', at);
    INSERT INTO vasscm.expected_item (list_id, item_no, bl_no, container_no, size_type, goods_kind, carrier_seal, customs_seal,
                                      description, quantity, quantity_unit, weight_kg, volume_m3)
    SELECT tid, i.n, vasscm._norm(i.item ->> 'SO_VAN_DON'),
           CASE WHEN i.item ? 'SO_CONTAINER' THEN vasscm.normalize_container_no(i.item ->> 'SO_CONTAINER') END,
           i.item ->> 'KICH_CO', i.item ->> 'LOAI_HANG_HOA', vasscm._norm(i.item ->> 'SO_NIEM_PHONG'),
           vasscm._norm(i.item ->> 'SO_NIEM_PHONG_HQ'), i.item ->> 'MO_TA_HANG', (i.item ->> 'SO_LUONG')::numeric,
           i.item ->> 'DVT_SO_LUONG',
           coalesce((i.item ->> 'TRONG_LUONG_KG')::numeric, vasscm._kg((i.item ->> 'TRONG_LUONG')::numeric, i.item ->> 'DVT_TRONG_LUONG')),
           (i.item ->> 'THE_TICH_M3')::numeric
      FROM jsonb_array_elements(coalesce(d -> 'LIST_HANG', '[]')) WITH ORDINALITY AS i(item, n);
    SELECT l.transaction_id INTO newest FROM vasscm.expected_list l
     WHERE l.form = kind AND coalesce(l.vessel_call, 'declaration ' || l.declaration_no) = key
     ORDER BY l.listed_at DESC, (SELECT i.id FROM vasscm.inbox i WHERE i.transaction_id = l.transaction_id) DESC NULLS LAST LIMIT 1;
    UPDATE vasscm.expected_list l SET current = (l.transaction_id = newest)
     WHERE l.form = kind AND coalesce(l.vessel_call, 'declaration ' || l.declaration_no) = key;
    PERFORM vasscm._history(tid, kind, at, 'list ' || key,
                            jsonb_build_object('items', jsonb_array_length(coalesce(d -> 'LIST_HANG', '[]')), 'eta', d ->> 'NGAY_DEN_DU_KIEN'),
                            newest = tid);
END
$$;

CREATE FUNCTION _apply_scan_list(tid uuid, at timestamptz, d jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO vasscm.scan_selection (transaction_id, container_no, bl_no, declaration_no, vessel_call, eta, reason, selected_at)
    SELECT tid, vasscm.normalize_container_no(i ->> 'SO_CONTAINER'), vasscm._norm(i ->> 'SO_VAN_DON'), vasscm._norm(i ->> 'SO_TK'),
           vasscm._vessel_call_of(d), (d ->> 'NGAY_DEN_DU_KIEN')::timestamptz,
           i ->> 'LY_DO', at
      FROM jsonb_array_elements(coalesce(d -> 'LIST_HANG', '[]')) AS i
    ON CONFLICT DO NOTHING;
    PERFORM vasscm._history(tid, '03', at, 'container ' || vasscm.normalize_container_no(i ->> 'SO_CONTAINER'),
                            jsonb_build_object('scan_required', true, 'reason', i ->> 'LY_DO'), true)
       FROM jsonb_array_elements(coalesce(d -> 'LIST_HANG', '[]')) AS i;
END
$$;

CREATE FUNCTION _apply_vessels(tid uuid, at timestamptz, d jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v    jsonb;
    call text;
    cur  vasscm.customs_vessel;
    newer boolean;
BEGIN
    FOR v IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'LIST_TAU', '[]')) LOOP
        call := vasscm._norm(v ->> 'MA_TAU') || '/' || coalesce(vasscm._norm(v ->> 'SO_CHUYEN'), '');
        SELECT * INTO cur FROM vasscm.customs_vessel x WHERE x.vessel_call = call FOR UPDATE;
        newer := NOT FOUND OR vasscm._newer(at, tid, cur.listed_at, cur.listed_by);
        IF newer THEN
            INSERT INTO vasscm.customs_vessel AS x (vessel_call, vessel_code, voyage, imo, call_sign, vessel_name, eta, etd,
                                                    previous_port, customs_office, listed_at, listed_by)
            VALUES (call, vasscm._norm(v ->> 'MA_TAU'), coalesce(vasscm._norm(v ->> 'SO_CHUYEN'), ''), v ->> 'SO_IMO',
                    vasscm._norm(v ->> 'HO_HIEU'), v ->> 'TEN_TAU', (v ->> 'NGAY_DEN_DU_KIEN')::timestamptz,
                    (v ->> 'NGAY_ROI_DU_KIEN')::timestamptz, v ->> 'CANG_TRUOC', d ->> 'MA_HQ', at, tid)
            ON CONFLICT (vessel_call) DO UPDATE
               SET imo = EXCLUDED.imo, call_sign = EXCLUDED.call_sign, vessel_name = EXCLUDED.vessel_name, eta = EXCLUDED.eta,
                   etd = EXCLUDED.etd, previous_port = EXCLUDED.previous_port, customs_office = EXCLUDED.customs_office,
                   listed_at = EXCLUDED.listed_at, listed_by = EXCLUDED.listed_by;
        END IF;
        PERFORM vasscm._history(tid, 'VESSEL_LIST', at, 'vessel ' || call, v, newer);
    END LOOP;
END
$$;

-- Applies one inbox message to the clearance state. Raises on data it cannot use (the
-- caller records the error on the inbox row; the message itself is kept).
CREATE FUNCTION _apply_inbox(inbox_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m    vasscm.inbox;
    d    jsonb;
    at   timestamptz;
    item jsonb;
BEGIN
    SELECT * INTO m FROM vasscm.inbox WHERE id = inbox_id;
    d := m.data;
    at := coalesce(m.sent_at, m.received_at);
    CASE m.message_type
    WHEN '01', '02', '08' THEN
        PERFORM vasscm._apply_list(m.transaction_id, m.message_type, at, d);
    WHEN '03' THEN
        PERFORM vasscm._apply_scan_list(m.transaction_id, at, d);
    WHEN '04' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '04', at, d, true);
        FOR item IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'LIST_CONTAINER', '[]')) LOOP
            PERFORM vasscm._apply_container(m.transaction_id, '04', at, d ->> 'SO_TK', item, true);
        END LOOP;
    WHEN '05' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '05', at, d, true);
        PERFORM vasscm._apply_bulk(m.transaction_id, at, d);
    WHEN '06' THEN
        PERFORM vasscm._apply_status(m.transaction_id, '06', at, d ->> 'SO_TK', d ->> 'TRANG_THAI_TK', d ->> 'LY_DO');
    WHEN '07' THEN
        PERFORM vasscm._apply_declaration(m.transaction_id, '07', at, d, false);
        FOR item IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'LIST_CONTAINER', '[]')) LOOP
            PERFORM vasscm._apply_container(m.transaction_id, '07', at, d ->> 'SO_TK', item, item ->> 'THAO_TAC' <> 'HUY');
        END LOOP;
    WHEN 'VESSEL_LIST' THEN
        PERFORM vasscm._apply_vessels(m.transaction_id, at, d);
        IF vasscm._setting_value('vessel_visit_source') IS NOT NULL THEN
            BEGIN
                PERFORM vasscm._match_vessels(vasscm._setting_value('vessel_visit_source')::regclass);
            EXCEPTION WHEN OTHERS THEN   -- the vessel list itself is applied; matching can be redone by hand
                RAISE WARNING 'vasscm: vessel matching against % failed: %', vasscm._setting_value('vessel_visit_source'), SQLERRM;
            END;
        END IF;
    WHEN 'CHECK_RESULT' THEN
        IF d ? 'SO_TK' THEN
            PERFORM vasscm._apply_declaration(m.transaction_id, 'CHECK_RESULT', at, d, d ->> 'DU_DIEU_KIEN' = 'Y');
            IF d ? 'TRANG_THAI_TK' THEN
                PERFORM vasscm._apply_status(m.transaction_id, 'CHECK_RESULT', at, d ->> 'SO_TK', d ->> 'TRANG_THAI_TK', d ->> 'GHI_CHU');
            END IF;
            IF d ? 'SO_CONTAINER' AND d ->> 'DU_DIEU_KIEN' = 'Y' THEN
                PERFORM vasscm._apply_container(m.transaction_id, 'CHECK_RESULT', at, d ->> 'SO_TK', d, true);
            END IF;
        END IF;
    WHEN 'TRANSHIP_ID_RESULT' THEN
        INSERT INTO vasscm.tranship_id (container_no, destination, identification, request_id, transaction_id)
        VALUES (vasscm.normalize_container_no(d ->> 'SO_CONTAINER'), d ->> 'CANG_DEN', d ->> 'SO_DINH_DANH', m.request_id, m.transaction_id)
        ON CONFLICT DO NOTHING;
        PERFORM vasscm._history(m.transaction_id, m.message_type, at, 'container ' || vasscm.normalize_container_no(d ->> 'SO_CONTAINER'),
                                jsonb_build_object('tranship_id', d ->> 'SO_DINH_DANH'), true);
    ELSE
        NULL;   -- 200 / 299 and any other type: stored in the inbox, no clearance state
    END CASE;
    UPDATE vasscm.inbox SET applied_at = clock_timestamp(), apply_error = NULL WHERE id = inbox_id;
END
$$;

-- Applies an inbox message, recording a failure caused by the message's data on the inbox
-- row (never raising it); transient failures (deadlock, serialization, cancel) do raise, so
-- that the caller retries the whole receive.
CREATE FUNCTION _apply_inbox_safely(inbox_id bigint) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._apply_inbox(inbox_id);
    RETURN NULL;
EXCEPTION
WHEN serialization_failure OR deadlock_detected OR lock_not_available OR query_canceled OR admin_shutdown THEN
    RAISE;   -- transient: the whole receive fails and is retried; nothing is recorded as applied
WHEN OTHERS THEN
    UPDATE vasscm.inbox SET apply_error = SQLERRM WHERE id = inbox_id;
    RETURN SQLERRM;
END
$$;

-- Rebuilds the whole clearance state from the inbox (after a fix, or to prove that the order
-- of arrival does not matter). History rows are added, never removed.
CREATE FUNCTION reapply_inbox() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint := 0;
    i bigint;
BEGIN
    TRUNCATE vasscm.vessel_match, vasscm.customs_vessel, vasscm.tranship_id, vasscm.scan_selection,
             vasscm.expected_item, vasscm.expected_list, vasscm.declaration_container, vasscm.declaration_bulk, vasscm.declaration;
    FOR i IN SELECT id FROM vasscm.inbox ORDER BY id LOOP
        PERFORM vasscm._apply_inbox_safely(i);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION reapply_inbox() IS 'Admin: rebuilds the clearance state from every stored customs message; returns how many were applied.';

-- Port-side movements the clearance depends on, from the outbox (the port's own messages):
-- a message counts once it is queued or sent and not rejected, cancelled or invalid.
CREATE FUNCTION _counts(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('pending_approval', 'queued', 'sending', 'sent', 'accepted')
$$;
CREATE INDEX outbox_gate_out_by_container ON outbox ((data ->> 'SO_CONTAINER')) WHERE message_type = '21';
CREATE INDEX outbox_bulk_out_by_bl ON outbox (vasscm._norm(data ->> 'SO_VAN_DON')) WHERE message_type = '22';
CREATE INDEX outbox_by_type_container ON outbox (message_type, (data ->> 'SO_CONTAINER'));

-- Gate-outs (21 container, 22 bulk trip) that happened, from the movement ledger: whatever
-- became of their message (queued, dead, rejected, invalid all count), as corrected in the
-- TOS, without the ones the TOS undid, nor one customs cancelled on the port's request (an
-- accepted CANCEL_PASSED asked by an operator).
CREATE VIEW gate_outs AS
SELECT o.id, o.transaction_id, m.message_type, o.status, m.container_no, m.bl_no, m.declarations,
       m.quantity, m.weight_kg, m.volume_m3, m.vehicle AS conveyance, m.vehicle_no AS conveyance_no,
       m.happened_at AS left_at, m.recorded_at AS created_at, m.id AS movement_id, m.quantity_unit
  FROM vasscm.movement m
  LEFT JOIN vasscm.outbox o ON o.id = m.outbox_id
 WHERE m.kind = 'gate_out' AND m.undone_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                    WHERE c.message_type = 'CANCEL_PASSED' AND c.original_transaction_id = o.transaction_id
                      AND c.status = 'accepted');
COMMENT ON VIEW gate_outs IS 'Gate-outs (21 container, 22 bulk per trip) that happened (movement ledger), whatever their message''s status; without those undone in the TOS or cancelled by an accepted CANCEL_PASSED.';

-- Gate-ins (14 / 15) as they stand after amendments (16) and cancellations (17).
CREATE VIEW gate_ins AS
SELECT o.id, o.transaction_id, o.message_type, o.status,
       coalesce(a.data, o.data) AS data,
       coalesce(a.data, o.data) ->> 'SO_CONTAINER' AS container_no,
       vasscm._norm(coalesce(a.data, o.data) ->> 'SO_VAN_DON') AS bl_no,
       vasscm._vessel_call_of(coalesce(a.data, o.data)) AS vessel_call,
       (coalesce(a.data, o.data) ->> 'THOI_GIAN')::timestamptz AS entered_at
  FROM vasscm.outbox o
  LEFT JOIN LATERAL (SELECT x.data FROM vasscm.outbox x
                      WHERE x.original_transaction_id = o.transaction_id AND x.message_type = '16' AND vasscm._counts(x.status)
                      ORDER BY x.id DESC LIMIT 1) a ON true
 WHERE o.message_type IN ('14', '15') AND vasscm._counts(o.status)
   AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c
                    WHERE c.original_transaction_id = o.transaction_id AND c.message_type = '17' AND vasscm._counts(c.status));
COMMENT ON VIEW gate_ins IS 'Gate-ins (14 container, 15 bulk) as amended (16), without the cancelled ones (17).';

-- Has a container left under a declaration, in its current visit? A gate-out (21) in the
-- ledger listing that declaration (or none: an empty box), not followed by a later gate-in of
-- the same box (it came back: a new visit).
CREATE FUNCTION _gone(container_no text, declaration_no text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = _gone.container_no AND g.message_type = '21'
                      AND (_gone.declaration_no = ANY (g.declarations) OR cardinality(g.declarations) = 0)
                      AND NOT EXISTS (SELECT 1 FROM vasscm.movement i
                                       WHERE i.container_no = _gone.container_no AND i.kind = 'gate_in'
                                         AND i.undone_at IS NULL AND i.happened_at > g.left_at))
$$;

-- The clearance of every container and every bulk B/L of every declaration customs told us
-- about, plus containers customs expects (01) that no declaration covers yet.
CREATE VIEW clearance_state AS
WITH containers AS (
    SELECT dc.*, d.registered_on, d.customs_office, d.cargo_flow, d.channel, d.eligible_form, d.eligible_at, d.eligible_by,
           d.status, d.status_at, d.status_by, d.status_reason, d.updated_at,
           EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = dc.container_no) AS scan_required,
           EXISTS (SELECT 1 FROM vasscm.scan_selection s JOIN vasscm.scan_record r USING (container_no)
                    WHERE s.container_no = dc.container_no AND r.scanned_at >= s.selected_at - interval '1 day') AS scan_done,
           go.gone
      FROM vasscm.declaration_container dc
      JOIN vasscm.declaration d USING (declaration_no)
      CROSS JOIN LATERAL (SELECT vasscm._gone(dc.container_no, dc.declaration_no) AS gone OFFSET 0) go
), bulk AS (
    SELECT b.*, d.registered_on, d.customs_office, d.cargo_flow, d.channel, d.eligible_form, d.eligible_at, d.eligible_by,
           d.status, d.status_at, d.status_by, d.status_reason, d.updated_at, o.*
      FROM vasscm.declaration_bulk b
      JOIN vasscm.declaration d USING (declaration_no)
      CROSS JOIN LATERAL (SELECT sum(g.quantity) AS quantity_out, sum(g.weight_kg) AS weight_kg_out, sum(g.volume_m3) AS volume_m3_out
                            FROM vasscm.gate_outs g
                           WHERE g.message_type = '22' AND g.bl_no = b.bl_no AND b.declaration_no = ANY (g.declarations)) o
)
SELECT 'container'::text AS cargo_kind, c.container_no, c.declaration_no,
       (SELECT i.bl_no FROM vasscm.expected_item i WHERE i.container_no = c.container_no AND i.bl_no IS NOT NULL LIMIT 1) AS bl_no,
       c.registered_on, c.customs_office, c.cargo_flow, c.channel, vasscm._channel_name(c.channel) AS channel_name,
       CASE WHEN c.status = 'cancelled' THEN 'cancelled'
            WHEN NOT c.listed OR c.eligible_at IS NULL THEN 'not_eligible'
            WHEN c.status = 'suspended' THEN 'suspended'
            WHEN c.gone THEN 'passed'
            ELSE 'eligible' END AS state,
       c.scan_required, c.scan_done, c.carrier_seal, c.customs_seal,
       1::numeric AS quantity_declared, CASE WHEN c.gone THEN 1 ELSE 0 END::numeric AS quantity_out,
       NULL::numeric AS weight_kg_declared, NULL::numeric AS weight_kg_out,
       NULL::numeric AS volume_m3_declared, NULL::numeric AS volume_m3_out,
       CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN c.status_by
            WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by ELSE c.eligible_by END AS set_by,
       CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN '06'
            WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by_form ELSE c.eligible_form END AS set_by_form,
       c.eligible_at, c.status_at, c.status_reason, greatest(c.updated_at, c.set_at) AS updated_at
  FROM containers c
UNION ALL
SELECT 'bulk', NULL, b.declaration_no, b.bl_no, b.registered_on, b.customs_office, b.cargo_flow, b.channel,
       vasscm._channel_name(b.channel),
       CASE WHEN b.status = 'cancelled' THEN 'cancelled'
            WHEN b.eligible_at IS NULL THEN 'not_eligible'
            WHEN b.status = 'suspended' THEN 'suspended'
            WHEN (b.quantity IS NOT NULL OR b.weight_kg IS NOT NULL OR b.volume_m3 IS NOT NULL)
             AND (b.quantity IS NULL OR coalesce(b.quantity_out, 0) >= b.quantity)
             AND (b.weight_kg IS NULL OR coalesce(b.weight_kg_out, 0) >= b.weight_kg)
             AND (b.volume_m3 IS NULL OR coalesce(b.volume_m3_out, 0) >= b.volume_m3) THEN 'passed'
            ELSE 'eligible' END,
       false, false, NULL, NULL,
       b.quantity, coalesce(b.quantity_out, 0), b.weight_kg, coalesce(b.weight_kg_out, 0), b.volume_m3, coalesce(b.volume_m3_out, 0),
       CASE WHEN b.status <> 'active' AND b.status_at IS NOT NULL THEN b.status_by ELSE b.set_by END,
       CASE WHEN b.status <> 'active' AND b.status_at IS NOT NULL THEN '06' ELSE '05' END,
       b.eligible_at, b.status_at, b.status_reason, greatest(b.updated_at, b.set_at)
  FROM bulk b
UNION ALL
SELECT 'container', i.container_no, NULL, i.bl_no, NULL, l.customs_office, l.cargo_flow, NULL, NULL, 'not_eligible',
       EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = i.container_no), false,
       i.carrier_seal, i.customs_seal, 1, 0, i.weight_kg, NULL, NULL, NULL, l.transaction_id, l.form, NULL, NULL, NULL, l.received_at
  FROM vasscm.expected_item i
  JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
 WHERE i.container_no IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = i.container_no);
COMMENT ON VIEW clearance_state IS 'Clearance of every container and bulk B/L customs told the port about (see vasscm.clearance()).';

-- The row for something customs never mentioned.
CREATE FUNCTION _unknown(container_no text, declaration_no text, bl_no text) RETURNS SETOF clearance_state
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN container_no IS NULL THEN 'bulk' ELSE 'container' END, container_no, declaration_no, bl_no,
           NULL::date, NULL, NULL, NULL::smallint, NULL, 'unknown', false, false, NULL, NULL,
           NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
           NULL::uuid, NULL, NULL::timestamptz, NULL::timestamptz, NULL, NULL::timestamptz
$$;

-- Plain SQL functions without SET or SECURITY DEFINER, so that PostgreSQL inlines them into a
-- report's LATERAL join and uses the indexes.
CREATE FUNCTION clearance(container_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT r.* FROM (SELECT vasscm.normalize_container_no(clearance.container_no) AS k OFFSET 0) n
    CROSS JOIN LATERAL (
        SELECT s.* FROM vasscm.clearance_state s WHERE s.container_no = n.k
        UNION ALL
        SELECT u.* FROM vasscm._unknown(n.k, NULL, NULL) u
         WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = n.k)
           AND NOT EXISTS (SELECT 1 FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                            WHERE i.container_no = n.k)) r
$$;
COMMENT ON FUNCTION clearance(text) IS 'Clearance of a container (number normalised): one row per declaration, or one row with state unknown.';

CREATE FUNCTION clearance_by_declaration(declaration_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no)
    UNION ALL
    SELECT u.* FROM vasscm._unknown(NULL, vasscm._norm(clearance_by_declaration.declaration_no), NULL) u
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.clearance_state s WHERE s.declaration_no = vasscm._norm(clearance_by_declaration.declaration_no))
$$;
COMMENT ON FUNCTION clearance_by_declaration(text) IS 'Clearance of every container / B/L of a declaration, or one row with state unknown.';

CREATE FUNCTION clearance_by_bl(bl_no text) RETURNS SETOF clearance_state
LANGUAGE sql STABLE AS $$
    SELECT r.* FROM (SELECT vasscm._norm(clearance_by_bl.bl_no) AS k OFFSET 0) n
    CROSS JOIN LATERAL (
        SELECT s.* FROM vasscm.clearance_state s WHERE s.cargo_kind = 'bulk' AND s.bl_no = n.k
        UNION ALL
        -- containers: those customs listed on this B/L (01), through the index on expected_item
        SELECT s.* FROM (SELECT DISTINCT i.container_no FROM vasscm.expected_item i
                          WHERE i.bl_no = n.k AND i.container_no IS NOT NULL) c
        CROSS JOIN LATERAL (SELECT x.* FROM vasscm.clearance_state x WHERE x.container_no = c.container_no OFFSET 0) s
         WHERE s.bl_no = n.k
        UNION ALL
        SELECT u.* FROM vasscm._unknown(NULL, NULL, n.k) u
         WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_bulk b WHERE b.bl_no = n.k)
           AND NOT EXISTS (SELECT 1 FROM vasscm.expected_item i WHERE i.bl_no = n.k)) r
$$;
COMMENT ON FUNCTION clearance_by_bl(text) IS 'Clearance of everything on a bill of lading, or one row with state unknown.';

-- Records a scan done at the port (satisfies a form 03 selection).
CREATE FUNCTION record_scan(container_no text, scanned_at timestamptz DEFAULT now(), note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT vasscm.is_valid_container_no(container_no) THEN
        RAISE EXCEPTION 'vasscm: "%" is not a valid container number', container_no USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.scan_record (container_no, scanned_at, note)
    VALUES (vasscm.normalize_container_no(container_no), scanned_at, note);
END
$$;
COMMENT ON FUNCTION record_scan(text, timestamptz, text) IS 'Operator: records that a container was scanned at the port.';
