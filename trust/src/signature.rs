//! Node signatures: each agency node holds an Ed25519 signing key whose public half the
//! directory lists beside the member (`signing_key`). What one node signs any member can
//! check against the directory, without a shared secret: a relationship assertion today,
//! signed audit checkpoints tomorrow. [`SigningKey::sign`] and [`verify`] take plain
//! bytes, so each use chooses its own encoding; every use should start its bytes with a
//! label of its own (a domain separator) so that a signature made for one purpose can
//! never be read as one made for another.

use crate::directory::Directory;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use schemas::AgencyId;
use std::path::Path;

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read the signing key {path}: {message}")]
    Read { path: String, message: String },
    #[error("the signing key is not an unencrypted PKCS#8 Ed25519 key in PEM")]
    BadKey,
    #[error("'{0}' is not a member of the federation")]
    UnknownMember(String),
    #[error("the directory lists no signing key for '{0}'")]
    NoKey(String),
    #[error("the signature does not verify with the key the directory lists for '{0}'")]
    BadSignature(String),
}

/// A node's private signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey(Ed25519, public {})",
            self.public_key_base64()
        )
    }
}

impl SigningKey {
    /// A fresh key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), what [`Self::load`]
    /// reads.
    pub fn generate_pem() -> Result<String, SignatureError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| SignatureError::BadKey)?;
        let body = STANDARD.encode(document.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }

    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| SignatureError::BadKey)?;
        let pair = Ed25519KeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|_| SignatureError::BadKey)?;
        Ok(Self { pair })
    }

    pub fn load(path: &Path) -> Result<Self, SignatureError> {
        let text = std::fs::read_to_string(path).map_err(|e| SignatureError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_pem(&text).map_err(|e| match e {
            SignatureError::BadKey => SignatureError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            },
            other => other,
        })
    }

    /// The public key as the directory lists it: base64 of the 32 raw bytes.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// The signature of `bytes` (64 bytes).
    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        self.pair.sign(bytes).as_ref().to_vec()
    }
}

/// Decodes a directory's `signing_key` value; `None` when it is not 32 bytes of base64.
pub fn decode_public_key(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    (bytes.len() == PUBLIC_KEY_LEN).then_some(bytes)
}

/// Checks that `member` signed `bytes`, with the key the directory lists for it now (so
/// a member removed from the directory, or whose key was replaced, no longer vouches
/// for anything).
pub fn verify(
    directory: &Directory,
    member: &AgencyId,
    bytes: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let listed = directory
        .member(member)
        .ok_or_else(|| SignatureError::UnknownMember(member.to_string()))?;
    let key = listed
        .signing_key
        .as_deref()
        .and_then(decode_public_key)
        .ok_or_else(|| SignatureError::NoKey(member.to_string()))?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(bytes, signature)
        .map_err(|_| SignatureError::BadSignature(member.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{DirectoryFile, Member};

    fn directory(id: &str, key: Option<String>) -> Directory {
        Directory::from_file(DirectoryFile {
            federation: "test".into(),
            audience: "aud".into(),
            revoked_serials: Vec::new(),
            members: vec![Member {
                id: AgencyId::parse(id).unwrap(),
                name: "A node".into(),
                role: schemas::MemberRole::Node,
                kind: Some(schemas::AgencyKind::School),
                base_url: Some("https://127.0.0.1:1".into()),
                acts_for: None,
                cert_uris: vec![crate::identity::member_uri(id)],
                signing_key: key,
                front_door: None,
                replica_urls: Vec::new(),
            }],
            issuers: Vec::new(),
        })
        .unwrap()
    }

    #[test]
    fn a_signature_verifies_only_for_its_bytes_its_member_and_its_key() {
        let key = SigningKey::from_pem(&SigningKey::generate_pem().unwrap()).unwrap();
        let other = SigningKey::from_pem(&SigningKey::generate_pem().unwrap()).unwrap();
        let dir = directory("school-a", Some(key.public_key_base64()));
        let school = AgencyId::parse("school-a").unwrap();
        let signature = key.sign(b"label\nhello");
        assert_eq!(verify(&dir, &school, b"label\nhello", &signature), Ok(()));
        assert!(matches!(
            verify(&dir, &school, b"label\nhellO", &signature),
            Err(SignatureError::BadSignature(_))
        ));
        assert!(matches!(
            verify(&dir, &school, b"label\nhello", &other.sign(b"label\nhello")),
            Err(SignatureError::BadSignature(_))
        ));
        assert!(matches!(
            verify(
                &dir,
                &AgencyId::parse("school-b").unwrap(),
                b"label\nhello",
                &signature
            ),
            Err(SignatureError::UnknownMember(_))
        ));
        let keyless = directory("school-a", None);
        assert!(matches!(
            verify(&keyless, &school, b"label\nhello", &signature),
            Err(SignatureError::NoKey(_))
        ));
    }

    #[test]
    fn a_key_that_is_not_pkcs8_ed25519_is_refused() {
        assert_eq!(
            SigningKey::from_pem("not a key").unwrap_err(),
            SignatureError::BadKey
        );
        assert!(decode_public_key("c2hvcnQ=").is_none());
    }
}
