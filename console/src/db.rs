//! Database access as the logged-in person: connections opened with their own credentials,
//! a small pool per session, and queries whose rows come back as JSON values (so that any
//! view or function can be shown as a table without a Rust type per column).

use serde_json::{Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

use crate::config::{Config, DatabaseConfig};
use crate::error::DbError;

/// Why a login did not open a connection.
#[derive(Debug)]
pub enum LoginFailure {
    /// PostgreSQL refused the user name or password (SQLSTATE 28P01 / 28000).
    BadCredentials,
    /// The database could not be reached or refused for another reason.
    Unavailable(String),
}

/// Opens one connection as `user`, with the session settings every console connection has
/// (time zone, statement timeout, application name).
pub async fn connect(cfg: &Config, user: &str, password: &str) -> Result<Client, LoginFailure> {
    let d: &DatabaseConfig = &cfg.database;
    let mut pg = tokio_postgres::Config::new();
    pg.host(&d.host)
        .port(d.port)
        .dbname(&d.dbname)
        .user(user)
        .password(password)
        .application_name("vasscm-console")
        .connect_timeout(Duration::from_secs(d.connect_timeout_seconds.max(1)));
    let (client, connection) = match pg.connect(NoTls).await {
        Ok(c) => c,
        Err(e) => {
            let code = e.as_db_error().map(|d| d.code().code().to_string());
            return Err(match code.as_deref() {
                Some("28P01") | Some("28000") => LoginFailure::BadCredentials,
                _ => LoginFailure::Unavailable(e.to_string()),
            });
        }
    };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("console connection ended: {e}");
        }
    });
    let setup = client
        .query(
            "SELECT set_config('TimeZone', $1, false), set_config('statement_timeout', $2, false)",
            &[&cfg.time_zone, &format!("{}s", d.statement_timeout_seconds)],
        )
        .await;
    if let Err(e) = setup {
        return Err(LoginFailure::Unavailable(e.to_string()));
    }
    Ok(client)
}

/// A session's connections, all opened with the same person's credentials.
pub struct Pool {
    conns: Vec<Mutex<Client>>,
    next: AtomicUsize,
}

impl Pool {
    /// A pool of already opened connections (at least one).
    pub fn new(conns: Vec<Client>) -> Self {
        Self { conns: conns.into_iter().map(Mutex::new).collect(), next: AtomicUsize::new(0) }
    }

    /// A free connection, or waits for the next one in turn.
    pub async fn get(&self) -> Result<MutexGuard<'_, Client>, DbError> {
        for c in &self.conns {
            if let Ok(g) = c.try_lock() {
                if !g.is_closed() {
                    return Ok(g);
                }
            }
        }
        if self.conns.is_empty() {
            return Err(DbError::Lost("no database connection".into()));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let g = self.conns[i].lock().await;
        if g.is_closed() {
            return Err(DbError::Lost("the database connection is closed".into()));
        }
        Ok(g)
    }

    /// True when every connection is closed (the session cannot go on).
    pub fn all_closed(&self) -> bool {
        self.conns.iter().all(|c| c.try_lock().map(|g| g.is_closed()).unwrap_or(false))
    }
}

/// Rows of a query as a table: column names and, per row, one JSON value per column.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column names, in the query's order.
    pub columns: Vec<String>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The value of `column` in row `row` (Null when absent).
    pub fn get(&self, row: usize, column: &str) -> &Value {
        static NULL: Value = Value::Null;
        match (self.rows.get(row), self.columns.iter().position(|c| c == column)) {
            (Some(r), Some(i)) => r.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// The value as display text (strings as they are, other values as JSON).
    pub fn text(&self, row: usize, column: &str) -> String {
        value_text(self.get(row, column))
    }
}

/// A JSON value as plain text: strings without quotes, null as empty.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs a query and returns its rows as JSON values (through `row_to_json`, which keeps the
/// column order and gives numbers, booleans, arrays and JSON as such).
pub async fn table(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Table, DbError> {
    let stmt = client.prepare(sql).await?;
    let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
    let wrapped = format!("SELECT row_to_json(x)::text FROM ({sql}) x");
    let rows = client.query(&wrapped, params).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let text: String = r.try_get(0)?;
        let obj: Map<String, Value> = serde_json::from_str(&text)
            .map_err(|e| DbError::Failed(format!("unreadable row from the database: {e}")))?;
        // row_to_json names duplicate columns once; take values by position.
        let values: Vec<Value> = obj.into_iter().map(|(_, v)| v).collect();
        let mut row = values;
        row.resize(columns.len(), Value::Null);
        out.push(row);
    }
    Ok(Table { columns, rows: out })
}
