//! `federation up`: lay out, seed, start every node and the gateway as child processes,
//! wait until they answer, print how to use them, and stop them all on Ctrl-C.

use crate::plan::{Database, Federation, Plan};
use crate::seed::{self, SyntheticChild};
use anyhow::Context;
use schemas::PractitionerRole;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub struct UpOptions {
    pub dir: PathBuf,
    pub children: usize,
    pub seed: u64,
    pub gateway_port: u16,
    pub first_node_port: u16,
    pub token_ttl_hours: i64,
    /// How the gateway asks nodes to find a child.
    pub matching: matching::MatchingMode,
    pub database: Database,
    /// The gateway uses the nodes' record-locator filters.
    pub locator: bool,
    /// Start a node that dies again, with backoff.
    pub restart: bool,
    /// Requests a second for every caller (burst twice that), instead of the services'
    /// defaults.
    pub rate_limit: Option<f64>,
}

/// Demo practitioners whose tokens `up` prints: (env name, role, agency, subject).
pub const DEMO_PRACTITIONERS: &[(&str, PractitionerRole, &str, &str)] = &[
    (
        "TOKEN_DSL",
        PractitionerRole::DesignatedSafeguardingLead,
        "school-a",
        "dsl.northfield",
    ),
    (
        "TOKEN_TEACHER",
        PractitionerRole::Teacher,
        "school-a",
        "teacher.northfield",
    ),
    (
        "TOKEN_SOCIAL_WORKER",
        PractitionerRole::SocialWorker,
        "social-care",
        "sw.county",
    ),
    (
        "TOKEN_SCHOOL_NURSE",
        PractitionerRole::SchoolNurse,
        "health",
        "nurse.community",
    ),
    (
        "TOKEN_POLICE_OFFICER",
        PractitionerRole::PoliceOfficer,
        "police",
        "officer.county",
    ),
    (
        "TOKEN_VIRTUAL_SCHOOL_HEAD",
        PractitionerRole::VirtualSchoolHead,
        "virtual-school",
        "vsh.county",
    ),
    // The other school's DSL: no relationship with Northfield's pupils (the tour shows
    // what they see, and the break-glass).
    (
        "TOKEN_DSL_SCHOOL_B",
        PractitionerRole::DesignatedSafeguardingLead,
        "school-b",
        "dsl.riverside",
    ),
    // The second authority: its social worker, and the DSL of the school in its area.
    (
        "TOKEN_SOCIAL_WORKER_B",
        PractitionerRole::SocialWorker,
        "social-care-b",
        "sw.southvale",
    ),
    (
        "TOKEN_DSL_SCHOOL_C",
        PractitionerRole::DesignatedSafeguardingLead,
        "school-c",
        "dsl.southvale",
    ),
];

/// Refuses to clear a folder that does not look like one `up` made.
pub fn clear_previous(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let ours = dir.join("directory.toml").exists() || std::fs::read_dir(dir)?.next().is_none();
    anyhow::ensure!(
        ours,
        "{} exists and is not a dev federation folder; choose another --dir",
        dir.display()
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

pub async fn up(opts: UpOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    clear_previous(&opts.dir)?;
    let plan = Plan {
        matching_mode: opts.matching,
        database: opts.database.clone(),
        locator_refresh_seconds: opts.locator.then_some(60),
        metrics_port_offset: Some(1000),
        rate_limit: opts
            .rate_limit
            .map(|per_second| (per_second, (2.0 * per_second).ceil() as u32)),
        ..Plan::dev(opts.gateway_port, opts.first_node_port)
    };
    let federation = Federation::generate(&opts.dir, plan)?;
    println!(
        "Generated the dev PKI, federation directory and token issuer in {}",
        federation.root.display()
    );
    if let Some((per_second, burst)) = federation.plan.rate_limit {
        println!(
            "Rate limits: {per_second} requests a second for every caller, bursts of {burst} \
             (--rate-limit), instead of the services' defaults"
        );
    }
    if let Database::Postgres { server, .. } = &opts.database {
        println!(
            "Databases on PostgreSQL at {server}: {}",
            federation
                .database_urls
                .values()
                .filter_map(|url| url.rsplit('/').next())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let seeding = Instant::now();
    let children = seed::population(opts.seed, opts.children);
    let generated = seeding.elapsed();
    let progress =
        crate::load::Progress::for_stdout(crate::load::holdings(&children) as u64, "seeding");
    let written = crate::load::load(&federation, &children, &progress)?;
    let summary: Vec<String> = written
        .iter()
        .map(|(node, n)| format!("{node} {n}"))
        .collect();
    println!(
        "Seeded {} synthetic children (seed {}) in {:.1} s ({:.1} s generating): {}",
        children.len(),
        opts.seed,
        seeding.elapsed().as_secs_f64(),
        generated.as_secs_f64(),
        summary.join(", ")
    );

    let mut processes = start_all(&federation).await?;
    let largest = written.values().copied().max().unwrap_or(0);
    wait_until_ready(&federation, &mut processes, ready_within(largest)).await?;
    write_session(&federation, &opts, &processes, &children)?;
    print_banner(&federation, &children, &processes, started.elapsed());

    supervise(&mut processes, opts.restart).await;
    println!("\nStopping the federation…");
    stop_all(&mut processes).await;
    println!("Stopped.");
    Ok(())
}

pub struct Process {
    pub name: String,
    pub url: String,
    pub child: Child,
    pub log: PathBuf,
    pub exited: bool,
    /// The `federation` subcommand that runs it and its configuration, to start it again.
    command: &'static str,
    config: PathBuf,
    /// With `--restart`: when it last started, how long to wait before the next start
    /// after a death, and when that start is due.
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
}

/// The first wait before a dead node is started again, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A node that ran this long before dying is started again after [`FIRST_BACKOFF`].
const STABLE_AFTER: Duration = Duration::from_secs(60);

fn spawn_service(
    exe: &Path,
    command: &str,
    config: &Path,
    log: &Path,
    append: bool,
) -> anyhow::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)?;
    Ok(Command::new(exe)
        .arg(command)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()?)
}

async fn start_all(federation: &Federation) -> anyhow::Result<Vec<Process>> {
    let exe = std::env::current_exe().context("locating the federation binary")?;
    let logs = federation.root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut processes = Vec::new();
    let mut services: Vec<(String, &str, PathBuf, String)> = federation
        .plan
        .nodes
        .iter()
        .filter_map(|node| {
            let (config, _) = federation.node_configs.get(&node.id)?;
            Some((
                node.id.clone(),
                "run-node",
                config.clone(),
                federation.plan.node_url(node),
            ))
        })
        .collect();
    services.push((
        "gateway".into(),
        "run-gateway",
        federation.gateway_config.clone(),
        federation.plan.gateway_url(),
    ));
    for (name, command, config, url) in services {
        let log = logs.join(format!("{name}.log"));
        let child = spawn_service(&exe, command, &config, &log, false)
            .with_context(|| format!("starting {name}"))?;
        processes.push(Process {
            name,
            url,
            child,
            log,
            exited: false,
            command,
            config,
            started: Instant::now(),
            backoff: FIRST_BACKOFF,
            restart_at: None,
        });
    }
    Ok(processes)
}

/// Whether the service at `base_url` answers `/readyz` with a success now.
pub async fn answers_ready(client: &reqwest::Client, base_url: &str) -> bool {
    client
        .get(format!("{base_url}/readyz"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

/// How long to wait for the services to answer `/readyz`. A node brings its derived data
/// (keyed encodings) up to date before it listens, which takes time in proportion to the
/// children it holds: with 100,000 children a school node holds over 50,000, which a debug
/// build on a loaded machine needed more than the first minute for. So: a minute, plus
/// a second for every 150 children of the largest node.
pub fn ready_within(largest_node_children: usize) -> Duration {
    Duration::from_secs(60 + (largest_node_children / 150) as u64)
}

async fn wait_until_ready(
    federation: &Federation,
    processes: &mut [Process],
    within: Duration,
) -> anyhow::Result<()> {
    let tls = trust::tls::client_config_without_identity(&federation.ca_file)?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + within;
    for p in processes.iter_mut() {
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                let tail = std::fs::read_to_string(&p.log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(15).collect();
                anyhow::bail!(
                    "{} exited during start ({status}); its log {} ends:\n{}",
                    p.name,
                    p.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if answers_ready(&http, &p.url).await {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not become ready within {} s; see {}",
                p.name,
                within.as_secs(),
                p.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn env_name(id: &str) -> String {
    id.to_ascii_uppercase().replace('-', "_")
}

/// Up to five children chosen to show the federation: known to many agencies, looked
/// after, found by police only through demographics, and one known only to school.
pub fn samples(children: &[SyntheticChild]) -> Vec<&SyntheticChild> {
    let mut chosen: Vec<&SyntheticChild> = Vec::new();
    let mut take = |pred: &dyn Fn(&SyntheticChild) -> bool| {
        if let Some(c) = children
            .iter()
            .find(|c| pred(c) && !chosen.iter().any(|s| s.index == c.index))
        {
            chosen.push(c);
        }
    };
    // First: a Northfield pupil (TOKEN_DSL's school has them on roll, so the tour's DSL
    // has a relationship with them).
    take(&|c| {
        c.story.contains("child protection plan")
            && c.agencies().contains(&"police")
            && c.agencies().contains(&"school-a")
            && c.holdings.len() >= 4
    });
    take(&|c| c.story.contains("child protection plan") && c.holdings.len() >= 3);
    take(&|c| c.story.contains("looked after"));
    take(&|c| c.story.contains("early help") && !c.in_need);
    take(&|c| c.holdings.len() == 1);
    chosen
}

fn write_session(
    federation: &Federation,
    opts: &UpOptions,
    processes: &[Process],
    children: &[SyntheticChild],
) -> anyhow::Result<()> {
    let mut env =
        String::from("# Written by `federation up`: source it to drive the dev federation.\n");
    let gw = federation.plan.gateway_url();
    writeln!(env, "GATEWAY_URL={gw}")?;
    writeln!(env, "DOCS_URL={gw}/docs/")?;
    writeln!(env, "CA_CERT={}", federation.ca_file.display())?;
    writeln!(env, "DIRECTORY={}", federation.directory_file.display())?;
    for node in &federation.plan.nodes {
        writeln!(
            env,
            "NODE_URL_{}={}",
            env_name(&node.id),
            federation.plan.node_url(node)
        )?;
    }
    // Each service's Prometheus metrics: plain HTTP on loopback, not on its TLS address.
    let metrics = |port| crate::plan::metrics_address(port, federation.plan.metrics_port_offset);
    writeln!(
        env,
        "METRICS_URL_GATEWAY=http://{}/metrics",
        metrics(federation.plan.gateway_port)
    )?;
    for node in &federation.plan.nodes {
        writeln!(
            env,
            "METRICS_URL_{}=http://{}/metrics",
            env_name(&node.id),
            metrics(node.port)
        )?;
    }
    if let (Some(node), Some(tls)) = (
        federation.plan.nodes.first(),
        federation.integration_tls.get("school-a"),
    ) {
        writeln!(
            env,
            "INTEGRATION_NODE_URL={}",
            federation.plan.node_url(node)
        )?;
        writeln!(env, "INTEGRATION_CERT={}", tls.cert.display())?;
        writeln!(env, "INTEGRATION_KEY={}", tls.key.display())?;
    }
    // Every agency's own system, e.g. INTEGRATION_CERT_POLICE for the police case system.
    for (node, tls) in &federation.integration_tls {
        writeln!(
            env,
            "INTEGRATION_CERT_{}={}",
            env_name(node),
            tls.cert.display()
        )?;
        writeln!(
            env,
            "INTEGRATION_KEY_{}={}",
            env_name(node),
            tls.key.display()
        )?;
    }
    for (name, role, agency, subject) in DEMO_PRACTITIONERS {
        let token = federation.token(*role, agency, subject, opts.token_ttl_hours * 3600)?;
        writeln!(env, "{name}={token}")?;
    }
    for p in processes {
        if let Some(pid) = p.child.id() {
            writeln!(env, "PID_{}={pid}", env_name(&p.name))?;
        }
    }
    // It holds demo tokens: the owner's only.
    crate::plan::write_secret(&federation.root.join("session.env"), &env)?;
    let samples: Vec<_> = samples(children)
        .into_iter()
        .map(|c| {
            json!({
                "story": c.story,
                "demographics": c.demographics,
                "identifiers": {"upn": c.upn, "nhs_number": c.nhs_number},
                "expected_agencies": c.agencies(),
                "local_ids": c.holdings.iter()
                    .map(|h| (h.node.to_owned(), json!(h.local_id)))
                    .collect::<serde_json::Map<String, serde_json::Value>>(),
            })
        })
        .collect();
    std::fs::write(
        federation.root.join("sample-children.json"),
        serde_json::to_string_pretty(&samples)? + "\n",
    )?;
    Ok(())
}

fn print_banner(
    federation: &Federation,
    children: &[SyntheticChild],
    processes: &[Process],
    took: Duration,
) {
    let root = federation.root.display();
    let gw = federation.plan.gateway_url();
    println!("\nThe dev federation is up ({:.1} s):", took.as_secs_f64());
    for p in processes {
        println!(
            "  {:<12} {}   pid {}   log {}",
            p.name,
            p.url,
            p.child.id().unwrap_or(0),
            p.log.display()
        );
    }
    println!("\nAPI docs (Swagger UI):  {gw}/docs/");
    println!(
        "  Your browser will not know the dev CA: accept the warning, or import {}.",
        federation.ca_file.display()
    );
    println!("  Authorize with a token from {root}/session.env (e.g. TOKEN_DSL).");
    println!("\nTokens, certificates and URLs:  {root}/session.env");
    println!("Sample children to search for: {root}/sample-children.json");
    if let Some(child) = samples(children).first() {
        println!(
            "\nTry it (a child known to {}):",
            child.agencies().join(", ")
        );
        println!("  source {root}/session.env");
        let query = json!({
            "identifiers": {"upn": child.upn, "nhs_number": child.nhs_number},
            "demographics": child.demographics,
        })
        .to_string()
        // Names such as O'Neill must survive the single-quoted shell argument.
        .replace('\'', "'\\''");
        println!(
            "  curl -s --cacert \"$CA_CERT\" -H \"Authorization: Bearer $TOKEN_DSL\" -H 'content-type: application/json' \\\n    -d '{query}' \"$GATEWAY_URL/v1/children:search?purpose=safeguarding&legal_basis=public_task\""
        );
        println!("  # then, with the \"reference\" it returns:");
        println!(
            "  curl -s --cacert \"$CA_CERT\" -H \"Authorization: Bearer $TOKEN_DSL\" \\\n    \"$GATEWAY_URL/v1/children/$REFERENCE/view?purpose=safeguarding&legal_basis=public_task\""
        );
        println!(
            "\nStop one agency (e.g. kill the police node's pid above) and view again: its section turns \"unavailable\"."
        );
    }
    println!("\nPress Ctrl-C to stop everything.");
}

/// Runs until Ctrl-C or SIGTERM, reporting any service that stops on its own; with
/// `restart`, starting a node that stopped again after a backoff.
async fn supervise(processes: &mut [Process], restart: bool) {
    let exe = std::env::current_exe().ok();
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = terminated => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                for p in processes.iter_mut().filter(|p| !p.exited) {
                    if let Ok(Some(status)) = p.child.try_wait() {
                        p.exited = true;
                        if p.name == "gateway" {
                            println!("the gateway stopped ({status}); restart `federation up` to get it back");
                        } else if restart {
                            if p.started.elapsed() >= STABLE_AFTER {
                                p.backoff = FIRST_BACKOFF;
                            }
                            p.restart_at = Some(Instant::now() + p.backoff);
                            println!(
                                "{} stopped ({status}); starting it again in {} s (--restart)",
                                p.name,
                                p.backoff.as_secs()
                            );
                        } else {
                            println!("{} stopped ({status}); the gateway now reports it unavailable", p.name);
                        }
                    }
                }
                for p in processes.iter_mut().filter(|p| p.exited) {
                    let (Some(due), Some(exe)) = (p.restart_at, exe.as_deref()) else {
                        continue;
                    };
                    if Instant::now() < due {
                        continue;
                    }
                    p.restart_at = None;
                    match spawn_service(exe, p.command, &p.config, &p.log, true) {
                        Ok(child) => {
                            println!(
                                "{} started again (pid {})",
                                p.name,
                                child.id().unwrap_or_default()
                            );
                            p.child = child;
                            p.exited = false;
                            p.started = Instant::now();
                            p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
                        }
                        Err(e) => {
                            p.restart_at = Some(Instant::now() + p.backoff);
                            println!("{} could not be started again: {e:#}; trying again in {} s", p.name, p.backoff.as_secs());
                            p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
            }
        }
    }
}

async fn stop_all(processes: &mut [Process]) {
    for p in processes.iter_mut().filter(|p| !p.exited) {
        if let Some(pid) = p.child.id() {
            // SIGTERM lets actix drain in-flight requests; kill follows if it lingers.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
    }
    for p in processes.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), p.child.wait())
            .await
            .is_err()
        {
            let _ = p.child.kill().await;
        }
    }
}

/// What `federation layout` is asked to lay out: the dev federation with each service on
/// a host address of its own (for a multi-host run), not started.
pub struct LayoutOptions {
    pub dir: PathBuf,
    pub children: usize,
    pub seed: u64,
    pub gateway_host: String,
    pub gateway_port: u16,
    pub first_node_port: u16,
    /// `(node id, host address)`; nodes not named stay on the gateway's host.
    pub node_hosts: Vec<(String, String)>,
    /// `(node id, host address)` of further replicas of a node.
    pub replica_hosts: Vec<(String, String)>,
    /// Where the nodes keep their data (PostgreSQL: a fresh database per node).
    pub database: Database,
    pub node_timeout_ms: u64,
}

/// Generates and seeds a federation without starting it, and writes `layout.env` (the
/// URLs, the CA and a few practitioner tokens) and `sample-query.json` (a query for a
/// child whom several agencies hold) next to it.
pub fn layout(opts: LayoutOptions) -> anyhow::Result<()> {
    clear_previous(&opts.dir)?;
    let mut plan = Plan::dev(opts.gateway_port, opts.first_node_port);
    plan.metrics_port_offset = Some(1000);
    plan.host = opts.gateway_host.clone();
    plan.node_timeout_ms = opts.node_timeout_ms;
    for node in &mut plan.nodes {
        node.host = opts
            .node_hosts
            .iter()
            .find(|(id, _)| *id == node.id)
            .map(|(_, host)| host.clone());
    }
    for (id, host) in &opts.replica_hosts {
        plan.replica_hosts
            .entry(id.clone())
            .or_default()
            .push(host.clone());
    }
    plan.database = match &opts.database {
        Database::Sqlite => Database::Sqlite,
        Database::Postgres { server, .. } => Database::Postgres {
            server: server.clone(),
            names: crate::plan::DatabaseNames::Unique,
        },
    };
    let unknown: Vec<&str> = opts
        .node_hosts
        .iter()
        .chain(&opts.replica_hosts)
        .filter(|(id, _)| !plan.nodes.iter().any(|n| &n.id == id))
        .map(|(id, _)| id.as_str())
        .collect();
    anyhow::ensure!(unknown.is_empty(), "no such node: {}", unknown.join(", "));
    let federation = Federation::generate(&opts.dir, plan)?;
    let children = seed::population(opts.seed, opts.children);
    let progress =
        crate::load::Progress::for_stdout(crate::load::holdings(&children) as u64, "seeding");
    crate::load::load(&federation, &children, &progress)?;
    let mut env = String::from("# Written by `federation layout`.\n");
    writeln!(env, "GATEWAY_URL={}", federation.plan.gateway_url())?;
    writeln!(env, "CA_CERT={}", federation.ca_file.display())?;
    writeln!(
        env,
        "GATEWAY_CONFIG={}",
        federation.gateway_config.display()
    )?;
    for node in &federation.plan.nodes {
        let name = env_name(&node.id);
        writeln!(env, "NODE_URL_{name}={}", federation.plan.node_url(node))?;
        if let Some((config, _)) = federation.node_configs.get(&node.id) {
            writeln!(env, "NODE_CONFIG_{name}={}", config.display())?;
        }
        for (i, url) in federation.plan.replica_urls(node).iter().enumerate() {
            writeln!(env, "NODE_REPLICA_URL_{name}_{}={url}", i + 1)?;
        }
        if let (Database::Postgres { .. }, Some(url)) = (
            &federation.plan.database,
            federation.database_urls.get(&node.id),
        ) {
            writeln!(env, "DATABASE_URL_{name}={url}")?;
        }
    }
    for (name, role, agency, subject) in DEMO_PRACTITIONERS {
        let token = federation.token(*role, agency, subject, 3600)?;
        writeln!(env, "{name}={token}")?;
    }
    crate::plan::write_secret(&federation.root.join("layout.env"), &env)?;
    let most_known = children
        .iter()
        .max_by_key(|c| c.agencies().len())
        .context("no children generated")?;
    std::fs::write(
        federation.root.join("sample-query.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "identifiers": {"upn": most_known.upn, "nhs_number": most_known.nhs_number},
            "demographics": most_known.demographics,
        }))?,
    )?;
    println!(
        "Laid out the federation in {} ({} children; the sample child is held by {})",
        federation.root.display(),
        children.len(),
        most_known.agencies().join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_wait_grows_with_the_largest_node() {
        assert_eq!(ready_within(2_000), Duration::from_secs(73));
        // 100,000 children: school-a holds 54,563 and needed 116 s in a debug build on a
        // loaded machine; the old fixed 60 s stopped `up`.
        assert!(ready_within(54_563) > Duration::from_secs(116 * 3));
    }
}
