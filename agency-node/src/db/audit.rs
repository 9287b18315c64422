//! Appending to and reading the hash-chained audit log.

use super::DbConnection;
use super::DbError;
use super::schema::{audit_head, audit_log};
use crate::audit::{self, NewEntry};
use diesel::prelude::*;
use schemas::disclosure::{AuditVerification, Witnessed};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
// A missing value is NULL, not DEFAULT: what lets SQLite take many rows in one INSERT
// (with DEFAULT, diesel sends one statement a row).
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditRow {
    pub seq: i64,
    pub at: chrono::NaiveDateTime,
    pub action: String,
    pub actor_user: Option<String>,
    pub actor_role: Option<String>,
    pub actor_agency: Option<String>,
    pub via_member: String,
    pub purpose: Option<String>,
    pub legal_basis: Option<String>,
    pub override_reason: Option<String>,
    pub child_id: Option<String>,
    pub detail: String,
    pub correlation_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The entry this row records, as its hash covers it.
    pub fn entry(&self) -> Result<NewEntry, DbError> {
        Ok(NewEntry {
            action: match self.action.as_str() {
                "match" => "match",
                "disclosure" => "disclosure",
                "write" => "write",
                "confirm" => "confirm",
                other => return Err(DbError::Corrupt(format!("unknown audit action {other}"))),
            },
            actor_user: self.actor_user.clone(),
            actor_role: self.actor_role.clone(),
            actor_agency: self.actor_agency.clone(),
            via_member: self.via_member.clone(),
            purpose: self.purpose.clone(),
            legal_basis: self.legal_basis.clone(),
            override_reason: self.override_reason.clone(),
            child_id: self.child_id.clone(),
            detail: serde_json::from_str(&self.detail)
                .map_err(|e| DbError::Corrupt(format!("audit detail: {e}")))?,
            correlation_id: self.correlation_id.clone(),
        })
    }
}

/// The stored head: the last entry of the chain as of the last committed write.
fn stored_head(conn: &mut DbConnection) -> QueryResult<Option<(i64, String)>> {
    audit_head::table
        .select((audit_head::seq, audit_head::hash))
        .first(conn)
        .optional()
}

/// The stored head of the chain: the last committed entry's sequence number and hash
/// (`None` before the first entry). What a witness records as a checkpoint.
pub fn head(conn: &mut DbConnection) -> Result<Option<(i64, String)>, DbError> {
    Ok(stored_head(conn)?)
}

/// The newest entry after `seq`: one appended by the current write transaction (every
/// write moves the head to its last entry before it commits).
fn newest_after(conn: &mut DbConnection, seq: i64) -> QueryResult<Option<(i64, String)>> {
    audit_log::table
        .filter(audit_log::seq.gt(seq))
        .order(audit_log::seq.desc())
        .select((audit_log::seq, audit_log::hash))
        .first(conn)
        .optional()
}

/// Appends an entry. Call it inside [`super::write`], in the transaction of the change or
/// disclosure it records; the write moves the stored head when it commits.
///
/// The entry chains from the newest entry this transaction appended, else from the
/// stored head, never from whatever row is last in the table: entries cut from the end
/// stay detectable after later writes. The head row is written once per transaction,
/// not per entry: on PostgreSQL, rewriting one row ten thousand times in one
/// transaction (a batch) makes every later read of it walk all its versions.
pub fn append(conn: &mut DbConnection, entry: &NewEntry) -> Result<i64, DbError> {
    append_many(conn, std::slice::from_ref(entry))
}

/// Appends entries in order, each chained from the one before, in multi-row inserts
/// (the bulk path of a batch). Returns the last entry's sequence number.
pub fn append_many(conn: &mut DbConnection, entries: &[NewEntry]) -> Result<i64, DbError> {
    let rows = chained_rows(chain_end(conn)?, entries, false);
    insert_rows(conn, &rows)
}

/// Where the next entry chains from: the newest entry the current transaction appended,
/// else the stored head (`(0, GENESIS)` before the first entry). Read it inside the write
/// transaction; it holds until this transaction appends.
pub fn chain_end(conn: &mut DbConnection) -> Result<(i64, String), DbError> {
    let head = stored_head(conn)?.unwrap_or((0, audit::GENESIS.to_owned()));
    Ok(newest_after(conn, head.0)?.unwrap_or(head))
}

/// The rows of `entries` chained in order after `end` ([`chain_end`]): needs no
/// database, so the bulk path builds them on another thread while its other rows are
/// written. The rows and the JSON each hash covers are made on every core (on the
/// calling thread alone when `one_core`), then chained.
pub fn chained_rows(end: (i64, String), entries: &[NewEntry], one_core: bool) -> Vec<AuditRow> {
    let (seq, mut prev_hash) = end;
    let first = seq + 1;
    let at: Vec<chrono::NaiveDateTime> = entries.iter().map(|_| audit::now()).collect();
    let numbered: Vec<_> = entries.iter().zip(&at).enumerate().collect();
    let each = |part: &[(usize, (&NewEntry, &chrono::NaiveDateTime))]| {
        part.iter()
            .map(|&(n, (entry, &at))| {
                let seq = first + n as i64;
                let row = AuditRow {
                    seq,
                    at,
                    action: entry.action.to_owned(),
                    actor_user: entry.actor_user.clone(),
                    actor_role: entry.actor_role.clone(),
                    actor_agency: entry.actor_agency.clone(),
                    via_member: entry.via_member.clone(),
                    purpose: entry.purpose.clone(),
                    legal_basis: entry.legal_basis.clone(),
                    override_reason: entry.override_reason.clone(),
                    child_id: entry.child_id.clone(),
                    detail: entry.detail.to_string(),
                    correlation_id: entry.correlation_id.clone(),
                    prev_hash: String::new(),
                    hash: String::new(),
                };
                (row, audit::canonical(seq, at, entry))
            })
            .collect::<Vec<_>>()
    };
    let mut rows: Vec<(AuditRow, String)> = if one_core {
        each(&numbered)
    } else {
        crate::parallel::map_parts(&numbered, each).concat()
    };
    for (row, canonical) in &mut rows {
        let hash = audit::chain_hash_of(&prev_hash, canonical);
        row.prev_hash = std::mem::replace(&mut prev_hash, hash.clone());
        row.hash = hash;
    }
    rows.into_iter().map(|(row, _)| row).collect()
}

/// Writes rows made by [`chained_rows`] from the current [`chain_end`] (nothing appended
/// between), in multi-row inserts. Returns the last entry's sequence number (that of the
/// end when there are none).
pub fn insert_rows(conn: &mut DbConnection, rows: &[AuditRow]) -> Result<i64, DbError> {
    let Some(last) = rows.last() else {
        return Ok(chain_end(conn)?.0);
    };
    let last = last.seq;
    match conn {
        // PostgreSQL: one `COPY ... FROM STDIN` (binary), no statement to parse or plan.
        DbConnection::Pg(c) if rows.len() > 1 => {
            diesel::copy_from(audit_log::table)
                .from_insertable(rows)
                .execute(c)?;
        }
        _ => {
            for chunk in rows.chunks(super::ROWS_PER_INSERT) {
                super::on_backend!(&mut *conn, |c| diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(c))?;
            }
        }
    }
    Ok(last)
}

/// Moves the stored head to the last entry the current transaction appended, if any.
/// [`super::write`] calls it just before it commits.
pub(crate) fn move_head(conn: &mut DbConnection) -> QueryResult<()> {
    let head = stored_head(conn)?;
    let Some((seq, hash)) = newest_after(conn, head.as_ref().map_or(0, |h| h.0))? else {
        return Ok(());
    };
    if head.is_some() {
        diesel::update(audit_head::table.find(1))
            .set((audit_head::seq.eq(seq), audit_head::hash.eq(&hash)))
            .execute(conn)?;
    } else {
        diesel::insert_into(audit_head::table)
            .values((
                audit_head::id.eq(1),
                audit_head::seq.eq(seq),
                audit_head::hash.eq(&hash),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Entries read at a time by [`verify`]: the log is streamed, so verifying a log of any
/// length holds one page in memory.
pub const VERIFY_PAGE: i64 = 2_000;

/// Walks the whole chain in sequence order and reports the first entry that does not
/// chain: edited (its hash no longer matches), removed (a gap, or a `prev_hash` that is
/// not its predecessor's hash), reordered, or cut from the end (the head disagrees).
pub fn verify(conn: &mut DbConnection) -> Result<AuditVerification, DbError> {
    verify_against(conn, &[], VERIFY_PAGE)
}

/// [`verify`], and each witnessed checkpoint (its signature already checked) against the
/// entry it names: a log rewritten whole since a checkpoint, every hash recomputed,
/// chains, but its entry at the checkpoint no longer has the hash the node signed then.
/// Reads `page` entries at a time.
pub fn verify_against(
    conn: &mut DbConnection,
    witnessed: &[Witnessed],
    page: i64,
) -> Result<AuditVerification, DbError> {
    // The log and its head read from one snapshot: a write committing between the reads
    // would otherwise look like a cut.
    super::read_snapshot(conn, |conn| verify_snapshot(conn, witnessed, page.max(1)))
}

fn verify_snapshot(
    conn: &mut DbConnection,
    witnessed: &[Witnessed],
    page: i64,
) -> Result<AuditVerification, DbError> {
    let broken = |seq: i64, detail: String, entries: i64| AuditVerification {
        intact: false,
        entries: entries.max(0) as u64,
        first_broken: Some(seq),
        detail: Some(detail),
        witnesses: None,
    };
    let mut by_seq: std::collections::BTreeMap<i64, Vec<&Witnessed>> = Default::default();
    for w in witnessed {
        by_seq.entry(w.checkpoint.seq).or_default().push(w);
    }
    let mut prev_hash = audit::GENESIS.to_owned();
    let mut last: Option<(i64, String)> = None;
    loop {
        let after = last.as_ref().map_or(0, |(seq, _)| *seq);
        let rows: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq.asc())
            .limit(page)
            .select(AuditRow::as_select())
            .load(conn)?;
        let Some(end) = rows.last().map(|r| r.seq) else {
            break;
        };
        for row in &rows {
            let expected_seq = last.as_ref().map_or(1, |(s, _)| s + 1);
            if row.seq != expected_seq {
                return Ok(broken(
                    expected_seq,
                    format!("entry {expected_seq} is missing"),
                    row.seq,
                ));
            }
            if row.prev_hash != prev_hash {
                return Ok(broken(
                    row.seq,
                    "does not follow the entry before it".into(),
                    row.seq,
                ));
            }
            let recomputed = match row.entry() {
                Ok(entry) => audit::chain_hash(&prev_hash, row.seq, row.at, &entry),
                Err(e) => return Ok(broken(row.seq, e.to_string(), row.seq)),
            };
            if recomputed != row.hash {
                return Ok(broken(
                    row.seq,
                    "its content was changed after it was written".into(),
                    row.seq,
                ));
            }
            if let Some(w) = by_seq
                .get(&row.seq)
                .and_then(|ws| ws.iter().find(|w| w.checkpoint.hash != row.hash))
            {
                return Ok(broken(
                    row.seq,
                    format!(
                        "the log was rewritten: entry {} no longer has the hash this node signed \
                         in its checkpoint of {}, which {} keeps",
                        row.seq,
                        w.checkpoint.at.format("%Y-%m-%d %H:%M UTC"),
                        w.witness
                    ),
                    row.seq,
                ));
            }
            prev_hash = row.hash.clone();
            last = Some((row.seq, row.hash.clone()));
        }
        if end - after < page {
            break;
        }
    }
    let entries = last.as_ref().map_or(0, |(s, _)| *s);
    if let Some((seq, ws)) = by_seq.range(entries + 1..).next() {
        return Ok(broken(
            entries + 1,
            format!(
                "entries were removed: {} keeps this node's checkpoint at entry {seq}, and the \
                 log ends at entry {entries}",
                ws[0].witness
            ),
            entries,
        ));
    }
    let head: Option<(i64, String)> = audit_head::table
        .select((audit_head::seq, audit_head::hash))
        .first(conn)
        .optional()?;
    if head != last {
        return Ok(broken(
            entries + 1,
            "entries were removed from the end of the log".into(),
            entries,
        ));
    }
    Ok(AuditVerification {
        intact: true,
        entries: entries as u64,
        first_broken: None,
        detail: None,
        witnesses: None,
    })
}

/// Every entry about a child, oldest first.
/// How many break-glass grants this node made to one practitioner (by agency and
/// subject) since `since`: read from the audit, so every replica of the node counts the
/// same. Call it inside the write transaction that appends the next grant.
pub fn break_glass_since(
    conn: &mut DbConnection,
    agency: &str,
    subject: &str,
    since: chrono::NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(audit_log::table
        .filter(audit_log::action.eq(crate::audit::Action::BreakGlass.as_str()))
        .filter(audit_log::actor_agency.eq(agency))
        .filter(audit_log::actor_user.eq(subject))
        .filter(audit_log::at.ge(since))
        .count()
        .get_result(conn)?)
}

pub fn for_child(conn: &mut DbConnection, child_id: &str) -> Result<Vec<AuditRow>, DbError> {
    Ok(audit_log::table
        .filter(audit_log::child_id.eq(child_id))
        .order(audit_log::seq.asc())
        .select(AuditRow::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut DbConnection, seq: i64) -> Result<Option<AuditRow>, DbError> {
    Ok(audit_log::table
        .find(seq)
        .select(AuditRow::as_select())
        .first(conn)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> NewEntry {
        let system =
            schemas::AgencyId::parse("school-a-system").unwrap_or_else(|e| panic!("{e:?}"));
        NewEntry::by_system(&system, "test", None, serde_json::json!({"n": n}))
    }

    #[test]
    fn many_entries_appended_at_once_are_stored_in_order_and_chain() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        let pool = super::super::connect(&url).unwrap_or_else(|e| panic!("{e}"));
        let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
        let entries: Vec<NewEntry> = (1..=275).map(entry).collect();
        let last = super::super::write(&mut conn, |c| append_many(c, &entries))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(last, 275);
        // A second batch, chained from the first one's last entry.
        let more: Vec<NewEntry> = (276..=550).map(entry).collect();
        super::super::write(&mut conn, |c| append_many(c, &more)).unwrap_or_else(|e| panic!("{e}"));
        let details: Vec<(i64, String)> = audit_log::table
            .order(audit_log::seq.asc())
            .select((audit_log::seq, audit_log::detail))
            .load(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let expected: Vec<(i64, String)> =
            (1..=550).map(|n| (n, format!(r#"{{"n":{n}}}"#))).collect();
        assert_eq!(details, expected);
        let result = verify(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert!(result.intact, "{result:?}");
        assert_eq!(result.entries, 550);
    }

    #[test]
    fn verification_reads_the_log_a_page_at_a_time_and_finds_an_edit_on_any_page() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        let pool = super::super::connect(&url).unwrap_or_else(|e| panic!("{e}"));
        let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
        for n in 1..=7 {
            super::super::write(&mut conn, |c| append(c, &entry(n)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for page in [1, 2, 3, 7, 100] {
            let result = verify_against(&mut conn, &[], page).unwrap_or_else(|e| panic!("{e}"));
            assert!(result.intact, "page {page}: {result:?}");
            assert_eq!(result.entries, 7, "page {page}");
        }
        diesel::update(audit_log::table.find(5))
            .set(audit_log::detail.eq(r#"{"n":50}"#))
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{e}"));
        for page in [1, 2, 3, 7] {
            let result = verify_against(&mut conn, &[], page).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (result.intact, result.first_broken),
                (false, Some(5)),
                "page {page}: {result:?}"
            );
        }
    }
}
