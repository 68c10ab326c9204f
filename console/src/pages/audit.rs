//! Audit: runs vasscm.verify_audit() as the person (an admin function: PostgreSQL refuses
//! it to the other roles) and shows each chain's result and head; and, for admins, the
//! console's own log with its chain checked.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::sync::Arc;

use crate::app::AppState;
use crate::auth::{Authed, Posted, TokenOnly};
use crate::db::{table, value_text, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::layout::{csrf_field, page as render_page, result, Shell};

const Q_VERIFY: &str = "SELECT table_name, rows_checked, unsealed, first_broken_id, first_broken_seq, problem, head_seq, head_hash \
     FROM vasscm.verify_audit()";

fn verify_form(l: Lang, who: &Authed) -> Markup {
    html! {
        form method="post" action="/audit/verify" {
            (csrf_field(&who.session))
            button type="submit" id="verify-audit" { (l.t("action.verify")) }
        }
        p.hint { (l.t("audit.hint")) }
    }
}

fn console_log(l: Lang, state: &AppState, who: &Authed) -> Markup {
    if !who.session.has_role("vasscm_admin") {
        return html! {};
    }
    let chain = state.audit.verify();
    let tail = state.audit.tail(50).unwrap_or_default();
    html! {
        section #console-log {
            h2 { (l.t("audit.console_log")) }
            @match chain {
                Ok((n, None)) => p.ok #console-chain { (l.t("audit.console_intact")) " (" (n) ")" },
                Ok((n, Some(bad))) => p.bad #console-chain { (l.t("audit.console_broken")) " " (bad) " (" (n) ")" },
                Err(e) => p.bad #console-chain { (e.to_string()) },
            }
            div.scroll { table {
                thead { tr { @for c in ["at", "user", "roles", "action", "target", "outcome", "detail", "peer"] { th { (l.t_or("col", c)) } } } }
                tbody { @for e in &tail { tr {
                    @for c in ["at", "user", "roles", "action", "target", "outcome", "detail", "peer"] {
                        td { (crate::layout::short_time(&value_text(e.get(c).unwrap_or(&Value::Null)))) }
                    }
                } } }
            } }
        }
    }
}

/// GET /audit.
pub async fn page(State(state): State<Arc<AppState>>, who: Authed) -> Response {
    let l = who.v.lang;
    let body = html! { (verify_form(l, &who)) (console_log(l, &state, &who)) };
    Html(render_page(&who.shell(), "title.audit", body).into_string()).into_response()
}

/// POST /audit/verify: seals and verifies both chains (vasscm_admin only, by PostgreSQL).
pub async fn verify(State(state): State<Arc<AppState>>, p: Posted<TokenOnly>) -> Response {
    let who = &p.who;
    let l = who.v.lang;
    let r: Result<Table, DbError> = async {
        let c = who.session.pool.get().await?;
        table(&c, Q_VERIFY, &[]).await
    }
    .await;
    let verdict = match &r {
        Ok(t) => {
            let broken: Vec<String> =
                (0..t.rows.len()).filter(|&i| !t.get(i, "problem").is_null()).map(|i| t.text(i, "table_name")).collect();
            let heads: Vec<String> =
                (0..t.rows.len()).map(|i| format!("{}#{}={}", t.text(i, "table_name"), t.text(i, "head_seq"), t.text(i, "head_hash"))).collect();
            who.audit(&state, "verify_audit", "", if broken.is_empty() { "intact" } else { "broken" }, &heads.join(" "));
            Some(broken)
        }
        Err(DbError::Refused(m)) => {
            who.audit(&state, "verify_audit", "", "refused", m);
            None
        }
        Err(e) => {
            who.audit(&state, "verify_audit", "", "failed", &e.to_string());
            None
        }
    };
    let body = html! {
        @match &verdict {
            Some(b) if b.is_empty() => div.decision.allowed #audit-verdict { strong { (l.t("audit.intact")) } },
            Some(b) => div.decision.refused #audit-verdict { strong { (l.t("audit.broken")) } " " (b.join(", ")) },
            None => {},
        }
        (result(l, &r, "verify-result"))
        (verify_form(l, who))
        (console_log(l, &state, who))
    };
    Html(render_page(&Shell { here: "/audit", ..who.shell() }, "title.audit", body).into_string()).into_response()
}
