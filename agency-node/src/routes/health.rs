//! The node's operations for its orchestrator: liveness, readiness (the database answers)
//! and Prometheus metrics.

use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

service::liveness!("The node is running");

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
        None => {
            service::health::not_ready("database-unavailable", "The node cannot reach its database")
        }
    }
}

/// Prometheus metrics: requests by route, method and status, and their latency; outbox
/// depth by state; notifications at risk of missing their deadline.
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
pub async fn metrics(
    metrics: web::Data<service::metrics::Metrics>,
    state: web::Data<crate::startup::AppState>,
) -> HttpResponse {
    let pool = state.pool.clone();
    let horizon = (chrono::Utc::now()
        + chrono::Duration::minutes(state.notifications.at_risk_minutes))
    .naive_utc();
    let extra = web::block(move || -> Result<String, crate::db::DbError> {
        let mut conn = pool.get()?;
        notification_metrics(&mut conn, horizon)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render(&extra))
}

fn notification_metrics(
    conn: &mut crate::db::DbConnection,
    horizon: chrono::NaiveDateTime,
) -> Result<String, crate::db::DbError> {
    use crate::db::notifications as n;
    use std::fmt::Write;
    let counts = n::count_by_status(conn)?;
    let mut out = String::from(
        "# HELP notifications_outbox_events Events in the outbox by state.\n\
         # TYPE notifications_outbox_events gauge\n",
    );
    for status in [n::PENDING, n::DELIVERED, n::DEAD] {
        let count = counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, c)| *c);
        let _ = writeln!(
            out,
            "notifications_outbox_events{{status=\"{status}\"}} {count}"
        );
    }
    let outbox = n::pending_due_by(conn, horizon)?.len();
    let inbox = n::unacknowledged_due_by(conn, horizon)?.len();
    let _ = write!(
        out,
        "# HELP notifications_at_risk Operation Encompass notifications near or past their \
         deadline: undelivered (outbox) or unacknowledged (inbox).\n\
         # TYPE notifications_at_risk gauge\n\
         notifications_at_risk{{box=\"outbox\"}} {outbox}\n\
         notifications_at_risk{{box=\"inbox\"}} {inbox}\n"
    );
    Ok(out)
}
