//! Agency kinds, member roles and practitioner roles: who takes part in the federation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kind of agency a member belongs to. It decides which record categories its node
/// may hold and, later, which sharing rules apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    School,
    SocialCare,
    Health,
    Police,
    EarlyHelp,
    VirtualSchool,
}

impl AgencyKind {
    pub const ALL: [AgencyKind; 6] = [
        AgencyKind::School,
        AgencyKind::SocialCare,
        AgencyKind::Health,
        AgencyKind::Police,
        AgencyKind::EarlyHelp,
        AgencyKind::VirtualSchool,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgencyKind::School => "school",
            AgencyKind::SocialCare => "social_care",
            AgencyKind::Health => "health",
            AgencyKind::Police => "police",
            AgencyKind::EarlyHelp => "early_help",
            AgencyKind::VirtualSchool => "virtual_school",
        }
    }
}

/// What a federation member may do, as listed in the federation directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// An agency node: holds the agency's records.
    Node,
    /// A gateway: federates practitioners' reads across nodes.
    Gateway,
    /// An agency's own system (school MIS, case management) writing to its node.
    Integration,
}

/// A practitioner's role, carried in the `role` claim of their token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PractitionerRole {
    DesignatedSafeguardingLead,
    Teacher,
    SocialWorker,
    VirtualSchoolHead,
    SchoolNurse,
    PoliceOfficer,
    EarlyHelpWorker,
    /// The agency's data protection officer: answers subject access requests, sees and
    /// releases deferred entries of a child's access report.
    DataProtectionOfficer,
}

impl PractitionerRole {
    /// The role in plain words, with its article: "a social worker".
    pub fn in_words(self) -> &'static str {
        match self {
            PractitionerRole::DesignatedSafeguardingLead => "a school's safeguarding lead",
            PractitionerRole::Teacher => "a teacher",
            PractitionerRole::SocialWorker => "a social worker",
            PractitionerRole::VirtualSchoolHead => "the head of the virtual school",
            PractitionerRole::SchoolNurse => "a school nurse",
            PractitionerRole::PoliceOfficer => "a police officer",
            PractitionerRole::EarlyHelpWorker => "an early help worker",
            PractitionerRole::DataProtectionOfficer => "a data protection officer",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PractitionerRole::DesignatedSafeguardingLead => "designated_safeguarding_lead",
            PractitionerRole::Teacher => "teacher",
            PractitionerRole::SocialWorker => "social_worker",
            PractitionerRole::VirtualSchoolHead => "virtual_school_head",
            PractitionerRole::SchoolNurse => "school_nurse",
            PractitionerRole::PoliceOfficer => "police_officer",
            PractitionerRole::EarlyHelpWorker => "early_help_worker",
            PractitionerRole::DataProtectionOfficer => "data_protection_officer",
        }
    }
}
