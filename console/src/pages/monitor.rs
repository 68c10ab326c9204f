//! The exchange monitor: queue depth by status and form, the oldest waiting message, stuck
//! messages, failure and rejection rates, latency, deadlines, and the worker's health and
//! metrics. The live part is a fragment the page fetches again every few seconds.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::Authed;
use crate::db::{table, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::layout::{db_error, page as render_page, result};
use crate::worker_status::{self, Health, WorkerStatus};

const Q_NOW: &str = "SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS TZ') AS now";
const Q_DEPTH: &str = "SELECT status, message_type, messages, oldest, last_change FROM vasscm.queue_depth \
     ORDER BY array_position(ARRAY['invalid','pending_approval','queued','sending','sent','dead','accepted','rejected','cancelled'], status), message_type";
const Q_OLDEST: &str = "SELECT id, message_type, status, created_at, date_trunc('second', waiting)::text AS waiting, attempts, last_error \
     FROM vasscm.oldest_waiting";
const Q_RATES: &str = "SELECT period, accepted, rejected, dead, invalid, send_errors, bad_replies, inbound_refused, rejection_rate, error_rate \
     FROM vasscm.error_rates";
const Q_LATENCY: &str = "SELECT message_type, messages, sign_ms_p50, sign_ms_p99, send_ms_p50, send_ms_p99, total_ms_p50, total_ms_p99 \
     FROM vasscm.latency ORDER BY message_type";
const Q_STUCK: &str = "SELECT id, message_type, status, updated_at, date_trunc('second', stuck_for)::text AS stuck_for, attempts, last_error \
     FROM vasscm.stuck_messages LIMIT 50";
const Q_DEADLINES: &str = "SELECT kind, message_type, reference, event_at, due_at, done_at, state, detail \
     FROM vasscm.deadlines ORDER BY due_at DESC LIMIT 50";

/// GET /monitor: the page, with the live fragment already in it.
pub async fn page(State(state): State<Arc<AppState>>, who: Authed) -> Response {
    let l = who.v.lang;
    let live = fragment(&state, &who).await;
    let body = html! {
        p.hint { (l.t("monitor.hint")) }
        div #live data-src="/monitor/live" data-refresh=(state.cfg.refresh_seconds) { (live) }
    };
    Html(render_page(&who.shell(), "title.monitor", body).into_string()).into_response()
}

/// GET /monitor/live: the fragment alone (fetched by the page's script).
pub async fn live(State(state): State<Arc<AppState>>, who: Authed) -> Response {
    Html(fragment(&state, &who).await.into_string()).into_response()
}

async fn fragment(state: &AppState, who: &Authed) -> Markup {
    let l = who.v.lang;
    let worker = worker_status::fetch(&state.http, &state.cfg.worker.metrics_url);
    let queries = async {
        let c = who.session.pool.get().await?;
        let mut out = Vec::new();
        for q in [Q_NOW, Q_DEPTH, Q_OLDEST, Q_RATES, Q_LATENCY, Q_STUCK, Q_DEADLINES] {
            out.push(table(&c, q, &[]).await);
        }
        Ok::<_, DbError>(out)
    };
    let (worker, results) = tokio::join!(worker, queries);
    let results = match results {
        Ok(r) => r,
        Err(e) => return db_error(l, &e),
    };
    let [now, depth, oldest, rates, latency, stuck, deadlines]: [Result<Table, DbError>; 7] = match results.try_into() {
        Ok(a) => a,
        Err(_) => return html! {},
    };
    let updated = now.as_ref().map(|t| t.text(0, "now")).unwrap_or_default();
    html! {
        p.updated { (l.t("monitor.updated")) " " span #live-updated { (updated) } }
        section.cards { (status_cards(l, &depth)) }
        div.grid {
            section #worker-panel { h2 { (l.t("monitor.worker")) } (worker_panel(l, &worker)) }
            section { h2 { (l.t("monitor.oldest")) } (result(l, &oldest, "oldest")) }
        }
        section { h2 { (l.t("monitor.depth")) } (result(l, &depth, "queue-depth")) }
        section { h2 { (l.t("monitor.rates")) } (result(l, &rates, "error-rates")) }
        section { h2 { (l.t("monitor.latency")) } (result(l, &latency, "latency")) }
        section { h2 { (l.t("monitor.stuck")) } (result(l, &stuck, "stuck")) }
        section { h2 { (l.t("monitor.deadlines")) } (result(l, &deadlines, "deadlines")) }
    }
}

/// One card per status: how many messages, summed over forms.
fn status_cards(l: Lang, depth: &Result<Table, DbError>) -> Markup {
    let Ok(t) = depth else { return html! {} };
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for i in 0..t.rows.len() {
        let s = t.text(i, "status");
        let n = match t.get(i, "messages") {
            Value::Number(n) => n.as_i64().unwrap_or(0),
            _ => 0,
        };
        if !sums.contains_key(&s) {
            order.push(s.clone());
        }
        *sums.entry(s).or_default() += n;
    }
    html! {
        @for s in &order {
            div class={ "card s-" (s) } id={ "card-" (s) } {
                span.n { (sums.get(s).copied().unwrap_or(0)) }
                span.label { (l.t_or("status", s)) }
            }
        }
    }
}

fn worker_panel(l: Lang, w: &WorkerStatus) -> Markup {
    html! {
        @match &w.health {
            Health::Up => p #worker-health .ok { (l.t("worker.up")) },
            Health::Down(code, why) => p #worker-health .bad { (l.t("worker.down")) " (HTTP " (code) "): " (why) },
            Health::Unreachable(e) => p #worker-health .bad { (l.t("worker.unreachable")) ": " (e) },
            Health::NotConfigured => p #worker-health { (l.t("worker.not_configured")) },
        }
        @match &w.samples {
            Ok(s) if !s.is_empty() => {
                div.scroll { table #worker-metrics {
                    thead { tr { th { (l.t("col.metric")) } th { (l.t("col.value")) } } }
                    tbody { @for x in s { tr { td { code { (x.series) } } td.num { (x.value) } } } }
                } }
            },
            Ok(_) => {},
            Err(e) => p.bad { (l.t("worker.metrics_unreadable")) ": " (e) },
        }
    }
}
