//! The worker's calls into the database (`extension/sql/worker.sql`), each on a connection
//! from the pool (a connection that died is replaced by the pool), as statements prepared once
//! per connection.

use crate::config::RetryPolicy;
use crate::db::DbError;
use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Runs `sql` (prepared once per connection) with `params` on a connection of `db`.
async fn query(db: &Pool, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, DbError> {
    let client = db.get().await?;
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

/// [`query`] for a statement returning one row.
async fn query_one(db: &Pool, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, DbError> {
    query(db, sql, params).await?.pop().ok_or_else(|| DbError::Sql(format!("no row returned by {sql}")))
}

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
    let rows = query(
        db,
        "SELECT transaction_id::text, message_type, coalesce(message, ''), attempts FROM vasscm.claim($1, $2::int, $3::int)",
        &[&name, &n, &lease_seconds],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed { transaction_id: r.try_get(0)?, message_type: r.try_get(1)?, message: r.try_get(2)?, attempts: r.try_get(3)? })
        })
        .collect()
}

/// Logs signed messages (transaction id, signed body) before they leave, in one statement.
pub async fn record_signed_batch(db: &Pool, items: &[(String, String)]) -> Result<(), DbError> {
    let tids: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
    let bodies: Vec<&str> = items.iter().map(|i| i.1.as_str()).collect();
    query(db, "SELECT vasscm.record_signed_batch($1::text[]::uuid[], $2::text[])", &[&tids, &bodies]).await?;
    Ok(())
}

/// A reply the worker verified and parsed, to be recorded with others.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The message it answers.
    pub transaction_id: String,
    /// The verified document as `vasscm.parse_message` gives it (`{"header": …, "data": …}`).
    pub parsed: String,
    /// The HTTP status it came with.
    pub http_status: i32,
    /// The body as received (what the log keeps).
    pub body: String,
}

/// Records several verified and parsed replies in one statement (`vasscm.record_replies`); the
/// new status of each message, in the replies' order (`None`: no such message). A reply the
/// database finds unusable (not a 200 / 299 answering its message from customs to this port)
/// is a failure retried under `retry`.
pub async fn record_replies(db: &Pool, replies: &[Reply], retry: &RetryPolicy) -> Result<Vec<Option<String>>, DbError> {
    let tids: Vec<&str> = replies.iter().map(|r| r.transaction_id.as_str()).collect();
    let parsed: Vec<&str> = replies.iter().map(|r| r.parsed.as_str()).collect();
    let statuses: Vec<i32> = replies.iter().map(|r| r.http_status).collect();
    let bodies: Vec<&str> = replies.iter().map(|r| r.body.as_str()).collect();
    let rows = query(
        db,
        "SELECT transaction_id::text, status
           FROM vasscm.record_replies($1::text[]::uuid[], $2::text[]::jsonb[], $3::int[], $4::text[], $5, $6, $7)",
        &[&tids, &parsed, &statuses, &bodies, &retry.max_attempts, &retry.base_delay_seconds, &retry.max_delay_seconds],
    )
    .await?;
    let mut by_tid = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        by_tid.insert(r.try_get::<_, String>(0)?, r.try_get::<_, Option<String>>(1)?);
    }
    Ok(tids.iter().map(|t| by_tid.get(*t).cloned().flatten()).collect())
}

/// Records customs' verified reply (`document`, what was signed) with the raw body received
/// (`received`), parsing it in the database; returns the new status. For a reply the worker
/// could not parse itself: the database records why it is unusable (a failure retried under
/// `retry`, like any other).
pub async fn record_reply(
    db: &Pool,
    tid: &str,
    document: &str,
    status: i32,
    received: &str,
    retry: &RetryPolicy,
) -> Result<Option<String>, DbError> {
    let row = query_one(
        db,
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
    let row = query_one(
        db,
        "SELECT vasscm.record_failure($1::text::uuid, $2, $3, $4, $5, $6, $7)",
        &[&tid, &error, &status, &body, &retry.max_attempts, &retry.base_delay_seconds, &retry.max_delay_seconds],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// Puts a claimed message back without counting the attempt.
pub async fn release(db: &Pool, tid: &str, reason: &str) -> Result<(), DbError> {
    query(db, "SELECT vasscm.release($1::text::uuid, $2)", &[&tid, &reason]).await?;
    Ok(())
}

/// Stores a verified customs → port message: `document` (the signed content, verified) and
/// `received` (the body as it arrived). Returns its Transaction_ID.
pub async fn receive(db: &Pool, document: &str, received: &str) -> Result<String, DbError> {
    let row = query_one(db, "SELECT vasscm.receive($1, $2)::text", &[&document, &received]).await?;
    Ok(row.try_get(0)?)
}

/// Logs an inbound message that was refused (bad signature, unreadable), with where it came
/// from (the peer address, or the polled URL).
pub async fn record_refused(db: &Pool, body: &str, why: &str, source: &str) -> Result<(), DbError> {
    query(db, "SELECT vasscm.record_refused($1, $2, $3)", &[&body, &why, &source]).await?;
    Ok(())
}
