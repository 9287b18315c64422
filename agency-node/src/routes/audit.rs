//! The agency's own view of its audit.

use crate::auth::IntegrationClient;
use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{HttpResponse, get, web};
use schemas::Problem;
use schemas::disclosure::AuditVerification;

/// Check the audit chain.
///
/// Recomputes every entry's hash in order and reports the first entry that was edited,
/// removed or moved, or that entries were cut from the end.
#[utoipa::path(
    tag = "integration",
    responses(
        (status = 200, description = "The result of the check", body = AuditVerification),
        (status = 403, description = "Caller is not this agency's system", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/audit/verify")]
pub async fn verify(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let result = web::block(move || {
        let mut conn = pool.get()?;
        db::audit::verify(&mut conn)
    })
    .await??;
    Ok(HttpResponse::Ok().json(result))
}
