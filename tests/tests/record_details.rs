//! Typed record details over HTTP: every category goes through its node and comes back
//! as sent; a bad record names every invalid field (its own and its details') and leaves
//! what is stored as it was.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, TestFederation, spawn_federation};
use schemas::{AgencyKind, RecordCategory, RecordDetails};
use serde_json::{Value, json};

const NODES: [(&str, AgencyKind); 5] = [
    ("school-a", AgencyKind::School),
    ("social-care", AgencyKind::SocialCare),
    ("health", AgencyKind::Health),
    ("police", AgencyKind::Police),
    ("early-help", AgencyKind::EarlyHelp),
];

fn options(nodes: Vec<&'static str>) -> Options {
    Options {
        nodes,
        children: 5,
        ..Options::default()
    }
}

fn url(fed: &TestFederation, node: &str, path: &str) -> String {
    format!("{}{path}", fed.node_url(node))
}

async fn put_child(fed: &TestFederation, node: &str, local_id: &str) {
    let response = fed
        .integration_client(node)
        .put(url(fed, node, &format!("/v1/children/{local_id}")))
        .json(
            &json!({"demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
            "date_of_birth": "2016-05-14"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

fn record(source_system_id: &str, category: RecordCategory, details: Value) -> Value {
    json!({
        "source_system_id": source_system_id,
        "category": category,
        "effective_from": "2026-09-03",
        "impact": format!("{} on file", category.in_words()),
        "details": details,
    })
}

async fn get_record(fed: &TestFederation, node: &str, local_id: &str, id: &str) -> Value {
    let response = fed
        .integration_client(node)
        .get(url(
            fed,
            node,
            &format!("/v1/children/{local_id}/records/{id}"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_category_round_trips_through_the_node_that_holds_it() {
    let fed = spawn_federation(options(NODES.iter().map(|(n, _)| *n).collect()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for (node, kind) in NODES {
        put_child(&fed, node, "RD-1").await;
        let client = fed.integration_client(node);
        for category in RecordCategory::ALL.into_iter().filter(|c| c.held_by(kind)) {
            let id = format!("RD-{}", category.as_str());
            let details = RecordDetails::example(category);
            let response = client
                .put(url(&fed, node, &format!("/v1/children/RD-1/records/{id}")))
                .json(&record(&id, category, details.clone()))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                201,
                "{category:?}: {}",
                response.text().await.unwrap()
            );
            let written: Value = response.json().await.unwrap();
            assert_eq!(written["record"]["details"], details, "{category:?}");
            let read = get_record(&fed, node, "RD-1", &id).await;
            assert_eq!(read["details"], details, "{category:?}");
            assert_eq!(read["category"], json!(category));
            seen.push(category);
        }
    }
    assert_eq!(seen.len(), RecordCategory::ALL.len());

    // The node computes what the sender may leave out.
    let attendance = json!({"sessions_possible": 120, "sessions_present": 107,
        "authorised_absence": 8, "unauthorised_absence": 5});
    let response = fed
        .integration_client("school-a")
        .post(url(&fed, "school-a", "/v1/children/RD-1/records"))
        .json(&record(
            "RD-ATT-2",
            RecordCategory::Attendance,
            attendance.clone(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let read = get_record(&fed, "school-a", "RD-1", "RD-ATT-2").await;
    let mut expected = attendance;
    expected["attendance_rate"] = json!(89.2);
    expected["persistent_absence"] = json!(true);
    assert_eq!(read["details"], expected);
    fed.shutdown().await;
}

#[tokio::test]
async fn a_bad_batch_item_names_every_invalid_field_and_leaves_the_stored_record_untouched() {
    let fed = spawn_federation(options(vec!["school-a"])).await.unwrap();
    put_child(&fed, "school-a", "RD-2").await;
    let mis = fed.integration_client("school-a");
    let good = json!({"sessions_possible": 100, "sessions_present": 84,
        "authorised_absence": 6, "unauthorised_absence": 10});
    let response = mis
        .post(url(&fed, "school-a", "/v1/children/RD-2/records"))
        .json(&record("ATT-1", RecordCategory::Attendance, good))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let before = get_record(&fed, "school-a", "RD-2", "ATT-1").await;

    // An update of ATT-1 wrong in four fields, one of them outside the details.
    let mut bad = record(
        "ATT-1",
        RecordCategory::Attendance,
        json!({"sessions_possible": "a hundred", "sessions_present": 90,
               "authorised_absence": 6, "late_marks": 3}),
    );
    bad["effective_to"] = json!("2026-09-01");
    // A mistyped record field and a mistyped details field, reported together.
    let mut mistyped = record(
        "ATT-1",
        RecordCategory::Attendance,
        json!({"sessions_possible": 100, "sessions_present": "84",
               "authorised_absence": 6, "unauthorised_absence": 10}),
    );
    mistyped["effective_from"] = json!("3rd September");
    // Counts that do not add up.
    let over = record(
        "ATT-1",
        RecordCategory::Attendance,
        json!({"sessions_possible": 100, "sessions_present": 90,
               "authorised_absence": 6, "unauthorised_absence": 10}),
    );
    let fine = record(
        "ATT-2",
        RecordCategory::Attendance,
        json!({"sessions_possible": 50, "sessions_present": 50,
               "authorised_absence": 0, "unauthorised_absence": 0}),
    );
    let items: Vec<Value> = [bad, mistyped, over, fine]
        .into_iter()
        .map(|r| json!({"op": "upsert_record", "local_id": "RD-2", "record": r}))
        .collect();
    let response = mis
        .post(url(&fed, "school-a", "/v1/batch"))
        .json(&json!({"items": items}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(
        (body["failed"].as_u64(), body["succeeded"].as_u64()),
        (Some(3), Some(1))
    );
    for r in &results[..3] {
        assert_eq!(r["status"], 400, "{r}");
        assert!(
            r["problem"]["type"]
                .as_str()
                .unwrap()
                .ends_with("/invalid-request")
        );
    }
    assert_eq!(
        fields(&results[0]["problem"]),
        [
            "effective_to",
            "details.late_marks",
            "details.sessions_possible",
            "details.unauthorised_absence"
        ],
        "{:#}",
        results[0]
    );
    assert_eq!(
        fields(&results[1]["problem"]),
        ["effective_from", "details.sessions_present"],
        "{:#}",
        results[1]
    );
    assert_eq!(
        fields(&results[2]["problem"]),
        ["details.sessions_present"],
        "{:#}",
        results[2]
    );
    assert_eq!(results[3]["outcome"], "created");

    let after = get_record(&fed, "school-a", "RD-2", "ATT-1").await;
    assert_eq!(after, before, "the stored record changed");

    // The same bad record sent alone: the same fields, the same untouched record.
    let response = mis
        .put(url(&fed, "school-a", "/v1/children/RD-2/records/ATT-1"))
        .json(&items[0]["record"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(fields(&problem), fields(&results[0]["problem"]));
    assert_eq!(get_record(&fed, "school-a", "RD-2", "ATT-1").await, before);
    fed.shutdown().await;
}
