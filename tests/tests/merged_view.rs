//! The merged view a practitioner acts on, across a running federation: chronology,
//! barriers, transitions, key contacts and filtering, read from what the nodes disclose.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation::seed::SyntheticChild;
use federation_tests::{Answer, Options, SAFEGUARDING, TestFederation, spawn_federation};
use schemas::{PractitionerRole, RecordCategory, RecordUpsert};
use serde_json::Value;

/// Enough synthetic children for each scenario below to exist (the generator is
/// deterministic, so the same children are always there): the first child with an open
/// CP plan, a suspension and an Encompass notification is number 1,281 of seed 42.
const CHILDREN_WITH_CP_EXCLUSION_AND_ENCOMPASS: usize = 1300;
const CHILDREN_WITH_MOVES: usize = 300;

fn records(
    child: &SyntheticChild,
    category: RecordCategory,
) -> impl Iterator<Item = &RecordUpsert> {
    child
        .holdings
        .iter()
        .flat_map(|h| h.records.iter())
        .filter(move |r| r.category == category)
}

fn has(child: &SyntheticChild, category: RecordCategory) -> bool {
    records(child, category).next().is_some()
}

/// A social worker keeping the child safe: every agency's policy shares something.
fn social_worker(fed: &TestFederation) -> String {
    fed.token(PractitionerRole::SocialWorker, "social-care")
}

async fn reference_for(fed: &TestFederation, token: &str, child: &SyntheticChild) -> String {
    fed.reference_for(token, child, SAFEGUARDING).await
}

/// The merged view in a safeguarding context, with a filter (`&from=…`) or "".
async fn view(fed: &TestFederation, token: &str, reference: &str, filter: &str) -> Answer {
    fed.view(token, reference, &format!("{SAFEGUARDING}{filter}"))
        .await
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_child_on_a_cp_plan_with_exclusions_and_encompass_gets_an_actionable_view() {
    let fed = spawn_federation(Options {
        children: CHILDREN_WITH_CP_EXCLUSION_AND_ENCOMPASS,
        ..Options::default()
    })
    .await
    .unwrap();
    let child = fed
        .children
        .iter()
        .find(|c| {
            records(c, RecordCategory::ChildProtectionPlan).any(|r| r.effective_to.is_none())
                && has(c, RecordCategory::Exclusion)
                && has(c, RecordCategory::EncompassNotification)
        })
        .expect("a seeded child with a CP plan, a suspension and an Encompass notification");
    let token = social_worker(&fed);
    let reference = reference_for(&fed, &token, child).await;
    let body = view(&fed, &token, &reference, "").await.expect(200);

    // Chronology: every disclosed record, from at least three agencies, newest first,
    // same-day events by agency id then source id.
    let chronology = body["chronology"].as_array().unwrap();
    let total: usize = child.holdings.iter().map(|h| h.records.len()).sum();
    assert_eq!(chronology.len(), total);
    let agencies: std::collections::BTreeSet<&str> = chronology
        .iter()
        .map(|e| e["agency_id"].as_str().unwrap())
        .collect();
    assert!(agencies.len() >= 3, "{agencies:?}");
    for pair in chronology.windows(2) {
        let key = |e: &Value| {
            (
                std::cmp::Reverse(e["date"].as_str().unwrap().to_owned()),
                e["agency_id"].as_str().unwrap().to_owned(),
            )
        };
        assert!(key(&pair[0]) <= key(&pair[1]), "out of order: {pair:?}");
    }

    // Barriers.
    let barriers = &body["barriers"];
    let exclusion_ids: Vec<String> = records(child, RecordCategory::Exclusion)
        .map(|r| r.source_system_id.clone())
        .collect();
    assert_eq!(
        barriers["behaviour"]["signal"], "concern",
        "{}",
        barriers["behaviour"]
    );
    let behaviour_ids = ids(&barriers["behaviour"]["evidence"], "source_system_id");
    assert!(exclusion_ids.iter().all(|id| behaviour_ids.contains(id)));

    assert_eq!(barriers["wellbeing"]["signal"], "concern");
    let wellbeing = barriers["wellbeing"]["evidence"].as_array().unwrap();
    for (agency, category) in [
        ("social-care", "child_protection_plan"),
        ("police", "encompass_notification"),
    ] {
        assert!(
            wellbeing.iter().any(|e| e["agency_id"] == agency
                && e["category"] == category
                && e["signal"] == "concern"),
            "{agency} {category}: {wellbeing:?}"
        );
    }

    // Attendance is read from the school's session counts (shared in full with a social
    // worker), and persistent absence in the latest period is a concern.
    let attendance = &barriers["attendance"];
    let mut seeded: Vec<&RecordUpsert> = records(child, RecordCategory::Attendance).collect();
    seeded.sort_by_key(|r| std::cmp::Reverse(r.effective_from));
    assert_eq!(
        ids(&attendance["evidence"], "source_system_id"),
        seeded
            .iter()
            .map(|r| r.source_system_id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(attendance["summary_level_only"], false);
    if seeded[0].details["persistent_absence"] == true {
        assert_eq!(attendance["signal"], "concern", "{attendance}");
    }
    let expected_learning = match records(child, RecordCategory::SpecialEducationalNeeds).next() {
        Some(sen) if sen.details["provision"] == "ehc_plan" => "concern",
        Some(_) => "watch",
        None => "none_known",
    };
    assert_eq!(barriers["learning"]["signal"], expected_learning);

    // Transitions: the CP plan's start (or the step up to it) is there, oldest first.
    let transitions = body["transitions"].as_array().unwrap();
    let cp = records(child, RecordCategory::ChildProtectionPlan)
        .find(|r| r.effective_to.is_none())
        .unwrap();
    assert!(
        transitions.iter().any(|t| t["kind"] == "plan_change"
            && t["to"] == "child protection plan"
            && t["date"] == cp.effective_from.to_string()),
        "{transitions:?}"
    );
    let dates = ids(&body["transitions"], "date");
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted);

    // Key contacts: the social worker by name (disclosed in full to a social worker), the
    // school's DSL by its contact route, the trusted adult named by the school.
    let contacts = body["key_contacts"].as_array().unwrap();
    let worker = records(child, RecordCategory::AllocatedSocialWorker)
        .find(|r| r.effective_to.is_none())
        .unwrap();
    assert!(contacts.iter().any(|c| c["role"] == "social_worker"
        && c["name"] == worker.details["worker"]
        && c["route"]["route"].as_str().unwrap().contains("duty line")));
    assert!(
        contacts
            .iter()
            .any(|c| c["role"] == "designated_safeguarding_lead"
                && c["route"]["team"] == "Designated safeguarding lead"
                && c.get("name").is_none())
    );
    if let Some(adult) = records(child, RecordCategory::TrustedAdult).next() {
        assert!(
            contacts
                .iter()
                .any(|c| c["role"] == "trusted_adult" && c["name"] == adult.details["name"])
        );
    }

    // Filtering: from the CP plan's start, only exclusions and Encompass notifications.
    let from = cp.effective_from;
    let filtered = view(
        &fed,
        &token,
        &reference,
        &format!("&from={from}&category=exclusion&category=encompass_notification"),
    )
    .await;
    let filtered = filtered.expect(200);
    let kept = |r: &&RecordUpsert| {
        matches!(
            r.category,
            RecordCategory::Exclusion | RecordCategory::EncompassNotification
        ) && r.effective_to.unwrap_or(r.effective_from) >= from
    };
    let expected: usize = child
        .holdings
        .iter()
        .flat_map(|h| h.records.iter())
        .filter(kept)
        .count();
    let shown: usize = filtered["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["records"].as_array().unwrap().len())
        .sum();
    assert_eq!(shown, expected);
    for entry in filtered["chronology"].as_array().unwrap() {
        assert!(entry["date"].as_str().unwrap() >= from.to_string().as_str());
        assert!(
            ["exclusion", "encompass_notification"].contains(&entry["category"].as_str().unwrap())
        );
    }
    assert_eq!(filtered["barriers"]["attendance"]["signal"], "not_assessed");
    assert_eq!(filtered["barriers"]["learning"]["signal"], "not_assessed");
    assert!(
        filtered["barriers"]["wellbeing"]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["category"] == "encompass_notification")
    );
    assert!(filtered["transitions"].as_array().unwrap().is_empty());
    assert_eq!(filtered["filter"]["from"], from.to_string());
    assert_eq!(
        filtered["key_contacts"].as_array().unwrap().len(),
        contacts.len(),
        "key contacts are never filtered"
    );

    // A comma-separated list is the same filter.
    let commas = view(
        &fed,
        &token,
        &reference,
        &format!("&from={from}&category=exclusion,encompass_notification"),
    )
    .await;
    let commas = commas.json();
    assert_eq!(commas["chronology"], filtered["chronology"]);
    fed.shutdown().await;
}

#[tokio::test]
async fn an_invalid_view_filter_is_a_problem_naming_the_field() {
    let fed = spawn_federation(Options {
        children: 20,
        ..Options::default()
    })
    .await
    .unwrap();
    let child = fed.child_known_to(1, &[]).unwrap();
    let token = social_worker(&fed);
    let reference = reference_for(&fed, &token, child).await;
    for (filter, field) in [
        ("&from=2026-02-30", "from"),
        ("&to=next-week", "to"),
        ("&from=2026-05-01&to=2026-04-01", "to"),
        ("&category=gossip", "category"),
        ("&category=attendance,", "category"),
    ] {
        let problem = view(&fed, &token, &reference, filter)
            .await
            .case(filter)
            .expect_any_problem(400);
        assert_eq!(problem["errors"][0]["field"], field, "{filter}: {problem}");
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn school_moves_plan_steps_and_new_social_workers_are_transitions() {
    let fed = spawn_federation(Options {
        children: CHILDREN_WITH_MOVES,
        ..Options::default()
    })
    .await
    .unwrap();
    let token = social_worker(&fed);

    let mover = fed
        .children
        .iter()
        .find(|c| records(c, RecordCategory::Enrolment).count() == 2)
        .expect("a child who moved school");
    // Their school's DSL: the school has them on roll.
    let school = mover.holdings[0].node;
    let dsl = fed.token(PractitionerRole::DesignatedSafeguardingLead, school);
    let reference = reference_for(&fed, &dsl, mover).await;
    let body: Value = view(&fed, &dsl, &reference, "").await.json();
    let now = records(mover, RecordCategory::Enrolment)
        .find(|r| r.effective_to.is_none())
        .unwrap();
    let was = records(mover, RecordCategory::Enrolment)
        .find(|r| r.effective_to.is_some())
        .unwrap();
    let moves: Vec<&Value> = body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "school_move")
        .collect();
    assert_eq!(moves.len(), 1, "{}", body["transitions"]);
    assert_eq!(moves[0]["date"], now.effective_from.to_string());
    assert_eq!(moves[0]["from"], was.details["school_name"]);
    assert_eq!(moves[0]["to"], now.details["school_name"]);

    let stepped = fed
        .children
        .iter()
        .find(|c| {
            records(c, RecordCategory::AllocatedSocialWorker).count() == 2
                && [
                    RecordCategory::ChildInNeedPlan,
                    RecordCategory::ChildProtectionPlan,
                    RecordCategory::LookedAfter,
                ]
                .iter()
                .map(|cat| records(c, *cat).count())
                .sum::<usize>()
                    == 2
        })
        .expect("a child whose plan changed and who has a new social worker");
    let reference = reference_for(&fed, &token, stepped).await;
    let body: Value = view(&fed, &token, &reference, "").await.json();
    let transitions = body["transitions"].as_array().unwrap();
    let kinds: Vec<&str> = transitions
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.iter().filter(|k| **k == "plan_change").count() >= 2,
        "a start and a step: {kinds:?}"
    );
    let new_worker = records(stepped, RecordCategory::AllocatedSocialWorker)
        .find(|r| r.effective_to.is_none())
        .unwrap();
    assert!(
        transitions
            .iter()
            .any(|t| t["kind"] == "practitioner_change"
                && t["to"] == new_worker.details["worker"]
                && t["date"] == new_worker.effective_from.to_string())
    );

    // Filtering transitions by category keeps only those read from that category.
    let filtered: Value = view(
        &fed,
        &token,
        &reference,
        "&category=allocated_social_worker",
    )
    .await
    .json();
    let kinds: Vec<&str> = filtered["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["practitioner_change"]);
    fed.shutdown().await;
}
