//! Rows as stored, and their conversion to the wire types of `schemas`.

use super::DbError;
use super::schema::{children, records};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use schemas::{
    Child, ChildIdentifiers, Demographics, NhsNumber, Record, RecordCategory, RecordDetails, Sex,
    Upn,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = children)]
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
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = records)]
// An update writes every column: a cleared `effective_to` must become NULL.
#[diesel(treat_none_as_null = true)]
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
        d: &Demographics,
        ids: &ChildIdentifiers,
        now: NaiveDateTime,
    ) -> Self {
        let keys = matching::stored_keys(d);
        Self {
            id,
            local_id: local_id.to_owned(),
            given_name: d.given_name.trim().to_owned(),
            family_name: d.family_name.trim().to_owned(),
            given_name_norm: schemas::child::normalise_name(&d.given_name),
            family_name_norm: schemas::child::normalise_name(&d.family_name),
            date_of_birth: d.date_of_birth,
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
        }
    }

    pub fn into_wire(self) -> Result<Child, DbError> {
        let corrupt = |e: schemas::InvalidIdentifier| DbError::Corrupt(e.0);
        Ok(Child {
            local_id: self.local_id,
            demographics: Demographics {
                given_name: self.given_name,
                family_name: self.family_name,
                date_of_birth: self.date_of_birth,
                sex: self.sex.as_deref().and_then(sex_from_str),
                postcode: self.postcode,
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
