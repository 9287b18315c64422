//! The node's database: a pool of diesel connections, migrations embedded and run at
//! start, and one module per table. No SQL lives outside this module.

pub mod audit;
pub mod backup;
pub mod children;
pub mod concerns;
pub mod consents;
pub mod dpo_alerts;
pub mod keyed;
pub mod match_pairs;
pub mod models;
pub mod name_counts;
pub mod notifications;
pub mod records;
pub mod schema;
pub mod token;
pub mod witnessed;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Most rows one multi-row `INSERT` carries: under SQLite's 32,766 bound parameters
/// and PostgreSQL's 65,535 for the widest row written in bulk (a child, 19 columns).
pub const ROWS_PER_INSERT: usize = 1_000;

/// A new child's or record's row id: a UUID of version 7, whose leading bits are the
/// time. A load's new rows then land at the end of every index keyed by the id (the
/// primary keys, `child_keyed`'s, the records' and audit entries' child indexes) rather
/// than at random pages, so a chunk dirties a few pages of each instead of most of them.
/// A child's id leaves the node only to the gateway (`local_ref`, over mutual TLS), which
/// seals it in references for practitioners; the time it carries is the row's
/// `created_at`, which the gateway can thus learn to the millisecond.
pub fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Runs `$body` with `$c` the concrete connection of either backend: multi-row inserts
/// are written per backend, which diesel's `MultiBackend` does not offer.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// SQLite's migrations (the embedded default).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// PostgreSQL's migrations: the same versions as [`MIGRATIONS`], in PostgreSQL's SQL.
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations-postgres");

/// One connection type over both backends: every query in this module is written once
/// against it. PostgreSQL when the URL is `postgres://…` (or `postgresql://…`), SQLite
/// otherwise.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// The backend type of [`DbConnection`] (for boxed queries).
pub type DbBackend = MultiBackend;

pub type DbPool = Pool<Manager>;
pub type DbConn = PooledConnection<Manager>;

/// Opens pool connections on the backend the URL names (diesel's generic manager would
/// try each backend in turn).
#[derive(Debug)]
pub struct Manager {
    url: String,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let target = connection_target(&self.url).map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                e.to_string(),
            ))
        })?;
        Ok(match Backend::of(&self.url) {
            Backend::Postgres => DbConnection::Pg(
                PgConnection::establish(&target).map_err(diesel::r2d2::Error::ConnectionError)?,
            ),
            Backend::Sqlite => DbConnection::Sqlite(
                SqliteConnection::establish(&target)
                    .map_err(diesel::r2d2::Error::ConnectionError)?,
            ),
        })
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of(database_url: &str) -> Self {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// The SQLite file a `sqlite://PATH` (or plain path) URL names.
fn sqlite_path(database_url: &str) -> Result<&str, DbError> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    if path.contains("://") || path.is_empty() {
        return Err(DbError::UnsupportedUrl(database_url.to_owned()));
    }
    Ok(path)
}

/// The URL diesel's connection establishes for `database_url`: PostgreSQL URLs as
/// they are, SQLite ones as the file path (with its folder created).
pub(crate) fn connection_target(database_url: &str) -> Result<String, DbError> {
    match Backend::of(database_url) {
        Backend::Postgres => Ok(database_url.to_owned()),
        Backend::Sqlite => {
            let path = sqlite_path(database_url)?;
            if let Some(parent) = std::path::Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Migration(format!("creating {}: {e}", parent.display()))
                })?;
            }
            Ok(path.to_owned())
        }
    }
}

/// One connection, outside any pool (tools and tests), with the same settings the pool
/// applies. The schema is not touched.
pub fn establish(database_url: &str) -> Result<DbConnection, DbError> {
    let manager = Manager {
        url: database_url.to_owned(),
    };
    manager
        .connect()
        .and_then(|mut conn| {
            ConnectionSettings::default()
                .on_acquire(&mut conn)
                .map(|()| conn)
        })
        .map_err(|e| DbError::Connection(diesel::ConnectionError::BadConnection(e.to_string())))
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations: {0}")]
    Migration(String),
    #[error(
        "unsupported database url '{0}': use postgres://USER@HOST:PORT/DB, sqlite://PATH or a file path"
    )]
    UnsupportedUrl(String),
    #[error("database connection: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("{0}")]
    Conflict(String),
    /// The stored version is not the one the caller expected (0: nothing stored).
    #[error("the stored version is {0}")]
    Stale(i64),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Another node process holds this SQLite database.
    #[error(
        "another node process holds this SQLite database (lock file {0}): one process per SQLite \
         database; run replicas on PostgreSQL"
    )]
    HeldByAnotherProcess(String),
}

/// How much of a SQLite database file each connection maps into memory by default, in
/// MiB (`database.sqlite_mmap_mib`).
pub const DEFAULT_SQLITE_MMAP_MIB: u32 = 1024;

/// Settings applied to every connection. SQLite: WAL for concurrent readers, a busy
/// timeout instead of immediate `SQLITE_BUSY` (30 s: SQLite's busy handler is not fair,
/// so on a loaded machine with many writers one of them can wait several seconds behind
/// the others; 5 s failed writes under a load average of 12), and enforced foreign keys (PostgreSQL
/// has all three by nature); the log cut back to 64 MiB when it starts over, so a load
/// that grew it (see [`loading`]) leaves no large file behind, and up to `sqlite_mmap_mib`
/// of the file mapped into memory. PostgreSQL: timestamps are stored without a zone, in
/// UTC.
#[derive(Debug)]
struct ConnectionSettings {
    sqlite_mmap_mib: u32,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            sqlite_mmap_mib: DEFAULT_SQLITE_MMAP_MIB,
        }
    }
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        let settings = match conn {
            // busy_timeout first: switching to WAL needs a lock other connections may hold.
            // The page size before WAL: a new database takes it with its first table, an
            // existing one keeps its own.
            DbConnection::Sqlite(_) => format!(
                "PRAGMA busy_timeout = 30000; PRAGMA page_size = {SQLITE_PAGE_SIZE}; \
                 PRAGMA journal_mode = WAL; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                 PRAGMA mmap_size = {}; PRAGMA journal_size_limit = 67108864;",
                u64::from(self.sqlite_mmap_mib) << 20
            ),
            DbConnection::Pg(_) => "SET TIME ZONE 'UTC';".to_owned(),
        };
        conn.batch_execute(&settings)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// A load's page cache, in KiB (256 MiB).
pub const LOAD_CACHE_KIB: u32 = 262_144;

/// The log's size (256 MiB) at which a load's writer checkpoints itself; SQLite counts it
/// in pages of the database's own size ([`sqlite_log_pages`]).
pub const LOAD_LOG_BYTES: u32 = 256 << 20;

/// The page size of a SQLite database the node creates, in bytes. A load's entries in the
/// random-keyed indexes (blocking keys, keyed tokens) land on most of their pages; with
/// pages of 16 KiB rather than SQLite's 4 KiB those indexes have a quarter as many pages
/// to find, split and copy into the log at each commit (`docs/benchmarks.md`,
/// "Onboarding"). SQLite takes it only before the database's first table: a database
/// made with another page size keeps its own (a `VACUUM` outside WAL mode would change
/// it).
pub const SQLITE_PAGE_SIZE: u32 = 16_384;

/// The page size of the database `c` holds, in bytes (`None` if SQLite does not say).
fn sqlite_page_size(c: &mut SqliteConnection) -> Option<u32> {
    #[derive(QueryableByName)]
    struct PageSize {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        page_size: i32,
    }
    diesel::sql_query("PRAGMA page_size")
        .get_result::<PageSize>(c)
        .ok()
        .and_then(|p| u32::try_from(p.page_size).ok())
        .filter(|&p| p > 0)
}

/// `bytes` of log in pages of the database `c` holds.
fn sqlite_log_pages(c: &mut SqliteConnection, bytes: u32) -> u32 {
    bytes / sqlite_page_size(c).unwrap_or(4096)
}

/// Runs a load (`/v1/batch`, a file import: many rows, in one transaction or one per
/// chunk) on `conn` with SQLite set for it, and puts the settings back after.
///
/// A chunk dirties pages of some 25 indexes at random (the keyed tokens are HMACs): a
/// page cache with room for them (256 MiB, [`LOAD_CACHE_KIB`]; 2 MiB by default) kept
/// across the load's chunks and holding a multi-chunk transaction's dirty pages without
/// spilling them into the log before its commit ([`write_in_runs`]). Savepoint and
/// statement journals (the original of each page a chunk's savepoint or a multi-row
/// statement changes first) in memory rather than in a temporary file: at 200,000
/// children they were 40 MB of file writes a chunk. And no checkpoint at each commit
/// (SQLite checkpoints once the log passes 1,000 pages, which every transaction of a load
/// does, and the committing writer waits for it):
/// the caller checkpoints after the load, off the request ([`checkpoint_later`]). The log
/// is written as before (the commits are as durable). While loads follow one another the
/// log cannot start over (a writer is always ahead of the checkpoint), so the writer still
/// checkpoints once the log passes [`LOAD_LOG_BYTES`] (mostly copied by then, and the log
/// starts over at the next chunk): the log stays under about 256 MiB, and is cut back to
/// 64 MiB once it starts over (`journal_size_limit`). PostgreSQL: `f` as it is.
pub fn loading<T>(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> T) -> T {
    let DbConnection::Sqlite(c) = conn else {
        return f(conn);
    };
    // A failure to set a pragma leaves SQLite's defaults: slower, not wrong.
    let log_pages = sqlite_log_pages(c, LOAD_LOG_BYTES);
    let _ = c.batch_execute(&format!(
        "PRAGMA cache_size = -{LOAD_CACHE_KIB}; PRAGMA wal_autocheckpoint = {log_pages}; \
         PRAGMA temp_store = MEMORY;"
    ));
    let out = f(conn);
    if let DbConnection::Sqlite(c) = conn {
        let _ = c.batch_execute(
            "PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 1000; \
             PRAGMA temp_store = DEFAULT;",
        );
    }
    out
}

/// Bytes the calling thread has read and written by system calls so far (`rchar` and
/// `wchar` of `/proc/thread-self/io`; 0 where the system has none), for the bulk
/// path's debug log. In a [`loading`] on SQLite a write transaction writes nothing but
/// its log frames (4,120 bytes a page: each page it dirtied, once at the commit, and
/// before it the pages spilled from a full page cache), and its checkpoint when the log
/// passes [`LOAD_LOG_BYTES`]; it reads the pages it needs that are in the log and not
/// in its page cache (the rest of the file is mapped into memory).
pub fn thread_io() -> (u64, u64) {
    let Ok(io) = std::fs::read_to_string("/proc/thread-self/io") else {
        return (0, 0);
    };
    let field = |name: &str| {
        io.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("wchar:"))
}

/// After a [`loading`] on SQLite: copies the log into the database file on a
/// connection of its own, on a blocking thread, without waiting for it (a checkpoint
/// does not hold the write lock: the next writes go on meanwhile). Measured: 0.2 s after
/// a batch of 5,000 children, which the caller's answer no longer waits for. A no-op on
/// PostgreSQL; a checkpoint that fails (another one running) leaves it to the next.
pub fn checkpoint_later(pool: &DbPool) {
    let pool = pool.clone();
    drop(tokio::task::spawn_blocking(move || {
        if let Ok(mut conn) = pool.get()
            && let DbConnection::Sqlite(c) = &mut *conn
        {
            let _ = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);");
        }
    }));
}

/// The PostgreSQL advisory lock every write transaction holds until it ends (an
/// arbitrary constant: "ANODEWRT").
const WRITE_LOCK: i64 = 0x414e_4f44_4557_5254;

/// Runs `f` in a write transaction. Every write goes through here, so a change and what
/// it implies (its audit entry, its change number) commit together.
///
/// Writes are serialised, on both backends: each one appends to the audit hash chain,
/// which is a single sequence (an entry hashes its predecessor), and takes the next
/// change-feed number, which must be given in commit order so that a feed reader never
/// skips a number committed after a higher one. SQLite: an immediate transaction (the
/// database write lock); concurrent writers queue on the busy timeout. PostgreSQL: a
/// transaction-scoped advisory lock taken first, so every read inside `f` (each its own
/// snapshot under READ COMMITTED) sees the previous writer's commit. Reads outside
/// `write` are never blocked. Before committing, the audit's stored head is moved to the
/// last entry the write appended (see [`audit::append`]).
///
/// Every write that adds or changes a child or a record appends an audit entry: a batch
/// chunk planned before its transaction (`writes::plan_ahead`) relies on it to tell that
/// nothing was written since the chunk before it.
pub fn write<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    write_with(conn, f)
}

/// [`write`] for closures with their own error type.
pub fn write_with<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let nested = match conn {
        DbConnection::Sqlite(c) => in_transaction(c),
        DbConnection::Pg(c) => in_transaction(c),
    };
    if nested {
        // Already inside a write (it holds the lock): a savepoint.
        return conn.transaction(f);
    }
    begin_write(conn)?;
    match f(conn) {
        Ok(value) => {
            commit_write(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Opens a write transaction holding the write lock ([`write`]).
fn begin_write(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        DbConnection::Pg(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            if let Err(e) = diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(WRITE_LOCK)
                .execute(c)
            {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                return Err(e);
            }
            Ok(())
        }
    }
}

/// Moves the audit's stored head and commits the write transaction [`begin_write`]
/// opened; on a failure rolls it back, leaving the connection outside any transaction
/// for its next user.
fn commit_write(conn: &mut DbConnection) -> QueryResult<()> {
    let committed = audit::move_head(conn)
        .and_then(|()| <DbConnection as Connection>::TransactionManager::commit_transaction(conn));
    if committed.is_err() {
        let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn);
    }
    committed
}

/// Writes a load's `chunks` one after another, each [`pipeline`](crate::parallel::pipeline)d:
/// `prepare` works on the next chunk while `write` writes one. The chunks share write
/// transactions of at least `per_transaction` items (`size` counts a chunk's): a
/// transaction takes chunks until they hold that many, then commits, so the pages a
/// chunk dirties that the next one dirties again (the random-keyed indexes) are written
/// to the log once for them all. Each chunk is written in a savepoint of it: a chunk
/// whose `write` fails leaves nothing, the chunks before it in its transaction are
/// committed, and the error is returned (as when each chunk had its own transaction).
/// `per_transaction` of 1: a transaction a chunk.
pub fn write_in_runs<T, P, R, E>(
    conn: &mut DbConnection,
    chunks: Vec<T>,
    per_transaction: usize,
    size: impl Fn(&T) -> usize,
    prepare: impl Fn(T, bool) -> P + Sync,
    mut write: impl FnMut(&mut DbConnection, P) -> Result<R, E>,
) -> Result<Vec<R>, E>
where
    T: Send,
    P: Send,
    E: From<diesel::result::Error>,
{
    let sized: Vec<(usize, T)> = chunks.into_iter().map(|c| (size(&c), c)).collect();
    // The open transaction, if one is: the items it holds, the bytes this thread had
    // written when it began.
    let mut open: Option<(usize, u64)> = None;
    let written = crate::parallel::pipeline(
        sized,
        |(n, chunk), beside| (n, prepare(chunk, beside)),
        |(n, prepared)| {
            if open.is_none() {
                let before = thread_io().1;
                begin_write(conn)?;
                open = Some((0, before));
            }
            let result = conn.transaction(|c| write(c, prepared));
            if let Some((held, before)) = open.as_mut() {
                *held += n;
                if result.is_ok() && *held >= per_transaction {
                    let (held, before) = (*held, *before);
                    open = None;
                    commit_logged(conn, held, before)?;
                }
            }
            result
        },
    );
    if let Some((held, before)) = open {
        commit_logged(conn, held, before)?;
    }
    written
}

/// [`commit_write`], with the log bytes the transaction wrote before its commit (pages
/// spilled from the cache) and at it in the debug log.
fn commit_logged(conn: &mut DbConnection, items: usize, before: u64) -> QueryResult<()> {
    let started = std::time::Instant::now();
    let at_commit = thread_io().1;
    let committed = commit_write(conn);
    tracing::debug!(
        items,
        spilled_kib = at_commit.saturating_sub(before) / 1024,
        committed_kib = thread_io().1.saturating_sub(at_commit) / 1024,
        commit_ms = started.elapsed().as_secs_f64() * 1e3,
        "load transaction committed"
    );
    committed
}

/// Runs `f` on one consistent snapshot of the database, for reads of several
/// statements that must agree with each other (the audit chain and its head). SQLite: a
/// deferred transaction (in WAL mode its snapshot is fixed at the first read);
/// PostgreSQL: a read-only REPEATABLE READ transaction. Inside a write, `f` runs in it.
pub fn read_snapshot<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError>,
{
    let nested = match conn {
        DbConnection::Sqlite(c) => in_transaction(c),
        DbConnection::Pg(c) => in_transaction(c),
    };
    if nested {
        return f(conn);
    }
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction(c).map_err(DbError::from)?
        }
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .map_err(DbError::from)?,
    }
    let result = f(conn);
    // Nothing was written: ending the transaction either way only releases the snapshot.
    <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
        .map_err(DbError::from)?;
    result
}

fn in_transaction<C>(conn: &mut C) -> bool
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    !matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// Opens the pool and brings the schema up to date, with the default SQLite settings.
pub fn connect(database_url: &str) -> Result<DbPool, DbError> {
    connect_with(&crate::config::DatabaseSettings {
        url: database_url.to_owned(),
        sqlite_mmap_mib: DEFAULT_SQLITE_MMAP_MIB,
    })
}

/// Opens the pool as `[database]` says and brings the schema up to date.
pub fn connect_with(settings: &crate::config::DatabaseSettings) -> Result<DbPool, DbError> {
    let database_url = settings.url.as_str();
    connection_target(database_url)?;
    let pool = Pool::builder()
        .max_size(8)
        // PostgreSQL connections are server processes: open them as needed, not all 8
        // up front (many nodes, and many test nodes, share one server).
        .min_idle(match Backend::of(database_url) {
            Backend::Postgres => Some(1),
            Backend::Sqlite => None,
        })
        .connection_timeout(std::time::Duration::from_secs(10))
        .connection_customizer(Box::new(ConnectionSettings {
            sqlite_mmap_mib: settings.sqlite_mmap_mib,
        }))
        .build(Manager {
            url: database_url.to_owned(),
        })?;
    let mut conn = pool.get()?;
    migrate(&mut conn)?;
    children::refresh_match_keys(&mut conn)?;
    name_counts::fill_if_missing(&mut conn)?;
    Ok(pool)
}

/// The PostgreSQL advisory lock held while migrations run ("ANODEMIG"), so that
/// replicas starting together migrate one after the other: the first runs what is
/// pending, the others then find nothing to do.
const MIGRATION_LOCK: i64 = 0x414e_4f44_454d_4947;

/// Runs the backend's pending migrations. On PostgreSQL under [`MIGRATION_LOCK`] (a
/// session lock, released before the connection goes back to its pool, whatever the
/// outcome); on SQLite one process holds the database (see [`SingleProcessLock`]).
pub fn migrate(conn: &mut DbConnection) -> Result<(), DbError> {
    match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(MIGRATIONS)
            .map(drop)
            .map_err(|e| DbError::Migration(e.to_string())),
        DbConnection::Pg(c) => {
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                .execute(c)?;
            let done = c
                .run_pending_migrations(PG_MIGRATIONS)
                .map(drop)
                .map_err(|e| DbError::Migration(e.to_string()));
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
                .execute(c);
            done?;
            unlocked?;
            Ok(())
        }
    }
}

/// Proof that this process is the only node process on its SQLite database: an
/// exclusive lock on the file `<database>.lock`, held until dropped.
///
/// SQLite serves one process: its replicas would each run an outbox worker and a
/// write lock of their own, and SQLite on a network file system (the only way two hosts
/// could share the file) does not lock reliably. Replicas need PostgreSQL. The lock is
/// the operating system's (`flock`), so it dies with the process, even on `SIGKILL`.
#[derive(Debug)]
pub struct SingleProcessLock {
    file: Option<std::fs::File>,
}

impl SingleProcessLock {
    /// Whether this process holds a file lock (SQLite), and so is the database's only
    /// process: nothing another process claimed can still be in its hands.
    pub fn is_only_process(&self) -> bool {
        self.file.is_some()
    }

    /// Takes the lock for `database_url`, waiting up to `wait` for a process that is
    /// stopping to let go; PostgreSQL URLs need none (an empty lock).
    pub fn acquire(database_url: &str, wait: std::time::Duration) -> Result<Self, DbError> {
        if Backend::of(database_url) == Backend::Postgres {
            return Ok(Self { file: None });
        }
        let path = format!("{}.lock", connection_target(database_url)?);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DbError::Migration(format!("opening {path}: {e}")))?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file: Some(file) }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(DbError::HeldByAnotherProcess(path));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(DbError::Migration(format!("locking {path}: {e}")));
                }
            }
        }
    }
}

/// Splits a PostgreSQL URL into the server part and the database name
/// (`postgres://u@h:5432/name?x` → (`postgres://u@h:5432`, `name`, `?x`)).
fn split_postgres_url(database_url: &str) -> Result<(&str, &str, &str), DbError> {
    let unsupported = || DbError::UnsupportedUrl(database_url.to_owned());
    let scheme_end = database_url.find("://").ok_or_else(unsupported)? + 3;
    let (base, query) = match database_url.find('?') {
        Some(at) => database_url.split_at(at),
        None => (database_url, ""),
    };
    let slash = base[scheme_end..].find('/').ok_or_else(unsupported)? + scheme_end;
    let name = &base[slash + 1..];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(unsupported());
    }
    Ok((&base[..slash], name, query))
}

/// A connection to the server's maintenance database `postgres`.
fn postgres_maintenance(database_url: &str) -> Result<(PgConnection, String), DbError> {
    let (server, name, query) = split_postgres_url(database_url)?;
    let conn = PgConnection::establish(&format!("{server}/postgres{query}"))?;
    Ok((conn, name.to_owned()))
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Creates the PostgreSQL database a `postgres://…/NAME` URL names unless it exists
/// (the role needs `CREATEDB`); returns whether it was created. SQLite URLs: nothing to
/// do (the file is created on first use).
pub fn create_database_if_missing(database_url: &str) -> Result<bool, DbError> {
    if Backend::of(database_url) == Backend::Sqlite {
        return Ok(false);
    }
    let (mut conn, name) = postgres_maintenance(database_url)?;
    let found =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result::<Exists>(&mut conn)?;
    if found.exists {
        return Ok(false);
    }
    // The name was checked to hold only letters, digits, '_' and '-'.
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn)?;
    Ok(true)
}

/// Drops the PostgreSQL database a `postgres://…/NAME` URL names, if it exists,
/// closing its sessions (tests and the dev federation; never called by the node).
pub fn drop_database(database_url: &str) -> Result<(), DbError> {
    if Backend::of(database_url) == Backend::Sqlite {
        return Ok(());
    }
    let (mut conn, name) = postgres_maintenance(database_url)?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)?;
    Ok(())
}

/// A database URL no other caller has been given: `SERVER/PREFIX_PID_N`, for tests and
/// tools that give each run (and each node of it) a fresh PostgreSQL database.
pub fn unique_database_url(server: &str, prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let prefix: String = prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "{}/{prefix}_{}_{nanos}_{n}",
        server.trim_end_matches('/'),
        std::process::id()
    )
}

/// The environment variable naming a PostgreSQL server (`postgres://USER@HOST:PORT`)
/// on which the test suites run instead of SQLite; each test gets its own database.
pub const TEST_DATABASE_ENV: &str = "FEDERATION_TEST_DATABASE";

/// Test databases: a fresh PostgreSQL database on the server in
/// [`TEST_DATABASE_ENV`] (dropped with the guard), else an in-memory SQLite one. Both
/// with the node's migrations.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Runs `conn`'s backend's migrations up to, not including, the one whose directory
    /// starts with `version`.
    fn migrate_until(conn: &mut DbConnection, version: &str) {
        fn until<DB: diesel::backend::Backend>(
            c: &mut impl MigrationHarness<DB>,
            source: EmbeddedMigrations,
            version: &str,
        ) where
            EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
        {
            let pending = c.pending_migrations(source).expect("listing migrations");
            for migration in pending {
                if migration.name().version().to_string().replace('-', "") == version {
                    return;
                }
                c.run_migration(&*migration).expect("migrating");
            }
            panic!("no migration {version}");
        }
        let version = version.replace('-', "");
        match conn {
            DbConnection::Sqlite(c) => until(c, MIGRATIONS, &version),
            DbConnection::Pg(c) => until(c, PG_MIGRATIONS, &version),
        }
    }

    pub struct TestDb {
        conn: DbConnection,
        url: Option<String>,
        /// A SQLite file's directory (deleted with the guard) and URL.
        file: Option<(tempfile::TempDir, String)>,
    }

    impl TestDb {
        pub fn fresh() -> Self {
            Self::fresh_with(|conn| migrate(conn).expect("migrating"))
        }

        /// A fresh database migrated up to, not including, the migration whose
        /// directory starts with `version` (`2026-12-05-002200`): for tests of what a
        /// migration does to rows stored before it.
        pub fn before(version: &str) -> Self {
            Self::fresh_with(|conn| migrate_until(conn, version))
        }

        /// [`TestDb::before`] on an in-memory SQLite database, whatever the environment
        /// says (tests of a SQLite-only migration).
        pub fn sqlite_before(version: &str) -> Self {
            Self::in_memory(|conn| migrate_until(conn, version))
        }

        /// A fresh database without any migration run (tests of the migrations).
        pub fn unmigrated() -> Self {
            Self::fresh_with(|_| {})
        }

        fn fresh_with(prepare: impl FnOnce(&mut DbConnection)) -> Self {
            match std::env::var(TEST_DATABASE_ENV) {
                Ok(server) if !server.is_empty() => {
                    let url = unique_database_url(&server, "node_unit");
                    create_database_if_missing(&url).expect("creating a test database");
                    let mut conn = establish(&url).expect("connecting to the test database");
                    prepare(&mut conn);
                    Self {
                        conn,
                        url: Some(url),
                        file: None,
                    }
                }
                _ => Self::in_memory(prepare),
            }
        }

        /// An in-memory SQLite database, `prepare`d.
        fn in_memory(prepare: impl FnOnce(&mut DbConnection)) -> Self {
            let mut conn = DbConnection::Sqlite(
                SqliteConnection::establish(":memory:").expect("in-memory SQLite"),
            );
            prepare(&mut conn);
            Self {
                conn,
                url: None,
                file: None,
            }
        }

        /// An in-memory SQLite database, whatever the environment says (tests of
        /// SQLite's own behaviour).
        pub fn sqlite_memory() -> Self {
            Self::in_memory(|conn| migrate(conn).expect("migrating"))
        }

        /// A fresh database that [`TestDb::another`] opens a second connection to: on
        /// the PostgreSQL server in [`TEST_DATABASE_ENV`], else a SQLite file (in WAL
        /// mode, as a node keeps it).
        pub fn shared() -> Self {
            let fresh = Self::fresh();
            if fresh.url.is_some() {
                return fresh;
            }
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}", dir.path().join("node.db").display());
            let mut conn = establish(&url).expect("a SQLite file");
            migrate(&mut conn).expect("migrating");
            Self {
                conn,
                url: None,
                file: Some((dir, url)),
            }
        }

        /// A second connection to this database (made by [`TestDb::shared`]).
        pub fn another(&self) -> DbConnection {
            establish(self.shared_url()).expect("a second connection")
        }

        /// A pool over this database (made by [`TestDb::shared`]), as a node opens it.
        pub fn pool(&self) -> DbPool {
            connect(self.shared_url()).expect("a pool")
        }

        fn shared_url(&self) -> &str {
            self.url
                .as_deref()
                .or(self.file.as_ref().map(|(_, url)| url.as_str()))
                .expect("a database another connection can open (TestDb::shared)")
        }
    }

    impl std::ops::Deref for TestDb {
        type Target = DbConnection;
        fn deref(&self) -> &DbConnection {
            &self.conn
        }
    }

    impl std::ops::DerefMut for TestDb {
        fn deref_mut(&mut self) -> &mut DbConnection {
            &mut self.conn
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Some(url) = &self.url {
                // WITH (FORCE) ends this guard's own session too.
                if let Err(e) = drop_database(url) {
                    eprintln!("dropping test database {url}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn postgres_urls_split_into_server_and_name() {
        assert_eq!(
            split_postgres_url("postgres://postgres@127.0.0.1:5432/node_a").unwrap(),
            ("postgres://postgres@127.0.0.1:5432", "node_a", "")
        );
        assert_eq!(
            split_postgres_url("postgresql://u:p@db/x-1?sslmode=require").unwrap(),
            ("postgresql://u:p@db", "x-1", "?sslmode=require")
        );
        for bad in [
            "postgres://127.0.0.1:5432",
            "postgres://h/",
            "postgres://h/a\"b",
            "postgres://h/a;DROP",
        ] {
            assert!(split_postgres_url(bad).is_err(), "{bad}");
        }
        assert_eq!(Backend::of("postgres://h/x"), Backend::Postgres);
        assert_eq!(Backend::of("sqlite://x.db"), Backend::Sqlite);
        assert_eq!(Backend::of("x.db"), Backend::Sqlite);
    }
}

/// Many writers and readers at once on a real pool (PostgreSQL when
/// `FEDERATION_TEST_DATABASE` names a server, a SQLite file otherwise): every write
/// succeeds, the audit chain verifies, and change numbers are unique, without gaps and
/// in commit order.
#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use schemas::{
        AgencyKind, CheckedRecord, ChildIdentifiers, ChildUpsert, Demographics, RecordCategory,
        RecordDetails, RecordUpsert,
    };
    use std::sync::Arc;

    const WRITERS: usize = 8;
    const WRITES_EACH: usize = 25;

    fn child(n: usize) -> ChildUpsert {
        ChildUpsert {
            demographics: Demographics {
                given_name: "Amelia".into(),
                family_name: format!("Testcase{n}"),
                date_of_birth: "2015-04-01".parse().unwrap_or_default(),
                sex: None,
                postcode: Some("ZZ1 1AA".into()),
            }
            .into(),
            identifiers: ChildIdentifiers::default(),
        }
    }

    fn record(id: &str, impact: &str) -> CheckedRecord {
        serde_json::from_value::<RecordUpsert>(serde_json::json!({
            "source_system_id": id,
            "category": "attendance",
            "effective_from": "2026-09-01",
            "impact": impact,
            "details": RecordDetails::example(RecordCategory::Attendance),
        }))
        .map_err(|e| e.to_string())
        .and_then(|r| r.check(AgencyKind::School).map_err(|e| format!("{e:?}")))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn concurrent_writes_and_reads_keep_the_audit_chain_and_change_numbers() {
        let sqlite_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (url, _dropped) = match std::env::var(TEST_DATABASE_ENV) {
            Ok(server) if !server.is_empty() => {
                let url = unique_database_url(&server, "node_concurrency");
                create_database_if_missing(&url).unwrap_or_else(|e| panic!("{e}"));
                (url.clone(), DropOnExit(Some(url)))
            }
            _ => (
                format!("sqlite://{}", sqlite_dir.path().join("node.db").display()),
                DropOnExit(None),
            ),
        };
        let pool = Arc::new(connect(&url).unwrap_or_else(|e| panic!("{e}")));
        let system =
            schemas::AgencyId::parse("school-a-system").unwrap_or_else(|e| panic!("{e:?}"));

        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let pool = Arc::clone(&pool);
                let system = system.clone();
                std::thread::spawn(move || -> Result<(), DbError> {
                    let mut conn = pool.get()?;
                    for i in 0..WRITES_EACH {
                        // Every writer touches the same shared record too, so updates
                        // of one row race as well as inserts.
                        write(&mut conn, |c| {
                            let (row, _) =
                                children::upsert(c, &format!("W{w}-{i}"), &child(w * 1000 + i))?;
                            let (shared, _) = children::upsert(c, "shared", &child(0))?;
                            records::upsert(
                                c,
                                &row.id,
                                &record(&format!("R{w}-{i}"), "new"),
                                records::Expect::Anything,
                            )?;
                            records::upsert(
                                c,
                                &shared.id,
                                &record("shared-record", &format!("by {w}-{i}")),
                                records::Expect::Anything,
                            )?;
                            let entry = crate::audit::NewEntry::by_system(
                                &system,
                                &format!("w{w}-{i}"),
                                Some(row.id),
                                serde_json::json!({"writer": w, "write": i}),
                            );
                            audit::append(c, &entry)?;
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || -> Result<usize, DbError> {
                    let mut conn = pool.get()?;
                    let mut seen = 0;
                    for _ in 0..20 {
                        // A reader sees a consistent chain at every moment.
                        let report = audit::verify(&mut conn)?;
                        assert!(report.intact, "{report:?}");
                        seen += records::changed_since(&mut conn, 0, 10_000)?.len();
                    }
                    Ok(seen)
                })
            })
            .collect();
        for writer in writers {
            writer
                .join()
                .unwrap_or_else(|_| panic!("a writer panicked"))
                .unwrap_or_else(|e| panic!("a concurrent write failed: {e}"));
        }
        for reader in readers {
            reader
                .join()
                .unwrap_or_else(|_| panic!("a reader panicked"))
                .unwrap_or_else(|e| panic!("a concurrent read failed: {e}"));
        }

        let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
        let report = audit::verify(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.intact, "{report:?}");
        assert_eq!(report.entries, (WRITERS * WRITES_EACH) as u64);
        assert_eq!(
            children::count(&mut conn).unwrap_or_default(),
            (WRITERS * WRITES_EACH + 1) as i64
        );
        // One record per write plus the shared one; its change number is its last
        // update's. Numbers are unique (no two writers took the same one).
        let changed = records::changed_since(&mut conn, 0, 100_000).unwrap_or_default();
        assert_eq!(changed.len(), WRITERS * WRITES_EACH + 1);
        let mut numbers: Vec<i64> = changed.iter().map(|r| r.change_seq).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), changed.len(), "duplicate change numbers");
        let shared = records::find_by_source_id(&mut conn, "shared-record")
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("the shared record is missing"));
        assert_eq!(shared.version, (WRITERS * WRITES_EACH) as i64);
        // Each write took two numbers (its own record, then the shared one), so the
        // shared record's is the last number given.
        assert_eq!(shared.change_seq, (2 * WRITERS * WRITES_EACH) as i64);
    }

    /// Drops the test's PostgreSQL database however the test ends.
    struct DropOnExit(Option<String>);

    impl Drop for DropOnExit {
        fn drop(&mut self) {
            if let Some(url) = &self.0
                && let Err(e) = drop_database(url)
            {
                eprintln!("dropping {url}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod single_process_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_second_process_lock_on_one_sqlite_file_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        let held = SingleProcessLock::acquire(&url, Duration::ZERO)
            .unwrap_or_else(|e| panic!("the first lock: {e}"));
        match SingleProcessLock::acquire(&url, Duration::from_millis(300)) {
            Err(DbError::HeldByAnotherProcess(path)) => assert!(path.ends_with("node.db.lock")),
            other => panic!("a second lock on one SQLite file: {other:?}"),
        }
        drop(held);
        assert!(SingleProcessLock::acquire(&url, Duration::ZERO).is_ok());
        // PostgreSQL needs no file lock: replicas share the server.
        assert!(SingleProcessLock::acquire("postgres://h/x", Duration::ZERO).is_ok());
    }
}

/// The rolling-upgrade rule, tested on the outbox-claims migration: every migration is
/// expand-then-contract, so a replica of the previous release keeps working on the
/// database a replica of this release has migrated. The previous release's statements
/// (written against the schema before the migration, naming their columns) still run,
/// and this release's code handles the rows they wrote.
#[cfg(test)]
mod rolling_upgrade_tests {
    use super::testing::TestDb;
    use super::*;
    use diesel::migration::MigrationSource;

    const CLAIMS: &str = "2026-12-05-002700_outbox_claims";

    /// Runs this backend's migrations up to (`before = true`: not including) `CLAIMS`,
    /// or the rest of them.
    fn run_migrations(conn: &mut DbConnection, before: bool) {
        fn run<B, C>(conn: &mut C, source: EmbeddedMigrations, before: bool)
        where
            B: diesel::backend::Backend,
            C: MigrationHarness<B> + diesel::migration::MigrationConnection,
            EmbeddedMigrations: MigrationSource<B>,
        {
            conn.setup().unwrap_or_else(|e| panic!("{e}"));
            let mut all =
                MigrationSource::<B>::migrations(&source).unwrap_or_else(|e| panic!("{e}"));
            all.sort_by_key(|m| m.name().version().to_string());
            for m in all {
                let is_before = m.name().to_string().as_str() < CLAIMS;
                if is_before == before {
                    conn.run_migration(&m).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
        match conn {
            DbConnection::Sqlite(c) => run(c, MIGRATIONS, before),
            DbConnection::Pg(c) => run(c, PG_MIGRATIONS, before),
        }
    }

    #[test]
    fn the_previous_release_keeps_working_beside_the_outbox_claims_migration() {
        let mut db = TestDb::unmigrated();
        run_migrations(&mut db, true);
        // The previous release stores a child and raises an event.
        let child = schemas::ChildUpsert {
            demographics: schemas::Demographics {
                given_name: "Amelia".into(),
                family_name: "Upgradetest".into(),
                date_of_birth: "2015-04-01".parse().unwrap_or_default(),
                sex: None,
                postcode: None,
            }
            .into(),
            identifiers: schemas::ChildIdentifiers::default(),
        };
        let row = children::upsert_as_before_former_upns(&mut db, "U1", &child)
            .unwrap_or_else(|e| panic!("{e}"));
        let old_insert = |conn: &mut DbConnection, id: &str| {
            diesel::sql_query(
                "INSERT INTO outbox (id, event_type, child_id, category, occurred_at, impact, \
                 details, source_system_id, status, attempts, next_attempt_at, last_error, \
                 deadline, created_at) VALUES ($1, 'exclusion', $2, 'exclusion', \
                 '2026-12-01 08:00:00', 'Synthetic', '{}', NULL, 'pending', 0, \
                 '2026-12-01 08:00:00', NULL, NULL, '2026-12-01 08:00:00')",
            )
            .bind::<diesel::sql_types::Text, _>(id)
            .bind::<diesel::sql_types::Text, _>(&row.id)
            .execute(conn)
        };
        old_insert(&mut db, "E-old").unwrap_or_else(|e| panic!("{e}"));

        // A replica of this release starts and migrates.
        run_migrations(&mut db, false);

        // The previous release's statements still run on the migrated schema...
        old_insert(&mut db, "E-old-2").unwrap_or_else(|e| panic!("{e}"));
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
        }
        let old_due: Vec<Id> = diesel::sql_query(
            "SELECT id, event_type, child_id, category, occurred_at, impact, details, \
             source_system_id, status, attempts, next_attempt_at, last_error, deadline, \
             created_at FROM outbox WHERE status = 'pending' ORDER BY id",
        )
        .load(&mut *db)
        .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = old_due.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["E-old", "E-old-2"]);
        diesel::sql_query(
            "UPDATE outbox SET status = 'delivered', attempts = 1, next_attempt_at = NULL, \
             last_error = NULL WHERE id = 'E-old-2'",
        )
        .execute(&mut *db)
        .unwrap_or_else(|e| panic!("{e}"));

        // ...and this release claims and records the row the previous one wrote.
        let now = chrono::Utc::now().naive_utc();
        let claim = notifications::claim_due(&mut db, now, chrono::Duration::seconds(30))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the old release's event is claimed"));
        assert_eq!(claim.event.id, "E-old");
        assert!(
            notifications::record_attempt(
                &mut db,
                "E-old",
                &claim.token,
                notifications::DELIVERED,
                1,
                None,
                None,
                &[],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(
            notifications::claim_due(&mut db, now, chrono::Duration::seconds(30))
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
    }
}

#[cfg(test)]
mod loading_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use diesel::sql_types::BigInt;

    #[derive(QueryableByName)]
    struct CacheSize {
        #[diesel(sql_type = BigInt)]
        cache_size: i64,
    }

    #[derive(QueryableByName)]
    struct AutoCheckpoint {
        #[diesel(sql_type = BigInt)]
        wal_autocheckpoint: i64,
    }

    #[derive(QueryableByName)]
    struct TempStore {
        #[diesel(sql_type = BigInt)]
        temp_store: i64,
    }

    /// The page cache, the checkpoint threshold and where temporary data goes, as SQLite
    /// reports them.
    fn settings(conn: &mut DbConnection) -> (i64, i64, i64) {
        let DbConnection::Sqlite(c) = conn else {
            panic!("SQLite only");
        };
        let cache = diesel::sql_query("PRAGMA cache_size")
            .get_result::<CacheSize>(c)
            .unwrap();
        let auto = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result::<AutoCheckpoint>(c)
            .unwrap();
        let temp = diesel::sql_query("PRAGMA temp_store")
            .get_result::<TempStore>(c)
            .unwrap();
        (cache.cache_size, auto.wal_autocheckpoint, temp.temp_store)
    }

    #[test]
    fn a_load_sets_sqlite_for_itself_and_gives_the_connection_back_as_it_was() {
        let mut db = testing::TestDb::sqlite_memory();
        assert_eq!(settings(&mut db), (-2000, 1000, 0));
        let during = loading(&mut db, settings);
        // temp_store 2: in memory.
        assert_eq!(
            during,
            (
                -i64::from(LOAD_CACHE_KIB),
                i64::from(LOAD_LOG_BYTES / 4096),
                2
            )
        );
        // A pooled connection goes on to single writes: SQLite's usual checkpoints.
        assert_eq!(settings(&mut db), (-2000, 1000, 0));
    }
}

#[cfg(test)]
mod mmap_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::DatabaseSettings;
    use diesel::sql_types::BigInt;

    #[derive(QueryableByName)]
    struct MmapSize {
        #[diesel(sql_type = BigInt)]
        mmap_size: i64,
    }

    /// The map size a pooled connection of a node opened with `[database]` as `toml` has.
    fn mapped_bytes(toml_text: &str) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("node.db").display());
        let settings: DatabaseSettings =
            toml::from_str(&format!("url = {url:?}\n{toml_text}")).unwrap();
        let pool = connect_with(&settings).unwrap();
        let mut conn = pool.get().unwrap();
        let DbConnection::Sqlite(c) = &mut *conn else {
            panic!("SQLite only");
        };
        diesel::sql_query("PRAGMA mmap_size")
            .get_result::<MmapSize>(c)
            .unwrap()
            .mmap_size
    }

    #[test]
    fn the_sqlite_memory_map_is_a_setting_of_one_gib_by_default() {
        assert_eq!(mapped_bytes(""), 1 << 30);
        assert_eq!(mapped_bytes("sqlite_mmap_mib = 16"), 16 << 20);
        assert_eq!(mapped_bytes("sqlite_mmap_mib = 0"), 0);
    }

    /// The page size of the SQLite database at `url`, read on a pooled connection.
    fn page_size(url: &str) -> i64 {
        let pool = connect(url).unwrap();
        let mut conn = pool.get().unwrap();
        let DbConnection::Sqlite(c) = &mut *conn else {
            panic!("SQLite only");
        };
        i64::from(sqlite_page_size(c).unwrap())
    }

    #[test]
    fn a_new_sqlite_database_has_pages_of_16_kib_and_an_older_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = format!("sqlite://{}", dir.path().join("new.db").display());
        assert_eq!(page_size(&new), i64::from(SQLITE_PAGE_SIZE));
        assert_eq!(page_size(&new), i64::from(SQLITE_PAGE_SIZE), "opened again");

        // A database an earlier release made, with SQLite's default pages and a table.
        let old_path = dir.path().join("old.db");
        let mut made = SqliteConnection::establish(&old_path.display().to_string()).unwrap();
        made.batch_execute(
            "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; \
             CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (7);",
        )
        .unwrap();
        drop(made);
        let old = format!("sqlite://{}", old_path.display());
        assert_eq!(page_size(&old), 4096);
        let pool = connect(&old).unwrap();
        let mut conn = pool.get().unwrap();
        #[derive(QueryableByName)]
        struct Kept {
            #[diesel(sql_type = BigInt)]
            x: i64,
        }
        let kept = diesel::sql_query("SELECT x FROM kept")
            .get_result::<Kept>(&mut *conn)
            .unwrap();
        assert_eq!(kept.x, 7);
        // A load on it counts its log threshold in its own pages.
        let DbConnection::Sqlite(c) = &mut *conn else {
            panic!("SQLite only");
        };
        assert_eq!(sqlite_log_pages(c, LOAD_LOG_BYTES), LOAD_LOG_BYTES / 4096);
    }

    #[test]
    fn a_negative_or_unknown_database_setting_is_refused() {
        assert!(toml::from_str::<DatabaseSettings>("url = \"x\"\nsqlite_mmap_mib = -1").is_err());
        assert!(toml::from_str::<DatabaseSettings>("url = \"x\"\nmmap = 1").is_err());
    }
}

#[cfg(test)]
mod load_run_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::schema::name_counts;
    use super::testing::TestDb;
    use super::*;

    const FAIL: &str = "fails";

    /// What the database holds for others: the names counted, in order.
    fn names(conn: &mut DbConnection) -> Vec<String> {
        name_counts::table
            .select(name_counts::name)
            .order(name_counts::name)
            .load(conn)
            .unwrap()
    }

    /// A chunk's write: a name count and an audit entry an item; the item [`FAIL`] fails
    /// after the items before it were written.
    fn write_names(conn: &mut DbConnection, chunk: Vec<&str>) -> Result<usize, DbError> {
        let system = schemas::AgencyId::parse("school-a-system").unwrap();
        for name in &chunk {
            if *name == FAIL {
                return Err(DbError::Corrupt("a failing chunk".into()));
            }
            diesel::insert_into(name_counts::table)
                .values((
                    name_counts::kind.eq("family"),
                    name_counts::name.eq(*name),
                    name_counts::count.eq(1_i64),
                ))
                .execute(conn)?;
            audit::append(
                conn,
                &crate::audit::NewEntry::by_system(
                    &system,
                    "00-load",
                    None,
                    serde_json::json!({"n": name}),
                ),
            )?;
        }
        Ok(chunk.len())
    }

    #[test]
    fn chunks_share_a_transaction_and_a_failing_chunk_keeps_the_chunks_before_it() {
        for per_transaction in [1, 4, 100] {
            let mut db = TestDb::shared();
            let mut other = db.another();
            write(&mut db, |c| write_names(c, vec!["before"])).unwrap();
            let chunks = vec![
                vec!["a0", "a1"],
                vec!["b0", "b1"],
                vec!["c0", FAIL],
                vec!["d0"],
            ];
            // What another connection sees while each chunk is written: the chunks
            // before it in the same transaction are not committed yet.
            let mut seen = Vec::new();
            let written = write_in_runs(
                &mut db,
                chunks,
                per_transaction,
                Vec::len,
                |chunk, _beside| chunk,
                |conn, chunk| {
                    seen.push(names(&mut other).len());
                    write_names(conn, chunk)
                },
            );
            assert!(
                written.is_err(),
                "{per_transaction}: the failure is returned"
            );
            let expected_seen = match per_transaction {
                1 => vec![1, 3, 5],
                4 => vec![1, 1, 5],
                _ => vec![1, 1, 1],
            };
            assert_eq!(seen, expected_seen, "{per_transaction}");
            // Nothing of the failing chunk, everything before it, committed.
            assert_eq!(
                names(&mut other),
                ["a0", "a1", "b0", "b1", "before"],
                "{per_transaction}"
            );
            let verified = audit::verify(&mut other).unwrap();
            assert!(verified.intact, "{per_transaction}");
            assert_eq!(verified.entries, 5, "{per_transaction}");
            // The connection is left outside any transaction: a write after it commits.
            write(&mut db, |c| write_names(c, vec!["after"])).unwrap();
            assert_eq!(names(&mut other).len(), 6, "{per_transaction}");
            assert!(audit::verify(&mut other).unwrap().intact);
        }
    }

    #[test]
    fn a_load_without_failure_commits_every_chunk() {
        let mut db = TestDb::shared();
        let mut other = db.another();
        let chunks = vec![vec!["a0"], vec!["b0", "b1"], vec!["c0"]];
        let written = write_in_runs(&mut db, chunks, 2, Vec::len, |c, _| c, write_names).unwrap();
        assert_eq!(written, [1, 2, 1]);
        assert_eq!(names(&mut other), ["a0", "b0", "b1", "c0"]);
        assert_eq!(audit::verify(&mut other).unwrap().entries, 4);
    }
}
