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
///
/// Children the node does not hold yet, with records it does not hold yet (a first
/// import), are written together through the bulk path ([`writes::apply_prepared`], in
/// chunks of a batch's size, each chunk's children prepared while the one before is
/// written: multi-row statements, one audit entry per write as ever). The others (a child held
/// already, a record to compare with what is held, a local id twice in the file) are
/// compared and written one child at a time, each in a savepoint, after them.
pub fn store(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    facts: FileFacts,
    outcomes: &[ChildOutcome],
) -> Result<ImportReport, ApiError> {
    use std::collections::{HashMap, HashSet};
    let imported: Vec<&dfe_formats::ImportedChild> = outcomes
        .iter()
        .filter_map(|o| match o {
            ChildOutcome::Imported(child) => Some(&**child),
            ChildOutcome::Failed(_) => None,
        })
        .collect();
    let local_ids = local_ids_for(conn, &imported)?;
    let held_children = db::children::by_local_ids(
        conn,
        &local_ids.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let sources: Vec<&str> = imported
        .iter()
        .flat_map(|c| c.records.iter().map(|r| r.record.source_system_id()))
        .collect();
    let held_sources = db::records::held_source_ids(conn, &sources)?;

    // Which children go the bulk way: new here, with new records, their local id once.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut twice: HashSet<&str> = HashSet::new();
    for local_id in &local_ids {
        if !seen.insert(local_id) {
            twice.insert(local_id);
        }
    }
    let upserts: Vec<ChildUpsert> = imported.iter().map(|c| c.to_child_upsert()).collect();
    let mut bulk: Vec<usize> = Vec::new();
    let mut results: Vec<Option<ImportedChildResult>> = vec![None; imported.len()];
    for (i, child) in imported.iter().enumerate() {
        let local_id = local_ids[i].as_str();
        let write = Write::Child {
            local_id,
            child: &upserts[i],
        };
        if let Err(e) = writes::validate(&write) {
            let mut result = child_result(child);
            result
                .problems
                .push(ChildFailure::from(e).report(&child.element));
            results[i] = Some(result);
            continue;
        }
        let new_here = !held_children.contains_key(local_id)
            && !twice.contains(local_id)
            && child
                .records
                .iter()
                .all(|r| !held_sources.contains(r.record.source_system_id()));
        if new_here {
            bulk.push(i);
        }
    }

    // The bulk part: each child's upsert, then its records.
    let mut writes_of: Vec<Write<'_>> = Vec::new();
    let mut owner: Vec<(usize, Option<&str>)> = Vec::new();
    for &i in &bulk {
        writes_of.push(Write::Child {
            local_id: &local_ids[i],
            child: &upserts[i],
        });
        owner.push((i, None));
        for r in &imported[i].records {
            writes_of.push(Write::Record {
                local_id: &local_ids[i],
                record: &r.record,
                expect: Expect::Anything,
            });
            owner.push((i, Some(r.element.as_str())));
        }
    }
    // In chunks, as a batch writes: chunk k+1's children prepared (rows, keyed
    // encodings) on the other core while chunk k is written. One transaction still (the
    // caller's): the file is stored whole.
    let key = writer.matching_key;
    let form = crate::db::keyed::Form::of(conn);
    let written: Vec<_> = crate::db::loading(conn, |conn| {
        crate::parallel::pipeline(
            writes_of
                .chunks(crate::routes::records::BATCH_CHUNK)
                .collect(),
            |chunk, beside| (chunk, writes::prepare(chunk, key, form, beside)),
            |(chunk, prepared)| writes::apply_prepared(conn, writer, chunk, prepared?),
        )
    })?
    .into_iter()
    .flatten()
    .collect();
    let mut by_child: HashMap<usize, ImportedChildResult> = HashMap::new();
    for ((i, element), outcome) in owner.into_iter().zip(written) {
        let child = imported[i];
        let result = by_child.entry(i).or_insert_with(|| {
            let mut r = child_result(child);
            r.outcome = ImportOutcome::Imported;
            r.local_id = Some(local_ids[i].clone());
            r
        });
        match outcome {
            Ok(writes::Written::Child(_, created)) => result.child_created = created,
            Ok(_) => result.records_written += 1,
            // The child's own write failed: its records found no child, which says no more.
            Err(ApiError::ChildNotFound) if result.outcome == ImportOutcome::Failed => {}
            Err(e) => {
                result.outcome = ImportOutcome::Failed;
                result.problems.push(
                    ChildFailure {
                        element: element.map(str::to_owned),
                        error: e,
                    }
                    .report(&child.element),
                );
            }
        }
    }
    for (i, mut result) in by_child {
        if result.outcome == ImportOutcome::Failed {
            result.local_id = None;
            result.child_created = false;
            result.records_written = 0;
        }
        results[i] = Some(result);
    }

    // The rest one child at a time, compared with what is held.
    for (i, child) in imported.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        let mut result = child_result(child);
        // A savepoint per child: a failure undoes that child only.
        let stored = conn.transaction(|c| {
            store_child(c, writer, child, &local_ids[i], &upserts[i], &mut result)
        });
        if let Err(e) = stored {
            result.records_written = 0;
            result.records_unchanged = 0;
            result.child_created = false;
            result.local_id = None;
            result.outcome = ImportOutcome::Failed;
            result.problems.push(e.report(&child.element));
        }
        results[i] = Some(result);
    }

    let mut results = results.into_iter().flatten();
    let mut children = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        children.push(match outcome {
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
            ChildOutcome::Imported(_) => results.next().ok_or(ApiError::Internal)?,
        });
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

/// A child's result before anything is written: failed until stored.
fn child_result(child: &dfe_formats::ImportedChild) -> ImportedChildResult {
    ImportedChildResult {
        element: child.element.clone(),
        key: child
            .identifiers
            .upn
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .or_else(|| Some(child.local_id.clone())),
        outcome: ImportOutcome::Failed,
        local_id: None,
        child_created: false,
        records_written: 0,
        records_unchanged: 0,
        problems: Vec::new(),
        not_mapped: elements(&child.not_mapped),
    }
}

/// One child: which local id it has here, its upsert unless already held as given, and
/// each record unless already held as given.
fn store_child(
    conn: &mut DbConnection,
    writer: &Writer<'_>,
    child: &dfe_formats::ImportedChild,
    local_id: &str,
    upsert: &ChildUpsert,
    result: &mut ImportedChildResult,
) -> Result<(), ChildFailure> {
    writes::check_local_id(local_id)?;
    let held = db::children::find_by_local_id(conn, local_id)?;
    // The child's other UPNs here: a record the sender keyed by one of them is the
    // same record (the sender's ids carry the UPN, which changed).
    let mut known_as: Vec<String> = Vec::new();
    let mut held_id: Option<String> = None;
    let mut older = false;
    let (upsert, same_child) = match held {
        Some(row) => {
            held_id = Some(row.id.clone());
            let wire = row.into_wire()?;
            older = is_older(&wire, upsert);
            known_as.extend(
                wire.identifiers
                    .upn
                    .iter()
                    .chain(&wire.identifiers.former_upns)
                    .filter(|u| Some(*u) != upsert.identifiers.upn.as_ref())
                    .map(|u| u.as_str().to_owned()),
            );
            let merged = onto_held(&wire, upsert);
            let same = same_json(&wire.demographics, &merged.demographics)
                && same_json(&wire.identifiers, &merged.identifiers);
            (std::borrow::Cow::Owned(merged), same)
        }
        None => (std::borrow::Cow::Borrowed(upsert), false),
    };
    let mut changed = false;
    if !same_child {
        let write = Write::Child {
            local_id,
            child: &upsert,
        };
        writes::validate(&write)?;
        if let writes::Written::Child(_, created) = writes::apply(conn, writer, &write)? {
            result.child_created = created;
        }
        changed = true;
    }
    for imported in &child.records {
        let record = match (&held_id, &child.identifiers.upn) {
            (Some(child_id), Some(upn)) if !known_as.is_empty() => {
                under_held_id(conn, child_id, &imported.record, upn.as_str(), &known_as)?
            }
            _ => None,
        };
        let record = record.as_ref().unwrap_or(&imported.record);
        let held = db::records::find_by_source_id(conn, record.source_system_id())?;
        if held.is_some() && older {
            // An older file does not overwrite what a newer one (or the agency) gave.
            if !held.as_ref().is_some_and(|row| same_record(row, record)) {
                result.not_mapped.push(ImportElement {
                    element: imported.element.clone(),
                    message: "differs from the record held, which is kept: the file names \
                              the pupil by a UPN the pupil has since left"
                        .into(),
                });
            }
            result.records_unchanged += 1;
            continue;
        }
        if held.is_some_and(|row| row.retracted_at.is_none() && same_record(&row, record)) {
            result.records_unchanged += 1;
            continue;
        }
        let write = Write::Record {
            local_id,
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
    result.local_id = Some(local_id.to_owned());
    Ok(())
}

/// The local id each child has here: the one of the child already held with its UPN,
/// where the node holds exactly one; otherwise the one of the child held with its former
/// UPN as its UPN (the same pupil, given a new UPN), where exactly one; otherwise the one
/// of the child holding the file's UPN, then its former UPN, among its own former UPNs
/// (an older file of a pupil whose UPN has changed since), where exactly one; otherwise
/// the id the file suggests.
fn local_ids_for(
    conn: &mut DbConnection,
    children: &[&dfe_formats::ImportedChild],
) -> Result<Vec<String>, ApiError> {
    use std::collections::HashMap;
    let upns: Vec<&str> = children
        .iter()
        .flat_map(|c| [&c.identifiers.upn, &c.identifiers.former_upn])
        .filter_map(|u| u.as_ref().map(|u| u.as_str()))
        .collect();
    let group = |holders: db::children::Holders| {
        let mut held: HashMap<String, Vec<String>> = HashMap::new();
        for (upn, local_id) in holders {
            let ids = held.entry(upn).or_default();
            if !ids.contains(&local_id) {
                ids.push(local_id);
            }
        }
        held
    };
    let (current, _) = db::children::identifier_holders(conn, &upns, &[])?;
    let current = group(current);
    let former = group(db::children::former_upn_holders(conn, &upns)?);
    let only = |held: &HashMap<String, Vec<String>>, upn: &Option<schemas::Upn>| match upn
        .as_ref()
        .and_then(|u| held.get(u.as_str()))
    {
        Some(ids) if ids.len() == 1 => Some(ids[0].clone()),
        _ => None,
    };
    Ok(children
        .iter()
        .map(|c| {
            let ids = &c.identifiers;
            only(&current, &ids.upn)
                .or_else(|| only(&current, &ids.former_upn))
                .or_else(|| only(&former, &ids.upn))
                .or_else(|| only(&former, &ids.former_upn))
                .unwrap_or_else(|| c.local_id.clone())
        })
        .collect())
}

/// Whether the file is older than what the node holds of the child: it names the child
/// by a UPN the node holds as one of the child's former UPNs.
fn is_older(held: &schemas::Child, file: &ChildUpsert) -> bool {
    file.identifiers
        .upn
        .as_ref()
        .is_some_and(|u| held.identifiers.former_upns.contains(u))
}

/// What a child the node holds already becomes: what the file gives, and what the node
/// holds where the file is silent (a census gives no names, neither file an NHS number),
/// so an import never takes away what the agency's own system wrote. A way the child was
/// known by stays: the held UPN, when the file gives another, joins the former UPNs, and
/// former UPNs and family names are kept with the file's (the file's first; at most
/// [`schemas::child::FORMER_MAX`]). A file whose UPN the node holds as a *former* UPN of
/// the child is older than what the node holds: it fills gaps only.
pub fn onto_held(held: &schemas::Child, file: &ChildUpsert) -> ChildUpsert {
    use schemas::child::FORMER_MAX;
    let (h, f) = (&held.demographics, &file.demographics);
    let older = is_older(held, file);
    // The newer statement first; the other fills what it lacks.
    let pick = |file: &Option<String>, held: &Option<String>| {
        if older {
            held.clone().or_else(|| file.clone())
        } else {
            file.clone().or_else(|| held.clone())
        }
    };
    let known_sex = |s: Option<schemas::Sex>| s.filter(|s| *s != schemas::Sex::Unknown);
    let sex = if older {
        known_sex(h.sex).or(known_sex(f.sex))
    } else {
        known_sex(f.sex).or(known_sex(h.sex))
    }
    .or(f.sex)
    .or(h.sex);
    let upn = if older {
        held.identifiers.upn.clone()
    } else {
        file.identifiers
            .upn
            .clone()
            .or_else(|| held.identifiers.upn.clone())
    };
    // Newest first: a newer file's former UPNs, then the UPN held until now, then those
    // held before it; for an older file, the held ones, then the file's own.
    let (fi, hi) = (&file.identifiers, &held.identifiers);
    let ways: Vec<&schemas::Upn> = if older {
        hi.former_upns
            .iter()
            .chain(&fi.upn)
            .chain(&fi.former_upns)
            .collect()
    } else {
        fi.former_upns
            .iter()
            .chain(&hi.upn)
            .chain(&hi.former_upns)
            .collect()
    };
    let mut former_upns: Vec<schemas::Upn> = Vec::new();
    for u in ways {
        if Some(u) != upn.as_ref() && !former_upns.contains(u) {
            former_upns.push(u.clone());
        }
    }
    former_upns.truncate(FORMER_MAX);
    let mut former_names: Vec<String> = Vec::new();
    let names_in_order = if older {
        [&h.former_family_names, &f.former_family_names]
    } else {
        [&f.former_family_names, &h.former_family_names]
    };
    for name in names_in_order.into_iter().flatten() {
        if !former_names.contains(name) {
            former_names.push(name.clone());
        }
    }
    former_names.truncate(FORMER_MAX);
    ChildUpsert {
        demographics: schemas::KnownDemographics {
            given_name: pick(&f.given_name, &h.given_name),
            family_name: pick(&f.family_name, &h.family_name),
            date_of_birth: if older {
                h.date_of_birth.or(f.date_of_birth)
            } else {
                f.date_of_birth.or(h.date_of_birth)
            },
            sex,
            postcode: pick(&f.postcode, &h.postcode),
            preferred_given_name: pick(&f.preferred_given_name, &h.preferred_given_name),
            preferred_family_name: pick(&f.preferred_family_name, &h.preferred_family_name),
            former_family_names: former_names,
        },
        identifiers: schemas::ChildIdentifiers {
            upn,
            nhs_number: if older {
                hi.nhs_number.clone().or_else(|| fi.nhs_number.clone())
            } else {
                fi.nhs_number.clone().or_else(|| hi.nhs_number.clone())
            },
            former_upns,
        },
    }
}

/// The record under the id this child's record already has here, where the sender
/// keyed it by another of the child's UPNs (`ctf-<sender>-<UPN>-…`) and the node holds
/// it by that one and not by the file's: so a pupil whose UPN changed keeps one record
/// per element, not two.
fn under_held_id(
    conn: &mut DbConnection,
    child_id: &str,
    record: &schemas::CheckedRecord,
    upn: &str,
    known_as: &[String],
) -> Result<Option<schemas::CheckedRecord>, ApiError> {
    let id = record.source_system_id();
    let part = format!("-{upn}-");
    if !id.contains(&part) || db::records::find_by_source_id(conn, id)?.is_some() {
        return Ok(None);
    }
    for other in known_as {
        let alternative = id.replacen(&part, &format!("-{other}-"), 1);
        if db::records::find_by_source_id(conn, &alternative)?
            .is_some_and(|r| r.child_id == child_id)
        {
            return Ok(record.rekeyed(&alternative));
        }
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use schemas::{Child, ChildIdentifiers, KnownDemographics, NhsNumber, Sex, Upn};

    fn upn(n: u32) -> Upn {
        Upn::with_check_letter(&format!("999{n:09}")).unwrap()
    }

    /// The child as the agency's own system wrote it: names, an NHS number, a preferred
    /// name, UPN 1 (after UPN 9).
    fn held() -> Child {
        Child {
            local_id: "MIS-7".into(),
            demographics: KnownDemographics {
                given_name: Some("Amelia".into()),
                family_name: Some("Okafor".into()),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(2014, 3, 9),
                sex: Some(Sex::Female),
                preferred_given_name: Some("Millie".into()),
                former_family_names: vec!["Stone".into()],
                ..Default::default()
            },
            identifiers: ChildIdentifiers {
                upn: Some(upn(1)),
                nhs_number: NhsNumber::with_check_digit("996000001"),
                former_upns: vec![upn(9)],
            },
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_newer_file_gives_its_values_and_keeps_the_held_upn_as_a_former_one() {
        let file = ChildUpsert {
            demographics: KnownDemographics {
                given_name: Some("Amelia".into()),
                family_name: Some("Okafor-Reyes".into()),
                former_family_names: vec!["Okafor".into()],
                sex: Some(Sex::Unknown),
                ..Default::default()
            },
            identifiers: ChildIdentifiers {
                upn: Some(upn(2)),
                former_upns: vec![upn(1)],
                ..Default::default()
            },
        };
        let merged = onto_held(&held(), &file);
        let d = &merged.demographics;
        assert_eq!(d.family_name.as_deref(), Some("Okafor-Reyes"));
        assert_eq!(d.former_family_names, ["Okafor", "Stone"]);
        // What the file is silent on stays as the agency wrote it.
        assert_eq!(d.preferred_given_name.as_deref(), Some("Millie"));
        assert_eq!(d.date_of_birth, held().demographics.date_of_birth);
        assert_eq!(d.sex, Some(Sex::Female), "an unknown sex says nothing");
        let ids = &merged.identifiers;
        assert_eq!(ids.upn, Some(upn(2)));
        assert_eq!(ids.former_upns, [upn(1), upn(9)]);
        assert_eq!(ids.nhs_number, held().identifiers.nhs_number);
        assert!(merged.validate().is_empty(), "{:?}", merged.validate());
    }

    #[test]
    fn an_older_file_under_a_former_upn_only_fills_gaps() {
        let file = ChildUpsert {
            demographics: KnownDemographics {
                given_name: Some("Amy".into()),
                family_name: Some("Okafor".into()),
                postcode: Some("ZZ1 1AB".into()),
                former_family_names: vec!["Brightwater".into()],
                ..Default::default()
            },
            identifiers: ChildIdentifiers {
                upn: Some(upn(9)),
                former_upns: vec![upn(8)],
                ..Default::default()
            },
        };
        let merged = onto_held(&held(), &file);
        assert_eq!(
            merged.identifiers.upn,
            Some(upn(1)),
            "the UPN stays current"
        );
        assert_eq!(merged.identifiers.former_upns, [upn(9), upn(8)]);
        let d = &merged.demographics;
        assert_eq!(d.given_name.as_deref(), Some("Amelia"));
        assert_eq!(d.postcode.as_deref(), Some("ZZ1 1AB"));
        assert_eq!(d.former_family_names, ["Stone", "Brightwater"]);
    }

    #[test]
    fn the_held_child_again_is_the_held_child_and_former_lists_stay_within_bounds() {
        let child = held();
        let same = ChildUpsert {
            demographics: child.demographics.clone(),
            identifiers: child.identifiers.clone(),
        };
        let merged = onto_held(&child, &same);
        assert_eq!(merged.demographics, child.demographics);
        assert_eq!(merged.identifiers, child.identifiers);

        let mut many = held();
        many.identifiers.former_upns = (10..20).map(upn).collect();
        many.demographics.former_family_names = (0..10).map(|k| format!("Name-{k}")).collect();
        let file = ChildUpsert {
            demographics: KnownDemographics {
                former_family_names: vec!["Newest".into()],
                ..Default::default()
            },
            identifiers: ChildIdentifiers {
                upn: Some(upn(3)),
                ..Default::default()
            },
        };
        let merged = onto_held(&many, &file);
        assert_eq!(
            merged.identifiers.former_upns.len(),
            schemas::child::FORMER_MAX
        );
        assert_eq!(merged.identifiers.former_upns[0], upn(1));
        assert_eq!(merged.demographics.former_family_names[0], "Newest");
        assert!(merged.validate().is_empty(), "{:?}", merged.validate());
    }
}
