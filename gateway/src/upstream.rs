//! Calls from the gateway to agency nodes over mutual TLS, and the classification of
//! every way such a call can fail.

use reqwest::{Client, StatusCode};
use schemas::disclosure::AccessReport;
use schemas::{AccessContext, ChildQuery, ChildRecords, MatchResponse, Problem};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// How a call to one node ended, when it did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The node said it does not hold the child (404).
    NotFound,
    /// No answer within the deadline.
    Timeout,
    /// Could not connect: refused, unreachable, TLS handshake failed.
    Unavailable(String),
    /// Answered, but not with a valid answer.
    Error(String),
}

pub struct Outcome<T> {
    pub result: Result<T, Failure>,
    pub elapsed: Duration,
}

/// One client for every node: the gateway's certificate as client identity, only the
/// federation CA trusted, connections kept alive and reused.
pub fn build_client(
    tls: &trust::tls::TlsFiles,
    connect_timeout: Duration,
) -> anyhow::Result<Client> {
    let config = trust::tls::client_config(tls)?;
    Ok(Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(16)
        .build()?)
}

pub struct NodeClient<'a> {
    pub http: &'a Client,
    pub base_url: &'a str,
    pub token: &'a str,
    pub deadline: Duration,
    pub traceparent: Option<&'a str>,
}

impl NodeClient<'_> {
    pub async fn match_child(
        &self,
        query: &ChildQuery,
        ctx: &AccessContext,
    ) -> Outcome<MatchResponse> {
        let request = self
            .http
            .post(format!("{}/v1/federation/match", self.base_url))
            .query(ctx)
            .json(query);
        self.send(request).await
    }

    pub async fn records(&self, local_ref: &str, ctx: &AccessContext) -> Outcome<ChildRecords> {
        let request = self
            .http
            .get(format!(
                "{}/v1/federation/children/{}/records",
                self.base_url, local_ref
            ))
            .query(ctx);
        self.send(request).await
    }

    pub async fn access_report(&self, local_ref: &str) -> Outcome<AccessReport> {
        let request = self.http.get(format!(
            "{}/v1/federation/children/{}/access-report",
            self.base_url, local_ref
        ));
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Outcome<T> {
        let started = Instant::now();
        let mut request = request.bearer_auth(self.token).timeout(self.deadline);
        if let Some(tp) = self.traceparent {
            request = request.header("traceparent", tp);
        }
        let call = async {
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(classify)?;
            if status == StatusCode::NOT_FOUND {
                return Err(Failure::NotFound);
            }
            if !status.is_success() {
                let title = serde_json::from_slice::<Problem>(&bytes)
                    .map(|p| p.detail.unwrap_or(p.title))
                    .unwrap_or_else(|_| "no problem details".to_owned());
                return Err(Failure::Error(format!("node answered {status}: {title}")));
            }
            serde_json::from_slice::<T>(&bytes)
                .map_err(|e| Failure::Error(format!("node answered with an invalid body: {e}")))
        };
        // The request timeout covers the exchange; this bounds anything around it too.
        let result = match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout),
        };
        Outcome {
            result,
            elapsed: started.elapsed(),
        }
    }
}

fn classify(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() || connection_lost(&e) {
        Failure::Unavailable(root_cause(&e))
    } else {
        Failure::Error(root_cause(&e))
    }
}

/// A kept-alive connection the node dropped (it stopped, restarted or its host went
/// away): the node is unavailable, not answering wrongly.
fn connection_lost(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let io_lost = err.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::BrokenPipe
                    | K::NotConnected
                    | K::UnexpectedEof
            )
        });
        let hyper_lost = err
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled());
        if io_lost || hyper_lost {
            return true;
        }
        current = err.source();
    }
    false
}

/// The innermost error message: "connection refused", "invalid peer certificate: …".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
