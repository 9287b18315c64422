//! The family-name `typo` level against a real database, in plain and keyed mode (every
//! search is run both ways and must give the same answer), and with the broad blocks
//! read or left unread.

use super::tests::{hold, test_key};
use super::*;
use crate::db::testing::TestDb;
use schemas::{ChildIdentifiers, Demographics};
use schemas::{MatchOutcome, Sex};

fn person(given: &str, family: &str, dob: &str, postcode: Option<&str>) -> Demographics {
    Demographics {
        given_name: given.into(),
        family_name: family.into(),
        date_of_birth: dob.parse().unwrap(),
        sex: Some(Sex::Female),
        postcode: postcode.map(str::to_owned),
    }
}

/// The plain and the keyed answer, after checking that a plain search reading every
/// block gives the same answer as one that may leave the broad blocks unread.
fn ask_both(conn: &mut DbConnection, d: Demographics) -> (MatchResponse, MatchResponse) {
    let query = ChildQuery {
        identifiers: ChildIdentifiers::default(),
        demographics: Some(d.into()),
    };
    let settings = MatchingSettings::default();
    let plain = find_with(conn, &query, &settings).unwrap();
    let every_block = find_reading(conn, &query, &settings, false).unwrap();
    let json = |a: &MatchResponse| serde_json::to_value(a).unwrap();
    assert_eq!(json(&every_block), json(&plain), "{query:?}");
    let keyed = find_keyed(
        conn,
        &test_key().encode_query(&query),
        Some(test_key()),
        &settings,
    )
    .unwrap();
    (plain, keyed)
}

/// The plain answer, after checking that keyed mode gives the same one (for pairs whose
/// levels are decided by equality of values, so by equality of tokens in keyed mode).
fn ask(conn: &mut DbConnection, d: Demographics) -> MatchResponse {
    let (plain, keyed) = ask_both(conn, d);
    let json = |a: &MatchResponse| serde_json::to_value(a).unwrap();
    assert_eq!(json(&keyed), json(&plain), "keyed differs");
    plain
}

/// Neither mode links anyone. (`similar` is Jaro-Winkler in plain mode and Dice of Bloom
/// filters in keyed mode, so the unlinked candidates may differ.)
fn linked_in_neither(conn: &mut DbConnection, d: Demographics) -> Vec<MatchResponse> {
    let (plain, keyed) = ask_both(conn, d);
    assert!(!plain.held, "{plain:?}");
    assert!(!keyed.held, "{keyed:?}");
    vec![plain, keyed]
}

#[test]
fn a_typo_in_the_family_name_is_linked_without_a_postcode() {
    let mut conn = TestDb::fresh();
    // A sibling born another year, at the same address: not a rival.
    hold(
        &mut conn,
        "B",
        person("Olivia", "Okafor", "2011-06-30", Some("ZZ1 4AB")),
    );
    let id = hold(
        &mut conn,
        "A",
        person("Amelia", "Okafro", "2014-03-09", None),
    );
    // Before the `typo` level this was `similar` (21.6 bits): only a candidate.
    let answer = ask(
        &mut conn,
        person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
    assert!(
        answer.matched_on.contains(&"family_name:typo".to_owned()),
        "{answer:?}"
    );
    // A typo whose phonetic code differs (`q` for `r`): outside the narrow blocks, found
    // in the date-of-birth block.
    let mut conn = TestDb::fresh();
    let id = hold(
        &mut conn,
        "A",
        person("Amelia", "Baqker", "2014-03-09", None),
    );
    let answer = ask(&mut conn, person("Amelia", "Barker", "2014-03-09", None));
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
}

#[test]
fn a_twin_with_a_family_name_typo_is_never_linked() {
    let mut conn = TestDb::fresh();
    // Only the other twin is held, with a typo in the family name: the given name
    // disagrees, so the typo level does not apply and the twin rule caps it.
    hold(
        &mut conn,
        "T",
        person("Olivia", "Okafro", "2014-03-09", Some("ZZ1 4AB")),
    );
    linked_in_neither(
        &mut conn,
        person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    // Both twins held, the searched-for one with the typo: she is linked, not her twin.
    let id = hold(
        &mut conn,
        "A",
        person("Amelia", "Okafro", "2014-03-09", Some("ZZ1 4AB")),
    );
    let answer = ask(
        &mut conn,
        person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
}

#[test]
fn another_family_one_keystroke_away_is_not_a_typo_without_the_given_name() {
    let mut conn = TestDb::fresh();
    // Same date of birth and address, another given name and a family name one keystroke
    // away: two children, not one.
    hold(
        &mut conn,
        "A",
        person("Grace", "Miles", "2014-03-09", Some("ZZ1 4AB")),
    );
    for answer in linked_in_neither(
        &mut conn,
        person("Amelia", "Mills", "2014-03-09", Some("ZZ1 4AB")),
    ) {
        assert!(
            answer
                .candidates
                .iter()
                .all(|c| !c.matched_on.contains(&"family_name:typo".to_owned())),
            "{answer:?}"
        );
    }
}

#[test]
fn another_family_born_the_same_day_elsewhere_does_not_stop_a_typo() {
    let mut conn = TestDb::fresh();
    let id = hold(
        &mut conn,
        "A",
        person("Amelai", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    // Same family name and birthday, another given name, living in another district:
    // not even a candidate, so not a twin the search could mean.
    hold(
        &mut conn,
        "B",
        person("Grace", "Okafor", "2014-03-09", Some("ZZ9 9XY")),
    );
    let answer = ask(
        &mut conn,
        person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    assert_eq!(answer.local_ref.as_ref(), Some(&id), "{answer:?}");
    assert!(
        answer.matched_on.contains(&"given_name:typo".to_owned()),
        "{answer:?}"
    );
    // At the same address she is a candidate, and may be the twin: no link.
    hold(
        &mut conn,
        "C",
        person("Grace", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
    linked_in_neither(
        &mut conn,
        person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
    );
}
