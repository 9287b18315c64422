//! Concerns at the node. Integration face: raise a concern about one of this agency's
//! children, list concerns (raised here, or received at this front door), and, at a
//! social care node, record the decision and later steps. Federation face (gateways
//! only, signed): receive a concern at the front door, and an outcome at the referrer.

use crate::audit::{self, NewEntry};
use crate::auth::{GatewayCaller, IntegrationClient};
use crate::concerns::{self as domain, FORWARD, OUTCOME, RAISE};
use crate::db::concerns::{ConcernRow, RAISED, RECEIVED};
use crate::db::{self, DbError};
use crate::error::ApiError;
use crate::routes::children::write_one;
use crate::routes::notifications::{parse_body, verify_signature};
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{NaiveDateTime, Utc};
use schemas::concern::{
    ConcernAccepted, ConcernDecision, ConcernDelivery, ConcernItem, ConcernOutcome, ConcernRaise,
    ConcernRoute, ConcernStatus, ConcernStep, Concerns, DecisionKind, FrontDoor, OutcomeDelivery,
    StepKind,
};
use schemas::notification::{DeliveryOutcome, DeliveryReceipt};
use schemas::{AgencyKind, FieldError, Problem};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

const LIST_LIMIT: i64 = 500;

fn london_date(at: chrono::DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&chrono_tz::Europe::London).date_naive()
}

/// The local id of a child row.
fn local_id_of(c: &mut crate::db::DbConnection, child_id: &str) -> Result<String, ApiError> {
    Ok(db::children::find_by_id(c, child_id)?
        .ok_or(ApiError::ChildNotFound)?
        .local_id)
}

fn horizon(state: &AppState) -> NaiveDateTime {
    (Utc::now() + chrono::Duration::minutes(state.notifications.at_risk_minutes)).naive_utc()
}

/// The front door the directory names for a postcode, for the phone number when the
/// gateway could not be asked.
fn front_door_by_postcode(state: &AppState, postcode: Option<&str>) -> Option<FrontDoor> {
    let district = schemas::concern::postcode_district(postcode?)?;
    let directory = state.directory.get();
    let node = directory.front_door_for_district(&district)?;
    Some(FrontDoor {
        agency_id: node.id.clone(),
        name: node.name.clone(),
        phone: node.front_door.as_ref()?.phone.clone(),
    })
}

fn front_door_of(state: &AppState, id: &schemas::AgencyId) -> Option<FrontDoor> {
    let directory = state.directory.get();
    let node = directory.nodes().find(|n| &n.id == id)?;
    Some(FrontDoor {
        agency_id: node.id.clone(),
        name: node.name.clone(),
        phone: node.front_door.as_ref()?.phone.clone(),
    })
}

/// Raise a concern about one of this agency's children with children's social care.
///
/// The concern goes, through the gateway, to the front door that serves the child: the
/// social care node that already holds the child, else the authority whose postcode
/// districts include the child's home postcode. Every missing or invalid field is named
/// in one problem, and nothing is sent. The answer (202) names the front door, the
/// decision deadline once delivered, and, when `immediate_risk` is true, the front
/// door's phone number in `call_now`: call it now; the message never replaces the call.
/// Delivery is retried from the node's queue when the gateway cannot be reached
/// (`status: sending`). 422 when no front door serves the child (naming `postcode`).
#[utoipa::path(
    tag = "concerns",
    request_body = ConcernRaise,
    responses(
        (status = 202, description = "Stored and sent (or being sent)", body = ConcernAccepted),
        (status = 400, description = "Invalid concern: each field named; nothing sent", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No front door serves the child; nothing sent", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No gateway configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/concerns")]
pub async fn raise_concern(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ConcernRaise>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (local_id, content) = body.into_inner().validate(now).map_err(ApiError::Invalid)?;
    crate::writes::check_local_id(&local_id)?;
    if state.agency_kind == AgencyKind::SocialCare {
        return Err(ApiError::Forbidden(
            "children's social care records its own contacts; concerns are raised by the \
             agencies around the child"
                .into(),
        ));
    }
    let sender = state
        .concern_sender
        .clone()
        .ok_or(ApiError::NotConfigured("notifications.gateway_url"))?;
    let id = uuid::Uuid::new_v4();
    let token = uuid::Uuid::new_v4().to_string();
    let lease = chrono::Duration::milliseconds(
        i64::try_from(state.notifications.claim_timeout_ms).unwrap_or(i64::MAX / 2),
    );
    let agency = state.agency_id.clone();
    let agency_name = state
        .directory
        .get()
        .member(&agency)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| agency.to_string());
    let kind = state.agency_kind;
    let claim = token.clone();
    let (message_id, postcode) = write_one(&state, &caller, &req, move |c, writer| {
        let child = db::children::find_by_local_id(c, &local_id)?.ok_or(ApiError::ChildNotFound)?;
        let wire = child.clone().into_wire()?;
        let Some(query) = domain::query_of(&wire) else {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "local_id",
                "this child has neither identifiers nor enough valid demographics here (a \
                 family name with one more fact, or a given name with a date of birth): \
                 social care could not find them; record them first",
            )]));
        };
        let route = ConcernRoute {
            id,
            raised_at: now,
            child: query,
            postcode: wire.demographics.postcode.clone(),
            content: content.clone(),
            to: None,
            referrer: None,
        };
        let row = ConcernRow {
            id: id.to_string(),
            side: RAISED.into(),
            status: domain::wire(ConcernStatus::Sending),
            child_id: Some(child.id.clone()),
            child_query: None,
            postcode: wire.demographics.postcode.clone(),
            referrer: agency.to_string(),
            referrer_name: agency_name,
            referrer_kind: kind.as_str().into(),
            front_door: None,
            content: domain::to_json(&content)?,
            raised_at: now.naive_utc(),
            received_at: None,
            deadline: None,
            decision: None,
            decided_at: None,
            outcomes: "[]".into(),
            forwarded_by: None,
            updated_at: now.naive_utc(),
        };
        db::concerns::insert(c, &row)?;
        domain::chronicle(
            c,
            writer,
            kind,
            &local_id,
            &domain::Chronicle {
                concern_id: id,
                content: &content,
                raised_by: &agency,
                front_door: None,
                decision: None,
                impact: format!(
                    "Concern raised with children's social care: {}",
                    domain::categories_in_words(&content)
                ),
                raised_on: london_date(now),
            },
        )?;
        let message = domain::queue(
            c,
            &row.id,
            RAISE,
            domain::to_json(&route)?,
            Some((&claim, now.naive_utc() + lease)),
        )?;
        let detail = json!({
            "wrote": "concern", "concern_id": row.id,
            "categories": content.categories, "immediate_risk": content.immediate_risk,
        });
        db::audit::append(
            c,
            &NewEntry::by_system(writer.system, writer.correlation_id, Some(child.id), detail),
        )?;
        Ok((message, row.postcode))
    })
    .await?;
    // The first attempt now, so the answer can say where the concern went; the worker
    // retries if this one fails.
    let pool = state.pool.clone();
    let message = web::block(move || -> Result<_, DbError> {
        let mut conn = pool.get()?;
        db::concerns::message(&mut conn, &message_id)
    })
    .await??
    .ok_or(ApiError::Internal)?;
    let attempt = domain::attempt(&state.pool, &sender, &state.notifications, message, token)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "first attempt at a concern");
            ApiError::Internal
        })?;
    if let Some(mut errors) = attempt.no_front_door {
        if errors.is_empty() {
            errors.push(FieldError::new(
                "postcode",
                "no authority's front door serves the child's home postcode district",
            ));
        }
        return Err(ApiError::NoFrontDoor(errors));
    }
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let concern = web::block(move || -> Result<_, DbError> {
        let mut conn = pool.get()?;
        let row = db::concerns::find(&mut conn, &id.to_string())?
            .ok_or_else(|| DbError::Corrupt("the concern just stored is gone".into()))?;
        domain::item(&mut conn, row, horizon)
    })
    .await??;
    let call_now = concern.content.immediate_risk.then(|| {
        match concern
            .front_door
            .clone()
            .or_else(|| front_door_by_postcode(&state, postcode.as_deref()))
        {
            Some(door) => format!(
                "Immediate risk: call {} now on {}. The concern has been sent too, but it \
                 does not replace the call. If the child is in danger now, call 999.",
                door.name, door.phone
            ),
            None => "Immediate risk: call the children's social care front door of the \
                     child's home authority now; if the child is in danger now, call 999."
                .to_owned(),
        }
    });
    Ok(HttpResponse::Accepted().json(ConcernAccepted { concern, call_now }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConcernsQuery {
    /// `raised` (concerns this agency raised; the default) or `received` (concerns this
    /// front door received).
    #[param(pattern = "^(raised|received)$")]
    pub side: Option<String>,
    /// Only received concerns still awaiting a decision whose deadline is near or
    /// passed.
    #[serde(default)]
    pub at_risk: bool,
}

/// Concerns raised here, or received at this front door, newest first.
///
/// A received concern shows its decision deadline (the end of the next working day
/// after receipt) and `at_risk` when undecided near or past it; one about a child this
/// node does not hold is a `contact`, with the child as the referrer described them.
/// A raised concern shows where it went and every outcome received.
#[utoipa::path(
    tag = "concerns",
    params(ConcernsQuery),
    responses(
        (status = 200, description = "The concerns", body = Concerns),
        (status = 400, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/concerns")]
pub async fn list_concerns(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    query: web::Query<ConcernsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let side = match query.side.as_deref() {
        None | Some("raised") => RAISED,
        Some("received") => RECEIVED,
        Some(_) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "side",
                "must be raised or received",
            )]));
        }
    };
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let items = web::block(move || -> Result<Vec<ConcernItem>, DbError> {
        let mut conn = pool.get()?;
        db::concerns::list(&mut conn, side, LIST_LIMIT)?
            .into_iter()
            .map(|row| domain::item(&mut conn, row, horizon))
            .filter(|item| !query.at_risk || item.as_ref().is_ok_and(|i| i.at_risk))
            .collect()
    })
    .await??;
    Ok(HttpResponse::Ok().json(Concerns { items }))
}

/// One concern.
///
/// As listed: its status, content, where it went (or who sent it), its decision deadline
/// and decision, and every outcome sent or received.
#[utoipa::path(
    tag = "concerns",
    params(("id" = String, Path, description = "The concern's id")),
    responses(
        (status = 200, description = "The concern", body = ConcernItem),
        (status = 404, description = "No such concern", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/concerns/{id}")]
pub async fn get_concern(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let horizon = horizon(&state);
    let pool = state.pool.clone();
    let item = web::block(move || -> Result<Option<ConcernItem>, DbError> {
        let mut conn = pool.get()?;
        db::concerns::find(&mut conn, &id)?
            .map(|row| domain::item(&mut conn, row, horizon))
            .transpose()
    })
    .await??
    .ok_or(ApiError::ConcernNotFound)?;
    Ok(HttpResponse::Ok().json(item))
}

/// Record social care's decision on a concern this front door received.
///
/// `no_further_action` (with `advice`), `early_help`, `assessment`, `section_47`,
/// `already_open` (with `allocated_worker`), or `another_authority` (with
/// `to_authority`: that authority's front door receives the concern, with a new
/// deadline). The outcome goes back to the referrer at the level this node's sharing
/// policy gives the referrer's kind (`child_in_need_episode`). One decision per concern
/// (409 after it); later steps go by `/steps`.
///
/// `assessment` and `section_47` open work: this node holds the child from then on
/// (created from the concern's child details, local id `concern-<id>`, when it held
/// none) with a `child_in_need_episode` (and a `section_47_enquiry`) of its own, and the
/// child's `concern` record here carries the decision. The others open nothing: a
/// contact stays a contact.
#[utoipa::path(
    tag = "concerns",
    params(("id" = String, Path, description = "The concern's id")),
    request_body = ConcernDecision,
    responses(
        (status = 200, description = "Decided; the outcome is on its way", body = ConcernItem),
        (status = 400, description = "Invalid decision, each field named", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such concern received here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/concerns/{id}/decision")]
pub async fn decide_concern(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ConcernDecision>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let decision = body.into_inner();
    let mut errors = decision.validate();
    let passed_to = match &decision.to_authority {
        Some(to) if decision.decision == DecisionKind::AnotherAuthority => {
            match front_door_of(&state, to) {
                Some(door) if *to != state.agency_id => Some(door),
                _ => {
                    errors.push(FieldError::new(
                        "to_authority",
                        "must be another authority's children's social care node with a \
                         front door in the directory",
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let policy = state.policy.clone();
    let horizon = horizon(&state);
    let state_kind = state.agency_kind;
    let self_id = state.agency_id.clone();
    let settings = state.weight_estimation.settings();
    let item = write_one(&state, &caller, &req, move |c, writer| {
        let mut row = db::concerns::find(c, &id)?
            .filter(|r| r.side == RECEIVED)
            .ok_or(ApiError::ConcernNotFound)?;
        if row.decided_at.is_some() {
            return Err(ApiError::Conflict(format!(
                "concern {id} was decided already; tell the referrer more with /steps"
            )));
        }
        let now = Utc::now();
        let referrer_kind = domain::kind_of(&row.referrer_kind)
            .ok_or_else(|| DbError::Corrupt("referrer kind".into()))?;
        let outcome = domain::outcome(
            &policy,
            referrer_kind,
            "decision",
            Some(&decision),
            None,
            passed_to.clone(),
            now,
        );
        let mut outcomes: Vec<ConcernOutcome> = domain::from_json(&row.outcomes)?;
        outcomes.push(outcome.clone());
        row.outcomes = domain::to_json(&outcomes)?;
        row.decision = Some(domain::to_json(&decision)?);
        row.decided_at = Some(now.naive_utc());
        row.updated_at = now.naive_utc();
        row.status = domain::wire(if passed_to.is_some() {
            ConcernStatus::Passed
        } else {
            ConcernStatus::Decided
        });
        if let Some(door) = &passed_to {
            row.front_door = Some(domain::to_json(door)?);
            let child = match &row.child_query {
                Some(q) => domain::from_json(q)?,
                None => return Err(ApiError::Internal),
            };
            let forward = ConcernRoute {
                id: uuid::Uuid::parse_str(&row.id).map_err(|_| ApiError::Internal)?,
                raised_at: row.raised_at.and_utc(),
                child,
                postcode: row.postcode.clone(),
                content: domain::from_json(&row.content)?,
                to: Some(door.agency_id.clone()),
                referrer: Some(
                    schemas::AgencyId::parse(&row.referrer).map_err(|_| ApiError::Internal)?,
                ),
            };
            domain::queue(c, &row.id, FORWARD, domain::to_json(&forward)?, None)?;
        }
        domain::queue(c, &row.id, OUTCOME, domain::outcome_route(&row, &outcome)?, None)?;
        // Work opened: social care now holds the child (a contact until now) and its own
        // records say so.
        let opened = domain::open_work(
            c,
            writer,
            &settings,
            &row,
            decision.decision,
            london_date(now),
        )?;
        if let Some(opened) = &opened {
            row.child_id = Some(opened.child_id.clone());
        }
        db::concerns::update(c, &row)?;
        if let Some(child_id) = &row.child_id {
            let content: schemas::concern::ConcernContent = domain::from_json(&row.content)?;
            let local_id = local_id_of(c, child_id)?;
            domain::chronicle(
                c,
                writer,
                state_kind,
                &local_id,
                &domain::Chronicle {
                    concern_id: outcome_concern_id(&row)?,
                    content: &content,
                    raised_by: &schemas::AgencyId::parse(&row.referrer)
                        .map_err(|_| ApiError::Internal)?,
                    front_door: Some(&self_id),
                    decision: Some(decision.decision),
                    impact: format!(
                        "Concern from {}: {}. {}",
                        row.referrer_name,
                        domain::categories_in_words(&content),
                        outcome.summary
                    ),
                    raised_on: london_date(row.raised_at.and_utc()),
                },
            )?;
        }
        let detail = json!({
            "wrote": "concern_decision", "concern_id": row.id,
            "decision": decision.decision.as_str(), "decided_by": decision.decided_by,
            "to_authority": decision.to_authority, "outcome_level": audit::wire_name(&outcome.level),
            "opened_work": opened.is_some(),
            "child_created": opened.as_ref().is_some_and(|o| o.created),
        });
        db::audit::append(
            c,
            &NewEntry::by_system(
                writer.system,
                writer.correlation_id,
                row.child_id.clone(),
                detail,
            ),
        )?;
        Ok(domain::item(c, row, horizon)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(item))
}

fn outcome_concern_id(row: &ConcernRow) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(&row.id).map_err(|_| ApiError::Internal)
}

/// Tell the referrer a later step (assessment completed, plan started, case closed).
///
/// Only after a decision that kept the concern here. The referrer's node accepts it only
/// while its agency still works with the child (its relationship rules); otherwise the
/// step is not delivered, and the outcome's delivery says so. `case_closed` closes the
/// child in need episode the decision opened (reason `RC7`), unless it is closed already.
#[utoipa::path(
    tag = "concerns",
    params(("id" = String, Path, description = "The concern's id")),
    request_body = ConcernStep,
    responses(
        (status = 200, description = "The step is on its way", body = ConcernItem),
        (status = 400, description = "Invalid step", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such concern received here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not decided here (undecided, or passed on)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/concerns/{id}/steps")]
pub async fn concern_step(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ConcernStep>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let step = body.into_inner();
    let errors = step.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let policy = state.policy.clone();
    let horizon = horizon(&state);
    let self_id = state.agency_id.clone();
    let item = write_one(&state, &caller, &req, move |c, writer| {
        let mut row = db::concerns::find(c, &id)?
            .filter(|r| r.side == RECEIVED)
            .ok_or(ApiError::ConcernNotFound)?;
        if row.status != domain::wire(ConcernStatus::Decided) {
            return Err(ApiError::Conflict(format!(
                "concern {id} is {}: steps follow a decision that kept it here",
                row.status
            )));
        }
        let referrer_kind = domain::kind_of(&row.referrer_kind)
            .ok_or_else(|| DbError::Corrupt("referrer kind".into()))?;
        let now = Utc::now();
        let mut outcome = domain::outcome(
            &policy,
            referrer_kind,
            step.step.as_str(),
            None,
            Some(step.step.in_words()),
            None,
            now,
        );
        if outcome.level != schemas::DisclosureLevel::Existence {
            outcome.summary = format!("{}: {}", step.step.in_words(), step.summary.trim());
        }
        let mut outcomes: Vec<ConcernOutcome> = domain::from_json(&row.outcomes)?;
        outcomes.push(outcome.clone());
        row.outcomes = domain::to_json(&outcomes)?;
        row.updated_at = now.naive_utc();
        domain::queue(
            c,
            &row.id,
            OUTCOME,
            domain::outcome_route(&row, &outcome)?,
            None,
        )?;
        db::concerns::update(c, &row)?;
        // Social care's own records follow: its concern record says what happened since,
        // and a closed case closes the episode the concern opened.
        let mut closed = false;
        if let Some(child_id) = &row.child_id {
            if step.step == StepKind::CaseClosed {
                closed = domain::close_work(c, writer, &row, london_date(now))?;
            }
            let content: schemas::concern::ConcernContent = domain::from_json(&row.content)?;
            let decided: Option<ConcernDecision> =
                row.decision.as_deref().map(domain::from_json).transpose()?;
            let local_id = local_id_of(c, child_id)?;
            domain::chronicle(
                c,
                writer,
                AgencyKind::SocialCare,
                &local_id,
                &domain::Chronicle {
                    concern_id: outcome_concern_id(&row)?,
                    content: &content,
                    raised_by: &schemas::AgencyId::parse(&row.referrer)
                        .map_err(|_| ApiError::Internal)?,
                    front_door: Some(&self_id),
                    decision: decided.map(|d| d.decision),
                    impact: format!(
                        "Concern from {}: {}. {}",
                        row.referrer_name,
                        domain::categories_in_words(&content),
                        domain::outcomes_in_a_line(&outcomes)
                    ),
                    raised_on: london_date(row.raised_at.and_utc()),
                },
            )?;
        }
        let detail = json!({
            "wrote": "concern_step", "concern_id": row.id, "step": step.step.as_str(),
            "closed_episode": closed,
        });
        db::audit::append(
            c,
            &NewEntry::by_system(
                writer.system,
                writer.correlation_id,
                row.child_id.clone(),
                detail,
            ),
        )?;
        Ok(domain::item(c, row, horizon)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(item))
}

/// Receive a concern at this front door (gateways only; signed).
///
/// Stored once per id, with a decision deadline at the end of the next working day
/// after receipt (`[front_door]` working days and bank holidays). A concern about a
/// child this node does not hold is a **contact**: kept with the child as described,
/// and the child is not added to this node's children.
#[utoipa::path(
    tag = "federation",
    request_body = ConcernDelivery,
    params(
        ("webhook-id" = String, Header, description = "The concern id"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds when signed"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA-256>`"),
    ),
    responses(
        (status = 200, description = "Stored, or already stored", body = DeliveryReceipt),
        (status = 400, description = "Invalid concern", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature or stale timestamp", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or this node is not a front door", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The child reference is unknown here", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/concerns")]
pub async fn receive_concern(
    caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_signature(&state, &req, &body)?;
    let delivery: ConcernDelivery = parse_body(&body)?;
    if crate::routes::notifications::header(&req, trust::webhook::ID_HEADER)
        != Some(delivery.id.to_string().as_str())
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "webhook-id",
            "must be the concern's id",
        )]));
    }
    let Some(calendar) = state.working_calendar.clone() else {
        return Err(ApiError::Forbidden(
            "this node is not a children's social care front door".into(),
        ));
    };
    let mut errors = delivery.content.validate();
    errors.extend(
        delivery
            .child
            .validate()
            .into_iter()
            .map(|e| FieldError::new(format!("child.{}", e.field), e.message)),
    );
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let received = Utc::now();
    let deadline = calendar.decision_deadline(received);
    let correlation_id = audit::correlation_of(&req);
    let pool = state.pool.clone();
    let self_id = state.agency_id.clone();
    let (outcome, deadline) = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(DbError::from)?;
        db::write_with(&mut conn, |c| -> Result<_, ApiError> {
            if let Some(existing) = db::concerns::find(c, &delivery.id.to_string())? {
                return Ok((
                    DeliveryOutcome::Duplicate,
                    existing.deadline.map(|d| d.and_utc()),
                ));
            }
            let child_id = match &delivery.local_ref {
                Some(r) => Some(
                    db::children::find_by_id(c, r)?
                        .ok_or(ApiError::ChildNotFound)?
                        .id,
                ),
                None => None,
            };
            let status = if child_id.is_some() {
                ConcernStatus::Received
            } else {
                ConcernStatus::Contact
            };
            let row = ConcernRow {
                id: delivery.id.to_string(),
                side: RECEIVED.into(),
                status: domain::wire(status),
                child_id: child_id.clone(),
                child_query: Some(domain::to_json(&delivery.child)?),
                postcode: delivery.postcode.clone(),
                referrer: delivery.referrer.to_string(),
                referrer_name: delivery.referrer_name.clone(),
                referrer_kind: delivery.referrer_kind.as_str().into(),
                front_door: None,
                content: domain::to_json(&delivery.content)?,
                raised_at: delivery.raised_at.naive_utc(),
                received_at: Some(received.naive_utc()),
                deadline: deadline.map(|d| d.naive_utc()),
                decision: None,
                decided_at: None,
                outcomes: "[]".into(),
                forwarded_by: delivery.forwarded_by.as_ref().map(|a| a.to_string()),
                updated_at: received.naive_utc(),
            };
            db::concerns::insert(c, &row)?;
            if let Some(child_id) = &child_id {
                let local_id = local_id_of(c, child_id)?;
                domain::chronicle(
                    c,
                    &domain::node_writer(&self_id, &correlation_id),
                    AgencyKind::SocialCare,
                    &local_id,
                    &domain::Chronicle {
                        concern_id: delivery.id,
                        content: &delivery.content,
                        raised_by: &delivery.referrer,
                        front_door: Some(&self_id),
                        decision: None,
                        impact: format!(
                            "Concern from {}: {}",
                            delivery.referrer_name,
                            domain::categories_in_words(&delivery.content)
                        ),
                        raised_on: london_date(delivery.raised_at),
                    },
                )?;
            }
            let detail = json!({
                "received": "concern", "concern_id": row.id, "referrer": row.referrer,
                "contact": child_id.is_none(), "forwarded_by": row.forwarded_by,
            });
            db::audit::append(
                c,
                &NewEntry::by_system(&caller.gateway_id, &correlation_id, child_id, detail),
            )?;
            Ok((DeliveryOutcome::Delivered, deadline))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(DeliveryReceipt { outcome, deadline }))
}

/// Receive social care's outcome of a concern this agency raised (gateways only;
/// signed).
///
/// Kept once per outcome id. The decision is always accepted (the referrer asked for
/// it); a later step only while this agency still works with the child by its own
/// relationship rules, otherwise the answer is `not_involved` and nothing is stored.
/// 404 when this node raised no such concern.
#[utoipa::path(
    tag = "federation",
    request_body = OutcomeDelivery,
    responses(
        (status = 200, description = "Stored, already stored, or not involved", body = DeliveryReceipt),
        (status = 400, description = "Invalid outcome", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature or stale timestamp", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such concern raised here", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/federation/concerns/outcomes")]
pub async fn outcome_received(
    caller: GatewayCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_signature(&state, &req, &body)?;
    let delivery: OutcomeDelivery = parse_body(&body)?;
    let Some(from) = delivery.outcome.from.clone() else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "outcome.from",
            "the gateway names the authority that sent it",
        )]));
    };
    let correlation_id = audit::correlation_of(&req);
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let state2 = state.clone();
    let outcome = web::block(move || -> Result<DeliveryOutcome, ApiError> {
        let state = state2;
        let mut conn = state.pool.get().map_err(DbError::from)?;
        db::write_with(&mut conn, |c| -> Result<_, ApiError> {
            let mut row = db::concerns::find(c, &delivery.concern_id.to_string())?
                .filter(|r| r.side == RAISED)
                .ok_or(ApiError::ConcernNotFound)?;
            let mut outcomes: Vec<ConcernOutcome> = domain::from_json(&row.outcomes)?;
            if outcomes.iter().any(|o| o.id == delivery.outcome.id) {
                return Ok(DeliveryOutcome::Duplicate);
            }
            let is_decision = delivery.outcome.kind == "decision";
            if !is_decision {
                // Later steps follow only while this agency works with the child.
                let records = match &row.child_id {
                    Some(child) => db::records::for_child(c, child)?
                        .into_iter()
                        .map(|r| r.into_wire())
                        .collect::<Result<Vec<_>, _>>()?,
                    None => Vec::new(),
                };
                let sender_kind = AgencyKind::SocialCare;
                if !state.policy.relationship.involves(
                    &records,
                    today,
                    schemas::notification::route(
                        schemas::notification::EventType::ConcernOutcome,
                        sender_kind,
                        state.agency_kind,
                    ),
                    false,
                ) {
                    return Ok(DeliveryOutcome::NotInvolved);
                }
            }
            outcomes.push(delivery.outcome.clone());
            row.outcomes = domain::to_json(&outcomes)?;
            if is_decision {
                match (&delivery.outcome.decision, &delivery.outcome.passed_to) {
                    (Some(DecisionKind::AnotherAuthority), Some(door)) => {
                        // A decision from the new front door may have come first.
                        if row.status != domain::wire(ConcernStatus::Decided) {
                            row.status = domain::wire(ConcernStatus::Passed);
                            row.front_door = Some(domain::to_json(door)?);
                        }
                    }
                    _ => {
                        row.status = domain::wire(ConcernStatus::Decided);
                        row.decided_at = Some(delivery.outcome.at.naive_utc());
                    }
                }
            }
            row.updated_at = Utc::now().naive_utc();
            db::concerns::update(c, &row)?;
            if let Some(child_id) = &row.child_id {
                let content: schemas::concern::ConcernContent = domain::from_json(&row.content)?;
                let local_id = local_id_of(c, child_id)?;
                let decision = outcomes.iter().rev().find_map(|o| o.decision);
                // The front door that has it now (after a passing on, the new one).
                let door: Option<FrontDoor> = row
                    .front_door
                    .as_deref()
                    .map(domain::from_json)
                    .transpose()?;
                domain::chronicle(
                    c,
                    &domain::node_writer(&state.agency_id, &correlation_id),
                    state.agency_kind,
                    &local_id,
                    &domain::Chronicle {
                        concern_id: delivery.concern_id,
                        content: &content,
                        raised_by: &state.agency_id,
                        front_door: Some(door.as_ref().map_or(&from, |d| &d.agency_id)),
                        decision,
                        impact: format!(
                            "Concern raised with {}: {}. {}",
                            delivery
                                .outcome
                                .from_name
                                .as_deref()
                                .unwrap_or("children's social care"),
                            domain::categories_in_words(&content),
                            domain::outcomes_in_a_line(&outcomes)
                        ),
                        raised_on: london_date(row.raised_at.and_utc()),
                    },
                )?;
            }
            let detail = json!({
                "received": "concern_outcome", "concern_id": row.id, "from": from,
                "kind": delivery.outcome.kind, "level": audit::wire_name(&delivery.outcome.level),
            });
            db::audit::append(
                c,
                &NewEntry::by_system(
                    &caller.gateway_id,
                    &correlation_id,
                    row.child_id.clone(),
                    detail,
                ),
            )?;
            Ok(DeliveryOutcome::Delivered)
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(DeliveryReceipt {
        outcome,
        deadline: None,
    }))
}
