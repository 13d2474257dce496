//! Offsets in the JSON shape of Kafka Connect's offsets REST API
//! (`GET /connectors/{name}/offsets`), for import and export.

use serde_json::{Map, Value};

use super::SnapshotError;
use crate::data::{Offsets, SourceOffset, SourcePartition};

/// Offsets as Kafka Connect's offsets REST API shows them:
/// `{"offsets":[{"partition":{...},"offset":{...}}]}`, in partition order.
///
/// ```
/// use timely_connect::data::{Offsets, SourceOffset, SourcePartition};
/// use timely_connect::snapshot::offsets_to_api_json;
///
/// let mut offsets = Offsets::new();
/// offsets.insert(
///     SourcePartition::single("filename", "/tmp/in.txt"),
///     SourceOffset::int(&SourceOffset::key("position"), 42),
/// );
/// assert_eq!(
///     offsets_to_api_json(&offsets).to_string(),
///     r#"{"offsets":[{"offset":{"position":42},"partition":{"filename":"/tmp/in.txt"}}]}"#
/// );
/// ```
pub fn offsets_to_api_json(offsets: &Offsets) -> Value {
    let entries = offsets
        .iter()
        .map(|(partition, offset)| {
            let mut entry = Map::new();
            entry.insert("partition".to_owned(), partition.to_json());
            entry.insert("offset".to_owned(), offset.to_json());
            Value::Object(entry)
        })
        .collect();
    let mut root = Map::new();
    root.insert("offsets".to_owned(), Value::Array(entries));
    Value::Object(root)
}

/// Reads offsets in the shape [`offsets_to_api_json`] writes (Kafka
/// Connect's offsets REST API).
///
/// Errors name where the document departs from that shape: a missing or
/// misspelt key, a partition or offset that is not a JSON object, a `null`
/// offset (Kafka's "reset" form, which an import cannot express), or the
/// same partition twice.
pub fn offsets_from_api_json(json: &Value) -> Result<Offsets, SnapshotError> {
    let mut offsets = Offsets::new();
    for (i, (partition, offset)) in parse_entries(json)?.into_iter().enumerate() {
        let Some(offset) = offset else {
            return Err(shape_err(
                format!("offsets[{i}].offset"),
                format!("offset for partition {partition} is null (Kafka's reset form); an import needs an offset object"),
            ));
        };
        offsets.insert(partition, offset);
    }
    Ok(offsets)
}

/// Reads offset changes in the shape of Kafka Connect's `PATCH
/// /connectors/{name}/offsets` body (KIP-875): like
/// [`offsets_from_api_json`], but a `null` offset means "remove this
/// partition's offset" (`None`).
///
/// ```
/// use timely_connect::snapshot::offset_changes_from_api_json;
///
/// let json = serde_json::json!({"offsets": [
///     {"partition": {"filename": "a.txt"}, "offset": {"position": 7}},
///     {"partition": {"filename": "b.txt"}, "offset": null},
/// ]});
/// let changes = offset_changes_from_api_json(&json)?;
/// assert_eq!(changes[0].1.as_ref().and_then(|o| o.get_i64("position")), Some(7));
/// assert!(changes[1].1.is_none());
/// # Ok::<(), timely_connect::snapshot::SnapshotError>(())
/// ```
pub fn offset_changes_from_api_json(
    json: &Value,
) -> Result<Vec<(SourcePartition, Option<SourceOffset>)>, SnapshotError> {
    parse_entries(json)
}

/// The entries of an offsets document, in order; `None` for a `null`
/// offset. Refuses a partition named twice.
fn parse_entries(
    json: &Value,
) -> Result<Vec<(SourcePartition, Option<SourceOffset>)>, SnapshotError> {
    let root = json
        .as_object()
        .ok_or_else(|| shape_err("$", format!("expected an object, found {}", kind(json))))?;
    reject_unknown_keys(root, &["offsets"], "$")?;
    let list = root
        .get("offsets")
        .ok_or_else(|| shape_err("$", "missing key \"offsets\""))?;
    let list = list.as_array().ok_or_else(|| {
        shape_err(
            "offsets",
            format!("expected an array, found {}", kind(list)),
        )
    })?;

    let mut offsets: Vec<(SourcePartition, Option<SourceOffset>)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in list.iter().enumerate() {
        let at = format!("offsets[{i}]");
        let entry = entry
            .as_object()
            .ok_or_else(|| shape_err(&at, format!("expected an object, found {}", kind(entry))))?;
        reject_unknown_keys(entry, &["partition", "offset"], &at)?;
        let partition = field(entry, "partition", &at)?;
        let offset = field(entry, "offset", &at)?;
        let partition = SourcePartition::from_json(partition).ok_or_else(|| {
            shape_err(
                format!("{at}.partition"),
                format!("expected an object, found {}", kind(partition)),
            )
        })?;
        let offset = if offset.is_null() {
            None
        } else {
            Some(SourceOffset::from_json(offset).ok_or_else(|| {
                shape_err(
                    format!("{at}.offset"),
                    format!("expected an object, found {}", kind(offset)),
                )
            })?)
        };
        if !seen.insert(partition.clone()) {
            return Err(shape_err(
                format!("{at}.partition"),
                format!("partition {partition} appears more than once"),
            ));
        }
        offsets.push((partition, offset));
    }
    Ok(offsets)
}

fn field<'a>(
    entry: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a Value, SnapshotError> {
    entry
        .get(key)
        .ok_or_else(|| shape_err(at, format!("missing key \"{key}\"")))
}

fn reject_unknown_keys(
    object: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), SnapshotError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(shape_err(at, format!("unexpected key \"{key}\""))),
        None => Ok(()),
    }
}

fn shape_err(at: impl Into<String>, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::ApiJson {
        at: at.into(),
        reason: reason.into(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::OffsetValue;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn offsets_api_json_round_trip() {
        let mut offsets = Offsets::new();
        offsets.insert(
            SourcePartition::single("filename", "/tmp/a.txt"),
            SourceOffset::int(&SourceOffset::key("position"), 1024),
        );
        let mut table = BTreeMap::new();
        table.insert("table".to_owned(), OffsetValue::from("orders"));
        table.insert("shard".to_owned(), OffsetValue::Int(3));
        let mut position = BTreeMap::new();
        position.insert("lsn".to_owned(), OffsetValue::Int(987_654_321));
        position.insert("snapshot".to_owned(), OffsetValue::Bool(false));
        position.insert("txid".to_owned(), OffsetValue::from("a1"));
        offsets.insert(
            SourcePartition::new(table),
            SourceOffset::from_map(position),
        );

        let json = offsets_to_api_json(&offsets);
        assert_eq!(json["offsets"].as_array().unwrap().len(), 2);
        assert_eq!(
            json["offsets"][0],
            json!({"partition": {"filename": "/tmp/a.txt"}, "offset": {"position": 1024}})
        );
        assert_eq!(offsets_from_api_json(&json).unwrap(), offsets);

        // Kafka Connect's own output parses too.
        let kafka: Value = serde_json::from_str(
            r#"{"offsets":[{"partition":{"filename":"test.txt"},"offset":{"position":30}}]}"#,
        )
        .unwrap();
        let parsed = offsets_from_api_json(&kafka).unwrap();
        assert_eq!(
            parsed
                .get(&SourcePartition::single("filename", "test.txt"))
                .and_then(|o| o.get_i64("position")),
            Some(30)
        );
        assert!(offsets_from_api_json(&json!({"offsets": []}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn offsets_api_json_wrong_shape_says_where() {
        let cases = [
            (json!([1, 2]), "$"),
            (json!({}), "$"),
            (json!({"offset": []}), "$"),
            (json!({"offsets": {}}), "offsets"),
            (json!({"offsets": [3]}), "offsets[0]"),
            (json!({"offsets": [{"partition": {"f": 1}}]}), "offsets[0]"),
            (
                json!({"offsets": [{"partition": "f", "offset": {"p": 1}}]}),
                "offsets[0].partition",
            ),
            (
                json!({"offsets": [{"partition": {"f": 1}, "offset": null}]}),
                "offsets[0].offset",
            ),
            (
                json!({"offsets": [{"partition": {"f": 1}, "offset": 7}]}),
                "offsets[0].offset",
            ),
            (
                json!({"offsets": [
                    {"partition": {"f": 1}, "offset": {"p": 1}},
                    {"partition": {"f": 1}, "offset": {"p": 2}}
                ]}),
                "offsets[1].partition",
            ),
        ];
        for (json, expected_at) in cases {
            match offsets_from_api_json(&json) {
                Err(SnapshotError::ApiJson { at, .. }) => assert_eq!(at, expected_at, "{json}"),
                other => panic!("{json}: expected a shape error, got {other:?}"),
            }
        }
    }
}
