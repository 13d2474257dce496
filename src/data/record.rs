//! Source records: what a connector's task hands to the framework.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::offset::{SourceOffset, SourcePartition};
use super::schema::SchemaRef;
use super::value::Value;

/// A record header: a key and a value with an optional schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value's schema (`None` for schemaless).
    pub schema: Option<SchemaRef>,
    /// Header value.
    pub value: Value,
}

/// A record read from a source, with every field Kafka Connect's
/// `SourceRecord` has.
///
/// Shared parts (partition, topic, schemas) are reference-counted, so a
/// connector builds them once and clones them per record.
///
/// ```
/// use std::sync::Arc;
/// use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
/// let partition = SourcePartition::single("filename", "in.txt");
/// let key = SourceOffset::key("position");
/// let topic: Arc<str> = Arc::from("lines");
/// let r = SourceRecord::new(partition, SourceOffset::int(&key, 6), topic,
///     Some(Schema::optional_string()), Value::String("hello".into()));
/// assert_eq!(r.value.as_str(), Some("hello"));
/// assert_eq!(r.source_offset.get_i64("position"), Some(6));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Where in the source this record came from.
    pub source_partition: SourcePartition,
    /// How far the source partition has been read once this record is.
    pub source_offset: SourceOffset,
    /// The topic the record is addressed to.
    pub topic: Arc<str>,
    /// Kafka partition, if the connector chose one.
    pub kafka_partition: Option<i32>,
    /// Key schema (`None` for schemaless).
    pub key_schema: Option<SchemaRef>,
    /// Key (`Value::Null` for none).
    pub key: Value,
    /// Value schema (`None` for schemaless).
    pub value_schema: Option<SchemaRef>,
    /// Value (`Value::Null` for a tombstone).
    pub value: Value,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl SourceRecord {
    /// A record with no key, no Kafka partition, no timestamp and no headers.
    pub fn new(
        source_partition: SourcePartition,
        source_offset: SourceOffset,
        topic: Arc<str>,
        value_schema: Option<SchemaRef>,
        value: Value,
    ) -> SourceRecord {
        SourceRecord {
            source_partition,
            source_offset,
            topic,
            kafka_partition: None,
            key_schema: None,
            key: Value::Null,
            value_schema,
            value,
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// Sets the key and its schema.
    pub fn with_key(mut self, key_schema: Option<SchemaRef>, key: Value) -> SourceRecord {
        self.key_schema = key_schema;
        self.key = key;
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> SourceRecord {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, header: Header) -> SourceRecord {
        self.headers.push(header);
        self
    }

    /// Checks key and value against their schemas.
    pub fn validate(&self) -> Result<(), super::DataError> {
        if let Some(s) = &self.key_schema {
            super::schema_check::check_value(s, &self.key, "key")?;
        }
        if let Some(s) = &self.value_schema {
            super::schema_check::check_value(s, &self.value, "value")?;
        }
        Ok(())
    }
}
