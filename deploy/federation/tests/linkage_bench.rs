//! `federation bench linkage` on a handful of FEBRL-shaped records, our side only (the
//! Splink side needs PyPI): a real two-node federation per mode, loaded and searched
//! through the public API, each kind of answer scored where the bench says. Seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation::linkage_bench::{Options, linkage, render, score::Answer};
use matching::MatchingMode;
use std::path::PathBuf;

const FEBRL: &str = "\
rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id
rec-1-org, amelia, okafor, 1, a street, , x, 4223, nsw, 19990219, 1
rec-1-dup-0, amelia, okafor, 1, a street, , x, 4223, nsw, 19990219, 1
rec-2-org, oscar, pennington, 2, b street, , x, 3150, vic, 19850612, 2
rec-2-dup-0, theodore, pennington, 2, b street, , x, 3150, vic, 19850612, 2
rec-3-org, harriet, lindqvist, 3, c street, , x, 2611, act, 19770304, 3
rec-4-org, freya, castellano, 4, d street, , x, 5012, sa, 19930127, 4
rec-4-dup-0, freya, castellano, 4, d street, , x, 5012, sa, , 4
rec-5-org, , whitcombe, 5, e street, , x, 6100, wa, 19881111, 5
rec-5-dup-0, , whitcombe, 5, e street, , x, 6100, wa, 19881111, 5
rec-6-org, rowan, abernethy, 6, f street, , x, 7250, tas, 19910305, 6
rec-6-dup-0, rowan, abernethy, 6, f street, , x, 7250, tas, 19910503, 6
rec-6-dup-1, rowan, abernethy, 6, f street, , x, 7250, tas, 19910305, 6
rec-7-org, , hartigan, 7, g street, , x, , nsw, , 7
";

#[test]
fn our_side_links_offers_and_refuses_where_it_should_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("febrl.csv");
    std::fs::write(&data, FEBRL).unwrap();
    let folder = dir.path().join("run");
    let report = linkage(&Options {
        data,
        modes: vec![MatchingMode::Plain, MatchingMode::Keyed],
        splink: false,
        python: "python3".into(),
        venv: dir.path().join("venv"),
        dir: Some(folder.clone()),
        concurrency: 2,
        passes: 1,
        seed: 42,
        settings: None,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_federation")),
    })
    .unwrap();

    assert_eq!((report.a_records, report.b_records), (7, 5));
    let labels: Vec<&str> = report.sides.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["ours plain", "ours keyed"]);
    for side in &report.sides {
        let t = &side.tally;
        // 1 exact and 6 (day and month swapped) linked; 2 (another given name, the
        // shape of a twin) offered, never linked; 3 not held and not linked. 4's copy at
        // B has no date of birth: a partial child, held, and linked in both modes (its
        // names and postcode agree, 23.5 bits without sex; the missing date is no
        // evidence; B holds 5 children, so its thresholds are at the floor's, probable
        // 20.2; keyed mode encodes a partial child's demographics as plain mode compares
        // them). 5 has no given name at A: searched with what it states (a partial
        // search), offered and never linked, since without a given name it could be
        // either twin. 7 states only a family name: not searchable. The practitioner is
        // shown what each candidate agreed on: all but the given name.
        let offered = Answer::Candidates {
            count: 1,
            includes_true: true,
            offered: vec!["family_name+date_of_birth+postcode".into()],
        };
        assert_eq!(
            side.answers,
            [
                Answer::Linked { b: 0 },
                offered.clone(),
                Answer::NotFound,
                Answer::Linked { b: 2 },
                offered,
                Answer::Linked { b: 4 },
                Answer::NotSearchable,
            ],
            "{}",
            side.label
        );
        assert_eq!((t.true_pairs, t.not_held_searches), (5, 2));
        assert_eq!(t.a_not_searchable, 1);
        // Partial children are children: B holds every copy (4's without a date of
        // birth, 5's without a given name).
        assert_eq!(t.b_not_stored, 0, "{}", side.label);
        assert_eq!((t.right_links, t.wrong_links), (3, 0));
        assert_eq!(t.precision, Some(1.0));
        assert!((t.linked_recall - 0.6).abs() < 1e-12);
        assert!(
            (t.linked_or_offered_recall - 1.0).abs() < 1e-12,
            "{}: {}",
            side.label,
            t.linked_or_offered_recall
        );
        assert_eq!(t.failed, 0);
        assert!(side.meets_conditions);
        assert_eq!(side.misses["given replaced"], (1, 1));
    }
    let text = render(&report);
    assert!(text.contains("linked recall"), "{text}");
    assert!(text.contains("keyed F1"), "{text}");
    // The folder was kept (--dir), with a layout per mode.
    assert!(folder.join("plain").join("directory.toml").exists());
    assert!(folder.join("keyed").join("directory.toml").exists());
}

/// `--passes 2`: every A record searched twice against the same nodes, each pass its own
/// column. Seven A records (one not searchable) are far from the 200 searches after
/// which a node re-estimates m, so both passes are scored with the configured m and
/// answer alike.
#[test]
fn two_passes_search_every_record_twice_and_report_each() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("febrl.csv");
    std::fs::write(&data, FEBRL).unwrap();
    let report = linkage(&Options {
        data,
        modes: vec![MatchingMode::Plain],
        splink: false,
        python: "python3".into(),
        venv: dir.path().join("venv"),
        dir: None,
        concurrency: 2,
        passes: 2,
        seed: 42,
        settings: None,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_federation")),
    })
    .unwrap();
    let labels: Vec<&str> = report.sides.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["ours plain pass 1", "ours plain pass 2"]);
    let [first, second] = &report.sides[..] else {
        panic!("{labels:?}")
    };
    assert_eq!(first.tally.searches, 7);
    assert_eq!(second.tally.searches, 7);
    assert_eq!(first.tally.a_not_searchable, 1);
    assert_eq!(second.tally.a_not_searchable, 1);
    assert_eq!(first.tally.right_links, 3);
    assert_eq!(first.answers, second.answers);
}
