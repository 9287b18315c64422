//! The record-locator filter a node publishes: for gateways only, over mutual TLS, and a
//! filter that says "maybe" for every child the node holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use federation_tests::{Options, spawn_federation};
use serde_json::Value;
use trust::locator::{BlockingInput, LocatorFilter, LocatorKey, Token};

fn tokens_of(key: &LocatorKey, child: &schemas::ChildUpsert) -> Vec<Token> {
    let d = &child.demographics;
    let demographics = BlockingInput {
        given_name: &d.given_name,
        family_name: &d.family_name,
        date_of_birth: d.date_of_birth,
        postcode: d.postcode.as_deref(),
    };
    let mut tokens = identifier_tokens(key, child);
    tokens.extend(key.query_tokens(None, None, None, Some(&demographics)));
    tokens
}

fn identifier_tokens(key: &LocatorKey, child: &schemas::ChildUpsert) -> Vec<Token> {
    key.query_tokens(
        child.identifiers.upn.as_ref().map(|u| u.as_str()),
        child.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
        None,
        None,
    )
}

#[tokio::test]
async fn a_gateway_reads_a_filter_that_finds_every_child_the_node_holds() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "health"],
        ..Options::default()
    })
    .await
    .unwrap();
    let url = format!("{}/v1/federation/locator-filter", fed.node_url("school-a"));
    let response = fed.gateway_identity().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    let key_text = std::fs::read_to_string(fed.files.root.join("locator.key")).unwrap();
    let key = LocatorKey::from_base64(&key_text).unwrap();
    assert_eq!(doc["key_id"], key.id());
    assert_eq!(doc["format"], "blocked-bloom-512/v1");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(doc["filter"].as_str().unwrap())
        .unwrap();
    let filter = LocatorFilter::from_bytes(&bytes).unwrap();

    let held: Vec<&schemas::ChildUpsert> = fed
        .children
        .iter()
        .flat_map(|c| c.holdings.iter())
        .filter(|h| h.node == "school-a")
        .map(|h| &h.child)
        .collect();
    assert!(held.len() > 50);
    assert_eq!(doc["children"], held.len());
    // No false negatives: every child the school holds, searched as the school has it.
    for child in &held {
        assert!(filter.may_hold_any(&tokens_of(&key, child)));
    }
    // Children the school does not hold, by the identifiers health has for them: the
    // filter says "no" (a false positive is possible at about 1e-6 per token; allow one).
    // Demographics are left out here: another child may share a blocking key.
    let elsewhere: Vec<&schemas::ChildUpsert> = fed
        .children
        .iter()
        .filter(|c| !c.agencies().contains(&"school-a"))
        .flat_map(|c| c.holdings.iter().filter(|h| h.node == "health"))
        .filter(|h| !h.child.identifiers.is_empty())
        .map(|h| &h.child)
        .collect();
    assert!(elsewhere.len() > 20);
    let maybes = elsewhere
        .iter()
        .filter(|c| filter.may_hold_any(&identifier_tokens(&key, c)))
        .count();
    assert!(maybes <= 1, "{maybes} of {} not held", elsewhere.len());
    // Under another key the same filter finds nobody.
    let other = LocatorKey::from_bytes(&[9; 32]).unwrap();
    let found = held
        .iter()
        .filter(|c| filter.may_hold_any(&tokens_of(&other, c)))
        .count();
    assert!(found <= 1, "{found}");
    fed.shutdown().await;
}

#[tokio::test]
async fn only_gateways_read_the_filter() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 20,
        ..Options::default()
    })
    .await
    .unwrap();
    let url = format!("{}/v1/federation/locator-filter", fed.node_url("school-a"));
    for (who, client, code) in [
        (
            "the school's own MIS",
            fed.integration_client("school-a"),
            "forbidden",
        ),
        ("no certificate", fed.anonymous_client(), "not-a-member"),
    ] {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 403, "{who}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{who}"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["type"].as_str().unwrap().ends_with(code),
            "{who}: {problem}"
        );
        assert!(problem.get("filter").is_none());
    }
    fed.shutdown().await;
}
