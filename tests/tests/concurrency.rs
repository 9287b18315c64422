//! Concurrent writes, searches and audit checks against one node, over HTTP: every
//! request succeeds, the hash-chained audit stays intact at every moment and at the end,
//! and change numbers are unique. Runs on SQLite, and on PostgreSQL when
//! `FEDERATION_TEST_DATABASE` is set (where the write lock is an advisory lock).

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::{child, with};
use federation_tests::{Options, SAFEGUARDING, TestFederation, query_for, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};

const WRITERS: usize = 6;
const WRITES_EACH: usize = 5;
const SEARCHERS: usize = 3;
const SEARCHES_EACH: usize = 3;
const CHECKERS: usize = 2;

fn record(source_id: &str, impact: &str) -> Value {
    json!({
        "source_system_id": source_id,
        "category": "attendance",
        "effective_from": "2026-09-03",
        "impact": impact,
        "details": {"sessions_possible": 100, "sessions_present": 97,
                    "authorised_absence": 3, "unauthorised_absence": 0},
    })
}

async fn audit_report(fed: &TestFederation) -> Value {
    fed.system("school-a").verify_audit().await
}

/// One school node with 20 children and a rate limit no burst of these tests reaches.
async fn one_busy_school() -> TestFederation {
    spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 20,
        rate_limit: Some((10_000.0, 10_000)),
        ..Options::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_searches_and_checks_keep_the_audit_chain_intact() {
    let fed = std::sync::Arc::new(one_busy_school().await);
    let before = audit_report(&fed).await["entries"].as_u64().unwrap();
    fed.system("school-a")
        .store_child("C-1", &with(child(), json!({"identifiers": {}})))
        .await;

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let fed = std::sync::Arc::clone(&fed);
        tasks.push(tokio::spawn(async move {
            let mis = fed.system("school-a");
            for i in 0..WRITES_EACH {
                // Its own record, then the one every writer updates.
                for body in [
                    record(&format!("ATT-{w}-{i}"), "own"),
                    record("ATT-SHARED", &format!("by {w}-{i}")),
                ] {
                    let answer = mis.post_record("C-1", &body).await;
                    assert!(
                        matches!(answer.status, 200 | 201),
                        "write {w}-{i}: {} {}",
                        answer.status,
                        answer.text
                    );
                }
            }
        }));
    }
    for _ in 0..SEARCHERS {
        let fed = std::sync::Arc::clone(&fed);
        tasks.push(tokio::spawn(async move {
            let child = fed.child_known_to(1, &["school-a"]).unwrap();
            let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
            for _ in 0..SEARCHES_EACH {
                let answer = fed.search(&token, &query_for(child)).await;
                assert_eq!(answer["agencies"][0]["status"], "held", "{answer}");
            }
        }));
    }
    for _ in 0..CHECKERS {
        let fed = std::sync::Arc::clone(&fed);
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let report = audit_report(&fed).await;
                assert_eq!(report["intact"], true, "mid-run: {report}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let report = audit_report(&fed).await;
    assert_eq!(report["intact"], true, "{report}");
    // One entry per write (the child, two records per step) and per search.
    let expected =
        before + 1 + (2 * WRITERS * WRITES_EACH) as u64 + (SEARCHERS * SEARCHES_EACH) as u64;
    assert_eq!(report["entries"].as_u64().unwrap(), expected, "{report}");

    let feed = fed
        .system("school-a")
        .get("/v1/changes?since=0&limit=5000")
        .await
        .expect(200);
    let ours: Vec<&Value> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["local_id"] == "C-1")
        .collect();
    assert_eq!(ours.len(), WRITERS * WRITES_EACH + 1);
    let numbers: Vec<i64> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"].as_i64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "change numbers are unique and increasing: {numbers:?}"
    );
    let shared = ours
        .iter()
        .find(|c| c["record"]["source_system_id"] == "ATT-SHARED")
        .unwrap();
    // The shared record was written last of all (every writer's last step ends with it
    // and the writes are serialised), so it holds the highest number.
    assert_eq!(shared["change"].as_i64(), numbers.last().copied());
    assert_eq!(shared["record"]["version"], json!(WRITERS * WRITES_EACH));
}

const MATCHERS: usize = 16;
const READERS: usize = 16;

/// Matches and record reads at one node, straight over the gateway's mutual TLS:
/// they read on snapshots and only their audit appends take the write lock, so many
/// run at once. Every one succeeds, answers as it does alone, and leaves exactly one
/// audit entry, on an intact chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_matches_and_record_reads_each_leave_one_audit_entry() {
    let fed = std::sync::Arc::new(one_busy_school().await);
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let ctx = SAFEGUARDING;
    let held: Vec<_> = fed
        .children
        .iter()
        .filter(|c| c.holdings.iter().any(|h| h.node == "school-a"))
        .take(4)
        .collect();
    assert!(!held.is_empty(), "the seed gives school-a children");

    // Alone first: each child's reference, and what a demographic search answers.
    let mut expected = Vec::new();
    for child in &held {
        let by_id = fed
            .node_match("school-a", &token, ctx, &query_for(child))
            .await
            .json();
        assert_eq!(by_id["outcome"], "held", "{by_id}");
        let demographic = json!({"identifiers": {}, "demographics": child.demographics});
        let alone = fed
            .node_match("school-a", &token, ctx, &demographic)
            .await
            .json();
        expected.push((
            by_id["local_ref"].as_str().unwrap().to_owned(),
            demographic,
            alone["outcome"].clone(),
        ));
    }
    let before = audit_report(&fed).await["entries"].as_u64().unwrap();
    let expected = std::sync::Arc::new(expected);

    let mut tasks = Vec::new();
    for m in 0..MATCHERS {
        let (fed, expected, token) = (
            std::sync::Arc::clone(&fed),
            std::sync::Arc::clone(&expected),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (_, query, outcome) = &expected[m % expected.len()];
            let answer = fed
                .node_match("school-a", &token, ctx, query)
                .await
                .case(format!("match {m}"))
                .expect(200);
            assert_eq!(&answer["outcome"], outcome, "match {m}: {answer}");
        }));
    }
    for r in 0..READERS {
        let (fed, expected, token) = (
            std::sync::Arc::clone(&fed),
            std::sync::Arc::clone(&expected),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (reference, _, _) = &expected[r % expected.len()];
            let answer = fed
                .node_records("school-a", &token, reference, ctx)
                .await
                .case(format!("read {r}"))
                .expect(200);
            assert_eq!(answer["agency_id"], "school-a", "read {r}: {answer}");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let report = audit_report(&fed).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        report["entries"].as_u64().unwrap(),
        before + (MATCHERS + READERS) as u64,
        "one entry per match and per read: {report}"
    );
}
