//! `federation bench fairness`: two agencies flood the gateway at many times their quota
//! while a third agency's designated safeguarding lead reads views at a steady rate. The
//! question is whether the DSL's views stay whole: nodes limit per (gateway, requesting
//! agency), a node's 429 holds back only the agency it was for, and no circuit breaker
//! opens because of 429s (issue 21, finding 2).
//!
//! Everything is real and in one process: a generated dev PKI, SQLite nodes seeded with
//! synthetic children, every node and the gateway on loopback with mutual TLS, and the
//! practitioners' HTTPS clients. The gateway's breakers are read from its metrics address
//! twice a second during the run.

use crate::plan::{Federation, Plan};
use crate::seed::{self, SyntheticChild};
use anyhow::Context;
use schemas::PractitionerRole;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Options {
    /// Each agency's quota, requests per second (bursts of twice as many): the gateway's
    /// per agency and per practitioner, and each node's per (gateway, agency).
    pub quota: f64,
    /// The flooding agencies send this many times their quota.
    pub flood_factor: f64,
    /// How long the flood lasts.
    pub seconds: f64,
    /// The DSL's steady rate of views.
    pub dsl_per_second: f64,
    pub children: usize,
    /// Where the federation is laid out (emptied first).
    pub dir: PathBuf,
}

/// What one side of the run saw.
#[derive(Debug, Default, Serialize)]
pub struct Side {
    pub sent: usize,
    /// Requests not sent because 512 were already waiting (the load generator's bound).
    pub not_sent: usize,
    /// Answers by HTTP status (0: no answer).
    pub statuses: BTreeMap<u16, usize>,
    /// Views answered 200 in which every agency answered (`ok`, `withheld`, `not_found`).
    pub fully_ok: usize,
    /// Sections a node's 429 held back (`unavailable`, "over its rate limit").
    pub sections_held_back: usize,
    /// Sections `unavailable`, `timeout` or `error` for any other reason.
    pub sections_failed: usize,
    /// Latency of the answered views, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(skip)]
    latencies: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub quota_per_second: f64,
    pub flood_per_second_each: f64,
    pub seconds: f64,
    pub dsl_per_second: f64,
    /// The DSL's views before the flood (5 s), as a baseline.
    pub dsl_before: Side,
    /// The DSL's views during the flood.
    pub dsl: Side,
    /// The DSL's views fully ok during the flood, in percent.
    pub dsl_fully_ok_percent: f64,
    /// Each flooding agency.
    pub flooders: BTreeMap<String, Side>,
    /// The highest breaker state the gateway reported for each node during the run
    /// (0 closed, 1 half-open, 2 open).
    pub worst_breaker: BTreeMap<String, i64>,
    /// Calls the gateway held back or saw refused with 429, per node.
    pub rate_limited_calls: BTreeMap<String, u64>,
}

impl Side {
    fn finish(&mut self) {
        self.latencies.sort_by(f64::total_cmp);
        let at = |q: f64| {
            self.latencies
                .get(((self.latencies.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        self.p50_ms = at(0.5);
        self.p99_ms = at(0.99);
    }

    fn record(&mut self, status: u16, body: Option<&Value>, elapsed: Duration) {
        *self.statuses.entry(status).or_default() += 1;
        let Some(view) = body.filter(|_| status == 200) else {
            return;
        };
        self.latencies.push(elapsed.as_secs_f64() * 1000.0);
        let mut whole = true;
        for section in view["sections"].as_array().into_iter().flatten() {
            match section["status"].as_str() {
                Some("ok" | "withheld" | "not_found") => {}
                _ => {
                    whole = false;
                    let held_back = section["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("rate limit"));
                    if held_back {
                        self.sections_held_back += 1;
                    } else {
                        self.sections_failed += 1;
                    }
                }
            }
        }
        if whole {
            self.fully_ok += 1;
        }
    }
}

/// A practitioner with a reference to a child their agency holds.
#[derive(Clone)]
struct Reader {
    token: String,
    view_url: String,
}

struct Running {
    federation: Federation,
    children: Vec<SyntheticChild>,
    gateway_url: String,
    metrics_url: String,
    handles: Vec<actix_web::dev::ServerHandle>,
    client: reqwest::Client,
}

const CONTEXT: &str = "purpose=safeguarding&legal_basis=public_task";
const FLOODERS: [(&str, PractitionerRole); 2] = [
    ("police", PractitionerRole::PoliceOfficer),
    ("social-care", PractitionerRole::SocialWorker),
];
/// Practitioners per flooding agency: the agency's quota, not one practitioner's, is
/// what the flood runs into.
const PRACTITIONERS_EACH: usize = 10;
const MAX_WAITING: usize = 512;

pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let fed = start(options).await?;
    let result = measure(&fed, options).await;
    for handle in &fed.handles {
        handle.stop(false).await;
    }
    result
}

async fn start(options: &Options) -> anyhow::Result<Running> {
    trust::install_crypto_provider();
    if options.dir.exists() {
        std::fs::remove_dir_all(&options.dir)
            .with_context(|| format!("emptying {}", options.dir.display()))?;
    }
    std::fs::create_dir_all(&options.dir)?;
    let gateway_listener = TcpListener::bind("127.0.0.1:0")?;
    let mut plan = Plan::dev(gateway_listener.local_addr()?.port(), 0);
    plan.nodes
        .retain(|n| ["school-a", "social-care", "police", "health"].contains(&n.id.as_str()));
    let mut listeners = BTreeMap::new();
    for node in &mut plan.nodes {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        node.port = listener.local_addr()?.port();
        listeners.insert(node.id.clone(), listener);
    }
    plan.rate_limit = Some((options.quota, (2.0 * options.quota).ceil().max(1.0) as u32));
    let federation = Federation::generate(&options.dir, plan)?;
    let children = seed::population(42, options.children);
    crate::load::load(&federation, &children, &crate::load::Progress::Quiet)?;
    let mut handles = Vec::new();
    for node in &federation.plan.nodes {
        let listener = listeners
            .remove(&node.id)
            .with_context(|| format!("no listener for {}", node.id))?;
        let app = agency_node::Application::build_with_listener(
            federation.node_settings(&node.id)?,
            listener,
        )?;
        handles.push(app.handle());
        tokio::spawn(app.run_until_stopped());
    }
    let app = gateway::Application::build_with_listener(
        federation.gateway_settings()?,
        gateway_listener,
    )?;
    let metrics_url = format!(
        "http://127.0.0.1:{}/metrics",
        app.metrics_port()
            .context("the gateway has no metrics address")?
    );
    handles.push(app.handle());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config_without_identity(
            &federation.ca_file,
        )?)
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()?;
    Ok(Running {
        gateway_url: federation.plan.gateway_url(),
        federation,
        children,
        metrics_url,
        handles,
        client,
    })
}

/// A practitioner of `agency` with a reference to the first seeded child it holds
/// (among those known to at least `min_agencies`).
async fn reader(
    fed: &Running,
    role: PractitionerRole,
    agency: &str,
    subject: &str,
    min_agencies: usize,
) -> anyhow::Result<Reader> {
    let child = fed
        .children
        .iter()
        .find(|c| {
            let known = c.agencies();
            known.contains(&agency)
                && known
                    .iter()
                    .filter(|a| fed.federation.plan.nodes.iter().any(|n| n.id == **a))
                    .count()
                    >= min_agencies
        })
        .with_context(|| format!("no seeded child known to {agency}"))?;
    let token = fed.federation.token(role, agency, subject, 3600)?;
    let query = serde_json::json!({
        "identifiers": {"upn": child.upn, "nhs_number": child.nhs_number},
        "demographics": child.demographics,
    });
    let found: Value = fed
        .client
        .post(format!("{}/v1/children:search?{CONTEXT}", fed.gateway_url))
        .bearer_auth(&token)
        .json(&query)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let reference = found["reference"]
        .as_str()
        .with_context(|| format!("no reference for {agency}: {found}"))?;
    Ok(Reader {
        token,
        view_url: format!("{}/v1/children/{reference}/view?{CONTEXT}", fed.gateway_url),
    })
}

/// Reads views at `per_second` for `seconds`, round-robin over `readers`, open loop.
async fn drive(
    client: &reqwest::Client,
    readers: Vec<Reader>,
    per_second: f64,
    seconds: f64,
) -> Side {
    let side = Arc::new(std::sync::Mutex::new(Side::default()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second.max(0.1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    while Instant::now() < end {
        ticks.tick().await;
        if waiting.load(Ordering::SeqCst) >= MAX_WAITING {
            lock(&side).not_sent += 1;
            continue;
        }
        let reader = readers[next % readers.len()].clone();
        next += 1;
        let (client, side, waiting) = (client.clone(), side.clone(), waiting.clone());
        waiting.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(async move {
            let started = Instant::now();
            let answer = client
                .get(&reader.view_url)
                .bearer_auth(&reader.token)
                .send()
                .await;
            let (status, body) = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json::<Value>().await.ok())
                }
                Err(_) => (0, None),
            };
            waiting.fetch_sub(1, Ordering::SeqCst);
            let mut side = lock(&side);
            side.sent += 1;
            side.record(status, body.as_ref(), started.elapsed());
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut side = std::mem::take(&mut *lock(&side));
    side.finish();
    side
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// `name{node="X",…} value` lines of the gateway's metrics, per node.
fn per_node(text: &str, name: &str, filter: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(&format!("{name}{{"))) {
        if !line.contains(filter) {
            continue;
        }
        let node = line
            .split("node=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(node.to_owned()).or_insert(0.0) += value;
    }
    out
}

async fn measure(fed: &Running, options: &Options) -> anyhow::Result<Report> {
    let dsl = vec![
        reader(
            fed,
            PractitionerRole::DesignatedSafeguardingLead,
            "school-a",
            "dsl.school-a",
            3,
        )
        .await?,
    ];
    let mut flooders = Vec::new();
    for (agency, role) in FLOODERS {
        let mut readers = Vec::new();
        for i in 0..PRACTITIONERS_EACH {
            readers.push(reader(fed, role, agency, &format!("flood-{i}.{agency}"), 1).await?);
        }
        flooders.push((agency, readers));
    }
    // The searches above used up part of the flooders' quotas: let them refill.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dsl_before = drive(&fed.client, dsl.clone(), options.dsl_per_second, 5.0).await;

    let flood_rate = options.quota * options.flood_factor;
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (client, url, watching) = (
            fed.client.clone(),
            fed.metrics_url.clone(),
            watching.clone(),
        );
        tokio::spawn(async move {
            let mut worst: BTreeMap<String, i64> = BTreeMap::new();
            while watching.load(Ordering::SeqCst) {
                if let Ok(text) = async { client.get(&url).send().await?.text().await }.await {
                    for (node, state) in per_node(&text, "upstream_breaker_state", "") {
                        let entry = worst.entry(node).or_default();
                        *entry = (*entry).max(state as i64);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            worst
        })
    };
    let floods = flooders.into_iter().map(|(agency, readers)| {
        let client = fed.client.clone();
        async move {
            (
                agency.to_owned(),
                drive(&client, readers, flood_rate, options.seconds).await,
            )
        }
    });
    let (dsl_side, flood_sides) = tokio::join!(
        drive(&fed.client, dsl, options.dsl_per_second, options.seconds),
        futures::future::join_all(floods)
    );
    watching.store(false, Ordering::SeqCst);
    let worst_breaker = watcher.await?;
    let text = fed
        .client
        .get(&fed.metrics_url)
        .send()
        .await?
        .text()
        .await?;
    let rate_limited_calls = per_node(&text, "upstream_requests_total", "outcome=\"rate_limited\"")
        .into_iter()
        .map(|(node, n)| (node, n as u64))
        .collect();
    let answered = dsl_side.statuses.values().sum::<usize>().max(1);
    Ok(Report {
        quota_per_second: options.quota,
        flood_per_second_each: flood_rate,
        seconds: options.seconds,
        dsl_per_second: options.dsl_per_second,
        dsl_fully_ok_percent: 100.0 * dsl_side.fully_ok as f64 / answered as f64,
        dsl_before,
        dsl: dsl_side,
        flooders: flood_sides.into_iter().collect(),
        worst_breaker,
        rate_limited_calls,
    })
}

/// The report for people: one paragraph per side.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let side = |name: &str, s: &Side, text: &mut String| {
        let _ = writeln!(
            text,
            "{name}: sent {}, statuses {:?}, fully ok {}, sections held back by a node's 429 {}, \
             other failed sections {}, p50 {:.0} ms, p99 {:.0} ms{}",
            s.sent,
            s.statuses,
            s.fully_ok,
            s.sections_held_back,
            s.sections_failed,
            s.p50_ms,
            s.p99_ms,
            if s.not_sent > 0 {
                format!(", not sent (512 waiting) {}", s.not_sent)
            } else {
                String::new()
            }
        );
    };
    let _ = writeln!(
        text,
        "quota {}/s per agency; police and social care each flood at {}/s for {} s; \
         school A's DSL reads {} views/s",
        report.quota_per_second,
        report.flood_per_second_each,
        report.seconds,
        report.dsl_per_second
    );
    side("DSL before the flood", &report.dsl_before, &mut text);
    side("DSL during the flood", &report.dsl, &mut text);
    let _ = writeln!(
        text,
        "DSL views fully ok during the flood: {:.1} %",
        report.dsl_fully_ok_percent
    );
    for (agency, s) in &report.flooders {
        side(&format!("{agency} flood"), s, &mut text);
    }
    let _ = writeln!(
        text,
        "worst breaker state per node (0 closed, 1 half-open, 2 open): {:?}",
        report.worst_breaker
    );
    let _ = writeln!(
        text,
        "calls held back or refused with 429, per node: {:?}",
        report.rate_limited_calls
    );
    text
}
