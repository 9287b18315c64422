//! DfE file imports end to end: a Common Transfer File and a children in need census
//! written from the specifications (synthetic pupils, `dfe_formats::fixtures`), posted to
//! a node over mutual TLS, stored, and read back through the gateway's view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dfe_formats::fixtures::CtfSchool;
use dfe_formats::fixtures::{CinFile, CtfFile};
use federation::plan::{DEV_LA, DEV_SCHOOLS};
use federation_tests::scenario::{Answer, SAFEGUARDING, System};
use federation_tests::{Call, Options, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};

/// A CTF from another school to the dev federation's school A.
fn ctf_to_school_a(pupils: u32) -> CtfFile {
    let (_, estab, urn) = DEV_SCHOOLS[0];
    let mut file = CtfFile::synthetic(25, pupils);
    file.destination = CtfSchool::new(DEV_LA, estab, Some(urn), None);
    file
}

async fn post_xml(system: &System, path: &str, xml: impl Into<String>) -> Answer {
    system
        .client
        .post(system.url(path))
        .header("content-type", "application/xml")
        .body(xml.into())
        .answer()
        .await
}

/// The node's change cursor: it moves with every record written.
async fn change_cursor(system: &System) -> i64 {
    system.get("/v1/changes?limit=5000").await.expect(200)["next"]
        .as_i64()
        .unwrap()
}

async fn audit_entries(system: &System) -> i64 {
    system.verify_audit().await["entries"].as_i64().unwrap()
}

#[tokio::test]
async fn a_ctf_is_imported_and_its_school_history_shows_as_transitions_in_the_view() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    let file = ctf_to_school_a(3);
    let report = post_xml(&school, "/v1/imports/ctf", file.to_xml())
        .await
        .expect(200);
    assert_eq!(
        (&report["format"], &report["version"], &report["qualifier"]),
        (&json!("ctf"), &json!("25"), &json!("full")),
        "{report}"
    );
    assert!(
        report["source"].as_str().unwrap().contains("999/2001"),
        "the source school is recorded: {report}"
    );
    assert_eq!(
        (&report["imported"], &report["failed"]),
        (&json!(3), &json!(0)),
        "{report}"
    );
    let first = &report["children"][0];
    let pupil = &file.pupils[0];
    assert_eq!(first["outcome"], "imported");
    assert_eq!(first["key"], pupil.upn.as_str());
    assert_eq!(first["child_created"], true);
    let local_id = first["local_id"].as_str().unwrap().to_owned();

    // The child as stored: identifiers and names from the file.
    let child = school
        .get(&format!("/v1/children/{local_id}"))
        .await
        .expect(200);
    assert_eq!(child["identifiers"]["upn"], pupil.upn.as_str());
    assert_eq!(child["demographics"]["family_name"], pupil.surname.as_str());
    assert_eq!(child["demographics"]["date_of_birth"], pupil.dob.as_str());
    let records = school.records(&local_id).await;
    let categories: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["category"].as_str())
        .collect();
    for expected in ["attendance", "enrolment", "attainment"] {
        assert!(categories.contains(expected), "{expected}: {categories:?}");
    }
    assert_eq!(
        first["records_written"].as_u64().unwrap() as usize,
        records.len(),
        "{first}"
    );

    // Through the gateway: school A's DSL finds the pupil and sees the move between the
    // schools of the file's history.
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let found = fed
        .gateway_post(
            &token,
            &format!("/v1/children:search?{SAFEGUARDING}"),
            &json!({"identifiers": {"upn": pupil.upn}}),
        )
        .await
        .expect(200);
    let reference = found["reference"].as_str().expect("found by UPN");
    let view = fed.view(&token, reference, SAFEGUARDING).await.expect(200);
    let moves: Vec<&Value> = view["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "school_move")
        .collect();
    assert!(!moves.is_empty(), "a school move: {view}");
    // The file's contact with parental responsibility is the pupil's parent.
    let people = view["people"].as_array().unwrap();
    let parent = people
        .iter()
        .find(|p| p["parental_responsibility"] == true)
        .unwrap_or_else(|| panic!("a parent with parental responsibility: {people:?}"));
    assert_eq!(parent["relationship"], "parent", "{parent}");
    assert_eq!(parent["agency_id"], "school-a");
    assert!(
        parent["name"].as_str().unwrap().contains("Jordan"),
        "{parent}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_ctf_pupil_keeps_preferred_and_former_names_and_is_found_by_a_former_upn() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    // Pupil 4 has preferred names; pupil 5 a former UPN and a former surname.
    let file = ctf_to_school_a(5);
    let report = post_xml(&school, "/v1/imports/ctf", file.to_xml())
        .await
        .expect(200);
    assert_eq!(report["imported"], 5, "{report}");
    let stored = |i: usize| {
        let local_id = report["children"][i]["local_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let school = &school;
        async move {
            school
                .get(&format!("/v1/children/{local_id}"))
                .await
                .expect(200)
        }
    };
    let preferred = &file.pupils[3];
    let child = stored(3).await;
    assert_eq!(
        (
            &child["demographics"]["given_name"],
            &child["demographics"]["preferred_given_name"],
            &child["demographics"]["preferred_family_name"],
        ),
        (
            &json!(preferred.forename),
            &json!(preferred.preferred_forename.clone().unwrap()),
            &json!(preferred.preferred_surname.clone().unwrap()),
        ),
        "legal and preferred names: {child}"
    );
    let moved = &file.pupils[4];
    let former_upn = moved.former_upn.clone().unwrap();
    let child = stored(4).await;
    assert_eq!(child["identifiers"]["upn"], moved.upn.as_str());
    assert_eq!(child["identifiers"]["former_upns"], json!([former_upn]));
    assert_eq!(
        child["demographics"]["former_family_names"],
        json!([moved.former_surname.clone().unwrap()])
    );
    // Pupils without them carry none.
    let plain = stored(0).await;
    assert!(plain["identifiers"].get("former_upns").is_none(), "{plain}");
    assert!(
        plain["demographics"].get("preferred_given_name").is_none(),
        "{plain}"
    );

    // Through the gateway: the former UPN finds the pupil, certain, as its UPN does.
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let search = |upn: String| {
        let (fed, token) = (&fed, &token);
        async move {
            fed.gateway_post(
                token,
                &format!("/v1/children:search?{SAFEGUARDING}"),
                &json!({"identifiers": {"upn": upn}}),
            )
            .await
            .expect(200)
        }
    };
    let by_former = search(former_upn).await;
    let by_current = search(moved.upn.clone()).await;
    // References are sealed afresh at every search: the two views show the same child.
    let school_records = |view: &Value| -> Vec<Value> {
        let section = view["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agency_id"] == "school-a")
            .unwrap_or_else(|| panic!("school A's section: {view}"))
            .clone();
        section["records"].as_array().unwrap().clone()
    };
    let mut views = Vec::new();
    for found in [&by_former, &by_current] {
        let reference = found["reference"]
            .as_str()
            .unwrap_or_else(|| panic!("found: {found}"));
        let view = fed.view(&token, reference, SAFEGUARDING).await.expect(200);
        views.push(school_records(&view));
    }
    assert!(!views[0].is_empty());
    assert_eq!(views[0], views[1]);
    // A UPN no pupil has held is found nowhere.
    let unknown = schemas::Upn::with_check_letter("994242424242").unwrap();
    let none = search(unknown.as_str().to_owned()).await;
    assert!(none["reference"].is_null(), "{none}");
    fed.shutdown().await;
}

#[tokio::test]
async fn the_same_file_twice_changes_nothing() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    let xml = ctf_to_school_a(4).to_xml();
    post_xml(&school, "/v1/imports/ctf", xml.clone())
        .await
        .expect(200);
    let (cursor, entries) = (change_cursor(&school).await, audit_entries(&school).await);

    let again = post_xml(&school, "/v1/imports/ctf", xml).await.expect(200);
    assert_eq!(
        (&again["imported"], &again["unchanged"], &again["failed"]),
        (&json!(0), &json!(4), &json!(0)),
        "{again}"
    );
    for child in again["children"].as_array().unwrap() {
        assert_eq!(child["records_written"], 0, "{child}");
        assert!(child["records_unchanged"].as_u64().unwrap() > 0, "{child}");
    }
    assert_eq!(change_cursor(&school).await, cursor, "no record changed");
    assert_eq!(audit_entries(&school).await, entries, "nothing audited");

    // A pupil whose attendance changed in the next file: only that record is written.
    let mut next = ctf_to_school_a(4);
    next.pupils[1].attendance[0].attended = "300".into();
    let third = post_xml(&school, "/v1/imports/ctf", next.to_xml())
        .await
        .expect(200);
    assert_eq!(
        (&third["imported"], &third["unchanged"]),
        (&json!(1), &json!(3)),
        "{third}"
    );
    assert_eq!(third["children"][1]["records_written"], 1, "{third}");
    assert_eq!(third["children"][1]["child_created"], false, "{third}");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_failed_pupil_is_named_by_its_element_and_the_rest_are_stored() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    let mut file = ctf_to_school_a(3);
    file.pupils[1].dob = "2014-02-30".into();
    file.pupils[2].extra = "<SupplierNote>from the MIS</SupplierNote>".into();
    let report = post_xml(&school, "/v1/imports/ctf", file.to_xml())
        .await
        .expect(200);
    assert_eq!(
        (&report["imported"], &report["failed"]),
        (&json!(2), &json!(1)),
        "{report}"
    );
    let failed = &report["children"][1];
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(
        failed["problems"][0]["element"], "/CTfile/CTFpupilData/Pupil[2]/DOB",
        "{failed}"
    );
    assert!(failed.get("local_id").is_none(), "{failed}");
    school
        .get(&format!("/v1/children/ctf-{}", file.pupils[1].upn))
        .await
        .expect_problem(404, "child-not-found");
    // An element the specification tables lack is reported, and the pupil stored.
    let third = &report["children"][2];
    assert_eq!(third["outcome"], "imported", "{third}");
    assert!(
        third["not_mapped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["element"] == "/CTfile/CTFpupilData/Pupil[3]/SupplierNote"),
        "{third}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn files_that_cannot_be_imported_are_refused_whole_with_nothing_stored() {
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    let care = fed.system("social-care");
    let before = (change_cursor(&school).await, audit_entries(&school).await);
    let care_before = change_cursor(&care).await;
    let good = ctf_to_school_a(2).to_xml();
    let truncated = good[..good.len() / 2].to_owned();
    let wrong_root = good.replace("CTfile", "Pupils");
    let old_version = good.replace(
        "<CTFversion>25.0</CTFversion>",
        "<CTFversion>19.0</CTFversion>",
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE CTfile [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n{}",
        good.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .replacen("<Surname>", "<Surname>&lol2;", 1)
    );
    let mut elsewhere = ctf_to_school_a(2);
    let (_, estab_b, urn_b) = DEV_SCHOOLS[1];
    elsewhere.destination = CtfSchool::new(DEV_LA, estab_b, Some(urn_b), None);
    let cases = [
        ("truncated", truncated, 400, "import-not-well-formed"),
        ("wrong root", wrong_root, 400, "import-wrong-format"),
        ("CTF 19", old_version, 400, "import-unsupported-version"),
        ("billion laughs", laughs, 400, "import-dtd-refused"),
        (
            "addressed to school B",
            elsewhere.to_xml(),
            422,
            "import-not-addressed-here",
        ),
        ("empty", String::new(), 400, "import-not-well-formed"),
    ];
    for (case, xml, status, code) in cases {
        let problem = post_xml(&school, "/v1/imports/ctf", xml)
            .await
            .case(case)
            .expect_problem(status, code);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("nothing of it was stored"),
            "{case}: {problem}"
        );
    }
    assert_eq!(
        (change_cursor(&school).await, audit_entries(&school).await),
        before,
        "nothing stored, nothing audited"
    );

    // The census is social care's, and only its own authority's.
    post_xml(
        &school,
        "/v1/imports/cin-census",
        CinFile::synthetic(2027, 1).to_xml(),
    )
    .await
    .expect_problem(403, "forbidden");
    let mut other_la = CinFile::synthetic(2027, 1);
    other_la.la = "998".into();
    post_xml(&care, "/v1/imports/cin-census", other_la.to_xml())
        .await
        .expect_problem(422, "import-not-addressed-here");
    assert_eq!(change_cursor(&care).await, care_before, "nothing stored");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_file_over_the_node_limit_is_refused_before_it_is_read() {
    let mut fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let xml = ctf_to_school_a(3).to_xml();
    // The same node, restarted with a limit below this file's size.
    let limit = xml.len() as u64 - 1;
    fed.stop_node("school-a").await;
    fed.restart_node_with("school-a", |settings| {
        settings.imports.as_mut().unwrap().max_bytes = limit;
    })
    .await
    .unwrap();
    let school = fed.system("school-a");
    let problem = post_xml(&school, "/v1/imports/ctf", xml)
        .await
        .expect_problem(413, "import-too-large");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("limit of {limit}")),
        "{problem}"
    );
    assert_eq!(change_cursor(&school).await, 0, "nothing stored");
    fed.shutdown().await;
}

#[tokio::test]
async fn imports_raise_no_events_unless_asked() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let school = fed.system("school-a");
    // Each file's pupil joined a school last week: a school move, recent enough to raise.
    let recent = (chrono::Utc::now().date_naive() - chrono::Duration::days(7)).to_string();
    let file_with_recent_move = |first_pupil: u32| {
        let mut file = ctf_to_school_a(1);
        file.pupils[0] = dfe_formats::fixtures::CtfPupil::synthetic(first_pupil, 25);
        let last = file.pupils[0].schools.len() - 1;
        file.pupils[0].schools[last].entry = recent.clone();
        file.pupils[0].schools[last].leaving = None;
        file
    };
    let outbox = || async {
        school.get("/v1/notifications/outbox").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let quiet = post_xml(
        &school,
        "/v1/imports/ctf",
        file_with_recent_move(1).to_xml(),
    )
    .await
    .expect(200);
    assert_eq!(
        (&quiet["imported"], &quiet["notified"]),
        (&json!(1), &json!(false))
    );
    assert_eq!(outbox().await, 0, "a load raises nothing by default");

    let told = post_xml(
        &school,
        "/v1/imports/ctf?notify=true",
        file_with_recent_move(2).to_xml(),
    )
    .await
    .expect(200);
    assert_eq!(
        (&told["imported"], &told["notified"]),
        (&json!(1), &json!(true))
    );
    assert!(
        outbox().await > 0,
        "asked, the recent move raises its event"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_census_child_protection_plan_reaches_a_dsl_whose_school_holds_the_child() {
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 0))
        .await
        .unwrap();
    let care = fed.system("social-care");
    let census = CinFile::synthetic(2027, 10);
    let report = post_xml(&care, "/v1/imports/cin-census", census.to_xml())
        .await
        .expect(200);
    assert_eq!(
        (&report["format"], &report["version"]),
        (&json!("cin_census"), &json!("2027")),
        "{report}"
    );
    // Child 10 is unborn, with no UPN and no name: nothing to find it by, refused alone.
    let unborn = &report["children"][9];
    assert_eq!(unborn["outcome"], "failed", "{report}");
    assert!(
        unborn["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("demographics"),
        "{unborn}"
    );
    assert_eq!(report["imported"], 9, "{report}");
    // The census's FormerUPN is stored with the child, and finds it at the node.
    let (n, moved) = census
        .children
        .iter()
        .enumerate()
        .find(|(_, c)| c.former_upn.is_some())
        .expect("a census child with a former UPN");
    let local_id = report["children"][n]["local_id"].as_str().unwrap();
    let held = care
        .get(&format!("/v1/children/{local_id}"))
        .await
        .expect(200);
    assert_eq!(
        held["identifiers"]["former_upns"],
        json!([moved.former_upn.clone().unwrap()]),
        "{held}"
    );

    // A child with a protection plan, on roll at school A (its MIS holds the pupil).
    let with_plan = census
        .children
        .iter()
        .position(|c| c.cp_plan.is_some() && c.upn.is_some())
        .expect("a census child with a plan and a UPN");
    let pupil = &census.children[with_plan];
    let upn = pupil.upn.clone().unwrap();
    let school = fed.system("school-a");
    let today = chrono::Utc::now().date_naive();
    school
        .put_child(
            "NPS-CIN-1",
            &json!({"demographics": {"given_name": "Casey", "family_name": "Censusford",
                    "date_of_birth": pupil.birth_date.clone().unwrap()},
                    "identifiers": {"upn": upn}}),
        )
        .await
        .expect(201);
    school
        .post_record(
            "NPS-CIN-1",
            &json!({"source_system_id": "NPS-ENROL-CIN-1", "category": "enrolment",
                    "effective_from": today - chrono::Duration::days(30),
                    "impact": "On roll at Northfield Primary School",
                    "details": {"urn": "999101", "school_name": "Northfield Primary School",
                                "year_group": 6}}),
        )
        .await
        .expect(201);
    let token = fed.token(PractitionerRole::DesignatedSafeguardingLead, "school-a");
    let found = fed
        .gateway_post(
            &token,
            &format!("/v1/children:search?{SAFEGUARDING}"),
            &json!({"identifiers": {"upn": upn}}),
        )
        .await
        .expect(200);
    let reference = found["reference"].as_str().expect("found by UPN");
    let view = fed.view(&token, reference, SAFEGUARDING).await.expect(200);
    let care_section = view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agency_id"] == "social-care")
        .unwrap_or_else(|| panic!("social care's section: {view}"));
    let plan = care_section["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "child_protection_plan")
        .unwrap_or_else(|| panic!("the plan in social care's section: {care_section}"));
    assert_eq!(
        plan["details"]["category_of_abuse"], "NEG",
        "the latest category of abuse: {plan}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn the_operator_command_sends_a_file_as_the_agency_system() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from-brookside.xml");
    std::fs::write(&file, ctf_to_school_a(2).to_xml()).unwrap();
    let target = federation::import::Target {
        url: fed.node_url("school-a").to_owned(),
        tls: fed.files.integration_tls["school-a"].clone(),
    };
    federation::import::run(federation::import::Format::Ctf, &file, &target, false)
        .await
        .unwrap();
    let school = fed.system("school-a");
    let upn = &ctf_to_school_a(2).pupils[0].upn;
    school
        .get(&format!("/v1/children/ctf-{upn}"))
        .await
        .expect(200);
    // A file the node refuses is an error that carries the node's problem.
    std::fs::write(&file, "<CTfile>").unwrap();
    let refused = federation::import::run(federation::import::Format::Ctf, &file, &target, false)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("import-not-well-formed"),
        "{refused:#}"
    );
    fed.shutdown().await;
}
