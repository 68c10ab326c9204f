//! Checks a record (header or data) against its field definitions and the message's rules.

use crate::catalogue::{FieldDef, Rule, RuleKind, Shape, Test};
use crate::problem::{quote, Problem};
use crate::record::{Record, Value};

/// Appends to `out` every problem of `record` against `defs`; `prefix` is the path of the
/// record (`Data`, `Data/LIST_CONTAINER/ITEM[2]`).
///
/// Records come from [`crate::json::record_from_json`] or
/// [`crate::xml_read::record_from_element`], which already report (and drop) unknown fields.
pub fn check_record(defs: &[FieldDef], record: &Record, prefix: &str, out: &mut Vec<Problem>) {
    // Records are usually in catalogue order: look at the next entry before searching.
    let mut cursor = 0;
    for def in defs {
        let path = || format!("{prefix}/{}", def.name);
        let found = match record.0.get(cursor) {
            Some((name, v)) if name == &def.name => {
                cursor += 1;
                Some(v)
            }
            _ => record.get(&def.name),
        };
        match (found, &def.shape) {
            (None, _) => {
                if def.mandatory {
                    out.push(Problem::new(path(), "mandatory", format!("{} ({}) is mandatory", def.name, def.name_en)));
                }
            }
            (Some(Value::Text(v)), Shape::Scalar(ty)) => {
                if let Err((rule, detail)) = ty.check(v) {
                    out.push(Problem::new(path(), rule, detail));
                } else if let Some(fixed) = &def.fixed {
                    if v != fixed {
                        out.push(Problem::new(path(), "fixed", format!("{} must be {}", quote(v), quote(fixed))));
                    }
                }
            }
            (Some(Value::List(values)), Shape::List(elem)) => {
                let ty = elem.scalar();
                for (i, v) in values.iter().enumerate() {
                    if let Some(Err((rule, detail))) = ty.map(|t| t.check(v)) {
                        out.push(Problem::new(format!("{}/{}[{}]", path(), elem.name, i + 1), rule, detail));
                    }
                }
                if values.is_empty() && def.mandatory {
                    out.push(Problem::new(path(), "mandatory", format!("{} needs at least one {}", def.name, elem.name)));
                }
            }
            (Some(Value::Items(items)), Shape::Group { item, fields }) => {
                for (i, rec) in items.iter().enumerate() {
                    let p = match item {
                        Some(item) => format!("{}/{item}[{}]", path(), i + 1),
                        None => format!("{}[{}]", path(), i + 1),
                    };
                    check_record(fields, rec, &p, out);
                }
                if items.is_empty() && def.mandatory {
                    out.push(Problem::new(path(), "mandatory", format!("{} needs at least one item", def.name)));
                }
            }
            (Some(_), shape) => {
                let expected = match shape {
                    Shape::Scalar(_) => "a single value",
                    Shape::List(_) => "a list of values",
                    Shape::Group { .. } => "a list of items",
                };
                out.push(Problem::new(path(), "type", format!("{} must be {expected}", def.name)));
            }
        }
    }
}

/// Appends to `out` every conditional rule of the message that `record` breaks.
pub fn check_rules(rules: &[Rule], record: &Record, prefix: &str, out: &mut Vec<Problem>) {
    for rule in rules {
        let applies = rule.when.iter().all(|c| {
            let v = record.text(&c.field);
            match &c.test {
                Test::In(codes) => v.is_some_and(|v| codes.iter().any(|c| c == v)),
                Test::NotIn(codes) => !v.is_some_and(|v| codes.iter().any(|c| c == v)),
                Test::Present(p) => record.get(&c.field).is_some() == *p,
            }
        });
        if !applies {
            continue;
        }
        let when = rule.describe_condition();
        match rule.kind {
            RuleKind::Required => {
                for f in rule.fields.iter().filter(|f| record.get(f).is_none()) {
                    out.push(Problem::new(format!("{prefix}/{f}"), "required_if", format!("{f} is mandatory{when}")));
                }
            }
            RuleKind::OneOf => {
                if !rule.fields.iter().any(|f| record.get(f).is_some()) {
                    out.push(Problem::new(
                        format!("{prefix}/{}", rule.fields.join("|")),
                        "one_of",
                        format!("one of {} is mandatory{when}", rule.fields.join(", ")),
                    ));
                }
            }
        }
    }
}
