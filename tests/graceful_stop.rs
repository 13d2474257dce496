//! SIGINT and SIGTERM stop a job in order: the last epoch is closed, the
//! final snapshot written, the output and the tasks committed, exit 0; a
//! restore then continues exactly where the output ends, re-reading
//! nothing. A second signal aborts at once with exit code 130, and the
//! previous snapshot still restores exactly once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

const LINES: u64 = 2_000_000;

struct Setup {
    _dir: tempfile::TempDir,
    input: PathBuf,
    props: PathBuf,
    snaps: PathBuf,
    out: PathBuf,
}

fn setup(name: &str) -> Setup {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for i in 1..=LINES {
        writeln!(f, "{i}").unwrap();
    }
    f.flush().unwrap();
    let props = write_props(
        &dir.path().join("file.properties"),
        &[
            ("name", name),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
            // Small polls keep the job mid-run long enough to be signalled.
            ("batch.size", "100"),
        ],
    );
    Setup {
        snaps: dir.path().join("snaps"),
        out: dir.path().join("out.txt"),
        input,
        props,
        _dir: dir,
    }
}

impl Setup {
    fn args(&self) -> Vec<std::ffi::OsString> {
        args![
            "run",
            &self.props,
            "--snapshot-dir",
            &self.snaps,
            "--snapshot-interval",
            "200ms",
            "--output",
            &self.out,
            "--until-idle",
            "1s",
        ]
    }

    /// Starts the job and waits until it is mid-run: output written and a
    /// snapshot durable.
    fn start_mid_run(&self) -> Proc {
        let proc = Proc::spawn("job", &self.args(), &[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let written = std::fs::metadata(&self.out).map_or(0, |m| m.len());
            if written > 0 && !snapshot_files(&self.snaps).is_empty() {
                return proc;
            }
            assert!(Instant::now() < deadline, "the job never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child process we started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

fn input_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// The file source's committed position in the newest snapshot.
fn snapshot_position(snaps: &Path) -> i64 {
    let shown = run_ok(&args!["snapshots", "show", "--snapshot-dir", snaps], &[]);
    let json: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    json["offsets"][0]["offset"]["position"]
        .as_i64()
        .unwrap_or_else(|| panic!("no position in {}", shown.stdout))
}

fn graceful_stop_then_restore(sig: i32) {
    let s = setup(if sig == libc::SIGINT {
        "sigint"
    } else {
        "sigterm"
    });
    let proc = s.start_mid_run();
    signal(proc.pid(), sig);
    let stopped = proc
        .wait_timeout(Duration::from_secs(60))
        .expect("a graceful stop finishes");
    assert_eq!(
        stopped.code(),
        Some(0),
        "{}",
        stderr_digest(&stopped.stderr)
    );
    assert!(
        stopped.stderr.contains("stopping in order"),
        "{}",
        stopped.stderr
    );

    // Stopped mid-run: the output is a whole-line prefix of the input, and
    // the final snapshot (the tasks' committed offset) covers exactly it.
    let out = read(&s.out);
    let input = read(&s.input);
    assert!(
        (out.len() as u64) < input_len(&s.input),
        "the job was stopped before the end ({} of {} bytes)",
        out.len(),
        input.len()
    );
    assert!(input.starts_with(&out) && out.ends_with(b"\n"));
    assert_eq!(snapshot_position(&s.snaps), out.len() as i64);
    let emitted_before = out.iter().filter(|b| **b == b'\n').count() as u64;

    // Restore: the rest, and only the rest, is read.
    let resumed = run_ok(&s.args(), &[]);
    assert_same_bytes(&input, &read(&s.out), "output after restore");
    assert_eq!(
        records_done(&resumed.stderr),
        Some(LINES - emitted_before),
        "the restored run re-read nothing: {}",
        stderr_digest(&resumed.stderr)
    );
}

#[test]
fn sigterm_stops_in_order_and_restore_rereads_nothing() {
    graceful_stop_then_restore(libc::SIGTERM);
}

#[test]
fn sigint_stops_in_order_and_restore_rereads_nothing() {
    graceful_stop_then_restore(libc::SIGINT);
}

#[test]
fn a_second_signal_aborts_with_130_and_the_last_snapshot_still_restores_exactly() {
    let s = setup("twice");
    let mut proc = s.start_mid_run();
    // Signals of one kind do not queue: keep sending until one lands
    // while the stop is under way (it writes and fsyncs a snapshot and the
    // output, which takes milliseconds).
    let pid = proc.pid();
    signal(pid, libc::SIGTERM);
    while !proc.has_exited() {
        std::thread::sleep(Duration::from_micros(300));
        // SAFETY: as in `signal`; the child is not reaped yet, so the pid is ours.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    let aborted = proc
        .wait_timeout(Duration::from_secs(60))
        .expect("an abort is immediate");
    assert_eq!(
        aborted.code(),
        Some(130),
        "{}",
        stderr_digest(&aborted.stderr)
    );
    assert!(
        aborted.stderr.contains("aborting at once"),
        "{}",
        aborted.stderr
    );
    run_ok(&s.args(), &[]);
    assert_same_bytes(&read(&s.input), &read(&s.out), "output after restore");
}

#[test]
fn bad_command_lines_exit_2_and_help_documents_the_exit_codes() {
    let s = setup("usage");
    for extra in [
        args!["--snapshot-interval", "soon"],
        args!["--until-idle", "-1"],
        args!["--restore", "yesterday"],
        args!["--no-such-flag"],
    ] {
        let mut a = s.args();
        a.extend(extra.clone());
        let f = run_cli(&a, &[]);
        assert_eq!(f.code(), Some(2), "{extra:?}: {}", f.stderr);
        assert!(!s.out.exists(), "nothing ran for {extra:?}");
    }
    let missing = run_cli(&args!["run", s.props.with_extension("missing")], &[]);
    assert_eq!(missing.code(), Some(2), "{}", missing.stderr);
    let help = run_ok(&args!["--help"], &[]);
    assert!(
        help.stdout.contains("130") && help.stdout.contains("2 bad configuration"),
        "{}",
        help.stdout
    );
}

#[test]
fn a_signal_to_one_process_stops_the_whole_multi_process_job_in_order() {
    let s = setup("cluster");
    // Process 0 runs the file's only task; signal the other process.
    let mut procs = spawn_cluster(s._dir.path(), &s.args(), 2, 1, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&s.out).map_or(0, |m| m.len()) == 0
        || snapshot_files(&s.snaps).is_empty()
    {
        assert!(Instant::now() < deadline, "the job never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(procs[1].pid(), libc::SIGTERM);
    let finished = wait_cluster(std::mem::take(&mut procs), Duration::from_secs(60));
    for (i, f) in finished.iter().enumerate() {
        assert_eq!(
            f.code(),
            Some(0),
            "process {i}: {}",
            stderr_digest(&f.stderr)
        );
    }
    let out = read(&s.out);
    let input = read(&s.input);
    assert!((out.len() as u64) < input_len(&s.input), "stopped mid-run");
    assert!(input.starts_with(&out));
    assert_eq!(snapshot_position(&s.snaps), out.len() as i64);
    let restored = wait_cluster(
        spawn_cluster(s._dir.path(), &s.args(), 2, 1, &[]),
        Duration::from_secs(60),
    );
    assert!(restored.iter().all(|f| f.success()));
    assert_same_bytes(&input, &read(&s.out), "output after restore");
}
