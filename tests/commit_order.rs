//! `SourceTask::commit()` and `commit_record()` come only after the snapshot
//! that covers the committed records is durable (DESIGN.md: "Upstream
//! acknowledgement only after the snapshot is durable").
//!
//! The counter task checks this from the inside: on every `commit()` it reads
//! the snapshot directory and logs a violation if the newest durable snapshot
//! holds less than `context.committed_offsets()` for any partition; on every
//! `commit_record()` it checks the record is the next one it returned from
//! `poll()` and that the newest durable snapshot covers it.

#[path = "common/counter.rs"]
mod counter;

use std::collections::BTreeMap;
use std::time::Duration;

use counter::{counter_offsets, newest_snapshot, props, registry, run_job, Events, Log};
use timely_connect_operators::JobSpec;

const PARTITIONS: i64 = 4;
const PER_PARTITION: i64 = 750; // 3000 records in all

/// Runs the counter source on `workers` workers with `tasks` tasks, 50 ms
/// snapshots, until idle; returns the task log and the final snapshot.
fn run_counter(
    workers: usize,
    tasks: usize,
    commit_record: bool,
) -> (Events, BTreeMap<i64, i64>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snapshots");
    let log = Log::new();
    let partitions = PARTITIONS.to_string();
    let per_partition = PER_PARTITION.to_string();
    let tasks_max = tasks.to_string();
    let check_dir = snaps.display().to_string();
    let p = props(
        "counter",
        &[
            ("tasks.max", &tasks_max),
            ("counter.partitions", &partitions),
            ("counter.records", &per_partition),
            ("counter.batch", "10"),
            // ~1 s of emitting: some twenty snapshot intervals.
            ("counter.poll.sleep.ms", &(3 * tasks).to_string()),
            ("counter.check.dir", &check_dir),
            (
                "counter.commit.record",
                if commit_record { "true" } else { "false" },
            ),
        ],
    );
    let spec = JobSpec::new(p)
        .registry(registry(&log))
        .snapshot_dir(&snaps)
        .snapshot_interval(Duration::from_millis(50))
        .until_idle(Duration::from_millis(300));
    let outcome = run_job(workers, spec);
    outcome.assert_execute_returned();
    for (w, r) in outcome.results().into_iter().enumerate() {
        r.unwrap_or_else(|e| panic!("worker {w} of {workers}: job failed: {e}"));
    }
    // The pipeline saw every record exactly once.
    let mut seen: Vec<(i64, i64)> = outcome.records.iter().map(|s| (s.partition, s.n)).collect();
    seen.sort_unstable();
    let expected: Vec<(i64, i64)> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION).map(move |n| (p, n)))
        .collect();
    assert_eq!(
        seen, expected,
        "records seen by the pipeline ({workers} workers)"
    );
    let epochs = {
        let mut e: Vec<u64> = outcome.records.iter().map(|s| s.epoch).collect();
        e.dedup();
        e.sort_unstable();
        e.dedup();
        e.len()
    };
    let (last, _) = newest_snapshot(&snaps).expect("a snapshot after a clean run");
    let events = log.events();
    eprintln!(
        "{workers} worker(s), {tasks} task(s): {} records over {epochs} epochs, {} commit() calls, {} commit_record() calls, newest snapshot epoch {}",
        outcome.records.len(),
        events.commits.len(),
        events.commit_records.len(),
        last.epoch
    );
    (events, counter_offsets(&last), epochs)
}

/// Checks the log of one run: no violation, commits from every task over
/// several snapshots, each task's committed offsets never go back, and the
/// last commit covers every record.
fn assert_commits_follow_snapshots(
    events: &Events,
    tasks: usize,
    epochs_with_records: usize,
    label: &str,
) {
    assert!(
        events.violations.is_empty(),
        "{label}: {} violation(s), first: {:#?}",
        events.violations.len(),
        &events.violations[..events.violations.len().min(5)]
    );
    assert!(
        epochs_with_records >= 4,
        "{label}: records spread over only {epochs_with_records} epochs"
    );
    for task in 0..tasks {
        let commits: Vec<_> = events.commits.iter().filter(|c| c.task == task).collect();
        assert!(
            commits.len() >= 3,
            "{label}: task {task} saw {} commit() calls; expected one per snapshot over several snapshots",
            commits.len()
        );
        for c in &commits {
            assert!(
                c.durable_epoch.is_some(),
                "{label}: task {task} commit() with no snapshot on disk"
            );
        }
        for pair in commits.windows(2) {
            for (p, n) in &pair[0].committed {
                assert!(
                    pair[1].committed.get(p).is_some_and(|m| m >= n),
                    "{label}: task {task} committed offsets went back: {:?} then {:?}",
                    pair[0].committed,
                    pair[1].committed
                );
            }
        }
        let last = &commits.last().unwrap().committed;
        for p in (0..PARTITIONS).filter(|p| *p as usize % tasks == task) {
            assert_eq!(
                last.get(&p),
                Some(&(PER_PARTITION - 1)),
                "{label}: task {task}'s last commit() does not cover the end of partition {p}: {last:?}"
            );
        }
    }
}

#[test]
fn commit_never_precedes_durable_snapshot() {
    for (workers, tasks) in [(1, 1), (1, 2), (2, 2), (2, 4)] {
        let label = format!("{workers} worker(s), {tasks} task(s)");
        let (events, last, epochs) = run_counter(workers, tasks, false);
        assert_commits_follow_snapshots(&events, tasks, epochs, &label);
        assert!(
            events.commit_records.is_empty(),
            "{label}: commit_record called though not wanted"
        );
        let all_done: BTreeMap<i64, i64> =
            (0..PARTITIONS).map(|p| (p, PER_PARTITION - 1)).collect();
        assert_eq!(last, all_done, "{label}: final snapshot");
    }
}

#[test]
fn commit_record_follows_durable_snapshot_in_order() {
    for (workers, tasks) in [(1, 2), (2, 2)] {
        let label = format!("{workers} worker(s), {tasks} task(s)");
        let (events, _, epochs) = run_counter(workers, tasks, true);
        // No violation: every commit_record() was for the next record poll()
        // returned, and the newest durable snapshot covered it at that moment.
        assert_commits_follow_snapshots(&events, tasks, epochs, &label);
        for task in 0..tasks {
            let emitted: Vec<(i64, i64)> = events
                .emitted
                .iter()
                .filter(|e| e.0 == task)
                .map(|e| (e.1, e.2))
                .collect();
            let recorded: Vec<(i64, i64)> = events
                .commit_records
                .iter()
                .filter(|e| e.0 == task)
                .map(|e| (e.1, e.2))
                .collect();
            assert_eq!(
                emitted.len() as i64,
                PARTITIONS / tasks as i64 * PER_PARTITION,
                "{label}: task {task} emitted"
            );
            assert!(
                recorded == emitted,
                "{label}: task {task}: commit_record calls ({}) differ from the records poll returned ({}), \
                 first difference at {:?}",
                recorded.len(),
                emitted.len(),
                recorded.iter().zip(&emitted).position(|(a, b)| a != b)
            );
        }
    }
}
