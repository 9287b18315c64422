//! Gateway configuration: a TOML file, then environment variables prefixed `GATEWAY__`
//! (sections separated by `__`, e.g. `GATEWAY__FEDERATION__NODE_TIMEOUT_MS`).

use serde::Deserialize;
pub use service::settings::{DirectorySettings, ServerSettings};
use std::path::{Path, PathBuf};
use trust::tls::TlsFiles;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    /// The gateway's certificate serves practitioners (TLS) and identifies the gateway to
    /// nodes (mutual TLS): it carries both server and client usages.
    pub tls: TlsFiles,
    pub directory: DirectorySettings,
    #[serde(default)]
    pub federation: FederationSettings,
    pub reference: ReferenceSettings,
    /// How the gateway asks nodes to find a child: `mode = "plain"` (default) or
    /// `"keyed"` with `key_file`, the federation's matching key (see `docs/matching.md`).
    #[serde(default)]
    pub matching: GatewayMatchingSettings,
    /// Rate limit per practitioner agency (requests per second and burst): what all of
    /// one agency's practitioners may ask of this gateway together.
    #[serde(default)]
    pub limits: service::limits::RateLimitSettings,
    /// Rate limit per practitioner (token issuer and subject), within their agency's:
    /// one practitioner's script cannot use up their whole agency's quota. Default 10 per
    /// second, bursts of 20.
    #[serde(default = "default_practitioner_limits")]
    pub practitioner_limits: service::limits::RateLimitSettings,
    /// Search answers per practitioner that say which fields a candidate disagreed on
    /// (an agency answered `candidates`): each lets the practitioner check one field of
    /// a child they may not have, so beyond this a search is answered without them
    /// (`disagreed_withheld: true`; the rest of the answer is unchanged). Default 30 at
    /// once, then one every 2 minutes (30 an hour).
    #[serde(default = "default_candidate_detail_limits")]
    pub candidate_detail_limits: service::limits::RateLimitSettings,
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// The record locator: with it, a search asks only the nodes whose keyed membership
    /// filter may hold the child (see `docs/benchmarks.md`). Without it, every node.
    #[serde(default)]
    pub locator: Option<crate::locator::LocatorSettings>,
}

fn default_candidate_detail_limits() -> service::limits::RateLimitSettings {
    service::limits::RateLimitSettings {
        per_second: 1.0 / 120.0,
        burst: 30,
    }
}

fn default_practitioner_limits() -> service::limits::RateLimitSettings {
    service::limits::RateLimitSettings {
        per_second: 10.0,
        burst: 20,
    }
}

/// Routing notifications between nodes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Directory of webhook secrets, one file per node: `<member id>.secret` holding
    /// `whsec_<base64>`. Read at each delivery, so a rotated secret applies at once.
    /// Without it, the gateway refuses to route notifications.
    #[serde(default)]
    pub secrets_dir: Option<PathBuf>,
    /// Events one sending node may have routed (per second and burst), beyond its
    /// member quota: routing asks every node about a child, so it is bounded on its
    /// own. Default 5 per second, bursts of 50 (an outbox catching up after an outage
    /// is slowed, not refused: it retries after `Retry-After`).
    #[serde(default = "default_route_limits")]
    pub route_limits: service::limits::RateLimitSettings,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            secrets_dir: None,
            route_limits: default_route_limits(),
        }
    }
}

fn default_route_limits() -> service::limits::RateLimitSettings {
    service::limits::RateLimitSettings {
        per_second: 5.0,
        burst: 50,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// Longest wait for one node, in milliseconds. Nodes are asked in parallel, so this
    /// also bounds a whole search or view.
    #[serde(default = "default_node_timeout_ms")]
    pub node_timeout_ms: u64,
    /// Longest wait to open a connection (TCP + TLS) to a node, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Searches, views and access reports in flight at once; beyond it, 503 at once.
    #[serde(default = "default_max_concurrent_fanouts")]
    pub max_concurrent_fanouts: usize,
    /// Consecutive failures after which the gateway stops asking a node for a while.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long, in milliseconds, before one probe is let through to that node again.
    #[serde(default = "default_breaker_cool_down_ms")]
    pub breaker_cool_down_ms: u64,
    /// Children per batched call of a cohort (1 to 500).
    #[serde(default = "default_cohort_chunk")]
    pub cohort_chunk: usize,
}

fn default_cohort_chunk() -> usize {
    schemas::cohort::DEFAULT_CHUNK
}

fn default_max_concurrent_fanouts() -> usize {
    512
}

fn default_breaker_failures() -> u32 {
    5
}

fn default_breaker_cool_down_ms() -> u64 {
    10_000
}

fn default_node_timeout_ms() -> u64 {
    2000
}

fn default_connect_timeout_ms() -> u64 {
    1000
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            node_timeout_ms: default_node_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            max_concurrent_fanouts: default_max_concurrent_fanouts(),
            breaker_failures: default_breaker_failures(),
            breaker_cool_down_ms: default_breaker_cool_down_ms(),
            cohort_chunk: default_cohort_chunk(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayMatchingSettings {
    #[serde(default)]
    pub mode: matching::MatchingMode,
    /// File holding the base64 of the federation's 32-byte matching key; needed in keyed
    /// mode.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSettings {
    /// File holding the base64 of a 32-byte key that seals federated references. Every
    /// replica of the gateway must share it.
    pub key_file: PathBuf,
    /// How long a federated reference stays valid, in seconds.
    #[serde(default = "default_reference_ttl")]
    pub ttl_seconds: i64,
}

fn default_reference_ttl() -> i64 {
    30 * 60
}

impl Settings {
    pub fn load(path: Option<&Path>) -> Result<Self, config::ConfigError> {
        service::settings::load(path, "GATEWAY")
    }
}
