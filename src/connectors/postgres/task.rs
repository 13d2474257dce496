//! The `PostgresCdc` connector and its task: decides at start whether to
//! snapshot, resume a snapshot or stream, then runs the phases; confirms
//! the slot only to what the durable snapshot holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api::{
    ConnectError, ConnectorPlugin, ConnectorRequests, SourceConnector, SourceTask,
    SourceTaskContext, StopToken, TaskConfig,
};
use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::{OffsetValue, SourceRecord};

use super::catalog::{self, CatalogError, TableInfo};
use super::config::{
    self, AutocreateMode, PgCdcConfig, SnapshotMode, TASK_ROLE, TASK_SNAPSHOT_CHUNKS,
    TASK_SNAPSHOT_LSN, TASK_SNAPSHOT_NAME, TASK_SNAPSHOT_TASKS, TASK_TABLES,
};
use super::incremental::{Incremental, Progress};
use super::offsets::{self, ChunkKey, SnapshotFilter, StreamOffset, StreamPosition, TableProgress};
use super::snapshot::{self as snap, ChunkPlan, Snapshotter};
use super::stream::{StreamState, Streamer};
use super::types::TypeRegistry;
use super::wire::{Lsn, PgError, ReplicationConnection, SnapshotAction};
use crate::connectors::{describe, describe_task};

/// The class name `connector.class` accepts.
pub const CLASS: &str = "PostgresCdc";
/// Debezium's class name, accepted as an alias.
pub const DEBEZIUM_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

/// How long one `poll` waits for changes.
const POLL_BUDGET: Duration = Duration::from_millis(100);

/// Registers [`PostgresCdc`] under [`CLASS`] and [`DEBEZIUM_CLASS`].
pub(crate) fn plugin() -> ConnectorPlugin {
    ConnectorPlugin::new(
        CLASS,
        &[DEBEZIUM_CLASS],
        "Captures PostgreSQL row changes through logical replication (pgoutput), as Debezium.",
        || Box::new(PostgresCdc::default()),
    )
}

/// Change data capture from PostgreSQL with Debezium's keys, events and
/// offsets; see `docs/postgres.md`.
///
/// Task 0 streams from the slot. The initial snapshot is read by task 0,
/// or — on a fresh start (no slot yet) with `tasks.max` > 1 — by tasks
/// 1..n in parallel, each importing the snapshot the connector exported
/// when it created the slot (the connector keeps that session idle until
/// every snapshot task imported it); task 0 then starts streaming once
/// they all finished. A table larger than `snapshot.chunk.rows` is split
/// into primary-key ranges (chunks) that the snapshot tasks read side by
/// side, each durable on its own. A restart always continues in task 0:
/// it reads the chunks that are not done, from their last durable key.
///
/// `validate` checks the keys offline and reports every problem at once:
///
/// ```
/// use timely_connect::config::parse_properties;
/// use timely_connect::connectors::postgres::PostgresCdc;
/// use timely_connect::SourceConnector;
///
/// let props = parse_properties(
///     "name=inventory\n\
///      connector.class=io.debezium.connector.postgresql.PostgresConnector\n\
///      database.hostname=db.internal\n\
///      database.user=cdc\n\
///      plugin.name=wal2json\n\
///      snapshot.mode=sometimes\n",
///     "inventory.properties",
/// ).unwrap();
/// let issues = PostgresCdc::default().validate(&props);
/// let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
/// assert!(keys.contains(&"database.dbname"));
/// assert!(keys.contains(&"topic.prefix"));
/// assert!(keys.contains(&"plugin.name"));
/// assert!(keys.contains(&"snapshot.mode"));
/// ```
///
/// With `publication.autocreate.mode=filtered`, the connector looks for new
/// tables matching the include/exclude lists every `table.poll.interval.ms`
/// and asks for new task configurations when it finds one; the new
/// streaming task adds it to the publication, with an `execute-snapshot`
/// signal in the same transaction when a signal table is set (see
/// `docs/postgres.md`, "New tables").
#[derive(Debug, Default)]
pub struct PostgresCdc {
    props: Properties,
    /// A parallel snapshot's exporting session, kept until the snapshot
    /// tasks imported it.
    holder: Mutex<Option<Background>>,
    /// Looks for new tables (filtered publications only).
    watcher: Option<Background>,
    /// The captured tables the running tasks were planned with.
    assigned: Arc<Mutex<Vec<String>>>,
    /// Set by the watcher when the captured tables differ from `assigned`.
    tables_changed: Arc<AtomicBool>,
}

/// A thread of the connector's, stopped and joined on drop: the exporting
/// session of a parallel snapshot, or the new-table watcher.
struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background").finish_non_exhaustive()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long the exporting session waits for the snapshot tasks to import.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// `application_name` of snapshot task `i` once it imported the snapshot.
fn imported_name(slot: &str, i: usize) -> String {
    format!("tc-imp-{i}-{slot}")
}

/// `application_name` of snapshot task `i` once it read all its tables.
fn done_name(slot: &str, i: usize) -> String {
    format!("tc-done-{i}-{slot}")
}

/// Which of tasks `1..=tasks` have a session whose `application_name`
/// starts as `name(i)` does (PostgreSQL truncates it to 63 bytes).
fn announced(
    conn: &mut super::wire::PgConnection,
    tasks: usize,
    names_of: impl Fn(usize) -> Vec<String>,
) -> Result<usize, PgError> {
    let names: Vec<String> = conn
        .simple_query(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'tc-%'",
        )?
        .into_iter()
        .flat_map(|r| r.rows)
        .filter_map(|row| row.into_iter().next().flatten())
        .collect();
    Ok((1..=tasks)
        .filter(|&i| {
            names_of(i).iter().any(|want| {
                let want = &want[..want.len().min(63)];
                names.iter().any(|n| n == want)
            })
        })
        .count())
}

/// Spreads the chunks over `tasks` tasks, largest first to the least
/// loaded; each task reads its chunks in table and key order.
fn spread(mut plan: Vec<ChunkPlan>, tasks: usize) -> Vec<Vec<ChunkPlan>> {
    let mut parts: Vec<(f64, Vec<ChunkPlan>)> =
        (0..tasks.max(1)).map(|_| (0.0, Vec::new())).collect();
    plan.sort_by(|a, b| b.estimate.total_cmp(&a.estimate));
    for c in plan {
        if let Some(least) = parts.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)) {
            // An unanalyzed table (estimate 0) still weighs something.
            least.0 += c.estimate.max(1.0);
            least.1.push(c);
        }
    }
    parts
        .into_iter()
        .map(|(_, mut chunks)| {
            chunks.sort_by_key(|c| (c.oid, c.chunk));
            chunks
        })
        .collect()
}

impl PostgresCdc {
    /// For a fresh start with several tasks: creates the slot exporting its
    /// snapshot and splits the tables over snapshot tasks.
    fn parallel_configs(&self, max_tasks: usize) -> Result<Option<Vec<TaskConfig>>, ConnectError> {
        let who = describe(CLASS, &self.props, None);
        let (_, config) = config::settings(&self.props, false, &who)?;
        if max_tasks < 2 || !config.snapshot_mode.reads_data() {
            return Ok(None);
        }
        let fail = |e: CatalogError| ConnectError::fatal(format!("{who}: {e}"));
        let mut conn = catalog::connect(&config, "timely-connect-pgcdc").map_err(fail)?;
        if catalog::slot_state(&mut conn, &config)
            .map_err(fail)?
            .is_some()
        {
            return Ok(None); // a restart: task 0 continues
        }
        let tables = catalog::captured_tables(&mut conn, &config).map_err(fail)?;
        let registry = catalog::load_types(&mut conn).map_err(fail)?;
        let plan = snap::plan_chunks(&mut conn, &config, &registry, &tables, config.chunk_rows)
            .map_err(|e| ConnectError::fatal(format!("{who}: plan the snapshot: {e}")))?;
        if plan.len() < 2 {
            return Ok(None);
        }
        let tasks = (max_tasks - 1).min(plan.len());
        let parts = spread(plan, tasks);
        let mut repl = ReplicationConnection::connect(&catalog::client_config(
            &config,
            "timely-connect-pgcdc-export",
        ))
        .map_err(pg_fail(&who, "replication connection"))?;
        let info = repl
            .create_logical_slot(&config.slot, "pgoutput", false, SnapshotAction::Export)
            .map_err(|e| slot_error(&who, &config, e))?;
        let name = info.snapshot_name.ok_or_else(|| {
            ConnectError::fatal(format!("{who}: the server exported no snapshot"))
        })?;
        let cp0 = info.consistent_point.0;
        let chunks: usize = parts.iter().map(Vec::len).sum();
        let mut configs = Vec::with_capacity(tasks + 1);
        for i in 0..=tasks {
            let mut c = self.props.clone();
            c.insert(TASK_SNAPSHOT_NAME.to_owned(), name.clone());
            c.insert(TASK_SNAPSHOT_LSN.to_owned(), cp0.to_string());
            c.insert(TASK_SNAPSHOT_TASKS.to_owned(), tasks.to_string());
            if i == 0 {
                c.insert(TASK_ROLE.to_owned(), "stream".to_owned());
            } else {
                let json = serde_json::to_string(&parts[i - 1]).map_err(|e| {
                    ConnectError::fatal(format!("{who}: encode the snapshot plan: {e}"))
                })?;
                c.insert(TASK_ROLE.to_owned(), "snapshot".to_owned());
                c.insert(TASK_SNAPSHOT_CHUNKS.to_owned(), json);
            }
            configs.push(c);
        }
        tracing::info!(connector = %who, tasks, tables = tables.len(), chunks, lsn = %info.consistent_point, "parallel initial snapshot planned");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let slot = config.slot.clone();
        let thread = std::thread::Builder::new()
            .name("pgcdc-export".to_owned())
            .spawn(move || {
                let started = std::time::Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    match announced(&mut conn, tasks, |i| {
                        vec![imported_name(&slot, i), done_name(&slot, i)]
                    }) {
                        Ok(n) if n == tasks => break,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot watch the snapshot tasks");
                            break;
                        }
                    }
                    if started.elapsed() > IMPORT_TIMEOUT {
                        tracing::warn!("snapshot tasks did not import the snapshot in time");
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                repl.close();
                conn.close();
            })
            .map_err(|e| ConnectError::fatal(format!("{who}: cannot start a thread: {e}")))?;
        *self.holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(Background {
            stop,
            thread: Some(thread),
        });
        Ok(Some(configs))
    }

    /// Starts the thread that compares the captured tables with the ones
    /// the tasks were planned with, every `every`.
    fn watch_tables(
        &self,
        config: PgCdcConfig,
        every: Duration,
        who: String,
    ) -> Result<Background, ConnectError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, assigned, changed) = (
            stop.clone(),
            self.assigned.clone(),
            self.tables_changed.clone(),
        );
        let name = who.clone();
        let thread = std::thread::Builder::new()
            .name("pgcdc-tables".to_owned())
            .spawn(move || {
                let who = name;
                let mut conn: Option<super::wire::PgConnection> = None;
                let mut reported: Option<Vec<String>> = None;
                loop {
                    let started = std::time::Instant::now();
                    while started.elapsed() < every {
                        if flag.load(Ordering::Relaxed) {
                            if let Some(c) = conn.take() {
                                c.close();
                            }
                            return;
                        }
                        std::thread::sleep(every.min(Duration::from_millis(50)));
                    }
                    let mut c = match conn.take() {
                        Some(c) => c,
                        None => match catalog::connect(&config, "timely-connect-pgcdc-tables") {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::debug!(connector = %who, error = %e, "cannot look for new tables");
                                continue;
                            }
                        },
                    };
                    match catalog::captured_tables(&mut c, &config) {
                        Ok(tables) => {
                            conn = Some(c);
                            let names: Vec<String> =
                                tables.iter().map(TableInfo::qualified).collect();
                            let planned = assigned.lock().unwrap_or_else(|e| e.into_inner()).clone();
                            if names == planned {
                                reported = None;
                                continue;
                            }
                            if reported.as_ref() != Some(&names) {
                                let new: Vec<&String> =
                                    names.iter().filter(|t| !planned.contains(t)).collect();
                                let gone: Vec<&String> =
                                    planned.iter().filter(|t| !names.contains(t)).collect();
                                tracing::info!(connector = %who, ?new, ?gone, "captured tables changed; asking for new task configurations");
                                reported = Some(names);
                            }
                            changed.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::debug!(connector = %who, error = %e, "cannot look for new tables");
                        }
                    }
                }
            })
            .map_err(|e| ConnectError::fatal(format!("{who}: cannot start a thread: {e}")))?;
        Ok(Background {
            stop,
            thread: Some(thread),
        })
    }
}

impl SourceConnector for PostgresCdc {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn config_def(&self) -> ConfigDef {
        config::definition()
    }

    fn validate(&self, props: &Properties) -> Vec<ConfigIssue> {
        config::validate(props)
    }

    /// Checks the configuration, the connection, `wal_level` and the
    /// publication (created per `publication.autocreate.mode`).
    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        let who = describe(CLASS, props, None);
        let (_, config) = config::settings(props, false, &who)?;
        let fail = |e: CatalogError| ConnectError::fatal(format!("{who}: {e}"));
        let mut conn = catalog::connect(&config, "timely-connect-pgcdc").map_err(fail)?;
        catalog::check_wal_level(&mut conn).map_err(fail)?;
        let mut tables = catalog::captured_tables(&mut conn, &config).map_err(fail)?;
        let captured: Vec<String> = tables.iter().map(TableInfo::qualified).collect();
        let mut signal_oid = None;
        if let Some(signal) = &config.signal_table {
            // The signal table is published (its rows are read from the
            // stream) whether or not it is captured.
            let found = conn
                .simple_query(&format!(
                    "SELECT c.oid, n.nspname, c.relname FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.oid = to_regclass({})",
                    super::wire::quote_literal(signal)
                ))
                .map_err(pg_fail(&who, "look up the signal table"))?
                .into_iter()
                .flat_map(|r| r.rows)
                .next();
            let Some([Some(oid), Some(schema), Some(table)]) =
                found.and_then(|row| <[Option<String>; 3]>::try_from(row).ok())
            else {
                return Err(ConnectError::fatal(format!(
                    "{who}: {}: table `{signal}` does not exist (create it with columns id \
                     varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))",
                    config::SIGNAL_DATA_COLLECTION
                )));
            };
            let info = TableInfo {
                oid: oid.parse().unwrap_or(0),
                schema,
                table,
            };
            signal_oid = Some(info.oid);
            if !tables.iter().any(|t| t.oid == info.oid) {
                tables.push(info);
            }
        }
        let streaming = catalog::slot_state(&mut conn, &config)
            .map_err(fail)?
            .is_some();
        if streaming && config.autocreate == AutocreateMode::Filtered {
            // A table that is not in the publication yet joins it from the
            // streaming task, together with the signal that reads its
            // earlier rows (adding it here would lose them).
            let published =
                catalog::published_tables(&mut conn, &config.publication).map_err(fail)?;
            if !published.is_empty() {
                tables.retain(|t| Some(t.oid) == signal_oid || published.contains(&t.qualified()));
            }
        }
        catalog::ensure_publication(&mut conn, &config, &tables).map_err(fail)?;
        conn.close();
        *self.assigned.lock().unwrap_or_else(|e| e.into_inner()) = captured;
        self.watcher = None;
        if let (AutocreateMode::Filtered, Some(every)) =
            (config.autocreate, config.table_poll_interval)
        {
            self.watcher = Some(self.watch_tables(config, every, who.clone())?);
        }
        self.props = props.clone();
        Ok(())
    }

    /// Task 0 streams (and snapshots, unless a fresh start spreads the
    /// snapshot over tasks 1..n).
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        if let Some(configs) = self.parallel_configs(max_tasks)? {
            return Ok(configs);
        }
        let mut config = self.props.clone();
        config.insert(TASK_ROLE.to_owned(), "stream".to_owned());
        if self.watcher.is_some() {
            // The tables the streaming task is planned with: a new one
            // changes the configuration, so the job replaces the task.
            let who = describe(CLASS, &self.props, None);
            let (_, settings) = config::settings(&self.props, false, &who)?;
            let fail = |e: CatalogError| ConnectError::fatal(format!("{who}: {e}"));
            let mut conn = catalog::connect(&settings, "timely-connect-pgcdc").map_err(fail)?;
            let tables: Vec<String> = catalog::captured_tables(&mut conn, &settings)
                .map_err(fail)?
                .iter()
                .map(TableInfo::qualified)
                .collect();
            conn.close();
            let json = serde_json::to_string(&tables)
                .map_err(|e| ConnectError::fatal(format!("{who}: encode the table list: {e}")))?;
            config.insert(TASK_TABLES.to_owned(), json);
            *self.assigned.lock().unwrap_or_else(|e| e.into_inner()) = tables;
        }
        Ok(vec![config])
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(PostgresCdcTask::default())
    }

    /// A new captured table (or one gone) asks for new task configs.
    fn context_requests(&mut self) -> ConnectorRequests {
        ConnectorRequests {
            reconfigure: self.tables_changed.swap(false, Ordering::Relaxed),
            error: None,
        }
    }

    fn stop(&mut self) {
        self.holder.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.watcher = None;
    }
}

/// What the task is doing.
enum Phase {
    /// Reading the initial snapshot, with its working progress (ahead of
    /// what was emitted by the held-back record); streaming follows.
    Snapshot(Box<Snapshotter>, HashMap<ChunkKey, TableProgress>),
    /// Streaming.
    Stream(Box<Streamer>),
    /// Lost its session; reconnects on the next poll.
    Reconnect,
    /// Task 0 of a parallel snapshot: waits for the snapshot tasks.
    WaitSnapshot(Box<super::wire::PgConnection>, usize, u64),
    /// A snapshot task that read its tables: keeps its session (and the
    /// announcement) until it stops.
    SnapshotDone(Box<Snapshotter>),
    /// `initial_only`: finished.
    Done,
}

/// The task of [`PostgresCdc`].
#[derive(Default)]
pub struct PostgresCdcTask {
    running: Option<Running>,
}

struct Running {
    who: String,
    config: PgCdcConfig,
    context: SourceTaskContext,
    stop: StopToken,
    phase: Phase,
    /// Snapshot progress per table or chunk, as emitted.
    progress: HashMap<ChunkKey, TableProgress>,
    /// The main slot's consistent point when a snapshot was taken.
    cp0: Option<u64>,
    state: Option<StreamState>,
    /// Where streaming starts when it (re)connects: the last durable position.
    durable: StreamPosition,
    /// For a snapshot task of a parallel snapshot: its index.
    snapshot_task: Option<usize>,
    /// The incremental snapshot the restored streaming offset records.
    incremental: Progress,
}

impl std::fmt::Debug for PostgresCdcTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCdcTask").finish_non_exhaustive()
    }
}

fn pg_fail<'a>(who: &'a str, context: &str) -> impl Fn(PgError) -> ConnectError + 'a {
    let context = context.to_owned();
    move |e| {
        if e.is_connection_lost() {
            ConnectError::retriable(format!("{who}: {context}: {e}"))
        } else {
            ConnectError::fatal(format!("{who}: {context}: {e}"))
        }
    }
}

fn cat_fail(who: &str) -> impl Fn(CatalogError) -> ConnectError + '_ {
    move |e| {
        if e.is_connection_lost() {
            ConnectError::retriable(format!("{who}: {e}"))
        } else {
            ConnectError::fatal(format!("{who}: {e}"))
        }
    }
}

impl SourceTask for PostgresCdcTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let who = describe_task(CLASS, &context.connector, context.task_id);
        let (parsed, config) = config::settings(context.configs(), true, &who)?;
        let task_id = context.task_id;
        // What the last durable snapshot says.
        let mut stream_offset = None;
        let mut incremental = Progress::default();
        let mut progress = HashMap::new();
        for (partition, offset) in context.offset_storage_reader().all() {
            if partition.get(offsets::SERVER).and_then(OffsetValue::as_str)
                != Some(config.prefix.as_str())
            {
                continue;
            }
            match ChunkKey::of_partition(partition) {
                Some(key) => {
                    let p = TableProgress::from_offset(offset).ok_or_else(|| {
                        ConnectError::fatal(format!(
                            "{who}: restored snapshot offset {offset:?} of table {} is not one this connector wrote",
                            key.table
                        ))
                    })?;
                    progress.insert(key, p);
                }
                None => {
                    incremental = Progress::read(offset);
                    stream_offset = Some(StreamOffset::position(offset).ok_or_else(|| {
                        ConnectError::fatal(format!(
                            "{who}: restored offset {offset:?} has no `lsn_commit` or `lsn`"
                        ))
                    })?);
                }
            }
        }
        let stop = context.stop_token().clone();
        let mut running = Running {
            who: who.clone(),
            config,
            context,
            stop,
            phase: Phase::Reconnect,
            cp0: progress.values().map(|p| p.lsn).next(),
            progress,
            state: None,
            durable: StreamPosition::default(),
            snapshot_task: None,
            incremental,
        };
        let parallel = parsed
            .string(TASK_SNAPSHOT_NAME)
            .map(str::to_owned)
            .zip(parsed.long(TASK_SNAPSHOT_LSN))
            .zip(parsed.int(TASK_SNAPSHOT_TASKS));
        match (parallel, parsed.string(TASK_ROLE)) {
            (Some(((name, cp0), _)), Some("snapshot")) => {
                let chunks: Vec<ChunkPlan> =
                    serde_json::from_str(parsed.string(TASK_SNAPSHOT_CHUNKS).unwrap_or("[]"))
                        .map_err(|e| {
                            ConnectError::fatal(format!(
                                "{who}: `{TASK_SNAPSHOT_CHUNKS}` is not a snapshot plan: {e}"
                            ))
                        })?;
                running.start_snapshot_part(&name, cp0 as u64, &chunks, task_id)?;
            }
            (Some(((_, cp0), tasks)), _) => {
                if stream_offset.is_some() || !running.progress.is_empty() {
                    return Err(ConnectError::fatal(format!(
                        "{who}: offsets exist but replication slot `{}` did not (it was                          created anew for a new snapshot); the changes since the offsets are                          gone. Start afresh (--restore none)",
                        running.config.slot
                    )));
                }
                let conn = catalog::connect(&running.config, "timely-connect-pgcdc")
                    .map_err(cat_fail(&who))?;
                running.cp0 = Some(cp0 as u64);
                running.phase = Phase::WaitSnapshot(
                    Box::new(conn),
                    usize::try_from(tasks).unwrap_or(0),
                    cp0 as u64,
                );
            }
            _ => running.begin(stream_offset)?,
        }
        self.running = Some(running);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(run) = self.running.as_mut() else {
            return Err(ConnectError::fatal(format!(
                "{CLASS}: poll called before start"
            )));
        };
        let batch = run.poll()?;
        // The claim of `records_match_schemas`, checked in every debug
        // build (the tests): a record that breaks its schema fails the task.
        #[cfg(debug_assertions)]
        if let Some(records) = &batch {
            for r in records {
                r.validate().map_err(|e| {
                    ConnectError::fatal(format!(
                        "{}: a record of topic {} breaks its schema: {e}",
                        run.who, r.topic
                    ))
                })?;
            }
        }
        Ok(batch)
    }

    /// Its records are built from the table models' own schemas (values
    /// decoded for their fields), so the runtime does not check each one
    /// again; debug builds do, in `poll`.
    fn records_match_schemas(&self) -> bool {
        true
    }

    /// While streaming, a batch that ends before its transaction's commit
    /// keeps the epoch open, so an epoch (and a snapshot) holds whole
    /// transactions.
    fn in_transaction(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| matches!(&r.phase, Phase::Stream(s) if s.in_transaction()))
    }

    /// Confirms to the slot the position the newest durable snapshot holds.
    fn commit(&mut self) -> Result<(), ConnectError> {
        let Some(run) = self.running.as_mut() else {
            return Ok(());
        };
        let partition = offsets::stream_partition(&run.config.prefix);
        let Some(position) = run
            .context
            .committed_offsets()
            .get(&partition)
            .and_then(StreamOffset::position)
        else {
            return Ok(());
        };
        run.durable = position;
        if let (Phase::Stream(streamer), Some(state)) = (&mut run.phase, run.state.as_mut()) {
            if let Err(e) = streamer.confirm(state, position.commit) {
                // The next poll finds the session gone and reconnects.
                tracing::warn!(task = %run.who, error = %e, "could not confirm the flushed position");
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(run) = self.running.take() {
            match run.phase {
                Phase::Stream(s) => s.close(),
                Phase::WaitSnapshot(c, ..) => c.close(),
                Phase::SnapshotDone(s) => drop(s),
                _ => {}
            }
            tracing::info!(task = %run.who, "PostgreSQL CDC task stopped");
        }
    }
}

impl Running {
    /// Decides what to do from the restored offsets and sets up the phase.
    fn begin(&mut self, stream_offset: Option<StreamPosition>) -> Result<(), ConnectError> {
        let who = self.who.clone();
        let snapshot_done =
            stream_offset.is_some() || self.progress.values().any(|p| p.last_snapshot_record);
        if self.config.snapshot_mode.reads_data() && !snapshot_done {
            return self.start_snapshot();
        }
        if self.config.snapshot_mode == SnapshotMode::InitialOnly {
            tracing::info!(task = %who, "snapshot.mode=initial_only and the snapshot is complete");
            self.phase = Phase::Done;
            return Ok(());
        }
        // Streaming from the restored position, or from the slot.
        let mut conn =
            catalog::connect(&self.config, "timely-connect-pgcdc").map_err(cat_fail(&who))?;
        let registry = catalog::load_types(&mut conn).map_err(cat_fail(&who))?;
        let slot = catalog::slot_state(&mut conn, &self.config).map_err(cat_fail(&who))?;
        let position = match (stream_offset, self.cp0) {
            (Some(p), _) => Some(p),
            (None, Some(cp0)) => Some(StreamPosition {
                commit: cp0,
                processed: None,
            }),
            (None, None) => None,
        };
        let flushed = match (slot, position) {
            (None, Some(_)) => {
                return Err(ConnectError::fatal(format!(
                    "{who}: the offsets say to resume from replication slot `{}`, but it does \
                     not exist any more; the changes since cannot be recovered. Start afresh \
                     (--restore none) to take a new snapshot",
                    self.config.slot
                )))
            }
            (Some((confirmed, _)), Some(p)) if confirmed > p.commit => {
                return Err(ConnectError::fatal(format!(
                    "{who}: replication slot `{}` was confirmed up to {}, past the restored \
                     position {}: the changes between are gone from the slot (was an older \
                     snapshot restored?). Start afresh (--restore none) to take a new snapshot",
                    self.config.slot,
                    Lsn(confirmed),
                    Lsn(p.commit)
                )))
            }
            (Some((confirmed, _)), _) => confirmed,
            (None, None) => {
                let mut repl = ReplicationConnection::connect(&catalog::client_config(
                    &self.config,
                    "timely-connect-pgcdc",
                ))
                .map_err(pg_fail(&who, "replication connection"))?;
                let info = repl
                    .create_logical_slot(
                        &self.config.slot,
                        "pgoutput",
                        false,
                        SnapshotAction::NoExport,
                    )
                    .map_err(|e| slot_error(&who, &self.config, e))?;
                repl.close();
                tracing::info!(task = %who, slot = %self.config.slot, lsn = %info.consistent_point, "replication slot created");
                info.consistent_point.0
            }
        };
        let mut filter = SnapshotFilter::default();
        if !self.progress.is_empty() {
            let tables =
                catalog::captured_tables(&mut conn, &self.config).map_err(cat_fail(&who))?;
            let mut kinds_of = HashMap::new();
            for (key, p) in &self.progress {
                let qualified = key.table.as_str();
                if !kinds_of.contains_key(qualified) {
                    let kinds = match tables.iter().find(|t| t.qualified() == qualified) {
                        Some(t) => key_kinds(&mut conn, &self.config, &registry, t)
                            .map_err(cat_fail(&who))?,
                        None => Vec::new(),
                    };
                    kinds_of.insert(qualified.to_owned(), kinds);
                }
                filter.add(qualified, p, &kinds_of[qualified]);
            }
        }
        if self.config.autocreate == AutocreateMode::Filtered {
            self.join_new_tables(&mut conn)?;
        }
        conn.close();
        let start = position.unwrap_or(StreamPosition {
            commit: flushed,
            processed: None,
        });
        self.durable = start;
        let incremental = Incremental::new(&self.config, std::mem::take(&mut self.incremental));
        if incremental.progress.active() {
            tracing::info!(task = %who, tables = ?incremental.progress.tables, after = ?incremental.progress.last, "continuing the incremental snapshot");
        }
        self.state = Some(
            StreamState::new(&self.config, start, flushed, filter, registry)
                .with_incremental(incremental)
                .with_gauges(self.context.gauges().clone()),
        );
        self.connect_stream()
    }

    /// Adds the captured tables the filtered publication lacks (of those
    /// the task was planned with) to it, with an `execute-snapshot` signal
    /// in the same transaction when there is a signal table: the stream
    /// meets the signal where the tables' changes start, and reads their
    /// earlier rows as an incremental snapshot from there.
    fn join_new_tables(
        &mut self,
        conn: &mut super::wire::PgConnection,
    ) -> Result<(), ConnectError> {
        let who = self.who.clone();
        let planned: Option<Vec<String>> = match self.context.configs().get(TASK_TABLES) {
            None => None,
            Some(json) => Some(serde_json::from_str(json).map_err(|e| {
                ConnectError::fatal(format!("{who}: `{TASK_TABLES}` is not a table list: {e}"))
            })?),
        };
        let published =
            catalog::published_tables(conn, &self.config.publication).map_err(cat_fail(&who))?;
        let new: Vec<TableInfo> = catalog::captured_tables(conn, &self.config)
            .map_err(cat_fail(&who))?
            .into_iter()
            .filter(|t| {
                let q = t.qualified();
                !published.contains(&q) && planned.as_ref().is_none_or(|p| p.contains(&q))
            })
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = new.iter().map(TableInfo::qualified).collect();
        let id = format!(
            "{}-new-{}",
            super::incremental::slot_tag(&self.config.slot),
            super::envelope::now_ms()
        );
        catalog::join_publication(conn, &self.config, &new, &id).map_err(cat_fail(&who))?;
        if self.config.signal_table.is_some() {
            tracing::info!(task = %who, tables = ?names, signal = %id, "new tables joined the publication; the rows they held before follow as an incremental snapshot");
        } else {
            tracing::warn!(task = %who, tables = ?names, "new tables joined the publication; the rows they held before are not read (set {} to read them as an incremental snapshot)", config::SIGNAL_DATA_COLLECTION);
        }
        Ok(())
    }

    /// A snapshot task of a parallel snapshot: imports the exported
    /// snapshot and reads `chunks`.
    fn start_snapshot_part(
        &mut self,
        snapshot_name: &str,
        cp0: u64,
        chunks: &[ChunkPlan],
        index: usize,
    ) -> Result<(), ConnectError> {
        let who = self.who.clone();
        let fatal = |e: String| {
            ConnectError::fatal(format!(
                "{who}: parallel snapshot: {e} (a restart continues the snapshot in task 0)"
            ))
        };
        let mut conn = catalog::connect(&self.config, "timely-connect-pgcdc-snapshot")
            .map_err(|e| fatal(e.to_string()))?;
        let registry = catalog::load_types(&mut conn).map_err(|e| fatal(e.to_string()))?;
        let tables: Vec<TableInfo> = catalog::captured_tables(&mut conn, &self.config)
            .map_err(|e| fatal(e.to_string()))?
            .into_iter()
            .filter(|t| chunks.iter().any(|c| c.oid == t.oid))
            .collect();
        let mut working = HashMap::new();
        let mut snap = Snapshotter::begin(
            conn,
            snapshot_name,
            cp0,
            cp0,
            &self.config,
            &registry,
            &tables,
            &mut working,
            Some(chunks),
        )
        .map_err(|e| fatal(e.to_string()))?
        .without_last_marker()
        .with_gauges(self.context.gauges().clone());
        snap.announce(&imported_name(&self.config.slot, index))
            .map_err(|e| fatal(e.to_string()))?;
        tracing::info!(task = %who, tables = tables.len(), chunks = chunks.len(), "parallel snapshot part started");
        self.snapshot_task = Some(index);
        self.cp0 = Some(cp0);
        self.phase = Phase::Snapshot(Box::new(snap), working);
        Ok(())
    }

    /// Fresh snapshot (no progress) or a resumed one (a new segment).
    fn start_snapshot(&mut self) -> Result<(), ConnectError> {
        let who = self.who.clone();
        let mut conn = catalog::connect(&self.config, "timely-connect-pgcdc-snapshot")
            .map_err(cat_fail(&who))?;
        catalog::check_wal_level(&mut conn).map_err(cat_fail(&who))?;
        let registry = catalog::load_types(&mut conn).map_err(cat_fail(&who))?;
        let tables = catalog::captured_tables(&mut conn, &self.config).map_err(cat_fail(&who))?;
        let slot = catalog::slot_state(&mut conn, &self.config).map_err(cat_fail(&who))?;
        let mut repl = ReplicationConnection::connect(&catalog::client_config(
            &self.config,
            "timely-connect-pgcdc",
        ))
        .map_err(pg_fail(&who, "replication connection"))?;
        let (cp0, snapshot_name, cp) = match (self.cp0, slot) {
            (None, slot) => {
                // Nothing durable yet: start from scratch with a new slot.
                if let Some((_, active)) = slot {
                    if active {
                        return Err(ConnectError::fatal(format!(
                            "{who}: replication slot `{}` is in use by another session",
                            self.config.slot
                        )));
                    }
                    repl.drop_slot(&self.config.slot, false)
                        .map_err(pg_fail(&who, "drop the stale replication slot"))?;
                    tracing::info!(task = %who, slot = %self.config.slot, "dropped the slot of a snapshot that never became durable");
                }
                let info = repl
                    .create_logical_slot(
                        &self.config.slot,
                        "pgoutput",
                        false,
                        SnapshotAction::Export,
                    )
                    .map_err(|e| slot_error(&who, &self.config, e))?;
                let name = info.snapshot_name.ok_or_else(|| {
                    ConnectError::fatal(format!("{who}: the server exported no snapshot"))
                })?;
                (info.consistent_point.0, name, info.consistent_point.0)
            }
            (Some(_), None) => {
                return Err(ConnectError::fatal(format!(
                    "{who}: the offsets hold a partial snapshot of replication slot `{}`, but \
                     the slot does not exist any more. Start afresh (--restore none)",
                    self.config.slot
                )))
            }
            (Some(cp0), Some(_)) => {
                // Resume: a fresh consistent snapshot from a temporary slot.
                let temp = format!(
                    "{}_resume",
                    self.config.slot.chars().take(50).collect::<String>()
                );
                let info = repl
                    .create_logical_slot(&temp, "pgoutput", true, SnapshotAction::Export)
                    .map_err(|e| slot_error(&who, &self.config, e))?;
                let name = info.snapshot_name.ok_or_else(|| {
                    ConnectError::fatal(format!("{who}: the server exported no snapshot"))
                })?;
                tracing::info!(task = %who, lsn = %info.consistent_point, "resuming the snapshot under a new consistent snapshot");
                (cp0, name, info.consistent_point.0)
            }
        };
        self.cp0 = Some(cp0);
        let mut working = self.progress.clone();
        let snap = Snapshotter::begin(
            conn,
            &snapshot_name,
            cp,
            cp0,
            &self.config,
            &registry,
            &tables,
            &mut working,
            None,
        )
        .map_err(|e| {
            if e.is_connection_lost() {
                ConnectError::retriable(format!("{who}: {e}"))
            } else {
                ConnectError::fatal(format!("{who}: {e}"))
            }
        })?
        .with_gauges(self.context.gauges().clone());
        // The snapshot is imported: the exporting session may end (a
        // temporary slot goes with it; the main slot stays).
        repl.close();
        self.phase = Phase::Snapshot(Box::new(snap), working);
        Ok(())
    }

    /// Opens a replication session from the durable position.
    fn connect_stream(&mut self) -> Result<(), ConnectError> {
        let who = self.who.clone();
        let Some(state) = self.state.as_mut() else {
            return Err(ConnectError::fatal(format!(
                "{who}: streaming without state"
            )));
        };
        let catalog_conn =
            catalog::connect(&self.config, "timely-connect-pgcdc").map_err(cat_fail(&who))?;
        let repl = ReplicationConnection::connect(&catalog::client_config(
            &self.config,
            "timely-connect-pgcdc",
        ))
        .map_err(pg_fail(&who, "replication connection"))?;
        let publication = format!("\"{}\"", self.config.publication.replace('"', "\"\""));
        let start = Lsn(self.durable.commit.max(state.flushed));
        // The session starts over from the durable position: a chunk
        // between watermarks is read again in a new window.
        state.incremental.reset_window();
        let mut options = vec![
            ("proto_version", "1"),
            ("publication_names", publication.as_str()),
        ];
        // Logical decoding messages (pgoutput's `messages`, PostgreSQL 14+).
        if repl.server_version_num() >= 140000 {
            options.push(("messages", "true"));
        }
        let stream = repl
            .start_logical_replication(&self.config.slot, start, &options)
            .map_err(|e| slot_error(&who, &self.config, e))?;
        tracing::info!(task = %who, slot = %self.config.slot, %start, "streaming changes");
        self.phase = Phase::Stream(Box::new(Streamer::new(stream, catalog_conn)));
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let who = self.who.clone();
        match &mut self.phase {
            Phase::Done | Phase::SnapshotDone(_) => {
                self.stop.sleep(POLL_BUDGET);
                Ok(None)
            }
            Phase::WaitSnapshot(conn, tasks, cp0) => {
                let (tasks, cp0) = (*tasks, *cp0);
                let slot = self.config.slot.clone();
                let done = announced(conn, tasks, |i| vec![done_name(&slot, i)])
                    .map_err(pg_fail(&who, "watch the snapshot tasks"))?;
                if done < tasks {
                    self.stop.sleep(POLL_BUDGET);
                    return Ok(None);
                }
                tracing::info!(task = %who, "parallel snapshot complete; streaming");
                if let Phase::WaitSnapshot(conn, ..) =
                    std::mem::replace(&mut self.phase, Phase::Reconnect)
                {
                    conn.close();
                }
                if self.config.snapshot_mode.streams() {
                    self.begin(Some(StreamPosition {
                        commit: cp0,
                        processed: None,
                    }))?;
                } else {
                    self.phase = Phase::Done;
                }
                Ok(None)
            }
            Phase::Reconnect => {
                if self.state.is_none() {
                    // Lost during the snapshot: take it up again.
                    self.start_snapshot()?;
                } else {
                    self.connect_stream()?;
                }
                Ok(None)
            }
            Phase::Snapshot(snap, working) => match snap.next_batch(working) {
                Ok(Some(records)) => {
                    // Progress as emitted: what a reconnect resumes from
                    // (each table's last record in the batch holds it).
                    let mut seen: Vec<&crate::data::SourcePartition> = Vec::new();
                    for r in records.iter().rev() {
                        if seen.contains(&&r.source_partition) {
                            continue;
                        }
                        seen.push(&r.source_partition);
                        if let (Some(key), Some(p)) = (
                            ChunkKey::of_partition(&r.source_partition),
                            TableProgress::from_offset(&r.source_offset),
                        ) {
                            self.progress.insert(key, p);
                        }
                    }
                    Ok(Some(records).filter(|r| !r.is_empty()))
                }
                Ok(None) => {
                    if let Some(i) = self.snapshot_task {
                        tracing::info!(task = %who, "snapshot part complete");
                        let name = done_name(&self.config.slot, i);
                        if let Phase::Snapshot(mut snap, _) =
                            std::mem::replace(&mut self.phase, Phase::Done)
                        {
                            snap.announce(&name).map_err(|e| {
                                ConnectError::fatal(format!("{who}: snapshot: {e}"))
                            })?;
                            self.phase = Phase::SnapshotDone(snap);
                        }
                        return Ok(None);
                    }
                    tracing::info!(task = %who, "initial snapshot complete");
                    if self.config.snapshot_mode.streams() {
                        let cp0 = snap.cp0();
                        self.phase = Phase::Reconnect;
                        self.begin(Some(StreamPosition {
                            commit: cp0,
                            processed: None,
                        }))?;
                    } else {
                        self.phase = Phase::Done;
                    }
                    Ok(None)
                }
                Err(e) if e.is_connection_lost() && self.snapshot_task.is_none() => {
                    self.phase = Phase::Reconnect;
                    Err(ConnectError::retriable(format!("{who}: snapshot: {e}")))
                }
                Err(e) => Err(ConnectError::fatal(format!(
                    "{who}: snapshot: {e}{}",
                    if self.snapshot_task.is_some() {
                        " (a restart continues the snapshot in task 0)"
                    } else {
                        ""
                    }
                ))),
            },
            Phase::Stream(streamer) => {
                let Some(state) = self.state.as_mut() else {
                    return Err(ConnectError::fatal(format!(
                        "{who}: streaming without state"
                    )));
                };
                match streamer.poll(&self.config, state, POLL_BUDGET) {
                    Ok(records) if records.is_empty() => Ok(None),
                    Ok(records) => Ok(Some(records)),
                    Err(e) if e.is_connection_lost() => {
                        self.phase = Phase::Reconnect;
                        Err(ConnectError::retriable(format!(
                            "{who}: lost the replication connection, reconnecting from {}: {e}",
                            Lsn(self.durable.commit)
                        )))
                    }
                    Err(e) => Err(ConnectError::fatal(format!("{who}: {e}"))),
                }
            }
        }
    }
}

/// The kinds of a table's key columns, if the snapshot reads it in key order.
fn key_kinds(
    conn: &mut super::wire::PgConnection,
    config: &PgCdcConfig,
    registry: &TypeRegistry,
    table: &TableInfo,
) -> Result<Vec<super::types::Kind>, CatalogError> {
    let (model, key) = snap::keyed_model(conn, config, registry, table)?;
    Ok(key
        .iter()
        .map(|k| model.columns[k.index].kind.clone())
        .collect())
}

/// A slot or replication error with what to do about it.
fn slot_error(who: &str, config: &PgCdcConfig, e: PgError) -> ConnectError {
    let hint = match e.sqlstate() {
        Some("55000") => " (logical decoding needs wal_level=logical: set it in postgresql.conf and restart PostgreSQL)",
        Some("42501") => " (the user needs the REPLICATION attribute: ALTER ROLE … WITH REPLICATION)",
        Some("55006") => " (another session is using the slot)",
        Some("42704") => " (the slot or publication does not exist)",
        _ => "",
    };
    let msg = format!("{who}: replication slot `{}`: {e}{hint}", config.slot);
    if e.is_connection_lost() {
        ConnectError::retriable(msg)
    } else {
        ConnectError::fatal(msg)
    }
}
