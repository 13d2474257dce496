//! Record-level failures through the real CLI: a transform that fails on
//! some records, with `errors.tolerance=all` (dead letters with Kafka's
//! context headers, offsets still advance, exactly once across SIGKILL) and
//! with `none` (the job fails naming the transform and the record, and no
//! snapshot covers it).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Every `BAD_EVERY`-th line is not a number, and so is the last one.
const BAD_EVERY: u64 = 97;

/// The input, the good lines as the output renders them, and the bad lines.
struct Input {
    bytes: Vec<u8>,
    good: Vec<u8>,
    bad: Vec<(String, u64)>,
}

fn make_input(lines: u64) -> Input {
    let mut bytes = Vec::new();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for i in 0..lines {
        if i % BAD_EVERY == 5 || i + 1 == lines {
            let line = format!("bad-{i}");
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            // FileStreamSource's offset is the position after the line.
            bad.push((line, bytes.len() as u64));
        } else {
            let line = format!("{}", i * 1_000_003);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            good.extend_from_slice(line.as_bytes());
            good.push(b'\n');
        }
    }
    Input { bytes, good, bad }
}

fn props(dir: &Path, input: &Path, tolerance: &str) -> PathBuf {
    write_props(
        &dir.join(format!("dlq-{tolerance}.properties")),
        &[
            ("name", "dlq"),
            ("connector.class", "FileStreamSource"),
            ("file", input.to_str().expect("utf-8 path")),
            ("topic", "lines"),
            ("transforms", "cast"),
            (
                "transforms.cast.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.cast.spec", "int64"),
            ("errors.tolerance", tolerance),
            ("errors.log.enable", "true"),
        ],
    )
}

fn run_args(dir: &Path, props: &Path, idle: &str) -> Vec<std::ffi::OsString> {
    args![
        "run",
        props,
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "50ms",
        "--output",
        dir.join("out.txt"),
        "--dead-letter-output",
        dir.join("dlq.jsonl"),
        "--until-idle",
        idle,
    ]
}

/// The dead-letter file's records: (value, parsed headers).
fn dead_letters(path: &Path) -> Vec<(String, serde_json::Value)> {
    let text = String::from_utf8(read(path)).expect("utf-8 dead letters");
    text.lines()
        .map(|l| {
            let json: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"));
            let value = json["value"].as_str().unwrap_or_default().to_owned();
            (value, json["headers"].clone())
        })
        .collect()
}

fn snapshot_position(dir: &Path) -> u64 {
    let show = run_ok(
        &args!["snapshots", "show", "--snapshot-dir", dir.join("snaps")],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&show.stdout).expect("offsets JSON");
    json["offsets"][0]["offset"]["position"]
        .as_u64()
        .unwrap_or_else(|| panic!("no position in {}", show.stdout))
}

#[test]
fn tolerated_transform_failures_go_to_dead_letters_with_context_and_offsets_advance() {
    let dir = tempdir();
    let input = make_input(2_000);
    let path = dir.path().join("in.txt");
    std::fs::write(&path, &input.bytes).expect("write input");
    let props = props(dir.path(), &path, "all");

    run_ok(&run_args(dir.path(), &props, "1s"), &[]);

    assert_same_bytes(&input.good, &read(&dir.path().join("out.txt")), "output");
    let dead = dead_letters(&dir.path().join("dlq.jsonl"));
    let values: Vec<&str> = dead.iter().map(|(v, _)| v.as_str()).collect();
    let expected: Vec<&str> = input.bad.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, expected, "every failing record, once, in order");
    for ((value, headers), (_, position)) in dead.iter().zip(&input.bad) {
        assert_eq!(
            headers["__connect.errors.stage"], "TRANSFORMATION",
            "{value}"
        );
        assert_eq!(headers["__connect.errors.connector.name"], "dlq");
        assert_eq!(headers["__connect.errors.task.id"], 0);
        assert_eq!(headers["__connect.errors.topic"], "lines");
        let class = headers["__connect.errors.class.name"]
            .as_str()
            .unwrap_or("");
        assert!(class.contains("Cast$Value"), "class name: {class}");
        assert!(
            headers["__connect.errors.exception.class.name"]
                .as_str()
                .is_some_and(|c| c.contains("Exception")),
            "{headers}"
        );
        let message = headers["__connect.errors.exception.message"]
            .as_str()
            .unwrap_or("");
        assert!(!message.is_empty(), "{headers}");
        assert_eq!(
            headers["__connect.errors.source.offset"],
            format!("{{\"position\":{position}}}"),
            "{value}"
        );
        assert_eq!(
            headers["__connect.errors.source.partition"],
            format!("{{\"filename\":\"{}\"}}", path.display())
        );
    }
    // The last line failed, yet the snapshot's offset is past it.
    assert_eq!(snapshot_position(dir.path()), input.bytes.len() as u64);

    // A rerun has nothing new to do and changes neither file.
    run_ok(&run_args(dir.path(), &props, "500ms"), &[]);
    assert_same_bytes(
        &input.good,
        &read(&dir.path().join("out.txt")),
        "output after rerun",
    );
    assert_eq!(
        dead_letters(&dir.path().join("dlq.jsonl")).len(),
        input.bad.len()
    );
}

#[test]
fn untolerated_transform_failure_fails_the_job_naming_transform_and_record() {
    let dir = tempdir();
    let input = make_input(2_000);
    let path = dir.path().join("in.txt");
    std::fs::write(&path, &input.bytes).expect("write input");

    let failed = run_cli(
        &run_args(dir.path(), &props(dir.path(), &path, "none"), "1s"),
        &[],
    );
    assert!(!failed.success(), "the job must fail");
    let err = failed.all_output();
    assert!(
        err.contains("connector `dlq` task 0"),
        "{}",
        stderr_digest(&err)
    );
    assert!(err.contains("Cast$Value"), "{}", stderr_digest(&err));
    assert!(err.contains("TRANSFORMATION"), "{}", stderr_digest(&err));
    let (first_bad, first_bad_end) = &input.bad[0];
    assert!(
        err.contains(&format!("{{\"position\":{first_bad_end}}}")),
        "names the record's offset ({first_bad}): {}",
        stderr_digest(&err)
    );
    // No snapshot covers the failed record, and the output holds only what
    // came before it.
    let start_of_bad = first_bad_end - first_bad.len() as u64 - 1;
    let out = read(&dir.path().join("out.txt"));
    assert!(
        input.good.starts_with(&out),
        "output is a prefix of the good lines"
    );
    if dir.path().join("snaps").exists() {
        let show = run_cli(
            &args![
                "snapshots",
                "show",
                "--snapshot-dir",
                dir.path().join("snaps")
            ],
            &[],
        );
        if show.success() {
            let json: serde_json::Value = serde_json::from_str(&show.stdout).expect("JSON");
            let position = json["offsets"][0]["offset"]["position"]
                .as_u64()
                .unwrap_or(0);
            assert!(
                position <= start_of_bad,
                "snapshot at {position} covers the failed record"
            );
        }
    }

    // Tolerating the errors, a restore finishes the job exactly once.
    run_ok(
        &run_args(dir.path(), &props(dir.path(), &path, "all"), "1s"),
        &[],
    );
    assert_same_bytes(
        &input.good,
        &read(&dir.path().join("out.txt")),
        "output after restore",
    );
    assert_eq!(
        dead_letters(&dir.path().join("dlq.jsonl")).len(),
        input.bad.len()
    );
}

#[test]
fn dead_letters_and_output_stay_exactly_once_across_sigkill() {
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    for trial in 0..3 {
        let dir = tempdir();
        let input = make_input(150_000);
        let path = dir.path().join("in.txt");
        std::fs::write(&path, &input.bytes).expect("write input");
        let props = props(dir.path(), &path, "all");
        let args = run_args(dir.path(), &props, "1s");
        let kills = 1 + rng.below(2);
        for _ in 0..kills {
            let proc = Proc::spawn("dlq", &args, &[]);
            std::thread::sleep(Duration::from_millis(rng.range(100, 700)));
            proc.kill();
        }
        run_ok(&args, &[]);
        let what = format!("trial {trial} after {kills} SIGKILL(s) (seed {seed})");
        assert_same_bytes(&input.good, &read(&dir.path().join("out.txt")), &what);
        let dead = dead_letters(&dir.path().join("dlq.jsonl"));
        let values: Vec<&str> = dead.iter().map(|(v, _)| v.as_str()).collect();
        let expected: Vec<&str> = input.bad.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(values, expected, "dead letters exactly once, {what}");
    }
}
