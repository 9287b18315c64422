//! The keyed (privacy-preserving) match query: what a gateway in `matching.mode = "keyed"`
//! sends a node instead of plain demographics. Every value is a keyed encoding made with
//! the federation's matching key (see `docs/matching.md`): a token is the first 16 bytes
//! of an HMAC-SHA-256, in hex; a Bloom filter is a balanced, keyed Bloom filter of a
//! name's bigrams, in base64. No field carries a name, a date or a postcode in the clear.

use crate::problem::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Hex characters of one token (16 bytes).
pub const TOKEN_HEX_LEN: usize = 32;
/// Bytes of one balanced Bloom filter (2 × 512 bits).
pub const BLOOM_BYTES: usize = 128;
/// Most tokens in one list (name forms, short-form groups).
pub const MAX_TOKENS: usize = 16;
/// Most family blocking tokens in one query: a search without a date of birth sends its
/// family name with every birth year a child can have (about 40), for each part of a
/// double-barrelled name.
pub const MAX_BLOCK_TOKENS: usize = 96;

/// A keyed query for one child. Identifiers are tried first, as in plain mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedChildQuery {
    /// Which matching key made the encodings (a fingerprint of the key and of the
    /// encoding version, not the key). A node holding another key refuses the query.
    pub key_id: String,
    #[serde(default, deserialize_with = "crate::object::object")]
    pub identifiers: KeyedIdentifiers,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::optional_object"
    )]
    pub demographics: Option<KeyedDemographics>,
    /// The blocks the node reads candidates from; with demographics only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::object::optional_object"
    )]
    pub blocks: Option<KeyedBlocks>,
}

/// Tokens of the normalised UPN and NHS number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedIdentifiers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<String>,
}

/// One name, encoded for every comparison level of plain matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedName {
    /// Token of the whole normalised name; empty when the name normalises to nothing.
    pub exact: String,
    /// Tokens of the whole name and of each part that can stand for it.
    pub forms: Vec<String>,
    /// Tokens of the short-form groups any form belongs to (given names only).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Token of the phonetic code.
    pub phonetic: String,
    /// Balanced keyed Bloom filter of the name's padded bigrams, base64.
    pub bloom: String,
}

/// A date of birth, encoded for every comparison level of plain matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedDate {
    pub exact: String,
    /// The date with day and month exchanged, when that is a date (queries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swapped: Option<String>,
    /// Eight tokens, one per digit of `YYYYMMDD` with that digit masked.
    pub masked: Vec<String>,
    /// The dates with two adjacent digits of `YYYYMMDD` exchanged, when they are dates,
    /// as `exact` tokens (queries only): a date mistyped so is one keystroke off, as one
    /// digit off is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transposed: Vec<String>,
    /// Token of year and month.
    pub month: String,
}

impl KeyedDate {
    /// No date of birth (a partial child, or a search without one): every token empty,
    /// which compares as `missing`.
    pub fn missing() -> Self {
        Self {
            exact: String::new(),
            swapped: None,
            masked: Vec::new(),
            transposed: Vec::new(),
            month: String::new(),
        }
    }

    pub fn is_missing(&self) -> bool {
        self.exact.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedPostcode {
    pub full: String,
    pub sector: String,
    pub district: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedDemographics {
    pub given_name: KeyedName,
    pub family_name: KeyedName,
    pub date_of_birth: KeyedDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<KeyedPostcode>,
}

/// Tokens of the blocking keys of plain matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyedBlocks {
    /// Phonetic family name with postcode sector (any year), with birth year (with every
    /// year when the search has no date of birth), with day and month of birth, and with
    /// the unknown year, for the whole name and each part; at most 96.
    pub family: Vec<String>,
    /// Postcode sector with birth year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Postcode sector with the unknown year: the children held without a date of birth
    /// in the sector, whatever their family name (plain matching's block of the sector's
    /// undated children). A node of an earlier release ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_undated: Option<String>,
}

fn is_token(s: &str) -> bool {
    s.len() == TOKEN_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_token(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if !is_token(value) {
        errors.push(FieldError::new(
            field,
            format!("must be a token of {TOKEN_HEX_LEN} hex characters"),
        ));
    }
}

fn check_list(field: &str, values: &[String], errors: &mut Vec<FieldError>) {
    if values.len() > MAX_TOKENS {
        errors.push(FieldError::new(
            field,
            format!("at most {MAX_TOKENS} tokens"),
        ));
    } else if !values.iter().all(|v| is_token(v)) {
        errors.push(FieldError::new(
            field,
            format!("every item must be a token of {TOKEN_HEX_LEN} hex characters"),
        ));
    }
}

fn check_name(field: &str, name: &KeyedName, errors: &mut Vec<FieldError>) {
    if !name.exact.is_empty() {
        check_token(&format!("{field}.exact"), &name.exact, errors);
    }
    check_list(&format!("{field}.forms"), &name.forms, errors);
    check_list(&format!("{field}.aliases"), &name.aliases, errors);
    if !name.phonetic.is_empty() {
        check_token(&format!("{field}.phonetic"), &name.phonetic, errors);
    }
    // Base64 of BLOOM_BYTES bytes, with padding.
    let b64_len = BLOOM_BYTES.div_ceil(3) * 4;
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    if name.bloom.len() != b64_len || !name.bloom.bytes().all(b64) {
        errors.push(FieldError::new(
            format!("{field}.bloom"),
            format!("must be the base64 of a {BLOOM_BYTES}-byte Bloom filter"),
        ));
    }
}

fn check_date(date: &KeyedDate, errors: &mut Vec<FieldError>) {
    check_token("demographics.date_of_birth.exact", &date.exact, errors);
    if let Some(s) = &date.swapped {
        check_token("demographics.date_of_birth.swapped", s, errors);
    }
    if date.masked.len() != 8 {
        errors.push(FieldError::new(
            "demographics.date_of_birth.masked",
            "must hold eight tokens",
        ));
    } else {
        check_list("demographics.date_of_birth.masked", &date.masked, errors);
    }
    // Seven pairs of adjacent digits in `YYYYMMDD`.
    if date.transposed.len() > 7 {
        errors.push(FieldError::new(
            "demographics.date_of_birth.transposed",
            "at most seven tokens",
        ));
    } else {
        check_list(
            "demographics.date_of_birth.transposed",
            &date.transposed,
            errors,
        );
    }
    check_token("demographics.date_of_birth.month", &date.month, errors);
}

impl KeyedChildQuery {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.key_id.is_empty() || self.key_id.len() > 64 {
            errors.push(FieldError::new("key_id", "must have 1 to 64 characters"));
        }
        if let Some(upn) = &self.identifiers.upn {
            check_token("identifiers.upn", upn, &mut errors);
        }
        if let Some(nhs) = &self.identifiers.nhs_number {
            check_token("identifiers.nhs_number", nhs, &mut errors);
        }
        match (&self.demographics, &self.blocks) {
            (Some(d), Some(blocks)) => {
                check_name("demographics.given_name", &d.given_name, &mut errors);
                check_name("demographics.family_name", &d.family_name, &mut errors);
                let date = &d.date_of_birth;
                if date.is_missing() {
                    if date.swapped.is_some()
                        || !date.masked.is_empty()
                        || !date.transposed.is_empty()
                        || !date.month.is_empty()
                    {
                        errors.push(FieldError::new(
                            "demographics.date_of_birth",
                            "a missing date of birth has every token empty",
                        ));
                    }
                } else {
                    check_date(date, &mut errors);
                }
                if let Some(sex) = &d.sex {
                    check_token("demographics.sex", sex, &mut errors);
                }
                if let Some(p) = &d.postcode {
                    check_token("demographics.postcode.full", &p.full, &mut errors);
                    check_token("demographics.postcode.sector", &p.sector, &mut errors);
                    check_token("demographics.postcode.district", &p.district, &mut errors);
                }
                if blocks.family.len() > MAX_BLOCK_TOKENS {
                    errors.push(FieldError::new(
                        "blocks.family",
                        format!("at most {MAX_BLOCK_TOKENS} tokens"),
                    ));
                } else if !blocks.family.iter().all(|v| is_token(v)) {
                    errors.push(FieldError::new(
                        "blocks.family",
                        format!("every item must be a token of {TOKEN_HEX_LEN} hex characters"),
                    ));
                }
                let stated = |name: &KeyedName| !name.exact.is_empty();
                let (given, family) = (stated(&d.given_name), stated(&d.family_name));
                let dated = !d.date_of_birth.is_missing();
                let enough =
                    crate::child::enough_to_find(given, family, dated, d.postcode.is_some());
                let no_identifiers =
                    self.identifiers.upn.is_none() && self.identifiers.nhs_number.is_none();
                if errors.is_empty() && no_identifiers && !enough {
                    errors.push(FieldError::new(
                        "demographics",
                        crate::child::SEARCH_NOT_ENOUGH,
                    ));
                }
                if let Some(s) = &blocks.sector {
                    check_token("blocks.sector", s, &mut errors);
                }
                if let Some(s) = &blocks.sector_undated {
                    check_token("blocks.sector_undated", s, &mut errors);
                }
            }
            (Some(_), None) => errors.push(FieldError::new(
                "blocks",
                "demographics need their blocking tokens",
            )),
            (None, Some(_)) => errors.push(FieldError::new(
                "demographics",
                "blocking tokens come with demographics",
            )),
            (None, None) => {
                if self.identifiers.upn.is_none() && self.identifiers.nhs_number.is_none() {
                    errors.push(FieldError::new(
                        "identifiers",
                        "give at least one identifier, or demographics",
                    ));
                }
            }
        }
        errors
    }
}
