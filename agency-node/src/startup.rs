//! Building and running the node: `Application::build` binds (port 0 allowed), so tests
//! start the real server exactly as production does.

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::disclosure::Policy;
use crate::notifications::calendar::SchoolCalendar;
use crate::routes;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use schemas::{AgencyId, AgencyKind, MemberRole};
use std::net::TcpListener;
use std::time::Duration;
use trust::DirectoryHandle;
use trust::tls::ClientAuth;
use utoipa_swagger_ui::SwaggerUi;

/// What every request handler can reach.
pub struct AppState {
    pub agency_id: AgencyId,
    pub agency_kind: AgencyKind,
    pub pool: DbPool,
    pub directory: DirectoryHandle,
    /// The `[matching]` settings, validated at start.
    pub matching: matching::MatchingSettings,
    /// The federation's matching key, when `matching.key_file` is set: the node keeps its
    /// children's keyed encodings current and, in keyed mode, answers keyed queries.
    pub matching_key: Option<std::sync::Arc<matching::MatchingKey>>,
    pub policy: Policy,
    pub limiter: trust::limits::RateLimiter,
    pub notifications: crate::notifications::NotificationSettings,
    /// The earliest any school day starts: the sender's Encompass deadline.
    pub earliest_school_day: SchoolCalendar,
    /// This school's own calendar (school nodes only).
    pub school_calendar: Option<SchoolCalendar>,
    /// The secret the gateway signs deliveries to this node with.
    pub webhook_secret: Option<trust::webhook::WebhookSecret>,
    /// The locator key and the filter's target false-positive rate, when configured.
    pub locator: Option<(trust::locator::LocatorKey, f64)>,
    /// Seals and opens the candidate tokens of `candidates` answers.
    pub candidates: crate::confirm::CandidateSealer,
}

pub struct Application {
    port: u16,
    server: Server,
    worker: Option<crate::notifications::worker::Worker>,
}

/// Largest JSON body the node accepts.
const BODY_LIMIT: usize = 1024 * 1024;

/// Largest batch body: 50,000 records of about a kilobyte.
const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;

impl Application {
    /// Binds `server.listen` and builds the server.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("binding {}", settings.server.listen))?;
        Self::build_with_listener(settings, listener)
    }

    /// Builds the server on a listener the caller already bound (tests bind port 0
    /// first, so every address is known before anything starts).
    pub fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        trust::install_crypto_provider();
        let directory = DirectoryHandle::load(&settings.directory.path)?;
        {
            let current = directory.get();
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
        }
        directory.watch(Duration::from_secs(
            settings.directory.reload_seconds.max(1),
        ));
        settings
            .matching
            .validate()
            .map_err(|why| anyhow::anyhow!("invalid [matching] settings: {why}"))?;
        let pool = db::connect(&settings.database.url)
            .with_context(|| format!("opening database {}", settings.database.url))?;
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
        )?;
        let locator = match &settings.locator {
            Some(l) => {
                let text = std::fs::read_to_string(&l.key_file)
                    .with_context(|| format!("reading the locator key {}", l.key_file.display()))?;
                let key = trust::locator::LocatorKey::from_base64(&text)?;
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
                None => crate::confirm::CandidateSealer::generate_key()?,
            };
            crate::confirm::CandidateSealer::new(
                &key,
                settings.agency.id.as_str(),
                c.token_ttl_seconds,
            )?
        };
        let tls = trust::tls::server_config(&settings.tls, ClientAuth::VerifyIfPresented)?;
        let port = listener.local_addr()?.port();
        let metrics = web::Data::new(trust::metrics::Metrics::new("agency-node"));
        let state = web::Data::new(AppState {
            agency_id: settings.agency.id.clone(),
            agency_kind: settings.agency.kind,
            pool,
            directory,
            matching: settings.matching.clone(),
            matching_key,
            policy,
            limiter: trust::limits::RateLimiter::new(settings.limits),
            notifications: settings.notifications.clone(),
            earliest_school_day,
            locator,
            school_calendar,
            webhook_secret,
            candidates,
        });
        let openapi = crate::openapi::document();
        let routes = web::Data::new(trust::http::RouteTable::new(
            serde_json::to_value(&openapi)
                .map(|doc| schemas::openapi::route_methods(&doc))
                .unwrap_or_default(),
        ));
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(trust::metrics::observe))
                .wrap(actix_web::middleware::Logger::new("%r %s %Dms"))
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(trust::http::json_config(BODY_LIMIT))
                .app_data(trust::http::query_config())
                .app_data(trust::http::path_config())
                .service(routes::health::healthz)
                .service(routes::health::readyz)
                .service(routes::health::metrics)
                .service(routes::children::upsert_child)
                .service(routes::children::get_child)
                .service(routes::children::upsert_record)
                .service(routes::children::list_records)
                .service(routes::records::get_record)
                .service(routes::records::put_record)
                .service(routes::records::retract_record)
                .service(routes::records::changes)
                .service(
                    web::resource("/v1/batch")
                        .app_data(trust::http::json_config(BATCH_BODY_LIMIT))
                        .route(web::post().to(routes::records::batch)),
                )
                .service(routes::children::record_consent)
                .service(routes::children::list_consents)
                .service(routes::audit::verify)
                .service(routes::audit::release)
                .service(routes::federation::access_report)
                .service(routes::federation::match_child)
                .service(routes::federation::match_child_keyed)
                .service(routes::federation::confirm_candidate)
                .service(routes::federation::child_records)
                .service(routes::notifications::publish)
                .service(routes::notifications::outbox)
                .service(routes::notifications::outbox_event)
                .service(routes::notifications::replay)
                .service(routes::notifications::inbox)
                .service(routes::notifications::acknowledge)
                .service(routes::notifications::subscriptions)
                .service(routes::notifications::set_subscription)
                .service(routes::notifications::offer)
                .service(routes::notifications::receive)
                .service(routes::notifications::acknowledged)
                .service(routes::federation::locator_filter)
                .app_data(routes.clone())
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
                .default_service(web::to(trust::http::not_found))
        })
        .on_connect(trust::http::capture_peer_certificate)
        .shutdown_timeout(10);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen_rustls_0_23(listener, tls)?.run();
        tracing::info!(agency = %settings.agency.id, port, "agency node listening");
        Ok(Self {
            port,
            server,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; the notification worker runs alongside and stops with the
    /// server (what it had not finished stays in the outbox for the next start).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.worker {
            Some(worker) => {
                tokio::select! {
                    result = self.server => result,
                    () = worker.run() => Ok(()),
                }
            }
            None => self.server.await,
        }
    }
}
