//! Who is calling. Each extractor refuses the request before the handler runs, so a
//! handler that takes one cannot forget the check.

use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use schemas::{AgencyId, MemberRole};
use service::caller;
use std::future::{Ready, ready};
use trust::Practitioner;

/// The directory member behind the request's client certificate, within its rate.
fn member(req: &HttpRequest) -> Result<(trust::Member, web::Data<AppState>), ApiError> {
    let (member, state) = unmetered_member(req)?;
    caller::admit(state.get_ref(), member.id.as_str())?;
    Ok((member, state))
}

/// The directory member behind the request's client certificate, its rate not yet
/// counted (the caller decides under which key).
fn unmetered_member(req: &HttpRequest) -> Result<(trust::Member, web::Data<AppState>), ApiError> {
    let state = caller::state::<AppState>(req)?;
    let member = caller::member(req, state.get_ref())?;
    Ok((member, state))
}

/// An agency's own system, allowed to write to this node: directory role `integration`
/// and `acts_for` this node.
#[derive(Debug, Clone)]
pub struct IntegrationClient {
    pub member_id: AgencyId,
}

impl FromRequest for IntegrationClient {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(member(req).and_then(|(member, state)| {
            if member.role == MemberRole::Integration
                && member.acts_for.as_ref() == Some(&state.agency_id)
            {
                Ok(Self {
                    member_id: member.id,
                })
            } else {
                Err(ApiError::Forbidden(format!(
                    "'{}' is not an integration client of this agency",
                    member.id
                )))
            }
        }))
    }
}

/// A gateway reading on behalf of a practitioner: directory role `gateway`, and a valid
/// practitioner token, which this node verifies itself.
///
/// Its rate is counted per (gateway, practitioner's agency): every practitioner behind a
/// gateway shares that gateway's connection, and one agency's flood must not use up the
/// quota of the others. A request whose token is refused counts against the gateway
/// itself, so bad tokens cannot be sent without limit either.
#[derive(Debug, Clone)]
pub struct FederatedCaller {
    pub gateway_id: AgencyId,
    pub practitioner: Practitioner,
}

impl FromRequest for FederatedCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(unmetered_member(req).and_then(|(member, state)| {
            if member.role != MemberRole::Gateway {
                caller::admit(state.get_ref(), member.id.as_str())?;
                return Err(ApiError::Forbidden(format!(
                    "'{}' is not a gateway; the federation face serves gateways only",
                    member.id
                )));
            }
            let practitioner = match caller::practitioner(req, state.get_ref()) {
                Ok((practitioner, _)) => practitioner,
                Err(refusal) => {
                    caller::admit(state.get_ref(), member.id.as_str())?;
                    return Err(refusal.into());
                }
            };
            caller::admit(
                state.get_ref(),
                &format!("{}\n{}", member.id, practitioner.agency),
            )?;
            Ok(Self {
                gateway_id: member.id,
                practitioner,
            })
        }))
    }
}

/// A gateway acting for the federation itself (routing a notification), not for a
/// practitioner: directory role `gateway`, no token.
#[derive(Debug, Clone)]
pub struct GatewayCaller {
    pub gateway_id: AgencyId,
}

impl FromRequest for GatewayCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(member(req).and_then(|(member, _)| {
            if member.role == MemberRole::Gateway {
                Ok(Self {
                    gateway_id: member.id,
                })
            } else {
                Err(ApiError::Forbidden(format!(
                    "'{}' is not a gateway; this operation serves gateways only",
                    member.id
                )))
            }
        }))
    }
}
