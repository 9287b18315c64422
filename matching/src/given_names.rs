//! When a given name that differs from the searched-for one by a single keystroke may be
//! taken for a typo of it, and when it must be taken for another child's name.
//!
//! `Amelai` for `Amelia` is a typo; `Leah` for `Lea`, or `Mia` for `Maya`, may be two
//! children (twins are often given names that close). So a one-edit difference counts as
//! a typo only when the names are not both names given in their own right ("known"
//! names: every name in the short-form groups and a list of names commonly given to
//! children in England and Wales), and when the unknown spelling is not also one edit
//! from some *other* known name (`Miya` is one edit from both `Mia` and `Maya`: whose
//! typo is it?). The rule that the node holds no other child with the same family name
//! and date of birth is applied by the caller, which sees every candidate.

use super::nicknames::GROUPS;

/// Names commonly given to children in England and Wales (lower case, accents removed),
/// beyond those in the short-form groups. Their own spellings of one another (`Isla`,
/// `Isler`) are deliberately both listed when both are usual.
pub(crate) const COMMON: &[&str] = &[
    // Girls.
    "olivia",
    "amelia",
    "isla",
    "ava",
    "mia",
    "ivy",
    "lily",
    "isabella",
    "rosie",
    "sophia",
    "grace",
    "willow",
    "freya",
    "florence",
    "emily",
    "ella",
    "poppy",
    "evie",
    "elsie",
    "charlotte",
    "evelyn",
    "sienna",
    "sofia",
    "daisy",
    "phoebe",
    "sophie",
    "alice",
    "harper",
    "matilda",
    "ruby",
    "emilia",
    "maya",
    "millie",
    "isabelle",
    "ellie",
    "esme",
    "ayla",
    "eliza",
    "luna",
    "aria",
    "hallie",
    "lucy",
    "ada",
    "arabella",
    "maisie",
    "erin",
    "bonnie",
    "jessica",
    "thea",
    "imogen",
    "harriet",
    "hannah",
    "chloe",
    "niamh",
    "priya",
    "leah",
    "lea",
    "zara",
    "aisha",
    "ayesha",
    "fatima",
    "maryam",
    "zainab",
    "khadija",
    "amira",
    "layla",
    "leila",
    "lila",
    "lola",
    "nia",
    "megan",
    "molly",
    "holly",
    "katie",
    "lauren",
    "amy",
    "anna",
    "hanna",
    "ella",
    "elle",
    "eva",
    "eve",
    "emma",
    "gemma",
    "jade",
    "kayla",
    "kyla",
    "mya",
    "maia",
    "myla",
    "mila",
    "nina",
    "rose",
    "rosa",
    "sara",
    "sarah",
    "zoe",
    "zoey",
    "beth",
    "bella",
    "clara",
    "cara",
    "kara",
    "iris",
    "hazel",
    "edith",
    "violet",
    "aurora",
    "penelope",
    "orla",
    "ciara",
    "aoife",
    "siobhan",
    "amber",
    "jasmine",
    "yasmin",
    "summer",
    "skye",
    "scarlett",
    "savannah",
    "tia",
    "tilly",
    // Boys.
    "noah",
    "oliver",
    "george",
    "arthur",
    "muhammad",
    "leo",
    "harry",
    "oscar",
    "archie",
    "henry",
    "theodore",
    "freddie",
    "jack",
    "charlie",
    "theo",
    "alfie",
    "jacob",
    "thomas",
    "finley",
    "arlo",
    "william",
    "lucas",
    "roman",
    "tommy",
    "isaac",
    "teddy",
    "luca",
    "edward",
    "joshua",
    "james",
    "ethan",
    "max",
    "logan",
    "reggie",
    "albie",
    "elijah",
    "louie",
    "louis",
    "lewis",
    "jude",
    "hugo",
    "ronnie",
    "mason",
    "harrison",
    "joseph",
    "dylan",
    "kai",
    "reuben",
    "rhys",
    "caleb",
    "samuel",
    "yusuf",
    "ibrahim",
    "tomasz",
    "ali",
    "adam",
    "aaron",
    "abdullah",
    "ahmed",
    "hamza",
    "omar",
    "umar",
    "yahya",
    "zayn",
    "zain",
    "ayaan",
    "aryan",
    "arjun",
    "ben",
    "callum",
    "cameron",
    "connor",
    "daniel",
    "david",
    "declan",
    "ellis",
    "elliot",
    "elliott",
    "finn",
    "gabriel",
    "harvey",
    "jake",
    "jamie",
    "jayden",
    "jaden",
    "kian",
    "kieran",
    "liam",
    "luke",
    "mark",
    "nathan",
    "owen",
    "reece",
    "rees",
    "ryan",
    "sean",
    "seth",
    "tyler",
    "zac",
    "zach",
    "jan",
    "jon",
    "john",
    "ian",
    "iain",
    "leon",
    "levi",
    "ezra",
    "ezri",
    "milo",
    "miles",
    "ollie",
    "otis",
    "rory",
    "rowan",
    "stanley",
    "tobias",
    "toby",
    "jay",
    "kay",
    "ray",
    // More names given to children in England and Wales (ONS baby-name lists: Welsh,
    // Irish, Scottish, South Asian, West African, Polish and Romanian names among them).
    "georgia",
    "robyn",
    "lacey",
    "lara",
    "nancy",
    "beatrice",
    "delilah",
    "gracie",
    "heidi",
    "darcy",
    "eloise",
    "elena",
    "francesca",
    "hope",
    "india",
    "julia",
    "lydia",
    "madison",
    "maria",
    "martha",
    "mabel",
    "naomi",
    "paige",
    "sadie",
    "wren",
    "hafsa",
    "alisha",
    "anaya",
    "aaliyah",
    "inaya",
    "safa",
    "sana",
    "noor",
    "mariam",
    "hana",
    "halima",
    "ruqayyah",
    "sumaya",
    "aleena",
    "amaya",
    "ananya",
    "diya",
    "isha",
    "kavya",
    "simran",
    "harleen",
    "jasleen",
    "amara",
    "chiamaka",
    "adaeze",
    "ifeoma",
    "abena",
    "esi",
    "zuzanna",
    "zofia",
    "maja",
    "oliwia",
    "lena",
    "amelie",
    "renee",
    "anais",
    "ines",
    "noemie",
    "elodie",
    "sian",
    "seren",
    "ffion",
    "cerys",
    "carys",
    "bethan",
    "caitlin",
    "saoirse",
    "roisin",
    "clodagh",
    "eira",
    "alys",
    "keira",
    "demi",
    "aliyah",
    "alana",
    "elsa",
    "harley",
    "hollie",
    "jorgie",
    "kacey",
    "lyla",
    "macy",
    "marnie",
    "nevaeh",
    "peyton",
    "remi",
    "romy",
    "thalia",
    "valentina",
    "vivienne",
    "winter",
    "amina",
    "eshal",
    "hiba",
    "iqra",
    "mehak",
    "neha",
    "riya",
    "shreya",
    "tara",
    "aditi",
    "anika",
    "gurleen",
    "jannat",
    "rania",
    "sabrina",
    "zahra",
    "zoya",
    "ebony",
    "precious",
    "blessing",
    "favour",
    "temi",
    "olive",
    "nova",
    "pippa",
    "quinn",
    "rhianna",
    "serena",
    "maddison",
    "mollie",
    "lilly",
    "aurelia",
    "beatrix",
    "cleo",
    "dolly",
    "edie",
    "felicity",
    "ophelia",
    "primrose",
    "sylvie",
    "talia",
    "ottilie",
    "juliet",
    "annabelle",
    "bethany",
    "courtney",
    "shannon",
    "chelsea",
    "jodie",
    "kelsey",
    "leanne",
    "naima",
    "rukhsana",
    "tasnim",
    "nusrat",
    "mehreen",
    "afsana",
    "sadia",
    "sumaiya",
    "ishrat",
    "tahmina",
    "farzana",
    "daire",
    "hudson",
    "sonny",
    "hunter",
    "jaxon",
    "oakley",
    "albert",
    "ralph",
    "musa",
    "idris",
    "ismail",
    "rayyan",
    "zakariya",
    "hassan",
    "hussain",
    "bilal",
    "imran",
    "ishaan",
    "aarav",
    "vihaan",
    "rohan",
    "dev",
    "krish",
    "jakub",
    "szymon",
    "kacper",
    "filip",
    "mateusz",
    "antoni",
    "aleksander",
    "wiktor",
    "dawid",
    "michal",
    "luka",
    "matei",
    "andrei",
    "ioan",
    "darius",
    "chidi",
    "chinedu",
    "obinna",
    "tobi",
    "femi",
    "kwame",
    "kofi",
    "kwabena",
    "emeka",
    "tariq",
    "malik",
    "kayden",
    "riley",
    "kyle",
    "evan",
    "ieuan",
    "dafydd",
    "gethin",
    "osian",
    "cian",
    "oisin",
    "ciaran",
    "padraig",
    "eoin",
    "fionn",
    "eli",
    "felix",
    "jasper",
    "rupert",
    "jesse",
    "lenny",
    "ezekiel",
    "jenson",
    "tristan",
    "austin",
    "brody",
    "bradley",
    "blake",
    "carter",
    "cody",
    "dexter",
    "ashton",
    "aiden",
    "jordan",
    "josiah",
    "kobe",
    "marcus",
    "mustafa",
    "niall",
    "otto",
    "preston",
    "ravi",
    "rio",
    "ryder",
    "sebastian",
    "shay",
    "spencer",
    "travis",
    "victor",
    "vincent",
    "wilfred",
    "xavier",
    "yaseen",
    "jose",
    "andre",
    "joel",
    "corey",
    "bailey",
    "morgan",
    "taylor",
    "harris",
    "duncan",
    "hamish",
    "angus",
    "fraser",
    "ewan",
    "struan",
    "abdul",
    "abdirahman",
    "aadam",
    "haris",
    "usman",
    "zubair",
    "sami",
    "amir",
    "arham",
    "ayan",
    "rehan",
    "zayan",
    "kabir",
    "rudra",
    "advik",
    "reyansh",
    "gurveer",
    "harjot",
    "jasraj",
    "manveer",
    "sukhdeep",
    "oluwaseun",
    "ayodele",
    "babajide",
    "kelechi",
    "nnamdi",
    "ikenna",
    "kojo",
    "yaw",
    "oskar",
    "mikolaj",
    "stanislaw",
    "bartosz",
    "nikola",
    "stefan",
    "mihai",
    "bogdan",
    "ionut",
    "razvan",
    "daithi",
];

/// [`COMMON`] as a set, built once, rather than a scan of the list at every lookup.
static COMMON_SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| COMMON.iter().copied().collect());

/// Whether a normalised given name is a name given in its own right.
pub fn is_known(name: &str) -> bool {
    COMMON_SET.contains(name) || super::nicknames::in_a_group(name)
}

fn known_names() -> impl Iterator<Item = &'static str> {
    COMMON
        .iter()
        .copied()
        .chain(GROUPS.iter().flat_map(|g| g.iter().copied()))
}

/// Whether two different normalised strings are one edit apart: one letter substituted,
/// inserted or deleted, or two adjacent letters transposed.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match differ.as_slice() {
                [_] => true,
                [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
                _ => false,
            }
        }
        1 => {
            let at = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[at..] == long[at + 1..]
        }
        _ => false,
    }
}

/// Whether `a` and `b` (normalised, different) may be one name with a typo: a slip (one
/// edit apart, not both known names, see [`is_slip_of`]) whose unknown spellings are each
/// one edit from no known name but the other ([`near_only_each_other`]).
pub fn is_typo_of(a: &str, b: &str) -> bool {
    is_slip_of(a, b) && near_only_each_other(a, b)
}

/// For a slip `a`/`b`: whether each spelling that is not a known name is one edit from
/// no known name but the other (`miya` is one edit from `mia` and from `maya`: whose typo
/// would it be?). A slip passing this is a typo by the lists alone.
pub fn near_only_each_other(a: &str, b: &str) -> bool {
    let only_near = |unknown: &str, other: &str| {
        is_known(unknown) || known_names().all(|k| k == other || !one_edit_apart(unknown, k))
    };
    only_near(a, b) && only_near(b, a)
}

/// Whether `a` and `b` (normalised, different) are one keystroke apart without both being
/// known names: a *slip*, which [`is_typo_of`] may still refuse because a spelling is one
/// edit from some other known name too (`Evi`: `Evie`, `Eva` or `Eve`?). Whether a slip
/// counts as a typo is then decided with what the node knows: which spellings its children
/// carry, and whether another child here shares the family name and date of birth (see
/// the node's `finding::weights::weigh_by_name_counts`).
pub fn is_slip_of(a: &str, b: &str) -> bool {
    let both_known = is_known(a) && is_known(b);
    !a.is_empty() && !b.is_empty() && one_edit_apart(a, b) && !both_known
}

/// Every string one edit from `name` over the letters `a`–`z` (the alphabet names are
/// compared in once normalised, apart from rare letters): what keyed matching encodes to
/// find a typo without seeing the query's name.
pub fn one_edit_variants(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let letters = 'a'..='z';
    for i in 0..chars.len() {
        let mut v = chars.clone();
        v.remove(i);
        out.push(v.iter().collect());
        for l in letters.clone() {
            if l != chars[i] {
                let mut v = chars.clone();
                v[i] = l;
                out.push(v.iter().collect());
            }
        }
        if i + 1 < chars.len() && chars[i] != chars[i + 1] {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            out.push(v.iter().collect());
        }
    }
    for i in 0..=chars.len() {
        for l in letters.clone() {
            let mut v = chars.clone();
            v.insert(i, l);
            out.push(v.iter().collect());
        }
    }
    out.sort_unstable();
    out.dedup();
    out.retain(|v: &String| v != name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sets answer as the lists do.
    #[test]
    fn a_name_is_known_when_a_list_holds_it() {
        let groups = super::super::nicknames::GROUPS;
        for name in known_names().chain(["zebedee", "amelai", "miya", ""]) {
            let listed = COMMON.contains(&name) || groups.iter().any(|g| g.contains(&name));
            assert_eq!(is_known(name), listed, "{name}");
        }
    }

    #[test]
    fn one_edit_is_a_substitution_insertion_deletion_or_transposition() {
        assert!(one_edit_apart("amelia", "amelai"));
        assert!(one_edit_apart("amelia", "amelja"));
        assert!(one_edit_apart("amelia", "ameli"));
        assert!(one_edit_apart("amelia", "ammelia"));
        assert!(!one_edit_apart("amelia", "amelia"));
        assert!(!one_edit_apart("amelia", "olivia"));
        assert!(!one_edit_apart("abc", "bca"));
        assert!(!one_edit_apart("leo", "leah"));
    }

    #[test]
    fn a_typo_of_a_known_name_is_a_typo() {
        assert!(is_typo_of("amelia", "amelai"));
        assert!(is_typo_of("amelai", "amelia"));
        assert!(is_typo_of("oliver", "oliiver"));
    }

    #[test]
    fn two_known_names_are_never_a_typo() {
        // Twins are often given names one keystroke apart.
        assert!(!is_typo_of("lea", "leah"));
        assert!(!is_typo_of("mia", "mila"));
        assert!(!is_typo_of("ella", "elle"));
        assert!(!is_typo_of("jan", "jon"));
    }

    #[test]
    fn a_slip_is_one_keystroke_without_both_names_known() {
        // Refused as typos by the lists (`evi` is one edit from `eva` and `eve` too), but
        // slips: the node's counts and its other children decide.
        assert!(!is_typo_of("evie", "evi"));
        assert!(is_slip_of("evie", "evi"));
        assert!(is_slip_of("mia", "miya"));
        assert!(is_slip_of("amelia", "amelai"));
        // Two known names, more than one keystroke, or nothing: never.
        assert!(!is_slip_of("lea", "leah"));
        assert!(!is_slip_of("evie", "eva"));
        assert!(!is_slip_of("amelia", "amelia"));
        assert!(!is_slip_of("", "a"));
    }

    #[test]
    fn a_spelling_near_two_known_names_is_not_a_typo_of_either() {
        // `Miya` is one edit from `Mia` and from `Maya`.
        assert!(!is_known("miya"));
        assert!(!is_typo_of("mia", "miya"));
        assert!(!is_typo_of("maya", "miya"));
    }

    #[test]
    fn variants_are_exactly_the_one_edit_strings() {
        let variants = one_edit_variants("amelia");
        assert!(variants.contains(&"amelai".to_owned()));
        assert!(variants.contains(&"ameli".to_owned()));
        assert!(variants.contains(&"zamelia".to_owned()));
        assert!(!variants.contains(&"amelia".to_owned()));
        for v in &variants {
            assert!(one_edit_apart("amelia", v), "{v}");
        }
    }

    #[test]
    fn the_list_is_normalised() {
        for name in COMMON {
            assert_eq!(super::super::normalise::NormalName::new(name).joined, *name);
        }
    }
}
