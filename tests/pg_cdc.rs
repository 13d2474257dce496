//! `PostgresCdc` against a real PostgreSQL cluster, driven through the real
//! CLI: snapshot and stream, every mapped type, schema changes, tables
//! without a key, replica identities, clear errors, a server restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pg::{PgCluster, TYPED_COLUMNS, TYPED_VALUES};
use common::*;
use common::{job_args as run_args, out_events as events};
use serde_json::Value as Json;

/// Writes the connector's properties for `pg` into `dir`.
fn props(pg: &PgCluster, dir: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let port = pg.port().to_string();
    let mut entries: Vec<(&str, &str)> = vec![
        ("name", "pg-cdc"),
        (
            "connector.class",
            "io.debezium.connector.postgresql.PostgresConnector",
        ),
        ("database.hostname", "127.0.0.1"),
        ("database.port", &port),
        ("database.user", pg.superuser()),
        ("database.password", pg.password()),
        ("database.dbname", "postgres"),
        ("topic.prefix", "shop"),
        ("snapshot.interval.ms", "200"),
    ];
    for (k, v) in extra {
        entries.retain(|(key, _)| key != k);
        entries.push((k, v));
    }
    write_props(&dir.join("conn.properties"), &entries)
}

/// Runs the job until it has been idle for 2 s.
fn run(dir: &Path) -> Finished {
    run_cli(&run_args(dir, "2s"), &[])
}

fn op(e: &Json) -> &str {
    e["op"].as_str().unwrap_or("tombstone")
}

fn table(e: &Json) -> &str {
    e["source"]["table"].as_str().unwrap_or("")
}

/// `(op, id)` of the events of `t`, with `id` from `after` or `before`.
fn ops_of(events: &[Json], t: &str) -> Vec<(String, i64)> {
    events
        .iter()
        .filter(|e| table(e) == t)
        .map(|e| {
            let row = if e["after"].is_null() {
                &e["before"]
            } else {
                &e["after"]
            };
            (op(e).to_owned(), row["id"].as_i64().unwrap_or(-1))
        })
        .collect()
}

#[test]
fn pg_snapshot_then_stream_captures_every_change_in_order() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE a (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE b (id bigint PRIMARY KEY, amount numeric(10,2));
         CREATE TABLE skipped (id int PRIMARY KEY);
         INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 50) g;
         INSERT INTO b SELECT g, g * 1.5 FROM generate_series(1, 28) g;
         INSERT INTO skipped VALUES (1);",
    );
    // 50 rows of a end mid-batch; b's 28 end on a batch's boundary (4 × 7),
    // so the FETCH sent ahead of the last full batch finds nothing.
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.a,public\\.b"),
            ("snapshot.fetch.size", "7"),
        ],
    );
    let f = run(dir.path());
    assert!(f.success(), "first run failed:\n{}", f.all_output());
    let snap = events(dir.path());
    assert_eq!(snap.len(), 78, "snapshot rows");
    assert!(snap.iter().all(|e| op(e) == "r"));
    assert_eq!(
        ops_of(&snap, "a")
            .iter()
            .map(|(_, id)| *id)
            .collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    let last = snap.last().unwrap();
    assert_eq!(last["source"]["snapshot"], "last");
    // Debezium 3's markers: the first record, each table's first and last.
    assert_eq!(snap[0]["source"]["snapshot"], "first");
    assert_eq!(
        ops_of(&snap, "b")
            .iter()
            .map(|(_, id)| *id)
            .collect::<Vec<_>>(),
        (1..=28).collect::<Vec<_>>()
    );
    let markers: Vec<&str> = snap[1..77]
        .iter()
        .map(|e| e["source"]["snapshot"].as_str().unwrap_or(""))
        .filter(|m| *m != "true")
        .collect();
    assert_eq!(
        markers,
        ["last_in_data_collection", "first_in_data_collection"],
        "table a's last row, then table b's first"
    );
    assert_eq!(snap[0]["source"]["connector"], "postgresql");
    assert_eq!(snap[0]["source"]["name"], "shop");
    assert_eq!(snap[0]["source"]["db"], "postgres");
    assert_eq!(snap[0]["source"]["schema"], "public");

    // Changes while the connector is down, then a run that streams them.
    pg.psql(
        "BEGIN; INSERT INTO a VALUES (51, 'new'); UPDATE b SET amount = 0.01 WHERE id = 2; COMMIT;
         BEGIN; DELETE FROM a WHERE id = 3; UPDATE a SET name = 'changed' WHERE id = 4; COMMIT;
         INSERT INTO skipped VALUES (2);
         UPDATE a SET id = 100 WHERE id = 5;",
    );
    let f = run(dir.path());
    assert!(f.success(), "second run failed:\n{}", f.all_output());
    let all = events(dir.path());
    let streamed = &all[78..];
    let a_ops = ops_of(streamed, "a");
    assert_eq!(
        a_ops,
        vec![
            ("c".to_owned(), 51),
            ("d".to_owned(), 3),
            ("tombstone".to_owned(), -1),
            ("u".to_owned(), 4),
            ("d".to_owned(), 5),
            ("tombstone".to_owned(), -1),
            ("c".to_owned(), 100),
        ]
        .into_iter()
        .filter(|(o, _)| o != "tombstone")
        .collect::<Vec<_>>(),
        "{streamed:#?}"
    );
    let tombstones = streamed.iter().filter(|e| e.is_null()).count();
    assert_eq!(tombstones, 2, "a tombstone after each delete");
    let b = streamed.iter().find(|e| table(e) == "b").unwrap();
    assert_eq!(b["op"], "u");
    assert_eq!(b["after"]["amount"].to_string(), "0.01");
    // Events of one transaction share txId and come in commit order.
    let c51 = streamed.iter().find(|e| op(e) == "c").unwrap();
    assert_eq!(c51["source"]["txId"], b["source"]["txId"]);
    assert!(streamed.iter().all(|e| table(e) != "skipped"));

    // A third run without changes emits nothing more.
    let f = run(dir.path());
    assert!(f.success(), "third run failed:\n{}", f.all_output());
    assert_eq!(events(dir.path()).len(), all.len());
}

/// Starts the job in the background; it stops 3 s after the last record.
fn spawn(dir: &Path) -> Proc {
    spawn_idle(dir, "3s")
}

fn spawn_idle(dir: &Path, idle: &str) -> Proc {
    Proc::spawn("pg-cdc", &run_args(dir, idle), &[("RUST_LOG", "info")])
}

/// Waits until the output has at least `n` lines (or fails after 30 s, or
/// when the job ends first). Reads only what was appended since its last
/// look, so it notices the count at once even for large outputs; starts
/// over when the file shrank (a restored job cuts it to what is durable).
fn wait_for_lines(job: &mut Proc, dir: &Path, n: usize) {
    use std::io::Read;
    let path = dir.join("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut file = None;
    let (mut have, mut pos) = (0, 0u64);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        if len < pos {
            (file, have, pos) = (None, 0, 0);
        }
        if file.is_none() {
            file = std::fs::File::open(&path).ok();
        }
        if let Some(f) = file.as_mut() {
            while let Ok(k) = f.read(&mut buf) {
                if k == 0 {
                    break;
                }
                pos += k as u64;
                have += buf[..k].iter().filter(|c| **c == b'\n').count();
                // Stop at the count, not at the end of a file that keeps
                // growing: counting is slow in a debug build, and a caller
                // that kills the job at `n` lines must not find it done.
                if have >= n {
                    return;
                }
            }
        }
        if have >= n {
            return;
        }
        if job.has_exited() || Instant::now() >= deadline {
            let p = std::mem::replace(job, Proc::spawn("noop", &["--version"], &[]));
            panic!(
                "only {have} of {n} lines arrived:\n{}",
                p.kill().all_output()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(p: Proc) -> String {
    let f = p.wait_timeout(RUN_TIMEOUT).unwrap_or_else(|f| {
        panic!("job did not stop:\n{}", f.all_output());
    });
    assert!(f.success(), "job failed:\n{}", f.all_output());
    f.all_output()
}

#[test]
fn pg_every_mapped_type_round_trips_in_snapshot_and_stream() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(&format!(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE typed (id int PRIMARY KEY, {TYPED_COLUMNS});
         INSERT INTO typed VALUES (1, {TYPED_VALUES});
         INSERT INTO typed (id) VALUES (2);"
    ));
    props(&pg, dir.path(), &[]);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 2);
    pg.psql(&format!(
        "INSERT INTO typed VALUES (3, {TYPED_VALUES}); INSERT INTO typed (id) VALUES (4);"
    ));
    wait_for_lines(&mut job, dir.path(), 4);
    finish(job);
    let all = events(dir.path());
    assert_eq!(all.len(), 4, "{all:#?}");
    let (snap, streamed) = (&all[0]["after"], &all[2]["after"]);
    assert_eq!(all[0]["op"], "r");
    assert_eq!(all[2]["op"], "c");
    let expected: Json = serde_json::from_str(
        r#"{
        "c_smallint": -5, "c_int": 42, "c_bigint": 9007199254740993, "c_real": 1.5,
        "c_double": 2.25, "c_num": 12.345, "c_num_free": {"scale": 2, "value": "BNI="},
        "c_nan": null, "c_bool": true, "c_text": "héllo", "c_varchar": "v", "c_char": "ab ",
        "c_bytea": "AP8=", "c_date": 19782, "c_inf_date": 2147483647, "c_time": 49500250000,
        "c_time3": 1500, "c_ts": 86400000001, "c_ts3": 1500,
        "c_tstz": "2024-01-31T13:45:00.250000Z", "c_timetz": "09:15:30.5Z",
        "c_interval": 90000000000, "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "c_json": "{\"a\": 1}", "c_jsonb": "{\"a\": 1}", "c_int_arr": [1, null, 3],
        "c_text_arr": ["x", "y z"], "c_enum": "ok", "c_money": 12.34, "c_inet": "10.0.0.1",
        "c_bit": true, "c_bits": "AQI="
    }"#,
    )
    .unwrap();
    for (name, want) in expected.as_object().unwrap() {
        assert_eq!(&snap[name], want, "snapshot value of {name}");
        assert_eq!(&streamed[name], want, "streamed value of {name}");
    }
    // NULLs decode to null in both paths.
    for e in [&all[1], &all[3]] {
        for name in expected.as_object().unwrap().keys() {
            assert!(e["after"][name].is_null(), "{name} of a NULL row");
        }
    }
}

#[test]
fn pg_schema_change_table_without_key_and_replica_identities() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE evolving (id int PRIMARY KEY, a text);
         CREATE TABLE nokey (id int, v text);
         CREATE TABLE ident_default (id int PRIMARY KEY, v text NOT NULL, w int);
         CREATE TABLE ident_full (id int PRIMARY KEY, v text NOT NULL, w int);
         ALTER TABLE ident_full REPLICA IDENTITY FULL;
         ALTER TABLE nokey REPLICA IDENTITY FULL;
         INSERT INTO ident_default VALUES (1, 'one', 10);
         INSERT INTO ident_full VALUES (1, 'one', 10);",
    );
    props(&pg, dir.path(), &[("tombstones.on.delete", "false")]);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 2);
    pg.psql(
        "INSERT INTO evolving VALUES (1, 'x');
         ALTER TABLE evolving ADD COLUMN b int;
         INSERT INTO evolving VALUES (2, 'y', 7);
         ALTER TABLE evolving DROP COLUMN a;
         INSERT INTO evolving VALUES (3, 8);
         INSERT INTO nokey VALUES (1, 'k');
         UPDATE nokey SET v = 'kk';
         DELETE FROM nokey;
         UPDATE ident_default SET w = 11;
         UPDATE ident_full SET w = 11;
         DELETE FROM ident_default;
         DELETE FROM ident_full;",
    );
    wait_for_lines(&mut job, dir.path(), 12);
    finish(job);
    let all = events(dir.path());
    let of = |t: &str| -> Vec<Json> { all.iter().filter(|e| table(e) == t).cloned().collect() };

    let ev = of("evolving");
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert_eq!(ev[0]["after"], serde_json::json!({"id": 1, "a": "x"}));
    assert_eq!(
        ev[1]["after"],
        serde_json::json!({"id": 2, "a": "y", "b": 7})
    );
    assert_eq!(ev[2]["after"], serde_json::json!({"id": 3, "b": 8}));

    let nk = of("nokey");
    assert_eq!(nk.iter().map(op).collect::<Vec<_>>(), ["c", "u", "d"]);
    assert_eq!(nk[1]["before"]["v"], "k", "FULL identity gives the old row");
    assert_eq!(nk[2]["before"]["v"], "kk");

    let d = of("ident_default");
    assert_eq!(d.iter().map(op).collect::<Vec<_>>(), ["r", "u", "d"]);
    assert!(
        d[1]["before"].is_null(),
        "DEFAULT identity: no before on update"
    );
    // The key-only old row: Debezium's fallback ("") for the NOT NULL
    // column, null for the nullable one.
    assert_eq!(
        d[2]["before"],
        serde_json::json!({"id": 1, "v": "", "w": null})
    );

    let f = of("ident_full");
    assert_eq!(f.iter().map(op).collect::<Vec<_>>(), ["r", "u", "d"]);
    assert_eq!(
        f[1]["before"],
        serde_json::json!({"id": 1, "v": "one", "w": 10})
    );
    assert_eq!(
        f[2]["before"],
        serde_json::json!({"id": 1, "v": "one", "w": 11})
    );
}

/// An UPDATE that leaves a TOASTed value alone: pgoutput does not send it.
/// With `REPLICA IDENTITY DEFAULT` the event's `after` carries Debezium's
/// placeholder; with `FULL` the old row holds the value, and `after` has it.
#[test]
fn pg_unchanged_toasted_values_come_from_a_full_old_row() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    // About 96 kB of hex digits: compressed, still too big to stay inline.
    let big = "(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3000) g)";
    pg.psql(&format!(
        "CREATE TABLE toast_default (id int PRIMARY KEY, big text, w int);
         CREATE TABLE toast_full (id int PRIMARY KEY, big text, w int);
         ALTER TABLE toast_full REPLICA IDENTITY FULL;
         INSERT INTO toast_default VALUES (1, {big}, 10);
         INSERT INTO toast_full VALUES (1, {big}, 10);"
    ));
    let want = pg.psql("SELECT big FROM toast_full").trim().to_owned();
    assert!(want.len() > 90_000, "{}", want.len());
    props(&pg, dir.path(), &[]);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 2);
    pg.psql("UPDATE toast_default SET w = 11; UPDATE toast_full SET w = 11;");
    wait_for_lines(&mut job, dir.path(), 4);
    finish(job);
    let all = events(dir.path());
    let update = |t: &str| -> Json {
        all.iter()
            .find(|e| table(e) == t && op(e) == "u")
            .cloned()
            .unwrap_or_else(|| panic!("no update of {t}"))
    };
    let d = update("toast_default");
    assert_eq!(d["after"]["big"], "__debezium_unavailable_value");
    assert_eq!(d["after"]["w"], 11);
    let f = update("toast_full");
    assert_eq!(f["before"]["big"].as_str(), Some(want.as_str()));
    assert_eq!(f["after"]["big"].as_str(), Some(want.as_str()));
    assert_eq!(f["after"]["w"], 11);
}

/// Runs the job expecting it to fail; returns its output.
fn run_fails(dir: &Path) -> String {
    let f = run_cli_within(&run_args(dir, "2s"), &[], Duration::from_secs(60));
    assert!(!f.success(), "the job should fail:\n{}", f.all_output());
    f.all_output()
}

#[test]
fn pg_clear_errors_for_credentials_host_wal_level_and_privileges() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();

    props(&pg, dir.path(), &[("database.password", "wrong")]);
    let out = run_fails(dir.path());
    assert!(
        out.contains("password authentication failed") && out.contains("postgres"),
        "bad credentials: {out}"
    );

    let closed = free_port().to_string();
    props(
        &pg,
        dir.path(),
        &[
            ("database.port", &closed),
            ("database.connect.timeout.ms", "2000"),
        ],
    );
    let out = run_fails(dir.path());
    assert!(
        out.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{closed}"
        )),
        "unreachable host: {out}"
    );

    pg.psql(
        "CREATE ROLE capture LOGIN REPLICATION PASSWORD 'capture-pw';
         CREATE TABLE owned (id int PRIMARY KEY);",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("database.user", "capture"),
            ("database.password", "capture-pw"),
            ("publication.autocreate.mode", "filtered"),
        ],
    );
    let out = run_fails(dir.path());
    assert!(
        out.contains("CREATE privilege on database `postgres`") && out.contains("capture"),
        "missing publication privilege: {out}"
    );
    props(
        &pg,
        dir.path(),
        &[
            ("database.user", "capture"),
            ("database.password", "capture-pw"),
        ],
    );
    let out = run_fails(dir.path());
    assert!(out.contains("FOR ALL TABLES needs a superuser"), "{out}");

    let replica = PgCluster::builder().wal_level("replica").start();
    props(&replica, dir.path(), &[]);
    let out = run_fails(dir.path());
    assert!(
        out.contains("wal_level is `replica`") && out.contains("wal_level=logical"),
        "wal_level: {out}"
    );
}

#[test]
fn pg_server_restart_mid_stream_loses_and_repeats_nothing() {
    let mut pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (0, 'seed');");
    props(&pg, dir.path(), &[("errors.retry.delay.max.ms", "300")]);
    let mut job = spawn_idle(dir.path(), "8s");
    wait_for_lines(&mut job, dir.path(), 1);
    pg.psql("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 200) g;");
    wait_for_lines(&mut job, dir.path(), 201);
    pg.restart();
    pg.psql("INSERT INTO t SELECT g, 'after' FROM generate_series(201, 400) g;");
    pg.psql("UPDATE t SET v = 'updated' WHERE id % 50 = 0;");
    wait_for_lines(&mut job, dir.path(), 409);
    finish(job);
    let all = events(dir.path());
    let mut creates: Vec<i64> = ops_of(&all, "t")
        .into_iter()
        .filter(|(o, _)| o == "c" || o == "r")
        .map(|(_, id)| id)
        .collect();
    creates.sort_unstable();
    assert_eq!(
        creates,
        (0..=400).collect::<Vec<_>>(),
        "every row exactly once"
    );
    let updates = ops_of(&all, "t").iter().filter(|(o, _)| o == "u").count();
    assert_eq!(updates, 9);
    assert_eq!(all.len(), 410);
}

#[test]
fn pg_heartbeats_let_the_slot_advance_past_uncaptured_changes() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE captured (id int PRIMARY KEY); CREATE TABLE other (id int);
         INSERT INTO captured VALUES (1);",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.captured"),
            ("heartbeat.interval.ms", "200"),
        ],
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 1);
    let slot_lsn = || {
        pg.psql("SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'debezium'")
            .parse::<f64>()
            .unwrap_or(0.0)
    };
    let before = slot_lsn();
    for _ in 0..5 {
        pg.psql("INSERT INTO other SELECT generate_series(1, 1000);");
        std::thread::sleep(Duration::from_millis(200));
    }
    let written = pg
        .psql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        .parse::<f64>()
        .unwrap();
    finish(job);
    let after = slot_lsn();
    let all = events(dir.path());
    let heartbeats = all
        .iter()
        .filter(|e| e.get("op").is_none() && !e.is_null())
        .count();
    assert!(heartbeats >= 1, "no heartbeat records: {all:#?}");
    assert!(all.iter().filter(|e| e.get("op").is_some()).count() == 1);
    assert!(
        after >= written && after > before,
        "slot confirmed {after}, WAL written up to {written} (was {before})"
    );
}

#[test]
fn pg_snapshot_modes_never_and_initial_only() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql("CREATE TABLE m (id int PRIMARY KEY); INSERT INTO m VALUES (1), (2);");
    props(&pg, dir.path(), &[("snapshot.mode", "initial_only")]);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 2);
    pg.psql("INSERT INTO m VALUES (3);");
    finish(job);
    assert_eq!(
        ops_of(&events(dir.path()), "m"),
        [("r".to_owned(), 1), ("r".to_owned(), 2)]
    );

    let dir = tempfile::tempdir().unwrap();
    props(
        &pg,
        dir.path(),
        &[("snapshot.mode", "never"), ("slot.name", "never_slot")],
    );
    let mut job = spawn(dir.path());
    // The slot exists once the task streams; then changes flow.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg
        .psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'never_slot' AND active")
        != "1"
    {
        assert!(Instant::now() < deadline, "slot never became active");
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.psql("INSERT INTO m VALUES (4); DELETE FROM m WHERE id = 1;");
    wait_for_lines(&mut job, dir.path(), 3);
    finish(job);
    assert_eq!(
        ops_of(&events(dir.path()), "m"),
        [("c".to_owned(), 4), ("d".to_owned(), 1)]
    );
}

#[test]
fn pg_parallel_snapshot_over_tasks_then_stream() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    for t in ["p1", "p2", "p3", "p4"] {
        pg.psql(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, v text);
             INSERT INTO {t} SELECT g, '{t}' FROM generate_series(1, 2000) g;"
        ));
    }
    props(
        &pg,
        dir.path(),
        &[("tasks.max", "3"), ("snapshot.fetch.size", "300")],
    );
    let mut args = run_args(dir.path(), "3s");
    args.extend(args!["-w", "2"]);
    let mut job = Proc::spawn("pg-cdc", &args, &[("RUST_LOG", "info")]);
    wait_for_lines(&mut job, dir.path(), 8000);
    pg.psql("INSERT INTO p1 VALUES (5000, 'late'); UPDATE p4 SET v = 'x' WHERE id = 1;");
    wait_for_lines(&mut job, dir.path(), 8002);
    let f = job.wait_timeout(RUN_TIMEOUT).unwrap_or_else(|f| f);
    assert!(f.success(), "job failed:\n{}", f.all_output());
    assert!(
        f.all_output().contains("parallel initial snapshot planned"),
        "{}",
        f.all_output()
    );
    let all = events(dir.path());
    assert_eq!(all.len(), 8002);
    for t in ["p1", "p2", "p3", "p4"] {
        let mut ids: Vec<i64> = ops_of(&all, t)
            .into_iter()
            .filter(|(o, _)| o == "r")
            .map(|(_, id)| id)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (1..=2000).collect::<Vec<_>>(), "snapshot of {t}");
    }
    // Streaming began after every snapshot row.
    let first_stream = all.iter().position(|e| op(e) != "r").unwrap();
    assert_eq!(first_stream, 8000);
    assert_eq!(ops_of(&all[8000..], "p1"), [("c".to_owned(), 5000)]);
    assert_eq!(ops_of(&all[8000..], "p4"), [("u".to_owned(), 1)]);

    // A restart (any tasks.max) streams on from the offsets.
    pg.psql("DELETE FROM p2 WHERE id = 7;");
    props(&pg, dir.path(), &[("tasks.max", "1")]);
    let f = run(dir.path());
    assert!(f.success(), "restart failed:\n{}", f.all_output());
    let all = events(dir.path());
    assert_eq!(ops_of(&all[8002..], "p2"), [("d".to_owned(), 7)]);
}

#[test]
fn pg_column_exclude_list_leaves_columns_out_of_snapshot_and_stream() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE users (id int PRIMARY KEY, name text, secret text);
         INSERT INTO users VALUES (1, 'ann', 's1');",
    );
    props(
        &pg,
        dir.path(),
        &[("column.exclude.list", "public\\.users\\.secret")],
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 1);
    pg.psql("INSERT INTO users VALUES (2, 'bob', 's2'); UPDATE users SET secret = 'x';");
    wait_for_lines(&mut job, dir.path(), 4);
    finish(job);
    let all = events(dir.path());
    assert_eq!(all.len(), 4);
    for e in &all {
        let row = &e["after"];
        assert!(row.get("secret").is_none(), "{row}");
        assert!(row.get("name").is_some(), "{row}");
    }
}

#[test]
fn pg_server_restart_during_snapshot_resumes_without_duplicates() {
    let mut pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE big (id int PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat('x', 50) FROM generate_series(1, 60000) g;",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("snapshot.fetch.size", "200"),
            ("errors.retry.delay.max.ms", "300"),
        ],
    );
    let mut job = spawn_idle(dir.path(), "8s");
    wait_for_lines(&mut job, dir.path(), 2000);
    pg.restart();
    pg.psql(
        "UPDATE big SET v = 'changed' WHERE id IN (1, 59999); DELETE FROM big WHERE id = 30000;",
    );
    wait_for_lines(&mut job, dir.path(), 60000);
    let log = finish(job);
    assert!(
        log.contains("resuming the snapshot under a new consistent snapshot"),
        "the restart did not land in the snapshot:\n{log}"
    );
    let all = events(dir.path());
    let mut reads: Vec<i64> = ops_of(&all, "big")
        .into_iter()
        .filter(|(o, _)| o == "r")
        .map(|(_, id)| id)
        .collect();
    let total_reads = reads.len();
    reads.sort_unstable();
    reads.dedup();
    assert_eq!(reads.len(), total_reads, "a row was read twice");
    // Replay: the result must be the table's content.
    let mut state = std::collections::BTreeMap::new();
    for e in &all {
        match op(e) {
            "r" | "c" | "u" => {
                state.insert(e["after"]["id"].as_i64().unwrap(), e["after"]["v"].clone());
            }
            "d" => {
                state.remove(&e["before"]["id"].as_i64().unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(state.len(), 59999);
    assert_eq!(state[&1], "changed");
    assert_eq!(state[&59999], "changed");
    assert!(!state.contains_key(&30000));
    assert_eq!(state[&2], "x".repeat(50));
}

/// Every session of the connector (catalog queries, the slot, the snapshot,
/// the stream) goes over verified TLS: the server refuses plain sessions in
/// `pg_hba.conf`, so a single plain one would fail the job.
#[test]
fn pg_captures_over_verified_tls_and_refuses_a_wrong_ca() {
    let pki = common::tls::pki();
    let pg = pki
        .server(PgCluster::builder())
        .hba(
            "local all all scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl replication all 127.0.0.1/32 scram-sha-256
",
        )
        .start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE secret (id int PRIMARY KEY, v text);
         INSERT INTO secret SELECT g, 'row ' || g FROM generate_series(1, 20) g;",
    );
    let root = pki.path("root.crt");
    let root = root.to_str().unwrap();
    // The certificate names `localhost`; verify-full checks that name.
    let tls = [
        ("database.hostname", "localhost"),
        ("database.sslmode", "verify-full"),
        ("database.sslrootcert", root),
    ];
    props(&pg, dir.path(), &tls);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 20);
    pg.psql("INSERT INTO secret VALUES (21, 'streamed'); DELETE FROM secret WHERE id = 1;");
    wait_for_lines(&mut job, dir.path(), 23);
    let out = finish(job);
    let all = events(dir.path());
    assert_eq!(
        ops_of(&all, "secret")[20..],
        [("c".to_owned(), 21), ("d".to_owned(), 1)],
        "{out}"
    );
    let walsenders = pg.psql(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.backend_type = 'walsender' AND NOT s.ssl",
    );
    assert_eq!(walsenders.trim(), "0", "no plain replication session");

    // A CA that did not sign the server's certificate: the job fails before
    // reading anything, naming the mode and the file.
    let other = tempfile::tempdir().unwrap();
    let wrong = pki.path("wrong-root.crt");
    props(
        &pg,
        other.path(),
        &[
            ("database.hostname", "localhost"),
            ("database.sslmode", "verify-full"),
            ("database.sslrootcert", wrong.to_str().unwrap()),
        ],
    );
    let out = run_fails(other.path());
    assert!(
        out.contains("TLS handshake") && out.contains("wrong-root.crt"),
        "wrong CA: {out}"
    );
    // Plain text is refused by the server, and the error says so.
    props(&pg, other.path(), &[("database.sslmode", "disable")]);
    let out = run_fails(other.path());
    assert!(
        out.contains("pg_hba.conf") && out.contains("no encryption"),
        "plain: {out}"
    );
    // A root certificate file that does not exist is a configuration error.
    props(
        &pg,
        other.path(),
        &[("database.sslrootcert", "/nonexistent/root.crt")],
    );
    let out = run_fails(other.path());
    assert!(
        out.contains("database.sslrootcert") && out.contains("/nonexistent/root.crt"),
        "missing file: {out}"
    );
}

/// A `database.hostname` that is a directory is the server's Unix-domain
/// socket, as in libpq, for the snapshot readers and the replication stream
/// alike; `database.sslmode` is ignored there, as libpq ignores it.
#[test]
fn pg_captures_over_a_unix_domain_socket() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE local_rows (id int PRIMARY KEY, v text);
         INSERT INTO local_rows SELECT g, 'row ' || g FROM generate_series(1, 30) g;",
    );
    let socket_dir = pg.socket_dir();
    props(
        &pg,
        dir.path(),
        &[
            ("database.hostname", &socket_dir),
            ("database.sslmode", "verify-full"),
            ("tasks.max", "2"),
        ],
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 30);
    pg.psql("INSERT INTO local_rows VALUES (31, 'streamed'); DELETE FROM local_rows WHERE id = 1;");
    wait_for_lines(&mut job, dir.path(), 33);
    // The walsender serves a Unix-domain session: no client address, port -1.
    let walsender = pg.psql(
        "SELECT client_addr IS NULL, client_port FROM pg_stat_activity \
         WHERE backend_type = 'walsender'",
    );
    let out = finish(job);
    assert_eq!(walsender.trim(), "t|-1", "{out}");
    let all = events(dir.path());
    let mut snap: Vec<i64> = ops_of(&all, "local_rows")
        .iter()
        .filter(|(op, _)| op == "r")
        .map(|(_, id)| *id)
        .collect();
    snap.sort_unstable();
    assert_eq!(snap, (1..=30).collect::<Vec<_>>(), "{out}");
    assert_eq!(
        ops_of(&all, "local_rows")[30..],
        [("c".to_owned(), 31), ("d".to_owned(), 1)],
        "{out}"
    );
}

/// A streamed value that is not UTF-8 (stored unconverted in a
/// `SQL_ASCII` database) stops the job, and nothing of that change is
/// emitted, nor nulled. The walsender converts to the session's
/// client_encoding (UTF8) and fails first, with its error naming the byte;
/// the connector's own check ("is not UTF-8 text") is the second line.
#[test]
fn pg_a_streamed_value_that_is_not_utf8_fails_the_job() {
    let pg = PgCluster::start();
    pg.psql(
        "CREATE DATABASE raw ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    );
    pg.psql_db(
        "raw",
        "CREATE TABLE bytes (id int PRIMARY KEY, v text); INSERT INTO bytes VALUES (1, 'ascii');",
    );
    let dir = tempfile::tempdir().unwrap();
    props(&pg, dir.path(), &[("database.dbname", "raw")]);
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 1);
    pg.psql_db(
        "raw",
        "INSERT INTO bytes VALUES (2, 'fine'); INSERT INTO bytes VALUES (3, E'caf\\xe9');",
    );
    let f = job.wait_timeout(RUN_TIMEOUT).unwrap_or_else(|f| {
        panic!("job did not stop:\n{}", f.all_output());
    });
    let out = f.all_output();
    assert!(!f.success(), "the job should fail:\n{out}");
    assert!(
        out.contains("invalid byte sequence for encoding \"UTF8\": 0xe9"),
        "{out}"
    );
    let ids: Vec<i64> = ops_of(&events(dir.path()), "bytes")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(!ids.contains(&3), "the bad change was emitted: {ids:?}");
}

/// `skipped.operations` leaves the named operations out; TRUNCATE (when
/// not skipped) is a `t` event per table with no key and no row; logical
/// decoding messages are `m` events on `<prefix>.message`, filtered by
/// prefix, transactional ones with their transaction.
#[test]
fn pg_skipped_operations_truncate_and_logical_messages() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v text);");
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.t"),
            ("skipped.operations", "u"),
            ("message.prefix.include.list", "app\\..*"),
        ],
    );
    let mut job = spawn(dir.path());
    pg.psql("INSERT INTO t VALUES (0, 'sentinel')");
    wait_for_lines(&mut job, dir.path(), 1);
    pg.psql(
        "INSERT INTO t VALUES (1, 'a'), (2, 'b');
         UPDATE t SET v = 'a2' WHERE id = 1;
         DELETE FROM t WHERE id = 2;
         BEGIN;
         SELECT pg_logical_emit_message(true, 'app.audit', 'inside');
         SELECT pg_logical_emit_message(true, 'other', 'filtered out');
         INSERT INTO t VALUES (3, 'c');
         COMMIT;
         SELECT pg_logical_emit_message(false, 'app.ping', 'outside');
         TRUNCATE t;",
    );
    // 0 (r or c), c 1, c 2, d 2, tombstone, m app.audit, c 3, m app.ping, t.
    wait_for_lines(&mut job, dir.path(), 9);
    let out = finish(job);
    let all = events(dir.path());
    let ops: Vec<&str> = all[1..].iter().map(op).collect();
    assert_eq!(
        ops,
        ["c", "c", "d", "tombstone", "m", "c", "m", "t"],
        "{all:#?}\n{out}"
    );
    assert!(all.iter().all(|e| op(e) != "u"), "updates are skipped");
    let audit = &all[5];
    assert_eq!(audit["message"]["prefix"], "app.audit");
    assert_eq!(
        audit["message"]["content"], "aW5zaWRl",
        "base64 of `inside`"
    );
    let insert3 = &all[6];
    assert_eq!(
        audit["source"]["txId"], insert3["source"]["txId"],
        "a transactional message carries its transaction"
    );
    let ping = &all[7];
    assert_eq!(ping["message"]["prefix"], "app.ping");
    assert!(ping["source"]["txId"].is_null(), "{ping}");
    let truncate = &all[8];
    assert_eq!(truncate["source"]["table"], "t");
    assert!(truncate["before"].is_null() && truncate["after"].is_null());
}

/// While a snapshot runs, the CLI shows each table's rows read of
/// PostgreSQL's estimate, with a rate and the time left, and the same
/// figures are metrics (`timely_connect_task_progress_done` / `_total`).
#[test]
fn pg_snapshot_progress_is_shown_and_exported_as_metrics() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE big (id int PRIMARY KEY, pad text);
         INSERT INTO big SELECT g, repeat('p', 50) FROM generate_series(1, 150000) g;
         ANALYZE big;",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.big"),
            ("snapshot.mode", "initial_only"),
            ("snapshot.fetch.size", "500"),
        ],
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = run_args(dir.path(), "2s");
    args.extend(args!["--metrics-addr", &addr]);
    let mut job = Proc::spawn("pg-progress", &args, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut seen_done, mut seen_total) = (0.0f64, 0.0f64);
    while !job.has_exited() && Instant::now() < deadline {
        if let Ok(text) = timely_connect_operators::metrics_http::scrape(&addr) {
            for line in text.lines().filter(|l| l.contains("item=\"public.big\"")) {
                let value = line
                    .rsplit_once(' ')
                    .and_then(|(_, v)| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                if line.starts_with("timely_connect_task_progress_done{") {
                    seen_done = seen_done.max(value);
                } else if line.starts_with("timely_connect_task_progress_total{") {
                    seen_total = seen_total.max(value);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = finish(job);
    assert!(
        seen_done > 0.0 && seen_total >= seen_done,
        "progress metrics: done {seen_done}, total {seen_total}"
    );
    // The estimate is ANALYZE's (close to 150,000), not a count.
    assert!(
        (100_000.0..=200_000.0).contains(&seen_total),
        "total {seen_total}"
    );
    // The rate and the time left need two reports a second apart; a fast
    // snapshot may give only one (the CLI's unit test covers those).
    let shown = out
        .lines()
        .find(|l| l.contains("snapshot public.big: ") && l.contains(" of ~"))
        .unwrap_or_else(|| panic!("no progress line in the job's output:\n{out}"));
    assert!(shown.contains('%'), "{shown}");
    assert_eq!(events(dir.path()).len(), 150_000);
}

/// `heartbeat.action.query` runs at each heartbeat (here it writes a
/// captured table, whose changes then stream); the slot's retained and
/// unconfirmed WAL are metrics, and retained WAL past
/// `slot.retained.wal.warn.bytes` is a warning naming the slot.
#[test]
fn pg_heartbeat_action_query_and_slot_retention_metrics() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE t (id int PRIMARY KEY);
         CREATE TABLE hb (id serial PRIMARY KEY, at timestamptz NOT NULL);",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.t,public\\.hb"),
            ("heartbeat.interval.ms", "300"),
            (
                "heartbeat.action.query",
                "INSERT INTO hb (at) VALUES (now())",
            ),
            ("slot.lag.check.interval.ms", "200"),
            ("slot.retained.wal.warn.bytes", "1"),
            ("xmin.fetch.interval.ms", "100"),
        ],
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = run_args(dir.path(), "60s");
    args.extend(args!["--metrics-addr", &addr]);
    let mut job = Proc::spawn("pg-heartbeat", &args, &[]);
    pg.psql("INSERT INTO t VALUES (1)");
    wait_for_lines(&mut job, dir.path(), 1);

    let metric = |text: &str, name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains("slot=\"debezium\""))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .next()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut retained, mut unconfirmed, mut beats) = (None, None, 0i64);
    while Instant::now() < deadline && (retained.is_none() || unconfirmed.is_none() || beats < 3) {
        if let Ok(text) = timely_connect_operators::metrics_http::scrape(&addr) {
            retained = metric(&text, "timely_connect_task_pg_slot_retained_wal_bytes{");
            unconfirmed = metric(&text, "timely_connect_task_pg_slot_unconfirmed_wal_bytes{");
        }
        beats = pg
            .psql("SELECT count(*) FROM hb")
            .trim()
            .parse()
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        retained.is_some_and(|r| r > 0.0),
        "retained WAL metric: {retained:?}"
    );
    assert!(unconfirmed.is_some(), "unconfirmed WAL metric");
    assert!(beats >= 3, "heartbeat.action.query ran {beats} times");
    // The heartbeat table is captured: its rows stream like any other.
    wait_for_lines(&mut job, dir.path(), 3);

    let rc = unsafe { libc::kill(job.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let out = finish(job);
    assert!(
        out.contains("replication slot `debezium` holds back")
            && out.contains("slot.retained.wal.warn.bytes"),
        "no retention warning:\n{out}"
    );
    let all = events(dir.path());
    let hb: Vec<&Json> = all
        .iter()
        .filter(|e| table(e) == "hb" && op(e) == "c")
        .collect();
    assert!(hb.len() >= 2, "heartbeat rows captured: {}", hb.len());
    // xmin.fetch.interval.ms: later events carry the slot's catalog_xmin.
    let xmin = &hb[hb.len() - 1]["source"]["xmin"];
    assert!(xmin.as_i64().is_some_and(|x| x > 0), "source.xmin: {xmin}");
}

/// `publish.via.partition.root=true`: a partitioned table is captured as its
/// root — the snapshot reads the root once, and changes to any partition
/// stream on the root's topic — and the publication is made so.
#[test]
fn pg_partitioned_table_via_partition_root() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE measures (id int, region text, v int, PRIMARY KEY (id, region))
             PARTITION BY LIST (region);
         CREATE TABLE measures_eu PARTITION OF measures FOR VALUES IN ('eu');
         CREATE TABLE measures_us PARTITION OF measures FOR VALUES IN ('us');
         INSERT INTO measures VALUES (1, 'eu', 10), (2, 'us', 20);",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.measures.*"),
            ("publish.via.partition.root", "true"),
        ],
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), 2);
    pg.psql(
        "INSERT INTO measures VALUES (3, 'us', 30);
         UPDATE measures SET v = 11 WHERE id = 1;
         DELETE FROM measures WHERE id = 2;",
    );
    // r 1, r 2, c 3, u 1, d 2, tombstone.
    wait_for_lines(&mut job, dir.path(), 6);
    let out = finish(job);
    let all = events(dir.path());
    let tables: std::collections::BTreeSet<&str> =
        all.iter().filter(|e| !e.is_null()).map(table).collect();
    assert_eq!(
        tables.into_iter().collect::<Vec<_>>(),
        ["measures"],
        "every event on the root\n{out}"
    );
    let mut snap = ops_of(&all, "measures")[..2].to_vec();
    snap.sort();
    assert_eq!(snap, [("r".to_owned(), 1), ("r".to_owned(), 2)], "{all:#?}");
    assert_eq!(
        ops_of(&all, "measures")[2..],
        [
            ("c".to_owned(), 3),
            ("u".to_owned(), 1),
            ("d".to_owned(), 2)
        ]
    );
    assert_eq!(
        pg.psql("SELECT pubviaroot FROM pg_publication WHERE pubname = 'dbz_publication'")
            .trim(),
        "t"
    );
}

/// `provide.transaction.metadata=true`: BEGIN and END events on
/// `<prefix>.transaction` around each transaction's events, each event's
/// `transaction` block counting in all and per table, and the counts stay
/// exact across a SIGKILL in the middle of a transaction.
#[test]
fn pg_transaction_metadata_survives_sigkill_mid_transaction() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v int);
         CREATE TABLE u (id int PRIMARY KEY);",
    );
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.t,public\\.u"),
            ("provide.transaction.metadata", "true"),
        ],
    );
    let mut job = spawn(dir.path());
    // Row 0 is read by the snapshot or streamed (with BEGIN and END):
    // everything after its line(s) is streamed.
    pg.psql("INSERT INTO u VALUES (0)");
    wait_for_lines(&mut job, dir.path(), 1);
    std::thread::sleep(Duration::from_millis(500));
    let base = events(dir.path()).len();
    pg.psql(
        "BEGIN;
         INSERT INTO t VALUES (1, 1);
         INSERT INTO u VALUES (1);
         UPDATE t SET v = 2 WHERE id = 1;
         COMMIT;",
    );
    wait_for_lines(&mut job, dir.path(), base + 5);
    // A large transaction, killed in its middle.
    const N: i64 = 100_000;
    pg.psql(&format!(
        "INSERT INTO t SELECT g, 0 FROM generate_series(100, {}) g",
        99 + N
    ));
    wait_for_lines(&mut job, dir.path(), base + 5 + 5_000);
    job.kill();
    let at_kill = std::fs::read(dir.path().join("out.jsonl"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0);
    assert!(
        at_kill < base + 5 + N as usize + 2,
        "the transaction ended before the kill; nothing tested"
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), base + 5 + N as usize + 2);
    let out = finish(job);
    let all = events(dir.path());
    let status = |e: &Json| e["status"].as_str().unwrap_or("").to_owned();
    if base == 3 {
        assert_eq!(status(&all[0]), "BEGIN", "{out}");
        assert_eq!(status(&all[2]), "END");
        assert_eq!(all[2]["event_count"], 1);
    }
    let all = &all[base..];

    // The 3-event transaction: BEGIN, 3 events, END.
    assert_eq!(status(&all[0]), "BEGIN", "{out}");
    let id = all[0]["id"].as_str().unwrap_or("").to_owned();
    let blocks: Vec<(i64, i64)> = all[1..4]
        .iter()
        .map(|e| {
            assert_eq!(e["transaction"]["id"], id.as_str(), "{e}");
            (
                e["transaction"]["total_order"].as_i64().unwrap_or(0),
                e["transaction"]["data_collection_order"]
                    .as_i64()
                    .unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(blocks, [(1, 1), (2, 1), (3, 2)]);
    assert_eq!(status(&all[4]), "END");
    assert_eq!(all[4]["event_count"], 3);
    let mut collections: Vec<(String, i64)> = all[4]["data_collections"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["data_collection"].as_str().unwrap_or("").to_owned(),
                        c["event_count"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    collections.sort();
    assert_eq!(
        collections,
        [("public.t".to_owned(), 2), ("public.u".to_owned(), 1)]
    );

    // The killed transaction: one BEGIN, N events numbered 1..=N in order
    // (none lost or twice across the kill), one END counting N.
    let rest = &all[5..];
    assert_eq!(status(&rest[0]), "BEGIN");
    for (i, e) in rest[1..=N as usize].iter().enumerate() {
        let order = e["transaction"]["total_order"].as_i64().unwrap_or(0);
        assert_eq!(order, i as i64 + 1, "event {i}: {e}");
        assert_eq!(e["after"]["id"], 100 + i as i64);
    }
    let end = &rest[N as usize + 1];
    assert_eq!(status(end), "END");
    assert_eq!(end["event_count"], N);
    assert_eq!(rest.len(), N as usize + 2, "nothing after the END");
}

/// A delete under REPLICA IDENTITY DEFAULT sends only the key: the
/// `before` fills each NOT NULL column with its declared default where the
/// table has a constant one, else its type's zero value, as Debezium.
#[test]
fn pg_key_only_before_fills_not_null_columns_with_their_defaults() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(
        "CREATE TABLE d (
             id int PRIMARY KEY,
             status text NOT NULL DEFAULT 'new',
             qty int NOT NULL DEFAULT 7,
             neg numeric(5,2) NOT NULL DEFAULT -1.5,
             flag boolean NOT NULL DEFAULT true,
             day date NOT NULL DEFAULT '2020-01-02',
             made timestamptz NOT NULL DEFAULT now(),
             plain text NOT NULL,
             maybe text DEFAULT 'unused'
         );",
    );
    // With schemas, and nulls kept null (Kafka's JsonConverter would
    // otherwise write a null field as its schema's default).
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.d"),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "true"),
            ("value.converter.replace.null.with.default", "false"),
        ],
    );
    let mut job = spawn(dir.path());
    pg.psql("INSERT INTO d (id, plain) VALUES (0, 'sentinel')");
    wait_for_lines(&mut job, dir.path(), 1);
    pg.psql(
        "INSERT INTO d (id, status, qty, plain) VALUES (1, 'paid', 3, 'x');
         DELETE FROM d WHERE id = 1;",
    );
    // c 1, d 1, tombstone.
    let base = events(dir.path()).len();
    wait_for_lines(&mut job, dir.path(), base + 3);
    let out = finish(job);
    // A tombstone is an empty line with the JsonConverter.
    let with_schemas: Vec<Json> = String::from_utf8(read(&dir.path().join("out.jsonl")))
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Json::Null))
        .collect();
    // Column defaults are in the schema, as Debezium puts them.
    let schema = &with_schemas[0]["schema"];
    let after_fields = schema["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "after"))
        .and_then(|a| a["fields"].as_array())
        .unwrap_or_else(|| panic!("no after schema: {schema}"));
    let field = |name: &str| {
        after_fields
            .iter()
            .find(|f| f["field"] == name)
            .unwrap_or_else(|| panic!("no field {name}: {schema}"))
    };
    assert_eq!(field("status")["default"], "new");
    assert_eq!(field("qty")["default"], 7);
    assert_eq!(field("flag")["default"], true);
    assert_eq!(field("day")["default"], 18263);
    assert_eq!(field("maybe")["default"], "unused");
    assert_eq!(field("maybe")["optional"], true);
    assert!(
        field("made").get("default").is_none(),
        "now() is no constant"
    );
    assert!(field("plain").get("default").is_none());
    let all: Vec<Json> = with_schemas.iter().map(|e| e["payload"].clone()).collect();
    let delete = all
        .iter()
        .find(|e| op(e) == "d")
        .unwrap_or_else(|| panic!("no delete:\n{out}"));
    let before = &delete["before"];
    assert_eq!(before["id"], 1);
    assert_eq!(
        before["status"], "new",
        "declared default, not the row's value"
    );
    assert_eq!(before["qty"], 7);
    assert_eq!(before["flag"], true);
    assert_eq!(before["day"], 18263, "2020-01-02 as days since the epoch");
    // now() is no constant: the zero of its type (a ZonedTimestamp string).
    assert_eq!(before["made"], "", "now() is no constant");
    assert_eq!(before["plain"], "", "no default: the type's zero");
    assert!(before["maybe"].is_null(), "a nullable column stays null");
    assert!(
        !before["neg"].is_null(),
        "numeric default decoded: {before}"
    );
}

/// A snapshot of one large table killed with SIGKILL part-way resumes
/// after its last durable row: the restored process reads only the rest
/// (its own record count says so), and the output holds every row once.
#[test]
fn pg_snapshot_killed_part_way_resumes_where_it_was_durable() {
    const ROWS: usize = 400_000;
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    pg.psql(&format!(
        "CREATE TABLE big (id int PRIMARY KEY, pad text);
         INSERT INTO big SELECT g, repeat('p', 40) FROM generate_series(1, {ROWS}) g;"
    ));
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.big"),
            ("snapshot.mode", "initial_only"),
            ("snapshot.fetch.size", "1000"),
        ],
    );
    let mut job = spawn(dir.path());
    wait_for_lines(&mut job, dir.path(), ROWS * 3 / 10);
    job.kill();
    let at_kill = output_lines(dir.path());
    assert!(
        at_kill < ROWS,
        "the snapshot ended before the kill; nothing tested"
    );
    // The output as the restore will see it: what the last durable
    // snapshot committed (the rest is cut off at restore).
    let restored = spawn(dir.path());
    let out = finish(restored);
    let all = events(dir.path());
    let mut ids: Vec<i64> = all
        .iter()
        .map(|e| e["after"]["id"].as_i64().unwrap_or(-1))
        .collect();
    assert!(all.iter().all(|e| op(e) == "r"));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "a row twice");
    assert_eq!(ids, (1..=ROWS as i64).collect::<Vec<_>>(), "rows lost");
    let second: usize = out
        .lines()
        .find_map(|l| l.split("done: ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `done:` line:\n{out}"));
    eprintln!("{at_kill} rows out at the kill; the restored process read {second}");
    // Snapshots every 200 ms: most of what was read before the kill is
    // durable, and not read again.
    assert!(
        second <= ROWS - ROWS / 5,
        "the restored process read {second} of {ROWS} rows ({at_kill} were out at the kill): \
         it did not resume"
    );
}

/// A parallel snapshot splits one large table into primary-key chunks
/// read by three snapshot tasks side by side, while a writer updates
/// random rows. SIGKILL half-way; the restore continues the chunks that
/// were not durable, from their last durable key, and then streams. Every
/// row's events, in output order, count its `n` up by exactly one from its
/// snapshot value to the table's final value: nothing lost, nothing twice,
/// and no change the re-read chunks already hold.
#[test]
fn pg_chunked_parallel_snapshot_killed_resumes_per_chunk() {
    const ROWS: usize = 300_000;
    let pg = std::sync::Arc::new(PgCluster::start());
    let dir = tempfile::tempdir().unwrap();
    pg.psql(&format!(
        "CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, pad text);
         INSERT INTO big SELECT g, 0, repeat('p', 40) FROM generate_series(1, {ROWS}) g;"
    ));
    props(
        &pg,
        dir.path(),
        &[
            ("table.include.list", "public\\.big"),
            ("tasks.max", "4"),
            ("snapshot.chunk.rows", "25000"),
            ("snapshot.fetch.size", "1000"),
        ],
    );
    // Updates of random rows, one transaction each, all through the run.
    let writer = {
        let pg = std::sync::Arc::clone(&pg);
        std::thread::spawn(move || {
            pg.psql(&format!(
                "DO $$ DECLARE k int; BEGIN FOR i IN 1..3000 LOOP
                   k := 1 + floor(random() * {ROWS})::int;
                   UPDATE big SET n = n + 1 WHERE id = k;
                   COMMIT;
                   PERFORM pg_sleep(0.002);
                 END LOOP; END $$;"
            ))
        })
    };
    let mut args = run_args(dir.path(), "3s");
    args.extend(args!["-w", "2"]);
    let mut job = Proc::spawn("pg-cdc", &args, &[("RUST_LOG", "info")]);
    wait_for_lines(&mut job, dir.path(), ROWS * 3 / 10);
    let first = job.kill();
    let at_kill = output_lines(dir.path());
    assert!(
        at_kill < ROWS,
        "the snapshot ended before the kill; nothing tested"
    );
    let log = first.all_output();
    // Never analyzed: the planner's size-based estimate splits it.
    let chunks: usize = log
        .split("chunks=")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no chunk count:\n{log}"));
    assert!(chunks >= 8, "split in {chunks} chunks only:\n{log}");
    assert_eq!(
        log.matches("parallel snapshot part started").count(),
        3,
        "three snapshot tasks:\n{log}"
    );
    let t = Instant::now();
    writer.join().expect("writer");
    eprintln!("writer ended {:?} after the kill", t.elapsed());

    let t = Instant::now();
    let restored = Proc::spawn("pg-cdc", &args, &[("RUST_LOG", "info")]);
    let out = finish(restored);
    eprintln!("restored run took {:?}", t.elapsed());
    let all = events(dir.path());
    let finals: std::collections::HashMap<i64, i64> =
        pg.int_pairs("SELECT id, n FROM big WHERE n > 0");
    assert!(finals.len() > 1000, "the writer changed few rows");
    let mut seen: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    for e in &all {
        let id = e["after"]["id"].as_i64().expect("an id");
        let n = e["after"]["n"].as_i64().expect("an n");
        match (op(e), seen.get(&id)) {
            ("r", None) => {}
            ("r", Some(_)) => panic!("row {id} read twice"),
            ("u", Some(&prev)) => assert_eq!(n, prev + 1, "row {id}: a change lost or twice"),
            (o, prev) => panic!("row {id}: {o} after {prev:?}"),
        }
        seen.insert(id, n);
    }
    assert_eq!(seen.len(), ROWS, "rows lost");
    for (id, n) in &seen {
        assert_eq!(
            finals.get(id).copied().unwrap_or(0),
            *n,
            "row {id} ends elsewhere than in the table"
        );
    }
    let second: usize = out
        .lines()
        .find_map(|l| l.split("done: ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `done:` line:\n{out}"));
    eprintln!("{at_kill} events out at the kill; the restored process emitted {second}");
    // At least half of what was out at the kill was durable (snapshots
    // every 200 ms) and is not read again; the writer made 3000 changes.
    assert!(
        second <= ROWS + 3000 - at_kill / 2,
        "the restored process emitted {second} events for {ROWS} rows ({at_kill} were out at the kill): \
         it did not resume per chunk"
    );
}
