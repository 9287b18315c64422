//! The record locator at the gateway (DESIGN §6): the nodes' keyed membership filters,
//! fetched in the background and tested before a search, so that only nodes whose filter
//! says "maybe" are asked.
//!
//! It fails open: a node whose filter the gateway has not got (not fetched yet, the node
//! publishes none, fetching failed, or it was made with another key) is asked as if there
//! were no locator. A filter is dropped when it is older than `max_age_seconds`, so a
//! node that stopped publishing is asked again rather than judged on stale bits.

use crate::upstream::Upstream;
use base64::Engine;
use futures::future::join_all;
use locator::{BlockingInput, LocatorFilter, LocatorKey, Token};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use schemas::{AgencyId, ChildQuery};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use trust::DirectoryHandle;

/// `[locator]` in the gateway's configuration. Without the section the gateway asks every
/// node (the default, right for a small federation).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocatorSettings {
    /// File holding the base64 of the federation's 32-byte locator key (the nodes' key).
    pub key_file: PathBuf,
    /// How often every node's filter is fetched again, in seconds.
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
    /// A filter older than this is not used (its node is asked), in seconds.
    #[serde(default = "default_max_age_seconds")]
    pub max_age_seconds: u64,
}

fn default_refresh_seconds() -> u64 {
    300
}

fn default_max_age_seconds() -> u64 {
    3600
}

struct Held {
    filter: LocatorFilter,
    fetched: Instant,
}

/// The filters the gateway holds, one per node at most.
pub struct Locator {
    key: LocatorKey,
    max_age: Duration,
    filters: RwLock<HashMap<AgencyId, Held>>,
    /// Decisions taken.
    decisions: Family<DecisionLabels, Counter>,
    /// Nodes whose filter may be used, as of the last scrape.
    usable_filters: Gauge,
}

/// Why a node was or was not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Its filter may hold the child.
    Maybe,
    /// Its filter holds none of the search's tokens: not asked.
    NotHeld,
    /// No usable filter: asked.
    NoFilter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

impl From<Decision> for DecisionLabels {
    fn from(decision: Decision) -> Self {
        Self {
            decision: match decision {
                Decision::Maybe => "maybe",
                Decision::NotHeld => "not_held",
                Decision::NoFilter => "no_filter",
            },
        }
    }
}

impl Locator {
    pub fn new(key: LocatorKey, max_age: Duration) -> Self {
        let locator = Self {
            key,
            max_age,
            filters: RwLock::new(HashMap::new()),
            decisions: Default::default(),
            usable_filters: Gauge::default(),
        };
        // Every decision is exposed from the start, at 0.
        for decision in [Decision::Maybe, Decision::NotHeld, Decision::NoFilter] {
            let _ = locator.decisions.get_or_create(&decision.into());
        }
        locator
    }

    pub fn load(settings: &LocatorSettings) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(&settings.key_file).map_err(|e| {
            anyhow::anyhow!(
                "reading the locator key {}: {e}",
                settings.key_file.display()
            )
        })?;
        Ok(Self::new(
            LocatorKey::from_base64(&text)?,
            Duration::from_secs(settings.max_age_seconds.max(1)),
        ))
    }

    /// The tokens a search looks up: every identifier it gives and its demographic
    /// blocking key. `None` when its demographics are partial (no given name, family
    /// name or date of birth), so no blocking key can be computed: every node is asked,
    /// since a filter holding none of its identifiers may still hold the child.
    pub fn query_tokens(&self, query: &ChildQuery) -> Option<Vec<Token>> {
        let upn = query
            .identifiers
            .upn
            .as_ref()
            .map(|u| u.as_str().to_owned());
        let nhs = query
            .identifiers
            .nhs_number
            .as_ref()
            .map(|n| n.as_str().to_owned());
        let demographics = match &query.demographics {
            None => None,
            Some(d) => {
                let (Some(given_name), Some(family_name), Some(date_of_birth)) =
                    (&d.given_name, &d.family_name, d.date_of_birth)
                else {
                    return None;
                };
                Some(BlockingInput {
                    given_name,
                    family_name,
                    date_of_birth,
                    postcode: d.postcode.as_deref(),
                    sex: d.sex,
                })
            }
        };
        let by_demographics = self
            .key
            .query_tokens(None, None, None, demographics.as_ref());
        if demographics.is_some() && by_demographics.is_empty() {
            // Names no key can be made of (no letter in the given name): ask everyone.
            return None;
        }
        let mut tokens = self
            .key
            .query_tokens(upn.as_deref(), nhs.as_deref(), None, None);
        tokens.extend(by_demographics);
        // A former UPN finds the child as a UPN does (a node keys its children's former
        // UPNs as UPNs).
        for former in &query.identifiers.former_upns {
            tokens.extend(
                self.key
                    .query_tokens(Some(former.as_str()), None, None, None),
            );
        }
        Some(tokens)
    }

    /// Whether to ask `node` for a search with these tokens.
    pub fn decide(&self, node: &AgencyId, tokens: &[Token]) -> Decision {
        let filters = self.filters.read().unwrap_or_else(|e| e.into_inner());
        let decision = match filters.get(node) {
            Some(held) if held.fetched.elapsed() <= self.max_age => {
                if held.filter.may_hold_any(tokens) {
                    Decision::Maybe
                } else {
                    Decision::NotHeld
                }
            }
            _ => Decision::NoFilter,
        };
        self.decisions.get_or_create(&decision.into()).inc();
        decision
    }

    /// Adds the locator's families to the gateway's metrics: usable filters and the
    /// decisions taken so far.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "locator_filters",
            "Nodes whose record-locator filter the gateway may use",
            self.usable_filters.clone(),
        );
        registry.register(
            "locator_decisions",
            "Per node and search: asked (filter says maybe), skipped (filter says not held) \
             or asked without a filter",
            self.decisions.clone(),
        );
    }

    /// Brings the usable-filter gauge up to date (before a scrape).
    pub fn export_metrics(&self) {
        self.usable_filters.set(self.usable() as i64);
    }

    /// Nodes whose filter the gateway holds (and may use).
    pub fn usable(&self) -> usize {
        let filters = self.filters.read().unwrap_or_else(|e| e.into_inner());
        filters
            .values()
            .filter(|h| h.fetched.elapsed() <= self.max_age)
            .count()
    }

    /// Takes a node's published filter, if it was made with this gateway's key.
    pub fn accept(&self, document: &schemas::LocatorFilterDocument) -> Result<(), &'static str> {
        if document.key_id != self.key.id() {
            return Err("made with another locator key");
        }
        if document.format != "blocked-bloom-512/v1" {
            return Err("in an unknown format");
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&document.filter)
            .map_err(|_| "not base64")?;
        let filter = LocatorFilter::from_bytes(&bytes).map_err(|_| "not a locator filter")?;
        let mut filters = self.filters.write().unwrap_or_else(|e| e.into_inner());
        filters.insert(
            document.agency.clone(),
            Held {
                filter,
                fetched: Instant::now(),
            },
        );
        Ok(())
    }

    /// Fetches every node's filter once, in parallel; forgets filters of nodes that left
    /// the directory. Returns how many filters were taken.
    pub async fn refresh(
        &self,
        directory: &DirectoryHandle,
        http: &Upstream,
        deadline: Duration,
    ) -> usize {
        let directory = directory.get();
        let nodes: Vec<_> = directory.nodes().collect();
        let answers = join_all(nodes.iter().map(|member| async {
            http.node(*member, "", deadline, None)
                .locator_filter()
                .await
        }))
        .await;
        let mut taken = 0;
        for (member, outcome) in nodes.iter().zip(answers) {
            match outcome.result {
                Ok(document) if document.agency == member.id => match self.accept(&document) {
                    Ok(()) => taken += 1,
                    Err(why) => {
                        tracing::warn!(node = %member.id, "locator filter not used: {why}")
                    }
                },
                Ok(document) => tracing::warn!(
                    node = %member.id,
                    published_by = %document.agency,
                    "locator filter not used: published for another node"
                ),
                Err(failure) => {
                    tracing::info!(node = %member.id, ?failure, "no locator filter from this node")
                }
            }
        }
        let present: Vec<AgencyId> = nodes.iter().map(|n| n.id.clone()).collect();
        self.filters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| present.contains(id));
        taken
    }

    /// Refreshes now and then every `every`, for as long as the gateway's state lives.
    ///
    /// The task holds the state weakly and watches `stopped` (closed when the state is
    /// dropped), so a stopped gateway's refresher ends with it instead of keeping the
    /// state alive and polling the nodes for the rest of the process.
    pub fn spawn_refresh(
        state: std::sync::Weak<crate::startup::AppState>,
        mut stopped: tokio::sync::watch::Receiver<()>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                {
                    let Some(state) = state.upgrade() else {
                        return;
                    };
                    let Some(locator) = state.locator.clone() else {
                        return;
                    };
                    let taken = locator
                        .refresh(&state.directory, &state.http, state.node_deadline)
                        .await;
                    tracing::info!(filters = taken, "record-locator filters refreshed");
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    // Nothing is ever sent: this resolves when the state is dropped.
                    _ = stopped.changed() => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::NaiveDate;

    fn document(
        key: &LocatorKey,
        agency: &str,
        tokens: &[Token],
    ) -> schemas::LocatorFilterDocument {
        let filter = LocatorFilter::build(tokens, 1e-6);
        schemas::LocatorFilterDocument {
            agency: AgencyId::parse(agency).unwrap(),
            format: "blocked-bloom-512/v1".into(),
            key_id: key.id().to_owned(),
            children: 1,
            tokens: filter.items(),
            expected_false_positive_rate: filter.expected_false_positive_rate(),
            built_at: chrono::Utc::now(),
            filter: base64::engine::general_purpose::STANDARD.encode(filter.to_bytes()),
        }
    }

    fn key() -> LocatorKey {
        LocatorKey::from_base64(&LocatorKey::generate().unwrap()).unwrap()
    }

    fn query(given: &str) -> ChildQuery {
        serde_json::from_value(serde_json::json!({"demographics": {
            "given_name": given, "family_name": "Okafor", "date_of_birth": "2014-03-09",
            "postcode": "ZZ1 4AB"}}))
        .unwrap()
    }

    fn held_tokens(key: &LocatorKey, given: &str) -> Vec<Token> {
        key.child_tokens(
            None,
            None,
            None,
            &BlockingInput {
                given_name: given,
                family_name: "Okafor",
                date_of_birth: NaiveDate::from_ymd_opt(2014, 3, 9).unwrap(),
                postcode: Some("ZZ1 4AB"),
                sex: None,
            },
        )
    }

    /// The gateway's own locator key in these tests.
    fn own_key() -> LocatorKey {
        LocatorKey::from_bytes(&[7; 32]).unwrap()
    }

    /// What the locator decides about asking `agency` for a child named `given`
    /// (otherwise as [`query`]).
    fn decide(locator: &Locator, agency: &str, given: &str) -> Decision {
        let agency = AgencyId::parse(agency).unwrap();
        locator.decide(&agency, &locator.query_tokens(&query(given)).unwrap())
    }

    #[test]
    fn a_filter_decides_and_a_node_without_one_is_asked() {
        let key = key();
        let locator = Locator::new(own_key(), Duration::from_secs(60));
        let own = own_key();
        locator
            .accept(&document(&own, "school-a", &held_tokens(&own, "Amelia")))
            .unwrap();
        assert_eq!(decide(&locator, "school-a", "Amelia"), Decision::Maybe);
        assert_eq!(decide(&locator, "school-a", "Zed"), Decision::NotHeld);
        assert_eq!(decide(&locator, "school-b", "Zed"), Decision::NoFilter);
        // A filter made with another key says nothing usable: refused, the node is asked.
        assert!(
            locator
                .accept(&document(&key, "school-b", &held_tokens(&key, "Amelia")))
                .is_err()
        );
        assert_eq!(decide(&locator, "school-b", "Zed"), Decision::NoFilter);
        let metrics = service::metrics::Metrics::new("gateway", |registry| {
            locator.register_metrics(registry)
        });
        locator.export_metrics();
        let metrics = metrics.encode();
        assert!(metrics.contains("locator_filters 1\n"), "{metrics}");
        assert!(
            metrics.contains("locator_decisions_total{decision=\"no_filter\"} 2\n"),
            "{metrics}"
        );
    }

    /// A partial search has no demographic key: no tokens at all, so every node is asked
    /// (none skipped because its filter lacks a key the search could not make).
    #[test]
    fn a_partial_search_is_not_located_and_every_node_is_asked() {
        let locator = Locator::new(own_key(), Duration::from_secs(60));
        for demographics in [
            serde_json::json!({"family_name": "Okafor", "postcode": "ZZ1 4AB"}),
            serde_json::json!({"given_name": "Amelia", "date_of_birth": "2014-03-09"}),
            serde_json::json!({"given_name": "Amelia", "family_name": "Okafor"}),
        ] {
            let query: ChildQuery = serde_json::from_value(serde_json::json!({
                "identifiers": {"upn": "U999123456789"}, "demographics": demographics}))
            .unwrap();
            assert_eq!(locator.query_tokens(&query), None, "{query:?}");
        }
        // A full search, or identifiers alone, is located as before.
        assert!(locator.query_tokens(&query("Amelia")).is_some());
        let by_upn: ChildQuery =
            serde_json::from_value(serde_json::json!({"identifiers": {"upn": "U999123456789"}}))
                .unwrap();
        assert_eq!(locator.query_tokens(&by_upn).map(|t| t.len()), Some(1));
    }

    #[test]
    fn a_stale_filter_is_not_used() {
        let own = own_key();
        let locator = Locator::new(own_key(), Duration::ZERO);
        locator
            .accept(&document(&own, "school-a", &held_tokens(&own, "Amelia")))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(decide(&locator, "school-a", "Zed"), Decision::NoFilter);
    }
}
