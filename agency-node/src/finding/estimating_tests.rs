//! The node estimating *m* from its own searches: after enough searches the *m* in use
//! have moved off the configured ones, toward what the searches show, and twins are
//! still never linked with them.

use super::estimating::WeightEstimation;
use super::tests::hold;
use super::*;
use crate::db::testing::TestDb;
use matching::settings::{EstimateM, EstimateU};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{ChildIdentifiers, Demographics, MatchOutcome, Sex};
use std::sync::Arc;

const GIVEN: [&str; 40] = [
    "Amelia",
    "Olivia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Willow",
    "Freya",
    "Florence",
    "Emily",
    "Ella",
    "Poppy",
    "Evie",
    "Elsie",
    "Charlotte",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theodore",
    "Freddie",
    "Jack",
    "Charlie",
    "Theo",
    "Thomas",
    "Jacob",
    "Alfie",
    "Finley",
    "Lucas",
];
const FAMILY: [&str; 30] = [
    "Okafor",
    "Thornbury",
    "Pemberton",
    "Ashworth",
    "Kowalczyk",
    "Nakamura",
    "Fairbairn",
    "Haldane",
    "Quigley",
    "Rasmussen",
    "Winterbourne",
    "Abernethy",
    "Castellano",
    "Dunmore",
    "Eastwood",
    "Fenwick",
    "Gallagher",
    "Hargreaves",
    "Iredale",
    "Jablonski",
    "Kettering",
    "Lindqvist",
    "Mulholland",
    "Northcott",
    "Oyelaran",
    "Prendergast",
    "Rosenthal",
    "Saltmarsh",
    "Tremayne",
    "Underhill",
];

fn postcode(rng: &mut StdRng) -> String {
    let letters = ["AB", "AD", "BE", "DF", "GH", "JL"];
    format!(
        "ZZ{} {}{}",
        rng.random_range(1..4),
        rng.random_range(1..6),
        letters[rng.random_range(0..letters.len())]
    )
}

fn date(year: i32, rng: &mut StdRng) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(year, rng.random_range(1..13), rng.random_range(1..29))
        .unwrap_or_default()
}

/// One keystroke off: a letter after the first replaced.
fn typo(name: &str, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let at = rng.random_range(1..chars.len());
    chars[at] = if chars[at] == 'x' { 'z' } else { 'x' };
    chars.into_iter().collect()
}

/// A search for `d` as another agency records it: names now and then mistyped or
/// replaced, one in ten recorded the other way round, dates now and then a digit off or
/// wrong, and half the families moved.
fn as_recorded_elsewhere(d: &Demographics, rng: &mut StdRng) -> Demographics {
    let mut q = d.clone();
    if rng.random_bool(0.10) {
        std::mem::swap(&mut q.given_name, &mut q.family_name);
        return q;
    }
    let roll: f64 = rng.random();
    if roll < 0.06 {
        q.given_name = typo(&d.given_name, rng);
    } else if roll < 0.10 {
        q.given_name = GIVEN[rng.random_range(0..GIVEN.len())].into();
    }
    if rng.random_bool(0.06) {
        q.family_name = typo(&d.family_name, rng);
    }
    let roll: f64 = rng.random();
    if roll < 0.05 {
        q.date_of_birth = d.date_of_birth + chrono::Days::new(1);
    } else if roll < 0.08 {
        q.date_of_birth = date(2012 + rng.random_range(0..8), rng);
    }
    let roll: f64 = rng.random();
    if roll < 0.5 {
        q.postcode = Some(postcode(rng));
    }
    q
}

fn search(
    conn: &mut DbConnection,
    d: &Demographics,
    estimation: &Arc<WeightEstimation>,
) -> MatchResponse {
    let query = ChildQuery {
        identifiers: ChildIdentifiers::default(),
        demographics: Some(d.clone().into()),
    };
    let mut pairs = Vec::new();
    let answer = find_noting(
        conn,
        &query,
        &estimation.settings(),
        PairNotes {
            into: &mut pairs,
            limit: estimation.per_search(),
        },
    )
    .unwrap();
    estimation.record(pairs);
    answer
}

/// A node of 120 families (siblings share the family name and the address; one family
/// in eight has twins), searched for each child as another agency records it and for
/// children it does not hold.
fn node_with_families(conn: &mut DbConnection, rng: &mut StdRng) -> Vec<(String, Demographics)> {
    let mut held = Vec::new();
    for family in 0..120 {
        let family_name = FAMILY[family % FAMILY.len()];
        let home = postcode(rng);
        let children = rng.random_range(1..5);
        let twins = family % 8 == 0;
        let mut first = None;
        for i in 0..children {
            let d = Demographics {
                given_name: GIVEN[rng.random_range(0..GIVEN.len())].into(),
                family_name: family_name.into(),
                date_of_birth: match (twins, i, first) {
                    (true, 1, Some(dob)) => dob,
                    _ => date(2011 + rng.random_range(0..9), rng),
                },
                sex: Some(if rng.random_bool(0.5) {
                    Sex::Female
                } else {
                    Sex::Male
                }),
                postcode: Some(home.clone()),
            };
            first.get_or_insert(d.date_of_birth);
            if held.iter().any(|(_, h): &(String, Demographics)| {
                h.given_name == d.given_name && h.family_name == d.family_name
            }) {
                continue;
            }
            let id = hold(conn, &format!("f{family}-{i}"), d.clone());
            held.push((id, d));
        }
    }
    held
}

#[test]
fn after_enough_searches_the_node_scores_with_estimated_m_and_twins_stay_apart() {
    let mut conn = TestDb::fresh();
    let mut rng = StdRng::seed_from_u64(28);
    let held = node_with_families(&mut conn, &mut rng);
    assert!(held.len() > 200, "{}", held.len());
    let configured = MatchingSettings {
        estimate_m: EstimateM {
            // Estimated by the test, below, not in the background.
            every_searches: u64::MAX,
            ..EstimateM::default()
        },
        ..MatchingSettings::default()
    };
    let estimation = Arc::new(WeightEstimation::new(configured.clone()));
    for _ in 0..2 {
        for (_, d) in &held {
            let q = as_recorded_elsewhere(d, &mut rng);
            search(&mut conn, &q, &estimation);
        }
    }
    // Children the node does not hold.
    for _ in 0..100 {
        let d = Demographics {
            given_name: GIVEN[rng.random_range(0..GIVEN.len())].into(),
            family_name: FAMILY[rng.random_range(0..FAMILY.len())].into(),
            date_of_birth: date(2011 + rng.random_range(0..9), &mut rng),
            sex: None,
            postcode: Some(postcode(&mut rng)),
        };
        search(&mut conn, &d, &estimation);
    }
    assert_eq!(*estimation.settings(), configured, "nothing estimated yet");
    let outcome = estimation.reestimate();
    assert_eq!(
        outcome.estimated,
        [
            "given_name",
            "family_name",
            "postcode",
            "sex",
            "transposed_names",
            "date_of_birth"
        ],
        "{outcome:?}"
    );
    let in_use = estimation.settings();
    let (m, c) = (&in_use.weights, &configured.weights);
    // Half the families moved: the full postcode's m falls from 0.75 toward 0.5.
    assert!(m.postcode.full.m < 0.65, "{:?}", m.postcode);
    // One search in ten had the names the other way round: the share of crossed names
    // rises from the configured 0.02 toward 0.1.
    assert!(
        (0.06..0.14).contains(&m.transposed_names),
        "{}",
        m.transposed_names
    );
    assert_ne!(m.date_of_birth.exact.m, c.date_of_birth.exact.m);
    assert_ne!(m.given_name.exact.m, c.given_name.exact.m);
    // The siblings in the pairs did not raise the m of a disagreeing given name or date
    // of birth: both still weigh strongly against a link.
    let given_disagree = matching::settings::disagreement_weight(&[
        m.given_name.exact,
        m.given_name.alias,
        m.given_name.typo,
        m.given_name.similar,
    ]);
    let dob_disagree = matching::settings::disagreement_weight(&[
        m.date_of_birth.exact,
        m.date_of_birth.day_month_swapped,
        m.date_of_birth.one_digit,
        m.date_of_birth.same_month,
    ]);
    assert!(given_disagree < -3.0, "{given_disagree} {:?}", m.given_name);
    assert!(dob_disagree < -3.0, "{dob_disagree} {:?}", m.date_of_birth);
    // u is never estimated here.
    assert_eq!(m.postcode.full.u, c.postcode.full.u);

    // Twins, with the estimated m: each found as themselves, never as the other.
    let mut twins = 0;
    for (id, d) in &held {
        let other = held.iter().find(|(other, h)| {
            other != id && h.family_name == d.family_name && h.date_of_birth == d.date_of_birth
        });
        if other.is_none() {
            continue;
        }
        twins += 1;
        let answer = search(&mut conn, d, &estimation);
        assert_eq!(answer.outcome, MatchOutcome::Held, "{d:?}: {answer:?}");
        assert_eq!(answer.local_ref.as_ref(), Some(id), "{d:?}");
    }
    assert!(twins >= 10, "{twins}");
    // Only one twin held: the other is never linked to her, nor Leo to Leon.
    let olivia = Demographics {
        given_name: "Olivia".into(),
        family_name: "Vantongeren".into(),
        date_of_birth: "2014-03-09".parse().unwrap(),
        sex: Some(Sex::Female),
        postcode: Some("ZZ9 4AB".into()),
    };
    hold(&mut conn, "only-twin", olivia.clone());
    let leon = Demographics {
        given_name: "Leon".into(),
        family_name: "Smallwood".into(),
        date_of_birth: "2015-06-01".parse().unwrap(),
        sex: Some(Sex::Male),
        postcode: Some("ZZ9 1AB".into()),
    };
    hold(&mut conn, "leon", leon.clone());
    for twin in [
        Demographics {
            given_name: "Amelia".into(),
            ..olivia
        },
        Demographics {
            given_name: "Leo".into(),
            ..leon
        },
    ] {
        let answer = search(&mut conn, &twin, &estimation);
        assert!(!answer.held, "{twin:?}: {answer:?}");
        assert_eq!(answer.local_ref, None);
    }
}

/// The node re-estimates by itself, on another thread, once `every_searches` searches
/// have added pairs; a search never waits for it.
#[test]
fn the_node_reestimates_by_itself_every_so_many_searches() {
    let mut conn = TestDb::fresh();
    let mut rng = StdRng::seed_from_u64(6);
    let held = node_with_families(&mut conn, &mut rng);
    let estimation = Arc::new(WeightEstimation::new(MatchingSettings {
        estimate_m: EstimateM {
            every_searches: 100,
            ..EstimateM::default()
        },
        ..MatchingSettings::default()
    }));
    for (_, d) in held.iter().take(99) {
        search(&mut conn, &as_recorded_elsewhere(d, &mut rng), &estimation);
    }
    assert_eq!(estimation.estimates(), 0);
    for (_, d) in held.iter().skip(99).take(101) {
        search(&mut conn, &as_recorded_elsewhere(d, &mut rng), &estimation);
    }
    let waited = std::time::Instant::now();
    while estimation.estimates() == 0 && waited.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(estimation.estimates() >= 1);

    // Off: nothing is kept and the configured m stay.
    let off = Arc::new(WeightEstimation::new(MatchingSettings {
        estimate_m: EstimateM {
            enabled: false,
            every_searches: 1,
            ..EstimateM::default()
        },
        ..MatchingSettings::default()
    }));
    for (_, d) in held.iter().take(20) {
        search(&mut conn, d, &off);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(off.estimates(), 0);
    assert_eq!(
        *off.settings(),
        MatchingSettings {
            estimate_m: off.settings().estimate_m.clone(),
            ..MatchingSettings::default()
        }
    );
}

/// Waits (at most 30 s) for `done`, which a thread of the node's makes true.
fn wait_for(done: impl Fn() -> bool) -> bool {
    let waited = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if waited.elapsed().as_secs() >= 30 {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Stores a tenth more children than `held` (new families, complete), so that *u* is
/// due again; how many.
fn grow_by_a_tenth(db: &mut TestDb, rng: &mut StdRng, held: usize, prefix: &str) -> usize {
    let more = held / 10 + 1;
    for i in 0..more {
        let d = Demographics {
            given_name: GIVEN[i % GIVEN.len()].into(),
            family_name: format!("{prefix}family{i}"),
            date_of_birth: date(2015, rng),
            sex: None,
            postcode: Some(postcode(rng)),
        };
        hold(db, &format!("{prefix}-{i}"), d);
    }
    more
}

/// u from the node's own children: estimated at start on a thread of its own, the
/// adopted values those of [`matching::estimate::estimate_u`] over the same children,
/// not again until the node's size moves by `refresh_growth`, and never below
/// `min_children`.
#[test]
fn the_node_estimates_its_u_from_its_own_children_and_again_when_it_grows() {
    let mut db = TestDb::shared();
    let mut rng = StdRng::seed_from_u64(11);
    let held = node_with_families(&mut db, &mut rng);
    assert!(held.len() > 250, "{}", held.len());
    let configured = MatchingSettings {
        estimate_m: EstimateM {
            enabled: false,
            ..EstimateM::default()
        },
        ..MatchingSettings::default()
    };
    let estimation = WeightEstimation::with_database(configured.clone(), db.pool());
    assert!(wait_for(|| estimation.u_children() > 0));
    assert_eq!(estimation.u_children(), held.len() as u64);
    // Every pair is fewer than a tenth of `max_pairs`: one estimate, no quick one first.
    assert!(wait_for(|| !estimation.estimating()));
    assert_eq!(estimation.u_estimates(), 1);

    // Every pair of so few children is compared, so the estimate is the count's.
    let sample = crate::db::children::sample(&mut db, 5_000).unwrap();
    let expected =
        matching::estimate::estimate_u(&sample, 500_000, sample.len() as u64, &configured).unwrap();
    assert!(expected.exhaustive);
    assert!(wait_for(
        || estimation.settings().weights == expected.adopted
    ));
    let in_use = estimation.settings();
    assert_ne!(in_use.weights, configured.weights);
    // Siblings share an address here far more often than the configured one pair in a
    // thousand: the full postcode weighs less than configured.
    let full = (
        in_use.weights.postcode.full,
        configured.weights.postcode.full,
    );
    assert!(full.0.u > full.1.u, "{full:?}");
    // m stay configured (estimating m is off); the thresholds are untouched.
    assert_eq!(
        in_use.weights.given_name.exact.m,
        configured.weights.given_name.exact.m
    );
    assert_eq!(in_use.thresholds, configured.thresholds);

    // Not due again at the same size (SQLite's size is exact; PostgreSQL's is the
    // statistics', which may still move); due once the node has grown by a tenth.
    if matches!(*db, DbConnection::Sqlite(_)) {
        assert!(!estimation.refresh_u());
    }
    let more = grow_by_a_tenth(&mut db, &mut rng, held.len(), "new");
    assert!(wait_for(|| estimation.refresh_u()));
    assert_eq!(estimation.u_children(), (held.len() + more) as u64);

    // Below `min_children`, and switched off: the configured u stay.
    for options in [
        EstimateU {
            min_children: 10_000,
            ..EstimateU::default()
        },
        EstimateU {
            enabled: false,
            ..EstimateU::default()
        },
    ] {
        let settings = MatchingSettings {
            estimate_u: options,
            ..configured.clone()
        };
        let kept = WeightEstimation::with_database(settings.clone(), db.pool());
        assert!(!kept.refresh_u());
        assert_eq!(kept.u_children(), 0);
        assert_eq!(*kept.settings(), settings);
    }
}

/// A node's first estimate of *u* is made from a tenth of `max_pairs` first and put in
/// use, then from them all; later estimates (the node grew) only from them all.
#[test]
fn the_first_u_is_estimated_quickly_first_and_then_from_every_pair() {
    let mut db = TestDb::shared();
    let mut rng = StdRng::seed_from_u64(13);
    let held = node_with_families(&mut db, &mut rng);
    let all_pairs = (held.len() * (held.len() - 1) / 2) as u64;
    let configured = MatchingSettings {
        estimate_m: EstimateM {
            enabled: false,
            ..EstimateM::default()
        },
        estimate_u: EstimateU {
            max_pairs: 10_000,
            ..EstimateU::default()
        },
        ..MatchingSettings::default()
    };
    assert!(all_pairs > 10_000, "{all_pairs}");
    let estimation = WeightEstimation::with_database(configured.clone(), db.pool());
    assert!(wait_for(
        || estimation.u_children() > 0 && !estimation.estimating()
    ));
    assert_eq!(estimation.u_estimates(), 2);
    assert_eq!(estimation.u_children(), held.len() as u64);
    // The full estimate is the one in use.
    assert_eq!(estimation.u_pairs(), 10_000);
    assert_ne!(estimation.settings().weights, configured.weights);

    let more = grow_by_a_tenth(&mut db, &mut rng, held.len(), "later");
    assert!(wait_for(|| estimation.refresh_u()));
    assert_eq!(estimation.u_estimates(), 3);
    assert_eq!(estimation.u_pairs(), 10_000);
    assert_eq!(estimation.u_children(), (held.len() + more) as u64);
}

/// Reading the children for *u* fails (here: a column renamed away): the u in use stay
/// configured, and the next search's check retries at once instead of waiting for the
/// node to grow by `refresh_growth` (the size is marked as looked at only when read).
#[test]
fn a_failed_read_of_the_children_for_u_is_retried_without_waiting_for_growth() {
    use diesel::RunQueryDsl;
    let mut db = TestDb::shared();
    let mut rng = StdRng::seed_from_u64(12);
    let held = node_with_families(&mut db, &mut rng);
    let configured = MatchingSettings {
        estimate_m: EstimateM {
            enabled: false,
            ..EstimateM::default()
        },
        ..MatchingSettings::default()
    };
    let rename = |db: &mut TestDb, from: &str, to: &str| {
        diesel::sql_query(format!("ALTER TABLE children RENAME COLUMN {from} TO {to}"))
            .execute(&mut **db)
            .unwrap();
    };
    let pool = db.pool();
    rename(&mut db, "given_name", "given_name_away");
    let estimation = WeightEstimation::with_database(configured.clone(), pool);
    assert!(wait_for(|| !estimation.estimating()));
    assert_eq!(estimation.u_children(), 0);
    assert!(!estimation.refresh_u());
    assert_eq!(*estimation.settings(), configured);

    rename(&mut db, "given_name_away", "given_name");
    assert!(estimation.refresh_u());
    assert_eq!(estimation.u_children(), held.len() as u64);
    // And not again at the same size once read (SQLite's size is exact).
    if matches!(*db, DbConnection::Sqlite(_)) {
        assert!(!estimation.refresh_u());
    }
}

#[test]
fn u_is_due_first_and_then_when_the_size_moved_by_the_share() {
    use super::estimating::u_due;
    assert!(u_due(None, 0, 0.1));
    assert!(u_due(None, 5_000, 0.1));
    assert!(!u_due(Some(1_000), 1_000, 0.1));
    assert!(!u_due(Some(1_000), 1_099, 0.1));
    assert!(u_due(Some(1_000), 1_100, 0.1));
    assert!(u_due(Some(1_000), 900, 0.1));
    assert!(!u_due(Some(1_000), 901, 0.1));
    // A node that was empty: any child is growth.
    assert!(!u_due(Some(0), 0, 0.1));
    assert!(u_due(Some(0), 1, 0.1));
}
