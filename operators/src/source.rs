//! `connect_source`: runs a connector's tasks as a Timely source of records
//! and of checkpoint parts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};
use tracing::{debug, info};

use timely_connect::api::{OffsetStorageReader, SourceConnector, TaskConfig};
use timely_connect::data::SourceRecord;
use timely_connect::runtime::{spawn_task, EncodedRecord, TaskSet, TaskSpec};

use crate::job::Job;
use crate::reconfigure::{Control, ControlChannel};
use timely_connect::runtime::CheckpointPart;

/// The streams of a source: its records, its dead letters, and its
/// checkpoint parts (tie them to [`crate::Checkpoint::checkpoint`]).
pub struct SourceStreams<'scope> {
    /// Records, at the epoch in which they were emitted (empty when the
    /// job converts them: [`crate::JobSpec::encode`]).
    pub records: Stream<'scope, u64, Vec<SourceRecord>>,
    /// Records as bytes, when the job converts them
    /// ([`crate::JobSpec::encode`]); empty otherwise.
    pub encoded: Stream<'scope, u64, Vec<EncodedRecord>>,
    /// Records that failed a transform (as they were polled) or a converter
    /// (as the transforms left them) under `errors.tolerance=all`, with
    /// Kafka's `__connect.errors.*` context headers (see
    /// [`timely_connect::runtime::headers`]), the task's among them. Their
    /// offsets count as read, in the same epoch.
    pub dead_letters: Stream<'scope, u64, Vec<SourceRecord>>,
    /// For each epoch this worker closed: the offsets that changed in it.
    pub parts: Stream<'scope, u64, Vec<CheckpointPart>>,
}

/// Runs a job's connector tasks as a source operator on every worker.
pub trait ConnectSource<'scope> {
    /// Starts the tasks assigned to this worker (task `i` on worker
    /// `i % peers`), emits their records at the current epoch, and every
    /// snapshot interval closes the epoch, emitting the offsets that changed
    /// in it as this worker's checkpoint part. A worker with no task still
    /// advances epochs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timely::dataflow::operators::Inspect;
    /// use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};
    ///
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "gen"), ("connector.class", "Datagen"), ("quickstart", "orders"),
    ///                ("max.messages", "20"), ("partitions", "2"), ("tasks.max", "2")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props).until_idle(Duration::from_millis(200));
    /// let guards = timely::execute(timely::Config::process(2), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    ///     let counter = seen.clone();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         source.records.inspect(move |_| counter.set(counter.get() + 1));
    ///         scope.checkpoint(&job, vec![source.parts]);
    ///     });
    ///     job.run(worker).unwrap();
    ///     seen.get()
    /// }).unwrap();
    /// let total: usize = guards.join().into_iter().map(|r| r.unwrap()).sum();
    /// assert_eq!(total, 20); // two tasks, one per worker, each with its partition
    /// ```
    fn connect_source(&self, job: &Job) -> SourceStreams<'scope>;
}

impl<'scope> ConnectSource<'scope> for Scope<'scope, u64> {
    fn connect_source(&self, job: &Job) -> SourceStreams<'scope> {
        let mut builder = OperatorBuilder::new(format!("ConnectSource({})", job.name()), *self);
        let info = builder.operator_info();
        let (records_out, records) = builder.new_output::<Vec<SourceRecord>>();
        let (encoded_out, encoded) = builder.new_output::<Vec<EncodedRecord>>();
        let (dead_out, dead_letters) = builder.new_output::<Vec<SourceRecord>>();
        let (parts_out, parts) = builder.new_output::<Vec<CheckpointPart>>();
        let activator = self.activator_for(info.address.clone());
        let sync_activator = self.worker().sync_activator_for(info.address.to_vec());

        job.spec.shared.wake_on_stop(sync_activator.clone());
        *job.control.inbox.wake.borrow_mut() = Some(activator.clone());
        let spawner = Spawner {
            connector: job.connector.clone(),
            spec: job.spec.clone(),
            name: job.name().to_owned(),
            retry: job.retry_policy(),
            errors: job.common.errors,
            index: job.index,
            peers: job.peers,
            wake: sync_activator.clone(),
        };
        let mut state = SourceState::new(job);
        let reader = job.plan.offsets_reader();
        let (tasks, problems) = spawner.spawn(&job.plan.task_configs, &reader);
        for problem in problems {
            state.fail(problem);
        }
        info!(
            worker = job.index,
            tasks = tasks.len(),
            epoch = state.epoch,
            "source operator starts"
        );
        state.tasks = tasks;
        state.spawner = Some(spawner);

        builder.build_reschedule(move |mut caps| {
            let parts_cap = caps.pop();
            let dead_cap = caps.pop();
            let encoded_cap = caps.pop();
            let records_cap = caps.pop();
            let mut caps = match (records_cap, encoded_cap, dead_cap, parts_cap) {
                (Some(mut r), Some(mut e), Some(mut d), Some(mut p)) => {
                    r.downgrade(&state.epoch);
                    e.downgrade(&state.epoch);
                    d.downgrade(&state.epoch);
                    p.downgrade(&state.epoch);
                    Some(Caps {
                        records: r,
                        encoded: e,
                        dead: d,
                        parts: p,
                    })
                }
                _ => None,
            };
            let mut outputs = Outputs {
                records: records_out,
                encoded: encoded_out,
                dead: dead_out,
                parts: parts_out,
            };
            activator.activate();
            move |_frontiers| state.step(&mut caps, &mut outputs, &activator)
        });
        SourceStreams {
            records,
            encoded,
            dead_letters,
            parts,
        }
    }
}

/// The operator's capabilities, one per output, all at the open epoch.
struct Caps {
    records: Capability<u64>,
    encoded: Capability<u64>,
    dead: Capability<u64>,
    parts: Capability<u64>,
}

/// The operator's outputs.
struct Outputs {
    records: Output<u64, Vec<SourceRecord>>,
    encoded: Output<u64, Vec<EncodedRecord>>,
    dead: Output<u64, Vec<SourceRecord>>,
    parts: Output<u64, Vec<CheckpointPart>>,
}

struct SourceState {
    tasks: TaskSet,
    epoch: u64,
    interval: Duration,
    next_close: Instant,
    timer_for: Option<Instant>,
    until_idle: Option<Duration>,
    last_record: Instant,
    drain_budget: usize,
    durable: timely::dataflow::operators::probe::Handle<u64>,
    shared: std::sync::Arc<crate::job::Shared>,
    connector: String,
    failed: bool,
    closed: bool,
    /// Starts tasks (at the start, and after a reconfiguration).
    spawner: Option<Spawner>,
    /// This worker's reconfiguration messages, and where to answer.
    control: Rc<ControlChannel>,
    worker: usize,
    /// `Stop(g)` received: the tasks are stopping.
    stopping: Option<u64>,
    /// Stopped, waiting for `Start`.
    awaiting_start: bool,
    /// Stopped task sets whose closed epochs wait for their snapshot.
    retiring: Vec<TaskSet>,
    /// `Align`: close the (empty) epochs up to this one.
    align_to: Option<u64>,
}

impl SourceState {
    fn new(job: &Job) -> Self {
        let interval = job.snapshot_interval();
        SourceState {
            tasks: TaskSet::new(None),
            epoch: job.plan.start_epoch,
            interval,
            next_close: Instant::now() + interval,
            timer_for: None,
            until_idle: job.spec.until_idle,
            last_record: Instant::now(),
            drain_budget: job.spec.drain_budget.max(1),
            durable: job.durable.clone(),
            shared: job.spec.shared.clone(),
            connector: job.name().to_owned(),
            failed: false,
            closed: false,
            spawner: None,
            control: job.control.clone(),
            worker: job.index,
            stopping: None,
            awaiting_start: false,
            retiring: Vec::new(),
            align_to: None,
        }
    }

    fn fail(&mut self, message: String) {
        tracing::error!(connector = %self.connector, %message, "job fails");
        self.failed = true;
        self.shared.fail(message);
        self.tasks.stop_all();
    }

    /// One activation. Returns whether the operator must stay scheduled.
    fn step(
        &mut self,
        caps: &mut Option<Caps>,
        outputs: &mut Outputs,
        activator: &timely::scheduling::Activator,
    ) -> bool {
        if self.failed || self.shared.failure().is_some() {
            // Keep capabilities: the epochs this worker did not finish stay open,
            // so no snapshot can cover them.
            if !self.failed {
                self.failed = true;
                self.tasks.stop_all();
            }
            return true;
        }
        self.take_control();
        if let Some(c) = caps.as_mut() {
            let drained_all = self.drain(c, outputs);
            if self.failed {
                return true;
            }
            if self.stopping.is_some() && self.finish_stopping(c, outputs, drained_all) {
                // Task threads end on their own: look again shortly.
                activator.activate_after(Duration::from_millis(1));
                return true;
            }
            if let Some(to) = self.align_to.take() {
                // No task runs between a reconfiguration's stop and start:
                // the open epochs are empty, close them at once.
                if self.awaiting_start && self.epoch <= to {
                    self.epoch = to + 1;
                    c.records.downgrade(&self.epoch);
                    c.encoded.downgrade(&self.epoch);
                    c.dead.downgrade(&self.epoch);
                    c.parts.downgrade(&self.epoch);
                    self.next_close = Instant::now() + self.interval;
                }
            }
            if !drained_all {
                activator.activate();
            }
            let now = Instant::now();
            let stop = self.shared.stop_requested();
            // Idle: every task has found nothing in its last poll (so it
            // has started), nothing is left to drain, and no record came
            // for `d`.
            // Between a reconfiguration's stop and start there are no tasks:
            // that is not idleness.
            let waiting = self.tasks.all_waiting() && !self.reconfiguring();
            let idle = stop
                || self.until_idle.is_some_and(|d| {
                    waiting && drained_all && now.duration_since(self.last_record) >= d
                });
            if stop {
                info!(
                    worker_epoch = self.epoch,
                    "stop requested: closing the last epoch"
                );
            }
            // An epoch does not close inside a source transaction (unless
            // the job stops): it closes once the rest of it is drained.
            let hold = now >= self.next_close && !idle && self.tasks.inside_transaction();
            if (now >= self.next_close || idle) && !hold {
                self.close_epoch(&c.parts, &mut outputs.parts);
                if idle {
                    debug!(epoch = self.epoch, "source finished; final part emitted");
                    *caps = None;
                    self.closed = true;
                } else {
                    tracing::trace!(epoch = self.epoch, "epoch closed");
                    self.epoch += 1;
                    c.records.downgrade(&self.epoch);
                    c.encoded.downgrade(&self.epoch);
                    c.dead.downgrade(&self.epoch);
                    c.parts.downgrade(&self.epoch);
                    self.next_close = now + self.interval;
                }
            }
        }
        self.deliver_commits();
        if self.closed {
            if !self.tasks.has_pending() {
                self.tasks.stop_and_join(Duration::from_secs(5));
                return false;
            }
            // Only the final snapshot is left to wait for: look often, so
            // the job ends soon after it is durable.
            activator.activate_after(Duration::from_millis(2));
            return true;
        }
        // Wake for the next epoch close, for --until-idle, and while commits
        // wait. An epoch held open for a transaction closes when its next
        // batch arrives (which wakes the operator); look again now and then.
        let mut wake_at = self.next_close;
        if self.tasks.inside_transaction() {
            wake_at = wake_at.max(Instant::now() + Duration::from_millis(20));
        }
        // While a task is busy in a poll, its wake-up (when the poll finds
        // nothing) is what lets the idle time start.
        if let Some(d) = self.until_idle.filter(|_| self.tasks.all_waiting()) {
            wake_at = wake_at.min(self.last_record + d);
        }
        if self.tasks.has_pending() {
            wake_at = wake_at.min(Instant::now() + Duration::from_millis(20));
        }
        if self
            .timer_for
            .is_none_or(|t| t > wake_at || t <= Instant::now())
        {
            activator.activate_after(wake_at.saturating_duration_since(Instant::now()));
            self.timer_for = Some(wake_at);
        }
        true
    }

    /// Drains task channels within the budget. Returns whether all were empty.
    fn drain(&mut self, caps: &Caps, outputs: &mut Outputs) -> bool {
        let mut session = outputs.records.activate();
        let mut encoded_session = outputs.encoded.activate();
        let mut dead_session = outputs.dead.activate();
        let drained = self.tasks.drain(self.drain_budget, |mut batch| {
            if !batch.records.is_empty() {
                session.give(&caps.records, &mut batch.records);
            }
            if !batch.encoded.is_empty() {
                encoded_session.give(&caps.encoded, &mut batch.encoded);
            }
            if !batch.dead_letters.is_empty() {
                dead_session.give(&caps.dead, &mut batch.dead_letters);
            }
        });
        drop((session, encoded_session, dead_session));
        match drained {
            Ok(d) => {
                if d.emitted > 0 {
                    self.last_record = Instant::now();
                    self.shared
                        .stats
                        .records
                        .fetch_add(d.emitted, Ordering::Relaxed);
                }
                d.drained_all
            }
            Err(failure) => {
                tracing::error!(connector = %self.connector, %failure, "job fails");
                self.failed = true;
                self.shared.fail_task(failure);
                self.tasks.stop_all();
                true
            }
        }
    }

    /// Emits the offsets changed in the open epoch as this worker's part.
    fn close_epoch(
        &mut self,
        parts_cap: &Capability<u64>,
        parts_out: &mut Output<u64, Vec<CheckpointPart>>,
    ) {
        if let Some(offsets) = self.tasks.close_epoch(self.epoch) {
            let mut part = vec![CheckpointPart::Offsets(offsets)];
            parts_out.activate().give(parts_cap, &mut part);
        }
    }

    /// Tells tasks about offsets whose snapshot is now durable.
    fn deliver_commits(&mut self) {
        let durable = &self.durable;
        self.tasks
            .deliver_commits(|epoch| !durable.less_equal(&epoch));
        for old in &mut self.retiring {
            old.deliver_commits(|epoch| !durable.less_equal(&epoch));
        }
        self.retiring.retain(|old| old.has_pending());
    }

    fn reconfiguring(&self) -> bool {
        self.stopping.is_some() || self.awaiting_start
    }

    /// Acts on reconfiguration messages: `Stop` stops the tasks (finished
    /// in [`SourceState::finish_stopping`]), `Start` starts the new ones.
    fn take_control(&mut self) {
        let inbox = self.control.inbox.clone();
        while let Some(message) = inbox.source.borrow_mut().pop_front() {
            match message {
                Control::Stop { generation } => {
                    if self.closed || self.failed {
                        continue;
                    }
                    debug!(
                        worker = self.worker,
                        generation, "reconfiguration: stopping tasks"
                    );
                    self.tasks.stop_all();
                    self.stopping = Some(generation);
                }
                Control::Start {
                    generation,
                    task_configs,
                    offsets,
                } => {
                    if self.closed || self.failed {
                        continue;
                    }
                    let Some(spawner) = &self.spawner else {
                        continue;
                    };
                    let reader = timely_connect::OffsetStorageReader::new(offsets);
                    let (tasks, problems) = spawner.spawn(&task_configs, &reader);
                    info!(
                        worker = self.worker,
                        generation,
                        tasks = tasks.len(),
                        epoch = self.epoch,
                        "reconfiguration: new tasks started"
                    );
                    self.tasks = tasks;
                    self.awaiting_start = false;
                    self.last_record = Instant::now();
                    for problem in problems {
                        self.fail(problem);
                    }
                }
                Control::Align { epoch, .. } => {
                    self.align_to = Some(epoch);
                }
                Control::Stopped { .. } => {}
            }
        }
    }

    /// While the tasks stop: once every task thread has ended and all they
    /// sent is drained, closes the open epoch with their last offsets,
    /// answers worker 0, and keeps the stopped set until its epochs are
    /// durable. Returns true while still waiting for the tasks.
    fn finish_stopping(
        &mut self,
        caps: &mut Caps,
        outputs: &mut Outputs,
        drained_all: bool,
    ) -> bool {
        let Some(generation) = self.stopping else {
            return false;
        };
        if !drained_all || !self.tasks.all_finished() {
            return true;
        }
        // One more drain: a batch sent just before a thread ended.
        if !self.drain(caps, outputs) || self.failed {
            return true;
        }
        self.close_epoch(&caps.parts, &mut outputs.parts);
        let epoch = self.epoch;
        self.epoch += 1;
        caps.records.downgrade(&self.epoch);
        caps.encoded.downgrade(&self.epoch);
        caps.dead.downgrade(&self.epoch);
        caps.parts.downgrade(&self.epoch);
        self.next_close = Instant::now() + self.interval;
        let metrics = self.tasks.metrics();
        let old = std::mem::replace(&mut self.tasks, TaskSet::new(metrics));
        if old.has_pending() {
            self.retiring.push(old);
        }
        self.stopping = None;
        self.awaiting_start = true;
        debug!(
            worker = self.worker,
            generation, epoch, "reconfiguration: tasks stopped"
        );
        self.control.send(
            0,
            Control::Stopped {
                generation,
                worker: self.worker,
                epoch,
            },
        );
        false
    }
}

/// Starts a worker's share of a connector's tasks.
struct Spawner {
    connector: Rc<RefCell<Box<dyn SourceConnector>>>,
    spec: crate::JobSpec,
    name: String,
    retry: timely_connect::runtime::RetryPolicy,
    errors: timely_connect::config::common::ErrorHandling,
    index: usize,
    peers: usize,
    wake: timely::scheduling::SyncActivator,
}

impl Spawner {
    /// Starts task `i` of `configs` for every `i` this worker runs (`i %
    /// peers == index`), each reading `offsets`. Returns the tasks and the
    /// problems of those that could not start.
    fn spawn(
        &self,
        configs: &[TaskConfig],
        offsets: &OffsetStorageReader,
    ) -> (TaskSet, Vec<String>) {
        let metrics = self.spec.shared.metrics(&self.name);
        let mut tasks = TaskSet::new(Some(metrics.clone()));
        let mut problems = Vec::new();
        for (task_id, config) in configs.iter().enumerate() {
            if task_id % self.peers != self.index {
                continue;
            }
            let encoders = if self.spec.encode {
                match crate::job::encoders_for(&self.spec.config, &self.name) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        problems.push(format!("task {task_id}: {e}"));
                        continue;
                    }
                }
            } else {
                None
            };
            let spec = TaskSpec {
                connector: self.name.clone(),
                task_id,
                config: config.clone(),
                offsets: offsets.clone(),
                retry: self.retry,
                channel_capacity: self.spec.channel_capacity,
                errors: self.errors,
                processor: crate::job::record_processor_for(&self.spec.config),
                encoders,
                metrics: Some(metrics.task(task_id)),
            };
            let task_metrics = spec.metrics.clone();
            let task = self.connector.borrow().create_task();
            let wake = self.wake.clone();
            match spawn_task(task, spec, move || {
                let _ = wake.activate();
            }) {
                Ok(handle) => tasks.push(handle, task_metrics),
                Err(e) => problems.push(format!(
                    "connector `{}` task {task_id}: cannot start thread: {e}",
                    self.name
                )),
            }
        }
        (tasks, problems)
    }
}
