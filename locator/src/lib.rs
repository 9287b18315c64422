//! Record locator (DESIGN §6): each node publishes a keyed membership filter of the
//! children it holds, so that a gateway of a large federation asks only the nodes whose
//! filter says "maybe" instead of broadcasting every search.
//!
//! What goes into a filter is never an identifier or a name: it is a *token*, the
//! HMAC-SHA-256 under the federation's locator key of one normalised keyed item:
//!
//! - each identifier the node holds (UPN, NHS number, local-authority child id);
//! - a demographic blocking key: date of birth, the Soundex code of the family name, the
//!   given name's initial and sex (`U` when not recorded) — once on its own (`wide`) and
//!   once with the postcode area (`area`, the letters of the outward code) when a
//!   postcode is known. A search looks up its own sex and `U` (both sexes and `U` when
//!   it gives none), so a copy without sex is still found; sex halves the other children
//!   who share a key, which is what makes a search ask nodes that do not hold the child.
//!
//! Without the key, a filter is a bit array that says nothing about who is in it. The
//! key is held by the nodes and the gateways (it is federation configuration, like the
//! reference key) and filters are served to gateways only, over mutual TLS.
//!
//! The filter is a blocked Bloom filter: each token sets `k` bits inside one 512-bit
//! block chosen by the token, so an insert or a lookup touches one cache line. The
//! token's own bits choose the block and the bit positions (it is already a keyed,
//! uniformly distributed hash). The filter is sized from the number of items and a
//! target false-positive rate, using the exact expected rate of a blocked filter (which
//! needs more bits per item than a plain Bloom filter for the same rate).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;

/// 512 bits.
const BLOCK_WORDS: usize = 8;
const BLOCK_BITS: u32 = 512;
/// 9 bits choose a position inside a block; the 192 bits after the block index give 21.
const MAX_HASHES: u32 = 21;
const MAGIC: &[u8; 8] = b"CVLOC1\0\0";

/// The federation's locator key.
pub struct LocatorKey {
    key: hmac::Key,
    id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocatorError {
    #[error("the locator key must be the base64 of 32 bytes")]
    BadKey,
    #[error("the filter is not a locator filter of this version, or it is truncated")]
    BadFilter,
}

/// One keyed item, normalised before it is keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Upn(&'a str),
    NhsNumber(&'a str),
    /// A child's id at a local authority (the LA's member id and the child's id there).
    LaChildId {
        la: &'a str,
        id: &'a str,
    },
    /// Demographic blocking key without the postcode.
    Wide(&'a BlockingInput<'a>),
    /// Demographic blocking key with the postcode area; nothing when no postcode.
    Area(&'a BlockingInput<'a>),
}

/// The demographics a blocking key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingInput<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub date_of_birth: NaiveDate,
    pub postcode: Option<&'a str>,
    /// `None` and `Unknown` key alike (as not recorded).
    pub sex: Option<schemas::Sex>,
}

/// A keyed item: what a filter holds and what a gateway looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub [u8; 32]);

impl LocatorKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LocatorError> {
        if bytes.len() != 32 {
            return Err(LocatorError::BadKey);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        // A short public name for the key, so a gateway can tell which key built a
        // filter without learning anything about the key.
        let tag = hmac::sign(&key, b"child-view locator key id");
        let id = schemas::hex::lower_hex(&tag.as_ref()[..8]);
        Ok(Self { key, id })
    }

    /// A fresh random key, base64-encoded (for the dev federation and tests).
    pub fn generate() -> Result<String, LocatorError> {
        use aws_lc_rs::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| LocatorError::BadKey)?;
        Ok(STANDARD.encode(bytes))
    }

    pub fn from_base64(text: &str) -> Result<Self, LocatorError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| LocatorError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The token of one item; `None` when the item is empty after normalisation (an
    /// identifier of only spaces, an `Area` key without a postcode area, a name without
    /// letters).
    pub fn token(&self, item: Item<'_>) -> Option<Token> {
        let text = normalised(item)?;
        let tag = hmac::sign(&self.key, text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Some(Token(out))
    }

    /// Every token of a child as a node holds it.
    pub fn child_tokens(
        &self,
        upn: Option<&str>,
        nhs_number: Option<&str>,
        la_child_id: Option<(&str, &str)>,
        demographics: &BlockingInput<'_>,
    ) -> Vec<Token> {
        let mut items = vec![Item::Wide(demographics), Item::Area(demographics)];
        items.extend(upn.map(Item::Upn));
        items.extend(nhs_number.map(Item::NhsNumber));
        items.extend(la_child_id.map(|(la, id)| Item::LaChildId { la, id }));
        items.into_iter().filter_map(|i| self.token(i)).collect()
    }

    /// The tokens a gateway looks up for a search: every identifier given, and the
    /// narrowest demographic key the search allows (`Area` when it has a postcode,
    /// otherwise `Wide`). A node may hold the child when any of them is in its filter.
    pub fn query_tokens(
        &self,
        upn: Option<&str>,
        nhs_number: Option<&str>,
        la_child_id: Option<(&str, &str)>,
        demographics: Option<&BlockingInput<'_>>,
    ) -> Vec<Token> {
        let mut items = Vec::new();
        items.extend(upn.map(Item::Upn));
        items.extend(nhs_number.map(Item::NhsNumber));
        items.extend(la_child_id.map(|(la, id)| Item::LaChildId { la, id }));
        let mut tokens: Vec<Token> = items.into_iter().filter_map(|i| self.token(i)).collect();
        if let Some(d) = demographics {
            let has_area = d.postcode.and_then(postcode_area).is_some();
            let known = sex_letter(d.sex) != 'U';
            let sexes: &[Option<schemas::Sex>] = if known {
                &[d.sex, None]
            } else {
                &[Some(schemas::Sex::Female), Some(schemas::Sex::Male), None]
            };
            for sex in sexes {
                let variant = BlockingInput { sex: *sex, ..*d };
                let item = if has_area {
                    Item::Area(&variant)
                } else {
                    Item::Wide(&variant)
                };
                tokens.extend(self.token(item));
            }
        }
        tokens
    }
}

/// The text that is keyed. A domain prefix per kind of item keeps, say, a UPN and an LA
/// id with the same characters apart.
fn normalised(item: Item<'_>) -> Option<String> {
    let compact = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let text = match item {
        Item::Upn(v) => format!("upn:{}", nonempty(compact(v))?),
        Item::NhsNumber(v) => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            format!("nhs:{}", nonempty(digits)?)
        }
        Item::LaChildId { la, id } => {
            format!(
                "la:{}:{}",
                nonempty(la.trim().to_ascii_lowercase())?,
                nonempty(compact(id))?
            )
        }
        Item::Wide(d) => format!("wide:{}", blocking_core(d)?),
        Item::Area(d) => {
            let area = postcode_area(d.postcode?)?;
            format!("area:{}:{area}", blocking_core(d)?)
        }
    };
    Some(text)
}

fn nonempty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn blocking_core(d: &BlockingInput<'_>) -> Option<String> {
    let initial = d
        .given_name
        .chars()
        .find(|c| c.is_alphabetic())
        .map(|c| c.to_ascii_uppercase())?;
    Some(format!(
        "{}:{}:{initial}:{}",
        d.date_of_birth.format("%Y-%m-%d"),
        soundex(d.family_name)?,
        sex_letter(d.sex)
    ))
}

fn sex_letter(sex: Option<schemas::Sex>) -> char {
    match sex {
        Some(schemas::Sex::Female) => 'F',
        Some(schemas::Sex::Male) => 'M',
        Some(schemas::Sex::Unknown) | None => 'U',
    }
}

/// The letters before the first digit of a postcode: `ZZ` for `ZZ1 4AB`.
pub fn postcode_area(postcode: &str) -> Option<String> {
    let area: String = postcode
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (1..=2).contains(&area.len()).then_some(area)
}

/// American Soundex of the letters of a name (`Robert`, `Rupert` → `R163`); ignores
/// hyphens, apostrophes and spaces, so `O'Neill` and `Oneill` agree.
pub fn soundex(name: &str) -> Option<String> {
    fn code(c: char) -> u8 {
        match c {
            'B' | 'F' | 'P' | 'V' => b'1',
            'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => b'2',
            'D' | 'T' => b'3',
            'L' => b'4',
            'M' | 'N' => b'5',
            'R' => b'6',
            'H' | 'W' => b'h',
            _ => b'0',
        }
    }
    let mut letters = name
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase());
    let first = letters.next()?;
    let mut out = String::with_capacity(4);
    out.push(first);
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == b'h' {
            // H and W do not separate two letters with the same code.
            continue;
        }
        if d != b'0' && d != last {
            out.push(char::from(d));
            if out.len() == 4 {
                break;
            }
        }
        last = d;
    }
    while out.len() < 4 {
        out.push('0');
    }
    Some(out)
}

/// A blocked Bloom filter over tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatorFilter {
    blocks: Vec<[u64; BLOCK_WORDS]>,
    hashes: u32,
    items: u64,
}

impl LocatorFilter {
    /// An empty filter for `items` tokens at about `false_positive_rate` per lookup.
    pub fn sized(items: usize, false_positive_rate: f64) -> Self {
        let items = items.max(1);
        let target = false_positive_rate.clamp(1e-12, 0.5);
        // Start from the plain Bloom figure and grow until the blocked filter's exact
        // expected rate meets the target.
        let mut bits_per_item = (-target.log2() * std::f64::consts::LOG2_E).max(4.0);
        loop {
            let blocks = ((items as f64 * bits_per_item) / f64::from(BLOCK_BITS))
                .ceil()
                .max(1.0) as usize;
            let hashes = optimal_hashes(items, blocks);
            if expected_false_positive_rate(items, blocks, hashes) <= target
                || bits_per_item > 200.0
            {
                return Self {
                    blocks: vec![[0; BLOCK_WORDS]; blocks],
                    hashes,
                    items: 0,
                };
            }
            bits_per_item *= 1.05;
        }
    }

    /// A filter of exactly these tokens.
    pub fn build(tokens: &[Token], false_positive_rate: f64) -> Self {
        let mut filter = Self::sized(tokens.len(), false_positive_rate);
        for t in tokens {
            filter.insert(t);
        }
        filter
    }

    fn block_of(&self, token: &Token) -> usize {
        let mut head = [0u8; 8];
        head.copy_from_slice(&token.0[..8]);
        // Multiply-shift maps 64 random bits onto [0, blocks) without modulo bias.
        ((u128::from(u64::from_le_bytes(head)) * self.blocks.len() as u128) >> 64) as usize
    }

    /// The bit positions inside the block: the 192 bits after the block index, 9 at a
    /// time.
    fn positions(&self, token: &Token) -> impl Iterator<Item = u16> + '_ {
        let tail = token.0;
        let mut next = 8;
        let mut acc: u32 = 0;
        let mut acc_bits = 0;
        (0..self.hashes).map(move |_| {
            while acc_bits < 9 {
                acc |= u32::from(tail.get(next).copied().unwrap_or(0)) << acc_bits;
                next += 1;
                acc_bits += 8;
            }
            let p = (acc & 0x1ff) as u16;
            acc >>= 9;
            acc_bits -= 9;
            p
        })
    }

    pub fn insert(&mut self, token: &Token) {
        let block = self.block_of(token);
        let positions: Vec<u16> = self.positions(token).collect();
        if let Some(words) = self.blocks.get_mut(block) {
            for p in positions {
                words[usize::from(p / 64)] |= 1u64 << (p % 64);
            }
        }
        self.items += 1;
    }

    /// `false` means this filter's node certainly does not hold the token.
    pub fn contains(&self, token: &Token) -> bool {
        let Some(words) = self.blocks.get(self.block_of(token)) else {
            return false;
        };
        self.positions(token)
            .all(|p| words[usize::from(p / 64)] & (1u64 << (p % 64)) != 0)
    }

    /// `true` when any of the tokens may be held.
    pub fn may_hold_any(&self, tokens: &[Token]) -> bool {
        tokens.iter().any(|t| self.contains(t))
    }

    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn hashes(&self) -> u32 {
        self.hashes
    }

    pub fn size_bytes(&self) -> usize {
        self.blocks.len() * BLOCK_WORDS * 8
    }

    /// The false-positive rate expected from the filter's size and contents.
    pub fn expected_false_positive_rate(&self) -> f64 {
        expected_false_positive_rate(self.items as usize, self.blocks.len(), self.hashes)
    }

    /// `magic, hashes (u32), items (u64), blocks (u64), then the blocks`, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28 + self.size_bytes());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&self.items.to_le_bytes());
        out.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for block in &self.blocks {
            for word in block {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LocatorError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(LocatorError::BadFilter)?;
        let (hashes, rest) = split::<4>(rest)?;
        let (items, rest) = split::<8>(rest)?;
        let (count, rest) = split::<8>(rest)?;
        let hashes = u32::from_le_bytes(hashes);
        let count =
            usize::try_from(u64::from_le_bytes(count)).map_err(|_| LocatorError::BadFilter)?;
        if !(1..=MAX_HASHES).contains(&hashes)
            || count == 0
            || rest.len() != count.saturating_mul(BLOCK_WORDS * 8)
        {
            return Err(LocatorError::BadFilter);
        }
        let blocks = rest
            .chunks_exact(BLOCK_WORDS * 8)
            .map(|chunk| {
                let mut block = [0u64; BLOCK_WORDS];
                for (word, bytes) in block.iter_mut().zip(chunk.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(bytes);
                    *word = u64::from_le_bytes(b);
                }
                block
            })
            .collect();
        Ok(Self {
            blocks,
            hashes,
            items: u64::from_le_bytes(items),
        })
    }
}

fn split<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), LocatorError> {
    if bytes.len() < N {
        return Err(LocatorError::BadFilter);
    }
    let (head, rest) = bytes.split_at(N);
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    Ok((out, rest))
}

fn optimal_hashes(items: usize, blocks: usize) -> u32 {
    let bits_per_item = (blocks as f64 * f64::from(BLOCK_BITS)) / items as f64;
    ((bits_per_item * std::f64::consts::LN_2).round() as u32).clamp(1, MAX_HASHES)
}

/// Expected false-positive rate of a blocked Bloom filter: the number of tokens in the
/// looked-up block is Poisson with mean `items / blocks`; given `j` of them, a lookup
/// fails when all `k` of its bits were set.
pub fn expected_false_positive_rate(items: usize, blocks: usize, hashes: u32) -> f64 {
    if blocks == 0 {
        return 1.0;
    }
    let lambda = items as f64 / blocks as f64;
    let k = f64::from(hashes);
    let upper = (lambda + 12.0 * lambda.sqrt() + 20.0).ceil() as u32;
    let mut poisson = (-lambda).exp();
    let mut total = 0.0;
    for j in 0..=upper {
        if j > 0 {
            poisson *= lambda / f64::from(j);
        }
        let set = 1.0 - (1.0 - 1.0 / f64::from(BLOCK_BITS)).powf(f64::from(j) * k);
        total += poisson * set.powf(k);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> LocatorKey {
        LocatorKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn input<'a>(given: &'a str, family: &'a str, postcode: Option<&'a str>) -> BlockingInput<'a> {
        BlockingInput {
            given_name: given,
            family_name: family,
            date_of_birth: NaiveDate::from_ymd_opt(2014, 3, 9).unwrap(),
            postcode,
            sex: Some(schemas::Sex::Female),
        }
    }

    #[test]
    fn soundex_codes_follow_the_standard() {
        for (name, code) in [
            ("Robert", "R163"),
            ("Rupert", "R163"),
            ("Ashcraft", "A261"),
            ("Tymczak", "T522"),
            ("Pfister", "P236"),
            ("O'Neill", "O540"),
            ("Lee", "L000"),
        ] {
            assert_eq!(soundex(name).as_deref(), Some(code), "{name}");
        }
        assert_eq!(soundex("--"), None);
    }

    #[test]
    fn identifiers_are_normalised_before_keying() {
        let k = key(1);
        assert_eq!(
            k.token(Item::Upn("u999 1234 56789")),
            k.token(Item::Upn("U999123456789"))
        );
        assert_eq!(
            k.token(Item::NhsNumber("943 476 5919")),
            k.token(Item::NhsNumber("9434765919"))
        );
        assert_ne!(
            k.token(Item::Upn("9434765919")),
            k.token(Item::NhsNumber("9434765919"))
        );
        assert_eq!(k.token(Item::Upn("  ")), None);
        let a = input("amelia", "O'Neill", Some("zz1 4ab"));
        let b = input("Amy", "Oneil", Some("ZZ9 9ZZ"));
        assert_eq!(k.token(Item::Wide(&a)), k.token(Item::Wide(&b)));
        assert_eq!(k.token(Item::Area(&a)), k.token(Item::Area(&b)));
        let elsewhere = input("Amelia", "O'Neill", Some("YY1 4AB"));
        assert_ne!(k.token(Item::Area(&a)), k.token(Item::Area(&elsewhere)));
        assert_eq!(k.token(Item::Area(&input("A", "B", None))), None);
    }

    #[test]
    fn tokens_depend_on_the_key() {
        let (a, b) = (key(1), key(2));
        assert_ne!(a.token(Item::Upn("U1")), b.token(Item::Upn("U1")));
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        assert!(LocatorKey::from_bytes(&[0; 31]).is_err());
        assert!(LocatorKey::from_base64("not base64!").is_err());
    }

    fn tokens(k: &LocatorKey, from: usize, n: usize) -> Vec<Token> {
        (from..from + n)
            .filter_map(|i| k.token(Item::Upn(&format!("U{i}"))))
            .collect()
    }

    #[test]
    fn a_filter_has_no_false_negatives_and_about_its_target_rate_of_false_positives() {
        let k = key(3);
        let held = tokens(&k, 0, 10_000);
        let filter = LocatorFilter::build(&held, 1e-3);
        assert!(held.iter().all(|t| filter.contains(t)));
        assert!(filter.expected_false_positive_rate() <= 1e-3);
        let probes = tokens(&k, 1_000_000, 200_000);
        let false_positives = probes.iter().filter(|t| filter.contains(t)).count();
        let rate = false_positives as f64 / probes.len() as f64;
        // 200 expected at most; a generous band, the bound is not the point here.
        assert!(rate < 2e-3, "measured {rate}");
        assert!(
            false_positives > 0,
            "a 1e-3 filter that never errs is too big"
        );
    }

    #[test]
    fn a_school_of_two_thousand_fits_well_under_a_mebibyte_at_one_in_a_million() {
        // Five items per child at most: UPN, NHS number, LA id and two blocking keys.
        let filter = LocatorFilter::sized(2_000 * 5, 1e-6);
        assert!(filter.size_bytes() < 1 << 20, "{}", filter.size_bytes());
        assert!(filter.expected_false_positive_rate() <= 1e-6);
    }

    #[test]
    fn a_filter_survives_its_wire_form_and_rejects_damage() {
        let k = key(4);
        let held = tokens(&k, 0, 500);
        let filter = LocatorFilter::build(&held, 1e-6);
        let bytes = filter.to_bytes();
        let back = LocatorFilter::from_bytes(&bytes).unwrap();
        assert_eq!(back, filter);
        assert!(held.iter().all(|t| back.contains(t)));
        assert_eq!(
            LocatorFilter::from_bytes(&bytes[..bytes.len() - 1]),
            Err(LocatorError::BadFilter)
        );
        assert_eq!(
            LocatorFilter::from_bytes(b"not a filter"),
            Err(LocatorError::BadFilter)
        );
    }

    #[test]
    fn a_search_uses_identifiers_and_the_narrowest_demographic_key() {
        let k = key(5);
        let d = input("Amelia", "Okafor", Some("ZZ1 4AB"));
        let held = k.child_tokens(Some("U999123456789"), None, None, &d);
        assert_eq!(held.len(), 3);
        let filter = LocatorFilter::build(&held, 1e-6);
        // Found by NHS number alone? No: the node never had it. By demographics: yes.
        let by_nhs = k.query_tokens(None, Some("9434765919"), None, None);
        assert!(!filter.may_hold_any(&by_nhs));
        let by_demographics = k.query_tokens(None, Some("9434765919"), None, Some(&d));
        assert!(filter.may_hold_any(&by_demographics));
        let without_postcode = input("Amelia", "Okafor", None);
        assert!(filter.may_hold_any(&k.query_tokens(None, None, None, Some(&without_postcode))));
    }

    #[test]
    fn sex_narrows_the_key_but_a_copy_without_sex_is_still_found() {
        let k = key(3);
        let with = |sex| BlockingInput {
            sex,
            ..input("Amelia", "Okafor", Some("ZZ1 4AB"))
        };
        let held = |sex| LocatorFilter::build(&k.child_tokens(None, None, None, &with(sex)), 1e-6);
        let female = Some(schemas::Sex::Female);
        let male = Some(schemas::Sex::Male);
        let ask = |sex| k.query_tokens(None, None, None, Some(&with(sex)));
        assert!(held(female).may_hold_any(&ask(female)));
        assert!(
            !held(male).may_hold_any(&ask(female)),
            "a boy with the same key is not asked"
        );
        assert!(
            held(None).may_hold_any(&ask(female)),
            "a copy without sex is found"
        );
        assert!(
            held(male).may_hold_any(&ask(None)),
            "a search without sex finds either"
        );
        assert!(held(female).may_hold_any(&ask(Some(schemas::Sex::Unknown))));
    }
}
