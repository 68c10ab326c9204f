-- vasscm 0.6.0 → 0.7.0, written by hand. Run by ALTER EXTENSION vasscm UPDATE.
--
-- 1. A message's status change rewrites no index of the outbox (a HOT update): the index that
--    had status in its key (outbox_unsettled) is dropped; the monitoring views (queue_depth,
--    oldest_waiting, stuck_messages) and the incident watch find the unsettled messages through
--    vasscm.outbox_open, as the worker already does.
-- 2. A container's maintained clearance state is recomputed reading its gate-outs once and its
--    seal changes once (vasscm._container_rows: same result, ≈ 22 % less time per container).
-- Privileges end as at install: sql/roles.sql is applied again at the end.
\echo Use "ALTER EXTENSION vasscm UPDATE TO '0.7.0'" to load this file. \quit

-- 1. Status changes without rewriting the outbox's indexes ---------------------------------------

-- No index of the outbox has status in its key or predicate any more: a status change (claimed,
-- sent, accepted, cancelled) is a HOT update. The unsettled messages are found through
-- vasscm.outbox_open, which vasscm._set_status keeps in step.
DROP INDEX outbox_unsettled;

CREATE OR REPLACE VIEW queue_depth AS
WITH unsettled AS (
    SELECT o.status, o.message_type, count(*) AS messages, min(o.created_at) AS oldest, max(o.updated_at) AS last_change
      FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
     WHERE o.status IN ('invalid', 'pending_approval', 'queued', 'sending', 'sent', 'dead')
     GROUP BY o.status, o.message_type),
settled AS (   -- answered, rejected or cancelled in the last 24 hours, found through the history
    SELECT o.status, o.message_type, count(*) AS messages, min(o.created_at) AS oldest, max(o.updated_at) AS last_change
      FROM vasscm.outbox o
     WHERE o.id IN (SELECT h.outbox_id FROM vasscm.outbox_history h
                     WHERE h.at > now() - interval '24 hours' AND h.to_status IN ('accepted', 'rejected', 'cancelled'))
       AND o.status IN ('accepted', 'rejected', 'cancelled')
     GROUP BY o.status, o.message_type)
SELECT * FROM unsettled
UNION ALL
SELECT * FROM settled;
COMMENT ON VIEW queue_depth IS 'Messages by status and type: everything not settled, and what settled in the last 24 hours.';

CREATE OR REPLACE VIEW oldest_waiting AS
SELECT o.id, o.transaction_id, o.message_type, o.status, o.created_at, now() - o.created_at AS waiting, o.attempts,
       o.next_attempt_at, o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status IN ('pending_approval', 'queued', 'sending') AND o.status IN ('pending_approval', 'queued', 'sending')
 ORDER BY o.created_at, o.id
 LIMIT 1;
COMMENT ON VIEW oldest_waiting IS 'The oldest message not yet answered by customs (none: nothing waits).';

CREATE OR REPLACE VIEW stuck_messages AS
SELECT o.id, o.transaction_id, o.message_type, o.status, o.created_at, o.updated_at, now() - o.updated_at AS stuck_for,
       o.attempts, o.claimed_by, o.lease_until, o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status IN ('invalid', 'pending_approval', 'queued', 'sending') AND o.status IN ('invalid', 'pending_approval', 'queued', 'sending')
   AND o.updated_at < now() - make_interval(mins => coalesce(vasscm._setting_value('stuck_after_minutes'), '15')::int)
 ORDER BY o.updated_at;
COMMENT ON VIEW stuck_messages IS 'Messages that have not moved for longer than the stuck_after_minutes setting.';

-- Job: opens an incident when customs has been unreachable or failing for
-- incident_open_after_seconds (send errors or bad replies and no customs reply since the first
-- of them; or messages waiting and no customs reply at all) — it began when the first message
-- that could not go was queued (or at the first failure) —, and closes the open incident
-- (unless auto_close is off) once customs replied after it was opened and its latest reply
-- is newer than every failure. Failures before the last closing never reopen an incident.
-- Returns what it did: 'opened N', 'closed N', 'open N' or 'none'.
CREATE OR REPLACE FUNCTION watch_incidents() RETURNS text
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

-- 2. The maintained clearance state of a container recomputed with fewer lookups -----------------

-- (Its gate-outs and its seal changes are each read once: the same rows as before, the same
-- result.)

-- The rows of containers (see the head of this file), computed from the sources. Every lookup
-- is made per container through its index (LATERAL), so that recomputing one container is a
-- few index lookups and a whole rebuild is linear in the number of containers, whatever the
-- plan's estimate of the number of keys. (One generic plan per session: never planned again per
-- call, nor compiled by JIT.)
CREATE OR REPLACE FUNCTION _container_rows(keys text[]) RETURNS SETOF clearance_now
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET jit = off
    -- planned once per session, maybe when the tables were small: every table is reached by index
    -- from the keys asked for, never scanned whole (a scan per call grows with the port's history)
    SET enable_seqscan = off AS $$
DECLARE
    validity interval := make_interval(days => coalesce(vasscm._setting_value('scan_selection_validity_days'), '30')::int);
BEGIN
    RETURN QUERY
    WITH v AS MATERIALIZED (   -- per container: its current visit, the scan selections and seal changes of it
        SELECT k.container_no, gi.in_at, gi.call, po.prev_out, sc.until AS scan_until, sc.ok AS scan_ok,
               ch.ch_ats, ch.ch_olds, ch.ch_news, ch.cu_ats, ch.cu_olds, ch.cu_news,
               po.out_at
          FROM (SELECT DISTINCT x AS container_no FROM unnest(keys) AS x WHERE x IS NOT NULL) k
          -- the gate-in of the current visit, and the vessel call it came with
          LEFT JOIN LATERAL (SELECT m.happened_at AS in_at, vasscm._vessel_call_of(m.facts) AS call
                               FROM vasscm.movement m
                              WHERE m.container_no = k.container_no AND m.kind = 'gate_in' AND m.undone_at IS NULL
                              ORDER BY m.happened_at DESC, m.id DESC LIMIT 1) gi ON true
          -- the gate-out before it (an earlier visit), and the first one of this visit (one read of its gate-outs)
          LEFT JOIN LATERAL (SELECT max(g.left_at) FILTER (WHERE g.left_at < gi.in_at) AS prev_out,
                                    min(g.left_at) FILTER (WHERE g.left_at >= coalesce(gi.in_at, '-infinity')) AS out_at
                               FROM vasscm.gate_outs g WHERE g.container_no = k.container_no AND g.message_type = '21') po ON true
          -- scan selections (03) of this visit: made after the previous gate-out, for the vessel call the box came with
          -- or within the validity before the visit began (with no visit known: until then)
          LEFT JOIN LATERAL (
              SELECT max(CASE WHEN gi.in_at IS NULL THEN s.selected_at + validity ELSE 'infinity' END) AS until,
                     bool_and(EXISTS (SELECT 1 FROM vasscm.scan_record r
                                       WHERE r.container_no = s.container_no AND r.scanned_at >= s.selected_at - interval '1 day'
                                         AND r.scanned_at > coalesce(po.prev_out, '-infinity'))) AS ok
                FROM vasscm.scan_selection s
               WHERE s.container_no = k.container_no AND s.selected_at > coalesce(po.prev_out, '-infinity')
                 AND (gi.in_at IS NULL OR s.selected_at >= gi.in_at - validity OR s.vessel_call = gi.call)) sc ON true
          -- seal changes (24) of this visit customs accepted, in order: the carrier's (ch_) and customs' (cu_)
          -- seals, from one read of its seal changes
          LEFT JOIN LATERAL (
              SELECT array_agg(m.happened_at ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id)
                         FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HANG_TAU') AS ch_news,
                     array_agg(m.happened_at ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_ats,
                     array_agg(vasscm._norm(m.facts ->> 'NIEM_PHONG_CU') ORDER BY m.happened_at, m.id)
                         FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_olds,
                     array_agg(vasscm._norm(m.seal) ORDER BY m.happened_at, m.id) FILTER (WHERE m.facts ->> 'LOAI_NIEM_PHONG' = 'HAI_QUAN') AS cu_news
                FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id AND o.status = 'accepted'
               WHERE m.container_no = k.container_no AND m.kind = 'seal_change' AND m.undone_at IS NULL
                 AND m.facts ->> 'LOAI_NIEM_PHONG' IN ('HANG_TAU', 'HAI_QUAN') AND m.happened_at >= coalesce(gi.in_at, '-infinity')) ch ON true
    )
    -- one row per declaration of the container
    SELECT 'container'::text, c.container_no, c.declaration_no,
           (SELECT i.bl_no FROM vasscm.expected_item i WHERE i.container_no = c.container_no AND i.bl_no IS NOT NULL LIMIT 1),
           c.registered_on, c.customs_office, c.cargo_flow, c.channel, vasscm._channel_name(c.channel),
           CASE WHEN c.status = 'cancelled' THEN 'cancelled'
                WHEN NOT c.listed OR c.eligible_at IS NULL THEN 'not_eligible'
                WHEN c.status = 'suspended' THEN 'suspended'
                WHEN c.gone_at IS NOT NULL OR c.earlier THEN 'passed'
                ELSE 'eligible' END,
           c.scan_until, coalesce(c.scan_ok, false),
           CASE WHEN c.ch_ats IS NULL THEN c.carrier_seal ELSE vasscm._seal_after_changes(c.carrier_seal, c.set_at, c.ch_ats, c.ch_olds, c.ch_news) END,
           CASE WHEN c.cu_ats IS NULL THEN c.customs_seal ELSE vasscm._seal_after_changes(c.customs_seal, c.set_at, c.cu_ats, c.cu_olds, c.cu_news) END,
           1::numeric, CASE WHEN c.gone_at IS NOT NULL OR c.earlier THEN 1 ELSE 0 END::numeric,
           NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
           CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN c.status_by
                WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by ELSE c.eligible_by END,
           CASE WHEN c.status = 'cancelled' OR c.status = 'suspended' AND c.listed THEN '06'
                WHEN NOT c.listed OR c.set_at >= coalesce(c.eligible_at, '-infinity') THEN c.set_by_form ELSE c.eligible_form END,
           c.eligible_at, c.status_at, c.status_reason, greatest(c.updated_at, c.set_at),
           NULL::text, c.in_at, CASE WHEN c.gone_at IS NOT NULL THEN c.gone_at WHEN c.earlier THEN c.prev_out END,
           c.status, c.listed, c.listed AND c.eligible_at IS NOT NULL AND NOT c.earlier, c.gone_at IS NOT NULL, c.earlier, c.set_at,
           NULL::text
      FROM (SELECT v.*, dc.declaration_no, dc.carrier_seal, dc.customs_seal, dc.listed, dc.set_at, dc.set_by, dc.set_by_form,
                   d.registered_on, d.customs_office, d.cargo_flow, d.channel, d.eligible_form, d.eligible_at, d.eligible_by,
                   d.status, d.status_at, d.status_by, d.status_reason, d.updated_at,
                   (v.prev_out IS NOT NULL AND dc.set_at <= v.prev_out) AS earlier,
                   -- gone in this visit: a gate-out (21) of it listing this declaration, or none (an empty box)
                   (SELECT min(g.left_at) FROM vasscm.gate_outs g
                     WHERE g.container_no = v.container_no AND g.message_type = '21'
                       AND (g.left_at >= coalesce(v.in_at, '-infinity')) IS TRUE   -- (by the container's index, never by time)
                       AND (dc.declaration_no = ANY (g.declarations) OR cardinality(g.declarations) = 0)) AS gone_at
              FROM v
              JOIN LATERAL (SELECT x.* FROM vasscm.declaration_container x WHERE x.container_no = v.container_no) dc ON true
              JOIN vasscm.declaration d ON d.declaration_no = dc.declaration_no) c
    UNION ALL
    -- on a current expected list (01, 08), no declaration yet
    SELECT 'container', v.container_no, NULL, i.bl_no, NULL, i.customs_office, i.cargo_flow, NULL, NULL, 'not_eligible',
           v.scan_until, coalesce(v.scan_ok, false), i.carrier_seal, i.customs_seal, 1, 0, i.weight_kg, NULL, NULL, NULL,
           i.transaction_id, i.form, NULL, NULL, NULL, i.received_at, NULL, v.in_at, v.out_at,
           NULL, NULL, false, v.out_at IS NOT NULL, false, NULL, NULL
      FROM v
      JOIN LATERAL (SELECT x.bl_no, x.carrier_seal, x.customs_seal, x.weight_kg, l.customs_office, l.cargo_flow, l.transaction_id,
                           l.form, l.received_at
                      FROM vasscm.expected_item x JOIN vasscm.expected_list l ON l.transaction_id = x.list_id AND l.current
                     WHERE x.container_no = v.container_no) i ON true
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = v.container_no)
    UNION ALL
    -- known to the port (the ledger, a scan) or selected for scanning, nothing else from customs
    SELECT 'container', v.container_no, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'unknown',
           v.scan_until, coalesce(v.scan_ok, false), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, v.in_at, v.out_at,
           NULL, NULL, false, v.out_at IS NOT NULL, false, NULL, NULL
      FROM v
     WHERE NOT EXISTS (SELECT 1 FROM vasscm.declaration_container dc WHERE dc.container_no = v.container_no)
       AND NOT EXISTS (SELECT 1 FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                        WHERE i.container_no = v.container_no)
       AND (v.in_at IS NOT NULL OR v.scan_until IS NOT NULL
            OR EXISTS (SELECT 1 FROM vasscm.movement m WHERE m.container_no = v.container_no)
            OR EXISTS (SELECT 1 FROM vasscm.scan_selection s WHERE s.container_no = v.container_no)
            OR EXISTS (SELECT 1 FROM vasscm.scan_record r WHERE r.container_no = v.container_no));
END
$$;

-- Privileges as at install (sql/roles.sql) ------------------------------------------------------

-- Roles and least privilege. Nothing is granted to PUBLIC. Five roles (NOLOGIN; grant them
-- to login roles):
--   vasscm_reader    reads clearance (functions, views, gate-out checks), outbox, history, inbox, catalogue; builds/validates/parses
--   vasscm_operator  reader + approve, reject, requeue, enqueue, queries to customs, reports (18/19, DISCHARGE_DONE, YARD_MAP), scans, vessel overrides
--   vasscm_admin     reader + bindings, catalogue, settings, jobs (pg_cron), audit verification
--   vasscm_worker    claims, records signed messages, replies, failures, inbound messages
--   vasscm_camera    camera systems at the gates: record reads (and ask their state), report camera outages
-- Functions that change state run SECURITY DEFINER with a fixed search_path, so that no role
-- needs write access to the tables themselves.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_reader') THEN CREATE ROLE vasscm_reader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_operator') THEN CREATE ROLE vasscm_operator NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_admin') THEN CREATE ROLE vasscm_admin NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_worker') THEN CREATE ROLE vasscm_worker NOLOGIN; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vasscm_camera') THEN CREATE ROLE vasscm_camera NOLOGIN; END IF;
END
$roles$;
GRANT vasscm_reader TO vasscm_operator, vasscm_admin;

REVOKE ALL ON SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vasscm FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vasscm FROM PUBLIC;
GRANT USAGE ON SCHEMA vasscm TO vasscm_reader, vasscm_worker, vasscm_camera;

-- State-changing entry points run as the extension owner.
ALTER FUNCTION vasscm.load_catalogue(jsonb, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.activate_catalogue(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.unbind(int) SECURITY DEFINER;
ALTER FUNCTION vasscm.approve(bigint) SECURITY DEFINER;
ALTER FUNCTION vasscm.reject(bigint, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.requeue(bigint, jsonb) SECURITY DEFINER;
ALTER FUNCTION vasscm.enqueue(text, jsonb, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.claim(text, int, int) SECURITY DEFINER;
ALTER FUNCTION vasscm.release(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_signed(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_reply(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_failure(uuid, text, int, text, int, float8, float8) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_refused(text, text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.receive(text, text) SECURITY DEFINER;
-- Captures run in whatever role writes the TOS table (the apply worker, or a TOS user).
ALTER FUNCTION vasscm._capture(int, text, text, text, text, jsonb, jsonb) SECURITY DEFINER;
ALTER FUNCTION vasscm._capture_failed(int, text, text, bigint, text, text) SECURITY DEFINER;

-- Reader: read everything that is not raw signed traffic; pure message functions.
GRANT SELECT ON vasscm.message_types, vasscm.catalogue, vasscm.catalogue_message, vasscm.catalogue_field,
                vasscm.binding, vasscm.followup_rule, vasscm.outbox, vasscm.outbox_history, vasscm.inbox,
                vasscm.movement, vasscm.movement_position, vasscm.movement_kind, vasscm.captured_change,
                vasscm.capture_failure
   TO vasscm_reader;
-- Interpretation (sql/interpret.sql): pending changes are interpreted by whoever needs the
-- ledger current (a gate decision), as the extension owner.
ALTER FUNCTION vasscm._catch_up() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm._catch_up() TO vasscm_reader, vasscm_worker;
GRANT EXECUTE ON FUNCTION vasscm.interpret(int) TO vasscm_worker, vasscm_admin;
ALTER FUNCTION vasscm.reinterpret_failures(int) SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.reinterpret_failures(int) TO vasscm_admin;
GRANT EXECUTE ON FUNCTION vasscm.build_message(text, jsonb, jsonb), vasscm.check_message_data(text, jsonb),
                          vasscm.validate_message(text), vasscm.parse_message(text), vasscm.message_xsd(text),
                          vasscm.is_valid_container_no(text), vasscm.container_check_digit(text),
                          vasscm.normalize_container_no(text)
   TO vasscm_reader;
GRANT SELECT ON vasscm.message_log TO vasscm_admin;

GRANT EXECUTE ON FUNCTION vasscm.approve(bigint), vasscm.reject(bigint, text), vasscm.requeue(bigint, jsonb),
                          vasscm.enqueue(text, jsonb, text)
   TO vasscm_operator;

GRANT EXECUTE ON FUNCTION vasscm.bind(regclass, text, jsonb, text[], text, text, text[], text[]), vasscm.unbind(int),
                          vasscm.load_catalogue(jsonb, boolean), vasscm.activate_catalogue(text)
   TO vasscm_admin;

GRANT SELECT ON vasscm.outbox TO vasscm_worker;
GRANT EXECUTE ON FUNCTION vasscm.claim(text, int, int), vasscm.release(uuid, text), vasscm.record_signed(uuid, text),
                          vasscm.record_reply(uuid, text, int, text, int, float8, float8), vasscm.record_failure(uuid, text, int, text, int, float8, float8),
                          vasscm.record_refused(text, text, text), vasscm.receive(text, text)
   TO vasscm_worker;

-- Clearance (sql/clearance.sql, gate.sql, obligations.sql).
ALTER FUNCTION vasscm.record_scan(text, timestamptz, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_vessel_match(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_yard_map(regclass, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_discrepancies(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_discharge_done(text, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.cancel_passed(uuid, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_container(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_declaration(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.check_bl(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.request_tranship_id(text, text, text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_setting(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.reapply_inbox() SECURITY DEFINER;
ALTER FUNCTION vasscm.match_vessels(regclass) SECURITY DEFINER;
ALTER FUNCTION vasscm.discharge_done_due() SECURITY DEFINER;
ALTER FUNCTION vasscm.refresh_deadline_alerts() SECURITY DEFINER;

-- Reader: the clearance state, its views and queries (plain SQL functions, inlined into reports).
GRANT SELECT ON vasscm.setting, vasscm.declaration, vasscm.declaration_container, vasscm.declaration_bulk,
                vasscm.expected_list, vasscm.expected_item, vasscm.scan_selection, vasscm.scan_record,
                vasscm.customs_vessel, vasscm.vessel_match, vasscm.tranship_id, vasscm.clearance_history,
                vasscm.yard_block_reported, vasscm.deadline_alert,
                vasscm.clearance_state, vasscm.gate_outs, vasscm.gate_ins, vasscm.vessel_calls, vasscm.deadlines
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.clearance(text), vasscm.clearance_by_declaration(text), vasscm.clearance_by_bl(text),
                          vasscm.gate_out_check(text, text, text, text[]),
                          vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric),
                          vasscm.query_result(uuid), vasscm.discrepancies(text),
                          vasscm._norm(text), vasscm._kg(numeric, text), vasscm._channel_name(smallint),
                          vasscm._unknown(text, text, text), vasscm._counts(text), vasscm._gone(text, text), vasscm._fmt(numeric),
                          vasscm._expected_seal(text, text, text, timestamptz), vasscm._setting_value(text),
                          vasscm._vessel_call(text), vasscm._vessel_call_of(jsonb)
   TO vasscm_reader;

GRANT EXECUTE ON FUNCTION vasscm.record_scan(text, timestamptz, text), vasscm.set_vessel_match(text, text),
                          vasscm.report_yard_map(regclass, boolean), vasscm.report_discrepancies(text),
                          vasscm.report_discharge_done(text, boolean), vasscm.cancel_passed(uuid, text),
                          vasscm.check_container(text, text), vasscm.check_declaration(text), vasscm.check_bl(text),
                          vasscm.request_tranship_id(text, text, text, text)
   TO vasscm_operator;

GRANT EXECUTE ON FUNCTION vasscm.set_setting(text, text), vasscm.reapply_inbox(), vasscm.match_vessels(regclass),
                          vasscm.discharge_done_due(), vasscm.refresh_deadline_alerts()
   TO vasscm_admin;

-- Operations (sql/audit.sql, operations.sql): jobs are admin functions run as the owner.
ALTER FUNCTION vasscm.schedule_jobs() SECURITY DEFINER;
ALTER FUNCTION vasscm.unschedule_jobs() SECURITY DEFINER;
ALTER FUNCTION vasscm.requeue_expired() SECURITY DEFINER;
ALTER FUNCTION vasscm.match_vessels_job() SECURITY DEFINER;
ALTER FUNCTION vasscm.seal_audit() SECURITY DEFINER;
ALTER FUNCTION vasscm.verify_audit(boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.maintain_partitions() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.schedule_jobs(), vasscm.unschedule_jobs(), vasscm.requeue_expired(), vasscm.match_vessels_job(),
                          vasscm.seal_audit(), vasscm.verify_audit(boolean), vasscm.maintain_partitions()
   TO vasscm_admin;
-- Monitoring views for everyone who reads (they read the logs as the view owner, aggregated).
GRANT SELECT ON vasscm.queue_depth, vasscm.oldest_waiting, vasscm.stuck_messages, vasscm.error_rates, vasscm.latency,
                vasscm.job, vasscm.audit_anchor
   TO vasscm_reader;

-- Incidents (sql/incident.sql): operators record what happens during an outage (article 52đ);
-- readers (the gate included) read incidents, paper lists and the incident log; the watcher is
-- an admin job.
ALTER FUNCTION vasscm.open_incident(text, timestamptz, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.close_incident(bigint, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_incident_notification(bigint, text, timestamptz, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_paper_list(bigint, text, text, jsonb, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.watch_incidents() SECURITY DEFINER;
GRANT SELECT ON vasscm.incident, vasscm.incident_event, vasscm.paper_list, vasscm.paper_list_item, vasscm.incident_gate_out,
                vasscm.incident_gate_outs
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.incident_log(bigint), vasscm.incident_summary(bigint), vasscm._incident(bigint),
                          vasscm._paper_cover(text, text[]), vasscm._paper_bulk(text, text, numeric, numeric, numeric, boolean),
                          vasscm._gone_in_incident(text), vasscm._vn_time(timestamptz), vasscm._open_incident()
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.open_incident(text, timestamptz, boolean), vasscm.close_incident(bigint, text),
                          vasscm.record_incident_notification(bigint, text, timestamptz, text),
                          vasscm.record_paper_list(bigint, text, text, jsonb, timestamptz)
   TO vasscm_operator, vasscm_admin;
GRANT EXECUTE ON FUNCTION vasscm.watch_incidents() TO vasscm_admin;

-- Camera reads (src/camera.rs): OCR correction of container numbers read at camera gates; pure
-- functions, for everyone who reads (the gate included).
GRANT EXECUTE ON FUNCTION vasscm.container_read_candidates(text), vasscm.correct_container_read(text, text[])
   TO vasscm_reader;

-- Clearance on the ledger (sql/clearance_now.sql, settings.sql, gate.sql).
GRANT SELECT ON vasscm.clearance_now, vasscm.setting_rule, vasscm.unit_conversion TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric, text),
                          vasscm._seal_key(text), vasscm._unit(text), vasscm._in_unit(numeric, text, text),
                          vasscm._gate_time(timestamptz),
                          vasscm._seal_after_changes(text, timestamptz, timestamptz[], text[], text[])
   TO vasscm_reader;
ALTER FUNCTION vasscm.gate_out_check(text, text, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric) SECURITY DEFINER;
ALTER FUNCTION vasscm.gate_out_check_bulk(text, text, numeric, numeric, numeric, text) SECURITY DEFINER;
ALTER FUNCTION vasscm._clearance_rebuild() SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm._clearance_rebuild(), vasscm._clearance_drift() TO vasscm_admin;

-- Batched worker writes and the table of unsettled messages (sql/outbox.sql, sql/worker.sql).
ALTER FUNCTION vasscm.record_signed_batch(uuid[], text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8) SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION vasscm.record_signed_batch(uuid[], text[]),
                          vasscm.record_replies(uuid[], jsonb[], int[], text[], int, float8, float8)
   TO vasscm_worker;
GRANT SELECT ON vasscm.outbox_open TO vasscm_reader, vasscm_worker;

-- Camera gates (sql/camera.sql): a camera system records reads and reports outages, nothing
-- else (it cannot even read the reads); the officer on duty (operator) reviews held reads and
-- keeps the shift log; readers (traffic displays, the TOS) read the reports and views; admins
-- register cameras, yard blocks and run the jobs; admins may bind camera_exit to form 21.
ALTER FUNCTION vasscm.record_camera_read(text, timestamptz, jsonb, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.camera_read_status(bigint) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_camera_outage(text, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.report_camera_restored(text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.review_camera_read(bigint, text, text, text[]) SECURITY DEFINER;
ALTER FUNCTION vasscm.write_shift_log(text, text, text, timestamptz) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.cancel_gate_appointment(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.register_camera(text, text, text, text, text, text, int) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_camera_active(text, boolean) SECURITY DEFINER;
ALTER FUNCTION vasscm.issue_camera_key(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.camera_key_matches(text, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.set_yard_block(text, numeric, text) SECURITY DEFINER;
ALTER FUNCTION vasscm.drop_yard_block(text) SECURITY DEFINER;
ALTER FUNCTION vasscm.watch_cameras() SECURITY DEFINER;
ALTER FUNCTION vasscm.maintain_camera_partitions() SECURITY DEFINER;
GRANT SELECT ON vasscm.camera, vasscm.gate_appointment, vasscm.yard_block, vasscm.camera_read, vasscm.camera_exit,
                vasscm.camera_outage, vasscm.shift_log, vasscm._yard_containers, vasscm.camera_review_queue, vasscm.camera_status,
                vasscm.truck_visits, vasscm.trucks_inside, vasscm.dwell_by_lane, vasscm.gate_queue, vasscm.gate_flow, vasscm.yard_capacity
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.camera_statistics(timestamptz, timestamptz), vasscm.camera_shift_log(timestamptz, timestamptz),
                          vasscm.camera_read_status(bigint), vasscm._plate(text)
   TO vasscm_reader;
GRANT EXECUTE ON FUNCTION vasscm.review_camera_read(bigint, text, text, text[]), vasscm.write_shift_log(text, text, text, timestamptz),
                          vasscm.report_camera_outage(text, text, timestamptz), vasscm.report_camera_restored(text, timestamptz),
                          vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text),
                          vasscm.cancel_gate_appointment(text)
   TO vasscm_operator;
GRANT EXECUTE ON FUNCTION vasscm.set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text),
                          vasscm.cancel_gate_appointment(text), vasscm.register_camera(text, text, text, text, text, text, int),
                          vasscm.set_camera_active(text, boolean), vasscm.issue_camera_key(text), vasscm.set_yard_block(text, numeric, text),
                          vasscm.drop_yard_block(text), vasscm.watch_cameras(), vasscm.maintain_camera_partitions()
   TO vasscm_admin;
GRANT TRIGGER ON vasscm.camera_exit TO vasscm_admin;   -- vasscm.bind checks it: a port without a gate system binds camera_exit to form 21
GRANT EXECUTE ON FUNCTION vasscm.record_camera_read(text, timestamptz, jsonb, text, text[]), vasscm.camera_read_status(bigint),
                          vasscm.report_camera_outage(text, text, timestamptz), vasscm.report_camera_restored(text, timestamptz)
   TO vasscm_camera;
GRANT EXECUTE ON FUNCTION vasscm.camera_key_matches(text, text) TO vasscm_worker;   -- the worker's future HTTP endpoint for cameras
