//! Customs → port messages: polled from customs or received on a port-side endpoint, verified
//! against customs' certificate, then stored by `vasscm.receive`.

use crate::metrics::Metrics;
use crate::queue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;
use tracing::{info, warn};
use vasscm_core::soap;

/// Verifies and stores one inbound body; returns the Transaction_ID, or why it was refused.
pub async fn handle(db: &Client, customs_cert: Option<&vasscm_dsig::Certificate>, body: &str) -> Result<String, String> {
    let message = if soap::is_soap(body) { soap::unwrap(body).ok_or("SOAP envelope without a message")? } else { body.to_string() };
    let refuse = |why: String| async move {
        if let Err(e) = queue::record_refused(db, body, &why).await {
            warn!(error = %e, "could not log a refused inbound message");
        }
        Err::<String, String>(why)
    };
    let Some(cert) = customs_cert else {
        return refuse("customs.certificate_file is not configured: inbound messages cannot be verified".into()).await;
    };
    if let Err(e) = vasscm_dsig::verify(&message, &cert.x509) {
        return refuse(format!("customs signature refused: {e}")).await;
    }
    let mut attempt = 0;
    loop {
        match queue::receive(db, &message).await {
            Ok(tid) => return Ok(tid),
            Err(e) if attempt < TRANSIENT_RETRIES && is_transient(&e) => {
                attempt += 1;
                warn!(error = %e, attempt, "storing an inbound message hit a transient database error; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                return refuse(format!("not stored: {}", e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string()))).await
            }
        }
    }
}

/// How often a deadlock or serialization failure while storing an inbound message is retried.
const TRANSIENT_RETRIES: u64 = 5;

/// Deadlocks, serialization failures and lock timeouts: the same call may succeed again.
fn is_transient(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("40") || c.code() == "55P03")
}

/// Polls `url` for customs → port messages until the process stops.
pub async fn poll(db: Arc<Client>, cert: Option<vasscm_dsig::Certificate>, url: String, interval: Duration, stats: Arc<Metrics>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    loop {
        match client.get(&url).send().await {
            Ok(resp) if resp.status().as_u16() == 200 => match resp.text().await {
                Ok(body) => match handle(&db, cert.as_ref(), &body).await {
                    Ok(tid) => {
                        stats.inbound_stored.fetch_add(1, Ordering::Relaxed);
                        info!(%tid, "inbound message stored");
                        continue; // there may be more: poll again at once
                    }
                    Err(why) => {
                        stats.inbound_refused.fetch_add(1, Ordering::Relaxed);
                        warn!(%why, "inbound message refused")
                    }
                },
                Err(e) => warn!(error = %e, "reading an inbound message failed"),
            },
            Ok(resp) if resp.status().as_u16() == 204 => {}
            Ok(resp) => warn!(status = resp.status().as_u16(), "polling customs failed"),
            Err(e) => warn!(error = %e, "polling customs failed"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// Serves `POST /` on `addr` for customs to push messages.
pub async fn listen(db: Arc<Client>, cert: Option<vasscm_dsig::Certificate>, addr: String, stats: Arc<Metrics>) -> std::io::Result<()> {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    type Shared = (Arc<Client>, Option<vasscm_dsig::Certificate>, Arc<Metrics>);
    async fn push(State(state): State<Arc<Shared>>, body: String) -> (StatusCode, String) {
        match handle(&state.0, state.1.as_ref(), &body).await {
            Ok(tid) => {
                state.2.inbound_stored.fetch_add(1, Ordering::Relaxed);
                (StatusCode::OK, format!("accepted {tid}\n"))
            }
            Err(why) => {
                state.2.inbound_refused.fetch_add(1, Ordering::Relaxed);
                (StatusCode::BAD_REQUEST, format!("{why}\n"))
            }
        }
    }
    let app = axum::Router::new().route("/", post(push)).with_state(Arc::new((db, cert, stats)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "listening for customs → port messages");
    axum::serve(listener, app).await
}
