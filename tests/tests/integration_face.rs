//! The integration face as a school MIS or a police case system uses it: every bad
//! field named at every level in one problem, unknown and repeated fields refused,
//! values held to their documented bounds, and nothing stored changed by a refusal.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::{System, attendance, child, problem_fields, with};
use federation_tests::{Call, Options, spawn_federation};
use serde_json::{Value, json};

fn school() -> Options {
    Options::nodes(&["school-a"], 0)
}

/// Sends `body` as it is (not re-serialised: a repeated key survives).
async fn put_raw(mis: &System, path: &str, body: &str) -> federation_tests::scenario::Answer {
    mis.client
        .put(mis.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .answer()
        .await
}

/// No message is a deserializer's: no "line 1 column 158", no "Json deserialize error".
#[track_caller]
fn messages_are_for_people(problem: &Value) {
    for error in problem["errors"].as_array().unwrap() {
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.contains(" at line ") && !message.contains("deserialize"),
            "{error}"
        );
    }
}

/// A child's three mistakes are named together, each by its path, in words.
#[tokio::test]
async fn every_bad_field_of_a_child_is_named_at_once() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let bad = json!({
        "demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
            "date_of_birth": "2016-02-30"},
        "identifiers": {"upn": "A999123456789", "nhs_number": "9434765918"}
    });
    let problem = mis
        .put_child("IF-1", &bad)
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(
        problem_fields(&problem),
        [
            "demographics.date_of_birth",
            "identifiers.upn",
            "identifiers.nhs_number"
        ],
        "{problem:#}"
    );
    messages_are_for_people(&problem);
    assert!(
        problem.to_string().contains("UPN check letter"),
        "{problem}"
    );
    assert!(problem.to_string().contains("YYYY-MM-DD"), "{problem}");
    mis.get("/v1/children/IF-1").await.expect(404);
    fed.shutdown().await;
}

/// An unknown field is refused with its path at every level, and nothing changes.
#[tokio::test]
async fn unknown_fields_are_refused_with_their_path_at_every_level() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    mis.store_child("IF-2", &child()).await;
    mis.store_record("IF-2", &attendance("Attendance 84%"))
        .await;
    let child_before = mis.get("/v1/children/IF-2").await.expect(200);
    let records_before = mis.records("IF-2").await;

    let mut at_top = child();
    at_top["ethnicity"] = json!("WBRI");
    let mut in_demographics = child();
    in_demographics["demographics"]["middle_name"] = json!("Rose");
    let mut in_identifiers = child();
    in_identifiers["identifiers"]["uln"] = json!("1234567890");
    for (body, field) in [
        (at_top, "ethnicity"),
        (in_demographics, "demographics.middle_name"),
        (in_identifiers, "identifiers.uln"),
    ] {
        let problem = mis.put_child("IF-2", &body).await.expect_any_problem(400);
        assert_eq!(problem_fields(&problem), [field], "{problem:#}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("unknown field"),
            "{problem}"
        );
    }
    let with_note = with(attendance("Attendance 50%"), json!({"teacher_note": "x"}));
    let problem = mis
        .post_record("IF-2", &with_note)
        .await
        .expect_any_problem(400);
    assert_eq!(problem_fields(&problem), ["teacher_note"], "{problem:#}");

    assert_eq!(mis.get("/v1/children/IF-2").await.expect(200), child_before);
    assert_eq!(mis.records("IF-2").await, records_before);
    assert_eq!(mis.verify_audit().await["intact"], true);
    fed.shutdown().await;
}

/// A key sent twice is refused (it would otherwise silently keep the last value).
#[tokio::test]
async fn repeated_json_keys_are_refused() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let twice = r#"{"demographics": {"given_name": "Tegan", "given_name": "Mallory",
        "family_name": "Marsh-Idowu", "date_of_birth": "2016-05-14"}}"#;
    let problem = put_raw(&mis, "/v1/children/IF-3", twice)
        .await
        .expect_any_problem(400);
    assert_eq!(
        problem_fields(&problem),
        ["demographics.given_name"],
        "{problem:#}"
    );
    mis.get("/v1/children/IF-3").await.expect(404);

    mis.store_child("IF-3", &child()).await;
    let record = r#"{"source_system_id": "R-1", "category": "behaviour", "impact": "a",
        "impact": "b", "effective_from": "2026-09-03", "details": {"incident_type": "x"}}"#;
    let problem = put_raw(&mis, "/v1/children/IF-3/records/R-1", record)
        .await
        .expect_any_problem(400);
    assert_eq!(problem_fields(&problem), ["impact"], "{problem:#}");
    assert!(mis.records("IF-3").await.is_empty());
    fed.shutdown().await;
}

/// Local ids are printable, without control characters or path separators, at most 100
/// characters; names hold no control characters. Each refusal names its field.
#[tokio::test]
async fn odd_local_ids_and_control_characters_are_refused() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    for encoded in ["%20", "..%2F..%2Fetc%2Fpasswd", "A%00B", "A%0AB", "A%5CB"] {
        let problem = mis
            .put_child(encoded, &child())
            .await
            .case(encoded)
            .expect_any_problem(400);
        assert_eq!(
            problem_fields(&problem),
            ["local_id"],
            "{encoded}: {problem}"
        );
    }
    // 60 kB: the longest URI an HTTP client library builds is 64 kB.
    let long = "A".repeat(60_000);
    let problem = mis.put_child(&long, &child()).await.expect_any_problem(400);
    assert_eq!(problem_fields(&problem), ["local_id"], "{problem}");
    mis.store_child(&"A".repeat(100), &child()).await;

    for (field, value) in [
        ("given_name", "Te\u{0}gan"),
        ("family_name", "Marsh\nIdowu"),
        ("given_name", "Tegan\u{200B}"),
    ] {
        let mut bad = child();
        bad["demographics"][field] = json!(value);
        let problem = mis
            .put_child("IF-4", &bad)
            .await
            .case(field)
            .expect_any_problem(400);
        assert_eq!(
            problem_fields(&problem),
            [format!("demographics.{field}")],
            "{problem}"
        );
    }
    mis.get("/v1/children/IF-4").await.expect(404);
    fed.shutdown().await;
}

/// Dates of birth lie between 1990-01-01 and today, or up to 10 months ahead (an
/// expected date of birth); record dates lie between 1990-01-01 and the end of the
/// year 25 years ahead.
#[tokio::test]
async fn dates_out_of_their_documented_range_are_refused() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let today = chrono::Utc::now().date_naive();
    let ahead = |months: u32| {
        today
            .checked_add_months(chrono::Months::new(months))
            .unwrap()
            .to_string()
    };
    for date in [
        "0000-01-01".to_owned(),
        "-0001-01-01".to_owned(),
        "9999-12-31".to_owned(),
        "+262142-12-31".to_owned(),
        "1989-12-31".to_owned(),
        ahead(11),
    ] {
        let mut bad = child();
        bad["demographics"]["date_of_birth"] = json!(date);
        let problem = mis
            .put_child("IF-5", &bad)
            .await
            .case(&date)
            .expect_any_problem(400);
        assert_eq!(
            problem_fields(&problem),
            ["demographics.date_of_birth"],
            "{problem}"
        );
        messages_are_for_people(&problem);
    }
    mis.get("/v1/children/IF-5").await.expect(404);
    // An unborn child, expected in nine months, is a child.
    let mut expected = child();
    expected["demographics"]["date_of_birth"] = json!(ahead(9));
    mis.put_child("IF-5", &expected).await.expect(201);

    for (field, date) in [
        ("effective_from", "9999-12-31"),
        ("effective_from", "0000-01-01"),
        ("effective_to", "+262142-12-31"),
        ("recorded_at", "2999-01-01T00:00:00Z"),
    ] {
        let bad = with(attendance("Attendance 84%"), json!({ field: date }));
        let problem = mis
            .post_record("IF-5", &bad)
            .await
            .case(field)
            .expect_any_problem(400);
        assert_eq!(problem_fields(&problem), [field], "{date}: {problem}");
        messages_are_for_people(&problem);
    }
    assert!(mis.records("IF-5").await.is_empty());
    fed.shutdown().await;
}

/// A batch mixing good and bad items: each bad item is named as the single request
/// would be, the good ones are stored, and a bad one leaves nothing behind.
#[tokio::test]
async fn a_batch_mixing_good_and_bad_items_names_each_bad_field() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let mut middle_name = child();
    middle_name["demographics"]["middle_name"] = json!("Rose");
    let mut three_wrong = child();
    three_wrong["demographics"]["date_of_birth"] = json!("9999-12-31");
    three_wrong["identifiers"] = json!({"upn": "A999123456789", "nhs_number": "1"});
    let items = json!([
        {"op": "upsert_child", "local_id": "IF-B1", "child": child()},
        {"op": "upsert_child", "local_id": "IF-B2", "child": middle_name},
        {"op": "upsert_child", "local_id": "../IF", "child": child(), "note": 1},
        {"op": "upsert_child", "local_id": "IF-B3", "child": three_wrong},
        {"op": "upsert_record", "local_id": "IF-B1", "record": attendance("Attendance 84%")},
        {"op": "upsert_record", "local_id": "IF-B1",
         "record": with(attendance("x"), json!({"source_system_id": "R-2", "teacher_note": "y"}))},
        {"op": "levitate", "local_id": "IF-B1"},
    ]);
    // Item 7 repeats a key: sent as text so that it survives.
    let body = format!(
        r#"{{"items": {}}}"#,
        items.to_string().trim_end_matches(']').to_owned()
            + r#", {"op": "retract_record", "local_id": "IF-B1", "source_system_id": "MIS-ATT-2026-AUT-T1", "reason": "a", "reason": "b"}]"#
    );
    let answer = mis
        .client
        .post(mis.url("/v1/batch"))
        .header("content-type", "application/json")
        .body(body)
        .answer()
        .await
        .expect(200);
    let results = answer["results"].as_array().unwrap();
    let fields = |i: usize| problem_fields(&results[i]["problem"]);
    let outcomes: Vec<&str> = results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "created", "failed", "failed", "failed", "created", "failed", "failed", "failed"
        ],
        "{answer:#}"
    );
    assert_eq!(fields(1), ["demographics.middle_name"]);
    assert_eq!(fields(2), ["note", "local_id"]);
    assert_eq!(
        fields(3),
        [
            "demographics.date_of_birth",
            "identifiers.upn",
            "identifiers.nhs_number"
        ]
    );
    assert_eq!(fields(5), ["teacher_note"]);
    assert_eq!(fields(6), ["op"]);
    assert_eq!(fields(7), ["reason"]);
    for r in results.iter().filter(|r| r["outcome"] == "failed") {
        assert_eq!(r["status"], 400, "{r}");
        messages_are_for_people(&r["problem"]);
    }
    assert_eq!(
        (answer["succeeded"].clone(), answer["failed"].clone()),
        (json!(2), json!(6))
    );
    mis.get("/v1/children/IF-B2").await.expect(404);
    mis.get("/v1/children/IF-B3").await.expect(404);
    assert_eq!(mis.records("IF-B1").await.len(), 1);
    fed.shutdown().await;
}

/// An identifier names one child at a node: a second local id with it is refused with
/// 409 naming the holder, and nothing of the second child is stored.
#[tokio::test]
async fn an_identifier_already_held_by_another_local_id_is_409() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let first = with(
        child(),
        json!({"identifiers": {"upn": "U999123456789", "nhs_number": "9434765919"}}),
    );
    mis.put_child("IF-U1", &first).await.expect(201);
    // The same child again, under its own local id: an update.
    mis.put_child("IF-U1", &first).await.expect(200);

    for (identifiers, fields) in [
        (json!({"upn": "U999123456789"}), vec!["identifiers.upn"]),
        (
            json!({"nhs_number": "943 476 5919"}),
            vec!["identifiers.nhs_number"],
        ),
        (
            json!({"upn": "u999 1234 56789", "nhs_number": "9434765919"}),
            vec!["identifiers.upn", "identifiers.nhs_number"],
        ),
    ] {
        let second = with(child(), json!({ "identifiers": identifiers }));
        let problem = mis
            .put_child("IF-U2", &second)
            .await
            .expect_problem(409, "identifier-held");
        assert_eq!(problem_fields(&problem), fields, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("IF-U1"),
            "{problem}"
        );
    }
    mis.get("/v1/children/IF-U2").await.expect(404);

    // In a batch: the same answer, item by item.
    let answer = mis
        .post(
            "/v1/batch",
            &json!({"items": [
                {"op": "upsert_child", "local_id": "IF-U3", "child": child()},
                {"op": "upsert_child", "local_id": "IF-U4",
                 "child": with(child(), json!({"identifiers": {}}))},
            ]}),
        )
        .await
        .expect(200);
    assert_eq!(answer["results"][0]["status"], 409, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "failed");
    assert_eq!(answer["results"][1]["outcome"], "created");
    mis.get("/v1/children/IF-U3").await.expect(404);
    fed.shutdown().await;
}

/// `GET /v1/children/{id}/records` narrows by category and period; a bad value or an
/// unknown parameter is named.
#[tokio::test]
async fn a_childs_records_are_filtered_by_category_and_period() {
    use schemas::{RecordCategory, RecordDetails};
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    mis.store_child("IF-F", &child()).await;
    // Attendance for the autumn half-term (2026-09-03 to 2026-10-23).
    mis.store_record("IF-F", &attendance("Attendance 84%"))
        .await;
    let record = |id: &str, category: RecordCategory, from: &str| {
        json!({"source_system_id": id, "category": category.as_str(), "effective_from": from,
               "impact": "An impact", "details": RecordDetails::example(category)})
    };
    // A behaviour incident on its day; an enrolment still open.
    mis.store_record(
        "IF-F",
        &record("BEH-1", RecordCategory::Behaviour, "2026-11-10"),
    )
    .await;
    mis.store_record(
        "IF-F",
        &record("ENR-1", RecordCategory::Enrolment, "2025-09-01"),
    )
    .await;
    let ids = |query: &'static str| {
        let mis = &mis;
        async move {
            let mut ids: Vec<String> = mis
                .get(&format!("/v1/children/IF-F/records{query}"))
                .await
                .case(query)
                .expect(200)
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["source_system_id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids("").await, ["BEH-1", "ENR-1", "MIS-ATT-2026-AUT-T1"]);
    assert_eq!(ids("?category=attendance").await, ["MIS-ATT-2026-AUT-T1"]);
    assert_eq!(
        ids("?category=behaviour&category=attendance").await,
        ["BEH-1", "MIS-ATT-2026-AUT-T1"]
    );
    assert_eq!(
        ids("?category=behaviour,enrolment").await,
        ["BEH-1", "ENR-1"]
    );
    assert_eq!(ids("?from=2026-11-01").await, ["BEH-1", "ENR-1"]);
    assert_eq!(ids("?to=2026-08-31").await, ["ENR-1"]);
    assert_eq!(
        ids("?from=2026-10-01&to=2026-10-31&category=attendance,behaviour").await,
        ["MIS-ATT-2026-AUT-T1"]
    );
    for (query, fields) in [
        ("?category=levitation", vec!["category"]),
        ("?from=2026-13-01", vec!["from"]),
        ("?from=2026-11-01&to=2026-10-01", vec!["to"]),
        ("?limit=5&category=x", vec!["limit", "category"]),
    ] {
        let problem = mis
            .get(&format!("/v1/children/IF-F/records{query}"))
            .await
            .case(query)
            .expect_problem(400, "invalid-request");
        assert_eq!(problem_fields(&problem), fields, "{query}: {problem}");
    }
    fed.shutdown().await;
}

/// A load raises no notification events unless asked; each item is audited either way.
#[tokio::test]
async fn a_batch_raises_events_only_with_notify() {
    let fed = spawn_federation(Options::nodes(&["police"], 0))
        .await
        .unwrap();
    let police = fed.system("police");
    let today = chrono::Utc::now();
    let incident = |id: &str| {
        json!({
            "source_system_id": id,
            "category": "encompass_notification",
            "effective_from": today.date_naive(),
            "impact": "Police attended an incident at home last night; the child was present.",
            "details": {
                "police_reference": "ZZ/00042/26",
                "incident_at": (today - chrono::Duration::hours(2)).to_rfc3339(),
                "location": "the family home",
                "child_present": true,
                "circumstances": "Officers attended",
            }
        })
    };
    let batch = |local_id: &str, source_id: &str| {
        json!({"items": [
            {"op": "upsert_child", "local_id": local_id,
             "child": with(child(), json!({"identifiers": {}}))},
            {"op": "upsert_record", "local_id": local_id, "record": incident(source_id)},
        ]})
    };
    let raised = |answer: &Value| -> Vec<String> {
        answer["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["local_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let loaded = police
        .post("/v1/batch", &batch("IF-N1", "INC-1"))
        .await
        .expect(200);
    assert_eq!(loaded["succeeded"], 2, "{loaded}");
    let outbox = police.get("/v1/notifications/outbox").await.expect(200);
    assert!(raised(&outbox).is_empty(), "{outbox}");

    let asked = police
        .post("/v1/batch?notify=true", &batch("IF-N2", "INC-2"))
        .await
        .expect(200);
    assert_eq!(asked["succeeded"], 2, "{asked}");
    let outbox = police.get("/v1/notifications/outbox").await.expect(200);
    assert_eq!(raised(&outbox), ["IF-N2"], "{outbox}");
    police
        .post("/v1/batch?notify=maybe", &batch("IF-N3", "INC-3"))
        .await
        .expect_any_problem(400);
    assert_eq!(police.verify_audit().await["intact"], true);
    fed.shutdown().await;
}

/// Partial records are children: stored with an identifier alone, a family name with
/// one more fact, or a given name with a date of birth; refused when nothing could find
/// them again. A child held with identifiers only is found by identifier; one held
/// without a date of birth is found by demographics, the missing date no evidence
/// against it.
#[tokio::test]
async fn partial_children_are_stored_and_found() {
    use schemas::PractitionerRole;
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let mis = fed.system("school-a");
    // A census child: no names, no date of birth, an NHS number.
    let stored = mis
        .put_child(
            "IF-P1",
            &json!({"identifiers": {"nhs_number": "9434765919"}}),
        )
        .await
        .expect(201);
    assert_eq!(stored["demographics"], json!({}), "{stored}");
    for (id, demographics) in [
        // A police record: names and a postcode, no date of birth.
        (
            "IF-P2",
            json!({"given_name": "Rowan", "family_name": "Quenby-Astley",
                         "postcode": "ZZ9 4QT", "sex": "male"}),
        ),
        (
            "IF-P3",
            json!({"family_name": "Okonjo", "date_of_birth": "2015-06-21"}),
        ),
        (
            "IF-P4",
            json!({"given_name": "Ines", "date_of_birth": "2013-01-30"}),
        ),
    ] {
        let answer = mis
            .put_child(id, &json!({"demographics": demographics}))
            .await
            .case(id)
            .expect(201);
        assert_eq!(answer["demographics"], demographics, "{answer}");
    }
    for demographics in [
        json!({}),
        json!({"family_name": "Okonjo"}),
        json!({"given_name": "Ines", "postcode": "ZZ9 4QT", "sex": "female"}),
    ] {
        let problem = mis
            .put_child("IF-P5", &json!({"demographics": demographics}))
            .await
            .case(&demographics)
            .expect_problem(400, "invalid-request");
        assert_eq!(problem_fields(&problem), ["demographics"], "{problem}");
    }
    // Invalid is refused, absent is not: a bad date is still named.
    let problem = mis
        .put_child(
            "IF-P5",
            &json!({"demographics": {"family_name": "Okonjo", "date_of_birth": "2015-02-30"}}),
        )
        .await
        .expect_any_problem(400);
    assert_eq!(problem_fields(&problem), ["demographics.date_of_birth"]);
    mis.get("/v1/children/IF-P5").await.expect(404);

    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let ctx = federation_tests::scenario::SAFEGUARDING;
    let by_nhs = fed
        .node_match(
            "school-a",
            &token,
            ctx,
            &json!({"identifiers": {"nhs_number": "943 476 5919"}}),
        )
        .await
        .expect(200);
    assert_eq!(by_nhs["outcome"], "held", "{by_nhs}");
    assert_eq!(by_nhs["grade"], "certain", "{by_nhs}");
    // The same NHS number with demographics: nothing held contradicts them.
    let with_demographics = fed
        .node_match(
            "school-a",
            &token,
            ctx,
            &json!({"identifiers": {"nhs_number": "9434765919"},
                    "demographics": {"given_name": "Mia", "family_name": "Bright",
                                     "date_of_birth": "2016-04-02"}}),
        )
        .await
        .expect(200);
    assert_eq!(with_demographics["outcome"], "held", "{with_demographics}");

    // The child held without a date of birth, found by who they are.
    let asked = json!({"identifiers": {}, "demographics": {
        "given_name": "Rowan", "family_name": "Quenby-Astley", "date_of_birth": "2014-11-05",
        "postcode": "ZZ9 4QT", "sex": "male"}});
    let found = fed
        .node_match("school-a", &token, ctx, &asked)
        .await
        .expect(200);
    assert_eq!(
        (found["outcome"].clone(), found["grade"].clone()),
        (json!("held"), json!("probable")),
        "{found}"
    );
    assert_eq!(
        found["matched_on"],
        json!(["given_name", "family_name", "postcode", "sex"]),
        "{found}"
    );
    // Demographics that only the identifiers-only child could be: nothing to find.
    let nobody = fed
        .node_match(
            "school-a",
            &token,
            ctx,
            &json!({"identifiers": {}, "demographics": {"given_name": "Mia",
                    "family_name": "Bright", "date_of_birth": "2016-04-02"}}),
        )
        .await
        .expect(200);
    assert_eq!(nobody["outcome"], "not_held", "{nobody}");
    fed.shutdown().await;
}

/// Preferred and former names and former UPNs: stored and returned as sent (one by one
/// and in a batch), each bad entry named by its index with nothing stored, and a
/// replacement that leaves them out clears them.
#[tokio::test]
async fn preferred_and_former_names_and_former_upns_are_kept_and_each_bad_entry_named() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let mut full = child();
    full["demographics"]["preferred_given_name"] = json!("Millie");
    full["demographics"]["preferred_family_name"] = json!("Okafor-Reid");
    full["demographics"]["former_family_names"] = json!(["Reid", "Stone"]);
    full["identifiers"] = json!({"upn": "U999123456789", "former_upns": ["R999123456780"]});
    let stored = mis.put_child("IF-F1", &full).await.expect(201);
    assert_eq!(stored["demographics"], full["demographics"], "{stored}");
    assert_eq!(stored["identifiers"], full["identifiers"], "{stored}");
    let read = mis.get("/v1/children/IF-F1").await.expect(200);
    assert_eq!(read["demographics"], full["demographics"]);
    assert_eq!(read["identifiers"], full["identifiers"]);

    // Bad entries, each named; nothing of the child changes.
    let mut bad = full.clone();
    bad["demographics"]["former_family_names"] = json!(["Reid", "St\u{0}one"]);
    bad["demographics"]["preferred_given_name"] = json!(" ");
    bad["identifiers"]["former_upns"] = json!(["R999123456780", "A999123456780"]);
    let problem = mis
        .put_child("IF-F1", &bad)
        .await
        .expect_problem(400, "invalid-request");
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "demographics.former_family_names[1]",
            "demographics.preferred_given_name",
            "identifiers.former_upns[1]",
        ],
        "{problem:#}"
    );
    messages_are_for_people(&problem);
    let mut current_again = full.clone();
    current_again["identifiers"]["former_upns"] = json!(["U999123456789"]);
    let problem = mis
        .put_child("IF-F1", &current_again)
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(problem_fields(&problem), ["identifiers.former_upns[0]"]);
    assert_eq!(
        mis.get("/v1/children/IF-F1").await.expect(200)["identifiers"],
        full["identifiers"]
    );

    // In a batch, the same.
    let answer = mis
        .post(
            "/v1/batch",
            &json!({"items": [
                {"op": "upsert_child", "local_id": "IF-F2",
                 "child": {"demographics": full["demographics"],
                           "identifiers": {"former_upns": ["F999123456781"]}}},
                {"op": "upsert_child", "local_id": "IF-F3", "child": bad},
            ]}),
        )
        .await
        .expect(200);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["outcome"], "created", "{answer:#}");
    assert_eq!(results[1]["outcome"], "failed", "{answer:#}");
    assert!(
        problem_fields(&results[1]["problem"]).contains(&"identifiers.former_upns[1]".to_owned()),
        "{answer:#}"
    );
    let read = mis.get("/v1/children/IF-F2").await.expect(200);
    assert_eq!(read["identifiers"]["former_upns"], json!(["F999123456781"]));
    assert_eq!(read["demographics"], full["demographics"]);
    mis.get("/v1/children/IF-F3").await.expect(404);

    // A replacement without them clears them.
    let plain = child();
    let replaced = mis.put_child("IF-F1", &plain).await.expect(200);
    assert_eq!(
        replaced["demographics"], plain["demographics"],
        "{replaced}"
    );
    assert!(replaced["identifiers"].get("former_upns").is_none());
    fed.shutdown().await;
}

/// A batch of several chunks (5,000 items each, one transaction each) gives each item
/// what it would have alone: a chunk sees the children, identifiers and records of the
/// chunks before it, whether it was planned in its own transaction or, on PostgreSQL,
/// while the chunk before it was written (then also after a chunk whose last items went
/// one by one); the audit chain holds one entry per write.
#[tokio::test]
async fn a_batch_of_several_chunks_sees_the_chunks_before_each() {
    let fed = spawn_federation(school()).await.unwrap();
    let mis = fed.system("school-a");
    let upn = |n: usize| {
        schemas::Upn::with_check_letter(&format!("996{n:09}"))
            .unwrap()
            .as_str()
            .to_owned()
    };
    let kid = |n: usize, family: &str| {
        json!({"demographics": {"given_name": "Tegan", "family_name": format!("{family}-{n}"),
                                "date_of_birth": "2016-05-14"},
               "identifiers": {"upn": upn(n)}})
    };
    let upsert = |local: String, child: Value| json!({"op": "upsert_child", "local_id": local, "child": child});
    let record = |local: String, source: String, impact: &str| {
        json!({"op": "upsert_record", "local_id": local,
               "record": with(attendance(impact), json!({"source_system_id": source}))})
    };
    let mut items = Vec::new();
    let mut expected = Vec::new();
    // Chunk 1: 5,000 new children.
    for n in 0..5_000 {
        items.push(upsert(format!("MC-{n}"), kid(n, "Marsh")));
        expected.push("created");
    }
    // Chunk 2: a record for a child of chunk 1; a new local id with a UPN chunk 1 wrote
    // (409); new children with a record each.
    items.push(record("MC-0".into(), "MC-R-0".into(), "Attendance 96%"));
    items.push(upsert("MC-X".into(), kid(1, "Idowu")));
    expected.extend(["created", "failed"]);
    for n in 5_000..7_499 {
        items.push(upsert(format!("MC-{n}"), kid(n, "Marsh")));
        items.push(record(
            format!("MC-{n}"),
            format!("MC-R-{n}"),
            "Attendance 96%",
        ));
        expected.extend(["created", "created"]);
    }
    // Chunk 3: records for children of chunk 1, then a record chunk 2 wrote and a child
    // chunk 2 wrote, both changed (updates: these two go one by one).
    for n in 1..4_999 {
        items.push(record(
            format!("MC-{n}"),
            format!("MC-R-{n}"),
            "Attendance 96%",
        ));
        expected.push("created");
    }
    items.push(record(
        "MC-5000".into(),
        "MC-R-5000".into(),
        "Attendance 71%",
    ));
    items.push(upsert("MC-5001".into(), kid(5_001, "Okafor")));
    expected.extend(["updated", "updated"]);
    // Chunk 4, after a chunk that ended one by one: a record for a child of chunk 2, a new
    // local id with a UPN chunk 2 wrote (409).
    items.push(record(
        "MC-7000".into(),
        "MC-R-7000-B".into(),
        "Attendance 96%",
    ));
    items.push(upsert("MC-Y".into(), kid(7_001, "Idowu")));
    expected.extend(["created", "failed"]);
    assert_eq!(items.len(), 15_002);
    let before = mis.get("/v1/audit/verify").await.expect(200);
    // Three chunks and a bit take longer than the test client's default timeout on a
    // debug build.
    let answer = mis
        .client
        .post(mis.url("/v1/batch"))
        .timeout(std::time::Duration::from_secs(600))
        .json(&json!({ "items": items }))
        .answer()
        .await
        .expect(200);
    let outcomes: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    let differing: Vec<(usize, &str, &str)> = outcomes
        .iter()
        .zip(&expected)
        .enumerate()
        .filter(|(_, (got, want))| got != want)
        .map(|(i, (got, want))| (i, *got, *want))
        .take(5)
        .collect();
    assert!(
        differing.is_empty() && outcomes.len() == expected.len(),
        "{differing:?}"
    );
    for i in [5_001, 15_001] {
        assert_eq!(
            answer["results"][i]["status"], 409,
            "{}",
            answer["results"][i]
        );
    }
    let changed = mis.get("/v1/children/MC-5001").await.expect(200);
    assert_eq!(changed["demographics"]["family_name"], "Okafor-5001");
    let verified = mis.get("/v1/audit/verify").await.expect(200);
    assert_eq!(verified["intact"], true, "{verified}");
    let succeeded = expected.iter().filter(|o| **o != "failed").count() as u64;
    let entries = |v: &Value| v["entries"].as_u64().unwrap();
    assert_eq!(
        entries(&verified) - entries(&before),
        succeeded,
        "{verified}"
    );
    fed.shutdown().await;
}
