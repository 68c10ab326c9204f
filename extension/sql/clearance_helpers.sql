-- Helpers of the clearance: how identifiers, seals, weights and units are compared. Small,
-- immutable, used by the inbox applier, the maintained state, the gate and the reports.

-- Seals, B/Ls and declaration numbers are compared trimmed and upper-case; empty is absent.
CREATE FUNCTION _norm(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(upper(btrim(value)), '') $$;

-- A seal as an identifier: upper-case letters and digits only, so that customs' "ML 0012345",
-- the gate's "ML0012345" and a TOS's "ml-0012345" are the same seal. Empty is absent.
CREATE FUNCTION _seal_key(seal text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(regexp_replace(upper(seal), '[^[:alnum:]]', '', 'g'), '') $$;

-- The vessel call (MA_TAU/SO_CHUYEN, trimmed, upper-case) a message's data is about.
CREATE FUNCTION _vessel_call_of(data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT vasscm._norm(data ->> 'MA_TAU') || '/' || vasscm._norm(data ->> 'SO_CHUYEN')
$$;

-- A weight in kilograms from a value and its unit (KGM, TNE).
CREATE FUNCTION _kg(value numeric, unit text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN upper(unit) = 'TNE' THEN value * 1000 ELSE value END
$$;

CREATE FUNCTION _channel_name(channel smallint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE channel WHEN 1 THEN 'green' WHEN 2 THEN 'yellow' WHEN 3 THEN 'red' END
$$;

-- Units of quantity (DVT_SO_LUONG) that convert into one another: weights to kilograms,
-- volumes to cubic metres. Any other unit (PK packages, PL pallets, CUON rolls…) is a count
-- that converts into nothing but itself: quantities in different units are never added.
CREATE TABLE unit_conversion (
    unit      text PRIMARY KEY,
    dimension text NOT NULL CHECK (dimension IN ('mass', 'volume')),
    factor    numeric NOT NULL CHECK (factor > 0)
);
COMMENT ON TABLE unit_conversion IS 'Units of quantity that convert into one another (factor to kg or m3); any other unit is a count compared as written.';
INSERT INTO unit_conversion VALUES
    ('KGM', 'mass', 1), ('KG', 'mass', 1), ('GRM', 'mass', 0.001), ('TNE', 'mass', 1000), ('TAN', 'mass', 1000),
    ('MTQ', 'volume', 1), ('M3', 'volume', 1), ('LTR', 'volume', 0.001);

-- A unit as written, compared: upper-case, no spaces or dots; empty is absent.
CREATE FUNCTION _unit(unit text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT nullif(regexp_replace(upper(unit), '[\s.]', '', 'g'), '') $$;

-- A quantity in `from_unit` expressed in `to_unit`: the same value for the same unit (or when
-- either is not known), converted between weights or between volumes, NULL when the units
-- cannot be compared (40 pallets are not packages).
CREATE FUNCTION _in_unit(quantity numeric, from_unit text, to_unit text) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN quantity IS NULL THEN NULL
                WHEN vasscm._unit(from_unit) IS NULL OR vasscm._unit(to_unit) IS NULL
                  OR vasscm._unit(from_unit) = vasscm._unit(to_unit) THEN quantity
                ELSE (SELECT trim_scale(quantity * f.factor / t.factor)
                        FROM vasscm.unit_conversion f JOIN vasscm.unit_conversion t ON t.dimension = f.dimension
                       WHERE f.unit = vasscm._unit(from_unit) AND t.unit = vasscm._unit(to_unit)) END
$$;

-- Numbers in reasons: without trailing zeros.
CREATE FUNCTION _fmt(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(trim_scale(value)::text, '0') $$;

-- A time in a reason the gate clerk reads: Vietnam time, DD/MM/YYYY HH24:MI.
CREATE FUNCTION _gate_time(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_char(at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'DD/MM/YYYY HH24:MI') $$;
