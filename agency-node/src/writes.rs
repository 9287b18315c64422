//! The integration face's writes, one at a time or in a batch: validate, write, and
//! append the audit entry, all inside the caller's transaction, so an item is written
//! whole or not at all.

use crate::audit::NewEntry;
use crate::db::DbConnection;
use crate::db::records::Expect;
use crate::db::{self, models::ChildRow, models::RecordRow};
use crate::error::ApiError;
use schemas::{AgencyId, AgencyKind, ChildUpsert, FieldError, RecordUpsert};
use serde_json::json;

pub enum Write<'a> {
    Child {
        local_id: &'a str,
        child: &'a ChildUpsert,
    },
    Record {
        local_id: &'a str,
        record: &'a RecordUpsert,
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
    pub holder: AgencyKind,
    pub correlation_id: &'a str,
}

pub fn check_local_id(local_id: &str) -> Result<(), ApiError> {
    let len = local_id.chars().count();
    if len == 0 || len > 100 {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "local_id",
            "must have 1 to 100 characters",
        )]));
    }
    Ok(())
}

/// Validates a write before any database work, listing every invalid field.
pub fn validate(write: &Write<'_>, holder: AgencyKind) -> Result<(), ApiError> {
    let (local_id, errors) = match write {
        Write::Child { local_id, child } => (local_id, child.validate()),
        Write::Record {
            local_id, record, ..
        } => (local_id, record.validate(holder)),
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
            let (row, created) = db::children::upsert(conn, local_id, child)?;
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
            let (row, created) = db::records::upsert(conn, &child.id, record, *expect)?;
            let detail = json!({
                "wrote": "record", "source_system_id": row.source_system_id,
                "category": row.category, "version": row.version, "created": created,
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
