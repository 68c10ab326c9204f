//! The send path of one claimed message: sign on the token, log the signed message, send it to
//! customs, verify and parse the reply, record the outcome. [`Sender`] holds what it needs,
//! shared by every message in flight; the signed-message log and the replies are written in
//! batches with the other messages in flight ([`crate::batch`]).

use crate::batch::{all_failed, Batcher, Written};
use crate::config::RetryPolicy;
use crate::db;
use crate::hsm::Hsm;
use crate::metrics::Metrics;
use crate::queue::{self, Claimed, Reply};
use crate::transport::{Outcome, Transport};
use crate::trust;
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{error, info, warn};
use vasscm_core::{Catalogues, Limits};
use vasscm_dsig::{Certificate, Profile};

/// At most this many messages per batched statement.
pub const BATCH_MAX: usize = 64;

/// How long recording a message's outcome waits for an unreachable database; after that the
/// lease expires and the message is re-sent with the same Transaction_ID.
pub const RECORD_RETRY: Duration = Duration::from_secs(60);

/// Why the worker must stop after a message (the HSM failed); the message was put back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(
    /// Why.
    pub String,
);

/// Everything sending a message needs: the database pool, the token, the signature profile,
/// the customs transport and certificate, the retry policy and the metrics.
pub struct Sender {
    /// The worker's pool (asynchronous commit: every write here is idempotent).
    pub db: Pool,
    /// The token.
    pub hsm: Arc<Hsm>,
    /// Signature algorithm and canonicalization.
    pub profile: Profile,
    /// The HTTP client for customs.
    pub transport: Arc<Transport>,
    /// Customs' certificate: replies are trusted only when signed with it.
    pub customs_cert: Certificate,
    /// How failed sends are retried.
    pub retry: RetryPolicy,
    /// The worker's metrics.
    pub stats: Arc<Metrics>,
    /// One permit per token session: only that many messages are signed at once (the others
    /// wait here, not as threads queued on the token's sessions).
    pub signing: Arc<Semaphore>,
    /// The catalogue replies are parsed with (the one built in: 200 / 299 never change).
    pub catalogues: Arc<Catalogues>,
    /// Logs signed messages, several per statement.
    pub signed_log: Arc<SignedLog>,
    /// Records verified replies, several per statement.
    pub replies: Arc<Replies>,
}

/// The batch writer of the signed-message log: (Transaction_ID, signed body) → logged.
pub type SignedLog = Batcher<(String, String), ()>;
/// The batch writer of the replies: a verified, parsed reply → the message's new status.
pub type Replies = Batcher<Reply, Option<String>>;

/// The batch writers of the signed-message log and of the replies, on `db`, replies retried
/// under `retry`.
pub fn batchers(db: &Pool, retry: RetryPolicy) -> (Arc<SignedLog>, Arc<Replies>) {
    let pool = db.clone();
    let signed = Batcher::start(BATCH_MAX, move |items: Vec<(String, String)>| -> Written<()> {
        let pool = pool.clone();
        Box::pin(async move {
            match queue::record_signed_batch(&pool, &items).await {
                Ok(()) => items.iter().map(|_| Ok(())).collect(),
                Err(e) => all_failed(items.len(), &e),
            }
        })
    });
    let pool = db.clone();
    let replies = Batcher::start(BATCH_MAX, move |items: Vec<Reply>| -> Written<Option<String>> {
        let pool = pool.clone();
        Box::pin(async move {
            match queue::record_replies(&pool, &items, &retry).await {
                Ok(statuses) => statuses.into_iter().map(Ok).collect(),
                Err(e) => all_failed(items.len(), &e),
            }
        })
    });
    (Arc::new(signed), Arc::new(replies))
}

impl Sender {
    /// Signs, logs, sends and records one message. An `Err` means the worker must stop (the
    /// HSM failed); the message has then been put back in the queue. While the database is
    /// unreachable, each record waits for it (up to [`RECORD_RETRY`]).
    pub async fn process(&self, m: &Claimed) -> Result<(), Fatal> {
        let tid = m.transaction_id.as_str();
        let Some(signed) = self.sign(m).await? else { return Ok(()) };
        let item = (m.transaction_id.clone(), signed.clone());
        if let Err(e) = db::retry("logging the signed message", RECORD_RETRY, || self.signed_log.write(item.clone())).await {
            warn!(%tid, "could not log the signed message, not sending it now: {e}");
            let _ = queue::release(&self.db, tid, &e.to_string()).await;
            return Ok(());
        }
        let started = Instant::now();
        let outcome = self.transport.send(&signed).await;
        self.stats.send.observe(started.elapsed());
        let result = self.record(tid, &outcome).await;
        if let Ok(Some(status)) = &result {
            self.stats.outcome(status);
        }
        match result {
            Ok(status) => {
                info!(%tid, message_type = %m.message_type, attempt = m.attempts, status = status.as_deref().unwrap_or("?"), "sent")
            }
            Err(e) => warn!(%tid, "could not record the outcome (the lease will expire and it is re-sent with the same id): {e}"),
        }
        Ok(())
    }

    /// Signs `m` on the token. `Ok(None)`: it cannot be signed (recorded as a failure);
    /// `Err`: the token failed (the message was put back).
    async fn sign(&self, m: &Claimed) -> Result<Option<String>, Fatal> {
        let tid = m.transaction_id.as_str();
        let (xml, hsm, profile) = (m.message.clone(), self.hsm.clone(), self.profile);
        let permit = self.signing.acquire().await.map_err(|e| Fatal(e.to_string()))?;
        let started = Instant::now();
        let signed = tokio::task::spawn_blocking(move || vasscm_dsig::sign(&xml, hsm.as_ref(), hsm.certificate(), profile))
            .await
            .map_err(|e| Fatal(e.to_string()))?;
        drop(permit);
        self.stats.sign.observe(started.elapsed());
        match signed {
            Ok(s) => Ok(Some(s)),
            Err(vasscm_dsig::DsigError::Signer(why)) => {
                let reason = format!("HSM unavailable: {why}");
                if let Err(e) = self.release("putting the message back", tid, &reason).await {
                    error!(%tid, "could not release: {e}");
                }
                Err(Fatal(reason))
            }
            Err(e) => {
                let why = format!("cannot sign: {e}");
                if let Err(e) = self.record_failure("recording a failure", tid, &why, None, None).await {
                    warn!(%tid, "could not record that it cannot be signed: {e}");
                }
                Ok(None)
            }
        }
    }

    /// Records what came back from customs; returns the message's new status.
    async fn record(&self, tid: &str, outcome: &Outcome) -> Result<Option<String>, db::DbError> {
        match outcome {
            Outcome::Reply { status, body } => match trust::verify_customs(body, &self.customs_cert) {
                Ok(trusted) => match vasscm_core::parse(&self.catalogues, &trusted.document, &Limits::default()) {
                    // the verdict as verified and parsed here, recorded with the other replies
                    Ok(parsed) => {
                        let reply = Reply {
                            transaction_id: tid.to_string(),
                            parsed: parsed.to_json().to_string(),
                            http_status: i32::from(*status),
                            body: body.clone(),
                        };
                        db::retry("recording the reply", RECORD_RETRY, || self.replies.write(reply.clone())).await
                    }
                    // not a message this worker can read: the database parses it and records why
                    // it is unusable
                    Err(_) => {
                        db::retry("recording the reply", RECORD_RETRY, || {
                            queue::record_reply(&self.db, tid, &trusted.document, i32::from(*status), body, &self.retry)
                        })
                        .await
                    }
                },
                Err(why) => {
                    let why = format!("reply not trusted: {why}");
                    self.record_failure("recording a refused reply", tid, &why, Some(i32::from(*status)), Some(body)).await
                }
            },
            Outcome::Failure { error, status, body } => {
                self.record_failure("recording a failure", tid, error, status.map(i32::from), body.as_deref()).await
            }
        }
    }

    /// Records a failed attempt under the retry policy, waiting for the database (`what` names
    /// the wait in the log).
    async fn record_failure(
        &self,
        what: &str,
        tid: &str,
        why: &str,
        status: Option<i32>,
        body: Option<&str>,
    ) -> Result<Option<String>, db::DbError> {
        db::retry(what, RECORD_RETRY, || queue::record_failure(&self.db, tid, why, status, body, &self.retry)).await
    }

    /// Puts a claimed message back without counting the attempt, waiting for the database
    /// (`what` names the wait in the log).
    pub async fn release(&self, what: &str, tid: &str, why: &str) -> Result<(), db::DbError> {
        db::retry(what, RECORD_RETRY, || queue::release(&self.db, tid, why)).await
    }
}
