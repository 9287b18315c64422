//! The Common Transfer File (CTF): what every school MIS in England exports when a pupil
//! moves school, to the local authority, and as partial files from DfE services. Read
//! here: the current version and the two before it, full and partial files, addressed
//! to this school (or, for an LA-level file, to this authority).

mod map;
pub mod spec;

use crate::envelope::Envelope;
use crate::imported::ChildOutcome;
use crate::problem::FileProblem;
use crate::spec::{Findings, Read, check};
use crate::xml::Node;
use chrono::NaiveDateTime;
use schemas::AgencyKind;
use schemas::details::{LaCode, Urn};

/// The CTF versions read: the current one (`CTFversion` `26.0`, valid from September
/// 2026), the two before it (`25.0`, `24.0`), and `23.0`, which files still held by
/// authorities carry. CTF 26 is read with CTF 25's element tables: an element 26 added is
/// reported as not read for that pupil, never a reason to refuse them (see
/// `docs/imports.md`).
pub const SUPPORTED_VERSIONS: [u32; 4] = [23, 24, 25, 26];

/// The default largest file a node takes: see `docs/imports.md` for the figure.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// `full`: everything the sender holds for the pupils; `partial`: a subset (a DfE
/// service's results, an LA's update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentQualifier {
    Full,
    Partial,
}

/// A school (or authority) as a CTF header names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CtfSchool {
    /// The local authority number, or `MMM` (unknown) / `XXX` (outside the maintained
    /// sector).
    pub la: String,
    /// The establishment number, or `LLLL` (the authority itself), `MMMM`, `XXXX`.
    pub estab: String,
    pub urn: Option<String>,
    pub name: Option<String>,
}

impl CtfSchool {
    /// The DfE number as files name it: `823` and `4321` give `8234321`.
    pub fn dfe_number(&self) -> String {
        format!("{}{}", self.la, self.estab)
    }
}

/// A CTF's header, read and checked.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CtfHeader {
    /// The major version (`24` for `24.0`).
    pub version: u32,
    pub created: NaiveDateTime,
    pub qualifier: DocumentQualifier,
    pub supplier: Option<String>,
    /// The sender: a school, or the authority (`Estab` `LLLL`). Recorded with every record
    /// the file gives.
    pub source: CtfSchool,
    pub destination: CtfSchool,
    /// The sender's academic year (`2025` for 2025/26).
    pub academic_year: Option<i64>,
}

/// Whom a node receives files for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    /// A school: its local authority and establishment numbers, and its URN.
    School {
        la: LaCode,
        estab: String,
        urn: Option<Urn>,
    },
    /// A local authority, for LA-level files (`DestSchool` `Estab` `LLLL`).
    LocalAuthority { la: LaCode },
}

impl Addressee {
    /// A school by its numbers (`823`, `4321`) and URN, checked.
    pub fn school(la: &str, estab: &str, urn: Option<&str>) -> Result<Self, String> {
        let la = LaCode::new(la).ok_or("the LA number has 3 digits")?;
        if estab.len() != 4 || !estab.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the establishment number has 4 digits".to_owned());
        }
        let urn = match urn {
            Some(u) => Some(Urn::new(u).ok_or("a URN has 6 digits")?),
            None => None,
        };
        Ok(Addressee::School {
            la,
            estab: estab.to_owned(),
            urn,
        })
    }

    fn describe(&self) -> String {
        match self {
            Addressee::School { la, estab, urn } => match urn {
                Some(urn) => format!(
                    "this school ({}/{estab}, URN {})",
                    la.as_str(),
                    urn.as_str()
                ),
                None => format!("this school ({}/{estab})", la.as_str()),
            },
            Addressee::LocalAuthority { la } => format!("this local authority ({})", la.as_str()),
        }
    }
}

/// Whether a file with this header is addressed to `me`: its `DestSchool` is this school
/// (LA and establishment numbers, or URN where both give one), or this authority for an
/// LA-level file. Anything else is refused whole, naming where it was going.
pub fn check_addressee(header: &CtfHeader, me: &Addressee) -> Result<(), FileProblem> {
    let dest = &header.destination;
    let addressed = match me {
        Addressee::School { la, estab, urn } => {
            (dest.la == la.as_str() && &dest.estab == estab)
                || matches!((urn, &dest.urn), (Some(mine), Some(theirs)) if mine.as_str() == theirs)
        }
        Addressee::LocalAuthority { la } => dest.la == la.as_str() && dest.estab == "LLLL",
    };
    if addressed {
        return Ok(());
    }
    let to = match (dest.la.as_str(), dest.estab.as_str()) {
        ("MMM", _) | (_, "MMMM") => {
            "no known school (MMM: for the lost pupils database)".to_owned()
        }
        ("XXX", _) | (_, "XXXX") => "a school outside the maintained sector (XXX)".to_owned(),
        (la, "LLLL") => format!("local authority {la}"),
        (la, estab) => match &dest.urn {
            Some(urn) => format!("school {la}/{estab} (URN {urn})"),
            None => format!("school {la}/{estab}"),
        },
    };
    Err(FileProblem::NotAddressedHere(format!(
        "the file is addressed to {to}, not to {}",
        me.describe()
    )))
}

/// How a node reads CTFs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtfSettings {
    /// Larger files are refused before they are read.
    pub max_bytes: u64,
    /// Whom this node receives files for.
    pub addressee: Addressee,
    /// The node's kind: records of categories it does not hold are listed as not mapped.
    pub holder: AgencyKind,
}

impl CtfSettings {
    /// A school node with the default size limit.
    pub fn school(addressee: Addressee) -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            addressee,
            holder: AgencyKind::School,
        }
    }
}

/// A CTF read: its header and an outcome for every pupil, in file order.
#[derive(Debug, Clone)]
pub struct CtfImport {
    pub header: CtfHeader,
    pub pupils: Vec<ChildOutcome>,
}

const FORMAT: &str = "a Common Transfer File";

/// Reads a CTF for the node `settings` describe. The file is refused whole (nothing of
/// it to store) when it is over the size limit, not well formed (truncated, a DTD, an
/// entity), not a CTF, of an unsupported version, has an invalid header, or is addressed
/// elsewhere. Otherwise every pupil has an outcome: imported, or failed with the path of
/// every invalid element; a failed pupil does not stop the others.
pub fn read_ctf(bytes: &[u8], settings: &CtfSettings) -> Result<CtfImport, FileProblem> {
    let envelope = Envelope {
        root: spec::ROOT,
        format: FORMAT,
        list: "CTFpupilData",
        item: "Pupil",
    };
    let (header, pupils) = envelope.read(
        bytes,
        settings.max_bytes,
        |node, path| {
            let header = read_header(node, path)?;
            check_addressee(&header, &settings.addressee)?;
            Ok(header)
        },
        |node, path, header| map::pupil(node, path, header, settings),
    )?;
    Ok(CtfImport { header, pupils })
}

fn read_header(node: &Node, path: &str) -> Result<CtfHeader, FileProblem> {
    // The version first: a file of another version is refused as such, not for the
    // header elements that version may lay out differently.
    let version_text = node.value("CTFversion").unwrap_or_default();
    let version = version_text
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .filter(|v| SUPPORTED_VERSIONS.contains(v));
    let Some(version) = version else {
        return Err(FileProblem::UnsupportedVersion {
            found: if version_text.is_empty() {
                "(none given)".to_owned()
            } else {
                version_text.to_owned()
            },
            format: "CTF",
            supported: SUPPORTED_VERSIONS
                .iter()
                .map(|v| format!("{v}.0"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let mut found = Findings::default();
    check(node, spec::HEADER, path, &mut found);
    if !found.problems.is_empty() {
        return Err(FileProblem::InvalidHeader(found.problems));
    }
    let school = |name: &str| {
        let s = node.child(name);
        CtfSchool {
            la: s
                .and_then(|s| s.value("LEA"))
                .unwrap_or_default()
                .to_owned(),
            estab: s
                .and_then(|s| s.value("Estab"))
                .unwrap_or_default()
                .to_owned(),
            urn: s.and_then(|s| s.value("URN")).map(str::to_owned),
            name: s.and_then(|s| s.value("SchoolName")).map(str::to_owned),
        }
    };
    let created = node
        .value("DateTime")
        .and_then(|t| crate::spec::date_time(t).ok())
        .unwrap_or_default();
    Ok(CtfHeader {
        version,
        created,
        qualifier: match node.value("DocumentQualifier") {
            Some("partial") => DocumentQualifier::Partial,
            _ => DocumentQualifier::Full,
        },
        supplier: node.value("SupplierID").map(str::to_owned),
        source: school("SourceSchool"),
        destination: school("DestSchool"),
        academic_year: node
            .child("SourceSchool")
            .and_then(|s| s.integer("AcademicYear")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(la: &str, estab: &str, urn: Option<&str>) -> CtfHeader {
        let school = |la: &str, estab: &str, urn: Option<&str>| CtfSchool {
            la: la.into(),
            estab: estab.into(),
            urn: urn.map(Into::into),
            name: None,
        };
        CtfHeader {
            version: 25,
            created: NaiveDateTime::default(),
            qualifier: DocumentQualifier::Full,
            supplier: None,
            source: school("999", "2001", None),
            destination: school(la, estab, urn),
            academic_year: None,
        }
    }

    #[test]
    fn a_school_takes_files_addressed_to_its_numbers_or_its_urn() {
        let me = Addressee::school("999", "4001", Some("999401")).unwrap();
        assert!(check_addressee(&header("999", "4001", None), &me).is_ok());
        assert!(check_addressee(&header("998", "0000", Some("999401")), &me).is_ok());
        let other = check_addressee(&header("999", "4002", Some("999402")), &me).unwrap_err();
        assert_eq!(other.code(), "import-not-addressed-here");
        assert!(
            other.to_string().contains("999/4002 (URN 999402)"),
            "{other}"
        );
        let la_file = check_addressee(&header("999", "LLLL", None), &me).unwrap_err();
        assert!(
            la_file.to_string().contains("local authority 999"),
            "{la_file}"
        );
        let lost = check_addressee(&header("MMM", "MMMM", None), &me).unwrap_err();
        assert!(lost.to_string().contains("lost pupils"), "{lost}");
    }

    #[test]
    fn an_authority_takes_la_level_files_for_itself_only() {
        let me = Addressee::LocalAuthority {
            la: LaCode::new("999").unwrap(),
        };
        assert!(check_addressee(&header("999", "LLLL", None), &me).is_ok());
        assert!(check_addressee(&header("998", "LLLL", None), &me).is_err());
        assert!(check_addressee(&header("999", "4001", None), &me).is_err());
    }

    #[test]
    fn an_addressee_is_built_from_checked_numbers() {
        assert!(Addressee::school("99", "4001", None).is_err());
        assert!(Addressee::school("999", "41", None).is_err());
        assert!(Addressee::school("999", "4001", Some("12")).is_err());
    }
}
