//! Prometheus metrics for every service: one registry per service holding the request
//! counts and latency histograms per route that every service records, and the families a
//! service registers for itself (upstream calls, breakers, outbox, locator). The
//! middleware that records each request also gives it a W3C `traceparent`
//! ([`crate::trace`]) and writes its access log line.
//!
//! Labels and log fields come from closed sets only: the route *template*
//! (`/v1/children/{reference}/view`, never the reference), one of the HTTP methods the
//! services answer (anything else is `OTHER`), and the status. A caller cannot grow the
//! registry by inventing methods or paths, and references, query strings and the free
//! text they may carry (an override's reason) never reach the log.
//!
//! The registry and its exposition are `prometheus-client`'s (the Prometheus text format
//! 0.0.4, as `GET /metrics` has always answered).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Latency histograms, one per label set, with the buckets every service uses.
pub type Latency<L> = Family<L, Histogram, fn() -> Histogram>;

/// A family of latency histograms.
pub fn latency<L: EncodeLabelSet + Clone + std::hash::Hash + Eq>() -> Latency<L> {
    Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    service: String,
    route: String,
}

/// A service's metrics registry.
pub struct Metrics {
    service: String,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency<RouteLabels>,
}

impl Metrics {
    /// The registry of `service`: the request families every service has, then whatever
    /// `register` adds.
    pub fn new(service: &str, register: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = latency::<RouteLabels>();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route template",
            latency.clone(),
        );
        register(&mut registry);
        Self {
            service: service.to_owned(),
            registry,
            requests,
            latency,
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                service: self.service.clone(),
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                service: self.service.clone(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every registered family.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; a family that fails to encode is left out.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// The answer to `GET /metrics`.
    pub fn respond(&self) -> HttpResponse {
        HttpResponse::Ok()
            .content_type(prometheus_text::CONTENT_TYPE)
            .body(self.encode())
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
    let method = known_method(req.method());
    let answered = next.call(req).await;
    let (route, status) = match &answered {
        Ok(res) => (
            res.request()
                .match_pattern()
                .unwrap_or_else(|| UNMATCHED.to_owned()),
            res.status().as_u16(),
        ),
        // An error the chain could not answer itself (a panicking handler): actix answers
        // it from the error, after this middleware.
        Err(e) => (
            FAILED.to_owned(),
            e.as_response_error().status_code().as_u16(),
        ),
    };
    let elapsed = started.elapsed();
    tracing::info!(
        target: "access",
        method,
        route = route.as_str(),
        status,
        ms = elapsed.as_millis() as u64,
        "request answered"
    );
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, method, status, elapsed);
    }
    let mut res = answered?;
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        res.headers_mut().insert(name, value);
    }
    Ok(res)
}

/// The route label of a request no operation matched.
const UNMATCHED: &str = "unmatched";
/// The route label of a request whose handling failed outside any answer.
const FAILED: &str = "failed";

/// The method as a label: one of those HTTP defines for this use, else `OTHER`.
fn known_method(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(known_method(&Method::GET), "GET");
        for invented in ["FOO", "BREW", "X-1234"] {
            assert_eq!(
                known_method(&Method::from_bytes(invented.as_bytes()).unwrap()),
                "OTHER"
            );
        }
    }

    #[test]
    fn exposition_counts_and_buckets() {
        let m = Metrics::new("gateway", |_| {});
        m.observe_request("/v1/children:search", "POST", 200, Duration::from_millis(3));
        m.observe_request(
            "/v1/children:search",
            "POST",
            200,
            Duration::from_millis(30),
        );
        let text = m.encode();
        assert!(
            text.contains("# TYPE http_requests_total counter\n"),
            "{text}"
        );
        assert!(text.contains("http_requests_total{service=\"gateway\",route=\"/v1/children:search\",method=\"POST\",status=\"200\"} 2"), "{text}");
        assert!(
            text.contains("# TYPE http_request_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_count{service=\"gateway\",route=\"/v1/children:search\"} 2"), "{text}");
    }
}
