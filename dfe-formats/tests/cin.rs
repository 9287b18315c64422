//! Children in need census returns written from the specification with synthetic
//! children, read as a social-care node would: both years, no names, every module, and
//! invalid values named per child while the rest of the file loads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dfe_formats::fixtures::{CinFile, upn};
use dfe_formats::{ChildOutcome, CinSettings, FileProblem, ImportedChild, read_cin_census};
use schemas::details::LaCode;
use schemas::{RecordCategory, Sex};
use serde_json::json;

fn me() -> CinSettings {
    CinSettings::social_care(LaCode::new("999").unwrap())
}

fn imported(outcomes: &[ChildOutcome]) -> Vec<&ImportedChild> {
    outcomes.iter().filter_map(ChildOutcome::imported).collect()
}

fn details_of(child: &ImportedChild, category: RecordCategory) -> Vec<serde_json::Value> {
    child
        .records
        .iter()
        .filter(|r| r.record.category() == category)
        .map(|r| r.record.details().to_value())
        .collect()
}

#[test]
fn the_current_and_previous_census_years_import_every_child() {
    for year in [2026, 2027] {
        let file = CinFile::synthetic(year, 10).to_xml();
        let import = read_cin_census(file.as_bytes(), &me()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(import.header.year, i64::from(year));
        assert_eq!(import.header.la, "999");
        let children = imported(&import.children);
        assert_eq!(children.len(), 10, "{:?}", import.children);
        let first = children[0];
        assert_eq!(first.element, "/Message/Children/Child[1]");
        assert_eq!(first.local_id, "CH000001");
        assert_eq!(first.identifiers.la_child_id.as_deref(), Some("CH000001"));
        assert_eq!(
            first.identifiers.upn.as_ref().unwrap().as_str(),
            upn(100_001)
        );
        assert_eq!(first.names, dfe_formats::imported::ImportedNames::default());
        assert_eq!(first.sex, Some(Sex::Male));
        assert!(first.date_of_birth.is_some());
    }
}

#[test]
fn a_child_in_need_becomes_its_episode_plans_assessment_enquiry_and_protection_plan() {
    let file = CinFile::synthetic(2027, 2).to_xml();
    let import = read_cin_census(file.as_bytes(), &me()).unwrap();
    let child = imported(&import.children)[0];
    let categories: Vec<RecordCategory> =
        child.records.iter().map(|r| r.record.category()).collect();
    assert_eq!(
        categories,
        [
            RecordCategory::ChildCharacteristics,
            RecordCategory::ChildInNeedEpisode,
            RecordCategory::ChildInNeedPlan,
            RecordCategory::AssessmentFactors,
            RecordCategory::Section47Enquiry,
            RecordCategory::ChildProtectionPlan,
        ]
    );
    assert_eq!(
        details_of(child, RecordCategory::ChildCharacteristics),
        [json!({"ethnicity": "WBRI", "disabilities": ["LD", "COMM"]})]
    );
    assert_eq!(
        details_of(child, RecordCategory::ChildInNeedEpisode),
        [
            json!({"referral_date": "2026-05-02", "primary_need_code": "N1",
            "referral_source": "2A", "no_further_action": false})
        ]
    );
    assert_eq!(
        details_of(child, RecordCategory::AssessmentFactors),
        [json!({"factors": ["3A", "4B", "8E"]})]
    );
    assert_eq!(
        details_of(child, RecordCategory::Section47Enquiry),
        [
            json!({"initial_cpc_target": "2026-09-24", "initial_cpc_date": "2026-09-24",
            "conference_not_required": false})
        ]
    );
    assert_eq!(
        details_of(child, RecordCategory::ChildProtectionPlan),
        [
            json!({"category_of_abuse": "NEG", "initial_category_of_abuse": "EMO",
            "reviews": ["2027-01-05"], "previous_plans": 0})
        ]
    );
    let plan = child
        .records
        .iter()
        .find(|r| r.record.category() == RecordCategory::ChildProtectionPlan)
        .unwrap();
    assert_eq!(
        plan.element,
        "/Message/Children/Child[1]/CINdetails[1]/ChildProtectionPlans[1]"
    );
    assert_eq!(
        plan.record.impact(),
        "Open child protection plan since 2026-10-01"
    );
    assert_eq!(
        plan.record.source_system_id(),
        "cin-999-CH000001-ref-2026-05-02-cpp-2026-10-01"
    );
}

#[test]
fn a_referral_with_no_further_action_is_an_episode_closed_with_n0() {
    let file = CinFile::synthetic(2027, 4).to_xml();
    let import = read_cin_census(file.as_bytes(), &me()).unwrap();
    let child = imported(&import.children)[3];
    assert_eq!(
        details_of(child, RecordCategory::ChildInNeedEpisode),
        [
            json!({"referral_date": "2026-05-05", "primary_need_code": "N0",
            "closure_date": "2026-06-05", "closure_reason": "RC8", "referral_source": "2A",
            "no_further_action": true})
        ]
    );
    assert_eq!(
        child.records.len(),
        2,
        "characteristics and the episode only"
    );
}

#[test]
fn a_census_child_has_no_names_and_is_a_partial_child() {
    let file = CinFile::synthetic(2027, 10).to_xml();
    let import = read_cin_census(file.as_bytes(), &me()).unwrap();
    let children = imported(&import.children);
    let first = children[0].to_child_upsert();
    assert_eq!(
        (
            &first.demographics.given_name,
            &first.demographics.family_name
        ),
        (&None, &None)
    );
    assert!(first.identifiers.upn.is_some(), "found by its UPN");
    assert!(first.validate().is_empty(), "{:?}", first.validate());
    // Child 10 is unborn: an expected date of birth, no UPN (its reason is not kept).
    let unborn = children[9];
    assert_eq!(unborn.date_of_birth, None);
    assert_eq!(
        unborn.expected_date_of_birth.unwrap().to_string(),
        "2027-06-15"
    );
    assert_eq!(unborn.identifiers.upn, None);
    assert!(
        unborn
            .not_mapped
            .iter()
            .any(|n| n.path.ends_with("ChildIdentifiers/UPNunknown"))
    );
    // Nothing a node could find it by: the node refuses it, naming `demographics`.
    let unborn = unborn.to_child_upsert();
    assert_eq!(
        unborn.demographics.date_of_birth.unwrap().to_string(),
        "2027-06-15"
    );
    assert!(!unborn.validate().is_empty());
}

#[test]
fn the_same_census_twice_is_the_same_records() {
    let file = CinFile::synthetic(2026, 8).to_xml();
    let records = || -> Vec<schemas::CheckedRecord> {
        let import = read_cin_census(file.as_bytes(), &me()).unwrap();
        imported(&import.children)
            .iter()
            .flat_map(|c| c.records.iter().map(|r| r.record.clone()))
            .collect()
    };
    let first = records();
    assert!(first.len() > 20);
    assert_eq!(first, records());
}

/// The children other than `bad` (from 1) are imported; `bad` fails with exactly `paths`.
fn only_child_fails(file: &CinFile, bad: usize, paths: &[&str]) {
    let import = read_cin_census(file.to_xml().as_bytes(), &me()).unwrap();
    assert_eq!(import.children.len(), file.children.len());
    for (i, outcome) in import.children.iter().enumerate() {
        match outcome {
            ChildOutcome::Failed(failed) if i + 1 == bad => {
                let got: Vec<&str> = failed.problems.iter().map(|p| p.path.as_str()).collect();
                assert_eq!(got, paths, "{:?}", failed.problems);
                assert_eq!(
                    failed.key.as_deref(),
                    Some(file.children[i].la_child_id.as_str())
                );
            }
            ChildOutcome::Imported(_) if i + 1 != bad => {}
            other => panic!("child {}: {other:?}", i + 1),
        }
    }
}

#[test]
fn a_date_that_is_not_a_date_fails_that_child_and_the_rest_loads() {
    let mut file = CinFile::synthetic(2027, 5);
    if let Some(plan) = file.children[2].cp_plan.as_mut() {
        plan.start = "2026-10-32".into();
    }
    only_child_fails(
        &file,
        3,
        &["/Message/Children/Child[3]/CINdetails[1]/ChildProtectionPlans[1]/CPPstartDate"],
    );
}

#[test]
fn a_boolean_that_is_not_one_fails_that_child_and_the_rest_loads() {
    let mut file = CinFile::synthetic(2027, 5);
    file.children[4].nfa = "no".into();
    only_child_fails(
        &file,
        5,
        &["/Message/Children/Child[5]/CINdetails[1]/ReferralNFA"],
    );
}

#[test]
fn an_element_the_census_no_longer_has_is_reported_not_read_and_the_child_loads() {
    // `GenderCurrent` left the census in 2024 to 2025: a system still writing it is told.
    let mut file = CinFile::synthetic(2027, 3);
    file.children[0].extra = "<GenderCurrent>1</GenderCurrent>".into();
    let import = read_cin_census(file.to_xml().as_bytes(), &me()).unwrap();
    let first = import.children[0]
        .imported()
        .expect("the child with an unknown element is imported");
    assert!(
        first
            .not_mapped
            .iter()
            .any(|p| p.path == "/Message/Children/Child[1]/GenderCurrent"
                && p.message.contains("not read")),
        "{:?}",
        first.not_mapped
    );
}

#[test]
fn a_child_without_a_date_of_birth_or_an_expected_one_fails() {
    let mut file = CinFile::synthetic(2027, 2);
    file.children[1].birth_date = None;
    only_child_fails(
        &file,
        2,
        &["/Message/Children/Child[2]/ChildIdentifiers/PersonBirthDate"],
    );
}

#[test]
fn census_rules_our_vocabulary_enforces_are_named_by_their_element() {
    let mut file = CinFile::synthetic(2027, 4);
    // Closed before it was referred; a factor code the census does not have.
    file.children[3].closure = Some(("2026-01-01".into(), "RC8".into()));
    file.children[1].factors = vec!["25A".into()];
    let import = read_cin_census(file.to_xml().as_bytes(), &me()).unwrap();
    let failed: Vec<(String, Vec<String>)> = import
        .children
        .iter()
        .filter_map(ChildOutcome::failed)
        .map(|f| {
            (
                f.element.clone(),
                f.problems.iter().map(|p| p.path.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (
                "/Message/Children/Child[2]".to_owned(),
                vec![
                    "/Message/Children/Child[2]/CINdetails[1]/Assessments[1]/FactorsIdentifiedAtAssessment"
                        .to_owned()
                ]
            ),
            (
                "/Message/Children/Child[4]".to_owned(),
                vec!["/Message/Children/Child[4]/CINdetails[1]/CINclosureDate".to_owned()]
            ),
        ]
    );
}

#[test]
fn another_authoritys_census_or_another_year_is_refused_whole() {
    let mut file = CinFile::synthetic(2027, 2);
    file.la = "998".into();
    let e = read_cin_census(file.to_xml().as_bytes(), &me()).unwrap_err();
    assert_eq!(e.code(), "import-not-addressed-here");
    for year in [2025, 2028] {
        let file = CinFile::synthetic(year, 1);
        let e = read_cin_census(file.to_xml().as_bytes(), &me()).unwrap_err();
        assert!(
            matches!(e, FileProblem::UnsupportedVersion { .. }),
            "{year}: {e}"
        );
        assert!(
            e.to_string()
                .contains("2026 (2025 to 2026), 2027 (2026 to 2027)"),
            "{e}"
        );
    }
}
