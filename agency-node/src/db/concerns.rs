//! Concerns (raised here, or received at this front door) and the queue of messages
//! still to send about them.

use super::DbError;
use super::schema::{concern_messages, concerns};
use crate::db::DbConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub const RAISED: &str = "raised";
pub const RECEIVED: &str = "received";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = concerns)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct ConcernRow {
    pub id: String,
    /// [`RAISED`] or [`RECEIVED`].
    pub side: String,
    /// A `schemas::concern::ConcernStatus` wire name.
    pub status: String,
    pub child_id: Option<String>,
    pub child_query: Option<String>,
    pub postcode: Option<String>,
    pub referrer: String,
    pub referrer_name: String,
    pub referrer_kind: String,
    /// JSON `FrontDoor` (raised side: where it went; received side after passing it
    /// on: where it went next).
    pub front_door: Option<String>,
    pub content: String,
    pub raised_at: NaiveDateTime,
    pub received_at: Option<NaiveDateTime>,
    pub deadline: Option<NaiveDateTime>,
    pub decision: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    /// JSON array of `ConcernOutcome`.
    pub outcomes: String,
    pub forwarded_by: Option<String>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = concern_messages)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct MessageRow {
    pub id: String,
    pub concern_id: String,
    /// `raise`, `forward` or `outcome`.
    pub kind: String,
    /// The gateway request, JSON.
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub claim_token: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Stores a new concern; `false` when one with this id is already here (a repeated
/// delivery).
pub fn insert(conn: &mut DbConnection, row: &ConcernRow) -> Result<bool, DbError> {
    if find(conn, &row.id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(concerns::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

pub fn update(conn: &mut DbConnection, row: &ConcernRow) -> Result<(), DbError> {
    diesel::update(concerns::table.find(&row.id))
        .set(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<ConcernRow>, DbError> {
    Ok(concerns::table
        .find(id)
        .select(ConcernRow::as_select())
        .first(conn)
        .optional()?)
}

/// One side's concerns, newest first.
pub fn list(conn: &mut DbConnection, side: &str, limit: i64) -> Result<Vec<ConcernRow>, DbError> {
    Ok(concerns::table
        .filter(concerns::side.eq(side))
        .order(concerns::raised_at.desc())
        .limit(limit)
        .select(ConcernRow::as_select())
        .load(conn)?)
}

/// Received concerns still awaiting a decision whose deadline is at or before `horizon`.
pub fn undecided_due_by(conn: &mut DbConnection, horizon: NaiveDateTime) -> Result<i64, DbError> {
    Ok(concerns::table
        .filter(concerns::side.eq(RECEIVED))
        .filter(concerns::decided_at.is_null())
        .filter(concerns::deadline.le(horizon))
        .count()
        .get_result(conn)?)
}

pub fn enqueue(conn: &mut DbConnection, row: &MessageRow) -> Result<(), DbError> {
    diesel::insert_into(concern_messages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn message(conn: &mut DbConnection, id: &str) -> Result<Option<MessageRow>, DbError> {
    Ok(concern_messages::table
        .find(id)
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?)
}

/// Claims the first due message no live claim holds, with a fresh `token` until
/// `until`. The conditional update is the claim on both backends: two claimants of one
/// row cannot both change it.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    token: &str,
    until: NaiveDateTime,
) -> Result<Option<MessageRow>, DbError> {
    let candidates: Vec<String> = concern_messages::table
        .filter(concern_messages::status.eq(super::notifications::PENDING))
        .filter(concern_messages::next_attempt_at.le(now))
        .filter(
            concern_messages::claimed_until
                .is_null()
                .or(concern_messages::claimed_until.le(now)),
        )
        .order(concern_messages::next_attempt_at.asc())
        .limit(4)
        .select(concern_messages::id)
        .load(conn)?;
    for id in candidates {
        if claim(conn, &id, now, token, until)? {
            return message(conn, &id);
        }
    }
    Ok(None)
}

/// Claims one message (the raise route's first, inline attempt, and the worker).
pub fn claim(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
    token: &str,
    until: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        concern_messages::table
            .find(id)
            .filter(concern_messages::status.eq(super::notifications::PENDING))
            .filter(
                concern_messages::claimed_until
                    .is_null()
                    .or(concern_messages::claimed_until.le(now)),
            ),
    )
    .set((
        concern_messages::claim_token.eq(Some(token)),
        concern_messages::claimed_until.eq(Some(until)),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records an attempt under the claim `token`; `false` when the claim was lost.
pub fn record_attempt(
    conn: &mut DbConnection,
    id: &str,
    token: &str,
    status: &str,
    attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    last_error: Option<String>,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        concern_messages::table
            .find(id)
            .filter(concern_messages::claim_token.eq(token)),
    )
    .set((
        concern_messages::status.eq(status),
        concern_messages::attempts.eq(attempts),
        concern_messages::next_attempt_at.eq(next_attempt_at),
        concern_messages::last_error.eq(last_error),
        concern_messages::claim_token.eq(None::<String>),
        concern_messages::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Lets go of every claim on the queue of concern messages; see
/// [`crate::db::notifications::release_claims`].
pub fn release_claims(conn: &mut DbConnection) -> Result<usize, DbError> {
    Ok(
        diesel::update(concern_messages::table.filter(concern_messages::claim_token.is_not_null()))
            .set((
                concern_messages::claim_token.eq(None::<String>),
                concern_messages::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
    )
}

/// The newest message about a concern of a kind (its delivery state).
pub fn latest_message(
    conn: &mut DbConnection,
    concern_id: &str,
    kind: &str,
) -> Result<Option<MessageRow>, DbError> {
    Ok(concern_messages::table
        .filter(concern_messages::concern_id.eq(concern_id))
        .filter(concern_messages::kind.eq(kind))
        .order(concern_messages::created_at.desc())
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?)
}
