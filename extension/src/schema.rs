//! The schema: catalogue tables and functions, written in SQL (`extension/sql/`), plus the
//! Rust helpers they call.

#[allow(unused_imports)] // named in `requires` below
use crate::cache::_catalogue_changed;
use crate::error::OrReport;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Value};
use vasscm_core::catalogue::{FieldDef, RuleKind, Shape};
use vasscm_core::Catalogue;

/// The catalogue v1 shipped with this build (`catalogue/v1.json`).
#[pg_extern(immutable, parallel_safe)]
fn _builtin_catalogue() -> JsonB {
    JsonB(serde_json::from_str(vasscm_core::BUILTIN_CATALOGUE_V1).or_report())
}

impl From<serde_json::Error> for crate::error::VasscmError {
    fn from(e: serde_json::Error) -> Self {
        crate::error::VasscmError::Catalogue(vasscm_core::CatalogueError::Shape(e.to_string()))
    }
}

/// Resolves a catalogue document (raising every inconsistency) into the rows of the
/// `catalogue_message` and `catalogue_field` tables.
#[pg_extern(immutable, parallel_safe)]
fn _catalogue_rows(catalogue: JsonB) -> JsonB {
    let cat = Catalogue::from_value(&catalogue.0).or_report();
    let messages: Vec<Value> = cat
        .messages
        .iter()
        .map(|m| {
            let mut fields = Vec::new();
            flatten(&m.fields, "", &mut fields);
            for r in &m.rules {
                let cond = r.describe_condition();
                for f in &r.fields {
                    if let Some(row) = fields.iter_mut().find(|row| row["path"] == json!(f)) {
                        let text = match r.kind {
                            RuleKind::Required => format!("mandatory{cond}"),
                            RuleKind::OneOf => format!("one of {} mandatory{cond}", r.fields.join(", ")),
                        };
                        row["rule"] = json!(text);
                    }
                }
            }
            for (i, row) in fields.iter_mut().enumerate() {
                row["position"] = json!(i + 1);
            }
            json!({
                "code": m.code, "direction": m.direction.code(), "name_vi": m.name_vi, "name_en": m.name_en,
                "cargo_kinds": m.cargo_kinds, "example": m.example, "fields": fields,
            })
        })
        .collect();
    JsonB(json!({"version": cat.version, "description": cat.description, "messages": messages}))
}

fn flatten(defs: &[FieldDef], prefix: &str, out: &mut Vec<Value>) {
    for f in defs {
        let path = format!("{prefix}{}", f.name);
        let (ty, min, max, codes) = match &f.shape {
            Shape::Scalar(t) => {
                let (min, max) = match t {
                    vasscm_core::ScalarType::Text { min, max } | vasscm_core::ScalarType::Digits { min, max } => (Some(*min), Some(*max)),
                    _ => (None, None),
                };
                let codes = match t {
                    vasscm_core::ScalarType::Code(c) => Some(c.clone()),
                    _ => None,
                };
                (t.describe(), min, max, codes)
            }
            Shape::List(_) => ("list".to_string(), None, None, None),
            Shape::Group { .. } => ("group".to_string(), None, None, None),
        };
        out.push(json!({
            "path": path, "element": f.name, "type": ty, "min_length": min, "max_length": max, "codes": codes,
            "mandatory": f.mandatory, "rule": Value::Null, "name_vi": f.name_vi, "name_en": f.name_en,
        }));
        match &f.shape {
            Shape::List(elem) => flatten(std::slice::from_ref(elem), &format!("{path}/"), out),
            Shape::Group { item, fields } => {
                let p = match item {
                    Some(i) => format!("{path}/{i}/"),
                    None => format!("{path}/"),
                };
                flatten(fields, &p, out);
            }
            Shape::Scalar(_) => {}
        }
    }
}

extension_sql_file!("../sql/catalogue.sql", name = "catalogue", requires = [_catalogue_rows, _catalogue_changed]);
#[allow(unused_imports)] // named in `requires` below
use crate::api::{build_message, check_message_data};
#[allow(unused_imports)] // named in `requires` below
use crate::capture::{_check_expression, _prepare};

extension_sql_file!("../sql/binding.sql", name = "binding", requires = ["catalogue", _check_expression]);
extension_sql_file!(
    "../sql/outbox.sql",
    name = "outbox",
    requires = ["binding", _prepare, build_message, check_message_data]
);
extension_sql_file!("../sql/capture.sql", name = "capture", requires = ["outbox"]);
#[allow(unused_imports)] // named in `requires` below
use crate::api::parse_message;
#[allow(unused_imports)] // named in `requires` below
use crate::settings::_customs_sender_codes;

extension_sql_file!("../sql/ledger.sql", name = "ledger", requires = ["capture"]);
extension_sql_file!("../sql/interpret.sql", name = "interpret", requires = ["ledger"]);
extension_sql_file!("../sql/worker.sql", name = "worker", requires = ["interpret", parse_message, _customs_sender_codes]);
#[allow(unused_imports)] // named in `requires` below
use crate::api::{is_valid_container_no, normalize_container_no};

// The clearance, one file per job: settings, helpers, state tables, the inbox applier, port
// facts, the maintained state, an operator action, the read API.
extension_sql_file!("../sql/settings.sql", name = "settings", requires = ["worker"]);
extension_sql_file!("../sql/clearance_helpers.sql", name = "clearance_helpers", requires = ["settings"]);
extension_sql_file!("../sql/clearance_tables.sql", name = "clearance_tables", requires = ["clearance_helpers"]);
extension_sql_file!("../sql/inbox_apply.sql", name = "inbox_apply", requires = ["clearance_tables", normalize_container_no]);
extension_sql_file!("../sql/port_facts.sql", name = "port_facts", requires = ["inbox_apply"]);
extension_sql_file!("../sql/clearance_now.sql", name = "clearance_now", requires = ["port_facts"]);
extension_sql_file!("../sql/scan.sql", name = "scan", requires = ["clearance_now", normalize_container_no, is_valid_container_no]);
extension_sql_file!(
    "../sql/clearance.sql",
    name = "clearance",
    requires = ["scan", normalize_container_no, is_valid_container_no]
);
extension_sql_file!("../sql/gate.sql", name = "gate", requires = ["clearance"]);
extension_sql_file!("../sql/obligations.sql", name = "obligations", requires = ["gate"]);
extension_sql_file!("../sql/audit.sql", name = "audit", requires = ["obligations"]);
extension_sql_file!("../sql/operations.sql", name = "operations", requires = ["audit"]);
extension_sql_file!("../sql/incident.sql", name = "incident", requires = ["operations"]);
#[allow(unused_imports)] // named in `requires` below
use crate::camera::{container_read_candidates, correct_container_read};
extension_sql_file!(
    "../sql/camera.sql",
    name = "camera",
    requires = ["incident", correct_container_read, container_read_candidates, is_valid_container_no, normalize_container_no]
);
extension_sql_file!("../sql/dump.sql", name = "dump", requires = ["operations"]);
extension_sql!(
    "SELECT vasscm.load_catalogue(vasscm._builtin_catalogue(), activate => true);",
    name = "bootstrap_catalogue",
    requires = ["catalogue", _builtin_catalogue]
);
// Last: roles and grants over every object created above (pgrx's functions included).
extension_sql_file!("../sql/roles.sql", name = "roles", finalize);
