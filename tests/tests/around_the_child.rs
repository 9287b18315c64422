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
