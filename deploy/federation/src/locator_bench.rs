//! `federation bench locator`: the record locator (DESIGN §6) at the size of England,
//! simulated with the real filter code ([`locator`]) over a synthetic population,
//! with no network. It answers: how big is each node's filter, how often does a filter
//! say "maybe" wrongly, how many nodes does a search contact against how many truly hold
//! the child, and what does a refresh cost.
//!
//! The population is generated twice from the same seed, child by child: a first pass
//! counts what each node will hold (to size its filter) and draws the searches; a second
//! pass computes every token and fills the filters. Only the filters and the searches are
//! kept in memory, never the population.

use chrono::{Datelike, Duration as Days, NaiveDate};
use locator::{BlockingInput, LocatorFilter, LocatorKey, Token};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What `federation bench locator` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Children aged 0–17 in the federation (England: about 12 million).
    pub children: usize,
    pub local_authorities: usize,
    pub schools: usize,
    pub health_bodies: usize,
    pub police_forces: usize,
    /// Searches simulated.
    pub queries: usize,
    /// Target false-positive rate of each filter, per looked-up token.
    pub false_positive_rate: f64,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            children: 12_000_000,
            local_authorities: 150,
            schools: 24_000,
            health_bodies: 42,
            police_forces: 43,
            queries: 5_000,
            false_positive_rate: 1e-6,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    School,
    SocialCare,
    EarlyHelp,
    Health,
    Police,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::School => "school",
            Kind::SocialCare => "social_care",
            Kind::EarlyHelp => "early_help",
            Kind::Health => "health",
            Kind::Police => "police",
        }
    }
}

/// Shares and habits of the agencies (synthetic, of a plausible order of magnitude).
const P_SOCIAL_CARE: f64 = 0.06;
const P_EARLY_HELP: f64 = 0.05;
const P_POLICE: f64 = 0.04;
/// School-age children also held by a school they left (UPN follows the child).
const P_PREVIOUS_SCHOOL: f64 = 0.08;
const P_PREVIOUS_SCHOOL_OTHER_LA: f64 = 0.3;
/// Per copy: the drift the locator must survive.
const P_FAMILY_TYPO: f64 = 0.02;
const P_GIVEN_VARIANT: f64 = 0.02;
const P_DAY_MONTH_SWAP: f64 = 0.005;
const P_NO_POSTCODE: f64 = 0.05;
const P_NO_SEX: f64 = 0.05;
/// Postcode areas (`ZZ` of `ZZ1 4AB`) in England, shared among local authorities.
const POSTCODE_AREAS: usize = 110;

/// First letters of given names, weighted roughly as in England's recent births.
const INITIALS: &[(char, f64)] = &[
    ('A', 11.0),
    ('B', 3.0),
    ('C', 5.0),
    ('D', 3.5),
    ('E', 7.0),
    ('F', 4.0),
    ('G', 3.0),
    ('H', 6.0),
    ('I', 4.0),
    ('J', 7.5),
    ('K', 2.5),
    ('L', 7.0),
    ('M', 8.0),
    ('N', 3.0),
    ('O', 4.5),
    ('P', 2.5),
    ('R', 5.0),
    ('S', 5.5),
    ('T', 4.0),
    ('V', 1.0),
    ('W', 1.5),
    ('Y', 1.0),
    ('Z', 2.0),
];

/// One agency's copy of a child.
#[derive(Debug, Clone)]
struct Copy {
    node: u32,
    upn: bool,
    nhs: bool,
    la_id: bool,
    family: String,
    given_initial: char,
    dob: NaiveDate,
    area: Option<usize>,
    sex: Option<schemas::Sex>,
}

struct Layout {
    options: Options,
    /// Cumulative population weights of the local authorities.
    la_weights: Vec<f64>,
    /// Per LA: its primary and secondary schools (node index, cumulative weight).
    primaries: Vec<Schools>,
    secondaries: Vec<Schools>,
    initials: Vec<f64>,
    kinds: Vec<Kind>,
    social_care: u32,
    early_help: u32,
    health: u32,
    police: u32,
    surnames: Surnames,
    anchor: NaiveDate,
}

struct Schools {
    nodes: Vec<u32>,
    cumulative: Vec<f64>,
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

fn pick(cumulative: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.random::<f64>() * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len().saturating_sub(1))
}

fn lognormal(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (sigma * z).exp()
}

impl Layout {
    fn new(options: &Options) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x1a_7001);
        let las = options.local_authorities.max(1);
        let la_sizes: Vec<f64> = (0..las).map(|_| lognormal(&mut rng, 0.6)).collect();
        let total: f64 = la_sizes.iter().sum();
        let mut primaries = vec![Vec::new(); las];
        let mut secondaries = vec![Vec::new(); las];
        let mut next = 0u32;
        // Schools shared out by population; about one in six is a secondary, which is
        // five times the size of a primary on average.
        let mut remaining = options.schools;
        for (la, size) in la_sizes.iter().enumerate() {
            let n = if la + 1 == las {
                remaining
            } else {
                ((size / total) * options.schools as f64).round() as usize
            }
            .clamp(2, remaining.max(2));
            remaining = remaining.saturating_sub(n);
            let secondary_count = (n / 6).max(1);
            for i in 0..n {
                let w = lognormal(&mut rng, 0.45);
                if i < secondary_count {
                    secondaries[la].push((next, w));
                } else {
                    primaries[la].push((next, w));
                }
                next += 1;
            }
        }
        let schools_of = |lists: Vec<Vec<(u32, f64)>>| -> Vec<Schools> {
            lists
                .into_iter()
                .map(|list| Schools {
                    nodes: list.iter().map(|e| e.0).collect(),
                    cumulative: cumulative(list.iter().map(|e| e.1)),
                })
                .collect()
        };
        let primaries = schools_of(primaries);
        let secondaries = schools_of(secondaries);
        let schools = next;
        let las32 = las as u32;
        let social_care = schools;
        let early_help = social_care + las32;
        let health = early_help + las32;
        let police = health + options.health_bodies.max(1) as u32;
        let end = police + options.police_forces.max(1) as u32;
        let kinds = (0..end)
            .map(|n| match n {
                n if n < social_care => Kind::School,
                n if n < early_help => Kind::SocialCare,
                n if n < health => Kind::EarlyHelp,
                n if n < police => Kind::Health,
                _ => Kind::Police,
            })
            .collect();
        Self {
            options: Options {
                schools: schools as usize,
                ..options.clone()
            },
            la_weights: cumulative(la_sizes.into_iter()),
            primaries,
            secondaries,
            kinds,
            social_care,
            early_help,
            health,
            police,
            surnames: Surnames::new(),
            initials: cumulative(INITIALS.iter().map(|(_, w)| *w)),
            anchor: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default(),
        }
    }

    fn nodes(&self) -> usize {
        self.kinds.len()
    }

    fn area_of(&self, la: usize) -> usize {
        la * POSTCODE_AREAS / self.options.local_authorities.max(1)
    }

    fn school_in(&self, la: usize, age: i32, rng: &mut ChaCha8Rng) -> Option<u32> {
        let list = if (4..=10).contains(&age) {
            &self.primaries[la]
        } else if (11..=17).contains(&age) {
            &self.secondaries[la]
        } else {
            return None;
        };
        list.nodes.get(pick(&list.cumulative, rng)).copied()
    }

    /// Every copy of child `index`, deterministic by seed and index. The first copy is
    /// the child as the health body (which holds every child) has it.
    fn child(&self, index: usize) -> Vec<Copy> {
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.options.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64,
        );
        let la = pick(&self.la_weights, &mut rng);
        let las = self.options.local_authorities.max(1);
        let dob = self.anchor - Days::days(rng.random_range(0..18 * 365));
        let age = (self.anchor.year() - dob.year()) - 1;
        let family = self.surnames.draw(&mut rng);
        let given_initial = INITIALS[pick(&self.initials, &mut rng)].0;
        let truth = Copy {
            node: self.health + (la * self.options.health_bodies.max(1) / las) as u32,
            upn: false,
            nhs: true,
            la_id: false,
            family,
            given_initial,
            dob,
            area: Some(self.area_of(la)),
            // From a stream of its own, so every other draw stays as it was.
            sex: Some(
                if ChaCha8Rng::seed_from_u64(self.options.seed ^ 0x5e5 ^ ((index as u64) << 8))
                    .random_bool(0.5)
                {
                    schemas::Sex::Female
                } else {
                    schemas::Sex::Male
                },
            ),
        };
        let mut copies = vec![truth.clone()];
        let mut held_by = |node: u32, upn: bool, nhs: bool, la_id: bool, rng: &mut ChaCha8Rng| {
            let mut c = Copy {
                node,
                upn,
                nhs,
                la_id,
                ..truth.clone()
            };
            drift(&mut c, rng);
            copies.push(c);
        };
        let school_age = (4..=17).contains(&age);
        if let Some(school) = self.school_in(la, age, &mut rng) {
            let nhs = rng.random_bool(0.2);
            held_by(school, true, nhs, false, &mut rng);
            if rng.random_bool(P_PREVIOUS_SCHOOL) && age >= 5 {
                let other_la = if rng.random_bool(P_PREVIOUS_SCHOOL_OTHER_LA) {
                    rng.random_range(0..las)
                } else {
                    la
                };
                if let Some(previous) = self.school_in(other_la, age, &mut rng)
                    && previous != school
                {
                    let mut c = Copy {
                        node: previous,
                        upn: true,
                        nhs: false,
                        la_id: false,
                        area: Some(self.area_of(other_la)),
                        ..truth.clone()
                    };
                    drift(&mut c, &mut rng);
                    copies.push(c);
                }
            }
        }
        let mut held_by = |node: u32, upn: bool, nhs: bool, la_id: bool, rng: &mut ChaCha8Rng| {
            let mut c = Copy {
                node,
                upn,
                nhs,
                la_id,
                ..truth.clone()
            };
            drift(&mut c, rng);
            copies.push(c);
        };
        if rng.random_bool(P_SOCIAL_CARE) {
            let upn = school_age && rng.random_bool(0.5);
            let nhs = rng.random_bool(0.7);
            held_by(self.social_care + la as u32, upn, nhs, true, &mut rng);
        }
        if rng.random_bool(P_EARLY_HELP) {
            let upn = school_age && rng.random_bool(0.3);
            let nhs = rng.random_bool(0.2);
            let la_id = rng.random_bool(0.5);
            held_by(self.early_help + la as u32, upn, nhs, la_id, &mut rng);
        }
        if rng.random_bool(P_POLICE) {
            let force = (la * self.options.police_forces.max(1) / las) as u32;
            let nhs = rng.random_bool(0.1);
            held_by(self.police + force, false, nhs, false, &mut rng);
        }
        // The health copy is the truth; children's records there drift too.
        let mut health = copies.remove(0);
        drift(&mut health, &mut rng);
        copies.insert(0, health);
        copies
    }
}

fn drift(c: &mut Copy, rng: &mut ChaCha8Rng) {
    if rng.random_bool(P_FAMILY_TYPO) {
        let mut letters: Vec<char> = c.family.chars().collect();
        let i = rng.random_range(0..letters.len().max(1));
        if let Some(l) = letters.get_mut(i) {
            *l = char::from(b'a' + rng.random_range(0..26u8));
        }
        c.family = letters.into_iter().collect();
    }
    if rng.random_bool(P_GIVEN_VARIANT) && rng.random_bool(0.3) {
        // Most nickname drift keeps the initial (Samuel → Sam); some does not.
        c.given_initial = INITIALS[rng.random_range(0..INITIALS.len())].0;
    }
    if rng.random_bool(P_DAY_MONTH_SWAP)
        && let Some(swapped) = NaiveDate::from_ymd_opt(c.dob.year(), c.dob.day(), c.dob.month())
    {
        c.dob = swapped;
    }
    if rng.random_bool(P_NO_POSTCODE) {
        c.area = None;
    }
    if rng.random_bool(P_NO_SEX) {
        c.sex = None;
    }
}

/// Synthetic family names with a long-tailed frequency: the commonest is about 1.3 % of
/// children (as the commonest surname in England is), and most are rare.
struct Surnames {
    cumulative: Vec<f64>,
}

impl Surnames {
    const COUNT: usize = 150_000;

    fn new() -> Self {
        Self {
            cumulative: cumulative((0..Self::COUNT).map(|r| 1.0 / (r as f64 + 60.0).powf(1.05))),
        }
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> String {
        Self::name(pick(&self.cumulative, rng))
    }

    /// A pronounceable name per rank, so its Soundex code is as varied as real names'.
    fn name(rank: usize) -> String {
        const ONSETS: &[&str] = &[
            "b", "br", "c", "ch", "d", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "r", "s",
            "sh", "st", "t", "th", "w", "y",
        ];
        const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ee", "ou"];
        const CODAS: &[&str] = &[
            "", "n", "r", "s", "l", "m", "t", "ck", "nd", "rd", "ll", "ng", "x", "ff",
        ];
        let mut x = (rank as u64).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5bd1_e995;
        let mut next = |n: usize| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x ^= x >> 32;
            (x % n as u64) as usize
        };
        let syllables = 1 + next(3);
        let mut name = String::new();
        for _ in 0..syllables {
            name.push_str(ONSETS[next(ONSETS.len())]);
            name.push_str(VOWELS[next(VOWELS.len())]);
            name.push_str(CODAS[next(CODAS.len())]);
        }
        name
    }
}

fn area_postcode(area: Option<usize>) -> Option<String> {
    area.map(|a| format!("A{}{} 1AA", area_letter(a / 26), area_letter(a)))
}

/// The tokens of one copy, exactly as a node computes them ([`LocatorKey::child_tokens`]).
#[cfg(test)]
fn tokens_of(key: &LocatorKey, child: usize, c: &Copy, la: &str) -> Vec<Token> {
    with_inputs(child, c, la, |upn, nhs, la_id, input| {
        key.child_tokens(upn, nhs, la_id, input)
    })
}

/// Calls `f` with the identifiers and blocking input of one agency's copy of a child, as
/// its node (or a search for it) hands them to the locator.
fn with_inputs<R>(
    child: usize,
    c: &Copy,
    la: &str,
    f: impl FnOnce(Option<&str>, Option<&str>, Option<(&str, &str)>, &BlockingInput) -> R,
) -> R {
    let upn = format!("U{child:012}");
    let nhs = format!("{:010}", 4_000_000_000u64 + child as u64);
    let id = format!("C{child}");
    let area = area_postcode(c.area);
    let given = c.given_initial.to_string();
    let input = BlockingInput {
        given_name: &given,
        family_name: &c.family,
        date_of_birth: c.dob,
        postcode: area.as_deref(),
        sex: c.sex,
    };
    f(
        c.upn.then_some(upn.as_str()),
        c.nhs.then_some(nhs.as_str()),
        c.la_id.then_some((la, id.as_str())),
        &input,
    )
}

/// Family name, initial, date of birth, postcode area, sex.
type DemographicKey = (String, char, NaiveDate, Option<usize>, Option<schemas::Sex>);

/// The same tokens as `tokens_of`, computed once per child for what its copies share
/// (identifiers; demographics that did not drift): the HMACs are most of the run time.
#[derive(Default)]
struct ChildTokenCache {
    upn: Option<Token>,
    nhs: Option<Token>,
    la: Vec<(String, Token)>,
    demographics: Vec<(DemographicKey, Vec<Token>)>,
}

impl ChildTokenCache {
    fn tokens(&mut self, key: &LocatorKey, child: usize, c: &Copy, la: &str) -> Vec<Token> {
        use locator::Item;
        let mut out = Vec::with_capacity(5);
        let demo_key = (c.family.clone(), c.given_initial, c.dob, c.area, c.sex);
        match self.demographics.iter().find(|(k, _)| *k == demo_key) {
            Some((_, t)) => out.extend_from_slice(t),
            None => {
                let area = area_postcode(c.area);
                let given = c.given_initial.to_string();
                let input = BlockingInput {
                    given_name: &given,
                    family_name: &c.family,
                    date_of_birth: c.dob,
                    postcode: area.as_deref(),
                    sex: c.sex,
                };
                let t: Vec<Token> = [Item::Wide(&input), Item::Area(&input)]
                    .into_iter()
                    .filter_map(|i| key.token(i))
                    .collect();
                out.extend_from_slice(&t);
                self.demographics.push((demo_key, t));
            }
        }
        if c.upn {
            let t = *self
                .upn
                .get_or_insert_with(|| Self::must(key.token(Item::Upn(&format!("U{child:012}")))));
            out.push(t);
        }
        if c.nhs {
            let t = *self.nhs.get_or_insert_with(|| {
                Self::must(key.token(Item::NhsNumber(&format!(
                    "{:010}",
                    4_000_000_000u64 + child as u64
                ))))
            });
            out.push(t);
        }
        if c.la_id {
            let t = match self.la.iter().find(|(l, _)| l == la) {
                Some((_, t)) => *t,
                None => {
                    let t = Self::must(key.token(Item::LaChildId {
                        la,
                        id: &format!("C{child}"),
                    }));
                    self.la.push((la.to_owned(), t));
                    t
                }
            };
            out.push(t);
        }
        out
    }

    /// Synthetic identifiers are never empty, so they always have a token.
    fn must(t: Option<Token>) -> Token {
        t.unwrap_or(Token([0; 32]))
    }
}

fn query_tokens(key: &LocatorKey, child: usize, c: &Copy, la: &str) -> Vec<Token> {
    with_inputs(child, c, la, |upn, nhs, la_id, input| {
        key.query_tokens(upn, nhs, la_id, Some(input))
    })
}

fn area_letter(n: usize) -> char {
    char::from(b'A' + (n % 26) as u8)
}

struct Query {
    holders: Vec<u32>,
    tokens: Vec<Token>,
}

/// The local authority a node's LA child ids belong to (its own for LA nodes).
fn la_of(layout: &Layout, node: u32) -> String {
    let la = if node >= layout.social_care && node < layout.health {
        (node - layout.social_care) % layout.options.local_authorities as u32
    } else {
        0
    };
    format!("la-{la}")
}

fn stats(values: &mut [f64]) -> (f64, f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len().max(1);
    let mean = values.iter().sum::<f64>() / n as f64;
    let at = |q: f64| {
        values
            .get(((n - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.0), at(0.5), mean, at(1.0))
}

fn mib(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes / 1024.0)
    }
}

pub fn locator(options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let layout = Layout::new(options);
    let n_nodes = layout.nodes();
    let key = LocatorKey::from_bytes(&[7u8; 32]).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "record locator simulation: {} children, {} nodes ({} schools, {} LA social care, {} LA early help, {} health, {} police), target false-positive rate {:e} per token, seed {}",
        options.children,
        n_nodes,
        layout.options.schools,
        options.local_authorities,
        options.local_authorities,
        options.health_bodies,
        options.police_forces,
        options.false_positive_rate,
        options.seed,
    );

    // Pass 1: how many tokens each node holds; which children are searched for.
    let t = Instant::now();
    let mut items = vec![0usize; n_nodes];
    let mut children_at = vec![0usize; n_nodes];
    let stride = (options.children / options.queries.max(1)).max(1);
    let mut queries: Vec<Query> = Vec::new();
    for child in 0..options.children {
        let copies = layout.child(child);
        for c in &copies {
            items[c.node as usize] +=
                2 + usize::from(c.upn) + usize::from(c.nhs) + usize::from(c.la_id)
                    - usize::from(c.area.is_none());
            children_at[c.node as usize] += 1;
        }
        if child % stride == 0 && queries.len() < options.queries {
            // The searcher is one of the agencies that holds the child, searching with
            // what its own copy says.
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ ((child as u64) << 1));
            let searcher = &copies[rng.random_range(0..copies.len())];
            let mut holders: Vec<u32> = copies.iter().map(|c| c.node).collect();
            holders.sort_unstable();
            holders.dedup();
            queries.push(Query {
                holders,
                tokens: query_tokens(&key, child, searcher, &la_of(&layout, searcher.node)),
            });
        }
    }
    let pass1 = t.elapsed();

    // Pass 2: the filters, and for every searched token the nodes that truly hold it
    // (another child with the same blocking key counts: that node would be asked).
    let t = Instant::now();
    let mut filters: Vec<LocatorFilter> = items
        .iter()
        .map(|&n| LocatorFilter::sized(n, options.false_positive_rate))
        .collect();
    let mut token_holders: HashMap<Token, Vec<u32>> = queries
        .iter()
        .flat_map(|q| q.tokens.iter().map(|t| (*t, Vec::new())))
        .collect();
    let mut insert_time = Duration::ZERO;
    let mut tokens_made = 0usize;
    for child in 0..options.children {
        let mut cache = ChildTokenCache::default();
        for c in layout.child(child) {
            let tokens = cache.tokens(&key, child, &c, &la_of(&layout, c.node));
            tokens_made += tokens.len();
            let filter = &mut filters[c.node as usize];
            let i = Instant::now();
            for token in &tokens {
                filter.insert(token);
            }
            insert_time += i.elapsed();
            for token in &tokens {
                if let Some(nodes) = token_holders.get_mut(token) {
                    nodes.push(c.node);
                }
            }
        }
    }
    let pass2 = t.elapsed();

    // Filters per kind of node.
    println!("\n## Filters per kind of node\n");
    println!(
        "| kind | nodes | children per node (median / max) | tokens per node (median / max) | filter size (median / max) | all filters of the kind | expected false-positive rate (max) | measured false-positive rate |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut probe_rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0xfa15e);
    let mut total_bytes = 0usize;
    let mut by_kind: BTreeMap<Kind, Vec<usize>> = BTreeMap::new();
    for (n, kind) in layout.kinds.iter().enumerate() {
        by_kind.entry(*kind).or_default().push(n);
    }
    for (kind, nodes) in &by_kind {
        let mut kids: Vec<f64> = nodes.iter().map(|&n| children_at[n] as f64).collect();
        let mut toks: Vec<f64> = nodes.iter().map(|&n| items[n] as f64).collect();
        let mut sizes: Vec<f64> = nodes
            .iter()
            .map(|&n| filters[n].size_bytes() as f64)
            .collect();
        let kind_bytes: f64 = sizes.iter().sum();
        total_bytes += kind_bytes as usize;
        let expected = nodes
            .iter()
            .map(|&n| filters[n].expected_false_positive_rate())
            .fold(0.0, f64::max);
        // Random tokens that no node holds: every "maybe" is a false positive.
        let probes_per_node = (2_000_000 / nodes.len()).clamp(200, 200_000);
        let mut hits = 0usize;
        for &n in nodes {
            for _ in 0..probes_per_node {
                let mut t = [0u8; 32];
                probe_rng.fill(&mut t);
                hits += usize::from(filters[n].contains(&Token(t)));
            }
        }
        let probes = probes_per_node * nodes.len();
        let (_, kid_med, _, kid_max) = stats(&mut kids);
        let (_, tok_med, _, tok_max) = stats(&mut toks);
        let (_, size_med, _, size_max) = stats(&mut sizes);
        println!(
            "| {} | {} | {kid_med:.0} / {kid_max:.0} | {tok_med:.0} / {tok_max:.0} | {} / {} | {} | {expected:.2e} | {hits} in {probes} ({:.2e}) |",
            kind.name(),
            nodes.len(),
            mib(size_med),
            mib(size_max),
            mib(kind_bytes),
            hits as f64 / probes as f64,
        );
    }
    let school_2000 = LocatorFilter::sized(2_000 * 5, options.false_positive_rate);
    println!(
        "\nA school of 2,000 children with every item (UPN, NHS number, LA id, two blocking keys: 10,000 tokens): {} ({} hash bits per token, expected rate {:.2e}).",
        mib(school_2000.size_bytes() as f64),
        school_2000.hashes(),
        school_2000.expected_false_positive_rate()
    );
    println!("All filters together: {}.", mib(total_bytes as f64));

    // Searches.
    let t = Instant::now();
    let mut contacted_total = 0usize;
    let mut holders_total = 0usize;
    let mut found_total = 0usize;
    let mut collisions_total = 0usize;
    let mut filter_fp_total = 0usize;
    let mut ratios = Vec::new();
    let mut contacted_per_query = Vec::new();
    let mut missed_queries = 0usize;
    for q in &queries {
        let mut contacted = 0usize;
        let mut found = 0usize;
        let mut collisions = 0usize;
        for (n, filter) in filters.iter().enumerate() {
            if !filter.may_hold_any(&q.tokens) {
                continue;
            }
            contacted += 1;
            let n = n as u32;
            if q.holders.binary_search(&n).is_ok() {
                found += 1;
            } else if q
                .tokens
                .iter()
                .any(|t| token_holders.get(t).is_some_and(|h| h.contains(&n)))
            {
                collisions += 1;
            }
        }
        contacted_total += contacted;
        holders_total += q.holders.len();
        found_total += found;
        collisions_total += collisions;
        filter_fp_total += contacted - found - collisions;
        missed_queries += usize::from(found < q.holders.len());
        ratios.push(contacted as f64 / q.holders.len() as f64);
        contacted_per_query.push(contacted as f64);
    }
    let search_time = t.elapsed();
    let nq = queries.len().max(1) as f64;
    let (_, ratio_med, ratio_mean, ratio_max) = stats(&mut ratios);
    let (_, _, _, contacted_max) = stats(&mut contacted_per_query);
    println!("\n## Searches ({} simulated)\n", queries.len());
    println!("| figure | value |\n|---|---|");
    println!(
        "| nodes truly holding the child, per search (mean) | {:.3} |",
        holders_total as f64 / nq
    );
    println!(
        "| nodes contacted per search (mean / max) | {:.3} / {contacted_max:.0} |",
        contacted_total as f64 / nq
    );
    println!(
        "| contacted ÷ truly holding (over all searches) | **{:.3}** |",
        contacted_total as f64 / holders_total.max(1) as f64
    );
    println!(
        "| contacted ÷ truly holding, per search (median / mean / max) | {ratio_med:.2} / {ratio_mean:.3} / {ratio_max:.1} |"
    );
    println!(
        "| of the extra contacts: another child with the same blocking key (per search) | {:.4} |",
        collisions_total as f64 / nq
    );
    println!(
        "| of the extra contacts: filter false positives (per search) | {:.4} |",
        filter_fp_total as f64 / nq
    );
    println!(
        "| holders found (recall) | {:.4} ({} of {}); searches missing a holder: {:.2} % |",
        found_total as f64 / holders_total.max(1) as f64,
        found_total,
        holders_total,
        100.0 * missed_queries as f64 / nq
    );
    println!("| a broadcast would contact | {n_nodes} |");
    println!(
        "| gateway time to test all {n_nodes} filters, per search | {:.2} ms |",
        search_time.as_secs_f64() * 1000.0 / nq
    );

    // Refresh.
    // What a node pays per token: one HMAC of a freshly formatted identifier.
    let t = Instant::now();
    let sample = 200_000;
    let made = (0..sample)
        .filter_map(|i| key.token(locator::Item::Upn(&format!("U{i:012}"))))
        .count();
    let per_token_hmac = t.elapsed().as_secs_f64() / made.max(1) as f64;
    let per_token_insert = insert_time.as_secs_f64() / tokens_made.max(1) as f64;
    let t = Instant::now();
    let rebuilt = LocatorFilter::build(
        &(0..10_000)
            .filter_map(|i| key.token(locator::Item::Upn(&format!("U{i}"))))
            .collect::<Vec<_>>(),
        options.false_positive_rate,
    );
    let school_rebuild = t.elapsed();
    println!("\n## Refresh\n");
    println!("| figure | value |\n|---|---|");
    println!(
        "| tokens inserted in the whole federation | {tokens_made} (HMAC-SHA-256: {:.2} µs per token; filter insert: {:.3} µs) |",
        per_token_hmac * 1e6,
        per_token_insert * 1e6
    );
    println!(
        "| rebuilding a 2,000-child school's filter (10,000 tokens: HMAC + insert) | {:.1} ms, {} to send |",
        school_rebuild.as_secs_f64() * 1000.0,
        mib(rebuilt.to_bytes().len() as f64)
    );
    for (kind, nodes) in &by_kind {
        let biggest = nodes.iter().map(|&n| items[n]).max().unwrap_or(0);
        println!(
            "| rebuilding the largest {} filter ({biggest} tokens) | about {:.0} ms of one core |",
            kind.name(),
            biggest as f64 * (per_token_hmac + per_token_insert) * 1000.0
        );
    }
    println!(
        "| a gateway fetching every filter once (full refresh) | {} |",
        mib(total_bytes as f64)
    );
    println!(
        "\nRun time: {:.0} s (pass 1 {:.0} s, pass 2 {:.0} s, searches {:.0} s).",
        started.elapsed().as_secs_f64(),
        pass1.as_secs_f64(),
        pass2.as_secs_f64(),
        search_time.as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Options {
        Options {
            children: 20_000,
            local_authorities: 4,
            schools: 60,
            health_bodies: 2,
            police_forces: 2,
            queries: 500,
            false_positive_rate: 1e-6,
            seed: 7,
        }
    }

    #[test]
    fn the_population_is_deterministic_and_shaped_as_described() {
        let layout = Layout::new(&small());
        assert!((58..=62).contains(&layout.options.schools));
        assert_eq!(layout.nodes(), layout.options.schools + 4 + 4 + 2 + 2);
        let a = layout.child(123);
        let b = layout.child(123);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let mut schools = 0;
        let mut police = 0;
        for i in 0..5_000 {
            let copies = layout.child(i);
            // The health body always holds the child, with its NHS number.
            assert_eq!(layout.kinds[copies[0].node as usize], Kind::Health);
            assert!(copies[0].nhs);
            for c in &copies {
                match layout.kinds[c.node as usize] {
                    Kind::School => {
                        assert!(c.upn);
                        schools += 1;
                    }
                    Kind::Police => {
                        assert!(!c.upn && !c.la_id);
                        police += 1;
                    }
                    _ => {}
                }
            }
        }
        // About 14 of 18 age years are at school; about 4 % are known to police.
        assert!((3_500..4_600).contains(&schools), "{schools}");
        assert!((100..330).contains(&police), "{police}");
    }

    #[test]
    fn the_cached_tokens_are_the_nodes_own() {
        let layout = Layout::new(&small());
        let key = LocatorKey::from_bytes(&[2; 32]).unwrap();
        for i in 0..2_000 {
            let mut cache = ChildTokenCache::default();
            for c in layout.child(i) {
                let la = la_of(&layout, c.node);
                let mut direct = tokens_of(&key, i, &c, &la);
                let mut cached = cache.tokens(&key, i, &c, &la);
                direct.sort();
                cached.sort();
                assert_eq!(direct, cached, "child {i} at node {}", c.node);
            }
        }
    }

    #[test]
    fn every_holder_of_an_undrifted_copy_is_found_by_its_tokens() {
        let layout = Layout::new(&small());
        let key = LocatorKey::from_bytes(&[1; 32]).unwrap();
        for i in 0..200 {
            let copies = layout.child(i);
            for c in &copies {
                let la = la_of(&layout, c.node);
                let held = tokens_of(&key, i, c, &la);
                let filter = LocatorFilter::build(&held, 1e-6);
                assert!(filter.may_hold_any(&query_tokens(&key, i, c, &la)));
            }
        }
    }
}
