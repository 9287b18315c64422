//! What every service binary does around its own commands: the options they share
//! (configuration file, log format), logging set up, and serving until stopped.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::future::Future;
use std::path::PathBuf;

/// The options of every service binary.
#[derive(clap::Args)]
pub struct Common {
    /// TOML configuration file (`parse` names the environment variables of the service).
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, default_value = "text", global = true)]
    pub log_format: String,
}

impl Common {
    /// Sets up logging in the chosen format.
    pub fn init_logging(&self) {
        crate::telemetry::init(&self.log_format);
    }
}

/// A service binary's command line: the options every service takes, then its own
/// commands `C` (none means `serve`).
#[derive(Parser)]
pub struct Cli<C: Subcommand> {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Option<C>,
}

/// What a service binary says of itself in `--help`.
pub struct Binary {
    /// The binary's name (`env!("CARGO_BIN_NAME")`).
    pub name: &'static str,
    /// Its version (`env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    /// One line on what it is.
    pub about: &'static str,
    /// What it does, for `--help`.
    pub long_about: &'static str,
    /// The variable that names the configuration file.
    pub config_env: &'static str,
    /// How its settings are overridden from the environment.
    pub config_help: &'static str,
}

/// Parses the command line of `binary`, whose own commands are `C`.
pub fn parse<C: Subcommand>(binary: &Binary) -> Cli<C> {
    let matches = Cli::<C>::command()
        .name(binary.name)
        .bin_name(binary.name)
        .version(binary.version)
        .about(binary.about)
        .long_about(binary.long_about)
        .mut_arg("config", |arg| {
            arg.env(binary.config_env).help(binary.config_help)
        })
        .get_matches();
    Cli::<C>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Runs the server `start` builds on an actix system of its own until it is stopped.
pub fn serve<F, S>(start: F) -> anyhow::Result<()>
where
    F: FnOnce() -> anyhow::Result<S>,
    S: Future<Output = std::io::Result<()>>,
{
    actix_web::rt::System::new().block_on(async move {
        start()?.await?;
        Ok(())
    })
}
