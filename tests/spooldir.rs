//! The spool-directory source through the CLI: files land in a directory
//! while a 2-process × 2-worker job runs and is SIGKILLed at random
//! instants; every file's lines reach the exactly-once output once, and
//! every file ends up in `finished.path`, moved only after a durable
//! snapshot recorded it finished.
//!
//! `TEST_SEED=S` replays a run (it prints its seed).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 240;

fn run_args(props: &Path, dir: &Path) -> Vec<OsString> {
    restartable_run_args(props, dir.join("snaps"), &dir.join("out.txt"), "1500ms")
}

/// Writes `FILES` files into `input`, each complete before it appears
/// (written under a leading `.`, then renamed), at random moments over
/// about four seconds. Returns every line written, by file.
fn land_files(input: PathBuf, seed: u64, stop: Arc<AtomicBool>) -> BTreeMap<String, Vec<String>> {
    let mut rng = Rng::new(seed);
    let mut written = BTreeMap::new();
    for i in 0..FILES {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let name = format!("f{i:04}.txt");
        let lines: Vec<String> = (0..rng.range(1, 400))
            .map(|j| format!("{name}:{j}"))
            .collect();
        let temp = input.join(format!(".{name}"));
        std::fs::write(
            &temp,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .expect("write a file");
        std::fs::rename(&temp, input.join(&name)).expect("land a file");
        written.insert(name, lines);
        std::thread::sleep(Duration::from_millis(rng.range(0, 35)));
    }
    written
}

#[test]
fn files_landing_while_a_2x2_job_is_killed_at_random_are_each_read_exactly_once() {
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed} (replay: TEST_SEED={seed})");
    let mut rng = Rng::new(seed);
    let dir = tempdir();
    let input = dir.path().join("in");
    let done = dir.path().join("done");
    std::fs::create_dir_all(&input).unwrap();
    let props = write_props(
        &dir.path().join("spool.properties"),
        &[
            ("name", "spool"),
            ("connector.class", "SpoolDirSource"),
            ("input.path", input.to_str().unwrap()),
            ("finished.path", done.to_str().unwrap()),
            ("input.file.pattern", "f[0-9]+[.]txt"),
            ("topic", "lines"),
            ("tasks.max", "3"),
            ("batch.size", "50"),
            ("empty.poll.wait.ms", "50"),
        ],
    );
    let args = run_args(&props, dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (input, stop, seed) = (input.clone(), stop.clone(), rng.next_u64());
        std::thread::spawn(move || land_files(input, seed, stop))
    };
    // Runs killed at random instants while files land.
    let started = Instant::now();
    for k in 0..3 {
        let kill_at = Duration::from_millis(rng.range(400, 1800));
        let run_started = Instant::now();
        let mut procs = spawn_cluster(dir.path(), &args, 2, 2, &[]);
        while run_started.elapsed() < kill_at && !procs.iter_mut().any(|p| p.has_exited()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let victim = rng.below(2) as usize;
        let first = procs.remove(victim);
        first.kill();
        std::thread::sleep(Duration::from_millis(rng.range(0, 200)));
        for f in kill_all(procs) {
            assert!(
                !f.stderr.contains("panicked"),
                "a process panicked:\n{}",
                f.stderr
            );
        }
        eprintln!(
            "  run {k}: SIGKILLed at {kill_at:?} ({:?} in)",
            started.elapsed()
        );
    }
    let written = writer.join().expect("writer");
    stop.store(true, Ordering::SeqCst);
    // The last run reads what is left and stops once idle.
    let finished = run_cluster_ok(dir.path(), &args, 2, 2, &[]);
    eprintln!(
        "  final run: {}",
        finished[0]
            .stderr
            .lines()
            .rfind(|l| l.starts_with("done:"))
            .unwrap_or("?")
    );

    let out = String::from_utf8(read(&dir.path().join("out.txt"))).unwrap();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in out.lines() {
        *seen.entry(line).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "lines read twice: {twice:?}");
    let expected: usize = written.values().map(Vec::len).sum();
    let missing: Vec<&String> = written
        .values()
        .flatten()
        .filter(|l| !seen.contains_key(l.as_str()))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "lines lost: {missing:?}");
    assert_eq!(seen.len(), expected, "lines that no file holds");
    // Every file was moved, once its last line was durable.
    let left: Vec<_> = std::fs::read_dir(&input).unwrap().flatten().collect();
    assert!(left.is_empty(), "files left in input.path: {left:?}");
    for name in written.keys() {
        assert!(done.join(name).exists(), "{name} not in finished.path");
    }
    eprintln!(
        "{} files, {expected} lines, exactly once, in {:?}",
        written.len(),
        started.elapsed()
    );
}
