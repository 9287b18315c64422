//! Blocking keys: computed when a child is written, indexed, and looked up at search time
//! so that a search reads a few small blocks of children and never the whole table.

use super::normalise::{NormalName, Postcode, swap_day_month};
use super::phonetic::refined_soundex;
use chrono::{Datelike, NaiveDate};
use schemas::{Demographics, KnownDemographics, SearchDemographics};

/// Raise when the way keys are computed changes: rows with an older version have their
/// keys recomputed at start.
pub const MATCH_KEYS_VERSION: i32 = 1;

/// The keys stored on a child's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeys {
    /// Phonetic code of the family name; of its first part when double-barrelled.
    pub family_name_key: String,
    /// Phonetic code of the last part of a double-barrelled family name.
    pub family_name_key2: Option<String>,
    pub birth_year: i32,
    /// `ZZ1 4` for `ZZ1 4AB`.
    pub postcode_sector: Option<String>,
}

/// The birth year stored for a child whose date of birth is not known: one no search
/// reads (dates of birth start in 1990), so such a child is in no block of a year.
pub const UNKNOWN_BIRTH_YEAR: i32 = 0;

pub fn stored_keys(d: &Demographics) -> StoredKeys {
    stored_keys_known(&KnownDemographics::from(d.clone()))
}

/// [`stored_keys`] of what a node holds, where any field may be missing: no family name
/// gives an empty key (no search's family keys are empty), no date of birth
/// [`UNKNOWN_BIRTH_YEAR`].
pub fn stored_keys_known(d: &KnownDemographics) -> StoredKeys {
    let name = NormalName::new(d.family_name.as_deref().unwrap_or_default());
    let parts: Vec<&str> = name.significant_parts().collect();
    let (family_name_key, family_name_key2) = match parts.as_slice() {
        [first, .., last] => (refined_soundex(first), Some(refined_soundex(last))),
        _ => (refined_soundex(&name.joined), None),
    };
    StoredKeys {
        family_name_key,
        family_name_key2,
        birth_year: d.date_of_birth.map_or(UNKNOWN_BIRTH_YEAR, |d| d.year()),
        postcode_sector: d
            .postcode
            .as_deref()
            .and_then(Postcode::parse)
            .map(|p| p.sector),
    }
}

/// The phonetic codes of a child's former family names (one each, of the whole name,
/// deduplicated, none for an empty one): stored one a row with the child's date of birth,
/// so that a search by a family name the child was known by before reads it through an
/// index. A former name counts only when it agrees exactly with the query's (see
/// [`super::score::compare_asked`]), and then its code is the query's first family key.
pub fn former_family_keys<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut keys: Vec<String> = names
        .iter()
        .map(|n| refined_soundex(&NormalName::new(n.as_ref()).joined))
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The blocks one search reads. A child is a candidate when it falls in any of them:
/// the same phonetic family name (either stored key) and birth year; the same date of
/// birth, or that date with day and month swapped; the same postcode sector and birth
/// year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingKeys {
    pub family: Vec<String>,
    /// Phonetic codes of the query's given name (whole and parts), read as family keys
    /// with the date of birth (narrow tier only): a child recorded with given and
    /// family name the other way round. Empty when they equal `family`'s.
    pub transposed: Vec<String>,
    /// `None` when the search has no date of birth.
    pub birth_year: Option<i32>,
    pub dates: Vec<NaiveDate>,
    /// Every valid date one of whose eight digits `YYYYMMDD` differs from the date of
    /// birth: read with the family name, so a slip in the year is found too.
    pub near_dates: Vec<NaiveDate>,
    pub postcode_sector: Option<String>,
}

/// Valid dates that differ from `date` in exactly one digit of `YYYYMMDD`.
pub fn one_digit_dates(date: NaiveDate) -> Vec<NaiveDate> {
    let digits = super::normalise::date_digits(date);
    let mut out = Vec::new();
    for at in 0..digits.len() {
        for d in b'0'..=b'9' {
            if d == digits[at] {
                continue;
            }
            let mut v = digits;
            v[at] = d;
            let text = String::from_utf8_lossy(&v).into_owned();
            if let Ok(near) = NaiveDate::parse_from_str(&text, "%Y%m%d") {
                out.push(near);
            }
        }
    }
    out
}

pub fn blocking_keys(d: &Demographics) -> BlockingKeys {
    search_blocking_keys(&SearchDemographics::from(d.clone()))
}

/// [`blocking_keys`] of a search that may be partial: no family name gives no family
/// keys (and reads no family block), no given name no transposed keys, no date of birth
/// no dates and no birth year (the family blocks are then read across every year, see
/// the node's `db::children::blocks`).
pub fn search_blocking_keys(d: &SearchDemographics) -> BlockingKeys {
    let name = NormalName::new(d.family());
    let mut family: Vec<String> = std::iter::once(name.joined.as_str())
        .chain(name.significant_parts())
        .map(refined_soundex)
        .filter(|k| !k.is_empty())
        .collect();
    family.sort();
    family.dedup();
    let given = NormalName::new(d.given());
    let mut transposed: Vec<String> = std::iter::once(given.joined.as_str())
        .chain(given.significant_parts())
        .map(refined_soundex)
        .filter(|k| !k.is_empty() && !family.contains(k))
        .collect();
    transposed.sort();
    transposed.dedup();
    let dates = d
        .date_of_birth
        .into_iter()
        .flat_map(|date| std::iter::once(date).chain(swap_day_month(date)))
        .collect();
    BlockingKeys {
        family,
        transposed,
        birth_year: d.date_of_birth.map(|date| date.year()),
        dates,
        near_dates: d.date_of_birth.map(one_digit_dates).unwrap_or_default(),
        postcode_sector: d
            .postcode
            .as_deref()
            .and_then(Postcode::parse)
            .map(|p| p.sector),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demographics(family: &str, dob: &str, postcode: Option<&str>) -> Demographics {
        Demographics {
            given_name: "Amelia".into(),
            family_name: family.into(),
            date_of_birth: dob.parse().unwrap(),
            sex: None,
            postcode: postcode.map(str::to_owned),
        }
    }

    #[test]
    fn double_barrelled_names_store_a_key_per_part() {
        let k = stored_keys(&demographics("Wood-Allen", "2014-03-09", Some("zz1 4ab")));
        assert_eq!(k.family_name_key, refined_soundex("wood"));
        assert_eq!(k.family_name_key2, Some(refined_soundex("allen")));
        assert_eq!(k.birth_year, 2014);
        assert_eq!(k.postcode_sector.as_deref(), Some("ZZ1 4"));
        let single = stored_keys(&demographics("O'Neill", "2014-03-09", None));
        assert_eq!(single.family_name_key, refined_soundex("oneill"));
        assert_eq!(single.family_name_key2, None);
        assert_eq!(single.postcode_sector, None);
    }

    #[test]
    fn a_search_for_either_part_meets_a_stored_key() {
        let stored = stored_keys(&demographics("Wood-Allen", "2014-03-09", None));
        for query in ["Allen", "Wood", "Wood Allen"] {
            let keys = blocking_keys(&demographics(query, "2014-03-09", None));
            assert!(
                keys.family.contains(&stored.family_name_key)
                    || stored
                        .family_name_key2
                        .as_ref()
                        .is_some_and(|k| keys.family.contains(k)),
                "{query}"
            );
        }
    }

    #[test]
    fn a_search_reads_the_swapped_date_too() {
        let keys = blocking_keys(&demographics("Okafor", "2014-03-09", Some("ZZ1 4AB")));
        assert_eq!(
            keys.dates,
            vec!["2014-03-09".parse().unwrap(), "2014-09-03".parse().unwrap()]
        );
        assert_eq!(keys.postcode_sector.as_deref(), Some("ZZ1 4"));
    }
}
