//! The `details` of a record: one typed, validated struct per [`RecordCategory`].
//!
//! The wire keeps `category` + `details` side by side; a node checks `details` against the
//! category's struct on every write (single upsert and batch item) and answers a bad one
//! with every invalid field, e.g. `details.sessions_present`. Unknown fields are refused
//! (a misspelt field in an MIS export is a bug to surface, not data to drop silently).
//! Code lists follow the DfE school census, the children in need (CIN) census and the
//! looked-after children (SSDA903) return where they exist.
#![allow(clippy::upper_case_acronyms)]

use crate::category::RecordCategory;
use crate::fields::{self, Fields};
use crate::notification::EventType;
use crate::problem::FieldError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::borrow::Cow;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

// ---------------------------------------------------------------------------------------
// Building blocks

/// An integer from `MIN` to `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Bounded<const MIN: i64, const MAX: i64>(i64);

impl<const MIN: i64, const MAX: i64> Bounded<MIN, MAX> {
    pub fn new(value: i64) -> Option<Self> {
        Self::try_from(value).ok()
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<const MIN: i64, const MAX: i64> TryFrom<i64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("must be {MIN} to {MAX}, not {value}"))
        }
    }
}

impl<const MIN: i64, const MAX: i64> From<Bounded<MIN, MAX>> for i64 {
    fn from(value: Bounded<MIN, MAX>) -> i64 {
        value.0
    }
}

/// Text of 1 to `MAX` characters, not only spaces, with no control characters but line
/// breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn new(value: impl Into<String>) -> Option<Self> {
        Self::try_from(value.into()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for Text<MAX> {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let len = value.chars().count();
        if value.trim().is_empty() || len > MAX {
            Err(format!("must have 1 to {MAX} characters, not only spaces"))
        } else if value
            .chars()
            .any(|c| !matches!(c, '\n' | '\r' | '\t') && crate::child::invisible(c))
        {
            Err("must not contain control characters other than line breaks and tabs".into())
        } else {
            Ok(Self(value))
        }
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(value: Text<MAX>) -> String {
        value.0
    }
}

/// A short name or label.
pub type Short = Text<200>;
/// A paragraph.
pub type Long = Text<4000>;

/// A school's unique reference number (URN): 6 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Urn(String);

impl Urn {
    pub fn new(value: impl Into<String>) -> Option<Self> {
        Self::try_from(value.into()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Urn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value))
        } else {
            Err("must be a school URN: 6 digits".to_owned())
        }
    }
}

impl From<Urn> for String {
    fn from(value: Urn) -> String {
        value.0
    }
}

/// A local authority's three-digit DfE number (`823`): the `LEA` of the DfE's returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LaCode(String);

impl LaCode {
    pub fn new(value: impl Into<String>) -> Option<Self> {
        Self::try_from(value.into()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LaCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value))
        } else {
            Err("must be a local authority number: 3 digits".to_owned())
        }
    }
}

impl From<LaCode> for String {
    fn from(value: LaCode) -> String {
        value.0
    }
}

/// A factor code of the children in need census: a number 1 to 24, with a letter A, B or
/// C where the factor is about the child, a parent or another person (`3A`, `4B`, `21`),
/// or one of the census's `8D`, `8E` and `8F`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FactorCode(String);

impl TryFrom<String> for FactorCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
        let rest = &value[digits.len()..];
        let number_ok = digits
            .parse::<u8>()
            .is_ok_and(|n| (1..=24).contains(&n) && !digits.starts_with('0'));
        if (number_ok && matches!(rest, "" | "A" | "B" | "C"))
            || matches!(value.as_str(), "8D" | "8E" | "8F")
        {
            Ok(Self(value))
        } else {
            Err("must be a CIN census factor code such as 3A, 4B, 8E or 21".to_owned())
        }
    }
}

impl From<FactorCode> for String {
    fn from(value: FactorCode) -> String {
        value.0
    }
}

// ---------------------------------------------------------------------------------------
// Education

/// Why a pupil left a school, or the kind of a school move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentStatus {
    /// On roll at this school only (census `C`).
    Current,
    /// Dual registered; this is the main school (census `M`).
    MainDual,
    /// Dual registered; this is the subsidiary school (census `S`).
    Subsidiary,
}

/// A pupil's enrolment at a school. The record's `effective_from` is the entry date and
/// `effective_to` the leaving date: a school move is one enrolment ending and the next
/// starting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"urn": "999102", "school_name": "Riverside Academy", "year_group": 8,
    "enrolment_status": "current", "leaving_reason": "moved house"}))]
pub struct EnrolmentDetails {
    /// The school's unique reference number (6 digits).
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub urn: Urn,
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub school_name: Short,
    /// National curriculum year group: -2 and -1 nursery, 0 Reception, 1 to 14; left out
    /// where the sender does not know it (a Common Transfer File's earlier schools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = -2, maximum = 14)]
    pub year_group: Option<Bounded<-2, 14>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment_status: Option<EnrolmentStatus>,
    /// Why the pupil left, when the enrolment has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub leaving_reason: Option<Short>,
}

impl Fields for EnrolmentDetails {}

/// Attendance over one period (a term, half-term or year to date), in sessions (half
/// days). `attendance_rate` and `persistent_absence` are computed by the node; a sender
/// may include them, and then they must agree with the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sessions_possible": 100, "sessions_present": 84,
    "authorised_absence": 6, "unauthorised_absence": 10,
    "attendance_rate": 84.0, "persistent_absence": true}))]
pub struct AttendanceDetails {
    /// Sessions the pupil could have attended in the period.
    #[schema(value_type = i64, minimum = 1, maximum = 1000)]
    pub sessions_possible: Bounded<1, 1000>,
    /// Sessions attended (including approved educational activity).
    #[schema(value_type = i64, minimum = 0, maximum = 1000)]
    pub sessions_present: Bounded<0, 1000>,
    /// Sessions missed with the school's authorisation.
    #[schema(value_type = i64, minimum = 0, maximum = 1000)]
    pub authorised_absence: Bounded<0, 1000>,
    /// Sessions missed without authorisation.
    #[schema(value_type = i64, minimum = 0, maximum = 1000)]
    pub unauthorised_absence: Bounded<0, 1000>,
    /// Percentage of possible sessions attended, to one decimal place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub attendance_rate: Option<f64>,
    /// Attendance under 90%: the DfE's persistent absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_absence: Option<bool>,
}

/// Below this attendance percentage a pupil is persistently absent (the DfE's measure).
pub const PERSISTENT_ABSENCE_BELOW_PCT: f64 = 90.0;

/// Whether an attendance percentage is persistent absence: under 90%, exactly (not after
/// rounding). The one definition: the `persistent_absence` a node computes, the
/// notification it raises and the gateway's attendance barrier all ask it.
pub fn is_persistent_absence(attendance_pct: f64) -> bool {
    attendance_pct < PERSISTENT_ABSENCE_BELOW_PCT
}

/// Sessions attended out of sessions possible, over one period or added up over several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sessions {
    pub possible: i64,
    pub present: i64,
}

impl Sessions {
    /// The attendance percentage, exact; none without a possible session.
    pub fn pct(self) -> Option<f64> {
        (self.possible > 0).then(|| 100.0 * self.present as f64 / self.possible as f64)
    }

    pub fn is_persistent_absence(self) -> bool {
        self.pct().is_some_and(is_persistent_absence)
    }
}

impl std::ops::Add for Sessions {
    type Output = Sessions;
    fn add(self, other: Sessions) -> Sessions {
        Sessions {
            possible: self.possible + other.possible,
            present: self.present + other.present,
        }
    }
}

impl AttendanceDetails {
    /// Attendance under this percentage, though not persistent absence, is worth watching
    /// (the merged view's attendance barrier).
    pub const WATCH_BELOW_PCT: f64 = 95.0;

    pub fn sessions(&self) -> Sessions {
        Sessions {
            possible: self.sessions_possible.get(),
            present: self.sessions_present.get(),
        }
    }

    /// The attendance percentage, to one decimal place.
    pub fn rate(&self) -> f64 {
        // At least one session is possible: the type says so.
        let exact = self.sessions().pct().unwrap_or_default();
        (exact * 10.0).round() / 10.0
    }

    pub fn is_persistent_absence(&self) -> bool {
        self.sessions().is_persistent_absence()
    }
}

impl Fields for AttendanceDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        let accounted = self.sessions_present.get()
            + self.authorised_absence.get()
            + self.unauthorised_absence.get();
        if accounted > self.sessions_possible.get() {
            errors.push(FieldError::new(
                "sessions_present",
                format!(
                    "sessions_present + authorised_absence + unauthorised_absence ({accounted}) \
                     must not exceed sessions_possible ({})",
                    self.sessions_possible.get()
                ),
            ));
            return;
        }
        let rate = self.rate();
        let persistent = self.is_persistent_absence();
        if self
            .attendance_rate
            .is_some_and(|sent| (sent - rate).abs() > 0.051)
        {
            errors.push(FieldError::new(
                "attendance_rate",
                format!("must be {rate:.1} (sessions_present / sessions_possible), or left out"),
            ));
        }
        if self
            .persistent_absence
            .is_some_and(|sent| sent != persistent)
        {
            errors.push(FieldError::new(
                "persistent_absence",
                format!("must be {persistent} for an attendance of {rate:.1}%, or left out"),
            ));
        }
        self.attendance_rate = Some(rate);
        self.persistent_absence = Some(persistent);
    }
}

/// A suspension (fixed period) or a permanent exclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionType {
    Suspension,
    PermanentExclusion,
}

/// The DfE school census reason for a suspension or exclusion: `PP` physical assault
/// against a pupil, `PA` against an adult, `VP` verbal abuse or threatening behaviour
/// against a pupil, `VA` against an adult, `BU` bullying, `RA` racist abuse, `LG` abuse
/// against sexual orientation or gender identity, `DS` abuse relating to disability, `SM`
/// sexual misconduct, `DA` drug and alcohol related, `DM` damage, `TH` theft, `MT` use or
/// threat of use of an offensive weapon or prohibited item, `PD` persistent disruptive
/// behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ExclusionReason {
    PP,
    PA,
    VP,
    VA,
    BU,
    RA,
    LG,
    DS,
    SM,
    DA,
    DM,
    TH,
    MT,
    PD,
}

/// A suspension or permanent exclusion. The record's `effective_from` is its first day,
/// `effective_to` (for a suspension) its last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"exclusion_type": "suspension", "days": 2, "reason_category": "PD"}))]
pub struct ExclusionDetails {
    pub exclusion_type: ExclusionType,
    /// School days of a suspension (at most 45 in a school year); none for a permanent
    /// exclusion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 45)]
    pub days: Option<Bounded<1, 45>>,
    pub reason_category: ExclusionReason,
}

impl Fields for ExclusionDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        match (self.exclusion_type, self.days) {
            (ExclusionType::Suspension, None) => {
                errors.push(FieldError::new("days", "is required for a suspension"))
            }
            (ExclusionType::PermanentExclusion, Some(_)) => errors.push(FieldError::new(
                "days",
                "must be left out for a permanent exclusion",
            )),
            _ => {}
        }
    }
}

/// SEN provision: `sen_support` or an education, health and care plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenProvision {
    SenSupport,
    EhcPlan,
}

/// The DfE school census SEN type of need: `SPLD` specific learning difficulty, `MLD`
/// moderate, `SLD` severe, `PMLD` profound and multiple learning difficulty, `SEMH`
/// social, emotional and mental health, `SLCN` speech, language and communication needs,
/// `HI` hearing impairment, `VI` vision impairment, `MSI` multi-sensory impairment, `PD`
/// physical disability, `ASD` autistic spectrum disorder, `OTH` other difficulty or
/// disability, `NSA` SEN support but no specialist assessment of type of need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SenNeed {
    SPLD,
    MLD,
    SLD,
    PMLD,
    SEMH,
    SLCN,
    HI,
    VI,
    MSI,
    PD,
    ASD,
    OTH,
    NSA,
}

/// Special educational needs: the provision and the primary (and any secondary) need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"provision": "sen_support", "primary_need": "SEMH", "secondary_need": "SLCN"}))]
pub struct SpecialEducationalNeedsDetails {
    pub provision: SenProvision,
    pub primary_need: SenNeed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_need: Option<SenNeed>,
}

impl Fields for SpecialEducationalNeedsDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.secondary_need == Some(self.primary_need) {
            errors.push(FieldError::new(
                "secondary_need",
                "must differ from primary_need",
            ));
        }
    }
}

/// Why a pupil attracts pupil premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PupilPremiumBasis {
    /// Eligible for free school meals in the last six years.
    #[serde(rename = "ever_6_fsm")]
    Ever6Fsm,
    #[serde(rename = "looked_after")]
    LookedAfter,
    /// Left care through adoption, a special guardianship or child arrangements order.
    #[serde(rename = "previously_looked_after")]
    PreviouslyLookedAfter,
    #[serde(rename = "service_child")]
    ServiceChild,
}

/// Pupil premium eligibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"eligible": true, "basis": "ever_6_fsm"}))]
pub struct PupilPremiumDetails {
    pub eligible: bool,
    /// Why, when eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<PupilPremiumBasis>,
}

impl Fields for PupilPremiumDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if !self.eligible && self.basis.is_some() {
            errors.push(FieldError::new(
                "basis",
                "must be left out when eligible is false",
            ));
        }
    }
}

/// A country of the United Kingdom, as the DfE codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum UkCountry {
    /// England.
    ENG,
    /// Wales.
    WLS,
    /// Scotland.
    SCT,
    /// Northern Ireland.
    NIR,
}

/// A period of eligibility for free school meals. The record's `effective_from` is the
/// start of eligibility and `effective_to` its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"uk_country": "ENG"}))]
pub struct FreeSchoolMealsDetails {
    /// Where the pupil was eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uk_country: Option<UkCountry>,
}

impl Fields for FreeSchoolMealsDetails {}

/// What a school knows of a pupil being looked after (in care), and which local authority
/// looks after them. Social care's own `looked_after` records carry the legal status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"in_care": true, "care_authority": "823"}))]
pub struct LookedAfterStatusDetails {
    /// Whether the pupil is looked after.
    pub in_care: bool,
    /// The local authority that looks after the pupil (its three-digit number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{3}$")]
    pub care_authority: Option<LaCode>,
}

impl Fields for LookedAfterStatusDetails {}

/// Where a pupil is working against expectations for their age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkingAt {
    WellBelow,
    Below,
    Expected,
    Above,
}

/// Attainment or progress in one subject at one assessment point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "reading", "working_at": "below",
    "assessment": "Year 6 autumn teacher assessment", "progress_score": -2.5}))]
pub struct AttainmentDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub subject: Short,
    pub working_at: WorkingAt,
    /// Which assessment this is, e.g. "Key stage 2 teacher assessment".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub assessment: Option<Short>,
    /// Progress against similar pupils, -10 to 10 (0 is as expected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -10, maximum = 10)]
    pub progress_score: Option<f64>,
}

impl Fields for AttainmentDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self
            .progress_score
            .is_some_and(|p| !(-10.0..=10.0).contains(&p))
        {
            errors.push(FieldError::new("progress_score", "must be -10 to 10"));
        }
    }
}

/// A behaviour incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"incident_type": "left_lesson", "points": 2,
    "action_taken": "calmed with trusted adult"}))]
pub struct BehaviourDetails {
    /// The school's own incident type.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub incident_type: Short,
    /// Behaviour points, where the school uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    pub points: Option<Bounded<0, 100>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub action_taken: Option<Long>,
}

impl Fields for BehaviourDetails {}

/// The adult in school the child trusts and goes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Mr Obi", "role": "learning mentor"}))]
pub struct TrustedAdultDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: Short,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub role: Option<Short>,
}

impl Fields for TrustedAdultDetails {}

/// The pupil passport ("all about me"): the child's own words and wishes, as they said
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"about_me": "I like drawing and football. Loud rooms make me worried.",
    "what_helps_me": ["a quiet space at lunch", "knowing about changes before they happen"],
    "my_wishes": "I want to stay in the same class as my friends."}))]
pub struct PupilPassportDetails {
    #[schema(value_type = String, min_length = 1, max_length = 4000)]
    pub about_me: Long,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub what_helps_me: Vec<Short>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub my_wishes: Option<Long>,
}

impl Fields for PupilPassportDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.what_helps_me.len() > 20 {
            errors.push(FieldError::new("what_helps_me", "at most 20 items"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Children's social care

/// CIN census primary need: `N0` not stated (a referral with no further action), `N1` abuse or neglect, `N2` child's disability or illness,
/// `N3` parental disability or illness, `N4` family in acute stress, `N5` family
/// dysfunction, `N6` socially unacceptable behaviour, `N7` low income, `N8` absent
/// parenting, `N9` cases other than children in need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CinPrimaryNeed {
    N0,
    N1,
    N2,
    N3,
    N4,
    N5,
    N6,
    N7,
    N8,
    N9,
}

/// CIN census reason for closure: `RC1` adopted, `RC2` died, `RC3` child arrangements
/// order, `RC4` special guardianship order, `RC5` transferred to another local authority,
/// `RC6` transferred to adult services, `RC7` services ceased for any other reason
/// (including the child no longer in need), `RC8` case closed after assessment, no
/// further action, `RC9` case closed after assessment, referred to early help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CinClosureReason {
    RC1,
    RC2,
    RC3,
    RC4,
    RC5,
    RC6,
    RC7,
    RC8,
    RC9,
}

/// CIN census source of a referral: `1A` an individual (family member, relative or carer),
/// `1B` an acquaintance, `1C` self, `1D` another individual; `2A` schools, `2B` other
/// education services; `3A` GP, `3B` health visitor, `3C` school nurse, `3D` other
/// primary health services, `3E` A&E, `3F` other health services; `4` housing; `5A` local
/// authority children's social care, `5B` other internal local authority services, `5C`
/// external (another local authority), `5D` early help; `6` police; `7` other legal
/// agency; `8` other; `9` anonymous; `10` unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CinReferralSource {
    #[serde(rename = "1A")]
    Individual1A,
    #[serde(rename = "1B")]
    Individual1B,
    #[serde(rename = "1C")]
    Individual1C,
    #[serde(rename = "1D")]
    Individual1D,
    #[serde(rename = "2A")]
    Schools2A,
    #[serde(rename = "2B")]
    Education2B,
    #[serde(rename = "3A")]
    Health3A,
    #[serde(rename = "3B")]
    Health3B,
    #[serde(rename = "3C")]
    Health3C,
    #[serde(rename = "3D")]
    Health3D,
    #[serde(rename = "3E")]
    Health3E,
    #[serde(rename = "3F")]
    Health3F,
    #[serde(rename = "4")]
    Housing4,
    #[serde(rename = "5A")]
    LocalAuthority5A,
    #[serde(rename = "5B")]
    LocalAuthority5B,
    #[serde(rename = "5C")]
    LocalAuthority5C,
    #[serde(rename = "5D")]
    LocalAuthority5D,
    #[serde(rename = "6")]
    Police6,
    #[serde(rename = "7")]
    LegalAgency7,
    #[serde(rename = "8")]
    Other8,
    #[serde(rename = "9")]
    Anonymous9,
    #[serde(rename = "10")]
    Unknown10,
}

impl CinReferralSource {
    /// The source of a referral that came as a concern from an agency of this kind: a
    /// school `2A`, a virtual school (another education service) `2B`, health `3F`,
    /// another authority's children's social care `5C`, early help `5D`, police `6`.
    pub fn of_referrer(kind: crate::agency::AgencyKind) -> Self {
        use crate::agency::AgencyKind as K;
        match kind {
            K::School => Self::Schools2A,
            K::VirtualSchool => Self::Education2B,
            K::Health => Self::Health3F,
            K::SocialCare => Self::LocalAuthority5C,
            K::EarlyHelp => Self::LocalAuthority5D,
            K::Police => Self::Police6,
        }
    }
}

/// A children in need episode: from referral to closure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"referral_date": "2025-02-10", "primary_need_code": "N1",
    "closure_date": "2026-03-31", "closure_reason": "RC7", "referral_source": "2A",
    "no_further_action": false, "initial_cpc_date": "2025-03-20"}))]
pub struct ChildInNeedEpisodeDetails {
    #[schema(value_type = String, format = Date)]
    pub referral_date: NaiveDate,
    pub primary_need_code: CinPrimaryNeed,
    /// When the episode closed; with a `closure_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub closure_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure_reason: Option<CinClosureReason>,
    /// Who made the referral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_source: Option<CinReferralSource>,
    /// The referral led to no further action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_further_action: Option<bool>,
    /// The initial child protection conference of this episode, where the census records
    /// it with the episode rather than with a section 47 enquiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub initial_cpc_date: Option<NaiveDate>,
}

impl Fields for ChildInNeedEpisodeDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.closure_date.is_some_and(|c| c < self.referral_date) {
            errors.push(FieldError::new(
                "closure_date",
                "must not be before referral_date",
            ));
        }
        match (self.closure_date, self.closure_reason) {
            (Some(_), None) => errors.push(FieldError::new(
                "closure_reason",
                "is required when closure_date is given",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                "closure_date",
                "is required when closure_reason is given",
            )),
            _ => {}
        }
    }
}

/// A child in need plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"review_due": "2026-12-14"}))]
pub struct ChildInNeedPlanDetails {
    /// When the plan is next reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_due: Option<NaiveDate>,
}

impl Fields for ChildInNeedPlanDetails {}

/// CIN census category of abuse of a child protection plan: `NEG` neglect, `PHY` physical
/// abuse, `EMO` emotional abuse, `SAB` sexual abuse, `MUL` multiple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AbuseCategory {
    NEG,
    PHY,
    EMO,
    SAB,
    MUL,
}

/// A child protection plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"category_of_abuse": "NEG", "review_due": "2026-12-01",
    "initial_category_of_abuse": "EMO", "reviews": ["2026-06-01"], "previous_plans": 0}))]
pub struct ChildProtectionPlanDetails {
    /// The category of abuse now (the census's latest category).
    pub category_of_abuse: AbuseCategory,
    /// When the review conference is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_due: Option<NaiveDate>,
    /// The category of abuse when the plan started, where it differs or is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_category_of_abuse: Option<AbuseCategory>,
    /// The dates of the plan's review conferences held so far (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub reviews: Vec<NaiveDate>,
    /// How many child protection plans the child had before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 99)]
    pub previous_plans: Option<Bounded<0, 99>>,
}

impl Fields for ChildProtectionPlanDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.reviews.len() > 100 {
            errors.push(FieldError::new("reviews", "at most 100 dates"));
        }
    }
}

/// SSDA903 legal status of a looked-after child: `C1` interim care order, `C2` full care
/// order, `D1` freeing order granted, `E1` placement order granted, `J1` remanded to local
/// authority accommodation, `J2` placed under a police protection order in local authority
/// accommodation, `J3` sentenced to a youth rehabilitation order with residence or
/// fostering requirement, `L1` under police protection, `L2` emergency protection order,
/// `L3` under child assessment order and in local authority accommodation, `V2` single
/// period of accommodation under section 20, `V3` accommodated under an agreed series of
/// short-term breaks, `V4` accommodated under an agreed series of short-term breaks when
/// individual episodes of care are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum LegalStatus {
    C1,
    C2,
    D1,
    E1,
    J1,
    J2,
    J3,
    L1,
    L2,
    L3,
    V2,
    V3,
    V4,
}

/// Where a looked-after child lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementType {
    FosterRelativeOrFriend,
    FosterAgencyCarer,
    FosterLocalAuthorityCarer,
    ChildrensHome,
    PlacedWithParents,
    SupportedAccommodation,
    ResidentialSchool,
    SecureUnit,
    Other,
}

impl PlacementType {
    /// The placement type's name on the wire (`foster_agency_carer`).
    pub fn wire_name(self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::String(name)) => name,
            _ => format!("{self:?}"),
        }
    }
}

/// A period of being looked after by the local authority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"legal_status": "C2", "placement_type": "foster_relative_or_friend"}))]
pub struct LookedAfterDetails {
    pub legal_status: LegalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_type: Option<PlacementType>,
}

impl Fields for LookedAfterDetails {}

/// The child's allocated social worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"worker": "D. Osei", "team": "Family Support"}))]
pub struct AllocatedSocialWorkerDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub worker: Short,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub team: Option<Short>,
    /// The worker's identity as their practitioner token names them (its `sub`), so that
    /// their own caseload can be listed (`GET /v1/cohort?allocated_to=me`). Shared as the
    /// worker's name is, with the details at `full` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub worker_subject: Option<Short>,
}

impl Fields for AllocatedSocialWorkerDetails {}

/// The factors identified at the end of an assessment (CIN census factor codes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"factors": ["3A", "4B"]}))]
pub struct AssessmentFactorsDetails {
    /// One or more CIN census factor codes, each once.
    #[schema(value_type = Vec<String>, min_items = 1, max_items = 30, pattern = "^(([1-9]|1[0-9]|2[0-4])[ABC]?|8[DEF])$")]
    pub factors: Vec<FactorCode>,
}

impl Fields for AssessmentFactorsDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.factors.is_empty() || self.factors.len() > 30 {
            errors.push(FieldError::new("factors", "must list 1 to 30 factor codes"));
        }
        let mut seen = std::collections::HashSet::new();
        if !self.factors.iter().all(|f| seen.insert(f.0.as_str())) {
            errors.push(FieldError::new("factors", "must list each code once"));
        }
    }
}

/// A looked-after child's personal education plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"targets": ["reading fluency", "attendance above 95%"],
    "review_due": "2027-01-15", "designated_teacher": "Ms Farah"}))]
pub struct PersonalEducationPlanDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub targets: Vec<Short>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_due: Option<NaiveDate>,
    /// The school's designated teacher for looked-after children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub designated_teacher: Option<Short>,
}

impl Fields for PersonalEducationPlanDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.targets.len() > 20 {
            errors.push(FieldError::new("targets", "at most 20 items"));
        }
    }
}

/// A looked-after child's move from one placement to another, on the record's
/// `effective_from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from_placement": "foster_relative_or_friend",
    "to_placement": "foster_agency_carer", "reason": "placement ended at the carer's request"}))]
pub struct PlacementMoveDetails {
    pub from_placement: PlacementType,
    pub to_placement: PlacementType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub reason: Option<Short>,
}

impl Fields for PlacementMoveDetails {}

/// A section 47 enquiry: children's social care finding out whether a child is suffering,
/// or likely to suffer, significant harm. The record's `effective_from` is the day the
/// enquiry started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"initial_cpc_target": "2026-03-02", "initial_cpc_date": "2026-02-27",
    "conference_not_required": false}))]
pub struct Section47EnquiryDetails {
    /// When the initial child protection conference should be held by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub initial_cpc_target: Option<NaiveDate>,
    /// When the initial child protection conference was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub initial_cpc_date: Option<NaiveDate>,
    /// The enquiry concluded that no conference was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_not_required: Option<bool>,
}

impl Fields for Section47EnquiryDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.conference_not_required == Some(true) && self.initial_cpc_date.is_some() {
            errors.push(FieldError::new(
                "initial_cpc_date",
                "must be left out when conference_not_required is true",
            ));
        }
    }
}

/// A disability as the CIN census codes it: `NONE` no disability, `MOB` mobility, `HAND`
/// hand function, `PC` personal care, `INC` incontinence, `COMM` communication, `LD`
/// learning, `HEAR` hearing, `VIS` vision, `BEH` behaviour, `CON` consciousness, `AUT`
/// autism or Asperger syndrome, `DDA` disabled under the Equality Act but in none of the
/// other categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CinDisability {
    NONE,
    MOB,
    HAND,
    PC,
    INC,
    COMM,
    LD,
    HEAR,
    VIS,
    BEH,
    CON,
    AUT,
    DDA,
}

/// A DfE ethnicity code: a main code (`WBRI`, `MWBC`, `APKN`, `BAFR`, `CHNE`, `REFU`,
/// `NOBT`, …) or an extended code of the school census; four capital letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EthnicityCode(String);

impl TryFrom<String> for EthnicityCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.len() == 4
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            Ok(Self(value))
        } else {
            Err(
                "must be a DfE ethnicity code: four capital letters or digits, such as WBRI"
                    .to_owned(),
            )
        }
    }
}

impl From<EthnicityCode> for String {
    fn from(value: EthnicityCode) -> String {
        value.0
    }
}

/// The characteristics a DfE return records of a child: ethnicity and disabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ethnicity": "WBRI", "disabilities": ["LD", "COMM"]}))]
pub struct ChildCharacteristicsDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[A-Z0-9]{4}$")]
    pub ethnicity: Option<EthnicityCode>,
    /// The child's disabilities, each once (`NONE` alone when there is none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 13)]
    pub disabilities: Vec<CinDisability>,
}

impl Fields for ChildCharacteristicsDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.ethnicity.is_none() && self.disabilities.is_empty() {
            errors.push(FieldError::new(
                "ethnicity",
                "ethnicity or disabilities is required",
            ));
        }
        let mut seen = Vec::new();
        for d in &self.disabilities {
            if seen.contains(d) {
                errors.push(FieldError::new("disabilities", "must list each code once"));
                return;
            }
            seen.push(*d);
        }
        if self.disabilities.contains(&CinDisability::NONE) && self.disabilities.len() > 1 {
            errors.push(FieldError::new("disabilities", "NONE must stand alone"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Health

/// The CP-IS flag on a child's health record: a child protection plan, looked after, or
/// an unborn child's protection plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CpisFlag {
    ChildProtectionPlan,
    LookedAfter,
    UnbornChildProtectionPlan,
}

/// A child protection information sharing (CP-IS) flag, which alerts unscheduled care
/// settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"flag": "child_protection_plan"}))]
pub struct ChildProtectionInformationDetails {
    pub flag: CpisFlag,
}

impl Fields for ChildProtectionInformationDetails {}

/// How the school nurse saw the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactType {
    DropIn,
    Appointment,
    HomeVisit,
    Telephone,
}

/// A contact with the school nursing team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "sleep difficulties", "contact_type": "drop_in",
    "outcome": "advice given; review in four weeks"}))]
pub struct SchoolNurseContactDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub reason: Short,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<ContactType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub outcome: Option<Short>,
}

impl Fields for SchoolNurseContactDetails {}

/// Where a CAMHS referral stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CamhsStatus {
    Referred,
    Waiting,
    InTreatment,
    NotAccepted,
    Discharged,
}

/// A referral to child and adolescent mental health services. The record's
/// `effective_from` is the referral date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "waiting", "referred_by": "GP",
    "first_appointment": "2027-01-20"}))]
pub struct CamhsReferralDetails {
    pub status: CamhsStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub referred_by: Option<Short>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub first_appointment: Option<NaiveDate>,
}

impl Fields for CamhsReferralDetails {}

/// Who filled in a strengths and difficulties questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SdqInformant {
    Parent,
    Carer,
    Teacher,
    /// The young person (11 to 17).
    SelfReport,
}

/// Strengths and difficulties questionnaire (SDQ) scores. The total difficulties score
/// (0 to 40) is the sum of the four difficulty scales (each 0 to 10); 17 or more is high.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"total_difficulties": 18, "informant": "carer", "emotional": 6,
    "conduct": 4, "hyperactivity": 5, "peer_problems": 3, "prosocial": 7}))]
pub struct StrengthsAndDifficultiesDetails {
    #[schema(value_type = i64, minimum = 0, maximum = 40)]
    pub total_difficulties: Bounded<0, 40>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informant: Option<SdqInformant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10)]
    pub emotional: Option<Bounded<0, 10>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10)]
    pub conduct: Option<Bounded<0, 10>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10)]
    pub hyperactivity: Option<Bounded<0, 10>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10)]
    pub peer_problems: Option<Bounded<0, 10>>,
    /// The prosocial scale: a strength, not part of the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10)]
    pub prosocial: Option<Bounded<0, 10>>,
}

/// Where a total difficulties score falls among the SDQ's bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SdqBand {
    /// Close to average: under 14.
    Average,
    /// Slightly raised: 14 to 16.
    Raised,
    /// High: 17 or more.
    High,
}

impl StrengthsAndDifficultiesDetails {
    /// A total difficulties score of this or more is high.
    pub const HIGH_FROM: i64 = 17;
    /// A total of this or more, under [`Self::HIGH_FROM`], is slightly raised.
    pub const RAISED_FROM: i64 = 14;

    pub fn band(&self) -> SdqBand {
        match self.total_difficulties.get() {
            t if t >= Self::HIGH_FROM => SdqBand::High,
            t if t >= Self::RAISED_FROM => SdqBand::Raised,
            _ => SdqBand::Average,
        }
    }
}

impl Fields for StrengthsAndDifficultiesDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        let scales = [
            self.emotional,
            self.conduct,
            self.hyperactivity,
            self.peer_problems,
        ];
        if scales.iter().all(Option::is_some) {
            let sum: i64 = scales.iter().flatten().map(|s| s.get()).sum();
            if sum != self.total_difficulties.get() {
                errors.push(FieldError::new(
                    "total_difficulties",
                    format!(
                        "must be the sum of emotional, conduct, hyperactivity and peer_problems ({sum})"
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Police

/// An Operation Encompass notification: police attended a domestic abuse incident where
/// the child lives, and the school is told before the next school day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"incident_at": "2026-11-01T21:40:00Z", "child_present": true,
    "school_to_inform": "999102", "police_reference": "CC-0012345", "location": "the family home",
    "circumstances": "Neighbour reported shouting; officers attended",
    "child_voice": "Said they were scared and hid upstairs"}))]
pub struct EncompassNotificationDetails {
    /// When the incident happened (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub incident_at: DateTime<Utc>,
    /// Whether the child was present.
    pub child_present: bool,
    /// URN of the school to inform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub school_to_inform: Option<Urn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub police_reference: Option<Short>,
    /// Where it happened, in words ("the family home").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub location: Option<Short>,
    /// What happened, as far as the school needs to know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub circumstances: Option<Long>,
    /// What the child said, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub child_voice: Option<Long>,
}

impl Fields for EncompassNotificationDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.incident_at > Utc::now() + chrono::Duration::minutes(5) {
            errors.push(FieldError::new("incident_at", "must not be in the future"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Early help

/// The kind of early help assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EarlyHelpAssessmentType {
    /// Early help assessment.
    EHA,
    /// Common assessment framework (its predecessor).
    CAF,
}

/// An early help assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"assessment_type": "EHA", "outcome": "team around the family set up"}))]
pub struct EarlyHelpAssessmentDetails {
    pub assessment_type: EarlyHelpAssessmentType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub outcome: Option<Short>,
}

impl Fields for EarlyHelpAssessmentDetails {}

/// The team around the family: who meets, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"frequency_weeks": 6, "members": ["school", "health visitor", "housing"],
    "next_meeting": "2026-11-24"}))]
pub struct TeamAroundTheFamilyDetails {
    /// Weeks between meetings, 1 to 52.
    #[schema(value_type = i64, minimum = 1, maximum = 52)]
    pub frequency_weeks: Bounded<1, 52>,
    /// The agencies or roles that take part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub members: Vec<Short>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub next_meeting: Option<NaiveDate>,
}

impl Fields for TeamAroundTheFamilyDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.members.len() > 20 {
            errors.push(FieldError::new("members", "at most 20 items"));
        }
    }
}

/// The practitioner who leads the help for the family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "family support worker", "name": "J. Haddad"}))]
pub struct LeadPractitionerDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub role: Short,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<Short>,
}

impl Fields for LeadPractitionerDetails {}

// ---------------------------------------------------------------------------------------
// Across agencies: interventions

/// What was done to help the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    /// A reasonable adjustment in school (timetable, seating, a quiet space, exit card).
    InSchoolAdjustment,
    Mentoring,
    Counselling,
    Tutoring,
    NurtureGroup,
    /// Attendance support: a plan, first-day calls, a key adult at the gate.
    AttendanceSupport,
    /// Speech, language and communication support.
    SpeechAndLanguage,
    /// A behaviour support plan or an alternative provision placement.
    BehaviourSupport,
    /// Parenting programme or family support work.
    FamilySupport,
    /// Therapy or treatment (CAMHS, play therapy).
    Therapy,
    /// Something else: say what in `description`.
    Other,
}

/// What an intervention achieved for the barrier it targets, judged at its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterventionImpact {
    Improved,
    NoChange,
    Worse,
}

impl InterventionImpact {
    /// In words, for a sentence.
    pub fn in_words(self) -> &'static str {
        match self {
            InterventionImpact::Improved => "improved",
            InterventionImpact::NoChange => "no change",
            InterventionImpact::Worse => "worse",
        }
    }
}

/// An intervention: what was done to help with one of the four barriers, and whether it
/// helped. It started on the record's `effective_from` and ended on its `effective_to`
/// (absent while it goes on). At `summary` level the node shares what was done, the
/// barrier, the review date and the impact at review, never `description` or
/// `evidence` (see `Record.outline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"intervention": "mentoring", "barrier": "attendance",
    "description": "Weekly mentoring with a learning mentor and a morning check-in",
    "review_date": "2026-12-11", "impact_at_review": "improved",
    "evidence": "Attendance rose from 82% to 93% over the half-term"}))]
pub struct InterventionDetails {
    /// What was done.
    pub intervention: InterventionKind,
    /// The barrier it targets.
    #[schema(value_type = crate::view::BarrierKind)]
    pub barrier: crate::view::BarrierKind,
    /// What was done, in words (confidential: shared only at `full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub description: Option<Long>,
    /// When its impact is (or was) reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_date: Option<NaiveDate>,
    /// The impact at review: `improved`, `no_change` or `worse`. Absent until reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_at_review: Option<InterventionImpact>,
    /// What shows the impact (confidential: shared only at `full`). Only with
    /// `impact_at_review`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub evidence: Option<Long>,
}

impl Fields for InterventionDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.evidence.is_some() && self.impact_at_review.is_none() {
            errors.push(FieldError::new(
                "evidence",
                "only with impact_at_review: evidence of an impact not yet judged",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Across agencies: meetings and their decisions

/// The kind of multi-agency meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// A strategy discussion about whether to start a section 47 enquiry.
    StrategyDiscussion,
    InitialChildProtectionConference,
    ReviewChildProtectionConference,
    /// The core group that carries out a child protection plan.
    CoreGroup,
    ChildInNeedReview,
    TeamAroundTheFamily,
    /// A looked-after child's personal education plan review.
    PepReview,
    /// Planning a move between schools or phases, or into adulthood.
    TransitionPlanning,
}

impl MeetingKind {
    /// In words, for a sentence.
    pub fn in_words(self) -> &'static str {
        match self {
            MeetingKind::StrategyDiscussion => "strategy discussion",
            MeetingKind::InitialChildProtectionConference => "initial child protection conference",
            MeetingKind::ReviewChildProtectionConference => "review child protection conference",
            MeetingKind::CoreGroup => "core group",
            MeetingKind::ChildInNeedReview => "child in need review",
            MeetingKind::TeamAroundTheFamily => "team around the family meeting",
            MeetingKind::PepReview => "PEP review",
            MeetingKind::TransitionPlanning => "transition planning meeting",
        }
    }
}

/// Whether and how the child took part in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChildParticipation {
    /// The child was there for the whole meeting.
    Attended,
    /// The child was there for part of it.
    AttendedInPart,
    /// The child's views were brought in writing or a recording.
    ViewsInWriting,
    /// An advocate spoke for the child.
    ThroughAdvocate,
    /// A practitioner brought what the child told them.
    ThroughPractitioner,
    /// The child was asked and chose not to take part.
    ChoseNotTo,
    /// The child was not asked (too young, or not appropriate): say why in the minutes.
    NotAsked,
}

/// A decision of a meeting: what will be done, by which agency, by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingDecision {
    /// What was decided, as an action.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub decision: Short,
    /// The agency that owns it (its federation id).
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{1,62}$")]
    pub owner: crate::identifiers::AgencyId,
    /// When it is due.
    #[schema(value_type = String, format = Date)]
    pub due: NaiveDate,
    /// Whether it has been done; a decision not done after its due date is overdue.
    #[serde(default)]
    pub done: bool,
}

/// A multi-agency meeting about the child, held on the record's `effective_from`: who
/// was invited and came, what was decided and by whom, and the child's views in their
/// own words. At `summary` level the node shares the meeting without the child's views,
/// and only the decisions owned by the reader's own agency (see `Record.outline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"meeting_type": "core_group",
    "invited": ["social-care", "school-a", "health"], "attended": ["social-care", "school-a"],
    "decisions": [
        {"decision": "Daily check-in with the trusted adult", "owner": "school-a", "due": "2026-11-20", "done": false},
        {"decision": "Refer to CAMHS", "owner": "health", "due": "2026-11-27", "done": true}],
    "child_views": "I want to stay at my school. I don't like it when they talk about me and I'm not there.",
    "child_participation": "views_in_writing", "next_meeting": "2026-12-18"}))]
pub struct MeetingDetails {
    pub meeting_type: MeetingKind,
    /// The agencies invited (federation ids), each once; at most 30.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 30)]
    pub invited: Vec<crate::identifiers::AgencyId>,
    /// The agencies that attended, each of them invited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 30)]
    pub attended: Vec<crate::identifiers::AgencyId>,
    /// What was decided, each with its owner and due date; at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub decisions: Vec<MeetingDecision>,
    /// The child's views in their own words (shared only at `full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub child_views: Option<Long>,
    /// Whether and how the child took part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_participation: Option<ChildParticipation>,
    /// The date of the next meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub next_meeting: Option<NaiveDate>,
}

impl Fields for MeetingDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        for (field, list) in [("invited", &self.invited), ("attended", &self.attended)] {
            if list.len() > 30 {
                errors.push(FieldError::new(field, "at most 30 agencies"));
            }
            let mut seen = std::collections::HashSet::new();
            if !list.iter().all(|a| seen.insert(a)) {
                errors.push(FieldError::new(field, "must list each agency once"));
            }
        }
        if let Some(stranger) = self.attended.iter().find(|a| !self.invited.contains(a)) {
            errors.push(FieldError::new(
                "attended",
                format!("`{}` attended but is not in `invited`", stranger.as_str()),
            ));
        }
        if self.decisions.len() > 50 {
            errors.push(FieldError::new("decisions", "at most 50 decisions"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The people around the child

/// How a parent or carer is related to the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParentCarerRelationship {
    Mother,
    Father,
    /// A parent, where the record does not say mother or father.
    Parent,
    StepParent,
    AdoptiveParent,
    Grandparent,
    OtherRelative,
    FosterCarer,
    SpecialGuardian,
    /// Another carer (a CTF `CAR` contact).
    Carer,
    FamilyFriend,
    Other,
}

impl ParentCarerRelationship {
    /// In words, for a sentence.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Mother => "mother",
            Self::Father => "father",
            Self::Parent => "parent",
            Self::StepParent => "step-parent",
            Self::AdoptiveParent => "adoptive parent",
            Self::Grandparent => "grandparent",
            Self::OtherRelative => "relative",
            Self::FosterCarer => "foster carer",
            Self::SpecialGuardian => "special guardian",
            Self::Carer => "carer",
            Self::FamilyFriend => "family friend",
            Self::Other => "contact",
        }
    }
}

/// What a contact restriction rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionBasis {
    /// A court order (a child arrangements, prohibited steps or non-molestation order).
    CourtOrder,
    ChildProtectionPlan,
    /// Police bail conditions or another police order.
    PoliceConditions,
    /// A safety plan agreed with the family.
    SafetyPlan,
    Other,
}

/// A restriction on someone's contact with the child: shown to every reader at
/// `summary` level and above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRestriction {
    /// What is restricted, in words ("no contact with father", "not to collect from school").
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub restriction: Short,
    pub basis: RestrictionBasis,
    /// The last day it applies, when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub until: Option<NaiveDate>,
}

/// A parent or carer of the child: how they are related, whether they hold parental
/// responsibility, and any restriction on contact. At `summary` level the node shares
/// everything but the name (see `Record.outline`): a contact restriction reaches every
/// reader who sees the record at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"relationship": "father", "name": "R. Marsh",
    "parental_responsibility": true, "lives_with_child": false,
    "contact_restrictions": [{"restriction": "No contact with the child; not to collect from school",
        "basis": "court_order", "until": "2027-06-30"}]}))]
pub struct ParentCarerDetails {
    pub relationship: ParentCarerRelationship,
    /// Their name as the agency holds it (shared only at `full`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<Short>,
    /// Whether they hold parental responsibility for the child.
    pub parental_responsibility: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lives_with_child: Option<bool>,
    /// Restrictions on their contact with the child; at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub contact_restrictions: Vec<ContactRestriction>,
}

impl Fields for ParentCarerDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.contact_restrictions.len() > 10 {
            errors.push(FieldError::new("contact_restrictions", "at most 10 items"));
        }
    }
}

/// The school's designated teacher for looked-after and previously looked-after
/// children: a key contact for the child's social worker and virtual school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ms Farah", "role": "assistant head"}))]
pub struct DesignatedTeacherDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: Short,
    /// Their post in the school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub role: Option<Short>,
}

impl Fields for DesignatedTeacherDetails {}

/// The school's senior mental health lead: a key contact for health and early help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Mr Adeyemi", "role": "deputy head (pastoral)"}))]
pub struct SeniorMentalHealthLeadDetails {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: Short,
    /// Their post in the school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub role: Option<Short>,
}

impl Fields for SeniorMentalHealthLeadDetails {}

/// The child is a young carer: whom they care for, their young carer's assessment, and
/// the support in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"cares_for": "mother (long-term illness)",
    "assessment_date": "2026-09-22", "assessment_outcome": "eligible for young carers' support",
    "support": ["young carers' group on Thursdays", "homework club", "a named adult in school"]}))]
pub struct YoungCarerDetails {
    /// Whom the child cares for, in words.
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub cares_for: Short,
    /// When their young carer's needs assessment took place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub assessment_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub assessment_outcome: Option<Short>,
    /// The support in place; at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub support: Vec<Short>,
}

impl Fields for YoungCarerDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.support.len() > 20 {
            errors.push(FieldError::new("support", "at most 20 items"));
        }
        if self.assessment_outcome.is_some() && self.assessment_date.is_none() {
            errors.push(FieldError::new(
                "assessment_date",
                "is required with assessment_outcome",
            ));
        }
    }
}

/// A concern raised with children's social care about the child (at the agency that raised
/// it) or received at its front door (at social care, about a child it holds), and what
/// was decided. The node writes it itself from the concern (`source_system_id`
/// `concern:<id>`), so that both sides' chronologies show the concern and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"concern_id": "5b0e7a2c-91d4-4f3a-8c6e-2d9f14a7b310",
    "categories": ["physical_abuse"], "immediate_risk": false,
    "raised_by": "school-a", "front_door": "social-care", "decision": "assessment"}))]
pub struct ConcernDetails {
    #[schema(value_type = String, format = Uuid)]
    pub concern_id: uuid::Uuid,
    /// At least one.
    pub categories: Vec<crate::concern::ConcernCategory>,
    pub immediate_risk: bool,
    /// The agency that raised it.
    #[schema(value_type = String)]
    pub raised_by: crate::identifiers::AgencyId,
    /// The front door that has it (once known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub front_door: Option<crate::identifiers::AgencyId>,
    /// What social care decided, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<crate::concern::DecisionKind>,
}

impl Fields for ConcernDetails {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        if self.categories.is_empty() {
            errors.push(FieldError::new("categories", "at least one"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// One type over all categories

macro_rules! record_details {
    ($($variant:ident => $ty:ident),* $(,)?) => {
        /// A record's details, typed by its category.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum RecordDetails {
            $($variant($ty)),*
        }

        impl RecordDetails {
            /// Parses `details` as the type of `category`, or lists every invalid field
            /// (named `details.<field>`).
            pub fn parse(category: RecordCategory, details: &Value) -> Result<Self, Vec<FieldError>> {
                match category {
                    $(RecordCategory::$variant => fields::parse::<$ty>(details, "details.").map(RecordDetails::$variant)),*
                }
            }

            /// Reads details a node has already checked (stored by it, or disclosed by it
            /// to a gateway) as the type of `category`, as they are: the rules across
            /// fields were applied when they were written. `None` when they do not fit.
            pub fn read(category: RecordCategory, details: &Value) -> Option<Self> {
                match category {
                    $(RecordCategory::$variant => <$ty as Deserialize>::deserialize(details).ok().map(RecordDetails::$variant)),*
                }
            }

            pub fn category(&self) -> RecordCategory {
                match self {
                    $(RecordDetails::$variant(_) => RecordCategory::$variant),*
                }
            }

            /// A complete valid example of the category's details.
            pub fn example(category: RecordCategory) -> Value {
                match category {
                    $(RecordCategory::$variant => <$ty as Fields>::example()),*
                }
            }

            /// The schema name of the category's details.
            pub fn schema_name(category: RecordCategory) -> Cow<'static, str> {
                match category {
                    $(RecordCategory::$variant => <$ty as ToSchema>::name()),*
                }
            }
        }

        impl utoipa::PartialSchema for RecordDetails {
            fn schema() -> RefOr<Schema> {
                let mut any_of = AnyOfBuilder::new().description(Some(DETAILS_DESCRIPTION));
                $(any_of = any_of.item(Ref::from_schema_name(<$ty as ToSchema>::name()));)*
                any_of = any_of.examples([json!({"sessions_possible": 100, "sessions_present": 84,
                    "authorised_absence": 6, "unauthorised_absence": 10})]);
                RefOr::T(Schema::AnyOf(any_of.build()))
            }
        }

        impl ToSchema for RecordDetails {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(
                    schemas.push((<$ty as ToSchema>::name().into(), <$ty as utoipa::PartialSchema>::schema()));
                    <$ty as ToSchema>::schemas(schemas);
                )*
            }
        }
    };
}

const DETAILS_DESCRIPTION: &str = "The record's details: an object of the schema named for \
the record's `category` (`attendance` → `AttendanceDetails`, `child_protection_plan` → \
`ChildProtectionPlanDetails`, and so on). Checked on every write; unknown fields are \
refused, and a bad payload is answered 400 with every invalid field named \
`details.<field>`. Absent when a record is disclosed at `summary` level.";

record_details! {
    Enrolment => EnrolmentDetails,
    Attendance => AttendanceDetails,
    Exclusion => ExclusionDetails,
    SpecialEducationalNeeds => SpecialEducationalNeedsDetails,
    PupilPremium => PupilPremiumDetails,
    Attainment => AttainmentDetails,
    Behaviour => BehaviourDetails,
    TrustedAdult => TrustedAdultDetails,
    PupilPassport => PupilPassportDetails,
    FreeSchoolMeals => FreeSchoolMealsDetails,
    LookedAfterStatus => LookedAfterStatusDetails,
    ChildInNeedEpisode => ChildInNeedEpisodeDetails,
    ChildInNeedPlan => ChildInNeedPlanDetails,
    ChildProtectionPlan => ChildProtectionPlanDetails,
    LookedAfter => LookedAfterDetails,
    AllocatedSocialWorker => AllocatedSocialWorkerDetails,
    AssessmentFactors => AssessmentFactorsDetails,
    PersonalEducationPlan => PersonalEducationPlanDetails,
    PlacementMove => PlacementMoveDetails,
    Section47Enquiry => Section47EnquiryDetails,
    ChildCharacteristics => ChildCharacteristicsDetails,
    ChildProtectionInformation => ChildProtectionInformationDetails,
    SchoolNurseContact => SchoolNurseContactDetails,
    CamhsReferral => CamhsReferralDetails,
    StrengthsAndDifficulties => StrengthsAndDifficultiesDetails,
    EncompassNotification => EncompassNotificationDetails,
    EarlyHelpAssessment => EarlyHelpAssessmentDetails,
    TeamAroundTheFamily => TeamAroundTheFamilyDetails,
    LeadPractitioner => LeadPractitionerDetails,
    Intervention => InterventionDetails,
    Meeting => MeetingDetails,
    ParentCarer => ParentCarerDetails,
    DesignatedTeacher => DesignatedTeacherDetails,
    SeniorMentalHealthLead => SeniorMentalHealthLeadDetails,
    YoungCarer => YoungCarerDetails,
    Concern => ConcernDetails,
}

// What the node and the gateway read of a record's details: each the field that plays the
// part in its category, none in a category without it.
impl RecordDetails {
    /// The details as JSON, with what the node computes filled in.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Sessions possible and present, of a record of attendance.
    pub fn sessions(&self) -> Option<Sessions> {
        match self {
            RecordDetails::Attendance(a) => Some(a.sessions()),
            _ => None,
        }
    }

    /// The school an enrolment is at: its URN and its name.
    pub fn school(&self) -> Option<(&str, &str)> {
        match self {
            RecordDetails::Enrolment(e) => Some((e.urn.as_str(), e.school_name.as_str().trim())),
            _ => None,
        }
    }

    /// A placement move: from and to.
    pub fn placement_move(&self) -> Option<(PlacementType, PlacementType)> {
        match self {
            RecordDetails::PlacementMove(m) => Some((m.from_placement, m.to_placement)),
            _ => None,
        }
    }

    /// The person the record names: the child's practitioner or trusted adult.
    pub fn person(&self) -> Option<&str> {
        let name = match self {
            RecordDetails::AllocatedSocialWorker(w) => Some(&w.worker),
            RecordDetails::TrustedAdult(t) => Some(&t.name),
            RecordDetails::LeadPractitioner(l) => l.name.as_ref(),
            RecordDetails::DesignatedTeacher(d) => Some(&d.name),
            RecordDetails::SeniorMentalHealthLead(s) => Some(&s.name),
            _ => None,
        };
        name.map(|n| n.as_str().trim())
    }

    /// The team of the person the record names, or their role where it gives no team.
    pub fn team(&self) -> Option<&str> {
        let team = match self {
            RecordDetails::AllocatedSocialWorker(w) => w.team.as_ref(),
            RecordDetails::TrustedAdult(t) => t.role.as_ref(),
            RecordDetails::LeadPractitioner(l) => Some(&l.role),
            RecordDetails::DesignatedTeacher(d) => d.role.as_ref(),
            RecordDetails::SeniorMentalHealthLead(s) => s.role.as_ref(),
            _ => None,
        };
        team.map(|t| t.as_str().trim())
    }

    /// When what the record describes happened, to the minute, where the details say
    /// (an Operation Encompass incident); otherwise the record's dates tell.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        match self {
            RecordDetails::EncompassNotification(e) => Some(e.incident_at),
            _ => None,
        }
    }

    /// What of these details a node shares at `summary` level with a reader of agency
    /// `reader`, if anything: the details with every confidential field left out
    /// (`Record.outline`). An intervention without its description and evidence; a
    /// meeting without the child's views and with only the decisions `reader` owns (the
    /// decisions that name an agency reach it, and no others). Most categories share
    /// nothing but their impact line there.
    pub fn outline(&self, reader: &crate::identifiers::AgencyId) -> Option<RecordDetails> {
        match self {
            RecordDetails::Intervention(i) => {
                Some(RecordDetails::Intervention(InterventionDetails {
                    description: None,
                    evidence: None,
                    ..i.clone()
                }))
            }
            RecordDetails::Meeting(m) => Some(RecordDetails::Meeting(MeetingDetails {
                child_views: None,
                decisions: m
                    .decisions
                    .iter()
                    .filter(|d| &d.owner == reader)
                    .cloned()
                    .collect(),
                ..m.clone()
            })),
            RecordDetails::ParentCarer(p) => Some(RecordDetails::ParentCarer(ParentCarerDetails {
                name: None,
                ..p.clone()
            })),
            _ => None,
        }
    }

    /// A parent or carer: relationship, parental responsibility, contact restrictions.
    pub fn parent_carer(&self) -> Option<&ParentCarerDetails> {
        match self {
            RecordDetails::ParentCarer(p) => Some(p),
            _ => None,
        }
    }

    /// A meeting: its kind, who came, its decisions and the child's part in it.
    pub fn meeting(&self) -> Option<&MeetingDetails> {
        match self {
            RecordDetails::Meeting(m) => Some(m),
            _ => None,
        }
    }

    /// An intervention: what was done, the barrier it targets and its impact at review.
    pub fn intervention(&self) -> Option<&InterventionDetails> {
        match self {
            RecordDetails::Intervention(i) => Some(i),
            _ => None,
        }
    }

    /// Whether the details show what raises `event` for their category
    /// ([`RecordCategory::raises`]): attendance under 90% shows persistent absence.
    pub fn shows(&self, event: EventType) -> bool {
        match (self, event) {
            (RecordDetails::Attendance(a), EventType::PersistentAbsence) => {
                a.is_persistent_absence()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agency::AgencyKind;
    use crate::record::RecordUpsert;

    fn fields_of(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn errors(category: RecordCategory, details: Value) -> Vec<FieldError> {
        match RecordDetails::parse(category, &details) {
            Ok(parsed) => panic!("accepted {details}: {parsed:?}"),
            Err(errors) => errors,
        }
    }

    fn with(category: RecordCategory, changes: Value) -> Value {
        let mut example = RecordDetails::example(category);
        for (k, v) in changes.as_object().cloned().unwrap_or_default() {
            if v.is_null() {
                example.as_object_mut().unwrap().remove(&k);
            } else {
                example[k] = v;
            }
        }
        example
    }

    #[test]
    fn every_category_example_parses_and_round_trips() {
        for category in RecordCategory::ALL {
            let example = RecordDetails::example(category);
            assert!(
                example.as_object().is_some_and(|o| !o.is_empty()),
                "{category:?}"
            );
            let parsed = RecordDetails::parse(category, &example)
                .unwrap_or_else(|e| panic!("{category:?}: {e:?}"));
            assert_eq!(parsed.category(), category);
            assert_eq!(parsed.to_value(), example, "{category:?}");
            assert!(
                RecordDetails::schema_name(category).ends_with("Details"),
                "{category:?}"
            );
        }
    }

    #[test]
    fn schema_required_fields_are_the_ones_serde_requires() {
        for category in RecordCategory::ALL {
            let example = RecordDetails::example(category);
            let object = example.as_object().unwrap();
            for name in object.keys() {
                let mut without = object.clone();
                without.remove(name);
                let result = RecordDetails::parse(category, &Value::Object(without));
                let required = result
                    .as_ref()
                    .err()
                    .is_some_and(|e| e.iter().any(|e| e.message == "is required"));
                let schema_required = matches!(
                    RecordDetails::parse(category, &json!({})),
                    Err(e) if e.iter().any(|e| e.field == format!("details.{name}") && e.message == "is required")
                );
                assert_eq!(required, schema_required, "{category:?}.{name}");
            }
        }
    }

    #[test]
    fn every_invalid_field_is_named_at_once_type_errors_included() {
        let e = errors(
            RecordCategory::Attendance,
            json!({"sessions_possible": "a hundred", "sessions_present": -1,
                   "authorised_absence": 6, "late_marks": 3}),
        );
        assert_eq!(
            fields_of(&e),
            [
                "details.late_marks",
                "details.sessions_possible",
                "details.sessions_present",
                "details.unauthorised_absence",
            ],
            "{e:?}"
        );
        assert!(e[0].message.starts_with("unknown field"), "{e:?}");
        assert!(e[3].message == "is required", "{e:?}");
    }

    #[test]
    fn details_must_be_an_object() {
        let e = errors(RecordCategory::Attendance, json!([1, 2]));
        assert_eq!(fields_of(&e), ["details"]);
    }

    #[test]
    fn a_meeting_names_whoever_attended_uninvited_and_repeated_agencies() {
        let e = errors(
            RecordCategory::Meeting,
            with(
                RecordCategory::Meeting,
                json!({"invited": ["school-a", "school-a"], "attended": ["police"]}),
            ),
        );
        assert_eq!(
            fields_of(&e),
            ["details.invited", "details.attended"],
            "{e:?}"
        );
        assert!(e[1].message.contains("police"), "{e:?}");
    }

    #[test]
    fn evidence_needs_an_impact_at_review() {
        let e = errors(
            RecordCategory::Intervention,
            with(
                RecordCategory::Intervention,
                json!({"impact_at_review": null}),
            ),
        );
        assert_eq!(fields_of(&e), ["details.evidence"], "{e:?}");
    }

    #[test]
    fn a_summary_outline_leaves_out_the_confidential_fields_and_others_decisions() {
        let reader = crate::identifiers::AgencyId::parse("school-a").unwrap();
        let meeting = RecordDetails::parse(
            RecordCategory::Meeting,
            &RecordDetails::example(RecordCategory::Meeting),
        )
        .unwrap();
        let outline = meeting.outline(&reader).unwrap();
        let m = outline.meeting().unwrap();
        assert!(m.child_views.is_none());
        assert_eq!(m.decisions.len(), 1);
        assert_eq!(m.decisions[0].owner, reader);
        let intervention = RecordDetails::parse(
            RecordCategory::Intervention,
            &RecordDetails::example(RecordCategory::Intervention),
        )
        .unwrap();
        let i = intervention.outline(&reader).unwrap();
        let i = i.intervention().unwrap();
        assert!(i.description.is_none() && i.evidence.is_none());
        assert!(i.impact_at_review.is_some());
        let attendance = RecordDetails::parse(
            RecordCategory::Attendance,
            &RecordDetails::example(RecordCategory::Attendance),
        )
        .unwrap();
        assert!(attendance.outline(&reader).is_none());
    }

    #[test]
    fn attendance_counts_must_fit_in_sessions_possible() {
        let e = errors(
            RecordCategory::Attendance,
            json!({"sessions_possible": 100, "sessions_present": 90,
                   "authorised_absence": 6, "unauthorised_absence": 10}),
        );
        assert_eq!(fields_of(&e), ["details.sessions_present"]);
    }

    #[test]
    fn attendance_rate_and_persistent_absence_are_computed_or_checked() {
        let parsed = RecordDetails::parse(
            RecordCategory::Attendance,
            &json!({"sessions_possible": 120, "sessions_present": 107,
                    "authorised_absence": 8, "unauthorised_absence": 5}),
        )
        .unwrap();
        assert_eq!(parsed.to_value()["attendance_rate"], json!(89.2));
        assert_eq!(parsed.to_value()["persistent_absence"], json!(true));
        let e = errors(
            RecordCategory::Attendance,
            with(
                RecordCategory::Attendance,
                json!({"attendance_rate": 95.0, "persistent_absence": false}),
            ),
        );
        assert_eq!(
            fields_of(&e),
            ["details.attendance_rate", "details.persistent_absence"]
        );
        let e = errors(
            RecordCategory::Attendance,
            with(RecordCategory::Attendance, json!({"sessions_possible": 0})),
        );
        assert_eq!(fields_of(&e), ["details.sessions_possible"]);
    }

    #[test]
    fn persistent_absence_is_under_90_percent_exactly_in_every_reading() {
        let attendance = |present: i64, possible: i64| AttendanceDetails {
            sessions_possible: Bounded::new(possible).unwrap(),
            sessions_present: Bounded::new(present).unwrap(),
            authorised_absence: Bounded::new(possible - present).unwrap(),
            unauthorised_absence: Bounded::new(0).unwrap(),
            attendance_rate: None,
            persistent_absence: None,
        };
        for (present, possible, absent) in [
            (90, 100, false),
            (89, 100, true),
            (27, 30, false),
            // 89.96% rounds to 90.0 but is under 90.
            (224, 249, true),
        ] {
            let a = attendance(present, possible);
            assert_eq!(a.is_persistent_absence(), absent, "{present}/{possible}");
            let details = RecordDetails::Attendance(a);
            assert_eq!(details.shows(EventType::PersistentAbsence), absent);
            let sessions = details.sessions().unwrap();
            assert_eq!(sessions.is_persistent_absence(), absent);
            assert_eq!(is_persistent_absence(sessions.pct().unwrap()), absent);
        }
        assert_eq!(Sessions::default().pct(), None);
        assert!(!Sessions::default().is_persistent_absence());
    }

    #[test]
    fn sdq_bands_are_average_raised_and_high() {
        let band = |total: i64| {
            let mut sdq: StrengthsAndDifficultiesDetails = serde_json::from_value(
                RecordDetails::example(RecordCategory::StrengthsAndDifficulties),
            )
            .unwrap();
            sdq.total_difficulties = Bounded::new(total).unwrap();
            sdq.band()
        };
        assert_eq!(band(13), SdqBand::Average);
        assert_eq!(band(14), SdqBand::Raised);
        assert_eq!(band(16), SdqBand::Raised);
        assert_eq!(band(17), SdqBand::High);
    }

    #[test]
    fn stored_details_read_back_as_their_category_only() {
        for category in RecordCategory::ALL {
            let stored = RecordDetails::parse(category, &RecordDetails::example(category))
                .unwrap()
                .to_value();
            let read =
                RecordDetails::read(category, &stored).unwrap_or_else(|| panic!("{category:?}"));
            assert_eq!(read.to_value(), stored, "{category:?}");
        }
        let attendance = RecordDetails::example(RecordCategory::Attendance);
        assert!(RecordDetails::read(RecordCategory::Enrolment, &attendance).is_none());
        assert!(RecordDetails::read(RecordCategory::Attendance, &json!({})).is_none());
    }

    #[test]
    fn suspension_needs_days_and_permanent_exclusion_has_none() {
        let e = errors(
            RecordCategory::Exclusion,
            json!({"exclusion_type": "suspension", "reason_category": "PD"}),
        );
        assert_eq!(fields_of(&e), ["details.days"]);
        let e = errors(
            RecordCategory::Exclusion,
            json!({"exclusion_type": "permanent_exclusion", "days": 3, "reason_category": "PA"}),
        );
        assert_eq!(fields_of(&e), ["details.days"]);
        let e = errors(
            RecordCategory::Exclusion,
            with(
                RecordCategory::Exclusion,
                json!({"reason_category": "OT", "days": 46}),
            ),
        );
        assert_eq!(
            fields_of(&e),
            ["details.days", "details.reason_category"],
            "{e:?}"
        );
    }

    #[test]
    fn sen_needs_census_codes_and_a_distinct_secondary_need() {
        let e = errors(
            RecordCategory::SpecialEducationalNeeds,
            json!({"provision": "sen_support", "primary_need": "SEMH", "secondary_need": "SEMH"}),
        );
        assert_eq!(fields_of(&e), ["details.secondary_need"]);
        let e = errors(
            RecordCategory::SpecialEducationalNeeds,
            json!({"provision": "statement", "primary_need": "semh"}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.provision", "details.primary_need"],
            "{e:?}"
        );
    }

    #[test]
    fn pupil_premium_basis_only_when_eligible() {
        let e = errors(
            RecordCategory::PupilPremium,
            json!({"eligible": false, "basis": "ever_6_fsm"}),
        );
        assert_eq!(fields_of(&e), ["details.basis"]);
    }

    #[test]
    fn attainment_progress_score_is_bounded() {
        let e = errors(
            RecordCategory::Attainment,
            with(RecordCategory::Attainment, json!({"progress_score": 12.5})),
        );
        assert_eq!(fields_of(&e), ["details.progress_score"]);
    }

    #[test]
    fn text_fields_must_not_be_blank_and_urns_have_six_digits() {
        let e = errors(
            RecordCategory::Enrolment,
            with(
                RecordCategory::Enrolment,
                json!({"school_name": "  ", "urn": "99910", "year_group": 15}),
            ),
        );
        assert_eq!(
            fields_of(&e),
            ["details.urn", "details.school_name", "details.year_group"],
            "{e:?}"
        );
        let e = errors(
            RecordCategory::PupilPassport,
            with(
                RecordCategory::PupilPassport,
                json!({"what_helps_me": vec!["x"; 21]}),
            ),
        );
        assert_eq!(fields_of(&e), ["details.what_helps_me"]);
    }

    #[test]
    fn cin_episode_closes_after_referral_with_a_reason() {
        let e = errors(
            RecordCategory::ChildInNeedEpisode,
            json!({"referral_date": "2025-02-10", "primary_need_code": "N1",
                   "closure_date": "2025-01-31", "closure_reason": "RC7"}),
        );
        assert_eq!(fields_of(&e), ["details.closure_date"]);
        let e = errors(
            RecordCategory::ChildInNeedEpisode,
            json!({"referral_date": "2025-02-10", "primary_need_code": "N1",
                   "closure_date": "2025-03-31"}),
        );
        assert_eq!(fields_of(&e), ["details.closure_reason"]);
        let e = errors(
            RecordCategory::ChildInNeedEpisode,
            json!({"referral_date": "2025-02-10", "primary_need_code": "N1",
                   "closure_reason": "RC8"}),
        );
        assert_eq!(fields_of(&e), ["details.closure_date"]);
        let e = errors(
            RecordCategory::ChildInNeedEpisode,
            json!({"referral_date": "10/02/2025", "primary_need_code": "N10"}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.referral_date", "details.primary_need_code"]
        );
    }

    #[test]
    fn social_care_code_lists_are_enforced() {
        let e = errors(
            RecordCategory::ChildProtectionPlan,
            json!({"category_of_abuse": "neglect"}),
        );
        assert_eq!(fields_of(&e), ["details.category_of_abuse"]);
        let e = errors(RecordCategory::LookedAfter, json!({"legal_status": "C3"}));
        assert_eq!(fields_of(&e), ["details.legal_status"]);
        let e = errors(
            RecordCategory::PlacementMove,
            json!({"from_placement": "children's home", "to_placement": "childrens_home"}),
        );
        assert_eq!(fields_of(&e), ["details.from_placement"]);
    }

    #[test]
    fn assessment_factors_are_census_codes_each_once() {
        let e = errors(RecordCategory::AssessmentFactors, json!({"factors": []}));
        assert_eq!(fields_of(&e), ["details.factors"]);
        let e = errors(
            RecordCategory::AssessmentFactors,
            json!({"factors": ["3A", "3A"]}),
        );
        assert_eq!(fields_of(&e), ["details.factors"]);
        for bad in ["25A", "3D", "03A", "A3", ""] {
            let e = errors(RecordCategory::AssessmentFactors, json!({"factors": [bad]}));
            assert_eq!(fields_of(&e), ["details.factors"], "{bad}");
        }
        for good in ["1A", "21", "24A", "10C"] {
            assert!(
                RecordDetails::parse(
                    RecordCategory::AssessmentFactors,
                    &json!({"factors": [good]})
                )
                .is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn census_codes_added_for_the_dfe_imports_are_checked() {
        for good in ["8D", "8E", "8F"] {
            assert!(
                RecordDetails::parse(
                    RecordCategory::AssessmentFactors,
                    &json!({"factors": [good]})
                )
                .is_ok(),
                "{good}"
            );
        }
        let e = errors(
            RecordCategory::ChildInNeedEpisode,
            json!({"referral_date": "2025-02-10", "primary_need_code": "N0",
                   "referral_source": "11", "no_further_action": "yes"}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.referral_source", "details.no_further_action"]
        );
        let e = errors(
            RecordCategory::ChildProtectionPlan,
            json!({"category_of_abuse": "NEG", "initial_category_of_abuse": "SEX",
                   "reviews": ["2026-13-01"], "previous_plans": 100}),
        );
        assert_eq!(
            fields_of(&e),
            [
                "details.initial_category_of_abuse",
                "details.reviews",
                "details.previous_plans"
            ],
            "{e:?}"
        );
        let e = errors(
            RecordCategory::Section47Enquiry,
            json!({"initial_cpc_date": "2026-02-27", "conference_not_required": true}),
        );
        assert_eq!(fields_of(&e), ["details.initial_cpc_date"]);
        let e = errors(RecordCategory::ChildCharacteristics, json!({}));
        assert_eq!(fields_of(&e), ["details.ethnicity"]);
        let e = errors(
            RecordCategory::ChildCharacteristics,
            json!({"ethnicity": "wbri", "disabilities": ["NONE", "LD"]}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.ethnicity"],
            "a bad code is named before any rule runs: {e:?}"
        );
        let e = errors(
            RecordCategory::ChildCharacteristics,
            json!({"disabilities": ["NONE", "LD"]}),
        );
        assert_eq!(fields_of(&e), ["details.disabilities"]);
        let e = errors(
            RecordCategory::LookedAfterStatus,
            json!({"in_care": "Y", "care_authority": "82"}),
        );
        assert_eq!(fields_of(&e), ["details.in_care", "details.care_authority"]);
        let e = errors(RecordCategory::FreeSchoolMeals, json!({"uk_country": "UK"}));
        assert_eq!(fields_of(&e), ["details.uk_country"]);
        let mut enrolment = RecordDetails::example(RecordCategory::Enrolment);
        enrolment.as_object_mut().unwrap().remove("year_group");
        assert!(RecordDetails::parse(RecordCategory::Enrolment, &enrolment).is_ok());
    }

    #[test]
    fn sdq_total_is_0_to_40_and_the_sum_of_its_scales() {
        let e = errors(
            RecordCategory::StrengthsAndDifficulties,
            with(
                RecordCategory::StrengthsAndDifficulties,
                json!({"total_difficulties": 20}),
            ),
        );
        assert_eq!(fields_of(&e), ["details.total_difficulties"]);
        let e = errors(
            RecordCategory::StrengthsAndDifficulties,
            json!({"total_difficulties": 41, "conduct": 11}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.total_difficulties", "details.conduct"]
        );
    }

    #[test]
    fn encompass_incident_is_not_in_the_future() {
        let e = errors(
            RecordCategory::EncompassNotification,
            with(
                RecordCategory::EncompassNotification,
                json!({"incident_at": (Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
            ),
        );
        assert_eq!(fields_of(&e), ["details.incident_at"]);
        let e = errors(
            RecordCategory::EncompassNotification,
            json!({"incident_at": "last night", "child_present": "yes"}),
        );
        assert_eq!(
            fields_of(&e),
            ["details.incident_at", "details.child_present"]
        );
    }

    #[test]
    fn early_help_fields_are_checked() {
        let e = errors(
            RecordCategory::TeamAroundTheFamily,
            json!({"frequency_weeks": 0}),
        );
        assert_eq!(fields_of(&e), ["details.frequency_weeks"]);
        let e = errors(
            RecordCategory::EarlyHelpAssessment,
            json!({"assessment_type": "eha"}),
        );
        assert_eq!(fields_of(&e), ["details.assessment_type"]);
        let e = errors(
            RecordCategory::LeadPractitioner,
            json!({"name": "J. Haddad"}),
        );
        assert_eq!(fields_of(&e), ["details.role"]);
    }

    #[test]
    fn a_record_lists_its_own_and_its_details_errors_together() {
        let value = json!({
            "source_system_id": "MIS-ATT-1", "category": "attendance",
            "effective_from": "3rd September", "impact": "",
            "details": {"sessions_possible": 100, "sessions_present": "84",
                        "authorised_absence": 6, "unauthorised_absence": 10}
        });
        let e = RecordUpsert::parse(&value, AgencyKind::School).unwrap_err();
        assert_eq!(
            fields_of(&e),
            ["effective_from", "impact", "details.sessions_present"],
            "{e:?}"
        );
        let mut value = value;
        value["effective_from"] = json!("2026-09-03");
        let e = RecordUpsert::parse(&value, AgencyKind::Police).unwrap_err();
        assert_eq!(
            fields_of(&e),
            ["category", "impact", "details.sessions_present"],
            "{e:?}"
        );
        value["impact"] = json!("Attendance 84%");
        value["details"]["sessions_present"] = json!(84);
        let record = RecordUpsert::parse(&value, AgencyKind::School).unwrap();
        assert_eq!(
            record.details().to_value()["persistent_absence"],
            json!(true)
        );
    }
}
