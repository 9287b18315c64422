use crate::auth::Authenticated;
use crate::error::GatewayError;
use crate::federation::{self, Fanout};
use crate::reference::ReferenceClaims;
use crate::startup::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Duration, Utc};
use schemas::{
    AccessContext, ChildQuery, ChildView, FieldError, Problem, SearchResponse, ViewFilter,
};

fn fanout<'a>(state: &'a AppState, auth: &'a Authenticated, req: &'a HttpRequest) -> Fanout<'a> {
    Fanout {
        http: &state.http,
        token: &auth.token,
        deadline: state.node_deadline,
        traceparent: req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    }
}

/// Find a child across the federation.
///
/// Asks every agency node in parallel whether it holds the child (identifiers first,
/// then demographics), for a stated purpose and legal basis, and returns, per agency, whether it does, plus an opaque, signed,
/// expiring `reference` to read the child's view with. No state is kept at the gateway:
/// everything needed later is sealed inside the reference, which only the practitioner
/// who searched can use. A node whose sharing policy gives this practitioner nothing
/// answers as if it did not hold the child.
#[utoipa::path(
    tag = "children",
    params(AccessContext),
    request_body = ChildQuery,
    responses(
        (status = 200, description = "Per agency, whether it holds the child", body = SearchResponse),
        (status = 400, description = "Invalid query, purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Token missing or not accepted", body = Problem, content_type = "application/problem+json"),
    ),
    security(("practitioner_jwt" = []))
)]
#[post("/v1/children:search")]
pub async fn search(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
    context: web::Query<AccessContext>,
    body: web::Json<ChildQuery>,
) -> Result<HttpResponse, GatewayError> {
    let context = context.into_inner();
    let query = body.into_inner();
    let mut errors = context.validate();
    errors.extend(query.validate());
    if !errors.is_empty() {
        return Err(GatewayError::Invalid(errors));
    }
    // Bounded fan-outs: past the limit, say so at once rather than queue.
    let _slot = state
        .fanouts
        .try_acquire()
        .map_err(|_| GatewayError::Busy)?;
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
    // With the record locator, only nodes whose filter may hold the child are asked.
    let tokens = state.locator.as_ref().map(|l| l.query_tokens(&query));
    let lookup = state.locator.as_deref().zip(tokens.as_deref());
    let outcome = federation::search(
        &directory,
        &fanout(&state, &auth, &req),
        node_query,
        &context,
        lookup,
    )
    .await;
    let any_held = outcome
        .nodes
        .iter()
        .any(|(_, e)| matches!(e, crate::reference::NodeEntry::Held { .. }));
    let (reference, expires_at) = if any_held {
        let expires_at = Utc::now() + Duration::seconds(state.reference_ttl_seconds);
        let claims = ReferenceClaims {
            iss: auth.practitioner.issuer.clone(),
            sub: auth.practitioner.subject.clone(),
            exp: expires_at.timestamp(),
            nodes: outcome.nodes,
        };
        let sealed = state
            .references
            .seal(&claims)
            .map_err(GatewayError::Reference)?;
        (Some(sealed), Some(expires_at))
    } else {
        (None, None)
    };
    Ok(HttpResponse::Ok().json(SearchResponse {
        reference,
        expires_at,
        agencies: outcome.agencies,
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
    let claims = state
        .references
        .open(
            &reference,
            &auth.practitioner.issuer,
            &auth.practitioner.subject,
            Utc::now(),
        )
        .map_err(GatewayError::Reference)?;
    // Bounded fan-outs: past the limit, say so at once rather than queue.
    let _slot = state
        .fanouts
        .try_acquire()
        .map_err(|_| GatewayError::Busy)?;
    let directory = state.directory.get();
    let view = federation::view(
        &directory,
        &fanout(&state, &auth, &req),
        &claims,
        &context,
        &filter,
    )
    .await;
    Ok(HttpResponse::Ok().json(view))
}
