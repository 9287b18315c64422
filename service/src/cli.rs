//! What every service binary does around its own commands: the options they share
//! (configuration file, log format), logging set up, and serving until stopped.

use clap::Parser;
use std::future::Future;
use std::path::PathBuf;

/// The options of every service binary, flattened into its own command line.
#[derive(clap::Args)]
pub struct Common {
    /// TOML configuration file (`parse` says which environment variables override it).
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

/// Parses a service's command line, whose [`Common`] options are flattened into it:
/// `config_env` names the variable that gives the configuration file, `config_help` says
/// how settings are overridden from the environment.
pub fn parse<C: Parser>(config_env: &'static str, config_help: &'static str) -> C {
    let matches = C::command()
        .mut_arg("config", |arg| arg.env(config_env).help(config_help))
        .get_matches();
    C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
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
