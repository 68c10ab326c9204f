//! Messages: search by container, B/L, declaration or transaction id; one message's life
//! (history, the data and XML built, what was signed and sent, what customs answered); the
//! lists that need a person (`pending_approval`, `invalid`, `dead`) with approve / reject /
//! requeue, done through vasscm.approve / reject / requeue as the logged-in role, so that
//! PostgreSQL decides and `vasscm.outbox_history` records the person as `actor`.

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::{local_path, Authed, CsrfForm, Posted, TokenOnly};
use crate::db::{table, value_text, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::layout::{csrf_field, db_error, page, record, result, table as render_table};
use crate::session::Session;

const Q_SEARCH: &str = "SELECT o.id, o.transaction_id, o.message_type, o.status, o.order_key, o.created_at, o.updated_at, o.attempts, o.last_error
  FROM vasscm.outbox o
 WHERE ($1::text = '' OR o.transaction_id::text = lower($1) OR o.order_key IN ($1, upper($1))
        OR jsonb_path_exists(o.data, '$.** ? (@ == $q)', jsonb_build_object('q', $1))
        OR jsonb_path_exists(o.data, '$.** ? (@ == $q)', jsonb_build_object('q', upper($1))))
   AND ($2::text = '' OR o.status = $2)
 ORDER BY o.id DESC LIMIT 200";
const Q_INBOX: &str = "SELECT i.id AS inbox_id, i.transaction_id, i.message_type, i.request_id, i.received_at, i.applied_at, i.apply_error
  FROM vasscm.inbox i
 WHERE i.transaction_id::text = lower($1) OR i.request_id::text = lower($1)
    OR jsonb_path_exists(i.data, '$.** ? (@ == $q)', jsonb_build_object('q', $1))
    OR jsonb_path_exists(i.data, '$.** ? (@ == $q)', jsonb_build_object('q', upper($1)))
 ORDER BY i.id DESC LIMIT 100";
const Q_PENDING: &str = "SELECT o.id, o.transaction_id, o.message_type, o.order_key, o.created_at,
       (SELECT h.reason FROM vasscm.outbox_history h WHERE h.outbox_id = o.id ORDER BY h.id DESC LIMIT 1) AS reason, o.data
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status = 'pending_approval' AND o.status = 'pending_approval' ORDER BY q.outbox_id LIMIT 200";
const Q_INVALID: &str = "SELECT o.id, o.message_type, o.source_table, o.source_key, o.created_at,
       (SELECT array_agg(format('%s: %s: %s', e ->> 'path', e ->> 'rule', e ->> 'detail')) FROM jsonb_array_elements(o.errors) e) AS errors,
       o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status = 'invalid' AND o.status = 'invalid' ORDER BY q.outbox_id LIMIT 200";
const Q_DEAD: &str = "SELECT o.id, o.transaction_id, o.message_type, o.attempts, o.updated_at, o.last_error
  FROM vasscm.outbox_open q JOIN vasscm.outbox o ON o.id = q.outbox_id
 WHERE q.status = 'dead' AND o.status = 'dead' ORDER BY q.outbox_id LIMIT 200";

const Q_ONE: &str = "SELECT id, transaction_id, message_type, status, mode, order_key, source_table, source_key, original_transaction_id,
       binding_id, created_at, updated_at, attempts, next_attempt_at, last_error, claimed_by, lease_until
  FROM vasscm.outbox WHERE id = $1";
const Q_ERRORS: &str = "SELECT e ->> 'path' AS path, e ->> 'rule' AS rule, e ->> 'detail' AS detail
  FROM vasscm.outbox o, jsonb_array_elements(o.errors) e WHERE o.id = $1";
const Q_BODY: &str = "SELECT jsonb_pretty(data) AS data, message FROM vasscm.outbox WHERE id = $1";
const Q_HISTORY: &str = "SELECT at, actor, from_status, to_status, reason FROM vasscm.outbox_history WHERE outbox_id = $1 ORDER BY id";
const Q_FOLLOWUPS: &str = "SELECT f.id, f.message_type, f.status, f.created_at FROM vasscm.outbox o JOIN vasscm.outbox f
    ON f.original_transaction_id = o.transaction_id WHERE o.id = $1 ORDER BY f.id";
const Q_LOG: &str = "SELECT l.at, l.direction, l.kind, l.http_status, l.actor, l.note, l.body
  FROM vasscm.outbox o JOIN vasscm.message_log l ON l.transaction_id = o.transaction_id WHERE o.id = $1 ORDER BY l.id";
const Q_ANSWERS: &str = "SELECT i.id AS inbox_id, i.transaction_id, i.message_type, i.received_at, jsonb_pretty(i.data) AS data
  FROM vasscm.outbox o JOIN vasscm.inbox i ON i.request_id = o.transaction_id WHERE o.id = $1 ORDER BY i.id";

/// The search form's fields.
#[derive(serde::Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
}

const STATUSES: [&str; 9] =
    ["invalid", "pending_approval", "queued", "sending", "sent", "accepted", "rejected", "dead", "cancelled"];

/// GET /messages: search and the lists that need someone.
pub async fn list(State(_state): State<Arc<AppState>>, who: Authed, Query(s): Query<Search>) -> Response {
    let l = who.v.lang;
    let q = s.q.trim().to_string();
    let status = if STATUSES.contains(&s.status.as_str()) { s.status.clone() } else { String::new() };
    let back = who.v.here.clone();
    let data = async {
        let c = who.session.pool.get().await?;
        let found = table(&c, Q_SEARCH, &[&q, &status]).await;
        let inbox = if q.is_empty() { Ok(Table::default()) } else { table(&c, Q_INBOX, &[&q]).await };
        let pending = table(&c, Q_PENDING, &[]).await;
        let invalid = table(&c, Q_INVALID, &[]).await;
        let dead = table(&c, Q_DEAD, &[]).await;
        Ok::<_, DbError>((found, inbox, pending, invalid, dead))
    }
    .await;
    let body = match data {
        Err(e) => db_error(l, &e),
        Ok((found, inbox, pending, invalid, dead)) => html! {
            form.search method="get" action="/messages" {
                label { (l.t("messages.search")) input type="search" name="q" id="q" value=(q) placeholder=(l.t("messages.search_hint")); }
                label { (l.t("col.status"))
                    select name="status" id="status" {
                        option value="" { "—" }
                        @for st in STATUSES { option value=(st) selected[st == status] { (l.t_or("status", st)) } }
                    }
                }
                button type="submit" id="search" { (l.t("action.search")) }
            }
            section {
                h2 { @if q.is_empty() && status.is_empty() { (l.t("messages.latest")) } @else { (l.t("messages.found")) } }
                (result(l, &found, "found"))
            }
            @if !q.is_empty() {
                section { h2 { (l.t("messages.inbox_found")) } (result(l, &inbox, "inbox-found")) }
            }
            section #pending-section {
                h2 { (l.t("messages.pending")) }
                (with_actions(l, &who.session, &pending, "pending", &back, &["approve", "reject"]))
            }
            section #invalid-section {
                h2 { (l.t("messages.invalid")) }
                (with_actions(l, &who.session, &invalid, "invalid", &back, &["requeue", "reject"]))
            }
            section #dead-section {
                h2 { (l.t("messages.dead")) }
                (with_actions(l, &who.session, &dead, "dead", &back, &["requeue"]))
            }
        },
    };
    Html(page(&who.shell(), "title.messages", body).into_string()).into_response()
}

fn with_actions(l: Lang, s: &Session, t: &Result<Table, DbError>, id: &str, back: &str, actions: &[&str]) -> Markup {
    match t {
        Err(e) => db_error(l, e),
        Ok(t) => render_table(l, t, id, |i| {
            let mid = t.text(i, "id");
            Some(html! { @for a in actions { (action_form(l, s, &mid, a, back)) } })
        }),
    }
}

/// One action button (reject with its reason field) for message `id`.
fn action_form(l: Lang, s: &Session, id: &str, action: &str, back: &str) -> Markup {
    html! {
        form.inline.action method="post" action={ "/messages/" (id) "/" (action) } {
            (csrf_field(s))
            input type="hidden" name="back" value=(back);
            @if action == "reject" {
                input type="text" name="reason" required placeholder=(l.t("messages.reason")) id={ "reason-" (id) };
            }
            button type="submit" class=(action) id={ (action) "-" (id) } { (l.t_or("action", action)) }
        }
    }
}

/// GET /messages/{id}: one message's life.
pub async fn detail(State(_state): State<Arc<AppState>>, who: Authed, Path(id): Path<i64>) -> Response {
    let l = who.v.lang;
    let here = who.v.here.clone();
    let data = async {
        let c = who.session.pool.get().await?;
        let one = table(&c, Q_ONE, &[&id]).await?;
        let mut rest = Vec::new();
        for q in [Q_ERRORS, Q_BODY, Q_HISTORY, Q_FOLLOWUPS, Q_LOG, Q_ANSWERS] {
            rest.push(table(&c, q, &[&id]).await);
        }
        Ok::<_, DbError>((one, rest))
    }
    .await;
    let (one, rest) = match data {
        Err(e) => return Html(page(&who.shell(), "title.message", db_error(l, &e)).into_string()).into_response(),
        Ok(d) => d,
    };
    if one.rows.is_empty() {
        let body = html! { p.empty #not-found { (l.t("messages.not_found")) " " (id) } };
        return (StatusCode::NOT_FOUND, Html(page(&who.shell(), "title.message", body).into_string())).into_response();
    }
    let [errors, body, history, followups, log, answers]: [Result<Table, DbError>; 6] = match rest.try_into() {
        Ok(a) => a,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let status = one.text(0, "status");
    let actions: &[&str] = match status.as_str() {
        "pending_approval" => &["approve", "reject"],
        "invalid" => &["requeue", "reject"],
        "dead" => &["requeue"],
        _ => &[],
    };
    let sid = id.to_string();
    let page_body = html! {
        section.status-line {
            strong { (l.t("msg.message")) " " (id) " · " (one.text(0, "message_type")) }
            span #message-status class={ "badge big s-" (status) } { (l.t_or("status", &status)) }
            @for a in actions { (action_form(l, &who.session, &sid, a, &here)) }
        }
        div.grid {
            section { h2 { (l.t("message.summary")) } (record(l, &one, 0, "message")) }
            section {
                h2 { (l.t("message.history")) } (result(l, &history, "history"))
                @if let Ok(e) = &errors { @if !e.rows.is_empty() { h2 { (l.t("message.errors")) } (result(l, &errors, "errors")) } }
                @if let Ok(f) = &followups { @if !f.rows.is_empty() { h2 { (l.t("message.followups")) } (result(l, &followups, "followups")) } }
            }
        }
        @match &body {
            Ok(b) => {
                section { h2 { (l.t("message.data")) } pre.code #data { (b.text(0, "data")) } }
                section { h2 { (l.t("message.xml")) } pre.code #xml { (b.text(0, "message")) } }
            },
            Err(e) => (db_error(l, e)),
        }
        section #log-section {
            h2 { (l.t("message.log")) }
            @match &log {
                Ok(t) if t.rows.is_empty() => p.empty { (l.t("message.log_empty")) },
                Ok(t) => { @for i in 0..t.rows.len() { (log_entry(l, t, i)) } },
                Err(DbError::Refused(m)) => div.flash.refused #log-refused { strong { (l.t("message.log_refused")) } " " (m) },
                Err(e) => (db_error(l, e)),
            }
        }
        section #answers-section {
            h2 { (l.t("message.answers")) }
            @match &answers {
                Ok(t) if t.rows.is_empty() => p.empty { (l.t("msg.no_rows")) },
                Ok(t) => { @for i in 0..t.rows.len() {
                    details.log { summary { (t.text(i, "message_type")) " · " (crate::layout::short_time(&t.text(i, "received_at"))) " · " (t.text(i, "transaction_id")) }
                        pre.code { (t.text(i, "data")) } }
                } },
                Err(e) => (db_error(l, e)),
            }
        }
    };
    Html(page(&who.shell(), "title.message", page_body).into_string()).into_response()
}

fn log_entry(l: Lang, t: &Table, i: usize) -> Markup {
    let kind = t.text(i, "kind");
    html! {
        details.log data-kind=(kind) {
            summary {
                span class={ "badge s-" (kind) } { (l.t_or("log", &kind)) } " "
                (crate::layout::short_time(&t.text(i, "at"))) " · " (t.text(i, "direction"))
                @let http = t.text(i, "http_status");
                @if !http.is_empty() { " · HTTP " (http) }
                @let note = t.text(i, "note");
                @if !note.is_empty() { " · " (note) }
                " · " (t.text(i, "actor"))
            }
            pre.code { (value_text(t.get(i, "body"))) }
        }
    }
}

/// The reject form: a reason is required (vasscm.reject refuses an empty one).
#[derive(serde::Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

impl CsrfForm for RejectForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// POST /messages/{id}/approve.
pub async fn approve(State(state): State<Arc<AppState>>, Path(id): Path<i64>, p: Posted<TokenOnly>) -> Response {
    act(&state, &p.who, id, "approve", None, &p.form.back).await
}

/// POST /messages/{id}/reject.
pub async fn reject(State(state): State<Arc<AppState>>, Path(id): Path<i64>, p: Posted<RejectForm>) -> Response {
    act(&state, &p.who, id, "reject", Some(p.form.reason.trim()), &p.form.back).await
}

/// POST /messages/{id}/requeue.
pub async fn requeue(State(state): State<Arc<AppState>>, Path(id): Path<i64>, p: Posted<TokenOnly>) -> Response {
    act(&state, &p.who, id, "requeue", None, &p.form.back).await
}

/// Runs one action as the person, records it, and goes back with the outcome shown once.
async fn act(state: &AppState, who: &Authed, id: i64, action: &str, reason: Option<&str>, back: &str) -> Response {
    let l = who.v.lang;
    let outcome = async {
        let c = who.session.pool.get().await?;
        match action {
            "approve" => c.execute("SELECT vasscm.approve($1)", &[&id]).await?,
            "reject" => c.execute("SELECT vasscm.reject($1, $2)", &[&id, &reason.unwrap_or("")]).await?,
            _ => c.execute("SELECT vasscm.requeue($1)", &[&id]).await?,
        };
        let now = c.query_opt("SELECT status FROM vasscm.outbox WHERE id = $1", &[&id]).await?;
        Ok::<_, DbError>(now.and_then(|r| r.try_get::<_, String>(0).ok()).unwrap_or_default())
    }
    .await;
    let target = id.to_string();
    let detail = reason.unwrap_or("");
    match &outcome {
        Ok(status) => {
            who.audit(state, action, &target, "ok", detail);
            who.session.set_flash(
                "ok",
                format!("{} {id}: {} → {}", l.t("msg.message"), l.t_or("done", action), l.t_or("status", status)),
            );
        }
        Err(DbError::Refused(m)) => {
            who.audit(state, action, &target, "refused", m);
            who.session.set_flash("refused", format!("{} {m}", l.t("msg.refused")));
        }
        Err(e) => {
            who.audit(state, action, &target, "failed", &e.to_string());
            who.session.set_flash("error", format!("{} {e}", l.t("msg.failed")));
        }
    }
    let fallback = format!("/messages/{id}");
    let to = local_path(back, &fallback).to_string();
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}
