//! Building and running the node: `Application::build` binds (port 0 allowed), so tests
//! start the real server exactly as production does.

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::disclosure::Policy;
use crate::openapi::ApiDoc;
use crate::routes;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use schemas::{AgencyId, AgencyKind, MemberRole};
use std::net::TcpListener;
use std::time::Duration;
use trust::DirectoryHandle;
use trust::tls::ClientAuth;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// What every request handler can reach.
pub struct AppState {
    pub agency_id: AgencyId,
    pub agency_kind: AgencyKind,
    pub pool: DbPool,
    pub directory: DirectoryHandle,
    /// The `[matching]` settings, validated at start.
    pub matching: crate::matching::MatchingSettings,
    pub policy: Policy,
    pub limiter: trust::limits::RateLimiter,
    /// The locator key and the filter's target false-positive rate, when configured.
    pub locator: Option<(trust::locator::LocatorKey, f64)>,
}

pub struct Application {
    port: u16,
    server: Server,
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
        let policy = Policy::load(&settings.policy.path, settings.agency.kind)?;
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
        let tls = trust::tls::server_config(&settings.tls, ClientAuth::VerifyIfPresented)?;
        let port = listener.local_addr()?.port();
        let metrics = web::Data::new(trust::metrics::Metrics::new("agency-node"));
        let state = web::Data::new(AppState {
            agency_id: settings.agency.id.clone(),
            agency_kind: settings.agency.kind,
            pool,
            directory,
            matching: settings.matching.clone(),
            policy,
            limiter: trust::limits::RateLimiter::new(settings.limits),
            locator,
        });
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
                .service(routes::federation::child_records)
                .service(routes::federation::locator_filter)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
                .default_service(web::to(trust::http::not_found))
        })
        .on_connect(trust::http::capture_peer_certificate)
        .shutdown_timeout(10);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen_rustls_0_23(listener, tls)?.run();
        tracing::info!(agency = %settings.agency.id, port, "agency node listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
