//! Prometheus metrics for every service: request counts and latency histograms per route,
//! upstream calls per node (gateway), and the middleware that records each request and
//! gives it a W3C `traceparent` ([`crate::trace`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{bound}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (route, method, status) → count
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → latency
    latency: BTreeMap<String, Histogram>,
    /// (node, outcome) → count
    upstream: BTreeMap<(String, String), u64>,
    /// node → latency
    upstream_latency: BTreeMap<String, Histogram>,
}

pub struct Metrics {
    service: String,
    inner: Mutex<Inner>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut inner = self.lock();
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        inner
            .latency
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// One call from the gateway to a node: `outcome` is `ok`, `not_found`, `timeout`,
    /// `unavailable` or `error`.
    pub fn observe_upstream(&self, node: &str, outcome: &str, elapsed: Duration) {
        let mut inner = self.lock();
        *inner
            .upstream
            .entry((node.to_owned(), outcome.to_owned()))
            .or_default() += 1;
        inner
            .upstream_latency
            .entry(node.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition, with `extra` (service-specific gauges) appended.
    pub fn render(&self, extra: &str) -> String {
        let inner = self.lock();
        let service = escape(&self.service);
        let mut out = String::new();
        out.push_str(
            "# HELP http_requests_total Requests answered, by route template, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{service=\"{service}\",route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP http_request_duration_seconds Time to answer, by route template.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            h.render(
                &mut out,
                "http_request_duration_seconds",
                &format!("service=\"{service}\",route=\"{}\"", escape(route)),
            );
        }
        if !inner.upstream.is_empty() {
            out.push_str(
                "# HELP upstream_requests_total Calls to agency nodes, by node and outcome.\n",
            );
            out.push_str("# TYPE upstream_requests_total counter\n");
            for ((node, outcome), n) in &inner.upstream {
                let _ = writeln!(
                    out,
                    "upstream_requests_total{{node=\"{}\",outcome=\"{}\"}} {n}",
                    escape(node),
                    escape(outcome)
                );
            }
            out.push_str(
                "# HELP upstream_request_duration_seconds Time for a node to answer, by node.\n",
            );
            out.push_str("# TYPE upstream_request_duration_seconds histogram\n");
            for (node, h) in &inner.upstream_latency {
                h.render(
                    &mut out,
                    "upstream_request_duration_seconds",
                    &format!("node=\"{}\"", escape(node)),
                );
            }
        }
        out.push_str(extra);
        out
    }
}

/// Middleware: gives every request a `traceparent` (the caller's if valid, else a new
/// one) that handlers, audit and upstream calls read, echoes it on the response, and
/// records the request in the service's [`Metrics`] (from app data).
pub async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let name = HeaderName::from_static("traceparent");
    let traceparent = req
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::trace::valid_traceparent)
        .map(str::to_owned)
        .unwrap_or_else(crate::trace::new_traceparent);
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        req.headers_mut().insert(name.clone(), value);
    }
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let mut res = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        res.headers_mut().insert(name, value);
    }
    if let Some(metrics) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe_request(&route, &method, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_and_buckets() {
        let m = Metrics::new("gateway");
        m.observe_request("/v1/children:search", "POST", 200, Duration::from_millis(3));
        m.observe_request(
            "/v1/children:search",
            "POST",
            200,
            Duration::from_millis(30),
        );
        m.observe_upstream("police", "timeout", Duration::from_secs(2));
        let text = m.render("");
        assert!(text.contains("http_requests_total{service=\"gateway\",route=\"/v1/children:search\",method=\"POST\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("upstream_requests_total{node=\"police\",outcome=\"timeout\"} 1"),
            "{text}"
        );
    }
}
