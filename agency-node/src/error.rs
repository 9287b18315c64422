//! The node's one error type. Each variant maps once to a status and a stable problem
//! code; bodies never carry SQL, paths or internal messages.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use schemas::{FieldError, Problem};
use trust::TokenError;
use trust::directory::MembershipError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    NotAMember(MembershipError),
    #[error("caller role not allowed here: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Token(TokenError),
    #[error("safeguarding override not allowed")]
    OverrideNotAllowed,
    #[error("child not found")]
    ChildNotFound,
    #[error("{0}")]
    Candidate(crate::confirm::TokenError),
    #[error("record not found")]
    RecordNotFound,
    #[error("record locator not configured")]
    LocatorNotConfigured,
    #[error("conflict: {0}")]
    Conflict(String),
    /// Identifiers another local id at this node holds: each field with who holds it.
    #[error("identifier held by another child")]
    IdentifierHeld(Vec<FieldError>),
    #[error("precondition failed")]
    Stale(i64),
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// The practitioner has used every break-glass view their agency allows today.
    #[error("break-glass limit reached: {0}")]
    BreakGlassLimit(String),
    #[error("bad signature: {0}")]
    BadSignature(trust::webhook::WebhookError),
    #[error("notification not found")]
    NotificationNotFound,
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    #[error("concern not found")]
    ConcernNotFound,
    /// No front door serves the child: no social care node holds them, and no
    /// authority lists their home postcode district.
    #[error("no front door")]
    NoFrontDoor(Vec<FieldError>),
    #[error("{0}")]
    ImportRefused(dfe_formats::FileProblem),
    #[error("no checkpoint of that node's audit is kept here")]
    NoCheckpoint,
    #[error("the witnesses could not be reached: {0}")]
    Witnesses(String),
    #[error("database unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Invalid(errors) => Problem::invalid(errors.clone()),
            ApiError::NotAMember(e) => {
                Problem::new("not-a-member", "The client is not a federation member", 403)
                    .with_detail(e.to_string())
            }
            ApiError::Forbidden(detail) => {
                Problem::new("forbidden", "This member may not call this operation", 403)
                    .with_detail(detail.clone())
            }
            ApiError::Token(e) => Problem::new(
                "invalid-token",
                "The practitioner token is not accepted",
                401,
            )
            .with_detail(e.to_string()),
            ApiError::OverrideNotAllowed => Problem::new(
                "override-not-allowed",
                "This node's sharing policy does not allow a safeguarding override here",
                403,
            )
            .with_detail(
                "the policy allows safeguarding_override only for some roles and purposes; \
                 use public_task or consent",
            ),
            ApiError::ChildNotFound => {
                Problem::new("child-not-found", "This node holds no such child", 404)
            }
            ApiError::Candidate(e @ crate::confirm::TokenError::Invalid) => {
                Problem::invalid(vec![FieldError::new("candidate_token", e.to_string())])
            }
            ApiError::Candidate(e @ crate::confirm::TokenError::NotYours) => Problem::new(
                "candidate-not-yours",
                "The candidate token was issued to another practitioner",
                403,
            )
            .with_detail(e.to_string()),
            // Only sealing gives it, never a caller's token: a fault of the node.
            ApiError::Candidate(crate::confirm::TokenError::TooLong) => {
                Problem::new("internal", "The node failed to handle the request", 500)
            }
            ApiError::Candidate(e @ crate::confirm::TokenError::Expired) => {
                Problem::new("candidate-expired", "The candidate token has expired", 410)
                    .with_detail(e.to_string())
            }
            ApiError::LocatorNotConfigured => Problem::new(
                "locator-not-configured",
                "This node publishes no record-locator filter",
                404,
            )
            .with_detail("the node's configuration has no [locator] section"),
            ApiError::RecordNotFound => Problem::new(
                "record-not-found",
                "This child has no such record (or it was retracted)",
                404,
            ),
            ApiError::Conflict(detail) => {
                Problem::new("conflict", "The change conflicts with stored data", 409)
                    .with_detail(detail.clone())
            }
            ApiError::IdentifierHeld(errors) => Problem::new(
                "identifier-held",
                "Another child at this node holds this identifier",
                409,
            )
            .with_detail(
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .with_errors(errors.clone()),
            ApiError::Stale(0) => Problem::new(
                "precondition-failed",
                "The record does not exist, so it cannot match If-Match",
                412,
            ),
            ApiError::Stale(current) => Problem::new(
                "precondition-failed",
                "The record changed since you read it",
                412,
            )
            .with_detail(format!("the stored version is {current}; read it again")),
            ApiError::RateLimited(wait) => service::problem::rate_limited_problem("member", *wait),
            ApiError::BreakGlassLimit(detail) => Problem::new(
                "break-glass-limit",
                "You have used every break-glass view your agency allows today",
                429,
            )
            .with_detail(detail.clone()),
            ApiError::BadSignature(e) => Problem::new(
                "bad-signature",
                "The delivery's webhook signature is not accepted",
                401,
            )
            .with_detail(e.to_string()),
            ApiError::NotificationNotFound => Problem::new(
                "notification-not-found",
                "This node has no such notification",
                404,
            ),
            ApiError::ConcernNotFound => {
                Problem::new("concern-not-found", "This node has no such concern", 404)
            }
            ApiError::NoFrontDoor(errors) => Problem::new(
                "no-front-door",
                "No children's social care front door serves this child",
                422,
            )
            .with_detail(
                "no social care node holds the child, and no authority in the directory \
                 serves their home postcode district; nothing was sent: call the local \
                 authority's front door",
            )
            .with_errors(errors.clone()),
            ApiError::NotConfigured(what) => Problem::new(
                "not-configured",
                "This node is not configured for this operation",
                503,
            )
            .with_detail(format!("set {what} in the node's configuration")),
            ApiError::ImportRefused(file) => {
                use dfe_formats::FileProblem as F;
                let (title, status) = match file {
                    F::TooLarge { .. } => ("The file is over this node's import limit", 413),
                    F::NotAddressedHere(_) => {
                        ("The file is addressed to another school or authority", 422)
                    }
                    _ => ("The file is not one this node can import", 400),
                };
                let mut problem = Problem::new(file.code(), title, status)
                    .with_detail(format!("{file}; nothing of it was stored"));
                problem.errors = file
                    .elements()
                    .iter()
                    .map(|e| FieldError::new(e.path.clone(), e.message.clone()))
                    .collect();
                problem
            }
            ApiError::NoCheckpoint => Problem::new(
                "no-checkpoint",
                "This node keeps no checkpoint of that node's audit log",
                404,
            ),
            ApiError::Witnesses(why) => Problem::new(
                "witnesses-unreachable",
                "The checkpoint was made but the other nodes could not be asked to keep it",
                502,
            )
            .with_detail(why.clone()),
            ApiError::Unavailable => Problem::new(
                "unavailable",
                "The node cannot reach its database just now; retry shortly",
                503,
            ),
            ApiError::Internal => {
                Problem::new("internal", "The node failed to handle the request", 500)
            }
        }
    }
}

impl From<service::caller::Refusal> for ApiError {
    fn from(refusal: service::caller::Refusal) -> Self {
        use service::caller::Refusal;
        match refusal {
            Refusal::NoState => ApiError::Internal,
            Refusal::NotAMember(e) => ApiError::NotAMember(e),
            Refusal::Token(e) => ApiError::Token(e),
            Refusal::RateLimited(wait) => ApiError::RateLimited(wait),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let retry_after = match self {
            ApiError::RateLimited(wait) => Some(*wait),
            ApiError::BreakGlassLimit(_) => Some(service::problem::until_next_day_in_london(
                chrono::Utc::now(),
            )),
            _ => None,
        };
        service::problem::problem_response_retry_after(&self.problem(), retry_after)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        use crate::db::DbError as D;
        match e {
            D::Conflict(detail) => ApiError::Conflict(detail),
            // Two writers racing to give one identifier (or local id) to two children:
            // the unique index stops the second, which is told to retry.
            D::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => ApiError::Conflict(
                "a concurrent write holds the same identifier or id; read and retry".into(),
            ),
            D::Stale(version) => ApiError::Stale(version),
            D::Pool(_) => {
                tracing::error!(error = %e, "database pool");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "database");
                ApiError::Internal
            }
        }
    }
}

impl From<dfe_formats::FileProblem> for ApiError {
    fn from(e: dfe_formats::FileProblem) -> Self {
        ApiError::ImportRefused(e)
    }
}

impl From<crate::disclosure::DecisionError> for ApiError {
    fn from(e: crate::disclosure::DecisionError) -> Self {
        match e {
            crate::disclosure::DecisionError::OverrideNotAllowed => ApiError::OverrideNotAllowed,
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        crate::db::DbError::Pool(e).into()
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        crate::db::DbError::Query(e).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        // The blocking pool is gone (shutting down) or the closure panicked.
        tracing::error!(error = %e, "blocking task");
        ApiError::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_status_and_code() {
        let table = [
            (ApiError::Invalid(vec![]), 400, "invalid-request"),
            (
                ApiError::NotAMember(MembershipError::NotListed),
                403,
                "not-a-member",
            ),
            (ApiError::Forbidden(String::new()), 403, "forbidden"),
            (ApiError::Token(TokenError::Expired), 401, "invalid-token"),
            (ApiError::OverrideNotAllowed, 403, "override-not-allowed"),
            (ApiError::ChildNotFound, 404, "child-not-found"),
            (ApiError::ConcernNotFound, 404, "concern-not-found"),
            (ApiError::NoFrontDoor(vec![]), 422, "no-front-door"),
            (
                ApiError::Candidate(crate::confirm::TokenError::Invalid),
                400,
                "invalid-request",
            ),
            (
                ApiError::Candidate(crate::confirm::TokenError::NotYours),
                403,
                "candidate-not-yours",
            ),
            (
                ApiError::Candidate(crate::confirm::TokenError::Expired),
                410,
                "candidate-expired",
            ),
            (ApiError::RecordNotFound, 404, "record-not-found"),
            (
                ApiError::LocatorNotConfigured,
                404,
                "locator-not-configured",
            ),
            (ApiError::Conflict(String::new()), 409, "conflict"),
            (
                ApiError::ImportRefused(dfe_formats::FileProblem::TooLarge { size: 2, limit: 1 }),
                413,
                "import-too-large",
            ),
            (
                ApiError::ImportRefused(dfe_formats::FileProblem::NotAddressedHere(String::new())),
                422,
                "import-not-addressed-here",
            ),
            (
                ApiError::ImportRefused(dfe_formats::FileProblem::DtdRefused),
                400,
                "import-dtd-refused",
            ),
            (ApiError::NoCheckpoint, 404, "no-checkpoint"),
            (
                ApiError::Witnesses(String::new()),
                502,
                "witnesses-unreachable",
            ),
            (ApiError::IdentifierHeld(vec![]), 409, "identifier-held"),
            (ApiError::Stale(3), 412, "precondition-failed"),
            (
                ApiError::RateLimited(std::time::Duration::from_secs(1)),
                429,
                "rate-limited",
            ),
            (
                ApiError::BreakGlassLimit(String::new()),
                429,
                "break-glass-limit",
            ),
            (
                ApiError::BadSignature(trust::webhook::WebhookError::Stale),
                401,
                "bad-signature",
            ),
            (
                ApiError::NotificationNotFound,
                404,
                "notification-not-found",
            ),
            (ApiError::NotConfigured("x"), 503, "not-configured"),
            (ApiError::Unavailable, 503, "unavailable"),
            (ApiError::Internal, 500, "internal"),
        ];
        for (error, status, code) in table {
            let p = error.problem();
            assert_eq!((p.status, p.code()), (status, code), "{error:?}");
            assert_eq!(error.status_code().as_u16(), status);
        }
    }
}
