//! `federation bench replicas`: two replicas of one node on one PostgreSQL database,
//! as separate processes, while one of them is killed with SIGKILL every few seconds.
//!
//! A police node runs as replicas A and B (the same configuration, B on another port and
//! with a short claim lease), beside school A's node and the gateway. The bench raises
//! `--events` Operation Encompass notifications about a child both agencies know,
//! writing to either replica (to the other when one is down), while a killer takes down
//! A and B in turn every `--kill-every` seconds and starts them again. When every event
//! is delivered it checks, from the databases, that school A's inbox holds each event
//! exactly once and that the police audit records each delivery once with its chain
//! intact, and prints the figures: raise and drain times, kills, failed writes retried,
//! delivery latency. Every process and the databases live only for the run.
//!
//! With `--rolling` it measures a rolling restart instead: the directory lists both
//! police replicas, clients search and view through the gateway without pause, and the
//! replicas are restarted one at a time (SIGTERM: drain, stop; start; wait until ready)
//! for `--rounds` rounds. Every request must be answered, none with a 5xx, and every
//! view must have the police section `ok`.

use crate::plan::{Database, DatabaseNames, Federation, NodePlan, NotificationKnobs, Plan};
use agency_node::db::{self, DbConnection};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Options {
    pub events: usize,
    /// Seconds between two kills.
    pub kill_every: f64,
    /// The claim lease of both replicas, in milliseconds.
    pub claim_timeout_ms: u64,
    /// The PostgreSQL server (`postgres://USER@HOST:PORT`).
    pub server: String,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub exe: PathBuf,
    /// Measure a rolling restart under load instead of kills under events.
    pub rolling: bool,
    /// Rolling restart: rounds (each restarts both replicas) and concurrent clients.
    pub rounds: usize,
    pub concurrency: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub commit: String,
    pub events: usize,
    pub kills: usize,
    /// Writes that failed on a replica (killed under them, or down) and were sent again.
    pub writes_retried: u64,
    pub raise_seconds: f64,
    /// From the first event raised to the last one delivered.
    pub total_seconds: f64,
    pub delivered: usize,
    /// Events found more than once in the recipient's inbox (must be 0).
    pub inbox_duplicates: usize,
    /// Events whose delivery the sender audited other than once (must be 0).
    pub audit_not_once: usize,
    pub audit_intact: bool,
    /// Raised (outbox row written) to delivered (the recipient's answer recorded).
    pub latency_ms: Latency,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

const SENDER: &str = "police";
const RECIPIENT: &str = "school-a";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn replicas(options: &Options) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(options.events > 0, "--events must be at least 1");
    anyhow::ensure!(
        options.kill_every.is_finite() && options.kill_every > 0.0,
        "--kill-every must be a positive number of seconds"
    );
    trust::install_crypto_provider();
    let (dir, temporary) = match &options.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("federation-replicas-bench-{}", std::process::id())),
            true,
        ),
    };
    crate::up::clear_previous(&dir)?;
    let mut plan = Plan::dev(free_port()?, 0);
    plan.nodes.retain(|n| n.id == SENDER || n.id == RECIPIENT);
    for node in &mut plan.nodes {
        *node = NodePlan {
            port: free_port()?,
            ..node.clone()
        };
    }
    anyhow::ensure!(
        plan.nodes.len() == 2,
        "the dev plan lacks police or school A"
    );
    // Period 1 µs with a burst of a million: a tolerance of 1 s, so the clients never
    // meet the per-member limit (a 1 ns period leaves a 1 ms tolerance, which a loaded
    // machine's clock can overrun).
    plan.rate_limit = Some((1e6, 1_000_000));
    plan.notifications = NotificationKnobs {
        // Quick retries and no dead letters: a replica may be down for a while.
        backoff_ms: Some((200, 2_000)),
        max_attempts: Some(1_000),
        ..Default::default()
    };
    plan.database = Database::Postgres {
        server: options.server.trim_end_matches('/').to_owned(),
        names: DatabaseNames::Unique,
    };
    let federation = Federation::generate(&dir, plan)?;
    let result = run(options, &federation);
    if !options.keep {
        let dropped = federation.drop_databases();
        if temporary || options.dir.is_some() {
            let _ = std::fs::remove_dir_all(&federation.root);
        }
        dropped?;
    } else {
        println!("kept {}", federation.root.display());
    }
    result
}

/// One service process, started again after each kill with the same command.
struct Service {
    name: String,
    url: String,
    config: PathBuf,
    command: &'static str,
    env: Vec<(String, String)>,
    log: PathBuf,
    exe: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn start(&mut self) -> anyhow::Result<()> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.exe)
            .arg(self.command)
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL: no draining, no clean-up; claims it held lapse.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(options: &Options, federation: &Federation) -> anyhow::Result<serde_json::Value> {
    let children = crate::seed::population(42, 200);
    crate::load::load(federation, &children, &crate::load::Progress::Quiet)?;
    let child = children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&SENDER) && a.contains(&RECIPIENT)
        })
        .context("no seeded child known to both the police and school A")?;
    let local_id = child
        .holdings
        .iter()
        .find(|h| h.node == SENDER)
        .map(|h| h.local_id.clone())
        .context("the child has no police id")?;

    let logs = federation.root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let node_url = |id: &str| -> anyhow::Result<(String, PathBuf)> {
        let plan = federation
            .plan
            .nodes
            .iter()
            .find(|n| n.id == id)
            .context("node missing from the plan")?;
        let (config, _) = &federation.node_configs[id];
        Ok((federation.plan.node_url(plan), config.clone()))
    };
    let service = |name: &str, url: String, config: PathBuf, command, env| Service {
        name: name.to_owned(),
        url,
        config,
        command,
        env,
        log: logs.join(format!("{name}.log")),
        exe: options.exe.clone(),
        child: None,
    };
    let lease = (
        "AGENCY_NODE__NOTIFICATIONS__CLAIM_TIMEOUT_MS".to_owned(),
        options.claim_timeout_ms.to_string(),
    );
    // A short drain keeps the rolling restart brisk; the gateway moves on at once.
    let drain = (
        "AGENCY_NODE__SERVER__DRAIN_SECONDS".to_owned(),
        "2".to_owned(),
    );
    let (sender_url, sender_config) = node_url(SENDER)?;
    let (recipient_url, recipient_config) = node_url(RECIPIENT)?;
    let b_port = free_port()?;
    let mut others = vec![
        service(
            "gateway",
            federation.plan.gateway_url(),
            federation.gateway_config.clone(),
            "run-gateway",
            Vec::new(),
        ),
        service(
            RECIPIENT,
            recipient_url,
            recipient_config,
            "run-node",
            Vec::new(),
        ),
    ];
    let mut replicas = vec![
        service(
            "police-a",
            sender_url,
            sender_config.clone(),
            "run-node",
            vec![lease.clone(), drain.clone()],
        ),
        service(
            "police-b",
            format!("https://127.0.0.1:{b_port}"),
            sender_config,
            "run-node",
            vec![
                lease,
                drain,
                (
                    "AGENCY_NODE__SERVER__LISTEN".to_owned(),
                    format!("127.0.0.1:{b_port}"),
                ),
            ],
        ),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if options.rolling {
        // The gateway spreads calls over both replicas and fails over between them.
        let text = std::fs::read_to_string(&federation.directory_file)?;
        let mut directory: trust::directory::DirectoryFile = toml::from_str(&text)?;
        for member in &mut directory.members {
            if member.id.as_str() == SENDER {
                member.replica_urls = vec![replicas[1].url.clone()];
            }
        }
        std::fs::write(
            &federation.directory_file,
            toml::to_string_pretty(&directory)?,
        )?;
    }
    let result = runtime.block_on(async {
        for s in others.iter_mut().chain(replicas.iter_mut()) {
            s.start()?;
        }
        if options.rolling {
            let report = rolling(options, federation, child, &mut replicas, &others).await?;
            return Ok(serde_json::to_value(report)?);
        }
        let driven = drive(options, federation, &local_id, &mut replicas, &others).await?;
        Ok::<_, anyhow::Error>(serde_json::to_value(check(options, federation, driven)?)?)
    });
    for s in others.iter_mut().chain(replicas.iter_mut()) {
        s.stop();
    }
    result
}

#[derive(Debug, Serialize)]
pub struct RollingReport {
    pub machine: String,
    pub commit: String,
    pub restarts: usize,
    pub seconds: f64,
    pub concurrency: usize,
    /// Searches and views sent, and how they were answered (HTTP status → count).
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all (must be 0).
    pub transport_errors: u64,
    pub server_errors: u64,
    /// Views whose police section was not `ok` (status → count; must be empty).
    pub police_not_ok: BTreeMap<String, u64>,
    pub latency_ms: RequestLatency,
}

/// One search or view, sent to answered.
#[derive(Debug, Serialize)]
pub struct RequestLatency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Default)]
struct Tally {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    police_not_ok: BTreeMap<String, u64>,
    latencies: Vec<f64>,
}

async fn rolling(
    options: &Options,
    federation: &Federation,
    child: &crate::seed::SyntheticChild,
    replicas: &mut [Service],
    others: &[Service],
) -> anyhow::Result<RollingReport> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let probe = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let all: Vec<&Service> = others.iter().chain(replicas.iter()).collect();
    wait_ready(&probe, &all).await?;
    // Both replicas listed: let the gateway reread the directory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let token = federation.token(
        schemas::PractitionerRole::DesignatedSafeguardingLead,
        RECIPIENT,
        "dsl.bench",
        3_600,
    )?;
    let query = serde_json::json!({
        "identifiers": {"upn": child.upn, "nhs_number": child.nhs_number},
        "demographics": child.demographics,
    });
    let gateway = federation.plan.gateway_url();
    let context = "purpose=safeguarding&legal_basis=public_task";
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..options.concurrency.max(1) {
        let (client, token, query, gateway) = (
            client.clone(),
            token.clone(),
            query.clone(),
            gateway.clone(),
        );
        let (tally, stop) = (Arc::clone(&tally), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let search = client
                    .post(format!("{gateway}/v1/children:search?{context}"))
                    .bearer_auth(&token)
                    .json(&query)
                    .send()
                    .await;
                let reference = note(&tally, started, search)
                    .await
                    .and_then(|v| v["reference"].as_str().map(str::to_owned));
                let Some(reference) = reference else {
                    continue;
                };
                let started = Instant::now();
                let view = client
                    .get(format!("{gateway}/v1/children/{reference}/view?{context}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                if let Some(view) = note(&tally, started, view).await {
                    let police = view["sections"]
                        .as_array()
                        .and_then(|s| s.iter().find(|s| s["agency_id"] == SENDER))
                        .and_then(|s| s["status"].as_str())
                        .unwrap_or("missing")
                        .to_owned();
                    if police != "ok" {
                        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                        *t.police_not_ok.entry(police).or_default() += 1;
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    let mut restarts = 0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for round in 0..options.rounds {
        for replica in replicas.iter_mut() {
            let at = started.elapsed().as_secs_f64();
            // What an orchestrator does: SIGTERM (the replica drains, then stops), start
            // the new one, wait until it is ready, then go on to the next.
            replica.stop();
            replica.start()?;
            wait_ready(&probe, &[&*replica]).await?;
            restarts += 1;
            println!(
                "  round {}: {} restarted ({:.1} s → {:.1} s)",
                round + 1,
                replica.name,
                at,
                started.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    t.latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        t.latencies
            .get(((t.latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let report = RollingReport {
        machine: crate::bench::machine(),
        commit: crate::bench::commit(),
        restarts,
        seconds,
        concurrency: options.concurrency.max(1),
        requests: t.requests,
        server_errors: t.by_status.range(500..).map(|(_, n)| n).sum(),
        by_status: t.by_status.clone(),
        transport_errors: t.transport_errors,
        police_not_ok: t.police_not_ok.clone(),
        latency_ms: RequestLatency {
            p50: pick(0.5),
            p99: pick(0.99),
            max: pick(1.0),
        },
    };
    println!(
        "{} restarts in {:.1} s; {} requests at concurrency {}: {:?}; 5xx {}; no answer {}; police not ok {:?}",
        report.restarts,
        report.seconds,
        report.requests,
        report.concurrency,
        report.by_status,
        report.server_errors,
        report.transport_errors,
        report.police_not_ok
    );
    println!(
        "latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        report.latency_ms.p50, report.latency_ms.p99, report.latency_ms.max
    );
    anyhow::ensure!(
        report.server_errors == 0
            && report.transport_errors == 0
            && report.police_not_ok.is_empty(),
        "the rolling restart was not invisible (see above)"
    );
    Ok(report)
}

/// Counts one answer; its JSON body when it was a success.
async fn note(
    tally: &std::sync::Mutex<Tally>,
    started: Instant,
    sent: reqwest::Result<reqwest::Response>,
) -> Option<serde_json::Value> {
    let (status, body) = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            (
                Some(status),
                response.json::<serde_json::Value>().await.ok(),
            )
        }
        Err(_) => (None, None),
    };
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.requests += 1;
    t.latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    match status {
        Some(s) => *t.by_status.entry(s).or_default() += 1,
        None => t.transport_errors += 1,
    }
    body.filter(|_| status.is_some_and(|s| (200..300).contains(&s)))
}

struct Driven {
    kills: usize,
    writes_retried: u64,
    raise_seconds: f64,
    total_seconds: f64,
}

async fn wait_ready(probe: &reqwest::Client, services: &[&Service]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for s in services {
        while !crate::up::answers_ready(probe, &s.url).await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not become ready; see {}",
                s.name,
                s.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn incident(n: usize) -> serde_json::Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "source_system_id": format!("bench-incident-{n}"),
        "category": "encompass_notification",
        "effective_from": now.date_naive(),
        "impact": "Police attended an incident at home last night; the child was present.",
        "details": {
            "police_reference": format!("ZZ/{:05}/26", n % 100_000),
            "incident_at": (now - chrono::Duration::hours(2)).to_rfc3339(),
            "location": "the family home",
            "child_present": true,
            "circumstances": "Synthetic incident raised by the replicas bench",
        }
    })
}

async fn drive(
    options: &Options,
    federation: &Federation,
    local_id: &str,
    replicas: &mut [Service],
    others: &[Service],
) -> anyhow::Result<Driven> {
    let probe = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let all: Vec<&Service> = others.iter().chain(replicas.iter()).collect();
    wait_ready(&probe, &all).await?;
    let system = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config(
            &federation.integration_tls[SENDER],
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    println!(
        "raising {} events on two police replicas, killing one every {} s",
        options.events, options.kill_every
    );

    // The writer runs alone; the killer works here, between polls.
    let writer = {
        let system = system.clone();
        let local_id = local_id.to_owned();
        let events = options.events;
        tokio::spawn(async move {
            let mut retried = 0u64;
            for n in 0..events {
                let body = incident(n);
                let mut attempt = 0usize;
                loop {
                    let url = format!(
                        "{}/v1/children/{local_id}/records",
                        urls[(n + attempt) % urls.len()]
                    );
                    match system.post(&url).json(&body).send().await {
                        // 201 created; 200 when a retried write had landed before its
                        // replica died (the upsert by source id raises no second event).
                        Ok(r) if r.status().is_success() => break,
                        _ => {
                            retried += 1;
                            attempt += 1;
                            if attempt.is_multiple_of(urls.len()) {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }
            }
            retried
        })
    };
    let started = Instant::now();
    let url = federation.database_urls[SENDER].clone();
    let mut conn = db::establish(&url)?;
    let mut kills = 0usize;
    let mut next_kill = started + Duration::from_secs_f64(options.kill_every);
    let mut raise_seconds = None;
    let mut writes_retried = 0;
    let mut writer = Some(writer);
    let deadline = Duration::from_secs(600 + options.events as u64);
    loop {
        if let Some(w) = writer.take_if(|w| w.is_finished()) {
            writes_retried = w.await?;
            raise_seconds = Some(started.elapsed().as_secs_f64());
        }
        let delivered = delivered(&mut conn)?;
        if raise_seconds.is_some() && delivered >= options.events {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < deadline,
            "{delivered} of {} events delivered after {} s",
            options.events,
            deadline.as_secs()
        );
        if Instant::now() >= next_kill {
            let victim = &mut replicas[kills % 2];
            victim.kill();
            kills += 1;
            println!(
                "  {:>6.1} s: killed {} (SIGKILL); {delivered} delivered so far",
                started.elapsed().as_secs_f64(),
                victim.name
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            victim.start()?;
            next_kill = Instant::now() + Duration::from_secs_f64(options.kill_every);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Driven {
        kills,
        writes_retried,
        raise_seconds: raise_seconds.unwrap_or_default(),
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

fn delivered(conn: &mut DbConnection) -> anyhow::Result<usize> {
    Ok(db::notifications::count_by_status(conn)?
        .into_iter()
        .find(|(s, _)| s == db::notifications::DELIVERED)
        .map(|(_, n)| usize::try_from(n).unwrap_or_default())
        .unwrap_or_default())
}

fn check(options: &Options, federation: &Federation, driven: Driven) -> anyhow::Result<Report> {
    let mut sender = db::establish(&federation.database_urls[SENDER])?;
    let mut recipient = db::establish(&federation.database_urls[RECIPIENT])?;
    let events = db::notifications::list(&mut sender, None, 1_000_000)?;
    let inbox = db::notifications::inbox(&mut recipient, false, 1_000_000)?;
    let mut in_inbox: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &inbox {
        *in_inbox.entry(item.id.as_str()).or_default() += 1;
    }
    let mut audited: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(first) = events.first() {
        for entry in db::audit::for_child(&mut sender, &first.child_id)? {
            if entry.action == "disclosure" && entry.actor_agency.as_deref() == Some(RECIPIENT) {
                *audited.entry(entry.correlation_id).or_default() += 1;
            }
        }
    }
    let mut latencies = Vec::new();
    let mut inbox_duplicates = 0;
    let mut audit_not_once = 0;
    for event in &events {
        match in_inbox.get(event.id.as_str()) {
            Some(1) => {}
            _ => inbox_duplicates += 1,
        }
        if audited.get(&event.id) != Some(&1) {
            audit_not_once += 1;
        }
        if let Some(at) = db::notifications::recipients(&mut sender, &event.id)?
            .iter()
            .find(|r| r.agency_id == RECIPIENT)
            .and_then(|r| r.delivered_at)
        {
            latencies.push((at - event.created_at).num_milliseconds().max(0) as f64);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let verified = db::audit::verify(&mut sender)?;
    let report = Report {
        machine: crate::bench::machine(),
        commit: crate::bench::commit(),
        events: options.events,
        kills: driven.kills,
        writes_retried: driven.writes_retried,
        raise_seconds: driven.raise_seconds,
        total_seconds: driven.total_seconds,
        delivered: latencies.len(),
        inbox_duplicates,
        audit_not_once,
        audit_intact: verified.intact,
        latency_ms: Latency {
            p50: pick(0.5),
            p95: pick(0.95),
            max: pick(1.0),
        },
    };
    println!(
        "events {}, kills {}, writes retried {}; raised in {:.1} s, all delivered after {:.1} s",
        report.events,
        report.kills,
        report.writes_retried,
        report.raise_seconds,
        report.total_seconds
    );
    println!(
        "delivered {} (inbox copies other than one: {}; deliveries audited other than once: {}; audit chain intact: {})",
        report.delivered, report.inbox_duplicates, report.audit_not_once, report.audit_intact
    );
    println!(
        "raised → delivered: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        report.latency_ms.p50, report.latency_ms.p95, report.latency_ms.max
    );
    anyhow::ensure!(
        events.len() == options.events
            && report.delivered == options.events
            && inbox_duplicates == 0
            && audit_not_once == 0
            && verified.intact,
        "replicas lost, repeated or mis-audited a delivery (see above)"
    );
    Ok(report)
}
