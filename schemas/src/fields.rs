//! Field-by-field parsing of a JSON object into a typed struct, so that a bad body is
//! answered with *every* invalid field at once instead of serde's first error.
//!
//! The struct's own OpenAPI schema says which fields exist and which are required, and a
//! complete valid example of the struct stands in for the other fields while one field is
//! tried on its own: an error then can only be that field's.

use crate::problem::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::{RefOr, Schema};

/// A wire struct that can be parsed field by field.
pub trait Fields: DeserializeOwned + utoipa::ToSchema {
    /// A complete, valid instance (every field the struct has, where sensible). The
    /// default takes the `#[schema(example = ...)]` of the type.
    fn example() -> Value {
        schema_example::<Self>().unwrap_or(Value::Object(Map::new()))
    }

    /// Rules across fields, checked once every field is valid on its own. Field names
    /// are relative to the struct; the caller adds the prefix.
    fn check(&mut self, _errors: &mut Vec<FieldError>) {}

    /// List fields whose bad entries are each named with their index
    /// (`former_upns[1]`) rather than the list as a whole.
    fn listed() -> &'static [&'static str] {
        &[]
    }
}

/// The example on a type's own schema, if any.
pub fn schema_example<T: utoipa::PartialSchema>() -> Option<Value> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object
            .examples
            .first()
            .cloned()
            .or_else(|| object.example.clone()),
        _ => None,
    }
}

/// The properties a type's schema lists, those it requires, and whether it refuses
/// others.
pub fn schema_fields<T: utoipa::PartialSchema>() -> (Vec<String>, Vec<String>, bool) {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => (
            object.properties.keys().cloned().collect(),
            object.required.clone(),
            matches!(
                object.additional_properties.as_deref(),
                Some(AdditionalProperties::FreeForm(false))
            ),
        ),
        _ => (Vec::new(), Vec::new(), false),
    }
}

/// Parses `value` as `T`, or lists every invalid field with `prefix` before its name
/// (`"details."` gives `details.sessions_present`). Unknown fields are invalid too.
pub fn parse<T: Fields>(value: &Value, prefix: &str) -> Result<T, Vec<FieldError>> {
    // Every `Fields` type is an object on the wire; serde would also take a struct as an
    // array of its fields in order (`[null, null]`), which the schema does not allow.
    if !value.is_object() {
        return Err(vec![FieldError::new(
            whole(prefix),
            "must be a JSON object",
        )]);
    }
    let mut errors = Vec::new();
    let parsed = match T::deserialize(value) {
        Ok(parsed) => Some(parsed),
        Err(_) => {
            collect::<T>(value, prefix, &mut errors);
            if errors.is_empty() {
                // Every field is fine on its own and yet the whole is not: say so rather
                // than accept it.
                if let Err(e) = T::deserialize(value) {
                    errors.push(FieldError::new(whole(prefix), clean(&e.to_string())));
                }
            }
            None
        }
    };
    match parsed {
        Some(mut parsed) => {
            let mut rule_errors = Vec::new();
            parsed.check(&mut rule_errors);
            errors.extend(
                rule_errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message)),
            );
            if errors.is_empty() {
                Ok(parsed)
            } else {
                Err(errors)
            }
        }
        None => Err(errors),
    }
}

fn whole(prefix: &str) -> String {
    match prefix.trim_end_matches('.') {
        "" => "body".to_owned(),
        name => name.to_owned(),
    }
}

fn collect<T: Fields>(value: &Value, prefix: &str, errors: &mut Vec<FieldError>) {
    let Value::Object(object) = value else {
        errors.push(FieldError::new(whole(prefix), "must be a JSON object"));
        return;
    };
    let (known, required, closed) = schema_fields::<T>();
    for name in object.keys() {
        if closed && !known.iter().any(|k| k == name) {
            errors.push(FieldError::new(
                format!("{prefix}{name}"),
                format!("unknown field; the fields here are {}", known.join(", ")),
            ));
        }
    }
    for name in &known {
        let Some(field) = object.get(name) else {
            if required.contains(name) {
                errors.push(FieldError::new(format!("{prefix}{name}"), "is required"));
            }
            continue;
        };
        let mut candidate = match T::example() {
            Value::Object(example) => example,
            _ => Map::new(),
        };
        candidate.insert(name.clone(), field.clone());
        if let Err(e) = T::deserialize(&Value::Object(candidate.clone())) {
            // A list: name each entry that fails on its own (`former_upns[1]`).
            let mut entries = Vec::new();
            if let (Value::Array(items), true) = (field, T::listed().contains(&name.as_str())) {
                for (i, item) in items.iter().enumerate() {
                    candidate.insert(name.clone(), Value::Array(vec![item.clone()]));
                    if let Err(e) = T::deserialize(&Value::Object(candidate.clone())) {
                        entries.push(FieldError::new(
                            format!("{prefix}{name}[{i}]"),
                            clean(&e.to_string()),
                        ));
                    }
                }
            }
            if entries.is_empty() {
                errors.push(FieldError::new(
                    format!("{prefix}{name}"),
                    clean(&e.to_string()),
                ));
            } else {
                errors.extend(entries);
            }
        }
    }
}

/// serde's messages, minus what means nothing to an integrator.
fn clean(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}
