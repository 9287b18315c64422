//! Node configuration: a TOML file, then environment variables prefixed `AGENCY_NODE__`
//! (sections separated by `__`, e.g. `AGENCY_NODE__DATABASE__URL`).

use schemas::{AgencyId, AgencyKind};
use serde::Deserialize;
pub use service::settings::{DirectorySettings, ServerSettings};
use std::path::{Path, PathBuf};
use trust::tls::TlsFiles;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub agency: AgencySettings,
    pub server: ServerSettings,
    pub tls: TlsFiles,
    pub directory: DirectorySettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub matching: matching::MatchingSettings,
    pub policy: PolicySettings,
    /// Rate limit (requests per second and burst) per calling member; for a gateway
    /// reading on behalf of practitioners, per (gateway, practitioner's agency).
    #[serde(default)]
    pub limits: service::limits::RateLimitSettings,
    /// Outbox delivery, webhook secret, subscriptions.
    #[serde(default)]
    pub notifications: crate::notifications::NotificationSettings,
    /// A school's day start and term dates (school nodes), for Operation Encompass
    /// deadlines. A school without it counts every weekday from 08:30 Europe/London.
    #[serde(default)]
    pub school: Option<crate::notifications::calendar::SchoolSettings>,
    /// A children's social care front door's working days and bank holidays (social
    /// care nodes), for the deadline of a decision on a concern. Without it: Monday to
    /// Friday, ending 17:00 Europe/London, no bank holidays.
    #[serde(default)]
    pub front_door: Option<crate::notifications::calendar::FrontDoorSettings>,
    /// The record locator: without it, the node publishes no filter.
    #[serde(default)]
    pub locator: Option<LocatorSettings>,
    /// Candidate tokens: how a practitioner confirms a `possible` match.
    #[serde(default)]
    pub confirmation: ConfirmationSettings,
    /// DfE file imports (CTF, children in need census): whom this node receives files
    /// for. Without it the import operations answer 503.
    #[serde(default)]
    pub imports: Option<crate::imports::ImportSettings>,
    /// Audit anchoring: how often the log's head is signed and witnessed.
    #[serde(default)]
    pub audit: crate::anchoring::AuditSettings,
    /// The node's signing key (its public half in the directory). Without it the node
    /// asserts no relationship, so its practitioners see no more than `existence` at
    /// other agencies.
    #[serde(default)]
    pub signing: Option<SigningSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSettings {
    /// PKCS#8 PEM of the node's Ed25519 key.
    pub key_file: PathBuf,
    /// How long a relationship assertion holds, in seconds: long enough for a view read
    /// with the reference of the search it came from.
    #[serde(default = "default_assertion_ttl")]
    pub assertion_ttl_seconds: i64,
}

fn default_assertion_ttl() -> i64 {
    30 * 60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationSettings {
    /// File holding the base64 of a 32-byte key that seals this node's candidate tokens.
    /// Without it the node makes a key at start: tokens then die with a restart, and
    /// replicas of one node (which must open each other's tokens) need the file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How long a candidate token stays valid, in seconds: at least the gateway's
    /// reference lifetime, so a candidate can be confirmed while its reference lives.
    #[serde(default = "default_candidate_ttl")]
    pub token_ttl_seconds: i64,
}

impl Default for ConfirmationSettings {
    fn default() -> Self {
        Self {
            key_file: None,
            token_ttl_seconds: default_candidate_ttl(),
        }
    }
}

fn default_candidate_ttl() -> i64 {
    60 * 60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocatorSettings {
    /// File holding the base64 of the federation's 32-byte locator key, shared by every
    /// node and gateway of the federation.
    pub key_file: PathBuf,
    /// Target false-positive rate of the published filter, per looked-up token. A
    /// gateway tests every node's filter, so this times the number of nodes is about the
    /// nodes asked needlessly per search.
    #[serde(default = "default_locator_fp")]
    pub false_positive_rate: f64,
}

fn default_locator_fp() -> f64 {
    1e-6
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The node's sharing policy file (TOML); see `deploy/policies/`.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencySettings {
    /// This node's member id in the federation directory.
    pub id: AgencyId,
    pub kind: AgencyKind,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (or a plain path), or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// SQLite: how much of the database file each connection maps into memory, in MiB
    /// (default 1024; 0 reads through SQLite's own page cache only). The pages read
    /// through the map count in the node's resident memory; they are the kernel's page
    /// cache for the file, shared by the connections. SQLite caps the map at its build's
    /// maximum. Ignored on PostgreSQL.
    #[serde(default = "default_sqlite_mmap_mib")]
    pub sqlite_mmap_mib: u32,
}

fn default_sqlite_mmap_mib() -> u32 {
    crate::db::DEFAULT_SQLITE_MMAP_MIB
}

impl Settings {
    pub fn load(path: Option<&Path>) -> Result<Self, config::ConfigError> {
        service::settings::load(path, "AGENCY_NODE")
    }
}
