//! `FileStreamSource`: the lines of a file, following it as it grows, with
//! the source partitions and offsets of Kafka's `FileStreamSourceConnector`
//! (`{"filename": …}` / `{"position": …}`), so offsets move between the two.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use memchr::memchr;

use crate::api::{
    ConnectError, ConnectorPlugin, SourceConnector, SourceTask, SourceTaskContext, StopToken,
    TaskConfig,
};
use crate::config::{ConfigDef, ConfigKey, ConfigType, Importance, Properties, Validator};
use crate::data::{Schema, SchemaRef, SourceOffset, SourcePartition, SourceRecord, Value};

use super::{describe, describe_task, parse_config, required};

/// The class name `connector.class` accepts.
pub const CLASS: &str = "FileStreamSource";
/// Kafka's class name, accepted as an alias.
pub const KAFKA_CLASS: &str = "org.apache.kafka.connect.file.FileStreamSourceConnector";

/// The file to read (Kafka's `file`).
pub const FILE_CONFIG: &str = "file";
/// The topic records are addressed to (Kafka's `topic`).
pub const TOPIC_CONFIG: &str = "topic";
/// The most records one `poll` returns (Kafka's `batch.size`).
pub const BATCH_SIZE_CONFIG: &str = "batch.size";
/// Default of [`BATCH_SIZE_CONFIG`], as in Kafka.
pub const DEFAULT_BATCH_SIZE: i32 = 2000;

/// The longest line, in bytes, a task accepts (ours: Kafka's
/// FileStreamSource has no limit and grows without bound on a file with no
/// newline, such as `/dev/zero`).
pub const MAX_RECORD_BYTES_CONFIG: &str = "max.record.bytes";
/// Default of [`MAX_RECORD_BYTES_CONFIG`]: 1 MiB, Kafka's default largest
/// message (`message.max.bytes`).
pub const DEFAULT_MAX_RECORD_BYTES: i32 = 1 << 20;

/// Source-partition key: the file name as configured (Kafka's `filename`).
pub const FILENAME_FIELD: &str = "filename";
/// Source-offset key: the byte position just after the last line read
/// (Kafka's `position`).
pub const POSITION_FIELD: &str = "position";

/// Size of the read buffer; a longer line grows it.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// How long `poll` waits at the end of the file before returning nothing.
const EOF_WAIT: Duration = Duration::from_millis(100);

/// Registers [`FileStreamSource`] under [`CLASS`] and [`KAFKA_CLASS`].
pub(crate) fn plugin() -> ConnectorPlugin {
    ConnectorPlugin::new(
        CLASS,
        &[KAFKA_CLASS],
        "Reads the lines of a file, following it as it grows.",
        || Box::new(FileStreamSource::default()),
    )
}

/// Reads a file line by line, following it as it grows, like Kafka's
/// `FileStreamSourceConnector`. One task.
///
/// Each record has a STRING value (the line without `\n` or `\r\n`), no key,
/// source partition `{"filename": <file>}` and source offset
/// `{"position": <byte just after the line>}`. A restarted task resumes after
/// the last line in the snapshot. A last line without its newline yet is held
/// back until the newline arrives.
///
/// ```
/// use std::io::Write;
/// use timely_connect::config::parse_properties;
/// use timely_connect::api::{OffsetStorageReader, StopToken};
/// use timely_connect::connectors::file::FileStreamSource;
/// use timely_connect::{SourceConnector, SourceTaskContext};
///
/// let mut input = tempfile::NamedTempFile::new().unwrap();
/// input.write_all(b"hello\nworld\n").unwrap();
/// let text = format!(
///     "name=lines\n\
///      connector.class=FileStreamSource\n\
///      file={}\n\
///      topic=lines\n\
///      batch.size=1000\n",
///     input.path().display()
/// );
/// let props = parse_properties(&text, "lines.properties").unwrap();
///
/// let mut connector = FileStreamSource::default();
/// connector.start(&props).unwrap();
/// let configs = connector.task_configs(4).unwrap();
/// assert_eq!(configs.len(), 1); // always one task
///
/// let mut task = connector.create_task();
/// let context = SourceTaskContext::new(
///     "lines", 0, configs[0].clone(), OffsetStorageReader::default(), StopToken::new());
/// task.start(context).unwrap();
/// let records = task.poll().unwrap().unwrap();
/// assert_eq!(records[1].value.as_str(), Some("world"));
/// assert_eq!(records[1].source_offset.get_i64("position"), Some(12));
/// ```
#[derive(Debug, Default)]
pub struct FileStreamSource {
    props: Properties,
}

impl FileStreamSource {
    /// The keys `FileStreamSource` accepts: `file`, `topic`, `batch.size`.
    pub fn definition() -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    FILE_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The file to read. Required (Kafka reads standard input when it is \
                     unset; this connector does not). The name is used as given in the \
                     source partition {\"filename\": <file>}, so keep it the same across \
                     restarts to resume.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new(
                    TOPIC_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The topic each record is addressed to.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new(
                    BATCH_SIZE_CONFIG,
                    ConfigType::Int,
                    Importance::Low,
                    "The most records one poll returns.",
                )
                .default_value(&DEFAULT_BATCH_SIZE.to_string())
                .validator(Validator::at_least(1.0)),
            )
            .define(
                ConfigKey::new(
                    MAX_RECORD_BYTES_CONFIG,
                    ConfigType::Int,
                    Importance::Low,
                    "The longest line in bytes (without its newline). A longer line, or a \
                     file with no newline at all, fails the task with an error naming the \
                     file and the line's byte offset, instead of growing memory without \
                     bound. Not in Kafka's FileStreamSource, which has no limit; the \
                     default is Kafka's default largest message, 1 MiB.",
                )
                .default_value(&DEFAULT_MAX_RECORD_BYTES.to_string())
                .validator(Validator::at_least(1.0)),
            )
    }
}

impl SourceConnector for FileStreamSource {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn config_def(&self) -> ConfigDef {
        Self::definition()
    }

    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        let who = describe(CLASS, props, None);
        parse_config(&Self::definition(), props, &who)?;
        self.props = props.clone();
        Ok(())
    }

    /// One task, whatever `max_tasks` is: a file is read in order.
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let _ = max_tasks;
        Ok(vec![self.props.clone()])
    }

    fn identity_keys(&self) -> &'static [&'static str] {
        &[FILE_CONFIG]
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(FileStreamSourceTask::default())
    }
}

/// What goes wrong while reading; every message names the connector, task
/// and file.
#[derive(Debug, thiserror::Error)]
enum FileSourceError {
    #[error("{who}: cannot open file `{file}`: {source}")]
    Open {
        who: String,
        file: String,
        source: io::Error,
    },
    #[error("{who}: cannot read file `{file}` at byte {position}: {source}")]
    Read {
        who: String,
        file: String,
        position: u64,
        source: io::Error,
    },
    #[error(
        "{who}: restored position {position} is beyond the end of file `{file}` \
         ({length} bytes); the file was truncated or replaced since the snapshot"
    )]
    PositionBeyondEnd {
        who: String,
        file: String,
        position: u64,
        length: u64,
    },
    #[error(
        "{who}: file `{file}` shrank to {length} bytes while being read at byte \
         {position}; it was truncated or replaced"
    )]
    Truncated {
        who: String,
        file: String,
        position: u64,
        length: u64,
    },
    #[error(
        "{who}: the line of file `{file}` that starts at byte {position} is longer than \
         {max} bytes (max.record.bytes) with no newline yet; raise max.record.bytes, or \
         check that the file is text"
    )]
    RecordTooLarge {
        who: String,
        file: String,
        position: u64,
        max: usize,
    },
    #[error(
        "{who}: restored offset {offset} of file `{file}` has no non-negative integer `position`"
    )]
    BadOffset {
        who: String,
        file: String,
        offset: String,
    },
}

impl From<FileSourceError> for ConnectError {
    fn from(e: FileSourceError) -> Self {
        ConnectError::fatal(e.to_string())
    }
}

/// The task of [`FileStreamSource`]: reads its file and follows it.
#[derive(Debug, Default)]
pub struct FileStreamSourceTask {
    reader: Option<LineReader>,
}

/// An open file and everything a record shares, built once in `start`.
#[derive(Debug)]
struct LineReader {
    who: String,
    file_name: String,
    file: File,
    stop: StopToken,
    batch_size: usize,
    /// `max.record.bytes`: the longest pending line.
    max_record_bytes: usize,
    partition: SourcePartition,
    topic: Arc<str>,
    schema: SchemaRef,
    offset_key: Arc<str>,
    /// `buf[start..end]` is read but not yet emitted; `buf[start..scan]`
    /// is known to hold no newline.
    buf: Vec<u8>,
    start: usize,
    scan: usize,
    end: usize,
    /// The file position of `buf[start]`: just after the last emitted line.
    position: u64,
}

impl SourceTask for FileStreamSourceTask {
    /// A line is a STRING value of its STRING schema.
    fn records_match_schemas(&self) -> bool {
        true
    }

    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let who = describe_task(CLASS, &context.connector, context.task_id);
        let config = parse_config(&FileStreamSource::definition(), context.configs(), &who)?;
        let file_name = required(config.string(FILE_CONFIG), &who, FILE_CONFIG)?.to_owned();
        let topic = required(config.string(TOPIC_CONFIG), &who, TOPIC_CONFIG)?;
        let batch_size = required(config.int(BATCH_SIZE_CONFIG), &who, BATCH_SIZE_CONFIG)?;
        let batch_size = usize::try_from(batch_size).unwrap_or(1).max(1);
        let max_record_bytes = required(
            config.int(MAX_RECORD_BYTES_CONFIG),
            &who,
            MAX_RECORD_BYTES_CONFIG,
        )?;
        let max_record_bytes = usize::try_from(max_record_bytes).unwrap_or(1).max(1);

        let partition = SourcePartition::single(FILENAME_FIELD, file_name.as_str());
        let position = match context.offset_storage_reader().offset(&partition) {
            None => 0,
            Some(offset) => match offset.get_i64(POSITION_FIELD).map(u64::try_from) {
                Some(Ok(position)) => position,
                _ => {
                    return Err(FileSourceError::BadOffset {
                        who,
                        file: file_name,
                        offset: offset.to_json().to_string(),
                    }
                    .into())
                }
            },
        };

        let open_error = |source| FileSourceError::Open {
            who: who.clone(),
            file: file_name.clone(),
            source,
        };
        let mut file = File::open(&file_name).map_err(open_error)?;
        let length = file.metadata().map_err(open_error)?.len();
        if position > length {
            return Err(FileSourceError::PositionBeyondEnd {
                who,
                file: file_name,
                position,
                length,
            }
            .into());
        }
        if position > 0 {
            file.seek(SeekFrom::Start(position))
                .map_err(|source| FileSourceError::Read {
                    who: who.clone(),
                    file: file_name.clone(),
                    position,
                    source,
                })?;
        }
        tracing::info!(
            connector = %context.connector,
            task = context.task_id,
            file = %file_name,
            position,
            "file source started"
        );

        self.reader = Some(LineReader {
            who,
            file,
            stop: context.stop_token().clone(),
            batch_size,
            max_record_bytes,
            partition,
            topic: Arc::from(topic),
            schema: Schema::string(),
            offset_key: SourceOffset::key(POSITION_FIELD),
            buf: vec![0; READ_BUFFER_BYTES],
            start: 0,
            scan: 0,
            end: 0,
            position,
            file_name,
        });
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(reader) = self.reader.as_mut() else {
            return Err(ConnectError::fatal(format!(
                "{CLASS}: poll called before start"
            )));
        };
        let records = reader.next_batch()?;
        if !records.is_empty() {
            return Ok(Some(records));
        }
        reader.check_not_truncated()?;
        reader.stop.sleep(EOF_WAIT);
        Ok(None)
    }

    fn stop(&mut self) {
        if let Some(reader) = self.reader.take() {
            tracing::info!(file = %reader.file_name, position = reader.position, "file source stopped");
        }
    }
}

impl LineReader {
    /// Up to `batch_size` complete lines; empty at the end of the file.
    fn next_batch(&mut self) -> Result<Vec<SourceRecord>, FileSourceError> {
        let mut records = Vec::with_capacity(self.batch_size.min(4096));
        // Fresh shared parts per batch, not one set for the whole run: the
        // worker thread drops these records while this thread makes the next
        // batch, and reference counts shared by both would bounce between
        // the cores on every record (measured: 2-3x slower).
        let partition = SourcePartition::new(self.partition.map().clone());
        let topic: Arc<str> = Arc::from(&*self.topic);
        let schema: SchemaRef = Arc::new((*self.schema).clone());
        let offset_key: Arc<str> = Arc::from(&*self.offset_key);
        loop {
            while records.len() < self.batch_size {
                let Some(found) = memchr(b'\n', &self.buf[self.scan..self.end]) else {
                    self.scan = self.end;
                    break;
                };
                let newline = self.scan + found;
                let mut line_end = newline;
                if line_end > self.start && self.buf[line_end - 1] == b'\r' {
                    line_end -= 1;
                }
                let line = decode(&self.buf[self.start..line_end]);
                self.position += (newline + 1 - self.start) as u64;
                self.start = newline + 1;
                self.scan = self.start;
                records.push(SourceRecord::new(
                    partition.clone(),
                    SourceOffset::int(&offset_key, self.position as i64),
                    topic.clone(),
                    Some(schema.clone()),
                    Value::String(line),
                ));
            }
            if records.len() >= self.batch_size {
                return Ok(records);
            }
            match self.fill() {
                Ok(0) => return Ok(records),
                Ok(_) => {}
                // The lines before the failure go out first; the next poll
                // meets the failure again, with nothing before it.
                Err(_) if !records.is_empty() => return Ok(records),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads more of the file after the unread bytes; returns how many bytes
    /// arrived (0 at the end of the file).
    fn fill(&mut self) -> Result<usize, FileSourceError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scan -= self.start;
            self.start = 0;
        }
        if self.end > self.max_record_bytes {
            // Everything unread is one line without its newline.
            return Err(FileSourceError::RecordTooLarge {
                who: self.who.clone(),
                file: self.file_name.clone(),
                position: self.position,
                max: self.max_record_bytes,
            });
        }
        if self.end == self.buf.len() {
            // One line longer than the buffer: make room for the rest of it.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(FileSourceError::Read {
                        who: self.who.clone(),
                        file: self.file_name.clone(),
                        position: self.position + (self.end - self.start) as u64,
                        source,
                    })
                }
            }
        }
    }

    /// At the end of the file: fails if the file is now shorter than what
    /// has been read (it was truncated under us).
    fn check_not_truncated(&self) -> Result<(), FileSourceError> {
        let read = self.position + (self.end - self.start) as u64;
        let length = self
            .file
            .metadata()
            .map_err(|source| FileSourceError::Read {
                who: self.who.clone(),
                file: self.file_name.clone(),
                position: read,
                source,
            })?
            .len();
        if length < read {
            return Err(FileSourceError::Truncated {
                who: self.who.clone(),
                file: self.file_name.clone(),
                position: read,
                length,
            });
        }
        Ok(())
    }
}

/// A line as text; invalid UTF-8 is replaced with U+FFFD, as Kafka's reader does.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;
    use crate::api::OffsetStorageReader;

    fn props(file: &str) -> Properties {
        [("name", "lines"), ("file", file), ("topic", "lines")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn start_task(
        props: Properties,
        offsets: HashMap<SourcePartition, SourceOffset>,
    ) -> Result<FileStreamSourceTask, ConnectError> {
        let mut connector = FileStreamSource::default();
        connector.start(&props)?;
        let config = connector.task_configs(3)?.remove(0);
        let context = SourceTaskContext::new(
            "lines",
            0,
            config,
            OffsetStorageReader::new(offsets.into_iter().collect()),
            StopToken::new(),
        );
        let mut task = FileStreamSourceTask::default();
        task.start(context)?;
        Ok(task)
    }

    fn lines(records: &[SourceRecord]) -> Vec<(String, i64)> {
        records
            .iter()
            .map(|r| {
                (
                    r.value.as_str().unwrap().to_owned(),
                    r.source_offset.get_i64(POSITION_FIELD).unwrap(),
                )
            })
            .collect()
    }

    fn drain(task: &mut FileStreamSourceTask) -> Vec<SourceRecord> {
        let mut all = Vec::new();
        while let Some(batch) = task.poll().unwrap() {
            all.extend(batch);
        }
        all
    }

    fn position_of(file: &str, position: i64) -> HashMap<SourcePartition, SourceOffset> {
        let partition = SourcePartition::single(FILENAME_FIELD, file);
        let offset = SourceOffset::int(&SourceOffset::key(POSITION_FIELD), position);
        [(partition, offset)].into_iter().collect()
    }

    #[test]
    fn file_source_reads_lines_with_kafka_offsets() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"one\ntwo\r\n\nthree\n").unwrap();
        let name = f.path().display().to_string();
        let mut task = start_task(props(&name), HashMap::new()).unwrap();
        let records = drain(&mut task);
        assert_eq!(
            lines(&records),
            vec![
                ("one".to_owned(), 4),
                ("two".to_owned(), 9),
                (String::new(), 10),
                ("three".to_owned(), 16)
            ]
        );
        let r = &records[0];
        assert_eq!(
            r.source_partition.to_json().to_string(),
            format!(r#"{{"filename":{:?}}}"#, name)
        );
        assert_eq!(r.source_offset.to_json().to_string(), r#"{"position":4}"#);
        assert_eq!(&*r.topic, "lines");
        assert_eq!(r.key, Value::Null);
        assert_eq!(
            r.value_schema.as_deref().map(|s| s.schema_type),
            Some(crate::SchemaType::String)
        );
        r.validate().unwrap();
    }

    #[test]
    fn file_source_returns_batches_of_batch_size() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for i in 0..25 {
            writeln!(f, "line {i}").unwrap();
        }
        let mut p = props(&f.path().display().to_string());
        p.insert(BATCH_SIZE_CONFIG.to_owned(), "10".to_owned());
        let mut task = start_task(p, HashMap::new()).unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| task.poll().unwrap())
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, vec![10, 10, 5]);
    }

    #[test]
    fn file_source_resumes_from_position() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"alpha\nbeta\ngamma\n").unwrap();
        let name = f.path().display().to_string();
        let first = drain(&mut start_task(props(&name), HashMap::new()).unwrap());
        let resume_at = first[0].source_offset.get_i64(POSITION_FIELD).unwrap();

        let mut task = start_task(props(&name), position_of(&name, resume_at)).unwrap();
        assert_eq!(lines(&drain(&mut task)), lines(&first[1..]));

        // Resuming at the very end reads nothing, and is no error.
        let mut task = start_task(props(&name), position_of(&name, 17)).unwrap();
        assert!(drain(&mut task).is_empty());
    }

    #[test]
    fn file_source_position_beyond_end_is_clear_error() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"short\n").unwrap();
        let name = f.path().display().to_string();
        let err = start_task(props(&name), position_of(&name, 1000))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&name), "{err}");
        assert!(err.contains("1000") && err.contains("6 bytes"), "{err}");
        assert!(
            err.contains("FileStreamSource connector `lines` task 0"),
            "{err}"
        );
    }

    #[test]
    fn file_source_follows_growing_file() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"first\n").unwrap();
        let name = f.path().display().to_string();
        let mut task = start_task(props(&name), HashMap::new()).unwrap();
        assert_eq!(
            lines(&task.poll().unwrap().unwrap()),
            vec![("first".to_owned(), 6)]
        );

        let started = std::time::Instant::now();
        assert!(task.poll().unwrap().is_none());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(50),
            "waited only {waited:?} at EOF"
        );

        f.write_all(b"second\nthird\n").unwrap();
        f.flush().unwrap();
        assert_eq!(
            lines(&task.poll().unwrap().unwrap()),
            vec![("second".to_owned(), 13), ("third".to_owned(), 19)]
        );
    }

    #[test]
    fn file_source_eof_wait_ends_when_stopped() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut connector = FileStreamSource::default();
        connector
            .start(&props(&f.path().display().to_string()))
            .unwrap();
        let stop = StopToken::new();
        let context = SourceTaskContext::new(
            "lines",
            0,
            connector.task_configs(1).unwrap().remove(0),
            OffsetStorageReader::default(),
            stop.clone(),
        );
        let mut task = FileStreamSourceTask::default();
        task.start(context).unwrap();
        stop.stop();
        let started = std::time::Instant::now();
        assert!(task.poll().unwrap().is_none());
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn a_line_longer_than_max_record_bytes_fails_naming_file_and_offset() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"short\n0123456789abcdef\n").unwrap();
        f.write_all(&[b'x'; 40]).unwrap();
        let name = f.path().display().to_string();
        let mut p = props(&name);
        p.insert(MAX_RECORD_BYTES_CONFIG.into(), "16".into());
        let mut task = start_task(p, HashMap::new()).unwrap();
        // A line of exactly the limit passes; the unterminated 40 bytes fail.
        let mut seen = Vec::new();
        let err = loop {
            match task.poll() {
                Ok(Some(batch)) => seen.extend(batch),
                Ok(None) => panic!("the over-long line was held back without an error"),
                Err(e) => break e.to_string(),
            }
        };
        assert_eq!(
            lines(&seen),
            vec![("short".to_owned(), 6), ("0123456789abcdef".to_owned(), 23)]
        );
        assert!(err.contains(&name) && err.contains("byte 23"), "{err}");
        assert!(
            err.contains("max.record.bytes") && err.contains("16 bytes"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_fails_within_the_limit_instead_of_growing() {
        let mut task = start_task(props("/dev/zero"), HashMap::new()).unwrap();
        let err = task.poll().unwrap_err().to_string();
        assert!(err.contains("/dev/zero") && err.contains("byte 0"), "{err}");
        let reader = task.reader.as_ref().unwrap();
        assert!(
            reader.buf.len() <= 2 * DEFAULT_MAX_RECORD_BYTES as usize,
            "the buffer stayed bounded: {} bytes",
            reader.buf.len()
        );
    }

    #[test]
    fn file_source_holds_back_partial_line() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"done\nhalf").unwrap();
        let name = f.path().display().to_string();
        let mut task = start_task(props(&name), HashMap::new()).unwrap();
        assert_eq!(lines(&drain(&mut task)), vec![("done".to_owned(), 5)]);

        f.write_all(b" way\r").unwrap();
        assert!(task.poll().unwrap().is_none());
        f.write_all(b"\n").unwrap();
        assert_eq!(lines(&drain(&mut task)), vec![("half way".to_owned(), 15)]);
    }

    #[test]
    fn file_source_reads_lines_longer_than_its_buffer() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let long = "x".repeat(READ_BUFFER_BYTES * 2 + 17);
        writeln!(f, "a\n{long}\nb").unwrap();
        let mut p = props(&f.path().display().to_string());
        p.insert(MAX_RECORD_BYTES_CONFIG.into(), (long.len() + 1).to_string());
        let mut task = start_task(p, HashMap::new()).unwrap();
        let got = lines(&drain(&mut task));
        let ends: Vec<i64> = got.iter().map(|(_, p)| *p).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, long);
        assert_eq!(
            ends,
            vec![2, 2 + long.len() as i64 + 1, 2 + long.len() as i64 + 3]
        );
    }

    #[test]
    fn file_source_missing_file_is_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join("absent.txt").display().to_string();
        let err = start_task(props(&name), HashMap::new()).unwrap_err();
        assert!(!err.is_retriable());
        let msg = err.to_string();
        assert!(
            msg.contains("FileStreamSource connector `lines` task 0"),
            "{msg}"
        );
        assert!(msg.contains(&name), "{msg}");
        let os = io::Error::from(io::ErrorKind::NotFound).to_string();
        assert!(msg.contains("No such file") || msg.contains(&os), "{msg}");
    }

    #[test]
    fn file_source_config_errors_name_every_key() {
        let mut p = Properties::new();
        p.insert("name".to_owned(), "lines".to_owned());
        p.insert(BATCH_SIZE_CONFIG.to_owned(), "0".to_owned());
        let issues = FileStreamSource::default().validate(&p);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&FILE_CONFIG), "{issues:?}");
        assert!(keys.contains(&TOPIC_CONFIG), "{issues:?}");
        assert!(keys.contains(&BATCH_SIZE_CONFIG), "{issues:?}");

        let err = FileStreamSource::default().start(&p).unwrap_err();
        assert!(matches!(err, ConnectError::Config(_)));
        let msg = err.to_string();
        assert!(msg.contains("FileStreamSource connector `lines`"), "{msg}");
        assert!(
            msg.contains("batch.size") && msg.contains("file") && msg.contains("topic"),
            "{msg}"
        );
    }

    #[test]
    fn file_source_is_registered_with_kafka_alias() {
        let registry = crate::plugins::PluginSet::builtin();
        assert!(registry.find(CLASS).is_some());
        assert!(registry.find(KAFKA_CLASS).is_some());
    }
}
