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
                    if message.kind == RAISE {
                        let due = routed
                            .deadline
                            .map(|d| {
                                format!(
                                    ". Decision due by {}",
                                    d.with_timezone(&chrono_tz::Europe::London)
                                        .format("%-d %B %Y %H:%M")
                                )
                            })
                            .unwrap_or_default();
                        chronicle_raised(c, &concern, &message.id, Some(&routed.front_door), &due)?;
                    }
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
                    chronicle_raised(
                        c,
                        &concern,
                        &message.id,
                        None,
                        ". Not delivered: call the front door",
                    )?;
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

/// The child as the front door should find it: identifiers and whatever demographics
/// are known (a partial child's as far as they go); `None` when nothing valid is left.
pub fn query_of(child: &schemas::Child) -> Option<ChildQuery> {
    ChildQuery::of_child(&child.identifiers, &child.demographics)
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

/// The node itself writing a concern's chronology record (for a delivery, or a message
/// it sent), audited as written by `agency`; it raises no event.
pub fn node_writer<'a>(agency: &'a AgencyId, correlation_id: &'a str) -> crate::writes::Writer<'a> {
    crate::writes::Writer {
        system: agency,
        correlation_id,
        raise_within_days: 0,
        raise_events: false,
        earliest_school_day: None,
        matching_key: None,
    }
}

/// What the chronology record of a concern says.
pub struct Chronicle<'a> {
    pub concern_id: uuid::Uuid,
    pub content: &'a ConcernContent,
    pub raised_by: &'a AgencyId,
    pub front_door: Option<&'a AgencyId>,
    pub decision: Option<DecisionKind>,
    /// The one line (cut to 280 characters).
    pub impact: String,
    pub raised_on: chrono::NaiveDate,
}

/// Writes (or rewrites) the child's `concern` record, so the concern and its outcome
/// show in the chronology, at this node and in the federated view. As `system` (the
/// agency's own system, or this node when a delivery writes it).
pub fn chronicle(
    conn: &mut db::DbConnection,
    writer: &crate::writes::Writer<'_>,
    kind: AgencyKind,
    local_id: &str,
    entry: &Chronicle<'_>,
) -> Result<(), crate::error::ApiError> {
    let details = schemas::details::ConcernDetails {
        concern_id: entry.concern_id,
        categories: entry.content.categories.clone(),
        immediate_risk: entry.content.immediate_risk,
        raised_by: entry.raised_by.clone(),
        front_door: entry.front_door.cloned(),
        decision: entry.decision,
    };
    let mut impact: String = entry.impact.chars().take(280).collect();
    if impact.trim().is_empty() {
        impact = "Concern raised with children's social care".into();
    }
    let upsert = schemas::RecordUpsert {
        source_system_id: format!("concern:{}", entry.concern_id),
        category: RecordCategory::Concern,
        effective_from: entry.raised_on,
        effective_to: None,
        recorded_at: None,
        impact,
        details: serde_json::to_value(&details).map_err(|e| DbError::Corrupt(e.to_string()))?,
    };
    let record = upsert
        .check(kind)
        .map_err(crate::error::ApiError::Invalid)?;
    crate::writes::apply(
        conn,
        writer,
        &crate::writes::Write::Record {
            local_id,
            record: &record,
            expect: db::records::Expect::Anything,
        },
    )?;
    Ok(())
}

/// Rewrites the referrer's `concern` record as the concern reaches its front door (or
/// never does), before any outcome: as this node itself, as a delivery does.
fn chronicle_raised(
    conn: &mut db::DbConnection,
    concern: &ConcernRow,
    correlation_id: &str,
    front_door: Option<&FrontDoor>,
    then: &str,
) -> Result<(), DbError> {
    let (Some(child_id), Some(kind), Ok(agency)) = (
        concern.child_id.as_deref(),
        kind_of(&concern.referrer_kind),
        AgencyId::parse(&concern.referrer),
    ) else {
        return Ok(());
    };
    let Some(child) = db::children::find_by_id(conn, child_id)? else {
        return Ok(());
    };
    let content: ConcernContent = parse(&concern.content)?;
    let writer = node_writer(&agency, correlation_id);
    let with = front_door.map_or("children's social care", |d| d.name.as_str());
    chronicle(
        conn,
        &writer,
        kind,
        &child.local_id,
        &Chronicle {
            concern_id: uuid::Uuid::parse_str(&concern.id)
                .map_err(|_| DbError::Corrupt("concern id".into()))?,
            content: &content,
            raised_by: &agency,
            front_door: front_door.map(|d| &d.agency_id),
            decision: None,
            impact: format!(
                "Concern raised with {with}: {}{then}",
                categories_in_words(&content)
            ),
            raised_on: concern
                .raised_at
                .and_utc()
                .with_timezone(&chrono_tz::Europe::London)
                .date_naive(),
        },
    )
    // Unexpected here (the node built the record); the attempt's bookkeeping rolls back
    // and the message is tried again.
    .map_err(|e| DbError::Corrupt(format!("the concern's record: {e}")))
}

/// What the referrer heard, for its chronology line: the latest decision and, when a
/// later step came after it, that step ("Child and family assessment started; …. Then:
/// Plan started: …").
pub fn outcomes_in_a_line(outcomes: &[ConcernOutcome]) -> String {
    let decision = outcomes.iter().rposition(|o| o.kind == "decision");
    let last = outcomes.len().checked_sub(1);
    match (decision, last) {
        (Some(d), Some(l)) if l > d => {
            format!("{}. Then: {}", outcomes[d].summary, outcomes[l].summary)
        }
        (_, Some(l)) => outcomes[l].summary.clone(),
        _ => String::new(),
    }
}

/// The categories in words, for a chronology line.
pub fn categories_in_words(content: &ConcernContent) -> String {
    content
        .categories
        .iter()
        .map(|c| c.in_words())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What social care's decision opened, written as its own records.
pub struct Opened {
    /// The child's row id at this node.
    pub child_id: String,
    /// Whether the child was created from the concern's details (a contact until now).
    pub created: bool,
}

/// When a decision opens work with a child (a child and family assessment or a section
/// 47 enquiry), social care holds the child and writes its own record of the work: a
/// `child_in_need_episode` (referral date: the day the front door received the concern;
/// referral source: the referrer's kind) and, for an enquiry, a `section_47_enquiry`
/// starting on the day of the decision (within the child's open episode when there is
/// one: then no second episode). Both have source ids `concern:<id>:…`, so the
/// authority's own system can later write over them.
///
/// The child is the one the concern already names here; else the child this node matches
/// the concern's child details to, as the federation's match does (`held` only), or the
/// child that holds one of its identifiers (an identifier names one child at a node);
/// else a new child (`local_id` `concern-<id>`) from the concern's details.
///
/// Any other decision opens nothing: no further action, early help (offered by early
/// help, not social care) and passing on leave a contact a contact; "already open" names
/// work the authority's own system holds and writes.
pub fn open_work(
    conn: &mut db::DbConnection,
    writer: &crate::writes::Writer<'_>,
    settings: &matching::MatchingSettings,
    concern: &ConcernRow,
    decision: DecisionKind,
    decided_on: chrono::NaiveDate,
) -> Result<Option<Opened>, crate::error::ApiError> {
    use crate::error::ApiError;
    use crate::writes::{Write, Written};
    if !decision.opens_work() {
        return Ok(None);
    }
    let (child_id, created) = match &concern.child_id {
        Some(id) => (id.clone(), false),
        None => {
            let query: ChildQuery = match &concern.child_query {
                Some(q) => parse(q)?,
                None => return Err(ApiError::Internal),
            };
            match held_child(conn, &query, settings)? {
                Some(id) => (id, false),
                None => {
                    let local_id = format!("concern-{}", concern.id);
                    let child = schemas::ChildUpsert {
                        demographics: query
                            .demographics
                            .map(schemas::child::KnownDemographics::from)
                            .unwrap_or_default(),
                        identifiers: query.identifiers,
                    };
                    let write = Write::Child {
                        local_id: &local_id,
                        child: &child,
                    };
                    crate::writes::validate(&write)?;
                    match crate::writes::apply(conn, writer, &write)? {
                        Written::Child(row, created) => (row.id, created),
                        _ => return Err(ApiError::Internal),
                    }
                }
            }
        }
    };
    let child = db::children::find_by_id(conn, &child_id)?.ok_or(ApiError::ChildNotFound)?;
    let referrer_kind =
        kind_of(&concern.referrer_kind).ok_or_else(|| DbError::Corrupt("referrer kind".into()))?;
    let received_on = concern
        .received_at
        .unwrap_or(concern.raised_at)
        .and_utc()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let episode = schemas::details::ChildInNeedEpisodeDetails {
        referral_date: received_on,
        primary_need_code: schemas::details::CinPrimaryNeed::N0,
        closure_date: None,
        closure_reason: None,
        referral_source: Some(schemas::details::CinReferralSource::of_referrer(
            referrer_kind,
        )),
        no_further_action: None,
        initial_cpc_date: None,
    };
    let started = match decision {
        DecisionKind::Section47 => "section 47 enquiry started",
        _ => "child and family assessment started",
    };
    // New work for a child already in an open episode belongs to that episode.
    let mut episode_open = false;
    for row in db::records::for_child(conn, &child_id)? {
        if row.category == RecordCategory::ChildInNeedEpisode.as_str() {
            let record = row.into_wire()?;
            episode_open |= record.effective_from <= decided_on
                && record.last_day().is_none_or(|last| last >= decided_on);
        }
    }
    let mut records = Vec::new();
    if !episode_open {
        records.push((
            format!("concern:{}:episode", concern.id),
            RecordCategory::ChildInNeedEpisode,
            received_on,
            format!(
                "Referral from {} accepted: {started}",
                concern.referrer_name
            ),
            serde_json::to_value(&episode).map_err(|e| DbError::Corrupt(e.to_string()))?,
        ));
    }
    if decision == DecisionKind::Section47 {
        records.push((
            format!("concern:{}:s47", concern.id),
            RecordCategory::Section47Enquiry,
            decided_on,
            "Section 47 enquiry started".to_owned(),
            serde_json::json!({}),
        ));
    }
    for (source_system_id, category, effective_from, impact, details) in records {
        let record = schemas::RecordUpsert {
            source_system_id,
            category,
            effective_from,
            effective_to: None,
            recorded_at: None,
            impact,
            details,
        }
        .check(AgencyKind::SocialCare)
        .map_err(ApiError::Invalid)?;
        crate::writes::apply(
            conn,
            writer,
            &Write::Record {
                local_id: &child.local_id,
                record: &record,
                expect: db::records::Expect::Anything,
            },
        )?;
    }
    Ok(Some(Opened { child_id, created }))
}

/// The child this node holds that `query` names: linked by the node's matching, or
/// holding one of its identifiers.
fn held_child(
    conn: &mut db::DbConnection,
    query: &ChildQuery,
    settings: &matching::MatchingSettings,
) -> Result<Option<String>, DbError> {
    let found = crate::finding::find_with(conn, query, settings)?;
    if found.held
        && let Some(id) = found.local_ref
    {
        return Ok(Some(id));
    }
    if let Some(upn) = &query.identifiers.upn
        && let Some(row) = db::children::find_by_upn(conn, upn.as_str())?
            .into_iter()
            .next()
    {
        return Ok(Some(row.id));
    }
    if let Some(nhs) = &query.identifiers.nhs_number
        && let Some(row) = db::children::find_by_nhs_number(conn, nhs.as_str())?
            .into_iter()
            .next()
    {
        return Ok(Some(row.id));
    }
    Ok(None)
}

/// When social care closes the case a concern opened, the episode the concern opened
/// (`concern:<id>:episode`) closes too, on `closed_on`: closure reason `RC7` (services
/// ceased), unless it is closed already (by the authority's system writing over it).
/// Returns whether it closed one.
pub fn close_work(
    conn: &mut db::DbConnection,
    writer: &crate::writes::Writer<'_>,
    concern: &ConcernRow,
    closed_on: chrono::NaiveDate,
) -> Result<bool, crate::error::ApiError> {
    use crate::error::ApiError;
    let Some(row) =
        db::records::find_by_source_id(conn, &format!("concern:{}:episode", concern.id))?
    else {
        return Ok(false);
    };
    if row.retracted_at.is_some() || Some(&row.child_id) != concern.child_id.as_ref() {
        return Ok(false);
    }
    let child = db::children::find_by_id(conn, &row.child_id)?.ok_or(ApiError::ChildNotFound)?;
    let record = row.into_wire()?;
    let Some(details) = record.details else {
        return Ok(false);
    };
    let mut episode: schemas::details::ChildInNeedEpisodeDetails =
        serde_json::from_value(details).map_err(|e| DbError::Corrupt(e.to_string()))?;
    if record.effective_to.is_some() || episode.closure_date.is_some() {
        return Ok(false);
    }
    let closed_on = closed_on.max(record.effective_from);
    episode.closure_date = Some(closed_on);
    episode.closure_reason = Some(schemas::details::CinClosureReason::RC7);
    let checked = schemas::RecordUpsert {
        source_system_id: record.source_system_id,
        category: record.category,
        effective_from: record.effective_from,
        effective_to: Some(closed_on),
        recorded_at: None,
        impact: format!("{} Case closed.", record.impact.trim_end_matches('.')),
        details: serde_json::to_value(&episode).map_err(|e| DbError::Corrupt(e.to_string()))?,
    }
    .check(AgencyKind::SocialCare)
    .map_err(ApiError::Invalid)?;
    crate::writes::apply(
        conn,
        writer,
        &crate::writes::Write::Record {
            local_id: &child.local_id,
            record: &checked,
            expect: db::records::Expect::Anything,
        },
    )?;
    Ok(true)
}
