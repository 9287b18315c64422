//! A child as an agency's system writes it (demographics and identifiers) and as a
//! node returns it, with their validation.

use crate::identifiers::{NhsNumber, Upn};
use crate::problem::FieldError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Sex as recorded by the agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Unknown,
}

/// Who the child is, as the agency knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "given_name": "Amelia", "family_name": "Okafor", "date_of_birth": "2014-03-09",
    "sex": "female", "postcode": "ZZ1 4AB"
}))]
pub struct Demographics {
    /// First name as used by the agency.
    pub given_name: String,
    /// Family name (surname).
    pub family_name: String,
    /// Date of birth, ISO 8601 (`YYYY-MM-DD`).
    #[schema(value_type = String, format = Date, example = "2014-03-09")]
    pub date_of_birth: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Home postcode; spacing and case are normalised for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

impl Demographics {
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        for (field, value) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            let len = value.trim().chars().count();
            if len == 0 || len > 100 {
                errors.push(FieldError::new(
                    format!("{prefix}{field}"),
                    "must have 1 to 100 characters",
                ));
            }
        }
        if let Some(postcode) = &self.postcode {
            let compact = normalise_postcode(postcode);
            if !(5..=7).contains(&compact.len())
                || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                errors.push(FieldError::new(
                    format!("{prefix}postcode"),
                    "must be a UK postcode such as ZZ1 4AB",
                ));
            }
        }
    }
}

/// Upper-case, no spaces: the form postcodes are compared in.
pub fn normalise_postcode(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// A name in the form exact demographic matching compares: trimmed, lower-case.
pub fn normalise_name(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// National identifiers the agency holds for the child. Each is validated on input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChildIdentifiers {
    /// Unique Pupil Number (schools, virtual school, social care).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<Upn>,
    /// NHS number (health, social care).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
}

impl ChildIdentifiers {
    pub fn is_empty(&self) -> bool {
        self.upn.is_none() && self.nhs_number.is_none()
    }
}

/// A child as the agency's own system sends it: its local id is the key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "demographics": {"given_name": "Amelia", "family_name": "Okafor",
      "date_of_birth": "2014-03-09", "sex": "female", "postcode": "ZZ1 4AB"},
    "identifiers": {"upn": "U999123456789"}
}))]
pub struct ChildUpsert {
    #[serde(deserialize_with = "crate::object::object")]
    pub demographics: Demographics,
    #[serde(default, deserialize_with = "crate::object::object")]
    pub identifiers: ChildIdentifiers,
}

impl ChildUpsert {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.demographics.validate("demographics.", &mut errors);
        errors
    }
}

/// A child held by a node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Child {
    /// The id the agency's own system uses for the child.
    pub local_id: String,
    pub demographics: Demographics,
    pub identifiers: ChildIdentifiers,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}
