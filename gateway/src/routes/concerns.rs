//! Routing concerns to children's social care, and outcomes back. A node hands the
//! gateway a concern about one of its children; the gateway picks the **front door**
//! (the social care node that already holds the child, as a search would find it; else
//! the authority whose postcode districts include the child's home postcode) and
//! delivers the concern there, signed. Social care's outcomes go back to the referrer
//! the same way. The gateway keeps nothing: the sending node's queue retries.

use super::notifications::{failure_text, secret_for};
use crate::auth::NodeMember;
use crate::error::GatewayError;
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::{HttpResponse, post, web};
use futures::future::join_all;
use schemas::concern::{
    ConcernDelivery, ConcernRoute, ConcernRouted, FrontDoor, OutcomeDelivery, OutcomeRoute,
    postcode_district,
};
use schemas::notification::{
    DeliveryOutcome, DeliveryReceipt, EventType, Involvement, NotificationOffer,
};
use schemas::{AgencyKind, FieldError, Problem};
use trust::directory::Node;

fn front_door(node: &Node<'_>) -> FrontDoor {
    FrontDoor {
        agency_id: node.id.clone(),
        name: node.name.clone(),
        phone: node
            .front_door
            .as_ref()
            .map(|d| d.phone.clone())
            .unwrap_or_default(),
    }
}

/// Route a concern to the children's social care front door that serves the child
/// (nodes only).
///
/// Called by an agency node with its own certificate. Every social care node is asked
/// whether it holds the child (as for a notification offer; the concern itself is not
/// sent with the question). The first that does receives it; otherwise the front door
/// whose postcode districts (directory) include the child's home postcode; otherwise
/// 422 naming `postcode`. A social care node passing a concern on names the front door
/// in `to` and the original referrer in `referrer`. The answer names the front door,
/// what it answered and the decision deadline it set.
#[utoipa::path(
    tag = "concerns",
    request_body = ConcernRoute,
    responses(
        (status = 200, description = "Where the concern went and what the front door answered", body = ConcernRouted),
        (status = 400, description = "Invalid concern", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not an agency node (or, for `to`/`referrer`, not social care)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No front door serves the child", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Notifications not configured, or the gateway is busy", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/concerns")]
pub async fn route_concern(
    sender: NodeMember,
    state: web::Data<AppState>,
    body: web::Json<ConcernRoute>,
) -> Result<HttpResponse, GatewayError> {
    let concern = body.into_inner();
    let mut errors: Vec<FieldError> = concern
        .child
        .validate()
        .into_iter()
        .map(|e| FieldError::new(format!("child.{}", e.field), e.message))
        .collect();
    errors.extend(concern.content.validate());
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    if state.notification_secrets.is_none() {
        return Err(GatewayError::NotConfigured("notifications.secrets_dir"));
    }
    let sender = &sender.member;
    let Some(sender_kind) = sender.kind else {
        return Err(GatewayError::Forbidden(
            "the caller has no agency kind".into(),
        ));
    };
    let forwarding = concern.to.is_some() || concern.referrer.is_some();
    if forwarding && sender_kind != AgencyKind::SocialCare {
        return Err(GatewayError::Forbidden(
            "only children's social care passes a concern on (`to`, `referrer`)".into(),
        ));
    }
    if !forwarding
        && schemas::notification::route(
            EventType::ConcernRaised,
            sender_kind,
            AgencyKind::SocialCare,
        ) == Involvement::Nobody
    {
        return Err(GatewayError::Forbidden(format!(
            "a {} node does not raise concerns to social care",
            sender_kind.as_str()
        )));
    }
    let _slot = super::fanout_slot(&state)?;
    let directory = state.directory.get();
    let referrer = match &concern.referrer {
        Some(id) => directory
            .nodes()
            .find(|n| &n.id == id)
            .ok_or_else(|| {
                GatewayError::Invalid(vec![FieldError::new(
                    "referrer",
                    "is not an agency node of the federation",
                )])
            })?
            .member
            .clone(),
        None => sender.clone(),
    };
    let offer = NotificationOffer {
        event_id: concern.id,
        event_type: EventType::ConcernRaised,
        sender: referrer.id.clone(),
        child: concern.child.clone(),
        school_to_inform: None,
        recipient: None,
    };
    // Who holds the child: asked of every social care node (one named by `to` only).
    let candidates: Vec<Node<'_>> = directory
        .nodes()
        .filter(|n| n.kind == AgencyKind::SocialCare && n.id != sender.id)
        .filter(|n| concern.to.as_ref().is_none_or(|to| &n.id == to))
        .collect();
    if let Some(to) = &concern.to
        && !candidates
            .iter()
            .any(|n| &n.id == to && n.front_door.is_some())
    {
        return Err(GatewayError::Invalid(vec![FieldError::new(
            "to",
            "is not a children's social care front door of the federation",
        )]));
    }
    let answers = join_all(candidates.iter().map(|node| {
        let state = &state;
        let offer = &offer;
        async move {
            let client = state.http.node(*node, "", state.node_deadline, None);
            (node, client.offer(offer).await.result)
        }
    }))
    .await;
    let mut holders = Vec::new();
    for (node, answer) in answers {
        match answer {
            // `not_held` and a 404 both mean the node does not hold the child; any other
            // answer (held, even where no longer involved) means it does.
            Ok(answer) if answer.reason != "not_held" => holders.push((*node, answer)),
            Ok(_) | Err(Failure::NotFound) => {}
            Err(failure) => {
                tracing::warn!(node = %node.id, error = %failure_text(failure), "could not ask a social care node about a concern's child");
            }
        }
    }
    let district = concern.postcode.as_deref().and_then(postcode_district);
    let by_postcode = district
        .as_deref()
        .and_then(|d| directory.front_door_for_district(d));
    // A holder that works with the child now first; then the child's home authority
    // among holders; then any holder; then the home authority.
    holders.sort_by_key(|(node, answer)| {
        (
            answer.reason == "not_involved",
            by_postcode.is_none_or(|home| home.id != node.id),
        )
    });
    let (door, local_ref) = match (concern.to.as_ref(), holders.first(), by_postcode) {
        (Some(to), _, _) => {
            let node = candidates
                .iter()
                .find(|n| &n.id == to)
                .copied()
                .ok_or(GatewayError::Internal)?;
            let local_ref = holders
                .iter()
                .find(|(n, _)| &n.id == to)
                .and_then(|(_, a)| a.local_ref.clone());
            (node, local_ref)
        }
        (None, Some((node, answer)), _) => (*node, answer.local_ref.clone()),
        (None, None, Some(home)) => (home, None),
        (None, None, None) => {
            return Err(GatewayError::NoFrontDoor(vec![FieldError::new(
                "postcode",
                match &district {
                    Some(d) => format!(
                        "no children's social care holds the child, and no front door in the \
                         directory serves postcode district {d}"
                    ),
                    None => "no children's social care holds the child, and the child has no \
                             home postcode to choose a front door by"
                        .to_owned(),
                },
            )]));
        }
    };
    let delivery = ConcernDelivery {
        id: concern.id,
        raised_at: concern.raised_at,
        referrer: referrer.id.clone(),
        referrer_name: referrer.name.clone(),
        referrer_kind: referrer.kind.unwrap_or(sender_kind),
        local_ref,
        child: concern.child.clone(),
        postcode: concern.postcode.clone(),
        content: concern.content.clone(),
        forwarded_by: forwarding.then(|| sender.id.clone()),
    };
    let client = state.http.node(door, "", state.node_deadline, None);
    let delivered = match (secret_for(&state, &door.id), serde_json::to_vec(&delivery)) {
        (Ok(secret), Ok(body)) => client
            .signed_post::<DeliveryReceipt>(
                "/v1/federation/concerns",
                &concern.id.to_string(),
                body,
                &secret,
            )
            .await
            .result
            .map_err(failure_text),
        (Err(why), _) => Err(why),
        (_, Err(e)) => Err(e.to_string()),
    };
    let mut routed = ConcernRouted {
        front_door: front_door(&door),
        outcome: DeliveryOutcome::Failed,
        reason: None,
        deadline: None,
    };
    match delivered {
        Ok(receipt) => {
            routed.outcome = receipt.outcome;
            routed.deadline = receipt.deadline;
        }
        Err(why) => routed.reason = Some(why),
    }
    tracing::info!(
        concern = %concern.id, sender = %sender.id, front_door = %door.id,
        held = routed.front_door.agency_id == door.id && delivery.local_ref.is_some(),
        outcome = ?routed.outcome, "concern routed"
    );
    Ok(HttpResponse::Ok().json(routed))
}

/// Route social care's outcome of a concern to the agency that raised it (social care
/// nodes only).
///
/// The outcome is delivered, signed, to the referrer's node, naming the authority that
/// sent it. The answer is the referrer's receipt: `delivered`, `duplicate`,
/// `not_involved` (a later step after the referrer stopped working with the child) or
/// `failed` (retry).
#[utoipa::path(
    tag = "concerns",
    request_body = OutcomeRoute,
    responses(
        (status = 200, description = "What the referrer answered", body = DeliveryReceipt),
        (status = 400, description = "Invalid outcome", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a social care node", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The referrer does not know the concern", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Notifications not configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/concerns/outcomes")]
pub async fn route_outcome(
    sender: NodeMember,
    state: web::Data<AppState>,
    body: web::Json<OutcomeRoute>,
) -> Result<HttpResponse, GatewayError> {
    let route = body.into_inner();
    let sender = &sender.member;
    if sender.kind != Some(AgencyKind::SocialCare) {
        return Err(GatewayError::Forbidden(
            "only children's social care sends the outcome of a concern".into(),
        ));
    }
    if state.notification_secrets.is_none() {
        return Err(GatewayError::NotConfigured("notifications.secrets_dir"));
    }
    let directory = state.directory.get();
    let referrer = directory
        .nodes()
        .find(|n| n.id == route.to)
        .ok_or_else(|| {
            GatewayError::Invalid(vec![FieldError::new(
                "to",
                "is not an agency node of the federation",
            )])
        })?;
    let mut outcome = route.outcome;
    outcome.from = Some(sender.id.clone());
    outcome.from_name = Some(sender.name.clone());
    let delivery = OutcomeDelivery {
        concern_id: route.concern_id,
        outcome,
    };
    super::notifications::relay_signed::<_, DeliveryReceipt>(
        &state,
        referrer,
        "/v1/federation/concerns/outcomes",
        &delivery.outcome.id.to_string(),
        &delivery,
    )
    .await
}
