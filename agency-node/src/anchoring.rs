//! Audit anchoring: the hash chain shows an entry edited, removed or moved, but not a log
//! rewritten whole with every hash recomputed. So the node signs its log's head at
//! intervals and on demand (a checkpoint: entry count, last hash, time) with its node
//! key, and every other node keeps it, as Certificate Transparency's signed tree heads are
//! witnessed. Checkpoints travel through the gateway, which keeps nothing and cannot
//! forge one. Verifying the log asks the witnesses for what they keep and compares each
//! checkpoint (its signature checked here) with the entry it names.

use crate::db::{self, DbConnection, DbError};
use crate::startup::AppState;
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemas::AgencyId;
use schemas::disclosure::{
    AuditCheckpoint, AuditVerification, CheckpointReceipt, WitnessCheck, Witnessed,
    WitnessedCheckpoints,
};
use serde::Deserialize;
use std::time::Duration;
use trust::signature::SigningKey;

/// The `[audit]` section of a node's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// How often the node has its log's head witnessed, in seconds, when the log has grown
    /// since the last checkpoint; 0: only on demand (`POST /v1/audit/checkpoints`).
    #[serde(default = "default_checkpoint_seconds")]
    pub checkpoint_seconds: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_seconds: default_checkpoint_seconds(),
        }
    }
}

fn default_checkpoint_seconds() -> u64 {
    15 * 60
}

/// How the node reaches the witnesses: the gateway, with its own certificate.
pub struct Witnesses {
    http: reqwest::Client,
    gateway_url: String,
}

const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

impl Witnesses {
    /// `None` without a gateway to go through.
    pub fn new(
        tls: &trust::tls::TlsFiles,
        gateway_url: Option<&str>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(url) = gateway_url else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trust::tls::client_config(tls)?)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(GATEWAY_TIMEOUT)
            .build()?;
        Ok(Some(Self {
            http,
            gateway_url: url.trim_end_matches('/').to_owned(),
        }))
    }

    async fn send(&self, checkpoint: &AuditCheckpoint) -> Result<CheckpointReceipt, String> {
        let response = self
            .http
            .post(format!("{}/v1/audit/checkpoints", self.gateway_url))
            .json(checkpoint)
            .send()
            .await
            .map_err(|e| format!("the gateway could not be reached: {e}"))?;
        read(response).await
    }

    async fn collect(&self, node: &AgencyId) -> Result<WitnessedCheckpoints, String> {
        let response = self
            .http
            .get(format!("{}/v1/audit/checkpoints/{node}", self.gateway_url))
            .send()
            .await
            .map_err(|e| format!("the gateway could not be reached: {e}"))?;
        read(response).await
    }
}

async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, String> {
    let status = response.status();
    if !status.is_success() {
        let problem: Option<schemas::Problem> = response.json().await.ok();
        return Err(format!(
            "the gateway answered {status}: {}",
            problem
                .map(|p| p.detail.unwrap_or(p.title))
                .unwrap_or_default()
        ));
    }
    response
        .json()
        .await
        .map_err(|e| format!("the gateway's answer is not valid: {e}"))
}

/// This node's checkpoint of its log as it stands, signed.
pub fn checkpoint(
    conn: &mut DbConnection,
    node: &AgencyId,
    key: &SigningKey,
) -> Result<AuditCheckpoint, DbError> {
    let (seq, hash) = db::audit::head(conn)?.unwrap_or((0, crate::audit::GENESIS.to_owned()));
    let at = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0)
        .unwrap_or_else(chrono::Utc::now);
    let signature = STANDARD.encode(key.sign(&AuditCheckpoint::signed_bytes(node, seq, &hash, at)));
    Ok(AuditCheckpoint {
        node: node.clone(),
        seq,
        hash,
        at,
        signature,
    })
}

/// Why the node cannot anchor its log, when it cannot.
fn unanchored(state: &AppState) -> Option<&'static str> {
    match (&state.signing, &state.witnesses) {
        (None, _) => Some("this node has no [signing] key to sign checkpoints with"),
        (_, None) => {
            Some("this node has no gateway (notifications.gateway_url) to reach witnesses through")
        }
        _ => None,
    }
}

/// Signs the log's head now and has the other nodes keep it.
pub async fn anchor_now(state: &web::Data<AppState>) -> Result<CheckpointReceipt, AnchorError> {
    if let Some(why) = unanchored(state) {
        return Err(AnchorError::NotConfigured(why));
    }
    let s = state.clone();
    let checkpoint = web::block(move || {
        let mut conn = s.pool.get()?;
        let (key, _) = s
            .signing
            .as_ref()
            .ok_or(DbError::Corrupt("no key".into()))?;
        checkpoint(&mut conn, &s.agency_id, key)
    })
    .await
    .map_err(|_| AnchorError::Failed("the checkpoint could not be made".into()))?
    .map_err(|e| AnchorError::Failed(e.to_string()))?;
    let witnesses = state
        .witnesses
        .as_ref()
        .ok_or(AnchorError::NotConfigured("no gateway"))?;
    witnesses
        .send(&checkpoint)
        .await
        .map_err(AnchorError::Failed)
}

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("{0}")]
    NotConfigured(&'static str),
    #[error("{0}")]
    Failed(String),
}

/// Verifies the log, streamed, and against what the witnesses keep of it when they can
/// be asked; a checkpoint whose signature does not verify is left out and said so.
pub async fn verify(
    state: &web::Data<AppState>,
) -> Result<AuditVerification, crate::error::ApiError> {
    let mut check = WitnessCheck::default();
    let mut valid: Vec<Witnessed> = Vec::new();
    match (unanchored(state), &state.witnesses) {
        (None, Some(witnesses)) => match witnesses.collect(&state.agency_id).await {
            Ok(found) => {
                check.asked = true;
                let directory = state.directory.get();
                let mut refused = Vec::new();
                for w in found.witnessed {
                    let signature = STANDARD.decode(&w.checkpoint.signature).unwrap_or_default();
                    let signed = w.checkpoint.node == state.agency_id
                        && trust::signature::verify(
                            &directory,
                            &state.agency_id,
                            &w.checkpoint.bytes(),
                            &signature,
                        )
                        .is_ok();
                    if signed {
                        check.witnesses.push(w.witness.clone());
                        valid.push(w);
                    } else {
                        refused.push(w.witness.to_string());
                    }
                }
                if !refused.is_empty() {
                    check.note = Some(format!(
                        "left out checkpoints not signed by this node's key, from {}",
                        refused.join(", ")
                    ));
                }
            }
            Err(why) => check.note = Some(why),
        },
        (Some(why), _) => check.note = Some(why.to_owned()),
        (None, None) => {}
    }
    check.checked = valid.len();
    check.latest_seq = valid.iter().map(|w| w.checkpoint.seq).max();
    let pool = state.pool.clone();
    let mut result = web::block(move || {
        let mut conn = pool.get()?;
        db::audit::verify_against(&mut conn, &valid, db::audit::VERIFY_PAGE)
    })
    .await??;
    result.witnesses = Some(check);
    Ok(result)
}

/// Has the log's head witnessed every `every`, when it has grown since the last time.
pub async fn run(state: web::Data<AppState>, every: Duration) {
    let mut last: Option<i64> = None;
    loop {
        tokio::time::sleep(every).await;
        let pool = state.pool.clone();
        let head = web::block(move || -> Result<i64, DbError> {
            let mut conn = pool.get()?;
            Ok(db::audit::head(&mut conn)?.map_or(0, |(seq, _)| seq))
        })
        .await;
        let Ok(Ok(seq)) = head else {
            continue;
        };
        if last == Some(seq) || seq == 0 {
            continue;
        }
        match anchor_now(&state).await {
            Ok(receipt) => {
                tracing::info!(
                    seq,
                    witnesses = receipt.witnessed_by.len(),
                    "audit checkpoint witnessed"
                );
                if receipt.witnessed_by.len() < 2 {
                    tracing::warn!(
                        seq,
                        refused = ?receipt.not_witnessed,
                        "fewer than two nodes keep this node's audit checkpoint"
                    );
                }
                last = Some(seq);
            }
            Err(e) => tracing::warn!(error = %e, "audit checkpoint not witnessed"),
        }
    }
}

/// The newest checkpoint of this node's log that another node keeps, its signature
/// checked against the directory: what a restore must not roll the audit back past.
/// `None` when no witness keeps one.
pub async fn newest_witnessed(
    settings: &crate::config::Settings,
) -> anyhow::Result<Option<Witnessed>> {
    let witnesses = Witnesses::new(&settings.tls, settings.notifications.gateway_url.as_deref())?
        .ok_or_else(|| {
        anyhow::anyhow!("no notifications.gateway_url to reach the witnesses through")
    })?;
    let directory = trust::Directory::load(&settings.directory.path)?;
    let me = &settings.agency.id;
    let found = witnesses
        .collect(me)
        .await
        .map_err(|why| anyhow::anyhow!("asking the witnesses: {why}"))?;
    Ok(found
        .witnessed
        .into_iter()
        .filter(|w| {
            let signature = STANDARD.decode(&w.checkpoint.signature).unwrap_or_default();
            w.checkpoint.node == *me
                && trust::signature::verify(&directory, me, &w.checkpoint.bytes(), &signature)
                    .is_ok()
        })
        .max_by_key(|w| w.checkpoint.seq))
}
