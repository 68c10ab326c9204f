//! `vasscm-customs-sim`: an HTTP stand-in for VASSCM, for tests, the demo and a port's own
//! acceptance testing.
//!
//! - `POST /vasscm`: a port → customs message (SOAP 1.1 or plain XML). The signature is
//!   verified against the registered port certificate, the message validated against the
//!   catalogue; the answer is a signed 200 or 299 with real error texts. Transaction_IDs are
//!   de-duplicated: a re-delivery gets the first answer again and is counted.
//! - `GET /stats`: deliveries per Transaction_ID, acceptance order, totals (JSON).
//! - `POST /control`: `{"http500": n, "close": n, "slow_ms": n, "garbage": n, "reset": true}` —
//!   fail the next n requests with HTTP 500, close the connection without answering, answer
//!   slowly, or answer the next n with hostile bodies.
//! - `POST /script`: `{"message_type": "04", "data": {...}, "deliver_to": "http://…"}` — a
//!   customs → port message signed with the customs key, queued for `GET /outbound` or pushed.
//! - `GET /outbound`: the next scripted message or query answer (200), or 204.
//!
//! Queries (CHECK_CONTAINER, CHECK_DECLARATION, CHECK_BL, TRANSHIP_ID_REQUEST) are answered
//! like customs does: accepted with a 200, then a signed CHECK_RESULT / TRANSHIP_ID_RESULT
//! (`Request_ID` = the query's Transaction_ID) is queued for `GET /outbound`. The answers come
//! from what the simulator itself told the port in scripted 04 / 05 / 06 / 07 messages.
//!
//! Usage: `vasscm-customs-sim --listen 127.0.0.1:8088 --port-cert port.pem --customs-key key.pem
//!         --customs-cert customs.pem [--port-code CANG]`, or `vasscm-customs-sim --config
//! sim.toml` with the same keys (`listen`, `port_cert`, `customs_key`, `customs_cert`,
//! `port_code`; see `simulator/vasscm-customs-sim.example.toml`). Command-line options override
//! the file. `--help` and `--version` exit 0, usage errors 64, a bad configuration file 78.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, warn};
use vasscm_core::{soap, Catalogue, Catalogues, HeaderDefaults, Limits};
use vasscm_dsig::{Certificate, KeySigner, Profile};

struct Delivery {
    count: u32,
    reply: String,
    accepted: bool,
    message_type: String,
}

#[derive(Default)]
struct Faults {
    http500: u32,
    slow_ms: u64,
    garbage: u32,
    close: u32,
}

/// The fault to play on one request (at most one, in this order of precedence).
#[derive(PartialEq)]
enum Fault {
    None,
    Close,
    Http500,
    Garbage,
}

impl Faults {
    /// Takes the next pending fault, counting it down.
    fn take(&mut self) -> Fault {
        for (left, fault) in [(&mut self.close, Fault::Close), (&mut self.http500, Fault::Http500), (&mut self.garbage, Fault::Garbage)] {
            if *left > 0 {
                *left -= 1;
                return fault;
            }
        }
        Fault::None
    }
}

/// A declaration as the simulated customs knows it, from the messages it sent.
#[derive(Default)]
struct Declaration {
    channel: Option<String>,
    registered: Option<String>,
    status: Option<String>,
    containers: HashSet<String>,
    bls: HashSet<String>,
    eligible: bool,
}

/// What the simulated customs told the port, to answer queries consistently.
#[derive(Default)]
struct CustomsView {
    declarations: BTreeMap<String, Declaration>,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl CustomsView {
    /// Records a customs → port message the simulator sent.
    fn record(&mut self, code: &str, data: &Value) {
        let Some(no) = text(data, "SO_TK") else { return };
        let d = self.declarations.entry(no.to_string()).or_default();
        match code {
            "04" | "05" => {
                d.eligible = true;
                d.channel = text(data, "LUONG").map(str::to_string).or(d.channel.take());
                d.registered = text(data, "NGAY_DK").map(str::to_string).or(d.registered.take());
                for item in data.get("LIST_CONTAINER").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(c) = text(item, "SO_CONTAINER") {
                        d.containers.insert(vasscm_core::container::normalize(c));
                    }
                }
                if let Some(bl) = text(data, "SO_VAN_DON") {
                    d.bls.insert(bl.trim().to_uppercase());
                }
            }
            "06" => {
                let st = text(data, "TRANG_THAI_TK").unwrap_or_default();
                if d.status.as_deref() != Some("HUY") {
                    d.status = if st == "BO_TAM_DUNG" { None } else { Some(st.to_string()) };
                }
            }
            "07" => {
                for item in data.get("LIST_CONTAINER").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(c) = text(item, "SO_CONTAINER") {
                        let c = vasscm_core::container::normalize(c);
                        if text(item, "THAO_TAC") == Some("HUY") {
                            d.containers.remove(&c);
                        } else {
                            d.containers.insert(c);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The CHECK_RESULT data answering a query.
    fn answer(&self, code: &str, q: &Value) -> Value {
        let container = text(q, "SO_CONTAINER").map(vasscm_core::container::normalize);
        let bl = text(q, "SO_VAN_DON").map(|b| b.trim().to_uppercase());
        let found = self.declarations.iter().find(|(no, d)| match code {
            "CHECK_DECLARATION" => Some(no.as_str()) == text(q, "SO_TK"),
            "CHECK_BL" => bl.as_ref().is_some_and(|b| d.bls.contains(b)),
            _ => {
                container.as_ref().is_some_and(|c| d.containers.contains(c))
                    && text(q, "SO_TK").is_none_or(|t| t == no.as_str())
            }
        });
        let mut a = serde_json::Map::new();
        if let Some(c) = &container {
            a.insert("SO_CONTAINER".into(), json!(c));
        }
        if let Some(b) = &bl {
            a.insert("SO_VAN_DON".into(), json!(b));
        }
        match found {
            Some((no, d)) => {
                let ok = d.eligible && d.status.is_none();
                a.insert("SO_TK".into(), json!(no));
                a.insert("DU_DIEU_KIEN".into(), json!(if ok { "Y" } else { "N" }));
                if let Some(ch) = &d.channel {
                    a.insert("LUONG".into(), json!(ch));
                }
                if let Some(st) = &d.status {
                    a.insert("TRANG_THAI_TK".into(), json!(st));
                }
                if let Some(r) = &d.registered {
                    a.insert("NGAY_DK".into(), json!(r));
                }
                if !ok {
                    a.insert("GHI_CHU".into(), json!("Chưa đủ điều kiện qua khu vực giám sát / not eligible"));
                }
            }
            None => {
                if let Some(t) = text(q, "SO_TK") {
                    a.insert("SO_TK".into(), json!(t));
                }
                a.insert("DU_DIEU_KIEN".into(), json!("N"));
                a.insert("GHI_CHU".into(), json!("Không có dữ liệu / no customs data"));
            }
        }
        Value::Object(a)
    }
}

/// A stable identification number for a container moving to another port.
fn tranship_number(container: &str, destination: &str) -> String {
    let h = format!("{container}>{destination}").bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    format!("DD{}{:010}", destination.chars().take(4).collect::<String>(), h % 10_000_000_000)
}

struct Sim {
    cats: Catalogues,
    customs_view: Mutex<CustomsView>,
    port_cert: Certificate,
    customs_key: KeySigner,
    customs_cert: Certificate,
    deliveries: Mutex<HashMap<String, Delivery>>,
    order: Mutex<Vec<String>>,
    faults: Mutex<Faults>,
    outbound: Mutex<VecDeque<String>>,
    requests: Mutex<u64>,
    /// The port's code, configured or learned from its last message.
    port_code: Mutex<Option<String>>,
}

type Shared = Arc<Sim>;

/// `--config` file: the same settings as the command-line options.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SimConfig {
    /// Address to listen on, e.g. `127.0.0.1:8088`.
    listen: Option<String>,
    /// The port operator's certificate (PEM): messages must be signed with its key.
    port_cert: Option<String>,
    /// The simulated customs' private key (PEM), to sign replies and customs messages.
    customs_key: Option<String>,
    /// The simulated customs' certificate (PEM).
    customs_cert: Option<String>,
    /// The port's customs-registered code: the Receiver_Code of customs' messages to it.
    port_code: Option<String>,
}

/// Command line (options override the configuration file).
#[derive(Debug, clap::Parser)]
#[command(name = "vasscm-customs-sim", version, about = "An HTTP stand-in for VASSCM customs, for tests, the demo and acceptance testing")]
struct Cli {
    /// A TOML file with listen, port_cert, customs_key, customs_cert, port_code.
    #[arg(long)]
    config: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8088.
    #[arg(long)]
    listen: Option<String>,
    /// The port operator's certificate (PEM): messages must be signed with its key.
    #[arg(long)]
    port_cert: Option<String>,
    /// The simulated customs' private key (PEM).
    #[arg(long)]
    customs_key: Option<String>,
    /// The simulated customs' certificate (PEM).
    #[arg(long)]
    customs_cert: Option<String>,
    /// The port's code (Receiver_Code of customs' messages); default: the Sender_Code of the
    /// port's first message, PORT before any.
    #[arg(long)]
    port_code: Option<String>,
}


fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("vasscm-customs-sim: cannot read {path}: {e}");
        std::process::exit(66)
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            std::process::exit(0)
        }
        Err(e) => {
            let _ = e.print();
            std::process::exit(64)
        }
    };
    let file = match &cli.config {
        Some(path) => match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| toml::from_str::<SimConfig>(&t).map_err(|e| e.to_string())) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("vasscm-customs-sim: invalid configuration {path}: {e}");
                std::process::exit(78);
            }
        },
        None => SimConfig::default(),
    };
    let (Some(listen), Some(port_cert), Some(key), Some(cert)) =
        (cli.listen.or(file.listen), cli.port_cert.or(file.port_cert), cli.customs_key.or(file.customs_key), cli.customs_cert.or(file.customs_cert))
    else {
        eprintln!("vasscm-customs-sim: --listen, --port-cert, --customs-key and --customs-cert are required (or in --config); see --help");
        std::process::exit(64);
    };
    let port_code = cli.port_code.or(file.port_code);
    let fail = |what: &str, e: String| -> ! {
        eprintln!("vasscm-customs-sim: {what}: {e}");
        std::process::exit(65)
    };
    let cat = Catalogue::from_json(vasscm_core::BUILTIN_CATALOGUE_V1).unwrap_or_else(|e| fail("catalogue", e.to_string()));
    let sim = Arc::new(Sim {
        cats: Catalogues::single(cat),
        customs_view: Mutex::new(CustomsView::default()),
        port_cert: Certificate::from_bytes(&read(&port_cert)).unwrap_or_else(|e| fail("port certificate", e.to_string())),
        customs_key: KeySigner::from_pem(&read(&key)).unwrap_or_else(|e| fail("customs key", e.to_string())),
        customs_cert: Certificate::from_bytes(&read(&cert)).unwrap_or_else(|e| fail("customs certificate", e.to_string())),
        deliveries: Mutex::new(HashMap::new()),
        order: Mutex::new(Vec::new()),
        faults: Mutex::new(Faults::default()),
        outbound: Mutex::new(VecDeque::new()),
        requests: Mutex::new(0),
        port_code: Mutex::new(port_code),
    });
    let app = Router::new()
        .route("/vasscm", post(receive))
        .route("/stats", get(stats))
        .route("/control", post(control))
        .route("/script", post(script))
        .route("/outbound", get(outbound))
        .with_state(sim);
    let listener = listen_reusable(&listen).await.unwrap_or_else(|e| fail("listen", e.to_string()));
    info!(%listen, "customs simulator ready");
    if let Err(e) = axum::serve(listener, app).await {
        fail("serve", e.to_string());
    }
}

/// Listens on `addr` with SO_REUSEADDR, so that a restart (or a client socket of another
/// program in TIME_WAIT on the same local port) does not keep the port refused for a minute.
async fn listen_reusable(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr} does not resolve"));
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        match socket.bind(a) {
            Ok(()) => return socket.listen(1024),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Builds and signs a customs message.
fn customs_message(sim: &Sim, code: &str, data: &Value, header: &Value, receiver: &str) -> Result<String, String> {
    let defaults = HeaderDefaults {
        application_version: "sim-1".into(),
        sender_code: "TCHQ".into(),
        sender_name: "Tổng cục Hải quan (mô phỏng)".into(),
        receiver_code: if receiver.is_empty() { lock(&sim.port_code).clone().unwrap_or_else(|| "PORT".into()) } else { receiver.into() },
    };
    let xml = vasscm_core::build(&sim.cats, code, data, header, &defaults).map_err(|e| format!("{e:?}"))?;
    vasscm_dsig::sign(&xml, &sim.customs_key, &sim.customs_cert, Profile::default()).map_err(|e| e.to_string())
}

fn reply_xml(sim: &Sim, request_id: &str, receiver: &str, errors: &[(String, String)]) -> String {
    let (code, list) = if errors.is_empty() {
        ("200", vec![json!({"ErrorNumber": "0", "ErrorMessage": "Tiếp nhận thành công"})])
    } else {
        ("299", errors.iter().map(|(n, m)| json!({"ErrorNumber": n, "ErrorMessage": m})).collect())
    };
    let header = if request_id.is_empty() { json!({}) } else { json!({"Request_ID": request_id}) };
    customs_message(sim, code, &json!({"Error": list}), &header, receiver).unwrap_or_else(|e| format!("<error>{e}</error>"))
}

fn respond(soap_in: bool, status: StatusCode, xml: String) -> Response {
    let body = if soap_in { soap::wrap_response(&xml) } else { xml };
    (status, [("Content-Type", "text/xml; charset=utf-8")], body).into_response()
}

async fn receive(State(sim): State<Shared>, body: String) -> Response {
    *lock(&sim.requests) += 1;
    let (fault, slow) = {
        let mut f = lock(&sim.faults);
        (f.take(), f.slow_ms)
    };
    let (close, http500, garbage) = (fault == Fault::Close, fault == Fault::Http500, fault == Fault::Garbage);
    if close {
        // Drop the connection without an answer: unwinding out of the handler makes hyper
        // abort this connection (resume_unwind does not print a panic message).
        warn!("closing the connection without answering (simulated fault)");
        std::panic::resume_unwind(Box::new("simulated connection close"));
    }
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    if http500 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "simulated customs failure").into_response();
    }
    let soap_in = soap::is_soap(&body);
    let message = if soap_in {
        match soap::unwrap(&body) {
            Some(m) => m,
            None => return respond(true, StatusCode::OK, reply_xml(&sim, "", "", &[("1001".into(), "SOAP không có thông điệp / empty SOAP request".into())])),
        }
    } else {
        body
    };
    // Read the header defensively, only to address a refusal (the same hostile-safe reader as the extension).
    let parsed = vasscm_core::parse(&sim.cats, &message, &Limits::default());
    let (tid, _, sender) = match &parsed {
        Ok(p) => (
            p.header.get("Transaction_ID").and_then(Value::as_str).unwrap_or_default().to_string(),
            p.message_type.clone(),
            p.header.get("Sender_Code").and_then(Value::as_str).unwrap_or_default().to_string(),
        ),
        Err(e) => return respond(soap_in, StatusCode::OK, reply_xml(&sim, "", "", &[("1002".into(), format!("Thông điệp không đọc được / unreadable message: {e}"))])),
    };
    if garbage {
        // Hostile answers, in turn: not XML, an entity bomb, and an oversized body.
        let n = *lock(&sim.requests) % 3;
        let body = match n {
            0 => "<<<this is not xml".to_string(),
            1 => "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;\">]><Customs>&b;</Customs>".to_string(),
            _ => format!("<Customs>{}</Customs>", "x".repeat(3 * 1024 * 1024)),
        };
        return (StatusCode::OK, body).into_response();
    }
    // Authenticity first: a forged or tampered message never counts as a delivery. The header
    // read above only addresses the refusal; from here on only the verified document is used.
    let message = match vasscm_dsig::verify(&message, &sim.port_cert.x509) {
        Ok(v) => v.into_document(),
        Err(e) => {
            warn!(%tid, "signature refused: {e}");
            let errors = [("1301".to_string(), format!("Chữ ký số không hợp lệ / invalid signature: {e}"))];
            return respond(soap_in, StatusCode::OK, reply_xml(&sim, &tid, &sender, &errors));
        }
    };
    let parsed = vasscm_core::parse(&sim.cats, &message, &Limits::default());
    let (tid, kind, sender) = match &parsed {
        Ok(p) => (
            p.header.get("Transaction_ID").and_then(Value::as_str).unwrap_or_default().to_string(),
            p.message_type.clone(),
            p.header.get("Sender_Code").and_then(Value::as_str).unwrap_or_default().to_string(),
        ),
        Err(e) => return respond(soap_in, StatusCode::OK, reply_xml(&sim, &tid, &sender, &[("1002".into(), format!("Thông điệp không đọc được / unreadable message: {e}"))])),
    };
    if !sender.is_empty() {
        lock(&sim.port_code).get_or_insert_with(|| sender.clone());
    }
    if let Some(d) = lock(&sim.deliveries).get_mut(&tid) {
        d.count += 1;
        info!(%tid, deliveries = d.count, "duplicate delivery: same answer again");
        return respond(soap_in, StatusCode::OK, d.reply.clone());
    }
    let mut errors: Vec<(String, String)> = Vec::new();
    for (i, p) in vasscm_core::validate(&sim.cats, &message, &Limits::default()).iter().enumerate() {
        errors.push((format!("{}", 1100 + i), format!("{}: {}: {}", p.path, p.rule, p.detail)));
    }
    let accepted = errors.is_empty();
    let reply = reply_xml(&sim, &tid, &sender, &errors);
    if !tid.is_empty() {
        lock(&sim.deliveries).insert(tid.clone(), Delivery { count: 1, reply: reply.clone(), accepted, message_type: kind.clone() });
        if accepted {
            lock(&sim.order).push(tid.clone());
        }
    }
    if accepted {
        info!(%tid, %kind, "accepted");
        if let Ok(p) = &parsed {
            queue_answer(&sim, &kind, &Value::Object(p.data.clone()), &tid, &sender);
        }
    } else {
        warn!(%tid, %kind, errors = errors.len(), "rejected");
    }
    respond(soap_in, StatusCode::OK, reply)
}

/// Queues customs' answer to a query (CHECK_* → CHECK_RESULT, TRANSHIP_ID_REQUEST → TRANSHIP_ID_RESULT).
fn queue_answer(sim: &Sim, kind: &str, data: &Value, tid: &str, port: &str) {
    let (code, answer) = match kind {
        "CHECK_CONTAINER" | "CHECK_DECLARATION" | "CHECK_BL" => ("CHECK_RESULT", lock(&sim.customs_view).answer(kind, data)),
        "TRANSHIP_ID_REQUEST" => {
            let c = vasscm_core::container::normalize(text(data, "SO_CONTAINER").unwrap_or_default());
            let dest = text(data, "CANG_DEN").unwrap_or_default();
            ("TRANSHIP_ID_RESULT", json!({"SO_CONTAINER": c, "SO_DINH_DANH": tranship_number(&c, dest), "CANG_DEN": dest}))
        }
        _ => return,
    };
    match customs_message(sim, code, &answer, &json!({"Request_ID": tid}), port) {
        Ok(xml) => lock(&sim.outbound).push_back(xml),
        Err(e) => warn!(%tid, "cannot build the answer {code}: {e}"),
    }
}

async fn stats(State(sim): State<Shared>) -> Json<Value> {
    let d = lock(&sim.deliveries);
    let ids: serde_json::Map<String, Value> = d
        .iter()
        .map(|(k, v)| (k.clone(), json!({"deliveries": v.count, "accepted": v.accepted, "message_type": v.message_type})))
        .collect();
    Json(json!({
        "requests": *lock(&sim.requests),
        "accepted": d.values().filter(|v| v.accepted).count(),
        "rejected": d.values().filter(|v| !v.accepted).count(),
        "redeliveries": d.values().map(|v| v.count - 1).sum::<u32>(),
        "accepted_order": *lock(&sim.order),
        "ids": ids,
    }))
}

async fn control(State(sim): State<Shared>, Json(cmd): Json<Value>) -> Json<Value> {
    let mut f = lock(&sim.faults);
    if cmd.get("reset").and_then(Value::as_bool) == Some(true) {
        *f = Faults::default();
        lock(&sim.deliveries).clear();
        lock(&sim.order).clear();
    }
    if let Some(n) = cmd.get("http500").and_then(Value::as_u64) {
        f.http500 = n as u32;
    }
    if let Some(n) = cmd.get("slow_ms").and_then(Value::as_u64) {
        f.slow_ms = n;
    }
    if let Some(n) = cmd.get("garbage").and_then(Value::as_u64) {
        f.garbage = n as u32;
    }
    if let Some(n) = cmd.get("close").and_then(Value::as_u64) {
        f.close = n as u32;
    }
    Json(json!({"http500": f.http500, "slow_ms": f.slow_ms, "garbage": f.garbage, "close": f.close}))
}

async fn script(State(sim): State<Shared>, Json(cmd): Json<Value>) -> Response {
    let code = cmd.get("message_type").and_then(Value::as_str).unwrap_or_default().to_string();
    let data = cmd.get("data").cloned().unwrap_or(Value::Null);
    let header = cmd.get("header").cloned().unwrap_or(json!({}));
    let xml = match customs_message(&sim, &code, &data, &header, "") {
        Ok(x) => x,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    lock(&sim.customs_view).record(&code, &data);
    let tid = vasscm_core::parse(&sim.cats, &xml, &Limits::default())
        .ok()
        .and_then(|p| p.header.get("Transaction_ID").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if let Some(url) = cmd.get("deliver_to").and_then(Value::as_str) {
        let client = reqwest::Client::new();
        return match client.post(url).body(xml).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (StatusCode::OK, Json(json!({"transaction_id": tid, "status": status, "answer": text}))).into_response()
            }
            Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        };
    }
    lock(&sim.outbound).push_back(xml);
    (StatusCode::OK, Json(json!({"transaction_id": tid}))).into_response()
}

async fn outbound(State(sim): State<Shared>) -> Response {
    match lock(&sim.outbound).pop_front() {
        Some(xml) => (StatusCode::OK, [("Content-Type", "text/xml; charset=utf-8")], xml).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}
