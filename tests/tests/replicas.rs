//! Gateway replicas: the reference key is configuration shared by every replica, so a
//! federated reference issued by one replica is honoured by any other, and refused by a
//! gateway configured with another key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Call, Options, SAFEGUARDING as CONTEXT, spawn_federation};
use serde_json::Value;

#[tokio::test]
async fn a_reference_from_one_replica_opens_on_another_and_not_under_another_key() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "social-care", "health"],
        ..Options::default()
    })
    .await
    .unwrap();
    let (replica_b, b) = fed.spawn_gateway_replica(None).await.unwrap();
    let other_key = fed.files.root.join("other-reference.key");
    std::fs::write(
        &other_key,
        gateway::reference::ReferenceSealer::generate_key().unwrap(),
    )
    .unwrap();
    let (foreign, c) = fed.spawn_gateway_replica(Some(other_key)).await.unwrap();

    let child = fed
        .child_known_to(2, &["social-care", "health"])
        .expect("a child known to social care and health");
    let token = fed.token(schemas::PractitionerRole::SocialWorker, "social-care");
    let client = fed.anonymous_client();

    // Replica A searches.
    let reference = fed.reference_for(&token, child, CONTEXT).await;

    let view = |base: String| {
        let client = client.clone();
        let token = token.clone();
        let reference = reference.clone();
        async move {
            client
                .get(format!("{base}/v1/children/{reference}/view?{CONTEXT}"))
                .bearer_auth(token)
                .answer()
                .await
        }
    };

    // Replica B opens it: the same child's view, with the agencies that hold the child.
    let on_a = view(fed.gateway_url.clone()).await.expect(200);
    let on_b = view(replica_b).await.expect(200);
    let sections = |v: &Value| -> Vec<(String, String)> {
        let mut s: Vec<(String, String)> = v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["agency_id"].as_str().unwrap().to_owned(),
                    a["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(sections(&on_a), sections(&on_b));
    for agency in ["social-care", "health"] {
        assert!(
            sections(&on_b).contains(&(agency.to_owned(), "ok".to_owned())),
            "{agency}: {on_b}"
        );
    }

    // A gateway with another reference key refuses it, as problem+json.
    view(foreign).await.expect_problem(404, "invalid-reference");

    b.stop(false).await;
    c.stop(false).await;
    fed.shutdown().await;
}
