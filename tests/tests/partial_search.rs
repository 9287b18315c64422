//! Partial searches through the gateway: a practitioner who knows a child's names and
//! address but not the date of birth (or a given name and a date only) searches, and
//! finds the partial children agencies stored through `/v1/batch`; a search that states
//! too little is refused naming `demographics`; twins are never linked for one another.
//! In plain and keyed mode, and with the record locator (which cannot key a partial
//! search, so asks every node).

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::problem_fields;
use federation_tests::{Options, TestFederation, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};

const NODES: [&str; 2] = ["school-a", "police"];

/// The police hold a child without a date of birth and a census-style child with an NHS
/// number only; the school holds twins. Loaded through `/v1/batch`.
async fn load(fed: &TestFederation) {
    let police = fed.system("police");
    let loaded = police
        .post(
            "/v1/batch",
            &json!({"items": [
                {"op": "upsert_child", "local_id": "PS-1", "child": {"demographics": {
                    "given_name": "Rowan", "family_name": "Quenby-Astley",
                    "postcode": "ZZ9 4QT", "sex": "male"}}},
                {"op": "upsert_child", "local_id": "PS-2",
                 "child": {"identifiers": {"nhs_number": "9434765919"}}},
                {"op": "upsert_child", "local_id": "PS-3", "child": {"demographics": {
                    "given_name": "Idris", "family_name": "Penhallow",
                    "date_of_birth": "2012-08-14", "postcode": "ZZ2 7LM", "sex": "male"}}},
            ]}),
        )
        .await
        .expect(200);
    assert_eq!(loaded["succeeded"], 3, "{loaded}");
    let school = fed.system("school-a");
    let loaded = school
        .post(
            "/v1/batch",
            &json!({"items": [
                {"op": "upsert_child", "local_id": "TW-1", "child": {"demographics": {
                    "given_name": "Amelia", "family_name": "Okafor",
                    "date_of_birth": "2014-03-09", "postcode": "ZZ1 4AB", "sex": "female"}}},
                {"op": "upsert_child", "local_id": "TW-2", "child": {"demographics": {
                    "given_name": "Olivia", "family_name": "Okafor",
                    "date_of_birth": "2014-03-09", "postcode": "ZZ1 4AB", "sex": "female"}}},
            ]}),
        )
        .await
        .expect(200);
    assert_eq!(loaded["succeeded"], 2, "{loaded}");
}

/// Each agency's status in a search answer, in `NODES` order.
fn statuses(found: &Value) -> Vec<String> {
    NODES
        .iter()
        .map(|node| {
            found["agencies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["agency_id"] == *node)
                .map(|a| a["status"].as_str().unwrap().to_owned())
                .unwrap_or_else(|| "absent".into())
        })
        .collect()
}

fn agency<'a>(found: &'a Value, node: &str) -> &'a Value {
    found["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == node)
        .unwrap()
}

/// The searches every mode must answer alike.
async fn partial_searches_find_partial_children(fed: &TestFederation) {
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    // Names and address, no date of birth: the police's undated child, linked.
    let found = fed
        .search(
            &token,
            &json!({"demographics": {"given_name": "Rowan", "family_name": "Quenby-Astley",
                    "postcode": "ZZ9 4QT", "sex": "male"}}),
        )
        .await;
    assert_eq!(statuses(&found), ["not_found", "held"], "{found:#}");
    let police = agency(&found, "police");
    assert_eq!(police["grade"], "probable", "{found:#}");
    assert_eq!(
        police["matched_on"],
        json!(["given_name", "family_name", "postcode", "sex"]),
        "{found:#}"
    );
    // A given name and a date of birth with the address, no family name: a complete
    // child is found by what the search states.
    let found = fed
        .search(
            &token,
            &json!({"demographics": {"given_name": "Idris", "date_of_birth": "2012-08-14",
                    "postcode": "ZZ2 7LM", "sex": "male"}}),
        )
        .await;
    assert_eq!(statuses(&found), ["not_found", "held"], "{found:#}");
    // The census child, by its NHS number alone, beside partial demographics.
    let found = fed
        .search(
            &token,
            &json!({"identifiers": {"nhs_number": "9434765919"},
                    "demographics": {"family_name": "Bright"}}),
        )
        .await;
    assert_eq!(statuses(&found), ["not_found", "held"], "{found:#}");
    assert_eq!(agency(&found, "police")["grade"], "certain", "{found:#}");

    // Twins: a search without a given name links neither; one for a third child of the
    // same birth (not held) without a family name links neither; each twin's own given
    // name links that twin.
    let found = fed
        .search(
            &token,
            &json!({"demographics": {"family_name": "Okafor", "date_of_birth": "2014-03-09",
                    "postcode": "ZZ1 4AB", "sex": "female"}}),
        )
        .await;
    let school = &statuses(&found)[0];
    assert!(school == "ambiguous" || school == "candidates", "{found:#}");
    for given in ["Ruby", "Olive", "Amelie"] {
        let found = fed
            .search(
                &token,
                &json!({"demographics": {"given_name": given, "date_of_birth": "2014-03-09",
                        "postcode": "ZZ1 4AB", "sex": "female"}}),
            )
            .await;
        assert_ne!(statuses(&found)[0], "held", "{given}: {found:#}");
    }
    let found = fed
        .search(
            &token,
            &json!({"demographics": {"given_name": "Olivia", "date_of_birth": "2014-03-09",
                    "postcode": "ZZ1 4AB", "sex": "female"}}),
        )
        .await;
    assert_eq!(statuses(&found), ["held", "not_found"], "{found:#}");
    assert!(
        !agency(&found, "school-a")["matched_on"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("family_name")),
        "{found:#}"
    );

    // Too little to search by: refused, naming `demographics`; a bad field is still
    // named as itself.
    for demographics in [
        json!({"family_name": "Okafor"}),
        json!({"given_name": "Amelia", "postcode": "ZZ1 4AB", "sex": "female"}),
        json!({"date_of_birth": "2014-03-09", "postcode": "ZZ1 4AB"}),
        json!({}),
    ] {
        let problem = fed
            .gateway_post(
                &token,
                "/v1/children:search?purpose=safeguarding&legal_basis=public_task",
                &json!({"demographics": demographics}),
            )
            .await
            .expect_problem(400, "invalid-request");
        assert_eq!(problem_fields(&problem), ["demographics"], "{problem}");
    }
    let problem = fed
        .gateway_post(
            &token,
            "/v1/children:search?purpose=safeguarding&legal_basis=public_task",
            &json!({"demographics": {"family_name": "Okafor", "date_of_birth": "2014-02-30"}}),
        )
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(
        problem_fields(&problem),
        ["demographics.date_of_birth"],
        "{problem}"
    );
}

#[tokio::test]
async fn a_partial_search_finds_partial_children_and_never_a_twin() {
    let fed = spawn_federation(Options::nodes(&NODES, 0)).await.unwrap();
    load(&fed).await;
    partial_searches_find_partial_children(&fed).await;
    // A node refuses an insufficient search on its own face too.
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "police");
    let problem = fed
        .node_match(
            "police",
            &token,
            federation_tests::scenario::SAFEGUARDING,
            &json!({"demographics": {"family_name": "Quenby-Astley"}}),
        )
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(problem_fields(&problem), ["demographics"], "{problem}");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_partial_search_in_keyed_mode_answers_as_in_plain_mode() {
    let fed = spawn_federation(Options {
        matching_mode: matching::MatchingMode::Keyed,
        ..Options::nodes(&NODES, 0)
    })
    .await
    .unwrap();
    load(&fed).await;
    partial_searches_find_partial_children(&fed).await;
    fed.shutdown().await;
}

/// The locator keys a search by its given name's initial, family name and date of birth;
/// a partial search has no such key, so every node is asked rather than none.
#[tokio::test]
async fn the_record_locator_asks_every_node_for_a_partial_search() {
    let fed = spawn_federation(Options {
        locator_refresh_seconds: Some(1),
        ..Options::nodes(&NODES, 0)
    })
    .await
    .unwrap();
    load(&fed).await;
    // The filters are built from what the nodes hold now.
    let mut filters = 0;
    for _ in 0..100 {
        let text = fed.gateway_metrics().await;
        filters = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("locator_filters ")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if filters == NODES.len() as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        filters,
        NODES.len() as u64,
        "the gateway holds every filter"
    );
    partial_searches_find_partial_children(&fed).await;
    fed.shutdown().await;
}
