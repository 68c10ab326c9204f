//! Building, checking, validating and parsing whole messages (envelope + data).

use crate::catalogue::{Catalogue, Catalogues, MessageDef};
use crate::json::{record_from_json, record_to_json};
use crate::problem::{quote, Problem};
use crate::record::{Record, Value};
use crate::scalar::VIETNAM_OFFSET_SECONDS;
use crate::validate::{check_record, check_rules};
use crate::xml_read::{parse_tree, record_from_element, Element, Limits, XmlError};
use crate::xml_write::write_message;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Namespace of XML-DSig, the only foreign element allowed (as the last child of the root).
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Header values that come from settings unless the caller gives them.
#[derive(Debug, Clone, Default)]
pub struct HeaderDefaults {
    /// `Application_Version` (vasscm's version).
    pub application_version: String,
    /// `Sender_Code` (setting `vasscm.sender_code`).
    pub sender_code: String,
    /// `Sender_Name` (setting `vasscm.sender_name`).
    pub sender_name: String,
    /// `Receiver_Code` (setting `vasscm.receiver_code`).
    pub receiver_code: String,
}

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No catalogue is active.
    #[error("no catalogue version is active (load one with vasscm.load_catalogue and activate it)")]
    NoActiveCatalogue,
    /// The message type is not in the catalogue.
    #[error("message type {code:?} is not in catalogue {version} (see the view vasscm.message_types)")]
    UnknownType {
        /// The type asked for.
        code: String,
        /// The catalogue searched.
        version: String,
    },
    /// `data` or `header` is not a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// The data breaks the catalogue's rules.
    #[error("message {code} is invalid: {} problem(s)", problems.len())]
    Invalid {
        /// The message type.
        code: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// Why a message could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Unreadable or hostile XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// Readable XML that is not a VASSCM message of a loaded catalogue.
    #[error("not a VASSCM message: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Structure(Vec<Problem>),
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Catalogue version used.
    pub version: String,
    /// Message type.
    pub message_type: String,
    /// Header fields.
    pub header: Map<String, Json>,
    /// Data fields, in `build_message`'s input shape.
    pub data: Map<String, Json>,
    /// Whether an XML-DSig `Signature` is present (not verified here).
    pub signed: bool,
}

impl Parsed {
    /// `{"header": {...}, "data": {...}}`.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("header".into(), Json::Object(self.header.clone()));
        m.insert("data".into(), Json::Object(self.data.clone()));
        Json::Object(m)
    }
}

fn active(cats: &Catalogues) -> Result<&Arc<Catalogue>, BuildError> {
    cats.active().ok_or(BuildError::NoActiveCatalogue)
}

fn message<'a>(cat: &'a Catalogue, code: &str) -> Result<&'a MessageDef, BuildError> {
    cat.message(code).ok_or_else(|| BuildError::UnknownType { code: code.to_string(), version: cat.version.clone() })
}

/// Checks builder input for a message type without building: every problem, or none.
pub fn check_data(cats: &Catalogues, code: &str, data: &Json) -> Result<Vec<Problem>, BuildError> {
    let cat = active(cats)?;
    let msg = message(cat, code)?;
    let obj = data.as_object().ok_or(BuildError::NotAnObject("data"))?;
    let mut problems = Vec::new();
    let rec = record_from_json(&msg.fields, obj, &cat.envelope.data, &mut problems);
    check_record(&msg.fields, &rec, &cat.envelope.data, &mut problems);
    check_rules(&msg.rules, &rec, &cat.envelope.data, &mut problems);
    Ok(problems)
}

/// The outcome of [`prepare`]: canonical data, and the XML or every problem.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The data as the builder normalised it (container numbers, timestamps…), in
    /// `parse_message`'s shape; what was given where it could not be normalised.
    pub data: Json,
    /// The built XML when the data is valid.
    pub xml: Option<String>,
    /// Every problem (empty when `xml` is set).
    pub problems: Vec<Problem>,
}

/// Checks and, when valid, builds a message, never failing on bad data: what the capture
/// triggers use, so that bad TOS data becomes an `invalid` outbox row with its reasons.
pub fn prepare(cats: &Catalogues, code: &str, data: &Json, header: &Json, defaults: &HeaderDefaults) -> Prepared {
    let assembled;
    let data = match (active(cats).ok().and_then(|c| c.message(code)), data.as_object()) {
        (Some(msg), Some(obj)) if obj.keys().any(|k| k.contains('/')) => {
            assembled = Json::Object(crate::json::assemble_group_paths(&msg.fields, obj));
            &assembled
        }
        _ => data,
    };
    match build_inner(cats, code, data, header, defaults, true) {
        Ok((xml, canonical)) => Prepared { data: canonical.unwrap_or_else(|| data.clone()), xml: Some(xml), problems: Vec::new() },
        Err(BuildError::Invalid { problems, .. }) => Prepared { data: data.clone(), xml: None, problems },
        Err(other) => Prepared { data: data.clone(), xml: None, problems: vec![Problem::new("", "catalogue", other.to_string())] },
    }
}

/// Builds the full, unsigned XML of a message with the active catalogue.
pub fn build(cats: &Catalogues, code: &str, data: &Json, header: &Json, defaults: &HeaderDefaults) -> Result<String, BuildError> {
    build_inner(cats, code, data, header, defaults, false).map(|(xml, _)| xml)
}

/// Builds, returning the XML and, when asked, the normalised data in `parse_message`'s shape.
fn build_inner(
    cats: &Catalogues,
    code: &str,
    data: &Json,
    header: &Json,
    defaults: &HeaderDefaults,
    canonical: bool,
) -> Result<(String, Option<Json>), BuildError> {
    let cat = active(cats)?;
    let msg = message(cat, code)?;
    let obj = data.as_object().ok_or(BuildError::NotAnObject("data"))?;
    let empty = Map::new();
    let hdr = match header {
        Json::Null => &empty,
        Json::Object(o) => o,
        _ => return Err(BuildError::NotAnObject("header")),
    };
    let mut problems = Vec::new();
    let env = &cat.envelope;
    let rec = record_from_json(&msg.fields, obj, &env.data, &mut problems);
    check_record(&msg.fields, &rec, &env.data, &mut problems);
    check_rules(&msg.rules, &rec, &env.data, &mut problems);

    let mut head = default_header(cat, msg, defaults);
    let given = record_from_json(&env.header_fields, hdr, &env.header, &mut problems);
    for (name, value) in given.0 {
        let forced = match name.as_str() {
            "Message_Type" => Some(&msg.code),
            "Message_Version" => Some(&cat.version),
            _ => None,
        };
        match (forced, &value) {
            (Some(f), Value::Text(v)) if v != f => problems.push(Problem::new(
                format!("{}/{name}", env.header),
                "fixed",
                format!("{} cannot be set to {}: it is {}", name, quote(v), quote(f)),
            )),
            _ => head.set(&name, value),
        }
    }
    check_record(&env.header_fields, &head, &env.header, &mut problems);
    if !problems.is_empty() {
        return Err(BuildError::Invalid { code: msg.code.clone(), problems });
    }
    let normalised = canonical.then(|| Json::Object(record_to_json(&msg.fields, &rec)));
    Ok((write_message(cat, &msg.fields, &head, &rec), normalised))
}

fn default_header(cat: &Catalogue, msg: &MessageDef, d: &HeaderDefaults) -> Record {
    let now = chrono::Utc::now();
    let vn = chrono::FixedOffset::east_opt(VIETNAM_OFFSET_SECONDS).expect("+07:00 is a valid offset");
    let candidates: [(&str, String); 10] = [
        ("Application_Name", String::new()),
        ("Application_Version", d.application_version.clone()),
        ("Sender_Code", d.sender_code.clone()),
        ("Sender_Name", d.sender_name.clone()),
        ("Receiver_Code", d.receiver_code.clone()),
        ("Message_Version", cat.version.clone()),
        ("Message_Type", msg.code.clone()),
        ("Message_Name", msg.name_vi.clone()),
        ("Transaction_Date", vietnam_timestamp(now.with_timezone(&vn))),
        ("Transaction_ID", uuid::Uuid::new_v4().to_string()),
    ];
    let mut rec = Record::default();
    for (name, value) in candidates {
        let Some(def) = cat.header_field(name) else { continue };
        let value = def.fixed.clone().unwrap_or(value);
        if !value.is_empty() {
            rec.0.push((name.to_string(), Value::Text(value)));
        }
    }
    rec
}

/// `YYYY-MM-DDThh:mm:ss+07:00`, written directly (chrono's formatter parses its pattern per call).
fn vietnam_timestamp(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    use chrono::{Datelike, Timelike};
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
}

/// The envelope split into its parts, with the catalogue and message type it names.
struct Located {
    cat: Arc<Catalogue>,
    /// Index of the header among the root's children.
    header: usize,
    /// Index of the data element, if present.
    data: Option<usize>,
    signed: bool,
}

/// Finds header, data and signature, and the catalogue the header names; structural
/// problems go to `out`.
fn locate(cats: &Catalogues, root: &Element, out: &mut Vec<Problem>) -> Option<Located> {
    let Some(active) = cats.active().cloned().or_else(|| cats.by_version.values().next().cloned()) else {
        out.push(Problem::new("", "catalogue", "no catalogue is loaded"));
        return None;
    };
    let Some(header_idx) = root.children.iter().position(|c| c.name == active.envelope.header) else {
        out.push(Problem::new(
            &root.name,
            "envelope",
            format!("the root element must be {} with {} and {}", active.envelope.root, active.envelope.header, active.envelope.data),
        ));
        return None;
    };
    let version = root.children[header_idx].child("Message_Version").map(|e| e.text.as_str());
    let cat = match version {
        Some(v) => match cats.get(v) {
            Some(c) => c.clone(),
            None => {
                let mut loaded: Vec<&str> = cats.by_version.keys().map(String::as_str).collect();
                loaded.sort_unstable();
                out.push(Problem::new(
                    format!("{}/Message_Version", active.envelope.header),
                    "catalogue",
                    format!("catalogue version {} is not loaded (loaded: {})", quote(v), loaded.join(", ")),
                ));
                return None;
            }
        },
        None => active,
    };
    let env = &cat.envelope;
    if root.name != env.root {
        out.push(Problem::new(&root.name, "envelope", format!("the root element must be {}, not {}", env.root, root.name)));
    }
    let mut data = None;
    let mut signed = false;
    let n = root.children.len();
    for (i, child) in root.children.iter().enumerate() {
        let expected_pos = if child.name == env.header { Some(0) } else if child.name == env.data { Some(1) } else { None };
        match expected_pos {
            Some(pos) if pos == i => {
                if pos == 1 {
                    data = Some(i);
                }
            }
            Some(_) => out.push(Problem::new(
                format!("{}/{}", env.root, child.name),
                "envelope",
                format!("{} must be followed by {}, then an optional signature", env.header, env.data),
            )),
            None if child.local_name() == "Signature" && is_dsig(root, child) => {
                if i + 1 != n {
                    out.push(Problem::new(format!("{}/{}", env.root, child.name), "envelope", "the signature must be the last element"));
                }
                signed = true;
            }
            None => out.push(Problem::new(
                format!("{}/{}", env.root, child.name),
                "envelope",
                format!("{} may contain only {}, {} and an XML-DSig Signature", env.root, env.header, env.data),
            )),
        }
    }
    if data.is_none() {
        out.push(Problem::new(format!("{}/{}", env.root, env.data), "envelope", format!("{} is missing", env.data)));
    }
    Some(Located { cat, header: header_idx, data, signed })
}

/// Whether `sig` is in the XML-DSig namespace (declared on itself or on the root).
fn is_dsig(root: &Element, sig: &Element) -> bool {
    let attr = match sig.name.split_once(':') {
        Some((prefix, _)) => format!("xmlns:{prefix}"),
        None => "xmlns".to_string(),
    };
    sig.attribute(&attr).or_else(|| root.attribute(&attr)) == Some(DSIG_NS)
}

/// Validates a whole message: envelope, header, types, lengths, codes, mandatory and
/// conditional rules, check digits. No problems means valid.
pub fn validate(cats: &Catalogues, xml: &str, limits: &Limits) -> Vec<Problem> {
    let mut root = match parse_tree(xml, limits) {
        Ok(r) => r,
        Err(e) => return vec![Problem::new("", e.rule(), e.to_string())],
    };
    let mut out = Vec::new();
    let Some(loc) = locate(cats, &root, &mut out) else { return out };
    let cat = &loc.cat;
    let env = &cat.envelope;
    let header = std::mem::take(&mut root.children[loc.header]);
    let head = record_from_element(&env.header_fields, header, &env.header, &mut out);
    check_record(&env.header_fields, &head, &env.header, &mut out);
    let Some(code) = head.text("Message_Type") else { return out };
    let Some(msg) = cat.message(code) else {
        out.push(Problem::new(
            format!("{}/Message_Type", env.header),
            "code",
            format!("{} is not a message type of catalogue {}", quote(code), cat.version),
        ));
        return out;
    };
    if let Some(data) = loc.data {
        let data = std::mem::take(&mut root.children[data]);
        let rec = record_from_element(&msg.fields, data, &env.data, &mut out);
        check_record(&msg.fields, &rec, &env.data, &mut out);
        check_rules(&msg.rules, &rec, &env.data, &mut out);
    }
    out
}

/// Parses a message into header and data JSON. Fails on unreadable XML and on structure it
/// cannot map (unknown elements, wrong envelope); value problems are `validate`'s business.
pub fn parse(cats: &Catalogues, xml: &str, limits: &Limits) -> Result<Parsed, ParseError> {
    let mut root = parse_tree(xml, limits)?;
    let mut out = Vec::new();
    let loc = locate(cats, &root, &mut out);
    let Some(loc) = loc.filter(|_| out.is_empty()) else { return Err(ParseError::Structure(out)) };
    let cat = &loc.cat;
    let env = &cat.envelope;
    let header = std::mem::take(&mut root.children[loc.header]);
    let head = record_from_element(&env.header_fields, header, &env.header, &mut out);
    let code = head.text("Message_Type").unwrap_or_default().to_string();
    let Some(msg) = cat.message(&code) else {
        out.push(Problem::new(format!("{}/Message_Type", env.header), "code", format!("{} is not a message type of catalogue {}", quote(&code), cat.version)));
        return Err(ParseError::Structure(out));
    };
    let data = loc.data.map(|i| std::mem::take(&mut root.children[i])).unwrap_or_default();
    let rec = record_from_element(&msg.fields, data, &env.data, &mut out);
    let structural: Vec<Problem> = out.into_iter().filter(|p| matches!(p.rule.as_str(), "unknown_field" | "cardinality" | "type")).collect();
    if !structural.is_empty() {
        return Err(ParseError::Structure(structural));
    }
    Ok(Parsed {
        version: cat.version.clone(),
        message_type: code,
        header: record_to_json(&env.header_fields, &head),
        data: record_to_json(&msg.fields, &rec),
        signed: loc.signed,
    })
}
