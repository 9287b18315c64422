//! The node's tamper-evident audit: every write appends an entry in the same transaction
//! as the data it describes; every disclosure appends one in a short write transaction,
//! committed before the answer leaves the node, after reading on a snapshot (see
//! `routes::federation`). Entries are hash-chained
//! (`hash = SHA-256(prev_hash || canonical entry)`), so editing, removing or reordering
//! any stored entry breaks the chain at that entry.

use chrono::{NaiveDateTime, Timelike};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The chain's starting point: the `prev_hash` of entry 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A gateway asked whether the node holds a child.
    Match,
    /// Records (or their summaries, or the child's existence) were disclosed.
    Disclosure,
    /// The agency's own system wrote a child, a record or a consent decision.
    Write,
    /// A practitioner confirmed that one of this node's candidates is the child they
    /// searched for, so the node linked it.
    Confirm,
    /// This node granted one of its practitioners a break-glass (an emergency read of a
    /// child their agency does not work with), counting it against their daily limit.
    BreakGlass,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Match => "match",
            Action::Disclosure => "disclosure",
            Action::Write => "write",
            Action::Confirm => "confirm",
            Action::BreakGlass => "break_glass",
        }
    }
}

/// An entry before it is chained.
#[derive(Debug, Clone, Serialize)]
pub struct NewEntry {
    pub action: &'static str,
    pub actor_user: Option<String>,
    pub actor_role: Option<String>,
    pub actor_agency: Option<String>,
    /// The member whose certificate made the call (gateway or integration system).
    pub via_member: String,
    pub purpose: Option<String>,
    pub legal_basis: Option<String>,
    pub override_reason: Option<String>,
    pub child_id: Option<String>,
    /// What was disclosed or written, as JSON.
    pub detail: serde_json::Value,
    pub correlation_id: String,
}

impl NewEntry {
    /// A practitioner's read through a gateway.
    pub fn by_practitioner(
        action: Action,
        practitioner: &trust::Practitioner,
        gateway: &schemas::AgencyId,
        context: &schemas::federation::AccessContext,
        correlation_id: &str,
        child_id: Option<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            action: action.as_str(),
            actor_user: Some(practitioner.subject.clone()),
            actor_role: Some(practitioner.role.as_str().to_owned()),
            actor_agency: Some(practitioner.agency.to_string()),
            via_member: gateway.to_string(),
            purpose: Some(wire_name(&context.purpose)),
            legal_basis: Some(wire_name(&context.legal_basis)),
            override_reason: context.reason.clone(),
            child_id,
            detail,
            correlation_id: correlation_id.to_owned(),
        }
    }

    /// The same entry recorded as another action.
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = action.as_str();
        self
    }

    /// An event this node sent (through `gateway`) to another agency, at a level: a
    /// disclosure to that agency's practitioners, for safeguarding, which the child's
    /// access report lists like any other.
    pub fn notification_disclosure(
        recipient: &str,
        kind: schemas::AgencyKind,
        child_id: &str,
        event_id: &str,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            action: Action::Disclosure.as_str(),
            actor_user: None,
            actor_role: Some(
                crate::notifications::recipient_role(kind)
                    .as_str()
                    .to_owned(),
            ),
            actor_agency: Some(recipient.to_owned()),
            via_member: "gateway".to_owned(),
            purpose: Some(wire_name(&schemas::federation::Purpose::Safeguarding)),
            legal_basis: Some(wire_name(&schemas::federation::LegalBasis::PublicTask)),
            override_reason: None,
            child_id: Some(child_id.to_owned()),
            detail,
            correlation_id: event_id.to_owned(),
        }
    }

    /// A write by the agency's own system.
    pub fn by_system(
        system: &schemas::AgencyId,
        correlation_id: &str,
        child_id: Option<String>,
        detail: serde_json::Value,
    ) -> Self {
        Self {
            action: Action::Write.as_str(),
            actor_user: None,
            actor_role: None,
            actor_agency: None,
            via_member: system.to_string(),
            purpose: None,
            legal_basis: None,
            override_reason: None,
            child_id,
            detail,
            correlation_id: correlation_id.to_owned(),
        }
    }
}

/// The wire name of an enum value (`safeguarding`, `public_task`).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The fields the hash covers, in a fixed order: everything stored but the hash itself.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: String,
    #[serde(flatten)]
    entry: &'a NewEntry,
}

/// Timestamps are kept to the microsecond so they read back exactly as hashed.
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

pub fn format_at(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `SHA-256(prev_hash || canonical JSON)`, lower-case hex.
pub fn chain_hash(prev_hash: &str, seq: i64, at: NaiveDateTime, entry: &NewEntry) -> String {
    chain_hash_of(prev_hash, &canonical(seq, at, entry))
}

/// The canonical JSON an entry's hash covers: all but the previous hash, so it can be
/// made for many entries at once (on every core) before they are chained.
pub fn canonical(seq: i64, at: NaiveDateTime, entry: &NewEntry) -> String {
    serde_json::to_string(&Canonical {
        seq,
        at: format_at(at),
        entry,
    })
    .unwrap_or_default()
}

/// [`chain_hash`] of an entry's [`canonical`] JSON.
pub fn chain_hash_of(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical.as_bytes());
    schemas::hex::lower_hex(&hasher.finalize())
}

/// A correlation id: the trace id of a W3C `traceparent` header when the caller sent a
/// valid one, else a fresh random id.
pub fn correlation_id(traceparent: Option<&str>) -> String {
    traceparent
        .and_then(|tp| {
            let parts: Vec<&str> = tp.split('-').collect();
            match parts.as_slice() {
                [_, trace, _, _]
                    if trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    Some((*trace).to_ascii_lowercase())
                }
                _ => None,
            }
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// The correlation id of a request (see [`correlation_id`]).
pub fn correlation_of(req: &actix_web::HttpRequest) -> String {
    correlation_id(
        req.headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> NewEntry {
        NewEntry {
            action: "disclosure",
            actor_user: Some("dsl".into()),
            actor_role: Some("designated_safeguarding_lead".into()),
            actor_agency: Some("school-a".into()),
            via_member: "gateway".into(),
            purpose: Some("safeguarding".into()),
            legal_basis: Some("public_task".into()),
            override_reason: None,
            child_id: Some("c1".into()),
            detail: serde_json::json!({"levels": {"child_protection_plan": "full"}}),
            correlation_id: "abc".into(),
        }
    }

    #[test]
    fn any_field_change_changes_the_hash() {
        let at = now();
        let base = chain_hash(GENESIS, 1, at, &entry());
        assert_eq!(base, chain_hash(GENESIS, 1, at, &entry()));
        assert_ne!(base, chain_hash(GENESIS, 2, at, &entry()));
        let mut e = entry();
        e.purpose = Some("education_support".into());
        assert_ne!(base, chain_hash(GENESIS, 1, at, &e));
        assert_ne!(base, chain_hash(&base, 1, at, &entry()));
    }

    #[test]
    fn traceparent_gives_the_correlation_id() {
        let tp = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        assert_eq!(correlation_id(Some(tp)), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(correlation_id(Some("garbage")).len(), 32);
    }
}
