//! Online backup and restore of a node's database, checked against the audit.
//!
//! A backup is consistent and taken while the node serves: SQLite's `VACUUM INTO` (one
//! read transaction) or, on PostgreSQL, `pg_dump` of a snapshot this module exports and
//! holds, so that the audit head it reports is the one in the dump. A restore first
//! checks what it would bring back: the backup's audit chain must verify, and when the
//! operator gives a **witnessed checkpoint** (`SEQ:HASH`, an audit head someone outside
//! the node recorded), the backup must hold that entry with that hash. A backup that
//! ends before it would roll the audit back past what was witnessed; one whose entry
//! differs is another history. Both are refused, by name. Then the copy is put in
//! place, migrated to this release, and verified again.

use crate::db::{self, Backend, DbError};
use schemas::disclosure::AuditVerification;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An audit head recorded outside the node: entry `seq` had hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': a checkpoint is SEQ:HASH"))?;
        let seq: i64 =
            seq.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("'{seq}': the sequence number must be a positive integer")
            })?;
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("'{hash}': the hash must be 64 hexadecimal digits"));
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: a backup never overwrites a file")]
    Exists(PathBuf),
    #[error(
        "the restore would roll the audit back past the witnessed checkpoint {checkpoint}: \
         the backup's audit ends at entry {backup_head}"
    )]
    RollbackPastCheckpoint { checkpoint: i64, backup_head: i64 },
    #[error(
        "the backup's audit entry {seq} is not the witnessed one (hash {found}, witnessed \
         {witnessed}): the backup holds another history"
    )]
    NotTheWitnessedHistory {
        seq: i64,
        found: String,
        witnessed: String,
    },
    #[error("the backup's audit chain is broken at entry {first_broken:?}: {detail}")]
    BrokenChain {
        first_broken: Option<i64>,
        detail: String,
    },
    #[error("the target PostgreSQL database is not empty: restore into a fresh database")]
    TargetNotEmpty,
    #[error("{0}")]
    Database(#[from] DbError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{tool} failed: {detail}")]
    Tool { tool: &'static str, detail: String },
}

/// What a backup holds.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub backend: &'static str,
    pub file: PathBuf,
    pub bytes: u64,
    /// The audit head in the backup (sequence number), 0 when empty.
    pub audit_head_seq: i64,
    pub audit_head_hash: Option<String>,
}

/// What a restore brought back.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub audit_head_seq: i64,
    pub audit_head_hash: Option<String>,
    pub verification: AuditVerification,
    /// The witnessed checkpoint the backup was checked against, if given.
    pub checkpoint: Option<i64>,
}

fn backend_name(url: &str) -> &'static str {
    match Backend::of(url) {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    }
}

/// Copies the database at `database_url` into the new file `to`, while the node runs.
pub fn backup(database_url: &str, to: &Path) -> Result<BackupReport, BackupError> {
    if to.exists() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let mut conn = db::establish(database_url)?;
    let head = match Backend::of(database_url) {
        Backend::Sqlite => {
            db::backup::vacuum_into(&mut conn, &to.to_string_lossy())?;
            let mut copy = db::establish(&to.to_string_lossy())?;
            db::audit::head(&mut copy)?
        }
        Backend::Postgres => db::read_snapshot(&mut conn, |c| -> Result<_, BackupError> {
            // The dump reads the snapshot this transaction holds open: the head read
            // here is the dump's.
            let snapshot = db::backup::export_snapshot(c)?;
            let head = db::audit::head(c)?;
            run(
                "pg_dump",
                Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg(format!("--snapshot={snapshot}"))
                    .arg("--no-owner")
                    .arg("--file")
                    .arg(to)
                    .arg(format!("--dbname={database_url}")),
            )?;
            Ok(head)
        })?,
    };
    Ok(BackupReport {
        backend: backend_name(database_url),
        file: to.to_owned(),
        bytes: std::fs::metadata(to)?.len(),
        audit_head_seq: head.as_ref().map_or(0, |h| h.0),
        audit_head_hash: head.map(|h| h.1),
    })
}

fn run(tool: &'static str, command: &mut Command) -> Result<(), BackupError> {
    let output = command.output().map_err(|e| BackupError::Tool {
        tool,
        detail: format!("cannot run it ({e}); install PostgreSQL's client tools"),
    })?;
    if !output.status.success() {
        return Err(BackupError::Tool {
            tool,
            detail: String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(500)
                .collect(),
        });
    }
    Ok(())
}

/// Whether the audit in `conn` reaches the witnessed checkpoint with its hash, and
/// verifies.
fn check(
    conn: &mut db::DbConnection,
    checkpoint: Option<&Checkpoint>,
) -> Result<(Option<(i64, String)>, AuditVerification), BackupError> {
    let verification = db::audit::verify(conn)?;
    if !verification.intact {
        return Err(BackupError::BrokenChain {
            first_broken: verification.first_broken,
            detail: verification.detail.clone().unwrap_or_default(),
        });
    }
    let head = db::audit::head(conn)?;
    if let Some(cp) = checkpoint {
        let backup_head = head.as_ref().map_or(0, |h| h.0);
        match db::audit::find(conn, cp.seq)? {
            None => {
                return Err(BackupError::RollbackPastCheckpoint {
                    checkpoint: cp.seq,
                    backup_head,
                });
            }
            Some(entry) if !entry.hash.eq_ignore_ascii_case(&cp.hash) => {
                return Err(BackupError::NotTheWitnessedHistory {
                    seq: cp.seq,
                    found: entry.hash,
                    witnessed: cp.hash.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok((head, verification))
}

/// Restores the backup `from` into the database at `database_url`, which no node may be
/// using: on SQLite the file is replaced (the node must be stopped: its lock is taken
/// first); on PostgreSQL the database must be empty (it is created if missing). The
/// backup is checked before anything is replaced on SQLite; on PostgreSQL it is checked
/// once restored, before the command reports success (point the node at the database
/// only then).
pub fn restore(
    from: &Path,
    database_url: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<RestoreReport, BackupError> {
    if !from.is_file() {
        return Err(BackupError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no backup file at {}", from.display()),
        )));
    }
    match Backend::of(database_url) {
        Backend::Sqlite => {
            let _only_us = db::SingleProcessLock::acquire(database_url, std::time::Duration::ZERO)?;
            {
                // Checked on a scratch copy, so the backup file itself stays as it was.
                let target = db::connection_target(database_url)?;
                let scratch = format!("{target}.restoring");
                std::fs::copy(from, &scratch)?;
                let checked = (|| {
                    let mut copy = db::establish(&scratch)?;
                    check(&mut copy, checkpoint)
                })();
                if let Err(e) = checked {
                    let _ = std::fs::remove_file(&scratch);
                    return Err(e);
                }
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{target}{suffix}"));
                }
                std::fs::rename(&scratch, &target)?;
            }
        }
        Backend::Postgres => {
            db::create_database_if_missing(database_url)?;
            let mut conn = db::establish(database_url)?;
            if db::backup::postgres_tables(&mut conn)? > 0 {
                return Err(BackupError::TargetNotEmpty);
            }
            run(
                "pg_restore",
                Command::new("pg_restore")
                    .arg("--no-owner")
                    .arg("--single-transaction")
                    .arg("--exit-on-error")
                    .arg(format!("--dbname={database_url}"))
                    .arg(from),
            )?;
        }
    }
    // Brought to this release's schema, then checked as it now stands.
    let pool = db::connect(database_url)?;
    let mut conn = pool.get().map_err(DbError::from)?;
    let (head, verification) = check(&mut conn, checkpoint)?;
    Ok(RestoreReport {
        audit_head_seq: head.as_ref().map_or(0, |h| h.0),
        audit_head_hash: head.map(|h| h.1),
        verification,
        checkpoint: checkpoint.map(|c| c.seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_a_positive_sequence_number_and_a_sha256() {
        let hash = "ab".repeat(32);
        assert_eq!(
            format!("12:{hash}").parse::<Checkpoint>(),
            Ok(Checkpoint {
                seq: 12,
                hash: hash.clone()
            })
        );
        for bad in ["12", "0:x", "-1:ab", &format!("x:{hash}"), "3:abc"] {
            assert!(bad.parse::<Checkpoint>().is_err(), "{bad}");
        }
    }
}
