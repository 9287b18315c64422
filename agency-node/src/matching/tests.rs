//! Matching against a real database with the node's migrations: in-memory SQLite, or a
//! fresh PostgreSQL database when `FEDERATION_TEST_DATABASE` names a server.

use super::*;
use crate::db::children::upsert;
use crate::db::testing::TestDb;
use schemas::{ChildIdentifiers, ChildUpsert, Demographics, NhsNumber, Upn};

fn memory_db() -> TestDb {
    TestDb::fresh()
}

fn demographics(given: &str, family: &str, dob: &str, postcode: Option<&str>) -> Demographics {
    Demographics {
        given_name: given.into(),
        family_name: family.into(),
        date_of_birth: dob.parse().unwrap(),
        sex: None,
        postcode: postcode.map(str::to_owned),
    }
}

fn upn(n: u32) -> Upn {
    Upn::with_check_letter(&format!("999{n:09}")).unwrap()
}

fn nhs(n: u32) -> NhsNumber {
    (n..n + 20)
        .find_map(|k| NhsNumber::with_check_digit(&format!("999{k:06}")))
        .unwrap()
}

/// Stores a child; returns its local reference (the row id).
fn store(
    conn: &mut DbConnection,
    local_id: &str,
    d: Demographics,
    ids: ChildIdentifiers,
) -> String {
    let child = ChildUpsert {
        demographics: d,
        identifiers: ids,
    };
    crate::db::write(conn, |conn| {
        let (row, _) = upsert(conn, local_id, &child)?;
        // Every child is stored with its keyed encodings too, so that every search in
        // these tests is also run in keyed mode (see `ask`).
        crate::db::keyed::store(conn, &row, test_key())?;
        Ok(row)
    })
    .unwrap()
    .id
}

fn test_key() -> &'static MatchingKey {
    static KEY: std::sync::OnceLock<MatchingKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap())
}

fn ask(conn: &mut DbConnection, d: Option<Demographics>, ids: ChildIdentifiers) -> MatchResponse {
    let query = ChildQuery {
        identifiers: ids,
        demographics: d,
    };
    let plain = find(conn, &query).unwrap();
    // Keyed mode gives the same answer: outcome, reference, grade, fields, candidates.
    let keyed = find_keyed(
        conn,
        &test_key().encode_query(&query),
        Some(test_key()),
        &MatchingSettings::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&keyed).unwrap(),
        serde_json::to_value(&plain).unwrap(),
        "keyed and plain answers differ for {query:?}"
    );
    plain
}

fn by_upn(n: u32) -> ChildIdentifiers {
    ChildIdentifiers {
        upn: Some(upn(n)),
        nhs_number: None,
    }
}

fn no_ids() -> ChildIdentifiers {
    ChildIdentifiers::default()
}

#[test]
fn an_agreeing_identifier_is_certain() {
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        by_upn(1),
    );
    let answer = ask(&mut conn, None, by_upn(1));
    assert_eq!(answer.outcome, MatchOutcome::Held);
    assert!(answer.held);
    assert_eq!(answer.local_ref.as_deref(), Some(id.as_str()));
    assert_eq!(answer.grade, Some(MatchGrade::Certain));
    assert_eq!(answer.matched_on, vec!["upn"]);
    // With demographics that agree except for a typo and a new surname: still certain.
    let answer = ask(
        &mut conn,
        Some(demographics("Amelia", "Mensah", "2014-03-08", None)),
        by_upn(1),
    );
    assert_eq!(answer.grade, Some(MatchGrade::Certain));
    assert!(answer.matched_on.contains(&"given_name".to_owned()));
}

#[test]
fn an_identifier_the_demographics_contradict_is_not_linked() {
    let mut conn = memory_db();
    store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        by_upn(1),
    );
    let answer = ask(
        &mut conn,
        Some(demographics("Noah", "Smith", "2017-11-20", Some("ZZ5 2QP"))),
        by_upn(1),
    );
    assert_eq!(answer.outcome, MatchOutcome::NotHeld);
    assert!(!answer.held);
    assert_eq!(answer.local_ref, None);
}

#[test]
fn a_upn_and_an_nhs_number_naming_different_children_are_ambiguous() {
    let mut conn = memory_db();
    store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", None),
        by_upn(1),
    );
    store(
        &mut conn,
        "B",
        demographics("Amelia", "Okafor", "2014-03-09", None),
        ChildIdentifiers {
            upn: None,
            nhs_number: Some(nhs(100)),
        },
    );
    let answer = ask(
        &mut conn,
        None,
        ChildIdentifiers {
            upn: Some(upn(1)),
            nhs_number: Some(nhs(100)),
        },
    );
    assert_eq!(answer.outcome, MatchOutcome::Ambiguous);
    assert_eq!(answer.local_ref, None);
    assert_eq!(answer.candidates.len(), 2);
}

#[test]
fn demographics_alone_are_probable_and_tolerate_variants() {
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Alfred", "Wood-Allen", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    store(
        &mut conn,
        "other",
        demographics("Noah", "Smith", "2016-01-20", Some("ZZ3 9XY")),
        no_ids(),
    );
    for query in [
        demographics("ALFRED", "wood allen", "2014-03-09", Some("zz14ab")),
        demographics("Alfie", "Allen", "2014-03-09", Some("ZZ1 4AB")),
        demographics("Alfred", "Wood-Allen", "2014-09-03", Some("ZZ1 4AB")),
        demographics("Alfred", "Wood", "2014-03-09", Some("ZZ1 4AB")),
        demographics("Alfred", "Wood-Allen", "2014-03-08", Some("ZZ1 4AB")),
    ] {
        let answer = ask(&mut conn, Some(query.clone()), no_ids());
        assert_eq!(answer.outcome, MatchOutcome::Held, "{query:?}: {answer:?}");
        assert_eq!(answer.grade, Some(MatchGrade::Probable), "{query:?}");
        assert_eq!(answer.local_ref.as_deref(), Some(id.as_str()));
    }
}

#[test]
fn a_weak_match_is_reported_as_a_candidate_without_a_reference() {
    let mut conn = memory_db();
    store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    // The family moved: name and date agree, the postcode does not.
    let answer = ask(
        &mut conn,
        Some(demographics(
            "Amelia",
            "Okafor",
            "2014-03-09",
            Some("ZZ7 1XY"),
        )),
        no_ids(),
    );
    assert_eq!(answer.outcome, MatchOutcome::Candidates);
    assert!(!answer.held);
    assert_eq!(answer.local_ref, None);
    assert_eq!(answer.grade, None);
    assert_eq!(answer.candidates.len(), 1);
    assert_eq!(answer.candidates[0].grade, MatchGrade::Possible);
    // Nothing of the node's own record is in the answer.
    let json = serde_json::to_string(&answer).unwrap();
    assert!(!json.contains("ZZ1"), "{json}");
}

#[test]
fn someone_else_is_not_held() {
    let mut conn = memory_db();
    store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    let answer = ask(
        &mut conn,
        Some(demographics("Noah", "Smith", "2016-01-20", Some("ZZ3 9XY"))),
        no_ids(),
    );
    assert_eq!(answer.outcome, MatchOutcome::NotHeld);
    assert!(answer.candidates.is_empty());
}

#[test]
fn twins_are_never_linked_to_each_other() {
    let mut conn = memory_db();
    let olivia = store(
        &mut conn,
        "twin-1",
        demographics("Olivia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    // The node holds only Olivia; a search for her twin Amelia must not find Olivia.
    let answer = ask(
        &mut conn,
        Some(demographics(
            "Amelia",
            "Okafor",
            "2014-03-09",
            Some("ZZ1 4AB"),
        )),
        no_ids(),
    );
    assert!(!answer.held, "{answer:?}");
    assert_eq!(answer.local_ref, None);
    // Twins with similar names too (Leo and Leon).
    store(
        &mut conn,
        "twin-3",
        demographics("Leon", "Smith", "2015-06-01", Some("ZZ2 1AB")),
        no_ids(),
    );
    let answer = ask(
        &mut conn,
        Some(demographics("Leo", "Smith", "2015-06-01", Some("ZZ2 1AB"))),
        no_ids(),
    );
    assert!(!answer.held, "{answer:?}");
    // When both twins are held, each is found as herself.
    let amelia = store(
        &mut conn,
        "twin-2",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    for (given, id) in [("Amelia", &amelia), ("Olivia", &olivia)] {
        let answer = ask(
            &mut conn,
            Some(demographics(given, "Okafor", "2014-03-09", Some("ZZ1 4AB"))),
            no_ids(),
        );
        assert_eq!(answer.outcome, MatchOutcome::Held, "{given}");
        assert_eq!(answer.local_ref.as_ref(), Some(id), "{given}");
    }
}

#[test]
fn a_twin_whose_record_drifted_is_told_from_the_other_by_the_given_name() {
    let mut conn = memory_db();
    // Both twins held; Amelia's record has no postcode (or an old one in the district), so
    // she scores within the ambiguity margin of Olivia, who agrees on everything but the
    // given name. The given name says which twin is searched for.
    let mut amelia = demographics("Amelia", "Okafor", "2014-03-09", None);
    amelia.sex = Some(Sex::Female);
    let mut olivia = demographics("Olivia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
    olivia.sex = Some(Sex::Female);
    let amelia_id = store(&mut conn, "twin-1", amelia, no_ids());
    let olivia_id = store(&mut conn, "twin-2", olivia, no_ids());
    let mut query = demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
    query.sex = Some(Sex::Female);
    let answer = ask(&mut conn, Some(query.clone()), no_ids());
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&amelia_id));
    // Olivia is still found as herself.
    query.given_name = "Olivia".into();
    let answer = ask(&mut conn, Some(query), no_ids());
    assert_eq!(answer.local_ref.as_ref(), Some(&olivia_id), "{answer:?}");
}

#[test]
fn two_close_candidates_are_ambiguous_and_neither_is_linked() {
    let mut conn = memory_db();
    // Two records that fit "Alex Smith" equally: an Alexander and an Alexandra, twins.
    store(
        &mut conn,
        "A",
        demographics("Alexander", "Smith", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    store(
        &mut conn,
        "B",
        demographics("Alexandra", "Smith", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    let answer = ask(
        &mut conn,
        Some(demographics("Alex", "Smith", "2014-03-09", Some("ZZ1 4AB"))),
        no_ids(),
    );
    assert_eq!(answer.outcome, MatchOutcome::Ambiguous, "{answer:?}");
    assert!(!answer.held);
    assert_eq!(answer.local_ref, None);
    assert_eq!(answer.candidates.len(), 2);
    // Sex tells them apart.
    let mut male = demographics("Alex", "Smith", "2014-03-09", Some("ZZ1 4AB"));
    male.sex = Some(Sex::Male);
    let mut conn2 = memory_db();
    let mut alexander = demographics("Alexander", "Smith", "2014-03-09", Some("ZZ1 4AB"));
    alexander.sex = Some(Sex::Male);
    let mut alexandra = demographics("Alexandra", "Smith", "2014-03-09", Some("ZZ1 4AB"));
    alexandra.sex = Some(Sex::Female);
    let id = store(&mut conn2, "A", alexander, no_ids());
    store(&mut conn2, "B", alexandra, no_ids());
    let answer = ask(&mut conn2, Some(male), no_ids());
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref, Some(id));
}

#[test]
fn a_duplicate_record_makes_the_search_ambiguous() {
    let mut conn = memory_db();
    let d = demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
    store(&mut conn, "A", d.clone(), no_ids());
    store(&mut conn, "A-again", d.clone(), no_ids());
    let answer = ask(&mut conn, Some(d), no_ids());
    assert_eq!(answer.outcome, MatchOutcome::Ambiguous);
}

#[test]
fn a_configured_certain_threshold_lets_demographics_be_certain() {
    let mut conn = memory_db();
    let d = demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
    store(&mut conn, "A", d.clone(), no_ids());
    let mut settings = MatchingSettings::default();
    settings.thresholds.certain = Some(30.0);
    let answer = find_with(
        &mut conn,
        &ChildQuery {
            identifiers: no_ids(),
            demographics: Some(d),
        },
        &settings,
    )
    .unwrap();
    assert_eq!(answer.grade, Some(MatchGrade::Certain));
}

#[test]
fn an_unknown_upn_falls_back_to_demographics_with_a_penalty_for_a_different_one() {
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        by_upn(1),
    );
    let answer = ask(
        &mut conn,
        Some(demographics(
            "Amelia",
            "Okafor",
            "2014-03-09",
            Some("ZZ1 4AB"),
        )),
        by_upn(2),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held);
    assert_eq!(answer.grade, Some(MatchGrade::Probable));
    assert_eq!(answer.local_ref, Some(id));
    assert!(!answer.matched_on.contains(&"upn".to_owned()));
}

#[test]
fn a_typo_in_the_given_name_is_linked_when_no_twin_is_held() {
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Amelai", "Okafor", "2014-03-09", None),
        no_ids(),
    );
    // Another child of the family, born another year: not a twin.
    store(
        &mut conn,
        "B",
        demographics("Olivia", "Okafor", "2011-06-30", None),
        no_ids(),
    );
    let answer = ask(
        &mut conn,
        Some(demographics("Amelia", "Okafor", "2014-03-09", None)),
        no_ids(),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
    assert_eq!(answer.grade, Some(MatchGrade::Probable));
    assert!(answer.matched_on.contains(&"given_name:typo".to_owned()));
}

#[test]
fn a_typo_in_the_given_name_is_not_linked_when_a_twin_is_held() {
    let mut conn = memory_db();
    store(
        &mut conn,
        "A",
        demographics("Amelai", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    store(
        &mut conn,
        "B",
        demographics("Olivia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    let answer = ask(
        &mut conn,
        Some(demographics(
            "Amelia",
            "Okafor",
            "2014-03-09",
            Some("ZZ1 4AB"),
        )),
        no_ids(),
    );
    assert!(!answer.held, "{answer:?}");
    assert_eq!(answer.outcome, MatchOutcome::Candidates, "{answer:?}");
}

#[test]
fn a_twin_one_keystroke_away_is_never_taken_for_a_typo() {
    let mut conn = memory_db();
    // Only one twin is held; the other's name is one keystroke from hers.
    for (held, asked) in [("Leah", "Lea"), ("Mia", "Mila"), ("Miya", "Maya")] {
        store(
            &mut conn,
            held,
            demographics(held, "Nowak", "2015-02-11", Some("ZZ2 1AB")),
            no_ids(),
        );
        let answer = ask(
            &mut conn,
            Some(demographics(asked, "Nowak", "2015-02-11", Some("ZZ2 1AB"))),
            no_ids(),
        );
        assert!(!answer.held, "{held} for {asked}: {answer:?}");
        conn = memory_db();
    }
}

#[test]
fn a_slip_in_the_year_of_birth_is_found() {
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2016-03-09", Some("ZZ1 4AB")),
        no_ids(),
    );
    // No block carrying the birth year (family name, postcode sector) holds 2016 for a
    // search for 2014: only the family name with the near dates finds her.
    let answer = ask(
        &mut conn,
        Some(demographics(
            "Amelia",
            "Okafor",
            "2014-03-09",
            Some("ZZ1 4AB"),
        )),
        no_ids(),
    );
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
    assert!(
        answer
            .matched_on
            .contains(&"date_of_birth:one_digit".to_owned())
    );
}

#[test]
fn a_bigger_node_asks_for_more_evidence() {
    let mut settings = MatchingSettings::default();
    let mut conn = memory_db();
    let id = store(
        &mut conn,
        "A",
        demographics("Amelia", "Okafor", "2014-03-09", None),
        no_ids(),
    );
    let query = ChildQuery {
        identifiers: no_ids(),
        demographics: Some(demographics("Amelia", "Okafor", "2014-03-09", None)),
    };
    let answer = find_with(&mut conn, &query, &settings).unwrap();
    assert_eq!(answer.local_ref.as_ref(), Some(&id));
    // The same evidence at a node of 1,000 times the reference size is not enough.
    settings.thresholds.reference_children = 1;
    let answer = find_with(&mut conn, &query, &settings).unwrap();
    assert!(answer.held, "one child: no rise");
    for i in 0..1000 {
        store(
            &mut conn,
            &format!("other-{i}"),
            demographics("Noah", "Smith", "2016-01-20", None),
            no_ids(),
        );
    }
    let answer = find_with(&mut conn, &query, &settings).unwrap();
    assert!(!answer.held, "{answer:?}");
}

#[test]
fn leaving_the_broad_blocks_unread_changes_no_answer() {
    let mut db = memory_db();
    let conn = &mut *db;
    // The searched-for children, and around them children only the broad blocks find:
    // the same date of birth under another family name, the same family name and birth
    // year, the same sector and birth year, a twin, a namesake born a month later.
    let people = [
        ("Amelia", "Okafor", "2014-03-09", "ZZ1 4AB"),
        ("Amelia", "Brennan", "2014-03-09", "ZZ1 4AB"),
        ("Amelie", "Okafor", "2014-03-09", "ZZ1 4AB"),
        ("Amelia", "Okafor", "2014-04-19", "ZZ1 4AB"),
        ("Amelia", "Okafur", "2014-11-02", "ZZ1 4QT"),
        ("Noah", "Patel", "2015-07-21", "ZZ2 1CD"),
        ("Noah", "Pateel", "2015-07-21", "ZZ2 1CD"),
        ("Noah", "Patel", "2015-07-12", "ZZ2 1CD"),
        ("Maya", "Wood-Allen", "2013-01-30", "ZZ3 2EF"),
        ("Maya", "Allen", "2013-01-30", "ZZ3 2EF"),
        ("Ivy", "Nowak", "2016-10-05", "ZZ4 3GH"),
        ("Ivy", "Kowalski", "2016-10-05", "ZZ4 3GH"),
        ("Ivy", "Nowak", "2016-10-25", "ZZ4 3GH"),
    ];
    for (i, (given, family, dob, postcode)) in people.iter().enumerate() {
        store(
            conn,
            &format!("L{i}"),
            demographics(given, family, dob, Some(postcode)),
            no_ids(),
        );
    }
    // Each stored child searched for as stored and drifted: another given name, family
    // name, date or postcode, none.
    let mut queries = Vec::new();
    for (given, family, dob, postcode) in people {
        queries.push(demographics(given, family, dob, Some(postcode)));
        queries.push(demographics(given, family, dob, None));
        queries.push(demographics("Amelia", family, dob, Some(postcode)));
        queries.push(demographics(given, "Okafor", dob, Some(postcode)));
        queries.push(demographics(given, family, "2014-03-09", Some(postcode)));
        queries.push(demographics(given, family, dob, Some("ZZ9 9ZZ")));
    }
    let settings = MatchingSettings::default();
    let mut linked = 0;
    for d in queries {
        let query = ChildQuery {
            identifiers: no_ids(),
            demographics: Some(d),
        };
        let early = find_reading(conn, &query, &settings, true).unwrap();
        let every = find_reading(conn, &query, &settings, false).unwrap();
        assert_eq!(
            serde_json::to_value(&early).unwrap(),
            serde_json::to_value(&every).unwrap(),
            "{query:?}"
        );
        linked += usize::from(early.outcome == MatchOutcome::Held);
    }
    assert!(linked > 0, "some searches link a child");
}
