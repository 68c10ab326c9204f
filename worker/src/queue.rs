//! The worker's calls into the database (`extension/sql/worker.sql`).

use crate::config::Worker;
use tokio_postgres::Client;

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
pub async fn claim(db: &Client, name: &str, n: i64, cfg: &Worker) -> Result<Vec<Claimed>, tokio_postgres::Error> {
    let rows = db
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
pub async fn record_signed(db: &Client, tid: &str, signed: &str) -> Result<(), tokio_postgres::Error> {
    db.execute("SELECT vasscm.record_signed($1::text::uuid, $2)", &[&tid, &signed]).await.map(|_| ())
}

/// Records a reply; returns the new status.
pub async fn record_reply(db: &Client, tid: &str, reply: &str, status: i32) -> Result<Option<String>, tokio_postgres::Error> {
    let row = db.query_one("SELECT vasscm.record_reply($1::text::uuid, $2, $3)", &[&tid, &reply, &status]).await?;
    Ok(row.get(0))
}

/// Records a failure; returns the new status.
pub async fn record_failure(
    db: &Client,
    tid: &str,
    error: &str,
    status: Option<i32>,
    body: Option<&str>,
    cfg: &Worker,
) -> Result<Option<String>, tokio_postgres::Error> {
    let row = db
        .query_one(
            "SELECT vasscm.record_failure($1::text::uuid, $2, $3, $4, $5, $6, $7)",
            &[&tid, &error, &status, &body, &cfg.max_attempts, &cfg.base_delay_seconds, &cfg.max_delay_seconds],
        )
        .await?;
    Ok(row.get(0))
}

/// Puts a claimed message back without counting the attempt.
pub async fn release(db: &Client, tid: &str, reason: &str) -> Result<(), tokio_postgres::Error> {
    db.execute("SELECT vasscm.release($1::text::uuid, $2)", &[&tid, &reason]).await.map(|_| ())
}

/// Stores a verified customs → port message.
pub async fn receive(db: &Client, message: &str) -> Result<String, tokio_postgres::Error> {
    let row = db.query_one("SELECT vasscm.receive($1)::text", &[&message]).await?;
    Ok(row.get(0))
}

/// Logs an inbound message that was refused (bad signature, unreadable).
pub async fn record_refused(db: &Client, body: &str, why: &str) -> Result<(), tokio_postgres::Error> {
    db.execute("SELECT vasscm.record_refused($1, $2)", &[&body, &why]).await.map(|_| ())
}
