//! Federated references: what the gateway hands a client after a search instead of
//! keeping any state. A reference seals (AES-256-GCM) the per-node local references,
//! the practitioner it was issued to and its expiry; it is opaque to the client and any
//! change to it is detected.

use chrono::{DateTime, Utc};
use schemas::AgencyId;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "fr1.";
/// Binds the ciphertext to this format version.
const AAD: &[u8] = b"child-view federated reference v1";

/// What one node said about the child at search time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum NodeEntry {
    /// The node holds the child under this local reference; `m` is the node's match
    /// token of the search, sent back with every read of it.
    Held {
        r: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        m: Option<String>,
    },
    /// The node has only `possible` matches: one candidate token per candidate, in the
    /// order of the search answer (candidate 1 first). Opaque here; only the node that
    /// sealed a token can open it, and only for the practitioner it was issued to.
    Candidates { t: Vec<String> },
    /// The node does not hold the child.
    NotFound,
    /// The node could not be asked (down, timed out, broken answer).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceClaims {
    /// Issuer and subject of the practitioner the reference was issued to.
    pub iss: String,
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    pub nodes: Vec<(AgencyId, NodeEntry)>,
    /// The relationship assertion the practitioner's own agency's node signed at the
    /// search, if it holds the child with an active involvement: passed, opaque, with
    /// every read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// The search's query hash (`schemas::query_hash`), for a break-glass grant bound to
    /// the same search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("the reference is not one this federation issued, or it was altered")]
    Invalid,
    #[error("the reference has expired; search again")]
    Expired,
    #[error("the reference was issued to another practitioner")]
    NotYours,
}

pub use trust::seal::BadKey;

/// Sealing a reference failed: a fault of the gateway, never of the caller.
#[derive(Debug, thiserror::Error)]
#[error("sealing a federated reference: {0}")]
pub struct SealFailed(String);

pub struct ReferenceSealer {
    sealer: trust::seal::Sealer,
}

impl ReferenceSealer {
    pub fn from_base64(key: &str) -> Result<Self, BadKey> {
        Ok(Self {
            sealer: trust::seal::Sealer::from_base64(key, PREFIX)?,
        })
    }

    /// A fresh random key, base64-encoded (for the dev federation and tests).
    pub fn generate_key() -> Result<String, BadKey> {
        trust::seal::Sealer::generate_key()
    }

    pub fn seal(&self, claims: &ReferenceClaims) -> Result<String, SealFailed> {
        let plain = serde_json::to_vec(claims).map_err(|e| SealFailed(e.to_string()))?;
        self.sealer
            .seal(plain, AAD)
            .ok_or_else(|| SealFailed("the cipher refused to seal".into()))
    }

    /// Opens a reference for this practitioner, checking integrity, owner and expiry, in
    /// that order.
    pub fn open(
        &self,
        reference: &str,
        issuer: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<ReferenceClaims, ReferenceError> {
        let plain = self
            .sealer
            .open(reference, AAD)
            .ok_or(ReferenceError::Invalid)?;
        let claims: ReferenceClaims =
            serde_json::from_slice(&plain).map_err(|_| ReferenceError::Invalid)?;
        // Owner first: a stranger holding someone else's reference learns nothing more
        // from it, not even whether it is still live.
        if claims.iss != issuer || claims.sub != subject {
            return Err(ReferenceError::NotYours);
        }
        if claims.exp <= now.timestamp() {
            return Err(ReferenceError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> ReferenceSealer {
        ReferenceSealer::from_base64(&ReferenceSealer::generate_key().unwrap()).unwrap()
    }

    fn claims(exp: i64) -> ReferenceClaims {
        ReferenceClaims {
            iss: "idp".into(),
            sub: "dsl-1".into(),
            exp,
            nodes: vec![
                (
                    AgencyId::parse("school-a").unwrap(),
                    NodeEntry::Held {
                        r: "local-ref-at-school-a".into(),
                        m: None,
                    },
                ),
                (
                    AgencyId::parse("social-care").unwrap(),
                    NodeEntry::Candidates {
                        t: vec!["ct1.token-one".into(), "ct1.token-two".into()],
                    },
                ),
            ],
            rel: None,
            q: None,
        }
    }

    #[test]
    fn reference_round_trips_and_hides_local_refs() {
        let s = sealer();
        let now = Utc::now();
        let r = s.seal(&claims(now.timestamp() + 60)).unwrap();
        // Markers long enough that the sealed text's random characters cannot spell them.
        assert!(!r.contains("school-a") && !r.contains("local-ref") && !r.contains("token"));
        assert_eq!(
            s.open(&r, "idp", "dsl-1", now).unwrap(),
            claims(now.timestamp() + 60)
        );
    }

    #[test]
    fn altered_expired_foreign_or_others_references_are_refused() {
        let s = sealer();
        let now = Utc::now();
        let r = s.seal(&claims(now.timestamp() + 60)).unwrap();
        let mut altered = r.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            s.open(&altered, "idp", "dsl-1", now),
            Err(ReferenceError::Invalid)
        );
        assert_eq!(
            sealer().open(&r, "idp", "dsl-1", now),
            Err(ReferenceError::Invalid)
        );
        assert_eq!(
            s.open(&r, "idp", "someone-else", now),
            Err(ReferenceError::NotYours)
        );
        let old = s.seal(&claims(now.timestamp() - 1)).unwrap();
        assert_eq!(
            s.open(&old, "idp", "dsl-1", now),
            Err(ReferenceError::Expired)
        );
        assert_eq!(
            s.open(&old, "idp", "someone-else", now),
            Err(ReferenceError::NotYours),
            "a stranger is not told the reference expired"
        );
        assert_eq!(
            s.open(&old, "another-idp", "dsl-1", now),
            Err(ReferenceError::NotYours),
            "the same subject from another issuer is a stranger"
        );
        assert_eq!(
            s.open("garbage", "idp", "dsl-1", now),
            Err(ReferenceError::Invalid)
        );
    }
}
