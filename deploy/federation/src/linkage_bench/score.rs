//! Scoring one side's answers against the truth of a FEBRL split, the same way for our
//! matcher and for Splink: per A record one answer; the truth is the person number.

use super::febrl::{Mapped, Split};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Precision a side must reach for its linked recall to count against the target.
pub const TARGET_PRECISION: f64 = 0.999;

/// What one side answered for one A record, read at B.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// The A record states too little to search by (`Mapped::search`): not sent.
    NotSearchable,
    /// B linked this record of its own (index into `Split::b`).
    Linked {
        b: usize,
    },
    /// B offered `count` candidates; whether the true child was one of them.
    Candidates {
        count: usize,
        includes_true: bool,
        /// What each candidate agreed on, as the practitioner is shown it (its
        /// `matched_on`, joined by `+`), best first: what a search is offered, in the
        /// JSON report.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        offered: Vec<String>,
    },
    /// B found several children alike and linked none.
    Ambiguous {
        count: usize,
    },
    NotFound,
    /// No valid answer (an error, a timeout); reported, never counted as a miss in
    /// silence.
    Failed {
        reason: String,
    },
}

/// The counts and rates of one side over one split.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// A records searched for (every original).
    pub searches: usize,
    /// Searches whose person B holds (has a `dup-0` of).
    pub true_pairs: usize,
    /// Searches whose person B does not hold.
    pub not_held_searches: usize,
    /// B records the side could not hold (our node refused them), by what they lack
    /// (`other`: refused though they lack nothing).
    pub b_not_stored: usize,
    pub b_not_stored_by_field: BTreeMap<String, usize>,
    /// A records the gateway would not search for (they lack a required field).
    pub a_not_searchable: usize,
    /// Of those, how many B holds.
    pub a_not_searchable_true_pairs: usize,
    pub links: usize,
    pub right_links: usize,
    pub wrong_links: usize,
    /// Wrong links made for a person B does not hold.
    pub wrong_links_not_held: usize,
    /// Wrong links to a child with the searched record's family name and date of birth
    /// and another given name: the shape of a twin.
    pub twins_linked: usize,
    pub candidates_answers: usize,
    /// Candidates answers for a person B holds that include the true child.
    pub candidates_with_true: usize,
    /// Candidates answers for persons B does not hold.
    pub candidates_not_held: usize,
    pub most_candidates: usize,
    /// Candidates answers with more than 3 candidates.
    pub candidates_over_3: usize,
    pub ambiguous: usize,
    pub not_found: usize,
    pub failed: usize,
    pub precision: Option<f64>,
    pub linked_recall: f64,
    pub f1: f64,
    /// (right links + candidates answers including the true child) / true pairs.
    pub linked_or_offered_recall: f64,
    /// Candidates answers for persons B does not hold / searches for them.
    pub candidates_rate_not_held: f64,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// Scores `answers` (one per `split.a`, in order). `b_stored[i]` says whether the side
/// holds `split.b[i]`.
pub fn tally(split: &Split, answers: &[Answer], b_stored: &[bool]) -> Tally {
    let b_of = split.b_by_person();
    let mut t = Tally {
        searches: split.a.len(),
        ..Tally::default()
    };
    for (b, stored) in split.b.iter().zip(b_stored) {
        if !stored {
            t.b_not_stored += 1;
            let lacks = b.lacks();
            // A refusal the mapping does not explain is shown, never folded in.
            let fields = if lacks.is_empty() {
                vec!["other"]
            } else {
                lacks
            };
            for field in fields {
                *t.b_not_stored_by_field.entry(field.into()).or_default() += 1;
            }
        }
    }
    for (a, answer) in split.a.iter().zip(answers) {
        let truth = b_of.get(&a.person).copied();
        if truth.is_some() {
            t.true_pairs += 1;
        } else {
            t.not_held_searches += 1;
        }
        match answer {
            Answer::NotSearchable => {
                t.a_not_searchable += 1;
                t.a_not_searchable_true_pairs += usize::from(truth.is_some());
            }
            Answer::Linked { b } => {
                t.links += 1;
                if Some(*b) == truth {
                    t.right_links += 1;
                } else {
                    t.wrong_links += 1;
                    t.wrong_links_not_held += usize::from(truth.is_none());
                    t.twins_linked += usize::from(twin_shaped(a, &split.b[*b]));
                }
            }
            Answer::Candidates {
                count,
                includes_true,
                ..
            } => {
                t.candidates_answers += 1;
                t.most_candidates = t.most_candidates.max(*count);
                t.candidates_over_3 += usize::from(*count > 3);
                if truth.is_some() {
                    t.candidates_with_true += usize::from(*includes_true);
                } else {
                    t.candidates_not_held += 1;
                }
            }
            Answer::Ambiguous { .. } => t.ambiguous += 1,
            Answer::NotFound => t.not_found += 1,
            Answer::Failed { .. } => t.failed += 1,
        }
    }
    t.precision = (t.links > 0).then(|| ratio(t.right_links, t.links));
    t.linked_recall = ratio(t.right_links, t.true_pairs);
    let p = t.precision.unwrap_or(0.0);
    t.f1 = if p + t.linked_recall > 0.0 {
        2.0 * p * t.linked_recall / (p + t.linked_recall)
    } else {
        0.0
    };
    t.linked_or_offered_recall = ratio(t.right_links + t.candidates_with_true, t.true_pairs);
    t.candidates_rate_not_held = ratio(t.candidates_not_held, t.not_held_searches);
    t
}

/// Whether a side's figures meet the precision and no-wrong-link-on-a-child-not-held
/// conditions under which linked recall is compared.
pub fn meets_conditions(t: &Tally) -> bool {
    t.wrong_links_not_held == 0 && t.precision.is_none_or(|p| p >= TARGET_PRECISION)
}

/// Same family name and date of birth, another given name.
fn twin_shaped(a: &Mapped, b: &Mapped) -> bool {
    !a.family_name.is_empty()
        && a.family_name == b.family_name
        && a.date().is_some()
        && a.date() == b.date()
        && a.given_name != b.given_name
}

/// Splink's best B record for one A record.
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    pub a: usize,
    pub b: usize,
    pub match_weight: f64,
    /// The next best B record's weight, if any.
    pub second_weight: Option<f64>,
}

/// Splink's answers at a match-weight threshold: each A record is linked to its best B
/// record when that scores at least `min_weight` (1:1 per A record). A tie for the best
/// is not linked (no side may pick between equals).
pub fn splink_answers(split: &Split, best: &[Best], min_weight: f64) -> Vec<Answer> {
    let mut answers = vec![Answer::NotFound; split.a.len()];
    for best in best {
        if best.match_weight >= min_weight {
            answers[best.a] = if best.second_weight == Some(best.match_weight) {
                Answer::Ambiguous { count: 2 }
            } else {
                Answer::Linked { b: best.b }
            };
        }
    }
    answers
}

/// The threshold (a match weight) at which Splink's linked recall is highest while its
/// precision is at least [`TARGET_PRECISION`] and it links no A record whose person B
/// does not hold; of equal recalls the highest threshold. `None` if no threshold
/// links anything under those conditions.
pub fn best_threshold(split: &Split, best: &[Best]) -> Option<f64> {
    let everyone = vec![true; split.b.len()];
    let mut weights: Vec<f64> = best.iter().map(|b| b.match_weight).collect();
    weights.sort_by(|x, y| y.total_cmp(x));
    weights.dedup();
    let mut chosen: Option<(usize, f64)> = None;
    for w in weights {
        let t = tally(split, &splink_answers(split, best, w), &everyone);
        if meets_conditions(&t) && t.right_links > chosen.map_or(0, |(r, _)| r) {
            chosen = Some((t.right_links, w));
        }
    }
    chosen.map(|(_, w)| w)
}

/// Splink's match probability for a match weight (the weight includes the prior).
pub fn probability(match_weight: f64) -> f64 {
    1.0 / (1.0 + (-match_weight).exp2())
}

/// Restricted Damerau-Levenshtein (optimal string alignment) distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn name_drift(field: &'static str, a: &str, b: &str, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    let what = if a.is_empty() || b.is_empty() {
        "missing"
    } else {
        match edit_distance(a, b) {
            1 => "typo",
            2 => "two edits",
            _ => "replaced",
        }
    };
    out.push(format!("{field} {what}"));
}

/// How B's copy differs from A's original, as short labels (empty: no difference in
/// the mapped fields).
pub fn drift(a: &Mapped, b: &Mapped) -> Vec<String> {
    let mut out = Vec::new();
    // Transposed: each name is at most a typo from the other field, and closer so than
    // to its own field (FEBRL swaps fields, sometimes with a typo on top).
    let names = [&a.given_name, &a.family_name, &b.given_name, &b.family_name];
    let transposed = names.iter().all(|n| !n.is_empty()) && {
        let crossed = (
            edit_distance(&a.given_name, &b.family_name),
            edit_distance(&a.family_name, &b.given_name),
        );
        let straight = edit_distance(&a.given_name, &b.given_name)
            + edit_distance(&a.family_name, &b.family_name);
        crossed.0 <= 1 && crossed.1 <= 1 && crossed.0 + crossed.1 < straight
    };
    if transposed {
        let exact = a.given_name == b.family_name && a.family_name == b.given_name;
        out.push(
            if exact {
                "names transposed"
            } else {
                "names transposed with a typo"
            }
            .to_owned(),
        );
    } else {
        name_drift("given", &a.given_name, &b.given_name, &mut out);
        name_drift("family", &a.family_name, &b.family_name, &mut out);
    }
    match (a.date(), b.date()) {
        (Some(x), Some(y)) if x == y => {}
        (Some(x), Some(y)) => {
            let (xs, ys) = (
                x.format("%Y%m%d").to_string(),
                y.format("%Y%m%d").to_string(),
            );
            let differing = xs.chars().zip(ys.chars()).filter(|(p, q)| p != q).count();
            let swapped = x.format("%Y%d%m").to_string() == ys;
            out.push(
                if swapped {
                    "date day/month swapped"
                } else if differing == 1 {
                    "date one digit"
                } else if edit_distance(&xs, &ys) == 1 {
                    "date digits transposed"
                } else {
                    "date replaced"
                }
                .to_owned(),
            );
        }
        _ if a.date_of_birth.is_empty() || b.date_of_birth.is_empty() => {
            out.push("date missing".to_owned())
        }
        _ => out.push("date malformed".to_owned()),
    }
    if a.postcode != b.postcode {
        out.push(
            if a.postcode.is_empty() || b.postcode.is_empty() {
                "postcode missing"
            } else if edit_distance(&a.postcode, &b.postcode) == 1 {
                "postcode typo"
            } else {
                "postcode other"
            }
            .to_owned(),
        );
    }
    out
}

/// Why one side missed a true pair, for the misses table: the B copy not stored or the
/// A record not searchable first (the side never saw the pair), otherwise the drift.
pub fn miss_reason(a: &Mapped, b: &Mapped, answer: &Answer, b_stored: bool) -> String {
    if !b_stored {
        return format!("B copy not stored (no {})", b.lacks().join(", no "));
    }
    if *answer == Answer::NotSearchable {
        return format!("A record not searchable (no {})", a.lacks().join(", no "));
    }
    let drift = drift(a, b);
    if drift.is_empty() {
        "no difference".to_owned()
    } else {
        drift.join(" + ")
    }
}

/// Misses (true pairs not linked right) by reason, with how many of them the side
/// offered as a candidate.
pub fn misses(
    split: &Split,
    answers: &[Answer],
    b_stored: &[bool],
) -> BTreeMap<String, (usize, usize)> {
    let b_of: HashMap<u32, usize> = split.b_by_person();
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (a, answer) in split.a.iter().zip(answers) {
        let Some(&truth) = b_of.get(&a.person) else {
            continue;
        };
        if *answer == (Answer::Linked { b: truth }) {
            continue;
        }
        let entry = out
            .entry(miss_reason(a, &split.b[truth], answer, b_stored[truth]))
            .or_default();
        entry.0 += 1;
        entry.1 += usize::from(matches!(
            answer,
            Answer::Candidates {
                includes_true: true,
                ..
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(person: u32, given: &str, family: &str, dob: &str, postcode: &str) -> Mapped {
        Mapped {
            rec_id: format!("rec-{person}"),
            person,
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: dob.into(),
            postcode: postcode.into(),
        }
    }

    /// Four searches: persons 1-3 held at B, person 4 not.
    fn split() -> Split {
        Split {
            a: vec![
                rec(1, "amy", "lee", "2012-03-04", "N42 2AD"),
                rec(2, "bob", "cole", "2013-05-06", "N11 1AB"),
                rec(3, "cat", "dunn", "2014-07-08", "N22 2AC"),
                rec(4, "dan", "lee", "2012-03-04", "N42 2AD"),
            ],
            b: vec![
                rec(1, "amy", "lee", "2012-03-04", "N42 2AD"),
                rec(2, "cole", "bob", "2013-05-06", ""),
                rec(3, "cat", "dunn", "", "N22 2AC"),
            ],
        }
    }

    #[test]
    fn a_wrong_link_on_a_child_not_held_is_counted_apart_and_as_a_twin() {
        let s = split();
        let answers = [
            Answer::Linked { b: 0 },
            Answer::Candidates {
                count: 2,
                includes_true: true,
                offered: Vec::new(),
            },
            Answer::NotSearchable,
            Answer::Linked { b: 0 },
        ];
        let t = tally(&s, &answers, &[true, true, false]);
        assert_eq!((t.searches, t.true_pairs, t.not_held_searches), (4, 3, 1));
        assert_eq!((t.links, t.right_links, t.wrong_links), (2, 1, 1));
        assert_eq!((t.wrong_links_not_held, t.twins_linked), (1, 1));
        assert_eq!(t.precision, Some(0.5));
        assert!((t.linked_recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((t.linked_or_offered_recall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((t.b_not_stored, t.a_not_searchable), (1, 1));
        assert_eq!(t.b_not_stored_by_field["date_of_birth"], 1);
        assert!(!meets_conditions(&t));
        let misses = misses(&s, &answers, &[true, true, false]);
        assert_eq!(misses["names transposed + postcode missing"], (1, 1));
        assert_eq!(misses["B copy not stored (no date_of_birth)"], (1, 0));
    }

    #[test]
    fn splink_threshold_is_the_best_recall_without_a_wrong_link_on_a_child_not_held() {
        let s = split();
        let best = [
            Best {
                a: 0,
                b: 0,
                match_weight: 20.0,
                second_weight: Some(-3.0),
            },
            Best {
                a: 1,
                b: 1,
                match_weight: 5.0,
                second_weight: None,
            },
            // Person 4 is not held: linking them to person 1's copy is wrong.
            Best {
                a: 3,
                b: 0,
                match_weight: 8.0,
                second_weight: None,
            },
            Best {
                a: 2,
                b: 2,
                match_weight: 1.0,
                second_weight: None,
            },
        ];
        // At 8 or below, A's person 4 is linked: the highest recall without it is at 20.
        assert_eq!(best_threshold(&s, &best), Some(20.0));
        let t = tally(&s, &splink_answers(&s, &best, 0.0), &[true; 3]);
        assert_eq!((t.right_links, t.wrong_links_not_held), (3, 1));
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn drift_names_what_changed() {
        let a = rec(1, "amelia", "okafor", "2014-03-09", "N42 2AD");
        let b = rec(1, "amelai", "smith", "2014-09-03", "N42 2AE");
        assert_eq!(
            drift(&a, &b),
            [
                "given typo",
                "family replaced",
                "date day/month swapped",
                "postcode typo"
            ]
        );
        let c = rec(1, "amelia", "okafor", "2014-03-19", "");
        assert_eq!(drift(&a, &c), ["date one digit", "postcode missing"]);
        let d = rec(1, "amelia", "", "20140399", "N42 2AD");
        assert_eq!(drift(&a, &d), ["family missing", "date malformed"]);
        let e = rec(1, "okafro", "amelia", "2014-03-09", "N42 2AD");
        assert_eq!(drift(&a, &e), ["names transposed with a typo"]);
        assert_eq!(edit_distance("thompson", "thomspon"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
