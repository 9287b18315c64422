//! Each child's keyed encodings (see [`matching::keyed`]): written with the child,
//! refreshed at start when the matching key changed, and read for keyed matching through
//! indexed tokens only.

mod compact;

use super::DbError;
use super::models::ChildRow;
use super::schema::child_keyed::dsl as k;
use super::schema::children::dsl as c;
use crate::db::DbConnection;
use diesel::prelude::*;
use matching::keyed::{MatchingKey, StoredEncoding};
use schemas::{KeyedBlocks, KeyedDemographics, KeyedIdentifiers};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::child_keyed)]
// A missing value is NULL, not DEFAULT: what lets SQLite take many rows in one INSERT
// (with DEFAULT, diesel sends one statement a row).
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct KeyedRow {
    pub child_id: String,
    pub key_id: String,
    pub upn: Option<String>,
    pub nhs_number: Option<String>,
    pub date_of_birth: String,
    pub family_block: String,
    pub family_block2: Option<String>,
    pub sector_block: Option<String>,
    pub encoding: String,
    pub day_block: Option<String>,
    pub day_block2: Option<String>,
    pub family_sector_block: Option<String>,
    /// The encodings for comparison as [`compact`] bytes; `None` for a row written
    /// before them (its JSON in `encoding`) and for a child with identifiers only.
    pub compact: Option<Vec<u8>>,
}

/// A stored child's encodings, ready to compare.
#[derive(Debug, Clone)]
pub struct KeyedChild {
    pub child_id: String,
    pub identifiers: KeyedIdentifiers,
    /// `None` for a partial child: encoded by its identifiers only.
    pub demographics: Option<KeyedDemographics>,
}

/// How a backend stores a child's encodings for comparison.
///
/// PostgreSQL: as JSON in `encoding`, which every release reads. Replicas of two releases
/// share a PostgreSQL database during a rolling upgrade, and a release before the compact
/// bytes would read a compact row as a child with identifiers only (found by identifier,
/// silently not by demographics). SQLite: as compact bytes in `compact` (half the table's
/// size); a SQLite database has one node process, which reads both forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Compact,
}

impl Form {
    /// The form `conn`'s backend stores.
    pub fn of(conn: &DbConnection) -> Self {
        match conn {
            DbConnection::Pg(_) => Form::Json,
            DbConnection::Sqlite(_) => Form::Compact,
        }
    }
}

impl KeyedRow {
    fn new(child_id: &str, e: StoredEncoding, form: Form) -> Result<Self, DbError> {
        let (encoding, compact) = match form {
            Form::Json => (
                serde_json::to_string(&e.demographics)
                    .map_err(|e| DbError::Corrupt(format!("keyed encoding: {e}")))?,
                None,
            ),
            // `null` is what a child with identifiers only always had in `encoding`.
            Form::Compact => (
                "null".to_owned(),
                e.demographics.as_ref().map(compact::encode),
            ),
        };
        Ok(Self {
            child_id: child_id.to_owned(),
            key_id: e.key_id,
            upn: e.upn,
            nhs_number: e.nhs_number,
            date_of_birth: e.date_of_birth,
            family_block: e.family_block,
            family_block2: e.family_block2,
            sector_block: e.sector_block,
            day_block: Some(e.day_block),
            day_block2: e.day_block2,
            family_sector_block: e.family_sector_block,
            encoding,
            compact,
        })
    }

    fn into_child(self) -> Result<KeyedChild, DbError> {
        let demographics = match &self.compact {
            Some(bytes) => Some(compact::decode(bytes).map_err(|e| {
                DbError::Corrupt(format!("keyed encoding of {}: {e}", self.child_id))
            })?),
            None => serde_json::from_str(&self.encoding)
                .map_err(|e| DbError::Corrupt(format!("keyed encoding: {e}")))?,
        };
        Ok(KeyedChild {
            demographics,
            identifiers: KeyedIdentifiers {
                upn: self.upn,
                nhs_number: self.nhs_number,
            },
            child_id: self.child_id,
        })
    }
}

/// Writes (or rewrites) the encodings of a stored child. Call it in the transaction that
/// wrote the child.
pub fn store(conn: &mut DbConnection, child: &ChildRow, key: &MatchingKey) -> Result<(), DbError> {
    let row = row_for(child, key, Form::of(conn))?;
    diesel::delete(k::child_keyed.find(&child.id)).execute(conn)?;
    insert_rows(conn, std::slice::from_ref(&row))
}

/// A stored child's encodings as the row [`store_new`] writes: a pure function of the
/// key, the child's demographics and identifiers and the backend's [`Form`] (the bulk
/// path computes it ahead, before it knows whether the child is new, and sets the child's
/// id later).
pub fn row_for(child: &ChildRow, key: &MatchingKey, form: Form) -> Result<KeyedRow, DbError> {
    let wire = child.clone().into_wire()?;
    KeyedRow::new(
        &child.id,
        key.encode_stored_known(&wire.demographics, &wire.identifiers),
        form,
    )
}

/// Writes the encodings of new children in multi-row statements (the bulk path), the
/// HMACs (about 30 a child) computed on every core. Call it in the transaction that
/// wrote them.
pub fn store_new(
    conn: &mut DbConnection,
    children: &[ChildRow],
    key: &MatchingKey,
) -> Result<(), DbError> {
    let form = Form::of(conn);
    let rows = crate::parallel::map_parts(children, |part| {
        part.iter()
            .map(|child| row_for(child, key, form))
            .collect::<Result<Vec<_>, DbError>>()
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?
    .concat();
    insert_rows(conn, &rows)
}

/// Writes encodings computed already ([`row_for`]) in multi-row statements.
pub fn insert_rows(conn: &mut DbConnection, rows: &[KeyedRow]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        // PostgreSQL: one `COPY ... FROM STDIN` (binary), no statement to parse or plan.
        DbConnection::Pg(c) => {
            diesel::copy_from(k::child_keyed)
                .from_insertable(rows)
                .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            for chunk in rows.chunks(super::ROWS_PER_INSERT) {
                diesel::insert_into(k::child_keyed)
                    .values(chunk)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Encodes every child without encodings under the current key (new rows loaded
/// straight into the database, or all of them after a key rotation), in batches. Runs at
/// start; a no-op once every row is current.
pub fn refresh(conn: &mut DbConnection, key: &MatchingKey) -> Result<usize, DbError> {
    let mut refreshed = 0;
    loop {
        let current = k::child_keyed
            .filter(k::child_id.eq(c::id))
            .filter(k::key_id.eq(key.id()));
        let stale: Vec<ChildRow> = c::children
            .filter(diesel::dsl::not(diesel::dsl::exists(current)))
            .select(ChildRow::as_select())
            .limit(500)
            .load(conn)?;
        if stale.is_empty() {
            return Ok(refreshed);
        }
        super::write(conn, |conn| {
            for child in &stale {
                store(conn, child, key)?;
            }
            Ok(())
        })?;
        refreshed += stale.len();
    }
}

fn load(rows: Vec<KeyedRow>) -> Result<Vec<KeyedChild>, DbError> {
    rows.into_iter().map(KeyedRow::into_child).collect()
}

/// Children whose UPN or NHS number token equals the query's, with the identifiers that
/// agreed.
pub fn identifier_matches(
    conn: &mut DbConnection,
    ids: &KeyedIdentifiers,
    key_id: &str,
) -> Result<Vec<(KeyedChild, Vec<String>)>, DbError> {
    let mut found: Vec<(KeyedChild, Vec<String>)> = Vec::new();
    let mut add = |rows: Vec<KeyedChild>, field: &str| {
        for row in rows {
            match found.iter_mut().find(|(r, _)| r.child_id == row.child_id) {
                Some((_, fields)) => fields.push(field.to_owned()),
                None => found.push((row, vec![field.to_owned()])),
            }
        }
    };
    if let Some(upn) = &ids.upn {
        let rows = k::child_keyed
            .filter(k::upn.eq(upn))
            .filter(k::key_id.eq(key_id))
            .select(KeyedRow::as_select())
            .load(conn)?;
        add(load(rows)?, "upn");
    }
    if let Some(nhs) = &ids.nhs_number {
        let rows = k::child_keyed
            .filter(k::nhs_number.eq(nhs))
            .filter(k::key_id.eq(key_id))
            .select(KeyedRow::as_select())
            .load(conn)?;
        add(load(rows)?, "nhs_number");
    }
    Ok(found)
}

type Block<'a> = super::schema::child_keyed::BoxedQuery<'a, super::DbBackend>;

/// The keyed twins of plain matching's blocks, as boxed queries for backend `$db` (the
/// node's own, or SQLite in the test that reads query plans): date of birth (as given or
/// swapped), phonetic family name with birth year (either stored key), phonetic family
/// name with day and month of birth (either key), phonetic family name with postcode
/// sector, any year (`blocks.family` carries all three kinds of family token, told apart
/// by their labels), postcode sector with birth year. Each is one
/// indexed token column.
macro_rules! keyed_blocks_for {
    ($db:ty, $dates:expr, $blocks:expr, $key_id:expr) => {{
        let (dates, blocks, key_id): (&[String], &KeyedBlocks, &str) = ($dates, $blocks, $key_id);
        let mut out = vec![
            k::child_keyed
                .filter(k::date_of_birth.eq_any(dates))
                .into_boxed::<$db>(),
            k::child_keyed
                .filter(k::family_block.eq_any(&blocks.family))
                .into_boxed(),
            k::child_keyed
                .filter(k::family_block2.is_not_null())
                .filter(k::family_block2.assume_not_null().eq_any(&blocks.family))
                .into_boxed(),
            // Family name with day and month of birth, any year (a year slip).
            k::child_keyed
                .filter(k::day_block.is_not_null())
                .filter(k::day_block.assume_not_null().eq_any(&blocks.family))
                .into_boxed(),
            k::child_keyed
                .filter(k::day_block2.is_not_null())
                .filter(k::day_block2.assume_not_null().eq_any(&blocks.family))
                .into_boxed(),
        ];
        // Family name in the postcode sector, any year (a replaced date of birth).
        out.push(
            k::child_keyed
                .filter(k::family_sector_block.is_not_null())
                .filter(
                    k::family_sector_block
                        .assume_not_null()
                        .eq_any(&blocks.family),
                )
                .into_boxed(),
        );
        if let Some(sector) = &blocks.sector {
            out.push(
                k::child_keyed
                    .filter(k::sector_block.eq(sector))
                    .into_boxed(),
            );
        }
        out.into_iter()
            .map(|b| b.filter(k::key_id.eq(key_id)))
            .collect::<Vec<_>>()
    }};
}

fn blocks<'a>(dates: &'a [String], blocks: &'a KeyedBlocks, key_id: &'a str) -> Vec<Block<'a>> {
    keyed_blocks_for!(super::DbBackend, dates, blocks, key_id)
}

/// Candidates for a keyed demographic match: the union of the blocks, each capped at
/// `per_block` rows.
pub fn match_candidates(
    conn: &mut DbConnection,
    dates: &[String],
    keyed_blocks: &KeyedBlocks,
    key_id: &str,
    per_block: i64,
) -> Result<Vec<KeyedChild>, DbError> {
    let mut found: Vec<KeyedChild> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for block in blocks(dates, keyed_blocks, key_id) {
        for row in block
            .select(KeyedRow::as_select())
            .limit(per_block)
            .load(conn)?
        {
            if seen.insert(row.child_id.clone()) {
                found.push(row.into_child()?);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use schemas::{ChildIdentifiers, ChildUpsert, Demographics, KeyedDemographics};

    // These tests read SQLite's query plans, so they use SQLite whatever the backend.
    fn memory_db() -> crate::db::testing::TestDb {
        crate::db::testing::TestDb::sqlite_memory()
    }

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    fn child(i: u32) -> ChildUpsert {
        let families = [
            "Smith",
            "Jones",
            "Okafor",
            "Patel",
            "Nowak",
            "Wood-Allen",
            "Khan",
        ];
        ChildUpsert {
            demographics: Demographics {
                given_name: "Amelia".into(),
                family_name: families[i as usize % 7].into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(
                    2010 + (i % 11) as i32,
                    1 + i % 12,
                    1 + i % 28,
                )
                .unwrap(),
                sex: None,
                postcode: Some(format!("ZZ{} {}AB", 1 + i % 9, 1 + (i / 9) % 9)),
            }
            .into(),
            identifiers: ChildIdentifiers::default(),
        }
    }

    /// Writes a child's encodings as the releases before migration
    /// `2026-12-08-001000_compact_keyed_encoding` did: the JSON in `encoding`.
    fn store_as_before_compact(conn: &mut DbConnection, child: &ChildRow, key: &MatchingKey) {
        let wire = child.clone().into_wire().unwrap();
        let e = key.encode_stored_known(&wire.demographics, &wire.identifiers);
        diesel::insert_into(k::child_keyed)
            .values((
                k::child_id.eq(&child.id),
                k::key_id.eq(&e.key_id),
                k::upn.eq(&e.upn),
                k::nhs_number.eq(&e.nhs_number),
                k::date_of_birth.eq(&e.date_of_birth),
                k::family_block.eq(&e.family_block),
                k::family_block2.eq(&e.family_block2),
                k::sector_block.eq(&e.sector_block),
                k::encoding.eq(serde_json::to_string(&e.demographics).unwrap()),
                k::day_block.eq(Some(&e.day_block)),
                k::day_block2.eq(&e.day_block2),
                k::family_sector_block.eq(&e.family_sector_block),
            ))
            .execute(conn)
            .unwrap();
    }

    /// Children encoded as JSON before the compact encodings are all found after the
    /// migration, by identifier and by demographics, with the encodings they had; the
    /// children written after it are stored compact and found the same way.
    #[test]
    fn children_encoded_before_the_compact_encodings_stay_findable() {
        let mut db = crate::db::testing::TestDb::before("2026-12-08-001000");
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        let upn = |i: u32| {
            // A valid UPN: the check letter of `U` and twelve digits.
            (0..26u8)
                .map(|l| format!("{}999{:09}", char::from(b'A' + l), 100_000 + i))
                .find_map(|text| schemas::Upn::parse(&text).ok())
                .unwrap()
        };
        let with_upn = |i: u32| {
            let mut c = child(i);
            c.identifiers.upn = Some(upn(i));
            c
        };
        let mut stored = Vec::new();
        for i in 0..40u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("B{i}"), &with_upn(i)).unwrap();
            store_as_before_compact(&mut db, &row, &key);
            stored.push(row);
        }
        crate::db::migrate(&mut db).unwrap();
        // A replica of the release before, on the migrated schema: its insert still runs,
        // and this release reads what it wrote.
        for i in 80..85u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("R{i}"), &with_upn(i)).unwrap();
            store_as_before_compact(&mut db, &row, &key);
            stored.push(row);
        }
        for i in 40..80u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("A{i}"), &with_upn(i)).unwrap();
            store(&mut db, &row, &key).unwrap();
            stored.push(row);
        }
        let sqlite = matches!(&*db, DbConnection::Sqlite(_));
        let compact: Vec<Option<Vec<u8>>> =
            k::child_keyed.select(k::compact).load(&mut *db).unwrap();
        assert_eq!(
            compact.iter().filter(|c| c.is_some()).count(),
            if sqlite { 40 } else { 0 },
            "SQLite stores this release's encodings compact, PostgreSQL as JSON"
        );
        // What a replica of the release before reads of this release's rows. PostgreSQL
        // (replicas share it): the encodings, as it wrote them itself. SQLite (one
        // process, no replica): `null`, a child with identifiers only, never an error.
        for row in stored.iter().filter(|r| r.local_id.starts_with('A')) {
            let text: String = k::child_keyed
                .find(&row.id)
                .select(k::encoding)
                .first(&mut *db)
                .unwrap();
            let old: Option<KeyedDemographics> = serde_json::from_str(&text).unwrap();
            let wire = row.clone().into_wire().unwrap();
            let expected = key.encode_stored_known(&wire.demographics, &wire.identifiers);
            if sqlite {
                assert!(old.is_none(), "{}", row.local_id);
            } else {
                assert_eq!(old, expected.demographics, "{}", row.local_id);
            }
        }

        for row in &stored {
            let wire = row.clone().into_wire().unwrap();
            let expected = key.encode_stored_known(&wire.demographics, &wire.identifiers);
            let ids = key.encode_identifiers(&wire.identifiers);
            let by_id = identifier_matches(&mut db, &ids, key.id()).unwrap();
            assert_eq!(by_id.len(), 1, "{}", row.local_id);
            assert_eq!(by_id[0].0.child_id, row.id);
            assert_eq!(by_id[0].0.demographics, expected.demographics);

            let query = key.encode_query(&schemas::ChildQuery {
                identifiers: ChildIdentifiers::default(),
                demographics: wire.demographics.complete().map(Into::into),
            });
            let d = query.demographics.as_ref().unwrap();
            let dates: Vec<String> = std::iter::once(d.date_of_birth.exact.clone())
                .chain(d.date_of_birth.swapped.clone())
                .collect();
            let found = match_candidates(
                &mut db,
                &dates,
                query.blocks.as_ref().unwrap(),
                key.id(),
                200,
            )
            .unwrap();
            let held = found.iter().find(|c| c.child_id == row.id);
            assert_eq!(
                held.and_then(|c| c.demographics.clone()),
                expected.demographics,
                "{}",
                row.local_id
            );
        }
    }

    #[test]
    fn encodings_are_written_refreshed_and_read_through_indexes() {
        let mut conn = memory_db();
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        for i in 0..700u32 {
            let (row, _) =
                super::super::children::upsert(&mut conn, &format!("L{i}"), &child(i)).unwrap();
            if i % 2 == 0 {
                store(&mut conn, &row, &key).unwrap();
            }
        }
        // Half were loaded without encodings: the refresh encodes exactly those.
        assert_eq!(refresh(&mut conn, &key).unwrap(), 350);
        assert_eq!(refresh(&mut conn, &key).unwrap(), 0);
        // A new key re-encodes every child.
        let rotated = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        assert_eq!(refresh(&mut conn, &rotated).unwrap(), 700);

        conn.batch_execute("ANALYZE").unwrap();
        let query = rotated.encode_query(&schemas::ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: child(5).demographics.complete().map(Into::into),
        });
        let d = query.demographics.as_ref().unwrap();
        let dates: Vec<String> = std::iter::once(d.date_of_birth.exact.clone())
            .chain(d.date_of_birth.swapped.clone())
            .collect();
        let keyed_blocks = query.blocks.as_ref().unwrap();
        let found = match_candidates(&mut conn, &dates, keyed_blocks, rotated.id(), 200).unwrap();
        let wanted = super::super::children::find_by_local_id(&mut conn, "L5")
            .unwrap()
            .unwrap();
        assert!(found.iter().any(|c| c.child_id == wanted.id));
        assert!(found.len() < 700);

        let all = keyed_blocks_for!(diesel::sqlite::Sqlite, &dates, keyed_blocks, rotated.id());
        assert_eq!(all.len(), 7);
        for block in all {
            let q = block.select(KeyedRow::as_select()).limit(200);
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
            let sql = sql.split(" -- binds:").next().unwrap();
            let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut *conn)
                .unwrap();
            assert!(!plan.is_empty());
            for step in &plan {
                assert!(
                    step.detail.contains("USING INDEX") && !step.detail.starts_with("SCAN"),
                    "{sql}: {}",
                    step.detail
                );
            }
        }
    }
}
