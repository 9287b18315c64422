//! The integration face: an agency's own system writing its records to its node.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, TestFederation, spawn_federation};
use serde_json::{Value, json};

fn small() -> Options {
    Options {
        nodes: vec!["school-a", "police"],
        children: 10,
        ..Options::default()
    }
}

fn url(fed: &TestFederation, node: &str, path: &str) -> String {
    format!("{}{path}", fed.node_url(node))
}

fn child() -> Value {
    json!({
        "demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
            "date_of_birth": "2016-05-14", "sex": "female", "postcode": "zz3 9xy"},
        "identifiers": {"upn": "U999123456789"}
    })
}

fn attendance(impact: &str) -> Value {
    json!({
        "source_system_id": "MIS-ATT-2026-AUT-T1",
        "category": "attendance",
        "effective_from": "2026-09-03",
        "effective_to": "2026-10-23",
        "impact": impact,
        "details": {"sessions_possible": 100, "sessions_present": 84}
    })
}

#[tokio::test]
async fn same_source_id_twice_is_one_record_updated() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    let created = mis
        .put(url(&fed, "school-a", "/v1/children/T-0001"))
        .json(&child())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let again = mis
        .put(url(&fed, "school-a", "/v1/children/T-0001"))
        .json(&child())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);

    let records = url(&fed, "school-a", "/v1/children/T-0001/records");
    let first = mis
        .post(&records)
        .json(&attendance("Attendance 84%: persistent absence"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["record"]["version"], 1);
    let second = mis
        .post(&records)
        .json(&attendance("Attendance 86%: persistent absence"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(
        (
            second["created"].clone(),
            second["record"]["version"].clone()
        ),
        (json!(false), json!(2))
    );

    let listed: Vec<Value> = mis
        .get(&records)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let matching: Vec<&Value> = listed
        .iter()
        .filter(|r| r["source_system_id"] == "MIS-ATT-2026-AUT-T1")
        .collect();
    assert_eq!(matching.len(), 1);
    assert_eq!(matching[0]["impact"], "Attendance 86%: persistent absence");
    fed.shutdown().await;
}

#[tokio::test]
async fn invalid_writes_are_problems_and_change_nothing() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    let child_url = url(&fed, "school-a", "/v1/children/T-0002");
    assert_eq!(
        mis.put(&child_url)
            .json(&child())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let records = format!("{child_url}/records");
    assert_eq!(
        mis.post(&records)
            .json(&attendance("Attendance 84%"))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );

    let mut bad_upn = child();
    bad_upn["identifiers"]["upn"] = json!("A999123456789");
    let response = mis.put(&child_url).json(&bad_upn).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("UPN check letter"),
        "{problem}"
    );

    let mut bad_names = child();
    bad_names["demographics"]["given_name"] = json!(" ");
    bad_names["demographics"]["postcode"] = json!("not a postcode at all");
    let response = mis.put(&child_url).json(&bad_names).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["demographics.given_name", "demographics.postcode"]);

    let mut bad_record = attendance("");
    bad_record["effective_to"] = json!("2026-01-01");
    bad_record["category"] = json!("encompass_notification");
    let response = mis.post(&records).json(&bad_record).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["category", "impact", "effective_to"]);

    let stored: Value = mis
        .get(&child_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["identifiers"]["upn"], "U999123456789");
    assert_eq!(stored["demographics"]["given_name"], "Tegan");
    let listed: Vec<Value> = mis
        .get(&records)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["impact"], "Attendance 84%");
    assert_eq!(listed[0]["category"], "attendance");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_police_node_does_not_store_attendance() {
    let fed = spawn_federation(small()).await.unwrap();
    let system = fed.integration_client("police");
    let child_url = url(&fed, "police", "/v1/children/P-1");
    assert_eq!(
        system
            .put(&child_url)
            .json(&child())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let response = system
        .post(format!("{child_url}/records"))
        .json(&attendance("Attendance 84%"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "category");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("police node does not hold attendance")
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn records_for_an_unknown_child_are_404_and_a_reused_source_id_is_409() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    let response = mis
        .post(url(&fed, "school-a", "/v1/children/NOBODY/records"))
        .json(&attendance("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    for id in ["T-A", "T-B"] {
        let mut c = child();
        c["identifiers"] = json!({});
        assert_eq!(
            mis.put(url(&fed, "school-a", &format!("/v1/children/{id}")))
                .json(&c)
                .send()
                .await
                .unwrap()
                .status(),
            201
        );
    }
    let a = mis
        .post(url(&fed, "school-a", "/v1/children/T-A/records"))
        .json(&attendance("A"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let b = mis
        .post(url(&fed, "school-a", "/v1/children/T-B/records"))
        .json(&attendance("B"))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 409);
    let listed: Vec<Value> = mis
        .get(url(&fed, "school-a", "/v1/children/T-A/records"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["impact"], "A");
    fed.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_oversized_bodies_are_problems() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    let response = mis
        .get(url(&fed, "school-a", "/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let mut big = attendance("x");
    big["details"] = json!({"blob": "x".repeat(2 * 1024 * 1024)});
    let response = mis
        .post(url(&fed, "school-a", "/v1/children/NPS-000001/records"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    fed.shutdown().await;
}
