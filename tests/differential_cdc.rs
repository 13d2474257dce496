//! CDC into differential dataflow, against a real PostgreSQL: the
//! `cdc_revenue` example (orders joined with customers, revenue summed per
//! country) runs in a child process under a random workload of inserts,
//! updates (amounts, customers, countries, primary keys) and deletes; it is
//! killed with SIGKILL at random instants and restarted on another worker
//! count, every other time as two processes; a transaction larger than a
//! poll batch streams among them; midway both tables gain a column. After each burst of
//! transactions (between kills) its current result must reach the same
//! query run by PostgreSQL at that point; at the end its current result
//! must equal PostgreSQL's, and its change file and its change-event file,
//! replayed, must give that result with no change applied twice.
//!
//! `TEST_SEED=S` replays a run; `CDC_KILLS=N` sets the number of kills
//! (default 3).

mod common;

#[allow(dead_code)]
#[path = "../examples/cdc_revenue.rs"]
mod cdc_revenue;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::Rng;
use serde_json::Value as Json;
use timely_connect::snapshot::SnapshotStore;

const CHILD_ENV: &str = "CDC_REVENUE_CHILD_ARGS";
const COUNTRIES: [&str; 6] = ["FR", "DE", "NL", "PT", "SE", "IT"];

/// Not a test: the child process's entry. The test re-runs this binary
/// with `--ignored --exact child_pipeline` and the pipeline's arguments
/// in an environment variable.
#[test]
#[ignore = "entry point of the child process that `cdc_revenue_*` starts"]
fn child_pipeline() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let args = cdc_revenue::Args::parse(args.split('\u{1f}').map(str::to_owned))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = cdc_revenue::run(args) {
        eprintln!("pipeline failed: {e}");
        std::process::exit(3);
    }
}

/// The pipeline's processes: `processes` of them (joined by a hostfile of
/// free ports when more than one), each with `workers` worker threads.
struct Pipeline(Vec<Child>);

impl Pipeline {
    fn spawn(dir: &Path, processes: usize, workers: usize, until_idle: Option<u64>) -> Pipeline {
        Pipeline::spawn_with(dir, processes, workers, until_idle, false)
    }

    /// [`Pipeline::spawn`], with `--full-before` when `full_before`.
    fn spawn_with(
        dir: &Path,
        processes: usize,
        workers: usize,
        until_idle: Option<u64>,
        full_before: bool,
    ) -> Pipeline {
        let mut args = vec![
            dir.join("conn.properties").display().to_string(),
            dir.join("out").display().to_string(),
            "--interval-ms".into(),
            "100".into(),
            "-w".into(),
            workers.to_string(),
        ];
        if let Some(ms) = until_idle {
            args.push("--until-idle-ms".into());
            args.push(ms.to_string());
        }
        if full_before {
            args.push("--full-before".into());
        }
        if processes > 1 {
            let hosts = common::write_hostfile(dir, processes);
            args.extend(["-n".into(), processes.to_string(), "-h".into()]);
            args.push(hosts.display().to_string());
        }
        let children = (0..processes)
            .map(|i| {
                let mut a = args.clone();
                if processes > 1 {
                    a.extend(["-p".into(), i.to_string()]);
                }
                let child = Command::new(std::env::current_exe().expect("test binary"))
                    .args(["--ignored", "--exact", "child_pipeline", "--nocapture"])
                    .env(CHILD_ENV, a.join("\u{1f}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start the pipeline");
                if i == 0 && processes > 1 {
                    // Process 0 listens first; the others connect to it.
                    std::thread::sleep(Duration::from_millis(50));
                }
                child
            })
            .collect();
        Pipeline(children)
    }

    /// SIGKILL to every process.
    fn kill(mut self) {
        for c in &mut self.0 {
            c.kill().expect("SIGKILL the pipeline");
            let _ = c.wait();
        }
    }

    /// Waits for every process to end well.
    fn finish(self, label: &str) {
        for (i, c) in self.0.into_iter().enumerate() {
            finish(c, &format!("{label}, process {i}"));
        }
    }
}

fn setup(pg: &PgCluster, rng: &mut Rng) -> (i64, i64) {
    let mut sql = String::from(
        "CREATE TABLE customers (id bigint PRIMARY KEY, country text);
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2));",
    );
    for id in 1..=40 {
        let c = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
        sql.push_str(&format!("INSERT INTO customers VALUES ({id}, '{c}');"));
    }
    sql.push_str(
        "INSERT INTO orders SELECT g, 1 + g % 40, (g % 997) / 10.0 FROM generate_series(1, 3000) g;",
    );
    pg.psql(&sql);
    (41, 3001)
}

/// One random transaction: orders inserted, repriced, moved to another
/// customer, re-keyed or deleted; customers moving country, new ones.
fn transaction(rng: &mut Rng, next_customer: &mut i64, next_order: &mut i64) -> String {
    let mut sql = String::from("BEGIN;");
    for _ in 0..rng.range(1, 20) {
        let order = 1 + rng.below(*next_order as u64 - 1) as i64;
        let customer = 1 + rng.below(*next_customer as u64 - 1) as i64;
        match rng.below(12) {
            0..=2 => {
                sql.push_str(&format!(
                    "INSERT INTO orders VALUES ({}, {customer}, {}.{:02});",
                    *next_order,
                    rng.below(500),
                    rng.below(100)
                ));
                *next_order += 1;
            }
            3..=5 => sql.push_str(&format!(
                "UPDATE orders SET amount = amount + 1.25 WHERE id = {order};"
            )),
            6 => sql.push_str(&format!(
                "UPDATE orders SET customer_id = {customer} WHERE id = {order};"
            )),
            7 => {
                sql.push_str(&format!(
                    "UPDATE orders SET id = {} WHERE id = {order};",
                    *next_order
                ));
                *next_order += 1;
            }
            8..=9 => sql.push_str(&format!("DELETE FROM orders WHERE id = {order};")),
            10 => {
                let c = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
                sql.push_str(&format!(
                    "UPDATE customers SET country = '{c}' WHERE id = {customer};"
                ));
            }
            _ => {
                let c = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
                sql.push_str(&format!(
                    "INSERT INTO customers VALUES ({}, '{c}');",
                    *next_customer
                ));
                *next_customer += 1;
            }
        }
    }
    sql.push_str("COMMIT;");
    sql
}

/// PostgreSQL's answer: cents per country.
fn expected(pg: &PgCluster) -> BTreeMap<String, i64> {
    pg.psql(
        "SELECT c.country || '|' || (sum(o.amount) * 100)::bigint FROM orders o \
         JOIN customers c ON c.id = o.customer_id GROUP BY c.country",
    )
    .lines()
    .filter_map(|l| {
        let (c, n) = l.split_once('|')?;
        Some((c.to_owned(), n.trim().parse().ok()?))
    })
    .collect()
}

fn row_of(json: &Json) -> (String, i64) {
    let row = &json["row"];
    (
        row[0].as_str().unwrap_or_default().to_owned(),
        row[1].as_i64().unwrap_or(i64::MIN),
    )
}

/// The current-result file as country → cents.
fn current(path: &Path) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(j["count"], 1, "a (country, sum) row held twice: {l}");
            row_of(&j)
        })
        .collect()
}

/// Replays the change file: every row's count must stay 0 or 1 (a change
/// applied twice would take it to 2 or -1), epochs must not go back, and
/// the rows left are the result.
fn replay(path: &Path) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut last_time = 0;
    for (n, l) in text.lines().enumerate() {
        let j: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("line {n}: {l}: {e}"));
        let time = j["time"].as_u64().expect("time");
        assert!(time >= last_time, "line {n}: time {time} after {last_time}");
        last_time = time;
        let count = counts.entry(row_of(&j)).or_default();
        *count += j["diff"].as_i64().expect("diff");
        assert!(
            (0..=1).contains(count),
            "line {n}: row {l} now counted {count}: a change applied twice or lost"
        );
    }
    counts
        .into_iter()
        .filter(|(_, c)| *c == 1)
        .map(|(row, _)| row)
        .collect()
}

/// Replays the change events per country: a `c` of a country not held, a
/// `u` or `d` whose `before` is the value held (an event applied twice, or
/// one lost, breaks that), epochs never going back.
fn replay_events(path: &Path) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut held: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_time = 0;
    for (n, l) in text.lines().enumerate() {
        let j: Json = serde_json::from_str(l).unwrap_or_else(|e| panic!("line {n}: {l}: {e}"));
        let time = j["time"].as_u64().expect("time");
        assert!(
            time >= last_time,
            "event line {n}: time {time} after {last_time}"
        );
        last_time = time;
        let key = j["key"].as_str().expect("key").to_owned();
        let now = held.get(&key).copied();
        match j["op"].as_str() {
            Some("c") => assert_eq!(now, None, "event line {n}: create of a held key: {l}"),
            Some("u" | "d") => assert_eq!(
                now,
                j["before"].as_i64(),
                "event line {n}: before is not the held value: {l}"
            ),
            other => panic!("event line {n}: op {other:?}"),
        }
        match j["after"].as_i64() {
            Some(v) => held.insert(key, v),
            None => held.remove(&key),
        };
    }
    held
}

/// Waits until the current-result file shows PostgreSQL's answer now (the
/// pipeline has caught up with the writes so far).
fn wait_caught_up(pg: &PgCluster, out: &Path, label: &str) {
    let want = expected(pg);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = current(&out.join("revenue_current.jsonl"));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: the current result did not reach PostgreSQL's: {got:?} vs {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The current file, the replayed change file and the replayed change
/// events all equal PostgreSQL's answer `want`.
fn assert_outputs(out: &Path, want: &BTreeMap<String, i64>, seed: u64) {
    let files = [
        (
            "current result",
            current(&out.join("revenue_current.jsonl")),
        ),
        (
            "replayed changes",
            replay(&out.join("revenue_changes.jsonl")),
        ),
        (
            "replayed change events",
            replay_events(&out.join("revenue_events.jsonl")),
        ),
    ];
    for (what, got) in files {
        assert_eq!(&got, want, "{what} vs PostgreSQL (seed {seed})");
    }
}

/// PostgreSQL's answer after each transaction of the workload, with the
/// WAL position right after it: `(lsn, answer)`, in commit order.
struct Answers(Vec<(u64, BTreeMap<String, i64>)>);

impl Answers {
    fn record(&mut self, pg: &PgCluster) {
        let lsn = parse_lsn(&pg.psql("SELECT pg_current_wal_insert_lsn()")).expect("an LSN");
        self.0.push((lsn, expected(pg)));
    }

    /// Runs `sql` (one transaction) and records the answer after it.
    fn apply(&mut self, pg: &PgCluster, sql: &str) {
        pg.psql(sql);
        self.record(pg);
    }

    /// The answer as of a stream position `lsn_commit`: transaction `i`
    /// committed at an LSN after the position recorded before it, so it is
    /// covered when that position is below `lsn_commit`.
    fn at(&self, lsn_commit: u64) -> &BTreeMap<String, i64> {
        let covered = self
            .0
            .windows(2)
            .take_while(|w| w[0].0 < lsn_commit)
            .count();
        &self.0[covered].1
    }
}

fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Checks the newest durable snapshot: the change file's lines of its
/// epochs replay to PostgreSQL's answer at the stream position its offsets
/// hold. Returns false when there is nothing to check yet (no snapshot, or
/// still in the initial snapshot).
fn check_durable(out: &Path, answers: &Answers, label: &str) -> bool {
    let Ok(store) = SnapshotStore::open_existing(&out.join("snapshots")) else {
        return false;
    };
    let Ok(Some(restored)) = store.load_latest() else {
        return false;
    };
    let snap = restored.snapshot;
    let mut stream = None;
    for (partition, offset) in snap.offsets.iter() {
        if partition.get("snapshot_table").is_some() {
            if offset.get("done") != Some(timely_connect::data::OffsetValue::Bool(true)) {
                return false; // the initial snapshot is still being read
            }
        } else if let Some(lsn) = offset.get_i64("lsn_commit") {
            stream = Some(lsn as u64);
        }
    }
    let Some(lsn) = stream else {
        return false;
    };
    // Lines of epochs <= the snapshot's are complete and durable; a line
    // being appended after them may be cut.
    let text = std::fs::read_to_string(out.join("revenue_changes.jsonl")).unwrap_or_default();
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for l in text.lines() {
        let Ok(j) = serde_json::from_str::<Json>(l) else {
            break;
        };
        if j["time"].as_u64().is_none_or(|t| t > snap.epoch) {
            break;
        }
        *counts.entry(row_of(&j)).or_default() += j["diff"].as_i64().unwrap_or(0);
    }
    let got: BTreeMap<String, i64> = counts
        .into_iter()
        .filter(|(_, c)| *c != 0)
        .map(|(row, _)| row)
        .collect();
    // On a mismatch, which transaction boundaries the result does match.
    let matching = || -> Vec<usize> {
        (0..answers.0.len())
            .filter(|i| answers.0[*i].1 == got)
            .collect()
    };
    assert_eq!(
        &got,
        answers.at(lsn),
        "{label}: snapshot {} (stream at {lsn:X}) vs PostgreSQL's answer at that LSN; \
         the result matches the answers after transactions {:?} of {}",
        snap.epoch,
        matching(),
        answers.0.len()
    );
    true
}

fn finish(mut child: Child, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(
                status.success(),
                "{label}: pipeline failed ({status}): {err}"
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{label}: pipeline did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cdc_revenue_equals_postgres_after_random_workload_and_kills() {
    random_workload_and_kills(false);
}

/// The same with `REPLICA IDENTITY FULL` tables and
/// `ChangeFormat::DebeziumFull`: the adapters retract each event's own
/// `before` and keep no rows in memory; their logged rows still restore.
#[test]
fn cdc_revenue_with_full_old_rows_equals_postgres_after_random_workload_and_kills() {
    random_workload_and_kills(true);
}

fn random_workload_and_kills(full_before: bool) {
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("TEST_SEED={seed}");
    let mut rng = Rng::new(seed);
    let kills: u64 = std::env::var("CDC_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let pg = PgCluster::start();
    let (mut next_customer, mut next_order) = setup(&pg, &mut rng);
    if full_before {
        pg.psql(
            "ALTER TABLE customers REPLICA IDENTITY FULL;
             ALTER TABLE orders REPLICA IDENTITY FULL;",
        );
    }
    let spawn = |dir: &Path, processes, workers, until_idle| {
        Pipeline::spawn_with(dir, processes, workers, until_idle, full_before)
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    pg.write_connector_props(
        &dir.join("conn.properties"),
        "revenue",
        &[
            ("table.include.list", "public\\.customers,public\\.orders"),
            ("tasks.max", "2"),
        ],
    );
    let out = dir.join("out");
    let mut answers = Answers(Vec::new());
    answers.record(&pg);
    let mut checked = 0;
    let mut workers = 2;
    let mut child = spawn(dir, 1, workers, None);
    for k in 0..kills {
        // Some transactions while it runs; the result must catch up with
        // PostgreSQL's; more transactions, then SIGKILL at a random instant.
        let txs = rng.range(5, 40);
        for _ in 0..txs {
            answers.apply(
                &pg,
                &transaction(&mut rng, &mut next_customer, &mut next_order),
            );
        }
        if k == 1 {
            // A schema change mid-stream: new columns, filled from now on.
            answers.apply(
                &pg,
                "ALTER TABLE orders ADD COLUMN note text DEFAULT 'n';
                 ALTER TABLE customers ADD COLUMN city text;
                 UPDATE customers SET city = 'c' || id WHERE id % 3 = 0;",
            );
        }
        wait_caught_up(&pg, &out, &format!("before kill {k}"));
        if k == 0 {
            // A transaction larger than a poll batch: the snapshots taken
            // while it streams must each hold it whole or not at all.
            answers.apply(
                &pg,
                "BEGIN; UPDATE orders SET amount = amount + 0.01;
                 UPDATE orders SET amount = amount + 0.01;
                 UPDATE orders SET amount = amount + 0.01; COMMIT;",
            );
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until {
                if check_durable(&out, &answers, "while a large transaction streams") {
                    checked += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for _ in 0..rng.range(0, 10) {
            answers.apply(
                &pg,
                &transaction(&mut rng, &mut next_customer, &mut next_order),
            );
            if check_durable(&out, &answers, &format!("while writing, before kill {k}")) {
                checked += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(rng.range(50, 1500)));
        child.kill();
        if check_durable(&out, &answers, &format!("after kill {k}")) {
            checked += 1;
        }
        workers = 1 + (workers % 3);
        // Every other restart runs as two processes.
        let processes = 1 + (k as usize % 2);
        eprintln!(
            "kill {k}: after {txs} transactions; restart on {processes} process(es) of {workers} workers"
        );
        child = spawn(dir, processes, workers, None);
    }
    for _ in 0..rng.range(5, 30) {
        answers.apply(
            &pg,
            &transaction(&mut rng, &mut next_customer, &mut next_order),
        );
    }
    child.kill();
    // The last run, two processes, drains what is left and stops once idle.
    spawn(dir, 2, 1, Some(3000)).finish("final run");
    let want = expected(&pg);
    assert!(
        want.len() >= 3,
        "the workload left too few countries: {want:?}"
    );
    assert_outputs(&out, &want, seed);
    assert!(check_durable(&out, &answers, "at the end"));
    assert!(checked > 0, "no durable snapshot was checked while writing");
    eprintln!("{checked} durable snapshots checked against PostgreSQL at their LSN");
    // The adapters' rows and the result were restored from snapshots, not
    // rebuilt from a re-read table: the snapshots hold their state.
    let store = timely_connect::snapshot::SnapshotStore::open_existing(&out.join("snapshots"))
        .expect("snapshot store");
    let snap = store
        .load_latest()
        .expect("read")
        .expect("a snapshot")
        .snapshot;
    for name in ["orders", "customers", "revenue", "revenue_events"] {
        assert!(
            snap.state.get(name).is_some_and(|m| !m.segments.is_empty()),
            "state `{name}` in the newest snapshot"
        );
    }
}

/// The same pipeline over Debezium's own Java connector, hosted in the
/// embedded JVM: its change events feed the same adapter, and the result
/// equals PostgreSQL's after a snapshot, a restart and streamed changes.
#[cfg(feature = "jvm")]
#[test]
fn cdc_revenue_over_the_java_debezium_connector_equals_postgres() {
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("TEST_SEED={seed}");
    let mut rng = Rng::new(seed);
    let pg = PgCluster::start();
    let (mut next_customer, mut next_order) = setup(&pg, &mut rng);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let port = pg.port().to_string();
    common::write_props(
        &dir.join("conn.properties"),
        &[
            ("name", "revenue-dbz"),
            (
                "connector.class",
                "io.debezium.connector.postgresql.PostgresConnector",
            ),
            ("connector.runtime", "jvm"),
            ("plugin.name", "pgoutput"),
            ("database.hostname", "127.0.0.1"),
            ("database.port", &port),
            ("database.user", pg.superuser()),
            ("database.password", pg.password()),
            ("database.dbname", "postgres"),
            ("topic.prefix", "shop"),
            ("slot.name", "revenue_dbz"),
            ("publication.name", "revenue_dbz"),
            ("table.include.list", "public\\.customers,public\\.orders"),
        ],
    );
    let out = dir.join("out");
    // The snapshot, and changes streamed while it runs.
    let child = Pipeline::spawn(dir, 1, 2, Some(4000));
    for _ in 0..20 {
        pg.psql(&transaction(&mut rng, &mut next_customer, &mut next_order));
    }
    child.finish("first run");
    // Changes while the job is down, streamed by a restored run on one worker.
    for _ in 0..20 {
        pg.psql(&transaction(&mut rng, &mut next_customer, &mut next_order));
    }
    Pipeline::spawn(dir, 1, 1, Some(4000)).finish("restored run");
    let want = expected(&pg);
    assert_outputs(&out, &want, seed);
}
