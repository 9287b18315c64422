//! Estimating the *m* probabilities by expectation–maximisation over candidate pairs,
//! as Fellegi and Sunter's model is trained by Splink (Winkler 1988; Splink's
//! `estimate_parameters_using_expectation_maximisation`): *u* stays fixed (estimated from
//! the node's own children, [`super::estimate`], or configured), and *m* and the share of
//! true matches among the pairs are found by alternating
//!
//! * E: each pair's probability of being a match, from its levels under the current
//!   *m*, the fixed *u* and the current share λ;
//! * M: each level's *m* as the match-probability-weighted share of pairs showing it
//!   (among pairs where both sides have the field), and λ as the mean probability.
//!
//! A level whose expected number of matching pairs is too small to say anything keeps
//! its configured *m* (the fallback), as does every level when the pairs hold too few
//! expected matches overall. See `docs/matching.md`, "m by expectation–maximisation".

use super::score::{Comparison, DobLevel, FamilyLevel, GivenLevel, PostcodeLevel};
use super::settings::{Agreement, Weights};

/// What to estimate from, and when to stop.
#[derive(Debug, Clone)]
pub struct EmOptions {
    /// Share of true matches among the pairs to start from.
    pub initial_match_share: f64,
    /// Stop when no *m* and not λ moves more than this in one iteration.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// A field's *m* values are estimated only when the pairs where both sides have it
    /// hold at least this many expected matches; otherwise they stay as configured.
    pub min_expected_matches: f64,
    /// Pseudo-matches showing the configured *m*, added to each field's expected
    /// matches in the M step: a level no pair shows gets a small *m*, not the floor of
    /// 1e-6 (which would make it a near-veto), and a field with many expected matches
    /// follows its pairs.
    pub prior_matches: f64,
}

impl Default for EmOptions {
    fn default() -> Self {
        Self {
            initial_match_share: 0.1,
            tolerance: 1e-5,
            max_iterations: 100,
            min_expected_matches: 20.0,
            prior_matches: 5.0,
        }
    }
}

/// The outcome: the weights with every estimable *m* replaced, and what was estimated.
#[derive(Debug, Clone)]
pub struct EmEstimate {
    pub weights: Weights,
    /// Share of the pairs taken for true matches, at the end.
    pub match_share: f64,
    pub iterations: usize,
    pub converged: bool,
    /// Fields whose *m* values were estimated (`given_name`, `family_name`,
    /// `date_of_birth`, `postcode`, `sex`); the others kept their configured values.
    pub estimated: Vec<&'static str>,
}

/// One field's agreement levels, best first, the last being `disagree`.
struct Field {
    name: &'static str,
    /// Configured m and u of the agreeing levels (the disagree level's m is the rest).
    levels: Vec<Agreement>,
    /// The last level's u: the rest of the agreeing levels' (a distribution), or, for
    /// the order of the names, 1 (see [`ORDER`]).
    last_u: f64,
}

impl Field {
    fn m(&self, m: &[f64], level: usize) -> f64 {
        m[level]
    }

    fn u(&self, level: usize) -> f64 {
        match self.levels.get(level) {
            Some(a) => a.u,
            None => self.last_u,
        }
    }

    fn configured_m(&self) -> Vec<f64> {
        let mut m: Vec<f64> = self.levels.iter().map(|a| a.m).collect();
        m.push(1.0 - m.iter().sum::<f64>());
        m
    }
}

/// The fields in the order of [`PairLevels`].
fn fields(w: &Weights) -> [Field; FIELDS] {
    let levels = w.agreeing_levels();
    let field = |name: &'static str| {
        let levels: Vec<Agreement> = levels
            .iter()
            .filter(|(field, _, _)| *field == name)
            .map(|(_, _, a)| *a)
            .collect();
        let last_u = 1.0 - levels.iter().map(|a| a.u).sum::<f64>();
        Field {
            name,
            levels,
            last_u,
        }
    };
    [
        field("given_name"),
        field("family_name"),
        field("date_of_birth"),
        field("postcode"),
        field("sex"),
        // Straight, then crossed. Both u are 1: the score prices crossed names with the
        // straight names' u (an upper bound on how often unrelated children's names
        // agree crossed) and adds log2(m of crossed), as the model here does.
        Field {
            name: TRANSPOSED_NAMES,
            levels: vec![Agreement {
                m: 1.0 - w.transposed_names,
                u: 1.0,
            }],
            last_u: 1.0,
        },
    ]
}

/// The name [`EmEstimate::estimated`] gives the share of names recorded the other way
/// round (`matching.weights.transposed_names`).
pub const TRANSPOSED_NAMES: &str = "transposed_names";

/// The most the estimated share of names recorded the other way round may be: crossed
/// names never weigh more than straight ones.
const MAX_TRANSPOSED_SHARE: f64 = 0.5;

/// One pair's agreement level index per field, in the order given name, family name,
/// date of birth, postcode, sex, and the order of the names (`None`: either side lacks
/// the field). Levels only: no value, no child and no query can be read from it, which
/// is what a node keeps of its searches to estimate *m* from.
pub type PairLevels = [Option<u8>; FIELDS];

const FIELDS: usize = 6;
const GIVEN: usize = 0;
const FAMILY: usize = 1;
const DOB: usize = 2;
const POSTCODE: usize = 3;
const SEX: usize = 4;
/// Whether the names were compared straight (0) or crossed (1: the pair's names agree
/// only the other way round, [`Comparison::transposed`]); `None` when either side lacks
/// a name. Its *m* of crossed is `matching.weights.transposed_names`.
pub const ORDER: usize = 5;

/// The levels of one compared pair (see [`PairLevels`]).
pub fn pair_levels(c: &Comparison) -> PairLevels {
    let given = match c.given_name {
        GivenLevel::Exact => Some(0),
        GivenLevel::Alias => Some(1),
        GivenLevel::Typo => Some(2),
        GivenLevel::Similar => Some(3),
        GivenLevel::Disagree => Some(4),
        GivenLevel::Missing => None,
    };
    let family = match c.family_name {
        FamilyLevel::Exact => Some(0),
        FamilyLevel::Part => Some(1),
        FamilyLevel::Typo => Some(2),
        FamilyLevel::Similar => Some(3),
        FamilyLevel::Disagree => Some(4),
        FamilyLevel::Missing => None,
    };
    let dob = match c.date_of_birth {
        DobLevel::Exact => Some(0),
        DobLevel::DayMonthSwapped => Some(1),
        DobLevel::OneDigit => Some(2),
        DobLevel::SameMonth => Some(3),
        DobLevel::Disagree => Some(4),
        DobLevel::Missing => None,
    };
    let postcode = c.postcode.map(|p| match p {
        PostcodeLevel::Full => 0,
        PostcodeLevel::Sector => 1,
        PostcodeLevel::District => 2,
        PostcodeLevel::Disagree => 3,
    });
    let sex = c.sex_agrees.map(|a| if a { 0 } else { 1 });
    let order = (given.is_some() && family.is_some()).then_some(u8::from(c.transposed));
    [given, family, dob, postcode, sex, order]
}

/// One training session, as Splink's: the pairs a blocking condition selects, with the
/// fields that condition looks at left out of the model (every selected pair agrees on
/// them, so they say nothing about *m* there), and the fields whose *m* is taken from it.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub name: &'static str,
    /// Whether a pair belongs to the session: a condition on the levels of the fields in
    /// `blocked` only.
    pub selects: fn(&PairLevels) -> bool,
    /// The fields the condition looks at (indexes into [`PairLevels`]): out of the model.
    pub blocked: &'static [usize],
    /// The fields whose *m* this session estimates (never one of `blocked`).
    pub estimates: &'static [usize],
}

/// The node's sessions. Each field's *m* comes from pairs selected without looking at it:
///
/// * `date_of_birth`: pairs whose dates of birth agree exactly or with day and month
///   swapped (the date-of-birth block's own condition). Unrelated children born the same
///   day are the non-matches; the model is given name, family name, postcode, sex and
///   the order of the names, whose *m* it estimates (the order's: the share of true
///   matches whose names are recorded the other way round).
/// * `family_name_and_postcode`: pairs whose family names agree exactly and who live in
///   the same postcode sector (within the family-name-and-sector block). The non-matches
///   here are mostly siblings; with family name and postcode out of the model they show
///   a disagreeing given name and date of birth, the non-match pattern, so they cannot
///   raise the *m* of those levels. Estimates the date of birth's *m* only: a field is
///   estimated once, from the session that does not hold the siblings for it. The
///   order of the names is left out too: the family name the condition reads is the
///   crossed one when the names are crossed.
pub const SESSIONS: [Session; 2] = [
    Session {
        name: "date_of_birth",
        selects: |p| matches!(p[DOB], Some(0 | 1)),
        blocked: &[DOB],
        estimates: &[GIVEN, FAMILY, POSTCODE, SEX, ORDER],
    },
    Session {
        name: "family_name_and_postcode",
        selects: |p| p[FAMILY] == Some(0) && matches!(p[POSTCODE], Some(0 | 1)),
        blocked: &[FAMILY, POSTCODE, ORDER],
        estimates: &[DOB],
    },
];

/// What one session found.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    pub name: &'static str,
    pub pairs: usize,
    pub match_share: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Estimates *m* session by session (see [`SESSIONS`]) over `pairs` (levels of a query
/// compared with each child its blocks read), with *u* and the fallback *m* from
/// `configured`: each field's *m* from the one session that estimates it, kept as
/// configured unless that session holds at least `min_expected_matches` expected
/// matches where both sides have the field.
pub fn estimate_m_by_sessions(
    pairs: &[PairLevels],
    configured: &Weights,
    options: &EmOptions,
) -> (EmEstimate, Vec<SessionOutcome>) {
    let mut weights = configured.clone();
    let mut estimated = Vec::new();
    let mut outcomes = Vec::new();
    let (mut iterations, mut converged) = (0, true);
    for session in SESSIONS {
        let selected: Vec<PairLevels> = pairs
            .iter()
            .filter(|p| (session.selects)(p))
            .copied()
            .collect();
        let mut active = [true; FIELDS];
        for &b in session.blocked {
            active[b] = false;
        }
        let run = run_em(&selected, configured, options, active);
        iterations = iterations.max(run.iterations);
        converged &= run.converged || selected.is_empty();
        let fields = fields(configured);
        for &i in session.estimates {
            if run.expected[i] >= options.min_expected_matches {
                estimated.push(fields[i].name);
                set_m(&mut weights, &fields[i], &ordered(&fields[i], &run.m[i]));
            }
        }
        outcomes.push(SessionOutcome {
            name: session.name,
            pairs: selected.len(),
            match_share: run.share,
            iterations: run.iterations,
            converged: run.converged,
        });
    }
    let match_share = outcomes.first().map_or(0.0, |o| o.match_share);
    (
        EmEstimate {
            weights,
            match_share,
            iterations,
            converged,
            estimated,
        },
        outcomes,
    )
}

struct Run {
    m: Vec<Vec<f64>>,
    share: f64,
    iterations: usize,
    converged: bool,
    /// Expected matches per field among pairs that have it, at the last E step.
    expected: [f64; FIELDS],
}

/// EM over the `active` fields of `observed`; *u* fixed, *m* and λ free.
fn run_em(
    observed: &[PairLevels],
    configured: &Weights,
    options: &EmOptions,
    active: [bool; FIELDS],
) -> Run {
    let fields = fields(configured);
    let prior: Vec<Vec<f64>> = fields.iter().map(Field::configured_m).collect();
    let mut m = prior.clone();
    let mut share = options.initial_match_share.clamp(1e-6, 1.0 - 1e-6);
    let mut iterations = 0;
    let mut converged = false;
    let mut expected = [0.0f64; FIELDS];
    const FLOOR: f64 = 1e-6;
    while iterations < options.max_iterations && !observed.is_empty() {
        iterations += 1;
        // E: each pair's match probability.
        let mut sums: Vec<Vec<f64>> = fields
            .iter()
            .map(|f| vec![0.0; f.levels.len() + 1])
            .collect();
        expected = [0.0; FIELDS];
        let mut total = 0.0;
        for levels in observed {
            let mut log_ratio = (share / (1.0 - share)).ln();
            for (i, level) in levels.iter().enumerate() {
                if let (Some(level), true) = (*level, active[i]) {
                    let f = &fields[i];
                    let level = usize::from(level);
                    log_ratio += f.m(&m[i], level).max(FLOOR).ln() - f.u(level).max(FLOOR).ln();
                }
            }
            let p = 1.0 / (1.0 + (-log_ratio).exp());
            total += p;
            for (i, level) in levels.iter().enumerate() {
                if let (Some(level), true) = (*level, active[i]) {
                    sums[i][usize::from(level)] += p;
                    expected[i] += p;
                }
            }
        }
        // M: each level's share of the expected matches; the share of matches.
        let mut moved: f64 = 0.0;
        for (i, f) in fields.iter().enumerate() {
            if expected[i] <= 0.0 {
                continue;
            }
            let k = options.prior_matches.max(0.0);
            for level in 0..=f.levels.len() {
                let new = ((sums[i][level] + k * prior[i][level]) / (expected[i] + k))
                    .clamp(FLOOR, 1.0 - FLOOR);
                moved = moved.max((new - m[i][level]).abs());
                m[i][level] = new;
            }
        }
        let new_share = (total / observed.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        moved = moved.max((new_share - share).abs());
        share = new_share;
        if moved < options.tolerance {
            converged = true;
            break;
        }
    }
    Run {
        m,
        share,
        iterations,
        converged,
        expected,
    }
}

/// Estimates *m* by EM over `pairs` (candidate pairs: each a query compared with a
/// child the blocks read), with *u* and the fallback *m* from `configured`, every field
/// in one model. A node uses [`estimate_m_by_sessions`] instead.
pub fn estimate_m(pairs: &[Comparison], configured: &Weights, options: &EmOptions) -> EmEstimate {
    let observed: Vec<PairLevels> = pairs.iter().map(pair_levels).collect();
    let run = run_em(&observed, configured, options, [true; FIELDS]);
    let fields = fields(configured);
    let mut weights = configured.clone();
    let mut estimated = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if run.expected[i] < options.min_expected_matches {
            continue;
        }
        estimated.push(f.name);
        set_m(&mut weights, f, &ordered(f, &run.m[i]));
    }
    EmEstimate {
        weights,
        match_share: run.share,
        iterations: run.iterations,
        converged: run.converged,
        estimated,
    }
}

/// One field's estimated *m* with no agreeing level weighing less than `disagree`: a
/// level the pairs (almost) never show, such as a date in the same month when the
/// node's searches hold no such slip, would otherwise count more against a match than a
/// date that disagrees outright. Such a level is raised to the disagreement's weight
/// (its *m* to its *u* times the disagreement's m/u); the rest of the field's *m* follow
/// the pairs.
fn ordered(field: &Field, m: &[f64]) -> Vec<f64> {
    let agreeing = field.levels.len();
    let ratio = m[agreeing] / field.u(agreeing).max(1e-12);
    let mut out: Vec<f64> = m.to_vec();
    for (level, value) in out.iter_mut().enumerate().take(agreeing) {
        *value = value.max(field.u(level) * ratio);
    }
    out[agreeing] = (1.0 - out[..agreeing].iter().sum::<f64>()).max(1e-6);
    out
}

/// Puts one field's estimated *m* (its agreeing levels; `disagree` takes the rest) into
/// `weights`; for the order of the names, the *m* of crossed, at most
/// [`MAX_TRANSPOSED_SHARE`].
fn set_m(weights: &mut Weights, field: &Field, m: &[f64]) {
    if field.name == TRANSPOSED_NAMES {
        weights.transposed_names = m[1].min(MAX_TRANSPOSED_SHARE);
        return;
    }
    let levels = weights.agreeing_levels_mut().into_iter();
    for ((_, _, a), m) in levels.filter(|(f, _, _)| *f == field.name).zip(m) {
        a.m = *m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::NameWeights;
    use rand::{Rng, SeedableRng};

    fn pick<R: Rng>(rng: &mut R, probabilities: &[f64]) -> usize {
        let mut x: f64 = rng.random();
        for (i, p) in probabilities.iter().enumerate() {
            if x < *p {
                return i;
            }
            x -= p;
        }
        probabilities.len() - 1
    }

    fn comparison(levels: [usize; 5]) -> Comparison {
        let given = [
            GivenLevel::Exact,
            GivenLevel::Alias,
            GivenLevel::Typo,
            GivenLevel::Similar,
            GivenLevel::Disagree,
        ][levels[0]];
        let family = [
            FamilyLevel::Exact,
            FamilyLevel::Part,
            FamilyLevel::Typo,
            FamilyLevel::Similar,
            FamilyLevel::Disagree,
        ][levels[1]];
        let dob = [
            DobLevel::Exact,
            DobLevel::DayMonthSwapped,
            DobLevel::OneDigit,
            DobLevel::SameMonth,
            DobLevel::Disagree,
        ][levels[2]];
        let postcode = [
            PostcodeLevel::Full,
            PostcodeLevel::Sector,
            PostcodeLevel::District,
            PostcodeLevel::Disagree,
        ][levels[3]];
        Comparison {
            given_name: given,
            family_name: family,
            date_of_birth: dob,
            postcode: Some(postcode),
            sex_agrees: Some(levels[4] == 0),
            upn_differs: false,
            nhs_number_differs: false,
            name_weights: NameWeights::default(),
            given_slip: None,
            family_part: None,
            family_typo: None,
            transposed: false,
            family_former: false,
        }
    }

    /// Pairs drawn from a known model: EM with the true *u* finds the true *m* and
    /// match share from the configured (wrong) *m*.
    #[test]
    fn em_recovers_the_m_values_of_a_known_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let configured = Weights::default();
        let fields = fields(&configured);
        // The truth: m values unlike the configured ones (families move more, names
        // are mistyped more).
        let true_m: [Vec<f64>; 5] = [
            vec![0.70, 0.05, 0.05, 0.10, 0.10],
            vec![0.75, 0.05, 0.05, 0.05, 0.10],
            vec![0.85, 0.03, 0.07, 0.02, 0.03],
            vec![0.50, 0.10, 0.10, 0.30],
            vec![0.95, 0.05],
        ];
        let u: Vec<Vec<f64>> = fields[..5]
            .iter()
            .map(|f| (0..=f.levels.len()).map(|l| f.u(l)).collect())
            .collect();
        let mut pairs = Vec::new();
        for i in 0..60_000 {
            let source: Vec<&[f64]> = if i % 20 == 0 {
                true_m.iter().map(|v| v.as_slice()).collect()
            } else {
                u.iter().map(|v| v.as_slice()).collect()
            };
            let mut levels = [0; 5];
            for (f, probabilities) in source.iter().enumerate() {
                levels[f] = pick(&mut rng, probabilities);
            }
            pairs.push(comparison(levels));
        }
        let estimate = estimate_m(&pairs, &configured, &EmOptions::default());
        assert!(estimate.converged, "{estimate:?}");
        assert!((estimate.match_share - 0.05).abs() < 0.005, "{estimate:?}");
        assert_eq!(estimate.estimated.len(), 6);
        let w = &estimate.weights;
        // No pair's names are crossed: the share of crossed names falls from the
        // configured 0.02 to what the prior's five pseudo-matches leave.
        assert!(w.transposed_names < 0.001, "{}", w.transposed_names);
        for (got, want) in [
            (w.given_name.exact.m, 0.70),
            (w.family_name.exact.m, 0.75),
            (w.date_of_birth.exact.m, 0.85),
            (w.date_of_birth.one_digit.m, 0.07),
            (w.postcode.full.m, 0.50),
            (w.postcode.sector.m, 0.10),
            (w.sex.agree.m, 0.95),
        ] {
            assert!((got - want).abs() < 0.03, "{got} against {want}");
        }
        // u is never changed.
        assert_eq!(w.given_name.exact.u, configured.given_name.exact.u);
    }

    /// Too few pairs to say anything: every m stays as configured.
    #[test]
    fn too_few_pairs_keep_the_configured_m() {
        let configured = Weights::default();
        let pairs: Vec<Comparison> = (0..10).map(|_| comparison([0, 0, 0, 0, 0])).collect();
        let estimate = estimate_m(&pairs, &configured, &EmOptions::default());
        assert!(estimate.estimated.is_empty());
        assert_eq!(estimate.weights, configured);
        let none = estimate_m(&[], &configured, &EmOptions::default());
        assert_eq!(none.weights, configured);
        assert_eq!(none.iterations, 0);
    }

    /// Draws one pair's levels, field by field, from `source`, with the fields in
    /// `fixed` set to the given level (what a block's condition makes every pair show).
    fn draw<R: Rng>(rng: &mut R, source: &[Vec<f64>], fixed: &[(usize, u8)]) -> PairLevels {
        let mut levels: PairLevels = [None; FIELDS];
        for (f, probabilities) in source.iter().enumerate() {
            levels[f] = Some(pick(rng, probabilities) as u8);
        }
        for &(f, level) in fixed {
            levels[f] = Some(level);
        }
        levels
    }

    /// Pairs as a node's searches see them, from a known model with three classes: true
    /// matches, unrelated children, and siblings (same family name and postcode, another
    /// given name and date of birth). Each session recovers the true *m* of the fields it
    /// estimates, and the siblings do not raise the *m* of a disagreeing given name or
    /// date of birth, as one model over all the pairs does.
    #[test]
    fn sessions_recover_m_and_siblings_do_not_raise_given_name_or_date_disagreement() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let configured = Weights::default();
        let fields = fields(&configured);
        let true_m: Vec<Vec<f64>> = vec![
            vec![0.80, 0.06, 0.03, 0.04, 0.07],
            vec![0.82, 0.04, 0.03, 0.03, 0.08],
            vec![0.90, 0.02, 0.04, 0.01, 0.03],
            vec![0.60, 0.10, 0.08, 0.22],
            vec![0.96, 0.04],
            // One true match in sixteen has its names recorded the other way round.
            vec![0.9375, 0.0625],
        ];
        // Unrelated children's names agree crossed almost never: drawn straight.
        let u: Vec<Vec<f64>> = fields
            .iter()
            .map(|f| {
                (0..=f.levels.len())
                    .map(|l| f.u(usize::from(l as u8)))
                    .collect()
            })
            .collect();
        // Siblings: names differ (now and then alike), dates of birth differ.
        let mut sibling = u.clone();
        sibling[0] = vec![0.0, 0.01, 0.0, 0.04, 0.95];
        sibling[2] = vec![0.0, 0.0, 0.01, 0.03, 0.96];
        let mut pairs = Vec::new();
        for _ in 0..3_000 {
            // Every search's true match, read by whichever blocks it falls in.
            pairs.push(draw(&mut rng, &true_m, &[]));
            // Unrelated children born the same day (the date-of-birth block).
            for _ in 0..8 {
                pairs.push(draw(&mut rng, &u, &[(DOB, 0)]));
            }
            // Siblings: same family name and postcode (the family-and-sector block).
            for _ in 0..3 {
                pairs.push(draw(&mut rng, &sibling, &[(FAMILY, 0), (POSTCODE, 0)]));
            }
        }
        let options = EmOptions::default();
        let (estimate, sessions) = estimate_m_by_sessions(&pairs, &configured, &options);
        assert_eq!(sessions.len(), 2);
        assert!(sessions.iter().all(|s| s.converged), "{sessions:?}");
        assert_eq!(
            estimate.estimated,
            [
                "given_name",
                "family_name",
                "postcode",
                "sex",
                "transposed_names",
                "date_of_birth"
            ]
        );
        let w = &estimate.weights;
        let given_disagree = 1.0
            - (w.given_name.exact.m
                + w.given_name.alias.m
                + w.given_name.typo.m
                + w.given_name.similar.m);
        let dob_disagree = 1.0
            - (w.date_of_birth.exact.m
                + w.date_of_birth.day_month_swapped.m
                + w.date_of_birth.one_digit.m
                + w.date_of_birth.same_month.m);
        for (what, got, want) in [
            ("given exact", w.given_name.exact.m, 0.80),
            ("given disagree", given_disagree, 0.07),
            ("family exact", w.family_name.exact.m, 0.82),
            ("dob exact", w.date_of_birth.exact.m, 0.90),
            ("dob one digit", w.date_of_birth.one_digit.m, 0.04),
            ("dob disagree", dob_disagree, 0.03),
            ("postcode full", w.postcode.full.m, 0.60),
            ("sex agree", w.sex.agree.m, 0.96),
        ] {
            assert!((got - want).abs() < 0.03, "{what}: {got} against {want}");
        }
        // The share of crossed names, from the configured 0.02.
        assert!(
            (w.transposed_names - 0.0625).abs() < 0.01,
            "{}",
            w.transposed_names
        );
        // One model over every pair takes the siblings for matches: the m of a
        // disagreeing given name and date of birth rise, the levels that keep siblings
        // and twins apart weigh less. The sessions avoid exactly this.
        let levels_to_comparisons: Vec<Comparison> = pairs
            .iter()
            .map(|p| comparison([0, 1, 2, 3, 4].map(|f| usize::from(p[f].unwrap_or(0)))))
            .collect();
        let pooled = estimate_m(&levels_to_comparisons, &configured, &options).weights;
        let pooled_given_disagree = 1.0
            - (pooled.given_name.exact.m
                + pooled.given_name.alias.m
                + pooled.given_name.typo.m
                + pooled.given_name.similar.m);
        assert!(
            pooled_given_disagree > given_disagree + 0.05,
            "pooled {pooled_given_disagree} against sessions {given_disagree}"
        );
    }

    /// A level no pair shows (no date in the same month, no day and month swapped) does
    /// not end up weighing more against a match than a date that disagrees outright.
    #[test]
    fn a_level_no_pair_shows_never_weighs_less_than_disagreement() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let configured = Weights::default();
        let mut pairs = Vec::new();
        let u: Vec<Vec<f64>> = fields(&configured)
            .iter()
            .map(|f| (0..=f.levels.len()).map(|l| f.u(l)).collect())
            .collect();
        // True matches whose dates are exact, one digit off or wrong; never in between.
        let mut m = u.clone();
        m[0] = vec![0.9, 0.02, 0.02, 0.02, 0.04];
        m[1] = vec![0.9, 0.02, 0.02, 0.02, 0.04];
        m[2] = vec![0.9, 0.0, 0.05, 0.0, 0.05];
        m[3] = vec![0.7, 0.1, 0.1, 0.1];
        m[4] = vec![0.97, 0.03];
        for _ in 0..2_000 {
            pairs.push(draw(&mut rng, &m, &[(FAMILY, 0), (POSTCODE, 0)]));
            for _ in 0..2 {
                pairs.push(draw(&mut rng, &u, &[(FAMILY, 0), (POSTCODE, 0)]));
            }
        }
        let (estimate, _) = estimate_m_by_sessions(&pairs, &configured, &EmOptions::default());
        assert!(estimate.estimated.contains(&"date_of_birth"));
        let d = &estimate.weights.date_of_birth;
        let disagree = crate::settings::disagreement_weight(&[
            d.exact,
            d.day_month_swapped,
            d.one_digit,
            d.same_month,
        ]);
        assert!(disagree < -3.0, "{disagree}");
        for level in [d.exact, d.day_month_swapped, d.one_digit, d.same_month] {
            assert!(
                level.weight() >= disagree - 1e-9,
                "{level:?} below {disagree}"
            );
        }
        assert!((d.exact.m - 0.9).abs() < 0.03, "{d:?}");
        assert!((d.one_digit.m - 0.05).abs() < 0.02, "{d:?}");
    }
}
