//! A service's OpenAPI document: its operations as its one operation list registers them,
//! its security schemes, and the conventions of [`schemas::openapi::polish`].

use crate::server::Operations;
use actix_web::App;
use schemas::openapi::ServiceErrors;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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

/// The document served at `/openapi.json`: `base` (info, tags, extra schemas) with every
/// operation `operations` registers, the security schemes and the polish conventions.
pub fn document(base: OpenApi, operations: Operations, conventions: &Conventions) -> OpenApi {
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
    let Ok(mut value) = serde_json::to_value(&raw) else {
        return raw;
    };
    schemas::openapi::polish(&mut value, &conventions.errors);
    serde_json::from_value(value).unwrap_or(raw)
}

/// A document as committed under `openapi/`: pretty JSON and a final newline.
pub fn to_json(document: &OpenApi) -> String {
    let mut json = document.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
