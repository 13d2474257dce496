//! Exactly-once across SIGKILL for Java connectors run through the JVM
//! bridge: Kafka's FileStreamSourceConnector while its file grows, and a
//! two-task test connector on two processes, restored on another layout
//! (one process, two workers). Each trial kills at random instants;
//! `TEST_SEED` replays one, `KILL_TRIALS` sets how many.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::java::{installed_plugins, test_plugins};
use common::*;

fn trials() -> u64 {
    std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

fn run_args(props: &Path, dir: &Path) -> Vec<OsString> {
    args![
        "run",
        props,
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "100ms",
        "--output",
        dir.join("out.txt"),
        "--until-idle",
        "1500ms",
        "--plugin-path",
        format!(
            "{},{}",
            installed_plugins().display(),
            test_plugins().display()
        ),
    ]
}

/// Starts the job on `processes` × `workers`, SIGKILLs every process at a
/// random instant; returns what happened.
fn start_and_kill(
    dir: &Path,
    args: &[OsString],
    rng: &mut Rng,
    processes: usize,
    workers: usize,
) -> String {
    let kill_at = Duration::from_millis(rng.range(400, 2500));
    let started = Instant::now();
    let mut procs = spawn_cluster(dir, args, processes, workers, &[]);
    while started.elapsed() < kill_at {
        if procs.iter_mut().all(|p| p.has_exited()) {
            for f in wait_cluster(procs, RUN_TIMEOUT) {
                assert!(
                    f.success(),
                    "failed before the kill:\n{}",
                    stderr_digest(&f.stderr)
                );
            }
            return format!("finished by itself before the kill at {kill_at:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_all(procs);
    format!("SIGKILLed at {kill_at:?}")
}

/// ASCII lines (Kafka's FileStreamSourceTask keeps its position in UTF-16
/// units but seeks in bytes, which agree only on ASCII).
fn ascii_lines(rng: &mut Rng, first: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in first..first + count {
        let pad = "0123456789".repeat(rng.below(8) as usize);
        out.extend_from_slice(format!("line {i} {pad}\n").as_bytes());
    }
    out
}

#[test]
fn kafka_file_connector_killed_at_random_instants_gives_output_equal_to_input() {
    let master = Rng::seed_from_env_or_clock();
    for t in 0..trials() {
        let seed = master.wrapping_add(t.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = Rng::new(seed);
        let dir = tempdir();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, ascii_lines(&mut rng, 0, 50_000)).unwrap();
        let file_props = |file: &str, batch_size: &str| {
            write_props(
                &dir.path().join(file),
                &[
                    ("name", "java-kill-file"),
                    (
                        "connector.class",
                        "org.apache.kafka.connect.file.FileStreamSourceConnector",
                    ),
                    ("connector.runtime", "jvm"),
                    ("file", input.to_str().unwrap()),
                    ("topic", "lines"),
                    ("batch.size", batch_size),
                ],
            )
        };
        let props = file_props("file.properties", "500");
        let args = run_args(&props, dir.path());
        let mut log = vec![format!("seed {seed}")];
        let mut next = 1_000_000;
        for _ in 0..2 {
            log.push(start_and_kill(dir.path(), &args, &mut rng, 1, 1));
            // The file grows between runs.
            let n = rng.range(1, 20_000);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&input)
                .unwrap();
            f.write_all(&ascii_lines(&mut rng, next, n)).unwrap();
            next += n;
        }
        // Kafka's FileStreamSourceTask returns a batch as soon as it holds
        // `batch.size` records, leaving the rest of its read buffer for the
        // next poll; at the end of the file that poll sees nothing ready
        // and keeps those lines until the file grows again, so a job that
        // stops when idle can end without them (Kafka Connect does the
        // same). The last run therefore takes batches larger than the file:
        // a poll then reads until nothing is ready and returns every line.
        let last_props = file_props("file-last.properties", "1000000");
        run_cluster_ok(dir.path(), &run_args(&last_props, dir.path()), 1, 1, &[]);
        let expected = read(&input);
        let actual = read(&dir.path().join("out.txt"));
        if expected != actual {
            let kept = dir.keep();
            eprintln!("{}\nfiles kept in {}", log.join("\n"), kept.display());
            assert_same_bytes(&expected, &actual, "Java file connector after SIGKILLs");
        }
        eprintln!("trial {t}: {}", log.join("; "));
    }
}

#[test]
fn java_connector_with_two_tasks_on_two_processes_rescales_on_restore_exactly_once() {
    const PER_TASK: u64 = 4000;
    let master = Rng::seed_from_env_or_clock();
    for t in 0..trials() {
        let seed = master.wrapping_add(t.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = Rng::new(seed);
        let dir = tempdir();
        let props = write_props(
            &dir.path().join("two.properties"),
            &[
                ("name", "java-two-tasks"),
                ("connector.class", "com.example.tc.FailingSourceConnector"),
                ("tasks", "2"),
                ("tasks.max", "2"),
                ("count", &PER_TASK.to_string()),
            ],
        );
        let args = run_args(&props, dir.path());
        let mut log = vec![format!("seed {seed}")];
        // Two processes of one worker: task i on process i.
        log.push(start_and_kill(dir.path(), &args, &mut rng, 2, 1));
        // Restored on one process with two workers.
        run_cluster_ok(dir.path(), &args, 1, 2, &[]);
        let out = String::from_utf8(read(&dir.path().join("out.txt"))).unwrap();
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for line in out.lines() {
            *seen.entry(line.to_owned()).or_default() += 1;
        }
        let mut problems = Vec::new();
        for task in 0..2 {
            for n in 0..PER_TASK {
                let line = format!("task {task} after 0 retries: {n}");
                match seen.remove(&line) {
                    Some(1) => {}
                    Some(c) => problems.push(format!("`{line}` {c} times")),
                    None => problems.push(format!("`{line}` missing")),
                }
            }
        }
        problems.extend(seen.keys().map(|l| format!("unexpected `{l}`")));
        if !problems.is_empty() {
            let kept = dir.keep();
            panic!(
                "{}: {} problems, first: {:?}; files kept in {}",
                log.join("; "),
                problems.len(),
                &problems[..problems.len().min(5)],
                kept.display()
            );
        }
        eprintln!("trial {t}: {}", log.join("; "));
    }
}
