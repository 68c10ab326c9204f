//! The page shell (navigation, language switch, logout) and the pieces every page uses:
//! tables of query results, refusals, flash messages. Everything is escaped by maud.

use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use crate::db::{value_text, Table};
use crate::error::DbError;
use crate::i18n::Lang;
use crate::session::{Flash, Session};

/// The navigation entries: (path, label key).
const NAV: [(&str, &str); 6] = [
    ("/monitor", "nav.monitor"),
    ("/messages", "nav.messages"),
    ("/clearance", "nav.clearance"),
    ("/yard", "nav.yard"),
    ("/incidents", "nav.incidents"),
    ("/audit", "nav.audit"),
];

/// What the shell needs to know about the request.
pub struct Shell<'a> {
    /// The page language.
    pub lang: Lang,
    /// The logged-in person, if any.
    pub session: Option<&'a Session>,
    /// This page's path and query, for the language switch to come back to.
    pub here: &'a str,
}

/// A whole page: head, header with navigation and the person, the body.
pub fn page(shell: &Shell<'_>, title_key: &str, body: Markup) -> Markup {
    let l = shell.lang;
    let other = match l {
        Lang::Vi => Lang::En,
        Lang::En => Lang::Vi,
    };
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (l.t(title_key)) " — " (l.t("app.name")) }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                header.top {
                    span.brand { (l.t("app.name")) }
                    @if shell.session.is_some() {
                        nav {
                            @for (path, key) in NAV {
                                a href=(path) class=[shell.here.starts_with(path).then_some("active")] { (l.t(key)) }
                            }
                        }
                    }
                    span.spacer {}
                    a.lang id="lang-switch" href={ "/lang/" (other.code()) "?back=" (encode_component(shell.here)) } {
                        (l.t("lang.switch"))
                    }
                    @if let Some(s) = shell.session {
                        span.who id="who" title=(s.roles_text()) {
                            (s.user) " · " (s.roles.iter().map(|r| l.t_or("role", r)).collect::<Vec<_>>().join(", "))
                        }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" id="logout" { (l.t("action.logout")) }
                        }
                    }
                }
                main {
                    h1 { (l.t(title_key)) }
                    @if let Some(s) = shell.session {
                        @if let Some(f) = s.take_flash() { (flash(&f)) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A one-time message box.
pub fn flash(f: &Flash) -> Markup {
    html! { div class={ "flash " (f.kind) } id="flash" role="status" { (f.text) } }
}

/// A refusal or error from the database, in the person's language with PostgreSQL's words.
pub fn db_error(l: Lang, e: &DbError) -> Markup {
    match e {
        DbError::Refused(m) => html! {
            div.flash.refused role="alert" { strong { (l.t("msg.refused")) } " " (m) }
        },
        DbError::Failed(m) => html! {
            div.flash.error role="alert" { strong { (l.t("msg.failed")) } " " (m) }
        },
        DbError::Lost(m) => html! {
            div.flash.error role="alert" { strong { (l.t("msg.lost")) } " " (m) }
        },
    }
}

/// A query's result as a table, or its refusal / error.
pub fn result(l: Lang, r: &Result<Table, DbError>, id: &str) -> Markup {
    match r {
        Ok(t) => table(l, t, id, |_| None),
        Err(e) => html! { div id=(id) { (db_error(l, e)) } },
    }
}

/// A table of rows; `extra(row)` may add a last cell (actions).
pub fn table(l: Lang, t: &Table, id: &str, extra: impl Fn(usize) -> Option<Markup>) -> Markup {
    let has_extra = (0..t.rows.len()).any(|i| extra(i).is_some());
    html! {
        @if t.rows.is_empty() {
            p.empty id=(id) { (l.t("msg.no_rows")) }
        } @else {
            div.scroll {
                table id=(id) {
                    thead { tr {
                        @for c in &t.columns { th { (l.t_or("col", c)) } }
                        @if has_extra { th { (l.t("col.actions")) } }
                    } }
                    tbody {
                        @for (i, row) in t.rows.iter().enumerate() {
                            tr {
                                @for (c, v) in t.columns.iter().zip(row) { td data-col=(c) { (cell(l, c, v)) } }
                                @if has_extra { td.actions { @if let Some(m) = extra(i) { (m) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row shown as a two-column list (name, value).
pub fn record(l: Lang, t: &Table, row: usize, id: &str) -> Markup {
    html! {
        table.record id=(id) {
            @for (i, c) in t.columns.iter().enumerate() {
                @let v = t.rows.get(row).and_then(|r| r.get(i)).unwrap_or(&Value::Null);
                tr { th { (l.t_or("col", c)) } td data-col=(c) { (cell(l, c, v)) } }
            }
        }
    }
}

/// A value in a cell: statuses as badges, booleans as yes/no, lists as lists, times shortened.
pub fn cell(l: Lang, column: &str, v: &Value) -> Markup {
    match v {
        Value::Null => html! { span.null { "—" } },
        Value::Bool(b) => html! { span class=(if *b { "yes" } else { "no" }) { (l.t(if *b { "value.yes" } else { "value.no" })) } },
        Value::Array(items) => html! {
            ul.list { @for i in items { li { (value_text(i)) } } }
        },
        Value::Object(_) => html! { code.json { (v.to_string()) } },
        Value::String(s) if matches!(column, "status" | "from_status" | "to_status" | "state" | "outcome" | "channel_name") => html! {
            span class={ "badge s-" (s) } { (l.t_or("status", s)) }
        },
        Value::String(s) if column == "cargo_flow" => html! { (l.t_or("flow", s)) },
        Value::String(s) if column == "cargo_kind" => html! { (l.t_or("kind", s)) },
        Value::String(s) if column == "id" || column == "outbox_id" => html! {
            a href={ "/messages/" (s) } { (s) }
        },
        Value::Number(n) if column == "id" || column == "outbox_id" => html! {
            a href={ "/messages/" (n) } { (n) }
        },
        Value::String(s) => html! { (short_time(s)) },
        Value::Number(n) => html! { (n) },
    }
}

/// `2026-11-29T10:41:07.123456+07:00` → `2026-11-29 10:41:07 +07:00`; other text unchanged.
pub fn short_time(s: &str) -> String {
    let b = s.as_bytes();
    let looks = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[..4].iter().all(u8::is_ascii_digit);
    if !looks {
        return s.to_string();
    }
    let rest = &s[19..];
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let zone = if zone == "Z" { "UTC" } else { zone };
    format!("{} {}{}{}", &s[..10], &s[11..19], if zone.is_empty() { "" } else { " " }, zone)
}

/// Percent-encodes a URL query component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A hidden CSRF field for a POST form.
pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_and_other_text_is_not() {
        assert_eq!(short_time("2026-11-29T10:41:07.123456+07:00"), "2026-11-29 10:41:07 +07:00");
        assert_eq!(short_time("2026-11-29T10:41:07+00:00"), "2026-11-29 10:41:07 +00:00");
        assert_eq!(short_time("2026-11-29T03:41:07.123Z"), "2026-11-29 03:41:07 UTC");
        assert_eq!(short_time("MSKU1234565"), "MSKU1234565");
        assert_eq!(short_time("2026-11-29"), "2026-11-29");
    }

    #[test]
    fn cells_escape_html() {
        let m = cell(Lang::En, "last_error", &Value::String("<script>x</script>".into())).into_string();
        assert!(!m.contains("<script>"));
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode_component("/messages?q=a b&x"), "/messages%3Fq%3Da%20b%26x");
    }
}
