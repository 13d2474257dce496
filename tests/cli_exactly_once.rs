//! The CLI's exactly-once file output: FileStreamSource → `--output` gives
//! the input back byte for byte, with any worker count, and a rerun with
//! `--restore latest` after the input grew adds only the new lines.

mod common;

use std::path::Path;

use common::*;

const LINES: u64 = 200_000;

fn file_props(dir: &Path, input: &Path) -> std::path::PathBuf {
    let file = input.to_str().expect("utf-8 path");
    write_props(
        &dir.join("file.properties"),
        &[
            ("name", "file-eo"),
            ("connector.class", "FileStreamSource"),
            ("file", file),
            ("topic", "lines"),
        ],
    )
}

fn run_file_job(dir: &Path, props: &Path, workers: usize) -> Finished {
    run_ok(
        &args![
            "run",
            props,
            "-w",
            workers.to_string(),
            "--snapshot-dir",
            dir.join("snaps"),
            "--snapshot-interval",
            "50ms",
            "--output",
            dir.join("out.txt"),
            "--until-idle",
            "1s",
        ],
        &[],
    )
}

fn output_equals_input_with_workers(workers: usize) {
    let dir = tempdir();
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let input = dir.path().join("in.txt");
    let data = varied_lines(&mut rng, 0, LINES);
    std::fs::write(&input, &data).expect("write input");
    let props = file_props(dir.path(), &input);

    let run = run_file_job(dir.path(), &props, workers);
    let out = read(&dir.path().join("out.txt"));
    assert_same_bytes(&data, &out, &format!("{workers} workers (seed {seed})"));
    assert!(
        run.stderr.contains("done:"),
        "no final progress line on stderr:\n{}",
        run.stderr
    );
}

#[test]
fn file_source_output_equals_input_byte_for_byte_with_1_worker() {
    output_equals_input_with_workers(1);
}

#[test]
fn file_source_output_equals_input_byte_for_byte_with_2_workers() {
    output_equals_input_with_workers(2);
}

#[test]
fn file_source_output_equals_input_byte_for_byte_with_4_workers() {
    output_equals_input_with_workers(4);
}

#[test]
fn rerun_with_restore_latest_after_append_adds_only_the_new_lines() {
    let dir = tempdir();
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let input = dir.path().join("in.txt");
    let mut data = varied_lines(&mut rng, 0, 50_000);
    std::fs::write(&input, &data).expect("write input");
    let props = file_props(dir.path(), &input);

    run_file_job(dir.path(), &props, 2);
    assert_same_bytes(&data, &read(&dir.path().join("out.txt")), "first run");

    // Append, rerun from the latest snapshot: only the new lines are added.
    for round in 0..2u64 {
        let more = varied_lines(&mut rng, 1_000_000 * (round + 1), 20_000);
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&input)
                .expect("open input");
            f.write_all(&more).expect("append");
        }
        data.extend_from_slice(&more);
        let rerun = run_ok(
            &args![
                "run",
                &props,
                "-w",
                "2",
                "--snapshot-dir",
                dir.path().join("snaps"),
                "--snapshot-interval",
                "50ms",
                "--restore",
                "latest",
                "--output",
                dir.path().join("out.txt"),
                "--until-idle",
                "1s",
            ],
            &[],
        );
        assert_same_bytes(
            &data,
            &read(&dir.path().join("out.txt")),
            &format!("rerun {round} (seed {seed})"),
        );
        assert!(
            rerun.stderr.contains("done: 20000 records"),
            "rerun {round} should read exactly the 20000 appended lines; stderr:\n{}",
            rerun.stderr
        );
    }

    // A rerun with nothing new adds nothing.
    let idle = run_file_job(dir.path(), &props, 1);
    assert_same_bytes(
        &data,
        &read(&dir.path().join("out.txt")),
        "rerun without new input",
    );
    assert!(
        idle.stderr.contains("done: nothing new since snapshot")
            && idle.stderr.contains("the output was already complete"),
        "stderr:\n{}",
        idle.stderr
    );
}

#[test]
fn snapshots_show_prints_filename_and_position_equal_to_file_length() {
    let dir = tempdir();
    let mut rng = Rng::new(Rng::seed_from_env_or_clock());
    let input = dir.path().join("in.txt");
    let data = varied_lines(&mut rng, 0, 10_000);
    std::fs::write(&input, &data).expect("write input");
    let props = file_props(dir.path(), &input);
    run_file_job(dir.path(), &props, 2);

    let snaps = dir.path().join("snaps");
    let shown = run_ok(&args!["snapshots", "show", "--snapshot-dir", &snaps], &[]);
    let json: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap_or_else(|e| {
        panic!(
            "`snapshots show` did not print JSON ({e}):\n{}",
            shown.stdout
        )
    });
    let offsets = json["offsets"]
        .as_array()
        .unwrap_or_else(|| panic!("no `offsets` array in:\n{}", shown.stdout));
    assert_eq!(
        offsets.len(),
        1,
        "one source partition expected:\n{}",
        shown.stdout
    );
    assert_eq!(
        offsets[0]["partition"],
        serde_json::json!({ "filename": input.to_str().unwrap() }),
        "{}",
        shown.stdout
    );
    assert_eq!(
        offsets[0]["offset"],
        serde_json::json!({ "position": data.len() }),
        "{}",
        shown.stdout
    );

    // Naming the newest epoch shows the same thing.
    let newest = snapshot_files(&snaps).last().expect("a snapshot file").0;
    let by_epoch = run_ok(
        &args![
            "snapshots",
            "show",
            newest.to_string(),
            "--snapshot-dir",
            &snaps
        ],
        &[],
    );
    assert_eq!(by_epoch.stdout, shown.stdout);

    let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &snaps], &[]);
    assert!(
        listed
            .stdout
            .contains(&format!("snapshot-{newest:020}.tcs")),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("INVALID"), "{}", listed.stdout);
}

/// `--until-idle` counts from when the tasks have started: a Datagen task
/// with 100,000 partitions takes longer than 20 ms to start (it looks up
/// each partition's offset), and still delivers every record.
#[test]
fn until_idle_counts_from_when_the_tasks_have_started() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("wide.properties"),
        &[
            ("name", "wide"),
            ("connector.class", "Datagen"),
            ("quickstart", "orders"),
            ("partitions", "100000"),
            ("tasks.max", "1"),
            ("max.messages", "100000"),
        ],
    );
    let out = dir.path().join("out.jsonl");
    run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            &out,
            "--until-idle",
            "20ms"
        ],
        &[],
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().count(),
        100_000,
        "every record, one per partition"
    );
}
