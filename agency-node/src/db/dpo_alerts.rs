//! Break-glass alerts waiting for (or delivered to) the data protection officer's own
//! system.

use super::DbError;
use super::schema::dpo_alerts;
use crate::db::DbConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dpo_alerts)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct DpoAlertRow {
    pub id: String,
    /// The JSON body sent, as signed.
    pub body: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

/// Queues an alert, inside the caller's transaction.
pub fn enqueue(conn: &mut DbConnection, row: &DpoAlertRow) -> Result<(), DbError> {
    diesel::insert_into(dpo_alerts::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Alerts not yet delivered whose next attempt is due, oldest first.
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<DpoAlertRow>, DbError> {
    Ok(dpo_alerts::table
        .filter(dpo_alerts::delivered_at.is_null())
        .filter(dpo_alerts::next_attempt_at.le(now))
        .order(dpo_alerts::created_at.asc())
        .limit(limit)
        .select(DpoAlertRow::as_select())
        .load(conn)?)
}

pub fn mark_delivered(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(dpo_alerts::table.find(id))
        .set((
            dpo_alerts::delivered_at.eq(Some(at)),
            dpo_alerts::attempts.eq(attempts),
            dpo_alerts::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn record_failure(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    next: NaiveDateTime,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(dpo_alerts::table.find(id))
        .set((
            dpo_alerts::attempts.eq(attempts),
            dpo_alerts::next_attempt_at.eq(next),
            dpo_alerts::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Alerts the DPO's system refused or left unanswered at least once, not yet accepted.
pub fn failing(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(dpo_alerts::table
        .filter(dpo_alerts::delivered_at.is_null())
        .filter(dpo_alerts::attempts.gt(0))
        .count()
        .get_result(conn)?)
}

/// Every alert, newest first (for tests and operators).
pub fn list(conn: &mut DbConnection, limit: i64) -> Result<Vec<DpoAlertRow>, DbError> {
    Ok(dpo_alerts::table
        .order(dpo_alerts::created_at.desc())
        .limit(limit)
        .select(DpoAlertRow::as_select())
        .load(conn)?)
}
