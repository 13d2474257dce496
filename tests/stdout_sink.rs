//! Standard output as a sink: `--output -` (or no `--output`) writes
//! through the same rendering and converters as the file sink, buffered;
//! a reader that goes away (`| head`) stops the job at once with exit 0 and
//! no snapshot covers what it did not receive; an output that is the
//! connector's own input is refused.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn big_input(dir: &std::path::Path, lines: u64) -> std::path::PathBuf {
    let input = dir.join("in.txt");
    let text: String = (1..=lines).map(|i| format!("{i}\n")).collect();
    std::fs::write(&input, text).unwrap();
    input
}

#[test]
fn a_reader_that_closes_the_pipe_stops_the_job_with_0_and_nothing_unread_is_committed() {
    let dir = tempdir();
    let input = big_input(dir.path(), 2_000_000);
    let props = write_props(
        &dir.path().join("file.properties"),
        &[
            ("name", "piped"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
        ],
    );
    let snaps = dir.path().join("snaps");
    let mut child = Command::new(bin())
        .args(args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--snapshot-interval",
            "20ms",
            "--output",
            "-"
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = child.stdout.take().unwrap();
    // SAFETY: F_GETPIPE_SZ on an open pipe descriptor.
    let capacity = unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(capacity > 0);
    let mut reader = BufReader::new(pipe);
    let mut read = 0usize;
    let mut line = String::new();
    for expected in 1..=200_000u64 {
        line.clear();
        read += reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{expected}\n"));
    }
    // What the BufReader holds beyond the lines counts as received too.
    read += reader.buffer().len();
    drop(reader); // like `head` exiting

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job did not stop after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("error"),
        "quiet, as Unix tools are: {stderr}"
    );
    assert!(
        !dir.path().join("-").exists(),
        "`--output -` created no file named -"
    );

    // No snapshot covers more than reached the pipe: what the reader read,
    // plus at most what the pipe itself held when it was closed.
    let (snapshot, _) =
        newest_snapshot(&snaps).expect("snapshots were taken while the reader read");
    {
        let position = snapshot
            .offsets
            .values()
            .find_map(|o| o.get_i64("position"))
            .unwrap_or(0) as usize;
        assert!(
            position <= read + capacity as usize,
            "committed {position} bytes, the reader had {read} (pipe {capacity})"
        );
    }
}

/// The newest valid snapshot of a directory, decoded.
fn newest_snapshot(
    dir: &std::path::Path,
) -> Option<(timely_connect::snapshot::Snapshot, std::path::PathBuf)> {
    let store = timely_connect::snapshot::SnapshotStore::open_existing(dir).ok()?;
    store
        .load_latest()
        .ok()
        .flatten()
        .map(|r| (r.snapshot, r.path))
}

#[test]
fn stdout_gives_the_same_bytes_as_the_file_sink_with_a_value_converter() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("datagen.properties"),
        &[
            ("name", "conv"),
            ("connector.class", "Datagen"),
            ("quickstart", "orders"),
            ("max.messages", "3000"),
            ("seed", "3"),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "true"),
        ],
    );
    let file = dir.path().join("out.jsonl");
    run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("a"),
            "--output",
            &file,
            "--until-idle",
            "1s"
        ],
        &[],
    );
    let stdout = run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("b"),
            "--output",
            "-",
            "--until-idle",
            "1s"
        ],
        &[],
    );
    let expected = read(&file);
    assert!(expected.starts_with(b"{\"schema\":"));
    assert_same_bytes(
        &expected,
        stdout.stdout.as_bytes(),
        "stdout vs --output file",
    );
}

#[test]
fn an_output_that_is_the_input_file_is_refused() {
    let dir = tempdir();
    let input = big_input(dir.path(), 10);
    let props = write_props(
        &dir.path().join("file.properties"),
        &[
            ("name", "loop"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
        ],
    );
    // The same file by another spelling of its path.
    let other_spelling = dir.path().join(".").join("in.txt");
    for flag in ["--output", "--dead-letter-output"] {
        let f = run_cli(
            &args![
                "run",
                &props,
                "--snapshot-dir",
                dir.path().join("snaps"),
                flag,
                &other_spelling,
                "--until-idle",
                "1s"
            ],
            &[],
        );
        assert_eq!(f.code(), Some(2), "{flag}: {}", f.stderr);
        assert!(f.stderr.contains("input file"), "{}", f.stderr);
    }
    assert_eq!(std::fs::read_to_string(&input).unwrap().lines().count(), 10);
}

#[test]
fn a_stdout_write_error_other_than_a_closed_pipe_fails_the_job_with_1_and_commits_nothing() {
    let dir = tempdir();
    let input = big_input(dir.path(), 1000);
    let props = write_props(
        &dir.path().join("file.properties"),
        &[
            ("name", "full"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
        ],
    );
    let snaps = dir.path().join("snaps");
    // /dev/full: every write fails with ENOSPC.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(bin())
        .args(args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--output",
            "-",
            "--until-idle",
            "1s"
        ])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("standard output"), "{stderr}");
    assert!(
        newest_snapshot(&snaps).is_none_or(|(s, _)| s.offsets.is_empty()),
        "no snapshot covers records that were never written"
    );
}
