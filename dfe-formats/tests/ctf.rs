//! Common Transfer Files written from the specification with synthetic pupils, read as a
//! school node would: every version, full and partial, the addressee, the mapping, and
//! invalid values named by their element path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dfe_formats::fixtures::{CtfFile, CtfPupil, CtfResult, upn};
use dfe_formats::{Addressee, ChildOutcome, CtfSettings, FileProblem, ImportedChild, read_ctf};
use schemas::{AgencyKind, RecordCategory, RecordDetails, Sex};

fn me() -> CtfSettings {
    CtfSettings::school(Addressee::school("999", "4001", Some("999401")).unwrap())
}

fn imported(outcomes: &[ChildOutcome]) -> Vec<&ImportedChild> {
    outcomes.iter().filter_map(ChildOutcome::imported).collect()
}

fn categories(child: &ImportedChild) -> Vec<RecordCategory> {
    child.records.iter().map(|r| r.record.category()).collect()
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
fn every_supported_version_imports_every_pupil() {
    for version in [23, 24, 25, 26] {
        let file = CtfFile::synthetic(version, 6).to_xml();
        let import = read_ctf(file.as_bytes(), &me()).unwrap_or_else(|e| panic!("{version}: {e}"));
        assert_eq!(import.header.version, version);
        assert_eq!(import.pupils.len(), 6);
        let pupils = imported(&import.pupils);
        assert_eq!(pupils.len(), 6, "{version}: {:?}", import.pupils);
        let first = pupils[0];
        assert_eq!(first.element, "/CTfile/CTFpupilData/Pupil[1]");
        assert_eq!(first.identifiers.upn.as_ref().unwrap().as_str(), upn(1));
        assert_eq!(first.local_id, format!("ctf-{}", upn(1)));
        assert_eq!(first.names.given_name.as_deref(), Some("Tobin"));
        assert_eq!(first.names.family_name.as_deref(), Some("Sampleford"));
        assert_eq!(first.date_of_birth.unwrap().to_string(), "2014-02-02");
        assert_eq!(
            first.sex,
            Some(Sex::Male),
            "{version}: Gender or Sex is read"
        );
        assert_eq!(first.postcode.as_deref(), Some("ZZ2 1AB"));
        let child = first.to_child_upsert();
        assert_eq!(
            child.demographics.family_name.as_deref(),
            Some("Sampleford")
        );
        assert_eq!(child.identifiers.upn, first.identifiers.upn);
    }
}

#[test]
fn a_pupil_becomes_records_in_every_category_the_file_carries() {
    let file = CtfFile::synthetic(25, 6).to_xml();
    let import = read_ctf(file.as_bytes(), &me()).unwrap();
    let pupils = imported(&import.pupils);
    // Pupil 3: FSM; pupil 5: SEN support and a former UPN; pupil 6: looked after.
    let p3 = pupils[2];
    let cats = categories(p3);
    for c in [
        RecordCategory::Attendance,
        RecordCategory::Enrolment,
        RecordCategory::Attainment,
        RecordCategory::FreeSchoolMeals,
        RecordCategory::PupilPremium,
        RecordCategory::ChildCharacteristics,
    ] {
        assert!(cats.contains(&c), "{c:?} in {cats:?}");
    }
    assert_eq!(
        details_of(p3, RecordCategory::PupilPremium),
        [serde_json::json!({"eligible": true, "basis": "ever_6_fsm"})]
    );
    let p5 = pupils[4];
    assert_eq!(
        p5.identifiers.former_upn.as_ref().unwrap().as_str(),
        upn(500_005)
    );
    assert_eq!(
        details_of(p5, RecordCategory::SpecialEducationalNeeds),
        [
            serde_json::json!({"provision": "sen_support", "primary_need": "SEMH", "secondary_need": "SLCN"})
        ]
    );
    let p6 = pupils[5];
    assert_eq!(
        details_of(p6, RecordCategory::LookedAfterStatus),
        [serde_json::json!({"in_care": true, "care_authority": "999"})]
    );
    assert_eq!(
        details_of(p6, RecordCategory::PupilPremium),
        [serde_json::json!({"eligible": true, "basis": "looked_after"})],
        "looked after comes before ever 6 FSM"
    );
    // Attendance: 380 possible, 17 absent, year 2024/25 at the sender.
    let attendance = &p5
        .records
        .iter()
        .find(|r| r.record.category() == RecordCategory::Attendance)
        .unwrap()
        .record;
    assert_eq!(attendance.effective_from().to_string(), "2024-09-01");
    assert_eq!(attendance.effective_to().unwrap().to_string(), "2025-08-31");
    assert!(
        attendance
            .impact()
            .starts_with("Attendance 95.5% in 2024/25 at Brookside Primary")
    );
    // Key stage results: the multiplication tables check has no place on the scale.
    let attainment = details_of(p5, RecordCategory::Attainment);
    assert_eq!(attainment.len(), 3, "{attainment:?}");
    assert!(
        p5.not_mapped
            .iter()
            .any(|n| n.path.ends_with("KeyStage[3]/StageAssessment[1]"))
    );
}

#[test]
fn school_history_becomes_enrolments_with_the_move_between_them() {
    let file = CtfFile::synthetic(25, 1).to_xml();
    let import = read_ctf(file.as_bytes(), &me()).unwrap();
    let pupil = imported(&import.pupils)[0];
    let enrolments: Vec<_> = pupil
        .records
        .iter()
        .filter(|r| r.record.category() == RecordCategory::Enrolment)
        .map(|r| &r.record)
        .collect();
    assert_eq!(enrolments.len(), 2);
    assert_eq!(
        enrolments[0].details().school(),
        Some(("999101", "Hillcrest Infant School"))
    );
    assert_eq!(
        enrolments[0].effective_to().unwrap().to_string(),
        "2021-07-20"
    );
    assert_eq!(
        enrolments[1].details().school(),
        Some(("999201", "Brookside Primary"))
    );
    assert_eq!(enrolments[1].effective_from().to_string(), "2021-09-02");
    assert_eq!(
        enrolments[1].details().to_value()["year_group"],
        6,
        "the sender's current year group"
    );
    assert!(
        enrolments[0]
            .details()
            .to_value()
            .get("year_group")
            .is_none()
    );
}

#[test]
fn the_same_file_twice_is_the_same_records_named_for_the_sender() {
    let file = CtfFile::synthetic(24, 4).to_xml();
    let first = read_ctf(file.as_bytes(), &me()).unwrap();
    let second = read_ctf(file.as_bytes(), &me()).unwrap();
    let records = |i: &dfe_formats::CtfImport| -> Vec<_> {
        imported(&i.pupils)
            .iter()
            .flat_map(|c| c.records.iter().map(|r| r.record.clone()))
            .collect()
    };
    assert_eq!(records(&first), records(&second));
    let ids: Vec<String> = records(&first)
        .iter()
        .map(|r| r.source_system_id().to_owned())
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let prefix = format!("ctf-9992001-{}-", upn(1));
    assert!(
        ids.iter()
            .any(|id| id == &format!("{prefix}att-2024-9992001")),
        "{ids:?}"
    );
    assert!(
        ids.iter()
            .any(|id| id == &format!("{prefix}enr-999101-2018-09-04")),
        "{ids:?}"
    );
    assert_eq!(first.header.source.dfe_number(), "9992001");
}

#[test]
fn a_partial_file_from_a_dfe_service_is_read_for_what_it_carries() {
    let mut file = CtfFile::synthetic(25, 2);
    file.qualifier = "partial".into();
    file.source = dfe_formats::fixtures::CtfSchool::new("999", "LLLL", None, None);
    for pupil in &mut file.pupils {
        let keep = pupil.clone();
        *pupil = CtfPupil {
            attendance: Vec::new(),
            schools: Vec::new(),
            contacts: Vec::new(),
            fsm: Vec::new(),
            sen: Vec::new(),
            sen_needs: Vec::new(),
            looked_after: None,
            ethnicity: None,
            results: vec![CtfResult {
                stage: "KS2".into(),
                year: "2026".into(),
                subject: "REA".into(),
                method: "TT".into(),
                result: "112".into(),
            }],
            ..keep
        };
    }
    let import = read_ctf(file.to_xml().as_bytes(), &me()).unwrap();
    assert_eq!(
        import.header.qualifier,
        dfe_formats::ctf::DocumentQualifier::Partial
    );
    for pupil in imported(&import.pupils) {
        assert_eq!(categories(pupil), [RecordCategory::Attainment]);
        let details = pupil.records[0].record.details();
        assert!(matches!(details, RecordDetails::Attainment(_)));
        assert_eq!(
            details.to_value(),
            serde_json::json!({"subject": "reading", "working_at": "above",
                "assessment": "KS2 test 2026"})
        );
        assert!(
            pupil.records[0]
                .record
                .source_system_id()
                .starts_with("ctf-999LLLL-")
        );
    }
}

#[test]
fn contacts_who_are_parents_or_carers_become_parent_carer_records() {
    let file = CtfFile::synthetic(25, 1).to_xml();
    let import = read_ctf(file.as_bytes(), &me()).unwrap();
    let pupil = imported(&import.pupils)[0];
    assert_eq!(pupil.contacts.len(), 2);
    let parent = &pupil.contacts[0];
    assert_eq!(
        parent.element,
        "/CTfile/CTFpupilData/Pupil[1]/Contacts/Contact[1]"
    );
    assert_eq!(parent.relationship.as_deref(), Some("PAR"));
    assert_eq!(parent.parental_responsibility, Some(true));
    assert_eq!(parent.phones, [("M".to_owned(), "07700 900000".to_owned())]);
    let people: Vec<_> = pupil
        .records
        .iter()
        .filter(|r| r.record.category() == schemas::RecordCategory::ParentCarer)
        .collect();
    assert_eq!(people.len(), 2);
    assert_eq!(people[0].element, parent.element);
    let details = people[0].record.details().to_value();
    // The file gives no sex for the contact: a parent, with parental responsibility.
    assert_eq!(details["relationship"], "parent", "{details}");
    assert_eq!(details["parental_responsibility"], true, "{details}");
    assert_eq!(details["lives_with_child"], true, "{details}");
    let carer = people[1].record.details().to_value();
    assert_eq!(carer["relationship"], "carer", "{carer}");
    assert_eq!(carer["parental_responsibility"], false, "{carer}");
}

#[test]
fn a_file_addressed_elsewhere_is_refused_whole() {
    let mut file = CtfFile::synthetic(25, 3);
    file.destination = dfe_formats::fixtures::CtfSchool::new("999", "4002", Some("999402"), None);
    let e = read_ctf(file.to_xml().as_bytes(), &me()).unwrap_err();
    assert_eq!(e.code(), "import-not-addressed-here");
    assert!(e.to_string().contains("999/4002"), "{e}");
    // The same file is taken by the school it is addressed to.
    let there = CtfSettings::school(Addressee::school("999", "4002", None).unwrap());
    assert!(read_ctf(file.to_xml().as_bytes(), &there).is_ok());
}

#[test]
fn an_la_level_file_is_read_by_the_authority_for_the_categories_it_holds() {
    let mut file = CtfFile::synthetic(25, 6);
    file.destination = dfe_formats::fixtures::CtfSchool::new("999", "LLLL", None, None);
    let settings = CtfSettings {
        max_bytes: dfe_formats::ctf::DEFAULT_MAX_BYTES,
        addressee: Addressee::LocalAuthority {
            la: schemas::details::LaCode::new("999").unwrap(),
        },
        holder: AgencyKind::VirtualSchool,
    };
    let import = read_ctf(file.to_xml().as_bytes(), &settings).unwrap();
    let pupil = imported(&import.pupils)[5];
    let cats = categories(pupil);
    assert!(cats.contains(&RecordCategory::Attendance));
    assert!(cats.contains(&RecordCategory::LookedAfterStatus));
    assert!(!cats.contains(&RecordCategory::Enrolment));
    assert!(
        pupil.not_mapped.iter().any(|n| n
            .message
            .contains("virtual_school node does not hold enrolment")),
        "{:?}",
        pupil.not_mapped
    );
}

/// The pupils other than `bad` are imported; `bad` fails with exactly `paths`.
fn only_pupil_fails(file: &CtfFile, bad: usize, paths: &[&str]) {
    let import = read_ctf(file.to_xml().as_bytes(), &me()).unwrap();
    for (i, outcome) in import.pupils.iter().enumerate() {
        match outcome {
            ChildOutcome::Failed(failed) if i + 1 == bad => {
                let got: Vec<&str> = failed.problems.iter().map(|p| p.path.as_str()).collect();
                assert_eq!(got, paths, "{:?}", failed.problems);
                assert_eq!(failed.element, format!("/CTfile/CTFpupilData/Pupil[{bad}]"));
            }
            ChildOutcome::Imported(_) if i + 1 != bad => {}
            other => panic!("pupil {}: {other:?}", i + 1),
        }
    }
}

#[test]
fn a_date_that_is_not_a_date_fails_that_pupil_only() {
    let mut file = CtfFile::synthetic(25, 4);
    file.pupils[1].dob = "2014-02-30".into();
    only_pupil_fails(&file, 2, &["/CTfile/CTFpupilData/Pupil[2]/DOB"]);
}

#[test]
fn a_boolean_that_is_not_one_fails_that_pupil_only() {
    let mut file = CtfFile::synthetic(25, 6);
    file.pupils[5].looked_after = Some(("Y".into(), Some("999".into())));
    only_pupil_fails(
        &file,
        6,
        &["/CTfile/CTFpupilData/Pupil[6]/LookedAfter/InCare"],
    );
}

#[test]
fn an_unknown_element_is_reported_not_read_and_the_pupil_is_imported() {
    // A later version's addition or a supplier's own element: not a reason to refuse.
    let mut file = CtfFile::synthetic(25, 3);
    file.pupils[2].extra = "<Nickname>Sunny</Nickname>".into();
    let import = read_ctf(file.to_xml().as_bytes(), &me()).unwrap();
    let third = import.pupils[2]
        .imported()
        .expect("the pupil with an unknown element is imported");
    let reported: Vec<&str> = third.not_mapped.iter().map(|p| p.path.as_str()).collect();
    assert!(
        reported.contains(&"/CTfile/CTFpupilData/Pupil[3]/Nickname"),
        "{reported:?}"
    );
    assert!(
        third
            .not_mapped
            .iter()
            .any(|p| p.message.contains("not read"))
    );
    let first = import.pupils[0].imported().expect("imported");
    assert!(
        !first
            .not_mapped
            .iter()
            .any(|p| p.path.ends_with("Nickname")),
        "only the pupil that has it reports it"
    );
}

#[test]
fn every_invalid_element_of_a_pupil_is_named_at_once() {
    let mut file = CtfFile::synthetic(25, 2);
    let p = &mut file.pupils[0];
    p.upn = "A999000000001".into();
    p.attendance[1].possible = "many".into();
    p.schools[0].entry = "04/09/2018".into();
    p.sen_needs = vec!["AUTISM".into()];
    only_pupil_fails(
        &file,
        1,
        &[
            "/CTfile/CTFpupilData/Pupil[1]/UPN",
            "/CTfile/CTFpupilData/Pupil[1]/SENhistory/SENneeds/SENneed[1]/SENtype",
            "/CTfile/CTFpupilData/Pupil[1]/Attendance/YearData[2]/SessionsPossible",
            "/CTfile/CTFpupilData/Pupil[1]/SchoolHistory/School[1]/EntryDate",
        ],
    );
}

#[test]
fn values_our_vocabulary_refuses_are_named_by_their_element() {
    let mut file = CtfFile::synthetic(25, 2);
    // More sessions attended than possible; a leaving date before the entry date; an
    // ethnicity code that is not one.
    file.pupils[1].attendance[0].attended = "400".into();
    file.pupils[1].schools[0].leaving = Some("2017-01-01".into());
    file.pupils[1].ethnicity = Some("wbri".into());
    only_pupil_fails(
        &file,
        2,
        &[
            "/CTfile/CTFpupilData/Pupil[2]/Attendance/YearData[1]/SessionsAttended",
            "/CTfile/CTFpupilData/Pupil[2]/SchoolHistory/School[1]/LeavingDate",
            "/CTfile/CTFpupilData/Pupil[2]/BasicDetails/Ethnicity",
        ],
    );
}

#[test]
fn versions_other_than_the_supported_ones_are_refused_whole() {
    for version in ["22.0", "27.0", "twenty-five", ""] {
        let mut file = CtfFile::synthetic(25, 1);
        file.version = version.into();
        let e = read_ctf(file.to_xml().as_bytes(), &me()).unwrap_err();
        assert!(
            matches!(e, FileProblem::UnsupportedVersion { .. }),
            "{version}: {e}"
        );
        assert!(e.to_string().contains("23.0, 24.0, 25.0, 26.0"), "{e}");
    }
}

#[test]
fn an_invalid_header_is_refused_whole_naming_its_elements() {
    let mut file = CtfFile::synthetic(25, 1);
    file.qualifier = "complete".into();
    file.date_time = "yesterday".into();
    let e = read_ctf(file.to_xml().as_bytes(), &me()).unwrap_err();
    let paths: Vec<&str> = e.elements().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/CTfile/Header/DateTime",
            "/CTfile/Header/DocumentQualifier"
        ],
        "{e}"
    );
    assert_eq!(e.code(), "import-invalid-header");
}
