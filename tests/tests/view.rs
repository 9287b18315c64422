//! Search and view across a running federation: real TLS, real HTTP, real SQLite.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Call, Options, SAFEGUARDING, query_for, spawn_federation};
use serde_json::Value;

fn status_of<'a>(list: &'a Value, agency: &str) -> &'a str {
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == agency)
        .and_then(|a| a["status"].as_str())
        .unwrap_or("absent")
}

#[tokio::test]
async fn search_then_view_shows_every_agency_that_holds_the_child() {
    let fed = spawn_federation(Options::default()).await.unwrap();
    let child = fed
        .child_known_to(4, &["social-care", "health"])
        .expect("a child known to 4 agencies");
    // A social worker, keeping the child safe: every agency's policy shares something.
    let token = fed.token(schemas::PractitionerRole::SocialWorker, "social-care");

    let found = fed.search(&token, &query_for(child)).await;
    // Every node this federation runs (it was spawned with the defaults).
    for agency in Options::default().nodes {
        let expected = if child.agencies().contains(&agency) {
            "held"
        } else {
            "not_found"
        };
        assert_eq!(
            status_of(&found["agencies"], agency),
            expected,
            "{agency}: {found}"
        );
    }
    let reference = found["reference"].as_str().unwrap();
    assert!(reference.starts_with("fr1."));

    let body = fed.view(&token, reference, SAFEGUARDING).await.expect(200);
    for holding in &child.holdings {
        let section = body["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agency_id"] == holding.node)
            .unwrap();
        assert_eq!(section["status"], "ok", "{section}");
        assert_eq!(
            section["records"].as_array().unwrap().len(),
            holding.records.len()
        );
    }
    let chronology = body["chronology"].as_array().unwrap();
    let total: usize = child.holdings.iter().map(|h| h.records.len()).sum();
    assert_eq!(chronology.len(), total);
    let dates: Vec<&str> = chronology
        .iter()
        .map(|e| e["date"].as_str().unwrap())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted, "chronology is newest first");
    let agencies_in_chronology: std::collections::HashSet<&str> = chronology
        .iter()
        .map(|e| e["agency_id"].as_str().unwrap())
        .collect();
    assert!(agencies_in_chronology.len() >= 3);
    fed.shutdown().await;
}

#[tokio::test]
async fn police_find_a_child_by_demographics_alone() {
    let fed = spawn_federation(Options::default()).await.unwrap();
    let child = fed
        .child_known_to(2, &["police"])
        .expect("a child known to police");
    let query = serde_json::json!({"demographics": child.demographics});
    let found = fed.search(&fed.dsl_token(), &query).await;
    let police = found["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == "police")
        .unwrap();
    assert_eq!(police["status"], "held");
    assert_eq!(police["grade"], "probable");
    assert!(
        police["matched_on"]
            .as_array()
            .unwrap()
            .contains(&Value::from("date_of_birth"))
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn view_marks_a_stopped_node_unavailable_and_still_answers() {
    let fed = spawn_federation(Options::default()).await.unwrap();
    let child = fed
        .child_known_to(3, &["police", "social-care", "school-a"])
        .expect("a child at school A known to police");
    // School A's DSL: the child is on its roll.
    let token = fed.dsl_token();
    let found = fed.search(&token, &query_for(child)).await;
    let reference = found["reference"].as_str().unwrap().to_owned();

    fed.stop_node("police").await;
    let body = fed.view(&token, &reference, SAFEGUARDING).await.expect(200);
    assert_eq!(
        status_of(&body["sections"], "police"),
        "unavailable",
        "{body}"
    );
    assert_eq!(status_of(&body["sections"], "social-care"), "ok");
    assert!(
        body["chronology"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["agency_id"] != "police")
    );

    // A search made while it is down says so, and still finds the others.
    let again = fed.search(&token, &query_for(child)).await;
    assert_eq!(status_of(&again["agencies"], "police"), "unavailable");
    assert_eq!(status_of(&again["agencies"], "social-care"), "held");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_child_nobody_holds_gets_no_reference() {
    let fed = spawn_federation(Options {
        children: 20,
        ..Options::default()
    })
    .await
    .unwrap();
    let query = serde_json::json!({"demographics": {
        "given_name": "Nobody", "family_name": "Unknown", "date_of_birth": "2015-01-01"}});
    let found = fed.search(&fed.dsl_token(), &query).await;
    assert!(found.get("reference").is_none());
    assert!(
        found["agencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "not_found")
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn references_are_sealed_bound_to_their_practitioner_and_need_a_purpose() {
    let fed = spawn_federation(Options {
        children: 50,
        ..Options::default()
    })
    .await
    .unwrap();
    let child = fed.child_known_to(1, &[]).unwrap();
    let token = fed.dsl_token();
    let found = fed.search(&token, &query_for(child)).await;
    let reference = found["reference"].as_str().unwrap();

    let mut tampered = reference.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    fed.view(&token, &tampered, SAFEGUARDING)
        .await
        .expect_any_problem(404);

    let teacher = fed.token(schemas::PractitionerRole::Teacher, "school-a");
    fed.view(&teacher, reference, SAFEGUARDING)
        .await
        .expect_problem(403, "reference-not-yours");

    for query in [
        "",
        "?purpose=safeguarding",
        "?purpose=gossip&legal_basis=consent",
        "?purpose=safeguarding&legal_basis=safeguarding_override",
    ] {
        fed.gateway_get(&token, &format!("/v1/children/{reference}/view{query}"))
            .await
            .case(query)
            .expect_any_problem(400);
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn invalid_search_is_a_problem_listing_the_fields() {
    let fed = spawn_federation(Options {
        children: 5,
        ..Options::default()
    })
    .await
    .unwrap();
    let post = |body: &'static str| {
        fed.anonymous_client()
            .post(format!(
                "{}/v1/children:search?{SAFEGUARDING}",
                fed.gateway_url
            ))
            .bearer_auth(fed.dsl_token())
            .header("content-type", "application/json")
            .body(body)
            .answer()
    };
    let problem = post("{}").await.expect(400);
    assert_eq!(problem["errors"][0]["field"], "identifiers");

    let problem = post(r#"{"identifiers": {"upn": "A999000000001"}}"#)
        .await
        .expect(400);
    // The gateway reads the search body field by field: the message on the field.
    assert_eq!(
        problem["errors"][0]["field"], "identifiers.upn",
        "{problem}"
    );
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("UPN check letter"),
        "{problem}"
    );

    post("not json").await.expect_any_problem(400);
    fed.shutdown().await;
}
