//! actix-web pieces every service shares: problem+json responses, extractor error
//! handlers that answer in problem+json, and capture of the client certificate at
//! connection time.

use crate::tls::PeerCertificate;
use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use schemas::Problem;
use std::any::Any;

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
/// naming the first offending field (serde reports one at a time).
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
                _ => invalid("body", err.to_string()),
            }
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| invalid("query", err.to_string()))
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| invalid("path", err.to_string()))
}

/// Answers unknown routes in problem+json.
pub async fn not_found() -> HttpResponse {
    problem_response(&Problem::new("not-found", "No such resource", 404))
}

/// `HttpServer::on_connect` callback: reads the verified client certificate (if any) of
/// a TLS connection and stores its identity for the connection's requests.
pub fn capture_peer_certificate(conn: &dyn Any, ext: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = conn.downcast_ref::<Tls>() {
        let (_, session) = tls.get_ref();
        if let Some(leaf) = session.peer_certificates().and_then(|chain| chain.first()) {
            match PeerCertificate::from_der(leaf.as_ref()) {
                Ok(peer) => {
                    ext.insert(peer);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable client certificate"),
            }
        }
    }
}

/// The peer certificate captured for this request's connection.
pub fn peer_certificate(req: &HttpRequest) -> Option<PeerCertificate> {
    req.conn_data::<PeerCertificate>().cloned()
}

/// The bearer token of the `Authorization` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
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
