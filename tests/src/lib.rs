//! A real federation for tests: generated PKI, directory and tokens, databases seeded
//! with synthetic children, every node and the gateway started in-process on ephemeral
//! ports with real TLS. Each test reads as a scenario over it.
//!
//! The databases are SQLite files, or, when `FEDERATION_TEST_DATABASE` names a
//! PostgreSQL server (`postgres://postgres@127.0.0.1:5432`), a fresh database per node
//! per test on it, dropped when the federation is dropped.

pub mod scenario;
pub mod webhook;

pub use scenario::{Answer, Call, SAFEGUARDING, System};

use actix_web::dev::ServerHandle;
use federation::plan::{Database, DatabaseNames, Federation, NodePlan, Plan};
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
    /// The nodes' rate limit (per second, burst) instead of `rate_limit`, so a test can
    /// make the nodes stricter than the gateway.
    pub node_rate_limit: Option<(f64, u32)>,
    /// The gateway's limit on notifications routed per sending node (per second, burst)
    /// instead of its default.
    pub route_rate_limit: Option<(f64, u32)>,
    /// The gateway's limit on search answers with candidates' disagreeing fields, per
    /// practitioner (per second, burst), instead of its default.
    pub candidate_detail_limit: Option<(f64, u32)>,
    /// The gateway's circuit breakers: consecutive failures, cool-down in milliseconds.
    pub breaker: (u32, u64),
    /// Searches, views and access reports the gateway runs at once.
    pub max_concurrent_fanouts: usize,
    /// Broken nodes to list in the directory beside the real ones.
    pub misbehaving: Vec<(&'static str, Misbehaviour)>,
    /// Notification retries and deadlines (default: quick retries for tests).
    pub notifications: federation::plan::NotificationKnobs,
    /// Plain (default) or keyed matching, for the gateway and every node.
    pub matching_mode: matching::MatchingMode,
    /// Nodes put behind a recording relay: a TLS-terminating proxy that presents the
    /// node's own certificate, keeps every request body it passes on, and forwards it to
    /// the node as the gateway. The directory lists the relay as the node.
    pub recorded: Vec<&'static str>,
    /// The gateway uses the nodes' record-locator filters, fetched this often (seconds).
    pub locator_refresh_seconds: Option<u64>,
    /// Children per batched call of a cohort at the gateway (its default unless set).
    pub cohort_chunk: Option<usize>,
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

impl Options {
    /// Only these of the dev federation's nodes, with this many seeded children; the
    /// rest as by default.
    pub fn nodes(nodes: &[&'static str], children: usize) -> Self {
        Self {
            nodes: nodes.to_vec(),
            children,
            ..Self::default()
        }
    }
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
                "virtual-school",
            ],
            children: 300,
            // Generous: a slow answer on a loaded CI machine is not what these tests test.
            node_timeout_ms: 5000,
            rate_limit: None,
            node_rate_limit: None,
            route_rate_limit: None,
            candidate_detail_limit: None,
            misbehaving: Vec::new(),
            breaker: (5, 10_000),
            max_concurrent_fanouts: 512,
            notifications: federation::plan::NotificationKnobs {
                backoff_ms: Some((200, 2_000)),
                ..Default::default()
            },
            matching_mode: matching::MatchingMode::Plain,
            recorded: Vec::new(),
            locator_refresh_seconds: None,
            cohort_chunk: None,
        }
    }
}

pub struct TestFederation {
    pub files: Federation,
    pub children: Vec<SyntheticChild>,
    pub gateway_url: String,
    pub node_urls: BTreeMap<String, String>,
    /// Each service's metrics address (`http://127.0.0.1:PORT`), by node id and
    /// `gateway`.
    pub metrics_urls: BTreeMap<String, String>,
    nodes: BTreeMap<String, ServerHandle>,
    gateway: ServerHandle,
    /// What the recording relays passed on, per recorded node.
    pub recordings: BTreeMap<String, Recording>,
    relays: Vec<ServerHandle>,
    _dir: tempfile::TempDir,
}

/// A node replica started by [`TestFederation::spawn_node_replica`].
pub struct NodeReplica {
    pub url: String,
    /// The node's own system, talking to this replica.
    pub system: scenario::System,
    /// What SIGTERM does to the replica's process: drain, then stop.
    pub drain: service::server::Drain,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl NodeReplica {
    /// Ends the replica as a crash would: its delivery worker is dropped wherever it
    /// is (a claim it holds stays on its event until the lease runs out), then its
    /// server stops without finishing what it was doing.
    pub async fn kill(self) {
        self.task.abort();
        self.server.stop(false).await;
    }
}

/// One request a recording relay passed on to its node.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query string.
    pub target: String,
    pub body: Vec<u8>,
}

pub type Recording = std::sync::Arc<std::sync::Mutex<Vec<RecordedRequest>>>;
/// The backend of this test run: PostgreSQL when `FEDERATION_TEST_DATABASE` names a
/// server, SQLite otherwise.
pub fn test_database() -> Database {
    match std::env::var(agency_node::db::TEST_DATABASE_ENV) {
        Ok(server) if !server.trim().is_empty() => Database::Postgres {
            server: server.trim().trim_end_matches('/').to_owned(),
            names: DatabaseNames::Unique,
        },
        _ => Database::Sqlite,
    }
}

/// Drops a federation's PostgreSQL databases unless taken back out.
struct DropDatabases(Option<Federation>);

impl DropDatabases {
    fn take(mut self) -> Federation {
        self.0.take().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::Deref for DropDatabases {
    type Target = Federation;
    fn deref(&self) -> &Federation {
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for DropDatabases {
    fn drop(&mut self) {
        if let Some(files) = &self.0
            && let Err(e) = files.drop_databases()
        {
            eprintln!("{e:#}");
        }
    }
}

/// The plain-HTTP address a service serves `/metrics` on.
fn metrics_url(port: Option<u16>) -> String {
    format!("http://127.0.0.1:{}", port.unwrap_or_default())
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
        notifications: options.notifications,
        matching_mode: options.matching_mode,
        database: test_database(),
        locator_refresh_seconds: options.locator_refresh_seconds,
        metrics_port_offset: None,
        replica_hosts: BTreeMap::new(),
    };
    let files = Federation::generate(dir.path(), plan)?;
    // From here on the databases exist: dropped with the federation, or now on failure.
    let files = DropDatabases(Some(files));
    let children = seed::population(42, options.children);
    federation::load::load(&files, &children, &federation::load::Progress::Quiet)?;
    let mut broken = Vec::new();
    for (id, behaviour) in &options.misbehaving {
        broken.push(start_misbehaving_node(&files, id, *behaviour).await?);
    }

    let mut handles = BTreeMap::new();
    let mut node_urls = BTreeMap::new();
    let mut metrics_urls = BTreeMap::new();
    for node in &files.plan.nodes {
        let listener = listeners
            .remove(&node.id)
            .ok_or_else(|| anyhow::anyhow!("no listener for {}", node.id))?;
        let mut settings = files.node_settings(&node.id)?;
        if let Some((per_second, burst)) = options.node_rate_limit {
            settings.limits = service::limits::RateLimitSettings { per_second, burst };
        }
        let app = agency_node::Application::build_with_listener(settings, listener)?;
        metrics_urls.insert(node.id.clone(), metrics_url(app.metrics_port()));
        handles.insert(node.id.clone(), app.handle());
        node_urls.insert(node.id.clone(), files.plan.node_url(node));
        tokio::spawn(app.run_until_stopped());
    }
    let mut recordings = BTreeMap::new();
    let mut relays = Vec::new();
    for node in &options.recorded {
        let (recording, handle) = start_recording_relay(&files, node).await?;
        recordings.insert((*node).to_owned(), recording);
        relays.push(handle);
    }
    let mut gateway_settings = files.gateway_settings()?;
    if let Some((per_second, burst)) = options.route_rate_limit {
        gateway_settings.notifications.route_limits =
            service::limits::RateLimitSettings { per_second, burst };
    }
    if let Some(chunk) = options.cohort_chunk {
        gateway_settings.federation.cohort_chunk = chunk;
    }
    if let Some((per_second, burst)) = options.candidate_detail_limit {
        gateway_settings.candidate_detail_limits =
            service::limits::RateLimitSettings { per_second, burst };
    }
    let app = gateway::Application::build_with_listener(gateway_settings, gateway_listener)?;
    let gateway = app.handle();
    metrics_urls.insert("gateway".to_owned(), metrics_url(app.metrics_port()));
    tokio::spawn(app.run_until_stopped());
    for (id, url) in &broken {
        node_urls.insert(id.clone(), url.clone());
    }
    let files = files.take();
    Ok(TestFederation {
        gateway_url: files.plan.gateway_url(),
        files,
        children,
        node_urls,
        metrics_urls,
        nodes: handles,
        gateway,
        recordings,
        relays,
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

    /// A direct connection to a node's database (what an administrator with access to
    /// the database server could do).
    pub fn database(&self, node: &str) -> agency_node::db::DbConnection {
        let url = &self.files.database_urls[node];
        agency_node::db::establish(url).unwrap_or_else(|e| panic!("opening {url}: {e}"))
    }

    pub fn node_url(&self, node: &str) -> &str {
        self.node_urls
            .get(node)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Starts a stopped node again, on the same address and database.
    pub async fn restart_node(&mut self, node: &str) -> anyhow::Result<()> {
        self.restart_node_with(node, |_| {}).await
    }

    /// Starts a stopped node again, on the same address and database, with its
    /// configuration changed by `change`.
    pub async fn restart_node_with(
        &mut self,
        node: &str,
        change: impl FnOnce(&mut agency_node::Settings),
    ) -> anyhow::Result<()> {
        let mut settings = self.files.node_settings(node)?;
        change(&mut settings);
        let app = agency_node::Application::build(settings)?;
        self.metrics_urls
            .insert(node.to_owned(), metrics_url(app.metrics_port()));
        self.nodes.insert(node.to_owned(), app.handle());
        tokio::spawn(app.run_until_stopped());
        Ok(())
    }

    /// Stops the gateway as if its host went away.
    pub async fn stop_gateway(&self) {
        self.gateway.stop(false).await;
    }

    /// Starts the stopped gateway again on the same address.
    pub async fn restart_gateway(&mut self) -> anyhow::Result<()> {
        let app = gateway::Application::build(self.files.gateway_settings()?)?;
        self.metrics_urls
            .insert("gateway".to_owned(), metrics_url(app.metrics_port()));
        self.gateway = app.handle();
        tokio::spawn(app.run_until_stopped());
        Ok(())
    }

    /// The webhook secret the gateway signs deliveries to `node` with.
    pub fn webhook_secret(&self, node: &str) -> Option<trust::webhook::WebhookSecret> {
        let path = self.files.webhook_secrets.get(node)?;
        trust::webhook::WebhookSecret::load(path).ok()
    }

    /// Searches through the gateway (safeguarding, public task), checks it answered 200,
    /// and returns the answer.
    pub async fn search(&self, token: &str, query: &serde_json::Value) -> serde_json::Value {
        let response = self
            .anonymous_client()
            .post(format!(
                "{}/v1/children:search?purpose=safeguarding&legal_basis=public_task",
                self.gateway_url
            ))
            .bearer_auth(token)
            .json(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("search: {e}"));
        assert_eq!(response.status(), 200, "a search answers 200");
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("search answer: {e}"))
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

    /// Every request a recorded node received through its relay so far.
    pub fn recorded(&self, node: &str) -> Vec<RecordedRequest> {
        self.recordings
            .get(node)
            .map(|r| match r.lock() {
                Ok(guard) => guard.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            })
            .unwrap_or_default()
    }

    /// Everything a node's database holds, as bytes to search: the SQLite files (with
    /// their journals), or on PostgreSQL every row of every table as JSON text.
    pub fn database_bytes(&self, node: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        let url = &self.files.database_urls[node];
        if url.starts_with("postgres") {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                text: String,
            }
            let mut conn = self.database(node);
            let tables: Vec<Row> = diesel::sql_query(
                "SELECT table_name::text AS text FROM information_schema.tables \
                 WHERE table_schema = 'public'",
            )
            .load(&mut conn)
            .unwrap_or_default();
            for table in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS text FROM \"{}\" t",
                    table.text.replace('"', "")
                ))
                .load(&mut conn)
                .unwrap_or_default();
                for row in rows {
                    bytes.extend(row.text.into_bytes());
                    bytes.push(b'\n');
                }
            }
            return bytes;
        }
        if let Some((_, db)) = self.files.node_configs.get(node) {
            for suffix in ["", "-wal", "-journal"] {
                let mut path = db.clone().into_os_string();
                path.push(suffix);
                if let Ok(b) = std::fs::read(&path) {
                    bytes.extend(b);
                }
            }
        }
        bytes
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

    /// Starts one more replica of `node` on a fresh port, on the node's own database
    /// and configuration, after `adjust` has changed its settings. On SQLite the node's
    /// running process already holds the database, so this fails (one process per
    /// SQLite database); replicas need PostgreSQL.
    pub async fn spawn_node_replica(
        &self,
        node: &str,
        adjust: impl FnOnce(&mut agency_node::Settings),
    ) -> anyhow::Result<NodeReplica> {
        let listener = free_listener()?;
        let port = listener.local_addr()?.port();
        let mut settings = self.files.node_settings(node)?;
        adjust(&mut settings);
        let app = agency_node::Application::build_with_listener(settings, listener)?;
        let server = app.handle();
        let drain = app.drain();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(NodeReplica {
            url: format!("https://127.0.0.1:{port}"),
            drain,
            system: scenario::System {
                client: self.integration_client(node),
                base: format!("https://127.0.0.1:{port}"),
            },
            server,
            task,
        })
    }

    /// Lists `urls` as the further addresses (replicas) of `node` in the federation
    /// directory, and waits until every service has reread it.
    pub async fn set_replica_urls(&self, node: &str, urls: Vec<String>) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&self.files.directory_file)?;
        let mut directory: trust::directory::DirectoryFile = toml::from_str(&text)?;
        for member in &mut directory.members {
            if member.id.as_str() == node {
                member.replica_urls = urls.clone();
            }
        }
        std::fs::write(
            &self.files.directory_file,
            toml::to_string_pretty(&directory)?,
        )?;
        // Services look for changes every 2 s (`directory.reload_seconds`).
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        Ok(())
    }

    pub async fn shutdown(self) {
        for relay in &self.relays {
            relay.stop(false).await;
        }
        self.gateway.stop(false).await;
        for handle in self.nodes.values() {
            handle.stop(false).await;
        }
    }
}

impl Drop for TestFederation {
    fn drop(&mut self) {
        // The nodes' sessions are closed by the drop (WITH (FORCE)).
        if let Err(e) = self.files.drop_databases() {
            eprintln!("{e:#}");
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
        replica_urls: Vec::new(),
        cert_uris: vec![trust::identity::member_uri(id)],
        signing_key: None,
        front_door: None,
    });
    std::fs::write(&files.directory_file, toml::to_string_pretty(&directory)?)?;
    Ok((id.to_owned(), url))
}

/// Starts a recording relay for `node` and lists it in the directory in the node's place.
/// It terminates TLS with the node's own certificate (so the gateway's checks of the
/// node's identity pass), keeps each request's method, target and body, and forwards the
/// request to the node over mutual TLS with the gateway's certificate.
async fn start_recording_relay(
    files: &Federation,
    node: &str,
) -> anyhow::Result<(Recording, ServerHandle)> {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let listener = free_listener()?;
    let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
    let node_plan = files
        .plan
        .nodes
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(|| anyhow::anyhow!("no node '{node}'"))?;
    let target = files.plan.node_url(node_plan);
    let node_tls = files.node_settings(node)?.tls;
    let upstream = client(trust::tls::client_config(&files.gateway_tls).ok());
    let recording: Recording = Default::default();
    let kept = recording.clone();
    let server = HttpServer::new(move || {
        let upstream = upstream.clone();
        let target = target.clone();
        let kept = kept.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let upstream = upstream.clone();
            let target = target.clone();
            let kept = kept.clone();
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                if let Ok(mut k) = kept.lock() {
                    k.push(RecordedRequest {
                        method: req.method().to_string(),
                        target: path.clone(),
                        body: body.to_vec(),
                    });
                }
                let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
                    .unwrap_or(reqwest::Method::GET);
                let mut forward = upstream.request(method, format!("{target}{path}"));
                for (name, value) in req.headers() {
                    if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                        forward = forward.header(name.as_str(), value.as_bytes());
                    }
                }
                match forward.body(body.to_vec()).send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        let content_type = answer
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("application/json")
                            .to_owned();
                        let bytes = answer.bytes().await.unwrap_or_default();
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status)
                                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
                        )
                        .content_type(content_type)
                        .body(bytes.to_vec())
                    }
                    Err(_) => HttpResponse::BadGateway().finish(),
                }
            }
        }))
    })
    .workers(1)
    .listen_rustls_0_23(
        listener,
        trust::tls::server_config(&node_tls, trust::tls::ClientAuth::VerifyIfPresented)?,
    )?
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let text = std::fs::read_to_string(&files.directory_file)?;
    let mut directory: trust::directory::DirectoryFile = toml::from_str(&text)?;
    for member in &mut directory.members {
        if member.id.as_str() == node {
            member.base_url = Some(url.clone());
        }
    }
    std::fs::write(&files.directory_file, toml::to_string_pretty(&directory)?)?;
    Ok((recording, handle))
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
