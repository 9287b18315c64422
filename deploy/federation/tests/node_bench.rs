//! `federation bench node` at a small size, end to end: seeding, a real node process,
//! mutual-TLS load and the report, so the command cannot rot between the long runs it
//! exists for. A few seconds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use federation::node_bench::{Options, node};
use federation::plan::{Database, DatabaseNames};
use std::path::PathBuf;

#[test]
fn node_bench_at_300_children_reports_every_figure_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bench");
    // SQLite, or the PostgreSQL server the node's tests use when one is named.
    let database = match std::env::var(agency_node::db::TEST_DATABASE_ENV) {
        Ok(server) if !server.is_empty() => Database::Postgres {
            server,
            names: DatabaseNames::Unique,
        },
        _ => Database::Sqlite,
    };
    let report = node(&Options {
        children: 300,
        database,
        seed: 7,
        dir: Some(folder.clone()),
        duration: 0.5,
        warmup: 0.1,
        concurrency: 2,
        port: free_port(),
        keep: false,
        exe: PathBuf::from(env!("CARGO_BIN_EXE_federation")),
        verbose: false,
    })
    .unwrap();

    assert_eq!(report.seeding.children, 300);
    assert_eq!(report.seeding.with_nhs_number, 300);
    assert!(report.seeding.database_bytes > 0);
    assert!(report.startup_seconds > 0.0);
    assert!(report.node_rss_idle_kib > 0);
    // Not compared with the idle figure: the kernel's resident-set counters are
    // approximate (per-CPU batches), and an RSS read at idle has come out a few pages
    // above the VmHWM read at the end, once memory the allocator handed back had gone.
    assert!(report.node_rss_high_water_kib > 0);
    // Every looked-up UPN is a seeded child's.
    assert_eq!(report.answers["identifier"].get("held"), Some(&300));
    assert_eq!(report.answers["demographic exact"].get("held"), Some(&150));
    assert!(
        report.answers["demographic drifted"]
            .get("held")
            .copied()
            .unwrap_or(0)
            > 100
    );
    let kinds: Vec<(&str, usize)> = report
        .runs
        .iter()
        .map(|r| (r.kind, r.concurrency))
        .collect();
    assert_eq!(
        kinds,
        [
            ("identifier", 1),
            ("identifier", 2),
            ("demographic", 1),
            ("demographic", 2)
        ]
    );
    for run in &report.runs {
        assert!(run.ok > 0, "{} c={}: no answer", run.kind, run.concurrency);
        assert_eq!(
            run.errors, 0,
            "{} c={}: {:?}",
            run.kind, run.concurrency, run.outcomes
        );
        assert!(run.latency_ms.p50 > 0.0 && run.latency_ms.p99 >= run.latency_ms.p50);
        assert!(run.node_rss_peak_kib > 0);
    }
    // Every answered search is audited at the node.
    let answered: u64 = 600 + report.runs.iter().map(|r| r.ok).sum::<u64>();
    assert!(report.audit_rows_after - report.audit_rows_before >= answered as i64);
    assert_eq!(report.in_process.len(), 2);
    assert!(report.in_process.iter().all(|p| p.searches == 300));
    assert!(!report.commit.is_empty() && report.machine.contains("cores"));
    assert!(!folder.exists(), "the folder is removed without --keep");
}
