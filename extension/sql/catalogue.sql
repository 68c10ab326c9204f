-- Catalogue tables: every loaded catalogue version, and its messages and fields as rows a DBA
-- can query. The Rust side caches the resolved `source` per backend; the statement trigger
-- below tells every backend to reload when anything here changes.

CREATE TABLE catalogue (
    version     text PRIMARY KEY,
    active      boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    source      jsonb NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    loaded_by   text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE catalogue IS 'Loaded VASSCM catalogue versions (vasscm.load_catalogue); exactly one is active.';
CREATE UNIQUE INDEX catalogue_one_active ON catalogue (active) WHERE active;

CREATE TABLE catalogue_message (
    version     text NOT NULL REFERENCES catalogue ON DELETE CASCADE,
    code        text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('P2C', 'C2P')),
    name_vi     text NOT NULL,
    name_en     text NOT NULL,
    cargo_kinds text[] NOT NULL,
    example     jsonb,
    PRIMARY KEY (version, code)
);
COMMENT ON TABLE catalogue_message IS 'Message types of every loaded catalogue version.';

CREATE TABLE catalogue_field (
    version      text NOT NULL,
    message_code text NOT NULL,
    position     int NOT NULL,
    path         text NOT NULL,
    element      text NOT NULL,
    type         text NOT NULL,
    min_length   int,
    max_length   int,
    codes        text[],
    mandatory    boolean NOT NULL,
    rule         text,
    name_vi      text NOT NULL,
    name_en      text NOT NULL,
    PRIMARY KEY (version, message_code, position),
    FOREIGN KEY (version, message_code) REFERENCES catalogue_message ON DELETE CASCADE
);
COMMENT ON TABLE catalogue_field IS 'Fields of every message type, group fields with their path (LIST_CONTAINER/ITEM/SO_CONTAINER).';

CREATE VIEW message_types AS
SELECT m.code, m.direction, m.name_vi, m.name_en, m.cargo_kinds, m.version AS catalogue_version
  FROM catalogue_message m
  JOIN catalogue c ON c.version = m.version AND c.active;
COMMENT ON VIEW message_types IS 'Message types of the active catalogue.';

CREATE FUNCTION activate_catalogue(version text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.catalogue c WHERE c.version = activate_catalogue.version) THEN
        RAISE EXCEPTION 'vasscm: catalogue version % is not loaded', version
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT version FROM vasscm.catalogue; load one with vasscm.load_catalogue(jsonb)';
    END IF;
    UPDATE vasscm.catalogue c SET active = false WHERE c.active AND c.version <> activate_catalogue.version;
    UPDATE vasscm.catalogue c SET active = true WHERE c.version = activate_catalogue.version AND NOT c.active;
END
$$;
COMMENT ON FUNCTION activate_catalogue(text) IS 'Makes a loaded catalogue version the one new messages are built with.';

CREATE FUNCTION load_catalogue(catalogue jsonb, activate boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r          jsonb := vasscm._catalogue_rows(catalogue);   -- raises every inconsistency
    v          text := r ->> 'version';
    was_active boolean;
BEGIN
    SELECT c.active INTO was_active FROM vasscm.catalogue c WHERE c.version = v;
    DELETE FROM vasscm.catalogue c WHERE c.version = v;
    INSERT INTO vasscm.catalogue (version, active, description, source)
    VALUES (v, coalesce(was_active, false), coalesce(r ->> 'description', ''), catalogue);
    INSERT INTO vasscm.catalogue_message (version, code, direction, name_vi, name_en, cargo_kinds, example)
    SELECT v, m.code, m.direction, m.name_vi, m.name_en, m.cargo_kinds, m.example
      FROM jsonb_to_recordset(r -> 'messages')
           AS m(code text, direction text, name_vi text, name_en text, cargo_kinds text[], example jsonb);
    INSERT INTO vasscm.catalogue_field (version, message_code, position, path, element, type, min_length,
                                        max_length, codes, mandatory, rule, name_vi, name_en)
    SELECT v, m ->> 'code', f.position, f.path, f.element, f.type, f.min_length, f.max_length, f.codes,
           f.mandatory, f.rule, f.name_vi, f.name_en
      FROM jsonb_array_elements(r -> 'messages') AS m,
           jsonb_to_recordset(m -> 'fields')
           AS f(position int, path text, element text, type text, min_length int, max_length int, codes text[],
                mandatory boolean, rule text, name_vi text, name_en text);
    IF activate THEN
        PERFORM vasscm.activate_catalogue(v);
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION load_catalogue(jsonb, boolean) IS
    'Loads (or reloads) a catalogue version from its JSON document; activates it when asked. Returns the version.';

CREATE FUNCTION _catalogue_changed_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vasscm._catalogue_changed();
    RETURN NULL;
END
$$;

CREATE TRIGGER catalogue_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON catalogue
    FOR EACH STATEMENT EXECUTE FUNCTION _catalogue_changed_trigger();
