//! Notifications end to end, over real mutual TLS: an Operation Encompass incident
//! recorded at the police node reaches the child's school (and no other school) as a
//! signed summary, survives either side being down, and is acknowledged back.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration as ChronoDuration, Utc};
use federation::plan::{Database, NotificationKnobs};
use federation_tests::scenario::problem_fields;
use federation_tests::{
    Answer, Call, Options, TestFederation, query_for, spawn_federation, test_database,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine; a working delivery takes well under a second.
const WAIT: Duration = Duration::from_secs(60);

async fn federation() -> TestFederation {
    federation_with(Options::default().notifications).await
}

async fn federation_with(knobs: NotificationKnobs) -> TestFederation {
    spawn_federation(Options {
        nodes: vec!["school-a", "school-b", "social-care", "police"],
        children: 300,
        notifications: knobs,
        ..Options::default()
    })
    .await
    .unwrap()
}

/// A seeded child the police and school A know, and school B does not. Returns the
/// child's local ids at the police and at school A.
fn known_child(fed: &TestFederation) -> (String, String, &federation::seed::SyntheticChild) {
    let child = fed
        .children
        .iter()
        .find(|c| {
            let a = c.agencies();
            a.contains(&"police") && a.contains(&"school-a") && !a.contains(&"school-b")
        })
        .expect("the seed has a child known to police and school A only");
    let local = |node: &str| {
        child
            .holdings
            .iter()
            .find(|h| h.node == node)
            .unwrap()
            .local_id
            .clone()
    };
    (local("police"), local("school-a"), child)
}

const POLICE_REFERENCE: &str = "ZZ/00042/26";
const CIRCUMSTANCES: &str = "Neighbour reported shouting; officers attended";

/// Records an Encompass notification at the police node; returns the raised event id.
async fn record_incident(fed: &TestFederation, police_local_id: &str, source_id: &str) -> String {
    let incident_at = (Utc::now() - ChronoDuration::hours(2)).to_rfc3339();
    let police = fed.system("police");
    police
        .post_record(police_local_id, &json!({
            "source_system_id": source_id,
            "category": "encompass_notification",
            "effective_from": Utc::now().date_naive(),
            "impact": "Police attended a domestic incident at home last night; the child was present. A quiet check-in this morning would help.",
            "details": {
                "police_reference": POLICE_REFERENCE,
                "incident_at": incident_at,
                "location": "the family home",
                "child_present": true,
                "child_voice": "Said they were scared and hid upstairs",
                "circumstances": CIRCUMSTANCES,
            }
        }))
        .await
        .expect(201);
    // The event is in the outbox, committed with the record.
    let outbox = police.get("/v1/notifications/outbox").await.expect(200);
    outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["event_type"] == "encompass_notification" && i["local_id"] == police_local_id)
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .expect("the record raised an outbox event")
}

async fn outbox_event(fed: &TestFederation, id: &str) -> Value {
    fed.system("police")
        .get(&format!("/v1/notifications/outbox/{id}"))
        .await
        .json()
}

/// Polls the police outbox until `done` holds for the event.
async fn wait_for(
    fed: &TestFederation,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let event = outbox_event(fed, id).await;
        if done(&event) {
            return event;
        }
        assert!(started.elapsed() < WAIT, "{what}: still {event:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn inbox(fed: &TestFederation, node: &str) -> Vec<Value> {
    let body = fed
        .system(node)
        .get("/v1/notifications/inbox")
        .await
        .expect(200);
    body["items"].as_array().unwrap().clone()
}

/// Waits for the event to be delivered, then checks school A holds exactly one copy.
async fn delivered_once_to_school_a(fed: &TestFederation, id: &str) {
    let event = wait_for(fed, id, "delivery", |e| e["status"] == "delivered").await;
    assert_eq!(
        recipient(&event, "school-a").unwrap()["outcome"],
        "delivered"
    );
    assert_eq!(copies_at_school_a(fed, id).await, 1);
}

async fn copies_at_school_a(fed: &TestFederation, id: &str) -> usize {
    inbox(fed, "school-a")
        .await
        .iter()
        .filter(|i| i["id"] == id)
        .count()
}

/// School A's system acknowledges the event on behalf of its DSL.
async fn acknowledge_at_school_a(fed: &TestFederation, id: &str) -> Answer {
    fed.system("school-a")
        .post(
            &format!("/v1/notifications/inbox/{id}/acknowledge"),
            &json!({"by": "dsl.school-a"}),
        )
        .await
}

/// Whether a listing (`{"items": [...]}`) holds the event.
fn lists(listing: &Value, id: &str) -> bool {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id)
}

fn recipient<'a>(event: &'a Value, agency: &str) -> Option<&'a Value> {
    event["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agency_id"] == agency)
}

#[tokio::test]
async fn encompass_reaches_the_childs_school_as_a_summary_and_no_other_school() {
    let fed = federation().await;
    let (police_id, school_id, _) = known_child(&fed);
    let id = record_incident(&fed, &police_id, "POL-ENC-T1").await;

    let event = wait_for(&fed, &id, "delivery", |e| e["status"] == "delivered").await;
    let to_school = recipient(&event, "school-a").expect("school A is a recipient");
    assert_eq!(to_school["outcome"], "delivered");
    assert!(recipient(&event, "school-b").is_none(), "{event:#}");

    let items = inbox(&fed, "school-a").await;
    let item = items
        .iter()
        .find(|i| i["id"] == id.as_str())
        .expect("in school A's inbox");
    assert_eq!(
        item["local_id"],
        school_id.as_str(),
        "named as the school knows the child"
    );
    assert_eq!(item["sender"], "police");
    assert_eq!(item["level"], "summary");
    assert!(
        item["impact"]
            .as_str()
            .unwrap()
            .starts_with("Police attended")
    );
    assert!(
        item.get("details").is_none(),
        "no incident details at summary: {item:#}"
    );
    let text = serde_json::to_string(&items).unwrap();
    assert!(!text.contains(POLICE_REFERENCE) && !text.contains(CIRCUMSTANCES));
    // The deadline is the start of the school's next school day after the incident,
    // computed by the school from its own calendar, and reported back to the police.
    let deadline = item["deadline"].as_str().expect("an Encompass deadline");
    let deadline = chrono::DateTime::parse_from_rfc3339(deadline).unwrap();
    let occurred =
        chrono::DateTime::parse_from_rfc3339(item["occurred_at"].as_str().unwrap()).unwrap();
    assert!(deadline > occurred && deadline - occurred < ChronoDuration::days(80));
    assert_eq!(to_school["deadline"], item["deadline"]);

    // School B, which does not hold the child, received nothing.
    assert!(
        inbox(&fed, "school-b")
            .await
            .iter()
            .all(|i| i["id"] != id.as_str())
    );

    // The school's DSL acknowledges; the police see it.
    let acked = acknowledge_at_school_a(&fed, &id).await.expect(200);
    assert_eq!(acked["acknowledged_by"], "dsl.school-a");
    assert_eq!(acked["at_risk"], false);
    wait_for(&fed, &id, "acknowledgement", |e| {
        recipient(e, "school-a").is_some_and(|r| r["acknowledged_at"].is_string())
    })
    .await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_school_that_is_down_gets_the_notification_once_when_it_is_back() {
    let mut fed = federation().await;
    let (police_id, _, _) = known_child(&fed);
    fed.stop_node("school-a").await;
    let id = record_incident(&fed, &police_id, "POL-ENC-T2").await;
    let waiting = wait_for(&fed, &id, "a failed attempt", |e| {
        e["attempts"].as_i64().unwrap() >= 1
    })
    .await;
    assert_eq!(waiting["status"], "pending");
    assert!(
        waiting["last_error"].as_str().unwrap().contains("school-a"),
        "{waiting:#}"
    );

    fed.restart_node("school-a").await.unwrap();
    delivered_once_to_school_a(&fed, &id).await;

    // Delivering the same event again (a retry after a lost answer) changes nothing.
    let status = redeliver(&fed, &id).await;
    assert_eq!(status["outcome"], "duplicate");
    assert_eq!(copies_at_school_a(&fed, &id).await, 1);
    fed.shutdown().await;
}

#[tokio::test]
async fn an_event_committed_before_the_sender_stopped_is_delivered_after_restart() {
    let mut fed = federation().await;
    let (police_id, _, _) = known_child(&fed);
    // The gateway is down, so the police node cannot deliver what it commits.
    fed.stop_gateway().await;
    let id = record_incident(&fed, &police_id, "POL-ENC-T3").await;
    let waiting = wait_for(&fed, &id, "a failed attempt", |e| {
        e["attempts"].as_i64().unwrap() >= 1
    })
    .await;
    assert!(
        waiting["last_error"]
            .as_str()
            .unwrap()
            .starts_with("gateway"),
        "{waiting:#}"
    );
    // The police node stops with the event undelivered, in the middle of an attempt:
    // its claim on the event is left behind as a process killed mid-delivery leaves it.
    // On SQLite the node is one process, so its next start lets go of the claim: an
    // hour's lease, longer than this test waits. On PostgreSQL another replica may hold
    // a claim, so the next start waits for the lease to lapse: a few seconds here. Then
    // everything comes back.
    fed.stop_node("police").await;
    let now = Utc::now().naive_utc();
    let lapses_at = now
        + match test_database() {
            Database::Sqlite => ChronoDuration::hours(1),
            Database::Postgres { .. } => ChronoDuration::seconds(3),
        };
    // Claimed as of a moment the retry is due by (its backoff is at most 2 s) and any
    // claim the stopped process held has lapsed (the lease is 60 s): whether or not
    // the stop fell mid-attempt, the claim left is this one.
    let as_of = now + ChronoDuration::seconds(61);
    let left = agency_node::db::notifications::claim_due(
        &mut fed.database("police"),
        as_of,
        lapses_at - as_of,
    )
    .unwrap()
    .expect("the undelivered event can be claimed");
    assert_eq!(left.event.id, id);
    fed.restart_gateway().await.unwrap();
    fed.restart_node("police").await.unwrap();
    delivered_once_to_school_a(&fed, &id).await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_paused_subscription_receives_nothing() {
    let fed = federation().await;
    let (police_id, _, _) = known_child(&fed);
    let subscription = |event: &str, active: bool| {
        fed.system("school-a")
            .client
            .put(format!(
                "{}/v1/notifications/subscriptions/{event}",
                fed.node_url("school-a")
            ))
            .json(&json!({"active": active}))
            .answer()
    };
    subscription("encompass_notification", false)
        .await
        .expect(200);
    let id = record_incident(&fed, &police_id, "POL-ENC-T4").await;
    let event = wait_for(&fed, &id, "routing", |e| e["status"] == "delivered").await;
    // An agency that does not take the event is not listed: the police do not learn
    // that school A holds the child.
    assert!(recipient(&event, "school-a").is_none(), "{event:#}");
    assert!(
        inbox(&fed, "school-a")
            .await
            .iter()
            .all(|i| i["id"] != id.as_str())
    );

    subscription("gossip", true).await.expect(400);
    fed.shutdown().await;
}

/// The gateway's signed delivery, rebuilt by the test from the police outbox: what
/// school A would receive for event `id`.
async fn delivery_body(fed: &TestFederation, id: &str) -> Vec<u8> {
    let (_, _, child) = known_child(fed);
    let offer = fed
        .gateway_identity()
        .post(format!(
            "{}/v1/federation/notifications/offers",
            fed.node_url("school-a")
        ))
        .json(&json!({
            "event_id": id, "event_type": "encompass_notification", "sender": "police",
            "child": query_for(child),
        }))
        .answer()
        .await
        .json();
    assert_eq!(offer["wanted"], true, "{offer:#}");
    serde_json::to_vec(&json!({
        "id": id, "event_type": "encompass_notification",
        "occurred_at": Utc::now().to_rfc3339(), "sender": "police",
        "sender_name": "County Constabulary", "local_ref": offer["local_ref"],
        "category": "encompass_notification", "level": "summary",
        "impact": "Police attended a domestic incident at home last night.",
    }))
    .unwrap()
}

async fn post_signed(
    fed: &TestFederation,
    client: &reqwest::Client,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: Vec<u8>,
) -> Answer {
    client
        .post(format!(
            "{}/v1/federation/notifications",
            fed.node_url("school-a")
        ))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .answer()
        .await
}

async fn redeliver(fed: &TestFederation, id: &str) -> Value {
    let body = delivery_body(fed, id).await;
    let secret = fed.webhook_secret("school-a").unwrap();
    let now = Utc::now().timestamp();
    let signature = secret.sign(id, now, &body).unwrap();
    post_signed(fed, &fed.gateway_identity(), id, now, &signature, body)
        .await
        .expect(200)
}

/// A delivery to school A that must be refused, and how.
struct Refused<'a> {
    case: &'static str,
    client: &'a reqwest::Client,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
    status: u16,
    /// The problem's code, if the case is about which refusal it is.
    code: Option<&'static str>,
    /// What the problem's detail must say, if anything in particular.
    detail: Option<&'static str>,
}

#[tokio::test]
async fn deliveries_that_are_not_signed_right_are_refused() {
    let fed = federation().await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = delivery_body(&fed, &id).await;
    let secret = fed.webhook_secret("school-a").unwrap();
    let gateway = fed.gateway_identity();
    let now = Utc::now().timestamp();

    let signature = secret.sign(&id, now, &body).unwrap();
    let old = now - 600;
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'P').unwrap();
    tampered[at] = b'Q';
    let refused_by = |case, client, status, code| Refused {
        case,
        client,
        timestamp: now,
        signature: signature.clone(),
        body: body.clone(),
        status,
        code: Some(code),
        detail: None,
    };
    let integration = fed.integration_client("school-a");
    let anonymous = fed.anonymous_client();
    let refusals = [
        Refused {
            body: tampered,
            ..refused_by(
                "the body changed after signing",
                &gateway,
                401,
                "bad-signature",
            )
        },
        Refused {
            timestamp: old,
            signature: secret.sign(&id, old, &body).unwrap(),
            code: None,
            detail: Some("replay"),
            ..refused_by(
                "a correctly signed delivery from ten minutes ago",
                &gateway,
                401,
                "",
            )
        },
        Refused {
            signature: fed
                .webhook_secret("school-b")
                .unwrap()
                .sign(&id, now, &body)
                .unwrap(),
            code: None,
            ..refused_by("signed with another node's secret", &gateway, 401, "")
        },
        // Right signature, but not from a gateway.
        refused_by(
            "from the school's own system",
            &integration,
            403,
            "forbidden",
        ),
        refused_by(
            "with no certificate at all",
            &anonymous,
            403,
            "not-a-member",
        ),
    ];
    for r in refusals {
        let answer = post_signed(&fed, r.client, &id, r.timestamp, &r.signature, r.body)
            .await
            .case(r.case);
        let p = match r.code {
            Some(code) => answer.expect_problem(r.status, code),
            None => answer.expect_any_problem(r.status),
        };
        if let Some(detail) = r.detail {
            assert!(
                p["detail"].as_str().unwrap().contains(detail),
                "{}: {p:#}",
                r.case
            );
        }
    }

    // None of the refused deliveries was stored; the right one is.
    assert!(
        inbox(&fed, "school-a")
            .await
            .iter()
            .all(|i| i["id"] != id.as_str())
    );
    let delivered = post_signed(&fed, &gateway, &id, now, &signature, body).await;
    assert_eq!(delivered.expect(200)["outcome"], "delivered");
    assert_eq!(copies_at_school_a(&fed, &id).await, 1);
    fed.shutdown().await;
}

#[tokio::test]
async fn only_agency_nodes_may_ask_the_gateway_to_route() {
    let fed = federation().await;
    let (_, _, child) = known_child(&fed);
    let body = json!({
        "id": uuid::Uuid::new_v4(), "event_type": "encompass_notification",
        "occurred_at": Utc::now().to_rfc3339(), "category": "encompass_notification",
        "child": query_for(child),
        "payloads": [{"kind": "school", "level": "summary", "impact": "x"}],
    });
    let url = format!("{}/v1/notifications", fed.gateway_url);
    for (case, client, code) in [
        (
            "a node's integration client",
            fed.integration_client("police"),
            "forbidden",
        ),
        (
            "a caller without a certificate",
            fed.anonymous_client(),
            "not-a-member",
        ),
    ] {
        client
            .post(&url)
            .json(&body)
            .answer()
            .await
            .case(case)
            .expect_problem(403, code);
    }

    // A publish that does not fit the agency: police do not hold exclusions.
    let (police_id, _, _) = known_child(&fed);
    let p = fed
        .system("police")
        .post(
            &format!("/v1/children/{police_id}/events"),
            &json!({
                "event_type": "exclusion", "occurred_at": Utc::now().to_rfc3339(),
                "category": "exclusion", "impact": ""
            }),
        )
        .await
        .expect_any_problem(400);
    assert_eq!(problem_fields(&p), ["category", "impact"], "{p:#}");
    fed.shutdown().await;
}

async fn metric(fed: &TestFederation, node: &str, series: &str) -> String {
    let text = fed.metrics(node).await;
    text.lines()
        .find(|l| l.starts_with(series))
        .unwrap_or_else(|| panic!("no {series} in {text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn undelivered_events_become_dead_letters_that_can_be_replayed() {
    let mut fed = federation_with(NotificationKnobs {
        backoff_ms: Some((100, 200)),
        max_attempts: Some(2),
        ..Default::default()
    })
    .await;
    let (police_id, _, _) = known_child(&fed);
    fed.stop_gateway().await;
    let id = record_incident(&fed, &police_id, "POL-ENC-T5").await;
    let dead = wait_for(&fed, &id, "a dead letter", |e| e["status"] == "dead").await;
    assert_eq!(dead["attempts"], 2);
    assert_eq!(
        metric(
            &fed,
            "police",
            "notifications_outbox_events{status=\"dead\"}"
        )
        .await,
        "1"
    );
    let listed = fed
        .system("police")
        .get("/v1/notifications/outbox?status=dead")
        .await
        .expect(200);
    assert!(lists(&listed, &id));

    fed.restart_gateway().await.unwrap();
    let police = fed.system("police");
    let replay = format!("/v1/notifications/outbox/{id}/replay");
    police
        .client
        .post(police.url(&replay))
        .answer()
        .await
        .expect(200);
    wait_for(&fed, &id, "delivery after replay", |e| {
        e["status"] == "delivered"
    })
    .await;
    // Only dead letters are replayed.
    police
        .client
        .post(police.url(&replay))
        .answer()
        .await
        .expect_problem(409, "conflict");
    fed.shutdown().await;
}

#[tokio::test]
async fn an_unacknowledged_encompass_notification_is_at_risk_until_acknowledged() {
    // Every deadline counts as near, so the one delivered here is at risk at once.
    let fed = federation_with(NotificationKnobs {
        backoff_ms: Some((200, 2_000)),
        at_risk_minutes: Some(200_000),
        ..Default::default()
    })
    .await;
    let (police_id, _, _) = known_child(&fed);
    let id = record_incident(&fed, &police_id, "POL-ENC-T6").await;
    wait_for(&fed, &id, "delivery", |e| e["status"] == "delivered").await;
    let school = fed.system("school-a");
    let at_risk = || school.get("/v1/notifications/inbox?at_risk=true");
    let listed = at_risk().await.expect(200);
    assert!(lists(&listed, &id));
    let inbox_series = "notifications_at_risk{box=\"inbox\"}";
    assert_eq!(metric(&fed, "school-a", inbox_series).await, "1");

    acknowledge_at_school_a(&fed, &id).await.expect(200);
    let listed = at_risk().await.expect(200);
    assert!(listed["items"].as_array().unwrap().is_empty(), "{listed:#}");
    assert_eq!(metric(&fed, "school-a", inbox_series).await, "0");
    fed.shutdown().await;
}

/// The police hold a child with no identifier and no date of birth (names, address and
/// sex only); the school holds the same child complete. The notification is offered by
/// what the police know, and the school finds its child by it.
#[tokio::test]
async fn a_notification_about_a_partial_child_reaches_the_school_that_holds_the_child() {
    let fed = federation().await;
    fed.store_partial_and_complete(("police", "POL-PART-1"), ("school-a", "SCH-PART-1"))
        .await;
    // On roll: the school's own records make it the child's school.
    fed.system("school-a")
        .store_record(
            "SCH-PART-1",
            &json!({"source_system_id": "ENR-PART-1", "category": "enrolment",
                    "effective_from": "2022-09-05", "impact": "On roll, Year 6",
                    "details": {"urn": "999101", "school_name": "Northfield Primary School",
                                "year_group": 6}}),
        )
        .await;

    let id = record_incident(&fed, "POL-PART-1", "POL-ENC-PART").await;
    let event = wait_for(&fed, &id, "delivery", |e| e["status"] == "delivered").await;
    assert_eq!(
        recipient(&event, "school-a").map(|r| &r["outcome"]),
        Some(&json!("delivered")),
        "{event:#}"
    );
    assert_eq!(copies_at_school_a(&fed, &id).await, 1);
    let items = inbox(&fed, "school-a").await;
    let item = items.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_eq!(item["local_id"], "SCH-PART-1", "{item:#}");
    // School B does not hold the child and got nothing.
    assert!(
        inbox(&fed, "school-b")
            .await
            .iter()
            .all(|i| i["id"] != id.as_str())
    );
    fed.shutdown().await;
}

/// School A's node restarted with `[notifications.inbox_webhook]` pointing at a real
/// receiver standing for the school's MIS, which refuses its first `refuse_first`
/// deliveries. Returns the receiver's deliveries, its handle and the secret.
async fn school_a_pushing_to_its_mis(
    fed: &mut TestFederation,
    refuse_first: usize,
    event_types: Option<Vec<schemas::notification::EventType>>,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<federation_tests::webhook::Received>>>,
    actix_web::dev::ServerHandle,
    String,
    tempfile::TempDir,
) {
    let (url, received, handle) = federation_tests::webhook::receiver(refuse_first).await;
    let secret = trust::webhook::WebhookSecret::generate();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("mis.secret");
    std::fs::write(&secret_file, &secret).unwrap();
    fed.stop_node("school-a").await;
    fed.restart_node_with("school-a", move |settings| {
        settings.notifications.inbox_webhook = Some(agency_node::notifications::InboxWebhook {
            url,
            secret_file,
            event_types,
        });
    })
    .await
    .unwrap();
    (received, handle, secret, dir)
}

/// Where the push of a school A inbox item stands: accepted at, attempts, last error.
fn push_state(fed: &TestFederation, id: &str) -> agency_node::db::notifications::PushState {
    let mut conn = fed.database("school-a");
    agency_node::db::notifications::push_state(&mut conn, id)
        .unwrap()
        .expect("the item is in school A's inbox")
}

/// [`push_state`] once `done` holds: the node records a push attempt after its system
/// has answered, so a test that saw the delivery arrive may read the state before that.
async fn push_state_once(
    fed: &TestFederation,
    id: &str,
    done: impl Fn(&agency_node::db::notifications::PushState) -> bool,
) -> agency_node::db::notifications::PushState {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = push_state(fed, id);
        if done(&state) || tokio::time::Instant::now() >= deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// School A's gauge of inbox items its system refused or left unanswered, not yet accepted.
async fn failing_pushes(fed: &TestFederation) -> String {
    metric(
        fed,
        "school-a",
        "webhook_deliveries_failing{endpoint=\"inbox_webhook\"}",
    )
    .await
}

/// An item landing in a school's inbox reaches the school's own system at once: signed
/// with the secret they share (Standard Webhooks), the item as the inbox API gives it,
/// sent again after a refusal under the same id, and not again once accepted.
#[tokio::test]
async fn an_inbox_item_is_pushed_to_the_schools_own_system_signed_and_retried() {
    let mut fed = federation().await;
    let (police_id, school_id, _) = known_child(&fed);
    let (received, receiver, secret, _dir) = school_a_pushing_to_its_mis(&mut fed, 1, None).await;
    let id = record_incident(&fed, &police_id, "POL-ENC-PUSH1").await;

    let deliveries = federation_tests::webhook::wait_for_deliveries(&received, 2, WAIT).await;
    let (hook_id, timestamp, signature, body) = &deliveries[1];
    let key = trust::webhook::WebhookSecret::parse(&secret).unwrap();
    key.verify(
        hook_id.as_deref(),
        timestamp.as_deref(),
        signature.as_deref(),
        body,
    )
    .expect("the school's system can check the item is its node's");
    let other =
        trust::webhook::WebhookSecret::parse(&trust::webhook::WebhookSecret::generate()).unwrap();
    assert!(
        other
            .verify(
                hook_id.as_deref(),
                timestamp.as_deref(),
                signature.as_deref(),
                body
            )
            .is_err()
    );
    assert_eq!(hook_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        deliveries[0].0, deliveries[1].0,
        "the same item, sent again"
    );

    // The body is the item exactly as the inbox lists it (but `at_risk`, which moves
    // with the clock), at the level the police's policy gave the school.
    let pushed: Value = serde_json::from_slice(body).unwrap();
    let listed = inbox(&fed, "school-a")
        .await
        .into_iter()
        .find(|i| i["id"] == id.as_str())
        .expect("in school A's inbox too");
    for field in [
        "id",
        "event_type",
        "sender",
        "local_id",
        "category",
        "level",
        "impact",
        "deadline",
        "occurred_at",
        "received_at",
    ] {
        assert_eq!(pushed[field], listed[field], "{field}: {pushed:#}");
    }
    assert_eq!(pushed["local_id"], school_id.as_str());
    assert_eq!(pushed["level"], "summary");
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(POLICE_REFERENCE) && !text.contains(CIRCUMSTANCES));

    let (pushed_at, attempts, error) = push_state_once(&fed, &id, |s| s.0.is_some()).await;
    assert!(pushed_at.is_some());
    assert_eq!((attempts, error), (2, None));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "nothing more once accepted"
    );
    receiver.stop(false).await;
    fed.shutdown().await;
}

/// A system that keeps refusing gets the item again until someone reads it in the inbox
/// (acknowledged: no more pushes); and a system that asked for other event types gets
/// nothing of this one.
#[tokio::test]
async fn an_inbox_push_stops_at_acknowledgement_and_only_asked_types_are_pushed() {
    let mut fed = federation().await;
    let (police_id, _, _) = known_child(&fed);
    let (received, receiver, _secret, _dir) =
        school_a_pushing_to_its_mis(&mut fed, usize::MAX, None).await;
    let id = record_incident(&fed, &police_id, "POL-ENC-PUSH2").await;
    federation_tests::webhook::wait_for_deliveries(&received, 1, WAIT).await;
    let (pushed_at, attempts, error) = push_state_once(&fed, &id, |s| s.1 >= 1).await;
    assert_eq!(pushed_at, None);
    assert!(attempts >= 1);
    assert!(
        error.as_deref().is_some_and(|e| e.contains("503")),
        "{error:?}"
    );
    // The node's metrics tell its operator the school's system is refusing.
    assert_eq!(failing_pushes(&fed).await, "1");
    acknowledge_at_school_a(&fed, &id).await.expect(200);
    let after_acknowledgement = received.lock().unwrap().len();
    // Retries come every 0.5–1 s at first (the default backoff): three seconds would
    // hold at least two more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        after_acknowledgement,
        "an acknowledged item is not pushed again"
    );
    assert_eq!(failing_pushes(&fed).await, "0");
    receiver.stop(false).await;

    // Another system asking for plan events only: the incident lands in the inbox and
    // is not pushed.
    let (received, receiver, _secret, _dir) = school_a_pushing_to_its_mis(
        &mut fed,
        0,
        Some(vec![schemas::notification::EventType::PlanStarted]),
    )
    .await;
    let id = record_incident(&fed, &police_id, "POL-ENC-PUSH3").await;
    delivered_once_to_school_a(&fed, &id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(received.lock().unwrap().is_empty());
    assert_eq!(push_state(&fed, &id), (None, 0, None));
    receiver.stop(false).await;
    fed.shutdown().await;
}

/// A webhook endpoint the worker must not post to (plain `http://` to another host)
/// stops the node at start, for the agency's own system and for the data protection
/// officer's, rather than failing every delivery later; the node starts again with
/// a valid one.
#[tokio::test]
async fn a_node_with_a_webhook_over_plain_http_to_another_host_does_not_start() {
    let mut fed = federation().await;
    fed.stop_node("school-a").await;
    let refused = fed
        .restart_node_with("school-a", |settings| {
            settings.notifications.inbox_webhook = Some(agency_node::notifications::InboxWebhook {
                url: "http://mis.school-a.example/inbox".into(),
                secret_file: "mis.secret".into(),
                event_types: None,
            });
        })
        .await
        .expect_err("an inbox webhook over plain http to another host");
    assert!(
        refused
            .to_string()
            .contains("notifications.inbox_webhook.url"),
        "{refused:#}"
    );
    let refused = fed
        .restart_node_with("school-a", |settings| {
            settings.notifications.dpo_webhook = Some(agency_node::notifications::DpoWebhook {
                url: "http://dpo.example.org/alerts".into(),
                secret_file: "dpo.secret".into(),
            });
        })
        .await
        .expect_err("a DPO webhook over plain http to another host");
    assert!(
        refused
            .to_string()
            .contains("notifications.dpo_webhook.url"),
        "{refused:#}"
    );
    fed.restart_node_with("school-a", |settings| {
        settings.notifications.dpo_webhook = Some(agency_node::notifications::DpoWebhook {
            url: "https://dpo.example.org/alerts".into(),
            secret_file: "dpo.secret".into(),
        });
    })
    .await
    .expect("an https endpoint is accepted");
    inbox(&fed, "school-a").await;
    fed.shutdown().await;
}
