//! A member that floods a node or the gateway is slowed with 429 and Retry-After; the
//! others are not, and it recovers.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, SAFEGUARDING, spawn_federation};
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
    let mis = fed.system("school-a");
    let child = "/v1/children/NPS-000001";
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(mis.get(child).await);
    }
    let limited = answers
        .into_iter()
        .find(|r| r.status == 429)
        .expect("a 429 within 5 quick requests");
    limited.expect_any_problem(429);
    let wait: u64 = limited.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another member is not slowed by it.
    let other = fed.system("police").get("/v1/children/P-1").await;
    assert_ne!(other.status, 429);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_ne!(
        mis.get(child).await.status,
        429,
        "recovers after Retry-After"
    );

    // At the gateway: per practitioner agency.
    let search = format!("/v1/children:search?{SAFEGUARDING}");
    let body = serde_json::json!({"identifiers": {"upn": "U999123456789"}});
    let dsl = fed.dsl_token();
    let mut got_429 = false;
    for _ in 0..6 {
        let r = fed.gateway_post(&dsl, &search, &body).await;
        if r.status == 429 {
            assert!(r.headers.contains_key("retry-after"));
            got_429 = true;
            break;
        }
    }
    assert!(got_429);
    let sw = fed.token(PractitionerRole::PoliceOfficer, "police");
    fed.gateway_post(&sw, &search, &body)
        .await
        .case("another agency's practitioners are unaffected")
        .expect(200);
    fed.shutdown().await;
}
