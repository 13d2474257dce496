//! The initial snapshot: every captured table read in primary-key order
//! inside one `REPEATABLE READ` transaction that imported the snapshot a
//! replication slot exported, so the rows and the changes streamed from the
//! slot's consistent point are complete and do not overlap.
//!
//! Progress is kept per table (see [`super::offsets::TableProgress`]): each
//! record's offset says which key it reached under which snapshot, so a
//! restart continues after the last durable key under a fresh snapshot
//! (a new *segment*) and the stream drops what that snapshot already holds.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::api::{Gauges, PROGRESS_DONE, PROGRESS_TOTAL};
use crate::data::{SourceRecord, Value};

use super::catalog::{self, CatalogError, TableInfo};
use super::config::PgCdcConfig;
use super::envelope::{now_ms, Cell, Op, SourceInfo, TableModel};
use super::offsets::{key_part, orderable, ChunkKey, KeyPart, Segment, TableProgress};
use super::types::{oid, Kind, TypeRegistry};
use super::wire::{quote_ident, quote_literal, PgConnection, PgError};

/// Sets the `progress_done` / `progress_total` gauges of `item`.
fn set_progress(gauges: &Gauges, item: &str, done: f64, total: f64) {
    set_phase_progress(gauges, "snapshot", item, done, total);
}

/// Sets the `progress_done` / `progress_total` gauges of `item` in `phase`.
pub(super) fn set_phase_progress(gauges: &Gauges, phase: &str, item: &str, done: f64, total: f64) {
    let labels = [("phase", phase), ("item", item)];
    gauges.set(
        PROGRESS_DONE,
        "Work done by the task, by phase and item (snapshot: rows read per table, and tables read).",
        &labels,
        done,
    );
    gauges.set(
        PROGRESS_TOTAL,
        "Work to do, by phase and item (snapshot: PostgreSQL's row estimate; equal to done once finished).",
        &labels,
        total,
    );
}

/// A snapshot failure.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A query failed or the connection was lost.
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    /// A row does not decode.
    #[error("{0}")]
    Row(#[from] super::envelope::RowError),
}

impl SnapshotError {
    /// Whether reconnecting may help.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, SnapshotError::Catalog(c) if c.is_connection_lost())
    }
}

fn pg(context: impl Into<String>) -> impl FnOnce(PgError) -> SnapshotError {
    let context = context.into();
    move |source| {
        SnapshotError::Catalog(CatalogError::Pg {
            context,
            source: Box::new(source),
        })
    }
}

/// A key column the snapshot orders by.
#[derive(Clone, Debug)]
pub(super) struct KeyColumn {
    name: String,
    /// Position in the selected columns.
    pub(super) index: usize,
    /// Type name to cast the resume literal to.
    type_name: &'static str,
    collate_c: bool,
}

/// A record read but not yet given its offset.
struct Pending {
    record: SourceRecord,
    meta: Meta,
}

/// What decides a read record's offset and `source.snapshot` marker. A
/// batch keeps these beside its records (not in one vector of both), so
/// the records are given their offsets in place and handed on without
/// being moved into another vector.
struct Meta {
    chunk: Arc<ChunkKey>,
    /// Text of the record's key (for a table read in key order).
    upto: Option<Vec<String>>,
    /// The last record of its table or chunk.
    done: bool,
    /// Its range reaches the table's end (so `done` makes it the table's last).
    ends_table: bool,
    /// The snapshot's last record.
    last: bool,
    /// The first record of its table (read from the table's start).
    first_in_table: bool,
    /// The snapshot's first record.
    first: bool,
}

impl Meta {
    /// Debezium's `source.snapshot` marker of the record.
    fn marker(&self) -> &'static str {
        if self.last {
            "last"
        } else if self.first {
            "first"
        } else if self.done && self.ends_table {
            "last_in_data_collection"
        } else if self.first_in_table {
            "first_in_data_collection"
        } else {
            "true"
        }
    }
}

/// What the records of one fetched batch share.
struct RowCtx {
    partition: crate::data::SourcePartition,
    /// The offset records carry until their batch is complete.
    placeholder: crate::data::SourceOffset,
    /// The `source` block, shared by the batch's records.
    source: crate::data::Struct,
    now_ms: i64,
    /// The table's model, with topic and schemas that batches take in turn
    /// (see [`Snapshotter::batch_model`]).
    model: Arc<TableModel>,
}

/// The record of one row, decoded from the text-format values as they sit
/// in the read buffer (its offset is set per batch, see
/// [`Snapshotter::with_offsets`]).
fn read_record(
    ctx: &RowCtx,
    job: &Job,
    row: &[Option<&[u8]>],
    keys: &mut KeyTexts,
) -> Result<Pending, SnapshotError> {
    let model = &ctx.model;
    let not_utf8 = |i: usize| {
        SnapshotError::Row(super::envelope::RowError {
            table: job.chunk.table.clone(),
            column: model
                .columns
                .get(i)
                .map_or_else(|| format!("#{i}"), |c| c.name.clone()),
            type_name: "text".to_owned(),
            message: "the value is not UTF-8".to_owned(),
        })
    };
    // The model's positions index the table's columns; the cursor selects
    // exactly the captured ones, in order. Cells of up to 64 columns sit on
    // the stack.
    let width = model.positions.last().map_or(0, |p| p + 1);
    let mut on_stack = [Cell::Null; 64];
    let mut on_heap = Vec::new();
    let projected: &mut [Cell] = if width <= on_stack.len() {
        &mut on_stack[..width]
    } else {
        on_heap.resize(width, Cell::Null);
        &mut on_heap
    };
    for (i, &p) in model.positions.iter().enumerate() {
        if let Some(Some(bytes)) = row.get(i) {
            projected[p] = Cell::Text(std::str::from_utf8(bytes).map_err(|_| not_utf8(i))?);
        }
    }
    let after = model.row(projected)?;
    let key = model.key_of(&after)?;
    if !job.key.is_empty() {
        keys.push(job.key.iter().map(|k| match row.get(k.index) {
            Some(Some(bytes)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }));
    }
    let value =
        model.envelope_with_source(Op::Read, None, Some(after), ctx.source.clone(), ctx.now_ms)?;
    let record = SourceRecord::new(
        ctx.partition.clone(),
        ctx.placeholder.clone(),
        model.topic.clone(),
        Some(model.envelope_schema.clone()),
        value,
    )
    .with_key(model.key_schema.clone(), key);
    Ok(Pending {
        record,
        meta: Meta {
            chunk: job.chunk.clone(),
            upto: None,
            done: false,
            ends_table: job.hi.is_none(),
            last: false,
            first_in_table: false,
            first: false,
        },
    })
}

/// The key text of the last two rows read, in buffers reused from row to
/// row: a batch's offsets need only the key of the last row of each range
/// (the last row read, or the one before it when the last is held back).
#[derive(Default)]
struct KeyTexts {
    last: Option<Vec<String>>,
    before_last: Option<Vec<String>>,
}

impl KeyTexts {
    /// Records the key of the row just read (`None` for a key column
    /// without a value).
    fn push<'a>(&mut self, key: impl Iterator<Item = Option<&'a str>>) {
        std::mem::swap(&mut self.last, &mut self.before_last);
        let mut buf = self.last.take().unwrap_or_default();
        let mut n = 0;
        for k in key {
            let Some(k) = k else {
                self.last = None;
                return;
            };
            if let Some(slot) = buf.get_mut(n) {
                slot.clear();
                slot.push_str(k);
            } else {
                buf.push(k.to_owned());
            }
            n += 1;
        }
        buf.truncate(n);
        self.last = Some(buf);
    }
}

/// One chunk of a table, planned by the connector for a parallel snapshot
/// (passed to the snapshot task that reads it in its configuration).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChunkPlan {
    /// The table's OID.
    pub oid: u32,
    /// The chunk's number; `None`: the whole table.
    pub chunk: Option<u32>,
    /// Keys above this one (text of each key column); `None`: from the start.
    pub lo: Option<Vec<String>>,
    /// Keys up to this one; `None`: to the end.
    pub hi: Option<Vec<String>>,
    /// PostgreSQL's estimate of the chunk's rows.
    pub estimate: f64,
}

/// One table, or one key range of it, to read.
struct Job {
    info: TableInfo,
    model: Arc<TableModel>,
    /// Empty: no orderable primary key, the table is read whole.
    key: Vec<KeyColumn>,
    /// The partition the job's progress goes to.
    chunk: Arc<ChunkKey>,
    /// Resume after this key (text of each key column): the chunk's lower
    /// bound, or the last durable key.
    after: Option<Vec<String>>,
    /// Read keys up to this one (the chunk's upper bound).
    hi: Option<Vec<String>>,
    /// The job reads from the table's first row.
    from_start: bool,
}

/// A table's rows read and to read by this snapshot.
struct TableCount {
    rows: u64,
    /// PostgreSQL's estimate of the rows this snapshot reads (0: none).
    estimate: f64,
    /// Jobs of the table not finished.
    jobs_left: usize,
}

/// Reads the captured tables under one imported snapshot.
pub struct Snapshotter {
    conn: PgConnection,
    /// LSN of the snapshot being read (the segment's `cp`).
    cp: u64,
    /// The main slot's consistent point.
    cp0: u64,
    xmin: Option<i64>,
    ts_ms: i64,
    jobs: VecDeque<Job>,
    current: Option<Job>,
    fetch_size: usize,
    /// The last record read, held back until the next is known so it can
    /// be marked as its table's / the snapshot's last.
    pending: Option<Pending>,
    /// Key of the placeholder offset records carry until their batch is complete.
    placeholder: Arc<str>,
    name: Arc<str>,
    db: Arc<str>,
    prefix: String,
    committed: bool,
    /// Whether the very last record is marked `last` and the very first
    /// `first` (not when several tasks share the snapshot: none of them
    /// knows which records those are).
    mark_last: bool,
    /// Whether a record was read yet.
    started: bool,
    /// Whether the current job has given a record yet.
    job_started: bool,
    /// Where the snapshot's progress is reported.
    gauges: Option<Gauges>,
    /// Rows read and to read, per table.
    counts: HashMap<Arc<str>, TableCount>,
    /// Tables read and to read.
    tables_done: u64,
    tables_total: u64,
    /// Copies of the model of each table being read, keyed by the model's
    /// address; dropped once the table's last range of this task is read.
    batch_models: HashMap<usize, BatchModels>,
}

/// How many copies of a table's model batches take in turn: more than the
/// batches in flight between the task and the worker that drops them.
const BATCH_MODELS: usize = 8;

/// Copies of one table's model (see [`TableModel::own_copy`]), taken in
/// turn by consecutive batches.
struct BatchModels {
    /// The model copied; held, so its address names it.
    _of: Arc<TableModel>,
    copies: Vec<Arc<TableModel>>,
    next: usize,
}

/// The type name a resume literal of `type_oid` is cast to, and whether the
/// column sorts with `COLLATE "C"`, if its order is reproducible in Rust.
fn key_type(type_oid: u32, kind: &Kind) -> Option<(&'static str, bool)> {
    let collate = orderable(kind)?;
    let name = match type_oid {
        oid::INT2 => "int2",
        oid::INT4 => "int4",
        oid::INT8 => "int8",
        oid::DATE => "date",
        oid::TEXT => "text",
        oid::VARCHAR => "varchar",
        oid::BPCHAR => "bpchar",
        oid::UUID => "uuid",
        oid::BOOL => "bool",
        _ => return None,
    };
    Some((name, collate))
}

/// A table's model, the key columns it is read in order of (empty: read
/// whole), and PostgreSQL's estimate of its rows.
pub(super) struct Described {
    pub(super) model: TableModel,
    pub(super) key: Vec<KeyColumn>,
    pub(super) estimate: f64,
}

pub(super) fn describe(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
    registry: &TypeRegistry,
    info: &TableInfo,
) -> Result<Described, SnapshotError> {
    let (model, key) = keyed_model(conn, config, registry, info)?;
    let estimate = conn
        .simple_query(&format!(
            "SELECT reltuples::float8 FROM pg_class WHERE oid = {}",
            info.oid
        ))
        .ok()
        .and_then(|r| r.into_iter().next())
        .and_then(|r| r.rows.into_iter().next())
        .and_then(|row| row.into_iter().next().flatten())
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|e| e.is_finite() && *e > 0.0)
        .or_else(|| planner_estimate(conn, &info.quoted()))
        .unwrap_or(0.0);
    Ok(Described {
        model,
        key,
        estimate,
    })
}

/// A table's model and the key columns it is read in order of (empty:
/// no orderable primary key, or a key column excluded: read whole).
pub(super) fn keyed_model(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
    registry: &TypeRegistry,
    info: &TableInfo,
) -> Result<(TableModel, Vec<KeyColumn>), CatalogError> {
    let (columns, key_names) = catalog::table_columns(conn, info.oid)?;
    let model = catalog::model(
        config,
        registry,
        &info.schema,
        &info.table,
        &columns,
        &key_names,
    );
    let mut key = Vec::new();
    for &i in &model.key {
        let c = &model.columns[i];
        match key_type(c.type_oid, &c.kind) {
            Some((type_name, collate_c)) => key.push(KeyColumn {
                name: c.name.clone(),
                index: i,
                type_name,
                collate_c,
            }),
            None => {
                key.clear();
                break;
            }
        }
    }
    if model.key.len() != key_names.len() {
        key.clear(); // a key column is excluded: not resumable
    }
    Ok((model, key))
}

/// The planner's estimate of a table's rows, for a table never analyzed
/// (`reltuples` unknown): PostgreSQL then guesses from the table's size.
fn planner_estimate(conn: &mut PgConnection, quoted: &str) -> Option<f64> {
    let plan = conn
        .simple_query(&format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM {quoted}"))
        .ok()?
        .into_iter()
        .flat_map(|r| r.rows)
        .next()?
        .into_iter()
        .next()??;
    let json: serde_json::Value = serde_json::from_str(&plan).ok()?;
    json.get(0)?
        .get("Plan")?
        .get("Plan Rows")?
        .as_f64()
        .filter(|e| e.is_finite() && *e > 0.0)
}

/// `ORDER BY` / comparison expression of a key column.
fn key_expr(k: &KeyColumn) -> String {
    if k.collate_c {
        format!("{} COLLATE \"C\"", quote_ident(&k.name))
    } else {
        quote_ident(&k.name)
    }
}

/// `SELECT` of the model's columns of table `quoted` with keys above
/// `after` and at most `hi`, in key order (no key: the whole table).
pub(super) fn range_select(
    quoted: &str,
    model: &TableModel,
    key: &[KeyColumn],
    after: Option<&[String]>,
    hi: Option<&[String]>,
) -> String {
    let columns: Vec<String> = model.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let mut sql = format!(
        "SELECT {} FROM {quoted}",
        if columns.is_empty() {
            "NULL".to_owned()
        } else {
            columns.join(", ")
        }
    );
    if key.is_empty() {
        return sql;
    }
    let lhs = key.iter().map(key_expr).collect::<Vec<_>>().join(", ");
    let literal = |bound: &[String]| {
        key.iter()
            .zip(bound)
            .map(|(k, v)| format!("CAST({} AS {})", quote_literal(v), k.type_name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut conditions = Vec::new();
    if let Some(after) = after {
        conditions.push(format!("ROW({lhs}) > ROW({})", literal(after)));
    }
    if let Some(hi) = hi {
        conditions.push(format!("ROW({lhs}) <= ROW({})", literal(hi)));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY {lhs}"));
    sql
}

/// The largest key of table `quoted` (text of each key column), if it has rows.
pub(super) fn max_key(
    conn: &mut PgConnection,
    quoted: &str,
    key: &[KeyColumn],
) -> Result<Option<Vec<String>>, PgError> {
    let cols: Vec<String> = key.iter().map(|k| quote_ident(&k.name)).collect();
    let order: Vec<String> = key
        .iter()
        .map(|k| format!("{} DESC", key_expr(k)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {quoted} ORDER BY {} LIMIT 1",
        cols.join(", "),
        order.join(", ")
    );
    Ok(conn
        .simple_query(&sql)?
        .into_iter()
        .flat_map(|r| r.rows)
        .next()
        .and_then(|row| row.into_iter().collect::<Option<Vec<String>>>()))
}

/// Chunk boundaries for `wanted` chunks of a table, from a page sample of
/// its keys (`TABLESAMPLE SYSTEM`), sorted and without repeats; empty when
/// the sample is too small to split on or cannot be taken.
///
/// `SYSTEM` samples whole pages, so the percentage is chosen for about 32
/// keys per chunk and at least 4 pages per chunk: a sample of a few pages
/// holds only runs of neighbouring keys (uneven chunks), and one of about
/// none, which happens by chance when few pages are expected, would leave
/// the table in one chunk. A sample still too small is taken again at ten
/// times the percentage, up to the whole table.
fn sample_bounds(
    conn: &mut PgConnection,
    info: &TableInfo,
    d: &Described,
    wanted: usize,
) -> Vec<Vec<String>> {
    let pages = conn
        .simple_query(&format!(
            "SELECT pg_relation_size({}) / current_setting('block_size')::int8",
            info.oid
        ))
        .ok()
        .and_then(|r| r.into_iter().flat_map(|r| r.rows).next())
        .and_then(|row| row.into_iter().next().flatten())
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|p| *p > 0.0);
    let by_rows = 3200.0 * wanted as f64 / d.estimate;
    let by_pages = pages.map_or(0.0, |p| 400.0 * wanted as f64 / p);
    let order: Vec<String> = d.key.iter().map(key_expr).collect();
    let cols: Vec<String> = d.key.iter().map(|k| quote_ident(&k.name)).collect();
    let mut percent = by_rows.max(by_pages).clamp(0.0001, 100.0);
    loop {
        let sql = format!(
            "SELECT {} FROM {} TABLESAMPLE SYSTEM ({percent}) ORDER BY {}",
            cols.join(", "),
            info.quoted(),
            order.join(", ")
        );
        let sample: Vec<Vec<String>> = match conn.simple_query(&sql) {
            Ok(results) => results
                .into_iter()
                .flat_map(|r| r.rows)
                .filter_map(|row| row.into_iter().collect::<Option<Vec<String>>>())
                .collect(),
            Err(e) => {
                tracing::warn!(table = %info.qualified(), error = %e, "cannot sample the table's keys; it is read as one chunk");
                return Vec::new();
            }
        };
        if sample.len() < 4 * wanted && percent < 100.0 {
            tracing::debug!(table = %info.qualified(), percent, keys = sample.len(), "key sample too small; sampling more pages");
            percent = (percent * 10.0).min(100.0);
            continue;
        }
        let chunks = wanted.min(sample.len() / 4).max(1);
        let mut bounds: Vec<Vec<String>> = Vec::new();
        for i in 1..chunks {
            let b = &sample[i * sample.len() / chunks];
            if bounds.last() != Some(b) {
                bounds.push(b.clone());
            }
        }
        return bounds;
    }
}

/// Splits each table of more than `chunk_rows` rows (PostgreSQL's
/// estimate) with an orderable primary key into key ranges of about that
/// many rows, with boundaries taken from a page sample of the table
/// (`TABLESAMPLE SYSTEM`); other tables are one chunk each. Any boundaries
/// are correct (the chunks cover every key between them); a good sample
/// only makes them even.
pub fn plan_chunks(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
    registry: &TypeRegistry,
    tables: &[TableInfo],
    chunk_rows: u64,
) -> Result<Vec<ChunkPlan>, SnapshotError> {
    let mut plans = Vec::new();
    for info in tables {
        let d = describe(conn, config, registry, info)?;
        let wanted = if chunk_rows == 0 || d.key.is_empty() {
            1
        } else {
            (d.estimate / chunk_rows as f64).ceil().max(1.0) as usize
        };
        let bounds = if wanted > 1 {
            sample_bounds(conn, info, &d, wanted)
        } else {
            Vec::new()
        };
        if bounds.is_empty() {
            plans.push(ChunkPlan {
                oid: info.oid,
                chunk: None,
                lo: None,
                hi: None,
                estimate: d.estimate,
            });
            continue;
        }
        let n = bounds.len() + 1;
        let mut lo = None;
        for (i, hi) in bounds.into_iter().map(Some).chain([None]).enumerate() {
            plans.push(ChunkPlan {
                oid: info.oid,
                chunk: Some(i as u32),
                lo: lo.clone(),
                hi: hi.clone(),
                estimate: d.estimate / n as f64,
            });
            lo = hi;
        }
        tracing::debug!(table = %info.qualified(), chunks = n, "table split into chunks");
    }
    Ok(plans)
}

/// A key range's lower bound, parsed for ordering (`None` sorts first).
fn lower_bound(lo: &Option<Vec<String>>, kinds: &[Kind]) -> Option<Vec<KeyPart>> {
    lo.as_ref()
        .and_then(|t| t.iter().zip(kinds).map(|(t, k)| key_part(k, t)).collect())
}

/// A table's ranges to read on a (re)start, in key order: the chunks
/// `progress` records for it (taken out of `progress`), and a fresh range
/// for each key range no chunk recorded (a chunk that read no row before
/// the crash records nothing). A table with no progress is one range.
fn resume_plan(
    progress: &mut HashMap<ChunkKey, TableProgress>,
    qualified: &str,
    cp0: u64,
    key: &[KeyColumn],
    model: &TableModel,
) -> Vec<(ChunkKey, TableProgress)> {
    let keys: Vec<ChunkKey> = progress
        .keys()
        .filter(|k| k.table == qualified)
        .cloned()
        .collect();
    let mut entries: Vec<(ChunkKey, TableProgress)> = keys
        .into_iter()
        .filter_map(|k| progress.remove_entry(&k))
        .collect();
    if key.is_empty() && entries.iter().any(|(k, _)| k.chunk.is_some()) {
        // The table has no orderable key any more: it is read whole anew.
        entries.clear();
    }
    let kinds: Vec<Kind> = key
        .iter()
        .map(|k| model.columns[k.index].kind.clone())
        .collect();
    entries.sort_by_cached_key(|(_, p)| lower_bound(&p.lo, &kinds));
    let gap = |chunk, lo, hi| {
        (
            ChunkKey {
                table: qualified.to_owned(),
                chunk,
            },
            TableProgress {
                segments: Vec::new(),
                ..TableProgress::fresh(cp0, cp0, lo, hi)
            },
        )
    };
    if entries.is_empty() {
        return vec![gap(None, None, None)];
    }
    let mut next = entries
        .iter()
        .filter_map(|(k, _)| k.chunk)
        .max()
        .map_or(0, |c| c + 1);
    let mut out = Vec::with_capacity(entries.len());
    // Keys up to `covered` are in a chunk (`None`: none yet); `open`
    // until a chunk reaches the table's end.
    let mut covered: Option<Vec<String>> = None;
    let mut open = true;
    for (k, p) in entries {
        if open && p.lo != covered {
            out.push(gap(Some(next), covered.clone(), p.lo.clone()));
            next += 1;
        }
        match &p.hi {
            Some(hi) => covered = Some(hi.clone()),
            None => open = false,
        }
        out.push((k, p));
    }
    if open {
        out.push(gap(Some(next), covered, None));
    }
    out
}

impl Snapshotter {
    /// Opens the snapshot transaction on `conn` importing `snapshot_name`
    /// (taken at `cp`), and plans what to read: the chunks of `plan` (a
    /// parallel snapshot's part), or else every table of `tables` that is
    /// not done in `progress` — a chunked table's chunks that are not done,
    /// and the key ranges no chunk recorded. `progress` gains a new segment
    /// at `cp` for each.
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        mut conn: PgConnection,
        snapshot_name: &str,
        cp: u64,
        cp0: u64,
        config: &PgCdcConfig,
        registry: &TypeRegistry,
        tables: &[TableInfo],
        progress: &mut HashMap<ChunkKey, TableProgress>,
        plan: Option<&[ChunkPlan]>,
    ) -> Result<Snapshotter, SnapshotError> {
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(pg("BEGIN the snapshot transaction"))?;
        conn.execute(&format!(
            "SET TRANSACTION SNAPSHOT {}",
            quote_literal(snapshot_name)
        ))
        .map_err(pg(format!("import snapshot {snapshot_name}")))?;
        let xmin = conn
            .simple_query("SELECT txid_snapshot_xmin(txid_current_snapshot())")
            .ok()
            .and_then(|r| r.into_iter().next())
            .and_then(|r| r.rows.into_iter().next())
            .and_then(|row| row.into_iter().next().flatten())
            .and_then(|t| t.parse().ok());
        let mut jobs = VecDeque::new();
        let mut counts = HashMap::new();
        for info in tables {
            let qualified = info.qualified();
            let d = describe(&mut conn, config, registry, info)?;
            let model = Arc::new(d.model);
            let job = |chunk: ChunkKey, after: Option<Vec<String>>, hi: Option<Vec<String>>| Job {
                info: info.clone(),
                model: model.clone(),
                key: d.key.clone(),
                chunk: Arc::new(chunk),
                from_start: after.is_none(),
                after,
                hi,
            };
            let mut table_jobs = Vec::new();
            let mut estimate = d.estimate;
            if let Some(plan) = plan {
                estimate = 0.0;
                for c in plan.iter().filter(|c| c.oid == info.oid) {
                    let key = ChunkKey {
                        table: qualified.clone(),
                        chunk: c.chunk,
                    };
                    progress.insert(
                        key.clone(),
                        TableProgress::fresh(cp0, cp, c.lo.clone(), c.hi.clone()),
                    );
                    estimate += c.estimate;
                    table_jobs.push(job(key, c.lo.clone(), c.hi.clone()));
                }
            } else {
                for (key, mut entry) in resume_plan(progress, &qualified, cp0, &d.key, &model) {
                    if entry.done {
                        progress.insert(key, entry);
                        continue;
                    }
                    // A segment that read nothing holds nothing: drop it.
                    while entry.segments.last().is_some_and(|s| s.upto.is_none()) {
                        entry.segments.pop();
                    }
                    let after = if d.key.is_empty() {
                        // Read whole: earlier partial reads are superseded.
                        entry.segments.clear();
                        None
                    } else {
                        entry
                            .segments
                            .last()
                            .and_then(|s| s.upto.clone())
                            .or_else(|| entry.lo.clone())
                    };
                    entry.segments.push(Segment { cp, upto: None });
                    table_jobs.push(job(key.clone(), after, entry.hi.clone()));
                    progress.insert(key, entry);
                }
            }
            if table_jobs.is_empty() {
                continue;
            }
            counts.insert(
                Arc::from(qualified.as_str()),
                TableCount {
                    rows: 0,
                    estimate,
                    jobs_left: table_jobs.len(),
                },
            );
            jobs.extend(table_jobs);
        }
        tracing::info!(
            tables = counts.len(),
            ranges = jobs.len(),
            lsn = %super::wire::Lsn(cp),
            "snapshot started"
        );
        let tables_total = counts.len() as u64;
        if config.fetch_size > config.max_batch
            && config.fetch_size != super::config::DEFAULT_SNAPSHOT_FETCH_SIZE
        {
            tracing::info!(
                "snapshot.fetch.size={} is above max.batch.size={}: a FETCH reads {} rows; \
                 raise max.batch.size for larger batches",
                config.fetch_size,
                config.max_batch,
                config.max_batch
            );
        }
        Ok(Snapshotter {
            conn,
            cp,
            cp0,
            xmin,
            ts_ms: now_ms(),
            jobs,
            current: None,
            // A FETCH's rows are one batch, so at most `max.batch.size`:
            // a batch of 2,048 records stays in cache between the task that
            // makes it and the worker that renders it; 10,240 do not.
            fetch_size: config.fetch_size.min(config.max_batch),
            pending: None,
            name: Arc::from(config.prefix.as_str()),
            db: Arc::from(config.dbname.as_str()),
            prefix: config.prefix.clone(),
            committed: false,
            mark_last: true,
            started: false,
            job_started: false,
            placeholder: Arc::from("pending"),
            gauges: None,
            counts,
            tables_done: 0,
            tables_total,
            batch_models: HashMap::new(),
        })
    }

    /// The next records (at most `snapshot.fetch.size`); `Ok(None)` when
    /// every table is read (the last record has been returned, marked).
    pub fn next_batch(
        &mut self,
        progress: &mut HashMap<ChunkKey, TableProgress>,
    ) -> Result<Option<Vec<SourceRecord>>, SnapshotError> {
        let mut out: Vec<SourceRecord> = Vec::with_capacity(self.fetch_size + 1);
        let mut metas: Vec<Meta> = Vec::with_capacity(self.fetch_size + 1);
        loop {
            if self.current.is_none() {
                let Some(job) = self.jobs.pop_front() else {
                    // The end: the held-back record is the very last.
                    if let Some(p) = self.pending.take() {
                        let last = self.mark_last;
                        let p = self.finish(p, last);
                        out.push(p.record);
                        metas.push(p.meta);
                    }
                    if !self.committed {
                        self.conn
                            .execute("COMMIT")
                            .map_err(pg("COMMIT the snapshot"))?;
                        self.committed = true;
                        tracing::info!("snapshot finished");
                    }
                    return Ok(if out.is_empty() {
                        None
                    } else {
                        Some(self.with_offsets(out, &metas, progress))
                    });
                };
                self.open(&job)?;
                self.job_started = false;
                self.report(&job.chunk.table, false);
                self.current = Some(job);
            }
            let Some(job) = self.current.take() else {
                continue;
            };
            let sql = format!(
                "FETCH FORWARD {} FROM timely_connect_snapshot",
                self.fetch_size
            );
            // Rows are decoded as they arrive, from the read buffer (no
            // string per cell); what is shared by the batch is made once.
            let model = self.batch_model(&job.model);
            let ctx = RowCtx {
                partition: job.chunk.partition(&self.prefix),
                placeholder: crate::data::SourceOffset::int(&self.placeholder, 0),
                source: model.source_block(&SourceInfo {
                    name: self.name.clone(),
                    db: self.db.clone(),
                    ts_ms: self.ts_ms,
                    snapshot: "true",
                    sequence: Some(format!("[null,\"{}\"]", self.cp)),
                    tx_id: self.xmin,
                    lsn: Some(self.cp as i64),
                    xmin: None,
                })?,
                now_ms: now_ms(),
                model,
            };
            // The record held back from the last batch goes first; the rows
            // read now follow it, straight into the batch.
            let had_prev = match self.pending.take() {
                Some(p) => {
                    out.push(p.record);
                    metas.push(p.meta);
                    true
                }
                None => false,
            };
            let base = out.len();
            let mut failed: Option<SnapshotError> = None;
            let mut keys = KeyTexts::default();
            // Pipelined: the FETCH after this one is sent before this one's
            // rows are read, so the server produces the next batch while
            // this one is decoded (one FETCH is always ahead).
            let what = format!("read table {}", job.info.qualified());
            if self.conn.unread_replies() == 0 {
                self.conn.send_query(&sql).map_err(pg(what.as_str()))?;
            }
            self.conn.send_query(&sql).map_err(pg(what.as_str()))?;
            self.conn
                .receive_rows(|_, row| {
                    if failed.is_none() {
                        match read_record(&ctx, &job, row, &mut keys) {
                            Ok(p) => {
                                out.push(p.record);
                                metas.push(p.meta);
                            }
                            Err(e) => failed = Some(e),
                        }
                    }
                    Ok(())
                })
                .map_err(pg(what.as_str()))?;
            if let Some(e) = failed {
                return Err(e);
            }
            let n = out.len() - base;
            // Only the last two rows' keys can end a range in this batch.
            let len = metas.len();
            if n >= 1 {
                if let Some(m) = metas.last_mut() {
                    m.upto = keys.last.take();
                }
            }
            if n >= 2 {
                if let Some(m) = metas.get_mut(len - 2) {
                    m.upto = keys.before_last.take();
                }
            }
            let finished = n < self.fetch_size;
            let table: &str = &job.chunk.table;
            if let Some(c) = self.counts.get_mut(table) {
                c.rows += n as u64;
                if finished {
                    c.jobs_left = c.jobs_left.saturating_sub(1);
                    if c.jobs_left == 0 {
                        self.tables_done += 1;
                        // The table's model copies go with its last range,
                        // so a snapshot of many tables holds the copies of
                        // the tables it is reading, not of all it read.
                        self.batch_models
                            .remove(&(Arc::as_ptr(&job.model) as usize));
                    }
                }
            }
            self.report(table, finished);
            let got_rows = n > 0;
            if got_rows {
                // The range's progress: up to the last row read.
                if let (Some(last), Some(seg)) = (
                    metas.last(),
                    progress
                        .get_mut(&*job.chunk)
                        .and_then(|p| p.segments.last_mut()),
                ) {
                    seg.upto.clone_from(&last.upto);
                }
                if let Some(first) = metas.get_mut(base) {
                    first.first_in_table = !self.job_started && job.from_start;
                    first.first = !self.started && self.mark_last && first.first_in_table;
                }
                self.job_started = true;
                self.started = true;
            }
            // Hold back the last record read (or, with none read, the one
            // held back before): it may turn out to be its range's last.
            if got_rows || had_prev {
                if let (Some(record), Some(meta)) = (out.pop(), metas.pop()) {
                    self.pending = Some(Pending { record, meta });
                }
            }
            if finished {
                // The FETCH sent ahead found the cursor at its end.
                self.conn
                    .receive_rows(|_, _| {
                        Err(PgError::Protocol(
                            "rows after the end of the snapshot cursor".into(),
                        ))
                    })
                    .map_err(pg(what.as_str()))?;
                self.conn
                    .execute("CLOSE timely_connect_snapshot")
                    .map_err(pg("CLOSE cursor"))?;
                if let Some(p) = progress.get_mut(&*job.chunk) {
                    p.done = true;
                }
                // The held-back record is this range's last: mark it done.
                if let Some(p) = &mut self.pending {
                    if p.meta.chunk == job.chunk {
                        p.meta.done = true;
                    }
                }
                tracing::debug!(table = %job.chunk.table, chunk = ?job.chunk.chunk, "range read");
            } else {
                self.current = Some(job);
            }
            if !out.is_empty() || got_rows {
                return Ok(Some(self.with_offsets(out, &metas, progress)));
            }
        }
    }

    /// The model a batch of `model`'s table decodes with: one of
    /// [`BATCH_MODELS`] copies, in turn. Records hold references to their
    /// model's topic and schemas; with a copy per batch, the task reading
    /// one batch and the worker dropping an earlier one count them on
    /// different counters instead of contending for one cache line per
    /// record and schema. A few copies in turn (not a new one per batch)
    /// keep the schemas that caches downstream see few.
    fn batch_model(&mut self, model: &Arc<TableModel>) -> Arc<TableModel> {
        let entry = self
            .batch_models
            .entry(Arc::as_ptr(model) as usize)
            .or_insert_with(|| BatchModels {
                _of: model.clone(),
                copies: (0..BATCH_MODELS)
                    .map(|_| Arc::new(model.own_copy()))
                    .collect(),
                next: 0,
            });
        let copy = entry.copies[entry.next].clone();
        entry.next = (entry.next + 1) % BATCH_MODELS;
        copy
    }

    /// Gives the records of a batch their offsets: every record of a range
    /// carries the progress up to the range's last record in the batch (a
    /// batch is emitted whole, in one epoch, so the snapshot holding any of
    /// them holds all), built once per range and batch.
    fn with_offsets(
        &self,
        mut out: Vec<SourceRecord>,
        metas: &[Meta],
        progress: &HashMap<ChunkKey, TableProgress>,
    ) -> Vec<SourceRecord> {
        let mut offsets: HashMap<Arc<ChunkKey>, crate::data::SourceOffset> = HashMap::new();
        let mut seen: Option<&Arc<ChunkKey>> = None;
        for m in metas.iter().rev() {
            // Runs of one range are skipped without hashing.
            if seen.is_some_and(|c| Arc::ptr_eq(c, &m.chunk)) || offsets.contains_key(&m.chunk) {
                continue;
            }
            seen = Some(&m.chunk);
            let mut t = progress
                .get(&*m.chunk)
                .cloned()
                .unwrap_or_else(|| TableProgress::fresh(self.cp0, self.cp, None, None));
            if let Some(seg) = t.segments.last_mut() {
                seg.upto = m.upto.clone();
            }
            t.done = m.done;
            t.last_snapshot_record = m.last;
            offsets.insert(m.chunk.clone(), t.to_offset());
        }
        // A batch's records are mostly of one range: the offset is looked
        // up again only where the range changes.
        let mut current: Option<(&Arc<ChunkKey>, &crate::data::SourceOffset)> = None;
        for (r, m) in out.iter_mut().zip(metas) {
            let marker = m.marker();
            if marker != "true" {
                if let Value::Struct(envelope) = &mut r.value {
                    if let Some(Value::Struct(mut source)) = envelope.get("source").cloned() {
                        if source.put("snapshot", Value::String(marker.into())).is_ok() {
                            let _ = envelope.put("source", Value::Struct(source));
                        }
                    }
                }
            }
            let found = match current {
                Some((chunk, _)) if Arc::ptr_eq(chunk, &m.chunk) => current,
                _ => offsets.get_key_value(&m.chunk),
            };
            if let Some((_, o)) = found {
                r.source_offset = o.clone();
            }
            current = found;
        }
        out
    }

    /// Declares the cursor over `job`'s table or key range.
    fn open(&mut self, job: &Job) -> Result<(), SnapshotError> {
        let select = range_select(
            &job.info.quoted(),
            &job.model,
            &job.key,
            job.after.as_deref(),
            job.hi.as_deref(),
        );
        self.conn
            .execute(&format!(
                "DECLARE timely_connect_snapshot NO SCROLL CURSOR FOR {select}"
            ))
            .map_err(pg(format!("open a cursor on {}", job.info.qualified())))?;
        tracing::debug!(table = %job.info.qualified(), chunk = ?job.chunk.chunk, resume_after = ?job.after, upto = ?job.hi, "range snapshot started");
        Ok(())
    }

    /// Marks a held-back record as its table's last (`done`) and, with
    /// `last`, as the snapshot's very last (`last_snapshot_record`).
    fn finish(&self, mut p: Pending, last: bool) -> Pending {
        p.meta.done = true;
        p.meta.last = last;
        p
    }

    /// Reports progress to `gauges`: per table, rows read of PostgreSQL's
    /// estimate (`phase` `snapshot`, `item` the table), and tables read of
    /// the tables to read (`item` `tables`).
    pub fn with_gauges(mut self, gauges: Gauges) -> Self {
        set_progress(&gauges, "tables", 0.0, self.tables_total as f64);
        self.gauges = Some(gauges);
        self
    }

    /// Reports `table`'s progress (`finished`: a range of it was read to its end).
    fn report(&self, table: &str, finished: bool) {
        let (Some(g), Some(c)) = (&self.gauges, self.counts.get(table)) else {
            return;
        };
        let done = c.rows as f64;
        // Total stays above done until the table is finished (an estimate
        // can be low, or missing for a table never analyzed).
        let total = if c.jobs_left == 0 {
            done
        } else {
            c.estimate.max(done + 1.0)
        };
        set_progress(g, table, done, total);
        if finished {
            set_progress(
                g,
                "tables",
                self.tables_done as f64,
                self.tables_total as f64,
            );
        }
    }

    /// Leaves the last record unmarked (a parallel snapshot's part).
    pub fn without_last_marker(mut self) -> Self {
        self.mark_last = false;
        self
    }

    /// Sets the session's `application_name` (how a parallel snapshot's
    /// tasks tell the others they imported the snapshot, or finished).
    pub fn announce(&mut self, application_name: &str) -> Result<(), SnapshotError> {
        self.conn
            .execute(&format!(
                "SET application_name = {}",
                quote_literal(application_name)
            ))
            .map_err(pg("set application_name"))
    }

    /// The main slot's consistent point.
    pub fn cp0(&self) -> u64 {
        self.cp0
    }
}
