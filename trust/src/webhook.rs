//! Signed deliveries, by the Standard Webhooks specification: three headers, `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA-256 of "id.timestamp.body">`), with a secret shared by the
//! sender and one receiver, written `whsec_<base64>`.
//!
//! The receiver refuses a bad signature, and a timestamp more than five minutes from its
//! clock (an old delivery replayed); the id makes redelivery idempotent.
//!
//! Signing and verifying are the specification's own Rust library (`standardwebhooks`);
//! what is ours is the secret's file and its generation, the refusal of secrets shorter
//! than the 24 bytes the specification asks for (the library takes any), and errors that
//! say which check failed.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use standardwebhooks::Webhook;
use std::sync::Arc;

pub use standardwebhooks::{
    HEADER_WEBHOOK_ID as ID_HEADER, HEADER_WEBHOOK_SIGNATURE as SIGNATURE_HEADER,
    HEADER_WEBHOOK_TIMESTAMP as TIMESTAMP_HEADER,
};

/// How far a delivery's timestamp may be from the receiver's clock (the library's
/// tolerance, which it does not export).
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Clone)]
pub struct WebhookSecret(Arc<Webhook>);

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
    #[error("the body is not UTF-8 text, which is all Standard Webhooks signs")]
    NotText,
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
        let webhook = Webhook::from_bytes(bytes).map_err(|_| WebhookError::BadSecret)?;
        Ok(Self(Arc::new(webhook)))
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading webhook secret {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("webhook secret {}: {e}", path.display()))
    }

    /// The `webhook-signature` header value for a delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
        self.0
            .sign(id, timestamp, body)
            .map_err(|_| WebhookError::NotText)
    }

    /// Checks a delivery's headers against its body, now. The signature header may carry
    /// several space-separated signatures (key rotation); one valid `v1` signature is
    /// enough.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signatures: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        use standardwebhooks::WebhookError as E;
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            (ID_HEADER, id),
            (TIMESTAMP_HEADER, timestamp),
            (SIGNATURE_HEADER, signatures),
        ] {
            let value = value.ok_or(WebhookError::Missing(name))?;
            let value =
                http::HeaderValue::from_str(value).map_err(|_| WebhookError::BadSignature)?;
            headers.insert(name, value);
        }
        self.0.verify(body, &headers).map_err(|e| match e {
            E::InvalidTimestamp => WebhookError::BadTimestamp,
            E::TimestampTooOldError | E::FutureTimestampError => WebhookError::Stale,
            _ => WebhookError::BadSignature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(&WebhookSecret::generate()).expect("generated secrets parse")
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// Verifies a delivery of event `evt_1` sent at `sent` with `signature` and `body`.
    fn delivered(
        s: &WebhookSecret,
        sent: i64,
        signature: &str,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        s.verify(
            Some("evt_1"),
            Some(&sent.to_string()),
            Some(signature),
            body,
        )
    }

    #[test]
    fn signed_delivery_verifies() {
        let s = secret();
        let sent = now() - 10;
        let sig = s.sign("evt_1", sent, b"{\"a\":1}").unwrap();
        assert!(sig.starts_with("v1,"));
        assert_eq!(delivered(&s, sent, &sig, b"{\"a\":1}"), Ok(()));
    }

    #[test]
    fn the_specifications_example_signs_alike() {
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned())
        );
    }

    #[test]
    fn tampering_is_refused() {
        let s = secret();
        let sent = now();
        let sig = s.sign("evt_1", sent, b"{\"a\":1}").unwrap();
        let verify = |id: &str, ts: i64, body: &[u8]| {
            s.verify(Some(id), Some(&ts.to_string()), Some(&sig), body)
        };
        assert_eq!(
            verify("evt_1", sent, b"{\"a\":2}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify("evt_2", sent, b"{\"a\":1}"),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify("evt_1", sent + 1, b"{\"a\":1}"),
            Err(WebhookError::BadSignature)
        );
        let other = secret();
        assert_eq!(
            delivered(&other, sent, &sig, b"{\"a\":1}"),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn timestamps_too_far_from_now_are_refused_as_replays() {
        let s = secret();
        for sent in [
            now() - TOLERANCE_SECONDS - 1,
            now() + TOLERANCE_SECONDS + 60,
        ] {
            let sig = s.sign("evt_1", sent, b"{}").unwrap();
            assert_eq!(delivered(&s, sent, &sig, b"{}"), Err(WebhookError::Stale));
        }
        let sig = s.sign("evt_1", now(), b"{}").unwrap();
        assert_eq!(
            s.verify(Some("evt_1"), Some("soon"), Some(&sig), b"{}"),
            Err(WebhookError::BadTimestamp)
        );
    }

    #[test]
    fn one_valid_signature_among_several_is_enough() {
        let s = secret();
        let sent = now();
        let sig = s.sign("evt_1", sent, b"{}").unwrap();
        let header = format!("v1,AAAA {sig}");
        assert_eq!(delivered(&s, sent, &header, b"{}"), Ok(()));
        assert_eq!(
            s.verify(None, Some(&sent.to_string()), Some(&header), b"{}"),
            Err(WebhookError::Missing(ID_HEADER))
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(WebhookSecret::parse("not-a-secret").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
    }

    #[test]
    fn a_body_that_is_not_text_cannot_be_signed() {
        assert_eq!(
            secret().sign("evt_1", now(), &[0xff, 0xfe]),
            Err(WebhookError::NotText)
        );
    }
}
