//! The `agency-node` binary: serve (the default), or run an operator command (audit
//! verification, matching estimates) against the node's configuration.

use clap::Subcommand;

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
    /// Copy the node's database while it runs: a consistent snapshot, to a new file
    /// (SQLite: `VACUUM INTO`; PostgreSQL: `pg_dump --format=custom` of one snapshot,
    /// which needs PostgreSQL's client tools). Prints the audit head the copy holds:
    /// keep it with the backup.
    Backup {
        /// The backup file to write; never overwritten.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Bring a backup back into the node's database, with the node stopped (SQLite: the
    /// file is replaced) or into a fresh, empty PostgreSQL database (created if missing).
    /// The backup's audit must verify and, with --checkpoint, hold the witnessed entry:
    /// a backup that would roll the audit back past a witnessed checkpoint, or that holds
    /// another history, is refused by name. Migrations then run, and the restored audit
    /// is verified; the result is printed as JSON.
    Restore {
        /// The backup file (`agency-node backup --to`).
        #[arg(long)]
        from: std::path::PathBuf,
        /// A witnessed audit head, `SEQ:HASH` (e.g. from a witness or an earlier
        /// `backup`): the restored audit must reach it, with that hash.
        #[arg(long)]
        checkpoint: Option<agency_node::backup::Checkpoint>,
        /// Ask the other nodes (through the gateway) for the newest checkpoint of this
        /// node's audit they keep, its signature checked, and use it as --checkpoint.
        #[arg(long, conflicts_with = "checkpoint")]
        witnessed: bool,
    },
    /// Tools for the node's matching settings.
    Matching {
        #[command(subcommand)]
        command: MatchingCommand,
    },
}

#[derive(Subcommand)]
enum MatchingCommand {
    /// Estimate the u probabilities of the match weights from this node's own children and
    /// print a `[matching.weights]` section to paste into the configuration.
    ///
    /// u is how often two different children agree at a level (same given name, same
    /// birthday, same postcode sector, ...): counted over pairs of the node's children, it
    /// reflects how common its names and dates really are. m (how often a true match
    /// agrees) cannot be read from one node's data and is printed as configured. The
    /// comparison with the configured values goes to standard error.
    EstimateU {
        /// Children read, a uniform random sample of the node's.
        #[arg(long, default_value_t = 20_000)]
        sample: i64,
        /// Pairs compared: every pair of the sample when there are at most this many,
        /// otherwise this many random pairs.
        #[arg(long, default_value_t = 2_000_000)]
        pairs: u64,
        /// Seed of the random pairs, so a run can be repeated on the same sample.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log; exits 1 and names the first broken entry
    /// when any entry was edited, removed or reordered.
    Verify,
}

/// mimalloc rather than glibc's malloc: a load through `/v1/batch` allocates and frees
/// millions of small values (rows, JSON, hashes), and glibc's allocator and its
/// consolidation took about a fifth of the node's CPU (docs/benchmarks.md, onboarding).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = service::cli::parse::<Command>(&service::cli::Binary {
        name: env!("CARGO_BIN_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        about: "An agency's node in the multi-agency child view federation",
        long_about: "An agency's node in the multi-agency child view federation.\n\n\
            Serves the agency's own records over HTTPS with mutual TLS: an integration face for \
            the agency's systems and a federation face for gateways.",
        config_env: "AGENCY_NODE_CONFIG",
        config_help: "TOML configuration file. Every setting can be overridden by an environment \
            variable: AGENCY_NODE__<SECTION>__<KEY>, e.g. AGENCY_NODE__DATABASE__URL",
    });
    if let Some(Command::Openapi) = cli.command {
        print!("{}", agency_node::openapi::SPEC.json());
        return Ok(());
    }
    cli.common.init_logging();
    let settings = agency_node::Settings::load(cli.common.config.as_deref())?;
    if let Some(Command::Audit {
        command: AuditCommand::Verify,
    }) = cli.command
    {
        let pool = agency_node::db::connect_with(&settings.database)?;
        let mut conn = pool.get()?;
        let result = agency_node::db::audit::verify(&mut conn)?;
        println!("{}", serde_json::to_string_pretty(&result)?);
        std::process::exit(if result.intact { 0 } else { 1 });
    }
    match &cli.command {
        Some(Command::Backup { to }) => {
            let report = agency_node::backup::backup(&settings.database.url, to)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        Some(Command::Restore {
            from,
            checkpoint,
            witnessed,
        }) => {
            let checkpoint = if *witnessed {
                let newest = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(agency_node::anchoring::newest_witnessed(&settings))?;
                match newest {
                    Some(w) => {
                        eprintln!(
                            "the newest witnessed checkpoint: entry {} ({} keeps it)",
                            w.checkpoint.seq, w.witness
                        );
                        Some(agency_node::backup::Checkpoint {
                            seq: w.checkpoint.seq,
                            hash: w.checkpoint.hash,
                        })
                    }
                    None => {
                        eprintln!("no witness keeps a checkpoint of this node's audit");
                        None
                    }
                }
            } else {
                checkpoint.clone()
            };
            match agency_node::backup::restore(from, &settings.database.url, checkpoint.as_ref()) {
                Ok(report) => {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    return Ok(());
                }
                Err(e) => {
                    eprintln!("restore refused: {e}");
                    std::process::exit(2);
                }
            }
        }
        _ => {}
    }
    if let Some(Command::Matching {
        command:
            MatchingCommand::EstimateU {
                sample,
                pairs,
                seed,
            },
    }) = cli.command
    {
        let pool = agency_node::db::connect_with(&settings.database)?;
        let mut conn = pool.get()?;
        let children = agency_node::db::children::sample(&mut conn, sample)?;
        let estimate = matching::estimate::estimate_u(&children, pairs, seed, &settings.matching)
            .ok_or_else(|| anyhow::anyhow!("the node holds fewer than two children"))?;
        eprint!(
            "{}",
            matching::estimate::report(&estimate, &settings.matching)
        );
        print!("{}", matching::estimate::weights_toml(&estimate)?);
        return Ok(());
    }
    service::cli::serve(|| {
        let app = agency_node::Application::build(settings)?;
        actix_web::rt::spawn(app.drain().on_signals());
        Ok(app.run_until_stopped())
    })
}
