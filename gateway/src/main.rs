use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The gateway of the multi-agency child view federation.
///
/// Finds a child at every agency node over mutual TLS and merges their answers into one
/// view for a practitioner. Stores no children.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML configuration file. Every setting can be overridden by an environment
    /// variable: GATEWAY__<SECTION>__<KEY>, e.g. GATEWAY__FEDERATION__NODE_TIMEOUT_MS.
    #[arg(long, short, env = "GATEWAY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, default_value = "text", global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Print the gateway's OpenAPI document.
    Openapi,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", gateway::openapi::openapi_json());
        return Ok(());
    }
    trust::telemetry::init(&cli.log_format);
    let settings = gateway::Settings::load(cli.config.as_deref())?;
    actix_web::rt::System::new().block_on(async move {
        gateway::Application::build(settings)?
            .run_until_stopped()
            .await?;
        Ok(())
    })
}
