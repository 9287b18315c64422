//! Frequency-based weights of the family name's `part` and `typo` levels (`Thornbury`
//! for a child now held as `Thornbury-Okafor`, or as `Thornbery`): the agreement weighs
//! by how many of the node's children could agree so with the query, in plain and keyed
//! mode alike.

use super::tests::{girl as person, hold, test_key};
use super::weights::family_typo_weight;
use super::*;
use crate::db::testing::TestDb;
use matching::{score, settings};
use schemas::MatchOutcome;
use schemas::{ChildIdentifiers, Demographics};

/// Settings whose name counts speak from two children on.
fn settings() -> MatchingSettings {
    let mut settings = MatchingSettings::default();
    settings.weights.frequency.prior_children = 2.0;
    settings
}

fn as_person(d: &Demographics) -> score::Person<'_> {
    score::Person {
        given_name: &d.given_name,
        family_name: &d.family_name,
        date_of_birth: Some(d.date_of_birth),
        sex: d.sex,
        postcode: d.postcode.as_deref(),
        upn: None,
        nhs_number: None,
        former_family_names: &[],
    }
}

/// What a comparison of the query with `held` says of the family name, weighed by the
/// node's counts.
#[derive(Debug, PartialEq)]
struct Family {
    part: Option<score::PartAgreed>,
    typo: Option<String>,
    weights: score::NameWeights,
}

/// The query compared with `held` and weighed by the node's counts, in plain mode and
/// in keyed mode (which must agree).
fn family(
    conn: &mut DbConnection,
    query: &Demographics,
    held: &Demographics,
    settings: &MatchingSettings,
) -> Family {
    let children = db::children::estimated_count(conn).unwrap();
    let names = [(held.given_name.clone(), held.family_name.clone())];
    let plain = score::compare(&as_person(query), &as_person(held), settings);
    let key = test_key();
    let keyed_query = key.encode_query(&ChildQuery {
        identifiers: ChildIdentifiers::default(),
        demographics: Some(query.clone().into()),
    });
    let keyed = keyed::compare(
        &keyed_query,
        Some(&key.encode_demographics(held, false)),
        &Default::default(),
        Some((key, &held.given_name, &held.family_name)),
        settings,
    );
    let mut out = Vec::new();
    for comparison in [plain, keyed] {
        let mut compared = vec![("held".to_owned(), comparison)];
        weigh_by_name_counts(conn, settings, children, &mut compared, &names).unwrap();
        let (_, c) = compared.pop().unwrap();
        out.push(Family {
            part: c.family_part,
            typo: c.family_typo,
            weights: c.name_weights,
        });
    }
    assert_eq!(out[0], out[1], "plain and keyed differ");
    out.pop().unwrap()
}

/// The part agreement and its weight.
fn part_weight(
    conn: &mut DbConnection,
    query: &Demographics,
    held: &Demographics,
    settings: &MatchingSettings,
) -> (Option<score::PartAgreed>, Option<f64>) {
    let f = family(conn, query, held, settings);
    (f.part, f.weights.family_part)
}

/// The weight a level (`part` or `typo`) gets when `others` of the node's children
/// besides the held one could agree so with the query.
fn expected(
    conn: &mut DbConnection,
    settings: &MatchingSettings,
    level: settings::Agreement,
    count: u64,
) -> f64 {
    let children = db::children::estimated_count(conn).unwrap();
    settings
        .weights
        .frequency
        .exact_weight(level, count, children)
}

fn children(conn: &mut DbConnection) -> u64 {
    db::children::estimated_count(conn).unwrap()
}

fn part(s: &MatchingSettings) -> settings::Agreement {
    s.weights.family_name.part
}

/// A node of `n` children with unrelated names, so that shares are small.
fn node(n: usize) -> TestDb {
    let mut conn = TestDb::fresh();
    for i in 0..n {
        hold(
            &mut conn,
            &format!("F{i}"),
            person(&format!("Filler{i}"), &format!("Family{i}"), "2012-01-01"),
        );
    }
    conn
}

#[test]
fn a_part_only_the_held_child_carries_weighs_more_than_one_many_carry() {
    // Big enough for one carrier in five to be far apart in share (1 in 400 against 5).
    let mut conn = node(400);
    let held = person("Ava", "Thornbury-Okafor", "2014-03-09");
    hold(&mut conn, "A", held.clone());
    let query = person("Ava", "Thornbury", "2014-03-09");
    let s = settings();
    let (agreed, rare) = part_weight(&mut conn, &query, &held, &s);
    assert_eq!(
        agreed,
        Some(score::PartAgreed {
            name: "thornbury".into(),
            query_has_parts: false
        })
    );
    let rare = rare.expect("weighed");
    assert!(
        (rare - expected(&mut conn, &s, part(&s), 0)).abs() < 1e-9,
        "{rare}"
    );
    // Children named plain `Thornbury` agree exactly, not as a part: they do not count.
    hold(&mut conn, "T", person("Noah", "Thornbury", "2011-05-05"));
    // Four more children carry `Thornbury` as a part.
    for i in 0..4 {
        hold(
            &mut conn,
            &format!("P{i}"),
            person("Mia", &format!("Thornbury-Other{i}"), "2013-06-06"),
        );
    }
    let (_, common) = part_weight(&mut conn, &query, &held, &s);
    let common = common.expect("weighed");
    assert!(
        (common - expected(&mut conn, &s, part(&s), 4)).abs() < 1e-9,
        "{common}"
    );
    assert!(common < rare - 2.0, "{common} against {rare}");
}

#[test]
fn a_double_barrelled_query_counts_the_children_named_as_its_part_too() {
    // The query is `Thornbury-Okafor`, the held child plain `Okafor`: every `Okafor` at
    // the node would agree with the query as a part.
    let mut conn = node(40);
    let held = person("Ava", "Okafor", "2014-03-09");
    hold(&mut conn, "A", held.clone());
    for i in 0..3 {
        hold(
            &mut conn,
            &format!("O{i}"),
            person("Noah", "Okafor", "2010-02-02"),
        );
    }
    hold(&mut conn, "P", person("Mia", "Okafor-Smith", "2013-06-06"));
    let query = person("Ava", "Thornbury-Okafor", "2014-03-09");
    let s = settings();
    let (agreed, weight) = part_weight(&mut conn, &query, &held, &s);
    assert_eq!(
        agreed,
        Some(score::PartAgreed {
            name: "okafor".into(),
            query_has_parts: true
        })
    );
    // Three other whole `Okafor`s and one part.
    let weight = weight.expect("weighed");
    assert!(
        (weight - expected(&mut conn, &s, part(&s), 4)).abs() < 1e-9,
        "{weight}"
    );
}

#[test]
fn without_frequency_based_weights_a_part_weighs_the_level() {
    let mut conn = node(5);
    let held = person("Ava", "Thornbury-Okafor", "2014-03-09");
    hold(&mut conn, "A", held.clone());
    let mut s = settings();
    s.weights.frequency_based = false;
    let query = person("Ava", "Thornbury", "2014-03-09");
    let (agreed, weight) = part_weight(&mut conn, &query, &held, &s);
    assert!(agreed.is_some());
    assert_eq!(weight, None);
    // Scored with the level's own weight.
    let c = score::compare(&as_person(&query), &as_person(&held), &s);
    let mut explicit = c.clone();
    explicit.name_weights.family_part = Some(s.weights.family_name.part.weight());
    assert_eq!(c.score(&s), explicit.score(&s));
}

#[test]
fn a_family_typo_weighs_by_how_many_children_carry_a_name_one_keystroke_away() {
    let mut conn = node(400);
    let held = person("Ava", "Thornbery", "2014-03-09");
    hold(&mut conn, "A", held.clone());
    let query = person("Ava", "Thornbury", "2014-03-09");
    let s = settings();
    let alone = family(&mut conn, &query, &held, &s);
    assert_eq!(alone.typo.as_deref(), Some("thornbury"));
    let rare = alone.weights.family_typo.expect("weighed");
    assert!(
        (rare - family_typo_weight(&s, 0, children(&mut conn))).abs() < 1e-9,
        "{rare}"
    );
    // Real families one keystroke from `Thornbury` (and another `Thornbery`) make the
    // same spelling weaker evidence; `Thornbury`s themselves agree exactly, and names too
    // short for a typo do not count.
    for (i, name) in [
        "Thornburn",
        "Thornburn",
        "Hornbury",
        "Thornbery",
        "Thornbury",
    ]
    .iter()
    .enumerate()
    {
        hold(
            &mut conn,
            &format!("N{i}"),
            person("Mia", name, "2013-06-06"),
        );
    }
    let crowded = family(&mut conn, &query, &held, &s)
        .weights
        .family_typo
        .expect("weighed");
    assert!(
        (crowded - family_typo_weight(&s, 4, children(&mut conn))).abs() < 1e-9,
        "{crowded}"
    );
    assert!(crowded < rare - 2.0, "{crowded} against {rare}");
}

#[test]
fn the_counts_lower_a_typo_weight_but_never_raise_it() {
    let s = MatchingSettings::default();
    let level = s.weights.family_name.typo;
    for children in [1, 10, 1_000, 10_000, 1_000_000] {
        for others in [0, 1, 2, 50, 10_000] {
            assert!(family_typo_weight(&s, others, children) <= level.weight());
        }
    }
    // Among many real neighbours a typo weighs less than configured.
    assert!(family_typo_weight(&s, 200, 10_000) < level.weight() - 1.0);
}

#[test]
fn at_a_small_node_a_counted_level_weighs_what_it_is_configured_to() {
    // The held child is not counted as evidence of how common its name is: at a node of
    // 20 children, where no other child agrees, `part` and `typo` weigh what their
    // configured m and u give (to within a small fraction of a bit), not less.
    let s = MatchingSettings::default();
    let f = &s.weights.family_name;
    for level in [f.part, f.typo] {
        let weight = s.weights.frequency.exact_weight(level, 0, 20);
        assert!(
            (weight - level.weight()).abs() < 0.05,
            "{weight} against {}",
            level.weight()
        );
    }
}

/// Whether a plain search reads the broad blocks, after checking that its answer is the
/// one a search reading every block gives.
fn reads_broad_blocks(conn: &mut DbConnection, d: &Demographics, s: &MatchingSettings) -> bool {
    let query = ChildQuery {
        identifiers: ChildIdentifiers::default(),
        demographics: Some(d.clone().into()),
    };
    let before = BROAD_READS.with(|n| n.get());
    let answer = find_with(conn, &query, s).unwrap();
    let read = BROAD_READS.with(|n| n.get()) > before;
    let every_block = find_reading(conn, &query, s, false).unwrap();
    let json = |a: &MatchResponse| serde_json::to_value(a).unwrap();
    assert_eq!(json(&answer), json(&every_block), "{query:?}");
    assert_eq!(answer.outcome, MatchOutcome::Held, "{answer:?}");
    read
}

#[test]
fn a_search_settles_on_the_narrow_blocks_when_no_family_name_here_is_a_keystroke_away() {
    let mut conn = node(400);
    let s = settings();
    let ava = person("Ava", "Thornbury", "2014-03-09");
    hold(&mut conn, "A", ava.clone());
    // Two more `Thornbury`s, born far from Ava (outside the narrow blocks): the name
    // weighs about 6.9 bits, less than the ambiguity margin above what a typo may weigh
    // (5.3 bits), so a typo outside the narrow blocks could come close.
    for i in 0..2 {
        hold(
            &mut conn,
            &format!("S{i}"),
            person("Noah", "Thornbury", "2009-10-20"),
        );
    }
    // But no family name here is one keystroke from `Thornbury`: no child can agree as a
    // typo, and the broad blocks are left unread.
    assert!(!reads_broad_blocks(&mut conn, &ava, &s));
    // Once one is (another family's `Thornbery`), they are read.
    hold(&mut conn, "T", person("Mia", "Thornbery", "2011-05-05"));
    assert!(reads_broad_blocks(&mut conn, &ava, &s));
}
