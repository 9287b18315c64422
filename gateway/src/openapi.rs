//! The gateway's OpenAPI document: what it says about itself (info, tags), around the
//! operations its one operation list registers.

use utoipa::OpenApi;

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
    tags(
        (name = "children", description = "Search for a child and read their multi-agency view"),
        (name = "cohort", description = "Every child your agency works with, one row each, computed from the agencies at request time"),
        (name = "notifications", description = "Agency nodes route events to the agencies that hold the child"),
        (name = "concerns", description = "Agency nodes send concerns to the children's social care front door that serves the child, and social care sends outcomes back"),
        (name = "audit", description = "Agency nodes have each other keep signed checkpoints of their audit logs"),
    )
)]
pub struct ApiDoc;

/// Served at `/openapi.json` and committed in `openapi/gateway.json`.
pub const SPEC: service::openapi::Spec =
    service::openapi::Spec::new(ApiDoc::openapi, crate::routes::operations, conventions);

fn conventions() -> service::openapi::Conventions {
    service::openapi::Conventions {
        mutual_tls: "Agency nodes only: the node's client certificate from the federation CA, \
            listed in the federation directory with role `node`.",
        practitioner_jwt: "EdDSA-signed practitioner token with iss, sub, aud, exp, iat, jti, \
            agency and role claims, from an issuer in the federation directory.",
        errors: schemas::openapi::ServiceErrors {
            rate_limited: service::problem::rate_limited_problem(
                "agency",
                std::time::Duration::from_secs(1),
            ),
            unavailable: schemas::Problem::new(
                "busy",
                "The gateway is answering as many requests as it can; retry shortly",
                503,
            ),
        },
    }
}
