//! Errors: of the console itself (start-up), and of a query run as the logged-in person.

use thiserror::Error;
use tokio_postgres::error::SqlState;

/// A failure that stops the console (configuration, listening socket, audit log file).
#[derive(Debug, Error)]
pub enum ConsoleError {
    /// The configuration file is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The listening socket or the audit log could not be opened.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What went wrong with a query run as the logged-in person.
#[derive(Debug, Clone, Error)]
pub enum DbError {
    /// PostgreSQL refused it for lack of a privilege (SQLSTATE 42501): the person's roles
    /// do not allow it.
    #[error("{0}")]
    Refused(String),
    /// PostgreSQL raised an error (an action that does not apply, bad input…): its message,
    /// detail and hint.
    #[error("{0}")]
    Failed(String),
    /// The connection is gone (server restart, terminated backend): the session ends.
    #[error("{0}")]
    Lost(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let mut text = db.message().to_string();
            if let Some(d) = db.detail() {
                text.push_str(" — ");
                text.push_str(d);
            }
            if let Some(h) = db.hint() {
                text.push_str(" (");
                text.push_str(h);
                text.push(')');
            }
            if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE {
                DbError::Refused(text)
            } else if db.code().code().starts_with("57P") || db.code().code().starts_with("08") {
                DbError::Lost(text)
            } else {
                DbError::Failed(text)
            }
        } else if e.is_closed() {
            DbError::Lost("the database connection is closed".into())
        } else {
            DbError::Failed(e.to_string())
        }
    }
}
