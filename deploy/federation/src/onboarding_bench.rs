//! `federation bench onboarding`: an agency joining the federation with its children,
//! through the public API only. One real school node (its own `federation run-node`
//! process, a generated dev PKI, mutual TLS, SQLite or PostgreSQL) and the school's MIS
//! loading synthetic children with two records each by `POST /v1/batch`, one batch after
//! another as an integration would. Prints children per second, items per second and the
//! time per batch, and checks every item was stored (`created`) and the audit chain
//! verifies. Traffic goes only to 127.0.0.1.

use crate::plan::{Database, DatabaseNames, Federation, NodePlan, Plan};
use anyhow::Context;
use schemas::{AgencyKind, Upn};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

const NODE: &str = "school-a";

pub struct Options {
    pub children: usize,
    /// Children per batch (each with two records: three items).
    pub per_batch: usize,
    pub database: Database,
    pub dir: Option<PathBuf>,
    pub exe: PathBuf,
}

/// What one run measured.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub database: &'static str,
    pub children: usize,
    pub records: usize,
    pub batches: usize,
    pub seconds: f64,
    pub children_per_second: f64,
    pub items_per_second: f64,
    pub slowest_batch_seconds: f64,
    /// CPU seconds (user and system) the node process used from its start to the end of
    /// the load (Linux `/proc`; `None` elsewhere): a figure less swayed than the wall
    /// clock by other work on a shared machine.
    pub node_cpu_seconds: Option<f64>,
    /// CPU seconds this bench process (the MIS: sending the bodies, reading the answers)
    /// used during the load (Linux; `None` elsewhere). It shares the machine's cores with
    /// the node and the database.
    pub client_cpu_seconds: Option<f64>,
    /// CPU seconds every `postgres` process on this machine used during the load (the
    /// node's backends, the WAL writer, the checkpointer; Linux `/proc`, so a server on
    /// this host only; `None` on SQLite or elsewhere).
    pub postgres_cpu_seconds: Option<f64>,
    /// The machine's load average (1 minute) when the load ended (Linux; `None` elsewhere).
    pub load_average: Option<f64>,
    pub commit: String,
}

/// User and system CPU seconds of process `pid` (fields 14 and 15 of `/proc/PID/stat`,
/// in clock ticks of 1/100 s, the value on Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The summed CPU seconds of every process named `postgres` (by `/proc/PID/comm`), by
/// process id, so that a difference counts only what each used in between.
fn postgres_cpu() -> std::collections::HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .filter_map(|pid| Some((pid, cpu_seconds(pid)?)))
        .collect()
}

/// What the `postgres` processes used between two [`postgres_cpu`] readings (a process
/// started between them counts whole; one that ended is lost).
fn postgres_cpu_between(
    before: &std::collections::HashMap<u32, f64>,
    after: &std::collections::HashMap<u32, f64>,
) -> f64 {
    after
        .iter()
        .map(|(pid, s)| s - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Child number `n` with its two records: an enrolment and an attendance period.
fn items(n: usize) -> anyhow::Result<[Value; 3]> {
    const GIVEN: [&str; 8] = [
        "Amelia", "Rowan", "Ines", "Tegan", "Kofi", "Mia", "Aarav", "Zofia",
    ];
    const FAMILY: [&str; 8] = [
        "Okafor", "Marsh", "Quenby", "Nowak", "Patel", "Bright", "Astley", "Idowu",
    ];
    let local_id = format!("ONB-{n:07}");
    let upn = Upn::with_check_letter(&format!("997{n:09}"))
        .map_err(|e| anyhow::anyhow!("synthetic UPN {n}: {e}"))?;
    let dob = chrono::NaiveDate::from_ymd_opt(2010, 9, 1)
        .context("a valid date")?
        .checked_add_days(chrono::Days::new((n % 4_000) as u64))
        .context("a valid date")?;
    Ok([
        json!({"op": "upsert_child", "local_id": local_id, "child": {
            "demographics": {"given_name": GIVEN[n % 8], "family_name": FAMILY[(n / 8) % 8],
                             "date_of_birth": dob, "postcode": format!("ZZ{} {}AB", 1 + n % 9, n % 10)},
            "identifiers": {"upn": upn.as_str()}}}),
        json!({"op": "upsert_record", "local_id": local_id, "record": {
            "source_system_id": format!("{local_id}-ENR"), "category": "enrolment",
            "effective_from": "2025-09-01", "impact": "On roll since September 2025",
            "details": {"urn": "999123", "school_name": "Synthetic Primary School"}}}),
        json!({"op": "upsert_record", "local_id": local_id, "record": {
            "source_system_id": format!("{local_id}-ATT"), "category": "attendance",
            "effective_from": "2026-09-03", "effective_to": "2026-10-23",
            "impact": "Attendance 96% this half-term",
            "details": {"sessions_possible": 100, "sessions_present": 96,
                        "authorised_absence": 4, "unauthorised_absence": 0}}}),
    ])
}

pub fn onboarding(options: &Options) -> anyhow::Result<Report> {
    let (dir, temporary) = match &options.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("onboarding-bench-{}", std::process::id())),
            true,
        ),
    };
    let mut plan = Plan::dev(free_port()?, 0);
    plan.nodes = vec![NodePlan {
        id: NODE.into(),
        name: "Synthetic Primary School".into(),
        kind: AgencyKind::School,
        port: free_port()?,
        host: None,
    }];
    // A burst tolerance of over an hour, as the linkage bench has (a 1 ns period with a
    // burst of 1,000,000 tolerates 1 ms, and a loaded machine refused a bench request
    // with 429 at that).
    plan.rate_limit = Some((1e6, u32::MAX));
    plan.database = match &options.database {
        Database::Sqlite => Database::Sqlite,
        Database::Postgres { server, .. } => Database::Postgres {
            server: server.clone(),
            names: DatabaseNames::Unique,
        },
    };
    let federation = Federation::generate(&dir, plan)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(options, &federation));
    let dropped = federation.drop_databases();
    if temporary {
        let _ = std::fs::remove_dir_all(&federation.root);
    }
    dropped?;
    result
}

async fn run(options: &Options, federation: &Federation) -> anyhow::Result<Report> {
    let (config, _) = federation
        .node_configs
        .get(NODE)
        .context("no configuration for the node")?;
    let log = federation.root.join("node.log");
    let mut node = Command::new(&options.exe)
        .arg("run-node")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(federation.root.join("node.err"))?)
        .kill_on_drop(true)
        .spawn()
        .context("starting the node")?;
    let url = federation
        .plan
        .nodes
        .first()
        .map(|n| federation.plan.node_url(n))
        .context("a node")?;
    let result = async {
        let probe = reqwest::Client::builder()
            .tls_backend_preconfigured(trust::tls::client_config_without_identity(
                &federation.ca_file,
            )?)
            .no_proxy()
            .build()?;
        let deadline = Instant::now() + crate::up::ready_within(0);
        while !crate::up::answers_ready(&probe, &url).await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the node did not become ready; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let tls = federation
            .integration_tls
            .get(NODE)
            .context("no integration identity")?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(trust::tls::client_config(tls)?)
            .no_proxy()
            .timeout(Duration::from_secs(600))
            .build()?;
        load(options, &client, &url, node.id()).await
    }
    .await;
    let _ = node.kill().await;
    result
}

async fn load(
    options: &Options,
    client: &reqwest::Client,
    url: &str,
    node: Option<u32>,
) -> anyhow::Result<Report> {
    // Bodies built before the clock starts: the node's work is measured, not ours.
    let mut bodies = Vec::new();
    let mut n = 0;
    while n < options.children {
        let end = (n + options.per_batch).min(options.children);
        let mut batch = Vec::with_capacity((end - n) * 3);
        for k in n..end {
            batch.extend(items(k)?);
        }
        bodies.push(serde_json::to_vec(&json!({ "items": batch }))?);
        n = end;
    }
    let postgres = matches!(options.database, Database::Postgres { .. });
    let postgres_before = postgres.then(postgres_cpu);
    let client_before = cpu_seconds(std::process::id());
    let started = Instant::now();
    let mut slowest: f64 = 0.0;
    for body in bodies.iter() {
        let sent = Instant::now();
        let response = client
            .post(format!("{url}/v1/batch"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST /v1/batch: {status} {answer}");
        anyhow::ensure!(
            answer["failed"] == 0,
            "items failed: {}",
            answer["results"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["outcome"] == "failed"))
                .cloned()
                .unwrap_or(Value::Null)
        );
        slowest = slowest.max(sent.elapsed().as_secs_f64());
    }
    let seconds = started.elapsed().as_secs_f64();
    let node_cpu_seconds = node.and_then(cpu_seconds);
    let client_cpu_seconds = cpu_seconds(std::process::id())
        .zip(client_before)
        .map(|(after, before)| after - before);
    let postgres_cpu_seconds = postgres_before
        .map(|before| postgres_cpu_between(&before, &postgres_cpu()))
        .filter(|s| *s > 0.0);
    let load_average = load_average();
    let verify: Value = client
        .get(format!("{url}/v1/audit/verify"))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(verify["intact"] == true, "audit chain: {verify}");
    Ok(Report {
        database: match options.database {
            Database::Sqlite => "sqlite",
            Database::Postgres { .. } => "postgres",
        },
        children: options.children,
        records: options.children * 2,
        batches: bodies.len(),
        seconds,
        children_per_second: options.children as f64 / seconds,
        items_per_second: (options.children * 3) as f64 / seconds,
        slowest_batch_seconds: slowest,
        node_cpu_seconds,
        client_cpu_seconds,
        postgres_cpu_seconds,
        load_average,
        commit: crate::bench::commit(),
    })
}

/// The report as the lines `docs/benchmarks.md` quotes.
pub fn render(r: &Report) -> String {
    format!(
        "onboarding on {}: {} children and {} records in {} batches in {:.2} s: \
         {:.0} children/s ({:.0} items/s); slowest batch {:.2} s; node CPU {}; \
         client CPU {}{}; load average {}; commit {}\n",
        r.database,
        r.children,
        r.records,
        r.batches,
        r.seconds,
        r.children_per_second,
        r.items_per_second,
        r.slowest_batch_seconds,
        r.node_cpu_seconds.map_or("unknown".to_owned(), |s| format!(
            "{s:.2} s ({:.0} children per CPU second)",
            r.children as f64 / s
        )),
        r.client_cpu_seconds
            .map_or("unknown".to_owned(), |s| format!("{s:.2} s")),
        r.postgres_cpu_seconds
            .map_or(String::new(), |s| format!("; PostgreSQL CPU {s:.2} s")),
        r.load_average
            .map_or("unknown".to_owned(), |l| format!("{l:.1}")),
        r.commit
    )
}
