//! Node configuration: a TOML file, then environment variables prefixed `AGENCY_NODE__`
//! (sections separated by `__`, e.g. `AGENCY_NODE__DATABASE__URL`).

use schemas::{AgencyId, AgencyKind};
use serde::Deserialize;
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
    pub matching: crate::matching::MatchingSettings,
    pub policy: PolicySettings,
    /// Per-member rate limit (requests per second and burst).
    #[serde(default)]
    pub limits: trust::limits::RateLimitSettings,
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
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:9001`; port 0 picks a free port.
    pub listen: String,
    /// Worker threads; defaults to the number of cores.
    #[serde(default)]
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    pub path: PathBuf,
    /// How often to look for changes to the directory file, in seconds.
    #[serde(default = "default_reload_seconds")]
    pub reload_seconds: u64,
}

fn default_reload_seconds() -> u64 {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (or a plain path).
    pub url: String,
}

impl Settings {
    pub fn load(path: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = path {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("AGENCY_NODE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()
    }
}
