//! Prometheus `/metrics` and `/healthz`, served on loopback by default (`[metrics] listen`).
//!
//! Counters and latency histograms are kept in-process (atomics); queue figures are read from
//! the database at each scrape. `/healthz` answers 200 while the database answers and the HSM
//! has not failed, 503 with the reason otherwise (so, during a database restart, 503 until the
//! worker can reach it again).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use deadpool_postgres::Pool;
use tracing::info;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A latency histogram in the Prometheus text format.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {n}");
    }
}

/// The worker's own figures.
#[derive(Default)]
pub struct Metrics {
    /// Messages whose send ended, by the outbox status it left them in.
    outcomes: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Signing on the token (C_Sign and the XML-DSig around it).
    pub sign: Histogram,
    /// Sending to customs until the reply (or the failure).
    pub send: Histogram,
    /// Inbound messages stored.
    pub inbound_stored: AtomicU64,
    /// Inbound messages refused (signature, unreadable, not storable).
    pub inbound_refused: AtomicU64,
    /// Set when the HSM failed: the worker is stopping.
    pub hsm_failed: AtomicBool,
    /// Messages being processed now.
    pub in_flight: AtomicU64,
}

impl Metrics {
    /// Counts a message whose send ended in `status` (accepted, rejected, queued for retry, dead…).
    pub fn outcome(&self, status: &str) {
        let mut m = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(status.to_string()).or_default() += 1;
    }

    /// The Prometheus text exposition, with the queue read from the database.
    async fn render(&self, db: &Pool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP vasscm_worker_messages_total Messages whose send ended, by resulting outbox status.\n# TYPE vasscm_worker_messages_total counter");
        for (status, n) in self.outcomes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "vasscm_worker_messages_total{{status=\"{status}\"}} {n}");
        }
        self.sign.render(&mut out, "vasscm_worker_sign_seconds", "Time to sign a message on the token.");
        self.send.render(&mut out, "vasscm_worker_send_seconds", "Time from sending a message to customs' reply or the failure.");
        let _ = writeln!(out, "# HELP vasscm_worker_inbound_total Customs → port messages, stored or refused.\n# TYPE vasscm_worker_inbound_total counter");
        let _ = writeln!(out, "vasscm_worker_inbound_total{{result=\"stored\"}} {}", self.inbound_stored.load(Ordering::Relaxed));
        let _ = writeln!(out, "vasscm_worker_inbound_total{{result=\"refused\"}} {}", self.inbound_refused.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP vasscm_worker_in_flight Messages being signed or sent now.\n# TYPE vasscm_worker_in_flight gauge");
        let _ = writeln!(out, "vasscm_worker_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP vasscm_worker_hsm_up 1 while the token signs.\n# TYPE vasscm_worker_hsm_up gauge");
        let _ = writeln!(out, "vasscm_worker_hsm_up {}", u8::from(!self.hsm_failed.load(Ordering::Relaxed)));
        let queue = tokio::time::timeout(Duration::from_secs(5), async {
            db.get()
                .await
                .map_err(|e| e.to_string())?
                .query(
                    "SELECT status, count(*)::float8, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM vasscm.outbox_open
                      WHERE status IN ('invalid', 'pending_approval', 'queued', 'sending', 'dead') GROUP BY status",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".into()));
        match queue {
            Ok(rows) => {
                let _ = writeln!(out, "# HELP vasscm_outbox_messages Messages in the outbox not yet settled, by status.\n# TYPE vasscm_outbox_messages gauge");
                for r in &rows {
                    let _ = writeln!(out, "vasscm_outbox_messages{{status=\"{}\"}} {}", r.get::<_, String>(0), r.get::<_, f64>(1));
                }
                let _ = writeln!(out, "# HELP vasscm_outbox_oldest_seconds Age of the oldest message in each status.\n# TYPE vasscm_outbox_oldest_seconds gauge");
                for r in &rows {
                    let _ = writeln!(out, "vasscm_outbox_oldest_seconds{{status=\"{}\"}} {}", r.get::<_, String>(0), r.get::<_, f64>(2));
                }
                let _ = writeln!(out, "# HELP vasscm_database_up 1 while the database answers.\n# TYPE vasscm_database_up gauge\nvasscm_database_up 1");
            }
            Err(_) => {
                let _ = writeln!(out, "# HELP vasscm_database_up 1 while the database answers.\n# TYPE vasscm_database_up gauge\nvasscm_database_up 0");
            }
        }
        out
    }

    /// Why the worker is not healthy, if it is not.
    async fn unhealthy(&self, db: &Pool) -> Option<String> {
        if self.hsm_failed.load(Ordering::Relaxed) {
            return Some("the HSM failed; the worker is stopping".into());
        }
        let probe = async {
            let client = db.get().await.map_err(crate::db::DbError::from)?;
            client.simple_query("SELECT 1").await.map_err(crate::db::DbError::from)
        };
        match tokio::time::timeout(Duration::from_secs(5), probe).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("database: no answer within 5 s".into()),
        }
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the process stops.
pub async fn serve(metrics: Arc<Metrics>, db: Pool, addr: String) -> std::io::Result<()> {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    type Shared = (Arc<Metrics>, Pool);
    async fn metrics_page(State(s): State<Arc<Shared>>) -> ([(&'static str, &'static str); 1], String) {
        ([("Content-Type", "text/plain; version=0.0.4")], s.0.render(&s.1).await)
    }
    async fn health(State(s): State<Arc<Shared>>) -> (StatusCode, String) {
        match s.0.unhealthy(&s.1).await {
            None => (StatusCode::OK, "ok\n".into()),
            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        }
    }
    let app = axum::Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(health))
        .with_state(Arc::new((metrics, db)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "serving /metrics and /healthz");
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(800));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("x_sum 20.0308\n"), "{out}");
    }
}
