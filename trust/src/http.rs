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

/// Answers unknown routes in problem+json: 405 with `Allow` when the path is a route of
/// the service's [`RouteTable`] (in the app data) asked with another method, 404 otherwise.
pub async fn not_found(req: HttpRequest, routes: Option<web::Data<RouteTable>>) -> HttpResponse {
    let allowed = routes.and_then(|r| r.allowed(req.path()));
    match allowed {
        Some(methods) => {
            let allow = methods.join(", ");
            let mut response = problem_response(
                &Problem::new(
                    "method-not-allowed",
                    "The resource does not answer this method",
                    405,
                )
                .with_detail(format!("{} is not one of: {allow}", req.method())),
            );
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => problem_response(&Problem::new("not-found", "No such resource", 404)),
    }
}

/// The service's routes and the methods each answers (from its OpenAPI document), so that a
/// known path asked with another method is a 405 naming the methods it does answer.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    /// `routes`: (path template such as `/v1/children/{local_id}`, upper-case methods).
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        Self {
            routes: routes
                .into_iter()
                .map(|(path, methods)| (path.split('/').map(str::to_owned).collect(), methods))
                .collect(),
        }
    }

    /// The methods the route matching `path` answers, if one does.
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .map(|(_, methods)| methods.clone())
    }
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

#[cfg(test)]
mod route_table_tests {
    use super::RouteTable;

    #[test]
    fn a_known_path_names_its_methods_and_an_unknown_one_none() {
        let table = RouteTable::new([
            ("/v1/children:search".to_owned(), vec!["POST".to_owned()]),
            (
                "/v1/children/{local_id}".to_owned(),
                vec!["GET".to_owned(), "PUT".to_owned()],
            ),
        ]);
        assert_eq!(
            table.allowed("/v1/children:search"),
            Some(vec!["POST".to_owned()])
        );
        assert_eq!(
            table.allowed("/v1/children/NPS-1"),
            Some(vec!["GET".to_owned(), "PUT".to_owned()])
        );
        assert_eq!(table.allowed("/v1/children/"), None);
        assert_eq!(table.allowed("/v1/children/NPS-1/other"), None);
        assert_eq!(table.allowed("/v2/children:search"), None);
    }
}
