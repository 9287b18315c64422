//! One census child onto the federation's vocabulary: the child, found by its LA child id
//! or UPN (the census has no names), and its records — characteristics, each CIN
//! episode with its plans, assessments and factors, section 47 enquiries and child
//! protection plans (`docs/imports.md` has the table).

use super::{CinHeader, CinSettings, spec};
use crate::imported::{
    ChildOutcome, Draft, FailedChild, ImportedChild, ImportedIdentifiers, ImportedNames, Records,
    sex,
};
use crate::problem::ElementProblem;
use crate::spec::{Findings, Read, check};
use crate::xml::{Node, each};
use chrono::NaiveDate;
use schemas::{RecordCategory as C, Upn};
use serde_json::{Map, Value, json};

pub(super) fn child(
    node: &Node,
    path: &str,
    header: &CinHeader,
    settings: &CinSettings,
) -> ChildOutcome {
    let mut found = Findings::default();
    check(node, spec::CHILD, path, &mut found);
    let Findings {
        mut problems,
        unknown,
    } = found;
    let ids = node.child("ChildIdentifiers");
    let ids_at = format!("{path}/ChildIdentifiers");
    let la_child_id = ids.and_then(|i| i.value("LAchildID")).map(str::to_owned);
    let born = ids.and_then(|i| i.date("PersonBirthDate"));
    let expected = ids.and_then(|i| i.date("ExpectedPersonBirthDate"));
    let dates_given = ids.is_some_and(|i| {
        i.value("PersonBirthDate").is_some() || i.value("ExpectedPersonBirthDate").is_some()
    });
    if ids.is_some() && !dates_given {
        problems.push(ElementProblem::new(
            format!("{ids_at}/PersonBirthDate"),
            "is required, or ExpectedPersonBirthDate for an unborn child",
        ));
    }
    let (Some(la_child_id), Some(ids), true) = (la_child_id.clone(), ids, problems.is_empty())
    else {
        return ChildOutcome::Failed(FailedChild {
            element: path.to_owned(),
            key: la_child_id,
            problems,
        });
    };
    let mut records = Records::new("cin", &header.la, &la_child_id, settings.holder);
    for element in unknown {
        records.not_mapped(element.path, element.message);
    }
    if ids.value("PersonDeathDate").is_some() {
        records.not_mapped(
            format!("{ids_at}/PersonDeathDate"),
            "a child's death is not a record the federation holds",
        );
    }
    if ids.value("UPNunknown").is_some() {
        records.not_mapped(
            format!("{ids_at}/UPNunknown"),
            "why the UPN is missing is not kept",
        );
    }
    characteristics(node, path, header, &mut records);
    for (episode, at) in each(Some(node), path.to_owned(), "CINdetails") {
        cin_details(episode, &at, &mut records);
    }
    if !records.problems.is_empty() {
        return ChildOutcome::Failed(FailedChild {
            element: path.to_owned(),
            key: Some(la_child_id),
            problems: records.problems,
        });
    }
    ChildOutcome::Imported(Box::new(ImportedChild {
        element: path.to_owned(),
        local_id: la_child_id.clone(),
        identifiers: ImportedIdentifiers {
            upn: ids.value("UPN").and_then(|u| Upn::parse(u).ok()),
            former_upn: ids.value("FormerUPN").and_then(|u| Upn::parse(u).ok()),
            la_child_id: Some(la_child_id),
            uln: None,
        },
        names: ImportedNames::default(),
        date_of_birth: born,
        expected_date_of_birth: if born.is_none() { expected } else { None },
        sex: ids.value("Sex").and_then(sex),
        postcode: None,
        records: records.records,
        contacts: Vec::new(),
        not_mapped: records.not_mapped,
    }))
}

fn until(end: Option<NaiveDate>) -> String {
    end.map(|e| format!(" to {e}")).unwrap_or_default()
}

fn characteristics(node: &Node, path: &str, header: &CinHeader, records: &mut Records) {
    let Some(chars) = node.child("ChildCharacteristics") else {
        return;
    };
    let at = format!("{path}/ChildCharacteristics");
    let mut details = Map::new();
    if let Some(e) = chars.value("Ethnicity") {
        details.insert("ethnicity".into(), json!(e));
    }
    let disabilities: Vec<&str> = chars
        .child("Disabilities")
        .into_iter()
        .flat_map(|d| d.all("Disability"))
        .filter_map(|d| Some(d.text.trim()).filter(|t| !t.is_empty()))
        .collect();
    if !disabilities.is_empty() {
        details.insert("disabilities".into(), json!(disabilities));
    }
    if details.is_empty() {
        return;
    }
    let sources = [
        ("ethnicity", format!("{at}/Ethnicity")),
        ("disabilities", format!("{at}/Disabilities")),
    ];
    records.add(Draft {
        element: at,
        key: "chr".into(),
        category: C::ChildCharacteristics,
        effective_from: header.reference_date,
        effective_to: None,
        impact: "Ethnicity and disability recorded in the children in need census".into(),
        details: Value::Object(details),
        sources: &sources,
    });
}

fn cin_details(episode: &Node, at: &str, records: &mut Records) {
    let Some(referral) = episode.date("CINreferralDate") else {
        return;
    };
    let closed = episode.date("CINclosureDate");
    let nfa = episode.boolean("ReferralNFA");
    let mut details = json!({"referral_date": referral,
        "primary_need_code": episode.value("PrimaryNeedCode")});
    for (field, element) in [
        ("closure_reason", "ReasonForClosure"),
        ("referral_source", "ReferralSource"),
    ] {
        if let Some(v) = episode.value(element) {
            details[field] = json!(v);
        }
    }
    if let Some(date) = closed {
        details["closure_date"] = json!(date);
    }
    if let Some(nfa) = nfa {
        details["no_further_action"] = json!(nfa);
    }
    if let Some(date) = episode.date("DateOfInitialCPC") {
        details["initial_cpc_date"] = json!(date);
    }
    let mut impact = format!("Referred to children's social care on {referral}");
    if nfa == Some(true) {
        impact.push_str("; no further action");
    }
    if let Some(date) = closed {
        impact.push_str(&format!("; closed {date}"));
    }
    let sources = [
        ("referral_date", format!("{at}/CINreferralDate")),
        ("primary_need_code", format!("{at}/PrimaryNeedCode")),
        ("closure_date", format!("{at}/CINclosureDate")),
        ("closure_reason", format!("{at}/ReasonForClosure")),
        ("referral_source", format!("{at}/ReferralSource")),
        ("no_further_action", format!("{at}/ReferralNFA")),
        ("initial_cpc_date", format!("{at}/DateOfInitialCPC")),
        ("effective_to", format!("{at}/CINclosureDate")),
    ];
    let episode_key = format!("ref-{referral}");
    records.add(Draft {
        element: at.to_owned(),
        key: episode_key.clone(),
        category: C::ChildInNeedEpisode,
        effective_from: referral,
        effective_to: closed,
        impact,
        details,
        sources: &sources,
    });

    for (plan, plan_at) in each(Some(episode), at.to_owned(), "CINPlanDates") {
        let Some(start) = plan.date("CINPlanStartDate") else {
            continue;
        };
        let end = plan.date("CINPlanEndDate");
        let sources = [("effective_to", format!("{plan_at}/CINPlanEndDate"))];
        records.add(Draft {
            element: plan_at,
            key: format!("{episode_key}-cinp-{start}"),
            category: C::ChildInNeedPlan,
            effective_from: start,
            effective_to: end,
            impact: format!("Child in need plan from {start}{}", until(end)),
            details: json!({}),
            sources: &sources,
        });
    }

    for (assessment, a_at) in each(Some(episode), at.to_owned(), "Assessments") {
        let Some(start) = assessment.date("AssessmentActualStartDate") else {
            continue;
        };
        let factors: Vec<&str> = assessment
            .child("FactorsIdentifiedAtAssessment")
            .into_iter()
            .flat_map(|f| f.all("AssessmentFactors"))
            .filter_map(|f| Some(f.text.trim()).filter(|t| !t.is_empty()))
            .collect();
        if factors.is_empty() {
            records.not_mapped(
                a_at,
                "an assessment with no factors identified (yet) has no record to give",
            );
            continue;
        }
        let authorised = assessment.date("AssessmentAuthorisationDate");
        let sources = [
            ("factors", format!("{a_at}/FactorsIdentifiedAtAssessment")),
            (
                "effective_to",
                format!("{a_at}/AssessmentAuthorisationDate"),
            ),
        ];
        records.add(Draft {
            element: a_at,
            key: format!("{episode_key}-asmt-{start}"),
            category: C::AssessmentFactors,
            effective_from: start,
            effective_to: authorised,
            impact: format!(
                "Assessment from {start}{}: factors identified",
                until(authorised)
            ),
            details: json!({"factors": factors}),
            sources: &sources,
        });
    }

    for (enquiry, s_at) in each(Some(episode), at.to_owned(), "Section47") {
        let Some(start) = enquiry.date("S47ActualStartDate") else {
            continue;
        };
        let mut details = Map::new();
        for (field, element) in [
            ("initial_cpc_target", "InitialCPCtarget"),
            ("initial_cpc_date", "DateOfInitialCPC"),
        ] {
            if let Some(date) = enquiry.date(element) {
                details.insert(field.into(), json!(date));
            }
        }
        if let Some(not_required) = enquiry.boolean("ICPCnotRequired") {
            details.insert("conference_not_required".into(), json!(not_required));
        }
        let sources = [
            ("initial_cpc_target", format!("{s_at}/InitialCPCtarget")),
            ("initial_cpc_date", format!("{s_at}/DateOfInitialCPC")),
            ("conference_not_required", format!("{s_at}/ICPCnotRequired")),
        ];
        records.add(Draft {
            element: s_at,
            key: format!("{episode_key}-s47-{start}"),
            category: C::Section47Enquiry,
            effective_from: start,
            effective_to: None,
            impact: format!("Section 47 enquiry started {start}"),
            details: Value::Object(details),
            sources: &sources,
        });
    }

    for (plan, p_at) in each(Some(episode), at.to_owned(), "ChildProtectionPlans") {
        let Some(start) = plan.date("CPPstartDate") else {
            continue;
        };
        let initial = plan.value("InitialCategoryOfAbuse");
        let Some(category) = plan.value("LatestCategoryOfAbuse").or(initial) else {
            records.problems.push(ElementProblem::new(
                format!("{p_at}/InitialCategoryOfAbuse"),
                "is required (or LatestCategoryOfAbuse): a plan has a category of abuse",
            ));
            continue;
        };
        let end = plan.date("CPPendDate");
        let mut details = json!({"category_of_abuse": category});
        if let Some(initial) = initial {
            details["initial_category_of_abuse"] = json!(initial);
        }
        let reviews: Vec<NaiveDate> = plan
            .child("Reviews")
            .into_iter()
            .flat_map(|r| r.all("CPPreviewDate"))
            .filter_map(|r| crate::spec::date(r.text.trim()).ok())
            .collect();
        if !reviews.is_empty() {
            details["reviews"] = json!(reviews);
        }
        if let Some(n) = plan.integer("NumberOfPreviousCPP") {
            details["previous_plans"] = json!(n);
        }
        let impact = match end {
            Some(end) => format!("Child protection plan from {start} to {end}"),
            None => format!("Open child protection plan since {start}"),
        };
        let sources = [
            ("category_of_abuse", format!("{p_at}/LatestCategoryOfAbuse")),
            (
                "initial_category_of_abuse",
                format!("{p_at}/InitialCategoryOfAbuse"),
            ),
            ("reviews", format!("{p_at}/Reviews")),
            ("previous_plans", format!("{p_at}/NumberOfPreviousCPP")),
            ("effective_to", format!("{p_at}/CPPendDate")),
        ];
        records.add(Draft {
            element: p_at,
            key: format!("{episode_key}-cpp-{start}"),
            category: C::ChildProtectionPlan,
            effective_from: start,
            effective_to: end,
            impact,
            details,
            sources: &sources,
        });
    }
}
