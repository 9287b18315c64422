//! Reading and comparing the candidates of one search: the children an identifier names,
//! the query's side of the comparison, and each row compared with it as it is read.

use super::pruning::Hopeless;
use super::weights::weigh_by_name_counts;
use crate::db::{self, DbConnection, DbError, models::CandidateRow, models::ChildRow};
use matching::MatchingSettings;
use matching::score::{self, Comparison, Person, sex_from_str};
use schemas::ChildQuery;

/// Compares the query with each row not `rejected`, with the frequency-based weights of
/// exact name agreement when they are on. With `hopeless`, rows that could not count in
/// [`decide`] whatever their names are left out uncompared.
///
/// [`decide`]: super::deciding::decide
pub(super) fn score_rows(
    conn: &mut DbConnection,
    asked: &score::Asked<'_>,
    settings: &MatchingSettings,
    children: u64,
    rejected: &[String],
    rows: Vec<CandidateRow>,
    hopeless: Option<&mut Hopeless>,
) -> Result<Vec<(String, Comparison)>, DbError> {
    let mut scorer = RowScorer::new(asked, settings, rejected, hopeless);
    for child in rows {
        scorer.add(child);
    }
    scorer.finish(conn, children)
}

/// [`score_rows`] one row at a time, as rows are read.
pub(super) struct RowScorer<'a, 'q> {
    asked: &'a score::Asked<'q>,
    settings: &'a MatchingSettings,
    rejected: &'a [String],
    hopeless: Option<&'a mut Hopeless>,
    compared: Vec<(String, Comparison)>,
    /// The plain given and family name of each of `compared`.
    names: Vec<(String, String)>,
}

impl<'a, 'q> RowScorer<'a, 'q> {
    pub(super) fn new(
        asked: &'a score::Asked<'q>,
        settings: &'a MatchingSettings,
        rejected: &'a [String],
        hopeless: Option<&'a mut Hopeless>,
    ) -> Self {
        Self {
            asked,
            settings,
            rejected,
            hopeless,
            compared: Vec::new(),
            names: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, child: CandidateRow) {
        if self.rejected.contains(&child.id) {
            return;
        }
        if let Some(h) = self.hopeless.as_deref_mut()
            && h.cannot_count(self.asked, &child, self.settings)
        {
            return;
        }
        let comparison = compare(self.asked, &child, self.settings);
        self.compared.push((child.id, comparison));
        self.names.push((child.given_name, child.family_name));
    }

    pub(super) fn finish(
        mut self,
        conn: &mut DbConnection,
        children: u64,
    ) -> Result<Vec<(String, Comparison)>, DbError> {
        weigh_by_name_counts(
            conn,
            self.settings,
            children,
            &mut self.compared,
            &self.names,
        )?;
        Ok(self.compared)
    }
}

/// Children whose UPN or NHS number equals the query's, with the identifiers that
/// agreed.
pub(super) fn identifier_matches(
    conn: &mut DbConnection,
    query: &ChildQuery,
) -> Result<Vec<(CandidateRow, Vec<String>)>, DbError> {
    let mut found: Vec<(CandidateRow, Vec<String>)> = Vec::new();
    let mut add = |rows: Vec<ChildRow>, field: &str| {
        for row in rows.into_iter().map(CandidateRow::from) {
            match found.iter_mut().find(|(r, _)| r.id == row.id) {
                Some((_, fields)) if fields.iter().any(|f| f == field) => {}
                Some((_, fields)) => fields.push(field.to_owned()),
                None => found.push((row, vec![field.to_owned()])),
            }
        }
    };
    // A UPN agrees with a child's UPN or one of its former UPNs, whichever side holds
    // it as former: the same match, field and level as a UPN match.
    for upn in query.identifiers.all_upns() {
        add(
            db::children::find_by_current_or_former_upn(conn, upn.as_str())?,
            "upn",
        );
    }
    if let Some(nhs) = &query.identifiers.nhs_number {
        add(
            db::children::find_by_nhs_number(conn, nhs.as_str())?,
            "nhs_number",
        );
    }
    Ok(found)
}

/// The query and the child both hold an identifier, and it differs.
pub(super) fn conflicting_identifier(query: &ChildQuery, child: &CandidateRow) -> bool {
    let differs = |q: Option<&str>, c: Option<&str>| matches!((q, c), (Some(q), Some(c)) if q != c);
    differs(
        query.identifiers.upn.as_ref().map(|u| u.as_str()),
        held_upn(query, child),
    ) || differs(
        query.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
        child.nhs_number.as_deref(),
    )
}

/// The query's UPN and the child's differ, allowing for former UPNs on either side.
pub(super) fn conflicting_upn(query: &ChildQuery, child: &CandidateRow) -> bool {
    matches!(
        (query.identifiers.upn.as_ref(), held_upn(query, child)),
        (Some(q), Some(c)) if q.as_str() != c
    )
}

/// The child's UPN as the query's is compared with it: the query's own when any UPN the
/// query gives (current or former) is any the child is known by, so that a former UPN
/// agrees as the current one does; otherwise the child's current UPN.
pub(super) fn held_upn<'a>(query: &'a ChildQuery, child: &'a CandidateRow) -> Option<&'a str> {
    let agrees = query
        .identifiers
        .all_upns()
        .any(|u| child.known_by_upn(u.as_str()));
    match (&query.identifiers.upn, agrees) {
        (Some(upn), true) => Some(upn.as_str()),
        _ => child.upn.as_deref(),
    }
}

/// The query's side of its comparisons, when it has demographics.
pub(super) fn asked_of(query: &ChildQuery) -> Option<score::Asked<'_>> {
    let d = query.demographics.as_ref()?;
    Some(score::Asked::new(Person {
        // A field the search lacks compares as `missing`: no evidence either way.
        given_name: d.given(),
        family_name: d.family(),
        date_of_birth: d.date_of_birth,
        sex: d.sex,
        postcode: d.postcode.as_deref(),
        upn: query.identifiers.upn.as_ref().map(|u| u.as_str()),
        nhs_number: query.identifiers.nhs_number.as_ref().map(|n| n.as_str()),
        former_family_names: &[],
    }))
}

/// Compares the query's demographics with a stored child.
pub(super) fn compare(
    asked: &score::Asked<'_>,
    child: &CandidateRow,
    settings: &MatchingSettings,
) -> Comparison {
    let former = if child.former_family_names.is_some() {
        crate::db::models::former_family_names_of(child.former_family_names.as_deref())
    } else {
        Vec::new()
    };
    let held = Person {
        given_name: &child.given_name,
        family_name: &child.family_name,
        date_of_birth: crate::db::models::known_date_of_birth(child.date_of_birth),
        sex: child.sex.as_deref().and_then(sex_from_str),
        postcode: child.postcode.as_deref(),
        // A query's UPN that is one of the child's former UPNs agrees as its UPN would.
        upn: match asked.person().upn {
            Some(upn) if child.known_by_upn(upn) => Some(upn),
            _ => child.upn.as_deref(),
        },
        nhs_number: child.nhs_number.as_deref(),
        former_family_names: &former,
    };
    score::compare_asked(asked, &held, settings)
}
