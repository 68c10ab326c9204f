//! `#[pg_test]`s of the audit trail (sql/audit.sql): message_log and outbox_history are
//! append-only for everyone, sealing chains every row once, verification finds a changed row,
//! retention is at least five years, monthly partitions are made ahead with the waiting rows
//! moved into them, and the chain still verifies after the move.

use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::{count, error_of, port_session as setup, text};
    use pgrx::prelude::*;

    /// Writes a few audit rows: a message enqueued (history) and a refused inbound body (log).
    fn some_rows() {
        Spi::run(r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{"MA_HQ": "03CC", "SO_CONTAINER": "MSKU1234565"}')"#).unwrap();
        Spi::run("SELECT vasscm.record_refused('<x/>', 'a test', 'here')").unwrap();
    }

    /// The problems verify_audit reports, one line per table ("table: problem" or "table: ok").
    fn verified() -> String {
        text("SELECT string_agg(table_name || ': ' || coalesce(problem, 'ok') || ' (' || unsealed || ' unsealed)', '; ' ORDER BY table_name)
                FROM vasscm.verify_audit(false)")
    }

    #[pg_test]
    fn audit_tables_refuse_update_delete_and_truncate() {
        setup();
        some_rows();
        for (table, statement) in [
            ("message_log", "UPDATE vasscm.message_log SET note = 'x'"),
            ("message_log", "DELETE FROM vasscm.message_log"),
            ("message_log", "TRUNCATE vasscm.message_log"),
            ("outbox_history", "UPDATE vasscm.outbox_history SET reason = 'x'"),
            ("outbox_history", "DELETE FROM vasscm.outbox_history"),
            ("outbox_history", "TRUNCATE vasscm.outbox_history"),
        ] {
            let e = error_of(statement);
            assert!(e.contains(&format!("{table} is append-only")), "{statement}: {e}");
        }
        // the sealing exception covers only the chain columns of rows not sealed yet
        Spi::run("SET LOCAL vasscm.audit_sealing = 'on'").unwrap();
        let e = error_of("UPDATE vasscm.message_log SET note = 'x'");
        assert!(e.contains("append-only"), "{e}");
    }

    #[pg_test]
    fn sealing_chains_every_row_once_and_verification_finds_a_change() {
        setup();
        some_rows();
        assert_eq!(count("SELECT vasscm.seal_audit()"), 2, "the history row and the log row");
        assert_eq!(count("SELECT vasscm.seal_audit()"), 0, "nothing left to seal");
        assert_eq!(verified(), "message_log: ok (0 unsealed); outbox_history: ok (0 unsealed)");
        assert_eq!(
            count("SELECT count(*) FROM vasscm.message_log WHERE chain_seq IS NULL OR row_hash IS NULL OR prev_hash IS NULL"),
            0
        );
        assert_eq!(
            count("SELECT count(DISTINCT chain_seq) - count(*) FROM vasscm.outbox_history"),
            0,
            "one position per row"
        );
        // new rows continue the chain; verify_audit() seals them first by default
        some_rows();
        assert_eq!(count("SELECT sum(unsealed)::bigint FROM vasscm.verify_audit()"), 0);
        // a sealed row changed behind the triggers' back (by a superuser disabling them)
        Spi::run(
            "ALTER TABLE vasscm.message_log DISABLE TRIGGER message_log_append_only;
             UPDATE vasscm.message_log SET note = 'changed' WHERE id = (SELECT min(id) FROM vasscm.message_log WHERE kind = 'refused');
             ALTER TABLE vasscm.message_log ENABLE ALWAYS TRIGGER message_log_append_only;",
        )
        .unwrap();
        let v = verified();
        assert!(v.contains("message_log: the row was changed after it was sealed"), "{v}");
        assert!(v.contains("outbox_history: ok"), "{v}");
    }

    #[pg_test]
    fn retention_is_at_least_five_years() {
        setup();
        for bad in ["12", "59", "-1", "abc"] {
            let e = error_of(&format!("UPDATE vasscm.setting SET value = '{bad}' WHERE name = 'audit_retention_months'"));
            assert!(e.contains("audit_retention_months must be at least 60"), "{bad}: {e}");
        }
        Spi::run("UPDATE vasscm.setting SET value = '72' WHERE name = 'audit_retention_months'").unwrap();
        assert_eq!(text("SELECT value FROM vasscm.setting WHERE name = 'audit_retention_months'"), "72");
    }

    #[pg_test]
    fn monthly_partitions_are_made_ahead_and_waiting_rows_moved() {
        setup();
        some_rows();
        Spi::run("SELECT vasscm.seal_audit()").unwrap();
        let before = count("SELECT count(*) FROM vasscm.message_log") + count("SELECT count(*) FROM vasscm.outbox_history");
        // this month and the next two, for both tables; this month's rows leave the default partition
        let made = count("SELECT count(*) FROM vasscm.maintain_partitions() WHERE action = 'created'");
        assert_eq!(made, 6);
        assert_eq!(count("SELECT count(*) FROM vasscm.message_log_default") + count("SELECT count(*) FROM vasscm.outbox_history_default"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.message_log") + count("SELECT count(*) FROM vasscm.outbox_history"), before);
        assert!(count("SELECT count(*) FROM vasscm._audit_partitions('message_log')") == 3);
        // moved unchanged: the chains still verify, and nothing more to do
        assert_eq!(verified(), "message_log: ok (0 unsealed); outbox_history: ok (0 unsealed)");
        assert_eq!(count("SELECT count(*) FROM vasscm.maintain_partitions()"), 0);
        // new rows go to this month's partition
        some_rows();
        assert_eq!(count("SELECT count(*) FROM vasscm.message_log_default"), 0);
    }
}
