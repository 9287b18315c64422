//! The gateway's operations. [`operations`] registers each of them once: the router and
//! the OpenAPI document (`crate::openapi`) both come from it.

pub mod access_report;
pub mod audit;
pub mod children;
pub mod cohort;
pub mod concerns;
pub mod health;
pub mod notifications;

/// Every operation of the gateway, in the order of its OpenAPI document.
pub fn operations(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(health::status)
        .service(children::search)
        .service(children::view)
        .service(children::confirm)
        .service(cohort::list)
        .service(cohort::figures)
        .service(access_report::access_report)
        .service(notifications::route)
        .service(notifications::acknowledge)
        .service(concerns::route_concern)
        .service(concerns::route_outcome)
        .service(audit::relay_checkpoint)
        .service(audit::witnessed_checkpoints);
}

use crate::auth::Authenticated;
use crate::error::GatewayError;
use crate::federation::Fanout;
use crate::reference::ReferenceClaims;
use crate::startup::AppState;
use actix_web::HttpRequest;
use chrono::Utc;

/// How this request reaches the nodes: the gateway's client, the practitioner's token,
/// the per-node deadline and the caller's trace context.
fn fanout<'a>(state: &'a AppState, auth: &'a Authenticated, req: &'a HttpRequest) -> Fanout<'a> {
    Fanout {
        http: &state.http,
        token: &auth.token,
        deadline: state.node_deadline,
        traceparent: req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
        agency: &auth.practitioner.agency,
    }
}

/// Opens a reference for the practitioner presenting it: only the one who searched can.
fn open_reference(
    state: &AppState,
    auth: &Authenticated,
    reference: &str,
) -> Result<ReferenceClaims, GatewayError> {
    state
        .references
        .open(
            reference,
            &auth.practitioner.issuer,
            &auth.practitioner.subject,
            Utc::now(),
        )
        .map_err(GatewayError::Reference)
}

/// One of the bounded fan-out slots: past the limit, say so at once rather than queue.
fn fanout_slot(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, GatewayError> {
    state.fanouts.try_acquire().map_err(|_| GatewayError::Busy)
}
