use super::DbError;
use super::models::RecordRow;
use super::schema::records::dsl as r;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use schemas::RecordUpsert;

/// Inserts or updates the record with this source system id for the child; returns the
/// stored row and whether it was new. The same id twice is one record. Call it inside
/// [`super::write`].
pub fn upsert(
    conn: &mut SqliteConnection,
    child_id: &str,
    record: &RecordUpsert,
) -> Result<(RecordRow, bool), DbError> {
    let now = chrono::Utc::now().naive_utc();
    let details =
        serde_json::to_string(&record.details).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let existing: Option<RecordRow> = r::records
        .filter(r::source_system_id.eq(&record.source_system_id))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?;
    let recorded_at = record.recorded_at.map(|t| t.naive_utc()).unwrap_or(now);
    match existing {
        Some(old) if old.child_id != child_id => Err(DbError::Conflict(format!(
            "source_system_id '{}' already identifies a record of another child",
            record.source_system_id
        ))),
        Some(old) => {
            let row = RecordRow {
                id: old.id.clone(),
                child_id: old.child_id,
                source_system_id: old.source_system_id,
                category: record.category.as_str().to_owned(),
                effective_from: record.effective_from,
                effective_to: record.effective_to,
                recorded_at,
                impact: record.impact.trim().to_owned(),
                details,
                version: old.version + 1,
                updated_at: now,
            };
            diesel::update(r::records.find(&old.id))
                .set(&row)
                .execute(conn)?;
            Ok((row, false))
        }
        None => {
            let row = RecordRow {
                id: uuid::Uuid::new_v4().to_string(),
                child_id: child_id.to_owned(),
                source_system_id: record.source_system_id.clone(),
                category: record.category.as_str().to_owned(),
                effective_from: record.effective_from,
                effective_to: record.effective_to,
                recorded_at,
                impact: record.impact.trim().to_owned(),
                details,
                version: 1,
                updated_at: now,
            };
            diesel::insert_into(r::records).values(&row).execute(conn)?;
            Ok((row, true))
        }
    }
}

/// A child's records, newest first.
pub fn for_child(conn: &mut SqliteConnection, child_id: &str) -> Result<Vec<RecordRow>, DbError> {
    Ok(r::records
        .filter(r::child_id.eq(child_id))
        .order((r::effective_from.desc(), r::source_system_id.asc()))
        .select(RecordRow::as_select())
        .load(conn)?)
}
