//! Finding a child in this node's own records: the searches read their candidates from
//! the node's database and apply the `matching` crate's rules to them.
//!
//! 1. Identifiers first: a UPN or NHS number that agrees is `certain`, unless the
//!    demographics flatly contradict it (then that child is not linked).
//! 2. Otherwise demographics, scored Fellegi–Sunter style over candidates read from
//!    indexed blocking keys (see [`matching::keys`]), graded by configurable thresholds.
//! 3. Never a silent merge: two candidates close in score are `ambiguous`, `possible`
//!    candidates are reported without a reference, and a child who differs from the
//!    searched-for one only by given name (a twin) is never linked.
//!
//! A wrong link would show a practitioner another child's history, so every doubt
//! resolves to "not linked". The rules, weights and thresholds are in `docs/matching.md`.
//!
//! By job: [`candidates`] reads and compares rows, [`weights`] prices names by the
//! node's counts, [`pruning`] leaves hopeless rows uncompared, [`settling`] leaves the
//! broad blocks unread when the narrow ones decide, and [`deciding`] gives the answer.

mod candidates;
mod deciding;
pub mod estimating;
mod pruning;
mod settling;
mod weights;

use crate::db::{self, DbConnection, DbError};
use candidates::{
    RowScorer, asked_of, compare, conflicting_identifier, conflicting_upn, identifier_matches,
    score_rows,
};
use deciding::{ByIdentifier, Stated, decide, not_held, settle_by_identifier};
use matching::em::PairLevels;
use matching::keyed;
use matching::score::Comparison;
use matching::{MatchingKey, MatchingSettings, search_blocking_keys};
use pruning::Hopeless;
use schemas::{ChildQuery, MatchResponse};
use settling::settled_without_broad_blocks;
use weights::{QueryWeights, query_name_weights, query_typo_weight, weigh_by_name_counts};

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

/// Where a search notes the comparison levels of the pairs it compared (for estimating
/// *m*, [`estimating`]), and how many at most.
pub struct PairNotes<'a> {
    pub into: &'a mut Vec<PairLevels>,
    pub limit: usize,
}

/// [`find_with`], noting the levels of every pair compared.
pub fn find_noting(
    conn: &mut DbConnection,
    query: &ChildQuery,
    settings: &MatchingSettings,
    notes: PairNotes<'_>,
) -> Result<MatchResponse, DbError> {
    find_searching(conn, query, settings, true, true, Some(notes))
}

/// Decides, first noting the compared pairs' levels when asked to.
fn decide_noting(
    compared: Vec<(String, Comparison)>,
    settings: &MatchingSettings,
    children: u64,
    stated: Stated,
    notes: Option<PairNotes<'_>>,
) -> MatchResponse {
    if let Some(notes) = notes {
        estimating::note_pairs(&compared, notes.limit, notes.into);
    }
    decide(compared, settings, children, stated)
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
    find_searching(conn, query, settings, settle_early, prune, None)
}

/// [`find_reading_pruned`], noting the compared pairs' levels when `notes` is given.
fn find_searching(
    conn: &mut DbConnection,
    query: &ChildQuery,
    settings: &MatchingSettings,
    settle_early: bool,
    prune: bool,
    notes: Option<PairNotes<'_>>,
) -> Result<MatchResponse, DbError> {
    let by_identifier = identifier_matches(conn, query)?;
    let asked = asked_of(query);
    let found: Vec<ByIdentifier> = by_identifier
        .iter()
        .map(|(child, fields)| ByIdentifier {
            id: child.id.clone(),
            fields: fields.clone(),
            comparison: asked.as_ref().map(|asked| {
                let mut comparison = compare(asked, child, settings);
                // Found by a former UPN the query gives: its UPN is not against it.
                comparison.upn_differs &= conflicting_upn(query, child);
                comparison
            }),
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
    let keys = search_blocking_keys(demographics);
    let names = |n: &str| !matching::normalise::NormalName::new(n).joined.is_empty();
    let stated = Stated {
        given_name: names(demographics.given()),
        family_name: names(demographics.family()),
        date_of_birth: demographics.date_of_birth.is_some(),
    };
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
    let mut weights = query_name_weights(
        conn,
        demographics,
        &keys.family,
        settings,
        children,
        &compared,
    )?;
    // A partial search reads every block it has keys for: the bound of settling early
    // assumes a family name and a date of birth to agree on.
    if settle_early && complete && demographics.complete().is_some() {
        let settled = |w: &QueryWeights| {
            settled_without_broad_blocks(&compared, query, settings, children, w)
        };
        if settled(&weights) {
            return Ok(decide_noting(compared, settings, children, stated, notes));
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
                return Ok(decide_noting(compared, settings, children, stated, notes));
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
    Ok(decide_noting(compared, settings, children, stated, notes))
}

#[cfg(test)]
thread_local! {
    /// Searches on this thread that read the broad blocks (tests of settling early).
    static BROAD_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
    find_keyed_noting(conn, query, key, settings, None)
}

/// [`find_keyed`], noting the levels of every pair compared when `notes` is given.
pub fn find_keyed_noting(
    conn: &mut DbConnection,
    query: &schemas::KeyedChildQuery,
    key: Option<&MatchingKey>,
    settings: &MatchingSettings,
    notes: Option<PairNotes<'_>>,
) -> Result<MatchResponse, DbError> {
    let by_identifier = db::keyed::identifier_matches(conn, &query.identifiers, &query.key_id)?;
    let found: Vec<ByIdentifier> = by_identifier
        .iter()
        .map(|(child, fields)| {
            let comparison = keyed::compare(
                query,
                child.demographics.as_ref(),
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
    let stated = Stated {
        given_name: !demographics.given_name.exact.is_empty(),
        family_name: !demographics.family_name.exact.is_empty(),
        date_of_birth: !demographics.date_of_birth.is_missing(),
    };
    // A search without a date of birth reads no date block (an empty token would read
    // the children held without one).
    let dates: Vec<String> = std::iter::once(demographics.date_of_birth.exact.clone())
        .chain(demographics.date_of_birth.swapped.clone())
        .filter(|d| !d.is_empty())
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
            child.demographics.as_ref(),
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
    Ok(decide_noting(compared, settings, children, stated, notes))
}

#[cfg(test)]
mod counted_levels_tests;
#[cfg(test)]
mod estimating_tests;
#[cfg(test)]
mod hopeless_tests;
#[cfg(test)]
mod partial_tests;
#[cfg(test)]
mod slip_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typo_tests;
