//! Audit anchoring: a node's signed checkpoints of its audit log, kept by the other nodes
//! through the gateway, catch a log rewritten whole with every hash recomputed, which the
//! hash chain alone cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use federation_tests::scenario::child;
use federation_tests::{Call, Options, TestFederation, spawn_federation};
use serde_json::{Value, json};

fn three_nodes() -> Options {
    Options::nodes(&["school-a", "social-care", "health"], 0)
}

/// Rewrites a node's whole log from entry `from` on: that entry's content is changed,
/// and every hash after it and the head are recomputed, as an administrator with the
/// database could.
fn rewrite_from(fed: &TestFederation, node: &str, from: i64) {
    use agency_node::db::schema::{audit_head, audit_log};
    let mut conn = fed.database(node);
    let rows: Vec<agency_node::db::audit::AuditRow> = audit_log::table
        .order(audit_log::seq.asc())
        .select(agency_node::db::audit::AuditRow::as_select())
        .load(&mut conn)
        .unwrap();
    let mut prev = agency_node::audit::GENESIS.to_owned();
    for mut row in rows {
        if row.seq >= from {
            if row.seq == from {
                row.detail = json!({"wrote": "nothing to see here"}).to_string();
            }
            let entry = row.entry().unwrap();
            row.prev_hash = prev.clone();
            row.hash = agency_node::audit::chain_hash(&prev, row.seq, row.at, &entry);
            diesel::update(audit_log::table.find(row.seq))
                .set((
                    audit_log::detail.eq(&row.detail),
                    audit_log::prev_hash.eq(&row.prev_hash),
                    audit_log::hash.eq(&row.hash),
                ))
                .execute(&mut conn)
                .unwrap();
        }
        prev = row.hash.clone();
    }
    diesel::update(audit_head::table.find(1))
        .set(audit_head::hash.eq(&prev))
        .execute(&mut conn)
        .unwrap();
}

/// `n` writes, each an audit entry: a child written, then written again.
async fn write_times(school: &federation_tests::scenario::System, n: usize) {
    for i in 0..n {
        let status = school.put_child("T-1", &child()).await.status;
        assert_eq!(status, if i == 0 { 201 } else { 200 });
    }
}

#[tokio::test]
async fn a_log_rewritten_whole_after_a_witnessed_checkpoint_is_named() {
    let fed = spawn_federation(three_nodes()).await.unwrap();
    let school = fed.system("school-a");
    write_times(&school, 4).await;
    let receipt = school
        .post("/v1/audit/checkpoints", &json!({}))
        .await
        .expect(200);
    let mut witnesses: Vec<&str> = receipt["witnessed_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    witnesses.sort();
    assert_eq!(witnesses, ["health", "social-care"], "{receipt}");
    let seq = receipt["checkpoint"]["seq"].as_i64().unwrap();
    assert!(seq >= 4, "the four writes are in the checkpoint: {receipt}");

    let verified = school.verify_audit().await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["witnesses"]["checked"], 2, "{verified}");
    assert_eq!(verified["witnesses"]["latest_seq"], seq, "{verified}");

    rewrite_from(&fed, "school-a", 2);
    // The chain alone still holds: every hash was recomputed.
    let mut conn = fed.database("school-a");
    let local = agency_node::db::audit::verify(&mut conn).unwrap();
    assert!(local.intact, "{local:?}");

    let verified = school.verify_audit().await;
    assert_eq!(
        (&verified["intact"], &verified["first_broken"]),
        (&json!(false), &json!(seq)),
        "{verified}"
    );
    let detail = verified["detail"].as_str().unwrap();
    assert!(detail.contains("rewritten"), "{detail}");
    assert!(
        detail.contains("social-care") || detail.contains("health"),
        "names the witness: {detail}"
    );

    // Offered the rewritten head at the same entry, the witnesses refuse it.
    let again = school
        .post("/v1/audit/checkpoints", &json!({}))
        .await
        .expect(200);
    assert_eq!(again["witnessed_by"], json!([]), "{again}");
    let reasons: Vec<&str> = again["not_witnessed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2, "{again}");
    assert!(reasons.iter().all(|r| r.contains("rewritten")), "{again}");
    fed.shutdown().await;
}

#[tokio::test]
async fn entries_cut_after_a_witnessed_checkpoint_are_named() {
    let fed = spawn_federation(three_nodes()).await.unwrap();
    let school = fed.system("school-a");
    write_times(&school, 3).await;
    let receipt = school
        .post("/v1/audit/checkpoints", &json!({}))
        .await
        .expect(200);
    let last = receipt["checkpoint"]["seq"].as_i64().unwrap();
    // The last entry cut, and the head moved back to the one before: the chain alone
    // cannot tell.
    {
        use agency_node::db::schema::{audit_head, audit_log};
        let mut conn = fed.database("school-a");
        diesel::delete(audit_log::table.filter(audit_log::seq.eq(last)))
            .execute(&mut conn)
            .unwrap();
        let hash: String = audit_log::table
            .find(last - 1)
            .select(audit_log::hash)
            .first(&mut conn)
            .unwrap();
        diesel::update(audit_head::table.find(1))
            .set((audit_head::seq.eq(last - 1), audit_head::hash.eq(hash)))
            .execute(&mut conn)
            .unwrap();
        let local = agency_node::db::audit::verify(&mut conn).unwrap();
        assert!(local.intact, "{local:?}");
    }
    let verified = school.verify_audit().await;
    assert_eq!(verified["intact"], false, "{verified}");
    assert!(
        verified["detail"].as_str().unwrap().contains("removed"),
        "{verified}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn checkpoints_not_signed_by_their_node_are_refused() {
    let fed = spawn_federation(three_nodes()).await.unwrap();
    let school_tls = fed.files.node_settings("school-a").unwrap().tls;
    let school_node = fed.member_client(&school_tls);
    let forged = json!({
        "node": "social-care", "seq": 1, "hash": "00",
        "at": chrono::Utc::now().to_rfc3339(), "signature": "AAAA"
    });
    // A node may not relay a checkpoint of another node's log.
    let answer = school_node
        .post(format!("{}/v1/audit/checkpoints", fed.gateway_url))
        .json(&forged)
        .answer()
        .await
        .expect_problem(400, "invalid-request");
    assert!(answer.to_string().contains("own audit log"), "{answer}");
    // A witness refuses a checkpoint whose signature is not the named node's.
    let refused = fed
        .gateway_identity()
        .post(format!(
            "{}/v1/federation/audit/checkpoints",
            fed.node_url("health")
        ))
        .json(&forged)
        .answer()
        .await
        .expect_problem(400, "invalid-request");
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["signature"], "{refused}");
    // Only a gateway asks a witness; a node reads only its own checkpoints.
    school_node
        .post(format!(
            "{}/v1/federation/audit/checkpoints",
            fed.node_url("health")
        ))
        .json(&forged)
        .answer()
        .await
        .expect_problem(403, "forbidden");
    let other: Value = school_node
        .get(format!("{}/v1/audit/checkpoints/health", fed.gateway_url))
        .answer()
        .await
        .expect_problem(403, "forbidden");
    assert!(other.to_string().contains("own audit log"), "{other}");
    fed.shutdown().await;
}
