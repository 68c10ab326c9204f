//! Request extractors: [`Visitor`] (language, address), [`Authed`] (a logged-in person, or a
//! redirect to the login page) and [`Posted`] (a POST form from a logged-in person whose
//! CSRF token was checked — every state-changing handler takes one).

use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::app::AppState;
use crate::audit_log::Event;
use crate::i18n::Lang;
use crate::layout::{page, Shell};
use crate::session::{cookie_value, same_secret, Session, LANG_COOKIE, SESSION_COOKIE};

/// Anyone: their language, address and the page asked for.
pub struct Visitor {
    /// The chosen language (cookie) or the configured default.
    pub lang: Lang,
    /// The client address (the proxy's, behind one).
    pub peer: String,
    /// Path and query of this request.
    pub here: String,
    /// The raw Cookie header.
    pub cookies: String,
}

impl FromRequestParts<Arc<AppState>> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let cookies = parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join("; ");
        let lang = cookie_value(&cookies, LANG_COOKIE)
            .and_then(Lang::from_code)
            .or_else(|| Lang::from_code(&state.cfg.default_language))
            .unwrap_or(Lang::Vi);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        let here = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        Ok(Visitor { lang, peer, here, cookies })
    }
}

/// A logged-in person.
pub struct Authed {
    /// Language, address, page.
    pub v: Visitor,
    /// Their session.
    pub session: Arc<Session>,
    /// The session id (from the cookie).
    pub sid: String,
}

impl Authed {
    /// The page shell for this person.
    pub fn shell(&self) -> Shell<'_> {
        Shell { lang: self.v.lang, session: Some(&self.session), here: &self.v.here }
    }

    /// Records an action in the console's audit log.
    pub fn audit(&self, state: &AppState, action: &str, target: &str, outcome: &str, detail: &str) {
        state.audit.record(&Event {
            user: &self.session.user,
            roles: &self.session.roles_text(),
            action,
            target,
            outcome,
            detail,
            peer: &self.v.peer,
        });
    }
}

/// Not logged in: the login page (a fetch of a fragment gets 401 instead).
pub struct LoginRequired {
    fragment: bool,
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        if self.fragment {
            (StatusCode::UNAUTHORIZED, "login required").into_response()
        } else {
            (StatusCode::SEE_OTHER, [(LOCATION, "/login")]).into_response()
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = LoginRequired;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let Ok(v) = Visitor::from_request_parts(parts, state).await;
        let fragment = parts.uri.path().ends_with("/live");
        let sid = cookie_value(&v.cookies, SESSION_COOKIE).map(str::to_string).ok_or(LoginRequired { fragment })?;
        let session = state.sessions.get(&sid).ok_or(LoginRequired { fragment })?;
        Ok(Authed { v, session, sid })
    }
}

/// A POST form that carries the session's CSRF token.
pub trait CsrfForm {
    /// The token the form carried (empty when it carried none).
    fn csrf(&self) -> &str;
}

/// A POST from a logged-in person whose form carried the right CSRF token.
pub struct Posted<T> {
    /// The person.
    pub who: Authed,
    /// The form.
    pub form: T,
}

/// Why a POST was not accepted.
pub enum PostRejection {
    /// Not logged in.
    Login(LoginRequired),
    /// Missing or wrong CSRF token, or an unreadable form: refused, nothing done.
    Refused(Response),
}

impl IntoResponse for PostRejection {
    fn into_response(self) -> Response {
        match self {
            PostRejection::Login(l) => l.into_response(),
            PostRejection::Refused(r) => r,
        }
    }
}

fn refused_page(who: &Authed, key: &str) -> Response {
    let l = who.v.lang;
    let body = maud::html! {
        div.flash.refused id="csrf-refused" role="alert" { (l.t(key)) }
        p { a href="/monitor" { (l.t("nav.monitor")) } }
    };
    (StatusCode::FORBIDDEN, axum::response::Html(page(&who.shell(), "title.refused", body).into_string())).into_response()
}

impl<T> FromRequest<Arc<AppState>> for Posted<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = PostRejection;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let who = Authed::from_request_parts(&mut parts, state).await.map_err(PostRejection::Login)?;
        let req = Request::from_parts(parts, body);
        let form = match Form::<T>::from_request(req, state).await {
            Ok(Form(f)) => f,
            Err(e) => {
                who.audit(state, "post", &who.v.here, "refused", &format!("unreadable form: {e}"));
                return Err(PostRejection::Refused(refused_page(&who, "msg.bad_form")));
            }
        };
        if !same_secret(form.csrf(), &who.session.csrf) {
            who.audit(state, "post", &who.v.here, "refused", "missing or wrong CSRF token");
            return Err(PostRejection::Refused(refused_page(&who, "msg.csrf")));
        }
        Ok(Posted { who, form })
    }
}

/// A form with only the CSRF token (logout, approve, requeue, verify).
#[derive(serde::Deserialize)]
pub struct TokenOnly {
    /// The CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// Where to go back to (a local path), if given.
    #[serde(default)]
    pub back: String,
}

impl CsrfForm for TokenOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `back` if it is a local path (never another site), else `fallback`.
pub fn local_path<'a>(back: &'a str, fallback: &'a str) -> &'a str {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains(['\\', '\r', '\n']) {
        back
    } else {
        fallback
    }
}
