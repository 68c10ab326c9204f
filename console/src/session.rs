//! Sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure when configured),
//! the person's database connections, a per-session CSRF token, idle and absolute expiry.
//! Nothing about a session is ever put in a URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::Pool;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vasscm_session";
/// Name of the cookie that carries the login form's CSRF token (before there is a session).
pub const LOGIN_COOKIE: &str = "vasscm_login";
/// Name of the language cookie (not secret).
pub const LANG_COOKIE: &str = "vasscm_lang";

/// 32 random bytes from the operating system, hex encoded.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    // getrandom only fails when the OS has no entropy source at all: then no session is safe.
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("no randomness from the operating system: {e}");
    }
    hex::encode(b)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A message to show once on the next page (after a redirect).
#[derive(Debug, Clone)]
pub struct Flash {
    /// `ok`, `refused` or `error`.
    pub kind: &'static str,
    /// The text (already in the person's language, or PostgreSQL's own words).
    pub text: String,
}

/// One logged-in person.
pub struct Session {
    /// The PostgreSQL role they logged in as.
    pub user: String,
    /// The vasscm roles that role holds (for display and the audit log; PostgreSQL decides).
    pub roles: Vec<String>,
    /// The token every POST form must carry.
    pub csrf: String,
    /// Their connections.
    pub pool: Pool,
    created: Instant,
    last_seen: Mutex<Instant>,
    flash: Mutex<Option<Flash>>,
}

impl Session {
    /// A new session for `user` with its connections.
    pub fn new(user: String, roles: Vec<String>, pool: Pool) -> Self {
        let now = Instant::now();
        Self { user, roles, csrf: random_token(), pool, created: now, last_seen: Mutex::new(now), flash: Mutex::new(None) }
    }

    /// The roles as one text (`vasscm_operator, vasscm_reader`).
    pub fn roles_text(&self) -> String {
        self.roles.join(", ")
    }

    /// True if the person holds `role` (display only: PostgreSQL enforces privileges).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Keeps a message for the next page.
    pub fn set_flash(&self, kind: &'static str, text: String) {
        *self.flash.lock().unwrap_or_else(|p| p.into_inner()) = Some(Flash { kind, text });
    }

    /// Takes the message kept for this page, if any.
    pub fn take_flash(&self) -> Option<Flash> {
        self.flash.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn expired(&self, now: Instant, idle: Duration, max: Duration) -> bool {
        let seen = *self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        now.duration_since(seen) > idle || now.duration_since(self.created) > max || self.pool.all_closed()
    }

    fn touch(&self, now: Instant) {
        *self.last_seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

/// Every open session, by id.
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    idle: Duration,
    max: Duration,
    limit: usize,
}

impl SessionStore {
    /// An empty store with the configured lifetimes and limit.
    pub fn new(idle: Duration, max: Duration, limit: usize) -> Self {
        Self { sessions: Mutex::new(HashMap::new()), idle, max, limit }
    }

    /// Stores a session and returns its id; refuses (returns None) when the store is full.
    pub fn insert(&self, s: Session) -> Option<String> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, v| !v.expired(now, self.idle, self.max));
        if map.len() >= self.limit {
            return None;
        }
        let id = random_token();
        map.insert(id.clone(), Arc::new(s));
        Some(id)
    }

    /// The live session with this id (and marks it used), or None when unknown or expired.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let s = map.get(id)?.clone();
        if s.expired(now, self.idle, self.max) {
            map.remove(id);
            return None;
        }
        s.touch(now);
        Some(s)
    }

    /// Ends a session: its connections close when the last request using them finishes.
    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    /// Removes expired sessions; returns them (for the audit log).
    pub fn reap(&self) -> Vec<Arc<Session>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let dead: Vec<String> =
            map.iter().filter(|(_, v)| v.expired(now, self.idle, self.max)).map(|(k, _)| k.clone()).collect();
        dead.iter().filter_map(|k| map.remove(k)).collect()
    }
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// A `Set-Cookie` value for a secret cookie (HttpOnly, SameSite=Strict, Path=/, Secure when
/// configured); `max_age` None: a browser-session cookie; Some(0): delete it.
pub fn secret_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn cookies_are_found_and_built() {
        assert_eq!(cookie_value("a=1; vasscm_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value("a=1", SESSION_COOKIE), None);
        let c = secret_cookie(SESSION_COOKIE, "v", true, None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!secret_cookie(SESSION_COOKIE, "v", false, Some(0)).contains("Secure"));
    }
}
