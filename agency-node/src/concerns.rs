//! Concerns to children's social care, and outcomes back.
//!
//! At the referrer: a concern is stored (`raised`) and a `raise` message queued in the
//! same transaction; the route makes the first attempt at once (so the answer can name
//! the front door), the worker retries. At the front door: a delivered concern is stored
//! (`received`; a `contact` when the node does not hold the child) with its decision
//! deadline; a decision queues an `outcome` message for the referrer and, when the
//! concern goes to another authority, a `forward` message. Messages wait in
//! `concern_messages` with the outbox's claims and backoff: nothing is lost across a
//! crash, and each recipient keeps one copy per id.

use crate::audit::NewEntry;
use crate::db::concerns::{ConcernRow, MessageRow, RAISED};
use crate::db::notifications::{DEAD, DELIVERED, PENDING};
use crate::db::{self, DbError, DbPool};
use crate::disclosure::{Policy, Requester};
use crate::notifications::NotificationSettings;
use chrono::{DateTime, NaiveDateTime, Utc};
use schemas::concern::{
    ConcernContent, ConcernDecision, ConcernItem, ConcernOutcome, ConcernRouted, ConcernStatus,
    DecisionKind, FrontDoor, OutcomeRoute,
};
use schemas::federation::Purpose;
use schemas::notification::{DeliveryOutcome, DeliveryReceipt};
use schemas::{AgencyId, AgencyKind, ChildQuery, DisclosureLevel, FieldError, RecordCategory};
use std::time::Duration;

pub const RAISE: &str = "raise";
pub const FORWARD: &str = "forward";
pub const OUTCOME: &str = "outcome";

/// How long one call to the gateway may take.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Talks to the gateway for concerns, with the node's own certificate.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    gateway_url: String,
}

/// Why a call to the gateway did not give an answer.
#[derive(Debug)]
pub enum SendError {
    /// The gateway answered with this status and problem body.
    Refused(u16, String),
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(status, body) => write!(
                f,
                "gateway answered {status}: {}",
                body.chars().take(300).collect::<String>()
            ),
            Self::Failed(why) => write!(f, "gateway: {why}"),
        }
    }
}

impl Sender {
    /// `None` without a gateway: concerns then wait in the queue.
    pub fn new(
        settings: &NotificationSettings,
        tls: &trust::tls::TlsFiles,
    ) -> anyhow::Result<Option<Self>> {
        let Some(url) = &settings.gateway_url else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trust::tls::client_config(tls)?)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Some(Self {
            http,
            gateway_url: url.trim_end_matches('/').to_owned(),
        }))
    }

    async fn post<R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &str,
    ) -> Result<R, SendError> {
        let response = self
            .http
            .post(format!("{}{path}", self.gateway_url))
            .timeout(GATEWAY_TIMEOUT)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| SendError::Failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SendError::Refused(status.as_u16(), body));
        }
        response
            .json()
            .await
            .map_err(|e| SendError::Failed(e.to_string()))
    }
}

/// What one attempt at a message gave.
#[derive(Debug, Default)]
pub struct Attempt {
    pub routed: Option<ConcernRouted>,
    /// The gateway found no front door for the child (a `raise`): the fields it named.
    pub no_front_door: Option<Vec<FieldError>>,
    pub error: Option<String>,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// A message to queue, claimed by the caller when `claim` is given (the raise route's
/// first attempt), else due now for the worker.
pub fn queue(
    conn: &mut db::DbConnection,
    concern_id: &str,
    kind: &str,
    body: String,
    claim: Option<(&str, NaiveDateTime)>,
) -> Result<String, DbError> {
    let now = Utc::now().naive_utc();
    let id = uuid::Uuid::new_v4().to_string();
    db::concerns::enqueue(
        conn,
        &MessageRow {
            id: id.clone(),
            concern_id: concern_id.to_owned(),
            kind: kind.to_owned(),
            body,
            status: PENDING.to_owned(),
            attempts: 0,
            next_attempt_at: Some(now),
            last_error: None,
            claim_token: claim.map(|(t, _)| t.to_owned()),
            claimed_until: claim.map(|(_, until)| until),
            created_at: now,
        },
    )?;
    Ok(id)
}

/// Makes one attempt at a claimed message and records it under `token`.
pub async fn attempt(
    pool: &DbPool,
    sender: &Sender,
    settings: &NotificationSettings,
    message: MessageRow,
    token: String,
) -> anyhow::Result<Attempt> {
    let attempts = message.attempts + 1;
    let mut result = Attempt::default();
    let sent: Result<(), String> = match message.kind.as_str() {
        RAISE | FORWARD => match sender
            .post::<ConcernRouted>("/v1/concerns", &message.body)
            .await
        {
            Ok(routed) => {
                let ok = matches!(
                    routed.outcome,
                    DeliveryOutcome::Delivered | DeliveryOutcome::Duplicate
                );
                let why = format!(
                    "{}: {}",
                    routed.front_door.agency_id,
                    routed.reason.as_deref().unwrap_or("not delivered")
                );
                result.routed = Some(routed);
                if ok { Ok(()) } else { Err(why) }
            }
            Err(SendError::Refused(422, body)) => {
                let problem: Option<schemas::Problem> = serde_json::from_str(&body).ok();
                result.no_front_door = Some(problem.map(|p| p.errors).unwrap_or_default());
                Err("no children's social care front door serves this child".into())
            }
            Err(e) => Err(e.to_string()),
        },
        OUTCOME => match sender
            .post::<DeliveryReceipt>("/v1/concerns/outcomes", &message.body)
            .await
        {
            Ok(receipt) if receipt.outcome != DeliveryOutcome::Failed => Ok(()),
            Ok(_) => Err("the referrer's node could not be reached".into()),
            Err(e) => Err(e.to_string()),
        },
        other => Err(format!("unknown concern message kind '{other}'")),
    };
    let error = sent.err();
    let (status, next) = match &error {
        None => (DELIVERED, None),
        Some(_) if result.no_front_door.is_some() || attempts >= settings.max_attempts => {
            (DEAD, None)
        }
        Some(_) => {
            let wait = chrono::Duration::from_std(crate::notifications::worker::backoff(
                settings, attempts,
            ))?;
            (PENDING, Some(Utc::now().naive_utc() + wait))
        }
    };
    match (&error, status) {
        (Some(why), DEAD) => {
            tracing::error!(message = %message.id, kind = %message.kind, attempts, error = %why, "concern message is a dead letter")
        }
        (Some(why), _) => {
            tracing::warn!(message = %message.id, kind = %message.kind, attempts, error = %why, "concern message will be retried")
        }
        _ => {
            tracing::info!(message = %message.id, kind = %message.kind, attempts, "concern message delivered")
        }
    }
    result.error = error.clone();
    let routed = result.routed.clone();
    let pool = pool.clone();
    let recorded = tokio::task::spawn_blocking(move || -> Result<bool, DbError> {
        let mut conn = pool.get()?;
        db::write(&mut conn, |c| {
            if !db::concerns::record_attempt(
                c,
                &message.id,
                &token,
                status,
                attempts,
                next,
                error.clone(),
            )? {
                return Ok(false);
            }
            let Some(mut concern) = db::concerns::find(c, &message.concern_id)? else {
                return Ok(true);
            };
            let now = Utc::now().naive_utc();
            match (message.kind.as_str(), status, &routed) {
                (RAISE | FORWARD, DELIVERED, Some(routed)) => {
                    if message.kind == RAISE {
                        concern.status = wire(ConcernStatus::Sent);
                        concern.deadline = routed.deadline.map(|d| d.naive_utc());
                    }
                    concern.front_door = Some(json(&routed.front_door)?);
                    concern.updated_at = now;
                    db::concerns::update(c, &concern)?;
                    // The concern's content went to the front door: a disclosure, in the
                    // child's access report like any other.
                    if let Some(child_id) = &concern.child_id {
                        let detail = serde_json::json!({
                            "disclosed": true, "concern": concern.id, "kind": message.kind,
                            "requester_kind": "social_care", "levels": {"concern": "full"},
                        });
                        db::audit::append(
                            c,
                            &NewEntry::notification_disclosure(
                                routed.front_door.agency_id.as_str(),
                                AgencyKind::SocialCare,
                                child_id,
                                &concern.id,
                                detail,
                            ),
                        )?;
                    }
                }
                (RAISE, DEAD, _) => {
                    concern.status = wire(ConcernStatus::Undelivered);
                    concern.updated_at = now;
                    db::concerns::update(c, &concern)?;
                }
                _ => {}
            }
            Ok(true)
        })
    })
    .await??;
    if !recorded {
        tracing::warn!("claim on a concern message lapsed; this attempt's result is discarded");
    }
    Ok(result)
}

/// Works the due messages, one claim at a time (called by the notification worker).
pub async fn work_due(
    pool: &DbPool,
    sender: &Sender,
    settings: &NotificationSettings,
    batch: usize,
) -> anyhow::Result<()> {
    let lease = chrono::Duration::milliseconds(
        i64::try_from(settings.claim_timeout_ms).unwrap_or(i64::MAX / 2),
    );
    for _ in 0..batch {
        let token = uuid::Uuid::new_v4().to_string();
        let claim_token = token.clone();
        let pool2 = pool.clone();
        let claimed = tokio::task::spawn_blocking(move || -> Result<_, DbError> {
            let mut conn = pool2.get()?;
            let now = Utc::now().naive_utc();
            db::concerns::claim_due(&mut conn, now, &claim_token, now + lease)
        })
        .await??;
        let Some(message) = claimed else {
            break;
        };
        attempt(pool, sender, settings, message, token).await?;
    }
    Ok(())
}

/// An agency kind from its wire name.
pub fn kind_of(name: &str) -> Option<AgencyKind> {
    AgencyKind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// A status's wire name.
pub fn wire(status: ConcernStatus) -> String {
    crate::audit::wire_name(&status)
}

/// The child as the front door should find it: identifiers, and demographics when
/// complete.
pub fn query_of(child: &schemas::Child) -> ChildQuery {
    ChildQuery {
        identifiers: child.identifiers.clone(),
        demographics: child.demographics.complete(),
    }
}

/// The outcome social care tells the referrer, at the level its sharing policy gives
/// the referrer's kind for the category that holds the work (child in need episodes):
/// the decision in words and the duty line always (statutory guidance: the referrer is
/// told the outcome), advice from `summary`, the allocated worker at `full`.
#[allow(clippy::too_many_arguments)]
pub fn outcome(
    policy: &Policy,
    referrer_kind: AgencyKind,
    kind: &str,
    decision: Option<&ConcernDecision>,
    step_line: Option<&str>,
    passed_to: Option<FrontDoor>,
    at: DateTime<Utc>,
) -> ConcernOutcome {
    let who = Requester {
        kind: referrer_kind,
        role: crate::notifications::recipient_role(referrer_kind),
        purpose: Purpose::Safeguarding,
        own_agency: false,
        related: true,
        break_glass: false,
    };
    let level = match policy.level(&who, RecordCategory::ChildInNeedEpisode) {
        DisclosureLevel::None => DisclosureLevel::Existence,
        other => other,
    };
    let at_least = |l: DisclosureLevel| level_rank(level) >= level_rank(l);
    let advice = decision
        .and_then(|d| d.advice.clone())
        .filter(|_| at_least(DisclosureLevel::Summary));
    let allocated_worker = decision
        .and_then(|d| d.allocated_worker.clone())
        .filter(|_| at_least(DisclosureLevel::Full));
    let duty_line = decision.and_then(|d| d.duty_line.clone());
    let mut parts: Vec<String> = Vec::new();
    match (decision, step_line) {
        (Some(d), _) => {
            parts.push(d.decision.in_words().to_owned());
            if d.allocated_worker.is_some() && d.decision != DecisionKind::AnotherAuthority {
                parts.push("social worker allocated".into());
            }
            if let Some(to) = &passed_to {
                parts.push(format!("now with {} ({})", to.name, to.phone));
            }
        }
        (None, Some(line)) => parts.push(line.to_owned()),
        (None, None) => {}
    }
    if let Some(line) = &duty_line {
        parts.push(format!("duty line {line}"));
    }
    ConcernOutcome {
        id: uuid::Uuid::new_v4(),
        kind: kind.to_owned(),
        decision: decision.map(|d| d.decision),
        level,
        summary: parts.join("; "),
        advice,
        allocated_worker,
        duty_line,
        passed_to,
        at,
        from: None,
        from_name: None,
    }
}

fn level_rank(level: DisclosureLevel) -> u8 {
    match level {
        DisclosureLevel::None => 0,
        DisclosureLevel::Existence => 1,
        DisclosureLevel::Summary => 2,
        DisclosureLevel::Full => 3,
    }
}

/// The referrer's request to route an outcome.
pub fn outcome_route(concern: &ConcernRow, outcome: &ConcernOutcome) -> Result<String, DbError> {
    json(&OutcomeRoute {
        concern_id: uuid::Uuid::parse_str(&concern.id)
            .map_err(|e| DbError::Corrupt(e.to_string()))?,
        to: AgencyId::parse(&concern.referrer).map_err(|e| DbError::Corrupt(e.0))?,
        outcome: outcome.clone(),
    })
}

/// A stored concern as the API shows it.
pub fn item(
    conn: &mut db::DbConnection,
    row: ConcernRow,
    horizon: NaiveDateTime,
) -> Result<ConcernItem, DbError> {
    let status: ConcernStatus = parse(&format!("\"{}\"", row.status))?;
    let local_id = match &row.child_id {
        Some(id) => db::children::find_by_id(conn, id)?.map(|c| c.local_id),
        None => None,
    };
    let last_error = if row.side == RAISED && status != ConcernStatus::Sent {
        db::concerns::latest_message(conn, &row.id, RAISE)?.and_then(|m| m.last_error)
    } else {
        None
    };
    let content: ConcernContent = parse(&row.content)?;
    Ok(ConcernItem {
        id: uuid::Uuid::parse_str(&row.id).map_err(|e| DbError::Corrupt(e.to_string()))?,
        status,
        local_id,
        child: match (&row.child_id, &row.child_query) {
            (None, Some(q)) => Some(parse(q)?),
            _ => None,
        },
        referrer: AgencyId::parse(&row.referrer).map_err(|e| DbError::Corrupt(e.0))?,
        referrer_name: row.referrer_name,
        front_door: row.front_door.as_deref().map(parse).transpose()?,
        content,
        raised_at: row.raised_at.and_utc(),
        received_at: row.received_at.map(|t| t.and_utc()),
        deadline: row.deadline.map(|t| t.and_utc()),
        at_risk: row.side != RAISED
            && row.decided_at.is_none()
            && row.deadline.is_some_and(|d| d <= horizon),
        decision: row.decision.as_deref().map(parse).transpose()?,
        decided_at: row.decided_at.map(|t| t.and_utc()),
        outcomes: parse(&row.outcomes)?,
        forwarded_by: row
            .forwarded_by
            .as_deref()
            .map(AgencyId::parse)
            .transpose()
            .map_err(|e| DbError::Corrupt(e.0))?,
        last_error,
    })
}

/// Serialises a value for a row.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    json(value)
}

/// Reads a value from a row.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DbError> {
    parse(text)
}
