//! `vasscm-worker`: drains the vasscm outbox. Claims queued messages (lease, SKIP LOCKED,
//! per-container order), signs each on the HSM through PKCS#11, sends it to customs, and
//! records every reply; receives customs → port messages. One server signs for the port.
//!
//! Usage: `vasscm-worker run|check|sign --config FILE` (see README, "Worker").

mod config;
mod hsm;
mod inbound;
mod metrics;
mod queue;
mod transport;

use config::Config;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_postgres::{AsyncMessage, Client, NoTls};
use tracing::{error, info, warn};
use vasscm_dsig::{Canonicalization, Certificate, Profile, SignatureAlgorithm};

/// Everything that stops the worker, each with a clear message.
#[derive(Debug, thiserror::Error)]
enum WorkerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("HSM: {0}")]
    Hsm(#[from] hsm::HsmError),
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("{0}")]
    Other(String),
}

fn usage() -> ExitCode {
    eprintln!("usage: vasscm-worker run|check|sign|bench-sign --config FILE\n  run         drain the outbox until SIGTERM\n  check       open the token and the database, print what was found\n  sign        sign the XML on standard input, print it\n  bench-sign  bare C_Sign rate of the token, one thread per session, 5 s");
    ExitCode::from(64)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
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

fn customs_certificate(cfg: &Config) -> Result<Option<Certificate>, WorkerError> {
    cfg.customs
        .certificate_file
        .as_ref()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| WorkerError::Other(format!("customs certificate {}: {e}", f.display())))?;
            Certificate::from_bytes(&bytes).map_err(|e| WorkerError::Other(format!("customs certificate {}: {e}", f.display())))
        })
        .transpose()
}

fn sign_stdin(cfg: Config) -> Result<(), WorkerError> {
    let hsm = hsm::Hsm::open(&cfg.signing)?;
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut xml).map_err(|e| WorkerError::Other(e.to_string()))?;
    let signed = vasscm_dsig::sign(&xml, &hsm, hsm.certificate(), profile(&cfg)?).map_err(|e| WorkerError::Other(e.to_string()))?;
    print!("{signed}");
    Ok(())
}

fn bench_sign(cfg: Config) -> Result<(), WorkerError> {
    let hsm = Arc::new(hsm::Hsm::open(&cfg.signing)?);
    let data = [0x5au8; 1024];
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let threads: Vec<_> = (0..hsm.session_count())
        .map(|i| {
            let hsm = hsm.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while std::time::Instant::now() < until {
                    if hsm.sign_on(i, &data).is_ok() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    println!("{} sessions: {:.0} signatures/s (bare C_Sign, RSA-SHA256)", hsm.session_count(), total as f64 / 5.0);
    Ok(())
}

async fn connect(cfg: &Config, notify: Option<Arc<Notify>>) -> Result<Client, WorkerError> {
    let (client, mut conn) = tokio_postgres::connect(&cfg.database.url, NoTls).await?;
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    if let Some(n) = &notify {
                        n.notify_one();
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    error!("database connection lost: {e}");
                    break;
                }
            }
        }
    });
    Ok(client)
}

async fn check(cfg: Config) -> Result<(), WorkerError> {
    let hsm = hsm::Hsm::open(&cfg.signing)?;
    println!("token {:?}: key found, certificate {}", cfg.signing.token_label, hsm.certificate().subject());
    let db = connect(&cfg, None).await?;
    for row in db.query("SELECT status, count(*) FROM vasscm.outbox GROUP BY status ORDER BY status", &[]).await? {
        let (s, n): (String, i64) = (row.get(0), row.get(1));
        println!("outbox {s}: {n}");
    }
    Ok(())
}

async fn run(cfg: Config) -> Result<(), WorkerError> {
    let hsm = Arc::new(hsm::Hsm::open(&cfg.signing)?);
    let profile = profile(&cfg)?;
    let customs_cert = customs_certificate(&cfg)?;
    let transport = Arc::new(transport::Transport::new(&cfg.customs)?);
    let notify = Arc::new(Notify::new());
    let db = Arc::new(connect(&cfg, Some(notify.clone())).await?);
    let stats = Arc::new(metrics::Metrics::default());
    if cfg.metrics.listen != "off" && !cfg.metrics.listen.is_empty() {
        let (m, addr) = (stats.clone(), cfg.metrics.listen.clone());
        let mdb = Arc::new(connect(&cfg, None).await?);
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(m, mdb, addr.clone()).await {
                warn!(%addr, "cannot serve /metrics and /healthz: {e} (the worker goes on without them)");
            }
        });
    }
    // One more connection per message in flight (up to 8): a single backend would serialise
    // every reply and log write.
    let mut pool = Vec::new();
    for _ in 0..cfg.worker.concurrency.min(8) {
        let c = connect(&cfg, None).await?;
        c.batch_execute("SET synchronous_commit = off").await?;
        pool.push(Arc::new(c));
    }
    // Every worker write is idempotent (a lost commit only means a re-send with the same
    // Transaction_ID, which customs de-duplicates), so the worker's own commits need not wait
    // for the WAL flush. Captures from the TOS keep synchronous commit.
    db.batch_execute("SET synchronous_commit = off; LISTEN vasscm_outbox").await?;
    let name = cfg.worker.name.clone().unwrap_or_else(|| {
        format!("{}-{}", std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim(), std::process::id())
    });
    info!(worker = %name, certificate = %hsm.certificate().subject(), url = %cfg.customs.url, "worker started");

    match cfg.inbound.mode.as_deref().unwrap_or("off") {
        "off" => {}
        "poll" => {
            let url = cfg.inbound.poll_url.clone().ok_or_else(|| WorkerError::Other("[inbound] poll needs poll_url".into()))?;
            let db2 = Arc::new(connect(&cfg, None).await?);
            let interval = Duration::from_millis(cfg.inbound.poll_interval_ms.unwrap_or(5000));
            tokio::spawn(inbound::poll(db2, customs_cert.clone(), url, interval, stats.clone()));
        }
        "listen" => {
            let addr = cfg.inbound.listen.clone().ok_or_else(|| WorkerError::Other("[inbound] listen needs listen".into()))?;
            let db2 = Arc::new(connect(&cfg, None).await?);
            let (cert, m) = (customs_cert.clone(), stats.clone());
            tokio::spawn(async move {
                if let Err(e) = inbound::listen(db2, cert, addr, m).await {
                    error!("inbound endpoint: {e}");
                }
            });
        }
        other => return Err(WorkerError::Other(format!("[inbound] mode must be off, poll or listen, not {other:?}"))),
    }

    let concurrency = cfg.worker.concurrency;
    let sem = Arc::new(Semaphore::new(concurrency));
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(1);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| WorkerError::Other(format!("cannot handle SIGTERM: {e}")))?;
    let poll = Duration::from_millis(cfg.worker.poll_interval_ms);
    let mut fatal: Option<String> = None;
    let mut next_conn = 0usize;
    loop {
        // Claim when at least half the slots are free: one claim serves several messages
        // (a claim per freed slot would make the claiming backend the bottleneck).
        let free = sem.available_permits();
        let batch = if free > 0 && free >= concurrency.div_ceil(2) {
            queue::claim(&db, &name, free as i64, &cfg.worker).await?
        } else {
            Vec::new()
        };
        for (i, m) in batch.iter().enumerate() {
            let conn = pool[(next_conn + i) % pool.len()].clone();
            let permit = sem.clone().acquire_owned().await.map_err(|e| WorkerError::Other(e.to_string()))?;
            let stats = stats.clone();
            let (db, hsm, transport, cert, wcfg, fatal_tx, m, wake) = (
                conn,
                hsm.clone(),
                transport.clone(),
                customs_cert.clone(),
                cfg.worker.clone(),
                fatal_tx.clone(),
                m.clone(),
                notify.clone(),
            );
            tokio::spawn(async move {
                stats.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Err(why) = process(&db, &hsm, profile, &transport, cert.as_ref(), &wcfg, &m, &stats).await {
                    stats.hsm_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = fatal_tx.try_send(why);
                }
                stats.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                drop(permit);
                wake.notify_one(); // a slot is free: claim again at once
            });
        }
        next_conn = next_conn.wrapping_add(batch.len());
        if !batch.is_empty() && sem.available_permits() >= concurrency.div_ceil(2) {
            continue;
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = sigterm.recv() => { info!("SIGTERM: finishing the messages in flight"); break; }
            _ = tokio::signal::ctrl_c() => { info!("interrupted: finishing the messages in flight"); break; }
            why = fatal_rx.recv() => { fatal = why; break; }
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
/// failed); the message has then been put back in the queue.
async fn process(
    db: &Client,
    hsm: &Arc<hsm::Hsm>,
    profile: Profile,
    transport: &transport::Transport,
    customs_cert: Option<&Certificate>,
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
            if let Err(e) = queue::release(db, tid, &reason).await {
                error!(%tid, "could not release: {e}");
            }
            return Err(reason);
        }
        Err(e) => {
            let _ = queue::record_failure(db, tid, &format!("cannot sign: {e}"), None, None, wcfg).await;
            return Ok(());
        }
    };
    if let Err(e) = queue::record_signed(db, tid, &signed).await {
        warn!(%tid, "could not log the signed message, not sending it now: {e}");
        let _ = queue::release(db, tid, &format!("database: {e}")).await;
        return Ok(());
    }
    let started = std::time::Instant::now();
    let result = match transport.send(&signed).await {
        transport::Outcome::Reply { status, body } => {
            let verified = match customs_cert {
                Some(cert) => vasscm_dsig::verify(&body, &cert.x509).map_err(|e| format!("customs reply refused: {e}")),
                None => Ok(()),
            };
            match verified {
                Ok(()) => queue::record_reply(db, tid, &body, i32::from(status)).await,
                Err(why) => queue::record_failure(db, tid, &why, Some(i32::from(status)), Some(&body), wcfg).await,
            }
        }
        transport::Outcome::Failure { error, status, body } => {
            queue::record_failure(db, tid, &error, status.map(i32::from), body.as_deref(), wcfg).await
        }
    };
    stats.send.observe(started.elapsed());
    if let Ok(Some(status)) = &result {
        stats.outcome(status);
    }
    match result {
        Ok(status) => info!(%tid, message_type = %m.message_type, attempt = m.attempts, status = status.as_deref().unwrap_or("?"), "sent"),
        Err(e) => warn!(%tid, "could not record the outcome (the lease will expire and it is re-sent with the same id): {e}"),
    }
    Ok(())
}
