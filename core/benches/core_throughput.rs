//! `cargo bench -p vasscm-core`: build, validate and parse of a form-14 message in pure Rust
//! (no PostgreSQL), to separate the message work from the SQL call overhead.

use std::time::Instant;
use vasscm_core::{build, parse, validate, Catalogue, Catalogues, HeaderDefaults, Limits};

fn main() {
    let cats = Catalogues::single(Catalogue::from_json(vasscm_core::BUILTIN_CATALOGUE_V1).expect("v1"));
    let data = cats.active().and_then(|c| c.message("14")).and_then(|m| m.example.clone()).expect("example");
    let defaults = HeaderDefaults { application_version: "0.1.0".into(), sender_code: "C".into(), sender_name: "N".into(), receiver_code: "03CC".into() };
    let limits = Limits::default();
    let n = 200_000;
    let t = Instant::now();
    let mut xml = String::new();
    for _ in 0..n {
        xml = build(&cats, "14", &data, &serde_json::Value::Null, &defaults).expect("valid");
    }
    report("build", n, t);
    let header = serde_json::json!({"Transaction_ID": "00000000-0000-4000-8000-000000000000"});
    let t = Instant::now();
    for _ in 0..n {
        let p = vasscm_core::message::prepare(&cats, "14", &data, &header, &defaults);
        assert!(p.xml.is_some());
    }
    report("prepare (build + canonical data)", n, t);
    let t = Instant::now();
    for _ in 0..n {
        assert!(validate(&cats, &xml, &limits).is_empty());
    }
    report("validate", n, t);
    let t = Instant::now();
    for _ in 0..n {
        parse(&cats, &xml, &limits).expect("parses");
    }
    report("parse", n, t);
    let text = data.to_string();
    let t = Instant::now();
    for _ in 0..n {
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        std::hint::black_box(v);
    }
    report("serde_json parse of the data", n, t);
}

fn report(what: &str, n: u32, t: Instant) {
    let s = t.elapsed().as_secs_f64();
    println!("{what:<32} {:>10.0} per second ({:.2} µs each)", f64::from(n) / s, s * 1e6 / f64::from(n));
}
