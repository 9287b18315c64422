//! The practitioner behind a request, from their bearer token.

use crate::error::GatewayError;
use crate::startup::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use std::future::{Ready, ready};
use trust::{Practitioner, TokenError};

/// A practitioner whose token this gateway verified. The raw token is kept to forward
/// to nodes, which verify it again.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub practitioner: Practitioner,
    pub token: String,
}

impl FromRequest for Authenticated {
    type Error = GatewayError;
    type Future = Ready<Result<Self, GatewayError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(GatewayError::Internal)?;
            let token =
                trust::http::bearer_token(req).ok_or(GatewayError::Token(TokenError::Missing))?;
            let practitioner = state
                .directory
                .get()
                .verify_token(token)
                .map_err(GatewayError::Token)?;
            state
                .limiter
                .check(practitioner.agency.as_str())
                .map_err(GatewayError::RateLimited)?;
            Ok(Self {
                practitioner,
                token: token.to_owned(),
            })
        })())
    }
}

/// An agency node calling the gateway with its own certificate (to route a
/// notification): a directory member with role `node`.
#[derive(Debug, Clone)]
pub struct NodeMember {
    pub member: trust::Member,
}

impl FromRequest for NodeMember {
    type Error = GatewayError;
    type Future = Ready<Result<Self, GatewayError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(GatewayError::Internal)?;
            let peer = trust::http::peer_certificate(req);
            let member = state
                .directory
                .get()
                .authenticate(peer.as_ref())
                .map_err(GatewayError::NotAMember)?
                .clone();
            if member.role != schemas::MemberRole::Node {
                return Err(GatewayError::Forbidden(format!(
                    "'{}' is not an agency node; only nodes publish notifications",
                    member.id
                )));
            }
            state
                .limiter
                .check(member.id.as_str())
                .map_err(GatewayError::RateLimited)?;
            Ok(Self { member })
        })())
    }
}
