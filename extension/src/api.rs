//! The SQL API of the foundation: build, check, validate, parse, XSD export, container numbers.

use crate::cache::catalogues;
use crate::error::{OrReport, VasscmError};
use crate::settings;
use pgrx::prelude::*;
use pgrx::{JsonB, PgMemoryContexts};
use std::borrow::Cow;
use vasscm_core::{container, message, xsd, BuildError, Direction, Problem};

fn rows(problems: Vec<Problem>) -> impl Iterator<Item = (String, String, String)> {
    problems.into_iter().map(|p| (p.path, p.rule, p.detail))
}

/// Builds the full XML (envelope + data, unsigned) of a message from JSON data; raises one
/// error listing every problem when the data is invalid.
#[pg_extern(volatile, parallel_safe)]
pub(crate) fn build_message(message_type: &str, data: JsonB, header: default!(JsonB, "'{}'")) -> String {
    let cats = catalogues().or_report();
    let direction = cats.active().and_then(|c| c.message(message_type)).map(|m| m.direction).unwrap_or(Direction::PortToCustoms);
    message::build(&cats, message_type, &data.0, &header.0, &settings::header_defaults(direction)).or_report()
}

/// Lists every problem of JSON data for a message type without building it (no rows: valid).
#[pg_extern(stable, parallel_safe)]
pub(crate) fn check_message_data(message_type: &str, data: JsonB) -> TableIterator<'static, (name!(path, String), name!(rule, String), name!(detail, String))> {
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
pub(crate) fn parse_message(message: &str) -> JsonB {
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
pub(crate) fn is_valid_container_no(container_no: &str) -> bool {
    container::validate(&container::normalize(container_no)).is_ok()
}

/// The ISO 6346 check digit of a container number (its first 10 characters, normalised).
#[pg_extern(immutable, strict, parallel_safe)]
fn container_check_digit(container_no: &str) -> i32 {
    let n = container::normalize(container_no);
    let prefix: String = n.chars().take(10).collect();
    container::check_digit(&prefix).or_report() as i32
}

/// Trims, upper-cases and removes inner spaces of a container number (a number already
/// normal is returned as it is, without work: reports call this once or twice per row).
#[pg_extern(immutable, strict, parallel_safe)]
pub(crate) fn normalize_container_no(container_no: &str) -> &str {
    match container::normalized(container_no) {
        Cow::Borrowed(normal) => normal,
        // SAFETY: the string is dropped with the current memory context, which outlives the
        // call: pgrx copies the returned &str into a text datum before returning.
        Cow::Owned(normal) => unsafe { (*PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(normal)).as_str() },
    }
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

    use crate::test_support::error_of;

    #[pg_test]
    fn build_errors_list_every_problem() {
        Spi::run("SET vasscm.sender_code = 'CANGTEST'").unwrap();
        let e = error_of(
            r#"SELECT vasscm.build_message('14', '{"MA_HQ":"03CC","SO_CONTAINER":"MSKU1234566","TRANG_THAI":"X","HINH_THUC":"TAU"}')"#,
        );
        assert!(e.contains("message 14 is invalid"), "{e}");
        assert!(e.contains("Data/SO_CONTAINER: check_digit"), "{e}");
        assert!(e.contains("Data/TRANG_THAI: code"), "{e}");
        assert!(e.contains("Data/THOI_GIAN: mandatory"), "{e}");
        let rows = Spi::get_one::<i64>(
            r#"SELECT count(*) FROM vasscm.check_message_data('14', '{"MA_HQ":"03CC","SO_CONTAINER":"MSKU1234566","TRANG_THAI":"X","HINH_THUC":"TAU"}')"#,
        )
        .unwrap()
        .unwrap();
        assert!(rows >= 5, "{rows}");
        let unknown = error_of("SELECT vasscm.build_message('99', '{}')");
        assert!(unknown.contains("not in catalogue 1"), "{unknown}");
    }

    #[pg_test]
    fn header_defaults_come_from_settings() {
        Spi::run("SET vasscm.sender_code = 'CANGHP'; SET vasscm.sender_name = 'Cảng & Bến'; SET vasscm.receiver_code = '03CC'").unwrap();
        let parsed = Spi::get_one::<JsonB>(
            r#"SELECT vasscm.parse_message(vasscm.build_message('CHECK_DECLARATION', '{"MA_HQ":"03CC","SO_TK":"308044805740"}'))"#,
        )
        .unwrap()
        .unwrap()
        .0;
        assert_eq!(parsed["header"]["Sender_Code"], json!("CANGHP"));
        assert_eq!(parsed["header"]["Sender_Name"], json!("Cảng & Bến"));
        assert_eq!(parsed["header"]["Receiver_Code"], json!("03CC"));
        assert_eq!(parsed["header"]["Message_Type"], json!("CHECK_DECLARATION"));
        assert!(parsed["header"]["Transaction_Date"].as_str().unwrap().ends_with("+07:00"));
        Spi::run("SET vasscm.sender_code = ''").unwrap();
        let e = error_of(r#"SELECT vasscm.build_message('CHECK_DECLARATION', '{"MA_HQ":"03CC","SO_TK":"308044805740"}')"#);
        assert!(e.contains("Header/Sender_Code: mandatory"), "{e}");
    }

    #[pg_test]
    fn hostile_xml_gets_clear_errors() {
        let e = error_of(
            r#"SELECT vasscm.parse_message('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Customs>&a;</Customs>')"#,
        );
        assert!(e.contains("DOCTYPE and entity declarations are not allowed"), "{e}");
        Spi::run("SET vasscm.max_message_bytes = 2048").unwrap();
        let e = error_of("SELECT vasscm.parse_message('<Customs>' || repeat('x', 5000) || '</Customs>')");
        assert!(e.contains("more than the limit of 2048 bytes"), "{e}");
        let rule = Spi::get_one::<String>("SELECT rule FROM vasscm.validate_message('<Customs>' || repeat('x', 5000) || '</Customs>')")
            .unwrap()
            .unwrap();
        assert_eq!(rule, "size");
        let e = error_of("SELECT vasscm.parse_message(repeat('<a>', 100))");
        assert!(e.contains("nested deeper than 32"), "{e}");
        let e = error_of("SELECT vasscm.parse_message('<Customs><Header>')");
        assert!(e.contains("not well-formed"), "{e}");
    }

    #[pg_test]
    fn container_number_functions() {
        assert_eq!(Spi::get_one::<bool>("SELECT vasscm.is_valid_container_no(' csqu 305438 3')").unwrap(), Some(true));
        assert_eq!(Spi::get_one::<bool>("SELECT vasscm.is_valid_container_no('CSQU3054384')").unwrap(), Some(false));
        assert_eq!(Spi::get_one::<i32>("SELECT vasscm.container_check_digit('CSQU305438')").unwrap(), Some(3));
        assert_eq!(Spi::get_one::<String>("SELECT vasscm.normalize_container_no(' msku 1234565 ')").unwrap().as_deref(), Some("MSKU1234565"));
        assert!(error_of("SELECT vasscm.container_check_digit('12')").contains("3 letters"));
    }

    #[pg_test]
    fn a_new_catalogue_version_can_be_loaded_and_activated() {
        Spi::run("SET vasscm.sender_code = 'CANGTEST'").unwrap();
        // Version 2 adds an optional field to form 06; the cache must see it at once.
        Spi::run(
            r#"SELECT vasscm.load_catalogue(
                 jsonb_set(jsonb_set(vasscm._builtin_catalogue(), '{version}', '"2"'),
                           '{messages,5,fields}',
                           (vasscm._builtin_catalogue() #> '{messages,5,fields}') || '[{"name":"GHI_CHU_MOI","type":"an","max":10}]'))"#,
        )
        .unwrap();
        let active = Spi::get_one::<String>("SELECT catalogue_version FROM vasscm.message_types WHERE code = '06'").unwrap();
        assert_eq!(active.as_deref(), Some("1"));
        let e = error_of(r#"SELECT vasscm.build_message('06', '{"SO_TK":"308044805740","TRANG_THAI_TK":"HUY","GHI_CHU_MOI":"x"}')"#);
        assert!(e.contains("unknown_field"), "{e}");
        Spi::run("SELECT vasscm.activate_catalogue('2')").unwrap();
        let xml = Spi::get_one::<String>(r#"SELECT vasscm.build_message('06', '{"SO_TK":"308044805740","TRANG_THAI_TK":"HUY","GHI_CHU_MOI":"x"}')"#)
            .unwrap()
            .unwrap();
        assert!(xml.contains("<Message_Version>2</Message_Version><Message_Type>06</Message_Type>"), "{xml}");
        assert!(xml.contains("<GHI_CHU_MOI>x</GHI_CHU_MOI>"), "{xml}");
        // Messages of the older version still validate against it.
        let old = xml.replace("<Message_Version>2</Message_Version>", "<Message_Version>1</Message_Version>");
        let rules: Vec<String> = Spi::connect(|c| {
            c.select("SELECT rule FROM vasscm.validate_message($1)", None, &[old.as_str().into()])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect()
        });
        assert_eq!(rules, vec!["unknown_field".to_string()]);
        let e = error_of(r#"SELECT vasscm.load_catalogue('{"version":"3","envelope":{"root":"C","header":"H","data":"D","header_fields":[]},"messages":[{"code":"X","direction":"UP","vi":"","en":"","fields":[{"ref":"NOPE"}]}]}')"#);
        assert!(e.contains("field NOPE is not in the field dictionary"), "{e}");
        assert!(error_of("SELECT vasscm.activate_catalogue('42')").contains("not loaded"));
    }

    #[pg_test]
    fn xsd_is_generated_from_the_catalogue() {
        let xsd = Spi::get_one::<String>("SELECT vasscm.message_xsd('21')").unwrap().unwrap();
        assert!(xsd.contains("<xs:element name=\"LIST_TK\" minOccurs=\"0\">"), "{xsd}");
        assert!(xsd.contains("<xs:enumeration value=\"SALAN\"/>"));
        assert!(!xsd.contains("<xs:enumeration value=\"DUONG_ONG\"/>"), "form 21 narrows PHUONG_TIEN");
        assert!(xsd.contains("fixed=\"21\""));
    }
}
