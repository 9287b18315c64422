//! Notifications between agencies: a node raises an event from its own writes (or an
//! explicit publish), keeps it in a durable outbox, and hands it to the gateway, which
//! finds the agencies that hold the child and have subscribed, and delivers to each a
//! payload the sender's sharing policy allows for that agency's kind.

use crate::agency::AgencyKind;
use crate::category::RecordCategory;
use crate::disclosure::DisclosureLevel;
use crate::federation::ChildQuery;
use crate::identifiers::AgencyId;
use crate::problem::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What happened.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Police attended a domestic-abuse incident where the child lives (Operation
    /// Encompass): the school must know before the next school day starts.
    EncompassNotification,
    /// A child in need plan, child protection plan or period of being looked after began.
    PlanStarted,
    /// Such a plan or period ended.
    PlanEnded,
    /// A suspension or permanent exclusion.
    Exclusion,
    /// Attendance fell below 90%.
    PersistentAbsence,
    /// The child joined a new school.
    SchoolMove,
    /// A new allocated social worker, lead practitioner or trusted adult.
    PractitionerChanged,
    /// Someone whose agency does not work with the child read this agency's records of
    /// them in an emergency ("break-glass"): an alert to the agency's data protection
    /// officer and safeguarding lead, raised by the node itself.
    BreakGlass,
    /// A multi-agency meeting about the child was arranged for a future date (a
    /// `meeting` record written with its date ahead): to the agencies that work with the
    /// child.
    MeetingScheduled,
    /// A meeting made a decision an agency owns: to that agency only (the event names
    /// it, `recipient`), one event per decision.
    MeetingDecision,
    /// A concern about the child, raised to the children's social care front door that
    /// serves them (`/v1/concerns`): delivered to that one front door, never offered
    /// to subscribers.
    ConcernRaised,
    /// Social care's decision on a concern, or a later step, for the agency that raised
    /// it.
    ConcernOutcome,
}

/// What a recipient agency's involvement with the child must be for it to receive an
/// event ([`route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Involvement {
    /// Nobody of this kind receives it (or this kind of sender may not send it).
    Nobody,
    /// Involved now: a record that is in effect today, no handover window (a school the
    /// child is on roll at today).
    Current,
    /// An active relationship by the recipient's own rules, handover window included (a
    /// school the child left a few days ago).
    Active,
    /// Involved now, or the school the event names (an Encompass record's
    /// `school_to_inform`): that school takes the event when it holds the child even if
    /// the child is not on its roll yet (joining, the admission not yet in its records),
    /// but never when its records show the child has left it.
    CurrentOrNamed,
    /// Only the agency the event is addressed to (a meeting decision's owner, the
    /// event's `recipient`), when it holds the child; no other agency is even asked.
    Addressed,
}

/// The routing table: who may receive an event of this type from this kind of sender.
/// One table for every rule; the gateway offers events by it and each recipient node
/// checks it against its own records before accepting. Later rules extend this table
/// rather than adding checks in handlers.
pub fn route(event: EventType, sender: AgencyKind, recipient: AgencyKind) -> Involvement {
    use AgencyKind as K;
    use EventType as E;
    use Involvement::{Active, Current, Nobody};
    if !may_send(event, sender) {
        return Nobody;
    }
    match (event, recipient) {
        // A decision goes to the agency that owns it, and to nobody else.
        (E::MeetingDecision, _) => Involvement::Addressed,
        // A meeting being arranged: every agency that works with the child, a school
        // within its handover window too (it may still be invited).
        (E::MeetingScheduled, _) => Active,
        // A concern goes to social care only: the node that holds the child, else the
        // front door of the child's home authority (which then holds a contact).
        (E::ConcernRaised, K::SocialCare) => Active,
        (E::ConcernRaised, _) => Nobody,
        // The decision goes back to whoever raised the concern; later steps only while
        // the referrer still works with the child.
        (E::ConcernOutcome, _) => Active,
        // The school the child left hears of the move once, within its handover window
        // (a children-missing-education check), and nothing after it.
        (E::SchoolMove, K::School) => Active,
        // Operation Encompass: the school(s) where the child is on roll now, and the
        // school the police record names, never one they have left.
        (E::EncompassNotification, K::School) => Involvement::CurrentOrNamed,
        (_, K::School) => Current,
        _ => Active,
    }
}

/// The sender rules of the routing table: whether an agency of this kind may raise this
/// event at all. The gateway refuses (403) a route request whose sender may not.
pub fn may_send(event: EventType, sender: AgencyKind) -> bool {
    use AgencyKind as K;
    use EventType as E;
    match event {
        E::EncompassNotification => sender == K::Police,
        E::PlanStarted | E::PlanEnded => sender == K::SocialCare,
        E::Exclusion | E::PersistentAbsence => {
            matches!(sender, K::School | K::VirtualSchool)
        }
        E::SchoolMove => sender == K::School,
        E::PractitionerChanged => true,
        // Raised by the holding node in its own inbox, never routed.
        E::BreakGlass => false,
        // The agencies that hold meeting records.
        E::MeetingScheduled | E::MeetingDecision => matches!(
            sender,
            K::SocialCare | K::EarlyHelp | K::VirtualSchool | K::School | K::Health
        ),
        // Any agency may raise a concern; only social care answers one.
        E::ConcernRaised => sender != K::SocialCare,
        E::ConcernOutcome => sender == K::SocialCare,
    }
}

/// What writing a record of a category raises ([`RecordCategory::raises`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raises {
    Nothing,
    /// This event when the record is created (or a retracted one comes back).
    OnCreation(EventType),
    /// `plan_started` when the record is created without an end date; `plan_ended` when
    /// an open one is given one.
    PlanStartedAndEnded,
    /// This event when the record's details come to show it
    /// ([`RecordDetails::shows`](crate::RecordDetails::shows)): created showing it, or
    /// updated from details that did not.
    WhenDetailsShow(EventType),
    /// A meeting: `meeting_scheduled` when it is written with a date still ahead (created,
    /// or moved to a new date), and one `meeting_decision` per decision not in the
    /// record before, addressed to the decision's owner.
    Meeting,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::EncompassNotification,
        EventType::PlanStarted,
        EventType::PlanEnded,
        EventType::Exclusion,
        EventType::PersistentAbsence,
        EventType::SchoolMove,
        EventType::PractitionerChanged,
        EventType::BreakGlass,
        EventType::MeetingScheduled,
        EventType::MeetingDecision,
        EventType::ConcernRaised,
        EventType::ConcernOutcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EncompassNotification => "encompass_notification",
            EventType::PlanStarted => "plan_started",
            EventType::PlanEnded => "plan_ended",
            EventType::Exclusion => "exclusion",
            EventType::PersistentAbsence => "persistent_absence",
            EventType::SchoolMove => "school_move",
            EventType::PractitionerChanged => "practitioner_changed",
            EventType::BreakGlass => "break_glass",
            EventType::MeetingScheduled => "meeting_scheduled",
            EventType::MeetingDecision => "meeting_decision",
            EventType::ConcernRaised => "concern_raised",
            EventType::ConcernOutcome => "concern_outcome",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// An event an agency's system publishes explicitly for one of its children.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "event_type": "exclusion",
    "occurred_at": "2026-11-20T13:05:00Z",
    "category": "exclusion",
    "impact": "Suspended for 3 days from 20 November; return meeting planned",
    "details": {"kind": "suspension", "days": 3, "reason_category": "persistent disruptive behaviour"}
}))]
pub struct EventPublish {
    pub event_type: EventType,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    /// The category of record the event is about; decides what the sharing policy lets
    /// each recipient see.
    pub category: RecordCategory,
    /// One line safe to share at summary level.
    pub impact: String,
    /// Details for recipients whose policy grants `full`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl EventPublish {
    pub fn validate(&self, holder: AgencyKind) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !self.category.held_by(holder) {
            errors.push(FieldError::new(
                "category",
                format!(
                    "a {} node does not hold {} records",
                    holder.as_str(),
                    self.category.as_str()
                ),
            ));
        }
        crate::record::check_impact(&self.impact, &mut errors);
        if !self.details.is_object() {
            errors.push(FieldError::new("details", "must be a JSON object"));
        }
        if self.occurred_at > Utc::now() + chrono::Duration::minutes(5) {
            errors.push(FieldError::new("occurred_at", "must not be in the future"));
        }
        errors
    }
}

/// What one kind of recipient agency may receive, decided by the sender's policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KindPayload {
    pub kind: AgencyKind,
    /// `existence`, `summary` or `full`.
    pub level: DisclosureLevel,
    /// The impact line; empty at `existence` level.
    pub impact: String,
    /// Present only at `full` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// A node hands an event to the gateway for routing (`POST /v1/notifications`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RouteRequest {
    /// The event's id; recipients ignore a second delivery with the same id.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub event_type: EventType,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    pub category: RecordCategory,
    /// How the gateway finds the child at the other agencies (sent to them as a match,
    /// never with the event's payload).
    pub child: ChildQuery,
    /// Operation Encompass: the URN of the school the police record names, which takes
    /// the event even before the child is on its roll ([`Involvement::CurrentOrNamed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub school_to_inform: Option<crate::details::Urn>,
    /// The one agency the event is for, when the routing table addresses it
    /// ([`Involvement::Addressed`]: a meeting decision's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<AgencyId>,
    /// One payload per agency kind the sender's policy lets receive this event; kinds
    /// not listed receive nothing.
    pub payloads: Vec<KindPayload>,
}

/// What happened at one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Stored in the recipient's inbox.
    Delivered,
    /// The recipient already had this event (a retry); nothing changed.
    Duplicate,
    /// Never sent by the gateway any more (an agency that does not take an event is not
    /// listed, so that routing says nothing of who holds a child); kept so that outboxes
    /// written before can still be read.
    NotSubscribed,
    /// The recipient could not be reached or refused; the sender retries.
    Failed,
    /// The recipient no longer works with the child (a later step of a concern after
    /// the referrer's relationship ended): nothing was delivered, and nothing is retried.
    NotInvolved,
}

/// One recipient's result, as the gateway reports it to the sender.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecipientOutcome {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub kind: AgencyKind,
    pub outcome: DeliveryOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For Operation Encompass at a school: the start of the school's next school day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
}

/// The gateway's answer to a route request. Only the agencies that took the event are
/// listed: an agency that holds the child but did not take it (not subscribed, no
/// relationship the routing table asks for) is not, exactly as one that does not hold it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RouteResponse {
    pub recipients: Vec<RecipientOutcome>,
    /// Agencies that could not be asked whether they hold the child (down, timed out):
    /// the sender retries, since one of them may hold the child.
    #[serde(default)]
    pub unreachable: Vec<AgencyId>,
}

/// The gateway asks a node whether it wants an event about a child
/// (`POST /v1/federation/notifications/offers`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationOffer {
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    pub event_type: EventType,
    pub sender: AgencyId,
    pub child: ChildQuery,
    /// Operation Encompass: the URN of the school the police record names; a school node
    /// whose own URN it is takes the event even before the child is on its roll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub school_to_inform: Option<crate::details::Urn>,
    /// The one agency the event is for (a meeting decision's owner); a node that is not
    /// it does not take the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<AgencyId>,
}

/// The sender's own node's answer to the gateway's question before routing
/// (`POST /v1/federation/notifications/origin`): does this node hold the child the event
/// it sent is about? A node may raise events only about its own children.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"held": true}))]
pub struct OriginAnswer {
    /// The node holds the child (linked, not a mere candidate).
    pub held: bool,
}

/// A node's answer to an offer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferAnswer {
    /// The node holds the child (linked, not a mere candidate) and has an active
    /// subscription to the event type.
    pub wanted: bool,
    /// `held`, `not_held`, `not_involved` (held, but the routing table wants an
    /// involvement this agency does not have: a school the child has left) or
    /// `not_subscribed`.
    pub reason: String,
    /// The child's reference at this node; only when wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_ref: Option<String>,
}

/// An event delivered to a recipient node, signed by the gateway
/// (`POST /v1/federation/notifications`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub event_type: EventType,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    pub sender: AgencyId,
    pub sender_name: String,
    /// The child, as the recipient knows it.
    pub local_ref: String,
    pub category: RecordCategory,
    pub level: DisclosureLevel,
    pub impact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// The recipient node's receipt for a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReceipt {
    pub outcome: DeliveryOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
}

/// A notification in a recipient's inbox, as its practitioners read it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboxItem {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub event_type: EventType,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    pub sender: AgencyId,
    pub sender_name: String,
    /// The child's local id at this agency.
    pub local_id: String,
    pub category: RecordCategory,
    pub level: DisclosureLevel,
    pub impact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// Operation Encompass: the start of the next school day, by when the designated
    /// safeguarding lead must know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Not acknowledged, and the deadline is near or passed.
    pub at_risk: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Inbox {
    pub items: Vec<InboxItem>,
}

/// Where an outbox event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next delivery attempt.
    Pending,
    /// Every agency that holds the child has answered.
    Delivered,
    /// Gave up after the configured number of attempts; can be replayed.
    Dead,
}

/// One recipient of an outbox event, as the sender sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecipientState {
    pub agency_id: AgencyId,
    pub agency_name: String,
    pub outcome: DeliveryOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// An event in the sender's outbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutboxItem {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub event_type: EventType,
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: DateTime<Utc>,
    pub local_id: String,
    pub category: RecordCategory,
    pub status: OutboxStatus,
    pub attempts: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Operation Encompass: the earliest time a school day can start after the
    /// incident (the sender cannot know each school's calendar before delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<DateTime<Utc>>,
    /// Not yet delivered everywhere, and the deadline is near or passed.
    pub at_risk: bool,
    pub recipients: Vec<RecipientState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Outbox {
    pub items: Vec<OutboxItem>,
}

/// An agency's subscription to one event type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"event_type": "encompass_notification", "active": true}))]
pub struct Subscription {
    pub event_type: EventType,
    /// `false` pauses delivery: the gateway is told "not subscribed" meanwhile.
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"active": true}))]
pub struct SubscriptionUpdate {
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscriptions {
    pub subscriptions: Vec<Subscription>,
}

/// A recipient acknowledged an event; relayed by the gateway to the sender.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Acknowledgement {
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// The agency that sent the event (on the way to the gateway) or that acknowledged
    /// it (on the way from the gateway to the sender).
    pub agency_id: AgencyId,
    #[schema(value_type = String, format = DateTime)]
    pub acknowledged_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap_or_default(),
                serde_json::Value::String(t.as_str().into())
            );
        }
        assert_eq!(EventType::parse("gossip"), None);
    }

    #[test]
    fn the_routing_table_holds_the_sender_and_recipient_rules() {
        use AgencyKind as K;
        use EventType as E;
        // Sender rules: a school may not raise an Encompass notification, nobody routes
        // a break-glass alert, the police hold no meetings.
        assert!(may_send(E::EncompassNotification, K::Police));
        assert!(!may_send(E::EncompassNotification, K::School));
        assert_eq!(
            route(E::EncompassNotification, K::School, K::SocialCare),
            Involvement::Nobody
        );
        assert!(
            EventType::ALL
                .iter()
                .all(|e| *e != E::BreakGlass || K::ALL.iter().all(|k| !may_send(*e, *k)))
        );
        assert!(!may_send(E::MeetingDecision, K::Police));
        // Recipients: Encompass to the school on roll or named; a decision to its owner.
        assert_eq!(
            route(E::EncompassNotification, K::Police, K::School),
            Involvement::CurrentOrNamed
        );
        assert_eq!(
            route(E::MeetingDecision, K::SocialCare, K::Health),
            Involvement::Addressed
        );
        assert_eq!(
            route(E::MeetingScheduled, K::SocialCare, K::School),
            Involvement::Active
        );
        assert_eq!(
            route(E::PlanStarted, K::SocialCare, K::School),
            Involvement::Current
        );
    }

    #[test]
    fn publish_checks_category_against_holder() {
        let event = EventPublish {
            event_type: EventType::Exclusion,
            occurred_at: Utc::now(),
            category: RecordCategory::Exclusion,
            impact: "Suspended for two days".into(),
            details: empty_object(),
        };
        assert!(event.validate(AgencyKind::School).is_empty());
        let errors = event.validate(AgencyKind::Police);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "category");
    }
}
