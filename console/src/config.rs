//! The console's configuration file (TOML), every key with a default except none: an empty
//! file is a valid configuration for a console on loopback in front of a local database.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::error::ConsoleError;

/// The whole configuration (`vasscm-console.example.toml` documents every key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the console listens (loopback by default: put a TLS reverse proxy in front).
    pub listen: SocketAddr,
    /// The vasscm database every person connects to with their own credentials.
    pub database: DatabaseConfig,
    /// Sessions and their cookies.
    pub session: SessionConfig,
    /// The worker's `/healthz` and `/metrics`.
    pub worker: WorkerConfig,
    /// The console's own append-only log of logins and actions.
    pub audit_log: PathBuf,
    /// Seconds between two refreshes of the live monitor fragment.
    pub refresh_seconds: u32,
    /// The time zone timestamps are shown in (a PostgreSQL time zone name).
    pub time_zone: String,
    /// The language of a visitor who has not chosen one (`vi` or `en`).
    pub default_language: String,
}

/// Where the database is; the user and password come from the person logging in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Host name, address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database name (where `CREATE EXTENSION vasscm` was run).
    pub dbname: String,
    /// Seconds to wait for a connection.
    pub connect_timeout_seconds: u64,
    /// `statement_timeout` of every console connection, in seconds (0: none).
    pub statement_timeout_seconds: u64,
}

/// Session lifetime and cookie flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Set the cookie's `Secure` flag (the console is reached over HTTPS through a proxy).
    pub cookie_secure: bool,
    /// Minutes without a request after which a session ends.
    pub idle_minutes: u64,
    /// Hours after login after which a session ends whatever happens.
    pub max_hours: u64,
    /// Database connections kept per session (opened at login with the person's credentials).
    pub connections_per_session: usize,
    /// Most sessions open at once (each holds connections).
    pub max_sessions: usize,
}

/// The worker's metrics endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Base URL of the worker's `[metrics] listen` (`/healthz` and `/metrics` are appended);
    /// empty: the worker panel is not shown.
    pub metrics_url: String,
    /// Milliseconds to wait for the worker.
    pub timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            database: DatabaseConfig::default(),
            session: SessionConfig::default(),
            worker: WorkerConfig::default(),
            audit_log: PathBuf::from("/var/log/vasscm/console-audit.log"),
            refresh_seconds: 5,
            time_zone: "Asia/Ho_Chi_Minh".into(),
            default_language: "vi".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5432,
            dbname: "tos_replica".into(),
            connect_timeout_seconds: 5,
            statement_timeout_seconds: 30,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { cookie_secure: true, idle_minutes: 30, max_hours: 12, connections_per_session: 2, max_sessions: 200 }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { metrics_url: "http://127.0.0.1:9187".into(), timeout_ms: 2000 }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConsoleError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConsoleError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| ConsoleError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        if self.session.connections_per_session == 0 || self.session.connections_per_session > 8 {
            return Err("session.connections_per_session must be between 1 and 8".into());
        }
        if self.session.idle_minutes == 0 || self.session.max_hours == 0 || self.session.max_sessions == 0 {
            return Err("session.idle_minutes, session.max_hours and session.max_sessions must be positive".into());
        }
        if !(1..=3600).contains(&self.refresh_seconds) {
            return Err("refresh_seconds must be between 1 and 3600".into());
        }
        if self.default_language != "vi" && self.default_language != "en" {
            return Err("default_language must be vi or en".into());
        }
        if !self.worker.metrics_url.is_empty()
            && !(self.worker.metrics_url.starts_with("http://") || self.worker.metrics_url.starts_with("https://"))
        {
            return Err("worker.metrics_url must be an http:// or https:// URL (or empty)".into());
        }
        if self.time_zone.is_empty() || self.time_zone.contains(['\'', '\\']) {
            return Err("time_zone must be a PostgreSQL time zone name".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../vasscm-console.example.toml");
        let c = Config::parse(text).expect("example parses");
        assert_eq!(c.database.port, 5432);
        assert!(c.session.cookie_secure);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::parse("lisen = \"127.0.0.1:1\"").is_err());
        assert!(Config::parse("default_language = \"fr\"").is_err());
        assert!(Config::parse("[session]\nconnections_per_session = 0").is_err());
        assert!(Config::parse("[worker]\nmetrics_url = \"file:///etc/passwd\"").is_err());
        assert!(Config::parse("").is_ok());
    }
}
