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
///
/// Names have 1 to 100 characters and no control characters. The date of birth lies
/// between 1990-01-01 and today, or up to 10 months ahead for an expected date of birth
/// (an unborn child). Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "given_name": "Amelia", "family_name": "Okafor", "date_of_birth": "2014-03-09",
    "sex": "female", "postcode": "ZZ1 4AB"
}))]
pub struct Demographics {
    /// First name as used by the agency.
    pub given_name: String,
    /// Family name (surname).
    pub family_name: String,
    /// Date of birth, ISO 8601 (`YYYY-MM-DD`), from 1990-01-01 to 10 months ahead.
    #[serde(deserialize_with = "crate::dates::date")]
    #[schema(value_type = String, format = Date, example = "2014-03-09")]
    pub date_of_birth: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Home postcode; spacing and case are normalised for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

impl Demographics {
    /// Every invalid field, each named `{prefix}{field}`, judged on the day `today`.
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        self.check_on(crate::dates::today(), prefix, errors);
    }

    /// [`Demographics::validate`] on a given day (the bounds of a date of birth move
    /// with it).
    pub fn check_on(&self, today: NaiveDate, prefix: &str, errors: &mut Vec<FieldError>) {
        for (field, value) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            if let Some(message) = name_problem(value) {
                errors.push(FieldError::new(format!("{prefix}{field}"), message));
            }
        }
        if let Some(message) = date_of_birth_problem(self.date_of_birth, today) {
            errors.push(FieldError::new(format!("{prefix}date_of_birth"), message));
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

impl crate::fields::Fields for Demographics {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        self.validate("", errors);
    }
}

/// Whom a search looks for. Any field may be missing, as in what a node stores, under
/// the rule by which a child is stored: a family name with a given name, a date of birth
/// or a postcode; or a given name with a date of birth; or, beside them in the query, a
/// UPN or NHS number. Less is refused (400 naming `demographics`).
///
/// A field the search lacks is no evidence, neither for nor against. A search without a
/// given name links no child on demographics (the given name is what tells twins
/// apart): it is answered with candidates at most. A search without a family name or a
/// date of birth links only a child whose given name agrees exactly or as a known
/// short form. Each field present obeys the rules of a child's demographics: names of 1
/// to 100 characters without control characters, a date of birth from 1990-01-01 to 10
/// months ahead, a UK postcode. Unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "given_name": "Amelia", "family_name": "Okafor", "date_of_birth": "2014-03-09",
    "sex": "female", "postcode": "ZZ1 4AB"
}))]
pub struct SearchDemographics {
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (surname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Date of birth, ISO 8601 (`YYYY-MM-DD`), from 1990-01-01 to 10 months ahead.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::dates::optional_date"
    )]
    #[schema(value_type = Option<String>, format = Date, example = "2014-03-09")]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Home postcode; spacing and case are normalised for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
}

/// The one rule of what demographics are enough to find a child by, stored or searched
/// for (with no identifier): a family name with a given name, a date of birth or a
/// postcode; or a given name with a date of birth. Each flag says whether that field is
/// stated.
pub fn enough_to_find(given: bool, family: bool, dated: bool, postcode: bool) -> bool {
    (family && (given || dated || postcode)) || (given && dated)
}

/// Why a search's demographics are not enough to search by, when they are not.
pub const SEARCH_NOT_ENOUGH: &str = "not enough to search by: give a UPN or NHS number, a \
     family name with a given name, date of birth or postcode, or a given name with a date \
     of birth";

impl SearchDemographics {
    /// Every invalid field present, each named `{prefix}{field}`; a missing field is
    /// not an error.
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        self.check_on(crate::dates::today(), prefix, errors);
    }

    /// [`SearchDemographics::validate`] on a given day.
    pub fn check_on(&self, today: NaiveDate, prefix: &str, errors: &mut Vec<FieldError>) {
        KnownDemographics::from(self.clone()).check_on(today, prefix, errors);
    }

    /// Whether these demographics alone are enough to search by: the rule of
    /// [`ChildUpsert::enough_to_find`] without identifiers.
    pub fn enough(&self) -> bool {
        enough_to_find(
            self.given_name.is_some(),
            self.family_name.is_some(),
            self.date_of_birth.is_some(),
            self.postcode.is_some(),
        )
    }

    /// Names and date of birth all stated (a search as every search was before partial
    /// ones).
    pub fn complete(&self) -> Option<Demographics> {
        KnownDemographics::from(self.clone()).complete()
    }

    /// The given name, or `""` when the search has none (how matching reads a missing
    /// name).
    pub fn given(&self) -> &str {
        self.given_name.as_deref().unwrap_or_default()
    }

    /// The family name, or `""` when the search has none.
    pub fn family(&self) -> &str {
        self.family_name.as_deref().unwrap_or_default()
    }
}

impl From<Demographics> for SearchDemographics {
    fn from(d: Demographics) -> Self {
        Self {
            given_name: Some(d.given_name),
            family_name: Some(d.family_name),
            date_of_birth: Some(d.date_of_birth),
            sex: d.sex,
            postcode: d.postcode,
        }
    }
}

impl From<&KnownDemographics> for SearchDemographics {
    /// What a search for a child held with these demographics states: every field of
    /// a search that is known (a partial child's as far as it goes); the preferred and
    /// former names are not search fields.
    fn from(d: &KnownDemographics) -> Self {
        Self {
            given_name: d.given_name.clone(),
            family_name: d.family_name.clone(),
            date_of_birth: d.date_of_birth,
            sex: d.sex,
            postcode: d.postcode.clone(),
        }
    }
}

impl From<SearchDemographics> for KnownDemographics {
    fn from(d: SearchDemographics) -> Self {
        Self {
            given_name: d.given_name,
            family_name: d.family_name,
            date_of_birth: d.date_of_birth,
            sex: d.sex,
            postcode: d.postcode,
            ..Self::default()
        }
    }
}

impl crate::fields::Fields for SearchDemographics {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        self.validate("", errors);
    }
}

/// What an agency knows of who the child is: any field may be missing. A police or
/// health system often lacks a date of birth or a name, and the children in need census
/// carries no names at all; such a child is still a child (see
/// [`ChildUpsert::enough_to_find`]). A missing field is no evidence when matching,
/// neither for nor against. Each field present obeys the rules of [`Demographics`].
///
/// A search states whom it looks for with [`SearchDemographics`], under the same rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "given_name": "Amelia", "family_name": "Okafor", "date_of_birth": "2014-03-09",
    "sex": "female", "postcode": "ZZ1 4AB"
}))]
pub struct KnownDemographics {
    /// First name as used by the agency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (surname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Date of birth, ISO 8601 (`YYYY-MM-DD`), from 1990-01-01 to 10 months ahead (an
    /// expected date of birth).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::dates::optional_date"
    )]
    #[schema(value_type = Option<String>, format = Date, example = "2014-03-09")]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Home postcode; spacing and case are normalised for matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// The first name the child uses, where it differs from `given_name` (the legal
    /// name, which matching compares). Stored and returned only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_given_name: Option<String>,
    /// The family name the child uses, where it differs from `family_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_family_name: Option<String>,
    /// Family names the child was known by before, most recent first; at most
    /// [`FORMER_MAX`], each a name by the rules above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_family_names: Vec<String>,
}

/// Most former family names, or former UPNs, a child holds.
pub const FORMER_MAX: usize = 10;

impl KnownDemographics {
    /// Every invalid field present, each named `{prefix}{field}`; a missing field is
    /// not an error.
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        self.check_on(crate::dates::today(), prefix, errors);
    }

    /// [`KnownDemographics::validate`] on a given day.
    pub fn check_on(&self, today: NaiveDate, prefix: &str, errors: &mut Vec<FieldError>) {
        for (field, value) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("preferred_given_name", &self.preferred_given_name),
            ("preferred_family_name", &self.preferred_family_name),
        ] {
            if let Some(message) = value.as_deref().and_then(name_problem) {
                errors.push(FieldError::new(format!("{prefix}{field}"), message));
            }
        }
        if self.former_family_names.len() > FORMER_MAX {
            errors.push(FieldError::new(
                format!("{prefix}former_family_names"),
                format!("at most {FORMER_MAX} former family names"),
            ));
        }
        for (i, name) in self.former_family_names.iter().enumerate() {
            if let Some(message) = name_problem(name) {
                errors.push(FieldError::new(
                    format!("{prefix}former_family_names[{i}]"),
                    message,
                ));
            }
        }
        if let Some(message) = self
            .date_of_birth
            .and_then(|d| date_of_birth_problem(d, today))
        {
            errors.push(FieldError::new(format!("{prefix}date_of_birth"), message));
        }
        if let Some(postcode) = &self.postcode
            && let Some(message) = postcode_problem(postcode)
        {
            errors.push(FieldError::new(format!("{prefix}postcode"), message));
        }
    }

    /// The demographics a search could state, when the names and the date of birth are
    /// all known.
    pub fn complete(&self) -> Option<Demographics> {
        Some(Demographics {
            given_name: self.given_name.clone()?,
            family_name: self.family_name.clone()?,
            date_of_birth: self.date_of_birth?,
            sex: self.sex,
            postcode: self.postcode.clone(),
        })
    }
}

impl From<Demographics> for KnownDemographics {
    fn from(d: Demographics) -> Self {
        Self {
            given_name: Some(d.given_name),
            family_name: Some(d.family_name),
            date_of_birth: Some(d.date_of_birth),
            sex: d.sex,
            postcode: d.postcode,
            ..Self::default()
        }
    }
}

impl crate::fields::Fields for KnownDemographics {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        self.validate("", errors);
    }
}

/// Why a postcode is not acceptable, if it is not.
fn postcode_problem(postcode: &str) -> Option<&'static str> {
    let compact = normalise_postcode(postcode);
    (!(5..=7).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some("must be a UK postcode such as ZZ1 4AB")
}

/// Longest name the federation takes, in characters.
pub const NAME_MAX: usize = 100;

/// How many months ahead an expected date of birth (an unborn child) may lie.
pub const EXPECTED_BIRTH_MONTHS: u32 = 10;

/// Why a name is not acceptable, if it is not: 1 to [`NAME_MAX`] characters, not only
/// spaces, and no control characters (a NUL or a line break in a name breaks every
/// letter, screen and export that prints it).
pub fn name_problem(name: &str) -> Option<String> {
    let len = name.chars().count();
    if name.trim().is_empty() || len > NAME_MAX {
        Some(format!(
            "must have 1 to {NAME_MAX} characters, not only spaces"
        ))
    } else if name.chars().any(invisible) {
        Some("must not contain control characters (such as NUL, tab or a line break)".into())
    } else {
        None
    }
}

/// The latest date of birth taken on `today`: an expected date of birth up to
/// [`EXPECTED_BIRTH_MONTHS`] ahead.
pub fn latest_date_of_birth(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_months(chrono::Months::new(EXPECTED_BIRTH_MONTHS))
        .unwrap_or(today)
}

/// Why a date of birth is not acceptable on `today`, if it is not.
pub fn date_of_birth_problem(date: NaiveDate, today: NaiveDate) -> Option<String> {
    let latest = latest_date_of_birth(today);
    (date < crate::dates::EARLIEST || date > latest).then(|| {
        format!(
            "{} (today, or up to {EXPECTED_BIRTH_MONTHS} months ahead for an expected date of birth)",
            crate::dates::range_message(crate::dates::EARLIEST, latest)
        )
    })
}

/// Characters no name or id may hold: control characters, and the invisible ones that
/// make two equal-looking values differ (zero-width spaces, byte-order marks, line and
/// paragraph separators).
pub(crate) fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Longest local id the federation takes, in characters.
pub const LOCAL_ID_MAX: usize = 100;

/// Why a local id (the child's id in the agency's own system) is not acceptable, if it
/// is not: 1 to [`LOCAL_ID_MAX`] printable characters, no control or invisible
/// characters, no path separators (`/`, `\\`), no spaces at either end, and not `.` or
/// `..`. The id travels in URL paths, file names of exports and audit entries.
pub fn local_id_problem(local_id: &str) -> Option<String> {
    let len = local_id.chars().count();
    if len == 0 || len > LOCAL_ID_MAX {
        Some(format!("must have 1 to {LOCAL_ID_MAX} characters"))
    } else if local_id.chars().any(invisible) {
        Some("must not contain control characters".into())
    } else if local_id.contains(['/', '\\']) {
        Some("must not contain path separators (/ or \\)".into())
    } else if local_id.trim() != local_id {
        Some("must not start or end with a space".into())
    } else if local_id == "." || local_id == ".." {
        Some("must not be . or ..".into())
    } else {
        None
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

/// National identifiers the agency holds for the child. Each is validated on input;
/// unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildIdentifiers {
    /// Unique Pupil Number (schools, virtual school, social care).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<Upn>,
    /// NHS number (health, social care).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<NhsNumber>,
    /// UPNs the child held before (a CTF's `FormerUPN`, a census's `FormerUPN`): at most
    /// [`FORMER_MAX`], each valid, none twice and none the current `upn`. A search by
    /// UPN finds the child by any of them, as it does by `upn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>, example = json!(["R999123456780"]))]
    pub former_upns: Vec<Upn>,
}

impl crate::fields::Fields for ChildIdentifiers {
    fn check(&mut self, errors: &mut Vec<FieldError>) {
        self.validate("", errors);
    }

    fn listed() -> &'static [&'static str] {
        &["former_upns"]
    }
}

impl ChildIdentifiers {
    /// Whether no identifier is given. Former UPNs alone find a child (a search by UPN
    /// reads them), so they count.
    pub fn is_empty(&self) -> bool {
        self.upn.is_none() && self.nhs_number.is_none() && self.former_upns.is_empty()
    }

    /// Every rule across the identifiers broken, each named `{prefix}{field}`: the
    /// number of former UPNs, one given twice, one that is the current UPN.
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        if self.former_upns.len() > FORMER_MAX {
            errors.push(FieldError::new(
                format!("{prefix}former_upns"),
                format!("at most {FORMER_MAX} former UPNs"),
            ));
        }
        for (i, former) in self.former_upns.iter().enumerate() {
            if self.upn.as_ref() == Some(former) {
                errors.push(FieldError::new(
                    format!("{prefix}former_upns[{i}]"),
                    "is the current UPN (identifiers.upn), not a former one",
                ));
            } else if self.former_upns[..i].contains(former) {
                errors.push(FieldError::new(
                    format!("{prefix}former_upns[{i}]"),
                    "is given twice",
                ));
            }
        }
    }

    /// Every UPN the child is known by: the current one, then the former ones.
    pub fn all_upns(&self) -> impl Iterator<Item = &Upn> {
        self.upn.iter().chain(&self.former_upns)
    }
}

/// A child as the agency's own system sends it: its local id is the key.
///
/// A child is stored with any of: a valid identifier (UPN or NHS number); a family name
/// with one more fact (a given name, a date of birth or a postcode); a given name with a
/// date of birth. Anything less could never be found again, and is refused naming
/// `demographics`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "demographics": {"given_name": "Amelia", "family_name": "Okafor",
      "date_of_birth": "2014-03-09", "sex": "female", "postcode": "ZZ1 4AB"},
    "identifiers": {"upn": "U999123456789"}
}))]
#[serde(deny_unknown_fields)]
pub struct ChildUpsert {
    /// What the agency knows of the child; may be partial, or absent when an
    /// identifier is given (see the rule above).
    #[serde(default, deserialize_with = "crate::object::object")]
    pub demographics: KnownDemographics,
    #[serde(default, deserialize_with = "crate::object::object")]
    pub identifiers: ChildIdentifiers,
}

impl ChildUpsert {
    /// Parses a child from JSON, listing every invalid field at every level at once
    /// (`demographics.date_of_birth`, `identifiers.upn`, an unknown `ethnicity`), each
    /// named with `prefix` before it (`"child."` in a batch item).
    pub fn parse(value: &serde_json::Value, prefix: &str) -> Result<Self, Vec<FieldError>> {
        let serde_json::Value::Object(object) = value else {
            return Err(vec![FieldError::new(
                whole(prefix),
                "must be a JSON object with demographics and identifiers",
            )]);
        };
        let mut errors = Vec::new();
        for name in object.keys() {
            if name != "demographics" && name != "identifiers" {
                errors.push(FieldError::new(
                    format!("{prefix}{name}"),
                    "unknown field; the fields here are demographics, identifiers",
                ));
            }
        }
        // Absent when unknown; `null` is not an object, as the schema says.
        let demographics = match object.get("demographics") {
            None => Some(KnownDemographics::default()),
            Some(d) => {
                crate::fields::parse::<KnownDemographics>(d, &format!("{prefix}demographics."))
                    .map_err(|e| errors.extend(e))
                    .ok()
            }
        };
        let identifiers = match object.get("identifiers") {
            None => Some(ChildIdentifiers::default()),
            Some(i) => {
                crate::fields::parse::<ChildIdentifiers>(i, &format!("{prefix}identifiers."))
                    .map_err(|e| errors.extend(e))
                    .ok()
            }
        };
        match (demographics, identifiers) {
            (Some(demographics), Some(identifiers)) if errors.is_empty() => {
                let child = ChildUpsert {
                    demographics,
                    identifiers,
                };
                match child.enough_to_find() {
                    Ok(()) => Ok(child),
                    Err(e) => Err(vec![FieldError::new(
                        format!("{prefix}{}", e.field),
                        e.message,
                    )]),
                }
            }
            _ => Err(errors),
        }
    }

    /// Every invalid field, and whether the child can be found at all.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.demographics.validate("demographics.", &mut errors);
        self.identifiers.validate("identifiers.", &mut errors);
        if errors.is_empty()
            && let Err(e) = self.enough_to_find()
        {
            errors.push(e);
        }
        errors
    }

    /// Whether the child holds enough to be found again: a valid identifier; a family
    /// name with a given name, a date of birth or a postcode; or a given name with a
    /// date of birth.
    pub fn enough_to_find(&self) -> Result<(), FieldError> {
        let d = &self.demographics;
        let enough = !self.identifiers.is_empty()
            || enough_to_find(
                d.given_name.is_some(),
                d.family_name.is_some(),
                d.date_of_birth.is_some(),
                d.postcode.is_some(),
            );
        if enough {
            Ok(())
        } else {
            Err(FieldError::new(
                "demographics",
                "not enough to find this child again: give a UPN or NHS number, a family \
                 name with a given name, date of birth or postcode, or a given name with a \
                 date of birth",
            ))
        }
    }
}

/// The name of a whole value at `prefix` (`child` for `child.`), or `body`.
fn whole(prefix: &str) -> String {
    match prefix.trim_end_matches('.') {
        "" => "body".to_owned(),
        name => name.to_owned(),
    }
}

/// A child held by a node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Child {
    /// The id the agency's own system uses for the child.
    pub local_id: String,
    pub demographics: KnownDemographics,
    pub identifiers: ChildIdentifiers,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn demographics_and_identifiers_must_be_objects_not_arrays_of_their_fields() {
        let child = serde_json::json!({
            "demographics": {"given_name": "Amelia", "family_name": "Okafor",
                             "date_of_birth": "2014-03-09"},
            "identifiers": [null, null]
        });
        let errors = ChildUpsert::parse(&child, "").unwrap_err();
        assert_eq!(errors[0].field, "identifiers", "{errors:?}");
        let child = serde_json::json!({"demographics": ["Amelia", "Okafor"]});
        let errors = ChildUpsert::parse(&child, "").unwrap_err();
        assert_eq!(errors[0].field, "demographics", "{errors:?}");
        let child = serde_json::json!({"demographics": null,
                                       "identifiers": {"upn": "U999123456789"}});
        let errors = ChildUpsert::parse(&child, "").unwrap_err();
        assert_eq!(errors[0].field, "demographics", "{errors:?}");
    }
}

#[cfg(test)]
mod former_tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn preferred_and_former_names_and_former_upns_round_trip() {
        let body = json!({
            "demographics": {"given_name": "Amelia", "family_name": "Okafor",
                             "preferred_given_name": "Millie",
                             "preferred_family_name": "Okafor-Reid",
                             "former_family_names": ["Reid", "Stone"]},
            "identifiers": {"upn": "U999123456789", "former_upns": ["R999123456780"]}
        });
        let child = ChildUpsert::parse(&body, "").unwrap();
        assert_eq!(
            child.demographics.preferred_given_name.as_deref(),
            Some("Millie")
        );
        assert_eq!(child.demographics.former_family_names, ["Reid", "Stone"]);
        assert_eq!(child.identifiers.former_upns[0].as_str(), "R999123456780");
        assert_eq!(
            serde_json::to_value(&child.demographics).unwrap(),
            body["demographics"]
        );
        assert_eq!(
            serde_json::to_value(&child.identifiers).unwrap(),
            body["identifiers"]
        );
        // None held: the fields are left out, not sent empty.
        let plain = ChildIdentifiers::default();
        assert_eq!(serde_json::to_value(&plain).unwrap(), json!({}));
    }

    #[test]
    fn each_bad_former_upn_and_name_is_named_with_its_index() {
        let body = json!({
            "demographics": {"given_name": "Amelia", "family_name": "Okafor",
                             "preferred_given_name": "Mil\u{0}lie",
                             "former_family_names": ["Reid", "", "St\none"]},
            "identifiers": {"upn": "U999123456789",
                            "former_upns": ["R999123456780", "A999123456780", 7]}
        });
        let errors = ChildUpsert::parse(&body, "child.").unwrap_err();
        let mut named = fields(&errors);
        named.sort();
        assert_eq!(
            named,
            [
                "child.demographics.former_family_names[1]",
                "child.demographics.former_family_names[2]",
                "child.demographics.preferred_given_name",
                "child.identifiers.former_upns[1]",
                "child.identifiers.former_upns[2]",
            ],
            "{errors:?}"
        );
    }

    #[test]
    fn former_upns_are_bounded_distinct_and_not_the_current_one() {
        let many: Vec<String> = (0..=FORMER_MAX as u32)
            .map(|n| {
                Upn::with_check_letter(&format!("998{n:09}"))
                    .unwrap()
                    .as_str()
                    .to_owned()
            })
            .collect();
        let body = json!({"identifiers": {"upn": "U999123456789", "former_upns": many}});
        let errors = ChildUpsert::parse(&body, "").unwrap_err();
        assert_eq!(fields(&errors), ["identifiers.former_upns"], "{errors:?}");
        let body = json!({"identifiers": {"upn": "U999123456789",
            "former_upns": ["R999123456780", "U999123456789", "R999123456780"]}});
        let errors = ChildUpsert::parse(&body, "").unwrap_err();
        assert_eq!(
            fields(&errors),
            ["identifiers.former_upns[1]", "identifiers.former_upns[2]"],
            "{errors:?}"
        );
        let names: Vec<String> = (0..=FORMER_MAX).map(|n| format!("Reid{n}")).collect();
        let body = json!({"demographics": {"family_name": "Okafor", "given_name": "Amelia",
                                           "former_family_names": names}});
        let errors = ChildUpsert::parse(&body, "").unwrap_err();
        assert_eq!(
            fields(&errors),
            ["demographics.former_family_names"],
            "{errors:?}"
        );
        // Unknown fields are still refused beside them.
        let body = json!({"demographics": {"family_name": "Okafor", "given_name": "Amelia",
                                           "former_given_names": ["Amy"]},
                          "identifiers": {"former_upn": "R999123456780"}});
        let errors = ChildUpsert::parse(&body, "").unwrap_err();
        let mut named = fields(&errors);
        named.sort();
        assert_eq!(
            named,
            ["demographics.former_given_names", "identifiers.former_upn"]
        );
    }

    #[test]
    fn a_former_upn_alone_is_enough_to_find_a_child() {
        let body = json!({"identifiers": {"former_upns": ["R999123456780"]}});
        assert!(ChildUpsert::parse(&body, "").is_ok());
    }
}
