//! The practitioner's operations on a child: search, view, confirm a candidate.

use super::{fanout, fanout_slot, open_reference};
use crate::auth::Authenticated;
use crate::error::GatewayError;
use crate::federation;
use crate::reference::{NodeEntry, ReferenceClaims};
use crate::startup::AppState;
use crate::upstream::Failure;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, SubsecRound, Utc};
use schemas::{
    AccessContext, AgencySearchResult, CandidateConfirmation, ChildQuery, ChildView,
    ConfirmRequest, ConfirmResponse, FieldError, MatchGrade, Problem, SearchResponse, SearchStatus,
    ViewFilter,
};

/// Find a child across the federation.
///
/// Asks every agency node in parallel whether it holds the child (identifiers first,
/// then demographics), for a stated purpose and legal basis, and returns, per agency, whether it does, plus an opaque, signed,
/// expiring `reference` to read the child's view with. No state is kept at the gateway:
/// everything needed later is sealed inside the reference, which only the practitioner
/// who searched can use. A node whose sharing policy gives this practitioner nothing
/// answers as if it did not hold the child.
///
/// An agency with only `possible` matches answers `candidates`, at most three, best
/// first, each numbered (`candidate`: 1, 2, 3) with its grade and the fields that agreed,
/// never the agency's own details. Nothing of theirs is read until you confirm one with
/// `POST /v1/children/{reference}/confirm`; the reference is issued for that too.
/// Candidates of an `ambiguous` agency cannot be confirmed: search with an identifier.
#[utoipa::path(
    tag = "children",
    params(AccessContext),
    request_body = ChildQuery,
    responses(
        (status = 200, description = "Per agency, whether it holds the child", body = SearchResponse,
            example = json!({
                "reference": "fr1.q83vEjRk…",
                "expires_at": "2026-11-25T23:10:00Z",
                "agencies": [
                    {"agency_id": "school-a", "agency_name": "Northfield Primary School",
                     "kind": "school", "status": "held", "grade": "certain",
                     "matched_on": ["upn", "given_name", "family_name", "date_of_birth"]},
                    {"agency_id": "social-care", "agency_name": "County Children's Social Care",
                     "kind": "social_care", "status": "candidates",
                     "candidates": [{"candidate": 1, "grade": "possible", "confirmable": true,
                       "matched_on": ["given_name:similar", "family_name", "date_of_birth", "sex"],
                       "disagreed": ["postcode:disagree"]}]},
                    {"agency_id": "police", "agency_name": "County Police", "kind": "police",
                     "status": "unavailable", "reason": "connection refused"}
                ]
            })),
        (status = 400, description = "Invalid query, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the practitioner's or agency's rate", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Whole seconds to wait before retrying"))),
    ),
    security(("practitioner_jwt" = []))
)]
#[post("/v1/children:search")]
pub async fn search(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, GatewayError> {
    let context = context.into_inner();
    let query = ChildQuery::parse(body.into_inner());
    // Every invalid field, of the context and of the query, at once.
    let mut errors = context.validate();
    let query = match query {
        Ok(query) => query,
        Err(e) => {
            errors.extend(e);
            return Err(GatewayError::Invalid(errors));
        }
    };
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    let _slot = fanout_slot(&state)?;
    let directory = state.directory.get();
    // In keyed mode the plain query stays here: nodes get its keyed encodings only.
    let keyed = state
        .matching_key
        .as_ref()
        .map(|key| key.encode_query(&query));
    let node_query = match &keyed {
        Some(keyed) => federation::NodeQuery::Keyed(keyed),
        None => federation::NodeQuery::Plain(&query),
    };
    // With the record locator, only nodes whose filter may hold the child are asked; a
    // partial search it cannot key asks every node.
    let tokens = state.locator.as_ref().and_then(|l| l.query_tokens(&query));
    let lookup = state.locator.as_deref().zip(tokens.as_deref());
    let query_hash = match &node_query {
        federation::NodeQuery::Plain(q) => schemas::query_hash("plain", q),
        federation::NodeQuery::Keyed(q) => schemas::query_hash("keyed", q),
    };
    let mut outcome = federation::search(
        &directory,
        &fanout(&state, &auth, &req),
        node_query,
        &context,
        lookup,
        &auth.practitioner.agency,
    )
    .await;
    // An answer saying which fields a candidate disagreed on counts against the
    // practitioner's own limit of such answers (the agencies audit each). Beyond it the
    // search is still answered (another agency's link, the candidates to confirm, what
    // agreed), only without the disagreeing fields.
    let shows_disagreement = outcome
        .agencies
        .iter()
        .any(|a| a.candidates.iter().any(|c| !c.matched.disagreed.is_empty()));
    let disagreed_withheld = shows_disagreement
        && state
            .candidate_detail_limiter
            .check(&format!(
                "{}\n{}",
                auth.practitioner.issuer, auth.practitioner.subject
            ))
            .is_err();
    if disagreed_withheld {
        for candidate in outcome.agencies.iter_mut().flat_map(|a| &mut a.candidates) {
            candidate.matched.disagreed.clear();
        }
    }
    // A reference is worth issuing when there is something to read, or a candidate to
    // confirm.
    let any_held = outcome
        .nodes
        .iter()
        .any(|(_, e)| matches!(e, NodeEntry::Held { .. } | NodeEntry::Candidates { .. }));
    let (reference, expires_at) = if any_held {
        // Whole seconds: what the reference holds, so a confirmation's new reference
        // says the same expiry.
        let expires_at =
            Utc::now().trunc_subsecs(0) + Duration::seconds(state.reference_ttl_seconds);
        let claims = ReferenceClaims {
            iss: auth.practitioner.issuer.clone(),
            sub: auth.practitioner.subject.clone(),
            exp: expires_at.timestamp(),
            nodes: outcome.nodes,
            rel: outcome.relationship,
            q: Some(query_hash),
        };
        let sealed = state.references.seal(&claims).map_err(GatewayError::from)?;
        (Some(sealed), Some(expires_at))
    } else {
        (None, None)
    };
    Ok(HttpResponse::Ok().json(SearchResponse {
        reference,
        expires_at,
        agencies: outcome.agencies,
        disagreed_withheld,
    }))
}

/// A child's multi-agency view.
///
/// Reads the child's records from every agency that holds them, in parallel and each
/// under a deadline, and merges them into one view: a section per agency with its
/// status (`ok`, `not_found`, `withheld`, `timeout`, `unavailable`, `error`), a
/// chronology across agencies, the four barriers (attendance, learning, behaviour,
/// wellbeing) with their evidence, the transitions in the child's life and the key
/// contacts. An agency that is down is marked, never fatal; everything is read only from
/// what the agencies that answered disclosed.
///
/// Narrow the view with `from`, `to` (dates) and `category` (repeat it, or separate with
/// commas): records, chronology, barrier evidence and transitions are filtered alike.
///
/// Agencies disclose more than `existence` only to a practitioner whose own agency works
/// with the child (a relationship it asserted at the search). Without one,
/// `legal_basis=safeguarding_override` with a `reason` is a **break-glass** view: the
/// practitioner's own agency's node grants and counts it (5 a day by default; beyond,
/// 429), each disclosing agency whose policy allows the override shares what it would
/// with a relationship, flags it, audits it and alerts its data protection officer, and
/// the view says `break_glass: true`.
#[utoipa::path(
    tag = "children",
    params(
        ("reference" = String, Path, description = "The federated reference from a search"),
        AccessContext,
        ViewFilter,
    ),
    responses(
        (status = 200, description = "The merged view", body = ChildView),
        (status = 400, description = "Missing or invalid purpose or legal basis, or an invalid filter (a date that is not a calendar date, `to` before `from`, an unknown category)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The reference was issued to another practitioner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The reference is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The reference has expired", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over a rate limit, or a break-glass view (safeguarding override without a relationship) beyond the practitioner's daily limit", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait: for the daily break-glass limit, until the next day in England"))),
        (status = 502, description = "A break-glass view, and the practitioner's own agency's node could not record it; nothing was read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[get("/v1/children/{reference}/view")]
pub async fn view(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    reference: web::Path<String>,
    context: web::Query<AccessContext>,
) -> Result<HttpResponse, GatewayError> {
    let context = context.into_inner();
    let mut errors = context.validate();
    // Read by hand: `category` may repeat, which a struct extractor refuses.
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| GatewayError::Invalid(vec![FieldError::new("query", e.to_string())]))?;
    let filter = match ViewFilter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(filter) => filter,
        Err(filter_errors) => {
            errors.extend(filter_errors);
            ViewFilter::default()
        }
    };
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    let claims = open_reference(&state, &auth, &reference)?;
    let _slot = fanout_slot(&state)?;
    let directory = state.directory.get();
    let fanout = fanout(&state, &auth, &req);
    let grant = break_glass(&directory, &fanout, &auth, &claims, &context).await?;
    let view = federation::view(
        &directory,
        &fanout,
        &claims,
        &context,
        &filter,
        grant.as_deref(),
    )
    .await;
    Ok(HttpResponse::Ok().json(view))
}

/// A break-glass for this view, when it needs one: a safeguarding override by a
/// practitioner whose agency asserted no relationship with the child. Their own agency's
/// node grants it (once per view), counting it against their daily limit; beyond it,
/// 429. A practitioner whose agency runs no node has no relationship and no break-glass:
/// the view shows what any agency shares without one.
async fn break_glass(
    directory: &trust::Directory,
    fanout: &federation::Fanout<'_>,
    auth: &Authenticated,
    claims: &ReferenceClaims,
    context: &AccessContext,
) -> Result<Option<String>, GatewayError> {
    if context.legal_basis != schemas::LegalBasis::SafeguardingOverride || claims.rel.is_some() {
        return Ok(None);
    }
    let (Some(own), Some(query_hash)) = (
        directory.nodes().find(|n| n.id == auth.practitioner.agency),
        claims.q.clone(),
    ) else {
        return Ok(None);
    };
    let outcome = fanout
        .client(own)
        .break_glass(&schemas::BreakGlassRequest { query_hash }, context)
        .await;
    match outcome.result {
        Ok(Ok(grant)) => Ok(Some(grant.assertion)),
        Ok(Err(refusal)) if refusal.status == 429 => Err(GatewayError::BreakGlassLimit(
            refusal.problem.detail.unwrap_or(refusal.problem.title),
        )),
        Ok(Err(refusal)) if refusal.status == 400 => {
            Err(GatewayError::Invalid(refusal.problem.errors.clone()))
        }
        Ok(Err(refusal)) if refusal.status == 403 => Err(GatewayError::Forbidden(
            refusal.problem.detail.unwrap_or(refusal.problem.title),
        )),
        Ok(Err(refusal)) => Err(GatewayError::BreakGlassUnavailable(
            refusal.problem.detail.unwrap_or(refusal.problem.title),
        )),
        Err(failure) => Err(GatewayError::BreakGlassUnavailable(format!(
            "your agency's node could not be reached: {failure:?}"
        ))),
    }
}

/// Confirm one agency's candidate as the child you searched for.
///
/// When a search found only `possible` matches at an agency (status `candidates`),
/// nothing of theirs is read until you, who can see the child or talk to their family,
/// confirm one: name the agency, the candidate's number from the search answer and why
/// you are sure. The agency checks the candidate was offered to you, applies its sharing
/// policy, records the confirmation with your reason in its audit (and the child's access
/// report says so), and links the child. The answer is a NEW reference in which that
/// agency holds the child; read the view with it. The old reference still shows the
/// agency as `candidates`. Confirm only a candidate you have checked: a wrong link shows
/// you another child's information.
#[utoipa::path(
    tag = "children",
    params(
        ("reference" = String, Path, description = "The federated reference from the search"),
        AccessContext,
    ),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "Confirmed: a new reference in which the agency holds the child", body = ConfirmResponse),
        (status = 400, description = "Missing reason, invalid purpose or legal basis, an agency with no candidate to confirm in this reference, a candidate number it does not have, or a candidate the agency no longer accepts (search again)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The reference (or the candidate) was issued to another practitioner, or the agency's policy does not allow this override", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The reference is not valid, or the agency no longer holds the candidate (or shares nothing of it with you)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The reference or the candidate has expired: search again", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The agency could not be reached or gave no valid answer; nothing was confirmed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[post("/v1/children/{reference}/confirm")]
pub async fn confirm(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    reference: web::Path<String>,
    context: web::Query<AccessContext>,
    body: web::Json<ConfirmRequest>,
) -> Result<HttpResponse, GatewayError> {
    let context = context.into_inner();
    let request = body.into_inner();
    let mut errors = context.validate();
    errors.extend(request.validate());
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    let mut claims = open_reference(&state, &auth, &reference)?;
    let invalid =
        |field: &str, message: String| GatewayError::Invalid(vec![FieldError::new(field, message)]);
    let Some(index) = claims
        .nodes
        .iter()
        .position(|(id, _)| *id == request.agency_id)
    else {
        return Err(invalid(
            "agency_id",
            format!("'{}' was not asked in this search", request.agency_id),
        ));
    };
    let token = match &claims.nodes[index].1 {
        NodeEntry::Candidates { t } => {
            t.get(request.candidate as usize - 1)
                .cloned()
                .ok_or_else(|| {
                    invalid(
                        "candidate",
                        format!(
                            "this agency has {} candidate{} in this search",
                            t.len(),
                            if t.len() == 1 { "" } else { "s" }
                        ),
                    )
                })?
        }
        NodeEntry::Held { .. } => {
            return Err(invalid(
                "agency_id",
                "this agency already holds the child in this reference: read the view".into(),
            ));
        }
        NodeEntry::NotFound | NodeEntry::Unknown => {
            return Err(invalid(
                "agency_id",
                "this agency has no candidate to confirm in this search (an ambiguous \
                 agency's candidates cannot be confirmed: search with an identifier)"
                    .into(),
            ));
        }
    };
    let directory = state.directory.get();
    let Some(member) = directory.nodes().find(|m| m.id == request.agency_id) else {
        return Err(invalid(
            "agency_id",
            "this agency is no longer a member of the federation".into(),
        ));
    };
    let confirmation = CandidateConfirmation {
        candidate_token: token,
        reason: request.reason.trim().to_owned(),
    };
    let outcome = fanout(&state, &auth, &req)
        .client(member)
        .confirm_candidate(&confirmation, &context)
        .await;
    let answer = match outcome.result {
        Ok(Ok(answer)) => answer,
        Ok(Err(refusal)) => {
            return Err(GatewayError::ConfirmationRefused {
                status: refusal.status,
                code: refusal.problem.code().to_owned(),
                detail: refusal.problem.detail.unwrap_or(refusal.problem.title),
            });
        }
        Err(Failure::NotFound) => {
            return Err(GatewayError::ConfirmationRefused {
                status: 404,
                code: "child-not-found".into(),
                detail: "the agency no longer holds this child".into(),
            });
        }
        Err(Failure::Timeout) => {
            return Err(GatewayError::AgencyUnavailable(
                "no answer within the deadline".into(),
            ));
        }
        Err(Failure::Unavailable(why) | Failure::Error(why)) => {
            return Err(GatewayError::AgencyUnavailable(why));
        }
    };
    let (true, Some(local_ref)) = (answer.answer.held, answer.answer.local_ref) else {
        return Err(GatewayError::AgencyUnavailable(
            "the agency answered without linking the child".into(),
        ));
    };
    claims.nodes[index].1 = NodeEntry::Held {
        r: local_ref,
        m: answer.match_token,
    };
    let sealed = state.references.seal(&claims).map_err(GatewayError::from)?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    Ok(HttpResponse::Ok().json(ConfirmResponse {
        reference: sealed,
        expires_at,
        agency: AgencySearchResult {
            agency_id: member.id.clone(),
            agency_name: member.name.clone(),
            kind: member.kind,
            status: SearchStatus::Held,
            grade: answer.answer.grade.or(Some(MatchGrade::Possible)),
            matched_on: answer.answer.matched_on,
            confirmed: true,
            candidates: Vec::new(),
            reason: None,
        },
    }))
}
