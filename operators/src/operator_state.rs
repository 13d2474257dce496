//! `OperatorState`: keyed state that an operator keeps across restores,
//! written into the job's snapshots as the changes since the last one.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

use serde::de::DeserializeOwned;
use serde::Serialize;

use timely_connect::runtime::CheckpointPart;
use timely_connect::state::{StateDir, StateEntry};

use crate::job::Job;

/// A map from keys to values that an operator keeps on one worker and
/// that survives a restore, on any number of workers.
///
/// At each epoch the operator has finished, [`OperatorState::checkpoint`]
/// writes the keys that changed since the previous call (not the whole
/// map) as a segment file of this worker, and returns the checkpoint part
/// that puts the segment into the epoch's snapshot. The coordinator folds
/// old segments into one in the background, so the bytes written per
/// snapshot follow the change rate, not the state's size. On restore,
/// [`OperatorState::restore`] reads the state of the snapshot restored
/// from and keeps the keys this worker owns now (`owns`: the same routing
/// as the exchange that feeds the operator), so the state moves with its
/// keys when the worker count changes.
///
/// Without a snapshot directory the state lives in memory only.
///
/// ```
/// use timely_connect_operators::{Job, JobSpec, OperatorState};
/// let dir = tempfile::tempdir().unwrap();
/// let mut props = timely_connect::Properties::new();
/// for (k, v) in [("name", "g"), ("connector.class", "Datagen"), ("quickstart", "users"), ("max.messages", "1")] {
///     props.insert(k.into(), v.into());
/// }
/// let spec = JobSpec::new(props).snapshot_dir(dir.path());
/// timely::execute(timely::Config::thread(), move |worker| {
///     let job = Job::prepare(worker, &spec).unwrap();
///     let mut counts: OperatorState<String, u64> =
///         OperatorState::restore(&job, "counts", |_key| true).unwrap();
///     counts.update("a".to_owned(), |n| *n.get_or_insert(0) += 1);
///     assert_eq!(counts.get(&"a".to_owned()), Some(&1));
///     // Epoch 0 done: the change becomes a segment and a part for snapshot 0.
///     assert!(counts.checkpoint(0).unwrap().is_some());
///     assert!(counts.checkpoint(1).unwrap().is_none(), "nothing changed");
/// }).unwrap();
/// ```
pub struct OperatorState<K, V> {
    name: String,
    /// Every key held or changed since the last checkpoint; a removed key
    /// stays as an empty slot until the checkpoint has written its delete.
    map: HashMap<K, Slot<V>, RandomState>,
    /// Keys changed since the last checkpoint, each once (its slot's
    /// `dirty` flag says whether it is listed). Without a snapshot
    /// directory nothing is written, so nothing is tracked.
    dirty: Vec<K>,
    /// How many slots hold a value.
    live: usize,
    dir: Option<StateDir>,
    execution: u64,
    worker: usize,
}

/// A key's value, and whether it changed since the last checkpoint.
struct Slot<V> {
    value: Option<V>,
    dirty: bool,
}

/// What [`OperatorState::replace`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Replaced<V> {
    /// The key held this value already: nothing changed.
    Same,
    /// The key held no value.
    New,
    /// The key held this other value, now replaced.
    Old(V),
}

impl<K, V> OperatorState<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// The state named `name` (unique among the job's stateful operators,
    /// `[A-Za-z0-9_.-]`) as of the snapshot the job restored from, keeping
    /// the keys for which `owns` is true; empty on a fresh start.
    pub fn restore(
        job: &Job,
        name: &str,
        mut owns: impl FnMut(&K) -> bool,
    ) -> Result<Self, String> {
        StateDir::check_operator_name(name).map_err(|e| e.to_string())?;
        let dir = job.storage().transpose()?.map(StateDir::on_storage);
        let mut map: HashMap<K, Slot<V>, RandomState> = HashMap::default();
        if let (Some(dir), Some(manifest)) = (&dir, job.plan.state.get(name)) {
            let mut bad = None;
            let loaded = dir
                .load(name, manifest, |bytes| {
                    match bincode::deserialize::<K>(bytes) {
                        Ok(k) => owns(&k),
                        Err(e) => {
                            bad.get_or_insert_with(|| e.to_string());
                            false
                        }
                    }
                })
                .map_err(|e| format!("state `{name}`: {e}"))?;
            if let Some(e) = bad {
                return Err(format!("state `{name}`: a key does not decode: {e}"));
            }
            map.reserve(loaded.len());
            for (k, v) in loaded {
                let key = bincode::deserialize::<K>(&k)
                    .map_err(|e| format!("state `{name}`: a key does not decode: {e}"))?;
                let value = bincode::deserialize::<V>(&v)
                    .map_err(|e| format!("state `{name}`: a value does not decode: {e}"))?;
                map.insert(
                    key,
                    Slot {
                        value: Some(value),
                        dirty: false,
                    },
                );
            }
        }
        Ok(OperatorState {
            name: name.to_owned(),
            live: map.len(),
            map,
            dirty: Vec::new(),
            dir,
            execution: job.plan.execution,
            worker: job.index,
        })
    }

    /// The state's name in snapshots.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).and_then(|s| s.value.as_ref())
    }

    /// Sets `key`'s value; returns the old one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let mut old = None;
        self.update(key, |v| old = v.replace(value));
        old
    }

    /// Sets `key`'s value unless it holds an equal one already, in one
    /// lookup; says what it replaced.
    pub fn replace(&mut self, key: K, value: V) -> Replaced<V>
    where
        V: PartialEq,
    {
        let track = self.dir.is_some();
        match self.map.entry(key) {
            Entry::Occupied(mut e) => {
                let slot = e.get_mut();
                if slot.value.as_ref() == Some(&value) {
                    return Replaced::Same;
                }
                let old = slot.value.replace(value);
                if track && !slot.dirty {
                    slot.dirty = true;
                    self.dirty.push(e.key().clone());
                }
                match old {
                    Some(old) => Replaced::Old(old),
                    None => {
                        self.live += 1;
                        Replaced::New
                    }
                }
            }
            Entry::Vacant(e) => {
                if track {
                    self.dirty.push(e.key().clone());
                }
                e.insert(Slot {
                    value: Some(value),
                    dirty: track,
                });
                self.live += 1;
                Replaced::New
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        if self.dir.is_none() {
            // Nothing to write: the slot goes now.
            let old = self.map.remove(key)?.value?;
            self.live -= 1;
            return Some(old);
        }
        let slot = self.map.get_mut(key)?;
        let old = slot.value.take()?;
        self.live -= 1;
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(key.clone());
        }
        Some(old)
    }

    /// Changes `key`'s value in place (`None`: no value; set it to `None`
    /// to remove the key). The key counts as changed.
    pub fn update<R>(&mut self, key: K, change: impl FnOnce(&mut Option<V>) -> R) -> R {
        if self.dir.is_none() {
            return self.update_untracked(key, change);
        }
        let slot = match self.map.entry(key) {
            Entry::Occupied(mut e) => {
                if !e.get().dirty {
                    e.get_mut().dirty = true;
                    self.dirty.push(e.key().clone());
                }
                e.into_mut()
            }
            Entry::Vacant(e) => {
                self.dirty.push(e.key().clone());
                e.insert(Slot {
                    value: None,
                    dirty: true,
                })
            }
        };
        let had = slot.value.is_some();
        let result = change(&mut slot.value);
        match (had, slot.value.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        result
    }

    /// [`OperatorState::update`] without a snapshot directory: no change
    /// is tracked, and a key left without a value goes at once.
    fn update_untracked<R>(&mut self, key: K, change: impl FnOnce(&mut Option<V>) -> R) -> R {
        match self.map.entry(key) {
            Entry::Occupied(mut e) => {
                let had = e.get().value.is_some();
                let result = change(&mut e.get_mut().value);
                if e.get().value.is_none() {
                    e.remove();
                    if had {
                        self.live -= 1;
                    }
                } else if !had {
                    self.live += 1;
                }
                result
            }
            Entry::Vacant(e) => {
                let mut value = None;
                let result = change(&mut value);
                if value.is_some() {
                    e.insert(Slot {
                        value,
                        dirty: false,
                    });
                    self.live += 1;
                }
                result
            }
        }
    }

    /// Every key and value on this worker.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map
            .iter()
            .filter_map(|(k, s)| s.value.as_ref().map(|v| (k, v)))
    }

    /// How many keys this worker holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True if this worker holds no key.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Call once every change of the epochs `<= epoch` is applied, and
    /// before the operator's parts output passes `epoch`: writes the keys
    /// changed since the last call as this worker's segment and returns
    /// the part to emit at `epoch` (none if nothing changed, or without a
    /// snapshot directory).
    pub fn checkpoint(&mut self, epoch: u64) -> Result<Option<CheckpointPart>, String> {
        if self.dirty.is_empty() {
            return Ok(None);
        }
        let Some(dir) = &self.dir else {
            self.clear_dirty();
            return Ok(None);
        };
        let mut entries: Vec<StateEntry> = Vec::with_capacity(self.dirty.len());
        for key in &self.dirty {
            let value = self.map.get(key).and_then(|s| s.value.as_ref());
            entries.push(encode_entry(&self.name, key, value)?);
        }
        let part = write_part(
            dir,
            &self.name,
            epoch,
            self.execution,
            self.worker,
            &entries,
        )?;
        self.clear_dirty();
        Ok(Some(part))
    }

    /// The changed keys are written: their slots are clean again, and the
    /// slots of removed keys go.
    fn clear_dirty(&mut self) {
        for key in self.dirty.drain(..) {
            if let Entry::Occupied(mut e) = self.map.entry(key) {
                if e.get().value.is_none() {
                    e.remove();
                } else {
                    e.get_mut().dirty = false;
                }
            }
        }
    }
}

/// `key`'s new value (`None`: removed) in state `name`, encoded as a
/// segment entry.
fn encode_entry<K: Serialize, V: Serialize>(
    name: &str,
    key: &K,
    value: Option<&V>,
) -> Result<StateEntry, String> {
    let k = bincode::serialize(key)
        .map_err(|e| format!("state `{name}`: a key does not encode: {e}"))?;
    let v = match value {
        Some(v) => Some(
            bincode::serialize(v)
                .map_err(|e| format!("state `{name}`: a value does not encode: {e}"))?,
        ),
        None => None,
    };
    Ok((k, v))
}

/// Writes `entries` as a segment of `name` and returns the checkpoint part
/// that puts it into the epoch's snapshot.
fn write_part(
    dir: &StateDir,
    name: &str,
    epoch: u64,
    execution: u64,
    worker: usize,
    entries: &[StateEntry],
) -> Result<CheckpointPart, String> {
    let segment = dir
        .write_segment(name, epoch, execution, worker, entries)
        .map_err(|e| format!("state `{name}`: {e}"))?;
    Ok(CheckpointPart::State {
        operator: name.to_owned(),
        segment,
    })
}

/// Keyed changes written into the job's snapshots as [`OperatorState`]
/// writes them, without the map: an operator that never reads its keys'
/// values back while it runs logs each change, and
/// [`OperatorState::restore`] under the same name reads the keys' last
/// values back after a restore. Without a snapshot directory it logs
/// nothing.
pub(crate) struct StateLog {
    name: String,
    dir: Option<StateDir>,
    execution: u64,
    worker: usize,
}

impl StateLog {
    /// The log of the state named `name` (as [`OperatorState::restore`]
    /// checks it).
    pub(crate) fn new(job: &Job, name: &str) -> Result<StateLog, String> {
        StateDir::check_operator_name(name).map_err(|e| e.to_string())?;
        Ok(StateLog {
            name: name.to_owned(),
            dir: job.storage().transpose()?.map(StateDir::on_storage),
            execution: job.plan.execution,
            worker: job.index,
        })
    }

    /// Whether changes are written anywhere.
    pub(crate) fn tracks(&self) -> bool {
        self.dir.is_some()
    }

    /// `key`'s new value (`None`: removed), encoded as a segment entry.
    pub(crate) fn entry<K: Serialize, V: Serialize>(
        &self,
        key: &K,
        value: Option<&V>,
    ) -> Result<StateEntry, String> {
        encode_entry(&self.name, key, value)
    }

    /// Writes `entries` (in order: a key's later entry overrides its
    /// earlier ones) as the segment of `epoch`; `None` when there are none
    /// or nothing is tracked.
    pub(crate) fn checkpoint(
        &self,
        epoch: u64,
        entries: &[StateEntry],
    ) -> Result<Option<CheckpointPart>, String> {
        match &self.dir {
            Some(dir) if !entries.is_empty() => {
                write_part(dir, &self.name, epoch, self.execution, self.worker, entries).map(Some)
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobSpec;

    /// Runs `f` with a job that has a snapshot directory, or none.
    fn with_job(snapshots: bool, f: impl Fn(&Job) + Send + Sync + 'static) {
        let dir = tempfile::tempdir().unwrap();
        let mut props = timely_connect::Properties::new();
        for (k, v) in [
            ("name", "g"),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
            ("max.messages", "1"),
        ] {
            props.insert(k.into(), v.into());
        }
        let mut spec = JobSpec::new(props);
        if snapshots {
            spec = spec.snapshot_dir(dir.path());
        }
        timely::execute(timely::Config::thread(), move |worker| {
            let job = Job::prepare(worker, &spec).unwrap();
            f(&job);
        })
        .unwrap();
    }

    /// The same changes give the same contents with and without a
    /// snapshot directory; without one nothing is tracked and no empty
    /// slot is left behind.
    #[test]
    fn changes_read_the_same_tracked_or_not() {
        for snapshots in [true, false] {
            with_job(snapshots, move |job| {
                let mut s: OperatorState<u32, String> =
                    OperatorState::restore(job, "t", |_| true).unwrap();
                for k in 0..100u32 {
                    assert_eq!(s.replace(k, format!("v{k}")), Replaced::New);
                }
                assert_eq!(s.replace(7, "v7".into()), Replaced::Same);
                assert_eq!(s.replace(7, "w".into()), Replaced::Old("v7".into()));
                for k in (0..100u32).step_by(2) {
                    assert!(s.remove(&k).is_some());
                }
                assert_eq!(s.remove(&0), None, "removed twice");
                s.update(1, |v| *v = None);
                s.update(200, |v| *v = Some("new".into()));
                s.update(201, |v| assert!(v.is_none())); // looked, set nothing
                assert_eq!(s.insert(3, "x".into()), Some("v3".into()));
                assert_eq!(s.len(), 50);
                assert_eq!(s.iter().count(), 50);
                assert_eq!(s.get(&7).map(String::as_str), Some("w"));
                assert_eq!(s.get(&1), None);
                assert_eq!(s.get(&200).map(String::as_str), Some("new"));
                if snapshots {
                    assert!(!s.dirty.is_empty());
                    assert!(s.checkpoint(0).unwrap().is_some());
                } else {
                    assert!(s.dirty.is_empty(), "tracked without a directory");
                    assert!(s.checkpoint(0).unwrap().is_none());
                }
                assert_eq!(s.map.len(), 50, "empty slots left behind");
            });
        }
    }
}
