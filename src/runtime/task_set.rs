//! One owner of a worker's tasks: it drains their batches, keeps the
//! offsets each task's records reached in the open epoch, closes an epoch
//! into the worker's checkpoint part, and once that epoch's snapshot is
//! durable tells each task what it covers (`commit_record`, `commit`).
//!
//! The Timely source operator owns one [`TaskSet`] and does only what needs
//! Timely: it gives the drained records to its outputs at the open epoch,
//! decides when an epoch closes, emits the closed epoch's [`Offsets`] as
//! its part, and asks the probe which epochs are durable.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{EncodedRecord, JobMetrics, TaskEvent, TaskFailure, TaskHandle, TaskMetrics};
use crate::data::{Offsets, SourceRecord};

/// What one task batch gives the dataflow.
#[derive(Debug, Default)]
pub struct Drained {
    /// Records (when the tasks do not convert them).
    pub records: Vec<SourceRecord>,
    /// Records as bytes (when the tasks convert them).
    pub encoded: Vec<EncodedRecord>,
    /// Records that failed a transform or a converter under
    /// `errors.tolerance=all`.
    pub dead_letters: Vec<SourceRecord>,
}

/// How a [`TaskSet::drain`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// Records (and encoded records) given to the dataflow.
    pub emitted: u64,
    /// Whether every task's channel was empty at the end (false: the
    /// budget ran out first, so there may be more).
    pub drained_all: bool,
}

struct Slot {
    handle: TaskHandle,
    metrics: Option<Arc<TaskMetrics>>,
    /// Sequence number of the last batch received.
    last_seq: u64,
    /// Offsets this task's records reached in the open epoch.
    changed: Offsets,
    /// Its last batch ended inside a transaction of the source.
    in_transaction: bool,
}

/// The offsets one task's records reached in a closed epoch, and the last
/// batch it had sent by then.
struct TaskCommit {
    slot: usize,
    offsets: Offsets,
    up_to_seq: u64,
}

/// A closed epoch waiting for its snapshot to become durable.
struct PendingCommit {
    epoch: u64,
    /// Records emitted in the epoch.
    records: u64,
    by_task: Vec<TaskCommit>,
}

/// The tasks one worker runs, and the epoch bookkeeping between their
/// batches and the commits a durable snapshot allows.
///
/// ```
/// use timely_connect::api::{ConnectError, OffsetStorageReader, SourceTask, SourceTaskContext};
/// use timely_connect::data::{Schema, SourceOffset, SourcePartition, SourceRecord, Value};
/// use timely_connect::runtime::{spawn_task, RetryPolicy, TaskSet, TaskSpec};
///
/// /// Emits records 1..=3 of partition "p" once, then nothing.
/// struct Three(bool);
/// impl SourceTask for Three {
///     fn start(&mut self, _: SourceTaskContext) -> Result<(), ConnectError> { Ok(()) }
///     fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
///         if std::mem::replace(&mut self.0, true) {
///             std::thread::sleep(std::time::Duration::from_millis(5));
///             return Ok(None);
///         }
///         let (p, key) = (SourcePartition::single("p", "p"), SourceOffset::key("n"));
///         Ok(Some((1..=3).map(|n| SourceRecord::new(p.clone(), SourceOffset::int(&key, n),
///             "t".into(), Some(Schema::int64()), Value::Int64(n))).collect()))
///     }
/// }
///
/// let spec = TaskSpec { connector: "c".into(), task_id: 0, config: Default::default(),
///     offsets: OffsetStorageReader::default(), retry: RetryPolicy::default(),
///     channel_capacity: 4, errors: Default::default(), processor: None, encoders: None,
///     metrics: None };
/// let mut tasks = TaskSet::new(None);
/// tasks.push(spawn_task(Box::new(Three(false)), spec, || {}).unwrap(), None);
/// let mut got = Vec::new();
/// while got.len() < 3 {
///     tasks.drain(8, |batch| got.extend(batch.records)).unwrap();
/// }
/// // Epoch 0 closes: its part holds where partition "p" got to.
/// let part = tasks.close_epoch(0).unwrap();
/// assert_eq!(part.iter().next().unwrap().1.get_i64("n"), Some(3));
/// // Not durable yet: nothing to commit. Durable: the task is told.
/// tasks.deliver_commits(|_epoch| false);
/// assert!(tasks.has_pending());
/// tasks.deliver_commits(|epoch| epoch <= 0);
/// assert!(!tasks.has_pending());
/// tasks.stop_and_join(std::time::Duration::from_secs(5));
/// ```
pub struct TaskSet {
    tasks: Vec<Slot>,
    pending: VecDeque<PendingCommit>,
    /// Records emitted in the open epoch.
    open_records: u64,
    metrics: Option<Arc<JobMetrics>>,
}

impl TaskSet {
    /// No tasks yet; `metrics` (if any) learns how many records each
    /// durable snapshot covers.
    pub fn new(metrics: Option<Arc<JobMetrics>>) -> Self {
        TaskSet {
            tasks: Vec::new(),
            pending: VecDeque::new(),
            open_records: 0,
            metrics,
        }
    }

    /// Adds a running task; `metrics` (if any) counts what it writes.
    pub fn push(&mut self, handle: TaskHandle, metrics: Option<Arc<TaskMetrics>>) {
        self.tasks.push(Slot {
            handle,
            metrics,
            last_seq: 0,
            changed: Offsets::new(),
            in_transaction: false,
        });
    }

    /// How many tasks it holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether it holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Takes up to `budget` batches, one task after the other, and gives
    /// each to `emit`; their offsets count in the open epoch. A task that
    /// failed ends the drain with its failure (stop the others with
    /// [`TaskSet::stop_all`]).
    pub fn drain(
        &mut self,
        budget: usize,
        mut emit: impl FnMut(Drained),
    ) -> Result<Drain, TaskFailure> {
        let mut budget = budget.max(1);
        let mut emitted = 0u64;
        loop {
            let mut any = false;
            for slot in &mut self.tasks {
                if budget == 0 {
                    break;
                }
                match slot.handle.try_next() {
                    Some(TaskEvent::Batch {
                        seq,
                        records,
                        encoded,
                        offsets,
                        dead_letters,
                        in_transaction,
                    }) => {
                        any = true;
                        slot.in_transaction = in_transaction;
                        budget -= 1;
                        slot.last_seq = seq;
                        slot.changed.merge(&offsets);
                        let written = (records.len() + encoded.len()) as u64;
                        emitted += written;
                        if let Some(m) = &slot.metrics {
                            m.written.fetch_add(written, Ordering::Relaxed);
                            m.dead_letters
                                .fetch_add(dead_letters.len() as u64, Ordering::Relaxed);
                        }
                        emit(Drained {
                            records,
                            encoded,
                            dead_letters,
                        });
                    }
                    Some(TaskEvent::Failed(failure)) => {
                        self.open_records += emitted;
                        return Err(failure);
                    }
                    None => {}
                }
            }
            if !any || budget == 0 {
                self.open_records += emitted;
                return Ok(Drain {
                    emitted,
                    drained_all: !any,
                });
            }
        }
    }

    /// Whether a task's last batch ended inside a transaction of the
    /// source: the epoch must not close before the rest of it is drained.
    pub fn inside_transaction(&self) -> bool {
        self.tasks.iter().any(|t| t.in_transaction)
    }

    /// Closes `epoch`: returns the offsets its records reached (this
    /// worker's checkpoint part), or `None` when no offset changed, and
    /// keeps each task's share until [`TaskSet::deliver_commits`] learns
    /// the epoch is durable.
    pub fn close_epoch(&mut self, epoch: u64) -> Option<Offsets> {
        let mut part = Offsets::new();
        let mut by_task = Vec::new();
        for (slot, task) in self.tasks.iter_mut().enumerate() {
            if task.changed.is_empty() {
                continue;
            }
            let offsets = task.changed.take();
            part.merge(&offsets);
            by_task.push(TaskCommit {
                slot,
                offsets,
                up_to_seq: task.last_seq,
            });
        }
        if by_task.is_empty() {
            return None;
        }
        self.pending.push_back(PendingCommit {
            epoch,
            records: std::mem::take(&mut self.open_records),
            by_task,
        });
        Some(part)
    }

    /// Tells each task about the closed epochs whose snapshot
    /// `is_durable` says is durable, oldest first: the offsets its records
    /// reached and its last batch by then (the task thread then calls
    /// `commit_record` for those records and `commit`).
    pub fn deliver_commits(&mut self, is_durable: impl Fn(u64) -> bool) {
        while self.pending.front().is_some_and(|p| is_durable(p.epoch)) {
            let Some(done) = self.pending.pop_front() else {
                break;
            };
            if let Some(m) = &self.metrics {
                m.record_durable(done.records);
            }
            for c in done.by_task {
                self.tasks[c.slot].handle.commit(c.offsets, c.up_to_seq);
            }
        }
    }

    /// Whether every task's last `poll` returned nothing (see
    /// [`super::TaskHandle::waiting`]).
    pub fn all_waiting(&self) -> bool {
        self.tasks.iter().all(|t| t.handle.waiting())
    }

    /// Whether every task thread has ended (true for an empty set).
    pub fn all_finished(&self) -> bool {
        self.tasks.iter().all(|t| t.handle.is_finished())
    }

    /// The job metrics the set reports to.
    pub fn metrics(&self) -> Option<Arc<JobMetrics>> {
        self.metrics.clone()
    }

    /// Whether a closed epoch still waits for its snapshot.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Asks every task to stop (they finish their current call).
    pub fn stop_all(&self) {
        for t in &self.tasks {
            t.handle.stop();
        }
    }

    /// Stops every task and waits up to `timeout` for each thread; the set
    /// is empty afterwards.
    pub fn stop_and_join(&mut self, timeout: Duration) {
        for t in &mut self.tasks {
            t.handle.stop_and_join(timeout);
        }
        self.tasks.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::api::{ConnectError, OffsetStorageReader, SourceTask, SourceTaskContext};
    use crate::data::{Schema, SourceOffset, SourcePartition, Value};
    use crate::runtime::{spawn_task, RetryPolicy, TaskSpec};

    /// Emits `batches` batches of two records of partition `name` (offsets
    /// counting up from 1), then nothing; logs each `commit()` with the
    /// committed offset it sees.
    struct Counting {
        name: &'static str,
        batches: i64,
        sent: i64,
        context: Option<SourceTaskContext>,
        commits: Arc<Mutex<Vec<Option<i64>>>>,
    }

    impl SourceTask for Counting {
        fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
            self.context = Some(context);
            Ok(())
        }
        fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
            if self.sent == self.batches {
                std::thread::sleep(Duration::from_millis(2));
                return Ok(None);
            }
            self.sent += 1;
            let p = SourcePartition::single("p", self.name);
            let key = SourceOffset::key("n");
            let records = (2 * self.sent - 1..=2 * self.sent)
                .map(|n| {
                    SourceRecord::new(
                        p.clone(),
                        SourceOffset::int(&key, n),
                        Arc::from("t"),
                        Some(Schema::int64()),
                        Value::Int64(n),
                    )
                })
                .collect();
            Ok(Some(records))
        }
        fn commit(&mut self) -> Result<(), ConnectError> {
            let p = SourcePartition::single("p", self.name);
            let seen = self
                .context
                .as_ref()
                .and_then(|c| c.committed_offsets().get(&p).and_then(|o| o.get_i64("n")));
            self.commits.lock().unwrap().push(seen);
            Ok(())
        }
    }

    fn spec(task_id: usize) -> TaskSpec {
        TaskSpec {
            connector: "c".into(),
            task_id,
            config: Default::default(),
            offsets: OffsetStorageReader::default(),
            retry: RetryPolicy::default(),
            channel_capacity: 4,
            errors: Default::default(),
            processor: None,
            encoders: None,
            metrics: None,
        }
    }

    fn task(
        name: &'static str,
        id: usize,
        batches: i64,
    ) -> (TaskHandle, Arc<Mutex<Vec<Option<i64>>>>) {
        let commits = Arc::default();
        let t = Counting {
            name,
            batches,
            sent: 0,
            context: None,
            commits: Arc::clone(&commits),
        };
        (spawn_task(Box::new(t), spec(id), || {}).unwrap(), commits)
    }

    fn drain_until(tasks: &mut TaskSet, records: usize) -> Vec<i64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < records {
            assert!(Instant::now() < deadline, "only {} records came", got.len());
            tasks
                .drain(1, |b| {
                    got.extend(b.records.iter().filter_map(|r| r.value.as_i64()))
                })
                .unwrap();
        }
        got
    }

    fn wait_for(commits: &Mutex<Vec<Option<i64>>>, n: usize) -> Vec<Option<i64>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = commits.lock().unwrap().clone();
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn an_epoch_part_holds_each_tasks_last_offsets_and_commits_wait_for_durability() {
        let metrics = Arc::new(JobMetrics::new("c"));
        let mut tasks = TaskSet::new(Some(Arc::clone(&metrics)));
        let (a, a_commits) = task("a", 0, 2);
        let (b, b_commits) = task("b", 1, 1);
        tasks.push(a, Some(metrics.task(0)));
        tasks.push(b, Some(metrics.task(1)));
        let mut got = drain_until(&mut tasks, 6);
        got.sort_unstable();
        assert_eq!(got, [1, 1, 2, 2, 3, 4]);
        assert_eq!(metrics.view().records_in_flight, 6);

        let part = tasks.close_epoch(5).expect("offsets changed");
        let last: Vec<(String, Option<i64>)> = part
            .iter()
            .map(|(p, o)| (p.to_string(), o.get_i64("n")))
            .collect();
        assert_eq!(
            last,
            [
                (r#"{"p":"a"}"#.into(), Some(4)),
                (r#"{"p":"b"}"#.into(), Some(2))
            ]
        );
        // Nothing new: the next epoch has no part and no pending commit.
        assert!(tasks.close_epoch(6).is_none());

        tasks.deliver_commits(|e| e < 5);
        assert!(tasks.has_pending(), "epoch 5 is not durable yet");
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            a_commits.lock().unwrap().is_empty(),
            "no commit before durability"
        );

        tasks.deliver_commits(|e| e <= 5);
        assert!(!tasks.has_pending());
        assert_eq!(wait_for(&a_commits, 1), [Some(4)]);
        assert_eq!(wait_for(&b_commits, 1), [Some(2)]);
        assert_eq!(
            metrics.view().records_in_flight,
            0,
            "durable records counted"
        );
        tasks.stop_and_join(Duration::from_secs(5));
        assert!(tasks.is_empty());
    }

    #[test]
    fn the_budget_bounds_one_drain_and_a_failure_ends_it() {
        let mut tasks = TaskSet::new(None);
        let (a, _) = task("a", 0, 3);
        tasks.push(a, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Wait until all three batches wait in the channel.
        let mut seen = 0;
        while seen == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
            let d = tasks.drain(1, |_| {}).unwrap();
            seen = d.emitted;
            if seen > 0 {
                assert!(!d.drained_all, "a budget of one stops after one batch");
                assert_eq!(d.emitted, 2);
            }
        }
        tasks.stop_and_join(Duration::from_secs(5));

        /// Fails its first poll.
        struct Broken;
        impl SourceTask for Broken {
            fn start(&mut self, _: SourceTaskContext) -> Result<(), ConnectError> {
                Ok(())
            }
            fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
                Err(ConnectError::fatal("disk on fire"))
            }
        }
        let mut tasks = TaskSet::new(None);
        tasks.push(spawn_task(Box::new(Broken), spec(4), || {}).unwrap(), None);
        let failure = loop {
            assert!(Instant::now() < deadline, "the failure never came");
            match tasks.drain(8, |_| {}) {
                Err(f) => break f,
                Ok(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let text = failure.to_string();
        assert!(
            text.contains("task 4") && text.contains("disk on fire"),
            "{text}"
        );
        tasks.stop_and_join(Duration::from_secs(5));
    }
}
