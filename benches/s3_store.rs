//! Snapshots in S3 against snapshots in a local directory, in one run on one
//! machine. The S3 server is `s3s-fs` (the tests' server) in this process,
//! on loopback, storing objects as files in a temp directory: the figures
//! measure our client path (signing, HTTP, the extra copies), not a remote
//! network's latency.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench s3_store
//! cargo bench -p timely-connect-operators --bench s3_store -- --records 10000000 --reps 3 --partitions 100000
//! ```
//!
//! 1. **Job throughput**: `Datagen` (`--records` orders over 1,000 source
//!    partitions, as many tasks as workers) into a counting sink, snapshots
//!    every 1 s, 1 and 2 workers, local directory vs `s3://`; the median
//!    of `--reps` runs, alternated.
//! 2. **Snapshot write and restore with many source partitions**: a
//!    snapshot of `--partitions` partitions written, then restored
//!    (`load_latest`), local vs S3.
//! 3. **State segments**: 16 segments of 1 MiB written and loaded.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{arg, load_average, median, Counter};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely_connect_operators::timely_connect::data::{SourceOffset, SourcePartition};
use timely_connect_operators::timely_connect::snapshot::{Snapshot, SnapshotStore};
use timely_connect_operators::timely_connect::state::{StateDir, StateManifest};
use timely_connect_operators::timely_connect::storage::{Location, Storage};
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

fn s3_options(server: &s3::S3Server) -> BTreeMap<String, String> {
    [
        ("snapshot.s3.endpoint", server.endpoint()),
        ("snapshot.s3.access.key.id", s3::ACCESS_KEY.to_owned()),
        ("snapshot.s3.secret.access.key", s3::SECRET_KEY.to_owned()),
        ("snapshot.s3.region", s3::REGION.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One job run: records per second until the sink counted them all, and
/// how many snapshots it wrote.
fn run_job(
    lines: u64,
    workers: usize,
    location: Location,
    opts: &BTreeMap<String, String>,
) -> (f64, u64) {
    let mut props = timely_connect_operators::timely_connect::Properties::new();
    for (k, v) in [
        ("name", "bench".to_owned()),
        ("connector.class", "Datagen".to_owned()),
        ("quickstart", "orders".to_owned()),
        ("partitions", "1000".to_owned()),
        ("tasks.max", workers.to_string()),
        ("max.messages", lines.to_string()),
    ] {
        props.insert(k.to_owned(), v);
    }
    for (k, v) in opts {
        props.insert(k.clone(), v.clone());
    }
    let spec = JobSpec::new(props)
        .until_idle(Duration::from_millis(300))
        .snapshot_dir(location)
        .snapshot_interval(Duration::from_secs(1));
    let counter = Arc::new(Counter::default());
    let sink = counter.clone();
    let job_spec = spec.clone();
    let config = if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    };
    let start = Instant::now();
    timely::execute(config, move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare job");
        let c = sink.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            source.records.sink(Pipeline, "Count", move |(input, _)| {
                input.for_each(|_, data| {
                    c.add(data.len(), lines);
                    data.clear();
                });
            });
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker).expect("job run");
    })
    .expect("timely");
    let took = counter
        .reached
        .get()
        .map_or(start.elapsed(), |at| *at - start);
    let snapshots = spec.metrics().view().snapshots;
    (lines as f64 / took.as_secs_f64(), snapshots)
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let lines = arg("--records", 10_000_000);
    let reps = arg("--reps", 3) as usize;
    let partitions = arg("--partitions", 100_000);
    let work = tempfile::tempdir().expect("tempdir");
    let server = s3::S3Server::start(&work.path().join("s3"));
    let opts = s3_options(&server);
    println!("# snapshots in S3 (s3s-fs on loopback) vs a local directory");
    println!("load average before: {}", load_average());

    // 1. Job throughput.
    for workers in [1usize, 2] {
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        let mut snaps = (0, 0);
        for r in 0..reps {
            let dir = work.path().join(format!("local-{workers}-{r}"));
            let (rate, n) = run_job(lines, workers, Location::Local(dir), &BTreeMap::new());
            local.push(rate);
            snaps.0 = n;
            let url = format!("s3://{}/job-{workers}-{r}", s3::BUCKET);
            let (rate, n) = run_job(lines, workers, Location::from(url.as_str()), &opts);
            remote.push(rate);
            snaps.1 = n;
        }
        let (l, s) = (median(local), median(remote));
        println!(
            "job, Datagen, {workers} worker(s), {lines} records over 1000 partitions, snapshots every 1 s: local {:.2} M records/s ({} snapshots), S3 {:.2} M records/s ({} snapshots): S3/local = {:.2}x (goal >= 0.9x)",
            l / 1e6,
            snaps.0,
            s / 1e6,
            snaps.1,
            s / l
        );
    }

    // 2. A snapshot with many source partitions: write, then restore.
    let mut snap = Snapshot {
        epoch: 1,
        connector: "bench".into(),
        workers: 2,
        ..Snapshot::default()
    };
    for p in 0..partitions {
        snap.offsets.insert(
            SourcePartition::single("filename", format!("/data/incoming/file-{p:08}.csv")),
            SourceOffset::int(&SourceOffset::key("position"), p as i64 * 4096),
        );
    }
    let stores = [
        (
            "local",
            SnapshotStore::open(&work.path().join("many"), 3).expect("local store"),
        ),
        (
            "S3",
            SnapshotStore::open_location(&Location::from("s3://snapshots/many"), 3, &opts)
                .expect("s3 store"),
        ),
    ];
    let mut restore = Vec::new();
    for (name, store) in &stores {
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        let mut bytes = 0;
        for r in 0..reps as u64 {
            snap.epoch = r + 1;
            let (w, written) = time(|| store.write_measured(&snap).expect("write"));
            bytes = written.1;
            let (t, restored) = time(|| store.load_latest().expect("restore").expect("a snapshot"));
            assert_eq!(restored.snapshot.offsets.len() as u64, partitions);
            writes.push(w.as_secs_f64());
            reads.push(t.as_secs_f64());
        }
        let (w, t) = (median(writes), median(reads));
        restore.push(t);
        println!(
            "snapshot of {partitions} source partitions ({:.1} MB), {name}: write {:.0} ms, restore {:.0} ms",
            bytes as f64 / 1e6,
            w * 1e3,
            t * 1e3
        );
    }
    println!(
        "restore of {partitions} partitions: S3/local time = {:.2}x",
        restore[1] / restore[0]
    );

    // 3. State segments: 16 x 1 MiB.
    let storages: [(&str, Arc<dyn Storage>); 2] = [
        (
            "local",
            Location::Local(work.path().join("state"))
                .open(&BTreeMap::new())
                .expect("local"),
        ),
        (
            "S3",
            Location::from("s3://snapshots/state")
                .open(&opts)
                .expect("s3"),
        ),
    ];
    let entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..16_384u32)
        .map(|i| (i.to_be_bytes().to_vec(), Some(vec![(i % 251) as u8; 60])))
        .collect();
    for (name, storage) in storages {
        let state = StateDir::on_storage(storage);
        let (w, segments) = time(|| {
            (0..16u64)
                .map(|e| {
                    state
                        .write_segment("rows", e + 1, 1, 0, &entries)
                        .expect("segment")
                })
                .collect::<Vec<_>>()
        });
        let mb = segments.iter().map(|s| s.bytes).sum::<u64>() as f64 / 1e6;
        let manifest = StateManifest { segments };
        let (l, loaded) = time(|| state.load("rows", &manifest, |_| true).expect("load"));
        assert_eq!(loaded.len(), entries.len());
        println!(
            "state, 16 segments ({mb:.1} MB), {name}: write {:.0} MB/s, load {:.0} MB/s",
            mb / w.as_secs_f64(),
            mb / l.as_secs_f64()
        );
    }
    println!("load average after: {}", load_average());
}
