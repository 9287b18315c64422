//! What the agencies do around a child, across a running federation: interventions and
//! their impact under the barrier they target, meetings and their decisions with owners,
//! the people around the child, and who decided about consent. Real TLS, real HTTP, real
//! SQLite (or PostgreSQL with `FEDERATION_TEST_DATABASE`).

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::scenario::child;
use federation_tests::{Options, SAFEGUARDING, TestFederation, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};

const EDUCATION_SUPPORT: &str = "purpose=education_support&legal_basis=public_task";
const LOCAL_ID: &str = "AROUND-1";

async fn federation() -> TestFederation {
    spawn_federation(Options::nodes(
        &["school-a", "social-care", "early-help"],
        10,
    ))
    .await
    .unwrap()
}

/// The synthetic child, known to each of these nodes under the same local id, and on
/// roll at school-a (the school's legitimate relationship with the child).
async fn known_to(fed: &TestFederation, nodes: &[&str]) {
    for node in nodes {
        fed.system(node).store_child(LOCAL_ID, &child()).await;
    }
    fed.system("school-a")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "MIS-ENR-1", "category": "enrolment",
                "effective_from": "2026-09-01", "impact": "On roll in Year 7",
                "details": {"urn": "999101", "school_name": "Northgate School", "year_group": 7}}),
        )
        .await;
}

/// The child's merged view for this practitioner in this context.
async fn view_as(fed: &TestFederation, token: &str, context: &str) -> Value {
    let query =
        json!({"identifiers": child()["identifiers"], "demographics": child()["demographics"]});
    let found = fed
        .gateway_post(token, &format!("/v1/children:search?{context}"), &query)
        .await
        .expect(200);
    let reference = found["reference"].as_str().unwrap().to_owned();
    fed.view(token, &reference, context).await.expect(200)
}

fn interventions<'a>(view: &'a Value, barrier: &str) -> &'a Vec<Value> {
    view["barriers"][barrier]["interventions"]
        .as_array()
        .unwrap_or_else(|| panic!("no interventions under {barrier}: {}", view["barriers"]))
}

fn by_id<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|i| i["source_system_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {list:?}"))
}

#[tokio::test]
async fn an_interventions_impact_shows_under_its_barrier_for_a_dsl_and_for_a_teacher() {
    let fed = federation().await;
    known_to(&fed, &["school-a", "early-help"]).await;
    fed.system("early-help")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "EH-INT-1", "category": "intervention",
                "effective_from": "2026-09-08", "effective_to": "2026-12-18",
                "impact": "Attendance support with the family: attendance improving",
                "details": {"intervention": "attendance_support", "barrier": "attendance",
                    "description": "Morning routine work at home after the parent's illness",
                    "review_date": "2026-11-27", "impact_at_review": "improved",
                    "evidence": "Attendance up from 81% to 92% since the plan started"}}),
        )
        .await;
    fed.system("school-a")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "MIS-INT-7", "category": "intervention",
                "effective_from": "2026-10-01",
                "impact": "Reading tutoring twice a week",
                "details": {"intervention": "tutoring", "barrier": "learning",
                    "review_date": "2026-12-10", "impact_at_review": "no_change",
                    "evidence": "Reading age unchanged at the half-term check"}}),
        )
        .await;

    for (who, token, context) in [
        (
            "DSL",
            fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a"),
            SAFEGUARDING,
        ),
        (
            "teacher",
            fed.token(PractitionerRole::Teacher, "school-a"),
            EDUCATION_SUPPORT,
        ),
    ] {
        let view = view_as(&fed, &token, context).await;
        // Early help's intervention reaches the school at summary: what was done and
        // what it achieved, never the description or the evidence.
        let attendance = interventions(&view, "attendance");
        assert_eq!(attendance.len(), 1, "{who}: {attendance:?}");
        let help = by_id(attendance, "EH-INT-1");
        assert_eq!(help["agency_id"], "early-help", "{who}");
        assert_eq!(help["intervention"], "attendance_support", "{who}");
        assert_eq!(help["impact_at_review"], "improved", "{who}");
        assert_eq!(help["review_date"], "2026-11-27", "{who}");
        assert_eq!(help["ended"], "2026-12-18", "{who}");
        assert_eq!(help["level"], "summary", "{who}");
        assert!(help.get("evidence").is_none(), "{who}: {help}");
        assert!(!view.to_string().contains("parent's illness"), "{who}");
        assert!(!view.to_string().contains("81% to 92%"), "{who}");
        // The school's own intervention, in full, under learning; none under the others.
        let learning = interventions(&view, "learning");
        let tutoring = by_id(learning, "MIS-INT-7");
        assert_eq!(tutoring["impact_at_review"], "no_change", "{who}");
        assert_eq!(tutoring["level"], "full", "{who}");
        assert_eq!(
            tutoring["evidence"], "Reading age unchanged at the half-term check",
            "{who}"
        );
        assert!(interventions(&view, "behaviour").is_empty(), "{who}");
        assert!(interventions(&view, "wellbeing").is_empty(), "{who}");
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn meeting_decisions_reach_the_agencies_they_name_and_an_overdue_one_is_marked() {
    let fed = federation().await;
    known_to(&fed, &["school-a", "social-care"]).await;
    let today = chrono::Utc::now().date_naive();
    let in_a_month = (today + chrono::Duration::days(30)).to_string();
    fed.system("social-care")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "LCS-MTG-1", "category": "meeting",
                "effective_from": "2026-01-05",
                "impact": "Core group met: plan reviewed, actions agreed",
                "details": {"meeting_type": "core_group",
                    "invited": ["social-care", "school-a", "health"],
                    "attended": ["social-care", "school-a"],
                    "decisions": [
                        {"decision": "Daily check-in with the trusted adult", "owner": "school-a",
                         "due": "2026-01-19"},
                        {"decision": "Share the attendance plan with the family", "owner": "school-a",
                         "due": in_a_month},
                        {"decision": "Book the CAMHS assessment", "owner": "health",
                         "due": "2026-01-12", "done": true},
                        {"decision": "Visit at home weekly", "owner": "social-care",
                         "due": "2026-01-12"}],
                    "child_views": "They just have meetings. I want to be asked first.",
                    "child_participation": "through_practitioner",
                    "next_meeting": "2026-02-02"}}),
        )
        .await;

    // The school's DSL reads the meeting at summary: the school's own decisions only,
    // the overdue one marked and first, and not the child's words.
    let dsl = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let view = view_as(&fed, &dsl, SAFEGUARDING).await;
    let decisions = view["decisions"].as_array().unwrap();
    let owners: Vec<&str> = decisions
        .iter()
        .map(|d| d["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["school-a", "school-a"], "{decisions:?}");
    assert_eq!(
        decisions[0]["decision"],
        "Daily check-in with the trusted adult"
    );
    assert_eq!(decisions[0]["overdue"], true, "{decisions:?}");
    let school = view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agency_id"] == "school-a")
        .unwrap();
    assert_eq!(decisions[0]["owner_name"], school["agency_name"]);
    assert_eq!(decisions[0]["level"], "summary");
    assert_eq!(decisions[0]["meeting_type"], "core_group");
    assert_eq!(decisions[1]["due"], in_a_month);
    assert_eq!(decisions[1]["overdue"], false, "{decisions:?}");
    let text = view.to_string();
    assert!(!text.contains("CAMHS"), "another agency's decision leaked");
    assert!(
        !text.contains("Visit at home"),
        "another agency's decision leaked"
    );
    assert!(
        !text.contains("I want to be asked first"),
        "the child's views leaked"
    );

    // Social care's own worker reads the meeting in full: every decision with its owner,
    // the one done not overdue, the one past due and not done overdue.
    let worker = fed.token(PractitionerRole::SocialWorker, "social-care");
    let view = view_as(&fed, &worker, SAFEGUARDING).await;
    let decisions = view["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 4, "{decisions:?}");
    let by_owner = |owner: &str, due: &str| {
        decisions
            .iter()
            .find(|d| d["owner"] == owner && d["due"] == due)
            .unwrap_or_else(|| panic!("no {owner} decision due {due}: {decisions:?}"))
    };
    assert_eq!(by_owner("health", "2026-01-12")["overdue"], false);
    assert_eq!(by_owner("health", "2026-01-12")["done"], true);
    assert_eq!(by_owner("social-care", "2026-01-12")["overdue"], true);
    assert_eq!(by_owner("school-a", "2026-01-19")["overdue"], true);
    assert_eq!(by_owner("school-a", &in_a_month)["overdue"], false);
    assert_eq!(
        decisions[3]["overdue"], false,
        "overdue decisions come first"
    );
    assert!(view.to_string().contains("I want to be asked first"));
    fed.shutdown().await;
}

#[tokio::test]
async fn a_contact_restriction_is_visible_at_summary_level() {
    let fed = federation().await;
    known_to(&fed, &["school-a", "social-care"]).await;
    fed.system("social-care")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "LCS-PER-2", "category": "parent_carer",
                "effective_from": "2026-03-01",
                "impact": "Father: no contact with the child (court order)",
                "details": {"relationship": "father", "name": "R. Marsh-Idowu",
                    "parental_responsibility": true, "lives_with_child": false,
                    "contact_restrictions": [{"restriction": "No contact; not to collect from school",
                        "basis": "court_order", "until": "2099-06-30"}]}}),
        )
        .await;
    fed.system("social-care")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "LCS-PER-1", "category": "parent_carer",
                "effective_from": "2026-03-01", "impact": "Mother, with parental responsibility",
                "details": {"relationship": "mother", "parental_responsibility": true,
                    "lives_with_child": true}}),
        )
        .await;
    for (who, token, context) in [
        (
            "DSL",
            fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a"),
            SAFEGUARDING,
        ),
        (
            "teacher",
            fed.token(PractitionerRole::Teacher, "school-a"),
            EDUCATION_SUPPORT,
        ),
    ] {
        let view = view_as(&fed, &token, context).await;
        let people = view["people"].as_array().unwrap();
        assert_eq!(people.len(), 2, "{who}: {people:?}");
        // The restricted contact comes first, with the restriction and its basis.
        let father = &people[0];
        assert_eq!(father["relationship"], "father", "{who}: {people:?}");
        assert_eq!(father["level"], "summary", "{who}");
        assert_eq!(father["parental_responsibility"], true, "{who}");
        let restriction = &father["contact_restrictions"][0];
        assert_eq!(
            restriction["restriction"], "No contact; not to collect from school",
            "{who}"
        );
        assert_eq!(restriction["basis"], "court_order", "{who}");
        // The name stays at the node at summary.
        assert!(father.get("name").is_none(), "{who}: {father}");
        assert!(!view.to_string().contains("R. Marsh-Idowu"), "{who}");
        assert_eq!(people[1]["relationship"], "mother", "{who}");
        assert!(people[1].get("contact_restrictions").is_none(), "{who}");
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn consent_records_who_decided_and_the_childs_wishes_which_the_access_report_shows() {
    let fed = federation().await;
    known_to(&fed, &["school-a", "social-care"]).await;
    let social_care = fed.system("social-care");
    let path = format!("/v1/children/{LOCAL_ID}/consents");

    // A child deciding for themselves must have been judged competent to: refused, with
    // the field named, and nothing stored.
    let refused = social_care
        .post(
            &path,
            &json!({"category": "looked_after", "recipient_kind": "school", "state": "refused",
                "decided_on": "2026-10-01", "recorded_by": "sw.osei", "decided_by": "child",
                "child_wishes": "   "}),
        )
        .await
        .expect(400);
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["gillick_competent", "child_wishes"], "{refused}");

    // The parent decides; the child's own wishes are recorded beside the decision.
    let wishes =
        "I want my teacher to know so they understand when I'm tired. Not the whole class.";
    let stored = social_care
        .post(
            &path,
            &json!({"category": "looked_after", "recipient_kind": "school", "state": "given",
                "decided_on": "2026-10-02", "recorded_by": "sw.osei", "decided_by": "parent",
                "gillick_competent": false, "child_wishes": wishes}),
        )
        .await
        .expect(201);
    assert_eq!(stored["decided_by"], "parent", "{stored}");
    assert_eq!(stored["child_wishes"], wishes, "{stored}");
    // Later, judged competent, the child decides for themselves.
    social_care
        .post(
            &path,
            &json!({"category": "child_protection_plan", "recipient_kind": "school", "state": "refused",
                "decided_on": "2026-11-03", "recorded_by": "sw.osei", "decided_by": "child",
                "gillick_competent": true}),
        )
        .await
        .expect(201);

    let worker = fed.token(PractitionerRole::SocialWorker, "social-care");
    let query =
        json!({"identifiers": child()["identifiers"], "demographics": child()["demographics"]});
    let found = fed
        .gateway_post(
            &worker,
            &format!("/v1/children:search?{SAFEGUARDING}"),
            &query,
        )
        .await
        .expect(200);
    let reference = found["reference"].as_str().unwrap();
    let report = fed
        .gateway_get(&worker, &format!("/v1/children/{reference}/access-report"))
        .await
        .expect(200);
    let consents = report["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2, "{report}");
    // Newest first: the child's own decision, then the parent's with the child's words.
    assert_eq!(consents[0]["decided_by"], "child");
    assert!(
        consents[0]["sentence"]
            .as_str()
            .unwrap()
            .starts_with("On 3 November 2026, you said no"),
        "{}",
        consents[0]
    );
    assert_eq!(consents[1]["decided_by"], "parent");
    assert_eq!(consents[1]["your_wishes"], wishes);
    let sentence = consents[1]["sentence"].as_str().unwrap();
    assert!(sentence.contains("your parent said yes"), "{sentence}");
    assert!(sentence.contains(wishes), "{sentence}");
    fed.shutdown().await;
}

#[tokio::test]
async fn designated_teacher_and_mental_health_lead_are_key_contacts_and_a_young_carer_is_watched() {
    let fed = federation().await;
    known_to(&fed, &["school-a", "social-care"]).await;
    let school = fed.system("school-a");
    for record in [
        json!({"source_system_id": "MIS-DT-1", "category": "designated_teacher",
            "effective_from": "2026-09-01", "impact": "Designated teacher for children in care",
            "details": {"name": "Ms Farah", "role": "assistant head"}}),
        json!({"source_system_id": "MIS-MHL-1", "category": "senior_mental_health_lead",
            "effective_from": "2026-09-01", "impact": "Senior mental health lead",
            "details": {"name": "Mr Adeyemi", "role": "deputy head (pastoral)"}}),
        json!({"source_system_id": "MIS-YC-1", "category": "young_carer",
            "effective_from": "2026-09-15", "impact": "Young carer: cares for a parent; support in place",
            "details": {"cares_for": "mother (long-term illness)", "assessment_date": "2026-09-22",
                "assessment_outcome": "eligible for young carers' support",
                "support": ["young carers' group", "homework club"]}}),
    ] {
        school.store_record(LOCAL_ID, &record).await;
    }
    let contact = |view: &Value, role: &str| -> Value {
        view["key_contacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["role"] == role)
            .cloned()
            .unwrap_or_else(|| panic!("no {role} in {}", view["key_contacts"]))
    };
    // The school's own DSL: names and posts.
    let dsl = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let view = view_as(&fed, &dsl, SAFEGUARDING).await;
    let teacher = contact(&view, "designated_teacher");
    assert_eq!(teacher["name"], "Ms Farah");
    assert_eq!(teacher["team"], "assistant head");
    assert_eq!(
        contact(&view, "senior_mental_health_lead")["name"],
        "Mr Adeyemi"
    );
    let wellbeing = &view["barriers"]["wellbeing"];
    assert_eq!(wellbeing["signal"], "watch", "{wellbeing}");
    assert!(
        wellbeing["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["category"] == "young_carer"),
        "{wellbeing}"
    );
    // The child's allocated social worker (social care's relationship with the child)
    // sees them at summary: the role and the impact line, no name.
    fed.system("social-care")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "LCS-ASW-1", "category": "allocated_social_worker",
                "effective_from": "2026-05-01", "impact": "Allocated social worker",
                "details": {"worker": "D. Osei", "team": "Family Support"}}),
        )
        .await;
    let worker = fed.token(PractitionerRole::SocialWorker, "social-care");
    let view = view_as(&fed, &worker, SAFEGUARDING).await;
    let teacher = contact(&view, "designated_teacher");
    assert_eq!(teacher["agency_id"], "school-a");
    assert!(teacher.get("name").is_none(), "{teacher}");
    assert_eq!(teacher["note"], "Designated teacher for children in care");
    fed.shutdown().await;
}

/// The items of `node`'s inbox of `event_type`, once `count` have arrived (30 s at most).
async fn inbox_of(fed: &TestFederation, node: &str, event_type: &str, count: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let inbox = fed
            .system(node)
            .get("/v1/notifications/inbox")
            .await
            .expect(200);
        let items: Vec<Value> = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["event_type"] == event_type)
            .cloned()
            .collect();
        if items.len() >= count || started.elapsed() > std::time::Duration::from_secs(30) {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Social care's outbox events of `event_type`, once every one of them is delivered:
/// for each, its impact and the agencies that took it.
async fn routed(
    fed: &TestFederation,
    event_type: &str,
    count: usize,
) -> Vec<(String, Vec<String>)> {
    let started = std::time::Instant::now();
    loop {
        let outbox = fed
            .system("social-care")
            .get("/v1/notifications/outbox")
            .await
            .expect(200);
        let items: Vec<&Value> = outbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["event_type"] == event_type)
            .collect();
        if items.len() >= count && items.iter().all(|i| i["status"] == "delivered") {
            let mut routed: Vec<(String, Vec<String>)> = Vec::new();
            for item in items {
                let id = item["id"].as_str().unwrap();
                let event = fed
                    .system("social-care")
                    .get(&format!("/v1/notifications/outbox/{id}"))
                    .await
                    .expect(200);
                let mut to: Vec<String> = event["recipients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["agency_id"].as_str().unwrap().to_owned())
                    .collect();
                to.sort();
                routed.push((id.to_owned(), to));
            }
            return routed;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{event_type} events not all routed: {outbox}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Issue 25: "agencies with a relationship to the child receive `meeting_scheduled` and,
/// afterwards, the decisions that name them". Each decision goes to its owner only, as
/// the routing table says (`meeting_decision` is addressed); a meeting arranged for a
/// later date goes to the agencies that work with the child; a decision already sent is
/// not sent again when the minutes are updated; the overdue decision is marked in the view.
#[tokio::test]
async fn meeting_events_reach_the_agencies_that_work_with_the_child_and_each_decision_its_owner_only()
 {
    let fed = federation().await;
    // Early help knows the child but has no active involvement (no open team around
    // the family): it owns a decision all the same.
    known_to(&fed, &["school-a", "social-care", "early-help"]).await;
    let today = chrono::Utc::now().date_naive();
    let day = |days: i64| (today + chrono::Duration::days(days)).to_string();
    let mut minutes = json!({"source_system_id": "LCS-MTG-EVENTS-1", "category": "meeting",
        "effective_from": day(-2),
        "impact": "Core group met: plan reviewed, actions agreed",
        "details": {"meeting_type": "core_group",
            "invited": ["social-care", "school-a", "early-help"],
            "attended": ["social-care", "school-a"],
            "decisions": [
                {"decision": "Daily check-in with the trusted adult", "owner": "school-a",
                 "due": day(-1)},
                {"decision": "Offer a family support worker", "owner": "early-help",
                 "due": day(14)},
                {"decision": "Visit at home weekly", "owner": "social-care", "due": day(7)}],
            "child_views": "They just have meetings. I want to be asked first.",
            "child_participation": "through_practitioner"}});
    fed.system("social-care")
        .store_record(LOCAL_ID, &minutes)
        .await;

    // Each decision reached its owner, and only its owner; social care's own decision
    // went nowhere (an agency does not notify itself).
    let decisions = routed(&fed, "meeting_decision", 3).await;
    let mut recipients: Vec<Vec<String>> = decisions.iter().map(|(_, to)| to.clone()).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            vec![],
            vec!["early-help".to_owned()],
            vec!["school-a".to_owned()]
        ],
        "{decisions:?}"
    );
    let at_school = inbox_of(&fed, "school-a", "meeting_decision", 1).await;
    assert_eq!(at_school.len(), 1, "{at_school:?}");
    let impact = at_school[0]["impact"].as_str().unwrap();
    assert!(
        impact.contains("Daily check-in with the trusted adult"),
        "{impact}"
    );
    let at_early_help = inbox_of(&fed, "early-help", "meeting_decision", 1).await;
    assert_eq!(at_early_help.len(), 1, "{at_early_help:?}");
    assert!(
        at_early_help[0]["impact"]
            .as_str()
            .unwrap()
            .contains("Offer a family support worker")
    );
    for item in at_school.iter().chain(&at_early_help) {
        let text = item.to_string();
        assert!(
            !text.contains("Visit at home"),
            "another agency's decision: {text}"
        );
        assert!(!text.contains("asked first"), "the child's views: {text}");
    }
    assert!(!at_school[0].to_string().contains("family support worker"));
    // A meeting held already is not "scheduled".
    assert!(
        inbox_of(&fed, "school-a", "meeting_scheduled", 0)
            .await
            .is_empty()
    );

    // The minutes are updated with one more decision: only that one is sent.
    minutes["details"]["decisions"]
        .as_array_mut()
        .unwrap()
        .push(
            json!({"decision": "Share the attendance plan with the family",
            "owner": "school-a", "due": day(21)}),
        );
    fed.system("social-care")
        .store_record(LOCAL_ID, &minutes)
        .await;
    let decisions = routed(&fed, "meeting_decision", 4).await;
    assert_eq!(decisions.len(), 4, "{decisions:?}");
    let at_school = inbox_of(&fed, "school-a", "meeting_decision", 2).await;
    assert_eq!(at_school.len(), 2, "{at_school:?}");

    // The next review is arranged: the school, which works with the child, hears of it;
    // early help, which does not (yet), does not.
    fed.system("social-care")
        .store_record(
            LOCAL_ID,
            &json!({"source_system_id": "LCS-MTG-EVENTS-2", "category": "meeting",
                "effective_from": day(10),
                "impact": "Core group review arranged",
                "details": {"meeting_type": "core_group",
                    "invited": ["social-care", "school-a", "early-help"]}}),
        )
        .await;
    let scheduled = routed(&fed, "meeting_scheduled", 1).await;
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].1, ["school-a"], "{scheduled:?}");
    let at_school = inbox_of(&fed, "school-a", "meeting_scheduled", 1).await;
    assert_eq!(at_school.len(), 1);
    assert!(
        at_school[0]["impact"]
            .as_str()
            .unwrap()
            .contains("core group"),
        "{at_school:?}"
    );
    assert!(
        inbox_of(&fed, "early-help", "meeting_scheduled", 0)
            .await
            .is_empty()
    );

    // The view still marks the school's overdue decision.
    let dsl = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let view = view_as(&fed, &dsl, SAFEGUARDING).await;
    let overdue = view["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision"] == "Daily check-in with the trusted adult")
        .unwrap_or_else(|| panic!("{view}"));
    assert_eq!(overdue["overdue"], true, "{overdue}");
    fed.shutdown().await;
}
