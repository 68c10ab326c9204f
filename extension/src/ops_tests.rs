//! `#[pg_test]`s of operations (sql/operations.sql): expired leases coming back, the monitoring
//! views (queue depth, oldest waiting, stuck messages, error rates, latency) and the job table
//! with its clear refusal when pg_cron is not there.

use pgrx::prelude::*;

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::test_support::{count, error_of, port_session as setup, text};
    use pgrx::prelude::*;

    fn enqueue(container: &str, mode: &str) -> String {
        text(&format!(
            r#"SELECT vasscm.enqueue('CHECK_CONTAINER', '{{"MA_HQ": "03CC", "SO_CONTAINER": "{container}"}}', '{mode}')::text"#
        ))
    }

    fn claimed(batch: i32, lease: i32) -> Vec<String> {
        Spi::connect(|c| {
            c.select(&format!("SELECT transaction_id::text FROM vasscm.claim('ops', {batch}, {lease}) ORDER BY id"), None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect()
        })
    }

    fn accept(tid: &str) -> String {
        let reply = text(&format!(
            r#"SELECT vasscm.build_message('200', '{{"Error": [{{"ErrorNumber": "0", "ErrorMessage": "OK"}}]}}', '{{"Request_ID": "{tid}"}}')"#
        ));
        text(&format!("SELECT vasscm.record_reply('{tid}', $x${reply}$x$)"))
    }

    #[pg_test]
    fn expired_leases_come_back_to_the_queue() {
        setup();
        let t = enqueue("MSKU1234565", "auto");
        assert_eq!(claimed(10, 60), vec![t.clone()]);
        assert_eq!(count("SELECT vasscm.requeue_expired()::bigint"), 0, "the lease still runs");
        Spi::run(&format!("UPDATE vasscm.outbox SET lease_until = now() - interval '1 second' WHERE transaction_id = '{t}'")).unwrap();
        assert_eq!(count("SELECT vasscm.requeue_expired()::bigint"), 1);
        assert_eq!(
            text(&format!("SELECT status || ' ' || (lease_until IS NULL) || ' ' || coalesce(claimed_by, '-') FROM vasscm.outbox WHERE transaction_id = '{t}'")),
            "queued true -"
        );
        // claimed again (a second attempt, the same Transaction_ID), and answered
        assert_eq!(claimed(10, 60), vec![t.clone()]);
        assert_eq!(count(&format!("SELECT attempts::bigint FROM vasscm.outbox WHERE transaction_id = '{t}'")), 2);
        assert_eq!(accept(&t), "accepted");
        assert_eq!(count("SELECT vasscm.requeue_expired()::bigint"), 0);
    }

    #[pg_test]
    fn queue_depth_and_oldest_waiting() {
        setup();
        let a = enqueue("MSKU1234565", "auto");
        let _b = enqueue("TGHU7654320", "auto");
        let _m = enqueue("CSQU3054383", "manual");
        assert_eq!(claimed(1, 60), vec![a.clone()]);
        assert_eq!(
            text("SELECT string_agg(status || '=' || messages, ' ' ORDER BY status) FROM vasscm.queue_depth WHERE message_type = 'CHECK_CONTAINER'"),
            "pending_approval=1 queued=1 sending=1"
        );
        assert_eq!(text("SELECT transaction_id::text FROM vasscm.oldest_waiting"), a);
        assert_eq!(accept(&a), "accepted");
        // settled in the last 24 hours: counted apart, and no longer the oldest waiting
        assert_eq!(
            text("SELECT string_agg(status || '=' || messages, ' ' ORDER BY status) FROM vasscm.queue_depth WHERE message_type = 'CHECK_CONTAINER'"),
            "accepted=1 pending_approval=1 queued=1"
        );
        assert_ne!(text("SELECT transaction_id::text FROM vasscm.oldest_waiting"), a);
    }

    #[pg_test]
    fn stuck_messages_follow_the_setting() {
        setup();
        let t = enqueue("MSKU1234565", "auto");
        assert_eq!(count("SELECT count(*) FROM vasscm.stuck_messages"), 0);
        Spi::run(&format!("UPDATE vasscm.outbox SET updated_at = now() - interval '20 minutes' WHERE transaction_id = '{t}'")).unwrap();
        assert_eq!(text("SELECT transaction_id::text FROM vasscm.stuck_messages"), t, "15 minutes by default");
        Spi::run("SELECT vasscm.set_setting('stuck_after_minutes', '30')").unwrap();
        assert_eq!(count("SELECT count(*) FROM vasscm.stuck_messages"), 0);
    }

    #[pg_test]
    fn error_rates_and_latency_of_the_last_hour() {
        setup();
        let t = enqueue("MSKU1234565", "auto");
        claimed(1, 60);
        Spi::run(&format!("SELECT vasscm.record_signed('{t}', '<signed/>')")).unwrap();
        assert_eq!(text(&format!("SELECT vasscm.record_failure('{t}', 'connection refused', NULL, NULL, 5, 0, 0)")), "queued");
        Spi::run(&format!("UPDATE vasscm.outbox SET next_attempt_at = now() WHERE transaction_id = '{t}'")).unwrap();
        claimed(1, 60);
        Spi::run(&format!("SELECT vasscm.record_signed('{t}', '<signed/>')")).unwrap();
        assert_eq!(accept(&t), "accepted");
        assert_eq!(
            text("SELECT accepted || ' ' || rejected || ' ' || send_errors || ' ' || error_rate FROM vasscm.error_rates WHERE period = '1 hour'"),
            "1 0 1 0.5000"
        );
        assert_eq!(count("SELECT messages FROM vasscm.latency WHERE message_type = 'CHECK_CONTAINER'"), 1);
        assert_eq!(count("SELECT count(*) FROM vasscm.latency WHERE total_ms_p99 >= send_ms_p99 AND sign_ms_p50 >= 0"), 1);
    }

    #[pg_test]
    fn jobs_have_stable_names_and_pg_cron_is_required() {
        setup();
        assert_eq!(
            text("SELECT string_agg(name, ' ' ORDER BY name) FROM vasscm.job WHERE name IN ('vasscm-requeue', 'vasscm-audit-seal', 'vasscm-partitions')"),
            "vasscm-audit-seal vasscm-partitions vasscm-requeue"
        );
        assert_eq!(count("SELECT count(*) FROM vasscm.job WHERE name NOT LIKE 'vasscm-%'"), 0);
        // the test cluster has no pg_cron: a clear refusal naming what to do
        let e = error_of("SELECT vasscm.schedule_jobs()");
        assert!(e.contains("pg_cron is not loaded"), "{e}");
    }
}
