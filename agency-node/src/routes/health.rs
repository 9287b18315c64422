use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

/// Liveness: the process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The node is running")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "The node can serve requests"),
    (status = 503, description = "The database does not answer")
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
        None => HttpResponse::ServiceUnavailable().json(json!({"status": "database unavailable"})),
    }
}

/// Prometheus metrics: requests by route, method and status, and their latency.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition", content_type = "text/plain")
))]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<trust::metrics::Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(""))
}
