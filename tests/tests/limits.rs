//! A member that floods a node or the gateway is slowed with 429 and Retry-After; the
//! others are not, and it recovers.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, spawn_federation};
use schemas::PractitionerRole;
use std::time::Duration;

#[tokio::test]
async fn a_flooding_member_gets_429_then_recovers_and_others_are_unaffected() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "police"],
        children: 5,
        rate_limit: Some((0.5, 3)),
        ..Options::default()
    })
    .await
    .unwrap();

    // At a node: school A's MIS makes a burst of reads.
    let mis = fed.integration_client("school-a");
    let url = format!("{}/v1/children/NPS-000001", fed.node_url("school-a"));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(mis.get(&url).send().await.unwrap());
    }
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a 429 within 5 quick requests");
    assert_eq!(
        limited.headers()["content-type"],
        "application/problem+json"
    );
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another member is not slowed by it.
    let police_system = fed.integration_client("police");
    let other = police_system
        .get(format!("{}/v1/children/P-1", fed.node_url("police")))
        .send()
        .await
        .unwrap();
    assert_ne!(other.status(), 429);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_ne!(
        mis.get(&url).send().await.unwrap().status(),
        429,
        "recovers after Retry-After"
    );

    // At the gateway: per practitioner agency.
    let search = format!(
        "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
        fed.gateway_url
    );
    let body = serde_json::json!({"identifiers": {"upn": "U999123456789"}});
    let dsl = fed.dsl_token();
    let mut got_429 = false;
    for _ in 0..6 {
        let r = fed
            .anonymous_client()
            .post(&search)
            .bearer_auth(&dsl)
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            got_429 = true;
            break;
        }
    }
    assert!(got_429);
    let sw = fed.token(PractitionerRole::PoliceOfficer, "police");
    let r = fed
        .anonymous_client()
        .post(&search)
        .bearer_auth(&sw)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "another agency's practitioners are unaffected"
    );
    fed.shutdown().await;
}
