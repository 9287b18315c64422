//! Deciding a search's answer from its scored candidates: the identifiers first, then
//! the linking rules (grades, the ambiguity margin, twins).

use matching::MatchingSettings;
use matching::score::{self, Comparison};
use schemas::{MAX_CANDIDATES, MatchCandidate, MatchGrade, MatchOutcome, MatchResponse};

/// A child whose UPN or NHS number equals the query's.
pub(super) struct ByIdentifier {
    pub(super) id: String,
    /// The identifiers that agreed.
    pub(super) fields: Vec<String>,
    /// How the demographics compare, when the query has any.
    pub(super) comparison: Option<Comparison>,
    /// Another identifier both sides hold differs.
    pub(super) conflicting: bool,
}

/// Step 1, identifiers: the answer when they settle it, otherwise the children whose
/// demographics contradict their agreeing identifier (never to be linked).
pub(super) fn settle_by_identifier(found: &[ByIdentifier]) -> Result<MatchResponse, Vec<String>> {
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
                            disagreed: Vec::new(),
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
    use score::GivenLevel;
    matches!(best.given_name, GivenLevel::Exact | GivenLevel::Alias)
        && best.family_name.agrees()
        && second.given_name == GivenLevel::Disagree
        && second.could_be_a_sibling()
}

/// Which of the names and the date of birth a search states. A partial search lacks
/// some: they compare as `missing`, and are not reported as `missing` at the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stated {
    pub(super) given_name: bool,
    pub(super) family_name: bool,
    pub(super) date_of_birth: bool,
}

impl Stated {
    /// Whether a candidate may be linked on demographics, beyond the rules every search
    /// follows. A search without a given name links none: the given name is the one field
    /// that tells twins apart (with only the family name, date of birth and address, a
    /// twin held here would be linked for the other twin held elsewhere). A search
    /// without a family name or a date of birth links only a child whose given name
    /// agrees exactly or as a known short form: the twin rule
    /// ([`Comparison::could_be_a_sibling`]) needs the family name and the date of birth
    /// to agree, and cannot see a twin by what the search lacks.
    fn may_link(&self, c: &Comparison) -> bool {
        use score::GivenLevel;
        let given_agrees = matches!(c.given_name, GivenLevel::Exact | GivenLevel::Alias);
        self.given_name && (self.family_name && self.date_of_birth || given_agrees)
    }

    /// The fields `c` did not agree on, without those the search does not state.
    fn disagreed(&self, c: &Comparison) -> Vec<String> {
        let unstated = [
            (self.given_name, "given_name:"),
            (self.family_name, "family_name:"),
            (self.date_of_birth, "date_of_birth:"),
        ];
        c.disagreed()
            .into_iter()
            .filter(|f| {
                !unstated
                    .iter()
                    .any(|(stated, field)| !stated && f.starts_with(field))
            })
            .collect()
    }
}

/// Scores every compared candidate and applies the linking rules (with those of
/// [`Stated::may_link`] for a partial search).
pub(super) fn decide(
    mut compared: Vec<(String, Comparison)>,
    settings: &MatchingSettings,
    children: u64,
    stated: Stated,
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
            if comparison.could_be_a_sibling()
                || typo_with_a_sibling_here
                || !comparison.corroborated()
                || !stated.may_link(&comparison)
            {
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
    // `with_disagreed`: a `candidates` answer says which fields disagreed with each
    // candidate (names and levels only); an ambiguous one does not, since none of its
    // candidates can be confirmed.
    let report = |scored: &[Scored], with_disagreed: bool| {
        scored
            .iter()
            .take(MAX_CANDIDATES)
            .map(|s| {
                (
                    s.id.clone(),
                    MatchCandidate {
                        grade: s.grade,
                        matched_on: s.matched_on.clone(),
                        disagreed: if with_disagreed {
                            stated.disagreed(&s.comparison)
                        } else {
                            Vec::new()
                        },
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
        return unlinked(MatchOutcome::Ambiguous, report(&scored, false));
    }
    if best.grade == MatchGrade::Possible {
        return unlinked(MatchOutcome::Candidates, report(&scored, true));
    }
    held(&best.id, best.grade, best.matched_on.clone())
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

pub(super) fn not_held() -> MatchResponse {
    unlinked(MatchOutcome::NotHeld, Vec::new())
}
