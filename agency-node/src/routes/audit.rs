//! The agency's own view of its audit.

use crate::anchoring;
use crate::audit::{self, NewEntry};
use crate::auth::{GatewayCaller, IntegrationClient};
use crate::db;
use crate::db::witnessed::Kept;
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{HttpRequest, post};
use actix_web::{HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemas::disclosure::{AuditCheckpoint, AuditVerification, CheckpointReceipt, DeferralRelease};
use schemas::{FieldError, Problem};
use serde_json::json;

/// Check the audit chain.
///
/// Recomputes every entry's hash in order (reading the log a page at a time) and reports
/// the first entry that was edited, removed or moved, or that entries were cut from the
/// end. Where the node can reach the other nodes (a signing key and a gateway), it also
/// compares the log with the checkpoints of it they keep: a log rewritten whole since a
/// checkpoint, every hash recomputed, is named by the entry whose hash no longer agrees.
/// `witnesses` says what was asked and checked.
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
    Ok(HttpResponse::Ok().json(anchoring::verify(&state).await?))
}

/// Have the log's head witnessed now.
///
/// Signs a checkpoint of the audit log as it stands (entry count, last hash, time) with
/// the node's key and has every other node keep it, through the gateway. The node also
/// does this on its own every `[audit] checkpoint_seconds` when the log has grown.
/// Answers which nodes keep it and why any did not.
#[utoipa::path(
    tag = "integration",
    responses(
        (status = 200, description = "Which nodes keep the checkpoint", body = CheckpointReceipt),
        (status = 502, description = "The gateway could not be reached", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key or no gateway configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/audit/checkpoints")]
pub async fn checkpoint_now(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match anchoring::anchor_now(&state).await {
        Ok(receipt) => Ok(HttpResponse::Ok().json(receipt)),
        Err(anchoring::AnchorError::NotConfigured(what)) => Err(ApiError::NotConfigured(what)),
        Err(anchoring::AnchorError::Failed(why)) => Err(ApiError::Witnesses(why)),
    }
}

/// Keep another node's audit checkpoint, as a witness (gateways only).
///
/// The checkpoint must be signed by the node it names, with the key the directory lists
/// for it. 201 when kept, 200 when this node already kept it; 409 when this node keeps a
/// different head of that node's log at the same entry, which means that log was
/// rewritten.
#[utoipa::path(
    tag = "federation",
    request_body = AuditCheckpoint,
    responses(
        (status = 201, description = "Kept"),
        (status = 200, description = "Already kept"),
        (status = 400, description = "Not a valid checkpoint of another node (a bad signature, this node's own)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A different head is kept for that entry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/audit/checkpoints")]
pub async fn keep_checkpoint(
    _caller: GatewayCaller,
    state: web::Data<AppState>,
    body: web::Json<AuditCheckpoint>,
) -> Result<HttpResponse, ApiError> {
    let checkpoint = body.into_inner();
    let mut errors = Vec::new();
    if checkpoint.node == state.agency_id {
        errors.push(FieldError::new(
            "node",
            "a node does not witness its own audit log",
        ));
    }
    if checkpoint.seq < 0 {
        errors.push(FieldError::new("seq", "must be 0 or more"));
    }
    if checkpoint.at > chrono::Utc::now() + chrono::Duration::minutes(5) {
        errors.push(FieldError::new("at", "must not be in the future"));
    }
    let directory = state.directory.get();
    let signature = STANDARD.decode(&checkpoint.signature).unwrap_or_default();
    let is_node = directory
        .member(&checkpoint.node)
        .is_some_and(|m| m.role == schemas::MemberRole::Node);
    if !is_node {
        errors.push(FieldError::new(
            "node",
            "is not an agency node of the federation",
        ));
    } else if let Err(e) = trust::signature::verify(
        &directory,
        &checkpoint.node,
        &checkpoint.bytes(),
        &signature,
    ) {
        errors.push(FieldError::new("signature", e.to_string()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let pool = state.pool.clone();
    let kept = web::block(move || {
        let mut conn = pool.get()?;
        db::write(&mut conn, |c| db::witnessed::keep(c, &checkpoint)).map(|k| (k, checkpoint))
    })
    .await??;
    match kept {
        (Kept::New, _) => Ok(HttpResponse::Created().json(json!({"kept": true}))),
        (Kept::Again, _) => Ok(HttpResponse::Ok().json(json!({"kept": true}))),
        (Kept::Conflicting(held), checkpoint) => {
            tracing::warn!(
                node = %checkpoint.node, seq = checkpoint.seq,
                "a different audit head was offered for an entry already witnessed"
            );
            Err(ApiError::Conflict(format!(
                "this node keeps another head of {}'s audit log at entry {} (hash {held}): \
                 that log was rewritten",
                checkpoint.node, checkpoint.seq
            )))
        }
    }
}

/// The newest checkpoint of a node's audit log kept here (gateways only).
///
/// As the node signed it; the gateway passes it back to that node when it verifies its
/// log, and the node checks the signature itself.
#[utoipa::path(
    tag = "federation",
    params(("node" = String, Path, description = "The node whose log it is")),
    responses(
        (status = 200, description = "The checkpoint, as that node signed it", body = AuditCheckpoint),
        (status = 404, description = "None kept", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/federation/audit/checkpoints/{node}")]
pub async fn witnessed_checkpoint(
    _caller: GatewayCaller,
    state: web::Data<AppState>,
    node: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let node = schemas::AgencyId::parse(&node).map_err(|_| ApiError::NoCheckpoint)?;
    let pool = state.pool.clone();
    let latest = web::block(move || {
        let mut conn = pool.get()?;
        db::witnessed::latest(&mut conn, &node)
    })
    .await??
    .ok_or(ApiError::NoCheckpoint)?;
    Ok(HttpResponse::Ok().json(latest))
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
