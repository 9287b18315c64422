//! The node's OpenAPI document: what it says about itself (info, tags), around the
//! operations its one operation list registers.

use utoipa::OpenApi;

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
    components(schemas(schemas::AgencyKind, schemas::federation::Purpose, schemas::federation::LegalBasis)),
    tags(
        (name = "integration", description = "The agency's own systems write and read their records"),
        (name = "federation", description = "Gateways find children and read records for practitioners"),
        (name = "notifications", description = "Events this agency raises (outbox) and receives (inbox), and its subscriptions"),
        (name = "concerns", description = "Concerns this agency raises with children's social care and the outcomes it hears back; at a social care node, the front door's concerns, decisions and later steps"),
    )
)]
pub struct ApiDoc;

/// Served at `/openapi.json` and committed in `openapi/agency-node.json`.
pub const SPEC: service::openapi::Spec =
    service::openapi::Spec::new(ApiDoc::openapi, crate::routes::operations, conventions);

fn conventions() -> service::openapi::Conventions {
    service::openapi::Conventions {
        mutual_tls: "Client certificate from the federation CA whose URI SAN \
            (urn:agency:<member id>) is listed in the federation directory.",
        practitioner_jwt: "The practitioner's EdDSA token from an issuer in the federation \
            directory, forwarded by the gateway.",
        errors: schemas::openapi::ServiceErrors {
            rate_limited: service::problem::rate_limited_problem(
                "member",
                std::time::Duration::from_secs(1),
            ),
            unavailable: schemas::Problem::new(
                "unavailable",
                "The node cannot reach its database just now; retry shortly",
                503,
            ),
        },
    }
}
