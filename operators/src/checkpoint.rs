//! The checkpoint coordinator: turns closed epochs into durable snapshots.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::{Scope, Stream};
use tracing::{debug, info};

use timely_connect::runtime::Checkpointer;
use timely_connect::snapshot::SnapshotStore;

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
                if !coordinator.advance(frontier) {
                    return; // failed: keep the capability, the durable frontier stays put
                }
                match (frontier, cap.as_mut()) {
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

struct Coordinator {
    leader: bool,
    store: Option<SnapshotStore>,
    start_epoch: u64,
    parts: Checkpointer,
    connector: String,
    shared: Arc<Shared>,
    store_error: Option<String>,
}

impl Coordinator {
    fn new(job: &Job) -> Self {
        let leader = job.index == 0;
        let mut store_error = None;
        let store = match (&job.spec.config.snapshot_dir, leader) {
            (Some(dir), true) => match SnapshotStore::open(dir, job.common.snapshot_retain) {
                Ok(s) => Some(s),
                Err(e) => {
                    store_error = Some(format!("snapshot store {}: {e}", dir.display()));
                    None
                }
            },
            _ => None,
        };
        Coordinator {
            leader,
            store,
            start_epoch: job.plan.start_epoch,
            parts: Checkpointer::new(&job.plan, job.name(), job.redacted_props(), job.peers),
            connector: job.name().to_owned(),
            shared: job.spec.shared.clone(),
            store_error,
        }
    }

    /// Applies the parts of complete epochs and writes their snapshot.
    /// Returns false if the job failed here.
    fn advance(&mut self, frontier: Option<u64>) -> bool {
        if let Some(e) = self.store_error.take() {
            self.shared.fail(e);
        }
        if self.shared.failure().is_some() {
            return false;
        }
        if !self.leader {
            return true;
        }
        let Some(snapshot) = self.parts.complete(frontier) else {
            return true;
        };
        let Some(store) = &self.store else {
            self.parts.written();
            return true;
        };
        let epoch = snapshot.epoch;
        let started = std::time::Instant::now();
        match store.write(&snapshot) {
            Ok(path) => {
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
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
                true
            }
            Err(e) => {
                self.shared.fail(format!(
                    "connector `{}`: writing snapshot {epoch} failed: {e}",
                    self.connector
                ));
                false
            }
        }
    }
}
