//! Given-name slips (one keystroke off, refused by the name lists alone, as `Evi` for
//! `Evie`) against a real database: counted as a typo only when the node's counts and
//! the other children here allow it, in plain and keyed mode alike, with the broad blocks
//! read or left unread.

use super::tests::{girl as person, hold, test_key};
use super::*;
use crate::db::testing::TestDb;
use schemas::MatchOutcome;
use schemas::{ChildIdentifiers, Demographics};

/// Settings whose name counts speak from `from` children on.
fn counts_from(from: f64) -> MatchingSettings {
    let mut settings = MatchingSettings::default();
    settings.weights.frequency.prior_children = from;
    settings
}

/// The plain answer, after checking that keyed mode and a search reading every block
/// give the same one.
fn ask(conn: &mut DbConnection, d: Demographics, settings: &MatchingSettings) -> MatchResponse {
    let query = ChildQuery {
        identifiers: ChildIdentifiers::default(),
        demographics: Some(d.into()),
    };
    let plain = find_with(conn, &query, settings).unwrap();
    let json = |a: &MatchResponse| serde_json::to_value(a).unwrap();
    let every_block = find_reading(conn, &query, settings, false).unwrap();
    assert_eq!(json(&every_block), json(&plain), "every block: {query:?}");
    let keyed = find_keyed(
        conn,
        &test_key().encode_query(&query),
        Some(test_key()),
        settings,
    )
    .unwrap();
    assert_eq!(json(&keyed), json(&plain), "keyed: {query:?}");
    plain
}

/// A node holding `Evi` Cox (a slip for Evie: `evi` is one keystroke from `eva` and
/// `eve` too, so the name lists alone refuse it) and three children of other names.
fn node_with_evi() -> (TestDb, String) {
    let mut conn = TestDb::fresh();
    let id = hold(&mut conn, "A", person("Evi", "Cox", "2014-03-09"));
    for (n, given) in ["Grace", "Olivia", "Priya"].iter().enumerate() {
        hold(
            &mut conn,
            &format!("F{n}"),
            person(given, "Adeyemi", &format!("2012-01-0{}", n + 1)),
        );
    }
    (conn, id)
}

#[test]
fn a_slip_no_other_child_here_could_be_is_linked_as_a_typo() {
    let (mut conn, id) = node_with_evi();
    let answer = ask(
        &mut conn,
        person("Evie", "Cox", "2014-03-09"),
        &counts_from(2.0),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
    assert!(
        answer.matched_on.contains(&"given_name:typo".to_owned()),
        "{answer:?}"
    );
}

#[test]
fn a_slip_is_not_a_typo_at_a_node_too_small_for_its_counts() {
    let (mut conn, _) = node_with_evi();
    // The default: counts speak from 1,000 children; this node holds 4.
    let answer = ask(
        &mut conn,
        person("Evie", "Cox", "2014-03-09"),
        &MatchingSettings::default(),
    );
    assert_eq!(answer.outcome, MatchOutcome::Candidates, "{answer:?}");
}

#[test]
fn a_slip_is_not_a_typo_with_a_twin_here() {
    let (mut conn, _) = node_with_evi();
    // Another child of the family name and date of birth: `Evi` may be her twin's name.
    hold(&mut conn, "T", person("Oscar", "Cox", "2014-03-09"));
    let answer = ask(
        &mut conn,
        person("Evie", "Cox", "2014-03-09"),
        &counts_from(2.0),
    );
    assert!(!answer.held, "{answer:?}");
}

#[test]
fn a_slip_between_two_names_children_here_carry_is_not_a_typo() {
    let mut conn = TestDb::fresh();
    // `Miya` and `Mia` are both carried by children here: names in their own right, so
    // the held `Miya` Cox is not taken for a slip of the searched-for `Mia`.
    hold(&mut conn, "A", person("Miya", "Cox", "2014-03-09"));
    hold(&mut conn, "B", person("Miya", "Adeyemi", "2012-01-01"));
    hold(&mut conn, "C", person("Mia", "Adeyemi", "2012-01-02"));
    let answer = ask(
        &mut conn,
        person("Mia", "Cox", "2014-03-09"),
        &counts_from(2.0),
    );
    assert!(!answer.held, "{answer:?}");
    // With only the held `Miya` carrying that spelling, it is taken for a slip.
    let mut conn = TestDb::fresh();
    let id = hold(&mut conn, "A", person("Miya", "Cox", "2014-03-09"));
    hold(&mut conn, "C", person("Mia", "Adeyemi", "2012-01-02"));
    hold(&mut conn, "D", person("Grace", "Adeyemi", "2012-01-03"));
    let answer = ask(
        &mut conn,
        person("Mia", "Cox", "2014-03-09"),
        &counts_from(2.0),
    );
    assert_eq!(answer.local_ref.as_ref(), Some(&id), "{answer:?}");
}
