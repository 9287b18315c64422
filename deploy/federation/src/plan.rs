//! Lays out a federation on disk: PKI, directory, token issuer, reference key, and a
//! configuration file per service. Used by `federation up` and by the tests, so both run
//! the same federation shape.

use crate::pki::{CertificateAuthority, IssuedCert, Usage, Validity};
use anyhow::Context;
use schemas::{AgencyId, AgencyKind, PractitionerRole};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use trust::directory::{DirectoryFile, IssuerFile, Member};
use trust::tls::TlsFiles;

pub const DEV_ISSUER: &str = "https://idp.federation.test";
pub const DEV_AUDIENCE: &str = "urn:child-view:federation";

#[derive(Debug, Clone)]
pub struct NodePlan {
    pub id: String,
    pub name: String,
    pub kind: AgencyKind,
    pub port: u16,
    /// The node's own host address when it runs on another host than the gateway
    /// (`None`: the plan's `host`). Its certificate names it.
    pub host: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub host: String,
    pub gateway_port: u16,
    pub nodes: Vec<NodePlan>,
    /// Worker threads per service (`None`: one per core).
    pub workers: Option<usize>,
    pub node_timeout_ms: u64,
    /// Per-member rate limit written to every service (`None`: the services' defaults).
    pub rate_limit: Option<(f64, u32)>,
    /// The gateway's circuit breakers: consecutive failures, cool-down in milliseconds.
    pub breaker: (u32, u64),
    /// Searches, views and access reports the gateway runs at once.
    pub max_concurrent_fanouts: usize,
    /// How the gateway asks nodes to find a child. The matching key is generated and
    /// given to every node either way, so nodes keep keyed encodings in both modes.
    pub matching_mode: matching::MatchingMode,
    /// Notification settings written to every node (`None`s: the nodes' defaults).
    pub notifications: NotificationKnobs,
    /// Where the nodes keep their data.
    pub database: Database,
    /// The gateway asks only nodes whose record-locator filter may hold the child,
    /// fetching the filters every this many seconds; `None`: it asks every node.
    pub locator_refresh_seconds: Option<u64>,
    /// Each service serves `/metrics` on loopback this many ports above its own
    /// (`federation up`: 1000, so the gateway's 8443 has 9443); `None`: on any free port
    /// (tests and benches, which run several federations and replicas at once).
    pub metrics_port_offset: Option<u16>,
    /// Further hosts a node runs replicas on (node id → host addresses), on the node's
    /// port: its certificate names them and the directory lists them as `replica_urls`.
    pub replica_hosts: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationKnobs {
    /// Retry backoff: first delay, longest delay, in milliseconds.
    pub backoff_ms: Option<(u64, u64)>,
    /// Attempts before a dead letter.
    pub max_attempts: Option<i32>,
    /// How near a deadline counts as at risk.
    pub at_risk_minutes: Option<i64>,
}

/// Where the nodes of a laid-out federation keep their data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file per node under the federation folder.
    #[default]
    Sqlite,
    /// A database per node on this PostgreSQL server (`postgres://USER@HOST:PORT`),
    /// created when missing. `Named`: `federation_<node>` (the dev federation, the same
    /// databases every run, emptied first); `Unique`: a fresh name per node per run
    /// (tests, which drop them at the end).
    Postgres {
        server: String,
        names: DatabaseNames,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseNames {
    Named,
    Unique,
}

impl Database {
    /// The database URL of one node; `data` is the federation's data folder.
    fn node_url(&self, node: &str, data: &Path) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}", data.join(format!("{node}.db")).display()),
            Self::Postgres {
                server,
                names: DatabaseNames::Named,
            } => format!(
                "{}/federation_{}",
                server.trim_end_matches('/'),
                node.replace('-', "_")
            ),
            Self::Postgres {
                server,
                names: DatabaseNames::Unique,
            } => agency_node::db::unique_database_url(server, &format!("fedtest_{node}")),
        }
    }
}

impl Plan {
    /// The standard dev federation: two schools, children's social care, health, police,
    /// early help and the virtual school of one local authority (999), and a second
    /// authority's social care and a school in its area (998), nodes on consecutive ports
    /// after the gateway's.
    pub fn dev(gateway_port: u16, first_node_port: u16) -> Self {
        let nodes = [
            ("school-a", "Northfield Primary School", AgencyKind::School),
            ("school-b", "Riverside Academy", AgencyKind::School),
            (
                "social-care",
                "County Children's Social Care",
                AgencyKind::SocialCare,
            ),
            ("health", "Community Health NHS Trust", AgencyKind::Health),
            ("police", "County Constabulary", AgencyKind::Police),
            (
                "early-help",
                "Family Early Help Service",
                AgencyKind::EarlyHelp,
            ),
            (
                "virtual-school",
                "County Virtual School",
                AgencyKind::VirtualSchool,
            ),
            // A second local authority (998), so that a concern about a child living
            // there, and "passed to another authority", have somewhere to go.
            (
                "social-care-b",
                "Southvale Children's Social Care",
                AgencyKind::SocialCare,
            ),
            ("school-c", "Southvale Primary School", AgencyKind::School),
        ];
        Self {
            host: "127.0.0.1".into(),
            gateway_port,
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, (id, name, kind))| NodePlan {
                    id: (*id).into(),
                    name: (*name).into(),
                    kind: *kind,
                    port: first_node_port + i as u16,
                    host: None,
                })
                .collect(),
            workers: None,
            node_timeout_ms: 2000,
            rate_limit: None,
            breaker: (5, 10_000),
            max_concurrent_fanouts: 512,
            notifications: NotificationKnobs::default(),
            matching_mode: matching::MatchingMode::Plain,
            database: Database::Sqlite,
            locator_refresh_seconds: None,
            metrics_port_offset: None,
            replica_hosts: BTreeMap::new(),
        }
    }

    /// The URLs of a node's replicas on other hosts ([`Self::replica_hosts`]).
    pub fn replica_urls(&self, node: &NodePlan) -> Vec<String> {
        self.replica_hosts
            .get(&node.id)
            .into_iter()
            .flatten()
            .map(|host| format!("https://{host}:{}", node.port))
            .collect()
    }

    pub fn node_host<'a>(&'a self, node: &'a NodePlan) -> &'a str {
        node.host.as_deref().unwrap_or(&self.host)
    }

    pub fn node_url(&self, node: &NodePlan) -> String {
        format!("https://{}:{}", self.node_host(node), node.port)
    }

    pub fn gateway_url(&self) -> String {
        format!("https://{}:{}", self.host, self.gateway_port)
    }
}

/// The files of one laid-out federation.
pub struct Federation {
    pub root: PathBuf,
    pub plan: Plan,
    pub ca: CertificateAuthority,
    pub ca_file: PathBuf,
    pub directory_file: PathBuf,
    pub issuer_private_pem: String,
    pub gateway_config: PathBuf,
    pub gateway_tls: TlsFiles,
    /// Per node id: its config file and SQLite database path (unused on PostgreSQL).
    pub node_configs: BTreeMap<String, (PathBuf, PathBuf)>,
    /// Per node id: its database URL (`sqlite://…` or `postgres://…`).
    pub database_urls: BTreeMap<String, String>,
    /// Per node id: the TLS files of its integration client (`<id>-system`).
    pub integration_tls: BTreeMap<String, TlsFiles>,
    /// Serial of every issued certificate, by member id.
    pub serials: BTreeMap<String, String>,
    /// Per node id: its webhook secret file (the gateway holds a copy of each).
    pub webhook_secrets: BTreeMap<String, PathBuf>,
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Writes a private key, secret or token file readable by its owner only (0600), from
/// the moment it exists: created with that mode, and narrowed if it was already there.
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let context = || format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(context)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(context)?;
    file.write_all(contents.as_bytes()).with_context(context)
}

/// Where a service on `port` serves `/metrics`: loopback, `offset` ports up; any free
/// port without an offset, or when `port` is 0 or too high to shift.
pub fn metrics_address(port: u16, offset: Option<u16>) -> String {
    let metrics_port = match (port, offset) {
        (0, _) | (_, None) => 0,
        (p, Some(offset)) => p.checked_add(offset).unwrap_or(0),
    };
    format!("127.0.0.1:{metrics_port}")
}

/// Creates (or narrows) a directory only its owner may enter (0700).
fn private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("narrowing {}", path.display()))
}

fn write_pair(dir: &Path, id: &str, cert: &IssuedCert, ca: &Path) -> anyhow::Result<TlsFiles> {
    let files = TlsFiles {
        cert: dir.join(format!("{id}.pem")),
        key: dir.join(format!("{id}.key")),
        ca: ca.to_owned(),
    };
    write(&files.cert, &cert.cert_pem)?;
    write_secret(&files.key, &cert.key_pem)?;
    Ok(files)
}

/// TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn tls_section(files: &TlsFiles) -> String {
    format!(
        "[tls]\ncert = {}\nkey = {}\nca = {}\n",
        q(&files.cert.display().to_string()),
        q(&files.key.display().to_string()),
        q(&files.ca.display().to_string())
    )
}

impl Federation {
    /// Writes a fresh federation under `root` (created if missing; files replaced).
    pub fn generate(root: &Path, plan: Plan) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let pki = root.join("pki");
        // The nodes' SQLite files hold the children's records: the owner's only.
        private_dir(&root.join("data"))?;
        let ca = CertificateAuthority::generate("Child view federation dev CA")?;
        let ca_file = pki.join("ca.pem");
        write(&ca_file, &ca.cert_pem)?;
        let hosts = ["localhost", plan.host.as_str()];
        let mut serials = BTreeMap::new();
        let mut members = Vec::new();

        let gateway_cert = ca.issue(
            "gateway",
            &hosts,
            Usage::ServerAndClient,
            Validity::default(),
        )?;
        serials.insert("gateway".to_owned(), gateway_cert.serial.clone());
        let gateway_tls = write_pair(&pki, "gateway", &gateway_cert, &ca_file)?;
        members.push(Member {
            id: AgencyId::parse("gateway")?,
            name: "Federation gateway".into(),
            role: schemas::MemberRole::Gateway,
            kind: None,
            base_url: None,
            acts_for: None,
            replica_urls: Vec::new(),
            cert_uris: vec![trust::identity::member_uri("gateway")],
            signing_key: None,
            front_door: None,
        });

        // The federation's matching key: held by the gateway and every node (they encode
        // their own children with it), never by practitioners' clients.
        let matching_key = pki.join("matching.key");
        write_secret(&matching_key, &matching::MatchingKey::generate()?)?;
        let matching_section = format!(
            "[matching]\nmode = {}\nkey_file = {}\n",
            q(match plan.matching_mode {
                matching::MatchingMode::Plain => "plain",
                matching::MatchingMode::Keyed => "keyed",
            }),
            q(&matching_key.display().to_string())
        );
        // One locator key for the federation: nodes key their filters with it, gateways
        // their lookups.
        let locator_key = root.join("locator.key");
        write_secret(&locator_key, &locator::LocatorKey::generate()?)?;
        let mut node_configs = BTreeMap::new();
        let mut database_urls = BTreeMap::new();
        let mut integration_tls = BTreeMap::new();
        let mut webhook_secrets = BTreeMap::new();
        let gateway_secrets = root.join("gateway").join("webhook-secrets");
        for node in &plan.nodes {
            let mut node_hosts = vec!["localhost", plan.node_host(node)];
            node_hosts.extend(
                plan.replica_hosts
                    .get(&node.id)
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            );
            let cert = ca.issue(
                &node.id,
                &node_hosts,
                Usage::ServerAndClient,
                Validity::default(),
            )?;
            serials.insert(node.id.clone(), cert.serial.clone());
            let tls = write_pair(&pki, &node.id, &cert, &ca_file)?;
            // The node's signing key (relationship assertions): private on file for the
            // node, public in the directory for every member to check against.
            let signing_pem = trust::signature::SigningKey::generate_pem()?;
            let signing_public =
                trust::signature::SigningKey::from_pem(&signing_pem)?.public_key_base64();
            let signing_key = root
                .join("secrets")
                .join(format!("{}.signing-key", node.id));
            write(&signing_key, &signing_pem)?;
            members.push(Member {
                id: AgencyId::parse(&node.id)?,
                name: node.name.clone(),
                role: schemas::MemberRole::Node,
                kind: Some(node.kind),
                base_url: Some(plan.node_url(node)),
                acts_for: None,
                replica_urls: plan.replica_urls(node),
                cert_uris: vec![trust::identity::member_uri(&node.id)],
                signing_key: Some(signing_public),
                front_door: DEV_FRONT_DOORS
                    .iter()
                    .find(|(id, _, _, _)| *id == node.id)
                    .map(
                        |(_, _, phone, districts)| trust::directory::FrontDoorEntry {
                            phone: (*phone).to_owned(),
                            districts: districts.iter().map(|d| (*d).to_owned()).collect(),
                        },
                    ),
            });
            let system_id = format!("{}-system", node.id);
            let system_cert = ca.issue(&system_id, &[], Usage::Client, Validity::default())?;
            serials.insert(system_id.clone(), system_cert.serial.clone());
            integration_tls.insert(
                node.id.clone(),
                write_pair(&pki, &system_id, &system_cert, &ca_file)?,
            );
            members.push(Member {
                id: AgencyId::parse(&system_id)?,
                name: match node.kind {
                    AgencyKind::School => format!("{} MIS", node.name),
                    _ => format!("{} case management system", node.name),
                },
                role: schemas::MemberRole::Integration,
                kind: Some(node.kind),
                base_url: None,
                acts_for: Some(AgencyId::parse(&node.id)?),
                replica_urls: Vec::new(),
                cert_uris: vec![trust::identity::member_uri(&system_id)],
                signing_key: None,
                front_door: None,
            });

            let policy = root.join("policies").join(format!("{}.toml", node.id));
            write(&policy, default_policy(node.kind))?;
            let db = root.join("data").join(format!("{}.db", node.id));
            let database_url = plan.database.node_url(&node.id, &root.join("data"));
            if let Database::Postgres { names, .. } = &plan.database {
                if *names == DatabaseNames::Named {
                    // A fresh dev federation, like the SQLite files of a replaced folder.
                    agency_node::db::drop_database(&database_url)
                        .with_context(|| format!("emptying {database_url}"))?;
                }
                agency_node::db::create_database_if_missing(&database_url)
                    .with_context(|| format!("creating {database_url}"))?;
            }
            let config = root.join("config").join(format!("{}.toml", node.id));
            let mut text = String::new();
            writeln!(text, "# Agency node '{}' of the dev federation.", node.id)?;
            writeln!(
                text,
                "[agency]\nid = {}\nkind = {}\n",
                q(&node.id),
                q(node.kind.as_str())
            )?;
            writeln!(
                text,
                "[server]\nlisten = {}\nmetrics = {{ listen = {} }}",
                q(&format!("{}:{}", plan.node_host(node), node.port)),
                q(&metrics_address(node.port, plan.metrics_port_offset))
            )?;
            if let Some(w) = plan.workers {
                writeln!(text, "workers = {w}")?;
            }
            writeln!(text)?;
            writeln!(text, "{}", tls_section(&tls))?;
            writeln!(
                text,
                "[directory]\npath = {}\n",
                q(&root.join("directory.toml").display().to_string())
            )?;
            writeln!(text, "[database]\nurl = {}\n", q(&database_url))?;
            writeln!(
                text,
                "[policy]\npath = {}\n",
                q(&policy.display().to_string())
            )?;
            writeln!(
                text,
                "[signing]\nkey_file = {}\n",
                q(&signing_key.display().to_string())
            )?;
            let secret = trust::webhook::WebhookSecret::generate();
            let secret_file = root
                .join("secrets")
                .join(format!("{}.webhook-secret", node.id));
            write_secret(&secret_file, &secret)?;
            write_secret(
                &gateway_secrets.join(format!("{}.secret", node.id)),
                &secret,
            )?;
            // The node's own candidate-token key: on file, so a node restarted by hand
            // still opens the candidate tokens it issued before.
            let candidate_key = root
                .join("secrets")
                .join(format!("{}.candidate-key", node.id));
            write_secret(
                &candidate_key,
                &agency_node::confirm::CandidateSealer::generate_key()?,
            )?;
            writeln!(
                text,
                "[confirmation]\nkey_file = {}\n",
                q(&candidate_key.display().to_string())
            )?;
            write_notifications(&mut text, &plan, &secret_file)?;
            write_imports(&mut text, &node.id, node.kind)?;
            if node.kind == AgencyKind::School {
                write_school_calendar(&mut text, &node.id)?;
            }
            if node.kind == AgencyKind::SocialCare {
                write_front_door(&mut text)?;
            }
            writeln!(text, "{matching_section}")?;
            writeln!(
                text,
                "\n[locator]\nkey_file = {}",
                q(&locator_key.display().to_string())
            )?;
            write_limits(&mut text, plan.rate_limit)?;
            write(&config, &text)?;
            node_configs.insert(node.id.clone(), (config, db));
            webhook_secrets.insert(node.id.clone(), secret_file);
            database_urls.insert(node.id.clone(), database_url);
        }

        let (issuer_private_pem, issuer_public_pem) = crate::pki::token_issuer_keys()?;
        write_secret(&root.join("idp").join("issuer.key"), &issuer_private_pem)?;
        let directory = DirectoryFile {
            federation: "Child view dev federation".into(),
            audience: DEV_AUDIENCE.into(),
            revoked_serials: Vec::new(),
            members,
            issuers: vec![IssuerFile {
                issuer: DEV_ISSUER.into(),
                algorithm: "EdDSA".into(),
                public_key_pem: issuer_public_pem,
                agencies: Vec::new(),
                max_lifetime_seconds: None,
            }],
        };
        let directory_file = root.join("directory.toml");
        write(
            &directory_file,
            &format!(
                "# Federation directory: who is a member, in which role, with which certificate.\n{}",
                toml::to_string_pretty(&directory)?
            ),
        )?;

        let reference_key = root.join("gateway").join("reference.key");
        write_secret(
            &reference_key,
            &gateway::reference::ReferenceSealer::generate_key()?,
        )?;
        let gateway_config = root.join("config").join("gateway.toml");
        let mut text = String::from("# The dev federation's gateway.\n");
        writeln!(
            text,
            "[server]\nlisten = {}\nmetrics = {{ listen = {} }}",
            q(&format!("{}:{}", plan.host, plan.gateway_port)),
            q(&metrics_address(
                plan.gateway_port,
                plan.metrics_port_offset
            ))
        )?;
        if let Some(w) = plan.workers {
            writeln!(text, "workers = {w}")?;
        }
        writeln!(text)?;
        writeln!(text, "{}", tls_section(&gateway_tls))?;
        writeln!(
            text,
            "[directory]\npath = {}\n",
            q(&directory_file.display().to_string())
        )?;
        writeln!(
            text,
            "[federation]\nnode_timeout_ms = {}\nbreaker_failures = {}\nbreaker_cool_down_ms = {}\nmax_concurrent_fanouts = {}\n",
            plan.node_timeout_ms, plan.breaker.0, plan.breaker.1, plan.max_concurrent_fanouts
        )?;
        writeln!(
            text,
            "[reference]\nkey_file = {}\n",
            q(&reference_key.display().to_string())
        )?;
        writeln!(
            text,
            "\n[notifications]\nsecrets_dir = {}",
            q(&gateway_secrets.display().to_string())
        )?;
        writeln!(text, "{matching_section}")?;
        if let Some(every) = plan.locator_refresh_seconds {
            writeln!(
                text,
                "[locator]\nkey_file = {}\nrefresh_seconds = {every}\n",
                q(&locator_key.display().to_string())
            )?;
        }
        write_limits(&mut text, plan.rate_limit)?;
        // The same quota per practitioner, and for the answers listing candidates'
        // disagreeing fields: a plan's limit is for whoever calls.
        if let Some((per_second, burst)) = plan.rate_limit {
            write!(
                text,
                "\n[practitioner_limits]\nper_second = {per_second:?}\nburst = {burst}\n"
            )?;
            write!(
                text,
                "\n[candidate_detail_limits]\nper_second = {per_second:?}\nburst = {burst}\n"
            )?;
        }
        write(&gateway_config, &text)?;

        Ok(Self {
            root,
            plan,
            ca,
            ca_file,
            directory_file,
            issuer_private_pem,
            gateway_config,
            gateway_tls,
            node_configs,
            database_urls,
            integration_tls,
            serials,
            webhook_secrets,
        })
    }

    /// Signs a practitioner token with the dev issuer.
    pub fn token(
        &self,
        role: PractitionerRole,
        agency: &str,
        subject: &str,
        ttl_seconds: i64,
    ) -> anyhow::Result<String> {
        dev_token(&self.issuer_private_pem, role, agency, subject, ttl_seconds)
    }

    pub fn node_settings(&self, id: &str) -> anyhow::Result<agency_node::Settings> {
        let (config, _) = self
            .node_configs
            .get(id)
            .with_context(|| format!("no node '{id}'"))?;
        Ok(agency_node::Settings::load(Some(config))?)
    }

    /// Drops the nodes' PostgreSQL databases (nothing to do on SQLite: the files go
    /// with the folder).
    pub fn drop_databases(&self) -> anyhow::Result<()> {
        for url in self.database_urls.values() {
            agency_node::db::drop_database(url).with_context(|| format!("dropping {url}"))?;
        }
        Ok(())
    }

    pub fn gateway_settings(&self) -> anyhow::Result<gateway::Settings> {
        Ok(gateway::Settings::load(Some(&self.gateway_config))?)
    }
}

fn write_notifications(text: &mut String, plan: &Plan, secret: &Path) -> std::fmt::Result {
    writeln!(
        text,
        "\n[notifications]\ngateway_url = {}\nwebhook_secret_file = {}",
        q(&plan.gateway_url()),
        q(&secret.display().to_string())
    )?;
    let knobs = plan.notifications;
    if let Some((base, max)) = knobs.backoff_ms {
        writeln!(text, "backoff_base_ms = {base}\nbackoff_max_ms = {max}")?;
    }
    if let Some(attempts) = knobs.max_attempts {
        writeln!(text, "max_attempts = {attempts}")?;
    }
    if let Some(minutes) = knobs.at_risk_minutes {
        writeln!(text, "at_risk_minutes = {minutes}")?;
    }
    Ok(())
}

/// The dev federation's synthetic local authority (`999`, a number no real authority
/// has) and its schools' establishment numbers and URNs, as DfE files name them. The
/// seeded enrolments use the same URNs.
pub const DEV_LA: &str = "999";
pub const DEV_SCHOOLS: [(&str, &str, &str); 2] = [
    ("school-a", "1101", "999101"),
    ("school-b", "1102", "999102"),
];

/// The second dev authority (a number no real authority has either) and its school.
pub const DEV_LA_B: &str = "998";
pub const DEV_SCHOOL_C: (&str, &str, &str) = ("school-c", "1201", "998201");

/// The dev authorities' children's social care front doors: node, authority, phone (an
/// Ofcom drama number) and the synthetic postcode districts each serves (the seeded
/// children live in ZZ1 to ZZ9).
pub const DEV_FRONT_DOORS: [(&str, &str, &str, &[&str]); 2] = [
    (
        "social-care",
        DEV_LA,
        "01632 960100",
        &["ZZ1", "ZZ2", "ZZ3", "ZZ4", "ZZ5", "ZZ6"],
    ),
    (
        "social-care-b",
        DEV_LA_B,
        "01632 960200",
        &["ZZ7", "ZZ8", "ZZ9"],
    ),
];

/// `[front_door]`: a social care node's working days for concern deadlines: to 17:00
/// London time, and England's bank holidays around today.
fn write_front_door(text: &mut String) -> std::fmt::Result {
    use chrono::Datelike;
    let this_year = chrono::Utc::now().year();
    writeln!(
        text,
        "\n[front_door]\nday_ends = \"17:00\"\ntimezone = \"Europe/London\""
    )?;
    writeln!(text, "bank_holidays = [")?;
    for year in this_year - 1..=this_year + 1 {
        for day in england_bank_holidays(year) {
            writeln!(text, "  \"{day}\",")?;
        }
    }
    writeln!(text, "]")
}

/// England and Wales's bank holidays in a year, by their rules (New Year, Easter,
/// the May, spring and summer Mondays, Christmas and Boxing Day, each moved off a
/// weekend). Enough for the dev federation; a real authority lists its own.
pub fn england_bank_holidays(year: i32) -> Vec<chrono::NaiveDate> {
    use chrono::{Datelike, NaiveDate, Weekday};
    let date = |m, d| NaiveDate::from_ymd_opt(year, m, d).unwrap_or_default();
    let first_monday = |m| {
        (1..=7)
            .map(|d| date(m, d))
            .find(|d| d.weekday() == Weekday::Mon)
            .unwrap_or_default()
    };
    let last_monday = |m: u32, days: u32| {
        (1..=days)
            .rev()
            .map(|d| date(m, d))
            .find(|d| d.weekday() == Weekday::Mon)
            .unwrap_or_default()
    };
    // Easter Sunday (anonymous Gregorian algorithm).
    let (a, b, c) = (year % 19, year / 100, year % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = ((h + l - 7 * m + 114) / 31) as u32;
    let day = ((h + l - 7 * m + 114) % 31 + 1) as u32;
    let easter = date(month, day);
    let mut days = Vec::new();
    let new_year = date(1, 1);
    days.push(match new_year.weekday() {
        Weekday::Sat => date(1, 3),
        Weekday::Sun => date(1, 2),
        _ => new_year,
    });
    days.push(easter - chrono::Duration::days(2));
    days.push(easter + chrono::Duration::days(1));
    days.push(first_monday(5));
    days.push(last_monday(5, 31));
    days.push(last_monday(8, 31));
    let (christmas, boxing) = match date(12, 25).weekday() {
        Weekday::Fri => (date(12, 25), date(12, 28)),
        Weekday::Sat => (date(12, 27), date(12, 28)),
        Weekday::Sun => (date(12, 27), date(12, 26)),
        _ => (date(12, 25), date(12, 26)),
    };
    days.push(christmas);
    days.push(boxing);
    days.sort();
    days
}

/// `[imports]`: each school takes the CTFs addressed to it, social care its authority's
/// census.
fn write_imports(text: &mut String, node: &str, kind: AgencyKind) -> std::fmt::Result {
    match kind {
        AgencyKind::School => {
            let (la, (_, estab, urn)) = match DEV_SCHOOLS.iter().find(|(id, _, _)| *id == node) {
                Some(school) => (DEV_LA, school),
                None if node == DEV_SCHOOL_C.0 => (DEV_LA_B, &DEV_SCHOOL_C),
                None => return Ok(()),
            };
            writeln!(
                text,
                "\n[imports]\nla = {}\nestab = {}\nurn = {}",
                q(la),
                q(estab),
                q(urn)
            )
        }
        AgencyKind::SocialCare => {
            let la = DEV_FRONT_DOORS
                .iter()
                .find(|(id, _, _, _)| *id == node)
                .map_or(DEV_LA, |(_, la, _, _)| la);
            writeln!(text, "\n[imports]\nla = {}", q(la))
        }
        _ => Ok(()),
    }
}

/// A synthetic but typical English school calendar: six half-terms a year, for the
/// academic years around today, so "next school day" is computed from real-looking
/// term dates whenever the dev federation runs.
fn write_school_calendar(text: &mut String, node: &str) -> std::fmt::Result {
    use chrono::Datelike;
    const HALF_TERMS: [((u32, u32), (u32, u32)); 6] = [
        ((1, 5), (2, 12)),
        ((2, 22), (3, 26)),
        ((4, 12), (5, 28)),
        ((6, 7), (7, 21)),
        ((9, 3), (10, 23)),
        ((11, 2), (12, 18)),
    ];
    let this_year = chrono::Utc::now().year();
    let starts = if node.ends_with('a') {
        "08:40"
    } else {
        "08:50"
    };
    writeln!(
        text,
        "\n[school]\nday_starts = {}\ntimezone = \"Europe/London\"",
        q(starts)
    )?;
    writeln!(text, "terms = [")?;
    for year in this_year - 1..=this_year + 1 {
        for ((fm, fd), (lm, ld)) in HALF_TERMS {
            writeln!(
                text,
                "  {{ first_day = \"{year}-{fm:02}-{fd:02}\", last_day = \"{year}-{lm:02}-{ld:02}\" }},"
            )?;
        }
    }
    writeln!(text, "]")
}

fn write_limits(text: &mut String, limit: Option<(f64, u32)>) -> std::fmt::Result {
    match limit {
        Some((per_second, burst)) => {
            write!(
                text,
                "\n[limits]\nper_second = {per_second:?}\nburst = {burst}\n"
            )
        }
        None => Ok(()),
    }
}

/// The ship-with sharing policy for an agency kind (`deploy/policies/`).
pub fn default_policy(kind: AgencyKind) -> &'static str {
    match kind {
        AgencyKind::School => include_str!("../../policies/school.toml"),
        AgencyKind::SocialCare => include_str!("../../policies/social_care.toml"),
        AgencyKind::Health => include_str!("../../policies/health.toml"),
        AgencyKind::Police => include_str!("../../policies/police.toml"),
        AgencyKind::EarlyHelp => include_str!("../../policies/early_help.toml"),
        AgencyKind::VirtualSchool => include_str!("../../policies/virtual_school.toml"),
    }
}

/// Signs a practitioner token as the dev federation's issuer.
pub fn dev_token(
    issuer_private_pem: &str,
    role: PractitionerRole,
    agency: &str,
    subject: &str,
    ttl_seconds: i64,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = trust::PractitionerClaims {
        iss: DEV_ISSUER.into(),
        sub: subject.into(),
        aud: DEV_AUDIENCE.into(),
        exp: now + ttl_seconds,
        iat: now,
        jti: uuid_like(),
        agency: agency.into(),
        role,
        name: None,
    };
    trust::token::mint(&claims, issuer_private_pem).map_err(anyhow::Error::msg)
}

/// A random token id.
pub fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    trust::identity::hex(&bytes)
}
