//! Keyed (privacy-preserving) matching: the encodings a gateway sends instead of plain
//! demographics, the same encodings of a node's own children (computed at write time),
//! and their comparison at the same levels as plain matching.
//!
//! Every encoding is made with the federation's matching key:
//!
//! * a **token** is the first 16 bytes of `HMAC-SHA-256(key, label ‖ 0 ‖ value)` of a
//!   normalised value (identifier, whole name, name part, short-form group, phonetic
//!   code, date, masked date, postcode unit, blocking key). The label separates fields,
//!   so equal values of different fields give unrelated tokens;
//! * a **Bloom filter** holds a name's padded bigrams, 15 positions each in 512 bits,
//!   the positions taken from an HMAC of the bigram under a key of its own per field
//!   ("random hashing" with per-field salting), then **balanced**: the filter is followed
//!   by its complement and the 1024 bits permuted by a keyed permutation, so every filter
//!   has exactly 512 bits set whatever the name's length.
//!
//! Comparison reproduces plain matching's levels: equal tokens stand for equal values,
//! and only the Jaro-Winkler half of a name's `similar` level becomes Dice similarity of
//! the Bloom filters. `docs/matching.md` has the threat model.

use super::nicknames::groups_of;
use super::normalise::{
    NormalName, Postcode, adjacent_digit_transpositions, date_digits, swap_day_month,
};
use super::phonetic::refined_soundex;
use super::score::{
    Comparison, DobLevel, FamilyLevel, GivenLevel, PartAgreed, PostcodeLevel, family_typo_possible,
    is_family_typo, typo_possible,
};
use super::settings::MatchingSettings;
use aws_lc_rs::hmac;
use base64::Engine;
use chrono::{Datelike, NaiveDate};
use schemas::hex::lower_hex;
use schemas::keyed::{BLOOM_BYTES, TOKEN_HEX_LEN};
use schemas::{
    ChildIdentifiers, ChildQuery, Demographics, KeyedBlocks, KeyedChildQuery, KeyedDate,
    KeyedDemographics, KeyedIdentifiers, KeyedName, KeyedPostcode, Sex,
};
use std::path::Path;

/// Raise when the encodings change: it is part of the key id, so nodes re-encode their
/// children at start and gateways with the old version are refused.
pub const KEYED_ENCODING_VERSION: u32 = 5;

/// Bits of a Bloom filter before balancing.
const BLOOM_BITS: usize = BLOOM_BYTES * 8 / 2;
/// Positions set per bigram.
const BLOOM_HASHES: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading the matching key {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the matching key must be the base64 of 32 random bytes")]
    Malformed,
    #[error("no random bytes for a new matching key")]
    Random,
}

/// A name field: each has its own Bloom filter key and permutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameField {
    Given,
    Family,
}

impl NameField {
    fn label(self) -> &'static str {
        match self {
            NameField::Given => "given_name",
            NameField::Family => "family_name",
        }
    }
}

struct FieldBloom {
    key: hmac::Key,
    /// Where bit `i` of the filter-and-complement goes.
    permutation: Vec<u16>,
}

/// The federation's matching key, with what is derived from it.
pub struct MatchingKey {
    key: hmac::Key,
    id: String,
    given: FieldBloom,
    family: FieldBloom,
}

impl std::fmt::Debug for MatchingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchingKey").field("id", &self.id).finish()
    }
}

impl MatchingKey {
    /// A new key, as the base64 text a key file holds.
    pub fn generate() -> Result<String, KeyError> {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::Read(path.display().to_string(), e))?;
        Self::from_base64(&text)
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        if bytes.len() != 32 {
            return Err(KeyError::Malformed);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        let tag = hmac::sign(&key, b"matching-key-id");
        let id = format!(
            "{}.v{KEYED_ENCODING_VERSION}",
            lower_hex(&tag.as_ref()[..8])
        );
        let field = |field: NameField| {
            let sub = hmac::sign(&key, format!("bloom-key\0{}", field.label()).as_bytes());
            let field_key = hmac::Key::new(hmac::HMAC_SHA256, sub.as_ref());
            FieldBloom {
                permutation: permutation(&field_key, 2 * BLOOM_BITS),
                key: field_key,
            }
        };
        Ok(Self {
            given: field(NameField::Given),
            family: field(NameField::Family),
            key,
            id,
        })
    }

    /// A fingerprint of the key and of the encoding version; reveals nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `HMAC-SHA-256(key, label ‖ 0 ‖ value)`, first 16 bytes, hex.
    pub fn token(&self, label: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        lower_hex(&ctx.sign().as_ref()[..TOKEN_HEX_LEN / 2])
    }

    /// The balanced keyed Bloom filter of a normalised name's padded bigrams.
    pub fn bloom(&self, field: NameField, joined: &str) -> Vec<u8> {
        let keyed = match field {
            NameField::Given => &self.given,
            NameField::Family => &self.family,
        };
        let mut bits = vec![false; 2 * BLOOM_BITS];
        for gram in bigrams(joined) {
            let tag = hmac::sign(&keyed.key, gram.as_bytes());
            for pair in tag.as_ref().chunks_exact(2).take(BLOOM_HASHES) {
                let position = usize::from(u16::from_be_bytes([pair[0], pair[1]])) % BLOOM_BITS;
                bits[position] = true;
            }
        }
        // Balancing: the complement follows, so every filter has BLOOM_BITS bits set.
        for i in 0..BLOOM_BITS {
            bits[BLOOM_BITS + i] = !bits[i];
        }
        let mut out = vec![0u8; BLOOM_BYTES];
        for (i, bit) in bits.iter().enumerate() {
            if *bit {
                let to = usize::from(keyed.permutation[i]);
                out[to / 8] |= 1 << (to % 8);
            }
        }
        out
    }

    pub fn encode_name(&self, field: NameField, raw: &str) -> KeyedName {
        let label = field.label();
        let name = NormalName::new(raw);
        if name.joined.is_empty() {
            return KeyedName {
                exact: String::new(),
                forms: Vec::new(),
                aliases: Vec::new(),
                phonetic: String::new(),
                bloom: base64::engine::general_purpose::STANDARD.encode(self.bloom(field, "")),
            };
        }
        let mut forms: Vec<&str> = std::iter::once(name.joined.as_str())
            .chain(name.significant_parts())
            .collect();
        forms.sort_unstable();
        forms.dedup();
        let mut aliases: Vec<String> = match field {
            NameField::Given => forms
                .iter()
                .flat_map(|f| groups_of(f))
                .map(|group| self.token(&format!("{label}:alias"), group))
                .collect(),
            NameField::Family => Vec::new(),
        };
        aliases.sort_unstable();
        aliases.dedup();
        let mut form_tokens: Vec<String> = forms
            .iter()
            .map(|f| self.token(&format!("{label}:form"), f))
            .collect();
        form_tokens.sort_unstable();
        KeyedName {
            exact: self.token(&format!("{label}:exact"), &name.joined),
            forms: form_tokens,
            aliases,
            phonetic: self.token(&format!("{label}:phonetic"), &refined_soundex(&name.joined)),
            bloom: base64::engine::general_purpose::STANDARD
                .encode(self.bloom(field, &name.joined)),
        }
    }

    pub fn encode_date(&self, date: NaiveDate, with_swap: bool) -> KeyedDate {
        let digits = date_digits(date);
        let masked = (0..digits.len())
            .map(|i| {
                let text: String = digits
                    .iter()
                    .enumerate()
                    .map(|(j, d)| if i == j { '_' } else { char::from(*d) })
                    .collect();
                self.token("date_of_birth:masked", &text)
            })
            .collect();
        KeyedDate {
            exact: self.token("date_of_birth:exact", &date.to_string()),
            swapped: if with_swap {
                swap_day_month(date).map(|s| self.token("date_of_birth:exact", &s.to_string()))
            } else {
                None
            },
            masked,
            transposed: if with_swap {
                adjacent_digit_transpositions(date)
                    .into_iter()
                    .map(|t| self.token("date_of_birth:exact", &t.to_string()))
                    .collect()
            } else {
                Vec::new()
            },
            month: self.token(
                "date_of_birth:month",
                &format!("{:04}-{:02}", date.year(), date.month()),
            ),
        }
    }

    fn encode_postcode(&self, raw: &str) -> Option<KeyedPostcode> {
        let p = Postcode::parse(raw)?;
        Some(KeyedPostcode {
            full: self.token("postcode:full", &p.full),
            sector: self.token("postcode:sector", &p.sector),
            district: self.token("postcode:district", &p.district),
        })
    }

    /// Demographics encoded for comparison. `query`: also the swapped date.
    pub fn encode_demographics(&self, d: &Demographics, query: bool) -> KeyedDemographics {
        KeyedDemographics {
            given_name: self.encode_name(NameField::Given, &d.given_name),
            family_name: self.encode_name(NameField::Family, &d.family_name),
            date_of_birth: self.encode_date(d.date_of_birth, query),
            sex: match d.sex {
                Some(Sex::Female) => Some(self.token("sex", "female")),
                Some(Sex::Male) => Some(self.token("sex", "male")),
                Some(Sex::Unknown) | None => None,
            },
            postcode: d.postcode.as_deref().and_then(|p| self.encode_postcode(p)),
        }
    }

    pub fn encode_identifiers(&self, ids: &ChildIdentifiers) -> KeyedIdentifiers {
        KeyedIdentifiers {
            upn: ids.upn.as_ref().map(|u| self.token("upn", u.as_str())),
            nhs_number: ids
                .nhs_number
                .as_ref()
                .map(|n| self.token("nhs_number", n.as_str())),
        }
    }

    fn family_block(&self, code: &str, year: i32) -> String {
        self.token("block:family", &format!("{code}|{year}"))
    }

    /// Family name with day and month of birth, no year: finds a slip in the year.
    fn day_block(&self, code: &str, date: NaiveDate) -> String {
        self.token(
            "block:family_day",
            &format!("{code}|{:02}-{:02}", date.month(), date.day()),
        )
    }

    fn sector_block(&self, sector: &str, year: i32) -> String {
        self.token("block:sector", &format!("{sector}|{year}"))
    }

    /// Family name in the postcode sector, any year: finds a child whose date of birth
    /// was replaced (every other block carries the date or the year).
    fn family_sector_block(&self, code: &str, sector: &str) -> String {
        self.token("block:family_sector", &format!("{code}|{sector}"))
    }

    /// The stored family-and-sector token: none without a family name or a postcode.
    fn stored_family_sector(&self, keys: &super::StoredKeys) -> Option<String> {
        keys.postcode_sector
            .as_deref()
            .filter(|_| !keys.family_name_key.is_empty())
            .map(|sector| self.family_sector_block(&keys.family_name_key, sector))
    }

    /// The keyed query a gateway sends for a plain one. A search's missing fields are
    /// encoded as a partial child's are (a missing name as an empty one, a missing date
    /// of birth as empty tokens: `missing`, no evidence). Its blocks mirror plain
    /// matching's: the family name with the birth year, or, with no date of birth, with
    /// every year a date of birth can have (the plain search's family blocks across all
    /// years); with the day and month of birth; with the unknown year (children held
    /// without a date of birth); with the postcode sector, any year (all four kinds in
    /// `blocks.family`, told apart by their HMAC labels); the sector with the birth year,
    /// and with the unknown year (children held without a date of birth in the sector).
    pub fn encode_query(&self, q: &ChildQuery) -> KeyedChildQuery {
        let blocks = q.demographics.as_ref().map(|d| {
            let keys = super::search_blocking_keys(d);
            let years: Vec<i32> = match keys.birth_year {
                Some(year) => vec![year],
                None => {
                    let latest = schemas::child::latest_date_of_birth(schemas::dates::today());
                    (schemas::dates::EARLIEST.year()..=latest.year()).collect()
                }
            };
            // The family name in the sector, any year, first: a search without a date
            // sends up to 96 tokens, and these must not be the ones cut.
            let mut family: Vec<String> = keys
                .postcode_sector
                .as_deref()
                .map(|sector| {
                    keys.family
                        .iter()
                        .map(|code| self.family_sector_block(code, sector))
                        .collect()
                })
                .unwrap_or_default();
            for code in &keys.family {
                family.extend(years.iter().map(|year| self.family_block(code, *year)));
                family.extend(d.date_of_birth.map(|date| self.day_block(code, date)));
                // Children held without a date of birth, by family name.
                family.push(self.family_block(code, super::UNKNOWN_BIRTH_YEAR));
            }
            family.truncate(schemas::keyed::MAX_BLOCK_TOKENS);
            KeyedBlocks {
                family,
                sector: keys
                    .postcode_sector
                    .as_deref()
                    .zip(keys.birth_year)
                    .map(|(s, year)| self.sector_block(s, year)),
                // Children held without a date of birth in the sector.
                sector_undated: keys
                    .postcode_sector
                    .as_deref()
                    .map(|s| self.sector_block(s, super::UNKNOWN_BIRTH_YEAR)),
            }
        });
        KeyedChildQuery {
            key_id: self.id.clone(),
            identifiers: self.encode_identifiers(&q.identifiers),
            demographics: q.demographics.as_ref().map(|d| self.encode_search(d)),
            blocks,
        }
    }

    /// A search's demographics encoded for comparison, missing fields as empty ones.
    fn encode_search(&self, d: &schemas::SearchDemographics) -> KeyedDemographics {
        KeyedDemographics {
            given_name: self.encode_name(NameField::Given, d.given()),
            family_name: self.encode_name(NameField::Family, d.family()),
            date_of_birth: match d.date_of_birth {
                Some(date) => self.encode_date(date, true),
                None => KeyedDate::missing(),
            },
            sex: match d.sex {
                Some(Sex::Female) => Some(self.token("sex", "female")),
                Some(Sex::Male) => Some(self.token("sex", "male")),
                Some(Sex::Unknown) | None => None,
            },
            postcode: d.postcode.as_deref().and_then(|p| self.encode_postcode(p)),
        }
    }

    /// What a node stores for one of its children, where any field may be missing. A
    /// partial child (no given name, family name or date of birth) is encoded as a
    /// complete one whose missing name is empty and whose missing date has empty tokens
    /// (both compare as `missing`), with the undated family block; a child with no name
    /// and no date at all by its identifiers only, its blocks tokens no query sends.
    pub fn encode_stored_known(
        &self,
        d: &schemas::KnownDemographics,
        ids: &ChildIdentifiers,
    ) -> StoredEncoding {
        if let Some(complete) = d.complete() {
            return self.encode_stored(&complete, ids);
        }
        if d.given_name.is_some() || d.family_name.is_some() || d.date_of_birth.is_some() {
            return self.encode_stored_partial(d, ids);
        }
        let ids = self.encode_identifiers(ids);
        let nowhere = self.family_block("", super::UNKNOWN_BIRTH_YEAR);
        StoredEncoding {
            key_id: self.id.clone(),
            upn: ids.upn,
            nhs_number: ids.nhs_number,
            date_of_birth: String::new(),
            family_block: nowhere.clone(),
            family_block2: None,
            sector_block: None,
            family_sector_block: None,
            day_block: nowhere,
            day_block2: None,
            demographics: None,
        }
    }

    /// A partial child with some demographics: what it has is encoded as for a complete
    /// child, a missing name as an empty one and a missing date of birth as empty tokens
    /// (both compare as `missing`, no evidence). Its blocks mirror plain matching's: the
    /// family name with the birth year, or with [`super::UNKNOWN_BIRTH_YEAR`] when the
    /// date is missing (queries send that block too); the date of birth; the postcode
    /// sector with the year, or with the unknown year when the date is missing (queries
    /// send that block too, `sector_undated`); the family name in the sector, any year.
    fn encode_stored_partial(
        &self,
        d: &schemas::KnownDemographics,
        ids: &ChildIdentifiers,
    ) -> StoredEncoding {
        let keys = super::stored_keys_known(d);
        let ids = self.encode_identifiers(ids);
        let date_of_birth = match d.date_of_birth {
            Some(date) => self.encode_date(date, false),
            None => KeyedDate::missing(),
        };
        let demographics = KeyedDemographics {
            given_name: self.encode_name(NameField::Given, d.given_name.as_deref().unwrap_or("")),
            family_name: self
                .encode_name(NameField::Family, d.family_name.as_deref().unwrap_or("")),
            date_of_birth,
            sex: match d.sex {
                Some(Sex::Female) => Some(self.token("sex", "female")),
                Some(Sex::Male) => Some(self.token("sex", "male")),
                Some(Sex::Unknown) | None => None,
            },
            postcode: d.postcode.as_deref().and_then(|p| self.encode_postcode(p)),
        };
        let nowhere = self.family_block("", super::UNKNOWN_BIRTH_YEAR);
        let day = |code: &str| match d.date_of_birth {
            Some(date) => self.day_block(code, date),
            None => nowhere.clone(),
        };
        StoredEncoding {
            key_id: self.id.clone(),
            upn: ids.upn,
            nhs_number: ids.nhs_number,
            date_of_birth: demographics.date_of_birth.exact.clone(),
            family_block: self.family_block(&keys.family_name_key, keys.birth_year),
            family_block2: keys
                .family_name_key2
                .as_deref()
                .map(|k| self.family_block(k, keys.birth_year)),
            // Without a date, the sector with the unknown year: what a query's
            // `sector_undated` reads.
            sector_block: keys
                .postcode_sector
                .as_deref()
                .map(|s| self.sector_block(s, keys.birth_year)),
            family_sector_block: self.stored_family_sector(&keys),
            day_block: day(&keys.family_name_key),
            day_block2: keys.family_name_key2.as_deref().map(day),
            demographics: Some(demographics),
        }
    }

    /// What a node stores for one of its children.
    pub fn encode_stored(&self, d: &Demographics, ids: &ChildIdentifiers) -> StoredEncoding {
        let keys = super::stored_keys(d);
        let ids = self.encode_identifiers(ids);
        let demographics = self.encode_demographics(d, false);
        StoredEncoding {
            key_id: self.id.clone(),
            upn: ids.upn,
            nhs_number: ids.nhs_number,
            date_of_birth: demographics.date_of_birth.exact.clone(),
            family_block: self.family_block(&keys.family_name_key, keys.birth_year),
            family_block2: keys
                .family_name_key2
                .as_deref()
                .map(|k| self.family_block(k, keys.birth_year)),
            sector_block: keys
                .postcode_sector
                .as_deref()
                .map(|s| self.sector_block(s, keys.birth_year)),
            family_sector_block: self.stored_family_sector(&keys),
            day_block: self.day_block(&keys.family_name_key, d.date_of_birth),
            day_block2: keys
                .family_name_key2
                .as_deref()
                .map(|k| self.day_block(k, d.date_of_birth)),
            demographics: Some(demographics),
        }
    }
}

/// A child's keyed encodings as a node stores them: the indexed lookup tokens and the
/// rest for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEncoding {
    pub key_id: String,
    pub upn: Option<String>,
    pub nhs_number: Option<String>,
    pub date_of_birth: String,
    pub family_block: String,
    pub family_block2: Option<String>,
    pub sector_block: Option<String>,
    /// The family name (first stored key) in the postcode sector, any year.
    pub family_sector_block: Option<String>,
    pub day_block: String,
    pub day_block2: Option<String>,
    /// `None` for a partial child (see [`MatchingKey::encode_stored_known`]).
    pub demographics: Option<KeyedDemographics>,
}

/// `_ab`, padded: `anna` → `_a an nn na a_`.
fn bigrams(joined: &str) -> Vec<String> {
    if joined.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = std::iter::once('_')
        .chain(joined.chars())
        .chain(std::iter::once('_'))
        .collect();
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

/// A keyed Fisher–Yates permutation of `0..n`.
fn permutation(key: &hmac::Key, n: usize) -> Vec<u16> {
    let mut p: Vec<u16> = (0..n).map(|i| i as u16).collect();
    for i in (1..n).rev() {
        let tag = hmac::sign(key, format!("permutation\0{i}").as_bytes());
        let mut word = [0u8; 8];
        word.copy_from_slice(&tag.as_ref()[..8]);
        let j = (u64::from_be_bytes(word) % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Dice similarity of two Bloom filters, in base64: 2|A∩B| / (|A| + |B|). `None` when
/// either is not a filter.
pub fn dice(a: &str, b: &str) -> Option<f64> {
    let decode = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .filter(|v| v.len() == BLOOM_BYTES)
    };
    let (a, b) = (decode(a)?, decode(b)?);
    let ones = |v: &[u8]| v.iter().map(|x| x.count_ones()).sum::<u32>();
    let both: u32 = a.iter().zip(&b).map(|(x, y)| (x & y).count_ones()).sum();
    let total = ones(&a) + ones(&b);
    (total > 0).then(|| 2.0 * f64::from(both) / f64::from(total))
}

fn intersects(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

fn similar(a: &KeyedName, b: &KeyedName, similar_at: f64) -> bool {
    a.phonetic == b.phonetic || dice(&a.bloom, &b.bloom).is_some_and(|d| d >= similar_at)
}

pub fn compare_given(a: &KeyedName, b: &KeyedName, similar_at: f64) -> GivenLevel {
    if a.exact.is_empty() || b.exact.is_empty() {
        return GivenLevel::Missing;
    }
    if a.exact == b.exact {
        return GivenLevel::Exact;
    }
    if intersects(&a.forms, &b.forms) || intersects(&a.aliases, &b.aliases) {
        return GivenLevel::Alias;
    }
    if similar(a, b, similar_at) {
        return GivenLevel::Similar;
    }
    GivenLevel::Disagree
}

pub fn compare_family(a: &KeyedName, b: &KeyedName, similar_at: f64) -> FamilyLevel {
    if a.exact.is_empty() || b.exact.is_empty() {
        return FamilyLevel::Missing;
    }
    if a.exact == b.exact {
        return FamilyLevel::Exact;
    }
    if intersects(&a.forms, &b.forms) {
        return FamilyLevel::Part;
    }
    if similar(a, b, similar_at) {
        return FamilyLevel::Similar;
    }
    FamilyLevel::Disagree
}

/// `query` carries the swapped date; `held` is a stored encoding.
pub fn compare_dob(query: &KeyedDate, held: &KeyedDate) -> DobLevel {
    if query.exact.is_empty() || held.exact.is_empty() {
        return DobLevel::Missing;
    }
    if query.exact == held.exact {
        return DobLevel::Exact;
    }
    if query.swapped.as_ref() == Some(&held.exact) {
        return DobLevel::DayMonthSwapped;
    }
    // A masked token holds the position of its mask, so equal masked tokens are the
    // same seven digits at the same places: exactly one digit differs.
    if query.masked.len() == held.masked.len()
        && query.masked.iter().zip(&held.masked).any(|(a, b)| a == b)
    {
        return DobLevel::OneDigit;
    }
    // Two adjacent digits exchanged: one of the query's transposed dates is the held one.
    if query.transposed.contains(&held.exact) {
        return DobLevel::OneDigit;
    }
    if query.month == held.month {
        return DobLevel::SameMonth;
    }
    DobLevel::Disagree
}

pub fn compare_postcode(a: &KeyedPostcode, b: &KeyedPostcode) -> PostcodeLevel {
    if a.full == b.full {
        PostcodeLevel::Full
    } else if a.sector == b.sector {
        PostcodeLevel::Sector
    } else if a.district == b.district {
        PostcodeLevel::District
    } else {
        PostcodeLevel::Disagree
    }
}

/// Whether the query's given name is a typo of the held child's (plain: the node's own
/// record): some one-keystroke variant of the held name has the query's exact token,
/// and that variant and the held name pass the typo rules of plain matching. The node
/// learns which variant it was, as it learns the name when exact tokens agree.
pub fn is_typo(key: &MatchingKey, query: &KeyedName, held_given: &str) -> bool {
    query_variant(key, "given_name:exact", query, held_given)
        .is_some_and(|(v, held)| super::given_names::is_typo_of(&v, &held))
}

/// The query's family name (normal form) when it is a typo of the held child's, as
/// [`is_typo`]: both names long enough for a typo (as [`is_family_typo`] in plain
/// matching).
pub fn family_name_typo(key: &MatchingKey, query: &KeyedName, held_family: &str) -> Option<String> {
    query_variant(key, "family_name:exact", query, held_family)
        .filter(|(v, held)| is_family_typo(v, held))
        .map(|(v, _)| v)
}

/// The one-keystroke variant of the held name whose `field` token is the query's exact
/// token, if any, with the held name's normal form: what the plain typo and slip rules
/// compare.
fn query_variant(
    key: &MatchingKey,
    field: &str,
    query: &KeyedName,
    held_plain: &str,
) -> Option<(String, String)> {
    let held = NormalName::new(held_plain).joined;
    if held.is_empty() || query.exact.is_empty() {
        return None;
    }
    super::given_names::one_edit_variants(&held)
        .into_iter()
        .find(|v| key.token(field, v) == query.exact)
        .map(|v| (v, held))
}

/// Compares a keyed query with a stored child, field by field, as plain matching does.
/// `held_plain`, the node's plain given and family name of the child, lets a
/// one-keystroke typo of either be found (with `key`); without it a typo counts as plain
/// `similar` or `disagree` at most.
pub fn compare(
    query: &KeyedChildQuery,
    held_demographics: Option<&KeyedDemographics>,
    held_ids: &KeyedIdentifiers,
    held_plain: Option<(&MatchingKey, &str, &str)>,
    settings: &MatchingSettings,
) -> Comparison {
    let differs =
        |a: Option<&String>, b: Option<&String>| matches!((a, b), (Some(a), Some(b)) if a != b);
    let upn_differs = differs(query.identifiers.upn.as_ref(), held_ids.upn.as_ref());
    let nhs_number_differs = differs(
        query.identifiers.nhs_number.as_ref(),
        held_ids.nhs_number.as_ref(),
    );
    let Some(held) = held_demographics else {
        // A partial child, encoded by its identifiers only: its demographics are no
        // evidence, for or against.
        let missing = query.demographics.is_some();
        return Comparison {
            given_name: if missing {
                GivenLevel::Missing
            } else {
                GivenLevel::Exact
            },
            family_name: if missing {
                FamilyLevel::Missing
            } else {
                FamilyLevel::Exact
            },
            date_of_birth: if missing {
                DobLevel::Missing
            } else {
                DobLevel::Exact
            },
            postcode: None,
            sex_agrees: None,
            upn_differs,
            nhs_number_differs,
            name_weights: Default::default(),
            given_slip: None,
            family_part: None,
            family_typo: None,
            transposed: false,
            family_former: false,
        };
    };
    let Some(q) = &query.demographics else {
        // Only identifiers to compare: the child is compared with itself otherwise.
        return Comparison {
            given_name: GivenLevel::Exact,
            family_name: FamilyLevel::Exact,
            date_of_birth: DobLevel::Exact,
            postcode: held.postcode.as_ref().map(|_| PostcodeLevel::Full),
            sex_agrees: held.sex.as_ref().map(|_| true),
            upn_differs,
            nhs_number_differs,
            name_weights: Default::default(),
            given_slip: None,
            family_part: None,
            family_typo: None,
            transposed: false,
            family_former: false,
        };
    };
    let mut given_name = compare_given(&q.given_name, &held.given_name, settings.keyed_similar_at);
    let mut family_name =
        compare_family(&q.family_name, &held.family_name, settings.keyed_similar_at);
    let date_of_birth = compare_dob(&q.date_of_birth, &held.date_of_birth);
    let postcode = match (&q.postcode, &held.postcode) {
        (Some(a), Some(b)) => Some(compare_postcode(a, b)),
        _ => None,
    };
    let mut given_slip = None;
    if let Some((key, plain, _)) = held_plain
        && typo_possible(given_name, family_name, date_of_birth)
        && let Some((asked, stored)) = query_variant(key, "given_name:exact", &q.given_name, plain)
        && super::given_names::is_slip_of(&asked, &stored)
    {
        if super::given_names::near_only_each_other(&asked, &stored) {
            given_name = GivenLevel::Typo;
        } else {
            given_slip = Some(asked);
        }
    }
    let mut family_typo = None;
    if let Some((key, _, plain)) = held_plain
        && family_typo_possible(given_name, family_name, date_of_birth, postcode)
        && let Some(asked) = family_name_typo(key, &q.family_name, plain)
    {
        family_name = FamilyLevel::Typo;
        family_typo = Some(asked);
    }
    // Names recorded the other way round: the node encodes its own child's names under
    // the other field's label and compares them with the query's tokens.
    let mut transposed = false;
    if let Some((key, plain_given, plain_family)) = held_plain
        && let Some((g, f)) = crossed_levels(key, q, plain_given, plain_family, date_of_birth)
        && super::score::configured_names_weight(settings, g, f)
            + settings.weights.transposed_weight()
            > super::score::configured_names_weight(settings, given_name, family_name)
    {
        given_name = g;
        family_name = f;
        given_slip = None;
        family_typo = None;
        transposed = true;
    }
    Comparison {
        given_name,
        family_name,
        date_of_birth,
        postcode,
        sex_agrees: match (&q.sex, &held.sex) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        },
        upn_differs,
        nhs_number_differs,
        name_weights: Default::default(),
        given_slip,
        family_part: match held_plain {
            Some((key, _, plain)) if family_name == FamilyLevel::Part => {
                part_agreed(key, &q.family_name, plain)
            }
            _ => None,
        },
        family_typo,
        transposed,
        // Keyed encodings carry no former family names (not built).
        family_former: false,
    }
}

/// The crossed levels of a keyed query against the node's own plain names (see
/// [`super::score::transposed_levels`]): exact when the held family name, encoded as a
/// given name, has the query's exact given-name token (and the other way round);
/// `similar` when its phonetic token agrees; `typo` when a one-keystroke variant of it
/// has the query's exact token, under the rules of [`super::score::crossed_typos`].
fn crossed_levels(
    key: &MatchingKey,
    q: &KeyedDemographics,
    held_given: &str,
    held_family: &str,
    date_of_birth: DobLevel,
) -> Option<(GivenLevel, FamilyLevel)> {
    let (held_given, held_family) = (
        NormalName::new(held_given).joined,
        NormalName::new(held_family).joined,
    );
    if held_given.is_empty()
        || held_family.is_empty()
        || q.given_name.exact.is_empty()
        || q.family_name.exact.is_empty()
    {
        return None;
    }
    let agrees = |field: NameField, query: &KeyedName, held: &str| -> (bool, bool) {
        let label = field.label();
        let exact = key.token(&format!("{label}:exact"), held) == query.exact;
        let similar = exact
            || key.token(&format!("{label}:phonetic"), &refined_soundex(held)) == query.phonetic;
        (exact, similar)
    };
    let given = match agrees(NameField::Given, &q.given_name, &held_family) {
        (true, _) => GivenLevel::Exact,
        (false, true) => GivenLevel::Similar,
        _ => GivenLevel::Disagree,
    };
    let family = match agrees(NameField::Family, &q.family_name, &held_given) {
        (true, _) => FamilyLevel::Exact,
        (false, true) => FamilyLevel::Similar,
        _ => FamilyLevel::Disagree,
    };
    let (given, family) = super::score::crossed_typos(
        given,
        family,
        date_of_birth,
        || {
            query_variant(key, "given_name:exact", &q.given_name, &held_family)
                .is_some_and(|(v, held)| is_family_typo(&v, &held))
        },
        || family_name_typo(key, &q.family_name, &held_given).is_some(),
    );
    super::score::transposed_levels(given, family)
}

/// The held family name's form (the whole name or a part) whose token is one of the
/// query's forms: what a `part` agreement agreed on, as plain matching finds it.
fn part_agreed(key: &MatchingKey, query: &KeyedName, held_plain: &str) -> Option<PartAgreed> {
    let held = NormalName::new(held_plain);
    let label = format!("{}:form", NameField::Family.label());
    std::iter::once(held.joined.as_str())
        .chain(held.significant_parts())
        .find(|f| query.forms.contains(&key.token(&label, f)))
        .map(|f| PartAgreed {
            name: f.to_owned(),
            // A single name's only form is itself (its parts are deduplicated).
            query_has_parts: query.forms.len() > 1,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score;

    fn key() -> MatchingKey {
        MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A keyed query carries the tokens of its date's adjacent transpositions (those
    /// that are dates); more than seven, or an item that is no token, is refused naming
    /// the field, and so is any of them beside a missing date.
    #[test]
    fn transposed_date_tokens_are_sent_and_checked() {
        let k = key();
        let encode = |d: serde_json::Value| {
            k.encode_query(&serde_json::from_value(serde_json::json!({"demographics": d})).unwrap())
        };
        let mut q = encode(
            serde_json::json!({"given_name": "Ruby", "family_name": "Adeyemi",
            "date_of_birth": "2014-03-12"}),
        );
        assert!(q.validate().is_empty(), "{:?}", q.validate());
        let date = &mut q.demographics.as_mut().unwrap().date_of_birth;
        // 0214-03-12, 2104-03-12, 2041-03-12, 2014-03-21.
        assert_eq!(date.transposed.len(), 4);
        let named = |q: &KeyedChildQuery| {
            q.validate()
                .iter()
                .any(|e| e.field == "demographics.date_of_birth.transposed")
        };
        date.transposed = vec![date.exact.clone(); 8];
        assert!(named(&q));
        q.demographics.as_mut().unwrap().date_of_birth.transposed = vec!["zz".into()];
        assert!(named(&q));
        let mut undated = encode(serde_json::json!({"given_name": "Ruby",
            "family_name": "Adeyemi", "postcode": "ZZ1 4AB"}));
        assert!(undated.validate().is_empty());
        let exact = q.demographics.as_ref().unwrap().date_of_birth.exact.clone();
        undated
            .demographics
            .as_mut()
            .unwrap()
            .date_of_birth
            .transposed = vec![exact];
        assert!(!undated.validate().is_empty());
    }

    /// A partial search is encoded with its missing fields empty, passes the node's
    /// validation, and asks for blocks it can read: the family name across every birth
    /// year when it has no date of birth; no family token without a family name. One
    /// that states too little is refused naming `demographics`.
    #[test]
    fn a_partial_search_is_encoded_with_what_it_lacks_empty() {
        let k = MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap();
        let encode = |d: serde_json::Value| {
            k.encode_query(&serde_json::from_value(serde_json::json!({"demographics": d})).unwrap())
        };
        let undated = encode(
            serde_json::json!({"given_name": "Amelia", "family_name": "Okafor",
            "postcode": "ZZ1 4AB"}),
        );
        assert!(undated.validate().is_empty(), "{:?}", undated.validate());
        let d = undated.demographics.as_ref().unwrap();
        assert!(d.date_of_birth.is_missing() && d.date_of_birth.masked.is_empty());
        let blocks = undated.blocks.as_ref().unwrap();
        // Every year from 1990 to next year, and the unknown year.
        assert!(blocks.family.len() > 35, "{}", blocks.family.len());
        assert!(blocks.family.len() <= schemas::keyed::MAX_BLOCK_TOKENS);
        assert_eq!(blocks.sector, None);
        let unnamed = encode(serde_json::json!({"given_name": "Amelia",
            "date_of_birth": "2014-03-09"}));
        assert!(unnamed.validate().is_empty(), "{:?}", unnamed.validate());
        assert!(
            unnamed
                .demographics
                .as_ref()
                .unwrap()
                .family_name
                .exact
                .is_empty()
        );
        assert!(unnamed.blocks.as_ref().unwrap().family.is_empty());
        let too_little = encode(serde_json::json!({"family_name": "Okafor", "sex": "female"}));
        let fields: Vec<String> = too_little.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["demographics"]);
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_ids_differ() {
        assert!(MatchingKey::from_base64("c2hvcnQ=").is_err());
        assert!(MatchingKey::from_base64("not base64 at all!").is_err());
        let (a, b) = (key(), key());
        assert_ne!(a.id(), b.id());
        assert_ne!(a.token("upn", "x"), b.token("upn", "x"));
        assert_eq!(a.token("upn", "x").len(), TOKEN_HEX_LEN);
        assert_ne!(a.token("upn", "x"), a.token("nhs_number", "x"));
    }

    #[test]
    fn balanced_filters_have_half_their_bits_set_whatever_the_length() {
        let k = key();
        for name in ["al", "oneill", "woodallenbarrington"] {
            let f = k.bloom(NameField::Given, name);
            let ones: u32 = f.iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones as usize, BLOOM_BITS, "{name}");
        }
        // Field keys differ: the same name gives another filter in another field.
        assert_ne!(
            k.bloom(NameField::Given, "morgan"),
            k.bloom(NameField::Family, "morgan")
        );
    }

    #[test]
    fn dice_orders_names_by_likeness() {
        // Fixed keys, so the test does not depend on the luck of one random key (Bloom
        // filter collisions move a Dice value by a few hundredths from key to key).
        let mut typos = Vec::new();
        for byte in 0..32u8 {
            let k = MatchingKey::from_base64(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                [byte; 32],
            ))
            .unwrap();
            let enc = |s: &str| k.encode_name(NameField::Family, s).bloom;
            let same = dice(&enc("Thompson"), &enc("thompson")).unwrap();
            let typo = dice(&enc("Thompson"), &enc("Thomspon")).unwrap();
            let other = dice(&enc("Thompson"), &enc("Okafor")).unwrap();
            assert!((same - 1.0).abs() < 1e-9);
            assert!(typo > other, "key {byte}: {typo} {other}");
            assert!(other < 0.8, "key {byte}: {other}");
            typos.push(typo);
        }
        typos.sort_by(f64::total_cmp);
        let median = typos[typos.len() / 2];
        assert!(median >= 0.85, "{typos:?}");
    }

    /// Every comparison level that plain matching decides by equality comes out the
    /// same from the encodings. (Only `similar` by Jaro-Winkler, which becomes Dice of the
    /// Bloom filters, may differ: `dice_orders_names_by_likeness`.)
    #[test]
    fn levels_agree_with_plain_matching() {
        let k = key();
        let s = MatchingSettings::default();
        let given = [
            ("Amelia", "Amelia"),
            ("Alfie", "Alfred"),
            ("Mary-Jane", "Mary"),
            ("Amelia", "Olivia"),
            ("Zoë", "Zoe"),
        ];
        for (a, b) in given {
            let plain = score::compare_given(a, b, s.similar_at);
            let keyed = compare_given(
                &k.encode_name(NameField::Given, a),
                &k.encode_name(NameField::Given, b),
                s.keyed_similar_at,
            );
            assert_eq!(plain, keyed, "{a}/{b}");
        }
        let family = [
            ("O'Neill", "ONeill"),
            ("Wood-Allen", "Allen"),
            ("Smith", "Smyth"),
            ("Okafor", "Nowak"),
        ];
        for (a, b) in family {
            let plain = score::compare_family(a, b, s.similar_at);
            let keyed = compare_family(
                &k.encode_name(NameField::Family, a),
                &k.encode_name(NameField::Family, b),
                s.keyed_similar_at,
            );
            assert_eq!(plain, keyed, "{a}/{b}");
        }
        let dates = [
            ("2014-03-09", "2014-03-09"),
            ("2014-03-09", "2014-09-03"),
            ("2014-03-09", "2014-03-08"),
            ("2014-03-09", "2013-03-09"),
            ("2014-03-09", "2014-03-21"),
            ("2014-03-09", "2012-07-21"),
            ("2014-03-12", "2014-03-21"),
            ("2014-10-03", "2014-01-03"),
            ("2014-11-02", "2014-10-12"),
            ("2014-03-12", "2041-03-12"),
            ("2014-03-12", "2014-02-13"),
        ];
        for (a, b) in dates {
            let plain = score::compare_dob(d(a), d(b));
            let keyed = compare_dob(&k.encode_date(d(a), true), &k.encode_date(d(b), false));
            assert_eq!(plain, keyed, "{a}/{b}");
        }
        for (a, b) in [
            ("ZZ1 4AB", "zz14ab"),
            ("ZZ1 4AB", "ZZ1 4XY"),
            ("ZZ1 4AB", "ZZ1 7AB"),
            ("ZZ1 4AB", "ZZ9 4AB"),
        ] {
            let plain = score::compare_postcode(a, b).unwrap();
            let keyed = compare_postcode(
                &k.encode_postcode(a).unwrap(),
                &k.encode_postcode(b).unwrap(),
            );
            assert_eq!(plain, keyed, "{a}/{b}");
        }
    }

    #[test]
    fn names_the_other_way_round_are_found_crossed_with_the_key() {
        let k = key();
        let s = MatchingSettings::default();
        let demographics = |given: &str, family: &str| Demographics {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: d("2014-03-09"),
            sex: None,
            postcode: Some("ZZ1 4AB".into()),
        };
        let query = k.encode_query(&ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: Some(demographics("Amelia", "Okafor").into()),
        });
        let compare_with = |given: &str, family: &str, with_key: bool| {
            let held = k.encode_stored(&demographics(given, family), &ChildIdentifiers::default());
            compare(
                &query,
                held.demographics.as_ref(),
                &KeyedIdentifiers::default(),
                with_key.then_some((&k, given, family)),
                &s,
            )
        };
        let crossed = compare_with("Okafor", "Amelia", true);
        assert!(crossed.transposed);
        assert_eq!(
            (crossed.given_name, crossed.family_name),
            (GivenLevel::Exact, FamilyLevel::Exact)
        );
        // The same levels and score as plain matching.
        let plain = score::compare(
            &score::Person {
                given_name: "Amelia",
                family_name: "Okafor",
                date_of_birth: Some(d("2014-03-09")),
                sex: None,
                postcode: Some("ZZ1 4AB"),
                upn: None,
                nhs_number: None,
                former_family_names: &[],
            },
            &score::Person {
                given_name: "Okafor",
                family_name: "Amelia",
                date_of_birth: Some(d("2014-03-09")),
                sex: None,
                postcode: Some("ZZ1 4AB"),
                upn: None,
                nhs_number: None,
                former_family_names: &[],
            },
            &s,
        );
        assert!((plain.score(&s) - crossed.score(&s)).abs() < 1e-9);
        // A typo in one crossed name, as in plain matching: the node finds the variant
        // of its own child's name that has the query's token.
        let typo = compare_with("Okafro", "Amelia", true);
        assert!(typo.transposed);
        assert_eq!(
            (typo.given_name, typo.family_name),
            (GivenLevel::Exact, FamilyLevel::Typo)
        );
        let typo_given = compare_with("Okafor", "Amelai", true);
        assert_eq!(
            (typo_given.given_name, typo_given.family_name),
            (GivenLevel::Typo, FamilyLevel::Exact)
        );
        // Without the node's own names and the key, tokens of different fields never meet.
        assert!(!compare_with("Okafor", "Amelia", false).transposed);
        // A twin (same family name, another given name) is not crossed.
        assert!(!compare_with("Okafor", "Olivia", true).transposed);
        assert!(!compare_with("Olivia", "Okafor", true).transposed);
    }

    #[test]
    fn a_partial_childs_missing_fields_are_no_evidence_as_in_plain_matching() {
        let k = key();
        let s = MatchingSettings::default();
        let query = k.encode_query(&ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: Some(
                Demographics {
                    given_name: "Amelia".into(),
                    family_name: "Okafor".into(),
                    date_of_birth: d("2014-03-09"),
                    sex: None,
                    postcode: Some("ZZ1 4AB".into()),
                }
                .into(),
            ),
        });
        let known = |given: Option<&str>, family: Option<&str>, dob: Option<&str>| {
            schemas::KnownDemographics {
                given_name: given.map(str::to_owned),
                family_name: family.map(str::to_owned),
                date_of_birth: dob.map(d),
                sex: None,
                postcode: Some("ZZ1 4AB".into()),
                preferred_given_name: None,
                preferred_family_name: None,
                former_family_names: Vec::new(),
            }
        };
        for (held, levels) in [
            (
                known(None, Some("Okafor"), Some("2014-03-09")),
                (GivenLevel::Missing, FamilyLevel::Exact, DobLevel::Exact),
            ),
            (
                known(Some("Amelia"), None, Some("2014-03-09")),
                (GivenLevel::Exact, FamilyLevel::Missing, DobLevel::Exact),
            ),
            (
                known(Some("Amelia"), Some("Okafor"), None),
                (GivenLevel::Exact, FamilyLevel::Exact, DobLevel::Missing),
            ),
        ] {
            let stored = k.encode_stored_known(&held, &ChildIdentifiers::default());
            let c = compare(
                &query,
                stored.demographics.as_ref(),
                &KeyedIdentifiers::default(),
                None,
                &s,
            );
            assert_eq!(
                (c.given_name, c.family_name, c.date_of_birth),
                levels,
                "{held:?}"
            );
            // Found through a block the query sends: the date, or the family name with
            // the year or, undated, with the unknown year.
            let blocks = query.blocks.as_ref().unwrap();
            assert!(
                blocks.family.contains(&stored.family_block)
                    || query.demographics.as_ref().unwrap().date_of_birth.exact
                        == stored.date_of_birth,
                "{held:?}"
            );
        }
    }

    #[test]
    fn a_replaced_date_of_birth_is_found_by_the_family_in_the_sector() {
        let k = key();
        let held = Demographics {
            given_name: "Amelia".into(),
            family_name: "Okafor".into(),
            date_of_birth: d("2009-11-27"),
            sex: None,
            postcode: Some("ZZ1 4AB".into()),
        };
        let stored = k.encode_stored(&held, &ChildIdentifiers::default());
        let token = stored.family_sector_block.clone().unwrap();
        let blocks_of = |family: &str, dob: Option<&str>, postcode: Option<&str>| {
            k.encode_query(&ChildQuery {
                identifiers: ChildIdentifiers::default(),
                demographics: Some(schemas::SearchDemographics {
                    given_name: Some("Amelia".into()),
                    family_name: Some(family.into()),
                    date_of_birth: dob.map(d),
                    sex: None,
                    postcode: postcode.map(str::to_owned),
                }),
            })
            .blocks
            .unwrap()
        };
        // Another date of birth, the same family in the sector (another unit of it).
        let blocks = blocks_of("Okafor", Some("2014-03-09"), Some("ZZ1 4XY"));
        assert!(blocks.family.contains(&token));
        // It is the only block that reads the child: every other carries the year.
        for other in [&stored.family_block, &stored.day_block] {
            assert!(!blocks.family.contains(other));
        }
        assert_ne!(blocks.sector, stored.sector_block);
        // A search without a date sends it too, before the tokens of every year.
        let undated = blocks_of("Okafor", None, Some("ZZ1 4AB"));
        assert_eq!(undated.family.first(), Some(&token));
        // Another sector, another family, or no postcode: not read.
        assert!(
            !blocks_of("Okafor", Some("2014-03-09"), Some("ZZ9 9XY"))
                .family
                .contains(&token)
        );
        assert!(
            !blocks_of("Mensah", Some("2014-03-09"), Some("ZZ1 4AB"))
                .family
                .contains(&token)
        );
        assert!(
            !blocks_of("Okafor", Some("2014-03-09"), None)
                .family
                .contains(&token)
        );
        // A child held without a postcode has no such token.
        let no_postcode = Demographics {
            postcode: None,
            ..held
        };
        assert_eq!(
            k.encode_stored(&no_postcode, &ChildIdentifiers::default())
                .family_sector_block,
            None
        );
    }

    #[test]
    fn no_encoding_carries_the_plain_values() {
        let k = key();
        let q = ChildQuery {
            identifiers: ChildIdentifiers::default(),
            demographics: Some(
                Demographics {
                    given_name: "Amelia".into(),
                    family_name: "Okafor".into(),
                    date_of_birth: d("2014-03-09"),
                    sex: Some(Sex::Female),
                    postcode: Some("ZZ1 4AB".into()),
                }
                .into(),
            ),
        };
        let encoded = serde_json::to_string(&k.encode_query(&q)).unwrap();
        // Hex and base64 can hold short digit runs by chance, not these.
        for plain in [
            "amelia",
            "okafor",
            "2014-03-09",
            "20140309",
            "zz14ab",
            "female",
        ] {
            assert!(!encoded.to_lowercase().contains(plain), "{plain}");
        }
        assert!(k.encode_query(&q).validate().is_empty());
    }
}
