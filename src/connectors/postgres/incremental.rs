//! Incremental (ad-hoc) snapshots, as Debezium's: a row inserted into the
//! signal table (`signal.data.collection`) with type `execute-snapshot`
//! queues tables to re-read while streaming goes on, chunk by chunk, with
//! the DBLog watermark algorithm so a snapshot row never overwrites a newer
//! change:
//!
//! 1. insert a `snapshot-window-open` row into the signal table;
//! 2. select the next chunk (`incremental.snapshot.chunk.size` rows after
//!    the last key read, up to the table's largest key when it started);
//! 3. insert a `snapshot-window-close` row.
//!
//! The stream then meets the open row; every change to a key of the chunk
//! between the open and close rows drops that key from the chunk (the
//! change is newer, and is emitted itself); at the close row the rest of
//! the chunk is emitted as `op: "r"` events with `source.snapshot`
//! `incremental`, in one batch with the close row's stream offset.
//!
//! The progress (tables left, the last key emitted, the largest key) rides
//! in every streaming offset while a snapshot runs, so a restart continues
//! after the last chunk that is durable; a chunk cut by a crash is read
//! again in a new window (the old window's rows are ignored: windows are
//! known by id).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::data::{OffsetValue, SourceOffset, SourcePartition, SourceRecord};

use super::catalog::{self, CatalogError, TableInfo};
use super::config::PgCdcConfig;
use super::envelope::{now_ms, Cell, Op, RowError, SourceInfo, TableModel};
use super::snapshot::{describe, max_key, range_select, KeyColumn};
use super::types::TypeRegistry;
use super::wire::{quote_literal, PgConnection, PgError};

/// Signal type that starts an incremental snapshot.
pub const EXECUTE: &str = "execute-snapshot";
/// Signal type that stops one.
pub const STOP: &str = "stop-snapshot";
/// Watermark type written before a chunk is read.
pub const WINDOW_OPEN: &str = "snapshot-window-open";
/// Watermark type written after a chunk is read.
pub const WINDOW_CLOSE: &str = "snapshot-window-close";

const TABLES: &str = "incremental_snapshot_collections";
const LAST_KEY: &str = "incremental_snapshot_primary_key";
const MAX_KEY: &str = "incremental_snapshot_maximum_key";

/// An incremental snapshot failure.
#[derive(Debug, thiserror::Error)]
pub enum IncrementalError {
    /// A query failed or the connection was lost.
    #[error("incremental snapshot: {0}")]
    Catalog(#[from] CatalogError),
    /// A query on the signal table or a chunk failed.
    #[error("incremental snapshot: {context}: {source}")]
    Pg {
        /// What was being done.
        context: String,
        /// The failure.
        source: Box<PgError>,
    },
    /// A row does not decode.
    #[error("incremental snapshot: {0}")]
    Row(#[from] RowError),
    /// A table could not be described.
    #[error("incremental snapshot: {0}")]
    Describe(#[from] Box<super::snapshot::SnapshotError>),
}

impl IncrementalError {
    /// Whether reconnecting may help.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            IncrementalError::Catalog(c) => c.is_connection_lost(),
            IncrementalError::Pg { source, .. } => source.is_connection_lost(),
            IncrementalError::Row(_) => false,
            IncrementalError::Describe(e) => e.is_connection_lost(),
        }
    }
}

fn pg(context: impl Into<String>) -> impl FnOnce(PgError) -> IncrementalError {
    let context = context.into();
    move |source| IncrementalError::Pg {
        context,
        source: Box::new(source),
    }
}

/// What the offsets keep of a running incremental snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Tables left to read, `schema.table`, the one being read first.
    pub tables: VecDeque<String>,
    /// The last key emitted of the first table (text of each key column).
    pub last: Option<Vec<String>>,
    /// The first table's largest key when its snapshot started; `None`
    /// until it is known (`Some(None)`: the table was empty).
    pub max: Option<Option<Vec<String>>>,
}

fn key_value(key: &[String]) -> OffsetValue {
    OffsetValue::List(key.iter().cloned().map(OffsetValue::String).collect())
}

fn key_of(value: Option<&OffsetValue>) -> Option<Vec<String>> {
    match value {
        Some(OffsetValue::List(parts)) => parts
            .iter()
            .map(|p| p.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

impl Progress {
    /// Whether a snapshot is running.
    pub fn active(&self) -> bool {
        !self.tables.is_empty()
    }

    /// Adds the progress to a streaming offset's fields (nothing when no
    /// snapshot runs).
    pub fn write(&self, m: &mut BTreeMap<String, OffsetValue>) {
        if !self.active() {
            return;
        }
        m.insert(
            TABLES.to_owned(),
            OffsetValue::List(
                self.tables
                    .iter()
                    .cloned()
                    .map(OffsetValue::String)
                    .collect(),
            ),
        );
        if let Some(last) = &self.last {
            m.insert(LAST_KEY.to_owned(), key_value(last));
        }
        if let Some(max) = &self.max {
            m.insert(
                MAX_KEY.to_owned(),
                max.as_deref().map_or(OffsetValue::Null, key_value),
            );
        }
    }

    /// The progress a streaming offset holds (none: no snapshot ran).
    pub fn read(offset: &SourceOffset) -> Progress {
        let tables = match offset.get(TABLES) {
            Some(OffsetValue::List(items)) => items
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => VecDeque::new(),
        };
        let max = match offset.get(MAX_KEY) {
            None => None,
            Some(OffsetValue::Null) => Some(None),
            Some(v) => Some(key_of(Some(&v))),
        };
        Progress {
            tables,
            last: key_of(offset.get(LAST_KEY).as_ref()),
            max,
        }
    }

    /// Sets the first table done and moves to the next.
    fn next_table(&mut self) {
        self.tables.pop_front();
        self.last = None;
        self.max = None;
    }
}

/// One chunk between its watermarks.
struct Window {
    /// The watermark rows' id prefix.
    id: String,
    table: String,
    /// Whether the stream has passed the open watermark.
    open: bool,
    /// The chunk's rows in key order; `None` once a change superseded it.
    rows: Vec<Option<SourceRecord>>,
    /// Row position by key text.
    index: HashMap<Vec<String>, usize>,
    /// The chunk's last key.
    last_key: Option<Vec<String>>,
    /// The chunk ends the table (it reached the largest key, or was short).
    ends_table: bool,
    /// When the watermarks were written, and whether a stall was reported.
    written: std::time::Instant,
    warned: bool,
}

/// A window whose watermarks have not come back by then is reported.
const STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// A table described for chunk reads.
struct Target {
    info: TableInfo,
    model: Arc<TableModel>,
    key: Vec<KeyColumn>,
    /// PostgreSQL's estimate of its rows.
    estimate: f64,
    /// Rows emitted by this process.
    emitted: u64,
}

/// The incremental snapshot's state in the stream.
pub struct Incremental {
    /// Durable-to-be progress.
    pub progress: Progress,
    window: Option<Window>,
    /// The signal table, `schema.table`.
    signal: Option<String>,
    chunk_size: usize,
    windows: u64,
    target: Option<Target>,
    partition: SourcePartition,
    name: Arc<str>,
    db: Arc<str>,
    /// Where progress is reported (phase `incremental`, item the table).
    gauges: Option<crate::api::Gauges>,
}

impl Incremental {
    /// State continuing `progress`.
    pub fn new(config: &PgCdcConfig, progress: Progress) -> Incremental {
        Incremental {
            progress,
            window: None,
            signal: config.signal_table.clone(),
            chunk_size: config.incremental_chunk_size,
            windows: 0,
            target: None,
            partition: super::offsets::stream_partition(&config.prefix),
            name: Arc::from(config.prefix.as_str()),
            db: Arc::from(config.dbname.as_str()),
            gauges: None,
        }
    }

    /// Reports each table's rows emitted by this process against
    /// PostgreSQL's estimate (phase `incremental`).
    pub fn set_gauges(&mut self, gauges: crate::api::Gauges) {
        self.gauges = Some(gauges);
    }

    /// Whether `qualified` is the signal table.
    pub fn is_signal(&self, qualified: &str) -> bool {
        self.signal.as_deref() == Some(qualified)
    }

    /// Forgets the open window (a new replication session: its watermarks
    /// may be sent again or not at all; the chunk is read again).
    pub fn reset_window(&mut self) {
        self.window = None;
    }

    /// Whether changes to `table` are being matched against a chunk.
    pub fn watching(&self, table: &str) -> bool {
        self.window
            .as_ref()
            .is_some_and(|w| w.open && w.table == table)
    }

    /// A change between the watermarks to a row of the chunk: the change is
    /// newer, so the chunk's row is not emitted.
    pub fn superseded(&mut self, key: &[String]) {
        if let Some(w) = self.window.as_mut() {
            if let Some(&i) = w.index.get(key) {
                w.rows[i] = None;
            }
        }
    }

    /// A row inserted into the signal table (not one emitted before a
    /// restart). Returns the chunk's records to emit at a close watermark.
    pub fn signal(
        &mut self,
        conn: &mut PgConnection,
        config: &PgCdcConfig,
        id: &str,
        kind: &str,
        data: Option<&str>,
    ) -> Result<Vec<SourceRecord>, IncrementalError> {
        match kind {
            WINDOW_OPEN => {
                if let Some(w) = self.window.as_mut() {
                    if id == format!("{}-open", w.id) {
                        w.open = true;
                    }
                }
                Ok(Vec::new())
            }
            WINDOW_CLOSE => {
                let Some(w) = self.window.take_if(|w| id == format!("{}-close", w.id)) else {
                    return Ok(Vec::new());
                };
                let rows: Vec<SourceRecord> = w.rows.into_iter().flatten().collect();
                tracing::debug!(table = %w.table, rows = rows.len(), "incremental snapshot chunk emitted");
                if let (Some(g), Some(t)) = (&self.gauges, self.target.as_mut()) {
                    t.emitted += rows.len() as u64;
                    let done = t.emitted as f64;
                    let total = if w.ends_table {
                        done
                    } else {
                        t.estimate.max(done + 1.0)
                    };
                    super::snapshot::set_phase_progress(g, "incremental", &w.table, done, total);
                }
                if w.ends_table {
                    tracing::info!(table = %w.table, "incremental snapshot of the table finished");
                    self.progress.next_table();
                    self.target = None;
                } else {
                    self.progress.last = w.last_key;
                }
                Ok(rows)
            }
            EXECUTE | STOP => {
                let wanted = collections(data);
                let tables = catalog::captured_tables(conn, config)?;
                let matching: Vec<String> = tables
                    .iter()
                    .map(TableInfo::qualified)
                    .filter(|t| wanted.iter().any(|w| w == t))
                    .collect();
                for w in &wanted {
                    if !matching.contains(w) {
                        tracing::warn!(signal = id, table = %w, "not a captured table; left out of the incremental snapshot");
                    }
                }
                if kind == EXECUTE {
                    tracing::info!(signal = id, tables = ?matching, "incremental snapshot requested");
                    for t in matching {
                        if !self.progress.tables.contains(&t) {
                            self.progress.tables.push_back(t);
                        }
                    }
                } else {
                    tracing::info!(signal = id, tables = ?matching, "incremental snapshot stopped");
                    let all = wanted.is_empty();
                    let first = self.progress.tables.front().cloned();
                    self.progress
                        .tables
                        .retain(|t| !all && !matching.contains(t));
                    if self.progress.tables.front() != first.as_ref() {
                        self.progress.last = None;
                        self.progress.max = None;
                        self.window = None;
                        self.target = None;
                    }
                }
                Ok(Vec::new())
            }
            other => {
                tracing::debug!(signal = id, kind = other, "signal ignored");
                Ok(Vec::new())
            }
        }
    }

    /// With a snapshot running and no chunk between watermarks, reads the
    /// next chunk between two new watermarks.
    pub fn step(
        &mut self,
        conn: &mut PgConnection,
        config: &PgCdcConfig,
        registry: &TypeRegistry,
    ) -> Result<(), IncrementalError> {
        if let Some(w) = self.window.as_mut() {
            if !w.warned && w.written.elapsed() >= STALL_AFTER {
                w.warned = true;
                tracing::warn!(
                    table = %w.table,
                    signal = self.signal.as_deref().unwrap_or(""),
                    "the incremental snapshot's watermark rows have not come back through the stream for a minute: is the signal table in the publication?"
                );
            }
            return Ok(());
        }
        if !self.progress.active() {
            return Ok(());
        }
        let Some(signal) = self.signal.clone() else {
            return Ok(());
        };
        while let Some(table) = self.progress.tables.front().cloned() {
            if self
                .target
                .as_ref()
                .is_none_or(|t| t.info.qualified() != table)
            {
                let found = catalog::captured_tables(conn, config)?
                    .into_iter()
                    .find(|t| t.qualified() == table);
                let Some(info) = found else {
                    tracing::warn!(%table, "not captured any more; left out of the incremental snapshot");
                    self.progress.next_table();
                    continue;
                };
                let d = describe(conn, config, registry, &info).map_err(Box::new)?;
                if d.key.is_empty() {
                    tracing::warn!(%table, "no primary key of orderable types; left out of the incremental snapshot");
                    self.progress.next_table();
                    continue;
                }
                self.target = Some(Target {
                    info,
                    model: Arc::new(d.model),
                    key: d.key,
                    estimate: d.estimate,
                    emitted: 0,
                });
            }
            let Some(target) = self.target.as_ref() else {
                continue;
            };
            let quoted = target.info.quoted();
            if self.progress.max.is_none() {
                let max = max_key(conn, &quoted, &target.key)
                    .map_err(pg(format!("read the largest key of {table}")))?;
                tracing::info!(%table, max = ?max, "incremental snapshot of the table started");
                self.progress.max = Some(max);
            }
            let Some(Some(max)) = self.progress.max.clone() else {
                // An empty table.
                self.progress.next_table();
                self.target = None;
                continue;
            };
            self.windows += 1;
            let id = format!("{}-{}-{}", slot_tag(&config.slot), now_ms(), self.windows);
            let watermark = |conn: &mut PgConnection, kind: &str, suffix: &str| {
                conn.execute(&format!(
                    "INSERT INTO {} (id, type, data) VALUES ({}, {}, NULL)",
                    catalog::quote_qualified(&signal),
                    quote_literal(&format!("{id}-{suffix}")),
                    quote_literal(kind)
                ))
                .map_err(pg(format!("insert a {kind} watermark into {signal}")))
            };
            watermark(conn, WINDOW_OPEN, "open")?;
            let sql = format!(
                "{} LIMIT {}",
                range_select(
                    &quoted,
                    &target.model,
                    &target.key,
                    self.progress.last.as_deref(),
                    Some(&max),
                ),
                self.chunk_size
            );
            let rows: Vec<Vec<Option<String>>> = conn
                .simple_query(&sql)
                .map_err(pg(format!("read a chunk of {table}")))?
                .into_iter()
                .flat_map(|r| r.rows)
                .collect();
            watermark(conn, WINDOW_CLOSE, "close")?;
            let mut window = Window {
                id,
                table: table.clone(),
                open: false,
                rows: Vec::with_capacity(rows.len()),
                index: HashMap::with_capacity(rows.len()),
                last_key: None,
                ends_table: rows.len() < self.chunk_size,
                written: std::time::Instant::now(),
                warned: false,
            };
            let source = SourceInfo {
                name: self.name.clone(),
                db: self.db.clone(),
                ts_ms: now_ms(),
                snapshot: "incremental",
                sequence: None,
                tx_id: None,
                lsn: None,
                xmin: None,
            };
            let model = &target.model;
            let width = model.positions.last().map_or(0, |p| p + 1);
            for row in &rows {
                let mut cells = vec![Cell::Null; width];
                for (i, &p) in model.positions.iter().enumerate() {
                    if let Some(Some(text)) = row.get(i) {
                        cells[p] = Cell::Text(text.as_str());
                    }
                }
                let after = model.row(&cells)?;
                let key = model.key_of(&after)?;
                let value = model.envelope(Op::Read, None, Some(after), &source, now_ms())?;
                let key_text: Option<Vec<String>> = target
                    .key
                    .iter()
                    .map(|k| row.get(k.index).cloned().flatten())
                    .collect();
                let record = SourceRecord::new(
                    self.partition.clone(),
                    SourceOffset::from_map(BTreeMap::new()),
                    model.topic.clone(),
                    Some(model.envelope_schema.clone()),
                    value,
                )
                .with_key(model.key_schema.clone(), key);
                if let Some(k) = key_text {
                    window.index.insert(k.clone(), window.rows.len());
                    window.last_key = Some(k);
                }
                window.rows.push(Some(record));
            }
            if window.last_key.as_ref() == Some(&max) {
                window.ends_table = true;
            }
            tracing::debug!(%table, rows = window.rows.len(), after = ?self.progress.last, "incremental snapshot chunk read");
            self.window = Some(window);
            return Ok(());
        }
        Ok(())
    }
}

/// The first 12 characters of the slot name, which start the ids of the
/// rows the connector writes into the signal table: a watermark's id
/// (`<tag>-<ms>-<window>-close`) then fits Debezium's suggested `id
/// varchar(42)` whatever the slot is called.
pub fn slot_tag(slot: &str) -> String {
    slot.chars().take(12).collect()
}

/// The `data-collections` of a signal's data (`{"data-collections": [...]}`).
fn collections(data: Option<&str>) -> Vec<String> {
    data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| v.get("data-collections").cloned())
        .and_then(|v| {
            v.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_incremental_progress_round_trips_through_offsets() {
        let p = Progress {
            tables: ["public.a".to_owned(), "public.b".to_owned()].into(),
            last: Some(vec!["10".into(), "x".into()]),
            max: Some(Some(vec!["99".into(), "z".into()])),
        };
        let mut m = BTreeMap::new();
        p.write(&mut m);
        let back = SourceOffset::from_json(&SourceOffset::from_map(m).to_json()).unwrap();
        assert_eq!(Progress::read(&back), p);
        // An empty table's maximum, and a table not started.
        for max in [Some(None), None] {
            let p = Progress {
                tables: ["public.a".to_owned()].into(),
                last: None,
                max,
            };
            let mut m = BTreeMap::new();
            p.write(&mut m);
            assert_eq!(Progress::read(&SourceOffset::from_map(m)), p);
        }
        // Nothing running: nothing written.
        let mut m = BTreeMap::new();
        Progress::default().write(&mut m);
        assert!(m.is_empty());
    }

    #[test]
    fn pg_signal_ids_fit_debeziums_id_column() {
        let slot = "a_rather_long_replication_slot_name_for_inventory";
        let close = format!("{}-{}-{}-close", slot_tag(slot), now_ms(), 999_999_999);
        assert!(close.len() <= 42, "{close} ({} bytes)", close.len());
        assert_eq!(slot_tag("debezium"), "debezium");
    }

    #[test]
    fn pg_signal_data_collections() {
        assert_eq!(
            collections(Some(
                r#"{"data-collections": ["public.a", "s.b"], "type": "incremental"}"#
            )),
            ["public.a", "s.b"]
        );
        assert!(collections(Some("not json")).is_empty());
        assert!(collections(None).is_empty());
    }
}
