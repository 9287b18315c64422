//! What each record category is, besides the shape of its details (`details.rs`): its
//! wire name and its words for a young person, which agency kinds hold it, and what the
//! rest of the federation reads from it — whether it happens on one day, the barrier of
//! the merged view it feeds and what one record says there, the transition and the key
//! contact it gives, and the notification writing it raises.
//!
//! Each answer is an exhaustive `match` over the category, so a new category does not
//! compile until every question is answered here; the node and the gateway ask these
//! methods and never list categories themselves (`docs/records.md`, "Adding a category").

use crate::agency::AgencyKind;
use crate::details::{
    AttendanceDetails, RecordDetails, SdqBand, SenProvision, WorkingAt, is_persistent_absence,
};
use crate::notification::{EventType, Raises};
use crate::view::{
    BarrierKind, BarrierRule, BarrierSignal, Disclosed, KeyContactRole, TransitionRule,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a record is about. Each category belongs to the agency kinds that hold such
/// records: a police node does not store attendance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordCategory {
    // Education
    Enrolment,
    Attendance,
    Exclusion,
    SpecialEducationalNeeds,
    PupilPremium,
    Attainment,
    Behaviour,
    TrustedAdult,
    PupilPassport,
    FreeSchoolMeals,
    LookedAfterStatus,
    // Children's social care
    ChildInNeedEpisode,
    ChildInNeedPlan,
    ChildProtectionPlan,
    LookedAfter,
    AllocatedSocialWorker,
    AssessmentFactors,
    PersonalEducationPlan,
    PlacementMove,
    #[serde(rename = "section_47_enquiry")]
    Section47Enquiry,
    ChildCharacteristics,
    // Health
    ChildProtectionInformation,
    SchoolNurseContact,
    CamhsReferral,
    StrengthsAndDifficulties,
    // Police
    EncompassNotification,
    // Early help
    EarlyHelpAssessment,
    TeamAroundTheFamily,
    LeadPractitioner,
    // Across agencies
    Intervention,
    Meeting,
    ParentCarer,
    DesignatedTeacher,
    SeniorMentalHealthLead,
    YoungCarer,
}

use RecordCategory as C;

impl RecordCategory {
    pub const ALL: [RecordCategory; 35] = [
        C::Enrolment,
        C::Attendance,
        C::Exclusion,
        C::SpecialEducationalNeeds,
        C::PupilPremium,
        C::Attainment,
        C::Behaviour,
        C::TrustedAdult,
        C::PupilPassport,
        C::FreeSchoolMeals,
        C::LookedAfterStatus,
        C::ChildInNeedEpisode,
        C::ChildInNeedPlan,
        C::ChildProtectionPlan,
        C::LookedAfter,
        C::AllocatedSocialWorker,
        C::AssessmentFactors,
        C::PersonalEducationPlan,
        C::PlacementMove,
        C::Section47Enquiry,
        C::ChildCharacteristics,
        C::ChildProtectionInformation,
        C::SchoolNurseContact,
        C::CamhsReferral,
        C::StrengthsAndDifficulties,
        C::EncompassNotification,
        C::EarlyHelpAssessment,
        C::TeamAroundTheFamily,
        C::LeadPractitioner,
        C::Intervention,
        C::Meeting,
        C::ParentCarer,
        C::DesignatedTeacher,
        C::SeniorMentalHealthLead,
        C::YoungCarer,
    ];

    /// The category's name on the wire (`attendance`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            C::Enrolment => "enrolment",
            C::Attendance => "attendance",
            C::Exclusion => "exclusion",
            C::SpecialEducationalNeeds => "special_educational_needs",
            C::PupilPremium => "pupil_premium",
            C::Attainment => "attainment",
            C::Behaviour => "behaviour",
            C::TrustedAdult => "trusted_adult",
            C::PupilPassport => "pupil_passport",
            C::FreeSchoolMeals => "free_school_meals",
            C::LookedAfterStatus => "looked_after_status",
            C::ChildInNeedEpisode => "child_in_need_episode",
            C::ChildInNeedPlan => "child_in_need_plan",
            C::ChildProtectionPlan => "child_protection_plan",
            C::LookedAfter => "looked_after",
            C::AllocatedSocialWorker => "allocated_social_worker",
            C::AssessmentFactors => "assessment_factors",
            C::PersonalEducationPlan => "personal_education_plan",
            C::PlacementMove => "placement_move",
            C::Section47Enquiry => "section_47_enquiry",
            C::ChildCharacteristics => "child_characteristics",
            C::ChildProtectionInformation => "child_protection_information",
            C::SchoolNurseContact => "school_nurse_contact",
            C::CamhsReferral => "camhs_referral",
            C::StrengthsAndDifficulties => "strengths_and_difficulties",
            C::EncompassNotification => "encompass_notification",
            C::EarlyHelpAssessment => "early_help_assessment",
            C::TeamAroundTheFamily => "team_around_the_family",
            C::LeadPractitioner => "lead_practitioner",
            C::Intervention => "intervention",
            C::Meeting => "meeting",
            C::ParentCarer => "parent_carer",
            C::DesignatedTeacher => "designated_teacher",
            C::SeniorMentalHealthLead => "senior_mental_health_lead",
            C::YoungCarer => "young_carer",
        }
    }

    /// The category in plain words for a young person: "your attendance".
    pub fn in_words(self) -> &'static str {
        match self {
            C::Enrolment => "which school you go to",
            C::Attendance => "your attendance at school",
            C::Exclusion => "times you were sent home from school",
            C::SpecialEducationalNeeds => "the extra help you get with learning",
            C::PupilPremium => "extra school funding for you",
            C::Attainment => "how you are doing in your learning",
            C::Behaviour => "behaviour records at school",
            C::TrustedAdult => "your trusted adult at school",
            C::PupilPassport => "your 'all about me' page",
            C::FreeSchoolMeals => "your free school meals",
            C::LookedAfterStatus => "your school knowing you are in care",
            C::ChildInNeedEpisode => "your time getting help from children's services",
            C::ChildInNeedPlan => "your child in need plan",
            C::ChildProtectionPlan => "your child protection plan",
            C::LookedAfter => "your care arrangements",
            C::AllocatedSocialWorker => "who your social worker is",
            C::AssessmentFactors => "what was found in an assessment of your family",
            C::PersonalEducationPlan => "your personal education plan",
            C::PlacementMove => "changes of where you live",
            C::Section47Enquiry => "an enquiry by children's services to check you are safe",
            C::ChildCharacteristics => {
                "your ethnicity and any disability, as children's services recorded them"
            }
            C::ChildProtectionInformation => "a safety flag on your health record",
            C::SchoolNurseContact => "times you saw the school nurse",
            C::CamhsReferral => "your referral to mental health support (CAMHS)",
            C::StrengthsAndDifficulties => "a questionnaire about how you are feeling",
            C::EncompassNotification => "a police report about something that happened at home",
            C::EarlyHelpAssessment => "your family's early help assessment",
            C::TeamAroundTheFamily => "meetings of the team around your family",
            C::LeadPractitioner => "who leads the help for your family",
            C::Intervention => "things tried to help you, and whether they helped",
            C::Meeting => "meetings about you, what was decided and what you said",
            C::ParentCarer => "your parents and carers, and anyone not allowed to contact you",
            C::DesignatedTeacher => "the teacher at school who looks out for children in care",
            C::SeniorMentalHealthLead => "the person at school who leads on mental health",
            C::YoungCarer => "the care you give at home, and the help you get with it",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
    }

    /// The agency kinds whose nodes hold records of this category: a police node does not
    /// store attendance.
    pub fn holders(self) -> &'static [AgencyKind] {
        use AgencyKind::*;
        match self {
            C::Enrolment
            | C::PupilPremium
            | C::Behaviour
            | C::TrustedAdult
            | C::PupilPassport
            | C::FreeSchoolMeals => &[School],
            C::LookedAfterStatus => &[School, VirtualSchool],
            C::Attendance | C::Exclusion | C::SpecialEducationalNeeds | C::Attainment => {
                &[School, VirtualSchool]
            }
            C::ChildInNeedEpisode
            | C::ChildInNeedPlan
            | C::ChildProtectionPlan
            | C::LookedAfter
            | C::AllocatedSocialWorker
            | C::AssessmentFactors
            | C::PlacementMove
            | C::Section47Enquiry => &[SocialCare],
            // The CIN census records them at social care, the CTF at school.
            C::ChildCharacteristics => &[SocialCare, School],
            C::PersonalEducationPlan => &[SocialCare, VirtualSchool],
            C::ChildProtectionInformation
            | C::SchoolNurseContact
            | C::CamhsReferral
            | C::StrengthsAndDifficulties => &[Health],
            C::EncompassNotification => &[Police],
            C::EarlyHelpAssessment | C::TeamAroundTheFamily | C::LeadPractitioner => &[EarlyHelp],
            // Whoever put the help in place records it and its impact.
            C::Intervention => &[School, VirtualSchool, SocialCare, Health, EarlyHelp],
            // Whoever convenes the meeting records it: social care (strategy, conferences,
            // core groups, CIN reviews), early help (TAF), the virtual school or a school
            // (PEP reviews, transition planning), health.
            C::Meeting => &[SocialCare, EarlyHelp, VirtualSchool, School, Health],
            // Schools (CTF contacts), social care, early help, health and the virtual school
            // each know the adults around the child.
            C::ParentCarer => &[School, SocialCare, EarlyHelp, Health, VirtualSchool],
            C::DesignatedTeacher | C::SeniorMentalHealthLead => &[School],
            C::YoungCarer => &[School, SocialCare, EarlyHelp, Health],
        }
    }

    /// Whether a node of this agency kind may hold records of this category.
    pub fn held_by(self, kind: AgencyKind) -> bool {
        self.holders().contains(&kind)
    }

    /// Whether a record of this category is something that happens on one day (an
    /// incident, a contact, a move): without an end date it ended that day. Anything
    /// else without one is still in effect.
    pub fn happens_on_a_day(self) -> bool {
        match self {
            C::EncompassNotification
            | C::Behaviour
            | C::Exclusion
            | C::SchoolNurseContact
            | C::PlacementMove
            | C::StrengthsAndDifficulties
            | C::Attainment
            | C::EarlyHelpAssessment
            | C::Section47Enquiry
            | C::Meeting => true,
            C::Enrolment
            | C::Attendance
            | C::SpecialEducationalNeeds
            | C::PupilPremium
            | C::TrustedAdult
            | C::PupilPassport
            | C::FreeSchoolMeals
            | C::LookedAfterStatus
            | C::ChildInNeedEpisode
            | C::ChildInNeedPlan
            | C::ChildProtectionPlan
            | C::LookedAfter
            | C::AllocatedSocialWorker
            | C::AssessmentFactors
            | C::PersonalEducationPlan
            | C::ChildCharacteristics
            | C::ChildProtectionInformation
            | C::CamhsReferral
            | C::TeamAroundTheFamily
            | C::LeadPractitioner
            | C::Intervention
            | C::ParentCarer
            | C::DesignatedTeacher
            | C::SeniorMentalHealthLead
            | C::YoungCarer => false,
        }
    }

    /// The barrier of the merged view this category's records are read for, if any, and
    /// what one record says about it: read from its details when they were disclosed,
    /// from its impact line otherwise.
    pub fn barrier(self) -> Option<BarrierRule> {
        use BarrierKind::{Attendance, Behaviour, Learning, Wellbeing};
        use BarrierSignal::{Concern, Watch};
        match self {
            C::Attendance => reads(Attendance, attendance_signal),
            C::SpecialEducationalNeeds => reads(Learning, sen_signal),
            C::Attainment => reads(Learning, attainment_signal),
            // A looked-after child's education is being planned for: support is in place.
            C::PersonalEducationPlan => reads(Learning, |_| Watch),
            // A suspension or exclusion is a formal sanction: always a concern in its period.
            C::Exclusion => reads(Behaviour, |_| Concern),
            C::Behaviour => reads(Behaviour, |_| Watch),
            C::ChildProtectionPlan | C::LookedAfter | C::ChildProtectionInformation => {
                reads(Wellbeing, |r| r.unless_ended(Concern))
            }
            // Operation Encompass: the child may need support now.
            C::EncompassNotification => reads(Wellbeing, |_| Concern),
            // An enquiry into whether the child is suffering significant harm.
            C::Section47Enquiry => reads(Wellbeing, |_| Concern),
            // The school knows the child is in care: support is planned around it.
            C::LookedAfterStatus => reads(Wellbeing, looked_after_status_signal),
            C::StrengthsAndDifficulties => reads(Wellbeing, sdq_signal),
            C::ChildInNeedPlan
            | C::ChildInNeedEpisode
            | C::CamhsReferral
            | C::AssessmentFactors
            | C::EarlyHelpAssessment
            | C::TeamAroundTheFamily => reads(Wellbeing, |_| Watch),
            C::Enrolment
            | C::PupilPremium
            | C::TrustedAdult
            | C::PupilPassport
            | C::AllocatedSocialWorker
            | C::PlacementMove
            | C::SchoolNurseContact
            | C::LeadPractitioner
            | C::FreeSchoolMeals
            | C::ChildCharacteristics => None,
            // Help put in place is not itself a sign of a barrier: the view lists each
            // intervention under the barrier its details name (`RecordDetails::intervention`).
            C::Intervention => None,
            // Its decisions are listed in the view with their owners (`RecordDetails::meeting`).
            C::Meeting => None,
            // Listed in the view's `people`, restrictions first (`RecordDetails::parent_carer`).
            C::ParentCarer => None,
            C::DesignatedTeacher | C::SeniorMentalHealthLead => None,
            // Caring at home weighs on a child's wellbeing: worth watching while it lasts.
            C::YoungCarer => reads(Wellbeing, |r| {
                if r.record.effective_to.is_some() {
                    BarrierSignal::NoneKnown
                } else {
                    Watch
                }
            }),
        }
    }

    /// Whether this category's records are read for `barrier`.
    pub fn feeds(self, barrier: BarrierKind) -> bool {
        self.barrier().is_some_and(|rule| rule.kind == barrier)
    }

    /// What one record of this category says about the barrier it feeds; `none_known`
    /// for a category that feeds none.
    pub fn signal(self, record: &Disclosed<'_>) -> BarrierSignal {
        self.barrier()
            .map_or(BarrierSignal::NoneKnown, |rule| (rule.signal)(record))
    }

    /// The transitions this category's records show, if any.
    pub fn transition(self) -> Option<TransitionRule> {
        match self {
            C::Enrolment => Some(TransitionRule::SchoolMove),
            C::ChildInNeedPlan => Some(TransitionRule::Plan {
                level: 1,
                name: "child in need plan",
            }),
            C::ChildProtectionPlan => Some(TransitionRule::Plan {
                level: 2,
                name: "child protection plan",
            }),
            C::LookedAfter => Some(TransitionRule::Plan {
                level: 3,
                name: "looked after",
            }),
            C::PlacementMove => Some(TransitionRule::PlacementMove),
            C::AllocatedSocialWorker => Some(TransitionRule::Practitioner {
                title: "allocated social worker",
            }),
            C::LeadPractitioner => Some(TransitionRule::Practitioner {
                title: "lead practitioner",
            }),
            C::Attendance
            | C::Exclusion
            | C::SpecialEducationalNeeds
            | C::PupilPremium
            | C::Attainment
            | C::Behaviour
            | C::TrustedAdult
            | C::PupilPassport
            | C::ChildInNeedEpisode
            | C::AssessmentFactors
            | C::PersonalEducationPlan
            | C::ChildProtectionInformation
            | C::SchoolNurseContact
            | C::CamhsReferral
            | C::StrengthsAndDifficulties
            | C::EncompassNotification
            | C::EarlyHelpAssessment
            | C::TeamAroundTheFamily
            | C::FreeSchoolMeals
            | C::LookedAfterStatus
            | C::Section47Enquiry
            | C::ChildCharacteristics
            | C::Intervention
            | C::Meeting
            | C::ParentCarer
            | C::DesignatedTeacher
            | C::SeniorMentalHealthLead
            | C::YoungCarer => None,
        }
    }

    /// The key contact the current record of this category names, if any (the person:
    /// [`RecordDetails::person`], their team or role: [`RecordDetails::team`]).
    pub fn key_contact(self) -> Option<KeyContactRole> {
        match self {
            C::TrustedAdult => Some(KeyContactRole::TrustedAdult),
            C::AllocatedSocialWorker => Some(KeyContactRole::SocialWorker),
            C::LeadPractitioner => Some(KeyContactRole::LeadPractitioner),
            C::DesignatedTeacher => Some(KeyContactRole::DesignatedTeacher),
            C::SeniorMentalHealthLead => Some(KeyContactRole::SeniorMentalHealthLead),
            C::Enrolment
            | C::Attendance
            | C::Exclusion
            | C::SpecialEducationalNeeds
            | C::PupilPremium
            | C::Attainment
            | C::Behaviour
            | C::PupilPassport
            | C::ChildInNeedEpisode
            | C::ChildInNeedPlan
            | C::ChildProtectionPlan
            | C::LookedAfter
            | C::AssessmentFactors
            | C::PersonalEducationPlan
            | C::PlacementMove
            | C::ChildProtectionInformation
            | C::SchoolNurseContact
            | C::CamhsReferral
            | C::StrengthsAndDifficulties
            | C::EncompassNotification
            | C::EarlyHelpAssessment
            | C::TeamAroundTheFamily
            | C::FreeSchoolMeals
            | C::LookedAfterStatus
            | C::Section47Enquiry
            | C::ChildCharacteristics
            | C::Intervention
            | C::Meeting
            | C::ParentCarer
            | C::YoungCarer => None,
        }
    }

    /// The notification a node raises when one of its systems writes a record of this
    /// category.
    pub fn raises(self) -> Raises {
        match self {
            C::EncompassNotification => Raises::OnCreation(EventType::EncompassNotification),
            C::ChildInNeedPlan | C::ChildProtectionPlan | C::LookedAfter => {
                Raises::PlanStartedAndEnded
            }
            C::Exclusion => Raises::OnCreation(EventType::Exclusion),
            C::Attendance => Raises::WhenDetailsShow(EventType::PersistentAbsence),
            C::Enrolment => Raises::OnCreation(EventType::SchoolMove),
            C::Meeting => Raises::Meeting,
            C::AllocatedSocialWorker | C::LeadPractitioner | C::TrustedAdult => {
                Raises::OnCreation(EventType::PractitionerChanged)
            }
            C::SpecialEducationalNeeds
            | C::PupilPremium
            | C::Attainment
            | C::Behaviour
            | C::PupilPassport
            | C::ChildInNeedEpisode
            | C::AssessmentFactors
            | C::PersonalEducationPlan
            | C::PlacementMove
            | C::ChildProtectionInformation
            | C::SchoolNurseContact
            | C::CamhsReferral
            | C::StrengthsAndDifficulties
            | C::EarlyHelpAssessment
            | C::TeamAroundTheFamily
            | C::FreeSchoolMeals
            | C::LookedAfterStatus
            | C::Section47Enquiry
            | C::ChildCharacteristics
            | C::Intervention
            | C::ParentCarer
            | C::DesignatedTeacher
            | C::SeniorMentalHealthLead
            | C::YoungCarer => Raises::Nothing,
        }
    }
}

fn reads(kind: BarrierKind, signal: fn(&Disclosed<'_>) -> BarrierSignal) -> Option<BarrierRule> {
    Some(BarrierRule { kind, signal })
}

/// Attendance of one record: the share of sessions attended from the details, or the
/// impact line's own percentage at summary level.
fn attendance_signal(record: &Disclosed<'_>) -> BarrierSignal {
    let pct = match &record.details {
        Some(details) => details.sessions().and_then(|s| s.pct()),
        None if record.record.details.is_none() => percentage_in(&record.record.impact),
        None => None,
    };
    match pct {
        Some(p) if is_persistent_absence(p) => BarrierSignal::Concern,
        Some(p) if p < AttendanceDetails::WATCH_BELOW_PCT => BarrierSignal::Watch,
        Some(_) => BarrierSignal::NoneKnown,
        None if record.impact_says("persistent absence") => BarrierSignal::Concern,
        None => BarrierSignal::NoneKnown,
    }
}

/// In care, worth watching while it lasts; not in care (or no longer), nothing known.
fn looked_after_status_signal(record: &Disclosed<'_>) -> BarrierSignal {
    match &record.details {
        Some(RecordDetails::LookedAfterStatus(status)) if !status.in_care => {
            BarrierSignal::NoneKnown
        }
        _ if record.record.effective_to.is_some() => BarrierSignal::NoneKnown,
        _ => BarrierSignal::Watch,
    }
}

/// An EHC plan is a concern, SEN support worth watching.
fn sen_signal(record: &Disclosed<'_>) -> BarrierSignal {
    record.unless_ended(match &record.details {
        Some(RecordDetails::SpecialEducationalNeeds(sen)) => match sen.provision {
            SenProvision::EhcPlan => BarrierSignal::Concern,
            SenProvision::SenSupport => BarrierSignal::Watch,
        },
        _ if record.impact_says("ehc plan") || record.impact_says("education, health and care") => {
            BarrierSignal::Concern
        }
        _ => BarrierSignal::Watch,
    })
}

/// Working well below the expected standard is a concern, below it worth watching.
fn attainment_signal(record: &Disclosed<'_>) -> BarrierSignal {
    record.unless_ended(match &record.details {
        Some(RecordDetails::Attainment(a)) => match a.working_at {
            WorkingAt::WellBelow => BarrierSignal::Concern,
            WorkingAt::Below => BarrierSignal::Watch,
            WorkingAt::Expected | WorkingAt::Above => BarrierSignal::NoneKnown,
        },
        _ if record.impact_says("well below") => BarrierSignal::Concern,
        _ if record.impact_says("below") => BarrierSignal::Watch,
        _ => BarrierSignal::NoneKnown,
    })
}

/// A high total difficulties score is a concern, a raised one worth watching; without
/// the score, worth watching.
fn sdq_signal(record: &Disclosed<'_>) -> BarrierSignal {
    match &record.details {
        Some(RecordDetails::StrengthsAndDifficulties(sdq)) => match sdq.band() {
            SdqBand::High => record.unless_ended(BarrierSignal::Concern),
            SdqBand::Raised => BarrierSignal::Watch,
            SdqBand::Average => BarrierSignal::NoneKnown,
        },
        _ => BarrierSignal::Watch,
    }
}

/// The first percentage in an impact line ("Attendance 84.2% this term").
fn percentage_in(text: &str) -> Option<f64> {
    let end = text.find('%')?;
    let start = text[..end]
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    text[start..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    #[test]
    fn police_node_does_not_hold_attendance() {
        assert!(!RecordCategory::Attendance.held_by(AgencyKind::Police));
        assert!(RecordCategory::EncompassNotification.held_by(AgencyKind::Police));
    }

    #[test]
    fn all_lists_every_category_once_each_held_by_some_kind() {
        let names: std::collections::BTreeSet<&str> =
            RecordCategory::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), RecordCategory::ALL.len());
        for kind in AgencyKind::ALL {
            assert!(
                RecordCategory::ALL.iter().any(|c| c.held_by(kind)),
                "{kind:?}"
            );
        }
        for c in RecordCategory::ALL {
            assert!(!c.holders().is_empty(), "{c:?}");
        }
    }

    #[test]
    fn category_names_are_the_wire_names() {
        for c in RecordCategory::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(RecordCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(RecordCategory::parse("gossip"), None);
    }

    fn example_record(category: RecordCategory) -> Record {
        Record {
            source_system_id: "X-1".into(),
            category,
            effective_from: chrono::NaiveDate::default(),
            effective_to: None,
            recorded_at: chrono::DateTime::default(),
            impact: "impact".into(),
            details: Some(RecordDetails::example(category)),
            outline: None,
            version: 1,
        }
    }

    /// What the node and the gateway read of a category's details is there in its
    /// example: a category given a part here says which field plays it.
    #[test]
    fn every_part_a_category_plays_is_read_from_its_details() {
        for c in RecordCategory::ALL {
            let record = example_record(c);
            let read = Disclosed::read(&record);
            let details = read.details.as_ref().unwrap_or_else(|| panic!("{c:?}"));
            if c.feeds(BarrierKind::Attendance) {
                assert!(details.sessions().is_some(), "{c:?}");
            }
            if c.barrier().is_none() {
                assert_eq!(c.signal(&read), BarrierSignal::NoneKnown, "{c:?}");
            }
            match c.transition() {
                Some(TransitionRule::SchoolMove) => assert!(details.school().is_some(), "{c:?}"),
                Some(TransitionRule::PlacementMove) => {
                    assert!(details.placement_move().is_some(), "{c:?}")
                }
                Some(TransitionRule::Practitioner { .. }) => {
                    assert!(details.person().is_some(), "{c:?}")
                }
                Some(TransitionRule::Plan { .. }) | None => {}
            }
            if c.key_contact().is_some() {
                assert!(details.person().is_some(), "{c:?}");
                assert!(details.team().is_some(), "{c:?}");
            }
            if let Raises::WhenDetailsShow(event) = c.raises() {
                // The examples are chosen to show what their category raises on.
                assert!(details.shows(event), "{c:?}");
            }
        }
    }
}
