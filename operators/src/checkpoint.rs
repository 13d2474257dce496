//! The checkpoint coordinator: turns closed epochs into durable snapshots,
//! and looks after the operators' state files (compaction, garbage).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{Scope, Stream};
use tracing::{debug, info, warn};

use timely_connect::runtime::Checkpointer;
use timely_connect::snapshot::{Snapshot, SnapshotError, SnapshotStore};
use timely_connect::state::{SegmentRef, StateDir, StateError, StateManifest};

use crate::job::{Job, Shared};
use timely_connect::runtime::CheckpointPart;

/// Ties checkpoint parts to durable snapshots.
pub trait Checkpoint<'scope> {
    /// Collects every participant's parts on worker 0. Once the parts'
    /// frontier passes epoch `e` — every source closed `e` and every sink
    /// whose parts are included finished `e` — it applies the parts of
    /// epochs `<= e` to the restored offsets and sink positions and writes
    /// snapshot `e` atomically. Only then does the job's durable frontier
    /// pass `e`, which is what lets sources call their tasks' `commit()`.
    ///
    /// Returns the stream whose frontier is the durable frontier.
    ///
    /// ```
    /// # use timely_connect_operators::{Job, JobSpec, ConnectSource, Checkpoint, ExactlyOnceFileSink};
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().join("out.txt");
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "g"), ("connector.class", "Datagen"), ("quickstart", "users"), ("max.messages", "50")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props).snapshot_dir(dir.path().join("snaps"))
    ///     .until_idle(std::time::Duration::from_millis(300));
    /// let out2 = out.clone();
    /// timely::execute(timely::Config::thread(), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         let written = source.records.exactly_once_file(&job, &out2, "output");
    ///         scope.checkpoint(&job, vec![source.parts, written]);
    ///     });
    ///     job.run(worker).unwrap();
    /// }).unwrap();
    /// assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 50);
    /// ```
    fn checkpoint(
        &self,
        job: &Job,
        parts: Vec<Stream<'scope, u64, Vec<CheckpointPart>>>,
    ) -> Stream<'scope, u64, Vec<()>>;
}

impl<'scope> Checkpoint<'scope> for Scope<'scope, u64> {
    fn checkpoint(
        &self,
        job: &Job,
        parts: Vec<Stream<'scope, u64, Vec<CheckpointPart>>>,
    ) -> Stream<'scope, u64, Vec<()>> {
        let all = self.concatenate(parts);
        let mut builder = OperatorBuilder::new("CheckpointCoordinator".to_owned(), *self);
        let mut input = builder.new_input(all, Exchange::new(|_: &CheckpointPart| 0u64));
        let (_output, durable) = builder.new_output::<Vec<()>>();
        let mut coordinator = Coordinator::new(job);
        let address = builder.operator_info().address;
        coordinator.waker = Some(self.worker().sync_activator_for(address.to_vec()));
        coordinator.retry_waker = Some(self.activator_for(address.clone()));
        builder.build(move |mut caps| {
            let mut cap = caps.pop();
            if let Some(c) = cap.as_mut() {
                c.downgrade(&coordinator.start_epoch);
            }
            move |frontiers| {
                input.for_each(|time, data| {
                    coordinator.parts.stash(*time.time(), data.drain(..));
                });
                if cap.is_none() {
                    return;
                }
                let frontier = frontiers[0].frontier().iter().next().copied();
                // Not durable yet (a write under way, failed, or to try
                // again): the capability stays, so does the durable frontier.
                let Some(durable) = coordinator.advance(frontier) else {
                    return;
                };
                match (durable, cap.as_mut()) {
                    (Some(f), Some(c)) => {
                        if *c.time() < f {
                            c.downgrade(&f);
                        }
                    }
                    _ => cap = None,
                }
            }
        });
        durable.probe_with(&job.durable)
    }
}

/// An operator's state is compacted once its manifest has more than this
/// many segments, or once its segments after the base hold more than half
/// the base's bytes. So a compaction rewrites the state after changes of
/// at least a third of its size: the bytes written per change stay a small
/// multiple of the change, and a restore reads at most this many files
/// per compacted manifest.
pub const COMPACT_AFTER_SEGMENTS: usize = 32;

/// A compaction running on its own thread.
struct Compaction {
    /// The segments it merges: the manifest's prefix it replaces.
    compacted: Vec<SegmentRef>,
    /// The base file it writes (protected from garbage collection).
    base_name: String,
    /// Its result, put here before the thread wakes the coordinator (so a
    /// wake-up never finds the thread still running and the result unseen).
    done: Arc<Mutex<Option<Result<SegmentRef, StateError>>>>,
    thread: JoinHandle<()>,
}

struct Coordinator {
    leader: bool,
    store: Option<SnapshotStore>,
    /// The state directory of the store (worker 0 with a snapshot dir).
    state_dir: Option<StateDir>,
    execution: u64,
    /// Running compactions, by operator (at most one each).
    compactions: BTreeMap<String, Compaction>,
    /// The state maps of the snapshots in the store, kept by the snapshot
    /// writer's thread, which collects garbage after each write.
    on_disk: Arc<Mutex<OnDisk>>,
    /// Wakes the coordinator when a compaction finishes.
    waker: Option<timely::scheduling::SyncActivator>,
    start_epoch: u64,
    parts: Checkpointer,
    connector: String,
    shared: Arc<Shared>,
    store_error: Option<String>,
    /// Schedules the coordinator again to retry a failed snapshot write.
    retry_waker: Option<timely::scheduling::Activator>,
    /// Since when, and how many times in a row, snapshot writes failed.
    failing: Option<(std::time::Instant, u32)>,
    /// The snapshot being written on its own thread, if any.
    writing: Option<Writing>,
}

/// A snapshot write under way: worker 0's dataflow goes on meanwhile (an
/// object store's latency, or its retries in an outage, stall nothing).
struct Writing {
    /// The parts' frontier when the snapshot was cut: what is durable once
    /// it is written.
    frontier: Option<u64>,
    started: std::time::Instant,
    /// Filled by the writer thread before it wakes the coordinator (a
    /// thread's own end may come after the wake-up is served).
    done: Arc<Mutex<Option<WriteResult>>>,
}

type WriteResult = (Snapshot, Result<(std::path::PathBuf, u64), SnapshotError>);

/// How long snapshot writes may keep failing (each retried with backoff,
/// and each new epoch tried anew) before the job fails: long enough to
/// ride out an object store's restart or a network partition, short
/// enough that a job with nowhere to write its snapshots does not run on
/// for hours committing nothing.
pub const SNAPSHOT_FAILURE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest wait between retries of a failed snapshot write.
const SNAPSHOT_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(10);

impl Coordinator {
    fn new(job: &Job) -> Self {
        let leader = job.index == 0;
        let mut store_error = None;
        let store = match (job.storage(), leader) {
            (Some(Ok(storage)), true) => Some(SnapshotStore::on_storage(
                storage,
                job.common.snapshot_retain,
            )),
            (Some(Err(e)), true) => {
                store_error = Some(e);
                None
            }
            _ => None,
        };
        let state_dir = store
            .as_ref()
            .map(|s| StateDir::on_storage(s.storage().clone()));
        if leader {
            job.spec.shared.set_durable_offsets(
                job.plan.start_epoch.saturating_sub(1),
                job.plan.offsets.clone(),
            );
        }
        Coordinator {
            leader,
            store,
            state_dir,
            execution: job.plan.execution,
            compactions: BTreeMap::new(),
            on_disk: Arc::new(Mutex::new(BTreeMap::new())),
            waker: None,
            start_epoch: job.plan.start_epoch,
            parts: Checkpointer::new(&job.plan, job.name(), job.redacted_props(), job.peers),
            connector: job.name().to_owned(),
            shared: job.spec.shared.clone(),
            store_error,
            retry_waker: None,
            failing: None,
            writing: None,
        }
    }

    /// Applies the parts of complete epochs and has their snapshot
    /// written, on a thread of its own. Returns the frontier that is
    /// durable now (`Some(None)`: everything, the input has ended), or
    /// `None` while nothing new is: a write under way, failed or to be
    /// tried again, or the job failed.
    fn advance(&mut self, frontier: Option<u64>) -> Option<Option<u64>> {
        if let Some(e) = self.store_error.take() {
            self.shared.fail(e);
        }
        if self.shared.failure().is_some() {
            return None;
        }
        if !self.leader {
            return Some(frontier);
        }
        self.finish_compactions();
        if let Some(writing) = self.writing.take() {
            let done = writing
                .done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let Some(done) = done else {
                self.writing = Some(writing);
                return None;
            };
            let durable = self.written(writing.frontier, writing.started, done)?;
            // Epochs completed meanwhile go into the next snapshot, soon.
            if durable != frontier {
                if let Some(waker) = &self.waker {
                    let _ = waker.activate();
                }
            }
            return Some(durable);
        }
        let Some(snapshot) = self.parts.complete(frontier) else {
            return Some(frontier);
        };
        let Some(store) = &self.store else {
            self.parts.written();
            self.shared
                .set_durable_offsets(snapshot.epoch, snapshot.offsets);
            return Some(frontier);
        };
        let (store, waker) = (store.clone(), self.waker.clone());
        // What garbage collection after the write must keep: files the
        // manifests in memory name (newer than any snapshot), and the bases
        // of running compactions. None starts before this write's result
        // is handed over, so these stay complete until then.
        let gc = self.state_dir.clone().map(|dir| Garbage {
            dir,
            on_disk: self.on_disk.clone(),
            in_memory: self.parts.state().clone(),
            protect: self
                .compactions
                .values()
                .map(|c| c.base_name.clone())
                .collect(),
        });
        let done = Arc::new(Mutex::new(None));
        let slot = done.clone();
        let spawned = std::thread::Builder::new()
            .name("snapshot-writer".to_owned())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    store.write_measured(&snapshot)
                }))
                .unwrap_or_else(|_| {
                    Err(SnapshotError::Io {
                        op: "write",
                        path: store.path_for(snapshot.epoch),
                        source: std::io::Error::other("the snapshot writer panicked"),
                    })
                });
                if let (Ok(_), Some(gc)) = (&result, gc) {
                    // Here, not on worker 0's thread: with an object store
                    // its listings and deletes take round trips. Before the
                    // hand-over, so no compaction starts meanwhile.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        gc.collect(&store, &snapshot);
                    }));
                }
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((snapshot, result));
                if let Some(w) = waker {
                    // Gone if the job ended meanwhile.
                    let _ = w.activate();
                }
            });
        match spawned {
            Ok(_) => {
                self.writing = Some(Writing {
                    frontier,
                    started: std::time::Instant::now(),
                    done,
                });
            }
            Err(e) => self.shared.fail(format!(
                "connector `{}`: cannot start a thread to write a snapshot: {e}",
                self.connector
            )),
        }
        None
    }

    /// A finished write: on success, what is durable now; on failure, the
    /// retry (or the job's failure), and `None`.
    fn written(
        &mut self,
        frontier: Option<u64>,
        started: std::time::Instant,
        (snapshot, result): WriteResult,
    ) -> Option<Option<u64>> {
        let epoch = snapshot.epoch;
        match result {
            Ok((path, bytes)) => {
                if let Some((since, tries)) = self.failing.take() {
                    info!(epoch, tries, after = ?since.elapsed(), "snapshot written again after failures");
                }
                self.shared.metrics(&self.connector).record_snapshot(
                    epoch,
                    bytes,
                    started.elapsed(),
                );
                debug!(epoch, file = %path.display(), "snapshot durable");
                if frontier.is_none() {
                    info!(epoch, "final snapshot durable");
                }
                self.shared
                    .stats
                    .last_snapshot_plus_one
                    .store(epoch + 1, Ordering::Relaxed);
                self.parts.written();
                self.shared.set_durable_offsets(epoch, snapshot.offsets);
                if frontier.is_some() {
                    self.start_compactions();
                }
                Some(frontier)
            }
            Err(e) => {
                // Nothing is lost: the parts stay applied, the next try (or
                // the next epoch's snapshot) covers them, and no source
                // commits before one is durable.
                let (since, tries) = self.failing.unwrap_or((started, 0));
                let tries = tries.saturating_add(1);
                self.failing = Some((since, tries));
                // Only I/O can heal by itself; an epoch that exists (another
                // writer on the same location) or an encoding error cannot.
                let transient = matches!(e, SnapshotError::Io { .. });
                if !transient || since.elapsed() >= SNAPSHOT_FAILURE_TIMEOUT {
                    let history = if tries > 1 {
                        format!(
                            " (snapshots have failed for {:?}, {tries} tries)",
                            since.elapsed()
                        )
                    } else {
                        String::new()
                    };
                    self.shared.fail(format!(
                        "connector `{}`: writing snapshot {epoch} failed: {e}{history}",
                        self.connector
                    ));
                    return None;
                }
                let delay = std::time::Duration::from_millis(250)
                    .saturating_mul(1u32 << tries.min(6))
                    .min(SNAPSHOT_RETRY_MAX);
                warn!(
                    epoch,
                    tries,
                    retry_in = ?delay,
                    error = %e,
                    "writing snapshot failed; the job goes on and tries again (nothing is committed meanwhile)"
                );
                self.shared
                    .metrics(&self.connector)
                    .record_snapshot_failure();
                if let Some(waker) = &self.retry_waker {
                    waker.activate_after(delay);
                }
                None
            }
        }
    }
}

impl Coordinator {
    /// Applies the compactions that finished: each replaces the prefix it
    /// merged by its base, if the manifest still starts with it. A failed
    /// one is logged and tried again after a later snapshot.
    fn finish_compactions(&mut self) {
        let finished = |c: &Compaction| {
            c.done.lock().unwrap_or_else(|e| e.into_inner()).is_some() || c.thread.is_finished()
        };
        let done: Vec<String> = self
            .compactions
            .iter()
            .filter(|(_, c)| finished(c))
            .map(|(operator, _)| operator.clone())
            .collect();
        for operator in done {
            let Some(c) = self.compactions.remove(&operator) else {
                continue;
            };
            let result = c.done.lock().unwrap_or_else(|e| e.into_inner()).take();
            // The thread has handed its result over (or ended without one:
            // it panicked); it ends at once.
            let _ = c.thread.join();
            match result {
                Some(Ok(base)) => {
                    let (segments, entries, bytes) = (c.compacted.len(), base.entries, base.bytes);
                    if self.parts.replace_prefix(&operator, &c.compacted, base) {
                        info!(operator = %operator, segments, entries, bytes, file = %c.base_name, "operator state compacted");
                    } else {
                        debug!(operator = %operator, file = %c.base_name, "compacted state no longer a prefix of the manifest; dropped");
                    }
                }
                Some(Err(e)) => {
                    warn!(operator = %operator, error = %e, "compacting operator state failed; tried again later")
                }
                None => {
                    warn!(operator = %operator, file = %c.base_name, "compacting operator state panicked; tried again later")
                }
            }
        }
    }

    /// Starts a background compaction for every operator whose manifest
    /// has more than [`COMPACT_AFTER_SEGMENTS`] segments, or whose segments
    /// after the base hold more than half the base's bytes, and that has none
    /// running. The worker never waits for one.
    fn start_compactions(&mut self) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        for (operator, manifest) in self.parts.state() {
            if self.compactions.contains_key(operator) || manifest.segments.len() < 2 {
                continue;
            }
            let base_bytes = manifest
                .segments
                .first()
                .filter(|s| s.base)
                .map_or(0, |s| s.bytes);
            let rest_bytes = manifest.bytes() - base_bytes;
            if manifest.segments.len() <= COMPACT_AFTER_SEGMENTS
                && rest_bytes.saturating_mul(2) <= base_bytes
            {
                continue;
            }
            let Some(base_name) = StateDir::base_name_for(manifest, self.execution) else {
                continue;
            };
            let (dir, op, todo, execution) = (
                dir.clone(),
                operator.clone(),
                manifest.clone(),
                self.execution,
            );
            let waker = self.waker.clone();
            let done = Arc::new(Mutex::new(None));
            let slot = done.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("compact-{operator}"))
                .spawn(move || {
                    let result = dir.compact(&op, &todo, execution);
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                    if let Some(w) = waker {
                        // Gone if the job finished meanwhile: nothing to apply.
                        let _ = w.activate();
                    }
                });
            match spawned {
                Ok(thread) => {
                    debug!(operator = %operator, segments = manifest.segments.len(), file = %base_name, "compacting operator state");
                    self.compactions.insert(
                        operator.clone(),
                        Compaction {
                            compacted: manifest.segments.clone(),
                            base_name,
                            done,
                            thread,
                        },
                    );
                }
                Err(e) => {
                    warn!(operator = %operator, error = %e, "cannot start a compaction thread; tried again later")
                }
            }
        }
    }
}

/// The state maps of the snapshots in the store, by epoch, as far as
/// known (an unusable snapshot's is empty: it keeps no file alive).
type OnDisk = BTreeMap<u64, BTreeMap<String, StateManifest>>;

/// Garbage collection of state files after a snapshot write, on the
/// writer's thread.
struct Garbage {
    dir: StateDir,
    on_disk: Arc<Mutex<OnDisk>>,
    /// The manifests in memory when the write started.
    in_memory: BTreeMap<String, StateManifest>,
    /// Bases of the compactions running when the write started.
    protect: Vec<String>,
}

impl Garbage {
    /// Deletes state files that no snapshot in the store refers to, up to
    /// `written` (just made durable), sparing what is in memory and the
    /// bases being compacted. Failures are logged: the snapshot is durable
    /// either way.
    fn collect(&self, store: &SnapshotStore, written: &Snapshot) {
        let epoch = written.epoch;
        let mut on_disk = self.on_disk.lock().unwrap_or_else(|e| e.into_inner());
        on_disk.insert(epoch, written.state.clone());
        let epochs = match store.epochs() {
            Ok(e) => e,
            Err(e) => {
                warn!(epoch, error = %e, "state garbage collection skipped");
                return;
            }
        };
        // Forget what retention deleted; learn what this run did not write
        // (the restored snapshot and its elders, or newer ones a restore of
        // an older epoch left).
        on_disk.retain(|e, _| epochs.contains(e));
        for e in epochs {
            if on_disk.contains_key(&e) {
                continue;
            }
            match store.load_epoch(e) {
                Ok(snap) => {
                    on_disk.insert(e, snap.state);
                }
                Err(err @ SnapshotError::Io { .. }) => {
                    // It may be a good snapshot: keep every file for now.
                    warn!(epoch, snapshot = e, error = %err, "state garbage collection skipped: a snapshot could not be read");
                    return;
                }
                Err(err) => {
                    // Never restorable, so it keeps no file alive.
                    debug!(snapshot = e, error = %err, "unusable snapshot ignored by state garbage collection");
                    on_disk.insert(e, BTreeMap::new());
                }
            }
        }
        let mut referenced: Vec<&BTreeMap<String, StateManifest>> = on_disk.values().collect();
        referenced.push(&self.in_memory);
        match self.dir.collect_garbage(&referenced, epoch, &self.protect) {
            Ok(0) => {}
            Ok(deleted) => debug!(epoch, deleted, "unreferenced state files deleted"),
            Err(e) => {
                warn!(epoch, error = %e, "state garbage collection failed; tried again after the next snapshot")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use timely::dataflow::operators::Input;

    use super::*;
    use crate::JobSpec;

    fn spec(dir: &std::path::Path) -> JobSpec {
        let mut props = timely_connect::Properties::new();
        for (k, v) in [
            ("name", "stateful"),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
        ] {
            props.insert(k.into(), v.into());
        }
        JobSpec::new(props).snapshot_dir(dir)
    }

    /// Runs `epochs` epochs from the restored plan on, each writing one
    /// segment that sets key `epoch % 4` to the epoch; returns the state
    /// the plan restored.
    fn run(dir: &std::path::Path, epochs: u64) -> BTreeMap<String, StateManifest> {
        let spec = spec(dir);
        let dir = dir.to_path_buf();
        let restored = timely::execute(timely::Config::thread(), move |worker| {
            let job = Job::prepare(worker, &spec).unwrap();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, parts) = scope.new_input::<Vec<CheckpointPart>>();
                scope.checkpoint(&job, vec![parts]);
                input
            });
            let state = StateDir::new(&dir);
            let start = job.plan().start_epoch;
            input.advance_to(start);
            for epoch in start..start + epochs {
                let key = format!("k{}", epoch % 4).into_bytes();
                let value = epoch.to_string().into_bytes();
                let segment = state
                    .write_segment(
                        "rows",
                        epoch,
                        job.plan().execution,
                        0,
                        &[(key, Some(value))],
                    )
                    .unwrap();
                input.send(CheckpointPart::State {
                    operator: "rows".into(),
                    segment,
                });
                input.advance_to(epoch + 1);
                while job.durable.less_than(&(epoch + 1)) {
                    worker.step_or_park(Some(Duration::from_millis(5)));
                }
                // Room for a background compaction to finish.
                std::thread::sleep(Duration::from_millis(10));
                worker.step();
            }
            drop(input);
            while !job.is_done() {
                worker.step_or_park(Some(Duration::from_millis(5)));
            }
            job.plan().state.clone()
        })
        .unwrap()
        .join();
        restored.into_iter().next().unwrap().unwrap()
    }

    fn expected(epochs: u64) -> HashMap<Vec<u8>, Vec<u8>> {
        (0..epochs)
            .map(|e| {
                (
                    format!("k{}", e % 4).into_bytes(),
                    e.to_string().into_bytes(),
                )
            })
            .collect()
    }

    #[test]
    fn state_parts_are_snapshotted_compacted_collected_and_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("snaps");
        assert!(run(&dir, 20).is_empty(), "a fresh start has no state");
        let store = SnapshotStore::open_existing(&dir).unwrap();
        let state = StateDir::new(&dir);
        let latest = store.load_latest().unwrap().unwrap().snapshot;
        let manifest = &latest.state["rows"];
        assert!(
            manifest.segments.iter().any(|s| s.base) && manifest.segments.len() < 20,
            "compacted: {manifest:?}"
        );
        assert_eq!(
            state.load("rows", manifest, |_| true).unwrap(),
            expected(20)
        );

        // Only files a snapshot on disk names are left (and at most one
        // base a compaction wrote too late to be used).
        let mut named = std::collections::HashSet::new();
        for e in store.epochs().unwrap() {
            for s in &store.load_epoch(e).unwrap().state["rows"].segments {
                named.insert(s.file.clone());
            }
        }
        let files: Vec<String> = std::fs::read_dir(state.root().join("rows"))
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .collect();
        let stray: Vec<&String> = files.iter().filter(|f| !named.contains(*f)).collect();
        assert!(
            stray.len() <= 1 && stray.iter().all(|f| f.starts_with("base-")),
            "unreferenced files left: {stray:?} of {files:?}"
        );
        assert!(named.iter().all(|f| files.contains(f)));

        // A restore gets the manifest back and goes on from it.
        let restored = run(&dir, 3);
        assert_eq!(restored, latest.state);
        let latest = store.load_latest().unwrap().unwrap().snapshot;
        let mut want = expected(20);
        for e in latest.epoch - 2..=latest.epoch {
            want.insert(
                format!("k{}", e % 4).into_bytes(),
                e.to_string().into_bytes(),
            );
        }
        assert_eq!(
            state.load("rows", &latest.state["rows"], |_| true).unwrap(),
            want
        );
    }
}
