//! Test connectors and helpers shared by `commit_order.rs` and `task_failure.rs`
//! (included by path, apart from the CLI helpers in `mod.rs`).
//!
//! `CounterSource` emits, for each source partition `{"p": k}`, the records
//! `n = 0, 1, 2, …` with offset `{"n": n}`, round-robin over the partitions of
//! its task. Everything it sees (records emitted, `commit()` and
//! `commit_record()` calls, failed polls, starts, stops) goes into a shared
//! [`Log`]. When `counter.check.dir` names the snapshot directory, `commit()`
//! and `commit_record()` read the newest durable snapshot and log a
//! *violation* whenever they are called for offsets that snapshot does not
//! cover. How the task fails is chosen with `counter.fail*` keys.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Inspect, Probe};
use timely_connect::api::{
    ConnectError, SourceConnector, SourceTask, SourceTaskContext, TaskConfig,
};
use timely_connect::config::{ConfigDef, Properties};
use timely_connect::data::{SourceOffset, SourcePartition, SourceRecord, Value};
use timely_connect::plugins::PluginSet;
use timely_connect::snapshot::{Snapshot, SnapshotStore};
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

/// The test connector's class name.
pub const CLASS: &str = "CounterSource";

/// One `commit()` call as the task saw it.
#[derive(Clone, Debug)]
pub struct CommitSeen {
    pub task: usize,
    /// `context.committed_offsets()`, partition → n.
    pub committed: BTreeMap<i64, i64>,
    /// Epoch of the newest durable snapshot at that moment (if checked).
    pub durable_epoch: Option<u64>,
}

/// Everything the test connector observed.
#[derive(Clone, Debug, Default)]
pub struct Events {
    /// (task, partition, n) in the order each task returned them from `poll`.
    pub emitted: Vec<(usize, i64, i64)>,
    pub commits: Vec<CommitSeen>,
    /// (task, partition, n) in `commit_record` call order.
    pub commit_records: Vec<(usize, i64, i64)>,
    /// Broken promises seen from inside the task.
    pub violations: Vec<String>,
    /// (task, when) for every `poll` that returned an error.
    pub failed_polls: Vec<(usize, Instant)>,
    /// (task, restored offsets partition → n) at `start`.
    pub started: Vec<(usize, BTreeMap<i64, i64>)>,
    /// Tasks whose `stop()` ran.
    pub stopped: Vec<usize>,
    /// With `counter.fail.wait.durable`: the newest snapshot file (path and
    /// bytes) once every record emitted so far was committed, read just
    /// before the doomed batch.
    pub before_failure: Option<(PathBuf, Vec<u8>)>,
    /// The doomed batch, (partition, n).
    pub doomed: Vec<(i64, i64)>,
}

/// A thread-safe event log shared by the test and its connector.
#[derive(Debug, Default)]
pub struct Log {
    inner: Mutex<Events>,
}

impl Log {
    pub fn new() -> Arc<Log> {
        Arc::new(Log::default())
    }

    /// A copy of everything logged so far.
    pub fn events(&self) -> Events {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Events) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn violation(&self, message: String) {
        self.with(|e| e.violations.push(message));
    }
}

/// A registry holding only `CounterSource`, logging into `log`.
pub fn registry(log: &Arc<Log>) -> PluginSet {
    let mut registry = PluginSet::empty();
    let log = log.clone();
    registry.register(
        CLASS,
        &["com.example.test.CounterSourceConnector"],
        "counts per partition; logs commits",
        move || {
            Box::new(CounterConnector {
                log: log.clone(),
                props: Properties::new(),
            })
        },
    );
    registry
}

/// Connector properties: `name`, `connector.class` and `extra`.
pub fn props(name: &str, extra: &[(&str, &str)]) -> Properties {
    let mut p = Properties::new();
    p.insert("name".into(), name.into());
    p.insert("connector.class".into(), CLASS.into());
    for (k, v) in extra {
        p.insert((*k).into(), (*v).into());
    }
    p
}

/// The partition's number of a counter record's partition.
pub fn partition_of(p: &SourcePartition) -> i64 {
    p.get("p")
        .and_then(|v| v.as_i64())
        .expect("counter partition has `p`")
}

/// A snapshot's offsets as partition → n.
pub fn counter_offsets(snap: &Snapshot) -> BTreeMap<i64, i64> {
    snap.offsets
        .iter()
        .map(|(p, o)| {
            (
                partition_of(p),
                o.get_i64("n").expect("counter offset has `n`"),
            )
        })
        .collect()
}

/// The newest valid snapshot in `dir`, with its path.
pub fn newest_snapshot(dir: &Path) -> Option<(Snapshot, PathBuf)> {
    let store = SnapshotStore::open(dir, 1_000).expect("open snapshot store");
    store
        .load_latest()
        .expect("load latest snapshot")
        .map(|r| (r.snapshot, r.path))
}

/// Every file in `dir` by name, with its bytes.
pub fn dir_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.insert(
                name,
                std::fs::read(entry.path()).expect("read snapshot dir file"),
            );
        }
    }
    out
}

/// Aborts the whole test process if it is still alive after `limit`, so a
/// hang becomes a failure. Disarmed when dropped.
pub struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    pub fn arm(test: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!(
                    "watchdog: {test} still running after {limit:?}; aborting the test process"
                );
                std::process::abort();
            }
        });
        Watchdog { _disarm: tx }
    }
}

/// A record the pipeline saw, with the epoch it was emitted at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub epoch: u64,
    pub partition: i64,
    pub n: i64,
}

/// What one worker's closure returned.
#[derive(Clone, Debug)]
pub struct WorkerOutcome {
    /// `Job::prepare` / `Job::run`'s result, as text.
    pub result: Result<(), String>,
    /// The task whose own failure `Job::run` returned (`JobError::Task`).
    pub failed_task: Option<usize>,
    /// When `Job::run` returned.
    pub finished_at: Instant,
    /// With one worker and a failed job: the records stream's frontier once
    /// progress settled, i.e. the epoch the source was in when it failed.
    pub records_frontier: Vec<u64>,
}

/// A finished (or stuck) `timely::execute`.
pub struct RunOutcome {
    /// One entry per worker, by index: `Err` if the worker thread panicked
    /// or never returned from its closure.
    pub workers: Vec<Result<WorkerOutcome, String>>,
    /// Every record the pipeline saw, from every worker.
    pub records: Vec<Seen>,
    pub started_at: Instant,
    /// Whether `timely::execute(..).join()` returned (within a grace period
    /// after every worker's closure returned).
    pub execute_returned: bool,
}

impl RunOutcome {
    /// Every worker's job result; panics if a worker thread panicked.
    pub fn results(&self) -> Vec<Result<(), String>> {
        self.workers
            .iter()
            .enumerate()
            .map(|(i, w)| match w {
                Ok(o) => o.result.clone(),
                Err(p) => panic!("worker {i} did not return normally: {p}"),
            })
            .collect()
    }

    /// The single worker's outcome.
    pub fn only(&self) -> &WorkerOutcome {
        assert_eq!(self.workers.len(), 1);
        self.workers[0]
            .as_ref()
            .expect("worker did not return normally")
    }

    /// Fails unless `timely::execute` returned: after `Job::run` returned
    /// the worker closure ends, and timely then steps the worker until every
    /// dataflow has completed.
    pub fn assert_execute_returned(&self) {
        assert!(
            self.execute_returned,
            "timely::execute(..).join() did not return within {EXECUTE_GRACE:?} after every worker's \
             closure returned (Job::run gave {:?}): the job's dataflow never completes, so timely's \
             worker loop (`while worker.has_dataflows() {{ worker.step_or_park(None) }}`) waits forever",
            self.workers.iter().map(|w| w.as_ref().map(|o| o.result.clone())).collect::<Vec<_>>()
        );
    }
}

/// How long `run_job` waits for the workers' closures to return.
pub const WORKER_LIMIT: Duration = Duration::from_secs(40);
/// How long `run_job` then waits for `timely::execute` to return.
pub const EXECUTE_GRACE: Duration = Duration::from_secs(5);

/// Runs `spec` on `workers` threads of one process: source → inspect (logs
/// every record with its epoch) → checkpoint of the source's parts.
///
/// `timely::execute` runs on a helper thread; each worker also sends its
/// outcome over a channel, so a run whose `execute` never returns is
/// reported (`execute_returned == false`, the thread is left behind) instead
/// of hanging the test.
pub fn run_job(workers: usize, spec: JobSpec) -> RunOutcome {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen_in = seen.clone();
    let config = if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    };
    let started_at = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, WorkerOutcome)>();
    let tx = Mutex::new(tx);
    let execute = std::thread::spawn(move || {
        let guards = timely::execute(config, move |worker| {
            let outcome = run_worker(worker, &spec, &seen_in);
            let _ = tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send((worker.index(), outcome.clone()));
            outcome
        })
        .expect("timely::execute");
        guards.join()
    });
    let mut from_channel: Vec<Option<WorkerOutcome>> = vec![None; workers];
    let deadline = Instant::now() + WORKER_LIMIT;
    while from_channel.iter().any(Option::is_none) && !execute.is_finished() {
        match rx.recv_timeout(
            deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        ) {
            Ok((index, outcome)) => from_channel[index] = Some(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => break,
        }
    }
    let grace = Instant::now() + EXECUTE_GRACE;
    while !execute.is_finished() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(10));
    }
    let execute_returned = execute.is_finished();
    let workers = if execute_returned {
        match execute.join() {
            Ok(results) => results,
            Err(_) => vec![Err("timely::execute panicked".to_owned()); workers],
        }
    } else {
        from_channel
            .into_iter()
            .map(|o| o.ok_or_else(|| "the worker's closure never returned".to_owned()))
            .collect()
    };
    let records = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    RunOutcome {
        workers,
        records,
        started_at,
        execute_returned,
    }
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    spec: &JobSpec,
    seen: &Arc<Mutex<Vec<Seen>>>,
) -> WorkerOutcome {
    let job = match Job::prepare(worker, spec) {
        Ok(job) => job,
        Err(e) => {
            return WorkerOutcome {
                result: Err(e.to_string()),
                failed_task: None,
                finished_at: Instant::now(),
                records_frontier: Vec::new(),
            }
        }
    };
    let probe = ProbeHandle::new();
    let log = seen.clone();
    worker.dataflow::<u64, _, _>(|scope| {
        let source = scope.connect_source(&job);
        source
            .records
            .inspect_time(move |epoch, record: &SourceRecord| {
                let n = record.source_offset.get_i64("n").expect("offset n");
                let partition = partition_of(&record.source_partition);
                log.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
                    epoch: *epoch,
                    partition,
                    n,
                });
            })
            .probe_with(&probe);
        scope.checkpoint(&job, vec![source.parts]);
    });
    let run = job.run(worker);
    let failed_task = match &run {
        Err(timely_connect_operators::JobError::Task(f)) => Some(f.task_id),
        _ => None,
    };
    let result = run.map_err(|e| e.to_string());
    let finished_at = Instant::now();
    let mut records_frontier = Vec::new();
    if result.is_err() && worker.peers() == 1 {
        // Let progress settle: a failed source keeps its capability, so
        // the records frontier rests at the epoch it failed in.
        for _ in 0..20 {
            worker.step_or_park(Some(Duration::from_millis(5)));
        }
        records_frontier = probe.with_frontier(|f| f.to_vec());
    }
    WorkerOutcome {
        result,
        failed_task,
        finished_at,
        records_frontier,
    }
}

// ---------------------------------------------------------------------------
// The connector.

struct CounterConnector {
    log: Arc<Log>,
    props: Properties,
}

impl SourceConnector for CounterConnector {
    fn version(&self) -> String {
        "test".into()
    }

    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        self.props = props.clone();
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let partitions = Settings::int(&self.props, "counter.partitions", 3);
        let tasks = max_tasks.min(partitions as usize).max(1);
        Ok((0..tasks)
            .map(|t| {
                let mine: Vec<String> = (0..partitions)
                    .filter(|p| *p as usize % tasks == t)
                    .map(|p| p.to_string())
                    .collect();
                let mut config = self.props.clone();
                config.insert("counter.task.partitions".into(), mine.join(","));
                config
            })
            .collect())
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(CounterTask::new(self.log.clone()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailMode {
    None,
    Panic,
    Fatal,
    Retriable,
    RetriableThenOk,
}

#[derive(Clone, Debug)]
struct Settings {
    records: i64,
    batch: usize,
    poll_sleep: Duration,
    check_dir: Option<PathBuf>,
    commit_record: bool,
    fail: FailMode,
    fail_task: Option<usize>,
    fail_after: u64,
    fail_times: u32,
    wait_durable: bool,
    doomed: usize,
}

impl Settings {
    fn int(p: &Properties, key: &str, default: i64) -> i64 {
        p.get(key).map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{key}={v}"))
        })
    }

    fn from(p: &Properties) -> Settings {
        let fail = match p.get("counter.fail").map(String::as_str).unwrap_or("none") {
            "none" => FailMode::None,
            "panic" => FailMode::Panic,
            "fatal" => FailMode::Fatal,
            "retriable" => FailMode::Retriable,
            "retriable-then-ok" => FailMode::RetriableThenOk,
            other => panic!("counter.fail={other}"),
        };
        Settings {
            records: Self::int(p, "counter.records", 100),
            batch: Self::int(p, "counter.batch", 10) as usize,
            poll_sleep: Duration::from_millis(Self::int(p, "counter.poll.sleep.ms", 0) as u64),
            check_dir: p.get("counter.check.dir").map(PathBuf::from),
            commit_record: p.get("counter.commit.record").is_some_and(|v| v == "true"),
            fail,
            fail_task: p
                .get("counter.fail.task")
                .map(|v| v.parse().expect("counter.fail.task")),
            fail_after: Self::int(p, "counter.fail.after", 0) as u64,
            fail_times: Self::int(p, "counter.fail.times", 2) as u32,
            wait_durable: p
                .get("counter.fail.wait.durable")
                .is_some_and(|v| v == "true"),
            doomed: Self::int(p, "counter.doomed", 5) as usize,
        }
    }
}

struct Part {
    id: i64,
    partition: SourcePartition,
    next: i64,
}

struct CounterTask {
    log: Arc<Log>,
    context: Option<SourceTaskContext>,
    task_id: usize,
    settings: Option<Settings>,
    parts: Vec<Part>,
    cursor: usize,
    key: Arc<str>,
    topic: Arc<str>,
    emitted: u64,
    /// Last n emitted per partition.
    emitted_last: BTreeMap<i64, i64>,
    /// Records returned but not yet passed to `commit_record`, in order.
    awaiting_commit_record: VecDeque<(i64, i64)>,
    /// Offsets of the newest durable snapshot read so far.
    durable_cache: BTreeMap<i64, i64>,
    /// `committed_offsets()` as of the last `commit()`.
    committed: BTreeMap<i64, i64>,
    errors_returned: u32,
    doomed_sent: bool,
}

impl CounterTask {
    fn new(log: Arc<Log>) -> Self {
        CounterTask {
            log,
            context: None,
            task_id: 0,
            settings: None,
            parts: Vec::new(),
            cursor: 0,
            key: SourceOffset::key("n"),
            topic: Arc::from("counter"),
            emitted: 0,
            emitted_last: BTreeMap::new(),
            awaiting_commit_record: VecDeque::new(),
            durable_cache: BTreeMap::new(),
            committed: BTreeMap::new(),
            errors_returned: 0,
            doomed_sent: false,
        }
    }

    fn settings(&self) -> &Settings {
        self.settings.as_ref().expect("started")
    }

    fn context(&self) -> &SourceTaskContext {
        self.context.as_ref().expect("started")
    }

    /// Up to `limit` next records, round-robin over this task's partitions.
    fn next_batch(&mut self, limit: usize) -> Vec<SourceRecord> {
        let records = self.settings().records;
        let mut out = Vec::new();
        let mut idle_rounds = 0;
        while out.len() < limit && !self.parts.is_empty() && idle_rounds < self.parts.len() {
            let i = self.cursor % self.parts.len();
            self.cursor += 1;
            let part = &mut self.parts[i];
            if part.next >= records {
                idle_rounds += 1;
                continue;
            }
            idle_rounds = 0;
            let n = part.next;
            part.next += 1;
            out.push(SourceRecord::new(
                part.partition.clone(),
                SourceOffset::int(&self.key, n),
                self.topic.clone(),
                None,
                Value::Int64(n),
            ));
            let id = part.id;
            self.emitted_last.insert(id, n);
            if self.settings().commit_record {
                self.awaiting_commit_record.push_back((id, n));
            }
        }
        self.emitted += out.len() as u64;
        let task = self.task_id;
        self.log.with(|e| {
            for r in &out {
                let n = r.source_offset.get_i64("n").unwrap_or(-1);
                e.emitted.push((task, partition_of(&r.source_partition), n));
            }
        });
        out
    }

    fn failing(&self) -> bool {
        let s = self.settings();
        s.fail != FailMode::None
            && s.fail_task.is_none_or(|t| t == self.task_id)
            && self.emitted >= s.fail_after
    }

    /// The newest durable snapshot's offsets, or `None` when there is none.
    fn read_durable(&mut self) -> Option<(u64, BTreeMap<i64, i64>)> {
        let dir = self.settings().check_dir.clone()?;
        let (snap, _) = newest_snapshot(&dir)?;
        let offsets = counter_offsets(&snap);
        self.durable_cache = offsets.clone();
        Some((snap.epoch, offsets))
    }

    fn idle(&self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        self.context().stop_token().sleep(Duration::from_millis(5));
        Ok(None)
    }
}

fn counter_map(
    offsets: impl IntoIterator<Item = (SourcePartition, SourceOffset)>,
) -> BTreeMap<i64, i64> {
    offsets
        .into_iter()
        .map(|(p, o)| (partition_of(&p), o.get_i64("n").expect("offset n")))
        .collect()
}

impl SourceTask for CounterTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let settings = Settings::from(context.configs());
        self.task_id = context.task_id;
        let mine = context
            .configs()
            .get("counter.task.partitions")
            .cloned()
            .unwrap_or_default();
        let reader = context.offset_storage_reader();
        let mut resumed = BTreeMap::new();
        for id in mine.split(',').filter(|s| !s.is_empty()) {
            let id: i64 = id.parse().expect("partition id");
            let partition = SourcePartition::single("p", id);
            let next = match reader.offset(&partition).and_then(|o| o.get_i64("n")) {
                Some(n) => {
                    resumed.insert(id, n);
                    n + 1
                }
                None => 0,
            };
            self.parts.push(Part {
                id,
                partition,
                next,
            });
        }
        let task = self.task_id;
        self.log.with(|e| e.started.push((task, resumed)));
        self.settings = Some(settings);
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let s = self.settings().clone();
        if !s.poll_sleep.is_zero() && self.context().stop_token().sleep(s.poll_sleep) {
            return Ok(None);
        }
        if self.failing() {
            let task = self.task_id;
            match s.fail {
                FailMode::Panic | FailMode::Fatal if s.wait_durable && !self.doomed_sent => {
                    // Wait until every record so far is in a durable snapshot
                    // (no snapshot is pending), remember that snapshot, then
                    // return one more batch and fail right after it.
                    let all_committed = self
                        .emitted_last
                        .iter()
                        .all(|(p, n)| self.committed.get(p).is_some_and(|c| c >= n));
                    if !all_committed {
                        return self.idle();
                    }
                    let before =
                        s.check_dir
                            .as_ref()
                            .and_then(|d| newest_snapshot(d))
                            .map(|(_, path)| {
                                let bytes = std::fs::read(&path).expect("read newest snapshot");
                                (path, bytes)
                            });
                    let batch = self.next_batch(s.doomed);
                    let doomed: Vec<(i64, i64)> = batch
                        .iter()
                        .map(|r| {
                            (
                                partition_of(&r.source_partition),
                                r.source_offset.get_i64("n").unwrap_or(-1),
                            )
                        })
                        .collect();
                    self.log.with(|e| {
                        e.before_failure = before;
                        e.doomed = doomed;
                    });
                    self.doomed_sent = true;
                    return Ok(Some(batch));
                }
                FailMode::Panic => {
                    self.log
                        .with(|e| e.failed_polls.push((task, Instant::now())));
                    panic!(
                        "counter task {task} exploded after {} records",
                        self.emitted
                    );
                }
                FailMode::Fatal => {
                    self.log
                        .with(|e| e.failed_polls.push((task, Instant::now())));
                    return Err(ConnectError::fatal("counter source lost its disk"));
                }
                FailMode::Retriable => {
                    self.log
                        .with(|e| e.failed_polls.push((task, Instant::now())));
                    self.errors_returned += 1;
                    return Err(ConnectError::retriable(format!(
                        "counter source busy (attempt {})",
                        self.errors_returned
                    )));
                }
                FailMode::RetriableThenOk if self.errors_returned < s.fail_times => {
                    self.log
                        .with(|e| e.failed_polls.push((task, Instant::now())));
                    self.errors_returned += 1;
                    return Err(ConnectError::retriable(format!(
                        "counter source busy (attempt {})",
                        self.errors_returned
                    )));
                }
                FailMode::RetriableThenOk | FailMode::None => {}
            }
        }
        let mut limit = s.batch;
        if s.fail != FailMode::None
            && s.fail_task.is_none_or(|t| t == self.task_id)
            && self.emitted < s.fail_after
        {
            limit = limit.min((s.fail_after - self.emitted) as usize);
        }
        let batch = self.next_batch(limit);
        if batch.is_empty() {
            return self.idle();
        }
        Ok(Some(batch))
    }

    fn commit(&mut self) -> Result<(), ConnectError> {
        let task = self.task_id;
        let committed = counter_map(self.context().committed_offsets());
        let durable = if self.settings().check_dir.is_some() {
            let durable = self.read_durable();
            match &durable {
                None => self.log.violation(format!(
                    "task {task}: commit() for {committed:?} while no durable snapshot exists"
                )),
                Some((epoch, offsets)) => {
                    for (p, n) in &committed {
                        if offsets.get(p).is_none_or(|d| d < n) {
                            self.log.violation(format!(
                                "task {task}: commit() for partition {p} at n={n}, but the newest durable \
                                 snapshot (epoch {epoch}) holds {:?}",
                                offsets.get(p)
                            ));
                        }
                    }
                }
            }
            durable.map(|(e, _)| e)
        } else {
            None
        };
        for (p, n) in &committed {
            if self.emitted_last.get(p).is_none_or(|e| e < n) {
                self.log.violation(format!(
                    "task {task}: committed offset {p}:{n} beyond what it emitted ({:?})",
                    self.emitted_last.get(p)
                ));
            }
        }
        self.log.with(|e| {
            e.commits.push(CommitSeen {
                task,
                committed: committed.clone(),
                durable_epoch: durable,
            })
        });
        self.committed = committed;
        Ok(())
    }

    fn wants_commit_record(&self) -> bool {
        self.settings.as_ref().is_some_and(|s| s.commit_record)
    }

    fn commit_record(&mut self, record: &SourceRecord) -> Result<(), ConnectError> {
        let task = self.task_id;
        let p = partition_of(&record.source_partition);
        let n = record.source_offset.get_i64("n").expect("offset n");
        let expected = self.awaiting_commit_record.pop_front();
        if expected != Some((p, n)) {
            self.log.violation(format!(
                "task {task}: commit_record({p}:{n}) out of order; next record returned by poll was {expected:?}"
            ));
        }
        let committed = counter_map(self.context().committed_offsets());
        if committed.get(&p).is_none_or(|c| *c < n) {
            self.log.violation(format!(
                "task {task}: commit_record({p}:{n}) beyond committed_offsets() {committed:?}"
            ));
        }
        if self.settings().check_dir.is_some() && self.durable_cache.get(&p).is_none_or(|d| *d < n)
        {
            let durable = self.read_durable();
            if durable
                .as_ref()
                .is_none_or(|(_, o)| o.get(&p).is_none_or(|d| *d < n))
            {
                self.log.violation(format!(
                    "task {task}: commit_record({p}:{n}) not covered by the newest durable snapshot {durable:?}"
                ));
            }
        }
        self.log.with(|e| e.commit_records.push((task, p, n)));
        Ok(())
    }

    fn stop(&mut self) {
        let task = self.task_id;
        self.log.with(|e| e.stopped.push(task));
    }
}
