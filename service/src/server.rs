//! The HTTP server both services run, built one way: TLS on a listener bound beforehand
//! (port 0 in tests), the client certificate captured per connection, metrics, an access
//! log line and trace context on every request, a panicking handler answered with 500,
//! problem+json for malformed input and for unknown routes, the service's operations
//! (one list, which also makes its OpenAPI document), Swagger UI from local assets, and
//! `/metrics` only where [`crate::metrics_access`] allows it.

use crate::caller::Gatekeeper;
use crate::fallback::{RouteTable, not_found};
use crate::metrics::Metrics;
use crate::metrics_access::{MetricsAccess, OnMetricsListener};
use crate::openapi::Spec;
use crate::problem::{json_config, path_config, query_config};
use crate::settings::ServerSettings;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

/// A service's operations: the one place that registers each of them, so that the router
/// and the OpenAPI document both come from it.
pub type Operations = fn(&mut ServiceConfig);

/// Binds `settings.listen`; port 0 picks a free port.
pub fn bind(settings: &ServerSettings) -> anyhow::Result<TcpListener> {
    TcpListener::bind(&settings.listen).with_context(|| format!("binding {}", settings.listen))
}

/// What a service serves.
pub struct Service<S> {
    /// The state its handlers and extractors read.
    pub state: web::Data<S>,
    pub metrics: web::Data<Metrics>,
    /// Its operations and OpenAPI document.
    pub spec: &'static Spec,
    /// Largest JSON body an operation accepts, unless it sets its own.
    pub body_limit: usize,
}

/// A server accepting connections; it serves once awaited.
pub struct Listening {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    draining: Draining,
    drain_for: Duration,
}

impl Listening {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the plain-HTTP metrics listener, when `/metrics` has one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Drains and stops this server (on a signal, or when a test says so).
    pub fn drain(&self) -> Drain {
        Drain {
            draining: self.draining.clone(),
            handle: self.server.handle(),
            grace: self.drain_for,
        }
    }

    /// The server, to await until it stops.
    pub fn server(self) -> Server {
        self.server
    }
}

/// Whether the service is draining: set once, when it has been told to stop.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The problem code of a draining service's answer: `503`, `Retry-After: 1`. A caller
/// sends the request to another replica (the gateway does, see its `upstream` module).
pub const DRAINING: &str = "draining";

/// How long a draining service tells callers to wait before asking it again.
const DRAINING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Stops a server the way an orchestrator wants it stopped: drain first, then stop.
#[derive(Clone)]
pub struct Drain {
    draining: Draining,
    handle: ServerHandle,
    grace: Duration,
}

impl Drain {
    /// Whether draining has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.is_draining()
    }

    /// The flag, for work outside the server that should stop taking new work (the
    /// node's delivery worker).
    pub fn flag(&self) -> Draining {
        self.draining.clone()
    }

    /// Drains for the configured time (readiness `503`, every new request but liveness
    /// and metrics `503 draining`), then stops gracefully: requests in flight are
    /// finished, up to the server's shutdown timeout.
    pub async fn drain_and_stop(&self) {
        self.draining.start();
        tracing::info!(
            seconds = self.grace.as_secs_f64(),
            "draining: readiness fails and new requests are sent elsewhere"
        );
        tokio::time::sleep(self.grace).await;
        self.handle.stop(true).await;
    }

    /// Waits for SIGTERM (drain, then stop; a second SIGTERM or a SIGINT cuts the drain
    /// short) or SIGINT (stop at once, gracefully). For the service binaries; tests
    /// call [`Self::drain_and_stop`] instead.
    pub async fn on_signals(self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM and SIGINT; stopping only when killed");
            return;
        };
        tokio::select! {
            _ = term.recv() => {
                tokio::select! {
                    () = self.drain_and_stop() => {}
                    _ = term.recv() => self.handle.stop(true).await,
                    _ = int.recv() => self.handle.stop(true).await,
                }
            }
            _ = int.recv() => self.handle.stop(true).await,
        }
    }
}

/// Answers `503 draining` for every request but liveness and metrics while the service
/// drains (readiness included, so that probes take the replica out of rotation).
async fn refuse_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<Draining>>()
        .is_some_and(|d| d.is_draining());
    if draining && !matches!(req.path(), "/healthz" | "/metrics") {
        let problem = schemas::Problem::new(DRAINING, "The service is shutting down", 503)
            .with_detail("send the request to another replica, or again shortly");
        let response =
            crate::problem::problem_response_retry_after(&problem, Some(DRAINING_RETRY_AFTER));
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Starts `service` on `listener` with `tls`.
pub fn start<S: Gatekeeper>(
    service: Service<S>,
    settings: &ServerSettings,
    tls: rustls::ServerConfig,
    listener: TcpListener,
) -> anyhow::Result<Listening> {
    let port = listener.local_addr()?.port();
    let Service {
        state,
        metrics,
        spec,
        body_limit,
    } = service;
    let operations = spec.operations;
    let openapi = spec.document();
    let routes = web::Data::new(RouteTable::new(
        serde_json::to_value(&openapi)
            .map(|doc| schemas::openapi::route_methods(&doc))
            .unwrap_or_default(),
    ));
    let metrics_access = web::Data::new(settings.metrics.clone());
    let metrics_listener = match &settings.metrics {
        MetricsAccess::Listen(address) => Some(
            TcpListener::bind(address)
                .with_context(|| format!("binding the metrics address {address}"))?,
        ),
        MetricsAccess::ClientCertificate => None,
    };
    let metrics_port = match &metrics_listener {
        Some(l) => Some(l.local_addr()?.port()),
        None => None,
    };
    let draining = Draining::default();
    let draining_data = web::Data::new(draining.clone());
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(refuse_while_draining))
            .app_data(draining_data.clone())
            .wrap(actix_web::middleware::from_fn(crate::panics::catch_panic))
            .wrap(actix_web::middleware::from_fn(
                crate::metrics_access::gate::<S>,
            ))
            .wrap(actix_web::middleware::from_fn(crate::metrics::observe))
            .app_data(state.clone())
            .app_data(metrics_access.clone())
            .app_data(metrics.clone())
            .app_data(json_config(body_limit))
            .app_data(query_config())
            .app_data(path_config())
            .app_data(routes.clone())
            .into_utoipa_app()
            .configure(operations)
            .into_app()
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
            .default_service(web::to(not_found))
    })
    .on_connect(on_connect)
    .shutdown_timeout(10)
    // Signals are the binaries' ([`Drain::on_signals`]): drain first, then stop.
    .disable_signals();
    if let Some(workers) = settings.workers {
        server = server.workers(workers.max(1));
    }
    server = server.listen_rustls_0_23(listener, tls)?;
    if let Some(metrics_listener) = metrics_listener {
        server = server.listen(metrics_listener)?;
    }
    Ok(Listening {
        port,
        metrics_port,
        server: server.run(),
        draining,
        drain_for: Duration::from_secs(settings.drain_seconds),
    })
}

/// Per connection: the client certificate of a TLS connection; a plain one can only
/// have come in on the metrics listener, and is marked so.
fn on_connect(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    crate::caller::capture_peer_certificate(conn, ext);
    if conn.is::<actix_web::rt::net::TcpStream>() {
        ext.insert(OnMetricsListener);
    }
}
