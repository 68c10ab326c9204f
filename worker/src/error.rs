//! Everything that stops the worker, each with a clear message and an exit code.

use crate::config::ConfigError;
use crate::db::DbError;
use crate::hsm::HsmError;
use crate::transport::TransportError;
use std::path::PathBuf;

/// Exit code of a failure of the HSM / token (sysexits.h `EX_UNAVAILABLE`).
pub const EX_UNAVAILABLE: u8 = 69;
/// Exit code of an unusable configuration (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;

/// Everything that stops the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration is unusable (exit 78).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token cannot be used (exit 69).
    #[error("HSM: {0}")]
    Hsm(#[from] HsmError),
    /// The database refused a call, or is not reachable for a command that needs it.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The HTTP client for customs cannot be built.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Customs' certificate cannot be read.
    #[error("customs certificate {}: {message}", .path.display())]
    CustomsCertificate {
        /// `[customs] certificate_file`.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `sign`: standard input cannot be read.
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    /// `sign`: the XML cannot be signed.
    #[error("{0}")]
    Sign(#[from] vasscm_dsig::DsigError),
    /// `bench-sign`: the token made no signature, or some failed.
    #[error("the token could not sign: {0}")]
    CannotSign(String),
    /// SIGTERM cannot be handled.
    #[error("cannot handle SIGTERM: {0}")]
    Signal(std::io::Error),
    /// `run` stopped on a fatal error (the HSM failed, claiming failed).
    #[error("stopped: {0}; unsent messages stay queued")]
    Stopped(String),
    /// A failure of the worker itself (a thread panicked).
    #[error("{0}")]
    Internal(String),
}

impl WorkerError {
    /// The process exit code: 78 for the configuration, 69 for the token, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            WorkerError::Config(_) => EX_CONFIG,
            WorkerError::Hsm(_) => EX_UNAVAILABLE,
            _ => 1,
        }
    }
}
