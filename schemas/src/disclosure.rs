//! What a node discloses: a level per record category, decided at the node by its
//! sharing policy and capped by the child's consent decisions.

use crate::agency::AgencyKind;
use crate::category::RecordCategory;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How much of a category a requester sees. Ordered: `none` < `existence` < `summary` <
/// `full`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureLevel {
    /// Nothing.
    None,
    /// Only that the agency knows the child, and how to contact it.
    Existence,
    /// The impact statements: what it means for the child, without confidential details.
    Summary,
    /// The records themselves.
    Full,
}

impl DisclosureLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DisclosureLevel::None => "none",
            DisclosureLevel::Existence => "existence",
            DisclosureLevel::Summary => "summary",
            DisclosureLevel::Full => "full",
        }
    }
}

/// Why a category was not disclosed. Never says what is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithheldReason {
    /// The node's sharing policy gives this requester nothing of this category.
    Policy,
    /// The child (or whoever decides for them) refused or withdrew consent.
    ConsentRefused,
    /// The legal basis is consent, and no consent is recorded.
    ConsentNotRecorded,
    /// The requester may see this category, and the agency holds none of it.
    NotHeld,
    /// Policy would grant more, but the requester's own agency has not asserted an
    /// active involvement with this child (on roll, open case, allocated worker, open
    /// assessment, in the virtual school's cohort): without one, an agency discloses no
    /// more than that it knows the child and how to reach it. A safeguarding override
    /// (break-glass) is the only way further.
    NoRelationship,
}

/// The level applied to one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryDisclosure {
    pub category: RecordCategory,
    pub level: DisclosureLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<WithheldReason>,
}

/// How to reach the agency about this child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactRoute {
    /// The team that holds the records.
    pub team: String,
    /// How to contact it: a duty line, a secure mailbox.
    pub route: String,
}

/// A consent decision as recorded by the agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Given,
    Refused,
    Withdrawn,
}

/// Who gave, refused or withdrew consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecider {
    /// The child, judged competent to decide (Gillick competence): `gillick_competent`
    /// must be `true`.
    Child,
    /// A parent with parental responsibility.
    Parent,
    /// A carer (a foster carer, a special guardian, a relative caring for the child).
    Carer,
    /// The local authority, for a child in its care.
    LocalAuthority,
}

impl ConsentDecider {
    /// Who decided, in words for the child.
    pub fn in_words(self) -> &'static str {
        match self {
            ConsentDecider::Child => "you",
            ConsentDecider::Parent => "your parent",
            ConsentDecider::Carer => "your carer",
            ConsentDecider::LocalAuthority => "the local authority that looks after you",
        }
    }
}

/// The most characters of a child's wishes in a consent decision.
pub const MAX_WISHES_CHARS: usize = 4000;

/// A consent decision about sharing one category (or every category) with one kind of
/// agency: who decided, and what the child wants, in their own words, even when someone
/// else decided.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "category": "camhs_referral", "recipient_kind": "school", "state": "refused",
    "decided_on": "2026-10-01", "recorded_by": "nurse.community",
    "decided_by": "child", "gillick_competent": true,
    "child_wishes": "I don't want my teachers to know about CAMHS. I'll tell them myself."
}))]
pub struct ConsentDecision {
    /// The category, or absent for every category this agency holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<RecordCategory>,
    /// Which kind of agency the decision is about.
    pub recipient_kind: AgencyKind,
    pub state: ConsentState,
    /// The day the decision was made.
    #[schema(value_type = String, format = Date)]
    pub decided_on: NaiveDate,
    /// Who recorded it, in the agency's own system.
    pub recorded_by: String,
    /// Who made the decision: the child (Gillick competent), a parent with parental
    /// responsibility, a carer or the local authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<ConsentDecider>,
    /// Whether the child was judged competent to decide for themselves. Must be `true`
    /// when `decided_by` is `child`; may be `false` to record why someone else decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gillick_competent: Option<bool>,
    /// The child's wishes in their own words (1 to 4,000 characters), recorded even when
    /// someone else decides; shown back to the child in their access report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 4000)]
    pub child_wishes: Option<String>,
}

impl ConsentDecision {
    /// Every rule the decision breaks, by field (the category's holder is the node's to
    /// check).
    pub fn validate(&self) -> Vec<crate::problem::FieldError> {
        use crate::problem::FieldError;
        let mut errors = Vec::new();
        if self.recorded_by.trim().is_empty() {
            errors.push(FieldError::new(
                "recorded_by",
                "must name who recorded the decision",
            ));
        }
        if self.decided_by == Some(ConsentDecider::Child) && self.gillick_competent != Some(true) {
            errors.push(FieldError::new(
                "gillick_competent",
                "must be true when the child decided: a child decides for themselves only when judged competent to",
            ));
        }
        if let Some(wishes) = &self.child_wishes {
            let len = wishes.chars().count();
            if wishes.trim().is_empty() || len > MAX_WISHES_CHARS {
                errors.push(FieldError::new(
                    "child_wishes",
                    format!("must have 1 to {MAX_WISHES_CHARS} characters, not only spaces"),
                ));
            }
        }
        errors
    }

    /// One sentence for the child's access report: who decided what, about whom.
    pub fn in_words(&self, holder: &str) -> String {
        let who = self.decided_by.map_or("someone", ConsentDecider::in_words);
        let what = self.category.map_or(
            "the information we hold about you",
            RecordCategory::in_words,
        );
        let with = match self.recipient_kind {
            AgencyKind::School => "schools",
            AgencyKind::SocialCare => "children's social care",
            AgencyKind::Health => "health services",
            AgencyKind::Police => "the police",
            AgencyKind::EarlyHelp => "early help",
            AgencyKind::VirtualSchool => "the virtual school",
        };
        let decision = match self.state {
            ConsentState::Given => format!("said yes to {holder} sharing {what} with {with}"),
            ConsentState::Refused => format!("said no to {holder} sharing {what} with {with}"),
            ConsentState::Withdrawn => {
                format!("took back the yes to {holder} sharing {what} with {with}")
            }
        };
        let mut sentence = format!(
            "On {}, {who} {decision}.",
            self.decided_on.format("%-d %B %Y")
        );
        if let Some(wishes) = &self.child_wishes {
            sentence.push_str(&format!(
                " What you told us you want: \"{}\"",
                wishes.trim()
            ));
        }
        sentence
    }
}

/// A consent decision about the child, in the child's access report: who decided, and
/// the child's own wishes shown back to them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessReportConsent {
    /// The agency that holds the decision.
    pub holder: String,
    #[schema(value_type = String, format = Date)]
    pub decided_on: NaiveDate,
    pub state: ConsentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<ConsentDecider>,
    /// The child's wishes, in their own words, as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub your_wishes: Option<String>,
    /// The decision in words a young person can read.
    pub sentence: String,
}

/// A recorded consent decision with when the node stored it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredConsent {
    #[serde(flatten)]
    pub decision: ConsentDecision,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: DateTime<Utc>,
}

/// Result of checking the audit chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    /// `true` when every entry is intact and in order.
    pub intact: bool,
    /// How many entries were checked.
    pub entries: u64,
    /// The sequence number of the first entry that does not chain, when one does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the other nodes' signed checkpoints of this log said, when they were asked: a
    /// log rewritten whole since the last checkpoint chains but no longer agrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<WitnessCheck>,
}

/// Why, in plain words for a young person: "to help keep you safe".
pub fn purpose_in_words(purpose: crate::federation::Purpose) -> &'static str {
    use crate::federation::Purpose;
    match purpose {
        Purpose::Safeguarding => "to help keep you safe",
        Purpose::EducationSupport => "to support your learning",
        Purpose::CarePlanning => "to plan your care",
        Purpose::HealthCare => "to look after your health",
        Purpose::EarlyHelp => "to give your family early help",
    }
}

/// One line of a child's access report: who saw what, when and why, in plain words.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "at": "2026-11-25T08:12:00Z",
    "holder": "County Children's Social Care",
    "seen_by": "a school's safeguarding lead at Northfield Primary School",
    "sentence": "On 25 November 2026, a school's safeguarding lead at Northfield Primary School saw the details of your child protection plan, to help keep you safe.",
    "override_used": false,
    "audit_seq": 412
}))]
pub struct AccessReportEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The agency that holds the information.
    pub holder: String,
    /// Who saw it: their role and agency, in words.
    pub seen_by: String,
    /// What they saw, when and why, in words a young person can read.
    pub sentence: String,
    /// `true` when information was shared without asking first, to keep the child safe.
    pub override_used: bool,
    /// `true` for an emergency read by someone whose agency does not work with the child
    /// ("break-glass"): the agency's data protection officer was alerted at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
    /// `true` when they saw it in a list of the children their agency works with (a
    /// cohort: a virtual school's children in care, a school's pupils), not by looking
    /// the child up on their own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cohort: bool,
    /// Held back from the child's report until this day (only the agency's data
    /// protection officer sees such entries before then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub deferred_until: Option<NaiveDate>,
    /// The audit entry this line comes from, at the holding agency.
    pub audit_seq: i64,
}

/// One agency's part of a child's access report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessReport {
    pub agency_id: crate::AgencyId,
    pub entries: Vec<AccessReportEntry>,
    /// The consent decisions this agency holds about the child, newest first.
    #[serde(default)]
    pub consents: Vec<AccessReportConsent>,
}

/// Releases a deferred access-report entry early.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeferralRelease {
    /// Who released it (the data protection officer's user id).
    #[schema(min_length = 1, pattern = r"\S")]
    pub released_by: String,
}

/// Whether one agency's part of an access report could be read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessReportSource {
    pub agency_id: crate::AgencyId,
    pub agency_name: String,
    pub status: crate::federation::SectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A child's access report across the federation: who has seen their information, at
/// every agency that holds it, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChildAccessReport {
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: DateTime<Utc>,
    pub entries: Vec<AccessReportEntry>,
    /// The consent decisions about the child at every agency, newest first: who decided,
    /// and the child's wishes in their own words.
    #[serde(default)]
    pub consents: Vec<AccessReportConsent>,
    /// Per agency holding the child: whether its part was read.
    pub agencies: Vec<AccessReportSource>,
}

/// A node's signed statement of its audit log's head: "my log had `seq` entries, the last
/// with hash `hash`, at `at`". Other nodes keep it as witnesses (through the gateway,
/// which keeps nothing), so a node's log rewritten after the checkpoint, even with every
/// hash recomputed, no longer agrees with what they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "node": "school-a", "seq": 1042,
    "hash": "5b0f6c1d9e2a4b7c8d3e6f1a2b5c8d9e0f3a6b7c4d1e2f5a8b9c0d3e6f7a4b1c",
    "at": "2026-12-05T09:15:00Z",
    "signature": "mF3k...base64 of 64 bytes..."
}))]
pub struct AuditCheckpoint {
    /// The node whose log this is.
    #[schema(value_type = String)]
    pub node: crate::AgencyId,
    /// The number of entries (the last entry's sequence number).
    pub seq: i64,
    /// The last entry's hash.
    pub hash: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: chrono::DateTime<chrono::Utc>,
    /// Base64 of the node's Ed25519 signature of [`AuditCheckpoint::signed_bytes`], with
    /// the key the directory lists for it.
    pub signature: String,
}

impl AuditCheckpoint {
    /// What the node signs: a label of this use, then each field on its own line.
    pub fn signed_bytes(
        node: &crate::AgencyId,
        seq: i64,
        hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<u8> {
        format!(
            "child-view audit checkpoint v1\n{node}\n{seq}\n{hash}\n{}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .into_bytes()
    }

    /// [`Self::signed_bytes`] of this checkpoint.
    pub fn bytes(&self) -> Vec<u8> {
        Self::signed_bytes(&self.node, self.seq, &self.hash, self.at)
    }
}

/// Which nodes took a checkpoint to keep, and which did not and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "checkpoint": {"node": "school-a", "seq": 1042,
        "hash": "5b0f6c1d9e2a4b7c8d3e6f1a2b5c8d9e0f3a6b7c4d1e2f5a8b9c0d3e6f7a4b1c",
        "at": "2026-12-05T09:15:00Z", "signature": "mF3k...base64 of 64 bytes..."},
    "witnessed_by": ["social-care", "health", "police"],
    "not_witnessed": [{"node": "early-help", "reason": "no answer within the deadline"}]
}))]
pub struct CheckpointReceipt {
    pub checkpoint: Option<AuditCheckpoint>,
    /// The nodes that keep it now.
    #[schema(value_type = Vec<String>)]
    pub witnessed_by: Vec<crate::AgencyId>,
    /// The nodes asked that did not keep it, each with the reason.
    pub not_witnessed: Vec<WitnessRefusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WitnessRefusal {
    #[schema(value_type = String)]
    pub node: crate::AgencyId,
    pub reason: String,
}

/// The latest checkpoint of one node that each other node keeps, as the gateway
/// collected them: each is still signed by the node itself, so the gateway cannot make
/// one up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "witnessed": [{"witness": "social-care", "checkpoint": {"node": "school-a", "seq": 1042,
        "hash": "5b0f6c1d9e2a4b7c8d3e6f1a2b5c8d9e0f3a6b7c4d1e2f5a8b9c0d3e6f7a4b1c",
        "at": "2026-12-05T09:15:00Z", "signature": "mF3k...base64 of 64 bytes..."}}],
    "without": ["early-help"]
}))]
pub struct WitnessedCheckpoints {
    pub witnessed: Vec<Witnessed>,
    /// Nodes asked that hold none, or did not answer.
    #[schema(value_type = Vec<String>)]
    pub without: Vec<crate::AgencyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Witnessed {
    #[schema(value_type = String)]
    pub witness: crate::AgencyId,
    pub checkpoint: AuditCheckpoint,
}

/// What the witnesses' checkpoints said of a node's log, in its verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WitnessCheck {
    /// Whether the node could ask them (it has a signing key and a gateway).
    pub asked: bool,
    /// Checkpoints checked against the log, signature and entry.
    pub checked: usize,
    /// The newest sequence number a witness vouches for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_seq: Option<i64>,
    #[schema(value_type = Vec<String>)]
    pub witnesses: Vec<crate::AgencyId>,
    /// Why the witnesses could not be asked, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
