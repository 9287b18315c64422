//! Integration face, for systems that sync: single records with optimistic concurrency
//! (`ETag` / `If-Match`), retraction with a reason, batches, and a change feed.

use crate::auth::IntegrationClient;
use crate::db::{self, records::Expect};
use crate::error::ApiError;
use crate::routes::children::{record_response, with_writer, write_one};
use crate::startup::AppState;
use crate::writes::{self, Write, Written};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use schemas::{
    BatchItemResult, BatchOutcome, BatchRequest, BatchResponse, ChangeFeed, CheckedRecord,
    ChildUpsert, Problem, Record, RecordChange, RecordRetraction, RecordUpsert, RecordUpsertResult,
};
use serde::Deserialize;
use utoipa::IntoParams;

/// `If-Match: "3"` → expect version 3; absent → anything.
fn expectation(req: &HttpRequest) -> Result<Expect, ApiError> {
    match req.headers().get(header::IF_MATCH) {
        None => Ok(Expect::Anything),
        Some(value) => value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse::<i64>().ok())
            .map(Expect::Version)
            .ok_or_else(|| {
                ApiError::Invalid(vec![schemas::FieldError::new(
                    "If-Match",
                    "must be an ETag this node gave, such as \"3\"",
                )])
            }),
    }
}

/// Read one record, with its `ETag` for a later `If-Match`.
///
/// The record as stored, by the id the agency's own system gave it. Send the `ETag` back
/// as `If-Match` when replacing or retracting it to avoid overwriting a newer version.
#[utoipa::path(
    tag = "integration",
    params(
        ("local_id" = String, Path, description = "The child's id in the agency's own system"),
        ("source_system_id" = String, Path, description = "The record's id in the agency's own system"),
    ),
    responses(
        (status = 200, description = "The record; its version is the ETag", body = Record,
         headers(("ETag" = String, description = "The record's version, quoted"))),
        (status = 404, description = "No such child or record", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/children/{local_id}/records/{source_system_id}")]
pub async fn get_record(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (local_id, source_system_id) = path.into_inner();
    let pool = state.pool.clone();
    let row = web::block(move || {
        let mut conn = pool.get()?;
        let Some(child) = db::children::find_by_local_id(&mut conn, &local_id)? else {
            return Ok(None);
        };
        db::records::find_by_source_id(&mut conn, &source_system_id)
            .map(|r| r.filter(|r| r.child_id == child.id && r.retracted_at.is_none()))
    })
    .await??
    .ok_or(ApiError::RecordNotFound)?;
    let etag = format!("\"{}\"", row.version);
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .json(row.into_wire()?))
}

/// Create or update one record, optionally only if it is unchanged since read.
///
/// With `If-Match: "<version>"` the update happens only if the stored record still has
/// that version; otherwise 412, and nothing changes. The body's `source_system_id` must
/// be the one in the path.
#[utoipa::path(
    tag = "integration",
    params(
        ("local_id" = String, Path, description = "The child's id in the agency's own system"),
        ("source_system_id" = String, Path, description = "The record's id in the agency's own system"),
        ("If-Match" = Option<String>, Header, description = "The ETag read earlier, e.g. \"3\"", pattern = r#"^"[0-9]+"$"#),
    ),
    request_body = RecordUpsert,
    responses(
        (status = 201, description = "Created", body = RecordUpsertResult),
        (status = 200, description = "Updated", body = RecordUpsertResult),
        (status = 400, description = "Invalid record", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record changed since it was read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[put("/v1/children/{local_id}/records/{source_system_id}")]
pub async fn put_record(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let (local_id, source_system_id) = path.into_inner();
    let body = writes::body_value(body.into_inner())?;
    let mut errors = Vec::new();
    if body
        .get("source_system_id")
        .and_then(|id| id.as_str())
        .is_some_and(|id| id != source_system_id)
    {
        errors.push(schemas::FieldError::new(
            "source_system_id",
            "must equal the source_system_id in the path",
        ));
    }
    let record = match writes::parse_record(&body, state.agency_kind) {
        Ok(record) if errors.is_empty() => record,
        Ok(_) => return Err(ApiError::Invalid(errors)),
        Err(ApiError::Invalid(more)) => {
            errors.extend(more);
            return Err(ApiError::Invalid(errors));
        }
        Err(e) => return Err(e),
    };
    let expect = expectation(&req)?;
    writes::validate(&Write::Record {
        local_id: &local_id,
        record: &record,
        expect,
    })?;
    let written = write_one(&state, &caller, &req, move |c, writer| {
        writes::apply(
            c,
            writer,
            &Write::Record {
                local_id: &local_id,
                record: &record,
                expect,
            },
        )
    })
    .await?;
    record_response(written)
}

/// Retract a record, with a reason.
///
/// The record leaves every read and disclosure, and shows in the change feed as
/// retracted; the reason is kept in the audit. `If-Match` applies as for updates.
#[utoipa::path(
    tag = "integration",
    params(
        ("local_id" = String, Path, description = "The child's id in the agency's own system"),
        ("source_system_id" = String, Path, description = "The record's id in the agency's own system"),
        RecordRetraction,
        ("If-Match" = Option<String>, Header, description = "The ETag read earlier, e.g. \"3\"", pattern = r#"^"[0-9]+"$"#),
    ),
    responses(
        (status = 204, description = "Retracted"),
        (status = 400, description = "No reason given", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child or record", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record changed since it was read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[delete("/v1/children/{local_id}/records/{source_system_id}")]
pub async fn retract_record(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    retraction: web::Query<RecordRetraction>,
) -> Result<HttpResponse, ApiError> {
    let (local_id, source_system_id) = path.into_inner();
    let reason = retraction.into_inner().reason;
    let expect = expectation(&req)?;
    let write = Write::Retract {
        local_id: &local_id,
        source_system_id: &source_system_id,
        reason: &reason,
        expect,
    };
    writes::validate(&write)?;
    write_one(&state, &caller, &req, move |c, writer| {
        writes::apply(
            c,
            writer,
            &Write::Retract {
                local_id: &local_id,
                source_system_id: &source_system_id,
                reason: &reason,
                expect,
            },
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A batch item as parsed: a record in it already checked, once.
enum Item {
    Child {
        local_id: String,
        child: ChildUpsert,
    },
    Record {
        local_id: String,
        record: CheckedRecord,
    },
    Retract {
        local_id: String,
        source_system_id: String,
        reason: String,
    },
}

impl Item {
    /// The write the item asks for; a batch does not use `If-Match`.
    fn write(&self) -> Write<'_> {
        match self {
            Item::Child { local_id, child } => Write::Child { local_id, child },
            Item::Record { local_id, record } => Write::Record {
                local_id,
                record,
                expect: Expect::Anything,
            },
            Item::Retract {
                local_id,
                source_system_id,
                reason,
            } => Write::Retract {
                local_id,
                source_system_id,
                reason,
                expect: Expect::Anything,
            },
        }
    }
}

/// One batch item, parsed field by field like the single request it stands for: a bad
/// item names every invalid field (`local_id`, `demographics.date_of_birth`,
/// `details.sessions_present`, an unknown field, a key sent twice) as that request
/// would.
fn parse_item(
    value: serde_json::Value,
    duplicates: Vec<String>,
    holder: schemas::AgencyKind,
) -> Result<Item, ApiError> {
    use schemas::FieldError;
    if !duplicates.is_empty() {
        return Err(ApiError::Invalid(
            duplicates
                .into_iter()
                .map(|path| FieldError::new(path, schemas::json::DUPLICATE))
                .collect(),
        ));
    }
    let serde_json::Value::Object(object) = value else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "item",
            "must be a JSON object with op and local_id",
        )]));
    };
    let op = object.get("op").and_then(|op| op.as_str()).unwrap_or("");
    let fields: &[&str] = match op {
        "upsert_child" => &["op", "local_id", "child"],
        "upsert_record" => &["op", "local_id", "record"],
        "retract_record" => &["op", "local_id", "source_system_id", "reason"],
        _ => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "op",
                "must be one of upsert_child, upsert_record, retract_record",
            )]));
        }
    };
    let mut errors = Vec::new();
    for name in object.keys() {
        if !fields.contains(&name.as_str()) {
            errors.push(FieldError::new(
                name.clone(),
                format!(
                    "unknown field; the fields of {op} are {}",
                    fields.join(", ")
                ),
            ));
        }
    }
    let text = |name: &str, errors: &mut Vec<FieldError>| match object.get(name) {
        Some(serde_json::Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new(name, "is required"));
            None
        }
    };
    let local_id = text("local_id", &mut errors);
    if let Some(message) = local_id
        .as_deref()
        .and_then(schemas::child::local_id_problem)
    {
        errors.push(FieldError::new("local_id", message));
    }
    let part = |name: &str, errors: &mut Vec<FieldError>| {
        let found = object.get(name);
        if found.is_none() {
            errors.push(FieldError::new(name, "is required"));
        }
        found
    };
    let item = match op {
        "upsert_child" => part("child", &mut errors)
            .and_then(|child| {
                ChildUpsert::parse(child, "")
                    .map_err(|more| errors.extend(more))
                    .ok()
            })
            .zip(local_id)
            .map(|(child, local_id)| Item::Child { local_id, child }),
        "upsert_record" => part("record", &mut errors)
            .and_then(|record| {
                RecordUpsert::parse(record, holder)
                    .map_err(|more| errors.extend(more))
                    .ok()
            })
            .zip(local_id)
            .map(|(record, local_id)| Item::Record { local_id, record }),
        _ => {
            let source_system_id = text("source_system_id", &mut errors);
            let reason = text("reason", &mut errors);
            match (local_id, source_system_id, reason) {
                (Some(local_id), Some(source_system_id), Some(reason)) => Some(Item::Retract {
                    local_id,
                    source_system_id,
                    reason,
                }),
                _ => None,
            }
        }
    };
    match item {
        Some(item) if errors.is_empty() => Ok(item),
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// A batch item as sent, with the keys it sends twice.
type RawItem = (serde_json::Value, Vec<String>);

/// The items of a batch body, each with the keys it sends twice (named within the
/// item); a batch that is not `{"items": [...]}` of at most [`BATCH_LIMIT`] items, or
/// that repeats a key outside its items, is refused whole.
fn batch_items(body: schemas::json::Body) -> Result<Vec<RawItem>, ApiError> {
    use schemas::FieldError;
    let (value, duplicates) = body.into_parts();
    let mut errors = Vec::new();
    let mut per_item: std::collections::HashMap<usize, Vec<String>> = Default::default();
    for path in duplicates {
        let in_item = path
            .strip_prefix("items[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest.strip_prefix('.')?)));
        match in_item {
            Some((n, within)) => per_item.entry(n).or_default().push(within.to_owned()),
            None => errors.push(FieldError::new(path, schemas::json::DUPLICATE)),
        }
    }
    let serde_json::Value::Object(mut object) = value else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            "must be a JSON object with items",
        )]));
    };
    for name in object.keys().filter(|name| *name != "items") {
        errors.push(FieldError::new(
            name.clone(),
            "unknown field; the field here is items",
        ));
    }
    let items = match object.remove("items") {
        Some(serde_json::Value::Array(items)) if items.len() > BATCH_LIMIT => {
            errors.push(FieldError::new(
                "items",
                format!("at most {BATCH_LIMIT} items a batch; split it"),
            ));
            Vec::new()
        }
        Some(serde_json::Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new("items", "must be an array of operations"));
            Vec::new()
        }
        None => {
            errors.push(FieldError::new("items", "is required"));
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(n, item)| (item, per_item.remove(&n).unwrap_or_default()))
        .collect())
}

/// Most operations one batch may carry.
pub const BATCH_LIMIT: usize = 50_000;

fn item_result(index: usize, result: Result<Written, ApiError>) -> BatchItemResult {
    match result {
        Ok(written) => {
            let (status, outcome) = match written {
                Written::Child(_, true) | Written::Record(_, true) => (201, BatchOutcome::Created),
                Written::Child(_, false) | Written::Record(_, false) => {
                    (200, BatchOutcome::Updated)
                }
                Written::Retracted(_) => (200, BatchOutcome::Retracted),
            };
            BatchItemResult {
                index,
                status,
                outcome,
                problem: None,
            }
        }
        Err(e) => {
            let problem = e.problem();
            BatchItemResult {
                index,
                status: problem.status,
                outcome: BatchOutcome::Failed,
                problem: Some(problem),
            }
        }
    }
}

/// How many items of a batch at least share one write transaction on SQLite, in chunks
/// of [`BATCH_CHUNK`] (`db::write_in_runs`): a chunk's entries in the random-keyed indexes
/// (blocking keys, keyed tokens) land on most of their pages once the tables are large,
/// and each page a transaction dirties is written to the log once at its commit,
/// however many chunks dirtied it. On PostgreSQL a transaction a chunk.
pub const LOAD_TRANSACTION_ITEMS: usize = 15_000;

/// How many items of a batch are planned and written together: on PostgreSQL a
/// transaction each, on SQLite in a savepoint each of a transaction of
/// [`LOAD_TRANSACTION_ITEMS`]; so a long batch neither holds the write lock throughout
/// nor loses the chunks before a failure of the database.
pub const BATCH_CHUNK: usize = 5_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchParams {
    /// Raise the notification events the records call for (`true`), as single writes
    /// do. Default `false`: a load is history, not news.
    #[serde(default)]
    pub notify: bool,
}

/// A batch chunk's items, each parsed and checked (or the problem it got), in order.
type Parsed = Vec<(usize, Result<Item, ApiError>)>;

/// The writes of a chunk's valid items, in order.
fn valid_writes(parsed: &Parsed) -> Vec<Write<'_>> {
    parsed
        .iter()
        .filter_map(|(_, item)| item.as_ref().ok().map(Item::write))
        .collect()
}

/// A batch's first stage, outside the write lock: a chunk's items parsed and checked,
/// and its children prepared (rows, keyed encodings); on every core, or on one
/// (`beside`) while the chunk before is written.
fn parse_and_prepare(
    chunk: Vec<(usize, RawItem)>,
    holder: schemas::AgencyKind,
    key: Option<&matching::MatchingKey>,
    form: crate::db::keyed::Form,
    beside: bool,
) -> (Parsed, Result<writes::Prepared, ApiError>) {
    let started = std::time::Instant::now();
    let parsed: Parsed =
        crate::parallel::map_owned_on(beside, chunk, |(index, (value, duplicates))| {
            let item = parse_item(value, duplicates, holder).and_then(|item| {
                writes::validate(&item.write())?;
                Ok(item)
            });
            (index, item)
        });
    let prepared = writes::prepare(&valid_writes(&parsed), key, form, beside);
    tracing::debug!(
        items = parsed.len(),
        beside,
        prepare_ms = started.elapsed().as_secs_f64() * 1e3,
        "batch chunk parsed and prepared"
    );
    (parsed, prepared)
}

/// A batch's second stage: one chunk in one transaction, a result per item in order
/// (an item refused at parsing keeps its problem). `planned` gets the chunk's
/// [`writes::Carry`] once its plan is settled (see [`writes::apply_chunk`]).
fn write_chunk(
    conn: &mut db::DbConnection,
    writer: &writes::Writer<'_>,
    parsed: Parsed,
    chunk: Result<writes::Chunk, ApiError>,
    planned: impl FnOnce(Option<writes::Carry>),
) -> Result<Vec<BatchItemResult>, ApiError> {
    let started = std::time::Instant::now();
    let (read_before, written_before) = db::thread_io();
    let mut written_in = 0;
    let results = db::write_with(conn, |c| {
        let applied = writes::apply_chunk(c, writer, &valid_writes(&parsed), chunk?, planned)?;
        written_in = db::thread_io().1;
        let mut applied = applied.into_iter();
        Ok::<_, ApiError>(
            parsed
                .into_iter()
                .map(|(index, item)| {
                    let result = match item {
                        Ok(_) => applied.next().unwrap_or(Err(ApiError::Internal)),
                        Err(e) => Err(e),
                    };
                    item_result(index, result)
                })
                .collect(),
        )
    });
    // The chunk's whole transaction: the write lock, the writes, the commit. On SQLite
    // the bytes written are log frames: spilled before the commit, then at it.
    let (read_after, written_after) = db::thread_io();
    tracing::debug!(
        chunk_ms = started.elapsed().as_secs_f64() * 1e3,
        read_kib = read_after.saturating_sub(read_before) / 1024,
        spilled_kib = written_in.saturating_sub(written_before) / 1024,
        committed_kib = written_after.saturating_sub(written_in.max(written_before)) / 1024,
        "batch chunk committed"
    );
    results
}

/// A batch's chunks on PostgreSQL, in three stages that overlap: on one thread each
/// chunk is parsed and prepared, then planned on `reader` while the chunk before it is
/// written (once that chunk holds the write lock and is planned:
/// [`writes::plan_ahead`]); on this one each is written on `conn`. The server writes one
/// chunk while the node prepares and plans the next, instead of each waiting for the
/// other.
fn write_planning_ahead(
    conn: &mut db::DbConnection,
    reader: &mut db::DbConnection,
    writer: &writes::Writer<'_>,
    chunks: Vec<Vec<(usize, RawItem)>>,
    holder: schemas::AgencyKind,
    form: crate::db::keyed::Form,
) -> Result<Vec<Vec<BatchItemResult>>, ApiError> {
    use std::sync::mpsc::sync_channel;
    let key = writer.matching_key;
    let count = chunks.len();
    std::thread::scope(|scope| {
        let (ahead_tx, ahead_rx) = sync_channel(1);
        let (carry_tx, carry_rx) = sync_channel::<Option<writes::Carry>>(1);
        scope.spawn(move || {
            for (n, chunk) in chunks.into_iter().enumerate() {
                // The first chunk alone on every core; each next one on one core, beside
                // the writing of the chunk before it (which it then waits for).
                let (parsed, prepared) = parse_and_prepare(chunk, holder, key, form, n > 0);
                let chunk = if n == 0 {
                    prepared.map(writes::Chunk::Prepared)
                } else {
                    // The chunk before holds the write lock and is planned.
                    let Ok(before) = carry_rx.recv() else {
                        break;
                    };
                    match (prepared, before) {
                        (Ok(prepared), Some(before)) => writes::plan_ahead(
                            reader,
                            writer,
                            &valid_writes(&parsed),
                            prepared,
                            &before,
                        )
                        .map(writes::Chunk::Ahead),
                        (prepared, _) => prepared.map(writes::Chunk::Prepared),
                    }
                };
                if ahead_tx.send((parsed, chunk)).is_err() {
                    break;
                }
            }
        });
        let mut written = Vec::with_capacity(count);
        for (parsed, chunk) in ahead_rx.iter() {
            written.push(write_chunk(conn, writer, parsed, chunk, |carry| {
                // The planner may have stopped (the last chunk): nothing waits for it.
                let _ = carry_tx.send(carry);
            })?);
        }
        Ok(written)
    })
}

/// Apply many writes in one call.
///
/// Up to 50,000 operations (`upsert_child`, `upsert_record`, `retract_record`), applied
/// in order, in transactions of 5,000 items. Each item succeeds or fails on its own and
/// entirely: a failed item leaves nothing half-written and does not stop the others. The
/// answer gives, per item, the status it would have had alone, its outcome (`created`,
/// `updated`, `retracted` or `failed`) and, when it failed, a problem naming every
/// invalid field as the single request would. A batch raises no notification events
/// unless `notify=true`; every item has its audit entry either way.
#[utoipa::path(
    tag = "integration",
    params(BatchParams),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Per-item results", body = BatchResponse),
        (status = 400, description = "Not a batch, or too many items", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 MiB", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("")]
pub async fn batch(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<BatchParams>,
    body: web::Json<schemas::json::Body>,
) -> Result<HttpResponse, ApiError> {
    let items = batch_items(body.into_inner())?;
    let notify = params.into_inner().notify;
    let holder = state.agency_kind;
    let mut chunks: Vec<Vec<(usize, RawItem)>> = Vec::new();
    let mut items = items.into_iter().enumerate().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(BATCH_CHUNK).collect());
    }
    // One chunk after another (on SQLite several to a transaction). A chunk's items are
    // parsed and checked, and its children prepared (rows, keyed encodings), outside the
    // write lock: the first chunk's on every core, each next one on the other core while
    // the chunk before it is written.
    // On PostgreSQL, with a second connection free, each next chunk is also planned
    // while the chunk before it is written (`write_planning_ahead`).
    let pool = state.pool.clone();
    let results: Vec<BatchItemResult> =
        with_writer(&state, &caller, &req, notify, move |conn, writer| {
            let key = writer.matching_key;
            let form = crate::db::keyed::Form::of(conn);
            let reader = match conn {
                db::DbConnection::Pg(_) if chunks.len() > 1 => pool.try_get(),
                _ => None,
            };
            let written = crate::db::loading(conn, |conn| match reader {
                Some(mut reader) => {
                    write_planning_ahead(conn, &mut reader, writer, chunks, holder, form)
                }
                None if matches!(conn, db::DbConnection::Sqlite(_)) => db::write_in_runs(
                    conn,
                    chunks,
                    LOAD_TRANSACTION_ITEMS,
                    Vec::len,
                    |chunk, beside| parse_and_prepare(chunk, holder, key, form, beside),
                    |conn, (parsed, prepared)| {
                        let chunk = prepared.map(writes::Chunk::Prepared);
                        write_chunk(conn, writer, parsed, chunk, |_| ())
                    },
                ),
                None => crate::parallel::pipeline(
                    chunks,
                    |chunk, beside| parse_and_prepare(chunk, holder, key, form, beside),
                    |(parsed, prepared)| {
                        let chunk = prepared.map(writes::Chunk::Prepared);
                        write_chunk(conn, writer, parsed, chunk, |_| ())
                    },
                ),
            })?;
            Ok(written.concat())
        })
        .await?;
    crate::db::checkpoint_later(&state.pool);
    let failed = results.iter().filter(|r| r.problem.is_some()).count();
    Ok(HttpResponse::Ok().json(BatchResponse {
        succeeded: results.len() - failed,
        failed,
        results,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `next` of the previous page; 0 (the default) for everything.
    #[serde(default)]
    pub since: i64,
    /// Page size, 1 to 5,000 (default 1,000).
    #[serde(default = "default_limit")]
    pub limit: i64,
}

fn default_limit() -> i64 {
    1000
}

/// Records changed since a cursor.
///
/// Every create, update and retraction gets a node-wide, increasing change number.
/// Page through with `since` = the previous page's `next` until `more` is false; keep
/// `next` to resume later. Retracted records appear with their reason.
#[utoipa::path(
    tag = "integration",
    params(ChangesQuery),
    responses(
        (status = 200, description = "A page of changes", body = ChangeFeed),
        (status = 400, description = "Invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[get("/v1/changes")]
pub async fn changes(
    _caller: IntegrationClient,
    state: web::Data<AppState>,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let ChangesQuery { since, limit } = query.into_inner();
    let mut errors = Vec::new();
    if since < 0 {
        errors.push(schemas::FieldError::new(
            "since",
            "must be 0 or a `next` from this node",
        ));
    }
    if !(1..=5000).contains(&limit) {
        errors.push(schemas::FieldError::new("limit", "must be 1 to 5000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let pool = state.pool.clone();
    let rows = web::block(move || {
        let mut conn = pool.get()?;
        let rows = db::records::changed_since(&mut conn, since, limit + 1)?;
        rows.into_iter()
            .map(|row| {
                let local_id = db::children::find_by_id(&mut conn, &row.child_id)?
                    .map(|c| c.local_id)
                    .unwrap_or_default();
                Ok((local_id, row))
            })
            .collect::<Result<Vec<_>, db::DbError>>()
    })
    .await??;
    let more = rows.len() as i64 > limit;
    let mut changes = Vec::with_capacity(rows.len());
    for (local_id, row) in rows.into_iter().take(limit as usize) {
        let retracted = row.retraction_reason.clone();
        changes.push(RecordChange {
            change: row.change_seq,
            local_id,
            retracted,
            record: row.into_wire()?,
        });
    }
    let next = changes.last().map(|c| c.change).unwrap_or(since);
    Ok(HttpResponse::Ok().json(ChangeFeed {
        changes,
        next,
        more,
    }))
}
