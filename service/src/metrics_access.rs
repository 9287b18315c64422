//! Who may read `GET /metrics`. The exposition says how busy a service is, which nodes
//! fail and how often each route is called: operators' business, not the public's.
//!
//! Either a separate plain-HTTP listener (default `127.0.0.1:9464`, loopback) that serves
//! `/metrics` and nothing else, while the service's own address answers 404 there; or,
//! with `metrics = "client_certificate"`, the service's own TLS address serves it to a
//! directory member's client certificate (a scraper given a federation certificate).

use crate::caller::{Gatekeeper, member};
use crate::problem::problem_response;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use serde::Deserialize;

/// Where `/metrics` is served (`[server] metrics`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MetricsAccess {
    /// A plain-HTTP listener of its own serving `/metrics` only (port 0 picks one).
    Listen(String),
    /// The service's TLS address, to directory members' client certificates only.
    ClientCertificate,
}

/// Loopback: a scraper on the same host, or a sidecar, reaches it; nobody else.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

impl Default for MetricsAccess {
    fn default() -> Self {
        Self::Listen(DEFAULT_METRICS_LISTEN.to_owned())
    }
}

/// Marks a connection accepted on the metrics listener (set by the connection callback).
#[derive(Debug, Clone, Copy)]
pub struct OnMetricsListener;

const METRICS_PATH: &str = "/metrics";

/// Middleware: on the metrics listener only `/metrics`; on the service's address,
/// `/metrics` only to a member's certificate when so configured, else not at all.
pub async fn gate<S: Gatekeeper>(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let on_metrics_listener = req.conn_data::<OnMetricsListener>().is_some();
    let asks_metrics = req.path() == METRICS_PATH;
    let access = req.app_data::<web::Data<MetricsAccess>>().cloned();
    let refusal = match (on_metrics_listener, asks_metrics) {
        (true, true) => None,
        (true, false) => Some(schemas::Problem::new(
            "not-found",
            "This address serves /metrics only",
            404,
        )),
        (false, false) => None,
        // Any other method is the router's to refuse (405), as on every operation.
        (false, true) if req.method() != actix_web::http::Method::GET => None,
        (false, true) => match access.as_ref().map(|a| a.get_ref()) {
            Some(MetricsAccess::ClientCertificate) => {
                let state = req.app_data::<web::Data<S>>().cloned();
                let admitted = state.is_some_and(|s| member(req.request(), s.get_ref()).is_ok());
                (!admitted).then(|| {
                    schemas::Problem::new(
                        "not-a-member",
                        "Metrics are served to federation members' certificates only",
                        403,
                    )
                })
            }
            _ => Some(
                schemas::Problem::new("not-found", "No such operation", 404)
                    .with_detail("metrics are served on the operators' metrics address"),
            ),
        },
    };
    match refusal {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(problem) => Ok(req
            .into_response(problem_response(&problem))
            .map_into_right_body()),
    }
}
