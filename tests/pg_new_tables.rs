//! `PostgresCdc` and tables that appear while it runs, against a real
//! PostgreSQL with a filtered publication: a table created mid-run that
//! matches `table.include.list` (with rows written before it could join
//! the publication, and more written after) makes the connector ask for
//! new task configurations; the job replaces its streaming task without
//! restarting, the task adds the table to the publication with an
//! `execute-snapshot` signal, and the table's earlier rows arrive as an
//! incremental snapshot. The job is killed with SIGKILL part-way; another
//! table created while it is down joins the same way on restore. Every row
//! must arrive: a row written before its table joined exactly once (as a
//! snapshot read), a row written after once as an insert (and at most once
//! more as a read of the same content, as any incremental snapshot may),
//! and the output must end at the tables' content.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::*;

/// Rows each new table holds before it can join the publication.
const BEFORE: i64 = 3000;
/// Rows the writer inserts into the first new table while the job runs.
const AFTER: i64 = 1500;

fn write_conn_props(pg: &PgCluster, dir: &Path) {
    pg.write_connector_props(
        &dir.join("conn.properties"),
        "pg-new-tables",
        &[
            ("snapshot.mode", "initial"),
            (
                "table.include.list",
                "public[.]orders,public[.]items_[0-9]+",
            ),
            ("publication.autocreate.mode", "filtered"),
            ("publication.name", "tc_new_tables"),
            ("signal.data.collection", "public.dbz_signal"),
            ("incremental.snapshot.chunk.size", "250"),
            ("table.poll.interval.ms", "300"),
        ],
    );
}

/// Counts the output's lines that contain `needle`.
fn count_in_output(dir: &Path, needle: &str) -> usize {
    std::fs::read(dir.join("out.jsonl"))
        .map(|b| String::from_utf8_lossy(&b).matches(needle).count())
        .unwrap_or(0)
}

/// Waits (60 s at most) until `done` holds while the job runs.
fn wait_until(job: &mut Proc, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(!job.has_exited(), "the job ended while waiting for {what}");
        assert!(Instant::now() < deadline, "{what} did not happen in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pg_tables_created_while_the_job_runs_or_is_down_are_read_exactly_once() {
    let pg = Arc::new(PgCluster::start());
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE orders (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO orders SELECT g, 0 FROM generate_series(1, 100) g;
         CREATE TABLE dbz_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL,
                                  data varchar(2048));",
    );
    write_conn_props(&pg, dir.path());
    let args = job_args(dir.path(), "4s");
    let mut job = Proc::spawn("pg-new-tables", &args, &[("RUST_LOG", "info")]);
    // The initial snapshot of `orders`, then streaming.
    wait_until(&mut job, "the initial snapshot", || {
        count_in_output(dir.path(), "\"table\":\"orders\"") >= 100
    });
    let started = Instant::now();
    while count_in_output(dir.path(), "\"op\":\"u\"") == 0 {
        pg.psql("UPDATE orders SET n = n + 1 WHERE id = 1");
        assert!(started.elapsed() < Duration::from_secs(30), "no stream");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A new table with rows, created and filled in one transaction (the
    // rows are committed before the table can be in the publication).
    pg.psql(&format!(
        "BEGIN;
         CREATE TABLE items_1 (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO items_1 SELECT g, g FROM generate_series(1, {BEFORE}) g;
         COMMIT;"
    ));
    // Inserts into it while it joins, one transaction each; updates of
    // `orders` keep the job from going idle.
    let writer = {
        let pg = Arc::clone(&pg);
        std::thread::spawn(move || {
            pg.psql(&format!(
                "DO $$ BEGIN FOR i IN 1..{AFTER} LOOP
                   INSERT INTO items_1 VALUES ({BEFORE} + i, {BEFORE} + i);
                   UPDATE orders SET n = n + 1 WHERE id = 2;
                   COMMIT;
                   PERFORM pg_sleep(0.004);
                 END LOOP; END $$;"
            ))
        })
    };
    // Part of the snapshot of the new table is out: SIGKILL.
    wait_until(&mut job, "the new table's snapshot rows", || {
        count_in_output(dir.path(), "\"incremental\"") >= 1000
    });
    let first = job.kill();
    let log = first.all_output();
    assert_mentions(
        &log,
        &[
            "captured tables changed; asking for new task configurations",
            "reconfiguration: new tasks started",
            "new tables joined the publication",
        ],
    );

    // A table created while the job is down.
    pg.psql(&format!(
        "CREATE TABLE items_2 (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO items_2 SELECT g, -g FROM generate_series(1, {BEFORE}) g;"
    ));
    let restored = Proc::spawn("pg-new-tables", &args, &[("RUST_LOG", "info")]);
    writer.join().expect("writer");
    let f = restored
        .wait_timeout(Duration::from_secs(180))
        .unwrap_or_else(|f| panic!("restored job did not stop:\n{}", f.all_output()));
    assert!(f.success(), "restored job failed:\n{}", f.all_output());
    assert_mentions(&f.all_output(), &["new tables joined the publication"]);
    let published = pg.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables \
         WHERE pubname = 'tc_new_tables'",
    );
    assert_eq!(published, "dbz_signal,items_1,items_2,orders");

    // Replay each new table's events in order.
    for (table, inserted_after) in [("items_1", AFTER), ("items_2", 0)] {
        let mut state: HashMap<i64, i64> = HashMap::new();
        let mut reads: HashMap<i64, u32> = HashMap::new();
        let mut creates: HashMap<i64, u32> = HashMap::new();
        for e in out_events(dir.path())
            .iter()
            .filter(|e| e["source"]["table"] == table)
        {
            let id = e["after"]["id"].as_i64().expect("id");
            let n = e["after"]["n"].as_i64().expect("n");
            match e["op"].as_str() {
                Some("r") => {
                    assert_eq!(e["source"]["snapshot"], "incremental");
                    *reads.entry(id).or_default() += 1;
                    if let Some(prev) = state.get(&id) {
                        assert_eq!(
                            *prev, n,
                            "{table} row {id}: a snapshot row unlike its insert"
                        );
                    }
                }
                Some("c") => *creates.entry(id).or_default() += 1,
                other => panic!("{table}: unexpected op {other:?}"),
            }
            state.insert(id, n);
        }
        for (id, count) in &reads {
            assert_eq!(*count, 1, "{table} row {id}: read {count} times");
        }
        for (id, count) in &creates {
            assert!(
                *id > BEFORE,
                "{table} row {id}: an insert event for an earlier row"
            );
            assert_eq!(*count, 1, "{table} row {id}: inserted {count} times");
        }
        for id in 1..=BEFORE {
            assert!(reads.contains_key(&id), "{table} row {id}: never read");
        }
        // A row the writer inserted arrives as its insert (written after
        // the table joined) or as a read (before), never not at all.
        for id in BEFORE + 1..=BEFORE + inserted_after {
            assert!(
                creates.contains_key(&id) || reads.contains_key(&id),
                "{table} row {id}: missing"
            );
        }
        if inserted_after > 0 {
            assert!(
                creates.len() as i64 > inserted_after / 2,
                "{table}: only {} inserts streamed",
                creates.len()
            );
        }
        let table_rows: HashMap<i64, i64> = pg.int_pairs(&format!("SELECT id, n FROM {table}"));
        assert_eq!(
            table_rows.len() as i64,
            BEFORE + inserted_after,
            "{table} in PostgreSQL"
        );
        assert_eq!(
            state, table_rows,
            "{table}: the output does not end at the table"
        );
        eprintln!(
            "{table}: {} snapshot reads, {} inserts",
            reads.len(),
            creates.len()
        );
    }
}
