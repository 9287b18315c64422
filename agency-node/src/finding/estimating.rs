//! The weights a node scores with: *u* estimated from its own children
//! (`[matching.estimate_u]`), *m* from its own searches (`[matching.estimate_m]`).
//!
//! *u*: at start, once writes of the node's agency systems have paused (a load by
//! `/v1/batch`, say), at the first search, and with the re-estimates of *m* whenever the
//! node's size has moved by `refresh_growth` since, on a thread of its own, the node
//! samples its complete children and counts the levels over pairs of them
//! ([`matching::estimate::estimate_u`]), adopting each level's upper bound, never more
//! than `max_lowering_bits` below the configured *u*. A node's first estimate is put in
//! use from a tenth of the pairs first, then from them all. Below `min_children`
//! complete children the configured *u* stay. See `docs/matching.md`, "u from the node's
//! own children".
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

/// A node's first estimate of *u* is made from `max_pairs / FIRST_SHARE` pairs first
/// ([`WeightEstimation::refresh_u`]).
pub const FIRST_SHARE: u64 = 10;

/// How long the agency systems' writes must pause before *u* is looked at again
/// ([`WeightEstimation::written`]).
pub const WRITES_PAUSE: std::time::Duration = std::time::Duration::from_millis(300);

/// The node's weights in use: the *u* it estimated from its children, the *m* from its
/// searches and the pairs it estimates them from.
pub struct WeightEstimation {
    configured: MatchingSettings,
    /// The configured settings with the *u* estimated from the node's children (the
    /// configured *u* until there is one); *m* is estimated on top of these.
    base: RwLock<Arc<MatchingSettings>>,
    in_use: RwLock<Arc<MatchingSettings>>,
    /// The node's size when *u* was last looked at (estimated, or too few children).
    u_checked_at: Mutex<Option<u64>>,
    searches: AtomicU64,
    /// Where the pairs are shared; `None`: kept in memory only (`pairs`).
    pool: Option<DbPool>,
    /// The pairs (without a database), or those not yet written to it.
    pairs: Mutex<VecDeque<PairLevels>>,
    searches_since: AtomicU64,
    estimates: AtomicU64,
    running: AtomicBool,
    /// Writes by the node's agency systems since it started (see
    /// [`written`](WeightEstimation::written)).
    writes: AtomicU64,
    /// Whether a thread waits for the writes to pause.
    awaiting_pause: AtomicBool,
    m_gauge: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    u_gauge: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pairs_gauge: Gauge,
    fields_gauge: Gauge,
    /// Complete children the *u* in use were estimated from; 0: configured.
    u_children_gauge: Gauge,
    /// Estimates of *u* adopted since the node started.
    u_estimates: AtomicU64,
    /// Pairs of children the *u* in use were counted over; 0: configured.
    u_pairs_gauge: Gauge,
}

/// One re-estimate: what it was made from and which fields moved off the configuration.
#[derive(Debug, Clone)]
pub struct Reestimated {
    pub pairs: usize,
    pub estimated: Vec<&'static str>,
    pub sessions: Vec<SessionOutcome>,
}

impl WeightEstimation {
    /// Pairs kept in memory only (tests; see [`with_database`](Self::with_database)).
    pub fn new(configured: MatchingSettings) -> Self {
        Self::build(configured, None)
    }

    /// Pairs shared in the node's database, and a first estimate of *u* from the
    /// node's children and of *m* from the pairs already stored, made on a thread of
    /// its own.
    pub fn with_database(configured: MatchingSettings, pool: DbPool) -> Arc<Self> {
        let this = Arc::new(Self::build(configured, Some(pool)));
        if (this.enabled() || this.u_enabled()) && !this.running.swap(true, Ordering::AcqRel) {
            this.spawn_reestimate();
        }
        this
    }

    fn build(configured: MatchingSettings, pool: Option<DbPool>) -> Self {
        let this = Self {
            base: RwLock::new(Arc::new(configured.clone())),
            in_use: RwLock::new(Arc::new(configured.clone())),
            u_checked_at: Mutex::new(None),
            searches: AtomicU64::new(0),
            pool,
            configured,
            pairs: Mutex::new(VecDeque::new()),
            searches_since: AtomicU64::new(0),
            estimates: AtomicU64::new(0),
            running: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            awaiting_pause: AtomicBool::new(false),
            m_gauge: Family::default(),
            u_gauge: Family::default(),
            pairs_gauge: Gauge::default(),
            fields_gauge: Gauge::default(),
            u_children_gauge: Gauge::default(),
            u_estimates: AtomicU64::new(0),
            u_pairs_gauge: Gauge::default(),
        };
        this.show(&this.configured.weights, 0, 0);
        this
    }

    /// Whether an estimate is running on its thread (tests wait for the first).
    #[cfg(test)]
    pub(crate) fn estimating(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The settings searches are scored with: the configured ones with the estimated
    /// *u* and *m*.
    pub fn settings(&self) -> Arc<MatchingSettings> {
        read(&self.in_use)
    }

    /// The configured settings with the estimated *u*, before any estimated *m*.
    fn base(&self) -> Arc<MatchingSettings> {
        read(&self.base)
    }

    /// Whether the node estimates its *u* (it needs its database to read its children).
    pub fn u_enabled(&self) -> bool {
        self.configured.estimate_u.enabled && self.pool.is_some()
    }

    /// How many complete children the *u* in use were estimated from; 0: configured.
    pub fn u_children(&self) -> u64 {
        u64::try_from(self.u_children_gauge.get()).unwrap_or(0)
    }

    /// The most pairs one search hands over.
    pub fn per_search(&self) -> usize {
        self.configured.estimate_m.max_pairs_per_search
    }

    pub fn enabled(&self) -> bool {
        self.configured.estimate_m.enabled
    }

    /// How many pairs of children the *u* in use were counted over; 0: configured.
    pub fn u_pairs(&self) -> u64 {
        u64::try_from(self.u_pairs_gauge.get()).unwrap_or(0)
    }

    /// How many estimates of *u* were adopted since the node started (a first estimate
    /// counts twice: the quick one and the full one).
    pub fn u_estimates(&self) -> u64 {
        self.u_estimates.load(Ordering::Relaxed)
    }

    /// How many times *m* has been re-estimated since the node started.
    pub fn estimates(&self) -> u64 {
        self.estimates.load(Ordering::Relaxed)
    }

    /// Keeps one search's pairs and, when `every_searches` searches have added pairs
    /// since the last estimate, re-estimates on a thread of its own: the search that
    /// triggers it does not wait.
    ///
    /// The first search since the node started also starts one, for *u*: a node
    /// loaded after it started (an onboarding batch) has its estimate from then on.
    pub fn record(self: &Arc<Self>, levels: Vec<PairLevels>) {
        let every = self.configured.estimate_m.every_searches;
        let searches = self.searches.fetch_add(1, Ordering::Relaxed) + 1;
        let mut m_due = false;
        if self.enabled() && !levels.is_empty() {
            let max = self.configured.estimate_m.max_pairs;
            {
                let mut pairs = lock(&self.pairs);
                pairs.extend(levels);
                while pairs.len() > max {
                    pairs.pop_front();
                }
            }
            m_due = self.searches_since.fetch_add(1, Ordering::Relaxed) + 1 >= every;
        }
        // *u* rides on m's re-estimates; with m's off, it is looked at as often.
        let u_due = self.u_enabled()
            && (searches == 1 || (!self.enabled() && searches.is_multiple_of(every)));
        if (m_due || u_due) && !self.running.swap(true, Ordering::AcqRel) {
            if m_due {
                self.searches_since.store(0, Ordering::Relaxed);
            }
            self.spawn_reestimate();
        }
    }

    /// The node's agency systems wrote (children, records, a batch, an import): once
    /// their writes have paused for [`WRITES_PAUSE`], *u* is estimated again if the
    /// node's size moved by `refresh_growth`, on a thread of its own, so that a node
    /// loaded by `/v1/batch` scores its first searches with its own *u* rather than
    /// the configured ones while an estimate started by the first search runs. A load's
    /// batches come back to back, so it is estimated once at its end, not at every
    /// tenth of its growth. The writer does not wait.
    pub fn written(self: &Arc<Self>) {
        if !self.u_enabled() {
            return;
        }
        self.writes.fetch_add(1, Ordering::AcqRel);
        if self.awaiting_pause.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("estimate-u-after-writes".into())
            .spawn(move || {
                let mut seen = this.writes.load(Ordering::Acquire);
                loop {
                    std::thread::sleep(WRITES_PAUSE);
                    let now = this.writes.load(Ordering::Acquire);
                    if now == seen {
                        break;
                    }
                    seen = now;
                }
                // Writes arriving from here on start another wait.
                this.awaiting_pause.store(false, Ordering::Release);
                // One estimate at a time: an estimate already running (a search's) may
                // have read the node before the last writes, so wait for it and look again.
                while this.running.swap(true, Ordering::AcqRel) {
                    std::thread::sleep(WRITES_PAUSE / 4);
                }
                if this.refresh_u() && this.enabled() {
                    this.reestimate();
                }
                this.running.store(false, Ordering::Release);
            });
        if let Err(why) = spawned {
            tracing::warn!(%why, "could not start waiting to estimate u; the weights in use stay");
            self.awaiting_pause.store(false, Ordering::Release);
        }
    }

    /// Re-estimates on a thread of its own; `running` is set by the caller.
    fn spawn_reestimate(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("estimate-weights".into())
            .spawn(move || {
                this.refresh_u();
                if this.enabled() {
                    this.reestimate();
                }
                this.running.store(false, Ordering::Release);
            });
        if let Err(why) = spawned {
            tracing::warn!(%why, "could not start estimating weights; the weights in use stay");
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
        let base = self.base();
        let (estimate, sessions) = estimate_m_by_sessions(
            &pairs,
            &base.weights,
            &EmOptions {
                min_expected_matches: 20.0,
                ..EmOptions::default()
            },
        );
        let mut settings = (*base).clone();
        settings.weights = estimate.weights;
        let settings = match settings.validate() {
            Ok(()) => settings,
            Err(why) => {
                tracing::warn!(%why, "estimated m refused; the configured m stay in use");
                (*base).clone()
            }
        };
        let estimated = if settings == *base {
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
        write(&self.in_use, Arc::new(settings));
        self.estimates.fetch_add(1, Ordering::Relaxed);
        Reestimated {
            pairs: pairs.len(),
            estimated,
            sessions,
        }
    }

    /// Estimates *u* again when it is due: none yet, or the node's size moved by
    /// `refresh_growth` since it was last looked at. Puts the estimate in the base the
    /// *m* are estimated on and in use at once, with the configured *m* until they are
    /// re-estimated on it; `true` when the base changed.
    ///
    /// A node's first estimate is made twice from one sample: from a tenth of
    /// `max_pairs` first ([`FIRST_SHARE`]), put in use at once, then from them all, so
    /// that a node just loaded and searched at once scores with its own *u* after a
    /// tenth of the wait. Counted from fewer pairs, each level's adopted upper bound is
    /// higher on average, so on average the quick estimate weighs agreement less than the
    /// full one; like it, it weighs no agreement more than `max_lowering_bits` above the
    /// configured weight.
    pub fn refresh_u(&self) -> bool {
        let options = &self.configured.estimate_u;
        let Some(pool) = self.pool.as_ref().filter(|_| self.u_enabled()) else {
            return false;
        };
        let started = std::time::Instant::now();
        let sampled = pool.get().map_err(db::DbError::from).and_then(|mut conn| {
            let size = db::children::estimated_count(&mut conn)?;
            // Marked before the sample is read, so that searches arriving meanwhile do
            // not start the same estimate again; put back when reading fails, so that
            // the next search retries rather than waiting for the node to grow.
            let previous = {
                let mut checked = lock(&self.u_checked_at);
                if !u_due(*checked, size, options.refresh_growth) {
                    return Ok(None);
                }
                checked.replace(size)
            };
            db::children::sample(&mut conn, options.sample)
                .map(Some)
                .inspect_err(|_| {
                    let mut checked = lock(&self.u_checked_at);
                    if *checked == Some(size) {
                        *checked = previous;
                    }
                })
        });
        let sample = match sampled {
            Ok(Some(sample)) => sample,
            Ok(None) => return false,
            Err(why) => {
                tracing::warn!(%why, "reading children to estimate u failed; the u in use stay");
                return false;
            }
        };
        let quick = options.max_pairs / FIRST_SHARE;
        let mut changed = false;
        if self.u_children() == 0 && quick > 0 {
            let first = u_from_sample(&sample, &self.configured, quick);
            // Every pair counted already: that is the full estimate.
            let exhaustive = matches!(&first, OwnU::Adopted(a) if a.0.exhaustive);
            changed = self.adopt_u(first, started);
            if exhaustive {
                return changed;
            }
        }
        self.adopt_u(
            u_from_sample(&sample, &self.configured, options.max_pairs),
            started,
        ) || changed
    }

    /// Puts an estimate of *u* in the base and in use; `true` when it was adopted.
    fn adopt_u(&self, outcome: OwnU, started: std::time::Instant) -> bool {
        let (estimate, settings) = match outcome {
            OwnU::Adopted(adopted) => *adopted,
            OwnU::TooFew(_) => return false,
            OwnU::Refused(why) => {
                tracing::warn!(%why, "estimated u refused; the u in use stay");
                return false;
            }
        };
        tracing::info!(
            children = estimate.children,
            pairs = estimate.tally.pairs,
            ms = started.elapsed().as_millis() as u64,
            "u estimated from this node's children; adopted:\n{}",
            matching::estimate::report(&estimate, &self.configured)
        );
        self.u_children_gauge
            .set(i64::try_from(estimate.children).unwrap_or(i64::MAX));
        self.u_pairs_gauge
            .set(i64::try_from(estimate.tally.pairs).unwrap_or(i64::MAX));
        self.u_estimates.fetch_add(1, Ordering::Relaxed);
        let base = Arc::new(settings);
        write(&self.base, base.clone());
        self.show(&base.weights, 0, 0);
        write(&self.in_use, base);
        true
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
            "matching_u",
            "The u in use per field and agreement level: estimated from this node's \
             children, or configured",
            self.u_gauge.clone(),
        );
        registry.register(
            "matching_u_children",
            "Complete children the u in use were estimated from; 0: configured",
            self.u_children_gauge.clone(),
        );
        registry.register(
            "matching_u_pairs",
            "Pairs of children the u in use were counted over; 0: configured",
            self.u_pairs_gauge.clone(),
        );
        registry.register(
            "matching_m_pairs",
            "Compared pairs (levels only) the m in use were estimated from; 0: configured",
            self.pairs_gauge.clone(),
        );
        registry.register(
            "matching_m_fields_estimated",
            "Fields whose m in use were estimated from this node's searches (of 6: the \
             five fields and the share of names recorded the other way round)",
            self.fields_gauge.clone(),
        );
    }

    fn show(&self, w: &Weights, pairs: usize, fields: usize) {
        for (field, level, a) in w.agreeing_levels() {
            self.m_gauge
                .get_or_create(&[("field", field), ("level", level)])
                .set(a.m);
            self.u_gauge
                .get_or_create(&[("field", field), ("level", level)])
                .set(a.u);
        }
        self.m_gauge
            .get_or_create(&[("field", "names"), ("level", "transposed")])
            .set(w.transposed_names);
        self.pairs_gauge
            .set(i64::try_from(pairs).unwrap_or(i64::MAX));
        self.fields_gauge
            .set(i64::try_from(fields).unwrap_or(i64::MAX));
    }
}

/// What a node makes of its own children for its *u* (`[matching.estimate_u]`).
pub enum OwnU {
    /// Fewer complete children than `min_children` (this many): the configured *u* stay.
    TooFew(usize),
    /// The estimate, and `configured` with its adopted *u*, accepted by the checks.
    Adopted(Box<(matching::estimate::Estimate, MatchingSettings)>),
    /// The adopted *u* the settings' own checks refuse, and why.
    Refused(String),
}

/// Samples the node's complete children and estimates the *u* it adopts, as
/// `configured`'s `[matching.estimate_u]` says: what a node does when its *u* are due,
/// and what `federation bench matching` does for each agency.
pub fn own_u(
    conn: &mut db::DbConnection,
    configured: &MatchingSettings,
) -> Result<OwnU, db::DbError> {
    let options = &configured.estimate_u;
    let sample = db::children::sample(conn, options.sample)?;
    Ok(u_from_sample(&sample, configured, options.max_pairs))
}

/// The *u* adopted from a sample of the node's complete children, counted over at most
/// `max_pairs` of its pairs.
fn u_from_sample(
    sample: &[matching::estimate::Sampled],
    configured: &MatchingSettings,
    max_pairs: u64,
) -> OwnU {
    let options = &configured.estimate_u;
    let estimate = (sample.len() >= options.min_children)
        .then(|| {
            matching::estimate::estimate_u(
                sample,
                max_pairs,
                // The pairs' seed: the sample is already random (drawn by the database).
                sample.len() as u64,
                configured,
            )
        })
        .flatten();
    let Some(estimate) = estimate else {
        return OwnU::TooFew(sample.len());
    };
    let mut settings = configured.clone();
    settings.weights = estimate.adopted.clone();
    match settings.validate() {
        Ok(()) => OwnU::Adopted(Box::new((estimate, settings))),
        Err(why) => OwnU::Refused(why),
    }
}

/// Whether *u* is due at a node of `size` children: never looked at yet, or the size
/// moved by `growth` (a share) since it was looked at, at `last`.
pub(super) fn u_due(last: Option<u64>, size: u64, growth: f64) -> bool {
    last.is_none_or(|last| (size as f64 - last as f64).abs() >= growth * last.max(1) as f64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read(settings: &RwLock<Arc<MatchingSettings>>) -> Arc<MatchingSettings> {
    match settings.read() {
        Ok(s) => s.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write(settings: &RwLock<Arc<MatchingSettings>>, to: Arc<MatchingSettings>) {
    match settings.write() {
        Ok(mut s) => *s = to,
        Err(poisoned) => *poisoned.into_inner() = to,
    }
}

/// The estimated levels as a `[matching.weights]` section an operator can review and
/// paste into the configuration (to keep them when estimation is off, say).
pub fn weights_section(w: &Weights) -> String {
    let mut out = format!(
        "[matching.weights]\ntransposed_names = {:.4}\n",
        w.transposed_names
    );
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
