//! `#[pg_test]`s of the clearance state (sql/inbox_apply.sql, clearance_now.sql, clearance.sql,
//! gate.sql, settings.sql): idempotency, out-of-order application, the maintained state equal to
//! a recomputation, gate-out decisions, bulk cumulation and units, settings validated as data.
//! (Every numbered case of issue 12, played through TOS tables, is in the golden-output tier:
//! tests/regress/sql/gate_decisions.sql.)

use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::text as one;
    use pgrx::prelude::*;

    fn setup() {
        // these tests share declaration numbers and one of them truncates: one at a time
        Spi::run("SELECT pg_advisory_xact_lock(5505)").unwrap();
        Spi::run("SET vasscm.sender_code = 'CANGTEST'; SET vasscm.sender_name = 'Test'; SET vasscm.receiver_code = '03CC'; SET vasscm.place_code = '03CCC01'").unwrap();
    }

    /// A signed-less customs message as the worker would hand it to vasscm.receive().
    fn customs(kind: &str, data: &str, at: &str) -> String {
        one(&format!(
            "SELECT vasscm.build_message('{kind}', $d${data}$d$, '{{\"Transaction_Date\": \"{at}\", \"Sender_Code\": \"TCHQ\", \"Sender_Name\": \"TCHQ\"}}')"
        ))
    }

    fn receive(xml: &str) {
        Spi::run(&format!("SELECT vasscm.receive($x${xml}$x$)")).unwrap();
    }

    fn state_digest() -> String {
        one("SELECT string_agg(r, E'\\n' ORDER BY r) FROM (
                SELECT concat_ws('|', cargo_kind, container_no, declaration_no, bl_no, state, channel, carrier_seal, customs_seal,
                                 weight_kg_declared, set_by, status_reason) AS r FROM vasscm.clearance_state) s")
    }

    fn messages() -> Vec<String> {
        vec![
            customs("04", r#"{"SO_TK": "308044805740", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "2", "LOAI_HANG": "NHAP",
                      "LIST_CONTAINER": [{"SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "ML123456"},
                                         {"SO_CONTAINER": "TGHU7654320", "SO_NIEM_PHONG": "ML123457", "SO_NIEM_PHONG_HQ": "HQ000991"}]}"#,
                    "2026-11-25T10:00:00+07:00"),
            customs("06", r#"{"SO_TK": "308044805740", "TRANG_THAI_TK": "TAM_DUNG", "LY_DO": "Kiểm tra"}"#, "2026-11-25T11:00:00+07:00"),
            customs("07", r#"{"SO_TK": "308044805740", "LIST_CONTAINER": [{"SO_CONTAINER": "TGHU7654320", "THAO_TAC": "HUY"},
                      {"SO_CONTAINER": "MSKU1234565", "THAO_TAC": "SUA", "SO_NIEM_PHONG": "ML999999"}]}"#, "2026-11-25T12:00:00+07:00"),
            customs("06", r#"{"SO_TK": "308044805740", "TRANG_THAI_TK": "BO_TAM_DUNG"}"#, "2026-11-25T13:00:00+07:00"),
            customs("05", r#"{"SO_TK": "101234567890", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "SO_VAN_DON": "HPBL0001",
                      "LOAI_HANG_HOA": "ROI", "TRONG_LUONG": 5000, "DVT_TRONG_LUONG": "TNE"}"#, "2026-11-25T09:00:00+07:00"),
            customs("05", r#"{"SO_TK": "101234567890", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "SO_VAN_DON": "HPBL0001",
                      "LOAI_HANG_HOA": "ROI", "TRONG_LUONG": 4800, "DVT_TRONG_LUONG": "TNE"}"#, "2026-11-25T14:00:00+07:00"),
        ]
    }

    #[pg_test]
    fn duplicates_and_any_order_end_in_the_same_state() {
        setup();
        let msgs = messages();
        for m in &msgs {
            receive(m);
        }
        let in_order = state_digest();
        // the same messages again: nothing changes
        for m in &msgs {
            receive(m);
        }
        assert_eq!(state_digest(), in_order);
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.inbox").unwrap(), Some(6));
        // every order of arrival: reversed, and rotated
        for order in [msgs.iter().rev().cloned().collect::<Vec<_>>(), msgs[3..].iter().chain(&msgs[..3]).cloned().collect()] {
            Spi::run("TRUNCATE vasscm.inbox; SELECT vasscm.reapply_inbox()").unwrap();
            for m in &order {
                receive(m);
            }
            assert_eq!(state_digest(), in_order);
        }
        // and the state is what the timestamps say
        assert_eq!(one("SELECT state FROM vasscm.clearance('msku 1234565')"), "eligible");
        assert_eq!(one("SELECT carrier_seal FROM vasscm.clearance('MSKU1234565')"), "ML999999");
        assert_eq!(one("SELECT state FROM vasscm.clearance('TGHU7654320')"), "not_eligible");
        assert_eq!(one("SELECT channel_name FROM vasscm.clearance('MSKU1234565')"), "yellow");
        assert_eq!(one("SELECT weight_kg_declared::text FROM vasscm.clearance_by_bl('HPBL0001')"), "4800000");
        // a number nobody ever mentioned: no row (in a LEFT JOIN LATERAL report, NULL columns)
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.clearance('CSQU3054383')").unwrap(), Some(0));
        assert_eq!(one("SELECT state FROM vasscm.clearance_by_declaration('308000000999')"), "unknown");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm._clearance_drift()").unwrap(), Some(0));
        assert!(Spi::get_one::<bool>("SELECT bool_and(applied_at IS NOT NULL AND apply_error IS NULL) FROM vasscm.inbox").unwrap().unwrap());
        // history keeps the older messages that changed nothing
        assert!(Spi::get_one::<bool>("SELECT count(*) FILTER (WHERE NOT applied) > 0 FROM vasscm.clearance_history").unwrap().unwrap());
    }

    fn check(sql: &str) -> (bool, Vec<String>) {
        Spi::connect(|c| {
            let row = c.select(sql, None, &[]).unwrap().first();
            (row.get::<bool>(1).unwrap().unwrap(), row.get::<Vec<String>>(2).unwrap().unwrap())
        })
    }

    #[pg_test]
    fn gate_out_decisions_name_every_reason() {
        setup();
        for m in messages() {
            receive(&m);
        }
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('MSKU1234565', 'ml999999', NULL)");
        assert!(ok, "{why:?}");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('MSKU1234565', 'ML123456', 'HQ1')");
        assert!(!ok);
        assert!(why.iter().any(|w| w.contains("carrier seal ML123456 does not match customs data (ML999999)")), "{why:?}");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('TGHU7654320', 'ML123457', 'HQ000991', '{308044805740}')");
        assert!(!ok);
        assert!(why.iter().any(|w| w.contains("was removed from declaration 308044805740 by form 07 at 25/11/2026 12:00")), "{why:?}");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('TGHU7654320', 'ML123457', 'HQ000991')");
        assert!(!ok && why.len() == 1 && why[0].contains("removed from declaration 308044805740 by form 07"), "{why:?}");
        let (_, why) = check("SELECT * FROM vasscm.gate_out_check('TGHU7654321', NULL, NULL)");
        assert!(why[0].contains("not a valid container number"), "{why:?}");
        // suspension in force
        receive(&customs("06", r#"{"SO_TK": "308044805740", "TRANG_THAI_TK": "TAM_DUNG", "LY_DO": "Nghi vấn"}"#, "2026-11-25T15:00:00+07:00"));
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('MSKU1234565', 'ML999999', NULL)");
        assert!(!ok && why.iter().any(|w| w.contains("declaration 308044805740 is suspended (form 06): Nghi vấn")), "{why:?}");
        // scan selection for the box's visit (its gate-in is in the ledger), then the scan
        Spi::run(r#"SELECT vasscm.enqueue('14', '{"MA_HQ": "03CC", "MA_DIA_DIEM": "03CCC01", "LOAI_HANG": "XUAT", "SO_CONTAINER": "CSQU3054383",
                     "TRANG_THAI": "E", "HINH_THUC": "XE", "THOI_GIAN": "2026-11-25T07:00:00+07:00"}')"#).unwrap();
        receive(&customs("03", r#"{"MA_HQ": "03CC", "LOAI_HANG": "NHAP", "LIST_HANG": [{"SO_CONTAINER": "CSQU3054383"}]}"#, "2026-11-25T08:00:00+07:00"));
        receive(&customs("04", r#"{"SO_TK": "308000000001", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "XUAT",
                   "LIST_CONTAINER": [{"SO_CONTAINER": "CSQU3054383"}]}"#, "2026-11-25T09:00:00+07:00"));
        receive(&customs("04", r#"{"SO_TK": "308000000002", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "LOAI_HANG": "XUAT",
                   "LIST_CONTAINER": [{"SO_CONTAINER": "CSQU3054383"}]}"#, "2026-11-25T09:00:00+07:00"));
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('CSQU3054383', NULL, NULL, '{308000000001}')");
        assert!(!ok);
        assert!(why.iter().any(|w| w.contains("declaration 308000000002 must also be given")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("selected for scanning (form 03)")), "{why:?}");
        Spi::run("SELECT vasscm.record_scan('CSQU3054383', '2026-11-25T10:00:00+07:00')").unwrap();
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check('CSQU3054383', NULL, NULL, '{308000000001, 308000000002}')");
        assert!(ok, "{why:?}");
        assert_eq!(one("SELECT bool_and(scan_done)::text FROM vasscm.clearance('CSQU3054383')"), "true");
    }

    #[pg_test]
    fn bulk_gate_outs_add_up_and_lighter_passes() {
        setup();
        for m in messages() {
            receive(&m);
        }
        let trip = |tonnes: &str| {
            Spi::run(&format!(
                r#"SELECT vasscm.enqueue('22', '{{"MA_HQ": "03CC", "MA_DIA_DIEM": "03CCC01", "LOAI_HANG": "NHAP", "LOAI_HANG_HOA": "ROI",
                     "SO_VAN_DON": "HPBL0001", "TRONG_LUONG": {tonnes}, "DVT_TRONG_LUONG": "TNE", "PHUONG_TIEN": "XE",
                     "THOI_GIAN": "2026-11-26T08:00:00+07:00", "LIST_TK": ["101234567890"]}}')"#
            ))
            .unwrap()
        };
        trip("4000");
        let (ok, _) = check("SELECT * FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL0001', NULL, 800000, NULL)");
        assert!(ok, "exactly the declared weight passes");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check_bulk('101234567890', NULL, NULL, 800001, NULL)");
        assert!(!ok && why[0].contains("heavier than declared: 4000000 kg out + 800001 kg now > 4800000 kg declared"), "{why:?}");
        trip("799.5");
        assert_eq!(one("SELECT concat_ws('|', state, weight_kg_out) FROM vasscm.clearance_by_declaration('101234567890')"), "eligible|4799500.0");
        trip("0.5");
        assert_eq!(one("SELECT state FROM vasscm.clearance_by_declaration('101234567890')"), "passed");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check_bulk('101234567890', 'HPBL9', 1, NULL, NULL)");
        assert!(!ok && why[0].contains("B/L HPBL9 is not in declaration 101234567890"), "{why:?}");
        // a trip that left whatever its message became: the last one rejected still counts
        Spi::run("SELECT vasscm._set_status(max(id), 'rejected', 'test') FROM vasscm.outbox WHERE message_type = '22'").unwrap();
        assert_eq!(one("SELECT state FROM vasscm.clearance_by_declaration('101234567890')"), "passed");
        // NULL inputs are errors, not "declaration none"
        assert!(crate::test_support::error_of("SELECT * FROM vasscm.gate_out_check_bulk(NULL, 'HPBL0001', NULL, 1, NULL)")
            .contains("needs the declaration number"));
    }

    #[pg_test]
    fn quantities_in_different_units_never_add_up() {
        setup();
        assert_eq!(one("SELECT vasscm._in_unit(20000, 'KGM', 'tne')::text"), "20");
        assert_eq!(one("SELECT vasscm._in_unit(1.5, 'MTQ', 'LTR')::text"), "1500");
        assert_eq!(one("SELECT coalesce(vasscm._in_unit(40, 'PL', 'PK')::text, 'none')"), "none");
        assert_eq!(one("SELECT vasscm._in_unit(40, 'p.k', 'PK')::text"), "40");
        assert_eq!(one("SELECT vasscm._in_unit(40, NULL, 'PK')::text"), "40");
        receive(&customs("05", r#"{"SO_TK": "101234567893", "NGAY_DK": "2026-11-25", "MA_HQ": "03CC", "LUONG": "1", "SO_VAN_DON": "HPBL0004",
                  "LOAI_HANG_HOA": "KIEN", "SO_LUONG": 100, "DVT_SO_LUONG": "PK", "TRONG_LUONG": 20, "DVT_TRONG_LUONG": "TNE"}"#, "2026-11-25T09:00:00+07:00"));
        for (q, unit) in [("40", "PL"), ("40", "PL"), ("30", "PK")] {
            Spi::run(&format!(
                r#"SELECT vasscm.enqueue('22', '{{"MA_HQ": "03CC", "MA_DIA_DIEM": "03CCC01", "LOAI_HANG": "NHAP", "LOAI_HANG_HOA": "KIEN",
                     "SO_VAN_DON": "HPBL0004", "SO_LUONG": {q}, "DVT_SO_LUONG": "{unit}", "TRONG_LUONG": 1, "DVT_TRONG_LUONG": "TNE",
                     "PHUONG_TIEN": "XE", "THOI_GIAN": "2026-11-26T08:00:00+07:00", "LIST_TK": ["101234567893"]}}')"#
            ))
            .unwrap();
        }
        assert_eq!(one("SELECT concat_ws('|', quantity_out, quantity_unit) FROM vasscm.clearance_by_bl('HPBL0004')"), "30|PK");
        assert_eq!(one("SELECT quantity_out_other FROM vasscm.clearance_now WHERE bl_no = 'HPBL0004'"), "80 PL");
        let (ok, _) = check("SELECT * FROM vasscm.gate_out_check_bulk('101234567893', 'HPBL0004', 70, NULL, NULL, 'pk')");
        assert!(ok, "30 + 70 packages of 100");
        let (ok, why) = check("SELECT * FROM vasscm.gate_out_check_bulk('101234567893', 'HPBL0004', 10, NULL, NULL, 'PL')");
        assert!(!ok && why[0].contains("the unit of this trip (PL) differs from the declared unit (PK)"), "{why:?}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm._clearance_drift()").unwrap(), Some(0));
    }

    #[pg_test]
    fn settings_are_validated_by_their_rules() {
        setup();
        Spi::run("SELECT vasscm.set_setting('scan_selection_validity_days', '45')").unwrap();
        assert_eq!(one("SELECT vasscm._setting_value('scan_selection_validity_days')"), "45");
        for bad in [
            "SELECT vasscm.set_setting('scan_selection_validity_days', '-1')",
            "SELECT vasscm.set_setting('gate_out_deadline_import_minutes', '0')",
            "SELECT vasscm.set_setting('list_lead_hours', NULL)",
            "SELECT vasscm.set_setting('vessel_visit_source', 'public.no_such_table')",
            "SELECT vasscm.set_setting('no_such_setting', '1')",
        ] {
            assert!(!crate::test_support::error_of(bad).is_empty(), "{bad}");
        }
        // every whole-number rule's default is valid against its own rule
        assert!(Spi::get_one::<bool>(
            "SELECT bool_and(s.value ~ '^[0-9]+$' AND s.value::bigint BETWEEN coalesce(r.min_value, 0) AND coalesce(r.max_value, 999999999999))
               FROM vasscm.setting s JOIN vasscm.setting_rule r USING (name) WHERE r.kind = 'whole_number'"
        )
        .unwrap()
        .unwrap());
    }

    #[pg_test]
    fn an_unusable_customs_message_is_kept_with_its_reason() {
        setup();
        let xml = customs("06", r#"{"SO_TK": "308044805740", "TRANG_THAI_TK": "HUY"}"#, "2026-11-25T10:00:00+07:00");
        Spi::run("ALTER TABLE vasscm.declaration ADD CONSTRAINT test_no_cancel CHECK (status <> 'cancelled')").unwrap();
        receive(&xml);
        assert!(one("SELECT apply_error FROM vasscm.inbox").contains("test_no_cancel"));
        Spi::run("ALTER TABLE vasscm.declaration DROP CONSTRAINT test_no_cancel").unwrap();
        Spi::run("SELECT vasscm.reapply_inbox()").unwrap();
        assert_eq!(one("SELECT coalesce(apply_error, 'none') FROM vasscm.inbox"), "none");
        assert_eq!(one("SELECT status FROM vasscm.declaration"), "cancelled");
    }
}
