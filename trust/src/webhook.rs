//! Signed deliveries in the Standard Webhooks style: three headers, `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA-256 of "id.timestamp.body">`), with a secret shared by the
//! sender and one receiver, written `whsec_<base64>`.
//!
//! The receiver refuses a bad signature, and a timestamp too far from its clock (an old
//! delivery replayed); the id makes redelivery idempotent.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Clone)]
pub struct WebhookSecret(hmac::Key);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook secret is not 'whsec_' followed by base64 of at least 24 bytes")]
    BadSecret,
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the webhook-timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the delivery's timestamp is more than {TOLERANCE_SECONDS} s from now (a replay?)")]
    Stale,
    #[error("no signature matches the delivery")]
    BadSignature,
}

impl WebhookSecret {
    /// A new random secret, as text.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        // The system RNG failing is not recoverable at key generation.
        if SystemRandom::new().fill(&mut bytes).is_err() {
            panic!("the system random number generator failed");
        }
        format!("whsec_{}", STANDARD.encode(bytes))
    }

    pub fn parse(text: &str) -> Result<Self, WebhookError> {
        let encoded = text
            .trim()
            .strip_prefix("whsec_")
            .ok_or(WebhookError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::BadSecret)?;
        if bytes.len() < 24 {
            return Err(WebhookError::BadSecret);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading webhook secret {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("webhook secret {}: {e}", path.display()))
    }

    /// What is signed: `id.timestamp.body`.
    fn message(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(id.len() + body.len() + 24);
        message.extend_from_slice(id.as_bytes());
        message.push(b'.');
        message.extend_from_slice(timestamp.to_string().as_bytes());
        message.push(b'.');
        message.extend_from_slice(body);
        message
    }

    /// The `webhook-signature` header value for a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac::sign(&self.0, &Self::message(id, timestamp, body));
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a delivery's headers against its body at time `now` (Unix seconds).
    /// The signature header may carry several space-separated signatures (key rotation);
    /// one valid `v1` signature is enough.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signatures: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let id = id.ok_or(WebhookError::Missing(ID_HEADER))?;
        let timestamp = timestamp.ok_or(WebhookError::Missing(TIMESTAMP_HEADER))?;
        let signatures = signatures.ok_or(WebhookError::Missing(SIGNATURE_HEADER))?;
        let timestamp: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::BadTimestamp)?;
        if (now - timestamp).abs() > TOLERANCE_SECONDS {
            return Err(WebhookError::Stale);
        }
        let message = Self::message(id, timestamp, body);
        // hmac::verify compares in constant time.
        let matches = signatures.split_whitespace().any(|candidate| {
            candidate
                .strip_prefix("v1,")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .is_some_and(|given| hmac::verify(&self.0, &message, &given).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(&WebhookSecret::generate()).expect("generated secrets parse")
    }

    /// The sending time of the deliveries below.
    const SENT: i64 = 1_700_000_000;

    /// Verifies a delivery of event `evt_1` sent at [`SENT`] with `signature` and
    /// `body`, received at `now`.
    fn delivered(
        s: &WebhookSecret,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        s.verify(
            Some("evt_1"),
            Some("1700000000"),
            Some(signature),
            body,
            now,
        )
    }

    #[test]
    fn signed_delivery_verifies() {
        let s = secret();
        let sig = s.sign("evt_1", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("v1,"));
        assert_eq!(delivered(&s, &sig, b"{\"a\":1}", SENT + 10), Ok(()));
    }

    #[test]
    fn tampering_is_refused() {
        let s = secret();
        let sig = s.sign("evt_1", 1_700_000_000, b"{\"a\":1}");
        let verify = |id: &str, ts: &str, body: &[u8]| {
            s.verify(Some(id), Some(ts), Some(&sig), body, 1_700_000_000)
        };
        assert_eq!(
            verify("evt_1", "1700000000", b"{\"a\":2}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify("evt_2", "1700000000", b"{\"a\":1}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify("evt_1", "1700000001", b"{\"a\":1}"),
            Err(WebhookError::BadSignature)
        );
        let other = secret();
        assert_eq!(
            delivered(&other, &sig, b"{\"a\":1}", SENT),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn old_timestamps_are_refused_as_replays() {
        let s = secret();
        let sig = s.sign("evt_1", 1_700_000_000, b"{}");
        assert_eq!(
            delivered(&s, &sig, b"{}", SENT + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            s.verify(
                Some("evt_1"),
                Some("soon"),
                Some(&sig),
                b"{}",
                1_700_000_000
            ),
            Err(WebhookError::BadTimestamp)
        );
    }

    #[test]
    fn one_valid_signature_among_several_is_enough() {
        let s = secret();
        let sig = s.sign("evt_1", 1_700_000_000, b"{}");
        let header = format!("v1,AAAA {sig}");
        assert_eq!(delivered(&s, &header, b"{}", SENT), Ok(()));
        assert_eq!(
            s.verify(
                None,
                Some("1700000000"),
                Some(&header),
                b"{}",
                1_700_000_000
            ),
            Err(WebhookError::Missing(ID_HEADER))
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(WebhookSecret::parse("not-a-secret").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
    }
}
