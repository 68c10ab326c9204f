//! Clearance: look up a container, declaration or B/L; ask the gate question
//! (vasscm.gate_out_check / gate_out_check_bulk) and see every reason; the yard report with
//! filters, and its CSV export.

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::{Authed, CsrfForm, Posted};
use crate::db::{table, value_text, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::layout::{csrf_field, db_error, page, result, Shell};
use crate::session::Session;

const COLUMNS: &str = "cargo_kind, container_no, declaration_no, bl_no, registered_on, customs_office, cargo_flow, channel_name, state, \
     scan_required, scan_done, carrier_seal, customs_seal, quantity_declared, quantity_out, weight_kg_declared, weight_kg_out, \
     volume_m3_declared, volume_m3_out, set_by_form, eligible_at, status_at, status_reason";

/// Lookup by container (default), declaration or B/L.
#[derive(serde::Deserialize, Default)]
pub struct Lookup {
    #[serde(default)]
    by: String,
    #[serde(default)]
    q: String,
}

fn lookup_sql(by: &str) -> String {
    let f = match by {
        "declaration" => "vasscm.clearance_by_declaration",
        "bl" => "vasscm.clearance_by_bl",
        _ => "vasscm.clearance",
    };
    format!("SELECT {COLUMNS} FROM {f}($1)")
}

/// GET /clearance: lookup, and the gate forms.
pub async fn lookup(State(_state): State<Arc<AppState>>, who: Authed, Query(q): Query<Lookup>) -> Response {
    let l = who.v.lang;
    let text = q.q.trim().to_string();
    let found = if text.is_empty() {
        None
    } else {
        Some(run(&who, &lookup_sql(&q.by), &text).await)
    };
    let body = html! {
        (lookup_form(l, &q.by, &text))
        @if let Some(r) = &found { section { h2 { (l.t("clearance.result")) } (result(l, r, "clearance")) } }
        (gate_forms(l, &who.session, &GateForm::default(), &BulkForm::default()))
    };
    Html(page(&who.shell(), "title.clearance", body).into_string()).into_response()
}

async fn run(who: &Authed, sql: &str, p: &str) -> Result<Table, DbError> {
    let c = who.session.pool.get().await?;
    table(&c, sql, &[&p]).await
}

fn lookup_form(l: Lang, by: &str, q: &str) -> Markup {
    html! {
        form.search method="get" action="/clearance" {
            label { (l.t("clearance.by"))
                select name="by" id="by" {
                    @for (v, k) in [("container", "clearance.by_container"), ("declaration", "clearance.by_declaration"), ("bl", "clearance.by_bl")] {
                        option value=(v) selected[by == v] { (l.t(k)) }
                    }
                }
            }
            label { (l.t("clearance.number")) input type="search" name="q" id="lookup-q" value=(q) required; }
            button type="submit" id="lookup" { (l.t("action.search")) }
        }
    }
}

/// The container gate question.
#[derive(serde::Deserialize, Default)]
pub struct GateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    container_no: String,
    #[serde(default)]
    carrier_seal: String,
    #[serde(default)]
    customs_seal: String,
    #[serde(default)]
    declarations: String,
}

impl CsrfForm for GateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The bulk gate question.
#[derive(serde::Deserialize, Default)]
pub struct BulkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    declaration_no: String,
    #[serde(default)]
    bl_no: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    weight_kg: String,
    #[serde(default)]
    volume_m3: String,
}

impl CsrfForm for BulkForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn gate_forms(l: Lang, s: &Session, g: &GateForm, b: &BulkForm) -> Markup {
    html! {
        div.grid {
            section {
                h2 { (l.t("gate.container")) }
                form.stack method="post" action="/clearance/gate" {
                    (csrf_field(s))
                    label { (l.t("col.container_no")) input type="text" name="container_no" id="gate-container" value=(g.container_no) required; }
                    label { (l.t("col.carrier_seal")) input type="text" name="carrier_seal" id="gate-carrier-seal" value=(g.carrier_seal); }
                    label { (l.t("col.customs_seal")) input type="text" name="customs_seal" id="gate-customs-seal" value=(g.customs_seal); }
                    label { (l.t("gate.declarations")) input type="text" name="declarations" id="gate-declarations" value=(g.declarations); }
                    button type="submit" id="gate-check" { (l.t("action.gate_check")) }
                }
            }
            section {
                h2 { (l.t("gate.bulk")) }
                form.stack method="post" action="/clearance/gate-bulk" {
                    (csrf_field(s))
                    label { (l.t("col.declaration_no")) input type="text" name="declaration_no" id="bulk-declaration" value=(b.declaration_no) required; }
                    label { (l.t("col.bl_no")) input type="text" name="bl_no" id="bulk-bl" value=(b.bl_no); }
                    label { (l.t("col.quantity")) input type="text" inputmode="decimal" name="quantity" value=(b.quantity); }
                    label { (l.t("col.weight_kg")) input type="text" inputmode="decimal" name="weight_kg" id="bulk-weight" value=(b.weight_kg); }
                    label { (l.t("col.volume_m3")) input type="text" inputmode="decimal" name="volume_m3" value=(b.volume_m3); }
                    button type="submit" id="gate-check-bulk" { (l.t("action.gate_check")) }
                }
            }
        }
    }
}

fn decision(l: Lang, r: &Result<Table, DbError>) -> Markup {
    match r {
        Err(e) => db_error(l, e),
        Ok(t) => {
            let allowed = matches!(t.get(0, "allowed"), Value::Bool(true));
            let reasons: Vec<String> = match t.get(0, "reasons") {
                Value::Array(a) => a.iter().map(value_text).collect(),
                _ => Vec::new(),
            };
            html! {
                div #gate-decision class=(if allowed { "decision allowed" } else { "decision refused" }) {
                    strong { (l.t(if allowed { "gate.allowed" } else { "gate.refused" })) }
                    @if !reasons.is_empty() {
                        ul #gate-reasons { @for r in &reasons { li { (r) } } }
                    }
                }
            }
        }
    }
}

fn none_if_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// POST /clearance/gate: may this container leave? (recorded in the console's audit log)
pub async fn gate(State(state): State<Arc<AppState>>, p: Posted<GateForm>) -> Response {
    let (who, f) = (&p.who, &p.form);
    let l = who.v.lang;
    let decls: Option<Vec<String>> = {
        let v: Vec<String> =
            f.declarations.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        (!v.is_empty()).then_some(v)
    };
    let container = f.container_no.trim().to_string();
    let (cs, us) = (none_if_empty(&f.carrier_seal), none_if_empty(&f.customs_seal));
    let (answer, rows) = async {
        let c = match who.session.pool.get().await {
            Ok(c) => c,
            Err(e) => return (Err(e.clone()), Err(e)),
        };
        let a = table(
            &c,
            "SELECT allowed, reasons FROM vasscm.gate_out_check($1::text, $2::text, $3::text, $4::text[])",
            &[&container, &cs, &us, &decls],
        )
        .await;
        let r = table(&c, &lookup_sql("container"), &[&container]).await;
        (a, r)
    }
    .await;
    record_decision(&state, who, "gate_out_check", &container, &answer);
    let body = html! {
        section { h2 { (l.t("gate.decision")) " " (container) } (decision(l, &answer)) }
        section { h2 { (l.t("clearance.result")) } (result(l, &rows, "clearance")) }
        (gate_forms(l, &who.session, f, &BulkForm::default()))
    };
    Html(page(&Shell { here: "/clearance", ..who.shell() }, "title.clearance", body).into_string()).into_response()
}

/// POST /clearance/gate-bulk: may this bulk trip leave?
pub async fn gate_bulk(State(state): State<Arc<AppState>>, p: Posted<BulkForm>) -> Response {
    let (who, f) = (&p.who, &p.form);
    let l = who.v.lang;
    let params = [
        none_if_empty(&f.declaration_no),
        none_if_empty(&f.bl_no),
        none_if_empty(&f.quantity),
        none_if_empty(&f.weight_kg),
        none_if_empty(&f.volume_m3),
    ];
    let answer = async {
        let c = who.session.pool.get().await?;
        table(
            &c,
            "SELECT allowed, reasons FROM vasscm.gate_out_check_bulk($1::text, $2::text, $3::text::numeric, $4::text::numeric, $5::text::numeric)",
            &[&params[0], &params[1], &params[2], &params[3], &params[4]],
        )
        .await
    }
    .await;
    let target = format!("{} {}", f.declaration_no.trim(), f.bl_no.trim());
    record_decision(&state, who, "gate_out_check_bulk", target.trim(), &answer);
    let body = html! {
        section { h2 { (l.t("gate.decision")) " " (target) } (decision(l, &answer)) }
        (gate_forms(l, &who.session, &GateForm::default(), f))
    };
    Html(page(&Shell { here: "/clearance", ..who.shell() }, "title.clearance", body).into_string()).into_response()
}

fn record_decision(state: &AppState, who: &Authed, action: &str, target: &str, answer: &Result<Table, DbError>) {
    match answer {
        Ok(t) => {
            let allowed = matches!(t.get(0, "allowed"), Value::Bool(true));
            let reasons = match t.get(0, "reasons") {
                Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(" | "),
                _ => String::new(),
            };
            who.audit(state, action, target, if allowed { "allowed" } else { "not_allowed" }, &reasons);
        }
        Err(DbError::Refused(m)) => who.audit(state, action, target, "refused", m),
        Err(e) => who.audit(state, action, target, "failed", &e.to_string()),
    }
}

/// Filters of the yard report.
#[derive(serde::Deserialize, Default, Clone)]
pub struct YardFilter {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    q: String,
}

const KINDS: [&str; 2] = ["container", "bulk"];
const STATES: [&str; 6] = ["eligible", "not_eligible", "suspended", "cancelled", "passed", "unknown"];
const CHANNELS: [&str; 3] = ["green", "yellow", "red"];
const FLOWS: [&str; 2] = ["NHAP", "XUAT"];

const Q_YARD: &str = "SELECT cargo_kind, container_no, declaration_no, bl_no, cargo_flow, channel_name, state, scan_required, scan_done,
       carrier_seal, customs_seal, quantity_declared, quantity_out, weight_kg_declared, weight_kg_out, eligible_at, updated_at
  FROM vasscm.clearance_state s
 WHERE ($1::text = '' OR s.cargo_kind = $1) AND ($2::text = '' OR s.state = $2)
   AND ($3::text = '' OR s.channel_name = $3) AND ($4::text = '' OR s.cargo_flow = $4)
   AND ($5::text = '' OR s.container_no LIKE upper($5) || '%' OR s.declaration_no LIKE $5 || '%' OR s.bl_no LIKE upper($5) || '%')
 ORDER BY s.container_no NULLS LAST, s.declaration_no NULLS LAST, s.bl_no
 LIMIT $6";

impl YardFilter {
    /// Only values from the fixed lists; the free text with LIKE's wildcards escaped.
    fn clean(&self) -> [String; 5] {
        let pick = |v: &str, allowed: &[&str]| if allowed.contains(&v) { v.to_string() } else { String::new() };
        let q = self.q.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        [pick(&self.kind, &KINDS), pick(&self.state, &STATES), pick(&self.channel, &CHANNELS), pick(&self.flow, &FLOWS), q]
    }

    fn query_string(&self) -> String {
        let c = self.clean();
        format!(
            "kind={}&state={}&channel={}&flow={}&q={}",
            c[0],
            c[1],
            c[2],
            c[3],
            crate::layout::encode_component(self.q.trim())
        )
    }
}

async fn yard_rows(who: &Authed, f: &YardFilter, limit: i64) -> Result<Table, DbError> {
    let p = f.clean();
    let c = who.session.pool.get().await?;
    table(&c, Q_YARD, &[&p[0], &p[1], &p[2], &p[3], &p[4], &limit]).await
}

/// GET /yard: the yard report (first 500 rows; the CSV has them all).
pub async fn yard(State(_state): State<Arc<AppState>>, who: Authed, Query(f): Query<YardFilter>) -> Response {
    let l = who.v.lang;
    let rows = yard_rows(&who, &f, 500).await;
    let sel = |name: &str, id: &str, values: &[&str], cur: &str, prefix: &str| {
        html! {
            label { (l.t_or("col", name))
                select name=(name) id=(id) {
                    option value="" { (l.t("yard.all")) }
                    @for v in values { option value=(v) selected[*v == cur] { (l.t_or(prefix, v)) } }
                }
            }
        }
    };
    let body = html! {
        form.search method="get" action="/yard" {
            (sel("kind", "yard-kind", &KINDS, &f.kind, "kind"))
            (sel("state", "yard-state", &STATES, &f.state, "status"))
            (sel("channel", "yard-channel", &CHANNELS, &f.channel, "status"))
            (sel("flow", "yard-flow", &FLOWS, &f.flow, "flow"))
            label { (l.t("yard.prefix")) input type="search" name="q" id="yard-q" value=(f.q); }
            button type="submit" id="yard-filter" { (l.t("action.filter")) }
            a.button id="yard-csv" href={ "/yard.csv?" (f.query_string()) } { (l.t("action.csv")) }
        }
        @if let Ok(t) = &rows { p.hint #yard-count { (t.rows.len()) " " (l.t("yard.rows")) } }
        (result(l, &rows, "yard"))
    };
    Html(page(&who.shell(), "title.yard", body).into_string()).into_response()
}

/// GET /yard.csv: the same report as CSV (UTF-8 with BOM so that spreadsheets read Vietnamese).
pub async fn yard_csv(State(state): State<Arc<AppState>>, who: Authed, Query(f): Query<YardFilter>) -> Response {
    let rows = yard_rows(&who, &f, 100_000).await;
    match rows {
        Ok(t) => {
            who.audit(&state, "yard_csv", &f.query_string(), "ok", &format!("{} rows", t.rows.len()));
            let body = format!("\u{feff}{}", to_csv(&t));
            (
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (CONTENT_DISPOSITION, "attachment; filename=\"vasscm-yard.csv\""),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => {
            who.audit(&state, "yard_csv", &f.query_string(), "refused", &e.to_string());
            let l = who.v.lang;
            (axum::http::StatusCode::FORBIDDEN, Html(page(&who.shell(), "title.yard", db_error(l, &e)).into_string()))
                .into_response()
        }
    }
}

/// A table as RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with `'`.
pub fn to_csv(t: &Table) -> String {
    fn field(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() { format!("'{s}") } else { s.to_string() };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = t.columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    for r in &t.rows {
        out.push_str(&r.iter().map(|v| field(&value_text(v))).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let t = Table {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Value::String("x,\"y\"".into()), Value::String("=cmd()".into())], vec![Value::Null, Value::from(-3)]],
        };
        assert_eq!(to_csv(&t), "a,b\r\n\"x,\"\"y\"\"\",'=cmd()\r\n,-3\r\n");
    }

    #[test]
    fn yard_filters_keep_only_known_values() {
        let f = YardFilter { kind: "container".into(), state: "x' OR 1=1".into(), q: "MS%_".into(), ..Default::default() };
        let c = f.clean();
        assert_eq!(c[0], "container");
        assert_eq!(c[1], "");
        assert_eq!(c[4], "MS\\%\\_");
    }
}
