use crate::routes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Multi-agency child view gateway",
        description = "Find a child across the agencies around them (schools, social care, \
            health, police, early help) and read one merged view. The gateway stores no \
            children: every answer is assembled from the agencies' own nodes at request time, \
            and each node decides what it discloses. Authenticate with a practitioner token \
            (`Authorization: Bearer …`) from an issuer the federation trusts.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::children::search,
        routes::children::view,
        routes::children::confirm,
        routes::access_report::access_report,
        routes::notifications::route,
        routes::notifications::acknowledge,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "children", description = "Search for a child and read their multi-agency view"),
        (name = "notifications", description = "Agency nodes route events to the agencies that hold the child"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "mutual_tls",
            SecurityScheme::MutualTls {
                description: Some(
                    "Agency nodes only: the node's client certificate from the federation CA, \
                     listed in the federation directory with role `node`."
                        .into(),
                ),
                extensions: None,
            },
        );
        components.add_security_scheme(
            "practitioner_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "EdDSA-signed practitioner token with iss, sub, aud, exp, iat, jti, \
                         agency and role claims, from an issuer in the federation directory.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The gateway's OpenAPI document, as committed in `openapi/gateway.json`.
pub fn openapi_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The document served at `/openapi.json`: utoipa's, with the conventions of
/// [`schemas::openapi::polish`] applied.
pub fn document() -> utoipa::openapi::OpenApi {
    let errors = schemas::openapi::ServiceErrors {
        rate_limited: trust::http::rate_limited_problem(
            "agency",
            std::time::Duration::from_secs(1),
        ),
        unavailable: schemas::Problem::new(
            "busy",
            "The gateway is answering as many requests as it can; retry shortly",
            503,
        ),
    };
    let raw = ApiDoc::openapi();
    let Ok(mut value) = serde_json::to_value(&raw) else {
        return raw;
    };
    schemas::openapi::polish(&mut value, &errors);
    serde_json::from_value(value).unwrap_or(raw)
}
