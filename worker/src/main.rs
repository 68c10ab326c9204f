//! `vasscm-worker`: drains the vasscm outbox. Claims queued messages (lease, SKIP LOCKED,
//! per-container order), signs each on the HSM through PKCS#11, sends it to customs, and
//! records every reply; receives customs → port messages. One server signs for the port.
//!
//! Usage: `vasscm-worker run|check|sign --config FILE` (see README, "Worker").

mod config;
mod db;
mod hsm;
mod inbound;
mod mechanism;
mod metrics;
mod queue;
mod ratelimit;
mod transport;
mod trust;

use config::{Config, ConfigError};
use db::DbError;
use deadpool_postgres::Pool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tracing::{error, info, warn};
use vasscm_dsig::{Canonicalization, Certificate, Profile, SignatureAlgorithm};

/// Everything that stops the worker, each with a clear message.
#[derive(Debug, thiserror::Error)]
enum WorkerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("HSM: {0}")]
    Hsm(#[from] hsm::HsmError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("{0}")]
    Other(String),
}

/// How long recording a message's outcome waits for an unreachable database; after that the
/// lease expires and the message is re-sent with the same Transaction_ID.
const RECORD_RETRY: Duration = Duration::from_secs(60);

fn usage() -> ExitCode {
    eprintln!("usage: vasscm-worker run|check|sign|bench-sign --config FILE\n  run         drain the outbox until SIGTERM\n  check       open the token, make and verify a test signature, read the database; print what was found\n  sign        sign the XML on standard input, print it\n  bench-sign  signing rate of the token (C_Sign with the chosen mechanism), one thread per session, 5 s");
    ExitCode::from(64)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // cryptoki logs an error for each mechanism of C_GetMechanismList it does not know:
        // noise, not errors (the worker reads the three it may use).
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,cryptoki::mechanism=off".into()))
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args: Vec<String> = std::env::args().collect();
    let (Some(cmd), Some(flag), Some(path)) = (args.get(1), args.get(2), args.get(3)) else { return usage() };
    if flag != "--config" {
        return usage();
    }
    let cfg = match Config::load(&PathBuf::from(path)) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(78);
        }
    };
    let result = match cmd.as_str() {
        "run" => run(cfg).await,
        "check" => check(cfg).await,
        "sign" => sign_stdin(cfg),
        "bench-sign" => bench_sign(cfg),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::from(match e {
                WorkerError::Hsm(_) => 69,
                WorkerError::Config(_) => 78,
                _ => 1,
            })
        }
    }
}

fn profile(cfg: &Config) -> Result<Profile, WorkerError> {
    Ok(Profile {
        signature: SignatureAlgorithm::from_setting(&cfg.signing.signature_algorithm)
            .ok_or_else(|| WorkerError::Other(format!("unknown signature_algorithm {:?}", cfg.signing.signature_algorithm)))?,
        canonicalization: Canonicalization::from_setting(&cfg.signing.canonicalization)
            .ok_or_else(|| WorkerError::Other(format!("unknown canonicalization {:?}", cfg.signing.canonicalization)))?,
    })
}

/// Customs' certificate, which every reply and inbound message must be signed with.
fn customs_certificate(cfg: &Config) -> Result<Certificate, WorkerError> {
    let f = cfg.customs.certificate_file.as_ref().ok_or(ConfigError::Required {
        key: "[customs] certificate_file",
        why: "customs' replies and inbound messages are verified against it, and nothing unverified is recorded",
    })?;
    let bytes = std::fs::read(f).map_err(|e| WorkerError::Other(format!("customs certificate {}: {e}", f.display())))?;
    Certificate::from_bytes(&bytes).map_err(|e| WorkerError::Other(format!("customs certificate {}: {e}", f.display())))
}

fn sign_stdin(cfg: Config) -> Result<(), WorkerError> {
    let hsm = hsm::Hsm::open(&cfg.signing)?;
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut xml).map_err(|e| WorkerError::Other(e.to_string()))?;
    let signed = vasscm_dsig::sign(&xml, &hsm, hsm.certificate(), profile(&cfg)?).map_err(|e| WorkerError::Other(e.to_string()))?;
    print!("{signed}");
    Ok(())
}

/// Signatures per second of the token with the configured algorithm and mechanism, one thread
/// per session for 5 s. Fails when the token cannot sign at all.
fn bench_sign(cfg: Config) -> Result<(), WorkerError> {
    let hsm = Arc::new(hsm::Hsm::open(&cfg.signing)?);
    let algorithm = profile(&cfg)?.signature;
    let mechanism = hsm.mechanism(algorithm).map(|m| m.describe()).unwrap_or_default();
    let data = [0x5au8; 1024];
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let threads: Vec<_> = (0..hsm.session_count())
        .map(|i| {
            let hsm = hsm.clone();
            std::thread::spawn(move || {
                let (mut n, mut failed, mut first_error) = (0u64, 0u64, None);
                while std::time::Instant::now() < until {
                    match hsm.sign_on(i, algorithm, &data) {
                        Ok(_) => n += 1,
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                (n, failed, first_error)
            })
        })
        .collect();
    let (mut total, mut failed, mut first_error) = (0u64, 0u64, None);
    for t in threads {
        let (n, f, e) = t.join().map_err(|_| WorkerError::Other("a benchmark thread panicked".into()))?;
        total += n;
        failed += f;
        first_error = first_error.or(e);
    }
    if failed > 0 || total == 0 {
        return Err(WorkerError::Other(format!(
            "the token could not sign: {failed} of {} signatures failed; first error: {}",
            total + failed,
            first_error.unwrap_or_else(|| "none (no signature made in 5 s)".into())
        )));
    }
    println!("{} sessions: {:.0} signatures/s ({mechanism})", hsm.session_count(), total as f64 / 5.0);
    Ok(())
}

/// Opens the token, makes one real signature and verifies it against the certificate, reads
/// customs' certificate and the queue. Any failure is an error (non-zero exit).
async fn check(cfg: Config) -> Result<(), WorkerError> {
    let hsm = hsm::Hsm::open(&cfg.signing)?;
    let algorithm = profile(&cfg)?.signature;
    let token = hsm.token();
    println!("token {:?} in slot {} ({}): key found, certificate {}", token.label, token.slot, token.model, hsm.certificate().subject());
    if let Some(m) = hsm.mechanism(algorithm) {
        println!("signing mechanism: {}", m.describe());
    }
    hsm.self_test(algorithm)?;
    println!("test signature ({}) made on the token and verified against the certificate", cfg.signing.signature_algorithm);
    let customs = customs_certificate(&cfg)?;
    println!("customs certificate: {}", customs.subject());
    let pool = db::pool(&cfg.database.url, 1, false)?;
    let rows = pool
        .get()
        .await
        .map_err(DbError::from)?
        .query("SELECT status, count(*) FROM vasscm.outbox GROUP BY status ORDER BY status", &[])
        .await
        .map_err(DbError::from)?;
    for row in rows {
        let (s, n): (String, i64) = (row.get(0), row.get(1));
        println!("outbox {s}: {n}");
    }
    Ok(())
}

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

async fn run(cfg: Config) -> Result<(), WorkerError> {
    let customs_cert = customs_certificate(&cfg)?;
    let hsm = Arc::new(hsm::Hsm::open(&cfg.signing)?);
    let profile = profile(&cfg)?;
    let transport = Arc::new(transport::Transport::new(&cfg.customs)?);
    let notify = Arc::new(Notify::new());
    // One connection per message in flight (up to 8) and two for claiming and /metrics; the
    // pool replaces a connection that died. Every worker write is idempotent (a lost commit
    // only means a re-send with the same Transaction_ID, which customs de-duplicates), so the
    // worker's own commits need not wait for the WAL flush. Captures from the TOS and inbound
    // messages keep synchronous commit.
    let pool = db::pool(&cfg.database.url, cfg.worker.concurrency.min(8) + 2, true)?;
    tokio::spawn(db::listen(db::pg_config(&cfg.database.url)?, "vasscm_outbox", notify.clone()));
    let stats = Arc::new(metrics::Metrics::default());
    if cfg.metrics.listen != "off" && !cfg.metrics.listen.is_empty() {
        let (m, addr, mdb) = (stats.clone(), cfg.metrics.listen.clone(), pool.clone());
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

    match cfg.inbound.mode.as_deref().unwrap_or("off") {
        "off" => {}
        "poll" => {
            let url = cfg.inbound.poll_url.clone().ok_or_else(|| WorkerError::Other("[inbound] poll needs poll_url".into()))?;
            let interval = Duration::from_millis(cfg.inbound.poll_interval_ms.unwrap_or(5000));
            let ipool = db::pool(&cfg.database.url, 2, false)?;
            tokio::spawn(inbound::poll(ipool, customs_cert.clone(), transport.clone(), url, interval, stats.clone()));
        }
        "listen" => {
            let addr = cfg.inbound.listen.clone().ok_or_else(|| WorkerError::Other("[inbound] listen needs listen".into()))?;
            let ipool = db::pool(&cfg.database.url, 4, false)?;
            let (cert, m, limit, max_body) =
                (customs_cert.clone(), stats.clone(), cfg.inbound.max_refused_per_minute, cfg.inbound.max_body_bytes);
            tokio::spawn(async move {
                if let Err(e) = inbound::listen(ipool, cert, addr, m, limit, max_body).await {
                    error!("inbound endpoint: {e}");
                }
            });
        }
        other => return Err(WorkerError::Other(format!("[inbound] mode must be off, poll or listen, not {other:?}"))),
    }

    let concurrency = cfg.worker.concurrency;
    let sem = Arc::new(Semaphore::new(concurrency));
    let in_flight = Arc::new(InFlight::default());
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(1);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| WorkerError::Other(format!("cannot handle SIGTERM: {e}")))?;
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
            match queue::claim(&pool, &name, free as i64, &cfg.worker).await {
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
            if !in_flight.start(&m.transaction_id) {
                continue; // claimed again (lease expired) while in flight here: marked, put back when done
            }
            let permit = sem.clone().acquire_owned().await.map_err(|e| WorkerError::Other(e.to_string()))?;
            let (db, hsm, transport, cert, wcfg, fatal_tx, wake, stats, in_flight) = (
                pool.clone(),
                hsm.clone(),
                transport.clone(),
                customs_cert.clone(),
                cfg.worker.clone(),
                fatal_tx.clone(),
                notify.clone(),
                stats.clone(),
                in_flight.clone(),
            );
            tokio::spawn(async move {
                stats.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let outcome = process(&db, &hsm, profile, &transport, &cert, &wcfg, &m, &stats).await;
                if let Err(why) = &outcome {
                    stats.hsm_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = fatal_tx.try_send(why.clone());
                }
                if in_flight.end(&m.transaction_id) {
                    // put back with the reason it was put back for, if it was (the HSM failed)
                    let tid = m.transaction_id.as_str();
                    let why = outcome.err().unwrap_or_else(|| "claimed again while this worker still processed it: put back".into());
                    if let Err(e) = db::retry("putting a message claimed twice back", RECORD_RETRY, || queue::release(&db, tid, &why)).await {
                        warn!(%tid, "could not put back a message claimed twice (its lease will expire): {e}");
                    }
                }
                stats.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                drop(permit);
                wake.notify_one(); // a slot is free: claim again at once
            });
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
    let _ = sem.acquire_many(concurrency as u32).await;
    match fatal.or_else(|| fatal_rx.try_recv().ok()) {
        Some(why) => Err(WorkerError::Other(format!("stopped: {why}; unsent messages stay queued"))),
        None => {
            info!("stopped");
            Ok(())
        }
    }
}

/// Signs, logs, sends and records one message. An `Err` means the worker must stop (the HSM
/// failed); the message has then been put back in the queue. While the database is
/// unreachable, each record waits for it (up to [`RECORD_RETRY`]).
#[allow(clippy::too_many_arguments)]
async fn process(
    db: &Pool,
    hsm: &Arc<hsm::Hsm>,
    profile: Profile,
    transport: &transport::Transport,
    customs_cert: &Certificate,
    wcfg: &config::Worker,
    m: &queue::Claimed,
    stats: &metrics::Metrics,
) -> Result<(), String> {
    let tid = m.transaction_id.as_str();
    let xml = m.message.clone();
    let h = hsm.clone();
    let started = std::time::Instant::now();
    let signed = tokio::task::spawn_blocking(move || vasscm_dsig::sign(&xml, h.as_ref(), h.certificate(), profile))
        .await
        .map_err(|e| e.to_string())?;
    stats.sign.observe(started.elapsed());
    let signed = match signed {
        Ok(s) => s,
        Err(vasscm_dsig::DsigError::Signer(why)) => {
            let reason = format!("HSM unavailable: {why}");
            if let Err(e) = db::retry("putting the message back", RECORD_RETRY, || queue::release(db, tid, &reason)).await {
                error!(%tid, "could not release: {e}");
            }
            return Err(reason);
        }
        Err(e) => {
            let why = format!("cannot sign: {e}");
            if let Err(e) = db::retry("recording a failure", RECORD_RETRY, || queue::record_failure(db, tid, &why, None, None, wcfg)).await {
                warn!(%tid, "could not record that it cannot be signed: {e}");
            }
            return Ok(());
        }
    };
    if let Err(e) = db::retry("logging the signed message", RECORD_RETRY, || queue::record_signed(db, tid, &signed)).await {
        warn!(%tid, "could not log the signed message, not sending it now: {e}");
        let _ = queue::release(db, tid, &e.to_string()).await;
        return Ok(());
    }
    let started = std::time::Instant::now();
    let outcome = transport.send(&signed).await;
    stats.send.observe(started.elapsed());
    let result = match &outcome {
        transport::Outcome::Reply { status, body } => match trust::verify_customs(body, customs_cert) {
            Ok(trusted) => {
                db::retry("recording the reply", RECORD_RETRY, || queue::record_reply(db, tid, &trusted.document, i32::from(*status), body))
                    .await
            }
            Err(why) => {
                let why = format!("reply not trusted: {why}");
                db::retry("recording a refused reply", RECORD_RETRY, || {
                    queue::record_failure(db, tid, &why, Some(i32::from(*status)), Some(body), wcfg)
                })
                .await
            }
        },
        transport::Outcome::Failure { error, status, body } => {
            db::retry("recording a failure", RECORD_RETRY, || {
                queue::record_failure(db, tid, error, status.map(i32::from), body.as_deref(), wcfg)
            })
            .await
        }
    };
    if let Ok(Some(status)) = &result {
        stats.outcome(status);
    }
    match result {
        Ok(status) => info!(%tid, message_type = %m.message_type, attempt = m.attempts, status = status.as_deref().unwrap_or("?"), "sent"),
        Err(e) => warn!(%tid, "could not record the outcome (the lease will expire and it is re-sent with the same id): {e}"),
    }
    Ok(())
}
