use super::DbError;
use super::models::ChildRow;
use super::schema::children::dsl as c;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use schemas::{ChildUpsert, Demographics};

/// Inserts or updates the child with this local id; returns the stored row and whether
/// it was new. Call it inside [`super::write`].
pub fn upsert(
    conn: &mut SqliteConnection,
    local_id: &str,
    child: &ChildUpsert,
) -> Result<(ChildRow, bool), DbError> {
    let now = chrono::Utc::now().naive_utc();
    let existing = find_by_local_id(conn, local_id)?;
    match existing {
        Some(old) => {
            let mut row = ChildRow::new(
                old.id.clone(),
                local_id,
                &child.demographics,
                &child.identifiers,
                now,
            );
            row.created_at = old.created_at;
            diesel::update(c::children.find(&old.id))
                .set(&row)
                .execute(conn)?;
            Ok((row, false))
        }
        None => {
            let row = ChildRow::new(
                uuid::Uuid::new_v4().to_string(),
                local_id,
                &child.demographics,
                &child.identifiers,
                now,
            );
            diesel::insert_into(c::children)
                .values(&row)
                .execute(conn)?;
            Ok((row, true))
        }
    }
}

pub fn find_by_local_id(
    conn: &mut SqliteConnection,
    local_id: &str,
) -> Result<Option<ChildRow>, DbError> {
    Ok(c::children
        .filter(c::local_id.eq(local_id))
        .select(ChildRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut SqliteConnection, id: &str) -> Result<Option<ChildRow>, DbError> {
    Ok(c::children
        .find(id)
        .select(ChildRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_upn(conn: &mut SqliteConnection, upn: &str) -> Result<Vec<ChildRow>, DbError> {
    Ok(c::children
        .filter(c::upn.eq(upn))
        .select(ChildRow::as_select())
        .limit(5)
        .load(conn)?)
}

pub fn find_by_nhs_number(
    conn: &mut SqliteConnection,
    nhs: &str,
) -> Result<Vec<ChildRow>, DbError> {
    Ok(c::children
        .filter(c::nhs_number.eq(nhs))
        .select(ChildRow::as_select())
        .limit(5)
        .load(conn)?)
}

/// Children whose normalised names and date of birth equal the query's (and postcode,
/// when the query has one). Served by the `children_demographics` index.
pub fn find_by_exact_demographics(
    conn: &mut SqliteConnection,
    d: &Demographics,
) -> Result<Vec<ChildRow>, DbError> {
    let mut query = c::children
        .filter(c::family_name_norm.eq(schemas::child::normalise_name(&d.family_name)))
        .filter(c::date_of_birth.eq(d.date_of_birth))
        .filter(c::given_name_norm.eq(schemas::child::normalise_name(&d.given_name)))
        .into_boxed();
    if let Some(postcode) = &d.postcode {
        query = query.filter(c::postcode_norm.eq(schemas::child::normalise_postcode(postcode)));
    }
    Ok(query.select(ChildRow::as_select()).limit(5).load(conn)?)
}

pub fn count(conn: &mut SqliteConnection) -> Result<i64, DbError> {
    Ok(c::children.count().get_result(conn)?)
}
