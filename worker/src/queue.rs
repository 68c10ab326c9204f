//! The worker's calls into the database (`extension/sql/worker.sql`), each on a connection
//! from the pool (a connection that died is replaced by the pool).

use crate::config::RetryPolicy;
use crate::db::DbError;
use deadpool_postgres::Pool;

/// A claimed message.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The idempotency key.
    pub transaction_id: String,
    /// Form or project code.
    pub message_type: String,
    /// The unsigned XML.
    pub message: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Claims up to `n` messages for `name`, each leased for `lease_seconds`.
pub async fn claim(db: &Pool, name: &str, n: i64, lease_seconds: i32) -> Result<Vec<Claimed>, DbError> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    let rows = db
        .get()
        .await?
        .query(
            "SELECT transaction_id::text, message_type, coalesce(message, ''), attempts
               FROM vasscm.claim($1, $2::int, $3::int)",
            &[&name, &n, &lease_seconds],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed { transaction_id: r.try_get(0)?, message_type: r.try_get(1)?, message: r.try_get(2)?, attempts: r.try_get(3)? })
        })
        .collect()
}

/// Logs the signed message before it leaves.
pub async fn record_signed(db: &Pool, tid: &str, signed: &str) -> Result<(), DbError> {
    db.get().await?.execute("SELECT vasscm.record_signed($1::text::uuid, $2)", &[&tid, &signed]).await?;
    Ok(())
}

/// Records customs' verified reply (`document`, what was signed) with the raw body received
/// (`received`); returns the new status. A reply the database finds unusable (not a 200 / 299
/// answering this message from customs to this port) is a failure retried under `retry`, like
/// any other.
pub async fn record_reply(
    db: &Pool,
    tid: &str,
    document: &str,
    status: i32,
    received: &str,
    retry: &RetryPolicy,
) -> Result<Option<String>, DbError> {
    // TODO(issue 16, SQL): needs `vasscm.record_reply(transaction_id uuid, reply text,
    // http_status int, signed text, max_attempts int, base_delay_seconds float8,
    // max_delay_seconds float8)`, the three new parameters passed on to each
    // `vasscm.record_failure` call inside it (see /tmp/h16-sql.md). Until the extension has it,
    // this call fails with "function vasscm.record_reply(…) does not exist".
    let row = db
        .get()
        .await?
        .query_one(
            "SELECT vasscm.record_reply($1::text::uuid, $2, $3, $4, $5, $6, $7)",
            &[&tid, &document, &status, &received, &retry.max_attempts, &retry.base_delay_seconds, &retry.max_delay_seconds],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Records a failure; re-queues the message under `retry` (or marks it `dead`) and returns
/// the new status.
pub async fn record_failure(
    db: &Pool,
    tid: &str,
    error: &str,
    status: Option<i32>,
    body: Option<&str>,
    retry: &RetryPolicy,
) -> Result<Option<String>, DbError> {
    let row = db
        .get()
        .await?
        .query_one(
            "SELECT vasscm.record_failure($1::text::uuid, $2, $3, $4, $5, $6, $7)",
            &[&tid, &error, &status, &body, &retry.max_attempts, &retry.base_delay_seconds, &retry.max_delay_seconds],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Puts a claimed message back without counting the attempt.
pub async fn release(db: &Pool, tid: &str, reason: &str) -> Result<(), DbError> {
    db.get().await?.execute("SELECT vasscm.release($1::text::uuid, $2)", &[&tid, &reason]).await?;
    Ok(())
}

/// Stores a verified customs → port message: `document` (the signed content, verified) and
/// `received` (the body as it arrived). Returns its Transaction_ID.
pub async fn receive(db: &Pool, document: &str, received: &str) -> Result<String, DbError> {
    let row = db.get().await?.query_one("SELECT vasscm.receive($1, $2)::text", &[&document, &received]).await?;
    Ok(row.try_get(0)?)
}

/// Logs an inbound message that was refused (bad signature, unreadable), with where it came
/// from (the peer address, or the polled URL).
pub async fn record_refused(db: &Pool, body: &str, why: &str, source: &str) -> Result<(), DbError> {
    db.get().await?.execute("SELECT vasscm.record_refused($1, $2, $3)", &[&body, &why, &source]).await?;
    Ok(())
}
