//! JSON ↔ [`Record`]: the shape `build_message` takes and `parse_message` returns.
//!
//! A simple field is a string (or a number); a `LIST_X/FIELD` list an array of strings; a
//! group an array of objects. `null`, empty strings and empty arrays count as absent.

use crate::catalogue::{FieldDef, Shape};
use crate::problem::Problem;
use crate::record::{Record, Value};
use crate::scalar::ScalarType;
use serde_json::{Map, Number, Value as Json};

/// Converts builder input into a record, normalising values by type; structural problems
/// (unknown keys, an object where a value belongs) go to `out`.
pub fn record_from_json(defs: &[FieldDef], obj: &Map<String, Json>, prefix: &str, out: &mut Vec<Problem>) -> Record {
    let mut rec = Record::default();
    for (key, val) in obj {
        let path = || format!("{prefix}/{key}");
        let Some(def) = defs.iter().find(|d| &d.name == key) else {
            out.push(Problem::new(path(), "unknown_field", format!("{key} is not a field of this message")));
            continue;
        };
        match &def.shape {
            Shape::Scalar(ty) => {
                if let Some(text) = scalar_text(ty, val, &path, out) {
                    rec.0.push((key.clone(), Value::Text(text)));
                }
            }
            Shape::List(elem) => {
                let ty = elem.scalar().cloned().unwrap_or(ScalarType::Text { min: 0, max: usize::MAX });
                let values: Vec<&Json> = match val {
                    Json::Array(a) => a.iter().collect(),
                    Json::Null => Vec::new(),
                    single => vec![single],
                };
                let texts: Vec<String> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| scalar_text(&ty, v, &|| format!("{}/{}[{}]", path(), elem.name, i + 1), out))
                    .collect();
                if !texts.is_empty() {
                    rec.0.push((key.clone(), Value::List(texts)));
                }
            }
            Shape::Group { item, fields } => {
                let values: Vec<&Json> = match val {
                    Json::Array(a) => a.iter().collect(),
                    Json::Null => Vec::new(),
                    single => vec![single],
                };
                let mut items = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    let p = match item {
                        Some(item) => format!("{}/{item}[{}]", path(), i + 1),
                        None => format!("{}[{}]", path(), i + 1),
                    };
                    match v {
                        Json::Object(o) => items.push(record_from_json(fields, o, &p, out)),
                        _ => out.push(Problem::new(p, "type", format!("each item of {key} must be a JSON object"))),
                    }
                }
                if !items.is_empty() {
                    rec.0.push((key.clone(), Value::Items(items)));
                }
            }
        }
    }
    rec
}

fn scalar_text(ty: &ScalarType, val: &Json, path: &dyn Fn() -> String, out: &mut Vec<Problem>) -> Option<String> {
    let raw = match val {
        Json::Null => return None,
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(_) | Json::Array(_) | Json::Object(_) => {
            out.push(Problem::new(path(), "type", format!("expected a text or a number ({}), got {}", ty.describe(), json_kind(val))));
            return None;
        }
    };
    let v = ty.normalize(&raw);
    (!v.is_empty()).then_some(v)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Converts a record into JSON: `dec` fields as JSON numbers (exact), everything else as strings.
pub fn record_to_json(defs: &[FieldDef], rec: &Record) -> Map<String, Json> {
    let mut map = Map::new();
    // Catalogue order, so that the output reads like the message.
    for def in defs {
        let Some(v) = rec.get(&def.name) else { continue };
        let j = match (v, &def.shape) {
            (Value::Text(t), Shape::Scalar(ty)) => scalar_json(ty, t),
            (Value::List(vs), Shape::List(elem)) => {
                let ty = elem.scalar();
                Json::Array(vs.iter().map(|t| ty.map_or(Json::String(t.clone()), |ty| scalar_json(ty, t))).collect())
            }
            (Value::Items(items), Shape::Group { fields, .. }) => {
                Json::Array(items.iter().map(|r| Json::Object(record_to_json(fields, r))).collect())
            }
            _ => continue,
        };
        map.insert(def.name.clone(), j);
    }
    map
}

fn scalar_json(ty: &ScalarType, text: &str) -> Json {
    if ty.is_numeric() {
        if let Ok(n) = text.parse::<Number>() {
            return Json::Number(n);
        }
    }
    Json::String(text.to_string())
}

/// Turns binding-style keys into nested groups: `LIST_TK/SO_TK` (an array) becomes
/// `LIST_TK`; `LIST_CONTAINER/SO_CONTAINER` or `LIST_CONTAINER/ITEM/SO_CONTAINER` (arrays,
/// zipped by position) become the items of `LIST_CONTAINER`. Other keys are kept as they are.
pub fn assemble_group_paths(defs: &[FieldDef], obj: &Map<String, Json>) -> Map<String, Json> {
    let mut out = Map::new();
    for (key, val) in obj {
        let Some((group, rest)) = key.split_once('/') else {
            out.insert(key.clone(), val.clone());
            continue;
        };
        let Some(def) = defs.iter().find(|d| d.name == group) else {
            out.insert(key.clone(), val.clone());
            continue;
        };
        let values: Vec<Json> = match val {
            Json::Array(a) => a.clone(),
            Json::Null => Vec::new(),
            single => vec![single.clone()],
        };
        match &def.shape {
            Shape::List(elem) if rest == elem.name => {
                out.insert(group.to_string(), Json::Array(values));
            }
            Shape::Group { item, .. } => {
                let field = match (item, rest.split_once('/')) {
                    (Some(i), Some((w, f))) if w == i => f,
                    _ => rest,
                };
                let slot = out.entry(group.to_string()).or_insert_with(|| Json::Array(Vec::new()));
                if let Json::Array(items) = slot {
                    while items.len() < values.len() {
                        items.push(Json::Object(Map::new()));
                    }
                    for (i, v) in values.into_iter().enumerate() {
                        if let Some(Json::Object(o)) = items.get_mut(i) {
                            o.insert(field.to_string(), v);
                        }
                    }
                }
            }
            _ => {
                out.insert(key.clone(), val.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use serde_json::json;

    #[test]
    fn group_paths_are_assembled() {
        let cat = Catalogue::from_json(crate::BUILTIN_CATALOGUE_V1).unwrap();
        let m04 = cat.message("04").unwrap();
        let flat = json!({"SO_TK": "308044805740", "LIST_CONTAINER/SO_CONTAINER": ["MSKU1234565", "TGHU7654320"],
                          "LIST_CONTAINER/ITEM/SO_NIEM_PHONG": ["S1"]});
        let got = assemble_group_paths(&m04.fields, flat.as_object().unwrap());
        assert_eq!(Json::Object(got), json!({"SO_TK": "308044805740",
            "LIST_CONTAINER": [{"SO_CONTAINER": "MSKU1234565", "SO_NIEM_PHONG": "S1"}, {"SO_CONTAINER": "TGHU7654320"}]}));
        let m21 = cat.message("21").unwrap();
        let got = assemble_group_paths(&m21.fields, json!({"LIST_TK/SO_TK": ["1", "2"]}).as_object().unwrap());
        assert_eq!(Json::Object(got), json!({"LIST_TK": ["1", "2"]}));
    }
}
