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

/// Prometheus metrics: requests by route, method and status, and their latency; outbox
/// depth by state; notifications at risk of missing their deadline.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition", content_type = "text/plain")
))]
#[get("/metrics")]
pub async fn metrics(
    metrics: web::Data<trust::metrics::Metrics>,
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
    conn: &mut diesel::sqlite::SqliteConnection,
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
