//! Legitimate relationships: a practitioner sees more than `existence` of a child at
//! another agency only while their own agency works with the child, as their agency's
//! node asserts (signed) and each disclosing node checks. Forged, expired, borrowed or
//! absent assertions get nothing more than `existence`.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agency_node::relationship::Assertion;
use chrono::{Duration, Utc};
use federation::seed::SyntheticChild;
use federation_tests::{Options, SAFEGUARDING, TestFederation, query_for, spawn_federation};
use schemas::PractitionerRole::{DesignatedSafeguardingLead, SocialWorker};
use schemas::RecordCategory;
use serde_json::{Value, json};

/// (case, practitioner token, context, match token, assertion)
type Case = (
    &'static str,
    String,
    &'static str,
    Option<String>,
    Option<String>,
);

fn schools_and_social_care() -> Options {
    Options::nodes(&["school-a", "school-b", "social-care"], 300)
}

/// A child on a child protection plan who attends school `school` only.
fn cp_child_at<'a>(fed: &'a TestFederation, school: &str) -> &'a SyntheticChild {
    fed.children
        .iter()
        .find(|c| {
            let agencies = c.agencies();
            c.story.contains("child protection plan") && agencies.contains(&school)
        })
        .expect("a child on a child protection plan at that school")
}

fn category<'a>(disclosure: &'a Value, name: &str) -> &'a Value {
    disclosure
        .as_array()
        .and_then(|d| d.iter().find(|c| c["category"] == name))
        .unwrap_or_else(|| panic!("no {name} in {disclosure}"))
}

fn section<'a>(view: &'a Value, agency: &str) -> &'a Value {
    view["sections"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["agency_id"] == agency))
        .unwrap_or_else(|| panic!("no section of {agency} in {view}"))
}

/// The social care section of the DSL's view of the child, after a fresh search.
async fn social_care_section(fed: &TestFederation, token: &str, child: &SyntheticChild) -> Value {
    let reference = fed.reference_for(token, child, SAFEGUARDING).await;
    let view = fed.view(token, &reference, SAFEGUARDING).await.expect(200);
    section(&view, "social-care").clone()
}

/// Capped at `existence` with the contact route, saying why, nothing read.
#[track_caller]
fn expect_existence_only(section: &Value, when: &str) {
    assert_eq!(section["status"], "withheld", "{when}: {section}");
    assert!(
        section["records"].as_array().unwrap().is_empty(),
        "{when}: {section}"
    );
    assert!(section["contact"]["route"].is_string(), "{when}: {section}");
    let cp = category(&section["disclosure"], "child_protection_plan");
    assert_eq!(cp["level"], "existence", "{when}: {section}");
    assert_eq!(cp["withheld"], "no_relationship", "{when}: {section}");
}

fn enrolment(from: chrono::NaiveDate, to: Option<chrono::NaiveDate>) -> Value {
    let mut record = json!({
        "source_system_id": "NPS-ENROL-TRANSFER-1",
        "category": "enrolment",
        "effective_from": from,
        "impact": "On roll at Northfield Primary School",
        "details": {"urn": "999101", "school_name": "Northfield Primary School", "year_group": 5}
    });
    if let Some(to) = to {
        record["effective_to"] = json!(to);
    }
    record
}

#[tokio::test]
async fn a_dsl_sees_another_schools_pupil_only_while_their_school_holds_the_child() {
    let fed = spawn_federation(schools_and_social_care()).await.unwrap();
    let child = cp_child_at(&fed, "school-b");
    assert!(!child.agencies().contains(&"school-a"));
    let dsl = fed.dsl_token();

    // Before: school A has nothing to do with the child.
    let before = social_care_section(&fed, &dsl, child).await;
    expect_existence_only(&before, "not on roll");

    // The child joins school A: on roll from last week.
    let today = Utc::now().date_naive();
    let system = fed.system("school-a");
    let held = child
        .holdings
        .iter()
        .find(|h| h.node == "school-b")
        .unwrap();
    system
        .store_child(
            "NPS-TRANSFER-1",
            &serde_json::to_value(&held.child).unwrap(),
        )
        .await;
    system
        .store_record(
            "NPS-TRANSFER-1",
            &enrolment(today - Duration::days(7), None),
        )
        .await;
    let on_roll = social_care_section(&fed, &dsl, child).await;
    assert_eq!(on_roll["status"], "ok", "{on_roll}");
    assert_eq!(on_roll["relationship"], Value::Null, "{on_roll}");
    let cp = category(&on_roll["disclosure"], "child_protection_plan");
    assert_eq!(cp["level"], "full", "{on_roll}");
    assert!(
        on_roll["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["category"] == "child_protection_plan" && r["details"].is_object()),
        "{on_roll}"
    );

    // Left within the 30-day handover window: still related.
    system
        .store_record(
            "NPS-TRANSFER-1",
            &enrolment(today - Duration::days(60), Some(today - Duration::days(10))),
        )
        .await;
    let handover = social_care_section(&fed, &dsl, child).await;
    assert_eq!(handover["status"], "ok", "{handover}");

    // Left 40 days ago: back to existence.
    system
        .store_record(
            "NPS-TRANSFER-1",
            &enrolment(today - Duration::days(90), Some(today - Duration::days(40))),
        )
        .await;
    let left = social_care_section(&fed, &dsl, child).await;
    expect_existence_only(&left, "left beyond the handover window");

    // The social care node's audit says why.
    let audit: Vec<String> = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut conn = fed.database("social-care");
        diesel::sql_query("SELECT detail FROM audit_log WHERE action = 'disclosure'")
            .load::<Row>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.detail)
            .collect()
    };
    assert!(
        audit
            .iter()
            .any(|d| d.contains("asserted by school-a (enrolment)")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|d| d.contains("none: no assertion was sent")),
        "{audit:?}"
    );
    fed.shutdown().await;
}

/// School A's signing key, as only school A's node holds it.
fn school_a_key(fed: &TestFederation) -> trust::signature::SigningKey {
    trust::signature::SigningKey::load(&fed.files.root.join("secrets/school-a.signing-key"))
        .unwrap()
}

/// What an assertion says, read from its payload.
fn payload(assertion: &str) -> Assertion {
    use base64::Engine;
    let body = assertion
        .strip_prefix("ra1.")
        .and_then(|r| r.split_once('.'))
        .unwrap()
        .0;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn forged_expired_or_borrowed_assertions_disclose_no_more_than_existence() {
    let fed = spawn_federation(schools_and_social_care()).await.unwrap();
    let child = cp_child_at(&fed, "school-a");
    let other = fed
        .children
        .iter()
        .find(|c| {
            c.index != child.index
                && c.agencies().contains(&"school-a")
                && c.agencies().contains(&"social-care")
        })
        .unwrap();
    let dsl = fed.dsl_token();
    let query = query_for(child);

    // The real thing: school A asserts, social care discloses what policy grants, and the
    // same assertion serves again while it lasts.
    let asserted = fed
        .node_match("school-a", &dsl, SAFEGUARDING, &query)
        .await
        .expect(200);
    let assertion = asserted["relationship"].as_str().unwrap().to_owned();
    let found = fed
        .node_match("social-care", &dsl, SAFEGUARDING, &query)
        .await
        .expect(200);
    let local_ref = found["local_ref"].as_str().unwrap().to_owned();
    let match_token = found["match_token"].as_str().unwrap().to_owned();
    assert!(
        found["relationship"].is_null(),
        "only the own agency asserts"
    );
    let read = |token: String, context: &'static str, m: Option<String>, a: Option<String>| {
        let fed = &fed;
        let local_ref = local_ref.clone();
        async move {
            fed.node_records_with(
                "social-care",
                &token,
                &local_ref,
                context,
                m.as_deref(),
                a.as_deref(),
            )
            .await
            .expect(200)
        }
    };
    for _ in 0..2 {
        let answer = read(
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            Some(assertion.clone()),
        )
        .await;
        assert_eq!(answer["relationship"], "asserted", "{answer}");
        assert_eq!(
            category(&answer["disclosure"], "child_protection_plan")["level"],
            "full"
        );
    }

    let claims = payload(&assertion);
    assert_eq!(claims.basis, RecordCategory::Enrolment);
    let key = school_a_key(&fed);
    let stranger = trust::signature::SigningKey::from_pem(
        &trust::signature::SigningKey::generate_pem().unwrap(),
    )
    .unwrap();
    let mut tampered = assertion.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    // The other child's search: a match token of another query.
    let other_found = fed
        .node_match("social-care", &dsl, SAFEGUARDING, &query_for(other))
        .await
        .expect(200);
    // Same agency and role, another person.
    let other_practitioner = {
        fed.files
            .token(
                DesignatedSafeguardingLead,
                "school-a",
                "another-dsl.school-a",
                600,
            )
            .unwrap()
    };
    let their_match = fed
        .node_match("social-care", &other_practitioner, SAFEGUARDING, &query)
        .await
        .expect(200)["match_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let cases: Vec<Case> = vec![
        (
            "no assertion",
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            None,
        ),
        (
            "no match token",
            dsl.clone(),
            SAFEGUARDING,
            None,
            Some(assertion.clone()),
        ),
        (
            "altered signature",
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            Some(tampered),
        ),
        (
            "signed by a key the directory does not list",
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            Some(claims.sign(&stranger)),
        ),
        (
            "expired",
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            Some(
                Assertion {
                    exp: Utc::now().timestamp() - 1,
                    ..claims.clone()
                }
                .sign(&key),
            ),
        ),
        (
            "for another purpose",
            dsl.clone(),
            "purpose=education_support&legal_basis=public_task",
            Some(match_token.clone()),
            Some(assertion.clone()),
        ),
        (
            "for another practitioner",
            other_practitioner.clone(),
            SAFEGUARDING,
            Some(their_match),
            Some(assertion.clone()),
        ),
        (
            "with another child's match",
            dsl.clone(),
            SAFEGUARDING,
            other_found["match_token"].as_str().map(str::to_owned),
            Some(assertion.clone()),
        ),
        (
            "claiming another agency",
            dsl.clone(),
            SAFEGUARDING,
            Some(match_token.clone()),
            Some(
                Assertion {
                    agency: schemas::AgencyId::parse("school-b").unwrap(),
                    ..claims.clone()
                }
                .sign(&key),
            ),
        ),
    ];
    for (case, token, context, m, a) in cases {
        let answer = read(token, context, m, a).await;
        assert_eq!(answer["relationship"], "none", "{case}: {answer}");
        let cp = category(&answer["disclosure"], "child_protection_plan");
        assert_eq!(cp["level"], "existence", "{case}: {answer}");
        assert_eq!(cp["withheld"], "no_relationship", "{case}: {answer}");
        assert!(
            answer["records"].as_array().unwrap().is_empty(),
            "{case}: {answer}"
        );
    }

    // A social worker at their own agency needs no assertion.
    let own = fed
        .node_records(
            "social-care",
            &fed.token(SocialWorker, "social-care"),
            &local_ref,
            SAFEGUARDING,
        )
        .await
        .expect(200);
    assert_eq!(own["relationship"], "own_agency", "{own}");
    fed.shutdown().await;
}
