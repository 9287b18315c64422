//! Online backup and restore: a backup taken while the node keeps writing, restored into
//! a fresh database, holds an intact audit chain and every write acknowledged before the
//! backup began; a witnessed checkpoint the backup does not reach, or reaches with
//! another hash, is refused by name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agency_node::backup::{self, BackupError, Checkpoint};
use agency_node::db;
use federation::plan::Database;
use federation_tests::{Options, spawn_federation, test_database};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fresh database URL on the test backend, and its clean-up.
fn fresh_database(dir: &std::path::Path, name: &str) -> (String, Option<String>) {
    match test_database() {
        Database::Sqlite => (
            format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            None,
        ),
        Database::Postgres { server, .. } => {
            let url = db::unique_database_url(&server, name);
            (url.clone(), Some(url))
        }
    }
}

#[tokio::test]
async fn a_backup_taken_during_writes_restores_every_acknowledged_write_with_its_audit() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 50))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = fed.files.database_urls["school-a"].clone();

    // Writes run throughout; each acknowledged one is noted once its answer is in.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let mis = fed.system("school-a");
        let acknowledged = Arc::clone(&acknowledged);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let local_id = format!("BK-{n}");
                let child = json!({
                    "demographics": {"given_name": "Rowan", "family_name": format!("Backup{n}"),
                        "date_of_birth": "2016-03-02", "sex": "female", "postcode": "ZZ9 1AB"},
                    "identifiers": {}
                });
                let answer = mis.put_child(&local_id, &child).await;
                assert!(matches!(answer.status, 200 | 201), "{answer:?}");
                acknowledged.lock().unwrap().push(local_id);
                n += 1;
            }
            n
        })
    };
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every write acknowledged before the backup began must be in it.
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let file = dir.path().join("school-a.backup");
    let report = {
        let (url, file) = (url.clone(), file.clone());
        tokio::task::spawn_blocking(move || backup::backup(&url, &file))
            .await
            .unwrap()
            .unwrap()
    };
    // Writes carried on during and after it.
    while acknowledged.lock().unwrap().len() < before.len() + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > before.len() + 10);
    assert!(report.audit_head_seq > 0 && report.bytes > 0, "{report:?}");
    let backup_head = Checkpoint {
        seq: report.audit_head_seq,
        hash: report.audit_head_hash.clone().unwrap(),
    };

    // Restored into a fresh database, checked against the head the backup reported.
    let (restored_url, drop_after) = fresh_database(dir.path(), "restored");
    let restored = backup::restore(&file, &restored_url, Some(&backup_head)).unwrap();
    assert!(restored.verification.intact, "{restored:?}");
    assert_eq!(restored.audit_head_seq, report.audit_head_seq);
    let mut conn = db::establish(&restored_url).unwrap();
    for local_id in &before {
        assert!(
            db::children::find_by_local_id(&mut conn, local_id)
                .unwrap()
                .is_some(),
            "{local_id} was acknowledged before the backup began"
        );
    }
    drop(conn);

    // The live node's audit went on after the backup: a witness that saw its head
    // now would be rolled back by restoring the backup.
    let mut live = fed.database("school-a");
    let (seq, hash) = db::audit::head(&mut live).unwrap().unwrap();
    assert!(seq > report.audit_head_seq);
    let (second_url, drop_second) = fresh_database(dir.path(), "second");
    match backup::restore(&file, &second_url, Some(&Checkpoint { seq, hash })) {
        Err(e @ BackupError::RollbackPastCheckpoint { .. }) => {
            let why = e.to_string();
            assert!(
                why.contains(&format!("witnessed checkpoint {seq}"))
                    && why.contains(&format!("ends at entry {}", report.audit_head_seq)),
                "{why}"
            );
        }
        other => panic!("a rollback past a witnessed checkpoint: {other:?}"),
    }
    // A witnessed entry the backup holds with another hash: another history.
    let forged = Checkpoint {
        seq: 1,
        hash: "0".repeat(64),
    };
    let (third_url, drop_third) = fresh_database(dir.path(), "third");
    assert!(matches!(
        backup::restore(&file, &third_url, Some(&forged)),
        Err(BackupError::NotTheWitnessedHistory { seq: 1, .. })
    ));
    // A backup never overwrites a file.
    assert!(matches!(
        backup::backup(&url, &file),
        Err(BackupError::Exists(_))
    ));

    for url in [drop_after, drop_second, drop_third].into_iter().flatten() {
        db::drop_database(&url).unwrap();
    }
    fed.shutdown().await;
}

/// Restoring over a node's database in use is refused, and leaves it as it was: on
/// SQLite the running node holds the file; on PostgreSQL a restore goes only into an
/// empty database.
#[tokio::test]
async fn a_restore_over_a_database_in_use_is_refused() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 20))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = fed.files.database_urls["school-a"].clone();
    let file = dir.path().join("school-a.backup");
    backup::backup(&url, &file).unwrap();
    let children = db::children::count(&mut fed.database("school-a")).unwrap();
    match (test_database(), backup::restore(&file, &url, None)) {
        (Database::Sqlite, Err(BackupError::Database(db::DbError::HeldByAnotherProcess(_)))) => {}
        (Database::Postgres { .. }, Err(BackupError::TargetNotEmpty)) => {}
        (_, other) => panic!("a restore over a database in use: {other:?}"),
    }
    assert_eq!(
        db::children::count(&mut fed.database("school-a")).unwrap(),
        children
    );
    fed.shutdown().await;
}

/// With `--witnessed`, a restore asks the other nodes for the newest checkpoint of the
/// node's audit they keep: a backup older than it is refused, naming the rollback.
#[tokio::test]
async fn a_restore_past_the_newest_witnessed_checkpoint_is_refused() {
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care", "health"], 0))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = fed.files.database_urls["school-a"].clone();
    let mis = fed.system("school-a");
    let child = json!({"demographics": {"given_name": "Robin", "family_name": "Backupson",
        "date_of_birth": "2015-02-03"}});
    mis.put_child("B-1", &child).await.expect(201);
    let file = dir.path().join("school-a.backup");
    let report = backup::backup(&url, &file).unwrap();
    // The node goes on writing, and has its head witnessed.
    mis.put_child("B-2", &child).await.expect(201);
    let receipt = mis
        .post("/v1/audit/checkpoints", &json!({}))
        .await
        .expect(200);
    assert_eq!(
        receipt["witnessed_by"].as_array().unwrap().len(),
        2,
        "{receipt}"
    );
    let settings = fed.files.node_settings("school-a").unwrap();
    let newest = agency_node::anchoring::newest_witnessed(&settings)
        .await
        .unwrap()
        .expect("a witnessed checkpoint");
    assert!(newest.checkpoint.seq > report.audit_head_seq);
    let checkpoint = Checkpoint {
        seq: newest.checkpoint.seq,
        hash: newest.checkpoint.hash,
    };
    let (fresh, drop_fresh) = fresh_database(dir.path(), "witnessed");
    assert!(
        matches!(
            backup::restore(&file, &fresh, Some(&checkpoint)),
            Err(BackupError::RollbackPastCheckpoint { .. })
        ),
        "a backup older than the witnessed head"
    );
    if let Some(url) = drop_fresh {
        db::drop_database(&url).unwrap();
    }
    fed.shutdown().await;
}
