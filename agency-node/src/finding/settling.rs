//! Settling early: when the narrow blocks' candidates already decide a search, so the
//! broad blocks need not be read.

use super::weights::QueryWeights;
use matching::score::{self, Comparison};
use matching::{MatchingSettings, settings};
use schemas::{ChildQuery, MatchGrade};

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
pub(super) fn settled_without_broad_blocks(
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
        weights.former,
        weights.part,
        weights.typo_bound(settings),
        f.similar.weight(),
        family_disagree,
    ]);
    // A typo may change the phonetic code (`Barker`/`Baqker`).
    let family_other_code = best(&[
        weights.typo_bound(settings),
        // A former family name need not sound like the current one.
        weights.former,
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
    // A child whose names are recorded the other way round may be outside the narrow
    // blocks whatever its date of birth (its family name is the query's given name).
    let straight = given + f64::max(family_other_code + dob_any, family_any + dob_far);
    let transposed = score::transposed_names_bound(settings) + dob_any;
    postcode + sex + identifiers + f64::max(straight, transposed)
}
