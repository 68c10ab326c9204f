//! `run`: drains the outbox until SIGTERM. Claims queued messages in batches when half the
//! slots are free, hands each to a [`Sender`] task, waits for the database when it is away,
//! and stops (every message in flight finished or put back) on SIGTERM or when the HSM fails.

use crate::commands::customs_certificate;
use crate::config::{Config, InboundMode};
use crate::error::WorkerError;
use crate::hsm::Hsm;
use crate::queue::{self, Claimed};
use crate::send::{self, Fatal, Sender};
use crate::{db, inbound, metrics, transport};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tracing::{error, info, warn};

/// Messages being processed by this worker. One claimed again meanwhile (its lease expired
/// while the database was unreachable) is not processed twice at once: it is marked, and put
/// back once the processing here ends (`vasscm.release` acts only if the claim is still open).
#[derive(Default)]
struct InFlight(Mutex<HashMap<String, bool>>);

impl InFlight {
    /// Starts processing `tid`; false (and `tid` marked as claimed again) if it is in flight.
    fn start(&self, tid: &str) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(tid) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                m.insert(tid.to_string(), false);
                true
            }
        }
    }

    /// Ends processing `tid`; true if it was claimed again meanwhile.
    fn end(&self, tid: &str) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(tid).unwrap_or(false)
    }
}

/// What every message task shares with the claim loop.
struct Shared {
    sender: Sender,
    in_flight: InFlight,
    /// The first fatal error (the HSM failed) stops the loop.
    fatal: mpsc::Sender<String>,
    /// Woken when a slot frees or a NOTIFY arrives: claim again.
    wake: Arc<Notify>,
}

impl Shared {
    /// Processes `m` in its own task; the slot (`permit`) is freed when it ends.
    fn spawn(self: &Arc<Self>, m: Claimed, permit: OwnedSemaphorePermit) {
        let shared = self.clone();
        tokio::spawn(async move {
            let stats = &shared.sender.stats;
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let outcome = shared.sender.process(&m).await;
            if let Err(Fatal(why)) = &outcome {
                stats.hsm_failed.store(true, Ordering::Relaxed);
                let _ = shared.fatal.try_send(why.clone());
            }
            if shared.in_flight.end(&m.transaction_id) {
                // put back with the reason it was put back for, if it was (the HSM failed)
                let tid = m.transaction_id.as_str();
                let why = outcome.err().map_or_else(|| "claimed again while this worker still processed it: put back".into(), |f| f.0);
                if let Err(e) = shared.sender.release("putting a message claimed twice back", tid, &why).await {
                    warn!(%tid, "could not put back a message claimed twice (its lease will expire): {e}");
                }
            }
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            shared.wake.notify_one(); // a slot is free: claim again at once
        });
    }
}

/// Starts receiving customs → port messages as `[inbound] mode` says.
fn start_inbound(cfg: &Config, sender: &Sender) -> Result<(), WorkerError> {
    let inbound = &cfg.inbound;
    match inbound.mode {
        InboundMode::Off => {}
        InboundMode::Poll => {
            // `Config::load` made sure poll_url is set
            let url = inbound.poll_url.clone().unwrap_or_default();
            let interval = Duration::from_millis(inbound.poll_interval_ms.unwrap_or(5000));
            let ipool = db::pool(&cfg.database.url, 2, false)?;
            let (cert, transport, stats) = (sender.customs_cert.clone(), sender.transport.clone(), sender.stats.clone());
            tokio::spawn(inbound::poll(ipool, cert, transport, url, interval, stats));
        }
        InboundMode::Listen => {
            // `Config::load` made sure listen is set
            let addr = inbound.listen.clone().unwrap_or_default();
            let ipool = db::pool(&cfg.database.url, 4, false)?;
            let (cert, stats) = (sender.customs_cert.clone(), sender.stats.clone());
            let (limit, max_body) = (inbound.max_refused_per_minute, inbound.max_body_bytes);
            tokio::spawn(async move {
                if let Err(e) = inbound::listen(ipool, cert, addr, stats, limit, max_body).await {
                    error!("inbound endpoint: {e}");
                }
            });
        }
    }
    Ok(())
}

/// Drains the outbox until SIGTERM (or Ctrl-C); an `Err` when it stopped on a fatal error.
pub async fn run(cfg: &Config) -> Result<(), WorkerError> {
    let customs_cert = customs_certificate(cfg)?;
    let hsm = Arc::new(Hsm::open(&cfg.signing)?);
    let profile = cfg.signing.profile();
    let transport = Arc::new(transport::Transport::new(&cfg.customs)?);
    let notify = Arc::new(Notify::new());
    // Up to 8 connections for messages in flight (their log and reply writes go through the
    // two batch writers; failures and releases use their own) and two for claiming and
    // /metrics; the pool replaces a connection that died. Every worker write is idempotent (a lost commit
    // only means a re-send with the same Transaction_ID, which customs de-duplicates), so the
    // worker's own commits need not wait for the WAL flush. Captures from the TOS and inbound
    // messages keep synchronous commit.
    let pool = db::pool(&cfg.database.url, cfg.worker.concurrency.min(8) + 2, true)?;
    tokio::spawn(db::listen(db::pg_config(&cfg.database.url)?, "vasscm_outbox", notify.clone()));
    let stats = Arc::new(metrics::Metrics::default());
    if let Some(addr) = cfg.metrics.listen.clone() {
        let (m, mdb) = (stats.clone(), pool.clone());
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(m, mdb, addr.clone()).await {
                warn!(%addr, "cannot serve /metrics and /healthz: {e} (the worker goes on without them)");
            }
        });
    }
    let name = cfg.worker.name.clone().unwrap_or_else(|| {
        format!("{}-{}", std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim(), std::process::id())
    });
    let mechanism = hsm.mechanism(profile.signature).map(|m| m.describe()).unwrap_or_default();
    info!(worker = %name, certificate = %hsm.certificate().subject(), %mechanism, url = %cfg.customs.url, "worker started");

    let catalogues = vasscm_core::Catalogue::from_json(vasscm_core::BUILTIN_CATALOGUE_V1)
        .map(|c| Arc::new(vasscm_core::Catalogues::single(c)))
        .map_err(|e| WorkerError::Internal(format!("the built-in catalogue: {e}")))?;
    let (signed_log, replies) = send::batchers(&pool, cfg.worker.retry);
    let signing = Arc::new(tokio::sync::Semaphore::new(hsm.session_count()));
    let sender = Sender {
        db: pool.clone(),
        hsm,
        profile,
        transport,
        customs_cert,
        retry: cfg.worker.retry,
        stats,
        signing,
        catalogues,
        signed_log,
        replies,
    };
    start_inbound(cfg, &sender)?;

    let concurrency = cfg.worker.concurrency;
    let sem = Arc::new(Semaphore::new(concurrency));
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<String>(1);
    let shared = Arc::new(Shared { sender, in_flight: InFlight::default(), fatal: fatal_tx, wake: notify.clone() });
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(WorkerError::Signal)?;
    let poll = Duration::from_millis(cfg.worker.poll_interval_ms);
    let mut fatal: Option<String> = None;
    // Set while the database is unreachable: claims are retried with back-off.
    let mut outage: Option<db::Backoff> = None;
    loop {
        if let Ok(why) = fatal_rx.try_recv() {
            fatal = Some(why);
            break;
        }
        // Claim when at least half the slots are free: one claim serves several messages
        // (a claim per freed slot would make the claiming backend the bottleneck).
        let free = sem.available_permits();
        let mut wait = poll;
        let batch = if free > 0 && free >= concurrency.div_ceil(2) {
            match queue::claim(&pool, &name, free as i64, cfg.worker.lease_seconds).await {
                Ok(b) => {
                    if outage.take().is_some() {
                        info!("the database is reachable again: claiming");
                    }
                    b
                }
                Err(e) if e.is_unavailable() => {
                    let backoff = outage.get_or_insert_with(|| {
                        warn!("{e}: waiting for the database (messages in flight are recorded once it is back)");
                        db::Backoff::default()
                    });
                    wait = backoff.next_delay();
                    Vec::new()
                }
                Err(e) => {
                    fatal = Some(format!("claiming failed: {e}"));
                    break;
                }
            }
        } else {
            Vec::new()
        };
        let claimed = batch.len();
        for m in batch {
            if !shared.in_flight.start(&m.transaction_id) {
                continue; // claimed again (lease expired) while in flight here: marked, put back when done
            }
            let permit = sem.clone().acquire_owned().await.map_err(|e| WorkerError::Internal(e.to_string()))?;
            shared.spawn(m, permit);
        }
        if claimed > 0 && sem.available_permits() >= concurrency.div_ceil(2) {
            continue;
        }
        tokio::select! {
            biased;
            why = fatal_rx.recv() => { fatal = why; break; }
            _ = notify.notified(), if outage.is_none() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = sigterm.recv() => { info!("SIGTERM: finishing the messages in flight"); break; }
            _ = tokio::signal::ctrl_c() => { info!("interrupted: finishing the messages in flight"); break; }
        }
    }
    let _ = sem.acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX)).await;
    match fatal.or_else(|| fatal_rx.try_recv().ok()) {
        Some(why) => Err(WorkerError::Stopped(why)),
        None => {
            info!("stopped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_claimed_again_while_in_flight_is_marked() {
        let f = InFlight::default();
        assert!(f.start("a"));
        assert!(!f.start("a"), "already in flight");
        assert!(f.start("b"));
        assert!(f.end("a"), "a was claimed again meanwhile");
        assert!(!f.end("b"));
        assert!(!f.end("a"), "no longer in flight");
        assert!(f.start("a"), "can start again once ended");
    }
}
