//! A failing task fails the job with an error naming the connector, the task
//! and the cause, never hangs a worker, and never gets the epoch it failed in
//! snapshotted (DESIGN.md invariants 1, 2 and 6; "A failed task must not drop
//! its capability").

#[path = "common/counter.rs"]
mod counter;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use counter::{
    counter_offsets, dir_contents, newest_snapshot, props, registry, run_job, Log, Watchdog,
};
use timely_connect::snapshot::SnapshotStore;
use timely_connect_operators::JobSpec;

const HANG_LIMIT: Duration = Duration::from_secs(60);

fn spec(
    name: &str,
    extra: &[(&str, &str)],
    log: &std::sync::Arc<Log>,
    dir: &std::path::Path,
) -> JobSpec {
    JobSpec::new(props(name, extra))
        .registry(registry(log))
        .snapshot_dir(dir)
        .snapshot_interval(Duration::from_millis(50))
}

fn expect_err(result: &Result<(), String>, what: &str) -> String {
    match result {
        Ok(()) => panic!("{what}: the job succeeded, expected it to fail"),
        Err(e) => e.clone(),
    }
}

fn assert_names(error: &str, parts: &[&str]) {
    for p in parts {
        assert!(error.contains(p), "error does not name {p:?}: {error}");
    }
}

/// Max n per partition among `records` at epochs `<= epoch`.
fn cut(records: &[counter::Seen], epoch: u64) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for r in records.iter().filter(|r| r.epoch <= epoch) {
        let e = out.entry(r.partition).or_insert(r.n);
        *e = (*e).max(r.n);
    }
    out
}

#[test]
fn task_panic_fails_job_with_clear_error() {
    let _watchdog = Watchdog::arm("task_panic_fails_job_with_clear_error", HANG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let log = Log::new();
    let check_dir = snaps.display().to_string();
    // 150 records over several snapshots; once all of them are durable the
    // task returns 6 more ("doomed") and panics on the next poll.
    let failing = spec(
        "panicky",
        &[
            ("counter.partitions", "3"),
            ("counter.records", "200"),
            ("counter.batch", "5"),
            ("counter.poll.sleep.ms", "5"),
            ("counter.fail", "panic"),
            ("counter.fail.after", "150"),
            ("counter.fail.wait.durable", "true"),
            ("counter.doomed", "6"),
            ("counter.check.dir", &check_dir),
        ],
        &log,
        &snaps,
    );
    let outcome = run_job(1, failing);
    let worker = outcome.only();
    let error = expect_err(&worker.result, "panicking task");
    assert_eq!(worker.failed_task, Some(0), "a typed JobError::Task");
    assert_names(
        &error,
        &[
            "`panicky`",
            "task 0",
            "counter task 0 exploded after 156 records",
        ],
    );

    let events = log.events();
    assert_eq!(
        events.emitted.len(),
        156,
        "records returned by poll before the panic"
    );
    assert_eq!(events.doomed.len(), 6);
    let (before_path, before_bytes) = events
        .before_failure
        .clone()
        .expect("a durable snapshot before the doomed batch");

    // The epoch the source was in when the task failed stays open.
    let failing_epoch = match worker.records_frontier.as_slice() {
        [e] => *e,
        other => panic!("records frontier after the failure: {other:?}"),
    };
    let store = SnapshotStore::open(&snaps, 1_000).unwrap();
    for entry in store.list().unwrap() {
        assert!(
            entry.epoch < failing_epoch,
            "snapshot {} exists although epoch {failing_epoch} failed",
            entry.epoch
        );
        assert!(
            entry.is_valid(),
            "snapshot {} is unreadable: {:?}",
            entry.epoch,
            entry.problem
        );
    }

    // The newest snapshot is an exact cut: every record emitted at an epoch
    // <= its epoch, nothing later — so nothing of the failing epoch.
    let (last, last_path) = newest_snapshot(&snaps).expect("snapshots from before the failure");
    let offsets = counter_offsets(&last);
    assert_eq!(
        offsets,
        cut(&outcome.records, last.epoch),
        "newest snapshot (epoch {}) vs the records of epochs <= it",
        last.epoch
    );
    // It covers the 150 records that were durable before the doomed batch.
    let pre_doomed = cut(&outcome.records, u64::MAX);
    for (p, n) in &events.doomed {
        assert!(pre_doomed.get(p).is_some_and(|m| m >= n));
    }
    for (p, n) in events.emitted.iter().take(150).map(|e| (e.1, e.2)) {
        assert!(
            offsets.get(&p).is_some_and(|o| *o >= n),
            "record {p}:{n} was durable before the panic but is not in the newest snapshot"
        );
    }
    let doomed_epoch = outcome
        .records
        .iter()
        .filter(|r| events.doomed.contains(&(r.partition, r.n)))
        .map(|r| r.epoch)
        .max()
        .expect("the pipeline saw the doomed batch");
    eprintln!(
        "newest snapshot epoch {} before failing epoch {failing_epoch}; doomed batch at epoch {doomed_epoch}; \
         {} commits before the panic",
        last.epoch,
        events.commits.len()
    );
    if doomed_epoch == failing_epoch {
        // The usual case: the doomed records and the panic fell in one epoch,
        // so the snapshot that was newest before them is still the newest,
        // byte for byte.
        assert_eq!(last_path, before_path, "newest snapshot file changed");
        assert_eq!(
            std::fs::read(&last_path).unwrap(),
            before_bytes,
            "newest snapshot bytes changed"
        );
        for (p, n) in &events.doomed {
            assert!(
                offsets.get(p).is_none_or(|o| o < n),
                "doomed record {p}:{n} of the failing epoch is in the snapshot"
            );
        }
    } else {
        eprintln!(
            "note: the epoch closed between the doomed batch (epoch {doomed_epoch}) and the panic (epoch {failing_epoch})"
        );
    }

    // Restoring from it works: a healthy task resumes right after it.
    let log2 = Log::new();
    let healthy = spec(
        "panicky",
        &[
            ("counter.partitions", "3"),
            ("counter.records", "200"),
            ("counter.batch", "5"),
        ],
        &log2,
        &snaps,
    )
    .until_idle(Duration::from_millis(300));
    let outcome2 = run_job(1, healthy);
    outcome2
        .only()
        .result
        .clone()
        .expect("the restored job finishes");
    let events2 = log2.events();
    assert_eq!(
        events2.started,
        vec![(0, offsets.clone())],
        "offsets the restored task was started with"
    );
    for p in 0..3i64 {
        let ns: Vec<i64> = outcome2
            .records
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.n)
            .collect();
        let from = offsets.get(&p).map_or(0, |o| o + 1);
        assert_eq!(
            ns,
            (from..200).collect::<Vec<_>>(),
            "partition {p} after restore"
        );
    }
    let (final_snap, _) = newest_snapshot(&snaps).unwrap();
    assert!(final_snap.epoch > last.epoch);
    assert_eq!(
        counter_offsets(&final_snap),
        (0..3).map(|p| (p, 199)).collect()
    );
    outcome2.assert_execute_returned();
    // Checked last, so the properties above are pinned even while this fails.
    outcome.assert_execute_returned();
}

#[test]
fn retriable_errors_back_off_then_fail() {
    let _watchdog = Watchdog::arm("retriable_errors_back_off_then_fail", HANG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    // A first, clean run leaves a snapshot behind.
    let seed_log = Log::new();
    let seed = spec("flaky", &[("counter.records", "10")], &seed_log, &snaps)
        .until_idle(Duration::from_millis(200));
    let seeded = run_job(1, seed);
    seeded.only().result.clone().expect("seed run");
    seeded.assert_execute_returned();
    let before = dir_contents(&snaps);
    assert!(!before.is_empty(), "the seed run wrote no snapshot");

    let log = Log::new();
    let failing = spec(
        "flaky",
        &[
            ("counter.records", "10"),
            ("counter.fail", "retriable"),
            ("errors.retry.timeout", "1500"),
            ("errors.retry.delay.max.ms", "400"),
        ],
        &log,
        &snaps,
    );
    let outcome = run_job(1, failing);
    let worker = outcome.only();
    let error = expect_err(&worker.result, "always-retriable task");
    assert_names(&error, &["`flaky`", "task 0", "errors.retry.timeout"]);

    let attempts: Vec<Instant> = log
        .events()
        .failed_polls
        .iter()
        .map(|(_, at)| *at)
        .collect();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("attempts: {}, gaps: {gaps:?}", attempts.len());
    // Delays start at 300 ms and double, capped at 400 ms: 300, 400, 400, 400.
    assert!(
        attempts.len() >= 4,
        "only {} attempts: {gaps:?}",
        attempts.len()
    );
    assert!(
        attempts.len() <= 6,
        "{} attempts; backoff not applied? {gaps:?}",
        attempts.len()
    );
    let slack = Duration::from_millis(10);
    assert!(
        gaps[0] + slack >= Duration::from_millis(300),
        "first retry after {:?}",
        gaps[0]
    );
    assert!(
        gaps[1] + slack >= Duration::from_millis(400),
        "second retry after {:?}: the delay did not grow",
        gaps[1]
    );
    let failed_after = worker.finished_at - attempts[0];
    assert!(
        failed_after >= Duration::from_millis(1200),
        "failed after {failed_after:?}, before errors.retry.timeout"
    );
    assert!(
        failed_after < Duration::from_secs(30),
        "failed after {failed_after:?}"
    );

    assert!(outcome.records.is_empty());
    assert_eq!(
        dir_contents(&snaps),
        before,
        "the snapshot directory changed"
    );
    outcome.assert_execute_returned();
}

#[test]
fn retriable_errors_recover() {
    let _watchdog = Watchdog::arm("retriable_errors_recover", HANG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let log = Log::new();
    // Two retriable failures after 30 records, then the rest. The retries
    // take 300 + 600 ms, well inside the idle timeout.
    let job = spec(
        "wobbly",
        &[
            ("counter.partitions", "3"),
            ("counter.records", "50"),
            ("counter.batch", "5"),
            ("counter.fail", "retriable-then-ok"),
            ("counter.fail.after", "30"),
            ("counter.fail.times", "2"),
        ],
        &log,
        &snaps,
    )
    .until_idle(Duration::from_secs(2));
    let outcome = run_job(1, job);
    outcome
        .only()
        .result
        .clone()
        .expect("the job recovers and finishes");
    let events = log.events();
    assert_eq!(events.failed_polls.len(), 2, "retriable failures");
    let gap = events.failed_polls[1].1 - events.failed_polls[0].1;
    assert!(
        gap >= Duration::from_millis(290),
        "retried after {gap:?}, without backoff"
    );
    let mut seen: Vec<(i64, i64)> = outcome.records.iter().map(|r| (r.partition, r.n)).collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..3)
            .flat_map(|p| (0..50).map(move |n| (p, n)))
            .collect::<Vec<_>>()
    );
    let (last, _) = newest_snapshot(&snaps).unwrap();
    assert_eq!(counter_offsets(&last), (0..3).map(|p| (p, 49)).collect());
    outcome.assert_execute_returned();
}

#[test]
fn non_retriable_error_fails_job() {
    let _watchdog = Watchdog::arm("non_retriable_error_fails_job", HANG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let log = Log::new();
    let job = spec(
        "fatal-src",
        &[
            ("counter.records", "100"),
            ("counter.batch", "5"),
            ("counter.poll.sleep.ms", "5"),
            ("counter.fail", "fatal"),
            ("counter.fail.after", "40"),
        ],
        &log,
        &snaps,
    );
    let outcome = run_job(1, job);
    let error = expect_err(&outcome.only().result, "fatal poll error");
    assert_names(
        &error,
        &["`fatal-src`", "task 0", "counter source lost its disk"],
    );
    let events = log.events();
    assert_eq!(
        events.failed_polls.len(),
        1,
        "a non-retriable error must not be retried"
    );
    assert_eq!(events.emitted.len(), 40);
    if let Some((last, _)) = newest_snapshot(&snaps) {
        assert_eq!(counter_offsets(&last), cut(&outcome.records, last.epoch));
        assert!(
            last.epoch < outcome.only().records_frontier[0],
            "the failing epoch was snapshotted"
        );
    }
    outcome.assert_execute_returned();
}

#[test]
fn failure_with_two_workers_stops_all_workers() {
    let _watchdog = Watchdog::arm("failure_with_two_workers_stops_all_workers", HANG_LIMIT);
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let log = Log::new();
    // Task 0 (worker 0) would run for minutes; task 1 (worker 1) panics
    // after 100 records.
    let job = spec(
        "pair",
        &[
            ("tasks.max", "2"),
            ("counter.partitions", "4"),
            ("counter.records", "1000000"),
            ("counter.batch", "5"),
            ("counter.poll.sleep.ms", "2"),
            ("counter.fail", "panic"),
            ("counter.fail.task", "1"),
            ("counter.fail.after", "100"),
        ],
        &log,
        &snaps,
    );
    let outcome = run_job(2, job);
    assert_eq!(outcome.workers.len(), 2);
    for (w, r) in outcome.workers.iter().enumerate() {
        let worker = r
            .as_ref()
            .unwrap_or_else(|p| panic!("worker {w} panicked: {p}"));
        let error = expect_err(&worker.result, &format!("worker {w}"));
        assert_eq!(
            worker.failed_task,
            Some(1),
            "worker {w}: JobError::Task for task 1, typed"
        );
        assert_names(
            &error,
            &[
                "`pair`",
                "task 1",
                "counter task 1 exploded after 100 records",
            ],
        );
    }
    // The healthy task is stopped too, not left running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.events().stopped.contains(&0) {
        assert!(
            Instant::now() < deadline,
            "task 0 was not stopped after the job failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // stop() runs on the failed task's own thread after it reported the
    // failure, so it may come just after the job returned.
    while !log.events().stopped.contains(&1) {
        assert!(
            Instant::now() < deadline,
            "the failed task's stop() did not run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some((last, _)) = newest_snapshot(&snaps) {
        assert_eq!(
            counter_offsets(&last),
            cut(&outcome.records, last.epoch),
            "newest snapshot is not an exact cut"
        );
    }
    outcome.assert_execute_returned();
}
