//! Every security refusal, over real TLS: certificates at the nodes, tokens at the
//! gateway and again at the nodes.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use federation::pki::{CertificateAuthority, Usage, Validity};
use federation::plan::{DEV_AUDIENCE, DEV_ISSUER};
use federation_tests::{Options, TestFederation, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};
use trust::tls::TlsFiles;

fn small() -> Options {
    Options {
        nodes: vec!["school-a", "social-care", "police"],
        children: 30,
        ..Options::default()
    }
}

async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{code}")),
        "{body}"
    );
    body
}

fn match_body() -> Value {
    json!({"demographics": {"given_name": "A", "family_name": "B", "date_of_birth": "2015-01-01"}})
}

/// Writes a certificate issued by `ca` for `member_id` into the federation's folder.
fn issue(
    fed: &TestFederation,
    ca: &CertificateAuthority,
    member_id: &str,
    usage: Usage,
) -> TlsFiles {
    let cert = ca
        .issue(
            member_id,
            &["localhost", "127.0.0.1"],
            usage,
            Validity::default(),
        )
        .unwrap();
    let dir = fed.files.root.join("extra");
    std::fs::create_dir_all(&dir).unwrap();
    let files = TlsFiles {
        cert: dir.join(format!("{member_id}.pem")),
        key: dir.join(format!("{member_id}.key")),
        ca: fed.files.ca_file.clone(),
    };
    std::fs::write(&files.cert, cert.cert_pem).unwrap();
    std::fs::write(&files.key, cert.key_pem).unwrap();
    files
}

#[tokio::test]
async fn node_refuses_a_caller_without_a_client_certificate() {
    let fed = spawn_federation(small()).await.unwrap();
    let response = fed
        .anonymous_client()
        .post(format!(
            "{}/v1/federation/match?purpose=safeguarding&legal_basis=public_task",
            fed.node_url("school-a")
        ))
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .send()
        .await
        .unwrap();
    let body = problem(response, 403, "not-a-member").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no client certificate")
    );
    // Health and docs stay reachable without a certificate.
    let health = fed
        .anonymous_client()
        .get(format!("{}/healthz", fed.node_url("school-a")))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    fed.shutdown().await;
}

#[tokio::test]
async fn node_refuses_a_certificate_from_another_ca_at_the_handshake() {
    let fed = spawn_federation(small()).await.unwrap();
    let rogue_ca = CertificateAuthority::generate("Rogue CA").unwrap();
    // Same identity as the real gateway, wrong issuer.
    let rogue = issue(&fed, &rogue_ca, "gateway", Usage::ServerAndClient);
    let url = format!(
        "{}/v1/federation/match?purpose=safeguarding&legal_basis=public_task",
        fed.node_url("school-a")
    );
    let refused = fed
        .member_client(&rogue)
        .post(&url)
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .send()
        .await;
    let error = refused.expect_err("a rogue-CA certificate must not get an HTTP answer");
    assert!(!error.is_status());
    // The same request with the real gateway certificate is answered.
    let accepted = fed
        .gateway_identity()
        .post(&url)
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    fed.shutdown().await;
}

#[tokio::test]
async fn node_refuses_a_ca_signed_certificate_the_directory_does_not_list() {
    let fed = spawn_federation(small()).await.unwrap();
    let stranger = issue(&fed, &fed.files.ca, "stranger", Usage::ServerAndClient);
    let response = fed
        .member_client(&stranger)
        .post(format!(
            "{}/v1/federation/match?purpose=safeguarding&legal_basis=public_task",
            fed.node_url("school-a")
        ))
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .send()
        .await
        .unwrap();
    let body = problem(response, 403, "not-a-member").await;
    assert!(body["detail"].as_str().unwrap().contains("not listed"));
    fed.shutdown().await;
}

#[tokio::test]
async fn integration_client_cannot_use_the_federation_face() {
    let fed = spawn_federation(small()).await.unwrap();
    let response = fed
        .integration_client("school-a")
        .post(format!(
            "{}/v1/federation/match?purpose=safeguarding&legal_basis=public_task",
            fed.node_url("school-a")
        ))
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .send()
        .await
        .unwrap();
    problem(response, 403, "forbidden").await;
    fed.shutdown().await;
}

#[tokio::test]
async fn gateway_and_other_agencies_cannot_use_the_integration_face() {
    let fed = spawn_federation(small()).await.unwrap();
    let url = format!(
        "{}/v1/children/NPS-000001/records",
        fed.node_url("school-a")
    );
    let record = json!({"source_system_id": "x", "category": "attendance",
        "effective_from": "2026-09-01", "impact": "Attendance 99%",
        "details": {"sessions_possible": 100, "sessions_present": 99,
                    "authorised_absence": 1, "unauthorised_absence": 0}});
    let by_gateway = fed
        .gateway_identity()
        .post(&url)
        .json(&record)
        .send()
        .await
        .unwrap();
    problem(by_gateway, 403, "forbidden").await;
    // Another agency's integration client writes only to its own node.
    let by_police_system = fed
        .integration_client("police")
        .post(&url)
        .json(&record)
        .send()
        .await
        .unwrap();
    problem(by_police_system, 403, "forbidden").await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_after_the_directory_changes_without_restart() {
    let fed = spawn_federation(small()).await.unwrap();
    let url = format!("{}/v1/children/NPS-000001", fed.node_url("school-a"));
    let client = fed.integration_client("school-a");
    let before = client.get(&url).send().await.unwrap();
    assert_ne!(before.status(), 403);

    let serial = fed.files.serials["school-a-system"].clone();
    let text = std::fs::read_to_string(&fed.files.directory_file).unwrap();
    let revoked = text.replacen(
        "revoked_serials = []",
        &format!("revoked_serials = [\"{serial}\"]"),
        1,
    );
    assert_ne!(text, revoked, "the directory lists revoked_serials");
    std::fs::write(&fed.files.directory_file, revoked).unwrap();

    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let response = client.get(&url).send().await.unwrap();
        if response.status() == 403 {
            refused = Some(response);
            break;
        }
    }
    let body = problem(refused.expect("refused within 10 s"), 403, "not-a-member").await;
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
    fed.shutdown().await;
}

/// A token like the dev issuer's, with one thing changed by `tweak`.
fn claims(tweak: impl FnOnce(&mut Value)) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "iss": DEV_ISSUER, "sub": "dsl.test", "aud": DEV_AUDIENCE, "exp": now + 300,
        "iat": now, "jti": "t-1", "agency": "school-a", "role": "designated_safeguarding_lead"
    });
    tweak(&mut c);
    c
}

fn sign_eddsa(claims: &Value, private_pem: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        claims,
        &key,
    )
    .unwrap()
}

/// Every kind of bad token, named.
fn bad_tokens(fed: &TestFederation) -> Vec<(&'static str, String)> {
    let issuer_key = &fed.files.issuer_private_pem;
    let (other_key, _) = federation::pki::token_issuer_keys().unwrap();
    let public_pem = std::fs::read_to_string(&fed.files.directory_file)
        .unwrap()
        .split("public_key_pem = \"\"\"")
        .nth(1)
        .and_then(|s| s.split("\"\"\"").next())
        .map(|s| s.trim_start_matches('\n').to_owned())
        .unwrap_or_default();
    assert!(public_pem.contains("BEGIN PUBLIC KEY"), "{public_pem}");
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(|_| {}).to_string())
    );
    let hs256_with_public_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(|_| {}),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    vec![
        (
            "expired",
            sign_eddsa(
                &claims(|c| c["exp"] = json!(chrono::Utc::now().timestamp() - 600)),
                issuer_key,
            ),
        ),
        (
            "wrong aud",
            sign_eddsa(
                &claims(|c| c["aud"] = json!("urn:another-federation")),
                issuer_key,
            ),
        ),
        (
            "wrong iss",
            sign_eddsa(
                &claims(|c| c["iss"] = json!("https://idp.elsewhere.test")),
                issuer_key,
            ),
        ),
        ("bad signature", sign_eddsa(&claims(|_| {}), &other_key)),
        ("alg none", none_token),
        ("HS256 with the public key", hs256_with_public_key),
        (
            "unknown agency",
            sign_eddsa(&claims(|c| c["agency"] = json!("nowhere")), issuer_key),
        ),
        ("not a JWT", "hello".to_owned()),
    ]
}

#[tokio::test]
async fn gateway_refuses_every_bad_token() {
    let fed = spawn_federation(small()).await.unwrap();
    let url = format!(
        "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
        fed.gateway_url
    );
    let good = sign_eddsa(&claims(|_| {}), &fed.files.issuer_private_pem);
    let accepted = fed
        .anonymous_client()
        .post(&url)
        .bearer_auth(&good)
        .json(&match_body())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200, "the untweaked token is accepted");
    for (name, token) in bad_tokens(&fed) {
        let response = fed
            .anonymous_client()
            .post(&url)
            .bearer_auth(&token)
            .json(&match_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
        problem(response, 401, "invalid-token").await;
    }
    let missing = fed
        .anonymous_client()
        .post(&url)
        .json(&match_body())
        .send()
        .await
        .unwrap();
    problem(missing, 401, "invalid-token").await;
    fed.shutdown().await;
}

#[tokio::test]
async fn nodes_verify_the_forwarded_token_themselves() {
    let fed = spawn_federation(small()).await.unwrap();
    let url = format!(
        "{}/v1/federation/match?purpose=safeguarding&legal_basis=public_task",
        fed.node_url("social-care")
    );
    let gateway = fed.gateway_identity();
    let good = fed.token(PractitionerRole::SocialWorker, "social-care");
    let accepted = gateway
        .post(&url)
        .bearer_auth(&good)
        .json(&match_body())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    for (name, token) in bad_tokens(&fed) {
        let response = gateway
            .post(&url)
            .bearer_auth(&token)
            .json(&match_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
    let missing = gateway.post(&url).json(&match_body()).send().await.unwrap();
    problem(missing, 401, "invalid-token").await;
    fed.shutdown().await;
}

/// Polls until `check` holds, for up to ten seconds (the directory is re-read every 2 s).
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn removing_a_member_and_rotating_an_issuer_key_take_effect_without_restart() {
    let fed = spawn_federation(small()).await.unwrap();
    let text = std::fs::read_to_string(&fed.files.directory_file).unwrap();
    let mut directory: trust::directory::DirectoryFile = toml::from_str(&text).unwrap();

    // Remove school A's MIS and rotate the issuer's key in one directory change.
    directory
        .members
        .retain(|m| m.id.as_str() != "school-a-system");
    let (new_private, new_public) = federation::pki::token_issuer_keys().unwrap();
    directory.issuers[0].public_key_pem = new_public;
    let old_token = fed.dsl_token();
    std::fs::write(
        &fed.files.directory_file,
        toml::to_string_pretty(&directory).unwrap(),
    )
    .unwrap();

    let mis = fed.integration_client("school-a");
    let url = format!("{}/v1/children/NPS-000001", fed.node_url("school-a"));
    assert!(
        eventually(|| async { mis.get(&url).send().await.unwrap().status() == 403 }).await,
        "the removed member is refused"
    );
    let search = format!(
        "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
        fed.gateway_url
    );
    let client = fed.anonymous_client();
    assert!(
        eventually(|| async {
            client
                .post(&search)
                .bearer_auth(&old_token)
                .json(&match_body())
                .send()
                .await
                .unwrap()
                .status()
                == 401
        })
        .await,
        "tokens signed with the old key are refused"
    );
    let new_token = federation::plan::dev_token(
        &new_private,
        PractitionerRole::DesignatedSafeguardingLead,
        "school-a",
        "dsl",
        300,
    )
    .unwrap();
    let accepted = client
        .post(&search)
        .bearer_auth(&new_token)
        .json(&match_body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        accepted.status(),
        200,
        "tokens from the new key work at gateway and nodes"
    );
    let found: Value = accepted.json().await.unwrap();
    assert!(
        found["agencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] != "error"),
        "{found}"
    );
    fed.shutdown().await;
}
