//! Authenticated encryption of small opaque strings (AES-256-GCM, random 96-bit nonce,
//! URL-safe base64 with a versioned prefix): what the gateway's federated references and
//! a node's candidate tokens are made of. Only the holder of the key can read or forge
//! one; any altered character makes it fail to open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The key is not the base64 of 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key must be the base64 of 32 bytes")]
pub struct BadKey;

/// Seals and opens strings `<prefix><base64(nonce | ciphertext | tag)>` under one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
    prefix: &'static str,
}

impl Sealer {
    pub fn from_base64(key: &str, prefix: &'static str) -> Result<Self, BadKey> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| BadKey)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| BadKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
            prefix,
        })
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_key() -> Result<String, BadKey> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| BadKey)?;
        Ok(STANDARD.encode(bytes))
    }

    /// `plain` sealed, bound to `aad` (which must be given again to open it).
    pub fn seal(&self, mut plain: Vec<u8>, aad: &[u8]) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut plain,
            )
            .ok()?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&plain);
        Some(format!("{}{}", self.prefix, URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The plain bytes of a string this key sealed with `aad`; `None` if it was not, or
    /// was altered.
    pub fn open(&self, text: &str, aad: &[u8]) -> Option<Vec<u8>> {
        let body = text.trim().strip_prefix(self.prefix)?;
        let mut sealed = URL_SAFE_NO_PAD.decode(body).ok()?;
        if sealed.len() <= NONCE_LEN {
            return None;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed[NONCE_LEN..],
            )
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_aad_and_unaltered() {
        let key = Sealer::generate_key().unwrap();
        let sealer = Sealer::from_base64(&key, "t1.").unwrap();
        let other = Sealer::from_base64(&Sealer::generate_key().unwrap(), "t1.").unwrap();
        let text = sealer.seal(b"hello".to_vec(), b"aad").unwrap();
        assert!(text.starts_with("t1."));
        assert_eq!(sealer.open(&text, b"aad").unwrap(), b"hello");
        assert!(sealer.open(&text, b"other aad").is_none());
        assert!(other.open(&text, b"aad").is_none());
        let mut altered = text.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            sealer
                .open(&String::from_utf8(altered).unwrap(), b"aad")
                .is_none()
        );
        assert!(Sealer::from_base64("not base64!", "t1.").is_err());
    }
}
