//! Configuration sections every service shares, and the layered loader: a TOML file,
//! then environment variables `<PREFIX>__<SECTION>__<KEY>`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trust::{Directory, DirectoryHandle};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:9001`; port 0 picks a free port.
    pub listen: String,
    /// Worker threads; defaults to the number of cores.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Who may read `GET /metrics`: `{ listen = "127.0.0.1:9464" }` (the default) serves
    /// it in plain HTTP on that address only, for a scraper on the same host or pod
    /// network; `"client_certificate"` serves it on the service's own TLS address to
    /// directory members' certificates only. See [`crate::metrics_access`].
    #[serde(default)]
    pub metrics: crate::metrics_access::MetricsAccess,
    /// On SIGTERM, how long the service drains before it stops, in seconds: readiness
    /// fails and new requests are answered `503 draining` (with `Retry-After`), so that
    /// load balancers and gateways send them to another replica; then requests in
    /// flight are finished (up to 10 s) and the process exits 0. SIGINT stops without
    /// draining.
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
}

fn default_drain_seconds() -> u64 {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// The federation directory file.
    pub path: PathBuf,
    /// How often to look for changes to it, in seconds.
    #[serde(default = "default_reload_seconds")]
    pub reload_seconds: u64,
}

fn default_reload_seconds() -> u64 {
    2
}

impl DirectorySettings {
    /// Loads the federation directory, lets `accept` refuse it (a service it does not list
    /// as it should, say), then watches the file so that changes apply without a restart.
    pub fn open(
        &self,
        accept: impl FnOnce(&Directory) -> anyhow::Result<()>,
    ) -> anyhow::Result<DirectoryHandle> {
        trust::install_crypto_provider();
        let directory = DirectoryHandle::load(&self.path)?;
        accept(&directory.get())?;
        directory.watch(Duration::from_secs(self.reload_seconds.max(1)));
        Ok(directory)
    }
}

/// Loads `T` from an optional TOML file overlaid with `PREFIX__SECTION__KEY` variables.
pub fn load<T: DeserializeOwned>(
    path: Option<&Path>,
    prefix: &str,
) -> Result<T, config::ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = path {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    builder
        .add_source(
            config::Environment::with_prefix(prefix)
                .prefix_separator("__")
                .separator("__"),
        )
        .build()?
        .try_deserialize()
}
