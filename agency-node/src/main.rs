use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// An agency's node in the multi-agency child view federation.
///
/// Serves the agency's own records over HTTPS with mutual TLS: an integration face for
/// the agency's systems and a federation face for gateways.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML configuration file. Every setting can be overridden by an environment
    /// variable: AGENCY_NODE__<SECTION>__<KEY>, e.g. AGENCY_NODE__DATABASE__URL.
    #[arg(long, short, env = "AGENCY_NODE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, default_value = "text", global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node (the default).
    Serve,
    /// Print the node's OpenAPI document.
    Openapi,
    /// Work with the node's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log; exits 1 and names the first broken entry
    /// when any entry was edited, removed or reordered.
    Verify,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", agency_node::openapi::openapi_json());
        return Ok(());
    }
    trust::telemetry::init(&cli.log_format);
    let settings = agency_node::Settings::load(cli.config.as_deref())?;
    if let Some(Command::Audit {
        command: AuditCommand::Verify,
    }) = cli.command
    {
        let pool = agency_node::db::connect(&settings.database.url)?;
        let mut conn = pool.get()?;
        let result = agency_node::db::audit::verify(&mut conn)?;
        println!("{}", serde_json::to_string_pretty(&result)?);
        std::process::exit(if result.intact { 0 } else { 1 });
    }
    actix_web::rt::System::new().block_on(async move {
        agency_node::Application::build(settings)?
            .run_until_stopped()
            .await?;
        Ok(())
    })
}
