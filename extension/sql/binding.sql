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

-- (Re)creates what a binding runs: vasscm._binding_map_N (vasscm._install_binding_map) and
-- the table's capture trigger. The expressions are compiled against the table first, as
-- `owner` (the role that bound the table), so that a typo or an expression the owner may not
-- run fails here.
CREATE FUNCTION _install_binding(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b vasscm.binding;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;

    -- The compile check, run as the owner (a function of the owner's, dropped right after).
    EXECUTE format($c$
CREATE OR REPLACE FUNCTION vasscm._binding_check_%1$s() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    -- NEW and OLD are outer aliases; bare names resolve to _row, the nearer scope.
    PERFORM x.* FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "new",
                     (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS "old",
            LATERAL (%3$s FROM (SELECT (r).* FROM (SELECT NULL::%2$s AS r) q) AS _row) AS x WHERE false;
END
$body$$c$, b.id, b.source, vasscm._binding_select_list(b));
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
    PERFORM vasscm._install_binding_map(b.id, owner);
    PERFORM vasscm._refresh_capture_trigger(b.source);
END
$install$;

-- What a binding evaluates on one row, as a select list: its condition, its mapping (a jsonb
-- object of the catalogue fields; only when the condition holds — a change that does not
-- hold is an undone event or nothing, neither reads it) and its identity (NULL without key
-- columns).
CREATE FUNCTION _binding_select_list(b binding) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT format('SELECT (%1$s)::boolean AS ok, CASE WHEN (%1$s)::boolean THEN jsonb_build_object(%2$s) END AS data, %3$s AS key',
              coalesce(b.condition, 'true'),
              (SELECT string_agg(format('%L, (%s)', e.key, e.value #>> '{}'), ', ' ORDER BY e.key) FROM jsonb_each(b.mapping) e),
              CASE WHEN b.key_columns IS NULL THEN 'NULL::jsonb'
                   ELSE format('jsonb_build_object(%s)', (SELECT string_agg(format('%L, _row.%I', c, c), ', ') FROM unnest(b.key_columns) c)) END)
$$;

-- The columns of the bound table that a binding's expressions read, as a column definition
-- list for jsonb_to_record ("col" type, …); NULL when they read the row as a whole (or no
-- column at all): the row is then decoded whole. Found by PostgreSQL itself — a view of the
-- expressions records every column it reads in pg_depend (a whole-row reference shows in the
-- view's query as a Var of attribute 0) — and dropped right after.
CREATE FUNCTION _binding_columns(binding_id int) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b     vasscm.binding;
    view  text := format('vasscm._binding_columns_%s', binding_id);
    whole boolean;
    cols  text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    EXECUTE format('CREATE VIEW %s AS SELECT x.* FROM %s AS "new", %2$s AS "old", LATERAL (%s FROM %2$s AS _row) AS x',
                   view, b.source, vasscm._binding_select_list(b));
    SELECT r.ev_action::text ~ ':varattno 0 ' INTO whole
      FROM pg_rewrite r WHERE r.ev_class = view::regclass AND r.rulename = '_RETURN';
    SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = b.source AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attnum IN (SELECT d.refobjsubid FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                         WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class = view::regclass
                           AND d.refclassid = 'pg_class'::regclass AND d.refobjid = b.source);
    EXECUTE format('DROP VIEW %s', view);
    RETURN CASE WHEN whole THEN NULL ELSE cols END;
END
$$;

-- (Re)creates vasscm._binding_map_N: the DBA's condition, mapping and key expressions on a
-- batch of captured changes, set-based, with the privileges of `owner` (SECURITY DEFINER
-- owned by it). Only the columns the expressions read are decoded from the captured rows
-- (vasscm._binding_columns); NEW and OLD only when the expressions name them. Dropped and
-- made anew (never replaced: an upgrade script may not replace what it does not own).
CREATE FUNCTION _install_binding_map(binding_id int, owner name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $install$
DECLARE
    b     vasscm.binding;
    cols  text;
    exprs text;
    sig   text := format('vasscm._binding_map_%s(bigint[], "char"[], jsonb[], jsonb[])', binding_id);
    dec   text;
BEGIN
    SELECT * INTO STRICT b FROM vasscm.binding x WHERE x.id = binding_id;
    cols := vasscm._binding_columns(b.id);
    exprs := concat_ws(' ', b.condition, (SELECT string_agg(e.value #>> '{}', ' ') FROM jsonb_each(b.mapping) e));
    -- how a captured row (jsonb) becomes the row the expressions read
    dec := CASE WHEN cols IS NULL THEN format('jsonb_populate_record(NULL::%s, %%s) AS %%s', b.source)
                ELSE format('jsonb_to_record(coalesce(%%s, ''{}'')) AS %%s(%s)', replace(cols, '%', '%%')) END;
    IF to_regprocedure(sig) IS NOT NULL THEN
        EXECUTE format('DROP FUNCTION %s', sig);
    END IF;
    -- NEW and OLD are outer aliases; bare names resolve to _row (the new row, or the old one
    -- of a DELETE), the nearer scope.
    EXECUTE format($m$
CREATE FUNCTION vasscm._binding_map_%1$s(_ids bigint[], _ops "char"[], _news jsonb[], _olds jsonb[])
RETURNS TABLE (change_id bigint, op "char", ok boolean, data jsonb, key jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
SELECT _chg.i, _chg.o, _x.*
  FROM unnest(_ids, _ops, _news, _olds) AS _chg(i, o, n, d)
  %2$s
  %3$s
  CROSS JOIN LATERAL (%4$s FROM %5$s) AS _x
$body$$m$, b.id,
        CASE WHEN exprs ~* '\mnew\M' THEN 'LEFT JOIN LATERAL ' || format(dec, '_chg.n', '"new"') || ' ON true' ELSE '' END,
        CASE WHEN exprs ~* '\mold\M' THEN 'LEFT JOIN LATERAL ' || format(dec, '_chg.d', '"old"') || ' ON true' ELSE '' END,
        vasscm._binding_select_list(b),
        format(dec, 'CASE WHEN _chg.o = ''D'' THEN _chg.d ELSE _chg.n END', '_row'));
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', sig, owner);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', sig);
    EXECUTE format('COMMENT ON FUNCTION %s IS %L', sig,
                   format('vasscm binding %s: the mapping of %s → message %s, evaluated as %s on captured changes (generated by vasscm.bind)',
                          b.id, b.source, b.message_type, owner));
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
