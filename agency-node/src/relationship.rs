//! Legitimate relationships (DESIGN §3, "relationship first"): a practitioner sees more
//! than `existence` of a child at another agency only when their own agency works with
//! the child. Their agency's node decides it from its own records, by the rules of its
//! policy file (`[relationship]`, defaults per agency kind below), and says so in a
//! short-lived **assertion** it signs with its node key (listed in the directory). The
//! disclosing node checks the assertion (signature, practitioner, purpose, expiry) and
//! pairs it with its own **match token** from the same search: both carry the hash of
//! the query, so a gateway cannot lend an assertion about one child to a read of another.
//!
//! A relationship belongs to the agency, not to the practitioner: any practitioner of an
//! agency that holds the child with an active involvement gets an assertion (their role
//! and purpose still go through each disclosing node's policy).

use crate::confirm::Holder;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDate};
use schemas::federation::Purpose;
use schemas::{AgencyId, AgencyKind, Record, RecordCategory};
use serde::{Deserialize, Serialize};

/// The `[relationship]` section of a policy file. Every field is optional: what is left
/// out takes the default of the node's agency kind ([`Rules::defaults`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Categories that make an involvement while a record of them is in effect (no end
    /// date, or an end date within `ended_within_days` of today).
    #[serde(default)]
    pub open: Option<Vec<String>>,
    /// Days after an `open` record ends during which the involvement still counts (a
    /// school's handover window after a child leaves).
    #[serde(default)]
    pub ended_within_days: Option<u32>,
    /// Categories that make an involvement when a record of them started within
    /// `recent_days` of today (a contact, an incident, an assessment).
    #[serde(default)]
    pub recent: Option<Vec<String>>,
    #[serde(default)]
    pub recent_days: Option<u32>,
    /// Break-glass views one practitioner of this agency may make per calendar day
    /// (Europe/London); 5 unless set.
    #[serde(default)]
    pub break_glass_per_day: Option<u32>,
}

/// A node's validated relationship rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub open: Vec<RecordCategory>,
    pub ended_within_days: u32,
    pub recent: Vec<RecordCategory>,
    pub recent_days: u32,
    pub break_glass_per_day: u32,
}

impl Rules {
    /// What counts as an active involvement at each kind of agency, unless its policy
    /// file says otherwise.
    pub fn defaults(kind: AgencyKind) -> Self {
        use RecordCategory as C;
        let (open, ended_within_days, recent, recent_days) = match kind {
            // On roll, or left within the 30-day handover window.
            AgencyKind::School => (vec![C::Enrolment], 30, vec![], 0),
            // An open episode, plan, placement or allocated worker; a section 47 enquiry
            // in the last 90 days.
            AgencyKind::SocialCare => (
                vec![
                    C::ChildInNeedEpisode,
                    C::ChildInNeedPlan,
                    C::ChildProtectionPlan,
                    C::LookedAfter,
                    C::AllocatedSocialWorker,
                ],
                0,
                vec![C::Section47Enquiry],
                90,
            ),
            // An open CAMHS referral; a contact in the last year.
            AgencyKind::Health => (
                vec![C::CamhsReferral],
                0,
                vec![C::SchoolNurseContact, C::StrengthsAndDifficulties],
                365,
            ),
            // An Operation Encompass notification in the last year.
            AgencyKind::Police => (vec![], 0, vec![C::EncompassNotification], 365),
            // An open team around the family or lead practitioner; an assessment in the
            // last year.
            AgencyKind::EarlyHelp => (
                vec![C::TeamAroundTheFamily, C::LeadPractitioner],
                0,
                vec![C::EarlyHelpAssessment],
                365,
            ),
            // The child is in the virtual school's cohort: looked after (or previously),
            // or with a personal education plan.
            AgencyKind::VirtualSchool => (
                vec![C::LookedAfterStatus, C::PersonalEducationPlan],
                0,
                vec![],
                0,
            ),
        };
        Self {
            open,
            ended_within_days,
            recent,
            recent_days,
            break_glass_per_day: 5,
        }
    }

    /// The kind's defaults with what the file sets; every category named must be one
    /// this kind of agency holds.
    pub fn from_file(file: Option<RulesFile>, kind: AgencyKind) -> Result<Self, String> {
        let mut rules = Self::defaults(kind);
        let Some(file) = file else {
            return Ok(rules);
        };
        let parse = |names: Vec<String>, field: &str| -> Result<Vec<RecordCategory>, String> {
            names
                .iter()
                .map(|name| {
                    let category = RecordCategory::parse(name).ok_or_else(|| {
                        format!("[relationship] {field}: unknown category '{name}'")
                    })?;
                    if !category.held_by(kind) {
                        return Err(format!(
                            "[relationship] {field}: a {} node does not hold '{name}'",
                            kind.as_str()
                        ));
                    }
                    Ok(category)
                })
                .collect()
        };
        if let Some(open) = file.open {
            rules.open = parse(open, "open")?;
        }
        if let Some(recent) = file.recent {
            rules.recent = parse(recent, "recent")?;
        }
        if let Some(days) = file.ended_within_days {
            rules.ended_within_days = days;
        }
        if let Some(days) = file.recent_days {
            rules.recent_days = days;
        }
        if let Some(limit) = file.break_glass_per_day {
            rules.break_glass_per_day = limit;
        }
        if rules.open.is_empty() && rules.recent.is_empty() {
            return Err(
                "[relationship] names no category: no practitioner here could ever have a relationship"
                    .into(),
            );
        }
        Ok(rules)
    }

    /// The record that makes an active involvement with the child on `today`, if any:
    /// its category, as the assertion's basis.
    pub fn active(&self, records: &[Record], today: NaiveDate) -> Option<RecordCategory> {
        self.involved(records, today, self.ended_within_days)
    }

    /// Whether the agency is involved as an event's routing asks
    /// ([`schemas::notification::route`]): now (no handover window), or actively.
    /// `named`: the event names this agency (an Encompass record's school to inform is
    /// this school, or a meeting decision's owner is this agency).
    pub fn involves(
        &self,
        records: &[Record],
        today: NaiveDate,
        involvement: schemas::notification::Involvement,
        named: bool,
    ) -> bool {
        use schemas::notification::Involvement as I;
        match involvement {
            I::Nobody => false,
            I::Current => self.involved(records, today, 0).is_some(),
            I::Active => self.active(records, today).is_some(),
            I::Addressed => named,
            I::CurrentOrNamed => {
                self.involved(records, today, 0).is_some() || (named && !self.left(records, today))
            }
        }
    }

    /// The child has left this agency: its records show an involvement (an enrolment)
    /// that ended before today, and none in effect or still to start.
    fn left(&self, records: &[Record], today: NaiveDate) -> bool {
        let open: Vec<&Record> = records
            .iter()
            .filter(|r| self.open.contains(&r.category))
            .collect();
        open.iter()
            .any(|r| r.last_day().is_some_and(|last| last < today))
            && !open
                .iter()
                .any(|r| r.last_day().is_none_or(|last| last >= today))
    }

    fn involved(
        &self,
        records: &[Record],
        today: NaiveDate,
        ended_within_days: u32,
    ) -> Option<RecordCategory> {
        let ended_since = today - Duration::days(i64::from(ended_within_days));
        let recent_since = today - Duration::days(i64::from(self.recent_days));
        records
            .iter()
            .find(|r| {
                let started = r.effective_from <= today;
                let open = self.open.contains(&r.category)
                    && started
                    && r.last_day().is_none_or(|last| last >= ended_since);
                let recent = self.recent.contains(&r.category)
                    && started
                    && r.effective_from >= recent_since;
                open || recent
            })
            .map(|r| r.category)
    }
}

/// The hash both the assertion and the match token carry: of the query as this node
/// read it (every node, and the gateway, serialise the same query the same way).
pub use schemas::federation::query_hash;

const ASSERTION_PREFIX: &str = "ra1.";
/// Signed bytes start with this, so a node signature made for anything else (an audit
/// checkpoint) can never pass for an assertion.
const ASSERTION_LABEL: &[u8] = b"child-view relationship assertion v1\n";

/// What an assertion says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assertion {
    /// The node that asserts (the practitioner's agency).
    pub agency: AgencyId,
    /// The practitioner: their token's issuer and subject.
    pub iss: String,
    pub sub: String,
    pub purpose: Purpose,
    /// The query's hash ([`query_hash`]).
    pub qh: String,
    /// Seconds since the epoch.
    pub exp: i64,
    /// What made the involvement (a category), for the audit; none for a break-glass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<RecordCategory>,
    /// Not a relationship: a break-glass this node granted (and counted) for a read
    /// under `safeguarding_override`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// What a checked assertion grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub basis: Option<RecordCategory>,
    pub break_glass: bool,
}

impl Assertion {
    /// `ra1.<payload>.<signature>`, both URL-safe base64.
    pub fn sign(&self, key: &trust::signature::SigningKey) -> String {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        let mut signed = ASSERTION_LABEL.to_vec();
        signed.extend_from_slice(&payload);
        format!(
            "{ASSERTION_PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(key.sign(&signed))
        )
    }
}

/// Why an assertion (with its match token) was not accepted: recorded in the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no assertion was sent")]
    Absent,
    #[error("the assertion is malformed")]
    Malformed,
    #[error("the assertion is not from the practitioner's own agency")]
    OtherAgency,
    #[error("the assertion's signature does not verify against the directory")]
    BadSignature,
    #[error("the assertion is for another practitioner")]
    OtherPractitioner,
    #[error("the assertion is for another purpose")]
    OtherPurpose,
    #[error("the assertion has expired")]
    Expired,
    #[error("no valid match token of this node came with the assertion")]
    NoMatch,
    #[error("the assertion and this node's match are of different searches or children")]
    OtherSearch,
    #[error("a break-glass grant counts only for a read under safeguarding_override")]
    BreakGlassWithoutOverride,
}

/// What a disclosing node is told about one read.
pub struct Presented<'a> {
    pub assertion: Option<&'a str>,
    pub match_token: Option<&'a str>,
    /// This node's reference of the child being read.
    pub local_ref: &'a str,
    pub practitioner: &'a trust::Practitioner,
    pub gateway: &'a str,
    pub purpose: Purpose,
    /// The read is under `safeguarding_override`.
    pub override_basis: bool,
    pub now: i64,
}

/// Checks an assertion and this node's match token for one read: the assertion must be
/// signed by the node of the practitioner's own agency (as the directory lists its key
/// now), for this practitioner and purpose, unexpired; the match token must be this
/// node's, for this practitioner and gateway, for the child being read, unexpired, and
/// of the same query. A break-glass grant counts only under `safeguarding_override`.
pub fn check(
    directory: &trust::Directory,
    matches: &MatchSealer,
    presented: &Presented<'_>,
) -> Result<Grant, Rejection> {
    let text = presented.assertion.ok_or(Rejection::Absent)?;
    let (payload, signature) = text
        .trim()
        .strip_prefix(ASSERTION_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(Rejection::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejection::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::Malformed)?;
    let assertion: Assertion =
        serde_json::from_slice(&payload).map_err(|_| Rejection::Malformed)?;
    let practitioner = presented.practitioner;
    if assertion.agency != practitioner.agency
        || !directory.nodes().any(|n| n.id == assertion.agency)
    {
        return Err(Rejection::OtherAgency);
    }
    let mut signed = ASSERTION_LABEL.to_vec();
    signed.extend_from_slice(&payload);
    trust::signature::verify(directory, &assertion.agency, &signed, &signature)
        .map_err(|_| Rejection::BadSignature)?;
    if assertion.iss != practitioner.issuer || assertion.sub != practitioner.subject {
        return Err(Rejection::OtherPractitioner);
    }
    if assertion.purpose != presented.purpose {
        return Err(Rejection::OtherPurpose);
    }
    if assertion.exp <= presented.now {
        return Err(Rejection::Expired);
    }
    let holder = Holder {
        issuer: &practitioner.issuer,
        subject: &practitioner.subject,
        gateway: presented.gateway,
    };
    let matched = presented
        .match_token
        .and_then(|t| matches.open(t, holder, presented.now))
        .ok_or(Rejection::NoMatch)?;
    if matched.local_ref != presented.local_ref || matched.qh != assertion.qh {
        return Err(Rejection::OtherSearch);
    }
    if assertion.break_glass && !presented.override_basis {
        return Err(Rejection::BreakGlassWithoutOverride);
    }
    Ok(Grant {
        basis: assertion.basis,
        break_glass: assertion.break_glass,
    })
}

/// A node's match tokens: its own sealed record that, for this practitioner and gateway,
/// a query of this hash found this child. Sealed under the node's candidate key (its own
/// label, so one kind of token never opens as the other).
pub struct MatchSealer {
    sealer: trust::seal::Sealer,
    aad: Vec<u8>,
    ttl_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    #[serde(rename = "r")]
    pub local_ref: String,
    pub qh: String,
    pub exp: i64,
    /// The holder's fingerprint, hex.
    fp: String,
}

impl MatchSealer {
    pub fn new(
        key_base64: &str,
        agency: &str,
        ttl_seconds: i64,
    ) -> Result<Self, trust::seal::BadKey> {
        Ok(Self {
            sealer: trust::seal::Sealer::from_base64(key_base64, "mt1.")?,
            aad: format!("child-view match token v1|{agency}").into_bytes(),
            ttl_seconds,
        })
    }

    pub fn seal(&self, local_ref: &str, qh: &str, holder: Holder<'_>, now: i64) -> Option<String> {
        let matched = Matched {
            local_ref: local_ref.to_owned(),
            qh: qh.to_owned(),
            exp: now + self.ttl_seconds,
            fp: trust::identity::hex(&holder.fingerprint()),
        };
        self.sealer
            .seal(serde_json::to_vec(&matched).ok()?, &self.aad)
    }

    /// The match, if the token is this node's, unaltered, the holder's and unexpired.
    pub fn open(&self, token: &str, holder: Holder<'_>, now: i64) -> Option<Matched> {
        let plain = self.sealer.open(token, &self.aad)?;
        let matched: Matched = serde_json::from_slice(&plain).ok()?;
        (matched.fp == trust::identity::hex(&holder.fingerprint()) && matched.exp > now)
            .then_some(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn record(category: RecordCategory, from: NaiveDate, to: Option<NaiveDate>) -> Record {
        Record {
            source_system_id: "R-1".into(),
            category,
            effective_from: from,
            effective_to: to,
            recorded_at: Utc::now(),
            impact: "x".into(),
            details: None,
            outline: None,
            version: 1,
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_named_school_takes_an_encompass_notice_before_the_child_is_on_roll_never_after_they_left()
     {
        use schemas::notification::Involvement::{Addressed, CurrentOrNamed};
        let rules = Rules::defaults(AgencyKind::School);
        let today = day(2026, 12, 4);
        let joining = record(RecordCategory::Enrolment, day(2026, 12, 11), None);
        let left = record(
            RecordCategory::Enrolment,
            day(2025, 9, 3),
            Some(day(2026, 12, 1)),
        );
        let on_roll = record(RecordCategory::Enrolment, day(2025, 9, 3), None);
        // Named: before the admission starts, or with no enrolment at all.
        assert!(rules.involves(std::slice::from_ref(&joining), today, CurrentOrNamed, true));
        assert!(rules.involves(&[], today, CurrentOrNamed, true));
        // Not named: only while on roll.
        assert!(!rules.involves(&[joining], today, CurrentOrNamed, false));
        assert!(rules.involves(&[on_roll], today, CurrentOrNamed, false));
        // Left (even within the handover window): not even when named.
        assert!(!rules.involves(std::slice::from_ref(&left), today, CurrentOrNamed, true));
        // Addressed: the named agency only, whatever its records.
        assert!(rules.involves(std::slice::from_ref(&left), today, Addressed, true));
        assert!(!rules.involves(&[left], today, Addressed, false));
    }

    #[test]
    fn a_school_holds_a_relationship_while_on_roll_and_for_its_handover_window() {
        let rules = Rules::defaults(AgencyKind::School);
        let today = day(2026, 12, 4);
        let on_roll = record(RecordCategory::Enrolment, day(2025, 9, 3), None);
        let left_recently = record(
            RecordCategory::Enrolment,
            day(2025, 9, 3),
            Some(day(2026, 11, 10)),
        );
        let left_long_ago = record(
            RecordCategory::Enrolment,
            day(2025, 9, 3),
            Some(day(2026, 10, 1)),
        );
        let attendance = record(RecordCategory::Attendance, day(2026, 9, 3), None);
        assert!(rules.active(&[on_roll], today).is_some());
        assert!(rules.active(&[left_recently], today).is_some());
        assert!(rules.active(&[left_long_ago], today).is_none());
        assert!(rules.active(&[attendance], today).is_none());
    }

    #[test]
    fn recent_contacts_count_for_their_period_and_one_day_records_end_that_day() {
        let rules = Rules::defaults(AgencyKind::Police);
        let today = day(2026, 12, 4);
        let this_year = record(RecordCategory::EncompassNotification, day(2026, 6, 1), None);
        let long_ago = record(RecordCategory::EncompassNotification, day(2025, 6, 1), None);
        assert!(rules.active(&[this_year], today).is_some());
        assert!(rules.active(&[long_ago], today).is_none());
    }

    #[test]
    fn a_policy_file_changes_the_rules_and_names_what_it_gets_wrong() {
        let file: RulesFile = toml::from_str("ended_within_days = 10").unwrap();
        let rules = Rules::from_file(Some(file), AgencyKind::School).unwrap();
        assert_eq!(rules.ended_within_days, 10);
        assert_eq!(rules.open, vec![RecordCategory::Enrolment]);
        let wrong: RulesFile = toml::from_str("open = [\"looked_after\"]").unwrap();
        let error = Rules::from_file(Some(wrong), AgencyKind::School).unwrap_err();
        assert!(error.contains("does not hold 'looked_after'"), "{error}");
        let empty: RulesFile = toml::from_str("open = []").unwrap();
        assert!(Rules::from_file(Some(empty), AgencyKind::School).is_err());
    }
}
