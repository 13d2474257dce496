//! What keeps an operator's ordinary actions from losing or corrupting
//! data: a second job on the same snapshot directory or output file is
//! refused at once (naming the first job's pid) while a SIGKILLed job never
//! blocks its restart; a snapshot written by another connector is refused
//! unless allowed; names that would escape the snapshot directory and
//! snapshot intervals that would spin are refused; damaged snapshot files
//! (a FIFO, a name near `u64::MAX`) are skipped, not fatal.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// A datagen job slow enough to be mid-run for several seconds.
fn slow_datagen(dir: &Path, name: &str) -> PathBuf {
    write_props(
        &dir.join(format!("{name}.properties")),
        &[
            ("name", name),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
            ("partitions", "2"),
            ("max.messages", "6000"),
            ("messages.per.second", "1000"),
            ("seed", "5"),
        ],
    )
}

fn run_args(props: &Path, snaps: &Path, out: &Path) -> Vec<std::ffi::OsString> {
    args![
        "run",
        props,
        "--snapshot-dir",
        snaps,
        "--snapshot-interval",
        "100ms",
        "--output",
        out,
        "--until-idle",
        "1s",
    ]
}

/// Waits until `path` exists (the first job has taken its locks).
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn second_job_on_one_snapshot_dir_fails_at_once_naming_the_pid_and_a_killed_job_never_blocks() {
    let dir = tempdir();
    let props = slow_datagen(dir.path(), "locked");
    let snaps = dir.path().join("snaps");
    let first = Proc::spawn(
        "first",
        &run_args(&props, &snaps, &dir.path().join("a.jsonl")),
        &[],
    );
    wait_for(&snaps.join("snapshot-00000000000000000000.tcs"));

    let second = run_cli(&run_args(&props, &snaps, &dir.path().join("b.jsonl")), &[]);
    assert_eq!(second.code(), Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid()))
            && second.stderr.contains("snapshot directory"),
        "the error names the other job's pid: {}",
        second.stderr
    );
    assert!(
        second.elapsed < Duration::from_secs(20),
        "refused at once, not after the first job"
    );
    // The refused job touched nothing: its output was never created.
    assert!(!dir.path().join("b.jsonl").exists());

    // SIGKILL: the kernel drops the lock, the restart goes through and
    // finishes the job exactly once.
    let killed = first.kill();
    assert!(!killed.success());
    run_ok(&run_args(&props, &snaps, &dir.path().join("a.jsonl")), &[]);
    check_datagen_output(&dir.path().join("a.jsonl"), 6000, 2).unwrap();
}

#[test]
fn second_job_on_one_output_file_fails_and_the_first_stays_exact() {
    let dir = tempdir();
    let out = dir.path().join("shared.jsonl");
    let a = slow_datagen(dir.path(), "writer-a");
    let b = slow_datagen(dir.path(), "writer-b");
    let first = Proc::spawn(
        "first",
        &run_args(&a, &dir.path().join("snaps-a"), &out),
        &[],
    );
    wait_for(&dir.path().join("snaps-a/snapshot-00000000000000000000.tcs"));

    let second = run_cli(&run_args(&b, &dir.path().join("snaps-b"), &out), &[]);
    assert_eq!(second.code(), Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid()))
            && second.stderr.contains("output file"),
        "{}",
        second.stderr
    );
    let first = first
        .wait_timeout(Duration::from_secs(60))
        .expect("the first job finishes");
    assert!(first.success(), "{}", first.stderr);
    check_datagen_output(&out, 6000, 2).unwrap();
}

#[test]
fn dead_letter_output_equal_to_output_is_refused() {
    let dir = tempdir();
    let props = slow_datagen(dir.path(), "same-file");
    let out = dir.path().join("out.jsonl");
    let mut args = run_args(&props, &dir.path().join("snaps"), &out);
    args.extend(args!["--dead-letter-output", &out]);
    let f = run_cli(&args, &[]);
    assert_eq!(f.code(), Some(1), "{}", f.stderr);
    assert!(
        f.stderr.contains("two of its outputs name the same file"),
        "{}",
        f.stderr
    );
}

fn file_job(dir: &Path, name: &str, input: &Path) -> PathBuf {
    write_props(
        &dir.join(format!("job-{}.properties", unique())),
        &[
            ("name", name),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
        ],
    )
}

#[test]
fn foreign_snapshots_are_refused_unless_allowed() {
    let dir = tempdir();
    let one = dir.path().join("one.txt");
    let two = dir.path().join("two.txt");
    std::fs::write(&one, "a\nb\nc\n").unwrap();
    std::fs::write(&two, "x\ny\n").unwrap();
    let snaps = dir.path().join("snaps");
    let out = dir.path().join("out.txt");
    run_ok(
        &run_args(&file_job(dir.path(), "files", &one), &snaps, &out),
        &[],
    );

    // Another file= under the same name and directory.
    let changed = file_job(dir.path(), "files", &two);
    let refused = run_cli(&run_args(&changed, &snaps, &out), &[]);
    assert_eq!(
        refused.code(),
        Some(3),
        "exit code 3: the snapshot needs a decision; {}",
        refused.stderr
    );
    assert_mentions(
        &refused.stderr,
        &[
            "refusing to restore",
            "snapshot-",
            &format!("file=`{}`", one.display()),
            &format!("file=`{}`", two.display()),
            "--allow-foreign-snapshot",
        ],
    );
    // Nothing was written: the output still holds the first job's lines.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\nc\n");

    // Another connector name on the same directory.
    let renamed = file_job(dir.path(), "other-name", &one);
    let refused = run_cli(&run_args(&renamed, &snaps, &out), &[]);
    assert_eq!(refused.code(), Some(3));
    assert!(
        refused.stderr.contains("written by connector `files`"),
        "{}",
        refused.stderr
    );

    // Allowed explicitly: the job runs on (the new file has no offsets).
    let mut allowed = run_args(&changed, &snaps, &out);
    allowed.push("--allow-foreign-snapshot".into());
    run_ok(&allowed, &[]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\nc\nx\ny\n");
}

#[test]
fn names_that_escape_or_break_paths_are_refused_by_validate_and_run() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\n").unwrap();
    for (name, says) in [
        ("../..", "must not contain `/`"),
        ("a\\u0000b", "control characters"),
        ("..", "names a directory"),
    ] {
        let props = file_job(dir.path(), name, &input);
        let validated = run_cli(&args!["validate", &props], &[]);
        assert_eq!(validated.code(), Some(2), "{name}: {}", validated.stderr);
        assert!(
            validated.stderr.contains(says),
            "{name}: {}",
            validated.stderr
        );
        // run, with the default snapshot directory snapshots/<name>.
        let ran = Proc::spawn(name, &args!["run", &props, "--until-idle", "1s"], &[])
            .wait_timeout(Duration::from_secs(30))
            .expect("run refuses at once");
        assert_eq!(ran.code(), Some(2), "{name}: {}", ran.stderr);
        assert!(ran.stderr.contains(says), "{name}: {}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
}

#[test]
fn snapshot_intervals_under_the_minimum_are_refused() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\n").unwrap();
    let props = file_job(dir.path(), "spin", &input);
    let snaps = dir.path().join("snaps");
    let flag = run_cli(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--snapshot-interval",
            "0ms",
            "--until-idle",
            "1s"
        ],
        &[],
    );
    assert_eq!(flag.code(), Some(2), "{}", flag.stderr);
    assert!(flag.stderr.contains("at least 10 ms"), "{}", flag.stderr);

    let key = write_props(
        &dir.path().join("key.properties"),
        &[
            ("name", "spin"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
            ("snapshot.interval.ms", "0"),
        ],
    );
    let validated = run_cli(&args!["validate", &key], &[]);
    assert_eq!(validated.code(), Some(2));
    assert!(
        validated.stderr.contains("snapshot.interval.ms")
            && validated.stderr.contains("at least 10"),
        "{}",
        validated.stderr
    );
    assert!(!snaps.exists(), "nothing was written");
}

#[cfg(unix)]
#[test]
fn damaged_snapshot_files_are_skipped_and_the_job_goes_on_exactly_once() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "1\n2\n3\n").unwrap();
    let props = file_job(dir.path(), "damaged", &input);
    let snaps = dir.path().join("snaps");
    let out = dir.path().join("out.txt");
    run_ok(&run_args(&props, &snaps, &out), &[]);
    let newest = snapshot_files(&snaps)
        .into_iter()
        .map(|(e, _)| e)
        .max()
        .expect("a snapshot");

    // A FIFO as the next snapshot (reading it would block forever), and
    // files named at and just below u64::MAX (the next epoch would
    // overflow) holding a copy of a good snapshot.
    let fifo = snaps.join(format!("snapshot-{:020}.tcs", newest + 1));
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let good = std::fs::read(snaps.join(format!("snapshot-{newest:020}.tcs"))).unwrap();
    for epoch in [u64::MAX, u64::MAX - 1] {
        std::fs::write(snaps.join(format!("snapshot-{epoch:020}.tcs")), &good).unwrap();
    }

    std::fs::write(&input, "1\n2\n3\n4\n5\n").unwrap();
    let resumed = run_ok(&run_args(&props, &snaps, &out), &[]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "1\n2\n3\n4\n5\n");
    assert!(
        resumed.stderr.contains("FIFO") || resumed.stderr.contains("damaged"),
        "the FIFO is reported: {}",
        resumed.stderr
    );
    let listed = run_ok(&args!["snapshots", "list", "--snapshot-dir", &snaps], &[]);
    assert!(listed.stdout.contains("INVALID"), "{}", listed.stdout);
    assert!(
        listed.stdout.contains("beyond the largest epoch"),
        "{}",
        listed.stdout
    );
}

#[test]
fn snapshots_commands_find_the_directory_from_the_properties_file() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "1\n2\n").unwrap();
    let props = file_job(dir.path(), "listed", &input);
    // Relative paths, as a user types them, from the job's working directory.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run the CLI");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let props_name = props.file_name().unwrap().to_str().unwrap();
    let (code, _, stderr) = cli(&["run", props_name, "--until-idle", "1s"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(dir.path().join("snapshots/listed").is_dir());

    let (code, listed, stderr) = cli(&["snapshots", "list", props_name]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(listed.contains("snapshots/listed/snapshot-"), "{listed}");
    let (code, shown, stderr) = cli(&["snapshots", "show", props_name]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(shown.contains("\"position\": 4"), "{shown}");
    // The epoch still works positionally with --snapshot-dir.
    let epoch = snapshot_files(&dir.path().join("snapshots/listed"))
        .into_iter()
        .map(|(e, _)| e)
        .max()
        .unwrap()
        .to_string();
    let (code, by_epoch, stderr) = cli(&[
        "snapshots",
        "show",
        &epoch,
        "--snapshot-dir",
        "snapshots/listed",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(by_epoch, shown);
    let (code, _, stderr) = cli(&["snapshots", "list"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--snapshot-dir"), "{stderr}");
}

#[test]
fn offsets_export_alter_and_reset_steer_the_next_run_and_are_refused_while_it_runs() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    let lines: String = (1..=10).map(|i| format!("{i}\n")).collect();
    std::fs::write(&input, &lines).unwrap();
    let props = file_job(dir.path(), "steered", &input);
    let snaps = dir.path().join("snaps");
    let out = dir.path().join("out.txt");
    run_ok(&run_args(&props, &snaps, &out), &[]);

    let exported = run_ok(
        &args!["offsets", "export", &props, "--snapshot-dir", &snaps],
        &[],
    );
    let mut json: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    assert_eq!(json["offsets"][0]["offset"]["position"], 21);

    // KIP-875 alter: back to just after "3\n".
    json["offsets"][0]["offset"]["position"] = 6.into();
    let doc = dir.path().join("alter.json");
    std::fs::write(&doc, json.to_string()).unwrap();
    let altered = run_ok(
        &args![
            "offsets",
            "alter",
            &props,
            "--snapshot-dir",
            &snaps,
            "--offsets",
            &doc
        ],
        &[],
    );
    assert!(
        altered.stderr.contains("wrote snapshot"),
        "{}",
        altered.stderr
    );
    run_ok(&run_args(&props, &snaps, &out), &[]);
    let after_4: String = (4..=10).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{lines}{after_4}")
    );

    run_ok(
        &args!["offsets", "reset", &props, "--snapshot-dir", &snaps],
        &[],
    );
    run_ok(&run_args(&props, &snaps, &out), &[]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{lines}{after_4}{lines}")
    );

    // While a job runs on the directory, changes are refused, naming it.
    let slow = slow_datagen(dir.path(), "busy");
    let busy = dir.path().join("busy-snaps");
    let job = Proc::spawn(
        "busy",
        &run_args(&slow, &busy, &dir.path().join("busy.jsonl")),
        &[],
    );
    wait_for(&busy.join("snapshot-00000000000000000000.tcs"));
    let refused = run_cli(&args!["offsets", "reset", "--snapshot-dir", &busy], &[]);
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("pid {}", job.pid()))
            && refused.stderr.contains("while the job is stopped"),
        "{}",
        refused.stderr
    );
    job.kill();
}
