//! One CTF pupil onto the federation's vocabulary: the child (UPN and former UPN, legal
//! and preferred names, date of birth, sex, home postcode) and its records — attendance
//! per year, SEN history, free school meals and the pupil premium basis they give,
//! looked-after status, school history as enrolments, key stage results as attainment,
//! ethnicity — with contacts kept aside (`docs/imports.md` has the table).

use super::{CtfHeader, CtfSettings, spec};
use crate::imported::{
    ChildOutcome, Draft, FailedChild, ImportedChild, ImportedContact, ImportedIdentifiers,
    ImportedNames, Records, sex,
};
use crate::problem::ElementProblem;
use crate::spec::{Findings, Read, check};
use crate::xml::{Node, each};
use chrono::{Months, NaiveDate};
use schemas::{RecordCategory as C, Sex, Upn};
use serde_json::{Map, Value, json};

pub(super) fn pupil(
    node: &Node,
    path: &str,
    header: &CtfHeader,
    settings: &CtfSettings,
) -> ChildOutcome {
    let mut found = Findings::default();
    check(node, spec::PUPIL, path, &mut found);
    let Findings { problems, unknown } = found;
    let key = node.value("UPN").map(str::to_owned);
    let upn = node.value("UPN").and_then(|u| Upn::parse(u).ok());
    let (Some(upn), true) = (upn, problems.is_empty()) else {
        return ChildOutcome::Failed(FailedChild {
            element: path.to_owned(),
            key,
            problems,
        });
    };
    let file_date = header.created.date();
    let mut records = Records::new(
        "ctf",
        &header.source.dfe_number(),
        upn.as_str(),
        settings.holder,
    );
    for element in unknown {
        records.not_mapped(element.path, element.message);
    }
    let pupil = Pupil {
        node,
        path,
        header,
        file_date,
    };
    pupil.attendance(&mut records);
    pupil.sen(&mut records);
    let ever_6_fsm = pupil.free_school_meals(&mut records);
    let in_care = pupil.looked_after(&mut records);
    pupil.pupil_premium(&mut records, in_care, ever_6_fsm);
    pupil.school_history(&mut records);
    pupil.assessments(&mut records);
    pupil.characteristics(&mut records);
    let contacts = contacts(node, path);
    pupil.parents_and_carers(&contacts, &mut records);
    if !records.problems.is_empty() {
        return ChildOutcome::Failed(FailedChild {
            element: path.to_owned(),
            key,
            problems: records.problems,
        });
    }
    let basic = node.child("BasicDetails");
    let basic_value = |name: &str| basic.and_then(|b| b.value(name)).map(str::to_owned);
    ChildOutcome::Imported(Box::new(ImportedChild {
        element: path.to_owned(),
        local_id: format!("ctf-{}", upn.as_str()),
        identifiers: ImportedIdentifiers {
            former_upn: basic
                .and_then(|b| b.value("FormerUPN"))
                .and_then(|u| Upn::parse(u).ok()),
            upn: Some(upn),
            la_child_id: None,
            uln: node.value("UniqueLearnerNumber").map(str::to_owned),
        },
        names: ImportedNames {
            given_name: node.value("Forename").map(str::to_owned),
            family_name: node.value("Surname").map(str::to_owned),
            preferred_given_name: basic_value("PreferredForename"),
            preferred_family_name: basic_value("PreferredSurname"),
            middle_names: basic_value("MiddleNames"),
            former_family_name: basic_value("FormerSurname"),
        },
        date_of_birth: node.date("DOB"),
        expected_date_of_birth: None,
        sex: node.value("Sex").or(node.value("Gender")).and_then(sex),
        postcode: node
            .child("Address")
            .and_then(|a| a.value("PostCode"))
            .map(str::to_owned),
        records: records.records,
        contacts,
        not_mapped: records.not_mapped,
    }))
}

struct Pupil<'a> {
    node: &'a Node,
    path: &'a str,
    header: &'a CtfHeader,
    file_date: NaiveDate,
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

impl Pupil<'_> {
    fn at(&self, rest: &str) -> String {
        format!("{}/{rest}", self.path)
    }

    fn attendance(&self, records: &mut Records) {
        let group = self.node.child("Attendance");
        for (year, at) in each(group, self.at("Attendance"), "YearData") {
            let Some(start_year) = year.integer("Year") else {
                continue;
            };
            let possible = year.integer("SessionsPossible").unwrap_or(0);
            if possible == 0 {
                records.not_mapped(at, "no sessions possible that year: nothing to say");
                continue;
            }
            let authorised = year.integer("SessionsAuthorised").unwrap_or(0);
            let unauthorised = year.integer("SessionsUnauthorised").unwrap_or(0);
            let attended = year.integer("SessionsAttended");
            let present = attended.unwrap_or(possible - authorised - unauthorised);
            let y = i32::try_from(start_year).unwrap_or_default();
            let Some(from) = year
                .child("AttendSessions")
                .and_then(|s| s.date("AttendanceStartDate"))
                .or(ymd(y, 9, 1))
            else {
                continue;
            };
            let to = ymd(y + 1, 8, 31)
                .map(|end| end.min(self.file_date))
                .filter(|end| *end >= from);
            let school = year
                .value("SchoolName")
                .map(|n| format!(" at {n}"))
                .unwrap_or_default();
            let rate = 100.0 * present as f64 / possible as f64;
            let persistent = if schemas::details::is_persistent_absence(rate) {
                " (persistent absence)"
            } else {
                ""
            };
            let present_from = if attended.is_some() {
                "SessionsAttended"
            } else {
                "SessionsPossible"
            };
            let sources = [
                ("sessions_possible", format!("{at}/SessionsPossible")),
                ("sessions_present", format!("{at}/{present_from}")),
                ("authorised_absence", format!("{at}/SessionsAuthorised")),
                ("unauthorised_absence", format!("{at}/SessionsUnauthorised")),
            ];
            records.add(Draft {
                key: format!(
                    "att-{start_year}-{}{}",
                    year.value("LEA").unwrap_or_default(),
                    year.value("Estab").unwrap_or_default()
                ),
                element: at,
                category: C::Attendance,
                effective_from: from,
                effective_to: to,
                impact: format!(
                    "Attendance {:.1}% in {start_year}/{:02}{school}{persistent}",
                    (rate * 10.0).round() / 10.0,
                    (start_year + 1) % 100
                ),
                details: json!({"sessions_possible": possible, "sessions_present": present,
                    "authorised_absence": authorised, "unauthorised_absence": unauthorised}),
                sources: &sources,
            });
        }
    }

    fn sen(&self, records: &mut Records) {
        let Some(history) = self.node.child("SENhistory") else {
            return;
        };
        let history_at = self.at("SENhistory");
        let mut needs: Vec<(i64, &str)> = history
            .child("SENneeds")
            .into_iter()
            .flat_map(|n| n.all("SENneed"))
            .filter_map(|n| Some((n.integer("SENtypeRank").unwrap_or(99), n.value("SENtype")?)))
            .collect();
        needs.sort_by_key(|(rank, _)| *rank);
        for (sen, at) in each(Some(history), history_at.clone(), "SEN") {
            let provision = match sen.value("SENprovision") {
                Some("K") => "sen_support",
                Some("E") | Some("S") => "ehc_plan",
                _ => {
                    records.not_mapped(at, "SENprovision N: no special educational needs");
                    continue;
                }
            };
            let Some(start) = sen.date("StartDate") else {
                records.not_mapped(at, "no StartDate: a record needs the day it started");
                continue;
            };
            let Some((_, primary)) = needs.first() else {
                records.problems.push(ElementProblem::new(
                    format!("{history_at}/SENneeds"),
                    "is required when SENprovision is K or E (the type of need)",
                ));
                continue;
            };
            let mut details = json!({"provision": provision, "primary_need": primary});
            if let Some((_, secondary)) = needs.get(1).filter(|(_, s)| s != primary) {
                details["secondary_need"] = json!(secondary);
            }
            let words = if provision == "ehc_plan" {
                "EHC plan"
            } else {
                "SEN support"
            };
            let sources = [
                ("provision", format!("{at}/SENprovision")),
                ("primary_need", format!("{history_at}/SENneeds")),
                ("secondary_need", format!("{history_at}/SENneeds")),
                ("effective_to", format!("{at}/EndDate")),
            ];
            records.add(Draft {
                key: format!("sen-{start}"),
                element: at,
                category: C::SpecialEducationalNeeds,
                effective_from: start,
                effective_to: sen.date("EndDate"),
                impact: format!("{words}: {primary}"),
                details,
                sources: &sources,
            });
        }
    }

    /// Each period of eligibility becomes a record; whether one falls in the six years
    /// before the file (ever 6 FSM) is returned for the pupil premium.
    fn free_school_meals(&self, records: &mut Records) -> bool {
        let six_years_before = self
            .file_date
            .checked_sub_months(Months::new(72))
            .unwrap_or(self.file_date);
        let mut ever_6 = false;
        let history = self.node.child("FSMhistory");
        for (instance, at) in each(history, self.at("FSMhistory"), "FSMinstance") {
            let Some(start) = instance.date("FSMstartDate") else {
                continue;
            };
            let end = instance.date("FSMendDate");
            if start <= self.file_date && end.is_none_or(|e| e >= six_years_before) {
                ever_6 = true;
            }
            let mut details = Map::new();
            if let Some(country) = instance.value("UKcountry") {
                details.insert("uk_country".into(), json!(country));
            }
            let until = end.map(|e| format!(" to {e}")).unwrap_or_default();
            let sources = [("effective_to", format!("{at}/FSMendDate"))];
            records.add(Draft {
                key: format!("fsm-{start}"),
                element: at,
                category: C::FreeSchoolMeals,
                effective_from: start,
                effective_to: end,
                impact: format!("Eligible for free school meals from {start}{until}"),
                details: Value::Object(details),
                sources: &sources,
            });
        }
        ever_6
    }

    /// The pupil's looked-after status as at the file's date; whether in care.
    fn looked_after(&self, records: &mut Records) -> bool {
        let Some(status) = self.node.child("LookedAfter") else {
            return false;
        };
        let at = self.at("LookedAfter");
        let in_care = status.boolean("InCare").unwrap_or(false);
        let mut details = json!({"in_care": in_care});
        if let Some(la) = status.value("CareAuthority") {
            details["care_authority"] = json!(la);
        }
        let sources = [
            ("in_care", format!("{at}/InCare")),
            ("care_authority", format!("{at}/CareAuthority")),
        ];
        records.add(Draft {
            element: at,
            key: "lac".into(),
            category: C::LookedAfterStatus,
            effective_from: self.file_date,
            effective_to: None,
            impact: if in_care {
                "Looked after (in care): the virtual school supports their education".into()
            } else {
                "Not looked after".into()
            },
            details,
            sources: &sources,
        });
        in_care
    }

    /// The pupil premium the file shows as at its date: looked after, ever 6 FSM, or a
    /// service child, in that order. Nothing is recorded when the file shows none of
    /// them (it cannot show adoption from care, so it cannot say "not eligible").
    fn pupil_premium(&self, records: &mut Records, in_care: bool, ever_6_fsm: bool) {
        let service_child = self
            .node
            .child("BasicDetails")
            .and_then(|b| b.value("ServiceChild"))
            == Some("Y");
        let (basis, words) = match (in_care, ever_6_fsm, service_child) {
            (true, _, _) => ("looked_after", "looked after"),
            (false, true, _) => ("ever_6_fsm", "free school meals in the last six years"),
            (false, false, true) => ("service_child", "service child"),
            (false, false, false) => return,
        };
        records.add(Draft {
            element: self.path.to_owned(),
            key: "pp".into(),
            category: C::PupilPremium,
            effective_from: self.file_date,
            effective_to: None,
            impact: format!("Eligible for the pupil premium ({words})"),
            details: json!({"eligible": true, "basis": basis}),
            sources: &[],
        });
    }

    fn school_history(&self, records: &mut Records) {
        let history = self.node.child("SchoolHistory");
        let year_group = self
            .node
            .child("BasicDetails")
            .and_then(|b| b.value("NCyearActual"))
            .and_then(nc_year);
        for (school, at) in each(history, self.at("SchoolHistory"), "School") {
            let (Some(urn), Some(name), Some(entry)) = (
                school.value("URN"),
                school.value("SchoolName"),
                school.date("EntryDate"),
            ) else {
                records.not_mapped(
                    at,
                    "an enrolment needs the school's URN, its name and the entry date",
                );
                continue;
            };
            let leaving = school.date("LeavingDate");
            let mut details = json!({"urn": urn, "school_name": name});
            // The pupil's current year group is the sender's to give, for its own school.
            let is_source = school.value("LEA") == Some(self.header.source.la.as_str())
                && school.value("Estab") == Some(self.header.source.estab.as_str());
            if let (true, Some(y)) = (is_source && leaving.is_none(), year_group) {
                details["year_group"] = json!(y);
            }
            if let Some(reason) = school.value("LeavingReason") {
                details["leaving_reason"] = json!(format!("leaving reason {reason}"));
            }
            let impact = match leaving {
                Some(left) => format!("At {name} from {entry} to {left}"),
                None => format!("At {name} since {entry}"),
            };
            let sources = [
                ("urn", format!("{at}/URN")),
                ("school_name", format!("{at}/SchoolName")),
                ("leaving_reason", format!("{at}/LeavingReason")),
                ("year_group", self.at("BasicDetails/NCyearActual")),
                ("effective_to", format!("{at}/LeavingDate")),
            ];
            records.add(Draft {
                key: format!("enr-{urn}-{entry}"),
                element: at,
                category: C::Enrolment,
                effective_from: entry,
                effective_to: leaving,
                impact,
                details,
                sources: &sources,
            });
        }
    }

    fn assessments(&self, records: &mut Records) {
        let group = self.node.child("StageAssessments");
        for (stage_node, stage_at) in each(group, self.at("StageAssessments"), "KeyStage") {
            let stage = stage_node.value("Stage").unwrap_or_default();
            for (result, at) in each(Some(stage_node), stage_at, "StageAssessment") {
                let subject = result.value("Subject").unwrap_or_default();
                let method = result.value("Method").unwrap_or_default();
                let value = result.value("Result").unwrap_or_default();
                let Some(working_at) = working_at(stage, method, value) else {
                    records.not_mapped(
                        at,
                        format!(
                            "{stage} {subject} result '{value}' has no place on the scale well below, below, expected, above"
                        ),
                    );
                    continue;
                };
                let year = result.integer("Year");
                let Some(date) = result
                    .date("ResultDate")
                    .or(year.and_then(|y| ymd(i32::try_from(y).ok()?, 7, 1)))
                else {
                    records.not_mapped(at, "neither a ResultDate nor a Year: no date to give it");
                    continue;
                };
                let assessment = match year {
                    Some(y) => format!("{stage} {} {y}", method_words(method)),
                    None => format!("{stage} {}", method_words(method)),
                };
                let sources = [
                    ("subject", format!("{at}/Subject")),
                    ("working_at", format!("{at}/Result")),
                ];
                records.add(Draft {
                    key: format!(
                        "ks-{stage}-{subject}-{method}-{}-{}",
                        result.value("Component").unwrap_or_default(),
                        year.map_or_else(|| date.to_string(), |y| y.to_string())
                    ),
                    element: at,
                    category: C::Attainment,
                    effective_from: date,
                    effective_to: None,
                    impact: format!(
                        "{stage} {}: {}",
                        subject_words(subject),
                        working_at.replace('_', " ")
                    ),
                    details: json!({"subject": subject_words(subject), "working_at": working_at,
                        "assessment": assessment}),
                    sources: &sources,
                });
            }
        }
    }

    fn characteristics(&self, records: &mut Records) {
        let basic = self.node.child("BasicDetails");
        let Some(ethnicity) = basic.and_then(|b| b.value("Ethnicity")) else {
            return;
        };
        let at = self.at("BasicDetails/Ethnicity");
        if basic.and_then(|b| b.child("Disabilities")).is_some() {
            records.not_mapped(
                self.at("BasicDetails/Disabilities"),
                "the CTF's disability codes are not the census's: not mapped",
            );
        }
        let sources = [("ethnicity", at.clone())];
        records.add(Draft {
            element: at,
            key: "chr".into(),
            category: C::ChildCharacteristics,
            effective_from: self.file_date,
            effective_to: None,
            impact: "Ethnicity recorded by the school".into(),
            details: json!({"ethnicity": ethnicity}),
            sources: &sources,
        });
    }
}

impl Pupil<'_> {
    /// Each contact who is family or a carer, or holds parental responsibility, as a
    /// `parent_carer` record. A `PAR` contact is a mother or father where the file gives
    /// their sex. Professionals (doctor, social worker, childminder) are not parents or
    /// carers: listed as not mapped.
    fn parents_and_carers(&self, contacts: &[ImportedContact], records: &mut Records) {
        for (n, contact) in contacts.iter().enumerate() {
            let code = contact
                .relationship
                .as_deref()
                .unwrap_or("")
                .to_ascii_uppercase();
            let responsibility = contact.parental_responsibility.unwrap_or(false);
            let relationship = match (code.as_str(), contact.sex) {
                ("PAR", Some(Sex::Female)) => "mother",
                ("PAR", Some(Sex::Male)) => "father",
                ("PAR", _) => "parent",
                ("STP", _) => "step_parent",
                ("GRP" | "GRM" | "GRF", _) => "grandparent",
                ("REL" | "FAM" | "OFM", _) => "other_relative",
                ("CAR" | "FOC", _) => "carer",
                ("FOF", _) => "family_friend",
                (_, _) if responsibility => "other",
                _ => {
                    records.not_mapped(
                        contact.element.clone(),
                        format!(
                            "contact relationship `{code}` is not a parent or carer: not stored"
                        ),
                    );
                    continue;
                }
            };
            let name = [&contact.title, &contact.given_name, &contact.family_name]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" ");
            let mut details = json!({"relationship": relationship,
                "parental_responsibility": responsibility});
            if !name.trim().is_empty() {
                details["name"] = json!(name);
            }
            if let Some(lives) = contact.lives_with_pupil {
                details["lives_with_child"] = json!(lives);
            }
            let words = relationship.replace('_', " ");
            let impact = format!(
                "{}{}{} (contact {} in the school's records)",
                capitalised(&words),
                if responsibility {
                    ", with parental responsibility"
                } else {
                    ""
                },
                match contact.lives_with_pupil {
                    Some(true) => ", lives with the pupil",
                    _ => "",
                },
                contact.order.unwrap_or(n as i64 + 1)
            );
            let sources = [
                ("relationship", format!("{}/Relationship", contact.element)),
                (
                    "parental_responsibility",
                    format!("{}/Responsibility", contact.element),
                ),
                ("name", format!("{}/Surname", contact.element)),
            ];
            records.add(Draft {
                element: contact.element.clone(),
                key: format!("con-{}", contact.order.unwrap_or(n as i64 + 1)),
                category: C::ParentCarer,
                effective_from: self.file_date,
                effective_to: None,
                impact,
                details,
                sources: &sources,
            });
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// NCyearActual as a year group: `N1` -2, `N2` -1, `R` 0, `1`-`14`; `X` none.
fn nc_year(code: &str) -> Option<i64> {
    match code {
        "N1" => Some(-2),
        "N2" => Some(-1),
        "R" => Some(0),
        n => n.parse().ok().filter(|y| (1..=14).contains(y)),
    }
}

/// Where a key stage result puts the pupil: teacher assessment codes (`GDS` greater
/// depth, `EXS` expected, `WTS`/`HNM` working towards or not met, pre-key-stage `PK…`
/// and `BLW` well below), the tests' scaled scores (110 or more above, 100 expected,
/// under 100 below; `B` below the test's standard), the phonics check (`WA`/`WT`) and
/// the early years profile (`2` expected, `1` emerging). Anything else — absent,
/// disapplied, the multiplication tables check's score — has no place on the scale.
pub(crate) fn working_at(stage: &str, method: &str, result: &str) -> Option<&'static str> {
    let upper = result.to_ascii_uppercase();
    match upper.as_str() {
        "GDS" => return Some("above"),
        "EXS" => return Some("expected"),
        "WTS" | "HNM" => return Some("below"),
        "BLW" | "PKF" | "PKE" | "PKG" | "PK1" | "PK2" | "PK3" | "PK4" | "PK5" | "PK6" => {
            return Some("well_below");
        }
        _ => {}
    }
    match (stage, method, upper.as_str()) {
        ("PHO", _, "WA") => Some("expected"),
        ("PHO", _, "WT") => Some("below"),
        ("FSP", _, "2") => Some("expected"),
        ("FSP", _, "1") => Some("below"),
        ("KS2", "TT", "B") => Some("well_below"),
        ("KS2", "TT", score) => match score.parse::<i64>() {
            Ok(s) if (110..=120).contains(&s) => Some("above"),
            Ok(s) if (100..110).contains(&s) => Some("expected"),
            Ok(s) if (80..100).contains(&s) => Some("below"),
            _ => None,
        },
        _ => None,
    }
}

fn method_words(method: &str) -> &str {
    match method {
        "TT" => "test",
        "TA" => "teacher assessment",
        "" => "assessment",
        other => other,
    }
}

fn subject_words(code: &str) -> &str {
    match code {
        "MAT" => "mathematics",
        "ENG" => "English",
        "REA" => "reading",
        "WRI" => "writing",
        "GPS" => "grammar, punctuation and spelling",
        "SCI" => "science",
        "PHO" => "phonics",
        other => other,
    }
}

fn contacts(node: &Node, path: &str) -> Vec<ImportedContact> {
    each(
        node.child("Contacts"),
        format!("{path}/Contacts"),
        "Contact",
    )
    .map(|(c, at)| ImportedContact {
        element: at,
        order: c.integer("Order"),
        title: c.value("Title").map(str::to_owned),
        given_name: c.value("Forename").map(str::to_owned),
        family_name: c.value("Surname").map(str::to_owned),
        middle_names: c.value("MiddleNames").map(str::to_owned),
        sex: c.value("Sex").or(c.value("Gender")).and_then(sex),
        relationship: c.value("Relationship").map(str::to_owned),
        parental_responsibility: c.boolean("Responsibility"),
        lives_with_pupil: c.boolean("AddressAsPupil"),
        postcode: c
            .child("Address")
            .and_then(|a| a.value("PostCode"))
            .map(str::to_owned),
        phones: c
            .child("Phones")
            .into_iter()
            .flat_map(|p| p.all("Phone"))
            .filter_map(|p| {
                Some((
                    p.value("TelephoneType").unwrap_or_default().to_owned(),
                    p.value("PhoneNo")?.to_owned(),
                ))
            })
            .collect(),
        email: c.value("Email").map(str::to_owned),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_take_their_place_on_the_scale() {
        assert_eq!(working_at("KS1", "TA", "GDS"), Some("above"));
        assert_eq!(working_at("KS2", "TA", "wts"), Some("below"));
        assert_eq!(working_at("KS2", "TT", "104"), Some("expected"));
        assert_eq!(working_at("KS2", "TT", "110"), Some("above"));
        assert_eq!(working_at("KS2", "TT", "96"), Some("below"));
        assert_eq!(working_at("KS2", "TT", "B"), Some("well_below"));
        assert_eq!(working_at("KS1", "TA", "PK4"), Some("well_below"));
        assert_eq!(working_at("PHO", "", "Wa"), Some("expected"));
        assert_eq!(working_at("KS2", "TT", "A"), None);
        assert_eq!(working_at("MTC", "TT", "21"), None);
        assert_eq!(working_at("KS2", "TT", "130"), None);
    }

    #[test]
    fn nc_years_are_year_groups() {
        assert_eq!(nc_year("R"), Some(0));
        assert_eq!(nc_year("N1"), Some(-2));
        assert_eq!(nc_year("11"), Some(11));
        assert_eq!(nc_year("X"), None);
    }
}
