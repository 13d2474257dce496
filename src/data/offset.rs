//! Source partitions and source offsets: the maps a connector uses to say
//! where a record came from and how far it has read.
//!
//! Kafka Connect types both as `Map<String, ?>` holding primitives, lists and
//! maps. Here they are [`OffsetValue`] maps. A [`SourcePartition`] is shared
//! behind an `Arc` (one allocation per partition, not per record), and the
//! common offset shape — a single integer under one key, such as
//! FileStreamSource's `{"position": 42}` — is stored inline by
//! [`SourceOffset::int`], so a record costs no map allocation.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A value inside a source partition or source offset map: the JSON-like
/// values Kafka Connect's offset storage accepts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum OffsetValue {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (Kafka stores every integral type as a JSON number).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A list.
    List(Vec<OffsetValue>),
    /// A nested map.
    Map(BTreeMap<String, OffsetValue>),
}

impl OffsetValue {
    fn rank(&self) -> u8 {
        match self {
            OffsetValue::Null => 0,
            OffsetValue::Bool(_) => 1,
            OffsetValue::Int(_) => 2,
            OffsetValue::Float(_) => 3,
            OffsetValue::String(_) => 4,
            OffsetValue::List(_) => 5,
            OffsetValue::Map(_) => 6,
        }
    }

    /// Converts to a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            OffsetValue::Null => serde_json::Value::Null,
            OffsetValue::Bool(b) => serde_json::Value::Bool(*b),
            OffsetValue::Int(i) => serde_json::Value::from(*i),
            OffsetValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            OffsetValue::String(s) => serde_json::Value::String(s.clone()),
            OffsetValue::List(l) => {
                serde_json::Value::Array(l.iter().map(|v| v.to_json()).collect())
            }
            OffsetValue::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Converts from a `serde_json::Value` (integers that fit `i64` stay integers).
    pub fn from_json(json: &serde_json::Value) -> OffsetValue {
        match json {
            serde_json::Value::Null => OffsetValue::Null,
            serde_json::Value::Bool(b) => OffsetValue::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => OffsetValue::Int(i),
                None => OffsetValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => OffsetValue::String(s.clone()),
            serde_json::Value::Array(a) => {
                OffsetValue::List(a.iter().map(OffsetValue::from_json).collect())
            }
            serde_json::Value::Object(o) => OffsetValue::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), OffsetValue::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            OffsetValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OffsetValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl PartialEq for OffsetValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OffsetValue {}
impl PartialOrd for OffsetValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OffsetValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (OffsetValue::Null, OffsetValue::Null) => Ordering::Equal,
            (OffsetValue::Bool(a), OffsetValue::Bool(b)) => a.cmp(b),
            (OffsetValue::Int(a), OffsetValue::Int(b)) => a.cmp(b),
            (OffsetValue::Float(a), OffsetValue::Float(b)) => a.total_cmp(b),
            (OffsetValue::String(a), OffsetValue::String(b)) => a.cmp(b),
            (OffsetValue::List(a), OffsetValue::List(b)) => a.cmp(b),
            (OffsetValue::Map(a), OffsetValue::Map(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl Hash for OffsetValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            OffsetValue::Null => {}
            OffsetValue::Bool(b) => b.hash(state),
            OffsetValue::Int(i) => i.hash(state),
            OffsetValue::Float(f) => f.to_bits().hash(state),
            OffsetValue::String(s) => s.hash(state),
            OffsetValue::List(l) => l.hash(state),
            OffsetValue::Map(m) => m.hash(state),
        }
    }
}

impl From<i64> for OffsetValue {
    fn from(v: i64) -> Self {
        OffsetValue::Int(v)
    }
}
impl From<&str> for OffsetValue {
    fn from(v: &str) -> Self {
        OffsetValue::String(v.to_owned())
    }
}
impl From<String> for OffsetValue {
    fn from(v: String) -> Self {
        OffsetValue::String(v)
    }
}

/// Kafka Connect's source partition: a map naming the part of the source a
/// record came from (a file, a table, a datagen partition). Offsets are keyed
/// by it — never by worker or task — so snapshots restore on any layout.
///
/// Cloning is a reference-count increment.
///
/// ```
/// use timely_connect::data::SourcePartition;
/// let p = SourcePartition::single("filename", "/tmp/in.txt");
/// assert_eq!(p.to_json().to_string(), r#"{"filename":"/tmp/in.txt"}"#);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePartition(Arc<BTreeMap<String, OffsetValue>>);

impl SourcePartition {
    /// A partition from a map.
    pub fn new(map: BTreeMap<String, OffsetValue>) -> Self {
        SourcePartition(Arc::new(map))
    }

    /// A partition with one key, such as `{"filename": "/tmp/in.txt"}`.
    pub fn single(key: &str, value: impl Into<OffsetValue>) -> Self {
        let mut map = BTreeMap::new();
        map.insert(key.to_owned(), value.into());
        SourcePartition::new(map)
    }

    /// The map.
    pub fn map(&self) -> &BTreeMap<String, OffsetValue> {
        &self.0
    }

    /// One key of the map.
    pub fn get(&self, key: &str) -> Option<&OffsetValue> {
        self.0.get(key)
    }

    /// True when both handles share one allocation (a cheap pre-check for equality).
    pub fn ptr_eq(&self, other: &SourcePartition) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// As JSON, the shape Kafka Connect's offsets REST API uses.
    pub fn to_json(&self) -> serde_json::Value {
        OffsetValue::Map((*self.0).clone()).to_json()
    }

    /// From a JSON object; `None` if `json` is not an object.
    pub fn from_json(json: &serde_json::Value) -> Option<Self> {
        match OffsetValue::from_json(json) {
            OffsetValue::Map(m) => Some(SourcePartition::new(m)),
            _ => None,
        }
    }
}

impl fmt::Debug for SourcePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}
impl fmt::Display for SourcePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// Kafka Connect's source offset: a map saying how far a source partition has
/// been read, e.g. `{"position": 1024}`.
///
/// The single-integer shape is stored without allocating a map, so a
/// connector that emits millions of records pays for none.
///
/// ```
/// use timely_connect::data::SourceOffset;
/// let key = SourceOffset::key("position");
/// let o = SourceOffset::int(&key, 1024);
/// assert_eq!(o.get_i64("position"), Some(1024));
/// assert_eq!(o.to_json().to_string(), r#"{"position":1024}"#);
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub enum SourceOffset {
    /// `{key: value}` with an integer value.
    Int(Arc<str>, i64),
    /// Any other map.
    Map(Arc<BTreeMap<String, OffsetValue>>),
}

impl SourceOffset {
    /// A shared key for [`SourceOffset::int`]; make it once, clone it per record.
    pub fn key(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    /// An offset with one integer under `key`.
    pub fn int(key: &Arc<str>, value: i64) -> Self {
        SourceOffset::Int(key.clone(), value)
    }

    /// An offset from a map.
    pub fn from_map(map: BTreeMap<String, OffsetValue>) -> Self {
        if map.len() == 1 {
            if let Some((k, OffsetValue::Int(i))) = map.iter().next() {
                return SourceOffset::Int(Arc::from(k.as_str()), *i);
            }
        }
        SourceOffset::Map(Arc::new(map))
    }

    /// The offset as a map.
    pub fn to_map(&self) -> BTreeMap<String, OffsetValue> {
        match self {
            SourceOffset::Int(k, v) => {
                let mut m = BTreeMap::new();
                m.insert(k.to_string(), OffsetValue::Int(*v));
                m
            }
            SourceOffset::Map(m) => (**m).clone(),
        }
    }

    /// One key's value.
    pub fn get(&self, key: &str) -> Option<OffsetValue> {
        match self {
            SourceOffset::Int(k, v) if &**k == key => Some(OffsetValue::Int(*v)),
            SourceOffset::Int(..) => None,
            SourceOffset::Map(m) => m.get(key).cloned(),
        }
    }

    /// One key's value as an integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        match self {
            SourceOffset::Int(k, v) if &**k == key => Some(*v),
            SourceOffset::Int(..) => None,
            SourceOffset::Map(m) => m.get(key).and_then(|v| v.as_i64()),
        }
    }

    /// As JSON, the shape Kafka Connect's offsets REST API uses.
    pub fn to_json(&self) -> serde_json::Value {
        OffsetValue::Map(self.to_map()).to_json()
    }

    /// From a JSON object; `None` if `json` is not an object.
    pub fn from_json(json: &serde_json::Value) -> Option<Self> {
        match OffsetValue::from_json(json) {
            OffsetValue::Map(m) => Some(SourceOffset::from_map(m)),
            _ => None,
        }
    }
}

impl PartialEq for SourceOffset {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SourceOffset::Int(a, x), SourceOffset::Int(b, y)) => x == y && a == b,
            _ => self.to_map() == other.to_map(),
        }
    }
}
impl Eq for SourceOffset {}

impl fmt::Debug for SourceOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl fmt::Display for SourceOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// The offsets of source partitions: the one shape offsets take from a
/// task's `poll()` to the snapshot file and back — a batch's offsets, what
/// a task's records reached in an epoch, a worker's checkpoint part, a
/// snapshot's offsets, what an `OffsetStorageReader` restores and what a
/// task is told is committed.
///
/// A map from [`SourcePartition`] to its last [`SourceOffset`], sorted by
/// partition. Cloning shares it (a reference count); a change to a shared
/// map copies it first. It serializes as the map itself, so snapshots that
/// stored a map read unchanged.
///
/// ```
/// use timely_connect::data::{Offsets, SourceOffset, SourcePartition};
/// let key = SourceOffset::key("position");
/// let (a, b) = (SourcePartition::single("f", "a"), SourcePartition::single("f", "b"));
/// let mut epoch = Offsets::new();
/// epoch.insert(a.clone(), SourceOffset::int(&key, 10));
/// epoch.insert(a.clone(), SourceOffset::int(&key, 20)); // the last one wins
/// let snapshot = epoch.clone();                          // shared, not copied
/// let mut later = Offsets::new();
/// later.insert(b.clone(), SourceOffset::int(&key, 5));
/// let mut merged = snapshot.clone();
/// merged.merge(&later);
/// assert_eq!(merged.len(), 2);
/// assert_eq!(merged.get(&a).and_then(|o| o.get_i64("position")), Some(20));
/// assert_eq!(snapshot.len(), 1, "merging copied the shared map");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Offsets(Arc<BTreeMap<SourcePartition, SourceOffset>>);

impl Offsets {
    /// No offsets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `partition`'s offset (replacing an earlier one).
    pub fn insert(&mut self, partition: SourcePartition, offset: SourceOffset) {
        Arc::make_mut(&mut self.0).insert(partition, offset);
    }

    /// Removes `partition`'s offset, returning it.
    pub fn remove(&mut self, partition: &SourcePartition) -> Option<SourceOffset> {
        if !self.0.contains_key(partition) {
            return None;
        }
        Arc::make_mut(&mut self.0).remove(partition)
    }

    /// Takes every offset of `newer`, which wins where both have one.
    pub fn merge(&mut self, newer: &Offsets) {
        if newer.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = newer.clone();
            return;
        }
        let map = Arc::make_mut(&mut self.0);
        for (p, o) in newer.iter() {
            map.insert(p.clone(), o.clone());
        }
    }

    /// `partition`'s offset.
    pub fn get(&self, partition: &SourcePartition) -> Option<&SourceOffset> {
        self.0.get(partition)
    }

    /// Whether `partition` has an offset.
    pub fn contains_key(&self, partition: &SourcePartition) -> bool {
        self.0.contains_key(partition)
    }

    /// The partitions and their offsets, by partition.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, SourcePartition, SourceOffset> {
        self.0.iter()
    }

    /// The offsets, by partition.
    pub fn values(&self) -> std::collections::btree_map::Values<'_, SourcePartition, SourceOffset> {
        self.0.values()
    }

    /// How many partitions have an offset.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no partition has an offset.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map.
    pub fn as_map(&self) -> &BTreeMap<SourcePartition, SourceOffset> {
        &self.0
    }

    /// Empties it, giving what it held.
    pub fn take(&mut self) -> Offsets {
        std::mem::take(self)
    }
}

impl fmt::Debug for Offsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl std::ops::Index<&SourcePartition> for Offsets {
    type Output = SourceOffset;
    /// `partition`'s offset; panics if it has none (as a map's index does).
    fn index(&self, partition: &SourcePartition) -> &SourceOffset {
        &self.0[partition]
    }
}

impl FromIterator<(SourcePartition, SourceOffset)> for Offsets {
    fn from_iter<I: IntoIterator<Item = (SourcePartition, SourceOffset)>>(iter: I) -> Self {
        Offsets(Arc::new(iter.into_iter().collect()))
    }
}

impl Extend<(SourcePartition, SourceOffset)> for Offsets {
    fn extend<I: IntoIterator<Item = (SourcePartition, SourceOffset)>>(&mut self, iter: I) {
        Arc::make_mut(&mut self.0).extend(iter);
    }
}

impl From<BTreeMap<SourcePartition, SourceOffset>> for Offsets {
    fn from(map: BTreeMap<SourcePartition, SourceOffset>) -> Self {
        Offsets(Arc::new(map))
    }
}

impl<'a> IntoIterator for &'a Offsets {
    type Item = (&'a SourcePartition, &'a SourceOffset);
    type IntoIter = std::collections::btree_map::Iter<'a, SourcePartition, SourceOffset>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Offsets {
    type Item = (SourcePartition, SourceOffset);
    type IntoIter = std::collections::btree_map::IntoIter<SourcePartition, SourceOffset>;
    fn into_iter(self) -> Self::IntoIter {
        Arc::unwrap_or_clone(self.0).into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_offset_equals_its_map_form() {
        let key = SourceOffset::key("position");
        let a = SourceOffset::int(&key, 7);
        let mut m = BTreeMap::new();
        m.insert("position".to_owned(), OffsetValue::Int(7));
        let b = SourceOffset::Map(Arc::new(m.clone()));
        assert_eq!(a, b);
        assert_eq!(SourceOffset::from_map(m), a);
    }

    #[test]
    fn partition_and_offset_survive_bincode() {
        let p = SourcePartition::single("filename", "a.txt");
        let o = SourceOffset::int(&SourceOffset::key("position"), 99);
        let bytes = bincode::serialize(&(p.clone(), o.clone())).expect("serialize");
        let (p2, o2): (SourcePartition, SourceOffset) =
            bincode::deserialize(&bytes).expect("deserialize");
        assert_eq!(p, p2);
        assert_eq!(o, o2);
    }

    #[test]
    fn offsets_encode_as_the_map_snapshots_stored() {
        let key = SourceOffset::key("position");
        let mut map = BTreeMap::new();
        map.insert(
            SourcePartition::single("f", "a"),
            SourceOffset::int(&key, 1),
        );
        map.insert(
            SourcePartition::single("f", "b"),
            SourceOffset::int(&key, 2),
        );
        let old_bytes = bincode::serialize(&map).expect("serialize the map");
        let offsets: Offsets = bincode::deserialize(&old_bytes).expect("read as Offsets");
        assert_eq!(offsets.as_map(), &map);
        assert_eq!(bincode::serialize(&offsets).expect("serialize"), old_bytes);
    }

    #[test]
    fn json_round_trip_keeps_integers() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"lsn":123,"snapshot":true,"name":"x","f":1.5}"#)
                .expect("json");
        let o = SourceOffset::from_json(&json).expect("object");
        assert_eq!(o.to_json(), json);
    }
}
