//! Record-level failures: a record that fails a transform or a conversion.
//! With `errors.tolerance=none` it fails the task; with `all` it becomes a
//! dead-letter record carrying the context Kafka Connect puts in its
//! dead-letter-queue headers, and the job goes on.

use std::fmt;

use tracing::{error, warn};

use crate::config::{ErrorHandling, ErrorTolerance};
use crate::data::json::{to_json_string, write_json};
use crate::data::{Header, Schema, SourceRecord, Value};
use crate::transforms::{ChainError, TransformChain};

/// Header keys of a dead-letter record, as Kafka Connect names them
/// (`DeadLetterQueueReporter`), plus two for a source record's own position.
pub mod headers {
    /// The record's topic.
    pub const TOPIC: &str = "__connect.errors.topic";
    /// The record's Kafka partition, when the connector chose one.
    pub const PARTITION: &str = "__connect.errors.partition";
    /// The record's source partition, as JSON (source records have no Kafka offset).
    pub const SOURCE_PARTITION: &str = "__connect.errors.source.partition";
    /// The record's source offset, as JSON.
    pub const SOURCE_OFFSET: &str = "__connect.errors.source.offset";
    /// The connector's name.
    pub const CONNECTOR_NAME: &str = "__connect.errors.connector.name";
    /// The task's index.
    pub const TASK_ID: &str = "__connect.errors.task.id";
    /// The stage that failed (`TRANSFORMATION`, `VALUE_CONVERTER`, …).
    pub const STAGE: &str = "__connect.errors.stage";
    /// The class of the transform or converter that failed.
    pub const CLASS_NAME: &str = "__connect.errors.class.name";
    /// The Java exception class Kafka would have reported.
    pub const EXCEPTION_CLASS_NAME: &str = "__connect.errors.exception.class.name";
    /// The error message.
    pub const EXCEPTION_MESSAGE: &str = "__connect.errors.exception.message";
}

/// The stage of record processing that failed, with Kafka's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A single message transform (or its predicate).
    Transformation,
    /// The key converter.
    KeyConverter,
    /// The value converter.
    ValueConverter,
    /// The header converter.
    HeaderConverter,
}

impl Stage {
    /// Kafka's name for the stage (`TRANSFORMATION`, `KEY_CONVERTER`, …).
    pub fn kafka_name(self) -> &'static str {
        match self {
            Stage::Transformation => "TRANSFORMATION",
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kafka_name())
    }
}

/// Why one record failed one stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageFailure {
    /// The stage.
    pub stage: Stage,
    /// The transform or converter: its alias and class, e.g.
    /// `transforms.cast (org.apache.kafka.connect.transforms.Cast$Value)`.
    pub class_name: String,
    /// The Java exception class Kafka would have thrown.
    pub exception_class: String,
    /// The error message.
    pub message: String,
}

impl fmt::Display for StageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed in {}: {}: {}",
            self.class_name, self.stage, self.exception_class, self.message
        )
    }
}

/// What the task thread runs on every polled record before it is emitted:
/// in practice the connector's transform chain.
pub trait RecordProcessor: Send {
    /// Processes one record: `Ok(Some(r))` emits `r`, `Ok(None)` drops the
    /// record (its offset still counts as read), `Err` is a record-level
    /// failure handled by `errors.tolerance`.
    fn process(&mut self, record: SourceRecord) -> Result<Option<SourceRecord>, StageFailure>;
}

impl From<ChainError> for StageFailure {
    fn from(e: ChainError) -> Self {
        StageFailure {
            stage: Stage::Transformation,
            class_name: e.class.clone(),
            exception_class: e.exception_class().to_owned(),
            message: format!("transform `{}`: {}", e.alias, e.error),
        }
    }
}

impl RecordProcessor for TransformChain {
    fn process(&mut self, record: SourceRecord) -> Result<Option<SourceRecord>, StageFailure> {
        self.apply(record).map_err(StageFailure::from)
    }
}

/// Where a failed record is reported: the connector and task it came from.
#[derive(Clone, Debug)]
pub struct FailureContext<'a> {
    /// The connector's name.
    pub connector: &'a str,
    /// The task's index.
    pub task_id: usize,
}

/// One line naming the record's source position, for errors and logs.
pub fn describe_record(record: &SourceRecord) -> String {
    RecordPosition::of(record).describe()
}

/// A record's topic, source partition and offset, kept (cheap reference
/// counts, no formatting) so that [`describe_record`]'s text can be made
/// later, only if the record fails, after the record itself was consumed.
#[derive(Clone, Debug)]
pub struct RecordPosition {
    topic: std::sync::Arc<str>,
    partition: crate::data::SourcePartition,
    offset: crate::data::SourceOffset,
}

impl RecordPosition {
    /// The position of `record`.
    pub fn of(record: &SourceRecord) -> Self {
        RecordPosition {
            topic: record.topic.clone(),
            partition: record.source_partition.clone(),
            offset: record.source_offset.clone(),
        }
    }

    /// The same text as [`describe_record`].
    pub fn describe(&self) -> String {
        format!(
            "record for topic `{}`, partition {} at offset {}",
            self.topic, self.partition, self.offset
        )
    }
}

/// Logs a record-level failure as `errors.log.enable` asks.
pub fn log_failure(
    errors: &ErrorHandling,
    context: &FailureContext<'_>,
    record: &SourceRecord,
    failure: &StageFailure,
) {
    if !errors.log_enable {
        return;
    }
    let tolerated = errors.tolerance == ErrorTolerance::All;
    let position = describe_record(record);
    if errors.log_include_messages {
        let key = to_json_string(&record.key, record.key_schema.as_deref());
        let value = to_json_string(&record.value, record.value_schema.as_deref());
        if tolerated {
            warn!(connector = context.connector, task = context.task_id, %failure, %position, %key, %value, "record failed; sent to the dead-letter stream");
        } else {
            error!(connector = context.connector, task = context.task_id, %failure, %position, %key, %value, "record failed");
        }
    } else if tolerated {
        warn!(connector = context.connector, task = context.task_id, %failure, %position, "record failed; sent to the dead-letter stream");
    } else {
        error!(connector = context.connector, task = context.task_id, %failure, %position, "record failed");
    }
}

/// The dead-letter form of `record`: the record as it was before the
/// failing stage, with Kafka's `__connect.errors.*` headers appended.
///
/// ```
/// use std::sync::Arc;
/// use timely_connect::data::{SourceOffset, SourcePartition, SourceRecord, Value};
/// use timely_connect::runtime::{dead_letter, headers, FailureContext, Stage, StageFailure};
///
/// let record = SourceRecord::new(SourcePartition::single("filename", "in.txt"),
///     SourceOffset::int(&SourceOffset::key("position"), 6), Arc::from("lines"), None,
///     Value::from("x"));
/// let failure = StageFailure { stage: Stage::Transformation,
///     class_name: "org.apache.kafka.connect.transforms.Cast$Value".into(),
///     exception_class: "org.apache.kafka.connect.errors.DataException".into(),
///     message: "bad".into() };
/// let dead = dead_letter(record, &FailureContext { connector: "files", task_id: 0 }, &failure);
/// let stage = dead.headers.iter().find(|h| h.key == headers::STAGE).unwrap();
/// assert_eq!(stage.value.as_str(), Some("TRANSFORMATION"));
/// ```
pub fn dead_letter(
    mut record: SourceRecord,
    context: &FailureContext<'_>,
    failure: &StageFailure,
) -> SourceRecord {
    let string = |key: &str, value: String| Header {
        key: key.to_owned(),
        schema: Some(Schema::string()),
        value: Value::String(value),
    };
    let mut added = vec![string(headers::TOPIC, record.topic.to_string())];
    if let Some(p) = record.kafka_partition {
        added.push(Header {
            key: headers::PARTITION.to_owned(),
            schema: Some(Schema::int32()),
            value: Value::Int32(p),
        });
    }
    added.push(string(
        headers::SOURCE_PARTITION,
        record.source_partition.to_string(),
    ));
    added.push(string(
        headers::SOURCE_OFFSET,
        record.source_offset.to_string(),
    ));
    added.push(string(
        headers::CONNECTOR_NAME,
        context.connector.to_owned(),
    ));
    added.push(Header {
        key: headers::TASK_ID.to_owned(),
        schema: Some(Schema::int32()),
        value: Value::Int32(i32::try_from(context.task_id).unwrap_or(i32::MAX)),
    });
    added.push(string(
        headers::STAGE,
        failure.stage.kafka_name().to_owned(),
    ));
    added.push(string(headers::CLASS_NAME, failure.class_name.clone()));
    added.push(string(
        headers::EXCEPTION_CLASS_NAME,
        failure.exception_class.clone(),
    ));
    added.push(string(headers::EXCEPTION_MESSAGE, failure.message.clone()));
    record.headers.extend(added);
    record
}

/// Appends one JSON object for a dead-letter record, without a newline:
/// `{"topic":…,"headers":{…},"key":…,"value":…}`, headers in order, key
/// and value as JSON (Decimal, Date, Time and Timestamp in their readable
/// forms). This is the CLI's `--dead-letter-output` line.
pub fn write_dead_letter_json(out: &mut Vec<u8>, record: &SourceRecord) {
    let quoted = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes())
    };
    out.extend_from_slice(b"{\"topic\":");
    quoted(out, &record.topic);
    out.extend_from_slice(b",\"headers\":{");
    for (i, h) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        quoted(out, &h.key);
        out.push(b':');
        write_json(out, &h.value, h.schema.as_deref());
    }
    out.extend_from_slice(b"},\"key\":");
    write_json(out, &record.key, record.key_schema.as_deref());
    out.extend_from_slice(b",\"value\":");
    write_json(out, &record.value, record.value_schema.as_deref());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{SourceOffset, SourcePartition};

    fn failure() -> StageFailure {
        StageFailure {
            stage: Stage::ValueConverter,
            class_name: "org.apache.kafka.connect.json.JsonConverter".into(),
            exception_class: "org.apache.kafka.connect.errors.DataException".into(),
            message: "field `a`: expected INT32, got STRING".into(),
        }
    }

    #[test]
    fn dead_letter_keeps_the_record_and_adds_kafka_context_headers() {
        let record = SourceRecord::new(
            SourcePartition::single("filename", "in.txt"),
            SourceOffset::int(&SourceOffset::key("position"), 42),
            Arc::from("lines"),
            Some(Schema::string()),
            Value::from("hello"),
        )
        .with_header(Header {
            key: "own".into(),
            schema: None,
            value: Value::from("kept"),
        });
        let mut with_partition = record.clone();
        with_partition.kafka_partition = Some(3);
        let dead = dead_letter(
            with_partition,
            &FailureContext {
                connector: "files",
                task_id: 2,
            },
            &failure(),
        );
        assert_eq!(dead.value, record.value);
        assert_eq!(dead.headers[0].key, "own");
        let get = |k: &str| {
            dead.headers
                .iter()
                .find(|h| h.key == k)
                .map(|h| h.value.clone())
        };
        assert_eq!(get(headers::TOPIC), Some(Value::from("lines")));
        assert_eq!(get(headers::PARTITION), Some(Value::Int32(3)));
        assert_eq!(
            get(headers::SOURCE_PARTITION),
            Some(Value::from(r#"{"filename":"in.txt"}"#))
        );
        assert_eq!(
            get(headers::SOURCE_OFFSET),
            Some(Value::from(r#"{"position":42}"#))
        );
        assert_eq!(get(headers::CONNECTOR_NAME), Some(Value::from("files")));
        assert_eq!(get(headers::TASK_ID), Some(Value::Int32(2)));
        assert_eq!(get(headers::STAGE), Some(Value::from("VALUE_CONVERTER")));
        assert_eq!(
            get(headers::CLASS_NAME),
            Some(Value::from("org.apache.kafka.connect.json.JsonConverter"))
        );
        assert_eq!(
            get(headers::EXCEPTION_CLASS_NAME),
            Some(Value::from("org.apache.kafka.connect.errors.DataException"))
        );
        assert_eq!(
            get(headers::EXCEPTION_MESSAGE),
            Some(Value::from("field `a`: expected INT32, got STRING"))
        );
    }

    #[test]
    fn dead_letter_json_line_has_topic_headers_key_and_value() {
        let record = SourceRecord::new(
            SourcePartition::single("filename", "in.txt"),
            SourceOffset::int(&SourceOffset::key("position"), 9),
            Arc::from("lines"),
            Some(Schema::string()),
            Value::from("a \"quoted\" line"),
        );
        let dead = dead_letter(
            record,
            &FailureContext {
                connector: "files",
                task_id: 0,
            },
            &failure(),
        );
        let mut out = Vec::new();
        write_dead_letter_json(&mut out, &dead);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["topic"], "lines");
        assert_eq!(json["value"], "a \"quoted\" line");
        assert_eq!(json["key"], serde_json::Value::Null);
        assert_eq!(json["headers"][headers::STAGE], "VALUE_CONVERTER");
        assert_eq!(json["headers"][headers::TASK_ID], 0);
        assert_eq!(json["headers"][headers::SOURCE_OFFSET], r#"{"position":9}"#);
    }

    #[test]
    fn stage_failure_names_class_stage_and_cause() {
        assert_eq!(
            failure().to_string(),
            "org.apache.kafka.connect.json.JsonConverter failed in VALUE_CONVERTER: \
             org.apache.kafka.connect.errors.DataException: field `a`: expected INT32, got STRING"
        );
    }
}
