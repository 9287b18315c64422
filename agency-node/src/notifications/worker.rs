//! The delivery worker: takes due events from the outbox, hands each to the gateway, and
//! records what every recipient answered. An event stays pending until every agency that
//! holds the child has answered; retries back off exponentially with jitter; after
//! `max_attempts` the event becomes a dead letter (listed, replayable). The outbox is the
//! only state, so a crash or restart of either side loses nothing: the worker simply
//! picks the event up again, and recipients ignore a second delivery with the same id.
//!
//! Every replica of the node runs a worker on the one outbox. A worker takes one event
//! at a time with a claim ([`db::notifications::claim_due`]): a lease of
//! `claim_timeout_ms` and a fresh token. An event whose claimant died is taken by
//! another worker once the lease has run out; a late claimant's result is discarded
//! (recorded only under the token still on the row). Each recipient's delivery is
//! audited once: the first time the sender records that the event reached it, whether
//! the recipient answered `delivered` or `duplicate` (a claimant that died after
//! delivering never recorded it, so the next claimant's `duplicate` is that record).
//!
//! It also passes the inbox's acknowledgements back to their senders, the same way.

use super::NotificationSettings;
use crate::db::notifications::{Claim, DEAD, DELIVERED, InboxRow, PENDING, RecipientRow};
use crate::db::{self, DbError, DbPool};
use crate::disclosure::Policy;
use chrono::{Duration as ChronoDuration, NaiveDateTime, Utc};
use rand::Rng;
use schemas::notification::{
    Acknowledgement, DeliveryOutcome, EventType, RouteRequest, RouteResponse,
};
use schemas::{AgencyId, ChildQuery, RecordCategory};
use std::time::Duration;

/// The delay before attempt `attempts + 1`: doubling from the base, capped, with
/// "equal jitter" (half fixed, half random) so retries of many events spread out.
pub fn backoff(settings: &NotificationSettings, attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 30) as u32 - 1;
    let ceiling = settings
        .backoff_base_ms
        .saturating_mul(1u64 << exponent.min(40))
        .min(settings.backoff_max_ms)
        .max(1);
    let half = ceiling / 2;
    Duration::from_millis(half + rand::rng().random_range(0..=ceiling - half))
}

pub struct Worker {
    pool: DbPool,
    policy: Policy,
    settings: NotificationSettings,
    /// None: events wait in the outbox (the worker runs for the DPO's alerts only).
    gateway_url: Option<String>,
    http: reqwest::Client,
    /// For the data protection officer's endpoint and the agency's own system: not
    /// federation members, so the client presents no certificate of ours.
    webhook_http: reqwest::Client,
    /// Set when the node drains: the worker finishes its delivery and claims no more.
    draining: service::server::Draining,
    /// Sends the concern messages waiting in the node's queue.
    concerns: Option<crate::concerns::Sender>,
}

/// How long one call to the gateway may take (it asks every node, then delivers).
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the DPO's endpoint or the agency's system may take to accept a delivery.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Events handled per round.
const BATCH: usize = 16;

/// A queue of signed deliveries to a system outside the federation: how its rows record
/// an outcome.
struct WebhookQueue {
    /// What goes where, for the log.
    what: &'static str,
    delivered: fn(&mut db::DbConnection, &str, i32, NaiveDateTime) -> Result<(), DbError>,
    failed: fn(&mut db::DbConnection, &str, i32, NaiveDateTime, &str) -> Result<(), DbError>,
}

const DPO_ALERTS: WebhookQueue = WebhookQueue {
    what: "break-glass alert to the data protection officer",
    delivered: db::dpo_alerts::mark_delivered,
    failed: db::dpo_alerts::record_failure,
};

const INBOX_PUSHES: WebhookQueue = WebhookQueue {
    what: "inbox item to the agency's own system",
    delivered: db::notifications::mark_pushed,
    failed: db::notifications::record_push_failure,
};

impl Worker {
    /// `None` when neither a gateway nor a webhook (the DPO's, the inbox's) is
    /// configured: events then wait in the outbox.
    pub fn new(
        pool: DbPool,
        policy: Policy,
        settings: NotificationSettings,
        tls: &trust::tls::TlsFiles,
    ) -> anyhow::Result<Option<Self>> {
        if settings.gateway_url.is_none()
            && settings.dpo_webhook.is_none()
            && settings.inbox_webhook.is_none()
        {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trust::tls::client_config(tls)?)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let webhook_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(WEBHOOK_TIMEOUT)
            .build()?;
        Ok(Some(Self {
            pool,
            policy,
            gateway_url: settings
                .gateway_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            settings,
            http,
            webhook_http,
            draining: service::server::Draining::default(),
            concerns: None,
        }))
    }

    /// Also works the concern queue with this sender.
    pub fn with_concerns(mut self, sender: Option<crate::concerns::Sender>) -> Self {
        self.concerns = sender;
        self
    }

    /// Stops claiming events once `draining` is set.
    pub fn stop_claiming_when(mut self, draining: service::server::Draining) -> Self {
        self.draining = draining;
        self
    }

    /// Runs until the task is dropped (the node stopping).
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "notification worker round failed");
            }
            tokio::time::sleep(poll).await;
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut db::DbConn) -> Result<T, DbError> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await??;
        Ok(result)
    }

    async fn round(&self) -> anyhow::Result<()> {
        let lease = ChronoDuration::milliseconds(
            i64::try_from(self.settings.claim_timeout_ms).unwrap_or(i64::MAX / 2),
        );
        self.alert_dpo().await?;
        self.push_inbox().await?;
        if self.gateway_url.is_none() {
            return Ok(());
        }
        // One claim at a time, so that each lease covers one delivery only.
        for _ in 0..BATCH {
            if self.draining.is_draining() {
                break;
            }
            let now = Utc::now().naive_utc();
            let Some(claim) = self
                .blocking(move |c| db::notifications::claim_due(c, now, lease))
                .await?
            else {
                break;
            };
            self.deliver(claim).await?;
        }
        if let Some(sender) = &self.concerns
            && !self.draining.is_draining()
        {
            crate::concerns::work_due(&self.pool, sender, &self.settings, BATCH).await?;
        }
        let acks = self
            .blocking(|c| db::notifications::unrelayed_acknowledgements(c, BATCH as i64))
            .await?;
        for ack in acks {
            self.relay_acknowledgement(ack).await?;
        }
        Ok(())
    }

    /// Pushes due break-glass alerts to the data protection officer's endpoint, signed
    /// with its secret (Standard Webhooks: `webhook-id` is the alert's id, so a receiver
    /// keeps one copy if two replicas or a lost answer send it twice). A refusal or no
    /// answer is retried with the same backoff as events, without end: an alert is never
    /// given up.
    async fn alert_dpo(&self) -> anyhow::Result<()> {
        let Some(dpo) = self.settings.dpo_webhook.clone() else {
            return Ok(());
        };
        let now = Utc::now().naive_utc();
        let due = self
            .blocking(move |c| db::dpo_alerts::due(c, now, BATCH as i64))
            .await?;
        for alert in due {
            self.deliver_webhook(
                &DPO_ALERTS,
                (&dpo.url, &dpo.secret_file),
                alert.id,
                alert.attempts + 1,
                alert.body,
            )
            .await?;
        }
        Ok(())
    }

    /// Pushes the inbox's items to the agency's own system, each signed with its secret
    /// (Standard Webhooks: `webhook-id` is the item's id, so the system keeps one copy if
    /// two replicas or a lost answer send it twice); the body is the item as
    /// `GET /v1/notifications/inbox` gives it. A refusal or no answer is retried with the
    /// same backoff as events until the system accepts the item or someone acknowledges
    /// it (the inbox API): an item is never given up while it is unread.
    async fn push_inbox(&self) -> anyhow::Result<()> {
        let Some(hook) = self.settings.inbox_webhook.clone() else {
            return Ok(());
        };
        let now = Utc::now();
        let horizon = (now + ChronoDuration::minutes(self.settings.at_risk_minutes)).naive_utc();
        let types: Option<Vec<String>> = hook
            .event_types
            .as_ref()
            .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect());
        let due = self
            .blocking(move |c| {
                db::notifications::push_due(c, now.naive_utc(), types.as_deref(), BATCH as i64)?
                    .into_iter()
                    .map(|(row, attempts)| {
                        let id = row.id.clone();
                        let item = super::inbox_item_of(c, row, horizon)?;
                        let body = serde_json::to_string(&item)
                            .map_err(|e| DbError::Corrupt(e.to_string()))?;
                        Ok((id, attempts + 1, body))
                    })
                    .collect::<Result<Vec<_>, DbError>>()
            })
            .await?;
        for (id, attempts, body) in due {
            self.deliver_webhook(
                &INBOX_PUSHES,
                (&hook.url, &hook.secret_file),
                id,
                attempts,
                body,
            )
            .await?;
        }
        Ok(())
    }

    /// Posts one queued delivery (`attempts` counts this one) to `endpoint` (its URL and
    /// secret file) and records the outcome in its queue: delivered, or failed and due
    /// again after the backoff.
    async fn deliver_webhook(
        &self,
        queue: &WebhookQueue,
        (url, secret_file): (&str, &std::path::Path),
        id: String,
        attempts: i32,
        body: String,
    ) -> anyhow::Result<()> {
        let what = queue.what;
        match self.post_signed(url, secret_file, &id, body).await {
            Ok(()) => {
                tracing::info!(id = %id, attempts, "{what} delivered");
                let at = Utc::now().naive_utc();
                let delivered = queue.delivered;
                self.blocking(move |c| delivered(c, &id, attempts, at))
                    .await?;
            }
            Err(e) => {
                let why = format!("{e:#}");
                tracing::warn!(id = %id, attempts, error = %why, "{what} not delivered; will retry");
                let next =
                    Utc::now().naive_utc() + ChronoDuration::from_std(self.backoff(attempts))?;
                let failed = queue.failed;
                self.blocking(move |c| failed(c, &id, attempts, next, &why))
                    .await?;
            }
        }
        Ok(())
    }

    /// Posts `body` to an endpoint outside the federation, signed with the secret in
    /// `secret_file` (read at each delivery, so a rotated secret applies at once) under
    /// `id`. Accepted when the endpoint answers 2xx.
    async fn post_signed(
        &self,
        url: &str,
        secret_file: &std::path::Path,
        id: &str,
        body: String,
    ) -> anyhow::Result<()> {
        let secret = trust::webhook::WebhookSecret::load(secret_file)?;
        let timestamp = Utc::now().timestamp();
        let signature = secret.sign(id, timestamp, body.as_bytes())?;
        let response = self
            .webhook_http
            .post(url)
            .header(trust::webhook::ID_HEADER, id)
            .header(trust::webhook::TIMESTAMP_HEADER, timestamp.to_string())
            .header(trust::webhook::SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the endpoint answered {}",
            response.status()
        );
        Ok(())
    }

    /// The delay before attempt `attempts + 1`: doubling from the base, capped, with
    /// "equal jitter" (half fixed, half random) so retries of many events spread out.
    fn backoff(&self, attempts: i32) -> Duration {
        backoff(&self.settings, attempts)
    }

    async fn deliver(&self, claim: Claim) -> anyhow::Result<()> {
        let Claim { event, token, .. } = claim;
        let child_id = event.child_id.clone();
        let child = self
            .blocking(move |c| db::children::find_by_id(c, &child_id))
            .await?
            .ok_or_else(|| anyhow::anyhow!("outbox event {} names no child", event.id))?
            .into_wire()?;
        let category = RecordCategory::parse(&event.category)
            .ok_or_else(|| anyhow::anyhow!("outbox event {}: unknown category", event.id))?;
        let event_type = EventType::parse(&event.event_type)
            .ok_or_else(|| anyhow::anyhow!("outbox event {}: unknown type", event.id))?;
        let details: serde_json::Value = serde_json::from_str(&event.details)?;
        let request = RouteRequest {
            id: uuid::Uuid::parse_str(&event.id)?,
            event_type,
            occurred_at: event.occurred_at.and_utc(),
            category,
            // A partial child is offered by whatever is known of it, as a partial
            // search states it.
            child: ChildQuery::of_child(&child.identifiers, &child.demographics).ok_or_else(
                || {
                    anyhow::anyhow!(
                        "outbox event {}: nothing valid to find the child by",
                        event.id
                    )
                },
            )?,
            payloads: super::payloads(&self.policy, category, &event.impact, &details),
            // The school the police record names takes the event as well (the offer
            // carries its URN only, never the payload).
            school_to_inform: (event_type == EventType::EncompassNotification)
                .then(|| details.get("school_to_inform")?.as_str())
                .flatten()
                .and_then(schemas::details::Urn::new),
            // A meeting decision goes to its owner only.
            recipient: (event_type == EventType::MeetingDecision)
                .then(|| details.get("owner")?.as_str())
                .flatten()
                .and_then(|owner| AgencyId::parse(owner).ok()),
        };
        let attempts = event.attempts + 1;
        // Recipients the event reached (delivered now, or found already delivered).
        let mut reached = Vec::new();
        let (answered, error) = if request.payloads.is_empty() {
            // This node's policy lets no agency receive it: nothing to send.
            (Vec::new(), None)
        } else {
            match self.route(&request).await {
                Ok(response) => {
                    let now = Utc::now().naive_utc();
                    let failures: Vec<String> = response
                        .recipients
                        .iter()
                        .filter(|r| r.outcome == DeliveryOutcome::Failed)
                        .map(|r| {
                            format!(
                                "{}: {}",
                                r.agency_id,
                                r.reason.as_deref().unwrap_or("failed")
                            )
                        })
                        .chain(
                            response
                                .unreachable
                                .iter()
                                .map(|a| format!("{a}: could not be asked")),
                        )
                        .collect();
                    for r in &response.recipients {
                        let level = request.payloads.iter().find(|p| p.kind == r.kind);
                        if let (
                            DeliveryOutcome::Delivered | DeliveryOutcome::Duplicate,
                            Some(payload),
                        ) = (r.outcome, level)
                        {
                            reached.push((
                                r.agency_id.to_string(),
                                r.kind,
                                crate::audit::wire_name(&payload.level),
                            ));
                        }
                    }
                    let rows = response
                        .recipients
                        .into_iter()
                        .map(|r| RecipientRow {
                            event_id: event.id.clone(),
                            agency_id: r.agency_id.to_string(),
                            agency_name: r.agency_name,
                            outcome: crate::audit::wire_name(&r.outcome),
                            reason: r.reason,
                            delivered_at: matches!(
                                r.outcome,
                                DeliveryOutcome::Delivered | DeliveryOutcome::Duplicate
                            )
                            .then_some(now),
                            deadline: r.deadline.map(|d| d.naive_utc()),
                            acknowledged_at: None,
                        })
                        .collect();
                    let error = (!failures.is_empty()).then(|| failures.join("; "));
                    (rows, error)
                }
                Err(e) => (Vec::new(), Some(format!("gateway: {e}"))),
            }
        };
        let (status, next) = match &error {
            None => (DELIVERED, None),
            Some(_) if attempts >= self.settings.max_attempts => (DEAD, None),
            Some(_) => {
                let wait = ChronoDuration::from_std(self.backoff(attempts))?;
                (PENDING, Some(Utc::now().naive_utc() + wait))
            }
        };
        match (&error, status) {
            (Some(why), DEAD) => {
                tracing::error!(event = %event.id, attempts, error = %why, "notification is a dead letter")
            }
            (Some(why), _) => {
                tracing::warn!(event = %event.id, attempts, error = %why, "notification delivery will be retried")
            }
            _ => tracing::info!(event = %event.id, attempts, "notification delivered"),
        }
        let id = event.id.clone();
        let child_id = event.child_id.clone();
        let recorded = self
            .blocking(move |c| {
                db::write(c, |c| {
                    let already: Vec<String> = db::notifications::recipients(c, &id)?
                        .into_iter()
                        .filter(|r| r.delivered_at.is_some())
                        .map(|r| r.agency_id)
                        .collect();
                    if !db::notifications::record_attempt(
                        c, &id, &token, status, attempts, next, error, &answered,
                    )? {
                        return Ok(false);
                    }
                    // Each recipient reached for the first time is a disclosure to that
                    // agency, audited with the record of it.
                    for (recipient, kind, level) in
                        reached.iter().filter(|(r, _, _)| !already.contains(r))
                    {
                    let detail = serde_json::json!({
                        "disclosed": true, "notification": id, "event_type": event_type.as_str(),
                        "requester_kind": kind, "levels": {category.as_str(): level},
                    });
                    let entry = crate::audit::NewEntry::notification_disclosure(
                        recipient, *kind, &child_id, &id, detail,
                    );
                    db::audit::append(c, &entry)?;
                }
                Ok(true)
            })
        })
        .await?;
        if !recorded {
            tracing::warn!(event = %event.id, "claim on the notification lapsed and another worker took it; this attempt's result is discarded");
        }
        Ok(())
    }

    fn gateway(&self) -> anyhow::Result<&str> {
        self.gateway_url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no gateway is configured"))
    }

    async fn route(&self, request: &RouteRequest) -> anyhow::Result<RouteResponse> {
        let response = self
            .http
            .post(format!("{}/v1/notifications", self.gateway()?))
            .timeout(GATEWAY_TIMEOUT)
            .json(request)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!(
                "answered {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        Ok(response.json().await?)
    }

    async fn relay_acknowledgement(&self, ack: InboxRow) -> anyhow::Result<()> {
        let (Some(at), Ok(event_id), Ok(sender)) = (
            ack.acknowledged_at,
            uuid::Uuid::parse_str(&ack.id),
            AgencyId::parse(&ack.sender),
        ) else {
            anyhow::bail!("inbox item {} cannot be relayed", ack.id);
        };
        let body = Acknowledgement {
            event_id,
            agency_id: sender,
            acknowledged_at: at.and_utc(),
        };
        let sent = self
            .http
            .post(format!(
                "{}/v1/notifications/acknowledgements",
                self.gateway()?
            ))
            .timeout(GATEWAY_TIMEOUT)
            .json(&body)
            .send()
            .await;
        let done = match sent {
            Ok(response) if response.status().is_success() => true,
            // The sender no longer knows the event: nothing more to tell it.
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => {
                tracing::warn!(event = %ack.id, "sender does not know the acknowledged event");
                true
            }
            Ok(response) => {
                tracing::warn!(event = %ack.id, status = %response.status(), "acknowledgement not relayed; will retry");
                false
            }
            Err(e) => {
                tracing::warn!(event = %ack.id, error = %e, "acknowledgement not relayed; will retry");
                false
            }
        };
        if done {
            let id = ack.id.clone();
            self.blocking(move |c| db::notifications::mark_relayed(c, &id))
                .await?;
        }
        Ok(())
    }
}
