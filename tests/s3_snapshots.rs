//! Snapshots in an S3-compatible object store: a real S3 server (`s3s-fs`,
//! in this process, with signature checks) and, where a test needs faults,
//! a proxy in front of it that fails, throttles or drops requests.
//!
//! - the snapshot store and the operators' state keep the file store's
//!   guarantees on S3 (whole-or-nothing, checksums, retention, skipping a
//!   corrupt newest snapshot, never overwriting an epoch);
//! - a 2-process × 2-worker job with `--snapshot-dir s3://…`, SIGKILLed at
//!   random instants and restored, writes every record exactly once, and
//!   nothing of its snapshots touches the local disk;
//! - the server down during snapshots: writes fail, the job goes on and
//!   tries again, nothing is lost;
//! - throttled requests (503 SlowDown) are retried with backoff.
//!
//! `KILL_TRIALS=N` sets the kill trials (default 3); `TEST_SEED=S` replays.

mod common;
#[path = "common/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use s3::{FaultProxy, S3Server};
use timely_connect::snapshot::{Snapshot, SnapshotError, SnapshotStore};
use timely_connect::state::{StateDir, StateError, StateManifest};
use timely_connect::storage::{Location, Storage, StorageError};

const PARTITIONS: u32 = 4;

/// The `snapshot.s3.*` options that reach `endpoint` (no environment).
fn options(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("snapshot.s3.endpoint", endpoint),
        ("snapshot.s3.access.key.id", s3::ACCESS_KEY),
        ("snapshot.s3.secret.access.key", s3::SECRET_KEY),
        ("snapshot.s3.region", s3::REGION),
        ("snapshot.s3.retry.timeout.ms", "3000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn storage(server: &S3Server, prefix: &str) -> Arc<dyn Storage> {
    Location::from(format!("s3://{}/{prefix}", s3::BUCKET).as_str())
        .open(&options(&server.endpoint()))
        .expect("open the S3 location")
}

fn env_of(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn snap(epoch: u64) -> Snapshot {
    Snapshot {
        epoch,
        execution: 1,
        workers: 2,
        connector: "s3-test".into(),
        ..Snapshot::default()
    }
}

#[test]
fn the_snapshot_store_on_s3_keeps_the_file_stores_guarantees() {
    let root = tempdir();
    let server = S3Server::start(root.path());
    let store = SnapshotStore::on_storage(storage(&server, "jobs/a"), 2);
    assert_eq!(
        store.load_latest().unwrap(),
        None,
        "a fresh prefix has nothing"
    );
    for e in 1..=4 {
        store.write(&snap(e)).unwrap();
    }
    // Retention: the two newest stay.
    assert_eq!(store.epochs().unwrap(), vec![4, 3]);
    assert!(!server
        .object_path("jobs/a/snapshot-00000000000000000002.tcs")
        .exists());
    // Never overwritten: the server's If-None-Match refuses a second epoch 4.
    let again = store.write(&snap(4)).unwrap_err();
    assert!(
        matches!(again, SnapshotError::AlreadyExists { epoch: 4, .. }),
        "{again}"
    );
    // A create of an existing object with other bytes is refused by the
    // server itself, not only by the store's listing.
    let raw = storage(&server, "jobs/a");
    let err = raw
        .create("snapshot-00000000000000000004.tcs", b"other bytes")
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyExists { .. }), "{err}");
    // Corrupt the newest object on the server: restore skips it, naming it.
    let newest = server.object_path("jobs/a/snapshot-00000000000000000004.tcs");
    let mut bytes = std::fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&newest, bytes).unwrap();
    let restored = store.load_latest().unwrap().unwrap();
    assert_eq!(restored.snapshot.epoch, 3);
    assert_eq!(restored.skipped.len(), 1);
    let (path, reason) = &restored.skipped[0];
    assert_eq!(
        path.display().to_string(),
        "s3://snapshots/jobs/a/snapshot-00000000000000000004.tcs"
    );
    assert!(reason.contains("checksum"), "{reason}");
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!listed[0].is_valid() && listed[1].is_valid());
    // Another prefix of the same bucket is another store.
    let other = SnapshotStore::on_storage(storage(&server, "jobs/b"), 2);
    assert_eq!(other.load_latest().unwrap(), None);
}

#[test]
fn operator_state_segments_on_s3_load_compact_and_are_collected() {
    let root = tempdir();
    let server = S3Server::start(root.path());
    let state = StateDir::on_storage(storage(&server, "jobs/state"));
    let put = |k: &str, v: &str| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()));
    let del = |k: &str| (k.as_bytes().to_vec(), None);
    let segments = vec![
        state
            .write_segment("rows", 1, 1, 0, &[put("a", "1"), put("b", "1")])
            .unwrap(),
        state
            .write_segment("rows", 1, 1, 1, &[put("c", "1")])
            .unwrap(),
        state
            .write_segment("rows", 2, 1, 0, &[put("a", "2"), del("b")])
            .unwrap(),
    ];
    let manifest = StateManifest { segments };
    let loaded = state.load("rows", &manifest, |_| true).unwrap();
    let as_text = |m: &std::collections::HashMap<Vec<u8>, Vec<u8>>| {
        let mut v: Vec<(String, String)> = m
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let expected = vec![
        ("a".to_owned(), "2".to_owned()),
        ("c".to_owned(), "1".to_owned()),
    ];
    assert_eq!(as_text(&loaded), expected);

    let base = state.compact("rows", &manifest, 1).unwrap();
    assert!(base.base);
    let compacted = StateManifest {
        segments: vec![base],
    };
    assert_eq!(
        as_text(&state.load("rows", &compacted, |_| true).unwrap()),
        expected
    );

    // Only the base is referenced now: the three segments are garbage.
    let mut referenced = BTreeMap::new();
    referenced.insert("rows".to_owned(), compacted.clone());
    let deleted = state.collect_garbage(&[&referenced], 2, &[]).unwrap();
    assert_eq!(deleted, 3);
    let left = storage(&server, "jobs/state")
        .list("state/rows")
        .unwrap()
        .files;
    assert_eq!(left.len(), 1, "{left:?}");

    // A damaged object is found out, named by its URL.
    let path = server.object_path(&format!(
        "jobs/state/state/rows/{}",
        compacted.segments[0].file
    ));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let err = state.load("rows", &compacted, |_| true).unwrap_err();
    assert!(matches!(err, StateError::ChecksumMismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("s3://snapshots/jobs/state/state/rows/"),
        "{err}"
    );
}

#[test]
fn a_wrong_secret_or_a_non_loopback_http_endpoint_is_a_clear_error() {
    let root = tempdir();
    let server = S3Server::start(root.path());
    let mut opts = options(&server.endpoint());
    opts.insert("snapshot.s3.secret.access.key".into(), "wrong".into());
    let store = SnapshotStore::open_location(&Location::from("s3://snapshots/jobs/x"), 3, &opts)
        .expect("opening sends nothing");
    let err = store.write(&snap(1)).unwrap_err().to_string();
    assert!(err.contains("s3://snapshots/jobs/x"), "{err}");

    let mut opts = options("http://10.1.2.3:9000");
    opts.remove("snapshot.s3.allow.http");
    let err = SnapshotStore::open_location(&Location::from("s3://snapshots/x"), 3, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plain http") && err.contains("snapshot.s3.allow.http"),
        "{err}"
    );
}

fn datagen_props(dir: &Path, name: &str, max: u64, rate: u64, seed: u64) -> std::path::PathBuf {
    write_props(
        &dir.join("datagen.properties"),
        &[
            ("name", name),
            ("connector.class", "Datagen"),
            ("quickstart", "orders"),
            ("partitions", &PARTITIONS.to_string()),
            ("max.messages", &max.to_string()),
            ("messages.per.second", &rate.to_string()),
            ("tasks.max", "4"),
            ("seed", &seed.to_string()),
            ("snapshot.s3.retry.timeout.ms", "2000"),
        ],
    )
}

fn run_args(props: &Path, dir: &Path, url: &str) -> Vec<OsString> {
    restartable_run_args(props, url, &dir.join("out.txt"), "1s")
}

#[test]
fn a_2x2_job_with_snapshots_in_s3_killed_at_random_and_restored_writes_each_record_once() {
    let trials: u64 = std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let master = Rng::seed_from_env_or_clock();
    let root = tempdir();
    let server = S3Server::start(root.path());
    let env = server.env();
    let env = env_of(&env);
    for t in 0..trials {
        let seed = master.wrapping_add(t.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = Rng::new(seed);
        let dir = tempdir();
        let max = 20_000;
        let props = datagen_props(dir.path(), "s3-kill", max, 8_000, rng.below(1_000_000));
        let prefix = format!("trial-{seed}");
        let url = format!("s3://{}/{prefix}", s3::BUCKET);
        let args = run_args(&props, dir.path(), &url);
        eprintln!("trial {t}: seed {seed} (replay: TEST_SEED={seed} KILL_TRIALS=1)");
        let kills = 1 + rng.below(2);
        for k in 0..kills {
            let kill_at = Duration::from_millis(rng.range(400, 2500));
            let started = Instant::now();
            let mut procs = spawn_cluster(dir.path(), &args, 2, 2, &env);
            while started.elapsed() < kill_at && !procs.iter_mut().all(|p| p.has_exited()) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let victim = rng.below(2) as usize;
            let first = procs.remove(victim);
            first.kill();
            std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
            kill_all(procs);
            eprintln!("  run {k}: SIGKILLed at {kill_at:?} (process {victim} first)");
        }
        let finished = run_cluster_ok(dir.path(), &args, 2, 2, &env);
        if let Err(problem) = check_datagen_output(&dir.path().join("out.txt"), max, PARTITIONS) {
            let kept = dir.keep();
            panic!(
                "seed {seed}: {problem}\nfiles in {}\nprocess 0 said:\n{}",
                kept.display(),
                stderr_digest(&finished[0].stderr)
            );
        }
        // The snapshots are in the bucket, none on the local disk.
        let epochs = server.snapshot_epochs(&prefix);
        assert!(!epochs.is_empty(), "no snapshot object under {prefix}");
        assert!(epochs.len() <= 3, "retention keeps 3: {epochs:?}");
        assert!(
            !dir.path().join("snapshots").exists(),
            "a local snapshot directory was made"
        );
        // `snapshots list` and `offsets export` read them from S3.
        let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &url], &env);
        let newest = epochs.last().copied().unwrap_or(0);
        assert!(
            listed
                .stdout
                .contains(&format!("{url}/snapshot-{newest:020}.tcs")),
            "{}",
            listed.stdout
        );
        let exported = run_ok(&args!["offsets", "export", "--snapshot-dir", &url], &env);
        let json: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
        assert_eq!(
            json["offsets"].as_array().map(Vec::len),
            Some(PARTITIONS as usize),
            "{json}"
        );
        // `offsets reset` writes a new generation into the bucket.
        run_ok(
            &args!["offsets", "reset", &props, "--snapshot-dir", &url],
            &env,
        );
        let exported = run_ok(&args!["offsets", "export", "--snapshot-dir", &url], &env);
        let json: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
        assert_eq!(json["offsets"].as_array().map(Vec::len), Some(0), "{json}");
        assert_eq!(
            server.snapshot_epochs(&prefix).last(),
            Some(&(newest + 1)),
            "the reset is the next epoch"
        );
    }
}

/// A 1-process × 2-worker Datagen job of `max` records at `rate`/s whose
/// snapshots go through a fault proxy to a fresh server, under `prefix`;
/// returns once its first snapshot is in the bucket.
struct ProxiedJob {
    _root: tempfile::TempDir,
    server: S3Server,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    procs: Vec<Proc>,
    max: u64,
}

impl ProxiedJob {
    fn start(prefix: &str, max: u64, rate: u64) -> ProxiedJob {
        let root = tempdir();
        let server = S3Server::start(root.path());
        let proxy = FaultProxy::start(server.addr());
        let env = proxy.env();
        let dir = tempdir();
        let props = datagen_props(dir.path(), prefix, max, rate, 7);
        let url = format!("s3://{}/{prefix}", s3::BUCKET);
        let args = run_args(&props, dir.path(), &url);
        let procs = spawn_cluster(dir.path(), &args, 1, 2, &env_of(&env));
        let deadline = Instant::now() + RUN_TIMEOUT;
        while server.snapshot_epochs(prefix).is_empty() {
            assert!(Instant::now() < deadline, "no first snapshot");
            std::thread::sleep(Duration::from_millis(20));
        }
        ProxiedJob {
            _root: root,
            server,
            proxy,
            dir,
            args,
            env,
            procs,
            max,
        }
    }

    /// Waits for the job; it must succeed and have written every record once.
    fn finish(&mut self) -> Finished {
        let procs = std::mem::take(&mut self.procs);
        let f = wait_cluster(procs, RUN_TIMEOUT).remove(0);
        assert!(f.success(), "the job failed:\n{}", f.stderr);
        check_datagen_output(&self.dir.path().join("out.txt"), self.max, PARTITIONS).unwrap();
        f
    }
}

#[test]
fn the_s3_server_down_during_snapshots_fails_them_cleanly_and_the_job_goes_on() {
    let mut job = ProxiedJob::start("down", 48_000, 6_000);
    // Once a first snapshot is in, take the server away for 5 s: longer
    // than a request's retries (2 s here, snapshot.s3.retry.timeout.ms), so
    // a snapshot write fails whatever the timing.
    let before = job.server.snapshot_epochs("down");
    job.proxy.set_down(true);
    std::thread::sleep(Duration::from_millis(5000));
    let during = job.server.snapshot_epochs("down");
    job.proxy.set_down(false);
    let f = job.finish();
    assert_eq!(
        before.last(),
        during.last(),
        "a snapshot was written while down"
    );
    assert_mentions(&f.stderr, &["writing snapshot failed", "tries again"]);
    let after = job.server.snapshot_epochs("down");
    assert!(
        after.last() > during.last(),
        "no snapshot after the server came back: {after:?}"
    );
    // A restart finds the newest snapshot and has nothing left to do.
    let again = run_cluster_ok(job.dir.path(), &job.args, 1, 2, &env_of(&job.env));
    assert_eq!(
        records_done(&again[0].stderr),
        Some(0),
        "{}",
        again[0].stderr
    );
    check_datagen_output(&job.dir.path().join("out.txt"), job.max, PARTITIONS).unwrap();
}

#[test]
fn throttled_s3_requests_are_retried_with_backoff() {
    let mut job = ProxiedJob::start("slow", 8_000, 8_000);
    // Three requests in a row answered 503 SlowDown: each is retried after
    // a backoff, and no snapshot write fails for it.
    job.proxy.fail_next(3, 503);
    let f = job.finish();
    assert_eq!(job.proxy.requests_failed(), 3, "the throttling was not met");
    assert!(
        !f.stderr.contains("writing snapshot failed"),
        "a throttled request was not retried:\n{}",
        f.stderr
    );
}
