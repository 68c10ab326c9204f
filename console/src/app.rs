//! The application: shared state, routes, security headers on every response, static files,
//! and the task that ends expired sessions.

use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

use crate::audit_log::{AuditLog, Event};
use crate::auth::{local_path, Visitor};
use crate::config::Config;
use crate::i18n::Lang;
use crate::pages;
use crate::session::{SessionStore, LANG_COOKIE};

/// Everything the handlers share.
pub struct AppState {
    /// The configuration.
    pub cfg: Config,
    /// Open sessions.
    pub sessions: SessionStore,
    /// The console's audit log.
    pub audit: AuditLog,
    /// HTTP client for the worker's metrics.
    pub http: reqwest::Client,
}

impl AppState {
    /// State from a configuration (opens the audit log).
    pub fn new(cfg: Config) -> Result<Self, crate::error::ConsoleError> {
        let audit = AuditLog::open(&cfg.audit_log)?;
        let sessions = SessionStore::new(
            Duration::from_secs(cfg.session.idle_minutes * 60),
            Duration::from_secs(cfg.session.max_hours * 3600),
            cfg.session.max_sessions,
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.worker.timeout_ms.max(100)))
            .build()
            .map_err(|e| crate::error::ConsoleError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { cfg, sessions, audit, http })
    }
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/monitor") }))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/lang/{code}", get(switch_language))
        .route("/monitor", get(pages::monitor::page))
        .route("/monitor/live", get(pages::monitor::live))
        .route("/messages", get(pages::messages::list))
        .route("/messages/{id}", get(pages::messages::detail))
        .route("/messages/{id}/approve", post(pages::messages::approve))
        .route("/messages/{id}/reject", post(pages::messages::reject))
        .route("/messages/{id}/requeue", post(pages::messages::requeue))
        .route("/clearance", get(pages::clearance::lookup))
        .route("/clearance/gate", post(pages::clearance::gate))
        .route("/clearance/gate-bulk", post(pages::clearance::gate_bulk))
        .route("/yard", get(pages::clearance::yard))
        .route("/yard.csv", get(pages::clearance::yard_csv))
        .route("/incidents", get(pages::incidents::list))
        .route("/incidents/open", post(pages::incidents::open))
        .route("/incidents/{id}", get(pages::incidents::detail))
        .route("/incidents/{id}/notify", post(pages::incidents::notify))
        .route("/incidents/{id}/paper-list", post(pages::incidents::paper_list))
        .route("/incidents/{id}/close", post(pages::incidents::close))
        .route("/audit", get(pages::audit::page))
        .route("/audit/verify", post(pages::audit::verify))
        .route("/static/{file}", get(static_file))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers on every response: no framing, no sniffing, no referrer, scripts and styles only
/// from the console itself, pages never cached.
async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[derive(serde::Deserialize)]
struct Back {
    #[serde(default)]
    back: String,
}

/// Sets the language cookie and goes back to the page (a local path only).
async fn switch_language(Path(code): Path<String>, Query(q): Query<Back>, State(state): State<Arc<AppState>>) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000", lang.code());
    if state.cfg.session.cookie_secure {
        cookie.push_str("; Secure");
    }
    let to = local_path(&q.back, "/monitor").to_string();
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, to)]).into_response()
}

const CSS: &str = include_str!("../static/console.css");
const JS: &str = include_str!("../static/console.js");

async fn static_file(Path(file): Path<String>, _v: Visitor) -> Response {
    let (body, kind) = match file.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

/// Ends expired sessions every 30 seconds (their connections close) and logs each.
pub fn spawn_reaper(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            for s in state.sessions.reap() {
                state.audit.record(&Event {
                    user: &s.user,
                    roles: &s.roles_text(),
                    action: "session_expired",
                    target: "",
                    outcome: "ok",
                    detail: "",
                    peer: "",
                });
            }
        }
    });
}
