//! Graceful shutdown of the real gateway process: on SIGTERM it drains (readiness and
//! new requests answer `503 draining`), stops accepting connections, lets the request in
//! flight finish, and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::free_port;
use federation::pki::{Usage, Validity};
use federation::plan::{Federation, Plan};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use trust::tls::TlsFiles;

/// Polls until `f` is true or a generous deadline passes.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn sigterm_drains_the_request_in_flight_then_exits() {
    trust::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut plan = Plan::dev(free_port(), 0);
    plan.nodes.clear();
    plan.workers = Some(1);
    plan.node_timeout_ms = 60_000;
    let files = Federation::generate(dir.path(), plan).unwrap();

    // One node, answering a match only when the test lets it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let node_url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let cert = files
        .ca
        .issue(
            "school-a",
            &["localhost", "127.0.0.1"],
            Usage::ServerAndClient,
            Validity::default(),
        )
        .unwrap();
    let tls = TlsFiles {
        cert: dir.path().join("slow.pem"),
        key: dir.path().join("slow.key"),
        ca: files.ca_file.clone(),
    };
    std::fs::write(&tls.cert, cert.cert_pem).unwrap();
    std::fs::write(&tls.key, cert.key_pem).unwrap();
    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Semaphore::new(0));
    let (a, r) = (arrived.clone(), release.clone());
    let node = HttpServer::new(move || {
        let (a, r) = (a.clone(), r.clone());
        App::new().route(
            "/v1/federation/match",
            web::post().to(move || {
                let (a, r) = (a.clone(), r.clone());
                async move {
                    a.notify_one();
                    let _permit = r.acquire().await;
                    HttpResponse::Ok().json(serde_json::json!({
                        "outcome": "held", "held": true, "local_ref": "slow-1",
                        "grade": "certain", "matched_on": ["upn"]
                    }))
                }
            }),
        )
    })
    .workers(1)
    .listen_rustls_0_23(
        listener,
        trust::tls::server_config(&tls, trust::tls::ClientAuth::VerifyIfPresented).unwrap(),
    )
    .unwrap()
    .run();
    let node_handle = node.handle();
    tokio::spawn(node);
    let text = std::fs::read_to_string(&files.directory_file).unwrap();
    let mut directory: trust::directory::DirectoryFile = toml::from_str(&text).unwrap();
    directory.members.push(trust::Member {
        id: schemas::AgencyId::parse("school-a").unwrap(),
        name: "A slow school".into(),
        role: schemas::MemberRole::Node,
        kind: Some(schemas::AgencyKind::School),
        base_url: Some(node_url),
        acts_for: None,
        replica_urls: Vec::new(),
        cert_uris: vec![trust::identity::member_uri("school-a")],
        signing_key: None,
        front_door: None,
    });
    std::fs::write(
        &files.directory_file,
        toml::to_string_pretty(&directory).unwrap(),
    )
    .unwrap();

    // The real gateway, as its own process.
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_federation"))
        .args(["run-gateway", "--config"])
        .arg(&files.gateway_config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(
            trust::tls::client_config_without_identity(&files.ca_file).unwrap(),
        )
        .timeout(Duration::from_secs(120))
        // A fresh connection per request, so "refused" means the listener is closed.
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let gateway_url = files.plan.gateway_url();
    eventually("the gateway answers", async || {
        client
            .get(format!("{gateway_url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let token = files
        .token(
            schemas::PractitionerRole::DesignatedSafeguardingLead,
            "school-a",
            "dsl.slow",
            600,
        )
        .unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!(
            "{gateway_url}/v1/children:search?purpose=safeguarding&legal_basis=public_task"
        );
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "demographics": {"given_name": "Amelia", "family_name": "Okafor",
                        "date_of_birth": "2014-03-09"}
                }))
                .send()
                .await
        }
    });
    // The search has reached the node and waits for it.
    tokio::time::timeout(Duration::from_secs(60), arrived.notified())
        .await
        .expect("the search reaches the node");

    let pid = gateway.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // First it drains: liveness still answers, readiness and new requests are refused
    // with `503 draining`, so that load balancers and gateways go elsewhere.
    eventually("readiness answers 503 draining", async || {
        match client.get(format!("{gateway_url}/readyz")).send().await {
            Ok(r) if r.status() == 503 => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|p| p["type"].as_str().is_some_and(|t| t.ends_with("draining"))),
            _ => false,
        }
    })
    .await;
    let alive = client
        .get(format!("{gateway_url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "liveness answers while draining");
    // Then it stops accepting while the search is still in flight.
    eventually("new connections are refused", async || {
        client
            .get(format!("{gateway_url}/healthz"))
            .send()
            .await
            .is_err_and(|e| e.is_connect())
    })
    .await;
    assert!(
        gateway.try_wait().unwrap().is_none(),
        "the gateway exited before its request in flight was answered"
    );

    // The node answers; the search in flight completes.
    release.add_permits(1);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let school = body["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_id"] == "school-a")
        .unwrap();
    assert_eq!(school["status"], "held", "{body}");

    // Then the process exits, cleanly.
    let mut status = None;
    eventually("the gateway exits", async || {
        status = gateway.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert!(status.unwrap().success(), "{status:?}");
    node_handle.stop(false).await;
}
