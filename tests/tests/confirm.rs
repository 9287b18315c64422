//! Candidate confirmation through the gateway (issue #6): a `possible` match is never
//! linked by the node; the practitioner sees it as a numbered candidate, must confirm it
//! with a reason (audited at the node) before any record of that agency is read, and
//! every wrong way of confirming is refused.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::RunQueryDsl;
use federation_tests::scenario::problem_fields;
use federation_tests::{Call, Options, TestFederation, spawn_federation};
use schemas::PractitionerRole::{DesignatedSafeguardingLead, SocialWorker};
use serde_json::{Value, json};

const CTX: &str = "purpose=safeguarding&legal_basis=public_task";
const REASON: &str = "Date of birth and family name checked with the child's carer; \
                      the agency misspelt the given name and has an old address";

fn two_agencies() -> Options {
    Options::nodes(&["school-a", "social-care"], 20)
}

/// What the practitioner types: demographics only, no identifier.
fn query(given_name: &str) -> Value {
    json!({"demographics": {"given_name": given_name, "family_name": "Quenby",
        "date_of_birth": "2015-06-21", "sex": "female", "postcode": "ZZ4 2GH"}})
}

async fn put_child(fed: &TestFederation, node: &str, local_id: &str, demographics: Value) {
    fed.system(node)
        .store_child(
            local_id,
            &json!({"demographics": demographics, "identifiers": {}}),
        )
        .await;
}

async fn put_record(fed: &TestFederation, node: &str, local_id: &str, record: Value) {
    fed.system(node).store_record(local_id, &record).await;
}

/// The child as the school holds it (exactly as searched for), and the social care
/// copy drifted the way records drift: a misspelt given name, a date of birth one digit
/// off and a move to another postcode district (without the date's slip, a node this
/// small links the copy: its thresholds are the floor's, `docs/matching.md` "Grades").
/// The social care copy has a record.
async fn seed_drifted_child(fed: &TestFederation) {
    seed_drifted_copy(fed, "Rosalynd").await;
}

async fn seed_drifted_copy(fed: &TestFederation, drifted_given_name: &str) {
    put_child(
        fed,
        "school-a",
        "MIS-QUENBY-1",
        json!({"given_name": "Rosalind", "family_name": "Quenby",
            "date_of_birth": "2015-06-21", "sex": "female", "postcode": "ZZ4 2GH"}),
    )
    .await;
    put_record(
        fed,
        "school-a",
        "MIS-QUENBY-1",
        json!({"source_system_id": "ATT-QUENBY-1", "category": "attendance",
            "effective_from": "2026-09-03", "impact": "Attendance 97% this term",
            "details": {"sessions_possible": 100, "sessions_present": 97,
                "authorised_absence": 3, "unauthorised_absence": 0}}),
    )
    .await;
    // On roll at school A: the DSL's relationship with the child.
    put_record(
        fed,
        "school-a",
        "MIS-QUENBY-1",
        json!({"source_system_id": "ENR-QUENBY-1", "category": "enrolment",
            "effective_from": "2022-09-05", "impact": "On roll, Year 6",
            "details": {"urn": "999101", "school_name": "Northfield Primary School", "year_group": 6}}),
    )
    .await;
    put_child(
        fed,
        "social-care",
        "LCS-QUENBY-9",
        json!({"given_name": drifted_given_name, "family_name": "Quenby",
            "date_of_birth": "2015-06-22", "sex": "female", "postcode": "ZZ8 7QT"}),
    )
    .await;
    put_record(
        fed,
        "social-care",
        "LCS-QUENBY-9",
        json!({"source_system_id": "LCS-ASW-QUENBY", "category": "allocated_social_worker",
            "effective_from": "2026-05-01", "impact": "Allocated social worker: duty team",
            "details": {"worker": "Duty social worker", "team": "Duty and assessment"}}),
    )
    .await;
}

async fn search(fed: &TestFederation, token: &str, body: &Value) -> Value {
    fed.search(token, body).await
}

fn agency<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {answer}"))
}

async fn view(fed: &TestFederation, token: &str, reference: &str) -> Value {
    fed.view(token, reference, CTX).await.expect(200)
}

fn section<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agency_id"] == id)
        .unwrap_or_else(|| panic!("no {id} section in {view}"))
}

async fn confirm(fed: &TestFederation, token: &str, reference: &str, body: Value) -> (u16, Value) {
    let answer = fed
        .gateway_post(
            token,
            &format!("/v1/children/{reference}/confirm?{CTX}"),
            &body,
        )
        .await;
    if answer.status != 200 {
        answer.expect_any_problem(answer.status);
    }
    (answer.status, answer.json())
}

fn fields(problem: &Value) -> Vec<String> {
    problem_fields(problem)
}

/// Searches for the drifted child as the school's DSL and checks social care answers
/// with candidates; returns the answer and its reference.
async fn search_with_candidates(fed: &TestFederation, dsl: &str) -> (Value, String) {
    let found = search(fed, dsl, &query("Rosalind")).await;
    assert_eq!(
        agency(&found, "social-care")["status"],
        "candidates",
        "{found}"
    );
    let reference = found["reference"].as_str().unwrap().to_owned();
    (found, reference)
}

/// The answer as text without its sealed reference, for checking that no value of a
/// node's copy is in it: the reference is encrypted (`gateway::reference`), and its random
/// characters spell any three-letter string, such as a postcode's first letters, about
/// once in 200 answers of this length.
fn without_reference(found: &Value) -> String {
    let mut found = found.clone();
    found.as_object_mut().unwrap().remove("reference");
    found.to_string()
}

#[derive(diesel::QueryableByName, Debug)]
struct AuditLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    actor_user: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    child_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

fn audit(fed: &TestFederation, node: &str) -> Vec<AuditLine> {
    diesel::sql_query("SELECT action, actor_user, child_id, detail FROM audit_log ORDER BY seq")
        .load(&mut fed.database(node))
        .unwrap()
}

#[tokio::test]
async fn candidate_confirmation_flow_through_the_gateway() {
    let fed = spawn_federation(two_agencies()).await.unwrap();
    seed_drifted_child(&fed).await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");

    // The search: the school holds the child; social care has a candidate, not a link.
    // (If matching changes so that this copy is no longer `candidates`, this says so.)
    let found = search(&fed, &dsl, &query("Rosalind")).await;
    assert_eq!(agency(&found, "school-a")["status"], "held", "{found}");
    let social = agency(&found, "social-care");
    assert_eq!(social["status"], "candidates", "{found}");
    assert!(social.get("grade").is_none(), "{social}");
    let candidates = social["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{social}");
    assert_eq!(candidates[0]["candidate"], 1);
    assert_eq!(candidates[0]["grade"], "possible");
    assert_eq!(candidates[0]["confirmable"], true);
    let matched_on = candidates[0]["matched_on"].clone();
    assert!(
        matched_on
            .as_array()
            .unwrap()
            .contains(&json!("family_name")),
        "{matched_on}"
    );
    // Nothing of the node's own copy comes back.
    let text = without_reference(&found);
    assert!(
        !text.contains("Rosalynd") && !text.contains("ZZ8"),
        "{text}"
    );
    let reference = found["reference"].as_str().unwrap().to_owned();
    // The candidate's token rides inside the reference (with the school's match token
    // and the DSL's relationship assertion), which stays short enough for a URL path.
    eprintln!(
        "reference with one candidate: {} characters",
        reference.len()
    );
    assert!(reference.len() < 2048, "{} characters", reference.len());

    // Before confirmation nothing of social care's is read.
    let before = view(&fed, &dsl, &reference).await;
    let s = section(&before, "social-care");
    assert_eq!(s["status"], "candidates", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("confirm"), "{s}");
    assert_eq!(s["records"], json!([]));
    assert_eq!(section(&before, "school-a")["status"], "ok");
    let disclosures_before = audit(&fed, "social-care")
        .iter()
        .filter(|l| l.action == "disclosure")
        .count();
    assert_eq!(
        disclosures_before, 0,
        "social care disclosed before confirmation"
    );

    // The practitioner confirms candidate 1, with a reason.
    let (status, confirmed) = confirm(
        &fed,
        &dsl,
        &reference,
        json!({"agency_id": "social-care", "candidate": 1, "reason": REASON}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["agency"]["status"], "held");
    assert_eq!(confirmed["agency"]["confirmed"], true);
    assert_eq!(confirmed["agency"]["grade"], "possible");
    assert_eq!(confirmed["agency"]["matched_on"], matched_on);
    assert_eq!(confirmed["expires_at"], found["expires_at"]);
    let linked = confirmed["reference"].as_str().unwrap().to_owned();
    assert_ne!(linked, reference);
    eprintln!("reference after confirmation: {} characters", linked.len());

    // The new reference reads social care's records; the old one still does not.
    let after = view(&fed, &dsl, &linked).await;
    let s = section(&after, "social-care");
    assert_eq!(s["status"], "ok", "{s}");
    assert_eq!(s["records"][0]["source_system_id"], "LCS-ASW-QUENBY", "{s}");
    assert_eq!(section(&after, "school-a")["status"], "ok");
    let old = view(&fed, &dsl, &reference).await;
    assert_eq!(section(&old, "social-care")["status"], "candidates");

    // The node's audit: the match offered one confirmable candidate, then the
    // confirmation with the practitioner, reason, grade and agreeing fields, then the
    // disclosure; and the chain is intact.
    let lines = audit(&fed, "social-care");
    let matched = lines
        .iter()
        .find(|l| l.action == "match" && l.detail.contains("candidates"))
        .expect("the match");
    let matched: Value = serde_json::from_str(&matched.detail).unwrap();
    assert_eq!(matched["confirmable"], 1, "{matched}");
    let confirm_lines: Vec<&AuditLine> = lines.iter().filter(|l| l.action == "confirm").collect();
    assert_eq!(confirm_lines.len(), 1, "{lines:?}");
    let entry = confirm_lines[0];
    assert_eq!(
        entry.actor_user.as_deref(),
        Some("designated_safeguarding_lead.school-a")
    );
    let detail: Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["confirmed"], true);
    assert_eq!(detail["reason"], REASON);
    assert_eq!(detail["grade"], "possible");
    assert_eq!(detail["matched_on"], matched_on);
    let local_ref = entry.child_id.clone().expect("the confirmed child");
    assert!(
        lines
            .iter()
            .any(|l| l.action == "disclosure" && l.child_id.as_deref() == Some(&local_ref)),
        "{lines:?}"
    );
    let verify = fed.system("social-care").verify_audit().await;
    assert_eq!(verify["intact"], true, "{verify}");

    // The child's access report at social care says who confirmed them, in words.
    let report = fed
        .as_gateway(
            reqwest::Method::GET,
            "social-care",
            &format!("/v1/federation/children/{local_ref}/access-report"),
            &fed.token(SocialWorker, "social-care"),
        )
        .answer()
        .await
        .json();
    let sentences: Vec<&str> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sentence"].as_str().unwrap())
        .collect();
    assert!(
        sentences.iter().any(|s| s.contains(
            "a school's safeguarding lead at Northfield Primary School told us that you are the child they were looking for"
        )),
        "{sentences:#?}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn confirmation_refusals() {
    let fed = spawn_federation(two_agencies()).await.unwrap();
    seed_drifted_child(&fed).await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    let (_, reference) = search_with_candidates(&fed, &dsl).await;
    let first_reference = reference.clone();
    let good = json!({"agency_id": "social-care", "candidate": 1, "reason": REASON});

    // Another practitioner's reference.
    let other = fed.token(SocialWorker, "social-care");
    let (status, problem) = confirm(&fed, &other, &reference, good.clone()).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("reference-not-yours")
    );

    // No reason, or only spaces; a candidate the agency does not have; an agency
    // without candidates; one not asked.
    let with_reason = |agency: &str, candidate: u32| json!({"agency_id": agency, "candidate": candidate, "reason": REASON});
    let bad_bodies = [
        (
            "no reason",
            json!({"agency_id": "social-care", "candidate": 1}),
            "reason",
        ),
        (
            "a reason of spaces",
            json!({"agency_id": "social-care", "candidate": 1, "reason": "   "}),
            "reason",
        ),
        (
            "a candidate the agency does not have",
            with_reason("social-care", 2),
            "candidate",
        ),
        ("candidate zero", with_reason("social-care", 0), "candidate"),
        (
            "an agency without candidates",
            with_reason("school-a", 1),
            "agency_id",
        ),
        ("an agency not asked", with_reason("health", 1), "agency_id"),
    ];
    for (case, body, field) in bad_bodies {
        let (status, problem) = confirm(&fed, &dsl, &reference, body).await;
        assert_eq!(status, 400, "{case}: {problem}");
        assert_eq!(fields(&problem), [field], "{case}: {problem}");
    }

    // An altered reference.
    let mut altered = reference.clone().into_bytes();
    let at = altered.len() - 5;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let (status, _) = confirm(
        &fed,
        &dsl,
        &String::from_utf8(altered).unwrap(),
        good.clone(),
    )
    .await;
    assert_eq!(status, 404);

    // At the node: a token altered, or presented for another practitioner, is refused,
    // and nothing is linked or audited as confirmed.
    let answer = fed
        .as_gateway(
            reqwest::Method::POST,
            "social-care",
            &format!("/v1/federation/match?{CTX}"),
            &dsl,
        )
        .json(&query("Rosalind"))
        .answer()
        .await
        .json();
    assert_eq!(answer["outcome"], "candidates", "{answer}");
    assert!(answer.get("local_ref").is_none(), "{answer}");
    let token = answer["candidate_tokens"][0].as_str().unwrap().to_owned();
    let confirm_path = format!("/v1/federation/match/confirm?{CTX}");
    let node_confirm = |token: String, who: String| {
        let request = fed
            .as_gateway(reqwest::Method::POST, "social-care", &confirm_path, &who)
            .json(&json!({"candidate_token": token, "reason": REASON}));
        async move {
            let answer = request.answer().await;
            (answer.status, answer.json())
        }
    };
    let mut tampered = token.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'x' { b'y' } else { b'x' };
    let (status, problem) = node_confirm(String::from_utf8(tampered).unwrap(), dsl.clone()).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(fields(&problem), ["candidate_token"], "{problem}");
    let (status, problem) = node_confirm(token.clone(), other.clone()).await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("candidate-not-yours")
    );
    assert!(
        !audit(&fed, "social-care")
            .iter()
            .any(|l| l.action == "confirm"),
        "a refused confirmation was audited as one"
    );
    // The genuine token, by its practitioner, works at the node too.
    let (status, linked) = node_confirm(token, dsl.clone()).await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(
        (linked["outcome"].clone(), linked["confirmed"].clone()),
        (json!("held"), json!(true))
    );

    // Two copies that fit equally well: ambiguous, and not confirmable.
    put_child(
        &fed,
        "social-care",
        "LCS-QUENBY-TWIN",
        json!({"given_name": "Rosalinde", "family_name": "Quenby",
            "date_of_birth": "2015-06-22", "sex": "female", "postcode": "ZZ8 7QT"}),
    )
    .await;
    let found = search(&fed, &dsl, &query("Rosalind")).await;
    let social = agency(&found, "social-care");
    assert_eq!(social["status"], "ambiguous", "{found}");
    assert!(
        social["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["confirmable"] == false),
        "{social}"
    );
    let reference = found["reference"].as_str().unwrap().to_owned();
    let (status, problem) = confirm(&fed, &dsl, &reference, good.clone()).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(fields(&problem), ["agency_id"], "{problem}");

    // The agency down: a clear problem, nothing confirmed (the first search's reference
    // still holds the candidate).
    fed.stop_node("social-care").await;
    let (status, problem) = confirm(&fed, &dsl, &first_reference, good).await;
    assert_eq!(status, 502, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("agency-unavailable"),
        "{problem}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn candidates_found_in_keyed_mode_are_confirmed_the_same_way() {
    let fed = spawn_federation(Options {
        matching_mode: matching::MatchingMode::Keyed,
        ..two_agencies()
    })
    .await
    .unwrap();
    seed_drifted_copy(&fed, "Rosalinda").await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    let found = search(&fed, &dsl, &query("Rosalind")).await;
    let social = agency(&found, "social-care");
    assert_eq!(social["status"], "candidates", "{found}");
    assert_eq!(social["candidates"][0]["confirmable"], true, "{social}");
    let reference = found["reference"].as_str().unwrap().to_owned();
    confirm_social_care_candidate_and_read(&fed, &dsl, &reference).await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_candidate_found_before_its_node_restarted_can_still_be_confirmed() {
    let mut fed = spawn_federation(two_agencies()).await.unwrap();
    seed_drifted_child(&fed).await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");
    let (_, reference) = search_with_candidates(&fed, &dsl).await;

    // The node goes down and comes back between the search and the confirmation: its
    // candidate-token key is on file, so the token it issued still opens.
    fed.stop_node("social-care").await;
    fed.restart_node("social-care").await.unwrap();

    confirm_social_care_candidate_and_read(&fed, &dsl, &reference).await;
    fed.shutdown().await;
}

/// Confirms social care's first candidate with a reason and checks that the new
/// reference reads social care's section.
async fn confirm_social_care_candidate_and_read(
    fed: &TestFederation,
    token: &str,
    reference: &str,
) {
    let (status, confirmed) = confirm(
        fed,
        token,
        reference,
        json!({"agency_id": "social-care", "candidate": 1, "reason": REASON}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    let linked = confirmed["reference"].as_str().unwrap().to_owned();
    let after = view(fed, token, &linked).await;
    assert_eq!(section(&after, "social-care")["status"], "ok", "{after}");
}

/// Issue #28 item 4: a `candidates` answer says which fields disagreed with each
/// candidate (names and levels, never the node's values); the node audits each such
/// answer, and the gateway lists them in at most `candidate_detail_limits` answers per
/// practitioner (beyond, the search is still answered in full but without them,
/// `disagreed_withheld`; other practitioners are not held back).
#[tokio::test]
async fn candidates_say_which_fields_disagreed_audited_and_limited_per_practitioner() {
    let fed = spawn_federation(Options {
        candidate_detail_limit: Some((0.001, 2)),
        ..two_agencies()
    })
    .await
    .unwrap();
    seed_drifted_child(&fed).await;
    let dsl = fed.token(DesignatedSafeguardingLead, "school-a");

    // Social care's copy moved to another district: the postcode disagrees outright;
    // the misspelt given name agrees at a partial level (in `matched_on`), so it is not
    // listed.
    for _ in 0..2 {
        let (found, _) = search_with_candidates(&fed, &dsl).await;
        let candidate = &agency(&found, "social-care")["candidates"][0];
        assert_eq!(
            candidate["disagreed"],
            json!(["postcode:disagree"]),
            "{found}"
        );
        assert!(
            candidate["matched_on"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().starts_with("given_name:")),
            "{found}"
        );
        // Never the node's values.
        let text = without_reference(&found);
        assert!(
            !text.contains("Rosalynd") && !text.contains("ZZ8"),
            "{text}"
        );
        // The school holds the child as searched: a link, nothing disagreed.
        assert!(
            agency(&found, "school-a").get("candidates").is_none(),
            "{found}"
        );
    }

    // Each answer is in social care's audit with the practitioner and the fields.
    let matches: Vec<AuditLine> = audit(&fed, "social-care")
        .into_iter()
        .filter(|l| l.action == "match")
        .collect();
    assert_eq!(matches.len(), 2, "{matches:?}");
    for line in &matches {
        let detail: Value = serde_json::from_str(&line.detail).unwrap();
        assert_eq!(detail["answered"], "candidates", "{detail}");
        assert_eq!(
            detail["disagreed"],
            json!([["postcode:disagree"]]),
            "{detail}"
        );
        assert!(line.actor_user.is_some(), "{line:?}");
        assert!(!line.detail.contains("ZZ8"), "{line:?}");
    }

    // The third such answer for this practitioner leaves the disagreeing fields out;
    // the search is otherwise answered in full: the school's link, social care's
    // candidate with what agreed, and a reference to confirm it by.
    let path = format!("/v1/children:search?{CTX}");
    let limited = fed.gateway_post(&dsl, &path, &query("Rosalind")).await;
    assert_eq!(limited.status, 200, "{}", limited.text);
    let limited = limited.json();
    assert_eq!(limited["disagreed_withheld"], true, "{limited}");
    assert_eq!(agency(&limited, "school-a")["status"], "held", "{limited}");
    let candidate = &agency(&limited, "social-care")["candidates"][0];
    assert!(candidate.get("disagreed").is_none(), "{limited}");
    assert!(
        candidate["matched_on"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("given_name:")),
        "{limited}"
    );
    assert!(limited["reference"].is_string(), "{limited}");
    // The agency still audited the answer it gave the gateway.
    let audited = audit(&fed, "social-care")
        .iter()
        .filter(|l| l.action == "match")
        .count();
    assert_eq!(audited, 3);

    // The same practitioner's search that no agency answers with candidates is not
    // held back; another practitioner's search with candidates is not either.
    let elsewhere = json!({"demographics": {"given_name": "Tobias", "family_name": "Wrenfield",
        "date_of_birth": "2011-02-14", "sex": "male", "postcode": "ZZ2 9LD"}});
    let none = fed.gateway_post(&dsl, &path, &elsewhere).await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert!(
        none.json().get("disagreed_withheld").is_none(),
        "{}",
        none.text
    );
    let worker = fed.token(SocialWorker, "social-care");
    let other = fed.gateway_post(&worker, &path, &query("Rosalind")).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert!(
        other.json().get("disagreed_withheld").is_none(),
        "{}",
        other.text
    );
    assert_eq!(
        agency(&other.json(), "social-care")["candidates"][0]["disagreed"],
        json!(["postcode:disagree"])
    );
}
