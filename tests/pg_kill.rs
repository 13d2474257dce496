//! `PostgresCdc` under SIGKILL: the CLI job is killed at random moments —
//! during the initial snapshot and while a write load streams — restarted
//! with `--restore latest`, and finally run to the end. The exactly-once
//! output must hold every change exactly once, and the slot's
//! `confirmed_flush_lsn` must never be ahead of what the newest durable
//! snapshot holds.
//!
//! `KILL_TRIALS=N` sets the number of trials (default 5); `TEST_SEED=S`
//! replays one (each trial prints its seed).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::*;
use serde_json::Value as Json;

const INITIAL_ROWS: i64 = 20_000;
/// Rows of a second table no one writes (so a fresh start with
/// `tasks.max=3` spreads the snapshot over two tasks).
const SIDE_ROWS: i64 = 5_000;

fn trials() -> u64 {
    std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn run_args(dir: &Path, idle: &str, workers: u32) -> Vec<OsString> {
    args![
        "run",
        dir.join("conn.properties"),
        "-w",
        workers.to_string(),
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "100ms",
        "--restore",
        "latest",
        "--output",
        dir.join("out.jsonl"),
        "--until-idle",
        idle,
    ]
}

/// The write load: transactions of inserts (new ids), updates (`v = v + 1`),
/// primary-key changes (to new ids) and deletes, one large transaction
/// among them, with short pauses.
fn load_sql(rng: &mut Rng) -> String {
    let mut live: Vec<i64> = (1..=INITIAL_ROWS).collect();
    let mut next = INITIAL_ROWS + 1;
    let mut sql = String::new();
    for t in 0..60 {
        sql.push_str("BEGIN;");
        let statements = if t == 30 { 600 } else { rng.range(1, 12) };
        for _ in 0..statements {
            match rng.below(10) {
                0..=3 => {
                    sql.push_str(&format!("INSERT INTO load VALUES ({next}, 0);"));
                    live.push(next);
                    next += 1;
                }
                4..=7 => {
                    let id = live[rng.below(live.len() as u64) as usize];
                    sql.push_str(&format!("UPDATE load SET v = v + 1 WHERE id = {id};"));
                }
                8 => {
                    // A primary-key change: a delete and a create downstream.
                    let i = rng.below(live.len() as u64) as usize;
                    let id = std::mem::replace(&mut live[i], next);
                    sql.push_str(&format!("UPDATE load SET id = {next} WHERE id = {id};"));
                    next += 1;
                }
                _ => {
                    let i = rng.below(live.len() as u64) as usize;
                    let id = live.swap_remove(i);
                    sql.push_str(&format!("DELETE FROM load WHERE id = {id};"));
                }
            }
        }
        sql.push_str("COMMIT; SELECT pg_sleep(0.05);");
    }
    sql
}

/// The newest durable snapshot's offsets: `(stream lsn_commit, snapshot lsn)`.
fn durable_positions(dir: &Path) -> (Option<u64>, Option<u64>) {
    let f = run_cli(
        &args!["snapshots", "show", "--snapshot-dir", dir.join("snaps")],
        &[],
    );
    if !f.success() {
        return (None, None);
    }
    let Ok(json) = serde_json::from_str::<Json>(&f.stdout) else {
        return (None, None);
    };
    let mut stream = None;
    let mut snapshot = None;
    for entry in json["offsets"].as_array().into_iter().flatten() {
        let offset = &entry["offset"];
        if entry["partition"].get("snapshot_table").is_some() {
            snapshot = offset["lsn"].as_u64();
        } else {
            stream = offset["lsn_commit"].as_u64();
        }
    }
    (stream, snapshot)
}

/// How many segments the table's snapshot took (more than one: a kill
/// interrupted it and the rest was read under a fresh snapshot).
fn snapshot_segments(dir: &Path) -> usize {
    let f = run_cli(
        &args!["snapshots", "show", "--snapshot-dir", dir.join("snaps")],
        &[],
    );
    let json: Json = serde_json::from_str(&f.stdout).unwrap_or(Json::Null);
    json["offsets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["offset"]["segments"].as_array().map(Vec::len))
        .max()
        .unwrap_or(0)
}

fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The slot's confirmed flush must not be past the durable snapshot.
fn check_slot(pg: &PgCluster, db: &str, slot: &str, dir: &Path, label: &str) {
    let confirmed = pg.psql_db(
        db,
        &format!("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"),
    );
    let Some(confirmed) = parse_lsn(&confirmed) else {
        return; // no slot yet
    };
    match durable_positions(dir) {
        (Some(stream), _) => assert!(
            confirmed <= stream,
            "{label}: slot confirmed {confirmed:X}, durable stream position only {stream:X}"
        ),
        (None, Some(snapshot)) => assert!(
            confirmed <= snapshot,
            "{label}: slot confirmed {confirmed:X} during the snapshot (consistent point {snapshot:X})"
        ),
        (None, None) => {}
    }
}

/// Replays the events per id and checks them: each id appears (`r` or `c`)
/// once, every update adds exactly 1 to `v` (no change lost or repeated),
/// a delete ends it, and the result is the table's final content.
fn check_output(dir: &Path, expected: &BTreeMap<i64, i64>, label: &str) {
    let text = String::from_utf8(read(&dir.join("out.jsonl"))).expect("utf-8");
    let mut state: HashMap<i64, Option<i64>> = HashMap::new();
    let mut side = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let e: Json =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{label}: line {n}: {err}"));
        if e.is_null() || e.get("op").is_none() {
            continue; // a tombstone or a heartbeat
        }
        if e["source"]["table"] == "side" {
            assert_eq!(
                e["op"], "r",
                "{label}: line {n}: table side is never written"
            );
            let id = e["after"]["id"].as_i64().unwrap_or(-1);
            assert!(side.insert(id), "{label}: line {n}: side row {id} twice");
            continue;
        }
        let op = e["op"].as_str().unwrap_or("?");
        let row = if e["after"].is_null() {
            &e["before"]
        } else {
            &e["after"]
        };
        let id = row["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{label}: line {n} has no id: {line}"));
        let v = e["after"]["v"].as_i64();
        let seen = state.get(&id).copied();
        match op {
            "r" | "c" => {
                assert!(
                    !matches!(seen, Some(Some(_))),
                    "{label}: line {n}: id {id} created twice: {line}"
                );
                if op == "r" {
                    assert!(
                        seen.is_none(),
                        "{label}: line {n}: id {id} read after it ended"
                    );
                }
                state.insert(id, v);
            }
            "u" => {
                let Some(Some(prev)) = seen else {
                    panic!("{label}: line {n}: update of absent id {id}: {line}");
                };
                assert_eq!(
                    v,
                    Some(prev + 1),
                    "{label}: line {n}: id {id} update lost or repeated"
                );
                state.insert(id, v);
            }
            "d" => {
                assert!(
                    matches!(seen, Some(Some(_))),
                    "{label}: line {n}: delete of absent id {id}: {line}"
                );
                state.insert(id, None);
            }
            other => panic!("{label}: line {n}: op {other}"),
        }
    }
    assert_eq!(side.len() as i64, SIDE_ROWS, "{label}: rows of table side");
    let got: BTreeMap<i64, i64> = state
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
        .collect();
    if &got != expected {
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !got.contains_key(k))
            .take(10)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !expected.contains_key(k))
            .take(10)
            .collect();
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| got.get(k).is_some_and(|g| g != *v))
            .take(10)
            .collect();
        panic!(
            "{label}: replayed output differs from the table: {} vs {} rows; missing {missing:?}, extra {extra:?}, differ {differ:?}",
            got.len(),
            expected.len()
        );
    }
}

#[test]
fn pg_kill_during_snapshot_and_stream_keeps_exactly_once() {
    let pg = PgCluster::start();
    let master = Rng::seed_from_env_or_clock();
    for trial in 0..trials() {
        let seed = master.wrapping_add(trial.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let label = format!(
            "trial {trial} (TEST_SEED={seed} KILL_TRIALS=1 replays it; odd trials run 3 tasks)"
        );
        eprintln!("{label}");
        let mut rng = Rng::new(seed);
        let db = format!("kill{trial}");
        let slot = format!("slot_{trial}");
        pg.psql(&format!("CREATE DATABASE {db}"));
        pg.psql_db(
            &db,
            &format!(
                "CREATE TABLE load (id bigint PRIMARY KEY, v int NOT NULL);
                 INSERT INTO load SELECT g, 0 FROM generate_series(1, {INITIAL_ROWS}) g;
                 CREATE TABLE side (id int PRIMARY KEY);
                 INSERT INTO side SELECT generate_series(1, {SIDE_ROWS});
                 ANALYZE load;"
            ),
        );
        let dir = tempfile::tempdir().unwrap();
        let port = pg.port().to_string();
        // Odd trials: 3 tasks on 2 workers, so a fresh start snapshots in
        // parallel, with table `load` split into 5 key-range chunks.
        let (tasks, workers) = if trial % 2 == 1 { ("3", 2) } else { ("1", 1) };
        let chunk_rows = (INITIAL_ROWS / 5).to_string();
        write_props(
            &dir.path().join("conn.properties"),
            &[
                ("name", "pg-kill"),
                ("connector.class", "PostgresCdc"),
                ("database.hostname", "127.0.0.1"),
                ("database.port", &port),
                ("database.user", pg.superuser()),
                ("database.password", pg.password()),
                ("database.dbname", &db),
                ("topic.prefix", "k"),
                ("slot.name", &slot),
                ("snapshot.fetch.size", "1000"),
                ("heartbeat.interval.ms", "300"),
                ("errors.retry.delay.max.ms", "300"),
                ("tasks.max", tasks),
                ("snapshot.chunk.rows", &chunk_rows),
            ],
        );
        let sql = load_sql(&mut rng);
        let delay = Duration::from_millis(rng.range(0, 800));
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                std::thread::sleep(delay);
                pg.psql_db(&db, &sql);
            });
            let started = Instant::now();
            let mut kills = 0;
            while !writer.is_finished() || kills == 0 {
                let mut job = Proc::spawn("pg-kill", &run_args(dir.path(), "30s", workers), &[]);
                std::thread::sleep(Duration::from_millis(rng.range(150, 1500)));
                if job.has_exited() {
                    let f = job.wait_timeout(RUN_TIMEOUT).unwrap_or_else(|f| f);
                    panic!("{label}: job ended before the kill:\n{}", f.all_output());
                }
                let _ = job.kill();
                kills += 1;
                check_slot(&pg, &db, &slot, dir.path(), &label);
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{label}: load too slow"
                );
            }
            writer.join().expect("writer");
            eprintln!("{label}: {kills} kills");
        });
        // Finish: run until idle, restoring the last durable snapshot.
        let f = run_cli_within(
            &run_args(dir.path(), "3s", workers),
            &[],
            Duration::from_secs(90),
        );
        assert!(
            f.success(),
            "{label}: final run failed:\n{}",
            f.all_output()
        );
        check_slot(&pg, &db, &slot, dir.path(), &label);
        let expected: BTreeMap<i64, i64> =
            pg.int_pairs_db(&db, "SELECT id, v FROM load ORDER BY id");
        check_output(dir.path(), &expected, &label);
        eprintln!(
            "{label}: snapshot read in {} segment(s)",
            snapshot_segments(dir.path())
        );
        pg.psql_db(&db, &format!("SELECT pg_drop_replication_slot('{slot}')"));
    }
}
