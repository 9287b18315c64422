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

/// Finding 10: expiry was checked before ownership, so a stranger holding someone
/// else's reference learnt whether it was still live. Ownership (the token's issuer and
/// subject) is checked first.
#[tokio::test]
async fn a_stranger_is_told_a_reference_is_not_theirs_before_whether_it_expired() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 5))
        .await
        .unwrap();
    let settings = fed.files.gateway_settings().unwrap();
    let sealer = gateway::reference::ReferenceSealer::from_base64(
        &std::fs::read_to_string(&settings.reference.key_file).unwrap(),
    )
    .unwrap();
    let dsl = fed.dsl_token();
    let owner = "designated_safeguarding_lead.school-a";
    let expired = |sub: &str| {
        sealer
            .seal(&gateway::reference::ReferenceClaims {
                iss: federation::plan::DEV_ISSUER.into(),
                sub: sub.into(),
                exp: chrono::Utc::now().timestamp() - 60,
                nodes: Vec::new(),
                rel: None,
                q: None,
            })
            .unwrap()
    };
    fed.view(&dsl, &expired(owner), SAFEGUARDING)
        .await
        .case("the owner")
        .expect_problem(410, "reference-expired");
    let stranger = fed.token(PractitionerRole::Teacher, "school-a");
    fed.view(&stranger, &expired(owner), SAFEGUARDING)
        .await
        .case("a stranger")
        .expect_problem(403, "reference-not-yours");
    fed.shutdown().await;
}

/// Finding 11: `federation up` wrote private keys and secrets readable by every user of
/// the machine (0644). Every key, secret and token file is the owner's only (0600), and
/// so is the folder of the nodes' databases (0700).
#[tokio::test]
async fn keys_secrets_and_tokens_are_written_for_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut secrets = Vec::new();
    let mut pending = vec![fed.files.root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if [".key", ".secret", ".webhook-secret", ".candidate-key"]
                .iter()
                .any(|ext| path.to_string_lossy().ends_with(ext))
            {
                secrets.push(path);
            }
        }
    }
    // The PKI's keys (CA-issued pairs for the gateway, the node and its system), the
    // issuer's, the reference, matching and locator keys, webhook secrets both sides,
    // the candidate-token key.
    assert!(secrets.len() >= 9, "{secrets:?}");
    for path in &secrets {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(&fed.files.root.join("data")), 0o700);
    fed.shutdown().await;
}

/// Finding 2, the short version (the 20-second run is `federation bench fairness`): nodes
/// limited every practitioner behind a gateway as one caller, and the gateway counted a
/// node's 429 as a breaker failure, so one agency's flood emptied everyone's views. Now
/// a node limits per (gateway, practitioner's agency), and its 429 holds back only the
/// agency it was for: no breaker opens, and another agency's view stays whole.
#[tokio::test]
async fn one_agencys_flood_is_held_back_alone_and_opens_no_breaker() {
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "social-care", "police", "health"],
        children: 60,
        // The gateway lets the flood through; the nodes are strict, so they answer 429.
        rate_limit: Some((1_000.0, 1_000)),
        node_rate_limit: Some((2.0, 8)),
        // Two failures in a row would open a breaker.
        breaker: (2, 60_000),
        ..Options::default()
    })
    .await
    .unwrap();
    let child = fed
        .child_known_to(2, &["school-a"])
        .expect("a child known to school A and another agency");
    let query = federation_tests::query_for(child);
    let search = format!("/v1/children:search?{SAFEGUARDING}");

    // Police and social care each flood: 40 searches at once, every node asked each time.
    let flooders = [
        fed.token(PractitionerRole::PoliceOfficer, "police"),
        fed.token(PractitionerRole::SocialWorker, "social-care"),
    ];
    let flood = flooders
        .iter()
        .flat_map(|token| (0..40).map(|_| fed.gateway_post(token, &search, &query)));
    let answers = futures::future::join_all(flood).await;
    let held_back = answers
        .iter()
        .flat_map(|a| a.json()["agencies"].as_array().cloned().unwrap_or_default())
        .filter(|a| {
            a["status"] == "unavailable"
                && a["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("rate limit"))
        })
        .count();
    assert!(held_back > 0, "the nodes held the flood back");

    // The school's DSL, meanwhile: every agency answers.
    let dsl = fed.dsl_token();
    let reference = fed.reference_for(&dsl, child, SAFEGUARDING).await;
    let view = fed.view(&dsl, &reference, SAFEGUARDING).await.expect(200);
    for section in view["sections"].as_array().unwrap() {
        assert!(
            matches!(
                section["status"].as_str(),
                Some("ok" | "withheld" | "not_found")
            ),
            "{section}"
        );
    }
    let metrics = fed.gateway_metrics().await;
    assert!(
        metrics.contains("outcome=\"rate_limited\""),
        "429s are counted apart: {metrics}"
    );
    let breakers: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("upstream_breaker_state{"))
        .collect();
    assert!(!breakers.is_empty(), "{metrics}");
    assert!(
        breakers.iter().all(|l| l.ends_with(" 0")),
        "every breaker closed: {breakers:?}"
    );
    fed.shutdown().await;
}

/// Finding 6: the raw HTTP method was a metric label, so anyone could grow `/metrics`
/// without bound by inventing methods (2,000 requests took it from 20 kB to 227 kB).
/// Labels come only from known methods and route templates.
#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    let client = fed.anonymous_client();
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .count()
    };
    let send = |i: usize| {
        let method = reqwest::Method::from_bytes(format!("X{i:04}").as_bytes()).unwrap();
        client
            .request(method, format!("{}/v1/x{i}/children", fed.gateway_url))
            .send()
    };
    for i in 0..20 {
        let _ = send(i).await;
    }
    // The first scrape adds its own series; the second is the baseline.
    let _ = fed.gateway_metrics().await;
    let before = fed.gateway_metrics().await;
    for i in 20..220 {
        let _ = send(i).await;
    }
    let after = fed.gateway_metrics().await;
    assert_eq!(series(&before), series(&after), "{after}");
    assert!(after.contains("method=\"OTHER\""), "{after}");
    assert!(
        !after.contains("X0042") && !after.contains("/v1/x42"),
        "{after}"
    );
    assert!(
        after.len() < before.len() + 200,
        "{} → {}",
        before.len(),
        after.len()
    );
    fed.shutdown().await;
}

/// Finding 9: `/readyz` told anyone how many children a node holds and the state of
/// every breaker, and `/metrics` was open on every service. Probes say ready or not;
/// metrics are on a loopback address of their own (or, when so configured, for
/// federation members' certificates only); breakers are in `/metrics` and in the
/// authenticated `/v1/status`.
#[tokio::test]
async fn probes_say_only_ready_and_metrics_are_not_served_to_the_public() {
    let fed = spawn_federation(Options::nodes(&["school-a", "police"], 5))
        .await
        .unwrap();
    // Readiness: nothing more than ready, at the gateway and at a node (whose TLS wants
    // a client certificate: the gateway's will do, as an orchestrator's would).
    let gateway_ready = fed.fetch(&format!("{}/readyz", fed.gateway_url)).await;
    assert_eq!(
        gateway_ready.expect(200),
        serde_json::json!({"status": "ready"})
    );
    let node_ready = fed
        .gateway_identity()
        .get(format!("{}/readyz", fed.node_url("police")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        node_ready.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ready"})
    );

    // Metrics: not on the services' own addresses, to anyone.
    fed.fetch(&format!("{}/metrics", fed.gateway_url))
        .await
        .case("the gateway's address")
        .expect_problem(404, "not-found");
    let at_node = fed
        .gateway_identity()
        .get(format!("{}/metrics", fed.node_url("police")))
        .send()
        .await
        .unwrap();
    assert_eq!(at_node.status(), 404, "a node's address, even to a member");
    // Another method is refused as on any operation (405), not as a missing one.
    let trace = fed
        .anonymous_client()
        .request(
            reqwest::Method::TRACE,
            format!("{}/metrics", fed.gateway_url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), 405, "TRACE /metrics");
    // On the metrics address: /metrics and nothing else.
    assert!(fed.gateway_metrics().await.contains("http_requests_total"));
    fed.scrape("police")
        .await
        .text
        .contains("http_requests_total");
    let url = &fed.metrics_urls["gateway"];
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let elsewhere = plain.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(elsewhere.status(), 404);
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "loopback by default: {url}"
    );

    // The breakers: for practitioners, not for the public.
    fed.fetch(&format!("{}/v1/status", fed.gateway_url))
        .await
        .expect_problem(401, "invalid-token");
    let status = fed
        .gateway_get(&fed.dsl_token(), "/v1/status")
        .await
        .expect(200);
    let agencies: Vec<&str> = status["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["breaker"].as_str().unwrap())
        .collect();
    assert_eq!(agencies, ["closed", "closed"], "{status}");

    // Configured for client certificates instead: a gateway serving /metrics on its own
    // address to federation members only.
    let mut settings = fed.files.gateway_settings().unwrap();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.metrics = service::metrics_access::MetricsAccess::ClientCertificate;
    let app = gateway::Application::build(settings).unwrap();
    let (port, handle) = (app.port(), app.handle());
    assert_eq!(app.metrics_port(), None);
    tokio::spawn(app.run_until_stopped());
    let metrics = format!("https://127.0.0.1:{port}/metrics");
    fed.fetch(&metrics)
        .await
        .case("no certificate")
        .expect_problem(403, "not-a-member");
    let member = fed.gateway_identity().get(&metrics).send().await.unwrap();
    assert_eq!(member.status(), 200, "a member's certificate");
    assert!(member.text().await.unwrap().contains("http_requests_total"));
    handle.stop(false).await;
    fed.shutdown().await;
}

/// Finding 7: access logs carried whole request lines, so references and an override's
/// free-text reason landed in every log, and the reason had no length limit (30,000
/// characters were stored in every node's audit). Logs name route templates; a reason
/// is at most 1,000 characters.
#[tokio::test]
async fn logs_name_routes_not_references_and_reasons_are_bounded() {
    let log = capture_logs();
    let fed = spawn_federation(Options::nodes(&["school-a", "social-care"], 300))
        .await
        .unwrap();
    let child = fed.child_known_to(2, &["school-a", "social-care"]).unwrap();
    let dsl = fed.dsl_token();
    let reference = fed.reference_for(&dsl, child, SAFEGUARDING).await;
    let reason = "Disclosure%20this%20morning%3A%20marker-7c1e";
    let context = format!("purpose=safeguarding&legal_basis=safeguarding_override&reason={reason}");
    fed.view(&dsl, &reference, &context).await.expect(200);

    let too_long = "x".repeat(1001);
    let context =
        format!("purpose=safeguarding&legal_basis=safeguarding_override&reason={too_long}");
    let problem = fed
        .view(&dsl, &reference, &context)
        .await
        .expect_problem(400, "invalid-request");
    assert_eq!(
        federation_tests::scenario::problem_fields(&problem),
        ["reason"]
    );
    let at_node = fed
        .node_records(
            "social-care",
            &fed.token(PractitionerRole::SocialWorker, "social-care"),
            "any",
            &context,
        )
        .await;
    let problem = at_node.expect_problem(400, "invalid-request");
    assert_eq!(
        federation_tests::scenario::problem_fields(&problem),
        ["reason"]
    );

    let text = log.text();
    assert!(
        text.contains("/v1/children/{reference}/view"),
        "the route template is logged: {text}"
    );
    assert!(
        text.contains("/v1/federation/children/{local_ref}/records")
            || text.contains("/v1/federation/children/{reference}/records"),
        "{text}"
    );
    assert!(!text.contains(&reference[..20]), "no reference in the logs");
    assert!(!text.contains("marker-7c1e"), "no reason in the logs");
    assert!(!text.contains("xxxxxxxxxx"), "no reason in the logs");
    fed.shutdown().await;
}

/// Everything this test binary logs from now on, at `info` and above.
fn capture_logs() -> Captured {
    use std::sync::{Arc, Mutex, OnceLock};
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buffer = BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = buffer.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_ansi(false)
                .with_writer(move || Captured(writer.clone()))
                .try_init();
            buffer
        })
        .clone();
    Captured(buffer)
}

#[derive(Clone)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Held before and kept: bodies nested thousands deep are refused as invalid (the JSON
/// reader has a depth limit), at the gateway and at a node, and store nothing. Oversized
/// bodies (413) are `integration::unknown_routes_and_oversized_bodies_are_problems`.
#[tokio::test]
async fn deeply_nested_bodies_are_refused_and_store_nothing() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 1))
        .await
        .unwrap();
    let nested = format!(
        "{{\"identifiers\": {}1{}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let search = fed
        .anonymous_client()
        .post(format!(
            "{}/v1/children:search?{SAFEGUARDING}",
            fed.gateway_url
        ))
        .bearer_auth(fed.dsl_token())
        .header("content-type", "application/json")
        .body(nested.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 400);
    let mis = fed.system("school-a");
    let write = mis
        .client
        .put(mis.url("/v1/children/T-NEST"))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 400);
    mis.get("/v1/children/T-NEST")
        .await
        .expect_problem(404, "child-not-found");
    fed.shutdown().await;
}

/// Held before and kept: SQL in every field a caller controls is data, never code
/// (every query is diesel's, with bound parameters). A search with SQL in its names
/// finds nobody and changes nothing; a child whose name holds SQL is stored as written
/// or refused by validation, and the node's tables are all still there.
#[tokio::test]
async fn sql_in_names_and_identifiers_is_only_ever_data() {
    let fed = spawn_federation(Options::nodes(&["school-a"], 20))
        .await
        .unwrap();
    let mis = fed.system("school-a");
    let before = mis.get("/v1/children/NPS-000001").await.expect(200);
    let injections = [
        "x' OR '1'='1",
        "x'; DROP TABLE children; --",
        "x\" OR \"\"=\"",
        "x') UNION SELECT * FROM audit_log --",
    ];
    for injection in injections {
        let found = fed
            .search(
                &fed.dsl_token(),
                &serde_json::json!({"demographics": {"given_name": injection,
                    "family_name": injection, "date_of_birth": "2016-05-14"}}),
            )
            .await;
        assert!(
            found["agencies"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["status"] == "not_found"),
            "{injection}: {found}"
        );
        let mut child = federation_tests::scenario::child();
        child["demographics"]["family_name"] = serde_json::json!(injection);
        let stored = mis.put_child("T-SQL", &child).await;
        match stored.status {
            200 | 201 => {
                let read = mis.get("/v1/children/T-SQL").await.expect(200);
                assert_eq!(read["demographics"]["family_name"], injection, "{read}");
            }
            400 => {
                stored.expect_any_problem(400);
            }
            other => panic!("{injection}: {other} {}", stored.text),
        }
        let injected_id = format!("/v1/children/{}", injection.replace(' ', "%20"));
        assert!(matches!(mis.get(&injected_id).await.status, 400 | 404));
    }
    assert_eq!(mis.get("/v1/children/NPS-000001").await.expect(200), before);
    assert_eq!(mis.verify_audit().await["intact"], true);
    fed.shutdown().await;
}

/// Held before and kept: a node stopped with 200 writes in flight loses none it
/// acknowledged. Each write either answered 2xx and is there after a restart, or did not
/// answer 2xx (its system retries it: upserts are idempotent); the audit chain is intact.
#[tokio::test]
async fn a_node_stopped_with_writes_in_flight_loses_no_acknowledged_write() {
    let mut fed = spawn_federation(Options {
        nodes: vec!["school-a"],
        children: 1,
        rate_limit: Some((100_000.0, 100_000)),
        ..Options::default()
    })
    .await
    .unwrap();
    let mis = fed.system("school-a");
    mis.store_child("T-KILL", &federation_tests::scenario::child())
        .await;
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writes = (0..200).map(|i| {
        let record = federation_tests::scenario::with(
            federation_tests::scenario::attendance(&format!("Attendance write {i}")),
            serde_json::json!({"source_system_id": format!("KILL-{i:03}")}),
        );
        let client = mis.client.clone();
        let url = mis.url("/v1/children/T-KILL/records");
        let answered = answered.clone();
        tokio::spawn(async move {
            let answer = client.post(url).json(&record).send().await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (i, answer.map(|a| a.status().as_u16()).unwrap_or(0))
        })
    });
    let writes: Vec<_> = writes.collect();
    // Stop it mid-stream: once a few dozen writes have been answered.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    fed.stop_node("school-a").await;
    let mut acknowledged = Vec::new();
    for write in writes {
        let (i, status) = write.await.unwrap();
        if matches!(status, 200 | 201) {
            acknowledged.push(format!("KILL-{i:03}"));
        }
    }
    fed.restart_node("school-a").await.unwrap();
    let mis = fed.system("school-a");
    let mut stored = Vec::new();
    for _ in 0..50 {
        let answer = mis.get("/v1/children/T-KILL/records").await;
        if answer.status == 200 {
            stored = answer
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["source_system_id"].as_str().unwrap().to_owned())
                .collect();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(acknowledged.len() >= 30, "{acknowledged:?}");
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged {id} was lost");
    }
    assert_eq!(mis.verify_audit().await["intact"], true);
    eprintln!(
        "{} of 200 writes acknowledged before the stop, {} stored",
        acknowledged.len(),
        stored.len()
    );
    fed.shutdown().await;
}

/// The audit entries of `node` whose detail mentions `needle`.
fn audit_details_mentioning(
    fed: &federation_tests::TestFederation,
    node: &str,
    needle: &str,
) -> Vec<Value> {
    use agency_node::db::schema::audit_log;
    use diesel::prelude::*;
    let mut conn = fed.database(node);
    let details: Vec<String> = audit_log::table
        .order(audit_log::seq.asc())
        .select(audit_log::detail)
        .load(&mut conn)
        .unwrap();
    details
        .into_iter()
        .filter(|d| d.contains(needle))
        .map(|d| serde_json::from_str(&d).unwrap())
        .collect()
}

/// Finding 3: any node certificate could ask the gateway to route an event about any
/// child, and learn from the answer every agency that holds that child (subscribed or
/// not); a school could raise an Encompass notification into social care's inbox. Now
/// the sender's kind must be allowed the event, its own node must hold the child, only
/// the agencies that took the event are listed, routing is rate-limited per sender, and
/// every node asked audits the offer.
#[tokio::test]
async fn notification_routing_is_not_an_oracle() {
    use federation_tests::{Call, query_for};
    use serde_json::json;
    let fed = spawn_federation(Options {
        nodes: vec!["school-a", "school-b", "social-care", "police"],
        children: 300,
        route_rate_limit: Some((0.2, 8)),
        ..Options::default()
    })
    .await
    .unwrap();
    let holds = |c: &federation::seed::SyntheticChild, node: &str| c.agencies().contains(&node);
    // A child school A holds and the police do not: what a curious police certificate
    // would ask about.
    let stranger = fed
        .children
        .iter()
        .find(|c| holds(c, "school-a") && !holds(c, "police") && !holds(c, "school-b"))
        .expect("the seed has a child only school A of these holds");
    // A child the police and school A hold, and school B does not.
    let shared = fed
        .children
        .iter()
        .find(|c| holds(c, "police") && holds(c, "school-a") && !holds(c, "school-b"))
        .expect("the seed has a child the police and school A hold");
    let event = |child: &federation::seed::SyntheticChild| {
        json!({
            "id": uuid::Uuid::new_v4(), "event_type": "encompass_notification",
            "occurred_at": chrono::Utc::now().to_rfc3339(), "category": "encompass_notification",
            "child": query_for(child),
            "payloads": [{"kind": "school", "level": "summary", "impact": "Police attended"},
                         {"kind": "social_care", "level": "summary", "impact": "Police attended"}],
        })
    };
    let url = format!("{}/v1/notifications", fed.gateway_url);
    let police = fed.member_client(&fed.files.node_settings("police").unwrap().tls);
    let school = fed.member_client(&fed.files.node_settings("school-a").unwrap().tls);

    // A school may not raise an Encompass notification, about any child.
    school
        .post(&url)
        .json(&event(stranger))
        .answer()
        .await
        .case("a school raising an Encompass notification")
        .expect_problem(403, "forbidden");

    // The police certificate asking about a child the police do not hold: refused,
    // naming the child, nothing routed and no agency named.
    let probe = event(stranger);
    let refused = police
        .post(&url)
        .json(&probe)
        .answer()
        .await
        .case("an event about a child the sender does not hold")
        .expect_problem(422, "sender-does-not-hold-child");
    assert_eq!(
        federation_tests::scenario::problem_fields(&refused),
        ["child"]
    );
    assert!(!refused.to_string().contains("school-a"), "{refused}");
    let probe_id = probe["id"].as_str().unwrap();
    assert!(
        audit_details_mentioning(&fed, "school-a", probe_id).is_empty(),
        "no other node was asked"
    );
    // The sender's own node was asked, and audited it.
    let origin = audit_details_mentioning(&fed, "police", probe_id);
    assert_eq!(origin.len(), 1, "{origin:?}");
    assert_eq!(origin[0]["answered"], "not_held");

    // School A holds the shared child but has paused Encompass: it does not take the
    // event, and the answer does not list it, exactly as school B, which does not hold
    // the child at all.
    fed.system("school-a")
        .put(
            "/v1/notifications/subscriptions/encompass_notification",
            &json!({"active": false}),
        )
        .await
        .expect(200);
    let routed = event(shared);
    let answer = police.post(&url).json(&routed).answer().await.expect(200);
    let listed: Vec<&str> = answer["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["agency_id"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&"school-a"), "{answer:#}");
    assert!(!listed.contains(&"school-b"), "{answer:#}");
    assert!(
        answer["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "not_subscribed"),
        "{answer:#}"
    );
    // Every node asked audited the offer, taken or not: school A (holds, refused) and
    // school B (does not hold).
    let routed_id = routed["id"].as_str().unwrap();
    for (node, answered) in [("school-a", "not_subscribed"), ("school-b", "not_held")] {
        let entries = audit_details_mentioning(&fed, node, routed_id);
        assert_eq!(entries.len(), 1, "{node}: {entries:?}");
        assert_eq!(entries[0]["answered"], answered, "{node}");
        assert_eq!(entries[0]["sender"], "police", "{node}");
    }

    // With the subscription back, school A takes it and is listed.
    fed.system("school-a")
        .put(
            "/v1/notifications/subscriptions/encompass_notification",
            &json!({"active": true}),
        )
        .await
        .expect(200);
    let answer = police
        .post(&url)
        .json(&event(shared))
        .answer()
        .await
        .expect(200);
    assert!(
        answer["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["agency_id"] == "school-a" && r["outcome"] == "delivered"),
        "{answer:#}"
    );

    // Routing is rate-limited per sender: a burst of 8, then 429 with Retry-After.
    let mut limited = None;
    for _ in 0..12 {
        let answer = police.post(&url).json(&event(shared)).answer().await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
        answer.expect(200);
    }
    let limited = limited.expect("the routing limit bites within 12 events");
    limited.expect_problem(429, "rate-limited");
    assert!(
        limited.header("retry-after").parse::<u64>().unwrap() >= 1,
        "{:?}",
        limited.headers
    );
    // Another sender is not held back by the police's flood (it is refused for what
    // it sends, not limited).
    school
        .post(&url)
        .json(&event(stranger))
        .answer()
        .await
        .expect_problem(403, "forbidden");
    fed.shutdown().await;
}
