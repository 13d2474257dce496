//! The `timely-connect` CLI as a user runs it: whole processes, wall time
//! from spawn to exit, peak RSS from the kernel (`wait4`), on a page-cached
//! file of 100-byte lines. Optionally against another build of the CLI
//! (an older commit) in the same run, alternating, as ratios.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench cli
//! cargo bench -p timely-connect-operators --bench cli -- --lines 5000000 --reps 5 --baseline /tmp/old/timely-connect
//! cargo bench -p timely-connect-operators --bench cli -- --only file-1w,stdout
//! ```
//!
//! Options: `--lines N` (default 5,000,000), `--records N` for Datagen
//! (default 2,000,000), `--reps R` (default 5; median, min, max),
//! `--baseline BIN`, `--only a,b` (case names, see `--list`), `--mem-scale K`
//! (default 10: the flat-memory case, and snapshots every 1 s against
//! none, run K× the lines, long enough for several snapshots; 0 skips them),
//! `--partitions P` for the restore case (default 100,000).
//!
//! Every job stops with `--until-idle 200ms`; the rate counts the time from
//! spawn to exit minus those 200 ms. Each run's output is checked (line
//! count) so a fast broken build cannot win.

#[path = "common/mod.rs"]
mod common;
use common::{generate, load_average, median, LINE_BYTES};

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const UNTIL_IDLE_MS: u64 = 200;

/// One benchmark case: a CLI invocation and what it must produce.
struct Case {
    name: &'static str,
    label: &'static str,
    props: PathBuf,
    workers: usize,
    /// Extra CLI arguments.
    extra: Vec<String>,
    /// Where the records go: a file in the run's directory, or stdout.
    output: Output,
    /// Records the job moves.
    count: u64,
    unit: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Output {
    File,
    Stdout,
}

/// What one run measured.
#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    rss_kib: u64,
}

struct Options {
    lines: u64,
    records: u64,
    reps: usize,
    baseline: Option<PathBuf>,
    only: Option<Vec<String>>,
    mem_scale: u64,
    partitions: u64,
    list: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let number = |flag: &str, default: u64| {
        value(flag).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: not a number: {v}"))
        })
    };
    Options {
        lines: number("--lines", 5_000_000),
        records: number("--records", 2_000_000),
        reps: number("--reps", 5) as usize,
        baseline: value("--baseline").map(PathBuf::from),
        only: value("--only").map(|v| v.split(',').map(str::to_owned).collect()),
        mem_scale: number("--mem-scale", 10),
        partitions: number("--partitions", 100_000),
        list: args.iter().any(|a| a == "--list"),
    }
}

/// Runs `bin` on `case` in the fresh directory `dir`; checks its output.
fn run_once(bin: &Path, case: &Case, dir: &Path) -> Sample {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("bench dir");
    let out = dir.join("out.txt");
    let mut cmd = Command::new(bin);
    cmd.arg("run")
        .arg(&case.props)
        .arg("-w")
        .arg(case.workers.to_string())
        .arg("--snapshot-dir")
        .arg(dir.join("snaps"))
        .arg("--until-idle")
        .arg(format!("{UNTIL_IDLE_MS}ms"))
        .args(&case.extra)
        .stderr(Stdio::null());
    match case.output {
        Output::File => {
            cmd.arg("--output").arg(&out).stdout(Stdio::null());
        }
        Output::Stdout => {
            cmd.arg("--output").arg("-").stdout(Stdio::piped());
        }
    }
    // What earlier runs wrote goes to disk now, not during this run.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn the CLI");
    let produced = match case.output {
        Output::File => None,
        Output::Stdout => Some(count_lines(child.stdout.take().expect("piped"))),
    };
    let (status, rss_kib) = wait_rss(&mut child);
    let secs = start.elapsed().as_secs_f64() - UNTIL_IDLE_MS as f64 / 1000.0;
    assert!(
        status == 0,
        "{}: {} exited with {status}",
        case.name,
        bin.display()
    );
    let produced = produced
        .unwrap_or_else(|| count_lines(fs::File::open(&out).expect("the job's output file")));
    assert_eq!(
        produced,
        case.count,
        "{}: {} records",
        case.name,
        bin.display()
    );
    Sample { secs, rss_kib }
}

/// Newlines read from `r` (the stdout pipe is drained as /dev/null would be).
fn count_lines(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return n,
            Ok(k) => n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the job's output: {e}"),
        }
    }
}

/// Waits for `child`; its exit code (or 128 + signal) and peak RSS in KiB.
fn wait_rss(child: &mut Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our un-reaped child; both pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4: {}", std::io::Error::last_os_error());
    let code = std::process::ExitStatus::from_raw(status);
    let code = code
        .code()
        .unwrap_or_else(|| 128 + code.signal().unwrap_or(0));
    (code, usage.ru_maxrss as u64)
}

fn props(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(format!("{name}.properties"));
    fs::write(&path, lines.join("\n") + "\n").expect("write properties");
    path
}

fn datagen_props(dir: &Path, name: &str, tasks: u32, records: u64) -> PathBuf {
    props(
        dir,
        name,
        &[
            format!("name={name}"),
            "connector.class=Datagen".into(),
            "quickstart=orders".into(),
            "partitions=4".into(),
            format!("tasks.max={tasks}"),
            format!("max.messages={records}"),
            "seed=42".into(),
            "value.converter=org.apache.kafka.connect.json.JsonConverter".into(),
            "value.converter.schemas.enable=false".into(),
        ],
    )
}

struct Summary {
    median: f64,
    min: f64,
    max: f64,
    rss_kib: u64,
}

fn summarize(samples: &[Sample], count: u64) -> Summary {
    let rates: Vec<f64> = samples.iter().map(|s| count as f64 / s.secs).collect();
    Summary {
        median: median(rates.clone()),
        min: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max: rates.iter().copied().fold(0.0, f64::max),
        rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0),
    }
}

fn mega(x: f64) -> String {
    format!("{:.2} M", x / 1e6)
}

/// Time from spawn to the first record on stdout, restoring a snapshot
/// with `partitions` source partitions (Datagen, one record each, then
/// one more round after the restore).
fn restore_first_record(
    bin: &Path,
    work: &Path,
    partitions: u64,
    reps: usize,
) -> Result<Vec<f64>, String> {
    let dir = work.join("restore");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("restore dir");
    let base = |max: u64| {
        vec![
            "name=wide".to_owned(),
            "connector.class=Datagen".into(),
            "quickstart=orders".into(),
            format!("partitions={partitions}"),
            "tasks.max=1".into(),
            format!("max.messages={max}"),
            "seed=1".into(),
        ]
    };
    let first = props(&dir, "first", &base(partitions));
    let second = props(&dir, "second", &base(2 * partitions));
    let snaps = dir.join("snaps");
    let status = Command::new(bin)
        .args(["run"])
        .arg(&first)
        .arg("--snapshot-dir")
        .arg(&snaps)
        .args(["--until-idle", "200ms", "--output"])
        .arg(dir.join("first.txt"))
        .stderr(Stdio::null())
        .status()
        .expect("spawn the CLI");
    if !status.success() {
        return Err("the first run failed".into());
    }
    let made = count_lines(fs::File::open(dir.join("first.txt")).map_err(|e| e.to_string())?);
    if made != partitions {
        return Err(format!(
            "the first run wrote {made} records, not one per partition ({partitions})"
        ));
    }
    let mut times = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("run")
            .arg(&second)
            .arg("--snapshot-dir")
            .arg(&snaps)
            .args(["--output", "-", "--until-idle", "200ms"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the CLI");
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read the first record");
        let first_record = start.elapsed().as_secs_f64();
        if n == 0 {
            let _ = child.wait();
            return Err("no record after the restore".into());
        }
        assert!(
            line.contains("\"seq\":1"),
            "the first record after the restore is seq 1: {line}"
        );
        // A stdout job is at least once and keeps no offsets past the
        // snapshot it restored from; stop it so every rep restores the same.
        // SAFETY: plain kill(2) of our child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        times.push(first_record);
    }
    Ok(times)
}

fn main() {
    let opts = options();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_timely-connect"));
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in.txt");
    let mut cases = Vec::new();
    let file = props(
        work.path(),
        "file",
        &[
            "name=bench".into(),
            "connector.class=FileStreamSource".into(),
            format!("file={}", input.display()),
            "topic=t".into(),
        ],
    );
    let file_case = |name, label, workers, extra: &[&str], output| Case {
        name,
        label,
        props: file.clone(),
        workers,
        extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        output,
        count: opts.lines,
        unit: "lines",
    };
    cases.push(file_case(
        "file-1w",
        "file -> exactly-once file, 1 worker (snapshots 1 s)",
        1,
        &["--snapshot-interval", "1s"],
        Output::File,
    ));
    cases.push(file_case(
        "file-2w",
        "same, 2 workers (one task)",
        2,
        &["--snapshot-interval", "1s"],
        Output::File,
    ));
    cases.push(file_case(
        "stdout",
        "file -> --output - (stdout, a pipe drained)",
        1,
        &["--snapshot-interval", "1s"],
        Output::Stdout,
    ));
    // A run is shorter than a second here, so snapshots every second
    // would never happen: the comparison takes one every 100 ms (ten times
    // the rate of the issue's row) against none before the final one.
    cases.push(file_case(
        "file-snap-100ms",
        "file -> file, 1 worker, snapshots every 100 ms",
        1,
        &["--snapshot-interval", "100ms"],
        Output::File,
    ));
    cases.push(file_case(
        "file-snap-off",
        "file -> file, 1 worker, snapshots off (1 h)",
        1,
        &["--snapshot-interval", "1h"],
        Output::File,
    ));
    let dg = datagen_props(work.path(), "dg", 4, opts.records);
    let dg1 = datagen_props(work.path(), "dg1", 1, opts.records);
    for (name, label, props, workers) in [
        (
            "datagen-1w-1t",
            "Datagen orders -> JSON file, 1 worker, 1 task",
            dg1,
            1,
        ),
        (
            "datagen-1w",
            "Datagen orders -> JSON file, 1 worker, 4 tasks",
            dg.clone(),
            1,
        ),
        ("datagen-2w", "Datagen, 2 workers, 4 tasks", dg.clone(), 2),
    ] {
        cases.push(Case {
            name,
            label,
            props,
            workers,
            extra: vec!["--snapshot-interval".into(), "1s".into()],
            output: Output::File,
            count: opts.records,
            unit: "records",
        });
    }
    if opts.list {
        for c in &cases {
            println!("{:14} {}", c.name, c.label);
        }
        println!(
            "{:14} peak RSS at 1x and {}x the lines",
            "memory", opts.mem_scale
        );
        println!(
            "{:14} restore with {} partitions: first record",
            "restore", opts.partitions
        );
        return;
    }
    let wanted = |name: &str| {
        opts.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|w| w == name))
    };
    cases.retain(|c| wanted(c.name));

    generate(&input, opts.lines);
    // On disk before any run, so no run pays for writing it back.
    fs::File::open(&input)
        .and_then(|f| f.sync_all())
        .expect("sync the input");
    // Into the page cache, through a small buffer: a child's peak RSS
    // (`wait4`) starts from this process's high-water mark, so this
    // process must stay small.
    count_lines(fs::File::open(&input).expect("input"));
    println!(
        "{} lines of {LINE_BYTES} B, {} Datagen records, {} reps, load average before: {}",
        opts.lines,
        opts.records,
        opts.reps,
        load_average()
    );
    let mut bins = vec![("ours", bin.clone())];
    if let Some(b) = &opts.baseline {
        bins.push(("baseline", b.clone()));
    }
    // One unmeasured run per build first (page cache, first-run costs).
    if let Some(first) = cases.first() {
        for (_, b) in &bins {
            run_once(b, first, &work.path().join("run"));
        }
    }
    // samples[case][bin]
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); bins.len()]; cases.len()];
    for rep in 0..opts.reps {
        for (ci, case) in cases.iter().enumerate() {
            // Alternate which build goes first.
            let order: Vec<usize> = if rep % 2 == 0 {
                (0..bins.len()).collect()
            } else {
                (0..bins.len()).rev().collect()
            };
            for bi in order {
                let s = run_once(&bins[bi].1, case, &work.path().join("run"));
                eprintln!(
                    "rep {} {:14} {:8} {:>9}/s  {:6.3} s  rss {} MiB",
                    rep + 1,
                    case.name,
                    bins[bi].0,
                    mega(case.count as f64 / s.secs),
                    s.secs,
                    s.rss_kib / 1024
                );
                samples[ci][bi].push(s);
            }
        }
    }
    println!();
    println!("| case | build | median/s | min..max | peak RSS | vs baseline |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut medians = std::collections::HashMap::new();
    for (ci, case) in cases.iter().enumerate() {
        let ours = summarize(&samples[ci][0], case.count);
        for (bi, (who, _)) in bins.iter().enumerate() {
            let s = summarize(&samples[ci][bi], case.count);
            medians.insert((case.name, *who), s.median);
            println!(
                "| {} | {who} | {} {} | {}..{} | {} MiB | {:.2} |",
                case.label,
                mega(s.median),
                case.unit,
                mega(s.min),
                mega(s.max),
                s.rss_kib / 1024,
                ours.median / s.median
            );
        }
    }
    for (who, _) in &bins {
        let ratio = |a: &str, b: &str| Some(medians.get(&(a, *who))? / medians.get(&(b, *who))?);
        if let Some(r) = ratio("file-2w", "file-1w") {
            println!("{who}: 2 workers / 1 worker (file)        = {r:.2}  (goal >= 1.00)");
        }
        if let Some(r) = ratio("datagen-2w", "datagen-1w") {
            println!("{who}: Datagen 2 workers / 1 worker, 4 tasks each = {r:.2}  (goal >= 1.90)");
        }
        if let Some(r) = ratio("datagen-2w", "datagen-1w-1t") {
            println!("{who}: Datagen 2 workers, 4 tasks / 1 worker, 1 task = {r:.2}");
        }
        if let Some(r) = ratio("file-snap-100ms", "file-snap-off") {
            println!("{who}: snapshots every 100 ms / off    = {r:.3} (goal >= 0.97)");
        }
    }

    let scale_wanted = wanted("memory") || wanted("snapshots");
    if opts.mem_scale > 0 && scale_wanted {
        // K copies of the input as one file: peak RSS must not grow with
        // it, and a run long enough for several snapshots a second apart.
        let big = work.path().join("big.txt");
        {
            let mut out = fs::File::create(&big).expect("big input");
            for _ in 0..opts.mem_scale {
                std::io::copy(&mut fs::File::open(&input).expect("input"), &mut out).expect("copy");
            }
            out.sync_all().expect("sync the big input");
        }
        let big_props = props(
            work.path(),
            "big",
            &[
                "name=big".into(),
                "connector.class=FileStreamSource".into(),
                format!("file={}", big.display()),
                "topic=t".into(),
            ],
        );
        let big_case = |interval: &str| Case {
            name: "big",
            label: "",
            props: big_props.clone(),
            workers: 1,
            extra: vec!["--snapshot-interval".into(), interval.to_owned()],
            output: Output::File,
            count: opts.lines * opts.mem_scale,
            unit: "lines",
        };
        let small = file_case(
            "memory",
            "",
            1,
            &["--snapshot-interval", "1s"],
            Output::File,
        );
        // [bin] -> (rss at 1x, rss at Kx, secs with snapshots 1 s, secs off)
        let mut rss_one = vec![Vec::new(); bins.len()];
        let mut rss_many = vec![Vec::new(); bins.len()];
        let mut on = vec![Vec::new(); bins.len()];
        let mut off = vec![Vec::new(); bins.len()];
        let big_reps = opts.reps.div_ceil(2).max(2);
        for rep in 0..big_reps {
            let order: Vec<usize> = if rep % 2 == 0 {
                (0..bins.len()).collect()
            } else {
                (0..bins.len()).rev().collect()
            };
            for bi in order {
                let b = &bins[bi].1;
                let dir = work.path().join("run");
                if wanted("memory") {
                    rss_one[bi].push(run_once(b, &small, &dir).rss_kib);
                }
                let s_on = run_once(b, &big_case("1s"), &dir);
                rss_many[bi].push(s_on.rss_kib);
                on[bi].push(s_on.secs);
                if wanted("snapshots") {
                    off[bi].push(run_once(b, &big_case("1h"), &dir).secs);
                }
                eprintln!(
                    "rep {} big ({}x) {:8} snapshots 1 s {:.3} s  off {:.3} s",
                    rep + 1,
                    opts.mem_scale,
                    bins[bi].0,
                    s_on.secs,
                    off[bi].last().copied().unwrap_or(f64::NAN)
                );
            }
        }
        let _ = fs::remove_file(&big);
        println!();
        let big_lines = (opts.lines * opts.mem_scale) as f64;
        for (bi, (who, _)) in bins.iter().enumerate() {
            if wanted("memory") {
                let one = rss_one[bi].iter().copied().max().unwrap_or(0);
                let many = rss_many[bi].iter().copied().max().unwrap_or(0);
                println!(
                    "{who}: peak RSS {} MiB at {} lines, {} MiB at {}x: ratio {:.2}  (goals <= 40 MiB, <= 1.10)",
                    one / 1024,
                    opts.lines,
                    many / 1024,
                    opts.mem_scale,
                    many as f64 / one.max(1) as f64
                );
            }
            if wanted("snapshots") {
                let (m_on, m_off) = (median(on[bi].clone()), median(off[bi].clone()));
                println!(
                    "{who}: {}x input, snapshots every 1 s {} lines/s, off {} lines/s: ratio {:.3}  (goal >= 0.97)",
                    opts.mem_scale,
                    mega(big_lines / m_on),
                    mega(big_lines / m_off),
                    m_off / m_on
                );
            }
        }
    }

    if wanted("restore") {
        println!();
        for (who, b) in &bins {
            let times = match restore_first_record(b, work.path(), opts.partitions, opts.reps) {
                Ok(times) => times,
                Err(why) => {
                    println!("{who}: restore with {} partitions: {why}", opts.partitions);
                    continue;
                }
            };
            println!(
                "{who}: restore with {} partitions, first record after {:.3} s (median of {}; min {:.3}, max {:.3}; goal <= 1 s)",
                opts.partitions,
                median(times.clone()),
                times.len(),
                times.iter().copied().fold(f64::INFINITY, f64::min),
                times.iter().copied().fold(0.0, f64::max)
            );
        }
    }
    println!("load average after: {}", load_average());
}
