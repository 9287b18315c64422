//! Records on the wire: what an agency's system sends (`RecordUpsert`), what a node makes
//! of it once checked (`CheckedRecord`), what it holds and discloses (`Record`), and the
//! batch and change-feed envelopes around them.

use crate::agency::AgencyKind;
use crate::category::RecordCategory;
use crate::details::RecordDetails;
use crate::problem::FieldError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A record as the agency's own system sends it. `source_system_id` is the key: sending
/// the same id again updates the one record instead of adding another.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "source_system_id": "MIS-ATT-2026-AUT-000123",
    "category": "attendance",
    "effective_from": "2026-09-03",
    "effective_to": "2026-10-24",
    "impact": "Attendance 84% this half-term: persistent absence",
    "details": {"sessions_possible": 100, "sessions_present": 84, "authorised_absence": 6,
                "unauthorised_absence": 10}
}))]
#[serde(deny_unknown_fields)]
pub struct RecordUpsert {
    /// The record's id in the agency's own system; stable across updates. 1 to 200
    /// characters, no control characters.
    pub source_system_id: String,
    pub category: RecordCategory,
    /// When what the record describes started (or happened): from 1990-01-01 to the end
    /// of the year 25 years ahead.
    #[serde(deserialize_with = "crate::dates::date")]
    #[schema(value_type = String, format = Date)]
    pub effective_from: NaiveDate,
    /// When it ended, if it has (or when it is planned to end); same range, and not
    /// before `effective_from`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::dates::optional_date"
    )]
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_to: Option<NaiveDate>,
    /// When the agency recorded it; defaults to the time the node receives it. From
    /// 1990-01-01 to a day after the node's clock (never in the future).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::dates::optional_timestamp"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recorded_at: Option<DateTime<Utc>>,
    /// One line saying what this means for the child, safe to share at summary level:
    /// the impact without the confidential details. 1 to 280 characters, no control
    /// characters.
    pub impact: String,
    /// The record's details: the object of the schema named for `category`
    /// (see `RecordDetails`).
    #[serde(default = "empty_object")]
    #[schema(value_type = RecordDetails)]
    pub details: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The one-line impact statement: 1 to 280 characters, no control characters (it is
/// one line wherever it is shown).
pub fn check_impact(impact: &str, errors: &mut Vec<FieldError>) {
    let len = impact.trim().chars().count();
    if len == 0 || len > 280 {
        errors.push(FieldError::new("impact", "must have 1 to 280 characters"));
    } else if impact.chars().any(crate::child::invisible) {
        errors.push(FieldError::new(
            "impact",
            "must be one line without control characters",
        ));
    }
}

/// How many years ahead of today (to the end of that year) a record's dates may lie:
/// a plan or placement planned to last until a young person is 25.
pub const RECORD_YEARS_AHEAD: i32 = 25;

/// The latest date a record may carry on `today`.
pub fn latest_record_date(today: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    NaiveDate::from_ymd_opt(today.year() + RECORD_YEARS_AHEAD, 12, 31).unwrap_or(today)
}

/// Why a record's date is out of range on `today`, if it is.
pub fn record_date_problem(date: NaiveDate, today: NaiveDate) -> Option<String> {
    let latest = latest_record_date(today);
    (date < crate::dates::EARLIEST || date > latest)
        .then(|| crate::dates::range_message(crate::dates::EARLIEST, latest))
}

impl crate::fields::Fields for RecordUpsert {}

impl RecordUpsert {
    /// Parses a record from JSON and checks it for a node of kind `holder`, listing every
    /// invalid field at once: type errors of the record's own fields, the details'
    /// fields (`details.<field>`) and the rules across them. The record comes back
    /// checked, its details typed with what the node computes filled in.
    pub fn parse(
        value: &serde_json::Value,
        holder: AgencyKind,
    ) -> Result<CheckedRecord, Vec<FieldError>> {
        match crate::fields::parse::<RecordUpsert>(value, "") {
            Ok(record) => record.check(holder),
            Err(mut errors) => {
                // Still check the rest: with the mistyped fields replaced by valid
                // stand-ins, the rules show what else is wrong, except where they would
                // only be judging a stand-in.
                let bad: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
                let judges_stand_in = |e: &FieldError| {
                    bad.contains(&e.field)
                        || (e.field == "effective_to" && bad.iter().any(|b| b == "effective_from"))
                        || (e.field.starts_with("details") && bad.iter().any(|b| b == "category"))
                };
                if let (serde_json::Value::Object(given), serde_json::Value::Object(example)) =
                    (value, <Self as crate::fields::Fields>::example())
                {
                    let mut patched = given.clone();
                    for field in &bad {
                        match example.get(field) {
                            Some(v) => patched.insert(field.clone(), v.clone()),
                            None => patched.remove(field),
                        };
                    }
                    if let Ok(record) =
                        serde_json::from_value::<RecordUpsert>(serde_json::Value::Object(patched))
                        && let Err(more) = record.check(holder)
                    {
                        errors.extend(more.into_iter().filter(|e| !judges_stand_in(e)));
                    }
                }
                Err(errors)
            }
        }
    }

    /// Every invalid field of the record for a node of kind `holder`, or none.
    pub fn validate(&self, holder: AgencyKind) -> Vec<FieldError> {
        self.clone().check(holder).err().unwrap_or_default()
    }

    /// The record checked for a node of kind `holder`, its details typed, or every
    /// invalid field.
    pub fn check(self, holder: AgencyKind) -> Result<CheckedRecord, Vec<FieldError>> {
        self.check_on(holder, Utc::now())
    }

    /// [`RecordUpsert::check`] at the time `now` (the bounds of the dates move with it).
    pub fn check_on(
        self,
        holder: AgencyKind,
        now: DateTime<Utc>,
    ) -> Result<CheckedRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        let today = now.date_naive();
        let id_len = self.source_system_id.chars().count();
        if id_len == 0 || id_len > 200 {
            errors.push(FieldError::new(
                "source_system_id",
                "must have 1 to 200 characters",
            ));
        } else if self.source_system_id.chars().any(crate::child::invisible) {
            errors.push(FieldError::new(
                "source_system_id",
                "must not contain control characters",
            ));
        }
        for (field, date) in [
            ("effective_from", Some(self.effective_from)),
            ("effective_to", self.effective_to),
        ] {
            if let Some(message) = date.and_then(|d| record_date_problem(d, today)) {
                errors.push(FieldError::new(field, message));
            }
        }
        if let Some(at) = self.recorded_at {
            let latest = now + chrono::Duration::days(1);
            let earliest = crate::dates::EARLIEST
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc());
            if at > latest || earliest.is_some_and(|e| at < e) {
                errors.push(FieldError::new(
                    "recorded_at",
                    format!(
                        "must be between {} and now (it says when the agency recorded it)",
                        crate::dates::EARLIEST
                    ),
                ));
            }
        }
        if !self.category.held_by(holder) {
            errors.push(FieldError::new(
                "category",
                format!(
                    "a {} node does not hold {} records",
                    holder.as_str(),
                    self.category.as_str()
                ),
            ));
        }
        check_impact(&self.impact, &mut errors);
        // Out of range, `effective_from` already has its refusal: no order to judge.
        if record_date_problem(self.effective_from, today).is_none()
            && self.effective_to.is_some_and(|to| to < self.effective_from)
        {
            errors.push(FieldError::new(
                "effective_to",
                "must not be before effective_from",
            ));
        }
        let details = match RecordDetails::parse(self.category, &self.details) {
            Ok(details) => Some(details),
            Err(more) => {
                errors.extend(more);
                None
            }
        };
        match details {
            Some(details) if errors.is_empty() => Ok(CheckedRecord {
                source_system_id: self.source_system_id,
                effective_from: self.effective_from,
                effective_to: self.effective_to,
                recorded_at: self.recorded_at,
                impact: self.impact,
                details,
            }),
            _ => Err(errors),
        }
    }
}

/// A record checked for a node of one kind: every rule applied once, at the edge, and
/// its details typed as its category's. What a node's storage and notification rules
/// take; only [`RecordUpsert::parse`] and [`RecordUpsert::check`] make one (and
/// [`CheckedRecord::rekeyed`] gives one another id).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRecord {
    source_system_id: String,
    effective_from: NaiveDate,
    effective_to: Option<NaiveDate>,
    recorded_at: Option<DateTime<Utc>>,
    impact: String,
    details: RecordDetails,
}

impl CheckedRecord {
    pub fn source_system_id(&self) -> &str {
        &self.source_system_id
    }

    /// The same record under another source system id, checked as every id is (1 to 200
    /// characters, none a control character): an import keeping the id a node already
    /// holds the record by.
    pub fn rekeyed(&self, source_system_id: &str) -> Option<Self> {
        let n = source_system_id.chars().count();
        let valid =
            (1..=200).contains(&n) && !source_system_id.chars().any(crate::child::invisible);
        valid.then(|| Self {
            source_system_id: source_system_id.to_owned(),
            ..self.clone()
        })
    }

    /// The category, which is that of the details.
    pub fn category(&self) -> RecordCategory {
        self.details.category()
    }

    pub fn effective_from(&self) -> NaiveDate {
        self.effective_from
    }

    pub fn effective_to(&self) -> Option<NaiveDate> {
        self.effective_to
    }

    pub fn recorded_at(&self) -> Option<DateTime<Utc>> {
        self.recorded_at
    }

    pub fn impact(&self) -> &str {
        &self.impact
    }

    /// The details, with what the node computes (an attendance rate) filled in.
    pub fn details(&self) -> &RecordDetails {
        &self.details
    }
}

/// A record held by a node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Record {
    pub source_system_id: String,
    pub category: RecordCategory,
    #[schema(value_type = String, format = Date)]
    pub effective_from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub effective_to: Option<NaiveDate>,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: DateTime<Utc>,
    pub impact: String,
    /// The record's details, of the schema named for `category` (see `RecordDetails`);
    /// absent when disclosed at `summary` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RecordDetails>)]
    pub details: Option<serde_json::Value>,
    /// At `summary` level, for the few categories that share coded facts without their
    /// confidential details (an intervention's barrier and impact at review, a meeting's
    /// decisions and owners, a contact restriction): the details with every confidential
    /// field left out, of the same schema as `details`. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RecordDetails>)]
    pub outline: Option<serde_json::Value>,
    /// Increases by one on every change; the basis of the record's ETag.
    pub version: i64,
}

impl Record {
    /// The last day the record is in effect: its `effective_to`; without one, the day it
    /// happened for something that happens on a day
    /// ([`RecordCategory::happens_on_a_day`]), and none (still in effect) otherwise.
    pub fn last_day(&self) -> Option<NaiveDate> {
        match self.effective_to {
            None if self.category.happens_on_a_day() => Some(self.effective_from),
            end => end,
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordUpsertResult {
    /// `true` when the record was new, `false` when an existing one was updated.
    pub created: bool,
    pub record: Record,
}

/// Why a record is retracted; kept in the node's audit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordRetraction {
    /// Why the record is withdrawn, e.g. "entered against the wrong pupil".
    pub reason: String,
}

/// One operation of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BatchOperation {
    /// Create or update a child by local id.
    UpsertChild {
        local_id: String,
        child: crate::child::ChildUpsert,
    },
    /// Create or update a record of a child (by its source system id).
    UpsertRecord {
        local_id: String,
        record: RecordUpsert,
    },
    /// Retract a record with a reason.
    RetractRecord {
        local_id: String,
        source_system_id: String,
        reason: String,
    },
}

/// Up to 50,000 operations, applied in order. Each succeeds or fails on its own and
/// entirely: a failed item leaves nothing half-written, and does not stop the others.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [
    {"op": "upsert_child", "local_id": "NPS-000123", "child": {"demographics": {
        "given_name": "Amelia", "family_name": "Okafor", "date_of_birth": "2014-03-09"}}},
    {"op": "upsert_record", "local_id": "NPS-000123", "record": {
        "source_system_id": "MIS-ATT-2026-AUT-000123", "category": "attendance",
        "effective_from": "2026-09-03", "impact": "Attendance 84% this half-term: persistent absence",
        "details": {"sessions_possible": 100, "sessions_present": 84, "authorised_absence": 6,
                    "unauthorised_absence": 10}}},
    {"op": "retract_record", "local_id": "NPS-000123", "source_system_id": "MIS-BEH-77",
     "reason": "entered against the wrong pupil"}
]}))]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[schema(value_type = Vec<BatchOperation>)]
    pub items: Vec<serde_json::Value>,
}

/// What one item of a batch did: the one vocabulary of batch (and import) outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchOutcome {
    /// A child or record that was new (status 201).
    Created,
    /// An existing child or record, replaced (status 200).
    Updated,
    /// A record retracted (status 200).
    Retracted,
    /// Nothing written; `problem` says why (status 400, 404, 409 or 412).
    Failed,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchItemResult {
    /// The item's position in the request, from 0.
    pub index: usize,
    /// The status the item would have had as a single request (200, 201, 400, 404, 409).
    pub status: u16,
    pub outcome: BatchOutcome,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::problem::Problem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BatchItemResult>,
}

/// One change of the node's change feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordChange {
    /// The change's number; pass the last one you processed as `since`.
    pub change: i64,
    /// The child's local id.
    pub local_id: String,
    pub record: Record,
    /// The record was retracted (with this reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracted: Option<String>,
}

/// Records changed since a cursor, oldest change first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeFeed {
    pub changes: Vec<RecordChange>,
    /// Pass this as `since` next time.
    pub next: i64,
    /// More changes are waiting beyond this page.
    pub more: bool,
}
