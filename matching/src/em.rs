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
}

impl Default for EmOptions {
    fn default() -> Self {
        Self {
            initial_match_share: 0.1,
            tolerance: 1e-5,
            max_iterations: 100,
            min_expected_matches: 20.0,
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
    /// Configured m and u of the agreeing levels (the disagree level's are the rest).
    levels: Vec<Agreement>,
}

impl Field {
    fn m(&self, m: &[f64], level: usize) -> f64 {
        m[level]
    }

    fn u(&self, level: usize) -> f64 {
        match self.levels.get(level) {
            Some(a) => a.u,
            None => 1.0 - self.levels.iter().map(|a| a.u).sum::<f64>(),
        }
    }

    fn configured_m(&self) -> Vec<f64> {
        let mut m: Vec<f64> = self.levels.iter().map(|a| a.m).collect();
        m.push(1.0 - m.iter().sum::<f64>());
        m
    }
}

fn fields(w: &Weights) -> [Field; 5] {
    let g = &w.given_name;
    let f = &w.family_name;
    let d = &w.date_of_birth;
    let p = &w.postcode;
    [
        Field {
            name: "given_name",
            levels: vec![g.exact, g.alias, g.typo, g.similar],
        },
        Field {
            name: "family_name",
            levels: vec![f.exact, f.part, f.typo, f.similar],
        },
        Field {
            name: "date_of_birth",
            levels: vec![d.exact, d.day_month_swapped, d.one_digit, d.same_month],
        },
        Field {
            name: "postcode",
            levels: vec![p.full, p.sector, p.district],
        },
        Field {
            name: "sex",
            levels: vec![w.sex.agree],
        },
    ]
}

/// The level index of each field for one pair (`None`: either side lacks the field).
fn levels(c: &Comparison) -> [Option<usize>; 5] {
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
    [given, family, dob, postcode, sex]
}

/// Estimates *m* by EM over `pairs` (candidate pairs: each a query compared with a
/// child the blocks read), with *u* and the fallback *m* from `configured`.
pub fn estimate_m(pairs: &[Comparison], configured: &Weights, options: &EmOptions) -> EmEstimate {
    let fields = fields(configured);
    let observed: Vec<[Option<usize>; 5]> = pairs.iter().map(levels).collect();
    let mut m: Vec<Vec<f64>> = fields.iter().map(Field::configured_m).collect();
    let mut share = options.initial_match_share.clamp(1e-6, 1.0 - 1e-6);
    let mut iterations = 0;
    let mut converged = false;
    // Expected matches per field among pairs that have it, at the last E step.
    let mut expected = [0.0f64; 5];
    const FLOOR: f64 = 1e-6;
    while iterations < options.max_iterations && !pairs.is_empty() {
        iterations += 1;
        // E: each pair's match probability.
        let mut sums: Vec<Vec<f64>> = fields
            .iter()
            .map(|f| vec![0.0; f.levels.len() + 1])
            .collect();
        expected = [0.0; 5];
        let mut total = 0.0;
        for levels in &observed {
            let mut log_ratio = (share / (1.0 - share)).ln();
            for (i, level) in levels.iter().enumerate() {
                if let Some(level) = *level {
                    let f = &fields[i];
                    log_ratio += f.m(&m[i], level).max(FLOOR).ln() - f.u(level).max(FLOOR).ln();
                }
            }
            let p = 1.0 / (1.0 + (-log_ratio).exp());
            total += p;
            for (i, level) in levels.iter().enumerate() {
                if let Some(level) = *level {
                    sums[i][level] += p;
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
            for level in 0..=f.levels.len() {
                let new = (sums[i][level] / expected[i]).clamp(FLOOR, 1.0 - FLOOR);
                moved = moved.max((new - m[i][level]).abs());
                m[i][level] = new;
            }
        }
        let new_share = (total / pairs.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        moved = moved.max((new_share - share).abs());
        share = new_share;
        if moved < options.tolerance {
            converged = true;
            break;
        }
    }
    let mut weights = configured.clone();
    let mut estimated = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if expected[i] < options.min_expected_matches {
            continue;
        }
        estimated.push(f.name);
        let set = |a: &mut Agreement, level: usize| a.m = m[i][level];
        match f.name {
            "given_name" => {
                let g = &mut weights.given_name;
                set(&mut g.exact, 0);
                set(&mut g.alias, 1);
                set(&mut g.typo, 2);
                set(&mut g.similar, 3);
            }
            "family_name" => {
                let g = &mut weights.family_name;
                set(&mut g.exact, 0);
                set(&mut g.part, 1);
                set(&mut g.typo, 2);
                set(&mut g.similar, 3);
            }
            "date_of_birth" => {
                let g = &mut weights.date_of_birth;
                set(&mut g.exact, 0);
                set(&mut g.day_month_swapped, 1);
                set(&mut g.one_digit, 2);
                set(&mut g.same_month, 3);
            }
            "postcode" => {
                let g = &mut weights.postcode;
                set(&mut g.full, 0);
                set(&mut g.sector, 1);
                set(&mut g.district, 2);
            }
            _ => set(&mut weights.sex.agree, 0),
        }
    }
    EmEstimate {
        weights,
        match_share: share,
        iterations,
        converged,
        estimated,
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
        let u: Vec<Vec<f64>> = fields
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
        assert_eq!(estimate.estimated.len(), 5);
        let w = &estimate.weights;
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
}
