//! The SQL API of the foundation: build, check, validate, parse, XSD export, container numbers.

use crate::cache::catalogues;
use crate::error::{OrReport, VasscmError};
use crate::settings;
use pgrx::prelude::*;
use pgrx::JsonB;
use vasscm_core::{container, message, xsd, BuildError, Problem};

fn rows(problems: Vec<Problem>) -> impl Iterator<Item = (String, String, String)> {
    problems.into_iter().map(|p| (p.path, p.rule, p.detail))
}

/// Builds the full XML (envelope + data, unsigned) of a message from JSON data; raises one
/// error listing every problem when the data is invalid.
#[pg_extern(volatile, parallel_safe)]
fn build_message(message_type: &str, data: JsonB, header: default!(JsonB, "'{}'")) -> String {
    let cats = catalogues().or_report();
    message::build(&cats, message_type, &data.0, &header.0, &settings::header_defaults()).or_report()
}

/// Lists every problem of JSON data for a message type without building it (no rows: valid).
#[pg_extern(stable, parallel_safe)]
fn check_message_data(message_type: &str, data: JsonB) -> TableIterator<'static, (name!(path, String), name!(rule, String), name!(detail, String))> {
    let cats = catalogues().or_report();
    TableIterator::new(rows(message::check_data(&cats, message_type, &data.0).or_report()))
}

/// Validates a whole XML message: envelope, types, lengths, code lists, mandatory and
/// conditional rules, check digits (no rows: valid).
#[pg_extern(stable, parallel_safe)]
fn validate_message(message: &str) -> TableIterator<'static, (name!(path, String), name!(rule, String), name!(detail, String))> {
    let cats = catalogues().or_report();
    TableIterator::new(rows(message::validate(&cats, message, &settings::limits())))
}

/// Parses an XML message into `{"header": {...}, "data": {...}}` (the inverse of `build_message`).
#[pg_extern(stable, parallel_safe)]
fn parse_message(message: &str) -> JsonB {
    let cats = catalogues().or_report();
    JsonB(message::parse(&cats, message, &settings::limits()).or_report().to_json())
}

/// An XML Schema 1.0 of a message type, generated from the active catalogue.
#[pg_extern(stable, parallel_safe)]
fn message_xsd(message_type: &str) -> String {
    let cats = catalogues().or_report();
    let Some(cat) = cats.active() else { VasscmError::from(BuildError::NoActiveCatalogue).report() };
    let Some(msg) = cat.message(message_type) else {
        VasscmError::from(BuildError::UnknownType { code: message_type.to_string(), version: cat.version.clone() }).report()
    };
    xsd::message_xsd(cat, msg)
}

/// Whether a container number (normalised first) is a valid ISO 6346 number.
#[pg_extern(immutable, strict, parallel_safe)]
fn is_valid_container_no(container_no: &str) -> bool {
    container::validate(&container::normalize(container_no)).is_ok()
}

/// The ISO 6346 check digit of a container number (its first 10 characters, normalised).
#[pg_extern(immutable, strict, parallel_safe)]
fn container_check_digit(container_no: &str) -> i32 {
    let n = container::normalize(container_no);
    let prefix: String = n.chars().take(10).collect();
    container::check_digit(&prefix).or_report() as i32
}

/// Trims, upper-cases and removes inner spaces of a container number.
#[pg_extern(immutable, strict, parallel_safe)]
fn normalize_container_no(container_no: &str) -> String {
    container::normalize(container_no)
}

/// `#[pg_test]`s of the SQL API (each runs in a transaction that is rolled back).
#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use pgrx::JsonB;
    use serde_json::json;

    #[pg_test]
    fn builds_every_catalogue_example() {
        Spi::run("SET vasscm.sender_code = 'CANGTEST'").unwrap();
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM vasscm.catalogue_message m
              WHERE NOT EXISTS (SELECT 1 FROM vasscm.validate_message(vasscm.build_message(m.code, m.example)))
                AND vasscm.parse_message(vasscm.build_message(m.code, m.example)) -> 'data' = m.example",
        )
        .unwrap()
        .unwrap();
        let total = Spi::get_one::<i64>("SELECT count(*) FROM vasscm.message_types").unwrap().unwrap();
        assert_eq!(n, total);
        assert!(total >= 32);
    }
}
