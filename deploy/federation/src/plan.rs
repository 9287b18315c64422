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
}

impl Plan {
    /// The standard dev federation: two schools, children's social care, health, police
    /// and early help, nodes on consecutive ports after the gateway's.
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
        }
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
    /// Per node id: its config file and database path.
    pub node_configs: BTreeMap<String, (PathBuf, PathBuf)>,
    /// Per node id: the TLS files of its integration client (`<id>-system`).
    pub integration_tls: BTreeMap<String, TlsFiles>,
    /// Serial of every issued certificate, by member id.
    pub serials: BTreeMap<String, String>,
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn write_pair(dir: &Path, id: &str, cert: &IssuedCert, ca: &Path) -> anyhow::Result<TlsFiles> {
    let files = TlsFiles {
        cert: dir.join(format!("{id}.pem")),
        key: dir.join(format!("{id}.key")),
        ca: ca.to_owned(),
    };
    write(&files.cert, &cert.cert_pem)?;
    write(&files.key, &cert.key_pem)?;
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
            cert_uris: vec![trust::tls::member_uri("gateway")],
        });

        // One locator key for the federation: nodes key their filters with it, gateways
        // their lookups.
        let locator_key = root.join("locator.key");
        write(&locator_key, &trust::locator::LocatorKey::generate()?)?;
        let mut node_configs = BTreeMap::new();
        let mut integration_tls = BTreeMap::new();
        for node in &plan.nodes {
            let node_hosts = ["localhost", plan.node_host(node)];
            let cert = ca.issue(
                &node.id,
                &node_hosts,
                Usage::ServerAndClient,
                Validity::default(),
            )?;
            serials.insert(node.id.clone(), cert.serial.clone());
            let tls = write_pair(&pki, &node.id, &cert, &ca_file)?;
            members.push(Member {
                id: AgencyId::parse(&node.id)?,
                name: node.name.clone(),
                role: schemas::MemberRole::Node,
                kind: Some(node.kind),
                base_url: Some(plan.node_url(node)),
                acts_for: None,
                cert_uris: vec![trust::tls::member_uri(&node.id)],
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
                cert_uris: vec![trust::tls::member_uri(&system_id)],
            });

            let policy = root.join("policies").join(format!("{}.toml", node.id));
            write(&policy, default_policy(node.kind))?;
            let db = root.join("data").join(format!("{}.db", node.id));
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
                "[server]\nlisten = {}",
                q(&format!("{}:{}", plan.node_host(node), node.port))
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
            writeln!(
                text,
                "[database]\nurl = {}\n",
                q(&format!("sqlite://{}", db.display()))
            )?;
            writeln!(
                text,
                "[policy]\npath = {}",
                q(&policy.display().to_string())
            )?;
            writeln!(
                text,
                "\n[locator]\nkey_file = {}",
                q(&locator_key.display().to_string())
            )?;
            write_limits(&mut text, plan.rate_limit)?;
            write(&config, &text)?;
            node_configs.insert(node.id.clone(), (config, db));
        }

        let (issuer_private_pem, issuer_public_pem) = crate::pki::token_issuer_keys()?;
        write(&root.join("idp").join("issuer.key"), &issuer_private_pem)?;
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
        write(
            &reference_key,
            &gateway::reference::ReferenceSealer::generate_key()?,
        )?;
        let gateway_config = root.join("config").join("gateway.toml");
        let mut text = String::from("# The dev federation's gateway.\n");
        writeln!(
            text,
            "[server]\nlisten = {}",
            q(&format!("{}:{}", plan.host, plan.gateway_port))
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
            "[reference]\nkey_file = {}",
            q(&reference_key.display().to_string())
        )?;
        write_limits(&mut text, plan.rate_limit)?;
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
            integration_tls,
            serials,
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

    pub fn gateway_settings(&self) -> anyhow::Result<gateway::Settings> {
        Ok(gateway::Settings::load(Some(&self.gateway_config))?)
    }
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
    trust::tls::hex(&bytes)
}
