//! The integration face's writes, one at a time or in a batch: validate, write, and
//! append the audit entry, all inside the caller's transaction, so an item is written
//! whole or not at all.

use crate::audit::NewEntry;
use crate::db::DbConnection;
use crate::db::keyed::KeyedRow;
use crate::db::records::Expect;
use crate::db::{self, models::ChildRow, models::RecordRow};
use crate::error::ApiError;
use crate::notifications;
use schemas::child::local_id_problem;
use schemas::{AgencyId, AgencyKind, CheckedRecord, ChildUpsert, FieldError, RecordUpsert};
use serde_json::json;
use std::collections::{HashMap, HashSet};

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
    Child(Box<ChildRow>, bool),
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
                return Err(identifier_held(held));
            }
            let (row, created) = db::children::upsert(conn, local_id, child)?;
            if let Some(key) = writer.matching_key {
                db::keyed::store(conn, &row, key)?;
            }
            let detail = json!({"wrote": "child", "local_id": local_id, "created": created});
            (
                row.id.clone(),
                detail,
                Written::Child(Box::new(row), created),
            )
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

/// Applies validated writes in order inside the caller's transaction, in bulk where it
/// can, and returns one result per write, in order: what [`apply`] would have given
/// each, with the same stored rows and the same audit entries in the same order.
///
/// The bulk part covers what loading an agency's children is made of: new children and
/// new records (no notification raised: a load raises none unless asked). It reads the
/// chunk's local ids, identifiers and source ids once, plans every item in memory, then
/// writes children, their keyed encodings, name counts, records and the hash-chained
/// audit entries (one per item) in multi-row statements. From the first item it does not
/// cover (an update, a retraction, a record raising an event), the rest go one by one
/// through [`apply`], each in a savepoint, after the planned rows are written. A failure
/// of the database fails the whole call (the caller's transaction rolls back).
pub fn apply_many(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    writes: &[Write<'_>],
) -> Result<Vec<Result<Written, ApiError>>, ApiError> {
    apply_prepared(conn, writer, writes, Prepared::default())
}

/// What a chunk of writes costs the node before any database work and before the
/// chunks ahead of it are written ([`prepare`]): each child's row (its normalised names
/// and blocking keys) and its keyed encodings (about 30 HMACs), as if the child were
/// new. Computed on another core while the chunk before is written, so the database's
/// time and the node's overlap; a child that turns out not to be new ignores its part.
#[derive(Default)]
pub struct Prepared {
    /// By the write's index: the child's row (no id yet) and its encodings.
    children: Vec<Option<(ChildRow, Option<KeyedRow>)>>,
}

/// [`Prepared`] for `writes`, on every core. Needs no database: it depends on the
/// writes, the matching key and the backend's form of keyed encodings only, so the plan
/// of the same writes later (which sees the chunks written before) uses it unchanged.
pub fn prepare(
    writes: &[Write<'_>],
    key: Option<&matching::MatchingKey>,
    form: db::keyed::Form,
    one_core: bool,
) -> Result<Prepared, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let each = |part: &[Write<'_>]| {
        part.iter()
            .map(|write| match write {
                Write::Child { local_id, child } => {
                    let row = ChildRow::new(
                        String::new(),
                        local_id,
                        &child.demographics,
                        &child.identifiers,
                        now,
                    );
                    let keyed = key.map(|k| db::keyed::row_for(&row, k, form)).transpose()?;
                    Ok(Some((row, keyed)))
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, db::DbError>>()
    };
    let parts = if one_core {
        vec![each(writes)]
    } else {
        crate::parallel::map_parts(writes, each)
    };
    let mut children = Vec::with_capacity(writes.len());
    for part in parts {
        children.extend(part?);
    }
    Ok(Prepared { children })
}

/// [`apply_many`] with the writes' [`Prepared`] part computed already. It must come from
/// these same writes: one of another length, or a child's under another local id, is
/// not used. A load's chunks go through it inside [`db::loading`] (SQLite's settings
/// for a load).
pub fn apply_prepared(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    writes: &[Write<'_>],
    prepared: Prepared,
) -> Result<Vec<Result<Written, ApiError>>, ApiError> {
    apply_chunk(conn, writer, writes, Chunk::Prepared(prepared), |_| ())
}

/// A chunk of writes as it comes to its transaction: prepared ([`prepare`]), or planned
/// too, ahead of its transaction ([`plan_ahead`]).
pub enum Chunk {
    Prepared(Prepared),
    Ahead(Ahead),
}

/// What a chunk's bulk plan writes that the next chunk's plan must see: the new
/// children's local ids, row ids and identifiers, the new records' source ids, the next
/// change number, and the audit chain's last sequence number once the chunk's entries
/// are appended. Given only when the whole chunk went in bulk (no write one by one).
pub struct Carry {
    /// (local id, row id, UPN, NHS number) of each new child.
    children: Vec<(String, String, Option<String>, Option<String>)>,
    sources: Vec<String>,
    next_change: i64,
    audit_seq: i64,
}

/// A chunk planned before its transaction, on another connection, while the chunk
/// before it was written ([`plan_ahead`]).
pub struct Ahead {
    plan: Plan,
    /// The audit chain's last sequence number the plan assumes: the one the chunk before
    /// leaves. Any other write appends an entry, so finding it unchanged in the chunk's
    /// transaction proves that nothing was written between.
    expects_seq: i64,
}

/// Plans `writes` before their transaction, on `reader` (a connection other than the
/// writer's), while the chunk before them (`before`, planned already) holds the write
/// lock and is being written: what `reader` sees then is what that chunk sees, so the
/// database as it will be when that chunk commits is what `reader` reads plus `before`.
/// The plan is used only if nothing else was written by then ([`apply_chunk`] checks),
/// so it is the plan the chunk's transaction would have made.
///
/// Call it only after the chunk before has taken the write lock and planned: its
/// [`apply_chunk`] hands `before` out at that moment.
pub fn plan_ahead(
    reader: &mut DbConnection,
    writer: &Writer<'_>,
    writes: &[Write<'_>],
    prepared: Prepared,
    before: &Carry,
) -> Result<Ahead, ApiError> {
    let started = std::time::Instant::now();
    let lookups = db::read_snapshot(reader, |c| look_up_planned_afresh(c, writes))?;
    let looked_up = started.elapsed();
    let mut plan = plan(
        writer,
        writes,
        prepared,
        lookups.carrying(before),
        looked_up,
    )?;
    plan.ahead = true;
    tracing::debug!(
        lookups_ms = looked_up.as_secs_f64() * 1e3,
        plan_ms = (started.elapsed() - looked_up).as_secs_f64() * 1e3,
        "bulk chunk planned ahead"
    );
    Ok(Ahead {
        plan,
        expects_seq: before.audit_seq,
    })
}

/// [`look_up`], on PostgreSQL with each statement planned for its own values.
///
/// A load grows the tables fast. PostgreSQL, after five runs of a prepared statement,
/// may keep a generic plan made while they were small: then each `= ANY(...)` lookup of
/// [`look_up`] scans the whole table (measured: up to 0.7 s a chunk at 25,000 children,
/// against 1 ms). The lookups therefore run with `plan_cache_mode = force_custom_plan`,
/// and the session's own mode is set back after them (`SET LOCAL ... TO DEFAULT`, for
/// the rest of the transaction): the writes that follow keep their cached plans, among
/// them the foreign-key check PostgreSQL runs for each record row, which otherwise is
/// planned again for every row (measured: 28% of the writing backend's CPU in a load).
fn look_up_planned_afresh(
    conn: &mut DbConnection,
    writes: &[Write<'_>],
) -> Result<Lookups, ApiError> {
    let DbConnection::Pg(_) = conn else {
        return look_up(conn, writes);
    };
    set_plan_cache_mode(conn, "force_custom_plan")?;
    let lookups = look_up(conn, writes)?;
    set_plan_cache_mode(conn, "DEFAULT")?;
    Ok(lookups)
}

/// `SET LOCAL plan_cache_mode TO {mode}` on PostgreSQL (a no-op on SQLite): until the
/// next such call or the end of the transaction.
fn set_plan_cache_mode(conn: &mut DbConnection, mode: &str) -> Result<(), ApiError> {
    if let DbConnection::Pg(c) = conn {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("SET LOCAL plan_cache_mode TO {mode}")),
            c,
        )?;
    }
    Ok(())
}

/// Writes a chunk in the caller's write transaction: [`apply_many`]'s work, with the
/// chunk's [`Prepared`] part or its whole plan made already. A plan made ahead is used
/// only if the audit chain ends where it expects (nothing written since the chunk
/// before); otherwise the chunk is planned again here, as if it had come prepared only.
/// `planned` gets the chunk's [`Carry`] (or `None`) as soon as its plan is settled,
/// before its rows are written, so that the next chunk can be planned meanwhile.
pub fn apply_chunk(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    writes: &[Write<'_>],
    chunk: Chunk,
    planned: impl FnOnce(Option<Carry>),
) -> Result<Vec<Result<Written, ApiError>>, ApiError> {
    let started = std::time::Instant::now();
    let (plan, chain_end) = match chunk {
        Chunk::Ahead(ahead) => {
            let chain_end = db::audit::chain_end(conn)?;
            if chain_end.0 == ahead.expects_seq {
                (ahead.plan, chain_end)
            } else {
                // Another write came between the chunk before and this one: its plan
                // is stale. Its prepared rows went into it; they are computed again.
                tracing::debug!("bulk chunk planned again: a write came between");
                let lookups = look_up_planned_afresh(conn, writes)?;
                let plan = plan(
                    writer,
                    writes,
                    Prepared::default(),
                    lookups,
                    started.elapsed(),
                )?;
                (plan, db::audit::chain_end(conn)?)
            }
        }
        Chunk::Prepared(prepared) => {
            let lookups = look_up_planned_afresh(conn, writes)?;
            let plan = plan(writer, writes, prepared, lookups, started.elapsed())?;
            (plan, db::audit::chain_end(conn)?)
        }
    };
    planned(plan.carry(writes.len(), chain_end.0));
    write_plan(conn, writer, writes, plan, chain_end, started)
}

/// What the plan of a chunk reads from the database about its writes.
struct Lookups {
    /// The children held, by local id: their row ids.
    existing: HashMap<String, String>,
    upn_holder: HashMap<String, String>,
    nhs_holder: HashMap<String, String>,
    held_sources: HashSet<String>,
    next_change: i64,
}

impl Lookups {
    /// What a chunk planned on a connection that does not see `before`'s rows yet would
    /// read once they are committed.
    fn carrying(mut self, before: &Carry) -> Self {
        for (local_id, id, upn, nhs) in &before.children {
            self.existing.insert(local_id.clone(), id.clone());
            if let Some(upn) = upn {
                self.upn_holder.insert(upn.clone(), local_id.clone());
            }
            if let Some(nhs) = nhs {
                self.nhs_holder.insert(nhs.clone(), local_id.clone());
            }
        }
        self.held_sources.extend(before.sources.iter().cloned());
        self.next_change = self.next_change.max(before.next_change);
        self
    }
}

/// Reads, once for the chunk, the children its local ids name, the holders of its
/// identifiers, which of its source ids are held, and the next change number.
fn look_up(conn: &mut DbConnection, writes: &[Write<'_>]) -> Result<Lookups, ApiError> {
    let mut local_ids: HashSet<&str> = HashSet::new();
    let mut upns: Vec<&str> = Vec::new();
    let mut nhs_numbers: Vec<&str> = Vec::new();
    let mut sources: Vec<&str> = Vec::new();
    for write in writes {
        match write {
            Write::Child { local_id, child } => {
                local_ids.insert(local_id);
                upns.extend(child.identifiers.upn.as_ref().map(|u| u.as_str()));
                nhs_numbers.extend(child.identifiers.nhs_number.as_ref().map(|n| n.as_str()));
            }
            Write::Record {
                local_id, record, ..
            } => {
                local_ids.insert(local_id);
                sources.push(record.source_system_id());
            }
            Write::Retract { local_id, .. } => {
                local_ids.insert(local_id);
            }
        }
    }
    // Each local id once: a child's records name it again.
    let local_ids: Vec<&str> = local_ids.into_iter().collect();
    let existing = db::children::by_local_ids(conn, &local_ids)?
        .into_iter()
        .map(|(local_id, row)| (local_id, row.id))
        .collect();
    let (by_upn, by_nhs) = db::children::identifier_holders(conn, &upns, &nhs_numbers)?;
    Ok(Lookups {
        existing,
        upn_holder: by_upn.into_iter().collect(),
        nhs_holder: by_nhs.into_iter().collect(),
        held_sources: db::records::held_source_ids(conn, &sources)?,
        next_change: db::records::next_change(conn)?,
    })
}

/// A chunk's plan: a result for each write planned, and the rows the bulk part writes.
struct Plan {
    results: Vec<Result<Written, ApiError>>,
    children: Vec<ChildRow>,
    records: Vec<RecordRow>,
    entries: Vec<NewEntry>,
    /// The new children's encodings prepared ahead, and which new children (by their
    /// place in `children`) have none yet.
    keyed_rows: Vec<KeyedRow>,
    unkeyed: Vec<usize>,
    /// The first write not planned: it and the rest go one by one.
    one_by_one: usize,
    next_change: i64,
    looked_up: std::time::Duration,
    plan_time: std::time::Duration,
    /// Whether it was made ahead ([`plan_ahead`]), its lookups on another connection.
    ahead: bool,
}

impl Plan {
    /// The [`Carry`] of a chunk of `writes` writes whose audit chain ends at `audit_seq`
    /// before it: `None` if some writes go one by one (what they write is not planned).
    fn carry(&self, writes: usize, audit_seq: i64) -> Option<Carry> {
        (self.one_by_one == writes).then(|| Carry {
            children: self
                .children
                .iter()
                .map(|c| {
                    (
                        c.local_id.clone(),
                        c.id.clone(),
                        c.upn.clone(),
                        c.nhs_number.clone(),
                    )
                })
                .collect(),
            sources: self
                .records
                .iter()
                .map(|r| r.source_system_id.clone())
                .collect(),
            next_change: self.next_change,
            audit_seq: audit_seq + self.entries.len() as i64,
        })
    }
}

/// Plans every write in memory against `lookups`, up to the first one the bulk path does
/// not cover (an update, a retraction, a record raising an event).
fn plan(
    writer: &Writer<'_>,
    writes: &[Write<'_>],
    prepared: Prepared,
    lookups: Lookups,
    looked_up: std::time::Duration,
) -> Result<Plan, ApiError> {
    let started = std::time::Instant::now();
    let mut prepared = if prepared.children.len() == writes.len() {
        prepared.children
    } else {
        Vec::new()
    };
    let Lookups {
        existing,
        mut upn_holder,
        mut nhs_holder,
        mut held_sources,
        mut next_change,
    } = lookups;
    let now = chrono::Utc::now().naive_utc();

    let mut results = Vec::with_capacity(writes.len());
    let mut children: Vec<ChildRow> = Vec::new();
    let mut records: Vec<RecordRow> = Vec::new();
    let mut entries: Vec<NewEntry> = Vec::new();
    let mut new_ids: HashMap<&str, String> = HashMap::new();
    // The new children's encodings prepared ahead, and which new children (by their
    // place in `children`) have none yet.
    let mut keyed_rows: Vec<KeyedRow> = Vec::new();
    let mut unkeyed: Vec<usize> = Vec::new();
    let mut one_by_one = writes.len();
    for (i, write) in writes.iter().enumerate() {
        match write {
            Write::Child { local_id, child }
                if !existing.contains_key(*local_id) && !new_ids.contains_key(*local_id) =>
            {
                let mut held = Vec::new();
                if let Some(other) = child
                    .identifiers
                    .upn
                    .as_ref()
                    .and_then(|u| upn_holder.get(u.as_str()))
                {
                    held.push(("identifiers.upn", other.clone()));
                }
                if let Some(other) = child
                    .identifiers
                    .nhs_number
                    .as_ref()
                    .and_then(|n| nhs_holder.get(n.as_str()))
                {
                    held.push(("identifiers.nhs_number", other.clone()));
                }
                if !held.is_empty() {
                    results.push(Err(identifier_held(held)));
                    continue;
                }
                let id = db::new_row_id();
                let ready = prepared
                    .get_mut(i)
                    .and_then(Option::take)
                    .filter(|(row, _)| row.local_id == *local_id);
                let row = match ready {
                    Some((mut row, keyed)) => {
                        row.id.clone_from(&id);
                        row.created_at = now;
                        row.updated_at = now;
                        match (keyed, writer.matching_key) {
                            (Some(mut keyed), Some(key)) if keyed.key_id == key.id() => {
                                keyed.child_id.clone_from(&id);
                                keyed_rows.push(keyed);
                            }
                            _ => unkeyed.push(children.len()),
                        }
                        row
                    }
                    None => {
                        unkeyed.push(children.len());
                        ChildRow::new(id, local_id, &child.demographics, &child.identifiers, now)
                    }
                };
                if let Some(upn) = &child.identifiers.upn {
                    upn_holder.insert(upn.as_str().to_owned(), (*local_id).to_owned());
                }
                if let Some(nhs) = &child.identifiers.nhs_number {
                    nhs_holder.insert(nhs.as_str().to_owned(), (*local_id).to_owned());
                }
                new_ids.insert(local_id, row.id.clone());
                entries.push(NewEntry::by_system(
                    writer.system,
                    writer.correlation_id,
                    Some(row.id.clone()),
                    json!({"wrote": "child", "local_id": local_id, "created": true}),
                ));
                results.push(Ok(Written::Child(Box::new(row.clone()), true)));
                children.push(row);
            }
            Write::Record {
                local_id,
                record,
                expect: Expect::Anything,
            } if !writer.raise_events && !held_sources.contains(record.source_system_id()) => {
                let child_id = match existing.get(*local_id) {
                    Some(id) => id.clone(),
                    None => match new_ids.get(*local_id) {
                        Some(id) => id.clone(),
                        None => {
                            results.push(Err(ApiError::ChildNotFound));
                            continue;
                        }
                    },
                };
                let row = db::records::new_row(&child_id, record, next_change)?;
                next_change += 1;
                held_sources.insert(row.source_system_id.clone());
                entries.push(NewEntry::by_system(
                    writer.system,
                    writer.correlation_id,
                    Some(child_id),
                    json!({
                        "wrote": "record", "source_system_id": row.source_system_id,
                        "category": row.category, "version": row.version, "created": true,
                        "raised": null,
                    }),
                ));
                results.push(Ok(Written::Record(row.clone(), true)));
                records.push(row);
            }
            _ => {
                one_by_one = i;
                break;
            }
        }
    }
    Ok(Plan {
        results,
        children,
        records,
        entries,
        keyed_rows,
        unkeyed,
        one_by_one,
        next_change,
        looked_up,
        plan_time: started.elapsed(),
        ahead: false,
    })
}

/// Writes a chunk's plan (children, name counts, keyed encodings, records, audit
/// entries chained after `chain_end`, the chain's end in this transaction), then the
/// writes it did not cover one by one.
fn write_plan(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    writes: &[Write<'_>],
    plan: Plan,
    chain_end: (i64, String),
    started: std::time::Instant,
) -> Result<Vec<Result<Written, ApiError>>, ApiError> {
    let Plan {
        mut results,
        children,
        records,
        entries,
        keyed_rows,
        unkeyed,
        one_by_one,
        looked_up,
        plan_time,
        ahead,
        ..
    } = plan;
    let planned = started.elapsed();
    // The audit rows, which depend on the plan and the chain's end only, are built and
    // hashed on another thread while the children, encodings and records are written,
    // and written last, as before. On PostgreSQL the server does that writing; on SQLite
    // this thread does, and the other core, which prepares the next chunk in less time
    // than this one takes to write, has time to spare for them.
    let (written, audit_rows) = std::thread::scope(|scope| {
        let entries = &entries;
        let built = scope.spawn(move || db::audit::chained_rows(chain_end, entries, true));
        let written = write_planned(
            conn,
            writer.matching_key,
            (&children, &unkeyed, &keyed_rows, &records),
            started,
        );
        let rows = built
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (written, rows)
    });
    let (children_written, keyed_written, records_written) = written?;
    db::audit::insert_rows(conn, &audit_rows)?;
    tracing::debug!(
        items = writes.len(),
        children = children.len(),
        records = records.len(),
        one_by_one = writes.len() - one_by_one,
        ahead,
        lookups_ms = looked_up.as_secs_f64() * 1e3,
        plan_ms = plan_time.as_secs_f64() * 1e3,
        children_ms = (children_written - planned).as_secs_f64() * 1e3,
        keyed_ms = (keyed_written - children_written).as_secs_f64() * 1e3,
        records_ms = (records_written - keyed_written).as_secs_f64() * 1e3,
        audit_ms = (started.elapsed() - records_written).as_secs_f64() * 1e3,
        "bulk write"
    );
    for write in &writes[one_by_one..] {
        // A savepoint per item: a failure undoes that item only.
        results.push(diesel::Connection::transaction(conn, |c| {
            apply(c, writer, write)
        }));
    }
    Ok(results)
}

/// The planned children (with their name counts), their keyed encodings (those
/// prepared, and those of `unkeyed` children computed now) and the records, in bulk;
/// returns the time since `started` after each.
fn write_planned(
    conn: &mut DbConnection,
    key: Option<&matching::MatchingKey>,
    (children, unkeyed, keyed_rows, records): (&[ChildRow], &[usize], &[KeyedRow], &[RecordRow]),
    started: std::time::Instant,
) -> Result<
    (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    ),
    ApiError,
> {
    db::children::insert_new(conn, children)?;
    let children_written = started.elapsed();
    if let Some(key) = key {
        if unkeyed.len() == children.len() {
            db::keyed::store_new(conn, children, key)?;
        } else {
            let rest: Vec<ChildRow> = unkeyed.iter().map(|&n| children[n].clone()).collect();
            db::keyed::store_new(conn, &rest, key)?;
        }
        db::keyed::insert_rows(conn, keyed_rows)?;
    }
    let keyed_written = started.elapsed();
    db::records::insert_new(conn, records)?;
    Ok((children_written, keyed_written, started.elapsed()))
}

/// 409 `identifier-held`: each field with the local id holding it.
fn identifier_held(held: Vec<(&'static str, String)>) -> ApiError {
    ApiError::IdentifierHeld(
        held.into_iter()
            .map(|(field, other)| {
                FieldError::new(field, format!("is held by the child with local id {other}"))
            })
            .collect(),
    )
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
    if record.category().raises() == schemas::notification::Raises::Meeting {
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::London)
            .date_naive();
        // A backfilled meeting long past is not news, as for other events.
        if record.effective_from() < today - chrono::Duration::days(writer.raise_within_days) {
            return Ok(None);
        }
        let mut raised = Vec::new();
        for event in notifications::meeting_events(previous, record, today) {
            let details = event.details.to_string();
            let id = notifications::enqueue(
                conn,
                &notifications::NewEvent {
                    event_type: event.event_type,
                    child_id: &stored.child_id,
                    category: record.category(),
                    occurred_at: event.occurred_at,
                    impact: &event.impact,
                    details: &details,
                    source_system_id: Some(record.source_system_id()),
                },
                writer.earliest_school_day,
            )?;
            raised.push(json!({"event_id": id, "event_type": event.event_type.as_str()}));
        }
        return Ok((!raised.is_empty()).then(|| serde_json::Value::Array(raised)));
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

/// The bulk path against the one-by-one path, on the same writes: the same results, the
/// same stored rows, the same audit entries in the same order, both chains intact.
#[cfg(test)]
mod bulk_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::db::schema::{
        audit_log, child_former_family_keys, child_former_upns, child_keyed, children, name_counts,
        records,
    };
    use crate::db::testing::TestDb;
    use crate::db::token::KeyedToken;
    use diesel::prelude::*;
    use schemas::{ChildIdentifiers, KnownDemographics, NhsNumber, Upn};

    fn child(n: u32, upn: Option<u32>) -> ChildUpsert {
        ChildUpsert {
            demographics: KnownDemographics {
                given_name: Some(["Amelia", "Rowan", "Ines"][n as usize % 3].into()),
                family_name: (n % 5 != 4).then(|| format!("Okafor-{}", n % 4)),
                date_of_birth: (n % 7 != 6)
                    .then(|| chrono::NaiveDate::from_ymd_opt(2014, 1 + n % 12, 1 + n % 28))
                    .flatten(),
                sex: None,
                postcode: Some(format!("ZZ{} 4AB", 1 + n % 9)),
                preferred_given_name: n.is_multiple_of(4).then(|| "Sam".into()),
                preferred_family_name: n.is_multiple_of(6).then(|| "Quill-Harte".into()),
                former_family_names: (0..n % 3).map(|k| format!("Former-{k}")).collect(),
            },
            identifiers: ChildIdentifiers {
                upn: upn.map(|u| Upn::with_check_letter(&format!("996{u:09}")).unwrap()),
                nhs_number: n
                    .is_multiple_of(3)
                    .then(|| NhsNumber::with_check_digit(&format!("996{:06}", n + 1)))
                    .flatten(),
                former_upns: (0..n % 3)
                    .map(|k| Upn::with_check_letter(&format!("995{:09}", n * 10 + k)).unwrap())
                    .collect(),
            },
        }
    }

    fn record(id: &str) -> CheckedRecord {
        RecordUpsert::parse(
            &json!({"source_system_id": id, "category": "attendance",
                    "effective_from": "2026-09-03", "impact": "Attendance 96%",
                    "details": {"sessions_possible": 100, "sessions_present": 96,
                                "authorised_absence": 4, "unauthorised_absence": 0}}),
            AgencyKind::School,
        )
        .unwrap()
    }

    /// Everything stored, with row ids replaced by local ids and times left out.
    fn stored(conn: &mut DbConnection) -> Vec<String> {
        let ids: std::collections::HashMap<String, String> = children::table
            .select((children::id, children::local_id))
            .load::<(String, String)>(conn)
            .unwrap()
            .into_iter()
            .collect();
        let local = |id: &Option<String>| id.as_ref().map(|i| ids[i].clone());
        let mut out = Vec::new();
        for mut row in children::table
            .order(children::local_id)
            .select(ChildRow::as_select())
            .load::<ChildRow>(conn)
            .unwrap()
        {
            row.id = String::new();
            row.created_at = Default::default();
            row.updated_at = Default::default();
            out.push(format!("{row:?}"));
        }
        for mut row in records::table
            .order(records::change_seq)
            .select(RecordRow::as_select())
            .load::<RecordRow>(conn)
            .unwrap()
        {
            row.id = String::new();
            row.child_id = ids[&row.child_id].clone();
            row.updated_at = Default::default();
            row.recorded_at = Default::default();
            row.retracted_at = row.retracted_at.map(|_| Default::default());
            out.push(format!("{row:?}"));
        }
        for (seq, action, via, child_id, detail, correlation) in audit_log::table
            .order(audit_log::seq)
            .select((
                audit_log::seq,
                audit_log::action,
                audit_log::via_member,
                audit_log::child_id,
                audit_log::detail,
                audit_log::correlation_id,
            ))
            .load::<(i64, String, String, Option<String>, String, String)>(conn)
            .unwrap()
        {
            out.push(format!(
                "audit {seq} {action} {via} {:?} {detail} {correlation}",
                local(&child_id)
            ));
        }
        for count in name_counts::table
            .order((name_counts::kind, name_counts::name))
            .load::<(String, String, i64)>(conn)
            .unwrap()
        {
            out.push(format!("{count:?}"));
        }
        let mut keyed: Vec<String> = child_keyed::table
            .select((
                child_keyed::child_id,
                child_keyed::upn,
                child_keyed::nhs_number,
                child_keyed::date_of_birth,
                child_keyed::family_block,
                child_keyed::encoding,
                child_keyed::compact,
            ))
            .load::<(
                String,
                Option<KeyedToken>,
                Option<KeyedToken>,
                KeyedToken,
                KeyedToken,
                String,
                Option<Vec<u8>>,
            )>(conn)
            .unwrap()
            .into_iter()
            .map(|(id, upn, nhs, dob, block, encoding, compact)| {
                format!(
                    "keyed {} {upn:?} {nhs:?} {dob:?} {block:?} {encoding} {compact:?}",
                    ids[&id]
                )
            })
            .collect();
        keyed.sort();
        out.extend(keyed);
        let mut former: Vec<String> = child_former_upns::table
            .select((child_former_upns::upn, child_former_upns::child_id))
            .load::<(String, String)>(conn)
            .unwrap()
            .into_iter()
            .map(|(upn, id)| format!("former {upn} {}", ids[&id]))
            .collect();
        former.sort();
        out.extend(former);
        let mut former_keys: Vec<String> = child_former_family_keys::table
            .select((
                child_former_family_keys::family_name_key,
                child_former_family_keys::date_of_birth,
                child_former_family_keys::child_id,
            ))
            .load::<(String, chrono::NaiveDate, String)>(conn)
            .unwrap()
            .into_iter()
            .map(|(key, dob, id)| format!("former key {key} {dob} {}", ids[&id]))
            .collect();
        former_keys.sort();
        out.extend(former_keys);
        out
    }

    fn outcome(result: &Result<Written, ApiError>) -> String {
        match result {
            Ok(Written::Child(row, created)) => format!("child {} {created}", row.local_id),
            Ok(Written::Record(row, created)) => {
                format!("record {} {created}", row.source_system_id)
            }
            Ok(Written::Retracted(row)) => format!("retracted {}", row.source_system_id),
            Err(e) => format!("{:?}", e.problem()),
        }
    }

    /// A school system's writer for a load: no events, keyed encodings under `key`.
    fn loading_writer<'a>(
        system: &'a AgencyId,
        correlation_id: &'a str,
        key: &'a matching::MatchingKey,
    ) -> Writer<'a> {
        Writer {
            system,
            correlation_id,
            raise_within_days: 30,
            raise_events: false,
            earliest_school_day: None,
            matching_key: Some(key),
        }
    }

    #[test]
    fn the_bulk_path_stores_what_single_writes_store() {
        let key = matching::MatchingKey::from_base64(&matching::MatchingKey::generate().unwrap())
            .unwrap();
        let system = AgencyId::parse("school-a-system").unwrap();
        let writer = loading_writer(&system, "00-bulk", &key);
        let mut upserts: Vec<(String, ChildUpsert)> = (0..40)
            .map(|n| (format!("L{n:03}"), child(n, (n % 2 == 0).then_some(n))))
            .collect();
        // A second local id with an identifier already held: 409, nothing stored.
        upserts.push(("L900".into(), child(41, Some(0))));
        // The same local id again, changed: an update, one by one from here.
        upserts.push(("L001".into(), child(43, Some(1001))));
        let records: Vec<(String, CheckedRecord)> = (0..40)
            .flat_map(|n| {
                [
                    (format!("L{n:03}"), record(&format!("R{n}-A"))),
                    (format!("L{n:03}"), record(&format!("R{n}-B"))),
                ]
            })
            .chain([("NOBODY".to_owned(), record("R-X"))])
            .collect();
        let mut writes: Vec<Write<'_>> = Vec::new();
        for (i, (local_id, child)) in upserts.iter().enumerate() {
            writes.push(Write::Child { local_id, child });
            if i < 40 {
                for (r_local, r) in records.iter().filter(|(l, _)| l == local_id) {
                    writes.push(Write::Record {
                        local_id: r_local,
                        record: r,
                        expect: Expect::Anything,
                    });
                }
            }
            if i == 20 {
                let (l, r) = records.last().unwrap();
                writes.push(Write::Record {
                    local_id: l,
                    record: r,
                    expect: Expect::Anything,
                });
            }
        }
        // A retraction, and a record after it (one by one).
        writes.push(Write::Retract {
            local_id: "L002",
            source_system_id: "R2-A",
            reason: "entered against the wrong pupil",
            expect: Expect::Anything,
        });
        let late = record("R-LATE");
        writes.push(Write::Record {
            local_id: "L003",
            record: &late,
            expect: Expect::Anything,
        });

        let mut single = TestDb::fresh();
        let one_by_one: Vec<String> = writes
            .iter()
            .map(|w| {
                outcome(&crate::db::write_with(&mut single, |c| {
                    apply(c, &writer, w)
                }))
            })
            .collect();
        let mut bulk = TestDb::fresh();
        // Two calls, as two chunks of a batch: the second adds to the name counts the
        // first wrote (the upsert's conflict path).
        let (first, second) = writes.split_at(30);
        let together: Vec<String> = [first, second]
            .into_iter()
            .flat_map(|part| {
                crate::db::write_with(&mut bulk, |c| apply_many(c, &writer, part)).unwrap()
            })
            .map(|result| outcome(&result))
            .collect();
        assert_eq!(together, one_by_one);
        // As a batch writes its chunks: the second chunk's children prepared (rows, keyed
        // encodings) while the first is written, before they can see its rows. The
        // second chunk holds a child whose UPN the first wrote, and an update.
        let mut pipelined = TestDb::fresh();
        let form = crate::db::keyed::Form::of(&pipelined);
        let in_pipeline: Vec<String> = crate::parallel::pipeline(
            vec![first, second],
            |part, beside| (part, prepare(part, Some(&key), form, beside)),
            |(part, prepared)| {
                crate::db::write_with(&mut pipelined, |c| {
                    apply_prepared(c, &writer, part, prepared?)
                })
            },
        )
        .unwrap()
        .into_iter()
        .flatten()
        .map(|result| outcome(&result))
        .collect();
        assert_eq!(in_pipeline, one_by_one);
        // As a batch writes its chunks on PostgreSQL: the second chunk planned ahead, on
        // another connection, while the first holds the write lock, before it commits.
        // The second holds a child whose UPN the first wrote (409) and an update of a
        // child the first wrote (one by one): the first's carry is what tells the plan.
        let mut ahead = TestDb::shared();
        let mut reader = ahead.another();
        let in_ahead = write_planned_ahead(&mut ahead, &mut reader, &writer, first, second, |_| ());
        assert_eq!(in_ahead, one_by_one);
        assert!(one_by_one.iter().any(|o| o.contains("identifier-held")));
        assert!(one_by_one.iter().any(|o| o.contains("child-not-found")));
        assert!(one_by_one.iter().any(|o| o == "child L001 false"));
        let (b, s) = (stored(&mut bulk), stored(&mut single));
        let p = stored(&mut pipelined);
        for other in [&b, &p, &stored(&mut ahead)] {
            let differing: Vec<(&String, &String)> = other
                .iter()
                .zip(&s)
                .filter(|(x, y)| x != y)
                .take(3)
                .collect();
            assert!(
                differing.is_empty() && other.len() == s.len(),
                "{differing:#?}"
            );
        }
        assert!(
            p.iter().filter(|l| l.starts_with("keyed ")).count() == 40,
            "every child stored has its encodings"
        );
        assert!(
            b.iter().any(|l| l.starts_with("former ")),
            "former UPNs kept"
        );
        for kept in ["Sam", "Quill-Harte", "Former-1"] {
            assert!(
                b.iter().any(|l| l.contains(&format!("\"{kept}"))),
                "{kept} kept"
            );
        }
        for db in [&mut single, &mut bulk, &mut pipelined, &mut *ahead] {
            let verified = crate::db::audit::verify(db).unwrap();
            assert!(verified.intact, "{verified:?}");
        }
    }

    /// On PostgreSQL a chunk's lookups are planned for their own values, but its writes
    /// keep the session's plan cache mode: under `force_custom_plan` the foreign-key check
    /// of each record row would be planned again for every row.
    #[test]
    fn a_chunk_leaves_the_plan_cache_mode_to_its_writes() {
        #[derive(QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            mode: String,
        }
        let mut db = TestDb::fresh();
        if !matches!(&*db, DbConnection::Pg(_)) {
            return;
        }
        let key = matching::MatchingKey::from_base64(&matching::MatchingKey::generate().unwrap())
            .unwrap();
        let system = AgencyId::parse("school-a-system").unwrap();
        let writer = loading_writer(&system, "00-modes", &key);
        let (a, r1) = (child(0, Some(1)), record("R1"));
        let writes = [
            Write::Child {
                local_id: "L1",
                child: &a,
            },
            Write::Record {
                local_id: "L1",
                record: &r1,
                expect: Expect::Anything,
            },
        ];
        let show = |c: &mut DbConnection| -> String {
            let DbConnection::Pg(pg) = c else {
                unreachable!()
            };
            diesel::sql_query("SELECT current_setting('plan_cache_mode') AS mode")
                .get_result::<Mode>(pg)
                .unwrap()
                .mode
        };
        let session = show(&mut db);
        let (outcomes, during) = crate::db::write_with(&mut db, |c| {
            let form = crate::db::keyed::Form::of(c);
            let prepared = prepare(&writes, Some(&key), form, true)?;
            let outcomes = apply_chunk(c, &writer, &writes, Chunk::Prepared(prepared), |_| ())?;
            Ok::<_, ApiError>((outcomes, show(c)))
        })
        .unwrap();
        assert_eq!(
            outcomes.iter().map(outcome).collect::<Vec<_>>(),
            ["child L1 true", "record R1 true"]
        );
        assert_eq!(during, session);
        assert_ne!(session, "force_custom_plan");
    }

    /// On PostgreSQL, that records and keyed encodings name a child is checked once per
    /// statement (migration `2026-12-10-000210_child_checks_per_statement`), not by
    /// foreign keys row by row: a bulk `COPY` with one row among several naming no child
    /// fails whole, as does a single insert or update, and a child still named can be
    /// neither removed nor given another id; a child nothing names can. Each failure is
    /// SQLSTATE 23503, as the foreign keys gave.
    #[test]
    fn rows_naming_no_child_are_refused_per_statement_on_postgres() {
        use diesel::result::{DatabaseErrorKind, Error as QueryError};
        let mut db = TestDb::fresh();
        if !matches!(&*db, DbConnection::Pg(_)) {
            return;
        }
        fn refused<T: std::fmt::Debug>(result: Result<T, db::DbError>) -> bool {
            matches!(
                result,
                Err(db::DbError::Query(QueryError::DatabaseError(
                    DatabaseErrorKind::ForeignKeyViolation,
                    _
                )))
            )
        }
        // Each attempt in a savepoint of its own, so that a refusal leaves the rest.
        fn attempt<T>(
            conn: &mut DbConnection,
            f: impl FnOnce(&mut DbConnection) -> Result<T, db::DbError>,
        ) -> Result<T, db::DbError> {
            diesel::Connection::transaction(conn, f)
        }
        let key = matching::MatchingKey::from_base64(&matching::MatchingKey::generate().unwrap())
            .unwrap();
        let form = db::keyed::Form::of(&db);
        let (named, _) = db::children::upsert(&mut db, "L1", &child(0, Some(1))).unwrap();
        let (unnamed, _) = db::children::upsert(&mut db, "L2", &child(1, Some(2))).unwrap();
        let row =
            |child_id: &str, id: &str| db::records::new_row(child_id, &record(id), 1).unwrap();
        let mut nobody = named.clone();
        nobody.id = "no-such-child".into();

        db::records::insert_new(&mut db, &[row(&named.id, "R1"), row(&named.id, "R2")]).unwrap();
        db::keyed::insert_rows(&mut db, &[db::keyed::row_for(&named, &key, form).unwrap()])
            .unwrap();
        assert!(refused(attempt(&mut db, |c| db::records::insert_new(
            c,
            &[row(&named.id, "R3"), row(&nobody.id, "R4")]
        ))));
        assert!(refused(attempt(&mut db, |c| {
            let DbConnection::Pg(pg) = c else {
                unreachable!()
            };
            Ok(diesel::insert_into(records::table)
                .values(row(&nobody.id, "R5"))
                .execute(pg)?)
        })));
        assert!(refused(attempt(&mut db, |c| {
            Ok(
                diesel::update(records::table.filter(records::source_system_id.eq("R1")))
                    .set(records::child_id.eq(&nobody.id))
                    .execute(c)?,
            )
        })));
        assert!(refused(attempt(&mut db, |c| db::keyed::insert_rows(
            c,
            &[db::keyed::row_for(&nobody, &key, form).unwrap()]
        ))));
        assert!(refused(attempt(&mut db, |c| Ok(diesel::delete(
            children::table.find(&named.id)
        )
        .execute(c)?))));
        assert!(refused(attempt(&mut db, |c| Ok(diesel::update(
            children::table.find(&named.id)
        )
        .set(children::id.eq("another-id"))
        .execute(c)?))));
        // What nothing names may go; a child's other columns may change.
        attempt(&mut db, |c| {
            Ok(diesel::update(children::table.find(&named.id))
                .set(children::given_name.eq("Ada"))
                .execute(c)?)
        })
        .unwrap();
        attempt(&mut db, |c| {
            diesel::delete(
                child_former_upns::table.filter(child_former_upns::child_id.eq(&unnamed.id)),
            )
            .execute(c)?;
            diesel::delete(
                child_former_family_keys::table
                    .filter(child_former_family_keys::child_id.eq(&unnamed.id)),
            )
            .execute(c)?;
            Ok(diesel::delete(children::table.find(&unnamed.id)).execute(c)?)
        })
        .unwrap();
        let held: Vec<String> = records::table
            .select(records::source_system_id)
            .order(records::source_system_id)
            .load(&mut *db)
            .unwrap();
        assert_eq!(held, ["R1", "R2"]);
        let keyed: i64 = child_keyed::table.count().get_result(&mut *db).unwrap();
        assert_eq!(keyed, 1);
    }

    /// Writes `first` in one transaction, planning `second` on `reader` once `first` is
    /// planned (holding the write lock), then `between` (after `first` commits), then
    /// `second` with its plan made ahead: the outcomes of both chunks, in order.
    fn write_planned_ahead(
        db: &mut DbConnection,
        reader: &mut DbConnection,
        writer: &Writer<'_>,
        first: &[Write<'_>],
        second: &[Write<'_>],
        between: impl FnOnce(&mut DbConnection),
    ) -> Vec<String> {
        let form = crate::db::keyed::Form::of(db);
        let key = writer.matching_key;
        let mut second_ahead = None;
        let mut out: Vec<String> = crate::db::write_with(db, |c| {
            let prepared = prepare(first, key, form, false)?;
            apply_chunk(c, writer, first, Chunk::Prepared(prepared), |carry| {
                let carry = carry.expect("the first chunk is written in bulk whole");
                let prepared = prepare(second, key, form, true).unwrap();
                second_ahead = Some(plan_ahead(reader, writer, second, prepared, &carry).unwrap());
            })
        })
        .unwrap()
        .iter()
        .map(outcome)
        .collect();
        between(db);
        let ahead = Chunk::Ahead(second_ahead.expect("planned ahead"));
        out.extend(
            crate::db::write_with(db, |c| apply_chunk(c, writer, second, ahead, |_| ()))
                .unwrap()
                .iter()
                .map(outcome),
        );
        out
    }

    /// A write between two chunks of a batch (another request taking the write lock
    /// first) makes the plan made ahead stale: the chunk is planned again in its
    /// transaction, and the three give what single writes give.
    #[test]
    fn a_chunk_planned_ahead_is_planned_again_after_a_write_between() {
        let key = matching::MatchingKey::from_base64(&matching::MatchingKey::generate().unwrap())
            .unwrap();
        let system = AgencyId::parse("school-a-system").unwrap();
        let writer = loading_writer(&system, "00-ahead", &key);
        let (a, c, d, between_child) = (
            child(0, Some(1)),
            child(1, Some(3)),
            child(2, Some(4)),
            child(5, Some(2)),
        );
        let held = child(3, Some(2));
        let (r1, r2, r3) = (record("R1"), record("R2"), record("R3"));
        let first = [
            Write::Child {
                local_id: "L1",
                child: &a,
            },
            Write::Record {
                local_id: "L1",
                record: &r1,
                expect: Expect::Anything,
            },
        ];
        // In the second chunk: a UPN the write between takes (409), a record the write
        // between created (an update, one by one), and children and records new.
        let second = [
            Write::Child {
                local_id: "L3",
                child: &c,
            },
            Write::Child {
                local_id: "L2",
                child: &held,
            },
            Write::Record {
                local_id: "L3",
                record: &r3,
                expect: Expect::Anything,
            },
            Write::Record {
                local_id: "L1",
                record: &r2,
                expect: Expect::Anything,
            },
            Write::Child {
                local_id: "L4",
                child: &d,
            },
        ];
        let between = [
            Write::Child {
                local_id: "L9",
                child: &between_child,
            },
            Write::Record {
                local_id: "L1",
                record: &r2,
                expect: Expect::Anything,
            },
        ];
        let mut single = TestDb::fresh();
        let mut expected: Vec<String> = Vec::new();
        for w in first.iter().chain(&between).chain(&second) {
            expected.push(outcome(&crate::db::write_with(&mut single, |c| {
                apply(c, &writer, w)
            })));
        }
        let mut ahead = TestDb::shared();
        let mut reader = ahead.another();
        let mut between_outcomes = Vec::new();
        let mut got =
            write_planned_ahead(&mut ahead, &mut reader, &writer, &first, &second, |db| {
                for w in &between {
                    between_outcomes.push(outcome(&crate::db::write_with(db, |c| {
                        apply(c, &writer, w)
                    })));
                }
            });
        let second_outcomes = got.split_off(first.len());
        got.extend(between_outcomes);
        got.extend(second_outcomes);
        assert_eq!(got, expected);
        assert!(expected.iter().any(|o| o.contains("identifier-held")));
        let (x, y) = (stored(&mut ahead), stored(&mut single));
        let differing: Vec<(&String, &String)> =
            x.iter().zip(&y).filter(|(x, y)| x != y).take(3).collect();
        assert!(differing.is_empty() && x.len() == y.len(), "{differing:#?}");
        let verified = crate::db::audit::verify(&mut ahead).unwrap();
        assert!(verified.intact, "{verified:?}");
    }
}
