//! The forms names, dates and postcodes are compared in. Agencies type the same child's
//! name differently (`O'Neill`, `ONeill`, `O Neill`; `Zoë`, `Zoe`; `Wood-Allen`,
//! `Wood Allen`), so comparison never looks at the raw text.

use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Particles that start many family names (`Da Silva`, `Van Dijk`, `Al Hassan`): a shared
/// particle is not evidence of a shared name, so they never count as a matching part.
const PARTICLES: &[&str] = &[
    "da", "de", "del", "della", "der", "den", "di", "do", "dos", "das", "du", "la", "le", "van",
    "von", "al", "el", "bin", "ibn", "ben", "st",
];

/// A name as compared: accents removed by Unicode decomposition (NFKD, then combining
/// marks dropped), lower case, apostrophes removed, and split into parts on hyphens,
/// spaces and other punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalName {
    /// All parts joined without separators: `Wood-Allen` → `woodallen`,
    /// `O'Neill` → `oneill`.
    pub joined: String,
    /// The parts: `Wood-Allen` → `["wood", "allen"]`.
    pub parts: Vec<String>,
}

impl NormalName {
    pub fn new(raw: &str) -> Self {
        // Plain ASCII (nearly every name) decomposes to itself and has no combining mark
        // or special letter: lower-case it and drop apostrophes, as the general path does.
        if raw.is_ascii() {
            let mut folded = String::with_capacity(raw.len());
            folded.extend(
                raw.chars()
                    .filter(|c| !matches!(c, '\'' | '`'))
                    .map(|c| c.to_ascii_lowercase()),
            );
            return Self::from_folded(&folded);
        }
        Self::from_folded(&fold(raw))
    }

    /// Splits a folded name (accents removed, lower case, no apostrophes) into parts.
    fn from_folded(folded: &str) -> Self {
        let parts: Vec<String> = folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            joined: parts.concat(),
            parts,
        }
    }

    /// Parts that can stand for the whole name on their own: two letters or more and not
    /// a particle. `O Neill` has one (`neill`), `Wood-Allen` two.
    pub fn significant_parts(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .map(String::as_str)
            .filter(|p| p.chars().count() >= 2 && !PARTICLES.contains(p))
    }

    pub fn is_multi_part(&self) -> bool {
        self.significant_parts().count() > 1
    }
}

/// Any name folded: decomposed, combining marks dropped, lower case, special letters
/// spelt in ASCII, apostrophes dropped.
fn fold(raw: &str) -> String {
    let mut folded = String::with_capacity(raw.len());
    for c in raw
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
    {
        match c {
            // Letters that do not decompose but have a usual ASCII spelling.
            'ß' => folded.push_str("ss"),
            'æ' => folded.push_str("ae"),
            'œ' => folded.push_str("oe"),
            'ø' => folded.push('o'),
            'ł' => folded.push('l'),
            'đ' | 'ð' => folded.push('d'),
            'þ' => folded.push_str("th"),
            'ı' => folded.push('i'),
            // Apostrophes are dropped (`O'Neill` = `ONeill`).
            '\'' | '’' | '‘' | '`' | 'ʼ' | '´' => {}
            other => folded.push(other),
        }
    }
    folded
}

/// A UK postcode split into the units compared: `ZZ1 4AB` → district `ZZ1`,
/// sector `ZZ1 4`, full `ZZ14AB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode {
    pub full: String,
    pub sector: String,
    pub district: String,
}

impl Postcode {
    /// `None` for text too short to be a postcode (the inward code is always three
    /// characters, the outward two to four).
    pub fn parse(raw: &str) -> Option<Self> {
        let full = schemas::child::normalise_postcode(raw);
        if full.len() < 5 || !full.is_ascii() {
            return None;
        }
        let (outward, inward) = full.split_at(full.len() - 3);
        let sector_digit = inward.chars().next()?;
        Some(Self {
            sector: format!("{outward} {sector_digit}"),
            district: outward.to_owned(),
            full,
        })
    }
}

/// The date with day and month exchanged, when that is another valid date: the usual
/// slip between UK and US date order.
pub fn swap_day_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.day() == date.month() || date.day() > 12 {
        return None;
    }
    NaiveDate::from_ymd_opt(date.year(), date.day(), date.month())
}

/// Whether two dates' `YYYYMMDD` differ by one keystroke of a digit: exactly one digit
/// differs, or two adjacent digits are exchanged (`20140319` / `20140391` is no date, but
/// `20140312` / `20140321` is). Damerau-Levenshtein distance 1 between strings of the same
/// length, as Splink's date comparison counts it.
pub fn one_digit_keystroke(a: NaiveDate, b: NaiveDate) -> bool {
    let (a, b) = (date_digits(a), date_digits(b));
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    match differing.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
        _ => false,
    }
}

/// The other dates whose `YYYYMMDD` is this one's with two adjacent, different digits
/// exchanged (at most seven): what a keyed query sends so that a node can find a date
/// with its digits transposed (see [`one_digit_keystroke`]).
pub fn adjacent_digit_transpositions(date: NaiveDate) -> Vec<NaiveDate> {
    let digits = date_digits(date);
    let mut out = Vec::new();
    for i in 0..digits.len() - 1 {
        if digits[i] == digits[i + 1] {
            continue;
        }
        let mut t = digits;
        t.swap(i, i + 1);
        let number = |r: std::ops::Range<usize>| {
            t[r].iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d.saturating_sub(b'0')))
        };
        let year = i32::try_from(number(0..4)).unwrap_or(0);
        if let Some(other) = NaiveDate::from_ymd_opt(year, number(4..6), number(6..8)) {
            out.push(other);
        }
    }
    out
}

/// The eight digits `YYYYMMDD` of a date, compared position by position.
pub fn date_digits(date: NaiveDate) -> [u8; 8] {
    let (year, month, day) = (date.year(), date.month(), date.day());
    if (0..=9999).contains(&year) {
        // What `%Y%m%d` writes for a year of four digits or fewer, without formatting.
        let mut rest = year.unsigned_abs() * 10_000 + month * 100 + day;
        let mut digits = [0u8; 8];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        return digits;
    }
    let text = date.format("%Y%m%d").to_string();
    let mut digits = [0u8; 8];
    for (slot, b) in digits.iter_mut().zip(text.bytes()) {
        *slot = b;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn case_and_surrounding_space_do_not_matter() {
        assert_eq!(NormalName::new("  SMITH ").joined, "smith");
        assert_eq!(NormalName::new("smith"), NormalName::new("Smith"));
    }

    #[test]
    fn accents_are_removed_by_decomposition() {
        assert_eq!(NormalName::new("Zoë").joined, "zoe");
        assert_eq!(NormalName::new("José").joined, "jose");
        assert_eq!(NormalName::new("Siân").joined, "sian");
        assert_eq!(NormalName::new("Łukasz").joined, "lukasz");
        assert_eq!(NormalName::new("Müller").joined, "muller");
    }

    #[test]
    fn apostrophes_are_dropped_so_oneill_spellings_agree() {
        for spelling in ["O'Neill", "ONeill", "O’Neill", "o'neill"] {
            assert_eq!(NormalName::new(spelling).joined, "oneill", "{spelling}");
        }
        // With a space the parts differ, but the joined form still agrees.
        assert_eq!(NormalName::new("O Neill").joined, "oneill");
    }

    #[test]
    fn hyphens_and_spaces_split_double_barrelled_names() {
        let n = NormalName::new("Wood-Allen");
        assert_eq!(n.joined, "woodallen");
        assert_eq!(n.parts, vec!["wood", "allen"]);
        assert!(n.is_multi_part());
        assert_eq!(NormalName::new("Wood Allen").joined, "woodallen");
    }

    #[test]
    fn particles_and_initials_are_not_significant_parts() {
        assert_eq!(
            NormalName::new("Da Silva")
                .significant_parts()
                .collect::<Vec<_>>(),
            vec!["silva"]
        );
        assert!(!NormalName::new("O Neill").is_multi_part());
    }

    #[test]
    fn postcodes_split_into_sector_and_district() {
        let p = Postcode::parse("zz1 4ab").unwrap();
        assert_eq!(p.full, "ZZ14AB");
        assert_eq!(p.sector, "ZZ1 4");
        assert_eq!(p.district, "ZZ1");
        let long = Postcode::parse("SW1A 1AA").unwrap();
        assert_eq!(long.sector, "SW1A 1");
        assert_eq!(long.district, "SW1A");
        assert!(Postcode::parse("AB1").is_none());
    }

    #[test]
    fn day_and_month_swap_only_when_both_can_be_months() {
        assert_eq!(swap_day_month(d("2014-03-09")), Some(d("2014-09-03")));
        // Every adjacent transposition that is a date, and nothing else.
        assert_eq!(
            adjacent_digit_transpositions(d("2014-03-12")),
            [
                d("0214-03-12"),
                d("2104-03-12"),
                d("2041-03-12"),
                d("2014-03-21")
            ]
        );
        for t in adjacent_digit_transpositions(d("2014-11-02")) {
            assert!(one_digit_keystroke(d("2014-11-02"), t), "{t}");
        }
        assert_eq!(swap_day_month(d("2014-03-13")), None);
        assert_eq!(swap_day_month(d("2014-05-05")), None);
    }

    #[test]
    fn dates_have_eight_digits() {
        assert_eq!(&date_digits(d("2014-03-09")), b"20140309");
    }

    #[test]
    fn date_digits_are_what_formatting_writes() {
        let formatted = |date: NaiveDate| {
            let mut digits = [0u8; 8];
            for (slot, b) in digits
                .iter_mut()
                .zip(date.format("%Y%m%d").to_string().bytes())
            {
                *slot = b;
            }
            digits
        };
        let mut date = d("1899-12-25");
        while date < d("2031-01-10") {
            assert_eq!(date_digits(date), formatted(date), "{date}");
            date += chrono::Duration::days(1);
        }
        for far in ["0001-01-01", "0999-09-09", "9999-12-31"] {
            assert_eq!(date_digits(d(far)), formatted(d(far)), "{far}");
        }
        let beyond = NaiveDate::from_ymd_opt(12345, 6, 7).unwrap();
        assert_eq!(date_digits(beyond), formatted(beyond));
    }

    #[test]
    fn ascii_names_fold_as_any_name_does() {
        // Every printable ASCII character, alone and inside a name, in both cases.
        let mut names: Vec<String> = (b' '..=b'~')
            .map(|b| format!("O{}Ne ill-{}x", b as char, b as char))
            .collect();
        names.extend(
            [
                "O'Neill",
                "o`neill",
                "Wood-Allen",
                "  SMITH ",
                "Da Silva",
                "Mary-Jane",
                "ABC123",
                "St. John",
                "a--b  c",
                "'",
                "",
                "X Æ",
            ]
            .map(str::to_owned),
        );
        for name in names.iter().filter(|n| n.is_ascii()) {
            assert_eq!(
                NormalName::new(name),
                NormalName::from_folded(&fold(name)),
                "{name:?}"
            );
        }
    }
}
