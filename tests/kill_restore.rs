//! kill -9 and restore: a 2-process × 2-worker job on localhost is SIGKILLed
//! at a random moment (one process first, then the rest), possibly again
//! after a restart, and finally restarted with `--restore latest` until it
//! finishes. The output must be exactly the expected records.
//!
//! `KILL_TRIALS=N` sets the number of randomized trials per scenario
//! (default 5); `TEST_SEED=S` replays a trial (each trial prints its seed).
//! `scripts/kill-trials.sh N` runs many.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const PROCESSES: usize = 2;
const WORKERS: usize = 2;
const MAX_MESSAGES: u64 = 30_000;
const PARTITIONS: u32 = 4;

fn trials() -> u64 {
    std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// Seeds of the trials: the first is the master seed itself, so
/// `TEST_SEED=<a trial's seed> KILL_TRIALS=1` replays that trial.
fn trial_seeds() -> Vec<u64> {
    let master = Rng::seed_from_env_or_clock();
    (0..trials())
        .map(|i| master.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect()
}

fn run_args(props: &Path, dir: &Path) -> Vec<OsString> {
    restartable_run_args(props, dir.join("snaps"), &dir.join("out.txt"), "1s")
}

/// Starts the job, SIGKILLs one process at a random moment (0.3–3 s after
/// start), then the others after a random short delay. Returns a line
/// describing what happened. If the job finished before the kill moment,
/// every process must have exited 0.
fn start_and_kill(dir: &Path, args: &[OsString], rng: &mut Rng, label: &str) -> String {
    let kill_at = Duration::from_millis(rng.range(300, 3000));
    let victim = rng.below(PROCESSES as u64) as usize;
    let rest_after = Duration::from_millis(rng.range(0, 400));
    let started = Instant::now();
    let mut procs = spawn_cluster(dir, args, PROCESSES, WORKERS, &[]);
    while started.elapsed() < kill_at {
        if procs.iter_mut().all(|p| p.has_exited()) {
            let finished = wait_cluster(procs, RUN_TIMEOUT);
            for (i, f) in finished.iter().enumerate() {
                assert!(
                    f.success(),
                    "{label}: process {i} failed before it was killed ({}):\n{}",
                    f.status,
                    stderr_digest(&f.stderr)
                );
            }
            return format!(
                "{label}: finished by itself after {:?}, before the kill at {kill_at:?}",
                started.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let victim_proc = procs.remove(victim);
    victim_proc.kill();
    std::thread::sleep(rest_after);
    kill_all(procs);
    format!("{label}: SIGKILLed process {victim} at {kill_at:?}, the other {rest_after:?} later")
}

/// Runs one trial's kills and the final restore; the caller checks the output.
fn kill_and_restore(dir: &Path, args: &[OsString], rng: &mut Rng, log: &mut Vec<String>) {
    let kills = if rng.chance(1, 3) { 2 } else { 1 };
    for k in 0..kills {
        let line = start_and_kill(dir, args, rng, &format!("run {k}"));
        eprintln!("    {line}");
        log.push(line);
    }
    final_run(dir, args, log);
}

/// Restarts every process with `--restore latest` until it stops by itself,
/// and logs what process 0 reported.
fn final_run(dir: &Path, args: &[OsString], log: &mut Vec<String>) {
    let started = Instant::now();
    let finished = run_cluster_ok(dir, args, PROCESSES, WORKERS, &[]);
    let line = format!(
        "final run with --restore latest: {:?}; process 0 said: {}",
        started.elapsed(),
        finished[0]
            .stderr
            .lines()
            .rfind(|l| l.starts_with("done:"))
            .unwrap_or("?")
    );
    eprintln!("    {line}");
    log.push(line);
}

fn fail_trial(dir: tempfile::TempDir, seed: u64, log: &[String], problem: &str) -> ! {
    let kept: PathBuf = dir.keep();
    panic!(
        "trial with seed {seed} failed (replay: TEST_SEED={seed} KILL_TRIALS=1): {problem}\n{}\nfiles kept in {}",
        log.join("\n"),
        kept.display()
    );
}

#[test]
fn datagen_2x2_killed_and_restored_gives_every_partition_seq_exactly_once() {
    let seeds = trial_seeds();
    let all = Instant::now();
    for (t, seed) in seeds.iter().copied().enumerate() {
        let mut rng = Rng::new(seed);
        let dir = tempdir();
        let data_seed = rng.below(1_000_000).to_string();
        let quickstart = if rng.chance(1, 2) { "orders" } else { "users" };
        let props = write_props(
            &dir.path().join("datagen.properties"),
            &[
                ("name", "kill-datagen"),
                ("connector.class", "Datagen"),
                ("quickstart", quickstart),
                ("partitions", &PARTITIONS.to_string()),
                ("max.messages", &MAX_MESSAGES.to_string()),
                ("messages.per.second", "10000"),
                ("tasks.max", "4"),
                ("seed", &data_seed),
            ],
        );
        eprintln!("datagen trial {t}: seed {seed} ({quickstart}, data seed {data_seed})");
        let args = run_args(&props, dir.path());
        let mut log = Vec::new();
        kill_and_restore(dir.path(), &args, &mut rng, &mut log);
        if let Err(problem) =
            check_datagen_output(&dir.path().join("out.txt"), MAX_MESSAGES, PARTITIONS)
        {
            fail_trial(dir, seed, &log, &problem);
        }
    }
    eprintln!(
        "{} datagen trials passed in {:?}",
        seeds.len(),
        all.elapsed()
    );
}

#[test]
fn file_source_2x2_killed_and_restored_while_the_file_grows_gives_output_equal_to_input() {
    let seeds = trial_seeds();
    let all = Instant::now();
    for (t, seed) in seeds.iter().copied().enumerate() {
        let mut rng = Rng::new(seed ^ 0xF11E);
        let dir = tempdir();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, varied_lines(&mut rng, 0, 100_000)).expect("write input");
        let props = write_props(
            &dir.path().join("file.properties"),
            &[
                ("name", "kill-file"),
                ("connector.class", "FileStreamSource"),
                ("file", input.to_str().expect("utf-8 path")),
                ("topic", "lines"),
            ],
        );
        eprintln!("file trial {t}: seed {seed}");

        // The file grows for ~2.5 s, through the kills; the final run starts
        // once it has stopped growing.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let input = input.clone();
            let stop = stop.clone();
            let mut wrng = Rng::new(rng.next_u64());
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&input)
                    .expect("open input");
                let mut next = 1_000_000u64;
                let until = Instant::now() + Duration::from_millis(2500);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    let n = wrng.range(1, 4000);
                    f.write_all(&varied_lines(&mut wrng, next, n))
                        .expect("append");
                    next += n;
                    std::thread::sleep(Duration::from_millis(wrng.range(5, 60)));
                }
            })
        };
        let args = run_args(&props, dir.path());
        let mut log = Vec::new();
        let kills = if rng.chance(1, 3) { 2 } else { 1 };
        for k in 0..kills {
            let line = start_and_kill(dir.path(), &args, &mut rng, &format!("run {k}"));
            eprintln!("    {line}");
            log.push(line);
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer thread");
        final_run(dir.path(), &args, &mut log);

        let expected = read(&input);
        let actual = read(&dir.path().join("out.txt"));
        if expected != actual {
            let problem =
                std::panic::catch_unwind(|| assert_same_bytes(&expected, &actual, "file trial"))
                    .err()
                    .and_then(|e| e.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
            fail_trial(dir, seed, &log, &problem);
        }
    }
    eprintln!("{} file trials passed in {:?}", seeds.len(), all.elapsed());
}
