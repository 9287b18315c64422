//! The federation directory: one TOML file listing every member (agency nodes, gateways,
//! integration clients), the certificate identities each may present, revoked
//! certificate serials, and the practitioner-token issuers with their keys.
//!
//! A [`DirectoryHandle`] re-reads the file when it changes, so adding or removing a
//! member, revoking a certificate or rotating an issuer key needs no restart. A file
//! that fails validation is refused and the last good directory stays in force.

use crate::identity::PeerCertificate;
use crate::token::{self, Practitioner, TokenError, VerificationKey};
use schemas::{AgencyId, AgencyKind, MemberRole};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// The file as written on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    /// Name of the federation, for humans.
    pub federation: String,
    /// The `aud` every practitioner token must carry.
    pub audience: String,
    #[serde(default)]
    pub revoked_serials: Vec<String>,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub issuers: Vec<IssuerFile>,
}

/// One federation member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: AgencyId,
    pub name: String,
    pub role: MemberRole,
    /// The agency kind; required for nodes and integration clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AgencyKind>,
    /// Where a node serves (`https://host:port`); required for nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// More addresses of the same node, when it runs as several replicas (each
    /// `https://host:port`, serving the same certificate identity). Gateways spread
    /// their calls over `base_url` and these, and fail over between them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_urls: Vec<String>,
    /// For integration clients: the node (member id) they write to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acts_for: Option<AgencyId>,
    /// URI subject alternative names this member's certificates carry.
    pub cert_uris: Vec<String>,
    /// For nodes: the base64 of the node's Ed25519 public key, with which it signs what
    /// other members must be able to check (relationship assertions); see
    /// [`crate::signature`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// For children's social care nodes: the authority's front door, where concerns
    /// about children living in its postcode districts go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_door: Option<FrontDoorEntry>,
}

/// A local authority's children's social care front door, as the directory lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FrontDoorEntry {
    /// The front door's phone line for professionals (what a referrer with a child at
    /// immediate risk is told to call).
    pub phone: String,
    /// The postcode districts (outward codes, e.g. `ZZ1`) whose children it serves.
    pub districts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerFile {
    /// The `iss` claim value.
    pub issuer: String,
    /// Only `EdDSA` is accepted.
    pub algorithm: String,
    /// SubjectPublicKeyInfo PEM of the issuer's Ed25519 key.
    pub public_key_pem: String,
    /// Agencies whose practitioners this issuer may vouch for; empty means any agency
    /// node in the directory.
    #[serde(default)]
    pub agencies: Vec<AgencyId>,
    /// The longest lifetime (`exp - iat`, seconds) a token from this issuer may have;
    /// 12 hours when left out. Longer tokens are refused whatever their `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_seconds: Option<u64>,
}

/// An agency node listed in the directory, with its kind and base URL.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub member: &'a Member,
    pub kind: AgencyKind,
    pub base_url: &'a str,
}

impl<'a> Node<'a> {
    /// Every address the node serves at: `base_url`, then its replicas'.
    pub fn addresses(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        std::iter::once(self.base_url).chain(self.member.replica_urls.iter().map(String::as_str))
    }
}

impl std::ops::Deref for Node<'_> {
    type Target = Member;

    fn deref(&self) -> &Member {
        self.member
    }
}

/// A trusted token issuer, its key parsed.
#[derive(Debug, Clone)]
pub struct Issuer {
    pub issuer: String,
    pub key: VerificationKey,
    pub agencies: Vec<AgencyId>,
    pub max_lifetime_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the federation directory {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the federation directory {path} is not valid TOML for a directory: {message}")]
    Parse { path: String, message: String },
    #[error("the federation directory is inconsistent: {0}")]
    Invalid(String),
}

/// Why a certificate holder is not accepted as a member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("no client certificate was presented")]
    NoCertificate,
    #[error("the client certificate has been revoked")]
    Revoked,
    #[error("the client certificate is not listed in the federation directory")]
    NotListed,
}

/// A validated directory.
#[derive(Debug, Clone)]
pub struct Directory {
    pub federation: String,
    pub audience: String,
    members: Vec<Member>,
    by_uri: HashMap<String, usize>,
    revoked: HashSet<String>,
    issuers: HashMap<String, Issuer>,
}

impl Directory {
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            DirectoryError::Parse { message, .. } => DirectoryError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryFile = toml::from_str(text).map_err(|e| DirectoryError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        Self::from_file(file)
    }

    pub fn from_file(file: DirectoryFile) -> Result<Self, DirectoryError> {
        let invalid = |m: String| Err(DirectoryError::Invalid(m));
        let mut ids = HashSet::new();
        let mut by_uri = HashMap::new();
        let mut districts = HashSet::new();
        for (index, m) in file.members.iter().enumerate() {
            if !ids.insert(m.id.clone()) {
                return invalid(format!("member '{}' is listed twice", m.id));
            }
            if m.cert_uris.is_empty() {
                return invalid(format!("member '{}' has no cert_uris", m.id));
            }
            for uri in &m.cert_uris {
                if by_uri.insert(uri.clone(), index).is_some() {
                    return invalid(format!("certificate identity '{uri}' is listed twice"));
                }
            }
            if let Some(key) = &m.signing_key
                && crate::signature::decode_public_key(key).is_none()
            {
                return invalid(format!(
                    "member '{}': signing_key must be the base64 of a 32-byte Ed25519 key",
                    m.id
                ));
            }
            if let Some(door) = &m.front_door {
                if m.role != MemberRole::Node || m.kind != Some(AgencyKind::SocialCare) {
                    return invalid(format!(
                        "member '{}': only a social care node has a front_door",
                        m.id
                    ));
                }
                if door.phone.trim().is_empty() {
                    return invalid(format!("member '{}': front_door.phone is empty", m.id));
                }
                for d in &door.districts {
                    let upper = d.trim().to_ascii_uppercase();
                    if upper.is_empty() || upper.contains(' ') {
                        return invalid(format!(
                            "member '{}': front_door district '{d}' is not an outward code",
                            m.id
                        ));
                    }
                    if !districts.insert(upper.clone()) {
                        return invalid(format!("postcode district '{upper}' has two front doors"));
                    }
                }
            }
            match m.role {
                MemberRole::Node => {
                    if m.kind.is_none() || m.base_url.is_none() {
                        return invalid(format!("node '{}' needs a kind and a base_url", m.id));
                    }
                    if m.replica_urls.iter().any(|u| !u.starts_with("https://")) {
                        return invalid(format!(
                            "node '{}': every replica_urls entry must be an https:// URL",
                            m.id
                        ));
                    }
                }
                MemberRole::Integration => {
                    if m.kind.is_none() || m.acts_for.is_none() {
                        return invalid(format!(
                            "integration client '{}' needs a kind and acts_for",
                            m.id
                        ));
                    }
                }
                MemberRole::Gateway => {}
            }
        }
        for m in &file.members {
            if let Some(target) = &m.acts_for {
                let is_node = file
                    .members
                    .iter()
                    .any(|n| &n.id == target && n.role == MemberRole::Node);
                if !is_node {
                    return invalid(format!(
                        "integration client '{}' acts for '{target}', which is not a node",
                        m.id
                    ));
                }
            }
        }
        let mut issuers = HashMap::new();
        for i in file.issuers {
            if i.algorithm != "EdDSA" {
                return invalid(format!(
                    "issuer '{}' uses {}; only EdDSA is accepted",
                    i.issuer, i.algorithm
                ));
            }
            let key = VerificationKey::from_ed_pem(&i.public_key_pem)
                .map_err(|e| DirectoryError::Invalid(format!("issuer '{}' key: {e}", i.issuer)))?;
            issuers.insert(
                i.issuer.clone(),
                Issuer {
                    issuer: i.issuer,
                    key,
                    agencies: i.agencies,
                    max_lifetime_seconds: i
                        .max_lifetime_seconds
                        .unwrap_or(token::DEFAULT_MAX_LIFETIME_SECONDS),
                },
            );
        }
        Ok(Self {
            federation: file.federation,
            audience: file.audience,
            members: file.members,
            by_uri,
            revoked: file
                .revoked_serials
                .iter()
                .map(|s| s.to_ascii_lowercase().replace(':', ""))
                .collect(),
            issuers,
        })
    }

    /// The social care node whose front door serves this postcode district.
    pub fn front_door_for_district(&self, district: &str) -> Option<Node<'_>> {
        let district = district.trim().to_ascii_uppercase();
        self.nodes().find(|n| {
            n.kind == AgencyKind::SocialCare
                && n.front_door.as_ref().is_some_and(|d| {
                    d.districts
                        .iter()
                        .any(|x| x.trim().eq_ignore_ascii_case(&district))
                })
        })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn member(&self, id: &AgencyId) -> Option<&Member> {
        self.members.iter().find(|m| &m.id == id)
    }

    /// Agency nodes, in directory order. Validation guarantees every node has a kind and
    /// a base URL, so callers get them without a fallback.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.members.iter().filter_map(|member| {
            match (member.role, member.kind, &member.base_url) {
                (MemberRole::Node, Some(kind), Some(base_url)) => Some(Node {
                    member,
                    kind,
                    base_url,
                }),
                _ => None,
            }
        })
    }

    /// The member a verified client certificate belongs to.
    pub fn authenticate(&self, peer: Option<&PeerCertificate>) -> Result<&Member, MembershipError> {
        let peer = peer.ok_or(MembershipError::NoCertificate)?;
        if self.revoked.contains(&peer.serial) {
            return Err(MembershipError::Revoked);
        }
        peer.uris
            .iter()
            .find_map(|uri| self.by_uri.get(uri))
            .map(|index| &self.members[*index])
            .ok_or(MembershipError::NotListed)
    }

    /// Verifies a practitioner's bearer token against the issuers listed here: the
    /// token itself ([`token::verify`], with the issuer's maximum lifetime), then its
    /// `agency`, which must be an agency node of this directory that the issuer may
    /// vouch for. A gateway or an integration system employs no practitioners; a token
    /// naming one would otherwise be read as some agency's.
    pub fn verify_token(&self, token: &str) -> Result<Practitioner, TokenError> {
        let iss = token::unverified_issuer(token)?;
        let issuer = self.issuers.get(&iss).ok_or(TokenError::UnknownIssuer)?;
        let practitioner = token::verify(
            token,
            &issuer.issuer,
            &issuer.key,
            &self.audience,
            issuer.max_lifetime_seconds,
        )?;
        let agency = practitioner.agency.to_string();
        if !issuer.agencies.is_empty() && !issuer.agencies.contains(&practitioner.agency) {
            return Err(TokenError::AgencyNotAllowed(agency));
        }
        match self.member(&practitioner.agency) {
            None => Err(TokenError::AgencyNotAllowed(agency)),
            Some(m) if m.role != MemberRole::Node => Err(TokenError::NotAnAgency(agency)),
            Some(_) => Ok(practitioner),
        }
    }
}

/// A shared, hot-reloading view of the directory file.
#[derive(Debug, Clone)]
pub struct DirectoryHandle {
    path: PathBuf,
    current: Arc<RwLock<Arc<Directory>>>,
}

impl DirectoryHandle {
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let directory = Directory::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            current: Arc::new(RwLock::new(Arc::new(directory))),
        })
    }

    /// A handle over a fixed directory that never reloads (tests, tools).
    pub fn fixed(directory: Directory) -> Self {
        Self {
            path: PathBuf::new(),
            current: Arc::new(RwLock::new(Arc::new(directory))),
        }
    }

    /// The directory in force now. Cheap: clones an `Arc`.
    pub fn get(&self) -> Arc<Directory> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the file now; on error the current directory stays in force.
    pub fn reload(&self) -> Result<(), DirectoryError> {
        let directory = Directory::load(&self.path)?;
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(directory),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(directory),
        }
        Ok(())
    }

    /// Watches the file on a background thread and reloads it when its modification time
    /// or size changes.
    pub fn watch(&self, every: Duration) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        let handle = self.clone();
        let stamp = |p: &Path| -> Option<(SystemTime, u64)> {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        let mut last = stamp(&self.path);
        let spawned = std::thread::Builder::new()
            .name("directory-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let now = stamp(&handle.path);
                    if now != last {
                        last = now;
                        match handle.reload() {
                            Ok(()) => tracing::info!(path = %handle.path.display(), "federation directory reloaded"),
                            Err(e) => tracing::warn!(error = %e, "federation directory change refused; keeping the last good one"),
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot watch the federation directory; changes need a restart");
        }
    }
}
