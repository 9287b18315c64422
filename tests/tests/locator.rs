//! The record-locator filter a node publishes: for gateways only, over mutual TLS, and a
//! filter that says "maybe" for every child the node holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use federation_tests::{Call, Options, spawn_federation};
use locator::{BlockingInput, LocatorFilter, LocatorKey, Token};
use serde_json::Value;

fn tokens_of(key: &LocatorKey, child: &schemas::ChildUpsert) -> Vec<Token> {
    let d = &child.demographics;
    let demographics = BlockingInput {
        given_name: d.given_name.as_deref().unwrap(),
        family_name: d.family_name.as_deref().unwrap(),
        date_of_birth: d.date_of_birth.unwrap(),
        postcode: d.postcode.as_deref(),
        sex: d.sex,
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
    let fed = spawn_federation(Options::nodes(&["school-a"], 20))
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
        let problem = client
            .get(&url)
            .answer()
            .await
            .case(who)
            .expect_problem(403, code);
        assert!(problem.get("filter").is_none());
    }
    fed.shutdown().await;
}

/// The gateway's locator decisions so far, from its metrics.
async fn locator_metrics(fed: &federation_tests::TestFederation) -> (u64, u64, u64, u64) {
    let text = fed.gateway_metrics().await;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        value("locator_filters "),
        value("locator_decisions_total{decision=\"maybe\"}"),
        value("locator_decisions_total{decision=\"not_held\"}"),
        value("locator_decisions_total{decision=\"no_filter\"}"),
    )
}

#[tokio::test]
async fn with_the_locator_the_gateway_asks_only_nodes_whose_filter_may_hold_the_child() {
    let nodes = vec!["school-a", "school-b", "social-care", "health", "police"];
    let fed = spawn_federation(Options {
        nodes: nodes.clone(),
        // school-b answers through a relay that keeps every request it passes on.
        recorded: vec!["school-b"],
        locator_refresh_seconds: Some(1),
        ..Options::default()
    })
    .await
    .unwrap();
    // The gateway fetches every node's filter in the background.
    let mut filters = 0;
    for _ in 0..100 {
        filters = locator_metrics(&fed).await.0;
        if filters == nodes.len() as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        filters,
        nodes.len() as u64,
        "the gateway holds every node's filter"
    );

    // A child at school-a (not school-b), searched by demographics alone.
    let child = fed
        .children
        .iter()
        .find(|c| {
            let agencies = c.agencies();
            agencies.contains(&"school-a") && !agencies.contains(&"school-b")
        })
        .expect("a child at school-a only");
    let token = fed.dsl_token();
    let matches_at_school_b = || {
        fed.recorded("school-b")
            .iter()
            .filter(|r| r.target.starts_with("/v1/federation/match"))
            .count()
    };
    let before = locator_metrics(&fed).await;
    let found = fed
        .search(
            &token,
            &serde_json::json!({"demographics": child.demographics}),
        )
        .await;
    let after = locator_metrics(&fed).await;
    let agencies = found["agencies"].as_array().unwrap();
    assert_eq!(
        agencies.len(),
        nodes.len(),
        "every agency is in the answer: {found}"
    );
    for a in agencies {
        let id = a["agency_id"].as_str().unwrap();
        if child.agencies().contains(&id) {
            assert_eq!(a["status"], "held", "{id}: {found}");
        } else {
            assert_eq!(a["status"], "not_found", "{id}: {found}");
        }
    }
    let school_b = agencies
        .iter()
        .find(|a| a["agency_id"] == "school-b")
        .unwrap();
    assert!(
        school_b["reason"]
            .as_str()
            .unwrap()
            .contains("record-locator"),
        "{school_b}"
    );
    assert_eq!(matches_at_school_b(), 0, "school-b was not asked");
    // Every node the child is held at was asked; the others were skipped by their filter
    // (a false positive would ask one more: possible, at a rate of about 1e-6).
    let held = child
        .agencies()
        .iter()
        .filter(|a| nodes.contains(a))
        .count() as u64;
    assert_eq!(after.1 - before.1, held, "asked: {before:?} -> {after:?}");
    assert_eq!(after.2 - before.2, nodes.len() as u64 - held);
    assert_eq!(after.3, before.3, "every node had a filter");

    // A child who is at school-b: school-b is asked and answers.
    let at_b = fed
        .children
        .iter()
        .find(|c| c.agencies().contains(&"school-b"))
        .expect("a child at school-b");
    let found = fed
        .search(
            &token,
            &serde_json::json!({"demographics": at_b.demographics}),
        )
        .await;
    let school_b = found["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == "school-b")
        .unwrap();
    assert_eq!(school_b["status"], "held", "{found}");
    assert_eq!(matches_at_school_b(), 1, "school-b was asked once");
}

#[tokio::test]
async fn a_stopped_gateway_drops_its_state_and_its_locator_refresher_ends() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 30,
        // Refreshed once at start, then not for an hour: only the stop can end it.
        locator_refresh_seconds: Some(3600),
        ..Options::default()
    })
    .await
    .unwrap();
    let settings = fed.files.gateway_settings().unwrap();
    assert!(settings.locator.is_some(), "the gateway runs a locator");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = gateway::Application::build_with_listener(settings, listener).unwrap();
    let state = app.state();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    // The refresher has run: the node's filter is held.
    let mut usable = 0;
    for _ in 0..200 {
        usable = state
            .upgrade()
            .and_then(|s| s.locator.as_ref().map(|l| l.usable()))
            .unwrap_or(0);
        if usable == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(usable, 1, "the refresher fetched the node's filter");

    handle.stop(false).await;
    // A guard against hanging, not a measure of speed.
    tokio::time::timeout(std::time::Duration::from_secs(60), running)
        .await
        .expect("the stopped gateway's run ends, refresher included")
        .unwrap()
        .unwrap();
    assert!(
        state.upgrade().is_none(),
        "nothing (the refresher included) keeps a stopped gateway's state alive"
    );
    fed.shutdown().await;
}
