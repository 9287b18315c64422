//! The steps scenarios are written in: a request sent and its answer read whole, the
//! integration face of a node (`fed.system(node)`), the practitioner's calls through the
//! gateway, and synthetic data with defaults. A failed step panics at the caller's line
//! with the answer in the message, so each test reads as its scenario.

use crate::TestFederation;
use federation::seed::SyntheticChild;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::future::Future;

/// The context of a safeguarding search or read on the public task.
pub const SAFEGUARDING: &str = "purpose=safeguarding&legal_basis=public_task";

/// An HTTP answer read whole: status, headers and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// Names the case in every failure message (see [`Answer::case`]).
    pub label: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The same answer, its failure messages starting with `case` (for table-driven
    /// tests: the failing row is named).
    pub fn case(mut self, case: impl std::fmt::Display) -> Self {
        self.label = format!("{case}: ");
        self
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Checks the status (naming the body on failure) and returns the body as JSON.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}{}", self.label, self.text);
        self.json()
    }

    /// Checks the answer is a problem (`application/problem+json`) with this status
    /// and a `type` ending in `/{code}`; returns the problem.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> Value {
        let problem = self.expect_any_problem(status);
        assert_eq!(
            problem_code(&problem),
            Some(code),
            "{}{problem}",
            self.label
        );
        problem
    }

    /// Checks the answer is a problem with this status, whatever its type.
    #[track_caller]
    pub fn expect_any_problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}{}", self.label, self.text);
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "{}{}",
            self.label,
            self.text
        );
        self.json()
    }
}

/// The problem's code: the last segment of its type URI.
pub fn problem_code(problem: &Value) -> Option<&str> {
    problem["type"].as_str().and_then(|t| t.rsplit('/').next())
}

/// The fields a validation problem names, in order.
pub fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a request and reads its answer whole; a request that gets no HTTP answer
/// panics with the error.
pub trait Call {
    fn answer(self) -> impl Future<Output = Answer> + Send;
}

impl Call for reqwest::RequestBuilder {
    async fn answer(self) -> Answer {
        let response = self
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the answer: {e}"));
        Answer {
            status,
            headers,
            text,
            label: String::new(),
        }
    }
}

/// A node's integration face as its agency's own system (`<node>-system`) calls it.
/// Paths start at the node's root (`/v1/children/T-1`).
pub struct System {
    pub client: reqwest::Client,
    pub base: String,
}

impl System {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.client.get(self.url(path)).answer().await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.client.put(self.url(path)).json(body).answer().await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.client.post(self.url(path)).json(body).answer().await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.client.delete(self.url(path)).answer().await
    }

    /// `PUT /v1/children/{local_id}`.
    pub async fn put_child(&self, local_id: &str, child: &Value) -> Answer {
        self.put(&format!("/v1/children/{local_id}"), child).await
    }

    /// `POST /v1/children/{local_id}/records`.
    pub async fn post_record(&self, local_id: &str, record: &Value) -> Answer {
        self.post(&format!("/v1/children/{local_id}/records"), record)
            .await
    }

    /// Writes a child and checks it was created or updated.
    #[track_caller]
    pub fn store_child(&self, local_id: &str, child: &Value) -> impl Future<Output = ()> {
        let caller = std::panic::Location::caller();
        async move {
            let answer = self.put_child(local_id, child).await;
            assert!(
                matches!(answer.status, 200 | 201),
                "{caller}: storing child {local_id}: {} {}",
                answer.status,
                answer.text
            );
        }
    }

    /// Writes a record and checks it was created or updated.
    #[track_caller]
    pub fn store_record(&self, local_id: &str, record: &Value) -> impl Future<Output = ()> {
        let caller = std::panic::Location::caller();
        async move {
            let answer = self.post_record(local_id, record).await;
            assert!(
                matches!(answer.status, 200 | 201),
                "{caller}: storing a record of {local_id}: {} {}",
                answer.status,
                answer.text
            );
        }
    }

    /// The records the node holds for a child (checks the list answers 200).
    pub async fn records(&self, local_id: &str) -> Vec<Value> {
        let answer = self.get(&format!("/v1/children/{local_id}/records")).await;
        match answer.expect(200) {
            Value::Array(records) => records,
            other => panic!("records of {local_id}: {other}"),
        }
    }

    /// `GET /v1/audit/verify` (checks it answers 200).
    pub async fn verify_audit(&self) -> Value {
        self.get("/v1/audit/verify").await.expect(200)
    }
}

impl TestFederation {
    /// One synthetic child held by two agencies: at `partial` (node, local id) with
    /// names, address and sex but no date of birth and no identifier (a partial child),
    /// and at `complete` the same child with its date of birth as well.
    pub async fn store_partial_and_complete(&self, partial: (&str, &str), complete: (&str, &str)) {
        let known = serde_json::json!({"given_name": "Thaddeus",
            "family_name": "Wrenfield-Oduya", "postcode": "ZZ8 3QT", "sex": "male"});
        self.system(partial.0)
            .store_child(partial.1, &serde_json::json!({"demographics": known}))
            .await;
        let mut dated = known;
        dated["date_of_birth"] = serde_json::json!("2013-05-02");
        self.system(complete.0)
            .store_child(complete.1, &serde_json::json!({"demographics": dated}))
            .await;
    }

    /// The integration face of a node, as its agency's own system.
    pub fn system(&self, node: &str) -> System {
        System {
            client: self.integration_client(node),
            base: self.node_url(node).to_owned(),
        }
    }

    /// A practitioner's GET through the gateway (`path` from the root, query included).
    pub async fn gateway_get(&self, token: &str, path: &str) -> Answer {
        self.anonymous_client()
            .get(format!("{}{path}", self.gateway_url))
            .bearer_auth(token)
            .answer()
            .await
    }

    /// A practitioner's POST through the gateway.
    pub async fn gateway_post(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.anonymous_client()
            .post(format!("{}{path}", self.gateway_url))
            .bearer_auth(token)
            .json(body)
            .answer()
            .await
    }

    /// The gateway's merged view of a child, in a context (`purpose=…&legal_basis=…`).
    pub async fn view(&self, token: &str, reference: &str, context: &str) -> Answer {
        self.gateway_get(token, &format!("/v1/children/{reference}/view?{context}"))
            .await
    }

    /// Searches for a seeded child (by everything it is known by) in a context and
    /// returns the gateway's reference for it.
    pub async fn reference_for(
        &self,
        token: &str,
        child: &SyntheticChild,
        context: &str,
    ) -> String {
        let found = self
            .gateway_post(
                token,
                &format!("/v1/children:search?{context}"),
                &crate::query_for(child),
            )
            .await
            .expect(200);
        found["reference"]
            .as_str()
            .unwrap_or_else(|| panic!("no reference in {found}"))
            .to_owned()
    }

    /// A call to a node's federation face as the gateway makes it (mutual TLS with the
    /// gateway's certificate, the practitioner's token forwarded).
    pub fn as_gateway(
        &self,
        method: reqwest::Method,
        node: &str,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.gateway_identity()
            .request(method, format!("{}{path}", self.node_url(node)))
            .bearer_auth(token)
    }

    /// `POST /v1/federation/match?{context}` at a node, as the gateway sends it.
    pub async fn node_match(
        &self,
        node: &str,
        token: &str,
        context: &str,
        query: &Value,
    ) -> Answer {
        let path = format!("/v1/federation/match?{context}");
        self.as_gateway(reqwest::Method::POST, node, &path, token)
            .json(query)
            .answer()
            .await
    }

    /// `GET /v1/federation/children/{reference}/records?{context}` at a node, as the
    /// gateway sends it.
    pub async fn node_records(
        &self,
        node: &str,
        token: &str,
        reference: &str,
        context: &str,
    ) -> Answer {
        let path = format!("/v1/federation/children/{reference}/records?{context}");
        self.as_gateway(reqwest::Method::GET, node, &path, token)
            .answer()
            .await
    }

    /// A records read at a node as the gateway sends it, with a match token and a
    /// relationship assertion in their headers (either may be left out).
    pub async fn node_records_with(
        &self,
        node: &str,
        token: &str,
        reference: &str,
        context: &str,
        match_token: Option<&str>,
        assertion: Option<&str>,
    ) -> Answer {
        let path = format!("/v1/federation/children/{reference}/records?{context}");
        let mut request = self.as_gateway(reqwest::Method::GET, node, &path, token);
        if let Some(m) = match_token {
            request = request.header(schemas::MATCH_TOKEN_HEADER, m);
        }
        if let Some(a) = assertion {
            request = request.header(schemas::RELATIONSHIP_HEADER, a);
        }
        request.answer().await
    }

    /// A records read the way the gateway makes it after a search by `query`: the
    /// requester's own node (`own`) is asked for its relationship assertion, the
    /// disclosing node for its reference and match token, and the read carries both.
    pub async fn related_records(
        &self,
        own: &str,
        node: &str,
        token: &str,
        query: &Value,
        context: &str,
    ) -> Answer {
        let asserted = self
            .node_match(own, token, context, query)
            .await
            .expect(200);
        let found = self
            .node_match(node, token, context, query)
            .await
            .expect(200);
        let reference = found["local_ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{node} does not hold the child: {found}"));
        self.node_records_with(
            node,
            token,
            reference,
            context,
            found["match_token"].as_str(),
            asserted["relationship"].as_str(),
        )
        .await
    }

    /// A GET without certificate or token (health, metrics, docs, specs), read whole.
    pub async fn fetch(&self, url: &str) -> Answer {
        self.anonymous_client().get(url).answer().await
    }

    /// A node's Prometheus text (`/metrics` on its metrics address).
    pub async fn metrics(&self, node: &str) -> String {
        let answer = self.scrape(node).await;
        assert_eq!(answer.status, 200, "metrics of {node}: {}", answer.text);
        answer.text
    }

    /// The gateway's Prometheus text (`/metrics` on its metrics address).
    pub async fn gateway_metrics(&self) -> String {
        self.metrics("gateway").await
    }

    /// `GET /metrics` on a service's metrics address (a node id or `gateway`), in plain
    /// HTTP as a scraper on the same host reads it.
    pub async fn scrape(&self, service: &str) -> Answer {
        let url = self
            .metrics_urls
            .get(service)
            .unwrap_or_else(|| panic!("no metrics address for {service}"));
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|e| panic!("plain client: {e}"))
            .get(format!("{url}/metrics"))
            .answer()
            .await
    }
}

/// A synthetic child as an agency's system sends it: a fixed name, date of birth,
/// postcode and UPN (none of them a real person's).
pub fn child() -> Value {
    json!({
        "demographics": {"given_name": "Tegan", "family_name": "Marsh-Idowu",
            "date_of_birth": "2016-05-14", "sex": "female", "postcode": "zz3 9xy"},
        "identifiers": {"upn": "U999123456789"}
    })
}

/// An attendance record for the autumn half-term with this impact statement (source id
/// `MIS-ATT-2026-AUT-T1`); change fields with [`with`].
pub fn attendance(impact: &str) -> Value {
    json!({
        "source_system_id": "MIS-ATT-2026-AUT-T1",
        "category": "attendance",
        "effective_from": "2026-09-03",
        "effective_to": "2026-10-23",
        "impact": impact,
        "details": {"sessions_possible": 100, "sessions_present": 84,
                    "authorised_absence": 6, "unauthorised_absence": 10}
    })
}

/// `value` with the top-level fields of `changes` set (a record or child with one thing
/// different).
pub fn with(mut value: Value, changes: Value) -> Value {
    if let (Some(target), Value::Object(changes)) = (value.as_object_mut(), changes) {
        for (key, field) in changes {
            target.insert(key, field);
        }
    }
    value
}
