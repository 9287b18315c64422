use anyhow::Context;
use clap::{Parser, Subcommand};
use schemas::PractitionerRole;
use std::path::PathBuf;

/// The dev federation: a whole multi-agency federation on this machine in one command.
///
/// `federation up` generates a development PKI (a federation CA and a certificate per
/// member), a federation directory and a token issuer; seeds synthetic children into a
/// SQLite database per agency; starts every agency node and the gateway; and prints the
/// URLs, tokens and a curl walk-through. Ctrl-C stops everything.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lay out, seed and run the dev federation until Ctrl-C.
    Up {
        /// Folder for certificates, keys, configuration, databases and logs. Replaced on
        /// every run.
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
        /// How many synthetic children to generate.
        #[arg(long, default_value_t = 2000)]
        children: usize,
        /// Seed of the synthetic population: the same seed gives the same children.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Port of the gateway.
        #[arg(long, default_value_t = 8443)]
        gateway_port: u16,
        /// Port of the first agency node; the others follow it.
        #[arg(long, default_value_t = 9101)]
        first_node_port: u16,
        /// Lifetime of the printed demo tokens, in hours.
        #[arg(long, default_value_t = 12)]
        token_ttl_hours: i64,
    },
    /// Lay out and seed the dev federation with each service on its own host address,
    /// without starting anything (for running the services on separate hosts, as
    /// `deploy/netns/multi-host.sh` does). Writes `layout.env` and `sample-query.json`.
    Layout {
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
        #[arg(long, default_value_t = 300)]
        children: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Address the gateway listens on (and its certificate names).
        #[arg(long, default_value = "127.0.0.1")]
        gateway_host: String,
        #[arg(long, default_value_t = 8443)]
        gateway_port: u16,
        #[arg(long, default_value_t = 9101)]
        first_node_port: u16,
        /// A node on its own host: `ID=ADDRESS`, e.g. `health=10.77.4.2`. Repeatable.
        #[arg(long = "node-host", value_parser = parse_node_host)]
        node_hosts: Vec<(String, String)>,
        /// The gateway's wait for one node, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        node_timeout_ms: u64,
    },
    /// Mint a practitioner token from the running dev federation's issuer.
    Token {
        /// Role claim, e.g. designated_safeguarding_lead, teacher, social_worker.
        #[arg(long, value_parser = parse_role)]
        role: PractitionerRole,
        /// Member id of the practitioner's agency, e.g. school-a.
        #[arg(long)]
        agency: String,
        /// Subject claim: the practitioner's user id.
        #[arg(long, default_value = "dev.practitioner")]
        subject: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: i64,
        /// The folder `federation up` wrote.
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
    },
    /// Write the OpenAPI documents of the gateway and the agency node to `openapi/`.
    Openapi {
        /// Only check that the committed documents match the code; exit 1 if not.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// Run one agency node (what `up` starts for each agency).
    RunNode {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// Run the gateway (what `up` starts).
    RunGateway {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// Measure the federation against labelled synthetic data.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Matching quality (precision, recall, wrong links, twins) and latency of a node's
    /// plain-mode matching, over drifted agency copies of synthetic children.
    Matching {
        /// How many true children to generate (twins are added on top).
        #[arg(long, default_value_t = 10_000)]
        children: usize,
        /// How many children to search for; each at every agency.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Seed of the population, the drift and the queries.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder for the agencies' databases (kept); a temporary one, removed at the
        /// end, if not given.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The record locator at the size of England: each node's keyed membership filter
    /// built with the real filter code over a synthetic population (no network), then
    /// filter sizes, false-positive rates, nodes contacted per search against nodes truly
    /// holding the child, and refresh cost.
    Locator {
        /// Children aged 0-17 in the federation.
        #[arg(long, default_value_t = 12_000_000)]
        children: usize,
        #[arg(long, default_value_t = 150)]
        local_authorities: usize,
        #[arg(long, default_value_t = 24_000)]
        schools: usize,
        #[arg(long, default_value_t = 42)]
        health_bodies: usize,
        #[arg(long, default_value_t = 43)]
        police_forces: usize,
        /// Searches simulated; each tests every node's filter.
        #[arg(long, default_value_t = 5_000)]
        queries: usize,
        /// Target false-positive rate of each filter, per looked-up token.
        #[arg(long, default_value_t = 1e-6)]
        false_positive_rate: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn parse_node_host(s: &str) -> Result<(String, String), String> {
    let (id, host) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=ADDRESS, got '{s}'"))?;
    host.parse::<std::net::IpAddr>()
        .map_err(|_| format!("'{host}' is not an IP address"))?;
    Ok((id.to_owned(), host.to_owned()))
}

fn parse_role(s: &str) -> Result<PractitionerRole, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown role '{s}'"))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Up {
            dir,
            children,
            seed,
            gateway_port,
            first_node_port,
            token_ttl_hours,
        } => {
            trust::telemetry::init("text");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(federation::up::up(federation::up::UpOptions {
                dir,
                children,
                seed,
                gateway_port,
                first_node_port,
                token_ttl_hours,
            }))
        }
        Cmd::Layout {
            dir,
            children,
            seed,
            gateway_host,
            gateway_port,
            first_node_port,
            node_hosts,
            node_timeout_ms,
        } => federation::up::layout(federation::up::LayoutOptions {
            dir,
            children,
            seed,
            gateway_host,
            gateway_port,
            first_node_port,
            node_hosts,
            node_timeout_ms,
        }),
        Cmd::Token {
            role,
            agency,
            subject,
            ttl_minutes,
            dir,
        } => {
            let key_file = dir.join("idp").join("issuer.key");
            let key = std::fs::read_to_string(&key_file).with_context(|| {
                format!("reading {}; run `federation up` first", key_file.display())
            })?;
            println!(
                "{}",
                federation::plan::dev_token(&key, role, &agency, &subject, ttl_minutes * 60)?
            );
            Ok(())
        }
        Cmd::Openapi { check, out } => {
            let documents = [
                ("gateway.json", gateway::openapi::openapi_json()),
                ("agency-node.json", agency_node::openapi::openapi_json()),
            ];
            let mut stale = Vec::new();
            for (name, json) in documents {
                let path = out.join(name);
                if check {
                    if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
                        stale.push(path.display().to_string());
                    }
                } else {
                    std::fs::create_dir_all(&out)?;
                    std::fs::write(&path, json)?;
                    println!("wrote {}", path.display());
                }
            }
            anyhow::ensure!(
                stale.is_empty(),
                "stale OpenAPI documents: {}; run `cargo run --bin federation -- openapi`",
                stale.join(", ")
            );
            Ok(())
        }
        Cmd::RunNode { config, log_format } => {
            trust::telemetry::init(&log_format);
            let settings = agency_node::Settings::load(Some(&config))?;
            actix_web::rt::System::new().block_on(async move {
                agency_node::Application::build(settings)?
                    .run_until_stopped()
                    .await?;
                Ok(())
            })
        }
        Cmd::Bench {
            what:
                BenchCmd::Matching {
                    children,
                    queries,
                    seed,
                    dir,
                },
        } => federation::bench::matching(&federation::bench::Options {
            children,
            queries,
            seed,
            dir,
        }),
        Cmd::Bench {
            what:
                BenchCmd::Locator {
                    children,
                    local_authorities,
                    schools,
                    health_bodies,
                    police_forces,
                    queries,
                    false_positive_rate,
                    seed,
                },
        } => federation::locator_bench::locator(&federation::locator_bench::Options {
            children,
            local_authorities,
            schools,
            health_bodies,
            police_forces,
            queries,
            false_positive_rate,
            seed,
        }),
        Cmd::RunGateway { config, log_format } => {
            trust::telemetry::init(&log_format);
            let settings = gateway::Settings::load(Some(&config))?;
            actix_web::rt::System::new().block_on(async move {
                gateway::Application::build(settings)?
                    .run_until_stopped()
                    .await?;
                Ok(())
            })
        }
    }
}
