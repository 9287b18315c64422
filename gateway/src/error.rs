//! The gateway's one error type: each variant maps once to a status and a stable
//! problem code.

use crate::reference::ReferenceError;
use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use schemas::{FieldError, Problem};
use trust::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Token(TokenError),
    #[error("{0}")]
    Reference(ReferenceError),
    /// The practitioner's agency is over its rate at this gateway.
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// The practitioner is over their own rate at this gateway.
    #[error("rate limited (practitioner)")]
    PractitionerRateLimited(std::time::Duration),
    #[error("busy")]
    Busy,
    /// A node routed more events than its routing quota.
    #[error("routing rate limited")]
    RoutingRateLimited(std::time::Duration),
    /// A node raised an event about a child its own node does not hold.
    #[error("the sender does not hold the child")]
    SenderDoesNotHold,
    #[error("{0}")]
    NotAMember(trust::directory::MembershipError),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    #[error("not delivered: {0}")]
    NotDelivered(String),
    #[error("unknown event")]
    UnknownEvent,
    /// No children's social care front door serves the child of a concern.
    #[error("no front door")]
    NoFrontDoor(Vec<FieldError>),
    /// The agency refused a confirmation: its status and its problem's code and detail.
    #[error("confirmation refused ({status}): {detail}")]
    ConfirmationRefused {
        status: u16,
        code: String,
        detail: String,
    },
    #[error("agency unavailable: {0}")]
    AgencyUnavailable(String),
    /// The practitioner's own agency's node could not list their cohort.
    #[error("cohort unavailable: {0}")]
    CohortUnavailable(String),
    /// The practitioner's own agency refused a break-glass: the daily limit is used.
    #[error("break-glass limit: {0}")]
    BreakGlassLimit(String),
    /// The practitioner's own agency's node could not grant a break-glass.
    #[error("break-glass unavailable: {0}")]
    BreakGlassUnavailable(String),
    #[error("internal error")]
    Internal,
}

impl GatewayError {
    pub fn problem(&self) -> Problem {
        match self {
            GatewayError::Invalid(errors) => Problem::invalid(errors.clone()),
            GatewayError::Token(e) => Problem::new(
                "invalid-token",
                "The practitioner token is not accepted",
                401,
            )
            .with_detail(e.to_string()),
            GatewayError::Reference(e @ ReferenceError::Invalid) => Problem::new(
                "invalid-reference",
                "The federated reference is not valid",
                404,
            )
            .with_detail(e.to_string()),
            GatewayError::Reference(e @ ReferenceError::Expired) => Problem::new(
                "reference-expired",
                "The federated reference has expired",
                410,
            )
            .with_detail(e.to_string()),
            GatewayError::Reference(e @ ReferenceError::NotYours) => Problem::new(
                "reference-not-yours",
                "The federated reference belongs to another practitioner",
                403,
            )
            .with_detail(e.to_string()),
            GatewayError::RateLimited(wait) => {
                service::problem::rate_limited_problem("agency", *wait)
            }
            GatewayError::PractitionerRateLimited(wait) => {
                service::problem::rate_limited_problem("practitioner", *wait)
            }
            GatewayError::RoutingRateLimited(wait) => {
                service::problem::rate_limited_problem("agency node's events", *wait)
            }
            GatewayError::SenderDoesNotHold => Problem::new(
                "sender-does-not-hold-child",
                "The sending agency's node does not hold this child; nothing was routed",
                422,
            )
            .with_errors(vec![FieldError::new(
                "child",
                "is not a child the sending agency's node holds; an agency raises events only about its own children",
            )]),
            GatewayError::Busy => Problem::new(
                "busy",
                "The gateway is answering as many requests as it can; retry shortly",
                503,
            ),
            GatewayError::NotAMember(e) => {
                Problem::new("not-a-member", "The client is not a federation member", 403)
                    .with_detail(e.to_string())
            }
            GatewayError::Forbidden(detail) => {
                Problem::new("forbidden", "This member may not call this operation", 403)
                    .with_detail(detail.clone())
            }
            GatewayError::NotConfigured(what) => Problem::new(
                "not-configured",
                "The gateway is not configured for this operation",
                503,
            )
            .with_detail(format!("set {what} in the gateway's configuration")),
            GatewayError::NoFrontDoor(errors) => Problem::new(
                "no-front-door",
                "No children's social care front door serves this child",
                422,
            )
            .with_detail(
                "no social care node holds the child, and no authority in the directory \
                 serves their home postcode district",
            )
            .with_errors(errors.clone()),
            GatewayError::UnknownEvent => Problem::new(
                "unknown-event",
                "The sending agency does not know this event",
                404,
            ),
            GatewayError::NotDelivered(why) => Problem::new(
                "not-delivered",
                "The agency could not be reached; retry later",
                502,
            )
            .with_detail(why.clone()),
            GatewayError::ConfirmationRefused {
                status,
                code,
                detail,
            } => {
                // 400: the candidate's token did not open at the agency (it was altered,
                // or the agency changed its key since the search): the field is the
                // candidate the practitioner named.
                let status = match status {
                    400 | 403 | 404 | 410 => *status,
                    _ => 409,
                };
                let problem = Problem::new(
                    "confirmation-refused",
                    "The agency refused the confirmation",
                    status,
                )
                .with_detail(format!("{code}: {detail}"));
                if status == 400 {
                    problem.with_errors(vec![FieldError::new(
                        "candidate",
                        format!(
                            "the agency does not accept this candidate: {detail}; search again"
                        ),
                    )])
                } else {
                    problem
                }
            }
            GatewayError::AgencyUnavailable(why) => Problem::new(
                "agency-unavailable",
                "The agency could not be reached; nothing was confirmed, retry shortly",
                502,
            )
            .with_detail(why.clone()),
            GatewayError::CohortUnavailable(why) => Problem::new(
                "cohort-unavailable",
                "Your agency's node could not list the children it works with; retry shortly",
                502,
            )
            .with_detail(why.clone()),
            GatewayError::BreakGlassLimit(why) => Problem::new(
                "break-glass-limit",
                "You have used every break-glass view your agency allows today",
                429,
            )
            .with_detail(why.clone()),
            GatewayError::BreakGlassUnavailable(why) => Problem::new(
                "break-glass-unavailable",
                "Your agency's node could not record the break-glass; nothing was read",
                502,
            )
            .with_detail(why.clone()),
            GatewayError::Internal => {
                Problem::new("internal", "The gateway failed to handle the request", 500)
            }
        }
    }
}

impl From<crate::reference::SealFailed> for GatewayError {
    fn from(e: crate::reference::SealFailed) -> Self {
        tracing::error!(error = %e, "search answer not sent");
        GatewayError::Internal
    }
}

impl From<service::caller::Refusal> for GatewayError {
    fn from(refusal: service::caller::Refusal) -> Self {
        use service::caller::Refusal;
        match refusal {
            Refusal::NoState => GatewayError::Internal,
            Refusal::NotAMember(e) => GatewayError::NotAMember(e),
            Refusal::Token(e) => GatewayError::Token(e),
            Refusal::RateLimited(wait) => GatewayError::RateLimited(wait),
        }
    }
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let retry_after = match self {
            GatewayError::RateLimited(wait)
            | GatewayError::PractitionerRateLimited(wait)
            | GatewayError::RoutingRateLimited(wait) => Some(*wait),
            GatewayError::Busy => Some(std::time::Duration::from_secs(1)),
            GatewayError::BreakGlassLimit(_) => Some(service::problem::until_next_day_in_london(
                chrono::Utc::now(),
            )),
            _ => None,
        };
        service::problem::problem_response_retry_after(&self.problem(), retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_status_and_code() {
        let table = [
            (GatewayError::Invalid(vec![]), 400, "invalid-request"),
            (GatewayError::NoFrontDoor(vec![]), 422, "no-front-door"),
            (
                GatewayError::Token(TokenError::BadSignature),
                401,
                "invalid-token",
            ),
            (
                GatewayError::Reference(ReferenceError::Invalid),
                404,
                "invalid-reference",
            ),
            (
                GatewayError::Reference(ReferenceError::Expired),
                410,
                "reference-expired",
            ),
            (
                GatewayError::Reference(ReferenceError::NotYours),
                403,
                "reference-not-yours",
            ),
            (
                GatewayError::RateLimited(std::time::Duration::from_secs(1)),
                429,
                "rate-limited",
            ),
            (
                GatewayError::PractitionerRateLimited(std::time::Duration::from_secs(1)),
                429,
                "rate-limited",
            ),
            (GatewayError::Busy, 503, "busy"),
            (
                GatewayError::RoutingRateLimited(std::time::Duration::from_secs(1)),
                429,
                "rate-limited",
            ),
            (
                GatewayError::SenderDoesNotHold,
                422,
                "sender-does-not-hold-child",
            ),
            (
                GatewayError::ConfirmationRefused {
                    status: 410,
                    code: "candidate-expired".into(),
                    detail: String::new(),
                },
                410,
                "confirmation-refused",
            ),
            (
                GatewayError::ConfirmationRefused {
                    status: 400,
                    code: "invalid-request".into(),
                    detail: String::new(),
                },
                400,
                "confirmation-refused",
            ),
            (
                GatewayError::ConfirmationRefused {
                    status: 422,
                    code: "x".into(),
                    detail: String::new(),
                },
                409,
                "confirmation-refused",
            ),
            (
                GatewayError::BreakGlassLimit(String::new()),
                429,
                "break-glass-limit",
            ),
            (
                GatewayError::BreakGlassUnavailable(String::new()),
                502,
                "break-glass-unavailable",
            ),
            (
                GatewayError::AgencyUnavailable(String::new()),
                502,
                "agency-unavailable",
            ),
            (
                GatewayError::CohortUnavailable(String::new()),
                502,
                "cohort-unavailable",
            ),
            (GatewayError::Internal, 500, "internal"),
        ];
        for (error, status, code) in table {
            let p = error.problem();
            assert_eq!((p.status, p.code()), (status, code), "{error:?}");
            assert_eq!(error.status_code().as_u16(), status);
        }
    }
}
