//! `federation bench load`: a closed-loop HTTPS load generator that can present a client
//! certificate, so the same tool measures the gateway, a node (which answers only to
//! mutual TLS) and a reverse proxy in front of a node. wrk and most load tools cannot
//! present a client certificate; this one uses the same rustls configuration as the
//! services.
//!
//! `concurrency` tasks each send one request, read the whole answer, and send the next,
//! for a warm-up (not recorded) and then a measured window. Latencies go into a
//! log-linear histogram (HDR-style: exact below 128 µs, then 64 sub-buckets per power of
//! two, so any reported percentile is within 1/64 of the true sample).

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sub-bucket precision: values below `2^PRECISION_BITS` µs are exact.
const PRECISION_BITS: u32 = 7;
const HALF: u64 = 1 << (PRECISION_BITS - 1);

/// A log-linear latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        // 2^7 exact buckets, then 64 per power of two up to 2^64.
        let buckets = (2 * HALF + (64 - u64::from(PRECISION_BITS)) * HALF) as usize;
        Self {
            counts: vec![0; buckets],
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < 2 * HALF {
            return value as usize;
        }
        let top = 63 - u64::from(value.leading_zeros());
        let shift = top - u64::from(PRECISION_BITS - 1);
        let mantissa = value >> shift; // in [HALF, 2 * HALF)
        (shift * HALF + mantissa) as usize
    }

    /// The largest value that falls in bucket `index`.
    fn highest_in(index: usize) -> u64 {
        let index = index as u64;
        if index < 2 * HALF {
            return index;
        }
        let shift = index / HALF - 1;
        let mantissa = index - shift * HALF;
        let top = (u128::from(mantissa) + 1) << shift;
        u64::try_from(top - 1).unwrap_or(u64::MAX)
    }

    pub fn record(&mut self, micros: u64) {
        if let Some(c) = self.counts.get_mut(Self::index(micros)) {
            *c += 1;
        }
        self.total += 1;
        self.sum += u128::from(micros);
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The nearest-rank percentile (`p` in 0..=100): the smallest recorded value such
    /// that at least `p` % of the samples are at or below it, reported as the top of its
    /// bucket (never above the largest sample). 0 when nothing was recorded.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let rank = rank.min(self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::highest_in(i).min(self.max);
            }
        }
        self.max
    }
}

pub struct LoadOptions {
    pub label: String,
    pub url: String,
    /// JSON body to POST; a GET when absent (and `bodies` is empty).
    pub body: Option<String>,
    /// JSON bodies to POST in turn instead of `body`: each request, from any connection,
    /// takes the next one (round robin), so a run can ask for many different children.
    pub bodies: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub ca: PathBuf,
    /// Client certificate and key to present, if any.
    pub identity: Option<(PathBuf, PathBuf)>,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub http2: bool,
    /// A 2xx answer whose body contains one of these counts as an error.
    pub reject: Vec<String>,
    /// Processes whose resident memory is sampled, and whose CPU time is read, during
    /// the measured window.
    pub watch: Vec<(String, u32)>,
}

/// CPU time (user + system, every thread) a process used in the measured window.
#[derive(Debug, Serialize)]
pub struct CpuUse {
    pub seconds: f64,
    /// `seconds` over the requests answered in the window (good and failed), in ms.
    pub ms_per_request: f64,
}

#[derive(Debug, Serialize)]
pub struct Rss {
    pub peak_kib: u64,
    pub mean_kib: u64,
    pub samples: usize,
}

#[derive(Debug, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub concurrency: usize,
    pub http: &'static str,
    pub seconds: f64,
    /// Good answers (2xx, body not rejected) in the measured window.
    pub ok: u64,
    /// Non-2xx answers, rejected bodies and transport failures in the measured window.
    pub errors: u64,
    /// Every status seen in the measured window, and `transport` / `rejected_body`.
    pub outcomes: BTreeMap<String, u64>,
    pub throughput_rps: f64,
    pub latency_ms: LatencyMs,
    pub rss: BTreeMap<String, Rss>,
    /// Per watched process, and `load generator` for this process itself.
    pub cpu: BTreeMap<String, CpuUse>,
}

#[derive(Default)]
struct TaskResult {
    histogram: Histogram,
    outcomes: BTreeMap<String, u64>,
    errors: u64,
}

fn client(opts: &LoadOptions) -> anyhow::Result<reqwest::Client> {
    let mut tls = match &opts.identity {
        Some((cert, key)) => trust::tls::client_config(&trust::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: opts.ca.clone(),
        })?,
        None => trust::tls::client_config_without_identity(&opts.ca)?,
    };
    tls.alpn_protocols = if opts.http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &opts.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("header {name}"))?,
            HeaderValue::from_str(value).with_context(|| format!("value of header {name}"))?,
        );
    }
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(opts.concurrency.max(1));
    let builder = if opts.http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    Ok(builder.build()?)
}

/// Resident set size of a process in KiB, from `/proc` (Linux only).
/// User + system CPU seconds of a process, all its threads (live and exited), from
/// `/proc/<pid>/stat`; `None` for this process. Clock ticks are Linux's fixed USER_HZ, 100.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn one_task(
    http: reqwest::Client,
    opts: Arc<LoadOptions>,
    next_body: Arc<AtomicUsize>,
    measure_from: Instant,
    end: Instant,
) -> TaskResult {
    let mut result = TaskResult::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let body = if opts.bodies.is_empty() {
            opts.body.as_ref()
        } else {
            opts.bodies
                .get(next_body.fetch_add(1, Ordering::Relaxed) % opts.bodies.len())
        };
        let request = match body {
            Some(body) => http
                .post(&opts.url)
                .header("content-type", "application/json")
                .body(body.clone()),
            None => http.get(&opts.url),
        };
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(body) if status.is_success() => {
                        let rejected = opts
                            .reject
                            .iter()
                            .any(|r| body.windows(r.len()).any(|w| w == r.as_bytes()));
                        if rejected {
                            Err("rejected_body".to_owned())
                        } else {
                            Ok(status.as_u16().to_string())
                        }
                    }
                    Ok(_) => Err(status.as_u16().to_string()),
                    Err(_) => Err("transport".to_owned()),
                }
            }
            Err(_) => Err("transport".to_owned()),
        };
        let elapsed = started.elapsed();
        if started < measure_from {
            continue;
        }
        match outcome {
            Ok(status) => {
                result
                    .histogram
                    .record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                *result.outcomes.entry(status).or_default() += 1;
            }
            Err(kind) => {
                let transport = kind == "transport";
                *result.outcomes.entry(kind).or_default() += 1;
                result.errors += 1;
                if transport {
                    // A refused connection fails at once; do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    result
}

pub async fn run(opts: LoadOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.concurrency > 0, "concurrency must be at least 1");
    let http = client(&opts)?;
    let opts = Arc::new(opts);
    let begin = Instant::now();
    let measure_from = begin + opts.warmup;
    let end = measure_from + opts.duration;

    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let watch = opts.watch.clone();
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut samples: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            tokio::time::sleep_until(measure_from.into()).await;
            let processes: Vec<(String, Option<u32>)> = watch
                .iter()
                .map(|(name, pid)| (name.clone(), Some(*pid)))
                .chain([("load generator".to_owned(), None)])
                .collect();
            let cpu_at_start: Vec<Option<f64>> =
                processes.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
            while sampling.load(Ordering::Relaxed) {
                for (name, pid) in &watch {
                    if let Some(kib) = rss_kib(*pid) {
                        samples.entry(name.clone()).or_default().push(kib);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let cpu: BTreeMap<String, f64> = processes
                .iter()
                .zip(cpu_at_start)
                .filter_map(|((name, pid), start)| {
                    Some((name.clone(), (cpu_seconds(*pid)? - start?).max(0.0)))
                })
                .collect();
            (samples, cpu)
        })
    };

    let next_body = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..opts.concurrency)
        .map(|_| {
            tokio::spawn(one_task(
                http.clone(),
                opts.clone(),
                next_body.clone(),
                measure_from,
                end,
            ))
        })
        .collect();
    let mut histogram = Histogram::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors = 0;
    for task in tasks {
        let r = task.await?;
        histogram.merge(&r.histogram);
        for (k, v) in r.outcomes {
            *outcomes.entry(k).or_default() += v;
        }
        errors += r.errors;
    }
    let seconds = Instant::now()
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(opts.duration.as_secs_f64());
    sampling.store(false, Ordering::Relaxed);
    let (samples, cpu) = sampler.await?;
    let answered = (histogram.count() + errors).max(1) as f64;
    let cpu = cpu
        .into_iter()
        .map(|(name, seconds)| {
            let used = CpuUse {
                seconds,
                ms_per_request: 1000.0 * seconds / answered,
            };
            (name, used)
        })
        .collect();
    let rss = samples
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(name, s)| {
            let rss = Rss {
                peak_kib: s.iter().copied().max().unwrap_or(0),
                mean_kib: s.iter().sum::<u64>() / s.len() as u64,
                samples: s.len(),
            };
            (name, rss)
        })
        .collect();
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Report {
        label: opts.label.clone(),
        url: opts.url.clone(),
        concurrency: opts.concurrency,
        http: if opts.http2 { "h2" } else { "http/1.1" },
        seconds,
        ok: histogram.count(),
        errors,
        outcomes,
        throughput_rps: histogram.count() as f64 / seconds,
        latency_ms: LatencyMs {
            p50: ms(histogram.percentile(50.0)),
            p90: ms(histogram.percentile(90.0)),
            p99: ms(histogram.percentile(99.0)),
            p999: ms(histogram.percentile(99.9)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        },
        rss,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    /// The exact nearest-rank percentile of a sorted sample.
    fn exact(sorted: &[u64], p: f64) -> u64 {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_stay_within_one_sixty_fourth_of_the_exact_value() {
        // A skewed, deterministic sample from 1 µs to several seconds.
        let mut values: Vec<u64> = (0..20_000u64)
            .map(|i| 1 + (i * i * 7919) % 5_000_000 / (1 + i % 13))
            .collect();
        let mut h = Histogram::new();
        for v in &values {
            h.record(*v);
        }
        values.sort_unstable();
        for p in [1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
            let want = exact(&values, p);
            let got = h.percentile(p);
            assert!(got >= want, "p{p}: {got} below the exact {want}");
            let bound = want + want / 64 + 1;
            assert!(got <= bound, "p{p}: {got} above {want} + 1/64");
        }
        assert_eq!(h.max(), *values.last().unwrap_or(&0));
    }

    #[test]
    fn merged_histograms_equal_one_fed_everything() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut all = Histogram::new();
        for v in 0..5_000u64 {
            let value = v * 37 % 90_000;
            if v % 3 == 0 { &mut a } else { &mut b }.record(value);
            all.record(value);
        }
        a.merge(&b);
        for p in [50.0, 90.0, 99.0, 99.9] {
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!(a.count(), all.count());
        assert_eq!(a.max(), all.max());
    }

    #[test]
    fn bucket_bounds_contain_their_values() {
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1_000,
            65_535,
            1 << 40,
            u64::MAX,
        ] {
            let i = Histogram::index(v);
            assert!(Histogram::highest_in(i) >= v, "{v} above its bucket");
            if i > 0 {
                assert!(Histogram::highest_in(i - 1) < v, "{v} in too high a bucket");
            }
        }
    }

    #[test]
    fn empty_histogram_reports_zero() {
        assert_eq!(Histogram::new().percentile(99.0), 0);
    }
}
