//! The VASSCM message catalogue: a versioned JSON document resolved into message definitions.
//!
//! The JSON (see `catalogue/v1.json` and `docs/catalogue.md`) has a field dictionary
//! (`fields`), reusable lists of field usages (`field_sets`) and rules (`rule_sets`), the
//! envelope's header fields, and one entry per message type. Resolution expands every usage
//! into a complete [`FieldDef`] so that the builder, validator, parser and XSD export never
//! need to know anything about a particular form.

use crate::scalar::ScalarType;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Default precision of `dec` fields when the catalogue does not give one.
const DEFAULT_DEC_DIGITS: usize = 18;
const DEFAULT_DEC_SCALE: usize = 3;
/// Name of the element that wraps each item of a repeating group unless the catalogue says otherwise.
const DEFAULT_ITEM: &str = "ITEM";

/// Why a catalogue document cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The document is not valid JSON of the catalogue's shape.
    #[error("catalogue is not well-formed: {0}")]
    Shape(String),
    /// The document is well-formed but inconsistent (unknown references, missing lengths…).
    #[error("catalogue {version} has {} problem(s): {}", problems.len(), problems.join("; "))]
    Inconsistent {
        /// The catalogue's version string.
        version: String,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Port → customs.
    PortToCustoms,
    /// Customs → port.
    CustomsToPort,
}

impl Direction {
    /// `P2C` or `C2P`, as in the catalogue.
    pub fn code(self) -> &'static str {
        match self {
            Direction::PortToCustoms => "P2C",
            Direction::CustomsToPort => "C2P",
        }
    }
}

/// The shape of a field: a simple value, a list of simple values, or a group of items.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// One text value.
    Scalar(ScalarType),
    /// `LIST_X/FIELD`: repeated simple elements, given by the element's definition.
    List(Box<FieldDef>),
    /// `LIST_X/ITEM`: repeated items with fields. `item` is the wrapper element of each item;
    /// `None` means the group's own element repeats (as `Error` in replies).
    Group {
        /// Element wrapping each item (`ITEM`), or `None`.
        item: Option<String>,
        /// The fields of one item.
        fields: Vec<FieldDef>,
    },
}

/// One field of a message, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// XML element name, also the JSON key.
    pub name: String,
    /// Simple, list or group.
    pub shape: Shape,
    /// Unconditionally mandatory (a list or group: at least one element).
    pub mandatory: bool,
    /// A value the field must have, if any (`Application_Name` = `VASSCM`).
    pub fixed: Option<String>,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
}

impl FieldDef {
    /// The scalar type, for simple fields.
    pub fn scalar(&self) -> Option<&ScalarType> {
        match &self.shape {
            Shape::Scalar(t) => Some(t),
            _ => None,
        }
    }
}

/// A test on a top-level field used in a conditional rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The field is present and its value is one of these.
    In(Vec<String>),
    /// The field is absent or its value is none of these.
    NotIn(Vec<String>),
    /// The field is present (`true`) or absent (`false`).
    Present(bool),
}

/// `field` passes `test`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The top-level field tested.
    pub field: String,
    /// The test.
    pub test: Test,
}

/// What a rule requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Every listed field must be present.
    Required,
    /// At least one of the listed fields must be present.
    OneOf,
}

/// A conditional rule over a message's top-level fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Required or one-of.
    pub kind: RuleKind,
    /// The fields concerned.
    pub fields: Vec<String>,
    /// All of these must hold for the rule to apply (empty: always).
    pub when: Vec<Condition>,
}

impl Rule {
    /// The rule in words, as used in docs and error details ("mandatory when TRANG_THAI is F").
    pub fn describe_condition(&self) -> String {
        if self.when.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .when
            .iter()
            .map(|c| match &c.test {
                Test::In(v) => format!("{} is {}", c.field, v.join(" or ")),
                Test::NotIn(v) => format!("{} is not {}", c.field, v.join(" or ")),
                Test::Present(true) => format!("{} is given", c.field),
                Test::Present(false) => format!("{} is not given", c.field),
            })
            .collect();
        format!(" when {}", parts.join(" and "))
    }
}

/// One message type of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDef {
    /// Form number (`14`) or project code (`VESSEL_LIST`).
    pub code: String,
    /// Who sends it.
    pub direction: Direction,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Cargo kinds concerned (`container`, `bulk`, `package`, `liquid`).
    pub cargo_kinds: Vec<String>,
    /// The `Data` fields in document order.
    pub fields: Vec<FieldDef>,
    /// Conditional rules.
    pub rules: Vec<Rule>,
    /// A valid sample of the data (docs, demo, tests).
    pub example: Option<serde_json::Value>,
}

/// The envelope around every message.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Root element (`Customs`).
    pub root: String,
    /// Header element (`Header`).
    pub header: String,
    /// Data element (`Data`).
    pub data: String,
    /// Header fields in document order.
    pub header_fields: Vec<FieldDef>,
}

/// A resolved catalogue version.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// Version string, written to `Header/Message_Version`.
    pub version: String,
    /// Free text.
    pub description: String,
    /// Envelope definition.
    pub envelope: Envelope,
    /// Every message type, in catalogue order.
    pub messages: Vec<MessageDef>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// Parses and resolves a catalogue document.
    pub fn from_json(text: &str) -> Result<Catalogue, CatalogueError> {
        let source: Source = serde_json::from_str(text).map_err(|e| CatalogueError::Shape(e.to_string()))?;
        Resolver::new(&source).resolve()
    }

    /// Resolves a catalogue document already parsed as JSON.
    pub fn from_value(value: &serde_json::Value) -> Result<Catalogue, CatalogueError> {
        let source: Source = Source::deserialize(value).map_err(|e| CatalogueError::Shape(e.to_string()))?;
        Resolver::new(&source).resolve()
    }

    /// The message type with this code.
    pub fn message(&self, code: &str) -> Option<&MessageDef> {
        self.index.get(code).map(|&i| &self.messages[i])
    }

    /// Looks a header field up by name.
    pub fn header_field(&self, name: &str) -> Option<&FieldDef> {
        self.envelope.header_fields.iter().find(|f| f.name == name)
    }
}

/// Every loaded catalogue version and which one is active (what a backend caches).
#[derive(Debug, Clone, Default)]
pub struct Catalogues {
    /// Version used to build new messages.
    pub active: Option<String>,
    /// All loaded versions.
    pub by_version: HashMap<String, Arc<Catalogue>>,
}

impl Catalogues {
    /// A set holding one catalogue, active.
    pub fn single(cat: Catalogue) -> Catalogues {
        let mut by_version = HashMap::new();
        let v = cat.version.clone();
        by_version.insert(v.clone(), Arc::new(cat));
        Catalogues { active: Some(v), by_version }
    }

    /// The active catalogue.
    pub fn active(&self) -> Option<&Arc<Catalogue>> {
        self.active.as_ref().and_then(|v| self.by_version.get(v))
    }

    /// A catalogue by version.
    pub fn get(&self, version: &str) -> Option<&Arc<Catalogue>> {
        self.by_version.get(version)
    }
}

// ---------------------------------------------------------------------------------------------
// Source document (serde) and resolution.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    #[serde(default)]
    #[allow(dead_code)]
    catalogue: Option<String>,
    version: String,
    #[serde(default)]
    description: Option<String>,
    envelope: SourceEnvelope,
    #[serde(default)]
    fields: BTreeMap<String, Spec>,
    #[serde(default)]
    field_sets: BTreeMap<String, Vec<Usage>>,
    #[serde(default)]
    rule_sets: BTreeMap<String, Vec<RuleUsage>>,
    messages: Vec<SourceMessage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEnvelope {
    root: String,
    header: String,
    data: String,
    header_fields: Vec<Usage>,
}

/// Type attributes shared by dictionary entries and usages (a usage overrides the dictionary).
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(rename = "type")]
    ty: Option<String>,
    min: Option<usize>,
    max: Option<usize>,
    len: Option<usize>,
    digits: Option<usize>,
    scale: Option<usize>,
    codes: Option<Vec<String>>,
    fixed: Option<String>,
    mandatory: Option<bool>,
    vi: Option<String>,
    en: Option<String>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Usage {
    #[serde(rename = "ref")]
    reference: Option<String>,
    name: Option<String>,
    set: Option<String>,
    group: Option<String>,
    list: Option<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    item: Option<Option<String>>,
    of: Option<Box<Usage>>,
    fields: Option<Vec<Usage>>,
    #[serde(rename = "type")]
    ty: Option<String>,
    min: Option<usize>,
    max: Option<usize>,
    len: Option<usize>,
    digits: Option<usize>,
    scale: Option<usize>,
    codes: Option<Vec<String>>,
    fixed: Option<String>,
    mandatory: Option<bool>,
    vi: Option<String>,
    en: Option<String>,
}

fn present_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RuleUsage {
    set: Option<String>,
    rule: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    when: Vec<SourceCondition>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct SourceCondition {
    field: String,
    #[serde(rename = "in")]
    in_: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
    present: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceMessage {
    code: String,
    direction: String,
    #[serde(default)]
    cargo_kinds: Vec<String>,
    vi: String,
    en: String,
    fields: Vec<Usage>,
    #[serde(default)]
    rules: Vec<RuleUsage>,
    #[serde(default)]
    example: Option<serde_json::Value>,
}

const CARGO_KINDS: [&str; 4] = ["container", "bulk", "package", "liquid"];

struct Resolver<'a> {
    src: &'a Source,
    problems: Vec<String>,
}

impl<'a> Resolver<'a> {
    fn new(src: &'a Source) -> Self {
        Resolver { src, problems: Vec::new() }
    }

    fn resolve(mut self) -> Result<Catalogue, CatalogueError> {
        let src = self.src;
        if src.version.trim().is_empty() || src.version.chars().count() > 10 {
            self.problems.push("version must be 1 to 10 characters".into());
        }
        let header_fields = self.usages(&src.envelope.header_fields, "envelope");
        self.check_unique(&header_fields, "envelope header");
        for required in ["Message_Version", "Message_Type", "Transaction_ID", "Transaction_Date"] {
            if !header_fields.iter().any(|f| f.name == required) {
                self.problems.push(format!("envelope: header field {required} is required by vasscm"));
            }
        }
        let mut messages = Vec::new();
        let mut index = HashMap::new();
        for m in &src.messages {
            let ctx = format!("message {}", m.code);
            let direction = match m.direction.as_str() {
                "P2C" => Direction::PortToCustoms,
                "C2P" => Direction::CustomsToPort,
                other => {
                    self.problems.push(format!("{ctx}: direction {other:?} is neither P2C nor C2P"));
                    Direction::PortToCustoms
                }
            };
            for k in &m.cargo_kinds {
                if !CARGO_KINDS.contains(&k.as_str()) {
                    self.problems.push(format!("{ctx}: unknown cargo kind {k:?} (known: {})", CARGO_KINDS.join(", ")));
                }
            }
            let fields = self.usages(&m.fields, &ctx);
            self.check_unique(&fields, &ctx);
            let rules = self.rules(&m.rules, &fields, &ctx);
            if index.insert(m.code.clone(), messages.len()).is_some() {
                self.problems.push(format!("{ctx}: defined twice"));
            }
            messages.push(MessageDef {
                code: m.code.clone(),
                direction,
                name_vi: m.vi.clone(),
                name_en: m.en.clone(),
                cargo_kinds: m.cargo_kinds.clone(),
                fields,
                rules,
                example: m.example.clone(),
            });
        }
        if !self.problems.is_empty() {
            return Err(CatalogueError::Inconsistent { version: src.version.clone(), problems: self.problems });
        }
        Ok(Catalogue {
            version: src.version.clone(),
            description: src.description.clone().unwrap_or_default(),
            envelope: Envelope {
                root: src.envelope.root.clone(),
                header: src.envelope.header.clone(),
                data: src.envelope.data.clone(),
                header_fields,
            },
            messages,
            index,
        })
    }

    fn usages(&mut self, usages: &[Usage], ctx: &str) -> Vec<FieldDef> {
        let mut out = Vec::new();
        for u in usages {
            if let Some(set) = &u.set {
                match self.src.field_sets.get(set) {
                    Some(list) => out.extend(self.usages(list, &format!("{ctx} (set {set})"))),
                    None => self.problems.push(format!("{ctx}: unknown field set {set:?}")),
                }
            } else if let Some(f) = self.usage(u, ctx) {
                out.push(f);
            }
        }
        out
    }

    fn usage(&mut self, u: &Usage, ctx: &str) -> Option<FieldDef> {
        if let Some(group) = &u.group {
            let fields = self.usages(u.fields.as_deref().unwrap_or(&[]), &format!("{ctx}/{group}"));
            if fields.is_empty() {
                self.problems.push(format!("{ctx}: group {group} has no fields"));
            }
            self.check_unique(&fields, &format!("{ctx}/{group}"));
            let item = match &u.item {
                None => Some(DEFAULT_ITEM.to_string()),
                Some(i) => i.clone(),
            };
            let dict = self.src.fields.get(group).cloned().unwrap_or_default();
            return Some(FieldDef {
                name: group.clone(),
                shape: Shape::Group { item, fields },
                mandatory: u.mandatory.unwrap_or(false),
                fixed: None,
                name_vi: u.vi.clone().or(dict.vi).unwrap_or_default(),
                name_en: u.en.clone().or(dict.en).unwrap_or_default(),
            });
        }
        if let Some(list) = &u.list {
            let Some(of) = &u.of else {
                self.problems.push(format!("{ctx}: list {list} needs \"of\""));
                return None;
            };
            let element = self.usage(of, &format!("{ctx}/{list}"))?;
            if element.scalar().is_none() {
                self.problems.push(format!("{ctx}: list {list} must repeat a simple field"));
            }
            let dict = self.src.fields.get(list).cloned().unwrap_or_default();
            return Some(FieldDef {
                name: list.clone(),
                shape: Shape::List(Box::new(FieldDef { mandatory: false, ..element })),
                mandatory: u.mandatory.unwrap_or(false),
                fixed: None,
                name_vi: u.vi.clone().or(dict.vi).unwrap_or_default(),
                name_en: u.en.clone().or(dict.en).unwrap_or_default(),
            });
        }
        let (name, base) = match (&u.reference, &u.name) {
            (Some(r), _) => match self.src.fields.get(r) {
                Some(spec) => (r.clone(), spec.clone()),
                None => {
                    self.problems.push(format!("{ctx}: field {r} is not in the field dictionary"));
                    return None;
                }
            },
            (None, Some(n)) => (n.clone(), Spec::default()),
            (None, None) => {
                self.problems.push(format!("{ctx}: a field usage needs ref, name, set, group or list"));
                return None;
            }
        };
        let spec = Spec {
            ty: u.ty.clone().or(base.ty),
            min: u.min.or(base.min),
            max: u.max.or(base.max),
            len: u.len.or(base.len),
            digits: u.digits.or(base.digits),
            scale: u.scale.or(base.scale),
            codes: u.codes.clone().or(base.codes),
            fixed: u.fixed.clone().or(base.fixed),
            mandatory: u.mandatory.or(base.mandatory),
            vi: u.vi.clone().or(base.vi),
            en: u.en.clone().or(base.en),
        };
        let ty = self.scalar_type(&spec, &format!("{ctx}/{name}"))?;
        if let Some(fixed) = &spec.fixed {
            if let Err((_, why)) = ty.check(fixed) {
                self.problems.push(format!("{ctx}/{name}: fixed value does not fit the type: {why}"));
            }
        }
        Some(FieldDef {
            name,
            shape: Shape::Scalar(ty),
            mandatory: spec.mandatory.unwrap_or(false),
            fixed: spec.fixed,
            name_vi: spec.vi.unwrap_or_default(),
            name_en: spec.en.unwrap_or_default(),
        })
    }

    fn scalar_type(&mut self, s: &Spec, ctx: &str) -> Option<ScalarType> {
        let Some(ty) = s.ty.as_deref() else {
            self.problems.push(format!("{ctx}: no type"));
            return None;
        };
        let t = match ty {
            "an" => match s.max.or(s.len) {
                Some(max) if max > 0 => ScalarType::Text { min: s.len.or(s.min).unwrap_or(0), max },
                _ => {
                    self.problems.push(format!("{ctx}: type an needs max (or len) > 0"));
                    return None;
                }
            },
            "n" => match (s.len, s.min, s.max) {
                (Some(l), _, _) if l > 0 => ScalarType::Digits { min: l, max: l },
                (None, min, Some(max)) if max > 0 => ScalarType::Digits { min: min.unwrap_or(1), max },
                _ => {
                    self.problems.push(format!("{ctx}: type n needs len, or max > 0"));
                    return None;
                }
            },
            "cont" => ScalarType::Container,
            "ts" => ScalarType::Timestamp,
            "date" => ScalarType::Date,
            "uuid" => ScalarType::Uuid,
            "dec" => ScalarType::Decimal {
                digits: s.digits.unwrap_or(DEFAULT_DEC_DIGITS),
                scale: s.scale.unwrap_or(DEFAULT_DEC_SCALE),
            },
            "code" => match &s.codes {
                Some(c) if !c.is_empty() && c.iter().all(|x| !x.is_empty() && x.trim() == x) => ScalarType::Code(c.clone()),
                _ => {
                    self.problems.push(format!("{ctx}: type code needs a non-empty list of codes without blanks"));
                    return None;
                }
            },
            other => {
                self.problems.push(format!("{ctx}: unknown type {other:?} (an, n, cont, ts, date, dec, code, uuid)"));
                return None;
            }
        };
        if let ScalarType::Text { min, max } | ScalarType::Digits { min, max } = &t {
            if min > max {
                self.problems.push(format!("{ctx}: min {min} > max {max}"));
            }
        }
        Some(t)
    }

    fn rules(&mut self, usages: &[RuleUsage], fields: &[FieldDef], ctx: &str) -> Vec<Rule> {
        let mut out = Vec::new();
        for r in usages {
            if let Some(set) = &r.set {
                match self.src.rule_sets.get(set) {
                    Some(list) => out.extend(self.rules(list, fields, &format!("{ctx} (rule set {set})"))),
                    None => self.problems.push(format!("{ctx}: unknown rule set {set:?}")),
                }
                continue;
            }
            let kind = match r.rule.as_deref() {
                Some("required") => RuleKind::Required,
                Some("one_of") => RuleKind::OneOf,
                other => {
                    self.problems.push(format!("{ctx}: rule {other:?} is neither required nor one_of"));
                    continue;
                }
            };
            if r.fields.is_empty() {
                self.problems.push(format!("{ctx}: a rule needs fields"));
            }
            for f in &r.fields {
                if !fields.iter().any(|d| &d.name == f) {
                    self.problems.push(format!("{ctx}: rule names field {f}, which the message does not have"));
                }
            }
            let mut when = Vec::new();
            for c in &r.when {
                let test = match (&c.in_, &c.not_in, c.present) {
                    (Some(v), None, None) => Test::In(v.clone()),
                    (None, Some(v), None) => Test::NotIn(v.clone()),
                    (None, None, Some(p)) => Test::Present(p),
                    _ => {
                        self.problems.push(format!("{ctx}: a condition needs exactly one of in, not_in, present"));
                        continue;
                    }
                };
                match fields.iter().find(|d| d.name == c.field) {
                    Some(d) if d.scalar().is_some() => {}
                    _ => self.problems.push(format!("{ctx}: condition on {}, which is not a simple field of the message", c.field)),
                }
                when.push(Condition { field: c.field.clone(), test });
            }
            out.push(Rule { kind, fields: r.fields.clone(), when });
        }
        out
    }

    fn check_unique(&mut self, fields: &[FieldDef], ctx: &str) {
        let mut seen = std::collections::HashSet::new();
        for f in fields {
            if !seen.insert(f.name.as_str()) {
                self.problems.push(format!("{ctx}: field {} appears twice", f.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_resolves() {
        let cat = Catalogue::from_json(crate::BUILTIN_CATALOGUE_V1).expect("v1 resolves");
        assert_eq!(cat.version, "1");
        for code in [
            "01", "02", "03", "04", "05", "06", "07", "08", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
            "24", "25", "26", "27", "200", "299", "VESSEL_LIST", "YARD_MAP", "DISCHARGE_DONE", "CHECK_CONTAINER",
            "CHECK_DECLARATION", "CHECK_BL", "TRANSHIP_ID_REQUEST", "CANCEL_PASSED",
        ] {
            assert!(cat.message(code).is_some(), "missing {code}");
        }
        let m14 = cat.message("14").unwrap();
        let so = m14.fields.iter().find(|f| f.name == "SO_CONTAINER").unwrap();
        assert_eq!(so.scalar(), Some(&ScalarType::Container));
        assert!(so.mandatory);
        let m21 = cat.message("21").unwrap();
        let pt = m21.fields.iter().find(|f| f.name == "PHUONG_TIEN").unwrap();
        assert_eq!(pt.scalar(), Some(&ScalarType::Code(vec!["XE".into(), "SALAN".into(), "TAU".into()])));
    }

    #[test]
    fn inconsistencies_are_all_reported() {
        let doc = r#"{"version":"9","envelope":{"root":"C","header":"H","data":"D","header_fields":[]},
            "fields":{"A":{"type":"an"}},
            "messages":[{"code":"X","direction":"SIDEWAYS","vi":"x","en":"x",
              "fields":[{"ref":"A"},{"ref":"B"}],"rules":[{"rule":"required","fields":["Z"]}]}]}"#;
        let err = Catalogue::from_json(doc).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("type an needs max"), "{text}");
        assert!(text.contains("field B is not in the field dictionary"), "{text}");
        assert!(text.contains("SIDEWAYS"), "{text}");
        assert!(text.contains("rule names field Z"), "{text}");
        assert!(text.contains("Message_Version"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let doc = r#"{"version":"9","envelope":{"root":"C","header":"H","data":"D","header_fields":[]},"messages":[],"colour":1}"#;
        assert!(matches!(Catalogue::from_json(doc), Err(CatalogueError::Shape(_))));
    }
}
