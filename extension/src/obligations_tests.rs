//! `#[pg_test]`s of the port's obligations (sql/obligations.sql): YARD_MAP full and incremental,
//! CANCEL_PASSED for gate-outs only, vessel matching (IMO, call sign, name; manual matches
//! kept), legal deadlines of gate-outs with their one-time alerts, and the refusals of
//! DISCHARGE_DONE / discrepancy reports without an expected list.

use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::{count, error_of, port_session, text};
    use pgrx::prelude::*;

    fn setup() {
        port_session();
        Spi::run("SET vasscm.place_code = '03CCC01'").unwrap();
    }

    /// A container gate-out (21) of `minutes_ago`, as the TOS reports it; its Transaction_ID.
    fn gate_out(container: &str, minutes_ago: i32) -> String {
        text(&format!(
            r#"SELECT vasscm.enqueue('21', jsonb_set(jsonb_set((SELECT example FROM vasscm.catalogue_message WHERE code = '21'),
                   '{{SO_CONTAINER}}', to_jsonb('{container}'::text)),
                   '{{THOI_GIAN}}', to_jsonb(to_char((now() - interval '{minutes_ago} minutes') AT TIME ZONE 'Asia/Ho_Chi_Minh',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"+07:00"'))))::text"#
        ))
    }

    #[pg_test]
    fn yard_map_full_then_only_what_changed() {
        setup();
        Spi::run(
            "CREATE TABLE tos_yard (block_code text, block_name text, capacity_teu int, used_teu int);
             INSERT INTO tos_yard VALUES ('A01', 'Bãi A1', 1200, 815), ('CFS1', 'Kho CFS 1', 300, 120);",
        )
        .unwrap();
        let full = text("SELECT vasscm.report_yard_map('tos_yard', true)::text");
        assert_eq!(
            text(&format!("SELECT status || ' ' || (data ->> 'LOAI_CAP_NHAT') || ' ' || jsonb_array_length(data -> 'LIST_BAI') FROM vasscm.outbox WHERE transaction_id = '{full}'")),
            "queued TOAN_BO 2"
        );
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = 'YARD_MAP'"), 1);
        // nothing changed: no message
        assert_eq!(text("SELECT coalesce(vasscm.report_yard_map('tos_yard')::text, 'none')"), "none");
        assert_eq!(count("SELECT count(*) FROM vasscm.outbox WHERE message_type = 'YARD_MAP'"), 1);
        // a block changed, one added, one removed
        Spi::run(
            "UPDATE tos_yard SET used_teu = 900 WHERE block_code = 'A01'; DELETE FROM tos_yard WHERE block_code = 'CFS1';
             INSERT INTO tos_yard VALUES ('B02', 'Bãi B2', 500, 0);",
        )
        .unwrap();
        let delta = text("SELECT vasscm.report_yard_map('tos_yard')::text");
        assert_eq!(
            text(&format!(
                "SELECT (data ->> 'LOAI_CAP_NHAT') || ': ' || (SELECT string_agg((i ->> 'MA_BAI') || ' ' || (i ->> 'THAO_TAC_BAI'), ', ' ORDER BY i ->> 'MA_BAI')
                        FROM jsonb_array_elements(data -> 'LIST_BAI') i) FROM vasscm.outbox WHERE transaction_id = '{delta}'"
            )),
            "THAY_DOI: A01 SUA, B02 THEM, CFS1 XOA"
        );
        let e = error_of("SELECT vasscm.report_yard_map('pg_class')");
        assert!(e.contains(r#"pg_class has no column "block_code""#), "{e}");
    }

    #[pg_test]
    fn cancel_passed_is_for_gate_outs_that_count() {
        setup();
        let g = gate_out("OBLU1000012", 5);
        let c = text(&format!("SELECT vasscm.cancel_passed('{g}', 'xe quay lại cảng')::text"));
        assert_eq!(
            text(&format!("SELECT message_type || ' ' || status || ' ' || (original_transaction_id = '{g}') || ' ' || (data ->> 'LY_DO')
                             FROM vasscm.outbox WHERE transaction_id = '{c}'")),
            "CANCEL_PASSED queued true xe quay lại cảng"
        );
        // it waits for its gate-out to be sent first
        let claimed = text("SELECT string_agg(message_type, ' ' ORDER BY id) FROM vasscm.claim('t', 10, 60)");
        assert_eq!(claimed, "21");
        let other = text(r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{"MA_HQ": "03CC", "SO_CONTAINER": "TGHU7654320"}')::text"#);
        let e = error_of(&format!("SELECT vasscm.cancel_passed('{other}', 'x')"));
        assert!(e.contains("is not a gate-out message"), "{e}");
        let e = error_of("SELECT vasscm.cancel_passed(gen_random_uuid(), 'x')");
        assert!(e.contains("is not a gate-out message"), "{e}");
    }

    #[pg_test]
    fn vessels_match_by_imo_call_sign_or_name_and_manual_matches_stay() {
        setup();
        assert_eq!(text("SELECT vasscm._vessel_name('M/V  Sai-Gon Star.')"), "SAIGONSTAR");
        assert_eq!(text("SELECT vasscm._vessel_call(' 9321483 / 245n ')"), "9321483/245N");
        Spi::run(
            "INSERT INTO vasscm.customs_vessel (vessel_call, vessel_code, voyage, imo, call_sign, vessel_name, eta, listed_at, listed_by) VALUES
                 ('9321483/245N', '9321483', '245N', '9321483', '3FZA5', 'EVER GIVEN', now() + interval '1 day', now(), gen_random_uuid()),
                 ('XVAB/12S', 'XVAB', '12S', NULL, 'XVAB', 'SAI GON STAR', now() + interval '2 days', now(), gen_random_uuid()),
                 ('VNHP/7N', 'VNHP', '7N', NULL, NULL, 'M/V Hai Phong Express', now() + interval '3 days', now(), gen_random_uuid());
             CREATE TABLE tos_visit (visit_id text, imo text, call_sign text, vessel_name text, eta timestamptz);
             INSERT INTO tos_visit VALUES
                 ('V1', '9321483', NULL, 'Ever Given', now() + interval '1 day 2 hours'),
                 ('V2', NULL, 'XVAB', 'Saigon Star', now() + interval '2 days'),
                 ('V3', NULL, NULL, 'HAI PHONG EXPRESS', now() + interval '3 days'),
                 ('V4', NULL, NULL, 'EVER GIVEN', now() + interval '30 days');",
        )
        .unwrap();
        assert_eq!(count("SELECT vasscm.match_vessels('tos_visit')::bigint"), 3);
        assert_eq!(
            text("SELECT string_agg(vessel_call || '=' || visit_id || ' ' || method || ' ' || confidence, ', ' ORDER BY vessel_call) FROM vasscm.vessel_match"),
            "9321483/245N=V1 imo 1.00, VNHP/7N=V3 name 0.60, XVAB/12S=V2 call_sign 0.90"
        );
        assert_eq!(count("SELECT vasscm.match_vessels('tos_visit')::bigint"), 0, "nothing new");
        // an operator knows better: kept by the next matching, until cleared
        Spi::run("SELECT vasscm.set_vessel_match('vnhp/7n', 'V9')").unwrap();
        assert_eq!(count("SELECT vasscm.match_vessels('tos_visit')::bigint"), 0);
        assert_eq!(text("SELECT visit_id || ' ' || method FROM vasscm.vessel_match WHERE vessel_call = 'VNHP/7N'"), "V9 manual");
        Spi::run("SELECT vasscm.set_vessel_match('VNHP/7N', NULL)").unwrap();
        assert_eq!(count("SELECT vasscm.match_vessels('tos_visit')::bigint"), 1);
        let e = error_of("SELECT vasscm.set_vessel_match('NOPE/1', 'V1')");
        assert!(e.contains("customs announced no vessel call NOPE/1"), "{e}");
    }

    #[pg_test]
    fn gate_outs_not_accepted_in_time_are_alerted_once() {
        setup();
        let late = gate_out("OBLU1000028", 20);
        let _on_time = gate_out("OBLU1000033", 5);
        assert_eq!(
            text("SELECT string_agg(reference || ' ' || state, ', ') FROM vasscm._deadlines_of_messages WHERE kind = 'gate_out'"),
            "OBLU1000028 overdue",
            "import: 15 minutes"
        );
        assert_eq!(count("SELECT vasscm.refresh_deadline_alerts()::bigint"), 1);
        assert_eq!(count("SELECT vasscm.refresh_deadline_alerts()::bigint"), 0, "alerted once");
        // a gate-out declined by an operator is a decision, not a missed deadline
        Spi::run(&format!("SELECT vasscm._set_status(id, 'cancelled', 'test') FROM vasscm.outbox WHERE transaction_id = '{late}'")).unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm._deadlines_of_messages WHERE kind = 'gate_out'"), 0);
    }

    #[pg_test]
    fn vessel_reports_need_an_expected_list() {
        setup();
        for f in ["SELECT vasscm.report_discharge_done('9321483/245N')", "SELECT vasscm.report_discrepancies('9321483/245N')"] {
            let e = error_of(f);
            assert!(e.contains("customs sent no expected list (form 01 / 02) for vessel call 9321483/245N"), "{f}: {e}");
        }
        assert_eq!(count("SELECT count(*) FROM vasscm.discrepancies('9321483/245N')"), 0);
    }
}
