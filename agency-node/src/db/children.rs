//! The children table: upserts, lookups by local id and identifier, and the candidate
//! rows matching reads by blocking key.

use super::DbConnection;
use super::DbError;
use super::models::{CandidateRow, ChildRow};
use super::schema::child_former_family_keys::dsl as ff;
use super::schema::child_former_upns::dsl as fu;
use super::schema::children::dsl as c;
use diesel::prelude::*;
use matching::{BlockingKeys, MATCH_KEYS_VERSION};
use schemas::ChildUpsert;

/// Inserts or updates the child with this local id; returns the stored row and whether
/// it was new. Call it inside [`super::write`].
pub fn upsert(
    conn: &mut DbConnection,
    local_id: &str,
    child: &ChildUpsert,
) -> Result<(ChildRow, bool), DbError> {
    let now = chrono::Utc::now().naive_utc();
    let existing = find_by_local_id(conn, local_id)?;
    match existing {
        Some(old) => {
            let mut row = ChildRow::new(
                old.id.clone(),
                local_id,
                &child.demographics,
                &child.identifiers,
                now,
            );
            row.created_at = old.created_at;
            diesel::update(c::children.find(&old.id))
                .set(&row)
                .execute(conn)?;
            if row.former_upns != old.former_upns {
                diesel::delete(fu::child_former_upns.filter(fu::child_id.eq(&old.id)))
                    .execute(conn)?;
                insert_former_upns(conn, &[&row])?;
            }
            if row.former_family_names != old.former_family_names
                || row.date_of_birth != old.date_of_birth
            {
                replace_former_family_keys(conn, &[&row])?;
            }
            super::name_counts::record_write(
                conn,
                Some((&old.given_name, &old.family_name)),
                &row.given_name,
                &row.family_name,
            )?;
            Ok((row, false))
        }
        None => {
            let row = ChildRow::new(
                super::new_row_id(),
                local_id,
                &child.demographics,
                &child.identifiers,
                now,
            );
            diesel::insert_into(c::children)
                .values(&row)
                .execute(conn)?;
            insert_former_upns(conn, &[&row])?;
            insert_former_family_keys(conn, &[&row])?;
            super::name_counts::record_write(conn, None, &row.given_name, &row.family_name)?;
            Ok((row, true))
        }
    }
}

/// Keeps the former UPNs of these rows one a row in `child_former_upns`, so that a
/// search by UPN reads them through an index.
fn insert_former_upns(conn: &mut DbConnection, rows: &[&ChildRow]) -> Result<(), DbError> {
    let pairs: Vec<_> = rows
        .iter()
        .flat_map(|row| {
            super::models::former_upns_of(row.former_upns.as_deref())
                .into_iter()
                .map(|upn| (fu::upn.eq(upn), fu::child_id.eq(row.id.clone())))
        })
        .collect();
    for chunk in pairs.chunks(super::ROWS_PER_INSERT) {
        super::on_backend!(&mut *conn, |db| diesel::insert_into(fu::child_former_upns)
            .values(chunk)
            .execute(db))?;
    }
    Ok(())
}

/// Keeps the phonetic codes of these rows' former family names one a row in
/// `child_former_family_keys`, with the child's date of birth (see
/// [`matching::keys::former_family_keys`]).
fn insert_former_family_keys(conn: &mut DbConnection, rows: &[&ChildRow]) -> Result<(), DbError> {
    let triples: Vec<_> = rows
        .iter()
        .filter(|row| row.former_family_names.is_some())
        .flat_map(|row| {
            let names = super::models::former_family_names_of(row.former_family_names.as_deref());
            matching::keys::former_family_keys(&names)
                .into_iter()
                .map(|key| {
                    (
                        ff::family_name_key.eq(key),
                        ff::date_of_birth.eq(row.date_of_birth),
                        ff::child_id.eq(row.id.clone()),
                    )
                })
        })
        .collect();
    for chunk in triples.chunks(super::ROWS_PER_INSERT) {
        super::on_backend!(&mut *conn, |db| diesel::insert_into(
            ff::child_former_family_keys
        )
        .values(chunk)
        .execute(db))?;
    }
    Ok(())
}

/// [`insert_former_family_keys`] for rows that may hold keys already (an update, a
/// refresh of the keys).
fn replace_former_family_keys(conn: &mut DbConnection, rows: &[&ChildRow]) -> Result<(), DbError> {
    for row in rows {
        diesel::delete(ff::child_former_family_keys.filter(ff::child_id.eq(&row.id)))
            .execute(conn)?;
    }
    insert_former_family_keys(conn, rows)
}

/// Whether any child here was known by a former family name with one of these phonetic
/// codes (one indexed read): while none is, no candidate can agree on a former family
/// name, and the bounds that leave rows unread or uncompared need not allow for one.
pub fn any_former_family_key(conn: &mut DbConnection, keys: &[String]) -> Result<bool, DbError> {
    if keys.is_empty() {
        return Ok(false);
    }
    Ok(ff::child_former_family_keys
        .filter(ff::family_name_key.eq_any(keys))
        .select(ff::child_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// The children other than `local_id` that hold one of these identifiers, as (field,
/// their local id): an identifier names one child at a node (the unique indexes of
/// migration `2026-12-05-002200_identifiers_unique` enforce it; this names the holder).
pub fn identifiers_held_elsewhere(
    conn: &mut DbConnection,
    local_id: &str,
    identifiers: &schemas::ChildIdentifiers,
) -> Result<Vec<(&'static str, String)>, DbError> {
    let mut held = Vec::new();
    if let Some(upn) = &identifiers.upn
        && let Some(other) = c::children
            .filter(c::upn.eq(upn.as_str()))
            .filter(c::local_id.ne(local_id))
            .select(c::local_id)
            .first::<String>(conn)
            .optional()?
    {
        held.push(("identifiers.upn", other));
    }
    if let Some(nhs) = &identifiers.nhs_number
        && let Some(other) = c::children
            .filter(c::nhs_number.eq(nhs.as_str()))
            .filter(c::local_id.ne(local_id))
            .select(c::local_id)
            .first::<String>(conn)
            .optional()?
    {
        held.push(("identifiers.nhs_number", other));
    }
    Ok(held)
}

/// The children with these local ids, by local id (the bulk path reads a chunk's at
/// once).
pub fn by_local_ids(
    conn: &mut DbConnection,
    local_ids: &[&str],
) -> Result<std::collections::HashMap<String, ChildRow>, DbError> {
    let mut found = std::collections::HashMap::new();
    for chunk in local_ids.chunks(super::ROWS_PER_INSERT) {
        for row in c::children
            .filter(c::local_id.eq_any(chunk))
            .select(ChildRow::as_select())
            .load::<ChildRow>(conn)?
        {
            found.insert(row.local_id.clone(), row);
        }
    }
    Ok(found)
}

/// (identifier, local id of the child holding it) pairs.
pub type Holders = Vec<(String, String)>;

/// Who holds each of these UPNs and NHS numbers.
pub fn identifier_holders(
    conn: &mut DbConnection,
    upns: &[&str],
    nhs_numbers: &[&str],
) -> Result<(Holders, Holders), DbError> {
    let mut by_upn = Vec::new();
    for chunk in upns.chunks(super::ROWS_PER_INSERT) {
        by_upn.extend(
            c::children
                .filter(c::upn.eq_any(chunk))
                .select((c::upn.assume_not_null(), c::local_id))
                .load::<(String, String)>(conn)?,
        );
    }
    let mut by_nhs = Vec::new();
    for chunk in nhs_numbers.chunks(super::ROWS_PER_INSERT) {
        by_nhs.extend(
            c::children
                .filter(c::nhs_number.eq_any(chunk))
                .select((c::nhs_number.assume_not_null(), c::local_id))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok((by_upn, by_nhs))
}

/// The children holding one of these UPNs as a former UPN, as (UPN, their local id).
pub fn former_upn_holders(conn: &mut DbConnection, upns: &[&str]) -> Result<Holders, DbError> {
    let mut found = Vec::new();
    for chunk in upns.chunks(super::ROWS_PER_INSERT) {
        found.extend(
            fu::child_former_upns
                .inner_join(c::children)
                .filter(fu::upn.eq_any(chunk))
                .select((fu::upn, c::local_id))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// Inserts new children in multi-row statements, with their names counted (the bulk
/// path; each row built by [`ChildRow::new`]). Call it inside [`super::write`].
pub fn insert_new(conn: &mut DbConnection, rows: &[ChildRow]) -> Result<(), DbError> {
    match conn {
        // PostgreSQL: one `COPY ... FROM STDIN` (binary), no statement to parse or plan.
        DbConnection::Pg(db) if !rows.is_empty() => {
            diesel::copy_from(c::children)
                .from_insertable(rows)
                .execute(db)?;
        }
        _ => {
            for chunk in rows.chunks(super::ROWS_PER_INSERT) {
                super::on_backend!(&mut *conn, |db| diesel::insert_into(c::children)
                    .values(chunk)
                    .execute(db))?;
            }
        }
    }
    let with_former: Vec<&ChildRow> = rows.iter().filter(|r| r.former_upns.is_some()).collect();
    insert_former_upns(conn, &with_former)?;
    insert_former_family_keys(conn, &rows.iter().collect::<Vec<_>>())?;
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.given_name.as_str(), r.family_name.as_str()))
        .collect();
    super::name_counts::record_new(conn, &names)
}

pub fn find_by_local_id(
    conn: &mut DbConnection,
    local_id: &str,
) -> Result<Option<ChildRow>, DbError> {
    Ok(c::children
        .filter(c::local_id.eq(local_id))
        .select(ChildRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<ChildRow>, DbError> {
    Ok(c::children
        .find(id)
        .select(ChildRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_upn(conn: &mut DbConnection, upn: &str) -> Result<Vec<ChildRow>, DbError> {
    first_with_identifier(conn, c::children.filter(c::upn.eq(upn)).into_boxed())
}

/// The children known by this UPN: as their UPN, then as a former UPN (the first
/// [`IDENTIFIER_ROWS`] of each).
pub fn find_by_current_or_former_upn(
    conn: &mut DbConnection,
    upn: &str,
) -> Result<Vec<ChildRow>, DbError> {
    let mut rows = find_by_upn(conn, upn)?;
    let former = fu::child_former_upns
        .filter(fu::upn.eq(upn))
        .select(fu::child_id);
    for row in first_with_identifier(conn, c::children.filter(c::id.eq_any(former)).into_boxed())? {
        if !rows.iter().any(|r| r.id == row.id) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The given and family names of these children, by row id (for keyed matching's typo
/// rule and frequency-based name weights).
pub fn names(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, (String, String)>, DbError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(c::children
        .filter(c::id.eq_any(ids))
        .select((c::id, c::given_name, c::family_name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, given, family)| (id, (given, family)))
        .collect())
}

pub fn find_by_nhs_number(conn: &mut DbConnection, nhs: &str) -> Result<Vec<ChildRow>, DbError> {
    first_with_identifier(conn, c::children.filter(c::nhs_number.eq(nhs)).into_boxed())
}

/// The first [`IDENTIFIER_ROWS`] children `query` (filtered on one identifier) finds.
fn first_with_identifier(
    conn: &mut DbConnection,
    query: Block<'_>,
) -> Result<Vec<ChildRow>, DbError> {
    first_rows(
        limit_on_postgres(conn, query, IDENTIFIER_ROWS)
            .select(ChildRow::as_select())
            .load_iter::<ChildRow, diesel::connection::DefaultLoadingMode>(conn)?,
        IDENTIFIER_ROWS,
    )
}

/// Most children read for one identifier (an identifier names one child; a few more
/// show a duplicate).
const IDENTIFIER_ROWS: usize = 5;

/// The first `n` rows. A cap applied while stepping through the rows rather than as a
/// bound `LIMIT`: SQLite's planner reads a bound `LIMIT` when preparing, so binding it
/// (at every use of the cached statement) expires the statement and SQLite prepares it
/// again at the first step. The rows and their order are those of the query with the
/// `LIMIT`.
/// `query` with a bound `LIMIT n` on PostgreSQL only: PostgreSQL sends a whole result at
/// once, so there the cap belongs in the query (and a bound `LIMIT` costs nothing);
/// SQLite steps row by row and the cap is applied while stepping (see [`first_rows`]).
fn limit_on_postgres<'a>(conn: &DbConnection, query: Block<'a>, n: usize) -> Block<'a> {
    match conn {
        DbConnection::Pg(_) => query.limit(i64::try_from(n).unwrap_or(i64::MAX)),
        DbConnection::Sqlite(_) => query,
    }
}

fn first_rows<T>(rows: impl Iterator<Item = QueryResult<T>>, n: usize) -> Result<Vec<T>, DbError> {
    Ok(rows.take(n).collect::<QueryResult<Vec<T>>>()?)
}

/// Which blocks of a search to read (see [`match_candidates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The phonetic family name (either stored key) with the date of birth as given,
    /// day and month swapped, or one digit off: a few rows, read first. A child whose
    /// name and date of birth agree (allowing for those slips) is always in them, and so
    /// is one recorded with given and family name the other way round (the query's given
    /// name read as a family key), and one known before by the query's family name (a
    /// former family name's key, with the date of birth).
    Narrow,
    /// The broad blocks, each capped at `per_block` rows: date of birth (as given or
    /// swapped) alone; a former family name's key, any date; phonetic family name and
    /// birth year; postcode sector and birth year; the children held without a date of
    /// birth in the postcode sector; phonetic family name and postcode sector, any year.
    /// They find the children whose family name or date of birth changed.
    Broad,
    Both,
}

/// The blocks of the narrow tier: they come first in [`blocks_for`].
const NARROW_BLOCKS: usize = 4;

/// Candidates for a demographic match: the union of the blocks of `keys` in `tier`, each
/// read through its own index and capped at `per_block` rows, so a search never scans
/// the table. Also says whether every block read was complete (none reached
/// `per_block`). Rows whose id is in `skip` (already read) are left out.
pub fn match_candidates(
    conn: &mut DbConnection,
    keys: &BlockingKeys,
    per_block: i64,
    tier: Tier,
    skip: &std::collections::HashSet<String>,
) -> Result<(Vec<CandidateRow>, bool), DbError> {
    let mut found: Vec<CandidateRow> = Vec::new();
    let complete = each_match_candidate(conn, keys, per_block, tier, skip, |row| {
        found.push(row);
        Ok(())
    })?;
    Ok((found, complete))
}

/// [`match_candidates`], each row handed to `each` as it is read (in the same order)
/// instead of collected: a row that `each` does not keep is freed before the next is
/// read, which spares a broad search hundreds of live allocations.
pub fn each_match_candidate(
    conn: &mut DbConnection,
    keys: &BlockingKeys,
    per_block: i64,
    tier: Tier,
    skip: &std::collections::HashSet<String>,
    mut each: impl FnMut(CandidateRow) -> Result<(), DbError>,
) -> Result<bool, DbError> {
    let mut seen = std::collections::HashSet::new();
    let mut complete = true;
    let chosen = blocks(keys)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| match tier {
            Tier::Narrow => *i < NARROW_BLOCKS,
            Tier::Broad => *i >= NARROW_BLOCKS,
            Tier::Both => true,
        });
    let cap = usize::try_from(per_block).unwrap_or(0);
    for (_, (live, block)) in chosen {
        if !live {
            continue;
        }
        // On SQLite capped while stepping, not with a bound `LIMIT` (see `first_rows`).
        let mut read = 0;
        for row in limit_on_postgres(conn, block, cap)
            .select(CandidateRow::as_select())
            .load_iter::<CandidateRow, diesel::connection::DefaultLoadingMode>(conn)?
            .take(cap)
        {
            let row = row?;
            read += 1;
            if !skip.contains(&row.id) && seen.insert(row.id.clone()) {
                each(row)?;
            }
        }
        complete &= read < cap;
    }
    Ok(complete)
}

type Block<'a> = super::schema::children::BoxedQuery<'a, super::DbBackend>;

/// The blocks of `keys` as boxed queries for backend `$db`: the node's own backend, or
/// one concrete backend in tests that read their query plans. The narrow tier's
/// [`NARROW_BLOCKS`] come first.
macro_rules! blocks_for {
    ($db:ty, $keys:expr) => {{
        let keys: &BlockingKeys = $keys;
        // The same phonetic family name with the date of birth, the swapped date or a
        // date one digit off (in the year too, which no other block reads): the
        // smallest blocks, complete even where the date-of-birth block alone is cut at
        // `per_block` (about 150 children share a birthday among 1,000,000). An index on
        // (key, date of birth) each.
        let near: Vec<chrono::NaiveDate> =
            keys.dates.iter().chain(&keys.near_dates).copied().collect();
        // Whether a block can hold anything: a partial search has no keys for some
        // (no family name, or no date of birth), and those are not read at all.
        let (named, dated) = (!keys.family.is_empty(), !near.is_empty());
        let mut blocks = vec![
            (
                named && dated,
                c::children
                    .filter(c::family_name_key.eq_any(&keys.family))
                    .filter(c::date_of_birth.eq_any(near.clone()))
                    .into_boxed::<$db>(),
            ),
            // The query's given name read as a family name: a child recorded with the
            // names the other way round (its own block, on the same index).
            (
                !keys.transposed.is_empty() && dated,
                c::children
                    .filter(c::family_name_key.eq_any(&keys.transposed))
                    .filter(c::date_of_birth.eq_any(near.clone()))
                    .into_boxed(),
            ),
            (
                named && dated,
                c::children
                    .filter(c::family_name_key2.is_not_null())
                    .filter(c::family_name_key2.assume_not_null().eq_any(&keys.family))
                    .filter(c::date_of_birth.eq_any(near.clone()))
                    .into_boxed(),
            ),
            // A child known before by the query's family name (a former family name),
            // with the date of birth or a slip of it: through the former names' keys.
            (
                named && dated,
                c::children
                    .filter(
                        c::id.eq_any(
                            ff::child_former_family_keys
                                .filter(ff::family_name_key.eq_any(&keys.family))
                                .filter(ff::date_of_birth.eq_any(near))
                                .select(ff::child_id),
                        ),
                    )
                    .into_boxed(),
            ),
            (
                dated,
                c::children
                    .filter(c::date_of_birth.eq_any(&keys.dates))
                    .into_boxed(),
            ),
            // The former family name, any date of birth (a replaced date too).
            (
                named,
                c::children
                    .filter(
                        c::id.eq_any(
                            ff::child_former_family_keys
                                .filter(ff::family_name_key.eq_any(&keys.family))
                                .select(ff::child_id),
                        ),
                    )
                    .into_boxed(),
            ),
        ];
        // The phonetic family name with the birth year; a search without a date of
        // birth reads it across every year, through the same indexes' first column
        // (capped like every broad block: for a common name at a big node, only the
        // first rows).
        let mut by_year = c::children
            .filter(c::family_name_key.eq_any(&keys.family))
            .into_boxed();
        let mut by_year2 = c::children
            .filter(c::family_name_key2.is_not_null())
            .filter(c::family_name_key2.assume_not_null().eq_any(&keys.family))
            .into_boxed();
        if let Some(year) = keys.birth_year {
            by_year = by_year.filter(c::birth_year.eq(year));
            by_year2 = by_year2.filter(c::birth_year.eq(year));
        }
        blocks.push((named, by_year));
        blocks.push((named, by_year2));
        // Children held without a date of birth (a partial child), by family name: no
        // date block reads them, and a missing date is no evidence against them.
        blocks.push((
            named,
            c::children
                .filter(c::family_name_key.eq_any(&keys.family))
                .filter(c::date_of_birth.eq(crate::db::models::UNKNOWN_DATE_OF_BIRTH))
                .into_boxed(),
        ));
        if let Some(sector) = &keys.postcode_sector {
            if let Some(year) = keys.birth_year {
                blocks.push((
                    true,
                    c::children
                        .filter(c::postcode_sector.eq(sector))
                        .filter(c::birth_year.eq(year))
                        .into_boxed(),
                ));
            }
            // Children held without a date of birth in the sector, any family name: a
            // family name mistyped so that its phonetic code changed hides such a child
            // from every family block, and no date block reads it. A few rows (the
            // partial children of one sector), on the sector-and-year index.
            blocks.push((
                true,
                c::children
                    .filter(c::postcode_sector.eq(sector))
                    .filter(c::birth_year.eq(matching::UNKNOWN_BIRTH_YEAR))
                    .into_boxed(),
            ));
            // The phonetic family name in the same postcode sector, any year: a child
            // whose date of birth was replaced (no date block reads it). A few rows: one
            // family's children, and namesakes nearby.
            blocks.push((
                named,
                c::children
                    .filter(c::family_name_key.eq_any(&keys.family))
                    .filter(c::postcode_sector.eq(sector))
                    .into_boxed(),
            ));
        }
        blocks
    }};
}

/// The blocks of `keys`, each with whether it can hold anything (see [`blocks_for`]).
fn blocks(keys: &BlockingKeys) -> Vec<(bool, Block<'_>)> {
    blocks_for!(super::DbBackend, keys)
}

/// Computes the blocking keys of rows written before they existed, or under an older
/// way of computing them, in batches. Runs at start; a no-op once every row is current.
pub fn refresh_match_keys(conn: &mut DbConnection) -> Result<usize, DbError> {
    let mut refreshed = 0;
    loop {
        let stale: Vec<ChildRow> = c::children
            .filter(c::match_keys_version.ne(MATCH_KEYS_VERSION))
            .select(ChildRow::as_select())
            .limit(500)
            .load(conn)?;
        if stale.is_empty() {
            return Ok(refreshed);
        }
        super::write(conn, |conn| {
            for old in &stale {
                let wire = old.clone().into_wire()?;
                let mut row = ChildRow::new(
                    old.id.clone(),
                    &old.local_id,
                    &wire.demographics,
                    &wire.identifiers,
                    old.updated_at,
                );
                row.created_at = old.created_at;
                diesel::update(c::children.find(&old.id))
                    .set((
                        c::family_name_key.eq(&row.family_name_key),
                        c::family_name_key2.eq(&row.family_name_key2),
                        c::birth_year.eq(row.birth_year),
                        c::postcode_sector.eq(&row.postcode_sector),
                        c::match_keys_version.eq(row.match_keys_version),
                    ))
                    .execute(conn)?;
                replace_former_family_keys(conn, &[&row])?;
            }
            Ok(())
        })?;
        refreshed += stale.len();
    }
}

/// About how many children the node holds, cheaply enough to ask at every search: in
/// SQLite the largest row id (an overestimate after deletions, which only makes matching
/// more careful); in PostgreSQL the planner's row estimate for the table (kept by
/// autovacuum's ANALYZE) or the statistics collector's live-row count, whichever is
/// larger, or the exact count while there is neither (a new, empty node).
pub fn estimated_count(conn: &mut DbConnection) -> Result<u64, DbError> {
    let estimate = match conn {
        DbConnection::Sqlite(lite) => max_rowid(lite)?,
        DbConnection::Pg(pg) => {
            // The larger of the planner's estimate and the statistics collector's
            // live-row count (kept at every commit): a table never analysed (reltuples
            // -1: autovacuum has not run yet, or is off) still has the latter, and
            // counting a million rows would cost every search a full scan (100-250 ms
            // measured). The larger, since an overestimate only makes matching more
            // careful and either may be stale.
            let n = diesel::sql_query(
                "SELECT COALESCE(GREATEST(\
                   (SELECT MAX(reltuples)::bigint FROM pg_class \
                    WHERE oid = 'children'::regclass AND reltuples >= 0), \
                   (SELECT NULLIF(MAX(n_live_tup), 0) FROM pg_stat_user_tables \
                    WHERE relid = 'children'::regclass)), \
                   -1) AS n",
            )
            .get_result::<Number>(pg)?
            .n;
            if n < 0 {
                c::children.count().get_result(pg)?
            } else {
                n
            }
        }
    };
    Ok(u64::try_from(estimate).unwrap_or(0))
}

/// Given and family name, date of birth, sex and postcode.
type SampleRow = (
    String,
    String,
    chrono::NaiveDate,
    Option<String>,
    Option<String>,
);

/// A uniform random sample of up to `limit` children's demographics, for estimating match
/// weights from the node's own data (`agency-node matching estimate-u`). Complete children
/// only: the estimate compares pairs field by field, and a partial child's missing fields
/// are no evidence either way.
///
/// In SQLite, once the table is more than [`PROBE_FROM`] times the sample, by probing
/// random row ids ([`sample_by_rowid`]): a few thousand point reads instead of reading
/// every child to sort them by `RANDOM()`, which at 1,000,000 children brought the whole
/// table through the memory map (`docs/benchmarks.md`). In PostgreSQL (whose server
/// does the scan, keeping only the top `limit` rows) and in a small table, `ORDER BY
/// RANDOM()`.
pub fn sample(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<matching::estimate::Sampled>, DbError> {
    let probed = match conn {
        DbConnection::Sqlite(lite) => {
            let max = max_rowid(lite)?;
            if max > limit.saturating_mul(PROBE_FROM) {
                sample_by_rowid(lite, limit, max)?
            } else {
                None
            }
        }
        DbConnection::Pg(_) => None,
    };
    let rows = match probed {
        Some(rows) => rows,
        None => complete_children()
            .select(sample_columns())
            .order(diesel::dsl::sql::<diesel::sql_types::Double>("RANDOM()"))
            .limit(limit)
            .load(conn)?,
    };
    Ok(rows
        .into_iter()
        .map(|(given_name, family_name, date_of_birth, sex, postcode)| {
            matching::estimate::Sampled {
                given_name,
                family_name,
                date_of_birth,
                sex,
                postcode,
            }
        })
        .collect())
}

/// Row ids are probed once the largest is more than this many times the sample asked.
const PROBE_FROM: i64 = 4;
/// Rounds of probes before the sample falls back to `ORDER BY RANDOM()`.
const PROBE_ROUNDS: usize = 8;
/// Row ids per query (SQLite binds each as a parameter).
const PROBE_CHUNK: usize = 500;

#[diesel::dsl::auto_type]
fn complete_children() -> _ {
    let unknown: chrono::NaiveDate = crate::db::models::UNKNOWN_DATE_OF_BIRTH;
    let empty: &'static str = "";
    c::children
        .filter(c::date_of_birth.ne(unknown))
        .filter(c::given_name.ne(empty))
        .filter(c::family_name.ne(empty))
}

#[diesel::dsl::auto_type]
fn sample_columns() -> _ {
    (
        c::given_name,
        c::family_name,
        c::date_of_birth,
        c::sex,
        c::postcode,
    )
}

/// One number a raw query selects as `n`.
#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The children table's largest row id (0 when empty).
fn max_rowid(lite: &mut diesel::SqliteConnection) -> Result<i64, DbError> {
    Ok(
        diesel::sql_query("SELECT COALESCE(MAX(rowid), 0) AS n FROM children")
            .get_result::<Number>(lite)?
            .n,
    )
}

/// Up to `limit` complete children whose row ids are drawn uniformly without replacement
/// from `1..=max`, in rounds sized by the share of probes that found a complete child so
/// far (deleted rows and partial children miss). Every complete child is equally likely
/// to be drawn, and the rows found are shuffled before the sample is cut to `limit`, so
/// the sample is uniform, as `ORDER BY RANDOM()` is. `None` when the rounds did not find
/// `limit` (a table mostly of holes or partial children): the caller then sorts.
fn sample_by_rowid(
    lite: &mut diesel::SqliteConnection,
    limit: i64,
    max: i64,
) -> Result<Option<Vec<SampleRow>>, DbError> {
    use rand::Rng;
    use rand::seq::SliceRandom;
    let want = usize::try_from(limit).unwrap_or(0);
    let mut rng = rand::rng();
    let mut probed = std::collections::HashSet::new();
    let mut rows: Vec<SampleRow> = Vec::with_capacity(want);
    for _ in 0..PROBE_ROUNDS {
        let missing = want.saturating_sub(rows.len());
        let untried = u64::try_from(max).unwrap_or(0) - probed.len() as u64;
        if missing == 0 || untried == 0 {
            break;
        }
        let hit_rate = if probed.is_empty() {
            1.0
        } else {
            (rows.len() as f64 / probed.len() as f64).max(0.02)
        };
        let ask = ((missing as f64 / hit_rate) * 1.25).ceil() as u64 + 16;
        let ask = ask.min(untried).min(want as u64 * 50) as usize;
        let mut ids = Vec::with_capacity(ask);
        while ids.len() < ask {
            let id = rng.random_range(1..=max);
            if probed.insert(id) {
                ids.push(id);
            }
        }
        for chunk in ids.chunks(PROBE_CHUNK) {
            let found: Vec<SampleRow> = complete_children()
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::BigInt>("children.rowid").eq_any(chunk),
                )
                .select(sample_columns())
                .load(lite)?;
            rows.extend(found);
        }
    }
    if rows.len() < want {
        return Ok(None);
    }
    rows.shuffle(&mut rng);
    rows.truncate(want);
    Ok(Some(rows))
}

pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(c::children.count().get_result(conn)?)
}

/// What the record locator keys of one child: identifiers and demographics.
pub type LocatorRow = (
    Option<String>,
    Option<String>,
    String,
    String,
    chrono::NaiveDate,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Every child's locator inputs (UPN, NHS number, given and family name, date of birth,
/// postcode, sex, former UPNs as stored), in pages so the whole table is never one result set.
pub fn locator_rows(
    conn: &mut DbConnection,
    mut each: impl FnMut(LocatorRow),
) -> Result<u64, DbError> {
    const PAGE: i64 = 10_000;
    let mut after = String::new();
    let mut count = 0u64;
    loop {
        let page: Vec<(String, LocatorRow)> = c::children
            .filter(c::id.gt(&after))
            .order(c::id.asc())
            .select((
                c::id,
                (
                    c::upn,
                    c::nhs_number,
                    c::given_name,
                    c::family_name,
                    c::date_of_birth,
                    c::postcode,
                    c::sex,
                    c::former_upns,
                ),
            ))
            .limit(PAGE)
            .load(conn)?;
        let last = page.last().map(|(id, _)| id.clone());
        for (_, row) in page {
            each(row);
            count += 1;
        }
        match last {
            Some(id) => after = id,
            None => return Ok(count),
        }
    }
}

/// Stores a child as the releases before migration `2026-12-05-033000` did (without the
/// columns it adds): tests of older schemas.
#[cfg(test)]
pub(crate) fn upsert_as_before_former_upns(
    conn: &mut DbConnection,
    local_id: &str,
    child: &ChildUpsert,
) -> Result<ChildRow, DbError> {
    let row = ChildRow::new(
        uuid::Uuid::new_v4().to_string(),
        local_id,
        &child.demographics,
        &child.identifiers,
        chrono::Utc::now().naive_utc(),
    );
    super::on_backend!(&mut *conn, |db| diesel::insert_into(c::children)
        .values((
            (
                c::id.eq(&row.id),
                c::local_id.eq(&row.local_id),
                c::given_name.eq(&row.given_name),
                c::family_name.eq(&row.family_name),
                c::given_name_norm.eq(&row.given_name_norm),
                c::family_name_norm.eq(&row.family_name_norm),
                c::date_of_birth.eq(row.date_of_birth),
                c::sex.eq(&row.sex),
                c::postcode.eq(&row.postcode),
                c::postcode_norm.eq(&row.postcode_norm),
            ),
            (
                c::upn.eq(&row.upn),
                c::nhs_number.eq(&row.nhs_number),
                c::created_at.eq(row.created_at),
                c::updated_at.eq(row.updated_at),
                c::family_name_key.eq(&row.family_name_key),
                c::family_name_key2.eq(&row.family_name_key2),
                c::birth_year.eq(row.birth_year),
                c::postcode_sector.eq(&row.postcode_sector),
                c::match_keys_version.eq(row.match_keys_version),
            ),
        ))
        .execute(db))?;
    Ok(row)
}

/// Up to `limit` children after `after` (a local id), in local id order: a cohort
/// listing pages through the node's children in the agency's own order.
pub fn page_after(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ChildRow>, DbError> {
    let mut query = c::children
        .order(c::local_id.asc())
        .limit(limit)
        .select(ChildRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(c::local_id.gt(after));
    }
    Ok(query.load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDb;
    use diesel::connection::SimpleConnection;
    use schemas::{ChildIdentifiers, Demographics};

    fn memory_db() -> TestDb {
        TestDb::fresh()
    }

    /// A node that accepted one UPN for three local ids (and an NHS number for two)
    /// before identifiers were unique: after the migration the first child keeps each,
    /// the others are listed in `identifier_conflicts`, and the index refuses a new one.
    #[test]
    fn identifiers_held_twice_before_the_migration_are_kept_once_and_listed() {
        use crate::db::schema::identifier_conflicts::dsl as ic;
        let mut db = TestDb::before("2026-12-05-002200");
        let upn = schemas::Upn::parse("U999123456789").unwrap();
        let nhs = schemas::NhsNumber::parse("9434765919").unwrap();
        for (n, local_id) in ["D-1", "D-2", "D-3"].into_iter().enumerate() {
            let child = ChildUpsert {
                demographics: Demographics {
                    given_name: "Amelia".into(),
                    family_name: "Okafor".into(),
                    date_of_birth: "2014-03-09".parse().unwrap(),
                    sex: None,
                    postcode: None,
                }
                .into(),
                identifiers: ChildIdentifiers {
                    upn: Some(upn.clone()),
                    nhs_number: (n < 2).then(|| nhs.clone()),
                    ..Default::default()
                },
            };
            super::super::write(&mut db, |conn| {
                upsert_as_before_former_upns(conn, local_id, &child)
            })
            .unwrap();
            // Distinct creation times, in local-id order.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        crate::db::migrate(&mut db).unwrap();

        let held = |db: &mut TestDb, id: &str| {
            let row = find_by_local_id(db, id).unwrap().unwrap();
            (row.upn.is_some(), row.nhs_number.is_some())
        };
        assert_eq!(held(&mut db, "D-1"), (true, true));
        assert_eq!(held(&mut db, "D-2"), (false, false));
        assert_eq!(held(&mut db, "D-3"), (false, false));
        let d1 = find_by_local_id(&mut db, "D-1").unwrap().unwrap().id;
        let mut conflicts: Vec<(String, String, String)> = ic::identifier_conflicts
            .filter(ic::kept_by.eq(&d1))
            .select((ic::kind, ic::value, ic::child_id))
            .load::<(String, String, String)>(&mut *db)
            .unwrap()
            .into_iter()
            .map(|(kind, value, child)| {
                let local = find_by_id(&mut db, &child).unwrap().unwrap().local_id;
                (kind, value, local)
            })
            .collect();
        conflicts.sort();
        let row = |k: &str, v: &str, l: &str| (k.to_owned(), v.to_owned(), l.to_owned());
        assert_eq!(
            conflicts,
            [
                row("nhs_number", "9434765919", "D-2"),
                row("upn", "U999123456789", "D-2"),
                row("upn", "U999123456789", "D-3"),
            ]
        );
        // The index now holds the line even for a writer that skips the check.
        let again = ChildUpsert {
            demographics: Demographics {
                given_name: "Amelia".into(),
                family_name: "Okafor".into(),
                date_of_birth: "2014-03-09".parse().unwrap(),
                sex: None,
                postcode: None,
            }
            .into(),
            identifiers: ChildIdentifiers {
                upn: Some(upn),
                nhs_number: None,
                ..Default::default()
            },
        };
        assert!(super::super::write(&mut db, |conn| upsert(conn, "D-4", &again)).is_err());
        assert_eq!(
            identifiers_held_elsewhere(&mut db, "D-4", &again.identifiers).unwrap(),
            [("identifiers.upn", "D-1".to_owned())]
        );
    }

    /// SQLite: children with a second family name written before migration
    /// `2026-12-11-000110_second_family_key_partial_indexes` (the indexes of that key made
    /// partial) and after it are found by that name alone, through those indexes; a child
    /// without it is not.
    #[test]
    fn second_family_names_are_found_after_the_partial_index_migration() {
        let mut db = TestDb::sqlite_before("2026-12-11-000110");
        upsert_child(&mut db, "W1", "Wood-Allen", "2014-03-09", "ZZ1 4AB");
        upsert_child(&mut db, "S1", "Smith", "2014-03-09", "ZZ1 4AB");
        crate::db::migrate(&mut db).unwrap();
        upsert_child(&mut db, "W2", "Wood-Allen", "2012-07-21", "ZZ2 5AB");
        upsert_child(&mut db, "S2", "Smith", "2012-07-21", "ZZ2 5AB");
        // No date of birth and another sector: only the family blocks can find them.
        let keys = matching::search_blocking_keys(&schemas::SearchDemographics {
            given_name: Some("Amelia".into()),
            family_name: Some("Allen".into()),
            postcode: Some("ZZ9 9ZZ".into()),
            ..Default::default()
        });
        let mut found = Vec::new();
        for tier in [Tier::Narrow, Tier::Broad] {
            let (rows, _) =
                match_candidates(&mut db, &keys, 200, tier, &Default::default()).unwrap();
            found.extend(rows.into_iter().map(|r| r.id));
        }
        found.sort();
        let mut wanted: Vec<String> = ["W1", "W2"]
            .iter()
            .map(|l| find_by_local_id(&mut db, l).unwrap().unwrap().id)
            .collect();
        wanted.sort();
        assert_eq!(found, wanted);
    }

    fn upsert_child(
        conn: &mut DbConnection,
        local_id: &str,
        family: &str,
        dob: &str,
        postcode: &str,
    ) {
        let child = ChildUpsert {
            demographics: Demographics {
                given_name: "Amelia".into(),
                family_name: family.into(),
                date_of_birth: dob.parse().unwrap(),
                sex: None,
                postcode: Some(postcode.into()),
            }
            .into(),
            identifiers: ChildIdentifiers::default(),
        };
        super::super::write(conn, |conn| upsert(conn, local_id, &child)).unwrap();
    }

    fn keys_for(family: &str, dob: &str, postcode: &str) -> BlockingKeys {
        matching::blocking_keys(&Demographics {
            given_name: "Amelia".into(),
            family_name: family.into(),
            date_of_birth: dob.parse().unwrap(),
            sex: None,
            postcode: Some(postcode.into()),
        })
    }

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    #[test]
    fn every_block_is_read_through_an_index() {
        // SQLite's planner (PostgreSQL's: see the node benchmark).
        let mut conn = TestDb::sqlite_memory();
        // A spread of names, dates and postcodes, so the planner's statistics look like a
        // real node's.
        let families = [
            "Smith",
            "Jones",
            "Okafor",
            "Patel",
            "Nowak",
            "Wood-Allen",
            "Khan",
        ];
        for i in 0..700u32 {
            let dob =
                chrono::NaiveDate::from_ymd_opt(2010 + (i % 11) as i32, 1 + i % 12, 1 + i % 28)
                    .unwrap()
                    .to_string();
            let postcode = format!("ZZ{} {}AB", 1 + i % 9, 1 + (i / 9) % 9);
            upsert_child(
                &mut conn,
                &format!("L{i}"),
                families[i as usize % 7],
                &dob,
                &postcode,
            );
        }
        conn.batch_execute("ANALYZE").unwrap();
        let keys = keys_for("Wood-Allen", "2014-03-09", "ZZ1 4AB");
        // A partial search: no date of birth (the family blocks across every year, no
        // sector-and-year block), and no family name (the date blocks only).
        let undated = matching::search_blocking_keys(&schemas::SearchDemographics {
            given_name: Some("Amelia".into()),
            family_name: Some("Wood-Allen".into()),
            postcode: Some("ZZ1 4AB".into()),
            ..Default::default()
        });
        let unnamed = matching::search_blocking_keys(&schemas::SearchDemographics {
            given_name: Some("Amelia".into()),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2014, 3, 9),
            ..Default::default()
        });
        fn live<T>(blocks: Vec<(bool, T)>) -> Vec<T> {
            blocks
                .into_iter()
                .filter(|(live, _)| *live)
                .map(|(_, b)| b)
                .collect()
        }
        let blocks = live(blocks_for!(diesel::sqlite::Sqlite, &keys));
        assert_eq!(blocks.len(), 12);
        // Undated: the family blocks any year, former names, the undated children, the
        // family in the sector, the undated children in the sector. Unnamed: the date
        // block, and the given name read as a family name with the date (names the
        // other way round).
        let partial: Vec<_> = live(blocks_for!(diesel::sqlite::Sqlite, &undated))
            .into_iter()
            .chain(live(blocks_for!(diesel::sqlite::Sqlite, &unnamed)))
            .collect();
        assert_eq!(partial.len(), 6 + 2);
        for block in blocks.into_iter().chain(partial) {
            let query = block.select(ChildRow::as_select()).limit(200);
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
            let sql = sql.split(" -- binds:").next().unwrap();
            // Unbound parameters are NULL: the plan does not depend on the values.
            let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut *conn)
                .unwrap();
            assert!(!plan.is_empty());
            // A former family name's block reads its keys in a subquery (a step of its
            // own), through the keys table's primary key.
            for step in plan
                .iter()
                .filter(|s| !s.detail.starts_with("LIST SUBQUERY"))
            {
                let indexed = ["USING INDEX", "USING COVERING INDEX", "USING PRIMARY KEY"]
                    .iter()
                    .any(|way| step.detail.contains(way));
                assert!(
                    indexed && !step.detail.starts_with("SCAN"),
                    "{sql}: {}",
                    step.detail
                );
            }
        }
    }

    /// The local ids of candidates (which carry only the columns matching compares).
    fn local_ids(conn: &mut DbConnection, rows: &[CandidateRow]) -> Vec<String> {
        rows.iter()
            .map(|r| find_by_id(conn, &r.id).unwrap().unwrap().local_id)
            .collect()
    }

    #[test]
    fn candidates_come_from_any_block_once_each() {
        let mut conn = memory_db();
        upsert_child(&mut conn, "same-dob", "Jones", "2014-03-09", "ZZ9 9XY");
        upsert_child(&mut conn, "swapped-dob", "Jones", "2014-09-03", "ZZ9 9XY");
        upsert_child(
            &mut conn,
            "same-surname-year",
            "Smyth",
            "2014-11-30",
            "ZZ9 9XY",
        );
        upsert_child(
            &mut conn,
            "double-barrelled",
            "Wood-Smith",
            "2014-12-01",
            "ZZ9 9XY",
        );
        upsert_child(
            &mut conn,
            "same-sector-year",
            "Patel",
            "2014-07-01",
            "ZZ1 4QQ",
        );
        upsert_child(&mut conn, "everything", "Smith", "2014-03-09", "ZZ1 4AB");
        upsert_child(&mut conn, "year-slip", "Smith", "2015-03-09", "ZZ9 9XY");
        upsert_child(&mut conn, "none", "Patel", "2015-07-01", "ZZ1 4QQ");
        let none = std::collections::HashSet::new();
        let keys = keys_for("Smith", "2014-03-09", "ZZ1 4AB");
        let (found, complete) = match_candidates(&mut conn, &keys, 200, Tier::Both, &none).unwrap();
        assert!(complete);
        let mut ids = local_ids(&mut conn, &found);
        ids.sort();
        assert_eq!(
            ids,
            vec![
                "double-barrelled",
                "everything",
                "same-dob",
                "same-sector-year",
                "same-surname-year",
                "swapped-dob",
                "year-slip"
            ]
        );
        // The narrow tier: the family name with the date (or a slip of it) only.
        let (narrow, _) = match_candidates(&mut conn, &keys, 200, Tier::Narrow, &none).unwrap();
        let mut narrow = local_ids(&mut conn, &narrow);
        narrow.sort();
        assert_eq!(narrow, vec!["everything", "year-slip"]);
        let (capped, complete) = match_candidates(&mut conn, &keys, 1, Tier::Both, &none).unwrap();
        assert!(capped.len() <= 6, "one per block at most");
        assert!(!complete, "a block reached its cap");
    }

    #[test]
    fn capping_while_stepping_reads_the_rows_a_limit_would() {
        let mut conn = memory_db();
        // Blocks far larger than the cap: one family, one year, a few dates and sectors.
        for i in 0..240u32 {
            let dob = format!("2014-03-{:02}", 9 + i % 3);
            let postcode = format!("ZZ1 {}AB", 4 + i % 2);
            let family = ["Smith", "Smyth", "Wood-Smith"][i as usize % 3];
            upsert_child(&mut conn, &format!("L{i}"), family, &dob, &postcode);
        }
        let keys = keys_for("Smith", "2014-03-09", "ZZ1 4AB");
        let none = std::collections::HashSet::new();
        for cap in [1, 7, 50, 239, 500] {
            // Each block with a bound LIMIT, in block order, each row once.
            let mut expected: Vec<String> = Vec::new();
            let mut every_block_complete = true;
            for (_, block) in blocks(&keys) {
                let ids: Vec<String> = block.select(c::id).limit(cap).load(&mut *conn).unwrap();
                every_block_complete &= (ids.len() as i64) < cap;
                for id in ids {
                    if !expected.contains(&id) {
                        expected.push(id);
                    }
                }
            }
            let (found, complete) =
                match_candidates(&mut conn, &keys, cap, Tier::Both, &none).unwrap();
            let found: Vec<String> = found.into_iter().map(|r| r.id).collect();
            assert_eq!(found, expected, "cap {cap}");
            assert_eq!(complete, every_block_complete, "cap {cap}");
        }
    }

    #[test]
    fn stale_keys_are_recomputed() {
        let mut conn = memory_db();
        upsert_child(&mut conn, "old", "Okafor", "2014-03-09", "ZZ1 4AB");
        diesel::update(c::children)
            .set((
                c::family_name_key.eq(""),
                c::birth_year.eq(0),
                c::match_keys_version.eq(0),
            ))
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(refresh_match_keys(&mut conn).unwrap(), 1);
        let row = find_by_local_id(&mut conn, "old").unwrap().unwrap();
        assert_eq!(row.birth_year, 2014);
        assert_eq!(
            row.family_name_key,
            matching::phonetic::refined_soundex("okafor")
        );
        assert_eq!(refresh_match_keys(&mut conn).unwrap(), 0);
    }

    #[test]
    fn the_sample_is_read_from_the_node_database() {
        let mut db = TestDb::fresh();
        let conn: &mut DbConnection = &mut db;
        for (i, given) in ["Amelia", "Amelia", "Amelia", "Noah", "Leo", "Ivy"]
            .iter()
            .enumerate()
        {
            let child = schemas::ChildUpsert {
                demographics: schemas::Demographics {
                    given_name: (*given).into(),
                    family_name: format!("Sampleton{i}"),
                    date_of_birth: "2015-04-01".parse().unwrap(),
                    sex: None,
                    postcode: None,
                }
                .into(),
                identifiers: schemas::ChildIdentifiers::default(),
            };
            crate::db::write(conn, |c| upsert(c, &format!("s{i}"), &child)).unwrap();
        }
        let some = sample(conn, 4).unwrap();
        assert_eq!(some.len(), 4);
        let all = sample(conn, 100).unwrap();
        assert_eq!(all.len(), 6);
        let e = matching::estimate::estimate_u(&all, 100, 1, &Default::default()).unwrap();
        // C(6,2) = 15 pairs, of which the three Amelias make 3 and every pair shares the
        // birthday.
        assert_eq!((e.tally.pairs, e.tally.given[0]), (15, 3));
        assert_eq!(e.tally.date_of_birth[0], 15);
        assert_eq!(e.tally.sex_pairs, 0);
    }

    /// Stores the children numbered `numbers`, family names `Fam{i}` so that each child
    /// is told by its family name; those not `complete` without a given name (partial).
    fn store_numbered(
        db: &mut TestDb,
        numbers: std::ops::Range<usize>,
        complete: impl Fn(usize) -> bool,
    ) {
        super::super::write(db, |conn| {
            for i in numbers {
                let child = ChildUpsert {
                    demographics: schemas::KnownDemographics {
                        given_name: complete(i).then(|| "Amelia".to_string()),
                        family_name: Some(format!("Fam{i}")),
                        date_of_birth: Some("2014-03-09".parse().unwrap()),
                        ..Default::default()
                    },
                    identifiers: ChildIdentifiers::default(),
                };
                upsert(conn, &format!("L-{i}"), &child)?;
            }
            Ok(())
        })
        .unwrap();
    }

    fn numbered(sample: &[matching::estimate::Sampled]) -> Vec<usize> {
        sample.iter().map(|c| number(&c.family_name)).collect()
    }

    /// The number in a family name `Fam{i}`.
    fn number(family_name: &str) -> usize {
        family_name.trim_start_matches("Fam").parse().unwrap()
    }

    /// A large SQLite table is sampled by probing random row ids, not by sorting every
    /// child: the sample is complete children only, none twice, spread over the whole
    /// table (not a run of neighbouring rows), also across deleted rows; where probing
    /// cannot find enough (a table mostly of partial children) the sample falls back to
    /// sorting and still holds every complete child.
    #[test]
    fn a_large_table_is_sampled_by_probing_row_ids() {
        let mut db = TestDb::sqlite_memory();
        store_numbered(&mut db, 0..2_000, |i| i % 5 != 0);
        // Holes: children 1,000 to 1,299 deleted.
        diesel::delete(
            c::children.filter(c::local_id.eq_any((1_000..1_300).map(|i| format!("L-{i}")))),
        )
        .execute(&mut *db)
        .unwrap();
        // Complete children only, none deleted, none twice, spread over the table.
        let check = |mut ids: Vec<usize>| {
            assert_eq!(ids.len(), 100);
            assert!(
                ids.iter().all(|i| i % 5 != 0),
                "a partial child sampled: {ids:?}"
            );
            assert!(ids.iter().all(|i| !(1_000..1_300).contains(i)), "{ids:?}");
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 100, "a child sampled twice");
            // About 1,000 / 1,700 of the sample lies below child 1,000 (sd about 5).
            let low = ids.iter().filter(|&&i| i < 1_000).count();
            assert!(
                (30..=90).contains(&low),
                "{low} of 100 below child 1,000: {ids:?}"
            );
        };
        let DbConnection::Sqlite(lite) = &mut *db else {
            unreachable!("an in-memory SQLite database")
        };
        let max = max_rowid(lite).unwrap();
        assert!(max > 100 * PROBE_FROM);
        let probed = sample_by_rowid(lite, 100, max)
            .unwrap()
            .expect("enough complete children to probe");
        check(
            probed
                .iter()
                .map(|(_, family, ..)| number(family))
                .collect(),
        );
        check(numbered(&sample(&mut db, 100).unwrap()));

        // Mostly partial: 2,000 children, 20 of them complete.
        let mut sparse = TestDb::sqlite_memory();
        store_numbered(&mut sparse, 0..2_000, |_| false);
        store_numbered(&mut sparse, 5_000..5_020, |_| true);
        let mut all = numbered(&sample(&mut sparse, 100).unwrap());
        all.sort_unstable();
        assert_eq!(all, (5_000..5_020).collect::<Vec<_>>());
    }
}
