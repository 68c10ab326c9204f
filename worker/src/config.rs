//! The worker's TOML configuration (see `worker/vasscm-worker.example.toml`).

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key the command needs is not set.
    #[error("{key} is required: {why}")]
    Required {
        /// The missing key, with its section.
        key: &'static str,
        /// Why the command needs it.
        why: &'static str,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL connection.
    pub database: Database,
    /// Queue handling.
    #[serde(default)]
    pub worker: Worker,
    /// The HSM / token.
    pub signing: Signing,
    /// Where and how to send.
    pub customs: Customs,
    /// Customs → port messages.
    #[serde(default)]
    pub inbound: Inbound,
    /// Prometheus metrics and health check.
    #[serde(default)]
    pub metrics: Metrics,
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Address of `/metrics` and `/healthz` (default `127.0.0.1:9187`, loopback only); `off` disables.
    pub listen: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { listen: "127.0.0.1:9187".into() }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// libpq-style connection string (`host=… port=… dbname=… user=…`).
    pub url: String,
}

/// `[worker]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Worker {
    /// Name recorded as `claimed_by` (default: host name and process id).
    pub name: Option<String>,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Seconds a claim is leased; a crashed worker's claims come back after it.
    pub lease_seconds: i32,
    /// Fallback polling when no NOTIFY arrives (milliseconds).
    pub poll_interval_ms: u64,
    /// Attempts before a message is `dead`.
    pub max_attempts: i32,
    /// First retry delay (seconds); doubles each attempt, with jitter.
    pub base_delay_seconds: f64,
    /// Longest retry delay (seconds).
    pub max_delay_seconds: f64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            name: None,
            concurrency: 4,
            lease_seconds: 60,
            poll_interval_ms: 1000,
            max_attempts: 10,
            base_delay_seconds: 2.0,
            max_delay_seconds: 300.0,
        }
    }
}

/// `[signing]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// Path of the PKCS#11 module of the HSM or USB token.
    pub module: PathBuf,
    /// Token label.
    pub token_label: String,
    /// Private key label (or use `key_id`).
    pub key_label: Option<String>,
    /// Private key id, hexadecimal (`01`).
    pub key_id: Option<String>,
    /// Environment variable holding the user PIN.
    pub pin_env: Option<String>,
    /// File holding the user PIN (first line).
    pub pin_file: Option<PathBuf>,
    /// PEM certificate of the key; default: the certificate object on the token with the key's id.
    pub certificate_file: Option<PathBuf>,
    /// `rsa-sha256` (default) or `rsa-sha1`.
    #[serde(default = "default_signature")]
    pub signature_algorithm: String,
    /// `c14n` (default) or `c14n-with-comments`.
    #[serde(default = "default_c14n")]
    pub canonicalization: String,
    /// PKCS#11 sessions used for signing in parallel.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// `auto` (default: the token's `CKM_SHA256_RSA_PKCS` when offered, else `CKM_RSA_PKCS`
    /// with the digest computed on the host), `CKM_SHA256_RSA_PKCS` or `CKM_RSA_PKCS`.
    #[serde(default = "default_mechanism")]
    pub mechanism: String,
}

fn default_mechanism() -> String {
    "auto".into()
}

fn default_signature() -> String {
    "rsa-sha256".into()
}
fn default_c14n() -> String {
    "c14n".into()
}
fn default_sessions() -> usize {
    2
}

/// `[customs]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customs {
    /// Endpoint URL.
    pub url: String,
    /// `soap` (SOAP 1.1, the message as a string parameter) or `xml` (plain POST).
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Extra CA certificate (PEM) to trust for HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Request timeout (milliseconds).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Connect timeout (milliseconds).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Customs' certificate (PEM): replies and inbound messages must be signed with it.
    pub certificate_file: Option<PathBuf>,
    /// Largest reply accepted (bytes).
    #[serde(default = "default_max_reply")]
    pub max_reply_bytes: usize,
}

fn default_transport() -> String {
    "soap".into()
}
fn default_timeout() -> u64 {
    10_000
}
fn default_connect_timeout() -> u64 {
    3_000
}
fn default_max_reply() -> usize {
    1024 * 1024
}

/// `[inbound]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// `off` (default), `poll` or `listen`.
    #[serde(default)]
    pub mode: Option<String>,
    /// URL polled for customs → port messages (`poll`).
    pub poll_url: Option<String>,
    /// Polling interval (milliseconds).
    pub poll_interval_ms: Option<u64>,
    /// Address the worker listens on for customs → port messages (`listen`), e.g. `127.0.0.1:8089`.
    pub listen: Option<String>,
    /// `listen`: refused requests accepted from one source address per minute; beyond, HTTP 429
    /// without touching the database.
    #[serde(default = "default_max_refused")]
    pub max_refused_per_minute: u32,
    /// `listen`: largest request body (bytes); a larger one is refused with HTTP 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

impl Default for Inbound {
    fn default() -> Self {
        Inbound {
            mode: None,
            poll_url: None,
            poll_interval_ms: None,
            listen: None,
            max_refused_per_minute: default_max_refused(),
            max_body_bytes: default_max_body(),
        }
    }
}

fn default_max_refused() -> u32 {
    20
}
fn default_max_body() -> usize {
    1024 * 1024
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.into(), message: e.to_string() })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        if cfg.signing.key_label.is_none() && cfg.signing.key_id.is_none() {
            return Err(invalid("[signing] needs key_label or key_id".into()));
        }
        if cfg.signing.pin_env.is_none() && cfg.signing.pin_file.is_none() {
            return Err(invalid("[signing] needs pin_env or pin_file (the PIN is never in the configuration)".into()));
        }
        if !matches!(cfg.customs.transport.as_str(), "soap" | "xml") {
            return Err(invalid(format!("[customs] transport must be soap or xml, not {:?}", cfg.customs.transport)));
        }
        if crate::mechanism::Preference::from_setting(&cfg.signing.mechanism).is_none() {
            return Err(invalid(format!(
                "[signing] mechanism must be auto, CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS, not {:?}",
                cfg.signing.mechanism
            )));
        }
        if cfg.inbound.max_body_bytes == 0 {
            return Err(invalid("[inbound] max_body_bytes must be at least 1".into()));
        }
        if cfg.worker.concurrency == 0 || cfg.signing.sessions == 0 {
            return Err(invalid("concurrency and sessions must be at least 1".into()));
        }
        Ok(cfg)
    }
}
