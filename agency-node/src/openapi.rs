use crate::routes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agency node",
        description = "An agency's node in the multi-agency child view federation. \
            Every `/v1` operation needs a client certificate issued by the federation CA and \
            listed in the federation directory. The **integration** face serves the agency's \
            own systems (directory role `integration`); the **federation** face serves gateways, \
            reading on behalf of a practitioner whose bearer token the node verifies itself.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::children::upsert_child,
        routes::children::get_child,
        routes::children::upsert_record,
        routes::children::list_records,
        routes::records::get_record,
        routes::records::put_record,
        routes::records::retract_record,
        routes::records::batch,
        routes::records::changes,
        routes::children::record_consent,
        routes::children::list_consents,
        routes::audit::verify,
        routes::audit::release,
        routes::federation::access_report,
        routes::federation::match_child,
        routes::federation::match_child_keyed,
        routes::federation::confirm_candidate,
        routes::federation::child_records,
        routes::notifications::publish,
        routes::notifications::outbox,
        routes::notifications::outbox_event,
        routes::notifications::replay,
        routes::notifications::inbox,
        routes::notifications::acknowledge,
        routes::notifications::subscriptions,
        routes::notifications::set_subscription,
        routes::notifications::offer,
        routes::notifications::receive,
        routes::notifications::acknowledged,
        routes::federation::locator_filter,
    ),
    components(schemas(schemas::AgencyKind, schemas::federation::Purpose, schemas::federation::LegalBasis)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "integration", description = "The agency's own systems write and read their records"),
        (name = "federation", description = "Gateways find children and read records for practitioners"),
        (name = "notifications", description = "Events this agency raises (outbox) and receives (inbox), and its subscriptions"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("mutual_tls", SecurityScheme::MutualTls {
            description: Some(
                "Client certificate from the federation CA whose URI SAN (urn:agency:<member id>) \
                 is listed in the federation directory."
                    .into(),
            ),
            extensions: None,
        });
        components.add_security_scheme(
            "practitioner_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The practitioner's EdDSA token from an issuer in the federation directory, \
                         forwarded by the gateway.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The node's OpenAPI document, as committed in `openapi/agency-node.json`.
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
            "member",
            std::time::Duration::from_secs(1),
        ),
        unavailable: schemas::Problem::new(
            "unavailable",
            "The node cannot reach its database just now; retry shortly",
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
