//! Finding a child in this node's own records (plain mode).
//!
//! 1. Identifiers first: a UPN or NHS number that agrees is `certain`, unless the
//!    demographics flatly contradict it (then that child is not linked).
//! 2. Otherwise demographics, scored Fellegi–Sunter style over candidates read from
//!    indexed blocking keys (see [`keys`]), graded by configurable thresholds.
//! 3. Never a silent merge: two candidates close in score are `ambiguous`, `possible`
//!    candidates are reported without a reference, and a child who differs from the
//!    searched-for one only by given name (a twin) is never linked.
//!
//! A wrong link would show a practitioner another child's history, so every doubt
//! resolves to "not linked". The rules, weights and thresholds are in `docs/matching.md`.

pub mod estimate;
pub mod given_names;
pub mod keyed;
pub mod keys;
pub mod nicknames;
pub mod normalise;
pub mod phonetic;
pub mod score;
pub mod settings;
pub mod similarity;

pub use keyed::MatchingKey;
pub use keys::{BlockingKeys, MATCH_KEYS_VERSION, StoredKeys, blocking_keys, stored_keys};
pub use settings::{MatchingMode, MatchingSettings};

use crate::db::DbConnection;
use crate::db::{self, DbError, models::CandidateRow, models::ChildRow};
use schemas::{ChildQuery, MatchCandidate, MatchGrade, MatchOutcome, MatchResponse, Sex};
use score::{Comparison, Person};

/// Most unlinked candidates reported in one answer.
const MAX_REPORTED_CANDIDATES: usize = 5;

/// Finds the child with the default settings.
pub fn find(conn: &mut DbConnection, query: &ChildQuery) -> Result<MatchResponse, DbError> {
    find_with(conn, query, &MatchingSettings::default())
}

/// Finds the child with the node's `[matching]` settings.
pub fn find_with(
    conn: &mut DbConnection,
    query: &ChildQuery,
    settings: &MatchingSettings,
) -> Result<MatchResponse, DbError> {
    find_reading(conn, query, settings, true)
}

/// [`find_with`]; `settle_early`: leave the broad blocks unread when the narrow ones
/// settle the answer (see [`settled_without_broad_blocks`]). Tests compare both ways.
fn find_reading(
    conn: &mut DbConnection,
    query: &ChildQuery,
    settings: &MatchingSettings,
    settle_early: bool,
) -> Result<MatchResponse, DbError> {
    find_reading_pruned(conn, query, settings, settle_early, true)
}

/// [`find_reading`]; `prune`: leave a broad-block row out before its names are compared
/// when it could not reach `possible` whatever they are (see [`Hopeless`]). Tests compare
/// both ways.
fn find_reading_pruned(
    conn: &mut DbConnection,
    query: &ChildQuery,
    settings: &MatchingSettings,
    settle_early: bool,
    prune: bool,
) -> Result<MatchResponse, DbError> {
    let by_identifier = identifier_matches(conn, query)?;
    let asked = asked_of(query);
    let found: Vec<ByIdentifier> = by_identifier
        .iter()
        .map(|(child, fields)| ByIdentifier {
            id: child.id.clone(),
            fields: fields.clone(),
            comparison: asked.as_ref().map(|asked| compare(asked, child, settings)),
            conflicting: conflicting_identifier(query, child),
        })
        .collect();
    let rejected = match settle_by_identifier(&found) {
        Ok(answer) => return Ok(answer),
        Err(rejected) => rejected,
    };

    let (Some(demographics), Some(asked)) = (&query.demographics, &asked) else {
        return Ok(not_held());
    };
    let keys = blocking_keys(demographics);
    let children = db::children::estimated_count(conn)?;
    // The narrow blocks first; a child found by identifier but not linked (a conflicting
    // identifier) is scored like any other; one the demographics contradict is not.
    let (mut rows, complete) = db::children::match_candidates(
        conn,
        &keys,
        settings.max_candidates_per_block,
        db::children::Tier::Narrow,
        &Default::default(),
    )?;
    for (child, _) in by_identifier {
        if !rows.iter().any(|r| r.id == child.id) {
            rows.push(child);
        }
    }
    let mut compared = score_rows(conn, asked, settings, children, &rejected, rows, None)?;
    let mut weights = query_name_weights(conn, demographics, settings, children, &compared)?;
    if settle_early && complete {
        let settled = |w: &QueryWeights| {
            settled_without_broad_blocks(&compared, query, settings, children, w)
        };
        if settled(&weights) {
            return Ok(decide(compared, settings, children));
        }
        // Only the bound on a family-name typo stands in the way: read what a typo of
        // this query's family name weighs here (one read of its one-keystroke variants).
        let no_typo = QueryWeights {
            typo: Some(f64::NEG_INFINITY),
            ..weights
        };
        if weights.typo.is_none() && settled(&no_typo) {
            weights.typo = Some(query_typo_weight(conn, demographics, settings, children)?);
            if settled(&weights) {
                return Ok(decide(compared, settings, children));
            }
        }
    }
    #[cfg(test)]
    BROAD_READS.with(|n| n.set(n.get() + 1));
    let read: std::collections::HashSet<String> =
        compared.iter().map(|(id, _)| id.clone()).collect();
    // The broad blocks' rows are scored as they are read: most are left out, and freeing
    // each before the next is read keeps the allocator's work small.
    let mut hopeless = Hopeless::new(settings, children, weights);
    let mut broad = RowScorer::new(asked, settings, &rejected, prune.then_some(&mut hopeless));
    db::children::each_match_candidate(
        conn,
        &keys,
        settings.max_candidates_per_block,
        db::children::Tier::Broad,
        &read,
        |row| {
            broad.add(row);
            Ok(())
        },
    )?;
    compared.extend(broad.finish(conn, children)?);
    Ok(decide(compared, settings, children))
}

#[cfg(test)]
thread_local! {
    /// Searches on this thread that read the broad blocks (tests of settling early).
    static BROAD_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Compares the query with each row not `rejected`, with the frequency-based weights of
/// exact name agreement when they are on. With `hopeless`, rows that could not count in
/// [`decide`] whatever their names are left out uncompared.
fn score_rows(
    conn: &mut DbConnection,
    asked: &score::Asked<'_>,
    settings: &MatchingSettings,
    children: u64,
    rejected: &[String],
    rows: Vec<CandidateRow>,
    hopeless: Option<&mut Hopeless>,
) -> Result<Vec<(String, Comparison)>, DbError> {
    let mut scorer = RowScorer::new(asked, settings, rejected, hopeless);
    for child in rows {
        scorer.add(child);
    }
    scorer.finish(conn, children)
}

/// [`score_rows`] one row at a time, as rows are read.
struct RowScorer<'a, 'q> {
    asked: &'a score::Asked<'q>,
    settings: &'a MatchingSettings,
    rejected: &'a [String],
    hopeless: Option<&'a mut Hopeless>,
    compared: Vec<(String, Comparison)>,
    /// The plain given and family name of each of `compared`.
    names: Vec<(String, String)>,
}

impl<'a, 'q> RowScorer<'a, 'q> {
    fn new(
        asked: &'a score::Asked<'q>,
        settings: &'a MatchingSettings,
        rejected: &'a [String],
        hopeless: Option<&'a mut Hopeless>,
    ) -> Self {
        Self {
            asked,
            settings,
            rejected,
            hopeless,
            compared: Vec::new(),
            names: Vec::new(),
        }
    }

    fn add(&mut self, child: CandidateRow) {
        if self.rejected.contains(&child.id) {
            return;
        }
        if let Some(h) = self.hopeless.as_deref_mut()
            && h.cannot_count(self.asked, &child, self.settings)
        {
            return;
        }
        let comparison = compare(self.asked, &child, self.settings);
        self.compared.push((child.id, comparison));
        self.names.push((child.given_name, child.family_name));
    }

    fn finish(
        mut self,
        conn: &mut DbConnection,
        children: u64,
    ) -> Result<Vec<(String, Comparison)>, DbError> {
        weigh_by_name_counts(
            conn,
            self.settings,
            children,
            &mut self.compared,
            &self.names,
        )?;
        Ok(self.compared)
    }
}

/// Which broad-block rows cannot change an answer whatever their names, told before the
/// names are compared (the costly part of a comparison; a drifted search at 1,000,000
/// children reads about 600 such rows).
///
/// [`decide`] drops a candidate below `possible` at this node's size, and counts only
/// candidates towards the children who share the family name and date of birth (the
/// typo rule). So a row can be left out when its best possible score, every name at its
/// best level, is below `possible`.
/// The best score is [`Comparison::score`] itself, over every name level, with the
/// row's own date of birth, postcode, sex and identifiers, and an exact name weighing
/// what the query's own name weighs at this node (a child agreeing exactly carries it:
/// see [`query_name_weights`]). First with any family name; when that does not settle
/// it, with the row's own family name, compared.
///
/// Only for the broad blocks: the narrow ones' rows below `possible` count in
/// [`settled_without_broad_blocks`] (the runner-up), and they are few.
struct Hopeless {
    threshold: f64,
    /// The most each name level can weigh for this query here.
    weights: QueryWeights,
    /// [`QueryWeights::typo_bound`].
    typo_bound: f64,
    /// Best scores already worked out, by the row's other fields' levels and family
    /// level (`None`: any).
    best: Vec<(Comparison, Option<score::FamilyLevel>, f64)>,
    /// Rows left out (for tests).
    left_out: usize,
}

impl Hopeless {
    fn new(settings: &MatchingSettings, children: u64, weights: QueryWeights) -> Self {
        Self {
            // `grade_at` grades `score - raise >= possible`; a best score below this by
            // more than rounding cannot.
            threshold: settings.thresholds.possible + settings.thresholds.raise_for(children)
                - 1e-9,
            typo_bound: weights.typo_bound(settings),
            weights,
            best: Vec::new(),
            left_out: 0,
        }
    }

    /// Whether `child` cannot count in [`decide`] (then it is counted as left out).
    fn cannot_count(
        &mut self,
        asked: &score::Asked<'_>,
        child: &CandidateRow,
        settings: &MatchingSettings,
    ) -> bool {
        use score::{FamilyLevel, GivenLevel};
        let d = asked.person();
        // The row's fields but the names, as `score::compare` finds them.
        let differs =
            |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if a != b);
        let known = |s: Option<Sex>| s.filter(|s| *s != Sex::Unknown);
        let others = Comparison {
            given_name: score::GivenLevel::Exact,
            family_name: FamilyLevel::Exact,
            date_of_birth: score::compare_dob(d.date_of_birth, child.date_of_birth),
            postcode: asked.compare_postcode(child.postcode.as_deref()),
            sex_agrees: match (
                known(d.sex),
                known(child.sex.as_deref().and_then(sex_from_str)),
            ) {
                (Some(a), Some(b)) => Some(a == b),
                _ => None,
            },
            upn_differs: differs(d.upn, child.upn.as_deref()),
            nhs_number_differs: differs(d.nhs_number, child.nhs_number.as_deref()),
            name_weights: score::NameWeights {
                given_exact: Some(self.weights.given),
                family_exact: Some(self.weights.family),
                family_part: Some(self.weights.part),
                family_typo: Some(self.typo_bound),
            },
            given_slip: None,
            family_part: None,
            family_typo: None,
        };
        if self.best(&others, None, settings) < self.threshold {
            self.left_out += 1;
            return true;
        }
        let mut family = asked.compare_family(&child.family_name, settings.similar_at);
        // A family name one keystroke off may still count as a typo when the given name
        // agrees (`score::compare` decides that after the given name): bound it so.
        if matches!(family, FamilyLevel::Similar | FamilyLevel::Disagree)
            && score::family_typo_possible(GivenLevel::Exact, family, others.date_of_birth)
            && score::is_family_typo(
                &asked.family_normal().joined,
                &normalise::NormalName::new(&child.family_name).joined,
            )
        {
            family = FamilyLevel::Typo;
        }
        if self.best(&others, Some(family), settings) < self.threshold {
            self.left_out += 1;
            return true;
        }
        false
    }

    /// The best score of a row whose other fields compare as in `others`, over every
    /// given-name level and every family-name level (or `family`).
    fn best(
        &mut self,
        others: &Comparison,
        family: Option<score::FamilyLevel>,
        settings: &MatchingSettings,
    ) -> f64 {
        use score::{FamilyLevel, GivenLevel};
        if let Some((_, _, best)) = self
            .best
            .iter()
            .find(|(c, f, _)| c == others && *f == family)
        {
            return *best;
        }
        let families = match family {
            Some(f) => vec![f],
            None => vec![
                FamilyLevel::Exact,
                FamilyLevel::Part,
                FamilyLevel::Typo,
                FamilyLevel::Similar,
                FamilyLevel::Disagree,
            ],
        };
        let mut best = f64::NEG_INFINITY;
        for given_name in [
            GivenLevel::Exact,
            GivenLevel::Alias,
            GivenLevel::Typo,
            GivenLevel::Similar,
            GivenLevel::Disagree,
        ] {
            for family_name in &families {
                let c = Comparison {
                    given_name,
                    family_name: *family_name,
                    ..others.clone()
                };
                best = best.max(c.score(settings));
            }
        }
        self.best.push((others.clone(), family, best));
        best
    }
}

/// The most each name level can weigh for this query at this node, for the bounds that
/// leave rows uncompared ([`Hopeless`]) and searches settled on the narrow blocks
/// ([`settled_without_broad_blocks`]). Every weight is the one a candidate would get from
/// [`weigh_by_name_counts`] (the same counts, the same formula), or above it.
#[derive(Debug, Clone, Copy)]
struct QueryWeights {
    /// Exact agreement on the query's given and family name: a child agreeing exactly
    /// carries the query's name, so this is the weight it would get.
    given: f64,
    family: f64,
    /// The most a `part` agreement can weigh: over the query's own forms (its whole name
    /// and its parts), each priced by the children carrying it as
    /// [`weigh_by_name_counts`] does; minus infinity when no child here could agree so.
    part: f64,
    /// What a `typo` agreement weighs (one weight for every candidate: it depends on the
    /// query's name only), once read ([`query_typo_weight`]); `None`: not read, bound by
    /// the level's configured weight (see [`family_typo_weight`]).
    typo: Option<f64>,
}

impl QueryWeights {
    fn typo_bound(&self, settings: &MatchingSettings) -> f64 {
        self.typo
            .unwrap_or_else(|| settings.weights.family_name.typo.weight())
    }
}

/// [`QueryWeights`] for this query: the counts are read only for a name no candidate
/// already carries the weight of, and for the query's family-name forms.
fn query_name_weights(
    conn: &mut DbConnection,
    demographics: &schemas::Demographics,
    settings: &MatchingSettings,
    children: u64,
    compared: &[(String, Comparison)],
) -> Result<QueryWeights, DbError> {
    use db::name_counts::{NameKind, count_key, counts, family_parts};
    let w = &settings.weights;
    if !w.frequency_based {
        return Ok(QueryWeights {
            given: w.given_name.exact.weight(),
            family: w.family_name.exact.weight(),
            part: w.family_name.part.weight(),
            typo: Some(w.family_name.typo.weight()),
        });
    }
    let mut one =
        |kind, raw: &str, level: settings::Agreement, known: Option<f64>| -> Result<f64, DbError> {
            if let Some(weight) = known {
                return Ok(weight);
            }
            let key = count_key(raw);
            if key.is_empty() {
                return Ok(level.weight());
            }
            let count = counts(conn, kind, std::slice::from_ref(&key))?
                .get(&key)
                .copied()
                .unwrap_or(0)
                .max(1) as u64;
            Ok(w.frequency.exact_weight(level, count, children))
        };
    let given = one(
        NameKind::Given,
        &demographics.given_name,
        w.given_name.exact,
        compared
            .iter()
            .find_map(|(_, c)| c.name_weights.given_exact),
    )?;
    let family = one(
        NameKind::Family,
        &demographics.family_name,
        w.family_name.exact,
        compared
            .iter()
            .find_map(|(_, c)| c.name_weights.family_exact),
    )?;
    // A `part` agreement agrees on one of the query's forms: with a single-part query,
    // its name, carried as a part; with a double-barrelled one, either part (or the whole
    // name), carried as a part or as a whole name (see [`score::PartAgreed`]).
    let whole = count_key(&demographics.family_name);
    let parts = family_parts(&demographics.family_name);
    let forms: Vec<String> = std::iter::once(whole)
        .chain(parts.iter().cloned())
        .collect();
    let as_part = counts(conn, NameKind::FamilyPart, &forms)?;
    let as_whole = if parts.is_empty() {
        Default::default()
    } else {
        counts(conn, NameKind::Family, &forms)?
    };
    let part = forms
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| as_part.get(f).copied().unwrap_or(0) + as_whole.get(f).copied().unwrap_or(0))
        .filter(|carriers| *carriers >= 1)
        .map(|carriers| family_part_weight(settings, other_carriers(carriers), children))
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(QueryWeights {
        given,
        family,
        part,
        typo: None,
    })
}

/// What a `typo` agreement with the query's family name weighs at this node, as
/// [`weigh_by_name_counts`] prices it: by the children carrying a family name one
/// keystroke from the query's (four letters or more); minus infinity when there are none
/// (no child here could agree so).
fn query_typo_weight(
    conn: &mut DbConnection,
    demographics: &schemas::Demographics,
    settings: &MatchingSettings,
    children: u64,
) -> Result<f64, DbError> {
    let w = &settings.weights;
    if !w.frequency_based {
        return Ok(w.family_name.typo.weight());
    }
    let asked = db::name_counts::count_key(&demographics.family_name);
    if asked.chars().count() < score::FAMILY_TYPO_MIN_LEN {
        return Ok(f64::NEG_INFINITY);
    }
    match typo_carriers(conn, &asked)? {
        0 => Ok(f64::NEG_INFINITY),
        carriers => Ok(family_typo_weight(
            settings,
            other_carriers(carriers as i64),
            children,
        )),
    }
}

/// What a family-name `typo` agreement weighs when `others` children here besides the
/// held one carry a name one keystroke from the query's. The counts may lower the
/// level's configured weight (a name among many real neighbours: `Hill`, `Hall`,
/// `Hills`), never raise it: a typo of a name with no neighbour here is priced as
/// configured, so the bounds of pruning and settling early stay those of the level.
fn family_typo_weight(settings: &MatchingSettings, others: u64, children: u64) -> f64 {
    let w = &settings.weights;
    let level = w.family_name.typo;
    level
        .weight()
        .min(w.frequency.exact_weight(level, others, children))
}

/// What a family-name `part` agreement weighs when `others` children here besides the
/// held one carry the agreeing part (see [`score::PartAgreed`]).
fn family_part_weight(settings: &MatchingSettings, others: u64, children: u64) -> f64 {
    let w = &settings.weights;
    w.frequency
        .exact_weight(w.family_name.part, others, children)
}

/// The `part` and `typo` levels count the *other* children that would agree so with the
/// query: the held child is always one of the `carriers` counted, and counting it would
/// put such a level below its configured weight at a small node (`part` at 20 children:
/// 4.4 bits instead of 5.3), where the counts are meant to say little.
fn other_carriers(carriers: i64) -> u64 {
    carriers.saturating_sub(1).max(0) as u64
}

/// How many children here carry a family name one keystroke from `asked` (a counted
/// form) and long enough to be a typo of it.
fn typo_carriers(conn: &mut DbConnection, asked: &str) -> Result<u64, DbError> {
    let near: Vec<String> = self::given_names::one_edit_variants(asked)
        .into_iter()
        .filter(|v| v.chars().count() >= score::FAMILY_TYPO_MIN_LEN)
        .collect();
    let counts = db::name_counts::counts(conn, db::name_counts::NameKind::Family, &near)?;
    Ok(counts.values().sum::<i64>().max(0) as u64)
}

/// Whether the broad blocks can be left unread: the narrow ones (complete) already link
/// one child, and no child outside them could change that answer.
///
/// A child outside the narrow blocks has a family name whose phonetic code differs
/// from the searched-for one's (so it agrees at most as `typo`: an exact name has the
/// same code, and so does one part of a double-barrelled name when it is the first or
/// last part), or a date of birth that is neither the same, swapped nor one digit off
/// (so at most `same_month`). Its score is then at most [`outside_narrow_bound`]; when
/// the linked child leads that by the ambiguity margin, no such child could be a close
/// second or lead. A typo of the given name is never settled this way: another child of
/// the same family name and date of birth (which a `similar` family name outside the
/// narrow blocks can be) would cap it at `possible`.
///
/// One case is left out of the bound: a stored family name of three or more parts
/// whose middle part alone is the searched-for name (`part`, with another phonetic
/// code) and the same date of birth.
fn settled_without_broad_blocks(
    compared: &[(String, Comparison)],
    query: &ChildQuery,
    settings: &MatchingSettings,
    children: u64,
    weights: &QueryWeights,
) -> bool {
    let Some((_, best)) = compared
        .iter()
        .max_by(|a, b| a.1.score(settings).total_cmp(&b.1.score(settings)))
    else {
        return false;
    };
    if best.given_name == score::GivenLevel::Typo || best.could_be_a_sibling() {
        return false;
    }
    // A slip counts as a typo only when no other child shares the family name and date
    // of birth, which the broad blocks may hold.
    if compared.iter().any(|(_, c)| c.given_slip.is_some()) {
        return false;
    }
    let best_score = best.score(settings);
    if !matches!(
        score::grade_at(best_score, settings, children),
        Some(MatchGrade::Probable | MatchGrade::Certain)
    ) {
        return false;
    }
    let second = compared
        .iter()
        .map(|(_, c)| c.score(settings))
        .filter(|s| *s < best_score)
        .fold(f64::NEG_INFINITY, f64::max);
    let ties = compared
        .iter()
        .filter(|(_, c)| c.score(settings) >= best_score)
        .count();
    ties == 1
        && best_score - second >= settings.ambiguity_margin
        && best_score - outside_narrow_bound(query, settings, weights) >= settings.ambiguity_margin
}

/// The highest score a child outside the narrow blocks can reach against `query` (see
/// [`settled_without_broad_blocks`]): every field at its best level, but the family
/// name at most `similar` or the date of birth at most `same_month`.
fn outside_narrow_bound(
    query: &ChildQuery,
    settings: &MatchingSettings,
    weights: &QueryWeights,
) -> f64 {
    use settings::disagreement_weight as disagree;
    let w = &settings.weights;
    let best = |levels: &[f64]| levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let g = &w.given_name;
    let given = best(&[
        weights.given,
        g.alias.weight(),
        g.typo.weight(),
        g.similar.weight(),
        disagree(&[g.exact, g.alias, g.typo, g.similar]),
    ]);
    let f = &w.family_name;
    let family_disagree = disagree(&[f.exact, f.part, f.typo, f.similar]);
    let family_any = best(&[
        weights.family,
        weights.part,
        weights.typo_bound(settings),
        f.similar.weight(),
        family_disagree,
    ]);
    // A typo may change the phonetic code (`Barker`/`Baqker`).
    let family_other_code = best(&[
        weights.typo_bound(settings),
        f.similar.weight(),
        family_disagree,
    ]);
    let d = &w.date_of_birth;
    let dob_disagree = disagree(&[d.exact, d.day_month_swapped, d.one_digit, d.same_month]);
    let dob_any = best(&[
        d.exact.weight(),
        d.day_month_swapped.weight(),
        d.one_digit.weight(),
        d.same_month.weight(),
        dob_disagree,
    ]);
    let dob_far = best(&[d.same_month.weight(), dob_disagree]);
    let demographics = query.demographics.as_ref();
    // A field either side lacks scores nothing.
    let p = &w.postcode;
    let postcode = if demographics.and_then(|d| d.postcode.as_ref()).is_some() {
        best(&[
            0.0,
            p.full.weight(),
            p.sector.weight(),
            p.district.weight(),
            disagree(&[p.full, p.sector, p.district]),
        ])
    } else {
        0.0
    };
    let sex = if demographics.and_then(|d| d.sex).is_some() {
        best(&[0.0, w.sex.agree.weight(), disagree(&[w.sex.agree])])
    } else {
        0.0
    };
    let identifiers = w.identifiers.upn_differs.weight().max(0.0)
        + w.identifiers.nhs_number_differs.weight().max(0.0);
    given
        + postcode
        + sex
        + identifiers
        + f64::max(family_other_code + dob_any, family_any + dob_far)
}

/// Finds the child from a keyed query (`matching.mode = "keyed"`): the same steps and
/// rules as [`find_with`], on the children's keyed encodings.
///
/// `key` is the node's matching key: with it, a one-keystroke typo of the given name is
/// found as in plain mode (see [`keyed::is_typo`]); without it, never.
pub fn find_keyed(
    conn: &mut DbConnection,
    query: &schemas::KeyedChildQuery,
    key: Option<&MatchingKey>,
    settings: &MatchingSettings,
) -> Result<MatchResponse, DbError> {
    let by_identifier = db::keyed::identifier_matches(conn, &query.identifiers, &query.key_id)?;
    let found: Vec<ByIdentifier> = by_identifier
        .iter()
        .map(|(child, fields)| {
            let comparison = keyed::compare(
                query,
                &child.demographics,
                &child.identifiers,
                None,
                settings,
            );
            ByIdentifier {
                id: child.child_id.clone(),
                fields: fields.clone(),
                conflicting: comparison.upn_differs || comparison.nhs_number_differs,
                comparison: query.demographics.as_ref().map(|_| comparison),
            }
        })
        .collect();
    let rejected = match settle_by_identifier(&found) {
        Ok(answer) => return Ok(answer),
        Err(rejected) => rejected,
    };
    let (Some(demographics), Some(blocks)) = (&query.demographics, &query.blocks) else {
        return Ok(not_held());
    };
    let dates: Vec<String> = std::iter::once(demographics.date_of_birth.exact.clone())
        .chain(demographics.date_of_birth.swapped.clone())
        .collect();
    let mut rows = db::keyed::match_candidates(
        conn,
        &dates,
        blocks,
        &query.key_id,
        settings.max_candidates_per_block,
    )?;
    for (child, _) in by_identifier {
        if !rows.iter().any(|r| r.child_id == child.child_id) {
            rows.push(child);
        }
    }
    rows.retain(|r| !rejected.contains(&r.child_id));
    // The node's own plain names of the candidates: a typo is found by encoding each
    // one-keystroke variant of the held name (see `keyed::compare`).
    let ids: Vec<String> = rows.iter().map(|r| r.child_id.clone()).collect();
    let plain_names = db::children::names(conn, &ids)?;
    let mut compared: Vec<(String, Comparison)> = Vec::with_capacity(rows.len());
    let mut names: Vec<(String, String)> = Vec::with_capacity(rows.len());
    for child in rows {
        let plain = plain_names.get(&child.child_id);
        let comparison = keyed::compare(
            query,
            &child.demographics,
            &child.identifiers,
            key.and_then(|key| plain.map(|(given, family)| (key, given.as_str(), family.as_str()))),
            settings,
        );
        names.push(plain.cloned().unwrap_or_default());
        compared.push((child.child_id, comparison));
    }
    let children = db::children::estimated_count(conn)?;
    // An exact keyed name token is the HMAC of the normalised name the node counts, so
    // the held child's plain name stands for the query's.
    weigh_by_name_counts(conn, settings, children, &mut compared, &names)?;
    Ok(decide(compared, settings, children))
}

/// What the node's name counts say of each candidate (one count read per kind of name):
/// `names[i]` holds the plain given and family name of `compared[i]`'s child.
///
/// * The frequency-based weights of exact name agreement (when
///   `weights.frequency_based`): where a name agrees exactly, it is the query's name too,
///   so its count at the node says how often two different children would agree on it.
/// * Whether a given-name slip (see [`given_names::is_slip_of`]) is kept: it is dropped
///   when the held spelling is carried by another child here too and the query's spelling
///   by some child here (both are then names given in their own right, as `Miya` and
///   `Mia` may be). The counts speak only at a node of at least
///   `weights.frequency.prior_children` children with frequency-based weights on; below
///   that, or with them off, every slip is dropped. [`decide`] then counts a kept slip as
///   `typo` when no other candidate shares the family name and date of birth.
fn weigh_by_name_counts(
    conn: &mut DbConnection,
    settings: &MatchingSettings,
    children: u64,
    compared: &mut [(String, Comparison)],
    names: &[(String, String)],
) -> Result<(), DbError> {
    use db::name_counts::{NameKind, count_key, counts};
    use score::{FamilyLevel, GivenLevel};
    let w = &settings.weights;
    if !w.frequency_based || (children as f64) < w.frequency.prior_children {
        for (_, c) in compared.iter_mut() {
            c.given_slip = None;
        }
    }
    if !w.frequency_based {
        return Ok(());
    }
    // Each candidate's counted given and family name, where it agrees exactly.
    type Agreeing = (Option<String>, Option<String>);
    let keys: Vec<Agreeing> = compared
        .iter()
        .zip(names)
        .map(|((_, c), (given, family))| {
            (
                (c.given_name == GivenLevel::Exact).then(|| count_key(given)),
                (c.family_name == FamilyLevel::Exact).then(|| count_key(family)),
            )
        })
        .collect();
    let distinct = |pick: fn(&Agreeing) -> &Option<String>| {
        let mut v: Vec<String> = keys.iter().filter_map(|k| pick(k).clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    // The slips' spellings, both sides, are read with the agreeing given names.
    let mut given_names = distinct(|k| &k.0);
    for ((_, c), (given, _)) in compared.iter().zip(names) {
        if let Some(asked) = &c.given_slip {
            given_names.extend([asked.clone(), count_key(given)]);
        }
    }
    given_names.sort();
    given_names.dedup();
    // A `part` agreement's name is counted as a part, and as a whole name when the
    // query's own name has parts (see [`score::PartAgreed`]).
    let parts: Vec<&score::PartAgreed> = compared
        .iter()
        .filter_map(|(_, c)| c.family_part.as_ref())
        .collect();
    let mut family_names = distinct(|k| &k.1);
    family_names.extend(
        parts
            .iter()
            .filter(|p| p.query_has_parts)
            .map(|p| p.name.clone()),
    );
    family_names.sort();
    family_names.dedup();
    let given = counts(conn, NameKind::Given, &given_names)?;
    let family = counts(conn, NameKind::Family, &family_names)?;
    let mut part_names: Vec<String> = parts.iter().map(|p| p.name.clone()).collect();
    part_names.sort();
    part_names.dedup();
    let family_parts = counts(conn, NameKind::FamilyPart, &part_names)?;
    // A `typo` agreement: how many children here carry a family name one keystroke from
    // the query's (long enough to be a typo), the held child's among them. Every
    // candidate has the query's name, so one read serves them all.
    let typo_others: Option<u64> = match compared.iter().find_map(|(_, c)| c.family_typo.as_ref()) {
        Some(asked) => Some(other_carriers(typo_carriers(conn, asked)? as i64)),
        None => None,
    };
    let f = &w.frequency;
    // The held child carries the name, so it counts at least once.
    let weight = |counts: &std::collections::HashMap<String, i64>, name: &String, level| {
        let count = counts.get(name).copied().unwrap_or(0).max(1) as u64;
        f.exact_weight(level, count, children)
    };
    for ((_, comparison), (g, fam)) in compared.iter_mut().zip(&keys) {
        // An empty counted form (a name of punctuation only) has no count.
        if let Some(g) = g.as_ref().filter(|g| !g.is_empty()) {
            comparison.name_weights.given_exact = Some(weight(&given, g, w.given_name.exact));
        }
        if let Some(fam) = fam.as_ref().filter(|f| !f.is_empty()) {
            comparison.name_weights.family_exact = Some(weight(&family, fam, w.family_name.exact));
        }
        if let Some(part) = comparison
            .family_part
            .as_ref()
            .filter(|p| !p.name.is_empty())
        {
            let whole = if part.query_has_parts {
                family.get(&part.name).copied().unwrap_or(0)
            } else {
                0
            };
            let as_part = family_parts.get(&part.name).copied().unwrap_or(0);
            comparison.name_weights.family_part = Some(family_part_weight(
                settings,
                other_carriers(whole + as_part),
                children,
            ));
        }
        if let (Some(others), Some(_)) = (typo_others, &comparison.family_typo) {
            comparison.name_weights.family_typo =
                Some(family_typo_weight(settings, others, children));
        }
    }
    let carried = |name: &str| given.get(name).copied().unwrap_or(0);
    for ((_, c), (held, _)) in compared.iter_mut().zip(names) {
        let both_names_here = c
            .given_slip
            .as_deref()
            .is_some_and(|asked| carried(asked) >= 1 && carried(&count_key(held)) >= 2);
        if both_names_here {
            c.given_slip = None;
        }
    }
    Ok(())
}

/// A child whose UPN or NHS number equals the query's.
struct ByIdentifier {
    id: String,
    /// The identifiers that agreed.
    fields: Vec<String>,
    /// How the demographics compare, when the query has any.
    comparison: Option<Comparison>,
    /// Another identifier both sides hold differs.
    conflicting: bool,
}

/// Step 1, identifiers: the answer when they settle it, otherwise the children whose
/// demographics contradict their agreeing identifier (never to be linked).
fn settle_by_identifier(found: &[ByIdentifier]) -> Result<MatchResponse, Vec<String>> {
    let mut rejected: Vec<String> = Vec::new();
    let mut linked: Vec<(&str, Vec<String>)> = Vec::new();
    for child in found {
        if child
            .comparison
            .as_ref()
            .is_some_and(Comparison::contradicts_identifier)
        {
            // The identifier agrees but the person does not: do not link this child.
            rejected.push(child.id.clone());
            continue;
        }
        if child.conflicting {
            // One identifier agrees and another differs: leave it to the score.
            continue;
        }
        let mut matched_on = child.fields.clone();
        matched_on.extend(
            child
                .comparison
                .as_ref()
                .map(Comparison::matched_on)
                .unwrap_or_default(),
        );
        linked.push((&child.id, matched_on));
    }
    match linked.as_slice() {
        [(id, matched_on)] => Ok(held(id, MatchGrade::Certain, matched_on.clone())),
        // The UPN and the NHS number name different children here.
        [_, _, ..] => Ok(unlinked(
            MatchOutcome::Ambiguous,
            linked
                .iter()
                .map(|(id, matched_on)| {
                    (
                        (*id).to_owned(),
                        MatchCandidate {
                            grade: MatchGrade::Certain,
                            matched_on: matched_on.clone(),
                        },
                    )
                })
                .collect(),
        )),
        [] => Err(rejected),
    }
}

/// A scored candidate.
struct Scored {
    id: String,
    score: f64,
    grade: MatchGrade,
    matched_on: Vec<String>,
    comparison: Comparison,
}

/// Whether `second` is only a sibling of the best candidate, not a rival for the link:
/// both share the family and the date of birth the query gives, the best one's given name
/// agrees (exactly or as a known short form) and `second`'s flatly disagrees. Twins score
/// within a few bits of each other when the searched-for twin's record has drifted (a
/// move, no postcode), but the given name, the one field that tells twins apart, says
/// which one is searched for. Two candidates whose given names both fit the query
/// (`Alex` for an Alexander and an Alexandra, or a duplicate record) stay ambiguous.
fn only_a_sibling_of(best: &Comparison, second: &Comparison) -> bool {
    use score::{FamilyLevel, GivenLevel};
    matches!(best.given_name, GivenLevel::Exact | GivenLevel::Alias)
        && best.family_name != FamilyLevel::Disagree
        && second.given_name == GivenLevel::Disagree
        && second.could_be_a_sibling()
}

/// Scores every compared candidate and applies the linking rules.
fn decide(
    mut compared: Vec<(String, Comparison)>,
    settings: &MatchingSettings,
    children: u64,
) -> MatchResponse {
    // Candidates (reaching `possible` here) who share the family name and date of birth:
    // with two of them here, a given name one keystroke off may be the other twin's, so
    // it links neither. A child who shares them but not enough else to be a candidate (at
    // a big node, another family's child born the same day, living elsewhere) is no twin
    // the search could mean.
    let shares: Vec<bool> = compared
        .iter()
        .map(|(_, c)| {
            c.shares_family_and_birth()
                && score::grade_at(c.score(settings), settings, children).is_some()
        })
        .collect();
    let sharing = shares.iter().filter(|s| **s).count();
    // A slip the node's counts kept (see [`weigh_by_name_counts`]) is a typo when no other child
    // here shares the family name and date of birth: no twin here could be meant.
    let mut others_sharing = Vec::with_capacity(compared.len());
    for ((_, c), own) in compared.iter_mut().zip(&shares) {
        let others = sharing - usize::from(*own);
        if c.given_slip.is_some() && others == 0 {
            c.given_name = score::GivenLevel::Typo;
        }
        others_sharing.push(others);
    }
    let mut scored: Vec<Scored> = compared
        .into_iter()
        .zip(others_sharing)
        .filter_map(|((id, comparison), others)| {
            let score = comparison.score(settings);
            let mut grade = score::grade_at(score, settings, children)?;
            let typo_with_a_sibling_here =
                comparison.given_name == score::GivenLevel::Typo && others > 0;
            if comparison.could_be_a_sibling() || typo_with_a_sibling_here {
                grade = MatchGrade::Possible;
            }
            Some(Scored {
                matched_on: comparison.matched_on(),
                id,
                score,
                grade,
                comparison,
            })
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    let report = |scored: &[Scored]| {
        scored
            .iter()
            .take(MAX_REPORTED_CANDIDATES)
            .map(|s| {
                (
                    s.id.clone(),
                    MatchCandidate {
                        grade: s.grade,
                        matched_on: s.matched_on.clone(),
                    },
                )
            })
            .collect()
    };
    let Some(best) = scored.first() else {
        return not_held();
    };
    let close_second = scored.get(1).is_some_and(|second| {
        best.score - second.score < settings.ambiguity_margin
            && !only_a_sibling_of(&best.comparison, &second.comparison)
    });
    if close_second {
        return unlinked(MatchOutcome::Ambiguous, report(&scored));
    }
    if best.grade == MatchGrade::Possible {
        return unlinked(MatchOutcome::Candidates, report(&scored));
    }
    held(&best.id, best.grade, best.matched_on.clone())
}

/// Children whose UPN or NHS number equals the query's, with the identifiers that
/// agreed.
fn identifier_matches(
    conn: &mut DbConnection,
    query: &ChildQuery,
) -> Result<Vec<(CandidateRow, Vec<String>)>, DbError> {
    let mut found: Vec<(CandidateRow, Vec<String>)> = Vec::new();
    let mut add = |rows: Vec<ChildRow>, field: &str| {
        for row in rows.into_iter().map(CandidateRow::from) {
            match found.iter_mut().find(|(r, _)| r.id == row.id) {
                Some((_, fields)) => fields.push(field.to_owned()),
                None => found.push((row, vec![field.to_owned()])),
            }
        }
    };
    if let Some(upn) = &query.identifiers.upn {
        add(db::children::find_by_upn(conn, upn.as_str())?, "upn");
    }
    if let Some(nhs) = &query.identifiers.nhs_number {
        add(
            db::children::find_by_nhs_number(conn, nhs.as_str())?,
            "nhs_number",
        );
    }
    Ok(found)
}

/// The query and the child both hold an identifier, and it differs.
fn conflicting_identifier(query: &ChildQuery, child: &CandidateRow) -> bool {
    let differs = |q: Option<&str>, c: Option<&str>| matches!((q, c), (Some(q), Some(c)) if q != c);
    differs(
        query.identifiers.upn.as_ref().map(|u| u.as_str()),
        child.upn.as_deref(),
    ) || differs(
        query.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
        child.nhs_number.as_deref(),
    )
}

/// The query's side of its comparisons, when it has demographics.
fn asked_of(query: &ChildQuery) -> Option<score::Asked<'_>> {
    let d = query.demographics.as_ref()?;
    Some(score::Asked::new(Person {
        given_name: &d.given_name,
        family_name: &d.family_name,
        date_of_birth: d.date_of_birth,
        sex: d.sex,
        postcode: d.postcode.as_deref(),
        upn: query.identifiers.upn.as_ref().map(|u| u.as_str()),
        nhs_number: query.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
    }))
}

/// Compares the query's demographics with a stored child.
fn compare(
    asked: &score::Asked<'_>,
    child: &CandidateRow,
    settings: &MatchingSettings,
) -> Comparison {
    let held = Person {
        given_name: &child.given_name,
        family_name: &child.family_name,
        date_of_birth: child.date_of_birth,
        sex: child.sex.as_deref().and_then(sex_from_str),
        postcode: child.postcode.as_deref(),
        upn: child.upn.as_deref(),
        nhs_number: child.nhs_number.as_deref(),
    };
    score::compare_asked(asked, &held, settings)
}

fn sex_from_str(s: &str) -> Option<Sex> {
    match s {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        _ => None,
    }
}

fn held(id: &str, grade: MatchGrade, matched_on: Vec<String>) -> MatchResponse {
    MatchResponse {
        outcome: MatchOutcome::Held,
        held: true,
        local_ref: Some(id.to_owned()),
        grade: Some(grade),
        matched_on,
        candidates: Vec::new(),
        candidate_refs: Vec::new(),
    }
}

/// An answer that links no child: the candidates (with this node's references, kept
/// inside the node) best first.
fn unlinked(outcome: MatchOutcome, candidates: Vec<(String, MatchCandidate)>) -> MatchResponse {
    let (candidate_refs, candidates) = candidates.into_iter().unzip();
    MatchResponse {
        outcome,
        held: false,
        local_ref: None,
        grade: None,
        matched_on: Vec::new(),
        candidates,
        candidate_refs,
    }
}

fn not_held() -> MatchResponse {
    unlinked(MatchOutcome::NotHeld, Vec::new())
}

#[cfg(test)]
mod counted_levels_tests;
#[cfg(test)]
mod hopeless_tests;
#[cfg(test)]
mod slip_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typo_tests;
