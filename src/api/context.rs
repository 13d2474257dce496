//! What a task is given at start: its configuration, restored offsets and a
//! stop token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::config::Properties;
use crate::data::{Offsets, SourceOffset, SourcePartition};

/// Reads the offsets restored from the last durable snapshot (Kafka's
/// `OffsetStorageReader`).
///
/// ```
/// use timely_connect::{OffsetStorageReader, data::{SourceOffset, SourcePartition}};
/// let p = SourcePartition::single("filename", "in.txt");
/// let o = SourceOffset::int(&SourceOffset::key("position"), 10);
/// let reader = OffsetStorageReader::new([(p.clone(), o.clone())].into_iter().collect());
/// assert_eq!(reader.offset(&p), Some(o));
/// ```
#[derive(Clone, Debug, Default)]
pub struct OffsetStorageReader {
    offsets: Offsets,
}

impl OffsetStorageReader {
    /// A reader over `offsets`.
    pub fn new(offsets: Offsets) -> Self {
        OffsetStorageReader { offsets }
    }

    /// The stored offset of `partition`, if any.
    pub fn offset(&self, partition: &SourcePartition) -> Option<SourceOffset> {
        self.offsets.get(partition).cloned()
    }

    /// The stored offsets of several partitions (those without one are left out).
    pub fn offsets<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a SourcePartition>,
    ) -> HashMap<SourcePartition, SourceOffset> {
        partitions
            .into_iter()
            .filter_map(|p| self.offsets.get(p).map(|o| (p.clone(), o.clone())))
            .collect()
    }

    /// Every stored offset.
    pub fn all(&self) -> &Offsets {
        &self.offsets
    }
}

/// Fired by the framework, from another thread, to ask a task to stop.
/// A blocking `poll` can sleep on it and wake at once when it fires.
#[derive(Clone, Debug, Default)]
pub struct StopToken {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl StopToken {
    /// A token that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the token; wakes every sleeper.
    pub fn stop(&self) {
        let (lock, cvar) = &*self.inner;
        let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
        *stopped = true;
        cvar.notify_all();
    }

    /// Whether the token has fired.
    pub fn is_stopped(&self) -> bool {
        *self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps up to `timeout`, waking early when the token fires.
    /// Returns whether it has fired.
    pub fn sleep(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// One gauge a task reports about its source: a replication slot's lag, a
/// snapshot's progress. The runtime exports it with the task's metrics
/// (`timely_connect_task_<name>` with `connector`, `task` and these labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Gauge {
    /// Metric name: lower case, digits and `_`.
    pub name: &'static str,
    /// One line saying what it measures, with its unit.
    pub help: &'static str,
    /// Labels beside `connector` and `task`.
    pub labels: Vec<(&'static str, String)>,
    /// Current value.
    pub value: f64,
}

/// Progress gauges: a task that works through a known amount (a snapshot's
/// tables) reports [`PROGRESS_DONE`] and [`PROGRESS_TOTAL`] with labels
/// `phase` and `item`; the CLI shows them with a rate and the time left.
/// An item is finished once done equals total; while it runs, total stays
/// above done (a task raises an estimate that turned out low).
pub const PROGRESS_DONE: &str = "progress_done";
/// See [`PROGRESS_DONE`].
pub const PROGRESS_TOTAL: &str = "progress_total";

/// A task's gauges, shared with the runtime that exports them. Cloning
/// shares them.
///
/// ```
/// use timely_connect::api::Gauges;
/// let g = Gauges::default();
/// g.set("slot_lag_bytes", "WAL bytes not yet confirmed.", &[("slot", "s1")], 4096.0);
/// g.set("slot_lag_bytes", "WAL bytes not yet confirmed.", &[("slot", "s1")], 0.0);
/// assert_eq!(g.snapshot().len(), 1);
/// assert_eq!(g.snapshot()[0].value, 0.0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Gauges(Arc<Mutex<Vec<Gauge>>>);

impl Gauges {
    /// Sets gauge `name` with `labels` to `value` (creates it the first time).
    pub fn set(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let same = |g: &Gauge| {
            g.name == name
                && g.labels.len() == labels.len()
                && g.labels
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && v == v2)
        };
        match all.iter_mut().find(|g| same(g)) {
            Some(g) => g.value = value,
            None => all.push(Gauge {
                name,
                help,
                labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                value,
            }),
        }
    }

    /// Every gauge, in the order they were first set.
    pub fn snapshot(&self) -> Vec<Gauge> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A task's context (Kafka's `SourceTaskContext`): its configuration, the
/// restored offsets, the offsets made durable so far, and its stop token.
#[derive(Clone, Debug)]
pub struct SourceTaskContext {
    /// The connector's name.
    pub connector: String,
    /// The task's index among the job's tasks.
    pub task_id: usize,
    configs: Properties,
    reader: OffsetStorageReader,
    committed: Arc<Mutex<Offsets>>,
    committed_polls: Arc<AtomicU64>,
    stop: StopToken,
    gauges: Gauges,
}

impl SourceTaskContext {
    /// A context for task `task_id` of `connector`.
    pub fn new(
        connector: &str,
        task_id: usize,
        configs: Properties,
        reader: OffsetStorageReader,
        stop: StopToken,
    ) -> Self {
        SourceTaskContext {
            connector: connector.to_owned(),
            task_id,
            configs,
            reader,
            committed: Arc::default(),
            committed_polls: Arc::default(),
            stop,
            gauges: Gauges::default(),
        }
    }

    /// The context with `gauges` as the place its task reports gauges to
    /// (the runtime passes its metrics' own).
    pub fn with_gauges(mut self, gauges: Gauges) -> Self {
        self.gauges = gauges;
        self
    }

    /// Where the task reports its gauges (see [`Gauges`]).
    pub fn gauges(&self) -> &Gauges {
        &self.gauges
    }

    /// The task's configuration (Kafka's `configs()`).
    pub fn configs(&self) -> &Properties {
        &self.configs
    }

    /// The offsets restored from the last snapshot (Kafka's `offsetStorageReader()`).
    pub fn offset_storage_reader(&self) -> &OffsetStorageReader {
        &self.reader
    }

    /// The stop token the framework fires when the task must stop.
    pub fn stop_token(&self) -> &StopToken {
        &self.stop
    }

    /// The offsets of this task's partitions in the newest durable snapshot.
    /// Updated by the framework just before it calls [`crate::SourceTask::commit`].
    pub fn committed_offsets(&self) -> Offsets {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many of this task's non-empty polls (counted from 1, in order)
    /// the newest durable snapshot covers. Updated by the framework just
    /// before it calls [`crate::SourceTask::commit`]; a task that keeps
    /// per-poll state to acknowledge (the JVM bridge) uses it instead of
    /// [`crate::SourceTask::commit_record`].
    pub fn committed_polls(&self) -> u64 {
        self.committed_polls.load(Ordering::SeqCst)
    }

    /// Records that the first `polls` non-empty polls are durable (called by the framework).
    pub fn set_committed_polls(&self, polls: u64) {
        self.committed_polls.fetch_max(polls, Ordering::SeqCst);
    }

    /// Records offsets as durable (called by the framework).
    pub fn set_committed(&self, offsets: &Offsets) {
        let mut c = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        c.merge(offsets);
    }
}
