//! Purpose-bound disclosure decided at each node: the sharing policy, consent, the
//! safeguarding override, answers indistinguishable from "not held", and the
//! tamper-evident audit.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::RunQueryDsl;
use federation::seed::SyntheticChild;
use federation_tests::{Call, Options, SAFEGUARDING, TestFederation, spawn_federation};
use schemas::PractitionerRole::{self, *};
use serde_json::{Value, json};

const PUBLIC_TASK: &str = "legal_basis=public_task";

fn social_care_only() -> Options {
    Options::nodes(&["social-care", "school-a", "school-b"], 300)
}

/// A child on a child protection plan who attends school A, so school A's staff have a
/// relationship with them (they are on its roll).
fn cp_child(fed: &TestFederation) -> &SyntheticChild {
    fed.children
        .iter()
        .find(|c| c.story.contains("child protection plan") && c.agencies().contains(&"school-a"))
        .expect("a child with a child protection plan at school A")
}

/// The agency a practitioner token is for (its `agency` claim).
fn token_agency(token: &str) -> String {
    use base64::Engine;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap();
    claims["agency"].as_str().unwrap().to_owned()
}

/// Gives the practitioner's agency an active involvement with the child, as its own
/// system would record one, when its node does not hold the child already.
async fn relate(fed: &TestFederation, agency: &str, child: &SyntheticChild) {
    if child.agencies().contains(&agency) || fed.node_url(agency).is_empty() {
        return;
    }
    let record = match agency {
        "health" => json!({"source_system_id": "REL-1", "category": "school_nurse_contact",
            "effective_from": "2026-11-20", "impact": "Seen by the school nurse",
            "details": {"reason": "wellbeing check"}}),
        "police" => json!({"source_system_id": "REL-1", "category": "encompass_notification",
            "effective_from": "2026-11-20", "impact": "Operation Encompass notification",
            "details": {"incident_at": "2026-11-20T21:10:00Z", "child_present": false,
                "police_reference": "CC-0000001"}}),
        "early-help" => json!({"source_system_id": "REL-1", "category": "team_around_the_family",
            "effective_from": "2026-11-20", "impact": "Team around the family meets monthly",
            "details": {"frequency_weeks": 4}}),
        other => panic!("no relationship recipe for {other}"),
    };
    let system = fed.system(agency);
    let held = &child.holdings[0].child;
    system
        .store_child("REL-CHILD-1", &serde_json::to_value(held).unwrap())
        .await;
    system.store_record("REL-CHILD-1", &record).await;
}

fn holding<'a>(child: &'a SyntheticChild, node: &str) -> &'a federation::seed::Holding {
    child.holdings.iter().find(|h| h.node == node).unwrap()
}

/// The node's reference for a child, found as the gateway would (by UPN), with a
/// requester that may see it.
async fn local_ref(fed: &TestFederation, node: &str, child: &SyntheticChild) -> String {
    let token = fed.token(SocialWorker, "social-care");
    let query = json!({"identifiers": {"upn": child.upn}});
    let answer = fed
        .node_match(node, &token, SAFEGUARDING, &query)
        .await
        .json();
    answer["local_ref"].as_str().expect("held").to_owned()
}

/// Reads the child's records at `node` as the gateway does after a search for the
/// [`cp_child`]: with the relationship assertion of the practitioner's own agency's
/// node and this node's match token of the same search, when they give them.
async fn read(
    fed: &TestFederation,
    node: &str,
    reference: &str,
    token: &str,
    query: &str,
) -> (u16, Value) {
    let search = federation_tests::query_for(cp_child(fed));
    let own = token_agency(token);
    let assertion = if fed.node_url(&own).is_empty() {
        None
    } else {
        fed.node_match(&own, token, query, &search).await.json()["relationship"]
            .as_str()
            .map(str::to_owned)
    };
    let match_token = fed.node_match(node, token, query, &search).await.json()["match_token"]
        .as_str()
        .map(str::to_owned);
    let answer = fed
        .node_records_with(
            node,
            token,
            reference,
            query,
            match_token.as_deref(),
            assertion.as_deref(),
        )
        .await;
    (answer.status, answer.json())
}

/// The social-care federation, and the social care node's reference for the child
/// with a child protection plan.
async fn cp_child_at_social_care() -> (TestFederation, String) {
    let fed = spawn_federation(social_care_only()).await.unwrap();
    let reference = local_ref(&fed, "social-care", cp_child(&fed)).await;
    (fed, reference)
}

/// Reads the child's records at the social care node.
async fn read_cp(fed: &TestFederation, reference: &str, token: &str, query: &str) -> (u16, Value) {
    read(fed, "social-care", reference, token, query).await
}

fn level(answer: &Value, category: &str) -> String {
    answer["disclosure"]
        .as_array()
        .and_then(|d| d.iter().find(|c| c["category"] == category))
        .map(|c| c["level"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "absent".into())
}

async fn record_consent(fed: &TestFederation, node: &str, local_id: &str, decision: Value) {
    fed.system(node)
        .post(&format!("/v1/children/{local_id}/consents"), &decision)
        .await
        .expect(201);
}

/// (role, agency, purpose, legal basis, expected status, expected level of the child
/// protection plan; `none` means withheld because consent was refused)
type CpCase<'a> = (PractitionerRole, &'a str, &'a str, &'a str, u16, &'a str);

/// Reads the child's records at the social care node for each case and checks the
/// status and the level of the child protection plan, naming the case on failure.
async fn expect_cp_levels(fed: &TestFederation, reference: &str, when: &str, cases: &[CpCase<'_>]) {
    for (role, agency, purpose, basis, status, expected) in cases {
        let case = format!("{when}: {role:?} {purpose} {basis}");
        let token = fed.token(*role, agency);
        let (got, answer) = read_cp(
            fed,
            reference,
            &token,
            &format!("purpose={purpose}&{basis}"),
        )
        .await;
        assert_eq!(got, *status, "{case}: {answer}");
        if *status == 200 {
            assert_eq!(level(&answer, "child_protection_plan"), *expected, "{case}");
        }
        if *expected == "none" {
            let cp = answer["disclosure"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["category"] == "child_protection_plan")
                .unwrap();
            assert_eq!(cp["withheld"], "consent_refused", "{case}");
        }
    }
}

/// Role × purpose × legal basis × consent state → the exact level of the child
/// protection plan at the social care node (`404` = answered as not held).
#[tokio::test]
async fn disclosure_matrix_for_a_child_protection_plan() {
    let (fed, reference) = cp_child_at_social_care().await;
    let child = cp_child(&fed);
    let sc = holding(child, "social-care");
    let override_reason =
        "legal_basis=safeguarding_override&reason=child%20disclosed%20harm%20this%20morning";

    // (role, agency, purpose, legal basis, expected status, expected CP level)
    #[rustfmt::skip]
    let without_consent: &[CpCase] = &[
        (DesignatedSafeguardingLead, "school-a", "safeguarding", PUBLIC_TASK, 200, "full"),
        (DesignatedSafeguardingLead, "school-a", "education_support", PUBLIC_TASK, 200, "summary"),
        (DesignatedSafeguardingLead, "school-a", "safeguarding", "legal_basis=consent", 404, ""),
        (DesignatedSafeguardingLead, "school-a", "safeguarding", override_reason, 200, "full"),
        (Teacher, "school-a", "education_support", PUBLIC_TASK, 200, "summary"),
        (Teacher, "school-a", "care_planning", PUBLIC_TASK, 404, ""),
        (Teacher, "school-a", "education_support", "legal_basis=consent", 404, ""),
        (SocialWorker, "social-care", "care_planning", PUBLIC_TASK, 200, "full"),
        (SocialWorker, "social-care", "care_planning", "legal_basis=consent", 200, "full"),
    ];
    expect_cp_levels(&fed, &reference, "without consent", without_consent).await;

    // The child refuses sharing their plan with schools; the decision caps school staff.
    record_consent(
        &fed,
        "social-care",
        &sc.local_id,
        json!({
        "category": "child_protection_plan", "recipient_kind": "school", "state": "refused",
        "decided_on": "2026-10-01", "recorded_by": "sw.county"}),
    )
    .await;
    #[rustfmt::skip]
    let with_refusal: &[CpCase] = &[
        (DesignatedSafeguardingLead, "school-a", "safeguarding", PUBLIC_TASK, 200, "none"),
        (Teacher, "school-a", "education_support", PUBLIC_TASK, 200, "none"),
        (DesignatedSafeguardingLead, "school-a", "safeguarding", override_reason, 200, "full"),
        (SocialWorker, "social-care", "care_planning", PUBLIC_TASK, 200, "full"),
    ];
    expect_cp_levels(&fed, &reference, "after refusal", with_refusal).await;

    // Consent given later for every category: sharing on the basis of consent works.
    record_consent(&fed, "social-care", &sc.local_id, json!({
        "recipient_kind": "school", "state": "given", "decided_on": "2026-11-01", "recorded_by": "sw.county"})).await;
    let token = fed.token(DesignatedSafeguardingLead, "school-a");
    let (got, answer) = read_cp(
        &fed,
        &reference,
        &token,
        "purpose=safeguarding&legal_basis=consent",
    )
    .await;
    assert_eq!(
        (got, level(&answer, "child_protection_plan").as_str()),
        (200, "full"),
        "{answer}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn summary_is_the_impact_without_the_details_and_existence_is_a_contact_route() {
    let (fed, reference) = cp_child_at_social_care().await;
    let teacher = fed.token(Teacher, "school-a");
    let (status, answer) = read_cp(
        &fed,
        &reference,
        &teacher,
        "purpose=education_support&legal_basis=public_task",
    )
    .await;
    assert_eq!(status, 200);
    let records = answer["records"].as_array().unwrap();
    assert!(!records.is_empty());
    for r in records {
        assert!(
            r.get("details").is_none(),
            "summary must not carry details: {r}"
        );
        assert!(
            [
                "child_protection_plan",
                "child_in_need_plan",
                "looked_after"
            ]
            .contains(&r["category"].as_str().unwrap()),
            "{r}"
        );
    }
    let text = answer.to_string();
    for secret in [
        "category_of_abuse",
        // The CIN census codes the generator writes (neglect, emotional, physical, multiple).
        "\"NEG\"",
        "\"EMO\"",
        "\"PHY\"",
        "\"MUL\"",
        "neglect",
        "K. Brennan",
        "D. Osei",
        "R. Lindgren",
    ] {
        assert!(!text.contains(secret), "summary leaked {secret}: {text}");
    }
    assert_eq!(level(&answer, "allocated_social_worker"), "existence");
    assert_eq!(
        answer["contact"]["team"],
        "Children's Services front door (MASH)"
    );
    assert!(
        answer["disclosure"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["withheld"] == "policy")
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn nothing_to_see_is_answered_exactly_like_not_held() {
    let (fed, reference) = cp_child_at_social_care().await;
    let child = cp_child(&fed);
    // A teacher reading for health care: the policy gives nothing, in any category.
    let token = fed.token(Teacher, "school-a");
    let ctx = "purpose=health_care&legal_basis=public_task";

    let (held_status, held_body) = read_cp(&fed, &reference, &token, ctx).await;
    let (absent_status, absent_body) = read(
        &fed,
        "social-care",
        "00000000-0000-4000-8000-000000000000",
        &token,
        ctx,
    )
    .await;
    assert_eq!((held_status, &held_body), (absent_status, &absent_body));
    assert_eq!(held_status, 404);

    let find = |query: Value| {
        let (fed, token) = (&fed, token.clone());
        async move {
            fed.node_match("social-care", &token, ctx, &query)
                .await
                .text
        }
    };
    let for_held =
        find(json!({"identifiers": {"upn": child.upn}, "demographics": child.demographics})).await;
    let for_nobody = find(json!({"demographics": {"given_name": "Nobody", "family_name": "Atall", "date_of_birth": "2015-01-01"}})).await;
    assert_eq!(for_held, for_nobody);
    fed.shutdown().await;
}

#[tokio::test]
async fn override_needs_a_reason_and_a_policy_that_allows_it() {
    let (fed, reference) = cp_child_at_social_care().await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    let (status, problem) = read_cp(
        &fed,
        &reference,
        &dsl,
        "purpose=safeguarding&legal_basis=safeguarding_override",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "reason");
    let teacher = fed.token(Teacher, "school-a");
    let (status, problem) = read_cp(
        &fed,
        &reference,
        &teacher,
        "purpose=education_support&legal_basis=safeguarding_override&reason=worried",
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/override-not-allowed")
    );
    let (status, answer) = read_cp(
        &fed,
        &reference,
        &dsl,
        "purpose=safeguarding&legal_basis=safeguarding_override&reason=disclosed%20harm",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["override_used"], true);
    for (query, why) in [
        ("purpose=gossip&legal_basis=public_task", "unknown purpose"),
        ("legal_basis=public_task", "no purpose"),
        ("purpose=safeguarding", "no legal basis"),
    ] {
        let (status, _) = read_cp(&fed, &reference, &dsl, query).await;
        assert_eq!(status, 400, "{why}");
    }
    fed.shutdown().await;
}

fn database(fed: &TestFederation, node: &str) -> agency_node::db::DbConnection {
    fed.database(node)
}

async fn verify(fed: &TestFederation, node: &str) -> Value {
    fed.system(node).verify_audit().await
}

/// Makes some history at the social care node, changes its audit table with
/// `statements` (given the number of entries) as someone with access to the database
/// could, and checks the node's verification finds the chain broken at `first_broken`.
async fn tampering_is_detected(
    statements: impl Fn(u64) -> Vec<String>,
    first_broken: impl Fn(u64) -> u64,
) {
    let fed = spawn_federation(social_care_only()).await.unwrap();
    let entries = some_history(&fed).await;
    let mut conn = database(&fed, "social-care");
    for statement in statements(entries) {
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    }
    let report = verify(&fed, "social-care").await;
    assert_eq!(
        (report["intact"].clone(), report["first_broken"].clone()),
        (json!(false), json!(first_broken(entries))),
        "{report}"
    );
    fed.shutdown().await;
}

/// Makes a few audited disclosures and writes, returns how many entries there are.
async fn some_history(fed: &TestFederation) -> u64 {
    let child = cp_child(fed);
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    // One search (school A asserts, social care matches), then three reads with it.
    let query = federation_tests::query_for(child);
    let asserted = fed
        .node_match("school-a", &dsl, SAFEGUARDING, &query)
        .await
        .expect(200);
    let found = fed
        .node_match("social-care", &dsl, SAFEGUARDING, &query)
        .await
        .expect(200);
    for _ in 0..3 {
        let answer = fed
            .node_records_with(
                "social-care",
                &dsl,
                found["local_ref"].as_str().unwrap(),
                SAFEGUARDING,
                found["match_token"].as_str(),
                asserted["relationship"].as_str(),
            )
            .await
            .expect(200);
        assert_eq!(answer["relationship"], "asserted", "{answer}");
    }
    let sc = holding(child, "social-care");
    record_consent(fed, "social-care", &sc.local_id, json!({
        "recipient_kind": "police", "state": "refused", "decided_on": "2026-10-01", "recorded_by": "sw"})).await;
    let report = verify(fed, "social-care").await;
    assert_eq!(report["intact"], true, "{report}");
    report["entries"].as_u64().unwrap()
}

#[tokio::test]
async fn audit_records_every_disclosure_and_write_in_an_intact_chain() {
    let fed = spawn_federation(social_care_only()).await.unwrap();
    // seed import + match + 3 disclosures + 1 consent write
    assert_eq!(some_history(&fed).await, 6);
    let mut conn = database(&fed, "social-care");
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        purpose: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        actor_role: Option<String>,
    }
    let rows: Vec<Row> =
        diesel::sql_query("SELECT action, purpose, actor_role FROM audit_log ORDER BY seq")
            .load(&mut conn)
            .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "write",
            "match",
            "disclosure",
            "disclosure",
            "disclosure",
            "write"
        ]
    );
    assert_eq!(rows[2].purpose.as_deref(), Some("safeguarding"));
    assert_eq!(
        rows[2].actor_role.as_deref(),
        Some("designated_safeguarding_lead")
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn editing_the_audit_in_the_database_file_is_detected() {
    tampering_is_detected(
        |_| vec!["UPDATE audit_log SET purpose = 'education_support' WHERE seq = 3".into()],
        |_| 3,
    )
    .await;
}

#[tokio::test]
async fn deleting_an_audit_entry_is_detected() {
    tampering_is_detected(
        |_| vec!["DELETE FROM audit_log WHERE seq = 4".into()],
        |_| 4,
    )
    .await;
}

#[tokio::test]
async fn reordering_audit_entries_is_detected() {
    tampering_is_detected(
        |_| {
            vec![
                "UPDATE audit_log SET seq = -1 WHERE seq = 3".into(),
                "UPDATE audit_log SET seq = 3 WHERE seq = 4".into(),
                "UPDATE audit_log SET seq = 4 WHERE seq = -1".into(),
            ]
        },
        |_| 3,
    )
    .await;
}

#[tokio::test]
async fn cutting_the_end_of_the_audit_is_detected() {
    tampering_is_detected(
        |entries| vec![format!("DELETE FROM audit_log WHERE seq = {entries}")],
        |entries| entries,
    )
    .await;
}

#[test]
fn every_ship_with_policy_is_valid_for_its_agency_kind() {
    for kind in schemas::AgencyKind::ALL {
        agency_node::disclosure::Policy::from_toml(federation::plan::default_policy(kind), kind)
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    }
}

async fn gateway_search(
    fed: &TestFederation,
    token: &str,
    child: &SyntheticChild,
    ctx: &str,
) -> String {
    fed.reference_for(token, child, ctx).await
}

async fn gateway_report(fed: &TestFederation, token: &str, reference: &str) -> Value {
    fed.gateway_get(token, &format!("/v1/children/{reference}/access-report"))
        .await
        .expect(200)
}

fn sentences(report: &Value) -> Vec<String> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sentence"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn access_report_tells_the_child_who_saw_what_and_why() {
    let fed = spawn_federation(social_care_only()).await.unwrap();
    let child = cp_child(&fed);
    let safeguarding = "purpose=safeguarding&legal_basis=public_task";

    // A school's DSL reads the child's view, then uses an override once.
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    let reference = gateway_search(&fed, &dsl, child, safeguarding).await;
    fed.view(&dsl, &reference, safeguarding).await.expect(200);
    fed.view(
        &dsl,
        &reference,
        "purpose=safeguarding&legal_basis=safeguarding_override&reason=disclosure%20in%20class",
    )
    .await
    .expect(200);

    // The child's social worker fetches the report on the child's behalf.
    let sw = fed.token(SocialWorker, "social-care");
    let sw_reference = gateway_search(
        &fed,
        &sw,
        child,
        "purpose=care_planning&legal_basis=public_task",
    )
    .await;
    let report = gateway_report(&fed, &sw, &sw_reference).await;
    let lines = sentences(&report);
    let from_dsl: Vec<&String> = lines
        .iter()
        .filter(|s| s.contains("a school's safeguarding lead at Northfield Primary School"))
        .collect();
    assert!(from_dsl.len() >= 2, "{lines:#?}");
    assert!(
        from_dsl.iter().any(|s| s.contains("the details of")
            && s.contains("your child protection plan")
            && s.ends_with("to help keep you safe.")),
        "{lines:#?}"
    );
    let overrides: Vec<&Value> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["override_used"] == true)
        .collect();
    assert_eq!(overrides.len(), 1);
    assert!(
        overrides[0]["sentence"]
            .as_str()
            .unwrap()
            .contains("without asking you first")
    );
    let social_care = report["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == "social-care")
        .unwrap();
    assert_eq!(social_care["status"], "ok");

    // A teacher may not fetch it: the node says so, the gateway reports it per agency.
    let teacher = fed.token(Teacher, "school-a");
    let teacher_reference = gateway_search(
        &fed,
        &teacher,
        child,
        "purpose=education_support&legal_basis=public_task",
    )
    .await;
    let report = gateway_report(&fed, &teacher, &teacher_reference).await;
    assert!(report["entries"].as_array().unwrap().is_empty());
    assert!(
        report["agencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "error"),
        "{report}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_police_enquiry_is_deferred_from_the_report_until_released() {
    let fed = spawn_federation(Options::nodes(&["social-care", "police"], 300))
        .await
        .unwrap();
    let child = cp_child(&fed);
    let reference = local_ref(&fed, "social-care", child).await;
    let officer = fed.token(PoliceOfficer, "police");
    let (status, _) = read_cp(
        &fed,
        &reference,
        &officer,
        "purpose=safeguarding&legal_basis=public_task",
    )
    .await;
    assert_eq!(status, 200);

    let path = format!("/v1/federation/children/{reference}/access-report");
    let node_report = |token: String| {
        let request = fed.as_gateway(reqwest::Method::GET, "social-care", &path, &token);
        async move { request.answer().await.expect(200) }
    };
    let by_police = |report: &Value| -> Vec<Value> {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["seen_by"].as_str().unwrap().contains("police officer"))
            .cloned()
            .collect()
    };
    let sw_view = node_report(fed.token(SocialWorker, "social-care")).await;
    assert!(
        by_police(&sw_view).is_empty(),
        "deferred entries stay out of the report: {sw_view}"
    );
    let dpo_view = node_report(fed.token(DataProtectionOfficer, "social-care")).await;
    let deferred = by_police(&dpo_view);
    assert_eq!(deferred.len(), 1, "{dpo_view}");
    assert!(deferred[0]["deferred_until"].is_string());

    let seq = deferred[0]["audit_seq"].as_i64().unwrap();
    fed.system("social-care")
        .post(
            &format!("/v1/audit/{seq}/release"),
            &json!({"released_by": "dpo.county"}),
        )
        .await
        .expect(201);
    let sw_view = node_report(fed.token(SocialWorker, "social-care")).await;
    let visible = by_police(&sw_view);
    assert_eq!(visible.len(), 1, "{sw_view}");
    assert!(visible[0].get("deferred_until").is_none());
    assert_eq!(verify(&fed, "social-care").await["intact"], true);
    fed.shutdown().await;
}

/// The level a profile's policy grants each category, as the ship-with policy states it.
fn expected_levels(
    table: &[(&str, &str)],
    default: &str,
    categories: &[&str],
) -> Vec<(String, String)> {
    categories
        .iter()
        .map(|c| {
            let level = table
                .iter()
                .find(|(cat, _)| cat == c)
                .map(|(_, l)| *l)
                .unwrap_or(default);
            ((*c).to_owned(), level.to_owned())
        })
        .collect()
}

const SOCIAL_CARE: &[&str] = &[
    "child_in_need_episode",
    "child_in_need_plan",
    "child_protection_plan",
    "looked_after",
    "allocated_social_worker",
    "assessment_factors",
    "personal_education_plan",
    "placement_move",
    "section_47_enquiry",
    "child_characteristics",
    "intervention",
    "meeting",
    "parent_carer",
    "young_carer",
    "concern",
];
const SCHOOL: &[&str] = &[
    "enrolment",
    "attendance",
    "exclusion",
    "special_educational_needs",
    "pupil_premium",
    "attainment",
    "behaviour",
    "trusted_adult",
    "pupil_passport",
    "free_school_meals",
    "looked_after_status",
    "child_characteristics",
    "intervention",
    "meeting",
    "parent_carer",
    "designated_teacher",
    "senior_mental_health_lead",
    "young_carer",
    "concern",
];

/// Every category, for each kind of requester: the level the policy grants where the
/// agency holds such records, `none` with `not_held` where it holds none, `none` with
/// `policy` where the policy grants nothing.
#[tokio::test]
async fn every_category_gets_the_level_its_policy_grants() {
    let fed = spawn_federation(Options::nodes(
        &[
            "social-care",
            "school-a",
            "school-b",
            "health",
            "police",
            "early-help",
        ],
        300,
    ))
    .await
    .unwrap();
    let child = cp_child(&fed);
    let school = child
        .holdings
        .iter()
        .find(|h| h.node.starts_with("school"))
        .unwrap()
        .node;
    // Every requesting agency works with the child (what a policy grants applies only
    // then).
    for agency in ["health", "police", "early-help"] {
        relate(&fed, agency, child).await;
    }

    // (node, role, agency, purpose, per-category table, default for unnamed categories)
    type Case<'a> = (
        &'a str,
        PractitionerRole,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "social-care",
            DesignatedSafeguardingLead,
            "school-a",
            "safeguarding",
            &[
                ("child_protection_plan", "full"),
                ("child_in_need_plan", "full"),
                ("looked_after", "full"),
                ("allocated_social_worker", "full"),
                ("personal_education_plan", "full"),
            ],
            "summary",
        ),
        (
            "social-care",
            Teacher,
            "school-a",
            "education_support",
            &[
                ("child_protection_plan", "summary"),
                ("child_in_need_plan", "summary"),
                ("looked_after", "summary"),
                ("allocated_social_worker", "existence"),
                ("intervention", "summary"),
                ("meeting", "summary"),
                ("parent_carer", "summary"),
                ("young_carer", "summary"),
            ],
            "none",
        ),
        (
            "social-care",
            PoliceOfficer,
            "police",
            "safeguarding",
            &[("child_protection_plan", "summary")],
            "existence",
        ),
        (
            "social-care",
            SchoolNurse,
            "health",
            "health_care",
            &[
                ("assessment_factors", "none"),
                ("section_47_enquiry", "none"),
                ("child_characteristics", "none"),
                ("concern", "none"),
            ],
            "summary",
        ),
        (
            "social-care",
            EarlyHelpWorker,
            "early-help",
            "early_help",
            &[
                ("section_47_enquiry", "none"),
                ("child_characteristics", "none"),
                ("concern", "none"),
            ],
            "summary",
        ),
        (
            school,
            SocialWorker,
            "social-care",
            "care_planning",
            &[
                ("attendance", "full"),
                ("exclusion", "full"),
                ("special_educational_needs", "full"),
                ("enrolment", "full"),
                ("behaviour", "full"),
                ("trusted_adult", "full"),
                ("pupil_passport", "full"),
            ],
            "summary",
        ),
        (
            school,
            SchoolNurse,
            "health",
            "health_care",
            &[
                ("attendance", "summary"),
                ("special_educational_needs", "summary"),
                ("trusted_adult", "summary"),
                ("pupil_passport", "summary"),
                ("intervention", "summary"),
                ("meeting", "summary"),
                ("parent_carer", "summary"),
                ("designated_teacher", "summary"),
                ("senior_mental_health_lead", "summary"),
                ("young_carer", "summary"),
            ],
            "none",
        ),
        (
            school,
            PoliceOfficer,
            "police",
            "safeguarding",
            &[("enrolment", "existence")],
            "none",
        ),
        (
            school,
            EarlyHelpWorker,
            "early-help",
            "early_help",
            &[
                ("attendance", "summary"),
                ("exclusion", "summary"),
                ("special_educational_needs", "summary"),
                ("trusted_adult", "summary"),
                ("enrolment", "summary"),
                ("intervention", "summary"),
                ("meeting", "summary"),
                ("parent_carer", "summary"),
                ("designated_teacher", "summary"),
                ("senior_mental_health_lead", "summary"),
                ("young_carer", "summary"),
            ],
            "none",
        ),
    ];
    for (node, role, agency, purpose, table, default) in cases {
        let categories = if node == "social-care" {
            SOCIAL_CARE
        } else {
            SCHOOL
        };
        let held: std::collections::BTreeSet<String> = holding(child, node)
            .records
            .iter()
            .map(|r| r.category.as_str().to_owned())
            .collect();
        let reference = local_ref(&fed, node, child).await;
        let token = fed.token(role, agency);
        let (status, answer) = read(
            &fed,
            node,
            &reference,
            &token,
            &format!("purpose={purpose}&legal_basis=public_task"),
        )
        .await;
        assert_eq!(status, 200, "{node} {role:?} {purpose}: {answer}");
        let got: Vec<(String, String, String)> = answer["disclosure"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["category"].as_str().unwrap().to_owned(),
                    d["level"].as_str().unwrap().to_owned(),
                    d["withheld"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String, String)> = expected_levels(table, default, categories)
            .into_iter()
            .map(|(c, level)| match (level.as_str(), held.contains(&c)) {
                ("none", _) => (c, "none".into(), "policy".into()),
                (_, false) => (c, "none".into(), "not_held".into()),
                (_, true) => (c, level, String::new()),
            })
            .collect();
        assert_eq!(got, want, "{node} {role:?} {purpose}");
        // And the records returned are exactly those of categories at summary or full.
        for r in answer["records"].as_array().unwrap() {
            let level = &want
                .iter()
                .find(|(c, _, _)| c == r["category"].as_str().unwrap())
                .unwrap()
                .1;
            assert!(
                level == "full" || level == "summary",
                "{node} {role:?}: {r}"
            );
            assert_eq!(
                r.get("details").is_some(),
                level == "full",
                "{node} {role:?}: {r}"
            );
        }
    }
    fed.shutdown().await;
}
