//! The gateway's operations for its orchestrator: liveness, readiness (a directory with
//! nodes) and Prometheus metrics; and, for practitioners, the federation's status (each
//! agency's circuit breaker), which probes open to anyone no longer tell.

use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

service::liveness!("The gateway is running");

/// Readiness: the gateway has a federation directory with at least one node.
///
/// Says ready or not, nothing more: it needs no credentials, so it tells nobody about the
/// federation (the agencies' breakers are in `/v1/status` and `/metrics`). For an
/// orchestrator's readiness probe. When not ready the answer is a `503` problem saying
/// why.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "The gateway can serve requests", body = Object, example = json!({"status": "ready"})),
    (status = 503, description = "No agency node is listed", body = schemas::Problem, content_type = "application/problem+json")
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.directory.get().nodes().next().is_some() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        service::health::not_ready("no-agency-nodes", "The gateway has no agency node to ask")
    }
}

/// Which agencies the gateway can ask now.
///
/// Every agency node in the federation directory with its circuit breaker: `closed`
/// (asked as usual), `open` (failing; answered `unavailable` at once until the cool-down
/// ends) or `half_open` (one probe is let through). A node the gateway has not called yet
/// is `closed`. For a practitioner wondering why an agency's section is `unavailable`.
#[utoipa::path(tag = "operations", security(("practitioner_jwt" = [])), responses(
    (status = 200, description = "The agencies and their breakers", body = Object, example = json!({"federation": "Child view dev federation", "agencies": [{"agency_id": "police", "name": "County Constabulary", "breaker": "closed"}]})),
    (status = 401, description = "Token missing or not accepted", body = schemas::Problem, content_type = "application/problem+json")
))]
#[get("/v1/status")]
pub async fn status(_auth: crate::auth::Authenticated, state: web::Data<AppState>) -> HttpResponse {
    let directory = state.directory.get();
    let breakers = state.http.breaker_states();
    let agencies: Vec<serde_json::Value> = directory
        .nodes()
        .map(|node| {
            let breaker = breakers
                .iter()
                .find(|(id, _)| id == &node.id)
                .map_or(crate::upstream::BreakerState::Closed, |(_, b)| *b);
            json!({"agency_id": node.id, "name": node.name, "breaker": breaker})
        })
        .collect();
    HttpResponse::Ok().json(json!({"federation": directory.federation, "agencies": agencies}))
}

/// Prometheus metrics: requests by route, method and status and their latency; calls to
/// each agency node by outcome and their latency; each node's circuit breaker
/// (0 closed, 1 half-open, 2 open).
///
/// Prometheus text exposition format 0.0.4, for a scraper: served on the metrics address
/// (`[server] metrics`, default loopback) and answered 404 here, or here to federation
/// members' client certificates only.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain",
     example = json!("# HELP http_requests_total Requests by route, method and status.
# TYPE http_requests_total counter
http_requests_total{route=\"/v1/children:search\",method=\"POST\",status=\"200\"} 3
")),
    (status = 403, description = "Configured for client certificates (`metrics = \"client_certificate\"`) and none from a federation member was presented", body = schemas::Problem, content_type = "application/problem+json"),
    (status = 404, description = "Served on the metrics address instead (the default, `[server] metrics = { listen = … }`)", body = schemas::Problem, content_type = "application/problem+json")
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
