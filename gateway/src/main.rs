//! The `gateway` binary: serve (the default), or write its OpenAPI document.

use clap::Subcommand;

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Print the gateway's OpenAPI document.
    Openapi,
}

fn main() -> anyhow::Result<()> {
    let cli = service::cli::parse::<Command>(&service::cli::Binary {
        name: env!("CARGO_BIN_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        about: "The gateway of the multi-agency child view federation",
        long_about: "The gateway of the multi-agency child view federation.\n\n\
            Finds a child at every agency node over mutual TLS and merges their answers into \
            one view for a practitioner. Stores no children.",
        config_env: "GATEWAY_CONFIG",
        config_help: "TOML configuration file. Every setting can be overridden by an environment \
            variable: GATEWAY__<SECTION>__<KEY>, e.g. GATEWAY__FEDERATION__NODE_TIMEOUT_MS",
    });
    if let Some(Command::Openapi) = cli.command {
        print!("{}", gateway::openapi::SPEC.json());
        return Ok(());
    }
    cli.common.init_logging();
    let settings = gateway::Settings::load(cli.common.config.as_deref())?;
    service::cli::serve(|| {
        let app = gateway::Application::build(settings)?;
        actix_web::rt::spawn(app.drain().on_signals());
        Ok(app.run_until_stopped())
    })
}
