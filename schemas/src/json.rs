//! A JSON request body read strictly: a key sent twice in one object is an error the
//! caller hears about, naming the key's path, instead of serde_json's silent "the last
//! value wins" (a record whose `impact` says one thing in a log and another in storage).

use crate::problem::FieldError;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON body with the paths of every key that appeared more than once in its object
/// (`demographics.given_name`, `items[3].record.impact`). Take it with
/// `web::Json<Body>` and call [`Body::into_value`].
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    value: Value,
    duplicates: Vec<String>,
}

impl Body {
    /// The value, or one error per duplicated key.
    pub fn into_value(self) -> Result<Value, Vec<FieldError>> {
        if self.duplicates.is_empty() {
            Ok(self.value)
        } else {
            Err(self
                .duplicates
                .into_iter()
                .map(|path| FieldError::new(path, DUPLICATE))
                .collect())
        }
    }

    /// The value and the duplicated paths, for a caller that attributes them itself (a
    /// batch gives each item its own).
    pub fn into_parts(self) -> (Value, Vec<String>) {
        (self.value, self.duplicates)
    }

    /// Parses bytes as a strict body (for callers without an extractor, and tests).
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes)
    }
}

/// What a duplicated key is told.
pub const DUPLICATE: &str = "appears more than once in its object; send each field once";

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut duplicates = Vec::new();
        let mut path = String::new();
        let value = Strict {
            path: &mut path,
            duplicates: &mut duplicates,
        }
        .deserialize(deserializer)?;
        Ok(Body { value, duplicates })
    }
}

/// Reads one value at `path`, noting duplicated keys below it. One path buffer for the
/// whole body, grown and cut back as the reading goes down and up (a batch body has
/// some 300,000 values: a path of their own each, only ever read for a duplicate, cost
/// as much as the parsing).
struct Strict<'a> {
    path: &'a mut String,
    duplicates: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        use std::fmt::Write;
        let mut items = Vec::new();
        let at = self.path.len();
        loop {
            let _ = write!(self.path, "[{}]", items.len());
            let item = seq.next_element_seed(Strict {
                path: &mut *self.path,
                duplicates: &mut *self.duplicates,
            });
            self.path.truncate(at);
            match item? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let at = self.path.len();
        while let Some(key) = map.next_key::<String>()? {
            if at > 0 {
                self.path.push('.');
            }
            self.path.push_str(&key);
            let value = map.next_value_seed(Strict {
                path: &mut *self.path,
                duplicates: &mut *self.duplicates,
            });
            let value = match value {
                Ok(value) => value,
                Err(e) => {
                    self.path.truncate(at);
                    return Err(e);
                }
            };
            if object.insert(key, value).is_some() && !self.duplicates.contains(self.path) {
                self.duplicates.push(self.path.clone());
            }
            self.path.truncate(at);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_named_by_path_at_every_level() {
        let body = Body::from_slice(
            br#"{"a": 1, "a": 2, "b": {"c": [{"d": 1, "d": 1}], "e": true}, "f": null}"#,
        )
        .unwrap();
        let errors = body.into_value().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b.c[0].d"]);
    }

    #[test]
    fn a_body_without_duplicates_is_the_value_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, false], "b": {"c": {}}}"#;
        let body = Body::from_slice(text.as_bytes()).unwrap();
        let plain: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body.into_value().unwrap(), plain);
    }

    #[test]
    fn malformed_json_is_still_an_error() {
        assert!(Body::from_slice(br#"{"a": }"#).is_err());
        assert!(Body::from_slice(br#"{"a": 1} x"#).is_err());
    }
}
