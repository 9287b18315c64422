//! Federation trust primitives shared by the gateway, the nodes and the dev tooling:
//! the federation directory (who is a member, in which role, with which certificate),
//! mutual-TLS configuration, the peer identity read from a client certificate, and
//! practitioner tokens (JWT).

pub mod directory;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod seal;
pub mod settings;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod webhook;

pub use directory::{Directory, DirectoryError, DirectoryHandle, Issuer, Member, Node};
pub use tls::{PeerCertificate, TlsError};
pub use token::{Practitioner, PractitionerClaims, TokenError};

/// Installs the one crypto provider of the build (aws-lc-rs). Safe to call many times.
pub fn install_crypto_provider() {
    // Already installed is fine: every service and test calls this at start.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
