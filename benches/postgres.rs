//! `PostgresCdc` against a throw-away PostgreSQL cluster, through the real
//! CLI and its exactly-once file output:
//!
//! - **stream**: change events/s for inserts committed in transactions of
//!   1,000 rows, next to PostgreSQL's own insert rate for the same load;
//! - **snapshot**: rows/s of the initial snapshot of one table, next to
//!   `COPY … TO STDOUT` of the same table;
//! - **latency**: commit → record in the output file, median and p99, for
//!   single-row transactions spaced 20 ms apart (`source.ts_ms` is the
//!   commit time; the file is polled every millisecond). The output file
//!   is written once per epoch, so this run snapshots every 100 ms and the
//!   latency includes up to one snapshot interval.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench postgres
//! TC_PG_BENCH=stream,snapshot,latency TC_PG_STREAM_ROWS=200000 TC_PG_SNAPSHOT_ROWS=1000000 cargo bench -p timely-connect-operators --bench postgres
//! ```

#[path = "../tests/common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pg::PgCluster;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn props(pg: &PgCluster, dir: &Path, slot: &str, table: &str, interval_ms: u32) {
    let text = format!(
        "name=pg-bench\nconnector.class=PostgresCdc\ndatabase.hostname=127.0.0.1\n\
         database.port={}\ndatabase.user={}\ndatabase.password={}\ndatabase.dbname=postgres\n\
         topic.prefix=bench\nslot.name={slot}\ntable.include.list=public\\\\.{table}\n\
         snapshot.interval.ms={interval_ms}\n",
        pg.port(),
        pg.superuser(),
        pg.password()
    );
    std::fs::write(dir.join("conn.properties"), text).expect("write properties");
}

fn start_job(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_timely-connect"))
        .arg("run")
        .arg(dir.join("conn.properties"))
        .arg("--snapshot-dir")
        .arg(dir.join("snaps"))
        .arg("--output")
        .arg(dir.join("out.jsonl"))
        .arg("--until-idle")
        .arg("3s")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("job.log")).expect("job log"))
        .spawn()
        .expect("start the CLI")
}

/// Waits until `path` has `n` lines; returns when they were all there.
/// Reads only what was appended since the last look, every 10 ms, so the
/// watching costs little next to the job.
fn wait_lines(path: &Path, n: usize, limit: Duration) -> Instant {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut seen = 0usize;
    let mut file = None;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        if let Some(f) = file.as_mut() {
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => seen += buf[..k].iter().filter(|c| **c == b'\n').count(),
                }
            }
        }
        if seen >= n {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{n} lines did not arrive in time"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_slot_active(pg: &PgCluster, slot: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pg.psql(&format!(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active"
    )) != "1"
    {
        assert!(Instant::now() < deadline, "slot never became active");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stream(pg: &PgCluster, rows: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    pg.psql("CREATE TABLE ev (id bigint PRIMARY KEY, v text NOT NULL)");
    props(pg, dir.path(), "bench_stream", "ev", 1000);
    let mut job = start_job(dir.path());
    wait_slot_active(pg, "bench_stream");
    let mut sql = String::new();
    for t in 0..rows / 1000 {
        let lo = t * 1000 + 1;
        sql.push_str(&format!(
            "BEGIN; INSERT INTO ev SELECT g, 'row ' || g FROM generate_series({lo}, {}) g; COMMIT;",
            lo + 999
        ));
    }
    let rows = rows / 1000 * 1000;
    let started = Instant::now();
    pg.psql(&sql);
    let pg_time = started.elapsed();
    let done = wait_lines(
        &dir.path().join("out.jsonl"),
        rows,
        Duration::from_secs(600),
    );
    let cdc_time = done - started;
    let _ = job.wait();
    println!(
        "stream: {rows} inserts in transactions of 1000: PostgreSQL {:.0} rows/s ({:.2} s), \
         PostgresCdc {:.0} events/s ({:.2} s from the first insert to the last event written), ratio {:.2}",
        rows as f64 / pg_time.as_secs_f64(),
        pg_time.as_secs_f64(),
        rows as f64 / cdc_time.as_secs_f64(),
        cdc_time.as_secs_f64(),
        pg_time.as_secs_f64() / cdc_time.as_secs_f64()
    );
}

fn snapshot(pg: &PgCluster, rows: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    pg.psql(&format!(
        "CREATE TABLE snap (id bigint PRIMARY KEY, v text NOT NULL, n numeric(12,2), t timestamptz);
         INSERT INTO snap SELECT g, 'row ' || g, g / 100.0, now() FROM generate_series(1, {rows}) g;"
    ));
    pg.psql("VACUUM ANALYZE snap");
    let started = Instant::now();
    let copy = Command::new(pg::find_bindir().join("psql"))
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &pg.port().to_string()])
        .args([
            "-U",
            pg.superuser(),
            "-d",
            "postgres",
            "-c",
            "COPY snap TO STDOUT",
        ])
        .env("PGPASSWORD", pg.password())
        .stdout(Stdio::null())
        .status()
        .expect("psql COPY");
    assert!(copy.success());
    let copy_time = started.elapsed();
    props(pg, dir.path(), "bench_snap", "snap", 1000);
    let started = Instant::now();
    let mut job = start_job(dir.path());
    let done = wait_lines(
        &dir.path().join("out.jsonl"),
        rows,
        Duration::from_secs(1800),
    );
    let snap_time = done - started;
    let _ = job.wait();
    println!(
        "snapshot: {rows} rows: COPY TO STDOUT {:.0} rows/s ({:.2} s), PostgresCdc {:.0} rows/s \
         ({:.2} s from job start to the last row written), ratio {:.2}",
        rows as f64 / copy_time.as_secs_f64(),
        copy_time.as_secs_f64(),
        rows as f64 / snap_time.as_secs_f64(),
        snap_time.as_secs_f64(),
        copy_time.as_secs_f64() / snap_time.as_secs_f64()
    );
}

fn latency(pg: &PgCluster, count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    pg.psql("CREATE TABLE lat (id int PRIMARY KEY)");
    props(pg, dir.path(), "bench_lat", "lat", 100);
    let mut job = start_job(dir.path());
    wait_slot_active(pg, "bench_lat");
    let out = dir.path().join("out.jsonl");
    let mut sql = String::new();
    for i in 0..count {
        sql.push_str(&format!(
            "BEGIN; INSERT INTO lat VALUES ({i}); COMMIT; SELECT pg_sleep(0.02);"
        ));
    }
    let port = pg.port().to_string();
    let mut writer = Command::new(pg::find_bindir().join("psql"))
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port])
        .args(["-U", pg.superuser(), "-d", "postgres", "-c", &sql])
        .env("PGPASSWORD", pg.password())
        .stdout(Stdio::null())
        .spawn()
        .expect("psql");
    let mut seen = 0;
    let mut latencies = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < count && Instant::now() < deadline {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for line in text.lines().skip(seen) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(ts) = v["source"]["ts_ms"].as_i64() {
                    latencies.push(now_ms - ts);
                }
            }
            seen += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = writer.wait();
    let _ = job.wait();
    latencies.sort_unstable();
    if latencies.is_empty() {
        let log = std::fs::read_to_string(dir.path().join("job.log")).unwrap_or_default();
        println!("latency: no records; job log:\n{log}");
        return;
    }
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "latency: commit → record in the output file over {} single-row transactions: \
         median {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pg = PgCluster::builder()
        .setting("max_wal_size", "'4GB'")
        .start();
    let which = std::env::var("TC_PG_BENCH").unwrap_or_else(|_| "stream,snapshot,latency".into());
    if which.contains("stream") {
        stream(&pg, env_usize("TC_PG_STREAM_ROWS", 200_000));
    }
    if which.contains("snapshot") {
        snapshot(&pg, env_usize("TC_PG_SNAPSHOT_ROWS", 1_000_000));
    }
    if which.contains("latency") {
        latency(&pg, env_usize("TC_PG_LATENCY_TXS", 200));
    }
}
