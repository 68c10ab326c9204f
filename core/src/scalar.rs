//! Scalar field types of the catalogue: checking a value and normalising builder input.

use crate::container;
use crate::problem::quote;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

/// Vietnam time, the offset customs expects on every timestamp (+07:00).
pub const VIETNAM_OFFSET_SECONDS: i32 = 7 * 3600;

/// The type of a simple (text-valued) field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScalarType {
    /// `an..max` (or `an<min>` when `min == max`): text, lengths counted in characters.
    Text { min: usize, max: usize },
    /// `n<len>`: decimal digits only, between `min` and `max` of them.
    Digits { min: usize, max: usize },
    /// ISO 6346 container number with a valid check digit.
    Container,
    /// ISO 8601 date-time with an explicit offset.
    Timestamp,
    /// ISO 8601 calendar date.
    Date,
    /// Non-negative decimal with at most `digits` digits, `scale` of them after the point.
    Decimal { digits: usize, scale: usize },
    /// One of a fixed list of codes.
    Code(Vec<String>),
    /// A UUID in its hyphenated 36-character form.
    Uuid,
}

/// A broken rule: the keyword and the detail sentence.
pub type Violation = (&'static str, String);

impl ScalarType {
    /// The catalogue's short name of the type (`an`, `n`, `cont`, `ts`, `date`, `dec`, `code`, `uuid`).
    pub fn kind(&self) -> &'static str {
        match self {
            ScalarType::Text { .. } => "an",
            ScalarType::Digits { .. } => "n",
            ScalarType::Container => "cont",
            ScalarType::Timestamp => "ts",
            ScalarType::Date => "date",
            ScalarType::Decimal { .. } => "dec",
            ScalarType::Code(_) => "code",
            ScalarType::Uuid => "uuid",
        }
    }

    /// A human-readable form such as `an..35`, `n12`, `code{F, E}`.
    pub fn describe(&self) -> String {
        match self {
            ScalarType::Text { min, max } if min == max => format!("an{max}"),
            ScalarType::Text { max, .. } => format!("an..{max}"),
            ScalarType::Digits { min, max } if min == max => format!("n{max}"),
            ScalarType::Digits { min, max } => format!("n{min}..{max}"),
            ScalarType::Decimal { digits, scale } => format!("dec({digits},{scale})"),
            ScalarType::Code(codes) => format!("code{{{}}}", codes.join(", ")),
            other => other.kind().to_string(),
        }
    }

    /// Whether values of this type are numbers in JSON (`dec`); everything else is a string.
    pub fn is_numeric(&self) -> bool {
        matches!(self, ScalarType::Decimal { .. })
    }

    /// Checks a value exactly as it stands in a message (no normalisation).
    pub fn check(&self, value: &str) -> Result<(), Violation> {
        check_xml_chars(value)?;
        match self {
            ScalarType::Text { min, max } => {
                let n = value.chars().count();
                if n < *min || n > *max {
                    return Err(("length", length_detail(value, n, *min, *max)));
                }
            }
            ScalarType::Digits { min, max } => {
                if !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(("type", format!("{} must contain digits only", quote(value))));
                }
                let n = value.len();
                if n < *min || n > *max {
                    return Err(("length", length_detail(value, n, *min, *max)));
                }
            }
            ScalarType::Container => {
                container::validate(value).map_err(|e| match e {
                    container::ContainerError::Format(_) => ("type", e.to_string()),
                    container::ContainerError::CheckDigit { .. } => ("check_digit", e.to_string()),
                })?;
            }
            ScalarType::Timestamp => {
                let has_t = value.as_bytes().get(10) == Some(&b'T');
                if !has_t || DateTime::parse_from_rfc3339(value).is_err() {
                    return Err((
                        "type",
                        format!("{} is not an ISO 8601 date-time with offset (2026-11-25T08:30:00+07:00)", quote(value)),
                    ));
                }
            }
            ScalarType::Date => {
                if value.len() != 10 || NaiveDate::parse_from_str(value, "%Y-%m-%d").is_err() {
                    return Err(("type", format!("{} is not a date (YYYY-MM-DD)", quote(value))));
                }
            }
            ScalarType::Decimal { digits, scale } => check_decimal(value, *digits, *scale)?,
            ScalarType::Code(codes) => {
                if !codes.iter().any(|c| c == value) {
                    return Err(("code", format!("{} is not one of {}", quote(value), codes.join(", "))));
                }
            }
            ScalarType::Uuid => {
                let ok = value.len() == 36
                    && value.char_indices().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => c == '-',
                        _ => c.is_ascii_hexdigit(),
                    });
                if !ok {
                    return Err(("type", format!("{} is not a UUID (8-4-4-4-12 hexadecimal digits)", quote(value))));
                }
            }
        }
        Ok(())
    }

    /// Normalises builder input: trims, normalises container numbers, lower-cases UUIDs and
    /// converts timestamps to Vietnam time (a timestamp without offset is taken as Vietnam
    /// time). A value that cannot be normalised is returned as given, for `check` to report.
    pub fn normalize(&self, raw: &str) -> String {
        let v = raw.trim();
        match self {
            ScalarType::Container => container::normalize(v),
            ScalarType::Uuid => v.to_ascii_lowercase(),
            ScalarType::Timestamp => normalize_timestamp(v).unwrap_or_else(|| v.to_string()),
            _ => v.to_string(),
        }
    }
}

fn length_detail(value: &str, n: usize, min: usize, max: usize) -> String {
    if min == max {
        format!("{} has {n} characters, must have exactly {max}", quote(value))
    } else if n < min {
        format!("{} has {n} characters, must have at least {min}", quote(value))
    } else {
        format!("{} has {n} characters, at most {max} allowed", quote(value))
    }
}

/// Refuses characters that XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF).
fn check_xml_chars(value: &str) -> Result<(), Violation> {
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(("xml_char", format!("contains the control character U+{:04X}, which XML cannot carry", c as u32)));
    }
    Ok(())
}

/// The XML 1.0 `Char` production.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_decimal(value: &str, digits: usize, scale: usize) -> Result<(), Violation> {
    let (int, frac) = match value.split_once('.') {
        Some((i, f)) => (i, f),
        None => (value, ""),
    };
    let numeric = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(value.contains('.') && frac.is_empty());
    if !numeric {
        return Err(("type", format!("{} is not a non-negative decimal number (e.g. 1250.5)", quote(value))));
    }
    if frac.len() > scale {
        return Err(("range", format!("{} has {} decimals, at most {scale} allowed", quote(value), frac.len())));
    }
    let significant = int.trim_start_matches('0').len() + frac.len();
    if significant > digits {
        return Err(("range", format!("{} has more than {digits} digits", quote(value))));
    }
    Ok(())
}

fn normalize_timestamp(v: &str) -> Option<String> {
    let vn = FixedOffset::east_opt(VIETNAM_OFFSET_SECONDS)?;
    let with_t = if v.as_bytes().get(10) == Some(&b' ') {
        let mut s = v.to_string();
        s.replace_range(10..11, "T");
        s
    } else {
        v.to_string()
    };
    let dt = match DateTime::parse_from_rfc3339(&with_t) {
        Ok(dt) => dt.with_timezone(&vn),
        Err(_) => {
            // A PostgreSQL timestamptz rendered by to_jsonb uses "+00" style offsets; a plain
            // timestamp has none and is taken as Vietnam local time.
            if let Ok(dt) = DateTime::parse_from_str(&with_t, "%Y-%m-%dT%H:%M:%S%.f%#z") {
                dt.with_timezone(&vn)
            } else {
                let naive = NaiveDateTime::parse_from_str(&with_t, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
                naive.and_local_timezone(vn).single()?
            }
        }
    };
    Some(dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_go_to_vietnam_time() {
        let t = ScalarType::Timestamp;
        assert_eq!(t.normalize("2026-11-25T01:00:00Z"), "2026-11-25T08:00:00+07:00");
        assert_eq!(t.normalize("2026-11-25 08:00:00"), "2026-11-25T08:00:00+07:00");
        assert_eq!(t.normalize("2026-11-25T01:00:00.123456+00:00"), "2026-11-25T08:00:00+07:00");
        assert_eq!(t.normalize("2026-11-25T01:00:00.5+00"), "2026-11-25T08:00:00+07:00");
        assert_eq!(t.normalize("yesterday"), "yesterday");
        assert!(t.check("2026-11-25T08:00:00+07:00").is_ok());
        assert!(t.check("2026-11-25T08:00:00").is_err());
        assert!(t.check("2026-11-25 08:00:00+07:00").is_err());
    }

    #[test]
    fn decimals() {
        let d = ScalarType::Decimal { digits: 18, scale: 3 };
        assert!(d.check("0").is_ok());
        assert!(d.check("1250.125").is_ok());
        assert_eq!(d.check("-1").unwrap_err().0, "type");
        assert_eq!(d.check("1e5").unwrap_err().0, "type");
        assert_eq!(d.check("1.").unwrap_err().0, "type");
        assert_eq!(d.check("1.2345").unwrap_err().0, "range");
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        let t = ScalarType::Text { min: 0, max: 5 };
        assert!(t.check("Đường").is_ok());
        assert_eq!(t.check("Đường1").unwrap_err().0, "length");
        assert_eq!(t.check("a\u{1}b").unwrap_err().0, "xml_char");
    }

    #[test]
    fn declaration_numbers() {
        let n = ScalarType::Digits { min: 12, max: 12 };
        assert!(n.check("308044805740").is_ok());
        assert_eq!(n.check("30804480574").unwrap_err().0, "length");
        assert_eq!(n.check("30804480574X").unwrap_err().0, "type");
    }
}
