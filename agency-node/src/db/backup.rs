//! The statements behind an online backup: SQLite's `VACUUM INTO` and PostgreSQL's
//! exported snapshot (see [`crate::backup`]).

use super::{DbConnection, DbError};
use diesel::prelude::*;

/// Writes a consistent copy of the SQLite database to `path` (a new file): one read
/// transaction, so writers carry on and the copy is the database as of its start.
pub fn vacuum_into(conn: &mut DbConnection, path: &str) -> Result<(), DbError> {
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(path)
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = diesel::sql_types::Text)]
    snapshot: String,
}

/// Exports the snapshot of the current (REPEATABLE READ) transaction, for `pg_dump
/// --snapshot` to dump exactly what this transaction sees.
pub fn export_snapshot(conn: &mut DbConnection) -> Result<String, DbError> {
    Ok(diesel::sql_query("SELECT pg_export_snapshot() AS snapshot")
        .get_result::<Snapshot>(conn)?
        .snapshot)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Tables in the PostgreSQL database's `public` schema: a restore goes only into a
/// database that has none.
pub fn postgres_tables(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .get_result::<Count>(conn)?
    .n)
}
