-- Settings kept in the database (not GUCs: they are shared by every session and by pg_cron),
-- and how each one is validated: as data, in one place (vasscm.setting_rule), checked by one
-- trigger whichever way a value is changed (vasscm.set_setting, or an UPDATE by hand).
-- Other files add their settings to vasscm.setting (INSERT INTO setting VALUES (name, value,
-- description)); their rules are here.

CREATE TABLE setting (
    name        text PRIMARY KEY,
    value       text,
    description text NOT NULL
);
COMMENT ON TABLE setting IS 'vasscm settings kept in the database; change them with vasscm.set_setting(name, value). Their rules: vasscm.setting_rule.';
INSERT INTO setting VALUES
    ('vessel_visit_source', NULL, 'Schema-qualified relation (table or view) of the TOS''s vessel visits with columns visit_id, imo, call_sign, vessel_name, eta; VESSEL_LIST entries are matched to it automatically'),
    ('vessel_match_window_hours', '48', 'How far (hours) the TOS ETA may be from customs'' ETA for a match by name'),
    ('gate_out_deadline_import_minutes', '15', 'Legal limit between an import gate-out and its message being accepted by customs'),
    ('gate_out_deadline_export_minutes', '30', 'Legal limit between an export gate-out (departure, truck passing) and its message being accepted'),
    ('list_lead_hours', '8', 'Forms 01 / 02 must arrive at least this long before ETA'),
    ('scan_list_lead_hours', '4', 'Form 03 (import) must arrive at least this long before ETA'),
    ('scan_selection_validity_days', '30', 'A scan selection (form 03) applies to the container''s visit that came with its vessel call, or that began at most this many days after it was made (with no visit known: this many days)');

-- How each setting is validated. kind: whole_number (between min_value and max_value, in
-- `unit`), relation (a schema-qualified relation the caller may read, with `columns`),
-- hours_range (HH:MM-HH:MM). nullable: NULL is allowed (unset).
CREATE TABLE setting_rule (
    name      text PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('whole_number', 'relation', 'hours_range')),
    unit      text,
    min_value bigint,
    max_value bigint,
    columns   text[],
    nullable  boolean NOT NULL DEFAULT false,
    hint      text
);
COMMENT ON TABLE setting_rule IS 'How each vasscm setting is validated (checked on every change of vasscm.setting).';
INSERT INTO setting_rule (name, kind, unit, min_value, max_value, columns, nullable, hint) VALUES
    ('vessel_visit_source', 'relation', NULL, NULL, NULL, ARRAY['visit_id', 'imo', 'call_sign', 'vessel_name', 'eta'], true,
     'Give the schema-qualified name, e.g. public.tos_vessel_visit; a view can rename the columns.'),
    ('vessel_match_window_hours', 'whole_number', 'hours', 0, 8760, NULL, false, NULL),
    ('gate_out_deadline_import_minutes', 'whole_number', 'minutes', 1, 1440, NULL, false, 'Article 52: 15 minutes.'),
    ('gate_out_deadline_export_minutes', 'whole_number', 'minutes', 1, 1440, NULL, false, 'Article 52a: 30 minutes.'),
    ('list_lead_hours', 'whole_number', 'hours', 0, 720, NULL, false, 'Forms 01 / 02: 8 hours before ETA.'),
    ('scan_list_lead_hours', 'whole_number', 'hours', 0, 720, NULL, false, 'Form 03: 4 hours before ETA.'),
    ('scan_selection_validity_days', 'whole_number', 'days', 0, 3650, NULL, false, 'For example 30.'),
    ('deadline_window_days', 'whole_number', 'days', 1, 3650, NULL, false, NULL),
    ('stuck_after_minutes', 'whole_number', 'minutes', 0, 100000, NULL, false, NULL),
    ('audit_retention_months', 'whole_number', 'months', 60, 1200, NULL, false, 'Article 52đ keeps exchanged data 5 years: at least 60.'),
    ('incident_open_after_seconds', 'whole_number', 'seconds', 1, 999999999, NULL, false,
     'For example 300 (5 minutes of failures before an incident opens).'),
    ('incident_notify_seconds', 'whole_number', 'seconds', 1, 999999999, NULL, false, 'Article 52đ: 3600 (1 hour).'),
    ('camera_retention_months', 'whole_number', 'months', 12, 1200, NULL, false, 'Decision 1865/QĐ-TCHQ keeps camera data one year: at least 12.'),
    ('camera_outage_minutes', 'whole_number', 'minutes', 1, 999999, NULL, false, NULL),
    ('camera_truck_window_hours', 'whole_number', 'hours', 1, 999999, NULL, false, NULL),
    ('camera_working_hours', 'hours_range', NULL, NULL, NULL, NULL, false,
     '00:00-24:00 (always), 06:00-22:00, 22:00-06:00 (across midnight)'),
    ('camera_appointment_source', 'relation', NULL, NULL, NULL,
     ARRAY['appointment_ref', 'direction', 'plate', 'container_no', 'gate', 'valid_from', 'valid_to', 'declarations',
           'carrier_seal', 'customs_seal'], true,
     'A gate appointment relation needs the columns of vasscm.gate_appointment (a view can rename; NULL AS gate for any gate).');

-- Checks a setting's new value against its rule (a relation is stored by its canonical name).
-- Runs in the caller's session: session_user must be able to read a relation it names.
CREATE FUNCTION _setting_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r   vasscm.setting_rule;
    rel regclass;
    col text;
BEGIN
    SELECT * INTO r FROM vasscm.setting_rule x WHERE x.name = NEW.name;
    IF NOT FOUND THEN
        RETURN NEW;   -- free text
    END IF;
    IF NEW.value IS NULL THEN
        IF r.nullable THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'vasscm: setting % cannot be empty', NEW.name
            USING ERRCODE = 'null_value_not_allowed', HINT = coalesce(r.hint, 'SELECT * FROM vasscm.setting_rule shows what it takes.');
    END IF;
    IF r.kind = 'whole_number' THEN
        IF NEW.value !~ '^[0-9]{1,12}$' OR NEW.value::bigint < coalesce(r.min_value, 0) OR NEW.value::bigint > coalesce(r.max_value, 999999999999) THEN
            RAISE EXCEPTION 'vasscm: setting % must be a whole number%, at least %, not "%"', NEW.name,
                  coalesce(' of ' || r.unit, ''), coalesce(r.min_value, 0), NEW.value
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = coalesce(r.hint || ' ', '') || format('Between %s and %s.', coalesce(r.min_value, 0), coalesce(r.max_value, 999999999999));
        END IF;
        NEW.value := NEW.value::bigint::text;
    ELSIF r.kind = 'hours_range' THEN
        IF NEW.value !~ '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$' THEN
            RAISE EXCEPTION 'vasscm: % must be HH:MM-HH:MM (Vietnam time), not "%"', NEW.name, NEW.value
                USING ERRCODE = 'invalid_parameter_value', HINT = r.hint;
        END IF;
    ELSIF r.kind = 'relation' THEN
        rel := to_regclass(NEW.value);   -- resolved with search_path = pg_catalog: schema-qualify
        IF rel IS NULL THEN
            RAISE EXCEPTION 'vasscm: relation "%" does not exist', NEW.value USING ERRCODE = 'undefined_table', HINT = r.hint;
        END IF;
        IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
            RAISE EXCEPTION 'vasscm: % may not read %', session_user, rel USING ERRCODE = 'insufficient_privilege';
        END IF;
        FOREACH col IN ARRAY coalesce(r.columns, '{}') LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
                RAISE EXCEPTION 'vasscm: % has no column "%"', rel, col USING ERRCODE = 'undefined_column', HINT = r.hint;
            END IF;
        END LOOP;
        NEW.value := rel::text;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER setting_validate BEFORE INSERT OR UPDATE OF value ON setting
    FOR EACH ROW EXECUTE FUNCTION _setting_check();

CREATE FUNCTION set_setting(name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE vasscm.setting s SET value = set_setting.value WHERE s.name = set_setting.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: unknown setting "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT name, description FROM vasscm.setting lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION set_setting(text, text) IS 'Admin: changes a vasscm setting (see vasscm.setting; validated by vasscm.setting_rule).';

CREATE FUNCTION _setting_value(name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.value FROM vasscm.setting s WHERE s.name = _setting_value.name
$$;
