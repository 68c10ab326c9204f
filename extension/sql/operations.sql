-- Operations: periodic jobs (pg_cron, optional) and monitoring views.
--
-- Every job is an ordinary vasscm.* function that also works when called by hand; pg_cron
-- only calls them on a schedule. The extension never requires pg_cron.

INSERT INTO setting VALUES
    ('stuck_after_minutes', '15', 'A message waiting (queued, sending, pending approval, invalid) longer than this is listed in vasscm.stuck_messages');

-- The periodic jobs, under stable names. vasscm.schedule_jobs() (re)creates them in pg_cron
-- from this table; an admin may change a schedule here and call it again.
CREATE TABLE job (
    name        text PRIMARY KEY CHECK (name LIKE 'vasscm-%'),
    schedule    text NOT NULL,
    command     text NOT NULL,
    description text NOT NULL
);
COMMENT ON TABLE job IS 'vasscm''s periodic jobs (pg_cron schedule, GMT, minute granularity); vasscm.schedule_jobs() applies them.';
INSERT INTO job VALUES
    ('vasscm-requeue', '* * * * *', 'SELECT vasscm.requeue_expired()',
     'Re-queues messages whose worker lease expired and wakes workers for due retries'),
    ('vasscm-deadlines', '* * * * *', 'SELECT vasscm.refresh_deadline_alerts()',
     'Records newly missed legal deadlines (vasscm.deadline_alert) and notifies vasscm_deadline'),
    ('vasscm-discharge-done', '*/5 * * * *', 'SELECT vasscm.discharge_done_due()',
     'Sends DISCHARGE_DONE for vessel calls whose listed cargo has all got in'),
    ('vasscm-vessels', '*/15 * * * *', 'SELECT vasscm.match_vessels_job()',
     'Matches customs'' vessel calls to TOS visits again (new visits, changed ETAs); customs itself is polled by the worker'),
    ('vasscm-audit-seal', '* * * * *', 'SELECT vasscm.seal_audit()',
     'Chains the new audit rows (message_log, outbox_history) into their hash chains'),
    ('vasscm-partitions', '17 3 * * *', 'SELECT vasscm.maintain_partitions()',
     'Creates the coming monthly audit partitions and drops those past the retention'),
    ('vasscm-interpret', '* * * * *', 'SELECT vasscm.interpret()',
     'Interprets captured TOS changes still pending (vasscm.interpret = async, or left by a failed commit-time interpretation)');

-- Job: messages whose worker lease expired go back to 'queued' (visible as such, and claimable
-- by any worker); a NOTIFY wakes the workers for them and for retries now due. Returns how many
-- leases expired.
CREATE FUNCTION requeue_expired() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(x.id) INTO ids FROM (
        SELECT o.id FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
         WHERE q.status = 'sending' AND o.status = 'sending' AND o.lease_until < now()
         ORDER BY o.id FOR UPDATE OF o SKIP LOCKED) x;
    IF ids IS NOT NULL THEN
        PERFORM FROM vasscm._set_status(ids, array_fill('queued'::text, ARRAY[cardinality(ids)]),
                                        array_fill('worker lease expired'::text, ARRAY[cardinality(ids)]),
                                        NULL, array_fill(0::float8, ARRAY[cardinality(ids)]));
    END IF;
    IF ids IS NOT NULL OR EXISTS (SELECT 1 FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
                                   WHERE q.status = 'queued' AND o.status = 'queued' AND o.next_attempt_at <= now()) THEN
        PERFORM pg_notify('vasscm_outbox', 'due');
    END IF;
    RETURN coalesce(cardinality(ids), 0);
END
$$;
COMMENT ON FUNCTION requeue_expired() IS 'Job: re-queues messages whose worker lease expired and wakes workers for due retries.';

-- Job: vessel matching against the configured source (vessel_visit_source), if any.
CREATE FUNCTION match_vessels_job() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src text := vasscm._setting_value('vessel_visit_source');
BEGIN
    IF src IS NULL THEN
        RETURN 0;
    END IF;
    RETURN vasscm._match_vessels(src::regclass);
END
$$;
COMMENT ON FUNCTION match_vessels_job() IS 'Job: matches customs vessel calls to the configured TOS vessel visits (0 when none is configured).';

-- pg_cron must be preloaded and installed in this database; otherwise say exactly what to do.
CREATE FUNCTION _require_pg_cron() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    preloaded boolean := 'pg_cron' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','));
    cron_db   text := current_setting('cron.database_name', true);
BEGIN
    IF NOT preloaded THEN
        RAISE EXCEPTION 'vasscm: pg_cron is not loaded in this cluster'
            USING ERRCODE = 'feature_not_supported',
                  HINT = format('Add to postgresql.conf: shared_preload_libraries = ''pg_cron'' and cron.database_name = ''%s''; restart PostgreSQL; then CREATE EXTENSION pg_cron; in database %s and call vasscm.schedule_jobs() again. Without pg_cron, call the job functions listed in vasscm.job from any scheduler.',
                                current_database(), current_database());
    END IF;
    IF cron_db IS DISTINCT FROM current_database() THEN
        RAISE EXCEPTION 'vasscm: pg_cron runs in database "%", not in "%" where vasscm is installed', coalesce(cron_db, 'postgres'), current_database()
            USING ERRCODE = 'feature_not_supported',
                  HINT = format('Set cron.database_name = ''%s'' in postgresql.conf and restart, or run the job functions of vasscm.job with another scheduler.', current_database());
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'vasscm: pg_cron is loaded but not installed in database "%"', current_database()
            USING ERRCODE = 'feature_not_supported', HINT = 'CREATE EXTENSION pg_cron; then call vasscm.schedule_jobs() again.';
    END IF;
END
$$;

-- Creates or updates, idempotently, every job of vasscm.job in pg_cron (and removes vasscm-*
-- jobs no longer in the table). Returns the scheduled jobs.
CREATE FUNCTION schedule_jobs() RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j  vasscm.job;
    id bigint;
BEGIN
    PERFORM vasscm._require_pg_cron();
    FOR j IN SELECT * FROM vasscm.job ORDER BY name LOOP
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)' INTO id USING j.name, j.schedule, j.command, current_database();
        job_name := j.name; schedule := j.schedule; command := j.command; jobid := id;
        RETURN NEXT;
    END LOOP;
    FOR j IN EXECUTE 'SELECT jobname, schedule, command, '''' FROM cron.job WHERE jobname LIKE ''vasscm-%'' AND jobname NOT IN (SELECT name FROM vasscm.job)' LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING j.name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS 'Admin: creates or updates vasscm''s periodic jobs in pg_cron under stable names (idempotent).';

CREATE FUNCTION unschedule_jobs() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name text;
    n    int := 0;
BEGIN
    PERFORM vasscm._require_pg_cron();
    FOR name IN EXECUTE 'SELECT jobname FROM cron.job WHERE jobname LIKE ''vasscm-%''' LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING name;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS 'Admin: removes vasscm''s jobs from pg_cron; returns how many.';

-- Monitoring ------------------------------------------------------------------------------
-- The messages not settled yet are found through vasscm.outbox_open (small: rows leave it when
-- customs answers), never through an index of outbox.status: a status change then rewrites no
-- index of the outbox (a HOT update), and monitoring never scans the whole outbox.

CREATE VIEW queue_depth AS
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

CREATE VIEW oldest_waiting AS
SELECT o.id, o.transaction_id, o.message_type, o.status, o.created_at, now() - o.created_at AS waiting, o.attempts,
       o.next_attempt_at, o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status IN ('pending_approval', 'queued', 'sending') AND o.status IN ('pending_approval', 'queued', 'sending')
 ORDER BY o.created_at, o.id
 LIMIT 1;
COMMENT ON VIEW oldest_waiting IS 'The oldest message not yet answered by customs (none: nothing waits).';

CREATE VIEW stuck_messages AS
SELECT o.id, o.transaction_id, o.message_type, o.status, o.created_at, o.updated_at, now() - o.updated_at AS stuck_for,
       o.attempts, o.claimed_by, o.lease_until, o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status IN ('invalid', 'pending_approval', 'queued', 'sending') AND o.status IN ('invalid', 'pending_approval', 'queued', 'sending')
   AND o.updated_at < now() - make_interval(mins => coalesce(vasscm._setting_value('stuck_after_minutes'), '15')::int)
 ORDER BY o.updated_at;
COMMENT ON VIEW stuck_messages IS 'Messages that have not moved for longer than the stuck_after_minutes setting.';

CREATE VIEW error_rates AS
WITH p(period, since) AS (VALUES ('1 hour', now() - interval '1 hour'), ('24 hours', now() - interval '24 hours')),
h AS (
    SELECT p.period,
           count(*) FILTER (WHERE h.to_status = 'accepted') AS accepted,
           count(*) FILTER (WHERE h.to_status = 'rejected') AS rejected,
           count(*) FILTER (WHERE h.to_status = 'dead') AS dead,
           count(*) FILTER (WHERE h.to_status = 'invalid') AS invalid
      FROM p JOIN vasscm.outbox_history h ON h.at > p.since GROUP BY p.period),
l AS (
    SELECT p.period,
           count(*) FILTER (WHERE l.kind = 'send_error') AS send_errors,
           count(*) FILTER (WHERE l.kind = 'bad_reply') AS bad_replies,
           count(*) FILTER (WHERE l.kind = 'refused') AS inbound_refused
      FROM p JOIN vasscm.message_log l ON l.at > p.since GROUP BY p.period)
SELECT p.period, coalesce(h.accepted, 0) AS accepted, coalesce(h.rejected, 0) AS rejected, coalesce(h.dead, 0) AS dead,
       coalesce(h.invalid, 0) AS invalid, coalesce(l.send_errors, 0) AS send_errors, coalesce(l.bad_replies, 0) AS bad_replies,
       coalesce(l.inbound_refused, 0) AS inbound_refused,
       round(coalesce(h.rejected, 0)::numeric / nullif(coalesce(h.accepted, 0) + coalesce(h.rejected, 0), 0), 4) AS rejection_rate,
       round((coalesce(l.send_errors, 0) + coalesce(l.bad_replies, 0))::numeric
             / nullif(coalesce(h.accepted, 0) + coalesce(h.rejected, 0) + coalesce(l.send_errors, 0) + coalesce(l.bad_replies, 0), 0), 4) AS error_rate
  FROM p LEFT JOIN h USING (period) LEFT JOIN l USING (period)
 ORDER BY p.since DESC;
COMMENT ON VIEW error_rates IS 'Accepted, rejected, dead and invalid messages, transport errors and refused inbound messages, last hour and last 24 hours.';

CREATE VIEW latency AS
WITH done AS (   -- messages answered by customs in the last hour, found through the history
    SELECT h.outbox_id, min(h.at) AS answered_at
      FROM vasscm.outbox_history h
     WHERE h.at > now() - interval '1 hour' AND h.to_status IN ('accepted', 'rejected')
     GROUP BY h.outbox_id),
m AS (
    SELECT o.message_type, o.created_at, d.answered_at,
           (SELECT max(h.at) FROM vasscm.outbox_history h WHERE h.outbox_id = o.id AND h.to_status = 'sending') AS last_claim,
           (SELECT max(l.at) FROM vasscm.message_log l WHERE l.transaction_id = o.transaction_id AND l.kind = 'signed') AS signed_at
      FROM done d JOIN vasscm.outbox o ON o.id = d.outbox_id)
SELECT m.message_type, count(*) AS messages,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM m.signed_at - m.last_claim) * 1000)::numeric, 1) AS sign_ms_p50,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM m.signed_at - m.last_claim) * 1000)::numeric, 1) AS sign_ms_p99,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM m.answered_at - m.signed_at) * 1000)::numeric, 1) AS send_ms_p50,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM m.answered_at - m.signed_at) * 1000)::numeric, 1) AS send_ms_p99,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM m.answered_at - m.created_at) * 1000)::numeric, 1) AS total_ms_p50,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM m.answered_at - m.created_at) * 1000)::numeric, 1) AS total_ms_p99
  FROM m
 GROUP BY m.message_type;
COMMENT ON VIEW latency IS 'Last hour, per message type: signing (claim → signed), sending (signed → customs'' answer) and total (queued → answer) latency, p50 / p99 in ms.';
