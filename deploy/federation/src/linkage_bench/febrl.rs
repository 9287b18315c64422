//! A FEBRL file read and mapped to English children exactly as the data README says
//! (`docs/benchmarks.md`, "Linkage: FEBRL side by side with Splink"), and split into
//! the two agencies: A holds every original (`rec-N-org`), B the first copy
//! (`rec-N-dup-0`) of every person that has one.

use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;

/// One record after the mapping. An empty string is a missing value; a date of birth or
/// postcode that the mapping could not read is kept as it was (malformed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// FEBRL's id (`rec-N-org`, `rec-N-dup-K`). Never sent to a node.
    pub rec_id: String,
    /// `N`: the same N is the same person.
    pub person: u32,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD` when the mapping gave a real date; otherwise as in the file.
    pub date_of_birth: String,
    pub postcode: String,
}

impl Mapped {
    /// The date of birth when it is a real `YYYY-MM-DD` date.
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.date_of_birth, "%Y-%m-%d").ok()
    }

    /// What a node needs to store the child and a gateway to search for it, and this
    /// record lacks: `given_name`, `family_name`, `date_of_birth` (missing or
    /// malformed).
    pub fn lacks(&self) -> Vec<&'static str> {
        let mut lacks = Vec::new();
        if self.given_name.is_empty() {
            lacks.push("given_name");
        }
        if self.family_name.is_empty() {
            lacks.push("family_name");
        }
        if self.date().is_none() {
            lacks.push("date_of_birth");
        }
        lacks
    }

    /// What a practitioner holding this record would search with: every field it has,
    /// except one a search would refuse (a date of birth or postcode that is not one;
    /// nobody searches by those), when that is enough to search by
    /// ([`schemas::SearchDemographics::enough`], the rule nodes store children by).
    /// `None`: not searchable.
    pub fn search(&self) -> Option<schemas::SearchDemographics> {
        let known = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let mut d = schemas::SearchDemographics {
            given_name: known(&self.given_name),
            family_name: known(&self.family_name),
            date_of_birth: self.date(),
            sex: None,
            postcode: known(&self.postcode),
        };
        let mut errors = Vec::new();
        d.validate("", &mut errors);
        for error in errors {
            match error.field.as_str() {
                "date_of_birth" => d.date_of_birth = None,
                "postcode" => d.postcode = None,
                "given_name" => d.given_name = None,
                "family_name" => d.family_name = None,
                _ => {}
            }
        }
        d.enough().then_some(d)
    }

    /// The demographics as the integration API and the gateway take them: a missing
    /// value is left out, a malformed date is sent as it is (the node refuses it, as
    /// it would an agency system's).
    pub fn demographics_json(&self) -> serde_json::Value {
        let mut d = serde_json::Map::new();
        for (key, value) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("date_of_birth", &self.date_of_birth),
            ("postcode", &self.postcode),
        ] {
            if !value.is_empty() {
                d.insert(key.into(), serde_json::Value::String(value.clone()));
            }
        }
        serde_json::Value::Object(d)
    }
}

/// The two agencies of one FEBRL file.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Every original.
    pub a: Vec<Mapped>,
    /// The `dup-0` copy of every person that has one.
    pub b: Vec<Mapped>,
}

impl Split {
    /// Index in `b` of each person B holds.
    pub fn b_by_person(&self) -> HashMap<u32, usize> {
        self.b
            .iter()
            .enumerate()
            .map(|(i, r)| (r.person, i))
            .collect()
    }
}

/// `YYYYMMDD` -> `(2008 + YYYY mod 17)-MM-DD`; anything that is not 8 digits, or not a
/// real date after mapping, stays as it is.
pub fn map_date(value: &str) -> String {
    let v = value.trim();
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return v.to_owned();
    }
    let (year, month, day) = (&v[..4], &v[4..6], &v[6..]);
    let parsed = (
        year.parse::<i32>(),
        month.parse::<u32>(),
        day.parse::<u32>(),
    );
    if let (Ok(y), Ok(m), Ok(d)) = parsed
        && let Some(date) = chrono::NaiveDate::from_ymd_opt(2008 + y % 17, m, d)
    {
        return date.format("%Y-%m-%d").to_string();
    }
    v.to_owned()
}

/// `d1d2d3d4` -> `N{d1}{d2} {d3}A{chr(65 + d4)}` (4223 -> `N42 2AD`); anything that is
/// not 4 digits stays as it is.
pub fn map_postcode(value: &str) -> String {
    let v = value.trim();
    let digits: Vec<u8> = v.bytes().collect();
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return v.to_owned();
    }
    let d = |i: usize| char::from(digits[i]);
    let last = char::from(b'A' + (digits[3] - b'0'));
    format!("N{}{} {}A{last}", d(0), d(1), d(2))
}

/// `rec-N-org` -> (N, None); `rec-N-dup-K` -> (N, Some(K)).
pub fn parse_rec_id(rec_id: &str) -> Option<(u32, Option<u32>)> {
    let rest = rec_id.strip_prefix("rec-")?;
    let (n, kind) = rest.split_once('-')?;
    let n = n.parse().ok()?;
    if kind == "org" {
        return Some((n, None));
    }
    let k = kind.strip_prefix("dup-")?.parse().ok()?;
    Some((n, Some(k)))
}

/// Reads a FEBRL CSV (`rec_id, given_name, surname, …`: comma and space separated, no
/// quoting) and splits it.
pub fn read(path: &Path) -> anyhow::Result<Split> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the FEBRL file {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Split> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .context("empty file")?
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|c| c == name)
            .with_context(|| format!("no column {name}; is this a FEBRL file?"))
    };
    let (id, given, surname, dob, postcode) = (
        column("rec_id")?,
        column("given_name")?,
        column("surname")?,
        column("date_of_birth")?,
        column("postcode")?,
    );
    let mut split = Split::default();
    for (number, line) in lines.enumerate() {
        anyhow::ensure!(
            !line.contains('"'),
            "line {}: quoted fields are not FEBRL's format",
            number + 2
        );
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        anyhow::ensure!(
            cells.len() == header.len(),
            "line {}: {} fields, the header has {}",
            number + 2,
            cells.len(),
            header.len()
        );
        let rec_id = cells[id];
        let (person, copy) = parse_rec_id(rec_id)
            .with_context(|| format!("line {}: rec_id '{rec_id}'", number + 2))?;
        let record = Mapped {
            rec_id: rec_id.to_owned(),
            person,
            given_name: cells[given].to_lowercase(),
            family_name: cells[surname].to_lowercase(),
            date_of_birth: map_date(cells[dob]),
            postcode: map_postcode(cells[postcode]),
        };
        match copy {
            None => split.a.push(record),
            Some(0) => split.b.push(record),
            Some(_) => {}
        }
    }
    // The file's order is shuffled; a fixed order makes runs comparable.
    split.a.sort_by_key(|r| r.person);
    split.b.sort_by_key(|r| r.person);
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_map_into_childhood_and_bad_ones_stay_as_they_are() {
        assert_eq!(map_date("19081209"), "2012-12-09"); // 1908 mod 17 = 4
        assert_eq!(map_date("19990219"), "2018-02-19"); // 1999 mod 17 = 10
        assert_eq!(map_date(" 20000101 "), "2019-01-01"); // 2000 mod 17 = 11
        assert_eq!(map_date("19130229"), "19130229"); // 2008 + 9 = 2017: no 29 February
        assert_eq!(map_date("19121329"), "19121329"); // month 13
        assert_eq!(map_date("1912032"), "1912032");
        assert_eq!(map_date(""), "");
    }

    #[test]
    fn postcodes_keep_a_digit_typo_one_character_apart() {
        assert_eq!(map_postcode("4223"), "N42 2AD");
        assert_eq!(map_postcode("0000"), "N00 0AA");
        assert_eq!(map_postcode("4229"), "N42 2AJ");
        assert_eq!(map_postcode("423"), "423");
        assert_eq!(map_postcode(""), "");
    }

    #[test]
    fn originals_go_to_a_and_first_copies_to_b() {
        let text = "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id\n\
            rec-2-dup-1, amy, lee, 1, a st, , x, 4223, nsw, 19990219, 1\n\
            rec-2-org, amy, lee, 1, a st, , x, 4223, nsw, 19990219, 1\n\
            rec-1-org, , Waller, 6, b st, , y, 4011, wa, , 2\n\
            rec-2-dup-0, amy, leigh, 1, a st, , x, 4224, nsw, 19990291, 1\n";
        let split = parse(text).unwrap();
        let a: Vec<_> = split.a.iter().map(|r| r.rec_id.as_str()).collect();
        assert_eq!(a, ["rec-1-org", "rec-2-org"]);
        assert_eq!(split.b.len(), 1);
        let b = &split.b[0];
        assert_eq!(
            (b.person, b.family_name.as_str(), b.postcode.as_str()),
            (2, "leigh", "N42 2AE")
        );
        assert_eq!(b.date_of_birth, "19990291");
        assert_eq!(b.lacks(), ["date_of_birth"]);
        let waller = &split.a[0];
        assert_eq!(waller.family_name, "waller");
        assert_eq!(waller.lacks(), ["given_name", "date_of_birth"]);
        assert_eq!(
            waller.demographics_json(),
            serde_json::json!({"family_name": "waller", "postcode": "N40 1AB"})
        );
        assert_eq!(split.b_by_person()[&2], 0);
        // Searchable by what they state: a family name with a postcode; a malformed
        // date is left out of the search, not sent.
        let search = waller.search().unwrap();
        assert_eq!(
            (search.family_name.as_deref(), search.date_of_birth),
            (Some("waller"), None)
        );
        assert_eq!(b.search().unwrap().date_of_birth, None);
        let nameless = Mapped {
            family_name: String::new(),
            ..waller.clone()
        };
        assert_eq!(nameless.search(), None);
    }
}
