-- Gate-out decisions (article 52 / 52a) and queries to customs from SQL.
-- Every refusal reason is one text in Vietnamese and English: "tiếng Việt / English".
-- During an incident (article 52đ, sql/incident.sql), goods on a paper list customs confirmed
-- (form 36) may leave although customs' electronic eligibility (04 / 05) is missing; the
-- allowed result then says which list in its reasons. Nothing else is loosened.

CREATE FUNCTION _fmt(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(trim_scale(value)::text, '0') $$;

-- The seal customs expects now: its own data (04 / 07), or the new seal of a seal change (24)
-- that customs accepted after that data was set.
CREATE FUNCTION _expected_seal(container_no text, seal_kind text, customs_value text, since timestamptz) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT vasscm._norm(o.data ->> 'NIEM_PHONG_MOI') FROM vasscm.outbox o
                      WHERE o.message_type = '24' AND o.data ->> 'SO_CONTAINER' = container_no
                        AND o.data ->> 'LOAI_NIEM_PHONG' = seal_kind AND o.status = 'accepted'
                        AND (o.data ->> 'THOI_GIAN')::timestamptz >= since
                      ORDER BY (o.data ->> 'THOI_GIAN')::timestamptz DESC, o.id DESC LIMIT 1),
                    customs_value)
$$;

CREATE FUNCTION gate_out_check(container_no text, carrier_seal text, customs_seal text, declarations text[] DEFAULT NULL)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont    text := vasscm.normalize_container_no(coalesce(container_no, ''));
    given   text[] := (SELECT array_agg(DISTINCT vasscm._norm(x)) FROM unnest(declarations) AS x WHERE vasscm._norm(x) IS NOT NULL);
    why     text[] := '{}';
    r       record;
    dno     text;
    want    text;
    covered int := 0;
    -- reasons that only say customs' electronic eligibility is missing: a paper list of the open
    -- incident (form 36) covering the container excuses them; not_in_* only a list line naming
    -- this container with that declaration
    missing     text[] := '{}';
    not_in_dno  text[] := '{}';
    not_in_why  text[] := '{}';
    by_paper    boolean := false;
    i           int;
BEGIN
    PERFORM vasscm._catch_up();   -- never behind what the TOS did (vasscm.interpret = async)
    IF NOT vasscm.is_valid_container_no(cont) THEN
        RETURN QUERY SELECT false, ARRAY[format('Số container "%s" không hợp lệ (ISO 6346) / "%s" is not a valid container number (ISO 6346)',
                                                coalesce(container_no, ''), coalesce(container_no, ''))];
        RETURN;
    END IF;
    -- Declarations the clerk gave that do not cover this container.
    FOREACH dno IN ARRAY coalesce(given, '{}') LOOP
        IF NOT EXISTS (SELECT 1 FROM vasscm.declaration d WHERE d.declaration_no = dno AND d.eligible_at IS NOT NULL) THEN
            missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
        ELSIF NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.declaration_no = dno AND dc.container_no = cont AND dc.listed) THEN
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno);
        END IF;
    END LOOP;
    FOR r IN SELECT dc.*, d.status, d.status_reason, d.cargo_flow, d.eligible_at
               FROM vasscm.declaration_container dc JOIN vasscm.declaration d USING (declaration_no)
              WHERE dc.container_no = cont AND dc.listed AND d.eligible_at IS NOT NULL
              ORDER BY dc.declaration_no LOOP
        IF given IS NOT NULL AND NOT r.declaration_no = ANY (given) THEN
            IF r.cargo_flow = 'XUAT' THEN
                why := why || format('Container xuất khẩu còn thuộc tờ khai %s nhưng tờ khai này không được khai báo / export container: declaration %s must also be given',
                                     r.declaration_no, r.declaration_no);
            END IF;
            CONTINUE;
        END IF;
        IF given IS NULL AND r.cargo_flow = 'XUAT' THEN
            why := why || format('Container xuất khẩu: phải khai báo đủ các tờ khai, thiếu tờ khai %s / export container: every declaration must be given, %s is missing',
                                 r.declaration_no, r.declaration_no);
        END IF;
        covered := covered + 1;
        IF r.status = 'suspended' THEN
            why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', r.declaration_no,
                                 coalesce(': ' || r.status_reason, ''), r.declaration_no, coalesce(': ' || r.status_reason, ''));
        ELSIF r.status = 'cancelled' THEN
            why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', r.declaration_no, r.declaration_no);
        END IF;
        want := vasscm._expected_seal(cont, 'HANG_TAU', r.carrier_seal, r.set_at);
        IF want IS NOT NULL AND want IS DISTINCT FROM vasscm._norm(carrier_seal) THEN
            why := why || format('Niêm phong hãng tàu %s không khớp dữ liệu hải quan (%s) / carrier seal %s does not match customs data (%s)',
                                 coalesce(vasscm._norm(carrier_seal), 'trống'), want, coalesce(vasscm._norm(carrier_seal), 'none'), want);
        END IF;
        want := vasscm._expected_seal(cont, 'HAI_QUAN', r.customs_seal, r.set_at);
        IF want IS NOT NULL AND want IS DISTINCT FROM vasscm._norm(customs_seal) THEN
            why := why || format('Niêm phong hải quan %s không khớp dữ liệu hải quan (%s) / customs seal %s does not match customs data (%s)',
                                 coalesce(vasscm._norm(customs_seal), 'trống'), want, coalesce(vasscm._norm(customs_seal), 'none'), want);
        END IF;
        IF vasscm._gone(cont, r.declaration_no) THEN
            why := why || format('Container %s đã ra khỏi khu vực giám sát theo tờ khai %s (theo TOS, lượt ra ghi nhận) / container %s already left under declaration %s (gate-out recorded from the TOS)',
                                 cont, r.declaration_no, cont, r.declaration_no);
        END IF;
    END LOOP;
    IF covered = 0 AND (given IS NULL OR cardinality(why) + cardinality(missing) + cardinality(not_in_dno) = 0) THEN
        missing := missing || format('Container %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container %s', cont, cont);
    END IF;
    IF cardinality(missing) + cardinality(not_in_dno) > 0 THEN   -- an incident's paper list (only then looked up)
        FOR i IN 1 .. cardinality(not_in_dno) LOOP
            IF EXISTS (SELECT 1 FROM vasscm._paper_cover(cont, given) c WHERE c.container_no = cont AND c.declaration_no = not_in_dno[i]) THEN
                by_paper := true;
            ELSE
                why := why || not_in_why[i];
            END IF;
        END LOOP;
        IF cardinality(missing) > 0 THEN
            IF EXISTS (SELECT 1 FROM vasscm._paper_cover(cont, given)) THEN
                by_paper := true;
            ELSE
                why := why || missing;
            END IF;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = cont
                  AND NOT EXISTS (SELECT 1 FROM vasscm.scan_record x WHERE x.container_no = cont AND x.scanned_at >= s.selected_at - interval '1 day')) THEN
        why := why || format('Container %s phải soi chiếu (mẫu 03) nhưng chưa soi / container %s was selected for scanning (form 03) and has not been scanned', cont, cont);
    END IF;
    IF by_paper AND vasscm._gone_in_incident(cont) THEN
        why := why || format('Container %s đã ra khỏi khu vực giám sát trong thời gian sự cố (mẫu 21 đã lập) / container %s already left during the incident (form 21 recorded)',
                             cont, cont);
    END IF;
    IF by_paper AND cardinality(why) = 0 THEN
        RETURN QUERY SELECT true, ARRAY[(SELECT c.note FROM vasscm._paper_cover(cont, given) c LIMIT 1)];
        RETURN;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, (SELECT coalesce(array_agg(DISTINCT w), '{}') FROM unnest(why) AS w);
END
$$;
COMMENT ON FUNCTION gate_out_check(text, text, text, text[]) IS
    'Gate: may this container leave the supervision zone? (allowed, reasons in Vietnamese / English; during an incident, the paper list that allowed it).';

CREATE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dno text := vasscm._norm(declaration_no);
    bl  text := vasscm._norm(bl_no);
    d   vasscm.declaration;
    b   vasscm.declaration_bulk;
    o   record;
    why text[] := '{}';
    n   int;
BEGIN
    PERFORM vasscm._catch_up();   -- never behind what the TOS did (vasscm.interpret = async)
    IF quantity < 0 OR weight_kg < 0 OR volume_m3 < 0 THEN
        RETURN QUERY SELECT false, ARRAY['Số lượng, trọng lượng, thể tích không được âm / quantity, weight and volume cannot be negative'];
        RETURN;
    END IF;
    SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
    IF NOT FOUND OR d.eligible_at IS NULL THEN
        -- no electronic eligibility: an incident's paper list (form 36) may cover it
        RETURN QUERY SELECT * FROM vasscm._paper_bulk(dno, bl, quantity, weight_kg, volume_m3, false);
        IF FOUND THEN
            RETURN;
        END IF;
        RETURN QUERY SELECT false, ARRAY[format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 05) / declaration %s has no eligibility message (form 05)',
                                                coalesce(dno, 'trống'), coalesce(dno, 'none'))];
        RETURN;
    END IF;
    IF bl IS NULL THEN
        SELECT count(*) INTO n FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno;
        IF n = 1 THEN
            SELECT x.bl_no INTO bl FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno;
        END IF;
    END IF;
    SELECT * INTO b FROM vasscm.declaration_bulk x WHERE x.declaration_no = dno AND x.bl_no = bl;
    IF NOT FOUND AND bl IS NOT NULL THEN
        -- customs' electronic data has the declaration without this B/L: a paper list line naming both may cover it
        RETURN QUERY SELECT * FROM vasscm._paper_bulk(dno, bl, quantity, weight_kg, volume_m3, true);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF b.declaration_no IS NULL THEN
        why := why || CASE WHEN bl IS NULL
            THEN format('Tờ khai %s có nhiều vận đơn: phải ghi số vận đơn / declaration %s covers several B/Ls: give the B/L number', dno, dno)
            ELSE format('Vận đơn %s không thuộc tờ khai %s (mẫu 05) / B/L %s is not in declaration %s (form 05)', bl, dno, bl, dno) END;
    END IF;
    IF d.status = 'suspended' THEN
        why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', dno,
                             coalesce(': ' || d.status_reason, ''), dno, coalesce(': ' || d.status_reason, ''));
    ELSIF d.status = 'cancelled' THEN
        why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', dno, dno);
    END IF;
    IF b.declaration_no IS NOT NULL THEN
        SELECT coalesce(sum(g.quantity), 0) AS q, coalesce(sum(g.weight_kg), 0) AS w, coalesce(sum(g.volume_m3), 0) AS v INTO o
          FROM vasscm.gate_outs g WHERE g.message_type = '22' AND g.bl_no = b.bl_no AND dno = ANY (g.declarations);
        IF b.quantity IS NOT NULL AND quantity IS NOT NULL AND o.q + quantity > b.quantity THEN
            why := why || format('Số lượng vượt khai báo: đã ra %s + lần này %s > khai báo %s %s / quantity above declared: %s out + %s now > %s %s declared',
                                 vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''),
                                 vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''));
        END IF;
        IF b.weight_kg IS NOT NULL AND weight_kg IS NOT NULL AND o.w + weight_kg > b.weight_kg THEN
            why := why || format('Trọng lượng vượt khai báo: đã ra %s kg + lần này %s kg > khai báo %s kg / heavier than declared: %s kg out + %s kg now > %s kg declared',
                                 vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg),
                                 vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg));
        END IF;
        IF b.volume_m3 IS NOT NULL AND volume_m3 IS NOT NULL AND o.v + volume_m3 > b.volume_m3 THEN
            why := why || format('Thể tích vượt khai báo: đã ra %s m3 + lần này %s m3 > khai báo %s m3 / volume above declared: %s m3 out + %s m3 now > %s m3 declared',
                                 vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3),
                                 vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3));
        END IF;
        IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
            why := why || 'Phải ghi số lượng, trọng lượng hoặc thể tích lần này / give the quantity, weight or volume leaving now'::text;
        END IF;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, why;
END
$$;
COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric) IS
    'Gate: may this truck / barge / pump-out of bulk leave? Cumulative quantity, weight and volume stay within the declared ones (lighter passes); during an incident, within a paper list''s.';

-- Queries to customs. Each enqueues one P→C query and returns its Transaction_ID; the answer
-- (CHECK_RESULT, TRANSHIP_ID_RESULT) updates the clearance state and vasscm.query_result().
-- A GUC vasscm needs to build a message itself, or a clear error saying how to set it.
CREATE FUNCTION _required_guc(name text, meaning text, example text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v text := nullif(btrim(current_setting(name, true)), '');
BEGIN
    IF v IS NULL THEN
        RAISE EXCEPTION 'vasscm: % (%) is not set', name, meaning
            USING ERRCODE = 'invalid_parameter_value', HINT = format('ALTER DATABASE ... SET %s = %L;', name, example);
    END IF;
    RETURN v;
END
$$;

CREATE FUNCTION _customs_office() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm._required_guc('vasscm.receiver_code', 'the customs office code', '03CC')
$$;

CREATE FUNCTION _place_code() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm._required_guc('vasscm.place_code', 'the supervision place code, MA_DIA_DIEM', '03CCC01')
$$;

CREATE FUNCTION check_container(container_no text, declaration_no text DEFAULT NULL) RETURNS uuid
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm.enqueue('CHECK_CONTAINER', jsonb_strip_nulls(jsonb_build_object(
        'MA_HQ', vasscm._customs_office(), 'SO_CONTAINER', container_no, 'SO_TK', declaration_no)))
$$;
COMMENT ON FUNCTION check_container(text, text) IS 'Operator: asks customs about a container (CHECK_CONTAINER); see vasscm.query_result().';

CREATE FUNCTION check_declaration(declaration_no text) RETURNS uuid
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm.enqueue('CHECK_DECLARATION', jsonb_build_object('MA_HQ', vasscm._customs_office(), 'SO_TK', declaration_no))
$$;
COMMENT ON FUNCTION check_declaration(text) IS 'Operator: asks customs about a declaration (CHECK_DECLARATION); see vasscm.query_result().';

CREATE FUNCTION check_bl(bl_no text) RETURNS uuid
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm.enqueue('CHECK_BL', jsonb_build_object('MA_HQ', vasscm._customs_office(), 'SO_VAN_DON', bl_no))
$$;
COMMENT ON FUNCTION check_bl(text) IS 'Operator: asks customs about a bill of lading (CHECK_BL); see vasscm.query_result().';

CREATE FUNCTION request_tranship_id(container_no text, destination text, declaration_no text DEFAULT NULL, bl_no text DEFAULT NULL)
RETURNS uuid
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT vasscm.enqueue('TRANSHIP_ID_REQUEST', jsonb_strip_nulls(jsonb_build_object(
        'MA_HQ', vasscm._customs_office(), 'MA_DIA_DIEM', vasscm._place_code(), 'SO_CONTAINER', container_no,
        'SO_TK', declaration_no, 'SO_VAN_DON', bl_no, 'CANG_DEN', destination)))
$$;
COMMENT ON FUNCTION request_tranship_id(text, text, text, text) IS
    'Operator: asks customs for the identification number of a container moving to another port.';

CREATE FUNCTION query_result(transaction_id uuid)
RETURNS TABLE (query_id uuid, message_type text, status text, answered_at timestamptz, eligible boolean,
               channel smallint, channel_name text, declaration_status text, tranship_id text, answer jsonb, error text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o vasscm.outbox;
    a vasscm.inbox;
BEGIN
    SELECT * INTO o FROM vasscm.outbox x WHERE x.transaction_id = query_result.transaction_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: no message with transaction id %', query_result.transaction_id USING ERRCODE = 'no_data_found';
    END IF;
    IF o.message_type NOT IN ('CHECK_CONTAINER', 'CHECK_DECLARATION', 'CHECK_BL', 'TRANSHIP_ID_REQUEST') THEN
        RAISE EXCEPTION 'vasscm: message % is a form %, not a query to customs', query_result.transaction_id, o.message_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO a FROM vasscm.inbox i
     WHERE i.request_id = o.transaction_id AND i.message_type IN ('CHECK_RESULT', 'TRANSHIP_ID_RESULT')
     ORDER BY i.sent_at DESC NULLS LAST, i.id DESC LIMIT 1;
    RETURN QUERY SELECT o.transaction_id, o.message_type,
        CASE WHEN a.id IS NOT NULL THEN 'answered'
             WHEN o.status = 'accepted' THEN 'waiting_for_answer'
             ELSE o.status END,
        a.received_at,
        CASE a.data ->> 'DU_DIEU_KIEN' WHEN 'Y' THEN true WHEN 'N' THEN false END,
        (a.data ->> 'LUONG')::smallint, vasscm._channel_name((a.data ->> 'LUONG')::smallint),
        CASE a.data ->> 'TRANG_THAI_TK' WHEN 'TAM_DUNG' THEN 'suspended' WHEN 'HUY' THEN 'cancelled'
                                        WHEN 'BO_TAM_DUNG' THEN 'active' END,
        a.data ->> 'SO_DINH_DANH', a.data, o.last_error;
END
$$;
COMMENT ON FUNCTION query_result(uuid) IS 'The state and customs'' answer of a query sent with check_container / check_declaration / check_bl / request_tranship_id.';
