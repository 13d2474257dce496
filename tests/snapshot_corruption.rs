//! A corrupt or truncated snapshot is detected and skipped with a message
//! naming the file; the previous one is used, the output stays exact, and
//! nothing is overwritten in place. Naming a corrupt epoch is an error.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const MAX_MESSAGES: u64 = 9_000;
const PARTITIONS: u32 = 4;

struct Setup {
    dir: tempfile::TempDir,
    props: PathBuf,
    snaps: PathBuf,
    out: PathBuf,
}

impl Setup {
    fn run_args(&self, restore: &str) -> Vec<OsString> {
        args![
            "run",
            &self.props,
            "-w",
            "2",
            "--snapshot-dir",
            &self.snaps,
            "--snapshot-interval",
            "200ms",
            "--restore",
            restore,
            "--output",
            &self.out,
            "--until-idle",
            "1s",
        ]
    }
}

/// A rate-limited datagen job SIGKILLed mid-stream once at least three
/// snapshots exist (all kept: `snapshot.retain=100`).
fn killed_run_with_snapshots() -> Setup {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("datagen.properties"),
        &[
            ("name", "corrupt"),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
            ("partitions", &PARTITIONS.to_string()),
            ("max.messages", &MAX_MESSAGES.to_string()),
            ("messages.per.second", "3000"),
            ("tasks.max", "2"),
            ("seed", "11"),
            ("snapshot.retain", "100"),
        ],
    );
    let setup = Setup {
        snaps: dir.path().join("snaps"),
        out: dir.path().join("out.txt"),
        props,
        dir,
    };
    let proc = Proc::spawn("first run", &setup.run_args("latest"), &[]);
    let started = Instant::now();
    while snapshot_files(&setup.snaps).len() < 3 || started.elapsed() < Duration::from_millis(1200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "fewer than 3 snapshots after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = proc.kill();
    assert!(
        !killed.success(),
        "the job finished before it was killed:\n{}",
        stderr_digest(&killed.stderr)
    );
    setup
}

fn newest_two(snaps: &Path) -> ((u64, PathBuf), (u64, PathBuf)) {
    let mut files = snapshot_files(snaps);
    assert!(
        files.len() >= 2,
        "need at least 2 snapshots, have {files:?}"
    );
    let newest = files.pop().expect("newest");
    let previous = files.pop().expect("previous");
    (previous, newest)
}

/// Records after the offsets of snapshot `epoch` (which must be valid).
fn remaining_after(snaps: &Path, epoch: u64) -> u64 {
    let shown = run_ok(
        &args![
            "snapshots",
            "show",
            epoch.to_string(),
            "--snapshot-dir",
            snaps
        ],
        &[],
    );
    let json: serde_json::Value =
        serde_json::from_str(&shown.stdout).expect("snapshots show prints JSON");
    let mut covered = 0;
    for entry in json["offsets"].as_array().expect("offsets array") {
        covered += entry["offset"]["seq"].as_u64().expect("seq") + 1;
    }
    MAX_MESSAGES - covered
}

/// Corrupts the newest snapshot with `corrupt`, then checks everything the
/// design promises about it.
fn newest_snapshot_corrupted_is_skipped(
    how: &str,
    corrupt: impl FnOnce(&Path, &mut Rng) -> String,
) {
    let seed = Rng::seed_from_env_or_clock();
    let mut rng = Rng::new(seed);
    let s = killed_run_with_snapshots();
    let ((prev_epoch, _), (bad_epoch, bad_path)) = newest_two(&s.snaps);
    let what = corrupt(&bad_path, &mut rng);
    eprintln!("seed {seed}: {how} snapshot {bad_epoch}: {what}; previous is {prev_epoch}");
    let bad_bytes = read(&bad_path);
    let bad_name = bad_path.file_name().unwrap().to_string_lossy().into_owned();
    let expected = remaining_after(&s.snaps, prev_epoch);

    // `snapshots list` marks it invalid, and only it.
    let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &s.snaps], &[]);
    let bad_line = listed
        .stdout
        .lines()
        .find(|l| l.contains(&bad_name))
        .unwrap_or_default();
    assert!(
        bad_line.contains("INVALID"),
        "`snapshots list` does not mark {bad_name} invalid:\n{}",
        listed.stdout
    );
    assert_eq!(
        listed.stdout.matches("INVALID").count(),
        1,
        "{}",
        listed.stdout
    );

    // `snapshots show` of it is an error naming the file.
    let show = run_cli(
        &args![
            "snapshots",
            "show",
            bad_epoch.to_string(),
            "--snapshot-dir",
            &s.snaps
        ],
        &[],
    );
    assert!(
        !show.success(),
        "showing a corrupt snapshot must fail:\n{}",
        show.all_output()
    );
    assert!(show.stderr.contains(&bad_name), "{}", show.stderr);

    // `--restore <its epoch>` fails clearly and leaves the output alone.
    let out_before = read(&s.out);
    let named = run_cli(&s.run_args(&bad_epoch.to_string()), &[]);
    let named_out = named.all_output();
    assert!(
        !named.success(),
        "--restore {bad_epoch} (corrupt) must fail:\n{named_out}"
    );
    assert!(
        named_out.contains(&bad_name),
        "the error does not name {bad_name}:\n{named_out}"
    );
    for word in ["panicked", "stack backtrace"] {
        assert!(!named_out.contains(word), "{named_out}");
    }
    assert_eq!(
        read(&s.out),
        out_before,
        "a failed --restore {bad_epoch} changed the output file"
    );

    // `--restore latest` skips it, says so, uses the previous one.
    let run = run_ok(&s.run_args("latest"), &[]);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&bad_name) && l.to_lowercase().contains("skip")),
        "stderr does not say that {bad_name} was skipped:\n{}",
        stderr_digest(&run.stderr)
    );
    assert_eq!(
        records_done(&run.stderr),
        Some(expected),
        "the run should emit exactly the records after snapshot {prev_epoch}; stderr:\n{}",
        stderr_digest(&run.stderr)
    );
    if let Err(problem) = check_datagen_output(&s.out, MAX_MESSAGES, PARTITIONS) {
        let kept = s.dir.keep();
        panic!("seed {seed}: {problem}\nfiles kept in {}", kept.display());
    }

    // The corrupt file is untouched; new snapshots got higher epochs.
    assert_eq!(
        read(&bad_path),
        bad_bytes,
        "the corrupt snapshot file was modified"
    );
    let newest = snapshot_files(&s.snaps).last().expect("snapshots").0;
    assert!(
        newest > bad_epoch,
        "no snapshot above the corrupt epoch {bad_epoch}"
    );
    let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &s.snaps], &[]);
    assert_eq!(
        listed.stdout.matches("INVALID").count(),
        1,
        "{}",
        listed.stdout
    );
}

#[test]
fn truncated_newest_snapshot_is_skipped_with_a_message_and_output_stays_exact() {
    newest_snapshot_corrupted_is_skipped("truncated", |path, rng| {
        let len = std::fs::metadata(path).expect("metadata").len();
        let keep = rng.below(len);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open snapshot");
        f.set_len(keep).expect("truncate");
        format!("truncated from {len} to {keep} bytes")
    });
}

#[test]
fn newest_snapshot_with_a_flipped_byte_is_skipped_with_a_message_and_output_stays_exact() {
    newest_snapshot_corrupted_is_skipped("flipped a byte of", |path, rng| {
        let mut bytes = read(path);
        let at = rng.below(bytes.len() as u64) as usize;
        let mask = rng.range(1, 255) as u8;
        bytes[at] ^= mask;
        std::fs::write(path, &bytes).expect("write snapshot");
        format!("byte {at} of {} xor {mask:#04x}", bytes.len())
    });
}

#[test]
fn restore_latest_with_only_corrupt_snapshots_fails_instead_of_starting_over() {
    let s = killed_run_with_snapshots();
    for (_, path) in snapshot_files(&s.snaps) {
        let len = std::fs::metadata(&path).expect("metadata").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open")
            .set_len(len / 2)
            .expect("truncate");
    }
    let out_before = read(&s.out);
    let run = run_cli(&s.run_args("latest"), &[]);
    let all = run.all_output();
    assert!(
        !run.success(),
        "restoring with no valid snapshot must fail, not start from scratch:\n{all}"
    );
    assert!(
        all.contains(s.snaps.to_str().unwrap()),
        "the error does not name the snapshot dir:\n{all}"
    );
    assert_eq!(
        read(&s.out),
        out_before,
        "the failed run changed the output file"
    );
}
