-- The inbox applier: customs → port messages become clearance state.
--
-- vasscm.receive() stores each verified customs message once in vasscm.inbox and applies it
-- here (vasscm._apply_inbox). Every piece of state remembers the (Transaction_Date,
-- Transaction_ID) of the message that set it, and a message only changes what an older one
-- set: applying the same message twice changes nothing, and messages applied out of order
-- end in the state their timestamps say. Every application, including the ones that changed
-- nothing because newer data was already there, is kept in vasscm.clearance_history.

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
    deferring boolean := vasscm._clearance_defer();   -- the maintained state is recomputed once, at the end
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
    IF deferring THEN
        PERFORM vasscm._clearance_flush();
    END IF;
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
    PERFORM set_config('vasscm.clearance_refresh', 'off', true);   -- the maintained state is rebuilt once, at the end
    TRUNCATE vasscm.vessel_match, vasscm.customs_vessel, vasscm.tranship_id, vasscm.scan_selection,
             vasscm.expected_item, vasscm.expected_list, vasscm.declaration_container, vasscm.declaration_bulk, vasscm.declaration;
    FOR i IN SELECT id FROM vasscm.inbox ORDER BY id LOOP
        PERFORM vasscm._apply_inbox_safely(i);
        n := n + 1;
    END LOOP;
    PERFORM set_config('vasscm.clearance_refresh', '', true);
    PERFORM vasscm._clearance_rebuild();
    RETURN n;
END
$$;
COMMENT ON FUNCTION reapply_inbox() IS 'Admin: rebuilds the clearance state from every stored customs message; returns how many were applied.';
