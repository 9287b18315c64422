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
    assert_eq!(claims.basis, Some(RecordCategory::Enrolment));
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
            "an override without a break-glass grant",
            dsl.clone(),
            BREAK_GLASS,
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

const BREAK_GLASS: &str = "purpose=safeguarding&legal_basis=safeguarding_override&reason=child%20disclosed%20harm%20at%20breakfast%20club";

#[tokio::test]
async fn break_glass_is_flagged_alerted_in_the_access_report_and_limited_per_day() {
    let fed = spawn_federation(schools_and_social_care()).await.unwrap();
    let child = cp_child_at(&fed, "school-b");
    let dsl = fed.dsl_token();
    let reference = fed.reference_for(&dsl, child, BREAK_GLASS).await;

    // Without a reason: 400 naming `reason`, and nothing counted.
    let problem = fed
        .view(
            &dsl,
            &reference,
            "purpose=safeguarding&legal_basis=safeguarding_override",
        )
        .await
        .expect_any_problem(400);
    assert_eq!(problem["errors"][0]["field"], "reason", "{problem}");

    // With one: what policy grants, flagged.
    let view = fed.view(&dsl, &reference, BREAK_GLASS).await.expect(200);
    assert_eq!(view["break_glass"], true, "{view}");
    let social_care = section(&view, "social-care");
    assert_eq!(social_care["status"], "ok", "{social_care}");
    assert_eq!(social_care["override_used"], true);
    assert_eq!(
        category(&social_care["disclosure"], "child_protection_plan")["level"],
        "full"
    );

    // The holding agency's inbox has the alert, naming who, from where and why.
    let inbox = fed
        .system("social-care")
        .get("/v1/notifications/inbox")
        .await
        .expect(200);
    let alerts: Vec<&Value> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["event_type"] == "break_glass")
        .collect();
    assert_eq!(alerts.len(), 1, "{inbox}");
    let alert = alerts[0];
    assert_eq!(alert["sender"], "school-a");
    let impact = alert["impact"].as_str().unwrap();
    assert!(
        impact.contains("Northfield Primary School")
            && impact.contains("child disclosed harm at breakfast club"),
        "{impact}"
    );
    let held = child
        .holdings
        .iter()
        .find(|h| h.node == "social-care")
        .unwrap();
    assert_eq!(alert["local_id"], held.local_id);

    // Both audits: the grant at school A, the flagged disclosure at social care.
    let actions = |node: &str| -> Vec<(String, String)> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            action: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut conn = fed.database(node);
        diesel::sql_query("SELECT action, detail FROM audit_log ORDER BY seq")
            .load::<Row>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| (r.action, r.detail))
            .collect()
    };
    assert_eq!(
        actions("school-a")
            .iter()
            .filter(|(a, _)| a == "break_glass")
            .count(),
        1
    );
    assert!(
        actions("social-care")
            .iter()
            .any(|(a, d)| a == "disclosure" && d.contains("\"break_glass\":true")),
    );

    // The child's access report names it.
    let sw = fed.token(SocialWorker, "social-care");
    let sw_reference = fed.reference_for(&sw, child, SAFEGUARDING).await;
    let report = fed
        .gateway_get(&sw, &format!("/v1/children/{sw_reference}/access-report"))
        .await
        .expect(200);
    let entry = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["break_glass"] == true)
        .unwrap_or_else(|| panic!("no break-glass entry in {report}"));
    assert!(
        entry["sentence"].as_str().unwrap().contains("break-glass"),
        "{entry}"
    );

    // Five a day (one per view, however many agencies answer); the sixth is refused.
    for _ in 2..=5 {
        fed.view(&dsl, &reference, BREAK_GLASS).await.expect(200);
    }
    let refused = fed
        .view(&dsl, &reference, BREAK_GLASS)
        .await
        .expect_problem(429, "break-glass-limit");
    assert!(
        refused["detail"].as_str().unwrap().contains("5 of 5"),
        "{refused}"
    );
    // Another DSL of the same school has their own five.
    let colleague = fed
        .files
        .token(
            DesignatedSafeguardingLead,
            "school-a",
            "another-dsl.school-a",
            600,
        )
        .unwrap();
    let theirs = fed.reference_for(&colleague, child, BREAK_GLASS).await;
    fed.view(&colleague, &theirs, BREAK_GLASS).await.expect(200);

    // A practitioner with a relationship using an override needs no break-glass.
    let at_school_b = fed.token(DesignatedSafeguardingLead, "school-b");
    let related = fed.reference_for(&at_school_b, child, BREAK_GLASS).await;
    let view = fed
        .view(&at_school_b, &related, BREAK_GLASS)
        .await
        .expect(200);
    assert_eq!(view.get("break_glass"), None, "{view}");
    fed.shutdown().await;
}

/// Issue 20: a break-glass "raises an alert at once to the holding agency's data
/// protection officer". With `[notifications] dpo_webhook` set, the holding node pushes
/// the alert to the DPO's own system, signed (Standard Webhooks), from a durable queue:
/// refused once, it is sent again, and the receiver can check the signature.
#[tokio::test]
async fn a_break_glass_alert_reaches_the_data_protection_officers_system_signed_and_retried() {
    let mut fed = spawn_federation(schools_and_social_care()).await.unwrap();
    let (url, received, receiver) = federation_tests::webhook::receiver(1).await;
    let secret = trust::webhook::WebhookSecret::generate();
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("dpo.secret");
    std::fs::write(&secret_file, &secret).unwrap();
    fed.stop_node("social-care").await;
    let dpo_url = url.clone();
    fed.restart_node_with("social-care", move |settings| {
        settings.notifications.dpo_webhook = Some(agency_node::notifications::DpoWebhook {
            url: dpo_url,
            secret_file,
        });
    })
    .await
    .unwrap();

    let child = cp_child_at(&fed, "school-b");
    let dsl = fed.dsl_token();
    let reference = fed.reference_for(&dsl, child, BREAK_GLASS).await;
    let view = fed.view(&dsl, &reference, BREAK_GLASS).await.expect(200);
    assert_eq!(view["break_glass"], true, "{view}");

    // Refused once, then delivered.
    federation_tests::webhook::wait_for_deliveries(
        &received,
        2,
        std::time::Duration::from_secs(30),
    )
    .await;
    let deliveries = received.lock().unwrap().clone();
    let key = trust::webhook::WebhookSecret::parse(&secret).unwrap();
    let (id, timestamp, signature, body) = &deliveries[1];
    key.verify(
        id.as_deref(),
        timestamp.as_deref(),
        signature.as_deref(),
        body,
    )
    .expect("the DPO's system can check the alert is the node's");
    assert_eq!(
        deliveries[0].0, deliveries[1].0,
        "the same alert, sent again"
    );
    // Another secret does not verify it: the signature is over this body with this key.
    let other =
        trust::webhook::WebhookSecret::parse(&trust::webhook::WebhookSecret::generate()).unwrap();
    assert!(
        other
            .verify(
                id.as_deref(),
                timestamp.as_deref(),
                signature.as_deref(),
                body
            )
            .is_err()
    );
    let alert: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(alert["type"], "break_glass", "{alert}");
    assert_eq!(alert["agency_id"], "social-care");
    assert_eq!(alert["details"]["agency"], "school-a", "{alert}");
    assert_eq!(
        alert["details"]["reason"], "child disclosed harm at breakfast club",
        "{alert}"
    );
    let held = child
        .holdings
        .iter()
        .find(|h| h.node == "social-care")
        .unwrap();
    assert_eq!(alert["local_id"], held.local_id.as_str(), "{alert}");
    // The same alert is in the node's own inbox, under the same id.
    let inbox = fed
        .system("social-care")
        .get("/v1/notifications/inbox")
        .await
        .expect(200);
    assert!(
        inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["event_type"] == "break_glass" && i["id"] == alert["id"]),
        "{inbox}"
    );
    // Delivered once accepted: the queue says so, and nothing more is sent.
    let mut conn = fed.database("social-care");
    let queued = agency_node::db::dpo_alerts::list(&mut conn, 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].delivered_at.is_some(), "{queued:?}");
    assert_eq!(queued[0].attempts, 2);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(received.lock().unwrap().len(), 2);
    receiver.stop(false).await;
    fed.shutdown().await;
}

#[tokio::test]
async fn the_virtual_school_head_sees_their_cohorts_education_and_nothing_of_other_children() {
    let fed = spawn_federation(Options::nodes(
        &["school-a", "school-b", "social-care", "virtual-school"],
        300,
    ))
    .await
    .unwrap();
    let head = fed.token(
        schemas::PractitionerRole::VirtualSchoolHead,
        "virtual-school",
    );
    const EDUCATION: &str = "purpose=education_support&legal_basis=public_task";
    let school_of = |c: &SyntheticChild| c.holdings[0].node;

    // A looked-after child: in the virtual school's cohort.
    let cohort = fed
        .children
        .iter()
        .find(|c| c.story.contains("looked after"))
        .unwrap();
    assert!(cohort.agencies().contains(&"virtual-school"));
    let reference = fed.reference_for(&head, cohort, EDUCATION).await;
    let view = fed.view(&head, &reference, EDUCATION).await.expect(200);
    let school = section(&view, school_of(cohort));
    assert_eq!(school["status"], "ok", "{school}");
    assert_eq!(
        category(&school["disclosure"], "attendance")["level"],
        "full"
    );
    assert!(
        school["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["category"] == "attendance" && r["details"]["sessions_possible"].is_number()),
        "{school}"
    );
    let own = section(&view, "virtual-school");
    assert_eq!(own["status"], "ok", "{own}");

    // A child outside the cohort: the school says only that it knows them.
    let outside = fed.children.iter().find(|c| !c.in_need).unwrap();
    assert!(!outside.agencies().contains(&"virtual-school"));
    let reference = fed.reference_for(&head, outside, EDUCATION).await;
    let view = fed.view(&head, &reference, EDUCATION).await.expect(200);
    let school = section(&view, school_of(outside));
    assert_eq!(school["status"], "withheld", "{school}");
    assert!(school["records"].as_array().unwrap().is_empty());
    assert_eq!(
        category(&school["disclosure"], "attendance")["withheld"],
        "no_relationship"
    );
    assert!(view["chronology"].as_array().unwrap().is_empty(), "{view}");
    fed.shutdown().await;
}

/// Polls a node's inbox until an item satisfies `found`, or gives up after 30 seconds.
async fn inbox_item(
    fed: &TestFederation,
    node: &str,
    found: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        let inbox = fed
            .system(node)
            .get("/v1/notifications/inbox")
            .await
            .expect(200);
        if let Some(item) = inbox["items"].as_array().unwrap().iter().find(|i| found(i)) {
            return Some(item.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    None
}

#[tokio::test]
async fn after_a_school_move_encompass_reaches_only_the_new_school_and_the_old_one_hears_of_the_move_once()
 {
    let fed = spawn_federation(Options::nodes(&["school-a", "school-b", "police"], 300))
        .await
        .unwrap();
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"police") && a.contains(&"school-a") && !a.contains(&"school-b")
        })
        .unwrap();
    let at = |node: &str| child.holdings.iter().find(|h| h.node == node).unwrap();
    let today = Utc::now().date_naive();

    // The child leaves school A three days ago and joins school B two days ago.
    let mut left = at("school-a")
        .records
        .iter()
        .find(|r| r.category == RecordCategory::Enrolment && r.effective_to.is_none())
        .cloned()
        .unwrap();
    left.effective_to = Some(today - Duration::days(3));
    fed.system("school-a")
        .store_record(
            &at("school-a").local_id,
            &serde_json::to_value(&left).unwrap(),
        )
        .await;
    let school_b = fed.system("school-b");
    school_b
        .store_child(
            "RVA-JOINER-1",
            &serde_json::to_value(&at("school-a").child).unwrap(),
        )
        .await;
    school_b
        .store_record(
            "RVA-JOINER-1",
            &json!({"source_system_id": "RVA-ENROL-JOINER-1", "category": "enrolment",
                "effective_from": today - Duration::days(2),
                "impact": "Joined Riverside Academy mid-year",
                "details": {"urn": "999102", "school_name": "Riverside Academy", "year_group": 7}}),
        )
        .await;

    // School A, within its handover window, hears where the child went.
    let moved = inbox_item(&fed, "school-a", |i| i["event_type"] == "school_move")
        .await
        .expect("school A is told of the move");
    assert_eq!(moved["sender"], "school-b", "{moved}");

    // Then police attend an incident: the notice goes to school B only.
    fed.system("police")
        .store_record(
            &at("police").local_id,
            &json!({"source_system_id": "POL-ENC-AFTER-MOVE", "category": "encompass_notification",
                "effective_from": today,
                "impact": "Police attended a domestic incident at home last night; the child was present.",
                "details": {"police_reference": "ZZ/00077/26",
                    "incident_at": (Utc::now() - Duration::hours(3)).to_rfc3339(),
                    "child_present": true}}),
        )
        .await;
    let notice = inbox_item(&fed, "school-b", |i| {
        i["event_type"] == "encompass_notification"
    })
    .await
    .expect("school B, where the child is on roll, gets the notice");
    assert_eq!(notice["local_id"], "RVA-JOINER-1");
    let police = fed.system("police");
    let outbox = police.get("/v1/notifications/outbox").await.expect(200);
    let event = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["event_type"] == "encompass_notification")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // School B's inbox may have it a moment before the police outbox records the
    // gateway's answer: wait for the outbox to say where it went.
    let mut routed = Value::Null;
    for _ in 0..100 {
        routed = police
            .get(&format!("/v1/notifications/outbox/{event}"))
            .await
            .expect(200);
        if routed["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let recipients: Vec<&str> = routed["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["agency_id"].as_str().unwrap())
        .collect();
    assert_eq!(recipients, ["school-b"], "{routed}");
    let school_a = fed
        .system("school-a")
        .get("/v1/notifications/inbox")
        .await
        .expect(200);
    assert!(
        school_a["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["event_type"] != "encompass_notification"),
        "{school_a}"
    );
    fed.shutdown().await;
}

/// Issue 20: "an Encompass notice goes to the school(s) where the child is enrolled now,
/// and to the named school when the record names one. It never goes to a school the child
/// has left." The named school takes it before the child is on its roll (the admission
/// starts next week); a named school the child has left does not.
#[tokio::test]
async fn encompass_reaches_the_named_school_before_the_child_is_on_its_roll_but_never_one_they_left()
 {
    let fed = spawn_federation(Options::nodes(&["school-a", "school-b", "police"], 300))
        .await
        .unwrap();
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"police") && a.contains(&"school-a") && !a.contains(&"school-b")
        })
        .unwrap();
    let at = |node: &str| child.holdings.iter().find(|h| h.node == node).unwrap();
    let today = Utc::now().date_naive();

    // School B knows the child is coming: admitted from next week, not on roll yet.
    let school_b = fed.system("school-b");
    school_b
        .store_child(
            "RVA-JOINER-2",
            &serde_json::to_value(&at("school-a").child).unwrap(),
        )
        .await;
    school_b
        .store_record(
            "RVA-JOINER-2",
            &json!({"source_system_id": "RVA-ENROL-JOINER-2", "category": "enrolment",
                "effective_from": today + Duration::days(7),
                "impact": "Joins Riverside Academy next week",
                "details": {"urn": "999102", "school_name": "Riverside Academy", "year_group": 7}}),
        )
        .await;
    let incident = |source: &str, urn: &str, reference: &str| {
        json!({"source_system_id": source, "category": "encompass_notification",
            "effective_from": today,
            "impact": "Police attended a domestic incident at home last night; the child was present.",
            "details": {"police_reference": reference, "school_to_inform": urn,
                "incident_at": (Utc::now() - Duration::hours(3)).to_rfc3339(),
                "child_present": true}})
    };

    // The police name school B: it takes the notice although the child is not on its
    // roll yet; school A, where the child is on roll today, takes it too.
    fed.system("police")
        .store_record(
            &at("police").local_id,
            &incident("POL-ENC-NAMED-1", "999102", "ZZ/00101/26"),
        )
        .await;
    let notice = inbox_item(&fed, "school-b", |i| {
        i["event_type"] == "encompass_notification"
    })
    .await
    .expect("the named school gets the notice before the child is on its roll");
    assert_eq!(notice["local_id"], "RVA-JOINER-2");
    assert!(notice["deadline"].is_string(), "{notice}");
    let first = recipients_of_new_event(&fed, &[]).await;
    assert_eq!(first, ["school-a", "school-b"]);

    // A record that names no school reaches only the school the child is on roll at:
    // school B's future admission is not an involvement on its own.
    let police = fed.system("police");
    let before: Vec<String> = police.get("/v1/notifications/outbox").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let mut unnamed = incident("POL-ENC-NAMED-2", "999102", "ZZ/00102/26");
    unnamed["details"]
        .as_object_mut()
        .unwrap()
        .remove("school_to_inform");
    police.store_record(&at("police").local_id, &unnamed).await;
    let recipients = recipients_of_new_event(&fed, &before).await;
    assert_eq!(recipients, ["school-a"]);

    // The child leaves school A; a record that names school A does not reach it.
    let mut left = at("school-a")
        .records
        .iter()
        .find(|r| r.category == RecordCategory::Enrolment && r.effective_to.is_none())
        .cloned()
        .unwrap();
    left.effective_to = Some(today - Duration::days(3));
    fed.system("school-a")
        .store_record(
            &at("school-a").local_id,
            &serde_json::to_value(&left).unwrap(),
        )
        .await;
    let before: Vec<String> = police.get("/v1/notifications/outbox").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    police
        .store_record(
            &at("police").local_id,
            &incident("POL-ENC-NAMED-3", "999101", "ZZ/00103/26"),
        )
        .await;
    let recipients = recipients_of_new_event(&fed, &before).await;
    assert!(recipients.is_empty(), "{recipients:?}");
    let school_a = fed
        .system("school-a")
        .get("/v1/notifications/inbox")
        .await
        .expect(200);
    assert!(
        school_a["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["impact"]
                .as_str()
                .unwrap_or_default()
                .contains("ZZ/00103/26")
                && i["details"]["police_reference"] != "ZZ/00103/26"),
        "{school_a}"
    );
    fed.shutdown().await;
}

/// The Encompass event the police raised that is not in `before`, once routed: the
/// agencies that took it.
async fn recipients_of_new_event(fed: &TestFederation, before: &[String]) -> Vec<String> {
    let police = fed.system("police");
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        let outbox = police.get("/v1/notifications/outbox").await.expect(200);
        if let Some(event) = outbox["items"].as_array().unwrap().iter().find(|i| {
            i["event_type"] == "encompass_notification"
                && !before.iter().any(|b| i["id"] == b.as_str())
                && i["status"] == "delivered"
        }) {
            let mut recipients: Vec<String> = event["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["agency_id"].as_str().unwrap().to_owned())
                .collect();
            recipients.sort();
            return recipients;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the new Encompass event was not routed");
}

#[tokio::test]
async fn key_contacts_come_only_from_agencies_that_work_with_the_child_now() {
    let fed = spawn_federation(schools_and_social_care()).await.unwrap();
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"school-a")
                && a.contains(&"social-care")
                && c.holdings[0]
                    .records
                    .iter()
                    .any(|r| r.category == RecordCategory::TrustedAdult)
        })
        .unwrap();
    let sw = fed.token(SocialWorker, "social-care");
    let contacts_from = |view: &Value, agency: &str| -> usize {
        view["key_contacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["agency_id"] == agency)
            .count()
    };
    let reference = fed.reference_for(&sw, child, SAFEGUARDING).await;
    let before = fed.view(&sw, &reference, SAFEGUARDING).await.expect(200);
    assert!(
        contacts_from(&before, "school-a") > 0,
        "{}",
        before["key_contacts"]
    );

    // The child left school A three days ago (within its handover window, so its records
    // still show) and joined school B.
    let today = Utc::now().date_naive();
    let mut left = child.holdings[0]
        .records
        .iter()
        .find(|r| r.category == RecordCategory::Enrolment && r.effective_to.is_none())
        .cloned()
        .unwrap();
    left.effective_to = Some(today - Duration::days(3));
    fed.system("school-a")
        .store_record(
            &child.holdings[0].local_id,
            &serde_json::to_value(&left).unwrap(),
        )
        .await;
    let school_b = fed.system("school-b");
    school_b
        .store_child(
            "RVA-JOINER-2",
            &serde_json::to_value(&child.holdings[0].child).unwrap(),
        )
        .await;
    school_b
        .store_record(
            "RVA-JOINER-2",
            &json!({"source_system_id": "RVA-ENROL-JOINER-2", "category": "enrolment",
                "effective_from": today - Duration::days(2),
                "impact": "Joined Riverside Academy mid-year",
                "details": {"urn": "999102", "school_name": "Riverside Academy", "year_group": 7}}),
        )
        .await;

    let reference = fed.reference_for(&sw, child, SAFEGUARDING).await;
    let after = fed.view(&sw, &reference, SAFEGUARDING).await.expect(200);
    assert_eq!(section(&after, "school-a")["status"], "ok");
    assert_eq!(
        contacts_from(&after, "school-a"),
        0,
        "{}",
        after["key_contacts"]
    );
    assert!(
        contacts_from(&after, "school-b") > 0,
        "{}",
        after["key_contacts"]
    );
    fed.shutdown().await;
}
