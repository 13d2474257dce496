//! What a running job counts, for metrics and the `status` view: Kafka
//! Connect's source-task metrics per task, and the job's own (snapshots,
//! dead letters, restore). Plain atomics, updated once per batch, never per
//! record; an exporter reads them when scraped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A task's state, as Kafka Connect's task status reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Created, `start` not returned yet.
    Unassigned,
    /// Started and polling.
    Running,
    /// Failed; the job stops.
    Failed,
    /// Stopped after the job ended.
    Stopped,
}

impl TaskState {
    /// Kafka Connect's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Unassigned => "UNASSIGNED",
            TaskState::Running => "RUNNING",
            TaskState::Failed => "FAILED",
            TaskState::Stopped => "STOPPED",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => TaskState::Running,
            2 => TaskState::Failed,
            3 => TaskState::Stopped,
            _ => TaskState::Unassigned,
        }
    }
}

/// One task's counters (Kafka's `source-task-metrics` and
/// `connector-task-metrics`).
#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Records returned by `poll()` (`source-record-poll-total`).
    pub polled: AtomicU64,
    /// Records emitted into the dataflow after transforms
    /// (`source-record-write-total`).
    pub written: AtomicU64,
    /// Non-empty batches `poll()` returned.
    pub batches: AtomicU64,
    /// Nanoseconds spent in those `poll()` calls (`poll-batch-avg-time-ms`).
    pub poll_nanos: AtomicU64,
    /// Records sent to the dead-letter stream.
    pub dead_letters: AtomicU64,
    /// Offset commits delivered (`commit()` calls after a durable snapshot).
    pub commits: AtomicU64,
    /// Nanoseconds spent in `commit_record`/`commit` (`offset-commit-avg-time-ms`).
    pub commit_nanos: AtomicU64,
    /// The slowest commit, in nanoseconds (`offset-commit-max-time-ms`).
    pub commit_max_nanos: AtomicU64,
    /// Commits that failed (`offset-commit-failure-percentage`).
    pub commit_failures: AtomicU64,
    /// The task's own gauges (its context's [`crate::api::Gauges`]).
    pub gauges: crate::api::Gauges,
    state: AtomicU8,
}

impl TaskMetrics {
    /// Sets the task's state.
    pub fn set_state(&self, state: TaskState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// The task's state.
    pub fn state(&self) -> TaskState {
        TaskState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Counts one non-empty poll of `records` that took `took`.
    pub fn record_poll(&self, records: usize, took: Duration) {
        self.polled.fetch_add(records as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.poll_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts one commit that took `took`.
    pub fn record_commit(&self, took: Duration, ok: bool) {
        let nanos = took.as_nanos() as u64;
        if ok {
            self.commits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.commit_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.commit_max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

/// A job's metrics in one process, shared by its workers and tasks.
///
/// ```
/// use std::time::Duration;
/// use timely_connect::runtime::JobMetrics;
///
/// let metrics = JobMetrics::new("orders");
/// let task = metrics.task(0);
/// task.record_poll(100, Duration::from_millis(2));
/// metrics.record_snapshot(7, 4096, Duration::from_millis(3));
/// let view = metrics.view();
/// assert_eq!(view.tasks[0].polled, 100);
/// assert_eq!(view.last_snapshot_epoch, Some(7));
/// ```
#[derive(Debug)]
pub struct JobMetrics {
    connector: String,
    tasks: Mutex<BTreeMap<usize, Arc<TaskMetrics>>>,
    snapshots: AtomicU64,
    snapshot_failures: AtomicU64,
    last_epoch_plus_one: AtomicU64,
    last_snapshot_ms: AtomicU64,
    last_snapshot_bytes: AtomicU64,
    last_snapshot_nanos: AtomicU64,
    restore_nanos: AtomicU64,
    /// Records emitted whose snapshot is durable.
    durable_records: AtomicU64,
}

/// A point-in-time copy of a task's counters.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskView {
    /// The task's index.
    pub task: usize,
    /// Kafka's status name.
    pub state: &'static str,
    /// `source-record-poll-total`.
    pub polled: u64,
    /// `source-record-write-total`.
    pub written: u64,
    /// `poll-batch-avg-time-ms`.
    pub poll_batch_avg_ms: f64,
    /// Dead letters.
    pub dead_letters: u64,
    /// `offset-commit-completion-total`.
    pub commits: u64,
    /// `offset-commit-skip-total` (failed commits).
    pub commit_failures: u64,
    /// `offset-commit-avg-time-ms`.
    pub commit_avg_ms: f64,
    /// `offset-commit-max-time-ms`.
    pub commit_max_ms: f64,
    /// The gauges the task reports about its source.
    pub gauges: Vec<crate::api::Gauge>,
}

/// A point-in-time copy of a job's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    /// The connector's name.
    pub connector: String,
    /// Per task, by index.
    pub tasks: Vec<TaskView>,
    /// Snapshots written by this process.
    pub snapshots: u64,
    /// Snapshot writes that failed (and were tried again) in this process.
    pub snapshot_failures: u64,
    /// The newest durable snapshot's epoch.
    pub last_snapshot_epoch: Option<u64>,
    /// Seconds since it was written.
    pub last_snapshot_age_seconds: Option<f64>,
    /// Its size in bytes.
    pub last_snapshot_bytes: u64,
    /// How long writing it took.
    pub last_snapshot_seconds: f64,
    /// How long the restore took at start.
    pub restore_seconds: f64,
    /// Records emitted into the dataflow that no durable snapshot covers yet.
    pub records_in_flight: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms(nanos: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        nanos as f64 / count as f64 / 1e6
    }
}

impl JobMetrics {
    /// Metrics for connector `connector`.
    pub fn new(connector: &str) -> Self {
        JobMetrics {
            connector: connector.to_owned(),
            tasks: Mutex::default(),
            snapshots: AtomicU64::new(0),
            snapshot_failures: AtomicU64::new(0),
            last_epoch_plus_one: AtomicU64::new(0),
            last_snapshot_ms: AtomicU64::new(0),
            last_snapshot_bytes: AtomicU64::new(0),
            last_snapshot_nanos: AtomicU64::new(0),
            restore_nanos: AtomicU64::new(0),
            durable_records: AtomicU64::new(0),
        }
    }

    /// The counters of task `task` (created on first use).
    pub fn task(&self, task: usize) -> Arc<TaskMetrics> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.entry(task).or_default().clone()
    }

    /// Counts a durable snapshot.
    pub fn record_snapshot(&self, epoch: u64, bytes: u64, took: Duration) {
        self.snapshots.fetch_add(1, Ordering::Relaxed);
        self.last_epoch_plus_one
            .store(epoch.saturating_add(1), Ordering::Relaxed);
        self.last_snapshot_ms.store(now_ms(), Ordering::Relaxed);
        self.last_snapshot_bytes.store(bytes, Ordering::Relaxed);
        self.last_snapshot_nanos
            .store(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts a snapshot write that failed (it is tried again).
    pub fn record_snapshot_failure(&self) {
        self.snapshot_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts records whose snapshot became durable (they leave "in flight").
    pub fn record_durable(&self, records: u64) {
        self.durable_records.fetch_add(records, Ordering::Relaxed);
    }

    /// Records how long the restore took.
    pub fn record_restore(&self, took: Duration) {
        self.restore_nanos
            .store(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A copy of everything, for an exporter or a status line.
    pub fn view(&self) -> JobView {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let last_ms = load(&self.last_snapshot_ms);
        let written: u64 = tasks.values().map(|t| load(&t.written)).sum();
        JobView {
            connector: self.connector.clone(),
            tasks: tasks
                .iter()
                .map(|(id, t)| TaskView {
                    task: *id,
                    state: t.state().as_str(),
                    polled: load(&t.polled),
                    written: load(&t.written),
                    poll_batch_avg_ms: ms(load(&t.poll_nanos), load(&t.batches)),
                    dead_letters: load(&t.dead_letters),
                    commits: load(&t.commits),
                    commit_failures: load(&t.commit_failures),
                    commit_avg_ms: ms(
                        load(&t.commit_nanos),
                        load(&t.commits) + load(&t.commit_failures),
                    ),
                    commit_max_ms: load(&t.commit_max_nanos) as f64 / 1e6,
                    gauges: t.gauges.snapshot(),
                })
                .collect(),
            snapshots: load(&self.snapshots),
            snapshot_failures: load(&self.snapshot_failures),
            last_snapshot_epoch: load(&self.last_epoch_plus_one).checked_sub(1),
            last_snapshot_age_seconds: (last_ms > 0)
                .then(|| now_ms().saturating_sub(last_ms) as f64 / 1000.0),
            last_snapshot_bytes: load(&self.last_snapshot_bytes),
            last_snapshot_seconds: load(&self.last_snapshot_nanos) as f64 / 1e9,
            restore_seconds: load(&self.restore_nanos) as f64 / 1e9,
            records_in_flight: written.saturating_sub(load(&self.durable_records)),
        }
    }
}
