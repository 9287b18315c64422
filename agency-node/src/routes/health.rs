//! The node's operations for its orchestrator: liveness, readiness (the database answers)
//! and Prometheus metrics.

use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::json;

service::liveness!("The node is running");

/// Readiness: the database answers.
///
/// Says ready or not, nothing more (it needs no credentials, so it tells nobody how many
/// children the node holds). For an orchestrator's readiness probe. When not ready the
/// answer is a `503` problem saying why.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "The node can serve requests", body = Object, example = json!({"status": "ready"})),
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
        Some(_) => HttpResponse::Ok().json(json!({"status": "ready"})),
        None => {
            service::health::not_ready("database-unavailable", "The node cannot reach its database")
        }
    }
}

/// Prometheus metrics: requests by route, method and status, and their latency; outbox
/// depth by state; notifications at risk of missing their deadline.
///
/// Prometheus text exposition format 0.0.4, for a scraper: served on the metrics address
/// (`[server] metrics`, default loopback) and answered 404 here, or here to federation
/// members' client certificates only.
#[utoipa::path(tag = "operations", security(()), responses(
    (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain",
     example = json!("# HELP http_requests_total Requests by route, method and status.
# TYPE http_requests_total counter
http_requests_total{route=\"/v1/batch\",method=\"POST\",status=\"200\"} 3
")),
    (status = 403, description = "Configured for client certificates (`metrics = \"client_certificate\"`) and none from a federation member was presented", body = schemas::Problem, content_type = "application/problem+json"),
    (status = 404, description = "Served on the metrics address instead (the default, `[server] metrics = { listen = … }`)", body = schemas::Problem, content_type = "application/problem+json")
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
    let counts = web::block(move || -> Result<NotificationCounts, crate::db::DbError> {
        let mut conn = pool.get()?;
        NotificationCounts::read(&mut conn, horizon)
    })
    .await
    .ok()
    .and_then(Result::ok);
    state.notification_gauges.set(counts.as_ref());
    metrics.respond()
}

/// The outbox by state and the notifications at risk, as the database says.
struct NotificationCounts {
    outbox: [(&'static str, i64); 3],
    at_risk_outbox: usize,
    at_risk_inbox: usize,
    /// Concerns received here, undecided, near or past their decision deadline.
    concerns_at_risk: i64,
    /// Deliveries to systems outside the federation refused or unanswered at least once
    /// and not yet accepted: the DPO's alerts, the inbox's pushes.
    webhooks_failing: [(&'static str, i64); 2],
}

impl NotificationCounts {
    fn read(
        conn: &mut crate::db::DbConnection,
        horizon: chrono::NaiveDateTime,
    ) -> Result<Self, crate::db::DbError> {
        use crate::db::notifications as n;
        let counts = n::count_by_status(conn)?;
        let count = |status: &str| {
            counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, c)| *c)
        };
        Ok(Self {
            outbox: [n::PENDING, n::DELIVERED, n::DEAD].map(|status| (status, count(status))),
            at_risk_outbox: n::pending_due_by(conn, horizon)?.len(),
            at_risk_inbox: n::unacknowledged_due_by(conn, horizon)?.len(),
            concerns_at_risk: crate::db::concerns::undecided_due_by(conn, horizon)?,
            webhooks_failing: [
                ("dpo_webhook", crate::db::dpo_alerts::failing(conn)?),
                ("inbox_webhook", n::pushes_failing(conn)?),
            ],
        })
    }
}

/// The node's notification gauges, set from the database at each scrape.
#[derive(Default)]
pub struct NotificationGauges {
    outbox: Family<[(&'static str, &'static str); 1], Gauge>,
    at_risk: Family<[(&'static str, &'static str); 1], Gauge>,
    concerns_at_risk: Family<[(&'static str, &'static str); 1], Gauge>,
    webhooks_failing: Family<[(&'static str, &'static str); 1], Gauge>,
}

impl NotificationGauges {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "notifications_outbox_events",
            "Events in the outbox by state",
            self.outbox.clone(),
        );
        registry.register(
            "notifications_at_risk",
            "Operation Encompass notifications near or past their deadline: undelivered \
             (outbox) or unacknowledged (inbox)",
            self.at_risk.clone(),
        );
        registry.register(
            "concerns_at_risk",
            "Concerns received at this front door still awaiting a decision near or past \
             their deadline (the end of the next working day after receipt)",
            self.concerns_at_risk.clone(),
        );
        registry.register(
            "webhook_deliveries_failing",
            "Deliveries to systems outside the federation (the data protection officer's, \
             the agency's own for its inbox) refused or unanswered at least once and not \
             yet accepted, by endpoint",
            self.webhooks_failing.clone(),
        );
    }

    /// Sets the gauges, or leaves them out when the database did not answer.
    fn set(&self, counts: Option<&NotificationCounts>) {
        let Some(counts) = counts else {
            self.outbox.clear();
            self.at_risk.clear();
            self.concerns_at_risk.clear();
            self.webhooks_failing.clear();
            return;
        };
        for (endpoint, count) in counts.webhooks_failing {
            self.webhooks_failing
                .get_or_create(&[("endpoint", endpoint)])
                .set(count);
        }
        self.concerns_at_risk
            .get_or_create(&[("state", "undecided")])
            .set(counts.concerns_at_risk);
        for (status, count) in counts.outbox {
            self.outbox.get_or_create(&[("status", status)]).set(count);
        }
        for (r#box, count) in [
            ("outbox", counts.at_risk_outbox),
            ("inbox", counts.at_risk_inbox),
        ] {
            self.at_risk
                .get_or_create(&[("box", r#box)])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}
