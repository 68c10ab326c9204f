//! `vasscm-worker`: drains the vasscm outbox. Claims queued messages (lease, SKIP LOCKED,
//! per-container order), signs each on the HSM through PKCS#11, sends it to customs, and
//! records every reply; receives customs → port messages. One server signs for the port.
//!
//! Usage: `vasscm-worker run|check|sign|bench-sign --config FILE` (see README, "Worker").
//! Exit codes: 0 done, 1 failure, 64 usage error, 69 the HSM / token failed, 78 configuration
//! error.
//!
//! Modules, one job each: [`cli`] the command line, [`config`] the TOML file, [`commands`]
//! `check` / `sign` / `bench-sign`, [`run`] the claim loop, [`send`] one message's way out,
//! [`queue`] the SQL calls, [`batch`] their group commit, [`db`] connections and outages,
//! [`hsm`] and [`mechanism`] the token, [`transport`] HTTP to customs, [`trust`] customs'
//! signatures, [`inbound`] customs → port messages, [`metrics`] `/metrics` and `/healthz`,
//! [`ratelimit`] refused pushes.

mod batch;
mod cli;
mod commands;
mod config;
mod db;
mod error;
mod hsm;
mod inbound;
mod mechanism;
mod metrics;
mod queue;
mod ratelimit;
mod run;
mod send;
mod transport;
mod trust;

use cli::Command;
use config::Config;
use error::{WorkerError, EX_CONFIG};
use std::process::ExitCode;
use tracing::error;

#[tokio::main]
async fn main() -> ExitCode {
    let invocation = match cli::parse_from(std::env::args_os()) {
        Ok(i) => i,
        Err(e) => {
            let _ = e.print(); // help and version on stdout, usage errors on stderr
            return ExitCode::from(cli::exit_code(&e));
        }
    };
    tracing_subscriber::fmt()
        // cryptoki logs an error for each mechanism of C_GetMechanismList it does not know:
        // noise, not errors (the worker reads the three it may use).
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,cryptoki::mechanism=off".into()))
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = match Config::load(&invocation.config) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let result: Result<(), WorkerError> = match invocation.command {
        Command::Run => run::run(&cfg).await,
        Command::Check => commands::check(&cfg).await,
        Command::Sign => commands::sign_stdin(&cfg),
        Command::BenchSign => commands::bench_sign(&cfg),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}
