-- Audit: vasscm.message_log and vasscm.outbox_history are append-only and tamper-evident.
--
-- * UPDATE, DELETE and TRUNCATE are refused by triggers (ENABLE ALWAYS: also under
--   session_replication_role = replica), for every role including the table owner. The only
--   exceptions are vasscm's own maintenance: sealing (below) fills the chain columns of rows
--   not yet sealed, and retention drops whole monthly partitions older than the retention.
-- * Every row is chained: chain_seq (1, 2, 3, … per table), prev_hash (the previous row's
--   row_hash) and row_hash = sha256(prev_hash || the row's content as jsonb text, in UTC).
--   Rows are chained by vasscm.seal_audit() (a pg_cron job, every minute; also called by
--   vasscm.verify_audit()), which briefly locks out writers so that the chain follows the
--   commit order and no in-flight row is skipped.
-- * vasscm.verify_audit() recomputes every chain and reports the first broken link: a row
--   changed, a row removed, a row inserted out of chain.
-- * Monthly partitions (table_yYYYYmMM) are made ahead by vasscm.maintain_partitions(); rows
--   of a month without partition wait in the default partition and are moved when it is made.
--   Retention (setting audit_retention_months, at least 60: article 52đ keeps exchanged data
--   5 years) drops whole months; the chain's last hash before the cut is kept in
--   vasscm.audit_anchor, so the rest still verifies.

INSERT INTO setting VALUES
    ('audit_retention_months', '60', 'Monthly audit partitions (message_log, outbox_history) are kept this many months (at least 60: article 52đ keeps exchanged data 5 years)');

-- Retention is never shorter than 5 years (article 52đ).
CREATE FUNCTION _audit_retention_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.value IS NULL OR NEW.value !~ '^[0-9]{1,6}$' OR NEW.value::int < 60 THEN
        RAISE EXCEPTION 'vasscm: audit_retention_months must be at least 60 (article 52đ: exchanged data is kept 5 years), not "%"', coalesce(NEW.value, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER setting_audit_retention_check BEFORE UPDATE ON setting
    FOR EACH ROW WHEN (NEW.name = 'audit_retention_months') EXECUTE FUNCTION _audit_retention_check();

CREATE TABLE audit_anchor (
    table_name  text NOT NULL,
    up_to_seq   bigint NOT NULL,
    last_hash   bytea NOT NULL,
    partition   text NOT NULL,
    rows        bigint NOT NULL,
    dropped_at  timestamptz NOT NULL DEFAULT now(),
    dropped_by  text NOT NULL DEFAULT session_user,
    PRIMARY KEY (table_name, up_to_seq)
);
COMMENT ON TABLE audit_anchor IS 'Where each audit chain continues after retention dropped a partition: its last chain_seq and row_hash.';

CREATE FUNCTION _audit_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('vasscm.audit_sealing', true) = 'on' AND OLD.row_hash IS NULL
       AND to_jsonb(NEW) - 'chain_seq' - 'prev_hash' - 'row_hash' = to_jsonb(OLD) - 'chain_seq' - 'prev_hash' - 'row_hash' THEN
        RETURN NEW;   -- sealing: only the chain columns of an unsealed row change
    END IF;
    IF TG_OP = 'DELETE' AND current_setting('vasscm.audit_maintenance', true) = 'on' THEN
        RETURN OLD;   -- a month moved out of the default partition into its own
    END IF;
    RAISE EXCEPTION 'vasscm: % is append-only: % refused', TG_ARGV[0], TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Rows leave only when retention drops a whole month (vasscm.maintain_partitions(), setting audit_retention_months).';
END
$$;

CREATE FUNCTION _audit_no_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF current_setting('vasscm.audit_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'vasscm: % is append-only: TRUNCATE refused', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER message_log_append_only BEFORE UPDATE OR DELETE ON message_log
    FOR EACH ROW EXECUTE FUNCTION _audit_append_only('message_log');
CREATE TRIGGER message_log_no_truncate BEFORE TRUNCATE ON message_log
    FOR EACH STATEMENT EXECUTE FUNCTION _audit_no_truncate('message_log');
CREATE TRIGGER outbox_history_append_only BEFORE UPDATE OR DELETE ON outbox_history
    FOR EACH ROW EXECUTE FUNCTION _audit_append_only('outbox_history');
CREATE TRIGGER outbox_history_no_truncate BEFORE TRUNCATE ON outbox_history
    FOR EACH STATEMENT EXECUTE FUNCTION _audit_no_truncate('outbox_history');
ALTER TABLE message_log ENABLE ALWAYS TRIGGER message_log_append_only;
ALTER TABLE message_log ENABLE ALWAYS TRIGGER message_log_no_truncate;
ALTER TABLE outbox_history ENABLE ALWAYS TRIGGER outbox_history_append_only;
ALTER TABLE outbox_history ENABLE ALWAYS TRIGGER outbox_history_no_truncate;

-- The chain's starting point: the last anchor (after retention), or zero.
CREATE FUNCTION _audit_start(table_name text, OUT seq bigint, OUT hash bytea)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(max(a.up_to_seq), 0),
           coalesce((SELECT a2.last_hash FROM vasscm.audit_anchor a2 WHERE a2.table_name = _audit_start.table_name
                      ORDER BY a2.up_to_seq DESC LIMIT 1), '\x'::bytea)
      FROM vasscm.audit_anchor a WHERE a.table_name = _audit_start.table_name
$$;

-- The content a row's hash covers.
CREATE FUNCTION _audit_hash(prev bytea, body jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(prev || convert_to(body::text, 'UTF8'))
$$;

-- Chains the unsealed rows of one audit table; returns how many.
CREATE FUNCTION _seal(table_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    seq  bigint;
    prev bytea;
    hash bytea;
    r    record;
    n    bigint := 0;
BEGIN
    IF table_name NOT IN ('message_log', 'outbox_history') THEN
        RAISE EXCEPTION 'vasscm: % is not an audit table', table_name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Waits for writers in flight (so their rows are committed and seen) and holds new ones back
    -- for the moment of sealing; readers are not blocked.
    EXECUTE format('LOCK TABLE vasscm.%I IN EXCLUSIVE MODE', table_name);
    EXECUTE format('SELECT chain_seq, row_hash FROM vasscm.%I WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1', table_name)
       INTO seq, prev;
    IF seq IS NULL THEN
        SELECT s.seq, s.hash INTO seq, prev FROM vasscm._audit_start(table_name) s;
    END IF;
    PERFORM set_config('vasscm.audit_sealing', 'on', true);
    FOR r IN EXECUTE format('SELECT x.id, x.at, to_jsonb(x) - ''chain_seq'' - ''prev_hash'' - ''row_hash'' AS body
                               FROM vasscm.%I x WHERE x.chain_seq IS NULL ORDER BY x.id', table_name) LOOP
        seq := seq + 1;
        hash := vasscm._audit_hash(prev, r.body);
        EXECUTE format('UPDATE vasscm.%I SET chain_seq = $1, prev_hash = $2, row_hash = $3 WHERE id = $4 AND at = $5', table_name)
          USING seq, prev, hash, r.id, r.at;
        prev := hash;
        n := n + 1;
    END LOOP;
    PERFORM set_config('vasscm.audit_sealing', '', true);
    RETURN n;
END
$$;

-- Job: chains the new rows of both audit tables. Returns how many rows were sealed. Writers
-- are held back at most a second: when a long transaction keeps writing, the sealer waits up
-- to 1 s for it, three times, then leaves that table to the next run.
CREATE FUNCTION seal_audit() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET lock_timeout = '1s' AS $$
DECLARE
    t       text;
    n       bigint := 0;
    attempt int;
BEGIN
    FOREACH t IN ARRAY ARRAY['message_log', 'outbox_history'] LOOP
        FOR attempt IN 1..3 LOOP
            BEGIN
                n := n + vasscm._seal(t);
                EXIT;
            EXCEPTION WHEN lock_not_available THEN
                IF attempt = 3 THEN
                    RAISE NOTICE 'vasscm: % is busy with a long transaction; its new rows are sealed at the next run', t;
                ELSE
                    PERFORM pg_sleep(0.5);
                END IF;
            END;
        END LOOP;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION seal_audit() IS 'Job: chains the new rows of message_log and outbox_history into their hash chains; returns how many.';

-- Verifies both chains from their anchor; one row per table with the first broken link.
CREATE FUNCTION verify_audit(seal boolean DEFAULT true)
RETURNS TABLE (table_name text, rows_checked bigint, unsealed bigint, first_broken_id bigint, first_broken_seq bigint,
               problem text, head_seq bigint, head_hash text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    t    text;
    r    record;
    seq  bigint;
    prev bytea;
BEGIN
    IF seal THEN
        PERFORM vasscm.seal_audit();
    END IF;
    FOREACH t IN ARRAY ARRAY['message_log', 'outbox_history'] LOOP
        table_name := t; rows_checked := 0; first_broken_id := NULL; first_broken_seq := NULL; problem := NULL;
        SELECT s.seq, s.hash INTO seq, prev FROM vasscm._audit_start(t) s;
        -- rows at or before the anchor (a retained row sealed before a dropped one) are not re-checked
        FOR r IN EXECUTE format('SELECT x.id, x.chain_seq, x.prev_hash, x.row_hash,
                                        to_jsonb(x) - ''chain_seq'' - ''prev_hash'' - ''row_hash'' AS body
                                   FROM vasscm.%I x WHERE x.chain_seq > $1 ORDER BY x.chain_seq', t) USING seq LOOP
            IF r.chain_seq <> seq + 1 THEN
                problem := CASE WHEN r.chain_seq > seq + 1 THEN format('rows %s to %s of the chain are missing (deleted)', seq + 1, r.chain_seq - 1)
                                ELSE format('chain position %s appears twice (a row inserted into the chain)', r.chain_seq) END;
            ELSIF r.prev_hash IS DISTINCT FROM prev THEN
                problem := 'the link to the previous row is broken (prev_hash differs)';
            ELSIF r.row_hash IS DISTINCT FROM vasscm._audit_hash(prev, r.body) THEN
                problem := 'the row was changed after it was sealed (row_hash differs from its content)';
            END IF;
            IF problem IS NOT NULL THEN
                first_broken_id := r.id; first_broken_seq := r.chain_seq;
                EXIT;
            END IF;
            seq := r.chain_seq; prev := r.row_hash;
            rows_checked := rows_checked + 1;
            IF rows_checked % 100000 = 0 THEN
                RAISE NOTICE 'vasscm: % rows of % verified', rows_checked, t;
            END IF;
        END LOOP;
        EXECUTE format('SELECT count(*) FROM vasscm.%I WHERE chain_seq IS NULL', t) INTO unsealed;
        head_seq := seq; head_hash := encode(prev, 'hex');
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION verify_audit(boolean) IS
    'Verifies the hash chains of message_log and outbox_history (sealing new rows first); reports the first broken link and the chain head to record elsewhere.';

-- The partitions of an audit table with their month (from the name table_yYYYYmMM).
CREATE FUNCTION _audit_partitions(table_name text) RETURNS TABLE (partition text, month date)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text, to_date(substring(c.relname from '_y([0-9]{4}m[0-9]{2})$'), 'YYYY"m"MM')
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = format('vasscm.%I', table_name)::regclass
       AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
$$;

CREATE FUNCTION _default_months(table_name text) RETURNS SETOF date
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT DISTINCT date_trunc(''month'', at)::date FROM vasscm.%I', table_name || '_default');
END
$$;

-- Job: makes the monthly partitions of this month, the next two and any month with rows waiting
-- in the default partition (moving those rows), and drops the months past the retention after
-- recording where the chain continues. Returns one row per action.
CREATE FUNCTION maintain_partitions() RETURNS TABLE (table_name text, action text, partition text, rows bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    t      text;
    m      date;
    part   text;
    keep   int := greatest(coalesce(vasscm._setting_value('audit_retention_months'), '60')::int, 60);
    n      bigint;
    p      record;
    last   record;
BEGIN
    FOREACH t IN ARRAY ARRAY['message_log', 'outbox_history'] LOOP
        table_name := t;
        -- this month, the next two, and every month that has rows waiting in the default partition
        FOR m IN SELECT generate_series(date_trunc('month', now())::date, (date_trunc('month', now()) + interval '2 months')::date, interval '1 month')::date
                 UNION
                 SELECT * FROM vasscm._default_months(t)
                 ORDER BY 1 LOOP
            part := format('%s_y%s', t, to_char(m, 'YYYY"m"MM'));
            CONTINUE WHEN to_regclass(format('vasscm.%I', part)) IS NOT NULL;
            EXECUTE format('SELECT count(*) FROM vasscm.%I WHERE at >= $1 AND at < $2', t || '_default') INTO n
              USING m::timestamptz, (m + interval '1 month')::timestamptz;
            IF n > 0 THEN   -- rows of that month wait in the default partition: set them aside
                IF to_regclass('pg_temp.vasscm_moving_rows') IS NULL THEN
                    CREATE TEMP TABLE vasscm_moving_rows (row jsonb) ON COMMIT DROP;
                END IF;
                TRUNCATE vasscm_moving_rows;
                PERFORM set_config('vasscm.audit_maintenance', 'on', true);
                EXECUTE format('WITH moved AS (DELETE FROM vasscm.%I x WHERE at >= $1 AND at < $2 RETURNING x.*)
                                INSERT INTO vasscm_moving_rows SELECT to_jsonb(m) FROM moved m', t || '_default')
                  USING m::timestamptz, (m + interval '1 month')::timestamptz;
                PERFORM set_config('vasscm.audit_maintenance', '', true);
            END IF;
            EXECUTE format('CREATE TABLE vasscm.%I PARTITION OF vasscm.%I FOR VALUES FROM (%L) TO (%L)',
                           part, t, m::timestamptz, (m + interval '1 month')::timestamptz);
            IF n > 0 THEN   -- back through the parent, unchanged (ids, times, chain columns)
                EXECUTE format('INSERT INTO vasscm.%I SELECT (jsonb_populate_record(NULL::vasscm.%I, row)).* FROM vasscm_moving_rows', t, t);
            END IF;
            action := 'created'; partition := part; rows := n;
            RETURN NEXT;
        END LOOP;
        FOR p IN SELECT * FROM vasscm._audit_partitions(t) x
                  WHERE x.month < (date_trunc('month', now()) - make_interval(months => keep))::date ORDER BY x.month LOOP
            PERFORM vasscm._seal(t);
            EXECUTE format('SELECT max(chain_seq) AS seq, count(*) AS n FROM vasscm.%I', p.partition) INTO last;
            IF last.seq IS NOT NULL THEN
                EXECUTE format('INSERT INTO vasscm.audit_anchor (table_name, up_to_seq, last_hash, partition, rows)
                                SELECT $1, x.chain_seq, x.row_hash, $2, $3 FROM vasscm.%I x WHERE x.chain_seq = $4', p.partition)
                  USING t, p.partition, last.n, last.seq;
            END IF;
            EXECUTE format('DROP TABLE vasscm.%I', p.partition);
            action := 'dropped'; partition := p.partition; rows := last.n;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION maintain_partitions() IS
    'Job: creates the monthly audit partitions ahead and drops those older than audit_retention_months (at least 60), keeping the chain anchor.';
