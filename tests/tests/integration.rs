//! The integration face: an agency's own system writing its records to its node.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::{attendance, child, problem_fields, with};
use federation_tests::{Call, Options, spawn_federation};
use serde_json::{Value, json};

fn small() -> Options {
    Options::nodes(&["school-a", "police"], 10)
}

fn school_a_only() -> Options {
    Options::nodes(&["school-a"], 0)
}

#[tokio::test]
async fn same_source_id_twice_is_one_record_updated() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.system("school-a");
    mis.put_child("T-0001", &child()).await.expect(201);
    mis.put_child("T-0001", &child()).await.expect(200);

    let first = mis
        .post_record("T-0001", &attendance("Attendance 84%: persistent absence"))
        .await
        .expect(201);
    assert_eq!(first["record"]["version"], 1);
    let second = mis
        .post_record("T-0001", &attendance("Attendance 86%: persistent absence"))
        .await
        .expect(200);
    assert_eq!(
        (
            second["created"].clone(),
            second["record"]["version"].clone()
        ),
        (json!(false), json!(2))
    );

    let listed = mis.records("T-0001").await;
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
    let mis = fed.system("school-a");
    mis.put_child("T-0002", &child()).await.expect(201);
    mis.post_record("T-0002", &attendance("Attendance 84%"))
        .await
        .expect(201);

    let mut bad_upn = child();
    bad_upn["identifiers"]["upn"] = json!("A999123456789");
    let problem = mis
        .put_child("T-0002", &bad_upn)
        .await
        .expect_any_problem(400);
    assert_eq!(problem_fields(&problem), ["identifiers.upn"], "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("UPN check letter does not match"),
        "{problem}"
    );

    let mut bad_names = child();
    bad_names["demographics"]["given_name"] = json!(" ");
    bad_names["demographics"]["postcode"] = json!("not a postcode at all");
    let problem = mis.put_child("T-0002", &bad_names).await.expect(400);
    assert_eq!(
        problem_fields(&problem),
        ["demographics.given_name", "demographics.postcode"]
    );

    let bad_record = with(
        attendance(""),
        json!({"effective_to": "2026-01-01", "category": "encompass_notification"}),
    );
    let problem = mis.post_record("T-0002", &bad_record).await.expect(400);
    // The details are checked against the category's type too: every invalid field at once.
    assert_eq!(
        problem_fields(&problem),
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

    let stored = mis.get("/v1/children/T-0002").await.expect(200);
    assert_eq!(stored["identifiers"]["upn"], "U999123456789");
    assert_eq!(stored["demographics"]["given_name"], "Tegan");
    let listed = mis.records("T-0002").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["impact"], "Attendance 84%");
    assert_eq!(listed[0]["category"], "attendance");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_police_node_does_not_store_attendance() {
    let fed = spawn_federation(small()).await.unwrap();
    let system = fed.system("police");
    system.put_child("P-1", &child()).await.expect(201);
    let problem = system
        .post_record("P-1", &attendance("Attendance 84%"))
        .await
        .expect(400);
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
    let mis = fed.system("school-a");
    mis.post_record("NOBODY", &attendance("x"))
        .await
        .expect_any_problem(404);

    let no_identifiers = with(child(), json!({"identifiers": {}}));
    for id in ["T-A", "T-B"] {
        mis.put_child(id, &no_identifiers).await.expect(201);
    }
    mis.post_record("T-A", &attendance("A")).await.expect(201);
    mis.post_record("T-B", &attendance("B")).await.expect(409);
    assert_eq!(mis.records("T-A").await[0]["impact"], "A");
    fed.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_oversized_bodies_are_problems() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.system("school-a");
    mis.get("/v1/nothing-here").await.expect_any_problem(404);
    let big = with(
        attendance("x"),
        json!({"details": {"blob": "x".repeat(2 * 1024 * 1024)}}),
    );
    mis.post_record("NPS-000001", &big)
        .await
        .expect_any_problem(413);
    fed.shutdown().await;
}

#[tokio::test]
async fn if_match_guards_updates_against_lost_writes() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.system("school-a");
    mis.put_child("T-E", &child()).await.expect(201);
    let record_path = "/v1/children/T-E/records/MIS-ATT-2026-AUT-T1";
    let record_url = mis.url(record_path);
    let created = mis.put(record_path, &attendance("Attendance 84%")).await;
    created.expect(201);
    assert_eq!(created.header("etag"), "\"1\"");

    let etag = mis.get(record_path).await.header("etag").to_owned();
    assert_eq!(etag, "\"1\"");
    let put_if_match = |if_match: &str, record: Value| {
        mis.client
            .put(&record_url)
            .header("if-match", if_match)
            .json(&record)
            .answer()
    };
    let first = put_if_match(&etag, attendance("Attendance 85%")).await;
    first.expect(200);
    assert_eq!(first.header("etag"), "\"2\"");
    // A second writer still holding version 1 loses, and changes nothing.
    put_if_match(&etag, attendance("Attendance 99%"))
        .await
        .expect_any_problem(412);
    let now = mis.get(record_path).await.expect(200);
    assert_eq!(
        (now["impact"].clone(), now["version"].clone()),
        (json!("Attendance 85%"), json!(2))
    );
    // If-Match on a record that does not exist is 412 too; a garbled one is 400.
    mis.client
        .put(mis.url("/v1/children/T-E/records/NOPE"))
        .header("if-match", "\"1\"")
        .json(&with(attendance("x"), json!({"source_system_id": "NOPE"})))
        .answer()
        .await
        .expect(412);
    put_if_match("banana", attendance("y")).await.expect(400);
    fed.shutdown().await;
}

#[tokio::test]
async fn retracting_a_record_needs_a_reason_and_shows_in_the_change_feed() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.system("school-a");
    mis.put_child("T-R", &child()).await.expect(201);
    mis.post_record("T-R", &attendance("Attendance 84%"))
        .await
        .expect(201);
    let record = "/v1/children/T-R/records/MIS-ATT-2026-AUT-T1";
    assert_eq!(mis.delete(record).await.status, 400, "a reason is required");
    mis.delete(&format!("{record}?reason=")).await.expect(400);
    mis.delete(&format!(
        "{record}?reason=entered%20against%20the%20wrong%20pupil"
    ))
    .await
    .expect(204);
    mis.get(record).await.expect(404);
    assert!(mis.records("T-R").await.is_empty());
    mis.delete(&format!("{record}?reason=again"))
        .await
        .expect(404);

    let feed = mis.get("/v1/changes?since=0&limit=5000").await.expect(200);
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
    let fed = spawn_federation(school_a_only()).await.unwrap();
    let mis = fed.system("school-a");
    mis.put_child("T-F", &child()).await.expect(201);
    let week = |i: usize, impact: &str| {
        with(
            attendance(impact),
            json!({"source_system_id": format!("ATT-{i}")}),
        )
    };
    for i in 0..7 {
        mis.post_record("T-F", &week(i, &format!("Attendance week {i}")))
            .await
            .expect(201);
    }
    // Update an early one: it moves to the end of the feed.
    mis.post_record("T-F", &week(1, "Attendance week 1, corrected"))
        .await
        .expect(200);

    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let page = mis
            .get(&format!("/v1/changes?since={since}&limit=3"))
            .await
            .expect(200);
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
    let empty = mis
        .get(&format!("/v1/changes?since={since}"))
        .await
        .expect(200);
    assert!(empty["changes"].as_array().unwrap().is_empty());
    assert_eq!(empty["next"], since);
    mis.get("/v1/changes?limit=0").await.expect(400);
    fed.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_ten_thousand_reports_each_item_and_never_half_writes() {
    let fed = spawn_federation(school_a_only()).await.unwrap();
    let mis = fed.system("school-a");
    let mut items = Vec::new();
    let no_identifiers = with(child(), json!({"identifiers": {}}));
    for c in 0..500 {
        items.push(
            json!({"op": "upsert_child", "local_id": format!("B-{c}"), "child": no_identifiers}),
        );
        for k in 0..20 {
            let r = with(
                attendance(&format!("Attendance period {k}")),
                json!({"source_system_id": format!("B-{c}-ATT-{k}")}),
            );
            items.push(json!({"op": "upsert_record", "local_id": format!("B-{c}"), "record": r}));
        }
    }
    let valid = items.len();
    // Bad items, spread through the batch.
    let police = with(
        attendance("x"),
        json!({"category": "encompass_notification", "source_system_id": "BAD-CATEGORY"}),
    );
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

    let body = mis
        .client
        .post(mis.url("/v1/batch"))
        .timeout(std::time::Duration::from_secs(120))
        .json(&json!({"items": items}))
        .answer()
        .await
        .expect(200);
    let results = body["results"].as_array().unwrap();
    let failed: Vec<(u64, u64)> = results
        .iter()
        .filter(|r| r["outcome"] == "failed")
        .map(|r| (r["index"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(body["failed"], 4, "{failed:?}");
    assert_eq!(body["succeeded"].as_u64().unwrap() as usize, valid + 1);
    assert_eq!(results.len(), items.len());
    assert_eq!(failed, [(5, 400), (4000, 404), (7000, 400), (9000, 400)]);
    assert_eq!(results[5]["problem"]["errors"][0]["field"], "category");
    assert_eq!(results.last().unwrap()["outcome"], "retracted");

    // Nothing of a failed item exists; every good one does.
    mis.get("/v1/children/B-BAD").await.expect(404);
    mis.get("/v1/children/B-0/records/BAD-CATEGORY")
        .await
        .expect(404);
    assert_eq!(mis.records("B-499").await.len(), 20);
    assert_eq!(mis.records("B-2").await.len(), 19);
    let audit = mis.verify_audit().await;
    assert_eq!(audit["intact"], true);
    assert_eq!(
        audit["entries"].as_u64().unwrap() as usize,
        1 + valid + 1,
        "one audit entry per written item (plus the seed import)"
    );
    fed.shutdown().await;
}
