//! The change stream: pgoutput messages from the slot → Debezium events.
//!
//! Events are emitted one per change as they arrive, in commit order, each
//! with its own offset (`lsn_commit` of its transaction, `lsn_proc` its
//! own LSN), so a restart skips exactly what was emitted. The records of
//! one change (a delete and its tombstone; a key-changing update's delete,
//! tombstone and create) always leave in one batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::{SchemaBuilder, SourcePartition, SourceRecord, Struct, Value};

use super::catalog::{self, CatalogColumn, CatalogError};
use super::config::PgCdcConfig;
use crate::api::Gauges;

use super::envelope::{
    message_schemas, now_ms, source_struct, transaction_event_schemas, transaction_schema, Cell,
    Op, RowError, SourceInfo, TableModel,
};
use super::incremental::{Incremental, Progress};
use super::offsets::{key_part, KeyPart, SnapshotFilter, StreamOffset, StreamPosition};
use super::types::TypeRegistry;
use super::wire::{
    pg_time_to_unix_us, Lsn, PgConnection, PgError, PgOutput, RelationBody, ReplicationMessage,
    ReplicationStream, TupleValue,
};

/// A streaming failure.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The replication session failed.
    #[error("replication stream: {0}")]
    Pg(#[from] PgError),
    /// A catalog lookup failed.
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    /// A row does not decode.
    #[error("{0}")]
    Row(#[from] RowError),
    /// The stream broke its own rules.
    #[error("{0}")]
    Protocol(String),
    /// An incremental snapshot failed.
    #[error("{0}")]
    Incremental(Box<super::incremental::IncrementalError>),
}

impl From<super::incremental::IncrementalError> for StreamError {
    fn from(e: super::incremental::IncrementalError) -> Self {
        StreamError::Incremental(Box::new(e))
    }
}

impl StreamError {
    /// Whether reconnecting may help.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            StreamError::Pg(e) => e.is_connection_lost(),
            StreamError::Catalog(c) => c.is_connection_lost(),
            StreamError::Incremental(e) => e.is_connection_lost(),
            _ => false,
        }
    }
}

/// A table as the stream knows it.
struct Relation {
    /// `None`: neither captured nor the signal table.
    model: Option<Arc<TableModel>>,
    qualified: String,
    /// Its changes are emitted.
    captured: bool,
    /// It is the signal table (`signal.data.collection`).
    signal: bool,
}

/// The transaction being received.
#[derive(Clone, Copy)]
struct Tx {
    xid: u32,
    commit: u64,
    ts_us: i64,
}

/// A transaction's change events so far, in all and per table (counted
/// also for events replayed after a restart, so the orders stay the same).
#[derive(Default)]
struct TxCounts {
    /// Debezium's transaction id, `<xid>:<commit LSN>`, made at its first event.
    id: String,
    events: i64,
    tables: Vec<(String, i64)>,
}

/// A table's columns as `(name, type oid, typmod)`.
type Shape = Vec<(String, u32, i32)>;

/// State that outlives one replication session (kept across reconnects).
pub struct StreamState {
    /// The last position whose events were emitted (skip up to it).
    pub emitted: StreamPosition,
    /// The flush LSN last confirmed to the server.
    pub flushed: u64,
    /// The commit LSN of the last transaction received whole since the
    /// connector started (the first half of `source.sequence`).
    pub last_commit: Option<u64>,
    /// Columns and version of each table's schema, to bump versions on change.
    versions: HashMap<String, (Shape, i32)>,
    /// Drops changes the snapshot already holds.
    pub filter: SnapshotFilter,
    /// The types the catalog knows.
    pub registry: TypeRegistry,
    partition: SourcePartition,
    heartbeat_topic: Arc<str>,
    /// `<topic.prefix>.message`, for logical decoding messages.
    message_topic: Arc<str>,
    /// `<topic.prefix>.<topic.transaction>`, for BEGIN and END events.
    transaction_topic: Arc<str>,
    name: Arc<str>,
    db: Arc<str>,
    last_heartbeat: Instant,
    /// Where the slot's lag is reported.
    gauges: Gauges,
    /// The slot's `catalog_xmin` as last fetched (`xmin.fetch.interval.ms`).
    xmin: Option<i64>,
    /// Since when a change has been emitted that the slot has not been
    /// confirmed past (`None`: everything emitted is confirmed).
    unconfirmed_since: Option<Instant>,
    /// The incremental snapshot (signals, watermark windows).
    pub incremental: Incremental,
}

impl StreamState {
    /// State resuming after `emitted`, having confirmed `flushed`.
    pub fn new(
        config: &PgCdcConfig,
        emitted: StreamPosition,
        flushed: u64,
        filter: SnapshotFilter,
        registry: TypeRegistry,
    ) -> StreamState {
        StreamState {
            emitted,
            flushed,
            last_commit: None,
            versions: HashMap::new(),
            filter,
            registry,
            partition: super::offsets::stream_partition(&config.prefix),
            heartbeat_topic: Arc::from(config.heartbeat_topic()),
            message_topic: Arc::from(format!("{}.message", config.prefix)),
            transaction_topic: Arc::from(config.transaction_topic.as_str()),
            name: Arc::from(config.prefix.as_str()),
            db: Arc::from(config.dbname.as_str()),
            last_heartbeat: Instant::now(),
            gauges: Gauges::default(),
            xmin: None,
            unconfirmed_since: None,
            incremental: Incremental::new(config, Progress::default()),
        }
    }

    /// The `source` block of a streamed event at `lsn`: Debezium's
    /// `sequence` is `[lastCommitLsn, lsn]`, the commit of the last
    /// transaction received whole in this session (else null) and the event.
    fn source(&self, ts_ms: i64, tx_id: Option<i64>, lsn: u64) -> SourceInfo {
        SourceInfo {
            name: self.name.clone(),
            db: self.db.clone(),
            ts_ms,
            snapshot: "false",
            sequence: Some(sequence(self.last_commit, lsn)),
            tx_id,
            lsn: Some(lsn as i64),
            xmin: self.xmin,
        }
    }

    /// Continues the incremental snapshot an offset recorded.
    pub fn with_incremental(mut self, incremental: Incremental) -> StreamState {
        self.incremental = incremental;
        self
    }

    /// Reports the slot's lag to `gauges`.
    pub fn with_gauges(mut self, gauges: Gauges) -> StreamState {
        self.incremental.set_gauges(gauges.clone());
        self.gauges = gauges;
        self
    }
}

/// Debezium's `sequence` text, `["<last commit>","<lsn>"]` (`null` for
/// no commit yet), built without the formatting machinery: one per change.
fn sequence(last_commit: Option<u64>, lsn: u64) -> String {
    fn push_decimal(s: &mut String, n: u64) {
        let mut buf = [0u8; 40];
        let digits = crate::data::logical::u128_digits(u128::from(n), &mut buf);
        s.extend(digits.iter().map(|&d| char::from(d)));
    }
    let mut s = String::with_capacity(48);
    match last_commit {
        Some(c) => {
            s.push_str("[\"");
            push_decimal(&mut s, c);
            s.push_str("\",\"");
        }
        None => s.push_str("[null,\""),
    }
    push_decimal(&mut s, lsn);
    s.push_str("\"]");
    s
}

/// One replication session's reader.
pub struct Streamer {
    stream: ReplicationStream,
    catalog: PgConnection,
    relations: HashMap<u32, Relation>,
    tx: Option<Tx>,
    /// The newest position a keepalive reported (nothing before it is pending).
    keepalive: Option<u64>,
    asked_at: Option<Instant>,
    /// When anything last arrived, and when the server was last asked to
    /// answer: a session silent after a request is taken as lost (a
    /// half-open TCP connection never reports an error).
    last_recv: Instant,
    probed_at: Option<Instant>,
    /// The current transaction's events so far (`provide.transaction.metadata`).
    txm: TxCounts,
    /// When `heartbeat.action.query` last ran.
    last_action: Instant,
    /// When the slot's xmin was last fetched.
    last_xmin: Option<Instant>,
    /// When the slot's lag was last measured, and last warned about.
    last_slot_check: Option<Instant>,
    last_warning: Option<Instant>,
    /// The offset change records carry until `poll` gives the batch the
    /// offset of its last change (only a batch's last offset per partition
    /// counts: a batch is emitted whole).
    placeholder: crate::data::SourceOffset,
    /// The offset of the last change emitted.
    last_change: Option<StreamOffset>,
}

/// The text of captured column `i` in a tuple's cells (`None`: null,
/// unchanged or absent).
fn text_of(model: &TableModel, cells: &[Cell<'_>], i: usize) -> Option<String> {
    match cells.get(*model.positions.get(i)?) {
        Some(Cell::Text(t)) => Some((*t).to_owned()),
        _ => None,
    }
}

/// Silence after which the server is asked to answer.
const PROBE_AFTER: Duration = Duration::from_secs(5);
/// Silence after a request after which the session is taken as lost.
const DEAD_AFTER: Duration = Duration::from_secs(10);

impl Streamer {
    /// Whether the last message read began a transaction whose commit has
    /// not been read yet: the changes emitted so far end inside it.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// A reader of `stream`, looking relations up through `catalog`.
    pub fn new(stream: ReplicationStream, catalog: PgConnection) -> Streamer {
        Streamer {
            stream,
            catalog,
            relations: HashMap::new(),
            tx: None,
            keepalive: None,
            asked_at: None,
            last_recv: Instant::now(),
            probed_at: None,
            txm: TxCounts::default(),
            last_action: Instant::now(),
            last_slot_check: None,
            last_xmin: None,
            last_warning: None,
            placeholder: crate::data::SourceOffset::int(
                &crate::data::SourceOffset::key("pending"),
                0,
            ),
            last_change: None,
        }
    }

    /// Confirms `lsn` as flushed if it is newer than what was confirmed.
    pub fn confirm(&mut self, state: &mut StreamState, lsn: u64) -> Result<(), PgError> {
        if lsn >= state.emitted.commit {
            state.unconfirmed_since = None;
        }
        if lsn > state.flushed {
            state.flushed = lsn;
            let l = Lsn(lsn);
            self.stream.send_standby_status(l, l, l, false)?;
            tracing::debug!(flush = %l, "confirmed to the server");
        }
        Ok(())
    }

    /// Receives for up to `budget` and returns the events, plus a heartbeat
    /// when idle and due.
    pub fn poll(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        budget: Duration,
    ) -> Result<Vec<SourceRecord>, StreamError> {
        let deadline = Instant::now() + budget;
        let mut out = Vec::new();
        let (mut received, mut timed_out) = (false, false);
        while out.len() < config.max_batch {
            // Messages already read come without a clock read (a backlog
            // is at most `max.batch.size` changes or one transaction past
            // the deadline); the socket is waited on only until it.
            let Some(msg) = self.stream.recv_until(deadline)? else {
                timed_out = true;
                break;
            };
            received = true;
            match msg {
                ReplicationMessage::XLogData {
                    wal_start, data, ..
                } => self.message(config, state, wal_start.0, data, &mut out)?,
                ReplicationMessage::Keepalive {
                    wal_end,
                    reply_requested,
                    ..
                } => {
                    if self.tx.is_none() {
                        self.keepalive = Some(wal_end.0);
                    }
                    if reply_requested {
                        // Never the durable flush again: a lagging flush
                        // would hold a server's fast shutdown (flush 0/0
                        // leaves the slot where commit() put it).
                        self.stream.send_keepalive_reply()?;
                    }
                }
            }
            // Return a partial batch only between changes: `message` never
            // leaves half a change behind.
            if !out.is_empty() && self.tx.is_none() {
                break;
            }
        }
        if received {
            self.last_recv = Instant::now();
            self.probed_at = None;
        }
        if timed_out {
            self.check_alive()?;
        }
        if out.is_empty() {
            if let Some(r) = self.heartbeat(config, state)? {
                out.push(r);
            }
        } else if state.unconfirmed_since.is_none() {
            state.unconfirmed_since = Some(Instant::now());
        }
        self.heartbeat_action(config)?;
        self.check_slot(config, state);
        self.fetch_xmin(config, state);
        if self.tx.is_none() {
            state
                .incremental
                .step(&mut self.catalog, config, &state.registry)?;
        }
        self.seal(state, &mut out);
        Ok(out)
    }

    /// Gives every streaming record of a batch the offset of the batch's
    /// last one: the runtime keeps only a batch's last offset per partition
    /// (a batch is emitted whole), so one offset is made per batch instead
    /// of per change. While an incremental snapshot runs, the
    /// offset carries its progress as of the batch's end.
    fn seal(&mut self, state: &StreamState, out: &mut [SourceRecord]) {
        let is_stream = |r: &SourceRecord| {
            r.source_partition.ptr_eq(&state.partition) || r.source_partition == state.partition
        };
        let Some(last) = out.iter().rposition(is_stream) else {
            return;
        };
        let pending = matches!(
            (&out[last].source_offset, &self.placeholder),
            (crate::data::SourceOffset::Int(a, _), crate::data::SourceOffset::Int(b, _)) if Arc::ptr_eq(a, b)
        );
        let offset = if pending {
            match self.last_change.take() {
                Some(o) => o.to_offset(),
                None => return,
            }
        } else {
            out[last].source_offset.clone()
        };
        let offset = if state.incremental.progress.active() {
            let mut m = offset.to_map();
            state.incremental.progress.write(&mut m);
            crate::data::SourceOffset::from_map(m)
        } else {
            offset
        };
        for r in out.iter_mut().filter(|r| is_stream(r)) {
            r.source_offset = offset.clone();
        }
    }

    /// Reads the slot's `catalog_xmin` every `xmin.fetch.interval.ms` (0:
    /// never), for the `source.xmin` of the events that follow.
    fn fetch_xmin(&mut self, config: &PgCdcConfig, state: &mut StreamState) {
        let Some(every) = config.xmin_fetch_interval else {
            return;
        };
        if self.last_xmin.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_xmin = Some(Instant::now());
        let sql = format!(
            "SELECT catalog_xmin::text FROM pg_replication_slots WHERE slot_name = {}",
            super::wire::quote_literal(&config.slot)
        );
        match self.catalog.simple_query(&sql) {
            Ok(r) => {
                state.xmin = r
                    .into_iter()
                    .next()
                    .and_then(|r| r.rows.into_iter().next())
                    .and_then(|row| row.into_iter().next().flatten())
                    .and_then(|t| t.parse().ok());
            }
            Err(e) => tracing::debug!(error = %e, "could not read the slot's xmin"),
        }
    }

    /// Runs `heartbeat.action.query` once per heartbeat interval.
    fn heartbeat_action(&mut self, config: &PgCdcConfig) -> Result<(), StreamError> {
        let (Some(query), Some(interval)) = (&config.heartbeat_action_query, config.heartbeat)
        else {
            return Ok(());
        };
        if self.last_action.elapsed() < interval {
            return Ok(());
        }
        self.last_action = Instant::now();
        self.catalog.execute(query).map_err(|e| {
            StreamError::Catalog(CatalogError::Pg {
                context: format!("heartbeat.action.query `{query}` failed"),
                source: Box::new(e),
            })
        })
    }

    /// Measures the slot's WAL retention every `slot.lag.check.interval.ms`:
    /// exported as gauges, and a warning past `slot.retained.wal.warn.bytes`
    /// (at most once a minute). A failed measurement is only logged.
    fn check_slot(&mut self, config: &PgCdcConfig, state: &StreamState) {
        if self
            .last_slot_check
            .is_some_and(|t| t.elapsed() < config.slot_check_interval)
        {
            return;
        }
        self.last_slot_check = Some(Instant::now());
        let sql = format!(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8, \
                    pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 \
             FROM pg_replication_slots WHERE slot_name = {}",
            super::wire::quote_literal(&config.slot)
        );
        let row = match self.catalog.simple_query(&sql) {
            Ok(r) => r
                .into_iter()
                .next()
                .and_then(|r| r.rows.into_iter().next())
                .unwrap_or_default(),
            Err(e) => {
                tracing::debug!(error = %e, "could not measure the slot's WAL retention");
                return;
            }
        };
        let num = |i: usize| {
            row.get(i)
                .cloned()
                .flatten()
                .and_then(|t| t.parse::<f64>().ok())
        };
        let slot = [("slot", config.slot.as_str())];
        let g = &state.gauges;
        if let Some(retained) = num(0) {
            g.set(
                "pg_slot_retained_wal_bytes",
                "WAL the replication slot holds back on the server (from its restart_lsn), in bytes.",
                &slot,
                retained,
            );
            let limit = config.retained_wal_warn_bytes;
            if limit > 0
                && retained > limit as f64
                && self
                    .last_warning
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
            {
                self.last_warning = Some(Instant::now());
                tracing::warn!(
                    slot = %config.slot,
                    retained_bytes = retained as u64,
                    limit_bytes = limit,
                    "replication slot `{}` holds back {} bytes of WAL, more than \
                     slot.retained.wal.warn.bytes ({limit}); the server keeps that WAL until \
                     the job's snapshots let it be confirmed (is the job keeping up, are \
                     heartbeats on?)",
                    config.slot,
                    retained as u64
                );
            }
        }
        if let Some(unconfirmed) = num(1) {
            g.set(
                "pg_slot_unconfirmed_wal_bytes",
                "WAL between the slot's confirmed_flush_lsn and the server's current position, in bytes.",
                &slot,
                unconfirmed,
            );
        }
        g.set(
            "pg_unconfirmed_change_age_seconds",
            "Age of the oldest change emitted that the slot is not yet confirmed past, in seconds (0: none).",
            &slot,
            state
                .unconfirmed_since
                .map_or(0.0, |t| t.elapsed().as_secs_f64()),
        );
    }

    /// Asks a silent server to answer; fails once it stayed silent.
    fn check_alive(&mut self) -> Result<(), StreamError> {
        if self.last_recv.elapsed() < PROBE_AFTER {
            return Ok(());
        }
        match self.probed_at {
            None => {
                self.probed_at = Some(Instant::now());
                let write = self.stream.last_received();
                self.stream
                    .send_standby_status(write, Lsn::ZERO, Lsn::ZERO, true)?;
                Ok(())
            }
            Some(t) if t.elapsed() >= DEAD_AFTER => Err(StreamError::Pg(PgError::Timeout)),
            Some(_) => Ok(()),
        }
    }

    /// A heartbeat record if one is due and the server reported a position
    /// past everything emitted; asks the server for its position otherwise.
    fn heartbeat(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
    ) -> Result<Option<SourceRecord>, StreamError> {
        let Some(interval) = config.heartbeat else {
            return Ok(None);
        };
        if state.last_heartbeat.elapsed() < interval || self.tx.is_some() {
            return Ok(None);
        }
        match self.keepalive.take() {
            Some(w) if w > state.emitted.commit => {
                state.last_heartbeat = Instant::now();
                self.asked_at = None;
                state.emitted = StreamPosition {
                    commit: w,
                    processed: None,
                };
                let offset = StreamOffset {
                    lsn: w,
                    commit: w,
                    tx_id: None,
                    ts_usec: now_ms() * 1000,
                    message_type: None,
                };
                let key_schema = SchemaBuilder::struct_()
                    .name("io.debezium.connector.common.ServerNameKey")
                    .field("serverName", crate::data::Schema::string())
                    .build();
                let value_schema = SchemaBuilder::struct_()
                    .name("io.debezium.connector.common.Heartbeat")
                    .field("ts_ms", crate::data::Schema::int64())
                    .build();
                let key = Struct::new(key_schema.clone())
                    .with("serverName", Value::String(state.name.to_string()))
                    .map_err(|e| StreamError::Protocol(e.to_string()))?;
                let value = Struct::new(value_schema.clone())
                    .with("ts_ms", Value::Int64(now_ms()))
                    .map_err(|e| StreamError::Protocol(e.to_string()))?;
                Ok(Some(
                    SourceRecord::new(
                        state.partition.clone(),
                        offset.to_offset(),
                        state.heartbeat_topic.clone(),
                        Some(value_schema),
                        Value::Struct(value),
                    )
                    .with_key(Some(key_schema), Value::Struct(key)),
                ))
            }
            _ => {
                // Ask for the server's position (a keepalive comes back).
                if self
                    .asked_at
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(500))
                {
                    self.asked_at = Some(Instant::now());
                    let write = self.stream.last_received();
                    self.stream
                        .send_standby_status(write, Lsn::ZERO, Lsn::ZERO, true)?;
                }
                Ok(None)
            }
        }
    }

    fn message(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        lsn: u64,
        data: PgOutput,
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        match data {
            PgOutput::Begin {
                final_lsn,
                commit_time_us,
                xid,
            } => {
                self.tx = Some(Tx {
                    xid,
                    commit: final_lsn.0,
                    ts_us: pg_time_to_unix_us(commit_time_us),
                });
                self.txm = TxCounts::default();
            }
            PgOutput::Commit { .. } => {
                if let Some(tx) = self.tx {
                    if config.transaction_metadata && self.txm.events > 0 {
                        self.transaction_end(state, tx, out)?;
                    }
                }
                // Debezium's lastCommitLsn: the position of the COMMIT
                // message (the transaction's end).
                if self.tx.take().is_some() {
                    state.last_commit = Some(lsn);
                }
            }
            PgOutput::Relation(body) => self.relation(config, state, body)?,
            PgOutput::Insert { relation_id, new } => self.change(
                config,
                state,
                lsn,
                relation_id,
                (true, None, Some(new)),
                out,
            )?,
            PgOutput::Update {
                relation_id,
                key,
                old,
                mut new,
            } => {
                // The whole old row (REPLICA IDENTITY FULL) holds the
                // TOASTed values too: an unchanged one of the new row is
                // the old one, as Debezium sends it. A key-only old row
                // does not hold them.
                if let Some(old) = &old {
                    for (n, o) in new.iter_mut().zip(old) {
                        if *n == TupleValue::UnchangedToast {
                            *n = o.clone();
                        }
                    }
                }
                self.change(
                    config,
                    state,
                    lsn,
                    relation_id,
                    (false, old.or(key), Some(new)),
                    out,
                )?
            }
            PgOutput::Delete {
                relation_id,
                key,
                old,
            } => self.change(
                config,
                state,
                lsn,
                relation_id,
                (false, old.or(key), None),
                out,
            )?,
            PgOutput::Truncate { relation_ids, .. } => {
                self.truncate(config, state, lsn, &relation_ids, out)?;
            }
            PgOutput::Message {
                transactional,
                lsn: message_lsn,
                prefix,
                content,
            } => {
                let lsn = if message_lsn.0 != 0 {
                    message_lsn.0
                } else {
                    lsn
                };
                self.logical_message(config, state, lsn, transactional, &prefix, &content, out)?;
            }
            PgOutput::Type { .. } | PgOutput::Origin { .. } => {}
        }
        Ok(())
    }

    /// Debezium's `t` events: one per captured table of the TRUNCATE, with
    /// no key and neither `before` nor `after` (unless `skipped.operations`
    /// holds `t`, its default).
    fn truncate(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        lsn: u64,
        relation_ids: &[u32],
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        let tx = self.tx.ok_or_else(|| {
            StreamError::Protocol(format!("TRUNCATE at {} outside a transaction", Lsn(lsn)))
        })?;
        if config.skipped.truncate {
            tracing::debug!(
                ?relation_ids,
                "TRUNCATE skipped (skipped.operations holds t)"
            );
            return Ok(());
        }
        if state.emitted.already_emitted(tx.commit, lsn) {
            return Ok(());
        }
        let now = now_ms();
        for id in relation_ids {
            let Some(model) = self.relations.get(id).and_then(|r| r.model.clone()) else {
                continue;
            };
            let source = state.source(tx.ts_us / 1000, Some(i64::from(tx.xid)), lsn);
            let value = model.envelope(Op::Truncate, None, None, &source, now)?;
            let offset = StreamOffset {
                lsn,
                commit: tx.commit,
                tx_id: Some(i64::from(tx.xid)),
                ts_usec: tx.ts_us,
                message_type: Some("TRUNCATE"),
            };
            out.push(SourceRecord::new(
                state.partition.clone(),
                offset.to_offset(),
                model.topic.clone(),
                Some(model.envelope_schema.clone()),
                value,
            ));
        }
        state.emitted = StreamPosition {
            commit: tx.commit,
            processed: Some(lsn),
        };
        Ok(())
    }

    /// A logical decoding message (`pg_logical_emit_message`) as Debezium
    /// emits it on `<topic.prefix>.message`: keyed by its prefix, `op` `m`.
    /// A transactional one carries its transaction; one emitted outside a
    /// transaction is sent at once and carries none.
    #[allow(clippy::too_many_arguments)]
    fn logical_message(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        lsn: u64,
        transactional: bool,
        prefix: &str,
        content: &[u8],
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        if !config.message_included(prefix) {
            return Ok(());
        }
        let tx = if transactional { self.tx } else { None };
        // A non-transactional message is not part of a commit: its own
        // LSN is its position.
        let commit = tx.map_or(lsn, |t| t.commit);
        if state.emitted.already_emitted(commit, lsn) {
            return Ok(());
        }
        let ts_us = tx.map_or_else(|| now_ms().saturating_mul(1000), |t| t.ts_us);
        let source = state.source(ts_us / 1000, tx.map(|t| i64::from(t.xid)), lsn);
        let bad = |e: crate::data::DataError| StreamError::Protocol(e.to_string());
        let (key_schema, value_schema) = message_schemas();
        let message_schema = value_schema
            .field("message")
            .map(|f| f.schema.clone())
            .ok_or_else(|| StreamError::Protocol("message schema without `message`".into()))?;
        let key = Struct::from_parts(key_schema.clone(), vec![Value::String(prefix.to_owned())])
            .map_err(bad)?;
        let message = Struct::from_parts(
            message_schema,
            vec![
                Value::String(prefix.to_owned()),
                Value::Bytes(content.to_vec()),
            ],
        )
        .map_err(bad)?;
        let value = Struct::from_parts(
            value_schema.clone(),
            vec![
                Value::String(Op::Message.code().to_owned()),
                Value::Int64(now_ms()),
                Value::Struct(source_struct("", "", &source).map_err(bad)?),
                Value::Struct(message),
            ],
        )
        .map_err(bad)?;
        let offset = StreamOffset {
            lsn,
            commit,
            tx_id: tx.map(|t| i64::from(t.xid)),
            ts_usec: ts_us,
            message_type: Some("MESSAGE"),
        };
        out.push(
            SourceRecord::new(
                state.partition.clone(),
                offset.to_offset(),
                state.message_topic.clone(),
                Some(value_schema),
                Value::Struct(value),
            )
            .with_key(Some(key_schema), Value::Struct(key)),
        );
        state.emitted = StreamPosition {
            commit,
            processed: Some(lsn),
        };
        Ok(())
    }

    fn relation(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        body: RelationBody,
    ) -> Result<(), StreamError> {
        let qualified = format!("{}.{}", body.namespace, body.name);
        let captured = config.filters.table_included(&body.namespace, &body.name);
        let signal = state.incremental.is_signal(&qualified);
        if !captured && !signal {
            self.relations.insert(
                body.id,
                Relation {
                    model: None,
                    qualified,
                    captured,
                    signal,
                },
            );
            return Ok(());
        }
        // Unknown types (a new enum, say): reload the registry once.
        if body
            .columns
            .iter()
            .any(|c| c.type_oid >= 16384 && state.registry.get(c.type_oid).is_none())
        {
            state.registry = catalog::load_types(&mut self.catalog)?;
        }
        let (catalog_columns, key) = catalog::table_columns(&mut self.catalog, body.id)?;
        let columns: Vec<CatalogColumn> = body
            .columns
            .iter()
            .map(|c| CatalogColumn {
                name: c.name.clone(),
                type_oid: c.type_oid,
                typmod: c.type_modifier,
                nullable: catalog_columns
                    .iter()
                    .find(|cc| cc.name == c.name)
                    .is_none_or(|cc| cc.nullable),
                default: catalog_columns
                    .iter()
                    .find(|cc| cc.name == c.name)
                    .and_then(|cc| cc.default.clone()),
            })
            .collect();
        let shape: Shape = columns
            .iter()
            .map(|c| (c.name.clone(), c.type_oid, c.typmod))
            .collect();
        match state.versions.get_mut(&qualified) {
            Some((old, v)) if *old != shape => {
                *v += 1;
                *old = shape;
                tracing::info!(table = %qualified, version = *v, "table schema changed");
            }
            Some(_) => {}
            None => {
                state.versions.insert(qualified.clone(), (shape, 1));
            }
        }
        let model = catalog::model(
            config,
            &state.registry,
            &body.namespace,
            &body.name,
            &columns,
            &key,
        );
        self.relations.insert(
            body.id,
            Relation {
                model: Some(Arc::new(model)),
                qualified,
                captured,
                signal,
            },
        );
        Ok(())
    }

    fn change(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        lsn: u64,
        relation_id: u32,
        (insert, old, new): (bool, Option<Vec<TupleValue>>, Option<Vec<TupleValue>>),
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        let tx = self.tx.ok_or_else(|| {
            StreamError::Protocol(format!("change at {} outside a transaction", Lsn(lsn)))
        })?;
        // A change emitted before a restart is decoded again only to count
        // it for the transaction metadata, then dropped.
        let replayed = state.emitted.already_emitted(tx.commit, lsn);
        if replayed && !config.transaction_metadata {
            return Ok(());
        }
        let start = out.len();
        let rel = self.relations.get(&relation_id).ok_or_else(|| {
            StreamError::Protocol(format!(
                "change to relation {relation_id} before its Relation message"
            ))
        })?;
        let Some(model) = rel.model.clone() else {
            return Ok(());
        };
        let qualified = rel.qualified.clone();
        let (captured, signal) = (rel.captured, rel.signal);
        /// A tuple's values as text. The session's client_encoding is
        /// UTF8; anything else is not text this connector can decode, and
        /// is never silently nulled.
        fn cells(
            t: &Option<Vec<TupleValue>>,
        ) -> Result<Option<Vec<Cell<'_>>>, std::str::Utf8Error> {
            t.as_ref()
                .map(|t| {
                    t.iter()
                        .map(|v| match v {
                            TupleValue::Null => Ok(Cell::Null),
                            TupleValue::UnchangedToast => Ok(Cell::Unchanged),
                            TupleValue::Text(b) | TupleValue::Binary(b) => {
                                std::str::from_utf8(b).map(Cell::Text)
                            }
                        })
                        .collect()
                })
                .transpose()
        }
        let is_insert = insert;
        let (Ok(old_cells), Ok(new_cells)) = (cells(&old), cells(&new)) else {
            return Err(StreamError::Protocol(format!(
                "table {qualified}: a value at {} is not UTF-8 text",
                Lsn(lsn)
            )));
        };
        if signal && !replayed && is_insert {
            if let Some(c) = &new_cells {
                self.signal(config, state, lsn, tx, &model, c, out)?;
            }
        }
        if !captured {
            return Ok(());
        }
        if state.incremental.watching(&qualified) {
            // A change between an incremental snapshot's watermarks is
            // newer than the chunk's row of its key.
            for c in [&old_cells, &new_cells].into_iter().flatten() {
                let key: Option<Vec<String>> =
                    model.key.iter().map(|&i| text_of(&model, c, i)).collect();
                if let Some(k) = key.filter(|k| !k.is_empty()) {
                    state.incremental.superseded(&k);
                }
            }
        }
        let before = old_cells.as_deref().map(|c| model.row(c)).transpose()?;
        let after = new_cells.as_deref().map(|c| model.row(c)).transpose()?;
        let key_parts = |c: &Option<Vec<Cell<'_>>>| -> Option<Vec<KeyPart>> {
            let c = c.as_ref()?;
            if model.key.is_empty() {
                return None;
            }
            model
                .key
                .iter()
                .map(|&i| match c.get(model.positions[i]) {
                    Some(Cell::Text(t)) => key_part(&model.columns[i].kind, t),
                    _ => None,
                })
                .collect()
        };
        let source = |op_lsn: u64| state.source(tx.ts_us / 1000, Some(i64::from(tx.xid)), op_lsn);
        // Records carry a placeholder; the batch's last change gets its
        // real offset in `poll` (`last_change`), shared by the batch.
        let last_kind = std::cell::Cell::new(None);
        let placeholder = &self.placeholder;
        let record = |key: Value, value: Value, kind: &'static str, tombstone: bool| {
            last_kind.set(Some(kind));
            let r = SourceRecord::new(
                state.partition.clone(),
                placeholder.clone(),
                model.topic.clone(),
                (!tombstone).then(|| model.envelope_schema.clone()),
                value,
            );
            r.with_key(model.key_schema.clone(), key)
        };
        let now = now_ms();
        let src = source(lsn);
        let emit_for = |parts: Option<Vec<KeyPart>>| {
            state.filter.emit(&qualified, parts.as_deref(), tx.commit)
        };
        let skip = config.skipped;
        match (before, after) {
            (None, Some(after)) if is_insert => {
                if !skip.create && emit_for(key_parts(&new_cells)) {
                    let key = model.key_of(&after)?;
                    let v = model.envelope(Op::Create, None, Some(after), &src, now)?;
                    out.push(record(key, v, "INSERT", false));
                }
            }
            (before, Some(after)) => {
                let key_after = model.key_of(&after)?;
                let key_before = match &before {
                    Some(b) => Some(model.key_of(b)?),
                    None => None,
                };
                let key_changed =
                    !model.key.is_empty() && key_before.as_ref().is_some_and(|k| *k != key_after);
                if key_changed {
                    // Debezium: a primary-key change is a delete of the old
                    // key (plus tombstone) and a create of the new one.
                    let kb = key_before.unwrap_or(Value::Null);
                    if !skip.delete && emit_for(key_parts(&old_cells)) {
                        let v = model.envelope(Op::Delete, before, None, &src, now)?;
                        out.push(record(kb.clone(), v, "DELETE", false));
                        if config.tombstones {
                            out.push(record(kb, Value::Null, "DELETE", true));
                        }
                    }
                    if !skip.create && emit_for(key_parts(&new_cells)) {
                        let v = model.envelope(Op::Create, None, Some(after), &src, now)?;
                        out.push(record(key_after, v, "INSERT", false));
                    }
                } else if !skip.update && emit_for(key_parts(&new_cells)) {
                    let v = model.envelope(Op::Update, before, Some(after), &src, now)?;
                    out.push(record(key_after, v, "UPDATE", false));
                }
            }
            (Some(before), None) => {
                if !skip.delete && emit_for(key_parts(&old_cells)) {
                    let key = model.key_of(&before)?;
                    let v = model.envelope(Op::Delete, Some(before), None, &src, now)?;
                    out.push(record(key.clone(), v, "DELETE", false));
                    if config.tombstones {
                        out.push(record(key, Value::Null, "DELETE", true));
                    }
                }
            }
            (None, None) => {
                tracing::debug!(table = %qualified, lsn = %Lsn(lsn), "delete without old key (REPLICA IDENTITY NOTHING) skipped");
            }
        }
        if config.transaction_metadata {
            self.annotate(state, tx, lsn, &qualified, start, out)?;
        }
        if replayed {
            out.truncate(start);
            return Ok(());
        }
        if let Some(kind) = last_kind.get() {
            self.last_change = Some(StreamOffset {
                lsn,
                commit: tx.commit,
                tx_id: Some(i64::from(tx.xid)),
                ts_usec: tx.ts_us,
                message_type: Some(kind),
            });
        }
        state.emitted = StreamPosition {
            commit: tx.commit,
            processed: Some(lsn),
        };
        Ok(())
    }

    /// A row inserted into the signal table: an incremental snapshot's
    /// signal or watermark. A close watermark emits its chunk here, at the
    /// watermark's position.
    #[allow(clippy::too_many_arguments)]
    fn signal(
        &mut self,
        config: &PgCdcConfig,
        state: &mut StreamState,
        lsn: u64,
        tx: Tx,
        model: &TableModel,
        cells: &[Cell<'_>],
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        let column = |name: &str| {
            let i = model.columns.iter().position(|c| c.name == name)?;
            text_of(model, cells, i)
        };
        let (Some(id), Some(kind)) = (column("id"), column("type")) else {
            tracing::warn!(table = %model.qualified(), lsn = %Lsn(lsn), "a signal row without id or type; ignored");
            return Ok(());
        };
        let data = column("data");
        let rows =
            state
                .incremental
                .signal(&mut self.catalog, config, &id, &kind, data.as_deref())?;
        if !rows.is_empty() {
            let offset = StreamOffset {
                lsn,
                commit: tx.commit,
                tx_id: Some(i64::from(tx.xid)),
                ts_usec: tx.ts_us,
                message_type: Some("INSERT"),
            }
            .to_offset();
            for mut r in rows {
                r.source_offset = offset.clone();
                out.push(r);
            }
            state.emitted = StreamPosition {
                commit: tx.commit,
                processed: Some(lsn),
            };
        }
        Ok(())
    }

    /// Gives the change events in `out[start..]` their `transaction` block
    /// (tombstones have none) and counts them; before the transaction's
    /// first event, a BEGIN event on the transaction topic.
    fn annotate(
        &mut self,
        state: &StreamState,
        tx: Tx,
        lsn: u64,
        table: &str,
        start: usize,
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        let bad = |e: crate::data::DataError| StreamError::Protocol(e.to_string());
        let first = self.txm.events == 0;
        if first {
            self.txm.id = format!("{}:{}", tx.xid, tx.commit);
        }
        let mut counted = false;
        for r in &mut out[start..] {
            let Value::Struct(envelope) = &mut r.value else {
                continue;
            };
            self.txm.events += 1;
            let in_table = match self.txm.tables.iter_mut().find(|(t, _)| t == table) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    self.txm.tables.push((table.to_owned(), 1));
                    1
                }
            };
            let block = Struct::from_parts(
                transaction_schema(),
                vec![
                    Value::String(self.txm.id.clone()),
                    Value::Int64(self.txm.events),
                    Value::Int64(in_table),
                ],
            )
            .map_err(bad)?;
            envelope
                .put("transaction", Value::Struct(block))
                .map_err(bad)?;
            counted = true;
        }
        if first && counted {
            let offset = StreamOffset {
                lsn,
                commit: tx.commit,
                tx_id: Some(i64::from(tx.xid)),
                ts_usec: tx.ts_us,
                message_type: Some("BEGIN"),
            };
            let begin = self.transaction_record(state, tx, "BEGIN", None, offset)?;
            out.insert(start, begin);
        }
        Ok(())
    }

    /// The END event of a transaction that had events, at its commit.
    fn transaction_end(
        &mut self,
        state: &mut StreamState,
        tx: Tx,
        out: &mut Vec<SourceRecord>,
    ) -> Result<(), StreamError> {
        if state.emitted.already_emitted(tx.commit, tx.commit) {
            return Ok(());
        }
        let offset = StreamOffset {
            lsn: tx.commit,
            commit: tx.commit,
            tx_id: Some(i64::from(tx.xid)),
            ts_usec: tx.ts_us,
            message_type: Some("COMMIT"),
        };
        let counts = std::mem::take(&mut self.txm);
        let end = self.transaction_record(state, tx, "END", Some(&counts), offset)?;
        out.push(end);
        state.emitted = StreamPosition {
            commit: tx.commit,
            processed: Some(tx.commit),
        };
        Ok(())
    }

    /// A BEGIN or END event (Debezium's transaction metadata).
    fn transaction_record(
        &self,
        state: &StreamState,
        tx: Tx,
        status: &str,
        counts: Option<&TxCounts>,
        offset: StreamOffset,
    ) -> Result<SourceRecord, StreamError> {
        let bad = |e: crate::data::DataError| StreamError::Protocol(e.to_string());
        let (key_schema, value_schema) = transaction_event_schemas();
        let id = counts.map_or_else(|| self.txm.id.clone(), |c| c.id.clone());
        let collection_schema = value_schema
            .field("data_collections")
            .and_then(|f| f.schema.value_schema.clone())
            .ok_or_else(|| {
                StreamError::Protocol("transaction schema without collections".into())
            })?;
        let collections = match counts {
            None => Value::Null,
            Some(c) => Value::Array(
                c.tables
                    .iter()
                    .map(|(t, n)| {
                        Struct::from_parts(
                            collection_schema.clone(),
                            vec![Value::String(t.clone()), Value::Int64(*n)],
                        )
                        .map(Value::Struct)
                    })
                    .collect::<Result<_, _>>()
                    .map_err(bad)?,
            ),
        };
        let value = Struct::from_parts(
            value_schema.clone(),
            vec![
                Value::String(status.to_owned()),
                Value::String(id.clone()),
                counts.map_or(Value::Null, |c| Value::Int64(c.events)),
                collections,
                Value::Int64(tx.ts_us / 1000),
            ],
        )
        .map_err(bad)?;
        let key = Struct::from_parts(key_schema.clone(), vec![Value::String(id)]).map_err(bad)?;
        Ok(SourceRecord::new(
            state.partition.clone(),
            offset.to_offset(),
            state.transaction_topic.clone(),
            Some(value_schema),
            Value::Struct(value),
        )
        .with_key(Some(key_schema), Value::Struct(key)))
    }

    /// Closes the session.
    pub fn close(self) {
        self.stream.close();
        self.catalog.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_is_debeziums_text_of_both_positions() {
        let mut values = vec![0, 1, 9, 10, 99, 100, 24_023_128, u64::MAX - 1, u64::MAX];
        values.extend((0..20).map(|e| 10u64.pow(e)));
        for &lsn in &values {
            assert_eq!(sequence(None, lsn), format!("[null,\"{lsn}\"]"));
            for &commit in &values {
                assert_eq!(
                    sequence(Some(commit), lsn),
                    format!("[\"{commit}\",\"{lsn}\"]")
                );
            }
        }
    }
}
