//! Throughput of `FileStreamSource` through `connect_source`, against a raw
//! Timely input fed from the same file.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench throughput
//! cargo bench -p timely-connect-operators --bench throughput -- --lines 2000000 --reps 5
//! TC_BENCH_LINES=2000000 cargo bench -p timely-connect-operators --bench throughput
//! ```
//!
//! Options (also as environment variables): `--lines N` / `TC_BENCH_LINES`
//! (default 10,000,000 lines of 100 bytes = 1 GB), `--reps R` /
//! `TC_BENCH_REPS` (default 5, median reported), `--mem-scale K` /
//! `TC_BENCH_MEM_SCALE` (default 10: peak memory is measured for N and K×N
//! lines; 0 skips it), `--no-2w` / `TC_BENCH_NO_2W=1` skips the 2-worker runs.
//!
//! Every configuration ends with a counting sink. The rate is lines over the
//! time from just before `timely::execute` until the sink has counted all N
//! lines; the `--until-idle` tail after that (300 ms plus shutdown) is
//! reported separately and not part of the rate.
//!
//! Peak memory is the `VmHWM` of a child process (this binary re-executed
//! with `--child-mem`) that runs the snapshots-at-1 s configuration once.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;
use common::{generate, load_average, median, process_cpu, verdict, Counter, LINE_BYTES};

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Input;
use timely::dataflow::{InputHandle, Stream};
use timely_connect_operators::timely_connect::api::{
    OffsetStorageReader, SourceConnector, SourceTaskContext, StopToken,
};
use timely_connect_operators::timely_connect::connectors::file::FileStreamSource;
use timely_connect_operators::timely_connect::data::SourceRecord;
use timely_connect_operators::{Checkpoint, ConnectSource, Job, JobSpec};

/// `--until-idle` of the connector runs.
const UNTIL_IDLE: Duration = Duration::from_millis(300);
/// Lines the raw baseline sends between worker steps (`batch.size`'s default).
const RAW_STEP_EVERY: u64 = 2000;
/// Child runs per input size for peak memory (it varies with scheduling).
const MEM_SAMPLES: usize = 2;

/// One run: when the sink had counted every line, when the job ended, and
/// the CPU time the process used until it ended.
#[derive(Clone, Copy, Debug)]
struct Run {
    to_n: Duration,
    total: Duration,
    cpu: Duration,
    snapshots: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Raw,
    Ours {
        workers: usize,
        snapshots: bool,
    },
    /// Diagnostic: the connector's task polled in a loop on one thread, no
    /// Timely, batches dropped right away — the ceiling the connector sets.
    PollOnly,
}

impl Config {
    fn label(self) -> String {
        match self {
            Config::Raw => "raw InputHandle, 1 worker".to_owned(),
            Config::PollOnly => "diagnostic: task poll() loop, no Timely".to_owned(),
            Config::Ours { workers, snapshots } => format!(
                "connect_source, snapshots {}, {workers} worker{}",
                if snapshots { "1 s" } else { "off" },
                if workers == 1 { "" } else { "s" }
            ),
        }
    }
}

/// A sink that counts records (and drops them, as a real sink would).
fn count_into<'scope, D: 'static>(
    stream: Stream<'scope, u64, Vec<D>>,
    counter: Arc<Counter>,
    target: u64,
) {
    stream.sink(Pipeline, "Count", move |(input, _frontier)| {
        input.for_each(|_time, data| {
            counter.add(data.len(), target);
            data.clear();
        });
    });
}

/// Writes `times` copies of `from` into `to` (the kernel copies; much faster
/// than generating the lines again).
fn concatenate(from: &Path, to: &Path, times: u64) {
    let mut out = File::create(to).expect("create big input");
    for _ in 0..times {
        let mut src = File::open(from).expect("open input");
        std::io::copy(&mut src, &mut out).expect("copy input");
    }
}

fn file_props(path: &Path) -> timely_connect_operators::timely_connect::Properties {
    let mut props = timely_connect_operators::timely_connect::Properties::new();
    for (k, v) in [
        ("name", "bench"),
        ("connector.class", "FileStreamSource"),
        ("topic", "lines"),
        ("file", path.to_str().expect("utf-8 path")),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
    props
}

fn run_poll_only(path: &Path, lines: u64) -> Run {
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut connector = FileStreamSource::default();
    connector.start(&file_props(path)).expect("start connector");
    let config = connector.task_configs(1).expect("task configs").remove(0);
    let mut task = connector.create_task();
    let context = SourceTaskContext::new(
        "bench",
        0,
        config,
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    task.start(context).expect("start task");
    let counter = Counter::default();
    while counter.n.load(Ordering::Relaxed) < lines {
        match task.poll().expect("poll") {
            Some(batch) => counter.add(batch.len(), lines),
            None => break,
        }
    }
    task.stop();
    let total = start.elapsed();
    finish(&counter, lines, start, total, process_cpu() - cpu0, 0)
}

fn run_raw(path: &Path, lines: u64) -> Run {
    let counter = Arc::new(Counter::default());
    let path = path.to_path_buf();
    let sink_counter = counter.clone();
    let cpu0 = process_cpu();
    let start = Instant::now();
    timely::execute(timely::Config::thread(), move |worker| {
        let mut input: InputHandle<u64, CapacityContainerBuilder<Vec<String>>> = InputHandle::new();
        let c = sink_counter.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            count_into(scope.input_from(&mut input), c, lines);
        });
        let reader = BufReader::with_capacity(1 << 20, File::open(&path).expect("open input"));
        let mut until_step = RAW_STEP_EVERY;
        for line in reader.lines() {
            input.send(line.expect("read input"));
            until_step -= 1;
            if until_step == 0 {
                worker.step();
                until_step = RAW_STEP_EVERY;
            }
        }
        input.close();
        while worker.has_dataflows() {
            worker.step();
        }
    })
    .expect("timely");
    let total = start.elapsed();
    finish(&counter, lines, start, total, process_cpu() - cpu0, 0)
}

fn run_ours(path: &Path, lines: u64, workers: usize, snapshots: bool) -> Run {
    let props = file_props(path);
    let snapshot_dir = tempfile::tempdir().expect("tempdir");
    let mut spec = JobSpec::new(props).until_idle(UNTIL_IDLE);
    if snapshots {
        spec = spec
            .snapshot_dir(snapshot_dir.path().join("snapshots"))
            .snapshot_interval(Duration::from_secs(1));
    }
    let counter = Arc::new(Counter::default());
    let sink_counter = counter.clone();
    let job_spec = spec.clone();
    let config = if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    };
    let cpu0 = process_cpu();
    let start = Instant::now();
    timely::execute(config, move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare job");
        let c = sink_counter.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            count_into(source.records, c, lines);
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker).expect("job run");
    })
    .expect("timely");
    let total = start.elapsed();
    assert_eq!(
        spec.stats().records.load(Ordering::Relaxed),
        lines,
        "source emitted a wrong count"
    );
    let written = spec.stats().last_snapshot().map_or(0, |_| {
        count_snapshots(&snapshot_dir.path().join("snapshots"))
    });
    finish(&counter, lines, start, total, process_cpu() - cpu0, written)
}

/// Snapshot files left in `dir` (retention may have removed older ones).
fn count_snapshots(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| entries.filter_map(Result::ok).count() as u64)
}

fn finish(
    counter: &Counter,
    lines: u64,
    start: Instant,
    total: Duration,
    cpu: Duration,
    snapshots: u64,
) -> Run {
    let counted = counter.n.load(Ordering::Relaxed);
    assert_eq!(counted, lines, "sink counted a wrong number of lines");
    let reached = *counter.reached.get().expect("count reached");
    Run {
        to_n: reached.duration_since(start),
        total,
        cpu,
        snapshots,
    }
}

fn run(config: Config, path: &Path, lines: u64) -> Run {
    match config {
        Config::Raw => run_raw(path, lines),
        Config::Ours { workers, snapshots } => run_ours(path, lines, workers, snapshots),
        Config::PollOnly => run_poll_only(path, lines),
    }
}

/// Median summary of one configuration's runs.
struct Summary {
    config: Config,
    lines_per_s: f64,
    min_lines_per_s: f64,
    max_lines_per_s: f64,
    to_n: f64,
    tail: f64,
    cpu_per_m: f64,
    snapshots: u64,
}

fn summarize(config: Config, runs: &[Run], lines: u64) -> Summary {
    let rates: Vec<f64> = runs
        .iter()
        .map(|r| lines as f64 / r.to_n.as_secs_f64())
        .collect();
    Summary {
        config,
        lines_per_s: median(rates.clone()),
        min_lines_per_s: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_lines_per_s: rates.iter().copied().fold(0.0, f64::max),
        to_n: median(runs.iter().map(|r| r.to_n.as_secs_f64()).collect()),
        tail: median(
            runs.iter()
                .map(|r| (r.total - r.to_n).as_secs_f64())
                .collect(),
        ),
        cpu_per_m: median(
            runs.iter()
                .map(|r| r.cpu.as_secs_f64() / (lines as f64 / 1e6))
                .collect(),
        ),
        snapshots: runs.iter().map(|r| r.snapshots).max().unwrap_or(0),
    }
}

/// Child mode: one snapshots-at-1 s run, then the peak resident set.
fn child_mem(path: &Path, lines: u64) {
    let rss_start = status_kb("VmRSS:");
    let r = run_ours(path, lines, 1, true);
    let hwm = status_kb("VmHWM:");
    println!(
        "CHILD rss_start_kb={rss_start} hwm_kb={hwm} to_n_s={:.3}",
        r.to_n.as_secs_f64()
    );
}

fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs the child on `path`; returns (VmRSS at start, VmHWM at end) in KiB.
fn measure_mem(path: &Path, lines: u64) -> (u64, u64) {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .arg("--child-mem")
        .arg(path)
        .arg(lines.to_string())
        .output()
        .expect("run child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> u64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("rss_start_kb="), field("hwm_kb="))
}

struct Options {
    lines: u64,
    reps: usize,
    mem_scale: u64,
    two_workers: bool,
}

fn options(args: &[String]) -> Options {
    let env = |k: &str| std::env::var(k).ok();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, var: &str, default: u64| -> u64 {
        flag(name)
            .or_else(|| env(var))
            .map(|v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
            .unwrap_or(default)
    };
    Options {
        lines: num("--lines", "TC_BENCH_LINES", 10_000_000).max(1),
        reps: num("--reps", "TC_BENCH_REPS", 5).max(1) as usize,
        mem_scale: num("--mem-scale", "TC_BENCH_MEM_SCALE", 10),
        two_workers: !args.iter().any(|a| a == "--no-2w")
            && env("TC_BENCH_NO_2W").is_none_or(|v| v != "1"),
    }
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-mem") {
        let path = PathBuf::from(&args[i + 1]);
        let lines = args[i + 2].parse().expect("child lines");
        child_mem(&path, lines);
        return;
    }
    let opts = options(&args);
    let lines = opts.lines;
    let mb = (lines * LINE_BYTES as u64) as f64 / 1e6;

    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let started = Instant::now();
    generate(&input, lines);
    println!(
        "input: {lines} lines x {LINE_BYTES} B = {mb:.0} MB, generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut configs = vec![
        Config::Raw,
        Config::Ours {
            workers: 1,
            snapshots: false,
        },
        Config::Ours {
            workers: 1,
            snapshots: true,
        },
    ];
    if opts.two_workers {
        configs.push(Config::Ours {
            workers: 2,
            snapshots: true,
        });
    }
    configs.push(Config::PollOnly);
    println!("load average before: {}", load_average());
    // Warm-up (page cache, allocator), not counted.
    let warm = lines.min(1_000_000);
    let warm_input = dir.path().join("warm.txt");
    generate(&warm_input, warm);
    for &c in &configs {
        run(c, &warm_input, warm);
    }

    // Repetitions interleave the configurations, so drift hits all alike.
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); configs.len()];
    for rep in 0..opts.reps {
        for (i, &c) in configs.iter().enumerate() {
            let r = run(c, &input, lines);
            println!(
                "rep {} {:<42} {:>6.2} M lines/s  to N {:.3} s  idle tail {:.3} s  cpu {:.2} s  snapshots {}",
                rep + 1,
                c.label(),
                lines as f64 / r.to_n.as_secs_f64() / 1e6,
                r.to_n.as_secs_f64(),
                (r.total - r.to_n).as_secs_f64(),
                r.cpu.as_secs_f64(),
                r.snapshots
            );
            runs[i].push(r);
        }
    }
    let summaries: Vec<Summary> = configs
        .iter()
        .zip(&runs)
        .map(|(&c, r)| summarize(c, r, lines))
        .collect();
    let raw = summaries[0].lines_per_s;
    let off = summaries[1].lines_per_s;

    println!("load average after: {}", load_average());
    println!();
    println!(
        "median of {} runs, {lines} lines, {mb:.0} MB (MB = 10^6 bytes)",
        opts.reps
    );
    println!(
        "| {:<42} | {:>12} | {:>7} | {:>19} | {:>8} | {:>9} | {:>10} | {:>7} | {:>6} |",
        "configuration",
        "lines/s",
        "MB/s",
        "min..max M lines/s",
        "to N s",
        "idle tail",
        "CPU s / M",
        "vs raw",
        "snaps"
    );
    println!(
        "|{:-<44}|{:->14}|{:->9}|{:->21}|{:->10}|{:->11}|{:->12}|{:->9}|{:->8}|",
        "", "", "", "", "", "", "", "", ""
    );
    for s in &summaries {
        println!(
            "| {:<42} | {:>12.0} | {:>7.0} | {:>8.2} .. {:>7.2} | {:>8.3} | {:>7.3} s | {:>10.3} | {:>7.2} | {:>6} |",
            s.config.label(),
            s.lines_per_s,
            s.lines_per_s * LINE_BYTES as f64 / 1e6,
            s.min_lines_per_s / 1e6,
            s.max_lines_per_s / 1e6,
            s.to_n,
            s.tail,
            s.cpu_per_m,
            s.lines_per_s / raw,
            s.snapshots
        );
    }
    let ours_off = off / raw;
    let snap_ratio = summaries[2].lines_per_s / off;
    let best_1w = off.max(summaries[2].lines_per_s);
    println!();
    println!(
        "ours (snapshots off) / raw      = {ours_off:.3}  (target >= 0.80: {})",
        verdict(ours_off >= 0.8)
    );
    println!(
        "snapshots 1 s / snapshots off   = {snap_ratio:.3}  (target >= 0.95: {})",
        verdict(snap_ratio >= 0.95)
    );
    println!(
        ">= 8M lines/s on one worker     : {} (best 1-worker median {:.2} M lines/s)",
        verdict(best_1w >= 8e6),
        best_1w / 1e6
    );

    if opts.mem_scale > 0 {
        let big_lines = lines * opts.mem_scale;
        let big = dir.path().join("input-big.txt");
        let started = Instant::now();
        concatenate(&input, &big, opts.mem_scale);
        println!(
            "\npeak memory: VmHWM of a child process running connect_source, snapshots 1 s, \
             1 worker, {MEM_SAMPLES} runs per size ({big_lines}-line input = {}x the main \
             input, written in {:.1} s); size_of::<SourceRecord>() = {} B",
            opts.mem_scale,
            started.elapsed().as_secs_f64(),
            std::mem::size_of::<SourceRecord>()
        );
        println!("| input | lines | VmRSS at start | VmHWM per run | max VmHWM |");
        println!("|---|---:|---:|---|---:|");
        let mut peaks = Vec::new();
        for (label, path, n) in [
            ("1x".to_owned(), &input, lines),
            (format!("{}x", opts.mem_scale), &big, big_lines),
        ] {
            let samples: Vec<(u64, u64)> = (0..MEM_SAMPLES).map(|_| measure_mem(path, n)).collect();
            let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
            let per_run: Vec<String> = samples
                .iter()
                .map(|s| format!("{:.1}", s.1 as f64 / 1024.0))
                .collect();
            println!(
                "| {label} | {n} | {:.1} MiB | {} MiB | {:.1} MiB |",
                samples[0].0 as f64 / 1024.0,
                per_run.join(", "),
                peak as f64 / 1024.0
            );
            peaks.push(peak);
        }
        std::fs::remove_file(&big).ok();
        let growth = peaks[1] as f64 / peaks[0].max(1) as f64;
        println!(
            "max VmHWM {}x / 1x = {growth:.2} (target: flat)",
            opts.mem_scale
        );
    }
}
