//! `vasscm-console`: the port's operator console. Server-rendered pages over the vasscm SQL
//! API; each person logs in with their own PostgreSQL role and every query and action runs on
//! connections opened with their credentials, so the vasscm roles and grants decide what they
//! may see and do. No access to the HSM, no user store of its own.

mod app;
mod audit_log;
mod auth;
mod config;
mod db;
mod error;
mod i18n;
mod layout;
mod pages;
mod session;
mod worker_status;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::error::ConsoleError;

/// Command line.
#[derive(Parser)]
#[command(name = "vasscm-console", version, about = "The port's operator console for vasscm (browser, Vietnamese and English)")]
struct Cli {
    /// Configuration file (TOML; see vasscm-console.example.toml). Without it: the defaults.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Listen address, instead of the configuration's `listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Check the configuration and the audit log, then exit.
    #[arg(long)]
    check: bool,
}

async fn run(cli: Cli) -> Result<(), ConsoleError> {
    let mut cfg = match &cli.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(l) = cli.listen {
        cfg.listen = l;
    }
    let state = Arc::new(app::AppState::new(cfg)?);
    if cli.check {
        let (n, broken) = state.audit.verify()?;
        println!("configuration ok; audit log {} lines, {}", n, match broken {
            None => "chain intact".to_string(),
            Some(b) => format!("chain BROKEN at line {b}"),
        });
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(state.cfg.listen).await?;
    tracing::info!(
        "vasscm-console listening on http://{} (database {}:{}/{}, cookie secure: {})",
        state.cfg.listen,
        state.cfg.database.host,
        state.cfg.database.port,
        state.cfg.database.dbname,
        state.cfg.session.cookie_secure
    );
    app::spawn_reaper(state.clone());
    let router = app::router(state);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM: requests in flight finish, then sessions close.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("vasscm-console stopping");
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vasscm-console: {e}");
            ExitCode::from(78)
        }
    }
}
