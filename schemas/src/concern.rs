//! Concerns to children's social care, and outcomes back. An agency's system raises a
//! concern about one of its children at its own node; the node sends it, through the
//! gateway, to the children's social care **front door** that serves the child; social
//! care records a decision within a working day, and the decision (and later steps) go
//! back to the referrer at the level social care's policy allows.

use crate::agency::AgencyKind;
use crate::disclosure::DisclosureLevel;
use crate::federation::ChildQuery;
use crate::identifiers::AgencyId;
use crate::problem::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest free text in a concern (what was seen, the child's words, reasons).
pub const TEXT_MAX: usize = 10_000;

/// The code list of concern categories (the factors of the children in need census, in
/// plain names).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ConcernCategory {
    PhysicalAbuse,
    EmotionalAbuse,
    SexualAbuse,
    Neglect,
    DomesticAbuse,
    ChildSexualExploitation,
    ChildCriminalExploitation,
    Radicalisation,
    FemaleGenitalMutilation,
    SelfHarm,
    MentalHealth,
    SubstanceMisuse,
    MissingFromHomeOrEducation,
    OnlineHarm,
    Other,
}

impl ConcernCategory {
    pub const ALL: [ConcernCategory; 15] = [
        Self::PhysicalAbuse,
        Self::EmotionalAbuse,
        Self::SexualAbuse,
        Self::Neglect,
        Self::DomesticAbuse,
        Self::ChildSexualExploitation,
        Self::ChildCriminalExploitation,
        Self::Radicalisation,
        Self::FemaleGenitalMutilation,
        Self::SelfHarm,
        Self::MentalHealth,
        Self::SubstanceMisuse,
        Self::MissingFromHomeOrEducation,
        Self::OnlineHarm,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhysicalAbuse => "physical_abuse",
            Self::EmotionalAbuse => "emotional_abuse",
            Self::SexualAbuse => "sexual_abuse",
            Self::Neglect => "neglect",
            Self::DomesticAbuse => "domestic_abuse",
            Self::ChildSexualExploitation => "child_sexual_exploitation",
            Self::ChildCriminalExploitation => "child_criminal_exploitation",
            Self::Radicalisation => "radicalisation",
            Self::FemaleGenitalMutilation => "female_genital_mutilation",
            Self::SelfHarm => "self_harm",
            Self::MentalHealth => "mental_health",
            Self::SubstanceMisuse => "substance_misuse",
            Self::MissingFromHomeOrEducation => "missing_from_home_or_education",
            Self::OnlineHarm => "online_harm",
            Self::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }

    pub fn in_words(self) -> &'static str {
        match self {
            Self::PhysicalAbuse => "physical abuse",
            Self::EmotionalAbuse => "emotional abuse",
            Self::SexualAbuse => "sexual abuse",
            Self::Neglect => "neglect",
            Self::DomesticAbuse => "domestic abuse",
            Self::ChildSexualExploitation => "child sexual exploitation",
            Self::ChildCriminalExploitation => "child criminal exploitation",
            Self::Radicalisation => "radicalisation",
            Self::FemaleGenitalMutilation => "female genital mutilation",
            Self::SelfHarm => "self-harm",
            Self::MentalHealth => "mental health",
            Self::SubstanceMisuse => "substance misuse",
            Self::MissingFromHomeOrEducation => "missing from home or education",
            Self::OnlineHarm => "online harm",
            Self::Other => "another concern",
        }
    }
}

/// How to reach the person who raised the concern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferrerContact {
    /// Their name or role title, as social care should ask for them.
    #[serde(default)]
    pub name: Option<String>,
    /// Their role (e.g. "Designated safeguarding lead").
    #[serde(default)]
    pub role: Option<String>,
    /// A phone number social care can call back on today.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A concern as an agency's system raises it (`POST /v1/concerns` at its own node).
/// Every field but `childs_words`, `parents_not_told_because`, `lawful_basis` and the
/// referrer's `email` is required; each missing or invalid field is named in one
/// problem, and nothing is sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "local_id": "NPS-000123",
    "seen_or_heard": "Arrived with a bruise on the left cheek; said it happened at home last night.",
    "seen_at": "2026-12-04T08:50:00Z",
    "childs_words": "Dad was really angry.",
    "categories": ["physical_abuse", "domestic_abuse"],
    "immediate_risk": false,
    "parents_told": false,
    "parents_not_told_because": "Telling the parent could put the child at greater risk.",
    "consent": false,
    "lawful_basis": "Safeguarding: risk of significant harm (Children Act 1989 s47); consent not sought as it would increase the risk.",
    "referrer": {"name": "Designated safeguarding lead", "role": "designated_safeguarding_lead", "phone": "01632 960001"}
}))]
pub struct ConcernRaise {
    /// The child's id in the agency's own system.
    #[serde(default)]
    pub local_id: Option<String>,
    /// What was seen or heard, factually.
    #[serde(default)]
    pub seen_or_heard: Option<String>,
    /// When it was seen or heard (not in the future).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub seen_at: Option<String>,
    /// The child's own words, as they said them.
    #[serde(default)]
    pub childs_words: Option<String>,
    /// At least one, from the code list ([`ConcernCategory`]).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Is the child at immediate risk? If so, the answer names the front door's phone
    /// number: call it now. The concern is still sent, but it never replaces the call.
    #[serde(default)]
    pub immediate_risk: Option<bool>,
    /// Were the parents or carers told of the concern?
    #[serde(default)]
    pub parents_told: Option<bool>,
    /// Why not (required when `parents_told` is false).
    #[serde(default)]
    pub parents_not_told_because: Option<String>,
    /// Did the family consent to the referral?
    #[serde(default)]
    pub consent: Option<bool>,
    /// The lawful basis for referring without consent (required when `consent` is false).
    #[serde(default)]
    pub lawful_basis: Option<String>,
    /// Who to call back: `name`, `role` and `phone` are required.
    #[serde(default)]
    pub referrer: Option<ReferrerContact>,
}

/// A concern's content, validated, as it travels to the front door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConcernContent {
    pub seen_or_heard: String,
    #[schema(value_type = String, format = DateTime)]
    pub seen_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub childs_words: Option<String>,
    pub categories: Vec<ConcernCategory>,
    pub immediate_risk: bool,
    pub parents_told: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents_not_told_because: Option<String>,
    pub consent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lawful_basis: Option<String>,
    pub referrer: ReferrerContact,
}

fn text(
    field: &str,
    value: Option<&str>,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match value.map(str::trim) {
        None | Some("") if required => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        None | Some("") => None,
        Some(v) if v.chars().count() > TEXT_MAX => {
            errors.push(FieldError::new(
                field,
                format!("must have at most {TEXT_MAX} characters"),
            ));
            None
        }
        Some(v) => Some(v.to_owned()),
    }
}

impl ConcernRaise {
    /// The local id and the validated content, or every invalid field.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(String, ConcernContent), Vec<FieldError>> {
        let mut errors = Vec::new();
        let local_id = text("local_id", self.local_id.as_deref(), true, &mut errors);
        let seen_or_heard = text(
            "seen_or_heard",
            self.seen_or_heard.as_deref(),
            true,
            &mut errors,
        );
        let seen_at = match self.seen_at.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new("seen_at", "is required"));
                None
            }
            Some(v) => match DateTime::parse_from_rfc3339(v) {
                Ok(t) if t.with_timezone(&Utc) > now + chrono::Duration::minutes(5) => {
                    errors.push(FieldError::new("seen_at", "must not be in the future"));
                    None
                }
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.push(FieldError::new(
                        "seen_at",
                        "must be an RFC 3339 date and time, e.g. 2026-12-04T08:50:00Z",
                    ));
                    None
                }
            },
        };
        let childs_words = text(
            "childs_words",
            self.childs_words.as_deref(),
            false,
            &mut errors,
        );
        let mut categories = Vec::new();
        match &self.categories {
            None => errors.push(FieldError::new(
                "categories",
                "is required: at least one category of concern",
            )),
            Some(list) if list.is_empty() => errors.push(FieldError::new(
                "categories",
                "must name at least one category of concern",
            )),
            Some(list) => {
                for (i, name) in list.iter().enumerate() {
                    match ConcernCategory::parse(name) {
                        Some(c) if !categories.contains(&c) => categories.push(c),
                        Some(_) => {}
                        None => errors.push(FieldError::new(
                            format!("categories[{i}]"),
                            format!(
                                "'{}' is not a category of concern; one of: {}",
                                name.chars().take(60).collect::<String>(),
                                ConcernCategory::ALL.map(|c| c.as_str()).join(", ")
                            ),
                        )),
                    }
                }
            }
        }
        if self.immediate_risk.is_none() {
            errors.push(FieldError::new(
                "immediate_risk",
                "is required: true or false",
            ));
        }
        let parents_not_told_because = text(
            "parents_not_told_because",
            self.parents_not_told_because.as_deref(),
            self.parents_told == Some(false),
            &mut errors,
        );
        if self.parents_told.is_none() {
            errors.push(FieldError::new(
                "parents_told",
                "is required: true or false",
            ));
        }
        let lawful_basis = text(
            "lawful_basis",
            self.lawful_basis.as_deref(),
            self.consent == Some(false),
            &mut errors,
        );
        if self.consent.is_none() {
            errors.push(FieldError::new("consent", "is required: true or false"));
        }
        let referrer = match &self.referrer {
            None => {
                errors.push(FieldError::new(
                    "referrer",
                    "is required: name, role and phone",
                ));
                None
            }
            Some(r) => {
                let name = text("referrer.name", r.name.as_deref(), true, &mut errors);
                let role = text("referrer.role", r.role.as_deref(), true, &mut errors);
                let phone = text("referrer.phone", r.phone.as_deref(), true, &mut errors);
                if let Some(p) = &phone
                    && !is_phone(p)
                {
                    errors.push(FieldError::new(
                        "referrer.phone",
                        "must be a phone number (digits, spaces, +, -, brackets)",
                    ));
                }
                let email = text("referrer.email", r.email.as_deref(), false, &mut errors);
                if let Some(e) = &email
                    && !e.contains('@')
                {
                    errors.push(FieldError::new(
                        "referrer.email",
                        "must be an email address",
                    ));
                }
                Some(ReferrerContact {
                    name,
                    role,
                    phone,
                    email,
                })
            }
        };
        match (
            errors.is_empty(),
            local_id,
            seen_or_heard,
            seen_at,
            self.immediate_risk,
            self.parents_told,
            self.consent,
            referrer,
        ) {
            (
                true,
                Some(local_id),
                Some(seen_or_heard),
                Some(seen_at),
                Some(immediate_risk),
                Some(parents_told),
                Some(consent),
                Some(referrer),
            ) => Ok((
                local_id,
                ConcernContent {
                    seen_or_heard,
                    seen_at,
                    childs_words,
                    categories,
                    immediate_risk,
                    parents_told,
                    parents_not_told_because: if parents_told {
                        None
                    } else {
                        parents_not_told_because
                    },
                    consent,
                    lawful_basis: if consent { None } else { lawful_basis },
                    referrer,
                },
            )),
            _ => Err(errors),
        }
    }
}

impl ConcernContent {
    /// Checks a content received from another member (the gateway, a front door) as
    /// strictly as a raise.
    pub fn validate(&self) -> Vec<FieldError> {
        let raise = ConcernRaise {
            local_id: Some("-".into()),
            seen_or_heard: Some(self.seen_or_heard.clone()),
            seen_at: Some(self.seen_at.to_rfc3339()),
            childs_words: self.childs_words.clone(),
            categories: Some(
                self.categories
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            ),
            immediate_risk: Some(self.immediate_risk),
            parents_told: Some(self.parents_told),
            parents_not_told_because: self.parents_not_told_because.clone(),
            consent: Some(self.consent),
            lawful_basis: self.lawful_basis.clone(),
            referrer: Some(self.referrer.clone()),
        };
        raise
            .validate(Utc::now())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| FieldError::new(format!("content.{}", e.field), e.message))
            .collect()
    }

    /// One line for lists and the chronology.
    pub fn summary(&self) -> String {
        let categories: Vec<&str> = self.categories.iter().map(|c| c.in_words()).collect();
        format!(
            "Concern about {}{}",
            categories.join(", "),
            if self.immediate_risk {
                " (immediate risk)"
            } else {
                ""
            }
        )
    }
}

fn is_phone(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (6..=15).contains(&digits)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
}

/// The postcode district (outward code) of a postcode: `ZZ1 4AB` → `ZZ1`.
pub fn postcode_district(postcode: &str) -> Option<String> {
    let compact: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // The inward code is always three characters (digit, letter, letter).
    if compact.len() < 5 || !compact.is_ascii() {
        return None;
    }
    Some(compact[..compact.len() - 3].to_owned())
}

/// A local authority's children's social care front door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FrontDoor {
    pub agency_id: AgencyId,
    pub name: String,
    /// The front door's phone line for professionals.
    pub phone: String,
}

/// Where a concern stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConcernStatus {
    /// Referrer: waiting to reach the front door (retried).
    Sending,
    /// Referrer: the front door has it; a decision is due.
    Sent,
    /// Referrer: could not be delivered after every attempt; call the front door.
    Undelivered,
    /// Front door: received about a child social care does not hold: a contact, not an
    /// open case.
    Contact,
    /// Front door: received about a child social care holds; a decision is due.
    Received,
    /// A decision was recorded (both sides).
    Decided,
    /// Passed to another authority's front door, which decides.
    Passed,
}

/// What social care decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// No further action; `advice` says what the referrer should do.
    NoFurtherAction,
    /// Early help offered to the family.
    EarlyHelp,
    /// A child and family assessment starts.
    Assessment,
    /// A section 47 enquiry (risk of significant harm) starts.
    #[serde(rename = "section_47")]
    Section47,
    /// The child's case is already open; `allocated_worker` names the worker.
    AlreadyOpen,
    /// The child lives in another authority: `to_authority` names its front door, which
    /// receives the concern.
    AnotherAuthority,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoFurtherAction => "no_further_action",
            Self::EarlyHelp => "early_help",
            Self::Assessment => "assessment",
            Self::Section47 => "section_47",
            Self::AlreadyOpen => "already_open",
            Self::AnotherAuthority => "another_authority",
        }
    }

    /// Whether the decision opens work with the child (they become known to social care).
    pub fn opens_work(self) -> bool {
        matches!(self, Self::Assessment | Self::Section47 | Self::AlreadyOpen)
    }

    pub fn in_words(self) -> &'static str {
        match self {
            Self::NoFurtherAction => "No further action by children's social care",
            Self::EarlyHelp => "Early help offered to the family",
            Self::Assessment => "Child and family assessment started",
            Self::Section47 => "Section 47 enquiry started",
            Self::AlreadyOpen => "Already open to children's social care",
            Self::AnotherAuthority => "Passed to another local authority",
        }
    }
}

/// Social care's decision on a concern (`POST /v1/concerns/{id}/decision` at its node).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "decision": "assessment",
    "decided_by": "Front door team manager",
    "allocated_worker": "Social worker, assessment team",
    "duty_line": "01632 960100",
    "advice": "Keep a record of anything the child says; the social worker will call you today."
}))]
pub struct ConcernDecision {
    pub decision: DecisionKind,
    /// Who decided (a name or role title in the authority's own system).
    pub decided_by: String,
    /// What the referrer should do next (required for `no_further_action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    /// The allocated worker (required for `already_open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_worker: Option<String>,
    /// A duty line the referrer can call about the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_line: Option<String>,
    /// The authority that serves the child (required for `another_authority`): its
    /// front door receives the concern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_authority: Option<AgencyId>,
}

impl ConcernDecision {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let short = |field: &str,
                     value: Option<&str>,
                     required: bool,
                     errors: &mut Vec<FieldError>| {
            match value.map(str::trim) {
                None | Some("") if required => errors.push(FieldError::new(field, "is required")),
                Some(v) if v.chars().count() > TEXT_MAX => errors.push(FieldError::new(
                    field,
                    format!("must have at most {TEXT_MAX} characters"),
                )),
                _ => {}
            }
        };
        short("decided_by", Some(&self.decided_by), true, &mut errors);
        short(
            "advice",
            self.advice.as_deref(),
            self.decision == DecisionKind::NoFurtherAction,
            &mut errors,
        );
        short(
            "allocated_worker",
            self.allocated_worker.as_deref(),
            self.decision == DecisionKind::AlreadyOpen,
            &mut errors,
        );
        short("duty_line", self.duty_line.as_deref(), false, &mut errors);
        if let Some(line) = &self.duty_line
            && !is_phone(line)
        {
            errors.push(FieldError::new("duty_line", "must be a phone number"));
        }
        match (self.decision, &self.to_authority) {
            (DecisionKind::AnotherAuthority, None) => errors.push(FieldError::new(
                "to_authority",
                "is required: the front door (agency id) the concern goes to",
            )),
            (d, Some(_)) if d != DecisionKind::AnotherAuthority => errors.push(FieldError::new(
                "to_authority",
                "only for `another_authority`",
            )),
            _ => {}
        }
        errors
    }
}

/// A later step social care tells the referrer (`POST /v1/concerns/{id}/steps`), while
/// the referrer still works with the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    AssessmentCompleted,
    PlanStarted,
    CaseClosed,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssessmentCompleted => "assessment_completed",
            Self::PlanStarted => "plan_started",
            Self::CaseClosed => "case_closed",
        }
    }

    pub fn in_words(self) -> &'static str {
        match self {
            Self::AssessmentCompleted => "Assessment completed",
            Self::PlanStarted => "Plan started",
            Self::CaseClosed => "Case closed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"step": "plan_started", "summary": "Child in need plan agreed; the school is part of the core group."}))]
pub struct ConcernStep {
    pub step: StepKind,
    /// One line for the referrer (shared at `summary` level or above).
    pub summary: String,
}

impl ConcernStep {
    pub fn validate(&self) -> Vec<FieldError> {
        let n = self.summary.trim().chars().count();
        if n == 0 || n > 500 {
            vec![FieldError::new("summary", "must have 1 to 500 characters")]
        } else {
            Vec::new()
        }
    }
}

/// What the referrer is told: a decision, or a later step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConcernOutcome {
    /// Unique per outcome; the referrer keeps one per id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// `decision` or the step's name (`assessment_completed`, `plan_started`,
    /// `case_closed`).
    pub kind: String,
    /// The decision, for `decision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionKind>,
    /// The level social care's policy allows the referrer: `existence` (the decision in
    /// words and who to call), `summary` (with advice), `full` (with the allocated worker).
    pub level: DisclosureLevel,
    /// The outcome in one line ("Child and family assessment started; social worker
    /// allocated; duty line 01632 960100").
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_worker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_line: Option<String>,
    /// For `another_authority`: the front door that now has the concern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed_to: Option<FrontDoor>,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The authority that sent it (set by the gateway on delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<AgencyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

/// A node hands a concern to the gateway (`POST /v1/concerns` at the gateway).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConcernRoute {
    /// The concern's id; the front door keeps one per id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: DateTime<Utc>,
    /// The child, to find at social care nodes (and to record as a contact there).
    pub child: ChildQuery,
    /// The child's home postcode: its district chooses the front door when no social
    /// care node holds the child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub content: ConcernContent,
    /// Forwarding (social care nodes only): the front door to send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<AgencyId>,
    /// Forwarding (social care nodes only): the agency that first raised the concern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<AgencyId>,
}

/// The gateway's answer to a concern route.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConcernRouted {
    pub front_door: FrontDoor,
    /// `delivered`, `duplicate` or `failed` (the sender retries).
    pub outcome: crate::notification::DeliveryOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the front door's decision is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
}

/// A concern delivered to a front door node, signed by the gateway
/// (`POST /v1/federation/concerns`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConcernDelivery {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: DateTime<Utc>,
    /// The agency that raised it (outcomes go back to it).
    pub referrer: AgencyId,
    pub referrer_name: String,
    pub referrer_kind: AgencyKind,
    /// When the front door already holds the child: its reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_ref: Option<String>,
    pub child: ChildQuery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    pub content: ConcernContent,
    /// The authority that passed it on, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<AgencyId>,
}

/// A node hands an outcome to the gateway for the referrer
/// (`POST /v1/concerns/outcomes` at the gateway; social care nodes only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutcomeRoute {
    #[schema(value_type = String, format = Uuid)]
    pub concern_id: Uuid,
    /// The referrer.
    pub to: AgencyId,
    pub outcome: ConcernOutcome,
}

/// An outcome delivered to the referrer's node, signed by the gateway
/// (`POST /v1/federation/concerns/outcomes`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutcomeDelivery {
    #[schema(value_type = String, format = Uuid)]
    pub concern_id: Uuid,
    pub outcome: ConcernOutcome,
}

/// A concern as either side lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConcernItem {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub status: ConcernStatus,
    /// The child's local id here; absent at a front door for a contact (a child social
    /// care does not hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// At a front door, for a contact: the child as the referrer described them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<ChildQuery>,
    pub referrer: AgencyId,
    pub referrer_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_door: Option<FrontDoor>,
    pub content: ConcernContent,
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub received_at: Option<DateTime<Utc>>,
    /// When the decision is due: the end of the next working day after receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
    /// Undecided and the deadline near or passed.
    pub at_risk: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ConcernDecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<DateTime<Utc>>,
    /// What the referrer was told (referrer: received; front door: sent).
    pub outcomes: Vec<ConcernOutcome>,
    /// The authority that passed it here, or (`status: passed`) where it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<AgencyId>,
    /// Referrer: the last delivery error, while sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The answer to raising a concern.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConcernAccepted {
    #[serde(flatten)]
    pub concern: ConcernItem,
    /// With immediate risk: call the front door now. The message still goes, but it
    /// never replaces the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_now: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Concerns {
    pub items: Vec<ConcernItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_examples_are_what_they_document() {
        fn reads<T: serde::de::DeserializeOwned>(text: &str) {
            if let Err(e) = serde_json::from_str::<T>(text) {
                panic!("{e}: {text}");
            }
        }
        reads::<ConcernItem>(include_str!("../openapi-examples/ConcernItem.json"));
        reads::<Concerns>(include_str!("../openapi-examples/Concerns.json"));
        reads::<ConcernAccepted>(include_str!("../openapi-examples/ConcernAccepted.json"));
        reads::<ConcernRoute>(include_str!("../openapi-examples/ConcernRoute.json"));
        reads::<ConcernRouted>(include_str!("../openapi-examples/ConcernRouted.json"));
        reads::<ConcernDelivery>(include_str!("../openapi-examples/ConcernDelivery.json"));
        reads::<OutcomeRoute>(include_str!("../openapi-examples/OutcomeRoute.json"));
        reads::<OutcomeDelivery>(include_str!("../openapi-examples/OutcomeDelivery.json"));
        let route: ConcernRoute =
            serde_json::from_str(include_str!("../openapi-examples/ConcernRoute.json"))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(route.content.validate().is_empty());
        assert!(route.child.validate().is_empty());
    }

    #[test]
    fn districts() {
        assert_eq!(postcode_district("zz1 4ab").as_deref(), Some("ZZ1"));
        assert_eq!(postcode_district("ZZ14AB").as_deref(), Some("ZZ1"));
        assert_eq!(postcode_district("ZZ").as_deref(), None);
    }

    #[test]
    fn empty_raise_names_every_required_field() {
        let errors = ConcernRaise::default()
            .validate(Utc::now())
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "local_id",
            "seen_or_heard",
            "seen_at",
            "categories",
            "immediate_risk",
            "parents_told",
            "consent",
            "referrer",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
    }

    #[test]
    fn category_names_round_trip() {
        for c in ConcernCategory::ALL {
            assert_eq!(ConcernCategory::parse(c.as_str()), Some(c));
            assert_eq!(
                serde_json::to_value(c).unwrap_or_default(),
                serde_json::Value::String(c.as_str().into())
            );
        }
    }
}
