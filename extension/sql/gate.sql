-- Gate-out decisions (article 52 / 52a) and queries to customs from SQL.
-- Every refusal reason is one text in Vietnamese and English: "tiếng Việt / English".
-- The decisions read the maintained clearance (sql/clearance_now.sql): the container's current
-- visit, the declarations that cover it, the seals the gate expects, what already left.
-- During an incident (article 52đ, sql/incident.sql), goods on a paper list customs confirmed
-- (form 36) may leave although customs' electronic eligibility (04 / 05) is missing; the
-- allowed result then says which list in its reasons. Nothing else is loosened.

-- The seal a clerk typed against the seal the gate expects (customs' data, as changed by the
-- accepted seal changes of this visit): compared as identifiers; NULL when they match or
-- customs has no seal, else the reason (with a seal change of this visit still waiting for
-- customs, if any). seal_kind: HANG_TAU (carrier) or HAI_QUAN (customs). (No SET clause: it is
-- called by gate_out_check, which fixes the search_path, and names every object; a SET clause
-- would cost the gate more than the rest of its refusal.)
CREATE FUNCTION _seal_reason(container_no text, seal_kind text, given text, expected text, visit_in_at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    waiting record;
    shown   text := vasscm._norm(given);
BEGIN
    IF expected IS NULL OR vasscm._seal_key(given) IS NOT DISTINCT FROM vasscm._seal_key(expected) THEN
        RETURN NULL;
    END IF;
    SELECT vasscm._norm(m.seal) AS seal, coalesce(o.status, 'không có thông điệp') AS status INTO waiting
      FROM vasscm.movement m LEFT JOIN vasscm.outbox o ON o.id = m.outbox_id
     WHERE m.container_no = _seal_reason.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
       AND m.facts ->> 'LOAI_NIEM_PHONG' = _seal_reason.seal_kind AND m.happened_at >= coalesce(_seal_reason.visit_in_at, '-infinity')
       AND o.status IS DISTINCT FROM 'accepted' AND o.status IS DISTINCT FROM 'cancelled' AND o.status IS DISTINCT FROM 'rejected'
     ORDER BY m.happened_at DESC, m.id DESC LIMIT 1;
    RETURN format('Niêm phong %s %s không khớp dữ liệu hải quan (%s)%s / %s seal %s does not match customs data (%s)%s',
                  CASE seal_kind WHEN 'HANG_TAU' THEN 'hãng tàu' ELSE 'hải quan' END, coalesce(shown, 'trống'), expected,
                  CASE WHEN waiting.seal IS NOT NULL
                       THEN format('; thay đổi niêm phong (mẫu 24) sang %s đang chờ hải quan chấp nhận (trạng thái %s)', waiting.seal, waiting.status) ELSE '' END,
                  CASE seal_kind WHEN 'HANG_TAU' THEN 'carrier' ELSE 'customs' END, coalesce(shown, 'none'), expected,
                  CASE WHEN waiting.seal IS NOT NULL
                       THEN format('; a seal change (form 24) to %s is waiting for customs (status %s)', waiting.seal, waiting.status) ELSE '' END);
END
$$;

CREATE FUNCTION gate_out_check(container_no text, carrier_seal text, customs_seal text, declarations text[] DEFAULT NULL)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cont    text;
    given   text[];
    why     text[] := '{}';
    cur_rows vasscm.clearance_now[];
    r       vasscm.clearance_now;
    dno     text;
    d       vasscm.declaration;
    w       text;
    covered int := 0;
    scan_due boolean := false;
    -- reasons that only say customs' electronic eligibility is missing: a paper list of the open
    -- incident (form 36) covering the container excuses them; not_in_* only a list line naming
    -- this container with that declaration
    missing     text[] := '{}';
    not_in_dno  text[] := '{}';
    not_in_why  text[] := '{}';
    by_paper    boolean := false;
    i           int;
BEGIN
    IF container_no IS NULL OR btrim(container_no) = '' THEN
        RAISE EXCEPTION 'vasscm: gate_out_check needs the container number'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'vasscm.gate_out_check(container_no, carrier_seal, customs_seal, declarations DEFAULT NULL): the seals and the declarations may be NULL (none given), the container number may not.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();   -- never behind what the TOS did (vasscm.interpret = async): vasscm._catch_up()
    END IF;
    cont := vasscm.normalize_container_no(container_no);
    IF NOT vasscm.is_valid_container_no(cont) THEN
        RETURN QUERY SELECT false, ARRAY[format('Số container "%s" không hợp lệ (ISO 6346) / "%s" is not a valid container number (ISO 6346)',
                                                container_no, container_no)];
        RETURN;
    END IF;
    IF declarations IS NOT NULL THEN
        given := (SELECT array_agg(DISTINCT vasscm._norm(x)) FROM unnest(declarations) AS x WHERE vasscm._norm(x) IS NOT NULL);
    END IF;
    cur_rows := ARRAY(SELECT x FROM vasscm.clearance_now x WHERE x.container_no = cont ORDER BY x.declaration_no);
    -- Declarations the clerk gave that do not cover this container (this visit).
    FOREACH dno IN ARRAY coalesce(given, '{}') LOOP
        r := NULL;
        FOR i IN 1 .. cardinality(cur_rows) LOOP
            IF cur_rows[i].declaration_no = dno THEN
                r := cur_rows[i];
            END IF;
        END LOOP;
        IF r.declaration_no IS NULL THEN
            SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
            IF d.eligible_at IS NULL THEN
                missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
            ELSE
                not_in_dno := not_in_dno || dno;
                not_in_why := not_in_why || format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno);
            END IF;
        ELSIF r.covers THEN
            CONTINUE;
        ELSIF r.eligible_at IS NULL THEN
            missing := missing || format('Tờ khai %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / declaration %s has no eligibility message (form 04)', dno, dno);
        ELSIF NOT r.listed THEN
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || CASE WHEN r.set_by_form = '07'
                THEN format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                            cont, dno, vasscm._gate_time(r.container_set_at), cont, dno, vasscm._gate_time(r.container_set_at))
                ELSE format('Container %s không thuộc tờ khai %s / container %s is not in declaration %s', cont, dno, cont, dno) END;
        ELSE   -- of an earlier visit
            not_in_dno := not_in_dno || dno;
            not_in_why := not_in_why || format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s cần thông điệp đủ điều kiện mới (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); this visit (in since %s) needs a new eligibility message (form 04)',
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                               dno, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'));
        END IF;
    END LOOP;
    FOREACH r IN ARRAY cur_rows LOOP
        IF r.scan_until > now() AND NOT r.scan_ok THEN
            scan_due := true;
        END IF;
        CONTINUE WHEN NOT r.covers;
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
        IF r.carrier_seal IS NOT NULL AND vasscm._norm(carrier_seal) IS DISTINCT FROM r.carrier_seal THEN
            w := vasscm._seal_reason(cont, 'HANG_TAU', carrier_seal, r.carrier_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.customs_seal IS NOT NULL AND vasscm._norm(customs_seal) IS DISTINCT FROM r.customs_seal THEN
            w := vasscm._seal_reason(cont, 'HAI_QUAN', customs_seal, r.customs_seal, r.visit_in_at);
            IF w IS NOT NULL THEN
                why := why || w;
            END IF;
        END IF;
        IF r.gone THEN
            why := why || format('Container %s đã ra khỏi khu vực giám sát theo tờ khai %s lúc %s (lượt ra ghi nhận từ TOS) / container %s already left under declaration %s at %s (gate-out recorded from the TOS)',
                                 cont, r.declaration_no, vasscm._gate_time(r.left_at), cont, r.declaration_no, vasscm._gate_time(r.left_at));
        END IF;
    END LOOP;
    IF covered = 0 AND (given IS NULL OR cardinality(why) + cardinality(missing) + cardinality(not_in_dno) = 0) THEN
        -- Nothing covers it: say why when customs did say something about it.
        w := NULL;
        FOREACH r IN ARRAY cur_rows LOOP
            IF r.declaration_no IS NOT NULL AND NOT r.listed AND r.set_by_form = '07' AND NOT r.earlier_visit THEN
                w := concat_ws(' | ', w, format('Container %s đã bị loại khỏi tờ khai %s theo mẫu 07 lúc %s / container %s was removed from declaration %s by form 07 at %s',
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at),
                                                 cont, r.declaration_no, vasscm._gate_time(r.container_set_at)));
            ELSIF r.earlier_visit AND r.listed AND r.eligible_at IS NOT NULL THEN
                w := concat_ws(' | ', w, format('Tờ khai %s thuộc lượt trước của container %s (đã ra lúc %s); lượt vào bãi lúc %s chưa có thông điệp đủ điều kiện (mẫu 04) / declaration %s was for an earlier visit of container %s (it left at %s); no eligibility message (form 04) covers this visit (in since %s)',
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?'),
                                                 r.declaration_no, cont, vasscm._gate_time(r.left_at), coalesce(vasscm._gate_time(r.visit_in_at), '?')));
            END IF;
        END LOOP;
        IF w IS NULL THEN
            missing := missing || format('Container %s chưa có thông điệp đủ điều kiện qua khu vực giám sát (mẫu 04) / no eligibility message (form 04) covers container %s', cont, cont);
        ELSE
            missing := missing || string_to_array(w, ' | ');
        END IF;
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
    IF scan_due THEN
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
    allowed := cardinality(why) = 0;
    reasons := CASE WHEN cardinality(why) <= 1 THEN why
                    ELSE ARRAY(SELECT s.x FROM (SELECT DISTINCT ON (u.x) u.x, u.n FROM unnest(why) WITH ORDINALITY AS u(x, n) ORDER BY u.x, u.n) s ORDER BY s.n) END;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION gate_out_check(text, text, text, text[]) IS
    'Gate: may this container leave the supervision zone in its current visit? (allowed, reasons in Vietnamese / English; during an incident, the paper list that allowed it).';

CREATE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric,
                                    quantity_unit text)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    dno  text := vasscm._norm(declaration_no);
    bl   text := vasscm._norm(bl_no);
    unit text := vasscm._unit(quantity_unit);
    d    vasscm.declaration;
    b    vasscm.declaration_bulk;
    o    vasscm.clearance_now;
    q    numeric := quantity;
    why  text[] := '{}';
    n    int;
BEGIN
    IF dno IS NULL THEN
        RAISE EXCEPTION 'vasscm: gate_out_check_bulk needs the declaration number'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'vasscm.gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3 [, quantity_unit]): bl_no may be NULL when the declaration has one B/L.';
    END IF;
    IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
        RAISE EXCEPTION 'vasscm: gate_out_check_bulk needs the quantity, weight or volume leaving now'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give at least one of quantity (with its unit), weight_kg, volume_m3 of this truck, barge or pump-out.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.captured_change) THEN
        PERFORM vasscm.interpret();   -- never behind what the TOS did (vasscm.interpret = async): vasscm._catch_up()
    END IF;
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
                                                dno, dno)];
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
        SELECT * INTO o FROM vasscm.clearance_now x WHERE x.cargo_kind = 'bulk' AND x.declaration_no = dno AND x.bl_no = b.bl_no;
        IF quantity IS NOT NULL AND b.quantity IS NOT NULL THEN
            q := vasscm._in_unit(quantity, unit, b.quantity_unit);
            IF q IS NULL THEN
                why := why || format('Đơn vị tính của lần này (%s) khác đơn vị khai báo (%s): không cộng số lượng khác đơn vị / the unit of this trip (%s) differs from the declared unit (%s): quantities in different units are not added',
                                     unit, vasscm._unit(b.quantity_unit), unit, vasscm._unit(b.quantity_unit));
            ELSIF coalesce(o.quantity_out, 0) + q > b.quantity THEN
                why := why || format('Số lượng vượt khai báo: đã ra %s + lần này %s > khai báo %s %s / quantity above declared: %s out + %s now > %s %s declared',
                                     vasscm._fmt(o.quantity_out), vasscm._fmt(q), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''),
                                     vasscm._fmt(o.quantity_out), vasscm._fmt(q), vasscm._fmt(b.quantity), coalesce(b.quantity_unit, ''));
            END IF;
        END IF;
        IF b.weight_kg IS NOT NULL AND weight_kg IS NOT NULL AND coalesce(o.weight_kg_out, 0) + weight_kg > b.weight_kg THEN
            why := why || format('Trọng lượng vượt khai báo: đã ra %s kg + lần này %s kg > khai báo %s kg / heavier than declared: %s kg out + %s kg now > %s kg declared',
                                 vasscm._fmt(o.weight_kg_out), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg),
                                 vasscm._fmt(o.weight_kg_out), vasscm._fmt(weight_kg), vasscm._fmt(b.weight_kg));
        END IF;
        IF b.volume_m3 IS NOT NULL AND volume_m3 IS NOT NULL AND coalesce(o.volume_m3_out, 0) + volume_m3 > b.volume_m3 THEN
            why := why || format('Thể tích vượt khai báo: đã ra %s m3 + lần này %s m3 > khai báo %s m3 / volume above declared: %s m3 out + %s m3 now > %s m3 declared',
                                 vasscm._fmt(o.volume_m3_out), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3),
                                 vasscm._fmt(o.volume_m3_out), vasscm._fmt(volume_m3), vasscm._fmt(b.volume_m3));
        END IF;
    END IF;
    RETURN QUERY SELECT cardinality(why) = 0, why;
END
$$;
COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric, text) IS
    'Gate: may this truck / barge / pump-out of bulk leave? Every trip that left counts (the ledger); quantities in the declared unit (kg / t and m3 / l convert, other units never add up); lighter than declared passes; during an incident, within a paper list''s.';

-- The same, the trip's quantity in the declared unit.
CREATE FUNCTION gate_out_check_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM vasscm.gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3, NULL::text)
$$;
COMMENT ON FUNCTION gate_out_check_bulk(text, text, numeric, numeric, numeric) IS
    'Gate: gate_out_check_bulk(declaration_no, bl_no, quantity, weight_kg, volume_m3, quantity_unit) with the quantity in the declared unit.';

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
