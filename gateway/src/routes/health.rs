//! The gateway's operations for its orchestrator: liveness, readiness (a directory with
//! nodes) and Prometheus metrics.

use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

service::liveness!("The gateway is running");

/// Readiness: the gateway has a federation directory with at least one node.
///
/// The body lists each node's circuit breaker (`closed`, `open`, `half_open`) among those
/// the gateway has called. For an orchestrator's readiness probe; needs no credentials. When not ready the answer
/// is a `503` problem saying why.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "The gateway can serve requests", body = Object, example = json!({"status": "ready", "federation": "dev", "nodes": 5, "breakers": {"police": "closed"}})),
    (status = 503, description = "No agency node is listed", body = schemas::Problem, content_type = "application/problem+json")
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
        service::health::not_ready("no-agency-nodes", "The gateway has no agency node to ask")
    }
}

/// Prometheus metrics: requests by route, method and status and their latency; calls to
/// each agency node by outcome and their latency; each node's circuit breaker
/// (0 closed, 1 half-open, 2 open).
///
/// Prometheus text exposition format 0.0.4, for a scraper; needs no credentials.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain",
     example = json!("# HELP http_requests_total Requests by route, method and status.
# TYPE http_requests_total counter
http_requests_total{route=\"/v1/children:search\",method=\"POST\",status=\"200\"} 3
"))
))]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    metrics: web::Data<service::metrics::Metrics>,
) -> HttpResponse {
    state.http.export_breaker_states();
    if let Some(locator) = &state.locator {
        locator.export_metrics();
    }
    metrics.respond()
}
