//! A specification's elements written down as data — which elements each group may hold,
//! how often, and what each value must be — and the check that walks a tree against it,
//! naming every problem by its element path. The formats' own modules (`ctf::spec`,
//! `cin::spec`) are the tables; this is the one place that reads them.

use crate::problem::ElementProblem;
use crate::xml::Node;
use chrono::{NaiveDate, NaiveDateTime};

/// What a value element must hold.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// Text of 1 to n characters.
    Text(usize),
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DDThh:mm:ss`, optionally with fractions and a zone.
    DateTime,
    /// `true`, `false`, `1` or `0` (XML Schema's boolean).
    Boolean,
    /// A whole number in a range.
    Integer(i64, i64),
    /// One of a code list.
    Code(&'static [&'static str]),
    /// A four-digit year.
    Year,
    /// A Unique Pupil Number with its check letter.
    Upn,
    /// Exactly n digits.
    Digits(usize),
    /// A local authority number (3 digits) or one of the placeholders given.
    La(&'static [&'static str]),
    /// An establishment number (4 digits) or one of the placeholders given.
    Estab(&'static [&'static str]),
    /// A UK postcode.
    Postcode,
    /// An identifier: 1 to n letters, digits, hyphens or underscores.
    Id(usize),
}

/// How often an element may appear in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurs {
    One,
    Optional,
    /// Zero or more; each is named with its position (`YearData[2]`).
    Many,
}

#[derive(Debug, Clone, Copy)]
pub enum Content {
    Value(Value),
    Group(&'static [Field]),
    /// Part of the specification but not read here (Welsh-only data, admissions): any
    /// content is accepted and nothing of it is mapped.
    NotRead,
}

/// One element a group may hold.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub occurs: Occurs,
    pub content: Content,
}

pub const fn one(name: &'static str, value: Value) -> Field {
    Field {
        name,
        occurs: Occurs::One,
        content: Content::Value(value),
    }
}

pub const fn opt(name: &'static str, value: Value) -> Field {
    Field {
        name,
        occurs: Occurs::Optional,
        content: Content::Value(value),
    }
}

pub const fn many(name: &'static str, value: Value) -> Field {
    Field {
        name,
        occurs: Occurs::Many,
        content: Content::Value(value),
    }
}

pub const fn group(name: &'static str, occurs: Occurs, fields: &'static [Field]) -> Field {
    Field {
        name,
        occurs,
        content: Content::Group(fields),
    }
}

pub const fn not_read(name: &'static str, occurs: Occurs) -> Field {
    Field {
        name,
        occurs,
        content: Content::NotRead,
    }
}

/// The path of the `index`th (from 1) child named `name` under `parent`: repeatable
/// elements carry their position.
pub fn child_path(parent: &str, name: &str, occurs: Occurs, index: usize) -> String {
    match occurs {
        Occurs::Many => format!("{parent}/{name}[{index}]"),
        Occurs::One | Occurs::Optional => format!("{parent}/{name}"),
    }
}

/// What checking an element found: `problems` make it unusable (a repeated, missing or
/// invalid element); `unknown` are elements this specification does not have, left
/// unread. A later version of a format adds elements, and a supplier may add its own:
/// they are reported to the sender, not a reason to refuse the child.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<ElementProblem>,
    pub unknown: Vec<ElementProblem>,
}

/// Checks `node` (at `path`) against the elements `fields` allow, adding to `found` a
/// problem for every repeated, missing or invalid element and a note for every unknown
/// one.
pub fn check(node: &Node, fields: &[Field], path: &str, found: &mut Findings) {
    if !node.text.trim().is_empty() {
        found
            .problems
            .push(ElementProblem::new(path, "must hold elements, not text"));
    }
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for child in &node.children {
        let count = match seen.iter_mut().find(|(n, _)| *n == child.name) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                seen.push((child.name.as_str(), 1));
                1
            }
        };
        let Some(field) = fields.iter().find(|f| f.name == child.name) else {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            found.unknown.push(ElementProblem::new(
                format!("{path}/{}", child.name),
                format!(
                    "is not an element of <{}> in this specification and was not read; the elements here are {}",
                    node.name,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let child_at = child_path(path, &child.name, field.occurs, count);
        if field.occurs != Occurs::Many && count > 1 {
            found
                .problems
                .push(ElementProblem::new(child_at, "appears more than once"));
            continue;
        }
        match field.content {
            Content::NotRead => {}
            Content::Group(inner) => check(child, inner, &child_at, found),
            Content::Value(value) => {
                if !child.children.is_empty() {
                    found.problems.push(ElementProblem::new(
                        child_at,
                        "must be a value, not elements",
                    ));
                    continue;
                }
                let text = child.text.trim();
                if text.is_empty() {
                    if field.occurs == Occurs::One {
                        found
                            .problems
                            .push(ElementProblem::new(child_at, "is required and is empty"));
                    }
                    continue;
                }
                if let Err(message) = parse(value, text) {
                    found.problems.push(ElementProblem::new(child_at, message));
                }
            }
        }
    }
    for field in fields {
        if field.occurs == Occurs::One && !seen.iter().any(|(n, _)| *n == field.name) {
            found.problems.push(ElementProblem::new(
                format!("{path}/{}", field.name),
                "is required",
            ));
        }
    }
}

/// Whether `text` is a valid `value`, with a message for a person when it is not.
pub fn parse(value: Value, text: &str) -> Result<(), String> {
    match value {
        Value::Text(max) => {
            let n = text.chars().count();
            if n > max {
                return Err(format!("must have at most {max} characters, not {n}"));
            }
            if text.chars().any(char::is_control) {
                return Err("must not contain control characters".to_owned());
            }
            Ok(())
        }
        Value::Date => date(text).map(|_| ()),
        Value::DateTime => date_time(text).map(|_| ()),
        Value::Boolean => boolean(text).map(|_| ()),
        Value::Integer(min, max) => integer(text, min, max).map(|_| ()),
        Value::Code(codes) => {
            if codes.contains(&text) {
                Ok(())
            } else {
                Err(format!("'{text}' is not one of {}", codes.join(", ")))
            }
        }
        Value::Year => integer(text, 1900, 2100)
            .map(|_| ())
            .map_err(|_| format!("must be a four-digit year, not '{text}'")),
        Value::Upn => schemas::Upn::parse(text)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Value::Digits(n) => {
            if text.len() == n && text.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!("must be {n} digits, not '{text}'"))
            }
        }
        Value::La(placeholders) => number_or(text, 3, placeholders, "a local authority number"),
        Value::Estab(placeholders) => number_or(text, 4, placeholders, "an establishment number"),
        Value::Postcode => {
            let compact = schemas::child::normalise_postcode(text);
            if (5..=7).contains(&compact.len())
                && compact.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                Ok(())
            } else {
                Err(format!(
                    "must be a UK postcode such as ZZ1 4AB, not '{text}'"
                ))
            }
        }
        Value::Id(max) => {
            let ok = (1..=max).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "must be 1 to {max} letters, digits, hyphens or underscores, not '{text}'"
                ))
            }
        }
    }
}

fn number_or(text: &str, digits: usize, placeholders: &[&str], what: &str) -> Result<(), String> {
    if (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        || placeholders.contains(&text)
    {
        Ok(())
    } else {
        Err(format!("must be {what} ({digits} digits), not '{text}'"))
    }
}

/// An XML Schema date, `YYYY-MM-DD`.
pub fn date(text: &str) -> Result<NaiveDate, String> {
    let ok_shape = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) if ok_shape => Ok(d),
        _ => Err(format!("must be a date (YYYY-MM-DD), not '{text}'")),
    }
}

/// An XML Schema date and time; the zone, if any, is dropped.
pub fn date_time(text: &str) -> Result<NaiveDateTime, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.naive_local())
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| format!("must be a date and time (YYYY-MM-DDThh:mm:ss), not '{text}'"))
}

/// An XML Schema boolean.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("must be true or false, not '{text}'")),
    }
}

pub fn integer(text: &str, min: i64, max: i64) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("must be {min} to {max}, not {n}")),
        Err(_) => Err(format!("must be a whole number, not '{text}'")),
    }
}

/// Typed reading of a tree already checked against its specification: a value that
/// failed the check reads as absent here, because the child it belongs to has failed.
pub trait Read {
    fn date(&self, name: &str) -> Option<NaiveDate>;
    fn boolean(&self, name: &str) -> Option<bool>;
    fn integer(&self, name: &str) -> Option<i64>;
}

impl Read for Node {
    fn date(&self, name: &str) -> Option<NaiveDate> {
        self.value(name).and_then(|t| date(t).ok())
    }

    fn boolean(&self, name: &str) -> Option<bool> {
        self.value(name).and_then(|t| boolean(t).ok())
    }

    fn integer(&self, name: &str) -> Option<i64> {
        self.value(name).and_then(|t| t.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INNER: &[Field] = &[one("B", Value::Boolean), opt("D", Value::Date)];
    const OUTER: &[Field] = &[
        one("A", Value::Integer(1, 9)),
        group("G", Occurs::Many, INNER),
        not_read("W", Occurs::Optional),
    ];

    fn node(name: &str, text: &str, children: Vec<Node>) -> Node {
        Node {
            name: name.into(),
            text: text.into(),
            children,
        }
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let tree = node(
            "R",
            "",
            vec![
                node(
                    "G",
                    "",
                    vec![node("B", "true", vec![]), node("D", "2025-02-30", vec![])],
                ),
                node(
                    "G",
                    "",
                    vec![node("B", "yes", vec![]), node("X", "1", vec![])],
                ),
                node("W", "", vec![node("Anything", "goes", vec![])]),
            ],
        );
        let mut found = Findings::default();
        check(&tree, OUTER, "/R", &mut found);
        let problems = &found.problems;
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/R/G[1]/D", "/R/G[2]/B", "/R/A"], "{problems:?}");
        assert!(problems[0].message.contains("date"), "{problems:?}");
        assert!(
            problems[1].message.contains("true or false"),
            "{problems:?}"
        );
        assert_eq!(problems[2].message, "is required");
        // An element the specification does not have is reported, not a problem.
        let unknown: Vec<&str> = found.unknown.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(unknown, ["/R/G[2]/X"], "{found:?}");
        assert!(
            found.unknown[0].message.contains("not an element of <G>"),
            "{found:?}"
        );
    }

    #[test]
    fn a_single_element_twice_and_an_empty_required_value_are_problems() {
        let tree = node("R", "", vec![node("A", "", vec![]), node("A", "3", vec![])]);
        let mut found = Findings::default();
        check(&tree, OUTER, "/R", &mut found);
        let messages: Vec<&str> = found.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            ["is required and is empty", "appears more than once"]
        );
    }

    #[test]
    fn values_follow_xml_schema() {
        assert!(date("2024-02-29").is_ok());
        assert!(date("2023-02-29").is_err());
        assert!(date("29/02/2024").is_err());
        assert!(date("2024-2-9").is_err());
        assert!(date_time("2025-05-23T11:14:05").is_ok());
        assert!(date_time("2025-05-23T11:14:05.5+01:00").is_ok());
        assert!(date_time("2025-05-23").is_err());
        assert_eq!(boolean("1"), Ok(true));
        assert_eq!(boolean("false"), Ok(false));
        assert!(boolean("Y").is_err());
        assert!(parse(Value::La(&["MMM"]), "MMM").is_ok());
        assert!(parse(Value::La(&[]), "82").is_err());
        assert!(parse(Value::Id(20), "CHILD-0001").is_ok());
        assert!(parse(Value::Id(20), "../etc").is_err());
        assert!(parse(Value::Text(5), "a\u{0}b").is_err());
    }
}
