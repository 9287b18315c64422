//! How many of the node's children carry each normalised given and family name (the
//! `joined` form of [`NormalName`]: accents folded, case and punctuation dropped), and
//! each part of a double-barrelled family name, for frequency-based name weights (see
//! `docs/matching.md` §3). Kept in step by
//! [`super::children::upsert`]; a node that held children before the table existed fills
//! it at start ([`fill_if_missing`]).

use super::DbConnection;
use super::DbError;
use super::schema::children::dsl as c;
use super::schema::name_counts::dsl as n;
use diesel::prelude::*;
use matching::normalise::NormalName;
use std::collections::HashMap;

/// Which name a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    Given,
    Family,
    /// A part of a family name that is not the whole name (`allen` of `Wood-Allen`,
    /// `silva` of `Da Silva`): what the `part` level agrees on.
    FamilyPart,
}

impl NameKind {
    fn as_str(self) -> &'static str {
        match self {
            NameKind::Given => "given",
            NameKind::Family => "family",
            NameKind::FamilyPart => "family_part",
        }
    }
}

/// The form a name is counted in.
pub fn count_key(raw: &str) -> String {
    NormalName::new(raw).joined
}

/// The parts of a family name counted as [`NameKind::FamilyPart`]: its significant parts
/// (as the `part` level compares them) other than the whole name, each once.
pub fn family_parts(raw: &str) -> Vec<String> {
    let name = NormalName::new(raw);
    let mut parts: Vec<String> = name
        .significant_parts()
        .filter(|p| *p != name.joined)
        .map(str::to_owned)
        .collect();
    parts.sort_unstable();
    parts.dedup();
    parts
}

/// Every count a child with these names adds one to.
fn counted(given: &str, family: &str) -> Vec<(NameKind, String)> {
    let mut out = vec![
        (NameKind::Given, count_key(given)),
        (NameKind::Family, count_key(family)),
    ];
    out.extend(
        family_parts(family)
            .into_iter()
            .map(|p| (NameKind::FamilyPart, p)),
    );
    out.retain(|(_, name)| !name.is_empty());
    out
}

/// Adds `delta` (positive or negative) to a name's count; a count that reaches zero is
/// removed. Call inside [`super::write`].
fn add(conn: &mut DbConnection, kind: NameKind, name: &str, delta: i64) -> Result<(), DbError> {
    if name.is_empty() || delta == 0 {
        return Ok(());
    }
    let row = n::name_counts.find((kind.as_str(), name));
    let updated = diesel::update(row)
        .set(n::count.eq(n::count + delta))
        .execute(conn)?;
    if updated == 0 {
        if delta > 0 {
            diesel::insert_into(n::name_counts)
                .values((
                    n::kind.eq(kind.as_str()),
                    n::name.eq(name),
                    n::count.eq(delta),
                ))
                .execute(conn)?;
        }
    } else if delta < 0 {
        diesel::delete(row.filter(n::count.le(0))).execute(conn)?;
    }
    Ok(())
}

/// A count to add, as the bulk path inserts it.
#[derive(Insertable)]
#[diesel(table_name = super::schema::name_counts)]
#[diesel(treat_none_as_default_value = false)]
struct Delta<'a> {
    kind: &'a str,
    name: &'a str,
    count: i64,
}

/// Many new children were written (the bulk path): each name's count rises by how many
/// of them carry it, aggregated first, then written in multi-row upserts
/// (`ON CONFLICT (kind, name) DO UPDATE SET count = count + excluded.count`). Call
/// inside [`super::write`].
pub fn record_new(conn: &mut DbConnection, names: &[(&str, &str)]) -> Result<(), DbError> {
    use diesel::upsert::excluded;
    let mut deltas: HashMap<(NameKind, String), i64> = HashMap::new();
    for (given, family) in names {
        for key in counted(given, family) {
            *deltas.entry(key).or_default() += 1;
        }
    }
    let mut deltas: Vec<_> = deltas
        .into_iter()
        .filter(|((_, name), delta)| !name.is_empty() && *delta != 0)
        .collect();
    // A fixed order, so that concurrent writers (PostgreSQL) take row locks alike.
    deltas.sort_by(|a, b| (a.0.0.as_str(), &a.0.1).cmp(&(b.0.0.as_str(), &b.0.1)));
    let rows: Vec<Delta<'_>> = deltas
        .iter()
        .map(|((kind, name), delta)| Delta {
            kind: kind.as_str(),
            name,
            count: *delta,
        })
        .collect();
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        super::on_backend!(&mut *conn, |c| diesel::insert_into(n::name_counts)
            .values(chunk)
            .on_conflict((n::kind, n::name))
            .do_update()
            .set(n::count.eq(n::count + excluded(n::count)))
            .execute(c))?;
    }
    Ok(())
}

/// A child was written: with `old` its previous given and family names (a rename), or
/// `None` for a new child. Call inside [`super::write`].
pub fn record_write(
    conn: &mut DbConnection,
    old: Option<(&str, &str)>,
    given: &str,
    family: &str,
) -> Result<(), DbError> {
    let new = counted(given, family);
    let old = old.map(|(g, f)| counted(g, f)).unwrap_or_default();
    for gone in old.iter().filter(|o| !new.contains(o)) {
        add(conn, gone.0, &gone.1, -1)?;
    }
    for came in new.iter().filter(|n| !old.contains(n)) {
        add(conn, came.0, &came.1, 1)?;
    }
    Ok(())
}

/// The counts of these names (in their counted form); a name no child carries is absent.
pub fn counts(
    conn: &mut DbConnection,
    kind: NameKind,
    names: &[String],
) -> Result<HashMap<String, i64>, DbError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(n::name_counts
        .filter(n::kind.eq(kind.as_str()))
        .filter(n::name.eq_any(names))
        .select((n::name, n::count))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Counts every child's names when the table is empty but the node holds children (a
/// node migrated from before the table existed). Runs at start; returns how many
/// children were counted.
pub fn fill_if_missing(conn: &mut DbConnection) -> Result<u64, DbError> {
    super::write(conn, |conn| {
        let any_count: Option<String> = n::name_counts.select(n::name).first(conn).optional()?;
        if any_count.is_some() {
            return Ok(0);
        }
        const PAGE: i64 = 10_000;
        let mut tally: HashMap<(NameKind, String), i64> = HashMap::new();
        let mut after = String::new();
        let mut children = 0u64;
        loop {
            let page: Vec<(String, String, String)> = c::children
                .filter(c::id.gt(&after))
                .order(c::id.asc())
                .select((c::id, c::given_name, c::family_name))
                .limit(PAGE)
                .load(conn)?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (_, given, family) in &page {
                for key in counted(given, family) {
                    *tally.entry(key).or_default() += 1;
                }
                children += 1;
            }
        }
        for ((kind, name), count) in tally {
            diesel::insert_into(n::name_counts)
                .values((
                    n::kind.eq(kind.as_str()),
                    n::name.eq(name),
                    n::count.eq(count),
                ))
                .execute(conn)?;
        }
        Ok(children)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDb;
    use schemas::{ChildIdentifiers, ChildUpsert, Demographics};

    fn child(given: &str, family: &str) -> ChildUpsert {
        ChildUpsert {
            demographics: Demographics {
                given_name: given.into(),
                family_name: family.into(),
                date_of_birth: "2014-03-09".parse().unwrap(),
                sex: None,
                postcode: None,
            }
            .into(),
            identifiers: ChildIdentifiers::default(),
        }
    }

    fn write_child(conn: &mut DbConnection, local_id: &str, given: &str, family: &str) {
        let c = child(given, family);
        crate::db::write(conn, |conn| {
            crate::db::children::upsert(conn, local_id, &c).map(drop)
        })
        .unwrap();
    }

    fn count_of(conn: &mut DbConnection, kind: NameKind, raw: &str) -> i64 {
        let name = count_key(raw);
        counts(conn, kind, std::slice::from_ref(&name))
            .unwrap()
            .get(&name)
            .copied()
            .unwrap_or(0)
    }

    #[test]
    fn counts_follow_inserts_and_renames() {
        let mut db = TestDb::fresh();
        let conn = &mut *db;
        write_child(conn, "a", "Amelia", "O'Neill");
        write_child(conn, "b", "amelia", "ONeill");
        write_child(conn, "c", "Zoë", "Okafor");
        assert_eq!(count_of(conn, NameKind::Given, "Amelia"), 2);
        assert_eq!(count_of(conn, NameKind::Family, "O Neill"), 2);
        assert_eq!(count_of(conn, NameKind::Given, "Zoe"), 1);
        // Given and family counts are kept apart.
        assert_eq!(count_of(conn, NameKind::Family, "Amelia"), 0);
        // Writing the same child again with the same names changes nothing.
        write_child(conn, "a", "AMELIA", "O'Neill");
        assert_eq!(count_of(conn, NameKind::Given, "Amelia"), 2);
        // A rename moves the child's count from the old name to the new one.
        write_child(conn, "b", "Amelia", "Mensah");
        assert_eq!(count_of(conn, NameKind::Family, "ONeill"), 1);
        assert_eq!(count_of(conn, NameKind::Family, "Mensah"), 1);
        write_child(conn, "c", "Olivia", "Okafor");
        assert_eq!(count_of(conn, NameKind::Given, "Zoe"), 0);
        assert_eq!(count_of(conn, NameKind::Given, "Olivia"), 1);
        assert_eq!(count_of(conn, NameKind::Family, "Okafor"), 1);
    }

    #[test]
    fn parts_of_double_barrelled_family_names_are_counted_apart() {
        let mut db = TestDb::fresh();
        let conn = &mut *db;
        write_child(conn, "a", "Amelia", "Wood-Allen");
        write_child(conn, "b", "Noah", "Allen");
        write_child(conn, "c", "Zoe", "Da Silva");
        write_child(conn, "d", "Ava", "Allen Allen");
        // A part is counted when it is not the whole name, once per child.
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Allen"), 2);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Wood"), 1);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Silva"), 1);
        // The particle is no part; a single-part name has none.
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Da"), 0);
        assert_eq!(count_of(conn, NameKind::Family, "Allen"), 1);
        // Whole names are counted as before.
        assert_eq!(count_of(conn, NameKind::Family, "Wood-Allen"), 1);
        // A rename moves the parts: `Wood` goes, `Allen` stays, `Okafor` comes.
        write_child(conn, "a", "Amelia", "Okafor-Allen");
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Wood"), 0);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Allen"), 2);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Okafor"), 1);
        write_child(conn, "a", "Amelia", "Okafor");
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Allen"), 1);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Okafor"), 0);
        assert_eq!(count_of(conn, NameKind::Family, "Okafor"), 1);
    }

    #[test]
    fn a_node_without_counts_fills_them_at_start() {
        let mut db = TestDb::fresh();
        let conn = &mut *db;
        write_child(conn, "a", "Amelia", "Okafor");
        write_child(conn, "b", "Amélia", "Smith");
        write_child(conn, "c", "Noah", "Smith");
        write_child(conn, "d", "Ava", "Smith-Okafor");
        // As if the node had held these children before the table existed.
        crate::db::write(conn, |conn| {
            diesel::delete(n::name_counts).execute(conn)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fill_if_missing(conn).unwrap(), 4);
        assert_eq!(count_of(conn, NameKind::Given, "Amelia"), 2);
        assert_eq!(count_of(conn, NameKind::Family, "Smith"), 2);
        assert_eq!(count_of(conn, NameKind::Family, "Okafor"), 1);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Okafor"), 1);
        assert_eq!(count_of(conn, NameKind::FamilyPart, "Smith"), 1);
        // Once filled, a second start leaves them alone.
        assert_eq!(fill_if_missing(conn).unwrap(), 0);
        assert_eq!(count_of(conn, NameKind::Given, "Noah"), 1);
    }
}
