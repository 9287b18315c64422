//! The integration face's writes, one at a time or in a batch: validate, write, and
//! append the audit entry, all inside the caller's transaction, so an item is written
//! whole or not at all.

use crate::audit::NewEntry;
use crate::db::DbConnection;
use crate::db::records::Expect;
use crate::db::{self, models::ChildRow, models::RecordRow};
use crate::error::ApiError;
use crate::notifications;
use schemas::child::local_id_problem;
use schemas::{AgencyId, AgencyKind, CheckedRecord, ChildUpsert, FieldError, RecordUpsert};
use serde_json::json;

pub enum Write<'a> {
    Child {
        local_id: &'a str,
        child: &'a ChildUpsert,
    },
    Record {
        local_id: &'a str,
        record: &'a CheckedRecord,
        expect: Expect,
    },
    Retract {
        local_id: &'a str,
        source_system_id: &'a str,
        reason: &'a str,
        expect: Expect,
    },
}

pub enum Written {
    Child(ChildRow, bool),
    Record(RecordRow, bool),
    Retracted(RecordRow),
}

/// Who writes, and under which correlation id.
pub struct Writer<'a> {
    pub system: &'a AgencyId,
    pub correlation_id: &'a str,
    /// Writes about things older than this many days raise no notification.
    pub raise_within_days: i64,
    /// Whether record writes raise notification events at all: a single write does; a
    /// load (a batch, an import) does only when asked, so that joining the federation
    /// with years of history is not a storm of "new" events.
    pub raise_events: bool,
    /// For an Operation Encompass event: the earliest any school day can start.
    pub earliest_school_day: Option<&'a crate::notifications::calendar::SchoolCalendar>,
    /// The federation's matching key, when the node keeps keyed encodings.
    pub matching_key: Option<&'a matching::MatchingKey>,
}

/// The local id's rules (`schemas::child::local_id_problem`), as a refusal.
pub fn check_local_id(local_id: &str) -> Result<(), ApiError> {
    match local_id_problem(local_id) {
        Some(message) => Err(ApiError::Invalid(vec![FieldError::new(
            "local_id", message,
        )])),
        None => Ok(()),
    }
}

/// A request body's value, or every key it sends twice.
pub fn body_value(body: schemas::json::Body) -> Result<serde_json::Value, ApiError> {
    body.into_value().map_err(ApiError::Invalid)
}

/// Parses a child from a request body with the local id of its path, listing every
/// invalid field of both at once.
pub fn parse_child(local_id: &str, body: schemas::json::Body) -> Result<ChildUpsert, ApiError> {
    let value = body_value(body)?;
    let mut errors: Vec<FieldError> = local_id_problem(local_id)
        .map(|message| FieldError::new("local_id", message))
        .into_iter()
        .collect();
    match ChildUpsert::parse(&value, "") {
        Ok(child) if errors.is_empty() => Ok(child),
        Ok(_) => Err(ApiError::Invalid(errors)),
        Err(more) => {
            errors.extend(more);
            Err(ApiError::Invalid(errors))
        }
    }
}

/// Parses and checks a record from a request body for a node of kind `holder`, listing
/// every invalid field (the record's and its `details.<field>`s) at once. The one check of
/// a record in a request: what comes back is typed and goes to storage as it is.
pub fn parse_record(
    value: &serde_json::Value,
    holder: AgencyKind,
) -> Result<CheckedRecord, ApiError> {
    RecordUpsert::parse(value, holder).map_err(ApiError::Invalid)
}

/// Validates a write before any database work, listing every invalid field. A record
/// was checked when it was parsed ([`parse_record`]); only its child's id is left.
pub fn validate(write: &Write<'_>) -> Result<(), ApiError> {
    let (local_id, errors) = match write {
        Write::Child { local_id, child } => (local_id, child.validate()),
        Write::Record { local_id, .. } => (local_id, Vec::new()),
        Write::Retract {
            local_id, reason, ..
        } => {
            let mut errors = Vec::new();
            if reason.trim().is_empty() || reason.chars().count() > 500 {
                errors.push(FieldError::new("reason", "must have 1 to 500 characters"));
            }
            (local_id, errors)
        }
    };
    check_local_id(local_id)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// Applies one validated write and its audit entry. Call it inside a transaction.
pub fn apply(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    write: &Write<'_>,
) -> Result<Written, ApiError> {
    let (child_id, detail, written) = match write {
        Write::Child { local_id, child } => {
            let held =
                db::children::identifiers_held_elsewhere(conn, local_id, &child.identifiers)?;
            if !held.is_empty() {
                return Err(ApiError::IdentifierHeld(
                    held.into_iter()
                        .map(|(field, other)| {
                            FieldError::new(
                                field,
                                format!("is held by the child with local id {other}"),
                            )
                        })
                        .collect(),
                ));
            }
            let (row, created) = db::children::upsert(conn, local_id, child)?;
            if let Some(key) = writer.matching_key {
                db::keyed::store(conn, &row, key)?;
            }
            let detail = json!({"wrote": "child", "local_id": local_id, "created": created});
            (row.id.clone(), detail, Written::Child(row, created))
        }
        Write::Record {
            local_id,
            record,
            expect,
        } => {
            let child =
                db::children::find_by_local_id(conn, local_id)?.ok_or(ApiError::ChildNotFound)?;
            let previous = db::records::find_by_source_id(conn, record.source_system_id())?
                .filter(|p| p.child_id == child.id);
            let (row, created) = db::records::upsert(conn, &child.id, record, *expect)?;
            let event = raise(conn, writer, &row, previous.as_ref(), record)?;
            let detail = json!({
                "wrote": "record", "source_system_id": row.source_system_id,
                "category": row.category, "version": row.version, "created": created,
                "raised": event,
            });
            (child.id, detail, Written::Record(row, created))
        }
        Write::Retract {
            local_id,
            source_system_id,
            reason,
            expect,
        } => {
            let child =
                db::children::find_by_local_id(conn, local_id)?.ok_or(ApiError::ChildNotFound)?;
            let row = db::records::retract(conn, &child.id, source_system_id, reason, *expect)?
                .ok_or(ApiError::RecordNotFound)?;
            let detail = json!({
                "wrote": "retraction", "source_system_id": row.source_system_id,
                "category": row.category, "reason": reason,
            });
            (child.id, detail, Written::Retracted(row))
        }
    };
    let entry = NewEntry::by_system(writer.system, writer.correlation_id, Some(child_id), detail);
    db::audit::append(conn, &entry)?;
    Ok(written)
}

/// Puts the event a record write raises (if any, and if recent) in the outbox, in the
/// write's transaction, with the details as `stored` has them. Returns the event's id and
/// type for the audit entry.
fn raise(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    stored: &RecordRow,
    previous: Option<&RecordRow>,
    record: &CheckedRecord,
) -> Result<Option<serde_json::Value>, ApiError> {
    if !writer.raise_events {
        return Ok(None);
    }
    let Some(event_type) = notifications::event_for(previous, record) else {
        return Ok(None);
    };
    let occurred_at = notifications::occurred_at(event_type, record);
    if occurred_at < chrono::Utc::now() - chrono::Duration::days(writer.raise_within_days) {
        return Ok(None);
    }
    let id = notifications::enqueue(
        conn,
        &notifications::NewEvent {
            event_type,
            child_id: &stored.child_id,
            category: record.category(),
            occurred_at,
            impact: record.impact(),
            details: &stored.details,
            source_system_id: Some(record.source_system_id()),
        },
        writer.earliest_school_day,
    )?;
    Ok(Some(
        json!({"event_id": id, "event_type": event_type.as_str()}),
    ))
}
