//! How long a new file takes from landing in a watched directory
//! (`SpoolDirSource`) to its first record in the dataflow, against the
//! baseline of a line appended to a file `FileStreamSource` follows, in the
//! same run.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench new_file_latency
//! cargo bench -p timely-connect-operators --bench new_file_latency -- --files 20
//! ```
//!
//! A new file takes a task reconfiguration: the connector sees it (worker 0
//! asks five times a second), every worker stops its tasks at an epoch
//! boundary, the snapshot holding their offsets becomes durable, and the
//! new tasks start. So the latency follows the snapshot interval; it is
//! measured at 200 ms and 1 s. Two workers, snapshots in a tempdir.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::operators::Inspect;
use timely_connect_operators::timely_connect::data::{SourceRecord, Value};
use timely_connect_operators::timely_connect::Properties;
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

use common::arg;

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// Runs a job of `props` on two workers while `feed` lands its items; the
/// instants each record value was first seen.
fn run(
    props: Properties,
    snapshots: &Path,
    interval: Duration,
    feed: impl FnOnce() + Send + 'static,
) -> Seen {
    let spec = JobSpec::new(props)
        .snapshot_dir(snapshots)
        .snapshot_interval(interval)
        .until_idle(Duration::from_millis(2500));
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let driver = std::thread::spawn(feed);
    timely::execute(timely::Config::process(2), move |worker| {
        let job = Job::prepare(worker, &spec).expect("prepare");
        let sink = sink.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            source.records.inspect(move |r: &SourceRecord| {
                if let Value::String(s) = &r.value {
                    sink.lock()
                        .expect("lock")
                        .entry(s.clone())
                        .or_insert_with(Instant::now);
                }
            });
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker).expect("job");
    })
    .expect("timely");
    driver.join().expect("feed");
    seen
}

/// Gaps between landings: 1 s plus 0–500 ms, varied so that landings
/// fall at every phase of the job's timers.
fn gap(i: u64) -> Duration {
    let jitter = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 500;
    Duration::from_millis(1000 + jitter)
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs.get(i).copied().unwrap_or(f64::NAN)
}

/// Latencies in ms from `landed` to `seen`.
fn latencies(landed: &Arc<Mutex<HashMap<String, Instant>>>, seen: &Seen) -> Vec<f64> {
    let landed = landed.lock().expect("lock");
    let seen = seen.lock().expect("lock");
    landed
        .iter()
        .map(|(k, at)| {
            let got = seen.get(k).unwrap_or_else(|| panic!("{k} never arrived"));
            got.duration_since(*at).as_secs_f64() * 1e3
        })
        .collect()
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let files = arg("--files", 12);
    println!("# new file to first record, {files} files 1-1.5 s apart, 2 workers");
    for interval in [Duration::from_millis(200), Duration::from_secs(1)] {
        // Baseline: a line appended to a followed file.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("follow.txt");
        std::fs::write(&file, "").expect("create");
        let mut props = Properties::new();
        for (k, v) in [
            ("name", "follow"),
            ("connector.class", "FileStreamSource"),
            ("topic", "t"),
            ("file", file.to_str().expect("utf-8")),
        ] {
            props.insert(k.into(), v.into());
        }
        let landed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let feed = {
            let (landed, file) = (landed.clone(), file.clone());
            move || {
                std::thread::sleep(Duration::from_millis(800));
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&file)
                    .expect("open");
                for i in 0..files {
                    let line = format!("line-{i}");
                    landed
                        .lock()
                        .expect("lock")
                        .insert(line.clone(), Instant::now());
                    writeln!(f, "{line}").expect("append");
                    std::thread::sleep(gap(i));
                }
            }
        };
        let seen = run(props, &dir.path().join("snaps"), interval, feed);
        let base = latencies(&landed, &seen);

        // A new file in a watched directory.
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in");
        std::fs::create_dir(&input).expect("mkdir");
        let mut props = Properties::new();
        for (k, v) in [
            ("name", "spool"),
            ("connector.class", "SpoolDirSource"),
            ("topic", "t"),
            ("input.path", input.to_str().expect("utf-8")),
            ("input.file.pattern", "f.*"),
            ("cleanup.policy", "NONE"),
            ("tasks.max", "2"),
            ("empty.poll.wait.ms", "50"),
        ] {
            props.insert(k.into(), v.into());
        }
        let landed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let feed = {
            let (landed, input) = (landed.clone(), input.clone());
            move || {
                std::thread::sleep(Duration::from_millis(800));
                for i in 0..files {
                    let line = format!("file-{i}");
                    let temp = input.join(format!(".f{i}"));
                    std::fs::write(&temp, format!("{line}\n")).expect("write");
                    landed.lock().expect("lock").insert(line, Instant::now());
                    std::fs::rename(&temp, input.join(format!("f{i}"))).expect("land");
                    std::thread::sleep(gap(i));
                }
            }
        };
        let seen = run(props, &dir.path().join("snaps"), interval, feed);
        let spool = latencies(&landed, &seen);
        if std::env::args().any(|a| a == "--verbose") {
            println!("  appended: {base:.0?}\n  new file: {spool:.0?}");
        }
        let (b50, s50) = (
            percentile(base.clone(), 0.5),
            percentile(spool.clone(), 0.5),
        );
        println!(
            "snapshot interval {interval:?}: appended line (FileStreamSource) median {b50:.0} ms, p90 {:.0} ms; new file (SpoolDirSource) median {s50:.0} ms, p90 {:.0} ms; new file / appended line = {:.1}x",
            percentile(base, 0.9),
            percentile(spool, 0.9),
            s50 / b50
        );
    }
}
