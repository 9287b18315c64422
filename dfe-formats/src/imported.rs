//! What an import makes of one pupil or child: the child as a node will store it, its
//! records already checked for the node's kind (parents and carers among them), the
//! contacts as the file gives them, and what was not mapped — or every problem that failed it.

use crate::problem::ElementProblem;
use chrono::NaiveDate;
use schemas::{
    AgencyKind, CheckedRecord, ChildIdentifiers, ChildUpsert, KnownDemographics, RecordCategory,
    RecordUpsert, Sex, Upn,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// One pupil (CTF) or child (CIN census) of a file: imported, or failed with every
/// problem found in it. One failed child never stops the others.
#[derive(Debug, Clone)]
pub enum ChildOutcome {
    Imported(Box<ImportedChild>),
    Failed(FailedChild),
}

impl ChildOutcome {
    pub fn imported(&self) -> Option<&ImportedChild> {
        match self {
            ChildOutcome::Imported(child) => Some(child),
            ChildOutcome::Failed(_) => None,
        }
    }

    pub fn failed(&self) -> Option<&FailedChild> {
        match self {
            ChildOutcome::Failed(failed) => Some(failed),
            ChildOutcome::Imported(_) => None,
        }
    }
}

/// A pupil or child that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedChild {
    /// The element of the pupil or child (`/CTfile/CTFpupilData/Pupil[3]`).
    pub element: String,
    /// Its UPN or LA child id, where the file gives a readable one, for the answer.
    pub key: Option<String>,
    pub problems: Vec<ElementProblem>,
}

/// A child's identifiers as the file gives them: more than a node's `ChildIdentifiers`
/// holds today.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportedIdentifiers {
    pub upn: Option<Upn>,
    pub former_upn: Option<Upn>,
    /// The local authority's own id for the child (children in need census).
    pub la_child_id: Option<String>,
    /// Unique learner number (CTF).
    pub uln: Option<String>,
}

/// The child's names as the file gives them; a children in need census gives none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportedNames {
    /// Legal forename.
    pub given_name: Option<String>,
    /// Legal surname.
    pub family_name: Option<String>,
    pub preferred_given_name: Option<String>,
    pub preferred_family_name: Option<String>,
    pub middle_names: Option<String>,
    pub former_family_name: Option<String>,
}

/// A pupil or child, ready for the node's bulk write: the child upsert and its records.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedChild {
    /// The element it came from.
    pub element: String,
    /// The local id the node should give the child if it holds none with these
    /// identifiers: the LA child id for the census (the case system's own id), `ctf-` and
    /// the UPN for a CTF.
    pub local_id: String,
    pub identifiers: ImportedIdentifiers,
    pub names: ImportedNames,
    pub date_of_birth: Option<NaiveDate>,
    /// For an unborn child (children in need census).
    pub expected_date_of_birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub postcode: Option<String>,
    /// The child's records, each checked for the node's kind, keyed by a source system id
    /// derived from the file's source and the element: the same file twice gives the same
    /// records.
    pub records: Vec<ImportedRecord>,
    /// The people around the child the file names (CTF contacts), as given: those who
    /// are family or carers are also among `records` as `parent_carer` records.
    pub contacts: Vec<ImportedContact>,
    /// What the file holds for this child that is not mapped, and why.
    pub not_mapped: Vec<ElementProblem>,
}

/// One record of a child and the element it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRecord {
    pub element: String,
    pub record: CheckedRecord,
}

/// A contact of a pupil (CTF `Contact`), as the file gives it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportedContact {
    pub element: String,
    /// The order of contact (1 first).
    pub order: Option<i64>,
    pub title: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_names: Option<String>,
    pub sex: Option<Sex>,
    /// The CBDS relationship code (`PAR`, `CAR`, `REL`, …).
    pub relationship: Option<String>,
    pub parental_responsibility: Option<bool>,
    pub lives_with_pupil: Option<bool>,
    pub postcode: Option<String>,
    /// Telephone type code and number.
    pub phones: Vec<(String, String)>,
    pub email: Option<String>,
}

impl ImportedChild {
    /// The child as a node stores it: whatever the file gives, partial where it is (a
    /// census child has no names; an unborn child has an expected date of birth, which
    /// stands for the date of birth). Whether that is enough to store a child is the
    /// node's rule (`schemas::ChildUpsert::validate`: a valid identifier, a family name
    /// with one more fact, or a given name with a date of birth), applied when it writes.
    pub fn to_child_upsert(&self) -> ChildUpsert {
        ChildUpsert {
            demographics: KnownDemographics {
                given_name: self.preferred_or_legal_given(),
                family_name: self.names.family_name.clone(),
                date_of_birth: self.date_of_birth.or(self.expected_date_of_birth),
                sex: self.sex,
                postcode: self.postcode.clone(),
                preferred_given_name: self.names.preferred_given_name.clone(),
                preferred_family_name: self.names.preferred_family_name.clone(),
                former_family_names: self.names.former_family_name.iter().cloned().collect(),
            },
            identifiers: ChildIdentifiers {
                upn: self.identifiers.upn.clone(),
                nhs_number: None,
                // A file that gives the current UPN again as the former one says no more
                // than the UPN.
                former_upns: self
                    .identifiers
                    .former_upn
                    .iter()
                    .filter(|f| self.identifiers.upn.as_ref() != Some(*f))
                    .cloned()
                    .collect(),
            },
        }
    }

    /// The legal forename: the name the federation matches on.
    fn preferred_or_legal_given(&self) -> Option<String> {
        self.names.given_name.clone()
    }
}

/// Builds a child's records: derives each one's source system id, checks it for the
/// node's kind and turns a failed check into element problems.
pub(crate) struct Records {
    source: String,
    child: String,
    holder: AgencyKind,
    used: HashMap<String, u32>,
    pub records: Vec<ImportedRecord>,
    pub problems: Vec<ElementProblem>,
    pub not_mapped: Vec<ElementProblem>,
}

/// One record to build: the element it came from, the key that names it within the
/// child (stable across files: dates and codes, not positions), and, for each details
/// field, the element its value came from.
pub(crate) struct Draft<'a> {
    pub element: String,
    pub key: String,
    pub category: RecordCategory,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub impact: String,
    pub details: Value,
    pub sources: &'a [(&'static str, String)],
}

impl Records {
    /// `source`: the file's sender (`8234321` for a school, `823` for an authority);
    /// `child`: the child's key in that source (UPN, LA child id).
    pub fn new(prefix: &str, source: &str, child: &str, holder: AgencyKind) -> Self {
        Self {
            source: format!("{prefix}-{}", id_part(source)),
            child: id_part(child),
            holder,
            used: HashMap::new(),
            records: Vec::new(),
            problems: Vec::new(),
            not_mapped: Vec::new(),
        }
    }

    pub fn not_mapped(&mut self, element: impl Into<String>, why: impl Into<String>) {
        self.not_mapped.push(ElementProblem::new(element, why));
    }

    /// The source system id of a record keyed `key`: the file's source, the child, the
    /// key, and a counter only when the same key comes twice for one child.
    fn source_system_id(&mut self, key: &str) -> String {
        let base = format!("{}-{}-{}", self.source, self.child, id_part(key));
        let n = self.used.entry(base.clone()).or_insert(0);
        *n += 1;
        let id = if *n == 1 { base } else { format!("{base}~{n}") };
        // Every part is a checked code or date, so this stays far under the 200 allowed;
        // cut rather than fail if a source ever makes it longer.
        id.chars().take(200).collect()
    }

    pub fn add(&mut self, draft: Draft<'_>) {
        if !draft.category.held_by(self.holder) {
            self.not_mapped(
                draft.element,
                format!(
                    "a {} node does not hold {} records",
                    self.holder.as_str(),
                    draft.category.as_str()
                ),
            );
            return;
        }
        let upsert = RecordUpsert {
            source_system_id: self.source_system_id(&draft.key),
            category: draft.category,
            effective_from: draft.effective_from,
            effective_to: draft.effective_to,
            recorded_at: None,
            impact: draft.impact.chars().take(280).collect(),
            details: draft.details,
        };
        match upsert.check(self.holder) {
            Ok(record) => self.records.push(ImportedRecord {
                element: draft.element,
                record,
            }),
            Err(errors) => {
                let first = self.problems.len();
                for error in errors {
                    let field = error.field.strip_prefix("details.").unwrap_or(&error.field);
                    let path = draft
                        .sources
                        .iter()
                        .find(|(f, _)| *f == field)
                        .map_or_else(|| draft.element.clone(), |(_, p)| p.clone());
                    // Two rules can fall on one element (a closure date before the
                    // referral is also an end before the start): say it once.
                    if !self.problems[first..].iter().any(|p| p.path == path) {
                        self.problems.push(ElementProblem::new(path, error.message));
                    }
                }
            }
        }
    }
}

/// A part of a source system id: letters, digits and hyphens only.
fn id_part(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `Sex` from the DfE's codes (`M`, `F`, `U`; the census's older `1`, `2`, `9`).
pub(crate) fn sex(code: &str) -> Option<Sex> {
    match code {
        "M" | "1" => Some(Sex::Male),
        "F" | "2" => Some(Sex::Female),
        "U" | "9" | "0" => Some(Sex::Unknown),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(key: &str) -> Draft<'static> {
        Draft {
            element: "/R/C[1]".into(),
            key: key.into(),
            category: RecordCategory::ChildInNeedPlan,
            effective_from: NaiveDate::from_ymd_opt(2025, 4, 1).unwrap_or_default(),
            effective_to: None,
            impact: "Child in need plan".into(),
            details: json!({}),
            sources: &[],
        }
    }

    #[test]
    fn source_system_ids_are_the_source_child_and_key_with_a_counter_for_repeats() {
        let mut r = Records::new("cin", "823", "CH/01", AgencyKind::SocialCare);
        r.add(draft("plan-2025-04-01"));
        r.add(draft("plan-2025-04-01"));
        let ids: Vec<&str> = r
            .records
            .iter()
            .map(|r| r.record.source_system_id())
            .collect();
        assert_eq!(
            ids,
            [
                "cin-823-CH_01-plan-2025-04-01",
                "cin-823-CH_01-plan-2025-04-01~2"
            ]
        );
    }

    #[test]
    fn a_category_the_node_does_not_hold_is_not_mapped_and_a_bad_field_names_its_element() {
        let mut r = Records::new("ctf", "8234321", "A1", AgencyKind::VirtualSchool);
        let mut d = draft("x");
        d.category = RecordCategory::FreeSchoolMeals;
        r.add(d);
        assert!(r.records.is_empty());
        assert!(
            r.not_mapped[0].message.contains("virtual_school"),
            "{:?}",
            r.not_mapped
        );

        let mut r = Records::new("cin", "823", "C1", AgencyKind::SocialCare);
        let sources = [("closure_date", "/R/C[1]/CINclosureDate".to_owned())];
        let mut d = draft("ep");
        d.category = RecordCategory::ChildInNeedEpisode;
        d.details = json!({"referral_date": "2025-04-01", "primary_need_code": "N1",
            "closure_date": "2025-03-01", "closure_reason": "RC7"});
        d.sources = &sources;
        r.add(d);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].path, "/R/C[1]/CINclosureDate");
    }
}
