//! The `agency-node` binary's commands, run as a user would.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::RunQueryDsl;
use std::process::Command;

fn config(dir: &std::path::Path, db: &std::path::Path) -> std::path::PathBuf {
    // Only the database is used by `audit verify`; the other sections must parse.
    let text = format!(
        "[agency]\nid = \"school-a\"\nkind = \"school\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [tls]\ncert = \"unused.pem\"\nkey = \"unused.key\"\nca = \"unused-ca.pem\"\n\n\
         [directory]\npath = \"unused.toml\"\n\n[database]\nurl = \"sqlite://{}\"\n\n\
         [policy]\npath = \"unused-policy.toml\"\n",
        db.display()
    );
    let path = dir.join("node.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(config: &std::path::Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_agency-node"))
        .args(["--config", config.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn audit_verify_reports_an_intact_chain_and_exits_1_on_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("node.db");
    let pool = agency_node::db::connect(&format!("sqlite://{}", db.display())).unwrap();
    let system = schemas::AgencyId::parse("school-a-system").unwrap();
    for i in 0..3 {
        let entry = agency_node::audit::NewEntry::by_system(
            &system,
            "c",
            None,
            serde_json::json!({"n": i}),
        );
        agency_node::db::write(&mut pool.get().unwrap(), |c| {
            agency_node::db::audit::append(c, &entry)
        })
        .unwrap();
    }
    let config = config(dir.path(), &db);
    let (code, report) = verify(&config);
    assert_eq!(
        (code, report["intact"].clone(), report["entries"].clone()),
        (0, serde_json::json!(true), serde_json::json!(3))
    );

    diesel::sql_query("UPDATE audit_log SET detail = '{\"n\":9}' WHERE seq = 2")
        .execute(&mut pool.get().unwrap())
        .unwrap();
    let (code, report) = verify(&config);
    assert_eq!(code, 1);
    assert_eq!(report["first_broken"], 2);
}

#[test]
fn matching_estimate_u_prints_weights_the_node_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("node.db");
    let pool = agency_node::db::connect(&format!("sqlite://{}", db.display())).unwrap();
    for i in 0..40u32 {
        let child = schemas::ChildUpsert {
            demographics: schemas::Demographics {
                // Four given names, so an exact given name is common here: u = 0.23.
                given_name: ["Amelia", "Noah", "Isla", "Leo"][(i % 4) as usize].into(),
                family_name: format!(
                    "{}{}",
                    [
                        "Ash", "Brook", "Cole", "Dunn", "Eve", "Frost", "Gale", "Hart"
                    ][(i / 5) as usize],
                    ["ford", "well", "by", "ton", "wick"][(i % 5) as usize]
                ),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(2014, 1 + i % 12, 1 + i % 28)
                    .unwrap(),
                sex: Some(if i.is_multiple_of(2) {
                    schemas::Sex::Female
                } else {
                    schemas::Sex::Male
                }),
                postcode: Some(format!("ZZ{} {}AB", 1 + i % 3, i % 10)),
            }
            .into(),
            identifiers: schemas::ChildIdentifiers::default(),
        };
        agency_node::db::write(&mut pool.get().unwrap(), |c| {
            agency_node::db::children::upsert(c, &format!("e{i}"), &child)
        })
        .unwrap();
    }
    let config = config(dir.path(), &db);
    let out = Command::new(env!("CARGO_BIN_EXE_agency-node"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "matching",
            "estimate-u",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("40 children sampled; 780 pairs compared (every pair)"),
        "{stderr}"
    );
    #[derive(serde::Deserialize)]
    struct File {
        matching: matching::MatchingSettings,
    }
    let printed: File = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    // 4 names × C(10,2) = 180 of the 780 pairs share a given name; printed is what a
    // node adopts, the count's upper bound (180 + 3) / 780.
    let u = printed.matching.weights.given_name.exact.u;
    assert!((u - 183.0 / 780.0).abs() < 1e-9, "{u}");
    assert!(stderr.contains("u adopted"), "{stderr}");
    printed.matching.validate().unwrap();
}
