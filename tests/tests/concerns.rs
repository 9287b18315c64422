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

/// School A raises a concern (no immediate risk) about its child `local_id`: the
/// answer, once checked that the concern went to the social care node's front door.
async fn raise_to_social_care(fed: &TestFederation, local_id: &str) -> Value {
    let accepted = fed
        .system("school-a")
        .post("/v1/concerns", &concern(local_id, false))
        .await
        .expect(202);
    assert_eq!(
        accepted["front_door"]["agency_id"], "social-care",
        "{accepted:#}"
    );
    accepted
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

/// The gateway's merged view of the child with this UPN, for the practitioner of `token`.
async fn view_by_upn(fed: &TestFederation, token: &str, upn: &Value) -> Value {
    let found = fed
        .gateway_post(
            token,
            &format!("/v1/children:search?{SAFEGUARDING}"),
            &json!({"identifiers": {"upn": upn}}),
        )
        .await
        .expect(200);
    let reference = found["reference"]
        .as_str()
        .unwrap_or_else(|| panic!("found by UPN: {found:#}"));
    fed.view(token, reference, SAFEGUARDING).await.expect(200)
}

fn chronology_entry<'a>(view: &'a Value, agency: &str, category: &str) -> &'a Value {
    view["chronology"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["agency_id"] == agency && e["category"] == category)
        .unwrap_or_else(|| panic!("{agency} {category} in the chronology: {view:#}"))
}

fn section_record<'a>(view: &'a Value, agency: &str, category: &str) -> &'a Value {
    view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agency_id"] == agency)
        .and_then(|s| {
            s["records"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["category"] == category)
        })
        .unwrap_or_else(|| panic!("{agency} {category} in its section: {view:#}"))
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
    // The school's own record of it: where it went and when a decision is due.
    let ours = school.records(&local_id).await;
    let record = ours
        .iter()
        .find(|r| r["source_system_id"] == format!("concern:{id}").as_str())
        .unwrap_or_else(|| panic!("the school's concern record: {ours:#?}"));
    assert_eq!(record["category"], "concern");
    assert_eq!(record["details"]["front_door"], "social-care");
    assert_eq!(
        record["details"]["categories"],
        json!(["physical_abuse", "domestic_abuse"])
    );
    let line = record["impact"].as_str().unwrap();
    assert!(
        line.contains("physical abuse, domestic abuse") && line.contains("Decision due by"),
        "{line}"
    );

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

    // The assessment opened work: social care now holds the child (created from the
    // concern's details), with its own child in need episode from the day it received
    // the concern, referred by a school.
    let found = fed
        .node_match(
            "social-care",
            &token,
            SAFEGUARDING,
            &json!({"identifiers": {"upn": upn}}),
        )
        .await;
    assert_eq!(found.json()["outcome"], "held", "{}", found.text);
    let theirs = fed
        .system("social-care")
        .get(&format!("/v1/concerns/{id}"))
        .await
        .expect(200);
    let social_care_id = theirs["local_id"].as_str().unwrap().to_owned();
    let records = fed.system("social-care").records(&social_care_id).await;
    let episode = records
        .iter()
        .find(|r| r["category"] == "child_in_need_episode")
        .unwrap_or_else(|| panic!("an episode: {records:#?}"));
    let received_on = at(&item["received_at"])
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        .to_string();
    assert_eq!(episode["details"]["referral_date"], received_on.as_str());
    assert_eq!(episode["effective_from"], received_on.as_str());
    assert_eq!(episode["details"]["referral_source"], "2A");
    assert!(episode.get("effective_to").is_none_or(Value::is_null));

    // Both chronologies show the concern and its outcome: the school's DSL, through the
    // gateway, sees the school's own record in full and social care's at summary, with
    // the work opened in social care's section.
    let dsl = fed.token(
        schemas::PractitionerRole::DesignatedSafeguardingLead,
        "school-a",
    );
    let view = view_by_upn(&fed, &dsl, &upn).await;
    let ours = chronology_entry(&view, "school-a", "concern");
    let line = ours["impact"].as_str().unwrap();
    assert!(
        line.contains("physical abuse, domestic abuse")
            && line.contains("Child and family assessment started")
            && line.contains("Then: Plan started"),
        "{line}"
    );
    assert!(!line.contains("Dad was really angry"), "{line}");
    let mine_record = section_record(&view, "school-a", "concern");
    assert_eq!(mine_record["details"]["decision"], "assessment");
    assert_eq!(mine_record["details"]["front_door"], "social-care");
    assert_eq!(mine_record["details"]["concern_id"], id.as_str());
    let theirs_line = chronology_entry(&view, "social-care", "concern")["impact"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        theirs_line.contains("Child and family assessment started"),
        "{theirs_line}"
    );
    let opened = section_record(&view, "social-care", "child_in_need_episode");
    assert!(
        opened["impact"]
            .as_str()
            .unwrap()
            .contains("child and family assessment started"),
        "{opened}"
    );
    assert!(opened.get("details").is_none(), "summary: {opened}");
    let concern_there = section_record(&view, "social-care", "concern");
    assert!(
        concern_there.get("details").is_none(),
        "summary: {concern_there}"
    );
    // Social care's worker, who now works with the child, sees both in its view too.
    let view = view_by_upn(&fed, &token, &upn).await;
    chronology_entry(&view, "social-care", "concern");
    chronology_entry(&view, "school-a", "concern");
    chronology_entry(&view, "social-care", "child_in_need_episode");
    let line = chronology_entry(&view, "social-care", "concern")["impact"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(line.contains("Then: Plan started"), "{line}");

    // Closing the case closes the episode the concern opened, from today.
    fed.system("social-care")
        .post(
            &format!("/v1/concerns/{id}/steps"),
            &json!({"step": "case_closed", "summary": "Support in place; case closed."}),
        )
        .await
        .expect(200);
    let records = fed.system("social-care").records(&social_care_id).await;
    let episode = records
        .iter()
        .find(|r| r["source_system_id"] == format!("concern:{id}:episode").as_str())
        .unwrap_or_else(|| panic!("the episode: {records:#?}"));
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        .to_string();
    assert_eq!(episode["effective_to"], today.as_str(), "{episode:#}");
    assert_eq!(episode["details"]["closure_date"], today.as_str());
    assert_eq!(episode["details"]["closure_reason"], "RC7");
    assert_eq!(episode["details"]["referral_date"], received_on.as_str());

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
    // No further action keeps it a contact: neither authority holds the child.
    let theirs = fed
        .system("social-care-b")
        .get(&format!("/v1/concerns/{id}"))
        .await
        .expect(200);
    assert_eq!(theirs["status"], "decided");
    assert!(theirs.get("local_id").is_none(), "{theirs:#}");
    let upn = theirs["child"]["identifiers"]["upn"].clone();
    for node in ["social-care", "social-care-b"] {
        let token = fed.token(schemas::PractitionerRole::SocialWorker, node);
        let found = fed
            .node_match(
                node,
                &token,
                SAFEGUARDING,
                &json!({"identifiers": {"upn": upn}}),
            )
            .await;
        assert_ne!(found.json()["outcome"], "held", "{node}: {}", found.text);
    }
    // The school's chronology has the concern with the outcome it heard last.
    let dsl = fed.token(
        schemas::PractitionerRole::DesignatedSafeguardingLead,
        "school-a",
    );
    let view = view_by_upn(&fed, &dsl, &upn).await;
    let line = view["chronology"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["category"] == "concern"
                && e["impact"]
                    .as_str()
                    .is_some_and(|i| i.contains("No further action"))
        })
        .unwrap_or_else(|| panic!("the concern's outcome in the chronology: {view:#}"));
    assert_eq!(line["agency_id"], "school-a");
    let record = section_record(&view, "school-a", "concern");
    assert_eq!(
        record["details"]["front_door"], "social-care-b",
        "{record:#}"
    );
    assert_eq!(record["details"]["decision"], "no_further_action");
    assert!(
        !view["chronology"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["agency_id"] == "social-care-b" || e["agency_id"] == "social-care"),
        "{view:#}"
    );
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
    let accepted = raise_to_social_care(&fed, &local("school-a")).await;
    let items = received(&fed, "social-care", "").await;
    assert_eq!(items[0]["status"], "received");
    assert_eq!(items[0]["local_id"], local("social-care").as_str());
    assert!(received(&fed, "social-care-b", "").await.is_empty());

    // Received about its own child: social care's chronology has the concern at once,
    // undecided.
    let id = accepted["id"].as_str().unwrap().to_owned();
    let social_care = fed.system("social-care");
    let concern_record = |records: &[Value]| {
        records
            .iter()
            .find(|r| r["source_system_id"] == format!("concern:{id}").as_str())
            .cloned()
            .unwrap_or_else(|| panic!("the concern record: {records:#?}"))
    };
    let before = social_care.records(&local("social-care")).await;
    let record = concern_record(&before);
    assert_eq!(record["category"], "concern");
    assert_eq!(record["details"]["raised_by"], "school-a");
    assert!(record["details"].get("decision").is_none(), "{record:#}");
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        .to_string();
    let open_episode = |records: &[Value]| {
        records.iter().any(|r| {
            r["category"] == "child_in_need_episode"
                && r["effective_to"]
                    .as_str()
                    .is_none_or(|end| end >= today.as_str())
        })
    };
    let had_open_episode = open_episode(&before);

    // A section 47 enquiry: the enquiry is social care's own record from today, within
    // the child's open episode (a new episode only when none was open).
    social_care
        .post(
            &format!("/v1/concerns/{id}/decision"),
            &json!({"decision": "section_47", "decided_by": "Front door team manager",
                    "duty_line": "01632 960150"}),
        )
        .await
        .expect(200);
    let after = social_care.records(&local("social-care")).await;
    let enquiry = after
        .iter()
        .find(|r| r["source_system_id"] == format!("concern:{id}:s47").as_str())
        .unwrap_or_else(|| panic!("the enquiry: {after:#?}"));
    assert_eq!(enquiry["category"], "section_47_enquiry");
    assert_eq!(enquiry["effective_from"], today.as_str());
    let new_episode = after
        .iter()
        .any(|r| r["source_system_id"] == format!("concern:{id}:episode").as_str());
    assert_eq!(new_episode, !had_open_episode, "{after:#?}");
    assert!(open_episode(&after));
    assert_eq!(concern_record(&after)["details"]["decision"], "section_47");
    // The same child: no second child at social care.
    let decided = social_care
        .get(&format!("/v1/concerns/{id}"))
        .await
        .expect(200);
    assert_eq!(decided["local_id"], local("social-care").as_str());
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
    // The school's chronology says it never went.
    let records = school.records("NOWHERE-1").await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert!(
        records[0]["impact"]
            .as_str()
            .unwrap()
            .contains("Not delivered: call the front door"),
        "{records:#?}"
    );
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

/// The school knows a child's names, address and sex but no date of birth and no
/// identifier (a partial child); social care holds the same child complete. The concern
/// states what the school knows, and the front door that holds the child finds it.
#[tokio::test]
async fn a_concern_about_a_partial_child_finds_the_child_at_the_front_door() {
    let fed = federation().await;
    fed.store_partial_and_complete(("school-a", "SCH-PART-1"), ("social-care", "SC-PART-1"))
        .await;

    raise_to_social_care(&fed, "SCH-PART-1").await;
    let items = received(&fed, "social-care", "").await;
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["status"], "received", "{items:#?}");
    assert_eq!(items[0]["local_id"], "SC-PART-1");
    assert!(
        items[0]["child"]["demographics"]
            .get("date_of_birth")
            .is_none(),
        "the school stated no date of birth: {items:#?}"
    );
    fed.shutdown().await;
}
