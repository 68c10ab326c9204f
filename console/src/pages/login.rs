//! Login with PostgreSQL credentials (no user store of the console's own) and logout.
//! The login form is protected against CSRF by a double-submitted token (a cookie and a
//! hidden field that must match), since there is no session yet.

use axum::extract::{Form, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use std::sync::Arc;
use std::time::Duration;

use crate::app::AppState;
use crate::audit_log::Event;
use crate::auth::{Posted, TokenOnly, Visitor};
use crate::db::{self, LoginFailure, Pool};
use crate::layout::{page, Shell};
use crate::session::{cookie_value, random_token, same_secret, secret_cookie, Session, LOGIN_COOKIE, SESSION_COOKIE};

/// The vasscm roles, most powerful first.
const VASSCM_ROLES: [&str; 4] = ["vasscm_admin", "vasscm_operator", "vasscm_reader", "vasscm_worker"];

/// The login form's fields.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn login_page(v: &Visitor, token: &str, user: &str, error: Option<String>) -> Markup {
    let l = v.lang;
    let body = html! {
        @if let Some(e) = error { div.flash.refused id="login-error" role="alert" { (e) } }
        form.login method="post" action="/login" autocomplete="off" {
            input type="hidden" name="csrf" value=(token);
            label { (l.t("login.user")) input type="text" name="user" id="user" value=(user) required autofocus; }
            label { (l.t("login.password")) input type="password" name="password" id="password" required; }
            button type="submit" id="login" { (l.t("action.login")) }
        }
        p.hint { (l.t("login.hint")) }
    };
    page(&Shell { lang: l, session: None, here: "/login" }, "title.login", body)
}

fn with_token(status: StatusCode, state: &AppState, token: &str, body: Markup) -> Response {
    let cookie = secret_cookie(LOGIN_COOKIE, token, state.cfg.session.cookie_secure, Some(1800));
    (status, [(SET_COOKIE, cookie)], Html(body.into_string())).into_response()
}

/// GET /login: the form (or the monitor when already logged in).
pub async fn form(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    if cookie_value(&v.cookies, SESSION_COOKIE).and_then(|s| state.sessions.get(s)).is_some() {
        return (StatusCode::SEE_OTHER, [(LOCATION, "/monitor")]).into_response();
    }
    let token = random_token();
    with_token(StatusCode::OK, &state, &token, login_page(&v, &token, "", None))
}

/// POST /login: connects as the person; on success a new session with its own connections.
pub async fn submit(State(state): State<Arc<AppState>>, v: Visitor, Form(f): Form<LoginForm>) -> Response {
    let l = v.lang;
    let user = f.user.trim().to_string();
    let fail = |key: &str, detail: &str| {
        state.audit.record(&Event {
            user: &user,
            roles: "",
            action: "login",
            target: "",
            outcome: "refused",
            detail,
            peer: &v.peer,
        });
        let token = random_token();
        with_token(StatusCode::UNAUTHORIZED, &state, &token, login_page(&v, &token, &user, Some(l.t(key))))
    };
    let expected = cookie_value(&v.cookies, LOGIN_COOKIE).unwrap_or("");
    if !same_secret(&f.csrf, expected) {
        return fail("msg.csrf", "missing or wrong CSRF token on the login form");
    }
    if user.is_empty() || f.password.is_empty() || user.len() > 63 {
        return fail("login.failed", "empty user name or password");
    }
    let mut conns = Vec::new();
    for _ in 0..state.cfg.session.connections_per_session {
        match db::connect(&state.cfg, &user, &f.password).await {
            Ok(c) => conns.push(c),
            Err(LoginFailure::BadCredentials) => {
                // slows down guessing; PostgreSQL logs the attempt too
                tokio::time::sleep(Duration::from_millis(700)).await;
                return fail("login.failed", "wrong user name or password");
            }
            Err(LoginFailure::Unavailable(e)) => {
                tracing::warn!("login of {user}: database unavailable: {e}");
                return fail("login.unavailable", &e);
            }
        }
    }
    let roles = match conns.first() {
        Some(c) => c
            .query(
                "SELECT r FROM unnest($1::text[]) WITH ORDINALITY AS x(r, n) WHERE pg_has_role(session_user, r, 'MEMBER') ORDER BY n",
                &[&VASSCM_ROLES.to_vec()],
            )
            .await
            .map(|rows| rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>()),
        None => return fail("login.unavailable", "no connection"),
    };
    let roles = match roles {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => return fail("login.no_role", "the role holds no vasscm role"),
        Err(e) => return fail("login.unavailable", &e.to_string()),
    };
    let session = Session::new(user.clone(), roles, Pool::new(conns));
    let roles_text = session.roles_text();
    let Some(sid) = state.sessions.insert(session) else {
        return fail("login.full", "too many sessions");
    };
    state.audit.record(&Event {
        user: &user,
        roles: &roles_text,
        action: "login",
        target: "",
        outcome: "ok",
        detail: "",
        peer: &v.peer,
    });
    let secure = state.cfg.session.cookie_secure;
    let mut res = (StatusCode::SEE_OTHER, [(LOCATION, "/monitor")]).into_response();
    let h = res.headers_mut();
    for c in [secret_cookie(SESSION_COOKIE, &sid, secure, None), secret_cookie(LOGIN_COOKIE, "", secure, Some(0))] {
        if let Ok(v) = c.parse() {
            h.append(SET_COOKIE, v);
        }
    }
    res
}

/// POST /logout: ends the session and closes its connections.
pub async fn logout(State(state): State<Arc<AppState>>, p: Posted<TokenOnly>) -> Response {
    p.who.audit(&state, "logout", "", "ok", "");
    state.sessions.remove(&p.who.sid);
    let cookie = secret_cookie(SESSION_COOKIE, "", state.cfg.session.cookie_secure, Some(0));
    (StatusCode::SEE_OTHER, [(SET_COOKIE, cookie), (LOCATION, "/login".to_string())]).into_response()
}
