//! The HTTP server both services run, built one way: TLS on a listener bound beforehand
//! (port 0 in tests), the client certificate captured per connection, metrics and trace
//! context on every request, a panicking handler answered with 500, problem+json for malformed input and for unknown routes, the
//! service's operations (one list, which also makes its OpenAPI document) and Swagger UI
//! from local assets.

use crate::fallback::{RouteTable, not_found};
use crate::metrics::Metrics;
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
    server: Server,
}

impl Listening {
    pub fn port(&self) -> u16 {
        self.port
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
pub fn start<S: Send + Sync + 'static>(
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
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::panics::catch_panic))
            .wrap(actix_web::middleware::from_fn(crate::metrics::observe))
            .wrap(actix_web::middleware::Logger::new("%r %s %Dms"))
            .app_data(state.clone())
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
    .on_connect(crate::caller::capture_peer_certificate)
    .shutdown_timeout(10);
    if let Some(workers) = settings.workers {
        server = server.workers(workers.max(1));
    }
    let server = server.listen_rustls_0_23(listener, tls)?.run();
    Ok(Listening { port, server })
}
