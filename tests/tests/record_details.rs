//! Typed record details over HTTP: every category goes through its node and comes back
//! as sent; a bad record names every invalid field (its own and its details') and leaves
//! what is stored as it was.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::problem_fields;
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

fn options(nodes: &[&'static str]) -> Options {
    Options::nodes(nodes, 5)
}

async fn put_child(fed: &TestFederation, node: &str, local_id: &str) {
    fed.system(node)
        .put_child(
            local_id,
            &json!({"demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
            "date_of_birth": "2016-05-14"}}),
        )
        .await
        .expect(201);
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
    fed.system(node)
        .get(&format!("/v1/children/{local_id}/records/{id}"))
        .await
        .expect(200)
}

fn fields(problem: &Value) -> Vec<String> {
    problem_fields(problem)
}

#[tokio::test]
async fn every_category_round_trips_through_the_node_that_holds_it() {
    let fed = spawn_federation(options(&NODES.map(|(n, _)| n)))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for (node, kind) in NODES {
        put_child(&fed, node, "RD-1").await;
        let system = fed.system(node);
        for category in RecordCategory::ALL.into_iter().filter(|c| c.held_by(kind)) {
            let id = format!("RD-{}", category.as_str());
            let details = RecordDetails::example(category);
            let written = system
                .put(
                    &format!("/v1/children/RD-1/records/{id}"),
                    &record(&id, category, details.clone()),
                )
                .await
                .case(format!("{category:?}"))
                .expect(201);
            assert_eq!(written["record"]["details"], details, "{category:?}");
            let read = get_record(&fed, node, "RD-1", &id).await;
            assert_eq!(read["details"], details, "{category:?}");
            assert_eq!(read["category"], json!(category));
            seen.push(category);
        }
    }
    // Every category at least once (some, like child_characteristics, at two kinds).
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), RecordCategory::ALL.len());

    // The node computes what the sender may leave out.
    let attendance = json!({"sessions_possible": 120, "sessions_present": 107,
        "authorised_absence": 8, "unauthorised_absence": 5});
    fed.system("school-a")
        .post_record(
            "RD-1",
            &record("RD-ATT-2", RecordCategory::Attendance, attendance.clone()),
        )
        .await
        .expect(201);
    let read = get_record(&fed, "school-a", "RD-1", "RD-ATT-2").await;
    let mut expected = attendance;
    expected["attendance_rate"] = json!(89.2);
    expected["persistent_absence"] = json!(true);
    assert_eq!(read["details"], expected);
    fed.shutdown().await;
}

#[tokio::test]
async fn a_bad_batch_item_names_every_invalid_field_and_leaves_the_stored_record_untouched() {
    let fed = spawn_federation(options(&["school-a"])).await.unwrap();
    put_child(&fed, "school-a", "RD-2").await;
    let mis = fed.system("school-a");
    let good = json!({"sessions_possible": 100, "sessions_present": 84,
        "authorised_absence": 6, "unauthorised_absence": 10});
    mis.post_record("RD-2", &record("ATT-1", RecordCategory::Attendance, good))
        .await
        .expect(201);
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
    let body = mis
        .post("/v1/batch", &json!({"items": items}))
        .await
        .expect(200);
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
    let problem = mis
        .put("/v1/children/RD-2/records/ATT-1", &items[0]["record"])
        .await
        .expect_any_problem(400);
    assert_eq!(fields(&problem), fields(&results[0]["problem"]));
    assert_eq!(get_record(&fed, "school-a", "RD-2", "ATT-1").await, before);
    fed.shutdown().await;
}
