//! The comparison levels of recent searches' compared pairs, shared by every replica of
//! the node so that each estimates its *m* from the same pairs (see
//! `finding::estimating`). Levels only: no value, no child, no query, no time.

use super::schema::match_pairs::dsl as p;
use super::{DbConnection, DbError};
use diesel::prelude::*;
use matching::em::PairLevels;

type Row = (
    Option<i16>,
    Option<i16>,
    Option<i16>,
    Option<i16>,
    Option<i16>,
    Option<i16>,
);

/// Adds `pairs`, then drops all but the newest `keep`. Call it inside [`super::write`].
pub fn add(conn: &mut DbConnection, pairs: &[PairLevels], keep: usize) -> Result<(), DbError> {
    let level = |l: Option<u8>| l.map(i16::from);
    let rows: Vec<_> = pairs
        .iter()
        .map(|l| {
            (
                p::given_name.eq(level(l[0])),
                p::family_name.eq(level(l[1])),
                p::date_of_birth.eq(level(l[2])),
                p::postcode.eq(level(l[3])),
                p::sex.eq(level(l[4])),
                p::names_order.eq(level(l[5])),
            )
        })
        .collect();
    for chunk in rows.chunks(super::ROWS_PER_INSERT) {
        super::on_backend!(&mut *conn, |c| diesel::insert_into(p::match_pairs)
            .values(chunk)
            .execute(c))?;
    }
    let newest: Option<i64> = p::match_pairs.select(diesel::dsl::max(p::id)).first(conn)?;
    if let Some(newest) = newest {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        diesel::delete(p::match_pairs.filter(p::id.le(newest.saturating_sub(keep))))
            .execute(conn)?;
    }
    Ok(())
}

/// The newest `limit` pairs.
pub fn newest(conn: &mut DbConnection, limit: usize) -> Result<Vec<PairLevels>, DbError> {
    let rows: Vec<Row> = p::match_pairs
        .order(p::id.desc())
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select((
            p::given_name,
            p::family_name,
            p::date_of_birth,
            p::postcode,
            p::sex,
            p::names_order,
        ))
        .load(conn)?;
    let level = |l: Option<i16>| l.and_then(|l| u8::try_from(l).ok());
    Ok(rows
        .into_iter()
        .map(|(g, f, d, pc, s, o)| [level(g), level(f), level(d), level(pc), level(s), level(o)])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TestDb;

    #[test]
    fn pairs_round_trip_and_only_the_newest_are_kept() {
        let mut conn = TestDb::fresh();
        let pair =
            |i: u8| -> PairLevels { [Some(i % 5), None, Some(0), Some(3), None, Some(i % 2)] };
        let first: Vec<PairLevels> = (0..6).map(pair).collect();
        crate::db::write(&mut conn, |c| add(c, &first, 10)).unwrap();
        let second: Vec<PairLevels> = (6..12).map(pair).collect();
        crate::db::write(&mut conn, |c| add(c, &second, 10)).unwrap();
        let kept = newest(&mut conn, 100).unwrap();
        assert_eq!(kept.len(), 10);
        let want: Vec<PairLevels> = (2..12).rev().map(pair).collect();
        assert_eq!(kept, want);
        assert_eq!(newest(&mut conn, 3).unwrap(), want[..3].to_vec());
    }
}
