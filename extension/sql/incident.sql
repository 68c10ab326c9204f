-- Incident mode (article 52đ): what the port does while its system and customs' cannot
-- exchange data.
--
-- * An incident is a row of vasscm.incident. vasscm.watch_incidents() (a job, every minute)
--   opens one when customs has been unreachable or failing for incident_open_after_seconds —
--   read from what the worker records: send errors and bad replies in vasscm.message_log with
--   no customs reply since, or messages waiting with no reply at all — and closes it when
--   customs answers again. An operator may open (open_incident) and close (close_incident) one
--   too. Everything done about an incident is in vasscm.incident_event.
-- * Customs must be told within 1 hour (incident_notify_seconds): vasscm.deadlines lists the
--   obligation from the moment the incident is open until the operator records how and when
--   customs was notified (record_incident_notification).
-- * Paper lists (form 36): the goods customs confirms on paper during the incident, recorded by
--   an operator with the officer's name and the document's reference (record_paper_list). While
--   the incident is open, gate_out_check / gate_out_check_bulk allow what a list covers when the
--   electronic clearance (04 / 05) is missing; nothing else is loosened. Once it is closed, the
--   lists stop applying: customs' electronic messages decide again.
-- * Gate-outs (21 / 22) whose time falls in an incident are listed by vasscm.incident_gate_outs;
--   each one covered by a paper list is tied to it (vasscm.incident_gate_out). They wait in the
--   outbox like everything else and go out in order when customs is back; closing the incident
--   releases the backlog at once (retries no longer wait for their back-off).
-- * vasscm.incident_log(id) prints the incident log (form 35 content) in Vietnamese.

INSERT INTO setting VALUES
    ('incident_open_after_seconds', '300', 'An incident (article 52đ) opens automatically when customs has been unreachable or failing, or has answered nothing while messages wait, for this many seconds'),
    ('incident_notify_seconds', '3600', 'Customs must be notified of an incident within this many seconds of its start (article 52đ: 1 hour)');

-- Incident settings are whole numbers of seconds, at least 1.
CREATE FUNCTION _incident_setting_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.value IS NULL OR NEW.value !~ '^[0-9]{1,9}$' OR NEW.value::int < 1 THEN
        RAISE EXCEPTION 'vasscm: setting % must be a whole number of seconds, at least 1, not "%"', NEW.name, coalesce(NEW.value, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE NEW.name WHEN 'incident_notify_seconds' THEN 'Article 52đ: 3600 (1 hour).'
                                       ELSE 'For example 300 (5 minutes of failures before an incident opens).' END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER setting_incident_check BEFORE UPDATE ON setting
    FOR EACH ROW WHEN (NEW.name IN ('incident_open_after_seconds', 'incident_notify_seconds'))
    EXECUTE FUNCTION _incident_setting_check();

CREATE TABLE incident (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid              uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    began_at         timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    opened_by        text NOT NULL DEFAULT session_user,
    detection        text NOT NULL CHECK (detection IN ('automatic', 'operator')),
    cause            text NOT NULL,
    auto_close       boolean NOT NULL DEFAULT true,
    notified_at      timestamptz,
    notified_how     text,
    notified_officer text,
    notified_by      text,
    closed_at        timestamptz,
    closed_by        text,
    close_reason     text,
    summary          jsonb,
    CHECK (began_at <= opened_at),
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE UNIQUE INDEX incident_one_open ON incident ((true)) WHERE closed_at IS NULL;
COMMENT ON TABLE incident IS 'Incidents (article 52đ): the port and customs could not exchange data from began_at to closed_at. uid is the incident''s key in vasscm.deadlines.';
COMMENT ON COLUMN incident.began_at IS 'When exchanges stopped (the first message queued and not answered, or the first failure, since customs last answered), or as the operator said.';
COMMENT ON COLUMN incident.auto_close IS 'Closed by vasscm.watch_incidents() as soon as customs answers again.';
COMMENT ON COLUMN incident.summary IS 'At closing: messages held during the incident, sent, accepted, rejected, still waiting; gate-outs and those released against paper lists.';

CREATE TABLE incident_event (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incident,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL DEFAULT session_user,
    event       text NOT NULL CHECK (event IN ('opened', 'notified', 'paper_list', 'closed')),
    detail      text NOT NULL
);
CREATE INDEX incident_event_by_incident ON incident_event (incident_id, id);
COMMENT ON TABLE incident_event IS 'Who did what about an incident, and when (opened, customs notified, paper lists, closed).';

-- Paper lists (form 36): goods customs confirmed on paper during an incident.
CREATE TABLE paper_list (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incident,
    reference    text NOT NULL,
    officer      text NOT NULL,
    confirmed_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL DEFAULT session_user,
    UNIQUE (incident_id, reference)
);
COMMENT ON TABLE paper_list IS 'Lists of goods customs confirmed on paper during an incident (form 36): the document''s reference, the officer, when.';

CREATE TABLE paper_list_item (
    paper_list_id  bigint NOT NULL REFERENCES paper_list,
    item_no        int NOT NULL,
    container_no   text,
    declaration_no text,
    bl_no          text,
    quantity       numeric CHECK (quantity >= 0),
    weight_kg      numeric CHECK (weight_kg >= 0),
    volume_m3      numeric CHECK (volume_m3 >= 0),
    PRIMARY KEY (paper_list_id, item_no),
    CHECK (container_no IS NOT NULL OR declaration_no IS NOT NULL OR bl_no IS NOT NULL)
);
CREATE INDEX paper_list_item_by_container ON paper_list_item (container_no) WHERE container_no IS NOT NULL;
CREATE INDEX paper_list_item_by_declaration ON paper_list_item (declaration_no) WHERE declaration_no IS NOT NULL;
CREATE INDEX paper_list_item_by_bl ON paper_list_item (bl_no) WHERE bl_no IS NOT NULL;
COMMENT ON TABLE paper_list_item IS 'A line of a paper list: a container, a declaration or a B/L (or a combination), with the quantity, weight or volume allowed to pass (bulk).';

-- Which paper list line each gate-out made during an incident was released against.
CREATE TABLE incident_gate_out (
    outbox_id      bigint PRIMARY KEY REFERENCES outbox,
    transaction_id uuid NOT NULL,
    incident_id    bigint NOT NULL REFERENCES incident,
    paper_list_id  bigint NOT NULL,
    item_no        int NOT NULL,
    linked_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (paper_list_id, item_no) REFERENCES paper_list_item
);
CREATE INDEX incident_gate_out_by_item ON incident_gate_out (paper_list_id, item_no);
COMMENT ON TABLE incident_gate_out IS 'Gate-outs (21 / 22) made during an incident and the paper list line (form 36) that covered them.';

-- Backups: incidents are kept by pg_dump like the rest of vasscm's data.
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['incident', 'incident_event', 'paper_list', 'paper_list_item', 'incident_gate_out',
                             'incident_id_seq', 'incident_event_id_seq', 'paper_list_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('vasscm.%I', t)::regclass, '');
    END LOOP;
END
$dump$;

-- A time as the port reads it: Vietnam time, DD/MM/YYYY HH24:MI:SS.
CREATE FUNCTION _vn_time(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'DD/MM/YYYY HH24:MI:SS')
$$;

-- The open incident, if any (at most one).
CREATE FUNCTION _open_incident() RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT i.id FROM vasscm.incident i WHERE i.closed_at IS NULL
$$;

-- Records an event of an incident: event (opened, notified, paper_list, closed), detail (the
-- text of the log), actor (default: the session user).
CREATE FUNCTION _incident_event(incident_id bigint, event text, detail text, actor text DEFAULT NULL) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.incident_event (incident_id, event, detail, actor)
    VALUES (incident_id, event, detail, coalesce(actor, session_user::text));
$$;

-- An incident by id, or a clear error.
CREATE FUNCTION _incident(incident_id bigint) RETURNS incident
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident;
BEGIN
    SELECT * INTO i FROM vasscm.incident x WHERE x.id = incident_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no incident %', coalesce(incident_id::text, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT id, began_at, closed_at, cause FROM vasscm.incident ORDER BY id DESC;';
    END IF;
    RETURN i;
END
$$;

-- Opens an incident by hand (customs phoned that its system is down, the line to customs is
-- cut...). Parameters: cause (free text, for the log), began_at (when exchanges stopped,
-- default now), auto_close (false: only an operator closes it, even if customs answers).
-- Returns the incident id; refused while another incident is open.
CREATE FUNCTION open_incident(cause text, began_at timestamptz DEFAULT now(), auto_close boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cur bigint := vasscm._open_incident();
    id  bigint;
BEGIN
    IF cur IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: incident % is already open', cur
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Record on it, or close it first: SELECT vasscm.close_incident(id, reason);';
    END IF;
    IF nullif(btrim(cause), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: an incident needs its cause' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Hệ thống VASSCM không tiếp nhận thông điệp / VASSCM not accepting messages''.';
    END IF;
    IF began_at IS NULL OR began_at > now() THEN
        RAISE EXCEPTION 'vasscm: the incident cannot begin in the future (%)', began_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.incident (began_at, detection, cause, auto_close) VALUES (began_at, 'operator', btrim(cause), auto_close)
    RETURNING incident.id INTO id;
    PERFORM vasscm._incident_event(id, 'opened', format('Mở sự cố (người vận hành), bắt đầu lúc %s: %s%s / incident opened by an operator, began %s',
                                                         vasscm._vn_time(began_at), btrim(cause),
                                                         CASE WHEN auto_close THEN '' ELSE ' (chỉ đóng thủ công / closed by hand only)' END,
                                                         vasscm._vn_time(began_at)));
    PERFORM vasscm._incident_relink(id);
    PERFORM pg_notify('vasscm_incident', format('opened %s', id));
    RETURN id;
END
$$;
COMMENT ON FUNCTION open_incident(text, timestamptz, boolean) IS
    'Operator: opens an incident (article 52đ) by hand; returns its id.';

-- What happened to the messages of an incident: held (every message that waited to be sent
-- while it lasted: queued or retried between began_at and its end), and of those, how many
-- customs has answered (sent = accepted + rejected), how many still wait or gave up; the
-- gate-outs made during it and how many were released against a paper list.
CREATE FUNCTION incident_summary(incident_id bigint)
RETURNS TABLE (held bigint, sent bigint, accepted bigint, rejected bigint, waiting bigint, dead bigint,
               gate_outs bigint, gate_outs_on_paper bigint, gate_outs_accepted bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH i AS (SELECT x.* FROM vasscm.incident x WHERE x.id = incident_summary.incident_id),
    m AS (
        SELECT o.status FROM vasscm.outbox o
         WHERE o.id IN (SELECT h.outbox_id FROM vasscm.outbox_history h, i
                         WHERE h.at >= i.began_at AND h.at < coalesce(i.closed_at, 'infinity')
                           AND h.to_status IN ('queued', 'sending'))),
    g AS (SELECT * FROM vasscm.incident_gate_outs x WHERE x.incident_id = incident_summary.incident_id)
    SELECT (SELECT count(*) FROM m),
           (SELECT count(*) FROM m WHERE m.status IN ('accepted', 'rejected')),
           (SELECT count(*) FROM m WHERE m.status = 'accepted'),
           (SELECT count(*) FROM m WHERE m.status = 'rejected'),
           (SELECT count(*) FROM m WHERE m.status IN ('queued', 'sending', 'sent', 'pending_approval')),
           (SELECT count(*) FROM m WHERE m.status = 'dead'),
           (SELECT count(*) FROM g),
           (SELECT count(*) FROM g WHERE g.paper_list_id IS NOT NULL),
           (SELECT count(*) FROM g WHERE g.status = 'accepted')
$$;
COMMENT ON FUNCTION incident_summary(bigint) IS
    'Messages held during an incident, sent (accepted, rejected), still waiting, dead; gate-outs made during it and those released against paper lists.';

-- Closes an incident: the summary is kept, paper lists stop applying, and the messages waiting
-- for a retry are released at once (customs answers again).
CREATE FUNCTION _close_incident(incident_id bigint, reason text, actor text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s jsonb;
    n bigint;
BEGIN
    UPDATE vasscm.incident i SET closed_at = now(), closed_by = actor, close_reason = reason
     WHERE i.id = incident_id AND i.closed_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: incident % is not open', incident_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM vasscm._incident_relink(incident_id);   -- gate-outs after the end are no longer tied to its lists
    SELECT to_jsonb(x) INTO s FROM vasscm.incident_summary(incident_id) x;
    UPDATE vasscm.incident i SET summary = s WHERE i.id = incident_id;
    -- the backlog goes out now, in order (vasscm.claim keeps the order per container / B/L)
    UPDATE vasscm.outbox o SET next_attempt_at = now() WHERE o.status = 'queued' AND o.next_attempt_at > now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_notify('vasscm_outbox', 'incident closed');
    PERFORM vasscm._incident_event(incident_id, 'closed',
        format('Đóng sự cố: %s. Thông điệp lưu giữ %s, đã gửi %s (chấp nhận %s, từ chối %s), đang chờ %s; %s lượt ra cổng, %s theo danh sách giấy / closed: %s. Messages held %s, sent %s (accepted %s, rejected %s), waiting %s; %s gate-outs, %s against paper lists; %s retries released',
               reason, s ->> 'held', s ->> 'sent', s ->> 'accepted', s ->> 'rejected', s ->> 'waiting', s ->> 'gate_outs', s ->> 'gate_outs_on_paper',
               reason, s ->> 'held', s ->> 'sent', s ->> 'accepted', s ->> 'rejected', s ->> 'waiting', s ->> 'gate_outs', s ->> 'gate_outs_on_paper', n),
        actor);
    PERFORM pg_notify('vasscm_incident', format('closed %s', incident_id));
END
$$;

-- Closes an incident by hand. Parameters: incident_id, reason (for the log).
CREATE FUNCTION close_incident(incident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
BEGIN
    IF i.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: incident % was already closed at %', incident_id, vasscm._vn_time(i.closed_at)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF nullif(btrim(reason), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: give the reason for closing incident %', incident_id USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Hệ thống hải quan đã khôi phục / customs system restored''.';
    END IF;
    PERFORM vasscm._close_incident(incident_id, btrim(reason), session_user);
END
$$;
COMMENT ON FUNCTION close_incident(bigint, text) IS 'Operator: closes an incident with its reason; paper lists stop applying, waiting messages go out at once.';

-- Job: opens an incident when customs has been unreachable or failing for
-- incident_open_after_seconds (send errors or bad replies and no customs reply since the first
-- of them; or messages waiting and no customs reply at all) — it began when the first message
-- that could not go was queued (or at the first failure) —, and closes the open incident
-- (unless auto_close is off) once customs replied after it was opened and its latest reply
-- is newer than every failure. Failures before the last closing never reopen an incident.
-- Returns what it did: 'opened N', 'closed N', 'open N' or 'none'.
CREATE FUNCTION watch_incidents() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    after_s    int := coalesce(vasscm._setting_value('incident_open_after_seconds'), '300')::int;
    cur        vasscm.incident;
    last_ok    timestamptz;
    last_fail  timestamptz;
    first_fail timestamptz;
    fails      bigint;
    last_err   text;
    oldest     timestamptz;
    first_held timestamptz;
    waiting    bigint;
    since      timestamptz;
    began      timestamptz;
    cause      text;
    id         bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('vasscm.watch_incidents'));
    SELECT l.at INTO last_ok FROM vasscm.message_log l WHERE l.kind = 'reply' ORDER BY l.at DESC LIMIT 1;
    SELECT * INTO cur FROM vasscm.incident i WHERE i.closed_at IS NULL;
    IF FOUND THEN
        IF cur.auto_close AND last_ok > cur.opened_at THEN
            SELECT l.at INTO last_fail FROM vasscm.message_log l
             WHERE l.kind IN ('send_error', 'bad_reply') ORDER BY l.at DESC LIMIT 1;
            IF last_fail IS NULL OR last_ok > last_fail THEN
                PERFORM vasscm._close_incident(cur.id,
                    format('hải quan phản hồi trở lại lúc %s / customs answers again since %s', vasscm._vn_time(last_ok), vasscm._vn_time(last_ok)),
                    'vasscm (tự động / automatic)');
                RETURN format('closed %s', cur.id);
            END IF;
        END IF;
        RETURN format('open %s', cur.id);
    END IF;
    since := greatest(last_ok, (SELECT max(i.closed_at) FROM vasscm.incident i), now() - interval '1 day');
    SELECT min(l.at), max(l.at), count(*) INTO first_fail, last_fail, fails FROM vasscm.message_log l
     WHERE l.kind IN ('send_error', 'bad_reply') AND l.at > since;
    SELECT min(o.created_at), min(o.created_at) FILTER (WHERE o.created_at > since), count(*) INTO oldest, first_held, waiting
      FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
     WHERE q.status IN ('queued', 'sending') AND o.status IN ('queued', 'sending');
    IF first_fail <= now() - make_interval(secs => after_s) THEN
        SELECT l.note INTO last_err FROM vasscm.message_log l
         WHERE l.kind IN ('send_error', 'bad_reply') AND l.at = last_fail ORDER BY l.id DESC LIMIT 1;
        -- the first message that could not go, or its first failure; to the second, as gate-out times are
        began := date_trunc('second', least(first_fail, first_held));
        cause := format('Không trao đổi được dữ liệu với hải quan từ %s: %s lần gửi lỗi, %s thông điệp đang chờ; lỗi gần nhất: %s / customs unreachable or failing since %s: %s failed attempts, %s messages waiting; last error: %s',
                        vasscm._vn_time(first_fail), fails, waiting, coalesce(last_err, '-'),
                        vasscm._vn_time(first_fail), fails, waiting, coalesce(last_err, '-'));
    ELSIF oldest IS NOT NULL AND greatest(oldest, since) <= now() - make_interval(secs => after_s) THEN
        began := date_trunc('second', greatest(oldest, since));
        cause := format('Hải quan không phản hồi từ %s trong khi %s thông điệp đang chờ gửi / no answer from customs since %s while %s messages wait',
                        vasscm._vn_time(began), waiting, vasscm._vn_time(began), waiting);
    ELSE
        RETURN 'none';
    END IF;
    INSERT INTO vasscm.incident (began_at, opened_by, detection, cause) VALUES (began, 'vasscm', 'automatic', cause)
    RETURNING incident.id INTO id;
    PERFORM vasscm._incident_event(id, 'opened', 'Tự động mở sự cố / opened automatically: ' || cause, 'vasscm (tự động / automatic)');
    PERFORM vasscm._incident_relink(id);
    PERFORM pg_notify('vasscm_incident', format('opened %s', id));
    RETURN format('opened %s', id);
END
$$;
COMMENT ON FUNCTION watch_incidents() IS
    'Job: opens an incident when customs has been unreachable for incident_open_after_seconds, closes it when customs answers again.';

INSERT INTO job VALUES
    ('vasscm-incidents', '* * * * *', 'SELECT vasscm.watch_incidents()',
     'Opens an incident (article 52đ) when customs has been unreachable for incident_open_after_seconds; closes it when customs answers again');

-- Records how and when customs was told about an incident (article 52đ: within 1 hour); this
-- clears its entry in vasscm.deadlines. Parameters: incident_id; how (telephone, e-mail,
-- official letter no. …); at (when customs was told); officer (the customs officer told).
-- Recording again corrects it (both are in the event log).
CREATE FUNCTION record_incident_notification(incident_id bigint, how text, at timestamptz, officer text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
BEGIN
    IF nullif(btrim(how), '') IS NULL OR nullif(btrim(officer), '') IS NULL OR at IS NULL THEN
        RAISE EXCEPTION 'vasscm: say how and when customs was notified, and which officer' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT vasscm.record_incident_notification(1, ''điện thoại / telephone'', now(), ''Nguyễn Văn A'');';
    END IF;
    IF at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: customs cannot have been notified in the future (%)', at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vasscm.incident x SET notified_at = at, notified_how = btrim(how), notified_officer = btrim(officer), notified_by = session_user
     WHERE x.id = incident_id;
    PERFORM vasscm._incident_event(incident_id, 'notified',
        format('Đã thông báo cho hải quan lúc %s qua %s, công chức tiếp nhận: %s%s / customs notified at %s by %s, officer %s',
               vasscm._vn_time(at), btrim(how), btrim(officer),
               CASE WHEN i.notified_at IS NOT NULL THEN format(' (sửa ghi nhận trước: %s, %s)', vasscm._vn_time(i.notified_at), i.notified_how) ELSE '' END,
               vasscm._vn_time(at), btrim(how), btrim(officer)));
END
$$;
COMMENT ON FUNCTION record_incident_notification(bigint, text, timestamptz, text) IS
    'Operator: records how and when customs was notified of an incident (article 52đ: within 1 hour), clearing the deadline.';

-- Ties a gate-out (21 / 22) to the paper list line of the incident its time falls in that
-- covers it: for a container, a line with that container (and, if the line names a
-- declaration, one of the gate-out's), else a line naming only one of its declarations; for
-- bulk, a line with its B/L (and declaration, if named), else only its declaration. The line
-- confirmed earliest wins. No line: no link.
CREATE FUNCTION _incident_link(gate_out bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o     vasscm.outbox;
    at    timestamptz;
    decls text[];
    inc   bigint;
    list  bigint;
    item  int;
BEGIN
    SELECT * INTO o FROM vasscm.outbox x WHERE x.id = gate_out;
    IF NOT FOUND OR o.message_type NOT IN ('21', '22') OR o.status IN ('invalid', 'cancelled') THEN
        DELETE FROM vasscm.incident_gate_out l WHERE l.outbox_id = gate_out;
        RETURN;
    END IF;
    at := coalesce((o.data ->> 'THOI_GIAN')::timestamptz, o.created_at);
    decls := ARRAY(SELECT vasscm._norm(x.v) FROM jsonb_array_elements_text(coalesce(o.data -> 'LIST_TK', '[]')) AS x(v));
    SELECT i.id INTO inc FROM vasscm.incident i
     WHERE i.began_at <= at AND (i.closed_at IS NULL OR i.closed_at > at) ORDER BY i.began_at DESC LIMIT 1;
    IF inc IS NOT NULL THEN
        SELECT p.id, t.item_no INTO list, item
          FROM vasscm.paper_list p JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
         WHERE p.incident_id = inc
           AND CASE WHEN o.message_type = '21'
                    THEN (t.container_no = o.data ->> 'SO_CONTAINER'
                          AND (t.declaration_no IS NULL OR cardinality(decls) = 0 OR t.declaration_no = ANY (decls)))
                      OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (decls))
                    ELSE (t.bl_no = vasscm._norm(o.data ->> 'SO_VAN_DON') AND t.container_no IS NULL
                          AND (t.declaration_no IS NULL OR t.declaration_no = ANY (decls)))
                      OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (decls)) END
         ORDER BY (t.container_no IS NOT NULL OR t.bl_no IS NOT NULL) DESC, p.confirmed_at, p.id, t.item_no
         LIMIT 1;
    END IF;
    IF list IS NULL THEN
        DELETE FROM vasscm.incident_gate_out l WHERE l.outbox_id = gate_out;
        RETURN;
    END IF;
    INSERT INTO vasscm.incident_gate_out AS l (outbox_id, transaction_id, incident_id, paper_list_id, item_no)
    VALUES (o.id, o.transaction_id, inc, list, item)
    ON CONFLICT (outbox_id) DO UPDATE SET incident_id = EXCLUDED.incident_id, paper_list_id = EXCLUDED.paper_list_id,
                                          item_no = EXCLUDED.item_no, linked_at = now()
     WHERE (l.incident_id, l.paper_list_id, l.item_no) IS DISTINCT FROM (EXCLUDED.incident_id, EXCLUDED.paper_list_id, EXCLUDED.item_no);
END
$$;

-- Links again every gate-out recorded since an incident began (after a paper list is recorded,
-- or an incident opened with a start in the past). Gate-outs recorded up to 7 days after the
-- incident closed count: the TOS may enter the gate-outs of an outage late.
CREATE FUNCTION _incident_relink(incident_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i vasscm.incident := vasscm._incident(incident_id);
    g bigint;
BEGIN
    FOR g IN SELECT o.id FROM vasscm.outbox o
              WHERE o.message_type IN ('21', '22') AND o.created_at >= i.began_at
                AND o.created_at < coalesce(i.closed_at, 'infinity') + interval '7 days'
              ORDER BY o.id LOOP
        PERFORM vasscm._incident_link(g);
    END LOOP;
END
$$;

-- Every new or corrected gate-out is tied to its paper list, if an incident covers its time.
-- ENABLE ALWAYS: gate-outs are captured inside the logical replication apply worker. A row
-- restored by pg_dump (not vasscm._enqueue) brings its link with it.
CREATE FUNCTION _incident_link_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' AND current_setting('vasscm.enqueueing', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.incident) THEN
        PERFORM vasscm._incident_link(NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_incident_link AFTER INSERT OR UPDATE OF data ON outbox
    FOR EACH ROW WHEN (NEW.message_type IN ('21', '22')) EXECUTE FUNCTION _incident_link_trigger();
ALTER TABLE outbox ENABLE ALWAYS TRIGGER outbox_incident_link;

-- Records a paper list customs confirmed during an incident (form 36). Parameters:
-- incident_id; officer (the customs officer who confirmed it); reference (the document's
-- number, unique per incident); items (a JSON array, one object per line, keys container_no,
-- declaration_no, bl_no — at least one — and for bulk quantity, weight_kg, volume_m3: what may
-- pass; lines of the same B/L on several lists add up); confirmed_at (the time on the paper,
-- default now). Returns the list's id. Refuses the whole list, naming every bad line, if any
-- line is wrong. A list recorded on a closed incident is kept for the record only.
CREATE FUNCTION record_paper_list(incident_id bigint, officer text, reference text, items jsonb, confirmed_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i        vasscm.incident := vasscm._incident(incident_id);
    allowed  text[] := ARRAY['container_no', 'declaration_no', 'bl_no', 'quantity', 'weight_kg', 'volume_m3'];
    problems text[] := '{}';
    e        jsonb;
    n        int := 0;
    k        text;
    cont     text;
    dno      text;
    list_id  bigint;
BEGIN
    IF nullif(btrim(officer), '') IS NULL OR nullif(btrim(reference), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a paper list needs the customs officer''s name and the document''s reference' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT vasscm.record_paper_list(1, ''Nguyễn Văn A'', ''DS-01'', ''[{"container_no": "MSKU1234565"}]'');';
    END IF;
    IF confirmed_at IS NULL OR confirmed_at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: the list cannot be confirmed in the future (%)', confirmed_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(items) IS DISTINCT FROM 'array' OR jsonb_array_length(items) = 0 THEN
        RAISE EXCEPTION 'vasscm: items must be a non-empty JSON array of lines' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each line: {"container_no": …} or {"declaration_no": …} or {"bl_no": …, "declaration_no": …, "weight_kg": …}.';
    END IF;
    IF EXISTS (SELECT 1 FROM vasscm.paper_list p WHERE p.incident_id = i.id AND p.reference = btrim(record_paper_list.reference)) THEN
        RAISE EXCEPTION 'vasscm: paper list % is already recorded for incident %', btrim(reference), i.id
            USING ERRCODE = 'unique_violation', HINT = 'SELECT * FROM vasscm.paper_list_item JOIN vasscm.paper_list ON id = paper_list_id WHERE incident_id = …;';
    END IF;
    FOR e IN SELECT x.v FROM jsonb_array_elements(items) AS x(v) LOOP
        n := n + 1;
        IF jsonb_typeof(e) <> 'object' THEN
            problems := problems || format('line %s: not a JSON object', n);
            CONTINUE;
        END IF;
        FOR k IN SELECT jsonb_object_keys(e) LOOP
            IF NOT k = ANY (allowed) THEN
                problems := problems || format('line %s: unknown key "%s" (known: %s)', n, k, array_to_string(allowed, ', '));
            END IF;
        END LOOP;
        cont := nullif(btrim(e ->> 'container_no'), '');
        dno := vasscm._norm(e ->> 'declaration_no');
        IF cont IS NULL AND dno IS NULL AND vasscm._norm(e ->> 'bl_no') IS NULL THEN
            problems := problems || format('line %s: give a container_no, a declaration_no or a bl_no', n);
        END IF;
        IF cont IS NOT NULL AND NOT vasscm.is_valid_container_no(cont) THEN
            problems := problems || format('line %s: "%s" is not a valid container number (ISO 6346)', n, cont);
        END IF;
        IF dno IS NOT NULL AND dno !~ '^[0-9]{12}$' THEN
            problems := problems || format('line %s: declaration number "%s" must be 12 digits', n, dno);
        END IF;
        FOREACH k IN ARRAY ARRAY['quantity', 'weight_kg', 'volume_m3'] LOOP
            IF e ? k AND jsonb_typeof(e -> k) <> 'null' AND NOT (e ->> k ~ '^[0-9]+(\.[0-9]+)?$') THEN
                problems := problems || format('line %s: %s must be a number at least 0, not %s', n, k, e -> k);
            END IF;
        END LOOP;
    END LOOP;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'vasscm: paper list % has % problem(s)', btrim(reference), cardinality(problems)
            USING ERRCODE = 'invalid_parameter_value', DETAIL = array_to_string(problems, E'\n'),
                  HINT = 'Keys: container_no, declaration_no, bl_no (at least one), quantity, weight_kg, volume_m3.';
    END IF;
    INSERT INTO vasscm.paper_list (incident_id, reference, officer, confirmed_at)
    VALUES (i.id, btrim(reference), btrim(officer), confirmed_at) RETURNING id INTO list_id;
    INSERT INTO vasscm.paper_list_item (paper_list_id, item_no, container_no, declaration_no, bl_no, quantity, weight_kg, volume_m3)
    SELECT list_id, x.n, CASE WHEN nullif(btrim(x.e ->> 'container_no'), '') IS NOT NULL THEN vasscm.normalize_container_no(x.e ->> 'container_no') END,
           vasscm._norm(x.e ->> 'declaration_no'), vasscm._norm(x.e ->> 'bl_no'),
           (x.e ->> 'quantity')::numeric, (x.e ->> 'weight_kg')::numeric, (x.e ->> 'volume_m3')::numeric
      FROM jsonb_array_elements(items) WITH ORDINALITY AS x(e, n);
    PERFORM vasscm._incident_event(i.id, 'paper_list',
        format('Danh sách giấy %s (mẫu 36) do công chức %s xác nhận lúc %s: %s dòng%s / paper list %s confirmed by officer %s at %s: %s lines',
               btrim(reference), btrim(officer), vasscm._vn_time(confirmed_at), n,
               CASE WHEN i.closed_at IS NOT NULL THEN ' (ghi sau khi sự cố đã đóng: chỉ để lưu / recorded after closing: for the record only)' ELSE '' END,
               btrim(reference), btrim(officer), vasscm._vn_time(confirmed_at), n));
    IF i.closed_at IS NOT NULL THEN
        RAISE NOTICE 'vasscm: incident % is closed: list % is kept for the record, gates no longer honour it', i.id, btrim(reference);
    END IF;
    PERFORM vasscm._incident_relink(i.id);
    RETURN list_id;
END
$$;
COMMENT ON FUNCTION record_paper_list(bigint, text, text, jsonb, timestamptz) IS
    'Operator: records a list customs confirmed on paper during an incident (form 36): officer, reference, lines (containers, declarations, B/Ls, quantities).';

-- The paper list lines of the open incident that cover a container, best first (a line naming
-- the container and one of the given declarations, the container alone, a given declaration
-- alone; then the earliest confirmed), with the reason text the gate shows.
CREATE FUNCTION _paper_cover(container text, declarations text[])
RETURNS TABLE (incident_id bigint, paper_list_id bigint, item_no int, container_no text, declaration_no text, note text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.incident_id, p.id, t.item_no, t.container_no, t.declaration_no,
           format('Cho qua theo danh sách giấy %s do công chức hải quan %s xác nhận lúc %s, sự cố số %s (mẫu 36, Điều 52đ) / released against paper list %s confirmed by customs officer %s at %s, incident %s (form 36, article 52đ)',
                  p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id,
                  p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id)
      FROM vasscm.incident i
      JOIN vasscm.paper_list p ON p.incident_id = i.id
      JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
     WHERE i.closed_at IS NULL
       AND ((t.container_no = container
             AND (t.declaration_no IS NULL OR declarations IS NULL OR t.declaration_no = ANY (declarations)))
            OR (t.container_no IS NULL AND t.bl_no IS NULL AND t.declaration_no = ANY (declarations)))
     ORDER BY (t.container_no IS NOT NULL AND t.declaration_no IS NOT NULL) DESC, (t.container_no IS NOT NULL) DESC,
              p.confirmed_at, p.id, t.item_no
$$;

-- Has a container left since the open incident began? A gate-out (21) that counts, not
-- cancelled by an accepted CANCEL_PASSED: a paper list lets a container out once.
CREATE FUNCTION _gone_in_incident(container text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM vasscm.incident i
                     JOIN vasscm.outbox g ON g.message_type = '21' AND g.data ->> 'SO_CONTAINER' = container AND g.created_at >= i.began_at
                    WHERE i.closed_at IS NULL AND vasscm._counts(g.status)
                      AND NOT EXISTS (SELECT 1 FROM vasscm.outbox c WHERE c.original_transaction_id = g.transaction_id
                                         AND c.message_type = 'CANCEL_PASSED' AND c.status = 'accepted'))
$$;

-- The gate decision for bulk against the paper lists of the open incident, when the electronic
-- clearance (05) is missing: no rows when no line covers the declaration / B/L. Lines naming
-- the B/L (with this declaration or none) or only this declaration count; their quantities add
-- up, less what left against them during the incident; a measure no line limits is not
-- limited. A suspended or cancelled declaration is still refused. explicit_bl: only a line
-- naming this B/L with this declaration counts (customs' electronic data has the declaration
-- without this B/L).
CREATE FUNCTION _paper_bulk(declaration_no text, bl_no text, quantity numeric, weight_kg numeric, volume_m3 numeric, explicit_bl boolean)
RETURNS TABLE (allowed boolean, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dno  text := vasscm._norm(declaration_no);
    bl   text := vasscm._norm(bl_no);
    lim  record;
    o    record;
    d    vasscm.declaration;
    why  text[] := '{}';
BEGIN
    SELECT count(*) AS lines, count(DISTINCT x.bl_no) AS bls, sum(x.quantity) AS q, sum(x.weight_kg) AS w, sum(x.volume_m3) AS v,
           string_agg(DISTINCT x.reference, ', ') AS refs, (array_agg(x.note ORDER BY x.id, x.item_no))[1] AS note,
           array_agg(x.id::text || '/' || x.item_no) AS keys
      INTO lim
      FROM (SELECT p.id, t.item_no, t.bl_no, t.quantity, t.weight_kg, t.volume_m3, p.reference,
                   format('Cho qua theo danh sách giấy %s do công chức hải quan %s xác nhận lúc %s, sự cố số %s (mẫu 36, Điều 52đ) / released against paper list %s confirmed by customs officer %s at %s, incident %s (form 36, article 52đ)',
                          p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id,
                          p.reference, p.officer, vasscm._vn_time(p.confirmed_at), p.incident_id) AS note
              FROM vasscm.incident i
              JOIN vasscm.paper_list p ON p.incident_id = i.id
              JOIN vasscm.paper_list_item t ON t.paper_list_id = p.id
             WHERE i.closed_at IS NULL AND t.container_no IS NULL
               AND CASE WHEN explicit_bl THEN t.bl_no = bl AND t.declaration_no = dno
                        ELSE (t.bl_no = bl AND (t.declaration_no IS NULL OR t.declaration_no = dno))
                          OR (t.bl_no IS NULL AND t.declaration_no = dno)
                          OR (bl IS NULL AND t.declaration_no = dno) END) x;
    IF lim.lines = 0 THEN
        RETURN;
    END IF;
    IF bl IS NULL AND lim.bls > 1 THEN
        RETURN QUERY SELECT false, ARRAY[format('Tờ khai %s có nhiều vận đơn trong danh sách giấy: phải ghi số vận đơn / declaration %s has several B/Ls on the paper lists: give the B/L number', dno, dno)];
        RETURN;
    END IF;
    SELECT * INTO d FROM vasscm.declaration x WHERE x.declaration_no = dno;
    IF d.status = 'suspended' THEN
        why := why || format('Tờ khai %s đang bị tạm dừng (mẫu 06)%s / declaration %s is suspended (form 06)%s', dno,
                             coalesce(': ' || d.status_reason, ''), dno, coalesce(': ' || d.status_reason, ''));
    ELSIF d.status = 'cancelled' THEN
        why := why || format('Tờ khai %s đã bị hủy (mẫu 06) / declaration %s was cancelled (form 06)', dno, dno);
    END IF;
    SELECT coalesce(sum(g.quantity), 0) AS q, coalesce(sum(g.weight_kg), 0) AS w, coalesce(sum(g.volume_m3), 0) AS v INTO o
      FROM vasscm.gate_outs g JOIN vasscm.incident_gate_out l ON l.outbox_id = g.id
     WHERE l.paper_list_id::text || '/' || l.item_no = ANY (lim.keys);
    IF lim.q IS NOT NULL AND quantity IS NOT NULL AND o.q + quantity > lim.q THEN
        why := why || format('Số lượng vượt danh sách giấy %s: đã ra %s + lần này %s > cho phép %s / quantity above paper list %s: %s out + %s now > %s allowed',
                             lim.refs, vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(lim.q),
                             lim.refs, vasscm._fmt(o.q), vasscm._fmt(quantity), vasscm._fmt(lim.q));
    END IF;
    IF lim.w IS NOT NULL AND weight_kg IS NOT NULL AND o.w + weight_kg > lim.w THEN
        why := why || format('Trọng lượng vượt danh sách giấy %s: đã ra %s kg + lần này %s kg > cho phép %s kg / heavier than paper list %s allows: %s kg out + %s kg now > %s kg',
                             lim.refs, vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(lim.w),
                             lim.refs, vasscm._fmt(o.w), vasscm._fmt(weight_kg), vasscm._fmt(lim.w));
    END IF;
    IF lim.v IS NOT NULL AND volume_m3 IS NOT NULL AND o.v + volume_m3 > lim.v THEN
        why := why || format('Thể tích vượt danh sách giấy %s: đã ra %s m3 + lần này %s m3 > cho phép %s m3 / volume above paper list %s: %s m3 out + %s m3 now > %s m3 allowed',
                             lim.refs, vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(lim.v),
                             lim.refs, vasscm._fmt(o.v), vasscm._fmt(volume_m3), vasscm._fmt(lim.v));
    END IF;
    IF quantity IS NULL AND weight_kg IS NULL AND volume_m3 IS NULL THEN
        why := why || 'Phải ghi số lượng, trọng lượng hoặc thể tích lần này / give the quantity, weight or volume leaving now'::text;
    END IF;
    IF cardinality(why) > 0 THEN
        RETURN QUERY SELECT false, why;
    ELSE
        RETURN QUERY SELECT true, ARRAY[lim.note];
    END IF;
END
$$;

-- Gate-outs (21 / 22) whose time falls in an incident (from its start to its end; recorded up
-- to 7 days after it), with the paper list line that covered each one (NULL: released on
-- customs' electronic data) and when customs accepted it.
CREATE VIEW incident_gate_outs AS
SELECT i.id AS incident_id, o.id AS outbox_id, o.transaction_id, o.message_type, o.status,
       o.data ->> 'SO_CONTAINER' AS container_no, vasscm._norm(o.data ->> 'SO_VAN_DON') AS bl_no,
       ARRAY(SELECT jsonb_array_elements_text(coalesce(o.data -> 'LIST_TK', '[]'))) AS declarations,
       (o.data ->> 'SO_LUONG')::numeric AS quantity,
       vasscm._kg((o.data ->> 'TRONG_LUONG')::numeric, o.data ->> 'DVT_TRONG_LUONG') AS weight_kg,
       (o.data ->> 'THE_TICH_M3')::numeric AS volume_m3,
       o.data ->> 'PHUONG_TIEN' AS conveyance, o.data ->> 'SO_PHUONG_TIEN' AS conveyance_no,
       t.at AS left_at, o.created_at,
       l.paper_list_id, p.reference AS paper_list_reference, p.officer AS paper_list_officer, l.item_no AS paper_list_item,
       (SELECT min(h.at) FROM vasscm.outbox_history h WHERE h.outbox_id = o.id AND h.to_status = 'accepted') AS accepted_at
  FROM vasscm.incident i
  JOIN vasscm.outbox o ON o.message_type IN ('21', '22') AND o.status NOT IN ('invalid', 'cancelled')
                      AND o.created_at >= i.began_at AND o.created_at < coalesce(i.closed_at, 'infinity') + interval '7 days'
  CROSS JOIN LATERAL (SELECT CASE WHEN o.status NOT IN ('invalid', 'cancelled') THEN (o.data ->> 'THOI_GIAN')::timestamptz END AS at) t
  LEFT JOIN vasscm.incident_gate_out l ON l.outbox_id = o.id
  LEFT JOIN vasscm.paper_list p ON p.id = l.paper_list_id
 WHERE t.at >= i.began_at AND (i.closed_at IS NULL OR t.at < i.closed_at);
COMMENT ON VIEW incident_gate_outs IS
    'Gate-outs (21 / 22) made during an incident, the paper list (form 36) each was released against (NULL: on electronic data), and customs'' acceptance.';

-- The deadline "notify customs within 1 hour" joins vasscm.deadlines (same columns): listed as
-- 'pending' while an incident is open and customs not yet told, 'overdue' past the limit,
-- 'late' when told after it (or never told, the incident having outlasted the limit). An
-- incident closed before its limit without notification is not listed.
CREATE VIEW deadlines AS
SELECT * FROM vasscm._deadlines_of_messages
UNION ALL
SELECT 'incident_notice'::text, i.uid, '35'::text, format('sự cố %s / incident %s', i.id, i.id), i.began_at, n.due_at, i.notified_at,
       CASE WHEN i.notified_at IS NULL AND i.closed_at IS NULL AND now() <= n.due_at THEN 'pending'
            WHEN i.notified_at IS NULL AND i.closed_at IS NULL THEN 'overdue'
            ELSE 'late' END,
       format('Phải thông báo sự cố cho cơ quan hải quan trong %s phút kể từ %s (Điều 52đ)%s / customs must be notified of the incident within %s minutes of %s (article 52đ)%s',
              n.mins, vasscm._vn_time(i.began_at),
              CASE WHEN i.notified_at IS NOT NULL THEN ': đã thông báo lúc ' || vasscm._vn_time(i.notified_at) ELSE ': chưa thông báo' END,
              n.mins, vasscm._vn_time(i.began_at),
              CASE WHEN i.notified_at IS NOT NULL THEN ': notified at ' || vasscm._vn_time(i.notified_at) ELSE ': not notified' END)
  FROM vasscm.incident i
 CROSS JOIN LATERAL (SELECT i.began_at + make_interval(secs => s.v) AS due_at, trim_scale(round(s.v / 60.0, 1)) AS mins
                       FROM (SELECT vasscm._setting_value('incident_notify_seconds')::int AS v) s) n
 WHERE (i.closed_at IS NULL AND (i.notified_at IS NULL OR i.notified_at > n.due_at))
    OR (i.closed_at IS NOT NULL AND i.opened_at > now() - make_interval(days => vasscm._setting_value('deadline_window_days')::int)
        AND (i.notified_at > n.due_at OR (i.notified_at IS NULL AND i.closed_at > n.due_at)));
COMMENT ON VIEW deadlines IS 'Legal deadlines missed (late), being missed (overdue) or running (pending: an incident''s notification) in the last deadline_window_days: gate-out messages, customs lists, incident notifications.';

-- The incident log (form 35 content), in Vietnamese, as plain text to print or attach: the
-- port, the incident's times, cause, the notification to customs, every paper list with its
-- lines, every gate-out made during the incident with its list and customs' acceptance, the
-- messages held and sent, and every event. Figures are as of printing.
CREATE FUNCTION incident_log(incident_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    i    vasscm.incident := vasscm._incident(incident_id);
    s    record;
    r    record;
    due  timestamptz := i.began_at + make_interval(secs => coalesce(vasscm._setting_value('incident_notify_seconds'), '3600')::int);
    dur  interval := coalesce(i.closed_at, now()) - i.began_at;
    doc  text[] := '{}';
    n    int := 0;
BEGIN
    SELECT * INTO s FROM vasscm.incident_summary(incident_id);
    doc := doc || 'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM'::text || 'Độc lập - Tự do - Hạnh phúc'::text || ''::text
               || 'SỔ THEO DÕI SỰ CỐ HỆ THỐNG TRAO ĐỔI DỮ LIỆU VỚI CƠ QUAN HẢI QUAN'::text
               || '(nội dung mẫu số 35, Điều 52đ Thông tư 38/2015/TT-BTC, sửa đổi bởi Thông tư 39/2018/TT-BTC)'::text || ''::text
               || format('Doanh nghiệp kinh doanh cảng: %s (mã %s)', coalesce(nullif(current_setting('vasscm.sender_name', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.sender_code', true), ''), '-'))
               || format('Địa điểm giám sát hải quan: %s     Chi cục hải quan: %s', coalesce(nullif(current_setting('vasscm.place_code', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.receiver_code', true), ''), '-'))
               || ''::text
               || format('Sự cố số: %s   (mã %s)', i.id, i.uid)
               || format('Tình trạng: %s', CASE WHEN i.closed_at IS NULL THEN 'ĐANG XẢY RA' ELSE 'ĐÃ KHẮC PHỤC' END)
               || format('Thời điểm bắt đầu: %s (giờ Việt Nam)', vasscm._vn_time(i.began_at))
               || format('Thời điểm ghi nhận: %s, %s', vasscm._vn_time(i.opened_at),
                         CASE i.detection WHEN 'automatic' THEN 'phát hiện tự động' ELSE 'do ' || i.opened_by || ' ghi nhận' END)
               || format('Nguyên nhân, hiện tượng: %s', i.cause)
               || format('Thời điểm khắc phục: %s', coalesce(vasscm._vn_time(i.closed_at) || ' (' || i.close_reason || ', ' || i.closed_by || ')', 'chưa khắc phục'))
               || format('Thời gian gián đoạn: %s giờ %s phút %s giây', floor(extract(epoch FROM dur) / 3600)::int, floor(extract(epoch FROM dur) / 60)::int % 60,
                         floor(extract(epoch FROM dur))::int % 60)
               || ''::text
               || 'I. THÔNG BÁO CHO CƠ QUAN HẢI QUAN (trong 01 giờ)'::text
               || CASE WHEN i.notified_at IS NULL
                       THEN format('   CHƯA THÔNG BÁO (hạn: %s)', vasscm._vn_time(due))
                       ELSE format('   Đã thông báo lúc %s, hình thức: %s, công chức hải quan tiếp nhận: %s, người ghi: %s (%s)',
                                   vasscm._vn_time(i.notified_at), i.notified_how, i.notified_officer, i.notified_by,
                                   CASE WHEN i.notified_at <= due THEN 'đúng hạn' ELSE 'QUÁ HẠN, hạn ' || vasscm._vn_time(due) END) END
               || ''::text
               || 'II. DANH SÁCH HÀNG HÓA HẢI QUAN XÁC NHẬN TRONG THỜI GIAN SỰ CỐ (mẫu số 36)'::text;
    FOR r IN SELECT p.*, (SELECT count(*) FROM vasscm.paper_list_item t WHERE t.paper_list_id = p.id) AS lines
               FROM vasscm.paper_list p WHERE p.incident_id = i.id ORDER BY p.confirmed_at, p.id LOOP
        n := n + 1;
        doc := doc || format('   %s. Danh sách số %s, công chức hải quan %s, xác nhận lúc %s, %s dòng (ghi bởi %s lúc %s)',
                             n, r.reference, r.officer, vasscm._vn_time(r.confirmed_at), r.lines, r.recorded_by, vasscm._vn_time(r.recorded_at));
        doc := doc || ARRAY(SELECT format('      - %s', concat_ws('; ', 'container ' || t.container_no, 'tờ khai ' || t.declaration_no, 'vận đơn ' || t.bl_no,
                                                               'số lượng ' || trim_scale(t.quantity), 'trọng lượng ' || trim_scale(t.weight_kg) || ' kg',
                                                               'thể tích ' || trim_scale(t.volume_m3) || ' m3'))
                              FROM vasscm.paper_list_item t WHERE t.paper_list_id = r.id ORDER BY t.item_no);
    END LOOP;
    IF n = 0 THEN
        doc := doc || '   (không có)'::text;
    END IF;
    doc := doc || ''::text || format('III. HÀNG HÓA QUA KHU VỰC GIÁM SÁT TRONG THỜI GIAN SỰ CỐ: %s lượt, %s theo danh sách giấy, %s đã được hải quan chấp nhận',
                                      s.gate_outs, s.gate_outs_on_paper, s.gate_outs_accepted);
    doc := doc || ARRAY(SELECT format('   - Mẫu %s %s, ra lúc %s%s, %s; cập nhật lên hệ thống: %s',
                                      g.message_type, coalesce('container ' || g.container_no, 'vận đơn ' || g.bl_no),
                                      vasscm._vn_time(g.left_at), coalesce(' bằng ' || g.conveyance_no, ''),
                                      coalesce('theo danh sách giấy ' || g.paper_list_reference || ' dòng ' || g.paper_list_item, 'theo dữ liệu điện tử'),
                                      CASE WHEN g.accepted_at IS NOT NULL THEN 'hải quan chấp nhận lúc ' || vasscm._vn_time(g.accepted_at)
                                           WHEN g.status = 'rejected' THEN 'BỊ TỪ CHỐI'
                                           ELSE 'đang chờ gửi (' || g.status || ')' END)
                          FROM vasscm.incident_gate_outs g WHERE g.incident_id = i.id ORDER BY g.left_at, g.outbox_id);
    doc := doc || ''::text || 'IV. THÔNG ĐIỆP LƯU GIỮ VÀ GỬI LẠI'::text
               || format('   Thông điệp lưu giữ trong thời gian sự cố: %s; đã gửi: %s (hải quan chấp nhận %s, từ chối %s); đang chờ: %s; không gửi được: %s',
                         s.held, s.sent, s.accepted, s.rejected, s.waiting, s.dead)
               || format('   (số liệu tại thời điểm in %s)', vasscm._vn_time(now()))
               || ''::text || 'V. DIỄN BIẾN'::text;
    doc := doc || ARRAY(SELECT format('   %s  %s  %s', vasscm._vn_time(e.at), e.actor, e.detail)
                          FROM vasscm.incident_event e WHERE e.incident_id = i.id ORDER BY e.at, e.id);
    doc := doc || ''::text || 'Người lập sổ                                  Xác nhận của công chức hải quan'::text
               || '(ký, ghi rõ họ tên)                           (ký, ghi rõ họ tên)'::text;
    RETURN array_to_string(doc, E'\n') || E'\n';
END
$$;
COMMENT ON FUNCTION incident_log(bigint) IS
    'The incident log (form 35 content) in Vietnamese, plain text: times, cause, notification, paper lists, gate-outs, messages held and sent, events.';
