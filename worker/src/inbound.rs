//! Customs → port messages: polled from customs or received on a port-side endpoint, verified
//! against customs' certificate ([`crate::trust`]), then stored by `vasscm.receive`: the
//! verified document, with the body as received.

use crate::db::{self, DbError};
use crate::metrics::Metrics;
use crate::queue;
use crate::ratelimit::RefusalLimit;
use crate::transport::Transport;
use deadpool_postgres::Pool;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vasscm_dsig::Certificate;

/// How long storing an inbound message waits for an unreachable database before giving up.
const STORE_RETRY: Duration = Duration::from_secs(60);
/// How often a deadlock or serialization failure while storing is retried.
const TRANSIENT_RETRIES: u64 = 5;

/// Why an inbound message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// Refused (signature, unreadable, not storable); logged in `vasscm.message_log`.
    #[error("{0}")]
    Refused(String),
    /// The database is unreachable: the message was neither stored nor refused.
    #[error("{0}")]
    Unavailable(String),
}

/// Verifies and stores one inbound `body` that came from `source`; returns its Transaction_ID.
pub async fn handle(db: &Pool, cert: &Certificate, body: &str, source: &str) -> Result<String, InboundError> {
    let refuse = |why: String| async move {
        if let Err(e) = db::retry("logging a refused inbound message", STORE_RETRY, || queue::record_refused(db, body, &why, source)).await {
            warn!(error = %e, "could not log a refused inbound message");
        }
        InboundError::Refused(why)
    };
    let trusted = match crate::trust::verify_customs(body, cert) {
        Ok(t) => t,
        Err(why) => return Err(refuse(why).await),
    };
    let mut attempt = 0;
    loop {
        match db::retry("storing an inbound message", STORE_RETRY, || queue::receive(db, &trusted.document, body)).await {
            Ok(tid) => return Ok(tid),
            Err(DbError::Sql(e)) if attempt < TRANSIENT_RETRIES && is_transient(&e) => {
                attempt += 1;
                warn!(error = %e, attempt, "storing an inbound message hit a transient database error; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e @ DbError::Unavailable(_)) => return Err(InboundError::Unavailable(e.to_string())),
            Err(e) => return Err(refuse(format!("not stored: {e}")).await),
        }
    }
}

/// Deadlocks, serialization failures and lock timeouts (by SQLSTATE, which
/// [`DbError::Sql`] begins with): the same call may succeed again.
fn is_transient(e: &str) -> bool {
    e.starts_with("40") || e.starts_with("55P03")
}

/// Polls `url` for customs → port messages until the process stops, through the customs
/// transport (its CA file, timeouts and size cap). Polls only while the database answers: a
/// message taken from customs must be storable.
pub async fn poll(db: Pool, cert: Certificate, transport: Arc<Transport>, url: String, interval: Duration, stats: Arc<Metrics>) {
    let mut backoff = db::Backoff::default();
    loop {
        if let Err(e) = db.get().await {
            let e = DbError::from(e);
            warn!(error = %e, "inbound polling waits for the database");
            tokio::time::sleep(backoff.next_delay().max(interval.min(Duration::from_secs(5)))).await;
            continue;
        }
        backoff = db::Backoff::default();
        match transport.fetch(&url).await {
            Ok(Some(body)) => match handle(&db, &cert, &body, &url).await {
                Ok(tid) => {
                    stats.inbound_stored.fetch_add(1, Ordering::Relaxed);
                    info!(%tid, "inbound message stored");
                    continue; // there may be more: poll again at once
                }
                Err(e) => {
                    stats.inbound_refused.fetch_add(1, Ordering::Relaxed);
                    warn!(why = %e, "inbound message not stored")
                }
            },
            Ok(None) => {}
            Err(e) => warn!(error = %e, "polling customs failed"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// What the `listen` endpoint shares between requests.
struct Endpoint {
    db: Pool,
    cert: Certificate,
    stats: Arc<Metrics>,
    limit: RefusalLimit,
    max_body: usize,
}

/// Serves `POST /` on `addr` for customs to push messages. A source whose requests were
/// refused `max_refused_per_minute` times within a minute gets 429 without touching the
/// database; a body over `max_body` bytes gets 413; 503 while the database is unreachable
/// (customs retries).
pub async fn listen(
    db: Pool,
    cert: Certificate,
    addr: String,
    stats: Arc<Metrics>,
    max_refused_per_minute: u32,
    max_body: usize,
) -> std::io::Result<()> {
    use axum::extract::{ConnectInfo, Request, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    async fn push(State(ep): State<Arc<Endpoint>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> (StatusCode, String) {
        if ep.limit.blocked(peer.ip(), Instant::now()) {
            return (StatusCode::TOO_MANY_REQUESTS, "too many refused requests from this address; try again in a minute\n".into());
        }
        let refused = |status: StatusCode, why: String| {
            ep.limit.refused(peer.ip(), Instant::now());
            ep.stats.inbound_refused.fetch_add(1, Ordering::Relaxed);
            (status, format!("{why}\n"))
        };
        let bytes = match axum::body::to_bytes(req.into_body(), ep.max_body).await {
            Ok(b) => b,
            Err(_) => return refused(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {} bytes or unreadable", ep.max_body)),
        };
        let Ok(body) = String::from_utf8(bytes.to_vec()) else {
            return refused(StatusCode::BAD_REQUEST, "the body is not UTF-8".into());
        };
        match handle(&ep.db, &ep.cert, &body, &peer.to_string()).await {
            Ok(tid) => {
                ep.stats.inbound_stored.fetch_add(1, Ordering::Relaxed);
                (StatusCode::OK, format!("accepted {tid}\n"))
            }
            Err(InboundError::Refused(why)) => refused(StatusCode::BAD_REQUEST, why),
            Err(InboundError::Unavailable(why)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        }
    }
    let endpoint = Endpoint { db, cert, stats, limit: RefusalLimit::new(max_refused_per_minute), max_body };
    let app = axum::Router::new().route("/", post(push)).with_state(Arc::new(endpoint));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "listening for customs → port messages");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
}
