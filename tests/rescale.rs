//! Rescaling across a restore: offsets are keyed by source partition, so a
//! snapshot taken with W workers and T tasks restores with any W' and T'
//! (and with fewer processes), and the output still has every record once.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const MAX_MESSAGES: u64 = 16_000;
const PARTITIONS: u32 = 4;
const RATE: &str = "5000";

fn datagen_props(path: &Path, tasks_max: &str) -> PathBuf {
    write_props(
        path,
        &[
            ("name", "rescale"),
            ("connector.class", "Datagen"),
            ("quickstart", "orders"),
            ("partitions", &PARTITIONS.to_string()),
            ("max.messages", &MAX_MESSAGES.to_string()),
            ("messages.per.second", RATE),
            ("tasks.max", tasks_max),
            ("seed", "7"),
        ],
    )
}

fn run_args(props: &Path, snaps: &Path, out: &Path) -> Vec<OsString> {
    args![
        "run",
        props,
        "--snapshot-dir",
        snaps,
        "--snapshot-interval",
        "200ms",
        "--restore",
        "latest",
        "--output",
        out,
        "--until-idle",
        "1s",
    ]
}

/// The newest valid snapshot's offsets: datagen partition → last seq.
fn snapshot_seqs(snaps: &Path) -> BTreeMap<u32, u64> {
    let shown = run_ok(&args!["snapshots", "show", "--snapshot-dir", snaps], &[]);
    let json: serde_json::Value =
        serde_json::from_str(&shown.stdout).expect("snapshots show prints JSON");
    let mut seqs = BTreeMap::new();
    for entry in json["offsets"].as_array().expect("offsets array") {
        let p = entry["partition"]["partition"]
            .as_u64()
            .expect("partition number") as u32;
        let s = entry["offset"]["seq"].as_u64().expect("seq");
        seqs.insert(p, s);
    }
    seqs
}

/// How many records a run restored from `seqs` must emit.
fn remaining(seqs: &BTreeMap<u32, u64>) -> u64 {
    (0..PARTITIONS)
        .map(|p| {
            let len = datagen_partition_len(p, PARTITIONS, MAX_MESSAGES);
            len - seqs.get(&p).map_or(0, |s| s + 1)
        })
        .sum()
}

/// Runs the job on `processes` × `workers` and SIGKILLs it ~1.5 s in, so a
/// mid-stream snapshot is on disk. Returns the offsets in it.
fn make_mid_stream_snapshot(dir: &Path, processes: usize, workers: usize) -> BTreeMap<u32, u64> {
    let props = datagen_props(&dir.join("base.properties"), "4");
    let snaps = dir.join("snaps");
    let args = run_args(&props, &snaps, &dir.join("out.txt"));
    let started = Instant::now();
    let procs = spawn_cluster(dir, &args, processes, workers, &[]);
    // Kill once a snapshot exists and at least ~1.5 s have passed.
    let deadline = started + Duration::from_secs(20);
    while started.elapsed() < Duration::from_millis(1500) || snapshot_files(&snaps).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no snapshot appeared within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = kill_all(procs);
    assert!(
        killed.iter().all(|f| !f.success()),
        "the job finished before it was killed; it should run ~3 s:\n{}",
        stderr_digest(&killed[0].stderr)
    );

    let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &snaps], &[]);
    let valid = listed
        .stdout
        .lines()
        .filter(|l| l.contains("snapshot-") && !l.contains("INVALID"))
        .count();
    assert!(
        valid >= 1,
        "`snapshots list` shows no valid snapshot:\n{}",
        listed.stdout
    );

    let seqs = snapshot_seqs(&snaps);
    let left = remaining(&seqs);
    assert!(
        left > 0 && left < MAX_MESSAGES,
        "the snapshot should be mid-stream (some but not all records covered); offsets {seqs:?}"
    );
    seqs
}

/// Restores a copy of `base`'s snapshot dir and output with the given
/// shape; checks the output and that exactly the records after the
/// snapshot were emitted.
fn restore_copy(
    base: &Path,
    name: &str,
    processes: usize,
    workers: usize,
    tasks_max: &str,
    expected: u64,
) -> Result<(), String> {
    let dir = base.join(name);
    std::fs::create_dir_all(&dir).expect("variant dir");
    copy_dir(&base.join("snaps"), &dir.join("snaps"));
    std::fs::copy(base.join("out.txt"), dir.join("out.txt")).expect("copy output");
    let props = datagen_props(&dir.join("restore.properties"), tasks_max);
    let args = run_args(&props, &dir.join("snaps"), &dir.join("out.txt"));
    let finished = wait_cluster(
        spawn_cluster(&dir, &args, processes, workers, &[]),
        RUN_TIMEOUT,
    );
    for (i, f) in finished.iter().enumerate() {
        if !f.success() {
            return Err(format!(
                "{name}: process {i} failed ({}):\n{}",
                f.status,
                stderr_digest(&f.stderr)
            ));
        }
    }
    check_datagen_output(&dir.join("out.txt"), MAX_MESSAGES, PARTITIONS)
        .map_err(|e| format!("{name}: {e}"))?;
    if processes == 1 {
        let done = records_done(&finished[0].stderr);
        if done != Some(expected) {
            return Err(format!(
                "{name}: the restored run emitted {done:?} records, expected exactly the {expected} after the snapshot"
            ));
        }
    }
    Ok(())
}

#[test]
fn snapshot_of_4_workers_4_tasks_restores_with_1_worker_3_workers_and_tasks_max_2() {
    let dir = tempdir();
    let seqs = make_mid_stream_snapshot(dir.path(), 1, 4);
    let expected = remaining(&seqs);
    eprintln!("mid-stream snapshot offsets {seqs:?}; {expected} records after it");

    // The three restores run at the same time, each on its own copy.
    let base = dir.path().to_path_buf();
    let variants: Vec<(&str, usize, &str)> = vec![
        ("one-worker", 1, "4"),
        ("three-workers", 3, "4"),
        ("two-tasks", 4, "2"),
    ];
    let handles: Vec<_> = variants
        .into_iter()
        .map(|(name, workers, tasks)| {
            let base = base.clone();
            std::thread::spawn(move || restore_copy(&base, name, 1, workers, tasks, expected))
        })
        .collect();
    let problems: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())).err())
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn snapshot_of_2_processes_restores_with_1_process() {
    let dir = tempdir();
    let seqs = make_mid_stream_snapshot(dir.path(), 2, 2);
    let expected = remaining(&seqs);
    eprintln!("mid-stream snapshot offsets {seqs:?}; {expected} records after it");
    let result = restore_copy(dir.path(), "one-process", 1, 2, "4", expected);
    assert!(result.is_ok(), "{}", result.unwrap_err());
}
