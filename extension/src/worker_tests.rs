//! `#[pg_test]`s of the worker's SQL side (claim, order, replies one by one and in batches,
//! failures, the one status function and its history, the open-message index, inbound).

use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::{port_session as setup, text as one};
    use pgrx::prelude::*;

    fn enqueue(container: &str) -> String {
        one(&format!(
            r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{{"MA_HQ": "03CC", "SO_CONTAINER": "{container}"}}')::text"#
        ))
    }

    fn claimed(batch: i32) -> Vec<String> {
        Spi::connect(|c| {
            c.select(&format!("SELECT transaction_id::text FROM vasscm.claim('w1', {batch}, 60) ORDER BY id"), None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect()
        })
    }

    fn reply(tid: &str, kind: &str) -> String {
        let data = if kind == "200" {
            r#"{"Error": [{"ErrorNumber": "0", "ErrorMessage": "OK"}]}"#
        } else {
            r#"{"Error": [{"ErrorNumber": "1203", "ErrorMessage": "Container không có trong danh sách"}]}"#
        };
        one(&format!("SELECT vasscm.build_message('{kind}', '{data}', '{{\"Request_ID\": \"{tid}\"}}')"))
    }

    /// The parsed reply (as vasscm.parse_message gives it) to `tid`.
    fn parsed(tid: &str, kind: &str) -> String {
        one(&format!("SELECT vasscm.parse_message($x${}$x$)::text", reply(tid, kind)))
    }

    fn open_rows() -> String {
        one("SELECT coalesce(string_agg(o.data ->> 'SO_CONTAINER' || ' ' || q.status, ', ' ORDER BY q.outbox_id), '')
               FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id")
    }

    #[pg_test]
    fn replies_are_recorded_in_batches_with_the_verdict_given() {
        setup();
        let a = enqueue("MSKU1234565");
        let b = enqueue("TGHU7654320");
        let c = enqueue("CSQU3054383");
        assert_eq!(claimed(10).len(), 3);
        let wrong = parsed(&a, "200"); // a reply to a, given as c's
        let got = one(&format!(
            "SELECT string_agg(r.transaction_id || '=' || coalesce(r.status, 'none'), ' ' ORDER BY r.transaction_id)
               FROM vasscm.record_replies(ARRAY['{a}', '{b}', '{c}', '{a}']::uuid[],
                                          ARRAY[$j${}$j$, $j${}$j$, $j${wrong}$j$, $j${}$j$]::jsonb[],
                                          ARRAY[200, 200, 200, 200], ARRAY['raw a', 'raw b', 'raw c', 'raw a again'], 5, 10, 60) r",
            parsed(&a, "200"),
            parsed(&b, "299"),
            parsed(&a, "200")
        ));
        let mut want = vec![format!("{a}=accepted"), format!("{a}=accepted"), format!("{b}=rejected"), format!("{c}=queued")];
        want.sort();
        assert_eq!(got, want.join(" "), "a duplicate reply keeps the first answer; c's reply answers another message");
        assert_eq!(
            one(&format!("SELECT last_error FROM vasscm.outbox WHERE transaction_id = '{c}'")),
            format!("reply answers {a}, not this message")
        );
        assert!(one(&format!("SELECT last_error FROM vasscm.outbox WHERE transaction_id = '{b}'")).contains("1203: Container"));
        // the log keeps the bodies as received
        assert_eq!(
            one("SELECT string_agg(kind || ':' || body, ' ' ORDER BY id) FROM vasscm.message_log"),
            "bad_reply:raw c reply:raw a reply:raw b reply:raw a again"
        );
        // settled messages leave the open set; c is queued again for a retry
        assert_eq!(open_rows(), "CSQU3054383 queued");
        // one history row per change, each with its reason
        assert_eq!(
            one(&format!(
                "SELECT string_agg(h.to_status || ' (' || regexp_replace(h.reason, '^enqueued by .*', 'enqueued') || ')', ', ' ORDER BY h.id) FROM vasscm.outbox_history h
                   JOIN vasscm.outbox o ON o.id = h.outbox_id WHERE o.transaction_id = '{b}'"
            )),
            "queued (enqueued), sending (claimed by w1), rejected (rejected by customs: 1203: Container không có trong danh sách)"
        );
    }

    #[pg_test]
    fn every_status_change_goes_through_one_function_with_its_history() {
        setup();
        // no trigger writes the history behind the callers' back
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'vasscm.outbox'::regclass AND tgname LIKE 'outbox_status%'").unwrap(),
            Some(0)
        );
        let a = enqueue("MSKU1234565");
        let b = enqueue("TGHU7654320");
        let id = |t: &str| one(&format!("SELECT id::text FROM vasscm.outbox WHERE transaction_id = '{t}'"));
        let (ia, ib) = (id(&a), id(&b));
        let changed = one(&format!(
            "SELECT string_agg(outbox_id || ' ' || from_status || '>' || to_status, ', ' ORDER BY outbox_id)
               FROM vasscm._set_status(ARRAY[{ia}, {ib}], ARRAY['cancelled', 'dead'], ARRAY['no longer needed', 'gave up'], ARRAY[NULL, 'HTTP 500'])"
        ));
        assert_eq!(changed, format!("{ia} queued>cancelled, {ib} queued>dead"));
        assert_eq!(
            one(&format!("SELECT string_agg(coalesce(last_error, '-'), ' / ' ORDER BY id) FROM vasscm.outbox WHERE id IN ({ia}, {ib})")),
            "- / HTTP 500",
            "NULL keeps the last error"
        );
        assert_eq!(open_rows(), "TGHU7654320 dead", "cancelled leaves the open set, dead stays (it waits for a requeue)");
        // the same status again: no history row
        Spi::run(&format!("SELECT vasscm._set_status({ib}, 'dead', 'still dead')")).unwrap();
        assert_eq!(
            one(&format!(
                "SELECT string_agg(coalesce(from_status, '') || '>' || to_status || ' ' || regexp_replace(reason, '^enqueued by .*', 'enqueued'), ', ' ORDER BY id)
                   FROM vasscm.outbox_history WHERE outbox_id = {ib}"
            )),
            ">queued enqueued, queued>dead gave up"
        );
        // going to 'sending' needs a lease
        let e = crate::test_support::error_of(&format!("SELECT vasscm._set_status(ARRAY[{ib}], ARRAY['sending'], ARRAY['x'])"));
        assert!(e.contains("only under a lease"), "{e}");
        // requeued: back in the open set as queued, with its history
        assert_eq!(one(&format!("SELECT vasscm.requeue({ib})")), "queued");
        assert_eq!(open_rows(), "TGHU7654320 queued");
        assert_eq!(claimed(10), vec![b.clone()]);
        assert_eq!(open_rows(), "TGHU7654320 sending");
        assert_eq!(
            one(&format!("SELECT to_status || ' ' || reason FROM vasscm.outbox_history WHERE outbox_id = {ib} ORDER BY id DESC LIMIT 1")),
            "sending claimed by w1"
        );
    }

    #[pg_test]
    fn signed_messages_are_logged_in_one_statement_compressed() {
        setup();
        let a = enqueue("MSKU1234565");
        let b = enqueue("TGHU7654320");
        let body = "<Signature>".to_string() + &"MIIDdTCCAl2gAwIBAgIUQ9kF".repeat(150) + "</Signature>";
        Spi::run(&format!("SELECT vasscm.record_signed_batch(ARRAY['{a}', '{b}']::uuid[], ARRAY['<a/>', $b${body}$b$])")).unwrap();
        assert_eq!(
            one("SELECT string_agg(transaction_id || ' ' || kind || ' ' || direction, ', ' ORDER BY id) FROM vasscm.message_log"),
            format!("{a} signed out, {b} signed out")
        );
        assert_eq!(one(&format!("SELECT pg_column_compression(body) FROM vasscm.message_log WHERE transaction_id = '{b}'")), "lz4");
        assert_eq!(one(&format!("SELECT body FROM vasscm.message_log WHERE transaction_id = '{b}'")), body);
    }

    #[pg_test]
    fn claims_keep_per_container_order_and_leases() {
        setup();
        let a1 = enqueue("MSKU1234565");
        let b1 = enqueue("TGHU7654320");
        let a2 = enqueue("MSKU1234565");
        assert_eq!(claimed(10), vec![a1.clone(), b1.clone()], "a2 waits for a1");
        assert!(claimed(10).is_empty(), "claimed rows are leased");
        let st = one(&format!("SELECT vasscm.record_reply('{a1}', $x${}$x$)", reply(&a1, "200")));
        assert_eq!(st, "accepted");
        assert_eq!(claimed(10), vec![a2.clone()]);
        // an expired lease (crashed worker) comes back, with the same transaction id
        Spi::run(&format!("UPDATE vasscm.outbox SET lease_until = now() - interval '1 second' WHERE transaction_id = '{b1}'")).unwrap();
        assert_eq!(claimed(10), vec![b1.clone()]);
        let st = one(&format!("SELECT vasscm.record_reply('{b1}', $x${}$x$)", reply(&b1, "299")));
        assert_eq!(st, "rejected");
        assert!(one(&format!("SELECT last_error FROM vasscm.outbox WHERE transaction_id = '{b1}'")).contains("1203: Container"));
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.message_log WHERE kind = 'reply'").unwrap(), Some(2));
    }

    #[pg_test]
    fn follow_ups_wait_for_their_original_to_be_sent() {
        setup();
        Spi::run("SET vasscm.amendment_delay_seconds = 0").unwrap(); // amendments go at once here
        Spi::run(
            "CREATE TABLE moves (id int PRIMARY KEY, ctr text, seal text);
             SELECT vasscm.bind('moves', '14', '{\"MA_HQ\": \"''03CC''\", \"MA_DIA_DIEM\": \"''X''\", \"LOAI_HANG\": \"''NHAP''\",
                 \"SO_CONTAINER\": \"ctr\", \"TRANG_THAI\": \"''F''\", \"SO_NIEM_PHONG\": \"seal\", \"SO_VAN_DON\": \"''BL''\",
                 \"HINH_THUC\": \"''TAU''\", \"THOI_GIAN\": \"''2026-11-25T08:00:00+07:00''\"}', '{INSERT,UPDATE}');
             INSERT INTO moves VALUES (1, 'MSKU1234565', 'S1');
             UPDATE vasscm.outbox SET status = 'dead';
             UPDATE moves SET seal = 'S2';
             UPDATE vasscm.outbox SET order_key = 'separate' WHERE message_type = '16';",
        )
        .unwrap();
        assert!(claimed(10).is_empty(), "the amendment of a dead gate-in waits for it");
        assert_eq!(one("SELECT vasscm.requeue(id) FROM vasscm.outbox WHERE message_type = '14'"), "queued");
        let first = claimed(10);
        assert_eq!(first.len(), 1, "the amendment waits although its order key differs");
        let st = one(&format!("SELECT vasscm.record_reply('{}', $x${}$x$)", first[0], reply(&first[0], "200")));
        assert_eq!(st, "accepted");
        assert_eq!(claimed(10).len(), 1);
    }

    #[pg_test]
    fn failures_back_off_then_give_up() {
        setup();
        let t = enqueue("MSKU1234565");
        assert_eq!(claimed(1), vec![t.clone()]);
        let st = one(&format!("SELECT vasscm.record_failure('{t}', 'connection refused', NULL, NULL, 2, 10, 60)"));
        assert_eq!(st, "queued");
        assert!(claimed(1).is_empty(), "not before next_attempt_at");
        Spi::run(&format!("UPDATE vasscm.outbox SET next_attempt_at = now() WHERE transaction_id = '{t}'")).unwrap();
        assert_eq!(claimed(1), vec![t.clone()]);
        let st = one(&format!("SELECT vasscm.record_failure('{t}', 'HTTP 500', 500, 'oops', 2, 10, 60)"));
        assert_eq!(st, "dead");
        assert_eq!(one(&format!("SELECT vasscm.requeue(id) FROM vasscm.outbox WHERE transaction_id = '{t}'")), "queued");
    }

    #[pg_test]
    fn unusable_replies_are_logged_and_retried() {
        setup();
        let t = enqueue("MSKU1234565");
        claimed(1);
        for (i, bad) in [
            "not xml at all",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><Customs>&a;</Customs>",
            "<Customs><Header/></Customs>",
        ]
        .iter()
        .enumerate()
        {
            Spi::run(&format!("UPDATE vasscm.outbox SET status = 'sending' WHERE transaction_id = '{t}'")).unwrap();
            let st = one(&format!("SELECT vasscm.record_reply('{t}', $x${bad}$x$, 200)"));
            assert_eq!(st, "queued", "bad reply {i}");
        }
        let other = reply("0b7e6a52-33c1-4f0e-9d6c-1c2b3a4d5e6f", "200");
        Spi::run(&format!("UPDATE vasscm.outbox SET status = 'sending' WHERE transaction_id = '{t}'")).unwrap();
        assert_eq!(one(&format!("SELECT vasscm.record_reply('{t}', $x${other}$x$)")), "queued");
        assert!(one(&format!("SELECT last_error FROM vasscm.outbox WHERE transaction_id = '{t}'")).contains("not this message"));
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.message_log WHERE kind = 'bad_reply'").unwrap(), Some(4));
    }

    #[pg_test]
    fn inbound_messages_are_stored_once() {
        setup();
        let m = one(r#"SELECT vasscm.build_message('06', '{"SO_TK": "308044805740", "TRANG_THAI_TK": "TAM_DUNG"}')"#);
        for _ in 0..2 {
            Spi::run(&format!("SELECT vasscm.receive($x${m}$x$)")).unwrap();
        }
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.inbox WHERE message_type = '06'").unwrap(), Some(1));
        let e = crate::test_support::error_of(&format!(
            "SELECT vasscm.receive($x${}$x$)",
            one(r#"SELECT vasscm.build_message('CHECK_BL', '{"MA_HQ": "03CC", "SO_VAN_DON": "B"}')"#)
        ));
        assert!(e.contains("not a customs-to-port message"), "{e}");
    }

    #[pg_test]
    fn only_customs_messages_to_this_port_are_received() {
        setup();
        let data = r#"{"SO_TK": "308044805740", "TRANG_THAI_TK": "TAM_DUNG"}"#;
        let built = |header: &str| one(&format!("SELECT vasscm.build_message('06', '{data}', '{header}')"));
        let other_port = built(r#"{"Receiver_Code": "OTHERPORT"}"#);
        let e = crate::test_support::error_of(&format!("SELECT vasscm.receive($x${other_port}$x$)"));
        assert!(e.contains("Receiver_Code OTHERPORT is not this port"), "{e}");
        let not_customs = built(r#"{"Sender_Code": "SOMEONE"}"#);
        let e = crate::test_support::error_of(&format!("SELECT vasscm.receive($x${not_customs}$x$)"));
        assert!(e.contains("Sender_Code SOMEONE is not customs"), "{e}");
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.inbox").unwrap(), Some(0));
        // The default (TCHQ) holds on a fresh connection too (read through the library, not current_setting).
        assert_eq!(one("SELECT vasscm._customs_sender_codes()"), "TCHQ");
        // A second customs sender code is configurable.
        Spi::run("SET vasscm.customs_sender_code = 'TCHQ, SOMEONE'").unwrap();
        Spi::run(&format!("SELECT vasscm.receive($x${not_customs}$x$)")).unwrap();
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM vasscm.inbox").unwrap(), Some(1));
        // The verified document is applied; the body as received is what the log keeps.
        let m = built("{}");
        Spi::run(&format!("SELECT vasscm.receive($x${m}$x$, $x$<signed>{m}</signed>$x$)")).unwrap();
        assert_eq!(
            Spi::get_one::<bool>("SELECT bool_or(body LIKE '<signed>%') FROM vasscm.message_log WHERE kind = 'inbound'").unwrap(),
            Some(true)
        );
    }

    #[pg_test]
    fn refused_bodies_are_logged_bounded_with_their_digest() {
        setup();
        Spi::run("SELECT vasscm.record_refused(repeat('x', 5000000), 'customs signature refused: not signed', '192.0.2.7')").unwrap();
        let (len, note) = Spi::get_two::<i32, String>("SELECT length(body), note FROM vasscm.message_log WHERE kind = 'refused'").unwrap();
        assert_eq!(len, Some(4096));
        let note = note.unwrap_or_default();
        let sha = one("SELECT encode(sha256(convert_to(repeat('x', 5000000), 'UTF8')), 'hex')");
        assert!(note.contains(&sha) && note.contains("5000000 bytes") && note.contains("192.0.2.7"), "{note}");
    }
}
