//! One huge transaction through `PostgresCdc`, driven through the real CLI
//! against a real PostgreSQL cluster: its rows stream while the job runs
//! (the job never holds the transaction in memory: PostgreSQL's reorder
//! buffer spills it to disk on the server, and the connector emits each
//! change as it is decoded), and a SIGKILL in the middle of it loses and
//! repeats nothing after `--restore latest`.
//!
//! `PG_HUGE_TX_ROWS=N` sets the transaction's size (default 1,000,000 rows
//! of ~120 B; the issue's 5,000,000 runs the same way, in a few minutes
//! more). After the restore the server decodes the transaction again from
//! its start before it sends anything (PostgreSQL sends a transaction at
//! its commit), so the first new change takes a few seconds. The memory bound is a fixed ceiling far below what holding the
//! transaction would take (its JSON alone is several hundred MB), not a
//! timing.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::*;

/// Peak RSS allowed for the job, in KiB: the rows of the transaction are
/// far larger than this in any form, so a job that gathered them would
/// pass it.
const PEAK_RSS_LIMIT_KIB: u64 = 256 * 1024;

fn rows() -> i64 {
    std::env::var("PG_HUGE_TX_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// The job's arguments. `--until-idle` is long: after a restore inside the
/// transaction, the server decodes it again from its start before it sends
/// the first change, which takes seconds for a large one. The test stops
/// the job with SIGTERM once the output is complete.
fn run_args(dir: &Path) -> Vec<OsString> {
    args![
        "run",
        dir.join("conn.properties"),
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "500ms",
        "--restore",
        "latest",
        "--output",
        dir.join("out.jsonl"),
        "--until-idle",
        "120s",
    ]
}

fn lines_of(dir: &Path) -> usize {
    LineCount::default().update(dir)
}

/// Counts the output's lines as it grows, reading only what is new (the
/// output reaches gigabytes; reading it whole at every poll made the test
/// miss the moment it meant to kill at). A file that shrank (a restore cuts
/// what no snapshot committed) is counted again.
#[derive(Default)]
struct LineCount {
    read: u64,
    lines: usize,
}

impl LineCount {
    fn update(&mut self, dir: &Path) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(dir.join("out.jsonl")) else {
            return self.lines;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.read {
            *self = LineCount::default();
        }
        if f.seek(SeekFrom::Start(self.read)).is_err() {
            return self.lines;
        }
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.lines += buf[..n].iter().filter(|c| **c == b'\n').count();
            self.read += n as u64;
        }
        self.lines
    }
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits until the output has `n` lines, sampling the job's peak RSS;
/// returns the largest seen. Fails if the job ends first or `limit` passes.
fn wait_for(job: &mut Proc, dir: &Path, n: usize, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    let mut count = LineCount::default();
    loop {
        peak = peak.max(peak_rss_kib(job.pid()).unwrap_or(0));
        let have = count.update(dir);
        if have >= n {
            return peak;
        }
        if job.has_exited() || Instant::now() >= deadline {
            let p = std::mem::replace(job, Proc::spawn("noop", &["--version"], &[]));
            panic!(
                "only {have} of {n} lines arrived:\n{}",
                stderr_digest(&p.kill().all_output())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pg_huge_transaction_streams_in_bounded_memory_and_survives_sigkill() {
    let n = rows();
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql("CREATE TABLE big (id bigint PRIMARY KEY, pad text NOT NULL);");
    let port = pg.port().to_string();
    write_props(
        &dir.path().join("conn.properties"),
        &[
            ("name", "pg-huge"),
            ("connector.class", "PostgresCdc"),
            ("database.hostname", "127.0.0.1"),
            ("database.port", &port),
            ("database.user", pg.superuser()),
            ("database.password", pg.password()),
            ("database.dbname", "postgres"),
            ("topic.prefix", "shop"),
            ("table.include.list", "public\\.big"),
        ],
    );

    // The job is running (snapshot or stream) once row 0 arrives; the slot
    // exists from its start, so the transaction below is streamed.
    let mut job = Proc::spawn("pg-huge", &run_args(dir.path()), &[]);
    pg.psql("INSERT INTO big VALUES (0, 'before')");
    wait_for(&mut job, dir.path(), 1, Duration::from_secs(60));

    // One transaction of `n` rows, committed while the job runs.
    pg.psql(&format!(
        "INSERT INTO big SELECT g, repeat('x', 100) || g FROM generate_series(1, {n}) g"
    ));
    let total = n as usize + 1;
    let limit = Duration::from_secs(60 + n as u64 / 2_000);
    let peak_first = wait_for(&mut job, dir.path(), total * 2 / 5, limit);
    job.kill();
    // Counted after the kill: exactly what the killed job wrote.
    let killed_at = lines_of(dir.path());
    assert!(
        killed_at < total,
        "the job wrote the whole transaction before the kill; nothing tested"
    );

    // Restored: continues inside the transaction (logging at info, so a
    // failure shows the stop's steps).
    let mut job = Proc::spawn("pg-huge", &run_args(dir.path()), &[("RUST_LOG", "info")]);
    let peak_second = wait_for(&mut job, dir.path(), total, limit);
    // A graceful stop: the last epoch is closed and committed.
    let rc = unsafe { libc::kill(job.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM to the job");
    let f = job
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|f| panic!("job did not stop:\n{}", f.all_output()));
    assert!(f.success(), "restored job failed:\n{}", f.all_output());

    // Every row exactly once, in the transaction's order after the first.
    let text = String::from_utf8(read(&dir.path().join("out.jsonl"))).expect("utf-8");
    let tx = huge_tx_id(&text);
    assert!(!tx.is_null(), "row 1 carries a transaction id");
    let mut next = 0i64;
    for (i, line) in text.lines().enumerate() {
        let e: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("line {i}: {err}"));
        let id = e["after"]["id"].as_i64().unwrap_or(-1);
        // Row 0 may be read by the initial snapshot or streamed.
        let op = e["op"].as_str().unwrap_or("?");
        assert!(op == "c" || (id == 0 && op == "r"), "line {i}: {line}");
        assert_eq!(id, next, "line {i}: a row lost or repeated around the kill");
        if id > 0 {
            assert_eq!(
                e["source"]["txId"], tx,
                "line {i}: rows 1..{n} are one transaction"
            );
        }
        next += 1;
    }
    assert_eq!(next, n + 1, "rows in the output");

    eprintln!(
        "{n} rows in one transaction; killed after {killed_at} lines; peak RSS {} MiB before \
         the kill, {} MiB after the restore",
        peak_first / 1024,
        peak_second / 1024
    );
    for (label, peak) in [
        ("before the kill", peak_first),
        ("after restore", peak_second),
    ] {
        assert!(
            peak > 0 && peak < PEAK_RSS_LIMIT_KIB,
            "peak RSS {label}: {} MiB (limit {} MiB)",
            peak / 1024,
            PEAK_RSS_LIMIT_KIB / 1024
        );
    }
}

/// The transaction id of the huge transaction (that of row 1).
fn huge_tx_id(text: &str) -> serde_json::Value {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["after"]["id"] == 1)
        .map(|e| e["source"]["txId"].clone())
        .unwrap_or(serde_json::Value::Null)
}
