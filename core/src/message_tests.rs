//! Whole-message tests over every type of the built-in catalogue.

use crate::catalogue::{Catalogue, Catalogues};
use crate::message::{build, check_data, parse, validate, BuildError, HeaderDefaults, ParseError};
use crate::xml_read::{Limits, XmlError};
use serde_json::{json, Value};

pub(crate) fn catalogues() -> Catalogues {
    Catalogues::single(Catalogue::from_json(crate::BUILTIN_CATALOGUE_V1).expect("v1"))
}

pub(crate) fn defaults() -> HeaderDefaults {
    HeaderDefaults {
        application_version: "0.1.0".into(),
        sender_code: "CANGHP01".into(),
        sender_name: "Cảng Hải Phòng".into(),
        receiver_code: "03CC".into(),
    }
}

#[test]
fn every_example_builds_validates_and_round_trips() {
    let cats = catalogues();
    let cat = cats.active().unwrap().clone();
    for msg in &cat.messages {
        let example = msg.example.clone().unwrap_or_else(|| panic!("{} has no example", msg.code));
        let xml = build(&cats, &msg.code, &example, &Value::Null, &defaults())
            .unwrap_or_else(|e| panic!("{} does not build: {e} {:?}", msg.code, match &e { BuildError::Invalid { problems, .. } => problems.clone(), _ => vec![] }));
        let problems = validate(&cats, &xml, &Limits::default());
        assert!(problems.is_empty(), "{}: {problems:?}\n{xml}", msg.code);
        let parsed = parse(&cats, &xml, &Limits::default()).unwrap();
        assert_eq!(Value::Object(parsed.data), example, "{} round trip", msg.code);
        assert_eq!(parsed.message_type, msg.code);
        assert_eq!(parsed.header["Sender_Name"], json!("Cảng Hải Phòng"));
    }
}

#[test]
fn build_reports_every_problem_at_once() {
    let cats = catalogues();
    let data = json!({
        "MA_HQ": "03CC", "LOAI_HANG": "NHAP", "SO_CONTAINER": "MSKU1234566", "TRANG_THAI": "X",
        "HINH_THUC": "TAU", "THOI_GIAN": "soon", "COLOUR": "red",
        "SO_NIEM_PHONG": "123456789012345678901"
    });
    let err = build(&cats, "14", &data, &Value::Null, &defaults()).unwrap_err();
    let BuildError::Invalid { problems, .. } = err else { panic!("{err}") };
    let rules: Vec<(String, String)> = problems.iter().map(|p| (p.path.clone(), p.rule.clone())).collect();
    for expected in [
        ("Data/COLOUR", "unknown_field"),
        ("Data/SO_CONTAINER", "check_digit"),
        ("Data/TRANG_THAI", "code"),
        ("Data/THOI_GIAN", "type"),
        ("Data/MA_DIA_DIEM", "mandatory"),
        ("Data/SO_NIEM_PHONG", "length"),
    ] {
        assert!(rules.contains(&(expected.0.into(), expected.1.into())), "missing {expected:?} in {rules:?}");
    }
    let check = problems.iter().find(|p| p.rule == "check_digit").unwrap();
    assert!(check.detail.contains("should be 5"), "{}", check.detail);
}

#[test]
fn conditional_rules() {
    let cats = catalogues();
    let base = json!({"MA_HQ": "03CC", "MA_DIA_DIEM": "03CCC01", "LOAI_HANG": "XUAT", "SO_CONTAINER": "MSKU1234565",
        "TRANG_THAI": "F", "SO_NIEM_PHONG": "S1", "HINH_THUC": "XE", "THOI_GIAN": "2026-11-25T08:00:00+07:00"});
    let p = check_data(&cats, "14", &base).unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].rule, "one_of");
    assert!(p[0].detail.contains("SO_TK, SO_QUAN_LY_HANG"), "{}", p[0].detail);
    let mut ok = base.clone();
    ok["SO_QUAN_LY_HANG"] = json!("REF-1");
    assert!(check_data(&cats, "14", &ok).unwrap().is_empty());
    let mut empty = base.clone();
    empty["TRANG_THAI"] = json!("E");
    empty.as_object_mut().unwrap().remove("SO_NIEM_PHONG");
    assert!(check_data(&cats, "14", &empty).unwrap().is_empty(), "an empty export container needs no seal nor declaration");
    // 15: liquid needs a volume.
    let liquid = json!({"MA_HQ": "03CC", "MA_DIA_DIEM": "X", "LOAI_HANG": "NHAP", "LOAI_HANG_HOA": "LONG", "SO_TK": "101234567890",
        "TRONG_LUONG": 10, "DVT_TRONG_LUONG": "TNE", "PHUONG_TIEN": "DUONG_ONG", "THOI_GIAN": "2026-11-25T08:00:00+07:00"});
    let p = check_data(&cats, "15", &liquid).unwrap();
    assert_eq!(p.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), vec!["Data/THE_TICH_M3"]);
}

#[test]
fn builder_normalises_tos_values() {
    let cats = catalogues();
    let data = json!({"MA_HQ": "03CC", "SO_CONTAINER": " msku 1234565 ", "SO_TK": 308044805740u64});
    let xml = build(&cats, "CHECK_CONTAINER", &data, &Value::Null, &defaults()).unwrap();
    assert!(xml.contains("<SO_CONTAINER>MSKU1234565</SO_CONTAINER>"), "{xml}");
    assert!(xml.contains("<SO_TK>308044805740</SO_TK>"), "{xml}");
    let ts = json!({"MA_HQ": "03CC", "MA_DIA_DIEM": "P", "LOAI_HANG": "NHAP", "SO_CONTAINER": "MSKU1234565", "TRANG_THAI": "E",
        "HINH_THUC": "XE", "THOI_GIAN": "2026-11-25 01:00:00+00"});
    let xml = build(&cats, "14", &ts, &Value::Null, &defaults()).unwrap();
    assert!(xml.contains("<THOI_GIAN>2026-11-25T08:00:00+07:00</THOI_GIAN>"), "{xml}");
}

#[test]
fn text_is_escaped_and_survives() {
    let cats = catalogues();
    let nasty = "A&B <x> \"q\" 'a' Đường số 5\r\nmới";
    let data = json!({"SO_TK": "308044805740", "TRANG_THAI_TK": "HUY", "LY_DO": nasty});
    let xml = build(&cats, "06", &data, &Value::Null, &defaults()).unwrap();
    assert!(validate(&cats, &xml, &Limits::default()).is_empty());
    let parsed = parse(&cats, &xml, &Limits::default()).unwrap();
    assert_eq!(parsed.data["LY_DO"], json!(nasty));
    let ctl = json!({"SO_TK": "308044805740", "TRANG_THAI_TK": "HUY", "LY_DO": "bell\u{7}"});
    let BuildError::Invalid { problems, .. } = build(&cats, "06", &ctl, &Value::Null, &defaults()).unwrap_err() else { panic!() };
    assert_eq!(problems[0].rule, "xml_char");
}

#[test]
fn header_can_be_given_but_not_contradicted() {
    let cats = catalogues();
    let data = json!({"MA_HQ": "03CC", "SO_TK": "308044805740"});
    let id = "0b7e6a52-33c1-4f0e-9d6c-1c2b3a4d5e6f";
    let xml = build(&cats, "CHECK_DECLARATION", &data, &json!({"Transaction_ID": id}), &defaults()).unwrap();
    assert!(xml.contains(&format!("<Transaction_ID>{id}</Transaction_ID>")));
    let err = build(&cats, "CHECK_DECLARATION", &data, &json!({"Message_Type": "14"}), &defaults()).unwrap_err();
    assert!(matches!(err, BuildError::Invalid { .. }), "{err}");
    let no_sender = HeaderDefaults { sender_code: String::new(), ..defaults() };
    let BuildError::Invalid { problems, .. } = build(&cats, "CHECK_DECLARATION", &data, &Value::Null, &no_sender).unwrap_err() else { panic!() };
    assert_eq!(problems[0].path, "Header/Sender_Code");
    assert!(matches!(build(&cats, "99", &data, &Value::Null, &defaults()), Err(BuildError::UnknownType { .. })));
}

#[test]
fn validator_checks_envelope_and_order() {
    let cats = catalogues();
    let data = json!({"MA_HQ": "03CC", "SO_TK": "308044805740"});
    let xml = build(&cats, "CHECK_DECLARATION", &data, &Value::Null, &defaults()).unwrap();
    let swapped = xml.replace("<MA_HQ>03CC</MA_HQ><SO_TK>308044805740</SO_TK>", "<SO_TK>308044805740</SO_TK><MA_HQ>03CC</MA_HQ>");
    let p = validate(&cats, &swapped, &Limits::default());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].rule, "order");
    let extra = xml.replace("</Data>", "</Data><Extra/>");
    assert_eq!(validate(&cats, &extra, &Limits::default())[0].rule, "envelope");
    let signed = xml.replace(
        "</Customs>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature></Customs>",
    );
    assert!(validate(&cats, &signed, &Limits::default()).is_empty());
    assert!(parse(&cats, &signed, &Limits::default()).unwrap().signed);
    let other_version = xml.replace("<Message_Version>1</Message_Version>", "<Message_Version>7</Message_Version>");
    assert_eq!(validate(&cats, &other_version, &Limits::default())[0].rule, "catalogue");
}

#[test]
fn hostile_xml_is_refused_clearly() {
    let cats = catalogues();
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><Customs>&b;</Customs>";
    assert!(matches!(parse(&cats, bomb, &Limits::default()), Err(ParseError::Xml(XmlError::Doctype))));
    assert_eq!(validate(&cats, bomb, &Limits::default())[0].rule, "doctype");
    let small = Limits { max_bytes: 100, max_depth: 32 };
    let data = json!({"MA_HQ": "03CC", "SO_TK": "308044805740"});
    let xml = build(&cats, "CHECK_DECLARATION", &data, &Value::Null, &defaults()).unwrap();
    assert!(matches!(parse(&cats, &xml, &small), Err(ParseError::Xml(XmlError::TooLarge { .. }))));
    assert!(matches!(parse(&cats, "<Customs><Header>", &Limits::default()), Err(ParseError::Xml(XmlError::Malformed { .. }))));
    assert!(matches!(parse(&cats, "<Other/>", &Limits::default()), Err(ParseError::Structure(_))));
}
