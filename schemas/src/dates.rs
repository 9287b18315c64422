//! Dates on the wire: read with a message an integrator understands (never chrono's
//! "input contains invalid characters"), and the earliest date the federation takes.
//! The bounds of each kind of date live with the type that holds it
//! (`Demographics::date_of_birth`, `RecordUpsert::effective_from`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, de::Error};

/// The earliest date any child's date of birth or record may carry: 1 January 1990.
/// Services for care leavers and young people with an EHC plan run to 25, so a young
/// person still served was born after 1990; anything earlier is a typing slip (`0000`,
/// `1900`) or a sentinel.
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1990, 1, 1) {
    Some(date) => date,
    None => panic!("a valid constant date"),
};

/// What a date that does not parse is told.
pub const DATE_MESSAGE: &str = "must be a date written YYYY-MM-DD, such as 2014-03-09";

/// What a timestamp that does not parse is told.
pub const TIMESTAMP_MESSAGE: &str =
    "must be a date and time with its offset (RFC 3339), such as 2026-09-03T08:15:00Z";

/// Today in UTC: the day the bounds are counted from.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// `#[serde(deserialize_with = "crate::dates::date")]`
pub fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let raw = String::deserialize(deserializer).map_err(|_| D::Error::custom(DATE_MESSAGE))?;
    parse_date(&raw).ok_or_else(|| D::Error::custom(DATE_MESSAGE))
}

/// `#[serde(default, deserialize_with = "crate::dates::optional_date")]`
pub fn optional_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    let raw =
        Option::<String>::deserialize(deserializer).map_err(|_| D::Error::custom(DATE_MESSAGE))?;
    raw.map(|raw| parse_date(&raw).ok_or_else(|| D::Error::custom(DATE_MESSAGE)))
        .transpose()
}

/// `#[serde(default, deserialize_with = "crate::dates::optional_timestamp")]`
pub fn optional_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)
        .map_err(|_| D::Error::custom(TIMESTAMP_MESSAGE))?;
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| D::Error::custom(TIMESTAMP_MESSAGE))
    })
    .transpose()
}

/// Exactly `YYYY-MM-DD` with a four-digit year: chrono alone also reads `+262142-12-31`
/// and `-0001-01-01`.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// "between 1990-01-01 and 2027-10-05": how a bound is written in a refusal.
pub fn range_message(from: NaiveDate, to: NaiveDate) -> String {
    format!("must be between {from} and {to}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_four_digit_years_in_iso_form_parse() {
        assert_eq!(
            parse_date("2014-03-09"),
            NaiveDate::from_ymd_opt(2014, 3, 9)
        );
        for bad in [
            "+262142-12-31",
            "-0001-01-01",
            "2014-3-9",
            "2014-02-30",
            "09/03/2014",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
