//! A service's OpenAPI document: its operations as its one operation list registers them,
//! its security schemes, and the conventions of [`schemas::openapi::polish`].

use crate::server::Operations;
use actix_web::App;
use schemas::openapi::ServiceErrors;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa_actix_web::AppExt;

/// What a service's document says besides its operations.
pub struct Conventions {
    /// How a client certificate authenticates to this service (`mutual_tls`).
    pub mutual_tls: &'static str,
    /// How a practitioner token authenticates to this service (`practitioner_jwt`).
    pub practitioner_jwt: &'static str,
    /// The service's problems for the responses every `/v1` operation may give.
    pub errors: ServiceErrors,
}

/// What makes a service's OpenAPI document, declared once per service.
pub struct Spec {
    /// What the document says of the service itself: info, its own tags, extra schemas.
    pub about: fn() -> OpenApi,
    /// The service's one operation list.
    pub operations: Operations,
    /// Its security schemes and the problems every `/v1` operation may give.
    pub conventions: fn() -> Conventions,
}

impl Spec {
    pub const fn new(
        about: fn() -> OpenApi,
        operations: Operations,
        conventions: fn() -> Conventions,
    ) -> Self {
        Self {
            about,
            operations,
            conventions,
        }
    }

    /// The document served at `/openapi.json`: every operation of the list, with the
    /// security schemes and the polish conventions.
    pub fn document(&self) -> OpenApi {
        document((self.about)(), self.operations, &(self.conventions)())
    }

    /// The document as committed under `openapi/`.
    pub fn json(&self) -> String {
        to_json(&self.document())
    }
}

/// The document served at `/openapi.json`: `base` (info, tags, extra schemas) with every
/// operation `operations` registers, the security schemes and the polish conventions.
fn document(base: OpenApi, operations: Operations, conventions: &Conventions) -> OpenApi {
    let (_, mut raw) = App::new()
        .into_utoipa_app()
        .openapi(base)
        .configure(operations)
        .split_for_parts();
    let components = raw.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "mutual_tls",
        SecurityScheme::MutualTls {
            description: Some(conventions.mutual_tls.into()),
            extensions: None,
        },
    );
    components.add_security_scheme(
        "practitioner_jwt",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(conventions.practitioner_jwt))
                .build(),
        ),
    );
    // Every service answers its orchestrator (health, readiness, metrics) under this tag.
    raw.tags.get_or_insert_with(Vec::new).push(
        TagBuilder::new()
            .name("operations")
            .description(Some("Health and readiness"))
            .build(),
    );
    let Ok(mut value) = serde_json::to_value(&raw) else {
        return raw;
    };
    schemas::openapi::polish(&mut value, &conventions.errors);
    serde_json::from_value(value).unwrap_or(raw)
}

/// A document as committed under `openapi/`: pretty JSON and a final newline.
fn to_json(document: &OpenApi) -> String {
    let mut json = document.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
