-- Backups: the data of vasscm's tables is part of pg_dump (extension tables are otherwise
-- skipped). Settings, jobs and catalogue versions are recreated by CREATE EXTENSION; a
-- catalogue version loaded later must be loaded again after a restore (docs: README).
DO $dump$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['binding', 'outbox', 'outbox_open', 'outbox_history_default', 'message_log_default', 'inbox', 'declaration',
                    'declaration_container', 'declaration_bulk', 'expected_list', 'expected_item', 'scan_selection',
                    'scan_record', 'customs_vessel', 'vessel_match', 'tranship_id', 'clearance_history',
                    'yard_block_reported', 'deadline_alert', 'audit_anchor',
                    'binding_id_seq', 'outbox_id_seq', 'inbox_id_seq', 'scan_record_id_seq', 'clearance_history_id_seq',
                    'outbox_history_id_seq', 'message_log_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('vasscm.%I', t)::regclass, '');   -- one call per command
    END LOOP;
END
$dump$;
