//! `SpoolDirSource`: the lines of every file that lands in a directory,
//! each file read exactly once, with the keys of the popular
//! spool-directory connectors for Kafka Connect (`input.path`,
//! `input.file.pattern`, `finished.path`, `cleanup.policy`, …).
//!
//! The connector watches `input.path` (on worker 0, five times a second)
//! and spreads the files it finds over up to `tasks.max` tasks. A file that
//! appears later asks for a task reconfiguration: the running job replaces
//! its tasks at an epoch boundary, every file's offset carried over (see
//! `timely_connect_operators`' live reconfiguration), so a file half read
//! by an old task is finished by a new one, from where it stopped.
//!
//! A file's source partition is `{"fileName": <name>}`; its offset
//! `{"offset": <lines read>, "position": <byte after them>, "finished":
//! <read to its end>}`. A finished file is moved to `finished.path`
//! (`cleanup.policy=MOVE`, the default) or deleted (`DELETE`) only once the
//! snapshot that records it finished is durable (the task's `commit`), so
//! a crash never loses a file's lines: a restart finds the file still in
//! `input.path` and its offset finished, and moves it then.
//!
//! Files must be complete when they appear in `input.path` (write them
//! elsewhere and rename them in, or name them with a leading `.` until
//! they are complete, or set `file.minimum.age.ms`). File names must not
//! repeat: a name whose offset says finished is not read again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::api::{
    ConnectError, ConnectorPlugin, ConnectorRequests, SourceConnector, SourceTask,
    SourceTaskContext, TaskConfig,
};
use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties, Validator,
};
use crate::data::{
    OffsetValue, Schema, SchemaRef, SourceOffset, SourcePartition, SourceRecord, Value,
};

use super::{describe, describe_task, parse_config, required};

/// The class name `connector.class` accepts.
pub const CLASS: &str = "SpoolDirSource";
/// The class name of the line-delimited spool-directory connector for
/// Kafka Connect, accepted as an alias.
pub const SPOOLDIR_CLASS: &str =
    "com.github.jcustenborder.kafka.connect.spooldir.SpoolDirLineDelimitedSourceConnector";

/// The directory to watch.
pub const INPUT_PATH_CONFIG: &str = "input.path";
/// A regular expression a file's whole name must match to be read.
pub const INPUT_FILE_PATTERN_CONFIG: &str = "input.file.pattern";
/// Where finished files go (`cleanup.policy=MOVE`).
pub const FINISHED_PATH_CONFIG: &str = "finished.path";
/// Where files that cannot be read go (`halt.on.error=false`).
pub const ERROR_PATH_CONFIG: &str = "error.path";
/// `NONE`, `DELETE` or `MOVE`: what happens to a finished file.
pub const CLEANUP_POLICY_CONFIG: &str = "cleanup.policy";
/// A file is read only once it is this old (its modification time).
pub const FILE_MINIMUM_AGE_MS_CONFIG: &str = "file.minimum.age.ms";
/// Fail the task on a file that cannot be read (else move it aside).
pub const HALT_ON_ERROR_CONFIG: &str = "halt.on.error";
/// The topic records are addressed to.
pub const TOPIC_CONFIG: &str = "topic";
/// The most records one `poll` returns.
pub const BATCH_SIZE_CONFIG: &str = "batch.size";
/// How long a task with nothing to read waits before its `poll` returns.
pub const EMPTY_POLL_WAIT_MS_CONFIG: &str = "empty.poll.wait.ms";

/// Source-partition key: the file's name in `input.path`.
pub const FILE_NAME_FIELD: &str = "fileName";
/// Source-offset keys: lines read, the byte after them, and whether the
/// file was read to its end.
pub const OFFSET_FIELD: &str = "offset";
/// See [`OFFSET_FIELD`].
pub const POSITION_FIELD: &str = "position";
/// See [`OFFSET_FIELD`].
pub const FINISHED_FIELD: &str = "finished";

/// The task config key that lists a task's files (a JSON array of names).
const TASK_FILES: &str = "spooldir.task.files";
/// The longest line a task accepts (1 MiB, as the file source's default).
const MAX_LINE_BYTES: u64 = 1 << 20;

/// Registers [`SpoolDirSource`].
pub(crate) fn plugin() -> ConnectorPlugin {
    ConnectorPlugin::new(
        CLASS,
        &[SPOOLDIR_CLASS],
        "Reads every file that lands in a directory, each exactly once.",
        || Box::new(SpoolDirSource::default()),
    )
}

/// What to do with a finished file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cleanup {
    None,
    Delete,
    Move,
}

/// The settings every part of the connector reads.
#[derive(Clone, Debug)]
struct Settings {
    input: PathBuf,
    pattern: Regex,
    finished: Option<PathBuf>,
    error: Option<PathBuf>,
    cleanup: Cleanup,
    min_age: Duration,
    halt_on_error: bool,
    topic: Arc<str>,
    batch_size: usize,
    empty_wait: Duration,
}

/// The spool-directory connector: see the [module documentation](self).
///
/// ```
/// use timely_connect::api::SourceConnector;
/// use timely_connect::connectors::spooldir::SpoolDirSource;
///
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("in"))?;
/// std::fs::write(dir.path().join("in/a.txt"), "one\ntwo\n")?;
/// let mut props = timely_connect::Properties::new();
/// for (k, v) in [("name", "spool"), ("topic", "lines"), ("input.file.pattern", ".*\\.txt"),
///                ("cleanup.policy", "NONE")] {
///     props.insert(k.into(), v.into());
/// }
/// props.insert("input.path".into(), dir.path().join("in").display().to_string());
/// let mut connector = SpoolDirSource::default();
/// connector.start(&props)?;
/// let configs = connector.task_configs(4)?;
/// assert_eq!(configs.len(), 1); // one file, one task
/// std::fs::write(dir.path().join("in/b.txt"), "three\n")?;
/// assert!(connector.context_requests().reconfigure); // a new file
/// assert_eq!(connector.task_configs(4)?.len(), 2);
/// assert!(!connector.context_requests().reconfigure);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct SpoolDirSource {
    props: Properties,
    settings: Option<Settings>,
    /// The files the last task configs hold.
    assigned: Mutex<BTreeSet<String>>,
}

impl SpoolDirSource {
    /// The keys `SpoolDirSource` accepts.
    pub fn definition() -> ConfigDef {
        let key = |name, ty, importance, doc| ConfigKey::new(name, ty, importance, doc);
        ConfigDef::new()
            .define(
                key(
                    INPUT_PATH_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The directory to read files from.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(
                key(
                    INPUT_FILE_PATTERN_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "A regular expression that a file's whole name must match to be read. \
                     Names starting with `.` are never read (a file being written).",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(
                key(
                    TOPIC_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The topic each record is addressed to.",
                )
                .validator(Validator::NonEmptyString),
            )
            .define(
                key(
                    CLEANUP_POLICY_CONFIG,
                    ConfigType::String,
                    Importance::Medium,
                    "What happens to a file once the snapshot that records it read to its \
                     end is durable: MOVE it to finished.path, DELETE it, or NONE (leave it; \
                     it is not read again).",
                )
                .default_value("MOVE")
                .validator(Validator::one_of(&["NONE", "DELETE", "MOVE"])),
            )
            .define(
                key(
                    FINISHED_PATH_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The directory finished files are moved to (cleanup.policy=MOVE).",
                )
                .optional(),
            )
            .define(
                key(
                    ERROR_PATH_CONFIG,
                    ConfigType::String,
                    Importance::Medium,
                    "The directory files that cannot be read are moved to \
                     (halt.on.error=false); unset, they are left where they are and skipped.",
                )
                .optional(),
            )
            .define(
                key(
                    FILE_MINIMUM_AGE_MS_CONFIG,
                    ConfigType::Long,
                    Importance::Low,
                    "A file is read only once its modification time is this many \
                     milliseconds old, for writers that cannot rename a complete file in.",
                )
                .default_value("0")
                .validator(Validator::at_least(0.0)),
            )
            .define(
                key(
                    HALT_ON_ERROR_CONFIG,
                    ConfigType::Boolean,
                    Importance::Medium,
                    "Fail the task on a file that cannot be read; false moves it to \
                     error.path (if set) and goes on with the next.",
                )
                .default_value("true"),
            )
            .define(
                key(
                    BATCH_SIZE_CONFIG,
                    ConfigType::Int,
                    Importance::Low,
                    "The most records one poll returns.",
                )
                .default_value("1000")
                .validator(Validator::at_least(1.0)),
            )
            .define(
                key(
                    EMPTY_POLL_WAIT_MS_CONFIG,
                    ConfigType::Long,
                    Importance::Low,
                    "How long a task with nothing left to read waits in poll.",
                )
                .default_value("250")
                .validator(Validator::at_least(1.0)),
            )
    }

    fn settings(props: &Properties, who: &str) -> Result<Settings, ConnectError> {
        let issues = cross_issues(props);
        if !issues.is_empty() {
            return Err(super::config_error(who, &issues));
        }
        let parsed = parse_config(&Self::definition(), props, who)?;
        let text = |key| required(parsed.string(key), who, key).map(str::to_owned);
        let pattern_text = text(INPUT_FILE_PATTERN_CONFIG)?;
        let pattern = Regex::new(&format!("^(?:{pattern_text})$")).map_err(|e| {
            ConnectError::Config(format!("{who}: `{INPUT_FILE_PATTERN_CONFIG}`: {e}"))
        })?;
        let cleanup = match text(CLEANUP_POLICY_CONFIG)?.to_ascii_uppercase().as_str() {
            "DELETE" => Cleanup::Delete,
            "MOVE" => Cleanup::Move,
            _ => Cleanup::None,
        };
        let millis = |key| {
            required(parsed.long(key), who, key).map(|v| Duration::from_millis(v.max(0) as u64))
        };
        Ok(Settings {
            input: PathBuf::from(text(INPUT_PATH_CONFIG)?),
            pattern,
            finished: parsed.string(FINISHED_PATH_CONFIG).map(PathBuf::from),
            error: parsed.string(ERROR_PATH_CONFIG).map(PathBuf::from),
            cleanup,
            min_age: millis(FILE_MINIMUM_AGE_MS_CONFIG)?,
            halt_on_error: required(
                parsed.boolean(HALT_ON_ERROR_CONFIG),
                who,
                HALT_ON_ERROR_CONFIG,
            )?,
            topic: Arc::from(text(TOPIC_CONFIG)?.as_str()),
            batch_size: usize::try_from(required(
                parsed.int(BATCH_SIZE_CONFIG),
                who,
                BATCH_SIZE_CONFIG,
            )?)
            .unwrap_or(1)
            .max(1),
            empty_wait: millis(EMPTY_POLL_WAIT_MS_CONFIG)?,
        })
    }

    /// The files to read now, sorted by name.
    fn eligible(&self) -> Result<Vec<String>, ConnectError> {
        let Some(s) = &self.settings else {
            return Ok(Vec::new());
        };
        list_eligible(s).map_err(|e| {
            ConnectError::retriable(format!(
                "{}: cannot list `{}`: {e}",
                describe(CLASS, &self.props, None),
                s.input.display()
            ))
        })
    }
}

/// Checks across keys: MOVE needs `finished.path`; a valid pattern.
fn cross_issues(props: &Properties) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let policy = props
        .get(CLEANUP_POLICY_CONFIG)
        .map_or("MOVE".to_owned(), |p| p.trim().to_ascii_uppercase());
    if policy == "MOVE"
        && props
            .get(FINISHED_PATH_CONFIG)
            .is_none_or(|p| p.trim().is_empty())
    {
        issues.push(ConfigIssue::new(
            FINISHED_PATH_CONFIG,
            "is required with cleanup.policy=MOVE (the default); set it, or set \
             cleanup.policy to DELETE or NONE",
        ));
    }
    if let Some(p) = props.get(INPUT_FILE_PATTERN_CONFIG) {
        if let Err(e) = Regex::new(p) {
            issues.push(ConfigIssue::new(
                INPUT_FILE_PATTERN_CONFIG,
                format!("is not a regular expression: {e}"),
            ));
        }
    }
    issues
}

/// Regular files in `input` whose names match, do not start with `.`, and
/// are old enough; sorted by name.
fn list_eligible(s: &Settings) -> std::io::Result<Vec<String>> {
    let now = SystemTime::now();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&s.input)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') || !s.pattern.is_match(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue; // gone meanwhile
        };
        if !meta.is_file() {
            continue;
        }
        if !s.min_age.is_zero() {
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if age < s.min_age {
                continue;
            }
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

impl SourceConnector for SpoolDirSource {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn config_def(&self) -> ConfigDef {
        Self::definition()
    }

    fn validate(&self, props: &Properties) -> Vec<ConfigIssue> {
        let mut issues = cross_issues(props);
        if let Err(more) = Self::definition().parse(props) {
            issues.extend(more);
        }
        issues
    }

    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        let who = describe(CLASS, props, None);
        let settings = Self::settings(props, &who)?;
        if !settings.input.is_dir() {
            return Err(ConnectError::fatal(format!(
                "{who}: `{INPUT_PATH_CONFIG}` {} is not a directory",
                settings.input.display()
            )));
        }
        for (key, dir) in [
            (FINISHED_PATH_CONFIG, &settings.finished),
            (ERROR_PATH_CONFIG, &settings.error),
        ] {
            if let Some(dir) = dir {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ConnectError::fatal(format!("{who}: `{key}` {}: {e}", dir.display()))
                })?;
            }
        }
        self.props = props.clone();
        self.settings = Some(settings);
        Ok(())
    }

    /// The files in `input.path`, round robin over up to `max_tasks` tasks
    /// (one task when there is none yet).
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let files = self.eligible()?;
        let tasks = max_tasks.min(files.len()).max(1);
        let configs = (0..tasks)
            .map(|t| {
                let mine: Vec<&String> = files.iter().skip(t).step_by(tasks).collect();
                let mut config = self.props.clone();
                config.insert(
                    TASK_FILES.to_owned(),
                    serde_json::to_string(&mine).unwrap_or_else(|_| "[]".to_owned()),
                );
                config
            })
            .collect();
        *self.assigned.lock().unwrap_or_else(|e| e.into_inner()) = files.into_iter().collect();
        Ok(configs)
    }

    fn identity_keys(&self) -> &'static [&'static str] {
        &[INPUT_PATH_CONFIG]
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(SpoolDirTask::default())
    }

    /// A file the running tasks do not know asks for new task configs.
    fn context_requests(&mut self) -> ConnectorRequests {
        let Ok(files) = self.eligible() else {
            return ConnectorRequests::default();
        };
        let assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        let new = files.iter().any(|f| !assigned.contains(f));
        if new {
            tracing::debug!(connector = %describe(CLASS, &self.props, None), "new files in the spool directory");
        }
        ConnectorRequests {
            reconfigure: new,
            error: None,
        }
    }
}

/// One file being read.
struct Reading {
    name: String,
    reader: BufReader<File>,
    partition: SourcePartition,
    lines: i64,
    position: u64,
}

/// The task of [`SpoolDirSource`]: reads its files one after the other.
#[derive(Default)]
pub struct SpoolDirTask {
    who: String,
    settings: Option<Settings>,
    context: Option<SourceTaskContext>,
    schema: Option<SchemaRef>,
    /// Files still to read, in order.
    todo: Vec<String>,
    current: Option<Reading>,
    /// Files read to their end, waiting for a durable snapshot to clean up.
    finished: BTreeMap<String, ()>,
}

impl SpoolDirTask {
    fn settings(&self) -> Result<&Settings, ConnectError> {
        self.settings
            .as_ref()
            .ok_or_else(|| ConnectError::fatal(format!("{}: not started", self.who)))
    }

    /// Opens the next file to read, skipping finished ones (cleaning those
    /// up: their offsets are durable). Returns false when none is left.
    fn open_next(&mut self) -> Result<bool, ConnectError> {
        while !self.todo.is_empty() {
            let name = self.todo.remove(0);
            let partition = SourcePartition::single(FILE_NAME_FIELD, name.as_str());
            let restored = self
                .context
                .as_ref()
                .and_then(|c| c.offset_storage_reader().offset(&partition));
            let finished = restored
                .as_ref()
                .and_then(|o| o.get(FINISHED_FIELD))
                .is_some_and(|v| matches!(v, OffsetValue::Bool(true)));
            if finished {
                // The restored offsets come from a durable snapshot.
                self.clean_up(&name);
                continue;
            }
            let lines = restored
                .as_ref()
                .and_then(|o| o.get_i64(OFFSET_FIELD))
                .unwrap_or(0);
            let position = restored
                .as_ref()
                .and_then(|o| o.get_i64(POSITION_FIELD))
                .unwrap_or(0)
                .max(0) as u64;
            let path = self.settings()?.input.join(&name);
            let opened = File::open(&path).and_then(|mut f| {
                let len = f.metadata()?.len();
                if position > len {
                    return Err(std::io::Error::other(format!(
                        "the restored position {position} is beyond its end ({len} bytes): \
                         it was replaced since the snapshot"
                    )));
                }
                f.seek(SeekFrom::Start(position))?;
                Ok((f, len))
            });
            match opened {
                Ok((file, 0)) if lines == 0 => {
                    // Empty: nothing to read, nothing to lose.
                    drop(file);
                    self.clean_up(&name);
                }
                Ok((file, _)) => {
                    self.current = Some(Reading {
                        name,
                        reader: BufReader::with_capacity(1 << 16, file),
                        partition,
                        lines,
                        position,
                    });
                    return Ok(true);
                }
                Err(e) => self.bad_file(&name, &path, &e)?,
            }
        }
        Ok(false)
    }

    /// A file that cannot be read: fails the task, or is moved aside.
    fn bad_file(
        &mut self,
        name: &str,
        path: &Path,
        e: &std::io::Error,
    ) -> Result<(), ConnectError> {
        let s = self.settings()?.clone();
        let message = format!("{}: cannot read file `{}`: {e}", self.who, path.display());
        if s.halt_on_error {
            return Err(ConnectError::fatal(message));
        }
        tracing::warn!("{message}; skipped");
        if let Some(dir) = &s.error {
            if let Err(e) = std::fs::rename(path, dir.join(name)) {
                tracing::warn!(file = %path.display(), error = %e, "cannot move the file to error.path");
            }
        }
        Ok(())
    }

    /// Moves or deletes a finished file, per `cleanup.policy`.
    fn clean_up(&mut self, name: &str) {
        let Ok(s) = self.settings() else {
            return;
        };
        let from = s.input.join(name);
        let done = match (s.cleanup, &s.finished) {
            (Cleanup::None, _) => Ok(()),
            (Cleanup::Delete, _) => std::fs::remove_file(&from),
            (Cleanup::Move, Some(dir)) => std::fs::rename(&from, dir.join(name)),
            (Cleanup::Move, None) => Ok(()),
        };
        match done {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(who = %self.who, file = %from.display(), error = %e, "cannot clean up a finished file")
            }
        }
    }

    /// Reads up to `batch_size` lines of the current file.
    fn read_batch(&mut self) -> Result<Vec<SourceRecord>, ConnectError> {
        let s = self.settings()?.clone();
        let schema = self.schema.clone();
        let who = self.who.clone();
        let Some(r) = self.current.as_mut() else {
            return Ok(Vec::new());
        };
        let mut records = Vec::new();
        let mut line = Vec::new();
        let mut at_end = false;
        while records.len() < s.batch_size {
            line.clear();
            let read = std::io::Read::take(&mut r.reader, MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| {
                    ConnectError::fatal(format!(
                        "{who}: cannot read file `{}` at byte {}: {e}",
                        s.input.join(&r.name).display(),
                        r.position
                    ))
                })?;
            if read == 0 {
                at_end = true;
                break;
            }
            if read as u64 > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
                return Err(ConnectError::fatal(format!(
                    "{who}: the line of file `{}` at byte {} is longer than {MAX_LINE_BYTES} bytes",
                    s.input.join(&r.name).display(),
                    r.position
                )));
            }
            r.position += read as u64;
            r.lines += 1;
            let mut text = &line[..];
            if let Some(stripped) = text.strip_suffix(b"\n") {
                text = stripped.strip_suffix(b"\r").unwrap_or(stripped);
            }
            let value = String::from_utf8_lossy(text).into_owned();
            records.push(SourceRecord::new(
                r.partition.clone(),
                offset(r.lines, r.position, false),
                s.topic.clone(),
                schema.clone(),
                Value::String(value),
            ));
        }
        if !at_end {
            // Peek: at the end already, the last record says so.
            at_end = r.reader.fill_buf().map(|b| b.is_empty()).unwrap_or(false);
        }
        if at_end {
            if let Some(last) = records.last_mut() {
                last.source_offset = offset(r.lines, r.position, true);
            }
            let name = r.name.clone();
            self.current = None;
            self.finished.insert(name, ());
        }
        Ok(records)
    }
}

fn offset(lines: i64, position: u64, finished: bool) -> SourceOffset {
    let mut map = BTreeMap::new();
    map.insert(OFFSET_FIELD.to_owned(), OffsetValue::Int(lines));
    map.insert(POSITION_FIELD.to_owned(), OffsetValue::Int(position as i64));
    map.insert(FINISHED_FIELD.to_owned(), OffsetValue::Bool(finished));
    SourceOffset::from_map(map)
}

impl SourceTask for SpoolDirTask {
    /// A line is a STRING value of its STRING schema.
    fn records_match_schemas(&self) -> bool {
        true
    }

    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        self.who = describe_task(CLASS, &context.connector, context.task_id);
        let settings = SpoolDirSource::settings(context.configs(), &self.who)?;
        let files = context
            .configs()
            .get(TASK_FILES)
            .map_or("[]", String::as_str);
        self.todo = serde_json::from_str(files).map_err(|e| {
            ConnectError::fatal(format!("{}: bad `{TASK_FILES}` {files}: {e}", self.who))
        })?;
        self.schema = Some(Schema::string());
        self.settings = Some(settings);
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                let wait = self.settings()?.empty_wait;
                if let Some(c) = &self.context {
                    c.stop_token().sleep(wait);
                }
                return Ok(None);
            }
            let records = self.read_batch()?;
            if !records.is_empty() {
                return Ok(Some(records));
            }
        }
    }

    /// Cleans up the files a durable snapshot records as finished.
    fn commit(&mut self) -> Result<(), ConnectError> {
        let Some(context) = &self.context else {
            return Ok(());
        };
        let committed = context.committed_offsets();
        let done: Vec<String> = self
            .finished
            .keys()
            .filter(|name| {
                committed
                    .get(&SourcePartition::single(FILE_NAME_FIELD, name.as_str()))
                    .and_then(|o| o.get(FINISHED_FIELD))
                    .is_some_and(|v| matches!(v, OffsetValue::Bool(true)))
            })
            .cloned()
            .collect();
        for name in done {
            self.finished.remove(&name);
            self.clean_up(&name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
