//! The worker's database connections: pools (deadpool-postgres) that replace a connection that
//! died, the `LISTEN` connection that comes back after a restart, and the line between "the
//! database is unreachable now, wait and retry" and "the database refused this".

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use futures_util::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tracing::{info, warn};

/// A database call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached now (down, restarting, the connection lost): the same
    /// call may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error.
    #[error("database: {0}")]
    Sql(String),
    /// `[database] url` is not usable.
    #[error("[database] url: {0}")]
    Config(String),
}

impl DbError {
    /// True when waiting for the database may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

/// SQLSTATEs of a database going away or not yet back: connection exceptions (class 08),
/// admin / crash shutdown, "the database system is starting up", too many connections.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let text = format!("{}: {}", db.code().code(), db.message());
            return if unavailable_code(db.code().code()) { DbError::Unavailable(text) } else { DbError::Sql(text) };
        }
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let text = match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        if e.is_closed() || io || text.starts_with("error connecting") || text.starts_with("timeout") {
            DbError::Unavailable(text)
        } else {
            DbError::Sql(text)
        }
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => DbError::from(e),
            PoolError::Timeout(t) => DbError::Unavailable(format!("no connection within the timeout ({t:?})")),
            other => DbError::Unavailable(other.to_string()),
        }
    }
}

/// Reads `[database] url` (libpq key=value or URI), with a connect timeout when none is set.
pub fn pg_config(url: &str) -> Result<tokio_postgres::Config, DbError> {
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| DbError::Config(e.to_string()))?;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    Ok(cfg)
}

/// A pool of up to `size` connections. With `async_commit`, the connections do not wait for
/// the WAL flush at commit (`synchronous_commit = off`): for the worker's own idempotent writes
/// only, where a lost commit means a re-send with the same Transaction_ID.
pub fn pool(url: &str, size: usize, async_commit: bool) -> Result<Pool, DbError> {
    let mut cfg = pg_config(url)?;
    if async_commit {
        let options = match cfg.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c synchronous_commit=off"),
            _ => "-c synchronous_commit=off".to_string(),
        };
        cfg.options(&options);
    }
    let manager = Manager::from_config(cfg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| DbError::Config(e.to_string()))
}

/// Exponential back-off between attempts to reach the database: 100 ms doubling to 5 s.
#[derive(Debug, Clone)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_millis(100))
    }
}

impl Backoff {
    /// The delay to wait now; the next one is twice as long (at most 5 s).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

/// Runs `call` until it succeeds, fails with a database error, or the database stays
/// unreachable for `limit`; waits with [`Backoff`] in between.
pub async fn retry<T, F, Fut>(what: &str, limit: Duration, mut call: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let until = tokio::time::Instant::now() + limit;
    let mut backoff = Backoff::default();
    let mut warned = false;
    loop {
        match call().await {
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < until => {
                if !warned {
                    warn!("{what}: {e}; retrying until the database is back");
                    warned = true;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
            other => return other,
        }
    }
}

/// Keeps a connection that `LISTEN`s on `channel`, waking `notify` at each notification, and
/// re-establishes it after the database went away (waking `notify` then too: notifications sent
/// meanwhile are lost, so the claimer should look once).
pub async fn listen(cfg: tokio_postgres::Config, channel: &'static str, notify: Arc<Notify>) {
    let mut backoff = Backoff::default();
    let mut lost: Option<String> = None;
    loop {
        match cfg.connect(NoTls).await {
            Ok((client, mut conn)) => {
                let (done_tx, done_rx) = tokio::sync::oneshot::channel::<String>();
                let wake = notify.clone();
                tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                    let mut why = "the server closed the connection".to_string();
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                            Ok(_) => {}
                            Err(e) => {
                                why = e.to_string();
                                break;
                            }
                        }
                    }
                    let _ = done_tx.send(why);
                });
                match client.batch_execute(&format!("LISTEN {channel}")).await {
                    Ok(()) => {
                        if let Some(why) = lost.take() {
                            info!(%channel, "LISTEN re-established after the database connection was lost ({why})");
                        }
                        backoff = Backoff::default();
                        notify.notify_one();
                        let why = done_rx.await.unwrap_or_else(|_| "the connection task ended".into());
                        warn!(%channel, "the LISTEN connection was lost: {why}; reconnecting");
                        lost = Some(why);
                    }
                    Err(e) => {
                        let e = DbError::from(e);
                        warn!(%channel, "LISTEN failed: {e}; retrying");
                        lost.get_or_insert(e.to_string());
                    }
                }
                drop(client);
            }
            Err(e) => {
                if lost.is_none() {
                    warn!(%channel, "cannot connect for LISTEN: {}; retrying", DbError::from(e));
                }
                lost.get_or_insert_with(|| "cannot connect".into());
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_codes_are_told_from_sql_errors() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "42883", "P0001", "40001", "3D000"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
