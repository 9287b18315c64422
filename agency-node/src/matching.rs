//! Finding a child in this node's own records: exact on validated identifiers first,
//! then exact on normalised demographics. Several candidates means no link: a wrong link
//! would show a practitioner another child's history.

use crate::db::{self, DbError, models::ChildRow};
use diesel::sqlite::SqliteConnection;
use schemas::{ChildQuery, MatchGrade, MatchResponse};

pub fn find(conn: &mut SqliteConnection, query: &ChildQuery) -> Result<MatchResponse, DbError> {
    let by_identifier: [(&str, Option<&str>); 2] = [
        ("upn", query.identifiers.upn.as_ref().map(|u| u.as_str())),
        (
            "nhs_number",
            query.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
        ),
    ];
    for (field, value) in by_identifier {
        let Some(value) = value else { continue };
        let found = match field {
            "upn" => db::children::find_by_upn(conn, value)?,
            _ => db::children::find_by_nhs_number(conn, value)?,
        };
        if let [child] = found.as_slice() {
            if contradicts(child, query) {
                // The identifier agrees but the person does not: say nothing rather than
                // link the wrong child.
                return Ok(not_held());
            }
            let mut matched_on = vec![field.to_owned()];
            matched_on.extend(agreeing_demographics(child, query));
            return Ok(held(child, MatchGrade::Certain, matched_on));
        }
    }
    if let Some(d) = &query.demographics {
        let found = db::children::find_by_exact_demographics(conn, d)?;
        if let [child] = found.as_slice() {
            let matched_on = agreeing_demographics(child, query);
            let grade = if d.postcode.is_some() {
                MatchGrade::Probable
            } else {
                MatchGrade::Possible
            };
            return Ok(held(child, grade, matched_on));
        }
    }
    Ok(not_held())
}

fn held(child: &ChildRow, grade: MatchGrade, matched_on: Vec<String>) -> MatchResponse {
    MatchResponse {
        held: true,
        local_ref: Some(child.id.clone()),
        grade: Some(grade),
        matched_on,
    }
}

fn not_held() -> MatchResponse {
    MatchResponse {
        held: false,
        local_ref: None,
        grade: None,
        matched_on: Vec::new(),
    }
}

/// A date of birth that differs, together with a family name that differs, is not the
/// same child whatever the identifier says.
fn contradicts(child: &ChildRow, query: &ChildQuery) -> bool {
    query.demographics.as_ref().is_some_and(|d| {
        d.date_of_birth != child.date_of_birth
            && schemas::child::normalise_name(&d.family_name) != child.family_name_norm
    })
}

fn agreeing_demographics(child: &ChildRow, query: &ChildQuery) -> Vec<String> {
    let Some(d) = &query.demographics else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    if schemas::child::normalise_name(&d.given_name) == child.given_name_norm {
        fields.push("given_name".to_owned());
    }
    if schemas::child::normalise_name(&d.family_name) == child.family_name_norm {
        fields.push("family_name".to_owned());
    }
    if d.date_of_birth == child.date_of_birth {
        fields.push("date_of_birth".to_owned());
    }
    if d.postcode
        .as_deref()
        .map(schemas::child::normalise_postcode)
        == child.postcode_norm
        && child.postcode_norm.is_some()
    {
        fields.push("postcode".to_owned());
    }
    fields
}
