-- Bindings: how a (replicated) TOS table's row changes map to VASSCM messages.
--
-- vasscm.bind() declares, per binding, how a TOS table's rows map to catalogue fields, when
-- the event happened (the condition), what identifies an event and which fields are only
-- informational. It generates vasscm._binding_map_N (the mapping, set-based, run as the
-- binding's owner) and the table's capture trigger (sql/interpret.sql). What a mapped change
-- means is decided in sql/capture.sql; the messages live in sql/outbox.sql.

CREATE TABLE binding (
    id           int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       regclass NOT NULL,
    message_type text NOT NULL,
    mapping      jsonb NOT NULL,
    events       text[] NOT NULL,
    condition    text,
    mode         text NOT NULL CHECK (mode IN ('auto', 'manual')),
    key_columns  text[],
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL DEFAULT session_user,
    unbound_at   timestamptz,
    informational text[]
);
COMMENT ON COLUMN binding.key_columns IS 'The business identity of the binding''s events: the TOS columns naming one event however the row arrives (DELETE + INSERT, TRUNCATE + reload); by default the primary key or replica identity.';
COMMENT ON COLUMN binding.informational IS 'Mapped fields whose change alone is never a follow-up (positions, states); NULL: vasscm._informational_fields(message_type).';
COMMENT ON TABLE binding IS 'TOS tables bound to message types (vasscm.bind); unbound ones are kept for the record.';

-- (Re)creates what a binding runs: vasscm._binding_map_N, which evaluates the DBA's condition,
-- mapping and key expressions on a batch of captured changes with the privileges of `owner`
-- (the role that bound the table: SECURITY DEFINER owned by it), and the table's capture
-- trigger. The expressions are compiled against the table first, as `owner` too, so that a
-- typo or an expression the owner may not run fails here.
CREATE FUNCTION _install_binding(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b       vasscm.binding;
    pairs   text;
    keyexpr text := 'NULL::jsonb';
    cond    text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    cond := coalesce(b.condition, 'true');
    SELECT string_agg(format('%L, (%s)', key, value #>> '{}'), ', ' ORDER BY key) INTO pairs FROM jsonb_each(b.mapping);
    IF b.key_columns IS NOT NULL THEN
        keyexpr := format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, _row.%I', c, c), ', ') FROM unnest(b.key_columns) c));
    END IF;

    -- The compile check, run as the owner (a function of the owner's, dropped right after).
    EXECUTE format($c$
CREATE OR REPLACE FUNCTION vasscm._binding_check_%1$s() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    -- NEW and OLD are outer aliases; bare names resolve to _row, the nearer scope.
    PERFORM x.* FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "new",
                     (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "old",
            LATERAL (SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s
                       FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS _row) AS x WHERE false;
END
$body$$c$, b.id, b.source, cond, pairs, keyexpr);
    EXECUTE format('ALTER FUNCTION vasscm._binding_check_%s() OWNER TO %I', b.id, owner);
    BEGIN
        EXECUTE format('SELECT vasscm._binding_check_%s()', b.id);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'vasscm: the binding does not compile against % as %: %', b.source, owner, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'expressions may use the table''s columns, NEW.col and OLD.col (UPDATE), and schema-qualified functions the binding''s owner may run';
    END;
    EXECUTE format('DROP FUNCTION vasscm._binding_check_%s()', b.id);

    -- Bindings made before 0.3.0 had a trigger and a row-by-row map of their own.
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = b.source AND t.tgname = format('vasscm_binding_%s', b.id)) THEN
        EXECUTE format('DROP TRIGGER vasscm_binding_%s ON %s', b.id, b.source);
    END IF;
    IF to_regprocedure(format('vasscm._binding_%s()', b.id)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_%s()', b.id);
    END IF;
    IF to_regprocedure(format('vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source)) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION vasscm._binding_map_%s(%s, %s, text)', b.id, b.source, b.source);
    END IF;

    -- The mapping of a batch of captured changes, set-based. NEW and OLD are outer aliases;
    -- bare names resolve to _row (the new row, or the old one of a DELETE), the nearer scope.
    EXECUTE format($m$
CREATE OR REPLACE FUNCTION vasscm._binding_map_%1$s(_ids bigint[], _ops "char"[], _news jsonb[], _olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
SELECT _chg.i, _chg.o, _x.*
  FROM unnest(_ids, _ops, _news, _olds) AS _chg(i, o, n, d)
  CROSS JOIN LATERAL jsonb_populate_record(NULL::%2$s, _chg.n) AS "new"
  CROSS JOIN LATERAL jsonb_populate_record(NULL::%2$s, _chg.d) AS "old"
  CROSS JOIN LATERAL (SELECT (%3$s)::boolean, jsonb_build_object(%4$s), %5$s
                        FROM jsonb_populate_record(NULL::%2$s, CASE WHEN _chg.o = 'D' THEN _chg.d ELSE _chg.n END) AS _row) AS _x
$body$$m$, b.id, b.source, cond, pairs, keyexpr);
    EXECUTE format('ALTER FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) OWNER TO %I', b.id, owner);
    EXECUTE format('REVOKE ALL ON FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) FROM PUBLIC', b.id);
    EXECUTE format('COMMENT ON FUNCTION vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[]) IS %L', b.id,
                   format('vasscm binding %s: the mapping of %s → message %s, evaluated as %s on captured changes (generated by vasscm.bind)',
                          b.id, b.source, b.message_type, owner));
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$install$;

CREATE FUNCTION bind(source regclass, message_type text, mapping jsonb, events text[] DEFAULT '{INSERT}',
                     condition text DEFAULT NULL, mode text DEFAULT 'auto', identity text[] DEFAULT NULL,
                     informational text[] DEFAULT NULL) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $bind$
DECLARE
    ev       text[] := (SELECT array_agg(DISTINCT upper(trim(e))) FROM unnest(events) AS e);
    known    text[];
    field    text;
    expr     jsonb;
    keycols  text[];
    b_id     int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM vasscm.message_types t WHERE t.code = bind.message_type AND t.direction = 'P2C') THEN
        RAISE EXCEPTION 'vasscm: message type % is not a port-to-customs message of the active catalogue', message_type
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT code, name_en FROM vasscm.message_types WHERE direction = ''P2C''';
    END IF;
    IF mode IS NULL OR mode NOT IN ('auto', 'manual') THEN
        RAISE EXCEPTION 'vasscm: mode must be auto or manual, not %', mode USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- bind runs as the extension owner: the caller must be allowed to add triggers to the table.
    IF NOT has_table_privilege(session_user, source, 'TRIGGER') THEN
        RAISE EXCEPTION 'vasscm: % may not create triggers on %', session_user, source
            USING ERRCODE = 'insufficient_privilege', HINT = format('GRANT TRIGGER ON %s TO %I', source, session_user);
    END IF;
    IF ev IS NULL OR NOT ev <@ ARRAY['INSERT', 'UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'vasscm: events must be a non-empty subset of {INSERT,UPDATE,DELETE}, not %', events
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mapping IS NULL OR jsonb_typeof(mapping) <> 'object' OR mapping = '{}' THEN
        RAISE EXCEPTION 'vasscm: mapping must be a JSON object from field name to SQL expression'
            USING ERRCODE = 'invalid_parameter_value', HINT = '{"SO_CONTAINER": "upper(trim(ctr_nbr))", "PHUONG_TIEN": "''XE''"}';
    END IF;
    -- Fields a mapping may name: top-level elements and group paths (LIST_TK/SO_TK, LIST_X/F, LIST_X/ITEM/F).
    SELECT array_agg(p) INTO known FROM (
        SELECT f.path AS p FROM vasscm.catalogue_field f JOIN vasscm.catalogue c ON c.version = f.version AND c.active
         WHERE f.message_code = bind.message_type
        UNION
        SELECT regexp_replace(f.path, '/ITEM/', '/') FROM vasscm.catalogue_field f JOIN vasscm.catalogue c ON c.version = f.version AND c.active
         WHERE f.message_code = bind.message_type) s;
    FOR field, expr IN SELECT key, value FROM jsonb_each(mapping) LOOP
        IF jsonb_typeof(expr) <> 'string' THEN
            RAISE EXCEPTION 'vasscm: the mapping of % must be a SQL expression in a JSON string', field
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT field = ANY (known) THEN
            RAISE EXCEPTION 'vasscm: % is not a field of message %', field, message_type
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('fields: %s', (SELECT string_agg(k, ', ' ORDER BY k) FROM unnest(known) k));
        END IF;
        PERFORM vasscm._check_expression(format('mapping of %s', field), expr #>> '{}');
    END LOOP;
    PERFORM vasscm._check_expression('condition', coalesce(nullif(trim(condition), ''), 'true'));

    IF identity IS NOT NULL THEN
        -- The business identity the DBA declares (e.g. the TOS's move id, not a replica row id).
        IF cardinality(identity) = 0 OR EXISTS (
               SELECT 1 FROM unnest(identity) c
                WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = source AND a.attname = c
                                     AND a.attnum > 0 AND NOT a.attisdropped)) THEN
            RAISE EXCEPTION 'vasscm: identity must name columns of %, not %', source, identity
                USING ERRCODE = 'invalid_parameter_value', HINT = 'identity => ''{move_id}''';
        END IF;
    END IF;
    IF informational IS NOT NULL AND NOT informational <@ known THEN
        RAISE EXCEPTION 'vasscm: informational must name fields of message %, not %', message_type, informational
            USING ERRCODE = 'invalid_parameter_value', HINT = 'informational => ''{VI_TRI}''';
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.n) INTO keycols
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE identity IS NULL
       AND i.indexrelid = (SELECT i2.indexrelid FROM pg_index i2 WHERE i2.indrelid = source
                              AND (i2.indisprimary OR i2.indisreplident) ORDER BY i2.indisprimary DESC LIMIT 1);
    keycols := coalesce(identity, keycols);
    IF keycols IS NULL AND ev && ARRAY['UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'vasscm: table % has no primary key nor replica identity index: updates and deletes cannot be matched to earlier messages', source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO vasscm.binding (source, message_type, mapping, events, condition, mode, key_columns, informational)
    VALUES (source, message_type, mapping, ev, nullif(trim(condition), ''), mode, keycols, informational)
    RETURNING id INTO b_id;
    -- The expressions run as the role that binds (session_user), never as the extension owner.
    PERFORM vasscm._install_binding(b_id, session_user);
    RETURN b_id;
END
$bind$;
COMMENT ON FUNCTION bind(regclass, text, jsonb, text[], text, text, text[], text[]) IS
    'Binds a (replicated) TOS table to a message type: what its row changes mean (events, identity, informational fields) becomes ledger rows and outbox messages.';

CREATE FUNCTION unbind(binding_id int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b vasscm.binding;
BEGIN
    SELECT * INTO b FROM vasscm.binding WHERE id = binding_id AND active FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vasscm: there is no active binding %', binding_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT id, source, message_type FROM vasscm.binding WHERE active';
    END IF;
    PERFORM vasscm._catch_up();   -- what was captured while it was bound is interpreted with it
    EXECUTE format('DROP FUNCTION IF EXISTS vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', b.id);
    UPDATE vasscm.binding SET active = false, unbound_at = now() WHERE id = b.id;
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$$;
COMMENT ON FUNCTION unbind(int) IS 'Removes a binding (its mapping; the table''s capture trigger with its last binding); its messages and ledger rows stay.';
