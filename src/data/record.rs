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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::logical::{self, Decimal};
    use crate::data::{Schema, SchemaBuilder, Struct};

    fn nested_record() -> SourceRecord {
        let line = SchemaBuilder::struct_()
            .name("com.example.Line")
            .field("sku", Schema::string())
            .field("price", logical::decimal_schema(2))
            .build();
        let order = SchemaBuilder::struct_()
            .name("com.example.Order")
            .version(3)
            .doc("an order")
            .field("id", Schema::int64())
            .field("day", logical::date_schema())
            .field("at", logical::timestamp_schema())
            .field("open", logical::time_builder().optional().build())
            .field("lines", SchemaBuilder::array(line.clone()).build())
            .field(
                "attrs",
                SchemaBuilder::map(Schema::string(), Schema::optional_float64()).build(),
            )
            .field(
                "by_qty",
                SchemaBuilder::map(Schema::int32(), Schema::bytes()).build(),
            )
            .field(
                "note",
                SchemaBuilder::string()
                    .optional()
                    .default_value(Value::from("none"))
                    .build(),
            )
            .try_build()
            .unwrap();
        let l = Struct::new(line)
            .with("sku", "A-1")
            .unwrap()
            .with("price", Decimal::new(-1999, 2).to_value())
            .unwrap();
        let value = Struct::new(order.clone())
            .with("id", 42i64)
            .unwrap()
            .with("day", 19_782i32)
            .unwrap()
            .with("at", 1_700_000_000_123i64)
            .unwrap()
            .with("lines", vec![Value::Struct(l)])
            .unwrap()
            .with(
                "attrs",
                Value::Map(vec![
                    (Value::from("w"), Value::Float64(1.5)),
                    (Value::from("h"), Value::Null),
                ]),
            )
            .unwrap()
            .with(
                "by_qty",
                Value::Map(vec![(Value::Int32(2), Value::Bytes(vec![0, 255]))]),
            )
            .unwrap();
        let partition = SourcePartition::single("table", "orders");
        let offset = SourceOffset::int(&SourceOffset::key("lsn"), 77);
        let mut r = SourceRecord::new(
            partition,
            offset,
            Arc::from("orders"),
            Some(order),
            Value::Struct(value),
        )
        .with_key(Some(Schema::int64()), Value::Int64(42))
        .with_timestamp(1_700_000_000_123)
        .with_header(Header {
            key: "trace".into(),
            schema: None,
            value: Value::from("abc"),
        })
        .with_header(Header {
            key: "day".into(),
            schema: Some(logical::date_schema()),
            value: Value::Int32(1),
        });
        r.kafka_partition = Some(3);
        r
    }

    #[test]
    fn struct_record_survives_bincode_round_trip() {
        let r = nested_record();
        r.validate().unwrap();
        let bytes = bincode::serialize(&r).unwrap();
        let back: SourceRecord = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, r);
        back.validate().unwrap();
        let note = back.value.as_struct().and_then(|s| s.get("note"));
        assert_eq!(note, Some(&Value::from("none")));
    }

    #[test]
    fn bincode_rejects_struct_whose_values_do_not_match_schema() {
        let schema = SchemaBuilder::struct_().field("a", Schema::int32()).build();
        // Serialize a struct-shaped tuple with two values for one field.
        let bytes = bincode::serialize(&(schema, vec![Value::Int32(1), Value::Int32(2)])).unwrap();
        assert!(bincode::deserialize::<Struct>(&bytes).is_err());
    }

    #[test]
    fn record_validate_names_key_and_value() {
        let r = nested_record().with_key(Some(Schema::string()), Value::Int64(1));
        assert_eq!(
            r.validate().unwrap_err().to_string(),
            "field `key`: expected STRING, got INT64"
        );
        let mut r = nested_record();
        r.validate().unwrap();
        r.value = Value::Int32(1);
        let err = r.validate().unwrap_err();
        assert_eq!(err.to_string(), "field `value`: expected STRUCT, got INT32");
    }

    #[test]
    fn source_record_stays_small() {
        // Per-record cost: keep the record and the value enum compact.
        assert!(
            std::mem::size_of::<Value>() <= 40,
            "{}",
            std::mem::size_of::<Value>()
        );
        assert!(
            std::mem::size_of::<SourceRecord>() <= 192,
            "{}",
            std::mem::size_of::<SourceRecord>()
        );
    }
}
