//! A real federation for tests: generated PKI, directory and tokens, SQLite databases
//! seeded with synthetic children, every node and the gateway started in-process on
//! ephemeral ports with real TLS. Each test reads as a scenario over it.

use actix_web::dev::ServerHandle;
use federation::plan::{Federation, NodePlan, Plan};
use federation::seed::{self, SyntheticChild};
use schemas::PractitionerRole;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;
use trust::tls::TlsFiles;

pub struct Options {
    /// Which of the dev federation's nodes to start.
    pub nodes: Vec<&'static str>,
    pub children: usize,
    pub node_timeout_ms: u64,
    /// Per-member rate limit (per second, burst) for every service.
    pub rate_limit: Option<(f64, u32)>,
    /// The gateway's circuit breakers: consecutive failures, cool-down in milliseconds.
    pub breaker: (u32, u64),
    /// Searches, views and access reports the gateway runs at once.
    pub max_concurrent_fanouts: usize,
    /// Broken nodes to list in the directory beside the real ones.
    pub misbehaving: Vec<(&'static str, Misbehaviour)>,
}

/// How a broken node fails. Each one says it holds every child it is asked about, then
/// fails when its records are read, except `NoHandshake` and `ExpiredCertificate`,
/// which fail before any HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts TCP connections and never says anything.
    NoHandshake,
    /// Answers the match, then never answers the read.
    HangsOnRead,
    /// Answers the read with 200 and a body that is not JSON.
    Garbage,
    /// Answers the read with 200 and JSON of the wrong shape.
    WrongShape,
    /// Answers the read with a 500.
    ServerError,
    /// Serves with a certificate from the federation CA that expired.
    ExpiredCertificate,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: vec![
                "school-a",
                "school-b",
                "social-care",
                "health",
                "police",
                "early-help",
            ],
            children: 300,
            // Generous: a slow answer on a loaded CI machine is not what these tests test.
            node_timeout_ms: 5000,
            rate_limit: None,
            misbehaving: Vec::new(),
            breaker: (5, 10_000),
            max_concurrent_fanouts: 512,
        }
    }
}

pub struct TestFederation {
    pub files: Federation,
    pub children: Vec<SyntheticChild>,
    pub gateway_url: String,
    pub node_urls: BTreeMap<String, String>,
    nodes: BTreeMap<String, ServerHandle>,
    gateway: ServerHandle,
    _dir: tempfile::TempDir,
}

fn free_listener() -> anyhow::Result<TcpListener> {
    Ok(TcpListener::bind("127.0.0.1:0")?)
}

/// Starts a federation and returns once every service accepts connections.
pub async fn spawn_federation(options: Options) -> anyhow::Result<TestFederation> {
    trust::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let gateway_listener = free_listener()?;
    let dev = Plan::dev(0, 0);
    let mut listeners = BTreeMap::new();
    let mut nodes: Vec<NodePlan> = Vec::new();
    for node in dev
        .nodes
        .into_iter()
        .filter(|n| options.nodes.contains(&n.id.as_str()))
    {
        let listener = free_listener()?;
        nodes.push(NodePlan {
            port: listener.local_addr()?.port(),
            ..node
        });
        listeners.insert(nodes[nodes.len() - 1].id.clone(), listener);
    }
    let plan = Plan {
        host: "127.0.0.1".into(),
        gateway_port: gateway_listener.local_addr()?.port(),
        nodes,
        workers: Some(1),
        node_timeout_ms: options.node_timeout_ms,
        rate_limit: options.rate_limit,
        breaker: options.breaker,
        max_concurrent_fanouts: options.max_concurrent_fanouts,
    };
    let files = Federation::generate(dir.path(), plan)?;
    let children = seed::population(42, options.children);
    federation::load::load(&files, &children)?;
    let mut broken = Vec::new();
    for (id, behaviour) in &options.misbehaving {
        broken.push(start_misbehaving_node(&files, id, *behaviour).await?);
    }

    let mut handles = BTreeMap::new();
    let mut node_urls = BTreeMap::new();
    for node in &files.plan.nodes {
        let listener = listeners
            .remove(&node.id)
            .ok_or_else(|| anyhow::anyhow!("no listener for {}", node.id))?;
        let app = agency_node::Application::build_with_listener(
            files.node_settings(&node.id)?,
            listener,
        )?;
        handles.insert(node.id.clone(), app.handle());
        node_urls.insert(node.id.clone(), files.plan.node_url(node));
        tokio::spawn(app.run_until_stopped());
    }
    let app =
        gateway::Application::build_with_listener(files.gateway_settings()?, gateway_listener)?;
    let gateway = app.handle();
    tokio::spawn(app.run_until_stopped());
    for (id, url) in &broken {
        node_urls.insert(id.clone(), url.clone());
    }
    Ok(TestFederation {
        gateway_url: files.plan.gateway_url(),
        files,
        children,
        node_urls,
        nodes: handles,
        gateway,
        _dir: dir,
    })
}

impl TestFederation {
    /// A token for a demo practitioner, valid for ten minutes.
    pub fn token(&self, role: PractitionerRole, agency: &str) -> String {
        self.files
            .token(role, agency, &format!("{}.{agency}", role.as_str()), 600)
            .unwrap_or_default()
    }

    pub fn dsl_token(&self) -> String {
        self.token(PractitionerRole::DesignatedSafeguardingLead, "school-a")
    }

    /// An HTTPS client that trusts the federation CA and presents no certificate (what a
    /// practitioner's app is to the gateway).
    pub fn anonymous_client(&self) -> reqwest::Client {
        client(trust::tls::client_config_without_identity(&self.files.ca_file).ok())
    }

    /// A client presenting the given member certificate.
    pub fn member_client(&self, tls: &TlsFiles) -> reqwest::Client {
        client(trust::tls::client_config(tls).ok())
    }

    /// The gateway's own identity, as nodes see it.
    pub fn gateway_identity(&self) -> reqwest::Client {
        self.member_client(&self.files.gateway_tls)
    }

    /// The integration client (`<node>-system`) of a node.
    pub fn integration_client(&self, node: &str) -> reqwest::Client {
        match self.files.integration_tls.get(node) {
            Some(tls) => self.member_client(tls),
            None => self.anonymous_client(),
        }
    }

    pub fn node_url(&self, node: &str) -> &str {
        self.node_urls
            .get(node)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Starts a stopped node again, on the same address and database.
    pub async fn restart_node(&mut self, node: &str) -> anyhow::Result<()> {
        let settings = self.files.node_settings(node)?;
        let app = agency_node::Application::build(settings)?;
        self.nodes.insert(node.to_owned(), app.handle());
        tokio::spawn(app.run_until_stopped());
        Ok(())
    }

    /// Stops one node as if its host went away.
    pub async fn stop_node(&self, node: &str) {
        if let Some(handle) = self.nodes.get(node) {
            handle.stop(false).await;
        }
    }

    /// A seeded child known to at least `min_agencies` of the running nodes, with a
    /// query (identifiers and demographics) that finds it.
    pub fn child_known_to(
        &self,
        min_agencies: usize,
        must_include: &[&str],
    ) -> Option<&SyntheticChild> {
        self.children.iter().find(|c| {
            let agencies = c.agencies();
            agencies
                .iter()
                .filter(|a| self.node_urls.contains_key(**a))
                .count()
                >= min_agencies
                && must_include.iter().all(|m| agencies.contains(m))
        })
    }

    /// Starts one more gateway replica from the federation's gateway configuration file
    /// (so with the same reference key), or with the reference key in `other_key_file`.
    /// Returns its URL and handle; stop it with `handle.stop(false)`.
    pub async fn spawn_gateway_replica(
        &self,
        other_key_file: Option<std::path::PathBuf>,
    ) -> anyhow::Result<(String, ServerHandle)> {
        let listener = free_listener()?;
        let port = listener.local_addr()?.port();
        let mut settings = self.files.gateway_settings()?;
        if let Some(key_file) = other_key_file {
            settings.reference.key_file = key_file;
        }
        let app = gateway::Application::build_with_listener(settings, listener)?;
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Ok((format!("https://127.0.0.1:{port}"), handle))
    }

    pub async fn shutdown(self) {
        self.gateway.stop(false).await;
        for handle in self.nodes.values() {
            handle.stop(false).await;
        }
    }
}

/// The query a practitioner would type for this child: every identifier and the
/// demographics.
pub fn query_for(child: &SyntheticChild) -> serde_json::Value {
    serde_json::json!({
        "identifiers": {"upn": child.upn, "nhs_number": child.nhs_number},
        "demographics": child.demographics,
    })
}

/// Starts a broken node and lists it in the directory (as a virtual school). Returns its
/// id and URL.
async fn start_misbehaving_node(
    files: &Federation,
    id: &str,
    behaviour: Misbehaviour,
) -> anyhow::Result<(String, String)> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use federation::pki::{Usage, Validity};
    let listener = free_listener()?;
    let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
    let validity = if behaviour == Misbehaviour::ExpiredCertificate {
        Validity {
            not_before: (2024, 1, 1),
            not_after: (2025, 1, 1),
        }
    } else {
        Validity::default()
    };
    let cert = files.ca.issue(
        id,
        &["localhost", "127.0.0.1"],
        Usage::ServerAndClient,
        validity,
    )?;
    let dir = files.root.join("broken");
    std::fs::create_dir_all(&dir)?;
    let tls = TlsFiles {
        cert: dir.join(format!("{id}.pem")),
        key: dir.join(format!("{id}.key")),
        ca: files.ca_file.clone(),
    };
    std::fs::write(&tls.cert, cert.cert_pem)?;
    std::fs::write(&tls.key, cert.key_pem)?;

    if behaviour == Misbehaviour::NoHandshake {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
    } else {
        let server = HttpServer::new(move || {
            App::new()
                .route(
                    "/v1/federation/match",
                    web::post().to(|| async {
                        HttpResponse::Ok().json(serde_json::json!({
                            "outcome": "held", "held": true, "local_ref": "broken-1",
                            "grade": "certain", "matched_on": ["upn"]
                        }))
                    }),
                )
                .default_service(web::to(move || async move {
                    match behaviour {
                        Misbehaviour::HangsOnRead => {
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            HttpResponse::Ok().finish()
                        }
                        Misbehaviour::Garbage => HttpResponse::Ok()
                            .content_type("application/json")
                            .body("}{ this is not json"),
                        Misbehaviour::WrongShape => {
                            HttpResponse::Ok().json(serde_json::json!({"records": "none today"}))
                        }
                        _ => HttpResponse::InternalServerError().body("boom"),
                    }
                }))
        })
        .workers(1)
        .listen_rustls_0_23(
            listener,
            trust::tls::server_config(&tls, trust::tls::ClientAuth::VerifyIfPresented)?,
        )?
        .run();
        tokio::spawn(server);
    }

    let text = std::fs::read_to_string(&files.directory_file)?;
    let mut directory: trust::directory::DirectoryFile = toml::from_str(&text)?;
    directory.members.push(trust::Member {
        id: schemas::AgencyId::parse(id)?,
        name: format!("Broken node {id}"),
        role: schemas::MemberRole::Node,
        kind: Some(schemas::AgencyKind::VirtualSchool),
        base_url: Some(url.clone()),
        acts_for: None,
        cert_uris: vec![trust::tls::member_uri(id)],
    });
    std::fs::write(&files.directory_file, toml::to_string_pretty(&directory)?)?;
    Ok((id.to_owned(), url))
}

fn client(config: Option<rustls::ClientConfig>) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10));
    let builder = match config {
        Some(config) => builder.tls_backend_preconfigured(config),
        None => builder,
    };
    builder.build().unwrap_or_default()
}
