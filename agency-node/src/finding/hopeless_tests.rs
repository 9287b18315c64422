//! Leaving hopeless broad-block rows uncompared ([`Hopeless`]) changes no answer.

use super::*;
use crate::db::models::CandidateRow;
use crate::db::testing::TestDb;
use matching::score;
use rand::{Rng, SeedableRng};
use schemas::Sex;
use schemas::{ChildIdentifiers, ChildUpsert, Demographics};

const GIVEN: [&str; 9] = [
    "Amelia",
    "Amelie",
    "Emilia",
    "Noah",
    "Noa",
    "Ivy",
    "Alfie",
    "Alfred",
    "Mary-Jane",
];
const FAMILY: [&str; 9] = [
    "Okafor",
    "Okafur",
    "Patel",
    "Pateel",
    "Wood-Allen",
    "Allen",
    "Nowak",
    "Kowalski",
    "Smith",
];
const DATES: [&str; 8] = [
    "2014-03-09",
    "2014-09-03",
    "2014-03-08",
    "2014-03-19",
    "2014-04-09",
    "2014-11-02",
    "2015-03-09",
    "2013-07-21",
];
const POSTCODES: [Option<&str>; 6] = [
    Some("ZZ1 4AB"),
    Some("ZZ1 4AD"),
    Some("ZZ1 5QT"),
    Some("ZZ2 1CD"),
    Some("ZZ9 9ZZ"),
    None,
];
const SEXES: [Option<Sex>; 4] = [Some(Sex::Female), Some(Sex::Male), Some(Sex::Unknown), None];

/// A child (or a query) drawn from small pools, so every broad block holds many rows,
/// near and far from the query on every field.
fn person(rng: &mut impl Rng) -> Demographics {
    Demographics {
        given_name: GIVEN[rng.random_range(0..GIVEN.len())].into(),
        family_name: FAMILY[rng.random_range(0..FAMILY.len())].into(),
        date_of_birth: DATES[rng.random_range(0..DATES.len())].parse().unwrap(),
        sex: SEXES[rng.random_range(0..SEXES.len())],
        postcode: POSTCODES[rng.random_range(0..POSTCODES.len())].map(str::to_owned),
    }
}

/// A node of `n` such children, some with a UPN.
fn node(n: usize, rng: &mut impl Rng) -> TestDb {
    let mut db = TestDb::fresh();
    crate::db::write(&mut db, |conn| {
        for i in 0..n {
            let child = ChildUpsert {
                demographics: person(rng).into(),
                identifiers: ChildIdentifiers {
                    upn: (i % 7 == 0).then(|| upn(i)),
                    nhs_number: None,
                    ..Default::default()
                },
            };
            crate::db::children::upsert(conn, &format!("L{i}"), &child)?;
        }
        Ok(())
    })
    .unwrap();
    db
}

fn upn(i: usize) -> schemas::Upn {
    schemas::Upn::with_check_letter(&format!("999{i:09}")).unwrap()
}

/// Settings whose thresholds rise at a node this small, as at a large node; and the
/// defaults (lowered to the floor's here).
fn settings_both_ways() -> [MatchingSettings; 2] {
    let mut raised = MatchingSettings::default();
    raised.thresholds.reference_children = 10;
    raised.thresholds.floor_children = 1;
    [raised, MatchingSettings::default()]
}

fn queries(rng: &mut impl Rng, n: usize) -> Vec<ChildQuery> {
    (0..n)
        .map(|i| ChildQuery {
            identifiers: ChildIdentifiers {
                // Now and then a UPN that agrees with no child, or with one.
                upn: match i % 11 {
                    0 => Some(upn(1_000_000 + i)),
                    1 => Some(upn(7 * (i % 40))),
                    _ => None,
                },
                nhs_number: None,
                ..Default::default()
            },
            demographics: Some(person(rng).into()),
        })
        .collect()
}

#[test]
fn a_row_left_out_could_not_have_counted() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let mut db = node(300, &mut rng);
    let rows: Vec<CandidateRow> = {
        use crate::db::schema::children::dsl as c;
        use diesel::prelude::*;
        c::children
            .select(CandidateRow::as_select())
            .load(&mut *db)
            .unwrap()
    };
    let mut left_out = 0;
    let mut kept = 0;
    for settings in settings_both_ways() {
        let children = crate::db::children::estimated_count(&mut db).unwrap();
        for query in queries(&mut rng, 60) {
            let d = query.demographics.as_ref().unwrap();
            let names = query_name_weights(
                &mut db,
                d,
                &matching::search_blocking_keys(d).family,
                &settings,
                children,
                &[],
            )
            .unwrap();
            let mut hopeless = Hopeless::new(&settings, children, names);
            let mut rows_here = rows.clone();
            let asked = asked_of(&query).unwrap();
            let compared = score_rows(
                &mut db,
                &asked,
                &settings,
                children,
                &[],
                std::mem::take(&mut rows_here),
                None,
            )
            .unwrap();
            for (row, (id, comparison)) in rows.iter().zip(&compared) {
                assert_eq!(&row.id, id);
                if hopeless.cannot_count(&asked, row, &settings) {
                    left_out += 1;
                    let score = comparison.score(&settings);
                    assert!(
                        score::grade_at(score, &settings, children).is_none(),
                        "{row:?} scores {score} against {query:?}"
                    );
                } else {
                    kept += 1;
                }
            }
        }
    }
    assert!(
        left_out > 1000 && kept > 1000,
        "both kinds are exercised: {left_out} left out, {kept} kept"
    );
}

#[test]
fn leaving_hopeless_rows_uncompared_changes_no_answer() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut db = node(400, &mut rng);
    let mut held = 0;
    let mut unlinked = 0;
    for settings in settings_both_ways() {
        for query in queries(&mut rng, 150) {
            for settle_early in [true, false] {
                let pruned =
                    find_reading_pruned(&mut db, &query, &settings, settle_early, true).unwrap();
                let every =
                    find_reading_pruned(&mut db, &query, &settings, settle_early, false).unwrap();
                assert_eq!(
                    serde_json::to_value(&pruned).unwrap(),
                    serde_json::to_value(&every).unwrap(),
                    "{query:?}"
                );
                if pruned.held {
                    held += 1;
                } else if !pruned.candidates.is_empty() {
                    unlinked += 1;
                }
            }
        }
    }
    assert!(
        held > 20 && unlinked > 20,
        "links and candidate lists are both compared: {held} held, {unlinked} unlinked with candidates"
    );
}
