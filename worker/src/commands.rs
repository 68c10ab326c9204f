//! The one-shot commands: `check`, `sign` and `bench-sign` (`run` is in [`crate::run`]).

use crate::config::{self, Config, ConfigError};
use crate::db::{self, DbError};
use crate::error::WorkerError;
use crate::hsm::Hsm;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vasscm_dsig::Certificate;

/// Customs' certificate, which every reply and inbound message must be signed with.
pub fn customs_certificate(cfg: &Config) -> Result<Certificate, WorkerError> {
    let f = cfg.customs.certificate_file.as_ref().ok_or(ConfigError::Required {
        key: "[customs] certificate_file",
        why: "customs' replies and inbound messages are verified against it, and nothing unverified is recorded",
    })?;
    let failed = |message: String| WorkerError::CustomsCertificate { path: f.clone(), message };
    let bytes = std::fs::read(f).map_err(|e| failed(e.to_string()))?;
    Certificate::from_bytes(&bytes).map_err(|e| failed(e.to_string()))
}

/// Signs the XML on standard input with the token and prints it.
pub fn sign_stdin(cfg: &Config) -> Result<(), WorkerError> {
    let hsm = Hsm::open(&cfg.signing)?;
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut xml).map_err(WorkerError::Stdin)?;
    let signed = vasscm_dsig::sign(&xml, &hsm, hsm.certificate(), cfg.signing.profile())?;
    print!("{signed}");
    Ok(())
}

/// Signatures per second of the token with the configured algorithm and mechanism, one thread
/// per session for 5 s. Fails when the token cannot sign at all.
pub fn bench_sign(cfg: &Config) -> Result<(), WorkerError> {
    const SPAN: Duration = Duration::from_secs(5);
    let hsm = Arc::new(Hsm::open(&cfg.signing)?);
    let algorithm = cfg.signing.signature_algorithm;
    let mechanism = hsm.mechanism(algorithm).map(|m| m.describe()).unwrap_or_default();
    let data = [0x5au8; 1024];
    let until = Instant::now() + SPAN;
    let threads: Vec<_> = (0..hsm.session_count())
        .map(|i| {
            let hsm = hsm.clone();
            std::thread::spawn(move || {
                let (mut n, mut failed, mut first_error) = (0u64, 0u64, None);
                while Instant::now() < until {
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
        let (n, f, e) = t.join().map_err(|_| WorkerError::Internal("a benchmark thread panicked".into()))?;
        total += n;
        failed += f;
        first_error = first_error.or(e);
    }
    if failed > 0 || total == 0 {
        return Err(WorkerError::CannotSign(format!(
            "{failed} of {} signatures failed; first error: {}",
            total + failed,
            first_error.unwrap_or_else(|| "none (no signature made in 5 s)".into())
        )));
    }
    println!("{} sessions: {:.0} signatures/s ({mechanism})", hsm.session_count(), total as f64 / SPAN.as_secs_f64());
    Ok(())
}

/// Opens the token, makes one real signature and verifies it against the certificate, reads
/// customs' certificate and the queue. Any failure is an error (non-zero exit).
pub async fn check(cfg: &Config) -> Result<(), WorkerError> {
    let hsm = Hsm::open(&cfg.signing)?;
    let algorithm = cfg.signing.signature_algorithm;
    let token = hsm.token();
    println!("token {:?} in slot {} ({}): key found, certificate {}", token.label, token.slot, token.model, hsm.certificate().subject());
    if let Some(m) = hsm.mechanism(algorithm) {
        println!("signing mechanism: {}", m.describe());
    }
    hsm.self_test(algorithm)?;
    println!("test signature ({}) made on the token and verified against the certificate", config::algorithm_name(algorithm));
    let customs = customs_certificate(cfg)?;
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
        let (s, n): (String, i64) = (row.try_get(0).map_err(DbError::from)?, row.try_get(1).map_err(DbError::from)?);
        println!("outbox {s}: {n}");
    }
    Ok(())
}
