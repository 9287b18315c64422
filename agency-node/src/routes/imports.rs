//! Integration face: the DfE files agencies already export, imported as they come (a
//! Common Transfer File from any school MIS, the children in need census from any
//! social-care system). `docs/imports.md` maps each element.

use crate::auth::IntegrationClient;
use crate::error::ApiError;
use crate::imports::{self, FileFacts};
use crate::routes::children::with_writer;
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use dfe_formats::FileProblem;
use schemas::{ImportReport, Problem};
use serde::Deserialize;
use utoipa::IntoParams;

/// The shape of a CTF (abridged: one pupil, a few of its elements).
const CTF_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CTfile>
  <Header>
    <DocumentName>Common Transfer File</DocumentName>
    <CTFversion>26.0</CTFversion>
    <DateTime>2026-07-15T10:30:00</DateTime>
    <DocumentQualifier>full</DocumentQualifier>
    <SourceSchool><LEA>999</LEA><Estab>2001</Estab><URN>999201</URN><SchoolName>Brookside Primary</SchoolName><AcademicYear>2025</AcademicYear></SourceSchool>
    <DestSchool><LEA>999</LEA><Estab>1101</Estab><URN>999101</URN></DestSchool>
  </Header>
  <CTFpupilData>
    <Pupil>
      <UPN>A999000000017</UPN><Surname>Okafor</Surname><Forename>Amelia</Forename>
      <DOB>2014-03-09</DOB><Sex>F</Sex>
      <Attendance><YearData><Year>2025</Year><SessionsPossible>360</SessionsPossible><SessionsAuthorised>12</SessionsAuthorised><SessionsAttended>330</SessionsAttended><SessionsUnauthorised>18</SessionsUnauthorised></YearData></Attendance>
    </Pupil>
  </CTFpupilData>
</CTfile>"#;

/// The shape of a children in need census return (abridged: one child).
const CIN_EXAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <CollectionDetails><Collection>CIN</Collection><Year>2027</Year><ReferenceDate>2027-03-31</ReferenceDate></CollectionDetails>
    <Source><SourceLevel>L</SourceLevel><LEA>999</LEA><SoftwareCode>Case system</SoftwareCode><Release>1</Release><SerialNo>1</SerialNo><DateTime>2027-04-20T09:00:00</DateTime></Source>
  </Header>
  <Children>
    <Child>
      <ChildIdentifiers><LAchildID>C000017</LAchildID><UPN>A999000000017</UPN><PersonBirthDate>2014-03-09</PersonBirthDate><Sex>F</Sex></ChildIdentifiers>
    </Child>
  </Children>
</Message>"#;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Raise notification events for what the file creates or changes, as the agency's
    /// own writes would. Off by default: a load is not a storm of "new" events.
    #[serde(default)]
    pub notify: bool,
}

/// Import a Common Transfer File (CTF 23 to 26), as a school MIS exports it.
///
/// The file must be addressed to this school (`DestSchool`: its LA and establishment
/// numbers, or its URN), or to this authority for an LA-level file; otherwise it is
/// refused whole and nothing is stored. Full and partial files are read. Each pupil
/// becomes a child (UPN, names, date of birth, sex, postcode) with records: attendance,
/// SEN, looked-after status, free school meals and pupil premium, school history (as
/// enrolments) and key stage results. A pupil with an invalid element fails alone, named
/// by the element's path; the rest are stored. Importing the same file again changes
/// nothing. Send the file as the body (`Content-Type: application/xml`).
#[utoipa::path(
    tag = "integration",
    params(ImportQuery),
    request_body(content = String, content_type = "application/xml", description = "The CTF, as the MIS wrote it", example = json!(CTF_EXAMPLE)),
    responses(
        (status = 200, description = "An outcome per pupil, in file order", body = ImportReport),
        (status = 400, description = "Not a CTF this node reads (malformed, a DTD or entity, wrong root, version or header): nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over this node's import limit: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Addressed to another school or authority: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This node takes no imports (no `[imports]` section)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/imports/ctf")]
pub async fn import_ctf(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state
        .imports
        .ctf
        .clone()
        .ok_or(ApiError::NotConfigured("[imports]"))?;
    let bytes = read_file(&req, body, state.imports.max_bytes).await?;
    run(&state, &caller, &req, query.notify, move || {
        let file = dfe_formats::read_ctf(&bytes, &settings)?;
        let h = &file.header;
        let source = match &h.source.name {
            Some(name) => format!("{}/{} {name}", h.source.la, h.source.estab),
            None => format!("{}/{}", h.source.la, h.source.estab),
        };
        let facts = FileFacts {
            format: "ctf",
            version: h.version.to_string(),
            qualifier: Some(
                match h.qualifier {
                    dfe_formats::ctf::DocumentQualifier::Full => "full",
                    dfe_formats::ctf::DocumentQualifier::Partial => "partial",
                }
                .to_owned(),
            ),
            source,
        };
        Ok((facts, file.pupils))
    })
    .await
}

/// Import a children in need census return (2025 to 2026, 2026 to 2027).
///
/// For a social-care node: the census of its own authority (`Source/LEA`), as the case
/// system produced it for the DfE. Each child becomes a child of this node (by the LA
/// child id; the census carries no names) with its referrals, assessments, section 47
/// enquiries, plans and characteristics as records. A child with an invalid element fails
/// alone, named by the element's path; the rest are stored. Importing the same file
/// again changes nothing.
#[utoipa::path(
    tag = "integration",
    params(ImportQuery),
    request_body(content = String, content_type = "application/xml", description = "The census return, as the case system wrote it", example = json!(CIN_EXAMPLE)),
    responses(
        (status = 200, description = "An outcome per child, in file order", body = ImportReport),
        (status = 400, description = "Not a census this node reads: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a social-care node", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over this node's import limit: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Another authority's census: nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This node takes no imports (no `[imports]` section)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("mutual_tls" = []))
)]
#[post("/v1/imports/cin-census")]
pub async fn import_cin_census(
    caller: IntegrationClient,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if state.agency_kind != schemas::AgencyKind::SocialCare {
        return Err(ApiError::Forbidden(format!(
            "the children in need census is imported at the authority's social-care node; this is a {} node",
            state.agency_kind.as_str()
        )));
    }
    let settings = state
        .imports
        .cin
        .clone()
        .ok_or(ApiError::NotConfigured("[imports]"))?;
    let bytes = read_file(&req, body, state.imports.max_bytes).await?;
    run(&state, &caller, &req, query.notify, move || {
        let file = dfe_formats::read_cin_census(&bytes, &settings)?;
        let facts = FileFacts {
            format: "cin_census",
            version: file.header.year.to_string(),
            qualifier: None,
            source: format!("local authority {}", file.header.la),
        };
        Ok((facts, file.children))
    })
    .await
}

/// Reads the body up to the node's limit. A declared length over it is refused before
/// anything is read; an undeclared one when the limit is passed.
async fn read_file(
    req: &HttpRequest,
    body: web::Payload,
    limit: u64,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared.filter(|size| *size > limit) {
        return Err(FileProblem::TooLarge { size, limit }.into());
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match body.to_bytes_limited(cap).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(FileProblem::TooLarge {
            size: limit.saturating_add(1),
            limit,
        }
        .into()),
        Err(_) => Err(ApiError::Invalid(vec![schemas::FieldError::new(
            "body",
            "the upload broke off before the end of the file",
        )])),
    }
}

/// Reads the file (refused whole, or an outcome per child) and stores it in one write,
/// off the async threads.
async fn run(
    state: &web::Data<AppState>,
    caller: &IntegrationClient,
    req: &HttpRequest,
    notify: bool,
    read: impl FnOnce() -> Result<(FileFacts, Vec<dfe_formats::ChildOutcome>), FileProblem>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let report: ImportReport = with_writer(state, caller, req, notify, move |conn, writer| {
        let (facts, outcomes) = read()?;
        crate::db::write_with(conn, |c| imports::store(c, writer, facts, &outcomes))
    })
    .await?;
    // The import wrote its children as a load (`db::loading`): the log is copied into
    // the database file after the answer, as after a batch.
    crate::db::checkpoint_later(&state.pool);
    Ok(HttpResponse::Ok().json(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfe_formats::{Addressee, CinSettings, CtfSettings};

    #[test]
    fn the_documented_examples_are_files_the_node_reads() {
        let school = CtfSettings::school(
            Addressee::school("999", "1101", Some("999101")).expect("valid numbers"),
        );
        let ctf = dfe_formats::read_ctf(CTF_EXAMPLE.as_bytes(), &school).expect("a CTF");
        assert_eq!(ctf.pupils.len(), 1);
        assert!(ctf.pupils[0].imported().is_some(), "{:?}", ctf.pupils);
        let care = CinSettings {
            max_bytes: 1 << 20,
            la: schemas::details::LaCode::new("999").expect("valid"),
            holder: schemas::AgencyKind::SocialCare,
        };
        let cin = dfe_formats::read_cin_census(CIN_EXAMPLE.as_bytes(), &care).expect("a census");
        assert_eq!(cin.children.len(), 1);
        assert!(cin.children[0].imported().is_some(), "{:?}", cin.children);
    }
}
