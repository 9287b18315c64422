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
