//! `PostgresCdc` against PostgreSQL itself, in one run on a throw-away
//! cluster (`tests/common/pg.rs`): streaming throughput, commit → record
//! latency, and snapshot rows/s.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench postgres
//! cargo bench -p timely-connect-operators --bench postgres -- --stream-rows 300000 --reps 3
//! cargo bench -p timely-connect-operators --bench postgres -- --only snapshot --snap-rows 1000000
//! ```
//!
//! Options: `--stream-rows N` (default 300,000, inserted in transactions of
//! 1000 rows), `--snap-rows N` (default 1,000,000), `--lat-secs S` (default
//! 10) and `--lat-rate R` (default 1000 single-row transactions/s),
//! `--only rss` (the CLI's peak RSS snapshotting tables of `--snap-rows`
//! and 3× as many rows, one task and `--snap-tasks`),
//! `--reps R` (default 3, medians reported), `--snap-tasks T` (default 3:
//! the chunked snapshot rows run with `tasks.max=T`, so T-1 snapshot tasks
//! read the table's chunks side by side), `--only stream|latency|snapshot`
//! (repeatable), `--snap-configs W:T[:file|null],…` (the snapshot runs'
//! workers, `tasks.max` and output: the exactly-once file, or the same
//! JSON lines written to /dev/null as `\copy` writes; default
//! `1:1,2:1,1:T,2:T,1:1:null,1:T:null,2:T:null`), `--no-poll` (skip the
//! snapshot's `poll()` diagnostic), `--async-commit` (keep the test harness's
//! `synchronous_commit=off`; the default here is `on`, see `main`),
//! `--unix` (every session — the connector's, psql's, pg_recvlogical's —
//! over the server's Unix-domain socket instead of TCP to 127.0.0.1).
//! `TC_BENCH_PG_PROPS=k=v,k=v` adds connector settings to every run
//! (`snapshot.fetch.size=2048`).
//!
//! Every connector run is the library path the CLI's `run --output` takes:
//! `connect_source` → `exactly_once_file` into a temp file, tied to
//! `checkpoint`, snapshots every 1 s into a temp dir, `until_idle`. An
//! `inspect_batch` in front of the file sink counts the records and takes the
//! time each one is emitted into the dataflow.
//!
//! 1. **Streaming**: `stream_<n>(id bigint PK, account int, amount
//!    numeric(12,2), status text, note text, created_at timestamptz)`, loaded
//!    by one `psql -f` session of `BEGIN; INSERT … SELECT … FROM
//!    generate_series(a, a+999); COMMIT;` blocks. The slot is created with
//!    SQL before the load and the connector runs with `snapshot.mode=never`.
//!    - *backlog*: the load runs with no connector (PostgreSQL's own insert
//!      rate, the baseline: rows / psql's wall time), then the connector
//!      drains the slot: rows / (time from `timely::execute` to the last
//!      record emitted).
//!    - *concurrent*: the connector is running (slot active) when the load
//!      starts: rows / (time from the load's start to the last record
//!      emitted). The writer's own rate under this contention is printed too.
//! 2. **Latency**: a writer thread on the crate's own client inserts one row
//!    per transaction (autocommit) at a fixed rate, the row carrying the
//!    client's wall clock (µs) taken just before the INSERT is sent. Latency
//!    = wall clock when the inspect sees the record − that value, so it
//!    includes the INSERT's execution and commit.
//! 3. **Snapshot**: a 1 M-row table of the same shape, `snapshot.mode=
//!    initial_only` (the job ends after the snapshot), 1 and 2 workers, vs
//!    `psql -c "\copy <table> to /dev/null"` (psql's wall time). One table:
//!    with one task, one task reads it whatever the worker count; with
//!    `--snap-tasks`, the connector splits it into chunks of
//!    `snapshot.chunk.rows` (100,000) read by the snapshot tasks.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;
use common::{load_average, median, process_cpu, verdict};

#[path = "../tests/common/pg.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::io::Write;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Inspect, Operator};
use timely_connect_operators::render_blocks;
use timely_connect_operators::timely_connect::api::{
    OffsetStorageReader, SourceConnector, SourceTaskContext, StopToken,
};
use timely_connect_operators::timely_connect::connectors::postgres::wire::{
    PgConfig, PgConnection,
};
use timely_connect_operators::timely_connect::connectors::postgres::PostgresCdc;
use timely_connect_operators::timely_connect::data::json::write_text;
use timely_connect_operators::timely_connect::data::SourceRecord;
use timely_connect_operators::timely_connect::{Properties, Value};
use timely_connect_operators::{Checkpoint, ConnectSource, ExactlyOnceFileSink, Job, JobSpec};

use pg::PgCluster;

/// Rows per transaction of the streaming load.
const TXN_ROWS: u64 = 1000;
/// `until_idle` of every connector run (the tail is not part of any rate).
const UNTIL_IDLE: Duration = Duration::from_secs(2);

fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Shared by the inspect and the driver.
#[derive(Default)]
struct Probe {
    records: AtomicU64,
    /// When the inspect had seen `target` records.
    reached: OnceLock<Instant>,
    /// Latency samples (µs), when collecting them.
    latencies: Option<Mutex<Vec<i64>>>,
}

impl Probe {
    fn new(latencies: bool) -> Arc<Probe> {
        Arc::new(Probe {
            latencies: latencies.then(|| Mutex::new(Vec::new())),
            ..Probe::default()
        })
    }

    fn see(&self, batch: &[SourceRecord], target: u64) {
        if let Some(lat) = &self.latencies {
            let now = wall_us();
            let mut lat = lat.lock().expect("latency lock");
            for r in batch {
                if let Some(sent) = after_field_i64(&r.value, "sent_us") {
                    lat.push(now - sent);
                }
            }
        }
        let n = self
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed)
            + batch.len() as u64;
        if n >= target {
            self.reached.get_or_init(Instant::now);
        }
    }
}

/// `value.after.<field>` of a Debezium envelope, as an i64.
fn after_field_i64(value: &Value, field: &str) -> Option<i64> {
    let Value::Struct(envelope) = value else {
        return None;
    };
    let Some(Value::Struct(after)) = envelope.get("after") else {
        return None;
    };
    match after.get(field)? {
        Value::Int64(v) => Some(*v),
        Value::Int32(v) => Some(i64::from(*v)),
        _ => None,
    }
}

/// One connector run.
struct JobRun {
    /// `timely::execute` was called.
    start: Instant,
    /// The inspect had seen every expected record.
    reached: Instant,
    /// The job ended (after the idle tail).
    end: Instant,
    records: u64,
    cpu: Duration,
}

/// Set by `--unix`: every session (the connector's, psql's, pg_recvlogical's)
/// goes over the server's Unix-domain socket instead of TCP to 127.0.0.1.
static UNIX_SOCKET: AtomicBool = AtomicBool::new(false);

/// The host every session connects to: 127.0.0.1, or with `--unix` the
/// socket directory (libpq's convention, which the connector follows).
fn host(pg: &PgCluster) -> String {
    if UNIX_SOCKET.load(Ordering::Relaxed) {
        pg.socket_dir()
    } else {
        "127.0.0.1".to_owned()
    }
}

fn connector_props(pg: &PgCluster, table: &str, slot: &str, mode: &str) -> Properties {
    let mut props = Properties::new();
    let port = pg.port().to_string();
    let include = format!("public\\.{table}");
    for (k, v) in [
        ("name", "pg-bench"),
        ("connector.class", "PostgresCdc"),
        ("database.hostname", host(pg).as_str()),
        ("database.port", port.as_str()),
        ("database.user", pg.superuser()),
        ("database.password", pg.password()),
        ("database.dbname", "postgres"),
        ("topic.prefix", "bench"),
        ("table.include.list", include.as_str()),
        ("slot.name", slot),
        ("publication.name", "bench_pub"),
        ("publication.autocreate.mode", "disabled"),
        ("snapshot.mode", mode),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
    // Extra connector settings, `k=v,k=v` (`snapshot.fetch.size=2048`).
    if let Ok(extra) = std::env::var("TC_BENCH_PG_PROPS") {
        for kv in extra.split(',').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').expect("TC_BENCH_PG_PROPS: want k=v,k=v");
            props.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    props
}

/// Runs the connector until `target` records were emitted and it was idle
/// for [`UNTIL_IDLE`]. `on_start` is called once `timely::execute` is about
/// to be called (on this thread).
fn run_job(props: Properties, workers: usize, target: u64, probe: Arc<Probe>) -> JobRun {
    run_job_into(props, workers, target, probe, Output::File)
}

/// Where a job's records go.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Output {
    /// JSON lines into the exactly-once file sink (a temp file), as the
    /// CLI's `run --output`.
    File,
    /// The same JSON lines, rendered on the worker as the file sink does,
    /// written to `/dev/null` (as `run … > /dev/null`, the `\copy … to
    /// /dev/null` of the baseline): the connector's and the rendering's
    /// cost without the file system's.
    Null,
}

fn run_job_into(
    props: Properties,
    workers: usize,
    target: u64,
    probe: Arc<Probe>,
    into: Output,
) -> JobRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("out.jsonl");
    let spec = JobSpec::new(props)
        .snapshot_dir(dir.path().join("snapshots"))
        .snapshot_interval(Duration::from_secs(1))
        .until_idle(UNTIL_IDLE);
    let job_spec = spec.clone();
    let config = if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    };
    let sink_probe = probe.clone();
    let out = output.clone();
    let cpu0 = process_cpu();
    let start = Instant::now();
    timely::execute(config, move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare job");
        let p = sink_probe.clone();
        let out = out.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            let records = source
                .records
                .inspect_batch(move |_t, batch| p.see(batch, target));
            match into {
                Output::File => {
                    let file = records.exactly_once_file(&job, &out, "output");
                    scope.checkpoint(&job, vec![source.parts, file]);
                }
                Output::Null => {
                    let lines = NULL_LINES.clone();
                    render_blocks(records, "RenderLines", |r, block| {
                        write_text(block, &r.value, r.value_schema.as_deref());
                        block.push(b'\n');
                    })
                    .sink(Pipeline, "DevNull", {
                        let mut null = std::fs::OpenOptions::new()
                            .write(true)
                            .open("/dev/null")
                            .expect("open /dev/null");
                        move |(input, _)| {
                            input.for_each_time(|_, data| {
                                for blocks in data {
                                    for b in blocks.iter() {
                                        null.write_all(b).expect("write /dev/null");
                                        let n = memchr::memchr_iter(b'\n', b).count() as u64;
                                        lines.fetch_add(n, Ordering::Relaxed);
                                    }
                                }
                            });
                        }
                    });
                    scope.checkpoint(&job, vec![source.parts]);
                }
            }
        });
        job.run(worker).expect("job run");
    })
    .expect("timely")
    .join()
    .into_iter()
    .for_each(|r| r.expect("worker"));
    let end = Instant::now();
    let cpu = process_cpu() - cpu0;
    if let Some(f) = spec.failure() {
        panic!("job failed: {f}");
    }
    let records = spec.stats().records.load(Ordering::Relaxed);
    assert_eq!(
        records, target,
        "connector emitted a wrong number of records"
    );
    let lines = match into {
        Output::File => count_lines(&output),
        Output::Null => NULL_LINES.swap(0, Ordering::Relaxed),
    };
    assert_eq!(lines, target, "output file holds a wrong number of lines");
    let reached = *probe.reached.get().expect("target reached");
    JobRun {
        start,
        reached,
        end,
        records,
        cpu,
    }
}

/// Lines written to `/dev/null` by [`Output::Null`] jobs (one job at a time).
static NULL_LINES: std::sync::LazyLock<Arc<AtomicU64>> =
    std::sync::LazyLock::new(|| Arc::new(AtomicU64::new(0)));

/// Newlines in a file, read in blocks (the output runs to hundreds of MB).
fn count_lines(path: &Path) -> u64 {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("open output");
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf).expect("read output");
        if n == 0 {
            return lines;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

/// Diagnostic: the connector's task polled in a loop on this thread until
/// `target` records, batches dropped at once — no Timely, no task thread, no
/// rendering or file. Returns (time to `target` from the connector's
/// start, process CPU time).
fn run_poll_only(props: Properties, target: u64) -> (Duration, Duration) {
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut connector = PostgresCdc::default();
    connector.start(&props).expect("start connector");
    let config = connector.task_configs(1).expect("task configs").remove(0);
    let mut task = connector.create_task();
    let context = SourceTaskContext::new(
        "pg-bench",
        0,
        config,
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    task.start(context).expect("start task");
    let mut seen = 0u64;
    while seen < target {
        if let Some(batch) = task.poll().expect("poll") {
            seen += batch.len() as u64;
        }
    }
    let elapsed = start.elapsed();
    task.stop();
    (elapsed, process_cpu() - cpu0)
}

/// Runs `psql -f script` (or `-c`) against `postgres`; returns its wall time.
fn psql_timed(pg: &PgCluster, args: &[&str]) -> Duration {
    let psql = pg::find_bindir().join("psql");
    let start = Instant::now();
    let out = Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &host(pg)])
        .args([
            "-p",
            &pg.port().to_string(),
            "-U",
            pg.superuser(),
            "-d",
            "postgres",
        ])
        .args(args)
        .env("PGPASSWORD", pg.password())
        .output()
        .expect("run psql");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "psql {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn create_table(pg: &PgCluster, table: &str) {
    pg.psql(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id bigint PRIMARY KEY, account int NOT NULL,
           amount numeric(12,2), status text, note text,
           created_at timestamptz NOT NULL DEFAULT now())"
    ));
}

/// A `psql -f` script inserting rows `1..=rows` into `table`, 1000 per
/// transaction.
fn write_load_script(path: &Path, table: &str, rows: u64) {
    let mut s = String::new();
    let mut first = 1;
    while first <= rows {
        let last = (first + TXN_ROWS - 1).min(rows);
        s.push_str(&format!(
            "BEGIN;\nINSERT INTO {table} (id, account, amount, status, note) \
             SELECT g, g % 1000, (g % 1000000) / 100.0, \
             CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, 'note for row ' || g \
             FROM generate_series({first}, {last}) g;\nCOMMIT;\n"
        ));
        first = last + 1;
    }
    std::fs::write(path, s).expect("write load script");
}

/// `pg_recvlogical` reading `slot` (pgoutput, the bench publication) up to
/// the current WAL position into /dev/null; its wall time.
fn recvlogical_drain(pg: &PgCluster, slot: &str) -> Duration {
    let end = pg.psql("SELECT pg_current_wal_lsn()");
    let start = Instant::now();
    let out = Command::new(pg::find_bindir().join("pg_recvlogical"))
        .args(["-h", &host(pg), "-p", &pg.port().to_string()])
        .args(["-U", pg.superuser(), "-d", "postgres", "--slot", slot])
        .args(["--start", "--endpos", end.trim(), "-f", "/dev/null"])
        .args(["-o", "proto_version=1", "-o", "publication_names=bench_pub"])
        .env("PGPASSWORD", pg.password())
        .output()
        .expect("run pg_recvlogical");
    assert!(
        out.status.success(),
        "pg_recvlogical failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn create_slot(pg: &PgCluster, slot: &str) {
    pg.psql(&format!(
        "SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')"
    ));
}

fn drop_slot(pg: &PgCluster, slot: &str) {
    for _ in 0..100 {
        let sql = format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{slot}' OR slot_name LIKE '{slot}\\_%'"
        );
        if pg.try_psql_db("postgres", &sql).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("could not drop slot {slot}");
}

fn wait_slot_active(pg: &PgCluster, slot: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let active = pg.psql(&format!(
            "SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'"
        ));
        if active == "t" {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("slot {slot} never became active");
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max),
    )
}

/// Unique names for each run's table and slot.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct StreamResult {
    pg_alone: Vec<f64>,
    /// `pg_recvlogical` draining the same backlog from its own slot to
    /// /dev/null: what PostgreSQL's walsender sends at most.
    recvlogical: Vec<f64>,
    poll_only: Vec<f64>,
    pg_concurrent: Vec<[f64; 2]>,
    backlog: Vec<[f64; 2]>,
    concurrent: Vec<[f64; 2]>,
    cpu_backlog: Vec<[f64; 2]>,
}

fn bench_stream(pg: &PgCluster, rows: u64, reps: usize, tmp: &Path) -> StreamResult {
    let mut res = StreamResult {
        pg_alone: Vec::new(),
        recvlogical: Vec::new(),
        poll_only: Vec::new(),
        pg_concurrent: Vec::new(),
        backlog: Vec::new(),
        concurrent: Vec::new(),
        cpu_backlog: Vec::new(),
    };
    for rep in 1..=reps {
        let mut backlog = [0.0; 2];
        let mut concurrent = [0.0; 2];
        let mut pg_conc = [0.0; 2];
        let mut cpu = [0.0; 2];
        for (wi, workers) in [1usize, 2].into_iter().enumerate() {
            // Backlog: PostgreSQL alone, then the connector drains the slot.
            let id = next_id();
            let (table, slot) = (format!("stream_{id}"), format!("bench_slot_{id}"));
            create_table(pg, &table);
            let script = tmp.join(format!("{table}.sql"));
            write_load_script(&script, &table, rows);
            create_slot(pg, &slot);
            let recv_slot = format!("recv_slot_{id}");
            create_slot(pg, &recv_slot);
            pg.psql("CHECKPOINT");
            let wrote = psql_timed(pg, &["-f", script.to_str().expect("utf-8")]);
            let pg_rate = rows as f64 / wrote.as_secs_f64();
            res.pg_alone.push(pg_rate);
            let recv = recvlogical_drain(pg, &recv_slot);
            drop_slot(pg, &recv_slot);
            let recv_rate = rows as f64 / recv.as_secs_f64();
            res.recvlogical.push(recv_rate);
            println!(
                "rep {rep} stream backlog   pg_recvlogical to /dev/null: {recv_rate:>9.0} rows/s ({:.2} s) ratio {:.2}",
                recv.as_secs_f64(),
                recv_rate / pg_rate
            );
            let run = run_job(
                connector_props(pg, &table, &slot, "never"),
                workers,
                rows,
                Probe::new(false),
            );
            let rate = run.records as f64 / (run.reached - run.start).as_secs_f64();
            backlog[wi] = rate;
            cpu[wi] = run.cpu.as_secs_f64() / (rows as f64 / 1e6);
            println!(
                "rep {rep} stream backlog   {workers}w: PostgreSQL {:>9.0} rows/s ({:.2} s) | connector {:>9.0} ev/s ({:.2} s, tail {:.2} s, bench CPU {:.2} s/M) ratio {:.2}",
                pg_rate,
                wrote.as_secs_f64(),
                rate,
                (run.reached - run.start).as_secs_f64(),
                (run.end - run.reached).as_secs_f64(),
                cpu[wi],
                rate / pg_rate
            );
            if workers == 1 {
                // Diagnostic: the same load into a fresh table and slot,
                // drained by the task's poll() alone.
                let id = next_id();
                let (t2, s2) = (format!("stream_{id}"), format!("bench_slot_{id}"));
                create_table(pg, &t2);
                let script2 = tmp.join(format!("{t2}.sql"));
                write_load_script(&script2, &t2, rows);
                create_slot(pg, &s2);
                psql_timed(pg, &["-f", script2.to_str().expect("utf-8")]);
                let (t, c) = run_poll_only(connector_props(pg, &t2, &s2, "never"), rows);
                let r = rows as f64 / t.as_secs_f64();
                println!(
                    "rep {rep} stream backlog diagnostic poll() loop: {r:>9.0} ev/s ({:.2} s, CPU {:.1} s/M) ratio {:.2}",
                    t.as_secs_f64(),
                    c.as_secs_f64() / (rows as f64 / 1e6),
                    r / pg_rate
                );
                res.poll_only.push(r);
                drop_slot(pg, &s2);
                pg.psql(&format!("DROP TABLE {t2}"));
            }
            drop_slot(pg, &slot);
            pg.psql(&format!("DROP TABLE {table}"));

            // Concurrent: the connector is streaming when the load starts.
            let id = next_id();
            let (table, slot) = (format!("stream_{id}"), format!("bench_slot_{id}"));
            create_table(pg, &table);
            let script = tmp.join(format!("{table}.sql"));
            write_load_script(&script, &table, rows);
            create_slot(pg, &slot);
            pg.psql("CHECKPOINT");
            let props = connector_props(pg, &table, &slot, "never");
            let job = std::thread::spawn(move || run_job(props, workers, rows, Probe::new(false)));
            wait_slot_active(pg, &slot);
            let load_start = Instant::now();
            let wrote = psql_timed(pg, &["-f", script.to_str().expect("utf-8")]);
            let run = job.join().expect("job thread");
            let rate = rows as f64 / (run.reached - load_start).as_secs_f64();
            concurrent[wi] = rate;
            pg_conc[wi] = rows as f64 / wrote.as_secs_f64();
            println!(
                "rep {rep} stream concurrent {workers}w: writer {:>9.0} rows/s ({:.2} s) | connector {:>9.0} ev/s (last record {:.2} s after load start, {:.2} s after load end)",
                pg_conc[wi],
                wrote.as_secs_f64(),
                rate,
                (run.reached - load_start).as_secs_f64(),
                (run.reached - load_start).as_secs_f64() - wrote.as_secs_f64(),
            );
            drop_slot(pg, &slot);
            pg.psql(&format!("DROP TABLE {table}"));
        }
        res.backlog.push(backlog);
        res.concurrent.push(concurrent);
        res.pg_concurrent.push(pg_conc);
        res.cpu_backlog.push(cpu);
    }
    res
}

struct LatencyResult {
    samples: Vec<i64>,
    achieved_rate: f64,
}

fn bench_latency(pg: &PgCluster, secs: u64, rate: u64) -> LatencyResult {
    let id = next_id();
    let (table, slot) = (format!("lat_{id}"), format!("bench_slot_{id}"));
    pg.psql(&format!(
        "CREATE TABLE {table} (id bigint PRIMARY KEY, sent_us bigint NOT NULL, \
         account int, note text)"
    ));
    create_slot(pg, &slot);
    let total = secs * rate;
    let probe = Probe::new(true);
    let job_probe = probe.clone();
    let props = connector_props(pg, &table, &slot, "never");
    let job = std::thread::spawn(move || run_job(props, 1, total, job_probe));
    wait_slot_active(pg, &slot);
    let cfg = PgConfig::new(&host(pg), pg.port(), pg.superuser(), "postgres")
        .with_password(pg.password());
    let mut conn = PgConnection::connect(&cfg).expect("connect writer");
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for i in 0..total {
        let due = start + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sql = format!(
            "INSERT INTO {table} VALUES ({}, {}, {}, 'latency row')",
            i + 1,
            wall_us(),
            i % 1000
        );
        conn.execute(&sql).expect("insert");
    }
    let achieved_rate = total as f64 / start.elapsed().as_secs_f64();
    conn.close();
    let run = job.join().expect("job thread");
    assert_eq!(run.records, total);
    drop_slot(pg, &slot);
    let samples = probe
        .latencies
        .as_ref()
        .expect("latencies")
        .lock()
        .expect("lock")
        .clone();
    LatencyResult {
        samples,
        achieved_rate,
    }
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64
}

struct SnapshotResult {
    copy: Vec<f64>,
    /// 1 and 2 workers with one task, then 1 and 2 workers with
    /// `--snap-tasks` tasks (a chunked parallel snapshot).
    ours: Vec<Vec<f64>>,
    poll_only: Vec<f64>,
}

/// Creates `table` with `rows` rows of the bench's shape, vacuumed and analyzed.
fn load_snapshot_table(pg: &PgCluster, table: &str, rows: u64) {
    create_table(pg, table);
    pg.psql(&format!(
        "INSERT INTO {table} (id, account, amount, status, note) \
         SELECT g, g % 1000, (g % 1000000) / 100.0, \
         CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END, 'note for row ' || g \
         FROM generate_series(1, {rows}) g"
    ));
    pg.psql(&format!("VACUUM ANALYZE {table}"));
}

fn bench_snapshot(
    pg: &PgCluster,
    rows: u64,
    reps: usize,
    configs: &[(usize, u64, Output)],
    poll: bool,
) -> SnapshotResult {
    let table = "snap_table";
    let started = Instant::now();
    load_snapshot_table(pg, table, rows);
    pg.psql("CHECKPOINT");
    println!(
        "snapshot table: {rows} rows loaded in {:.1} s, {}",
        started.elapsed().as_secs_f64(),
        pg.psql(&format!(
            "SELECT pg_size_pretty(pg_total_relation_size('{table}'))"
        ))
    );
    // Warm the cache.
    psql_timed(pg, &["-c", &format!("\\copy {table} to /dev/null")]);
    let mut res = SnapshotResult {
        copy: Vec::new(),
        ours: Vec::new(),
        poll_only: Vec::new(),
    };
    for rep in 1..=reps {
        let copy = psql_timed(pg, &["-c", &format!("\\copy {table} to /dev/null")]);
        let copy_rate = rows as f64 / copy.as_secs_f64();
        res.copy.push(copy_rate);
        let mut ours = vec![0.0; configs.len()];
        for (wi, &(workers, tasks, into)) in configs.iter().enumerate() {
            let slot = format!("bench_slot_{}", next_id());
            let mut props = connector_props(pg, table, &slot, "initial_only");
            props.insert("tasks.max".to_owned(), tasks.to_string());
            let run = run_job_into(props, workers, rows, Probe::new(false), into);
            let to_n = (run.reached - run.start).as_secs_f64();
            ours[wi] = rows as f64 / to_n;
            println!(
                "rep {rep} snapshot {workers}w {tasks}t {into:?}: COPY {:>9.0} rows/s ({:.2} s) | connector {:>9.0} rows/s ({:.2} s, tail {:.2} s, bench CPU {:.2} s/M) ratio {:.2}",
                copy_rate,
                copy.as_secs_f64(),
                ours[wi],
                to_n,
                (run.end - run.reached).as_secs_f64(),
                run.cpu.as_secs_f64() / (rows as f64 / 1e6),
                ours[wi] / copy_rate
            );
            drop_slot(pg, &slot);
        }
        res.ours.push(ours);
        if !poll {
            continue;
        }
        let slot = format!("bench_slot_{}", next_id());
        let (t, cpu) = run_poll_only(connector_props(pg, table, &slot, "initial_only"), rows);
        let rate = rows as f64 / t.as_secs_f64();
        println!(
            "rep {rep} snapshot diagnostic poll() loop: {rate:>9.0} rows/s ({:.2} s, CPU {:.1} s/M) ratio {:.2}",
            t.as_secs_f64(),
            cpu.as_secs_f64() / (rows as f64 / 1e6),
            rate / copy_rate
        );
        res.poll_only.push(rate);
        drop_slot(pg, &slot);
    }
    res
}

/// Peak RSS (`VmHWM`) of a process, polled until it exits; and its wall time.
fn peak_rss_of(mut child: std::process::Child) -> (u64, Duration, bool) {
    let start = Instant::now();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            return (peak, start.elapsed(), st.success());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The CLI's peak RSS while it snapshots tables of `sizes` rows (one task,
/// and `tasks` tasks chunked): memory is bounded by the fetch size and the
/// chunks in flight, not by the table.
fn bench_snapshot_rss(
    pg: &PgCluster,
    sizes: &[u64],
    tasks: u64,
    tmp: &Path,
) -> Vec<(u64, u64, u64, f64)> {
    let mut out = Vec::new();
    for &rows in sizes {
        let table = format!("rss_{rows}");
        load_snapshot_table(pg, &table, rows);
        for t in [1, tasks] {
            let dir = tmp.join(format!("rss-{rows}-{t}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let slot = format!("bench_slot_{}", next_id());
            let mut props = connector_props(pg, &table, &slot, "initial_only");
            props.insert("tasks.max".to_owned(), t.to_string());
            let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            std::fs::write(dir.join("c.properties"), text).expect("props");
            let child = Command::new(env!("CARGO_BIN_EXE_timely-connect"))
                .arg("run")
                .arg(dir.join("c.properties"))
                .arg("--output")
                .arg(dir.join("out.jsonl"))
                .arg("--snapshot-dir")
                .arg(dir.join("snaps"))
                .args(["--until-idle", "1s"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn the CLI");
            let (peak, wall, ok) = peak_rss_of(child);
            assert!(ok, "the CLI failed on {table} with {t} task(s)");
            let _ = std::fs::remove_dir_all(&dir);
            drop_slot(pg, &slot);
            println!(
                "snapshot RSS: {rows} rows, tasks.max={t}: peak {:.0} MiB, {:.1} s",
                peak as f64 / 1048576.0,
                wall.as_secs_f64()
            );
            out.push((rows, t, peak, wall.as_secs_f64()));
        }
        pg.psql(&format!("DROP TABLE {table}"));
    }
    out
}

struct Options {
    stream_rows: u64,
    snap_rows: u64,
    snap_tasks: u64,
    lat_secs: u64,
    lat_rate: u64,
    reps: usize,
    only: Vec<String>,
    /// (workers, `tasks.max`) of each snapshot run.
    snap_configs: Vec<(usize, u64, Output)>,
    snap_poll: bool,
}

fn options(args: &[String]) -> Options {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: u64| -> u64 {
        flag(name)
            .map(|v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
            .unwrap_or(default)
    };
    let only = args
        .windows(2)
        .filter(|w| w[0] == "--only")
        .map(|w| w[1].clone())
        .collect();
    let snap_tasks = num("--snap-tasks", 3).max(2);
    let snap_configs = match flag("--snap-configs") {
        None => vec![
            (1, 1, Output::File),
            (2, 1, Output::File),
            (1, snap_tasks, Output::File),
            (2, snap_tasks, Output::File),
            (1, 1, Output::Null),
            (1, snap_tasks, Output::Null),
            (2, snap_tasks, Output::Null),
        ],
        Some(list) => list
            .split(',')
            .map(|c| {
                let parts: Vec<&str> = c.split(':').collect();
                let into = match parts.get(2) {
                    None | Some(&"file") => Output::File,
                    Some(&"null") => Output::Null,
                    Some(o) => panic!("--snap-configs: output is file or null, got {o}"),
                };
                (
                    parts[0].parse().expect("--snap-configs: workers"),
                    parts
                        .get(1)
                        .expect("--snap-configs: want W:T[:file|null]")
                        .parse()
                        .expect("--snap-configs: tasks"),
                    into,
                )
            })
            .collect(),
    };
    Options {
        stream_rows: num("--stream-rows", 300_000).max(TXN_ROWS),
        snap_rows: num("--snap-rows", 1_000_000).max(1),
        snap_tasks,
        lat_secs: num("--lat-secs", 10).max(1),
        lat_rate: num("--lat-rate", 1000).max(1),
        reps: num("--reps", 3).max(1) as usize,
        only,
        snap_configs,
        snap_poll: !args.iter().any(|a| a == "--no-poll"),
    }
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let opts = options(&args);
    UNIX_SOCKET.store(args.iter().any(|a| a == "--unix"), Ordering::Relaxed);
    let wanted = |part: &str| opts.only.is_empty() || opts.only.iter().any(|o| o == part);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!(
        "machine: {} cpus, {cpu_model}; load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    // The harness's synchronous_commit=off leaves commits for the WAL writer
    // to flush every wal_writer_delay (200 ms), and walsenders only send
    // flushed WAL: every change would wait up to 200 ms before it can be
    // decoded. `--async-commit` keeps that setting.
    let sync_commit = if args.iter().any(|a| a == "--async-commit") {
        "off"
    } else {
        "on"
    };
    let pg = PgCluster::builder()
        .setting("synchronous_commit", sync_commit)
        .setting("shared_buffers", "'256MB'")
        .setting("max_wal_size", "'8GB'")
        .setting("checkpoint_timeout", "'30min'")
        .start();
    println!(
        "PostgreSQL: {} (fsync=off, full_page_writes=off, synchronous_commit={})",
        pg.psql("SHOW server_version"),
        pg.psql("SHOW synchronous_commit")
    );
    pg.psql("CREATE PUBLICATION bench_pub FOR ALL TABLES");
    let tmp = tempfile::tempdir().expect("tempdir");
    let tmp_path: PathBuf = tmp.path().to_path_buf();

    let stream =
        wanted("stream").then(|| bench_stream(&pg, opts.stream_rows, opts.reps, &tmp_path));
    let latency = wanted("latency").then(|| bench_latency(&pg, opts.lat_secs, opts.lat_rate));
    let snapshot = wanted("snapshot").then(|| {
        bench_snapshot(
            &pg,
            opts.snap_rows,
            opts.reps,
            &opts.snap_configs,
            opts.snap_poll,
        )
    });
    let rss = wanted("rss").then(|| {
        bench_snapshot_rss(
            &pg,
            &[opts.snap_rows, opts.snap_rows * 3],
            opts.snap_tasks,
            &tmp_path,
        )
    });

    println!("\nload average after: {}", load_average());
    if let Some(rss) = &rss {
        println!("\nsnapshot peak RSS (the CLI, initial_only, --output to a file):");
        println!("| rows | tasks.max | peak RSS | wall |");
        println!("|---:|---:|---:|---:|");
        for (rows, t, peak, wall) in rss {
            println!(
                "| {rows} | {t} | {:.0} MiB | {wall:.1} s |",
                *peak as f64 / 1048576.0
            );
        }
    }
    println!("\nmedians of {} reps", opts.reps);
    if let Some(s) = &stream {
        let pg_rate = median(s.pg_alone.clone());
        let (lo, hi) = min_max(&s.pg_alone);
        println!(
            "\nstreaming, {} rows in transactions of {TXN_ROWS}:",
            opts.stream_rows
        );
        println!("| configuration | rows/s | min..max | vs PostgreSQL |");
        println!("|---|---:|---:|---:|");
        println!(
            "| PostgreSQL insert rate, no connector (baseline) | {pg_rate:.0} | {lo:.0} .. {hi:.0} | 1.00 |"
        );
        let (rlo, rhi) = min_max(&s.recvlogical);
        let recv = median(s.recvlogical.clone());
        println!(
            "| pg_recvlogical draining the backlog to /dev/null (PostgreSQL's own client) | {recv:.0} | {rlo:.0} .. {rhi:.0} | {:.2} |",
            recv / pg_rate
        );
        let mut best = 0.0f64;
        for (wi, w) in [1, 2].into_iter().enumerate() {
            for (label, xs) in [
                ("connector draining the backlog", &s.backlog),
                ("connector concurrent with the load", &s.concurrent),
                ("writer while the connector streams", &s.pg_concurrent),
            ] {
                let v: Vec<f64> = xs.iter().map(|a| a[wi]).collect();
                let (lo, hi) = min_max(&v);
                let m = median(v);
                if !label.starts_with("writer") {
                    best = best.max(m);
                }
                println!(
                    "| {label}, {w} worker{} | {m:.0} | {lo:.0} .. {hi:.0} | {:.2} |",
                    if w == 1 { "" } else { "s" },
                    m / pg_rate
                );
            }
            let cpu: Vec<f64> = s.cpu_backlog.iter().map(|a| a[wi]).collect();
            println!(
                "  (backlog, {w} worker(s): bench process CPU {:.2} s per M events)",
                median(cpu)
            );
        }
        let v = s.poll_only.clone();
        let (lo, hi) = min_max(&v);
        let m = median(v);
        println!(
            "| diagnostic: the task's poll() alone draining the backlog, no Timely | {m:.0} | {lo:.0} .. {hi:.0} | {:.2} |",
            m / pg_rate
        );
        // Against the walsender's own ceiling: each rep's drain over the
        // `pg_recvlogical` drain that ran just before it, on the same
        // backlog size (`recvlogical` holds one per rep and worker count).
        for (wi, w) in [1, 2].into_iter().enumerate() {
            let ratios: Vec<f64> = s
                .backlog
                .iter()
                .enumerate()
                .filter_map(|(rep, b)| Some(b[wi] / s.recvlogical.get(rep * 2 + wi)?))
                .collect();
            let (lo, hi) = min_max(&ratios);
            println!(
                "  (backlog, {w} worker(s), vs pg_recvlogical in the same rep: {:.2}, {lo:.2} .. {hi:.2})",
                median(ratios)
            );
        }
        let b1 = median(s.backlog.iter().map(|a| a[0]).collect()) / pg_rate;
        let c1 = median(s.concurrent.iter().map(|a| a[0]).collect()) / pg_rate;
        println!(
            "streaming >= 0.7x PostgreSQL: backlog 1w {b1:.2} ({}), concurrent 1w {c1:.2} ({}); best {:.2}",
            verdict(b1 >= 0.7),
            verdict(c1 >= 0.7),
            best / pg_rate
        );
    }
    if let Some(l) = &latency {
        let mut sorted = l.samples.clone();
        sorted.sort_unstable();
        let ms = |us: f64| us / 1000.0;
        let p99 = ms(percentile(&sorted, 99.0));
        println!(
            "\nlatency, {} single-row transactions at {:.0}/s for {} s ({} samples), 1 worker:",
            opts.lat_secs * opts.lat_rate,
            l.achieved_rate,
            opts.lat_secs,
            sorted.len()
        );
        println!(
            "| min | median | p90 | p99 | p99.9 | max |\n|---:|---:|---:|---:|---:|---:|\n| {:.2} ms | {:.2} ms | {:.2} ms | {p99:.2} ms | {:.2} ms | {:.2} ms |",
            ms(percentile(&sorted, 0.0)),
            ms(percentile(&sorted, 50.0)),
            ms(percentile(&sorted, 90.0)),
            ms(percentile(&sorted, 99.9)),
            ms(percentile(&sorted, 100.0)),
        );
        println!("p99 <= 50 ms: {}", verdict(p99 <= 50.0));
    }
    if let Some(s) = &snapshot {
        let copy = median(s.copy.clone());
        let (lo, hi) = min_max(&s.copy);
        println!("\nsnapshot, {} rows, one table:", opts.snap_rows);
        println!("| configuration | rows/s | min..max | vs COPY |");
        println!("|---|---:|---:|---:|");
        println!("| psql \\copy to /dev/null (baseline) | {copy:.0} | {lo:.0} .. {hi:.0} | 1.00 |");
        let (mut r1, mut r2) = (0.0f64, 0.0f64);
        for (wi, &(w, t, into)) in opts.snap_configs.iter().enumerate() {
            let v: Vec<f64> = s.ours.iter().map(|a| a[wi]).collect();
            let (lo, hi) = min_max(&v);
            let m = median(v);
            if w == 1 {
                r1 = r1.max(m / copy);
            } else {
                r2 = r2.max(m / copy);
            }
            let how = if t == 1 {
                "one task".to_owned()
            } else {
                format!("tasks.max={t}, chunked over {} snapshot tasks", t - 1)
            };
            let to = match into {
                Output::File => "JSON lines to a file",
                Output::Null => "JSON lines to /dev/null",
            };
            println!(
                "| connector initial_only, {w} worker{}, {how}, {to} | {m:.0} | {lo:.0} .. {hi:.0} | {:.2} |",
                if w == 1 { "" } else { "s" },
                m / copy
            );
        }
        if !s.poll_only.is_empty() {
            let v = s.poll_only.clone();
            let (lo, hi) = min_max(&v);
            let m = median(v);
            println!(
                "| diagnostic: the task's poll() alone, no Timely | {m:.0} | {lo:.0} .. {hi:.0} | {:.2} |",
                m / copy
            );
        }
        println!(
            "snapshot >= 0.5x COPY (1 worker): {r1:.2} ({})",
            verdict(r1 >= 0.5)
        );
        println!(
            "snapshot >= 0.8x COPY (2 workers): {r2:.2} ({})",
            verdict(r2 >= 0.8)
        );
    }
}
