//! Conventions applied to both services' OpenAPI documents after utoipa has built them,
//! so that no operation can miss them: the responses every `/v1` operation can give
//! (429 with `Retry-After`, 503, and 413/415 where there is a body, 401 where a practitioner
//! token is read), all as `application/problem+json`; a relative server; the licence's SPDX
//! identifier; and examples for schemas whose example is a whole document (kept as JSON
//! files beside this crate, taken from answers of the dev federation).

use serde_json::{Map, Value, json};

/// Schema examples too large for a `#[schema(example)]` attribute.
const SCHEMA_EXAMPLES: &[(&str, &str)] = &[
    ("Child", include_str!("../openapi-examples/Child.json")),
    ("Record", include_str!("../openapi-examples/Record.json")),
    (
        "RecordUpsertResult",
        include_str!("../openapi-examples/RecordUpsertResult.json"),
    ),
    (
        "BatchResponse",
        include_str!("../openapi-examples/BatchResponse.json"),
    ),
    (
        "ChangeFeed",
        include_str!("../openapi-examples/ChangeFeed.json"),
    ),
    (
        "StoredConsent",
        include_str!("../openapi-examples/StoredConsent.json"),
    ),
    (
        "AuditVerification",
        include_str!("../openapi-examples/AuditVerification.json"),
    ),
    (
        "DeferralRelease",
        include_str!("../openapi-examples/DeferralRelease.json"),
    ),
    (
        "AccessReport",
        include_str!("../openapi-examples/AccessReport.json"),
    ),
    (
        "ChildRecords",
        include_str!("../openapi-examples/ChildRecords.json"),
    ),
    (
        "ChildView",
        include_str!("../openapi-examples/ChildView.json"),
    ),
    (
        "ChildAccessReport",
        include_str!("../openapi-examples/ChildAccessReport.json"),
    ),
    (
        "KeyedChildQuery",
        include_str!("../openapi-examples/KeyedChildQuery.json"),
    ),
    (
        "OutboxItem",
        include_str!("../openapi-examples/OutboxItem.json"),
    ),
    (
        "InboxItem",
        include_str!("../openapi-examples/InboxItem.json"),
    ),
    (
        "Subscriptions",
        include_str!("../openapi-examples/Subscriptions.json"),
    ),
    (
        "NotificationOffer",
        include_str!("../openapi-examples/NotificationOffer.json"),
    ),
    (
        "OfferAnswer",
        include_str!("../openapi-examples/OfferAnswer.json"),
    ),
    (
        "Notification",
        include_str!("../openapi-examples/Notification.json"),
    ),
    (
        "DeliveryReceipt",
        include_str!("../openapi-examples/DeliveryReceipt.json"),
    ),
    (
        "Acknowledgement",
        include_str!("../openapi-examples/Acknowledgement.json"),
    ),
    (
        "RouteRequest",
        include_str!("../openapi-examples/RouteRequest.json"),
    ),
    (
        "RouteResponse",
        include_str!("../openapi-examples/RouteResponse.json"),
    ),
    ("Outbox", include_str!("../openapi-examples/Outbox.json")),
    ("Inbox", include_str!("../openapi-examples/Inbox.json")),
    (
        "ConcernItem",
        include_str!("../openapi-examples/ConcernItem.json"),
    ),
    (
        "Concerns",
        include_str!("../openapi-examples/Concerns.json"),
    ),
    (
        "ConcernAccepted",
        include_str!("../openapi-examples/ConcernAccepted.json"),
    ),
    (
        "ConcernRoute",
        include_str!("../openapi-examples/ConcernRoute.json"),
    ),
    (
        "ConcernRouted",
        include_str!("../openapi-examples/ConcernRouted.json"),
    ),
    (
        "ConcernDelivery",
        include_str!("../openapi-examples/ConcernDelivery.json"),
    ),
    (
        "OutcomeRoute",
        include_str!("../openapi-examples/OutcomeRoute.json"),
    ),
    (
        "OutcomeDelivery",
        include_str!("../openapi-examples/OutcomeDelivery.json"),
    ),
    (
        "CohortRow",
        include_str!("../openapi-examples/CohortRow.json"),
    ),
    (
        "CohortFigures",
        include_str!("../openapi-examples/CohortFigures.json"),
    ),
    (
        "CohortPage",
        include_str!("../openapi-examples/CohortPage.json"),
    ),
    (
        "BatchMatchRequest",
        include_str!("../openapi-examples/BatchMatchRequest.json"),
    ),
    (
        "BatchMatchResponse",
        include_str!("../openapi-examples/BatchMatchResponse.json"),
    ),
    (
        "BatchRecordsRequest",
        include_str!("../openapi-examples/BatchRecordsRequest.json"),
    ),
    (
        "BatchRecordsResponse",
        include_str!("../openapi-examples/BatchRecordsResponse.json"),
    ),
    (
        "LocatorFilterDocument",
        include_str!("../openapi-examples/LocatorFilterDocument.json"),
    ),
];

fn problem_response(description: &str, example: Value, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": example,
        }},
    });
    if retry_after {
        response["headers"] = json!({"Retry-After": {
            "description": "Whole seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1, "examples": [1]},
        }});
    }
    response
}

fn problem(code: &str, title: &str, status: u16) -> Value {
    json!({
        "type": format!("{}{code}", crate::problem::PROBLEM_TYPE_BASE),
        "title": title,
        "status": status,
    })
}

/// The responses any `/v1` operation may give besides its own.
fn common_responses(
    errors: &ServiceErrors,
    has_body: bool,
    reads_token: bool,
) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "429",
            problem_response(
                "Too many requests from this caller; wait `Retry-After` seconds",
                json!(errors.rate_limited),
                true,
            ),
        ),
        (
            "503",
            problem_response(
                "The service is at capacity or its database does not answer; retry shortly \
                 (after `Retry-After` seconds when given)",
                json!(errors.unavailable),
                true,
            ),
        ),
    ];
    if has_body {
        out.push((
            "413",
            problem_response(
                "The request body is larger than the service accepts",
                problem("payload-too-large", "The request body is too large", 413),
                false,
            ),
        ));
        out.push((
            "415",
            problem_response(
                "The request body is not `application/json`",
                problem(
                    "unsupported-media-type",
                    "The request body must be application/json",
                    415,
                ),
                false,
            ),
        ));
    }
    if reads_token {
        out.push((
            "401",
            problem_response(
                "The practitioner token is missing or not accepted",
                problem(
                    "invalid-token",
                    "The practitioner token is not accepted",
                    401,
                ),
                false,
            ),
        ));
    }
    out
}

/// The service's own problems for the responses every `/v1` operation may give, used as
/// their examples.
pub struct ServiceErrors {
    pub rate_limited: crate::Problem,
    pub unavailable: crate::Problem,
}

/// Applies the conventions to a serialized OpenAPI document.
pub fn polish(doc: &mut Value, errors: &ServiceErrors) {
    doc["servers"] = json!([{
        "url": "/",
        "description": "The service that serves this document",
    }]);
    if let Some(license) = doc
        .pointer_mut("/info/license")
        .and_then(Value::as_object_mut)
    {
        license.insert("identifier".into(), json!("Apache-2.0"));
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, text) in SCHEMA_EXAMPLES {
            if let Some(schema) = schemas.get_mut(*name).and_then(Value::as_object_mut)
                && !schema.contains_key("example")
            {
                // The files are part of this crate; a broken one fails its unit test.
                let example: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                schema.insert("example".into(), example);
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/v1") {
            continue;
        }
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let has_body = op.contains_key("requestBody");
            let reads_token = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|reqs| reqs.iter().any(|r| r.get("practitioner_jwt").is_some()));
            let responses = op
                .entry("responses")
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(responses) = responses.as_object_mut() else {
                continue;
            };
            for (status, response) in common_responses(errors, has_body, reads_token) {
                responses.entry(status).or_insert(response);
            }
            // Keep the responses in status order for readers.
            let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            responses.extend(sorted);
        }
    }
}

/// Each path of a serialized OpenAPI document with the methods it answers, upper case.
pub fn route_methods(doc: &Value) -> Vec<(String, Vec<String>)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    doc.get("paths")
        .and_then(Value::as_object)
        .map(|paths| {
            paths
                .iter()
                .map(|(path, item)| {
                    let methods = METHODS
                        .iter()
                        .filter(|m| item.get(**m).is_some())
                        .map(|m| m.to_uppercase())
                        .collect();
                    (path.clone(), methods)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_file_is_json() {
        for (name, text) in SCHEMA_EXAMPLES {
            let value: Result<Value, _> = serde_json::from_str(text);
            assert!(value.is_ok(), "{name}: {value:?}");
        }
    }

    /// The spec's batch example speaks the code's outcome vocabulary (and its shape).
    #[test]
    fn the_batch_example_is_a_batch_response() {
        let (_, text) = SCHEMA_EXAMPLES
            .iter()
            .find(|(name, _)| *name == "BatchResponse")
            .unwrap();
        let example: crate::BatchResponse = serde_json::from_str(text).unwrap();
        let outcomes: Vec<crate::BatchOutcome> =
            example.results.iter().map(|r| r.outcome).collect();
        use crate::BatchOutcome::*;
        assert_eq!(outcomes, [Created, Updated, Failed, Retracted, Failed]);
        assert_eq!(example.failed, 2);
    }

    #[test]
    fn v1_operations_gain_the_common_problems() {
        let mut doc = json!({
            "info": {"license": {"name": "Apache-2.0"}},
            "paths": {
                "/v1/x": {"post": {
                    "requestBody": {},
                    "security": [{"practitioner_jwt": []}],
                    "responses": {"200": {"description": "ok"}},
                }},
                "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
            },
        });
        let errors = ServiceErrors {
            rate_limited: crate::Problem::new("rate-limited", "Too many", 429),
            unavailable: crate::Problem::new("busy", "Busy", 503),
        };
        polish(&mut doc, &errors);
        let responses = &doc["paths"]["/v1/x"]["post"]["responses"];
        let statuses: Vec<&String> = responses.as_object().unwrap().keys().collect();
        assert_eq!(statuses, ["200", "401", "413", "415", "429", "503"]);
        assert!(responses["429"]["headers"]["Retry-After"].is_object());
        assert!(responses["503"]["content"]["application/problem+json"].is_object());
        let health = doc["paths"]["/healthz"]["get"]["responses"]
            .as_object()
            .unwrap();
        assert_eq!(health.len(), 1);
        assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
    }
}
