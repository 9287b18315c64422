//! The `records` table: upserts keyed by source system id with optimistic concurrency,
//! retraction, and the reads the integration and federation faces make.

use super::DbConnection;
use super::DbError;
use super::models::RecordRow;
use super::schema::records::dsl as r;
use diesel::prelude::*;
use schemas::CheckedRecord;

/// The next change number: one above any the node has given. Runs inside the write
/// transaction, which holds SQLite's write lock, so numbers are unique and increasing.
fn next_change_seq(conn: &mut DbConnection) -> Result<i64, DbError> {
    let max: Option<i64> = r::records
        .select(diesel::dsl::max(r::change_seq))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

/// The change number the next record write takes (the bulk path numbers its rows from
/// it, in item order).
pub fn next_change(conn: &mut DbConnection) -> Result<i64, DbError> {
    next_change_seq(conn)
}

/// Which of these source system ids are held (for any child, retracted or not).
pub fn held_source_ids(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>, DbError> {
    let mut held = std::collections::HashSet::new();
    for chunk in ids.chunks(super::ROWS_PER_INSERT) {
        held.extend(
            r::records
                .filter(r::source_system_id.eq_any(chunk))
                .select(r::source_system_id)
                .load::<String>(conn)?,
        );
    }
    Ok(held)
}

/// A new record's row, as [`upsert`] would insert it.
pub fn new_row(
    child_id: &str,
    record: &CheckedRecord,
    change_seq: i64,
) -> Result<RecordRow, DbError> {
    let now = chrono::Utc::now().naive_utc();
    Ok(RecordRow {
        id: super::new_row_id(),
        child_id: child_id.to_owned(),
        source_system_id: record.source_system_id().to_owned(),
        category: record.category().as_str().to_owned(),
        effective_from: record.effective_from(),
        effective_to: record.effective_to(),
        recorded_at: record.recorded_at().map(|t| t.naive_utc()).unwrap_or(now),
        impact: record.impact().trim().to_owned(),
        details: serde_json::to_string(record.details())
            .map_err(|e| DbError::Corrupt(e.to_string()))?,
        version: 1,
        updated_at: now,
        change_seq,
        retracted_at: None,
        retraction_reason: None,
    })
}

/// Inserts new records in multi-row statements (the bulk path). Call it inside
/// [`super::write`].
pub fn insert_new(conn: &mut DbConnection, rows: &[RecordRow]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        // PostgreSQL: one `COPY ... FROM STDIN` (binary), no statement to parse or plan.
        DbConnection::Pg(c) => {
            diesel::copy_from(r::records)
                .from_insertable(rows)
                .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            for chunk in rows.chunks(super::ROWS_PER_INSERT) {
                diesel::insert_into(r::records).values(chunk).execute(c)?;
            }
        }
    }
    Ok(())
}

/// What an upsert expects to find, for optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Create or update, whatever is stored.
    Anything,
    /// Update only if the stored version is this one (`If-Match`).
    Version(i64),
}

/// Inserts or updates the record with this source system id for the child, its typed
/// details serialised once for the `details` column; returns the stored row and whether
/// it was new. The same id twice is one record; upserting a
/// retracted record brings it back. Call it inside [`super::write`].
pub fn upsert(
    conn: &mut DbConnection,
    child_id: &str,
    record: &CheckedRecord,
    expect: Expect,
) -> Result<(RecordRow, bool), DbError> {
    let now = chrono::Utc::now().naive_utc();
    let details =
        serde_json::to_string(record.details()).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let existing = find_by_source_id(conn, record.source_system_id())?;
    let recorded_at = record.recorded_at().map(|t| t.naive_utc()).unwrap_or(now);
    let change_seq = next_change_seq(conn)?;
    match existing {
        Some(old) if old.child_id != child_id => Err(DbError::Conflict(format!(
            "source_system_id '{}' already identifies a record of another child",
            record.source_system_id()
        ))),
        Some(old) if matches!(expect, Expect::Version(v) if v != old.version) => {
            Err(DbError::Stale(old.version))
        }
        Some(old) => {
            let row = RecordRow {
                id: old.id.clone(),
                child_id: old.child_id,
                source_system_id: old.source_system_id,
                category: record.category().as_str().to_owned(),
                effective_from: record.effective_from(),
                effective_to: record.effective_to(),
                recorded_at,
                impact: record.impact().trim().to_owned(),
                details,
                version: old.version + 1,
                updated_at: now,
                change_seq,
                retracted_at: None,
                retraction_reason: None,
            };
            diesel::update(r::records.find(&old.id))
                .set(&row)
                .execute(conn)?;
            Ok((row, false))
        }
        None if matches!(expect, Expect::Version(_)) => Err(DbError::Stale(0)),
        None => {
            let row = RecordRow {
                id: super::new_row_id(),
                child_id: child_id.to_owned(),
                source_system_id: record.source_system_id().to_owned(),
                category: record.category().as_str().to_owned(),
                effective_from: record.effective_from(),
                effective_to: record.effective_to(),
                recorded_at,
                impact: record.impact().trim().to_owned(),
                details,
                version: 1,
                updated_at: now,
                change_seq,
                retracted_at: None,
                retraction_reason: None,
            };
            diesel::insert_into(r::records).values(&row).execute(conn)?;
            Ok((row, true))
        }
    }
}

/// Retracts a record with a reason: it leaves every read and disclosure, stays in the
/// change feed as retracted, and its reason goes to the audit. Returns the updated row,
/// or `None` when no such record is held for the child. Call it inside [`super::write`].
pub fn retract(
    conn: &mut DbConnection,
    child_id: &str,
    source_system_id: &str,
    reason: &str,
    expect: Expect,
) -> Result<Option<RecordRow>, DbError> {
    let Some(mut row) = find_by_source_id(conn, source_system_id)?
        .filter(|row| row.child_id == child_id && row.retracted_at.is_none())
    else {
        return Ok(None);
    };
    if matches!(expect, Expect::Version(v) if v != row.version) {
        return Err(DbError::Stale(row.version));
    }
    let now = chrono::Utc::now().naive_utc();
    row.change_seq = next_change_seq(conn)?;
    row.version += 1;
    row.updated_at = now;
    row.retracted_at = Some(now);
    row.retraction_reason = Some(reason.to_owned());
    diesel::update(r::records.find(&row.id))
        .set(&row)
        .execute(conn)?;
    Ok(Some(row))
}

pub fn find_by_source_id(
    conn: &mut DbConnection,
    source_system_id: &str,
) -> Result<Option<RecordRow>, DbError> {
    Ok(r::records
        .filter(r::source_system_id.eq(source_system_id))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?)
}

/// A child's records in force (not retracted), newest first.
pub fn for_child(conn: &mut DbConnection, child_id: &str) -> Result<Vec<RecordRow>, DbError> {
    Ok(r::records
        .filter(r::child_id.eq(child_id))
        .filter(r::retracted_at.is_null())
        .order((r::effective_from.desc(), r::source_system_id.asc()))
        .select(RecordRow::as_select())
        .load(conn)?)
}

/// Records changed after `cursor` (a change number), oldest change first, at most
/// `limit`; retracted records included.
pub fn changed_since(
    conn: &mut DbConnection,
    cursor: i64,
    limit: i64,
) -> Result<Vec<RecordRow>, DbError> {
    Ok(r::records
        .filter(r::change_seq.gt(cursor))
        .order(r::change_seq.asc())
        .limit(limit)
        .select(RecordRow::as_select())
        .load(conn)?)
}

/// The records in force of these children in these categories (what a relationship
/// rule reads), newest first within each child.
pub fn of_children_in(
    conn: &mut DbConnection,
    child_ids: &[&str],
    categories: &[&str],
) -> Result<Vec<RecordRow>, DbError> {
    let mut rows = Vec::new();
    for chunk in child_ids.chunks(super::ROWS_PER_INSERT) {
        rows.extend(
            r::records
                .filter(r::child_id.eq_any(chunk))
                .filter(r::category.eq_any(categories))
                .filter(r::retracted_at.is_null())
                .order((r::effective_from.desc(), r::source_system_id.asc()))
                .select(RecordRow::as_select())
                .load::<RecordRow>(conn)?,
        );
    }
    Ok(rows)
}
