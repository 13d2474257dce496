//! Records and properties for the transform tests.

use std::sync::Arc;

use crate::config::Properties;
use crate::data::{SchemaRef, SourceOffset, SourcePartition, SourceRecord, Value};

/// Properties from pairs.
pub fn props(pairs: &[(&str, &str)]) -> Properties {
    crate::config::test_props(pairs)
}

/// A record on `topic` with the given value schema and value.
pub fn record(topic: &str, schema: Option<SchemaRef>, value: Value) -> SourceRecord {
    SourceRecord::new(
        SourcePartition::single("p", "x"),
        SourceOffset::int(&SourceOffset::key("o"), 1),
        Arc::from(topic),
        schema,
        value,
    )
}

/// A schemaless map value from string keys.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// Issue texts.
pub fn issue_texts(issues: &[crate::config::ConfigIssue]) -> Vec<String> {
    issues.iter().map(ToString::to_string).collect()
}
