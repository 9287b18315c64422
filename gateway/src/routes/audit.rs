//! Audit anchoring, relayed: a node's signed checkpoints of its audit log go to every
//! other node to keep, and come back from them when the node verifies its log. The
//! gateway keeps nothing and cannot forge a checkpoint (each is signed by the node whose
//! log it is); the nodes reach each other only through it, as they already do for
//! notifications.

use crate::auth::NodeMember;
use crate::error::GatewayError;
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::{HttpResponse, get, post, web};
use futures::future::join_all;
use schemas::disclosure::{
    AuditCheckpoint, CheckpointReceipt, WitnessRefusal, Witnessed, WitnessedCheckpoints,
};
use schemas::{FieldError, Problem};

/// Have the other nodes keep a checkpoint of the caller's audit log (nodes only).
///
/// The caller signs its log's head (entry count, last hash, time) with its node key; the
/// gateway checks the signer is the caller and passes the checkpoint to every other node,
/// which checks the signature against the directory and keeps it. A node that already
/// keeps a different head at the same entry refuses it (409): the log was rewritten.
/// Answers which nodes keep it now and why the others do not.
#[utoipa::path(
    tag = "audit",
    request_body = AuditCheckpoint,
    responses(
        (status = 200, description = "Which nodes keep the checkpoint", body = CheckpointReceipt),
        (status = 400, description = "The checkpoint is not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not an agency node of the federation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/audit/checkpoints")]
pub async fn relay_checkpoint(
    sender: NodeMember,
    state: web::Data<AppState>,
    body: web::Json<AuditCheckpoint>,
) -> Result<HttpResponse, GatewayError> {
    let checkpoint = body.into_inner();
    if checkpoint.node != sender.member.id {
        return Err(GatewayError::Invalid(vec![FieldError::new(
            "node",
            "a node sends checkpoints of its own audit log only",
        )]));
    }
    let _slot = super::fanout_slot(&state)?;
    let directory = state.directory.get();
    let asked = join_all(
        directory
            .nodes()
            .filter(|node| node.id != checkpoint.node)
            .map(|node| {
                let state = &state;
                let checkpoint = &checkpoint;
                async move {
                    let client = state.http.node(node, "", state.node_deadline, None);
                    let answer = client.keep_checkpoint(checkpoint).await.result;
                    (node.id.clone(), answer)
                }
            }),
    )
    .await;
    let mut receipt = CheckpointReceipt {
        checkpoint: Some(checkpoint.clone()),
        ..Default::default()
    };
    for (node, answer) in asked {
        match answer {
            Ok(Ok(_)) => receipt.witnessed_by.push(node),
            Ok(Err(refusal)) => receipt.not_witnessed.push(WitnessRefusal {
                node,
                reason: refusal.problem.detail.unwrap_or(refusal.problem.title),
            }),
            Err(failure) => receipt.not_witnessed.push(WitnessRefusal {
                node,
                reason: failure_text(failure),
            }),
        }
    }
    tracing::info!(
        node = %checkpoint.node, seq = checkpoint.seq,
        witnesses = receipt.witnessed_by.len(), "audit checkpoint relayed"
    );
    Ok(HttpResponse::Ok().json(receipt))
}

/// The checkpoints of the caller's audit log that the other nodes keep (nodes only).
///
/// Each other node is asked for the newest checkpoint of the caller's log it keeps; the
/// caller checks each signature itself and compares each with its log.
#[utoipa::path(
    tag = "audit",
    params(("node" = String, Path, description = "The caller's own member id")),
    responses(
        (status = 200, description = "What each witness keeps", body = WitnessedCheckpoints),
        (status = 403, description = "Caller is not that node", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/audit/checkpoints/{node}")]
pub async fn witnessed_checkpoints(
    caller: NodeMember,
    state: web::Data<AppState>,
    node: web::Path<String>,
) -> Result<HttpResponse, GatewayError> {
    if node.as_str() != caller.member.id.as_str() {
        return Err(GatewayError::Forbidden(
            "a node reads the checkpoints of its own audit log only".into(),
        ));
    }
    let _slot = super::fanout_slot(&state)?;
    let directory = state.directory.get();
    let me = caller.member.id.clone();
    let asked = join_all(directory.nodes().filter(|n| n.id != me).map(|other| {
        let state = &state;
        let me = &me;
        async move {
            let client = state.http.node(other, "", state.node_deadline, None);
            let answer = client.witnessed_checkpoint(me).await.result;
            (other.id.clone(), answer)
        }
    }))
    .await;
    let mut found = WitnessedCheckpoints::default();
    for (witness, answer) in asked {
        match answer {
            Ok(checkpoint) => found.witnessed.push(Witnessed {
                witness,
                checkpoint,
            }),
            Err(_) => found.without.push(witness),
        }
    }
    Ok(HttpResponse::Ok().json(found))
}

fn failure_text(failure: Failure) -> String {
    match failure {
        Failure::NotFound => "the node has no such operation".into(),
        Failure::Timeout => "no answer within the deadline".into(),
        Failure::Unavailable(why) | Failure::Error(why) => why,
    }
}
