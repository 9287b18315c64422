//! The agency's own view of its audit.

use crate::audit::{self, NewEntry};
use crate::auth::IntegrationClient;
use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{HttpRequest, post};
use actix_web::{HttpResponse, get, web};
use schemas::Problem;
use schemas::disclosure::{AuditVerification, DeferralRelease};
use serde_json::json;

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

/// Release a deferred access-report entry now.
///
/// For the agency's data protection officer, through the agency's own system: the
/// disclosure recorded in audit entry `seq` appears in the child's access report from
/// now on. The release is itself an audit entry; nothing already written changes.
#[utoipa::path(
    tag = "integration",
    params(("seq" = i64, Path, description = "The audit entry to release")),
    request_body = DeferralRelease,
    responses(
        (status = 201, description = "Released"),
        (status = 400, description = "Invalid release", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such disclosure entry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/audit/{seq}/release")]
pub async fn release(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    seq: web::Path<i64>,
    body: web::Json<DeferralRelease>,
) -> Result<HttpResponse, ApiError> {
    let release = body.into_inner();
    if release.released_by.trim().is_empty() {
        return Err(ApiError::Invalid(vec![schemas::FieldError::new(
            "released_by",
            "must name the data protection officer releasing the entry",
        )]));
    }
    let seq = seq.into_inner();
    let correlation_id = audit::correlation_of(&req);
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        db::write(&mut conn, |c| {
            let Some(row) = db::audit::find(c, seq)?
                .filter(|r| r.action == "disclosure" || r.action == "confirm")
            else {
                return Ok(None);
            };
            let detail = json!({"released": seq, "released_by": release.released_by});
            let entry =
                NewEntry::by_system(&caller.member_id, &correlation_id, row.child_id, detail);
            db::audit::append(c, &entry).map(Some)
        })
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    Ok(HttpResponse::Created().finish())
}
