//! Integration face: the agency's own systems write and read back their records.

use crate::audit::{self, NewEntry};
use crate::auth::IntegrationClient;
use crate::db;
use crate::db::records::Expect;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::writes::{self, Write, Written};
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use schemas::disclosure::{ConsentDecision, StoredConsent};
use schemas::{Child, ChildUpsert, Problem, Record, RecordUpsert, RecordUpsertResult, ViewFilter};
use serde_json::json;

/// Create or update a child by the agency's local id.
///
/// Idempotent: sending the same child again updates it in place. Every invalid field
/// is named at once (`local_id`, `demographics.date_of_birth`, `identifiers.upn`, an
/// unknown field, a key sent twice). A UPN or NHS number names one child at a node: one
/// already held by another local id is refused with 409 naming that local id.
#[utoipa::path(
    tag = "integration",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    request_body = ChildUpsert,
    responses(
        (status = 201, description = "The child was created", body = Child),
        (status = 200, description = "The child was updated", body = Child),
        (status = 400, description = "Invalid child: every invalid or unknown field is named", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Caller is not this agency's integration client", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another local id at this node holds one of the identifiers (`identifier-held`, naming it)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[put("/v1/children/{local_id}")]
pub async fn upsert_child(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_id: web::Path<String>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let local_id = local_id.into_inner();
    let child = writes::parse_child(&local_id, body.into_inner())?;
    let write = Write::Child {
        local_id: &local_id,
        child: &child,
    };
    writes::validate(&write)?;
    let written = write_one(&state, &caller, &req, move |c, writer| {
        writes::apply(
            c,
            writer,
            &Write::Child {
                local_id: &local_id,
                child: &child,
            },
        )
    })
    .await?;
    let Written::Child(row, created) = written else {
        return Err(ApiError::Internal);
    };
    let child = row.into_wire()?;
    Ok(if created {
        HttpResponse::Created().json(child)
    } else {
        HttpResponse::Ok().json(child)
    })
}

/// Runs writes in one immediate transaction, off the async workers, as the calling
/// agency system.
pub(crate) async fn write_one<T, F>(
    state: &web::Data<AppState>,
    caller: &IntegrationClient,
    req: &HttpRequest,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConnection, &writes::Writer<'_>) -> Result<T, ApiError>
        + Send
        + 'static,
{
    write_as(state, caller, req, true, f).await
}

/// [`write_one`], raising the notification events the writes call for only when
/// `raise_events` (a load raises none unless asked: `/v1/batch?notify=true`).
pub(crate) async fn write_as<T, F>(
    state: &web::Data<AppState>,
    caller: &IntegrationClient,
    req: &HttpRequest,
    raise_events: bool,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConnection, &writes::Writer<'_>) -> Result<T, ApiError>
        + Send
        + 'static,
{
    with_writer(state, caller, req, raise_events, |conn, writer| {
        crate::db::write_with(conn, |c| f(c, writer))
    })
    .await
}

/// Runs `f` off the async workers with a connection and the caller's [`writes::Writer`],
/// outside any transaction: `f` opens its own (one, as [`write_as`], or one per chunk, as
/// `/v1/batch`).
pub(crate) async fn with_writer<T, F>(
    state: &web::Data<AppState>,
    caller: &IntegrationClient,
    req: &HttpRequest,
    raise_events: bool,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConnection, &writes::Writer<'_>) -> Result<T, ApiError>
        + Send
        + 'static,
{
    let pool = state.pool.clone();
    let system = caller.member_id.clone();
    let matching_key = state.matching_key.clone();
    let correlation_id = audit::correlation_of(req);
    let state = state.clone();
    let estimation = state.weight_estimation.clone();
    let written = web::block(move || {
        let mut conn = pool.get().map_err(crate::db::DbError::from)?;
        let writer = writes::Writer {
            system: &system,
            correlation_id: &correlation_id,
            raise_within_days: state.notifications.raise_within_days,
            raise_events,
            earliest_school_day: Some(&state.earliest_school_day),
            matching_key: matching_key.as_deref(),
        };
        f(&mut conn, &writer)
    })
    .await?;
    // Even a refused batch may have stored its earlier chunks.
    estimation.written();
    written
}

/// Read back a child by the agency's local id.
///
/// Returns the child as stored, with the identifiers and demographics the agency's system
/// last wrote. For the agency's own systems (directory role `integration`) only.
#[utoipa::path(
    tag = "integration",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    responses(
        (status = 200, description = "The child", body = Child),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/children/{local_id}")]
pub async fn get_child(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    local_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let row = web::block(move || {
        let mut conn = pool.get()?;
        db::children::find_by_local_id(&mut conn, &local_id)
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    Ok(HttpResponse::Ok().json(row.into_wire()?))
}

/// Create or update one of a child's records, keyed by its source system id.
///
/// The same `source_system_id` sent twice is one record: the second call updates it and
/// raises its `version`. The category must be one this agency kind holds.
#[utoipa::path(
    tag = "integration",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    request_body = RecordUpsert,
    responses(
        (status = 201, description = "The record was created", body = RecordUpsertResult),
        (status = 200, description = "The record was updated", body = RecordUpsertResult),
        (status = 400, description = "Invalid record", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The source id belongs to another child's record", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/children/{local_id}/records")]
pub async fn upsert_record(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_id: web::Path<String>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let local_id = local_id.into_inner();
    let record = writes::parse_record(&writes::body_value(body.into_inner())?, state.agency_kind)?;
    writes::validate(&Write::Record {
        local_id: &local_id,
        record: &record,
        expect: Expect::Anything,
    })?;
    let written = write_one(&state, &caller, &req, move |c, writer| {
        writes::apply(
            c,
            writer,
            &Write::Record {
                local_id: &local_id,
                record: &record,
                expect: Expect::Anything,
            },
        )
    })
    .await?;
    record_response(written)
}

/// 201 or 200 with the record, its `ETag` and a `Location`.
pub(crate) fn record_response(written: Written) -> Result<HttpResponse, ApiError> {
    let (row, created) = match written {
        Written::Record(row, created) => (row, created),
        _ => return Err(ApiError::Internal),
    };
    let etag = format!("\"{}\"", row.version);
    let result = RecordUpsertResult {
        created,
        record: row.into_wire()?,
    };
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((actix_web::http::header::ETAG, etag))
        .json(result))
}

/// List a child's records, newest first, optionally narrowed.
///
/// Every current record the agency's systems wrote for the child; retracted records are
/// not listed. `category` keeps only those categories (repeat it or separate with
/// commas); `from` and `to` keep the records in effect on any day of that period (a
/// one-off event on its day, one without an end date until today). A bad value or an
/// unknown parameter is a 400 naming it. For the agency's own systems only.
#[utoipa::path(
    tag = "integration",
    params(
        ("local_id" = String, Path, description = "The child's id in the agency's own system"),
        ViewFilter,
    ),
    responses(
        (status = 200, description = "The child's records", body = Vec<Record>),
        (status = 400, description = "A filter value is invalid (an unknown category, a date that is not YYYY-MM-DD, `to` before `from`) or the parameter is unknown", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/children/{local_id}/records")]
pub async fn list_records(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let filter = records_filter(req.query_string())?;
    let pool = state.pool.clone();
    let rows = web::block(move || {
        let mut conn = pool.get()?;
        match db::children::find_by_local_id(&mut conn, &local_id)? {
            Some(child) => db::records::for_child(&mut conn, &child.id).map(Some),
            None => Ok(None),
        }
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let record = row.into_wire()?;
        if filter.keeps(&record) {
            records.push(record);
        }
    }
    Ok(HttpResponse::Ok().json(records))
}

/// The filter of a records list from its query string; `category`, `from` and `to` are
/// the only parameters, and each bad one is named.
fn records_filter(query: &str) -> Result<ViewFilter, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).map_err(|_| {
        ApiError::Invalid(vec![schemas::FieldError::new(
            "query",
            "must be a URL-encoded query string",
        )])
    })?;
    let mut errors: Vec<schemas::FieldError> = pairs
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "category" | "from" | "to"))
        .map(|(key, _)| {
            schemas::FieldError::new(
                key.clone(),
                "unknown parameter; the parameters here are category, from, to",
            )
        })
        .collect();
    match ViewFilter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(filter) if errors.is_empty() => Ok(filter),
        Ok(_) => Err(ApiError::Invalid(errors)),
        Err(more) => {
            errors.extend(more);
            Err(ApiError::Invalid(errors))
        }
    }
}

/// Record a consent decision about sharing a child's information.
///
/// Decisions are kept, never overwritten: the latest decision for a category (or for
/// every category) and a kind of recipient agency applies. A refusal or withdrawal caps
/// what that kind of agency sees to nothing, unless a permitted safeguarding override is
/// used; with the legal basis `consent`, sharing needs a decision that gives consent.
#[utoipa::path(
    tag = "integration",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    request_body = ConsentDecision,
    responses(
        (status = 201, description = "The decision was recorded", body = StoredConsent),
        (status = 400, description = "Invalid decision", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/children/{local_id}/consents")]
pub async fn record_consent(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    local_id: web::Path<String>,
    body: web::Json<ConsentDecision>,
) -> Result<HttpResponse, ApiError> {
    let decision = body.into_inner();
    let mut errors = Vec::new();
    if let Some(category) = decision.category.filter(|c| !c.held_by(state.agency_kind)) {
        errors.push(schemas::FieldError::new(
            "category",
            format!(
                "a {} node does not hold {} records",
                state.agency_kind.as_str(),
                category.as_str()
            ),
        ));
    }
    errors.extend(decision.validate());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let pool = state.pool.clone();
    let correlation_id = audit::correlation_of(&req);
    let stored = web::block(move || {
        let mut conn = pool.get()?;
        db::write(&mut conn, |c| {
            let Some(child) = db::children::find_by_local_id(c, &local_id)? else {
                return Ok(None);
            };
            let stored = db::consents::record(c, &child.id, &decision)?;
            let detail = json!({"wrote": "consent", "decision": decision});
            let entry =
                NewEntry::by_system(&caller.member_id, &correlation_id, Some(child.id), detail);
            db::audit::append(c, &entry)?;
            Ok(Some(stored))
        })
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    Ok(HttpResponse::Created().json(stored))
}

/// List a child's consent decisions, oldest first.
///
/// Every decision recorded for the child, including those later superseded, so the
/// history of consent can be read back. For the agency's own systems only.
#[utoipa::path(
    tag = "integration",
    params(("local_id" = String, Path, description = "The child's id in the agency's own system")),
    responses(
        (status = 200, description = "The decisions", body = Vec<StoredConsent>),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/children/{local_id}/consents")]
pub async fn list_consents(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    local_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let consents = web::block(move || {
        let mut conn = pool.get()?;
        match db::children::find_by_local_id(&mut conn, &local_id)? {
            Some(child) => db::consents::for_child(&mut conn, &child.id).map(Some),
            None => Ok(None),
        }
    })
    .await??
    .ok_or(ApiError::ChildNotFound)?;
    Ok(HttpResponse::Ok().json(consents))
}
