//! `federation bench node`: one real agency node holding a large population (by default
//! 1,000,000 children), measured as the gateway sees it.
//!
//! 1. Lays out a one-node federation ([`Federation::generate`]) and writes every child
//!    into the node's database through the node's own data layer, as the integration API
//!    stores them (the child and its keyed encodings), in transactions of
//!    [`BATCH`] children. Children come from the dev generator
//!    ([`crate::seed::population`]) in chunks, so memory stays flat at any size; their
//!    records are not seeded (matching reads only the children).
//! 2. Starts a real `federation run-node` process on that database and times its start
//!    until `/readyz` answers.
//! 3. Drives it over mutual TLS with the gateway's certificate and a practitioner token
//!    from the layout's issuer, with the load generator of `federation bench load`:
//!    identifier lookups (a UPN only) and demographic matches (demographics only, half
//!    exact, half drifted the way `federation bench matching` drifts them), each at
//!    concurrency 1 and at `--concurrency`.
//! 4. Stops the node (SIGTERM) and repeats the searches in process (the node's matching
//!    code on the same database, no HTTP) for comparison.
//!
//! Traffic goes only to 127.0.0.1.

use crate::loadgen::{self, Histogram, LoadOptions};
use crate::plan::{Database, DatabaseNames, Federation, NodePlan, Plan};
use agency_node::db;
use agency_node::finding;
use anyhow::Context;
use matching::{MatchingKey, MatchingSettings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemas::{
    AgencyKind, ChildIdentifiers, ChildQuery, ChildUpsert, NhsNumber, PractitionerRole, Upn,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Children per seeding transaction.
pub const BATCH: usize = 10_000;
/// Children the dev generator makes at a time (its records are built and dropped per
/// chunk).
const CHUNK: usize = 100_000;
/// At most this many seeded children are searched for (the request bodies cycle).
const MAX_QUERIES: usize = 20_000;
/// Searches of each kind asked one at a time before the load, to tally the answers.
const ANSWERS_CHECKED: usize = 400;
/// Searches repeated in process after the HTTP runs, per kind.
const IN_PROCESS_QUERIES: usize = 2_000;
/// The node's id in the layout.
const NODE: &str = "health";
const CONTEXT: &str = "purpose=safeguarding&legal_basis=public_task";

/// What `federation bench node` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub children: usize,
    /// SQLite (a file in `dir`) or a PostgreSQL server; on PostgreSQL the node gets a
    /// fresh database, dropped at the end unless `keep`.
    pub database: Database,
    pub seed: u64,
    /// Folder for the layout, the database file and the node's log; a temporary one
    /// when `None`. Removed at the end unless `keep`.
    pub dir: Option<PathBuf>,
    /// Measured seconds of each load run (there are four).
    pub duration: f64,
    /// Seconds of warm-up before each load run.
    pub warmup: f64,
    /// Requests in flight in the concurrent runs.
    pub concurrency: usize,
    /// Port the node listens on (127.0.0.1).
    pub port: u16,
    pub keep: bool,
    /// The `federation` binary that runs the node (`run-node --config`).
    pub exe: PathBuf,
    /// Print progress and the summary.
    pub verbose: bool,
}

#[derive(Debug, Serialize)]
pub struct Seeding {
    pub children: usize,
    pub with_nhs_number: usize,
    /// Generating the children and writing them.
    pub seconds: f64,
    /// Of `seconds`, generating the children (the dev generator builds their records
    /// too, then they are dropped).
    pub generating_seconds: f64,
    pub children_per_second: f64,
    /// Bytes on disk right after seeding (SQLite: file + WAL; PostgreSQL:
    /// `pg_database_size`).
    pub database_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub kind: &'static str,
    pub concurrency: usize,
    pub ok: u64,
    pub errors: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub throughput_rps: f64,
    pub latency_ms: loadgen::LatencyMs,
    pub node_rss_peak_kib: u64,
    pub node_rss_mean_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct InProcess {
    pub kind: &'static str,
    pub searches: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub commit: String,
    pub database: &'static str,
    pub load_average_start: String,
    pub load_average_end: String,
    pub seeding: Seeding,
    /// From spawning the node to its first good `/readyz`.
    pub startup_seconds: f64,
    /// The node's resident memory a second after it became ready.
    pub node_rss_idle_kib: u64,
    /// `VmHWM` of the node at the end of the runs: its peak resident memory over its life,
    /// as the kernel counts it (approximately: it can read a few pages under an earlier
    /// `VmRSS`).
    pub node_rss_high_water_kib: u64,
    /// What the sampled searches found (`outcome` → count), asked one at a time before
    /// the load runs: identifier lookups, exact and drifted demographic matches.
    pub answers: BTreeMap<String, BTreeMap<String, u64>>,
    pub runs: Vec<Run>,
    pub in_process: Vec<InProcess>,
    pub audit_rows_before: i64,
    pub audit_rows_after: i64,
    pub database_bytes_after: u64,
    pub total_seconds: f64,
}

/// One seeded child kept as a search target.
struct Target {
    upn: Upn,
    exact: schemas::Demographics,
    drifted: schemas::Demographics,
}

pub fn node(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.children > 0, "--children must be at least 1");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be at least 1");
    for (name, value) in [("duration", options.duration), ("warmup", options.warmup)] {
        anyhow::ensure!(
            value.is_finite() && value >= 0.0,
            "--{name} must be a number of seconds"
        );
    }
    trust::install_crypto_provider();
    let (dir, temporary) = match &options.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("federation-node-bench-{}", std::process::id())),
            true,
        ),
    };
    // Only a folder this command (or `up`) laid out, or an empty one, is replaced.
    crate::up::clear_previous(&dir)?;
    let mut plan = Plan::dev(options.port.wrapping_add(1), options.port);
    plan.nodes = vec![NodePlan {
        id: NODE.into(),
        name: "Community Health NHS Trust".into(),
        kind: AgencyKind::Health,
        port: options.port,
        host: None,
    }];
    // The load generator is the only caller: no per-member limit in the way.
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
    let result = measure(options, &federation);
    if !options.keep {
        let dropped = federation.drop_databases();
        if temporary || options.dir.is_some() {
            let _ = std::fs::remove_dir_all(&federation.root);
        }
        dropped?;
    } else if options.verbose {
        println!("kept {}", federation.root.display());
    }
    result
}

fn say(options: &Options, line: impl AsRef<str>) {
    if options.verbose {
        println!("{}", line.as_ref());
    }
}

fn measure(options: &Options, federation: &Federation) -> anyhow::Result<Report> {
    let started = Instant::now();
    let url = federation
        .database_urls
        .get(NODE)
        .context("the layout has no node")?
        .clone();
    let report_head = (
        crate::bench::machine(),
        crate::bench::commit(),
        load_average(),
    );
    say(
        options,
        format!(
            "machine: {}; commit {}; load average {}",
            report_head.0, report_head.1, report_head.2
        ),
    );
    say(options, format!("database: {}", redact(&url)));
    let (seeding, targets) = seed(options, federation, &url)?;
    say(
        options,
        format!(
            "seeded {} children in {:.1} s ({:.0}/s); database {:.1} MiB",
            seeding.children,
            seeding.seconds,
            seeding.children_per_second,
            mib(seeding.database_bytes)
        ),
    );

    let log = federation.root.join("logs").join("node.log");
    std::fs::create_dir_all(federation.root.join("logs"))?;
    let (config, _) = federation
        .node_configs
        .get(NODE)
        .context("the layout has no node config")?;
    let out = std::fs::File::create(&log)?;
    let spawned = Instant::now();
    let child = Command::new(&options.exe)
        .arg("run-node")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", options.exe.display()))?;
    let mut node = NodeProcess { child, log };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(drive(options, federation, &mut node, spawned, &targets));
    node.stop();
    let driven = result?;

    let pool = db::connect(&url)?;
    let mut conn = pool.get()?;
    let audit_after = audit_rows(&mut conn)?;
    let database_bytes_after = crate::bench::database_size(&mut conn, &url)?;
    let in_process = in_process(&mut conn, &targets)?;
    drop(conn);
    drop(pool);
    let report = Report {
        machine: report_head.0,
        commit: report_head.1,
        database: match options.database {
            Database::Sqlite => "sqlite",
            Database::Postgres { .. } => "postgres",
        },
        load_average_start: report_head.2,
        load_average_end: load_average(),
        seeding,
        startup_seconds: driven.startup_seconds,
        node_rss_idle_kib: driven.idle_kib,
        node_rss_high_water_kib: driven.high_water_kib,
        answers: driven.answers,
        runs: driven.runs,
        in_process,
        audit_rows_before: driven.audit_before,
        audit_rows_after: audit_after,
        database_bytes_after,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    if options.verbose {
        print_summary(&report);
    }
    Ok(report)
}

/// Writes the children through the node's data layer; returns the seeding figures and
/// the children to search for.
fn seed(
    options: &Options,
    federation: &Federation,
    url: &str,
) -> anyhow::Result<(Seeding, Vec<Target>)> {
    let key_file = federation.root.join("pki").join("matching.key");
    let key = MatchingKey::load(&key_file)
        .map_err(|e| anyhow::anyhow!("loading {}: {e}", key_file.display()))?;
    let pool = db::connect(url).with_context(|| format!("opening {}", redact(url)))?;
    let mut conn = pool.get()?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x6e6f_6465_5f62_656e);
    let wanted: HashSet<usize> = rand::seq::index::sample(
        &mut rng,
        options.children,
        options.children.min(MAX_QUERIES),
    )
    .into_iter()
    .collect();
    let mut targets = Vec::with_capacity(wanted.len());
    let seeder = schemas::AgencyId::parse("federation-seed").map_err(|e| anyhow::anyhow!(e.0))?;
    let started = Instant::now();
    let mut written = 0;
    let mut nhs = NhsCounter::default();
    let mut with_nhs = 0;
    let mut generating_seconds = 0.0;
    let mut last_said = Instant::now();
    for chunk_start in (0..options.children).step_by(CHUNK) {
        let len = CHUNK.min(options.children - chunk_start);
        // Chunk 0 is exactly `population(seed, …)`; later chunks have their own seeds,
        // and identifiers numbered across the whole run so they stay unique.
        let chunk_seed = options
            .seed
            .wrapping_add((chunk_start / CHUNK) as u64 * 0x9e37_79b9);
        let generating = Instant::now();
        let population = crate::seed::population(chunk_seed, len);
        generating_seconds += generating.elapsed().as_secs_f64();
        let mut upserts = Vec::with_capacity(len);
        for (offset, child) in population.into_iter().enumerate() {
            let index = chunk_start + offset;
            let upn = Upn::with_check_letter(&format!("999{:09}", index + 1))
                .map_err(|e| anyhow::anyhow!("UPN of child {index}: {e:?}"))?;
            let nhs_number = nhs.next();
            with_nhs += usize::from(nhs_number.is_some());
            if wanted.contains(&index) {
                let (drifted, _) =
                    crate::bench::drift(&child.demographics, "Okafor-Smith", None, &mut rng);
                targets.push(Target {
                    upn: upn.clone(),
                    exact: child.demographics.clone(),
                    drifted,
                });
            }
            upserts.push((
                format!("H{index:08}"),
                ChildUpsert {
                    demographics: child.demographics.into(),
                    identifiers: ChildIdentifiers {
                        upn: Some(upn),
                        nhs_number,
                        ..Default::default()
                    },
                },
            ));
        }
        for batch in upserts.chunks(BATCH) {
            db::write(&mut conn, |conn| {
                for (local_id, upsert) in batch {
                    let (row, _) = db::children::upsert(conn, local_id, upsert)?;
                    db::keyed::store(conn, &row, &key)?;
                }
                // One audit entry per transaction, as `federation up` seeds.
                let detail =
                    serde_json::json!({"wrote": "synthetic import", "children": batch.len()});
                let entry = agency_node::audit::NewEntry::by_system(&seeder, "seed", None, detail);
                db::audit::append(conn, &entry)?;
                Ok(())
            })?;
            written += batch.len();
            if last_said.elapsed() >= Duration::from_secs(10) || written == options.children {
                last_said = Instant::now();
                let seconds = started.elapsed().as_secs_f64();
                say(
                    options,
                    format!(
                        "  seeding: {written}/{} children, {:.0} s, {:.0}/s",
                        options.children,
                        seconds,
                        written as f64 / seconds.max(1e-9)
                    ),
                );
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let database_bytes = crate::bench::database_size(&mut conn, url)?;
    // Searches in a fixed but shuffled order.
    use rand::seq::SliceRandom;
    targets.shuffle(&mut rng);
    Ok((
        Seeding {
            children: written,
            with_nhs_number: with_nhs,
            seconds,
            generating_seconds,
            children_per_second: written as f64 / seconds.max(1e-9),
            database_bytes,
        },
        targets,
    ))
}

/// NHS numbers as the dev generator hands them out (999 then six digits, skipping
/// numbers without a check digit), but across chunks; none once the range is used up.
#[derive(Default)]
struct NhsCounter(u32);

impl NhsCounter {
    fn next(&mut self) -> Option<NhsNumber> {
        loop {
            self.0 += 1;
            if self.0 > 999_999 {
                return None;
            }
            if let Some(n) = NhsNumber::with_check_digit(&format!("999{:06}", self.0)) {
                return Some(n);
            }
        }
    }
}

struct NodeProcess {
    child: Child,
    log: PathBuf,
}

impl NodeProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then a kill if it has not gone within 10 s.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(15).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// What the HTTP part of the run measured.
struct Driven {
    startup_seconds: f64,
    idle_kib: u64,
    high_water_kib: u64,
    answers: BTreeMap<String, BTreeMap<String, u64>>,
    runs: Vec<Run>,
    audit_before: i64,
}

async fn drive(
    options: &Options,
    federation: &Federation,
    node: &mut NodeProcess,
    spawned: Instant,
    targets: &[Target],
) -> anyhow::Result<Driven> {
    let node_plan = federation
        .plan
        .nodes
        .first()
        .context("the layout has no node")?;
    let base = federation.plan.node_url(node_plan);
    // Ready: a TLS client without identity, like `federation up`'s wait.
    let probe = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let within = crate::up::ready_within(options.children);
    say(
        options,
        format!(
            "starting the node (pid {}), log {}",
            node.pid(),
            node.log.display()
        ),
    );
    loop {
        if let Ok(Some(status)) = node.child.try_wait() {
            anyhow::bail!(
                "the node exited during start ({status}); its log ends:\n{}",
                node.tail()
            );
        }
        if crate::up::answers_ready(&probe, &base).await {
            break;
        }
        anyhow::ensure!(
            spawned.elapsed() < within,
            "the node was not ready within {} s; its log ends:\n{}",
            within.as_secs(),
            node.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let startup = spawned.elapsed().as_secs_f64();
    say(options, format!("node ready after {startup:.1} s"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = proc_status_kib(node.pid(), "VmRSS:").unwrap_or(0);
    say(
        options,
        format!("node RSS idle: {:.1} MiB", idle as f64 / 1024.0),
    );

    let audit_before = {
        let url = federation
            .database_urls
            .get(NODE)
            .context("no node")?
            .clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
            let pool = db::connect(&url)?;
            let mut conn = pool.get()?;
            audit_rows(&mut conn)
        })
        .await??
    };

    let token = federation.token(
        PractitionerRole::DesignatedSafeguardingLead,
        NODE,
        "bench.practitioner",
        // The longest the dev issuer may grant (`max_lifetime_seconds`, 12 h).
        12 * 3600,
    )?;
    let url = format!("{base}/v1/federation/match?{CONTEXT}");
    let body = |q: ChildQuery| serde_json::to_string(&q);
    let identifier_bodies = targets
        .iter()
        .map(|t| {
            body(ChildQuery {
                identifiers: ChildIdentifiers {
                    upn: Some(t.upn.clone()),
                    nhs_number: None,
                    ..Default::default()
                },
                demographics: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Exact and drifted demographics, alternating.
    let demographic_bodies = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            body(ChildQuery {
                identifiers: ChildIdentifiers::default(),
                demographics: Some(if i % 2 == 0 {
                    t.exact.clone().into()
                } else {
                    t.drifted.clone().into()
                }),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let gateway = &federation.gateway_tls;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config(gateway)?)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;

    // What the searches find, one at a time, before any load.
    let mut answers: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (kind, bodies) in [
        ("identifier", &identifier_bodies),
        ("demographic", &demographic_bodies),
    ] {
        for (i, b) in bodies.iter().take(ANSWERS_CHECKED).enumerate() {
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(b.clone())
                .send()
                .await?;
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            anyhow::ensure!(
                status.is_success(),
                "the node answered a {kind} search with {status}: {answer}"
            );
            let outcome = answer["outcome"].as_str().unwrap_or("unknown").to_owned();
            // The demographic searches alternate exact and drifted demographics.
            let label = match kind {
                "demographic" if i % 2 == 0 => "demographic exact",
                "demographic" => "demographic drifted",
                _ => kind,
            };
            *answers
                .entry(label.to_owned())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
        }
    }
    for (label, tally) in &answers {
        say(
            options,
            format!("{label} answers (one at a time): {tally:?}"),
        );
    }

    let mut runs = Vec::new();
    for (kind, bodies) in [
        ("identifier", &identifier_bodies),
        ("demographic", &demographic_bodies),
    ] {
        let mut levels = vec![1];
        if options.concurrency > 1 {
            levels.push(options.concurrency);
        }
        for concurrency in levels {
            let report = loadgen::run(LoadOptions {
                label: format!("{kind} c={concurrency}"),
                url: url.clone(),
                body: None,
                bodies: bodies.clone(),
                headers: vec![("Authorization".into(), format!("Bearer {token}"))],
                ca: federation.ca_file.clone(),
                identity: Some((gateway.cert.clone(), gateway.key.clone())),
                concurrency,
                warmup: Duration::from_secs_f64(options.warmup),
                duration: Duration::from_secs_f64(options.duration),
                http2: false,
                reject: Vec::new(),
                watch: vec![("node".into(), node.pid())],
            })
            .await?;
            let rss = report.rss.get("node");
            let run = Run {
                kind,
                concurrency,
                ok: report.ok,
                errors: report.errors,
                outcomes: report.outcomes,
                throughput_rps: report.throughput_rps,
                latency_ms: report.latency_ms,
                node_rss_peak_kib: rss.map_or(0, |r| r.peak_kib),
                node_rss_mean_kib: rss.map_or(0, |r| r.mean_kib),
            };
            say(
                options,
                format!(
                    "{kind} c={concurrency}: {} ok, {} errors{}, {:.0}/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms; node RSS peak {:.1} MiB",
                    run.ok,
                    run.errors,
                    if run.errors > 0 {
                        format!(" (answers by outcome: {:?})", run.outcomes)
                    } else {
                        String::new()
                    },
                    run.throughput_rps,
                    run.latency_ms.p50,
                    run.latency_ms.p90,
                    run.latency_ms.p99,
                    run.node_rss_peak_kib as f64 / 1024.0
                ),
            );
            runs.push(run);
        }
    }
    let high_water = proc_status_kib(node.pid(), "VmHWM:").unwrap_or(0);
    Ok(Driven {
        startup_seconds: startup,
        idle_kib: idle,
        high_water_kib: high_water,
        answers,
        runs,
        audit_before,
    })
}

/// The same searches through the node's matching code on the same database, no HTTP.
fn in_process(conn: &mut db::DbConnection, targets: &[Target]) -> anyhow::Result<Vec<InProcess>> {
    let settings = MatchingSettings::default();
    let mut out = Vec::new();
    for kind in ["identifier", "demographic"] {
        let mut histogram = Histogram::new();
        for (i, t) in targets.iter().take(IN_PROCESS_QUERIES).enumerate() {
            let query = if kind == "identifier" {
                ChildQuery {
                    identifiers: ChildIdentifiers {
                        upn: Some(t.upn.clone()),
                        nhs_number: None,
                        ..Default::default()
                    },
                    demographics: None,
                }
            } else {
                ChildQuery {
                    identifiers: ChildIdentifiers::default(),
                    demographics: Some(if i % 2 == 0 {
                        t.exact.clone().into()
                    } else {
                        t.drifted.clone().into()
                    }),
                }
            };
            let clock = Instant::now();
            finding::find_with(conn, &query, &settings)?;
            histogram.record(u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        out.push(InProcess {
            kind,
            searches: histogram.count(),
            p50_ms: histogram.percentile(50.0) as f64 / 1000.0,
            p99_ms: histogram.percentile(99.0) as f64 / 1000.0,
            max_ms: histogram.max() as f64 / 1000.0,
        });
    }
    Ok(out)
}

fn audit_rows(conn: &mut db::DbConnection) -> anyhow::Result<i64> {
    use diesel::prelude::*;
    Ok(db::schema::audit_log::table.count().get_result(conn)?)
}

/// A field of `/proc/PID/status` in KiB (Linux only).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The database URL without the folder it lives in (SQLite) — only the file name.
fn redact(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => format!(
            "sqlite://…/{}",
            Path::new(path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        None => url.to_owned(),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_summary(r: &Report) {
    println!();
    println!(
        "## node at {} children ({}) — {}, commit {}",
        r.seeding.children, r.database, r.machine, r.commit
    );
    println!(
        "load average {} at start, {} at end; total {:.0} s",
        r.load_average_start, r.load_average_end, r.total_seconds
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| seeding (children + keyed encodings, {} per transaction) | {:.1} s ({:.0} children/s), of which generating {:.1} s |",
        BATCH, r.seeding.seconds, r.seeding.children_per_second, r.seeding.generating_seconds
    );
    println!(
        "| database size after seeding / after the runs | {:.1} MiB / {:.1} MiB |",
        mib(r.seeding.database_bytes),
        mib(r.database_bytes_after)
    );
    println!("| node start until ready | {:.1} s |", r.startup_seconds);
    println!(
        "| node RSS idle / peak under load (sampled) / high-water mark | {:.1} / {:.1} / {:.1} MiB |",
        r.node_rss_idle_kib as f64 / 1024.0,
        r.runs
            .iter()
            .map(|x| x.node_rss_peak_kib)
            .max()
            .unwrap_or(0) as f64
            / 1024.0,
        r.node_rss_high_water_kib as f64 / 1024.0
    );
    println!(
        "| audit rows before / after the runs | {} / {} |",
        r.audit_rows_before, r.audit_rows_after
    );
    println!();
    println!("| search | concurrency | ok | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in &r.runs {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            run.kind,
            run.concurrency,
            run.ok,
            run.errors,
            run.throughput_rps,
            run.latency_ms.p50,
            run.latency_ms.p90,
            run.latency_ms.p99,
            run.latency_ms.max
        );
    }
    for p in &r.in_process {
        println!(
            "| {} in process (no HTTP) | 1 | {} | 0 | | {:.2} | | {:.2} | {:.2} |",
            p.kind, p.searches, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    println!();
    for (kind, tally) in &r.answers {
        println!("{kind} answers (one at a time, before the load): {tally:?}");
    }
}
