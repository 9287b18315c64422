//! Notifications: events this node raises from its own writes (or an explicit publish)
//! go into the outbox in the write's transaction; the [`worker`] hands them to the
//! gateway, which finds the agencies that hold the child and have subscribed. Events
//! from other agencies arrive signed, land in the inbox once per id, and are
//! acknowledged by the agency's own system on behalf of its practitioner.

pub mod calendar;
pub mod worker;

use crate::db::DbConnection;
use crate::db::models::RecordRow;
use crate::db::notifications::{InboxRow, OutboxRow, RecipientRow};
use crate::db::{self, DbError};
use crate::disclosure::{Policy, Requester};
use calendar::SchoolCalendar;
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use schemas::federation::Purpose;
use schemas::notification::{
    DeliveryOutcome, EventType, InboxItem, KindPayload, OutboxItem, OutboxStatus, Raises,
    RecipientState,
};
use schemas::{
    AgencyId, AgencyKind, CheckedRecord, DisclosureLevel, PractitionerRole, RecordCategory,
};
use serde::Deserialize;
use std::path::PathBuf;

/// The `[notifications]` section of a node's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// The gateway that routes this node's events (`https://host:port`). Without it,
    /// events wait in the outbox.
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// The secret (`whsec_…`) the gateway signs deliveries to this node with. Without
    /// it, this node refuses every delivery.
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Event types subscribed to when the node first starts; afterwards the
    /// subscriptions API decides. Default: those that matter to the agency's kind.
    #[serde(default)]
    pub subscribe: Option<Vec<EventType>>,
    /// How often the delivery worker looks for due events, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How long a worker's claim on an outbox event lasts, in milliseconds: after it,
    /// another replica's worker may take the event (its claimant is presumed dead). Keep
    /// it above the longest delivery (a gateway call is cut off after 30 s), or a slow
    /// delivery is handed over twice (harmless: the recipient keeps one, and the late
    /// claimant's result is discarded).
    #[serde(default = "default_claim_timeout_ms")]
    pub claim_timeout_ms: u64,
    /// Attempts before an event becomes a dead letter.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i32,
    /// First retry delay; doubles each attempt, with full jitter, up to `backoff_max_ms`.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Writes about things older than this raise no event (a backfill is not news).
    #[serde(default = "default_raise_within_days")]
    pub raise_within_days: i64,
    /// An unacknowledged (inbox) or undelivered (outbox) Operation Encompass
    /// notification is at risk this many minutes before its deadline.
    #[serde(default = "default_at_risk_minutes")]
    pub at_risk_minutes: i64,
    /// The earliest a school day starts anywhere (`HH:MM`, local time): the sender's
    /// deadline for an Encompass notification before it knows the school's calendar.
    #[serde(default = "default_earliest_start")]
    pub earliest_school_day_start: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The data protection officer's own system: every break-glass alert this node
    /// raises is also pushed there at once, signed (Standard Webhooks), from a durable
    /// queue retried until the endpoint accepts it. Without it, the alert is in this
    /// node's inbox only.
    #[serde(default)]
    pub dpo_webhook: Option<DpoWebhook>,
    /// The agency's own system (a school's MIS, a case system): every item that lands
    /// in this node's inbox is also pushed there, signed (Standard Webhooks), from the
    /// inbox itself as a durable queue, retried until the endpoint accepts it or the
    /// item is acknowledged. Without it, the system reads the inbox
    /// (`GET /v1/notifications/inbox`).
    #[serde(default)]
    pub inbox_webhook: Option<InboxWebhook>,
}

/// A Standard Webhooks endpoint of the data protection officer's system.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpoWebhook {
    /// Where alerts are posted (`https://…`; `http://` for a receiver on the same host).
    pub url: String,
    /// The shared secret (`whsec_<base64>`) alerts are signed with; read at each
    /// delivery, so a rotated secret applies at once.
    pub secret_file: PathBuf,
}

/// A Standard Webhooks endpoint of the agency's own system, for its inbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxWebhook {
    /// Where inbox items are posted (`https://…`; `http://` for a receiver on the same
    /// host).
    pub url: String,
    /// The shared secret (`whsec_<base64>`) items are signed with; read at each
    /// delivery, so a rotated secret applies at once.
    pub secret_file: PathBuf,
    /// Only items of these event types are pushed (default: every type).
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
}

impl DpoWebhook {
    /// Whether `url` is one the worker can post to (see [`check_webhook_url`]).
    pub fn check(&self) -> Result<(), String> {
        check_webhook_url("notifications.dpo_webhook.url", &self.url)
    }
}

impl InboxWebhook {
    /// Whether `url` is one the worker can post to (see [`check_webhook_url`]).
    pub fn check(&self) -> Result<(), String> {
        check_webhook_url("notifications.inbox_webhook.url", &self.url)
    }
}

/// Whether `url`, the setting `name`, is one the worker can post to: `https://`, or
/// `http://` to a receiver on this host. Checked when the node starts, so that a
/// mistyped endpoint stops it there rather than failing every delivery later.
pub fn check_webhook_url(name: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{name} '{url}': {e}"))?;
    let local = match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(format!(
            "{name} '{url}': use https:// (http:// only to this host)"
        )),
    }
}

fn default_poll_ms() -> u64 {
    250
}
fn default_claim_timeout_ms() -> u64 {
    60_000
}
fn default_max_attempts() -> i32 {
    10
}
fn default_backoff_base_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    300_000
}
fn default_raise_within_days() -> i64 {
    30
}
fn default_at_risk_minutes() -> i64 {
    60
}
fn default_earliest_start() -> String {
    "08:00".into()
}
fn default_timezone() -> String {
    "Europe/London".into()
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            gateway_url: None,
            webhook_secret_file: None,
            subscribe: None,
            poll_ms: default_poll_ms(),
            claim_timeout_ms: default_claim_timeout_ms(),
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            raise_within_days: default_raise_within_days(),
            at_risk_minutes: default_at_risk_minutes(),
            earliest_school_day_start: default_earliest_start(),
            dpo_webhook: None,
            inbox_webhook: None,
            timezone: default_timezone(),
        }
    }
}

impl NotificationSettings {
    /// The sender's calendar for Encompass deadlines: every weekday from the earliest
    /// start.
    pub fn earliest_calendar(&self) -> Result<SchoolCalendar, String> {
        let timezone = self.timezone.parse().map_err(|_| {
            format!(
                "notifications.timezone '{}' is not a time zone",
                self.timezone
            )
        })?;
        let start =
            NaiveTime::parse_from_str(&self.earliest_school_day_start, "%H:%M").map_err(|_| {
                format!(
                    "notifications.earliest_school_day_start '{}' is not HH:MM",
                    self.earliest_school_day_start
                )
            })?;
        if self.max_attempts < 1 || self.poll_ms == 0 || self.backoff_base_ms == 0 {
            return Err(
                "notifications: max_attempts, poll_ms and backoff_base_ms must be positive".into(),
            );
        }
        if self.claim_timeout_ms < 1_000 {
            return Err("notifications.claim_timeout_ms must be at least 1000".into());
        }
        Ok(SchoolCalendar::weekdays(timezone, start))
    }
}

/// The event types an agency of this kind subscribes to unless configured otherwise.
pub fn default_subscriptions(kind: AgencyKind) -> Vec<EventType> {
    use EventType::*;
    // Every agency hears of meetings about its children, and of the decisions it owns.
    let mut types = match kind {
        AgencyKind::School => vec![
            EncompassNotification,
            PlanStarted,
            PlanEnded,
            PractitionerChanged,
            // The school a child left hears where they went (routing allows it within
            // the handover window only).
            SchoolMove,
        ],
        AgencyKind::SocialCare => vec![
            EncompassNotification,
            Exclusion,
            PersistentAbsence,
            SchoolMove,
        ],
        AgencyKind::Health => vec![PlanStarted, PlanEnded],
        AgencyKind::Police => Vec::new(),
        AgencyKind::EarlyHelp => vec![
            EncompassNotification,
            Exclusion,
            PersistentAbsence,
            PlanStarted,
            PlanEnded,
        ],
        AgencyKind::VirtualSchool => vec![
            Exclusion,
            PersistentAbsence,
            SchoolMove,
            PlanStarted,
            PlanEnded,
        ],
    };
    types.extend([MeetingScheduled, MeetingDecision]);
    types
}

/// The practitioner role a notification to an agency of this kind is for.
pub fn recipient_role(kind: AgencyKind) -> PractitionerRole {
    match kind {
        AgencyKind::School => PractitionerRole::DesignatedSafeguardingLead,
        AgencyKind::SocialCare => PractitionerRole::SocialWorker,
        AgencyKind::Health => PractitionerRole::SchoolNurse,
        AgencyKind::Police => PractitionerRole::PoliceOfficer,
        AgencyKind::EarlyHelp => PractitionerRole::EarlyHelpWorker,
        AgencyKind::VirtualSchool => PractitionerRole::VirtualSchoolHead,
    }
}

/// What each kind of agency may receive of an event, by this node's sharing policy for
/// that kind's notification role and the purpose `safeguarding`. Kinds granted nothing
/// are left out.
pub fn payloads(
    policy: &Policy,
    category: RecordCategory,
    impact: &str,
    details: &serde_json::Value,
) -> Vec<KindPayload> {
    AgencyKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let who = Requester {
                kind,
                role: recipient_role(kind),
                purpose: Purpose::Safeguarding,
                own_agency: false,
                // An event is offered only to agencies that hold the child (the offer
                // asks them); the level here is what policy grants such an agency.
                related: true,
                break_glass: false,
            };
            let level = policy.level(&who, category);
            let (impact, details) = match level {
                DisclosureLevel::None => return None,
                DisclosureLevel::Existence => (
                    format!(
                        "Recorded: {}; contact the agency for more",
                        category.in_words()
                    ),
                    None,
                ),
                DisclosureLevel::Summary => (impact.to_owned(), None),
                DisclosureLevel::Full => (impact.to_owned(), Some(details.clone())),
            };
            Some(KindPayload {
                kind,
                level,
                impact,
                details,
            })
        })
        .collect()
}

/// The event a record write raises, if any, as its category says
/// ([`RecordCategory::raises`]). `previous` is the record as stored before the write (none
/// when new).
pub fn event_for(previous: Option<&RecordRow>, record: &CheckedRecord) -> Option<EventType> {
    let created = previous.is_none_or(|p| p.retracted_at.is_some());
    match record.category().raises() {
        Raises::Nothing => None,
        Raises::OnCreation(event) => created.then_some(event),
        Raises::PlanStartedAndEnded => {
            let was_open = previous.is_some_and(|p| p.effective_to.is_none() && !created);
            match (created, record.effective_to()) {
                (true, None) => Some(EventType::PlanStarted),
                (false, Some(_)) if was_open => Some(EventType::PlanEnded),
                _ => None,
            }
        }
        // Several events per write: [`meeting_events`].
        Raises::Meeting => None,
        Raises::WhenDetailsShow(event) => {
            let showed = previous
                .filter(|_| !created)
                .and_then(RecordRow::typed_details)
                .is_some_and(|before| before.shows(event));
            (record.details().shows(event) && !showed).then_some(event)
        }
    }
}

/// An event a meeting record's write raises ([`meeting_events`]).
pub struct MeetingEvent {
    pub event_type: EventType,
    pub impact: String,
    /// The event's details (what a recipient granted `full` sees).
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// The events a write of a `meeting` record raises: `meeting_scheduled` when its date is
/// after `today` and it is new (or its date moved), and a `meeting_decision` for each
/// decision the record did not have before (same decision, owner and due date), whose
/// details name its owner (the one agency it is routed to). A decision event carries
/// that decision only: never the child's views, nor the other agencies' decisions.
pub fn meeting_events(
    previous: Option<&RecordRow>,
    record: &CheckedRecord,
    today: chrono::NaiveDate,
) -> Vec<MeetingEvent> {
    let Some(meeting) = record.details().meeting() else {
        return Vec::new();
    };
    let before = previous
        .filter(|p| p.retracted_at.is_none())
        .and_then(|p| Some((p.effective_from, p.typed_details()?)));
    let before_meeting = before.as_ref().and_then(|(_, d)| d.meeting().cloned());
    let held_on = record.effective_from();
    let kind = meeting.meeting_type.in_words();
    let now = Utc::now();
    let mut events = Vec::new();
    let moved = before.as_ref().is_none_or(|(from, _)| *from != held_on);
    if held_on > today && moved {
        events.push(MeetingEvent {
            event_type: EventType::MeetingScheduled,
            impact: clip(format!(
                "A {kind} about the child is arranged for {}",
                held_on.format("%-d %B %Y")
            )),
            details: serde_json::json!({
                "meeting_type": meeting.meeting_type, "date": held_on,
                "invited": meeting.invited,
            }),
            occurred_at: now,
        });
    }
    for decision in &meeting.decisions {
        let known = before_meeting.as_ref().is_some_and(|m| {
            m.decisions.iter().any(|d| {
                d.decision == decision.decision
                    && d.owner == decision.owner
                    && d.due == decision.due
            })
        });
        if known {
            continue;
        }
        events.push(MeetingEvent {
            event_type: EventType::MeetingDecision,
            impact: clip(format!(
                "Decided at the {kind} on {} for your agency, due {}: {}",
                held_on.format("%-d %B %Y"),
                decision.due.format("%-d %B %Y"),
                decision.decision.as_str()
            )),
            details: serde_json::json!({
                "meeting_type": meeting.meeting_type, "date": held_on,
                "decision": decision.decision.as_str(), "owner": decision.owner,
                "due": decision.due, "done": decision.done,
            }),
            occurred_at: now,
        });
    }
    events
}

/// An impact line is at most 280 characters.
fn clip(text: String) -> String {
    if text.chars().count() <= 280 {
        return text;
    }
    let mut clipped: String = text.chars().take(279).collect();
    clipped.push('…');
    clipped
}

/// When the event happened: when the details say (an Encompass incident), otherwise the
/// day the record takes effect (or ends, for a plan ending).
pub fn occurred_at(event: EventType, record: &CheckedRecord) -> DateTime<Utc> {
    if let Some(at) = record.details().occurred_at() {
        return at;
    }
    let day = match (event, record.effective_to()) {
        (EventType::PlanEnded, Some(to)) => to,
        _ => record.effective_from(),
    };
    day.and_time(NaiveTime::MIN).and_utc()
}

/// What a new outbox row looks like; the worker fills in the rest as it delivers.
pub struct NewEvent<'a> {
    pub event_type: EventType,
    pub child_id: &'a str,
    pub category: RecordCategory,
    pub occurred_at: DateTime<Utc>,
    pub impact: &'a str,
    /// The details as JSON text, as the record's row (or the publish) has them.
    pub details: &'a str,
    pub source_system_id: Option<&'a str>,
}

/// Puts an event in the outbox, inside the caller's transaction. Returns its id.
pub fn enqueue(
    conn: &mut DbConnection,
    event: &NewEvent<'_>,
    earliest: Option<&SchoolCalendar>,
) -> Result<String, DbError> {
    let now = Utc::now();
    let id = uuid::Uuid::new_v4().to_string();
    let deadline = match (event.event_type, earliest) {
        (EventType::EncompassNotification, Some(calendar)) => calendar
            .next_day_start(event.occurred_at)
            .map(|d| d.naive_utc()),
        _ => None,
    };
    db::notifications::enqueue(
        conn,
        &OutboxRow {
            id: id.clone(),
            event_type: event.event_type.as_str().to_owned(),
            child_id: event.child_id.to_owned(),
            category: event.category.as_str().to_owned(),
            occurred_at: event.occurred_at.naive_utc(),
            impact: event.impact.to_owned(),
            details: event.details.to_owned(),
            source_system_id: event.source_system_id.map(str::to_owned),
            status: db::notifications::PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: Some(now.naive_utc()),
            last_error: None,
            deadline,
            created_at: now.naive_utc(),
        },
    )?;
    Ok(id)
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("stored {what} '{value}' is not recognised"))
}

fn parse_wire<T: serde::de::DeserializeOwned>(what: &str, value: &str) -> Result<T, DbError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| corrupt(what, value))
}

fn uuid_of(value: &str) -> Result<uuid::Uuid, DbError> {
    uuid::Uuid::parse_str(value).map_err(|_| corrupt("event id", value))
}

fn agency(value: &str) -> Result<AgencyId, DbError> {
    AgencyId::parse(value).map_err(|_| corrupt("agency id", value))
}

fn at_risk(deadline: Option<NaiveDateTime>, open: bool, horizon: NaiveDateTime) -> bool {
    open && deadline.is_some_and(|d| d <= horizon)
}

/// The child's local id at this agency, for an inbox or outbox item about it.
pub fn local_id_of(conn: &mut DbConnection, child_id: &str) -> Result<String, DbError> {
    db::children::find_by_id(conn, child_id)?
        .map(|c| c.local_id)
        .ok_or_else(|| DbError::Corrupt(format!("notification names unknown child {child_id}")))
}

/// An inbox row as the agency's system reads it (the inbox API and the inbox webhook);
/// `horizon`: how near a deadline counts as at risk.
pub fn inbox_item_of(
    conn: &mut DbConnection,
    row: InboxRow,
    horizon: NaiveDateTime,
) -> Result<InboxItem, DbError> {
    let local_id = local_id_of(conn, &row.child_id)?;
    inbox_item(row, local_id, horizon)
}

pub fn inbox_item(
    row: InboxRow,
    local_id: String,
    horizon: NaiveDateTime,
) -> Result<InboxItem, DbError> {
    Ok(InboxItem {
        id: uuid_of(&row.id)?,
        event_type: EventType::parse(&row.event_type)
            .ok_or_else(|| corrupt("event type", &row.event_type))?,
        occurred_at: row.occurred_at.and_utc(),
        received_at: row.received_at.and_utc(),
        sender: agency(&row.sender)?,
        sender_name: row.sender_name,
        local_id,
        category: RecordCategory::parse(&row.category)
            .ok_or_else(|| corrupt("category", &row.category))?,
        level: parse_wire("level", &row.level)?,
        impact: row.impact,
        details: row
            .details
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| DbError::Corrupt(e.to_string()))?,
        deadline: row.deadline.map(|d| d.and_utc()),
        acknowledged_at: row.acknowledged_at.map(|d| d.and_utc()),
        acknowledged_by: row.acknowledged_by,
        at_risk: at_risk(row.deadline, row.acknowledged_at.is_none(), horizon),
    })
}

pub fn outbox_item(
    row: OutboxRow,
    local_id: String,
    recipients: Vec<RecipientRow>,
    horizon: NaiveDateTime,
) -> Result<OutboxItem, DbError> {
    let status: OutboxStatus = parse_wire("status", &row.status)?;
    Ok(OutboxItem {
        id: uuid_of(&row.id)?,
        event_type: EventType::parse(&row.event_type)
            .ok_or_else(|| corrupt("event type", &row.event_type))?,
        occurred_at: row.occurred_at.and_utc(),
        local_id,
        category: RecordCategory::parse(&row.category)
            .ok_or_else(|| corrupt("category", &row.category))?,
        status,
        attempts: row.attempts,
        next_attempt_at: row
            .next_attempt_at
            .filter(|_| status == OutboxStatus::Pending)
            .map(|d| d.and_utc()),
        last_error: row.last_error,
        deadline: row.deadline.map(|d| d.and_utc()),
        at_risk: at_risk(row.deadline, status != OutboxStatus::Delivered, horizon),
        recipients: recipients
            .into_iter()
            .map(|r| {
                Ok(RecipientState {
                    agency_id: agency(&r.agency_id)?,
                    agency_name: r.agency_name,
                    outcome: parse_wire::<DeliveryOutcome>("outcome", &r.outcome)?,
                    reason: r.reason,
                    delivered_at: r.delivered_at.map(|d| d.and_utc()),
                    deadline: r.deadline.map(|d| d.and_utc()),
                    acknowledged_at: r.acknowledged_at.map(|d| d.and_utc()),
                })
            })
            .collect::<Result<_, DbError>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use schemas::{RecordDetails, RecordUpsert};

    #[test]
    fn webhooks_post_over_https_or_to_this_host_only() {
        let inbox = |url: &str| {
            InboxWebhook {
                url: url.to_owned(),
                secret_file: PathBuf::from("mis.secret"),
                event_types: None,
            }
            .check()
        };
        let dpo = |url: &str| {
            DpoWebhook {
                url: url.to_owned(),
                secret_file: PathBuf::from("dpo.secret"),
            }
            .check()
        };
        for ok in [
            "https://mis.school.example/inbox",
            "http://127.0.0.1:8080/inbox",
            "http://localhost/inbox",
            "http://[::1]:9000/inbox",
        ] {
            assert_eq!(inbox(ok), Ok(()), "{ok}");
            assert_eq!(dpo(ok), Ok(()), "{ok}");
        }
        for refused in [
            "http://mis.school.example/inbox",
            "http://10.0.0.8/inbox",
            "ftp://127.0.0.1/inbox",
            "not a url",
        ] {
            let why = inbox(refused).expect_err(refused);
            assert!(why.contains("notifications.inbox_webhook.url"), "{why}");
            let why = dpo(refused).expect_err(refused);
            assert!(why.contains("notifications.dpo_webhook.url"), "{why}");
        }
    }

    /// A record of `category` checked as its node would, from the category's example
    /// details with `changes` over them, ending on `to`.
    fn record_until(
        category: RecordCategory,
        changes: serde_json::Value,
        to: Option<NaiveDate>,
    ) -> CheckedRecord {
        let mut details = RecordDetails::example(category);
        for (field, value) in changes.as_object().cloned().unwrap_or_default() {
            details[field] = value;
        }
        RecordUpsert {
            source_system_id: "SRC-1".into(),
            category,
            effective_from: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
            effective_to: to,
            recorded_at: None,
            impact: "impact".into(),
            details,
        }
        .check(category.holders()[0])
        .unwrap_or_else(|e| panic!("{category:?}: {e:?}"))
    }

    fn record(category: RecordCategory, changes: serde_json::Value) -> CheckedRecord {
        record_until(category, changes, None)
    }

    fn stored(record: &CheckedRecord) -> RecordRow {
        RecordRow {
            id: "r1".into(),
            child_id: "c1".into(),
            source_system_id: record.source_system_id().to_owned(),
            category: record.category().as_str().into(),
            effective_from: record.effective_from(),
            effective_to: record.effective_to(),
            recorded_at: NaiveDateTime::default(),
            impact: record.impact().to_owned(),
            details: record.details().to_value().to_string(),
            version: 1,
            updated_at: NaiveDateTime::default(),
            change_seq: 1,
            retracted_at: None,
            retraction_reason: None,
        }
    }

    #[test]
    fn new_plan_starts_and_closing_it_ends() {
        let plan = record(RecordCategory::ChildProtectionPlan, serde_json::json!({}));
        assert_eq!(event_for(None, &plan), Some(EventType::PlanStarted));
        let open = stored(&plan);
        // Updating an open plan without closing it is not news.
        assert_eq!(event_for(Some(&open), &plan), None);
        let closed = record_until(
            RecordCategory::ChildProtectionPlan,
            serde_json::json!({}),
            NaiveDate::from_ymd_opt(2026, 11, 24),
        );
        assert_eq!(event_for(Some(&open), &closed), Some(EventType::PlanEnded));
        // Already closed: a further edit ends nothing.
        assert_eq!(event_for(Some(&stored(&closed)), &closed), None);
    }

    #[test]
    fn attendance_raises_persistent_absence_once_when_it_crosses_90_percent() {
        let attendance = |present: i64| {
            record(
                RecordCategory::Attendance,
                serde_json::json!({"sessions_possible": 100, "sessions_present": present,
                    "authorised_absence": 100 - present, "unauthorised_absence": 0,
                    "attendance_rate": null, "persistent_absence": null}),
            )
        };
        let good = attendance(95);
        let poor = attendance(84);
        assert_eq!(event_for(None, &good), None);
        assert_eq!(event_for(None, &poor), Some(EventType::PersistentAbsence));
        assert_eq!(
            event_for(Some(&stored(&good)), &poor),
            Some(EventType::PersistentAbsence)
        );
        assert_eq!(event_for(Some(&stored(&poor)), &poor), None);
        // Exactly 90% is not persistent absence; one session fewer is.
        assert_eq!(event_for(None, &attendance(90)), None);
        assert_eq!(
            event_for(None, &attendance(89)),
            Some(EventType::PersistentAbsence)
        );
    }

    #[test]
    fn encompass_occurred_at_is_the_incident_time() {
        let r = record(
            RecordCategory::EncompassNotification,
            serde_json::json!({"incident_at": "2026-11-24T22:10:00Z"}),
        );
        assert_eq!(event_for(None, &r), Some(EventType::EncompassNotification));
        assert_eq!(
            occurred_at(EventType::EncompassNotification, &r).to_rfc3339(),
            "2026-11-24T22:10:00+00:00"
        );
        // Edits of a notification already sent do not send it again.
        assert_eq!(event_for(Some(&stored(&r)), &r), None);
    }

    #[test]
    fn other_categories_raise_their_events_on_creation_only() {
        for (category, event) in [
            (RecordCategory::Exclusion, EventType::Exclusion),
            (RecordCategory::Enrolment, EventType::SchoolMove),
            (
                RecordCategory::AllocatedSocialWorker,
                EventType::PractitionerChanged,
            ),
        ] {
            let r = record(category, serde_json::json!({}));
            assert_eq!(event_for(None, &r), Some(event));
            assert_eq!(event_for(Some(&stored(&r)), &r), None);
        }
        let r = record(RecordCategory::Behaviour, serde_json::json!({}));
        assert_eq!(event_for(None, &r), None);
    }
}
