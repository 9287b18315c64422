//! The operations every service answers for its orchestrator besides its own readiness:
//! liveness (`GET /healthz`, declared in each service by [`liveness!`](crate::liveness)
//! so that its document names the service) and the answers readiness probes give.

use actix_web::HttpResponse;

/// Declares `healthz`, the service's liveness operation (`GET /healthz`), whose `200`
/// response is described by `$running` (e.g. `"The node is running"`). Register it in the
/// service's operation list.
#[macro_export]
macro_rules! liveness {
    ($running:tt) => {
        pub use self::liveness::healthz;

        mod liveness {
            // utoipa reads the route from an attribute named `get` itself.
            use actix_web::get;

            /// Liveness: the process is up.
            ///
            /// Answers `200` while the process runs, whatever the state of its dependencies; for an
            /// orchestrator's liveness probe. Needs no credentials.
            #[utoipa::path(tag = "operations", security(()), responses(
                (status = 200, description = $running, body = Object, example = json!({"status": "ok"}))
            ))]
            #[get("/healthz")]
            pub async fn healthz() -> actix_web::HttpResponse {
                $crate::health::alive()
            }
        }
    };
}

/// The liveness answer: the process runs.
pub fn alive() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// A readiness probe's refusal: `503` with the problem saying why.
pub fn not_ready(code: &str, title: &str) -> HttpResponse {
    crate::problem::problem_response(&schemas::Problem::new(code, title, 503))
}
