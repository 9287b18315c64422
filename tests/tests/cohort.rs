//! A live cohort: the children a practitioner's own agency works with, one row each,
//! read across a real federation in batched calls, kept nowhere.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, NaiveDate, Utc};
use federation::seed::SyntheticChild;
use federation_tests::{Misbehaviour, Options, TestFederation, spawn_federation};
use schemas::PractitionerRole::{SocialWorker, VirtualSchoolHead};
use schemas::RecordCategory;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const EDUCATION: &str = "purpose=education_support&legal_basis=public_task";
const SAFEGUARDING: &str = "purpose=safeguarding&legal_basis=public_task";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A child's holding at a node: its local id there, if the node holds them.
fn local_id_at<'a>(child: &'a SyntheticChild, node: &str) -> Option<&'a str> {
    child
        .holdings
        .iter()
        .find(|h| h.node == node)
        .map(|h| h.local_id.as_str())
}

/// Whether the node's records of the child include one of `category` in effect today
/// (or ended within `grace` days).
fn in_effect_at(child: &SyntheticChild, node: &str, category: RecordCategory, grace: i64) -> bool {
    child.holdings.iter().filter(|h| h.node == node).any(|h| {
        h.records.iter().any(|r| {
            r.category == category
                && r.effective_from <= today()
                && r.effective_to
                    .is_none_or(|end| end >= today() - Duration::days(grace))
        })
    })
}

fn holds_category(child: &SyntheticChild, node: &str, category: RecordCategory) -> bool {
    child
        .holdings
        .iter()
        .filter(|h| h.node == node)
        .any(|h| h.records.iter().any(|r| r.category == category))
}

async fn cohort(fed: &TestFederation, token: &str, query: &str) -> Vec<Value> {
    let answer = fed.gateway_get(token, &format!("/v1/cohort?{query}")).await;
    let rows = answer.expect(200);
    assert!(
        answer
            .header("content-type")
            .starts_with("application/json"),
        "{}",
        answer.header("content-type")
    );
    rows.as_array()
        .unwrap_or_else(|| panic!("not an array: {}", answer.text))
        .clone()
}

fn column<'a>(row: &'a Value, agency: &str) -> &'a str {
    row["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["agency_id"] == agency)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no column {agency} in {row}"))
}

fn local_ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["identity"]["local_id"].as_str().unwrap().to_owned())
        .collect()
}

fn education_nodes() -> Options {
    Options::nodes(
        &["school-a", "school-b", "social-care", "virtual-school"],
        240,
    )
}

#[tokio::test]
async fn a_virtual_school_heads_cohort_shows_each_looked_after_childs_attendance_and_pep_and_no_one_else()
 {
    let fed = spawn_federation(education_nodes()).await.unwrap();
    let head = fed.token(VirtualSchoolHead, "virtual-school");
    let rows = cohort(&fed, &head, EDUCATION).await;

    // Exactly the children the virtual school's records put in its cohort.
    let expected: BTreeSet<String> = fed
        .children
        .iter()
        .filter(|c| {
            in_effect_at(c, "virtual-school", RecordCategory::LookedAfterStatus, 0)
                || in_effect_at(
                    c,
                    "virtual-school",
                    RecordCategory::PersonalEducationPlan,
                    0,
                )
        })
        .filter_map(|c| local_id_at(c, "virtual-school").map(str::to_owned))
        .collect();
    assert!(expected.len() > 5, "the seed puts children in the cohort");
    assert_eq!(
        local_ids(&rows),
        expected,
        "the cohort is the virtual school's, exactly"
    );
    // In the node's own order (its local ids).
    let order: Vec<&str> = rows
        .iter()
        .map(|r| r["identity"]["local_id"].as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    let by_local_id: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["identity"]["local_id"].as_str().unwrap(), r))
        .collect();
    let mut looked_after = 0;
    for child in &fed.children {
        let Some(id) = local_id_at(child, "virtual-school") else {
            continue;
        };
        let Some(row) = by_local_id.get(id) else {
            continue;
        };
        let in_care = holds_category(
            child,
            "virtual-school",
            RecordCategory::PersonalEducationPlan,
        );
        if !in_care {
            assert!(
                row.get("pep").is_none()
                    || row["pep"].is_null()
                    || row["plans"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p == "looked_after"),
                "{row}"
            );
            continue;
        }
        looked_after += 1;
        assert_eq!(row["pep"]["status"], "in_place", "{row}");
        let at_school = ["school-a", "school-b"].iter().any(|s| {
            holds_category(child, s, RecordCategory::Attendance)
                && local_id_at(child, s).is_some()
                && ["ok", "withheld"].contains(&column(row, s))
        });
        if at_school {
            let rate = row["attendance"]["latest_rate"].as_f64();
            assert!(rate.is_some_and(|r| (0.0..=100.0).contains(&r)), "{row}");
            assert_eq!(row["attendance"]["level"], "full", "{row}");
            let pa = row["attendance"]["persistent_absence"].as_bool().unwrap();
            assert_eq!(
                pa,
                rate.unwrap() < 90.0
                    || row["attendance"]["term_rate"]
                        .as_f64()
                        .is_some_and(|t| t < 90.0),
                "{row}"
            );
        }
        assert_eq!(column(row, "virtual-school"), "ok", "{row}");
    }
    assert!(looked_after > 0, "the seed has looked-after children");

    // A row's reference opens the child's view, with the same school section.
    let row = rows
        .iter()
        .find(|r| r["pep"]["status"] == "in_place" && r["attendance"].is_object())
        .unwrap();
    let view = fed
        .view(&head, row["reference"].as_str().unwrap(), EDUCATION)
        .await
        .expect(200);
    let statuses: BTreeMap<String, String> = view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["agency_id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for c in row["agencies"].as_array().unwrap() {
        assert_eq!(
            statuses[c["agency_id"].as_str().unwrap()],
            c["status"].as_str().unwrap(),
            "{view}"
        );
    }
}

#[tokio::test]
async fn a_dsls_filter_known_to_social_care_lists_exactly_the_pupils_social_care_holds_and_may_disclose()
 {
    // Every row's view is read below: no rate limit in the way.
    let fed = spawn_federation(Options {
        rate_limit: Some((10_000.0, 10_000)),
        ..Options::nodes(&["school-a", "social-care", "health"], 200)
    })
    .await
    .unwrap();
    let dsl = fed.dsl_token();
    let all = cohort(&fed, &dsl, SAFEGUARDING).await;

    // Everyone on roll (or within the handover window) at school A, nobody else.
    let on_roll: BTreeSet<String> = fed
        .children
        .iter()
        .filter(|c| in_effect_at(c, "school-a", RecordCategory::Enrolment, 30))
        .filter_map(|c| local_id_at(c, "school-a").map(str::to_owned))
        .collect();
    assert_eq!(local_ids(&all), on_roll);

    // What each child's own view says of social care, through the row's reference.
    let mut known = BTreeSet::new();
    for row in &all {
        let view = fed
            .view(&dsl, row["reference"].as_str().unwrap(), SAFEGUARDING)
            .await
            .expect(200);
        let section = view["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agency_id"] == "social-care")
            .unwrap();
        assert_eq!(section["status"], column(row, "social-care"), "{row}");
        if ["ok", "withheld"].contains(&section["status"].as_str().unwrap()) {
            known.insert(row["identity"]["local_id"].as_str().unwrap().to_owned());
        }
    }
    let held_by_social_care: BTreeSet<String> = fed
        .children
        .iter()
        .filter(|c| local_id_at(c, "social-care").is_some())
        .filter_map(|c| local_id_at(c, "school-a").map(str::to_owned))
        .filter(|id| on_roll.contains(id))
        .collect();
    assert!(!known.is_empty(), "some pupils are known to social care");
    assert_eq!(
        known, held_by_social_care,
        "social care holds and shares them"
    );

    let filtered = cohort(&fed, &dsl, &format!("{SAFEGUARDING}&known_to=social_care")).await;
    assert_eq!(local_ids(&filtered), known);
    // By agency id too.
    let by_id = cohort(&fed, &dsl, &format!("{SAFEGUARDING}&known_to=social-care")).await;
    assert_eq!(local_ids(&by_id), known);

    // Persistent absentees only: exactly the rows that say so.
    let absent = cohort(
        &fed,
        &dsl,
        &format!("{SAFEGUARDING}&persistent_absence=true"),
    )
    .await;
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|r| r["attendance"]["persistent_absence"] == true)
        .map(|r| r["identity"]["local_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(local_ids(&absent), expected);

    // Pages: cursors over the node's list, nothing lost or repeated.
    let first = cohort(&fed, &dsl, &format!("{SAFEGUARDING}&limit=7")).await;
    assert_eq!(first.len(), 7);
    let cursor = first[6]["cursor"].as_str().unwrap();
    let rest = cohort(&fed, &dsl, &format!("{SAFEGUARDING}&cursor={cursor}")).await;
    let mut paged: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|r| r["identity"]["local_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paged.len(), all.len());
    paged.dedup();
    assert_eq!(paged.into_iter().collect::<BTreeSet<_>>(), local_ids(&all));

    // Sorted and summed up (a cohort under 2,000).
    let sorted = cohort(&fed, &dsl, &format!("{SAFEGUARDING}&sort=attendance")).await;
    assert_eq!(sorted.len(), all.len());
    let rates: Vec<f64> = sorted
        .iter()
        .map(|r| {
            r["attendance"]["term_rate"]
                .as_f64()
                .or(r["attendance"]["latest_rate"].as_f64())
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    let figures = fed
        .gateway_get(&dsl, &format!("/v1/cohort/figures?{SAFEGUARDING}"))
        .await
        .expect(200);
    assert_eq!(figures["children"], all.len());
    assert_eq!(figures["persistently_absent"], expected.len());
    assert_eq!(figures["known_to"]["social-care"], known.len());
}

#[tokio::test]
async fn bad_cohort_requests_are_refused_naming_the_field_and_nobody_lists_another_agencys_cohort()
{
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 200))
        .await
        .unwrap();
    let dsl = fed.dsl_token();
    for (query, field) in [
        (
            "purpose=safeguarding&legal_basis=safeguarding_override",
            "reason",
        ),
        (
            &format!("{SAFEGUARDING}&known_to=bakery") as &str,
            "known_to",
        ),
        (&format!("{SAFEGUARDING}&plan=holiday"), "plan"),
        (&format!("{SAFEGUARDING}&sort=height"), "sort"),
        (&format!("{SAFEGUARDING}&limit=0"), "limit"),
        (
            &format!("{SAFEGUARDING}&sort=family_name&cursor=c1.QQ"),
            "cursor",
        ),
        (&format!("{SAFEGUARDING}&cursor=nonsense"), "cursor"),
    ] {
        let problem = fed
            .gateway_get(&dsl, &format!("/v1/cohort?{query}"))
            .await
            .case(query)
            .expect_any_problem(400);
        let fields = federation_tests::scenario::problem_fields(&problem);
        assert!(fields.iter().any(|f| f == field), "{query}: {problem}");
    }
    // A social worker's token at school A's node: the node lists its cohort only for
    // its own practitioners.
    let worker = fed.token(SocialWorker, "social-care");
    fed.as_gateway(
        reqwest::Method::GET,
        "school-a",
        &format!("/v1/federation/cohort?{SAFEGUARDING}"),
        &worker,
    )
    .send()
    .await
    .map(|r| assert_eq!(r.status(), 403))
    .unwrap();
    // Batches of nothing, or of more than 500, are refused naming the field.
    for (path, body, field) in [
        ("match", serde_json::json!({"queries": []}), "queries"),
        ("records", serde_json::json!({"children": []}), "children"),
        (
            "records",
            serde_json::json!({"children": vec![serde_json::json!({"local_ref": "x"}); 501]}),
            "children",
        ),
        (
            "match",
            serde_json::json!({"queries": [{"identifiers": {"upn": "not a upn"}}]}),
            "queries[0]",
        ),
    ] {
        let answer = fed
            .as_gateway(
                reqwest::Method::POST,
                "social-care",
                &format!("/v1/federation/batch/{path}?{SAFEGUARDING}"),
                &dsl,
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{path} {field}");
        let problem: Value = answer.json().await.unwrap();
        let fields = federation_tests::scenario::problem_fields(&problem);
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{path}: {problem}"
        );
    }
    // A cursor the node did not make.
    let answer = fed
        .as_gateway(
            reqwest::Method::GET,
            "school-a",
            &format!("/v1/federation/cohort?{SAFEGUARDING}&cursor=nonsense"),
            &dsl,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    // A batched read with one child's assertion on another child's match gets
    // existence only, as a single read would.
    let rows = cohort(&fed, &dsl, SAFEGUARDING).await;
    assert!(rows.len() >= 2);
    let page: Value = fed
        .as_gateway(
            reqwest::Method::GET,
            "school-a",
            &format!("/v1/federation/cohort?{SAFEGUARDING}&limit=500"),
            &dsl,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let members = page["children"].as_array().unwrap();
    let known: Vec<&Value> = members
        .iter()
        .filter(|m| {
            let upn = m["identity"]["upn"].as_str();
            fed.children
                .iter()
                .any(|c| Some(c.upn.as_str()) == upn && local_id_at(c, "social-care").is_some())
        })
        .collect();
    assert!(known.len() >= 2, "two pupils known to social care");
    let matched: Value = fed
        .as_gateway(
            reqwest::Method::POST,
            "social-care",
            &format!("/v1/federation/batch/match?{SAFEGUARDING}"),
            &dsl,
        )
        .json(&serde_json::json!({"queries": [known[0]["query"], known[1]["query"]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answers = matched["answers"].as_array().unwrap();
    let read = |assertion: &Value| {
        serde_json::json!({"children": [{
            "local_ref": answers[0]["local_ref"],
            "match_token": answers[0]["match_token"],
            "relationship": assertion,
        }]})
    };
    let answer_with = |body: Value| {
        let request = fed.as_gateway(
            reqwest::Method::POST,
            "social-care",
            &format!("/v1/federation/batch/records?{SAFEGUARDING}"),
            &dsl,
        );
        async move {
            request
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let own = answer_with(read(&known[0]["relationship"])).await;
    assert_eq!(
        own["answers"][0]["records"]["relationship"], "asserted",
        "{own}"
    );
    let borrowed = answer_with(read(&known[1]["relationship"])).await;
    assert_eq!(
        borrowed["answers"][0]["records"]["relationship"], "none",
        "{borrowed}"
    );
    assert!(
        borrowed["answers"][0]["records"]["records"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{borrowed}"
    );
}

#[tokio::test]
async fn a_frozen_node_marks_its_column_timeout_and_the_answer_still_arrives_within_the_deadline() {
    let fed = spawn_federation(Options {
        node_timeout_ms: 1500,
        misbehaving: vec![("frozen", Misbehaviour::HangsOnRead)],
        // Several chunks: the frozen node must cost one deadline, not one per chunk.
        cohort_chunk: Some(20),
        ..Options::nodes(&["school-a", "social-care"], 200)
    })
    .await
    .unwrap();
    let dsl = fed.dsl_token();
    let started = std::time::Instant::now();
    let rows = cohort(&fed, &dsl, SAFEGUARDING).await;
    let took = started.elapsed();
    let chunks = rows.len().div_ceil(20);
    assert!(chunks >= 4, "several chunks: {}", rows.len());
    // The frozen node is asked once, for the first chunk's match, and then left alone:
    // one deadline in all, never one per chunk or per child.
    let metrics = fed.gateway_metrics().await;
    let frozen_calls: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("upstream_requests_total{") && l.contains("node=\"frozen\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(frozen_calls, 1.0, "{metrics}");
    // Waiting once per chunk would take at least this long, whatever else happened.
    assert!(
        took < std::time::Duration::from_millis(1500) * chunks as u32,
        "took {took:?} for {chunks} chunks"
    );
    for row in &rows {
        assert_eq!(column(row, "frozen"), "timeout", "{row}");
        assert_eq!(column(row, "school-a"), "ok", "{row}");
    }
    assert!(rows.iter().any(|r| column(r, "social-care") == "ok"));
}

#[tokio::test]
async fn every_disclosure_of_a_cohort_is_in_the_nodes_audit_and_the_childs_access_report() {
    let fed = spawn_federation(education_nodes()).await.unwrap();
    let head = fed.token(VirtualSchoolHead, "virtual-school");
    let rows = cohort(&fed, &head, EDUCATION).await;

    // School A's audit: one entry per child it disclosed, marked as a cohort's, for the
    // virtual school head; the chain still verifies.
    let mut conn = fed.database("school-a");
    let mut audited = BTreeSet::new();
    for child in &fed.children {
        let Some(local_id) = local_id_at(child, "school-a") else {
            continue;
        };
        let id = agency_node::db::children::find_by_local_id(&mut conn, local_id)
            .unwrap()
            .unwrap()
            .id;
        for entry in agency_node::db::audit::for_child(&mut conn, &id).unwrap() {
            let detail: Value = serde_json::from_str(&entry.detail).unwrap();
            if entry.action == "disclosure"
                && detail["cohort"] == true
                && detail["disclosed"] == true
                && entry.actor_role.as_deref() == Some("virtual_school_head")
            {
                audited.insert(child.upn.as_str().to_owned());
            }
        }
    }
    let shown: BTreeSet<String> = rows
        .iter()
        .filter(|r| ["ok", "withheld"].contains(&column(r, "school-a")))
        .map(|r| r["identity"]["upn"].as_str().unwrap().to_owned())
        .collect();
    assert!(!shown.is_empty());
    assert_eq!(
        audited, shown,
        "every child school A disclosed, and only those"
    );
    let verified = fed.system("school-a").verify_audit().await;
    assert_eq!(verified["intact"], true, "{verified}");

    // The child's access report says they were seen as part of a cohort, by whom, why.
    let row = rows
        .iter()
        .find(|r| column(r, "school-a") == "ok" && column(r, "social-care") == "ok")
        .expect("a child known to school A and social care");
    let child = fed
        .children
        .iter()
        .find(|c| Some(c.upn.as_str()) == row["identity"]["upn"].as_str())
        .unwrap();
    let worker = fed.token(SocialWorker, "social-care");
    let reference = fed
        .reference_for(
            &worker,
            child,
            "purpose=care_planning&legal_basis=public_task",
        )
        .await;
    let report = fed
        .gateway_get(&worker, &format!("/v1/children/{reference}/access-report"))
        .await
        .expect(200);
    let cohort_lines: Vec<&Value> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cohort"] == true)
        .collect();
    assert!(!cohort_lines.is_empty(), "{report}");
    assert!(
        cohort_lines.iter().any(|e| {
            let s = e["sentence"].as_str().unwrap();
            s.contains("the head of the virtual school")
                && s.contains("a list of all the children their agency works with")
                && e["holder"].as_str().is_some()
        }),
        "{report}"
    );
}

/// Splits CSV text into records of fields (quoted fields may hold commas and quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        records.push(fields);
    }
    records
}

#[tokio::test]
async fn the_csv_and_the_json_agree() {
    let fed = spawn_federation(education_nodes()).await.unwrap();
    let head = fed.token(VirtualSchoolHead, "virtual-school");
    let rows = cohort(&fed, &head, EDUCATION).await;
    let answer = fed
        .anonymous_client()
        .get(format!("{}/v1/cohort?{EDUCATION}", fed.gateway_url))
        .bearer_auth(&head)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = parse_csv(&answer.text().await.unwrap());
    let header = &csv[0];
    let lines = &csv[1..];
    assert_eq!(lines.len(), rows.len());
    let at = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (line, row) in lines.iter().zip(&rows) {
        assert_eq!(line.len(), header.len());
        for (field, value) in [
            ("cursor", &row["cursor"]),
            ("local_id", &row["identity"]["local_id"]),
            ("given_name", &row["identity"]["given_name"]),
            ("family_name", &row["identity"]["family_name"]),
            (
                "preferred_given_name",
                &row["identity"]["preferred_given_name"],
            ),
            ("date_of_birth", &row["identity"]["date_of_birth"]),
            ("upn", &row["identity"]["upn"]),
            ("attendance_latest_rate", &row["attendance"]["latest_rate"]),
            ("attendance_term_rate", &row["attendance"]["term_rate"]),
            (
                "persistent_absence",
                &row["attendance"]["persistent_absence"],
            ),
            ("suspensions", &row["exclusions"]["suspensions"]),
            ("suspension_days", &row["exclusions"]["suspension_days"]),
            ("pep_status", &row["pep"]["status"]),
            ("barrier_attendance", &row["barriers"]["attendance"]),
            ("barrier_wellbeing", &row["barriers"]["wellbeing"]),
            (
                "unacknowledged_notifications",
                &row["unacknowledged_notifications"],
            ),
        ] {
            assert_eq!(line[at(field)], text(value), "{field} of {row}");
        }
        let plans: Vec<String> = row["plans"].as_array().unwrap().iter().map(text).collect();
        assert_eq!(line[at("plans")], plans.join(";"));
        for c in row["agencies"].as_array().unwrap() {
            let name = format!("agency:{}", c["agency_id"].as_str().unwrap());
            assert_eq!(line[at(&name)], text(&c["status"]), "{name} of {row}");
        }
    }
}

/// An allocated social worker record naming (or not) a worker by their token's subject.
fn allocation(source: &str, worker_subject: &str, from: NaiveDate, to: Option<NaiveDate>) -> Value {
    let mut record = serde_json::json!({
        "source_system_id": source,
        "category": "allocated_social_worker",
        "effective_from": from,
        "impact": "Social worker allocated",
        "details": {"worker": "Social worker, assessment team", "worker_subject": worker_subject}
    });
    if let Some(to) = to {
        record["effective_to"] = serde_json::json!(to);
    }
    record
}

#[tokio::test]
async fn a_social_workers_caseload_is_the_children_allocated_to_them_today() {
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 200))
        .await
        .unwrap();
    let me = "social_worker.social-care";
    let worker = fed.token(SocialWorker, "social-care");
    let held: Vec<&str> = fed
        .children
        .iter()
        .filter_map(|c| local_id_at(c, "social-care"))
        .take(4)
        .collect();
    assert_eq!(held.len(), 4, "the seed has children social care holds");
    let system = fed.system("social-care");
    let today = today();
    // Two allocated to me now, one to a colleague, one to me until yesterday.
    for (i, (subject, to)) in [
        (me, None),
        (me, None),
        ("social_worker.colleague", None),
        (me, Some(today - Duration::days(1))),
    ]
    .into_iter()
    .enumerate()
    {
        system
            .store_record(
                held[i],
                &allocation(
                    &format!("ALLOC-{i}"),
                    subject,
                    today - Duration::days(30),
                    to,
                ),
            )
            .await;
    }
    let caseload = cohort(
        &fed,
        &worker,
        "purpose=care_planning&legal_basis=public_task&allocated_to=me",
    )
    .await;
    assert_eq!(
        local_ids(&caseload),
        BTreeSet::from([held[0].to_owned(), held[1].to_owned()])
    );
    // The whole agency's cohort is larger: the caseload narrowed it.
    let all = cohort(
        &fed,
        &worker,
        "purpose=care_planning&legal_basis=public_task",
    )
    .await;
    assert!(all.len() > caseload.len() + 1, "{} rows", all.len());
    // The colleague's caseload is theirs.
    let colleague = fed
        .files
        .token(SocialWorker, "social-care", "social_worker.colleague", 600)
        .unwrap();
    let theirs = cohort(
        &fed,
        &colleague,
        "purpose=care_planning&legal_basis=public_task&allocated_to=me",
    )
    .await;
    assert_eq!(local_ids(&theirs), BTreeSet::from([held[2].to_owned()]));
    // Only `me`, and only where the agency records allocation.
    for (token, query) in [
        (
            &worker,
            "purpose=care_planning&legal_basis=public_task&allocated_to=someone",
        ),
        (
            &fed.dsl_token(),
            "purpose=safeguarding&legal_basis=public_task&allocated_to=me",
        ),
    ] {
        let problem = fed
            .gateway_get(token, &format!("/v1/cohort?{query}"))
            .await
            .case(query)
            .expect_any_problem(400);
        assert_eq!(
            federation_tests::scenario::problem_fields(&problem),
            ["allocated_to"],
            "{query}"
        );
    }
}
