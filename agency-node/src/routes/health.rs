use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

/// Liveness: the process is up.
///
/// Answers `200` while the process runs, whatever the state of its dependencies; for an
/// orchestrator's liveness probe. Needs no credentials.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "The node is running", body = Object, example = json!({"status": "ok"}))
))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
///
/// The body counts the children the node holds. For an orchestrator's readiness probe; needs no credentials. When not ready the answer
/// is a `503` problem saying why.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "The node can serve requests", body = Object, example = json!({"status": "ready", "children": 1200})),
    (status = 503, description = "The database does not answer", body = schemas::Problem, content_type = "application/problem+json")
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let ready = web::block(move || {
        let mut conn = pool.get().ok()?;
        crate::db::children::count(&mut conn).ok()
    })
    .await
    .ok()
    .flatten();
    match ready {
        Some(children) => HttpResponse::Ok().json(json!({"status": "ready", "children": children})),
        None => trust::http::problem_response(&schemas::Problem::new(
            "database-unavailable",
            "The node cannot reach its database",
            503,
        )),
    }
}

/// Prometheus metrics: requests by route, method and status, and their latency.
///
/// Prometheus text exposition format 0.0.4, for a scraper; needs no credentials.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain",
     example = json!("# HELP http_requests_total Requests by route, method and status.
# TYPE http_requests_total counter
http_requests_total{route=\"/v1/batch\",method=\"POST\",status=\"200\"} 3
"))
))]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<trust::metrics::Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(""))
}
