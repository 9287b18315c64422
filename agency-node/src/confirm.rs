//! Candidate confirmation: a practitioner links a `possible` match by an explicit,
//! audited call, never the node on its own (issue #6, DESIGN §6).
//!
//! For an answer whose outcome is `candidates`, the node seals one **candidate token**
//! per candidate (AES-256-GCM under a node-held key): the child's local reference, the
//! candidate's grade and agreeing fields, an expiry, and a fingerprint of the
//! practitioner (issuer, subject) and gateway it was issued to. The token is meaningless
//! to anyone else: the gateway and the practitioner see an opaque string, never the
//! local reference. `POST /v1/federation/match/confirm` opens it, refuses it when it was
//! altered, issued to another practitioner or gateway, or expired, and links the child.
//!
//! The candidates of an `ambiguous` answer get no token: they scored about equally and
//! the practitioner is shown nothing (no names, no dates) that could tell them apart, so
//! confirming one would be a guess. Search with an identifier instead.
//!
//! Matching hands the node its candidates' references beside the answer
//! (`MatchResponse::candidate_refs`, never serialised); a token is sealed for each, on
//! the match's snapshot, and the match's audit entry is committed before the answer (and
//! its tokens) leaves the node.

use schemas::MatchGrade;
use sha2::{Digest, Sha256};

const PREFIX: &str = "ct1.";
/// 2: the reference's length takes two bytes (1 took one, so a local id over 255 bytes
/// could not be sealed and its candidate was silently left unconfirmable). 3: the
/// search's query hash, so a confirmed candidate gets a match token of that search.
const VERSION: u8 = 3;
const FINGERPRINT_LEN: usize = 8;

/// What a token says about its candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// This node's id of the child.
    pub local_ref: String,
    pub grade: MatchGrade,
    pub matched_on: Vec<String>,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// The hash of the query that found the candidate (`crate::relationship::query_hash`).
    pub qh: String,
}

/// Whom a token is issued to: the practitioner (by issuer and subject) and the gateway
/// that asked on their behalf.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub gateway: &'a str,
}

impl Holder<'_> {
    pub(crate) fn fingerprint(&self) -> [u8; FINGERPRINT_LEN] {
        let mut hash = Sha256::new();
        for part in [self.issuer, self.subject, self.gateway] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a candidate token this node issued, or it was altered")]
    Invalid,
    #[error("the candidate token was issued to another practitioner or through another gateway")]
    NotYours,
    #[error("the candidate token has expired; search again")]
    Expired,
    /// Only when sealing: a local reference longer than a token can carry.
    #[error("the local reference is too long to seal")]
    TooLong,
}

pub use trust::seal::BadKey;

/// Seals and opens candidate tokens with this node's key.
pub struct CandidateSealer {
    sealer: trust::seal::Sealer,
    /// Binds every token to this node (a key copied to another node opens nothing there).
    aad: Vec<u8>,
    ttl_seconds: i64,
}

impl CandidateSealer {
    pub fn new(key_base64: &str, agency: &str, ttl_seconds: i64) -> Result<Self, BadKey> {
        Ok(Self {
            sealer: trust::seal::Sealer::from_base64(key_base64, PREFIX)?,
            aad: format!("child-view candidate token v1|{agency}").into_bytes(),
            ttl_seconds,
        })
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_key() -> Result<String, BadKey> {
        trust::seal::Sealer::generate_key()
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// A token for one candidate, for this holder, expiring `ttl_seconds` from `now`.
    pub fn seal(
        &self,
        local_ref: &str,
        grade: MatchGrade,
        matched_on: &[String],
        qh: &str,
        holder: Holder<'_>,
        now: i64,
    ) -> Result<String, TokenError> {
        let reference = local_ref.as_bytes();
        let ref_len = u16::try_from(reference.len()).map_err(|_| TokenError::TooLong)?;
        let qh_len = u8::try_from(qh.len()).map_err(|_| TokenError::TooLong)?;
        let mut plain = Vec::with_capacity(160 + reference.len());
        plain.push(VERSION);
        plain.extend_from_slice(&(now + self.ttl_seconds).to_be_bytes());
        plain.push(grade_byte(grade));
        plain.extend_from_slice(&holder.fingerprint());
        plain.push(qh_len);
        plain.extend_from_slice(qh.as_bytes());
        plain.extend_from_slice(&ref_len.to_be_bytes());
        plain.extend_from_slice(reference);
        plain.extend_from_slice(matched_on.join(",").as_bytes());
        self.sealer
            .seal(plain, &self.aad)
            .ok_or(TokenError::Invalid)
    }

    /// Opens a token presented by `holder` at `now`: refuses it when altered, issued to
    /// someone else, or expired.
    pub fn open(&self, token: &str, holder: Holder<'_>, now: i64) -> Result<Candidate, TokenError> {
        let plain = self
            .sealer
            .open(token, &self.aad)
            .ok_or(TokenError::Invalid)?;
        let (candidate, fingerprint) = decode(&plain).ok_or(TokenError::Invalid)?;
        if fingerprint != holder.fingerprint() {
            return Err(TokenError::NotYours);
        }
        if candidate.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(candidate)
    }
}

fn grade_byte(grade: MatchGrade) -> u8 {
    match grade {
        MatchGrade::Certain => 1,
        MatchGrade::Probable => 2,
        MatchGrade::Possible => 3,
    }
}

fn decode(plain: &[u8]) -> Option<(Candidate, [u8; FINGERPRINT_LEN])> {
    let (&version, rest) = plain.split_first()?;
    if version != VERSION {
        return None;
    }
    let (exp, rest) = rest.split_first_chunk::<8>()?;
    let (&grade, rest) = rest.split_first()?;
    let (fingerprint, rest) = rest.split_first_chunk::<FINGERPRINT_LEN>()?;
    let (&qh_len, rest) = rest.split_first()?;
    let (qh, rest) = rest.split_at_checked(usize::from(qh_len))?;
    let (ref_len, rest) = rest.split_first_chunk::<2>()?;
    let (reference, rest) = rest.split_at_checked(usize::from(u16::from_be_bytes(*ref_len)))?;
    let grade = match grade {
        1 => MatchGrade::Certain,
        2 => MatchGrade::Probable,
        3 => MatchGrade::Possible,
        _ => return None,
    };
    let matched_on = std::str::from_utf8(rest).ok()?;
    Some((
        Candidate {
            local_ref: String::from_utf8(reference.to_vec()).ok()?,
            grade,
            matched_on: matched_on
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            expires_at: i64::from_be_bytes(*exp),
            qh: String::from_utf8(qh.to_vec()).ok()?,
        },
        *fingerprint,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_reference_over_255_bytes_seals_and_opens() {
        let s = sealer("health");
        let long = "L".repeat(300);
        let token = s
            .seal(
                &long,
                MatchGrade::Possible,
                &fields(),
                QH,
                holder("p1"),
                NOW,
            )
            .unwrap();
        assert_eq!(s.open(&token, holder("p1"), NOW).unwrap().local_ref, long);
    }

    const NOW: i64 = 1_800_000_000;
    /// A query hash as `crate::relationship::query_hash` makes them.
    const QH: &str = "0123456789abcdef0123456789abcdef";

    fn sealer(agency: &str) -> CandidateSealer {
        CandidateSealer::new(&CandidateSealer::generate_key().unwrap(), agency, 600).unwrap()
    }

    fn holder(subject: &str) -> Holder<'_> {
        Holder {
            issuer: "idp",
            subject,
            gateway: "gateway",
        }
    }

    fn fields() -> Vec<String> {
        vec![
            "given_name:similar".into(),
            "family_name".into(),
            "date_of_birth".into(),
        ]
    }

    /// A possible match of `local_ref` on [`fields`], sealed for `sw-1` at [`NOW`].
    fn seal_for_sw1(s: &CandidateSealer, local_ref: &str) -> String {
        s.seal(
            local_ref,
            MatchGrade::Possible,
            &fields(),
            QH,
            holder("sw-1"),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn token_round_trips_without_showing_the_local_reference() {
        let s = sealer("social-care");
        let local_ref = "7d0c6c3e-7d7a-4b7e-9c55-0d8f5f0e2a11";
        let token = seal_for_sw1(&s, local_ref);
        assert!(token.starts_with(PREFIX));
        assert!(!token.contains("7d0c6c3e") && !token.contains("family"));
        assert!(token.len() < 250, "{} characters", token.len());
        assert_eq!(
            s.open(&token, holder("sw-1"), NOW + 1).unwrap(),
            Candidate {
                local_ref: local_ref.into(),
                grade: MatchGrade::Possible,
                matched_on: fields(),
                expires_at: NOW + 600,
                qh: QH.into(),
            }
        );
        // Two tokens for the same candidate differ (fresh nonce).
        let again = seal_for_sw1(&s, local_ref);
        assert_ne!(token, again);
    }

    #[test]
    fn altered_foreign_expired_and_others_tokens_are_refused() {
        let s = sealer("social-care");
        let token = seal_for_sw1(&s, "child-1");
        // Every single-character change is detected.
        for i in PREFIX.len()..token.len() {
            let mut altered = token.clone().into_bytes();
            altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            assert_eq!(
                s.open(&altered, holder("sw-1"), NOW),
                Err(TokenError::Invalid),
                "change at {i}"
            );
        }
        assert_eq!(
            s.open(&token, holder("sw-2"), NOW),
            Err(TokenError::NotYours)
        );
        let other_gateway = Holder {
            gateway: "gateway-2",
            ..holder("sw-1")
        };
        assert_eq!(
            s.open(&token, other_gateway, NOW),
            Err(TokenError::NotYours)
        );
        assert_eq!(
            s.open(&token, holder("sw-1"), NOW + 600),
            Err(TokenError::Expired)
        );
        // Another node's key, or the same key at another node, opens nothing.
        assert_eq!(
            sealer("social-care").open(&token, holder("sw-1"), NOW),
            Err(TokenError::Invalid)
        );
        let key = CandidateSealer::generate_key().unwrap();
        let here = CandidateSealer::new(&key, "social-care", 600).unwrap();
        let there = CandidateSealer::new(&key, "health", 600).unwrap();
        let token = here
            .seal(
                "child-1",
                MatchGrade::Possible,
                &[],
                QH,
                holder("sw-1"),
                NOW,
            )
            .unwrap();
        assert!(here.open(&token, holder("sw-1"), NOW).is_ok());
        assert_eq!(
            there.open(&token, holder("sw-1"), NOW),
            Err(TokenError::Invalid)
        );
        for garbage in ["", "ct1.", "ct1.!!", "fr1.abc", "ct1.AAAA"] {
            assert_eq!(
                s.open(garbage, holder("sw-1"), NOW),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn holder_parts_cannot_be_shifted_between_fields() {
        let a = Holder {
            issuer: "idp",
            subject: "ab",
            gateway: "c",
        };
        let b = Holder {
            issuer: "idp",
            subject: "a",
            gateway: "bc",
        };
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
