//! The *m* a node scores with, estimated from its own searches (`[matching.estimate_m]`).
//!
//! Each search hands over the comparison levels of the query against every child its
//! blocks read and compared (levels only: no value, no child id, no query). Every
//! `every_searches` searches, on a thread of its own, the node writes the pairs it has
//! gathered to its database (`match_pairs`, the newest `max_pairs` kept, shared by every
//! replica), reads the newest `max_pairs` back and re-estimates *m* from them by
//! expectation–maximisation ([`matching::em::estimate_m_by_sessions`]), *u* fixed. Later
//! searches are scored with the estimate; a field the pairs say too little about keeps
//! its configured *m*. At start a node estimates from the pairs already stored.
//! See `docs/matching.md`, "m by expectation–maximisation".

use crate::db::{self, DbPool};
use matching::MatchingSettings;
use matching::em::{EmOptions, PairLevels, SessionOutcome, estimate_m_by_sessions, pair_levels};
use matching::score::Comparison;
use matching::settings::Weights;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The levels of one search's compared pairs, at most `limit` of them, evenly spread
/// over the rows in the order they were read (narrow blocks first).
pub(super) fn note_pairs(
    compared: &[(String, Comparison)],
    limit: usize,
    into: &mut Vec<PairLevels>,
) {
    let n = compared.len();
    if n <= limit {
        into.extend(compared.iter().map(|(_, c)| pair_levels(c)));
    } else {
        into.extend((0..limit).map(|i| pair_levels(&compared[i * n / limit].1)));
    }
}

type Labels = [(&'static str, &'static str); 2];

/// The node's *m* in use and the pairs it estimates them from.
pub struct MEstimation {
    configured: MatchingSettings,
    in_use: RwLock<Arc<MatchingSettings>>,
    /// Where the pairs are shared; `None`: kept in memory only (`pairs`).
    pool: Option<DbPool>,
    /// The pairs (without a database), or those not yet written to it.
    pairs: Mutex<VecDeque<PairLevels>>,
    searches_since: AtomicU64,
    estimates: AtomicU64,
    running: AtomicBool,
    m_gauge: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pairs_gauge: Gauge,
    fields_gauge: Gauge,
}

/// One re-estimate: what it was made from and which fields moved off the configuration.
#[derive(Debug, Clone)]
pub struct Reestimated {
    pub pairs: usize,
    pub estimated: Vec<&'static str>,
    pub sessions: Vec<SessionOutcome>,
}

impl MEstimation {
    /// Pairs kept in memory only (tests; see [`with_database`](Self::with_database)).
    pub fn new(configured: MatchingSettings) -> Self {
        Self::build(configured, None)
    }

    /// Pairs shared in the node's database, and a first estimate from those already
    /// stored, made on a thread of its own.
    pub fn with_database(configured: MatchingSettings, pool: DbPool) -> Arc<Self> {
        let this = Arc::new(Self::build(configured, Some(pool)));
        if this.enabled() && !this.running.swap(true, Ordering::AcqRel) {
            this.spawn_reestimate();
        }
        this
    }

    fn build(configured: MatchingSettings, pool: Option<DbPool>) -> Self {
        let this = Self {
            in_use: RwLock::new(Arc::new(configured.clone())),
            pool,
            configured,
            pairs: Mutex::new(VecDeque::new()),
            searches_since: AtomicU64::new(0),
            estimates: AtomicU64::new(0),
            running: AtomicBool::new(false),
            m_gauge: Family::default(),
            pairs_gauge: Gauge::default(),
            fields_gauge: Gauge::default(),
        };
        this.show(&this.configured.weights, 0, 0);
        this
    }

    /// The settings searches are scored with: the configured ones with the estimated *m*.
    pub fn settings(&self) -> Arc<MatchingSettings> {
        match self.in_use.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The most pairs one search hands over.
    pub fn per_search(&self) -> usize {
        self.configured.estimate_m.max_pairs_per_search
    }

    pub fn enabled(&self) -> bool {
        self.configured.estimate_m.enabled
    }

    /// How many times *m* has been re-estimated since the node started.
    pub fn estimates(&self) -> u64 {
        self.estimates.load(Ordering::Relaxed)
    }

    /// Keeps one search's pairs and, when `every_searches` searches have added pairs
    /// since the last estimate, re-estimates on a thread of its own: the search that
    /// triggers it does not wait.
    pub fn record(self: &Arc<Self>, levels: Vec<PairLevels>) {
        if !self.enabled() || levels.is_empty() {
            return;
        }
        let max = self.configured.estimate_m.max_pairs;
        {
            let mut pairs = lock(&self.pairs);
            pairs.extend(levels);
            while pairs.len() > max {
                pairs.pop_front();
            }
        }
        let since = self.searches_since.fetch_add(1, Ordering::Relaxed) + 1;
        if since >= self.configured.estimate_m.every_searches
            && !self.running.swap(true, Ordering::AcqRel)
        {
            self.searches_since.store(0, Ordering::Relaxed);
            self.spawn_reestimate();
        }
    }

    /// Re-estimates on a thread of its own; `running` is set by the caller.
    fn spawn_reestimate(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("estimate-m".into())
            .spawn(move || {
                this.reestimate();
                this.running.store(false, Ordering::Release);
            });
        if let Err(why) = spawned {
            tracing::warn!(%why, "could not start estimating m; the m in use stay");
            self.running.store(false, Ordering::Release);
        }
    }

    /// The pairs to estimate from: those kept in memory, or, with a database, the newest
    /// stored once this node's new ones are written. `None`: the database failed.
    fn pairs_now(&self) -> Option<Vec<PairLevels>> {
        let Some(pool) = &self.pool else {
            return Some(lock(&self.pairs).iter().copied().collect());
        };
        let new: Vec<PairLevels> = lock(&self.pairs).drain(..).collect();
        let max = self.configured.estimate_m.max_pairs;
        let stored = pool.get().map_err(db::DbError::from).and_then(|mut conn| {
            if !new.is_empty() {
                db::write(&mut conn, |c| db::match_pairs::add(c, &new, max))?;
            }
            db::match_pairs::newest(&mut conn, max)
        });
        match stored {
            Ok(pairs) => Some(pairs),
            Err(why) => {
                tracing::warn!(%why, "reading or writing match pairs failed; the m in use stay");
                None
            }
        }
    }

    /// Re-estimates *m* from the pairs kept now and puts the estimate in use (tests call
    /// it directly; the node calls it from [`record`](Self::record)'s thread).
    pub fn reestimate(&self) -> Reestimated {
        let Some(pairs) = self.pairs_now() else {
            return Reestimated {
                pairs: 0,
                estimated: Vec::new(),
                sessions: Vec::new(),
            };
        };
        let (estimate, sessions) = estimate_m_by_sessions(
            &pairs,
            &self.configured.weights,
            &EmOptions {
                min_expected_matches: 20.0,
                ..EmOptions::default()
            },
        );
        let mut settings = self.configured.clone();
        settings.weights = estimate.weights;
        let settings = match settings.validate() {
            Ok(()) => settings,
            Err(why) => {
                tracing::warn!(%why, "estimated m refused; the configured m stay in use");
                self.configured.clone()
            }
        };
        let estimated = if settings == self.configured {
            Vec::new()
        } else {
            estimate.estimated
        };
        self.show(&settings.weights, pairs.len(), estimated.len());
        tracing::info!(
            pairs = pairs.len(),
            estimated = ?estimated,
            sessions = ?sessions,
            "m re-estimated from this node's searches; in use now:\n{}",
            weights_section(&settings.weights)
        );
        match self.in_use.write() {
            Ok(mut in_use) => *in_use = Arc::new(settings),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(settings),
        }
        self.estimates.fetch_add(1, Ordering::Relaxed);
        Reestimated {
            pairs: pairs.len(),
            estimated,
            sessions,
        }
    }

    /// Registers the gauges: `matching_m{field,level}` (the *m* in use),
    /// `matching_m_pairs` (the pairs the last estimate used) and
    /// `matching_m_fields_estimated` (how many fields are off their configured *m*).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "matching_m",
            "The m in use per field and agreement level: estimated from this node's \
             searches, or configured",
            self.m_gauge.clone(),
        );
        registry.register(
            "matching_m_pairs",
            "Compared pairs (levels only) the m in use were estimated from; 0: configured",
            self.pairs_gauge.clone(),
        );
        registry.register(
            "matching_m_fields_estimated",
            "Fields whose m in use were estimated from this node's searches (of 5)",
            self.fields_gauge.clone(),
        );
    }

    fn show(&self, w: &Weights, pairs: usize, fields: usize) {
        for (field, level, a) in w.agreeing_levels() {
            self.m_gauge
                .get_or_create(&[("field", field), ("level", level)])
                .set(a.m);
        }
        self.pairs_gauge
            .set(i64::try_from(pairs).unwrap_or(i64::MAX));
        self.fields_gauge
            .set(i64::try_from(fields).unwrap_or(i64::MAX));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The estimated levels as a `[matching.weights]` section an operator can review and
/// paste into the configuration (to keep them when estimation is off, say).
pub fn weights_section(w: &Weights) -> String {
    let mut out = String::new();
    let mut current = "";
    for (field, level, a) in w.agreeing_levels() {
        if field != current {
            out.push_str(&format!("[matching.weights.{field}]\n"));
            current = field;
        }
        out.push_str(&format!("{level} = {{ m = {:.4}, u = {} }}\n", a.m, a.u));
    }
    out
}
