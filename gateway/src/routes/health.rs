use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

/// Liveness: the process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The gateway is running")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the gateway has a federation directory with at least one node. The body
/// lists the circuit breaker (`closed`, `open`, `half_open`) of each node it has called. The body
/// lists each node's circuit breaker (`closed`, `open`, `half_open`) among those the
/// gateway has called.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "The gateway can serve requests"),
    (status = 503, description = "No agency node is listed")
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let directory = state.directory.get();
    let nodes = directory.nodes().count();
    let breakers: serde_json::Map<String, serde_json::Value> = state
        .http
        .breaker_states()
        .into_iter()
        .map(|(id, s)| (id.to_string(), json!(s)))
        .collect();
    if nodes > 0 {
        HttpResponse::Ok().json(json!({
            "status": "ready", "federation": directory.federation, "nodes": nodes,
            "breakers": breakers,
        }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"status": "no agency nodes listed"}))
    }
}

/// Prometheus metrics: requests by route, method and status and their latency; calls to
/// each agency node by outcome and their latency; each node's circuit breaker
/// (0 closed, 1 half-open, 2 open).
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition", content_type = "text/plain")
))]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    metrics: web::Data<trust::metrics::Metrics>,
) -> HttpResponse {
    let mut extra = String::from(
        "# HELP upstream_breaker_state Circuit breaker per node: 0 closed, 1 half-open, 2 open.\n\
         # TYPE upstream_breaker_state gauge\n",
    );
    for (node, s) in state.http.breaker_states() {
        let value = match s {
            crate::upstream::BreakerState::Closed => 0,
            crate::upstream::BreakerState::HalfOpen => 1,
            crate::upstream::BreakerState::Open => 2,
        };
        extra.push_str(&format!(
            "upstream_breaker_state{{node=\"{node}\"}} {value}\n"
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(&extra))
}
