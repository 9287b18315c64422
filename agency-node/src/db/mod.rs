//! The node's database: a pool of diesel connections, migrations embedded and run at
//! start, and one module per table. No SQL lives outside this module.

pub mod audit;
pub mod children;
pub mod consents;
pub mod keyed;
pub mod models;
pub mod notifications;
pub mod records;
pub mod schema;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<SqliteConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("unsupported database url '{0}': use sqlite://PATH or a file path")]
    UnsupportedUrl(String),
    #[error("{0}")]
    Conflict(String),
    /// The stored version is not the one the caller expected (0: nothing stored).
    #[error("the stored version is {0}")]
    Stale(i64),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// Settings applied to every SQLite connection: WAL for concurrent readers, a busy
/// timeout instead of immediate `SQLITE_BUSY`, and enforced foreign keys.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            // busy_timeout first: switching to WAL needs a lock other connections may hold.
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Runs `f` in an immediate (write-locking) transaction: concurrent writers queue on the
/// busy timeout instead of failing when a read would have to upgrade to a write.
/// Every write goes through here, so a change and what it implies commit together.
pub fn write<T>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&mut SqliteConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    conn.immediate_transaction(f)
}

/// Opens the pool and brings the schema up to date.
pub fn connect(database_url: &str) -> Result<DbPool, DbError> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    if path.contains("://") || path.is_empty() {
        return Err(DbError::UnsupportedUrl(database_url.to_owned()));
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbError::Migration(format!("creating {}: {e}", parent.display())))?;
    }
    let pool = Pool::builder()
        .max_size(8)
        .connection_timeout(std::time::Duration::from_secs(10))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(ConnectionManager::<SqliteConnection>::new(path))?;
    let mut conn = pool.get()?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    children::refresh_match_keys(&mut conn)?;
    Ok(pool)
}
