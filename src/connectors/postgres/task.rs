//! The `PostgresCdc` connector and its task: decides at start whether to
//! snapshot, resume a snapshot or stream, then runs the phases; confirms
//! the slot only to what the durable snapshot holds.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::connector::{
    ConnectError, Registry, SourceConnector, SourceTask, SourceTaskContext, StopToken, TaskConfig,
};
use crate::data::{OffsetValue, SourceRecord};

use super::catalog::{self, CatalogError, TableInfo};
use super::config::{self, PgCdcConfig, SnapshotMode, TASK_ROLE};
use super::offsets::{self, SnapshotFilter, StreamOffset, StreamPosition, TableProgress};
use super::snapshot::Snapshotter;
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
pub(crate) fn register(registry: &mut Registry) {
    registry.register(
        CLASS,
        &[DEBEZIUM_CLASS],
        "Captures PostgreSQL row changes through logical replication (pgoutput), as Debezium.",
        || Box::new(PostgresCdc::default()),
    );
}

/// Change data capture from PostgreSQL with Debezium's keys, events and
/// offsets; see `docs/postgres.md`.
///
/// One task: it takes the initial snapshot (when `snapshot.mode` asks for
/// one and there are no offsets yet) and then streams from the slot.
#[derive(Debug, Default)]
pub struct PostgresCdc {
    props: Properties,
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
        let tables = catalog::captured_tables(&mut conn, &config).map_err(fail)?;
        catalog::ensure_publication(&mut conn, &config, &tables).map_err(fail)?;
        conn.close();
        self.props = props.clone();
        Ok(())
    }

    /// One task (snapshot, then stream), whatever `max_tasks` is.
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let _ = max_tasks;
        let mut config = self.props.clone();
        config.insert(TASK_ROLE.to_owned(), "stream".to_owned());
        Ok(vec![config])
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(PostgresCdcTask::default())
    }
}

/// What the task is doing.
enum Phase {
    /// Reading the initial snapshot, with its working progress (ahead of
    /// what was emitted by the held-back record); streaming follows.
    Snapshot(Box<Snapshotter>, HashMap<String, TableProgress>),
    /// Streaming.
    Stream(Box<Streamer>),
    /// Lost its session; reconnects on the next poll.
    Reconnect,
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
    /// Snapshot progress per table, as emitted.
    progress: HashMap<String, TableProgress>,
    /// The main slot's consistent point when a snapshot was taken.
    cp0: Option<u64>,
    state: Option<StreamState>,
    /// Where streaming starts when it (re)connects: the last durable position.
    durable: StreamPosition,
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
        let (_, config) = config::settings(context.configs(), true, &who)?;
        // What the last durable snapshot says.
        let mut stream_offset = None;
        let mut progress = HashMap::new();
        for (partition, offset) in context.offset_storage_reader().all() {
            if partition.get(offsets::SERVER).and_then(OffsetValue::as_str)
                != Some(config.prefix.as_str())
            {
                continue;
            }
            match partition
                .get(offsets::SNAPSHOT_TABLE)
                .and_then(OffsetValue::as_str)
            {
                Some(table) => {
                    let p = TableProgress::from_offset(offset).ok_or_else(|| {
                        ConnectError::fatal(format!(
                            "{who}: restored snapshot offset {offset:?} of table {table} is not one this connector wrote"
                        ))
                    })?;
                    progress.insert(table.to_owned(), p);
                }
                None => {
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
        };
        running.begin(stream_offset)?;
        self.running = Some(running);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let Some(run) = self.running.as_mut() else {
            return Err(ConnectError::fatal(format!(
                "{CLASS}: poll called before start"
            )));
        };
        run.poll()
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
            if let Phase::Stream(s) = run.phase {
                s.close();
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
            for (qualified, p) in &self.progress {
                let kinds = match tables.iter().find(|t| &t.qualified() == qualified) {
                    Some(t) => {
                        key_kinds(&mut conn, &self.config, &registry, t).map_err(cat_fail(&who))?
                    }
                    None => Vec::new(),
                };
                filter.add(qualified, p, &kinds);
            }
        }
        conn.close();
        let start = position.unwrap_or(StreamPosition {
            commit: flushed,
            processed: None,
        });
        self.durable = start;
        self.state = Some(StreamState::new(
            &self.config,
            start,
            flushed,
            filter,
            registry,
        ));
        self.connect_stream()
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
        )
        .map_err(|e| {
            if e.is_connection_lost() {
                ConnectError::retriable(format!("{who}: {e}"))
            } else {
                ConnectError::fatal(format!("{who}: {e}"))
            }
        })?;
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
        let stream = repl
            .start_logical_replication(
                &self.config.slot,
                start,
                &[("proto_version", "1"), ("publication_names", &publication)],
            )
            .map_err(|e| slot_error(&who, &self.config, e))?;
        tracing::info!(task = %who, slot = %self.config.slot, %start, "streaming changes");
        self.phase = Phase::Stream(Box::new(Streamer::new(stream, catalog_conn)));
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let who = self.who.clone();
        match &mut self.phase {
            Phase::Done => {
                self.stop.sleep(POLL_BUDGET);
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
                    // Progress as emitted: what a reconnect resumes from.
                    for r in &records {
                        let table = r
                            .source_partition
                            .get(offsets::SNAPSHOT_TABLE)
                            .and_then(OffsetValue::as_str);
                        if let (Some(t), Some(p)) =
                            (table, TableProgress::from_offset(&r.source_offset))
                        {
                            self.progress.insert(t.to_owned(), p);
                        }
                    }
                    Ok(Some(records).filter(|r| !r.is_empty()))
                }
                Ok(None) => {
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
                Err(e) if e.is_connection_lost() => {
                    self.phase = Phase::Reconnect;
                    Err(ConnectError::retriable(format!("{who}: snapshot: {e}")))
                }
                Err(e) => Err(ConnectError::fatal(format!("{who}: snapshot: {e}"))),
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
    let (columns, key) = catalog::table_columns(conn, table.oid)?;
    let model = catalog::model(
        config,
        registry,
        &table.schema,
        &table.table,
        &columns,
        &key,
        1,
    );
    let kinds: Vec<_> = model
        .key
        .iter()
        .map(|&i| model.columns[i].kind.clone())
        .collect();
    if kinds.len() != key.len() || kinds.iter().any(|k| offsets::orderable(k).is_none()) {
        return Ok(Vec::new());
    }
    Ok(kinds)
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
