//! A stored child's keyed encodings for comparison ([`KeyedDemographics`]) as compact
//! bytes: each token (32 lower-case hex characters) as its 16 bytes, each Bloom filter
//! (base64) as its bytes, lists and options with a count or a flag. About 650 bytes a
//! child against about 1,270 characters of JSON, which made `child_keyed` the largest
//! table and a load's largest write. Any value that is not in the usual form (an empty
//! token, text that is not lower-case hex, base64 that does not read back the same) is
//! kept as its text, so every encoding reads back exactly as it was written.

use schemas::{KeyedDate, KeyedDemographics, KeyedName, KeyedPostcode};

/// The first byte: the layout below.
const LAYOUT: u8 = 1;

const EMPTY: u8 = 0;
const TOKEN: u8 = 1;
const TEXT: u8 = 2;
const BASE64: u8 = 3;

const TOKEN_BYTES: usize = schemas::keyed::TOKEN_HEX_LEN / 2;

pub fn encode(d: &KeyedDemographics) -> Vec<u8> {
    let mut out = Vec::with_capacity(720);
    out.push(LAYOUT);
    name(&mut out, &d.given_name);
    name(&mut out, &d.family_name);
    token(&mut out, &d.date_of_birth.exact);
    optional(&mut out, d.date_of_birth.swapped.as_deref());
    tokens(&mut out, &d.date_of_birth.masked);
    // Empty in a stored child's encodings (queries only), kept so that any encoding
    // reads back exactly.
    tokens(&mut out, &d.date_of_birth.transposed);
    token(&mut out, &d.date_of_birth.month);
    optional(&mut out, d.sex.as_deref());
    match &d.postcode {
        Some(p) => {
            out.push(1);
            token(&mut out, &p.full);
            token(&mut out, &p.sector);
            token(&mut out, &p.district);
        }
        None => out.push(0),
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<KeyedDemographics, String> {
    let mut r = Reader { bytes, at: 0 };
    let layout = r.byte()?;
    if layout != LAYOUT {
        return Err(format!("unknown layout {layout}"));
    }
    let given_name = r.name()?;
    let family_name = r.name()?;
    let date_of_birth = KeyedDate {
        exact: r.token()?,
        swapped: r.optional()?,
        masked: r.tokens()?,
        transposed: r.tokens()?,
        month: r.token()?,
    };
    let sex = r.optional()?;
    let postcode = match r.byte()? {
        0 => None,
        1 => Some(KeyedPostcode {
            full: r.token()?,
            sector: r.token()?,
            district: r.token()?,
        }),
        other => return Err(format!("bad postcode flag {other}")),
    };
    if r.at != bytes.len() {
        return Err(format!("{} bytes left over", bytes.len() - r.at));
    }
    Ok(KeyedDemographics {
        given_name,
        family_name,
        date_of_birth,
        sex,
        postcode,
    })
}

fn name(out: &mut Vec<u8>, n: &KeyedName) {
    token(out, &n.exact);
    tokens(out, &n.forms);
    tokens(out, &n.aliases);
    token(out, &n.phonetic);
    bloom(out, &n.bloom);
}

fn is_lower_hex_token(s: &str) -> bool {
    s.len() == 2 * TOKEN_BYTES && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.push(TEXT);
    // A value longer than 65,535 bytes is no token nor filter the node writes; it is
    // cut to fit rather than refused (the read-back check in the tests would show it).
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn token(out: &mut Vec<u8>, s: &str) {
    if s.is_empty() {
        out.push(EMPTY);
    } else if is_lower_hex_token(s) {
        out.push(TOKEN);
        out.extend(
            s.as_bytes()
                .chunks_exact(2)
                .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])),
        );
    } else {
        text(out, s);
    }
}

fn tokens(out: &mut Vec<u8>, list: &[String]) {
    out.extend_from_slice(&(list.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    for s in list.iter().take(usize::from(u16::MAX)) {
        token(out, s);
    }
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            token(out, s);
        }
        None => out.push(0),
    }
}

fn bloom(out: &mut Vec<u8>, s: &str) {
    use base64::Engine;
    let engine = &base64::engine::general_purpose::STANDARD;
    match engine.decode(s) {
        Ok(raw) if raw.len() <= usize::from(u16::MAX) && engine.encode(&raw) == s => {
            out.push(BASE64);
            out.extend_from_slice(&(raw.len() as u16).to_le_bytes());
            out.extend_from_slice(&raw);
        }
        _ => text(out, s),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err("cut short".to_owned());
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn length(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }

    fn text(&mut self) -> Result<String, String> {
        let n = self.length()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "text not UTF-8".to_owned())
    }

    fn token(&mut self) -> Result<String, String> {
        match self.byte()? {
            EMPTY => Ok(String::new()),
            TOKEN => Ok(schemas::hex::lower_hex(self.take(TOKEN_BYTES)?)),
            TEXT => self.text(),
            other => Err(format!("bad token tag {other}")),
        }
    }

    fn tokens(&mut self) -> Result<Vec<String>, String> {
        let n = self.length()?;
        (0..n).map(|_| self.token()).collect()
    }

    fn optional(&mut self) -> Result<Option<String>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.token()?)),
            other => Err(format!("bad option flag {other}")),
        }
    }

    fn name(&mut self) -> Result<KeyedName, String> {
        Ok(KeyedName {
            exact: self.token()?,
            forms: self.tokens()?,
            aliases: self.tokens()?,
            phonetic: self.token()?,
            bloom: match self.byte()? {
                BASE64 => {
                    use base64::Engine;
                    let n = self.length()?;
                    base64::engine::general_purpose::STANDARD.encode(self.take(n)?)
                }
                TEXT => self.text()?,
                other => return Err(format!("bad filter tag {other}")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use matching::keyed::MatchingKey;
    use schemas::{ChildIdentifiers, Demographics, KnownDemographics, Sex};

    fn key() -> MatchingKey {
        MatchingKey::from_base64(&MatchingKey::generate().unwrap()).unwrap()
    }

    fn read_back(d: &KeyedDemographics) -> KeyedDemographics {
        decode(&encode(d)).unwrap()
    }

    #[test]
    fn encodings_read_back_exactly_and_in_about_half_the_json() {
        let key = key();
        let children = [
            Demographics {
                given_name: "Amelia-Rose".into(),
                family_name: "Wood Allen".into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(2014, 3, 9).unwrap(),
                sex: Some(Sex::Female),
                postcode: Some("ZZ1 2AB".into()),
            },
            Demographics {
                given_name: "Jo".into(),
                family_name: "Ng".into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(2020, 12, 31).unwrap(),
                sex: None,
                postcode: None,
            },
        ];
        for d in &children {
            let stored = key.encode_stored(d, &ChildIdentifiers::default());
            let encoded = stored.demographics.unwrap();
            assert_eq!(read_back(&encoded), encoded);
            let json = serde_json::to_string(&encoded).unwrap().len();
            let compact = encode(&encoded).len();
            assert!(compact * 10 < json * 6, "{compact} bytes against {json}");
        }
        // A partial child: an empty given name and a missing date read back as empty.
        let partial = KnownDemographics {
            given_name: None,
            family_name: Some("Okafor".into()),
            date_of_birth: None,
            sex: None,
            postcode: Some("ZZ9 9ZZ".into()),
            ..Default::default()
        };
        let stored = key.encode_stored_known(&partial, &ChildIdentifiers::default());
        let encoded = stored.demographics.unwrap();
        assert!(encoded.date_of_birth.is_missing());
        assert_eq!(read_back(&encoded), encoded);
    }

    #[test]
    fn values_in_another_form_are_kept_as_text() {
        let key = key();
        let d = Demographics {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2015, 12, 10).unwrap(),
            sex: Some(Sex::Male),
            postcode: Some("ZZ1 1ZZ".into()),
        };
        let mut odd = key
            .encode_stored(&d, &ChildIdentifiers::default())
            .demographics
            .unwrap();
        odd.given_name.exact = odd.given_name.exact.to_uppercase();
        odd.family_name.forms.push("not a token".into());
        odd.given_name.bloom = "not base64!".into();
        odd.date_of_birth.swapped = Some(String::new());
        // A query's field, never in a stored child's encodings: kept all the same.
        odd.date_of_birth.transposed = vec![odd.date_of_birth.exact.clone(), "x".into()];
        assert_eq!(read_back(&odd), odd);
    }

    #[test]
    fn damaged_bytes_are_refused_not_misread() {
        let key = key();
        let d = Demographics {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2015, 12, 10).unwrap(),
            sex: None,
            postcode: None,
        };
        let bytes = encode(
            &key.encode_stored(&d, &ChildIdentifiers::default())
                .demographics
                .unwrap(),
        );
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut other_layout = bytes;
        other_layout[0] = 9;
        assert!(decode(&other_layout).is_err());
        assert!(decode(&[]).is_err());
    }
}
