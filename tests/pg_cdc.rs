//! `PostgresCdc` against a real PostgreSQL cluster, driven through the real
//! CLI: snapshot and stream, every mapped type, schema changes, tables
//! without a key, replica identities, clear errors, a server restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::*;
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

fn run_args(dir: &Path, idle: &str) -> Vec<std::ffi::OsString> {
    args![
        "run",
        dir.join("conn.properties"),
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "200ms",
        "--output",
        dir.join("out.jsonl"),
        "--until-idle",
        idle,
    ]
}

/// Runs the job until it has been idle for 2 s.
fn run(dir: &Path) -> Finished {
    run_cli(&run_args(dir, "2s"), &[])
}

/// Every output line as JSON (tombstones are `null`).
fn events(dir: &Path) -> Vec<Json> {
    let text = String::from_utf8(read(&dir.join("out.jsonl"))).expect("utf-8 output");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
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
         INSERT INTO b SELECT g, g * 1.5 FROM generate_series(1, 30) g;
         INSERT INTO skipped VALUES (1);",
    );
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
    assert_eq!(snap.len(), 80, "snapshot rows");
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
    assert!(snap[..79].iter().all(|e| e["source"]["snapshot"] == "true"));
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
    let streamed = &all[80..];
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
