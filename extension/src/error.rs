//! Errors of the SQL edge, each turned into one clear `ereport` with SQLSTATE, detail and hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use vasscm_core::message::ParseError;
use vasscm_core::{BuildError, CatalogueError, Problem};

/// Everything that can go wrong in a vasscm SQL function.
#[derive(Debug, thiserror::Error)]
pub enum VasscmError {
    /// `build_message` / `check_message_data` refused the data.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// `parse_message` could not read the message.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A catalogue document is unusable.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// A container number is malformed.
    #[error(transparent)]
    Container(#[from] vasscm_core::container::ContainerError),
    /// Reading the catalogue tables failed.
    #[error("could not read the catalogue tables: {0}")]
    Spi(String),
}

fn problem_lines(problems: &[Problem]) -> String {
    problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n")
}

impl VasscmError {
    /// Raises the error in PostgreSQL (never returns).
    pub fn report(self) -> ! {
        use PgSqlErrorCode::*;
        let (code, hint, detail) = match &self {
            VasscmError::Build(BuildError::Invalid { problems, .. }) => (
                ERRCODE_DATA_EXCEPTION,
                Some("vasscm.check_message_data(message_type, data) lists the same problems as rows"),
                Some(problem_lines(problems)),
            ),
            VasscmError::Build(BuildError::UnknownType { .. }) => (ERRCODE_INVALID_PARAMETER_VALUE, Some("SELECT code FROM vasscm.message_types"), None),
            VasscmError::Build(BuildError::NoActiveCatalogue) => (ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, None, None),
            VasscmError::Build(BuildError::NotAnObject(_)) => (ERRCODE_INVALID_PARAMETER_VALUE, None, None),
            VasscmError::Parse(ParseError::Structure(problems)) => (ERRCODE_INVALID_XML_CONTENT, None, Some(problem_lines(problems))),
            VasscmError::Parse(ParseError::Xml(_)) => (ERRCODE_INVALID_XML_DOCUMENT, None, None),
            VasscmError::Catalogue(CatalogueError::Inconsistent { problems, .. }) => {
                (ERRCODE_INVALID_PARAMETER_VALUE, Some("see docs/catalogue.md for the catalogue format"), Some(problems.join("\n")))
            }
            VasscmError::Catalogue(_) => (ERRCODE_INVALID_PARAMETER_VALUE, Some("see docs/catalogue.md for the catalogue format"), None),
            VasscmError::Container(_) => (ERRCODE_INVALID_PARAMETER_VALUE, None, None),
            VasscmError::Spi(_) => (ERRCODE_INTERNAL_ERROR, None, None),
        };
        let mut report = ErrorReport::new(code, format!("vasscm: {self}"), "vasscm");
        if let Some(d) = detail {
            report = report.set_detail(d);
        }
        if let Some(h) = hint {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR-level reports do not return")
    }
}

/// `result.or_report()`: the value, or the error raised in PostgreSQL.
pub trait OrReport<T> {
    /// Unwraps or raises.
    fn or_report(self) -> T;
}

impl<T, E: Into<VasscmError>> OrReport<T> for Result<T, E> {
    fn or_report(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().report(),
        }
    }
}
