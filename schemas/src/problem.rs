//! Problem details (RFC 9457): the one error body every service answers with, and the
//! invalid-field list it carries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Base of every problem `type` URI; the path after it is the stable error code.
pub const PROBLEM_TYPE_BASE: &str = "https://child-view.example/problems/";

/// An RFC 9457 problem document, served as `application/problem+json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "https://child-view.example/problems/invalid-request",
    "title": "The request is not valid",
    "status": 400,
    "detail": "1 field is invalid",
    "errors": [{"field": "identifiers.upn", "message": "UPN check letter does not match"}]
}))]
pub struct Problem {
    /// Stable URI naming the kind of problem; safe to switch on.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Correlation id of the request (from `traceparent` where the caller sent one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Every invalid field, when the problem is invalid input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(code: &str, title: &str, status: u16) -> Self {
        Self {
            type_uri: format!("{PROBLEM_TYPE_BASE}{code}"),
            title: title.to_owned(),
            status,
            detail: None,
            instance: None,
            errors: Vec::new(),
        }
    }

    /// 400 `invalid-request` listing every invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        Self::new("invalid-request", "The request is not valid", 400)
            .with_detail(format!(
                "{n} field{} invalid",
                if n == 1 { " is" } else { "s are" }
            ))
            .with_errors(errors)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The stable code: the last path segment of `type`.
    pub fn code(&self) -> &str {
        self.type_uri
            .strip_prefix(PROBLEM_TYPE_BASE)
            .unwrap_or(&self.type_uri)
    }
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `demographics.date_of_birth`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
