//! Who is calling: the client certificate captured when the connection opened, the
//! bearer token, and the checks every service's extractors make with them (a directory
//! member, a verified practitioner, within its rate). Each service's extractors add their
//! own role rules on top and map a [`Refusal`] into their error type.

use crate::limits::RateLimiter;
use actix_web::dev::Extensions;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use std::any::Any;
use std::time::Duration;
use trust::directory::MembershipError;
use trust::{DirectoryHandle, Member, PeerCertificate, Practitioner, TokenError};

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

/// What the caller checks need from a service's state: the federation directory in force
/// and the per-caller rate limits.
pub struct Gate<'a> {
    pub directory: &'a DirectoryHandle,
    pub limiter: &'a RateLimiter,
}

/// A service's state, which the caller checks read.
pub trait Gatekeeper: Send + Sync + 'static {
    fn gate(&self) -> Gate<'_>;
}

/// Why a caller was refused before any service rule was applied.
#[derive(Debug)]
pub enum Refusal {
    /// The service's state is not in the app data (a wiring fault, never the caller's).
    NoState,
    /// The client certificate is missing, unknown to the directory or revoked.
    NotAMember(MembershipError),
    /// The practitioner token is missing or not accepted.
    Token(TokenError),
    /// The caller is over its rate; it may retry after this long.
    RateLimited(Duration),
}

/// The service's state, `S`, from the request's app data.
pub fn state<S: Gatekeeper>(req: &HttpRequest) -> Result<web::Data<S>, Refusal> {
    req.app_data::<web::Data<S>>()
        .cloned()
        .ok_or(Refusal::NoState)
}

/// The directory member behind the connection's client certificate.
pub fn member(req: &HttpRequest, state: &impl Gatekeeper) -> Result<Member, Refusal> {
    let peer = peer_certificate(req);
    state
        .gate()
        .directory
        .get()
        .authenticate(peer.as_ref())
        .cloned()
        .map_err(Refusal::NotAMember)
}

/// The practitioner whose bearer token an issuer in the directory signed, and the token.
pub fn practitioner<'r>(
    req: &'r HttpRequest,
    state: &impl Gatekeeper,
) -> Result<(Practitioner, &'r str), Refusal> {
    let token = bearer_token(req).ok_or(Refusal::Token(TokenError::Missing))?;
    let practitioner = state
        .gate()
        .directory
        .get()
        .verify_token(token)
        .map_err(Refusal::Token)?;
    Ok((practitioner, token))
}

/// Counts one request against `key`'s rate (a member id, or an agency).
pub fn admit(state: &impl Gatekeeper, key: &str) -> Result<(), Refusal> {
    state
        .gate()
        .limiter
        .check(key)
        .map_err(Refusal::RateLimited)
}
