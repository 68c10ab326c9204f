//! The command line: `vasscm-worker run|check|sign|bench-sign --config FILE`, `--config`
//! before or after the command. `--help` and `--version` exit 0; a usage error prints the usage
//! and exits 64 (`EX_USAGE`), as the customs simulator does.

use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Exit code of a usage error (sysexits.h `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "vasscm-worker",
    version,
    about = "Drains the vasscm outbox: signs each message on the HSM (PKCS#11), sends it to customs, records every reply",
    override_usage = "vasscm-worker run|check|sign|bench-sign --config FILE",
    arg_required_else_help = true,
    after_help = "Exit codes: 0 done, 1 failure, 64 usage error, 69 the HSM / token failed, 78 configuration error."
)]
struct Cli {
    /// The worker's TOML configuration, e.g. /etc/vasscm/worker.toml
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Drain the outbox until SIGTERM
    #[command(override_usage = "vasscm-worker run --config FILE")]
    Run,
    /// Open the token, make and verify a test signature, read the database; print what was found
    #[command(override_usage = "vasscm-worker check --config FILE")]
    Check,
    /// Sign the XML on standard input, print it
    #[command(override_usage = "vasscm-worker sign --config FILE < unsigned.xml")]
    Sign,
    /// Signing rate of the token (C_Sign with the chosen mechanism), one thread per session, 5 s
    #[command(override_usage = "vasscm-worker bench-sign --config FILE")]
    BenchSign,
}

/// A command with its configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command.
    pub command: Command,
    /// `--config FILE`.
    pub config: PathBuf,
}

/// Parses `args` (the program name first). `Err` is clap's: help or version (`use_stderr()`
/// false, exit 0) or a usage error (exit [`EX_USAGE`]); [`clap::Error::print`] shows it.
pub fn parse_from<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    // A global option cannot be required by clap itself; every command needs it.
    let Some(config) = cli.config else {
        return Err(Cli::command().error(clap::error::ErrorKind::MissingRequiredArgument, "--config FILE is required"));
    };
    Ok(Invocation { command: cli.command, config })
}

/// The exit code for a parse error: 0 for `--help` / `--version`, [`EX_USAGE`] otherwise.
pub fn exit_code(e: &clap::Error) -> u8 {
    if e.use_stderr() {
        EX_USAGE
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, clap::Error> {
        parse_from(std::iter::once("vasscm-worker").chain(args.iter().copied()))
    }

    #[test]
    fn every_command_with_config_before_or_after() {
        for (word, command) in [("run", Command::Run), ("check", Command::Check), ("sign", Command::Sign), ("bench-sign", Command::BenchSign)] {
            let expected = Invocation { command, config: PathBuf::from("/etc/vasscm/worker.toml") };
            assert_eq!(parse(&[word, "--config", "/etc/vasscm/worker.toml"]).expect(word), expected);
            assert_eq!(parse(&["--config", "/etc/vasscm/worker.toml", word]).expect(word), expected);
            assert_eq!(parse(&[word, "--config=/etc/vasscm/worker.toml"]).expect(word), expected);
        }
    }

    #[test]
    fn help_and_version_exit_zero() {
        for args in [&["--help"][..], &["-h"], &["run", "--help"], &["help"], &["--version"], &["-V"]] {
            let e = parse(args).expect_err("help or version");
            assert_eq!(exit_code(&e), 0, "{args:?}: {e}");
        }
    }

    #[test]
    fn usage_errors_exit_64() {
        for args in [&[][..], &["run"], &["--config", "f"], &["start", "--config", "f"], &["run", "--config"], &["run", "--config", "f", "extra"], &["run", "--cfg", "f"]] {
            let e = parse(args).expect_err("usage error");
            assert_eq!(exit_code(&e), EX_USAGE, "{args:?}: {e}");
        }
    }

    #[test]
    fn the_help_shows_the_usage_scripts_look_for() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("vasscm-worker run|check|sign|bench-sign --config FILE"), "{help}");
        for word in ["run", "check", "sign", "bench-sign", "--config"] {
            assert!(help.contains(word), "{word}: {help}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
