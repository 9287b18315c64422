//! The practitioner behind a request, from their bearer token.

use crate::error::GatewayError;
use crate::startup::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use service::caller;
use std::future::{Ready, ready};
use trust::Practitioner;

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
            let state = caller::state::<AppState>(req)?;
            let (practitioner, token) = caller::practitioner(req, state.get_ref())?;
            // The agency's quota, then the practitioner's own within it. Issuer and
            // subject name a practitioner (as a reference is bound to them).
            caller::admit(state.get_ref(), practitioner.agency.as_str())?;
            state
                .practitioner_limiter
                .check(&format!(
                    "{}\n{}",
                    practitioner.issuer, practitioner.subject
                ))
                .map_err(GatewayError::PractitionerRateLimited)?;
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
            let state = caller::state::<AppState>(req)?;
            let member = caller::member(req, state.get_ref())?;
            if member.role != schemas::MemberRole::Node {
                return Err(GatewayError::Forbidden(format!(
                    "'{}' is not an agency node; only nodes publish notifications",
                    member.id
                )));
            }
            caller::admit(state.get_ref(), member.id.as_str())?;
            Ok(Self { member })
        })())
    }
}
