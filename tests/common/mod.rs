//! Helpers shared by the system tests: they drive the real `timely-connect`
//! binary with real files and real processes, each test in its own tempdir.
//!
//! The folder holds every test helper: `pg.rs` (throw-away PostgreSQL
//! clusters), `java.rs` (the installed Java plugins and the test plugins),
//! `counter.rs` (an in-process counting connector for the library-level
//! tests, included by path where needed), and `s3.rs` (an in-process S3
//! server and a fault-injecting proxy in front of it, included by path so
//! only the tests that use them link them).
#![allow(dead_code)]

#[cfg(feature = "jvm")]
pub mod java;
pub mod pg;
pub mod tls;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single CLI run may take before the test kills it and fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The CLI binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_timely-connect")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A number unique within this test process (for file names, seeds).
pub fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------- randomness

/// A tiny xorshift64* generator; no dependency needed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so small seeds give well-mixed states.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// A seed from the `TEST_SEED` environment variable, else from the
    /// clock, the process id and a counter.
    pub fn seed_from_env_or_clock() -> u64 {
        if let Some(s) = std::env::var("TEST_SEED").ok().and_then(|s| s.parse().ok()) {
            return s;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32) ^ unique().wrapping_mul(0x9E37_79B9)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }
}

// ---------------------------------------------------------------- files

/// Writes a `.properties` file.
pub fn write_props(path: &Path, entries: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("# written by a timely-connect system test\n");
    for (k, v) in entries {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_path_buf()
}

/// `count` lines of varied length and content (ASCII, multi-byte UTF-8,
/// empty lines, an occasional long line), each containing its index so
/// lines are distinguishable. `first` is the index of the first line.
pub fn varied_lines(rng: &mut Rng, first: u64, count: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "alpha",
        "beta",
        "gamma",
        "δέλτα",
        "epsilon",
        "zeta",
        "η",
        "théta",
        "iota",
        "kappa",
        "λ",
        "mu",
        "日本語",
        "x",
        "{\"json\":true}",
        "tab\there",
        "a,b,c",
        "  spaces  ",
        "emoji🦀",
    ];
    let mut out = Vec::with_capacity(count as usize * 40);
    for i in first..first + count {
        let shape = rng.below(100);
        if shape < 3 {
            // an empty line
        } else if shape < 4 && rng.chance(1, 50) {
            // a long line (tens of kilobytes)
            out.extend_from_slice(format!("{i}:").as_bytes());
            let len = rng.range(10_000, 70_000);
            for j in 0..len {
                out.push(b'a' + ((i + j) % 26) as u8);
            }
        } else {
            out.extend_from_slice(format!("{i}").as_bytes());
            for _ in 0..rng.below(12) {
                out.push(b' ');
                out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            }
        }
        out.push(b'\n');
    }
    out
}

/// Fails with a useful message if `actual` is not byte-for-byte `expected`.
pub fn assert_same_bytes(expected: &[u8], actual: &[u8], what: &str) {
    if expected == actual {
        return;
    }
    let first_diff = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let line_no = expected[..first_diff]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    let show = |bytes: &[u8]| {
        let start = bytes[..first_diff.min(bytes.len())]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let end = (start + 160).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..end]).into_owned()
    };
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count();
    panic!(
        "{what}: output differs from the input.\n  expected {} bytes / {} lines, got {} bytes / {} lines\n  first difference at byte {first_diff} (line {line_no})\n  expected: {:?}\n  actual:   {:?}",
        expected.len(),
        lines(expected),
        actual.len(),
        lines(actual),
        show(expected),
        show(actual),
    );
}

/// Reads a file, failing the test with the path if it cannot.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------- datagen

/// The `(partition, seq)` of one datagen JSON line (`{"partition":P,"seq":N,…`).
pub fn partition_seq(line: &str) -> Option<(u32, u64)> {
    fn number_after(line: &str, key: &str) -> Option<u64> {
        let at = line.find(key)? + key.len();
        let digits: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
    let p = number_after(line, "\"partition\":")?;
    let s = number_after(line, "\"seq\":")?;
    Some((u32::try_from(p).ok()?, s))
}

/// How many records datagen partition `p` holds for `max_messages` over
/// `partitions` partitions (record `seq` of `p` has global index `seq * partitions + p`).
pub fn datagen_partition_len(p: u32, partitions: u32, max_messages: u64) -> u64 {
    if max_messages <= u64::from(p) {
        0
    } else {
        (max_messages - u64::from(p) - 1) / u64::from(partitions) + 1
    }
}

/// Checks a datagen output file: exactly `max_messages` lines, all distinct,
/// and every `(partition, seq)` present exactly once. Returns a description
/// of what is wrong, if anything.
pub fn check_datagen_output(path: &Path, max_messages: u64, partitions: u32) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|e| format!("{} is not UTF-8: {e}", path.display()))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(format!("{} ends in a partial line", path.display()));
    }
    let mut seen: HashMap<(u32, u64), usize> = HashMap::new();
    let mut lines = 0u64;
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        lines += 1;
        match partition_seq(line) {
            Some(key) => *seen.entry(key).or_default() += 1,
            None if bad.len() < 3 => bad.push(format!("line {}: {line:?}", n + 1)),
            None => {}
        }
    }
    let mut problems = Vec::new();
    if !bad.is_empty() {
        problems.push(format!("lines without partition/seq: {}", bad.join("; ")));
    }
    if lines != max_messages {
        problems.push(format!("{lines} lines, expected {max_messages}"));
    }
    let dups: Vec<_> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(k, c)| (*k, *c))
        .collect();
    if !dups.is_empty() {
        let mut sample = dups.clone();
        sample.sort();
        sample.truncate(5);
        problems.push(format!(
            "{} (partition, seq) pairs duplicated, e.g. {sample:?}",
            dups.len()
        ));
    }
    let mut missing = Vec::new();
    let mut missing_count = 0u64;
    for p in 0..partitions {
        for s in 0..datagen_partition_len(p, partitions, max_messages) {
            if !seen.contains_key(&(p, s)) {
                missing_count += 1;
                if missing.len() < 5 {
                    missing.push((p, s));
                }
            }
        }
    }
    if missing_count > 0 {
        problems.push(format!(
            "{missing_count} (partition, seq) pairs missing, e.g. {missing:?}"
        ));
    }
    let extra: Vec<_> = seen
        .keys()
        .filter(|(p, s)| {
            *p >= partitions || *s >= datagen_partition_len(*p, partitions, max_messages)
        })
        .take(5)
        .collect();
    if !extra.is_empty() {
        problems.push(format!("pairs outside the expected range, e.g. {extra:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", path.display(), problems.join("; ")))
    }
}

// ---------------------------------------------------------------- processes

/// A finished CLI run.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout and stderr together.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A running CLI process whose stdout and stderr are collected by threads.
pub struct Proc {
    pub label: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
}

fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

impl Proc {
    /// Starts the CLI with `args` and extra environment variables.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(label: &str, args: &[S], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        Proc::spawn_command(label, cmd, env)
    }

    /// Starts `cmd` (e.g. the CLI under `ip netns exec`) like [`Proc::spawn`].
    pub fn spawn_command(label: &str, mut cmd: Command, env: &[(&str, &str)]) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        Proc {
            label: label.to_owned(),
            child,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (without collecting it).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn finish(mut self, status: ExitStatus) -> Finished {
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Finished {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Waits up to `timeout`; `Err` (after SIGKILL) if it did not exit.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<Finished, Finished> {
        let deadline = self.started + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(self.finish(status)),
                Ok(None) if Instant::now() >= deadline => return Err(self.kill()),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("{}: wait failed: {e}", self.label),
            }
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("{}: wait after kill failed: {e}", self.label));
        self.finish(status)
    }
}

/// Fails the test unless `text` contains every one of `needles`.
pub fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` is not in:\n{text}");
    }
}

/// stderr without the once-a-second progress lines, at most its last 60 lines.
pub fn stderr_digest(stderr: &str) -> String {
    let mut kept: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("records "))
        .collect();
    let skipped = kept.len().saturating_sub(60);
    kept.drain(..skipped);
    let progress = stderr.lines().filter(|l| l.starts_with("records ")).count();
    format!("{}\n({progress} progress lines left out)", kept.join("\n"))
}

/// Runs the CLI to completion; fails the test (with stderr) if it takes
/// longer than [`RUN_TIMEOUT`]. Does not look at the exit code.
pub fn run_cli<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Finished {
    run_cli_within(args, env, RUN_TIMEOUT)
}

/// Like [`run_cli`] with a timeout of one's own.
pub fn run_cli_within<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Finished {
    let label = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    match Proc::spawn(&label, args, env).wait_timeout(timeout) {
        Ok(f) => f,
        Err(f) => {
            panic!(
                "`timely-connect {label}` did not finish within {timeout:?}; killed.\nstderr:\n{}",
                stderr_digest(&f.stderr)
            )
        }
    }
}

/// Like [`run_cli`], and fails the test (with stderr) unless it exits 0.
pub fn run_ok<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Finished {
    let f = run_cli(args, env);
    if !f.success() {
        let label = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        panic!(
            "`timely-connect {label}` failed with {}.\nstdout:\n{}\nstderr:\n{}",
            f.status, f.stdout, f.stderr
        );
    }
    f
}

/// Builds an argument vector from anything string- or path-like.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {{
        let v: Vec<std::ffi::OsString> = vec![$(std::ffi::OsString::from($a)),*];
        v
    }};
}

// ---------------------------------------------------------------- clusters

/// A free localhost port: bind port 0, read it, release it.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Writes a fresh hostfile with `n` distinct free localhost ports.
pub fn write_hostfile(dir: &Path, n: usize) -> PathBuf {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let text: String = ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect();
    let path = dir.join(format!("hosts-{}.txt", unique()));
    std::fs::write(&path, text).expect("write hostfile");
    path
}

/// Starts `processes` processes of one job: the same `args` (which start
/// with `run CONFIG …`), plus `-w workers -n processes -p i -h HOSTFILE`
/// with a fresh hostfile. With one process no `-n/-p/-h` are added.
pub fn spawn_cluster(
    dir: &Path,
    args: &[OsString],
    processes: usize,
    workers: usize,
    env: &[(&str, &str)],
) -> Vec<Proc> {
    let mut full: Vec<OsString> = args.to_vec();
    full.extend(["-w".into(), workers.to_string().into()]);
    if processes == 1 {
        return vec![Proc::spawn("process 0", &full, env)];
    }
    let hostfile = write_hostfile(dir, processes);
    full.extend([
        "-n".into(),
        processes.to_string().into(),
        "-h".into(),
        hostfile.into_os_string(),
    ]);
    let mut procs = Vec::new();
    for i in 0..processes {
        let mut a = full.clone();
        a.extend(["-p".into(), i.to_string().into()]);
        procs.push(Proc::spawn(&format!("process {i}"), &a, env));
        if i == 0 {
            // Let process 0 listen first, so the others rarely need a retry.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    procs
}

/// Waits for every process of a cluster; on a timeout kills them all and
/// fails the test with everyone's stderr.
pub fn wait_cluster(procs: Vec<Proc>, timeout: Duration) -> Vec<Finished> {
    let deadline = Instant::now() + timeout;
    let mut procs: Vec<Option<Proc>> = procs.into_iter().map(Some).collect();
    let mut done: Vec<Option<Finished>> = (0..procs.len()).map(|_| None).collect();
    loop {
        let mut running = false;
        for (i, slot) in procs.iter_mut().enumerate() {
            if let Some(p) = slot.as_mut() {
                if p.has_exited() {
                    let p = slot.take().expect("present");
                    done[i] = Some(p.wait_timeout(Duration::from_secs(5)).unwrap_or_else(|f| f));
                } else {
                    running = true;
                }
            }
        }
        if !running {
            return done.into_iter().map(|f| f.expect("finished")).collect();
        }
        if Instant::now() >= deadline {
            let mut report = String::new();
            for (i, slot) in procs.into_iter().enumerate() {
                let f = match slot {
                    Some(p) => p.kill(),
                    None => done[i].take().expect("finished"),
                };
                report.push_str(&format!(
                    "--- process {i} ({}) stderr:\n{}\n",
                    f.status, f.stderr
                ));
            }
            panic!("cluster did not finish within {timeout:?}; killed.\n{report}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a cluster to completion and fails the test unless every process exits 0.
pub fn run_cluster_ok(
    dir: &Path,
    args: &[OsString],
    processes: usize,
    workers: usize,
    env: &[(&str, &str)],
) -> Vec<Finished> {
    let finished = wait_cluster(
        spawn_cluster(dir, args, processes, workers, env),
        RUN_TIMEOUT,
    );
    if finished.iter().any(|f| !f.success()) {
        let mut report = String::new();
        for (i, f) in finished.iter().enumerate() {
            report.push_str(&format!(
                "--- process {i} ({}) stderr:\n{}\n",
                f.status, f.stderr
            ));
        }
        panic!("a process of the job failed:\n{report}");
    }
    finished
}

/// SIGKILLs every process of a cluster that is still running.
pub fn kill_all(procs: Vec<Proc>) -> Vec<Finished> {
    procs.into_iter().map(Proc::kill).collect()
}

/// A test's private temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("timely-connect-test-")
        .tempdir()
        .expect("tempdir")
}

/// Copies a directory's files (not recursive).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
        }
    }
}

/// The epochs of the snapshot files in `dir`, ascending.
pub fn snapshot_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(num) = name
                .strip_prefix("snapshot-")
                .and_then(|n| n.strip_suffix(".tcs"))
            {
                if let Ok(e) = num.parse() {
                    out.push((e, entry.path()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The record count of the CLI's closing `done: N records …` line.
#[allow(dead_code)]
pub fn records_done(stderr: &str) -> Option<u64> {
    let line = stderr.lines().rfind(|l| l.starts_with("done: "))?;
    if line.starts_with("done: nothing new") || line.starts_with("done: the source had no records")
    {
        return Some(0);
    }
    line["done: ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CLI's `run` arguments for `dir/conn.properties`: snapshots in
/// `dir/snaps` every 200 ms, output to `dir/out.jsonl`, ending after
/// `idle` without records.
pub fn job_args(dir: &Path, idle: &str) -> Vec<std::ffi::OsString> {
    [
        "run".into(),
        dir.join("conn.properties").into_os_string(),
        "--snapshot-dir".into(),
        dir.join("snaps").into_os_string(),
        "--snapshot-interval".into(),
        "200ms".into(),
        "--output".into(),
        dir.join("out.jsonl").into_os_string(),
        "--until-idle".into(),
        idle.into(),
    ]
    .to_vec()
}

/// The CLI's `run` arguments of a restartable job: `props`, snapshots at
/// `snapshots` (a directory or an `s3://` URL) every 200 ms, `--restore
/// latest`, exactly-once output to `out`, ending after `idle` without
/// records.
pub fn restartable_run_args(
    props: &Path,
    snapshots: impl Into<std::ffi::OsString>,
    out: &Path,
    idle: &str,
) -> Vec<std::ffi::OsString> {
    vec![
        "run".into(),
        props.into(),
        "--snapshot-dir".into(),
        snapshots.into(),
        "--snapshot-interval".into(),
        "200ms".into(),
        "--restore".into(),
        "latest".into(),
        "--output".into(),
        out.into(),
        "--until-idle".into(),
        idle.into(),
    ]
}

/// How many complete lines `dir/out.jsonl` holds (0 if it does not exist):
/// after a SIGKILL its last line may be cut, which a restore truncates.
pub fn output_lines(dir: &Path) -> usize {
    std::fs::read(dir.join("out.jsonl"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// Every line of `dir/out.jsonl` as JSON (a tombstone is `null`).
pub fn out_events(dir: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(read(&dir.join("out.jsonl")))
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}
