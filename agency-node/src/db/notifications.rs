//! The outbox (events this node raised, and where each reached), the inbox (events other
//! agencies sent), and the node's subscriptions.

use super::DbError;
use super::schema::{inbox, outbox, outbox_recipients, subscriptions};
use crate::db::DbConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct OutboxRow {
    pub id: String,
    pub event_type: String,
    pub child_id: String,
    pub category: String,
    pub occurred_at: NaiveDateTime,
    pub impact: String,
    pub details: String,
    pub source_system_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub deadline: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_recipients)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RecipientRow {
    pub event_id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub deadline: Option<NaiveDateTime>,
    pub acknowledged_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inbox)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct InboxRow {
    pub id: String,
    pub event_type: String,
    pub child_id: String,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub sender: String,
    pub sender_name: String,
    pub category: String,
    pub level: String,
    pub impact: String,
    pub details: Option<String>,
    pub deadline: Option<NaiveDateTime>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub acknowledged_by: Option<String>,
    pub ack_relayed: bool,
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

pub fn enqueue(conn: &mut DbConnection, row: &OutboxRow) -> Result<(), DbError> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// An outbox event handed to one worker, until `until` or until it records the result.
#[derive(Debug, Clone)]
pub struct Claim {
    pub event: OutboxRow,
    /// Fresh per claim: only a result recorded under the token still on the row counts.
    pub token: String,
    pub until: NaiveDateTime,
}

/// Claims the pending event that is due first and that no live claim holds: writes a
/// fresh token and the lease end `now + lease` on it. `None` when there is nothing to
/// claim.
///
/// Several replicas claim from one outbox at once. PostgreSQL: the candidate row is
/// locked with `FOR UPDATE SKIP LOCKED`, so concurrent claimants pass over each other's
/// rows instead of queueing on them, and the claim commits with the row still locked.
/// SQLite (one process, see [`crate::db::SingleProcessLock`]): the update below is the
/// claim. On both, the update repeats the conditions, so a row that changed hands since
/// it was read is not taken twice.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease: chrono::Duration,
) -> Result<Option<Claim>, DbError> {
    let token = uuid::Uuid::new_v4().to_string();
    let until = now + lease;
    let take = |conn: &mut DbConnection, id: &str| -> Result<Option<OutboxRow>, DbError> {
        let changed = diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::status.eq(PENDING))
                .filter(outbox::next_attempt_at.le(now))
                .filter(
                    outbox::claimed_until
                        .is_null()
                        .or(outbox::claimed_until.le(now)),
                ),
        )
        .set((
            outbox::claim_token.eq(Some(&token)),
            outbox::claimed_until.eq(Some(until)),
        ))
        .execute(conn)?;
        if changed == 0 {
            return Ok(None);
        }
        find(conn, id)
    };
    // The oldest due, unclaimed event; on PostgreSQL locked until the claim commits.
    let next = |conn: &mut DbConnection| -> Result<Option<String>, DbError> {
        let query = outbox::table
            .filter(outbox::status.eq(PENDING))
            .filter(outbox::next_attempt_at.le(now))
            .filter(
                outbox::claimed_until
                    .is_null()
                    .or(outbox::claimed_until.le(now)),
            )
            .order(outbox::next_attempt_at.asc())
            .select(outbox::id);
        Ok(match conn {
            DbConnection::Pg(pg) => query.for_update().skip_locked().first(pg).optional()?,
            DbConnection::Sqlite(_) => query.first(conn).optional()?,
        })
    };
    let event = match conn {
        DbConnection::Pg(_) => conn.transaction(|conn| match next(conn)? {
            Some(id) => take(conn, &id),
            None => Ok(None),
        })?,
        // No transaction: a deferred one that reads, then writes, fails at once when
        // a request wrote in between; the conditional update alone is atomic.
        DbConnection::Sqlite(_) => match next(conn)? {
            Some(id) => take(conn, &id)?,
            None => None,
        },
    };
    Ok(event.map(|event| Claim {
        event,
        token,
        until,
    }))
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<OutboxRow>, DbError> {
    Ok(outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()?)
}

/// Outbox events, newest first, optionally of one status.
pub fn list(
    conn: &mut DbConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let mut query = outbox::table
        .select(OutboxRow::as_select())
        .order(outbox::created_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Pending events with a deadline at or before `horizon`.
pub fn pending_due_by(
    conn: &mut DbConnection,
    horizon: NaiveDateTime,
) -> Result<Vec<OutboxRow>, DbError> {
    Ok(outbox::table
        .filter(outbox::status.eq(PENDING))
        .filter(outbox::deadline.le(horizon))
        .select(OutboxRow::as_select())
        .load(conn)?)
}

pub fn count_by_status(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, DbError> {
    Ok(outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .load(conn)?)
}

pub fn recipients(conn: &mut DbConnection, event_id: &str) -> Result<Vec<RecipientRow>, DbError> {
    Ok(outbox_recipients::table
        .filter(outbox_recipients::event_id.eq(event_id))
        .order(outbox_recipients::agency_id.asc())
        .select(RecipientRow::as_select())
        .load(conn)?)
}

/// After an attempt: the event's new state, and what each recipient answered. A
/// recipient keeps its first delivery time and any acknowledgement.
///
/// Recorded only under the claim `token` still on the event: a claimant whose lease ran
/// out and whose event another worker has claimed since records nothing and gets
/// `false` (its delivery, if any, was a second hand-over the recipient ignored by event
/// id). Recording ends the claim.
#[allow(clippy::too_many_arguments)]
pub fn record_attempt(
    conn: &mut DbConnection,
    event_id: &str,
    token: &str,
    status: &str,
    attempts: i32,
    next_attempt_at: Option<NaiveDateTime>,
    last_error: Option<String>,
    answered: &[RecipientRow],
) -> Result<bool, DbError> {
    let changed = diesel::update(
        outbox::table
            .find(event_id)
            .filter(outbox::claim_token.eq(token)),
    )
    .set((
        outbox::status.eq(status),
        outbox::attempts.eq(attempts),
        outbox::next_attempt_at.eq(next_attempt_at),
        outbox::last_error.eq(last_error),
        outbox::claim_token.eq(None::<String>),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    for row in answered {
        let existing: Option<RecipientRow> = outbox_recipients::table
            .find((&row.event_id, &row.agency_id))
            .select(RecipientRow::as_select())
            .first(conn)
            .optional()?;
        match existing {
            None => {
                diesel::insert_into(outbox_recipients::table)
                    .values(row)
                    .execute(conn)?;
            }
            Some(old) => {
                // A retry that finds the event already delivered keeps it delivered.
                let outcome = if old.delivered_at.is_some() && row.outcome != "delivered" {
                    "delivered".to_owned()
                } else {
                    row.outcome.clone()
                };
                diesel::update(outbox_recipients::table.find((&row.event_id, &row.agency_id)))
                    .set((
                        outbox_recipients::agency_name.eq(&row.agency_name),
                        outbox_recipients::outcome.eq(outcome),
                        outbox_recipients::reason.eq(&row.reason),
                        outbox_recipients::delivered_at.eq(old.delivered_at.or(row.delivered_at)),
                        outbox_recipients::deadline.eq(row.deadline.or(old.deadline)),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(true)
}

/// Lets go of every claim on the outbox: for a node that knows no other worker can hold
/// one (on SQLite, the start of the only process, [`crate::db::SingleProcessLock`]). A
/// claim left by a process that stopped mid-delivery would otherwise hold its event
/// until the lease runs out. A late result under a released token is discarded, as
/// after a lapsed lease. Returns how many claims were released.
pub fn release_claims(conn: &mut DbConnection) -> Result<usize, DbError> {
    Ok(
        diesel::update(outbox::table.filter(outbox::claim_token.is_not_null()))
            .set((
                outbox::claim_token.eq(None::<String>),
                outbox::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
    )
}

/// Puts a dead event back in the queue, due now. `false` when it is not dead.
pub fn replay(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let changed = diesel::update(outbox::table.find(id).filter(outbox::status.eq(DEAD)))
        .set((
            outbox::status.eq(PENDING),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(Some(now)),
            outbox::claim_token.eq(None::<String>),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// A recipient acknowledged one of our events. `false` when no such delivery exists.
pub fn acknowledged_by_recipient(
    conn: &mut DbConnection,
    event_id: &str,
    agency_id: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let changed = diesel::update(outbox_recipients::table.find((event_id, agency_id)))
        .set(outbox_recipients::acknowledged_at.eq(Some(at)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Stores a received event unless one with its id is already here. Returns whether it
/// was new. Runs inside [`super::write`], so the check and the insert are one step.
pub fn receive(conn: &mut DbConnection, row: &InboxRow) -> Result<bool, DbError> {
    let exists = inbox::table
        .find(&row.id)
        .select(inbox::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    diesel::insert_into(inbox::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

/// Inbox items to push to the agency's own system (`[notifications.inbox_webhook]`):
/// not yet pushed, not acknowledged (an item the agency has read needs no push), due,
/// of the given types when some are given; oldest first, each with its attempts so far.
pub fn push_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    event_types: Option<&[String]>,
    limit: i64,
) -> Result<Vec<(InboxRow, i32)>, DbError> {
    let mut query = inbox::table
        .filter(inbox::pushed_at.is_null())
        .filter(inbox::acknowledged_at.is_null())
        .filter(
            inbox::push_next_at
                .is_null()
                .or(inbox::push_next_at.le(now)),
        )
        .order(inbox::received_at.asc())
        .limit(limit)
        .select((InboxRow::as_select(), inbox::push_attempts))
        .into_boxed();
    if let Some(types) = event_types {
        query = query.filter(inbox::event_type.eq_any(types));
    }
    Ok(query.load(conn)?)
}

/// The agency's system accepted the item.
pub fn mark_pushed(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(inbox::table.find(id))
        .set((
            inbox::pushed_at.eq(Some(at)),
            inbox::push_attempts.eq(attempts),
            inbox::push_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The push failed: try again at `next`.
pub fn record_push_failure(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    next: NaiveDateTime,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(inbox::table.find(id))
        .set((
            inbox::push_attempts.eq(attempts),
            inbox::push_next_at.eq(Some(next)),
            inbox::push_error.eq(Some(error)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Inbox items whose push the agency's system refused or left unanswered at least once,
/// still unread and not yet accepted.
pub fn pushes_failing(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(inbox::table
        .filter(inbox::pushed_at.is_null())
        .filter(inbox::acknowledged_at.is_null())
        .filter(inbox::push_attempts.gt(0))
        .count()
        .get_result(conn)?)
}

/// Where the push of an inbox item stands: when the agency's system accepted it, the
/// attempts so far and the last error.
pub type PushState = (Option<NaiveDateTime>, i32, Option<String>);

/// Where the push of an inbox item stands (operators and tests); `None` when no such item.
pub fn push_state(conn: &mut DbConnection, id: &str) -> Result<Option<PushState>, DbError> {
    Ok(inbox::table
        .find(id)
        .select((inbox::pushed_at, inbox::push_attempts, inbox::push_error))
        .first(conn)
        .optional()?)
}

pub fn inbox_item(conn: &mut DbConnection, id: &str) -> Result<Option<InboxRow>, DbError> {
    Ok(inbox::table
        .find(id)
        .select(InboxRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inbox items, newest first; only unacknowledged ones when asked.
pub fn inbox(
    conn: &mut DbConnection,
    unacknowledged_only: bool,
    limit: i64,
) -> Result<Vec<InboxRow>, DbError> {
    let mut query = inbox::table
        .select(InboxRow::as_select())
        .order(inbox::received_at.desc())
        .limit(limit)
        .into_boxed();
    if unacknowledged_only {
        query = query.filter(inbox::acknowledged_at.is_null());
    }
    Ok(query.load(conn)?)
}

/// Unacknowledged items with a deadline at or before `horizon`.
pub fn unacknowledged_due_by(
    conn: &mut DbConnection,
    horizon: NaiveDateTime,
) -> Result<Vec<InboxRow>, DbError> {
    Ok(inbox::table
        .filter(inbox::acknowledged_at.is_null())
        .filter(inbox::deadline.le(horizon))
        .select(InboxRow::as_select())
        .load(conn)?)
}

/// Marks an item acknowledged (the first acknowledgement stands). Returns the item.
pub fn acknowledge(
    conn: &mut DbConnection,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<Option<InboxRow>, DbError> {
    diesel::update(
        inbox::table
            .find(id)
            .filter(inbox::acknowledged_at.is_null()),
    )
    .set((
        inbox::acknowledged_at.eq(Some(at)),
        inbox::acknowledged_by.eq(Some(by)),
    ))
    .execute(conn)?;
    inbox_item(conn, id)
}

/// Acknowledgements not yet passed back to their senders.
pub fn unrelayed_acknowledgements(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<InboxRow>, DbError> {
    Ok(inbox::table
        .filter(inbox::ack_relayed.eq(false))
        .filter(inbox::acknowledged_at.is_not_null())
        .limit(limit)
        .select(InboxRow::as_select())
        .load(conn)?)
}

pub fn mark_relayed(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::update(inbox::table.find(id))
        .set(inbox::ack_relayed.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Adds an active subscription for each type not yet listed; leaves the others (a
/// paused subscription stays paused across restarts). A write of its own (or part of
/// the caller's): replicas starting together each run it, and the check and the insert
/// must not interleave.
pub fn ensure_subscriptions(
    conn: &mut DbConnection,
    types: &[&str],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::write(conn, |conn| insert_missing_subscriptions(conn, types, now))
}

fn insert_missing_subscriptions(
    conn: &mut DbConnection,
    types: &[&str],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    for event_type in types {
        let exists = subscriptions::table
            .find(event_type)
            .select(subscriptions::event_type)
            .first::<String>(conn)
            .optional()?
            .is_some();
        if !exists {
            diesel::insert_into(subscriptions::table)
                .values((
                    subscriptions::event_type.eq(event_type),
                    subscriptions::active.eq(true),
                    subscriptions::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

pub fn subscriptions(conn: &mut DbConnection) -> Result<Vec<(String, bool)>, DbError> {
    Ok(subscriptions::table
        .order(subscriptions::event_type.asc())
        .select((subscriptions::event_type, subscriptions::active))
        .load(conn)?)
}

pub fn set_subscription(
    conn: &mut DbConnection,
    event_type: &str,
    active: bool,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let changed = diesel::update(subscriptions::table.find(event_type))
        .set((
            subscriptions::active.eq(active),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::event_type.eq(event_type),
                subscriptions::active.eq(active),
                subscriptions::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn is_subscribed(conn: &mut DbConnection, event_type: &str) -> Result<bool, DbError> {
    Ok(subscriptions::table
        .find(event_type)
        .select(subscriptions::active)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

/// Unacknowledged inbox items per child, for these children.
pub fn unacknowledged_counts(
    conn: &mut DbConnection,
    child_ids: &[&str],
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    let mut counts = std::collections::HashMap::new();
    for chunk in child_ids.chunks(super::ROWS_PER_INSERT) {
        let rows: Vec<(String, i64)> = inbox::table
            .filter(inbox::child_id.eq_any(chunk))
            .filter(inbox::acknowledged_at.is_null())
            .group_by(inbox::child_id)
            .select((inbox::child_id, diesel::dsl::count_star()))
            .load(conn)?;
        counts.extend(rows);
    }
    Ok(counts)
}

/// Claims on one outbox, on the test backend (PostgreSQL when `FEDERATION_TEST_DATABASE`
/// names a server, SQLite otherwise).
#[cfg(test)]
mod claim_tests {
    use super::*;
    use crate::db::testing::TestDb;
    use chrono::{Duration, Utc};

    fn event(conn: &mut DbConnection, id: &str, due: NaiveDateTime) {
        let child = schemas::ChildUpsert {
            demographics: schemas::Demographics {
                given_name: "Amelia".into(),
                family_name: "Claimtest".into(),
                date_of_birth: "2015-04-01".parse().unwrap_or_default(),
                sex: None,
                postcode: None,
            }
            .into(),
            identifiers: schemas::ChildIdentifiers::default(),
        };
        let (row, _) = crate::db::children::upsert(conn, "C1", &child)
            .unwrap_or_else(|e| panic!("storing a child: {e}"));
        enqueue(
            conn,
            &OutboxRow {
                id: id.to_owned(),
                event_type: "exclusion".into(),
                child_id: row.id,
                category: "exclusion".into(),
                occurred_at: due,
                impact: "Synthetic".into(),
                details: "{}".into(),
                source_system_id: None,
                status: PENDING.into(),
                attempts: 0,
                next_attempt_at: Some(due),
                last_error: None,
                deadline: None,
                created_at: due,
            },
        )
        .unwrap_or_else(|e| panic!("enqueueing: {e}"));
    }

    fn claim(conn: &mut DbConnection, now: NaiveDateTime) -> Option<Claim> {
        claim_due(conn, now, Duration::seconds(30)).unwrap_or_else(|e| panic!("claiming: {e}"))
    }

    fn record(conn: &mut DbConnection, claim: &Claim) -> bool {
        record_attempt(
            conn,
            &claim.event.id,
            &claim.token,
            DELIVERED,
            1,
            None,
            None,
            &[],
        )
        .unwrap_or_else(|e| panic!("recording: {e}"))
    }

    #[test]
    fn a_claimed_event_is_handed_over_once_until_its_lease_lapses() {
        let mut db = TestDb::fresh();
        let now = Utc::now().naive_utc();
        event(&mut db, "E1", now - Duration::seconds(1));

        let first = claim(&mut db, now).expect("a due event is claimed");
        assert_eq!(first.event.id, "E1");
        assert_eq!(first.until, now + Duration::seconds(30));
        // Held: nobody else gets it while the lease runs, however often they ask.
        assert!(claim(&mut db, now + Duration::seconds(29)).is_none());

        // The claimant went quiet: after the lease, another worker takes the event.
        let second = claim(&mut db, now + Duration::seconds(31)).expect("the lapsed claim");
        assert_eq!(second.event.id, "E1");
        assert_ne!(second.token, first.token);

        // The late first claimant's result is discarded; the holder's is recorded.
        assert!(!record(&mut db, &first));
        assert_eq!(find(&mut db, "E1").unwrap().unwrap().status, PENDING);
        assert!(record(&mut db, &second));
        assert_eq!(find(&mut db, "E1").unwrap().unwrap().status, DELIVERED);
        // Recorded once: the same token does not record twice, and nothing is left.
        assert!(!record(&mut db, &second));
        assert!(claim(&mut db, now + Duration::hours(1)).is_none());
    }

    #[test]
    fn a_claim_released_at_start_is_taken_again_at_once_and_the_old_result_is_discarded() {
        let mut db = TestDb::fresh();
        let now = Utc::now().naive_utc();
        event(&mut db, "E3", now - Duration::seconds(1));
        let stopped = claim(&mut db, now).expect("a due event is claimed");
        assert!(claim(&mut db, now + Duration::seconds(1)).is_none());

        // The next process starts: it lets go of the claim the stopped one left.
        assert_eq!(release_claims(&mut db).unwrap(), 1);
        assert_eq!(release_claims(&mut db).unwrap(), 0);
        let next = claim(&mut db, now + Duration::seconds(1)).expect("taken before the lease");
        assert_eq!(next.event.id, "E3");
        assert!(!record(&mut db, &stopped));
        assert!(record(&mut db, &next));
        assert_eq!(find(&mut db, "E3").unwrap().unwrap().status, DELIVERED);
    }

    #[test]
    fn an_event_not_yet_due_is_not_claimed() {
        let mut db = TestDb::fresh();
        let now = Utc::now().naive_utc();
        event(&mut db, "E2", now + Duration::seconds(10));
        assert!(claim(&mut db, now).is_none());
        assert!(claim(&mut db, now + Duration::seconds(10)).is_some());
    }
}

/// Replicas starting together on one database each ensure the default subscriptions;
/// none may fail on the others' inserts (the multi-host run found that one did).
#[cfg(test)]
mod startup_race_tests {
    use super::*;
    use crate::db::{TEST_DATABASE_ENV, connect, create_database_if_missing, drop_database};
    use std::sync::{Arc, Barrier};

    #[test]
    fn replicas_ensuring_subscriptions_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (url, drop_after) = match std::env::var(TEST_DATABASE_ENV) {
            Ok(server) if !server.is_empty() => {
                let url = crate::db::unique_database_url(&server, "node_subscriptions");
                create_database_if_missing(&url).unwrap_or_else(|e| panic!("{e}"));
                (url.clone(), Some(url))
            }
            _ => (
                format!("sqlite://{}", dir.path().join("node.db").display()),
                None,
            ),
        };
        let pool = connect(&url).unwrap_or_else(|e| panic!("{e}"));
        const REPLICAS: usize = 6;
        let barrier = Arc::new(Barrier::new(REPLICAS));
        let now = chrono::Utc::now().naive_utc();
        // Each "replica" has its connection before any starts, so all start at once.
        let conns: Vec<_> = (0..REPLICAS)
            .map(|_| pool.get().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let threads: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    ensure_subscriptions(&mut conn, &["exclusion", "plan_started"], now)
                })
            })
            .collect();
        let results: Vec<Result<(), DbError>> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| panic!("a replica panicked")))
            .collect();
        for result in results {
            result.unwrap_or_else(|e| panic!("a replica failed to start: {e}"));
        }
        let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(subscriptions(&mut conn).unwrap_or_default().len(), 2);
        drop(conn);
        drop(pool);
        if let Some(url) = drop_after {
            drop_database(&url).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
