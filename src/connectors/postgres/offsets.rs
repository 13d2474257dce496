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

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::data::{OffsetValue, SourceOffset, SourcePartition};

use super::types::Kind;

/// Partition key naming the server.
pub const SERVER: &str = "server";
/// Partition key naming the table of a snapshot partition (extension).
pub const SNAPSHOT_TABLE: &str = "snapshot_table";

/// The streaming partition `{"server": prefix}`.
pub fn stream_partition(prefix: &str) -> SourcePartition {
    SourcePartition::single(SERVER, prefix)
}

/// The snapshot partition of `schema.table`.
pub fn table_partition(prefix: &str, qualified: &str) -> SourcePartition {
    let mut m = BTreeMap::new();
    m.insert(SERVER.to_owned(), OffsetValue::String(prefix.to_owned()));
    m.insert(
        SNAPSHOT_TABLE.to_owned(),
        OffsetValue::String(qualified.to_owned()),
    );
    SourcePartition::new(m)
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

/// A table's snapshot progress.
#[derive(Clone, Debug, PartialEq)]
pub struct TableProgress {
    /// The main slot's consistent point.
    pub lsn: u64,
    /// Ranges read so far, in key order.
    pub segments: Vec<Segment>,
    /// Whether the whole table was read.
    pub done: bool,
    /// Whether this was the snapshot's very last record.
    pub last_snapshot_record: bool,
}

impl TableProgress {
    /// As a source offset.
    pub fn to_offset(&self) -> SourceOffset {
        let mut m = BTreeMap::new();
        m.insert("snapshot".to_owned(), OffsetValue::Bool(true));
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
                    s.upto.as_ref().map_or(OffsetValue::Null, |k| {
                        OffsetValue::List(k.iter().cloned().map(OffsetValue::String).collect())
                    }),
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
            let upto = match seg.get("upto") {
                Some(OffsetValue::List(parts)) => Some(
                    parts
                        .iter()
                        .map(|p| p.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()?,
                ),
                _ => None,
            };
            segments.push(Segment { cp, upto });
        }
        Some(TableProgress {
            lsn,
            segments,
            done: flag("done"),
            last_snapshot_record: flag("last_snapshot_record"),
        })
    }
}

/// A segment's snapshot LSN and its last key (`None`: open-ended).
type SegmentBound = (u64, Option<Vec<KeyPart>>);

/// Decides, for a re-received change, whether the snapshot already covers
/// it. Built from every table's snapshot progress.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    tables: HashMap<String, Vec<SegmentBound>>,
    /// No change committing at or after this LSN is ever dropped.
    horizon: u64,
}

impl SnapshotFilter {
    /// Adds a table's segments; `kinds` are its key columns' kinds (empty
    /// for a table read whole).
    pub fn add(&mut self, qualified: &str, progress: &TableProgress, kinds: &[Kind]) {
        let mut segs = Vec::new();
        for s in &progress.segments {
            let upto = s.upto.as_ref().and_then(|texts| {
                if texts.len() != kinds.len() || kinds.is_empty() {
                    return None;
                }
                texts
                    .iter()
                    .zip(kinds)
                    .map(|(t, k)| key_part(k, t))
                    .collect::<Option<Vec<_>>>()
            });
            self.horizon = self.horizon.max(s.cp);
            segs.push((s.cp, upto));
        }
        self.tables.insert(qualified.to_owned(), segs);
    }

    /// Whether a change to `qualified` with `key` committing at `commit`
    /// must be emitted (`false`: its effect is already in the snapshot).
    pub fn emit(&self, qualified: &str, key: Option<&[KeyPart]>, commit: u64) -> bool {
        if commit >= self.horizon {
            return true;
        }
        let Some(segs) = self.tables.get(qualified) else {
            return true;
        };
        let cp = match key {
            Some(key) => segs
                .iter()
                .find(|(_, upto)| upto.as_deref().is_some_and(|u| key <= u))
                .or(segs.last())
                .map(|(cp, _)| *cp),
            None => segs.last().map(|(cp, _)| *cp),
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
        let t = TableProgress {
            lsn: 10,
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
        assert_eq!(TableProgress::from_offset(&back), Some(t));
    }

    #[test]
    fn pg_snapshot_filter_drops_changes_the_snapshot_covers() {
        let mut f = SnapshotFilter::default();
        let progress = TableProgress {
            lsn: 100,
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
    fn pg_key_parts_order_like_the_snapshot() {
        assert!(key_part(&Kind::Int64, "-5") < key_part(&Kind::Int64, "3"));
        assert!(key_part(&Kind::Text, "B") < key_part(&Kind::Text, "a"));
        assert!(key_part(&Kind::Date, "1999-12-31") < key_part(&Kind::Date, "2000-01-01"));
        assert_eq!(orderable(&Kind::Float64), None);
    }
}
