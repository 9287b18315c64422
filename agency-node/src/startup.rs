//! Building and running the node: `Application::build` binds (port 0 allowed), so tests
//! start the real server exactly as production does.

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::disclosure::Policy;
use crate::notifications::calendar::SchoolCalendar;
use actix_web::dev::ServerHandle;
use actix_web::web;
use anyhow::Context;
use schemas::{AgencyId, AgencyKind, MemberRole};
use std::net::TcpListener;
use trust::DirectoryHandle;
use trust::tls::ClientAuth;

/// What every request handler can reach.
pub struct AppState {
    pub agency_id: AgencyId,
    pub agency_kind: AgencyKind,
    pub pool: DbPool,
    pub directory: DirectoryHandle,
    /// The `[matching]` settings, validated at start.
    pub matching: matching::MatchingSettings,
    /// The weights searches are scored with: *u* estimated from this node's children
    /// (`[matching.estimate_u]`), *m* from its searches (`[matching.estimate_m]`), the
    /// configured ones the fallback.
    pub weight_estimation: std::sync::Arc<crate::finding::estimating::WeightEstimation>,
    /// The federation's matching key, when `matching.key_file` is set: the node keeps its
    /// children's keyed encodings current and, in keyed mode, answers keyed queries.
    pub matching_key: Option<std::sync::Arc<matching::MatchingKey>>,
    pub policy: Policy,
    pub limiter: service::limits::RateLimiter,
    pub notifications: crate::notifications::NotificationSettings,
    /// The earliest any school day starts: the sender's Encompass deadline.
    pub earliest_school_day: SchoolCalendar,
    /// This school's own calendar (school nodes only).
    pub school_calendar: Option<SchoolCalendar>,
    /// The front door's working days (social care nodes only).
    pub working_calendar: Option<crate::notifications::calendar::WorkingCalendar>,
    /// Sends concerns and their outcomes through the gateway; `None` without a gateway.
    pub concern_sender: Option<crate::concerns::Sender>,
    /// The secret the gateway signs deliveries to this node with.
    pub webhook_secret: Option<trust::webhook::WebhookSecret>,
    /// The locator key and the filter's target false-positive rate, when configured.
    pub locator: Option<(locator::LocatorKey, f64)>,
    /// Seals and opens the candidate tokens of `candidates` answers.
    pub candidates: crate::confirm::CandidateSealer,
    /// Seals and opens this node's match tokens (see [`crate::relationship`]).
    pub matches: crate::relationship::MatchSealer,
    /// The node's signing key and how long its relationship assertions hold; `None`:
    /// it asserts none.
    pub signing: Option<(trust::signature::SigningKey, i64)>,
    /// The outbox and at-risk gauges `/metrics` sets from the database.
    pub notification_gauges: crate::routes::health::NotificationGauges,
    /// Which DfE files this node imports, and for whom.
    pub imports: crate::imports::Imports,
    /// The gateway, to have other nodes witness this node's audit checkpoints; `None`
    /// without a gateway.
    pub witnesses: Option<crate::anchoring::Witnesses>,
}

impl service::caller::Gatekeeper for AppState {
    fn gate(&self) -> service::caller::Gate<'_> {
        let (directory, limiter) = (&self.directory, &self.limiter);
        service::caller::Gate { directory, limiter }
    }
}

pub struct Application {
    http: service::server::Listening,
    worker: Option<crate::notifications::worker::Worker>,
    /// The state and interval of the audit anchoring task, when it runs.
    anchoring: Option<(web::Data<AppState>, std::time::Duration)>,
    /// Held while the node runs: on SQLite, no second process opens the database.
    _single_process: db::SingleProcessLock,
}

/// How long a starting node waits for a stopping one to let go of its SQLite database.
const SINGLE_PROCESS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest JSON body the node accepts.
const BODY_LIMIT: usize = 1024 * 1024;

impl Application {
    /// Binds `server.listen` and builds the server.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = service::server::bind(&settings.server)?;
        Self::build_with_listener(settings, listener)
    }

    /// Builds the server on a listener the caller already bound (tests bind port 0
    /// first, so every address is known before anything starts).
    pub fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        let directory = settings.directory.open(|current| {
            let me = current.member(&settings.agency.id).with_context(|| {
                format!(
                    "the federation directory does not list this node '{}'",
                    settings.agency.id
                )
            })?;
            anyhow::ensure!(
                me.role == MemberRole::Node && me.kind == Some(settings.agency.kind),
                "the federation directory lists '{}' with another role or kind",
                settings.agency.id
            );
            Ok(())
        })?;
        settings
            .matching
            .validate()
            .map_err(|why| anyhow::anyhow!("invalid [matching] settings: {why}"))?;
        if let Some(hook) = &settings.notifications.inbox_webhook {
            hook.check().map_err(anyhow::Error::msg)?;
        }
        if let Some(hook) = &settings.notifications.dpo_webhook {
            hook.check().map_err(anyhow::Error::msg)?;
        }
        let single_process =
            db::SingleProcessLock::acquire(&settings.database.url, SINGLE_PROCESS_WAIT)?;
        let pool = db::connect_with(&settings.database)
            .with_context(|| format!("opening database {}", settings.database.url))?;
        if single_process.is_only_process() {
            // A previous process that stopped mid-delivery left its claims; no worker
            // holds them now, so its events go out at once instead of after the lease.
            let mut conn = pool.get()?;
            let released = db::notifications::release_claims(&mut conn)?
                + db::concerns::release_claims(&mut conn)?;
            if released > 0 {
                tracing::info!(released, "claims of a previous process released");
            }
        }
        let matching_key = match &settings.matching.key_file {
            Some(path) => {
                let key = matching::MatchingKey::load(path)?;
                let mut conn = pool.get()?;
                let encoded = db::keyed::refresh(&mut conn, &key)?;
                tracing::info!(encoded, key_id = key.id(), "keyed encodings current");
                Some(std::sync::Arc::new(key))
            }
            None => None,
        };
        let policy = Policy::load(&settings.policy.path, settings.agency.kind)?;
        let earliest_school_day = settings
            .notifications
            .earliest_calendar()
            .map_err(|why| anyhow::anyhow!("invalid [notifications] settings: {why}"))?;
        let school_calendar = match (settings.agency.kind, &settings.school) {
            (AgencyKind::School, school) => Some(
                SchoolCalendar::from_settings(&school.clone().unwrap_or_default())
                    .map_err(|why| anyhow::anyhow!("invalid [school] settings: {why}"))?,
            ),
            (_, Some(_)) => anyhow::bail!("only a school node takes a [school] section"),
            (_, None) => None,
        };
        let working_calendar = match (settings.agency.kind, &settings.front_door) {
            (AgencyKind::SocialCare, door) => Some(
                crate::notifications::calendar::WorkingCalendar::from_settings(
                    &door.clone().unwrap_or_default(),
                )
                .map_err(|why| anyhow::anyhow!("invalid [front_door] settings: {why}"))?,
            ),
            (_, Some(_)) => anyhow::bail!("only a social care node takes a [front_door] section"),
            (_, None) => None,
        };
        let concern_sender = crate::concerns::Sender::new(&settings.notifications, &settings.tls)?;
        let webhook_secret = settings
            .notifications
            .webhook_secret_file
            .as_deref()
            .map(trust::webhook::WebhookSecret::load)
            .transpose()?;
        {
            let subscribe = settings.notifications.subscribe.clone().unwrap_or_else(|| {
                crate::notifications::default_subscriptions(settings.agency.kind)
            });
            let names: Vec<&str> = subscribe.iter().map(|t| t.as_str()).collect();
            let mut conn = pool.get()?;
            db::notifications::ensure_subscriptions(
                &mut conn,
                &names,
                chrono::Utc::now().naive_utc(),
            )?;
        }
        let worker = crate::notifications::worker::Worker::new(
            pool.clone(),
            policy.clone(),
            settings.notifications.clone(),
            &settings.tls,
        )?
        .map(|w| w.with_concerns(concern_sender.clone()));
        let locator = match &settings.locator {
            Some(l) => {
                let text = std::fs::read_to_string(&l.key_file)
                    .with_context(|| format!("reading the locator key {}", l.key_file.display()))?;
                let key = locator::LocatorKey::from_base64(&text)?;
                anyhow::ensure!(
                    l.false_positive_rate > 0.0 && l.false_positive_rate < 0.5,
                    "[locator] false_positive_rate must be between 0 and 0.5"
                );
                Some((key, l.false_positive_rate))
            }
            None => None,
        };
        let candidates = {
            let c = &settings.confirmation;
            anyhow::ensure!(
                c.token_ttl_seconds > 0,
                "[confirmation] token_ttl_seconds must be more than 0"
            );
            let key = match &c.key_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading the candidate key {}", path.display()))?,
                None => {
                    // PostgreSQL is how a node runs replicas: each would make its own
                    // key and refuse the others' tokens.
                    if db::Backend::of(&settings.database.url) == db::Backend::Postgres {
                        tracing::warn!(
                            "no [confirmation] key_file: candidate tokens are sealed with a key \
                             made at start, which replicas of this node do not share"
                        );
                    }
                    crate::confirm::CandidateSealer::generate_key()?
                }
            };
            (
                crate::confirm::CandidateSealer::new(
                    &key,
                    settings.agency.id.as_str(),
                    c.token_ttl_seconds,
                )?,
                crate::relationship::MatchSealer::new(
                    &key,
                    settings.agency.id.as_str(),
                    c.token_ttl_seconds,
                )?,
            )
        };
        let (candidates, matches) = candidates;
        let signing = match &settings.signing {
            Some(s) => {
                anyhow::ensure!(
                    s.assertion_ttl_seconds > 0,
                    "[signing] assertion_ttl_seconds must be more than 0"
                );
                let key = trust::signature::SigningKey::load(&s.key_file)?;
                let listed = directory
                    .get()
                    .member(&settings.agency.id)
                    .and_then(|m| m.signing_key.clone());
                anyhow::ensure!(
                    listed.as_deref() == Some(key.public_key_base64().as_str()),
                    "the federation directory does not list this node's signing key ({}) for '{}'",
                    key.public_key_base64(),
                    settings.agency.id
                );
                Some((key, s.assertion_ttl_seconds))
            }
            None => {
                tracing::warn!(
                    "no [signing] key: this node asserts no relationships, so its practitioners see no more than `existence` at other agencies"
                );
                None
            }
        };
        let imports = crate::imports::Imports::new(settings.agency.kind, settings.imports.as_ref())
            .map_err(|why| anyhow::anyhow!("invalid [imports] settings: {why}"))?;
        let witnesses = crate::anchoring::Witnesses::new(
            &settings.tls,
            settings.notifications.gateway_url.as_deref(),
        )?;
        let tls = trust::tls::server_config(&settings.tls, ClientAuth::VerifyIfPresented)?;
        let notification_gauges = crate::routes::health::NotificationGauges::default();
        let weight_estimation = crate::finding::estimating::WeightEstimation::with_database(
            settings.matching.clone(),
            pool.clone(),
        );
        let metrics = web::Data::new(service::metrics::Metrics::new("agency-node", |registry| {
            notification_gauges.register(registry);
            weight_estimation.register(registry);
        }));
        let state = web::Data::new(AppState {
            agency_id: settings.agency.id.clone(),
            agency_kind: settings.agency.kind,
            pool,
            directory,
            matching: settings.matching.clone(),
            weight_estimation,
            matching_key,
            policy,
            limiter: service::limits::RateLimiter::new(settings.limits),
            notifications: settings.notifications.clone(),
            earliest_school_day,
            locator,
            school_calendar,
            working_calendar,
            concern_sender: concern_sender.clone(),
            webhook_secret,
            candidates,
            matches,
            signing,
            notification_gauges,
            imports,
            witnesses,
        });
        let anchoring = (settings.audit.checkpoint_seconds > 0).then(|| {
            (
                state.clone(),
                std::time::Duration::from_secs(settings.audit.checkpoint_seconds),
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
        let port = http.port();
        let worker = worker.map(|w| w.stop_claiming_when(http.drain().flag()));
        tracing::info!(agency = %settings.agency.id, port, metrics_port = ?http.metrics_port(), "agency node listening");
        Ok(Self {
            http,
            worker,
            anchoring,
            _single_process: single_process,
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

    /// Drains, then stops the node: on SIGTERM in the binaries, or when a test says so.
    pub fn drain(&self) -> service::server::Drain {
        self.http.drain()
    }

    /// Serves until stopped; the notification worker runs alongside and stops with the
    /// server (what it had not finished stays in the outbox for the next start).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _single_process = self._single_process;
        let server = self.http.server();
        let worker = async {
            match self.worker {
                Some(worker) => worker.run().await,
                None => std::future::pending().await,
            }
        };
        let anchoring = async {
            match self.anchoring {
                Some((state, every)) => crate::anchoring::run(state, every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = server => result,
            () = worker => Ok(()),
            () = anchoring => Ok(()),
        }
    }
}
