//! Federation face: gateways find a child here and read their records, on behalf of a
//! practitioner whose token this node verifies itself.

use crate::auth::FederatedCaller;
use crate::db;
use crate::error::ApiError;
use crate::matching;
use crate::startup::AppState;
use actix_web::{HttpResponse, get, post, web};
use schemas::{AccessContext, ChildQuery, ChildRecords, MatchResponse, Problem, Record};

/// Find a child among this agency's records.
///
/// Exact on validated identifiers (UPN, NHS number) first, then exact on normalised
/// demographics. Never returns the node's own demographics.
#[utoipa::path(
    tag = "federation",
    request_body = ChildQuery,
    responses(
        (status = 200, description = "Whether this node holds the child", body = MatchResponse),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/v1/federation/match")]
pub async fn match_child(
    _caller: FederatedCaller,
    state: web::Data<AppState>,
    body: web::Json<ChildQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = body.into_inner();
    let errors = query.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let pool = state.pool.clone();
    let answer = web::block(move || {
        let mut conn = pool.get()?;
        matching::find(&mut conn, &query)
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

/// Read a child's records, for a stated purpose and legal basis.
#[utoipa::path(
    tag = "federation",
    params(
        ("local_ref" = String, Path, description = "This node's reference for the child, from a match"),
        AccessContext,
    ),
    responses(
        (status = 200, description = "The child's records at this agency", body = ChildRecords),
        (status = 400, description = "Missing or unknown purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child here", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[get("/v1/federation/children/{local_ref}/records")]
pub async fn child_records(
    _caller: FederatedCaller,
    state: web::Data<AppState>,
    local_ref: web::Path<String>,
    context: web::Query<AccessContext>,
) -> Result<HttpResponse, ApiError> {
    let errors = context.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let pool = state.pool.clone();
    let rows = web::block(move || {
        let mut conn = pool.get()?;
        match db::children::find_by_id(&mut conn, &local_ref)? {
            Some(child) => db::records::for_child(&mut conn, &child.id).map(Some),
            None => Ok(None),
        }
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    let records = rows
        .into_iter()
        .map(|r| r.into_wire())
        .collect::<Result<Vec<Record>, _>>()?;
    Ok(HttpResponse::Ok().json(ChildRecords {
        agency_id: state.agency_id.clone(),
        agency_kind: state.agency_kind,
        records,
    }))
}
