//! The attack run, kept: each way a hostile member or a careless integrator tried to
//! break the federation, against a real spawned federation, with the refusal or the
//! behaviour that holds. `docs/security.md` lists every case (the threat, the expected
//! answer, the test), including those held by tests in other files.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, SAFEGUARDING, spawn_federation};
use schemas::{PractitionerRole, RecordCategory};
use serde_json::Value;

/// Finding 1: one record dated at the end of the calendar (a node may run an older
/// version that accepted it) made the gateway panic on date arithmetic, and every view of
/// that child closed the connection with no answer. The view now answers, the record
/// shown as it is.
#[tokio::test]
async fn a_record_dated_at_the_end_of_the_calendar_does_not_take_the_view_down() {
    use diesel::prelude::*;
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 300))
        .await
        .unwrap();
    let (child, plan) = fed
        .children
        .iter()
        .find_map(|c| {
            let plan = c
                .holdings
                .iter()
                .filter(|h| h.node == "social-care")
                .flat_map(|h| h.records.iter())
                .find(|r| {
                    matches!(
                        r.category,
                        RecordCategory::ChildProtectionPlan | RecordCategory::ChildInNeedPlan
                    )
                })?;
            Some((c, plan.source_system_id.clone()))
        })
        .expect("a seeded child with a social care plan");
    // Written straight into the node's database: whatever today's write validation
    // refuses, a node of an older version holds such records.
    let poison = chrono::NaiveDate::from_ymd_opt(262_142, 12, 31).unwrap();
    {
        use agency_node::db::schema::records::dsl as r;
        let changed = diesel::update(r::records.filter(r::source_system_id.eq(&plan)))
            .set(r::effective_to.eq(Some(poison)))
            .execute(&mut fed.database("social-care"))
            .unwrap();
        assert_eq!(changed, 1);
    }
    let token = fed.token(PractitionerRole::SocialWorker, "social-care");
    let reference = fed.reference_for(&token, child, SAFEGUARDING).await;
    for _ in 0..2 {
        let view = fed.view(&token, &reference, SAFEGUARDING).await.expect(200);
        let section = view["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agency_id"] == "social-care")
            .unwrap();
        assert_eq!(section["status"], "ok", "{section}");
        let record = section["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_system_id"] == plan.as_str())
            .unwrap();
        assert_eq!(record["effective_to"], "+262142-12-31", "{record}");
        let ended: Vec<&Value> = view["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["date"] == "+262142-12-31")
            .collect();
        assert!(
            ended.len() <= 1,
            "the plan ends once, when it says: {ended:?}"
        );
    }
    fed.shutdown().await;
}

/// Finding 10: expiry was checked before ownership, so a stranger holding someone
/// else's reference learnt whether it was still live. Ownership (the token's issuer and
/// subject) is checked first.
#[tokio::test]
async fn a_stranger_is_told_a_reference_is_not_theirs_before_whether_it_expired() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 5))
        .await
        .unwrap();
    let settings = fed.files.gateway_settings().unwrap();
    let sealer = gateway::reference::ReferenceSealer::from_base64(
        &std::fs::read_to_string(&settings.reference.key_file).unwrap(),
    )
    .unwrap();
    let dsl = fed.dsl_token();
    let owner = "designated_safeguarding_lead.school-a";
    let expired = |sub: &str| {
        sealer
            .seal(&gateway::reference::ReferenceClaims {
                iss: federation::plan::DEV_ISSUER.into(),
                sub: sub.into(),
                exp: chrono::Utc::now().timestamp() - 60,
                nodes: Vec::new(),
                rel: None,
            })
            .unwrap()
    };
    fed.view(&dsl, &expired(owner), SAFEGUARDING)
        .await
        .case("the owner")
        .expect_problem(410, "reference-expired");
    let stranger = fed.token(PractitionerRole::Teacher, "school-a");
    fed.view(&stranger, &expired(owner), SAFEGUARDING)
        .await
        .case("a stranger")
        .expect_problem(403, "reference-not-yours");
    fed.shutdown().await;
}

/// Finding 11: `federation up` wrote private keys and secrets readable by every user of
/// the machine (0644). Every key, secret and token file is the owner's only (0600), and
/// so is the folder of the nodes' databases (0700).
#[tokio::test]
async fn keys_secrets_and_tokens_are_written_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut secrets = Vec::new();
    let mut pending = vec![fed.files.root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if [".key", ".secret", ".webhook-secret", ".candidate-key"]
                .iter()
                .any(|ext| path.to_string_lossy().ends_with(ext))
            {
                secrets.push(path);
            }
        }
    }
    // The PKI's keys (CA-issued pairs for the gateway, the node and its system), the
    // issuer's, the reference, matching and locator keys, webhook secrets both sides,
    // the candidate-token key.
    assert!(secrets.len() >= 9, "{secrets:?}");
    for path in &secrets {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(&fed.files.root.join("data")), 0o700);
    fed.shutdown().await;
}

/// Finding 2, the short version (the 20-second run is `federation bench fairness`): nodes
/// limited every practitioner behind a gateway as one caller, and the gateway counted a
/// node's 429 as a breaker failure, so one agency's flood emptied everyone's views. Now
/// a node limits per (gateway, practitioner's agency), and its 429 holds back only the
/// agency it was for: no breaker opens, and another agency's view stays whole.
#[tokio::test]
async fn one_agencys_flood_is_held_back_alone_and_opens_no_breaker() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "social-care", "police", "health"],
        children: 60,
        // The gateway lets the flood through; the nodes are strict, so they answer 429.
        rate_limit: Some((1_000.0, 1_000)),
        node_rate_limit: Some((2.0, 8)),
        // Two failures in a row would open a breaker.
        breaker: (2, 60_000),
        ..Options::default()
    })
    .await
    .unwrap();
    let child = fed
        .child_known_to(2, &["school-a"])
        .expect("a child known to school A and another agency");
    let query = federation_tests::query_for(child);
    let search = format!("/v1/children:search?{SAFEGUARDING}");

    // Police and social care each flood: 40 searches at once, every node asked each time.
    let flooders = [
        fed.token(PractitionerRole::PoliceOfficer, "police"),
        fed.token(PractitionerRole::SocialWorker, "social-care"),
    ];
    let flood = flooders
        .iter()
        .flat_map(|token| (0..40).map(|_| fed.gateway_post(token, &search, &query)));
    let answers = futures::future::join_all(flood).await;
    let held_back = answers
        .iter()
        .flat_map(|a| a.json()["agencies"].as_array().cloned().unwrap_or_default())
        .filter(|a| {
            a["status"] == "unavailable"
                && a["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("rate limit"))
        })
        .count();
    assert!(held_back > 0, "the nodes held the flood back");

    // The school's DSL, meanwhile: every agency answers.
    let dsl = fed.dsl_token();
    let reference = fed.reference_for(&dsl, child, SAFEGUARDING).await;
    let view = fed.view(&dsl, &reference, SAFEGUARDING).await.expect(200);
    for section in view["sections"].as_array().unwrap() {
        assert!(
            matches!(
                section["status"].as_str(),
                Some("ok" | "withheld" | "not_found")
            ),
            "{section}"
        );
    }
    let metrics = fed.gateway_metrics().await;
    assert!(
        metrics.contains("outcome=\"rate_limited\""),
        "429s are counted apart: {metrics}"
    );
    let breakers: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("upstream_breaker_state{"))
        .collect();
    assert!(!breakers.is_empty(), "{metrics}");
    assert!(
        breakers.iter().all(|l| l.ends_with(" 0")),
        "every breaker closed: {breakers:?}"
    );
    fed.shutdown().await;
}
