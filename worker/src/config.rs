//! The worker's TOML configuration (see `worker/vasscm-worker.example.toml`).
//!
//! Every value with a fixed set of choices is a serde enum, so that [`Config::load`] refuses a
//! bad one at once (exit 78, `EX_CONFIG`) with a message naming the key and the line, e.g.
//! `invalid configuration /etc/vasscm/worker.toml: [signing] signature_algorithm: unknown
//! variant `rsa-md5`, expected `rsa-sha256` or `rsa-sha1` (line 27)`. Nothing after loading
//! has to validate a setting again.

use crate::mechanism::Preference;
use serde::de::{Deserializer, IntoDeserializer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vasscm_dsig::{Canonicalization, Profile, SignatureAlgorithm};

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
    /// The file is not TOML.
    #[error("invalid configuration {path}: not TOML: {message}{}", at_line(*.line))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line of the error (1-based), when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A key has a value the worker cannot use (or a section lacks a key, or has an unknown one).
    #[error("invalid configuration {path}: {key}: {message}{}", at_line(*.line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault with its section (`[signing] signature_algorithm`), or the section.
        key: String,
        /// The line of the value at fault (1-based), when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL connection.
    pub database: Database,
    /// Queue handling and the retry policy.
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
    /// Address of `/metrics` and `/healthz` (default `127.0.0.1:9187`, loopback only); `None`
    /// when the file says `off` (or an empty string): not served.
    #[serde(deserialize_with = "off_or_address")]
    pub listen: Option<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { listen: Some("127.0.0.1:9187".into()) }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// libpq-style connection string (`host=… port=… dbname=… user=…`).
    pub url: String,
}

/// How a message whose send failed (transport error, HTTP error, a reply not trusted or not
/// usable) is retried: after an exponential back-off with jitter, until `max_attempts`, then
/// `dead`. The one policy for every failure: the worker passes it to each SQL call that may
/// re-queue a message (`vasscm.record_failure`, `vasscm.record_reply`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts before a message is `dead` (`[worker] max_attempts`, default 10).
    pub max_attempts: i32,
    /// First retry delay in seconds; doubles each attempt, with jitter (`[worker]
    /// base_delay_seconds`, default 2).
    pub base_delay_seconds: f64,
    /// Longest retry delay in seconds (`[worker] max_delay_seconds`, default 300).
    pub max_delay_seconds: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 10, base_delay_seconds: 2.0, max_delay_seconds: 300.0 }
    }
}

/// `[worker]`
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "WorkerSection")]
pub struct Worker {
    /// Name recorded as `claimed_by` (default: host name and process id).
    pub name: Option<String>,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Seconds a claim is leased; a crashed worker's claims come back after it.
    pub lease_seconds: i32,
    /// Fallback polling when no NOTIFY arrives (milliseconds).
    pub poll_interval_ms: u64,
    /// `max_attempts`, `base_delay_seconds`, `max_delay_seconds`.
    pub retry: RetryPolicy,
}

impl Default for Worker {
    fn default() -> Self {
        WorkerSection::default().into()
    }
}

/// `[worker]` as written in the file (the retry keys sit in the section itself).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WorkerSection {
    name: Option<String>,
    concurrency: usize,
    lease_seconds: i32,
    poll_interval_ms: u64,
    max_attempts: i32,
    base_delay_seconds: f64,
    max_delay_seconds: f64,
}

impl Default for WorkerSection {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        WorkerSection {
            name: None,
            concurrency: 4,
            lease_seconds: 60,
            poll_interval_ms: 1000,
            max_attempts: retry.max_attempts,
            base_delay_seconds: retry.base_delay_seconds,
            max_delay_seconds: retry.max_delay_seconds,
        }
    }
}

impl From<WorkerSection> for Worker {
    fn from(w: WorkerSection) -> Self {
        Worker {
            name: w.name,
            concurrency: w.concurrency,
            lease_seconds: w.lease_seconds,
            poll_interval_ms: w.poll_interval_ms,
            retry: RetryPolicy {
                max_attempts: w.max_attempts,
                base_delay_seconds: w.base_delay_seconds,
                max_delay_seconds: w.max_delay_seconds,
            },
        }
    }
}

/// `signature_algorithm` values: `rsa-sha256`, `rsa-sha1` (any case).
#[derive(Deserialize)]
#[serde(remote = "SignatureAlgorithm", rename_all = "kebab-case")]
enum SignatureAlgorithmSetting {
    RsaSha256,
    RsaSha1,
}

/// `canonicalization` values: `c14n`, `c14n-with-comments` (any case).
#[derive(Deserialize)]
#[serde(remote = "Canonicalization", rename_all = "kebab-case")]
enum CanonicalizationSetting {
    C14n,
    C14nWithComments,
}

/// The `signature_algorithm` value naming `algorithm`, as in the file.
pub fn algorithm_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::RsaSha256 => "rsa-sha256",
        SignatureAlgorithm::RsaSha1 => "rsa-sha1",
    }
}

/// `signature_algorithm` ignores case, as it always has (`RSA-SHA256` is accepted).
fn signature_algorithm<'de, D: Deserializer<'de>>(d: D) -> Result<SignatureAlgorithm, D::Error> {
    SignatureAlgorithmSetting::deserialize(String::deserialize(d)?.to_ascii_lowercase().into_deserializer())
}

/// `canonicalization` ignores case, as it always has.
fn canonicalization<'de, D: Deserializer<'de>>(d: D) -> Result<Canonicalization, D::Error> {
    CanonicalizationSetting::deserialize(String::deserialize(d)?.to_ascii_lowercase().into_deserializer())
}

/// `[metrics] listen`: an address, or `off` / `""` for none.
fn off_or_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    Ok(if s == "off" || s.is_empty() { None } else { Some(s) })
}

fn default_signature() -> SignatureAlgorithm {
    SignatureAlgorithm::RsaSha256
}
fn default_c14n() -> Canonicalization {
    Canonicalization::C14n
}
fn default_sessions() -> usize {
    2
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
    #[serde(default = "default_signature", deserialize_with = "signature_algorithm")]
    pub signature_algorithm: SignatureAlgorithm,
    /// `c14n` (default) or `c14n-with-comments`.
    #[serde(default = "default_c14n", deserialize_with = "canonicalization")]
    pub canonicalization: Canonicalization,
    /// PKCS#11 sessions used for signing in parallel.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// `auto` (default: the token's `CKM_SHA256_RSA_PKCS` when offered, else `CKM_RSA_PKCS`
    /// with the digest computed on the host), `CKM_SHA256_RSA_PKCS` or `CKM_RSA_PKCS`.
    #[serde(default)]
    pub mechanism: Preference,
}

impl Signing {
    /// The signature profile (algorithm and canonicalization) the worker signs with.
    pub fn profile(&self) -> Profile {
        Profile { signature: self.signature_algorithm, canonicalization: self.canonicalization }
    }
}

/// `[customs] transport`: how a signed message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// SOAP 1.1, the message as a string parameter (default).
    #[default]
    Soap,
    /// The signed XML as the body of a plain POST.
    Xml,
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

/// `[customs]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customs {
    /// Endpoint URL.
    pub url: String,
    /// `soap` (SOAP 1.1, the message as a string parameter) or `xml` (plain POST).
    #[serde(default)]
    pub transport: TransportKind,
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

/// `[inbound] mode`: how customs → port messages arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundMode {
    /// None are received (default).
    #[default]
    Off,
    /// The worker polls `poll_url`.
    Poll,
    /// Customs pushes to the worker's endpoint on `listen`.
    Listen,
}

/// `[inbound]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// `off` (default), `poll` or `listen`.
    #[serde(default)]
    pub mode: InboundMode,
    /// URL polled for customs → port messages (`poll`; required then).
    pub poll_url: Option<String>,
    /// Polling interval (milliseconds; default 5000).
    pub poll_interval_ms: Option<u64>,
    /// Address the worker listens on for customs → port messages (`listen`; required then),
    /// e.g. `127.0.0.1:8089`.
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
            mode: InboundMode::Off,
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

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes().iter().take(offset).filter(|b| **b == b'\n').count() + 1
}

/// `[section] key` for the path serde was at when it failed (`[section]` alone for an error
/// about the section, such as a missing or unknown key).
fn key_name(path: &serde_path_to_error::Path) -> String {
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    match parts.as_slice() {
        [] => "top level".into(),
        [section] => format!("[{section}]"),
        [section, rest @ ..] => format!("[{section}] {}", rest.join(".")),
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Config::from_toml(&text, path)
    }

    /// Parses and checks the text of the configuration file `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
            path: path.into(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            key: key_name(e.path()),
            line: e.inner().span().map(|s| line_of(text, s.start)),
            message: e.inner().message().to_string(),
        })?;
        cfg.check().map_err(|(key, message)| ConfigError::Invalid { path: path.into(), key: key.into(), line: None, message: message.into() })?;
        Ok(cfg)
    }

    /// What the types cannot say: keys that go together, values that must be at least 1.
    fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.signing.key_label.is_none() && self.signing.key_id.is_none() {
            return Err(("[signing]", "needs key_label or key_id"));
        }
        if self.signing.pin_env.is_none() && self.signing.pin_file.is_none() {
            return Err(("[signing]", "needs pin_env or pin_file (the PIN is never in the configuration)"));
        }
        if self.inbound.max_body_bytes == 0 {
            return Err(("[inbound] max_body_bytes", "must be at least 1"));
        }
        if self.worker.concurrency == 0 {
            return Err(("[worker] concurrency", "must be at least 1"));
        }
        if self.signing.sessions == 0 {
            return Err(("[signing] sessions", "must be at least 1"));
        }
        match self.inbound.mode {
            InboundMode::Poll if self.inbound.poll_url.is_none() => Err(("[inbound] poll_url", "is required with mode = \"poll\"")),
            InboundMode::Listen if self.inbound.listen.is_none() => Err(("[inbound] listen", "is required with mode = \"listen\"")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file like `scripts/lib.sh`'s `worker_config` writes, with every section.
    const GOOD: &str = r#"
[database]
url = "host=127.0.0.1 port=5432 user=postgres dbname=tos_replica"
[worker]
concurrency = 4
lease_seconds = 3
poll_interval_ms = 200
max_attempts = 50
base_delay_seconds = 0.2
max_delay_seconds = 1.0
[signing]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "vasscm"
key_label = "signer"
pin_env = "VASSCM_PIN"
sessions = 2
signature_algorithm = "rsa-sha256"
canonicalization = "c14n"
mechanism = "auto"
[customs]
url = "http://127.0.0.1:8088/vasscm"
transport = "soap"
timeout_ms = 5000
certificate_file = "/tmp/customs.pem"
[inbound]
mode = "listen"
listen = "127.0.0.1:8089"
max_refused_per_minute = 5
[metrics]
listen = "127.0.0.1:9187"
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/x/worker.toml"))
    }

    /// `GOOD` with the line starting with `key =` replaced by `line`.
    fn with(key: &str, line: &str) -> String {
        let prefix = format!("{key} =");
        let mut replaced = false;
        let out: Vec<&str> = GOOD
            .lines()
            .map(|l| {
                if !replaced && l.starts_with(&prefix) {
                    replaced = true;
                    line
                } else {
                    l
                }
            })
            .collect();
        assert!(replaced, "no {key} in GOOD");
        out.join("\n")
    }

    #[test]
    fn a_good_file_loads() {
        let cfg = load(GOOD).expect("loads");
        assert_eq!(cfg.signing.profile(), Profile { signature: SignatureAlgorithm::RsaSha256, canonicalization: Canonicalization::C14n });
        assert_eq!(cfg.signing.mechanism, Preference::Auto);
        assert_eq!(cfg.customs.transport, TransportKind::Soap);
        assert_eq!(cfg.inbound.mode, InboundMode::Listen);
        assert_eq!(cfg.metrics.listen.as_deref(), Some("127.0.0.1:9187"));
        assert_eq!(cfg.worker.retry, RetryPolicy { max_attempts: 50, base_delay_seconds: 0.2, max_delay_seconds: 1.0 });
        assert_eq!(cfg.worker.lease_seconds, 3);
    }

    #[test]
    fn the_example_configuration_loads_with_its_defaults() {
        let text = include_str!("../vasscm-worker.example.toml");
        let cfg = load(text).expect("the example loads");
        assert_eq!(cfg.worker.retry, RetryPolicy::default());
        assert_eq!(cfg.inbound.mode, InboundMode::Off);
        assert_eq!(cfg.signing.mechanism, Preference::Auto);
    }

    #[test]
    fn defaults_apply_when_keys_are_left_out() {
        let minimal = r#"
[database]
url = "dbname=x"
[signing]
module = "/m.so"
token_label = "t"
key_id = "01"
pin_file = "/p"
[customs]
url = "http://c"
"#;
        let cfg = load(minimal).expect("loads");
        assert_eq!(cfg.signing.profile(), Profile::default());
        assert_eq!(cfg.signing.mechanism, Preference::Auto);
        assert_eq!(cfg.signing.sessions, 2);
        assert_eq!(cfg.customs.transport, TransportKind::Soap);
        assert_eq!(cfg.inbound.mode, InboundMode::Off);
        assert_eq!(cfg.worker.retry, RetryPolicy::default());
        assert_eq!(cfg.worker.concurrency, 4);
        assert_eq!(cfg.metrics.listen.as_deref(), Some("127.0.0.1:9187"));
    }

    #[test]
    fn every_accepted_spelling_still_loads() {
        let cases: [(&str, &str); 9] = [
            ("signature_algorithm", r#"signature_algorithm = "rsa-sha1""#),
            ("signature_algorithm", r#"signature_algorithm = "RSA-SHA256""#),
            ("canonicalization", r#"canonicalization = "c14n-with-comments""#),
            ("canonicalization", r#"canonicalization = "C14N""#),
            ("mechanism", r#"mechanism = "CKM_SHA256_RSA_PKCS""#),
            ("mechanism", r#"mechanism = "CKM_SHA1_RSA_PKCS""#),
            ("mechanism", r#"mechanism = "CKM_RSA_PKCS""#),
            ("transport", r#"transport = "xml""#),
            ("mode", r#"mode = "off""#),
        ];
        for (key, line) in cases {
            load(&with(key, line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let cfg = load(&with("signature_algorithm", r#"signature_algorithm = "RSA-SHA1""#)).expect("loads");
        assert_eq!(cfg.signing.signature_algorithm, SignatureAlgorithm::RsaSha1);
        let cfg = load(&with("mechanism", r#"mechanism = "CKM_SHA1_RSA_PKCS""#)).expect("loads");
        assert_eq!(cfg.signing.mechanism, Preference::Native);
        let cfg = load(&with("mechanism", r#"mechanism = "CKM_RSA_PKCS""#)).expect("loads");
        assert_eq!(cfg.signing.mechanism, Preference::HostDigest);
        let cfg = load(&with("canonicalization", r#"canonicalization = "c14n-with-comments""#)).expect("loads");
        assert_eq!(cfg.signing.canonicalization, Canonicalization::C14nWithComments);
        // [metrics] listen = "off" (the first `listen =` line is [inbound]'s; use the last)
        let off = GOOD.replace(r#"listen = "127.0.0.1:9187""#, r#"listen = "off""#);
        assert_eq!(load(&off).expect("loads").metrics.listen, None);
        let empty = GOOD.replace(r#"listen = "127.0.0.1:9187""#, r#"listen = """#);
        assert_eq!(load(&empty).expect("loads").metrics.listen, None);
    }

    /// Each bad value is refused by `load`, naming the key (and its line).
    #[test]
    fn each_bad_value_names_its_key() {
        let cases: [(&str, &str, &str, &str); 9] = [
            ("signature_algorithm", r#"signature_algorithm = "rsa-md5""#, "[signing] signature_algorithm", "unknown variant `rsa-md5`"),
            ("canonicalization", r#"canonicalization = "exc-c14n""#, "[signing] canonicalization", "unknown variant `exc-c14n`"),
            ("mechanism", r#"mechanism = "CKM_ECDSA""#, "[signing] mechanism", "unknown variant `CKM_ECDSA`"),
            ("mechanism", r#"mechanism = "ckm_rsa_pkcs""#, "[signing] mechanism", "unknown variant `ckm_rsa_pkcs`"),
            ("transport", r#"transport = "rest""#, "[customs] transport", "unknown variant `rest`, expected `soap` or `xml`"),
            ("mode", r#"mode = "push""#, "[inbound] mode", "unknown variant `push`, expected one of `off`, `poll`, `listen`"),
            ("concurrency", r#"concurrency = "four""#, "[worker] concurrency", "invalid type"),
            ("max_attempts", r#"max_attempts = 2.5"#, "[worker] max_attempts", "invalid type"),
            ("signature_algorithm", r#"signature_algorithm = 256"#, "[signing] signature_algorithm", "invalid type"),
        ];
        for (key, line, named, message) in cases {
            let text = with(key, line);
            let e = load(&text).expect_err(line);
            let shown = e.to_string();
            assert!(shown.starts_with("invalid configuration /x/worker.toml: "), "{line}: {shown}");
            match &e {
                ConfigError::Invalid { key: k, line: at, message: m, .. } => {
                    assert_eq!(k, named, "{line}: {shown}");
                    assert!(m.contains(message), "{line}: {shown}");
                    let expected_line = text.lines().position(|l| l == line).map(|i| i + 1);
                    assert_eq!(*at, expected_line, "{line}: {shown}");
                }
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_and_unknown_keys_name_their_section() {
        let e = load(&with("url", r#"urls = "dbname=x""#)).expect_err("unknown key");
        assert!(e.to_string().contains("[database]"), "{e}");
        assert!(e.to_string().contains("unknown field `urls`"), "{e}");
        let e = load(&with("token_label", "")).expect_err("missing key");
        assert!(e.to_string().contains("[signing]: missing field `token_label`"), "{e}");
        let e = load(&with("lease_seconds", "lease_secs = 3")).expect_err("unknown [worker] key");
        assert!(e.to_string().contains("[worker] lease_secs: unknown field `lease_secs`"), "{e}");
        let e = load(&GOOD.replace("[metrics]", "[metric]")).expect_err("unknown section");
        assert!(e.to_string().contains("unknown field `metric`"), "{e}");
    }

    #[test]
    fn keys_that_go_together_are_checked() {
        let e = load(&with("key_label", "")).expect_err("no key");
        assert!(e.to_string().ends_with("[signing]: needs key_label or key_id"), "{e}");
        let e = load(&with("pin_env", "")).expect_err("no pin");
        assert!(e.to_string().contains("[signing]: needs pin_env or pin_file"), "{e}");
        let e = load(&with("listen", "")).expect_err("listen without address");
        assert!(e.to_string().contains("[inbound] listen: is required with mode = \"listen\""), "{e}");
        let e = load(&with("mode", r#"mode = "poll""#)).expect_err("poll without URL");
        assert!(e.to_string().contains("[inbound] poll_url: is required"), "{e}");
        let e = load(&with("concurrency", "concurrency = 0")).expect_err("no concurrency");
        assert!(e.to_string().contains("[worker] concurrency: must be at least 1"), "{e}");
        let e = load(&with("sessions", "sessions = 0")).expect_err("no sessions");
        assert!(e.to_string().contains("[signing] sessions: must be at least 1"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_toml_says_where() {
        let e = load(&with("transport", "transport = soap")).expect_err("bare word");
        match e {
            ConfigError::Syntax { line, .. } => assert_eq!(line, GOOD.lines().position(|l| l.starts_with("transport")).map(|i| i + 1)),
            other => panic!("{other:?}"),
        }
    }
}
