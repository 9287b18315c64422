//! Notifications at the node. Integration face: publish an event, watch the outbox,
//! read and acknowledge the inbox, manage subscriptions. Federation face (gateways
//! only): answer an offer (do we hold this child and want this event?), receive a
//! signed delivery, and receive a recipient's acknowledgement of one of our events.

use crate::audit::{self, NewEntry};
use crate::auth::{GatewayCaller, IntegrationClient};
use crate::db::DbConnection;
use crate::db::{self, DbError};
use crate::error::ApiError;
use crate::finding;
use crate::notifications::{self, NewEvent};
use crate::routes::children::write_one;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{NaiveDateTime, Utc};
use schemas::notification::{
    Acknowledgement, DeliveryOutcome, DeliveryReceipt, EventPublish, EventType, Inbox, InboxItem,
    Notification, NotificationOffer, OfferAnswer, OriginAnswer, Outbox, OutboxItem, OutboxStatus,
    Subscription, SubscriptionUpdate, Subscriptions,
};
use schemas::{FieldError, MatchOutcome, Problem};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

/// The newest items a list returns.
const LIST_LIMIT: i64 = 500;

fn horizon(state: &AppState) -> NaiveDateTime {
    (Utc::now() + chrono::Duration::minutes(state.notifications.at_risk_minutes)).naive_utc()
}

fn outbox_item(
    conn: &mut DbConnection,
    row: db::notifications::OutboxRow,
    horizon: NaiveDateTime,
) -> Result<OutboxItem, DbError> {
    let local_id = notifications::local_id_of(conn, &row.child_id)?;
    let recipients = db::notifications::recipients(conn, &row.id)?;
    notifications::outbox_item(row, local_id, recipients, horizon)
}

/// Publish an event about one of this agency's children.
///
/// For events the node does not raise from a record write itself. The event goes into
/// the outbox and is delivered, through the gateway, to every agency that holds the
/// child and has subscribed to its type, at the level this node's sharing policy gives
/// that agency's kind for the record category.
#[utoipa::path(
    tag = "notifications",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    request_body = EventPublish,
    responses(
        (status = 202, description = "In the outbox; delivery follows", body = OutboxItem),
        (status = 400, description = "Invalid event", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/children/{local_id}/events")]
pub async fn publish(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_id: web::Path<String>,
    body: web::Json<EventPublish>,
) -> Result<HttpResponse, ApiError> {
    let local_id = local_id.into_inner();
    let event = body.into_inner();
    crate::writes::check_local_id(&local_id)?;
    let errors = event.validate(state.agency_kind);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let horizon = horizon(&state);
    let item = write_one(&state, &caller, &req, move |c, writer| {
        let child = db::children::find_by_local_id(c, &local_id)?.ok_or(ApiError::ChildNotFound)?;
        let id = notifications::enqueue(
            c,
            &NewEvent {
                event_type: event.event_type,
                child_id: &child.id,
                category: event.category,
                occurred_at: event.occurred_at,
                impact: &event.impact,
                details: &event.details.to_string(),
                source_system_id: None,
            },
            writer.earliest_school_day,
        )?;
        let detail =
            json!({"wrote": "event", "event_id": id, "event_type": event.event_type.as_str()});
        let entry =
            NewEntry::by_system(writer.system, writer.correlation_id, Some(child.id), detail);
        db::audit::append(c, &entry)?;
        let row = db::notifications::find(c, &id)?.ok_or(ApiError::Internal)?;
        Ok(outbox_item(c, row, horizon)?)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(item))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only events in this state.
    pub status: Option<OutboxStatus>,
    /// Only events at risk of missing their deadline.
    #[serde(default)]
    pub at_risk: bool,
}

/// The events this node raised, newest first, and where each reached.
///
/// Each lists its recipients (the agencies that hold the child), what each answered,
/// when it was delivered and acknowledged. `dead` events gave up after the configured
/// attempts and can be replayed.
#[utoipa::path(
    tag = "notifications",
    params(OutboxQuery),
    responses(
        (status = 200, description = "The outbox", body = Outbox),
        (status = 400, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/notifications/outbox")]
pub async fn outbox(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    // Anything but pending, delivered or dead is refused with 400 as the query is read.
    let status = query.status.map(|s| audit::wire_name(&s));
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let items = web::block(move || -> Result<Vec<OutboxItem>, DbError> {
        let mut conn = pool.get()?;
        let rows = db::notifications::list(&mut conn, status.as_deref(), LIST_LIMIT)?;
        rows.into_iter()
            .map(|row| outbox_item(&mut conn, row, horizon))
            .filter(|item| !query.at_risk || item.as_ref().is_ok_and(|i| i.at_risk))
            .collect()
    })
    .await??;
    Ok(HttpResponse::Ok().json(Outbox { items }))
}

/// One event of the outbox.
///
/// Its state (`pending`, `delivered`, `dead`), attempts so far, the last error, and per
/// recipient what it answered and when it was delivered and acknowledged.
#[utoipa::path(
    tag = "notifications",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = OutboxItem),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/notifications/outbox/{id}")]
pub async fn outbox_event(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let item = web::block(move || -> Result<Option<OutboxItem>, DbError> {
        let mut conn = pool.get()?;
        db::notifications::find(&mut conn, &id)?
            .map(|row| outbox_item(&mut conn, row, horizon))
            .transpose()
    })
    .await??
    .ok_or(ApiError::NotificationNotFound)?;
    Ok(HttpResponse::Ok().json(item))
}

/// Send a dead letter again.
///
/// Puts the event back in the queue with its attempts reset; recipients that already
/// have it ignore the repeat.
#[utoipa::path(
    tag = "notifications",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "Queued again", body = OutboxItem),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event is not a dead letter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/notifications/outbox/{id}/replay")]
pub async fn replay(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let horizon = horizon(&state);
    let item = write_one(&state, &caller, &req, move |c, writer| {
        let row = db::notifications::find(c, &id)?.ok_or(ApiError::NotificationNotFound)?;
        if !db::notifications::replay(c, &id, Utc::now().naive_utc())? {
            return Err(ApiError::Conflict(format!(
                "event {id} is {}, not dead; only dead letters are replayed",
                row.status
            )));
        }
        let detail = json!({"wrote": "replay", "event_id": id});
        let entry = NewEntry::by_system(
            writer.system,
            writer.correlation_id,
            Some(row.child_id),
            detail,
        );
        db::audit::append(c, &entry)?;
        let row = db::notifications::find(c, &id)?.ok_or(ApiError::Internal)?;
        Ok(outbox_item(c, row, horizon)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(item))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only items nobody has acknowledged yet.
    #[serde(default)]
    pub unacknowledged: bool,
    /// Only items at risk of missing their deadline (Operation Encompass: the start of
    /// the next school day).
    #[serde(default)]
    pub at_risk: bool,
}

/// What other agencies sent about this agency's children, newest first.
///
/// For the agency's own system to show its practitioners (the school's designated
/// safeguarding lead, the allocated social worker). Each item carries only what the
/// sender's policy allowed for this agency's kind.
#[utoipa::path(
    tag = "notifications",
    params(InboxQuery),
    responses(
        (status = 200, description = "The inbox", body = Inbox),
        (status = 400, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/notifications/inbox")]
pub async fn inbox(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let items = web::block(move || -> Result<Vec<InboxItem>, DbError> {
        let mut conn = pool.get()?;
        let rows = db::notifications::inbox(&mut conn, query.unacknowledged, LIST_LIMIT)?;
        rows.into_iter()
            .map(|row| notifications::inbox_item_of(&mut conn, row, horizon))
            .filter(|item| !query.at_risk || item.as_ref().is_ok_and(|i| i.at_risk))
            .collect()
    })
    .await??;
    Ok(HttpResponse::Ok().json(Inbox { items }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"by": "dsl.school-a"}))]
pub struct AcknowledgeRequest {
    /// Who read it: the practitioner's user name in the agency's own system.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub by: String,
}

/// Acknowledge an inbox item: a practitioner has read it.
///
/// The first acknowledgement stands. The sender learns of it through the gateway.
#[utoipa::path(
    tag = "notifications",
    params(("id" = String, Path, description = "The notification's id")),
    request_body = AcknowledgeRequest,
    responses(
        (status = 200, description = "Acknowledged", body = InboxItem),
        (status = 400, description = "Missing `by`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/notifications/inbox/{id}/acknowledge")]
pub async fn acknowledge(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<AcknowledgeRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let by = body.into_inner().by;
    let by_len = by.trim().chars().count();
    if by_len == 0 || by_len > 200 {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "by",
            "must have 1 to 200 characters",
        )]));
    }
    let horizon = horizon(&state);
    let item = write_one(&state, &caller, &req, move |c, writer| {
        let now = Utc::now().naive_utc();
        let row = db::notifications::acknowledge(c, &id, by.trim(), now)?
            .ok_or(ApiError::NotificationNotFound)?;
        let detail = json!({"wrote": "acknowledgement", "event_id": id, "by": by.trim()});
        let entry = NewEntry::by_system(
            writer.system,
            writer.correlation_id,
            Some(row.child_id.clone()),
            detail,
        );
        db::audit::append(c, &entry)?;
        Ok(notifications::inbox_item_of(c, row, horizon)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(item))
}

/// The event types this agency receives, and whether each is active or paused.
///
/// A node starts with the subscriptions its configuration (or its agency kind) gives;
/// changes made here last across restarts.
#[utoipa::path(
    tag = "notifications",
    responses(
        (status = 200, description = "Subscriptions", body = Subscriptions),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/notifications/subscriptions")]
pub async fn subscriptions(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || {
        let mut conn = pool.get()?;
        db::notifications::subscriptions(&mut conn)
    })
    .await??;
    let subscriptions = rows
        .into_iter()
        .filter_map(|(t, active)| {
            EventType::parse(&t).map(|event_type| Subscription { event_type, active })
        })
        .collect();
    Ok(HttpResponse::Ok().json(Subscriptions { subscriptions }))
}

/// Subscribe to an event type, or pause it.
///
/// While paused, offers of that type are answered "not subscribed": nothing is
/// delivered, and nothing queues up for later.
#[utoipa::path(
    tag = "notifications",
    params(("event_type" = EventType, Path, description = "The event type")),
    request_body = SubscriptionUpdate,
    responses(
        (status = 200, description = "The subscription as it now stands", body = Subscription),
        (status = 400, description = "Unknown event type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[put("/v1/notifications/subscriptions/{event_type}")]
pub async fn set_subscription(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    event_type: web::Path<String>,
    body: web::Json<SubscriptionUpdate>,
) -> Result<HttpResponse, ApiError> {
    let event_type = EventType::parse(&event_type).ok_or_else(|| {
        ApiError::Invalid(vec![FieldError::new(
            "event_type",
            format!(
                "must be one of: {}",
                EventType::ALL.map(|t| t.as_str()).join(", ")
            ),
        )])
    })?;
    let active = body.into_inner().active;
    write_one(&state, &caller, &req, move |c, writer| {
        db::notifications::set_subscription(
            c,
            event_type.as_str(),
            active,
            Utc::now().naive_utc(),
        )?;
        let detail =
            json!({"wrote": "subscription", "event_type": event_type.as_str(), "active": active});
        db::audit::append(
            c,
            &NewEntry::by_system(writer.system, writer.correlation_id, None, detail),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(Subscription { event_type, active }))
}

/// Whether this node wants an event about a child (gateways only).
///
/// The node finds the child among its own records exactly as for a search; it wants the
/// event only when it holds the child (a link, not a candidate) and subscribes to the
/// event type. The event's content is not sent with the offer.
#[utoipa::path(
    tag = "federation",
    request_body = NotificationOffer,
    responses(
        (status = 200, description = "Whether the node wants the event", body = OfferAnswer),
        (status = 400, description = "Invalid offer", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/notifications/offers")]
pub async fn offer(
    caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NotificationOffer>,
) -> Result<HttpResponse, ApiError> {
    let offer = body.into_inner();
    let errors = offer.child.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let correlation_id = audit::correlation_of(&req);
    let sender_kind = state
        .directory
        .get()
        .member(&offer.sender)
        .and_then(|m| m.kind);
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let state2 = state.clone();
    let answer = web::block(move || -> Result<OfferAnswer, ApiError> {
        let state = state2;
        let mut conn = state.pool.get().map_err(DbError::from)?;
        Ok(db::write(&mut conn, |c| {
            let found = finding::find_with(c, &offer.child, &state.weight_estimation.settings())?;
            let held = found.outcome == MatchOutcome::Held && found.held;
            let subscribed = db::notifications::is_subscribed(c, offer.event_type.as_str())?;
            // The routing table: does this agency's involvement with the child, by its
            // own records, entitle it to this event from this kind of sender?
            let involved = match (&found.local_ref, sender_kind) {
                (Some(local_ref), Some(sender_kind)) if held => {
                    let records = db::records::for_child(c, local_ref)?
                        .into_iter()
                        .map(|r| r.into_wire())
                        .collect::<Result<Vec<_>, _>>()?;
                    // The event names this agency: the police record's school to
                    // inform is this node's own URN, or a meeting decision is ours.
                    let named = offer
                        .school_to_inform
                        .as_ref()
                        .is_some_and(|urn| state.imports.own_urn() == Some(urn))
                        || offer.recipient.as_ref() == Some(&state.agency_id);
                    state.policy.relationship.involves(
                        &records,
                        today,
                        schemas::notification::route(
                            offer.event_type,
                            sender_kind,
                            state.agency_kind,
                        ),
                        named,
                    )
                }
                _ => false,
            };
            // A concern goes to the social care node that holds the child whatever its
            // involvement or subscriptions: the front door cannot opt out of concerns.
            let concern = offer.event_type == EventType::ConcernRaised
                && state.agency_kind == schemas::AgencyKind::SocialCare;
            let (wanted, reason) = match (held, involved, subscribed) {
                (false, _, _) => (false, "not_held"),
                (true, _, _) if concern => (true, if involved { "held" } else { "not_involved" }),
                (true, false, _) => (false, "not_involved"),
                (true, true, false) => (false, "not_subscribed"),
                (true, true, true) => (true, "held"),
            };
            // Every offer is audited, taken or not: someone asked this agency about a
            // child (with the child when it is held here).
            let detail = json!({
                "notification_offer": offer.event_id, "event_type": offer.event_type.as_str(),
                "sender": offer.sender, "answered": reason,
            });
            let entry = NewEntry::by_system(
                &caller.gateway_id,
                &correlation_id,
                if held { found.local_ref.clone() } else { None },
                detail,
            )
            .with_action(audit::Action::Match);
            db::audit::append(c, &entry)?;
            Ok(OfferAnswer {
                wanted,
                reason: reason.to_owned(),
                local_ref: if wanted { found.local_ref } else { None },
            })
        })?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

/// Whether this node holds the child of an event it sent (gateways only).
///
/// Before routing an event, the gateway asks the sending agency's own node, as a search
/// would, whether the child is one of its own: a node may raise events only about the
/// children it holds, so that routing is not a way to learn who holds anyone else. An
/// offer naming another sender is answered `held: false`. Audited either way.
#[utoipa::path(
    tag = "federation",
    request_body = NotificationOffer,
    responses(
        (status = 200, description = "Whether this node holds the child", body = OriginAnswer),
        (status = 400, description = "Invalid offer", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/notifications/origin")]
pub async fn origin(
    caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NotificationOffer>,
) -> Result<HttpResponse, ApiError> {
    let event = body.into_inner();
    let errors = event.child.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let correlation_id = audit::correlation_of(&req);
    let state2 = state.clone();
    let held = web::block(move || -> Result<bool, ApiError> {
        let state = state2;
        let mut conn = state.pool.get().map_err(DbError::from)?;
        Ok(db::write(&mut conn, |c| {
            let found = finding::find_with(c, &event.child, &state.weight_estimation.settings())?;
            let held = event.sender == state.agency_id
                && found.outcome == MatchOutcome::Held
                && found.held;
            let detail = json!({
                "notification_origin": event.event_id, "event_type": event.event_type.as_str(),
                "sender": event.sender, "answered": if held { "held" } else { "not_held" },
            });
            let entry = NewEntry::by_system(
                &caller.gateway_id,
                &correlation_id,
                if held { found.local_ref.clone() } else { None },
                detail,
            )
            .with_action(audit::Action::Match);
            db::audit::append(c, &entry)?;
            Ok(held)
        })?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(OriginAnswer { held }))
}

/// The headers of a signed delivery.
pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks the gateway's webhook signature over the raw body.
pub(crate) fn verify_signature(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(), ApiError> {
    use trust::webhook::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    let secret = state
        .webhook_secret
        .as_ref()
        .ok_or(ApiError::NotConfigured("notifications.webhook_secret_file"))?;
    secret
        .verify(
            header(req, ID_HEADER),
            header(req, TIMESTAMP_HEADER),
            header(req, SIGNATURE_HEADER),
            body,
        )
        .map_err(ApiError::BadSignature)
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("body", e.to_string())]))
}

/// Receive a notification (gateways only; signed).
///
/// The body is signed by the gateway with this node's webhook secret
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`, Standard Webhooks style);
/// a bad signature or a timestamp more than five minutes off is refused. A second
/// delivery with the same id changes nothing and answers `duplicate`.
#[utoipa::path(
    tag = "federation",
    request_body = Notification,
    params(
        ("webhook-id" = String, Header, description = "The event id"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds when signed"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA-256>`"),
    ),
    responses(
        (status = 200, description = "Stored, or already stored", body = DeliveryReceipt),
        (status = 400, description = "Invalid notification", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature or stale timestamp", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The child reference is unknown here", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/notifications")]
pub async fn receive(
    caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_signature(&state, &req, &body)?;
    let notification: Notification = parse_body(&body)?;
    if header(&req, trust::webhook::ID_HEADER) != Some(notification.id.to_string().as_str()) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "webhook-id",
            "must be the notification's id",
        )]));
    }
    let deadline = match (notification.event_type, &state.school_calendar) {
        (EventType::EncompassNotification, Some(calendar)) => {
            calendar.next_day_start(notification.occurred_at)
        }
        _ => None,
    };
    let correlation_id = audit::correlation_of(&req);
    let state2 = state.clone();
    let outcome = web::block(move || -> Result<DeliveryOutcome, ApiError> {
        let mut conn = state2.pool.get().map_err(DbError::from)?;
        db::write(&mut conn, |c| {
            let child = db::children::find_by_id(c, &notification.local_ref)?
                .ok_or_else(|| DbError::Conflict("child-not-found".into()))?;
            let row = db::notifications::InboxRow {
                id: notification.id.to_string(),
                event_type: notification.event_type.as_str().to_owned(),
                child_id: child.id.clone(),
                occurred_at: notification.occurred_at.naive_utc(),
                received_at: Utc::now().naive_utc(),
                sender: notification.sender.to_string(),
                sender_name: notification.sender_name.clone(),
                category: notification.category.as_str().to_owned(),
                level: audit::wire_name(&notification.level),
                impact: notification.impact.clone(),
                details: notification.details.as_ref().map(|d| d.to_string()),
                deadline: deadline.map(|d| d.naive_utc()),
                acknowledged_at: None,
                acknowledged_by: None,
                ack_relayed: false,
            };
            let new = db::notifications::receive(c, &row)?;
            if new {
                let detail = json!({
                    "received": "notification", "event_id": row.id, "event_type": row.event_type,
                    "sender": row.sender, "level": row.level,
                });
                let entry = NewEntry::by_system(
                    &caller.gateway_id,
                    &correlation_id,
                    Some(child.id),
                    detail,
                );
                db::audit::append(c, &entry)?;
            }
            Ok(if new {
                DeliveryOutcome::Delivered
            } else {
                DeliveryOutcome::Duplicate
            })
        })
        .map_err(|e| match e {
            DbError::Conflict(what) if what == "child-not-found" => ApiError::ChildNotFound,
            other => other.into(),
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(DeliveryReceipt { outcome, deadline }))
}

/// A recipient acknowledged one of this node's events (gateways only; signed).
///
/// `agency_id` is the recipient. Answers 404 when this node sent no such event to it.
#[utoipa::path(
    tag = "federation",
    request_body = Acknowledgement,
    responses(
        (status = 200, description = "Recorded", body = Acknowledgement),
        (status = 401, description = "Bad signature or stale timestamp", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/notifications/acknowledgements")]
pub async fn acknowledged(
    _caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_signature(&state, &req, &body)?;
    let ack: Acknowledgement = parse_body(&body)?;
    let recorded = ack.clone();
    let pool = state.pool.clone();
    let found = web::block(move || -> Result<bool, DbError> {
        let mut conn = pool.get()?;
        db::write(&mut conn, |c| {
            db::notifications::acknowledged_by_recipient(
                c,
                &ack.event_id.to_string(),
                ack.agency_id.as_str(),
                ack.acknowledged_at.naive_utc(),
            )
        })
    })
    .await??;
    if found {
        Ok(HttpResponse::Ok().json(recorded))
    } else {
        Err(ApiError::NotificationNotFound)
    }
}
