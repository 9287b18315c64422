use clap::{Parser, Subcommand};

/// The gateway of the multi-agency child view federation.
///
/// Finds a child at every agency node over mutual TLS and merges their answers into one
/// view for a practitioner. Stores no children.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    common: service::cli::Common,
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
    let cli: Cli = service::cli::parse(
        "GATEWAY_CONFIG",
        "TOML configuration file. Every setting can be overridden by an environment variable: \
         GATEWAY__<SECTION>__<KEY>, e.g. GATEWAY__FEDERATION__NODE_TIMEOUT_MS",
    );
    if let Some(Command::Openapi) = cli.command {
        print!("{}", gateway::openapi::openapi_json());
        return Ok(());
    }
    cli.common.init_logging();
    let settings = gateway::Settings::load(cli.common.config.as_deref())?;
    service::cli::serve(|| Ok(gateway::Application::build(settings)?.run_until_stopped()))
}
