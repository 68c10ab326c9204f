//! The console's own audit log: one JSON line per login, logout, refusal and action, with
//! the person and their roles, each line chained to the previous one by a SHA-256 hash
//! (`prev` = the hash of the previous line), so that a changed or removed line is found by
//! [`verify`]. It does not depend on the worker nor on the database (a failed login has no
//! connection to write with). Actions that change the outbox are also recorded by the
//! database itself in `vasscm.outbox_history`, with the same person as `actor`.

use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One event to record.
pub struct Event<'a> {
    /// The PostgreSQL role (or the name typed at a failed login).
    pub user: &'a str,
    /// The vasscm roles the person holds (empty before login).
    pub roles: &'a str,
    /// What was done: `login`, `login_failed`, `logout`, `approve`, `gate_out_check`…
    pub action: &'a str,
    /// What it was done to (a message id, a container…), or empty.
    pub target: &'a str,
    /// `ok`, `refused` (by PostgreSQL or the console), `failed`.
    pub outcome: &'a str,
    /// The database's or console's words, if any.
    pub detail: &'a str,
    /// The client address as the console saw it (the proxy's, behind one).
    pub peer: &'a str,
}

/// The log file and the hash of its last line.
pub struct AuditLog {
    path: PathBuf,
    state: Mutex<String>,
}

fn hash_line(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

impl AuditLog {
    /// Opens (creates) the log and reads the hash of its last line.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).read(true).open(path)?;
        let mut last = String::new();
        for line in std::io::BufReader::new(&f).lines() {
            let line = line?;
            if !line.is_empty() {
                last = hash_line(&line);
            }
        }
        Ok(Self { path: path.to_path_buf(), state: Mutex::new(last) })
    }

    /// Appends one event (and logs it through tracing as well). A write failure is logged,
    /// not raised: the database keeps its own record of outbox changes.
    pub fn record(&self, e: &Event<'_>) {
        let mut prev = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = json!({
            "at": at, "user": e.user, "roles": e.roles, "action": e.action, "target": e.target,
            "outcome": e.outcome, "detail": e.detail, "peer": e.peer, "prev": *prev,
        })
        .to_string();
        tracing::info!(user = e.user, roles = e.roles, action = e.action, target = e.target, outcome = e.outcome, "audit");
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        match written {
            Ok(()) => *prev = hash_line(&line),
            Err(err) => tracing::error!("cannot write the console audit log {}: {err}", self.path.display()),
        }
    }

    /// Checks the whole chain: (lines checked, the first broken line number if any).
    pub fn verify(&self) -> std::io::Result<(u64, Option<u64>)> {
        let _guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        verify_file(&self.path)
    }

    /// The last `n` lines, newest first, as JSON objects.
    pub fn tail(&self, n: usize) -> std::io::Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(text
            .lines()
            .rev()
            .filter(|l| !l.is_empty())
            .take(n)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

/// Verifies a log file's chain: (lines checked, the first broken line number if any).
pub fn verify_file(path: &Path) -> std::io::Result<(u64, Option<u64>)> {
    let f = std::fs::File::open(path)?;
    let mut prev = String::new();
    let mut n = 0u64;
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        n += 1;
        let claimed = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("prev").and_then(|p| p.as_str()).map(str::to_string));
        if claimed.as_deref() != Some(prev.as_str()) {
            return Ok((n - 1, Some(n)));
        }
        prev = hash_line(&line);
    }
    Ok((n, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> Event<'_> {
        Event { user: "u", roles: "vasscm_reader", action, target: "", outcome: "ok", detail: "", peer: "127.0.0.1" }
    }

    #[test]
    fn the_chain_verifies_and_finds_a_changed_line() {
        let dir = std::env::temp_dir().join(format!("vasscm-console-audit-{}", std::process::id()));
        let path = dir.join("audit.log");
        let _ = std::fs::remove_file(&path);
        let log = AuditLog::open(&path).expect("open");
        log.record(&ev("login"));
        log.record(&ev("approve"));
        drop(log);
        let log = AuditLog::open(&path).expect("reopen");
        log.record(&ev("logout"));
        assert_eq!(log.verify().expect("verify"), (3, None));
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replacen("approve", "reject", 1)).expect("write");
        assert_eq!(verify_file(&path).expect("verify"), (2, Some(3)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
