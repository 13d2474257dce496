//! Records to bytes: a record's key, value and headers through the
//! configured converters, as Kafka Connect's worker does before it produces
//! a record to Kafka.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::errors::{Stage, StageFailure};
use crate::convert::{ConvertError, Converter, HeaderConverter};
use crate::data::SourceRecord;

/// A record as bytes: what a Kafka producer would send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The Kafka partition, if the connector chose one.
    pub kafka_partition: Option<i32>,
    /// The key's bytes; `None` is Kafka's null key.
    pub key: Option<Vec<u8>>,
    /// The value's bytes; `None` is Kafka's null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Header keys and value bytes, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

/// One converter in a role, with the class name errors report.
pub struct Role<C: ?Sized> {
    /// The class it was configured as (`org.apache.kafka.connect.json.JsonConverter`).
    pub class: String,
    /// The converter.
    pub converter: Box<C>,
}

impl<C: ?Sized> fmt::Debug for Role<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Role").field("class", &self.class).finish()
    }
}

/// The converters one worker uses to turn records into bytes. A role
/// without a converter gives no bytes for that part (`key: None`, no
/// headers), which suits sinks that only want values.
///
/// ```
/// use std::sync::Arc;
/// use timely_connect::convert::{ConvertError, Converter, SchemaAndValue};
/// use timely_connect::config::{ConfigDef, ConfigIssue, Properties};
/// use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
/// use timely_connect::runtime::{Encoders, Role};
///
/// /// Writes string values as they are.
/// struct Plain;
/// impl Converter for Plain {
///     fn config_def(&self) -> ConfigDef { ConfigDef::new() }
///     fn configure(&mut self, _: &Properties, _: bool) -> Result<(), Vec<ConfigIssue>> { Ok(()) }
///     fn from_connect(&mut self, _: &str, _: Option<&Schema>, v: &Value, out: &mut Vec<u8>)
///         -> Result<bool, ConvertError> {
///         match v {
///             Value::Null => Ok(false),
///             Value::String(s) => { out.extend_from_slice(s.as_bytes()); Ok(true) }
///             other => Err(ConvertError::Serialization(format!("not a string: {}", other.type_name()))),
///         }
///     }
///     fn to_connect(&mut self, _: &str, _: Option<&[u8]>) -> Result<SchemaAndValue, ConvertError> {
///         unimplemented!()
///     }
/// }
///
/// let mut encoders = Encoders {
///     value: Some(Role { class: "Plain".into(), converter: Box::new(Plain) }),
///     ..Encoders::default()
/// };
/// let record = SourceRecord::new(SourcePartition::single("f", "a"),
///     SourceOffset::int(&SourceOffset::key("position"), 1), Arc::from("t"), None, Value::from("hi"));
/// let encoded = encoders.encode(&record).unwrap();
/// assert_eq!(encoded.value.as_deref(), Some(&b"hi"[..]));
///
/// let bad = SourceRecord { value: Value::Int32(1), ..record };
/// let failure = encoders.encode(&bad).unwrap_err();
/// assert_eq!(failure.stage.kafka_name(), "VALUE_CONVERTER");
/// ```
#[derive(Debug, Default)]
pub struct Encoders {
    /// The key converter.
    pub key: Option<Role<dyn Converter>>,
    /// The value converter.
    pub value: Option<Role<dyn Converter>>,
    /// The header converter.
    pub header: Option<Role<dyn HeaderConverter>>,
    /// The sizes of the last key and value, which size the next buffers so
    /// a converter rarely grows its output while writing it.
    pub sizes: OutputSizes,
}

/// The byte lengths of the last converted key and value (see
/// [`Encoders::sizes`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputSizes {
    /// The last key's length.
    pub key: usize,
    /// The last value's length.
    pub value: usize,
}

/// A buffer for an output about `last` bytes long, with room to spare.
fn buffer_for(last: usize) -> Vec<u8> {
    Vec::with_capacity(last + last / 8 + 16)
}

fn failure(stage: Stage, class: &str, error: &ConvertError, what: &str) -> StageFailure {
    StageFailure {
        stage,
        class_name: class.to_owned(),
        exception_class: error.exception_class().to_owned(),
        message: format!("{what}: {error}"),
    }
}

impl Encoders {
    /// Converts one record; a failure names the stage, the converter's class
    /// and the part that failed.
    pub fn encode(&mut self, record: &SourceRecord) -> Result<EncodedRecord, StageFailure> {
        let topic = &*record.topic;
        let mut key = None;
        if let Some(role) = self.key.as_mut() {
            let mut out = buffer_for(self.sizes.key);
            match role.converter.from_connect(
                topic,
                record.key_schema.as_deref(),
                &record.key,
                &mut out,
            ) {
                Ok(true) => {
                    self.sizes.key = out.len();
                    key = Some(out)
                }
                Ok(false) => {}
                Err(e) => return Err(failure(Stage::KeyConverter, &role.class, &e, "key")),
            }
        }
        let mut value = None;
        if let Some(role) = self.value.as_mut() {
            let mut out = buffer_for(self.sizes.value);
            match role.converter.from_connect(
                topic,
                record.value_schema.as_deref(),
                &record.value,
                &mut out,
            ) {
                Ok(true) => {
                    self.sizes.value = out.len();
                    value = Some(out)
                }
                Ok(false) => {}
                Err(e) => return Err(failure(Stage::ValueConverter, &role.class, &e, "value")),
            }
        }
        let mut headers = Vec::new();
        if let Some(role) = self.header.as_mut() {
            for h in &record.headers {
                let mut out = Vec::new();
                match role.converter.from_connect_header(
                    topic,
                    &h.key,
                    h.schema.as_deref(),
                    &h.value,
                    &mut out,
                ) {
                    Ok(true) => headers.push((h.key.clone(), Some(out))),
                    Ok(false) => headers.push((h.key.clone(), None)),
                    Err(e) => {
                        let what = format!("header `{}`", h.key);
                        return Err(failure(Stage::HeaderConverter, &role.class, &e, &what));
                    }
                }
            }
        }
        Ok(EncodedRecord {
            topic: record.topic.clone(),
            kafka_partition: record.kafka_partition,
            key,
            value,
            headers,
            timestamp: record.timestamp,
        })
    }
}
