//! Each child's keyed encodings (see [`matching::keyed`]): written with the child,
//! refreshed at start when the matching key changed, and read for keyed matching through
//! indexed tokens only.

mod compact;

use super::DbError;
use super::models::ChildRow;
use super::schema::child_keyed::dsl as k;
use super::schema::children::dsl as c;
use super::token::KeyedToken;
use crate::db::DbConnection;
use diesel::prelude::*;
use matching::keyed::{MatchingKey, StoredEncoding};
use schemas::{KeyedBlocks, KeyedDemographics, KeyedIdentifiers};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::child_keyed)]
// A missing value is NULL, not DEFAULT: what lets SQLite take many rows in one INSERT
// (with DEFAULT, diesel sends one statement a row).
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct KeyedRow {
    pub child_id: String,
    pub key_id: String,
    pub upn: Option<KeyedToken>,
    pub nhs_number: Option<KeyedToken>,
    pub date_of_birth: KeyedToken,
    pub family_block: KeyedToken,
    pub family_block2: Option<KeyedToken>,
    pub sector_block: Option<KeyedToken>,
    pub encoding: String,
    pub day_block: Option<KeyedToken>,
    pub day_block2: Option<KeyedToken>,
    pub family_sector_block: Option<KeyedToken>,
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
            upn: e.upn.map(KeyedToken),
            nhs_number: e.nhs_number.map(KeyedToken),
            date_of_birth: KeyedToken(e.date_of_birth),
            family_block: KeyedToken(e.family_block),
            family_block2: e.family_block2.map(KeyedToken),
            sector_block: e.sector_block.map(KeyedToken),
            day_block: Some(KeyedToken(e.day_block)),
            day_block2: e.day_block2.map(KeyedToken),
            family_sector_block: e.family_sector_block.map(KeyedToken),
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
                upn: self.upn.map(|t| t.0),
                nhs_number: self.nhs_number.map(|t| t.0),
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

/// Whether `conn` reads the keyed tokens through indexes of their prefixes (SQLite,
/// migration `2026-12-11-000100_keyed_token_prefix_indexes`) rather than of the whole
/// tokens (PostgreSQL's hash indexes).
fn by_prefix(conn: &DbConnection) -> bool {
    matches!(conn, DbConnection::Sqlite(_))
}

/// `$query` narrowed, where `$prefixed` (SQLite), to the rows whose token column `$name`
/// begins as one of `$values` does: the condition SQLite's index of that column reads
/// (`substr(<column>, 1, 4)`, written as the index is). The caller's condition on the
/// whole token stays, and keeps out a row whose token only shares the prefix; on a
/// column that may be NULL the caller says `IS NOT NULL`, the condition of its index.
macro_rules! through_prefix {
    ($query:expr, $prefixed:expr, $name:literal, $values:expr) => {{
        let query = $query;
        if $prefixed {
            let values: &[KeyedToken] = $values;
            let prefixes: Vec<Vec<u8>> = values
                .iter()
                .map(KeyedToken::sqlite_indexed_prefix)
                .collect();
            query.filter(
                diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Binary>>(
                    concat!("substr(child_keyed.", $name, ", 1, 4)"),
                )
                .eq_any(prefixes),
            )
        } else {
            query
        }
    }};
}

/// A block on the nullable family token column `$column` (named `$name`): the children
/// whose token there is one of `$family`, through its prefix where `$prefixed`. The
/// column's index covers its present tokens only, hence `IS NOT NULL`.
macro_rules! nullable_family_block {
    ($column:expr, $name:literal, $family:expr, $prefixed:expr) => {{
        let family: &Vec<KeyedToken> = $family;
        through_prefix!(
            k::child_keyed
                .filter($column.is_not_null())
                .filter($column.assume_not_null().eq_any(family.clone()))
                .into_boxed(),
            $prefixed,
            $name,
            family
        )
    }};
}

/// The children whose identifier token in `$column` (`upn`, `nhs_number`, named `$name`)
/// is `$token`, as a boxed query for backend `$db` (the node's own, or one backend in the
/// tests that read query plans), through the column's prefix where `$prefixed`
/// ([`by_prefix`]). One indexed token column.
macro_rules! identifier_lookup_for {
    ($db:ty, $prefixed:expr, $column:expr, $name:literal, $token:expr, $key_id:expr) => {{
        let (token, key_id): (&String, &str) = ($token, $key_id);
        let token = KeyedToken(token.clone());
        through_prefix!(
            k::child_keyed
                .filter($column.is_not_null())
                .filter($column.eq(token.clone()))
                .filter(k::key_id.eq(key_id))
                .into_boxed::<$db>(),
            $prefixed,
            $name,
            std::slice::from_ref(&token)
        )
    }};
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
    let prefixed = by_prefix(conn);
    if let Some(upn) = &ids.upn {
        let rows = identifier_lookup_for!(super::DbBackend, prefixed, k::upn, "upn", upn, key_id)
            .select(KeyedRow::as_select())
            .load(conn)?;
        add(load(rows)?, "upn");
    }
    if let Some(nhs) = &ids.nhs_number {
        let rows = identifier_lookup_for!(
            super::DbBackend,
            prefixed,
            k::nhs_number,
            "nhs_number",
            nhs,
            key_id
        )
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
/// by their labels), postcode sector with birth year or with the unknown year (children
/// held without a date of birth). Each is one
/// indexed token column, read through its prefix where `$prefixed` ([`by_prefix`]).
macro_rules! keyed_blocks_for {
    ($db:ty, $prefixed:expr, $dates:expr, $blocks:expr, $key_id:expr) => {{
        let (dates, blocks, key_id): (&[String], &KeyedBlocks, &str) = ($dates, $blocks, $key_id);
        let prefixed: bool = $prefixed;
        let tokens = |values: &[String]| -> Vec<KeyedToken> {
            values.iter().cloned().map(KeyedToken).collect()
        };
        let family = tokens(&blocks.family);
        let dates = tokens(dates);
        let mut out = vec![
            through_prefix!(
                k::child_keyed
                    .filter(k::date_of_birth.eq_any(dates.clone()))
                    .into_boxed::<$db>(),
                prefixed,
                "date_of_birth",
                &dates
            ),
            through_prefix!(
                k::child_keyed
                    .filter(k::family_block.eq_any(family.clone()))
                    .into_boxed(),
                prefixed,
                "family_block",
                &family
            ),
            nullable_family_block!(k::family_block2, "family_block2", &family, prefixed),
            // Family name with day and month of birth, any year (a year slip).
            nullable_family_block!(k::day_block, "day_block", &family, prefixed),
            nullable_family_block!(k::day_block2, "day_block2", &family, prefixed),
        ];
        // Family name in the postcode sector, any year (a replaced date of birth).
        out.push(nullable_family_block!(
            k::family_sector_block,
            "family_sector_block",
            &family,
            prefixed
        ));
        // The sector with the birth year, and with the unknown year: the children held
        // without a date of birth in the sector, whatever their family name.
        let sectors: Vec<KeyedToken> = [&blocks.sector, &blocks.sector_undated]
            .into_iter()
            .flatten()
            .cloned()
            .map(KeyedToken)
            .collect();
        if !sectors.is_empty() {
            out.push(through_prefix!(
                k::child_keyed
                    .filter(k::sector_block.is_not_null())
                    .filter(k::sector_block.eq_any(sectors.clone()))
                    .into_boxed(),
                prefixed,
                "sector_block",
                &sectors
            ));
        }
        out.into_iter()
            .map(|b| b.filter(k::key_id.eq(key_id)))
            .collect::<Vec<_>>()
    }};
}

fn blocks<'a>(
    prefixed: bool,
    dates: &'a [String],
    blocks: &'a KeyedBlocks,
    key_id: &'a str,
) -> Vec<Block<'a>> {
    keyed_blocks_for!(super::DbBackend, prefixed, dates, blocks, key_id)
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
    for block in blocks(by_prefix(conn), dates, keyed_blocks, key_id) {
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

    /// Every query on an indexed token for backend `$db`: the 7 blocks, then the UPN and
    /// NHS number lookups.
    macro_rules! token_lookups_for {
        ($db:ty, $prefixed:expr, $dates:expr, $blocks:expr, $upn:expr, $nhs:expr, $key_id:expr) => {{
            let mut all = keyed_blocks_for!($db, $prefixed, $dates, $blocks, $key_id);
            assert_eq!(all.len(), 7);
            all.push(identifier_lookup_for!(
                $db,
                $prefixed,
                k::upn,
                "upn",
                $upn,
                $key_id
            ));
            all.push(identifier_lookup_for!(
                $db,
                $prefixed,
                k::nhs_number,
                "nhs_number",
                $nhs,
                $key_id
            ));
            all
        }};
    }

    /// `key`'s encoding of a demographic search for `demographics`, and the dates of birth
    /// its date block looks up (as given, and day and month swapped where that is a date).
    fn demographic_query(
        key: &MatchingKey,
        demographics: &schemas::KnownDemographics,
    ) -> (schemas::KeyedChildQuery, Vec<String>) {
        let query = key.encode_query(&schemas::ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: demographics.complete().map(Into::into),
        });
        let d = query.demographics.as_ref().unwrap();
        let dates = std::iter::once(d.date_of_birth.exact.clone())
            .chain(d.date_of_birth.swapped.clone())
            .collect();
        (query, dates)
    }

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

    /// Child `i` with a UPN and an NHS number of its own.
    fn with_ids(i: u32) -> ChildUpsert {
        let mut c = child(i);
        c.identifiers.upn = Some(schemas::Upn::with_check_letter(&format!("999{i:09}")).unwrap());
        c.identifiers.nhs_number = Some(
            (i * 20..i * 20 + 20)
                .find_map(|n| schemas::NhsNumber::with_check_digit(&format!("999{n:06}")))
                .unwrap(),
        );
        c
    }

    // `child_keyed` as the releases before migration `2026-12-09-000100_keyed_token_blobs`
    // wrote it: every token as its hex text.
    diesel::table! {
        #[sql_name = "child_keyed"]
        child_keyed_text (child_id) {
            child_id -> Text,
            key_id -> Text,
            upn -> Nullable<Text>,
            nhs_number -> Nullable<Text>,
            date_of_birth -> Text,
            family_block -> Text,
            family_block2 -> Nullable<Text>,
            sector_block -> Nullable<Text>,
            encoding -> Text,
            day_block -> Nullable<Text>,
            day_block2 -> Nullable<Text>,
            family_sector_block -> Nullable<Text>,
            compact -> Nullable<Binary>,
        }
    }

    /// Writes a child's encodings as the releases before migration
    /// `2026-12-08-001000_compact_keyed_encoding` did: the JSON in `encoding`, the tokens
    /// as hex text.
    fn store_as_before_compact(conn: &mut DbConnection, child: &ChildRow, key: &MatchingKey) {
        use child_keyed_text::dsl as t;
        let wire = child.clone().into_wire().unwrap();
        let e = key.encode_stored_known(&wire.demographics, &wire.identifiers);
        diesel::insert_into(t::child_keyed_text)
            .values((
                t::child_id.eq(&child.id),
                t::key_id.eq(&e.key_id),
                t::upn.eq(&e.upn),
                t::nhs_number.eq(&e.nhs_number),
                t::date_of_birth.eq(&e.date_of_birth),
                t::family_block.eq(&e.family_block),
                t::family_block2.eq(&e.family_block2),
                t::sector_block.eq(&e.sector_block),
                t::encoding.eq(serde_json::to_string(&e.demographics).unwrap()),
                t::day_block.eq(Some(&e.day_block)),
                t::day_block2.eq(&e.day_block2),
                t::family_sector_block.eq(&e.family_sector_block),
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
        let sqlite = matches!(&*db, DbConnection::Sqlite(_));
        // A replica of the release before, on the migrated schema: its insert still runs,
        // and this release reads what it wrote. PostgreSQL only: a SQLite database has one
        // node process, so no release before writes hex tokens beside this one.
        for i in (80..85u32).filter(|_| !sqlite) {
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
            let (by_id, found) = searched(&mut db, &key, row);
            assert_eq!(by_id.len(), 1, "{}", row.local_id);
            assert_eq!(by_id[0].0.child_id, row.id);
            assert_eq!(by_id[0].0.demographics, expected.demographics);
            let held = found.iter().find(|c| c.child_id == row.id);
            assert_eq!(
                held.and_then(|c| c.demographics.clone()),
                expected.demographics,
                "{}",
                row.local_id
            );
        }
    }

    /// `row` (with a UPN and an NHS number) is found by its identifiers, both naming it and
    /// no other child, and among the children its demographics find.
    fn assert_found_by_both_identifiers_and_demographics(
        conn: &mut DbConnection,
        key: &MatchingKey,
        row: &ChildRow,
    ) {
        let wire = row.clone().into_wire().unwrap();
        let ids = key.encode_identifiers(&wire.identifiers);
        let (by_id, found) = searched(conn, key, row);
        assert_eq!(by_id.len(), 1, "{}", row.local_id);
        assert_eq!(by_id[0].0.child_id, row.id);
        assert_eq!(by_id[0].0.identifiers, ids);
        assert_eq!(by_id[0].1, ["upn", "nhs_number"]);
        assert!(
            found.iter().any(|c| c.child_id == row.id),
            "{}",
            row.local_id
        );
    }

    /// What searches for `row` find at the node: by its identifiers, and by its
    /// demographics (the blocks of its date of birth, exact and swapped).
    fn searched(
        conn: &mut DbConnection,
        key: &MatchingKey,
        row: &ChildRow,
    ) -> (Vec<(KeyedChild, Vec<String>)>, Vec<KeyedChild>) {
        let wire = row.clone().into_wire().unwrap();
        let ids = key.encode_identifiers(&wire.identifiers);
        let by_id = identifier_matches(conn, &ids, key.id()).unwrap();
        let (query, dates) = demographic_query(key, &wire.demographics);
        let found =
            match_candidates(conn, &dates, query.blocks.as_ref().unwrap(), key.id(), 200).unwrap();
        (by_id, found)
    }

    /// Writes a child's encodings as the releases between migrations
    /// `2026-12-08-001000_compact_keyed_encoding` and `2026-12-09-000100_keyed_token_blobs`
    /// did on SQLite: compact bytes, the tokens as hex text.
    fn store_as_before_token_blobs(conn: &mut DbConnection, child: &ChildRow, key: &MatchingKey) {
        use child_keyed_text::dsl as t;
        let r = row_for(child, key, Form::Compact).unwrap();
        let text = |t: &Option<KeyedToken>| t.as_ref().map(|t| t.0.clone());
        diesel::insert_into(t::child_keyed_text)
            .values((
                t::child_id.eq(&r.child_id),
                t::key_id.eq(&r.key_id),
                t::upn.eq(text(&r.upn)),
                t::nhs_number.eq(text(&r.nhs_number)),
                t::date_of_birth.eq(&r.date_of_birth.0),
                t::family_block.eq(&r.family_block.0),
                t::family_block2.eq(text(&r.family_block2)),
                t::sector_block.eq(text(&r.sector_block)),
                t::encoding.eq(&r.encoding),
                t::day_block.eq(text(&r.day_block)),
                t::day_block2.eq(text(&r.day_block2)),
                t::family_sector_block.eq(text(&r.family_sector_block)),
                t::compact.eq(&r.compact),
            ))
            .execute(conn)
            .unwrap();
    }

    #[derive(QueryableByName)]
    struct TypeOf {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// SQLite: children stored with hex tokens are found after migration
    /// `2026-12-09-000100_keyed_token_blobs` by identifier and by demographics, with the
    /// tokens they had; theirs and new children's are stored as 16-byte BLOBs. A value
    /// that is not a token (the empty date token of a child without a date of birth) reads
    /// back as it was, as does one of 16 bytes, kept as TEXT; this release refuses to
    /// write such a one rather than store what would read back as a token.
    #[test]
    fn children_stored_with_hex_tokens_are_found_after_the_token_blob_migration() {
        let mut db = crate::db::testing::TestDb::sqlite_before("2026-12-09-000100");
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        let mut stored = Vec::new();
        for i in 0..40u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("B{i}"), &with_ids(i)).unwrap();
            store_as_before_token_blobs(&mut db, &row, &key);
            stored.push(row);
        }
        // Values that are not tokens: the empty date token (a child without a date of
        // birth), other text, and text of a token's 16 bytes (none is written).
        let odd: [(String, &str, &str); 3] = [
            (stored[0].id.clone(), "date_of_birth", ""),
            (stored[1].id.clone(), "family_block2", "not a token"),
            (stored[2].id.clone(), "family_block2", "sixteen bytes ok"),
        ];
        for (id, column, value) in &odd {
            diesel::sql_query(format!(
                "UPDATE child_keyed SET {column} = ? WHERE child_id = ?"
            ))
            .bind::<diesel::sql_types::Text, _>(value)
            .bind::<diesel::sql_types::Text, _>(id.as_str())
            .execute(&mut *db)
            .unwrap();
        }
        crate::db::migrate(&mut db).unwrap();
        for i in 40..80u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("A{i}"), &with_ids(i)).unwrap();
            store(&mut db, &row, &key).unwrap();
            stored.push(row);
        }

        let blobs: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM child_keyed WHERE child_id NOT IN (?, ?, ?) AND \
             typeof(upn) = 'blob' AND length(upn) = 16 AND \
             typeof(nhs_number) = 'blob' AND length(nhs_number) = 16 AND \
             typeof(date_of_birth) = 'blob' AND length(date_of_birth) = 16 AND \
             typeof(family_block) = 'blob' AND length(family_block) = 16 AND \
             typeof(sector_block) = 'blob' AND length(sector_block) = 16 AND \
             typeof(day_block) = 'blob' AND length(day_block) = 16 AND \
             typeof(family_sector_block) = 'blob' AND length(family_sector_block) = 16",
        )
        .bind::<diesel::sql_types::Text, _>(odd[0].0.as_str())
        .bind::<diesel::sql_types::Text, _>(odd[1].0.as_str())
        .bind::<diesel::sql_types::Text, _>(odd[2].0.as_str())
        .get_result(&mut *db)
        .unwrap();
        assert_eq!(blobs.n, 77);
        let kinds: Vec<String> = odd
            .iter()
            .map(|(id, column, _)| {
                diesel::sql_query(format!(
                    "SELECT typeof({column}) AS kind FROM child_keyed WHERE child_id = ?"
                ))
                .bind::<diesel::sql_types::Text, _>(id.as_str())
                .get_result::<TypeOf>(&mut *db)
                .unwrap()
                .kind
            })
            .collect();
        assert_eq!(kinds, ["blob", "blob", "text"]);
        let sixteen = KeyedToken("sixteen bytes ok".into());
        assert!(
            diesel::update(k::child_keyed.find(&odd[1].0))
                .set(k::family_block2.eq(Some(sixteen)))
                .execute(&mut *db)
                .is_err()
        );

        for row in &stored {
            let mut expected = row_for(row, &key, Form::Compact).unwrap();
            for (_, column, value) in odd.iter().filter(|(id, _, _)| *id == row.id) {
                let value = KeyedToken((*value).to_owned());
                match *column {
                    "date_of_birth" => expected.date_of_birth = value,
                    _ => expected.family_block2 = Some(value),
                }
            }
            let held: KeyedRow = k::child_keyed
                .find(&row.id)
                .select(KeyedRow::as_select())
                .first(&mut *db)
                .unwrap();
            assert_eq!(held, expected, "{}", row.local_id);

            assert_found_by_both_identifiers_and_demographics(&mut db, &key, row);
        }
    }

    /// SQLite: children whose encodings were indexed on the whole tokens are found after
    /// migration `2026-12-11-000100_keyed_token_prefix_indexes` by identifier and by
    /// demographics, as are children written after it; the indexes hold the tokens' first
    /// 4 bytes, and a child whose tokens only share those bytes with a search is not
    /// found by it.
    #[test]
    fn children_indexed_on_whole_tokens_are_found_after_the_prefix_index_migration() {
        let mut db = crate::db::testing::TestDb::sqlite_before("2026-12-11-000100");
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        let mut stored = Vec::new();
        for i in 0..40u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("B{i}"), &with_ids(i)).unwrap();
            store(&mut db, &row, &key).unwrap();
            stored.push(row);
        }
        crate::db::migrate(&mut db).unwrap();
        for i in 40..80u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("A{i}"), &with_ids(i)).unwrap();
            store(&mut db, &row, &key).unwrap();
            stored.push(row);
        }

        #[derive(QueryableByName)]
        struct Sql {
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        let indexes: Vec<String> = diesel::sql_query(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'child_keyed' \
             AND sql IS NOT NULL ORDER BY name",
        )
        .load::<Sql>(&mut *db)
        .unwrap()
        .into_iter()
        .map(|s| s.sql)
        .collect();
        assert_eq!(indexes.len(), 9, "{indexes:?}");
        for sql in &indexes {
            assert!(sql.contains(", 1, 4))"), "{sql}");
        }

        for row in &stored {
            assert_found_by_both_identifiers_and_demographics(&mut db, &key, row);
        }

        // A child whose UPN token shares its first 4 bytes with another's but not the
        // rest: in the same index entries, not found by the other's UPN.
        let target = &stored[0];
        let ids = key.encode_identifiers(&target.clone().into_wire().unwrap().identifiers);
        let upn = ids.upn.clone().unwrap();
        let twin = format!("{}{}", &upn[..8], "0".repeat(24));
        assert_ne!(twin, upn);
        diesel::update(k::child_keyed.find(&stored[1].id))
            .set(k::upn.eq(Some(KeyedToken(twin.clone()))))
            .execute(&mut *db)
            .unwrap();
        let upn_only = KeyedIdentifiers {
            upn: Some(upn),
            nhs_number: None,
        };
        let by_id = identifier_matches(&mut db, &upn_only, key.id()).unwrap();
        assert_eq!(by_id.len(), 1);
        assert_eq!(by_id[0].0.child_id, target.id);
        let twin_only = KeyedIdentifiers {
            upn: Some(twin),
            nhs_number: None,
        };
        let by_id = identifier_matches(&mut db, &twin_only, key.id()).unwrap();
        assert_eq!(by_id.len(), 1);
        assert_eq!(by_id[0].0.child_id, stored[1].id);
    }

    #[test]
    fn encodings_are_written_refreshed_and_read_through_indexes() {
        let mut conn = memory_db();
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        for i in 0..700u32 {
            let (row, _) =
                super::super::children::upsert(&mut conn, &format!("L{i}"), &with_ids(i)).unwrap();
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
        let (query, dates) = demographic_query(&rotated, &child(5).demographics);
        let keyed_blocks = query.blocks.as_ref().unwrap();
        let found = match_candidates(&mut conn, &dates, keyed_blocks, rotated.id(), 200).unwrap();
        let wanted = super::super::children::find_by_local_id(&mut conn, "L5")
            .unwrap()
            .unwrap();
        assert!(found.iter().any(|c| c.child_id == wanted.id));
        assert!(found.len() < 700);

        let ids = rotated.encode_identifiers(&with_ids(5).identifiers);
        let by_id = identifier_matches(&mut conn, &ids, rotated.id()).unwrap();
        assert_eq!(by_id.len(), 1);
        assert_eq!(by_id[0].0.child_id, wanted.id);
        assert_eq!(by_id[0].1, ["upn", "nhs_number"]);

        let (upn, nhs) = (ids.upn.as_ref().unwrap(), ids.nhs_number.as_ref().unwrap());
        let all = token_lookups_for!(
            diesel::sqlite::Sqlite,
            true,
            &dates,
            keyed_blocks,
            upn,
            nhs,
            rotated.id()
        );
        for block in all {
            let q = block.select(KeyedRow::as_select()).limit(200);
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
            let sql = sql.split(" -- binds:").next().unwrap();
            let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(&mut *conn)
                .unwrap();
            assert!(!plan.is_empty());
            for step in &plan {
                // The index of the token's prefix, read for the prefix's value
                // (migration `2026-12-11-000100_keyed_token_prefix_indexes`).
                assert!(
                    step.detail.contains("_prefix (<expr>=?)") && !step.detail.starts_with("SCAN"),
                    "{sql}: {}",
                    step.detail
                );
            }
        }
    }

    /// `EXPLAIN` of `query` on PostgreSQL, its binds sent as the node sends them.
    #[derive(diesel::query_builder::QueryId)]
    struct Explain<Q>(Q);

    impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
        diesel::query_builder::QueryFragment<diesel::pg::Pg> for Explain<Q>
    {
        fn walk_ast<'b>(
            &'b self,
            mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
        ) -> diesel::QueryResult<()> {
            out.push_sql("EXPLAIN ");
            self.0.walk_ast(out.reborrow())
        }
    }

    impl<Q> diesel::query_builder::Query for Explain<Q> {
        type SqlType = diesel::sql_types::Text;
    }

    impl<Q, C> RunQueryDsl<C> for Explain<Q> {}

    /// On PostgreSQL the keyed tokens have hash indexes (migration
    /// `2026-12-10-000200_keyed_token_hash_indexes`): every block (`= ANY(...)`) and
    /// identifier lookup (`=`) reads its token's, as the planner chooses it for a table
    /// of 700 analysed children. Skipped on SQLite (the test above reads its plans).
    #[test]
    fn keyed_lookups_read_the_hash_indexes_on_postgres() {
        let mut db = crate::db::testing::TestDb::fresh();
        if !matches!(&*db, DbConnection::Pg(_)) {
            return;
        }
        let key = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        for i in 0..700u32 {
            let (row, _) =
                super::super::children::upsert(&mut db, &format!("L{i}"), &with_ids(i)).unwrap();
            store(&mut db, &row, &key).unwrap();
        }
        let (query, dates) = demographic_query(&key, &child(5).demographics);
        let keyed_blocks = query.blocks.as_ref().unwrap();
        let ids = key.encode_identifiers(&with_ids(5).identifiers);
        let (upn, nhs) = (ids.upn.as_ref().unwrap(), ids.nhs_number.as_ref().unwrap());
        let all = token_lookups_for!(
            diesel::pg::Pg,
            false,
            &dates,
            keyed_blocks,
            upn,
            nhs,
            key.id()
        );
        let DbConnection::Pg(pg) = &mut *db else {
            unreachable!()
        };
        pg.batch_execute("ANALYZE child_keyed").unwrap();
        let mut used = Vec::new();
        for block in all {
            let q = block.select(KeyedRow::as_select()).limit(200);
            let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
            let plan = Explain(q).load::<String>(pg).unwrap().join("\n");
            let hashed: Vec<&str> = plan
                .split_whitespace()
                .filter(|w| w.starts_with("child_keyed_") && w.ends_with("_hash"))
                .collect();
            assert!(
                hashed.len() == 1 && plan.contains("Index Scan") && !plan.contains("Seq Scan"),
                "{sql}:\n{plan}"
            );
            used.extend(hashed.into_iter().map(str::to_owned));
        }
        used.sort();
        used.dedup();
        assert_eq!(
            used,
            [
                "child_keyed_day2_hash",
                "child_keyed_day_hash",
                "child_keyed_dob_hash",
                "child_keyed_family2_hash",
                "child_keyed_family_hash",
                "child_keyed_family_sector_hash",
                "child_keyed_nhs_number_hash",
                "child_keyed_sector_hash",
                "child_keyed_upn_hash",
            ]
        );
    }
}
