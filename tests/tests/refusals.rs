//! Every security refusal, over real TLS: certificates at the nodes, tokens at the
//! gateway and again at the nodes.

// Test helpers here panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use federation::pki::{CertificateAuthority, Usage, Validity};
use federation::plan::{DEV_AUDIENCE, DEV_ISSUER};
use federation_tests::{Call, Options, SAFEGUARDING, TestFederation, spawn_federation};
use schemas::PractitionerRole;
use serde_json::{Value, json};
use trust::tls::TlsFiles;

fn small() -> Options {
    Options::nodes(&["school-a", "social-care", "police"], 30)
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

/// The federation face's match endpoint of a node, in a safeguarding context.
fn match_url(fed: &TestFederation, node: &str) -> String {
    format!("{}/v1/federation/match?{SAFEGUARDING}", fed.node_url(node))
}

/// A caller at a face of a node it may not use, and the problem it must get.
struct Refusal {
    case: &'static str,
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: Value,
    code: &'static str,
    /// What the problem's detail must say, if anything in particular.
    detail: Option<&'static str>,
}

/// Each caller is refused with a 403 problem at the face it may not use: the federation
/// face wants a listed member's certificate and is not for integration clients; the
/// integration face is only for the node's own agency's system.
#[tokio::test]
async fn nodes_refuse_callers_at_a_face_they_may_not_use() {
    let fed = spawn_federation(small()).await.unwrap();
    let stranger = issue(&fed, &fed.files.ca, "stranger", Usage::ServerAndClient);
    let records = format!(
        "{}/v1/children/NPS-000001/records",
        fed.node_url("school-a")
    );
    let record = json!({"source_system_id": "x", "category": "attendance",
        "effective_from": "2026-09-01", "impact": "Attendance 99%",
        "details": {"sessions_possible": 100, "sessions_present": 99,
                    "authorised_absence": 1, "unauthorised_absence": 0}});
    let at_match = |case, client, code, detail| Refusal {
        case,
        client,
        url: match_url(&fed, "school-a"),
        token: Some(fed.dsl_token()),
        body: match_body(),
        code,
        detail,
    };
    let at_records = |case, client| Refusal {
        case,
        client,
        url: records.clone(),
        token: None,
        body: record.clone(),
        code: "forbidden",
        detail: None,
    };
    let refusals = [
        at_match(
            "a caller without a client certificate",
            fed.anonymous_client(),
            "not-a-member",
            Some("no client certificate"),
        ),
        at_match(
            "a CA-signed certificate the directory does not list",
            fed.member_client(&stranger),
            "not-a-member",
            Some("not listed"),
        ),
        at_match(
            "the node's own integration client at the federation face",
            fed.integration_client("school-a"),
            "forbidden",
            None,
        ),
        at_records(
            "the gateway at the integration face",
            fed.gateway_identity(),
        ),
        // Another agency's integration client writes only to its own node.
        at_records(
            "another agency's integration client at the integration face",
            fed.integration_client("police"),
        ),
    ];
    for refusal in refusals {
        let mut request = refusal.client.post(&refusal.url).json(&refusal.body);
        if let Some(token) = &refusal.token {
            request = request.bearer_auth(token);
        }
        let problem = request
            .answer()
            .await
            .case(refusal.case)
            .expect_problem(403, refusal.code);
        if let Some(detail) = refusal.detail {
            assert!(
                problem["detail"].as_str().unwrap().contains(detail),
                "{}: {problem}",
                refusal.case
            );
        }
    }
    // Health and docs stay reachable without a certificate.
    fed.anonymous_client()
        .get(format!("{}/healthz", fed.node_url("school-a")))
        .answer()
        .await
        .expect(200);
    fed.shutdown().await;
}

#[tokio::test]
async fn node_refuses_a_certificate_from_another_ca_at_the_handshake() {
    let fed = spawn_federation(small()).await.unwrap();
    let rogue_ca = CertificateAuthority::generate("Rogue CA").unwrap();
    // Same identity as the real gateway, wrong issuer.
    let rogue = issue(&fed, &rogue_ca, "gateway", Usage::ServerAndClient);
    let url = match_url(&fed, "school-a");
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
    fed.gateway_identity()
        .post(&url)
        .bearer_auth(fed.dsl_token())
        .json(&match_body())
        .answer()
        .await
        .expect(200);
    fed.shutdown().await;
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_after_the_directory_changes_without_restart() {
    let fed = spawn_federation(small()).await.unwrap();
    let mis = fed.system("school-a");
    let before = mis.get("/v1/children/NPS-000001").await;
    assert_ne!(before.status, 403);

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
        let answer = mis.get("/v1/children/NPS-000001").await;
        if answer.status == 403 {
            refused = Some(answer);
            break;
        }
    }
    let problem = refused
        .expect("refused within 10 s")
        .expect_problem(403, "not-a-member");
    assert!(problem["detail"].as_str().unwrap().contains("revoked"));
    fed.shutdown().await;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
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
        // Times: not yet valid, issued in the future, or living longer than the issuer
        // may grant (12 h by default).
        (
            "nbf in an hour",
            sign_eddsa(&claims(|c| c["nbf"] = json!(now() + 3600)), issuer_key),
        ),
        (
            "iat a year ahead",
            sign_eddsa(
                &claims(|c| {
                    c["iat"] = json!(now() + 365 * 86_400);
                    c["exp"] = json!(now() + 365 * 86_400 + 300);
                }),
                issuer_key,
            ),
        ),
        (
            "exp in 2100",
            sign_eddsa(&claims(|c| c["exp"] = json!(4_102_444_800_i64)), issuer_key),
        ),
        (
            "a 13-hour lifetime",
            sign_eddsa(&claims(|c| c["exp"] = json!(now() + 13 * 3600)), issuer_key),
        ),
        // Members that are not agencies employ no practitioners.
        (
            "agency is the gateway",
            sign_eddsa(&claims(|c| c["agency"] = json!("gateway")), issuer_key),
        ),
        (
            "agency is an integration system",
            sign_eddsa(
                &claims(|c| c["agency"] = json!("school-a-system")),
                issuer_key,
            ),
        ),
    ]
}

#[tokio::test]
async fn gateway_refuses_every_bad_token() {
    let fed = spawn_federation(small()).await.unwrap();
    let search = format!("/v1/children:search?{SAFEGUARDING}");
    let good = sign_eddsa(&claims(|_| {}), &fed.files.issuer_private_pem);
    let accepted = fed.gateway_post(&good, &search, &match_body()).await;
    assert_eq!(accepted.status, 200, "the untweaked token is accepted");
    for (name, token) in bad_tokens(&fed) {
        let refused = fed
            .gateway_post(&token, &search, &match_body())
            .await
            .case(name);
        assert_eq!(refused.header("www-authenticate"), "Bearer", "{name}");
        refused.expect_problem(401, "invalid-token");
    }
    fed.anonymous_client()
        .post(format!("{}{search}", fed.gateway_url))
        .json(&match_body())
        .answer()
        .await
        .expect_problem(401, "invalid-token");
    fed.shutdown().await;
}

#[tokio::test]
async fn nodes_verify_the_forwarded_token_themselves() {
    let fed = spawn_federation(small()).await.unwrap();
    let url = match_url(&fed, "social-care");
    let gateway = fed.gateway_identity();
    let with_token = |token: &str| {
        gateway
            .post(&url)
            .bearer_auth(token)
            .json(&match_body())
            .answer()
    };
    let good = fed.token(PractitionerRole::SocialWorker, "social-care");
    with_token(&good).await.expect(200);
    for (name, token) in bad_tokens(&fed) {
        with_token(&token).await.case(name).expect(401);
    }
    gateway
        .post(&url)
        .json(&match_body())
        .answer()
        .await
        .expect_problem(401, "invalid-token");
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

    let mis = fed.system("school-a");
    assert!(
        eventually(|| async { mis.get("/v1/children/NPS-000001").await.status == 403 }).await,
        "the removed member is refused"
    );
    let search = format!("/v1/children:search?{SAFEGUARDING}");
    assert!(
        eventually(|| async {
            fed.gateway_post(&old_token, &search, &match_body())
                .await
                .status
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
    let found = fed
        .gateway_post(&new_token, &search, &match_body())
        .await
        .case("tokens from the new key work at gateway and nodes")
        .expect(200);
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
