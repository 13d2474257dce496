//! Debezium's PostgresConnector streaming through the bridge against the
//! same connector in Debezium's embedded engine, on a throw-away
//! PostgreSQL cluster (tests/common/pg.rs), one run:
//!
//! - **backlog**: N rows inserted (transactions of 1000) into a table whose
//!   slot and publication exist before the load; then the connector starts
//!   (`snapshot.mode=no_data`) and drains the slot: events/s from start and
//!   from the first event;
//! - **latency**: while the connector streams, a writer commits one row
//!   per transaction, R a second for S seconds: per event, arrival time −
//!   `source.ts_ms` (PostgreSQL's commit time), p50 and p99 in ms.
//!
//! The bridge is polled in a loop here (the records arrive in Rust as our
//! `SourceRecord`s); the engine hands `SourceRecord`s to a Java consumer
//! that marks them processed. Needs scripts/install-java-plugins.sh and
//! scripts/install-postgres.sh.
//!
//! ```text
//! cargo bench -p timely-connect-jvm --bench debezium_pg -- [ROWS] [RATE] [SECS]
//! ```

#[path = "../../tests/common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use timely_connect::api::{OffsetStorageReader, SourceTaskContext, StopToken};
use timely_connect::data::Value;
use timely_connect::plugins::PluginSet;
use timely_connect::Properties;

/// This process's CPU time (user + system), in ms.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    // Fields 14 and 15 (utime, stime), counted from the state after the ')'.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) * 1000 / 100
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn props(pg: &pg::PgCluster, name: &str) -> Vec<(String, String)> {
    let mut p = pg.connector_props("postgres");
    for (k, v) in [
        ("name", name.to_owned()),
        (
            "connector.class",
            "io.debezium.connector.postgresql.PostgresConnector".to_owned(),
        ),
        ("connector.runtime", "jvm".to_owned()),
        ("plugin.name", "pgoutput".to_owned()),
        ("topic.prefix", "bench".to_owned()),
        ("slot.name", format!("slot_{name}")),
        ("publication.name", format!("pub_{name}")),
        ("publication.autocreate.mode", "disabled".to_owned()),
        ("table.include.list", format!("public\\.{name}")),
        ("snapshot.mode", "no_data".to_owned()),
    ] {
        p.push((k.to_owned(), v));
    }
    p
}

/// A table with its slot and publication, before any load.
fn prepare(pg: &pg::PgCluster, name: &str) {
    pg.psql(&format!(
        "CREATE TABLE {name} (id bigint PRIMARY KEY, account int, amount numeric(12,2), note text);
         CREATE PUBLICATION pub_{name} FOR TABLE {name};"
    ));
    pg.psql(&format!(
        "SELECT pg_create_logical_replication_slot('slot_{name}', 'pgoutput');"
    ));
}

fn load(pg: &pg::PgCluster, name: &str, rows: u64) {
    let mut sql = String::new();
    let mut at = 1;
    while at <= rows {
        let to = (at + 999).min(rows);
        sql.push_str(&format!(
            "BEGIN; INSERT INTO {name} SELECT g, g % 100, g * 0.01, 'note ' || g FROM generate_series({at}, {to}) g; COMMIT;\n"
        ));
        at = to + 1;
    }
    pg.psql(&sql);
}

/// One row per transaction, `rate` a second for `secs` seconds, from
/// `first_id` (explicit BEGIN/COMMIT: psql runs one `-c` string as one
/// transaction otherwise).
fn trickle(pg: &pg::PgCluster, name: &str, rate: u64, secs: u64, first_id: u64) {
    let mut sql = String::new();
    let pause = 1.0 / rate as f64;
    for i in 0..rate * secs {
        sql.push_str(&format!(
            "BEGIN; INSERT INTO {name} VALUES ({}, 1, 1.00, 'trickle'); COMMIT; SELECT pg_sleep({pause});\n",
            first_id + i
        ));
    }
    pg.psql(&sql);
}

/// Runs the connector through the bridge until `want` events; returns
/// (first event ms, last event ms) from start, the latencies and the
/// process's CPU time (ms) meanwhile.
fn bridge(
    p: &[(String, String)],
    want: usize,
    during: impl FnOnce() + Send,
) -> (i64, i64, Vec<i64>, u64) {
    let start = now_ms();
    let cpu_start = cpu_ms();
    let props: Properties = p.iter().cloned().collect();
    let mut registry = PluginSet::builtin();
    timely_connect_jvm::install(&mut registry);
    let plugin = registry
        .resolve(&props["connector.class"], &props)
        .expect("Debezium's connector");
    let mut connector = plugin.create();
    connector.start(&props).expect("start");
    let config = connector.task_configs(1).expect("task configs").remove(0);
    let mut task = connector.create_task();
    let context = SourceTaskContext::new(
        &props["name"],
        0,
        config,
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    task.start(context.clone()).expect("task start");
    let writer = std::thread::scope(|s| {
        let w = s.spawn(during);
        let mut lat = Vec::with_capacity(want);
        let (mut first, mut last) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(300);
        // As the job does after each durable snapshot (here every second):
        // the polls so far are committed (commitRecord, then commit), as the
        // engine commits its offsets every second.
        let (mut polls, mut committed_at) = (0u64, Instant::now());
        while lat.len() < want && Instant::now() < deadline {
            if committed_at.elapsed() >= Duration::from_secs(1) {
                context.set_committed_polls(polls);
                task.commit().expect("commit");
                committed_at = Instant::now();
            }
            if let Some(batch) = task.poll().expect("poll") {
                polls += 1;
                let now = now_ms();
                for r in &batch {
                    let ts = r
                        .value
                        .as_struct()
                        .and_then(|v| v.get("source"))
                        .and_then(Value::as_struct)
                        .and_then(|s| s.get("ts_ms"))
                        .and_then(Value::as_i64);
                    if let Some(ts) = ts {
                        lat.push(now - ts);
                        if first == 0 {
                            first = now - start;
                        }
                        last = now - start;
                    }
                }
            }
        }
        let _ = w.join();
        (first, last, lat)
    });
    let cpu = cpu_ms() - cpu_start;
    task.stop();
    connector.stop();
    (writer.0, writer.1, writer.2, cpu)
}

fn engine(
    dir: &Path,
    p: &[(String, String)],
    want: usize,
    during: impl FnOnce(),
) -> (i64, i64, Vec<i64>, u64) {
    let java = timely_connect_jvm::default_java_dir().join("engine");
    let file = dir.join(format!("{}.properties", p[0].1));
    let text: String = p
        .iter()
        .filter(|(k, _)| k != "connector.runtime")
        .map(|(k, v)| format!("{k}={}\n", v.replace('\\', "\\\\")))
        .collect();
    std::fs::write(&file, text).expect("write properties");
    let child = Command::new("/usr/bin/time")
        .args(["-f", "cpu %U %S", "java"])
        .arg("-Xmx1g")
        .arg("-cp")
        .arg(format!(
            "{}/*:{}",
            java.display(),
            dir.join("classes").display()
        ))
        .arg("EnginePgBench")
        .arg(&file)
        .arg(want.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("java");
    std::thread::sleep(Duration::from_millis(100));
    during();
    let out = child.wait_with_output().expect("engine");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut head = lines.next().unwrap_or("0 0").split_whitespace();
    let first = head.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let last = head.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let lat = lines.filter_map(|l| l.parse().ok()).collect();
    let err = String::from_utf8_lossy(&out.stderr);
    let cpu = err
        .lines()
        .rfind(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse::<f64>().ok())
                .sum::<f64>()
        })
        .map_or(0, |s| (s * 1000.0) as u64);
    (first, last, lat, cpu)
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rows: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("javac")
        .args(["-nowarn", "-d"])
        .arg(dir.path().join("classes"))
        .arg("-cp")
        .arg(format!(
            "{}/*",
            timely_connect_jvm::default_java_dir()
                .join("engine")
                .display()
        ))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../benches/java/EnginePgBench.java"
        ))
        .status()
        .expect("javac");
    assert!(status.success());
    let pg = pg::PgCluster::builder()
        .setting("synchronous_commit", "on")
        .start();
    println!("{rows} rows backlog (transactions of 1000); latency: {rate} single-row transactions/s for {secs} s");
    println!(
        "{:<8} {:>14} {:>14} {:>12} {:>12} {:>9} {:>9}",
        "", "events/s", "steady ev/s", "first event", "CPU µs/ev", "p50 ms", "p99 ms"
    );
    let mut rates = Vec::new();
    for variant in ["bridge", "engine"] {
        // Backlog.
        let name = format!("{variant}_backlog");
        prepare(&pg, &name);
        load(&pg, &name, rows);
        let p = props(&pg, &name);
        let (first, last, _, cpu) = if variant == "bridge" {
            bridge(&p, rows as usize, || {})
        } else {
            engine(dir.path(), &p, rows as usize, || {})
        };
        let all = rows as f64 / (last.max(1) as f64 / 1000.0);
        let steady = rows as f64 / ((last - first).max(1) as f64 / 1000.0);
        // Latency.
        let name = format!("{variant}_latency");
        prepare(&pg, &name);
        let p = props(&pg, &name);
        let want = (rate * secs) as usize;
        let (_, _, mut lat, _) = if variant == "bridge" {
            bridge(&p, want, || {
                std::thread::sleep(Duration::from_secs(2));
                trickle(&pg, &name, rate, secs, 1)
            })
        } else {
            engine(dir.path(), &p, want, || {
                std::thread::sleep(Duration::from_secs(3));
                trickle(&pg, &name, rate, secs, 1)
            })
        };
        eprintln!(
            "{variant}: {} latencies, min {:?} max {:?}",
            lat.len(),
            lat.iter().min(),
            lat.iter().max()
        );
        println!(
            "{variant:<8} {all:>14.0} {steady:>14.0} {:>9} ms {:>12.1} {:>9} {:>9}",
            first,
            cpu as f64 * 1000.0 / rows as f64,
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        );
        rates.push(all);
    }
    println!(
        "bridge / engine = {:.2}x (backlog events/s from start)",
        rates[0] / rates[1]
    );
}
