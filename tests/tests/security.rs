//! The attack run, kept: each way a hostile member or a careless integrator tried to
//! break the federation, against a real spawned federation, with the refusal or the
//! behaviour that holds. `docs/security.md` lists every case (the threat, the expected
//! answer, the test), including those held by tests in other files.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use federation_tests::{Options, SAFEGUARDING, spawn_federation};
use schemas::{PractitionerRole, RecordCategory};
use serde_json::Value;

/// Finding 1: one record dated at the end of the calendar (a node may run an older
/// version that accepted it) made the gateway panic on date arithmetic, and every view of
/// that child closed the connection with no answer. The view now answers, the record
/// shown as it is.
#[tokio::test]
async fn a_record_dated_at_the_end_of_the_calendar_does_not_take_the_view_down() {
    use diesel::prelude::*;
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 300))
        .await
        .unwrap();
    let (child, plan) = fed
        .children
        .iter()
        .find_map(|c| {
            let plan = c
                .holdings
                .iter()
                .filter(|h| h.node == "social-care")
                .flat_map(|h| h.records.iter())
                .find(|r| {
                    matches!(
                        r.category,
                        RecordCategory::ChildProtectionPlan | RecordCategory::ChildInNeedPlan
                    )
                })?;
            Some((c, plan.source_system_id.clone()))
        })
        .expect("a seeded child with a social care plan");
    // Written straight into the node's database: whatever today's write validation
    // refuses, a node of an older version holds such records.
    let poison = chrono::NaiveDate::from_ymd_opt(262_142, 12, 31).unwrap();
    {
        use agency_node::db::schema::records::dsl as r;
        let changed = diesel::update(r::records.filter(r::source_system_id.eq(&plan)))
            .set(r::effective_to.eq(Some(poison)))
            .execute(&mut fed.database("social-care"))
            .unwrap();
        assert_eq!(changed, 1);
    }
    let token = fed.token(PractitionerRole::SocialWorker, "social-care");
    let reference = fed.reference_for(&token, child, SAFEGUARDING).await;
    for _ in 0..2 {
        let view = fed.view(&token, &reference, SAFEGUARDING).await.expect(200);
        let section = view["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agency_id"] == "social-care")
            .unwrap();
        assert_eq!(section["status"], "ok", "{section}");
        let record = section["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source_system_id"] == plan.as_str())
            .unwrap();
        assert_eq!(record["effective_to"], "+262142-12-31", "{record}");
        let ended: Vec<&Value> = view["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["date"] == "+262142-12-31")
            .collect();
        assert!(
            ended.len() <= 1,
            "the plan ends once, when it says: {ended:?}"
        );
    }
    fed.shutdown().await;
}
