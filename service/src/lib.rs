//! What the agency node and the gateway share as HTTP services: the server they build
//! ([`server`]), their OpenAPI documents ([`openapi`]), their command line ([`cli`]),
//! liveness ([`health`]), who is calling ([`caller`]), problem+json answers ([`problem`],
//! [`fallback`], and for a handler that panics [`panics`]), rate limits ([`limits`]),
//! metrics, access log and trace context ([`metrics`], [`trace`]), who may read the
//! metrics ([`metrics_access`]), settings ([`settings`]) and logging ([`telemetry`]).

pub mod caller;
pub mod cli;
pub mod fallback;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod metrics_access;
pub mod openapi;
pub mod panics;
pub mod problem;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod trace;
