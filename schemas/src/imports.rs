//! What a node answers to a DfE file import (a Common Transfer File at a school node, a
//! children in need census at a social-care node): the file as read, and an outcome for
//! every pupil or child in it, in file order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One element of the file, by its path (`/CTfile/CTFpupilData/Pupil[3]/DOB`), and what
/// about it a person should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportElement {
    pub element: String,
    pub message: String,
}

/// What happened to one pupil or child of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// The child or at least one of its records was created or changed.
    Imported,
    /// The node already held the child and every record exactly as the file gives them
    /// (the same file imported again): nothing was written.
    Unchanged,
    /// Nothing of this child was stored: see `problems`.
    Failed,
}

/// One pupil or child of the file and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportedChildResult {
    /// The pupil's or child's element in the file.
    pub element: String,
    /// The UPN (CTF) or LA child id (census), where the file gives a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub outcome: ImportOutcome,
    /// The child's local id at this node: the id the node already held for the
    /// identifier, or the one the import gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// Whether the child was new to this node.
    #[serde(default)]
    pub child_created: bool,
    /// Records created or changed, and records already held as the file gives them.
    #[serde(default)]
    pub records_written: usize,
    #[serde(default)]
    pub records_unchanged: usize,
    /// Why the child failed: every element at fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ImportElement>,
    /// What the file holds for the child that was not stored, and why (a category this
    /// node does not hold, an element the specification tables do not have).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_mapped: Vec<ImportElement>,
}

/// The answer to an import: the file's header as read, counts, and one result per pupil
/// or child, in file order. A file refused whole is a problem+json instead, with nothing
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "format": "ctf", "version": "25", "qualifier": "full",
    "source": "999/2001 Northfield Primary School", "notified": false,
    "imported": 1, "unchanged": 0, "failed": 1,
    "children": [
        {"element": "/CTfile/CTFpupilData/Pupil[1]", "key": "A999000000017",
         "outcome": "imported", "local_id": "ctf-A999000000017", "child_created": true,
         "records_written": 6, "records_unchanged": 0},
        {"element": "/CTfile/CTFpupilData/Pupil[2]", "key": "A999000000025",
         "outcome": "failed", "child_created": false, "records_written": 0,
         "records_unchanged": 0,
         "problems": [{"element": "/CTfile/CTFpupilData/Pupil[2]/DOB",
                       "message": "must be a date (YYYY-MM-DD)"}]}
    ]
}))]
pub struct ImportReport {
    /// `ctf` or `cin_census`.
    pub format: String,
    /// The CTF version (`25`) or the census year (`2027` for 2026 to 2027).
    pub version: String,
    /// CTF only: `full` or `partial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// Who sent the file: the source school (LA/establishment and name) or the
    /// authority. Recorded with every record the file gives.
    pub source: String,
    /// Whether the import raised notification events (`?notify=true`).
    pub notified: bool,
    pub imported: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub children: Vec<ImportedChildResult>,
}
