//! Federation trust: who is a member and what each may do (the directory), the federation
//! PKI (mutual-TLS configurations and the identity a peer certificate carries),
//! practitioner tokens, node signatures (Ed25519 keys the directory lists), and the keyed cryptography members share (sealed strings,
//! webhook signatures).

pub mod directory;
pub mod identity;
pub mod seal;
pub mod signature;
pub mod tls;
pub mod token;
pub mod webhook;

pub use directory::{Directory, DirectoryError, DirectoryHandle, Issuer, Member, Node};
pub use identity::PeerCertificate;
pub use tls::TlsError;
pub use token::{Practitioner, PractitionerClaims, TokenError};

/// Installs the one crypto provider of the build (aws-lc-rs). Safe to call many times.
pub fn install_crypto_provider() {
    // Already installed is fine: every service and test calls this at start.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
