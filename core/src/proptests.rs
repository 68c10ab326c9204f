//! Property tests: random valid data round-trips; random mutations are reported.

use crate::catalogue::{FieldDef, MessageDef, Shape};
use crate::container;
use crate::message::{build, parse, validate};
use crate::message_tests::{catalogues, defaults};
use crate::scalar::ScalarType;
use crate::xml_read::Limits;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

const TEXT_CHARS: &[char] = &['a', 'Z', '0', '9', ' ', '&', '<', '>', '"', '\'', 'Đ', 'ư', 'ờ', 'ạ', '-', '/', '.', '\n'];

/// A small deterministic generator (splitmix64), seeded by proptest, so a failing case replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn random_range<T: Into<std::ops::RangeInclusive<u64>>>(&mut self, r: T) -> u64 {
        let r = r.into();
        r.start() + self.next() % (r.end() - r.start() + 1)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn random_bool(&mut self, p: f64) -> bool {
        (self.next() as f64 / u64::MAX as f64) < p
    }
}

fn gen_scalar(ty: &ScalarType, rng: &mut Gen) -> Value {
    match ty {
        ScalarType::Text { min, max } => {
            let lo = (*min).max(1);
            let hi = (*max).min(24).max(lo);
            let n = rng.random_range(lo as u64..=hi as u64) as usize;
            let s: String = (0..n).map(|_| TEXT_CHARS[rng.below(TEXT_CHARS.len())]).collect();
            // The builder trims: keep both ends non-blank so the round trip is exact.
            let mut s = s.trim().to_string();
            while s.chars().count() < lo {
                s.push('x');
            }
            Value::String(s)
        }
        ScalarType::Digits { min, max } => {
            let n = rng.random_range(*min as u64..=*max as u64);
            Value::String((0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect())
        }
        ScalarType::Container => {
            let mut s: String = (0..3).map(|_| char::from(b'A' + rng.below(26) as u8)).collect();
            s.push(['U', 'J', 'Z'][rng.below(3)]);
            s.extend((0..6).map(|_| char::from(b'0' + rng.below(10) as u8)));
            let d = container::check_digit(&s).expect("well-formed");
            s.push(char::from(b'0' + d as u8));
            Value::String(s)
        }
        ScalarType::Timestamp => Value::String(format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00",
            rng.random_range(20..=39),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..=23),
            rng.random_range(0..=59),
            rng.random_range(0..=59)
        )),
        ScalarType::Date => Value::String(format!("20{:02}-{:02}-{:02}", rng.random_range(20..=39), rng.random_range(1..=12), rng.random_range(1..=28))),
        ScalarType::Decimal { scale, .. } => {
            let int = rng.random_range(0..=9_999_999);
            let text = if *scale > 0 && rng.random_bool(0.5) {
                let digits = rng.random_range(1..=*scale as u64);
                let frac: String = (0..digits).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
                format!("{int}.{frac}")
            } else {
                int.to_string()
            };
            Value::Number(text.parse::<Number>().expect("decimal"))
        }
        ScalarType::Code(codes) => Value::String(codes[rng.below(codes.len())].clone()),
        ScalarType::Uuid => Value::String(uuid::Builder::from_random_bytes(((rng.next() as u128) << 64 | rng.next() as u128).to_le_bytes()).into_uuid().to_string()),
    }
}

/// Every field present (lists and groups with 1–3 elements), then optional fields that no
/// rule mentions dropped at random: always valid.
fn gen_record(fields: &[FieldDef], keep_all: &[&str], rng: &mut Gen) -> Map<String, Value> {
    let mut m = Map::new();
    for f in fields {
        if !f.mandatory && !keep_all.contains(&f.name.as_str()) && rng.random_bool(0.3) {
            continue;
        }
        let v = match &f.shape {
            Shape::Scalar(ty) => gen_scalar(ty, rng),
            Shape::List(elem) => {
                let ty = elem.scalar().expect("lists repeat simple fields");
                Value::Array((0..rng.random_range(1..=3)).map(|_| gen_scalar(ty, rng)).collect())
            }
            Shape::Group { fields, .. } => {
                Value::Array((0..rng.random_range(1..=3)).map(|_| Value::Object(gen_record(fields, &[], rng))).collect())
            }
        };
        m.insert(f.name.clone(), v);
    }
    m
}

fn gen_valid(msg: &MessageDef, rng: &mut Gen) -> Value {
    let ruled: Vec<&str> = msg.rules.iter().flat_map(|r| r.fields.iter().chain(r.when.iter().map(|c| &c.field))).map(String::as_str).collect();
    Value::Object(gen_record(&msg.fields, &ruled, rng))
}

fn invalid_for(ty: &ScalarType, valid: &str) -> String {
    match ty {
        ScalarType::Text { max, .. } => "x".repeat(max + 1),
        ScalarType::Digits { max, .. } => format!("{}A", "1".repeat(*max)),
        ScalarType::Container => {
            let d = valid.chars().last().and_then(|c| c.to_digit(10)).unwrap_or(0);
            format!("{}{}", &valid[..10], (d + 1) % 10)
        }
        ScalarType::Timestamp => "2026-11-25T08:00:00".into(),
        ScalarType::Date => "2026-02-30".into(),
        ScalarType::Decimal { .. } => "-5".into(),
        ScalarType::Code(_) => "NOT_A_CODE".into(),
        ScalarType::Uuid => "not-a-uuid".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_data_round_trips(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let cats = catalogues();
        let cat = cats.active().unwrap().clone();
        let msg = &cat.messages[pick.index(cat.messages.len())];
        let mut rng = Gen(seed);
        let data = gen_valid(msg, &mut rng);
        let xml = build(&cats, &msg.code, &data, &Value::Null, &defaults()).map_err(|e| TestCaseError::fail(format!("{}: {e:?}\n{data}", msg.code)))?;
        let problems = validate(&cats, &xml, &Limits::default());
        prop_assert!(problems.is_empty(), "{}: {:?}", msg.code, problems);
        let parsed = parse(&cats, &xml, &Limits::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Value::Object(parsed.data), data);
    }

    #[test]
    fn random_mutations_are_reported(seed in any::<u64>(), pick in any::<prop::sample::Index>(), which in any::<prop::sample::Index>(), drop in any::<bool>()) {
        let cats = catalogues();
        let cat = cats.active().unwrap().clone();
        let msg = &cat.messages[pick.index(cat.messages.len())];
        let mut rng = Gen(seed);
        let data = gen_valid(msg, &mut rng);
        let xml = build(&cats, &msg.code, &data, &Value::Null, &defaults()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let scalars: Vec<&FieldDef> = msg.fields.iter().filter(|f| f.scalar().is_some() && data.get(&f.name).is_some()).collect();
        prop_assume!(!scalars.is_empty());
        let f = scalars[which.index(scalars.len())];
        let old = data[&f.name].as_str().map(str::to_string).unwrap_or_else(|| data[&f.name].to_string());
        let mut old_xml = String::new();
        crate::xml_write::escape_into(&mut old_xml, &old);
        let element = format!("<{0}>{1}</{0}>", f.name, old_xml);
        let (mutated, expect_rule) = if drop && f.mandatory {
            (xml.replacen(&element, "", 1), "mandatory".to_string())
        } else {
            let bad = invalid_for(f.scalar().unwrap(), &old);
            (xml.replacen(&element, &format!("<{0}>{1}</{0}>", f.name, bad), 1), String::new())
        };
        prop_assert_ne!(&mutated, &xml);
        let problems = validate(&cats, &mutated, &Limits::default());
        let path = format!("Data/{}", f.name);
        prop_assert!(problems.iter().any(|p| p.path == path && (expect_rule.is_empty() || p.rule == expect_rule)),
            "{} {}: mutation not reported: {:?}", msg.code, f.name, problems);
    }
}
