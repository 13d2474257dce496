//! `PostgresCdc` incremental snapshots against a real PostgreSQL: a signal
//! row starts one while a writer updates, inserts and deletes rows of the
//! table; the job is killed with SIGKILL part-way and restored. The output,
//! replayed in order, must never let a snapshot row overwrite a newer
//! change or bring back a deleted row, must hold each row's snapshot event
//! at most once, and must end at the table's content.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::*;

const ROWS: i64 = 20_000;

fn write_conn_props(pg: &PgCluster, dir: &Path, extra: &[(&str, &str)]) {
    let mut entries = vec![
        ("snapshot.mode", "no_data"),
        ("table.include.list", "public\\.orders"),
        ("signal.data.collection", "public.dbz_signal"),
        ("incremental.snapshot.chunk.size", "500"),
    ];
    entries.extend_from_slice(extra);
    pg.write_connector_props(&dir.join("conn.properties"), "pg-inc", &entries);
}

fn run_args(dir: &Path) -> Vec<std::ffi::OsString> {
    job_args(dir, "3s")
}

/// Updates a row until its change is in the output: streaming is up.
fn until_streaming(pg: &PgCluster, dir: &Path) {
    let start = Instant::now();
    while output_lines(dir) == 0 {
        pg.psql("UPDATE orders SET n = n + 1 WHERE id = 1");
        assert!(start.elapsed() < Duration::from_secs(30), "no stream");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until the output holds `n` lines with `needle` (30 s at most).
fn wait_for(job: &mut Proc, dir: &Path, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut file = None;
    let (mut have, mut tail) = (0, Vec::new());
    let mut buf = vec![0u8; 1 << 20];
    while have < n {
        if file.is_none() {
            file = std::fs::File::open(dir.join("out.jsonl")).ok();
        }
        if let Some(f) = file.as_mut() {
            while let Ok(k) = f.read(&mut buf) {
                if k == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..k]);
                let end = tail.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                have += String::from_utf8_lossy(&tail[..end])
                    .matches(needle)
                    .count();
                tail.drain(..end);
            }
        }
        assert!(
            !job.has_exited() && Instant::now() < deadline,
            "only {have} of {n} lines with {needle} arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pg_incremental_snapshot_under_writes_survives_sigkill() {
    let pg = Arc::new(PgCluster::start());
    let dir = tempfile::tempdir().unwrap();
    pg.psql(&format!(
        "CREATE TABLE orders (id int PRIMARY KEY, n int NOT NULL, pad text);
         INSERT INTO orders SELECT g, 0, repeat('p', 20) FROM generate_series(1, {ROWS}) g;
         CREATE TABLE dbz_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL,
                                  data varchar(2048));"
    ));
    write_conn_props(&pg, dir.path(), &[]);
    let mut job = Proc::spawn("pg-inc", &run_args(dir.path()), &[("RUST_LOG", "info")]);
    until_streaming(&pg, dir.path());
    // Updates, inserts of new keys and deletes, one transaction each.
    let writer = {
        let pg = Arc::clone(&pg);
        std::thread::spawn(move || {
            pg.psql(&format!(
                "DO $$ DECLARE k int; BEGIN FOR i IN 1..4000 LOOP
                   k := 1 + floor(random() * {ROWS})::int;
                   IF i % 7 = 0 THEN DELETE FROM orders WHERE id = k;
                   ELSIF i % 7 = 1 THEN INSERT INTO orders VALUES ({ROWS} + i, 0, 'new');
                   ELSE UPDATE orders SET n = n + 1 WHERE id = k;
                   END IF;
                   COMMIT;
                   PERFORM pg_sleep(0.001);
                 END LOOP; END $$;"
            ))
        })
    };
    pg.psql(
        "INSERT INTO dbz_signal VALUES ('ad-hoc-1', 'execute-snapshot',
           '{\"data-collections\": [\"public.orders\"], \"type\": \"incremental\"}')",
    );
    wait_for(&mut job, dir.path(), "\"incremental\"", 6000);
    let first = job.kill();
    assert!(
        first
            .all_output()
            .contains("incremental snapshot requested"),
        "{}",
        first.all_output()
    );
    let restored = Proc::spawn("pg-inc", &run_args(dir.path()), &[("RUST_LOG", "info")]);
    let f = restored
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|f| panic!("restored job did not stop:\n{}", f.all_output()));
    assert!(f.success(), "restored job failed:\n{}", f.all_output());
    writer.join().expect("writer");
    assert_mentions(
        &f.all_output(),
        &[
            "continuing the incremental snapshot",
            // The CLI's progress line, from the task's gauges.
            "incremental public.orders: ",
        ],
    );

    // Replay the output in order.
    let mut state: HashMap<i64, Option<i64>> = HashMap::new();
    let mut reads: HashMap<i64, u32> = HashMap::new();
    for e in out_events(dir.path()).iter().filter(|e| !e.is_null()) {
        let op = e["op"].as_str().expect("op");
        let row = if op == "d" { &e["before"] } else { &e["after"] };
        let id = row["id"].as_i64().expect("id");
        let n = e["after"]["n"].as_i64();
        match op {
            "r" => {
                assert_eq!(e["source"]["snapshot"], "incremental");
                let count = reads.entry(id).or_default();
                *count += 1;
                assert_eq!(*count, 1, "row {id}: its snapshot event twice");
                match state.get(&id) {
                    Some(Some(prev)) => assert_eq!(
                        n,
                        Some(*prev),
                        "row {id}: a snapshot row older than a change before it"
                    ),
                    Some(None) => panic!("row {id}: a snapshot row after its delete"),
                    None => {}
                }
                state.insert(id, n);
            }
            "u" => {
                if let Some(Some(prev)) = state.get(&id) {
                    assert_eq!(n, Some(prev + 1), "row {id}: an update lost or twice");
                }
                state.insert(id, n);
            }
            "c" => {
                state.insert(id, n);
            }
            "d" => {
                state.insert(id, None);
            }
            other => panic!("unexpected op {other}"),
        }
    }
    let table: HashMap<i64, i64> = pg.int_pairs("SELECT id, n FROM orders");
    assert!(table.len() > ROWS as usize / 2);
    for (id, n) in &table {
        assert_eq!(
            state.get(id),
            Some(&Some(*n)),
            "row {id}: the output does not end at the table's value"
        );
    }
    let live = state.values().filter(|v| v.is_some()).count();
    assert_eq!(live, table.len(), "rows the table no longer has");
    assert!(
        reads.len() > ROWS as usize / 2,
        "only {} snapshot rows",
        reads.len()
    );
    eprintln!(
        "{} snapshot rows, {} rows in the table",
        reads.len(),
        table.len()
    );
}

/// A missing signal table fails the start, naming the key; a filtered
/// publication gets the signal table though it is not captured; a
/// stop-snapshot signal in the same transaction as its execute-snapshot
/// leaves nothing to read; a data collection that is not captured is left
/// out.
#[test]
fn pg_incremental_snapshot_signals_and_errors() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE orders (id int PRIMARY KEY, n int NOT NULL, pad text);
         INSERT INTO orders SELECT g, 0, 'x' FROM generate_series(1, 1000) g;",
    );
    write_conn_props(
        &pg,
        dir.path(),
        &[
            ("publication.autocreate.mode", "filtered"),
            ("publication.name", "only_orders"),
        ],
    );
    let f = run_cli(&run_args(dir.path()), &[]);
    assert!(!f.success());
    assert_mentions(
        &f.all_output(),
        &[
            "signal.data.collection",
            "public.dbz_signal",
            "does not exist",
        ],
    );

    pg.psql(
        "CREATE TABLE dbz_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL,
                                  data varchar(2048));",
    );
    let mut job = Proc::spawn("pg-inc", &run_args(dir.path()), &[("RUST_LOG", "info")]);
    until_streaming(&pg, dir.path());
    pg.psql(
        "BEGIN;
         INSERT INTO dbz_signal VALUES ('s1', 'execute-snapshot',
           '{\"data-collections\": [\"public.orders\", \"public.nope\"]}');
         INSERT INTO dbz_signal VALUES ('s2', 'stop-snapshot',
           '{\"data-collections\": [\"public.orders\"]}');
         COMMIT;
         UPDATE orders SET n = n + 1 WHERE id = 2;",
    );
    wait_for(&mut job, dir.path(), "\"op\":\"u\"", 2);
    let f = job
        .wait_timeout(RUN_TIMEOUT)
        .unwrap_or_else(|f| panic!("job did not stop:\n{}", f.all_output()));
    assert!(f.success(), "{}", f.all_output());
    let log = f.all_output();
    assert_mentions(
        &log,
        &[
            "incremental snapshot requested",
            "incremental snapshot stopped",
            "public.nope",
        ],
    );
    let reads = out_events(dir.path())
        .iter()
        .filter(|e| e["op"] == "r")
        .count();
    assert_eq!(reads, 0, "a stopped snapshot read rows");
    let published = pg.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables \
         WHERE pubname = 'only_orders'",
    );
    assert_eq!(published, "dbz_signal,orders");
}
