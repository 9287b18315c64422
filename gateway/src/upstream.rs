//! Calls from the gateway to agency nodes over mutual TLS, and the classification of
//! every way such a call can fail.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use reqwest::{Client, StatusCode};
use schemas::AgencyId;
use schemas::disclosure::AccessReport;
use schemas::notification::{NotificationOffer, OfferAnswer};
use schemas::{
    AccessContext, CandidateConfirmation, ChildQuery, ChildRecords, NodeMatchAnswer, Problem,
};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a call to one node ended, when it did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The node said it does not hold the child (404).
    NotFound,
    /// No answer within the deadline.
    Timeout,
    /// Could not connect: refused, unreachable, TLS handshake failed.
    Unavailable(String),
    /// Answered, but not with a valid answer.
    Error(String),
}

/// A node's refusal of a request, with its own problem: passed on where the status
/// means something to the practitioner (a confirmation refused).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub problem: Problem,
}

pub struct Outcome<T> {
    pub result: Result<T, Failure>,
    pub elapsed: Duration,
}

/// When to stop waiting on a failing node, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit answers `unavailable` at once before one probe is let
    /// through (half-open).
    pub cool_down: Duration,
}

/// A circuit breaker for one node.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<BreakerInner>,
}

#[derive(Debug, Default)]
struct BreakerInner {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// What a breaker is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl Breaker {
    fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(BreakerInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether a call may go ahead: always when closed; when open, only once the
    /// cool-down has passed, and then only one probe at a time.
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if inner.probing => false,
            Some(_) => {
                inner.probing = true;
                true
            }
        }
    }

    /// A call that says nothing about the node's health (it refused the requesting
    /// agency's excess with 429): no failure counted, no success either; if it was the
    /// half-open probe, the next call may probe again.
    pub fn record_neither(&self) {
        self.lock().probing = false;
    }

    pub fn record(&self, success: bool) {
        let mut inner = self.lock();
        if success {
            *inner = BreakerInner::default();
            return;
        }
        inner.consecutive_failures += 1;
        if inner.probing || inner.consecutive_failures >= self.settings.failures.max(1) {
            inner.open_until = Some(Instant::now() + self.settings.cool_down);
            inner.probing = false;
        }
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    node: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

/// The gateway's metrics of its calls to nodes: calls by outcome, their latency, and each
/// node's circuit breaker.
#[derive(Clone)]
pub struct UpstreamMetrics {
    calls: Family<CallLabels, Counter>,
    latency: service::metrics::Latency<NodeLabels>,
    breakers: Family<NodeLabels, Gauge>,
}

impl Default for UpstreamMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            latency: service::metrics::latency(),
            breakers: Family::default(),
        }
    }
}

impl UpstreamMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "upstream_requests",
            "Calls to agency nodes, by node and outcome",
            self.calls.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "Time for a node to answer, by node",
            self.latency.clone(),
        );
        registry.register(
            "upstream_breaker_state",
            "Circuit breaker per node: 0 closed, 1 half-open, 2 open",
            self.breakers.clone(),
        );
    }

    /// One call to `node`: `outcome` is `ok`, `not_found`, `timeout`, `unavailable`,
    /// `error` or `rate_limited` (the node's 429 for the requesting agency, or a call
    /// held back until its `Retry-After`).
    fn observe(&self, node: &AgencyId, outcome: &'static str, elapsed: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                node: node.to_string(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&NodeLabels {
                node: node.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// The gateway's connections to nodes: one HTTP client per node, each presenting the
/// gateway's certificate and accepting only that node's certificate as the directory
/// lists it (so one member cannot stand in for another), kept alive and reused; a
/// circuit breaker per node; and, per node and requesting agency, how long that node
/// asked the agency to wait (its 429s).
pub struct Upstream {
    metrics: UpstreamMetrics,
    tls: trust::tls::TlsFiles,
    directory: trust::DirectoryHandle,
    connect_timeout: Duration,
    breaker: BreakerSettings,
    clients: Mutex<HashMap<AgencyId, Client>>,
    breakers: Mutex<HashMap<AgencyId, Arc<Breaker>>>,
    backoff: Arc<Backoff>,
    /// Turns in the rotation over a node's addresses, one per call.
    rotation: AtomicUsize,
}

/// Back-pressure from nodes, per (node, requesting agency): a node that answered 429 for
/// an agency's practitioners is not asked for that agency again until its `Retry-After`
/// has passed. Other agencies' calls, and the node's breaker, are untouched: a node
/// that says "slow down" to one agency is healthy for everyone. The keys are directory
/// members (a token's agency is a node member), so the map stays small.
#[derive(Debug, Default)]
pub struct Backoff {
    until: Mutex<HashMap<(AgencyId, AgencyId), Instant>>,
}

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(AgencyId, AgencyId), Instant>> {
        match self.until.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How long `agency` must still wait before asking `node` again, if at all.
    fn remaining(&self, node: &AgencyId, agency: &AgencyId) -> Option<Duration> {
        let key = (node.clone(), agency.clone());
        let mut until = self.lock();
        let wait = until
            .get(&key)
            .map(|t| t.saturating_duration_since(Instant::now()))?;
        if wait.is_zero() {
            until.remove(&key);
            return None;
        }
        Some(wait)
    }

    fn hold(&self, node: &AgencyId, agency: &AgencyId, wait: Duration) {
        let at = Instant::now() + wait;
        let mut until = self.lock();
        let entry = until.entry((node.clone(), agency.clone())).or_insert(at);
        *entry = (*entry).max(at);
    }
}

/// How one attempt ended, before it is an [`Outcome`]: a node's 429 is kept apart from
/// the failures, because it is about the requesting agency, not about the node.
enum Attempt<T> {
    Done(Result<T, Failure>),
    /// 429: the requesting agency is over its rate at the node; wait this long.
    Busy(Duration),
}

impl Upstream {
    pub fn new(
        metrics: UpstreamMetrics,
        tls: trust::tls::TlsFiles,
        directory: trust::DirectoryHandle,
        connect_timeout: Duration,
        breaker: BreakerSettings,
    ) -> anyhow::Result<Self> {
        // Fail at start, not at the first request, if the gateway's identity is unusable.
        trust::tls::client_config(&tls)?;
        Ok(Self {
            metrics,
            tls,
            directory,
            connect_timeout,
            breaker,
            clients: Mutex::new(HashMap::new()),
            breakers: Mutex::new(HashMap::new()),
            backoff: Arc::default(),
            rotation: AtomicUsize::new(0),
        })
    }

    fn client(&self, member: &AgencyId) -> Result<Client, Failure> {
        let mut clients = match self.clients.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(client) = clients.get(member) {
            return Ok(client.clone());
        }
        let config =
            trust::tls::client_config_for_member(&self.tls, member.clone(), self.directory.clone())
                .map_err(|e| Failure::Error(format!("gateway TLS configuration: {e}")))?;
        let client = Client::builder()
            .tls_backend_preconfigured(config)
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| Failure::Error(format!("gateway HTTP client: {e}")))?;
        clients.insert(member.clone(), client.clone());
        Ok(client)
    }

    fn breaker(&self, member: &AgencyId) -> Arc<Breaker> {
        let mut breakers = match self.breakers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        breakers
            .entry(member.clone())
            .or_insert_with(|| Arc::new(Breaker::new(self.breaker)))
            .clone()
    }

    /// Sets the breaker gauge of every node called so far (before a scrape).
    pub fn export_breaker_states(&self) {
        for (node, state) in self.breaker_states() {
            let value = match state {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            self.metrics
                .breakers
                .get_or_create(&NodeLabels {
                    node: node.to_string(),
                })
                .set(value);
        }
    }

    /// Every node's breaker state, for readiness and metrics.
    pub fn breaker_states(&self) -> Vec<(AgencyId, BreakerState)> {
        let breakers = match self.breakers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut states: Vec<_> = breakers
            .iter()
            .map(|(id, b)| (id.clone(), b.state()))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }

    /// A client for one call, or several, to `member`. A node listed with several
    /// addresses (replicas) is asked at each in turn: each client starts at the next
    /// address in a rotation, so calls spread over the replicas.
    pub fn node<'a>(
        &self,
        member: trust::Node<'a>,
        token: &'a str,
        deadline: Duration,
        traceparent: Option<&'a str>,
    ) -> NodeClient<'a> {
        let mut addresses: Vec<&'a str> = member.addresses().collect();
        let turn = self.rotation.fetch_add(1, Ordering::Relaxed);
        let len = addresses.len().max(1);
        addresses.rotate_left(turn % len);
        NodeClient {
            http: self.client(&member.id),
            breaker: self.breaker(&member.id),
            node: member.id.clone(),
            metrics: self.metrics.clone(),
            addresses,
            token,
            deadline,
            traceparent,
            agency: None,
            backoff: self.backoff.clone(),
        }
    }
}

pub struct NodeClient<'a> {
    http: Result<Client, Failure>,
    breaker: Arc<Breaker>,
    node: AgencyId,
    metrics: UpstreamMetrics,
    /// The node's addresses, this client's first choice first.
    addresses: Vec<&'a str>,
    pub token: &'a str,
    pub deadline: Duration,
    pub traceparent: Option<&'a str>,
    /// The agency of the practitioner the calls are for (the token's), whose 429s at
    /// this node are remembered for it alone.
    agency: Option<&'a AgencyId>,
    backoff: Arc<Backoff>,
}

impl<'a> NodeClient<'a> {
    /// The calls are on behalf of a practitioner of `agency`.
    pub fn on_behalf_of(mut self, agency: &'a AgencyId) -> Self {
        self.agency = Some(agency);
        self
    }

    pub async fn match_child(
        &self,
        query: &ChildQuery,
        ctx: &AccessContext,
    ) -> Outcome<NodeMatchAnswer> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/match"))
                .query(ctx)
                .json(query)
        })
        .await
    }

    /// The keyed twin of [`Self::match_child`]: only encodings leave the gateway.
    pub async fn match_child_keyed(
        &self,
        query: &schemas::KeyedChildQuery,
        ctx: &AccessContext,
    ) -> Outcome<NodeMatchAnswer> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/match/keyed"))
                .query(ctx)
                .json(query)
        })
        .await
    }

    /// Confirms a candidate at the node that issued its token. A refusal (4xx with a
    /// problem) is an answer, not a failure: the node is healthy and said no.
    pub async fn confirm_candidate(
        &self,
        confirmation: &CandidateConfirmation,
        ctx: &AccessContext,
    ) -> Outcome<Result<NodeMatchAnswer, Refusal>> {
        let request = |http: &Client, base: &str| {
            http.post(format!("{base}/v1/federation/match/confirm"))
                .query(ctx)
                .json(confirmation)
        };
        self.send_with(request, decode_or_refusal).await
    }

    /// Reads what the node discloses, with its match token of the search and the
    /// requester's relationship assertion, when there are.
    pub async fn records(
        &self,
        local_ref: &str,
        ctx: &AccessContext,
        match_token: Option<&str>,
        relationship: Option<&str>,
    ) -> Outcome<ChildRecords> {
        self.send(|http, base| {
            let mut request = http
                .get(format!("{base}/v1/federation/children/{local_ref}/records"))
                .query(ctx);
            if let Some(token) = match_token {
                request = request.header(schemas::MATCH_TOKEN_HEADER, token);
            }
            if let Some(assertion) = relationship {
                request = request.header(schemas::RELATIONSHIP_HEADER, assertion);
            }
            request
        })
        .await
    }

    /// A page of the practitioner's own agency's cohort (only their own node answers).
    pub async fn cohort_page(
        &self,
        ctx: &AccessContext,
        cursor: Option<&str>,
        limit: usize,
    ) -> Outcome<schemas::cohort::CohortPage> {
        let page = schemas::cohort::CohortPageQuery {
            cursor: cursor.map(str::to_owned),
            limit: Some(limit),
        };
        self.send(|http, base| {
            http.get(format!("{base}/v1/federation/cohort"))
                .query(ctx)
                .query(&page)
        })
        .await
    }

    /// Finds a chunk of a cohort's children in one call.
    pub async fn match_batch(
        &self,
        request: &schemas::cohort::BatchMatchRequest,
        ctx: &AccessContext,
    ) -> Outcome<schemas::cohort::BatchMatchResponse> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/batch/match"))
                .query(ctx)
                .json(request)
        })
        .await
    }

    /// Reads a chunk of a cohort's children in one call.
    pub async fn records_batch(
        &self,
        request: &schemas::cohort::BatchRecordsRequest,
        ctx: &AccessContext,
    ) -> Outcome<schemas::cohort::BatchRecordsResponse> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/batch/records"))
                .query(ctx)
                .json(request)
        })
        .await
    }

    /// Asks the practitioner's own agency's node for a break-glass grant. A refusal (4xx
    /// with a problem: the daily limit, an override its policy does not allow) is an
    /// answer, not a failure.
    pub async fn break_glass(
        &self,
        request: &schemas::BreakGlassRequest,
        ctx: &AccessContext,
    ) -> Outcome<Result<schemas::BreakGlassGrant, Refusal>> {
        let body = request;
        let request = |http: &Client, base: &str| {
            http.post(format!("{base}/v1/federation/break-glass"))
                .query(ctx)
                .json(body)
        };
        self.send_with(request, decode_or_refusal).await
    }

    pub async fn access_report(&self, local_ref: &str) -> Outcome<AccessReport> {
        self.send(|http, base| {
            http.get(format!(
                "{base}/v1/federation/children/{local_ref}/access-report"
            ))
        })
        .await
    }

    /// The node's record-locator filter (served to gateways only, no token).
    pub async fn locator_filter(&self) -> Outcome<schemas::LocatorFilterDocument> {
        self.send(|http, base| http.get(format!("{base}/v1/federation/locator-filter")))
            .await
    }

    /// Asks the node to keep another node's signed audit checkpoint. A refusal (4xx with
    /// a problem: a bad signature, a different head at the same entry) is an answer.
    pub async fn keep_checkpoint(
        &self,
        checkpoint: &schemas::disclosure::AuditCheckpoint,
    ) -> Outcome<Result<serde_json::Value, Refusal>> {
        let request = |http: &Client, base: &str| {
            http.post(format!("{base}/v1/federation/audit/checkpoints"))
                .json(checkpoint)
        };
        self.send_with(request, decode_or_refusal).await
    }

    /// The newest checkpoint of `node`'s audit log this node keeps (not found: none).
    pub async fn witnessed_checkpoint(
        &self,
        node: &AgencyId,
    ) -> Outcome<schemas::disclosure::AuditCheckpoint> {
        self.send(|http, base| http.get(format!("{base}/v1/federation/audit/checkpoints/{node}")))
            .await
    }

    /// Offers a notification: does the node hold the child and want the event?
    pub async fn offer(&self, offer: &NotificationOffer) -> Outcome<OfferAnswer> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/notifications/offers"))
                .json(offer)
        })
        .await
    }

    /// Asks the sender's own node whether it holds the child of the event it sent.
    pub async fn origin(
        &self,
        offer: &NotificationOffer,
    ) -> Outcome<schemas::notification::OriginAnswer> {
        self.send(|http, base| {
            http.post(format!("{base}/v1/federation/notifications/origin"))
                .json(offer)
        })
        .await
    }

    /// Posts a signed body (Standard Webhooks headers) to one of the node's
    /// notification endpoints.
    pub async fn signed_post<T: DeserializeOwned>(
        &self,
        path: &str,
        id: &str,
        body: Vec<u8>,
        secret: &trust::webhook::WebhookSecret,
    ) -> Outcome<T> {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = match secret.sign(id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => {
                return Outcome {
                    result: Err(Failure::Error(e.to_string())),
                    elapsed: Duration::ZERO,
                };
            }
        };
        self.send(|http, base| {
            http.post(format!("{base}{path}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(trust::webhook::ID_HEADER, id)
                .header(trust::webhook::TIMESTAMP_HEADER, timestamp.to_string())
                .header(trust::webhook::SIGNATURE_HEADER, &signature)
                .body(body.clone())
        })
        .await
    }

    async fn attempt<T>(
        &self,
        request: Option<reqwest::RequestBuilder>,
        deadline: Instant,
        decode: fn(StatusCode, &[u8]) -> Result<T, Failure>,
    ) -> Attempt<T> {
        let Some(request) = request else {
            return Attempt::Done(Err(Failure::Error("request could not be prepared".into())));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let call = async {
            let response = match request.timeout(remaining).send().await {
                Ok(response) => response,
                Err(e) => return Attempt::Done(Err(classify(e))),
            };
            let status = response.status();
            let wait = retry_after(response.headers());
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(e) => return Attempt::Done(Err(classify(e))),
            };
            // A rate limit is back-pressure for the requesting agency; another 429 (the
            // practitioner's daily break-glass views used up) is the node's answer.
            if status == StatusCode::TOO_MANY_REQUESTS && is_rate_limited(&bytes) {
                return Attempt::Busy(wait);
            }
            // The replica is shutting down and did nothing: another may answer.
            if status == StatusCode::SERVICE_UNAVAILABLE && is_draining(&bytes) {
                return Attempt::Done(Err(Failure::Unavailable("the node is draining".into())));
            }
            Attempt::Done(decode(status, &bytes))
        };
        // The request timeout covers the exchange; this bounds anything around it too.
        match tokio::time::timeout(remaining, call).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Done(Err(Failure::Timeout)),
        }
    }

    /// The answer for a call not made, or refused with 429, because the requesting
    /// agency must wait at this node: unavailable for that agency, saying until when.
    fn busy<T>(&self, wait: Duration, started: Instant) -> Outcome<T> {
        self.metrics
            .observe(&self.node, "rate_limited", started.elapsed());
        Outcome {
            result: Err(Failure::Unavailable(format!(
                "this agency's requests to the node are over its rate limit; retry after {} s",
                service::problem::retry_after_seconds(wait)
            ))),
            elapsed: started.elapsed(),
        }
    }

    fn unbuilt<T>(&self) -> Outcome<T> {
        let failure = match &self.http {
            Err(failure) => failure.clone(),
            Ok(_) => Failure::Error("no client".into()),
        };
        Outcome {
            result: Err(failure),
            elapsed: Duration::ZERO,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: impl Fn(&Client, &str) -> reqwest::RequestBuilder,
    ) -> Outcome<T> {
        self.send_with(request, decode_json::<T>).await
    }

    async fn send_with<T>(
        &self,
        request: impl Fn(&Client, &str) -> reqwest::RequestBuilder,
        decode: fn(StatusCode, &[u8]) -> Result<T, Failure>,
    ) -> Outcome<T> {
        let Ok(http) = &self.http else {
            return self.unbuilt();
        };
        let started = Instant::now();
        if let Some(wait) = self
            .agency
            .and_then(|agency| self.backoff.remaining(&self.node, agency))
        {
            return self.busy(wait, started);
        }
        if !self.breaker.allow() {
            return Outcome {
                result: Err(Failure::Unavailable(
                    "circuit open after repeated failures; not asked until the cool-down ends"
                        .into(),
                )),
                elapsed: Duration::ZERO,
            };
        }
        let prepare = |base: &str| {
            let mut request = request(http, base);
            if !self.token.is_empty() {
                request = request.bearer_auth(self.token);
            }
            if let Some(tp) = self.traceparent {
                request = request.header("traceparent", tp);
            }
            Some(request)
        };
        // Every call here is a read, a confirmation that is safe to repeat (the same
        // token links the same child; the node audits each call), a notification the
        // recipient keeps once per event id, or a checkpoint a witness keeps once. So a
        // connection-level failure or a draining answer moves on to the node's next
        // address (replica), each once, while the deadline leaves room; then the first
        // address is tried once more, after a jittered pause (a node restarting, a
        // kept-alive connection it dropped).
        let deadline = started + self.deadline;
        let room = |pause: Duration| Instant::now() + pause + Duration::from_millis(100) < deadline;
        let unavailable = |a: &Attempt<T>| matches!(a, Attempt::Done(Err(Failure::Unavailable(_))));
        //
        // With several addresses, an attempt gets an even share of the time left, so
        // that a replica that vanished without a word (a kept-alive connection that only
        // times out) leaves the others time to answer; a timeout then moves on too.
        let mut attempt = Attempt::Done(Err(Failure::Unavailable(
            "the node lists no address".into(),
        )));
        let count = self.addresses.len();
        for (i, base) in self.addresses.iter().enumerate() {
            if i > 0 && !room(Duration::ZERO) {
                break;
            }
            let left = u32::try_from(count - i).unwrap_or(1).max(1);
            let now = Instant::now();
            let share = now + deadline.saturating_duration_since(now) / left;
            attempt = self.attempt(prepare(base), share, decode).await;
            let next = match &attempt {
                Attempt::Done(Err(Failure::Unavailable(_))) => true,
                Attempt::Done(Err(Failure::Timeout)) => left > 1,
                _ => false,
            };
            if !next {
                break;
            }
        }
        if unavailable(&attempt)
            && let Some(first) = self.addresses.first()
        {
            let pause = Duration::from_millis(50 + u64::from(jitter_byte()) % 100);
            if room(pause) {
                tokio::time::sleep(pause).await;
                attempt = self.attempt(prepare(first), deadline, decode).await;
            }
        }
        let result = match attempt {
            Attempt::Done(result) => result,
            Attempt::Busy(wait) => {
                // Back-pressure for the requesting agency only; never a breaker failure.
                self.breaker.record_neither();
                if let Some(agency) = self.agency {
                    self.backoff.hold(&self.node, agency, wait);
                }
                return self.busy(wait, started);
            }
        };
        // A node that answers, even "not found", is healthy.
        self.breaker
            .record(matches!(result, Ok(_) | Err(Failure::NotFound)));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(Failure::NotFound) => "not_found",
            Err(Failure::Timeout) => "timeout",
            Err(Failure::Unavailable(_)) => "unavailable",
            Err(Failure::Error(_)) => "error",
        };
        self.metrics.observe(&self.node, outcome, started.elapsed());
        Outcome {
            result,
            elapsed: started.elapsed(),
        }
    }
}

/// A 429's `Retry-After` in seconds (1 s when missing or unreadable, at most a minute:
/// a node cannot silence an agency for longer with one answer).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, 60))
}

/// Whether a `429` body is a rate limiter's problem ([`service::problem::rate_limited_problem`]),
/// or has none (a proxy's): back-pressure, not an answer.
fn is_rate_limited(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Problem>(bytes).map_or(true, |p| {
        p.type_uri == Problem::new("rate-limited", "", 429).type_uri
    })
}

/// Whether a `503` body is a draining service's problem ([`service::server::DRAINING`]).
fn is_draining(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Problem>(bytes)
        .is_ok_and(|p| p.type_uri == Problem::new(service::server::DRAINING, "", 503).type_uri)
}

/// A node's answer where a refusal (4xx with a problem) is an answer, not a failure: the
/// node is healthy and said no.
fn decode_or_refusal<T: DeserializeOwned>(
    status: StatusCode,
    bytes: &[u8],
) -> Result<Result<T, Refusal>, Failure> {
    if status.is_client_error()
        && let Ok(problem) = serde_json::from_slice::<Problem>(bytes)
    {
        return Ok(Err(Refusal {
            status: status.as_u16(),
            problem,
        }));
    }
    decode_json(status, bytes).map(Ok)
}

/// The usual reading of a node's answer: 404 is "not held", any other non-success a
/// failure, a success the JSON body.
fn decode_json<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, Failure> {
    if status == StatusCode::NOT_FOUND {
        return Err(Failure::NotFound);
    }
    if !status.is_success() {
        let title = serde_json::from_slice::<Problem>(bytes)
            .map(|p| p.detail.unwrap_or(p.title))
            .unwrap_or_else(|_| "no problem details".to_owned());
        return Err(Failure::Error(format!("node answered {status}: {title}")));
    }
    serde_json::from_slice::<T>(bytes)
        .map_err(|e| Failure::Error(format!("node answered with an invalid body: {e}")))
}

fn jitter_byte() -> u8 {
    use aws_lc_rs::rand::SecureRandom;
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut byte);
    byte[0]
}

fn classify(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() || connection_lost(&e) {
        Failure::Unavailable(root_cause(&e))
    } else {
        Failure::Error(root_cause(&e))
    }
}

/// A kept-alive connection the node dropped (it stopped, restarted or its host went
/// away): the node is unavailable, not answering wrongly.
fn connection_lost(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let io_lost = err.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::BrokenPipe
                    | K::NotConnected
                    | K::UnexpectedEof
            )
        });
        let hyper_lost = err
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled());
        if io_lost || hyper_lost {
            return true;
        }
        current = err.source();
    }
    false
}

/// The innermost error message: "connection refused", "invalid peer certificate: …".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_failures_probes_once_and_closes_on_success() {
        let b = Breaker::new(BreakerSettings {
            failures: 2,
            cool_down: Duration::from_millis(30),
        });
        assert!(b.allow());
        b.record(false);
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.allow(), "one probe");
        assert!(!b.allow(), "only one probe at a time");
        b.record(false);
        assert_eq!(b.state(), BreakerState::Open, "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow() && b.allow());
    }
}
