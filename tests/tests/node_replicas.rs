//! Node replicas: two processes of one agency's node on one PostgreSQL database share the
//! notification outbox by claims. Events are raised on both replicas while one of them
//! is killed again and again (its worker dropped mid-delivery, its claims left to lapse);
//! every event is delivered, the recipient's inbox holds each once, and the sender's
//! audit records each delivery once. On SQLite a second process is refused: one process
//! per SQLite database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agency_node::db::{self, DbConnection};
use chrono::Utc;
use federation::plan::Database;
use federation_tests::{NodeReplica, Options, TestFederation, spawn_federation, test_database};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Events raised in all.
const EVENTS: usize = 24;
/// Events raised between two kills of the second replica.
const EVENTS_PER_LIFE: usize = 4;
/// The second replica's claim lease: short, so that its lapsed claims are taken over
/// within the test.
const SHORT_LEASE_MS: u64 = 2_000;
/// Long enough for a loaded CI machine; a delivery takes well under a second.
const WAIT: Duration = Duration::from_secs(120);

/// A seeded child the police and school A both know; its local id at the police.
fn police_child(fed: &TestFederation) -> String {
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"police") && a.contains(&"school-a")
        })
        .expect("the seed has a child known to the police and school A");
    child
        .holdings
        .iter()
        .find(|h| h.node == "police")
        .unwrap()
        .local_id
        .clone()
}

fn incident(n: usize) -> serde_json::Value {
    json!({
        "source_system_id": format!("replica-incident-{n}"),
        "category": "encompass_notification",
        "effective_from": Utc::now().date_naive(),
        "impact": "Police attended an incident at home last night; the child was present.",
        "details": {
            "police_reference": format!("ZZ/{n:05}/26"),
            "incident_at": (Utc::now() - chrono::Duration::hours(2)).to_rfc3339(),
            "location": "the family home",
            "child_present": true,
            "circumstances": "Synthetic incident raised by the replica test",
        }
    })
}

async fn second_replica(fed: &TestFederation) -> NodeReplica {
    fed.spawn_node_replica("police", |s| {
        s.notifications.claim_timeout_ms = SHORT_LEASE_MS;
        s.notifications.poll_ms = 50;
    })
    .await
    .unwrap()
}

fn counts(conn: &mut DbConnection) -> BTreeMap<String, i64> {
    db::notifications::count_by_status(conn)
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn two_replicas_deliver_every_event_once_while_one_is_killed() {
    let fed = spawn_federation(Options::nodes(&["police", "school-a"], 200))
        .await
        .unwrap();
    if test_database() == Database::Sqlite {
        // The police node's process holds its SQLite file: a second is refused, by name.
        let refused = fed
            .spawn_node_replica("police", |_| {})
            .await
            .err()
            .expect("a second process on one SQLite database is refused");
        assert!(
            format!("{refused:#}").contains("another node process holds this SQLite database"),
            "{refused:#}"
        );
        fed.shutdown().await;
        return;
    }
    let local_id = police_child(&fed);
    let first = fed.system("police");
    let mut second = second_replica(&fed).await;
    let mut kills = 0;
    for n in 0..EVENTS {
        // Writes go to either replica.
        let on = if n % 2 == 0 { &first } else { &second.system };
        on.post_record(&local_id, &incident(n)).await.expect(201);
        if n % EVENTS_PER_LIFE == EVENTS_PER_LIFE - 1 {
            // Killed while its worker may hold a claim: another takes it after the lease.
            second.kill().await;
            kills += 1;
            tokio::time::sleep(Duration::from_millis(150)).await;
            second = second_replica(&fed).await;
        }
    }

    let mut police = fed.database("police");
    let started = Instant::now();
    loop {
        let by_status = counts(&mut police);
        if by_status.get("delivered") == Some(&(EVENTS as i64)) {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "not every event was delivered: {by_status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(kills >= EVENTS / EVENTS_PER_LIFE);

    let events = db::notifications::list(&mut police, None, 1_000).unwrap();
    assert_eq!(events.len(), EVENTS);
    // The recipient holds each event once (its inbox is keyed by event id; a second
    // hand-over would have been answered `duplicate`).
    let mut school = fed.database("school-a");
    let inbox = db::notifications::inbox(&mut school, false, 10_000).unwrap();
    for event in &events {
        assert_eq!(
            inbox.iter().filter(|i| i.id == event.id).count(),
            1,
            "event {} in school A's inbox",
            event.id
        );
        let recipients = db::notifications::recipients(&mut police, &event.id).unwrap();
        let school_a = recipients
            .iter()
            .find(|r| r.agency_id == "school-a")
            .expect("school A is a recipient");
        assert!(school_a.delivered_at.is_some(), "{school_a:?}");
    }
    // The sender audited each delivery once, and its chain is one intact chain.
    let audit = db::audit::for_child(&mut police, &events[0].child_id).unwrap();
    for event in &events {
        let disclosures = audit
            .iter()
            .filter(|e| {
                e.correlation_id == event.id
                    && e.action == "disclosure"
                    && e.actor_agency.as_deref() == Some("school-a")
            })
            .count();
        assert_eq!(disclosures, 1, "audit entries for delivering {}", event.id);
    }
    let verified = db::audit::verify(&mut police).unwrap();
    assert!(verified.intact, "{verified:?}");

    second.kill().await;
    fed.shutdown().await;
}

/// The view's status for `agency`.
fn status_of(view: &serde_json::Value, agency: &str) -> String {
    view["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["agency_id"] == agency)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A directory member listed at two addresses: the gateway spreads its calls over both
/// and fails over when one refuses connections or answers that it is draining, so the
/// agency's section stays `ok`. On PostgreSQL the second address is a real replica,
/// drained (as SIGTERM does) and then stopped while views run; on SQLite, where a node
/// has one process, it is an address nobody listens on.
#[tokio::test]
async fn views_stay_ok_while_one_of_two_node_addresses_is_down_or_draining() {
    use federation_tests::{Call, SAFEGUARDING};
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care", "health"], 200))
        .await
        .unwrap();
    let child = fed
        .child_known_to(2, &["social-care", "health"])
        .expect("a child known to social care and health");
    let token = fed.token(schemas::PractitionerRole::SocialWorker, "social-care");
    let reference = fed.reference_for(&token, child, SAFEGUARDING).await;
    let client = fed.anonymous_client();
    let view = || {
        client
            .get(format!(
                "{}/v1/children/{reference}/view?{SAFEGUARDING}",
                fed.gateway_url
            ))
            .bearer_auth(&token)
            .answer()
    };
    let views_ok = |why: &'static str| {
        let view = &view;
        async move {
            // Enough views that the rotation starts at each address several times.
            for _ in 0..6 {
                let answer = view().await.expect(200);
                assert_eq!(status_of(&answer, "social-care"), "ok", "{why}: {answer}");
            }
        }
    };

    let replica = if test_database() == Database::Sqlite {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", dead.local_addr().unwrap());
        drop(dead);
        fed.set_replica_urls("social-care", vec![url])
            .await
            .unwrap();
        views_ok("one address refuses connections").await;
        None
    } else {
        let replica = fed
            .spawn_node_replica("social-care", |s| s.server.drain_seconds = 3)
            .await
            .unwrap();
        fed.set_replica_urls("social-care", vec![replica.url.clone()])
            .await
            .unwrap();
        views_ok("two live replicas").await;
        // SIGTERM's drain: readiness fails, new requests are answered 503 draining,
        // and the gateway asks the other replica.
        let drain = replica.drain.clone();
        let draining = tokio::spawn(async move { drain.drain_and_stop().await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ready = fed
            .anonymous_client()
            .get(format!("{}/readyz", replica.url))
            .answer()
            .await;
        ready.expect_problem(503, "draining");
        assert_eq!(ready.headers["retry-after"], "1");
        let alive = fed
            .anonymous_client()
            .get(format!("{}/healthz", replica.url))
            .answer()
            .await;
        alive.expect(200);
        views_ok("one replica draining").await;
        draining.await.unwrap();
        views_ok("one replica stopped").await;
        Some(replica)
    };

    if let Some(replica) = replica {
        replica.kill().await;
    }
    fed.shutdown().await;
}
