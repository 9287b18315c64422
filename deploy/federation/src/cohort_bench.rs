//! `federation bench cohort`: a school DSL's live cohort across six nodes (issue 26).
//!
//! The nodes run in this process (a generated dev PKI, SQLite, mutual TLS on loopback);
//! the gateway runs as its own `federation run-gateway` process, so its peak resident
//! memory (`VmHWM`) is the gateway's alone. The population is sized so that school A's
//! cohort (pupils on roll, or within the handover window) is the size asked. Measured:
//! the time for the whole cohort read to the last byte (p50, p95, max over `runs`), the
//! gateway's calls per node per cohort (from its `upstream_requests` metric), the
//! gateway's peak RSS; then, in a second federation, one cohort of `large` children
//! streamed and counted as it arrives.

use crate::plan::{Federation, Plan};
use crate::seed::{self, SyntheticChild};
use anyhow::Context;
use schemas::{PractitionerRole, RecordCategory};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const NODES: [&str; 6] = [
    "school-a",
    "school-b",
    "social-care",
    "health",
    "police",
    "virtual-school",
];
const CONTEXT: &str = "purpose=safeguarding&legal_basis=public_task";

pub struct Options {
    pub cohort: usize,
    pub runs: usize,
    /// The streamed cohort's size (0: skip it).
    pub large: usize,
    pub dir: PathBuf,
    pub exe: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub nodes: usize,
    pub population: usize,
    pub cohort: usize,
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Gateway calls per node per cohort read.
    pub calls_per_node: BTreeMap<String, f64>,
    /// Per node, the milliseconds its answers to the gateway's calls took, summed over
    /// the calls of one read (the calls to different nodes overlap; to one node they
    /// may too): where a read's time goes.
    pub node_ms_per_read: BTreeMap<String, f64>,
    /// The median time to the first row of a read.
    pub first_row_p50_ms: f64,
    pub gateway_peak_rss_mib: f64,
    pub large_population: usize,
    pub large_cohort: usize,
    pub large_seconds: f64,
    pub large_first_row_ms: f64,
    pub large_gateway_peak_rss_mib: f64,
    pub commit: String,
}

/// A free port whose neighbour is free too (the service's metrics listen there).
fn free_pair() -> anyhow::Result<u16> {
    for _ in 0..200 {
        let a = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no two free ports side by side")
}

fn on_roll_at_school_a(child: &SyntheticChild, today: chrono::NaiveDate) -> bool {
    child
        .holdings
        .iter()
        .filter(|h| h.node == "school-a")
        .any(|h| {
            h.records.iter().any(|r| {
                r.category == RecordCategory::Enrolment
                    && r.effective_from <= today
                    && r.effective_to
                        .is_none_or(|end| end + chrono::Duration::days(30) >= today)
            })
        })
}

/// A population whose school A cohort is about `target` children.
fn population(target: usize) -> (Vec<SyntheticChild>, usize) {
    let today = chrono::Utc::now().date_naive();
    let count = |children: &[SyntheticChild]| {
        children
            .iter()
            .filter(|c| on_roll_at_school_a(c, today))
            .count()
            .max(1)
    };
    let mut n = target * 2;
    for _ in 0..4 {
        let children = seed::population(42, n);
        let got = count(&children);
        if got.abs_diff(target) * 50 <= target {
            return (children, got);
        }
        n = (n as f64 * target as f64 / got as f64).ceil() as usize + 1;
    }
    let children = seed::population(42, n);
    let got = count(&children);
    (children, got)
}

struct Running {
    federation: Federation,
    gateway: tokio::process::Child,
    gateway_url: String,
    metrics_url: String,
    handles: Vec<actix_web::dev::ServerHandle>,
    client: reqwest::Client,
    token: String,
    population: usize,
    cohort: usize,
}

async fn start(dir: &Path, exe: &Path, target: usize) -> anyhow::Result<Running> {
    trust::install_crypto_provider();
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    let mut plan = Plan::dev(free_pair()?, 0);
    plan.nodes.retain(|n| NODES.contains(&n.id.as_str()));
    for node in &mut plan.nodes {
        node.port = free_pair()?;
    }
    plan.metrics_port_offset = Some(1);
    // A burst tolerance of over an hour, as the linkage bench has (a 1 ns period with a
    // burst of 1,000,000 tolerates 1 ms, and a loaded machine refused a bench request
    // with 429 at that).
    plan.rate_limit = Some((1e6, u32::MAX));
    plan.node_timeout_ms = 10_000;
    let federation = Federation::generate(dir, plan)?;
    let (children, cohort) = population(target);
    crate::load::load(&federation, &children, &crate::load::Progress::Quiet)?;
    let mut handles = Vec::new();
    for node in &federation.plan.nodes {
        let app = agency_node::Application::build(federation.node_settings(&node.id)?)?;
        handles.push(app.handle());
        tokio::spawn(app.run_until_stopped());
    }
    let gateway = tokio::process::Command::new(exe)
        .arg("run-gateway")
        .arg("--config")
        .arg(&federation.gateway_config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("gateway.log"))?)
        .stderr(std::fs::File::create(dir.join("gateway.err"))?)
        .kill_on_drop(true)
        .spawn()
        .context("starting the gateway")?;
    let gateway_url = federation.plan.gateway_url();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !crate::up::answers_ready(&client, &gateway_url).await {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = federation.token(
        PractitionerRole::DesignatedSafeguardingLead,
        "school-a",
        "bench-dsl",
        3600,
    )?;
    Ok(Running {
        metrics_url: format!(
            "http://127.0.0.1:{}/metrics",
            federation.plan.gateway_port + 1
        ),
        federation,
        gateway,
        gateway_url,
        handles,
        client,
        token,
        population: children.len(),
        cohort,
    })
}

impl Running {
    async fn stop(mut self) {
        let _ = self.gateway.kill().await;
        for handle in &self.handles {
            handle.stop(false).await;
        }
        let _ = self.federation.drop_databases();
    }

    fn peak_rss_mib(&self) -> f64 {
        let Some(pid) = self.gateway.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .map(|kib| kib / 1024.0)
            .unwrap_or(0.0)
    }

    /// The gateway's calls so far, per node.
    async fn calls(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        self.per_node("upstream_requests_total{").await
    }

    /// The seconds the nodes took to answer the gateway's calls so far, per node.
    async fn node_seconds(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        self.per_node("upstream_request_duration_seconds_sum{")
            .await
    }

    /// A metric of the gateway's, summed per `node` label.
    async fn per_node(&self, prefix: &str) -> anyhow::Result<BTreeMap<String, f64>> {
        let text = reqwest::get(&self.metrics_url).await?.text().await?;
        let mut calls = BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with(prefix)) {
            let Some(node) = line
                .split("node=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            let count: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *calls.entry(node.to_owned()).or_insert(0.0) += count;
        }
        Ok(calls)
    }

    /// One whole cohort read: rows, time to the first byte of the first row, total.
    async fn read(&self) -> anyhow::Result<(usize, Duration, Duration)> {
        let started = Instant::now();
        let mut response = self
            .client
            .get(format!("{}/v1/cohort?{CONTEXT}", self.gateway_url))
            .bearer_auth(&self.token)
            .header("accept", "text/csv")
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "cohort: {}",
            response.status()
        );
        let mut lines = 0usize;
        let mut first = None;
        while let Some(chunk) = response.chunk().await? {
            let n = chunk.iter().filter(|b| **b == b'\n').count();
            if n > 0 && first.is_none() && lines + n > 1 {
                first = Some(started.elapsed());
            }
            lines += n;
        }
        let total = started.elapsed();
        Ok((lines.saturating_sub(1), first.unwrap_or(total), total))
    }
}

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let fed = start(&options.dir.join("cohort"), &options.exe, options.cohort).await?;
    let result = async {
        // One read to warm connections and caches.
        let (rows, _, _) = fed.read().await?;
        let before = fed.calls().await?;
        let seconds_before = fed.node_seconds().await?;
        let mut times = Vec::new();
        let mut firsts = Vec::new();
        for _ in 0..options.runs.max(1) {
            let (n, first, total) = fed.read().await?;
            anyhow::ensure!(n == rows, "a read answered {n} rows, the first {rows}");
            times.push(total.as_secs_f64() * 1000.0);
            firsts.push(first.as_secs_f64() * 1000.0);
        }
        let per_read = |after: BTreeMap<String, f64>, before: &BTreeMap<String, f64>| {
            after
                .into_iter()
                .map(|(node, n)| {
                    let was = before.get(&node).copied().unwrap_or(0.0);
                    (node, (n - was) / options.runs.max(1) as f64)
                })
                .collect::<BTreeMap<String, f64>>()
        };
        let calls_per_node = per_read(fed.calls().await?, &before);
        let node_ms_per_read: BTreeMap<String, f64> =
            per_read(fed.node_seconds().await?, &seconds_before)
                .into_iter()
                .map(|(node, seconds)| (node, seconds * 1000.0))
                .collect();
        firsts.sort_by(f64::total_cmp);
        let first_row_p50 = firsts[firsts.len() / 2];
        times.sort_by(f64::total_cmp);
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        Ok::<_, anyhow::Error>((
            rows,
            at(0.5),
            at(0.95),
            at(1.0),
            calls_per_node,
            fed.peak_rss_mib(),
            (node_ms_per_read, first_row_p50),
        ))
    }
    .await;
    let (population, cohort_size) = (fed.population, fed.cohort);
    fed.stop().await;
    let (rows, p50, p95, max, calls_per_node, rss, (node_ms_per_read, first_row_p50_ms)) = result?;
    anyhow::ensure!(
        rows == cohort_size,
        "the cohort has {rows} rows; the seed puts {cohort_size} children on roll"
    );
    let mut report = Report {
        nodes: NODES.len(),
        population,
        cohort: rows,
        runs: options.runs.max(1),
        p50_ms: p50,
        p95_ms: p95,
        max_ms: max,
        calls_per_node,
        node_ms_per_read,
        first_row_p50_ms,
        gateway_peak_rss_mib: rss,
        large_population: 0,
        large_cohort: 0,
        large_seconds: 0.0,
        large_first_row_ms: 0.0,
        large_gateway_peak_rss_mib: 0.0,
        commit: crate::bench::commit(),
    };
    if options.large > 0 {
        let fed = start(&options.dir.join("large"), &options.exe, options.large).await?;
        let result = fed.read().await;
        let rss = fed.peak_rss_mib();
        let population = fed.population;
        fed.stop().await;
        let (rows, first, total) = result?;
        report.large_population = population;
        report.large_cohort = rows;
        report.large_seconds = total.as_secs_f64();
        report.large_first_row_ms = first.as_secs_f64() * 1000.0;
        report.large_gateway_peak_rss_mib = rss;
    }
    Ok(report)
}

pub fn render(r: &Report) -> String {
    let calls = r
        .calls_per_node
        .iter()
        .map(|(n, c)| format!("{n} {c:.1}"))
        .collect::<Vec<_>>()
        .join(", ");
    let node_ms = r
        .node_ms_per_read
        .iter()
        .map(|(n, ms)| format!("{n} {ms:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!(
        "cohort of {} children ({} seeded, {} nodes), {} reads: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; \
         first row p50 {:.0} ms; calls per node per read: {calls}; node answer time per read \
         (ms, summed over its calls): {node_ms}; gateway peak RSS {:.1} MiB; commit {}\n",
        r.cohort,
        r.population,
        r.nodes,
        r.runs,
        r.p50_ms,
        r.p95_ms,
        r.max_ms,
        r.first_row_p50_ms,
        r.gateway_peak_rss_mib,
        r.commit
    );
    if r.large_cohort > 0 {
        text.push_str(&format!(
            "streamed cohort of {} children ({} seeded): {:.1} s, first row after {:.0} ms; gateway peak RSS {:.1} MiB\n",
            r.large_cohort, r.large_population, r.large_seconds, r.large_first_row_ms, r.large_gateway_peak_rss_mib
        ));
    }
    text
}
