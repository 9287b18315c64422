//! serde's derived structs also accept a JSON array (fields by position); our schemas say
//! "object", so fields holding a nested struct read through [`object`], which refuses
//! anything but a JSON object.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

/// `#[serde(deserialize_with = "crate::object::object")]`: the value must be a JSON object.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    if !value.is_object() {
        return Err(D::Error::custom("expected a JSON object"));
    }
    serde_json::from_value(value).map_err(D::Error::custom)
}

/// `#[serde(default, deserialize_with = "crate::object::optional_object")]` on an
/// `Option` of a struct: `null` is `None`, anything else must be a JSON object.
pub fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Object(_) => serde_json::from_value(value)
            .map(Some)
            .map_err(D::Error::custom),
        _ => Err(D::Error::custom("expected a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use crate::{ChildQuery, ChildUpsert};

    #[test]
    fn nested_structs_must_be_objects() {
        let array = r#"{"demographics": {"given_name": "A", "family_name": "B",
            "date_of_birth": "2014-03-09"}, "identifiers": [null, null]}"#;
        let err = serde_json::from_str::<ChildUpsert>(array).unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let positional = r#"{"demographics": ["A", "B", "2014-03-09", null, null]}"#;
        assert!(serde_json::from_str::<ChildUpsert>(positional).is_err());
        assert!(serde_json::from_str::<ChildQuery>(r#"{"identifiers": []}"#).is_err());
        // A search's demographics may be partial, so every field is optional: an array
        // of nulls would otherwise read as an empty search.
        let query = r#"{"identifiers": {"upn": "U999123456789"}, "demographics": [null, null]}"#;
        let err = serde_json::from_str::<ChildQuery>(query).unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        for keyed in [
            r#"{"key_id": "k", "identifiers": []}"#,
            r#"{"key_id": "k", "demographics": [null]}"#,
            r#"{"key_id": "k", "blocks": [null]}"#,
        ] {
            let err = serde_json::from_str::<crate::keyed::KeyedChildQuery>(keyed).unwrap_err();
            assert!(
                err.to_string().contains("expected a JSON object"),
                "{keyed}: {err}"
            );
        }
        let keyed = r#"{"key_id": "k", "identifiers": {}, "demographics": null}"#;
        assert!(serde_json::from_str::<crate::keyed::KeyedChildQuery>(keyed).is_ok());
        let null = r#"{"identifiers": {"upn": "U999123456789"}, "demographics": null}"#;
        assert!(
            serde_json::from_str::<ChildQuery>(null)
                .unwrap()
                .demographics
                .is_none()
        );
        let fine = r#"{"demographics": {"given_name": "A", "family_name": "B",
            "date_of_birth": "2014-03-09"}, "identifiers": {"upn": "U999123456789"}}"#;
        assert!(serde_json::from_str::<ChildUpsert>(fine).is_ok());
    }
}
