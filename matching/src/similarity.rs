//! Jaro-Winkler similarity (Winkler 1990, as used in the US Census Bureau's record
//! linkage): 1.0 for equal strings, 0.0 for nothing in common, with a bonus for a shared
//! prefix because typing errors are rarer at the start of a name.
//!
//! The Jaro similarity is `strsim`'s (the same algorithm as the one written here before,
//! bit for bit: see the tests). The Winkler bonus is added here, not taken from
//! `strsim::jaro_winkler`, because that one adds it only when Jaro is above 0.7 (a "boost
//! threshold"), and these grades have always added it at any Jaro. The two differ on
//! every pair of Jaro 0.7 or less that shares a first letter: 13,097 of the 283,128 pairs
//! of names in [`crate::nicknames`] and [`crate::given_names`], up to `nate`/`nathaniel`
//! (0.786 here, 0.694 in `strsim`). No grade at the default `similar_at` (0.92) depends
//! on that, since below the threshold this bonus reaches 0.82 at most, but a node may set
//! `similar_at` down to 0.5: at 0.75, `Precious` and `Preston` (0.783 here, 0.690 in
//! `strsim`) would stop being `similar` given names.

/// Jaro similarity of two strings, by characters.
pub fn jaro(a: &str, b: &str) -> f64 {
    strsim::jaro(a, b)
}

/// Jaro-Winkler similarity: Jaro plus 0.1 per shared leading character, up to four, at
/// any Jaro.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    with_winkler_bonus(jaro(a, b), a, b)
}

/// Jaro similarity `j` of `a` and `b` plus the bonus for their shared prefix.
fn with_winkler_bonus(j: f64, a: &str, b: &str) -> f64 {
    let prefix = a
        .chars()
        .zip(b.chars())
        .take(4)
        .take_while(|(x, y)| x == y)
        .count();
    j + prefix as f64 * 0.1 * (1.0 - j)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::{Rng, SeedableRng};

    fn close(x: f64, y: f64) -> bool {
        (x - y).abs() < 0.001
    }

    #[test]
    fn textbook_values() {
        // The examples in Winkler (1990) and most implementations.
        assert!(close(jaro_winkler("martha", "marhta"), 0.961));
        assert!(close(jaro_winkler("dwayne", "duane"), 0.84));
        assert!(close(jaro_winkler("dixon", "dicksonx"), 0.813));
        assert!(close(jaro("martha", "marhta"), 0.944));
    }

    #[test]
    fn equal_and_disjoint_strings() {
        assert!(close(jaro_winkler("smith", "smith"), 1.0));
        assert!(close(jaro_winkler("abc", "xyz"), 0.0));
        assert!(close(jaro_winkler("", ""), 1.0));
        assert!(close(jaro_winkler("a", ""), 0.0));
    }

    #[test]
    fn a_typo_scores_high_and_another_name_low() {
        assert!(jaro_winkler("thompson", "thomson") > 0.95);
        assert!(jaro_winkler("amelia", "amelai") > 0.9);
        assert!(jaro_winkler("amelia", "olivia") < 0.8);
    }

    /// The Jaro similarity written here until `strsim` took its place, kept as the
    /// reference the crate is checked against.
    fn former_jaro(a: &str, b: &str) -> f64 {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        if a.is_empty() && b.is_empty() {
            return 1.0;
        }
        if a.is_empty() || b.is_empty() {
            return 0.0;
        }
        let window = (a.len().max(b.len()) / 2).saturating_sub(1);
        let mut a_matched = vec![false; a.len()];
        let mut b_matched = vec![false; b.len()];
        let mut matches = 0usize;
        for (i, ca) in a.iter().enumerate() {
            let from = i.saturating_sub(window);
            let to = (i + window + 1).min(b.len());
            for j in from..to {
                if !b_matched[j] && b[j] == *ca {
                    a_matched[i] = true;
                    b_matched[j] = true;
                    matches += 1;
                    break;
                }
            }
        }
        if matches == 0 {
            return 0.0;
        }
        let a_seq = a
            .iter()
            .zip(&a_matched)
            .filter(|(_, m)| **m)
            .map(|(c, _)| c);
        let b_seq = b
            .iter()
            .zip(&b_matched)
            .filter(|(_, m)| **m)
            .map(|(c, _)| c);
        let transpositions = a_seq.zip(b_seq).filter(|(x, y)| x != y).count() / 2;
        let m = matches as f64;
        (m / a.len() as f64 + m / b.len() as f64 + (m - transpositions as f64) / m) / 3.0
    }

    /// Every name of the short-form groups and of the common given names.
    fn names() -> Vec<&'static str> {
        let mut names: Vec<&str> = crate::nicknames::GROUPS
            .iter()
            .flat_map(|g| g.iter().copied())
            .chain(crate::given_names::COMMON.iter().copied())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Pairs of names, their one-keystroke variants and random strings (with spaces,
    /// hyphens, apostrophes and letters beyond ASCII), to compare implementations on.
    fn generated_pairs() -> Vec<(String, String)> {
        let names = names();
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                pairs.push(((*a).to_owned(), (*b).to_owned()));
            }
            for v in crate::given_names::one_edit_variants(a) {
                pairs.push(((*a).to_owned(), v));
            }
        }
        let letters: Vec<char> = "aeiouybcdfhlmnrstk -'éøß".chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        let random = |rng: &mut rand::rngs::StdRng| -> String {
            let len = rng.random_range(0..12);
            (0..len)
                .map(|_| letters[rng.random_range(0..letters.len())])
                .collect()
        };
        for _ in 0..100_000 {
            let a = random(&mut rng);
            // Half share a start, as names that compare closely do.
            let b = if rng.random_bool(0.5) {
                let keep = rng.random_range(0..=a.chars().count());
                a.chars().take(keep).collect::<String>() + &random(&mut rng)
            } else {
                random(&mut rng)
            };
            pairs.push((a, b));
        }
        pairs
    }

    #[test]
    fn strsims_jaro_and_the_bonus_are_the_former_ones_bit_for_bit() {
        let pairs = generated_pairs();
        assert!(pairs.len() > 500_000, "{}", pairs.len());
        let textbook = [
            ("martha", "marhta"),
            ("dwayne", "duane"),
            ("dixon", "dicksonx"),
            ("thompson", "thomson"),
            ("amelia", "amelai"),
            ("amelia", "olivia"),
            ("", ""),
            ("a", ""),
            ("abc", "xyz"),
        ];
        let textbook = textbook.iter().map(|(a, b)| (a.to_string(), b.to_string()));
        for (a, b) in pairs.into_iter().chain(textbook) {
            for (x, y) in [(&a, &b), (&b, &a)] {
                assert_eq!(
                    jaro(x, y).to_bits(),
                    former_jaro(x, y).to_bits(),
                    "{x:?} {y:?}"
                );
                assert_eq!(
                    jaro_winkler(x, y).to_bits(),
                    with_winkler_bonus(former_jaro(x, y), x, y).to_bits(),
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn strsims_jaro_winkler_leaves_out_the_bonus_below_its_boost_threshold() {
        let names = names();
        let mut differ = 0;
        let mut most: f64 = 0.0;
        let mut pairs = 0;
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                pairs += 1;
                let (ours, theirs) = (jaro_winkler(a, b), strsim::jaro_winkler(a, b));
                if ours.to_bits() != theirs.to_bits() {
                    differ += 1;
                    most = most.max(ours);
                    // Only below the threshold, and only by the bonus.
                    assert!(jaro(a, b) <= 0.7, "{a} {b}");
                    assert_eq!(theirs.to_bits(), jaro(a, b).to_bits(), "{a} {b}");
                }
            }
        }
        assert_eq!((differ, pairs), (13_097, 283_128));
        // Below the default `similar_at`, so no default grade depends on it; above the
        // lowest `similar_at` a node may set.
        let defaults = crate::MatchingSettings::default();
        assert!(most < defaults.similar_at && most > 0.5, "{most}");
        assert!(close(jaro_winkler("nate", "nathaniel"), 0.786));
        assert!(close(strsim::jaro_winkler("nate", "nathaniel"), 0.694));
        // A node may set `similar_at` to 0.75; then `precious` and `preston` (neither
        // short for the other, with other phonetic codes) are `similar` here, and would
        // not be with `strsim`'s bonus.
        let mut settings = defaults;
        settings.similar_at = 0.75;
        assert!(settings.validate().is_ok());
        let level = |at| crate::score::compare_given("Precious", "Preston", at);
        assert_eq!(level(0.75), crate::score::GivenLevel::Similar);
        assert_eq!(level(0.92), crate::score::GivenLevel::Disagree);
        assert!(jaro_winkler("precious", "preston") >= 0.75);
        assert!(strsim::jaro_winkler("precious", "preston") < 0.75);
    }
}
