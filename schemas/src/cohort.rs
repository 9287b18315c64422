//! Cohorts: the children an agency works with, read across the federation in batches.
//!
//! The requester's own node lists its cohort ([`CohortPage`]), with a relationship
//! assertion per child bound to the query the gateway will send the other nodes; the
//! gateway then asks every node about a chunk of children at once
//! ([`BatchMatchRequest`], [`BatchRecordsRequest`]) and answers one [`CohortRow`] per
//! child. Nothing of a cohort is stored anywhere but in the nodes' own audits.

use crate::federation::{ChildQuery, ChildRecords, NodeMatchAnswer, SectionStatus};
use crate::view::BarrierSignal;
use crate::{AgencyId, AgencyKind, FieldError, NhsNumber, RecordCategory, Upn};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most children a node lists, matches or reads in one call.
pub const MAX_BATCH: usize = 500;
/// Children per chunk unless the gateway is configured otherwise.
pub const DEFAULT_CHUNK: usize = 250;
/// Largest cohort the gateway sorts or sums up (headline figures).
pub const MAX_SORTED: u64 = 2_000;

/// A page of a node's cohort listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CohortPageQuery {
    /// Where to continue: the `next_cursor` of the page before. Absent: from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Children on this page, 1 to 500 (250 unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `me`: only the children whose allocated social worker record in effect today names
    /// the practitioner (`worker_subject` is their token's `sub`): a social worker's own
    /// caseload. Only where the agency records allocation (children's social care).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_to: Option<String>,
}

impl CohortPageQuery {
    pub fn validate(&self) -> Vec<FieldError> {
        match self.limit {
            Some(n) if n == 0 || n > MAX_BATCH => {
                vec![FieldError::new("limit", "must be 1 to 500")]
            }
            _ => Vec::new(),
        }
        .into_iter()
        .chain(allocated_to_error(self.allocated_to.as_deref()))
        .collect()
    }
}

/// One child of the requester's agency's cohort, as that agency holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CohortIdentity {
    /// The legal first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The legal family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// The first name the child uses, where the agency holds one that differs from the
    /// legal name: the name to call the child by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_given_name: Option<String>,
    /// The family name the child uses, where the agency holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub upn: Option<Upn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub nhs_number: Option<NhsNumber>,
    /// The child's id in the agency's own system.
    pub local_id: String,
}

/// A member of a node's cohort listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CohortMember {
    /// Pass as `cursor` to list the children after this one.
    pub cursor: String,
    /// This node's reference for the child.
    pub local_ref: String,
    pub identity: CohortIdentity,
    /// What made the involvement (the category of the record).
    pub basis: RecordCategory,
    /// The query the gateway sends the other nodes to find this child (identifiers and
    /// demographics as this agency holds them); absent when this agency holds too little
    /// of the child to search for them elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<ChildQuery>,
    /// The relationship assertion, signed by this node, bound to the practitioner, the
    /// purpose and the hash of `query`, and marked as a cohort's.
    pub relationship: String,
    /// Notifications about the child in this agency's inbox not yet acknowledged.
    pub unacknowledged_notifications: u32,
}

/// A page of the children the practitioner's own agency works with, in the node's
/// order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CohortPage {
    pub agency_id: AgencyId,
    pub children: Vec<CohortMember>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Children in the whole cohort, on the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Many children to find at once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchMatchRequest {
    /// 1 to 500 queries.
    pub queries: Vec<ChildQuery>,
}

impl BatchMatchRequest {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.queries.is_empty() || self.queries.len() > MAX_BATCH {
            errors.push(FieldError::new("queries", "give 1 to 500 queries"));
        }
        for (i, q) in self.queries.iter().enumerate() {
            for mut e in q.validate() {
                e.field = format!("queries[{i}].{}", e.field);
                errors.push(e);
            }
        }
        errors
    }
}

/// One answer per query, in the order of the queries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchMatchResponse {
    pub answers: Vec<NodeMatchAnswer>,
}

/// One child of a batched read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchReadItem {
    /// This node's reference for the child, from a match.
    pub local_ref: String,
    /// This node's match token from the same (batched) match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_token: Option<String>,
    /// The requester's own agency's relationship assertion for the child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
}

/// Many children to read at once, as part of a cohort.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRecordsRequest {
    /// 1 to 500 children.
    pub children: Vec<BatchReadItem>,
}

impl BatchRecordsRequest {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.children.is_empty() || self.children.len() > MAX_BATCH {
            errors.push(FieldError::new("children", "give 1 to 500 children"));
        }
        for (i, c) in self.children.iter().enumerate() {
            if c.local_ref.trim().is_empty() || c.local_ref.len() > 200 {
                errors.push(FieldError::new(
                    format!("children[{i}].local_ref"),
                    "must be 1 to 200 characters",
                ));
            }
        }
        errors
    }
}

/// What a node disclosed of one child of a batched read: absent when it does not hold
/// the child or its policy and consent leave nothing (as a single read's 404).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchReadAnswer {
    pub local_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<ChildRecords>,
}

/// One answer per child, in the order asked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchRecordsResponse {
    pub answers: Vec<BatchReadAnswer>,
}

/// Filters and order of a cohort (`GET /v1/cohort`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CohortQuery {
    /// Continue after this row: the `cursor` of the last row of the page before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Rows on this page, at most 10,000 (all, up to 10,000, unless given). Pages are
    /// cursors over the requester's node's list: a filter may leave a page shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Only children an agency of this kind (`social_care`, …) or this agency id knows:
    /// its column is `ok` or `withheld` (it holds the child and said so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_to: Option<String>,
    /// `me`: a social worker's own caseload, the children whose allocated social worker
    /// record in effect today names them (by their token's `sub`, the record's
    /// `worker_subject`). Only for practitioners of an agency that records allocation
    /// (children's social care); their node refuses it otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_to: Option<String>,
    /// `true`: only persistent absentees (latest period or this term under 90%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_absence: Option<bool>,
    /// Only children with this plan open: `child_in_need`, `child_protection` or
    /// `looked_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Sort by `family_name`, `attendance` (lowest first), `suspension_days` (most first)
    /// or `notifications` (most first). Only for cohorts of up to 2,000 children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

/// Most rows of one cohort page.
pub const MAX_PAGE: usize = 10_000;

pub const SORT_KEYS: [&str; 4] = [
    "family_name",
    "attendance",
    "suspension_days",
    "notifications",
];

impl CohortQuery {
    pub fn validate(&self, directory_has: impl Fn(&str) -> bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(n) = self.limit
            && (n == 0 || n > MAX_PAGE)
        {
            errors.push(FieldError::new("limit", "must be 1 to 10000"));
        }
        if let Some(known) = &self.known_to
            && agency_kind(known).is_none()
            && !directory_has(known)
        {
            errors.push(FieldError::new(
                "known_to",
                "must be an agency kind (school, social_care, health, police, early_help, virtual_school) or a member's id",
            ));
        }
        errors.extend(allocated_to_error(self.allocated_to.as_deref()));
        if let Some(cursor) = &self.cursor
            && local_id_of_cursor(cursor).is_none()
        {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor of this listing: pass a row's cursor",
            ));
        }
        if let Some(plan) = &self.plan
            && PlanKind::parse(plan).is_none()
        {
            errors.push(FieldError::new(
                "plan",
                "must be child_in_need, child_protection or looked_after",
            ));
        }
        if let Some(sort) = &self.sort
            && !SORT_KEYS.contains(&sort.as_str())
        {
            errors.push(FieldError::new(
                "sort",
                "must be family_name, attendance, suspension_days or notifications",
            ));
        }
        errors
    }
}

/// The cursor of a child in its agency's cohort listing: its local id, opaque.
pub fn cursor_of(local_id: &str) -> String {
    use base64::Engine;
    format!(
        "c1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(local_id)
    )
}

/// The local id a cursor of [`cursor_of`] stands for; none for anything else.
pub fn local_id_of_cursor(cursor: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.strip_prefix("c1.")?)
        .ok()?;
    String::from_utf8(bytes).ok().filter(|id| !id.is_empty())
}

/// `allocated_to` names the practitioner asking, `me`, or nobody.
fn allocated_to_error(allocated_to: Option<&str>) -> Option<FieldError> {
    allocated_to
        .filter(|a| *a != "me")
        .map(|_| FieldError::new("allocated_to", "must be `me` (your own caseload)"))
}

/// An agency kind by its wire name (`social_care`).
pub fn agency_kind(name: &str) -> Option<AgencyKind> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// An open plan, as the cohort names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    ChildInNeed,
    ChildProtection,
    LookedAfter,
}

impl PlanKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "child_in_need" => Some(Self::ChildInNeed),
            "child_protection" => Some(Self::ChildProtection),
            "looked_after" => Some(Self::LookedAfter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChildInNeed => "child_in_need",
            Self::ChildProtection => "child_protection",
            Self::LookedAfter => "looked_after",
        }
    }

    /// The plan a record of this category is, if any.
    pub fn of(category: RecordCategory) -> Option<Self> {
        match category {
            RecordCategory::ChildInNeedPlan | RecordCategory::ChildInNeedEpisode => {
                Some(Self::ChildInNeed)
            }
            RecordCategory::ChildProtectionPlan => Some(Self::ChildProtection),
            RecordCategory::LookedAfter => Some(Self::LookedAfter),
            _ => None,
        }
    }
}

/// Attendance as the schools disclosed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CohortAttendance {
    /// The latest period's attendance rate, percent to one decimal place (with details).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub latest_from: Option<NaiveDate>,
    /// This term's rate: the sessions of every period that started this term, added up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_rate: Option<f64>,
    /// Under 90% in the latest period or this term; at `summary` level, as the school's
    /// impact line says.
    pub persistent_absence: bool,
    /// `full` (from the sessions) or `summary` (from the impact line only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<crate::DisclosureLevel>,
    /// The latest period's impact line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
}

/// Attainment in one subject, the latest assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CohortAttainment {
    pub subject: String,
    pub working_at: crate::details::WorkingAt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_score: Option<f64>,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
}

/// Suspensions and permanent exclusions that started this term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortExclusions {
    pub suspensions: u32,
    /// School days of suspension (with details; 0 at `summary` level).
    pub suspension_days: u32,
    pub permanent_exclusions: u32,
}

/// A looked-after child's personal education plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortPep {
    /// `in_place`, `review_overdue`, or `none` (looked after, and no plan disclosed).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub review_due: Option<NaiveDate>,
}

/// SEN as disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortSen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<crate::details::SenProvision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_need: Option<crate::details::SenNeed>,
    pub impact: String,
}

/// The four barriers' signals, as the child's view reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortBarriers {
    pub attendance: BarrierSignal,
    pub learning: BarrierSignal,
    pub behaviour: BarrierSignal,
    pub wellbeing: BarrierSignal,
}

/// One agency's column: its status for this child, as the child's view would say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CohortColumn {
    pub agency_id: AgencyId,
    pub kind: AgencyKind,
    pub status: SectionStatus,
}

/// One child of a cohort.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CohortRow {
    /// Pass as `cursor` to continue after this row.
    pub cursor: String,
    /// The child as the requester's own agency holds them.
    pub identity: CohortIdentity,
    /// A federated reference to open this child's view with (as a search's).
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendance: Option<CohortAttendance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attainment: Vec<CohortAttainment>,
    pub exclusions: CohortExclusions,
    /// For a looked-after child only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pep: Option<CohortPep>,
    /// Open plans.
    #[serde(default)]
    pub plans: Vec<PlanKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sen: Option<CohortSen>,
    pub barriers: CohortBarriers,
    /// In the requester's own agency's inbox.
    pub unacknowledged_notifications: u32,
    /// One per agency in the federation, as the child's view has them.
    pub agencies: Vec<CohortColumn>,
}

/// Headline figures of a cohort (up to 2,000 children).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CohortFigures {
    pub children: u64,
    pub persistently_absent: u64,
    /// Percent of the children, one decimal place.
    pub persistently_absent_pct: f64,
    pub suspensions: u64,
    /// Suspensions and permanent exclusions this term per 100 children.
    pub exclusions_per_100: f64,
    pub looked_after: u64,
    pub child_protection: u64,
    pub child_in_need: u64,
    pub with_sen: u64,
    pub with_unacknowledged_notifications: u64,
    /// Children each agency knows (its column `ok` or `withheld`), by agency id.
    pub known_to: std::collections::BTreeMap<String, u64>,
    /// Children for whom at least one agency did not answer (timeout, unavailable,
    /// error): the figures leave out what it holds.
    pub incomplete: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_examples_are_what_they_document() {
        fn reads<T: serde::de::DeserializeOwned>(text: &str) -> T {
            serde_json::from_str::<T>(text).unwrap_or_else(|e| panic!("{e}: {text}"))
        }
        reads::<CohortRow>(include_str!("../openapi-examples/CohortRow.json"));
        reads::<CohortFigures>(include_str!("../openapi-examples/CohortFigures.json"));
        let page: CohortPage = reads(include_str!("../openapi-examples/CohortPage.json"));
        for member in &page.children {
            assert!(local_id_of_cursor(&member.cursor).is_some());
        }
        let asked: BatchMatchRequest =
            reads(include_str!("../openapi-examples/BatchMatchRequest.json"));
        assert!(asked.validate().is_empty());
        reads::<BatchMatchResponse>(include_str!("../openapi-examples/BatchMatchResponse.json"));
        let read: BatchRecordsRequest =
            reads(include_str!("../openapi-examples/BatchRecordsRequest.json"));
        assert!(read.validate().is_empty());
        reads::<BatchRecordsResponse>(include_str!(
            "../openapi-examples/BatchRecordsResponse.json"
        ));
    }

    #[test]
    fn a_cursor_reads_back_as_its_local_id_and_nothing_else_is_one() {
        assert_eq!(
            local_id_of_cursor(&cursor_of("NPS-000072")).as_deref(),
            Some("NPS-000072")
        );
        for bad in ["", "nonsense", "c1.", "c1.%%", "c2.TlBT"] {
            assert!(local_id_of_cursor(bad).is_none(), "{bad}");
        }
    }
}
