//! Errors as `application/problem+json` (RFC 9457): the response for a problem (with
//! `Retry-After` when the caller should wait), and the extractor configurations that answer
//! malformed bodies, queries and paths with one.
//!
//! The problem document itself is `schemas::Problem`, a wire type with its OpenAPI schema;
//! only the actix glue is here.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use schemas::Problem;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document as an actix error.
#[derive(Debug)]
pub struct ProblemError(pub Problem);

impl std::fmt::Display for ProblemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code(), self.0.title)
    }
}

impl ResponseError for ProblemError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(&self.0)
    }
}

pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    response.json(problem)
}

fn invalid(what: &str, detail: String) -> actix_web::Error {
    ProblemError(
        Problem::new("invalid-request", "The request is not valid", 400)
            .with_detail(format!("{what}: {detail}")),
    )
    .into()
}

/// JSON bodies: at most `limit` bytes; malformed or mistyped bodies are 400 problem+json
/// with the field `body`. Malformed JSON keeps serde's line and column (they locate the
/// slip); a well-formed body of the wrong shape does not (they mean nothing to a caller
/// who built the body as an object). Bodies that name every field read a
/// `schemas::json::Body` and parse it themselves.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError as E;
            match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => ProblemError(
                    Problem::new("payload-too-large", "The request body is too large", 413)
                        .with_detail(err.to_string()),
                )
                .into(),
                E::ContentType => ProblemError(Problem::new(
                    "unsupported-media-type",
                    "The request body must be application/json",
                    415,
                ))
                .into(),
                E::Deserialize(e) if e.is_syntax() || e.is_eof() => {
                    body_problem(format!("is not valid JSON: {e}"))
                }
                E::Deserialize(e) => body_problem(
                    e.to_string()
                        .split(" at line ")
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                _ => invalid("body", err.to_string()),
            }
        })
}

fn body_problem(message: String) -> actix_web::Error {
    ProblemError(Problem::invalid(vec![schemas::FieldError::new(
        "body", message,
    )]))
    .into()
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| invalid("query", err.to_string()))
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| invalid("path", err.to_string()))
}

/// Whole seconds to wait, rounded up, at least 1.
pub fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// 429 `rate-limited` for a flooding `who` (member, agency), saying how long to wait.
pub fn rate_limited_problem(who: &str, wait: std::time::Duration) -> Problem {
    Problem::new(
        "rate-limited",
        &format!("Too many requests from this {who}"),
        429,
    )
    .with_detail(format!("retry after {} s", retry_after_seconds(wait)))
}

/// A problem response, with `Retry-After` when the caller should wait (429, 503).
pub fn problem_response_retry_after(
    problem: &Problem,
    retry_after: Option<std::time::Duration>,
) -> HttpResponse {
    let mut response = problem_response(problem);
    if let Some(value) =
        retry_after.and_then(|w| HeaderValue::from_str(&retry_after_seconds(w).to_string()).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The calendar day in England (Europe/London) that `now` falls in, as the UTC instants
/// it starts and ends: the day of a per-day limit (break-glass views).
pub fn london_day(
    now: chrono::DateTime<chrono::Utc>,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::TimeZone;
    let london = chrono_tz::Europe::London;
    let today = now.with_timezone(&london).date_naive();
    let start_of = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|midnight| london.from_local_datetime(&midnight).earliest())
            .map(|at| at.with_timezone(&chrono::Utc))
    };
    let start = start_of(today).unwrap_or(now - chrono::Duration::hours(24));
    let end = today
        .succ_opt()
        .and_then(start_of)
        .unwrap_or(now + chrono::Duration::hours(1));
    (start, end)
}

/// How long until the next calendar day in England, when a per-day limit starts again:
/// the `Retry-After` of its 429.
pub fn until_next_day_in_london(now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let seconds = (london_day(now).1 - now).num_seconds();
    std::time::Duration::from_secs(seconds.clamp(1, 25 * 3600) as u64)
}

#[cfg(test)]
mod london_day_tests {
    use super::until_next_day_in_london;
    use chrono::TimeZone;

    #[test]
    fn the_next_day_starts_at_london_midnight_in_summer_and_winter() {
        // 23:00 UTC in July is midnight in London: a new day has just begun.
        let summer = chrono::Utc.with_ymd_and_hms(2026, 7, 1, 22, 30, 0).unwrap();
        assert_eq!(until_next_day_in_london(summer).as_secs(), 30 * 60);
        let winter = chrono::Utc.with_ymd_and_hms(2026, 12, 5, 23, 0, 0).unwrap();
        assert_eq!(until_next_day_in_london(winter).as_secs(), 3600);
    }
}
