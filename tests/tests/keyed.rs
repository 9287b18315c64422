//! Keyed matching end to end: the gateway sends nodes keyed encodings only, and a node
//! that does not hold the child learns none of the query's names, date of birth or
//! postcode from what it receives, logs, audits or stores.
//!
//! The node under watch sits behind a recording relay (a real TLS proxy presenting the
//! node's certificate, see `federation_tests::Options::recorded`); the process's logs
//! are captured at debug level; the node's database file is read as bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use federation_tests::{Call, Options, SAFEGUARDING, TestFederation, query_for, spawn_federation};
use matching::MatchingMode;
use schemas::PractitionerRole;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every log line of this test process (every service runs in it), at debug level.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || SharedLog(writer.clone()))
            .try_init()
            .expect("the only subscriber of this test binary");
        buffer
    })
    .clone()
}

struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured logs from byte `from` on.
fn logs_text(from: usize) -> String {
    let logs = captured_logs();
    let logs = logs.lock().unwrap();
    String::from_utf8_lossy(logs.get(from..).unwrap_or_default()).to_lowercase()
}

/// The tests of this file run one at a time, so the logs captured during one are its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WATCHED: &str = "social-care";

fn options(mode: MatchingMode) -> Options {
    Options {
        nodes: vec!["school-a", "social-care", "health"],
        children: 120,
        matching_mode: mode,
        recorded: vec![WATCHED],
        ..Options::default()
    }
}

/// A child nobody holds: names, a postcode district and a date of birth the seeded
/// population never has (it is born from September 2010 on, in ZZ1 to ZZ9).
fn stranger() -> Value {
    json!({"demographics": {
        "given_name": "Quillon", "family_name": "Vrzakowitz",
        "date_of_birth": "2009-07-23", "sex": "male", "postcode": "ZZ10 0KV"
    }})
}

/// The forms in which the query's demographics could appear in text.
fn needles(query: &Value) -> Vec<String> {
    let d = &query["demographics"];
    let dob = d["date_of_birth"].as_str().unwrap();
    let postcode = d["postcode"].as_str().unwrap();
    let mut out = vec![
        d["given_name"].as_str().unwrap().to_lowercase(),
        d["family_name"].as_str().unwrap().to_lowercase(),
        dob.to_owned(),
        dob.replace('-', ""),
        postcode.to_lowercase(),
        postcode.replace(' ', "").to_lowercase(),
    ];
    let (y, rest) = dob.split_at(4);
    let (m, dd) = (&rest[1..3], &rest[4..6]);
    out.push(format!("{dd}/{m}/{y}"));
    out
}

fn found_in(haystack: &str, needles: &[String]) -> Vec<String> {
    needles
        .iter()
        .filter(|n| haystack.contains(n.as_str()))
        .cloned()
        .collect()
}

fn recorded_bodies(fed: &TestFederation) -> String {
    fed.recorded(WATCHED)
        .iter()
        .map(|r| {
            format!(
                "{} {}\n{}\n",
                r.method,
                r.target,
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect::<String>()
        .to_lowercase()
}

fn database_text(fed: &TestFederation) -> String {
    String::from_utf8_lossy(&fed.database_bytes(WATCHED)).to_lowercase()
}

async fn search(fed: &TestFederation, query: &Value) -> Value {
    let token = fed.token(PractitionerRole::SocialWorker, WATCHED);
    fed.search(&token, query).await
}

fn status_at(found: &Value, agency: &str) -> String {
    found["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == agency)
        .map(|a| a["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_keyed_mode_a_node_learns_no_plain_demographics() {
    let _serial = SERIAL.lock().await;
    let logs_before = captured_logs().lock().unwrap().len();
    let fed = spawn_federation(options(MatchingMode::Keyed))
        .await
        .unwrap();

    // Keyed matching finds a child the watched node holds, from demographics alone.
    let child = fed.child_known_to(1, &[WATCHED]).unwrap();
    let held_query = json!({"demographics": child.demographics});
    let found = search(&fed, &held_query).await;
    assert_eq!(status_at(&found, WATCHED), "held", "{found}");
    // And by identifiers alone.
    let by_ids = json!({"identifiers": query_for(child)["identifiers"]});
    let found = search(&fed, &by_ids).await;
    assert_eq!(status_at(&found, WATCHED), "held", "{found}");
    let bodies = recorded_bodies(&fed);
    assert!(bodies.contains("/v1/federation/match/keyed"), "{bodies}");
    assert_eq!(
        found_in(&bodies, &needles(&held_query)),
        Vec::<String>::new()
    );
    let ids = std::iter::once(child.upn.as_str().to_lowercase())
        .chain(child.nhs_number.as_ref().map(|n| n.as_str().to_lowercase()));
    for id in ids {
        assert!(!bodies.contains(&id), "identifier {id} reached the node");
    }

    // A child nobody holds: nothing of it is at the node before the search...
    let query = stranger();
    let needles = needles(&query);
    assert_eq!(
        found_in(&database_text(&fed), &needles),
        Vec::<String>::new()
    );
    let sent_before = fed.recorded(WATCHED).len();
    let found = search(&fed, &query).await;
    assert_eq!(status_at(&found, WATCHED), "not_found", "{found}");
    // ...the node did receive the search...
    let received = fed.recorded(WATCHED);
    assert_eq!(received.len(), sent_before + 1);
    let last = received.last().unwrap();
    assert!(
        last.target.starts_with("/v1/federation/match/keyed?"),
        "{}",
        last.target
    );
    assert!(last.body.len() > 1000, "a keyed query, not an empty one");
    // ...and neither what it received, nor the logs, nor its database (with the audit
    // entry of this search) hold the child's names, date of birth or postcode.
    assert_eq!(
        found_in(&recorded_bodies(&fed), &needles),
        Vec::<String>::new()
    );
    let logs = logs_text(logs_before);
    assert!(!logs.is_empty(), "logs were captured");
    assert!(
        logs.contains("/v1/federation/match/keyed"),
        "the node's request log is in the capture"
    );
    assert_eq!(found_in(&logs, &needles), Vec::<String>::new());
    let db = database_text(&fed);
    assert!(
        db.contains("answered"),
        "the search was audited in this file"
    );
    assert_eq!(found_in(&db, &needles), Vec::<String>::new());
    fed.shutdown().await;
}

/// The same check in plain mode finds the demographics in what the node received: the
/// leak test above can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_plain_mode_the_same_check_finds_the_demographics() {
    let _serial = SERIAL.lock().await;
    captured_logs();
    let fed = spawn_federation(options(MatchingMode::Plain))
        .await
        .unwrap();
    let query = stranger();
    let needles = needles(&query);
    let found = search(&fed, &query).await;
    assert_eq!(status_at(&found, WATCHED), "not_found", "{found}");
    let leaked = found_in(&recorded_bodies(&fed), &needles);
    for expected in ["quillon", "vrzakowitz", "2009-07-23", "zz10 0kv"] {
        assert!(
            leaked.contains(&expected.to_owned()),
            "{expected} not caught: {leaked:?}"
        );
    }
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_node_refuses_plain_queries_and_foreign_keys() {
    let _serial = SERIAL.lock().await;
    captured_logs();
    let fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 20,
        matching_mode: MatchingMode::Keyed,
        ..Options::default()
    })
    .await
    .unwrap();
    let dsl = fed.dsl_token();
    let keyed_match = |query: Value| {
        fed.as_gateway(
            reqwest::Method::POST,
            "school-a",
            &format!("/v1/federation/match/keyed?{SAFEGUARDING}"),
            &dsl,
        )
        .json(&query)
        .answer()
    };
    // Plain demographics are refused before anything is matched.
    fed.node_match("school-a", &dsl, SAFEGUARDING, &stranger())
        .await
        .expect_any_problem(409);

    // A query encoded under another key is refused, and says so.
    let other =
        matching::MatchingKey::from_base64(&matching::MatchingKey::generate().unwrap()).unwrap();
    let plain: schemas::ChildQuery = serde_json::from_value(stranger()).unwrap();
    let foreign = other.encode_query(&plain);
    let body = keyed_match(serde_json::to_value(&foreign).unwrap())
        .await
        .expect(409);
    assert!(
        body["detail"].as_str().unwrap().contains(other.id()),
        "{body}"
    );

    // Malformed encodings are a 400 naming the field.
    let mut broken = serde_json::to_value(&foreign).unwrap();
    broken["demographics"]["given_name"]["bloom"] = json!("Quillon");
    let body = keyed_match(broken).await.expect(400);
    assert!(
        body.to_string().contains("demographics.given_name.bloom"),
        "{body}"
    );
    fed.shutdown().await;
}
