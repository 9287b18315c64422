//! DfE file imports: a Common Transfer File at a school node, a children in need census
//! at a social-care node. The `dfe-formats` crate reads and checks the file and maps it
//! onto the vocabulary; this module decides where each child goes at this node and
//! stores it with the integration face's own writes (`crate::writes`), one audit entry
//! per write, so an import is the same as the agency's system writing each child.
//!
//! A child is stored whole or not at all: its upsert and its records share a savepoint.
//! A child or record the node already holds exactly as the file gives it is not written
//! again, so the same file twice changes nothing (no new version, no audit entry, no
//! event).

use crate::db::records::Expect;
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::writes::{self, Write, Writer};
use dfe_formats::{Addressee, ChildOutcome, CinSettings, CtfSettings, ElementProblem};
use diesel::Connection;
use schemas::{
    AgencyKind, ChildUpsert, ImportElement, ImportOutcome, ImportReport, ImportedChildResult,
};
use serde::Deserialize;

/// The `[imports]` section of a node's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    /// Larger files are refused before they are read (default 256 MiB: see
    /// `docs/imports.md` for why).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// The local authority number (3 digits). A school's own authority; for a social-care
    /// node, the authority whose census it imports; for another node of the authority,
    /// the authority LA-level CTFs (`DestSchool` `Estab` `LLLL`) are addressed to.
    pub la: String,
    /// School nodes: the establishment number (4 digits) a CTF's `DestSchool` names
    /// this school by.
    #[serde(default)]
    pub estab: Option<String>,
    /// School nodes: the school's URN (6 digits), which a CTF may name instead.
    #[serde(default)]
    pub urn: Option<String>,
}

fn default_max_bytes() -> u64 {
    dfe_formats::ctf::DEFAULT_MAX_BYTES
}

/// What a node takes, worked out once at start from its kind and `[imports]`.
#[derive(Debug, Clone, Default)]
pub struct Imports {
    pub ctf: Option<CtfSettings>,
    pub cin: Option<CinSettings>,
    /// The most any import may send, for reading the body.
    pub max_bytes: u64,
}

impl Imports {
    /// This school's own URN, from its `[imports]` section (none for other kinds, or a
    /// school that did not give one).
    pub fn own_urn(&self) -> Option<&schemas::details::Urn> {
        match self.ctf.as_ref().map(|c| &c.addressee) {
            Some(Addressee::School { urn, .. }) => urn.as_ref(),
            _ => None,
        }
    }

    /// Checks the section against the node's kind: a school needs its establishment
    /// number; the census is for social care only.
    pub fn new(kind: AgencyKind, settings: Option<&ImportSettings>) -> Result<Self, String> {
        let Some(s) = settings else {
            return Ok(Self::default());
        };
        if s.max_bytes == 0 {
            return Err("[imports] max_bytes must be more than 0".into());
        }
        let la = schemas::details::LaCode::new(&s.la)
            .ok_or("[imports] la is the 3-digit local authority number")?;
        let addressee = match (kind, &s.estab) {
            (AgencyKind::School, Some(estab)) => Addressee::school(&s.la, estab, s.urn.as_deref())
                .map_err(|e| format!("[imports] {e}"))?,
            (AgencyKind::School, None) => {
                return Err("[imports] a school node needs estab, its establishment number".into());
            }
            (_, Some(_)) => return Err("[imports] estab and urn are for school nodes".into()),
            (_, None) => Addressee::LocalAuthority { la: la.clone() },
        };
        let ctf = CtfSettings {
            max_bytes: s.max_bytes,
            addressee,
            holder: kind,
        };
        let cin = (kind == AgencyKind::SocialCare).then_some(CinSettings {
            max_bytes: s.max_bytes,
            la,
            holder: kind,
        });
        Ok(Self {
            ctf: Some(ctf),
            cin,
            max_bytes: s.max_bytes,
        })
    }
}

/// The file's header as the report gives it.
pub struct FileFacts {
    pub format: &'static str,
    pub version: String,
    pub qualifier: Option<String>,
    pub source: String,
}

/// Stores every child the file gives, each whole or not at all, and reports each in
/// file order. Call it inside the write transaction ([`db::write_with`]).
pub fn store(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    facts: FileFacts,
    outcomes: &[ChildOutcome],
) -> Result<ImportReport, ApiError> {
    let mut children = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let result = match outcome {
            ChildOutcome::Failed(failed) => ImportedChildResult {
                element: failed.element.clone(),
                key: failed.key.clone(),
                outcome: ImportOutcome::Failed,
                local_id: None,
                child_created: false,
                records_written: 0,
                records_unchanged: 0,
                problems: elements(&failed.problems),
                not_mapped: Vec::new(),
            },
            ChildOutcome::Imported(child) => {
                let key = child
                    .identifiers
                    .upn
                    .as_ref()
                    .map(|u| u.as_str().to_owned())
                    .or_else(|| Some(child.local_id.clone()));
                let mut result = ImportedChildResult {
                    element: child.element.clone(),
                    key,
                    outcome: ImportOutcome::Failed,
                    local_id: None,
                    child_created: false,
                    records_written: 0,
                    records_unchanged: 0,
                    problems: Vec::new(),
                    not_mapped: elements(&child.not_mapped),
                };
                let upsert = child.to_child_upsert();
                // A savepoint per child: a failure undoes that child only.
                let stored =
                    conn.transaction(|c| store_child(c, writer, child, &upsert, &mut result));
                if let Err(e) = stored {
                    result.records_written = 0;
                    result.records_unchanged = 0;
                    result.child_created = false;
                    result.local_id = None;
                    result.problems.push(e.report(&child.element));
                }
                result
            }
        };
        children.push(result);
    }
    let count = |o: ImportOutcome| children.iter().filter(|c| c.outcome == o).count();
    Ok(ImportReport {
        format: facts.format.to_owned(),
        version: facts.version,
        qualifier: facts.qualifier,
        source: facts.source,
        notified: writer.raise_events,
        imported: count(ImportOutcome::Imported),
        unchanged: count(ImportOutcome::Unchanged),
        failed: count(ImportOutcome::Failed),
        children,
    })
}

/// One child: which local id it has here, its upsert unless already held as given, and
/// each record unless already held as given.
fn store_child(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    child: &dfe_formats::ImportedChild,
    upsert: &ChildUpsert,
    result: &mut ImportedChildResult,
) -> Result<(), ChildFailure> {
    let local_id = local_id_for(conn, child)?;
    writes::check_local_id(&local_id)?;
    let held = db::children::find_by_local_id(conn, &local_id)?;
    let same_child = match held {
        Some(row) => {
            let wire = row.into_wire()?;
            same_json(&wire.demographics, &upsert.demographics)
                && same_json(&wire.identifiers, &upsert.identifiers)
        }
        None => false,
    };
    let mut changed = false;
    if !same_child {
        let write = Write::Child {
            local_id: &local_id,
            child: upsert,
        };
        writes::validate(&write)?;
        if let writes::Written::Child(_, created) = writes::apply(conn, writer, &write)? {
            result.child_created = created;
        }
        changed = true;
    }
    for imported in &child.records {
        let record = &imported.record;
        let held = db::records::find_by_source_id(conn, record.source_system_id())?;
        if held.is_some_and(|row| row.retracted_at.is_none() && same_record(&row, record)) {
            result.records_unchanged += 1;
            continue;
        }
        let write = Write::Record {
            local_id: &local_id,
            record,
            expect: Expect::Anything,
        };
        writes::apply(conn, writer, &write).map_err(ChildFailure::at(&imported.element))?;
        result.records_written += 1;
        changed = true;
    }
    result.outcome = if changed {
        ImportOutcome::Imported
    } else {
        ImportOutcome::Unchanged
    };
    result.local_id = Some(local_id);
    Ok(())
}

/// The local id the child has here: the one already held for its UPN, where the node
/// holds exactly one child with it; otherwise the id the file suggests.
fn local_id_for(
    conn: &mut DbConnection,
    child: &dfe_formats::ImportedChild,
) -> Result<String, ApiError> {
    if let Some(upn) = &child.identifiers.upn {
        let held = db::children::find_by_upn(conn, upn.as_str())?;
        if let [only] = held.as_slice() {
            return Ok(only.local_id.clone());
        }
    }
    Ok(child.local_id.clone())
}

fn same_json<A: serde::Serialize, B: serde::Serialize>(a: &A, b: &B) -> bool {
    matches!((serde_json::to_value(a), serde_json::to_value(b)), (Ok(x), Ok(y)) if x == y)
}

fn same_record(row: &db::models::RecordRow, record: &schemas::CheckedRecord) -> bool {
    let stored: Option<serde_json::Value> = serde_json::from_str(&row.details).ok();
    row.category == record.category().as_str()
        && row.effective_from == record.effective_from()
        && row.effective_to == record.effective_to()
        && row.impact == record.impact().trim()
        && stored.is_some_and(|s| same_json(&s, record.details()))
}

fn elements(problems: &[ElementProblem]) -> Vec<ImportElement> {
    problems
        .iter()
        .map(|p| ImportElement {
            element: p.path.clone(),
            message: p.message.clone(),
        })
        .collect()
}

/// Why a child could not be stored: what the node said, and the element whose write it
/// refused (the child's own element when none).
struct ChildFailure {
    element: Option<String>,
    error: ApiError,
}

impl From<ApiError> for ChildFailure {
    fn from(error: ApiError) -> Self {
        Self {
            element: None,
            error,
        }
    }
}

impl From<db::DbError> for ChildFailure {
    fn from(error: db::DbError) -> Self {
        ApiError::from(error).into()
    }
}

// The savepoint's own failures.
impl From<diesel::result::Error> for ChildFailure {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::from(error).into()
    }
}

impl ChildFailure {
    fn at(element: &str) -> impl FnOnce(ApiError) -> Self {
        let element = element.to_owned();
        move |error| Self {
            element: Some(element),
            error,
        }
    }

    fn report(self, child_element: &str) -> ImportElement {
        let problem = self.error.problem();
        let mut message = problem.title;
        if let Some(detail) = problem.detail {
            message.push_str(": ");
            message.push_str(&detail);
        }
        for e in &problem.errors {
            message.push_str(&format!("; {}: {}", e.field, e.message));
        }
        ImportElement {
            element: self.element.unwrap_or_else(|| child_element.to_owned()),
            message,
        }
    }
}
