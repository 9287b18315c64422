//! Estimating the *u* probabilities of the match weights from the node's own children.
//!
//! *u* is how often two **different** children show an agreement level. Within one node
//! each child is held once, so pairs of distinct rows are pairs of different children (up
//! to the node's own duplicates, which only make the estimate slightly high, the safe
//! side): counting each level over pairs of the node's children estimates *u* directly,
//! for that node's population — how common its names, birthdays and postcodes really are.
//! *m* (how often a true match shows a level) cannot be read from one node's data; it
//! stays as configured. See `docs/matching.md`, "Weights from the node's own data".

use super::score::{self, DobLevel, FamilyLevel, GivenLevel, Person, PostcodeLevel};
use super::settings::{Agreement, MatchingSettings, Weights};
use chrono::NaiveDate;
use rand::{Rng, SeedableRng};

/// The demographics of one sampled child.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Option<String>,
    pub postcode: Option<String>,
}

/// How many pairs showed each level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub pairs: u64,
    /// Exact, alias, similar.
    pub given: [u64; 3],
    /// Exact, part, similar.
    pub family: [u64; 3],
    /// Exact, day and month swapped, one digit, same month.
    pub date_of_birth: [u64; 4],
    /// Pairs where both children have a postcode, then full, sector, district.
    pub postcode_pairs: u64,
    pub postcode: [u64; 3],
    /// Pairs where both children's sex is known, then those that agree.
    pub sex_pairs: u64,
    pub sex_agree: u64,
}

/// The outcome: the tally, and the weights with every estimable *u* replaced.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub children: usize,
    /// Every pair was counted (a small sample), rather than a random draw of pairs.
    pub exhaustive: bool,
    pub tally: Tally,
    pub weights: Weights,
    /// What a node scores with (`[matching.estimate_u]`): each estimated *u* raised to
    /// the upper bound of its count, `(count + 3) / pairs`, and to at least the
    /// configured *u* lowered by `max_lowering_bits`.
    pub adopted: Weights,
    /// Levels no pair showed, as (field, level): their raw *u* is set to half a pair's
    /// share.
    pub unseen: Vec<(&'static str, &'static str)>,
}

fn person(s: &Sampled) -> Person<'_> {
    Person {
        given_name: &s.given_name,
        family_name: &s.family_name,
        date_of_birth: Some(s.date_of_birth),
        sex: s.sex.as_deref().and_then(score::sex_from_str),
        postcode: s.postcode.as_deref(),
        upn: None,
        nhs_number: None,
        former_family_names: &[],
    }
}

impl Tally {
    /// For a level whose *u* is estimated (`field`, `level` as in
    /// [`Weights::agreeing_levels`]): the pairs showing it and the pairs it is counted
    /// over. `None` for the levels kept as configured (the typo levels).
    pub fn count(&self, field: &str, level: &str) -> Option<(u64, u64)> {
        let over_all = |count: u64| Some((count, self.pairs));
        match (field, level) {
            ("given_name", "exact") => over_all(self.given[0]),
            ("given_name", "alias") => over_all(self.given[1]),
            ("given_name", "similar") => over_all(self.given[2]),
            ("family_name", "exact") => over_all(self.family[0]),
            ("family_name", "part") => over_all(self.family[1]),
            ("family_name", "similar") => over_all(self.family[2]),
            ("date_of_birth", "exact") => over_all(self.date_of_birth[0]),
            ("date_of_birth", "day_month_swapped") => over_all(self.date_of_birth[1]),
            ("date_of_birth", "one_digit") => over_all(self.date_of_birth[2]),
            ("date_of_birth", "same_month") => over_all(self.date_of_birth[3]),
            ("postcode", "full") => Some((self.postcode[0], self.postcode_pairs)),
            ("postcode", "sector") => Some((self.postcode[1], self.postcode_pairs)),
            ("postcode", "district") => Some((self.postcode[2], self.postcode_pairs)),
            ("sex", "agree") => Some((self.sex_agree, self.sex_pairs)),
            _ => None,
        }
    }

    fn add(&mut self, a: &Sampled, b: &Sampled, settings: &MatchingSettings) {
        let c = score::compare(&person(a), &person(b), settings);
        self.pairs += 1;
        // The typo level needs family name and date of birth to agree too; among
        // different children it is too rare to count, and keeps its configured u.
        match c.given_name {
            GivenLevel::Exact => self.given[0] += 1,
            GivenLevel::Alias => self.given[1] += 1,
            GivenLevel::Similar | GivenLevel::Typo => self.given[2] += 1,
            // The sample is of complete children: nothing is missing.
            GivenLevel::Disagree | GivenLevel::Missing => {}
        }
        match c.family_name {
            FamilyLevel::Exact => self.family[0] += 1,
            FamilyLevel::Part => self.family[1] += 1,
            FamilyLevel::Similar | FamilyLevel::Typo => self.family[2] += 1,
            FamilyLevel::Disagree | FamilyLevel::Missing => {}
        }
        match c.date_of_birth {
            DobLevel::Exact => self.date_of_birth[0] += 1,
            DobLevel::DayMonthSwapped => self.date_of_birth[1] += 1,
            DobLevel::OneDigit => self.date_of_birth[2] += 1,
            DobLevel::SameMonth => self.date_of_birth[3] += 1,
            DobLevel::Disagree | DobLevel::Missing => {}
        }
        if let Some(level) = c.postcode {
            self.postcode_pairs += 1;
            match level {
                PostcodeLevel::Full => self.postcode[0] += 1,
                PostcodeLevel::Sector => self.postcode[1] += 1,
                PostcodeLevel::District => self.postcode[2] += 1,
                PostcodeLevel::Disagree => {}
            }
        }
        if let Some(agree) = c.sex_agrees {
            self.sex_pairs += 1;
            self.sex_agree += u64::from(agree);
        }
    }
}

/// Counts the levels over every pair of `sample` when that is at most `max_pairs`
/// pairs, otherwise over `max_pairs` random pairs (drawn with `seed`), and gives the
/// configured weights with the estimated *u* values. `None` with fewer than two children.
pub fn estimate_u(
    sample: &[Sampled],
    max_pairs: u64,
    seed: u64,
    settings: &MatchingSettings,
) -> Option<Estimate> {
    let n = sample.len();
    if n < 2 {
        return None;
    }
    let all_pairs = (n as u64) * (n as u64 - 1) / 2;
    let mut tally = Tally::default();
    let exhaustive = all_pairs <= max_pairs;
    if exhaustive {
        for (i, a) in sample.iter().enumerate() {
            for b in &sample[i + 1..] {
                tally.add(a, b, settings);
            }
        }
    } else {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..max_pairs {
            let i = rng.random_range(0..n);
            let mut j = rng.random_range(0..n - 1);
            if j >= i {
                j += 1;
            }
            tally.add(&sample[i], &sample[j], settings);
        }
    }
    // Per estimated level, the raw share and the share a node scores with (adopted):
    // `(count + 3) / pairs` (at zero the rule of three's 95 % upper bound; a small count
    // is not taken for a rare agreement), never below the configured *u* by more than
    // `max_lowering_bits`. A level no pair could show (`pairs` 0) stays configured.
    let lowering = settings.estimate_u.max_lowering_bits;
    let mut unseen = Vec::new();
    let mut w = settings.weights.clone();
    let mut a = settings.weights.clone();
    for ((field, level, raw), (_, _, adopted)) in w
        .agreeing_levels_mut()
        .into_iter()
        .zip(a.agreeing_levels_mut())
    {
        let Some((count, pairs)) = tally.count(field, level).filter(|&(_, p)| p > 0) else {
            continue;
        };
        let share = if count == 0 {
            unseen.push((field, level));
            0.5 / pairs as f64
        } else {
            count as f64 / pairs as f64
        };
        let bound = ((count + 3) as f64 / pairs as f64).min(1.0);
        let floor = adopted.u * (-lowering).exp2();
        *raw = Agreement::new(raw.m, share);
        *adopted = Agreement::new(adopted.m, bound.max(floor));
    }
    Some(Estimate {
        children: n,
        exhaustive,
        tally,
        weights: w,
        adopted: a,
        unseen,
    })
}

/// For people: what was counted, and each level's configured and estimated u and weight.
pub fn report(estimate: &Estimate, settings: &MatchingSettings) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = &estimate.tally;
    let _ = writeln!(
        out,
        "{} children sampled; {} pairs compared ({}); {} with both postcodes, {} with both sexes known",
        estimate.children,
        t.pairs,
        if estimate.exhaustive {
            "every pair"
        } else {
            "random pairs"
        },
        t.postcode_pairs,
        t.sex_pairs
    );
    let _ = writeln!(
        out,
        "{:<32} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "level", "u configured", "u counted", "u adopted", "weight", "now"
    );
    let configured = settings.weights.agreeing_levels();
    let counted = estimate.weights.agreeing_levels();
    let adopted = estimate.adopted.agreeing_levels();
    for ((field, level, before), ((_, _, counted), (_, _, after))) in
        configured.into_iter().zip(counted.into_iter().zip(adopted))
    {
        if estimate.tally.count(field, level).is_none() {
            continue;
        }
        let name = format!("{field}.{level}");
        let _ = writeln!(
            out,
            "{name:<32} {:>12.6} {:>12.6} {:>12.6} {:>+9.2} {:>+9.2}{}",
            before.u,
            counted.u,
            after.u,
            before.weight(),
            after.weight(),
            if estimate.unseen.contains(&(field, level)) {
                "  (no pair)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        out,
        "adopted: the count's upper bound (count + 3) / pairs, at most {} bits of weight above the configured",
        settings.estimate_u.max_lowering_bits
    );
    let check = MatchingSettings {
        weights: estimate.adopted.clone(),
        ..settings.clone()
    };
    if let Err(problem) = check.validate() {
        let _ = writeln!(out, "these weights would be refused: {problem}");
    }
    let _ = writeln!(
        out,
        "u of given_name.typo and of the identifiers is kept as configured; m is never estimated here"
    );
    out
}

/// The adopted weights as a `[matching.weights]` section of the node configuration (to
/// pin them with `[matching.estimate_u] enabled = false`).
pub fn weights_toml(estimate: &Estimate) -> Result<String, toml::ser::Error> {
    #[derive(serde::Serialize)]
    struct Section<'a> {
        weights: &'a Weights,
    }
    #[derive(serde::Serialize)]
    struct File<'a> {
        matching: Section<'a>,
    }
    toml::to_string(&File {
        matching: Section {
            weights: &estimate.adopted,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn child(given: &str, family: &str, dob: &str, sex: &str, postcode: &str) -> Sampled {
        Sampled {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: dob.parse().unwrap(),
            sex: Some(sex.into()),
            postcode: Some(postcode.into()),
        }
    }

    /// 100 children: 50 called Amelia, the others with given names no two of which
    /// compare at any level; all with different family names, born on different days.
    fn population() -> Vec<Sampled> {
        const LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz";
        (0..100)
            .map(|i: usize| {
                let given = if i < 50 {
                    "Amelia".to_owned()
                } else {
                    // Distinct, unpronounceable and far apart: different first letters
                    // and lengths keep Jaro-Winkler and Soundex from calling them similar.
                    let a = LETTERS[i % 20] as char;
                    let b = LETTERS[(i / 20 + 7) % 20] as char;
                    format!("{a}{b}{}", "y".repeat(i % 7 + 1))
                };
                let sex = if i.is_multiple_of(2) {
                    "female"
                } else {
                    "male"
                };
                let dob = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap()
                    + chrono::Duration::days(i64::try_from(i * 40).unwrap());
                child(
                    &given,
                    &format!("Family{i:03}"),
                    &dob.to_string(),
                    sex,
                    if i < 10 { "ZZ1 1AA" } else { "" },
                )
            })
            .collect()
    }

    #[test]
    fn every_pair_is_counted_when_the_sample_is_small() {
        let sample = population();
        let e = estimate_u(&sample, 10_000, 1, &MatchingSettings::default()).unwrap();
        assert!(e.exhaustive);
        assert_eq!(e.tally.pairs, 4_950);
        // 50 Amelias make 50 × 49 / 2 = 1,225 exact given-name pairs; `u` = 1225/4950.
        assert_eq!(e.tally.given[0], 1_225);
        assert!((e.weights.given_name.exact.u - 1_225.0 / 4_950.0).abs() < 1e-12);
        // m is never estimated here.
        assert_eq!(
            e.weights.given_name.exact.m,
            MatchingSettings::default().weights.given_name.exact.m
        );
        // Half are female, half male: sex agrees in (2 × C(50,2)) / C(100,2) of pairs.
        assert_eq!(e.tally.sex_pairs, 4_950);
        assert_eq!(e.tally.sex_agree, 2 * 1_225);
        // Only the 10 children with a (parseable) postcode make postcode pairs.
        assert_eq!(e.tally.postcode_pairs, 45);
        assert_eq!(e.tally.postcode[0], 45);
        assert_eq!(e.weights.postcode.full.u, 1.0);
        // No two share a birthday: the level is unseen and gets half a pair's share.
        assert_eq!(e.tally.date_of_birth[0], 0);
        assert!(e.unseen.contains(&("date_of_birth", "exact")));
        assert!((e.weights.date_of_birth.exact.u - 0.5 / 4_950.0).abs() < 1e-15);
    }

    #[test]
    fn random_pairs_approach_the_exhaustive_count() {
        let sample = population();
        let exact = estimate_u(&sample, 10_000, 1, &MatchingSettings::default()).unwrap();
        let drawn = estimate_u(&sample, 4_000, 9, &MatchingSettings::default()).unwrap();
        assert!(!drawn.exhaustive);
        assert_eq!(drawn.tally.pairs, 4_000);
        let (a, b) = (
            exact.weights.given_name.exact.u,
            drawn.weights.given_name.exact.u,
        );
        // A binomial proportion of ~0.25 over 4,000 draws: sd ≈ 0.007.
        assert!((a - b).abs() < 0.04, "{a} vs {b}");
        // Deterministic by seed.
        let again = estimate_u(&sample, 4_000, 9, &MatchingSettings::default()).unwrap();
        assert_eq!(drawn.tally, again.tally);
    }

    #[test]
    fn the_adopted_u_is_the_counts_upper_bound_and_lowers_no_weight_by_more_than_two_bits() {
        let sample = population();
        let settings = MatchingSettings::default();
        let configured = &settings.weights;
        let e = estimate_u(&sample, 10_000, 1, &settings).unwrap();
        // 1,225 Amelia pairs of 4,950: (1,225 + 3) / 4,950, far above the configured u.
        assert!((e.adopted.given_name.exact.u - 1_228.0 / 4_950.0).abs() < 1e-12);
        // No two share a birthday: the rule of three's 3 / 4,950 (6.1e-4) is above a
        // quarter of the configured 0.0003, so it stands.
        assert!((e.adopted.date_of_birth.exact.u - 3.0 / 4_950.0).abs() < 1e-15);
        // No pair of family names agrees at all: 3 / 4,950 is below a quarter of the
        // configured exact u (0.005 / 4), which is where the adopted u stops.
        assert_eq!(e.tally.family[0], 0);
        let floor = configured.family_name.exact.u / 4.0;
        assert!(3.0 / 4_950.0 < floor);
        assert!((e.adopted.family_name.exact.u - floor).abs() < 1e-15);
        assert!(
            (configured.family_name.exact.weight() - e.adopted.family_name.exact.weight() + 2.0)
                .abs()
                < 1e-9
        );
        // m is the configured m; the levels not estimated keep their configured u.
        assert_eq!(e.adopted.given_name.exact.m, configured.given_name.exact.m);
        assert_eq!(e.adopted.given_name.typo, configured.given_name.typo);
        assert_eq!(e.adopted.identifiers, configured.identifiers);
        // A bigger allowance lets the count speak further, never below its bound.
        let wider = MatchingSettings {
            estimate_u: crate::settings::EstimateU {
                max_lowering_bits: 10.0,
                ..Default::default()
            },
            ..MatchingSettings::default()
        };
        let e = estimate_u(&sample, 10_000, 1, &wider).unwrap();
        assert!((e.adopted.family_name.exact.u - 3.0 / 4_950.0).abs() < 1e-15);
    }

    #[test]
    fn fewer_than_two_children_give_no_estimate() {
        let one = &population()[..1];
        assert!(estimate_u(one, 100, 1, &MatchingSettings::default()).is_none());
    }

    #[test]
    fn the_printed_section_is_accepted_as_matching_settings() {
        let sample = population();
        let settings = MatchingSettings::default();
        let e = estimate_u(&sample, 10_000, 1, &settings).unwrap();
        #[derive(serde::Deserialize)]
        struct File {
            matching: MatchingSettings,
        }
        let read: File = toml::from_str(&weights_toml(&e).unwrap()).unwrap();
        assert_eq!(read.matching.weights, e.adopted);
        let text = report(&e, &settings);
        assert!(text.contains("4950 pairs compared (every pair)"), "{text}");
        // Every sampled postcode is the same: full agreement has u = 1, which no weight
        // can be made of, and the report says so.
        assert!(text.contains("would be refused"), "{text}");
    }
}
