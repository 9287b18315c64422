//! Routing notifications. A node hands the gateway an event with the child's identity
//! and, per agency kind, the payload its policy allows. The gateway offers the event to
//! every other node (the offer carries the child's identity, never the payload); nodes
//! that hold the child and subscribe get the payload for their kind, signed with their
//! webhook secret. The gateway keeps nothing: the sending node's outbox is the only
//! record, and it retries whatever this answer says failed.

use crate::auth::NodeMember;
use crate::error::GatewayError;
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::{HttpResponse, post, web};
use futures::future::join_all;
use schemas::notification::{
    Acknowledgement, DeliveryOutcome, DeliveryReceipt, Notification, NotificationOffer,
    RecipientOutcome, RouteRequest, RouteResponse,
};
use schemas::{AgencyId, FieldError, Problem};
use std::collections::HashSet;
use trust::webhook::WebhookSecret;

pub(super) fn secret_for(state: &AppState, agency: &AgencyId) -> Result<WebhookSecret, String> {
    let dir = state
        .notification_secrets
        .as_ref()
        .ok_or_else(|| "the gateway has no notifications.secrets_dir".to_owned())?;
    WebhookSecret::load(&dir.join(format!("{agency}.secret"))).map_err(|e| e.to_string())
}

pub(super) fn failure_text(failure: Failure) -> String {
    match failure {
        Failure::NotFound => "the agency no longer holds the child".into(),
        Failure::Timeout => "no answer within the deadline".into(),
        Failure::Unavailable(why) | Failure::Error(why) => why,
    }
}

enum Asked {
    /// Does not hold the child, or holds it and did not take the event: not listed.
    NotTaken,
    /// Could not be asked.
    Unreachable(AgencyId),
    Answered(RecipientOutcome),
}

/// Route a notification to the agencies that hold the child (nodes only).
///
/// Called by an agency node's outbox worker with the node's own certificate. The
/// routing table decides whether the sender's kind may raise the event type at all (403
/// otherwise) and the category must be one its kind holds (400); then the sender's own
/// node is asked whether the child is one of its own, as a search would (422 otherwise:
/// routing is not a way to learn who holds a child). Every other node the table allows
/// is asked whether it holds the child, is involved as the table asks and subscribes;
/// those that take the event receive the payload the sender's policy allows their kind,
/// signed (Standard Webhooks headers) with their webhook secret. Answers, for the
/// agencies that took the event only, `delivered`, `duplicate` or `failed`, and which
/// agencies could not be asked; the sender retries failures. An agency that did not take
/// the event is not listed, whether or not it holds the child. Each sending node may
/// route a limited number of events per second (429 with `Retry-After`).
#[utoipa::path(
    tag = "notifications",
    request_body = RouteRequest,
    responses(
        (status = 200, description = "The agencies that took the event, and what happened at each", body = RouteResponse),
        (status = 400, description = "Invalid event", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not an agency node of the federation, or its kind may not raise this event", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The sender's own node does not hold the child", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The sender's own node could not be asked; retry later", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Notifications not configured, or the gateway is busy", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/notifications")]
pub async fn route(
    sender: NodeMember,
    state: web::Data<AppState>,
    body: web::Json<RouteRequest>,
) -> Result<HttpResponse, GatewayError> {
    state
        .route_limiter
        .check(sender.member.id.as_str())
        .map_err(GatewayError::RoutingRateLimited)?;
    let event = body.into_inner();
    let sender_kind = sender.member.kind.ok_or_else(|| {
        GatewayError::Forbidden(format!("'{}' has no agency kind", sender.member.id))
    })?;
    // The sender rules of the routing table: a school may not raise an Encompass
    // notification, nobody routes a break-glass alert.
    if !schemas::notification::may_send(event.event_type, sender_kind) {
        return Err(GatewayError::Forbidden(format!(
            "a {} node may not raise {} events",
            sender_kind.as_str(),
            event.event_type.as_str()
        )));
    }
    // Concerns and their outcomes have their own routes, which deliver to one front door
    // or one referrer and keep the concern's state at both ends: never offered here.
    if matches!(
        event.event_type,
        schemas::notification::EventType::ConcernRaised
            | schemas::notification::EventType::ConcernOutcome
    ) {
        return Err(GatewayError::Forbidden(format!(
            "{} events are sent through POST /v1/concerns or /v1/concerns/outcomes",
            event.event_type.as_str()
        )));
    }
    let mut errors = event.child.validate();
    if !event.category.held_by(sender_kind) {
        errors.push(FieldError::new(
            "category",
            format!(
                "a {} node does not hold {} records",
                sender_kind.as_str(),
                event.category.as_str()
            ),
        ));
    }
    let mut kinds = HashSet::new();
    for (i, payload) in event.payloads.iter().enumerate() {
        if !kinds.insert(payload.kind) {
            errors.push(FieldError::new(
                format!("payloads[{i}].kind"),
                "each agency kind may appear once",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    if state.notification_secrets.is_none() {
        return Err(GatewayError::NotConfigured("notifications.secrets_dir"));
    }
    let _slot = super::fanout_slot(&state)?;
    let directory = state.directory.get();
    let sender = &sender.member;
    let offer = NotificationOffer {
        event_id: event.id,
        event_type: event.event_type,
        sender: sender.id.clone(),
        child: event.child.clone(),
        school_to_inform: event.school_to_inform.clone(),
        recipient: event.recipient.clone(),
    };
    // The sender's own node must hold the child, as it would answer a search: a node
    // certificate cannot ask who holds someone else's child.
    let Some(own_node) = directory.nodes().find(|node| node.id == sender.id) else {
        return Err(GatewayError::Forbidden(format!(
            "'{}' is not an agency node with an address in the directory",
            sender.id
        )));
    };
    let origin = state
        .http
        .node(own_node, "", state.node_deadline, None)
        .origin(&offer)
        .await
        .result;
    match origin {
        Ok(answer) if answer.held => {}
        Ok(_) | Err(Failure::NotFound) => return Err(GatewayError::SenderDoesNotHold),
        Err(failure) => {
            return Err(GatewayError::NotDelivered(format!(
                "the sender's own node could not be asked whether it holds the child: {}",
                failure_text(failure)
            )));
        }
    }
    let asked = join_all(
        directory
            .nodes()
            .filter(|node| node.id != sender.id)
            // The routing table: kinds that may never receive this event from this
            // sender are not even asked.
            .filter(|node| {
                use schemas::notification::Involvement;
                match schemas::notification::route(event.event_type, sender_kind, node.kind) {
                    Involvement::Nobody => false,
                    // Addressed to one agency (a meeting decision's owner): no other is
                    // asked.
                    Involvement::Addressed => event.recipient.as_ref() == Some(&node.id),
                    _ => true,
                }
            })
            .filter_map(|node| {
                let payload = event.payloads.iter().find(|p| p.kind == node.kind)?;
                Some((node, payload))
            })
            .map(|(node, payload)| {
                let state = &state;
                let offer = &offer;
                let event = &event;
                async move {
                    let client = state.http.node(node, "", state.node_deadline, None);
                    let answer = match client.offer(offer).await.result {
                        Ok(answer) => answer,
                        Err(Failure::NotFound) => return Asked::NotTaken,
                        Err(_) => return Asked::Unreachable(node.id.clone()),
                    };
                    // An agency that did not take the event (not subscribed, not
                    // involved as the table asks) is told apart from one that does not
                    // hold the child by nobody: neither is listed.
                    let local_ref = match (answer.wanted, answer.local_ref) {
                        (true, Some(local_ref)) => local_ref,
                        _ => return Asked::NotTaken,
                    };
                    let mut outcome = RecipientOutcome {
                        agency_id: node.id.clone(),
                        agency_name: node.name.clone(),
                        kind: node.kind,
                        outcome: DeliveryOutcome::Failed,
                        reason: None,
                        deadline: None,
                    };
                    let notification = Notification {
                        id: event.id,
                        event_type: event.event_type,
                        occurred_at: event.occurred_at,
                        sender: sender.id.clone(),
                        sender_name: sender.name.clone(),
                        local_ref,
                        category: event.category,
                        level: payload.level,
                        impact: payload.impact.clone(),
                        details: payload.details.clone(),
                    };
                    let delivered = match (
                        secret_for(state, &node.id),
                        serde_json::to_vec(&notification),
                    ) {
                        (Ok(secret), Ok(body)) => client
                            .signed_post::<DeliveryReceipt>(
                                "/v1/federation/notifications",
                                &event.id.to_string(),
                                body,
                                &secret,
                            )
                            .await
                            .result
                            .map_err(failure_text),
                        (Err(why), _) => Err(why),
                        (_, Err(e)) => Err(e.to_string()),
                    };
                    match delivered {
                        Ok(receipt) => {
                            outcome.outcome = receipt.outcome;
                            outcome.deadline = receipt.deadline;
                        }
                        Err(why) => {
                            outcome.outcome = DeliveryOutcome::Failed;
                            outcome.reason = Some(why);
                        }
                    }
                    Asked::Answered(outcome)
                }
            }),
    )
    .await;
    let mut response = RouteResponse {
        recipients: Vec::new(),
        unreachable: Vec::new(),
    };
    for result in asked {
        match result {
            Asked::NotTaken => {}
            Asked::Unreachable(id) => response.unreachable.push(id),
            Asked::Answered(outcome) => response.recipients.push(outcome),
        }
    }
    tracing::info!(
        event = %event.id, event_type = event.event_type.as_str(), sender = %sender.id,
        recipients = response.recipients.len(), unreachable = response.unreachable.len(),
        "notification routed"
    );
    Ok(HttpResponse::Ok().json(response))
}

/// Sends `body`, signed with the node's webhook secret under `id`, to one node's `path`
/// and answers with the node's own answer: how the gateway relays a message meant for
/// one agency (an acknowledgement, a concern's outcome). A node that does not know the
/// message is 404 `unknown-event`; one that cannot be reached is 502.
pub(super) async fn relay_signed<T, R>(
    state: &AppState,
    node: trust::Node<'_>,
    path: &str,
    id: &str,
    body: &T,
) -> Result<HttpResponse, GatewayError>
where
    T: serde::Serialize,
    R: serde::de::DeserializeOwned + serde::Serialize,
{
    let secret = secret_for(state, &node.id).map_err(GatewayError::NotDelivered)?;
    let body = serde_json::to_vec(body).map_err(|e| {
        tracing::error!(error = %e, path, "encoding a relayed message");
        GatewayError::Internal
    })?;
    let client = state.http.node(node, "", state.node_deadline, None);
    match client
        .signed_post::<R>(path, id, body, &secret)
        .await
        .result
    {
        Ok(answer) => Ok(HttpResponse::Ok().json(answer)),
        Err(Failure::NotFound) => Err(GatewayError::UnknownEvent),
        Err(failure) => Err(GatewayError::NotDelivered(failure_text(failure))),
    }
}

/// Pass an acknowledgement back to the agency that sent the event (nodes only).
///
/// `agency_id` names the sender of the acknowledged event; the sender learns which
/// agency acknowledged (the caller) and when, signed with its webhook secret.
#[utoipa::path(
    tag = "notifications",
    request_body = Acknowledgement,
    responses(
        (status = 200, description = "The sender recorded it", body = Acknowledgement),
        (status = 403, description = "Caller is not an agency node of the federation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The sender does not know this event", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The sender could not be reached; retry later", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Notifications not configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/notifications/acknowledgements")]
pub async fn acknowledge(
    recipient: NodeMember,
    state: web::Data<AppState>,
    body: web::Json<Acknowledgement>,
) -> Result<HttpResponse, GatewayError> {
    let ack = body.into_inner();
    if state.notification_secrets.is_none() {
        return Err(GatewayError::NotConfigured("notifications.secrets_dir"));
    }
    let directory = state.directory.get();
    let sender = directory
        .nodes()
        .find(|n| n.id == ack.agency_id)
        .ok_or_else(|| {
            GatewayError::Invalid(vec![FieldError::new(
                "agency_id",
                "is not an agency node of the federation",
            )])
        })?;
    let forwarded = Acknowledgement {
        event_id: ack.event_id,
        agency_id: recipient.member.id.clone(),
        acknowledged_at: ack.acknowledged_at,
    };
    relay_signed::<_, Acknowledgement>(
        &state,
        sender,
        "/v1/federation/notifications/acknowledgements",
        &forwarded.event_id.to_string(),
        &forwarded,
    )
    .await
}
