//! Source partitions and offsets, Debezium's shape plus a per-table
//! snapshot-progress partition, and the logic that decides where a
//! restarted task resumes and which re-received changes it drops.
//!
//! Streaming partition `{"server": <topic.prefix>}`, offset
//! `{"lsn", "lsn_proc", "lsn_commit", "txId", "ts_usec", "messageType"}`:
//! `lsn_commit` is the commit LSN of the event's transaction and `lsn_proc`
//! the event's own LSN. Replication restarts at `lsn_commit` (PostgreSQL
//! resends every transaction committing at or after it) and the events of
//! that transaction up to `lsn_proc` are skipped. A heartbeat's offset has
//! no `lsn_proc`: nothing of the transaction at `lsn_commit` was emitted.
//!
//! Snapshot partition (an extension) `{"server": <prefix>, "snapshot_table":
//! "<schema>.<table>"}`, offset `{"snapshot": true, "lsn": <slot's consistent
//! point>, "segments": [...], "done": bool, "last_snapshot_record": bool}`.
//! A table is read in primary-key order; each *segment* is a key range read
//! under one exported snapshot taken at LSN `cp`. The state of every row of
//! a segment as of `cp` is in the output, so a streamed change to a key in
//! that segment is emitted only if its transaction commits at or after
//! `cp`. After a crash mid-table, the rest is read under a fresh snapshot
//! as a new segment.
//!
//! A large table read in parallel is split into *chunks*, primary-key
//! ranges `(chunk_lo, chunk_hi]` (absent: unbounded), each with a partition
//! of its own (`"snapshot_chunk": "<n>"` added) and its own segments, so
//! every chunk's progress is durable on its own.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::data::{OffsetValue, SourceOffset, SourcePartition};

use super::types::Kind;

/// Partition key naming the server.
pub const SERVER: &str = "server";
/// Partition key naming the table of a snapshot partition (extension).
pub const SNAPSHOT_TABLE: &str = "snapshot_table";
/// Partition key naming the chunk of a chunked table (extension).
pub const SNAPSHOT_CHUNK: &str = "snapshot_chunk";

/// What a snapshot partition names: a table, or one chunk of a table.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// `schema.table`.
    pub table: String,
    /// The chunk's number; `None`: the table is one range.
    pub chunk: Option<u32>,
}

impl ChunkKey {
    /// The whole table.
    pub fn table(qualified: &str) -> ChunkKey {
        ChunkKey {
            table: qualified.to_owned(),
            chunk: None,
        }
    }

    /// The snapshot partition of this table or chunk.
    pub fn partition(&self, prefix: &str) -> SourcePartition {
        let mut m = BTreeMap::new();
        m.insert(SERVER.to_owned(), OffsetValue::String(prefix.to_owned()));
        m.insert(
            SNAPSHOT_TABLE.to_owned(),
            OffsetValue::String(self.table.clone()),
        );
        if let Some(c) = self.chunk {
            m.insert(
                SNAPSHOT_CHUNK.to_owned(),
                OffsetValue::String(c.to_string()),
            );
        }
        SourcePartition::new(m)
    }

    /// The key of a snapshot partition; `None` for any other partition.
    pub fn of_partition(partition: &SourcePartition) -> Option<ChunkKey> {
        let table = partition.get(SNAPSHOT_TABLE)?.as_str()?.to_owned();
        let chunk = match partition.get(SNAPSHOT_CHUNK) {
            None => None,
            Some(c) => Some(c.as_str()?.parse().ok()?),
        };
        Some(ChunkKey { table, chunk })
    }
}

/// The streaming partition `{"server": prefix}`.
pub fn stream_partition(prefix: &str) -> SourcePartition {
    SourcePartition::single(SERVER, prefix)
}

/// Where streaming resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StreamPosition {
    /// Commit LSN of the transaction to restart with.
    pub commit: u64,
    /// Events of that transaction at or below this LSN were emitted.
    pub processed: Option<u64>,
}

impl StreamPosition {
    /// Whether an event of the transaction committing at `commit`, at
    /// `lsn`, was already emitted before the restart.
    pub fn already_emitted(&self, commit: u64, lsn: u64) -> bool {
        match commit.cmp(&self.commit) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.processed.is_some_and(|p| lsn <= p),
        }
    }
}

/// What a streaming event's offset holds.
#[derive(Clone, Debug)]
pub struct StreamOffset {
    /// The event's LSN (`lsn`, `lsn_proc`).
    pub lsn: u64,
    /// Its transaction's commit LSN (`lsn_commit`).
    pub commit: u64,
    /// Transaction id.
    pub tx_id: Option<i64>,
    /// Commit time, microseconds since the epoch.
    pub ts_usec: i64,
    /// `INSERT`, `UPDATE`, `DELETE`; `None` for a heartbeat.
    pub message_type: Option<&'static str>,
}

impl StreamOffset {
    /// As a source offset.
    pub fn to_offset(&self) -> SourceOffset {
        let mut m = BTreeMap::new();
        m.insert("lsn".to_owned(), OffsetValue::Int(self.lsn as i64));
        m.insert(
            "lsn_commit".to_owned(),
            OffsetValue::Int(self.commit as i64),
        );
        if let Some(t) = self.message_type {
            m.insert("lsn_proc".to_owned(), OffsetValue::Int(self.lsn as i64));
            m.insert("messageType".to_owned(), OffsetValue::String(t.to_owned()));
        }
        m.insert(
            "txId".to_owned(),
            self.tx_id.map_or(OffsetValue::Null, OffsetValue::Int),
        );
        m.insert("ts_usec".to_owned(), OffsetValue::Int(self.ts_usec));
        SourceOffset::from_map(m)
    }

    /// The resume position an offset stands for.
    pub fn position(offset: &SourceOffset) -> Option<StreamPosition> {
        let commit = offset
            .get_i64("lsn_commit")
            .or_else(|| offset.get_i64("lsn"))?;
        Some(StreamPosition {
            commit: u64::try_from(commit).ok()?,
            processed: offset
                .get_i64("lsn_proc")
                .and_then(|p| u64::try_from(p).ok()),
        })
    }
}

/// One component of a primary key, comparable in the order the snapshot
/// reads (`ORDER BY` with `COLLATE "C"` for text).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPart {
    /// Integers and dates (days).
    Int(i128),
    /// Text, uuid and booleans, in byte order.
    Text(String),
}

/// Whether a key column of `kind` can be compared in Rust exactly as the
/// snapshot's `ORDER BY` sorts it; `Some(true)` if it needs `COLLATE "C"`.
pub fn orderable(kind: &Kind) -> Option<bool> {
    match kind {
        Kind::Int16 | Kind::Int32 | Kind::Int64 | Kind::Date => Some(false),
        Kind::Text => Some(true),
        Kind::Uuid | Kind::Boolean => Some(false),
        _ => None,
    }
}

/// A key component from its text form.
pub fn key_part(kind: &Kind, text: &str) -> Option<KeyPart> {
    match kind {
        Kind::Int16 | Kind::Int32 | Kind::Int64 => text.parse().ok().map(KeyPart::Int),
        Kind::Date => match super::types::decode(kind, text).ok()? {
            crate::data::Value::Int32(d) => Some(KeyPart::Int(i128::from(d))),
            _ => None,
        },
        Kind::Text | Kind::Uuid | Kind::Boolean => Some(KeyPart::Text(text.to_owned())),
        _ => None,
    }
}

/// A key range read under one snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// LSN of the snapshot the range was read under.
    pub cp: u64,
    /// Text of the last key read in the range (`None`: nothing read yet,
    /// or the table has no orderable key and is read whole).
    pub upto: Option<Vec<String>>,
}

/// A table's (or a chunk's) snapshot progress.
#[derive(Clone, Debug, PartialEq)]
pub struct TableProgress {
    /// The main slot's consistent point.
    pub lsn: u64,
    /// A chunk's keys are above this one (text of each key column);
    /// `None`: from the table's start.
    pub lo: Option<Vec<String>>,
    /// A chunk's keys are at most this one; `None`: to the table's end.
    pub hi: Option<Vec<String>>,
    /// Ranges read so far, in key order.
    pub segments: Vec<Segment>,
    /// Whether the whole table was read.
    pub done: bool,
    /// Whether this was the snapshot's very last record.
    pub last_snapshot_record: bool,
}

/// A key's text parts as an offset value.
fn key_value(key: &[String]) -> OffsetValue {
    OffsetValue::List(key.iter().cloned().map(OffsetValue::String).collect())
}

/// A key's text parts from an offset value; `Some(None)` when absent or null.
fn key_of_value(value: Option<&OffsetValue>) -> Option<Option<Vec<String>>> {
    match value {
        Some(OffsetValue::List(parts)) => Some(Some(
            parts
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
        )),
        None | Some(OffsetValue::Null) => Some(None),
        Some(_) => None,
    }
}

impl TableProgress {
    /// Progress of nothing read yet, of the range `(lo, hi]`, whose
    /// first segment is read under the snapshot at `cp`.
    pub fn fresh(lsn: u64, cp: u64, lo: Option<Vec<String>>, hi: Option<Vec<String>>) -> Self {
        TableProgress {
            lsn,
            lo,
            hi,
            segments: vec![Segment { cp, upto: None }],
            done: false,
            last_snapshot_record: false,
        }
    }

    /// As a source offset.
    pub fn to_offset(&self) -> SourceOffset {
        let mut m = BTreeMap::new();
        m.insert("snapshot".to_owned(), OffsetValue::Bool(true));
        if let Some(lo) = &self.lo {
            m.insert("chunk_lo".to_owned(), key_value(lo));
        }
        if let Some(hi) = &self.hi {
            m.insert("chunk_hi".to_owned(), key_value(hi));
        }
        m.insert("lsn".to_owned(), OffsetValue::Int(self.lsn as i64));
        m.insert("done".to_owned(), OffsetValue::Bool(self.done));
        m.insert(
            "last_snapshot_record".to_owned(),
            OffsetValue::Bool(self.last_snapshot_record),
        );
        let segments = self
            .segments
            .iter()
            .map(|s| {
                let mut seg = BTreeMap::new();
                seg.insert("cp".to_owned(), OffsetValue::Int(s.cp as i64));
                seg.insert(
                    "upto".to_owned(),
                    s.upto.as_deref().map_or(OffsetValue::Null, key_value),
                );
                OffsetValue::Map(seg)
            })
            .collect();
        m.insert("segments".to_owned(), OffsetValue::List(segments));
        SourceOffset::from_map(m)
    }

    /// From a source offset; `None` if it is not one of ours.
    pub fn from_offset(offset: &SourceOffset) -> Option<TableProgress> {
        let lsn = u64::try_from(offset.get_i64("lsn")?).ok()?;
        let flag = |k: &str| matches!(offset.get(k), Some(OffsetValue::Bool(true)));
        let Some(OffsetValue::List(items)) = offset.get("segments") else {
            return None;
        };
        let mut segments = Vec::new();
        for item in items {
            let OffsetValue::Map(seg) = item else {
                return None;
            };
            let cp = u64::try_from(seg.get("cp")?.as_i64()?).ok()?;
            let upto = key_of_value(seg.get("upto"))?;
            segments.push(Segment { cp, upto });
        }
        Some(TableProgress {
            lsn,
            lo: key_of_value(offset.get("chunk_lo").as_ref())?,
            hi: key_of_value(offset.get("chunk_hi").as_ref())?,
            segments,
            done: flag("done"),
            last_snapshot_record: flag("last_snapshot_record"),
        })
    }
}

/// A segment's snapshot LSN and its last key (`None`: open-ended).
type SegmentBound = (u64, Option<Vec<KeyPart>>);

/// A chunk's key range `(lo, hi]` (`None`: unbounded) and its segments.
#[derive(Clone, Debug)]
struct ChunkBounds {
    lo: Option<Vec<KeyPart>>,
    hi: Option<Vec<KeyPart>>,
    segments: Vec<SegmentBound>,
}

impl ChunkBounds {
    fn holds(&self, key: &[KeyPart]) -> bool {
        self.lo.as_deref().is_none_or(|lo| key > lo)
            && self.hi.as_deref().is_none_or(|hi| key <= hi)
    }
}

/// A key from its text parts, if every part parses as its column's kind.
fn parse_key(texts: &[String], kinds: &[Kind]) -> Option<Vec<KeyPart>> {
    if texts.len() != kinds.len() || kinds.is_empty() {
        return None;
    }
    texts
        .iter()
        .zip(kinds)
        .map(|(t, k)| key_part(k, t))
        .collect()
}

/// Decides, for a re-received change, whether the snapshot already covers
/// it. Built from every table's (or chunk's) snapshot progress.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    tables: HashMap<String, Vec<ChunkBounds>>,
    /// No change committing at or after this LSN is ever dropped.
    horizon: u64,
}

impl SnapshotFilter {
    /// Adds a table's or a chunk's segments; `kinds` are the table's key
    /// columns' kinds (empty for a table read whole).
    pub fn add(&mut self, qualified: &str, progress: &TableProgress, kinds: &[Kind]) {
        let mut segments = Vec::new();
        for s in &progress.segments {
            let upto = s.upto.as_ref().and_then(|t| parse_key(t, kinds));
            self.horizon = self.horizon.max(s.cp);
            segments.push((s.cp, upto));
        }
        let chunks = self.tables.entry(qualified.to_owned()).or_default();
        chunks.push(ChunkBounds {
            lo: progress.lo.as_ref().and_then(|t| parse_key(t, kinds)),
            hi: progress.hi.as_ref().and_then(|t| parse_key(t, kinds)),
            segments,
        });
        // In key order, so a key-less change meets the last one.
        chunks.sort_by(|a, b| match (&a.lo, &b.lo) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        });
    }

    /// Whether a change to `qualified` with `key` committing at `commit`
    /// must be emitted (`false`: its effect is already in the snapshot).
    ///
    /// A key in no known chunk (a chunk that read no row, so recorded no
    /// progress) is emitted from the slot's consistent point on.
    pub fn emit(&self, qualified: &str, key: Option<&[KeyPart]>, commit: u64) -> bool {
        if commit >= self.horizon {
            return true;
        }
        let Some(chunks) = self.tables.get(qualified) else {
            return true;
        };
        let segment_cp = |segs: &[SegmentBound], key: Option<&[KeyPart]>| match key {
            Some(key) => segs
                .iter()
                .find(|(_, upto)| upto.as_deref().is_some_and(|u| key <= u))
                .or(segs.last())
                .map(|(cp, _)| *cp),
            None => segs.last().map(|(cp, _)| *cp),
        };
        let cp = match key {
            Some(key) => chunks
                .iter()
                .find(|c| c.holds(key))
                .and_then(|c| segment_cp(&c.segments, Some(key))),
            None => chunks.last().and_then(|c| segment_cp(&c.segments, None)),
        };
        cp.is_none_or(|cp| commit >= cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_stream_offset_round_trips_and_resumes() {
        let o = StreamOffset {
            lsn: 120,
            commit: 200,
            tx_id: Some(7),
            ts_usec: 5,
            message_type: Some("INSERT"),
        };
        let p = StreamOffset::position(&o.to_offset()).unwrap();
        assert_eq!(
            p,
            StreamPosition {
                commit: 200,
                processed: Some(120)
            }
        );
        assert!(p.already_emitted(150, 999));
        assert!(p.already_emitted(200, 120));
        assert!(!p.already_emitted(200, 121));
        assert!(!p.already_emitted(201, 1));
        let hb = StreamOffset {
            message_type: None,
            ..o
        };
        let p = StreamOffset::position(&hb.to_offset()).unwrap();
        assert!(!p.already_emitted(200, 1));
        assert!(hb.to_offset().get("lsn_proc").is_none());
    }

    #[test]
    fn pg_table_progress_round_trips() {
        let mut t = TableProgress {
            lsn: 10,
            lo: None,
            hi: None,
            segments: vec![
                Segment {
                    cp: 10,
                    upto: Some(vec!["5".into(), "x".into()]),
                },
                Segment { cp: 30, upto: None },
            ],
            done: true,
            last_snapshot_record: false,
        };
        let json = t.to_offset().to_json();
        let back = SourceOffset::from_json(&json).unwrap();
        assert_eq!(TableProgress::from_offset(&back), Some(t.clone()));
        // A chunk's bounds round-trip too, and a table's key is unchanged.
        t.lo = Some(vec!["5".into(), "x".into()]);
        t.hi = Some(vec!["9".into(), "a,b".into()]);
        let back = SourceOffset::from_json(&t.to_offset().to_json()).unwrap();
        assert_eq!(TableProgress::from_offset(&back), Some(t));
        let whole = ChunkKey::table("public.t");
        assert!(whole.partition("p").get(SNAPSHOT_CHUNK).is_none());
        assert_eq!(ChunkKey::of_partition(&whole.partition("p")), Some(whole));
        let third = ChunkKey {
            table: "public.t".into(),
            chunk: Some(3),
        };
        assert_eq!(ChunkKey::of_partition(&third.partition("p")), Some(third));
        assert_eq!(ChunkKey::of_partition(&stream_partition("p")), None);
    }

    #[test]
    fn pg_snapshot_filter_drops_changes_the_snapshot_covers() {
        let mut f = SnapshotFilter::default();
        let progress = TableProgress {
            lsn: 100,
            lo: None,
            hi: None,
            segments: vec![
                Segment {
                    cp: 100,
                    upto: Some(vec!["50".into()]),
                },
                Segment {
                    cp: 300,
                    upto: Some(vec!["90".into()]),
                },
            ],
            done: true,
            last_snapshot_record: false,
        };
        f.add("public.t", &progress, &[Kind::Int32]);
        let k = |n| vec![KeyPart::Int(n)];
        // Keys read at 100: every change from 100 on is new.
        assert!(f.emit("public.t", Some(&k(10)), 150));
        // Keys read at 300: changes before 300 are in the snapshot.
        assert!(!f.emit("public.t", Some(&k(60)), 150));
        assert!(!f.emit("public.t", Some(&k(1000)), 299));
        assert!(f.emit("public.t", Some(&k(60)), 300));
        // Other tables and later commits are never dropped.
        assert!(f.emit("public.u", Some(&k(60)), 150));
        assert!(f.emit("public.t", None, 301));
        assert!(!f.emit("public.t", None, 200));
    }

    #[test]
    fn pg_snapshot_filter_finds_the_chunk_of_a_key() {
        let k = |n| vec![KeyPart::Int(n)];
        let s = |n: i32| Some(vec![n.to_string()]);
        let mut f = SnapshotFilter::default();
        // (.., 100] read at 10; (100, 200] read to 150 at 10, then the
        // rest at 40 (a restart); (300, ..] read at 20; (200, 300] never
        // read a row, so it recorded nothing.
        let chunk = |lo, hi, segments| TableProgress {
            lo,
            hi,
            segments,
            ..TableProgress::fresh(10, 10, None, None)
        };
        let seg = |cp, upto| Segment { cp, upto };
        f.add(
            "public.t",
            &chunk(s(300), None, vec![seg(20, s(900))]),
            &[Kind::Int32],
        );
        f.add(
            "public.t",
            &chunk(None, s(100), vec![seg(10, s(99))]),
            &[Kind::Int32],
        );
        f.add(
            "public.t",
            &chunk(s(100), s(200), vec![seg(10, s(150)), seg(40, s(190))]),
            &[Kind::Int32],
        );
        // Keys above a chunk's last read key belong to its last segment.
        assert!(f.emit("public.t", Some(&k(100)), 10));
        assert!(!f.emit("public.t", Some(&k(150)), 5));
        assert!(f.emit("public.t", Some(&k(150)), 10));
        assert!(!f.emit("public.t", Some(&k(151)), 39));
        assert!(!f.emit("public.t", Some(&k(200)), 39));
        assert!(f.emit("public.t", Some(&k(200)), 40));
        // The unrecorded chunk: everything from the consistent point on.
        assert!(f.emit("public.t", Some(&k(250)), 10));
        assert!(!f.emit("public.t", Some(&k(301)), 19));
        assert!(!f.emit("public.t", Some(&k(5000)), 19));
        assert!(f.emit("public.t", Some(&k(5000)), 20));
        // No key: the last chunk's last segment.
        assert!(!f.emit("public.t", None, 19));
    }

    #[test]
    fn pg_key_parts_order_like_the_snapshot() {
        assert!(key_part(&Kind::Int64, "-5") < key_part(&Kind::Int64, "3"));
        assert!(key_part(&Kind::Text, "B") < key_part(&Kind::Text, "a"));
        assert!(key_part(&Kind::Date, "1999-12-31") < key_part(&Kind::Date, "2000-01-01"));
        assert_eq!(orderable(&Kind::Float64), None);
    }
}
