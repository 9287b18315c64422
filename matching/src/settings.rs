//! The `[matching]` section of the node configuration: the m and u probabilities behind
//! each agreement weight, the grade thresholds and the ambiguity margin. Every value has
//! a documented default (see `docs/matching.md`); a node changes them only with evidence
//! from its own data.

use serde::{Deserialize, Serialize};

/// The two probabilities of one agreement level, from Fellegi and Sunter (1969):
/// `m`, how often a true match shows this level; `u`, how often two different children
/// do. The level's weight is `log2(m / u)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub m: f64,
    pub u: f64,
}

impl Agreement {
    pub const fn new(m: f64, u: f64) -> Self {
        Self { m, u }
    }

    pub fn weight(&self) -> f64 {
        (self.m / self.u).log2()
    }
}

/// Weight of the "disagree" level of a field: what is left of m and u once every
/// agreeing level has taken its share.
pub fn disagreement_weight(levels: &[Agreement]) -> f64 {
    let m: f64 = levels.iter().map(|l| l.m).sum();
    let u: f64 = levels.iter().map(|l| l.u).sum();
    ((1.0 - m) / (1.0 - u)).log2()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GivenNameWeights {
    pub exact: Agreement,
    /// A known short form or spelling (`Alfie`/`Alfred`), or one part of a hyphenated
    /// given name.
    pub alias: Agreement,
    /// One keystroke off, taken for a typo (not two known names; family name and date
    /// of birth agree; no other child at the node with that family name and date).
    pub typo: Agreement,
    /// Same phonetic code, or Jaro-Winkler at or above `similar_at`.
    pub similar: Agreement,
}

impl Default for GivenNameWeights {
    fn default() -> Self {
        Self {
            // The typo level's share of true matches comes from the exact one (0.90
            // before it existed), so a given name that disagrees costs what it did.
            exact: Agreement::new(0.88, 0.01),
            alias: Agreement::new(0.04, 0.002),
            // About one record in forty has a mistyped first name; two different
            // children's names are rarely one keystroke apart once pairs of known names
            // are excluded.
            typo: Agreement::new(0.025, 0.0005),
            similar: Agreement::new(0.03, 0.01),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FamilyNameWeights {
    pub exact: Agreement,
    /// One part of a double-barrelled name agrees (`Wood-Allen`/`Allen`).
    pub part: Agreement,
    /// One keystroke off (names of four letters or more), with the given name and the
    /// date of birth agreeing.
    pub typo: Agreement,
    /// Same phonetic code, or Jaro-Winkler at or above `similar_at`.
    pub similar: Agreement,
    /// The query's family name is one the held child was known by before (a former
    /// family name the agency records), and not its current one. Not part of the
    /// disagreement level's sum: it is carved from the true matches whose current name
    /// disagrees, at nodes that record former names.
    pub former: Agreement,
}

impl Default for FamilyNameWeights {
    fn default() -> Self {
        Self {
            exact: Agreement::new(0.88, 0.005),
            part: Agreement::new(0.04, 0.001),
            // The typo level's share of true matches comes from the similar one (0.03
            // before it existed, typos included), so a family name that disagrees costs
            // what it did. Two different children's family names are one keystroke
            // apart about as rarely as their given names (the given typo level's u).
            typo: Agreement::new(0.02, 0.0005),
            similar: Agreement::new(0.01, 0.005),
            // Nearly the family name: a stranger carries the query's family name as a
            // former one about a tenth as often as as a current one.
            former: Agreement::new(0.03, 0.0005),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DateOfBirthWeights {
    pub exact: Agreement,
    pub day_month_swapped: Agreement,
    /// Exactly one of the eight digits `YYYYMMDD` differs.
    pub one_digit: Agreement,
    pub same_month: Agreement,
}

impl Default for DateOfBirthWeights {
    fn default() -> Self {
        Self {
            exact: Agreement::new(0.95, 0.0003),
            day_month_swapped: Agreement::new(0.01, 0.0001),
            one_digit: Agreement::new(0.02, 0.004),
            same_month: Agreement::new(0.01, 0.005),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostcodeWeights {
    pub full: Agreement,
    /// Outward code and first inward digit (`ZZ1 4`).
    pub sector: Agreement,
    /// Outward code (`ZZ1`).
    pub district: Agreement,
}

impl Default for PostcodeWeights {
    fn default() -> Self {
        Self {
            full: Agreement::new(0.75, 0.001),
            sector: Agreement::new(0.07, 0.01),
            district: Agreement::new(0.06, 0.05),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SexWeights {
    pub agree: Agreement,
}

impl Default for SexWeights {
    fn default() -> Self {
        Self {
            agree: Agreement::new(0.97, 0.5),
        }
    }
}

/// Identifiers that both sides hold and that differ. Agreement never reaches the score:
/// an agreeing identifier is decided before scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifierWeights {
    /// UPNs change (a temporary UPN replaced, a move between authorities).
    pub upn_differs: Agreement,
    /// NHS numbers almost never change.
    pub nhs_number_differs: Agreement,
}

impl Default for IdentifierWeights {
    fn default() -> Self {
        Self {
            upn_differs: Agreement::new(0.05, 0.999),
            nhs_number_differs: Agreement::new(0.01, 0.999),
        }
    }
}

/// Value-specific u for exact agreement of a given or family name (Winkler's
/// frequency-based weights): two different children agree on a name about as often as
/// the name is carried, so agreeing on a rare name is stronger evidence than agreeing on
/// a common one. The share is estimated from the node's own counts
/// (the node's `name_counts` table), smoothed towards the level's configured `u`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrequencyWeights {
    /// Pseudo-children carrying the level's configured `u` added to the node's own
    /// counts: `u_v = (count + prior_children * u) / (children + prior_children)`. A
    /// small node's counts say little, so its weights stay near the configured ones; a
    /// large node's follow its names.
    pub prior_children: f64,
    /// Floor of `u_v`: however rare a name, agreeing on it weighs at most `log2(m /
    /// min_u)` (a name seen once may be rarer at this node than in the population).
    pub min_u: f64,
}

impl Default for FrequencyWeights {
    fn default() -> Self {
        Self {
            prior_children: 1000.0,
            min_u: 0.0001,
        }
    }
}

impl FrequencyWeights {
    /// The u of exact agreement on a name `count` of the node's `children` children
    /// carry, for a level configured as `level`. Never above the level's `m`: agreeing
    /// on even the commonest name is no evidence against a match.
    pub fn exact_u(&self, level: Agreement, count: u64, children: u64) -> f64 {
        let u = (count as f64 + self.prior_children * level.u)
            / (children.max(count) as f64 + self.prior_children);
        u.clamp(self.min_u.min(level.m), level.m)
    }

    /// The weight `log2(m / u_v)` of that agreement.
    pub fn exact_weight(&self, level: Agreement, count: u64, children: u64) -> f64 {
        (level.m / self.exact_u(level, count, children)).log2()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub given_name: GivenNameWeights,
    pub family_name: FamilyNameWeights,
    pub date_of_birth: DateOfBirthWeights,
    pub postcode: PostcodeWeights,
    pub sex: SexWeights,
    pub identifiers: IdentifierWeights,
    /// Weigh exact agreement of given and family name by how common the name is at the
    /// node (see [`FrequencyWeights`]) instead of one `u` for every name. On by default.
    pub frequency_based: bool,
    pub frequency: FrequencyWeights,
    /// Share of true matches whose given and family name are recorded the other way
    /// round (`Okafor Amelia` for `Amelia Okafor`). A pair whose names agree only so
    /// crossed scores the crossed levels at their configured weights plus
    /// `log2(transposed_names)`, which is negative (see `docs/matching.md`).
    pub transposed_names: f64,
}

/// Every agreeing level whose *m* a node estimates (`crate::em`), by field and level name,
/// fields in the order of [`crate::em::PairLevels`] and each field's levels best first:
/// one table, read for the estimate, its gauges and its `[matching.weights]` section, and
/// written when the estimate is applied.
macro_rules! agreeing_levels {
    ($($field:ident . $level:ident),* $(,)?) => {
        impl Weights {
            /// Every agreeing level EM estimates, as (field, level, its *m* and *u*).
            pub fn agreeing_levels(&self) -> [(&'static str, &'static str, Agreement); 16] {
                [$((stringify!($field), stringify!($level), self.$field.$level)),*]
            }

            /// [`Weights::agreeing_levels`], to set.
            pub fn agreeing_levels_mut(
                &mut self,
            ) -> [(&'static str, &'static str, &mut Agreement); 16] {
                [$((stringify!($field), stringify!($level), &mut self.$field.$level)),*]
            }
        }
    };
}

agreeing_levels!(
    given_name.exact,
    given_name.alias,
    given_name.typo,
    given_name.similar,
    family_name.exact,
    family_name.part,
    family_name.typo,
    family_name.similar,
    date_of_birth.exact,
    date_of_birth.day_month_swapped,
    date_of_birth.one_digit,
    date_of_birth.same_month,
    postcode.full,
    postcode.sector,
    postcode.district,
    sex.agree,
);

impl Weights {
    /// What recording the names the other way round costs: `log2(transposed_names)`.
    pub fn transposed_weight(&self) -> f64 {
        self.transposed_names.log2()
    }
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            given_name: GivenNameWeights::default(),
            family_name: FamilyNameWeights::default(),
            date_of_birth: DateOfBirthWeights::default(),
            postcode: PostcodeWeights::default(),
            sex: SexWeights::default(),
            identifiers: IdentifierWeights::default(),
            frequency_based: true,
            frequency: FrequencyWeights::default(),
            // About one record in fifty: FEBRL's generator swaps one in twelve to
            // twenty (docs/benchmarks.md), English agency data far fewer.
            transposed_names: 0.02,
        }
    }
}

/// Scores (sums of log2 weights) at which a candidate reaches each grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Unset by default: demographics alone never make a match `certain`; only an
    /// agreeing UPN or NHS number does.
    pub certain: Option<f64>,
    pub probable: f64,
    pub possible: f64,
    /// The thresholds hold as configured for a node of this many children, and move by
    /// `log2(children / reference_children)` for any other size: Fellegi–Sunter's prior
    /// odds that a given record is the searched-for child are 1 : children, so twice the
    /// children means twice the chance that a stranger agrees by coincidence, and half
    /// as many half the chance. The grades then stand for the same posterior odds at
    /// every size.
    pub reference_children: u64,
    /// A node smaller than this keeps this size's thresholds (they fall no further).
    /// At the default 1,000 (3.32 bits below the reference's), `probable` stays above
    /// what a given name and a date of birth with sex can weigh at a node that small
    /// (at most 19.9 bits, a name no other child here carries): a link always needs a
    /// family name or an address to agree as well. See `docs/matching.md`, "Grades".
    pub floor_children: u64,
}

impl Thresholds {
    /// How far the thresholds move at a node of `children` children: up above
    /// `reference_children`, down below it, never below `floor_children`'s.
    pub fn shift_for(&self, children: u64) -> f64 {
        let children = children.max(self.floor_children).max(1);
        (children as f64 / self.reference_children as f64).log2()
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            certain: None,
            // Name and date of birth agreeing, with the postcode in another district
            // (the family moved) or a new family name at the same address, reach it;
            // see `docs/matching.md` for the odds this stands for.
            probable: 23.5,
            possible: 15.0,
            reference_children: 10_000,
            floor_children: 1_000,
        }
    }
}

/// What a gateway sends a node to find a child.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchingMode {
    /// Plain demographics and identifiers.
    #[default]
    Plain,
    /// Keyed encodings only (HMAC tokens and Bloom filters); see `docs/matching.md`.
    Keyed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingSettings {
    /// `plain` (default) or `keyed`. A node in keyed mode refuses plain match queries.
    pub mode: MatchingMode,
    /// File holding the base64 of the federation's 32-byte matching key. Needed in keyed
    /// mode; when given in plain mode the node keeps its keyed encodings current too, so
    /// switching modes needs no re-encoding.
    pub key_file: Option<std::path::PathBuf>,
    /// Dice similarity of two names' balanced Bloom filters from which they count as
    /// `similar` in keyed mode (the keyed stand-in for `similar_at`).
    pub keyed_similar_at: f64,
    pub thresholds: Thresholds,
    /// Two graded candidates whose scores differ by less than this are ambiguous: the
    /// node links neither.
    pub ambiguity_margin: f64,
    /// Jaro-Winkler similarity from which two names count as `similar`.
    pub similar_at: f64,
    /// Most children read from each blocking key for one search.
    pub max_candidates_per_block: i64,
    pub weights: Weights,
    /// Estimating *m* from the node's own searches (`[matching.estimate_m]`).
    pub estimate_m: EstimateM,
    /// Estimating *u* from the node's own children (`[matching.estimate_u]`).
    pub estimate_u: EstimateU,
}

/// How a node estimates the *u* of its weights from pairs of its own children (see
/// `docs/matching.md`, "u from the node's own children"). The configured *u* stay the
/// fallback, and the estimate never lowers one by more than `max_lowering_bits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateU {
    /// Off: every search is scored with the configured *u*.
    pub enabled: bool,
    /// Fewest complete children (a given and a family name and a date of birth) the
    /// node must hold for an estimate; below, the configured *u* stay.
    pub min_children: usize,
    /// Most children read (a uniform random sample of the complete ones).
    pub sample: i64,
    /// Most pairs compared (every pair of the sample when there are fewer).
    pub max_pairs: u64,
    /// Estimate again once the node's size has moved by this share since the last one.
    pub refresh_growth: f64,
    /// The most an estimate may lower a level's *u* below the configured value, in bits
    /// of weight (2: a quarter of the configured *u*).
    pub max_lowering_bits: f64,
}

impl Default for EstimateU {
    fn default() -> Self {
        Self {
            enabled: true,
            min_children: 200,
            sample: 5_000,
            max_pairs: 500_000,
            refresh_growth: 0.1,
            max_lowering_bits: 2.0,
        }
    }
}

/// How a node estimates the *m* of its weights by expectation–maximisation over the
/// comparison levels of its recent searches (see `docs/matching.md`, "m by
/// expectation–maximisation"). The configured *m* stay the fallback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimateM {
    /// Off: every search is scored with the configured *m*.
    pub enabled: bool,
    /// Re-estimate after this many new searches that compared at least one child.
    pub every_searches: u64,
    /// The most recent pairs kept (levels only), the oldest dropped first.
    pub max_pairs: usize,
    /// The most pairs one search adds (a search reading more keeps an even spread).
    pub max_pairs_per_search: usize,
}

impl Default for EstimateM {
    fn default() -> Self {
        Self {
            enabled: true,
            every_searches: 200,
            max_pairs: 50_000,
            max_pairs_per_search: 300,
        }
    }
}

impl Default for MatchingSettings {
    fn default() -> Self {
        Self {
            mode: MatchingMode::Plain,
            key_file: None,
            keyed_similar_at: 0.9,
            thresholds: Thresholds::default(),
            ambiguity_margin: 3.0,
            similar_at: 0.92,
            max_candidates_per_block: 200,
            weights: Weights::default(),
            estimate_m: EstimateM::default(),
            estimate_u: EstimateU::default(),
        }
    }
}

impl MatchingSettings {
    /// Refuses settings that would make the weights meaningless or the grades unsafe.
    pub fn validate(&self) -> Result<(), String> {
        let w = &self.weights;
        let fields: [(&str, Vec<Agreement>); 7] = [
            (
                "given_name",
                vec![
                    w.given_name.exact,
                    w.given_name.alias,
                    w.given_name.typo,
                    w.given_name.similar,
                ],
            ),
            (
                "family_name",
                vec![
                    w.family_name.exact,
                    w.family_name.part,
                    w.family_name.typo,
                    w.family_name.similar,
                ],
            ),
            ("family_name.former", vec![w.family_name.former]),
            (
                "date_of_birth",
                vec![
                    w.date_of_birth.exact,
                    w.date_of_birth.day_month_swapped,
                    w.date_of_birth.one_digit,
                    w.date_of_birth.same_month,
                ],
            ),
            (
                "postcode",
                vec![w.postcode.full, w.postcode.sector, w.postcode.district],
            ),
            ("sex", vec![w.sex.agree]),
            (
                "identifiers",
                vec![w.identifiers.upn_differs, w.identifiers.nhs_number_differs],
            ),
        ];
        for (field, levels) in &fields {
            for level in levels {
                let in_range = |p: f64| p > 0.0 && p < 1.0;
                if !in_range(level.m) || !in_range(level.u) {
                    return Err(format!(
                        "matching.weights.{field}: m and u must be between 0 and 1, exclusive"
                    ));
                }
            }
            // Identifier levels are alternatives of different fields, not shares of one.
            if *field != "identifiers" {
                let m: f64 = levels.iter().map(|l| l.m).sum();
                let u: f64 = levels.iter().map(|l| l.u).sum();
                if m >= 1.0 || u >= 1.0 {
                    return Err(format!(
                        "matching.weights.{field}: the m (and the u) of its levels must sum to less than 1"
                    ));
                }
            }
        }
        if !(w.transposed_names > 0.0 && w.transposed_names < 1.0) {
            return Err(
                "matching.weights.transposed_names must be between 0 and 1, exclusive".into(),
            );
        }
        let f = &w.frequency;
        if !(f.prior_children.is_finite() && f.prior_children >= 0.0) {
            return Err("matching.weights.frequency.prior_children must be zero or more".into());
        }
        if !(f.min_u > 0.0 && f.min_u < 1.0) {
            return Err(
                "matching.weights.frequency.min_u must be between 0 and 1, exclusive".into(),
            );
        }
        let t = &self.thresholds;
        if !(t.possible.is_finite() && t.probable.is_finite() && t.possible <= t.probable) {
            return Err("matching.thresholds: possible must not exceed probable".into());
        }
        if t.certain.is_some_and(|c| !c.is_finite() || c < t.probable) {
            return Err("matching.thresholds: certain must not be below probable".into());
        }
        if t.reference_children == 0 {
            return Err("matching.thresholds.reference_children must be at least 1".into());
        }
        if t.floor_children == 0 || t.floor_children > t.reference_children {
            return Err(
                "matching.thresholds.floor_children must be between 1 and reference_children"
                    .into(),
            );
        }
        if !(self.ambiguity_margin.is_finite() && self.ambiguity_margin >= 0.0) {
            return Err("matching.ambiguity_margin must be zero or more".into());
        }
        if !(0.5..=1.0).contains(&self.similar_at) {
            return Err("matching.similar_at must be between 0.5 and 1".into());
        }
        if !(0.5..=1.0).contains(&self.keyed_similar_at) {
            return Err("matching.keyed_similar_at must be between 0.5 and 1".into());
        }
        if self.mode == MatchingMode::Keyed && self.key_file.is_none() {
            return Err("matching.mode = \"keyed\" needs matching.key_file".into());
        }
        if !(1..=10_000).contains(&self.max_candidates_per_block) {
            return Err("matching.max_candidates_per_block must be between 1 and 10000".into());
        }
        let e = &self.estimate_m;
        if e.every_searches == 0 {
            return Err("matching.estimate_m.every_searches must be at least 1".into());
        }
        if e.max_pairs == 0 || e.max_pairs_per_search == 0 {
            return Err(
                "matching.estimate_m.max_pairs and max_pairs_per_search must be at least 1".into(),
            );
        }
        let e = &self.estimate_u;
        if e.min_children < 2 || e.sample < 2 || e.max_pairs == 0 {
            return Err(
                "matching.estimate_u: min_children and sample must be at least 2, max_pairs at least 1"
                    .into(),
            );
        }
        if !(e.refresh_growth.is_finite() && e.refresh_growth > 0.0) {
            return Err("matching.estimate_u.refresh_growth must be more than 0".into());
        }
        if !(e.max_lowering_bits.is_finite() && e.max_lowering_bits >= 0.0) {
            return Err("matching.estimate_u.max_lowering_bits must be zero or more".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        MatchingSettings::default().validate().unwrap();
    }

    #[test]
    fn weights_are_log2_likelihood_ratios() {
        assert!((Agreement::new(0.9, 0.01).weight() - 90f64.log2()).abs() < 1e-9);
        let levels = [Agreement::new(0.9, 0.01)];
        assert!((disagreement_weight(&levels) - (0.1f64 / 0.99).log2()).abs() < 1e-9);
    }

    #[test]
    fn a_rare_name_weighs_more_than_a_common_one() {
        let f = FrequencyWeights::default();
        let level = GivenNameWeights::default().exact;
        let flat = level.weight();
        // At a node of 10,000 children: a name carried by 2 of them, and one carried by
        // 300 (3 %, a very common name).
        let rare = f.exact_weight(level, 2, 10_000);
        let common = f.exact_weight(level, 300, 10_000);
        assert!(rare > flat + 2.0, "rare {rare} vs flat {flat}");
        assert!(common < flat - 1.0, "common {common} vs flat {flat}");
        // Never more than the floor allows, never below zero.
        assert!(f.exact_weight(level, 1, 100_000_000) <= (level.m / f.min_u).log2() + 1e-9);
        assert!(f.exact_weight(level, 9_999, 10_000) >= 0.0);
        // A small node's counts say little: its weights stay near the configured ones.
        let small = f.exact_weight(level, 1, 20);
        assert!((small - flat).abs() < 0.2, "small {small} vs flat {flat}");
    }

    #[test]
    fn a_floor_above_the_reference_is_refused() {
        let mut s = MatchingSettings::default();
        s.thresholds.floor_children = s.thresholds.reference_children + 1;
        assert!(s.validate().is_err());
        s.thresholds.floor_children = 0;
        assert!(s.validate().is_err());
        s.thresholds.floor_children = s.thresholds.reference_children;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn a_partial_section_keeps_the_other_defaults() {
        let s: MatchingSettings = toml_like(
            r#"{"thresholds": {"probable": 27.0}, "weights": {"sex": {"agree": {"m": 0.9, "u": 0.5}}}}"#,
        );
        assert_eq!(s.thresholds.probable, 27.0);
        assert_eq!(s.thresholds.possible, 15.0);
        assert_eq!(s.weights.sex.agree.m, 0.9);
        assert_eq!(s.weights.given_name, GivenNameWeights::default());
    }

    #[test]
    fn unsafe_settings_are_refused() {
        let mut s = MatchingSettings::default();
        s.thresholds.possible = 30.0;
        assert!(s.validate().is_err());
        let mut s = MatchingSettings::default();
        s.weights.postcode.full = Agreement::new(0.95, 0.001);
        assert!(s.validate().is_err(), "postcode m sums past 1");
        let mut s = MatchingSettings::default();
        s.weights.sex.agree.u = 0.0;
        assert!(s.validate().is_err());
        let mut s = MatchingSettings::default();
        s.thresholds.certain = Some(10.0);
        assert!(s.validate().is_err());
    }

    fn toml_like(json: &str) -> MatchingSettings {
        serde_json::from_str(json).unwrap()
    }
}
