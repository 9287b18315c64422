//! The children in need census: the return every local authority's social-care system
//! produces each year. Read here: the current year's specification and the previous
//! one, from this node's own authority.

mod map;
pub mod spec;

use crate::envelope::Envelope;
use crate::imported::ChildOutcome;
use crate::problem::FileProblem;
use crate::spec::{Findings, Read, check};
use crate::xml::Node;
use chrono::{NaiveDate, NaiveDateTime};
use schemas::AgencyKind;
use schemas::details::LaCode;

/// The census years read, by the header's `Year`: `2027` is the 2026 to 2027 census (the
/// current one), `2026` the 2025 to 2026 census.
pub const SUPPORTED_YEARS: [i64; 2] = [2026, 2027];

/// The default largest file a node takes: see `docs/imports.md` for the figure.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A census file's header, read and checked.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CinHeader {
    /// The census year (`2027` for 2026 to 2027).
    pub year: i64,
    /// The census's reference date (the end of the period it covers).
    pub reference_date: NaiveDate,
    /// The local authority that made the return.
    pub la: String,
    pub software: Option<String>,
    pub created: NaiveDateTime,
}

/// How a social-care node reads census files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CinSettings {
    pub max_bytes: u64,
    /// The authority this node belongs to: a census from another is refused.
    pub la: LaCode,
    /// The node's kind (social care).
    pub holder: AgencyKind,
}

impl CinSettings {
    pub fn social_care(la: LaCode) -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            la,
            holder: AgencyKind::SocialCare,
        }
    }
}

/// A census read: its header and an outcome for every child, in file order.
#[derive(Debug, Clone)]
pub struct CinImport {
    pub header: CinHeader,
    pub children: Vec<ChildOutcome>,
}

const FORMAT: &str = "a children in need census";

/// Reads a children in need census for the node `settings` describe. Refused whole when
/// over the limit, not well formed, not a CIN census, of an unsupported year, with an
/// invalid header, or from another authority; otherwise an outcome for every child, one
/// bad child never stopping the rest.
pub fn read_cin_census(bytes: &[u8], settings: &CinSettings) -> Result<CinImport, FileProblem> {
    let envelope = Envelope {
        root: spec::ROOT,
        format: FORMAT,
        list: "Children",
        item: "Child",
    };
    let (header, children) = envelope.read(
        bytes,
        settings.max_bytes,
        |node, path| {
            let header = read_header(node, path)?;
            if header.la != settings.la.as_str() {
                return Err(FileProblem::NotAddressedHere(format!(
                    "the census is local authority {}'s return, not this authority's ({})",
                    header.la,
                    settings.la.as_str()
                )));
            }
            Ok(header)
        },
        |node, path, header| map::child(node, path, header, settings),
    )?;
    Ok(CinImport { header, children })
}

fn read_header(node: &Node, path: &str) -> Result<CinHeader, FileProblem> {
    let details = node.child("CollectionDetails");
    let year_text = details.and_then(|d| d.value("Year")).unwrap_or_default();
    let collection = details.and_then(|d| d.value("Collection"));
    if collection.is_some_and(|c| c != "CIN") {
        return Err(FileProblem::WrongRoot {
            found: format!(
                "Message of the {} collection",
                collection.unwrap_or_default()
            ),
            expected: spec::ROOT,
            format: FORMAT,
        });
    }
    let Some(year) = year_text
        .parse::<i64>()
        .ok()
        .filter(|y| SUPPORTED_YEARS.contains(y))
    else {
        return Err(FileProblem::UnsupportedVersion {
            found: if year_text.is_empty() {
                "(none given)".to_owned()
            } else {
                year_text.to_owned()
            },
            format: "The children in need census year",
            supported: SUPPORTED_YEARS
                .iter()
                .map(|y| format!("{y} ({} to {y})", y - 1))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let mut found = Findings::default();
    check(node, spec::HEADER, path, &mut found);
    if !found.problems.is_empty() {
        return Err(FileProblem::InvalidHeader(found.problems));
    }
    let source = node.child("Source");
    Ok(CinHeader {
        year,
        reference_date: details
            .and_then(|d| d.date("ReferenceDate"))
            .unwrap_or_default(),
        la: source
            .and_then(|s| s.value("LEA"))
            .unwrap_or_default()
            .to_owned(),
        software: source
            .and_then(|s| s.value("SoftwareCode"))
            .map(str::to_owned),
        created: source
            .and_then(|s| s.value("DateTime"))
            .and_then(|t| crate::spec::date_time(t).ok())
            .unwrap_or_default(),
    })
}
