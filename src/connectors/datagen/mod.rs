//! `Datagen`: deterministic generated records (orders, users) with logical
//! types, over a fixed number of source partitions, like Confluent's
//! `DatagenConnector` but reproducible: record `seq` of partition `p` is a
//! pure function of `(seed, quickstart, partitions, p, seq)`.

mod quickstart;
mod rng;

use std::sync::Arc;
use std::time::{Duration, Instant};

use quickstart::Generator;
pub use quickstart::Quickstart;

use crate::api::{
    ConnectError, ConnectorPlugin, SourceConnector, SourceTask, SourceTaskContext, StopToken,
    TaskConfig,
};
use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, ParsedConfig, Properties, Validator,
};
use crate::data::{SourceOffset, SourcePartition, SourceRecord};

use super::{config_error, describe, describe_task, required};

/// The class name `connector.class` accepts.
pub const CLASS: &str = "Datagen";
/// Confluent's class name, accepted as an alias.
pub const CONFLUENT_CLASS: &str = "io.confluent.kafka.connect.datagen.DatagenConnector";

/// Which records to generate: `orders` or `users`.
pub const QUICKSTART_CONFIG: &str = "quickstart";
/// The topic records are addressed to; unset means the quickstart's name.
pub const TOPIC_CONFIG: &str = "topic";
/// The fixed number of source partitions.
pub const PARTITIONS_CONFIG: &str = "partitions";
/// How many records the whole job emits; -1 for no end.
pub const MAX_MESSAGES_CONFIG: &str = "max.messages";
/// Records per second for the whole job; -1 for no limit.
pub const MESSAGES_PER_SECOND_CONFIG: &str = "messages.per.second";
/// The seed every record derives from.
pub const SEED_CONFIG: &str = "seed";
/// Set by [`Datagen`]'s `task_configs` in each task's configuration: the
/// comma-separated partitions the task generates. Not for users.
pub const TASK_PARTITIONS_CONFIG: &str = "task.partitions";

/// Source-partition key naming the quickstart.
pub const DATAGEN_FIELD: &str = "datagen";
/// Source-partition key holding the partition number.
pub const PARTITION_FIELD: &str = "partition";
/// Source-offset key: the sequence number of the last record emitted from
/// the partition (0-based).
pub const SEQ_FIELD: &str = "seq";

/// Most records one `poll` returns.
const BATCH: usize = 1024;
/// How long `poll` waits when every partition of the task is finished.
const FINISHED_WAIT: Duration = Duration::from_millis(100);
/// The longest a rate-limited `poll` sleeps before returning.
const MAX_PACING_WAIT: Duration = Duration::from_millis(100);

/// Registers [`Datagen`] under [`CLASS`] and [`CONFLUENT_CLASS`].
pub(crate) fn plugin() -> ConnectorPlugin {
    ConnectorPlugin::new(
        CLASS,
        &[CONFLUENT_CLASS],
        "Generates reproducible orders or users records over fixed partitions.",
        || Box::new(Datagen::default()),
    )
}

/// Generates records of a [`Quickstart`] over a fixed number of source
/// partitions, independent of `tasks.max`.
///
/// Source partition `{"datagen": <quickstart>, "partition": p}`, source offset
/// `{"seq": n}`. Record `n` of partition `p` has the job-wide index
/// `n * partitions + p`; with `max.messages` set, only indices below it are
/// emitted. Every record is a pure function of `seed`, the quickstart,
/// `partitions`, `p` and `n` — timestamps included — so a restored task
/// reproduces exactly the records after its offset, and `tasks.max` may
/// change between runs.
///
/// ```
/// use timely_connect::config::parse_properties;
/// use timely_connect::api::{OffsetStorageReader, StopToken};
/// use timely_connect::connectors::datagen::Datagen;
/// use timely_connect::{SourceConnector, SourceTaskContext};
///
/// let props = parse_properties(
///     "name=orders-gen\n\
///      connector.class=io.confluent.kafka.connect.datagen.DatagenConnector\n\
///      quickstart=orders\n\
///      topic=orders\n\
///      partitions=4\n\
///      max.messages=10\n\
///      messages.per.second=-1\n\
///      seed=42\n",
///     "datagen.properties",
/// ).unwrap();
///
/// let mut connector = Datagen::default();
/// connector.start(&props).unwrap();
/// let configs = connector.task_configs(2).unwrap();
/// assert_eq!(configs[0]["task.partitions"], "0,2");
/// assert_eq!(configs[1]["task.partitions"], "1,3");
///
/// let mut task = connector.create_task();
/// let context = SourceTaskContext::new(
///     "orders-gen", 0, configs[0].clone(), OffsetStorageReader::default(), StopToken::new());
/// task.start(context).unwrap();
/// let records = task.poll().unwrap().unwrap();
/// // Partitions 0 and 2 hold indices 0, 2, 4, 6, 8 of the 10.
/// assert_eq!(records.len(), 5);
/// assert!(records.iter().all(|r| r.validate().is_ok()));
/// ```
#[derive(Debug, Default)]
pub struct Datagen {
    started: Option<(Properties, Settings)>,
}

/// The connector's settings, read from a parsed configuration.
#[derive(Clone, Debug)]
struct Settings {
    quickstart: Quickstart,
    topic: String,
    partitions: u32,
    /// `None`: unlimited.
    max_messages: Option<u64>,
    /// Records per second for the whole job; `None`: unlimited.
    rate: Option<f64>,
    seed: i64,
}

impl Datagen {
    /// The keys `Datagen` accepts.
    pub fn definition() -> ConfigDef {
        let quickstarts: Vec<String> = Quickstart::ALL
            .iter()
            .map(|q| q.name().to_owned())
            .collect();
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    QUICKSTART_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    &format!(
                        "Which records to generate: one of {}. `orders`: order id, customer, \
                         item, quantity, Decimal unit price and amount (scale 2), status, \
                         Timestamp order time, optional coupon. `users`: user id, name, \
                         email, region, age, Date registered date, Timestamp last login, \
                         loyalty points, premium flag, optional referrer. Every value also \
                         carries its `partition` and `seq`.",
                        quickstarts.join(", ")
                    ),
                )
                .validator(Validator::OneOf(quickstarts.clone())),
            )
            .define(
                ConfigKey::new(
                    TOPIC_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The topic each record is addressed to. Unset: the quickstart's name.",
                )
                .optional()
                .validator(Validator::NonEmptyString),
            )
            .define(
                ConfigKey::new(
                    PARTITIONS_CONFIG,
                    ConfigType::Int,
                    Importance::Medium,
                    "The number of source partitions {\"datagen\": <quickstart>, \
                     \"partition\": p}. Fixed for the job's life and independent of \
                     tasks.max; tasks take partitions round-robin. Changing it changes \
                     every record.",
                )
                .default_value("4")
                .validator(Validator::at_least(1.0)),
            )
            .define(
                ConfigKey::new(
                    MAX_MESSAGES_CONFIG,
                    ConfigType::Long,
                    Importance::Medium,
                    "How many records the whole job emits, across partitions: record seq \
                     of partition p has index seq * partitions + p and is emitted only if \
                     that is below max.messages. -1: no end.",
                )
                .default_value("-1")
                .validator(Validator::at_least(-1.0)),
            )
            .define(
                ConfigKey::new(
                    MESSAGES_PER_SECOND_CONFIG,
                    ConfigType::Double,
                    Importance::Medium,
                    "Records per second for the whole job, shared evenly by the \
                     partitions; tasks sleep (never spin) to keep to it. Must be above \
                     0, or -1 for no limit.",
                )
                .default_value("-1")
                .validator(Validator::at_least(-1.0)),
            )
            .define(
                ConfigKey::new(
                    SEED_CONFIG,
                    ConfigType::Long,
                    Importance::Low,
                    "The seed every record's content derives from. The same seed, \
                     quickstart and partitions give the same records, timestamps \
                     included.",
                )
                .default_value("0"),
            )
    }

    /// The task's keys: the connector's and [`TASK_PARTITIONS_CONFIG`].
    fn task_definition() -> ConfigDef {
        Self::definition().define(
            ConfigKey::new(
                TASK_PARTITIONS_CONFIG,
                ConfigType::List,
                Importance::Low,
                "Set by the connector: the partitions this task generates.",
            )
            .validator(Validator::NonEmptyString),
        )
    }
}

/// Problems `ConfigDef` cannot express: `messages.per.second` must be
/// above 0 or exactly -1.
fn extra_issues(props: &Properties) -> Vec<ConfigIssue> {
    let rate = props
        .get(MESSAGES_PER_SECOND_CONFIG)
        .and_then(|v| v.trim().parse::<f64>().ok());
    match rate {
        // Below -1 is the range validator's to report.
        Some(r) if r.is_nan() || r.is_infinite() || (r > -1.0 && r <= 0.0) => {
            vec![ConfigIssue::new(
                MESSAGES_PER_SECOND_CONFIG,
                format!("must be above 0, or -1 for no limit, got `{r}`"),
            )]
        }
        _ => Vec::new(),
    }
}

/// Parses `props` against `def` and reads the settings, naming `who` in errors.
fn settings(
    def: &ConfigDef,
    props: &Properties,
    who: &str,
) -> Result<(ParsedConfig, Settings), ConnectError> {
    let extra = extra_issues(props);
    let parsed = match def.parse(props) {
        Ok(parsed) if extra.is_empty() => parsed,
        Ok(_) => return Err(config_error(who, &extra)),
        Err(mut issues) => {
            issues.extend(extra);
            return Err(config_error(who, &issues));
        }
    };
    let name = required(parsed.string(QUICKSTART_CONFIG), who, QUICKSTART_CONFIG)?;
    let quickstart = Quickstart::from_name(name).ok_or_else(|| {
        ConnectError::Config(format!(
            "{who}: {QUICKSTART_CONFIG}: unknown quickstart `{name}`"
        ))
    })?;
    let topic = parsed
        .string(TOPIC_CONFIG)
        .map_or_else(|| quickstart.name().to_owned(), |t| t.trim().to_owned());
    let partitions = required(parsed.int(PARTITIONS_CONFIG), who, PARTITIONS_CONFIG)?;
    let partitions = u32::try_from(partitions)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| {
            ConnectError::Config(format!("{who}: {PARTITIONS_CONFIG}: must be at least 1"))
        })?;
    let max_messages = required(parsed.long(MAX_MESSAGES_CONFIG), who, MAX_MESSAGES_CONFIG)?;
    let rate = required(
        parsed.double(MESSAGES_PER_SECOND_CONFIG),
        who,
        MESSAGES_PER_SECOND_CONFIG,
    )?;
    let seed = required(parsed.long(SEED_CONFIG), who, SEED_CONFIG)?;
    let settings = Settings {
        quickstart,
        topic,
        partitions,
        max_messages: u64::try_from(max_messages).ok(),
        rate: (rate > 0.0).then_some(rate),
        seed,
    };
    Ok((parsed, settings))
}

impl SourceConnector for Datagen {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn config_def(&self) -> ConfigDef {
        Self::definition()
    }

    fn validate(&self, props: &Properties) -> Vec<ConfigIssue> {
        let mut issues = Self::definition().parse(props).err().unwrap_or_default();
        issues.extend(extra_issues(props));
        issues
    }

    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        let who = describe(CLASS, props, None);
        let (_, settings) = settings(&Self::definition(), props, &who)?;
        self.started = Some((props.clone(), settings));
        Ok(())
    }

    /// `min(max_tasks, partitions)` tasks; task `t` gets partitions
    /// `t, t + n, t + 2n, …`, listed in its [`TASK_PARTITIONS_CONFIG`].
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let Some((props, settings)) = &self.started else {
            return Err(ConnectError::fatal(format!(
                "{CLASS}: task_configs called before start"
            )));
        };
        if max_tasks == 0 {
            return Err(ConnectError::Config(format!(
                "{}: tasks.max must be at least 1",
                describe(CLASS, props, None)
            )));
        }
        let tasks = max_tasks.min(settings.partitions as usize);
        let configs = (0..tasks)
            .map(|t| {
                let mine: Vec<String> = (0..settings.partitions as usize)
                    .skip(t)
                    .step_by(tasks)
                    .map(|p| p.to_string())
                    .collect();
                let mut config = props.clone();
                config.insert(TASK_PARTITIONS_CONFIG.to_owned(), mine.join(","));
                config
            })
            .collect();
        Ok(configs)
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(DatagenTask::default())
    }
}

/// What goes wrong in a task; every message names the connector and task.
#[derive(Debug, thiserror::Error)]
enum DatagenError {
    #[error("{who}: {TASK_PARTITIONS_CONFIG}: `{value}` is not a partition below {partitions}")]
    BadTaskPartition {
        who: String,
        value: String,
        partitions: u32,
    },
    #[error("{who}: restored offset {offset} of partition {partition} has no non-negative integer `seq`")]
    BadOffset {
        who: String,
        partition: SourcePartition,
        offset: String,
    },
    #[error("{who}: generated record does not fit its schema: {source}")]
    Generate {
        who: String,
        source: crate::data::DataError,
    },
}

impl From<DatagenError> for ConnectError {
    fn from(e: DatagenError) -> Self {
        match e {
            DatagenError::BadTaskPartition { .. } => ConnectError::Config(e.to_string()),
            _ => ConnectError::fatal(e.to_string()),
        }
    }
}

/// The task of [`Datagen`]: generates the partitions in its
/// [`TASK_PARTITIONS_CONFIG`].
#[derive(Debug, Default)]
pub struct DatagenTask {
    running: Option<Running>,
}

/// One partition's stream within a task.
#[derive(Debug)]
struct PartitionStream {
    partition: u32,
    source_partition: SourcePartition,
    next_seq: u64,
    /// First sequence number not to emit (`u64::MAX`: no end).
    end_seq: u64,
}

/// Spaces records out to a rate by sleeping on the stop token.
#[derive(Debug)]
struct Pacer {
    rate: f64,
    since: Instant,
    sent: u64,
}

impl Pacer {
    /// How many records may go now (at most `max`), or how long until the
    /// next may.
    fn allowance(&mut self, max: usize) -> Result<usize, Duration> {
        let elapsed = self.since.elapsed().as_secs_f64();
        let mut due = (elapsed * self.rate) as u64 + 1;
        if due.saturating_sub(self.sent) as f64 > self.rate.max(1.0) {
            // More than a second behind (the task was held up): start over
            // rather than burst.
            self.since = Instant::now();
            self.sent = 0;
            due = 1;
        }
        match due.saturating_sub(self.sent) {
            0 => {
                let next = self.sent as f64 / self.rate - elapsed;
                Err(Duration::from_secs_f64(next.max(0.0)))
            }
            allowed => Ok(usize::try_from(allowed).unwrap_or(max).min(max)),
        }
    }
}

/// A started task: its streams and everything a record shares.
#[derive(Debug)]
struct Running {
    who: String,
    stop: StopToken,
    topic: Arc<str>,
    offset_key: Arc<str>,
    generator: Generator,
    streams: Vec<PartitionStream>,
    cursor: usize,
    /// Streams not yet at their end.
    live: usize,
    pacer: Option<Pacer>,
    finished_logged: bool,
}

/// The first sequence number of `partition` whose job-wide index reaches
/// `max_messages`.
fn end_seq(partition: u32, partitions: u32, max_messages: Option<u64>) -> u64 {
    match max_messages {
        None => u64::MAX,
        Some(max) if max <= u64::from(partition) => 0,
        Some(max) => (max - u64::from(partition) - 1) / u64::from(partitions) + 1,
    }
}

impl SourceTask for DatagenTask {
    /// Its values are made of its own schemas (a test validates them).
    fn records_match_schemas(&self) -> bool {
        true
    }

    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let who = describe_task(CLASS, &context.connector, context.task_id);
        let (parsed, settings) = settings(&Datagen::task_definition(), context.configs(), &who)?;
        let listed = required(
            parsed.list(TASK_PARTITIONS_CONFIG),
            &who,
            TASK_PARTITIONS_CONFIG,
        )?;

        let mut streams = Vec::with_capacity(listed.len());
        // Duplicates are refused; a set keeps that linear for a task with
        // many partitions.
        let mut seen = std::collections::HashSet::with_capacity(listed.len());
        for value in listed {
            let partition = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p < settings.partitions)
                .filter(|p| seen.insert(*p))
                .ok_or_else(|| DatagenError::BadTaskPartition {
                    who: who.clone(),
                    value: value.clone(),
                    partitions: settings.partitions,
                })?;
            let mut map = std::collections::BTreeMap::new();
            map.insert(DATAGEN_FIELD.to_owned(), settings.quickstart.name().into());
            map.insert(PARTITION_FIELD.to_owned(), i64::from(partition).into());
            let source_partition = SourcePartition::new(map);
            let next_seq = match context.offset_storage_reader().offset(&source_partition) {
                None => 0,
                Some(offset) => match offset.get_i64(SEQ_FIELD).map(u64::try_from) {
                    Some(Ok(seq)) => seq.saturating_add(1),
                    _ => {
                        return Err(DatagenError::BadOffset {
                            who,
                            partition: source_partition,
                            offset: offset.to_json().to_string(),
                        }
                        .into())
                    }
                },
            };
            streams.push(PartitionStream {
                partition,
                source_partition,
                next_seq,
                end_seq: end_seq(partition, settings.partitions, settings.max_messages),
            });
        }
        let live = streams.iter().filter(|s| s.next_seq < s.end_seq).count();
        let pacer = settings.rate.map(|rate| Pacer {
            rate: rate * streams.len() as f64 / f64::from(settings.partitions),
            since: Instant::now(),
            sent: 0,
        });
        tracing::info!(
            connector = %context.connector,
            task = context.task_id,
            quickstart = settings.quickstart.name(),
            partitions = streams.len(),
            first = ?streams.iter().take(8).map(|s| (s.partition, s.next_seq)).collect::<Vec<_>>(),
            "datagen task started"
        );
        self.running = Some(Running {
            who,
            stop: context.stop_token().clone(),
            topic: Arc::from(settings.topic.as_str()),
            offset_key: SourceOffset::key(SEQ_FIELD),
            generator: Generator::new(settings.quickstart, settings.seed, settings.partitions),
            streams,
            cursor: 0,
            live,
            pacer,
            finished_logged: false,
        });
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(run) = self.running.as_mut() else {
            return Err(ConnectError::fatal(format!(
                "{CLASS}: poll called before start"
            )));
        };
        if run.live == 0 {
            if !run.finished_logged {
                tracing::info!(task = %run.who, "every partition of the task reached max.messages");
                run.finished_logged = true;
            }
            run.stop.sleep(FINISHED_WAIT);
            return Ok(None);
        }
        let budget = match run.pacer.as_mut().map(|p| p.allowance(BATCH)) {
            None => BATCH,
            Some(Ok(n)) => n,
            Some(Err(wait)) => {
                if run.stop.sleep(wait.min(MAX_PACING_WAIT)) {
                    return Ok(None);
                }
                match run.pacer.as_mut().map(|p| p.allowance(BATCH)) {
                    Some(Ok(n)) => n,
                    _ => return Ok(None),
                }
            }
        };
        let records = run.generate(budget)?;
        if let Some(pacer) = run.pacer.as_mut() {
            pacer.sent += records.len() as u64;
        }
        Ok(Some(records).filter(|r| !r.is_empty()))
    }

    fn stop(&mut self) {
        if let Some(run) = self.running.take() {
            tracing::info!(task = %run.who, "datagen task stopped");
        }
    }
}

impl Running {
    /// Up to `budget` records, taking the live partitions in turn.
    fn generate(&mut self, budget: usize) -> Result<Vec<SourceRecord>, DatagenError> {
        let mut records = Vec::with_capacity(budget);
        while records.len() < budget && self.live > 0 {
            let index = self.cursor;
            self.cursor = (index + 1) % self.streams.len();
            let stream = &mut self.streams[index];
            if stream.next_seq >= stream.end_seq {
                continue;
            }
            let seq = stream.next_seq;
            let generated = self
                .generator
                .generate(stream.partition, seq)
                .map_err(|source| DatagenError::Generate {
                    who: self.who.clone(),
                    source,
                })?;
            records.push(
                SourceRecord::new(
                    stream.source_partition.clone(),
                    SourceOffset::int(&self.offset_key, i64::try_from(seq).unwrap_or(i64::MAX)),
                    self.topic.clone(),
                    Some(self.generator.value_schema.clone()),
                    generated.value,
                )
                .with_key(Some(self.generator.key_schema.clone()), generated.key)
                .with_timestamp(generated.timestamp),
            );
            stream.next_seq += 1;
            if stream.next_seq >= stream.end_seq {
                self.live -= 1;
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests;
