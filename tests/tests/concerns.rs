//! Concerns to children's social care and outcomes back, end to end over real mutual
//! TLS: a school raises a concern at its own node; the gateway picks the front door (the
//! social care node that holds the child, else the authority of the child's home
//! postcode); the front door has it with a decision deadline at the end of the next
//! working day; social care decides; the school has the outcome at the level social
//! care's policy allows. Two local authorities run: `social-care` (999, districts ZZ1 to
//! ZZ6) and `social-care-b` (998, ZZ7 to ZZ9).

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use federation::plan::NotificationKnobs;
use federation::seed::SyntheticChild;
use federation_tests::scenario::problem_fields;
use federation_tests::{Call, Options, SAFEGUARDING, TestFederation, spawn_federation};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const FRONT_DOOR_PHONE: &str = "01632 960100";
const FRONT_DOOR_B_PHONE: &str = "01632 960200";

async fn federation() -> TestFederation {
    spawn_federation(Options {
        nodes: vec!["school-a", "social-care", "social-care-b"],
        children: 300,
        notifications: NotificationKnobs {
            backoff_ms: Some((200, 2_000)),
            // Every undecided concern is "near its deadline": the at-risk list and gauge
            // show it until decided.
            at_risk_minutes: Some(60 * 24 * 14),
            ..Default::default()
        },
        ..Options::default()
    })
    .await
    .unwrap()
}

fn district(child: &SyntheticChild) -> u32 {
    let postcode = child.demographics.postcode.as_deref().unwrap_or_default();
    postcode[2..3].parse().unwrap()
}

/// A seeded pupil of school A, unknown to social care, living in a district of
/// `districts`; returns their local id at school A.
fn pupil(fed: &TestFederation, districts: std::ops::RangeInclusive<u32>, skip: usize) -> String {
    fed.children
        .iter()
        .filter(|c| {
            let a = c.agencies();
            a.contains(&"school-a")
                && !a.contains(&"social-care")
                && districts.contains(&district(c))
        })
        .nth(skip)
        .expect("such a pupil in the seed")
        .holdings
        .iter()
        .find(|h| h.node == "school-a")
        .unwrap()
        .local_id
        .clone()
}

fn concern(local_id: &str, immediate_risk: bool) -> Value {
    json!({
        "local_id": local_id,
        "seen_or_heard": "Arrived with a bruise on the left cheek; said it happened at home.",
        "seen_at": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        "childs_words": "Dad was really angry.",
        "categories": ["physical_abuse", "domestic_abuse"],
        "immediate_risk": immediate_risk,
        "parents_told": false,
        "parents_not_told_because": "Telling the parent could put the child at greater risk.",
        "consent": false,
        "lawful_basis": "Safeguarding: risk of significant harm; consent not sought as it would increase the risk.",
        "referrer": {"name": "Designated safeguarding lead", "role": "designated_safeguarding_lead", "phone": "01632 960001"}
    })
}

/// The end of the first working day after today (London), at 17:00: Monday to Friday,
/// less `holidays`. Written here from the rule, not from the node's code.
fn expected_deadline(received: DateTime<Utc>, holidays: &[NaiveDate]) -> DateTime<Utc> {
    let london = chrono_tz::Europe::London;
    let mut day = received.with_timezone(&london).date_naive();
    loop {
        day = day.succ_opt().unwrap();
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&day) {
            break;
        }
    }
    london
        .from_local_datetime(&day.and_hms_opt(17, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a time: {value}")),
    )
    .unwrap()
    .with_timezone(&Utc)
}

async fn received(fed: &TestFederation, node: &str, query: &str) -> Vec<Value> {
    fed.system(node)
        .get(&format!("/v1/concerns?side=received{query}"))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the concern `id` at `node` satisfies `done`.
async fn wait_for(
    fed: &TestFederation,
    node: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let answer = fed.system(node).get(&format!("/v1/concerns/{id}")).await;
        let item = answer.json();
        if answer.status == 200 && done(&item) {
            return item;
        }
        assert!(start.elapsed() < WAIT, "{what} at {node}: {item:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn gauge(metrics: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with("concerns_at_risk{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn concern_round_trip_to_the_front_door_and_the_outcome_back() {
    let mut fed = federation().await;
    let school = fed.system("school-a");
    let local_id = pupil(&fed, 1..=6, 0);

    let raised_at = Utc::now();
    let answer = school
        .post("/v1/concerns", &concern(&local_id, false))
        .await;
    let accepted = answer.expect(202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status"], "sent", "{accepted:#}");
    assert_eq!(accepted["front_door"]["agency_id"], "social-care");
    assert_eq!(accepted["front_door"]["phone"], FRONT_DOOR_PHONE);
    assert!(accepted.get("call_now").is_none(), "{accepted:#}");
    // The dev federation's bank holidays are England's, written into the config.
    let holidays: Vec<NaiveDate> = (raised_at.year() - 1..=raised_at.year() + 1)
        .flat_map(federation::plan::england_bank_holidays)
        .collect();
    let deadline = expected_deadline(raised_at, &holidays);
    assert_eq!(at(&accepted["deadline"]), deadline, "{accepted:#}");

    // At the front door: a contact (the child is not held there), due by the deadline.
    let inbox = received(&fed, "social-care", "").await;
    assert_eq!(inbox.len(), 1, "{inbox:#?}");
    let item = &inbox[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["status"], "contact");
    assert!(item.get("local_id").is_none(), "{item:#}");
    assert_eq!(item["referrer"], "school-a");
    assert_eq!(item["content"]["childs_words"], "Dad was really angry.");
    assert_eq!(at(&item["deadline"]), deadline);
    assert!(item["child"]["identifiers"]["upn"].is_string(), "{item:#}");
    // A contact is not a case: social care does not hold the child.
    let upn = item["child"]["identifiers"]["upn"].clone();
    let token = fed.token(schemas::PractitionerRole::SocialWorker, "social-care");
    let found = fed
        .node_match(
            "social-care",
            &token,
            SAFEGUARDING,
            &json!({"identifiers": {"upn": upn}}),
        )
        .await;
    assert_ne!(found.json()["outcome"], "held", "{}", found.text);

    // Undecided and near its deadline: listed and counted.
    let at_risk = received(&fed, "social-care", "&at_risk=true").await;
    assert_eq!(at_risk.len(), 1);
    assert_eq!(gauge(&fed.metrics("social-care").await), Some(1));

    // Invalid decisions name their fields; nothing changes.
    let bad = fed
        .system("social-care")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "no_further_action", "decided_by": " "}),
        )
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(problem_fields(&bad), ["decided_by", "advice"]);

    // Social care decides: an assessment, with a worker and a duty line.
    let decided = fed
        .system("social-care")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({
                "decision": "assessment", "decided_by": "Front door team manager",
                "allocated_worker": "Social worker, assessment team",
                "duty_line": "01632 960150",
                "advice": "Keep a note of anything the child says; the social worker will call today."
            }),
        )
        .await
        .expect(200);
    assert_eq!(decided["status"], "decided");
    assert_eq!(gauge(&fed.metrics("social-care").await), Some(0));
    fed.system("social-care")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "early_help", "decided_by": "x"}),
        )
        .await
        .expect_problem(409, "conflict");

    // The school has the outcome, at the level social care's policy gives a school's
    // safeguarding lead (summary: the decision, advice and duty line; no worker's name).
    let mine = wait_for(&fed, "school-a", &id, "the outcome", |c| {
        c["status"] == "decided"
    })
    .await;
    let outcome = &mine["outcomes"][0];
    assert_eq!(outcome["kind"], "decision");
    assert_eq!(outcome["decision"], "assessment");
    assert_eq!(outcome["level"], "summary");
    assert_eq!(outcome["from"], "social-care");
    assert_eq!(
        outcome["summary"],
        "Child and family assessment started; social worker allocated; duty line 01632 960150"
    );
    assert!(
        outcome["advice"]
            .as_str()
            .unwrap()
            .starts_with("Keep a note")
    );
    assert!(outcome.get("allocated_worker").is_none(), "{outcome:#}");

    // A later step follows while the school works with the child.
    fed.system("social-care")
        .post(
            &format!("/v1/concerns/{id}/steps"),
            &json!({"step": "plan_started", "summary": "Child in need plan agreed; the school is in the core group."}),
        )
        .await
        .expect(200);
    let mine = wait_for(&fed, "school-a", &id, "the step", |c| {
        c["outcomes"].as_array().is_some_and(|o| o.len() == 2)
    })
    .await;
    assert_eq!(
        mine["outcomes"][1]["summary"],
        "Plan started: Child in need plan agreed; the school is in the core group."
    );

    // Both audits record it: the school's disclosure to the front door, social care's
    // receipt and decision.
    assert_eq!(school.verify_audit().await["intact"], true);
    assert_eq!(
        fed.system("social-care").verify_audit().await["intact"],
        true
    );

    // A bank holiday on the next working day moves the deadline to the one after.
    let next = expected_deadline(Utc::now(), &holidays)
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    fed.stop_node("social-care").await;
    fed.restart_node_with("social-care", |s| {
        let door = s.front_door.get_or_insert_with(Default::default);
        door.bank_holidays.push(next);
    })
    .await
    .unwrap();
    let mut extra = holidays.clone();
    extra.push(next);
    let raised_at = Utc::now();
    let second = school
        .post("/v1/concerns", &concern(&pupil(&fed, 1..=6, 1), true))
        .await
        .expect(202);
    let deadline = expected_deadline(raised_at, &extra);
    assert!(deadline.date_naive() > next, "{deadline} after {next}");
    assert_eq!(at(&second["deadline"]), deadline, "{second:#}");
    // Immediate risk: the answer says to call the front door now, with its number.
    let call = second["call_now"].as_str().unwrap();
    assert!(
        call.contains(FRONT_DOOR_PHONE) && call.contains("call"),
        "{call}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn concerns_reach_the_childs_own_authority_and_can_be_passed_on() {
    let fed = federation().await;
    let school = fed.system("school-a");

    // A pupil living in the other authority's area: its front door has the concern.
    let accepted = school
        .post("/v1/concerns", &concern(&pupil(&fed, 7..=9, 0), true))
        .await
        .expect(202);
    assert_eq!(
        accepted["front_door"]["agency_id"], "social-care-b",
        "{accepted:#}"
    );
    assert!(
        accepted["call_now"]
            .as_str()
            .unwrap()
            .contains(FRONT_DOOR_B_PHONE)
    );
    let b = received(&fed, "social-care-b", "").await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["status"], "contact");
    assert!(received(&fed, "social-care", "").await.is_empty());

    // A pupil of the home authority, passed on to the other one.
    let accepted = school
        .post("/v1/concerns", &concern(&pupil(&fed, 1..=6, 0), false))
        .await
        .expect(202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["front_door"]["agency_id"], "social-care");
    // Only another authority's front door will do.
    let bad = fed
        .system("social-care")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "another_authority", "decided_by": "Front door", "to_authority": "school-a"}),
        )
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(problem_fields(&bad), ["to_authority"]);
    let passed = fed
        .system("social-care")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "another_authority", "decided_by": "Front door", "to_authority": "social-care-b"}),
        )
        .await
        .expect(200);
    assert_eq!(passed["status"], "passed");
    // It reaches the other front door, naming who passed it on, with its own deadline.
    let start = Instant::now();
    let forwarded = loop {
        let items = received(&fed, "social-care-b", "").await;
        if let Some(item) = items.iter().find(|i| i["id"] == id.as_str()) {
            break item.clone();
        }
        assert!(start.elapsed() < WAIT, "never forwarded: {items:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(forwarded["forwarded_by"], "social-care");
    assert_eq!(forwarded["referrer"], "school-a");
    assert!(forwarded["deadline"].is_string());
    // The school hears it was passed on, and to whom.
    let mine = wait_for(&fed, "school-a", &id, "passed on", |c| {
        c["status"] == "passed"
    })
    .await;
    assert_eq!(mine["front_door"]["agency_id"], "social-care-b");
    assert_eq!(mine["outcomes"][0]["decision"], "another_authority");
    // The other authority decides; the school hears from it directly.
    fed.system("social-care-b")
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "no_further_action", "decided_by": "Front door", "advice": "Discuss with the family; refer again if anything changes."}),
        )
        .await
        .expect(200);
    let mine = wait_for(&fed, "school-a", &id, "decided", |c| {
        c["status"] == "decided"
    })
    .await;
    assert_eq!(mine["outcomes"][1]["from"], "social-care-b");
    assert_eq!(mine["outcomes"][1]["decision"], "no_further_action");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_concern_goes_to_the_social_care_node_that_holds_the_child() {
    let fed = federation().await;
    // A child social care (999) holds, living where the other authority serves: the
    // holder gets the concern, about its own child.
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"school-a") && a.contains(&"social-care") && district(c) >= 7
        })
        .expect("a pupil known to social care living in ZZ7-9");
    let local = |node: &str| {
        child
            .holdings
            .iter()
            .find(|h| h.node == node)
            .unwrap()
            .local_id
            .clone()
    };
    let accepted = fed
        .system("school-a")
        .post("/v1/concerns", &concern(&local("school-a"), false))
        .await
        .expect(202);
    assert_eq!(
        accepted["front_door"]["agency_id"], "social-care",
        "{accepted:#}"
    );
    let items = received(&fed, "social-care", "").await;
    assert_eq!(items[0]["status"], "received");
    assert_eq!(items[0]["local_id"], local("social-care").as_str());
    assert!(received(&fed, "social-care-b", "").await.is_empty());
    fed.shutdown().await;
}

#[tokio::test]
async fn an_invalid_concern_names_each_field_and_sends_nothing() {
    let fed = federation().await;
    let school = fed.system("school-a");
    let local_id = pupil(&fed, 1..=6, 0);
    let mut body = concern(&local_id, false);
    body["seen_or_heard"] = json!("  ");
    body["categories"] = json!(["neglect", "gossip"]);
    body["parents_not_told_because"] = Value::Null;
    body["referrer"]["phone"] = json!("call me");
    let problem = school
        .post("/v1/concerns", &body)
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(
        problem_fields(&problem),
        [
            "seen_or_heard",
            "categories[1]",
            "parents_not_told_because",
            "referrer.phone"
        ]
    );
    // An empty body names every required field at once.
    let problem = school
        .post("/v1/concerns", &json!({}))
        .await
        .expect_problem(400, "invalid-request");
    for field in [
        "local_id",
        "seen_or_heard",
        "seen_at",
        "categories",
        "immediate_risk",
        "parents_told",
        "consent",
        "referrer",
    ] {
        assert!(
            problem_fields(&problem).iter().any(|f| f == field),
            "{field}: {problem:#}"
        );
    }
    // A child with no front door: a postcode no authority serves.
    school
        .put_child("NOWHERE-1", &json!({
            "demographics": {"given_name": "Sam", "family_name": "Testcase", "date_of_birth": "2016-03-01", "postcode": "ZY1 1AA"}
        }))
        .await
        .expect(201);
    let problem = school
        .post("/v1/concerns", &concern("NOWHERE-1", true))
        .await
        .expect_problem(422, "no-front-door");
    assert_eq!(problem_fields(&problem), ["postcode"]);
    // Nothing reached either front door.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(received(&fed, "social-care", "").await.is_empty());
    assert!(received(&fed, "social-care-b", "").await.is_empty());
    let raised = school.get("/v1/concerns").await.expect(200);
    assert!(
        raised["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "undelivered"),
        "{raised:#}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn concern_routes_refuse_the_wrong_callers() {
    let fed = federation().await;
    let school_node = fed.member_client(&fed.files.node_settings("school-a").unwrap().tls);
    let social_care_node = fed.member_client(&fed.files.node_settings("social-care").unwrap().tls);
    let outcome = json!({
        "concern_id": uuid::Uuid::new_v4(), "to": "school-a",
        "outcome": {"id": uuid::Uuid::new_v4(), "kind": "decision", "level": "summary",
                    "summary": "No further action", "at": Utc::now().to_rfc3339()}
    });
    // Only social care sends outcomes.
    school_node
        .post(format!("{}/v1/concerns/outcomes", fed.gateway_url))
        .json(&outcome)
        .answer()
        .await
        .expect_problem(403, "forbidden");
    // Only social care passes a concern on.
    let route = json!({
        "id": uuid::Uuid::new_v4(), "raised_at": Utc::now().to_rfc3339(),
        "child": {"identifiers": {"upn": "A123456789012"}},
        "content": {
            "seen_or_heard": "x", "seen_at": Utc::now().to_rfc3339(), "categories": ["neglect"],
            "immediate_risk": false, "parents_told": true, "consent": true,
            "referrer": {"name": "DSL", "role": "dsl", "phone": "01632 960001"}
        },
        "to": "social-care-b", "referrer": "school-a"
    });
    school_node
        .post(format!("{}/v1/concerns", fed.gateway_url))
        .json(&route)
        .answer()
        .await
        .expect_problem(403, "forbidden");
    // Social care does not raise concerns to itself.
    fed.system("social-care")
        .post("/v1/concerns", &concern("anyone", false))
        .await
        .expect_problem(403, "forbidden");
    // A front door takes deliveries only from a gateway, signed.
    let unsigned = json!({"id": uuid::Uuid::new_v4()});
    social_care_node
        .post(format!(
            "{}/v1/federation/concerns",
            fed.node_url("social-care")
        ))
        .json(&unsigned)
        .answer()
        .await
        .expect_problem(403, "forbidden");
    fed.gateway_identity()
        .post(format!(
            "{}/v1/federation/concerns",
            fed.node_url("social-care")
        ))
        .json(&unsigned)
        .answer()
        .await
        .expect_problem(401, "bad-signature");
    // A school's integration client cannot decide a concern it does not hold.
    fed.system("school-a")
        .post(
            &format!("/v1/concerns/{}/decision", uuid::Uuid::new_v4()),
            &json!({"decision": "early_help", "decided_by": "x"}),
        )
        .await
        .expect_problem(404, "concern-not-found");
    fed.shutdown().await;
}
