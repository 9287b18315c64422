//! Practitioner tokens: EdDSA-signed JWTs from an issuer listed in the directory. The
//! gateway verifies them and forwards them; every node verifies them again.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use schemas::{AgencyId, PractitionerRole};
use serde::{Deserialize, Serialize};

/// Seconds of clock skew tolerated on `exp`/`nbf`/`iat` between members.
pub const LEEWAY_SECONDS: u64 = 30;

/// The longest a token may live (`exp - iat`) unless its issuer's entry in the directory
/// says otherwise: a working day. A stolen token is worth at most this long, whatever
/// `exp` its issuer wrote.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 12 * 3600;

/// The claims a practitioner token must carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PractitionerClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The member id of the agency the practitioner works for.
    pub agency: String,
    pub role: PractitionerRole,
    /// Display name, for audit trails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A practitioner whose token has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    pub issuer: String,
    pub subject: String,
    pub agency: AgencyId,
    pub role: PractitionerRole,
    pub name: Option<String>,
    pub token_id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no bearer token was sent")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's issuer is not trusted by this federation")]
    UnknownIssuer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf, or iat in the future)")]
    NotYetValid,
    #[error("the token lives longer than its issuer may grant ({0} s at most)")]
    TooLong(u64),
    #[error("the token is not meant for this federation (audience)")]
    WrongAudience,
    #[error("the token's signature or algorithm is not acceptable")]
    BadSignature,
    #[error("the token lacks a required claim or has an invalid one: {0}")]
    InvalidClaims(String),
    #[error("this issuer may not vouch for practitioners of agency '{0}'")]
    AgencyNotAllowed(String),
    #[error("'{0}' is not an agency node; a practitioner works for an agency")]
    NotAnAgency(String),
}

/// A verification key for one issuer, parsed once when the directory loads.
#[derive(Clone)]
pub struct VerificationKey {
    key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationKey(EdDSA)")
    }
}

impl VerificationKey {
    pub fn from_ed_pem(pem: &str) -> Result<Self, String> {
        DecodingKey::from_ed_pem(pem.as_bytes())
            .map(|key| Self { key })
            .map_err(|e| e.to_string())
    }
}

/// Peeks at the unverified `iss` claim, only to choose which key verifies the token.
pub fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
        .map(|data| data.claims.iss)
        .map_err(|_| TokenError::Malformed)
}

/// Verifies signature, algorithm (EdDSA only, never taken from the header), issuer,
/// audience, the times (`exp`, `nbf` when present, `iat` not in the future, a lifetime
/// of at most `max_lifetime_seconds`; each with [`LEEWAY_SECONDS`] of skew) and the
/// practitioner claims.
pub fn verify(
    token: &str,
    issuer: &str,
    key: &VerificationKey,
    audience: &str,
    max_lifetime_seconds: u64,
) -> Result<Practitioner, TokenError> {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.algorithms = vec![Algorithm::EdDSA];
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let data =
        jsonwebtoken::decode::<PractitionerClaims>(token, &key.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidAudience => TokenError::WrongAudience,
                K::InvalidIssuer => TokenError::UnknownIssuer,
                K::InvalidSignature | K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                    TokenError::BadSignature
                }
                K::MissingRequiredClaim(c) | K::InvalidClaimFormat(c) => {
                    TokenError::InvalidClaims(c.clone())
                }
                K::Json(e) => TokenError::InvalidClaims(e.to_string()),
                _ => TokenError::Malformed,
            }
        })?;
    let claims = data.claims;
    let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(i64::MAX);
    if claims.iat
        > i64::try_from(jsonwebtoken::get_current_timestamp())
            .unwrap_or(i64::MAX)
            .saturating_add(leeway)
    {
        return Err(TokenError::NotYetValid);
    }
    let max = i64::try_from(max_lifetime_seconds).unwrap_or(i64::MAX);
    if claims.exp.saturating_sub(claims.iat) > max {
        return Err(TokenError::TooLong(max_lifetime_seconds));
    }
    let agency = AgencyId::parse(&claims.agency)
        .map_err(|e| TokenError::InvalidClaims(format!("agency: {e}")))?;
    if claims.jti.trim().is_empty() {
        return Err(TokenError::InvalidClaims("jti".into()));
    }
    Ok(Practitioner {
        issuer: claims.iss,
        subject: claims.sub,
        agency,
        role: claims.role,
        name: claims.name,
        token_id: claims.jti,
    })
}

/// Signs a practitioner token (dev identity provider and tests).
pub fn mint(claims: &PractitionerClaims, private_key_pem: &str) -> Result<String, String> {
    let key = EncodingKey::from_ed_pem(private_key_pem.as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key).map_err(|e| e.to_string())
}
