//! Concurrent writes, searches and audit checks against one node, over HTTP: every
//! request succeeds, the hash-chained audit stays intact at every moment and at the end,
//! and change numbers are unique. Runs on SQLite, and on PostgreSQL when
//! `FEDERATION_TEST_DATABASE` is set (where the write lock is an advisory lock).

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, TestFederation, query_for, spawn_federation};
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
    let response = fed
        .integration_client("school-a")
        .get(format!("{}/v1/audit/verify", fed.node_url("school-a")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
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
    let node = fed.node_url("school-a").to_owned();
    let before = audit_report(&fed).await["entries"].as_u64().unwrap();
    let put = fed
        .integration_client("school-a")
        .put(format!("{node}/v1/children/C-1"))
        .json(&json!({
            "demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
                "date_of_birth": "2016-05-14", "sex": "female", "postcode": "zz3 9xy"},
            "identifiers": {}
        }))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let fed = std::sync::Arc::clone(&fed);
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let mis = fed.integration_client("school-a");
            for i in 0..WRITES_EACH {
                // Its own record, then the one every writer updates.
                for body in [
                    record(&format!("ATT-{w}-{i}"), "own"),
                    record("ATT-SHARED", &format!("by {w}-{i}")),
                ] {
                    let response = mis
                        .post(format!("{node}/v1/children/C-1/records"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert!(
                        response.status().is_success(),
                        "write {w}-{i}: {} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
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
                let response = fed
                    .anonymous_client()
                    .post(format!(
                        "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
                        fed.gateway_url
                    ))
                    .bearer_auth(&token)
                    .json(&query_for(child))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let answer: Value = response.json().await.unwrap();
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

    let feed: Value = fed
        .integration_client("school-a")
        .get(format!("{node}/v1/changes?since=0&limit=5000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let node = fed.node_url("school-a").to_owned();
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let ctx = "purpose=safeguarding&legal_basis=public_task";
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
        let by_id: Value = fed
            .gateway_identity()
            .post(format!("{node}/v1/federation/match?{ctx}"))
            .bearer_auth(&token)
            .json(&query_for(child))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(by_id["outcome"], "held", "{by_id}");
        let demographic = json!({"identifiers": {}, "demographics": child.demographics});
        let alone: Value = fed
            .gateway_identity()
            .post(format!("{node}/v1/federation/match?{ctx}"))
            .bearer_auth(&token)
            .json(&demographic)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
        let (fed, expected, node, token) = (
            std::sync::Arc::clone(&fed),
            std::sync::Arc::clone(&expected),
            node.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (_, query, outcome) = &expected[m % expected.len()];
            let response = fed
                .gateway_identity()
                .post(format!("{node}/v1/federation/match?{ctx}"))
                .bearer_auth(&token)
                .json(query)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "match {m}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(&answer["outcome"], outcome, "match {m}: {answer}");
        }));
    }
    for r in 0..READERS {
        let (fed, expected, node, token) = (
            std::sync::Arc::clone(&fed),
            std::sync::Arc::clone(&expected),
            node.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (reference, _, _) = &expected[r % expected.len()];
            let response = fed
                .gateway_identity()
                .get(format!(
                    "{node}/v1/federation/children/{reference}/records?{ctx}"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "read {r}");
            let answer: Value = response.json().await.unwrap();
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
