//! `PostgresCdc`'s configuration: Debezium's keys, every problem reported at once.

use std::path::PathBuf;
use std::time::Duration;

use regex::{Regex, RegexBuilder};

use crate::api::ConnectError;
use crate::config::{
    ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, ParsedConfig, Properties, Validator,
};

use crate::connectors::{config_error, required};

/// Host name or address of the PostgreSQL server.
pub const HOSTNAME: &str = "database.hostname";
/// Port of the PostgreSQL server.
pub const PORT: &str = "database.port";
/// User to connect as (needs `REPLICATION` and `SELECT` on the captured tables).
pub const USER: &str = "database.user";
/// The user's password.
pub const PASSWORD: &str = "database.password";
/// The database to capture.
pub const DBNAME: &str = "database.dbname";
/// TLS mode (`disable`, `prefer`, `require`, …).
pub const SSLMODE: &str = "database.sslmode";
/// PEM file of the CAs the server's certificate must chain to (`system`:
/// the operating system's trusted roots).
pub const SSLROOTCERT: &str = "database.sslrootcert";
/// PEM client certificate presented to the server.
pub const SSLCERT: &str = "database.sslcert";
/// The client certificate's PEM private key (unencrypted).
pub const SSLKEY: &str = "database.sslkey";
/// Connection timeout in milliseconds (extension; Debezium sets it through JDBC).
pub const CONNECT_TIMEOUT_MS: &str = "database.connect.timeout.ms";
/// Prefix of every topic and the `server` of the source partition.
pub const TOPIC_PREFIX: &str = "topic.prefix";
/// Schemas to capture (anchored, comma-separated regexes).
pub const SCHEMA_INCLUDE: &str = "schema.include.list";
/// Schemas not to capture.
pub const SCHEMA_EXCLUDE: &str = "schema.exclude.list";
/// Tables to capture, as `schema.table` regexes.
pub const TABLE_INCLUDE: &str = "table.include.list";
/// Tables not to capture.
pub const TABLE_EXCLUDE: &str = "table.exclude.list";
/// Columns left out of every event, as `schema.table.column` regexes.
pub const COLUMN_EXCLUDE: &str = "column.exclude.list";
/// The logical replication slot.
pub const SLOT_NAME: &str = "slot.name";
/// The publication pgoutput reads.
pub const PUBLICATION_NAME: &str = "publication.name";
/// Whether and how the publication is created when missing.
pub const PUBLICATION_AUTOCREATE: &str = "publication.autocreate.mode";
/// The logical decoding plugin (only `pgoutput`).
pub const PLUGIN_NAME: &str = "plugin.name";
/// When to take an initial snapshot.
pub const SNAPSHOT_MODE: &str = "snapshot.mode";
/// Rows fetched per round trip while snapshotting.
pub const SNAPSHOT_FETCH_SIZE: &str = "snapshot.fetch.size";
/// `snapshot.fetch.size`'s default, Debezium's.
pub const DEFAULT_SNAPSHOT_FETCH_SIZE: usize = 10240;
/// Most records one poll returns (Debezium's `max.batch.size`).
pub const MAX_BATCH_SIZE: &str = "max.batch.size";
/// `max.batch.size`'s default, Debezium's.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 2048;
/// Rows per chunk of a table a parallel snapshot splits (extension; 0: never split).
pub const SNAPSHOT_CHUNK_ROWS: &str = "snapshot.chunk.rows";
/// Whether a delete is followed by a tombstone.
pub const TOMBSTONES_ON_DELETE: &str = "tombstones.on.delete";
/// Operations not emitted while streaming (`c`, `u`, `d`, `t`; `none`).
pub const SKIPPED_OPERATIONS: &str = "skipped.operations";
/// Prefixes of logical decoding messages to emit (regexes).
pub const MESSAGE_PREFIX_INCLUDE: &str = "message.prefix.include.list";
/// Prefixes of logical decoding messages not to emit (regexes).
pub const MESSAGE_PREFIX_EXCLUDE: &str = "message.prefix.exclude.list";
/// How often an idle stream emits a heartbeat record (0: never).
pub const HEARTBEAT_INTERVAL_MS: &str = "heartbeat.interval.ms";
/// Emit transaction BEGIN/END events and a `transaction` block per event.
pub const PROVIDE_TRANSACTION_METADATA: &str = "provide.transaction.metadata";
/// Name of the transaction topic under the prefix.
pub const TOPIC_TRANSACTION: &str = "topic.transaction";
/// Publish a partitioned table's changes as its root's (Debezium's key).
pub const PUBLISH_VIA_PARTITION_ROOT: &str = "publish.via.partition.root";
/// SQL run on the database at each heartbeat (Debezium's key).
pub const HEARTBEAT_ACTION_QUERY: &str = "heartbeat.action.query";
/// How often the slot's xmin is read for `source.xmin`, in ms (0: never).
pub const XMIN_FETCH_INTERVAL_MS: &str = "xmin.fetch.interval.ms";
/// How often the slot's retained WAL is measured, in ms (extension).
pub const SLOT_CHECK_INTERVAL_MS: &str = "slot.lag.check.interval.ms";
/// Retained WAL above which a warning is logged, in bytes (extension; 0: never).
pub const SLOT_RETAINED_WAL_WARN_BYTES: &str = "slot.retained.wal.warn.bytes";
/// The signal table, `schema.table` (Debezium's key).
pub const SIGNAL_DATA_COLLECTION: &str = "signal.data.collection";
/// Rows per chunk of an incremental snapshot (Debezium's key).
pub const INCREMENTAL_CHUNK_SIZE: &str = "incremental.snapshot.chunk.size";
/// How often the connector looks for new tables (Kafka's JDBC source's key).
pub const TABLE_POLL_INTERVAL_MS: &str = "table.poll.interval.ms";
/// Prefix of the heartbeat topic.
pub const HEARTBEAT_TOPICS_PREFIX: &str = "topic.heartbeat.prefix";
/// Set by the connector in each task's configuration: the task's role. Not for users.
pub const TASK_ROLE: &str = "pgcdc.task.role";
/// Set by the connector for a parallel initial snapshot: the exported snapshot's name.
pub const TASK_SNAPSHOT_NAME: &str = "pgcdc.snapshot.name";
/// Set by the connector for a parallel initial snapshot: the slot's consistent point.
pub const TASK_SNAPSHOT_LSN: &str = "pgcdc.snapshot.lsn";
/// Set by the connector for a parallel initial snapshot: how many snapshot tasks read.
pub const TASK_SNAPSHOT_TASKS: &str = "pgcdc.snapshot.tasks";
/// Set by the connector for a snapshot task: the chunks it reads (JSON).
pub const TASK_SNAPSHOT_CHUNKS: &str = "pgcdc.snapshot.chunks";
/// Set by the connector for the streaming task: the captured tables it
/// was planned with (JSON list of `schema.table`).
pub const TASK_TABLES: &str = "pgcdc.task.tables";

/// Schemas PostgreSQL keeps for itself; never captured.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "pg_toast"];

/// How the publication is handled (Debezium's `publication.autocreate.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutocreateMode {
    /// Create it `FOR ALL TABLES` when missing.
    AllTables,
    /// Never create it; it must exist.
    Disabled,
    /// Create it for the captured tables when missing, and keep its table
    /// list equal to them.
    Filtered,
}

/// When the initial snapshot runs (Debezium's `snapshot.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when there are no offsets yet, then stream.
    Initial,
    /// Never snapshot; stream from the slot.
    Never,
    /// Snapshot when there are no offsets yet, then stop (no streaming).
    InitialOnly,
    /// No data snapshot; stream from the slot's consistent point
    /// (Debezium's `no_data`, formerly `schema_only`).
    NoData,
}

impl SnapshotMode {
    /// Whether table rows are read at all.
    pub fn reads_data(self) -> bool {
        matches!(self, SnapshotMode::Initial | SnapshotMode::InitialOnly)
    }

    /// Whether changes are streamed after the snapshot.
    pub fn streams(self) -> bool {
        !matches!(self, SnapshotMode::InitialOnly)
    }
}

/// The connector's settings, read from a parsed configuration.
#[derive(Clone, Debug)]
pub struct PgCdcConfig {
    /// `database.hostname`.
    pub host: String,
    /// `database.port`.
    pub port: u16,
    /// `database.user`.
    pub user: String,
    /// `database.password`.
    pub password: Option<String>,
    /// `database.dbname`.
    pub dbname: String,
    /// `database.sslmode`.
    pub sslmode: String,
    /// `database.sslrootcert`.
    pub sslrootcert: Option<PathBuf>,
    /// `database.sslcert`.
    pub sslcert: Option<PathBuf>,
    /// `database.sslkey`.
    pub sslkey: Option<PathBuf>,
    /// `database.connect.timeout.ms`.
    pub connect_timeout: Duration,
    /// `topic.prefix`.
    pub prefix: String,
    /// Which tables and columns are captured.
    pub filters: Filters,
    /// `slot.name`.
    pub slot: String,
    /// `publication.name`.
    pub publication: String,
    /// `publication.autocreate.mode`.
    pub autocreate: AutocreateMode,
    /// `snapshot.mode`.
    pub snapshot_mode: SnapshotMode,
    /// `snapshot.fetch.size`.
    pub fetch_size: usize,
    /// `max.batch.size`.
    pub max_batch: usize,
    /// `snapshot.chunk.rows`.
    pub chunk_rows: u64,
    /// `tombstones.on.delete`.
    pub tombstones: bool,
    /// `skipped.operations`.
    pub skipped: Skipped,
    /// `message.prefix.include.list`.
    pub message_include: Vec<Regex>,
    /// `message.prefix.exclude.list`.
    pub message_exclude: Vec<Regex>,
    /// `publish.via.partition.root`.
    pub via_partition_root: bool,
    /// `provide.transaction.metadata`.
    pub transaction_metadata: bool,
    /// `<topic.prefix>.<topic.transaction>`.
    pub transaction_topic: String,
    /// `heartbeat.action.query`.
    pub heartbeat_action_query: Option<String>,
    /// `signal.data.collection`: the signal table, `schema.table`.
    pub signal_table: Option<String>,
    /// `incremental.snapshot.chunk.size`.
    pub incremental_chunk_size: usize,
    /// `table.poll.interval.ms`; `None` when 0.
    pub table_poll_interval: Option<Duration>,
    /// `slot.lag.check.interval.ms`.
    pub slot_check_interval: Duration,
    /// `xmin.fetch.interval.ms`; `None` when 0.
    pub xmin_fetch_interval: Option<Duration>,
    /// `slot.retained.wal.warn.bytes`; 0: never.
    pub retained_wal_warn_bytes: u64,
    /// `heartbeat.interval.ms`; `None` when 0.
    pub heartbeat: Option<Duration>,
    /// `topic.heartbeat.prefix`.
    pub heartbeat_prefix: String,
}

impl PgCdcConfig {
    /// The heartbeat topic: `<topic.heartbeat.prefix>.<topic.prefix>`.
    pub fn heartbeat_topic(&self) -> String {
        format!("{}.{}", self.heartbeat_prefix, self.prefix)
    }
}

/// Which operations `skipped.operations` leaves out of the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// `c`: inserts.
    pub create: bool,
    /// `u`: updates.
    pub update: bool,
    /// `d`: deletes (with their tombstones).
    pub delete: bool,
    /// `t`: truncates.
    pub truncate: bool,
}

impl PgCdcConfig {
    /// Whether a logical decoding message with `prefix` is emitted.
    pub fn message_included(&self, prefix: &str) -> bool {
        let any = |list: &[Regex]| list.iter().any(|r| r.is_match(prefix));
        (self.message_include.is_empty() || any(&self.message_include))
            && !any(&self.message_exclude)
    }
}

/// Include and exclude lists, compiled (anchored, case-insensitive, as
/// Debezium matches them).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    schema_include: Vec<Regex>,
    schema_exclude: Vec<Regex>,
    table_include: Vec<Regex>,
    table_exclude: Vec<Regex>,
    column_exclude: Vec<Regex>,
}

impl Filters {
    /// Whether table `schema.table` is captured.
    pub fn table_included(&self, schema: &str, table: &str) -> bool {
        if SYSTEM_SCHEMAS.contains(&schema) || schema.starts_with("pg_temp") {
            return false;
        }
        let any = |list: &[Regex], text: &str| list.iter().any(|r| r.is_match(text));
        if !self.schema_include.is_empty() && !any(&self.schema_include, schema) {
            return false;
        }
        if any(&self.schema_exclude, schema) {
            return false;
        }
        let qualified = format!("{schema}.{table}");
        if !self.table_include.is_empty() && !any(&self.table_include, &qualified) {
            return false;
        }
        !any(&self.table_exclude, &qualified)
    }

    /// Whether column `schema.table.column` is captured.
    pub fn column_included(&self, schema: &str, table: &str, column: &str) -> bool {
        let qualified = format!("{schema}.{table}.{column}");
        !self.column_exclude.iter().any(|r| r.is_match(&qualified))
    }
}

/// The keys `PostgresCdc` accepts.
pub fn definition() -> ConfigDef {
    let connection = "Connection";
    let filters = "Filters";
    let replication = "Replication";
    let events = "Events";
    ConfigDef::new()
        .define(
            ConfigKey::new(
                HOSTNAME,
                ConfigType::String,
                Importance::High,
                "Host name or IP address of the PostgreSQL server, or, as in libpq, \
                 an absolute path: the directory of a local server's Unix-domain \
                 socket (`.s.PGSQL.<port>` in it).",
            )
            .validator(Validator::NonEmptyString)
            .group(connection, 1),
        )
        .define(
            ConfigKey::new(
                PORT,
                ConfigType::Int,
                Importance::High,
                "Port of the PostgreSQL server.",
            )
            .default_value("5432")
            .validator(Validator::between(1.0, 65535.0))
            .group(connection, 2),
        )
        .define(
            ConfigKey::new(
                USER,
                ConfigType::String,
                Importance::High,
                "User to connect as. Needs the REPLICATION attribute (or superuser), \
                 SELECT on the captured tables, and CREATE on the database when the \
                 publication is created automatically.",
            )
            .validator(Validator::NonEmptyString)
            .group(connection, 3),
        )
        .define(
            ConfigKey::new(
                PASSWORD,
                ConfigType::Password,
                Importance::High,
                "The user's password. Unset: connect without one (trust authentication).",
            )
            .optional()
            .group(connection, 4),
        )
        .define(
            ConfigKey::new(
                DBNAME,
                ConfigType::String,
                Importance::High,
                "The database to capture changes from.",
            )
            .validator(Validator::NonEmptyString)
            .group(connection, 5),
        )
        .define(
            ConfigKey::new(
                SSLMODE,
                ConfigType::String,
                Importance::Medium,
                "Whether to use TLS: disable, allow, prefer, require, verify-ca or \
                 verify-full, with libpq's meanings (ignored on a Unix-domain socket, \
                 as libpq ignores it).",
            )
            .default_value("prefer")
            .validator(Validator::one_of(&[
                "disable",
                "allow",
                "prefer",
                "require",
                "verify-ca",
                "verify-full",
            ]))
            .group(connection, 6),
        )
        .define(
            ConfigKey::new(
                SSLROOTCERT,
                ConfigType::String,
                Importance::Medium,
                "PEM file of the certificate authorities the server's certificate must \
                 chain to (verify-ca, verify-full; require checks against it too when \
                 set), or `system` for the operating system's trusted roots. Unset: \
                 ~/.postgresql/root.crt if it exists, as libpq.",
            )
            .optional()
            .group(connection, 6),
        )
        .define(
            ConfigKey::new(
                SSLCERT,
                ConfigType::String,
                Importance::Low,
                "PEM client certificate to present (pg_hba.conf method `cert`); needs \
                 database.sslkey.",
            )
            .optional()
            .group(connection, 6),
        )
        .define(
            ConfigKey::new(
                SSLKEY,
                ConfigType::String,
                Importance::Low,
                "The client certificate's private key, PEM, unencrypted.",
            )
            .optional()
            .group(connection, 6),
        )
        .define(
            ConfigKey::new(
                CONNECT_TIMEOUT_MS,
                ConfigType::Long,
                Importance::Low,
                "How long to wait for a connection, in milliseconds (extension).",
            )
            .default_value("10000")
            .validator(Validator::at_least(1.0))
            .group(connection, 7),
        )
        .define(
            ConfigKey::new(
                TOPIC_PREFIX,
                ConfigType::String,
                Importance::High,
                "Logical name of the server: the prefix of every topic \
                 (<prefix>.<schema>.<table>), source.name, and the `server` of the \
                 source partition. Keep it the same across restarts to resume.",
            )
            .validator(Validator::NonEmptyString)
            .group(events, 1),
        )
        .define(
            ConfigKey::new(
                SCHEMA_INCLUDE,
                ConfigType::List,
                Importance::Medium,
                "Comma-separated regular expressions matched against whole schema names \
                 (anchored, case-insensitive); only matching schemas are captured. \
                 Unset: every non-system schema. Not with schema.exclude.list.",
            )
            .optional()
            .group(filters, 1),
        )
        .define(
            ConfigKey::new(
                SCHEMA_EXCLUDE,
                ConfigType::List,
                Importance::Medium,
                "Comma-separated regular expressions of schemas not to capture. Not \
                 with schema.include.list.",
            )
            .optional()
            .group(filters, 2),
        )
        .define(
            ConfigKey::new(
                TABLE_INCLUDE,
                ConfigType::List,
                Importance::Medium,
                "Comma-separated regular expressions matched against whole \
                 <schema>.<table> names; only matching tables are captured. Not with \
                 table.exclude.list.",
            )
            .optional()
            .group(filters, 3),
        )
        .define(
            ConfigKey::new(
                TABLE_EXCLUDE,
                ConfigType::List,
                Importance::Medium,
                "Comma-separated regular expressions of <schema>.<table> names not to \
                 capture. Not with table.include.list.",
            )
            .optional()
            .group(filters, 4),
        )
        .define(
            ConfigKey::new(
                COLUMN_EXCLUDE,
                ConfigType::List,
                Importance::Medium,
                "Comma-separated regular expressions matched against whole \
                 <schema>.<table>.<column> names; matching columns are left out of \
                 before, after and key.",
            )
            .optional()
            .group(filters, 5),
        )
        .define(
            ConfigKey::new(
                SLOT_NAME,
                ConfigType::String,
                Importance::Medium,
                "Name of the logical replication slot; created when missing. One slot \
                 per connector.",
            )
            .default_value("debezium")
            .validator(Validator::NonEmptyString)
            .group(replication, 1),
        )
        .define(
            ConfigKey::new(
                PUBLICATION_NAME,
                ConfigType::String,
                Importance::Medium,
                "Name of the publication pgoutput streams.",
            )
            .default_value("dbz_publication")
            .validator(Validator::NonEmptyString)
            .group(replication, 2),
        )
        .define(
            ConfigKey::new(
                PUBLICATION_AUTOCREATE,
                ConfigType::String,
                Importance::Medium,
                "all_tables: create the publication FOR ALL TABLES when missing (needs \
                 superuser). disabled: it must exist. filtered: create it for the \
                 captured tables when missing and keep its table list equal to them; \
                 a table that appears later joins it from the streaming task (see \
                 table.poll.interval.ms) (needs CREATE on the database and ownership of \
                 the tables).",
            )
            .default_value("all_tables")
            .validator(Validator::one_of(&["all_tables", "disabled", "filtered"]))
            .group(replication, 3),
        )
        .define(
            ConfigKey::new(
                PUBLISH_VIA_PARTITION_ROOT,
                ConfigType::Boolean,
                Importance::Low,
                "Capture a partitioned table as its root (PostgreSQL 13+): the \
                 publication is made or set WITH (publish_via_partition_root = true), the \
                 snapshot reads the root, and changes to any partition arrive on the \
                 root's topic with the root's schema. false: the partitions are captured \
                 as tables of their own.",
            )
            .default_value("false")
            .group(replication, 3),
        )
        .define(
            ConfigKey::new(
                PLUGIN_NAME,
                ConfigType::String,
                Importance::Medium,
                "Logical decoding plugin. Only pgoutput (built into PostgreSQL 10+) is \
                 supported; decoderbufs and wal2json are not.",
            )
            .default_value("pgoutput")
            .group(replication, 4),
        )
        .define(
            ConfigKey::new(
                SNAPSHOT_MODE,
                ConfigType::String,
                Importance::Medium,
                "initial: snapshot the captured tables when there are no offsets, then \
                 stream. initial_only: snapshot, then stop. never: only stream, from the \
                 slot. no_data: no snapshot of rows; stream from the slot's creation.",
            )
            .default_value("initial")
            .validator(Validator::one_of(&[
                "initial",
                "never",
                "initial_only",
                "no_data",
            ]))
            .group(replication, 5),
        )
        .define(
            ConfigKey::new(
                SNAPSHOT_FETCH_SIZE,
                ConfigType::Int,
                Importance::Low,
                "Rows read per round trip while snapshotting a table, at most \
                 `max.batch.size`.",
            )
            .default_value(&DEFAULT_SNAPSHOT_FETCH_SIZE.to_string())
            .validator(Validator::at_least(1.0))
            .group(replication, 6),
        )
        .define(
            ConfigKey::new(
                MAX_BATCH_SIZE,
                ConfigType::Int,
                Importance::Medium,
                "Maximum size of each batch of source records, as Debezium's: a poll \
                 returns at most this many, while snapshotting and while streaming.",
            )
            .default_value(&DEFAULT_MAX_BATCH_SIZE.to_string())
            .validator(Validator::at_least(1.0))
            .group(replication, 6),
        )
        .define(
            ConfigKey::new(
                SNAPSHOT_CHUNK_ROWS,
                ConfigType::Long,
                Importance::Low,
                "A parallel initial snapshot (`tasks.max` > 1) splits each table of more \
                 rows than this (PostgreSQL's estimate) with an orderable primary key into \
                 key ranges of about this many rows, read by the snapshot tasks side by side \
                 and durable one by one. 0: tables are never split. An extension.",
            )
            .default_value("100000")
            .validator(Validator::at_least(0.0))
            .group(replication, 7),
        )
        .define(
            ConfigKey::new(
                TOMBSTONES_ON_DELETE,
                ConfigType::Boolean,
                Importance::Medium,
                "Whether a delete event is followed by a tombstone (same key, null value).",
            )
            .default_value("true")
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                PROVIDE_TRANSACTION_METADATA,
                ConfigType::Boolean,
                Importance::Low,
                "Emit a BEGIN and an END event per captured transaction on \
                 <topic.prefix>.<topic.transaction>, and fill each change event's \
                 `transaction` block (id, total_order, data_collection_order), as Debezium.",
            )
            .default_value("false")
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                TOPIC_TRANSACTION,
                ConfigType::String,
                Importance::Low,
                "The transaction topic's name under topic.prefix.",
            )
            .default_value("transaction")
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                SKIPPED_OPERATIONS,
                ConfigType::List,
                Importance::Low,
                "Operations not emitted while streaming, comma-separated: c (inserts), \
                 u (updates), d (deletes), t (truncates), or none. As Debezium, TRUNCATE \
                 is skipped by default.",
            )
            .default_value("t")
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                MESSAGE_PREFIX_INCLUDE,
                ConfigType::List,
                Importance::Low,
                "Regular expressions (anchored) of the prefixes of logical decoding \
                 messages (pg_logical_emit_message, PostgreSQL 14+) to emit on \
                 <topic.prefix>.message. Unset: every prefix. Not with \
                 message.prefix.exclude.list.",
            )
            .optional()
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                MESSAGE_PREFIX_EXCLUDE,
                ConfigType::List,
                Importance::Low,
                "Regular expressions (anchored) of the prefixes of logical decoding \
                 messages not to emit. Not with message.prefix.include.list.",
            )
            .optional()
            .group(events, 2),
        )
        .define(
            ConfigKey::new(
                HEARTBEAT_INTERVAL_MS,
                ConfigType::Int,
                Importance::Medium,
                "While no captured change arrives, emit a heartbeat record this often \
                 (milliseconds) carrying the server's current WAL position, so the next \
                 durable snapshot lets the slot release WAL. 0: no heartbeats.",
            )
            .default_value("0")
            .validator(Validator::at_least(0.0))
            .group(events, 3),
        )
        .define(
            ConfigKey::new(
                HEARTBEAT_ACTION_QUERY,
                ConfigType::String,
                Importance::Low,
                "SQL the connector runs on the database at each heartbeat (with \
                 heartbeat.interval.ms > 0), e.g. an INSERT into a captured heartbeat \
                 table, so that a slot whose tables are idle while the server is busy \
                 keeps advancing. A failing query fails the task, naming it.",
            )
            .optional()
            .group(events, 3),
        )
        .define(
            ConfigKey::new(
                SIGNAL_DATA_COLLECTION,
                ConfigType::String,
                Importance::Low,
                "The signal table, <schema>.<table>, with columns id (text, primary key), \
                 type (text) and data (text), as Debezium's. Inserting an execute-snapshot \
                 row, data {\"data-collections\": [\"<schema>.<table>\", ...], \"type\": \
                 \"incremental\"}, starts an incremental snapshot of those tables while \
                 streaming goes on; stop-snapshot stops it. The connector inserts its \
                 snapshot-window-open/close watermarks there, so it needs INSERT on it; the \
                 publication gets it unless publication.autocreate.mode=disabled.",
            )
            .optional()
            .group(events, 4),
        )
        .define(
            ConfigKey::new(
                INCREMENTAL_CHUNK_SIZE,
                ConfigType::Int,
                Importance::Low,
                "Rows an incremental snapshot reads per chunk (one watermark window).",
            )
            .default_value("1024")
            .validator(Validator::at_least(1.0))
            .group(events, 5),
        )
        .define(
            ConfigKey::new(
                TABLE_POLL_INTERVAL_MS,
                ConfigType::Long,
                Importance::Low,
                "With publication.autocreate.mode=filtered: how often, in milliseconds, the \
                 connector looks for new tables matching the include/exclude lists. A new \
                 table makes the connector ask for new task configurations; the streaming \
                 task then adds it to the publication and — with signal.data.collection set \
                 — reads the rows it held before joining as an incremental snapshot. 0 \
                 turns the check off. (The key of Kafka's JDBC source connector.)",
            )
            .default_value("5000")
            .validator(Validator::at_least(0.0))
            .group(events, 6),
        )
        .define(
            ConfigKey::new(
                XMIN_FETCH_INTERVAL_MS,
                ConfigType::Long,
                Importance::Low,
                "How often, in milliseconds, the replication slot's xmin (its \
                 catalog_xmin) is read while streaming; events carry the last value \
                 read in source.xmin. 0: never (source.xmin is null), as Debezium's default.",
            )
            .default_value("0")
            .validator(Validator::at_least(0.0))
            .group(events, 3),
        )
        .define(
            ConfigKey::new(
                SLOT_CHECK_INTERVAL_MS,
                ConfigType::Long,
                Importance::Low,
                "How often, in milliseconds, the slot's retained WAL (from its \
                 restart_lsn) and unconfirmed WAL (from confirmed_flush_lsn) are \
                 measured while streaming and exported as metrics (extension).",
            )
            .default_value("10000")
            .validator(Validator::at_least(1.0))
            .group(events, 3),
        )
        .define(
            ConfigKey::new(
                SLOT_RETAINED_WAL_WARN_BYTES,
                ConfigType::Long,
                Importance::Low,
                "Log a warning when the slot holds back more WAL than this many bytes \
                 (extension). 0: never.",
            )
            .default_value("1073741824")
            .validator(Validator::at_least(0.0))
            .group(events, 3),
        )
        .define(
            ConfigKey::new(
                HEARTBEAT_TOPICS_PREFIX,
                ConfigType::String,
                Importance::Low,
                "Prefix of the heartbeat topic <prefix>.<topic.prefix>.",
            )
            .default_value("__debezium-heartbeat")
            .validator(Validator::NonEmptyString)
            .group(events, 4),
        )
        // Debezium's type-mapping modes: only the mapping this connector
        // implements is accepted, so a Debezium file that asks for another
        // fails validation instead of silently getting this one.
        .define(mode_key(
            "decimal.handling.mode",
            "precise",
            "How NUMERIC/DECIMAL columns are represented (Debezium's key). Only `precise` \
             (Connect Decimal, or VariableScaleDecimal without a scale) is implemented; \
             Debezium's `double` and `string` are refused.",
            events,
            5,
        ))
        .define(mode_key(
            "time.precision.mode",
            "adaptive",
            "How temporal columns are represented (Debezium's key). Only `adaptive` is \
             implemented; `adaptive_time_microseconds` and `connect` are refused.",
            events,
            6,
        ))
        .define(mode_key(
            "binary.handling.mode",
            "bytes",
            "How BYTEA columns are represented (Debezium's key). Only `bytes` is \
             implemented; `base64`, `base64-url-safe` and `hex` are refused.",
            events,
            7,
        ))
        .define(mode_key(
            "interval.handling.mode",
            "numeric",
            "How INTERVAL columns are represented (Debezium's key). Only `numeric` \
             (MicroDuration) is implemented; `string` is refused.",
            events,
            8,
        ))
}

/// A Debezium mode key of which one value is implemented.
fn mode_key(name: &str, only: &str, doc: &str, group: &str, order: i32) -> ConfigKey {
    ConfigKey::new(name, ConfigType::String, Importance::Low, doc)
        .default_value(only)
        .validator(Validator::one_of(&[only]))
        .group(group, order)
}

/// The task keys: the connector's and [`TASK_ROLE`].
pub fn task_definition() -> ConfigDef {
    let internal = |key: &str, ty: ConfigType, doc: &str| {
        ConfigKey::new(key, ty, Importance::Low, doc).optional()
    };
    definition()
        .define(
            ConfigKey::new(
                TASK_ROLE,
                ConfigType::String,
                Importance::Low,
                "Set by the connector: `stream` (task 0) or `snapshot` (other tasks).",
            )
            .default_value("stream"),
        )
        .define(internal(
            TASK_SNAPSHOT_NAME,
            ConfigType::String,
            "Set by the connector: the exported snapshot a parallel initial snapshot imports.",
        ))
        .define(internal(
            TASK_SNAPSHOT_LSN,
            ConfigType::Long,
            "Set by the connector: the slot's consistent point.",
        ))
        .define(internal(
            TASK_SNAPSHOT_TASKS,
            ConfigType::Int,
            "Set by the connector: the number of snapshot tasks.",
        ))
        .define(internal(
            TASK_SNAPSHOT_CHUNKS,
            ConfigType::String,
            "Set by the connector: the tables and key ranges a snapshot task reads (JSON).",
        ))
        .define(internal(
            TASK_TABLES,
            ConfigType::String,
            "Set by the connector: the captured tables the streaming task was planned with (JSON).",
        ))
}

/// Compiles a list of regexes, anchored and case-insensitive; a bad one is an issue.
fn regexes(parsed: &ParsedConfig, key: &str, issues: &mut Vec<ConfigIssue>) -> Vec<Regex> {
    let Some(items) = parsed.list(key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match RegexBuilder::new(&format!("^(?:{item})$"))
            .case_insensitive(true)
            .build()
        {
            Ok(r) => out.push(r),
            Err(e) => issues.push(ConfigIssue::new(
                key,
                format!("`{item}` is not a valid regular expression: {e}"),
            )),
        }
    }
    out
}

/// Problems `ConfigDef` cannot express; `parsed` is `None` if the keys did not parse.
fn cross_issues(props: &Properties) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let set = |k: &str| props.get(k).is_some_and(|v| !v.trim().is_empty());
    if set(SCHEMA_INCLUDE) && set(SCHEMA_EXCLUDE) {
        issues.push(ConfigIssue::new(
            SCHEMA_EXCLUDE,
            "cannot be set together with schema.include.list",
        ));
    }
    if set(MESSAGE_PREFIX_INCLUDE) && set(MESSAGE_PREFIX_EXCLUDE) {
        issues.push(ConfigIssue::new(
            MESSAGE_PREFIX_EXCLUDE,
            "cannot be set together with message.prefix.include.list",
        ));
    }
    if set(TABLE_INCLUDE) && set(TABLE_EXCLUDE) {
        issues.push(ConfigIssue::new(
            TABLE_EXCLUDE,
            "cannot be set together with table.include.list",
        ));
    }
    if let Some(t) = props
        .get(SIGNAL_DATA_COLLECTION)
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        if t.split('.').count() != 2 || t.split('.').any(str::is_empty) {
            issues.push(ConfigIssue::new(
                SIGNAL_DATA_COLLECTION,
                format!("`{t}` is not of the form <schema>.<table>"),
            ));
        }
    }
    // TLS files: named ones must be readable, and a certificate needs its key.
    for key in [SSLROOTCERT, SSLCERT, SSLKEY] {
        let Some(file) = props.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        if key == SSLROOTCERT && file == "system" {
            continue;
        }
        if let Err(e) = std::fs::File::open(file) {
            issues.push(ConfigIssue::new(key, format!("cannot read `{file}`: {e}")));
        }
    }
    match (set(SSLCERT), set(SSLKEY)) {
        (true, false) => issues.push(ConfigIssue::new(
            SSLKEY,
            "must be set with database.sslcert (a client certificate needs its key)",
        )),
        (false, true) => issues.push(ConfigIssue::new(
            SSLCERT,
            "must be set with database.sslkey (a client key needs its certificate)",
        )),
        _ => {}
    }
    if let Some(plugin) = props.get(PLUGIN_NAME) {
        let plugin = plugin.trim();
        if !plugin.eq_ignore_ascii_case("pgoutput") {
            issues.push(ConfigIssue::new(
                PLUGIN_NAME,
                format!(
                    "`{plugin}` is not supported: only pgoutput, the decoding plugin built \
                     into PostgreSQL 10 and later, is (decoderbufs and wal2json are not)"
                ),
            ));
        }
    }
    for key in [SLOT_NAME, PUBLICATION_NAME] {
        if let Some(v) = props.get(key) {
            let v = v.trim();
            let ok = !v.is_empty()
                && v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if key == SLOT_NAME && !ok && !v.is_empty() {
                issues.push(ConfigIssue::new(
                    key,
                    format!(
                        "`{v}` is not a valid slot name: use at most 63 lower-case \
                         letters, digits and underscores"
                    ),
                ));
            }
        }
    }
    issues
}

/// Every problem in `props`, at once.
pub fn validate(props: &Properties) -> Vec<ConfigIssue> {
    match parse(&definition(), props, "PostgresCdc") {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    }
}

/// Parses `props` against `def`, returning the settings or every issue.
fn parse(
    def: &ConfigDef,
    props: &Properties,
    who: &str,
) -> Result<(ParsedConfig, PgCdcConfig), Vec<ConfigIssue>> {
    let mut issues = cross_issues(props);
    let parsed = match def.parse(props) {
        Ok(parsed) => parsed,
        Err(mut more) => {
            more.append(&mut issues);
            return Err(more);
        }
    };
    let filters = Filters {
        schema_include: regexes(&parsed, SCHEMA_INCLUDE, &mut issues),
        schema_exclude: regexes(&parsed, SCHEMA_EXCLUDE, &mut issues),
        table_include: regexes(&parsed, TABLE_INCLUDE, &mut issues),
        table_exclude: regexes(&parsed, TABLE_EXCLUDE, &mut issues),
        column_exclude: regexes(&parsed, COLUMN_EXCLUDE, &mut issues),
    };
    let message_include = regexes(&parsed, MESSAGE_PREFIX_INCLUDE, &mut issues);
    let message_exclude = regexes(&parsed, MESSAGE_PREFIX_EXCLUDE, &mut issues);
    let mut skipped = Skipped::default();
    for op in parsed.list(SKIPPED_OPERATIONS).unwrap_or(&[]) {
        match op.trim().to_ascii_lowercase().as_str() {
            "c" => skipped.create = true,
            "u" => skipped.update = true,
            "d" => skipped.delete = true,
            "t" => skipped.truncate = true,
            "none" | "" => {}
            other => issues.push(ConfigIssue::new(
                SKIPPED_OPERATIONS,
                format!("`{other}` is not an operation; expected c, u, d, t or none"),
            )),
        }
    }
    if parsed
        .list(SKIPPED_OPERATIONS)
        .is_some_and(|l| l.iter().any(|o| o.trim().eq_ignore_ascii_case("none")))
    {
        skipped = Skipped::default();
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let text = |key: &str| -> Result<String, Vec<ConfigIssue>> {
        required(parsed.string(key), who, key)
            .map(|s| s.trim().to_owned())
            .map_err(|e| vec![ConfigIssue::new(key, e.to_string())])
    };
    let path = |key: &str| {
        parsed
            .string(key)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    let port = parsed.int(PORT).unwrap_or(5432);
    let autocreate = match text(PUBLICATION_AUTOCREATE)?.to_ascii_lowercase().as_str() {
        "disabled" => AutocreateMode::Disabled,
        "filtered" => AutocreateMode::Filtered,
        _ => AutocreateMode::AllTables,
    };
    let snapshot_mode = match text(SNAPSHOT_MODE)?.to_ascii_lowercase().as_str() {
        "never" => SnapshotMode::Never,
        "initial_only" => SnapshotMode::InitialOnly,
        "no_data" => SnapshotMode::NoData,
        _ => SnapshotMode::Initial,
    };
    let heartbeat_ms = parsed.int(HEARTBEAT_INTERVAL_MS).unwrap_or(0);
    let config = PgCdcConfig {
        host: text(HOSTNAME)?,
        port: u16::try_from(port).unwrap_or(5432),
        user: text(USER)?,
        password: parsed.password(PASSWORD).map(|p| p.value().to_owned()),
        dbname: text(DBNAME)?,
        sslmode: text(SSLMODE)?.to_ascii_lowercase(),
        sslrootcert: path(SSLROOTCERT),
        sslcert: path(SSLCERT),
        sslkey: path(SSLKEY),
        connect_timeout: Duration::from_millis(
            u64::try_from(parsed.long(CONNECT_TIMEOUT_MS).unwrap_or(10_000)).unwrap_or(10_000),
        ),
        prefix: text(TOPIC_PREFIX)?,
        filters,
        slot: text(SLOT_NAME)?,
        publication: text(PUBLICATION_NAME)?,
        autocreate,
        snapshot_mode,
        fetch_size: parsed
            .int(SNAPSHOT_FETCH_SIZE)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_SNAPSHOT_FETCH_SIZE)
            .max(1),
        max_batch: parsed
            .int(MAX_BATCH_SIZE)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_BATCH_SIZE)
            .max(1),
        chunk_rows: u64::try_from(parsed.long(SNAPSHOT_CHUNK_ROWS).unwrap_or(100_000)).unwrap_or(0),
        tombstones: parsed.boolean(TOMBSTONES_ON_DELETE).unwrap_or(true),
        skipped,
        message_include,
        message_exclude,
        via_partition_root: parsed.boolean(PUBLISH_VIA_PARTITION_ROOT).unwrap_or(false),
        transaction_metadata: parsed
            .boolean(PROVIDE_TRANSACTION_METADATA)
            .unwrap_or(false),
        transaction_topic: format!("{}.{}", text(TOPIC_PREFIX)?, text(TOPIC_TRANSACTION)?),
        heartbeat_action_query: parsed
            .string(HEARTBEAT_ACTION_QUERY)
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned),
        slot_check_interval: Duration::from_millis(
            u64::try_from(parsed.long(SLOT_CHECK_INTERVAL_MS).unwrap_or(10_000)).unwrap_or(10_000),
        ),
        xmin_fetch_interval: u64::try_from(parsed.long(XMIN_FETCH_INTERVAL_MS).unwrap_or(0))
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis),
        retained_wal_warn_bytes: u64::try_from(
            parsed.long(SLOT_RETAINED_WAL_WARN_BYTES).unwrap_or(0),
        )
        .unwrap_or(0),
        heartbeat: (heartbeat_ms > 0)
            .then(|| Duration::from_millis(u64::try_from(heartbeat_ms).unwrap_or(0))),
        heartbeat_prefix: text(HEARTBEAT_TOPICS_PREFIX)?,
        signal_table: parsed
            .string(SIGNAL_DATA_COLLECTION)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        incremental_chunk_size: usize::try_from(parsed.int(INCREMENTAL_CHUNK_SIZE).unwrap_or(1024))
            .unwrap_or(1024)
            .max(1),
        table_poll_interval: parsed
            .long(TABLE_POLL_INTERVAL_MS)
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis),
    };
    Ok((parsed, config))
}

/// Parses the connector's (or, with `task`, a task's) properties, naming `who` in the error.
pub fn settings(
    props: &Properties,
    task: bool,
    who: &str,
) -> Result<(ParsedConfig, PgCdcConfig), ConnectError> {
    let def = if task {
        task_definition()
    } else {
        definition()
    };
    parse(&def, props, who).map_err(|issues| config_error(who, &issues))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// `docs/postgres.md`'s configuration tables are the definition's
    /// rows, as `docs/connectors.md` renders them: each key once, none
    /// missing, none stale.
    #[test]
    fn the_docs_configuration_tables_are_the_definition() {
        let doc = include_str!("../../../docs/postgres.md");
        let (Some(from), Some(to)) = (doc.find("\n## Configuration\n"), doc.find("\n## Events\n"))
        else {
            panic!("docs/postgres.md: no Configuration section before Events");
        };
        let documented: Vec<&str> = doc[from..to]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .collect();
        let def = definition().to_markdown();
        let rows: Vec<&str> = def.lines().filter(|l| l.starts_with("| `")).collect();
        for row in &documented {
            assert!(
                rows.contains(row),
                "docs/postgres.md has a row the definition does not:\n{row}"
            );
        }
        for row in &rows {
            let times = documented.iter().filter(|d| *d == row).count();
            assert_eq!(
                times, 1,
                "docs/postgres.md lists this row {times} times:\n{row}"
            );
        }
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("name", "pg"),
            (HOSTNAME, "localhost"),
            (USER, "postgres"),
            (DBNAME, "app"),
            (TOPIC_PREFIX, "shop"),
        ]
    }

    #[test]
    fn pg_config_defaults_follow_debezium() {
        let (_, c) = settings(&props(&minimal()), false, "t").unwrap();
        assert_eq!(c.port, 5432);
        assert_eq!(c.slot, "debezium");
        assert_eq!(c.publication, "dbz_publication");
        assert_eq!(c.autocreate, AutocreateMode::AllTables);
        assert_eq!(c.snapshot_mode, SnapshotMode::Initial);
        assert!(c.tombstones);
        assert!(c.heartbeat.is_none());
        assert_eq!(c.heartbeat_topic(), "__debezium-heartbeat.shop");
        assert!(c.password.is_none());
        // Debezium skips TRUNCATE unless told otherwise.
        assert_eq!(
            c.skipped,
            Skipped {
                truncate: true,
                ..Skipped::default()
            }
        );
        assert!(c.message_included("anything"));
        assert_eq!((c.fetch_size, c.max_batch), (10240, 2048));
    }

    /// `max.batch.size` is Debezium's key with its default, and a value
    /// below 1 is refused naming it.
    #[test]
    fn pg_max_batch_size_is_read_and_checked() {
        let mut p = minimal();
        p.push((MAX_BATCH_SIZE, "500"));
        p.push((SNAPSHOT_FETCH_SIZE, "100"));
        let (_, c) = settings(&props(&p), false, "t").unwrap();
        assert_eq!((c.fetch_size, c.max_batch), (100, 500));
        let mut bad = minimal();
        bad.push((MAX_BATCH_SIZE, "0"));
        let err = settings(&props(&bad), false, "t").unwrap_err().to_string();
        assert!(err.contains(MAX_BATCH_SIZE), "{err}");
    }

    #[test]
    fn pg_table_poll_interval_defaults_to_5s_and_0_turns_it_off() {
        let (_, c) = settings(&props(&minimal()), false, "t").unwrap();
        assert_eq!(c.table_poll_interval, Some(Duration::from_secs(5)));
        for (value, want) in [("0", None), ("250", Some(Duration::from_millis(250)))] {
            let mut p = minimal();
            p.push((TABLE_POLL_INTERVAL_MS, value));
            let (_, c) = settings(&props(&p), false, "t").unwrap();
            assert_eq!(c.table_poll_interval, want, "{value}");
        }
        let mut p = minimal();
        p.push((TABLE_POLL_INTERVAL_MS, "-1"));
        let e = settings(&props(&p), false, "t").unwrap_err().to_string();
        assert!(e.contains(TABLE_POLL_INTERVAL_MS), "{e}");
    }

    #[test]
    fn pg_skipped_operations_and_message_prefixes_parse() {
        let mut p = minimal();
        p.push((SKIPPED_OPERATIONS, "c, d"));
        p.push((MESSAGE_PREFIX_EXCLUDE, "noise.*"));
        let (_, c) = settings(&props(&p), false, "t").unwrap();
        assert!(c.skipped.create && c.skipped.delete && !c.skipped.update && !c.skipped.truncate);
        assert!(!c.message_included("noise.x") && c.message_included("app"));
        let mut p = minimal();
        p.push((SKIPPED_OPERATIONS, "none"));
        let (_, c) = settings(&props(&p), false, "t").unwrap();
        assert_eq!(c.skipped, Skipped::default());
        let mut p = minimal();
        p.push((SKIPPED_OPERATIONS, "c,x"));
        let issues = validate(&props(&p));
        assert!(
            issues
                .iter()
                .any(|i| i.key == SKIPPED_OPERATIONS && i.message.contains("`x`")),
            "{issues:?}"
        );
    }

    #[test]
    fn pg_tls_files_must_be_readable_and_a_certificate_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("client.crt");
        std::fs::write(&cert, "not checked here").unwrap();
        let cert = cert.to_str().unwrap();
        let mut p = minimal();
        p.push((SSLROOTCERT, "/nonexistent/root.crt"));
        p.push((SSLCERT, cert));
        let issues = validate(&props(&p));
        let found = |key: &str, text: &str| {
            issues
                .iter()
                .any(|i| i.key == key && i.message.contains(text))
        };
        assert!(found(SSLROOTCERT, "/nonexistent/root.crt"), "{issues:?}");
        assert!(found(SSLKEY, "database.sslcert"), "{issues:?}");

        let mut p = minimal();
        p.push((SSLROOTCERT, "system"));
        p.push((SSLCERT, cert));
        p.push((SSLKEY, cert));
        p.push((SSLMODE, "verify-full"));
        let (_, c) = settings(&props(&p), false, "t").unwrap();
        assert_eq!(
            c.sslrootcert.as_deref(),
            Some(std::path::Path::new("system"))
        );
        assert_eq!(c.sslkey.as_deref(), Some(std::path::Path::new(cert)));
        assert_eq!(c.sslmode, "verify-full");
    }

    #[test]
    fn pg_config_reports_every_problem_at_once() {
        let p = props(&[
            ("name", "pg"),
            (PORT, "70000"),
            (PLUGIN_NAME, "wal2json"),
            (SNAPSHOT_MODE, "sometimes"),
            (TABLE_INCLUDE, "public.a"),
            (TABLE_EXCLUDE, "public.b"),
        ]);
        let issues = validate(&p);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        for key in [
            HOSTNAME,
            USER,
            DBNAME,
            TOPIC_PREFIX,
            PORT,
            PLUGIN_NAME,
            SNAPSHOT_MODE,
            TABLE_EXCLUDE,
        ] {
            assert!(keys.contains(&key), "{key} missing from {issues:?}");
        }
        let plugin = issues.iter().find(|i| i.key == PLUGIN_NAME).unwrap();
        assert!(plugin.message.contains("only pgoutput"), "{plugin}");
    }

    #[test]
    fn pg_config_bad_regex_is_named() {
        let mut p = minimal();
        p.push((TABLE_INCLUDE, "public.(a"));
        let issues = validate(&props(&p));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].key, TABLE_INCLUDE);
        assert!(issues[0].message.contains("public.(a"));
    }

    #[test]
    fn pg_filters_are_anchored_and_case_insensitive() {
        let mut p = minimal();
        p.push((TABLE_INCLUDE, "public.orders,inventory\\..*"));
        p.push((COLUMN_EXCLUDE, "public.orders.secret"));
        let (_, c) = settings(&props(&p), false, "t").unwrap();
        let f = &c.filters;
        assert!(f.table_included("public", "orders"));
        assert!(f.table_included("PUBLIC", "Orders"));
        assert!(!f.table_included("public", "orders_archive"));
        assert!(f.table_included("inventory", "items"));
        assert!(!f.table_included("pg_catalog", "pg_class"));
        assert!(!f.column_included("public", "orders", "secret"));
        assert!(f.column_included("public", "orders", "secret2"));
    }

    #[test]
    fn pg_config_password_never_in_messages() {
        let mut p = minimal();
        p.push((PASSWORD, "hunter2"));
        p.push((SLOT_NAME, "Bad-Slot"));
        let issues = validate(&props(&p));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(!issues[0].to_string().contains("hunter2"));
        assert_eq!(issues[0].key, SLOT_NAME);
    }
}
