//! Federation face: gateways find a child here and read what this node's policy lets the
//! practitioner see, on behalf of that practitioner, whose token this node verifies
//! itself. Every request is audited: what it reads is read on one snapshot, outside the
//! node's write lock, and its audit entry is appended (and committed) in a short write
//! transaction before the answer leaves the node. Nothing is disclosed without its
//! committed entry, and concurrent searches and reads do not queue behind each other.
//!
//! When policy and consent leave a requester nothing, the answer is the same as for a
//! child this node does not hold: same status, same shape, and the same database work.

use crate::audit::{self, Action, NewEntry, wire_name};
use crate::auth::FederatedCaller;
use crate::db;
use crate::disclosure::{self, Requester};
use crate::error::ApiError;
use crate::finding;
use crate::relationship;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use matching::MatchingMode;
use schemas::PractitionerRole;
use schemas::disclosure::{AccessReport, ConsentDecision};
use schemas::federation::{AccessContext, LegalBasis, Purpose};
use schemas::{BreakGlassGrant, BreakGlassRequest};
use schemas::{
    CandidateConfirmation, ChildQuery, ChildRecords, KeyedChildQuery, MatchOutcome, MatchResponse,
    NodeMatchAnswer, Problem, Record, RelationshipStatus,
};
use serde_json::json;
use std::collections::BTreeSet;

/// Who is asking, for policy: their agency's kind comes from the directory.
pub(crate) fn requester(
    state: &AppState,
    caller: &FederatedCaller,
    context: &AccessContext,
) -> Result<Requester, ApiError> {
    let directory = state.directory.get();
    let kind = directory
        .member(&caller.practitioner.agency)
        .and_then(|m| m.kind)
        .ok_or_else(|| {
            ApiError::Forbidden(format!("'{}' is not an agency", caller.practitioner.agency))
        })?;
    let who = Requester {
        kind,
        role: caller.practitioner.role,
        purpose: context.purpose,
        own_agency: caller.practitioner.agency == state.agency_id,
        // Established per read, from the assertion it carries.
        related: false,
        break_glass: false,
    };
    if context.legal_basis == schemas::federation::LegalBasis::SafeguardingOverride
        && !state.policy.allows_override(&who)
    {
        return Err(ApiError::OverrideNotAllowed);
    }
    Ok(who)
}

/// The answer for a child this node does not hold.
fn not_held() -> MatchResponse {
    MatchResponse {
        outcome: MatchOutcome::NotHeld,
        held: false,
        local_ref: None,
        grade: None,
        matched_on: Vec::new(),
        candidates: Vec::new(),
        candidate_refs: Vec::new(),
    }
}

fn decisions(consents: Vec<schemas::disclosure::StoredConsent>) -> Vec<ConsentDecision> {
    consents.into_iter().map(|c| c.decision).collect()
}

/// Find a child among this agency's records.
///
/// Exact on validated identifiers (UPN, NHS number) first, then on demographics. Never
/// returns the node's own demographics. A child whom this node's policy (and the child's
/// consent) lets the practitioner see nothing of is reported as not held. With outcome
/// `candidates`, each candidate comes with a `candidate_tokens` entry the practitioner
/// can confirm it with (`/v1/federation/match/confirm`); nothing is linked until then.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = ChildQuery,
    responses(
        (status = 200, description = "Whether this node holds the child", body = NodeMatchAnswer),
        (status = 400, description = "Invalid query, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or override not allowed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/v1/federation/match")]
pub async fn match_child(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let query = ChildQuery::parse(body.into_inner());
    if state.matching.mode == MatchingMode::Keyed {
        return Err(ApiError::Conflict(
            "this node matches in keyed mode: send a keyed query to /v1/federation/match/keyed"
                .into(),
        ));
    }
    // Every invalid field, of the context and of the query, at once.
    let mut errors = context.validate();
    let query = match query {
        Ok(query) => query,
        Err(e) => {
            errors.extend(e);
            return Err(ApiError::Invalid(errors));
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let qh = relationship::query_hash("plain", &query);
    answer_match(
        state,
        caller,
        req,
        context,
        qh,
        move |c, settings, notes| finding::find_noting(c, &query, settings, notes),
    )
    .await
}

/// Find a child from keyed encodings (`matching.mode = "keyed"`).
///
/// The same matching as the plain search, on HMAC tokens and Bloom filters made with the
/// federation's matching key instead of the plain identifiers and demographics. The
/// answer, the audit, the candidate tokens and the disclosure rules are those of the
/// plain search.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = KeyedChildQuery,
    responses(
        (status = 200, description = "Whether this node holds the child", body = NodeMatchAnswer),
        (status = 400, description = "Invalid query, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or override not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This node holds no matching key, or another one", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/v1/federation/match/keyed")]
pub async fn match_child_keyed(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<KeyedChildQuery>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let query = body.into_inner();
    let mut errors = context.validate();
    errors.extend(query.validate());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    match &state.matching_key {
        None => {
            return Err(ApiError::Conflict(
                "this node holds no matching key: it answers plain queries only".into(),
            ));
        }
        Some(key) if key.id() != query.key_id => {
            return Err(ApiError::Conflict(format!(
                "the query was encoded with matching key '{}'; this node holds '{}'",
                query.key_id,
                key.id()
            )));
        }
        Some(_) => {}
    }
    let key = state.matching_key.clone();
    let qh = relationship::query_hash("keyed", &query);
    answer_match(
        state,
        caller,
        req,
        context,
        qh,
        move |c, settings, notes| {
            finding::find_keyed_noting(c, &query, key.as_deref(), settings, Some(notes))
        },
    )
    .await
}

/// Seals this node's match token into a `held` answer and, when the practitioner works
/// here and the child is one this agency is actively involved with by its relationship
/// rules, signs the relationship assertion too. Returns what made the involvement.
#[allow(clippy::too_many_arguments)]
fn stamp_match(
    c: &mut db::DbConnection,
    state: &AppState,
    caller: &FederatedCaller,
    who: &Requester,
    context: &AccessContext,
    qh: &str,
    local_ref: &str,
    answer: &mut NodeMatchAnswer,
) -> Result<Option<schemas::RecordCategory>, ApiError> {
    let now = chrono::Utc::now();
    answer.match_token = state
        .matches
        .seal(local_ref, qh, holder(caller), now.timestamp());
    let (true, Some((key, ttl))) = (who.own_agency, &state.signing) else {
        return Ok(None);
    };
    let records = db::records::for_child(c, local_ref)?
        .into_iter()
        .map(|r| r.into_wire())
        .collect::<Result<Vec<Record>, _>>()?;
    let today = now.with_timezone(&chrono_tz::Europe::London).date_naive();
    let Some(basis) = state.policy.relationship.active(&records, today) else {
        return Ok(None);
    };
    let assertion = relationship::Assertion {
        agency: state.agency_id.clone(),
        iss: caller.practitioner.issuer.clone(),
        sub: caller.practitioner.subject.clone(),
        purpose: context.purpose,
        qh: qh.to_owned(),
        exp: now.timestamp() + ttl,
        basis: Some(basis),
        break_glass: false,
    };
    answer.relationship = Some(assertion.sign(key));
    Ok(Some(basis))
}

fn holder(caller: &FederatedCaller) -> crate::confirm::Holder<'_> {
    crate::confirm::Holder {
        issuer: &caller.practitioner.issuer,
        subject: &caller.practitioner.subject,
        gateway: caller.gateway_id.as_str(),
    }
}

/// Reads on one snapshot, then appends the read's audit entry in its own short write
/// transaction, committed before this returns: the caller answers only afterwards, so
/// nothing leaves the node without its committed entry. Only the append holds the
/// node's write lock (SQLite's, or PostgreSQL's advisory lock), and it reads the chain
/// head inside it, so concurrent readers never break the hash chain; searches and reads
/// themselves run in parallel.
///
/// What was read is what the snapshot held: a change committed between the snapshot and
/// the append (a withdrawn consent, say) applies from the next request on, as it would
/// had it committed a moment later.
fn audited<T, E: From<db::DbError>>(
    conn: &mut db::DbConnection,
    read: impl FnOnce(&mut db::DbConnection) -> Result<(T, NewEntry), E>,
) -> Result<T, E> {
    let (value, entry) = db::read_snapshot(conn, read)?;
    db::write(conn, |c| db::audit::append(c, &entry))?;
    Ok(value)
}

/// [`audited`] for reads that may find nothing to audit (no such child): then nothing
/// is written.
fn audited_if_found<T>(
    conn: &mut db::DbConnection,
    read: impl FnOnce(&mut db::DbConnection) -> Result<Option<(T, NewEntry)>, db::DbError>,
) -> Result<Option<T>, db::DbError> {
    let Some((value, entry)) = db::read_snapshot(conn, read)? else {
        return Ok(None);
    };
    db::write(conn, |c| db::audit::append(c, &entry))?;
    Ok(Some(value))
}

/// Runs a match and applies policy and consent to the answer on one read snapshot, then
/// audits it in a short write transaction (see [`audited`]). `find` gives the match and,
/// for `candidates`, the candidates' ids.
async fn answer_match<F>(
    state: web::Data<AppState>,
    caller: FederatedCaller,
    req: HttpRequest,
    context: AccessContext,
    qh: String,
    find: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(
            &mut crate::db::DbConnection,
            &matching::MatchingSettings,
            finding::PairNotes<'_>,
        ) -> Result<MatchResponse, db::DbError>
        + Send
        + 'static,
{
    let who = requester(&state, &caller, &context)?;
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let answer = web::block(move || {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        // Scored with the m in use now; the pairs' levels go to the estimate once the
        // answer is committed.
        let settings = state.weight_estimation.settings();
        let mut pairs = Vec::new();
        let notes = finding::PairNotes {
            into: &mut pairs,
            limit: state.weight_estimation.per_search(),
        };
        let answer = audited::<_, ApiError>(&mut conn, |c| {
            let found = find(c, &settings, notes)?;
            match_one(
                c,
                &state,
                &caller,
                &who,
                &context,
                &qh,
                &correlation_id,
                found,
            )
        })?;
        state.weight_estimation.record(pairs);
        Ok::<_, ApiError>(answer)
    })
    .await??;
    Ok(HttpResponse::Ok().json(answer))
}

/// Applies policy and consent to one match, seals this node's match token into a
/// `held` answer (with the relationship assertion, for the practitioner's own agency),
/// and gives the audit entry for it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn match_one(
    c: &mut db::DbConnection,
    state: &AppState,
    caller: &FederatedCaller,
    who: &Requester,
    context: &AccessContext,
    qh: &str,
    correlation_id: &str,
    found: MatchResponse,
) -> Result<(NodeMatchAnswer, NewEntry), ApiError> {
    // Only `candidates` can be confirmed; an ambiguity cannot (see crate::confirm).
    let candidate_ids = (found.outcome == MatchOutcome::Candidates
        && found.candidate_refs.len() == found.candidates.len())
    .then(|| found.candidate_refs.clone());
    let child_id = found.local_ref.clone();
    let consents = db::consents::for_child(c, child_id.as_deref().unwrap_or_default())?;
    // A linked child: policy and the child's consent decide. Unlinked candidates
    // or an ambiguity: policy alone, since no child's consent applies.
    let visible = match &child_id {
        Some(_) => disclosure::decide(
            &state.policy,
            who,
            context,
            state.agency_kind,
            &decisions(consents),
            &BTreeSet::new(),
        )
        .map(|d| d.visible)
        .unwrap_or(false),
        None => state.policy.grants_anything(who, state.agency_kind),
    };
    let mut answer = NodeMatchAnswer::from(if visible { found } else { not_held() });
    if visible && let Some(ids) = candidate_ids {
        let now = chrono::Utc::now().timestamp();
        answer.candidate_tokens = ids
            .iter()
            .zip(&answer.answer.candidates)
            .map(|(id, candidate)| {
                state.candidates.seal(
                    id,
                    candidate.grade,
                    &candidate.matched_on,
                    qh,
                    holder(caller),
                    now,
                )
            })
            .collect::<Result<_, _>>()
            .map_err(|e| {
                tracing::error!(error = %e, "sealing a candidate token");
                ApiError::Internal
            })?;
    }
    let mut detail = json!({"answered": wire_name(&answer.answer.outcome)});
    if !answer.candidate_tokens.is_empty() {
        detail["confirmable"] = json!(answer.candidate_tokens.len());
    }
    // The fields each candidate disagreed on (names and levels, never values): what the
    // answer told the practitioner, recorded with it, since answering it one search at a
    // time lets someone probe a value field by field.
    if answer
        .answer
        .candidates
        .iter()
        .any(|c| !c.disagreed.is_empty())
    {
        detail["disagreed"] = json!(
            answer
                .answer
                .candidates
                .iter()
                .map(|c| &c.disagreed)
                .collect::<Vec<_>>()
        );
    }
    if visible
        && answer.answer.held
        && let Some(local_ref) = answer.answer.local_ref.clone()
    {
        let asserted = stamp_match(c, state, caller, who, context, qh, &local_ref, &mut answer)?;
        if let Some(basis) = asserted {
            detail["relationship_asserted"] = json!(basis.as_str());
        }
    }
    let entry = NewEntry::by_practitioner(
        Action::Match,
        &caller.practitioner,
        &caller.gateway_id,
        context,
        correlation_id,
        child_id,
        detail,
    );
    Ok((answer, entry))
}

/// Confirm a candidate: the practitioner says it is the child they searched for.
///
/// Takes a token from a `candidates` answer of `/v1/federation/match` (or its keyed
/// twin) and the practitioner's reason. The token must have been issued to the same
/// practitioner through the same gateway, unaltered and unexpired. The same sharing
/// policy and consent checks as a match apply; the confirmation, with the reason, the
/// candidate's grade and the fields that agreed, is appended to the audit in the same
/// transaction, and the answer is that of a `held` match with `confirmed: true`.
/// Candidates of an `ambiguous` answer have no token and cannot be confirmed.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = CandidateConfirmation,
    responses(
        (status = 200, description = "The candidate is linked: a held match, confirmed by the practitioner", body = NodeMatchAnswer,
            example = json!({"outcome": "held", "held": true,
                "local_ref": "c6f1e0c2-3f5e-4c1e-9d1c-2d4b5f6a7b8c", "grade": "possible",
                "matched_on": ["given_name:similar", "family_name", "date_of_birth", "sex"],
                "confirmed": true})),
        (status = 400, description = "Missing reason, invalid purpose or legal basis, or a token this node did not issue (or that was altered)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, override not allowed, or the token was issued to another practitioner or through another gateway", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The child is no longer here (or nothing this practitioner may see)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The token has expired: search again", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/v1/federation/match/confirm")]
pub async fn confirm_candidate(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<CandidateConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let confirmation = body.into_inner();
    let mut errors = context.validate();
    errors.extend(confirmation.validate());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let who = requester(&state, &caller, &context)?;
    let candidate = state
        .candidates
        .open(
            &confirmation.candidate_token,
            holder(&caller),
            chrono::Utc::now().timestamp(),
        )
        .map_err(ApiError::Candidate)?;
    // Once confirmed, the child is linked as by a match of the search the candidate came
    // from: a match token of that query lets a read pair with the requester's assertion.
    let match_token = state.matches.seal(
        &candidate.local_ref,
        &candidate.qh,
        holder(&caller),
        chrono::Utc::now().timestamp(),
    );
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let linked = candidate.clone();
    let visible = web::block(move || {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        audited::<_, ApiError>(&mut conn, |c| {
            let child = db::children::find_by_id(c, &linked.local_ref)?;
            let child_id = child.as_ref().map(|ch| ch.id.clone());
            let consents = db::consents::for_child(c, child_id.as_deref().unwrap_or_default())?;
            let visible = child.is_some()
                && disclosure::decide(
                    &state.policy,
                    &who,
                    &context,
                    state.agency_kind,
                    &decisions(consents),
                    &BTreeSet::new(),
                )
                .map(|d| d.visible)
                .unwrap_or(false);
            let detail = json!({
                "confirmed": visible,
                "reason": confirmation.reason.trim(),
                "grade": wire_name(&linked.grade),
                "matched_on": linked.matched_on,
                "requester_kind": who.kind.as_str(),
            });
            let entry = NewEntry::by_practitioner(
                Action::Confirm,
                &caller.practitioner,
                &caller.gateway_id,
                &context,
                &correlation_id,
                child_id,
                detail,
            );
            Ok((visible, entry))
        })
    })
    .await??;
    if !visible {
        return Err(ApiError::ChildNotFound);
    }
    Ok(HttpResponse::Ok().json(NodeMatchAnswer {
        answer: MatchResponse {
            outcome: MatchOutcome::Held,
            held: true,
            local_ref: Some(candidate.local_ref),
            grade: Some(candidate.grade),
            matched_on: candidate.matched_on,
            candidates: Vec::new(),
            candidate_refs: Vec::new(),
        },
        candidate_tokens: Vec::new(),
        confirmed: true,
        match_token,
        relationship: None,
    }))
}

/// Read what this node discloses of a child, for a stated purpose and legal basis.
///
/// The node's sharing policy decides a level per category (`full`, `summary`,
/// `existence`, `none`) for the practitioner's agency kind, role and purpose. Outside
/// this agency, it is capped at `existence` (`withheld: no_relationship`) unless the
/// practitioner's own agency asserts an active involvement with the child (headers
/// `relationship-assertion` and `match-token`). The child's consent decisions cap it
/// unless a permitted `safeguarding_override` is used. The answer lists the level
/// applied to every category and why any was withheld.
#[utoipa::path(
    tag = "federation",
    params(
        ("local_ref" = String, Path, description = "This node's reference for the child, from a match"),
        AccessContext,
        ("relationship-assertion" = Option<String>, Header, description = "The relationship assertion the practitioner's own agency's node gave in its match answer (`relationship`). Without a valid one, nothing goes beyond `existence` (unless by a permitted safeguarding override)."),
        ("match-token" = Option<String>, Header, description = "This node's `match_token` from the same search: the assertion counts only with a match of the same query, for this child and practitioner."),
    ),
    responses(
        (status = 200, description = "What this agency discloses of the child", body = ChildRecords),
        (status = 400, description = "Missing or unknown purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or override not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child here (or nothing this practitioner may see)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[get("/v1/federation/children/{local_ref}/records")]
pub async fn child_records(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_ref: web::Path<String>,
    context: web::Query<AccessContext>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let errors = context.validate();
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let who = requester(&state, &caller, &context)?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (assertion, match_token) = (
        header(schemas::RELATIONSHIP_HEADER),
        header(schemas::MATCH_TOKEN_HEADER),
    );
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let answer = web::block(move || {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        let read = Read {
            local_ref: &local_ref,
            assertion: assertion.as_deref(),
            match_token: match_token.as_deref(),
        };
        let (who, related) = relate(&state, &caller, who, &context, &read);
        let (answer, entry) = db::read_snapshot(&mut conn, |c| {
            read_one(
                c,
                &state,
                &caller,
                &who,
                &related,
                &context,
                &correlation_id,
                &read,
                false,
            )
        })?;
        db::write(&mut conn, |c| db::audit::append(c, &entry))?;
        // Break-glass: the holding agency's data protection officer and safeguarding
        // lead learn of it at once, in this node's own inbox.
        if let Some(answer) = answer.as_ref().filter(|_| who.break_glass) {
            let alert = break_glass_alert(
                &state,
                &AlertContext {
                    practitioner: caller.practitioner.clone(),
                    context: context.clone(),
                    child_id: local_ref.to_string(),
                    correlation_id: correlation_id.clone(),
                },
                answer,
            );
            let to_dpo = state.notifications.dpo_webhook.is_some();
            db::write(&mut conn, |c| {
                if db::notifications::receive(c, &alert)? && to_dpo {
                    // Pushed to the data protection officer's own system as well, from a
                    // queue written with the alert.
                    let local_id =
                        db::children::find_by_id(c, &alert.child_id)?.map(|child| child.local_id);
                    db::dpo_alerts::enqueue(c, &dpo_alert(&state, &alert, local_id))?;
                }
                Ok(())
            })?;
        }
        Ok::<_, ApiError>(answer)
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    Ok(HttpResponse::Ok().json(answer))
}

/// One child of a read: this node's reference, and what came with it.
pub(crate) struct Read<'a> {
    pub local_ref: &'a str,
    pub assertion: Option<&'a str>,
    pub match_token: Option<&'a str>,
}

/// How the requester stands with the child of one read.
pub(crate) struct Related {
    status: RelationshipStatus,
    /// For the audit.
    detail: String,
}

impl Related {
    /// No relationship, for this reason.
    pub(crate) fn none(why: &str) -> Self {
        Self {
            status: RelationshipStatus::None,
            detail: format!("none: {why}"),
        }
    }
}

/// Checks the relationship assertion of one read (none needed within the agency) and
/// says what it grants.
pub(crate) fn relate(
    state: &AppState,
    caller: &FederatedCaller,
    mut who: Requester,
    context: &AccessContext,
    read: &Read<'_>,
) -> (Requester, Related) {
    let relationship = if who.own_agency {
        None
    } else {
        Some(relationship::check(
            &state.directory.get(),
            &state.matches,
            &relationship::Presented {
                assertion: read.assertion,
                match_token: read.match_token,
                local_ref: read.local_ref,
                practitioner: &caller.practitioner,
                gateway: caller.gateway_id.as_str(),
                purpose: context.purpose,
                override_basis: context.legal_basis == LegalBasis::SafeguardingOverride,
                now: chrono::Utc::now().timestamp(),
            },
        ))
    };
    who.related = matches!(relationship, Some(Ok(g)) if !g.break_glass);
    who.break_glass = matches!(relationship, Some(Ok(g)) if g.break_glass);
    let (status, detail) = match &relationship {
        None => (RelationshipStatus::OwnAgency, "own agency".to_owned()),
        Some(Ok(grant)) if grant.break_glass => (
            RelationshipStatus::BreakGlass,
            format!("break-glass granted by {}", caller.practitioner.agency),
        ),
        Some(Ok(grant)) => (
            RelationshipStatus::Asserted,
            format!(
                "asserted by {} ({})",
                caller.practitioner.agency,
                grant.basis.map(|b| b.as_str()).unwrap_or("involvement")
            ),
        ),
        Some(Err(why)) => (RelationshipStatus::None, format!("none: {why}")),
    };
    (who, Related { status, detail })
}

/// Reads one child's records and applies policy and consent: the answer (none when
/// this node does not hold the child or shows it nothing) and its audit entry. Part of
/// a cohort's batched read when `cohort`, which the entry says.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_one(
    c: &mut db::DbConnection,
    state: &AppState,
    caller: &FederatedCaller,
    who: &Requester,
    related: &Related,
    context: &AccessContext,
    correlation_id: &str,
    read: &Read<'_>,
    cohort: bool,
) -> Result<(Option<ChildRecords>, NewEntry), ApiError> {
    let child = db::children::find_by_id(c, read.local_ref)?;
    let child_id = child.as_ref().map(|ch| ch.id.clone());
    let key = child_id.as_deref().unwrap_or_default();
    let consents = db::consents::for_child(c, key)?;
    let rows = db::records::for_child(c, key)?;
    let records = rows
        .into_iter()
        .map(|r| r.into_wire())
        .collect::<Result<Vec<Record>, _>>()?;
    let held: BTreeSet<_> = records.iter().map(|r| r.category).collect();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let involved_now = state.policy.relationship.involves(
        &records,
        today,
        schemas::notification::Involvement::Current,
        false,
    );
    let decision = disclosure::decide(
        &state.policy,
        who,
        context,
        state.agency_kind,
        &decisions(consents),
        &held,
    )
    .map_err(ApiError::from)?;
    let disclosed = child.is_some() && decision.visible;
    let involved_now = decision
        .categories
        .iter()
        .any(|d| d.level > schemas::DisclosureLevel::Existence)
        .then_some(involved_now);
    let shaped = if disclosed {
        decision.shape(records, &caller.practitioner.agency)
    } else {
        Vec::new()
    };
    let mut detail = json!({
        "disclosed": disclosed,
        "requester_kind": who.kind.as_str(),
        "override": decision.override_used,
        "relationship": related.detail,
        "break_glass": who.break_glass,
        "levels": decision.categories.iter()
            .filter(|d| d.level > schemas::DisclosureLevel::None)
            .map(|d| (d.category.as_str(), d.level.as_str()))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "records": shaped.iter().map(|r| r.source_system_id.as_str()).collect::<Vec<_>>(),
    });
    if cohort {
        detail["cohort"] = json!(true);
    }
    let entry = NewEntry::by_practitioner(
        Action::Disclosure,
        &caller.practitioner,
        &caller.gateway_id,
        context,
        correlation_id,
        child_id,
        detail,
    );
    let answer = disclosed.then(|| ChildRecords {
        agency_id: state.agency_id.clone(),
        agency_kind: state.agency_kind,
        contact: Some(state.policy.contact.clone()),
        disclosure: decision.categories,
        override_used: decision.override_used,
        relationship: related.status,
        involved_now,
        records: shaped,
    });
    Ok((answer, entry))
}

/// Who broke the glass, for the alert.
struct AlertContext {
    practitioner: trust::Practitioner,
    context: AccessContext,
    child_id: String,
    correlation_id: String,
}

/// The inbox item that tells this agency someone without a relationship read a child's
/// records here: who, from which agency, what, why, and the reason they gave.
fn break_glass_alert(
    state: &AppState,
    alert: &AlertContext,
    answer: &ChildRecords,
) -> db::notifications::InboxRow {
    let directory = state.directory.get();
    let agency_name = directory
        .member(&alert.practitioner.agency)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| alert.practitioner.agency.to_string());
    let seen: Vec<_> = answer
        .disclosure
        .iter()
        .filter(|d| d.level > schemas::DisclosureLevel::Existence)
        .collect();
    let top = seen
        .iter()
        .max_by_key(|d| d.level)
        .map(|d| (d.category, d.level))
        .unwrap_or((
            answer.disclosure[0].category,
            schemas::DisclosureLevel::Existence,
        ));
    let reason = alert.context.reason.clone().unwrap_or_default();
    let now = chrono::Utc::now().naive_utc();
    db::notifications::InboxRow {
        id: uuid::Uuid::new_v4().to_string(),
        event_type: schemas::notification::EventType::BreakGlass
            .as_str()
            .to_owned(),
        child_id: alert.child_id.clone(),
        occurred_at: now,
        received_at: now,
        sender: alert.practitioner.agency.to_string(),
        sender_name: agency_name.clone(),
        category: top.0.as_str().to_owned(),
        level: audit::wire_name(&top.1),
        impact: format!(
            "Break-glass: a {} at {agency_name}, which does not work with this child, read our records of them ({}) for {}. Reason given: {reason}",
            alert.practitioner.role.in_words(),
            seen.iter()
                .map(|d| format!("{} at {}", d.category.in_words(), d.level.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            schemas::disclosure::purpose_in_words(alert.context.purpose),
        ),
        details: Some(
            json!({
                "for": ["data_protection_officer", "designated_safeguarding_lead"],
                "practitioner": alert.practitioner.subject,
                "role": alert.practitioner.role.as_str(),
                "agency": alert.practitioner.agency.as_str(),
                "purpose": wire_name(&alert.context.purpose),
                "reason": reason,
                "correlation_id": alert.correlation_id,
            })
            .to_string(),
        ),
        deadline: None,
        acknowledged_at: None,
        acknowledged_by: None,
        ack_relayed: false,
    }
}

/// The break-glass alert as the data protection officer's system receives it: the inbox
/// item, with the child's local id in this agency's own system.
fn dpo_alert(
    state: &AppState,
    alert: &db::notifications::InboxRow,
    local_id: Option<String>,
) -> db::dpo_alerts::DpoAlertRow {
    let details: serde_json::Value = alert
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(serde_json::Value::Null);
    let body = json!({
        "type": "break_glass",
        "id": alert.id,
        "agency_id": state.agency_id,
        "occurred_at": alert.occurred_at.and_utc(),
        "local_id": local_id,
        "category": alert.category,
        "level": alert.level,
        "impact": alert.impact,
        "details": details,
    });
    db::dpo_alerts::DpoAlertRow {
        id: alert.id.clone(),
        body: body.to_string(),
        created_at: alert.received_at,
        attempts: 0,
        next_attempt_at: alert.received_at,
        delivered_at: None,
        last_error: None,
    }
}

/// Grant a break-glass to one of this agency's own practitioners.
///
/// For a read of a child this agency does not work with, under `safeguarding_override`
/// with a reason: the node counts the practitioner's break-glass views today (calendar
/// day, Europe/London) from its own audit, refuses beyond its policy's daily limit
/// (`[relationship] break_glass_per_day`, 5 by default) with 429, and otherwise audits
/// the grant and signs an assertion the disclosing nodes accept, bound to the
/// practitioner, the purpose and the search's query hash. The gateway asks once per
/// view, however many agencies answer it.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = BreakGlassRequest,
    responses(
        (status = 200, description = "Granted: the assertion to send with the view's reads", body = BreakGlassGrant),
        (status = 400, description = "Not a safeguarding override, no reason, or no valid query hash", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, the practitioner is not this agency's, or this node's policy allows no override for them", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over a rate limit, or the practitioner has used every break-glass view allowed today", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait: for the daily break-glass limit, until the next day in England"))),
        (status = 503, description = "This node has no signing key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/v1/federation/break-glass")]
pub async fn grant_break_glass(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<BreakGlassRequest>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let request = body.into_inner();
    let mut errors = context.validate();
    if context.legal_basis != LegalBasis::SafeguardingOverride {
        errors.push(schemas::FieldError::new(
            "legal_basis",
            "a break-glass is a read under safeguarding_override",
        ));
    }
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if request.query_hash.len() != 32 || !request.query_hash.chars().all(hex) {
        errors.push(schemas::FieldError::new(
            "query_hash",
            "must be the 32 hex digits of the search's query hash",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    if caller.practitioner.agency != state.agency_id {
        return Err(ApiError::Forbidden(
            "a break-glass is granted only by the practitioner's own agency's node".into(),
        ));
    }
    let Some((key, ttl)) = &state.signing else {
        return Err(ApiError::NotConfigured("[signing] key_file"));
    };
    let limit = state.policy.relationship.break_glass_per_day;
    let now = chrono::Utc::now();
    let since = service::problem::london_day(now).0.naive_utc();
    let assertion = relationship::Assertion {
        agency: state.agency_id.clone(),
        iss: caller.practitioner.issuer.clone(),
        sub: caller.practitioner.subject.clone(),
        purpose: context.purpose,
        qh: request.query_hash.clone(),
        exp: now.timestamp() + ttl,
        basis: None,
        break_glass: true,
    }
    .sign(key);
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let used = web::block(move || -> Result<u32, ApiError> {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        // Counted and appended in one write transaction, so two replicas (or two
        // requests) cannot both take the last one.
        db::write_with(&mut conn, |c| {
            let used = db::audit::break_glass_since(
                c,
                caller.practitioner.agency.as_str(),
                &caller.practitioner.subject,
                since,
            )?;
            if used >= i64::from(limit) {
                return Err(ApiError::BreakGlassLimit(format!(
                    "{used} of {limit} break-glass views used today (Europe/London); ask your data protection officer, or work through the agency's contact route"
                )));
            }
            let entry = NewEntry::by_practitioner(
                Action::BreakGlass,
                &caller.practitioner,
                &caller.gateway_id,
                &context,
                &correlation_id,
                None,
                json!({"query_hash": request.query_hash, "used_today": used + 1, "daily_limit": limit}),
            );
            db::audit::append(c, &entry)?;
            Ok(u32::try_from(used + 1).unwrap_or(u32::MAX))
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(BreakGlassGrant {
        assertion,
        used_today: used,
        daily_limit: limit,
    }))
}

/// A child's access report at this agency: who has seen which kinds of their
/// information, when and why, in plain words.
///
/// For the child and those acting for them: the node's policy lists the roles that may
/// fetch it (by default its data protection officer). Disclosures the policy defers, so
/// an enquiry is not tipped off, appear only after their date or once released; this
/// agency's own data protection officer sees them, marked with `deferred_until`.
#[utoipa::path(
    tag = "federation",
    params(("local_ref" = String, Path, description = "This node's reference for the child, from a match")),
    responses(
        (status = 200, description = "The child's access report at this agency", body = AccessReport),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "This role may not fetch access reports here", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child here", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[get("/v1/federation/children/{local_ref}/access-report")]
pub async fn access_report(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_ref: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let role = caller.practitioner.role;
    if !state.policy.access_report_roles.contains(&role) {
        return Err(ApiError::Forbidden(format!(
            "this agency's policy does not let a {} fetch access reports",
            role.as_str()
        )));
    }
    let reader = crate::access_report::Reader {
        is_holders_dpo: role == PractitionerRole::DataProtectionOfficer
            && caller.practitioner.agency == state.agency_id,
    };
    let correlation_id = audit::correlation_of(&req);
    let context = AccessContext {
        purpose: Purpose::Safeguarding,
        legal_basis: LegalBasis::PublicTask,
        reason: None,
    };
    let state_for_block = state.clone();
    let (rows, consents) = web::block(move || {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        audited_if_found(&mut conn, |c| {
            let Some(child) = db::children::find_by_id(c, &local_ref)? else {
                return Ok(None);
            };
            let rows = db::audit::for_child(c, &child.id)?;
            let consents = db::consents::for_child(c, &child.id)?;
            let detail = json!({"disclosed": false, "access_report": true});
            let entry = NewEntry::by_practitioner(
                Action::Disclosure,
                &caller.practitioner,
                &caller.gateway_id,
                &context,
                &correlation_id,
                Some(child.id),
                detail,
            );
            Ok(Some(((rows, consents), entry)))
        })
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    let directory = state.directory.get();
    let names = |id: &str| {
        schemas::AgencyId::parse(id)
            .ok()
            .and_then(|id| directory.member(&id).map(|m| m.name.clone()))
    };
    let holder = names(state.agency_id.as_str()).unwrap_or_else(|| state.agency_id.to_string());
    let entries = crate::access_report::build(
        &rows,
        &holder,
        &state.policy,
        &names,
        &reader,
        chrono::Utc::now().date_naive(),
    );
    let consents = crate::access_report::consents(&consents, &holder);
    Ok(HttpResponse::Ok().json(AccessReport {
        agency_id: state.agency_id.clone(),
        entries,
        consents,
    }))
}

/// This node's record-locator filter, for gateways only.
///
/// A keyed membership filter over the children this node holds: the HMAC-SHA-256, under
/// the federation's locator key, of each child's UPN and NHS number and of two
/// demographic blocking keys (date of birth, Soundex of the family name, initial of the
/// given name; once more with the postcode area). A gateway tests a search's tokens
/// against every node's filter and asks only the nodes that may hold the child. The
/// filter says nothing about whom it holds to anyone without the key; it is built from
/// the current records on each request.
#[utoipa::path(
    tag = "federation",
    responses(
        (status = 200, description = "The node's current filter", body = schemas::LocatorFilterDocument),
        (status = 403, description = "Caller is not a gateway, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This node has no locator configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/federation/locator-filter")]
pub async fn locator_filter(
    _caller: crate::auth::GatewayCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.locator.is_none() {
        return Err(ApiError::LocatorNotConfigured);
    }
    let state_for_block = state.clone();
    let document = web::block(move || -> Result<_, ApiError> {
        let state = state_for_block;
        let Some((key, rate)) = &state.locator else {
            return Err(ApiError::LocatorNotConfigured);
        };
        let mut conn = state.pool.get()?;
        let mut tokens = Vec::new();
        let children = db::children::locator_rows(
            &mut conn,
            |(upn, nhs, given, family, dob, postcode, sex, former_upns)| {
                // A former UPN finds the child as its UPN does.
                for former in db::models::former_upns_of(former_upns.as_deref()) {
                    tokens.extend(key.query_tokens(Some(&former), None, None, None));
                }
                // A child held without a date of birth has no demographic blocking key
                // (a name without it gives none either): it is found by identifier.
                let Some(date_of_birth) = db::models::known_date_of_birth(dob) else {
                    tokens.extend(key.query_tokens(upn.as_deref(), nhs.as_deref(), None, None));
                    return;
                };
                let input = locator::BlockingInput {
                    given_name: &given,
                    family_name: &family,
                    date_of_birth,
                    postcode: postcode.as_deref(),
                    sex: sex.as_deref().and_then(db::models::sex_from_str),
                };
                tokens.extend(key.child_tokens(upn.as_deref(), nhs.as_deref(), None, &input));
            },
        )?;
        let filter = locator::LocatorFilter::build(&tokens, *rate);
        Ok(schemas::LocatorFilterDocument {
            agency: state.agency_id.clone(),
            format: "blocked-bloom-512/v1".into(),
            key_id: key.id().to_owned(),
            children,
            tokens: filter.items(),
            expected_false_positive_rate: filter.expected_false_positive_rate(),
            built_at: chrono::Utc::now(),
            filter: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                filter.to_bytes(),
            ),
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(document))
}
