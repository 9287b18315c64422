//! Building and running the gateway: `Application::build` binds (port 0 allowed), so tests
//! start the real server exactly as production does.

use crate::config::Settings;
use crate::reference::ReferenceSealer;
use actix_web::dev::ServerHandle;
use actix_web::web;
use anyhow::Context;
use std::net::TcpListener;
use std::time::Duration;
use trust::DirectoryHandle;
use trust::tls::ClientAuth;

pub struct AppState {
    pub directory: DirectoryHandle,
    pub http: crate::upstream::Upstream,
    pub references: ReferenceSealer,
    pub node_deadline: Duration,
    pub reference_ttl_seconds: i64,
    /// Children per batched call of a cohort.
    pub cohort_chunk: usize,
    /// Per practitioner agency.
    pub limiter: service::limits::RateLimiter,
    /// Per practitioner (issuer and subject).
    pub practitioner_limiter: service::limits::RateLimiter,
    /// Search answers with candidates' disagreeing fields, per practitioner.
    pub candidate_detail_limiter: service::limits::RateLimiter,
    /// Notifications routed per sending node.
    pub route_limiter: service::limits::RateLimiter,
    /// Fan-outs in flight; a request past the limit gets 503 at once.
    pub fanouts: tokio::sync::Semaphore,
    /// Where the nodes' webhook secrets are (`<member id>.secret`).
    pub notification_secrets: Option<std::path::PathBuf>,
    /// In keyed mode, the matching key: searches go to nodes as keyed encodings only.
    pub matching_key: Option<std::sync::Arc<matching::MatchingKey>>,
    /// With `[locator]`: the nodes' filters, refreshed in the background.
    pub locator: Option<std::sync::Arc<crate::locator::Locator>>,
    /// Closed when the state is dropped (the server stopped): background tasks stop.
    stopped: tokio::sync::watch::Sender<()>,
}

impl service::caller::Gatekeeper for AppState {
    fn gate(&self) -> service::caller::Gate<'_> {
        let (directory, limiter) = (&self.directory, &self.limiter);
        service::caller::Gate { directory, limiter }
    }
}

pub struct Application {
    http: service::server::Listening,
    state: std::sync::Weak<AppState>,
    /// Resolves (with an error) when the state is dropped.
    state_dropped: tokio::sync::watch::Receiver<()>,
    /// The record-locator refresher, which ends when the state is dropped.
    refresher: Option<tokio::task::JoinHandle<()>>,
}

const BODY_LIMIT: usize = 64 * 1024;

impl Application {
    /// Binds `server.listen` and builds the server.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = service::server::bind(&settings.server)?;
        Self::build_with_listener(settings, listener)
    }

    /// Builds the server on a listener the caller already bound (tests bind port 0
    /// first, so every address is known before anything starts).
    pub fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let directory = settings.directory.open(|_| Ok(()))?;
        let key = std::fs::read_to_string(&settings.reference.key_file).with_context(|| {
            format!(
                "reading the reference key {}",
                settings.reference.key_file.display()
            )
        })?;
        let references = ReferenceSealer::from_base64(&key)?;
        let matching_key = match (settings.matching.mode, &settings.matching.key_file) {
            (matching::MatchingMode::Plain, _) => None,
            (matching::MatchingMode::Keyed, Some(path)) => {
                Some(std::sync::Arc::new(matching::MatchingKey::load(path)?))
            }
            (matching::MatchingMode::Keyed, None) => {
                anyhow::bail!("matching.mode = \"keyed\" needs matching.key_file")
            }
        };
        let locator = match &settings.locator {
            Some(l) => Some(std::sync::Arc::new(crate::locator::Locator::load(l)?)),
            None => None,
        };
        let upstream_metrics = crate::upstream::UpstreamMetrics::default();
        let metrics = web::Data::new(service::metrics::Metrics::new("gateway", |registry| {
            upstream_metrics.register(registry);
            if let Some(locator) = &locator {
                locator.register_metrics(registry);
            }
        }));
        let http = crate::upstream::Upstream::new(
            upstream_metrics,
            settings.tls.clone(),
            directory.clone(),
            Duration::from_millis(settings.federation.connect_timeout_ms),
            crate::upstream::BreakerSettings {
                failures: settings.federation.breaker_failures,
                cool_down: Duration::from_millis(settings.federation.breaker_cool_down_ms),
            },
        )?;
        // Practitioners' apps present no certificate; nodes routing notifications do.
        let tls = trust::tls::server_config(&settings.tls, ClientAuth::VerifyIfPresented)?;
        let state = web::Data::new(AppState {
            directory,
            http,
            references,
            node_deadline: Duration::from_millis(settings.federation.node_timeout_ms),
            cohort_chunk: settings
                .federation
                .cohort_chunk
                .clamp(1, schemas::cohort::MAX_BATCH),
            reference_ttl_seconds: settings.reference.ttl_seconds,
            limiter: service::limits::RateLimiter::new(settings.limits),
            practitioner_limiter: service::limits::RateLimiter::new(settings.practitioner_limits),
            candidate_detail_limiter: service::limits::RateLimiter::new(
                settings.candidate_detail_limits,
            ),
            route_limiter: service::limits::RateLimiter::new(settings.notifications.route_limits),
            fanouts: tokio::sync::Semaphore::new(settings.federation.max_concurrent_fanouts.max(1)),
            notification_secrets: settings.notifications.secrets_dir.clone(),
            matching_key,
            locator,
            stopped: tokio::sync::watch::channel(()).0,
        });
        let weak_state = std::sync::Arc::downgrade(&state.clone().into_inner());
        let state_dropped = state.stopped.subscribe();
        let refresher = settings.locator.as_ref().map(|l| {
            crate::locator::Locator::spawn_refresh(
                weak_state.clone(),
                state.stopped.subscribe(),
                Duration::from_secs(l.refresh_seconds.max(1)),
            )
        });
        let http = service::server::start(
            service::server::Service {
                state,
                metrics,
                spec: &crate::openapi::SPEC,
                body_limit: BODY_LIMIT,
            },
            &settings.server,
            tls,
            listener,
        )?;
        tracing::info!(port = http.port(), metrics_port = ?http.metrics_port(), "gateway listening");
        Ok(Self {
            http,
            state: weak_state,
            state_dropped,
            refresher,
        })
    }

    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// The port of the plain-HTTP metrics listener (`[server] metrics = { listen = … }`).
    pub fn metrics_port(&self) -> Option<u16> {
        self.http.metrics_port()
    }

    pub fn handle(&self) -> ServerHandle {
        self.http.handle()
    }

    /// Drains, then stops the gateway: on SIGTERM in the binaries, or when a test says so.
    pub fn drain(&self) -> service::server::Drain {
        self.http.drain()
    }

    /// The gateway's state, held weakly: alive while the server runs, gone once
    /// `run_until_stopped` has returned.
    pub fn state(&self) -> std::sync::Weak<AppState> {
        self.state.clone()
    }

    /// Runs until the server is stopped, then waits until its state is dropped (with the
    /// server's workers) and its background tasks have ended.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let served = self.http.server().await;
        // Nothing is ever sent: this returns when the state's sender is dropped.
        let _ = self.state_dropped.changed().await;
        if let Some(refresher) = self.refresher {
            let _ = refresher.await;
        }
        served
    }
}
