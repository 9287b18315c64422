//! What the node's name counts make of the name levels: the frequency-based weights of
//! each candidate's agreeing names, and the most each level can weigh for one query.

use crate::db::{self, DbConnection, DbError};
use matching::score::{self, Comparison};
use matching::{MatchingSettings, given_names, settings};

/// The most each name level can weigh for this query at this node, for the bounds that
/// leave rows uncompared ([`Hopeless`]) and searches settled on the narrow blocks
/// ([`settled_without_broad_blocks`]). Every weight is the one a candidate would get from
/// [`weigh_by_name_counts`] (the same counts, the same formula), or above it.
///
/// [`Hopeless`]: super::pruning::Hopeless
/// [`settled_without_broad_blocks`]: super::settling::settled_without_broad_blocks
#[derive(Debug, Clone, Copy)]
pub(super) struct QueryWeights {
    /// Exact agreement on the query's given and family name: a child agreeing exactly
    /// carries the query's name, so this is the weight it would get.
    pub(super) given: f64,
    pub(super) family: f64,
    /// The most a `part` agreement can weigh: over the query's own forms (its whole name
    /// and its parts), each priced by the children carrying it as
    /// [`weigh_by_name_counts`] does; minus infinity when no child here could agree so.
    pub(super) part: f64,
    /// What a `typo` agreement weighs (one weight for every candidate: it depends on the
    /// query's name only), once read ([`query_typo_weight`]); `None`: not read, bound by
    /// the level's configured weight (see [`family_typo_weight`]).
    pub(super) typo: Option<f64>,
    /// The most a `former` family-name agreement can weigh here: the level's weight
    /// when some child here was known by a former family name with the query's phonetic
    /// code (one indexed read of `child_former_family_keys`), minus infinity when none
    /// was, since then no candidate can agree so ([`former_bound`]).
    pub(super) former: f64,
}

/// [`QueryWeights::former`]: the level's configured weight when a child here may carry a
/// former family name.
pub(super) fn former_bound(settings: &MatchingSettings, any_held: bool) -> f64 {
    if any_held {
        settings.weights.family_name.former.weight()
    } else {
        f64::NEG_INFINITY
    }
}

impl QueryWeights {
    pub(super) fn typo_bound(&self, settings: &MatchingSettings) -> f64 {
        self.typo
            .unwrap_or_else(|| settings.weights.family_name.typo.weight())
    }
}

/// [`QueryWeights`] for this query: the counts are read only for a name no candidate
/// already carries the weight of, and for the query's family-name forms; `family_keys`
/// are the query's phonetic family keys ([`matching::BlockingKeys::family`]).
pub(super) fn query_name_weights(
    conn: &mut DbConnection,
    demographics: &schemas::SearchDemographics,
    family_keys: &[String],
    settings: &MatchingSettings,
    children: u64,
    compared: &[(String, Comparison)],
) -> Result<QueryWeights, DbError> {
    use db::name_counts::{NameKind, count_key, counts, family_parts};
    let w = &settings.weights;
    let former = former_bound(
        settings,
        db::children::any_former_family_key(conn, family_keys)?,
    );
    if !w.frequency_based {
        return Ok(QueryWeights {
            given: w.given_name.exact.weight(),
            family: w.family_name.exact.weight(),
            part: w.family_name.part.weight(),
            typo: Some(w.family_name.typo.weight()),
            former,
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
        demographics.given(),
        w.given_name.exact,
        compared
            .iter()
            .find_map(|(_, c)| c.name_weights.given_exact),
    )?;
    let family = one(
        NameKind::Family,
        demographics.family(),
        w.family_name.exact,
        compared
            .iter()
            .find_map(|(_, c)| c.name_weights.family_exact),
    )?;
    // A `part` agreement agrees on one of the query's forms: with a single-part query,
    // its name, carried as a part; with a double-barrelled one, either part (or the whole
    // name), carried as a part or as a whole name (see [`score::PartAgreed`]).
    let whole = count_key(demographics.family());
    let parts = family_parts(demographics.family());
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
        former,
    })
}

/// What a `typo` agreement with the query's family name weighs at this node, as
/// [`weigh_by_name_counts`] prices it: by the children carrying a family name one
/// keystroke from the query's (four letters or more); minus infinity when there are none
/// (no child here could agree so).
pub(super) fn query_typo_weight(
    conn: &mut DbConnection,
    demographics: &schemas::SearchDemographics,
    settings: &MatchingSettings,
    children: u64,
) -> Result<f64, DbError> {
    let w = &settings.weights;
    if !w.frequency_based {
        return Ok(w.family_name.typo.weight());
    }
    let asked = db::name_counts::count_key(demographics.family());
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
pub(super) fn family_typo_weight(settings: &MatchingSettings, others: u64, children: u64) -> f64 {
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
    let near: Vec<String> = given_names::one_edit_variants(asked)
        .into_iter()
        .filter(|v| v.chars().count() >= score::FAMILY_TYPO_MIN_LEN)
        .collect();
    let counts = db::name_counts::counts(conn, db::name_counts::NameKind::Family, &near)?;
    Ok(counts.values().sum::<i64>().max(0) as u64)
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
///
/// [`decide`]: super::deciding::decide
pub(super) fn weigh_by_name_counts(
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
