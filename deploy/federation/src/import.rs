//! `federation import`: an operator sends a DfE file (a CTF, a children in need census)
//! to a node's import operation as the agency's own system, over mutual TLS, and reads
//! what became of each child. Against the dev federation `--node ID` is enough; against
//! any other node, give its URL and the integration client's certificate.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trust::tls::TlsFiles;

/// Which file format, and so which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ctf,
    CinCensus,
}

impl Format {
    fn path(self) -> &'static str {
        match self {
            Format::Ctf => "/v1/imports/ctf",
            Format::CinCensus => "/v1/imports/cin-census",
        }
    }
}

/// Where the file goes and as whom.
pub struct Target {
    pub url: String,
    pub tls: TlsFiles,
}

impl Target {
    /// A node of the dev federation in `dir`, as its integration client, from the
    /// `session.env` that `federation up` wrote.
    pub fn dev(dir: &Path, node: &str) -> anyhow::Result<Self> {
        let session = dir.join("session.env");
        let text = std::fs::read_to_string(&session).with_context(|| {
            format!(
                "reading {}; run `federation up` first, or give --url, --cert, --key and --ca",
                session.display()
            )
        })?;
        let name = node.to_ascii_uppercase().replace('-', "_");
        let value = |key: String| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")))
                .map(str::to_owned)
                .with_context(|| format!("{} has no {key}: is '{node}' a node?", session.display()))
        };
        Ok(Self {
            url: value(format!("NODE_URL_{name}"))?,
            tls: TlsFiles {
                cert: value(format!("INTEGRATION_CERT_{name}"))?.into(),
                key: value(format!("INTEGRATION_KEY_{name}"))?.into(),
                ca: value("CA_CERT".into())?.into(),
            },
        })
    }
}

/// Sends `file` and prints the outcome: a line per child that failed or has elements
/// not mapped, and the counts. A file refused whole is an error with the node's problem.
pub async fn run(
    format: Format,
    file: &PathBuf,
    target: &Target,
    notify: bool,
) -> anyhow::Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(trust::tls::client_config(&target.tls)?)
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()?;
    let url = format!(
        "{}{}{}",
        target.url.trim_end_matches('/'),
        format.path(),
        if notify { "?notify=true" } else { "" }
    );
    let response = http
        .post(&url)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .with_context(|| format!("sending to {url}"))?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "the node refused the file ({status}): {}",
            serde_json::to_string_pretty(&answer)?
        );
    }
    let report: schemas::ImportReport =
        serde_json::from_value(answer).context("the answer is not an import report")?;
    println!(
        "{} {} from {}{}",
        report.format,
        report.version,
        report.source,
        report
            .qualifier
            .as_deref()
            .map(|q| format!(" ({q} file)"))
            .unwrap_or_default()
    );
    for child in &report.children {
        let who = child.key.as_deref().unwrap_or(child.element.as_str());
        for p in &child.problems {
            println!("  failed   {who}: {}: {}", p.element, p.message);
        }
        for n in &child.not_mapped {
            println!("  not kept {who}: {}: {}", n.element, n.message);
        }
    }
    println!(
        "{} imported, {} unchanged, {} failed{}",
        report.imported,
        report.unchanged,
        report.failed,
        if report.notified {
            "; events raised"
        } else {
            "; no events raised (--notify to raise them)"
        }
    );
    Ok(())
}
