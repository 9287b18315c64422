//! Short forms and spelling variants of given names. Two names are aliases when some
//! group holds both. A group stands for one full name, so `Alexander` and `Alexandra`
//! both answer to `Alex` without being aliases of each other: twins called Alexander and
//! Alexandra stay two children. Names that are given in their own right (Liam, Mia,
//! Megan, Nathan, Ella) are left out of the groups they are also short for: twins are
//! often given exactly such pairs.

use std::collections::HashMap;

/// One group per full name; the full name first. Lower case, accents removed (the form
/// [`super::normalise::NormalName`] gives).
pub(crate) const GROUPS: &[&[&str]] = &[
    &["alexander", "alex", "alec", "xander", "sandy", "alexandre"],
    &["alexandra", "alex", "alexa", "lexi", "sasha"],
    &["william", "will", "bill", "billy", "willie", "wills"],
    &["robert", "rob", "bob", "bobby", "robbie", "bert"],
    &[
        "elizabeth",
        "liz",
        "lizzie",
        "lizzy",
        "beth",
        "betty",
        "eliza",
        "libby",
        "elisabeth",
    ],
    &["thomas", "tom", "tommy", "tomasz", "tomos"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammie", "sammy"],
    &["alfred", "alfie", "alf", "fred"],
    &["henry", "harry", "hal", "hank", "henri"],
    &[
        "eleanor", "ellie", "elle", "nell", "nellie", "elenor", "eleanore", "elinor",
    ],
    &[
        "katherine",
        "kate",
        "katie",
        "kath",
        "kathy",
        "kat",
        "catherine",
        "kathryn",
        "cathy",
        "kitty",
        "katy",
    ],
    &[
        "muhammad", "mo", "mohammed", "mohammad", "mohamed", "muhammed", "mohamad", "mahomed",
    ],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "jack", "johnny", "jonny"],
    &["jonathan", "jon", "jonny", "jonty"],
    &["joseph", "joe", "joey", "jo"],
    &["josephine", "jo", "josie"],
    &["benjamin", "ben", "benji", "benny"],
    &["daniel", "dan", "danny"],
    &["danielle", "dani"],
    &["christopher", "chris", "kit", "topher"],
    &[
        "christina",
        "chris",
        "tina",
        "christine",
        "kirsty",
        "kristina",
    ],
    &["michael", "mike", "mikey", "mick", "mickey", "micky"],
    &["matthew", "matt", "matty"],
    &["nicholas", "nick", "nicky", "nico", "nicolas"],
    &["edward", "ed", "eddie", "ted", "teddy", "ned"],
    &["richard", "rich", "richie", "rick", "ricky", "dick"],
    &["charles", "charlie", "chas", "chuck"],
    &["charlotte", "charlie", "lottie", "lotte"],
    &["frederick", "fred", "freddie", "freddy"],
    &["margaret", "maggie", "meg", "peggy", "margot"],
    &["rebecca", "becky", "becca", "bex"],
    &["jessica", "jess", "jessie"],
    &["abigail", "abi", "abby", "abbie", "gail"],
    &["olivia", "liv", "livvy", "livia"],
    &["oliver", "ollie", "olly"],
    &["isabella", "izzy", "bella", "isabel", "isobel", "isabelle"],
    &["victoria", "vicky", "vicki", "tori"],
    &["jennifer", "jen", "jenny", "jenni"],
    &["anthony", "tony", "ant", "antony"],
    &["stephen", "steve", "stevie", "steven"],
    &["patrick", "pat", "paddy"],
    &["patricia", "pat", "patsy", "trish"],
    &["joshua", "josh"],
    &["zachary", "zach", "zack", "zak"],
    &["nathaniel", "nat", "nate"],
    &["natalie", "nat", "tali", "natalia"],
    &["francis", "frank", "frankie"],
    &["frances", "fran", "frankie"],
    &["sophia", "sophie", "soph", "sofia"],
    &["gabriel", "gabe", "gabi"],
    &["gabriella", "gabby", "gabi", "gabrielle"],
    &["theodore", "theo", "ted", "teddy"],
    &["maximilian", "max"],
    &["maxwell", "max"],
    &["amelia", "millie", "melia"],
    &["emily", "em", "emmy", "millie"],
    &["yusuf", "yousuf", "yousef", "youssef"],
    &["aisha", "ayesha", "aysha"],
    &["ibrahim", "ebrahim", "ibraheem"],
];

/// Each name in [`GROUPS`] with the groups holding it (their indices, in table order),
/// built once: scoring asks for aliases at every pair of different given names, and a
/// scan of the table for each was half the time of comparing two children.
static GROUPS_OF: std::sync::LazyLock<HashMap<&'static str, Vec<usize>>> =
    std::sync::LazyLock::new(|| {
        let mut of: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (i, group) in GROUPS.iter().enumerate() {
            for name in *group {
                let groups = of.entry(name).or_default();
                if groups.last() != Some(&i) {
                    groups.push(i);
                }
            }
        }
        of
    });

fn group_indices(name: &str) -> &'static [usize] {
    GROUPS_OF.get(name).map_or(&[], Vec::as_slice)
}

/// Whether a normalised name is in some group.
pub(crate) fn in_a_group(name: &str) -> bool {
    GROUPS_OF.contains_key(name)
}

/// The groups a normalised given name belongs to, each named by its full name. Two
/// different names are aliases exactly when they share a group.
pub fn groups_of(name: &str) -> impl Iterator<Item = &'static str> {
    group_indices(name).iter().map(|&i| GROUPS[i][0])
}

/// Whether two normalised given names are short and full forms of one another (or two
/// spellings of one name). Equal names are not aliases; compare them first.
pub fn are_aliases(a: &str, b: &str) -> bool {
    a != b && {
        let of_b = group_indices(b);
        group_indices(a).iter().any(|i| of_b.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_match_their_full_names() {
        for (a, b) in [
            ("alex", "alexander"),
            ("bill", "william"),
            ("bob", "robert"),
            ("liz", "elizabeth"),
            ("tom", "thomas"),
            ("sam", "samuel"),
            ("sam", "samantha"),
            ("alfie", "alfred"),
            ("harry", "henry"),
            ("ellie", "eleanor"),
            ("kate", "katherine"),
            ("mo", "muhammad"),
            ("mohammed", "muhammad"),
            ("catherine", "katherine"),
        ] {
            assert!(are_aliases(a, b), "{a} / {b}");
            assert!(are_aliases(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn two_full_names_sharing_a_short_form_are_not_aliases() {
        assert!(!are_aliases("alexander", "alexandra"));
        assert!(!are_aliases("samuel", "samantha"));
        assert!(!are_aliases("charles", "charlotte"));
    }

    #[test]
    fn unrelated_and_equal_names_are_not_aliases() {
        assert!(!are_aliases("oliver", "noah"));
        assert!(!are_aliases("tom", "tom"));
    }

    /// The index answers as a scan of the table does, for every pair of names in it and
    /// for a name in none.
    #[test]
    fn the_index_answers_as_the_table() {
        let names: Vec<&str> = GROUPS.iter().flat_map(|g| g.iter().copied()).collect();
        for a in names.iter().copied().chain(["zebedee"]) {
            let scanned: Vec<&str> = GROUPS
                .iter()
                .filter(|group| group.contains(&a))
                .map(|group| group[0])
                .collect();
            assert_eq!(groups_of(a).collect::<Vec<_>>(), scanned, "{a}");
            assert_eq!(in_a_group(a), !scanned.is_empty(), "{a}");
            for b in names.iter().copied() {
                let shared = GROUPS
                    .iter()
                    .any(|group| group.contains(&a) && group.contains(&b));
                assert_eq!(are_aliases(a, b), a != b && shared, "{a} {b}");
            }
        }
    }

    #[test]
    fn the_table_is_normalised() {
        for group in GROUPS {
            for name in *group {
                assert_eq!(super::super::normalise::NormalName::new(name).joined, *name);
            }
        }
        assert!(GROUPS.len() >= 40);
    }
}
