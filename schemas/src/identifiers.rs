//! Identifiers that can only exist once validated: a value of these types has passed its
//! format and check-character rules, so code holding one never re-checks it.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// Why an identifier was rejected. The message is written for an integrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidIdentifier(pub String);

/// The 23 letters the DfE uses for UPN check characters (no I, O or S).
const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// Unique Pupil Number: 13 characters, a check letter then 12 characters (11 digits and a
/// final digit, or a final letter for a temporary UPN). Normalised to upper case without
/// spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "U999123456789", pattern = "^[A-Z][0-9]{11}[0-9A-Z]$")]
pub struct Upn(String);

impl Upn {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let value: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 13 {
            return Err(InvalidIdentifier(format!(
                "a UPN has 13 characters, this one has {}",
                bytes.len()
            )));
        }
        if !bytes[1..12].iter().all(u8::is_ascii_digit) {
            return Err(InvalidIdentifier(
                "characters 2 to 12 of a UPN must be digits".into(),
            ));
        }
        let mut sum: u32 = 0;
        for (i, b) in bytes[1..].iter().enumerate() {
            let weight = i as u32 + 2;
            let value = match b {
                b'0'..=b'9' => u32::from(b - b'0'),
                // A temporary UPN ends in a letter, valued by its place in the check alphabet.
                _ if i == 11 => match UPN_LETTERS.iter().position(|l| l == b) {
                    Some(p) => p as u32,
                    None => {
                        return Err(InvalidIdentifier(
                            "the last character of a UPN must be a digit or one of A-Z without I, O, S"
                                .into(),
                        ));
                    }
                },
                _ => {
                    return Err(InvalidIdentifier(
                        "characters 2 to 12 of a UPN must be digits".into(),
                    ));
                }
            };
            sum += weight * value;
        }
        let expected = UPN_LETTERS[(sum % 23) as usize];
        if bytes[0] != expected {
            return Err(InvalidIdentifier(format!(
                "UPN check letter does not match: expected {} for these digits",
                expected as char
            )));
        }
        Ok(Self(value))
    }

    /// Builds a valid UPN from its 12 trailing characters by computing the check letter.
    /// Used by synthetic data generators and tests.
    pub fn with_check_letter(body: &str) -> Result<Self, InvalidIdentifier> {
        let mut sum: u32 = 0;
        for (i, c) in body.chars().enumerate() {
            let d = c
                .to_digit(10)
                .ok_or_else(|| InvalidIdentifier("a UPN body must be 12 digits".into()))?;
            sum += (i as u32 + 2) * d;
        }
        let letter = UPN_LETTERS[(sum % 23) as usize] as char;
        Self::parse(&format!("{letter}{body}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// NHS number: 10 digits, the last a modulus-11 check digit. Spaces are accepted on input
/// and removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "9990000018", pattern = "^[0-9]{10}$")]
pub struct NhsNumber(String);

impl NhsNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let value: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidIdentifier(
                "an NHS number has exactly 10 digits".into(),
            ));
        }
        let digits: Vec<u32> = value.bytes().map(|b| u32::from(b - b'0')).collect();
        match nhs_check_digit(&digits[..9]) {
            Some(check) if check == digits[9] => Ok(Self(value)),
            Some(check) => Err(InvalidIdentifier(format!(
                "NHS number check digit does not match: expected {check} for these digits"
            ))),
            None => Err(InvalidIdentifier(
                "these first nine digits cannot form a valid NHS number".into(),
            )),
        }
    }

    /// Builds a valid NHS number from nine digits, or `None` where no check digit exists.
    pub fn with_check_digit(nine: &str) -> Option<Self> {
        let digits: Vec<u32> = nine
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()?;
        if digits.len() != 9 {
            return None;
        }
        let check = nhs_check_digit(&digits)?;
        Self::parse(&format!("{nine}{check}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Modulus 11 with weights 10..2; a result of 10 means the number is not valid.
fn nhs_check_digit(nine: &[u32]) -> Option<u32> {
    let sum: u32 = nine.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        check => Some(check),
    }
}

macro_rules! string_newtype_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = InvalidIdentifier;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype_conversions!(Upn);
string_newtype_conversions!(NhsNumber);

/// Identifier of a federation member (an agency, a gateway or an integration client):
/// lower-case letters, digits and hyphens, 2 to 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "school-a", pattern = "^[a-z0-9][a-z0-9-]{1,62}$")]
pub struct AgencyId(String);

impl AgencyId {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdentifier> {
        let ok = (2..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidIdentifier(format!(
                "'{raw}' is not a member id (lower-case letters, digits and hyphens, 2 to 63 characters)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
string_newtype_conversions!(AgencyId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_check_letter_round_trips() {
        let upn = Upn::with_check_letter("999123456789").unwrap();
        assert_eq!(Upn::parse(upn.as_str()).unwrap(), upn);
        assert_eq!(upn.as_str().len(), 13);
    }

    #[test]
    fn upn_known_example_is_valid() {
        // Weights 2..13 over 9,9,9,1,2,3,4,5,6,7,8,9 sum to 546; 546 mod 23 = 17 -> 'U'.
        assert!(Upn::parse("U999123456789").is_ok());
        assert!(Upn::parse("u999 1234 56789").is_ok());
    }

    #[test]
    fn upn_with_wrong_check_letter_is_rejected() {
        let err = Upn::parse("A999123456789").unwrap_err();
        assert!(err.0.contains("expected U"), "{err}");
    }

    #[test]
    fn upn_of_wrong_length_or_characters_is_rejected() {
        assert!(Upn::parse("U99912345678").is_err());
        assert!(Upn::parse("U99912345678X9").is_err());
        assert!(Upn::parse("U9991234567A9").is_err());
    }

    #[test]
    fn temporary_upn_ending_in_a_letter_is_checked() {
        // body 99912345678 + 'A' (value 0): 546 - 13*9 = 429; 429 mod 23 = 15 -> 'R'.
        assert!(Upn::parse("R99912345678A").is_ok());
        assert!(Upn::parse("A99912345678A").is_err());
        assert!(Upn::parse("R99912345678I").is_err());
    }

    #[test]
    fn nhs_number_mod11_is_checked() {
        // 943 476 5919 is the format example used in NHS documentation.
        assert!(NhsNumber::parse("943 476 5919").is_ok());
        assert!(NhsNumber::parse("9434765918").is_err());
        assert!(NhsNumber::parse("943476591").is_err());
        assert!(NhsNumber::parse("94347659AB").is_err());
    }

    #[test]
    fn nhs_number_with_remainder_ten_has_no_check_digit() {
        // 999000001: sum = 9*10+9*9+9*8+1*2 = 245; 245 mod 11 = 3; 11-3 = 8.
        assert_eq!(
            NhsNumber::with_check_digit("999000001").unwrap().as_str(),
            "9990000018"
        );
        // 000000006: sum = 6*2 = 12; 12 mod 11 = 1; 11-1 = 10, which no digit can hold.
        assert!(NhsNumber::with_check_digit("000000006").is_none());
    }

    #[test]
    fn agency_id_rules() {
        assert!(AgencyId::parse("school-a").is_ok());
        assert!(AgencyId::parse("School A").is_err());
        assert!(AgencyId::parse("-x").is_err());
        assert!(AgencyId::parse("a").is_err());
    }
}
