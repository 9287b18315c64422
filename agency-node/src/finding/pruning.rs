//! Pruning: the broad-block rows a search can leave uncompared, because no score their
//! names could give them would count in the decision.

use super::weights::QueryWeights;
use crate::db::models::CandidateRow;
use matching::score::{self, Comparison, sex_from_str};
use matching::{MatchingSettings, normalise};
use schemas::Sex;

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
///
/// [`decide`]: super::deciding::decide
/// [`query_name_weights`]: super::weights::query_name_weights
/// [`settled_without_broad_blocks`]: super::settling::settled_without_broad_blocks
pub(super) struct Hopeless {
    threshold: f64,
    /// The most each name level can weigh for this query here.
    weights: QueryWeights,
    /// [`QueryWeights::typo_bound`].
    typo_bound: f64,
    /// Best scores already worked out, by the row's other fields' levels and family
    /// level (`None`: any).
    best: Vec<(Comparison, Option<score::FamilyLevel>, f64)>,
    /// Rows left out (for tests).
    pub(super) left_out: usize,
}

impl Hopeless {
    pub(super) fn new(settings: &MatchingSettings, children: u64, weights: QueryWeights) -> Self {
        Self {
            // `grade_at` grades `score - shift >= possible`; a best score below this by
            // more than rounding cannot.
            threshold: settings.thresholds.possible + settings.thresholds.shift_for(children)
                - 1e-9,
            typo_bound: weights.typo_bound(settings),
            weights,
            best: Vec::new(),
            left_out: 0,
        }
    }

    /// Whether `child` cannot count in [`decide`] (then it is counted as left out).
    ///
    /// [`decide`]: super::deciding::decide
    pub(super) fn cannot_count(
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
            date_of_birth: score::compare_known_dob(
                d.date_of_birth,
                crate::db::models::known_date_of_birth(child.date_of_birth),
            ),
            postcode: asked.compare_postcode(child.postcode.as_deref()),
            sex_agrees: match (
                known(d.sex),
                known(child.sex.as_deref().and_then(sex_from_str)),
            ) {
                (Some(a), Some(b)) => Some(a == b),
                _ => None,
            },
            upn_differs: differs(d.upn, child.upn.as_deref())
                && !d.upn.is_some_and(|u| child.known_by_upn(u)),
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
            transposed: false,
            family_former: false,
        };
        if self.best(&others, None, settings) < self.threshold {
            self.left_out += 1;
            return true;
        }
        let mut family = asked.compare_family(&child.family_name, settings.similar_at);
        // A family name one keystroke off may still count as a typo when the given name
        // agrees (`score::compare` decides that after the given name): bound it so.
        if matches!(family, FamilyLevel::Similar | FamilyLevel::Disagree)
            && score::family_typo_possible(
                GivenLevel::Exact,
                family,
                others.date_of_birth,
                others.postcode,
            )
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
        // A former family name of the row's may agree whatever its current one does.
        if self.weights.former > f64::NEG_INFINITY {
            for given_name in [GivenLevel::Exact, GivenLevel::Alias, GivenLevel::Typo] {
                best = best.max(
                    Comparison {
                        given_name,
                        family_name: FamilyLevel::Exact,
                        family_former: true,
                        ..others.clone()
                    }
                    .score(settings),
                );
            }
        }
        // Names recorded the other way round are compared crossed, whatever the row's
        // own family level: at best both exact, at their configured weights.
        best = best.max(
            Comparison {
                given_name: GivenLevel::Exact,
                family_name: FamilyLevel::Exact,
                transposed: true,
                ..others.clone()
            }
            .score(settings),
        );
        self.best.push((others.clone(), family, best));
        best
    }
}
