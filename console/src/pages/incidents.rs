//! Incidents (article 52đ): the list (open first, with the notify-within-1-hour deadline, paper
//! lists and gate-outs made during each), one incident's record (events, paper lists with their
//! lines, gate-outs tied to the lists with their message status, the summary and the printable
//! incident log), and the operator's actions — open, record the notification, record a paper
//! list, close — done through vasscm.open_incident / record_incident_notification /
//! record_paper_list / close_incident as the logged-in role, so that PostgreSQL decides and the
//! incident's event log records the person.

use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde_json::{Map, Number, Value};
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::{Authed, CsrfForm, Posted};
use crate::db::{table, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::layout::{csrf_field, db_error, page, record, result, table as render_table};

/// When customs must be told (began_at + incident_notify_seconds) and where that stands.
const DUE: &str = "CROSS JOIN LATERAL (SELECT i.began_at + make_interval(secs => coalesce(vasscm._setting_value('incident_notify_seconds'), '3600')::int) AS due_at) d";
const STATE: &str = "CASE WHEN i.notified_at IS NOT NULL AND i.notified_at <= d.due_at THEN 'ok'
            WHEN i.notified_at IS NOT NULL THEN 'late'
            WHEN i.closed_at IS NULL AND now() <= d.due_at THEN 'pending'
            WHEN i.closed_at IS NULL THEN 'overdue'
            WHEN i.closed_at > d.due_at THEN 'late'
            ELSE 'not_needed' END";

fn q_list() -> String {
    format!(
        "SELECT i.id AS incident, i.cause, i.began_at, i.notified_at IS NOT NULL AS notified, d.due_at AS notify_due_at,
       {STATE} AS state,
       (SELECT count(*) FROM vasscm.paper_list p WHERE p.incident_id = i.id) AS paper_lists,
       (SELECT count(*) FROM vasscm.incident_gate_outs g WHERE g.incident_id = i.id) AS gate_outs,
       i.closed_at,
       (SELECT string_agg(k || ' ' || v, ', ') FROM jsonb_each_text(i.summary) AS s(k, v)) AS summary
  FROM vasscm.incident i {DUE}
 ORDER BY (i.closed_at IS NULL) DESC, i.id DESC LIMIT 200"
    )
}

fn q_one() -> String {
    format!(
        "SELECT i.id AS incident, i.cause, i.detection, i.began_at, i.opened_at, i.opened_by, i.auto_close,
       d.due_at AS notify_due_at, {STATE} AS state, i.notified_at, i.notified_how, i.notified_officer, i.notified_by,
       i.closed_at, i.closed_by, i.close_reason
  FROM vasscm.incident i {DUE} WHERE i.id = $1"
    )
}

const Q_EVENTS: &str =
    "SELECT at, actor, event, detail FROM vasscm.incident_event WHERE incident_id = $1 ORDER BY id";
const Q_LISTS: &str = "SELECT p.reference, p.officer, p.confirmed_at, p.recorded_at, p.recorded_by,
       (SELECT count(*) FROM vasscm.paper_list_item x WHERE x.paper_list_id = p.id) AS lines
  FROM vasscm.paper_list p WHERE p.incident_id = $1 ORDER BY p.id";
const Q_ITEMS: &str = "SELECT p.reference, x.item_no, x.container_no, x.declaration_no, x.bl_no, x.quantity, x.weight_kg, x.volume_m3
  FROM vasscm.paper_list p JOIN vasscm.paper_list_item x ON x.paper_list_id = p.id
 WHERE p.incident_id = $1 ORDER BY p.id, x.item_no";
const Q_GATE_OUTS: &str = "SELECT g.outbox_id, g.message_type, g.status, g.container_no, g.bl_no, g.declarations, g.weight_kg,
       g.left_at, g.paper_list_reference, g.paper_list_item, g.accepted_at
  FROM vasscm.incident_gate_outs g WHERE g.incident_id = $1 ORDER BY g.left_at, g.outbox_id";
const Q_SUMMARY: &str = "SELECT * FROM vasscm.incident_summary($1)";
const Q_LOG: &str = "SELECT vasscm.incident_log($1) AS log";

/// GET /incidents: every incident, open first, and the form to open one.
pub async fn list(State(_state): State<Arc<AppState>>, who: Authed) -> Response {
    let l = who.v.lang;
    let data = async {
        let c = who.session.pool.get().await?;
        table(&c, &q_list(), &[]).await
    }
    .await;
    let body = html! {
        section #open-section {
            h2 { (l.t("incidents.open")) }
            p.hint { (l.t("incidents.open_hint")) }
            form.stack method="post" action="/incidents/open" {
                (csrf_field(&who.session))
                label { (l.t("incidents.cause"))
                    input type="text" name="cause" id="cause" required placeholder=(l.t("incidents.cause_hint")); }
                div { button type="submit" id="open-incident" { (l.t("action.open_incident")) } }
            }
        }
        section #incidents-section {
            h2 { (l.t("incidents.all")) }
            @match &data {
                Err(e) => (db_error(l, e)),
                Ok(t) => (render_table(l, t, "incidents", |i| {
                    let id = t.text(i, "incident");
                    Some(html! { a href={ "/incidents/" (id) } id={ "incident-" (id) } { (l.t("incidents.details")) } })
                })),
            }
        }
    };
    Html(page(&who.shell(), "title.incidents", body).into_string()).into_response()
}

/// GET /incidents/{id}: one incident's record, its log, and the actions on it.
pub async fn detail(
    State(_state): State<Arc<AppState>>,
    who: Authed,
    Path(id): Path<i64>,
) -> Response {
    let l = who.v.lang;
    let data = async {
        let c = who.session.pool.get().await?;
        let one = table(&c, &q_one(), &[&id]).await?;
        let mut rest = Vec::new();
        for q in [Q_EVENTS, Q_LISTS, Q_ITEMS, Q_GATE_OUTS, Q_SUMMARY, Q_LOG] {
            rest.push(table(&c, q, &[&id]).await);
        }
        Ok::<_, DbError>((one, rest))
    }
    .await;
    let (one, rest) = match data {
        Err(e) => {
            return Html(page(&who.shell(), "title.incident", db_error(l, &e)).into_string())
                .into_response()
        }
        Ok(d) => d,
    };
    if one.rows.is_empty() {
        let body = html! { p.empty #not-found { (l.t("incidents.not_found")) " " (id) } };
        return (
            StatusCode::NOT_FOUND,
            Html(page(&who.shell(), "title.incident", body).into_string()),
        )
            .into_response();
    }
    let [events, lists, items, gate_outs, summary, log]: [Result<Table, DbError>; 6] =
        match rest.try_into() {
            Ok(a) => a,
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    let open = one.text(0, "closed_at").is_empty();
    let s = &who.session;
    let body = html! {
        section.status-line {
            strong { (l.t("incidents.incident")) " " (id) " · " (one.text(0, "cause")) }
            span #incident-status class={ "badge big " (if open { "s-overdue" } else { "s-ok" }) } {
                (l.t(if open { "incidents.is_open" } else { "incidents.is_closed" }))
            }
            a.button href="/incidents" { (l.t("incidents.back")) }
        }
        div.grid {
            section { h2 { (l.t("incidents.record")) } (record(l, &one, 0, "incident")) }
            section {
                h2 { (l.t("incidents.summary")) }
                @match &summary {
                    Ok(t) if !t.rows.is_empty() => (record(l, t, 0, "summary")),
                    other => (result(l, other, "summary")),
                }
                h2 { (l.t("incidents.events")) } (result(l, &events, "events"))
            }
        }
        div.grid {
            section #notify-section {
                h2 { (l.t("incidents.notify")) }
                p.hint { (l.t("incidents.notify_hint")) }
                form.stack method="post" action={ "/incidents/" (id) "/notify" } {
                    (csrf_field(s))
                    label { (l.t("incidents.how")) input type="text" name="how" id="notify-how" required placeholder=(l.t("incidents.how_hint")); }
                    label { (l.t("incidents.when")) input type="datetime-local" name="at" id="notify-at"; }
                    label { (l.t("incidents.officer")) input type="text" name="officer" id="notify-officer" required; }
                    div { button type="submit" id="record-notification" { (l.t("action.record_notification")) } }
                }
            }
            section #paper-section {
                h2 { (l.t("incidents.paper_list")) }
                p.hint { (l.t("incidents.paper_hint")) }
                form.stack method="post" action={ "/incidents/" (id) "/paper-list" } {
                    (csrf_field(s))
                    label { (l.t("incidents.officer")) input type="text" name="officer" id="paper-officer" required; }
                    label { (l.t("incidents.reference")) input type="text" name="reference" id="paper-reference" required placeholder="DS-36/01"; }
                    label { (l.t("incidents.items"))
                        textarea name="items" id="paper-items" rows="6" required placeholder="TGHU7654320\n308044805742\nHPBL0009,50000" {}
                    }
                    div { button type="submit" id="record-paper-list" { (l.t("action.record_paper_list")) } }
                }
            }
            @if open {
                section #close-section {
                    h2 { (l.t("incidents.close")) }
                    form.stack method="post" action={ "/incidents/" (id) "/close" } {
                        (csrf_field(s))
                        label { (l.t("incidents.note")) input type="text" name="note" id="close-note" required placeholder=(l.t("incidents.note_hint")); }
                        div { button type="submit" class="reject" id="close-incident" { (l.t("action.close_incident")) } }
                    }
                }
            }
        }
        section {
            h2 { (l.t("incidents.paper_lists")) } (result(l, &lists, "paper-lists"))
            h2 { (l.t("incidents.paper_items")) } (result(l, &items, "paper-items-table"))
        }
        section { h2 { (l.t("incidents.gate_outs")) } (result(l, &gate_outs, "gate-outs")) }
        section #log-section {
            h2 { (l.t("incidents.log")) }
            @match &log {
                Ok(t) => pre.code.print #incident-log { (t.text(0, "log")) },
                Err(e) => (db_error(l, e)),
            }
        }
    };
    Html(page(&who.shell(), "title.incident", body).into_string()).into_response()
}

/// Paper list lines typed one per line: `container_no`, `declaration_no` or
/// `bl_no[,weight_kg]` (a container number is 4 letters and 7 digits, a declaration 12
/// digits, anything else a B/L). A weight that is not a number is passed as typed, so that
/// PostgreSQL names the bad line. Blank lines are skipped.
pub fn parse_items(text: &str) -> Value {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (first, weight) = match line.split_once(',') {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (line, None),
        };
        let up = first.to_uppercase();
        let b = up.as_bytes();
        let key = if b.len() == 11
            && b[..4].iter().all(u8::is_ascii_alphabetic)
            && b[4..].iter().all(u8::is_ascii_digit)
        {
            "container_no"
        } else if b.len() == 12 && b.iter().all(u8::is_ascii_digit) {
            "declaration_no"
        } else {
            "bl_no"
        };
        let mut o = Map::new();
        o.insert(key.into(), Value::String(first.to_string()));
        if let Some(w) = weight.filter(|w| !w.is_empty()) {
            let v = w
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(|f| {
                    if f.fract() == 0.0 && f.abs() < 1e15 {
                        Some(Number::from(f as i64))
                    } else {
                        Number::from_f64(f)
                    }
                })
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(w.to_string()));
            o.insert("weight_kg".into(), v);
        }
        out.push(Value::Object(o));
    }
    Value::Array(out)
}

/// The open form.
#[derive(serde::Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cause: String,
}

/// The notification form (`at` from a datetime-local field, in the console's time zone; empty: now).
#[derive(serde::Deserialize)]
pub struct NotifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    how: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    officer: String,
}

/// The paper list form.
#[derive(serde::Deserialize)]
pub struct PaperForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    officer: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    items: String,
}

/// The close form.
#[derive(serde::Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

macro_rules! csrf_form {
    ($($t:ty),*) => { $(impl CsrfForm for $t { fn csrf(&self) -> &str { &self.csrf } })* };
}
csrf_form!(OpenForm, NotifyForm, PaperForm, CloseForm);

/// POST /incidents/open.
pub async fn open(State(state): State<Arc<AppState>>, p: Posted<OpenForm>) -> Response {
    let who = &p.who;
    let cause = p.form.cause.trim().to_string();
    let outcome = async {
        let c = who.session.pool.get().await?;
        let r = c
            .query_one("SELECT vasscm.open_incident($1)", &[&cause])
            .await?;
        Ok::<i64, DbError>(r.try_get(0)?)
    }
    .await;
    let l = who.v.lang;
    let to = match &outcome {
        Ok(id) => format!("/incidents/{id}"),
        Err(_) => "/incidents".to_string(),
    };
    let target = outcome
        .as_ref()
        .map(|id| id.to_string())
        .unwrap_or_default();
    finish(
        &state,
        who,
        "incident_open",
        &target,
        &cause,
        outcome.map(|_| l.t("done.incident_open")),
        &to,
    )
}

/// POST /incidents/{id}/notify.
pub async fn notify(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    p: Posted<NotifyForm>,
) -> Response {
    let who = &p.who;
    let f = &p.form;
    let (how, at, officer) = (f.how.trim(), f.at.trim(), f.officer.trim());
    let outcome = async {
        let c = who.session.pool.get().await?;
        c.execute(
            "SELECT vasscm.record_incident_notification($1, $2, coalesce(nullif($3::text, '')::timestamptz, now()), $4)",
            &[&id, &how, &at, &officer],
        )
        .await?;
        Ok::<_, DbError>(())
    }
    .await;
    let l = who.v.lang;
    let detail = format!("{how}; {at}; {officer}");
    finish(
        &state,
        who,
        "incident_notification",
        &id.to_string(),
        &detail,
        outcome.map(|_| l.t("done.incident_notification")),
        &format!("/incidents/{id}"),
    )
}

/// POST /incidents/{id}/paper-list.
pub async fn paper_list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    p: Posted<PaperForm>,
) -> Response {
    let who = &p.who;
    let f = &p.form;
    let (officer, reference) = (f.officer.trim(), f.reference.trim());
    let items = parse_items(&f.items).to_string();
    let outcome = async {
        let c = who.session.pool.get().await?;
        c.execute(
            "SELECT vasscm.record_paper_list($1, $2, $3, $4::text::jsonb)",
            &[&id, &officer, &reference, &items],
        )
        .await?;
        Ok::<_, DbError>(())
    }
    .await;
    let l = who.v.lang;
    let n = parse_items(&f.items).as_array().map_or(0, Vec::len);
    let done = outcome.map(|_| format!("{} {reference} ({n})", l.t("done.paper_list")));
    finish(
        &state,
        who,
        "paper_list",
        &id.to_string(),
        &format!("{reference}: {items}"),
        done,
        &format!("/incidents/{id}"),
    )
}

/// POST /incidents/{id}/close.
pub async fn close(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    p: Posted<CloseForm>,
) -> Response {
    let who = &p.who;
    let note = p.form.note.trim().to_string();
    let outcome = async {
        let c = who.session.pool.get().await?;
        c.execute("SELECT vasscm.close_incident($1, $2)", &[&id, &note])
            .await?;
        Ok::<_, DbError>(())
    }
    .await;
    let l = who.v.lang;
    finish(
        &state,
        who,
        "incident_close",
        &id.to_string(),
        &note,
        outcome.map(|_| l.t("done.incident_close")),
        &format!("/incidents/{id}"),
    )
}

/// Records the action in the console's log, shows its outcome once, and goes to `to`.
fn finish(
    state: &AppState,
    who: &Authed,
    action: &str,
    target: &str,
    detail: &str,
    outcome: Result<String, DbError>,
    to: &str,
) -> Response {
    let l: Lang = who.v.lang;
    let head = if target.is_empty() {
        l.t("incidents.incident")
    } else {
        format!("{} {target}", l.t("incidents.incident"))
    };
    match &outcome {
        Ok(what) => {
            who.audit(state, action, target, "ok", detail);
            who.session.set_flash("ok", format!("{head}: {what}"));
        }
        Err(DbError::Refused(m)) => {
            who.audit(state, action, target, "refused", m);
            who.session
                .set_flash("refused", format!("{} {m}", l.t("msg.refused")));
        }
        Err(e) => {
            who.audit(state, action, target, "failed", &e.to_string());
            who.session
                .set_flash("error", format!("{} {e}", l.t("msg.failed")));
        }
    }
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_paper_list_items() {
        let v = parse_items(
            "tghu7654320\n\n 308044805742 \nHPBL0009, 50000\nHPBL0010,12.5\nHPBL0011,lots\n",
        );
        assert_eq!(
            v.to_string(),
            r#"[{"container_no":"tghu7654320"},{"declaration_no":"308044805742"},{"bl_no":"HPBL0009","weight_kg":50000},{"bl_no":"HPBL0010","weight_kg":12.5},{"bl_no":"HPBL0011","weight_kg":"lots"}]"#
        );
        assert_eq!(parse_items(" \n").to_string(), "[]");
    }
}
