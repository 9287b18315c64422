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
        "details": {"sessions_possible": 100, "sessions_present": 84,
                    "authorised_absence": 6, "unauthorised_absence": 10}
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
    // The details are checked against the category's type too: every invalid field at once.
    assert_eq!(
        fields,
        [
            "category",
            "impact",
            "effective_to",
            "details.sessions_possible",
            "details.sessions_present",
            "details.authorised_absence",
            "details.unauthorised_absence",
            "details.incident_at",
            "details.child_present"
        ],
        "{problem:#}"
    );

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

#[tokio::test]
async fn if_match_guards_updates_against_lost_writes() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    assert_eq!(
        mis.put(url(&fed, "school-a", "/v1/children/T-E"))
            .json(&child())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let record_url = url(
        &fed,
        "school-a",
        "/v1/children/T-E/records/MIS-ATT-2026-AUT-T1",
    );
    let created = mis
        .put(&record_url)
        .json(&attendance("Attendance 84%"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["etag"], "\"1\"");

    let read = mis.get(&record_url).send().await.unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");
    let first = mis
        .put(&record_url)
        .header("if-match", &etag)
        .json(&attendance("Attendance 85%"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");
    // A second writer still holding version 1 loses, and changes nothing.
    let stale = mis
        .put(&record_url)
        .header("if-match", &etag)
        .json(&attendance("Attendance 99%"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(stale.headers()["content-type"], "application/problem+json");
    let now: Value = mis
        .get(&record_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["impact"].clone(), now["version"].clone()),
        (json!("Attendance 85%"), json!(2))
    );
    // If-Match on a record that does not exist is 412 too; a garbled one is 400.
    let missing = url(&fed, "school-a", "/v1/children/T-E/records/NOPE");
    let mut other = attendance("x");
    other["source_system_id"] = json!("NOPE");
    assert_eq!(
        mis.put(&missing)
            .header("if-match", "\"1\"")
            .json(&other)
            .send()
            .await
            .unwrap()
            .status(),
        412
    );
    assert_eq!(
        mis.put(&record_url)
            .header("if-match", "banana")
            .json(&attendance("y"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn retracting_a_record_needs_a_reason_and_shows_in_the_change_feed() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.integration_client("school-a");
    assert_eq!(
        mis.put(url(&fed, "school-a", "/v1/children/T-R"))
            .json(&child())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let records = url(&fed, "school-a", "/v1/children/T-R/records");
    assert_eq!(
        mis.post(&records)
            .json(&attendance("Attendance 84%"))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let record_url = format!("{records}/MIS-ATT-2026-AUT-T1");
    assert_eq!(
        mis.delete(&record_url).send().await.unwrap().status(),
        400,
        "a reason is required"
    );
    assert_eq!(
        mis.delete(format!("{record_url}?reason="))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let gone = mis
        .delete(format!(
            "{record_url}?reason=entered%20against%20the%20wrong%20pupil"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(mis.get(&record_url).send().await.unwrap().status(), 404);
    let listed: Vec<Value> = mis
        .get(&records)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert_eq!(
        mis.delete(format!("{record_url}?reason=again"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let feed: Value = mis
        .get(url(&fed, "school-a", "/v1/changes?since=0&limit=5000"))
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
        .filter(|c| c["local_id"] == "T-R")
        .collect();
    assert_eq!(ours.len(), 1, "one change per record, its latest state");
    assert_eq!(ours[0]["retracted"], "entered against the wrong pupil");
    fed.shutdown().await;
}

#[tokio::test]
async fn change_feed_pages_in_order_and_resumes_from_a_cursor() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 0,
        ..Options::default()
    })
    .await
    .unwrap();
    let mis = fed.integration_client("school-a");
    assert_eq!(
        mis.put(url(&fed, "school-a", "/v1/children/T-F"))
            .json(&child())
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let records = url(&fed, "school-a", "/v1/children/T-F/records");
    for i in 0..7 {
        let mut r = attendance(&format!("Attendance week {i}"));
        r["source_system_id"] = json!(format!("ATT-{i}"));
        assert_eq!(
            mis.post(&records).json(&r).send().await.unwrap().status(),
            201
        );
    }
    // Update an early one: it moves to the end of the feed.
    let mut r = attendance("Attendance week 1, corrected");
    r["source_system_id"] = json!("ATT-1");
    assert_eq!(
        mis.post(&records).json(&r).send().await.unwrap().status(),
        200
    );

    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let page: Value = mis
            .get(url(
                &fed,
                "school-a",
                &format!("/v1/changes?since={since}&limit=3"),
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for c in page["changes"].as_array().unwrap() {
            seen.push((
                c["change"].as_i64().unwrap(),
                c["record"]["source_system_id"].as_str().unwrap().to_owned(),
            ));
        }
        since = page["next"].as_i64().unwrap();
        if page["more"] == false {
            break;
        }
    }
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ATT-0", "ATT-2", "ATT-3", "ATT-4", "ATT-5", "ATT-6", "ATT-1"
        ]
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "change numbers increase"
    );
    let empty: Value = mis
        .get(url(&fed, "school-a", &format!("/v1/changes?since={since}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty["changes"].as_array().unwrap().is_empty());
    assert_eq!(empty["next"], since);
    assert_eq!(
        mis.get(url(&fed, "school-a", "/v1/changes?limit=0"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_ten_thousand_reports_each_item_and_never_half_writes() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 0,
        ..Options::default()
    })
    .await
    .unwrap();
    let mis = fed.integration_client("school-a");
    let mut items = Vec::new();
    for c in 0..500 {
        let mut ch = child();
        ch["identifiers"] = json!({});
        items.push(json!({"op": "upsert_child", "local_id": format!("B-{c}"), "child": ch}));
        for k in 0..20 {
            let mut r = attendance(&format!("Attendance period {k}"));
            r["source_system_id"] = json!(format!("B-{c}-ATT-{k}"));
            items.push(json!({"op": "upsert_record", "local_id": format!("B-{c}"), "record": r}));
        }
    }
    let valid = items.len();
    // Bad items, spread through the batch.
    let mut police = attendance("x");
    police["category"] = json!("encompass_notification");
    police["source_system_id"] = json!("BAD-CATEGORY");
    items.insert(
        5,
        json!({"op": "upsert_record", "local_id": "B-0", "record": police}),
    );
    items.insert(
        4000,
        json!({"op": "upsert_record", "local_id": "NOBODY", "record": attendance("x")}),
    );
    items.insert(7000, json!({"op": "upsert_child", "local_id": "B-BAD", "child": {"demographics": {"given_name": "A"}}}));
    items.insert(9000, json!({"op": "levitate", "local_id": "B-1"}));
    items.push(json!({"op": "retract_record", "local_id": "B-2", "source_system_id": "B-2-ATT-0", "reason": "duplicate"}));
    assert!(items.len() > 10_000);

    let response = mis
        .post(url(&fed, "school-a", "/v1/batch"))
        .timeout(std::time::Duration::from_secs(120))
        .json(&json!({"items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["failed"],
        4,
        "{}",
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "failed")
            .cloned()
            .collect::<Vec<_>>()
            .len()
    );
    assert_eq!(body["succeeded"].as_u64().unwrap() as usize, valid + 1);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), items.len());
    let failed: Vec<(u64, u64)> = results
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| (r["index"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(failed, [(5, 400), (4000, 404), (7000, 400), (9000, 400)]);
    assert_eq!(results[5]["problem"]["errors"][0]["field"], "category");
    assert_eq!(results.last().unwrap()["outcome"], "retracted");

    // Nothing of a failed item exists; every good one does.
    assert_eq!(
        mis.get(url(&fed, "school-a", "/v1/children/B-BAD"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        mis.get(url(
            &fed,
            "school-a",
            "/v1/children/B-0/records/BAD-CATEGORY"
        ))
        .send()
        .await
        .unwrap()
        .status(),
        404
    );
    let b0: Vec<Value> = mis
        .get(url(&fed, "school-a", "/v1/children/B-499/records"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b0.len(), 20);
    let b2: Vec<Value> = mis
        .get(url(&fed, "school-a", "/v1/children/B-2/records"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b2.len(), 19);
    let audit: Value = mis
        .get(url(&fed, "school-a", "/v1/audit/verify"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["intact"], true);
    assert_eq!(
        audit["entries"].as_u64().unwrap() as usize,
        1 + valid + 1,
        "one audit entry per written item (plus the seed import)"
    );
    fed.shutdown().await;
}
