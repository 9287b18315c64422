//! The parts of a child's merged view a practitioner acts on: the four barriers, the
//! transitions in the child's life, the key contacts, and the filter that narrows a view
//! to a period and to categories.

use crate::category::RecordCategory;
use crate::details::RecordDetails;
use crate::disclosure::{ContactRoute, DisclosureLevel};
use crate::identifiers::AgencyId;
use crate::problem::FieldError;
use crate::record::Record;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// How strongly the records that answered point to a barrier.
///
/// Ordered: `not_assessed` < `none_known` < `watch` < `concern`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BarrierSignal {
    /// The view's `category` filter left out every category this barrier is read from.
    NotAssessed,
    /// Nothing disclosed points to this barrier. It does not mean there is none: an
    /// agency may not have answered, or may have shared less than it holds.
    NoneKnown,
    /// Something to keep an eye on: a lower-level need, support already in place, or a
    /// concern that has eased.
    Watch,
    /// A current barrier that practitioners should know about and act on.
    Concern,
}

/// One of the four barriers to a child's learning and wellbeing, as a category names the
/// one it feeds ([`RecordCategory::barrier`]) and an intervention the one it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BarrierKind {
    Attendance,
    Learning,
    Behaviour,
    Wellbeing,
}

impl BarrierKind {
    /// The barrier's name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            BarrierKind::Attendance => "attendance",
            BarrierKind::Learning => "learning",
            BarrierKind::Behaviour => "behaviour",
            BarrierKind::Wellbeing => "wellbeing",
        }
    }

    /// The categories read for this barrier.
    pub fn categories(self) -> Vec<RecordCategory> {
        RecordCategory::ALL
            .into_iter()
            .filter(|c| c.feeds(self))
            .collect()
    }
}

/// What a category's records feed in the merged view ([`RecordCategory::barrier`]): a
/// barrier, and what one record says about it.
#[derive(Debug, Clone, Copy)]
pub struct BarrierRule {
    pub kind: BarrierKind,
    pub signal: fn(&Disclosed<'_>) -> BarrierSignal,
}

/// A record a node disclosed, with its details read once as the type of its category:
/// what the merged view's rules read ([`RecordCategory::signal`], and the parts
/// [`RecordDetails`] names).
#[derive(Debug, Clone)]
pub struct Disclosed<'a> {
    pub record: &'a Record,
    /// The typed details; at `summary` level the outline a category shares there
    /// (`Record.outline`: its details without the confidential fields), if any. `None`
    /// at `summary` for most categories, or when a node sent details that do not read
    /// as the category's type: a reader falls back on the impact line.
    pub details: Option<RecordDetails>,
}

impl<'a> Disclosed<'a> {
    pub fn read(record: &'a Record) -> Self {
        let details = record
            .details
            .as_ref()
            .or(record.outline.as_ref())
            .and_then(|d| RecordDetails::read(record.category, d));
        Self { record, details }
    }

    /// `full` when the node disclosed details, `summary` when only the impact line.
    pub fn level(&self) -> DisclosureLevel {
        if self.record.details.is_some() {
            DisclosureLevel::Full
        } else {
            DisclosureLevel::Summary
        }
    }

    /// What this record alone says about the barrier its category feeds.
    pub fn signal(&self) -> BarrierSignal {
        self.record.category.signal(self)
    }

    /// Whether the impact line says these (lower-case) words.
    pub fn impact_says(&self, words: &str) -> bool {
        self.record.impact.to_lowercase().contains(words)
    }

    /// The signal, at most `watch` once the record has ended: something that has ended
    /// is history worth knowing, not a current concern.
    pub fn unless_ended(&self, signal: BarrierSignal) -> BarrierSignal {
        if self.record.effective_to.is_some() {
            signal.min(BarrierSignal::Watch)
        } else {
            signal
        }
    }
}

/// One disclosed record behind a barrier's signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BarrierEvidence {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub category: RecordCategory,
    /// The record's id in the agency's own system: quote it when contacting the agency.
    pub source_system_id: String,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The agency's one-line statement of what the record means for the child.
    pub impact: String,
    /// What this record alone says about the barrier.
    pub signal: BarrierSignal,
    /// `full` when the record's details were read, `summary` when only its impact line
    /// was disclosed.
    pub level: DisclosureLevel,
}

/// One of the four barriers: the current signal, why, and the records it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "signal": "concern",
    "summary": "Persistent absence: 84.0% in the latest period (2026-09-03 to 2026-10-23); 88.9% across 4 periods",
    "summary_level_only": false,
    "evidence": [{"agency_id": "school-b", "agency_name": "Riverside Academy",
        "category": "attendance", "source_system_id": "school-b-attendance-000042-5",
        "date": "2026-09-03", "impact": "Attendance 84.0% (autumn term 2026 to date): persistent absence",
        "signal": "concern", "level": "full"}]
}))]
pub struct Barrier {
    /// The strongest signal among the evidence.
    pub signal: BarrierSignal,
    /// One sentence a practitioner can read: what the signal rests on.
    pub summary: String,
    /// `true` when every piece of evidence was disclosed at `summary` level, so the
    /// signal rests on the agencies' impact lines rather than on the records' details.
    pub summary_level_only: bool,
    /// The records read for this barrier, newest first.
    pub evidence: Vec<BarrierEvidence>,
    /// The interventions aimed at this barrier and what they achieved, newest first:
    /// at `summary` level too (what was done and its impact at review, without the
    /// confidential details).
    #[serde(default)]
    pub interventions: Vec<BarrierIntervention>,
}

/// An intervention aimed at a barrier, and what it achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "agency_id": "school-b", "agency_name": "Riverside Academy",
    "source_system_id": "school-b-intervention-000042-1", "intervention": "mentoring",
    "started": "2026-09-08", "review_date": "2026-12-11", "impact_at_review": "improved",
    "evidence": "Attendance rose from 82% to 93% over the half-term",
    "impact": "Weekly mentoring since September: attendance improving", "level": "full"
}))]
pub struct BarrierIntervention {
    pub agency_id: AgencyId,
    pub agency_name: String,
    /// The record's id in the agency's own system: quote it when contacting the agency.
    pub source_system_id: String,
    /// What was done.
    pub intervention: crate::details::InterventionKind,
    #[schema(value_type = String, format = Date)]
    pub started: NaiveDate,
    /// When its impact is (or was) reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_date: Option<NaiveDate>,
    /// When it ended; absent while it goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub ended: Option<NaiveDate>,
    /// What it achieved at review; absent until reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_at_review: Option<crate::details::InterventionImpact>,
    /// What shows the impact, when disclosed in `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The agency's one-line statement of what the record means for the child.
    pub impact: String,
    /// `full` when the record's details were disclosed, `summary` when its outline.
    pub level: DisclosureLevel,
}

/// The four barriers to a child's learning and wellbeing, each read from whatever the
/// agencies that answered disclosed.
///
/// * `attendance`: attendance records (`concern` under 90%, persistent absence; `watch`
///   under 95% or an earlier persistent absence).
/// * `learning`: SEN (EHC plan `concern`, SEN support `watch`), attainment below the
///   expected standard, personal education plans.
/// * `behaviour`: suspensions and permanent exclusions (`concern`), behaviour incidents
///   (`watch`; three or more `concern`).
/// * `wellbeing`: child protection and looked-after plans, section 47 enquiries, CP-IS
///   flags and Operation Encompass notifications (`concern`); child in need plans and
///   episodes, CAMHS, early help, assessment factors, a school's record that a pupil is
///   in care, a young carer's caring role, and ended plans (`watch`).
///
/// Each barrier also lists the interventions aimed at it (`intervention` records) and
/// their impact at review; they do not change its signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Barriers {
    pub attendance: Barrier,
    pub learning: Barrier,
    pub behaviour: Barrier,
    pub wellbeing: Barrier,
}

/// A decision of a multi-agency meeting, with its owner: read from a `meeting` record
/// the reader was shown (at `summary` level, only the decisions the reader's own agency
/// owns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "agency_id": "social-care", "agency_name": "Children's Social Care",
    "source_system_id": "LCS-MTG-0042-3", "meeting_type": "core_group",
    "meeting_date": "2026-11-06", "decision": "Daily check-in with the trusted adult",
    "owner": "school-a", "owner_name": "Northgate School", "due": "2026-11-20",
    "done": false, "overdue": true, "level": "summary"
}))]
pub struct ViewDecision {
    /// The agency that recorded the meeting.
    pub agency_id: AgencyId,
    pub agency_name: String,
    /// The meeting record's id in that agency's system.
    pub source_system_id: String,
    pub meeting_type: crate::details::MeetingKind,
    #[schema(value_type = String, format = Date)]
    pub meeting_date: NaiveDate,
    /// What was decided.
    pub decision: String,
    /// The agency that owns the decision.
    pub owner: AgencyId,
    /// The owner's name, when it is a member of the federation this view asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub due: NaiveDate,
    pub done: bool,
    /// Not done and its due date has passed (on the day the view was generated).
    pub overdue: bool,
    /// `full` when the meeting's details were disclosed, `summary` when its outline.
    pub level: DisclosureLevel,
}

/// A parent or carer of the child, as an agency disclosed them: with any restriction on
/// their contact with the child, which every reader who sees the record is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "agency_id": "school-a", "agency_name": "Northgate School",
    "source_system_id": "CTF-8234321-U999123456789-con-2", "relationship": "father",
    "parental_responsibility": true, "lives_with_child": false,
    "contact_restrictions": [{"restriction": "No contact with the child; not to collect from school",
        "basis": "court_order", "until": "2027-06-30"}],
    "impact": "Father: no contact (court order)", "level": "summary"
}))]
pub struct ViewPerson {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub source_system_id: String,
    pub relationship: crate::details::ParentCarerRelationship,
    /// Their name, when disclosed in `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub parental_responsibility: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lives_with_child: Option<bool>,
    /// Restrictions on their contact with the child.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_restrictions: Vec<crate::details::ContactRestriction>,
    /// The agency's one-line statement.
    pub impact: String,
    /// `full` when the record's details were disclosed, `summary` when its outline.
    pub level: DisclosureLevel,
}

/// What changed in a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// The child moved from one school to another.
    SchoolMove,
    /// A social care plan started, stepped up or down (child in need, child protection,
    /// looked after) or ended.
    PlanChange,
    /// A looked-after child moved placement.
    PlacementMove,
    /// The child's allocated social worker or early help lead practitioner changed.
    PractitionerChange,
}

/// What a category's records show of the transitions in a child's life
/// ([`RecordCategory::transition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRule {
    /// Consecutive records at different schools ([`RecordDetails::school`]) are a school
    /// move.
    SchoolMove,
    /// A plan of this `level`: one following on from another steps up, down or renews.
    Plan { level: u8, name: &'static str },
    /// Each record is a placement move ([`RecordDetails::placement_move`]).
    PlacementMove,
    /// Consecutive records naming different people ([`RecordDetails::person`]): a new
    /// practitioner, with this title.
    Practitioner { title: &'static str },
}

/// A change in the child's life that practitioners should plan around.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "kind": "plan_change", "date": "2026-03-02", "agency_id": "social-care",
    "agency_name": "Children's Social Care", "from": "child in need plan",
    "to": "child protection plan",
    "description": "Child in need plan stepped up to a child protection plan",
    "source_system_ids": ["social-care-child_in_need_plan-000042-2", "social-care-child_protection_plan-000042-3"]
}))]
pub struct Transition {
    pub kind: TransitionKind,
    /// The day the change took effect.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// The agency whose records show the change.
    pub agency_id: AgencyId,
    pub agency_name: String,
    /// What the child moved from, in words (a school, a plan, a placement, a
    /// practitioner), when the records say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What the child moved to, in words, when the records say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// One sentence describing the change.
    pub description: String,
    /// The records the change was read from.
    pub source_system_ids: Vec<String>,
}

/// Which key contact this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyContactRole {
    /// The adult in school the child has chosen to go to.
    TrustedAdult,
    /// The child's allocated social worker.
    SocialWorker,
    /// The school's designated safeguarding lead or designated teacher.
    DesignatedSafeguardingLead,
    /// The early help lead practitioner for the family.
    LeadPractitioner,
    /// The school's designated teacher for looked-after and previously looked-after
    /// children.
    DesignatedTeacher,
    /// The school's senior mental health lead.
    SeniorMentalHealthLead,
}

impl KeyContactRole {
    /// In the order a view lists key contacts.
    pub const ALL: [KeyContactRole; 6] = [
        KeyContactRole::TrustedAdult,
        KeyContactRole::SocialWorker,
        KeyContactRole::DesignatedSafeguardingLead,
        KeyContactRole::LeadPractitioner,
        KeyContactRole::DesignatedTeacher,
        KeyContactRole::SeniorMentalHealthLead,
    ];
}

/// Someone to contact about the child, from what the agencies disclosed. A name is
/// given only when an agency disclosed one; otherwise the agency's contact route says
/// how to reach the right person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "role": "social_worker", "agency_id": "social-care", "agency_name": "Children's Social Care",
    "name": "D. Osei", "team": "Family Support",
    "note": "Allocated social worker in the Family Support team (contact via the duty line)",
    "route": {"team": "Children's Services front door (MASH)", "route": "duty line 0300 000 0001"},
    "source_system_id": "social-care-allocated_social_worker-000042-4"
}))]
pub struct KeyContact {
    pub role: KeyContactRole,
    pub agency_id: AgencyId,
    pub agency_name: String,
    /// The person's name, exactly as the agency disclosed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Their team or role, when disclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The agency's impact line about this contact, when a record was disclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How to reach the agency about this child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<ContactRoute>,
    /// The record this contact was read from; absent when only the agency's contact
    /// route is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system_id: Option<String>,
}

/// Narrows a view to a period and to record categories. Applies to each section's
/// records, the chronology, the barriers' evidence and the transitions; key contacts are
/// always given in full.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ViewFilter {
    /// Earliest day of interest (`YYYY-MM-DD`). A record is kept when it was in effect on
    /// any day from `from` to `to` (a one-off event such as a notification or an incident
    /// on its day; a plan or enrolment without an end date until today); a chronology
    /// event or transition when it happened in that period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, format = Date)]
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Latest day of interest (`YYYY-MM-DD`), inclusive. Not before `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, format = Date)]
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Record categories to keep: repeat the parameter (`category=attendance&category=exclusion`)
    /// or separate with commas (`category=attendance,exclusion`). Absent: every category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[param(explode = true, style = Form)]
    pub category: Vec<RecordCategory>,
}

impl ViewFilter {
    /// Reads the filter from a query string's decoded pairs, ignoring other parameters.
    /// Every invalid value is reported, by field.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut filter = ViewFilter::default();
        let mut errors = Vec::new();
        let mut categories = BTreeSet::new();
        for (key, value) in pairs {
            match key {
                "from" | "to" => {
                    let slot = if key == "from" {
                        &mut filter.from
                    } else {
                        &mut filter.to
                    };
                    if slot.is_some() {
                        errors.push(FieldError::new(key, "give this parameter at most once"));
                        continue;
                    }
                    match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
                        Ok(date) => *slot = Some(date),
                        Err(_) => errors.push(FieldError::new(
                            key,
                            format!("`{value}` is not a calendar date (YYYY-MM-DD)"),
                        )),
                    }
                }
                "category" => {
                    for name in value.split(',').map(str::trim) {
                        match RecordCategory::parse(name) {
                            Some(c) => {
                                categories.insert(c);
                            }
                            None => errors.push(FieldError::new(
                                "category",
                                format!("`{name}` is not a record category"),
                            )),
                        }
                    }
                }
                _ => {}
            }
        }
        if filter
            .from
            .zip(filter.to)
            .is_some_and(|(from, to)| to < from)
        {
            errors.push(FieldError::new("to", "must not be before `from`"));
        }
        filter.category = categories.into_iter().collect();
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(errors)
        }
    }

    /// Whether the filter keeps a record: its category, in effect in the period (a
    /// one-off event on its day, an open-ended one until today).
    pub fn keeps(&self, record: &crate::record::Record) -> bool {
        self.admits_category(record.category)
            && self.overlaps(record.effective_from, record.last_day())
    }

    /// Whether records of this category are kept.
    pub fn admits_category(&self, category: RecordCategory) -> bool {
        self.category.is_empty() || self.category.contains(&category)
    }

    /// Whether something in effect from `start` to `end` (open when `None`) overlaps the
    /// period.
    pub fn overlaps(&self, start: NaiveDate, end: Option<NaiveDate>) -> bool {
        self.to.is_none_or(|to| start <= to)
            && self.from.is_none_or(|from| end.is_none_or(|e| e >= from))
    }

    /// Whether a day falls in the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to)
    }

    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.category.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn filter_reads_repeated_and_comma_separated_categories() {
        let f = ViewFilter::from_pairs([
            ("purpose", "safeguarding"),
            ("category", "attendance,exclusion"),
            ("category", "child_protection_plan"),
            ("from", "2026-01-01"),
        ])
        .unwrap();
        assert_eq!(f.category.len(), 3);
        assert!(f.admits_category(RecordCategory::Exclusion));
        assert!(!f.admits_category(RecordCategory::Behaviour));
        assert_eq!(f.from, Some(d("2026-01-01")));
    }

    #[test]
    fn filter_refuses_impossible_dates_unknown_categories_and_reversed_ranges() {
        let errors = ViewFilter::from_pairs([
            ("from", "2026-02-30"),
            ("to", "yesterday"),
            ("category", "gossip"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["from", "to", "category"]);
        let errors =
            ViewFilter::from_pairs([("from", "2026-05-01"), ("to", "2026-04-30")]).unwrap_err();
        assert_eq!(errors[0].field, "to");
        assert!(ViewFilter::from_pairs([("from", "2026-05-01"), ("from", "2026-05-02")]).is_err());
    }

    #[test]
    fn overlap_keeps_open_records_that_started_before_the_period() {
        let f = ViewFilter::from_pairs([("from", "2026-09-01"), ("to", "2026-09-30")]).unwrap();
        assert!(f.overlaps(d("2025-01-01"), None));
        assert!(f.overlaps(d("2026-08-01"), Some(d("2026-09-01"))));
        assert!(!f.overlaps(d("2026-08-01"), Some(d("2026-08-31"))));
        assert!(!f.overlaps(d("2026-10-01"), None));
        assert!(f.contains(d("2026-09-30")) && !f.contains(d("2026-10-01")));
    }
}
