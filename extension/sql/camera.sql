-- Camera gates (ICD pilot, Decision 1865/QĐ-TCHQ) and digital border gates: recognition
-- cameras read container numbers and truck plates at a gate lane; each read is reconciled with
-- customs' data (clearance, expected lists) and the port's own data (the yard, the TOS's gate
-- appointments) and gets a barrier decision, `open` or `hold`, with reasons in Vietnamese and
-- English, in a few milliseconds. Where is a camera read decided? Here: vasscm.record_camera_read().
--
-- * Cameras are registered in vasscm.camera (gate, lane, direction in / out). A camera system
--   (or the vendor's middleware) calls vasscm.record_camera_read(camera_id, read_at,
--   containers, plate, images) as a login role holding vasscm_camera; the same read sent twice
--   (same camera, same read_at) is recorded once and gets the same answer.
-- * Container numbers as read are corrected by their ISO 6346 check digit only when exactly one
--   candidate is plausible — expected at this gate: for an exit in the yard or on a gate-out
--   appointment, for an entry on a gate-in appointment or on customs' expected lists (01 / 02 /
--   08). Ambiguous and unreadable reads are never guessed: they are held for the officer on
--   duty with their candidates (vasscm.camera_review_queue).
-- * An exit opens when every container read is on a gate-out appointment of the TOS for this
--   truck (plate, valid window, gate) and may leave the supervision zone
--   (vasscm.gate_out_check with the appointment's seals and declarations). An entry opens when
--   every container is on a gate-in appointment for this truck or on an expected list, and is
--   not already in the yard. A truck without container needs an appointment of its plate.
--   Everything else is held, with every reason.
-- * The TOS tells vasscm which truck carries which container through vasscm.gate_appointment
--   (filled with vasscm.set_gate_appointment), or through a TOS relation with the same columns
--   named by the setting camera_appointment_source (a view over the replicated TOS tables).
-- * A confirmed exit (opened automatically or by the officer) is a row of vasscm.camera_exit per
--   container: a port without a gate system binds that table to form 21 (vasscm.bind), so that
--   the camera's exit is the gate-out of record.
-- * The officer on duty reviews holds (vasscm.review_camera_read: open manually / keep closed,
--   officer and time recorded) and keeps the shift log (vasscm.shift_log: incidents, camera
--   outages, hand-over, notes; reviews are logged by themselves). A camera silent for
--   camera_outage_minutes during camera_working_hours is an outage (vasscm.watch_cameras(), a
--   job); the vendor or the officer may report one (report_camera_outage).
-- * Reports: vasscm.camera_statistics(from, to) (reads, matches, mismatches, OCR corrections,
--   manual openings, outages per gate / lane: the quarterly statistics), the printable shift log
--   vasscm.camera_shift_log(from, to); views for a TOS or a traffic display: yard_capacity
--   (per block, from vasscm.yard_block and the containers in the yard; it is also a valid
--   relation for report_yard_map), trucks_inside, truck_visits, dwell_by_lane, gate_queue,
--   gate_flow, camera_status.
-- * Camera reads are kept in monthly partitions (camera_read_yYYYYmMM) for
--   camera_retention_months (13 by default, at least 12: Decision 1865 keeps camera data one
--   year); vasscm.maintain_camera_partitions() (a job) makes months ahead and drops old ones.
--   Images are never stored: reads carry their URIs.

-- Containers in the yard now, from the movement ledger (sql/ledger.sql): the gate-in (14) of the
-- box's current visit, not undone in the TOS, with no gate-out (21) since — whatever became of
-- the messages. block is VI_TRI (as last captured: yard moves keep it current in
-- vasscm.movement_position) up to its first
-- separator; teu from KICH_CO. A lookup by container_no goes through the ledger's index.
CREATE VIEW _yard_containers AS
SELECT DISTINCT ON (m.container_no) m.container_no,
       upper(substring(coalesce(p.source_data, m.source_data, m.facts) ->> 'VI_TRI' FROM '^\s*([A-Za-z0-9]+)')) AS block,
       nullif(btrim(coalesce(p.source_data, m.source_data, m.facts) ->> 'VI_TRI'), '') AS position,
       m.happened_at AS gate_in_at,
       CASE upper(left(m.facts ->> 'KICH_CO', 1)) WHEN '1' THEN 0.5 WHEN '2' THEN 1 WHEN '3' THEN 1.5 WHEN '4' THEN 2
            WHEN 'L' THEN 2.25 WHEN 'M' THEN 2.4 ELSE 1 END::numeric AS teu
  FROM vasscm.movement m
  LEFT JOIN vasscm.movement_position p ON p.movement_id = m.id
 WHERE m.kind = 'gate_in' AND m.message_type = '14' AND m.undone_at IS NULL AND m.container_no IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM vasscm.gate_outs g
                    WHERE g.container_no = m.container_no AND g.message_type = '21' AND g.left_at >= m.happened_at)
 ORDER BY m.container_no, m.happened_at DESC;
COMMENT ON VIEW _yard_containers IS
    'Containers in the yard now, from the movement ledger (a gate-in of the current visit, not undone, no gate-out since), with block and position (VI_TRI as last captured), gate-in time and TEU.';

-- Settings (their rules — retention at least 12 months, whole numbers, HH:MM-HH:MM, a readable
-- relation with the appointment columns — are in vasscm.setting_rule, sql/settings.sql).
INSERT INTO setting VALUES
    ('camera_retention_months', '13', 'Camera reads (vasscm.camera_read, monthly partitions) are kept this many months (at least 12: Decision 1865/QĐ-TCHQ keeps camera data one year)'),
    ('camera_outage_minutes', '15', 'A camera with no read for this many minutes during camera_working_hours is recorded as an outage (per camera: vasscm.camera.outage_minutes)'),
    ('camera_working_hours', '00:00-24:00', 'Working hours of the camera gates, Vietnam time, HH:MM-HH:MM (22:00-06:00 spans midnight); outages are detected only inside them'),
    ('camera_appointment_source', NULL, 'Schema-qualified TOS relation (view) of gate appointments with the columns of vasscm.gate_appointment, read instead of that table'),
    ('camera_truck_window_hours', '72', 'How far back (hours) vasscm.trucks_inside and vasscm.truck_visits look for entries');

-- Tables --------------------------------------------------------------------------------------
CREATE TABLE camera (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$'),
    gate           text NOT NULL CHECK (btrim(gate) <> ''),
    lane           text NOT NULL CHECK (btrim(lane) <> ''),
    direction      text NOT NULL CHECK (direction IN ('in', 'out')),
    description    text,
    login_role     text,
    key_hash       bytea,
    key_issued_at  timestamptz,
    outage_minutes int CHECK (outage_minutes >= 1),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT session_user,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE camera IS 'Recognition cameras at the gates: gate, lane, direction (in / out); register with vasscm.register_camera.';
COMMENT ON COLUMN camera.login_role IS 'When set, only this login role may record reads for the camera (else any holder of vasscm_camera).';
COMMENT ON COLUMN camera.key_hash IS 'SHA-256 of the camera''s key for an HTTP endpoint (vasscm.issue_camera_key, vasscm.camera_key_matches); the key itself is never stored.';
COMMENT ON COLUMN camera.outage_minutes IS 'Minutes without a read that make an outage for this camera (NULL: setting camera_outage_minutes).';

-- Which truck carries which container through which gate, as the TOS planned it (gate pass,
-- EIR, truck appointment). One row per truck and container (a truck with two boxes: two rows;
-- a truck coming to pick up or leaving empty: container_no NULL).
CREATE TABLE gate_appointment (
    appointment_ref text PRIMARY KEY,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    plate           text NOT NULL,
    container_no    text,
    gate            text,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz NOT NULL,
    declarations    text[],
    carrier_seal    text,
    customs_seal    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT session_user,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to > valid_from)
);
CREATE INDEX gate_appointment_by_container ON gate_appointment (container_no, direction, valid_to);
CREATE INDEX gate_appointment_by_plate ON gate_appointment (plate, direction, valid_to);
COMMENT ON TABLE gate_appointment IS
    'Gate appointments from the TOS: which truck (plate) takes which container in or out, when, through which gate (NULL: any), with the declarations and seals of a gate-out. Filled with vasscm.set_gate_appointment, or replaced by the setting camera_appointment_source.';

-- Yard blocks and their capacity, as the port declares them (the yard map, form 13 / YARD_MAP).
CREATE TABLE yard_block (
    block_code   text PRIMARY KEY,
    block_name   text,
    capacity_teu numeric NOT NULL CHECK (capacity_teu >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE yard_block IS 'Yard blocks and their capacity in TEU (vasscm.set_yard_block); occupancy in vasscm.yard_capacity.';

-- Camera reads and their decisions, in monthly partitions.
CREATE SEQUENCE camera_read_id_seq;
CREATE TABLE camera_read (
    id               bigint NOT NULL DEFAULT nextval('vasscm.camera_read_id_seq'),
    read_at          timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    camera_id        text NOT NULL,
    gate             text NOT NULL,
    lane             text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    containers       jsonb NOT NULL DEFAULT '[]',
    plate_read       text,
    plate            text,
    images           text[],
    results          jsonb NOT NULL DEFAULT '[]',
    container_nos    text[] NOT NULL DEFAULT '{}',
    decision         text NOT NULL CHECK (decision IN ('open', 'hold')),
    reasons          text[] NOT NULL DEFAULT '{}',
    hold_kinds       text[] NOT NULL DEFAULT '{}',
    appointment_refs text[] NOT NULL DEFAULT '{}',
    decided_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    decision_ms      numeric,
    review_decision  text CHECK (review_decision IN ('open', 'keep_closed')),
    reviewed_at      timestamptz,
    reviewed_by      text,
    review_note      text,
    review_containers text[],
    opened           boolean GENERATED ALWAYS AS (decision = 'open' OR review_decision = 'open') STORED,
    PRIMARY KEY (id, read_at),
    CONSTRAINT camera_read_once UNIQUE (camera_id, read_at),
    CHECK (review_decision IS NULL OR decision = 'hold')
) PARTITION BY RANGE (read_at);
ALTER SEQUENCE camera_read_id_seq OWNED BY camera_read.id;
CREATE TABLE camera_read_default PARTITION OF camera_read DEFAULT;
CREATE INDEX camera_read_by_at ON camera_read (read_at);
CREATE INDEX camera_read_by_plate ON camera_read (plate, read_at) WHERE opened AND plate IS NOT NULL;
CREATE INDEX camera_read_pending ON camera_read (read_at) WHERE decision = 'hold' AND review_decision IS NULL;
CREATE INDEX camera_read_by_container ON camera_read USING gin (container_nos);
COMMENT ON TABLE camera_read IS
    'Every camera read (as read: containers with confidence, plate, image URIs) and its decision (open / hold, reasons, per-container OCR results) and review. Monthly partitions, kept camera_retention_months.';
COMMENT ON COLUMN camera_read.containers IS 'The container numbers as the camera read them: [{"number": "...", "confidence": 0.97}].';
COMMENT ON COLUMN camera_read.results IS 'Per container read: outcome of the OCR correction (valid, corrected, ambiguous, unreadable), the number used, candidates, whether it matched, kind and reasons, the appointment.';
COMMENT ON COLUMN camera_read.container_nos IS 'The container numbers the decision used (read or corrected), or the officer''s after a manual opening.';
COMMENT ON COLUMN camera_read.hold_kinds IS 'Why held, as codes: camera_inactive, unreadable, ambiguous, no_appointment, appointment_window, plate_unread, plate_mismatch, not_cleared, already_in_yard, not_expected, container_missing.';
COMMENT ON COLUMN camera_read.opened IS 'The barrier opened: automatically (decision open) or by the officer (review_decision open).';

-- Confirmed exits, one row per container: what a port without a gate system binds to form 21.
CREATE TABLE camera_exit (
    read_id         bigint NOT NULL,
    container_no    text NOT NULL,
    read_at         timestamptz NOT NULL,
    camera_id       text NOT NULL,
    gate            text NOT NULL,
    lane            text NOT NULL,
    plate           text,
    declarations    text[] NOT NULL DEFAULT '{}',
    carrier_seal    text,
    customs_seal    text,
    cargo_flow      text NOT NULL DEFAULT 'NHAP',
    appointment_ref text,
    confirmed_by    text NOT NULL,
    confirmed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (read_id, container_no)
);
CREATE INDEX camera_exit_by_container ON camera_exit (container_no, read_at);
CREATE INDEX camera_exit_by_at ON camera_exit (read_at);
COMMENT ON TABLE camera_exit IS
    'Confirmed exits by camera, one row per container: read_at is the time of record of the gate-out. A port without a gate system binds this table to form 21 (vasscm.bind).';
COMMENT ON COLUMN camera_exit.confirmed_by IS '''camera'' (opened automatically) or the officer who opened the barrier by hand.';
COMMENT ON COLUMN camera_exit.cargo_flow IS 'LOAI_HANG of the container''s declaration (NHAP when customs gave none).';

CREATE TABLE camera_outage (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_id   text NOT NULL REFERENCES camera,
    began_at    timestamptz NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    detection   text NOT NULL CHECK (detection IN ('automatic', 'reported')),
    reported_by text NOT NULL DEFAULT session_user,
    cause       text NOT NULL,
    ended_at    timestamptz,
    ended_by    text,
    CHECK (ended_at IS NULL OR ended_at >= began_at)
);
CREATE UNIQUE INDEX camera_outage_one_open ON camera_outage (camera_id) WHERE ended_at IS NULL;
CREATE INDEX camera_outage_by_time ON camera_outage (began_at);
COMMENT ON TABLE camera_outage IS 'Camera outages: detected (no read for camera_outage_minutes during working hours) or reported by the vendor or the officer; an automatic one ends at the camera''s next read.';

-- The shift log (sổ nhật ký) of the officer on duty.
CREATE TABLE shift_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    officer   text NOT NULL DEFAULT session_user,
    kind      text NOT NULL CHECK (kind IN ('incident', 'camera_outage', 'camera_restored', 'handover', 'note', 'review')),
    gate      text,
    lane      text,
    camera_id text,
    read_id   bigint,
    outage_id bigint,
    note      text NOT NULL CHECK (btrim(note) <> '')
);
CREATE INDEX shift_log_by_at ON shift_log (at);
COMMENT ON TABLE shift_log IS
    'The shift log (sổ nhật ký) of the camera gates: incidents, camera outages and restorations, hand-overs, notes (vasscm.write_shift_log), reviews of held reads (written by vasscm.review_camera_read).';

-- Backups: camera data is kept by pg_dump like the rest of vasscm's data (the monthly
-- partitions made later are not extension members and are dumped as they are).
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['camera', 'gate_appointment', 'yard_block', 'camera_read_default', 'camera_exit', 'camera_outage',
                             'shift_log', 'camera_read_id_seq', 'camera_outage_id_seq', 'shift_log_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('vasscm.%I', t)::regclass, '');
    END LOOP;
END
$dump$;

-- Jobs (pg_cron, optional: vasscm.schedule_jobs()).
INSERT INTO job VALUES
    ('vasscm-cameras', '* * * * *', 'SELECT vasscm.watch_cameras()',
     'Records camera outages: active cameras without a read for camera_outage_minutes during camera_working_hours'),
    ('vasscm-camera-partitions', '23 3 * * *', 'SELECT vasscm.maintain_camera_partitions()',
     'Creates the coming monthly partitions of camera reads and drops those past camera_retention_months');

-- Helpers -------------------------------------------------------------------------------------

-- A plate as compared: upper-case letters and digits only ('15C-123.45' → '15C12345').
CREATE FUNCTION _plate(plate text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(upper(coalesce(plate, '')), '[^A-Z0-9]', '', 'g'), '')
$$;

-- A camera read of a container number as the OCR correction normalises it (vasscm_core::ocr):
-- no white space, upper-case, no - . / _.
CREATE FUNCTION _camera_read_text(read text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(vasscm.normalize_container_no(coalesce(read, '')), '-./_', '')
$$;

-- The valid container numbers one character away from a valid number (any character allowed in
-- its position): a superset of the look-alikes the OCR correction consults for a valid read that
-- is not expected, so that only these need a plausibility lookup.
CREATE FUNCTION _one_substitution(number text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(m), '{}') FROM (
        SELECT overlay(number PLACING ch FROM p FOR 1) AS m
          FROM generate_series(1, 11) AS p
         CROSS JOIN LATERAL unnest(CASE WHEN p <= 3 THEN string_to_array('ABCDEFGHIJKLMNOPQRSTUVWXYZ', NULL)
                                        WHEN p = 4 THEN ARRAY['U', 'J', 'Z']
                                        ELSE string_to_array('0123456789', NULL) END) AS ch
         WHERE length(number) = 11 AND ch <> substr(number, p, 1)) s
     WHERE vasscm.is_valid_container_no(s.m)
$$;

-- The gate appointments of a direction near a time (a day either side) for some containers or a
-- plate, from vasscm.gate_appointment or the TOS relation of camera_appointment_source.
-- Numbers and plates come back normalised.
CREATE FUNCTION _camera_appointments(dir text, numbers text[], truck text, at timestamptz)
RETURNS TABLE (appointment_ref text, direction text, plate text, container_no text, gate text, valid_from timestamptz,
               valid_to timestamptz, declarations text[], carrier_seal text, customs_seal text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    src text := vasscm._setting_value('camera_appointment_source');
BEGIN
    IF src IS NULL THEN
        RETURN QUERY
        SELECT a.appointment_ref, a.direction, a.plate, a.container_no, a.gate, a.valid_from, a.valid_to, a.declarations,
               a.carrier_seal, a.customs_seal
          FROM vasscm.gate_appointment a
         WHERE a.direction = dir AND a.valid_to >= at - interval '1 day' AND a.valid_from <= at + interval '1 day'
           AND a.container_no = ANY (numbers)
        UNION
        SELECT a.appointment_ref, a.direction, a.plate, a.container_no, a.gate, a.valid_from, a.valid_to, a.declarations,
               a.carrier_seal, a.customs_seal
          FROM vasscm.gate_appointment a
         WHERE a.direction = dir AND a.valid_to >= at - interval '1 day' AND a.valid_from <= at + interval '1 day'
           AND a.plate = truck;
    ELSE
        RETURN QUERY EXECUTE format($q$
            SELECT * FROM (
                SELECT x.appointment_ref::text, lower(x.direction::text), vasscm._plate(x.plate::text),
                       vasscm.normalize_container_no(x.container_no::text), nullif(btrim(x.gate::text), ''),
                       x.valid_from::timestamptz, x.valid_to::timestamptz,
                       x.declarations::text[], vasscm._norm(x.carrier_seal::text), vasscm._norm(x.customs_seal::text)
                  FROM %s x
                 WHERE x.valid_to::timestamptz >= $2 - interval '1 day' AND x.valid_from::timestamptz <= $2 + interval '1 day') a (
                  appointment_ref, direction, plate, container_no, gate, valid_from, valid_to, declarations, carrier_seal, customs_seal)
             WHERE a.direction = $1 AND (a.container_no = ANY ($3) OR a.plate = $4)$q$, src::regclass)
          USING dir, at, numbers, truck;
    END IF;
END
$$;

-- Which of these container numbers are expected at a gate (plausible for the OCR correction):
-- for an exit, in the yard or on a gate-out appointment; for an entry, on a gate-in appointment
-- or on a current expected list of customs (01 / 02 / 08).
-- (A generic plan, made once per session: the yard lookup is an index probe whatever the
-- numbers, and planning it for each call would cost more than running it.)
CREATE FUNCTION _camera_expected(direction text, container_nos text[], at timestamptz) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    appointed text[];
BEGIN
    IF cardinality(container_nos) = 0 THEN
        RETURN '{}';
    END IF;
    appointed := ARRAY(SELECT a.container_no FROM vasscm._camera_appointments(direction, container_nos, NULL, at) a
                        WHERE a.container_no = ANY (container_nos));
    RETURN ARRAY(
        SELECT DISTINCT n FROM unnest(container_nos) AS n
         WHERE n = ANY (appointed)
            OR (direction = 'out' AND EXISTS (SELECT 1 FROM vasscm._yard_containers y WHERE y.container_no = n))
            OR (direction = 'in' AND EXISTS (SELECT 1 FROM vasscm.expected_item i
                                               JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                                              WHERE i.container_no = n))
         ORDER BY n);
END
$$;

-- The declarations customs declared a container eligible under and that may still be used
-- (listed, eligible, active): the 21's LIST_TK when the appointment names none.
CREATE FUNCTION _covering_declarations(container_no text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(dc.declaration_no ORDER BY dc.declaration_no), '{}')
      FROM vasscm.declaration_container dc JOIN vasscm.declaration d USING (declaration_no)
     WHERE dc.container_no = _covering_declarations.container_no AND dc.listed AND d.eligible_at IS NOT NULL AND d.status = 'active'
$$;

-- One container read of a camera read, decided: the OCR correction against what is expected
-- at this gate, then the match with the TOS's appointments and, for an exit, with customs'
-- clearance. Returns {read, confidence, outcome, container_no, candidates, ok, kind, reasons,
-- appointment_ref, declarations, carrier_seal, customs_seal}. (Volatile: gate_out_check first
-- catches up with what the TOS did.)
CREATE FUNCTION _camera_container(direction text, gate text, at timestamptz, plate text, read text, confidence numeric)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n     text := vasscm._camera_read_text(read);
    plaus text[];
    ocr   record;
    c     text;
    a     record;
    chk   record;
    lst_form text;
    lst_what text;
    ok    boolean := false;
    kind  text;
    why   text[] := '{}';
    fixed text;
    in_window boolean := false;
    matched jsonb := '{}';
BEGIN
    IF vasscm.is_valid_container_no(n) THEN
        plaus := vasscm._camera_expected(direction, ARRAY[n], at);
        IF cardinality(plaus) = 0 THEN   -- unexpected: is a look-alike expected? (then ambiguous)
            plaus := vasscm._camera_expected(direction, vasscm._one_substitution(n), at);
        END IF;
    ELSIF n <> '' THEN
        plaus := vasscm._camera_expected(direction, vasscm.container_read_candidates(n), at);
    END IF;
    SELECT * INTO ocr FROM vasscm.correct_container_read(nullif(n, ''), coalesce(plaus, '{}'));
    c := ocr.container_no;
    IF ocr.outcome = 'unreadable' THEN
        kind := 'unreadable';
        why := ARRAY[format('Không đọc được số container "%s" / container number "%s" cannot be read', coalesce(read, ''), coalesce(read, ''))];
    ELSIF ocr.outcome = 'ambiguous' THEN
        kind := 'ambiguous';
        why := ARRAY[format('Số container đọc được "%s" không xác định, có thể là: %s / container read "%s" is ambiguous, candidates: %s',
                            read, coalesce(nullif(array_to_string(ocr.candidates, ', '), ''), 'không có'),
                            read, coalesce(nullif(array_to_string(ocr.candidates, ', '), ''), 'none'))];
    ELSE
        IF ocr.outcome = 'corrected' THEN
            fixed := format('Số container đọc "%s", sửa thành %s theo số kiểm tra ISO 6346 / container read "%s", corrected to %s by its ISO 6346 check digit',
                            read, c, read, c);
        END IF;
        -- the appointment of this container: in its window at this gate first, then this plate's
        SELECT x.*, (x.valid_from <= at AND x.valid_to >= at AND (x.gate IS NULL OR x.gate = _camera_container.gate)) AS fits
          INTO a
          FROM vasscm._camera_appointments(direction, ARRAY[c], NULL, at) x
         WHERE x.container_no = c
         ORDER BY 11 DESC, (x.plate = _camera_container.plate) DESC NULLS LAST, x.valid_from DESC
         LIMIT 1;
        in_window := coalesce(a.fits, false);
        IF in_window THEN
            matched := jsonb_build_object('appointment_ref', a.appointment_ref, 'declarations', to_jsonb(a.declarations),
                                          'carrier_seal', a.carrier_seal, 'customs_seal', a.customs_seal);
        END IF;
        IF direction = 'in' AND EXISTS (SELECT 1 FROM vasscm._yard_containers y WHERE y.container_no = c) THEN
            kind := 'already_in_yard';
            why := ARRAY[format('Container %s đang ở trong bãi (đã hạ bãi, chưa ra) / container %s is already in the yard (gated in, not out)', c, c)];
        ELSIF in_window AND plate IS NULL THEN
            kind := 'plate_unread';
            why := ARRAY[format('Không đọc được biển số xe; lịch hẹn %s của container %s là xe %s / the plate could not be read; appointment %s of container %s is for truck %s',
                                a.appointment_ref, c, a.plate, a.appointment_ref, c, a.plate)];
        ELSIF in_window AND a.plate IS DISTINCT FROM plate THEN
            kind := 'plate_mismatch';
            why := ARRAY[format('Biển số %s không khớp lịch hẹn %s của container %s (xe %s) / plate %s does not match appointment %s of container %s (truck %s)',
                                plate, a.appointment_ref, c, a.plate, plate, a.appointment_ref, c, a.plate)];
        ELSIF in_window AND direction = 'out' THEN
            SELECT * INTO chk FROM vasscm.gate_out_check(c, a.carrier_seal, a.customs_seal, a.declarations);
            IF chk.allowed THEN
                ok := true;
                why := ARRAY[format('Container %s khớp lệnh giao %s, xe %s, đủ điều kiện qua khu vực giám sát / container %s matches gate-out appointment %s, truck %s, and may leave the supervision zone',
                                    c, a.appointment_ref, plate, c, a.appointment_ref, plate)] || coalesce(chk.reasons, '{}');
            ELSE
                kind := 'not_cleared';
                why := chk.reasons;
            END IF;
        ELSIF in_window THEN
            ok := true;
            why := ARRAY[format('Container %s khớp lịch hẹn vào cổng %s, xe %s / container %s matches gate-in appointment %s, truck %s',
                                c, a.appointment_ref, plate, c, a.appointment_ref, plate)];
        ELSE
            IF direction = 'in' THEN
                SELECT l.form, coalesce(l.vessel_call, l.declaration_no, l.transaction_id::text) INTO lst_form, lst_what
                  FROM vasscm.expected_item i JOIN vasscm.expected_list l ON l.transaction_id = i.list_id AND l.current
                 WHERE i.container_no = c ORDER BY l.listed_at DESC LIMIT 1;
            END IF;
            IF lst_form IS NOT NULL THEN
                ok := true;
                why := ARRAY[format('Container %s có trong danh sách dự kiến của hải quan (mẫu %s, %s) / container %s is on customs'' expected list (form %s, %s)',
                                    c, lst_form, lst_what, c, lst_form, lst_what)];
            ELSIF a.appointment_ref IS NOT NULL THEN
                kind := 'appointment_window';
                why := ARRAY[format('Lịch hẹn %s của container %s có hiệu lực %s–%s%s, xe đến lúc %s / appointment %s of container %s is valid %s to %s%s, the truck came at %s',
                                    a.appointment_ref, c, vasscm._vn_time(a.valid_from), vasscm._vn_time(a.valid_to),
                                    coalesce(' tại cổng ' || a.gate, ''), vasscm._vn_time(at),
                                    a.appointment_ref, c, vasscm._vn_time(a.valid_from), vasscm._vn_time(a.valid_to),
                                    coalesce(' at gate ' || a.gate, ''), vasscm._vn_time(at))];
            ELSIF direction = 'out' THEN
                kind := 'no_appointment';
                why := ARRAY[format('Container %s không có lệnh giao (lịch hẹn ra cổng) trong TOS / container %s has no gate-out appointment in the TOS', c, c)];
            ELSE
                kind := 'not_expected';
                why := ARRAY[format('Container %s không có lịch hẹn vào cổng và không có trong danh sách dự kiến của hải quan / container %s has no gate-in appointment and is on no expected list of customs', c, c)];
            END IF;
        END IF;
        IF fixed IS NOT NULL THEN
            why := fixed || why;
        END IF;
    END IF;
    RETURN jsonb_build_object(
        'read', read, 'confidence', confidence, 'outcome', ocr.outcome, 'container_no', c, 'candidates', to_jsonb(ocr.candidates),
        'ok', ok, 'kind', kind, 'reasons', to_jsonb(why)) || matched;
END
$$;

-- A camera by id, or a clear error.
CREATE FUNCTION _camera(camera_id text) RETURNS camera
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c vasscm.camera;
BEGIN
    SELECT * INTO c FROM vasscm.camera x WHERE x.id = camera_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no camera "%"', coalesce(camera_id, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT id, gate, lane, direction FROM vasscm.camera; register one with vasscm.register_camera.';
    END IF;
    RETURN c;
END
$$;

-- Writes a line of the shift log; returns its id.
CREATE FUNCTION _shift_log(kind text, note text, at timestamptz DEFAULT now(), gate text DEFAULT NULL, lane text DEFAULT NULL,
                           camera_id text DEFAULT NULL, read_id bigint DEFAULT NULL, outage_id bigint DEFAULT NULL) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vasscm.shift_log (kind, note, at, gate, lane, camera_id, read_id, outage_id)
    VALUES (kind, note, coalesce(at, now()), gate, lane, camera_id, read_id, outage_id)
    RETURNING id
$$;

-- Records the confirmed exit of each container of an opened exit read (camera_exit), with the
-- declarations and seals of its appointment, else customs' data; a port without a gate system
-- has bound camera_exit to form 21, so the 21 is queued in the same transaction.
CREATE FUNCTION _camera_exit(r camera_read, confirmed_by text) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c    text;
    res  jsonb;
    decl text[];
    seal record;
    n    int := 0;
BEGIN
    FOREACH c IN ARRAY coalesce(r.review_containers, r.container_nos) LOOP
        SELECT x INTO res FROM jsonb_array_elements(r.results) x WHERE x ->> 'container_no' = c AND x ->> 'appointment_ref' IS NOT NULL LIMIT 1;
        decl := CASE WHEN res -> 'declarations' IS NOT NULL AND jsonb_typeof(res -> 'declarations') = 'array'
                     THEN ARRAY(SELECT jsonb_array_elements_text(res -> 'declarations')) END;
        IF coalesce(cardinality(decl), 0) = 0 THEN
            decl := vasscm._covering_declarations(c);
        END IF;
        SELECT dc.carrier_seal, dc.customs_seal INTO seal FROM vasscm.declaration_container dc
         WHERE dc.container_no = c AND dc.listed AND dc.declaration_no = ANY (decl) ORDER BY dc.set_at DESC LIMIT 1;
        INSERT INTO vasscm.camera_exit (read_id, container_no, read_at, camera_id, gate, lane, plate, declarations, carrier_seal, customs_seal,
                                        cargo_flow, appointment_ref, confirmed_by)
        VALUES (r.id, c, r.read_at, r.camera_id, r.gate, r.lane, r.plate, decl,
                coalesce(res ->> 'carrier_seal', seal.carrier_seal), coalesce(res ->> 'customs_seal', seal.customs_seal),
                coalesce((SELECT d.cargo_flow FROM vasscm.declaration d WHERE d.declaration_no = ANY (decl) AND d.cargo_flow IS NOT NULL
                           ORDER BY d.declaration_no LIMIT 1), 'NHAP'),
                res ->> 'appointment_ref', confirmed_by)
        ON CONFLICT DO NOTHING;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- The camera API ------------------------------------------------------------------------------

-- A camera read, decided and recorded. Parameters:
--   camera_id   a registered camera (vasscm.camera.id)
--   read_at     when the truck was read (the camera's clock, synchronised; NULL: now). More
--               than 5 minutes in the future is refused. (camera_id, read_at) identifies the
--               read: sent again, the first answer is returned and nothing is recorded twice.
--   containers  JSON array of the containers read, each {"number": "MSKU1234565",
--               "confidence": 0.97} (or just the number as a string); [] or NULL: no container
--   plate       the truck plate as read (NULL: not read)
--   images      URIs of the images kept by the camera system (never the images themselves)
-- Returns one row: read_id, decision ('open': raise the barrier; 'hold': keep it down, the
-- officer on duty decides), reasons (Vietnamese / English, for the gate display), results (per
-- container: outcome of the OCR correction, number used, candidates, kind and reasons).
CREATE FUNCTION record_camera_read(camera_id text, read_at timestamptz, containers jsonb, plate text, images text[] DEFAULT NULL)
RETURNS TABLE (read_id bigint, decision text, reasons text[], results jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    t0      timestamptz := clock_timestamp();
    cam     vasscm.camera := vasscm._camera(camera_id);
    at      timestamptz := coalesce(read_at, now());
    pl      text := vasscm._plate(plate);
    items   jsonb := coalesce(containers, '[]');
    item    jsonb;
    raw     text;
    conf    numeric;
    res     jsonb;
    outs    jsonb := '[]';
    nos     text[] := '{}';
    refs    text[] := '{}';
    kinds   text[] := '{}';
    held    text[] := '{}';
    passed  text[] := '{}';
    verdict text;
    r       vasscm.camera_read;
    o       record;
    u       text;
    appt    record;
BEGIN
    IF cam.login_role IS NOT NULL AND cam.login_role IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'vasscm: % may not record reads for camera %', session_user, cam.id
            USING ERRCODE = 'insufficient_privilege', HINT = format('camera %s records only as %s', cam.id, cam.login_role);
    END IF;
    IF at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: read_at % is in the future: is the camera''s clock synchronised?', at
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Synchronise the camera system with NTP; send the time of the read with its offset.';
    END IF;
    IF length(plate) > 32 THEN
        RAISE EXCEPTION 'vasscm: a plate is at most 32 characters, not %', length(plate) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(items) <> 'array' OR jsonb_array_length(items) > 4 THEN
        RAISE EXCEPTION 'vasscm: containers must be a JSON array of at most 4 reads, not %', left(items::text, 200)
            USING ERRCODE = 'invalid_parameter_value', HINT = '[{"number": "MSKU1234565", "confidence": 0.97}]';
    END IF;
    FOREACH u IN ARRAY coalesce(images, '{}') LOOP
        IF u IS NULL OR length(u) > 2048 OR u !~* '^[a-z][a-z0-9+.-]*://' OR u ~* '^data:' THEN
            RAISE EXCEPTION 'vasscm: images are URIs of images kept by the camera system (at most 2048 characters), not "%"', left(coalesce(u, 'NULL'), 80)
                USING ERRCODE = 'invalid_parameter_value', HINT = 'https://cam.example/2026/11/29/L2-0815.jpg — never the image itself';
        END IF;
    END LOOP;
    -- the same read again (a retry of the camera system): the first answer
    SELECT * INTO r FROM vasscm.camera_read x WHERE x.camera_id = cam.id AND x.read_at = at;
    IF FOUND THEN
        RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
        RETURN;
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(items) LOOP
        IF jsonb_typeof(item) = 'string' THEN
            raw := item #>> '{}'; conf := NULL;
        ELSIF jsonb_typeof(item) = 'object' THEN
            raw := coalesce(item ->> 'number', item ->> 'container_no');
            conf := CASE WHEN item ->> 'confidence' ~ '^\s*[0-9]+(\.[0-9]+)?\s*$' THEN (item ->> 'confidence')::numeric END;
        ELSE
            RAISE EXCEPTION 'vasscm: a container read is a string or {"number": ..., "confidence": ...}, not %', item
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF length(raw) > 64 THEN
            RAISE EXCEPTION 'vasscm: a container read is at most 64 characters, not %', length(raw) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        res := vasscm._camera_container(cam.direction, cam.gate, at, pl, raw, conf);
        IF res ->> 'container_no' IS NOT NULL AND res ->> 'container_no' = ANY (nos) THEN
            res := res || '{"duplicate": true}';   -- the same box read twice (front and back)
        ELSE
            IF res ->> 'container_no' IS NOT NULL THEN
                nos := nos || (res ->> 'container_no');
            END IF;
            IF res ->> 'appointment_ref' IS NOT NULL THEN
                refs := refs || (res ->> 'appointment_ref');
            END IF;
            IF (res ->> 'ok')::boolean THEN
                passed := passed || ARRAY(SELECT jsonb_array_elements_text(res -> 'reasons'));
            ELSE
                kinds := kinds || (res ->> 'kind');
                held := held || ARRAY(SELECT jsonb_array_elements_text(res -> 'reasons'));
            END IF;
        END IF;
        outs := outs || jsonb_build_array(res);
    END LOOP;

    IF jsonb_array_length(items) = 0 THEN   -- a truck without container
        SELECT x.* INTO appt FROM vasscm._camera_appointments(cam.direction, '{}', pl, at) x
         WHERE pl IS NOT NULL AND x.plate = pl AND x.valid_from <= at AND x.valid_to >= at AND (x.gate IS NULL OR x.gate = cam.gate)
         -- leaving: an appointment naming a container first (its box was not read); coming in: one without
         ORDER BY CASE WHEN cam.direction = 'out' THEN x.container_no IS NULL ELSE x.container_no IS NOT NULL END, x.valid_from DESC
         LIMIT 1;
        IF pl IS NULL THEN
            kinds := kinds || 'plate_unread'::text;
            held := held || 'Không đọc được biển số xe và không có container / neither a plate nor a container was read'::text;
        ELSIF cam.direction = 'out' AND appt.container_no IS NOT NULL THEN
            kinds := kinds || 'container_missing'::text;
            held := held || format('Lệnh giao %s cho xe %s có container %s nhưng camera không đọc được container nào / appointment %s of truck %s is for container %s but no container was read',
                                   appt.appointment_ref, pl, appt.container_no, appt.appointment_ref, pl, appt.container_no);
        ELSIF cam.direction = 'out' THEN
            passed := passed || format('Xe %s ra không chở container / truck %s leaves without a container', pl, pl);
        ELSE
            IF appt.appointment_ref IS NULL THEN   -- coming in to pick up: a gate-out appointment of this truck
                SELECT x.* INTO appt FROM vasscm._camera_appointments('out', '{}', pl, at) x
                 WHERE x.plate = pl AND x.valid_to >= at AND x.valid_from <= at + interval '12 hours'
                 ORDER BY x.valid_from LIMIT 1;
            END IF;
            IF appt.appointment_ref IS NOT NULL THEN
                refs := refs || appt.appointment_ref;
                passed := passed || format('Xe %s có lịch hẹn %s / truck %s has appointment %s', pl, appt.appointment_ref, pl, appt.appointment_ref);
            ELSE
                kinds := kinds || 'not_expected'::text;
                held := held || format('Xe %s không có lịch hẹn ra vào cảng / truck %s has no gate appointment', pl, pl);
            END IF;
        END IF;
    END IF;
    IF NOT cam.active THEN
        kinds := 'camera_inactive'::text || kinds;
        held := format('Camera %s đang ngừng sử dụng: công chức quyết định / camera %s is not in service: the officer decides', cam.id, cam.id) || held;
    END IF;
    verdict := CASE WHEN cardinality(held) = 0 THEN 'open' ELSE 'hold' END;

    INSERT INTO vasscm.camera_read AS x (read_at, camera_id, gate, lane, direction, containers, plate_read, plate, images, results,
                                         container_nos, decision, reasons, hold_kinds, appointment_refs, decided_at, decision_ms)
    VALUES (at, cam.id, cam.gate, cam.lane, cam.direction, items, plate, pl, images, outs, nos, verdict,
            CASE WHEN verdict = 'open' THEN passed ELSE held END,
            ARRAY(SELECT DISTINCT k FROM unnest(kinds) k ORDER BY k), refs, clock_timestamp(),
            round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 3))
    ON CONFLICT ON CONSTRAINT camera_read_once DO NOTHING
    RETURNING x.* INTO r;
    IF r.id IS NULL THEN   -- the same read, recorded by a concurrent retry
        SELECT * INTO r FROM vasscm.camera_read x WHERE x.camera_id = cam.id AND x.read_at = at;
        RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
        RETURN;
    END IF;
    IF verdict = 'open' AND cam.direction = 'out' THEN
        PERFORM vasscm._camera_exit(r, 'camera');
    ELSIF verdict = 'hold' THEN   -- a truck waits at the barrier: the officer's console listens
        PERFORM pg_notify('vasscm_camera', format('hold %s %s', r.id, cam.id));
    END IF;
    -- the camera reads again: an automatic outage ends
    FOR o IN UPDATE vasscm.camera_outage x SET ended_at = greatest(at, x.began_at), ended_by = 'camera read'
              WHERE x.camera_id = cam.id AND x.ended_at IS NULL AND x.detection = 'automatic' RETURNING x.* LOOP
        PERFORM vasscm._shift_log('camera_restored',
            format('Camera %s (cổng %s, làn %s) hoạt động trở lại lúc %s, gián đoạn từ %s / camera %s (gate %s, lane %s) reads again at %s, silent since %s',
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at),
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at)),
            o.ended_at, cam.gate, cam.lane, cam.id, NULL, o.id);
    END LOOP;
    RETURN QUERY SELECT r.id, r.decision, r.reasons, r.results;
END
$$;
COMMENT ON FUNCTION record_camera_read(text, timestamptz, jsonb, text, text[]) IS
    'Camera: records a read (containers with confidence, plate, image URIs) and returns the barrier decision (open / hold) with reasons in Vietnamese / English; the same read twice gives the same answer.';

-- Review of a held read by the officer on duty. decision: 'open' (the barrier is opened by
-- hand; a note saying why is required) or 'keep_closed'. containers: the numbers the officer
-- checked on the truck (required to open an exit whose numbers were not read with certainty).
-- Officer (session user) and time are recorded on the read and in the shift log; an opened exit
-- becomes a confirmed exit (camera_exit, form 21 where bound). A read is reviewed once.
CREATE FUNCTION review_camera_read(read_id bigint, decision text, note text, containers text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r     vasscm.camera_read;
    nos   text[];
    c     text;
    bad   text[];
BEGIN
    SELECT * INTO r FROM vasscm.camera_read x WHERE x.id = read_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no camera read %', coalesce(read_id::text, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT read_id, gate, lane, reasons FROM vasscm.camera_review_queue;';
    END IF;
    IF decision IS NULL OR decision NOT IN ('open', 'keep_closed') THEN
        RAISE EXCEPTION 'vasscm: a review decides open or keep_closed, not %', coalesce(decision, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.decision <> 'hold' THEN
        RAISE EXCEPTION 'vasscm: camera read % was opened automatically: there is nothing to review', r.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF r.review_decision IS NOT NULL THEN
        RAISE EXCEPTION 'vasscm: camera read % was already reviewed (% by % at %)', r.id, r.review_decision, r.reviewed_by, vasscm._vn_time(r.reviewed_at)
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Write what happened since in the shift log: vasscm.write_shift_log(''note'', ...).';
    END IF;
    IF decision = 'open' AND nullif(btrim(note), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: opening the barrier by hand needs a note saying why' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example: ''Đã kiểm tra thực tế số container và biển số / container number and plate checked on the truck''.';
    END IF;
    IF containers IS NOT NULL THEN
        bad := ARRAY(SELECT coalesce(x, 'NULL') FROM unnest(containers) x WHERE x IS NULL OR NOT vasscm.is_valid_container_no(x));
        IF cardinality(bad) > 0 THEN
            RAISE EXCEPTION 'vasscm: not valid container numbers: %', array_to_string(bad, ', ') USING ERRCODE = 'invalid_parameter_value';
        END IF;
        nos := ARRAY(SELECT DISTINCT vasscm.normalize_container_no(x) FROM unnest(containers) x ORDER BY 1);
    END IF;
    IF decision = 'open' AND r.direction = 'out' AND nos IS NULL
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.results) x WHERE x ->> 'container_no' IS NULL) THEN
        RAISE EXCEPTION 'vasscm: camera read % has container numbers that were not read with certainty: give the numbers you checked', r.id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('candidates: %s; SELECT vasscm.review_camera_read(%s, ''open'', note, ARRAY[''...'']);',
                                (SELECT string_agg(x ->> 'read' || ' → ' || coalesce(x ->> 'candidates', '[]'), '; ') FROM jsonb_array_elements(r.results) x
                                  WHERE x ->> 'container_no' IS NULL), r.id);
    END IF;
    UPDATE vasscm.camera_read x SET review_decision = review_camera_read.decision, reviewed_at = clock_timestamp(), reviewed_by = session_user,
                                    review_note = nullif(btrim(note), ''), review_containers = nos,
                                    container_nos = coalesce(nos, x.container_nos)
     WHERE x.id = r.id AND x.read_at = r.read_at
    RETURNING x.* INTO r;
    IF decision = 'open' AND r.direction = 'out' THEN
        PERFORM vasscm._camera_exit(r, session_user);
    END IF;
    -- the barrier controller listens: an opened read raises the barrier
    PERFORM pg_notify('vasscm_camera', format('review %s %s %s', r.id, r.camera_id, review_camera_read.decision));
    PERFORM vasscm._shift_log('review',
        format('%s: %s %s, xe / truck %s%s. Lý do giữ / held for: %s%s',
               CASE review_camera_read.decision WHEN 'open' THEN 'Mở barrier thủ công / barrier opened by hand'
                                                ELSE 'Giữ barrier đóng / barrier kept closed' END,
               CASE r.direction WHEN 'out' THEN 'lượt ra / exit' ELSE 'lượt vào / entry' END, vasscm._vn_time(r.read_at),
               coalesce(r.plate, '?'), coalesce(', container ' || nullif(array_to_string(r.container_nos, ', '), ''), ''),
               array_to_string(r.reasons, '; '), coalesce('. Ghi chú / note: ' || nullif(btrim(note), ''), '')),
        now(), r.gate, r.lane, r.camera_id, r.id, NULL);
    RETURN decision;
END
$$;
COMMENT ON FUNCTION review_camera_read(bigint, text, text, text[]) IS
    'Officer: decides a held camera read — open (by hand, with a note) or keep_closed; recorded with the officer and time, and in the shift log.';

-- The state of a read for the camera system: its decision, the officer's review (NULL while
-- waiting) and whether the barrier may open now. For a controller that missed the
-- 'review …' notification on channel vasscm_camera (after a reconnection).
CREATE FUNCTION camera_read_status(read_id bigint)
RETURNS TABLE (camera_id text, read_at timestamptz, decision text, review_decision text, reviewed_at timestamptz, opened boolean, reasons text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.camera_id, r.read_at, r.decision, r.review_decision, r.reviewed_at, r.opened, r.reasons
      FROM vasscm.camera_read r JOIN vasscm.camera c ON c.id = r.camera_id
     WHERE r.id = camera_read_status.read_id
       AND (c.login_role IS NULL OR c.login_role = session_user::text)   -- a camera bound to a login: only that login
$$;
COMMENT ON FUNCTION camera_read_status(bigint) IS 'Camera: the decision and review of a read (opened: the barrier may open).';

-- Writes the shift log: kind 'incident', 'handover' (hand-over of the shift: say to whom and
-- what is pending) or 'note'; at defaults to now. Returns the entry's id.
CREATE FUNCTION write_shift_log(kind text, note text, gate text DEFAULT NULL, at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NULL OR kind NOT IN ('incident', 'handover', 'note') THEN
        RAISE EXCEPTION 'vasscm: the shift log takes incident, handover or note entries, not %', coalesce(kind, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Camera outages: vasscm.report_camera_outage / report_camera_restored; reviews: vasscm.review_camera_read.';
    END IF;
    IF nullif(btrim(note), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a shift log entry needs its text' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF at IS NULL OR at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: a shift log entry cannot be in the future (%)', at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN vasscm._shift_log(kind, btrim(note), at, nullif(btrim(gate), ''));
END
$$;
COMMENT ON FUNCTION write_shift_log(text, text, text, timestamptz) IS 'Officer: writes the shift log (incident, handover, note); returns the entry id.';

-- Opens an outage of a camera reported by the vendor or the officer (the camera is down, reads
-- are unreliable, maintenance). Returns the outage id; an outage already open is kept (its id).
CREATE FUNCTION report_camera_outage(camera_id text, cause text, began_at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cam vasscm.camera := vasscm._camera(camera_id);
    id  bigint;
BEGIN
    IF nullif(btrim(cause), '') IS NULL THEN
        RAISE EXCEPTION 'vasscm: a camera outage needs its cause' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF began_at IS NULL OR began_at > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'vasscm: a camera outage cannot begin in the future (%)', began_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.id INTO id FROM vasscm.camera_outage o WHERE o.camera_id = cam.id AND o.ended_at IS NULL;
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    INSERT INTO vasscm.camera_outage (camera_id, began_at, detection, cause) VALUES (cam.id, began_at, 'reported', btrim(cause))
    RETURNING camera_outage.id INTO id;
    PERFORM vasscm._shift_log('camera_outage',
        format('Camera %s (cổng %s, làn %s) gián đoạn từ %s, báo bởi %s: %s / camera %s (gate %s, lane %s) out of service since %s, reported by %s',
               cam.id, cam.gate, cam.lane, vasscm._vn_time(began_at), session_user, btrim(cause),
               cam.id, cam.gate, cam.lane, vasscm._vn_time(began_at), session_user),
        began_at, cam.gate, cam.lane, cam.id, NULL, id);
    RETURN id;
END
$$;
COMMENT ON FUNCTION report_camera_outage(text, text, timestamptz) IS 'Camera vendor / officer: records that a camera is out of service; returns the outage id.';

-- Ends the open outage of a camera (reported or detected). Returns its id, NULL when none was open.
CREATE FUNCTION report_camera_restored(camera_id text, at timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cam vasscm.camera := vasscm._camera(camera_id);
    o   vasscm.camera_outage;
BEGIN
    UPDATE vasscm.camera_outage x SET ended_at = greatest(coalesce(report_camera_restored.at, now()), x.began_at), ended_by = session_user
     WHERE x.camera_id = cam.id AND x.ended_at IS NULL RETURNING x.* INTO o;
    IF o.id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM vasscm._shift_log('camera_restored',
        format('Camera %s (cổng %s, làn %s) hoạt động trở lại lúc %s, gián đoạn từ %s, báo bởi %s / camera %s (gate %s, lane %s) back in service at %s, out since %s, reported by %s',
               cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at), session_user,
               cam.id, cam.gate, cam.lane, vasscm._vn_time(o.ended_at), vasscm._vn_time(o.began_at), session_user),
        o.ended_at, cam.gate, cam.lane, cam.id, NULL, o.id);
    RETURN o.id;
END
$$;
COMMENT ON FUNCTION report_camera_restored(text, timestamptz) IS 'Camera vendor / officer: records that a camera works again; returns the outage id.';

-- Whether the camera gates work at a time (setting camera_working_hours, Vietnam time) and
-- since when the current working period runs (-infinity when they always work).
CREATE FUNCTION _camera_working(at timestamptz, OUT working boolean, OUT since timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hours text := coalesce(vasscm._setting_value('camera_working_hours'), '00:00-24:00');
    local timestamp := at AT TIME ZONE 'Asia/Ho_Chi_Minh';
    t     interval := local - date_trunc('day', local);
    a     interval := split_part(hours, '-', 1)::interval;
    b     interval := split_part(hours, '-', 2)::interval;
BEGIN
    IF a = b OR (a = interval '0' AND b = interval '24 hours') THEN
        working := true; since := '-infinity';
    ELSIF a < b THEN
        working := t >= a AND t < b;
        since := (date_trunc('day', local) + a) AT TIME ZONE 'Asia/Ho_Chi_Minh';
    ELSE   -- across midnight, e.g. 22:00-06:00
        working := t >= a OR t < b;
        since := (date_trunc('day', local) + a - CASE WHEN t < b THEN interval '1 day' ELSE interval '0' END) AT TIME ZONE 'Asia/Ho_Chi_Minh';
    END IF;
END
$$;

-- Job: records an outage for every active camera without a read for its outage minutes (the
-- camera's, else camera_outage_minutes) during working hours, counted from its last read, its
-- registration or the start of the working period, whichever is latest. Returns the outages
-- opened. (An automatic outage ends at the camera's next read.)
CREATE FUNCTION watch_cameras() RETURNS TABLE (camera_id text, outage_id bigint, silent_since timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w    record := vasscm._camera_working(now());
    mins int := coalesce(vasscm._setting_value('camera_outage_minutes'), '15')::int;
    cam  vasscm.camera;
    last timestamptz;
    id   bigint;
BEGIN
    IF NOT w.working THEN
        RETURN;
    END IF;
    FOR cam IN SELECT * FROM vasscm.camera c WHERE c.active
                  AND NOT EXISTS (SELECT 1 FROM vasscm.camera_outage o WHERE o.camera_id = c.id AND o.ended_at IS NULL)
                ORDER BY c.id LOOP
        SELECT max(r.read_at) INTO last FROM vasscm.camera_read r WHERE r.camera_id = cam.id;
        last := greatest(last, cam.created_at, w.since);
        CONTINUE WHEN now() - last < make_interval(mins => coalesce(cam.outage_minutes, mins));
        INSERT INTO vasscm.camera_outage (camera_id, began_at, detection, reported_by, cause)
        VALUES (cam.id, last, 'automatic', 'vasscm',
                format('Không có dữ liệu từ camera từ %s (quá %s phút) / no read from the camera since %s (more than %s minutes)',
                       vasscm._vn_time(last), coalesce(cam.outage_minutes, mins), vasscm._vn_time(last), coalesce(cam.outage_minutes, mins)))
        ON CONFLICT DO NOTHING
        RETURNING camera_outage.id INTO id;
        CONTINUE WHEN id IS NULL;
        PERFORM vasscm._shift_log('camera_outage',
            format('Camera %s (cổng %s, làn %s) không gửi dữ liệu từ %s (phát hiện tự động) / camera %s (gate %s, lane %s) silent since %s (detected automatically)',
                   cam.id, cam.gate, cam.lane, vasscm._vn_time(last), cam.id, cam.gate, cam.lane, vasscm._vn_time(last)),
            now(), cam.gate, cam.lane, cam.id, NULL, id);
        PERFORM pg_notify('vasscm_camera', format('outage %s %s', cam.id, id));
        camera_id := cam.id; outage_id := id; silent_since := last;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION watch_cameras() IS 'Job: records an outage (and a shift log line, NOTIFY vasscm_camera) for each active camera silent for its outage minutes during working hours.';

-- Administration ------------------------------------------------------------------------------

-- Registers (or changes) a camera: gate, lane, direction 'in' / 'out'; login_role: the only
-- login role that may record its reads (NULL: any holder of vasscm_camera); outage_minutes:
-- this camera's silence threshold (NULL: the setting). Active again if it was not.
CREATE FUNCTION register_camera(camera_id text, gate text, lane text, direction text, description text DEFAULT NULL,
                                login_role text DEFAULT NULL, outage_minutes int DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF direction IS NULL OR lower(direction) NOT IN ('in', 'out') THEN
        RAISE EXCEPTION 'vasscm: a camera reads trucks going in or out, not %', coalesce(direction, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF login_role IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login_role) THEN
        RAISE EXCEPTION 'vasscm: there is no role %', login_role USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO vasscm.camera AS c (id, gate, lane, direction, description, login_role, outage_minutes)
    VALUES (camera_id, btrim(gate), btrim(lane), lower(direction), description, login_role, outage_minutes)
    ON CONFLICT (id) DO UPDATE SET gate = EXCLUDED.gate, lane = EXCLUDED.lane, direction = EXCLUDED.direction,
                                   description = EXCLUDED.description, login_role = EXCLUDED.login_role,
                                   outage_minutes = EXCLUDED.outage_minutes, active = true, updated_at = now();
END
$$;
COMMENT ON FUNCTION register_camera(text, text, text, text, text, text, int) IS 'Admin: registers or changes a camera (gate, lane, direction in / out).';

CREATE FUNCTION set_camera_active(camera_id text, active boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._camera(camera_id);
    UPDATE vasscm.camera c SET active = coalesce(set_camera_active.active, false), updated_at = now() WHERE c.id = camera_id;
END
$$;
COMMENT ON FUNCTION set_camera_active(text, boolean) IS 'Admin: takes a camera out of service (its reads are held for the officer) or back.';

-- Issues a new key for a camera (for an HTTP endpoint of the worker): returned once, only its
-- SHA-256 is kept. The previous key stops working.
CREATE FUNCTION issue_camera_key(camera_id text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
BEGIN
    PERFORM vasscm._camera(camera_id);
    UPDATE vasscm.camera c SET key_hash = sha256(convert_to(k, 'UTF8')), key_issued_at = now(), updated_at = now() WHERE c.id = camera_id;
    RETURN k;
END
$$;
COMMENT ON FUNCTION issue_camera_key(text) IS 'Admin: issues a new key for a camera (returned once; only its SHA-256 is kept).';

CREATE FUNCTION camera_key_matches(camera_id text, key text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT c.active AND c.key_hash = sha256(convert_to(key, 'UTF8')) FROM vasscm.camera c WHERE c.id = camera_id), false)
$$;
COMMENT ON FUNCTION camera_key_matches(text, text) IS 'Whether a key is the active camera''s current key (for the worker''s HTTP endpoint).';

-- A gate appointment from the TOS (inserted or replaced by its reference). container_no NULL:
-- a truck without container. Numbers, plates and seals are normalised.
CREATE FUNCTION set_gate_appointment(appointment_ref text, direction text, plate text, container_no text, valid_from timestamptz,
                                     valid_to timestamptz, gate text DEFAULT NULL, declarations text[] DEFAULT NULL,
                                     carrier_seal text DEFAULT NULL, customs_seal text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    why text[] := '{}';
    d   text;
BEGIN
    IF nullif(btrim(appointment_ref), '') IS NULL THEN why := why || 'appointment_ref is empty'::text; END IF;
    IF direction IS NULL OR lower(direction) NOT IN ('in', 'out') THEN why := why || format('direction must be in or out, not %s', coalesce(direction, 'NULL')); END IF;
    IF vasscm._plate(plate) IS NULL THEN why := why || 'plate is empty'::text; END IF;
    IF container_no IS NOT NULL AND NOT vasscm.is_valid_container_no(container_no) THEN
        why := why || format('%s is not a valid container number (ISO 6346)', container_no);
    END IF;
    IF valid_from IS NULL OR valid_to IS NULL OR valid_to <= valid_from THEN why := why || 'valid_to must be after valid_from'::text; END IF;
    FOREACH d IN ARRAY coalesce(declarations, '{}') LOOP
        IF d IS NULL OR btrim(d) !~ '^[0-9]{12}$' THEN why := why || format('declaration %s is not 12 digits', coalesce(d, 'NULL')); END IF;
    END LOOP;
    IF cardinality(why) > 0 THEN
        RAISE EXCEPTION 'vasscm: gate appointment % is invalid: %', coalesce(appointment_ref, 'NULL'), array_to_string(why, '; ')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.gate_appointment AS a (appointment_ref, direction, plate, container_no, gate, valid_from, valid_to, declarations,
                                              carrier_seal, customs_seal)
    VALUES (btrim(appointment_ref), lower(direction), vasscm._plate(plate), vasscm.normalize_container_no(container_no), nullif(btrim(gate), ''),
            valid_from, valid_to, nullif(ARRAY(SELECT btrim(x) FROM unnest(declarations) x), '{}'), vasscm._norm(carrier_seal), vasscm._norm(customs_seal))
    ON CONFLICT ON CONSTRAINT gate_appointment_pkey DO UPDATE SET direction = EXCLUDED.direction, plate = EXCLUDED.plate, container_no = EXCLUDED.container_no,
        gate = EXCLUDED.gate, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, declarations = EXCLUDED.declarations,
        carrier_seal = EXCLUDED.carrier_seal, customs_seal = EXCLUDED.customs_seal, updated_at = now();
END
$$;
COMMENT ON FUNCTION set_gate_appointment(text, text, text, text, timestamptz, timestamptz, text, text[], text, text) IS
    'TOS / operator: records a gate appointment (which truck takes which container in or out, when, through which gate, with which declarations and seals).';

CREATE FUNCTION cancel_gate_appointment(appointment_ref text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM vasscm.gate_appointment a WHERE a.appointment_ref = btrim(cancel_gate_appointment.appointment_ref) RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION cancel_gate_appointment(text) IS 'TOS / operator: removes a gate appointment; true when there was one.';

-- A yard block and its capacity (TEU); replaced by its code.
CREATE FUNCTION set_yard_block(block_code text, capacity_teu numeric, block_name text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF nullif(btrim(block_code), '') IS NULL OR capacity_teu IS NULL OR capacity_teu < 0 THEN
        RAISE EXCEPTION 'vasscm: a yard block needs a code and a capacity in TEU (at least 0)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.yard_block AS b (block_code, block_name, capacity_teu) VALUES (upper(btrim(block_code)), block_name, capacity_teu)
    ON CONFLICT ON CONSTRAINT yard_block_pkey DO UPDATE SET block_name = EXCLUDED.block_name, capacity_teu = EXCLUDED.capacity_teu,
                                           updated_at = now(), updated_by = session_user;
END
$$;
COMMENT ON FUNCTION set_yard_block(text, numeric, text) IS 'Admin: records a yard block and its capacity in TEU.';

CREATE FUNCTION drop_yard_block(block_code text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM vasscm.yard_block b WHERE b.block_code = upper(btrim(drop_yard_block.block_code)) RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION drop_yard_block(text) IS 'Admin: removes a yard block; true when there was one.';

-- Partitions and retention ----------------------------------------------------------------------

CREATE FUNCTION _camera_partitions() RETURNS TABLE (partition text, month date)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text, to_date(substring(c.relname FROM '_y([0-9]{4}m[0-9]{2})$'), 'YYYY"m"MM')
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'vasscm.camera_read'::regclass AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'
$$;

-- Job: makes the monthly partitions of camera_read for this month, the next two and any month
-- with reads waiting in the default partition (moving them), drops the months older than
-- camera_retention_months (at least 12), and with them the confirmed exits of those months and
-- the appointments that ended before. Shift log and outages are kept. One row per action.
CREATE FUNCTION maintain_camera_partitions() RETURNS TABLE (action text, partition text, rows bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    keep int := greatest(coalesce(vasscm._setting_value('camera_retention_months'), '13')::int, 12);
    cut  timestamptz := date_trunc('month', now()) - make_interval(months => keep);
    cols text := (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                   WHERE a.attrelid = 'vasscm.camera_read'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '');
    m    date;
    part text;
    n    bigint;
    p    record;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now())::date, (date_trunc('month', now()) + interval '2 months')::date, interval '1 month')::date
             UNION
             SELECT DISTINCT date_trunc('month', d.read_at)::date FROM vasscm.camera_read_default d
             ORDER BY 1 LOOP
        part := format('camera_read_y%s', to_char(m, 'YYYY"m"MM'));
        CONTINUE WHEN to_regclass(format('vasscm.%I', part)) IS NOT NULL;
        SELECT count(*) INTO n FROM vasscm.camera_read_default d WHERE d.read_at >= m::timestamptz AND d.read_at < (m + interval '1 month')::timestamptz;
        IF n > 0 THEN   -- reads of that month wait in the default partition: set them aside
            IF to_regclass('pg_temp.vasscm_camera_moving') IS NOT NULL THEN
                DROP TABLE vasscm_camera_moving;
            END IF;
            EXECUTE format('CREATE TEMP TABLE vasscm_camera_moving ON COMMIT DROP AS SELECT %s FROM vasscm.camera_read_default WHERE read_at >= %L AND read_at < %L',
                           cols, m::timestamptz, (m + interval '1 month')::timestamptz);
            DELETE FROM vasscm.camera_read_default d WHERE d.read_at >= m::timestamptz AND d.read_at < (m + interval '1 month')::timestamptz;
        END IF;
        EXECUTE format('CREATE TABLE vasscm.%I PARTITION OF vasscm.camera_read FOR VALUES FROM (%L) TO (%L)',
                       part, m::timestamptz, (m + interval '1 month')::timestamptz);
        IF n > 0 THEN
            EXECUTE format('INSERT INTO vasscm.camera_read (%s) SELECT %s FROM vasscm_camera_moving', cols, cols);
            DROP TABLE vasscm_camera_moving;
        END IF;
        action := 'created'; partition := part; rows := n;
        RETURN NEXT;
    END LOOP;
    FOR p IN SELECT * FROM vasscm._camera_partitions() x WHERE x.month < cut::date ORDER BY x.month LOOP
        EXECUTE format('SELECT count(*) FROM vasscm.%I', p.partition) INTO n;
        EXECUTE format('DROP TABLE vasscm.%I', p.partition);
        action := 'dropped'; partition := p.partition; rows := n;
        RETURN NEXT;
    END LOOP;
    DELETE FROM vasscm.camera_read_default d WHERE d.read_at < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'camera_read_default'; rows := n;
        RETURN NEXT;
    END IF;
    DELETE FROM vasscm.camera_exit e WHERE e.read_at < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'camera_exit'; rows := n;
        RETURN NEXT;
    END IF;
    DELETE FROM vasscm.gate_appointment a WHERE a.valid_to < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; partition := 'gate_appointment'; rows := n;
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION maintain_camera_partitions() IS
    'Job: creates the monthly partitions of camera reads ahead and drops those older than camera_retention_months (at least 12).';

-- Views for the officer, the TOS and traffic displays ---------------------------------------------

-- Held reads waiting for the officer on duty, oldest first.
CREATE VIEW camera_review_queue AS
SELECT r.id AS read_id, r.read_at, r.gate, r.lane, r.direction, r.camera_id, r.plate_read, r.plate, r.containers,
       ARRAY(SELECT coalesce(x ->> 'container_no', '?') FROM jsonb_array_elements(r.results) x) AS container_nos,
       (SELECT jsonb_agg(jsonb_build_object('read', x ->> 'read', 'outcome', x ->> 'outcome', 'candidates', x -> 'candidates'))
          FROM jsonb_array_elements(r.results) x WHERE x ->> 'outcome' IN ('ambiguous', 'unreadable')) AS candidates,
       r.hold_kinds, r.reasons, r.images, now() - r.read_at AS waiting
  FROM vasscm.camera_read r
 WHERE r.decision = 'hold' AND r.review_decision IS NULL;
COMMENT ON VIEW camera_review_queue IS 'Held camera reads waiting for the officer on duty (vasscm.review_camera_read), with candidates of uncertain container reads.';

-- Cameras now: last read, reads in the last hour, open outage.
CREATE VIEW camera_status AS
SELECT c.id AS camera_id, c.gate, c.lane, c.direction, c.active, l.last_read_at, now() - l.last_read_at AS silent_for,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.camera_id = c.id AND r.read_at > now() - interval '1 hour') AS reads_last_hour,
       o.id AS outage_id, o.began_at AS outage_since, o.detection AS outage_detection, o.cause AS outage_cause
  FROM vasscm.camera c
  CROSS JOIN LATERAL (SELECT max(r.read_at) AS last_read_at FROM vasscm.camera_read r WHERE r.camera_id = c.id) l
  LEFT JOIN vasscm.camera_outage o ON o.camera_id = c.id AND o.ended_at IS NULL;
COMMENT ON VIEW camera_status IS 'Each camera: last read, reads in the last hour, open outage.';

-- Truck visits over camera_truck_window_hours: each opened entry with the first opened exit of
-- the same plate after it (NULL: still inside), the dwell time.
CREATE VIEW truck_visits AS
SELECT e.plate, e.id AS entry_read_id, e.read_at AS entered_at, e.gate AS entry_gate, e.lane AS entry_lane,
       e.container_nos AS containers_in, x.id AS exit_read_id, x.read_at AS exited_at, x.gate AS exit_gate, x.lane AS exit_lane,
       x.container_nos AS containers_out, coalesce(x.read_at, now()) - e.read_at AS dwell, x.id IS NULL AS inside
  FROM vasscm.camera_read e
  LEFT JOIN LATERAL (SELECT o.* FROM vasscm.camera_read o
                      WHERE o.plate = e.plate AND o.opened AND o.direction = 'out' AND o.read_at > e.read_at
                      ORDER BY o.read_at LIMIT 1) x ON true
 WHERE e.opened AND e.direction = 'in' AND e.plate IS NOT NULL
   AND e.read_at > now() - make_interval(hours => coalesce(vasscm._setting_value('camera_truck_window_hours'), '72')::int)
   -- a later entry of the same plate before this exit: this one's exit was missed
   AND NOT EXISTS (SELECT 1 FROM vasscm.camera_read n
                    WHERE n.plate = e.plate AND n.opened AND n.direction = 'in' AND n.read_at > e.read_at
                      AND n.read_at < coalesce(x.read_at, 'infinity'));
COMMENT ON VIEW truck_visits IS 'Trucks that entered through a camera gate in the last camera_truck_window_hours: entry, exit (NULL: inside), dwell time.';

CREATE VIEW trucks_inside AS
SELECT v.plate, v.entered_at, v.entry_gate AS gate, v.entry_lane AS lane, v.entry_read_id AS read_id, v.containers_in AS containers, v.dwell
  FROM vasscm.truck_visits v WHERE v.inside;
COMMENT ON VIEW trucks_inside IS 'Trucks inside now: an opened entry read without an opened exit read of the same plate after it.';

-- Dwell per lane over the visits that ended in the last 24 hours: by the lane trucks came in
-- through (direction in) and the lane they left through (direction out).
CREATE VIEW dwell_by_lane AS
WITH v AS (SELECT * FROM vasscm.truck_visits WHERE NOT inside AND exited_at > now() - interval '24 hours'),
l AS (SELECT entry_gate AS gate, entry_lane AS lane, 'in'::text AS direction, dwell FROM v
      UNION ALL
      SELECT exit_gate, exit_lane, 'out', dwell FROM v)
SELECT l.gate, l.lane, l.direction, count(*) AS visits,
       round(extract(epoch FROM avg(l.dwell))::numeric / 60, 1) AS avg_minutes,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.dwell)))::numeric / 60, 1) AS p50_minutes,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM l.dwell)))::numeric / 60, 1) AS p90_minutes,
       round(extract(epoch FROM max(l.dwell))::numeric / 60, 1) AS max_minutes
  FROM l GROUP BY l.gate, l.lane, l.direction;
COMMENT ON VIEW dwell_by_lane IS 'Truck dwell time (minutes: average, median, 90th percentile, maximum) per lane of entry and of exit, visits ended in the last 24 hours.';

-- The queue at each lane: trucks held at the barrier waiting for the officer, reads in the last
-- 15 minutes and hour, the rate per hour, the camera's state.
CREATE VIEW gate_queue AS
SELECT c.gate, c.lane, c.direction,
       count(DISTINCT c.id) AS cameras,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.decision = 'hold' AND r.review_decision IS NULL
           AND r.read_at > now() - interval '24 hours') AS waiting,
       (SELECT min(r.read_at) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.decision = 'hold' AND r.review_decision IS NULL
           AND r.read_at > now() - interval '24 hours') AS waiting_since,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.read_at > now() - interval '15 minutes') AS reads_last_15_min,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.read_at > now() - interval '1 hour') AS reads_last_hour,
       (SELECT count(*) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane AND r.opened AND r.read_at > now() - interval '1 hour') AS passed_last_hour,
       (SELECT max(r.read_at) FROM vasscm.camera_read r WHERE r.gate = c.gate AND r.lane = c.lane) AS last_read_at,
       bool_or(o.id IS NOT NULL) AS camera_down
  FROM vasscm.camera c
  LEFT JOIN vasscm.camera_outage o ON o.camera_id = c.id AND o.ended_at IS NULL
 WHERE c.active
 GROUP BY c.gate, c.lane, c.direction;
COMMENT ON VIEW gate_queue IS 'Each gate lane now: trucks held waiting for the officer (last 24 h), reads in the last 15 minutes and hour, trucks passed in the last hour, whether a camera is down.';

-- Vehicle flow per gate, lane, direction and hour (Vietnam time) over the last 24 hours.
CREATE VIEW gate_flow AS
SELECT r.gate, r.lane, r.direction, date_trunc('hour', r.read_at AT TIME ZONE 'Asia/Ho_Chi_Minh') AS hour_vn,
       count(*) AS reads, count(*) FILTER (WHERE r.opened) AS passed, count(*) FILTER (WHERE r.decision = 'open') AS opened_automatically,
       count(*) FILTER (WHERE r.decision = 'hold') AS held, sum(cardinality(r.container_nos)) AS containers
  FROM vasscm.camera_read r
 WHERE r.read_at > now() - interval '24 hours'
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW gate_flow IS 'Vehicle flow over the last 24 hours per gate, lane, direction and hour (Vietnam time): reads, passed, opened automatically, held, containers.';

-- Occupancy and free capacity per yard block: the blocks the port declared (vasscm.yard_block)
-- and the containers in the yard by block (blocks with containers but not declared show a NULL
-- capacity). Columns block_code, block_name, capacity_teu, used_teu: vasscm.report_yard_map
-- ('vasscm.yard_capacity') sends it as YARD_MAP.
CREATE VIEW yard_capacity AS
WITH used AS (SELECT y.block, count(*) AS containers, sum(y.teu) AS used_teu FROM vasscm._yard_containers y GROUP BY y.block)
SELECT coalesce(b.block_code, u.block) AS block_code, b.block_name, b.capacity_teu, coalesce(u.used_teu, 0) AS used_teu,
       b.capacity_teu - coalesce(u.used_teu, 0) AS free_teu, coalesce(u.containers, 0) AS containers,
       round(100 * coalesce(u.used_teu, 0) / nullif(b.capacity_teu, 0), 1) AS occupancy_pct
  FROM vasscm.yard_block b
  FULL JOIN used u ON u.block = b.block_code;
COMMENT ON VIEW yard_capacity IS 'Yard occupancy per block: capacity, used and free TEU, containers, occupancy %; a relation for vasscm.report_yard_map.';

-- Reports -----------------------------------------------------------------------------------------

-- Statistics of the camera gates for a period [from_at, to_at) per gate and lane, and a total
-- row (gate and lane NULL): the quarterly report of Decision 1865. reads; entries / exits; trucks
-- opened automatically (matches) and held (mismatches); OCR corrections (container numbers
-- fixed by the check digit), ambiguous and unreadable numbers; plate mismatches; containers not
-- cleared; manual openings and reads kept closed by the officer, and those still waiting;
-- camera outages that overlap the period and their minutes inside it; the 99th percentile of
-- the decision time.
CREATE FUNCTION camera_statistics(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (gate text, lane text, reads bigint, entries bigint, exits bigint, containers bigint, matches bigint, mismatches bigint,
               ocr_corrections bigint, ambiguous bigint, unreadable bigint, plate_mismatches bigint, not_cleared bigint,
               manual_openings bigint, kept_closed bigint, awaiting_review bigint, outages bigint, outage_minutes numeric,
               p99_decision_ms numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH r AS (
        SELECT x.gate, x.lane, x.direction, x.decision, x.review_decision, x.hold_kinds, x.decision_ms, x.container_nos,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'corrected') AS corrected,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'ambiguous') AS ambiguous,
               (SELECT count(*) FROM jsonb_array_elements(x.results) e WHERE e ->> 'outcome' = 'unreadable') AS unreadable
          FROM vasscm.camera_read x WHERE x.read_at >= from_at AND x.read_at < to_at),
    o AS (
        SELECT c.gate, c.lane,
               extract(epoch FROM least(coalesce(x.ended_at, now()), to_at) - greatest(x.began_at, from_at)) / 60 AS minutes
          FROM vasscm.camera_outage x JOIN vasscm.camera c ON c.id = x.camera_id
         WHERE x.began_at < to_at AND coalesce(x.ended_at, now()) > from_at),
    m AS (
        SELECT r.gate, r.lane, 1 AS reads, (r.direction = 'in')::int AS entries, (r.direction = 'out')::int AS exits,
               cardinality(r.container_nos) AS containers, (r.decision = 'open')::int AS matches, (r.decision = 'hold')::int AS mismatches,
               r.corrected, r.ambiguous, r.unreadable, ('plate_mismatch' = ANY (r.hold_kinds))::int AS plate_mismatches,
               ('not_cleared' = ANY (r.hold_kinds))::int AS not_cleared, coalesce(r.review_decision = 'open', false)::int AS manual_openings,
               coalesce(r.review_decision = 'keep_closed', false)::int AS kept_closed,
               (r.decision = 'hold' AND r.review_decision IS NULL)::int AS awaiting_review, 0 AS outages, 0::numeric AS outage_minutes,
               r.decision_ms
          FROM r
        UNION ALL
        SELECT o.gate, o.lane, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, o.minutes::numeric, NULL FROM o)
    SELECT m.gate, m.lane, sum(m.reads)::bigint, sum(m.entries)::bigint, sum(m.exits)::bigint, sum(m.containers)::bigint,
           sum(m.matches)::bigint, sum(m.mismatches)::bigint, sum(m.corrected)::bigint, sum(m.ambiguous)::bigint, sum(m.unreadable)::bigint,
           sum(m.plate_mismatches)::bigint, sum(m.not_cleared)::bigint, sum(m.manual_openings)::bigint, sum(m.kept_closed)::bigint,
           sum(m.awaiting_review)::bigint, sum(m.outages)::bigint, round(sum(m.outage_minutes), 1),
           round((percentile_cont(0.99) WITHIN GROUP (ORDER BY m.decision_ms))::numeric, 2)
      FROM m
     GROUP BY GROUPING SETS ((m.gate, m.lane), ())
     ORDER BY m.gate NULLS LAST, m.lane NULLS LAST
$$;
COMMENT ON FUNCTION camera_statistics(timestamptz, timestamptz) IS
    'Camera gate statistics for [from_at, to_at) per gate / lane and in total: reads, matches, mismatches, OCR corrections, plate mismatches, not cleared, manual openings, outages, p99 decision time.';

-- The shift log of a period as a printable text in Vietnamese (sổ nhật ký ca trực): every entry,
-- then the period's figures per gate and lane and the reads still waiting for review.
CREATE FUNCTION camera_shift_log(from_at timestamptz, to_at timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    doc text[] := '{}';
    kinds CONSTANT jsonb := '{"incident": "Sự cố", "camera_outage": "Camera gián đoạn", "camera_restored": "Camera hoạt động lại",
                              "handover": "Bàn giao ca", "note": "Ghi chú", "review": "Xử lý nghi vấn"}';
BEGIN
    doc := doc || 'SỔ NHẬT KÝ CA TRỰC — CỔNG GIÁM SÁT BẰNG CAMERA'::text
               || format('Doanh nghiệp: %s (mã %s); địa điểm giám sát: %s; chi cục hải quan: %s',
                         coalesce(nullif(current_setting('vasscm.sender_name', true), ''), '-'), coalesce(nullif(current_setting('vasscm.sender_code', true), ''), '-'),
                         coalesce(nullif(current_setting('vasscm.place_code', true), ''), '-'), coalesce(nullif(current_setting('vasscm.receiver_code', true), ''), '-'))
               || format('Từ %s đến %s (giờ Việt Nam)', vasscm._vn_time(from_at), vasscm._vn_time(to_at)) || ''::text
               || 'I. DIỄN BIẾN'::text;
    doc := doc || ARRAY(SELECT format('   %s  %-22s %s  %s', vasscm._vn_time(l.at), kinds ->> l.kind, l.officer, l.note)
                          FROM vasscm.shift_log l WHERE l.at >= from_at AND l.at < to_at ORDER BY l.at, l.id);
    IF NOT EXISTS (SELECT 1 FROM vasscm.shift_log l WHERE l.at >= from_at AND l.at < to_at) THEN
        doc := doc || '   (không có)'::text;
    END IF;
    doc := doc || ''::text || 'II. SỐ LIỆU'::text;
    doc := doc || ARRAY(SELECT format('   %s: %s lượt đọc (%s vào, %s ra), %s tự động mở, %s giữ lại (%s sửa số container, %s biển số không khớp, %s chưa đủ điều kiện), %s mở thủ công, %s giữ đóng, %s chờ xử lý; %s lần camera gián đoạn (%s phút)',
                                      CASE WHEN s.gate IS NULL THEN 'Tổng' ELSE 'Cổng ' || s.gate || ' làn ' || s.lane END,
                                      s.reads, s.entries, s.exits, s.matches, s.mismatches, s.ocr_corrections, s.plate_mismatches, s.not_cleared,
                                      s.manual_openings, s.kept_closed, s.awaiting_review, s.outages, s.outage_minutes)
                          FROM vasscm.camera_statistics(from_at, to_at) s);
    doc := doc || ''::text || 'III. LƯỢT XE ĐANG CHỜ CÔNG CHỨC XỬ LÝ'::text;
    doc := doc || ARRAY(SELECT format('   #%s  %s  cổng %s làn %s  xe %s  %s', q.read_id, vasscm._vn_time(q.read_at), q.gate, q.lane,
                                      coalesce(q.plate, '?'), array_to_string(q.reasons, '; '))
                          FROM vasscm.camera_review_queue q WHERE q.read_at < to_at ORDER BY q.read_at);
    doc := doc || ''::text || 'Người giao ca                                  Người nhận ca'::text
               || '(ký, ghi rõ họ tên)                           (ký, ghi rõ họ tên)'::text;
    RETURN array_to_string(doc, E'\n') || E'\n';
END
$$;
COMMENT ON FUNCTION camera_shift_log(timestamptz, timestamptz) IS 'The shift log of the camera gates for a period, printable, in Vietnamese: entries, figures, reads waiting.';
