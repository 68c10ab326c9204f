-- Operator action on the clearance: a scan done at the port.

-- Records a scan done at the port (satisfies a form 03 selection of the container's visit made
-- at most a day after it).
CREATE FUNCTION record_scan(container_no text, scanned_at timestamptz DEFAULT now(), note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF container_no IS NULL OR NOT vasscm.is_valid_container_no(container_no) THEN
        RAISE EXCEPTION 'vasscm: "%" is not a valid container number', coalesce(container_no, 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO vasscm.scan_record (container_no, scanned_at, note)
    VALUES (vasscm.normalize_container_no(container_no), coalesce(scanned_at, now()), note);
END
$$;
COMMENT ON FUNCTION record_scan(text, timestamptz, text) IS 'Operator: records that a container was scanned at the port.';
