//! `federation bench matching`: measures the node's matching (plain or keyed mode) against labelled
//! synthetic data, so that the claims in `docs/matching.md` are measured, not asserted.
//!
//! The true children come from the dev generator ([`crate::seed::population`]), with twins
//! added deliberately. Each agency holds an overlapping subset of them, each copy drifted
//! the way real records drift (typos, nicknames, surname changes, date slips, house
//! moves, missing fields), and every drift is recorded, so each answer can be scored
//! against the truth. Each agency's copy goes into a real node database (SQLite, or
//! PostgreSQL with `--database postgres`) through the node's own data layer; queries are
//! the *true* demographics without identifiers.

use agency_node::{db, finding};
use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use matching::{MatchingKey, MatchingMode, MatchingSettings, nicknames, normalise::NormalName};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{
    ChildIdentifiers, ChildQuery, ChildUpsert, Demographics, MatchGrade, MatchOutcome, NhsNumber,
    Sex, Upn,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `federation bench matching` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// True children generated (before twins are added).
    pub children: usize,
    /// Children searched for; each is searched for at every agency.
    pub queries: usize,
    pub seed: u64,
    /// Folder for the agencies' databases; a fresh temporary folder when `None`.
    pub dir: Option<PathBuf>,
    /// `plain`, or `keyed`: every child is also stored with its keyed encodings (a
    /// matching key generated for the run) and every search is a keyed query.
    pub mode: MatchingMode,
    /// A PostgreSQL server (`postgres://USER@HOST:PORT`) to hold the agencies'
    /// databases (`bench_<agency>`, emptied first, dropped at the end) instead of SQLite
    /// files in `dir`.
    pub postgres: Option<String>,
    /// The nodes' matching settings (default: `MatchingSettings::default()`), e.g. from
    /// `--settings`. Each agency estimates its *u* from its own children on top of them,
    /// as a node does, unless they turn that off (`[matching.estimate_u]`).
    pub settings: MatchingSettings,
    /// Search the SQLite files already in `dir` (loaded by an earlier run with the same
    /// children, seed and plain mode) instead of loading them again.
    pub reuse: bool,
    /// A file to write every search's answer to, one JSON line each.
    pub answers: Option<PathBuf>,
}

/// The `[matching]` section of a TOML file (a node configuration, or the output of
/// `agency-node matching estimate-u`), checked as a node would check it; the defaults
/// without a file.
pub fn settings_file(path: Option<&std::path::Path>) -> anyhow::Result<MatchingSettings> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        matching: MatchingSettings,
    }
    let Some(path) = path else {
        return Ok(MatchingSettings::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: File =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    file.matching
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(file.matching)
}

/// The agencies of the benchmark and the share of children each holds. The shares
/// overlap, so most children are held by some agencies and not others.
pub const AGENCIES: &[(&str, f64)] = &[("school", 0.70), ("health", 0.55), ("social-care", 0.35)];

/// Share of true children given a twin.
const TWIN_RATE: f64 = 0.04;
/// Chance that an agency holding one twin holds the other too.
const TWIN_HELD_TOGETHER: f64 = 0.85;

/// How often each drift is applied to an agency's copy (independently, so they stack).
const P_NICKNAME: f64 = 0.05;
const P_GIVEN_TYPO: f64 = 0.03;
const P_FAMILY_TYPO: f64 = 0.03;
const P_SURNAME_CHANGE: f64 = 0.03;
const P_DAY_MONTH_SWAP: f64 = 0.015;
const P_DOB_ONE_DIGIT: f64 = 0.02;
const P_MOVED: f64 = 0.10;
const P_NO_POSTCODE: f64 = 0.05;
const P_NO_SEX: f64 = 0.05;

/// Short forms and spellings of some of the generator's given names. Only pairs that the
/// matcher's own nickname groups hold are used (checked with
/// [`nicknames::are_aliases`] at use and in a test), so the label "nickname" means a
/// drift the matcher is meant to recognise.
const NICKNAMES: &[(&str, &[&str])] = &[
    ("Amelia", &["Millie", "Melia"]),
    ("Olivia", &["Liv", "Livvy", "Livia"]),
    ("Ellie", &["Eleanor", "Elle", "Nell"]),
    ("Eleanor", &["Ellie", "Nell", "Elinor"]),
    ("Elizabeth", &["Beth", "Lizzie", "Libby"]),
    ("Sofia", &["Sophia", "Sophie"]),
    ("Sophia", &["Sophie", "Sofia"]),
    ("Isabella", &["Izzy", "Bella", "Isobel"]),
    ("Charlotte", &["Lottie", "Charlie"]),
    ("Emily", &["Em", "Emmy"]),
    ("Jessica", &["Jess", "Jessie"]),
    ("Abigail", &["Abi", "Abbie"]),
    ("Rebecca", &["Becky", "Becca"]),
    ("Victoria", &["Vicky", "Tori"]),
    ("Katherine", &["Kate", "Katie", "Kathryn"]),
    ("Josephine", &["Josie", "Jo"]),
    ("Aisha", &["Ayesha", "Aysha"]),
    ("Oliver", &["Ollie", "Olly"]),
    ("Muhammad", &["Mo", "Mohammed", "Mohamed"]),
    ("Harry", &["Henry", "Hal"]),
    ("Henry", &["Harry", "Hal"]),
    ("Theodore", &["Theo", "Teddy"]),
    ("Freddie", &["Fred", "Frederick"]),
    ("Thomas", &["Tom", "Tommy"]),
    ("William", &["Will", "Billy"]),
    ("James", &["Jamie", "Jim"]),
    ("Joshua", &["Josh"]),
    ("Alexander", &["Alex", "Xander"]),
    ("Benjamin", &["Ben", "Benji"]),
    ("Daniel", &["Dan", "Danny"]),
    ("Joseph", &["Joe", "Joey"]),
    ("Zachary", &["Zach", "Zak"]),
    ("Edward", &["Ed", "Eddie", "Ted"]),
    ("Samuel", &["Sam", "Sammy"]),
    ("Yusuf", &["Yousuf", "Youssef"]),
    ("Alfie", &["Alfred", "Alf", "Fred"]),
    ("Tomasz", &["Thomas", "Tom"]),
    ("Ibrahim", &["Ebrahim", "Ibraheem"]),
];

/// The given names the benchmark can drift to a short form or other spelling.
pub fn nickname_names() -> impl Iterator<Item = &'static str> {
    NICKNAMES.iter().map(|(full, _)| *full)
}

/// One way a record drifts from the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Drift {
    GivenTypo,
    Nickname,
    FamilyTypo,
    /// A second surname added, double-barrelled.
    BarrelAdded,
    /// One part of a double-barrelled surname dropped.
    BarrelDropped,
    /// Another surname altogether (adoption, a step-parent's name).
    SurnameReplaced,
    DayMonthSwapped,
    DobOneDigit,
    /// New postcode in the same district (outward code).
    MovedSameDistrict,
    /// New postcode in another district.
    MovedAway,
    NoPostcode,
    NoSex,
}

impl Drift {
    pub fn label(self) -> &'static str {
        match self {
            Drift::GivenTypo => "typo in given name",
            Drift::Nickname => "nickname / spelling",
            Drift::FamilyTypo => "typo in family name",
            Drift::BarrelAdded => "surname double-barrelled",
            Drift::BarrelDropped => "double-barrelled part dropped",
            Drift::SurnameReplaced => "surname replaced",
            Drift::DayMonthSwapped => "DOB day/month swapped",
            Drift::DobOneDigit => "DOB one digit off",
            Drift::MovedSameDistrict => "moved, same district",
            Drift::MovedAway => "moved, other district",
            Drift::NoPostcode => "no postcode",
            Drift::NoSex => "no sex",
        }
    }
}

/// A child as they really are.
#[derive(Debug, Clone)]
pub struct TrueChild {
    pub demographics: Demographics,
    pub upn: Option<Upn>,
    pub nhs_number: Option<NhsNumber>,
    /// Index of this child's twin, if any.
    pub twin: Option<usize>,
}

/// One agency's copy of one child, and how it drifted.
#[derive(Debug, Clone)]
pub struct AgencyCopy {
    pub child: usize,
    pub demographics: Demographics,
    pub drifts: Vec<Drift>,
}

impl AgencyCopy {
    /// The local id the copy is stored under at `agency`.
    pub fn local_id(&self, agency: &str) -> String {
        format!("{agency}-{:08}", self.child)
    }
}

/// The true children: the dev generator's population, then a twin for some of them (same
/// family name, date of birth and postcode, another given name).
pub fn true_children(seed: u64, count: usize) -> Vec<TrueChild> {
    // One child at a time: the generator's records of each child are dropped at once.
    let mut children: Vec<TrueChild> = crate::seed::population_iter(seed, count)
        .map(|c| TrueChild {
            demographics: c.demographics,
            upn: Some(c.upn),
            nhs_number: c.nhs_number,
            twin: None,
        })
        .collect();
    let given_names: Vec<(String, Option<Sex>)> = {
        let mut names: Vec<(String, Option<Sex>)> = children
            .iter()
            .map(|c| (c.demographics.given_name.clone(), c.demographics.sex))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names.dedup_by(|a, b| a.0 == b.0);
        names
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7477_696e_735f_7631);
    for index in 0..count {
        if given_names.len() < 2 || !rng.random_bool(TWIN_RATE) {
            continue;
        }
        let first = children[index].demographics.clone();
        let (given_name, sex) = loop {
            let (name, sex) = &given_names[rng.random_range(0..given_names.len())];
            if !same_or_alias(name, &first.given_name) {
                break (name.clone(), *sex);
            }
        };
        let twin = children.len();
        children.push(TrueChild {
            demographics: Demographics {
                given_name,
                sex,
                ..first
            },
            upn: Upn::with_check_letter(&format!("998{:09}", index + 1)).ok(),
            nhs_number: None,
            twin: Some(index),
        });
        children[index].twin = Some(twin);
    }
    children
}

/// Which children agency number `agency` holds, as drifted copies. Twins tend to be held
/// together.
pub fn agency_copies(children: &[TrueChild], agency: usize, seed: u64) -> Vec<AgencyCopy> {
    let share = AGENCIES.get(agency).map_or(0.5, |(_, share)| *share);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (0x6167_656e_6379 + agency as u64));
    let mut holds = vec![false; children.len()];
    for (index, child) in children.iter().enumerate() {
        holds[index] = match child.twin {
            // The second twin follows the first.
            Some(first) if first < index => {
                if rng.random_bool(TWIN_HELD_TOGETHER) {
                    holds[first]
                } else {
                    !holds[first]
                }
            }
            _ => rng.random_bool(share),
        };
    }
    let family_names: Vec<&str> = children
        .iter()
        .map(|c| c.demographics.family_name.as_str())
        .collect();
    children
        .iter()
        .enumerate()
        .filter(|(index, _)| holds[*index])
        .map(|(index, child)| {
            let donor = family_names[rng.random_range(0..family_names.len())];
            let twin_name = child
                .twin
                .map(|t| children[t].demographics.given_name.as_str());
            let (demographics, drifts) = drift(&child.demographics, donor, twin_name, &mut rng);
            AgencyCopy {
                child: index,
                demographics,
                drifts,
            }
        })
        .collect()
}

/// Applies each drift with its probability. `donor` is another child's family name, for
/// surname changes. A drift that would give a twin their twin's given name is undone: the
/// label would then be a lie no matcher could see through.
pub fn drift<R: Rng>(
    truth: &Demographics,
    donor: &str,
    twin_name: Option<&str>,
    rng: &mut R,
) -> (Demographics, Vec<Drift>) {
    let mut d = truth.clone();
    let mut drifts = Vec::new();
    let short = rng
        .random_bool(P_NICKNAME)
        .then(|| nickname(&d.given_name, rng))
        .flatten();
    if let Some(short) = short {
        d.given_name = short;
        drifts.push(Drift::Nickname);
    }
    if rng.random_bool(P_GIVEN_TYPO) {
        d.given_name = typo(&d.given_name, rng);
        drifts.push(Drift::GivenTypo);
    }
    if twin_name.is_some_and(|twin| same_or_alias(&d.given_name, twin)) {
        d.given_name = truth.given_name.clone();
        drifts.retain(|x| !matches!(x, Drift::Nickname | Drift::GivenTypo));
    }
    if rng.random_bool(P_FAMILY_TYPO) {
        d.family_name = typo(&d.family_name, rng);
        drifts.push(Drift::FamilyTypo);
    }
    let changed = rng
        .random_bool(P_SURNAME_CHANGE)
        .then(|| change_surname(&d.family_name, donor, rng))
        .flatten();
    if let Some((name, kind)) = changed {
        d.family_name = name;
        drifts.push(kind);
    }
    let swapped = rng
        .random_bool(P_DAY_MONTH_SWAP)
        .then(|| swap_day_month(d.date_of_birth))
        .flatten();
    if let Some(swapped) = swapped {
        d.date_of_birth = swapped;
        drifts.push(Drift::DayMonthSwapped);
    }
    let slipped = rng
        .random_bool(P_DOB_ONE_DIGIT)
        .then(|| one_digit_off(d.date_of_birth, rng))
        .flatten();
    if let Some(slipped) = slipped {
        d.date_of_birth = slipped;
        drifts.push(Drift::DobOneDigit);
    }
    if rng.random_bool(P_MOVED) {
        let same_district = rng.random_bool(0.5);
        if let Some(new) = d
            .postcode
            .as_deref()
            .and_then(|old| move_house(old, same_district, rng))
        {
            d.postcode = Some(new);
            drifts.push(if same_district {
                Drift::MovedSameDistrict
            } else {
                Drift::MovedAway
            });
        }
    }
    if rng.random_bool(P_NO_POSTCODE) && d.postcode.is_some() {
        d.postcode = None;
        drifts.retain(|x| !matches!(x, Drift::MovedSameDistrict | Drift::MovedAway));
        drifts.push(Drift::NoPostcode);
    }
    if rng.random_bool(P_NO_SEX) && d.sex.is_some() {
        d.sex = None;
        drifts.push(Drift::NoSex);
    }
    (d, drifts)
}

/// Equal after the matcher's normalisation, or aliases in its nickname groups.
fn same_or_alias(a: &str, b: &str) -> bool {
    let (a, b) = (NormalName::new(a).joined, NormalName::new(b).joined);
    a == b || nicknames::are_aliases(&a, &b)
}

/// One keyboard slip: a letter substituted, dropped, doubled or two letters transposed.
/// Never returns the name unchanged.
pub fn typo<R: Rng>(name: &str, rng: &mut R) -> String {
    let chars: Vec<char> = name.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|i| chars[*i].is_alphabetic())
        .collect();
    if letters.is_empty() {
        return format!("{name}e");
    }
    for _ in 0..20 {
        let mut out = chars.clone();
        let at = letters[rng.random_range(0..letters.len())];
        match rng.random_range(0..4) {
            0 => {
                let replacement = (b'a' + rng.random_range(0..26u8)) as char;
                out[at] = if chars[at].is_uppercase() {
                    replacement.to_ascii_uppercase()
                } else {
                    replacement
                };
            }
            1 if letters.len() > 3 => {
                out.remove(at);
            }
            2 => out.insert(at, chars[at].to_ascii_lowercase()),
            _ if at + 1 < out.len() && out[at + 1].is_alphabetic() => {
                let (a, b) = (
                    out[at].to_ascii_lowercase(),
                    out[at + 1].to_ascii_lowercase(),
                );
                out[at] = if chars[at].is_uppercase() {
                    b.to_ascii_uppercase()
                } else {
                    b
                };
                out[at + 1] = a;
            }
            _ => continue,
        }
        let out: String = out.into_iter().collect();
        if NormalName::new(&out).joined != NormalName::new(name).joined {
            return out;
        }
    }
    format!("{name}e")
}

/// A short form or other spelling the matcher knows, if the name has one.
pub fn nickname<R: Rng>(name: &str, rng: &mut R) -> Option<String> {
    let (_, variants) = NICKNAMES.iter().find(|(full, _)| *full == name)?;
    let pick = variants[rng.random_range(0..variants.len())];
    same_or_alias(name, pick).then(|| pick.to_owned())
}

/// A surname change: a double-barrelled name loses a part; otherwise `donor` is added
/// (before or after) or, less often, replaces the name. `None` if the donor is the same
/// name.
pub fn change_surname<R: Rng>(family: &str, donor: &str, rng: &mut R) -> Option<(String, Drift)> {
    if let Some((first, second)) = family.split_once('-') {
        let kept = if rng.random_bool(0.5) { first } else { second };
        return Some((kept.to_owned(), Drift::BarrelDropped));
    }
    if NormalName::new(donor).joined == NormalName::new(family).joined || donor.contains('-') {
        return None;
    }
    Some(match rng.random_range(0..3) {
        0 => (format!("{family}-{donor}"), Drift::BarrelAdded),
        1 => (format!("{donor}-{family}"), Drift::BarrelAdded),
        _ => (donor.to_owned(), Drift::SurnameReplaced),
    })
}

/// The date with day and month exchanged, when that is another valid date.
pub fn swap_day_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.day() == date.month() || date.day() > 12 {
        return None;
    }
    NaiveDate::from_ymd_opt(date.year(), date.day(), date.month())
}

/// The date with exactly one of its eight digits `YYYYMMDD` changed, still a valid date.
pub fn one_digit_off<R: Rng>(date: NaiveDate, rng: &mut R) -> Option<NaiveDate> {
    let digits: Vec<u8> = date.format("%Y%m%d").to_string().into_bytes();
    for _ in 0..50 {
        // Positions 4..8 (month and day) are the usual slips; the year's last digit too.
        let at = [3usize, 4, 5, 6, 7][rng.random_range(0..5)];
        let new = b'0' + rng.random_range(0..10u8);
        if new == digits[at] {
            continue;
        }
        let mut out = digits.clone();
        out[at] = new;
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Ok(slipped) = NaiveDate::parse_from_str(&text, "%Y%m%d") {
            return Some(slipped);
        }
    }
    None
}

/// A new postcode of the generator's form (`ZZn nLL`): in the same district (outward
/// code) or in another. `None` if `old` is not of that form.
pub fn move_house<R: Rng>(old: &str, same_district: bool, rng: &mut R) -> Option<String> {
    let (outward, _) = old.split_once(' ')?;
    let district: u8 = outward.strip_prefix("ZZ")?.parse().ok()?;
    let letters = b"ABDEFGHJLNPQRSTUWXYZ";
    for _ in 0..50 {
        let new_district = if same_district {
            district
        } else {
            rng.random_range(1..10)
        };
        if !same_district && new_district == district {
            continue;
        }
        let new = format!(
            "ZZ{new_district} {}{}{}",
            rng.random_range(1..10),
            letters[rng.random_range(0..letters.len())] as char,
            letters[rng.random_range(0..letters.len())] as char
        );
        if new != old {
            return Some(new);
        }
    }
    None
}

/// Counts over one run.
#[derive(Debug, Default)]
struct Tally {
    /// (query, agency) pairs where the agency holds the child.
    held_pairs: usize,
    not_held_pairs: usize,
    right_links: usize,
    wrong_links_held: usize,
    wrong_links_not_held: usize,
    wrong_certain: usize,
    certain_links: usize,
    twin_links: usize,
    /// Pairs where the child's twin is held by the agency: chances to link the twin.
    twin_exposures: usize,
    ambiguous: usize,
    ambiguous_held: usize,
    candidates: usize,
    candidates_held: usize,
    /// `candidates` answers for a held child that list it.
    candidates_with_true: usize,
    /// The most candidates listed in one `candidates` answer.
    most_candidates: usize,
    /// Candidates offered for a child the agency does not hold, by what they truly share
    /// with the searched-for child ([`kinship`]).
    offered_not_held: BTreeMap<&'static str, usize>,
    not_found_held: usize,
    /// Per drift: held pairs with that drift and right links among them; then the same
    /// for copies with that drift alone.
    by_drift: BTreeMap<Drift, [usize; 7]>,
    clean: (usize, usize),
    match_latency: Vec<Duration>,
    id_latency: Vec<Duration>,
    id_wrong: usize,
    /// Wrong links by the fields that agreed (`matched_on`).
    wrong_by_fields: BTreeMap<String, usize>,
}

/// What a child offered for a search truly shares with the searched-for child `asked`
/// (`truth`), as a practitioner would see it: the twin, or a child sharing the family
/// name and date of birth, both names, the family name, the given name and date of
/// birth, or nothing of these.
fn kinship(truth: &TrueChild, asked: usize, offered: &TrueChild) -> &'static str {
    if offered.twin == Some(asked) {
        return "the twin";
    }
    let (a, b) = (&truth.demographics, &offered.demographics);
    let same = |x: &str, y: &str| NormalName::new(x).joined == NormalName::new(y).joined;
    let family = same(&a.family_name, &b.family_name);
    let given = same(&a.given_name, &b.given_name);
    let born = a.date_of_birth == b.date_of_birth;
    match (given, family, born) {
        (_, true, true) => "family name and date of birth",
        (true, true, false) => "both names (a namesake)",
        (false, true, false) => "the family name only",
        (true, false, true) => "given name and date of birth",
        _ => "none of names and date of birth",
    }
}

/// Children who share sex, given name, family name and date of birth (as the matcher
/// normalises names) with at least one other child: namesakes no matcher can tell apart
/// without a postcode or an identifier.
pub fn children_with_namesakes(children: &[TrueChild]) -> usize {
    let mut groups: std::collections::HashMap<(String, String, NaiveDate, bool), usize> =
        std::collections::HashMap::new();
    for child in children {
        let d = &child.demographics;
        let key = (
            NormalName::new(&d.given_name).joined,
            NormalName::new(&d.family_name).joined,
            d.date_of_birth,
            d.sex == Some(Sex::Female),
        );
        *groups.entry(key).or_default() += 1;
    }
    groups.values().filter(|n| **n > 1).sum()
}

/// Runs the benchmark and prints its report.
pub fn matching(options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let children = true_children(options.seed, options.children);
    let twins = children.iter().filter(|c| c.twin.is_some()).count() / 2;
    println!(
        "generated {} true children ({} twin pairs) in {:.1}s",
        children.len(),
        twins,
        started.elapsed().as_secs_f64()
    );
    let namesakes = children_with_namesakes(&children);
    println!(
        "children sharing sex, given name, family name and date of birth with another: {} ({:.0} per million)",
        namesakes,
        namesakes as f64 * 1e6 / children.len().max(1) as f64
    );

    let (dir, temporary) = match &options.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("federation-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run(options, &children, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run(options: &Options, children: &[TrueChild], dir: &std::path::Path) -> anyhow::Result<()> {
    let settings = &options.settings;
    anyhow::ensure!(
        !options.reuse || (options.postgres.is_none() && options.mode == MatchingMode::Plain),
        "--reuse: only SQLite databases of a plain-mode run are reused"
    );
    let key = match options.mode {
        MatchingMode::Plain => None,
        MatchingMode::Keyed => Some(MatchingKey::from_base64(&MatchingKey::generate()?)?),
    };
    // One search, in the run's mode; the keyed query is encoded as the gateway would.
    let find = |conn: &mut agency_node::db::DbConnection,
                query: &ChildQuery,
                settings: &MatchingSettings|
     -> Result<schemas::MatchResponse, db::DbError> {
        match &key {
            None => finding::find_with(conn, query, settings),
            Some(key) => finding::find_keyed(conn, &key.encode_query(query), Some(key), settings),
        }
    };
    // Per agency: the connection, and for each child the row id it was stored under.
    let mut nodes = Vec::new();
    let mut drifts_at: Vec<Vec<Option<Vec<Drift>>>> = Vec::new();
    // With --answers: each agency's copy of each child, to show what a miss looked like.
    let mut copies_at: Vec<std::collections::HashMap<usize, Demographics>> = Vec::new();
    let mut seeded = Vec::new();
    for (agency, (name, _)) in AGENCIES.iter().enumerate() {
        let copies = agency_copies(children, agency, options.seed);
        let url = match &options.postgres {
            Some(server) => {
                let url = format!(
                    "{}/bench_{}",
                    server.trim_end_matches('/'),
                    name.replace('-', "_")
                );
                db::drop_database(&url)?;
                db::create_database_if_missing(&url)?;
                url
            }
            None => {
                let path = dir.join(format!("{name}.sqlite"));
                if options.reuse {
                    anyhow::ensure!(path.exists(), "--reuse: no {} to reuse", path.display());
                } else {
                    let _ = std::fs::remove_file(&path);
                }
                format!("sqlite://{}", path.display())
            }
        };
        let pool = db::connect(&url).with_context(|| format!("opening {url}"))?;
        let mut conn = pool.get()?;
        let loading = Instant::now();
        let mut row_child: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(copies.len());
        let mut drifts = vec![None; children.len()];
        let to_load = if options.reuse {
            reused(&mut conn, name, &copies, &mut row_child)?;
            for copy in &copies {
                drifts[copy.child] = Some(copy.drifts.clone());
            }
            &[][..]
        } else {
            &copies[..]
        };
        for batch in to_load.chunks(10_000) {
            let ids = db::write(&mut conn, |conn| {
                let mut ids = Vec::with_capacity(batch.len());
                for copy in batch {
                    let truth = &children[copy.child];
                    let upsert = ChildUpsert {
                        demographics: copy.demographics.clone().into(),
                        identifiers: ChildIdentifiers {
                            upn: truth.upn.clone(),
                            nhs_number: truth.nhs_number.clone(),
                            ..Default::default()
                        },
                    };
                    let local_id = copy.local_id(name);
                    let (row, _) = db::children::upsert(conn, &local_id, &upsert)?;
                    if let Some(key) = &key {
                        db::keyed::store(conn, &row, key)?;
                    }
                    ids.push(row.id);
                }
                Ok(ids)
            })?;
            for (copy, id) in batch.iter().zip(ids) {
                row_child.insert(id, copy.child);
                drifts[copy.child] = Some(copy.drifts.clone());
            }
        }
        if let db::DbConnection::Pg(pg) = &mut *conn {
            // What autovacuum would do soon after a bulk load: the planner's statistics
            // (the node reads its size from them).
            use diesel::RunQueryDsl;
            diesel::sql_query("ANALYZE children").execute(pg)?;
        }
        let seeding = loading.elapsed();
        let node_settings = if settings.estimate_u.enabled {
            own_estimate(&mut conn, name, settings)?
        } else {
            settings.clone()
        };
        let drifted = copies.iter().filter(|c| !c.drifts.is_empty()).count();
        let size = database_size(&mut conn, &url)?;
        println!(
            "{name}: {} children {} ({} drifted) in {:.1}s; database {:.1} MiB",
            copies.len(),
            if options.reuse { "reused" } else { "loaded" },
            drifted,
            seeding.as_secs_f64(),
            size as f64 / (1024.0 * 1024.0)
        );
        seeded.push((*name, copies.len(), seeding, size));
        drop(pool);
        nodes.push((*name, conn, row_child, url, node_settings));
        drifts_at.push(drifts);
        copies_at.push(if options.answers.is_some() {
            copies
                .into_iter()
                .map(|c| (c.child, c.demographics))
                .collect()
        } else {
            Default::default()
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x0071_7565_7269_6573);
    let queries = options.queries.min(children.len());
    let sample = rand::seq::index::sample(&mut rng, children.len(), queries);
    let mut t = Tally::default();
    let mut answers = match &options.answers {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    for asked in sample.iter() {
        let truth = &children[asked];
        let plain = ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: Some(truth.demographics.clone().into()),
        };
        let by_upn = ChildQuery {
            identifiers: ChildIdentifiers {
                upn: truth.upn.clone(),
                nhs_number: None,
                ..Default::default()
            },
            demographics: None,
        };
        for (((name, conn, row_child, _, node_settings), drifts), copies) in
            nodes.iter_mut().zip(&drifts_at).zip(&copies_at)
        {
            let held = drifts[asked].as_ref();
            let twin_held = truth.twin.is_some_and(|twin| drifts[twin].is_some());
            let clock = Instant::now();
            let answer = find(conn, &plain, node_settings)?;
            t.match_latency.push(clock.elapsed());
            if twin_held {
                t.twin_exposures += 1;
            }
            let linked = answer
                .local_ref
                .as_ref()
                .and_then(|r| row_child.get(r))
                .copied();
            let right = answer.outcome == MatchOutcome::Held && linked == Some(asked);
            if let Some(out) = &mut answers {
                use std::io::Write;
                // Row ids differ between loads; the children they hold do not.
                let child_of = |r: &String| row_child.get(r).copied();
                let line = serde_json::json!({
                    "agency": name,
                    "child": asked,
                    "outcome": answer.outcome,
                    "grade": answer.grade,
                    "linked": answer.local_ref.as_ref().map(child_of),
                    "matched_on": answer.matched_on,
                    "candidates": answer.candidate_refs.iter().map(child_of).collect::<Vec<_>>(),
                    "candidate_grades": answer.candidates,
                    "held_drifts": held.map(|d| d.iter().map(|d| d.label()).collect::<Vec<_>>()),
                    "twin_held": twin_held,
                    // The names searched for and the agency's drifted copy, when the
                    // search was for a held child and did not link it.
                    "missed": (held.is_some() && !right)
                        .then(|| (&truth.demographics, copies.get(&asked))),
                });
                writeln!(out, "{line}")?;
            }
            match held {
                Some(drifts) => {
                    t.held_pairs += 1;
                    if drifts.is_empty() {
                        t.clean.0 += 1;
                        t.clean.1 += usize::from(right);
                    }
                    for d in drifts {
                        let entry = t.by_drift.entry(*d).or_default();
                        entry[0] += 1;
                        entry[1] += usize::from(right);
                        if drifts.len() == 1 {
                            entry[2] += 1;
                            entry[3] += usize::from(right);
                            match answer.outcome {
                                MatchOutcome::NotHeld => entry[4] += 1,
                                MatchOutcome::Candidates => entry[5] += 1,
                                MatchOutcome::Ambiguous => entry[6] += 1,
                                MatchOutcome::Held => {}
                            }
                        }
                    }
                }
                None => t.not_held_pairs += 1,
            }
            match answer.outcome {
                MatchOutcome::Held => {
                    if answer.grade == Some(MatchGrade::Certain) {
                        t.certain_links += 1;
                    }
                    if right {
                        t.right_links += 1;
                    } else {
                        if held.is_some() {
                            t.wrong_links_held += 1;
                        } else {
                            t.wrong_links_not_held += 1;
                        }
                        if answer.grade == Some(MatchGrade::Certain) {
                            t.wrong_certain += 1;
                        }
                        *t.wrong_by_fields
                            .entry(answer.matched_on.join(", "))
                            .or_default() += 1;
                        if linked.is_some() && linked == truth.twin {
                            t.twin_links += 1;
                        }
                    }
                }
                MatchOutcome::NotHeld => {
                    if held.is_some() {
                        t.not_found_held += 1;
                    }
                }
                MatchOutcome::Ambiguous => {
                    t.ambiguous += 1;
                    t.ambiguous_held += usize::from(held.is_some());
                }
                MatchOutcome::Candidates => {
                    t.candidates += 1;
                    t.candidates_held += usize::from(held.is_some());
                    t.most_candidates = t.most_candidates.max(answer.candidates.len());
                    let offered = answer
                        .candidate_refs
                        .iter()
                        .filter_map(|r| row_child.get(r));
                    if held.is_some() {
                        t.candidates_with_true += usize::from(offered.clone().any(|c| *c == asked));
                    } else {
                        for c in offered {
                            *t.offered_not_held
                                .entry(kinship(truth, asked, &children[*c]))
                                .or_default() += 1;
                        }
                    }
                }
            }

            if by_upn.identifiers.upn.is_some() {
                let clock = Instant::now();
                let answer = find(conn, &by_upn, node_settings)?;
                t.id_latency.push(clock.elapsed());
                let linked = answer
                    .local_ref
                    .as_ref()
                    .and_then(|r| row_child.get(r))
                    .copied();
                let expected = held.map(|_| asked);
                if linked != expected {
                    t.id_wrong += 1;
                }
            }
        }
    }
    if let Some(mut out) = answers {
        use std::io::Write;
        out.flush()?;
    }
    report(options, children.len(), queries, &mut t);
    println!();
    println!("| agency | children | seeding | database size |");
    println!("|---|---|---|---|");
    for (name, count, seeding, size) in &seeded {
        println!(
            "| {name} | {count} | {:.1} s | {:.1} MiB |",
            seeding.as_secs_f64(),
            *size as f64 / (1024.0 * 1024.0)
        );
    }
    println!();
    println!(
        "bench process peak resident memory (VmHWM): {}",
        peak_memory().map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} MiB", kib as f64 / 1024.0)
        )
    );
    if options.postgres.is_some() {
        for (_, conn, _, url, _) in nodes {
            drop(conn);
            db::drop_database(&url)?;
        }
    }
    Ok(())
}

/// `settings` with the *u* values an agency's node adopts from a sample of its own
/// children ([`finding::estimating::own_u`]: `[matching.estimate_u]`'s sample size,
/// pairs and bounds); the estimate's report is printed.
pub fn own_estimate(
    conn: &mut db::DbConnection,
    agency: &str,
    settings: &MatchingSettings,
) -> anyhow::Result<MatchingSettings> {
    use finding::estimating::OwnU;
    match finding::estimating::own_u(conn, settings)? {
        OwnU::TooFew(children) => {
            println!(
                "{agency}: the configured u ({children} complete children, fewer than {})",
                settings.estimate_u.min_children
            );
            Ok(settings.clone())
        }
        OwnU::Refused(why) => anyhow::bail!("{agency}: the estimated weights are refused: {why}"),
        OwnU::Adopted(adopted) => {
            let (estimate, own) = *adopted;
            println!("{agency}: u estimated from its own children");
            print!("{}", matching::estimate::report(&estimate, settings));
            Ok(own)
        }
    }
}

/// The row ids of an agency's copies in a database an earlier run loaded (`--reuse`):
/// each copy is stored under the local id `<agency>-<child>`; the database must hold
/// exactly these copies, with the same demographics.
fn reused(
    conn: &mut db::DbConnection,
    name: &str,
    copies: &[AgencyCopy],
    row_child: &mut std::collections::HashMap<String, usize>,
) -> anyhow::Result<()> {
    use db::schema::children::dsl as c;
    use diesel::prelude::*;
    type Stored = (String, String, String, String, NaiveDate);
    let stored: Vec<Stored> = c::children
        .select((
            c::id,
            c::local_id,
            c::given_name,
            c::family_name,
            c::date_of_birth,
        ))
        .load(conn)?;
    let by_local: std::collections::HashMap<String, &AgencyCopy> = copies
        .iter()
        .map(|copy| (copy.local_id(name), copy))
        .collect();
    anyhow::ensure!(
        stored.len() == copies.len(),
        "--reuse: {name} holds {} children, this run makes {}",
        stored.len(),
        copies.len()
    );
    for (id, local_id, given, family, dob) in stored {
        let copy = by_local
            .get(local_id.as_str())
            .with_context(|| format!("--reuse: {name} holds {local_id}, not of this run"))?;
        let d = &copy.demographics;
        anyhow::ensure!(
            d.given_name == given && d.family_name == family && d.date_of_birth == dob,
            "--reuse: {name}'s {local_id} differs from this run's copy (another seed?)"
        );
        row_child.insert(id, copy.child);
    }
    Ok(())
}

/// Bytes the database takes: PostgreSQL's own count, or the SQLite file and its WAL.
pub(crate) fn database_size(conn: &mut db::DbConnection, url: &str) -> anyhow::Result<u64> {
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    use diesel::RunQueryDsl;
    match conn {
        db::DbConnection::Pg(pg) => {
            // What PostgreSQL reports on disk now (no VACUUM first).
            let size: Size =
                diesel::sql_query("SELECT pg_database_size(current_database()) AS bytes")
                    .get_result(pg)?;
            Ok(u64::try_from(size.bytes).unwrap_or_default())
        }
        db::DbConnection::Sqlite(_) => {
            let path = url.trim_start_matches("sqlite://");
            let mut bytes = 0;
            for file in [path.to_owned(), format!("{path}-wal")] {
                bytes += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            }
            Ok(bytes)
        }
    }
}

/// The process's peak resident memory in KiB (`VmHWM` in `/proc/self/status`), where
/// Linux tells it.
fn peak_memory() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The machine: cores and CPU model.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}

/// The short commit this binary was built from (`build.rs`), `unknown` when it was
/// built outside a git checkout.
pub fn commit() -> String {
    env!("FEDERATION_BUILD_COMMIT").to_owned()
}

fn report(options: &Options, children: usize, queries: usize, t: &mut Tally) {
    t.match_latency.sort();
    t.id_latency.sort();
    let wrong = t.wrong_links_held + t.wrong_links_not_held;
    let precision = ratio(t.right_links, t.right_links + wrong);
    let recall = ratio(t.right_links, t.held_pairs);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    println!();
    println!(
        "command: cargo run --release --bin federation -- bench matching --children {} --queries {} --seed {} --mode {}{}",
        options.children,
        options.queries,
        options.seed,
        match options.mode {
            MatchingMode::Plain => "plain",
            MatchingMode::Keyed => "keyed",
        },
        match &options.postgres {
            Some(server) => format!(" --database postgres={server}"),
            None => String::new(),
        }
    );
    println!("machine: {}", machine());
    println!("commit: {}", commit());
    if options.settings != MatchingSettings::default() {
        println!(
            "matching settings (not the defaults): {}",
            toml::to_string(&options.settings)
                .unwrap_or_default()
                .replace('\n', " ")
        );
    }
    println!(
        "true children: {children}; queries: {queries} children x {} agencies = {} searches \
         ({} for a child the agency holds, {} for one it does not)",
        AGENCIES.len(),
        t.match_latency.len(),
        t.held_pairs,
        t.not_held_pairs
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| precision of links | {precision:.4} |");
    println!(
        "| recall of links | {recall:.4} ({} of {}) |",
        t.right_links, t.held_pairs
    );
    println!("| F1 | {f1:.4} |");
    println!(
        "| wrong links, child held (another child linked) | {} |",
        t.wrong_links_held
    );
    println!(
        "| wrong links, child not held | {} |",
        t.wrong_links_not_held
    );
    println!(
        "| wrong `certain` links | {} (certain links in all: {}) |",
        t.wrong_certain, t.certain_links
    );
    println!(
        "| twins linked to each other | {} (searches where the twin was held: {}) |",
        t.twin_links, t.twin_exposures
    );
    println!(
        "| `ambiguous` outcomes | {} ({} for a held child) |",
        t.ambiguous, t.ambiguous_held
    );
    println!(
        "| `candidates` outcomes | {} ({} for a held child) |",
        t.candidates, t.candidates_held
    );
    let offered_not_held = t.candidates - t.candidates_held;
    println!(
        "| `candidates` for a child not held | {offered_not_held} of {} ({:.2} %); most candidates in one answer {} |",
        t.not_held_pairs,
        100.0 * offered_not_held as f64 / t.not_held_pairs.max(1) as f64,
        t.most_candidates
    );
    println!(
        "| linked + offered recall (linked, or listed among the candidates) | {:.4} ({} of {}) |",
        (t.right_links + t.candidates_with_true) as f64 / t.held_pairs.max(1) as f64,
        t.right_links + t.candidates_with_true,
        t.held_pairs
    );
    println!("| `not_held` for a held child | {} |", t.not_found_held);
    println!(
        "| match latency p50 / p99 ({}, {} searches) | {} / {} |",
        match options.mode {
            MatchingMode::Plain => "plain",
            MatchingMode::Keyed => "keyed, encoding included",
        },
        t.match_latency.len(),
        ms(percentile(&t.match_latency, 0.50)),
        ms(percentile(&t.match_latency, 0.99))
    );
    println!(
        "| identifier (UPN only) lookup p50 / p99 ({} lookups) | {} / {} |",
        t.id_latency.len(),
        ms(percentile(&t.id_latency, 0.50)),
        ms(percentile(&t.id_latency, 0.99))
    );
    println!("| wrong answers to UPN-only lookups | {} |", t.id_wrong);
    if !t.wrong_by_fields.is_empty() {
        println!();
        println!("Wrong links by the fields that agreed:");
        println!();
        println!("| matched_on | wrong links |");
        println!("|---|---|");
        for (fields, n) in &t.wrong_by_fields {
            println!("| {fields} | {n} |");
        }
    }
    if !t.offered_not_held.is_empty() {
        println!();
        println!(
            "Candidates offered for a child the agency does not hold, by what they truly share with the searched-for child:"
        );
        println!();
        println!("| shares | candidates |");
        println!("|---|---|");
        for (kind, n) in &t.offered_not_held {
            println!("| {kind} | {n} |");
        }
    }
    println!();
    println!("Recall by drift of the held copy (a copy may carry several drifts):");
    println!();
    println!(
        "| held copy | searches | linked right | recall | searches, this drift alone | recall, alone | alone, missed as not_held / candidates / ambiguous |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| no drift | {} | {} | {:.4} | | | |",
        t.clean.0,
        t.clean.1,
        ratio(t.clean.1, t.clean.0)
    );
    for (
        drift,
        [
            total,
            right,
            alone,
            alone_right,
            not_held,
            candidates,
            ambiguous,
        ],
    ) in &t.by_drift
    {
        println!(
            "| {} | {total} | {right} | {:.4} | {alone} | {:.4} | {not_held} / {candidates} / {ambiguous} |",
            drift.label(),
            ratio(*right, *total),
            ratio(*alone_right, *alone)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_is_read_and_checked_like_a_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "[matching.weights.given_name.exact]\nm = 0.9\nu = 0.002\n",
        )
        .unwrap();
        let read = settings_file(Some(&good)).unwrap();
        assert_eq!(read.weights.given_name.exact.u, 0.002);
        assert_eq!(read.thresholds, MatchingSettings::default().thresholds);
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[matching.weights.postcode.full]\nm = 0.75\nu = 1.0\n",
        )
        .unwrap();
        let err = settings_file(Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("postcode"), "{err}");
        assert_eq!(settings_file(None).unwrap(), MatchingSettings::default());
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// Optimal string alignment distance: edits counting a transposition as one.
    fn edits(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut m = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in m.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in m[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                m[i][j] = (m[i - 1][j] + 1)
                    .min(m[i][j - 1] + 1)
                    .min(m[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    m[i][j] = m[i][j].min(m[i - 2][j - 2] + 1);
                }
            }
        }
        m[a.len()][b.len()]
    }

    #[test]
    fn corruption_is_deterministic_by_seed() {
        let children = true_children(7, 300);
        assert_eq!(children.len(), true_children(7, 300).len());
        let a = agency_copies(&children, 0, 7);
        let b = agency_copies(&children, 0, 7);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.child, y.child);
            assert_eq!(x.demographics, y.demographics);
            assert_eq!(x.drifts, y.drifts);
        }
        let other = agency_copies(&children, 0, 8);
        assert!(
            a.len() != other.len()
                || a.iter()
                    .zip(&other)
                    .any(|(x, y)| x.child != y.child || x.demographics != y.demographics),
            "another seed gives other copies"
        );
        assert_eq!(typo("Okafor", &mut rng(1)), typo("Okafor", &mut rng(1)));
        assert_eq!(
            one_digit_off(d("2014-03-09"), &mut rng(1)),
            one_digit_off(d("2014-03-09"), &mut rng(1))
        );
    }

    #[test]
    fn each_drift_is_the_drift_it_claims() {
        let children = true_children(11, 2000);
        let mut seen = std::collections::BTreeSet::new();
        for agency in 0..AGENCIES.len() {
            for copy in agency_copies(&children, agency, 11) {
                let truth = &children[copy.child].demographics;
                let held = &copy.demographics;
                for drift in &copy.drifts {
                    seen.insert(*drift);
                    match drift {
                        Drift::Nickname => assert_ne!(truth.given_name, held.given_name),
                        Drift::GivenTypo => assert_ne!(truth.given_name, held.given_name),
                        Drift::FamilyTypo | Drift::SurnameReplaced => {
                            assert_ne!(truth.family_name, held.family_name)
                        }
                        Drift::BarrelAdded => assert!(held.family_name.contains('-')),
                        Drift::BarrelDropped => assert!(!held.family_name.contains('-')),
                        Drift::DayMonthSwapped | Drift::DobOneDigit => {
                            assert_ne!(truth.date_of_birth, held.date_of_birth)
                        }
                        Drift::MovedSameDistrict | Drift::MovedAway => {
                            assert_ne!(truth.postcode, held.postcode)
                        }
                        Drift::NoPostcode => assert_eq!(held.postcode, None),
                        Drift::NoSex => assert_eq!(held.sex, None),
                    }
                }
                if copy.drifts.is_empty() {
                    assert_eq!(truth, held);
                }
            }
        }
        // Every kind of drift occurs in a sample this size.
        assert!(seen.len() >= 11, "{seen:?}");
    }

    #[test]
    fn a_swapped_date_is_swapped() {
        let swapped = swap_day_month(d("2014-03-09")).unwrap();
        assert_eq!(swapped, d("2014-09-03"));
        assert_eq!(swapped.day(), 3);
        assert_eq!(swapped.month(), 9);
        assert_eq!(swap_day_month(d("2014-03-25")), None);
        assert_eq!(swap_day_month(d("2014-04-04")), None);
        // The matcher sees it as a swap.
        assert_eq!(
            matching::normalise::swap_day_month(d("2014-03-09")),
            Some(swapped)
        );
    }

    #[test]
    fn one_digit_off_changes_exactly_one_digit() {
        let mut r = rng(3);
        for date in ["2014-03-09", "2012-12-31", "2020-02-29", "2019-10-10"] {
            for _ in 0..200 {
                let date = d(date);
                let slipped = one_digit_off(date, &mut r).unwrap();
                let (a, b) = (
                    date.format("%Y%m%d").to_string(),
                    slipped.format("%Y%m%d").to_string(),
                );
                let differing = a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count();
                assert_eq!(differing, 1, "{a} / {b}");
            }
        }
    }

    #[test]
    fn a_typo_is_one_edit_away() {
        let mut r = rng(5);
        for name in ["Okafor", "Amelia", "Wood-Allen", "O'Neill", "Kai", "Li"] {
            for _ in 0..200 {
                let slipped = typo(name, &mut r);
                assert_ne!(
                    NormalName::new(&slipped).joined,
                    NormalName::new(name).joined
                );
                assert_eq!(
                    edits(&name.to_lowercase(), &slipped.to_lowercase()),
                    1,
                    "{name} / {slipped}"
                );
            }
        }
    }

    #[test]
    fn nicknames_are_ones_the_matcher_knows() {
        for (full, variants) in NICKNAMES {
            for variant in *variants {
                assert!(
                    nicknames::are_aliases(
                        &NormalName::new(full).joined,
                        &NormalName::new(variant).joined
                    ),
                    "{full} / {variant}"
                );
            }
        }
        let mut r = rng(9);
        for _ in 0..50 {
            let short = nickname("Samuel", &mut r).unwrap();
            assert!(["Sam", "Sammy"].contains(&short.as_str()));
        }
        assert_eq!(nickname("Isla", &mut r), None);
    }

    #[test]
    fn surname_changes_add_drop_or_replace() {
        let mut r = rng(13);
        for _ in 0..100 {
            let (name, kind) = change_surname("Wood-Allen", "Smith", &mut r).unwrap();
            assert_eq!(kind, Drift::BarrelDropped);
            assert!(name == "Wood" || name == "Allen");
            let (name, kind) = change_surname("Okafor", "Smith", &mut r).unwrap();
            match kind {
                Drift::BarrelAdded => {
                    assert!(name == "Okafor-Smith" || name == "Smith-Okafor")
                }
                Drift::SurnameReplaced => assert_eq!(name, "Smith"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(change_surname("Smith", "Smith", &mut r), None);
    }

    #[test]
    fn moves_keep_or_leave_the_district() {
        let mut r = rng(17);
        for _ in 0..200 {
            let near = move_house("ZZ3 4AB", true, &mut r).unwrap();
            assert!(near.starts_with("ZZ3 "), "{near}");
            assert_ne!(near, "ZZ3 4AB");
            let far = move_house("ZZ3 4AB", false, &mut r).unwrap();
            assert!(!far.starts_with("ZZ3 "), "{far}");
            assert!(far.starts_with("ZZ") && far.len() == 7, "{far}");
        }
    }

    #[test]
    fn namesakes_are_counted_per_child() {
        let mut children = true_children(3, 50);
        let before = children_with_namesakes(&children);
        let mut copy = children[0].clone();
        copy.twin = None;
        children.push(copy.clone());
        children.push(copy);
        assert_eq!(children_with_namesakes(&children), before + 3);
    }

    #[test]
    fn twins_share_everything_but_the_given_name() {
        let children = true_children(21, 2000);
        let mut pairs = 0;
        for (index, child) in children.iter().enumerate() {
            let Some(twin) = child.twin else { continue };
            let other = &children[twin];
            assert_eq!(other.twin, Some(index));
            assert_eq!(
                child.demographics.family_name,
                other.demographics.family_name
            );
            assert_eq!(
                child.demographics.date_of_birth,
                other.demographics.date_of_birth
            );
            assert_eq!(child.demographics.postcode, other.demographics.postcode);
            assert!(!same_or_alias(
                &child.demographics.given_name,
                &other.demographics.given_name
            ));
            pairs += 1;
        }
        assert!(pairs >= 2 * 40, "{pairs}");
        // Drift never gives a twin the other twin's name.
        for agency in 0..AGENCIES.len() {
            for copy in agency_copies(&children, agency, 21) {
                if let Some(twin) = children[copy.child].twin {
                    assert!(!same_or_alias(
                        &copy.demographics.given_name,
                        &children[twin].demographics.given_name
                    ));
                }
            }
        }
    }
}
