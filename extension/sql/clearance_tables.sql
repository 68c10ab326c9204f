-- The clearance state: what customs told the port, one table per kind of fact. Written only by
-- the inbox applier (sql/inbox_apply.sql) and vasscm.record_scan (sql/scan.sql); read through
-- the maintained state (sql/clearance_now.sql) and the read API (sql/clearance.sql).

-- Declarations (tờ khai) as customs last described them: eligibility (04 / 05), channel and
-- status (06). eligible_at / status_at are the Transaction_Date of the message that set them.
CREATE TABLE declaration (
    declaration_no text PRIMARY KEY,
    registered_on  date,
    customs_office text,
    cargo_flow     text,
    channel        smallint CHECK (channel IN (1, 2, 3)),
    eligible_form  text,
    eligible_at    timestamptz,
    eligible_by    uuid,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'cancelled')),
    status_at      timestamptz,
    status_by      uuid,
    status_reason  text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE declaration IS 'Declarations as customs described them (forms 04, 05, 06, CHECK_RESULT).';

-- Containers of a declaration (04, amended or removed by 07). listed = false: removed by 07.
CREATE TABLE declaration_container (
    declaration_no text NOT NULL REFERENCES declaration,
    container_no   text NOT NULL,
    carrier_seal   text,
    customs_seal   text,
    listed         boolean NOT NULL,
    set_at         timestamptz NOT NULL,
    set_by         uuid NOT NULL,
    set_by_form    text NOT NULL,
    PRIMARY KEY (declaration_no, container_no)
);
CREATE INDEX declaration_container_by_container ON declaration_container (container_no);
COMMENT ON TABLE declaration_container IS 'Containers customs declared eligible (04), amended or removed (07).';

-- Bulk, packages and liquids of a declaration (05): the declared maxima.
CREATE TABLE declaration_bulk (
    declaration_no text NOT NULL REFERENCES declaration,
    bl_no          text NOT NULL,
    goods_kind     text,
    quantity       numeric,
    quantity_unit  text,
    weight_kg      numeric,
    volume_m3      numeric,
    set_at         timestamptz NOT NULL,
    set_by         uuid NOT NULL,
    PRIMARY KEY (declaration_no, bl_no)
);
CREATE INDEX declaration_bulk_by_bl ON declaration_bulk (bl_no);
COMMENT ON TABLE declaration_bulk IS 'Bulk / package / liquid quantities customs declared eligible (form 05): the maxima that may leave.';

-- Expected lists: 01 (containers), 02 (bulk, packages, liquids), 08 (at an ICD / CFS). A newer
-- list for the same vessel call replaces the older one (current = true on the newest).
CREATE TABLE expected_list (
    transaction_id uuid PRIMARY KEY,
    form           text NOT NULL,
    vessel_call    text,
    vessel_code    text,
    vessel_name    text,
    voyage         text,
    eta            timestamptz,
    cargo_flow     text,
    customs_office text,
    declaration_no text,
    place_code     text,
    listed_at      timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    current        boolean NOT NULL DEFAULT true
);
CREATE INDEX expected_list_by_call ON expected_list (vessel_call, form);
COMMENT ON TABLE expected_list IS 'Expected lists from customs (forms 01, 02, 08); vessel_call is MA_TAU/SO_CHUYEN.';

CREATE TABLE expected_item (
    list_id        uuid NOT NULL REFERENCES expected_list,
    item_no        int NOT NULL,
    bl_no          text,
    container_no   text,
    size_type      text,
    goods_kind     text,
    carrier_seal   text,
    customs_seal   text,
    description    text,
    quantity       numeric,
    quantity_unit  text,
    weight_kg      numeric,
    volume_m3      numeric,
    PRIMARY KEY (list_id, item_no)
);
CREATE INDEX expected_item_by_container ON expected_item (container_no) WHERE container_no IS NOT NULL;
CREATE INDEX expected_item_by_bl ON expected_item (bl_no) WHERE bl_no IS NOT NULL;

-- Containers customs selected for X-ray scanning (03), and scans the port recorded.
CREATE TABLE scan_selection (
    transaction_id uuid NOT NULL,
    container_no   text NOT NULL,
    bl_no          text,
    declaration_no text,
    vessel_call    text,
    eta            timestamptz,
    reason         text,
    selected_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, container_no)
);
CREATE INDEX scan_selection_by_container ON scan_selection (container_no);
COMMENT ON TABLE scan_selection IS 'Containers selected for scanning before leaving (form 03).';

CREATE TABLE scan_record (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container_no text NOT NULL,
    scanned_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL DEFAULT session_user,
    note         text
);
CREATE INDEX scan_record_by_container ON scan_record (container_no, scanned_at);
COMMENT ON TABLE scan_record IS 'Scans done at the port (vasscm.record_scan), which satisfy a form 03 selection.';

-- Vessels due at the port (VESSEL_LIST), and their match to the TOS's vessel visits.
CREATE TABLE customs_vessel (
    vessel_call    text PRIMARY KEY,
    vessel_code    text NOT NULL,
    voyage         text NOT NULL,
    imo            text,
    call_sign      text,
    vessel_name    text,
    eta            timestamptz,
    etd            timestamptz,
    previous_port  text,
    customs_office text,
    listed_at      timestamptz NOT NULL,
    listed_by      uuid NOT NULL
);
COMMENT ON TABLE customs_vessel IS 'Vessel calls announced by customs (VESSEL_LIST); vessel_call is MA_TAU/SO_CHUYEN.';

CREATE TABLE vessel_match (
    vessel_call text PRIMARY KEY REFERENCES customs_vessel,
    visit_id    text NOT NULL,
    confidence  numeric(3, 2) NOT NULL,
    method      text NOT NULL,
    manual      boolean NOT NULL DEFAULT false,
    matched_at  timestamptz NOT NULL DEFAULT now(),
    matched_by  text NOT NULL DEFAULT session_user
);
COMMENT ON TABLE vessel_match IS 'Customs vessel call → TOS vessel visit, with a confidence (1 = IMO) or a manual override.';

CREATE TABLE tranship_id (
    container_no   text NOT NULL,
    destination    text,
    identification text NOT NULL,
    request_id     uuid,
    received_at    timestamptz NOT NULL DEFAULT now(),
    transaction_id uuid PRIMARY KEY
);
CREATE INDEX tranship_id_by_container ON tranship_id (container_no);
COMMENT ON TABLE tranship_id IS 'Identification numbers customs gave for containers moving to another port (TRANSHIP_ID_RESULT).';

-- Every application of a customs message to the state: what it changed, or why it did not.
CREATE TABLE clearance_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    transaction_id uuid NOT NULL,
    message_type   text NOT NULL,
    message_at     timestamptz NOT NULL,
    subject        text NOT NULL,
    change         jsonb NOT NULL,
    applied        boolean NOT NULL
);
CREATE INDEX clearance_history_by_subject ON clearance_history (subject, id);
COMMENT ON TABLE clearance_history IS 'Every change customs messages made to the clearance state (applied = false: older than the state, kept for the record).';
