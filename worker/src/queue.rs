//! The worker's calls into the database (`extension/sql/worker.sql`), each on a connection
//! from the pool (a connection that died is replaced by the pool).

use crate::config::Worker;
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

/// Claims up to `n` messages.
pub async fn claim(db: &Pool, name: &str, n: i64, cfg: &Worker) -> Result<Vec<Claimed>, DbError> {
    let rows = db
        .get()
        .await?
        .query(
            "SELECT transaction_id::text, message_type, coalesce(message, ''), attempts
               FROM vasscm.claim($1, $2::int, $3::int)",
            &[&name, &(n as i32), &cfg.lease_seconds],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Claimed { transaction_id: r.get(0), message_type: r.get(1), message: r.get(2), attempts: r.get(3) })
        .collect())
}

/// Logs the signed message before it leaves.
pub async fn record_signed(db: &Pool, tid: &str, signed: &str) -> Result<(), DbError> {
    db.get().await?.execute("SELECT vasscm.record_signed($1::text::uuid, $2)", &[&tid, &signed]).await?;
    Ok(())
}

/// Records customs' verified reply (`document`, what was signed) with the raw body received
/// (`received`); returns the new status.
pub async fn record_reply(db: &Pool, tid: &str, document: &str, status: i32, received: &str) -> Result<Option<String>, DbError> {
    let row = db
        .get()
        .await?
        .query_one("SELECT vasscm.record_reply($1::text::uuid, $2, $3, $4)", &[&tid, &document, &status, &received])
        .await?;
    Ok(row.get(0))
}

/// Records a failure; returns the new status.
pub async fn record_failure(
    db: &Pool,
    tid: &str,
    error: &str,
    status: Option<i32>,
    body: Option<&str>,
    cfg: &Worker,
) -> Result<Option<String>, DbError> {
    let row = db
        .get()
        .await?
        .query_one(
            "SELECT vasscm.record_failure($1::text::uuid, $2, $3, $4, $5, $6, $7)",
            &[&tid, &error, &status, &body, &cfg.max_attempts, &cfg.base_delay_seconds, &cfg.max_delay_seconds],
        )
        .await?;
    Ok(row.get(0))
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
    Ok(row.get(0))
}

/// Logs an inbound message that was refused (bad signature, unreadable), with where it came
/// from (the peer address, or the polled URL).
pub async fn record_refused(db: &Pool, body: &str, why: &str, source: &str) -> Result<(), DbError> {
    db.get().await?.execute("SELECT vasscm.record_refused($1, $2, $3)", &[&body, &why, &source]).await?;
    Ok(())
}
