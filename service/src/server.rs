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
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
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

    /// The server, to await until it stops.
    pub fn server(self) -> Server {
        self.server
    }
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
    let mut server = HttpServer::new(move || {
        App::new()
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
    .shutdown_timeout(10);
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
