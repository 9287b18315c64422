//! Cohorts on the federation face: the practitioner's own node lists the children its
//! agency works with, each with a relationship assertion, and every node answers a
//! chunk of children in one batched match and one batched read. Each child is decided
//! as a single match or read would be (relationship, policy, consent), and every child
//! is audited, in one write per chunk (still one hash-chained entry per child).

use super::federation::{Read, match_one, read_one, relate, requester};
use crate::audit::{self, Action, NewEntry};
use crate::auth::FederatedCaller;
use crate::db;
use crate::error::ApiError;
use crate::finding;
use crate::relationship;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use matching::MatchingMode;
use schemas::cohort::{
    BatchMatchRequest, BatchMatchResponse, BatchReadAnswer, BatchRecordsRequest,
    BatchRecordsResponse, CohortIdentity, CohortMember, CohortPage, CohortPageQuery, DEFAULT_CHUNK,
    cursor_of, local_id_of_cursor,
};
use schemas::federation::AccessContext;
use schemas::{ChildQuery, FieldError, Problem, Record, RecordCategory};
use serde_json::json;
use std::collections::HashMap;

/// Children read at a time while walking the node's list.
const SCAN: i64 = 1_000;

/// The query the other nodes are asked with: identifiers and whatever demographics this
/// agency holds (a partial child's as far as they go, [`ChildQuery::of_child`]); no
/// query at all when nothing valid is left. Read back from its JSON, so its hash is the
/// one every node that receives it computes.
fn query_of(child: &schemas::Child) -> Option<ChildQuery> {
    let query = ChildQuery::of_child(&child.identifiers, &child.demographics)?;
    serde_json::to_vec(&query)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// List the children the practitioner's own agency works with (its cohort).
///
/// Only the node of the practitioner's own agency answers: the children with whom its
/// records make an active involvement by its relationship rules (on roll, an open case,
/// in the virtual school's cohort…), a page at a time, in the agency's own order (its
/// local ids). Each comes with the query the gateway asks the other agencies with and a
/// relationship assertion signed by this node, bound to the practitioner, the purpose
/// and that query's hash, as a search's would be. The listing is audited (one entry
/// per page); `total` is given on the first page.
#[utoipa::path(
    tag = "federation",
    params(AccessContext, CohortPageQuery),
    responses(
        (status = 200, description = "A page of the agency's cohort", body = CohortPage),
        (status = 400, description = "Invalid purpose, legal basis, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, the practitioner is not this agency's, or override not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This node has no signing key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[get("/v1/federation/cohort")]
pub async fn cohort(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    page: web::Query<CohortPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let page = page.into_inner();
    let mut errors = context.validate();
    errors.extend(page.validate());
    let after = match &page.cursor {
        Some(cursor) => match local_id_of_cursor(cursor) {
            Some(id) => Some(id),
            None => {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor of this listing: pass a page's next_cursor",
                ));
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    if caller.practitioner.agency != state.agency_id {
        return Err(ApiError::Forbidden(
            "a cohort is listed only by the practitioner's own agency's node".into(),
        ));
    }
    let who = requester(&state, &caller, &context)?;
    // A caseload: only where this agency records allocation.
    let caseload = page.allocated_to.is_some();
    if caseload && !RecordCategory::AllocatedSocialWorker.held_by(state.agency_kind) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "allocated_to",
            format!(
                "a {} agency does not record allocated social workers",
                state.agency_kind.as_str()
            ),
        )]));
    }
    if state.signing.is_none() {
        return Err(ApiError::NotConfigured("[signing] key_file"));
    }
    let limit = page.limit.unwrap_or(DEFAULT_CHUNK);
    let first_page = page.cursor.is_none();
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let page = web::block(move || -> Result<CohortPage, ApiError> {
        let state = state_for_block;
        let Some((key, ttl)) = &state.signing else {
            return Err(ApiError::NotConfigured("[signing] key_file"));
        };
        let rules = &state.policy.relationship;
        let mut categories: Vec<&str> = rules
            .open
            .iter()
            .chain(&rules.recent)
            .map(|c| c.as_str())
            .collect();
        let allocation = RecordCategory::AllocatedSocialWorker.as_str();
        if caseload && !categories.contains(&allocation) {
            categories.push(allocation);
        }
        let subject = caller.practitioner.subject.clone();
        let now = chrono::Utc::now();
        let today = now.with_timezone(&chrono_tz::Europe::London).date_naive();
        let mut conn = state.pool.get()?;
        let (members, more, total) = db::read_snapshot(&mut conn, |c| {
            let mut members = Vec::new();
            let mut total = 0u64;
            let mut more = false;
            let mut after = after;
            loop {
                let rows = db::children::page_after(c, after.as_deref(), SCAN)?;
                let Some(last) = rows.last() else { break };
                after = Some(last.local_id.clone());
                let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                let mut records: HashMap<String, Vec<Record>> = HashMap::new();
                for row in db::records::of_children_in(c, &ids, &categories)? {
                    records
                        .entry(row.child_id.clone())
                        .or_default()
                        .push(row.into_wire()?);
                }
                for row in rows {
                    let held = records.remove(&row.id).unwrap_or_default();
                    let Some(basis) = rules.active(&held, today) else {
                        continue;
                    };
                    if caseload && !allocated_to(&held, &subject, today) {
                        continue;
                    }
                    total += 1;
                    if members.len() < limit {
                        members.push((row, basis));
                    } else {
                        more = true;
                    }
                }
                // Past the page: only the first page goes on, to count the whole cohort.
                if more && !first_page {
                    break;
                }
            }
            let ids: Vec<&str> = members.iter().map(|(r, _)| r.id.as_str()).collect();
            let unacknowledged = db::notifications::unacknowledged_counts(c, &ids)?;
            let members = members
                .into_iter()
                .map(|(row, basis)| {
                    let count = unacknowledged.get(&row.id).copied().unwrap_or(0);
                    (row, basis, count)
                })
                .collect::<Vec<_>>();
            Ok::<_, ApiError>((members, more, total))
        })?;
        let next_cursor = more
            .then(|| members.last().map(|(row, _, _)| cursor_of(&row.local_id)))
            .flatten();
        let mut children = Vec::with_capacity(members.len());
        for (row, basis, unacknowledged) in members {
            let local_ref = row.id.clone();
            let child = row.into_wire()?;
            let query = query_of(&child);
            let qh = relationship::query_hash("plain", &query);
            let assertion = relationship::Assertion {
                agency: state.agency_id.clone(),
                iss: caller.practitioner.issuer.clone(),
                sub: caller.practitioner.subject.clone(),
                purpose: context.purpose,
                qh,
                exp: now.timestamp() + ttl,
                basis: Some(basis),
                break_glass: false,
            };
            children.push(CohortMember {
                cursor: cursor_of(&child.local_id),
                local_ref,
                identity: CohortIdentity {
                    given_name: child.demographics.given_name,
                    family_name: child.demographics.family_name,
                    preferred_given_name: child.demographics.preferred_given_name,
                    preferred_family_name: child.demographics.preferred_family_name,
                    date_of_birth: child.demographics.date_of_birth,
                    upn: child.identifiers.upn,
                    nhs_number: child.identifiers.nhs_number,
                    local_id: child.local_id,
                },
                basis,
                query,
                relationship: assertion.sign(key),
                unacknowledged_notifications: u32::try_from(unacknowledged).unwrap_or(u32::MAX),
            });
        }
        let entry = NewEntry::by_practitioner(
            Action::Disclosure,
            &caller.practitioner,
            &caller.gateway_id,
            &context,
            &correlation_id,
            None,
            json!({
                "disclosed": false,
                "cohort_listing": children.len(),
                "requester_kind": who.kind.as_str(),
            }),
        );
        db::write(&mut conn, |c| db::audit::append(c, &entry))?;
        Ok(CohortPage {
            agency_id: state.agency_id.clone(),
            children,
            next_cursor,
            total: first_page.then_some(total),
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(page))
}

/// An allocated social worker record in effect today names this practitioner (its
/// `worker_subject` is their token's `sub`).
fn allocated_to(records: &[Record], subject: &str, today: chrono::NaiveDate) -> bool {
    records.iter().any(|r| {
        r.category == RecordCategory::AllocatedSocialWorker
            && r.effective_from <= today
            && r.last_day().is_none_or(|last| last >= today)
            && r.details
                .as_ref()
                .and_then(|d| d.get("worker_subject"))
                .and_then(|s| s.as_str())
                == Some(subject)
    })
}

/// Reads a batched match's body query by query, so a bad query is named by its place
/// (`queries[3]`), not as the whole body.
fn batch_queries(body: schemas::json::Body) -> Result<BatchMatchRequest, Vec<FieldError>> {
    use serde_json::Value;
    let Value::Object(mut map) = body.into_value()? else {
        return Err(vec![FieldError::new(
            "body",
            "must be an object with `queries`",
        )]);
    };
    let mut errors: Vec<FieldError> = map
        .keys()
        .filter(|k| k.as_str() != "queries")
        .map(|k| FieldError::new(k.clone(), "is not a field of a batched match"))
        .collect();
    let Some(Value::Array(items)) = map.remove("queries") else {
        errors.push(FieldError::new(
            "queries",
            "must be an array of 1 to 500 queries",
        ));
        return Err(errors);
    };
    let mut queries = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<ChildQuery>(item) {
            Ok(query) => queries.push(query),
            Err(e) => errors.push(FieldError::new(
                format!("queries[{i}]"),
                e.to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            )),
        }
    }
    if errors.is_empty() {
        Ok(BatchMatchRequest { queries })
    } else {
        Err(errors)
    }
}

/// Find many children at once (a cohort's chunk).
///
/// Each query is answered exactly as `POST /v1/federation/match` would answer it alone
/// (the same matching, policy and consent, the same match tokens), in the order given;
/// every query is audited, all in one write.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = BatchMatchRequest,
    responses(
        (status = 200, description = "One answer per query, in order", body = BatchMatchResponse),
        (status = 400, description = "Invalid queries, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or override not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This node matches in keyed mode", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/match")]
pub async fn match_batch(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let batch = batch_queries(body.into_inner()).map_err(ApiError::Invalid)?;
    if state.matching.mode == MatchingMode::Keyed {
        return Err(ApiError::Conflict(
            "this node matches in keyed mode: a cohort's batched match is plain only".into(),
        ));
    }
    let mut errors = context.validate();
    errors.extend(batch.validate());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let who = requester(&state, &caller, &context)?;
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let answers = web::block(move || -> Result<_, ApiError> {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        let (answers, entries) = db::read_snapshot(&mut conn, |c| {
            let mut answers = Vec::with_capacity(batch.queries.len());
            let mut entries = Vec::with_capacity(batch.queries.len());
            for query in &batch.queries {
                let qh = relationship::query_hash("plain", query);
                let found = finding::find_with(c, query, &state.weight_estimation.settings())?;
                let (answer, mut entry) = match_one(
                    c,
                    &state,
                    &caller,
                    &who,
                    &context,
                    &qh,
                    &correlation_id,
                    found,
                )?;
                entry.detail["cohort"] = json!(true);
                answers.push(answer);
                entries.push(entry);
            }
            Ok::<_, ApiError>((answers, entries))
        })?;
        db::write(&mut conn, |c| db::audit::append_many(c, &entries))?;
        Ok(answers)
    })
    .await??;
    Ok(HttpResponse::Ok().json(BatchMatchResponse { answers }))
}

/// Read many children's records at once (a cohort's chunk).
///
/// Each child is decided as `GET /v1/federation/children/{local_ref}/records` would
/// decide it alone: the requester's relationship assertion with this node's match token
/// of the same batched match, this node's policy, the child's consent. A child this
/// node does not hold, or shows nothing of, has no `records`. Every child is audited as
/// seen as part of a cohort, all in one write. A break-glass grant does not count here:
/// a break-glass is for one child's view.
#[utoipa::path(
    tag = "federation",
    params(AccessContext),
    request_body = BatchRecordsRequest,
    responses(
        (status = 200, description = "One answer per child, in order", body = BatchRecordsResponse),
        (status = 400, description = "Invalid children, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Practitioner token missing or not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not a gateway, or override not allowed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = [], "practitioner_jwt" = []))
)]
#[post("/records")]
pub async fn records_batch(
    caller: FederatedCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<BatchRecordsRequest>,
) -> Result<HttpResponse, ApiError> {
    let context = context.into_inner();
    let batch = body.into_inner();
    let mut errors = context.validate();
    errors.extend(batch.validate());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let who = requester(&state, &caller, &context)?;
    let correlation_id = audit::correlation_of(&req);
    let state_for_block = state.clone();
    let answers = web::block(move || -> Result<_, ApiError> {
        let state = state_for_block;
        let mut conn = state.pool.get()?;
        let (answers, entries) = db::read_snapshot(&mut conn, |c| {
            let mut answers = Vec::with_capacity(batch.children.len());
            let mut entries = Vec::with_capacity(batch.children.len());
            for item in &batch.children {
                let read = Read {
                    local_ref: &item.local_ref,
                    assertion: item.relationship.as_deref(),
                    match_token: item.match_token.as_deref(),
                };
                let (mut who, mut related) = relate(&state, &caller, who, &context, &read);
                if who.break_glass {
                    who.break_glass = false;
                    related = super::federation::Related::none(
                        "a break-glass grant is for one child's view, not a cohort",
                    );
                }
                let (records, entry) = read_one(
                    c,
                    &state,
                    &caller,
                    &who,
                    &related,
                    &context,
                    &correlation_id,
                    &read,
                    true,
                )?;
                answers.push(BatchReadAnswer {
                    local_ref: item.local_ref.clone(),
                    records,
                });
                entries.push(entry);
            }
            Ok::<_, ApiError>((answers, entries))
        })?;
        db::write(&mut conn, |c| db::audit::append_many(c, &entries))?;
        Ok(answers)
    })
    .await??;
    Ok(HttpResponse::Ok().json(BatchRecordsResponse { answers }))
}
