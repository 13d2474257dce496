//! Live task reconfiguration: a connector that asks for new task configs
//! (`ConnectorRequests::reconfigure`, Kafka Connect's
//! `requestTaskReconfiguration`) gets its tasks replaced at an epoch
//! boundary, inside the running dataflow, with every source partition's
//! offset carried over: no record lost, none twice, and no restart.
//!
//! The connector here reads "names" from a list the test grows while the
//! job runs (as a spool-directory connector sees new files); each name is
//! a source partition with `COUNT` records `name-0 … name-{COUNT-1}`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::operators::Inspect;
use timely_connect::api::{
    ConnectError, ConnectorRequests, SourceConnector, SourceTask, SourceTaskContext, TaskConfig,
};
use timely_connect::config::{ConfigDef, Properties};
use timely_connect::data::{SourceOffset, SourcePartition, SourceRecord, Value};
use timely_connect::plugins::PluginSet;
use timely_connect::storage::Location;
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

/// What the test and the connector share.
#[derive(Default)]
struct World {
    /// The names to read; the test appends.
    names: Mutex<Vec<String>>,
    /// Ask for a reconfiguration at every chance (a storm).
    storm: AtomicBool,
    /// Bumped by every `task_configs` call in a storm, so configs change.
    generation: AtomicU64,
    /// Records per name.
    count: AtomicU64,
    /// Every task start: (generation in its config, restored offsets).
    starts: Mutex<Vec<(u64, BTreeMap<String, i64>)>>,
}

struct NamesConnector {
    world: Arc<World>,
    /// How many names the running configs cover.
    seen: Mutex<usize>,
}

impl SourceConnector for NamesConnector {
    fn version(&self) -> String {
        "test".into()
    }

    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn start(&mut self, _props: &Properties) -> Result<(), ConnectError> {
        Ok(())
    }

    fn task_configs(&self, max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        let names = self.world.names.lock().unwrap().clone();
        *self.seen.lock().unwrap() = names.len();
        let generation = if self.world.storm.load(Ordering::SeqCst) {
            self.world.generation.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.world.generation.load(Ordering::SeqCst)
        };
        let tasks = max_tasks.min(names.len()).max(1);
        Ok((0..tasks)
            .map(|t| {
                let mine: Vec<&str> = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % tasks == t)
                    .map(|(_, n)| n.as_str())
                    .collect();
                let mut c = Properties::new();
                c.insert("names".into(), mine.join(","));
                c.insert("generation".into(), generation.to_string());
                c
            })
            .collect())
    }

    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(NamesTask {
            world: self.world.clone(),
            todo: Vec::new(),
        })
    }

    fn context_requests(&mut self) -> ConnectorRequests {
        let grown = self.world.names.lock().unwrap().len() != *self.seen.lock().unwrap();
        ConnectorRequests {
            reconfigure: grown || self.world.storm.load(Ordering::SeqCst),
            error: None,
        }
    }
}

struct NamesTask {
    world: Arc<World>,
    /// (name, next i) still to emit.
    todo: Vec<(String, i64)>,
}

impl SourceTask for NamesTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        let config = context.configs();
        let generation = config
            .get("generation")
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        let mut restored = BTreeMap::new();
        let count = self.world.count.load(Ordering::SeqCst) as i64;
        for name in config
            .get("names")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
        {
            if name.is_empty() {
                continue;
            }
            let next = context
                .offset_storage_reader()
                .offset(&SourcePartition::single("name", name))
                .and_then(|o| o.get("i").and_then(|v| v.as_i64()))
                .map_or(0, |i| i + 1);
            restored.insert(name.to_owned(), next);
            if next < count {
                self.todo.push((name.to_owned(), next));
            }
        }
        self.world
            .starts
            .lock()
            .unwrap()
            .push((generation, restored));
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let count = self.world.count.load(Ordering::SeqCst) as i64;
        let mut batch = Vec::new();
        for (name, next) in &mut self.todo {
            // A few records per name and poll: the job takes a while.
            for _ in 0..3 {
                if *next >= count {
                    break;
                }
                batch.push(SourceRecord::new(
                    SourcePartition::single("name", name.as_str()),
                    SourceOffset::int(&SourceOffset::key("i"), *next),
                    Arc::from("names"),
                    None,
                    Value::String(format!("{name}-{next}")),
                ));
                *next += 1;
            }
        }
        self.todo.retain(|(_, next)| *next < count);
        if batch.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
        Ok(Some(batch))
    }
}

fn registry(world: &Arc<World>) -> PluginSet {
    let mut registry = PluginSet::empty();
    let world = world.clone();
    registry.register("NamesSource", &[], "names from a list", move || {
        Box::new(NamesConnector {
            world: world.clone(),
            seen: Mutex::new(0),
        })
    });
    registry
}

/// Runs the job on `workers` workers, calling `during` on another thread
/// meanwhile; returns every record value the dataflow saw.
fn run(
    world: &Arc<World>,
    workers: usize,
    snapshots: &std::path::Path,
    during: impl FnOnce() + Send + 'static,
) -> (Vec<String>, JobSpec) {
    run_with(world, workers, snapshots, &[], during)
}

/// [`run`] with snapshots at `snapshots` (a directory or an `s3://` URL)
/// and `extra` job properties.
fn run_with(
    world: &Arc<World>,
    workers: usize,
    snapshots: impl Into<Location>,
    extra: &[(&str, String)],
    during: impl FnOnce() + Send + 'static,
) -> (Vec<String>, JobSpec) {
    let mut props = Properties::new();
    for (k, v) in [
        ("name", "names"),
        ("connector.class", "NamesSource"),
        ("tasks.max", "3"),
    ] {
        props.insert(k.into(), v.into());
    }
    for (k, v) in extra {
        props.insert((*k).into(), v.clone());
    }
    let mut spec = JobSpec::new(props)
        .snapshot_dir(snapshots)
        .snapshot_interval(Duration::from_millis(200))
        .until_idle(Duration::from_millis(1500));
    spec.config.registry = registry(world);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let job_spec = spec.clone();
    let sink = seen.clone();
    let driver = std::thread::spawn(during);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare");
        let sink = sink.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            source.records.inspect(move |r: &SourceRecord| {
                if let Value::String(s) = &r.value {
                    sink.lock().unwrap().push(s.clone());
                }
            });
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker)
    })
    .expect("timely");
    for r in guards.join() {
        r.expect("worker panicked").expect("job failed");
    }
    driver.join().expect("driver");
    let seen = seen.lock().unwrap().clone();
    (seen, spec)
}

/// At least `rounds` rounds of three task starts, and a new task that
/// resumed a name an old one had begun (its offset carried over); returns
/// the starts.
fn assert_rounds_carried_over(world: &World, rounds: usize) -> Vec<(u64, BTreeMap<String, i64>)> {
    let starts = world.starts.lock().unwrap().clone();
    assert!(
        starts.len() / 3 >= rounds,
        "only {} task starts: {starts:?}",
        starts.len()
    );
    assert!(
        starts
            .iter()
            .any(|(_, restored)| restored.values().any(|&next| next > 0)),
        "no task started from a carried-over offset"
    );
    starts
}

/// Every `name-i` of `names` exactly once.
fn assert_exactly_once(seen: &[String], names: &[String], count: u64) {
    let mut twice = Vec::new();
    let mut got = BTreeSet::new();
    for s in seen {
        if !got.insert(s.clone()) {
            twice.push(s.clone());
        }
    }
    assert!(
        twice.is_empty(),
        "records seen twice: {:?}",
        &twice[..twice.len().min(10)]
    );
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|n| (0..count).map(move |i| format!("{n}-{i}")))
        .collect();
    let missing: Vec<&String> = expected.difference(&got).take(10).collect();
    assert!(missing.is_empty(), "records missing: {missing:?}");
    assert_eq!(
        got.len(),
        expected.len(),
        "records beyond the expected ones"
    );
}

#[test]
fn names_added_while_the_job_runs_are_each_read_exactly_once_by_reconfigured_tasks() {
    let world = Arc::new(World::default());
    world.count.store(40, Ordering::SeqCst);
    *world.names.lock().unwrap() = (0..3).map(|i| format!("n{i:03}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let adder = world.clone();
    let started = Instant::now();
    // One `timely::execute`: every record of every name came through the
    // same running dataflow.
    let (seen, _) = run(&world, 2, &dir.path().join("snaps"), move || {
        // 200 more names, in 20 steps, while the first ones are read.
        for step in 0..20 {
            std::thread::sleep(Duration::from_millis(120));
            let mut names = adder.names.lock().unwrap();
            for k in 0..10 {
                names.push(format!("n{:03}", 3 + step * 10 + k));
            }
        }
    });
    let names = world.names.lock().unwrap().clone();
    assert_eq!(names.len(), 203);
    assert_exactly_once(&seen, &names, 40);
    // The first tasks, and at least two rounds of new ones.
    let starts = assert_rounds_carried_over(&world, 3);
    eprintln!(
        "{} records, {} task starts in {:?}",
        seen.len(),
        starts.len(),
        started.elapsed()
    );
}

#[test]
fn a_storm_of_reconfiguration_requests_is_coalesced_and_records_keep_flowing() {
    let world = Arc::new(World::default());
    world.count.store(300, Ordering::SeqCst);
    *world.names.lock().unwrap() = (0..12).map(|i| format!("s{i:02}")).collect();
    world.storm.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let calm = world.clone();
    let storm_for = Duration::from_secs(3);
    let (seen, _) = run(&world, 2, &dir.path().join("snaps"), move || {
        std::thread::sleep(storm_for);
        calm.storm.store(false, Ordering::SeqCst);
    });
    let names = world.names.lock().unwrap().clone();
    assert_exactly_once(&seen, &names, 300);
    let starts = world.starts.lock().unwrap().clone();
    let generations: BTreeSet<u64> = starts.iter().map(|(g, _)| *g).collect();
    // The connector asked about every 200 ms for 3 s and the snapshot
    // interval is 200 ms: at most one reconfiguration per interval and a
    // half (the stop, the snapshot, the start), never one per request.
    assert!(
        generations.len() >= 3,
        "the storm changed nothing: {generations:?}"
    );
    assert!(
        generations.len() <= 3000 / 200 + 2,
        "{} reconfigurations in a 3 s storm",
        generations.len()
    );
}

#[cfg(feature = "s3")]
#[path = "common/s3.rs"]
mod s3;

/// Reconfigurations racing with snapshot writes: the snapshots go to an S3
/// server behind a proxy that holds every request 120 ms, so one write
/// (several requests) outlasts the 200 ms interval. Every reconfiguration
/// then stops the tasks, waits for the snapshot holding their offsets and
/// starts new ones while writes are in flight and epochs complete behind
/// them; nothing may be lost or read twice.
#[cfg(feature = "s3")]
#[test]
fn reconfigurations_racing_with_slow_snapshot_writes_lose_nothing() {
    let root = tempfile::tempdir().unwrap();
    let server = s3::S3Server::start(root.path());
    let proxy = s3::FaultProxy::start(server.addr());
    proxy.delay(Duration::from_millis(120));
    let world = Arc::new(World::default());
    world.count.store(40, Ordering::SeqCst);
    *world.names.lock().unwrap() = (0..3).map(|i| format!("r{i:03}")).collect();
    let adder = world.clone();
    let extra = [
        ("snapshot.s3.endpoint", proxy.endpoint()),
        ("snapshot.s3.region", server.region().to_owned()),
        ("snapshot.s3.access.key.id", s3::ACCESS_KEY.to_owned()),
        ("snapshot.s3.secret.access.key", s3::SECRET_KEY.to_owned()),
    ];
    let url = format!("s3://{}/race", s3::BUCKET);
    let (seen, _) = run_with(&world, 2, url.as_str(), &extra, move || {
        // 100 more names, in 10 steps, each while writes are in flight.
        for step in 0..10 {
            std::thread::sleep(Duration::from_millis(300));
            let mut names = adder.names.lock().unwrap();
            for k in 0..10 {
                names.push(format!("r{:03}", 3 + step * 10 + k));
            }
        }
    });
    let names = world.names.lock().unwrap().clone();
    assert_eq!(names.len(), 103);
    assert_exactly_once(&seen, &names, 40);
    // The first tasks and at least one round of new ones (slow writes
    // stretch each reconfiguration, so more requests are coalesced).
    let starts = assert_rounds_carried_over(&world, 2);
    let epochs = server.snapshot_epochs("race");
    assert!(!epochs.is_empty(), "no snapshot in the store");
    eprintln!(
        "{} records, {} task starts, {} snapshots kept, {} requests through the proxy",
        seen.len(),
        starts.len(),
        epochs.len(),
        proxy.requests_seen()
    );
}
