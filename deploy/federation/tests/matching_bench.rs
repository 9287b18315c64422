//! `federation bench matching --reuse --answers`: searching the databases an earlier run
//! loaded gives the same answers as loading them again.

use federation::bench::{Options, matching, own_estimate};

fn options(dir: &std::path::Path, seed: u64, reuse: bool, answers: &str) -> Options {
    Options {
        children: 300,
        queries: 60,
        seed,
        dir: Some(dir.to_owned()),
        mode: matching::MatchingMode::Plain,
        postgres: None,
        settings: Default::default(),
        reuse,
        answers: Some(dir.join(answers)),
    }
}

#[test]
fn a_reused_run_answers_like_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    matching(&options(dir.path(), 7, false, "fresh.jsonl")).unwrap();
    matching(&options(dir.path(), 7, true, "reused.jsonl")).unwrap();
    let fresh = std::fs::read_to_string(dir.path().join("fresh.jsonl")).unwrap();
    let reused = std::fs::read_to_string(dir.path().join("reused.jsonl")).unwrap();
    // One line per search: 60 children at 3 agencies.
    assert_eq!(fresh.lines().count(), 180);
    assert!(fresh.contains("\"outcome\":\"held\""), "{fresh}");
    assert_eq!(fresh, reused);
    // Databases of another seed are not reused.
    let other = matching(&options(dir.path(), 8, true, "other.jsonl"));
    assert!(other.is_err());
}

#[test]
fn reuse_needs_the_databases() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matching(&options(dir.path(), 7, true, "none.jsonl")).is_err());
}

#[test]
fn each_agency_searches_with_the_u_its_node_estimates_from_its_own_children() {
    let dir = tempfile::tempdir().unwrap();
    // The default, as a node: u estimated from the agency's own children.
    matching(&options(dir.path(), 7, false, "estimated.jsonl")).unwrap();
    let answers = std::fs::read_to_string(dir.path().join("estimated.jsonl")).unwrap();
    assert_eq!(answers.lines().count(), 180);
    assert!(answers.contains("\"outcome\":\"held\""), "{answers}");

    // The estimate replaces the configured u: the generator's children share a full
    // postcode less often than the configured one in a thousand (lowered by at most
    // two bits), and a district (one of nine) more often than the configured one in
    // twenty.
    let url = format!("sqlite://{}", dir.path().join("school.sqlite").display());
    let pool = agency_node::db::connect(&url).unwrap();
    let configured = matching::MatchingSettings::default();
    let own = own_estimate(&mut pool.get().unwrap(), "school", &configured).unwrap();
    let full = (
        own.weights.postcode.full.u,
        configured.weights.postcode.full.u,
    );
    assert!(full.0 < full.1 && full.0 >= full.1 / 4.0, "{full:?}");
    assert!(
        own.weights.postcode.district.u > configured.weights.postcode.district.u,
        "{:?}",
        own.weights.postcode
    );
    assert_eq!(own.thresholds.probable, configured.thresholds.probable);

    // Too few complete children for the node's minimum: the configured u stay.
    let strict = matching::MatchingSettings {
        estimate_u: matching::settings::EstimateU {
            min_children: 100_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let kept = own_estimate(&mut pool.get().unwrap(), "school", &strict).unwrap();
    assert_eq!(kept.weights, strict.weights);
}
