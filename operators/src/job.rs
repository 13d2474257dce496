//! A job: one connector's configuration, its restore point and task plan,
//! and the loop that drives a worker until the job stops or fails.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};
use timely::worker::Worker;
use tracing::{debug, info, warn};

use timely_connect::api::SourceConnector;
use timely_connect::config::common::CommonConfig;
use timely_connect::config::Properties;
use timely_connect::convert::ConverterConfig;
use timely_connect::plugins::PluginSet;
use timely_connect::runtime::{Encoders, Role};
pub use timely_connect::runtime::{JobConfig, JobError, Plan, RestoreMode};
use timely_connect::runtime::{RetryPolicy, TaskFailure};
use timely_connect::snapshot::DirLock;
use timely_connect::storage::{Location, Storage};

use crate::reconfigure::{Control, ControlChannel, Leader, LeaderStep};

/// How often worker 0 asks the connector whether it wants new task
/// configs or raised an error.
const CONNECTOR_REQUESTS_EVERY: Duration = Duration::from_millis(200);
use timely_connect::transforms::TransformChain;

/// Counters a job updates while it runs, shared by every worker of a process.
#[derive(Debug, Default)]
pub struct JobStats {
    /// Records emitted by this process's source operators.
    pub records: AtomicU64,
    /// Epoch of the newest durable snapshot, plus one (0: none yet).
    pub last_snapshot_plus_one: AtomicU64,
    /// Epoch of the snapshot the job restored from, plus one (0: none).
    pub restored_plus_one: AtomicU64,
}

impl JobStats {
    /// The snapshot this run restored from, if any.
    pub fn restored_from(&self) -> Option<u64> {
        self.restored_plus_one
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }

    /// The newest durable snapshot's epoch written by this process, if any.
    pub fn last_snapshot(&self) -> Option<u64> {
        self.last_snapshot_plus_one
            .load(Ordering::Relaxed)
            .checked_sub(1)
    }
}

/// Everything a job needs, shared by all workers of a process (cheap to clone):
/// its [`JobConfig`] (properties, plugins, snapshot settings) and how the
/// Timely side runs it.
#[derive(Clone)]
pub struct JobSpec {
    /// The connector's configuration, plugins and snapshot settings.
    pub config: JobConfig,
    /// Stop cleanly, with a final snapshot, after this long without records
    /// once every task has started and its last `poll` found nothing.
    pub until_idle: Option<Duration>,
    /// Batches buffered between a task and its operator (default 4: with
    /// `batch.size` 2000 that keeps a task a few batches ahead of its worker
    /// while bounding what is in flight; more buys no speed, only memory).
    pub channel_capacity: usize,
    /// Batches an operator drains per activation before yielding (default 16).
    pub drain_budget: usize,
    /// Convert records to bytes with the connector's converters on the
    /// tasks' threads (see [`JobSpec::encode`]).
    pub encode: bool,
    pub(crate) shared: Arc<Shared>,
}

/// The first failure of a job in a process, typed: a task's own failure
/// stays a [`TaskFailure`] all the way to [`Job::run`]'s [`JobError::Task`].
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// A task failed.
    Task(TaskFailure),
    /// Anything else: a sink, the coordinator, another worker.
    Other(String),
}

impl Failure {
    fn into_error(self) -> JobError {
        match self {
            Failure::Task(t) => JobError::Task(t),
            Failure::Other(m) => JobError::Failed(m),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Task(t) => t.fmt(f),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) failure: Mutex<Option<Failure>>,
    pub(crate) stats: JobStats,
    /// Set by [`JobSpec::request_stop`]: sources close their last epoch.
    stop: std::sync::atomic::AtomicBool,
    /// The job's metrics in this process (created on first use).
    metrics: std::sync::OnceLock<Arc<timely_connect::runtime::JobMetrics>>,
    /// Set when standard output's reader went away (EPIPE).
    output_closed: std::sync::atomic::AtomicBool,
    /// Wakes this process's source operators when a stop is requested.
    wakers: Mutex<Vec<timely::scheduling::SyncActivator>>,
    /// The snapshot location's storage, opened once per process.
    storage: std::sync::OnceLock<Result<Arc<dyn Storage>, String>>,
    /// The source offsets as of the newest durable snapshot (or the
    /// restored ones), set by the checkpoint coordinator on worker 0: what
    /// a reconfiguration's new tasks start from.
    durable_offsets: Mutex<Option<(u64, timely_connect::data::Offsets)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("failure", &self.failure)
            .field("stats", &self.stats)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn set_durable_offsets(&self, epoch: u64, offsets: timely_connect::data::Offsets) {
        *self
            .durable_offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((epoch, offsets));
    }

    pub(crate) fn durable_offsets(&self) -> Option<(u64, timely_connect::data::Offsets)> {
        self.durable_offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The storage of `location`, opened on first use and shared by this
    /// process's workers (one client, one connection pool).
    pub(crate) fn storage(
        &self,
        location: &Location,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Arc<dyn Storage>, String> {
        self.storage
            .get_or_init(|| {
                location
                    .open(options)
                    .map_err(|e| format!("snapshot store {location}: {e}"))
            })
            .clone()
    }

    pub(crate) fn metrics(&self, connector: &str) -> Arc<timely_connect::runtime::JobMetrics> {
        self.metrics
            .get_or_init(|| Arc::new(timely_connect::runtime::JobMetrics::new(connector)))
            .clone()
    }

    pub(crate) fn mark_output_closed(&self) {
        self.output_closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Registers a source operator to wake when a stop is requested.
    pub(crate) fn wake_on_stop(&self, waker: timely::scheduling::SyncActivator) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        wakers.push(waker);
        if self.stop_requested() {
            for w in wakers.iter() {
                let _ = w.activate();
            }
        }
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for w in wakers.iter() {
            // A worker that already finished has dropped its operator.
            let _ = w.activate();
        }
    }

    pub(crate) fn fail(&self, message: String) {
        self.fail_with(Failure::Other(message));
    }

    /// Fails the job with a task's own failure (kept typed).
    pub(crate) fn fail_task(&self, failure: TaskFailure) {
        self.fail_with(Failure::Task(failure));
    }

    fn fail_with(&self, failure: Failure) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(failure);
        }
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.first_failure().map(|f| f.to_string())
    }

    fn first_failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl JobSpec {
    /// A job for `props` with the built-in connectors, no snapshots, restore
    /// from the latest snapshot once a directory is set.
    pub fn new(props: Properties) -> Self {
        JobSpec {
            config: JobConfig::new(props, default_registry()),
            until_idle: None,
            channel_capacity: 4,
            drain_budget: 16,
            encode: false,
            shared: Arc::default(),
        }
    }

    /// Sets where snapshots go: a directory, or an S3-compatible
    /// `s3://bucket/prefix` (see [`timely_connect::storage::Location`]).
    pub fn snapshot_dir(mut self, dir: impl Into<Location>) -> Self {
        self.config.snapshot_dir = Some(dir.into());
        self
    }

    /// Sets the snapshot interval.
    pub fn snapshot_interval(mut self, interval: Duration) -> Self {
        self.config.snapshot_interval = Some(interval);
        self
    }

    /// Sets the restore mode.
    pub fn restore(mut self, mode: RestoreMode) -> Self {
        self.config.restore = mode;
        self
    }

    /// Stops the job after `idle` without records, counted once every task
    /// has started and its last `poll` found nothing.
    pub fn until_idle(mut self, idle: Duration) -> Self {
        self.until_idle = Some(idle);
        self
    }

    /// Allows restoring a snapshot written by another connector name,
    /// class or identity key value (see [`JobError::ForeignSnapshot`]).
    pub fn allow_foreign_snapshot(mut self, allow: bool) -> Self {
        self.config.allow_foreign_snapshot = allow;
        self
    }

    /// Converts each record to bytes with the connector's `key.converter`,
    /// `value.converter` and `header.converter`, on the task's own thread
    /// after its transforms, as Kafka Connect's worker does before it
    /// produces a record. The source's [`SourceStreams::encoded`] stream
    /// then carries the bytes and its `records` stream stays empty. A
    /// record a converter fails on is handled by `errors.tolerance` like a
    /// transform failure: a dead letter naming its task, or the job fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timely::dataflow::operators::Inspect;
    /// use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};
    ///
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "gen"), ("connector.class", "Datagen"), ("quickstart", "users"),
    ///                ("max.messages", "5"), ("value.converter", "JsonConverter"),
    ///                ("value.converter.schemas.enable", "false")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props).encode(true).until_idle(Duration::from_millis(200));
    /// timely::execute(timely::Config::thread(), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         source.encoded.inspect(|r| {
    ///             let json = r.value.as_deref().unwrap();
    ///             assert!(json.starts_with(b"{\"registered_date\"") || json.starts_with(b"{"));
    ///         });
    ///         scope.checkpoint(&job, vec![source.parts]);
    ///     });
    ///     job.run(worker).unwrap();
    /// }).unwrap();
    /// ```
    ///
    /// [`SourceStreams::encoded`]: crate::SourceStreams::encoded
    pub fn encode(mut self, encode: bool) -> Self {
        self.encode = encode;
        self
    }

    /// Uses `registry` to find connectors.
    pub fn registry(mut self, registry: PluginSet) -> Self {
        self.config.registry = registry;
        self
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        self.config.name()
    }

    /// Counters shared by this process's workers.
    pub fn stats(&self) -> &JobStats {
        &self.shared.stats
    }

    /// The first failure any worker of this process saw, if any.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure()
    }

    /// Asks this process's workers to stop the job in order, from any
    /// thread (a signal handler's thread, say): each source stops taking
    /// records, closes its last epoch, and once the final snapshot is
    /// durable its tasks get `commit()` and are stopped; then
    /// [`Job::run`] returns `Ok`. Records the tasks had polled but the
    /// source had not yet emitted are not in the snapshot, so a restore
    /// reads them again — and nothing it already emitted.
    ///
    /// In a multi-process job a stop requested in one process reaches
    /// every worker of every process, so the whole job stops in order.
    ///
    /// ```
    /// use std::time::Duration;
    /// use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};
    ///
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "endless"), ("connector.class", "Datagen"),
    ///                ("quickstart", "users"), ("messages.per.second", "100")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props);
    /// let stopper = spec.clone();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(300));
    ///     stopper.request_stop();
    /// });
    /// timely::execute(timely::Config::thread(), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         scope.checkpoint(&job, vec![source.parts]);
    ///     });
    ///     job.run(worker).unwrap(); // returns once the stop completed
    /// }).unwrap();
    /// ```
    pub fn request_stop(&self) {
        self.shared.request_stop();
    }

    /// Whether the job failed because standard output's reader closed the
    /// pipe (see [`crate::ExactlyOnceBytesSink::stdout_bytes`]): a command
    /// line tool exits quietly then, as `head` expects.
    pub fn output_closed(&self) -> bool {
        self.shared.output_closed.load(Ordering::SeqCst)
    }

    /// This process's metrics of the job: Kafka Connect's source-task
    /// counters per task and the job's snapshot and restore figures (see
    /// [`timely_connect::runtime::JobMetrics`]).
    pub fn metrics(&self) -> Arc<timely_connect::runtime::JobMetrics> {
        self.shared.metrics(self.name())
    }

    /// Whether [`JobSpec::request_stop`] was called.
    pub fn stop_requested(&self) -> bool {
        self.shared.stop_requested()
    }

    /// Keys nothing reads, each with the nearest known key
    /// ([`JobConfig::unknown_keys`]); [`Job::prepare`] logs them.
    pub fn unknown_keys(&self) -> Vec<timely_connect::config::UnknownKey> {
        self.config.unknown_keys()
    }

    /// Validates the configuration, every problem at once
    /// ([`JobConfig::validate`]).
    pub fn validate(&self) -> Result<(CommonConfig, Box<dyn SourceConnector>), JobError> {
        self.config.validate()
    }

    /// The properties as they may be shown or stored
    /// ([`JobConfig::shown_props`]).
    pub fn shown_props(&self) -> Properties {
        self.config.shown_props()
    }
}

/// The registry a [`JobSpec`] starts with: the built-in connectors,
/// converters and transforms, and — with the `jvm` feature — Java
/// connectors from `plugin.path` through the embedded JVM.
pub fn default_registry() -> PluginSet {
    #[allow(unused_mut)]
    let mut registry = PluginSet::builtin();
    #[cfg(feature = "jvm")]
    timely_connect_jvm::install(&mut registry);
    registry
}

/// One worker's handle on a prepared job.
pub struct Job {
    pub(crate) spec: JobSpec,
    pub(crate) common: CommonConfig,
    pub(crate) plan: Rc<Plan>,
    pub(crate) connector: Rc<RefCell<Box<dyn SourceConnector>>>,
    pub(crate) durable: ProbeHandle<u64>,
    pub(crate) index: usize,
    pub(crate) peers: usize,
    /// Held by worker 0 for the job's life (see [`DirLock`]).
    _dir_lock: Option<DirLock>,
    /// Tells every worker of every process that a stop was requested here.
    stop_broadcast: RefCell<StopBroadcast>,
    /// Carries a live reconfiguration's messages between workers.
    pub(crate) control: Rc<ControlChannel>,
    /// Worker 0's side of live reconfigurations.
    leader: RefCell<Leader>,
}

/// A one-message dataflow that carries a stop request (a signal to one
/// process) to every worker of the job, so that all processes stop in
/// order together.
/// The broadcast's input: `target worker` messages.
type StopInput =
    timely::dataflow::InputHandle<u64, timely::container::CapacityContainerBuilder<Vec<usize>>>;

struct StopBroadcast {
    input: Option<StopInput>,
    sent: bool,
}

impl Job {
    /// Validates the configuration, and on worker 0 restores from the
    /// snapshot store and computes the task configurations once; every
    /// worker receives the same plan. Call it on every worker, before
    /// building the dataflow.
    pub fn prepare(worker: &mut Worker, spec: &JobSpec) -> Result<Job, JobError> {
        let index = worker.index();
        let peers = worker.peers();
        // Every worker validates: a bad config fails everywhere, with the same message.
        let (common, mut connector) = spec.validate()?;
        if index == 0 {
            for unknown in spec.unknown_keys() {
                warn!(connector = %common.name, "{unknown}");
            }
        }
        // Worker 0 owns the snapshot directory: it locks it for the job's
        // life before reading anything from it.
        let mut dir_lock = None;
        let planned: Result<Plan, JobError> = if index == 0 {
            match spec
                .config
                .snapshot_dir
                .as_ref()
                .and_then(Location::as_local)
                .map(DirLock::acquire)
                .transpose()
            {
                Ok(lock) => {
                    dir_lock = lock;
                    let started = std::time::Instant::now();
                    let plan = spec.config.plan(&common, &mut *connector, peers);
                    spec.metrics().record_restore(started.elapsed());
                    plan
                }
                Err(e) => Err(JobError::Failed(e.to_string())),
            }
        } else {
            Ok(Plan::default())
        };
        // Worker 0 keeps its typed error; the others learn it as text.
        let (sent, leader_failed) = match planned {
            Ok(plan) => (Ok(plan), None),
            Err(e) => (Err(e.to_string()), Some(e)),
        };
        let received = broadcast_plan(worker, index, sent);
        if let Some(error) = leader_failed {
            return Err(error);
        }
        let plan = received.map_err(JobError::Failed)?;
        if let Some(epoch) = plan.restored_from {
            spec.shared
                .stats
                .restored_plus_one
                .store(epoch.saturating_add(1), Ordering::Relaxed);
        }
        let interval = spec
            .config
            .snapshot_interval
            .unwrap_or(common.snapshot_interval);
        let leader = Leader::new(interval, plan.task_configs.clone());
        Ok(Job {
            spec: spec.clone(),
            common,
            plan: Rc::new(plan),
            connector: Rc::new(RefCell::new(connector)),
            durable: ProbeHandle::new(),
            index,
            peers,
            _dir_lock: dir_lock,
            stop_broadcast: RefCell::new(stop_broadcast(worker, spec)),
            control: Rc::new(ControlChannel::new(worker)),
            leader: RefCell::new(leader),
        })
    }

    /// The storage of the job's snapshot location, shared by this
    /// process's workers; `None` without snapshots.
    pub(crate) fn storage(&self) -> Option<Result<Arc<dyn Storage>, String>> {
        let location = self.spec.config.snapshot_dir.as_ref()?;
        Some(
            self.spec
                .shared
                .storage(location, &self.spec.config.snapshot_options()),
        )
    }

    /// The plan every worker shares.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.common.name
    }

    /// The snapshot interval in force.
    pub fn snapshot_interval(&self) -> Duration {
        self.spec
            .config
            .snapshot_interval
            .unwrap_or(self.common.snapshot_interval)
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            timeout: self.common.retry_timeout,
            max_delay: self.common.retry_delay_max,
        }
    }

    /// A fresh record processor (the connector's transform chain) for one
    /// This worker's converters, from `key.converter`, `value.converter` and
    /// `header.converter` and their options; an unset key or value converter
    /// leaves that role empty, the header converter defaults to Kafka's
    /// `SimpleHeaderConverter`.
    pub fn encoders(&self) -> Result<Encoders, JobError> {
        encoders_for(&self.spec.config, self.name())
    }

    /// Whether every snapshot of the job is durable and every operator done.
    pub fn is_done(&self) -> bool {
        self.durable.done()
    }

    /// The first failure seen by any worker of this process.
    pub fn failure(&self) -> Option<String> {
        self.spec.shared.failure()
    }

    /// Steps `worker` until the job is done (`--until-idle`, or every task
    /// ended) or fails. Parks between activations: no busy loop.
    ///
    /// On failure the worker's dataflows are dropped, so that Timely does not
    /// wait for epochs that will never close; the last snapshot is untouched.
    pub fn run(&self, worker: &mut Worker) -> Result<(), JobError> {
        let mut asked = std::time::Instant::now();
        while !self.is_done() {
            if let Some(f) = self.spec.shared.first_failure() {
                return Err(self.abandon(worker, f));
            }
            let mut park = Duration::from_millis(500);
            if self.index == 0 {
                if asked.elapsed() >= CONNECTOR_REQUESTS_EVERY {
                    asked = std::time::Instant::now();
                    self.connector_requests();
                }
                park = park.min(CONNECTOR_REQUESTS_EVERY);
                if let Some(wait) = self.lead() {
                    park = park.min(wait);
                }
            }
            self.forward_stop();
            worker.step_or_park(Some(park));
        }
        self.stop_broadcast.borrow_mut().input = None; // closes it
        self.control.close();
        if let Some(f) = self.spec.shared.first_failure() {
            return Err(self.abandon(worker, f));
        }
        Ok(())
    }

    /// Acts on what the connector asked (worker 0 runs it): an error fails
    /// the job; a request for new task configs starts (or is coalesced
    /// into) a live reconfiguration ([`crate::reconfigure`]).
    fn connector_requests(&self) {
        let requests = self.connector.borrow_mut().context_requests();
        if let Some(error) = requests.error {
            self.spec.shared.fail(format!(
                "connector `{}` raised an error: {error}",
                self.name()
            ));
        } else if requests.reconfigure && !self.spec.stop_requested() {
            // As Kafka Connect's herder: configs equal to the running ones
            // change nothing.
            let unchanged = {
                let leader = self.leader.borrow();
                !leader.busy()
                    && self
                        .connector
                        .borrow()
                        .task_configs(self.common.tasks_max)
                        .is_ok_and(|configs| leader.is_current(&configs))
            };
            if unchanged {
                debug!(connector = %self.name(), "task reconfiguration requested, but the task configs are unchanged");
                return;
            }
            let mut leader = self.leader.borrow_mut();
            if !leader.busy() {
                info!(
                    connector = %self.name(),
                    "the connector requested task reconfiguration: its tasks are replaced at the next epoch boundary"
                );
            }
            leader.request();
        }
    }

    /// Worker 0: moves a reconfiguration on. Returns how soon to look again.
    fn lead(&self) -> Option<Duration> {
        if self.spec.stop_requested() {
            return None;
        }
        let step = self
            .leader
            .borrow_mut()
            .step(&self.control.inbox, self.peers);
        match step {
            LeaderStep::Wait => {}
            LeaderStep::Stop(generation) => {
                debug!(generation, "reconfiguration: stopping every worker's tasks");
                self.control
                    .broadcast(self.peers, &Control::Stop { generation });
            }
            LeaderStep::Align { generation, epoch } => {
                self.control
                    .broadcast(self.peers, &Control::Align { generation, epoch });
            }
            LeaderStep::StartIfDurable { generation, epoch } => {
                if self.durable.less_equal(&epoch) {
                    return Some(Duration::from_millis(10));
                }
                self.start_new_tasks(generation, epoch);
            }
        }
        let leader = self.leader.borrow();
        if leader.busy() {
            return Some(Duration::from_millis(10));
        }
        leader
            .next_turn()
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// Worker 0, once the snapshot of `epoch` is durable: asks the connector
    /// for task configs and sends them, with the snapshot's offsets, to
    /// every worker.
    fn start_new_tasks(&self, generation: u64, epoch: u64) {
        let offsets = match self.spec.shared.durable_offsets() {
            Some((_, offsets)) => offsets,
            None => self.plan.offsets.clone(),
        };
        let tasks_max = self.common.tasks_max;
        let configs = self.connector.borrow().task_configs(tasks_max);
        let task_configs = match configs {
            Ok(c) if c.len() <= tasks_max => c,
            Ok(c) => {
                self.spec.shared.fail(format!(
                    "connector `{}`: returned {} task configs for tasks.max={tasks_max}",
                    self.name(),
                    c.len()
                ));
                return;
            }
            Err(e) => {
                self.spec.shared.fail(format!(
                    "connector `{}`: task_configs failed: {e}",
                    self.name()
                ));
                return;
            }
        };
        info!(
            connector = %self.name(),
            generation,
            epoch,
            tasks = task_configs.len(),
            partitions = offsets.len(),
            "reconfiguration: starting the new tasks from the snapshot of epoch {epoch}"
        );
        let task_configs_sent = task_configs.clone();
        self.control.broadcast(
            self.peers,
            &Control::Start {
                generation,
                task_configs,
                offsets,
            },
        );
        self.leader.borrow_mut().started(task_configs_sent);
    }

    /// Once a stop was requested in this process, tells every worker of
    /// the job (once).
    fn forward_stop(&self) {
        if !self.spec.stop_requested() {
            return;
        }
        let mut broadcast = self.stop_broadcast.borrow_mut();
        if broadcast.sent {
            return;
        }
        broadcast.sent = true;
        if let Some(mut input) = broadcast.input.take() {
            for target in 0..self.peers {
                input.send(target);
            }
            // Closing the input (dropping it) pushes the message out now;
            // a flush alone leaves it in the exchange's buffer.
            drop(input);
        }
    }

    fn abandon(&self, worker: &mut Worker, failure: Failure) -> JobError {
        for dataflow in worker.installed_dataflows() {
            worker.drop_dataflow(dataflow);
        }
        failure.into_error()
    }
}

/// Builds the dataflow that carries a stop request to every worker: a
/// worker that receives one requests the stop in its own process.
fn stop_broadcast(worker: &mut Worker, spec: &JobSpec) -> StopBroadcast {
    let shared = spec.shared.clone();
    let input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<usize>>();
        stream
            .exchange(|target: &usize| *target as u64)
            .inspect(move |_| {
                if !shared.stop_requested() {
                    info!("stop requested by another process of the job");
                    shared.request_stop();
                }
            });
        input
    });
    StopBroadcast {
        input: Some(input),
        sent: false,
    }
}

/// Sends worker 0's plan to every worker through a one-shot dataflow.
fn broadcast_plan(
    worker: &mut Worker,
    index: usize,
    planned: Result<Plan, String>,
) -> Result<Plan, String> {
    let peers = worker.peers();
    let received: Rc<RefCell<Option<Result<Plan, String>>>> = Rc::default();
    let sink = Rc::clone(&received);
    let probe = ProbeHandle::new();
    let mut input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<(usize, Vec<u8>)>>();
        stream
            .exchange(|(target, _)| *target as u64)
            .inspect(move |(_, bytes)| {
                let decoded = bincode::deserialize::<Result<Plan, String>>(bytes)
                    .unwrap_or_else(|e| Err(format!("cannot decode the job plan: {e}")));
                *sink.borrow_mut() = Some(decoded);
            })
            .probe_with(&probe);
        input
    });
    if index == 0 {
        match bincode::serialize(&planned) {
            Ok(bytes) => {
                for target in 0..peers {
                    input.send((target, bytes.clone()));
                }
            }
            Err(e) => {
                let fallback: Result<Plan, String> =
                    Err(format!("cannot encode the job plan: {e}"));
                let bytes = bincode::serialize(&fallback).unwrap_or_default();
                for target in 0..peers {
                    input.send((target, bytes.clone()));
                }
            }
        }
    }
    input.close();
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(100)));
    }
    let result = received.borrow_mut().take();
    result.unwrap_or_else(|| Err("no job plan arrived from worker 0".to_owned()))
}

impl Job {
    /// The job's properties with every PASSWORD-typed value hidden, as
    /// stored in snapshots.
    pub(crate) fn redacted_props(&self) -> Properties {
        self.spec.config.redacted_props(&**self.connector.borrow())
    }
}

impl Drop for Job {
    /// Stops the connector (started on worker 0 only) once the job's handle goes.
    fn drop(&mut self) {
        // Close the stop dataflow's input, so the worker can finish.
        if let Ok(mut broadcast) = self.stop_broadcast.try_borrow_mut() {
            broadcast.input = None;
        }
        self.control.close();
        if self.index == 0 {
            if let Ok(mut connector) = self.connector.try_borrow_mut() {
                connector.stop();
            }
        }
    }
}

/// A fresh record processor (the connector's transform chain) for one
/// task, or `None` when the connector has no transforms.
pub(crate) fn record_processor_for(
    config: &timely_connect::runtime::JobConfig,
) -> Option<Box<dyn timely_connect::runtime::RecordProcessor>> {
    // The configuration was validated in `prepare`, so this builds.
    let chain = TransformChain::from_config(&config.props, config.registry.transforms()).ok()?;
    if chain.is_empty() {
        None
    } else {
        Some(Box::new(chain))
    }
}

/// The converters of `config` for one task (see [`Job::encoders`]).
pub(crate) fn encoders_for(
    config: &timely_connect::runtime::JobConfig,
    name: &str,
) -> Result<Encoders, JobError> {
    let invalid = |issues: Vec<timely_connect::config::ConfigIssue>| JobError::Config {
        connector: name.to_owned(),
        issues,
    };
    let converters = ConverterConfig::from_properties(&config.props, config.registry.converters())
        .map_err(invalid)?;
    let issues = |e: timely_connect::config::InvalidConfig| invalid(e.issues);
    let key = converters.key_converter().map_err(issues)?;
    let value = converters.value_converter().map_err(issues)?;
    let header = converters.header_converter().map_err(issues)?;
    Ok(Encoders {
        key: key.map(|converter| Role {
            class: converters.key_class().unwrap_or_default().to_owned(),
            converter,
        }),
        value: value.map(|converter| Role {
            class: converters.value_class().unwrap_or_default().to_owned(),
            converter,
        }),
        header: Some(Role {
            class: converters.header_class().to_owned(),
            converter: header,
        }),
        sizes: Default::default(),
    })
}
