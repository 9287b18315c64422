//! Comparing a query with one stored child, field by field, and the Fellegi–Sunter score:
//! each field's agreement level contributes `log2(m/u)`; the sum decides the grade.

use super::given_names::{is_slip_of, near_only_each_other, one_edit_apart};
use super::nicknames::are_aliases;
use super::normalise::{NormalName, Postcode, one_digit_keystroke, swap_day_month};
use super::phonetic::refined_soundex;
use super::settings::{MatchingSettings, disagreement_weight};
use super::similarity::jaro_winkler;
use chrono::{Datelike, NaiveDate};
use schemas::{MatchGrade, Sex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenLevel {
    Exact,
    Alias,
    /// One keystroke from the other name, and taken for a typo of it (see
    /// [`super::given_names::is_typo_of`]); only when family name and date of birth
    /// agree too (see [`typo_possible`]).
    Typo,
    Similar,
    Disagree,
    /// One side has no given name: no evidence, neither for nor against (weight 0).
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyLevel {
    Exact,
    Part,
    /// One keystroke from the other name, both at least [`FAMILY_TYPO_MIN_LEN`] letters
    /// long; only when the given name and date of birth agree (see
    /// [`family_typo_possible`]).
    Typo,
    Similar,
    Disagree,
    /// One side has no family name: no evidence (weight 0).
    Missing,
}

impl FamilyLevel {
    /// Whether the family names agree at some level (`missing` does not).
    pub fn agrees(self) -> bool {
        !matches!(self, FamilyLevel::Disagree | FamilyLevel::Missing)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DobLevel {
    Exact,
    DayMonthSwapped,
    /// One keystroke of a digit in `YYYYMMDD`: one digit differs, or two adjacent digits
    /// are exchanged (see [`super::normalise::one_digit_keystroke`]).
    OneDigit,
    SameMonth,
    Disagree,
    /// One side has no date of birth: no evidence (weight 0).
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostcodeLevel {
    Full,
    Sector,
    District,
    Disagree,
}

/// One side of a comparison: what the query says, or what the node holds. Any field may
/// be missing (a name as `""`, the date of birth as `None`: a partial child); a missing
/// field adds nothing to the score, for or against.
#[derive(Debug, Clone)]
pub struct Person<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub postcode: Option<&'a str>,
    pub upn: Option<&'a str>,
    pub nhs_number: Option<&'a str>,
    /// Family names the child was known by before, as the agency records them (held
    /// side; empty when none, and on a query).
    pub former_family_names: &'a [String],
}

/// How each field compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub given_name: GivenLevel,
    pub family_name: FamilyLevel,
    pub date_of_birth: DobLevel,
    /// `None` when either side has no postcode.
    pub postcode: Option<PostcodeLevel>,
    /// `None` when either side has no sex, or it is `unknown`.
    pub sex_agrees: Option<bool>,
    pub upn_differs: bool,
    pub nhs_number_differs: bool,
    /// Frequency-based weights of exact name agreement, when known (see
    /// [`super::settings::FrequencyWeights`]); otherwise the level's weight counts.
    pub name_weights: NameWeights,
    /// The query's given name (normal form) when it is a slip of the held one (see
    /// [`super::given_names::is_slip_of`]) that the name lists alone do not take for a
    /// typo; the caller counts it as `typo` or drops it (the node's
    /// `finding::weights::weigh_by_name_counts`).
    pub given_slip: Option<String>,
    /// When the family names agree as `part`: on which part, for its frequency-based
    /// weight (the node's `finding::weights::weigh_by_name_counts`).
    pub family_part: Option<PartAgreed>,
    /// When the family names agree as `typo`: the query's family name (normal form), for
    /// the level's frequency-based weight (the node's
    /// `finding::weights::weigh_by_name_counts`).
    pub family_typo: Option<String>,
    /// The names agree only crossed: the query's given name with the held family name
    /// and the query's family name with the held given name (see [`transposed_levels`]).
    /// `given_name` and `family_name` are then the crossed levels; the score prices them
    /// at their configured weights plus [`super::settings::Weights::transposed_weight`].
    pub transposed: bool,
    /// The family names agree (`family_name` is `exact`) on a former family name of the
    /// held child, not its current one: priced at `family_name.former`.
    pub family_former: bool,
}

/// What a `part` agreement of the family names agreed on: a name of the held child's
/// (a part of it, or the whole name when the query's is the double-barrelled one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartAgreed {
    /// The agreeing form, as the name counts count it.
    pub name: String,
    /// Whether the query's family name has parts of its own (then a child whose whole
    /// name is `name` would agree as `part` too, not only one carrying it as a part).
    pub query_has_parts: bool,
}

impl PartAgreed {
    /// The held child's form that is also one of the query's forms, in plain mode.
    fn of(query: &NormalName, held: &NormalName) -> Option<Self> {
        let forms = |n: &NormalName| -> Vec<String> {
            std::iter::once(n.joined.as_str())
                .chain(n.significant_parts())
                .map(str::to_owned)
                .collect()
        };
        let query_forms = forms(query);
        let name = forms(held).into_iter().find(|f| query_forms.contains(f))?;
        Some(Self {
            query_has_parts: query_forms.iter().any(|f| *f != query.joined),
            name,
        })
    }
}

/// Weights of exact given- and family-name agreement for this pair, from how common the
/// agreeing name is at the node. Set by the caller, which holds the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NameWeights {
    pub given_exact: Option<f64>,
    pub family_exact: Option<f64>,
    /// Of `part` agreement of the family names, from how common the agreeing part is.
    pub family_part: Option<f64>,
    /// Of `typo` agreement of the family names, from how many children carry a name one
    /// keystroke from the query's.
    pub family_typo: Option<f64>,
}

/// A name as compared: its normal form and the phonetic code of that form.
#[derive(Debug, Clone)]
struct Name {
    normal: NormalName,
    code: String,
}

impl Name {
    fn new(raw: &str) -> Self {
        let normal = NormalName::new(raw);
        let code = refined_soundex(&normal.joined);
        Self { normal, code }
    }
}

/// The query's side of a comparison, its names and postcode put in the form they are
/// compared in once for every stored child it is compared with.
#[derive(Debug, Clone)]
pub struct Asked<'a> {
    person: Person<'a>,
    given: Name,
    family: Name,
    /// `None` also when the query's postcode does not parse.
    postcode: Option<Postcode>,
}

impl<'a> Asked<'a> {
    pub fn new(person: Person<'a>) -> Self {
        Self {
            given: Name::new(person.given_name),
            family: Name::new(person.family_name),
            postcode: person.postcode.and_then(Postcode::parse),
            person,
        }
    }

    pub fn person(&self) -> &Person<'a> {
        &self.person
    }

    /// The family name's normal form.
    pub fn family_normal(&self) -> &NormalName {
        &self.family.normal
    }

    /// How the query's family name compares with a stored one (see [`compare_family`]).
    pub fn compare_family(&self, held: &str, similar_at: f64) -> FamilyLevel {
        family_level(&self.family, &NormalName::new(held), similar_at)
    }

    /// How the query's postcode compares with a stored one (see [`compare_postcode`]).
    pub fn compare_postcode(&self, held: Option<&str>) -> Option<PostcodeLevel> {
        match (self.person.postcode, held) {
            (Some(_), Some(held)) => {
                postcode_level(self.postcode.as_ref()?, &Postcode::parse(held)?)
            }
            _ => None,
        }
    }
}

fn similar(a: &Name, b: &NormalName, similar_at: f64) -> bool {
    a.code == refined_soundex(&b.joined) || jaro_winkler(&a.normal.joined, &b.joined) >= similar_at
}

pub fn compare_given(a: &str, b: &str, similar_at: f64) -> GivenLevel {
    given_level(&Name::new(a), &NormalName::new(b), similar_at)
}

fn given_level(a: &Name, b: &NormalName, similar_at: f64) -> GivenLevel {
    let name = a;
    let a = &a.normal;
    if a.joined.is_empty() || b.joined.is_empty() {
        return GivenLevel::Missing;
    }
    if a.joined == b.joined {
        return GivenLevel::Exact;
    }
    // A short form, or one part of a hyphenated given name (`Mary-Jane`/`Mary`), or a
    // short form of either part.
    let alias = |x: &str, y: &str| x == y || are_aliases(x, y);
    let a_forms: Vec<&str> = std::iter::once(a.joined.as_str())
        .chain(a.significant_parts())
        .collect();
    let b_forms: Vec<&str> = std::iter::once(b.joined.as_str())
        .chain(b.significant_parts())
        .collect();
    if a_forms.iter().any(|x| b_forms.iter().any(|y| alias(x, y))) {
        return GivenLevel::Alias;
    }
    if similar(name, b, similar_at) {
        return GivenLevel::Similar;
    }
    GivenLevel::Disagree
}

pub fn compare_family(a: &str, b: &str, similar_at: f64) -> FamilyLevel {
    family_level(&Name::new(a), &NormalName::new(b), similar_at)
}

fn family_level(a: &Name, b: &NormalName, similar_at: f64) -> FamilyLevel {
    let name = a;
    let a = &a.normal;
    if a.joined.is_empty() || b.joined.is_empty() {
        return FamilyLevel::Missing;
    }
    if a.joined == b.joined {
        return FamilyLevel::Exact;
    }
    // Either part of a double-barrelled name stands for it.
    if a.is_multi_part() || b.is_multi_part() {
        let a_forms: Vec<&str> = std::iter::once(a.joined.as_str())
            .chain(a.significant_parts())
            .collect();
        let b_forms: Vec<&str> = std::iter::once(b.joined.as_str())
            .chain(b.significant_parts())
            .collect();
        if a_forms.iter().any(|x| b_forms.contains(x)) {
            return FamilyLevel::Part;
        }
    }
    if similar(name, b, similar_at) {
        return FamilyLevel::Similar;
    }
    FamilyLevel::Disagree
}

/// [`compare_dob`] where either side may have no date of birth (`missing`).
pub fn compare_known_dob(a: Option<NaiveDate>, b: Option<NaiveDate>) -> DobLevel {
    match (a, b) {
        (Some(a), Some(b)) => compare_dob(a, b),
        _ => DobLevel::Missing,
    }
}

pub fn compare_dob(a: NaiveDate, b: NaiveDate) -> DobLevel {
    if a == b {
        return DobLevel::Exact;
    }
    if swap_day_month(a) == Some(b) {
        return DobLevel::DayMonthSwapped;
    }
    if one_digit_keystroke(a, b) {
        return DobLevel::OneDigit;
    }
    if a.year() == b.year() && a.month() == b.month() {
        return DobLevel::SameMonth;
    }
    DobLevel::Disagree
}

pub fn compare_postcode(a: &str, b: &str) -> Option<PostcodeLevel> {
    postcode_level(&Postcode::parse(a)?, &Postcode::parse(b)?)
}

fn postcode_level(a: &Postcode, b: &Postcode) -> Option<PostcodeLevel> {
    Some(if a.full == b.full {
        PostcodeLevel::Full
    } else if a.sector == b.sector {
        PostcodeLevel::Sector
    } else if a.district == b.district {
        PostcodeLevel::District
    } else {
        PostcodeLevel::Disagree
    })
}

fn known(sex: Option<Sex>) -> Option<Sex> {
    sex.filter(|s| *s != Sex::Unknown)
}

/// A stored sex (`female`, `male`) as a [`Person`]'s; anything else is no sex, which
/// compares as `unknown` does.
pub fn sex_from_str(s: &str) -> Option<Sex> {
    match s {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        _ => None,
    }
}

/// Whether a given name one keystroke off may count as a typo: only when the family name
/// agrees at some level and the date of birth is the same, allowing for a swap or one
/// digit. A typo is never the only thing that ties two records together.
pub fn typo_possible(given: GivenLevel, family: FamilyLevel, dob: DobLevel) -> bool {
    matches!(given, GivenLevel::Similar | GivenLevel::Disagree)
        && family.agrees()
        && matches!(
            dob,
            DobLevel::Exact | DobLevel::DayMonthSwapped | DobLevel::OneDigit
        )
}

/// Shortest family name (letters of its normal form) that a one-keystroke difference
/// counts as a typo in: in a name of three letters or fewer one keystroke changes a third
/// of it or more, and such names' one-keystroke neighbours are mostly other families'
/// names (`Li`/`Lu`, `Cox`/`Fox`, `Lee`/`Lea`).
pub const FAMILY_TYPO_MIN_LEN: usize = 4;

/// Whether a family name one keystroke off may count as a typo: only when the given name
/// agrees (exactly, as a known short form, or as a typo that passed the given name's own
/// rules) and the date of birth is the same, allowing for a swap or one digit; or, when
/// one side has no date of birth, the given name agrees and the address does (the full
/// postcode or its sector), which then stands where the date would. As for the given
/// name, a typo never ties two records together on its own; and since the given name must
/// agree, a twin (who differs by the given name) is never reached through it.
pub fn family_typo_possible(
    given: GivenLevel,
    family: FamilyLevel,
    dob: DobLevel,
    postcode: Option<PostcodeLevel>,
) -> bool {
    let date_agrees = matches!(
        dob,
        DobLevel::Exact | DobLevel::DayMonthSwapped | DobLevel::OneDigit
    );
    let address_agrees = matches!(postcode, Some(PostcodeLevel::Full | PostcodeLevel::Sector));
    matches!(family, FamilyLevel::Similar | FamilyLevel::Disagree)
        && matches!(
            given,
            GivenLevel::Exact | GivenLevel::Alias | GivenLevel::Typo
        )
        && (date_agrees || (dob == DobLevel::Missing && address_agrees))
}

/// Whether two normalised (`joined`) family names are one keystroke apart, both long
/// enough for that to be a typo (see [`FAMILY_TYPO_MIN_LEN`]).
pub fn is_family_typo(a: &str, b: &str) -> bool {
    a.chars().count() >= FAMILY_TYPO_MIN_LEN
        && b.chars().count() >= FAMILY_TYPO_MIN_LEN
        && one_edit_apart(a, b)
}

pub fn compare(query: &Person<'_>, held: &Person<'_>, settings: &MatchingSettings) -> Comparison {
    compare_asked(&Asked::new(query.clone()), held, settings)
}

/// [`compare`] with the query's side already prepared: a search compares one query with
/// many stored children.
pub fn compare_asked(
    asked: &Asked<'_>,
    held: &Person<'_>,
    settings: &MatchingSettings,
) -> Comparison {
    let query = &asked.person;
    let differs = |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if a != b);
    let (held_given, held_family) = (
        NormalName::new(held.given_name),
        NormalName::new(held.family_name),
    );
    let mut given_name = given_level(&asked.given, &held_given, settings.similar_at);
    let mut family_name = family_level(&asked.family, &held_family, settings.similar_at);
    let date_of_birth = compare_known_dob(query.date_of_birth, held.date_of_birth);
    let postcode = asked.compare_postcode(held.postcode);
    // A family name the held child was known by before counts nearly as its current one.
    let family_former = !matches!(family_name, FamilyLevel::Exact | FamilyLevel::Part)
        && held.former_family_names.iter().any(|former| {
            family_level(&asked.family, &NormalName::new(former), settings.similar_at)
                == FamilyLevel::Exact
        });
    if family_former {
        family_name = FamilyLevel::Exact;
    }
    let mut given_slip = None;
    if typo_possible(given_name, family_name, date_of_birth) {
        let (asked, stored) = (&asked.given.normal.joined, &held_given.joined);
        if is_slip_of(asked, stored) {
            if near_only_each_other(asked, stored) {
                given_name = GivenLevel::Typo;
            } else {
                given_slip = Some(asked.clone());
            }
        }
    }
    if family_typo_possible(given_name, family_name, date_of_birth, postcode)
        && is_family_typo(&asked.family.normal.joined, &held_family.joined)
    {
        family_name = FamilyLevel::Typo;
    }
    let (crossed_given, crossed_family) = crossed_typos(
        given_level(&asked.given, &held_family, settings.similar_at),
        family_level(&asked.family, &held_given, settings.similar_at),
        date_of_birth,
        || is_family_typo(&asked.given.normal.joined, &held_family.joined),
        || is_family_typo(&asked.family.normal.joined, &held_given.joined),
    );
    let crossed = transposed_levels(crossed_given, crossed_family).filter(|&(g, f)| {
        configured_names_weight(settings, g, f) + settings.weights.transposed_weight()
            > configured_names_weight(settings, given_name, family_name)
    });
    let transposed = crossed.is_some();
    if let Some((g, f)) = crossed {
        given_name = g;
        family_name = f;
        given_slip = None;
    }
    Comparison {
        given_name,
        family_name,
        date_of_birth,
        postcode,
        sex_agrees: match (known(query.sex), known(held.sex)) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        },
        upn_differs: differs(query.upn, held.upn),
        nhs_number_differs: differs(query.nhs_number, held.nhs_number),
        name_weights: NameWeights::default(),
        given_slip,
        family_part: (family_name == FamilyLevel::Part && !transposed)
            .then(|| PartAgreed::of(&asked.family.normal, &held_family))
            .flatten(),
        family_typo: (family_name == FamilyLevel::Typo && !transposed)
            .then(|| asked.family.normal.joined.clone()),
        family_former: family_former && !transposed,
        transposed,
    }
}

/// The crossed levels (the query's given name against the held family name, the query's
/// family name against the held given name) when they are evidence of names recorded the
/// other way round: both agree, at least one exactly, the other exactly, as a known short
/// form or part, or as `similar`. A twin shares the family name and differs by the given
/// name, so its crossed names never both agree.
pub fn transposed_levels(
    given: GivenLevel,
    family: FamilyLevel,
) -> Option<(GivenLevel, FamilyLevel)> {
    let given_ok = matches!(
        given,
        GivenLevel::Exact | GivenLevel::Alias | GivenLevel::Typo | GivenLevel::Similar
    );
    let family_ok = matches!(
        family,
        FamilyLevel::Exact | FamilyLevel::Part | FamilyLevel::Typo | FamilyLevel::Similar
    );
    let one_exact = given == GivenLevel::Exact || family == FamilyLevel::Exact;
    (given_ok && family_ok && one_exact).then_some((given, family))
}

/// The crossed levels with a typo allowed in one of them: a crossed name one keystroke
/// from the other (`given_typo`: the query's given name from the held family name;
/// `family_typo`: the query's family name from the held given name; both of four letters
/// or more, as [`is_family_typo`]) is the level `typo` when the other crossed name agrees
/// exactly and the date of birth is the same, allowing for a swap or one digit: the
/// conditions of a family-name typo ([`family_typo_possible`]), so a typo never ties two
/// records together on its own. (Compared straight, such a name is often not even
/// `similar`: one keystroke in a short name drops Jaro-Winkler below 0.92.)
pub fn crossed_typos(
    given: GivenLevel,
    family: FamilyLevel,
    dob: DobLevel,
    given_typo: impl FnOnce() -> bool,
    family_typo: impl FnOnce() -> bool,
) -> (GivenLevel, FamilyLevel) {
    let dob_agrees = matches!(
        dob,
        DobLevel::Exact | DobLevel::DayMonthSwapped | DobLevel::OneDigit
    );
    if !dob_agrees {
        return (given, family);
    }
    if family == FamilyLevel::Exact
        && matches!(given, GivenLevel::Similar | GivenLevel::Disagree)
        && given_typo()
    {
        return (GivenLevel::Typo, family);
    }
    if given == GivenLevel::Exact
        && matches!(family, FamilyLevel::Similar | FamilyLevel::Disagree)
        && family_typo()
    {
        return (given, FamilyLevel::Typo);
    }
    (given, family)
}

/// The given name's configured weight at `level` (no frequency-based weight).
pub fn given_weight(settings: &MatchingSettings, level: GivenLevel) -> f64 {
    let g = &settings.weights.given_name;
    match level {
        GivenLevel::Exact => g.exact.weight(),
        GivenLevel::Alias => g.alias.weight(),
        GivenLevel::Typo => g.typo.weight(),
        GivenLevel::Similar => g.similar.weight(),
        GivenLevel::Disagree => disagreement_weight(&[g.exact, g.alias, g.typo, g.similar]),
        GivenLevel::Missing => 0.0,
    }
}

/// The family name's configured weight at `level` (no frequency-based weight).
pub fn family_weight(settings: &MatchingSettings, level: FamilyLevel) -> f64 {
    let f = &settings.weights.family_name;
    match level {
        FamilyLevel::Exact => f.exact.weight(),
        FamilyLevel::Part => f.part.weight(),
        FamilyLevel::Typo => f.typo.weight(),
        FamilyLevel::Similar => f.similar.weight(),
        FamilyLevel::Disagree => disagreement_weight(&[f.exact, f.part, f.typo, f.similar]),
        FamilyLevel::Missing => 0.0,
    }
}

/// Both names' configured weights at these levels.
pub fn configured_names_weight(
    settings: &MatchingSettings,
    given: GivenLevel,
    family: FamilyLevel,
) -> f64 {
    given_weight(settings, given) + family_weight(settings, family)
}

/// The most a pair whose names agree only crossed can weigh for its names: both exact,
/// at their configured weights, with the cost of the crossing.
pub fn transposed_names_bound(settings: &MatchingSettings) -> f64 {
    configured_names_weight(settings, GivenLevel::Exact, FamilyLevel::Exact)
        + settings.weights.transposed_weight()
}

impl Comparison {
    /// The Fellegi–Sunter score: the sum of each field's log2(m/u) weight.
    pub fn score(&self, settings: &MatchingSettings) -> f64 {
        let w = &settings.weights;
        if self.transposed {
            let names = configured_names_weight(settings, self.given_name, self.family_name)
                + w.transposed_weight();
            let straight = Comparison {
                given_name: GivenLevel::Missing,
                family_name: FamilyLevel::Missing,
                transposed: false,
                ..self.clone()
            };
            return names + straight.score(settings);
        }
        let g = &w.given_name;
        let given = match self.given_name {
            GivenLevel::Exact => self.name_weights.given_exact.unwrap_or(g.exact.weight()),
            GivenLevel::Alias => g.alias.weight(),
            GivenLevel::Typo => g.typo.weight(),
            GivenLevel::Similar => g.similar.weight(),
            GivenLevel::Disagree => disagreement_weight(&[g.exact, g.alias, g.typo, g.similar]),
            GivenLevel::Missing => 0.0,
        };
        let f = &w.family_name;
        let family = match self.family_name {
            FamilyLevel::Exact if self.family_former => f.former.weight(),
            FamilyLevel::Exact => self.name_weights.family_exact.unwrap_or(f.exact.weight()),
            FamilyLevel::Part => self.name_weights.family_part.unwrap_or(f.part.weight()),
            FamilyLevel::Typo => self.name_weights.family_typo.unwrap_or(f.typo.weight()),
            FamilyLevel::Similar => f.similar.weight(),
            FamilyLevel::Disagree => disagreement_weight(&[f.exact, f.part, f.typo, f.similar]),
            FamilyLevel::Missing => 0.0,
        };
        let d = &w.date_of_birth;
        let dob = match self.date_of_birth {
            DobLevel::Exact => d.exact.weight(),
            DobLevel::DayMonthSwapped => d.day_month_swapped.weight(),
            DobLevel::OneDigit => d.one_digit.weight(),
            DobLevel::SameMonth => d.same_month.weight(),
            DobLevel::Disagree => {
                disagreement_weight(&[d.exact, d.day_month_swapped, d.one_digit, d.same_month])
            }
            DobLevel::Missing => 0.0,
        };
        let p = &w.postcode;
        let postcode = match self.postcode {
            None => 0.0,
            Some(PostcodeLevel::Full) => p.full.weight(),
            Some(PostcodeLevel::Sector) => p.sector.weight(),
            Some(PostcodeLevel::District) => p.district.weight(),
            Some(PostcodeLevel::Disagree) => disagreement_weight(&[p.full, p.sector, p.district]),
        };
        let sex = match self.sex_agrees {
            None => 0.0,
            Some(true) => w.sex.agree.weight(),
            Some(false) => disagreement_weight(&[w.sex.agree]),
        };
        let mut identifiers = 0.0;
        if self.upn_differs {
            identifiers += w.identifiers.upn_differs.weight();
        }
        if self.nhs_number_differs {
            identifiers += w.identifiers.nhs_number_differs.weight();
        }
        given + family + dob + postcode + sex + identifiers
    }

    /// Twins (and other multiple births) share a family name, a date of birth and
    /// usually an address: everything but the given name. So when the family name and
    /// date of birth agree, only an exact or known-short-form given name, or a typo of
    /// the name (under the rules of [`super::given_names`]), can make a link; a merely
    /// similar or different one leaves the candidate at `possible` at most. A typo is
    /// capped too when the node holds another child of that family name and date of birth
    /// (see [`Comparison::shares_family_and_birth`]; applied by the caller).
    ///
    /// The date agrees here also with day and month swapped or one digit off: a twin's
    /// record with its date mistyped is still the twin (with the family name, the
    /// address, sex and the swapped date a twin scores 19.3 bits, over `probable` 19.9 at
    /// a node of 1,000 children, whose threshold is 16.6). Two children of one family
    /// born a digit apart (a year to the day, or ten months) are capped too: as siblings
    /// they are never to be linked anyway.
    pub fn could_be_a_sibling(&self) -> bool {
        self.family_name.agrees()
            && matches!(
                self.date_of_birth,
                DobLevel::Exact | DobLevel::DayMonthSwapped | DobLevel::OneDigit
            )
            && !matches!(
                self.given_name,
                GivenLevel::Exact | GivenLevel::Alias | GivenLevel::Typo
            )
    }

    /// Whether something beyond what a stranger could share by coincidence backs a
    /// link. Two rules; a candidate failing either is offered at most, whatever it
    /// scores (`docs/matching.md`, "Grades"):
    ///
    /// * the family name agrees (exactly, on one part, a keystroke off, or as a former
    ///   name) or the address does (the full postcode or its sector): a given name with
    ///   a date of birth (and sex), however rare the name, is what a stranger born the
    ///   same day can share;
    /// * a date of birth that agrees only with day and month swapped needs the address:
    ///   the names and a swapped date are what a namesake born the same year can share,
    ///   and the swap's weight rests on an *m* nothing measures (FEBRL has no swap, and a
    ///   node's searches show too few to estimate it);
    /// * a date of birth that disagrees outright (both sides hold one, and it is no slip:
    ///   not swapped, one keystroke off or in the same month) links nothing: with the
    ///   given name it is what tells two children of one name apart, and its weight
    ///   rests on the estimated *m* of a replaced date, which on data whose dates drift
    ///   (FEBRL: one true pair in twenty) puts both names and the full postcode within a
    ///   few tenths of a bit of `probable`, so the answer would turn on the estimate's
    ///   noise. The practitioner sees `date_of_birth:disagree` and confirms.
    pub fn corroborated(&self) -> bool {
        if self.date_of_birth == DobLevel::Disagree {
            return false;
        }
        let address = matches!(
            self.postcode,
            Some(PostcodeLevel::Full | PostcodeLevel::Sector)
        );
        let family = matches!(
            self.family_name,
            FamilyLevel::Exact | FamilyLevel::Part | FamilyLevel::Typo
        );
        address || (family && self.date_of_birth != DobLevel::DayMonthSwapped)
    }

    /// Family name agreeing at some level and date of birth the same (allowing for a
    /// day/month swap): another child like this at the node may be the searched-for
    /// child's twin, so no candidate is linked on a typo of the given name. (A date one
    /// digit off is not counted: every family has children born a digit apart.)
    pub fn shares_family_and_birth(&self) -> bool {
        self.family_name.agrees()
            && matches!(
                self.date_of_birth,
                DobLevel::Exact | DobLevel::DayMonthSwapped
            )
    }

    /// Whether the demographics flatly contradict an agreeing identifier: a date of
    /// birth that is not the same even allowing for a typo, and neither name agreeing.
    pub fn contradicts_identifier(&self) -> bool {
        matches!(self.date_of_birth, DobLevel::Disagree | DobLevel::SameMonth)
            && self.given_name == GivenLevel::Disagree
            && self.family_name == FamilyLevel::Disagree
    }

    /// The fields that did not agree at any level, for a `candidates` answer: what the
    /// practitioner should check before confirming. `field:disagree` when both sides
    /// hold the field and it disagrees, `field:missing` when the node holds none of a
    /// field the query gives (the names and the date of birth, which a query always
    /// has). Never a value: field names and levels only. Partial agreements are in
    /// [`Comparison::matched_on`].
    pub fn disagreed(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut level = |field: &str, disagree: bool, missing: bool| {
            if disagree {
                out.push(format!("{field}:disagree"));
            } else if missing {
                out.push(format!("{field}:missing"));
            }
        };
        level(
            "given_name",
            self.given_name == GivenLevel::Disagree,
            self.given_name == GivenLevel::Missing,
        );
        level(
            "family_name",
            self.family_name == FamilyLevel::Disagree,
            self.family_name == FamilyLevel::Missing,
        );
        level(
            "date_of_birth",
            self.date_of_birth == DobLevel::Disagree,
            self.date_of_birth == DobLevel::Missing,
        );
        level(
            "postcode",
            self.postcode == Some(PostcodeLevel::Disagree),
            false,
        );
        level("sex", self.sex_agrees == Some(false), false);
        level("upn", self.upn_differs, false);
        level("nhs_number", self.nhs_number_differs, false);
        out
    }

    /// The fields that agreed, for the answer: the plain field name for full agreement,
    /// `field:level` for a partial one.
    pub fn matched_on(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |s: &str| out.push(s.to_owned());
        match self.given_name {
            GivenLevel::Exact => push("given_name"),
            GivenLevel::Alias => push("given_name:alias"),
            GivenLevel::Typo => push("given_name:typo"),
            GivenLevel::Similar => push("given_name:similar"),
            GivenLevel::Disagree | GivenLevel::Missing => {}
        }
        match self.family_name {
            FamilyLevel::Exact if self.family_former => push("family_name:former"),
            FamilyLevel::Exact => push("family_name"),
            FamilyLevel::Part => push("family_name:part"),
            FamilyLevel::Typo => push("family_name:typo"),
            FamilyLevel::Similar => push("family_name:similar"),
            FamilyLevel::Disagree | FamilyLevel::Missing => {}
        }
        match self.date_of_birth {
            DobLevel::Exact => push("date_of_birth"),
            DobLevel::DayMonthSwapped => push("date_of_birth:day_month_swapped"),
            DobLevel::OneDigit => push("date_of_birth:one_digit"),
            DobLevel::SameMonth => push("date_of_birth:same_month"),
            DobLevel::Disagree | DobLevel::Missing => {}
        }
        match self.postcode {
            Some(PostcodeLevel::Full) => push("postcode"),
            Some(PostcodeLevel::Sector) => push("postcode:sector"),
            Some(PostcodeLevel::District) => push("postcode:district"),
            Some(PostcodeLevel::Disagree) | None => {}
        }
        if self.sex_agrees == Some(true) {
            push("sex");
        }
        if self.transposed {
            // The names agreed crossed: say so on each (`given_name:transposed`).
            for name in out
                .iter_mut()
                .filter(|f| f.starts_with("given_name") || f.starts_with("family_name"))
            {
                let field = name.split(':').next().unwrap_or_default().to_owned();
                *name = format!("{field}:transposed");
            }
        }
        out
    }
}

/// The grade a score reaches under the thresholds as configured, if any: at a node of
/// `reference_children` children.
pub fn grade(score: f64, settings: &MatchingSettings) -> Option<MatchGrade> {
    grade_at(score, settings, settings.thresholds.reference_children)
}

/// The grade a score reaches at a node holding `children` children: the thresholds move
/// with the node's size (see [`super::settings::Thresholds::shift_for`]).
pub fn grade_at(score: f64, settings: &MatchingSettings, children: u64) -> Option<MatchGrade> {
    let t = &settings.thresholds;
    let score = score - t.shift_for(children);
    if t.certain.is_some_and(|c| score >= c) {
        Some(MatchGrade::Certain)
    } else if score >= t.probable {
        Some(MatchGrade::Probable)
    } else if score >= t.possible {
        Some(MatchGrade::Possible)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JW: f64 = 0.92;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn person<'a>(
        given: &'a str,
        family: &'a str,
        dob: &str,
        postcode: Option<&'a str>,
    ) -> Person<'a> {
        Person {
            given_name: given,
            family_name: family,
            date_of_birth: Some(d(dob)),
            sex: Some(Sex::Female),
            postcode,
            upn: None,
            nhs_number: None,
            former_family_names: &[],
        }
    }

    /// A partial child's missing fields are no evidence: weight 0, neither agreeing
    /// (no sibling or twin rule fires on them) nor contradicting an identifier.
    #[test]
    fn missing_fields_are_no_evidence_for_or_against() {
        let settings = MatchingSettings::default();
        let query = person("Rowan", "Quenby", "2014-11-05", Some("ZZ9 4QT"));
        let mut held = person("Rowan", "Quenby", "2014-11-05", Some("ZZ9 4QT"));
        let full = compare(&query, &held, &settings);
        held.date_of_birth = None;
        let no_dob = compare(&query, &held, &settings);
        assert_eq!(no_dob.date_of_birth, DobLevel::Missing);
        let dob_weight = settings.weights.date_of_birth.exact.weight();
        assert!((full.score(&settings) - no_dob.score(&settings) - dob_weight).abs() < 1e-9);
        held.given_name = "";
        held.family_name = "";
        let nothing = compare(&query, &held, &settings);
        assert_eq!(
            (nothing.given_name, nothing.family_name),
            (GivenLevel::Missing, FamilyLevel::Missing)
        );
        assert!(!nothing.could_be_a_sibling() && !nothing.shares_family_and_birth());
        assert!(!nothing.contradicts_identifier());
        assert!(
            nothing
                .matched_on()
                .iter()
                .all(|m| m == "postcode" || m == "sex")
        );
        // Disagreement still counts against: a different date is not a missing one.
        let mut other = person("Rowan", "Quenby", "2009-02-17", Some("ZZ9 4QT"));
        other.sex = None;
        assert!(compare(&query, &other, &settings).score(&settings) < no_dob.score(&settings));
    }

    #[test]
    fn given_names_compare_by_level() {
        for (a, b, level) in [
            ("AMELIA", " amelia", GivenLevel::Exact),
            ("Zoë", "Zoe", GivenLevel::Exact),
            ("Alfie", "Alfred", GivenLevel::Alias),
            ("Mo", "Muhammad", GivenLevel::Alias),
            ("Mary-Jane", "Mary", GivenLevel::Alias),
            ("Amelia", "Amelai", GivenLevel::Similar),
            ("Mohammed", "Muhamad", GivenLevel::Similar),
            ("Amelia", "Olivia", GivenLevel::Disagree),
            ("Alexander", "Alexandra", GivenLevel::Similar),
        ] {
            assert_eq!(compare_given(a, b, JW), level, "{a} ~ {b}");
        }
    }

    #[test]
    fn family_names_compare_by_level() {
        for (a, b, level) in [
            ("O'Neill", "ONeill", FamilyLevel::Exact),
            ("O'Neill", "O Neill", FamilyLevel::Exact),
            ("Wood-Allen", "Wood Allen", FamilyLevel::Exact),
            ("Wood-Allen", "Allen", FamilyLevel::Part),
            ("Wood", "Wood-Allen", FamilyLevel::Part),
            ("Smith", "Smyth", FamilyLevel::Similar),
            ("Thompson", "Thomson", FamilyLevel::Similar),
            ("Smith", "Jones", FamilyLevel::Disagree),
            // A shared particle is not a shared name.
            ("Da Silva", "Da Costa", FamilyLevel::Disagree),
        ] {
            assert_eq!(compare_family(a, b, JW), level, "{a} ~ {b}");
        }
    }

    #[test]
    fn dates_of_birth_compare_by_level() {
        for (other, level) in [
            ("2014-03-09", DobLevel::Exact),
            ("2014-09-03", DobLevel::DayMonthSwapped),
            ("2014-03-08", DobLevel::OneDigit),
            ("2015-03-09", DobLevel::OneDigit),
            ("2014-03-21", DobLevel::SameMonth),
            ("2016-07-21", DobLevel::Disagree),
        ] {
            assert_eq!(compare_dob(d("2014-03-09"), d(other)), level, "{other}");
        }
        // Two adjacent digits exchanged count as one keystroke (`OneDigit`): in the day,
        // the month, across month and day, in the year. Two digits exchanged that are not
        // neighbours, or two neighbours changed otherwise, do not.
        for (a, b, level) in [
            ("2014-03-12", "2014-03-21", DobLevel::OneDigit),
            ("2014-10-03", "2014-01-03", DobLevel::OneDigit),
            ("2014-11-02", "2014-10-12", DobLevel::OneDigit),
            ("2014-03-12", "2041-03-12", DobLevel::OneDigit),
            ("2014-03-12", "2014-02-13", DobLevel::Disagree),
            ("2014-03-12", "2014-03-25", DobLevel::SameMonth),
        ] {
            assert_eq!(compare_dob(d(a), d(b)), level, "{a}/{b}");
            assert_eq!(compare_dob(d(b), d(a)), level, "{b}/{a}");
        }
    }

    #[test]
    fn postcodes_compare_by_level() {
        for (other, level) in [
            ("zz14ab", PostcodeLevel::Full),
            ("ZZ1 4XY", PostcodeLevel::Sector),
            ("ZZ1 7XY", PostcodeLevel::District),
            ("ZZ2 4AB", PostcodeLevel::Disagree),
        ] {
            assert_eq!(compare_postcode("ZZ1 4AB", other), Some(level), "{other}");
        }
    }

    #[test]
    fn a_family_name_one_keystroke_off_is_a_typo_when_given_name_and_date_agree() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", None);
        let level = |given: &str, family: &str, dob: &str| {
            compare(&q, &person(given, family, dob, None), &s).family_name
        };
        // Substitution, transposition, insertion, deletion; a short form of the given
        // name and a date one digit off still allow it.
        assert_eq!(level("Amelia", "Okafar", "2014-03-09"), FamilyLevel::Typo);
        assert_eq!(level("Amelia", "Okafro", "2014-03-09"), FamilyLevel::Typo);
        assert_eq!(level("Amelia", "Okkafor", "2014-03-09"), FamilyLevel::Typo);
        assert_eq!(level("Millie", "Okafr", "2014-03-08"), FamilyLevel::Typo);
        // Never on its own: the given name must agree, the date be close.
        assert_eq!(
            level("Olivia", "Okafro", "2014-03-09"),
            FamilyLevel::Similar
        );
        assert_eq!(
            level("Amelia", "Okafro", "2016-07-21"),
            FamilyLevel::Similar
        );
        // Two keystrokes are not a typo.
        assert_ne!(level("Amelia", "Okfaro", "2014-03-09"), FamilyLevel::Typo);
        // A given name that is itself a typo (both names mistyped) allows it too.
        assert_eq!(level("Amelai", "Okafro", "2014-03-09"), FamilyLevel::Typo);
        // With no date of birth on one side, the address stands where the date would:
        // the full postcode or its sector, not the district, and never no postcode.
        let no_date = |postcode: Option<&'static str>| {
            let mut held = person("Amelia", "Okafro", "2014-03-09", postcode);
            held.date_of_birth = None;
            let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
            compare(&q, &held, &s).family_name
        };
        assert_eq!(no_date(Some("ZZ1 4AB")), FamilyLevel::Typo);
        assert_eq!(no_date(Some("ZZ1 4XY")), FamilyLevel::Typo);
        assert_eq!(no_date(Some("ZZ1 7XY")), FamilyLevel::Similar);
        assert_eq!(no_date(None), FamilyLevel::Similar);
        // Names of three letters or fewer: their neighbours are other families' names.
        let short = |a: &str, b: &str| {
            compare(
                &person("Amelia", a, "2014-03-09", None),
                &person("Amelia", b, "2014-03-09", None),
                &s,
            )
            .family_name
        };
        assert_ne!(short("Cox", "Fox"), FamilyLevel::Typo);
        assert_ne!(short("Li", "Lu"), FamilyLevel::Typo);
        assert_ne!(short("Hall", "Hal"), FamilyLevel::Typo);
        assert_eq!(short("Mills", "Millss"), FamilyLevel::Typo);
        // It weighs more than `similar`, less than agreement, and says so.
        let typo = compare(&q, &person("Amelia", "Okafro", "2014-03-09", None), &s);
        assert!(typo.score(&s) > compare(&q, &q, &s).score(&s) - 3.0);
        assert!(s.weights.family_name.typo.weight() > s.weights.family_name.similar.weight());
        assert!(typo.matched_on().contains(&"family_name:typo".to_owned()));
    }

    #[test]
    fn sex_counts_only_when_both_sides_know_it() {
        let s = MatchingSettings::default();
        let a = person("Amelia", "Okafor", "2014-03-09", None);
        let mut b = a.clone();
        b.sex = Some(Sex::Unknown);
        assert_eq!(compare(&a, &b, &s).sex_agrees, None);
        b.sex = Some(Sex::Male);
        assert_eq!(compare(&a, &b, &s).sex_agrees, Some(false));
        assert!(compare(&a, &b, &s).score(&s) < compare(&a, &a, &s).score(&s));
    }

    #[test]
    fn disagreed_names_fields_and_levels_never_values() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        // Everything agreeing: nothing disagreed.
        assert!(compare(&q, &q, &s).disagreed().is_empty());
        // Moved far away, another date of birth: both listed, partial levels are not.
        let moved = person("Amelia", "Okafor", "2012-07-21", Some("ZZ9 9XY"));
        assert_eq!(
            compare(&q, &moved, &s).disagreed(),
            ["date_of_birth:disagree", "postcode:disagree"]
        );
        let nearby = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4ZZ"));
        let c = compare(&q, &nearby, &s);
        assert!(c.disagreed().is_empty());
        assert!(c.matched_on().contains(&"postcode:sector".to_owned()));
        // A field the node does not hold is `missing`; a given name that disagrees, a
        // differing sex and identifier are listed too.
        let mut partial = person("Noor", "", "2014-03-09", None);
        partial.sex = Some(Sex::Male);
        partial.upn = Some("U999123456789");
        let mut asked = q.clone();
        asked.sex = Some(Sex::Female);
        asked.upn = Some("A999123456780");
        let c = compare(&asked, &partial, &s);
        assert_eq!(
            c.disagreed(),
            [
                "given_name:disagree",
                "family_name:missing",
                "sex:disagree",
                "upn:disagree"
            ]
        );
        assert!(c.disagreed().iter().all(|f| !f.contains("Noor")));
    }

    #[test]
    fn names_recorded_the_other_way_round_are_compared_crossed() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let held = person("Okafor", "Amelia", "2014-03-09", Some("ZZ1 4AB"));
        let c = compare(&q, &held, &s);
        assert!(c.transposed);
        assert_eq!(c.given_name, GivenLevel::Exact);
        assert_eq!(c.family_name, FamilyLevel::Exact);
        // Everything else agreeing links it, at the crossing's cost.
        let straight = compare(&q, &q, &s);
        let cost = straight.score(&s) - c.score(&s);
        assert!(
            (cost + s.weights.transposed_weight()).abs() < 1e-9,
            "{cost}"
        );
        assert_eq!(grade(c.score(&s), &s), Some(MatchGrade::Probable));
        assert_eq!(
            c.matched_on(),
            [
                "given_name:transposed",
                "family_name:transposed",
                "date_of_birth",
                "postcode",
                "sex"
            ]
        );
        // With a typo in one of the crossed names too.
        let typo = compare(
            &q,
            &person("Okafro", "Amelia", "2014-03-09", Some("ZZ1 4AB")),
            &s,
        );
        assert!(typo.transposed);
        assert_eq!(typo.given_name, GivenLevel::Exact);
        assert_eq!(typo.family_name, FamilyLevel::Typo);
        assert_eq!(grade(typo.score(&s), &s), Some(MatchGrade::Probable));
        // A crossed typo of a name that is not even `similar` (one keystroke in a short
        // name: Jaro-Winkler below 0.92, another phonetic code) counts as well...
        let short = person("Kyle", "Obi", "2014-03-09", Some("ZZ1 4AB"));
        let c = compare(
            &short,
            &person("Obi", "Kyld", "2014-03-09", Some("ZZ1 4AB")),
            &s,
        );
        assert!(c.transposed);
        assert_eq!(c.given_name, GivenLevel::Typo);
        // ... only with the other crossed name exact and the date of birth agreeing: a
        // typo never ties two records together on its own.
        let moved_date = compare(
            &short,
            &person("Obi", "Kyld", "2011-07-21", Some("ZZ1 4AB")),
            &s,
        );
        assert!(!moved_date.transposed);
        let both_off = compare(
            &short,
            &person("Obu", "Kyld", "2014-03-09", Some("ZZ1 4AB")),
            &s,
        );
        assert!(!both_off.transposed);
        // Straight agreement is never replaced by a crossed one.
        assert!(!straight.transposed);
        // A name that is both (`Thomas James` / `James Thomas`) crosses exactly.
        let both = compare(
            &person("Thomas", "James", "2014-03-09", None),
            &person("James", "Thomas", "2014-03-09", None),
            &s,
        );
        assert!(both.transposed);
    }

    #[test]
    fn a_former_family_name_counts_nearly_as_the_family_name() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let former = vec!["Okafor".to_owned()];
        let mut renamed = person("Amelia", "Mensah", "2014-03-09", Some("ZZ1 4AB"));
        let without = compare(&q, &renamed, &s);
        assert_eq!(without.family_name, FamilyLevel::Disagree);
        renamed.former_family_names = &former;
        let with = compare(&q, &renamed, &s);
        assert!(with.family_former);
        assert_eq!(with.family_name, FamilyLevel::Exact);
        let gained = with.score(&s) - without.score(&s);
        let expected =
            s.weights.family_name.former.weight() - family_weight(&s, FamilyLevel::Disagree);
        assert!((gained - expected).abs() < 1e-9);
        // Less than the current name would weigh, more than a disagreement.
        assert!(s.weights.family_name.former.weight() < s.weights.family_name.exact.weight());
        assert!(with.matched_on().contains(&"family_name:former".to_owned()));
        // The current name agreeing is never replaced by a former one.
        let mut same = q.clone();
        same.former_family_names = &former;
        assert!(!compare(&q, &same, &s).family_former);
        // A twin (another given name) with the same former name stays a possible sibling.
        let mut twin = person("Olivia", "Mensah", "2014-03-09", Some("ZZ1 4AB"));
        twin.former_family_names = &former;
        assert!(compare(&q, &twin, &s).could_be_a_sibling());
    }

    #[test]
    fn a_twin_never_agrees_crossed() {
        let s = MatchingSettings::default();
        // Twins: the same family name, date of birth and postcode, another given name,
        // whichever way round either is recorded.
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        for held in [
            person("Olivia", "Okafor", "2014-03-09", Some("ZZ1 4AB")),
            person("Okafor", "Olivia", "2014-03-09", Some("ZZ1 4AB")),
        ] {
            let c = compare(&q, &held, &s);
            assert!(!c.transposed, "{held:?}");
            // Straight, the twin rule caps it; crossed, the names disagree.
            assert!(
                c.could_be_a_sibling() || grade(c.score(&s), &s).is_none(),
                "{held:?}"
            );
        }
        // Only one crossed name agreeing is not evidence of a crossing.
        assert_eq!(
            transposed_levels(GivenLevel::Exact, FamilyLevel::Disagree),
            None
        );
        assert_eq!(
            transposed_levels(GivenLevel::Similar, FamilyLevel::Similar),
            None
        );
    }

    #[test]
    fn default_grades_of_typical_pairs() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let grade_of = |h: &Person<'_>| grade(compare(&q, h, &s).score(&s), &s);
        let mut moved_sex_unknown = person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY"));
        moved_sex_unknown.sex = None;
        for (case, held, expected) in [
            (
                "everything agrees, no identifier: probable, never certain by default",
                q.clone(),
                Some(MatchGrade::Probable),
            ),
            (
                "no postcode to compare, name and date agree: still probable",
                person("Amelia", "Okafor", "2014-03-09", None),
                Some(MatchGrade::Probable),
            ),
            (
                "short form and a typo in the date",
                person("Millie", "Okafor", "2014-09-03", Some("ZZ1 4AB")),
                Some(MatchGrade::Probable),
            ),
            // Children's families move; this rule changed with the recall work.
            (
                "the family moved to another district, everything else agreeing: probable",
                person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY")),
                Some(MatchGrade::Probable),
            ),
            (
                "... but only possible when one side does not record sex",
                moved_sex_unknown,
                Some(MatchGrade::Possible),
            ),
            (
                "a new family name at the same address, the rest agreeing: probable",
                person("Amelia", "Mensah", "2014-03-09", Some("ZZ1 4AB")),
                Some(MatchGrade::Probable),
            ),
            (
                "a typo in the given name, the rest agreeing, no postcode: probable",
                person("Amelai", "Okafor", "2014-03-09", None),
                Some(MatchGrade::Probable),
            ),
            (
                "a typo in the family name, the rest agreeing, no postcode: probable \
                 (was possible while a typo counted as `similar`)",
                person("Amelia", "Okafro", "2014-03-09", None),
                Some(MatchGrade::Probable),
            ),
            (
                "a sibling at the same address",
                person("Olivia", "Okafor", "2011-06-30", Some("ZZ1 4AB")),
                None,
            ),
            (
                "someone else entirely",
                person("Noah", "Smith", "2016-01-20", Some("ZZ3 9XY")),
                None,
            ),
        ] {
            assert_eq!(grade_of(&held), expected, "{case}");
        }
        // The same child at a node of a million children: the thresholds rise by
        // log2(100) = 6.6, so a move is no longer enough, a full agreement still is.
        let at_a_million = |h: &Person<'_>| grade_at(compare(&q, h, &s).score(&s), &s, 1_000_000);
        assert_eq!(
            at_a_million(&person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY"))),
            Some(MatchGrade::Possible)
        );
        assert_eq!(at_a_million(&q), Some(MatchGrade::Probable));
    }

    #[test]
    fn thresholds_fall_for_a_small_node_down_to_the_floor() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        // Moved to another district, no sex on either side: 22.6 bits, a candidate at
        // the reference size, linked at a node of 1,000 children (the same posterior
        // odds: a tenth of the strangers to agree by coincidence).
        let mut moved = person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY"));
        moved.sex = None;
        let score = compare(&q, &moved, &s).score(&s);
        assert_eq!(grade_at(score, &s, 10_000), Some(MatchGrade::Possible));
        assert_eq!(grade_at(score, &s, 1_000), Some(MatchGrade::Probable));
        // Below the floor the thresholds fall no further.
        let t = &s.thresholds;
        assert_eq!(t.shift_for(10), t.shift_for(t.floor_children));
        assert_eq!(t.shift_for(0), t.shift_for(t.floor_children));
        assert!((t.shift_for(1_000) + 10f64.log2()).abs() < 1e-9);
        assert_eq!(t.shift_for(10_000), 0.0);
        // A stranger with another name and date in the same district never comes near.
        let stranger = person("Noah", "Smith", "2016-01-20", Some("ZZ1 4XY"));
        assert_eq!(grade_at(compare(&q, &stranger, &s).score(&s), &s, 10), None);
    }

    /// Why the floor is 1,000: at any node that small, a given name and a date of birth
    /// with sex (what a search without a family name or an address can show, and what
    /// a stranger born the same day can share), with the given name as rare as a node's
    /// counts can make it, stay below `probable`. A link needs a family name or an
    /// address as well.
    #[test]
    fn at_the_floor_a_given_name_and_a_date_of_birth_never_link() {
        let s = MatchingSettings::default();
        let w = &s.weights;
        for children in [1, 10, 100, 500, 999, 1_000] {
            // The held child is the only one carrying the name.
            let given = w.frequency.exact_weight(w.given_name.exact, 1, children);
            let score = given.max(w.given_name.exact.weight())
                + w.date_of_birth.exact.weight()
                + w.sex.agree.weight();
            assert!(
                grade_at(score, &s, children) != Some(MatchGrade::Probable),
                "{children} children: {score}"
            );
        }
    }

    /// The family name or the address corroborates a link; a given name with a date of
    /// birth does not (the rule, end to end in the node's `finding::partial_tests`).
    #[test]
    fn only_the_family_name_or_the_address_corroborates() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let stranger = person("Amelia", "Whitfield", "2014-03-09", Some("ZZ7 1XY"));
        assert!(!compare(&q, &stranger, &s).corroborated());
        let unstated = person("Amelia", "", "2014-03-09", None);
        assert!(!compare(&unstated, &q, &s).corroborated());
        for (case, held) in [
            (
                "family name",
                person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY")),
            ),
            (
                "a keystroke off",
                person("Amelia", "Okafro", "2014-03-09", None),
            ),
            (
                "postcode",
                person("Amelia", "Whitfield", "2014-03-09", Some("ZZ1 4AB")),
            ),
            (
                "sector",
                person("Amelia", "Whitfield", "2014-03-09", Some("ZZ1 4XY")),
            ),
        ] {
            assert!(compare(&q, &held, &s).corroborated(), "{case}");
        }
    }

    /// A date of birth agreeing only with day and month swapped is corroborated by the
    /// address alone: both names with it are what a namesake born the same year shares.
    #[test]
    fn a_swapped_date_of_birth_needs_the_address() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        for (case, postcode) in [("another district", Some("ZZ7 1XY")), ("none", None)] {
            let namesake = person("Amelia", "Okafor", "2014-09-03", postcode);
            let c = compare(&q, &namesake, &s);
            assert_eq!(c.date_of_birth, DobLevel::DayMonthSwapped, "{case}");
            assert!(!c.corroborated(), "{case}");
        }
        for (case, postcode) in [("postcode", "ZZ1 4AB"), ("sector", "ZZ1 4XY")] {
            let held = person("Amelia", "Okafor", "2014-09-03", Some(postcode));
            assert!(compare(&q, &held, &s).corroborated(), "{case}");
        }
        // The exact date with both names after a move stays corroborated.
        let moved = person("Amelia", "Okafor", "2014-03-09", Some("ZZ7 1XY"));
        assert!(compare(&q, &moved, &s).corroborated());
    }

    /// A date of birth that disagrees outright corroborates nothing, whatever else
    /// agrees; its slips (swapped with the address, one keystroke off, the same month)
    /// and a missing date do not count against a link.
    #[test]
    fn a_replaced_date_of_birth_never_corroborates() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let replaced = person("Amelia", "Okafor", "2016-11-27", Some("ZZ1 4AB"));
        let c = compare(&q, &replaced, &s);
        assert_eq!(c.date_of_birth, DobLevel::Disagree);
        assert!(!c.corroborated());
        for (case, dob) in [
            ("swapped", Some("2014-09-03")),
            ("one digit", Some("2014-03-08")),
            ("same month", Some("2014-03-27")),
            ("missing", None),
        ] {
            let mut held = person(
                "Amelia",
                "Okafor",
                dob.unwrap_or("2014-03-09"),
                Some("ZZ1 4AB"),
            );
            if dob.is_none() {
                held.date_of_birth = None;
            }
            assert!(compare(&q, &held, &s).corroborated(), "{case}");
        }
    }

    #[test]
    fn a_differing_identifier_lowers_the_score() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let mut h = q.clone();
        h.nhs_number = Some("9990000018");
        let mut q2 = q.clone();
        q2.nhs_number = Some("9990000026");
        let c = compare(&q2, &h, &s);
        assert!(c.nhs_number_differs);
        assert!(c.score(&s) < compare(&q, &q, &s).score(&s) - 6.0);
    }

    #[test]
    fn twins_could_be_siblings_but_a_short_form_could_not() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        let twin = person("Olivia", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        assert!(compare(&q, &twin, &s).could_be_a_sibling());
        let millie = person("Millie", "Okafor", "2014-03-09", Some("ZZ1 4AB"));
        assert!(!compare(&q, &millie, &s).could_be_a_sibling());
        // A twin's record with its date mistyped is still the twin.
        for date in ["2014-09-03", "2014-03-08"] {
            let twin = person("Olivia", "Okafor", date, Some("ZZ1 4AB"));
            assert!(compare(&q, &twin, &s).could_be_a_sibling(), "{date}");
        }
        // A date in the same month is no twin's.
        let later = person("Olivia", "Okafor", "2014-03-27", Some("ZZ1 4AB"));
        assert!(!compare(&q, &later, &s).could_be_a_sibling());
    }

    #[test]
    fn only_a_wholly_different_person_contradicts_an_identifier() {
        let s = MatchingSettings::default();
        let q = person("Amelia", "Okafor", "2014-03-09", None);
        let other = person("Noah", "Smith", "2016-01-20", None);
        assert!(compare(&q, &other, &s).contradicts_identifier());
        // A date typo, or one agreeing name, is not a contradiction.
        let typo = person("Noah", "Smith", "2014-03-08", None);
        assert!(!compare(&q, &typo, &s).contradicts_identifier());
        let renamed = person("Amelia", "Smith", "2016-01-20", None);
        assert!(!compare(&q, &renamed, &s).contradicts_identifier());
    }

    #[test]
    fn matched_on_names_the_level() {
        let s = MatchingSettings::default();
        let q = person("Alfie", "Wood-Allen", "2014-03-09", Some("ZZ1 4AB"));
        let h = person("Alfred", "Allen", "2014-09-03", Some("ZZ1 4XY"));
        assert_eq!(
            compare(&q, &h, &s).matched_on(),
            vec![
                "given_name:alias",
                "family_name:part",
                "date_of_birth:day_month_swapped",
                "postcode:sector",
                "sex"
            ]
        );
    }
}
