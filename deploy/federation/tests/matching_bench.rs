//! `federation bench matching --reuse --answers`: searching the databases an earlier run
//! loaded gives the same answers as loading them again.

use federation::bench::{Options, matching};

fn options(dir: &std::path::Path, seed: u64, reuse: bool, answers: &str) -> Options {
    Options {
        children: 300,
        queries: 60,
        seed,
        dir: Some(dir.to_owned()),
        mode: agency_node::matching::MatchingMode::Plain,
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
