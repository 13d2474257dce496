//! One task on its own thread.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, SendTimeoutError, Sender, TryRecvError};
use tracing::{debug, info_span, warn};

use super::encode::{EncodedRecord, Encoders};
use super::errors::{
    dead_letter, log_failure, FailureContext, RecordPosition, RecordProcessor, StageFailure,
};
use super::retry::{Backoff, RetryPolicy};
use crate::api::{
    ConnectError, OffsetStorageReader, SourceTask, SourceTaskContext, StopToken, TaskConfig,
};
use crate::config::{ErrorHandling, ErrorTolerance};
use crate::data::{Offsets, SourceOffset, SourcePartition, SourceRecord};

/// What the framework needs to run one task.
pub struct TaskSpec {
    /// The connector's name (`name` in its properties).
    pub connector: String,
    /// The task's index among the job's tasks.
    pub task_id: usize,
    /// The task's configuration, from `SourceConnector::task_configs`.
    pub config: TaskConfig,
    /// Offsets restored from the last snapshot.
    pub offsets: OffsetStorageReader,
    /// Retry policy for retriable `poll` errors.
    pub retry: RetryPolicy,
    /// Batches that may wait in the channel before `poll` is held back.
    pub channel_capacity: usize,
    /// `errors.tolerance` and the error-log keys.
    pub errors: ErrorHandling,
    /// What runs on each polled record before it is emitted (the
    /// connector's transforms); `None` emits records as polled.
    pub processor: Option<Box<dyn RecordProcessor>>,
    /// The task's converters. With them, each record is converted to bytes
    /// on the task's thread after its transforms, as Kafka Connect's worker
    /// does, and batches carry [`EncodedRecord`]s instead of records; a
    /// conversion failure goes through the same `errors.tolerance` path as
    /// a transform failure. `None`: records are emitted as records.
    pub encoders: Option<Encoders>,
    /// Where the task counts polls and commits (metrics); `None`: nowhere.
    pub metrics: Option<std::sync::Arc<super::TaskMetrics>>,
}

impl fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskSpec")
            .field("connector", &self.connector)
            .field("task_id", &self.task_id)
            .field("errors", &self.errors)
            .field("processor", &self.processor.is_some())
            .field("encoders", &self.encoders)
            .finish_non_exhaustive()
    }
}

/// Why a task failed: names the connector, the task and the cause.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connector `{connector}` task {task_id} failed in {stage}: {cause}")]
pub struct TaskFailure {
    /// The connector's name.
    pub connector: String,
    /// The task's index.
    pub task_id: usize,
    /// Which call failed (`start`, `poll`, `commit`, …).
    pub stage: &'static str,
    /// The error or panic message.
    pub cause: String,
}

/// What one polled batch became.
#[derive(Default)]
struct Processed {
    records: Vec<SourceRecord>,
    encoded: Vec<EncodedRecord>,
    dead_letters: Vec<SourceRecord>,
}

/// What a task thread sends to its operator.
#[derive(Debug)]
pub enum TaskEvent {
    /// Records from one `poll`, numbered from 1 per task.
    Batch {
        /// The batch's sequence number.
        seq: u64,
        /// The records to emit (after transforms); empty when the task
        /// converts records ([`TaskSpec::encoders`]).
        records: Vec<SourceRecord>,
        /// The records as bytes, when the task converts them; empty otherwise.
        encoded: Vec<EncodedRecord>,
        /// The last offset of each source partition the polled batch read,
        /// in batch order, including records that transforms dropped or
        /// that went to the dead-letter stream.
        offsets: Offsets,
        /// Records that failed a transform (as they were polled) or a
        /// converter (as the transforms left them) under
        /// `errors.tolerance=all`, with Kafka's `__connect.errors.*` headers.
        dead_letters: Vec<SourceRecord>,
        /// The batch ends inside a transaction of the source
        /// ([`crate::SourceTask::in_transaction`]).
        in_transaction: bool,
    },
    /// The task failed; no more events follow.
    Failed(TaskFailure),
}

/// A message to the task thread.
#[derive(Debug)]
enum Control {
    /// A snapshot is durable: it covers `offsets` and every batch up to `up_to_seq`.
    Commit { offsets: Offsets, up_to_seq: u64 },
}

/// The operator's side of a running task.
pub struct TaskHandle {
    /// The task's index.
    pub task_id: usize,
    events: Receiver<TaskEvent>,
    control: Sender<Control>,
    stop: StopToken,
    thread: Option<JoinHandle<()>>,
    waiting: Arc<AtomicBool>,
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task_id", &self.task_id)
            .finish()
    }
}

impl TaskHandle {
    /// Whether the task's last `poll` returned nothing: it has read all
    /// there is for now. A task still in `start` or inside a long first
    /// `poll` is not waiting, so a job is not taken for idle before the
    /// task had its chance.
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_next(&self) -> Option<TaskEvent> {
        match self.events.try_recv() {
            Ok(event) => Some(event),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => None,
        }
    }

    /// Tells the task that a durable snapshot covers `offsets` and every
    /// batch up to `up_to_seq`; the task thread calls `commit()` (and
    /// `commit_record()` when the task asked for it).
    pub fn commit(&self, offsets: Offsets, up_to_seq: u64) {
        // A task that has ended no longer needs commits.
        let _ = self.control.send(Control::Commit { offsets, up_to_seq });
    }

    /// Asks the task to stop (fires its stop token); does not wait.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Whether the task thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the task and waits up to `timeout` for its thread to end.
    /// Returns whether it ended.
    pub fn stop_and_join(&mut self, timeout: Duration) -> bool {
        self.stop();
        let deadline = Instant::now() + timeout;
        while !self.is_finished() {
            if Instant::now() >= deadline {
                warn!(
                    task = self.task_id,
                    "task thread did not stop in time; leaving it"
                );
                return false;
            }
            // Keep the channel from blocking a thread that is still sending.
            while self.events.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        true
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// The stack of each task thread: 8 MiB, as a JVM's main thread gets,
/// since Java connectors run their code on it.
pub const TASK_STACK_BYTES: usize = 8 << 20;

/// Starts `task` on a thread of its own. `wake` is called after every event
/// the thread sends (the operator's `SyncActivator`).
pub fn spawn_task(
    task: Box<dyn SourceTask>,
    spec: TaskSpec,
    wake: impl Fn() + Send + 'static,
) -> std::io::Result<TaskHandle> {
    let (event_tx, event_rx) = bounded(spec.channel_capacity.max(1));
    let (control_tx, control_rx) = unbounded();
    let stop = StopToken::new();
    let task_id = spec.task_id;
    let thread_stop = stop.clone();
    let waiting = Arc::new(AtomicBool::new(false));
    let thread_waiting = waiting.clone();
    let name = format!("{}-task-{}", spec.connector, spec.task_id);
    // Large enough for connectors that run deep (the JVM bridge's Java tasks run on it).
    let thread = std::thread::Builder::new()
        .name(name)
        .stack_size(TASK_STACK_BYTES)
        .spawn(move || {
            let runner = Runner {
                spec,
                events: event_tx,
                control: control_rx,
                stop: thread_stop,
                wake,
                waiting: thread_waiting,
            };
            runner.run(task);
        })?;
    Ok(TaskHandle {
        task_id,
        events: event_rx,
        control: control_tx,
        stop,
        thread: Some(thread),
        waiting,
    })
}

struct Runner<W> {
    spec: TaskSpec,
    events: Sender<TaskEvent>,
    control: Receiver<Control>,
    stop: StopToken,
    wake: W,
    /// Set when a `poll` returned nothing, cleared when one returned records.
    waiting: Arc<AtomicBool>,
}

/// The last offset each source partition reached in a batch.
///
/// A batch usually holds a few partitions, each record sharing its
/// partition's allocation (a file: one; Datagen: its task's few, round
/// robin), so the last offset per partition is kept in a short list found
/// by pointer first, then by value; only the list's entries are put into
/// the map. A batch of more partitions than that takes the general way: one
/// map insert per run of a partition.
pub fn batch_offsets(records: &[SourceRecord]) -> Offsets {
    const FEW: usize = 16;
    let mut few: Vec<(&SourcePartition, &SourceOffset)> = Vec::with_capacity(FEW);
    for r in records {
        let p = &r.source_partition;
        let slot = match few.iter().position(|(q, _)| q.ptr_eq(p)) {
            Some(i) => Some(i),
            None => few.iter().position(|(q, _)| *q == p),
        };
        match slot {
            // Equal partitions of another allocation: this record's is kept,
            // so the records after it that share it match by pointer.
            Some(i) => few[i] = (p, &r.source_offset),
            None if few.len() < FEW => few.push((p, &r.source_offset)),
            None => return offsets_by_runs(records),
        }
    }
    let mut out = Offsets::new();
    for (p, o) in few {
        out.insert(p.clone(), o.clone());
    }
    out
}

/// [`batch_offsets`] for a batch of many partitions: only the last record
/// of each run of one partition is looked at, and a later run of a
/// partition replaces an earlier one.
fn offsets_by_runs(records: &[SourceRecord]) -> Offsets {
    let mut out = Offsets::new();
    let mut iter = records.iter().peekable();
    while let Some(r) = iter.next() {
        let run_continues = iter.peek().is_some_and(|next| {
            next.source_partition.ptr_eq(&r.source_partition)
                || next.source_partition == r.source_partition
        });
        if !run_continues {
            out.insert(r.source_partition.clone(), r.source_offset.clone());
        }
    }
    out
}

/// Checks every record's key and value against their schemas, on the task
/// thread (in parallel with the worker). Names the record by its source
/// partition and offset, and the field by its path.
fn first_invalid(records: &[SourceRecord]) -> Option<String> {
    records.iter().find_map(|r| {
        r.validate().err().map(|e| {
            format!(
                "record for partition {} at offset {:?} does not match its schema: {e}",
                r.source_partition, r.source_offset
            )
        })
    })
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

impl<W: Fn()> Runner<W> {
    /// Marks the task as waiting (a `poll` returned nothing); on the change,
    /// wakes the operator, which may be waiting for exactly that to stop.
    fn now_waiting(&self) {
        if !self.waiting.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }

    fn failure(&self, stage: &'static str, cause: String) -> TaskFailure {
        TaskFailure {
            connector: self.spec.connector.clone(),
            task_id: self.spec.task_id,
            stage,
            cause,
        }
    }

    /// Runs a connector call, turning a panic into an error.
    fn guarded<R>(
        &self,
        stage: &'static str,
        call: impl FnOnce() -> Result<R, ConnectError>,
    ) -> Result<R, (ConnectError, Option<TaskFailure>)> {
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err((e, None)),
            Err(payload) => {
                let f = self.failure(stage, panic_message(payload));
                Err((ConnectError::fatal(f.cause.clone()), Some(f)))
            }
        }
    }

    fn set_state(&self, state: super::TaskState) {
        if let Some(m) = &self.spec.metrics {
            m.set_state(state);
        }
    }

    fn fail(&self, failure: TaskFailure) {
        self.set_state(super::TaskState::Failed);
        tracing::error!(connector = %failure.connector, task = failure.task_id, stage = failure.stage, cause = %failure.cause, "task failed");
        let _ = self.events.send(TaskEvent::Failed(failure));
        (self.wake)();
    }

    /// Runs each record through the transforms and then the converters
    /// (either may be absent): returns what to emit and the dead letters,
    /// or the failure that ends the task (`errors.tolerance=none`). This is
    /// the one place record-level failures are handled.
    fn process(
        &self,
        mut processor: Option<&mut Box<dyn RecordProcessor>>,
        mut encoders: Option<&mut Encoders>,
        records: Vec<SourceRecord>,
    ) -> Result<Processed, TaskFailure> {
        let tolerate = self.spec.errors.tolerance == ErrorTolerance::All;
        let context = FailureContext {
            connector: &self.spec.connector,
            task_id: self.spec.task_id,
        };
        let mut done = Processed::default();
        if encoders.is_some() {
            done.encoded.reserve(records.len());
        } else {
            done.records.reserve(records.len());
        }
        for record in records {
            let record = match processor.as_deref_mut() {
                None => record,
                Some(p) => {
                    // Keep what a failure report needs: the whole record only
                    // when it may go to the dead-letter stream or into a log.
                    let original =
                        (tolerate || self.spec.errors.log_enable).then(|| record.clone());
                    // Only the position's reference counts: its text is made if
                    // the record fails (formatting it for every record cost more
                    // than a typical transform).
                    let position = (!tolerate).then(|| RecordPosition::of(&record));
                    match catch_unwind(AssertUnwindSafe(|| p.process(record))) {
                        Ok(Ok(Some(r))) => r,
                        Ok(Ok(None)) => continue,
                        Ok(Err(failure)) => {
                            self.tolerate(&context, original, position, &failure, &mut done)?;
                            continue;
                        }
                        Err(payload) => {
                            return Err(self.failure("transform", panic_message(payload)));
                        }
                    }
                }
            };
            let Some(e) = encoders.as_deref_mut() else {
                done.records.push(record);
                continue;
            };
            match catch_unwind(AssertUnwindSafe(|| e.encode(&record))) {
                Ok(Ok(encoded)) => done.encoded.push(encoded),
                Ok(Err(failure)) => {
                    let position = (!tolerate).then(|| RecordPosition::of(&record));
                    self.tolerate(&context, Some(record), position, &failure, &mut done)?;
                }
                Err(payload) => {
                    return Err(self.failure("convert", panic_message(payload)));
                }
            }
        }
        Ok(done)
    }

    /// A record failed a stage: logs it as `errors.log.enable` asks, and
    /// under `errors.tolerance=all` keeps it as a dead letter; under `none`
    /// returns the failure that ends the task.
    fn tolerate(
        &self,
        context: &FailureContext<'_>,
        record: Option<SourceRecord>,
        position: Option<RecordPosition>,
        failure: &StageFailure,
        done: &mut Processed,
    ) -> Result<(), TaskFailure> {
        if let Some(record) = &record {
            log_failure(&self.spec.errors, context, record, failure);
        }
        match record {
            Some(record) if self.spec.errors.tolerance == ErrorTolerance::All => {
                done.dead_letters
                    .push(dead_letter(record, context, failure));
                Ok(())
            }
            _ => Err(self.record_failure(failure, position)),
        }
    }

    fn record_failure(
        &self,
        failure: &StageFailure,
        position: Option<RecordPosition>,
    ) -> TaskFailure {
        let cause = match position {
            Some(p) => format!("{failure} ({}; errors.tolerance=none)", p.describe()),
            None => failure.to_string(),
        };
        let stage = match failure.stage {
            super::Stage::Transformation => "transform",
            _ => "convert",
        };
        self.failure(stage, cause)
    }

    fn run(mut self, mut task: Box<dyn SourceTask>) {
        let mut processor = self.spec.processor.take();
        let mut encoders = self.spec.encoders.take();
        let span = info_span!("task", connector = %self.spec.connector, task = self.spec.task_id);
        let _enter = span.enter();
        let mut context = SourceTaskContext::new(
            &self.spec.connector,
            self.spec.task_id,
            self.spec.config.clone(),
            self.spec.offsets.clone(),
            self.stop.clone(),
        );
        if let Some(m) = &self.spec.metrics {
            context = context.with_gauges(m.gauges.clone());
        }
        if let Err((e, panic)) = self.guarded("start", || task.start(context.clone())) {
            self.fail(panic.unwrap_or_else(|| self.failure("start", e.to_string())));
            return;
        }
        self.set_state(super::TaskState::Running);
        let keep_records = task.wants_commit_record();
        let check_records = !task.records_match_schemas();
        let mut kept: VecDeque<(u64, Vec<SourceRecord>)> = VecDeque::new();
        let mut backoff = Backoff::new(self.spec.retry);
        let mut seq = 0u64;
        loop {
            if let Err(f) = self.handle_control(&mut *task, &context, &mut kept) {
                self.fail(f);
                break;
            }
            if self.stop.is_stopped() {
                break;
            }
            let polled_at = Instant::now();
            match self.guarded("poll", || task.poll()) {
                Ok(Some(records)) => {
                    backoff.reset();
                    if records.is_empty() {
                        self.now_waiting();
                        continue;
                    }
                    self.waiting.store(false, Ordering::Release);
                    if let Some(m) = &self.spec.metrics {
                        m.record_poll(records.len(), polled_at.elapsed());
                    }
                    if let Some(cause) = check_records.then(|| first_invalid(&records)).flatten() {
                        self.fail(self.failure("poll", cause));
                        break;
                    }
                    let in_transaction = task.in_transaction();
                    seq += 1;
                    if keep_records {
                        kept.push_back((seq, records.clone()));
                    }
                    let offsets = batch_offsets(&records);
                    let processed = if processor.is_none() && encoders.is_none() {
                        Processed {
                            records,
                            ..Processed::default()
                        }
                    } else {
                        match self.process(processor.as_mut(), encoders.as_mut(), records) {
                            Ok(processed) => processed,
                            Err(f) => {
                                self.fail(f);
                                break;
                            }
                        }
                    };
                    let batch = TaskEvent::Batch {
                        seq,
                        records: processed.records,
                        encoded: processed.encoded,
                        offsets,
                        dead_letters: processed.dead_letters,
                        in_transaction,
                    };
                    if !self.send(batch) {
                        break;
                    }
                }
                Ok(None) => {
                    backoff.reset();
                    self.now_waiting();
                }
                Err((e, None)) if e.is_retriable() => match backoff.next(Instant::now()) {
                    Some(delay) => {
                        warn!(error = %e, attempt = backoff.attempts(), delay_ms = delay.as_millis() as u64, "retriable error from poll; retrying");
                        if self.stop.sleep(delay) {
                            break;
                        }
                    }
                    None => {
                        let cause = format!(
                            "{e} (gave up after {} attempts: errors.retry.timeout exceeded)",
                            backoff.attempts()
                        );
                        self.fail(self.failure("poll", cause));
                        break;
                    }
                },
                Err((e, panic)) => {
                    self.fail(panic.unwrap_or_else(|| self.failure("poll", e.to_string())));
                    break;
                }
            }
        }
        // Deliver the commits already sent before stopping.
        let _ = self.handle_control(&mut *task, &context, &mut kept);
        if catch_unwind(AssertUnwindSafe(|| task.stop())).is_err() {
            warn!("task panicked in stop()");
        }
        if self
            .spec
            .metrics
            .as_ref()
            .is_some_and(|m| m.state() != super::TaskState::Failed)
        {
            self.set_state(super::TaskState::Stopped);
        }
        debug!("task thread ends");
    }

    /// Sends an event, waiting while the channel is full (backpressure) but
    /// giving up when the task is stopped. Returns false when it gave up.
    fn send(&self, mut event: TaskEvent) -> bool {
        loop {
            match self.events.send_timeout(event, Duration::from_millis(100)) {
                Ok(()) => {
                    (self.wake)();
                    return true;
                }
                Err(SendTimeoutError::Timeout(e)) => {
                    if self.stop.is_stopped() {
                        return false;
                    }
                    // The operator may have missed a wake-up while the channel was full.
                    (self.wake)();
                    event = e;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    fn handle_control(
        &self,
        task: &mut dyn SourceTask,
        context: &SourceTaskContext,
        kept: &mut VecDeque<(u64, Vec<SourceRecord>)>,
    ) -> Result<(), TaskFailure> {
        while let Ok(Control::Commit { offsets, up_to_seq }) = self.control.try_recv() {
            let started = Instant::now();
            let result = self.commit(task, context, kept, offsets, up_to_seq);
            if let Some(m) = &self.spec.metrics {
                m.record_commit(started.elapsed(), result.is_ok());
            }
            result?;
        }
        Ok(())
    }

    /// One commit: `commit_record` for the kept records it covers, then
    /// `commit`.
    fn commit(
        &self,
        task: &mut dyn SourceTask,
        context: &SourceTaskContext,
        kept: &mut VecDeque<(u64, Vec<SourceRecord>)>,
        offsets: Offsets,
        up_to_seq: u64,
    ) -> Result<(), TaskFailure> {
        context.set_committed(&offsets);
        context.set_committed_polls(up_to_seq);
        while kept.front().is_some_and(|(s, _)| *s <= up_to_seq) {
            if let Some((_, records)) = kept.pop_front() {
                for record in &records {
                    self.guarded("commit_record", || task.commit_record(record))
                        .map_err(|(e, p)| {
                            p.unwrap_or_else(|| self.failure("commit_record", e.to_string()))
                        })?;
                }
            }
        }
        self.guarded("commit", || task.commit())
            .map_err(|(e, p)| p.unwrap_or_else(|| self.failure("commit", e.to_string())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::data::{Schema, SourceOffset, SourcePartition, Value};

    /// Returns one batch whose second record breaks its schema; `vouches`
    /// says (wrongly) that its records match their schemas.
    struct BadRecordTask {
        vouches: bool,
    }

    impl SourceTask for BadRecordTask {
        fn start(&mut self, _context: SourceTaskContext) -> Result<(), ConnectError> {
            Ok(())
        }
        fn records_match_schemas(&self) -> bool {
            self.vouches
        }
        fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
            let p = SourcePartition::single("p", "only");
            let key = SourceOffset::key("n");
            let topic: Arc<str> = Arc::from("t");
            let ok = SourceRecord::new(
                p.clone(),
                SourceOffset::int(&key, 1),
                topic.clone(),
                Some(Schema::string()),
                Value::from("fine"),
            );
            let bad = SourceRecord::new(
                p,
                SourceOffset::int(&key, 2),
                topic,
                Some(Schema::string()),
                Value::Int64(7),
            );
            Ok(Some(vec![ok, bad]))
        }
    }

    /// A spec with no transforms, converters or metrics.
    fn plain_spec(connector: &str, task_id: usize) -> TaskSpec {
        TaskSpec {
            connector: connector.to_owned(),
            task_id,
            config: Default::default(),
            offsets: OffsetStorageReader::default(),
            retry: RetryPolicy::default(),
            channel_capacity: 4,
            errors: ErrorHandling::default(),
            processor: None,
            encoders: None,
            metrics: None,
        }
    }

    #[test]
    fn record_not_matching_its_schema_fails_the_task_naming_it() {
        let handle = spawn_task(
            Box::new(BadRecordTask { vouches: false }),
            plain_spec("checker", 3),
            || {},
        )
        .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        let failure = loop {
            match handle.try_next() {
                Some(TaskEvent::Failed(f)) => break f,
                Some(TaskEvent::Batch { .. }) => panic!("a batch with a bad record was emitted"),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                None => panic!("no failure reported"),
            }
        };
        let text = failure.to_string();
        assert!(
            text.contains("checker") && text.contains("task 3"),
            "{text}"
        );
        assert!(
            text.contains("expected STRING") && text.contains("INT64"),
            "{text}"
        );
        assert!(
            text.contains(r#"{"n":2}"#),
            "names the record's offset: {text}"
        );
    }

    #[test]
    fn a_task_that_vouches_for_its_records_is_not_checked_after_poll() {
        let handle = spawn_task(
            Box::new(BadRecordTask { vouches: true }),
            plain_spec("trusted", 0),
            || {},
        )
        .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match handle.try_next() {
                Some(TaskEvent::Batch { records, .. }) => {
                    assert_eq!(records.len(), 2, "the batch goes out as polled");
                    break;
                }
                Some(TaskEvent::Failed(f)) => panic!("checked although it vouches: {f}"),
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                None => panic!("no batch"),
            }
        }
    }

    /// Polls one batch of five records of partition `p` (offsets 1..=5),
    /// then nothing.
    struct FiveRecords {
        polled: bool,
    }

    impl SourceTask for FiveRecords {
        fn start(&mut self, _context: SourceTaskContext) -> Result<(), ConnectError> {
            Ok(())
        }
        fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
            if std::mem::replace(&mut self.polled, true) {
                std::thread::sleep(Duration::from_millis(5));
                return Ok(None);
            }
            let p = SourcePartition::single("p", "only");
            let key = SourceOffset::key("n");
            let topic: Arc<str> = Arc::from("t");
            Ok(Some(
                (1..=5)
                    .map(|n| {
                        SourceRecord::new(
                            p.clone(),
                            SourceOffset::int(&key, n),
                            topic.clone(),
                            Some(Schema::int64()),
                            Value::Int64(n),
                        )
                    })
                    .collect(),
            ))
        }
    }

    /// Drops record 2, fails on record 4 and 5 (5 is the partition's last
    /// offset), doubles the others.
    struct Picky;

    impl RecordProcessor for Picky {
        fn process(&mut self, mut r: SourceRecord) -> Result<Option<SourceRecord>, StageFailure> {
            match r.value.as_i64() {
                Some(2) => Ok(None),
                Some(n) if n >= 4 => Err(StageFailure {
                    stage: crate::runtime::Stage::Transformation,
                    class_name: "transforms.picky (Picky)".into(),
                    exception_class: "org.apache.kafka.connect.errors.DataException".into(),
                    message: format!("cannot take {n}"),
                }),
                Some(n) => {
                    r.value = Value::Int64(n * 2);
                    Ok(Some(r))
                }
                None => Ok(Some(r)),
            }
        }
    }

    fn spec_with(errors: ErrorHandling) -> TaskSpec {
        TaskSpec {
            errors,
            processor: Some(Box::new(Picky)),
            ..plain_spec("picky", 1)
        }
    }

    fn first_event(handle: &TaskHandle) -> TaskEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match handle.try_next() {
                Some(e) => return e,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                None => panic!("no event from the task"),
            }
        }
    }

    #[test]
    fn tolerated_failures_become_dead_letters_and_offsets_still_advance() {
        let errors = ErrorHandling {
            tolerance: ErrorTolerance::All,
            ..Default::default()
        };
        let handle = spawn_task(
            Box::new(FiveRecords { polled: false }),
            spec_with(errors),
            || {},
        )
        .unwrap();
        match first_event(&handle) {
            TaskEvent::Batch {
                records,
                offsets,
                dead_letters,
                ..
            } => {
                let values: Vec<_> = records.iter().map(|r| r.value.clone()).collect();
                assert_eq!(values, [Value::Int64(2), Value::Int64(6)]);
                assert_eq!(offsets.len(), 1);
                assert_eq!(
                    offsets.iter().next().and_then(|(_, o)| o.get_i64("n")),
                    Some(5),
                    "dropped and failed records count as read"
                );
                let dead: Vec<_> = dead_letters.iter().map(|r| r.value.clone()).collect();
                assert_eq!(
                    dead,
                    [Value::Int64(4), Value::Int64(5)],
                    "dead letters are the polled records"
                );
                let message = dead_letters[0]
                    .headers
                    .iter()
                    .find(|h| h.key == crate::runtime::headers::EXCEPTION_MESSAGE)
                    .map(|h| h.value.clone());
                assert_eq!(message, Some(Value::from("cannot take 4")));
            }
            TaskEvent::Failed(f) => panic!("task failed: {f}"),
        }
    }

    #[test]
    fn untolerated_failure_fails_the_task_naming_stage_class_and_record() {
        let handle = spawn_task(
            Box::new(FiveRecords { polled: false }),
            spec_with(ErrorHandling::default()),
            || {},
        )
        .unwrap();
        match first_event(&handle) {
            TaskEvent::Failed(f) => {
                let text = f.to_string();
                assert!(
                    text.contains("connector `picky` task 1 failed in transform"),
                    "{text}"
                );
                assert!(
                    text.contains("transforms.picky (Picky) failed in TRANSFORMATION"),
                    "{text}"
                );
                assert!(text.contains("cannot take 4"), "{text}");
                assert!(text.contains(r#"at offset {"n":4}"#), "{text}");
            }
            TaskEvent::Batch { .. } => panic!("a batch with a failing record was emitted"),
        }
    }

    /// Writes INT64 values as decimal text; fails on 6.
    struct NoSix;

    impl crate::convert::Converter for NoSix {
        fn config_def(&self) -> crate::config::ConfigDef {
            crate::config::ConfigDef::new()
        }
        fn configure(
            &mut self,
            _: &crate::config::Properties,
            _: bool,
        ) -> Result<(), Vec<crate::config::ConfigIssue>> {
            Ok(())
        }
        fn from_connect(
            &mut self,
            _: &str,
            _: Option<&Schema>,
            value: &Value,
            out: &mut Vec<u8>,
        ) -> Result<bool, crate::convert::ConvertError> {
            match value.as_i64() {
                Some(6) => Err(crate::convert::ConvertError::Serialization("no six".into())),
                Some(n) => {
                    out.extend_from_slice(n.to_string().as_bytes());
                    Ok(true)
                }
                None => Ok(false),
            }
        }
        fn to_connect(
            &mut self,
            _: &str,
            _: Option<&[u8]>,
        ) -> Result<crate::convert::SchemaAndValue, crate::convert::ConvertError> {
            Err(crate::convert::ConvertError::Serialization(
                "write-only".into(),
            ))
        }
    }

    fn with_no_six(mut spec: TaskSpec) -> TaskSpec {
        spec.encoders = Some(Encoders {
            value: Some(super::super::Role {
                class: "NoSix".into(),
                converter: Box::new(NoSix),
            }),
            ..Encoders::default()
        });
        spec
    }

    fn header<'a>(record: &'a SourceRecord, key: &str) -> Option<&'a Value> {
        record
            .headers
            .iter()
            .find(|h| h.key == key)
            .map(|h| &h.value)
    }

    /// Converters run on the task's thread after the transforms, and a
    /// conversion failure takes the same path as a transform failure: a
    /// dead letter (the record as the transforms left it) naming the task.
    #[test]
    fn conversion_failures_share_the_tolerance_path_and_name_the_task() {
        let errors = ErrorHandling {
            tolerance: ErrorTolerance::All,
            ..Default::default()
        };
        let spec = with_no_six(spec_with(errors));
        let handle = spawn_task(Box::new(FiveRecords { polled: false }), spec, || {}).unwrap();
        match first_event(&handle) {
            TaskEvent::Batch {
                records,
                encoded,
                offsets,
                dead_letters,
                ..
            } => {
                assert!(records.is_empty(), "converted batches carry bytes only");
                let values: Vec<_> = encoded.iter().map(|r| r.value.clone()).collect();
                assert_eq!(values, [Some(b"2".to_vec())], "1 doubled; 3 doubled is 6");
                assert_eq!(
                    offsets.iter().next().and_then(|(_, o)| o.get_i64("n")),
                    Some(5)
                );
                let dead: Vec<_> = dead_letters.iter().map(|r| r.value.clone()).collect();
                assert_eq!(dead, [Value::Int64(6), Value::Int64(4), Value::Int64(5)]);
                let stage = |r| header(r, crate::runtime::headers::STAGE).cloned();
                assert_eq!(
                    stage(&dead_letters[0]),
                    Some(Value::from("VALUE_CONVERTER"))
                );
                assert_eq!(stage(&dead_letters[1]), Some(Value::from("TRANSFORMATION")));
                for d in &dead_letters {
                    assert_eq!(
                        header(d, crate::runtime::headers::TASK_ID),
                        Some(&Value::Int32(1)),
                        "the task's id"
                    );
                }
            }
            TaskEvent::Failed(f) => panic!("task failed: {f}"),
        }
        // Not tolerated: the task fails in `convert`, naming converter and record.
        let spec = with_no_six(spec_with(ErrorHandling::default()));
        let handle = spawn_task(Box::new(FiveRecords { polled: false }), spec, || {}).unwrap();
        match first_event(&handle) {
            TaskEvent::Failed(f) => {
                let text = f.to_string();
                assert!(text.contains("task 1 failed in convert"), "{text}");
                assert!(text.contains("NoSix failed in VALUE_CONVERTER"), "{text}");
                assert!(text.contains(r#"at offset {"n":3}"#), "{text}");
            }
            TaskEvent::Batch { .. } => panic!("a batch with a failing record was emitted"),
        }
    }

    #[test]
    fn batch_offsets_keep_the_last_offset_of_each_partition() {
        let a = SourcePartition::single("f", "a");
        let b = SourcePartition::single("f", "b");
        let key = SourceOffset::key("position");
        let topic: Arc<str> = Arc::from("t");
        let rec = |p: &SourcePartition, n| {
            SourceRecord::new(
                p.clone(),
                SourceOffset::int(&key, n),
                topic.clone(),
                None,
                Value::Null,
            )
        };
        let offsets = batch_offsets(&[rec(&a, 1), rec(&a, 2), rec(&b, 7), rec(&a, 3)]);
        let flat: Vec<_> = offsets
            .iter()
            .map(|(p, o)| (p.to_string(), o.get_i64("position")))
            .collect();
        assert_eq!(
            flat,
            [
                (r#"{"f":"a"}"#.to_owned(), Some(3)),
                (r#"{"f":"b"}"#.to_owned(), Some(7)),
            ]
        );
    }

    /// Many partitions (past the short list), round robin, each record with
    /// a partition of its own allocation: still the last offset of each.
    #[test]
    fn batch_offsets_of_many_partitions_and_unshared_ones() {
        let key = SourceOffset::key("seq");
        let topic: Arc<str> = Arc::from("t");
        for partitions in [1i64, 3, 16, 17, 40] {
            let records: Vec<SourceRecord> = (0..200i64)
                .map(|n| {
                    SourceRecord::new(
                        // A fresh allocation per record: equal by value only.
                        SourcePartition::single("p", &*(n % partitions).to_string()),
                        SourceOffset::int(&key, n),
                        topic.clone(),
                        None,
                        Value::Null,
                    )
                })
                .collect();
            let offsets = batch_offsets(&records);
            assert_eq!(offsets.len() as i64, partitions);
            for (p, o) in offsets.iter() {
                let k: i64 = p
                    .to_string()
                    .trim_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .unwrap();
                let last = (0..200i64).filter(|n| n % partitions == k).max().unwrap();
                assert_eq!(o.get_i64("seq"), Some(last), "{partitions} partitions, {p}");
            }
        }
    }
}
