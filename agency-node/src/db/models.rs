//! Rows as stored, and their conversion to the wire types of `schemas`.

use super::DbError;
use super::schema::{children, records};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use schemas::{
    Child, ChildIdentifiers, KnownDemographics, NhsNumber, Record, RecordCategory, RecordDetails,
    Sex, Upn,
};

/// The `date_of_birth` stored for a child whose date of birth is not known (the column
/// is `NOT NULL` since the first migration): a date no child carries (dates of birth
/// start in 1990), read back as none. Its birth year is [`matching::UNKNOWN_BIRTH_YEAR`];
/// an unknown name is stored as `""`.
pub const UNKNOWN_DATE_OF_BIRTH: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(date) => date,
    None => panic!("a valid constant date"),
};

/// A stored date of birth, `None` when not known.
pub fn known_date_of_birth(stored: NaiveDate) -> Option<NaiveDate> {
    (stored != UNKNOWN_DATE_OF_BIRTH).then_some(stored)
}

/// A stored name, `None` when not known.
fn known_name(stored: String) -> Option<String> {
    (!stored.is_empty()).then_some(stored)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = children)]
// An update replaces the child: a field no longer sent (a postcode, a preferred name)
// becomes NULL.
#[diesel(treat_none_as_null = true)]
// A missing value is NULL, not DEFAULT, in an INSERT too: what lets SQLite take many
// rows in one INSERT (with DEFAULT, diesel sends one statement a row).
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ChildRow {
    pub id: String,
    pub local_id: String,
    pub given_name: String,
    pub family_name: String,
    pub given_name_norm: String,
    pub family_name_norm: String,
    pub date_of_birth: NaiveDate,
    pub sex: Option<String>,
    pub postcode: Option<String>,
    pub postcode_norm: Option<String>,
    pub upn: Option<String>,
    pub nhs_number: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Blocking keys for matching, computed here at every write (see
    /// [`matching::keys`]).
    pub family_name_key: String,
    pub family_name_key2: Option<String>,
    pub birth_year: i32,
    pub postcode_sector: Option<String>,
    pub match_keys_version: i32,
    pub preferred_given_name: Option<String>,
    pub preferred_family_name: Option<String>,
    /// A JSON array of names, NULL when none.
    pub former_family_names: Option<String>,
    /// A JSON array of UPNs, NULL when none (also one a row in `child_former_upns`).
    pub former_upns: Option<String>,
}

/// A list as stored: a JSON array, NULL when empty.
fn stored_list<T: serde::Serialize>(list: &[T]) -> Option<String> {
    (!list.is_empty()).then(|| serde_json::to_string(list).unwrap_or_default())
}

/// A stored list, empty when NULL.
fn read_list(stored: Option<&str>) -> Result<Vec<String>, DbError> {
    stored.map_or(Ok(Vec::new()), |s| {
        serde_json::from_str(s).map_err(|e| DbError::Corrupt(format!("a stored list: {e}")))
    })
}

/// The former family names of a stored row (none when the stored list is unreadable).
pub fn former_family_names_of(stored: Option<&str>) -> Vec<String> {
    read_list(stored).unwrap_or_default()
}

/// The former UPNs of a stored row, as text (for comparisons).
pub fn former_upns_of(stored: Option<&str>) -> Vec<String> {
    read_list(stored).unwrap_or_default()
}

/// The columns of a child that demographic matching compares: a candidate read from a
/// blocking key carries only these (a broad search reads hundreds of rows, and each
/// column read is a copy and an allocation).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = children)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CandidateRow {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Option<String>,
    pub postcode: Option<String>,
    pub upn: Option<String>,
    pub nhs_number: Option<String>,
    /// A JSON array of UPNs, NULL when none: a search by UPN agrees with any of them.
    pub former_upns: Option<String>,
    /// A JSON array of names, NULL when none: a search by one of them agrees as by the
    /// family name (`family_name:former`).
    pub former_family_names: Option<String>,
}

impl CandidateRow {
    /// Whether `upn` is this child's UPN or one of its former UPNs.
    pub fn known_by_upn(&self, upn: &str) -> bool {
        self.upn.as_deref() == Some(upn)
            || (self.former_upns.is_some()
                && former_upns_of(self.former_upns.as_deref())
                    .iter()
                    .any(|f| f == upn))
    }
}

impl From<ChildRow> for CandidateRow {
    fn from(row: ChildRow) -> Self {
        Self {
            id: row.id,
            given_name: row.given_name,
            family_name: row.family_name,
            date_of_birth: row.date_of_birth,
            sex: row.sex,
            postcode: row.postcode,
            upn: row.upn,
            nhs_number: row.nhs_number,
            former_upns: row.former_upns,
            former_family_names: row.former_family_names,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = records)]
// An update writes every column: a cleared `effective_to` must become NULL.
#[diesel(treat_none_as_null = true)]
// A missing value is NULL, not DEFAULT, in an INSERT too: what lets SQLite take many
// rows in one INSERT (with DEFAULT, diesel sends one statement a row).
#[diesel(treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RecordRow {
    pub id: String,
    pub child_id: String,
    pub source_system_id: String,
    pub category: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub recorded_at: NaiveDateTime,
    pub impact: String,
    pub details: String,
    pub version: i64,
    pub updated_at: NaiveDateTime,
    pub change_seq: i64,
    pub retracted_at: Option<NaiveDateTime>,
    pub retraction_reason: Option<String>,
}

fn sex_to_str(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Unknown => "unknown",
    }
}

pub fn sex_from_str(s: &str) -> Option<Sex> {
    match s {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    }
}

impl ChildRow {
    pub fn new(
        id: String,
        local_id: &str,
        d: &KnownDemographics,
        ids: &ChildIdentifiers,
        now: NaiveDateTime,
    ) -> Self {
        let keys = matching::stored_keys_known(d);
        let given = d.given_name.as_deref().unwrap_or_default();
        let family = d.family_name.as_deref().unwrap_or_default();
        Self {
            id,
            local_id: local_id.to_owned(),
            given_name: given.trim().to_owned(),
            family_name: family.trim().to_owned(),
            given_name_norm: schemas::child::normalise_name(given),
            family_name_norm: schemas::child::normalise_name(family),
            date_of_birth: d.date_of_birth.unwrap_or(UNKNOWN_DATE_OF_BIRTH),
            sex: d.sex.map(|s| sex_to_str(s).to_owned()),
            postcode: d.postcode.as_ref().map(|p| p.trim().to_owned()),
            postcode_norm: d
                .postcode
                .as_deref()
                .map(schemas::child::normalise_postcode),
            upn: ids.upn.as_ref().map(|u| u.as_str().to_owned()),
            nhs_number: ids.nhs_number.as_ref().map(|n| n.as_str().to_owned()),
            created_at: now,
            updated_at: now,
            family_name_key: keys.family_name_key,
            family_name_key2: keys.family_name_key2,
            birth_year: keys.birth_year,
            postcode_sector: keys.postcode_sector,
            match_keys_version: matching::MATCH_KEYS_VERSION,
            preferred_given_name: d.preferred_given_name.as_ref().map(|n| n.trim().to_owned()),
            preferred_family_name: d
                .preferred_family_name
                .as_ref()
                .map(|n| n.trim().to_owned()),
            former_family_names: stored_list(
                &d.former_family_names
                    .iter()
                    .map(|n| n.trim())
                    .collect::<Vec<_>>(),
            ),
            former_upns: stored_list(&ids.former_upns),
        }
    }

    pub fn into_wire(self) -> Result<Child, DbError> {
        let corrupt = |e: schemas::InvalidIdentifier| DbError::Corrupt(e.0);
        Ok(Child {
            local_id: self.local_id,
            demographics: KnownDemographics {
                given_name: known_name(self.given_name),
                family_name: known_name(self.family_name),
                date_of_birth: known_date_of_birth(self.date_of_birth),
                sex: self.sex.as_deref().and_then(sex_from_str),
                postcode: self.postcode,
                preferred_given_name: self.preferred_given_name,
                preferred_family_name: self.preferred_family_name,
                former_family_names: read_list(self.former_family_names.as_deref())?,
            },
            identifiers: ChildIdentifiers {
                upn: self
                    .upn
                    .as_deref()
                    .map(Upn::parse)
                    .transpose()
                    .map_err(corrupt)?,
                nhs_number: self
                    .nhs_number
                    .as_deref()
                    .map(NhsNumber::parse)
                    .transpose()
                    .map_err(corrupt)?,
                former_upns: read_list(self.former_upns.as_deref())?
                    .iter()
                    .map(|u| Upn::parse(u))
                    .collect::<Result<_, _>>()
                    .map_err(corrupt)?,
            },
            updated_at: self.updated_at.and_utc(),
        })
    }
}

impl RecordRow {
    /// The stored details, typed as the stored category's; `None` when they do not read
    /// as that type.
    pub fn typed_details(&self) -> Option<RecordDetails> {
        let category = RecordCategory::parse(&self.category)?;
        let value: serde_json::Value = serde_json::from_str(&self.details).ok()?;
        RecordDetails::read(category, &value)
    }

    pub fn into_wire(self) -> Result<Record, DbError> {
        Ok(Record {
            category: RecordCategory::parse(&self.category)
                .ok_or_else(|| DbError::Corrupt(format!("unknown category {}", self.category)))?,
            details: Some(
                serde_json::from_str(&self.details)
                    .map_err(|e| DbError::Corrupt(format!("record details: {e}")))?,
            ),
            source_system_id: self.source_system_id,
            effective_from: self.effective_from,
            effective_to: self.effective_to,
            recorded_at: self.recorded_at.and_utc(),
            impact: self.impact,
            outline: None,
            version: self.version,
        })
    }
}
