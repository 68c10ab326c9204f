//! Rust helpers of the capture layer (`extension/sql/capture.sql`): preparing a message for
//! the outbox without ever raising on bad data, and checking binding expressions.

use crate::cache::catalogues;
use crate::settings;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};
use vasscm_core::message::prepare;
use vasscm_core::sql_text::check_expression;

/// Checks and builds a message for the outbox: `{"valid": bool, "data": canonical data,
/// "message": xml | null, "errors": [{"path","rule","detail"}]}`. Never raises on bad data.
#[pg_extern(volatile, parallel_safe)]
pub(crate) fn _prepare(message_type: &str, data: JsonB, transaction_id: &str) -> JsonB {
    let cats = match catalogues() {
        Ok(c) => c,
        Err(e) => {
            return JsonB(json!({"valid": false, "data": data.0, "message": null,
                "errors": [{"path": "", "rule": "catalogue", "detail": e.to_string()}]}))
        }
    };
    let header = json!({ "Transaction_ID": transaction_id });
    let p = prepare(&cats, message_type, &data.0, &header, &settings::header_defaults(vasscm_core::Direction::PortToCustoms));
    let errors: Vec<Value> = p.problems.iter().map(|p| json!({"path": p.path, "rule": p.rule, "detail": p.detail})).collect();
    JsonB(json!({"valid": p.xml.is_some(), "data": p.data, "message": p.xml, "errors": errors}))
}

/// Raises unless `expression` is a self-contained SQL expression (see `vasscm_core::sql_text`).
#[pg_extern(immutable, strict, parallel_safe)]
pub(crate) fn _check_expression(what: &str, expression: &str) {
    if let Err(e) = check_expression(expression) {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("vasscm: {what}: {e}"),
            format!("expression: {expression}")
        );
    }
}

/// `#[pg_test]`s of bindings and the outbox (plain DML; replication is tested end to end).
#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::JsonB;

    /// The mapping as it stands inside a SQL string literal (quotes doubled).
    const GATE_IN: &str = r#"{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''", "LOAI_HANG": "flow",
        "SO_CONTAINER": "ctr", "TRANG_THAI": "fe", "SO_NIEM_PHONG": "seal", "SO_VAN_DON": "bl",
        "HINH_THUC": "''TAU''", "THOI_GIAN": "in_time"}"#;

    fn setup(events: &str, mode: &str) -> i32 {
        Spi::run("SET vasscm.sender_code = 'CANGTEST'; SET vasscm.sender_name = 'Test'; SET vasscm.receiver_code = '03CC'").unwrap();
        // A test never commits: interpret at the end of each statement instead of at commit.
        Spi::run("SET CONSTRAINTS vasscm.interpret_at_commit IMMEDIATE").unwrap();
        Spi::run(
            "CREATE TABLE tos_moves (id int PRIMARY KEY, ctr text, fe text DEFAULT 'F', seal text, bl text, flow text DEFAULT 'NHAP',
                                     in_time timestamptz DEFAULT '2026-11-25 01:00:00+00', out_time timestamptz, truck text, decls text[])",
        )
        .unwrap();
        Spi::get_one::<i32>(&format!("SELECT vasscm.bind('tos_moves', '14', '{GATE_IN}', '{events}', NULL, '{mode}')")).unwrap().unwrap()
    }

    fn count(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).unwrap().unwrap()
    }

    use crate::test_support::error_of;

    #[pg_test]
    fn a_tos_insert_becomes_a_queued_message() {
        setup("{INSERT}", "auto");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, ' msku 1234565', 'S1', 'BL1')").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status = 'queued' AND message_type = '14'"), 1);
        let xml = Spi::get_one::<String>("SELECT message FROM vasscm.outbox").unwrap().unwrap();
        assert!(xml.contains("<SO_CONTAINER>MSKU1234565</SO_CONTAINER>"), "{xml}");
        assert!(xml.contains("<THOI_GIAN>2026-11-25T08:00:00+07:00</THOI_GIAN>"), "{xml}");
        let tid = Spi::get_one::<String>("SELECT transaction_id::text FROM vasscm.outbox").unwrap().unwrap();
        assert!(xml.contains(&format!("<Transaction_ID>{tid}</Transaction_ID>")));
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox_history WHERE to_status = 'queued' AND from_status IS NULL"), 1);
        assert_eq!(Spi::get_one::<String>("SELECT order_key FROM vasscm.outbox").unwrap().as_deref(), Some("MSKU1234565"));
    }

    #[pg_test]
    fn bad_tos_data_becomes_invalid_and_never_fails_the_insert() {
        setup("{INSERT}", "auto");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl, fe) VALUES (2, 'MSKU1234566', NULL, 'BL1', 'X')").unwrap();
        let errors = Spi::get_one::<JsonB>("SELECT errors FROM vasscm.outbox WHERE status = 'invalid'").unwrap().unwrap().0;
        let rules: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"check_digit") && rules.contains(&"code"), "{errors}");
        // An expression that raises at run time is caught and recorded too.
        Spi::run(r#"SELECT vasscm.bind('tos_moves', '24', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''X''", "LOAI_HANG": "flow",
            "SO_CONTAINER": "ctr", "LOAI_NIEM_PHONG": "''HANG_TAU''", "NIEM_PHONG_MOI": "seal", "LY_DO": "(1 / (id - 3))::text",
            "THOI_GIAN": "in_time"}')"#).unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (3, 'MSKU1234565', 'S1', 'BL1')").unwrap();
        let detail = Spi::get_one::<String>("SELECT last_error FROM vasscm.outbox WHERE message_type = '24'").unwrap().unwrap();
        assert!(detail.contains("division by zero"), "{detail}");
        assert_eq!(count("SELECT count(*) FROM tos_moves"), 2);
    }

    #[pg_test]
    fn updates_amend_and_deletes_cancel_a_gate_in() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S0', 'BL1')").unwrap();
        Spi::run("UPDATE tos_moves SET truck = 'not mapped' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 1, "an unmapped change sends nothing");
        // Corrected before it was sent: the same message rebuilt, customs only sees the right one.
        Spi::run("UPDATE tos_moves SET seal = 'S1' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status = 'queued' AND data ->> 'SO_NIEM_PHONG' = 'S1'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 1);
        // Customs has it: a correction is an amendment.
        Spi::run("UPDATE vasscm.outbox SET status = 'accepted'").unwrap();
        Spi::run("UPDATE tos_moves SET seal = 'S2' WHERE id = 1").unwrap();
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox a JOIN vasscm.outbox o ON a.original_transaction_id = o.transaction_id
                    WHERE a.message_type = '16' AND a.status = 'queued' AND o.message_type = '14'
                      AND a.data ->> 'TRANSACTION_ID_GOC' = o.transaction_id::text AND a.data ->> 'SO_NIEM_PHONG' = 'S2'
                      AND a.order_key = o.order_key"),
            1
        );
        Spi::run("UPDATE tos_moves SET seal = 'S2', truck = 'x' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16'"), 1, "same data as the last amendment");
        // Customs has the gate-in: deleting the row (before the goods left) cancels it.
        Spi::run("DELETE FROM tos_moves WHERE id = 1").unwrap();
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox c JOIN vasscm.outbox o ON c.original_transaction_id = o.transaction_id
                    WHERE c.message_type = '17' AND c.status = 'queued' AND o.message_type = '14' AND c.data ->> 'SO_CONTAINER' = 'MSKU1234565'"),
            1
        );
        // Not sent yet: a mistaken gate-in deleted is withdrawn here, customs never hears of it.
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (2, 'TGHU7654320', 'S1', 'BL1')").unwrap();
        Spi::run("DELETE FROM tos_moves WHERE id = 2").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'TGHU7654320' AND message_type = '17'"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE data ->> 'SO_CONTAINER' = 'TGHU7654320' AND status = 'cancelled'"), 1);
    }

    /// The gate-out as a state of the row (it happened), so that undoing it is seen too.
    const GATE_OUT_STATE: &str = r#"SELECT vasscm.bind('tos_moves', '21', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''",
        "LOAI_HANG": "flow", "SO_CONTAINER": "ctr", "TRANG_THAI": "fe", "LIST_TK/SO_TK": "decls", "PHUONG_TIEN": "''XE''",
        "SO_PHUONG_TIEN": "truck", "CO_CHUNG_TU": "''Y''", "THOI_GIAN": "out_time"}', '{INSERT,UPDATE}', 'out_time IS NOT NULL')"#;

    fn live(kind: &str) -> i64 {
        count(&format!("SELECT count(*) FROM vasscm.outbox WHERE message_type = '{kind}' AND status <> 'cancelled'"))
    }

    /// (A `#[pg_test]` is one transaction: "the same transaction" rules apply to all its steps,
    /// so an undo followed by a redo is also taken back here; customs' view is the same.)
    #[pg_test]
    fn rows_written_every_way_give_one_event_each() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run(GATE_OUT_STATE).unwrap();
        // First seen already gated in and out (a compacted CDC batch): the 14, then the 21.
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl, out_time, truck, decls)
                  VALUES (1, 'MSKU1234565', 'S1', 'BL1', '2026-11-26 01:00:00+00', '15C12345', '{308044805740}')")
            .unwrap();
        assert_eq!((live("14"), live("21")), (1, 1));
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox a, vasscm.outbox b WHERE a.message_type = '14' AND b.message_type = '21' AND a.id < b.id"), 1);
        // An upsert replayed, an update written as DELETE + INSERT, a TRUNCATE + reload: nothing.
        Spi::run("UPDATE tos_moves SET ctr = ctr WHERE id = 1").unwrap();
        Spi::run("UPDATE vasscm.outbox SET status = 'accepted'").unwrap();
        Spi::run("DO $$ BEGIN DELETE FROM tos_moves WHERE id = 1;
                  INSERT INTO tos_moves (id, ctr, seal, bl, out_time, truck, decls)
                  VALUES (1, 'MSKU1234565', 'S1', 'BL1', '2026-11-26 01:00:00+00', '15C12345', '{308044805740}'); END $$")
            .unwrap();
        Spi::run("CREATE TEMP TABLE saved AS SELECT * FROM tos_moves; TRUNCATE tos_moves; INSERT INTO tos_moves SELECT * FROM saved").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status <> 'cancelled'"), 2, "still one 14 and one 21");
        // A truck turned back after customs had the pass: CANCEL_PASSED; out again: a new 21 after it.
        Spi::run("UPDATE tos_moves SET out_time = NULL WHERE id = 1").unwrap();
        assert_eq!(live("CANCEL_PASSED"), 1);
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 03:00:00+00', truck = '15C99999' WHERE id = 1").unwrap();
        assert_eq!(live("21"), 2);
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox n, vasscm.outbox c
                    WHERE n.message_type = '21' AND n.status = 'queued' AND c.message_type = 'CANCEL_PASSED' AND c.status <> 'cancelled' AND c.id < n.id
                      AND c.order_key = n.order_key AND n.data ->> 'SO_PHUONG_TIEN' = '15C99999'"),
            1
        );
        // Undone again before that 21 was sent: withdrawn here; a typo corrected before sending: rebuilt.
        Spi::run("UPDATE tos_moves SET out_time = NULL WHERE id = 1").unwrap();
        assert_eq!((live("21"), live("CANCEL_PASSED")), (1, 1));
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 04:00:00+00', truck = '15C99999' WHERE id = 1").unwrap();
        Spi::run("UPDATE tos_moves SET truck = '15C99990' WHERE id = 1").unwrap();
        assert_eq!(live("21"), 2);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21' AND status = 'queued' AND data ->> 'SO_PHUONG_TIEN' = '15C99990'"), 1);
        // A weighbridge-style correction after customs had it: CANCEL_PASSED, then the corrected one.
        Spi::run("UPDATE vasscm.outbox SET status = 'accepted' WHERE status = 'queued'").unwrap();
        Spi::run("UPDATE tos_moves SET truck = '15C11111' WHERE id = 1").unwrap();
        assert_eq!(live("CANCEL_PASSED"), 2);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21' AND status = 'queued' AND data ->> 'SO_PHUONG_TIEN' = '15C11111'"), 1);
        assert_eq!(live("14"), 1, "never a second gate-in");
        assert_eq!(live("17"), 0, "and never a cancellation of it");
    }

    #[pg_test]
    fn yard_moves_reported_seals_and_archiving_send_nothing() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("ALTER TABLE tos_moves ADD COLUMN pos text").unwrap();
        let b = Spi::get_one::<i32>("SELECT id FROM vasscm.binding").unwrap().unwrap();
        Spi::run(&format!("SELECT vasscm.unbind({b})")).unwrap();
        let with_position = GATE_IN.replace(r#""THOI_GIAN": "in_time"}"#, r#""THOI_GIAN": "in_time", "VI_TRI": "pos"}"#);
        Spi::run(&format!("SELECT vasscm.bind('tos_moves', '14', '{with_position}', '{{INSERT,UPDATE,DELETE}}')")).unwrap();
        Spi::run(GATE_OUT_BINDING).unwrap();
        Spi::run(SEAL_BINDING).unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl, pos) VALUES (1, 'MSKU1234565', 'S1', 'BL1', 'A01')").unwrap();
        for pos in ["A02", "B07", "INSPECTION", "A01"] {
            Spi::run(&format!("UPDATE tos_moves SET pos = '{pos}' WHERE id = 1")).unwrap();
        }
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 1, "yard moves send nothing");
        Spi::run("UPDATE vasscm.outbox SET status = 'accepted'").unwrap();
        // A seal changed at inspection: the 24, and no amendment rewriting the gate-in's seal.
        Spi::run("UPDATE tos_moves SET pos = 'INSPECTION', seal = 'S9' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '24'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16' AND status <> 'cancelled'"), 0, "the 24 explains the new seal");
        // A corrected B/L is a correction customs must hear; its 16 keeps the seal the box came with.
        Spi::run("UPDATE tos_moves SET bl = 'BL2' WHERE id = 1").unwrap();
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16' AND data ->> 'SO_VAN_DON' = 'BL2' AND data ->> 'SO_NIEM_PHONG' = 'S1'"),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16' AND status <> 'cancelled' AND data ->> 'LY_DO' NOT LIKE '%tos_moves%'"),
            1,
            "no internal table names in what customs reads"
        );
        // Gate-out, then the TOS archives the finished move: no cancellation of the real gate-in.
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 01:00:00+00', truck = '15C12345', decls = '{308044805740}', pos = NULL WHERE id = 1")
            .unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16' AND status <> 'cancelled'"), 1, "leaving the yard is not an amendment");
        Spi::run("DELETE FROM tos_moves WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '17'"), 0, "archiving is not a customs event");
    }

    /// Form 21 when `out_time` is first set.
    const GATE_OUT_BINDING: &str = r#"SELECT vasscm.bind('tos_moves', '21', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''",
        "LOAI_HANG": "flow", "SO_CONTAINER": "ctr", "TRANG_THAI": "fe", "LIST_TK/SO_TK": "decls", "PHUONG_TIEN": "''XE''",
        "SO_PHUONG_TIEN": "truck", "CO_CHUNG_TU": "''Y''", "THOI_GIAN": "out_time"}', '{UPDATE}', 'OLD.out_time IS NULL AND NEW.out_time IS NOT NULL')"#;

    /// Form 24 when the seal changes at the inspection area.
    const SEAL_BINDING: &str = r#"SELECT vasscm.bind('tos_moves', '24', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''",
        "LOAI_HANG": "flow", "SO_CONTAINER": "ctr", "LOAI_NIEM_PHONG": "''HANG_TAU''", "NIEM_PHONG_CU": "OLD.seal",
        "NIEM_PHONG_MOI": "NEW.seal", "LY_DO": "''Kiem tra''", "THOI_GIAN": "in_time"}', '{UPDATE}',
        'OLD.seal IS DISTINCT FROM NEW.seal AND NEW.pos = ''INSPECTION''')"#;

    #[pg_test]
    fn a_dead_gate_in_is_amended_not_sent_twice() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S1', 'BL1')").unwrap();
        Spi::run("UPDATE vasscm.outbox SET status = 'dead'").unwrap();
        Spi::run("UPDATE tos_moves SET bl = 'BL2' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '14'"), 1, "still one gate-in");
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '16'"), 1);
    }

    #[pg_test]
    fn an_invalid_gate_in_is_fixed_in_place_or_dropped() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234566', 'S1', 'BL1')").unwrap();
        Spi::run("UPDATE tos_moves SET ctr = 'MSKU1234565' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 1);
        assert_eq!(Spi::get_one::<String>("SELECT status FROM vasscm.outbox").unwrap().as_deref(), Some("queued"));
        assert_eq!(Spi::get_one::<String>("SELECT order_key FROM vasscm.outbox").unwrap().as_deref(), Some("MSKU1234565"), "ordered by the corrected container");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (2, 'bad', 'S1', 'BL1')").unwrap();
        Spi::run("DELETE FROM tos_moves WHERE id = 2").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status = 'cancelled'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 2);
    }

    #[pg_test]
    fn manual_mode_and_operator_actions() {
        setup("{INSERT}", "manual");
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S1', 'BL1'), (2, 'TGHU7654320', 'S2', 'BL2')").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status = 'pending_approval'"), 2);
        let first = count("SELECT min(id) FROM vasscm.outbox");
        Spi::run(&format!("SELECT vasscm.approve({first})")).unwrap();
        Spi::run(&format!("SELECT vasscm.reject({}, 'duplicate of a paper declaration')", first + 1)).unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE status = 'queued'"), 1);
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox_history WHERE to_status = 'cancelled' AND reason LIKE 'rejected by operator: duplicate%'"),
            1
        );
        assert!(error_of(&format!("SELECT vasscm.approve({first})")).contains("not waiting for approval"));
        assert!(error_of(&format!("SELECT vasscm.reject({first}, '')")).contains("reason is required"));
        // requeue with corrected data
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (3, 'MSKU1234566', 'S1', 'BL1')").unwrap();
        let bad = count("SELECT id FROM vasscm.outbox WHERE status = 'invalid'");
        let st = Spi::get_one::<String>(&format!(
            "SELECT vasscm.requeue({bad}, (SELECT source_data FROM vasscm.outbox WHERE id = {bad}) || '{{\"SO_CONTAINER\": \"MSKU1234565\"}}')"
        ))
        .unwrap();
        assert_eq!(st.as_deref(), Some("pending_approval"));
        assert!(error_of(&format!("SELECT vasscm.requeue({first})")).contains("only invalid or dead"));
    }

    #[pg_test]
    fn ad_hoc_enqueue() {
        Spi::run("SET vasscm.sender_code = 'CANGTEST'; SET vasscm.sender_name = 'Test'; SET vasscm.receiver_code = '03CC'").unwrap();
        let tid = Spi::get_one::<String>(r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{"MA_HQ": "03CC", "SO_CONTAINER": "MSKU1234565"}')::text"#)
            .unwrap()
            .unwrap();
        assert_eq!(count(&format!("SELECT count(*) FROM vasscm.outbox WHERE transaction_id = '{tid}' AND status = 'queued'")), 1);
        let e = error_of(r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{"MA_HQ": "03CC", "SO_CONTAINER": "MSKU1234566"}')"#);
        assert!(e.contains("check_digit"), "{e}");
    }

    #[pg_test]
    fn bind_refuses_bad_bindings_clearly() {
        setup("{INSERT}", "auto");
        let bind = |mapping: &str, cond: &str| error_of(&format!("SELECT vasscm.bind('tos_moves', '14', '{mapping}', '{{INSERT}}', {cond})"));
        assert!(bind(r#"{"COLOUR": "ctr"}"#, "NULL").contains("COLOUR is not a field of message 14"));
        assert!(bind(r#"{"SO_CONTAINER": "no_such_column"}"#, "NULL").contains("does not compile"));
        assert!(bind(r#"{"SO_CONTAINER": "ctr) FROM pg_authid --"}"#, "NULL").contains("parentheses do not balance"));
        assert!(bind(r#"{"SO_CONTAINER": "ctr FROM pg_authid --"}"#, "NULL").contains("not allowed"));
        assert!(bind(r#"{"SO_CONTAINER": "ctr"}"#, "'true OR 1 = (SELECT 1); DROP TABLE tos_moves'").contains("';' is not allowed"));
        assert!(error_of(r#"SELECT vasscm.bind('tos_moves', '04', '{"SO_TK": "bl"}')"#).contains("not a port-to-customs"));
        assert!(error_of(r#"SELECT vasscm.bind('tos_moves', '14', '{"SO_TK": "bl"}', '{INSERT,TRUNCATE}')"#).contains("events"));
        assert_eq!(count("SELECT count(*) FROM vasscm.binding"), 1);
    }

    #[pg_test]
    fn gate_out_with_declaration_list_on_update() {
        setup("{INSERT}", "auto");
        Spi::run(r#"SELECT vasscm.bind('tos_moves', '21', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''", "LOAI_HANG": "flow",
            "SO_CONTAINER": "ctr", "TRANG_THAI": "fe", "SO_NIEM_PHONG": "seal", "LIST_TK/SO_TK": "decls", "PHUONG_TIEN": "''XE''",
            "SO_PHUONG_TIEN": "truck", "CO_CHUNG_TU": "''Y''", "THOI_GIAN": "out_time"}', '{UPDATE}',
            'OLD.out_time IS NULL AND NEW.out_time IS NOT NULL')"#)
        .unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S1', 'BL1')").unwrap();
        Spi::run("UPDATE tos_moves SET seal = 'S1' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21'"), 0);
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 08:40:00+00', truck = '15C-123.45', decls = '{308044805740,308044805741}' WHERE id = 1").unwrap();
        Spi::run("UPDATE tos_moves SET truck = '15C-999.99' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21' AND status = 'queued'"), 1);
        let xml = Spi::get_one::<String>("SELECT message FROM vasscm.outbox WHERE message_type = '21'").unwrap().unwrap();
        assert!(xml.contains("<LIST_TK><SO_TK>308044805740</SO_TK><SO_TK>308044805741</SO_TK></LIST_TK>"), "{xml}");
        Spi::run("SELECT vasscm.unbind(id) FROM vasscm.binding WHERE message_type = '21'").unwrap();
        assert_eq!(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'tos_moves'::regclass AND NOT tgisinternal"), 1);
    }

    /// `vasscm.interpret = async`: the trigger only records; `interpret()` (or a gate decision)
    /// writes the ledger and the messages; the ledger counts a gate-out whatever its message.
    #[pg_test]
    fn async_capture_the_ledger_and_a_failed_mapping_run_again() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run(GATE_OUT_STATE).unwrap();
        Spi::run("SET vasscm.interpret = 'async'").unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S1', 'BL1')").unwrap();
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 01:00:00+00' WHERE id = 1").unwrap(); // no truck: the 21 is invalid
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 0, "captured only");
        assert_eq!(count("SELECT count(*) FROM vasscm.captured_change"), 2);
        assert_eq!(count("SELECT vasscm.interpret()"), 2);
        assert_eq!(count("SELECT count(*) FROM vasscm.captured_change"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21' AND status = 'invalid'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.movement WHERE kind IN ('gate_in', 'gate_out') AND undone_at IS NULL"), 2);
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs WHERE container_no = 'MSKU1234565' AND status = 'invalid'"), 1);
        // The truck turned back: the gate-out is undone in the ledger (and its unsent 21 withdrawn).
        Spi::run("UPDATE tos_moves SET out_time = NULL WHERE id = 1").unwrap();
        Spi::run("SELECT vasscm.interpret()").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.movement WHERE kind = 'gate_out' AND undone_at IS NOT NULL"), 1);
        // A mapping that raises: the TOS row goes in, the change is kept with the reason.
        Spi::run(r#"SELECT vasscm.bind('tos_moves', '24', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''X''", "LOAI_HANG": "flow",
            "SO_CONTAINER": "ctr", "LOAI_NIEM_PHONG": "''HANG_TAU''", "NIEM_PHONG_MOI": "seal", "LY_DO": "(1 / (id - 2))::text",
            "THOI_GIAN": "in_time"}')"#).unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (2, 'TGHU7654320', 'S2', 'BL2')").unwrap();
        Spi::run("SELECT vasscm.interpret()").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.capture_failure WHERE error LIKE '%division by zero%'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '14' AND data ->> 'SO_CONTAINER' = 'TGHU7654320'"), 1,
                   "the other binding of the row was interpreted");
        // Fixed (unbind + bind), run again: one 24, the invalid record cancelled.
        Spi::run("SELECT vasscm.unbind(id) FROM vasscm.binding WHERE message_type = '24'").unwrap();
        Spi::run(r#"SELECT vasscm.bind('tos_moves', '24', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''X''", "LOAI_HANG": "flow",
            "SO_CONTAINER": "ctr", "LOAI_NIEM_PHONG": "''HANG_TAU''", "NIEM_PHONG_MOI": "seal", "LY_DO": "''Kiểm tra''",
            "THOI_GIAN": "in_time"}')"#).unwrap();
        assert_eq!(count("SELECT vasscm.reinterpret_failures()"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.capture_failure"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '24' AND status = 'queued'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '14' AND data ->> 'SO_CONTAINER' = 'TGHU7654320'"), 1,
                   "the gate-in is not interpreted twice");
        assert_eq!(count("SELECT count(*) FROM vasscm.movement WHERE kind = 'seal_change' AND seal = 'S2'"), 1);
    }

    #[pg_test]
    fn bindings_decode_what_they_read_and_positions_follow_yard_moves() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("ALTER TABLE tos_moves ADD COLUMN pos text").unwrap();
        let b = Spi::get_one::<i32>("SELECT id FROM vasscm.binding").unwrap().unwrap();
        Spi::run(&format!("SELECT vasscm.unbind({b})")).unwrap();
        let with_position = GATE_IN.replace(r#""THOI_GIAN": "in_time"}"#, r#""THOI_GIAN": "in_time", "VI_TRI": "pos"}"#);
        let b = Spi::get_one::<i32>(&format!("SELECT vasscm.bind('tos_moves', '14', '{with_position}', '{{INSERT,UPDATE,DELETE}}')"))
            .unwrap()
            .unwrap();
        // Only the columns the expressions and the identity read are decoded (truck, decls are not).
        let cols = crate::test_support::text(&format!("SELECT vasscm._binding_columns({b})"));
        assert_eq!(cols, "id integer, ctr text, fe text, seal text, bl text, flow text, in_time timestamp with time zone, pos text");
        // A binding reading the row as a whole decodes it whole, and still maps.
        let whole = Spi::get_one::<i32>(
            r#"SELECT vasscm.bind('tos_moves', '24', '{"MA_HQ": "''03CC''", "MA_DIA_DIEM": "''03CCC01''", "LOAI_HANG": "flow",
                "SO_CONTAINER": "ctr", "LOAI_NIEM_PHONG": "''HANG_TAU''", "NIEM_PHONG_MOI": "seal",
                "LY_DO": "to_jsonb(_row) ->> ''truck''", "THOI_GIAN": "in_time"}', '{INSERT}', 'truck IS NOT NULL')"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(Spi::get_one::<String>(&format!("SELECT vasscm._binding_columns({whole})")).unwrap(), None);
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl, pos, truck) VALUES (1, 'MSKU1234565', 'S1', 'BL1', 'A01', 'TRUCK 7')").unwrap();
        assert_eq!(crate::test_support::text("SELECT data ->> 'LY_DO' FROM vasscm.outbox WHERE message_type = '24'"), "TRUCK 7");
        // Yard moves: nothing sent, the ledger's event untouched, where the box is now follows.
        Spi::run("UPDATE tos_moves SET pos = 'B07' WHERE id = 1").unwrap();
        Spi::run("UPDATE tos_moves SET pos = 'C03' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '14'"), 1);
        assert_eq!(crate::test_support::text("SELECT source_data ->> 'VI_TRI' FROM vasscm.movement WHERE kind = 'gate_in'"), "A01");
        assert_eq!(crate::test_support::text("SELECT position FROM vasscm._yard_containers WHERE container_no = 'MSKU1234565'"), "C03");
        // A correction: the event's mapping is the corrected one, position included.
        Spi::run("UPDATE tos_moves SET bl = 'BL2', pos = 'D01' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.movement_position"), 0);
        assert_eq!(crate::test_support::text("SELECT position FROM vasscm._yard_containers WHERE container_no = 'MSKU1234565'"), "D01");
        assert_eq!(crate::test_support::text("SELECT bl_no FROM vasscm.movement WHERE kind = 'gate_in'"), "BL2");
    }

    #[pg_test]
    fn the_ledger_reads_times_and_numbers_it_can_and_keeps_the_rest_null() {
        let one = |data: &str, col: &str| {
            Spi::get_one::<String>(&format!("SELECT {col}::text FROM vasscm._movement_columns('{data}')")).unwrap()
        };
        Spi::run("SET TimeZone = 'UTC'").unwrap();
        assert_eq!(one(r#"{"THOI_GIAN": "2026-11-25T08:00:00+07:00"}"#, "happened_at").as_deref(), Some("2026-11-25 01:00:00+00"));
        assert_eq!(one(r#"{"THOI_GIAN": "2028-02-29 08:00:00+07"}"#, "happened_at").as_deref(), Some("2028-02-29 01:00:00+00"));
        assert_eq!(one(r#"{"THOI_GIAN": "25 Nov 2026 08:00 +07"}"#, "happened_at").as_deref(), Some("2026-11-25 01:00:00+00"));
        let now = Spi::get_one::<String>("SELECT now()::text").unwrap();
        assert_eq!(one(r#"{"THOI_GIAN": "2026-02-30T08:00:00+07:00"}"#, "happened_at"), now, "an impossible day is now");
        assert_eq!(one(r#"{"THOI_GIAN": "yesterday-ish"}"#, "happened_at"), now);
        assert_eq!(one(r#"{}"#, "happened_at"), now);
        assert_eq!(one(r#"{"SO_LUONG": " 12.50 "}"#, "quantity").as_deref(), Some("12.50"));
        assert_eq!(one(r#"{"TRONG_LUONG": "1.5e1", "DVT_TRONG_LUONG": "TNE"}"#, "weight_kg").as_deref(), Some("15000"));
        assert_eq!(one(r#"{"THE_TICH_M3": "12,5"}"#, "volume_m3"), None);
        let sorted = "(SELECT array_agg(x ORDER BY x) FROM unnest(declarations) x)";
        assert_eq!(one(r#"{"LIST_TK": [" 30a ", "30A", "31"], "SO_TK": null}"#, sorted).as_deref(), Some("{30A,31}"));
        assert_eq!(one(r#"{"SO_CONTAINER": "MSKU1234565"}"#, "declarations").as_deref(), Some("{}"));
    }


    #[pg_test]
    fn corrections_and_withdrawals_of_a_batch_end_as_one_by_one() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run("SELECT vasscm.unbind(id) FROM vasscm.binding").unwrap();
        Spi::run(&format!("SELECT vasscm.bind('tos_moves', '14', '{GATE_IN}', '{{INSERT,UPDATE,DELETE}}', 'in_time IS NOT NULL')")).unwrap();
        Spi::run("SET vasscm.interpret = 'async'").unwrap();
        Spi::run(
            "INSERT INTO tos_moves (id, ctr, seal, bl)
             SELECT g, 'BNCU' || lpad(g::text, 6, '0') || vasscm.container_check_digit('BNCU' || lpad(g::text, 6, '0')), 'S' || g, 'BL' || g
               FROM generate_series(1, 5) g",
        )
        .unwrap();
        assert_eq!(count("SELECT vasscm.interpret()"), 5);
        // One batch: a B/L corrected, a row deleted, a gate-in cleared, a row corrected twice,
        // a seal corrected (none sent yet).
        Spi::run("UPDATE tos_moves SET bl = 'BLX' WHERE id = 1").unwrap();
        Spi::run("DELETE FROM tos_moves WHERE id = 2").unwrap();
        Spi::run("UPDATE tos_moves SET in_time = NULL WHERE id = 3").unwrap();
        Spi::run("UPDATE tos_moves SET bl = 'BLY' WHERE id = 4").unwrap();
        Spi::run("UPDATE tos_moves SET bl = 'BLZ' WHERE id = 4").unwrap();
        Spi::run("UPDATE tos_moves SET seal = 'S9' WHERE id = 5").unwrap();
        assert_eq!(count("SELECT vasscm.interpret()"), 6);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox"), 5, "nothing new: rebuilt in place or withdrawn");
        let status = |id: i32| crate::test_support::text(&format!("SELECT status || ' ' || (data ->> 'SO_VAN_DON') || ' ' || (data ->> 'SO_NIEM_PHONG')
                                                                    FROM vasscm.outbox WHERE source_key = '{{\"id\": {id}}}'"));
        assert_eq!(status(1), "queued BLX S1");
        assert_eq!(status(2), "cancelled BL2 S2");
        assert_eq!(status(3), "cancelled BL3 S3");
        assert_eq!(status(4), "queued BLZ S4");
        assert_eq!(status(5), "queued BL5 S9");
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox_history WHERE to_status = 'cancelled' AND reason LIKE 'undone in %tos_moves: withdrawn before it was sent'"),
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM vasscm.outbox WHERE status = 'queued'
                    AND message LIKE '%<SO_VAN_DON>' || (data ->> 'SO_VAN_DON') || '</SO_VAN_DON>%'
                    AND message LIKE '%<SO_NIEM_PHONG>' || (data ->> 'SO_NIEM_PHONG') || '</SO_NIEM_PHONG>%'"),
            3,
            "the messages rebuilt with the corrected facts"
        );
        // The ledger: two events undone, three corrected (the facts as the messages hold them).
        assert_eq!(count("SELECT count(*) FROM vasscm.movement WHERE undone_at IS NOT NULL AND undone_reason LIKE 'undone in %tos_moves'"), 2);
        assert_eq!(
            count("SELECT count(*) FROM vasscm.movement m JOIN vasscm.outbox o ON o.id = m.outbox_id
                    WHERE m.undone_at IS NULL AND m.bl_no = o.data ->> 'SO_VAN_DON' AND m.seal = o.data ->> 'SO_NIEM_PHONG'
                      AND m.facts = o.data AND m.source_data = o.source_data AND m.corrected_at IS NOT NULL"),
            3
        );
        assert_eq!(count("SELECT count(*) FROM vasscm.capture_failure"), 0);
    }


    #[pg_test]
    fn a_gate_out_undone_after_customs_rejected_its_21_does_not_count() {
        setup("{INSERT,UPDATE,DELETE}", "auto");
        Spi::run(GATE_OUT_STATE).unwrap();
        Spi::run("INSERT INTO tos_moves (id, ctr, seal, bl) VALUES (1, 'MSKU1234565', 'S1', 'BL1')").unwrap();
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 01:00:00+00', truck = '15C12345', decls = '{308044805740}' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs WHERE container_no = 'MSKU1234565'"), 1);
        // Customs rejected the 21; the truck is then turned back: the box is in the yard again.
        Spi::run("UPDATE vasscm.outbox SET status = 'rejected' WHERE message_type = '21'").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs WHERE container_no = 'MSKU1234565'"), 1, "a rejected 21 still counts");
        Spi::run("UPDATE tos_moves SET out_time = NULL WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs WHERE container_no = 'MSKU1234565'"), 0);
        assert_eq!(count("SELECT count(*) FROM vasscm.movement WHERE kind = 'gate_out' AND undone_at IS NOT NULL"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = 'CANCEL_PASSED'"), 0, "customs never accepted it");
        // Out again: a new 21, one live gate-out.
        Spi::run("UPDATE tos_moves SET out_time = '2026-11-26 03:00:00+00' WHERE id = 1").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = '21' AND status = 'queued'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.gate_outs WHERE container_no = 'MSKU1234565'"), 1);
    }

}
