//! A school's calendar: when its school day starts, in which time zone, and its term
//! dates, so "before the start of the next school day" (Operation Encompass) is computed
//! from the school's own dates, across weekends, holidays and clock changes.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// The `[school]` section of a school node's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchoolSettings {
    /// Local time the school day starts, `HH:MM`.
    #[serde(default = "default_day_starts")]
    pub day_starts: String,
    /// IANA time zone name.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Terms, first and last day inclusive. Empty: every weekday is a school day.
    #[serde(default)]
    pub terms: Vec<Term>,
    /// Days in term with no pupils (training days, bank holidays).
    #[serde(default)]
    pub closures: Vec<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

fn default_day_starts() -> String {
    "08:30".into()
}

fn default_timezone() -> String {
    "Europe/London".into()
}

impl Default for SchoolSettings {
    fn default() -> Self {
        Self {
            day_starts: default_day_starts(),
            timezone: default_timezone(),
            terms: Vec::new(),
            closures: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SchoolCalendar {
    timezone: Tz,
    day_starts: NaiveTime,
    terms: Vec<(NaiveDate, NaiveDate)>,
    closures: std::collections::BTreeSet<NaiveDate>,
}

/// How far ahead to look for a school day (a summer holiday is about six weeks).
const SEARCH_DAYS: u64 = 400;

impl SchoolCalendar {
    pub fn from_settings(settings: &SchoolSettings) -> Result<Self, String> {
        let timezone: Tz = settings
            .timezone
            .parse()
            .map_err(|_| format!("school.timezone '{}' is not a time zone", settings.timezone))?;
        let day_starts = NaiveTime::parse_from_str(&settings.day_starts, "%H:%M")
            .map_err(|_| format!("school.day_starts '{}' is not HH:MM", settings.day_starts))?;
        for term in &settings.terms {
            if term.last_day < term.first_day {
                return Err(format!(
                    "school.terms: the term starting {} ends before it starts",
                    term.first_day
                ));
            }
        }
        Ok(Self {
            timezone,
            day_starts,
            terms: settings
                .terms
                .iter()
                .map(|t| (t.first_day, t.last_day))
                .collect(),
            closures: settings.closures.iter().copied().collect(),
        })
    }

    /// Every weekday, from `day_starts` in `timezone`: the earliest a school day can
    /// start anywhere, for a sender who does not know the school's own dates.
    pub fn weekdays(timezone: Tz, day_starts: NaiveTime) -> Self {
        Self {
            timezone,
            day_starts,
            terms: Vec::new(),
            closures: Default::default(),
        }
    }

    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && (self.terms.is_empty()
                || self
                    .terms
                    .iter()
                    .any(|(first, last)| *first <= date && date <= *last))
            && !self.closures.contains(&date)
    }

    /// The start of the first school day that starts after `after`; `None` when the
    /// calendar has no school day in the next 400 days (terms not yet configured).
    pub fn next_day_start(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = after.with_timezone(&self.timezone).date_naive();
        first
            .iter_days()
            .take(SEARCH_DAYS as usize)
            .filter(|date| self.is_school_day(*date))
            .filter_map(|date| {
                self.timezone
                    .from_local_datetime(&date.and_time(self.day_starts))
                    .earliest()
                    .map(|start| start.with_timezone(&Utc))
            })
            .find(|start| *start > after)
    }
}

/// The `[front_door]` section of a social care node's configuration: the authority's
/// working days, for the deadline of a decision on a concern (the end of the next
/// working day after receipt).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontDoorSettings {
    /// Local time the working day ends, `HH:MM`: a decision is due by then.
    #[serde(default = "default_day_ends")]
    pub day_ends: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Bank holidays and other days the front door does not count as working days
    /// (it still answers the phone: a deadline is about decisions, not cover).
    #[serde(default)]
    pub bank_holidays: Vec<NaiveDate>,
}

fn default_day_ends() -> String {
    "17:00".into()
}

impl Default for FrontDoorSettings {
    fn default() -> Self {
        Self {
            day_ends: default_day_ends(),
            timezone: default_timezone(),
            bank_holidays: Vec::new(),
        }
    }
}

/// An authority's working days: Monday to Friday, less its bank holidays.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    timezone: Tz,
    day_ends: NaiveTime,
    holidays: std::collections::BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    pub fn from_settings(settings: &FrontDoorSettings) -> Result<Self, String> {
        let timezone: Tz = settings.timezone.parse().map_err(|_| {
            format!(
                "front_door.timezone '{}' is not a time zone",
                settings.timezone
            )
        })?;
        let day_ends = NaiveTime::parse_from_str(&settings.day_ends, "%H:%M")
            .map_err(|_| format!("front_door.day_ends '{}' is not HH:MM", settings.day_ends))?;
        Ok(Self {
            timezone,
            day_ends,
            holidays: settings.bank_holidays.iter().copied().collect(),
        })
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&date)
    }

    /// The decision deadline for a concern received at `received`: the end of the first
    /// working day after the day of receipt (local time).
    pub fn decision_deadline(&self, received: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let day = received.with_timezone(&self.timezone).date_naive();
        day.iter_days()
            .skip(1)
            .take(SEARCH_DAYS as usize)
            .find(|date| self.is_working_day(*date))
            .and_then(|date| {
                self.timezone
                    .from_local_datetime(&date.and_time(self.day_ends))
                    .earliest()
            })
            .map(|end| end.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn calendar() -> SchoolCalendar {
        SchoolCalendar::from_settings(&SchoolSettings {
            day_starts: "08:40".into(),
            timezone: "Europe/London".into(),
            terms: vec![
                Term {
                    first_day: date("2026-09-03"),
                    last_day: date("2026-10-23"),
                },
                Term {
                    first_day: date("2026-11-02"),
                    last_day: date("2026-12-18"),
                },
            ],
            closures: vec![date("2026-11-27")],
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A notification raised at `raised` is due at `due` by [`calendar`] (RFC 3339, UTC).
    #[track_caller]
    fn assert_due(raised: &str, due: Option<&str>) {
        assert_eq!(
            calendar().next_day_start(utc(raised)),
            due.map(utc),
            "raised at {raised}"
        );
    }

    #[test]
    fn evening_incident_is_due_next_morning() {
        // Tuesday 24 Nov 2026, 22:10 GMT → Wednesday 08:40 GMT.
        assert_due("2026-11-24T22:10:00Z", Some("2026-11-25T08:40:00Z"));
    }

    #[test]
    fn before_school_on_a_school_day_is_due_that_morning() {
        assert_due("2026-11-25T06:00:00Z", Some("2026-11-25T08:40:00Z"));
        // After the start, the next day.
        assert_due("2026-11-25T09:00:00Z", Some("2026-11-26T08:40:00Z"));
    }

    #[test]
    fn weekends_and_closures_are_skipped() {
        // Thursday 26 Nov evening: Friday 27 is a training day, so Monday 30.
        assert_due("2026-11-26T19:00:00Z", Some("2026-11-30T08:40:00Z"));
    }

    #[test]
    fn half_term_runs_to_the_first_day_of_next_term() {
        // Friday of half term, in British Summer Time: 08:40 local on 2 November is
        // GMT again (clocks went back on 25 October).
        assert_due("2026-10-30T12:00:00Z", Some("2026-11-02T08:40:00Z"));
        // In September (BST) 08:40 local is 07:40 UTC.
        assert_due("2026-09-06T20:00:00Z", Some("2026-09-07T07:40:00Z"));
    }

    #[test]
    fn no_configured_term_ahead_means_no_deadline() {
        assert_due("2026-12-19T12:00:00Z", None);
    }

    fn authority() -> WorkingCalendar {
        WorkingCalendar::from_settings(&FrontDoorSettings {
            bank_holidays: vec![date("2026-12-25"), date("2026-12-28")],
            ..FrontDoorSettings::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_decision_is_due_at_the_end_of_the_next_working_day() {
        let cal = authority();
        // Wednesday morning → Thursday 17:00.
        assert_eq!(
            cal.decision_deadline(utc("2026-12-02T09:00:00Z")),
            Some(utc("2026-12-03T17:00:00Z"))
        );
        // Friday evening → Monday 17:00.
        assert_eq!(
            cal.decision_deadline(utc("2026-12-04T18:30:00Z")),
            Some(utc("2026-12-07T17:00:00Z"))
        );
        // Christmas Eve (Thursday): Friday 25 and Monday 28 are bank holidays → Tuesday.
        assert_eq!(
            cal.decision_deadline(utc("2026-12-24T11:00:00Z")),
            Some(utc("2026-12-29T17:00:00Z"))
        );
        // In summer time, 17:00 local is 16:00 UTC.
        assert_eq!(
            cal.decision_deadline(utc("2026-06-01T10:00:00Z")),
            Some(utc("2026-06-02T16:00:00Z"))
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad_zone = SchoolSettings {
            timezone: "Mars/Olympus".into(),
            ..SchoolSettings::default()
        };
        assert!(SchoolCalendar::from_settings(&bad_zone).is_err());
        let bad_time = SchoolSettings {
            day_starts: "half eight".into(),
            ..SchoolSettings::default()
        };
        assert!(SchoolCalendar::from_settings(&bad_time).is_err());
    }
}
