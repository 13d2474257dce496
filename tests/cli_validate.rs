//! `validate`, `run` on bad input, and `plugins`: clear errors, every
//! problem at once, the documented exit codes, never a panic.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// No `name`, `tasks.max` not an integer, and a class nobody registered.
fn write_bad_props(dir: &Path) -> std::path::PathBuf {
    write_props(
        &dir.join("bad.properties"),
        &[
            ("connector.class", "NoSuchConnector"),
            ("tasks.max", "abc"),
            ("topic", "t"),
        ],
    )
}

fn assert_no_panic(output: &str, what: &str) {
    for word in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(
            !output.contains(word),
            "{what}: output mentions `{word}`:\n{output}"
        );
    }
}

/// All three problems of [`write_bad_props`] are reported.
fn assert_reports_all_three(output: &str, what: &str) {
    let has_line = |pred: &dyn Fn(&str) -> bool| output.lines().any(pred);
    assert!(
        has_line(&|l: &str| l.contains("name") && l.contains("missing")),
        "{what}: the missing `name` is not reported:\n{output}"
    );
    assert!(
        has_line(&|l: &str| l.contains("tasks.max") && l.contains("abc")),
        "{what}: `tasks.max=abc` is not reported:\n{output}"
    );
    assert!(
        has_line(&|l: &str| l.contains("connector.class") && l.contains("NoSuchConnector")),
        "{what}: the unknown class is not reported:\n{output}"
    );
}

#[test]
fn validate_reports_missing_name_bad_type_and_unknown_class_at_once_with_exit_2() {
    let dir = tempdir();
    let bad = write_bad_props(dir.path());
    let v = run_cli(&args!["validate", &bad], &[]);
    let out = v.all_output();
    assert_eq!(
        v.code(),
        Some(2),
        "validate of a bad file must exit 2; output:\n{out}"
    );
    assert_reports_all_three(&out, "validate");
    assert_no_panic(&out, "validate");
}

#[test]
fn validate_accepts_a_valid_file_with_exit_0() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\n").unwrap();
    let ok = write_props(
        &dir.path().join("ok.properties"),
        &[
            ("name", "ok"),
            ("connector.class", "FileStreamSource"),
            ("file", input.to_str().unwrap()),
            ("topic", "t"),
        ],
    );
    let v = run_cli(&args!["validate", &ok], &[]);
    assert_eq!(v.code(), Some(0), "{}", v.all_output());
    assert_no_panic(&v.all_output(), "validate");

    // Kafka's and Confluent's class names are accepted as aliases.
    let kafka = write_props(
        &dir.path().join("kafka.properties"),
        &[
            ("name", "k"),
            (
                "connector.class",
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
            ),
            ("file", input.to_str().unwrap()),
            ("topic", "t"),
        ],
    );
    let v = run_cli(&args!["validate", &kafka], &[]);
    assert_eq!(v.code(), Some(0), "{}", v.all_output());
    let datagen = write_props(
        &dir.path().join("datagen.properties"),
        &[
            ("name", "d"),
            (
                "connector.class",
                "io.confluent.kafka.connect.datagen.DatagenConnector",
            ),
            ("quickstart", "users"),
            ("tasks.max", "3"),
        ],
    );
    let v = run_cli(&args!["validate", &datagen], &[]);
    assert_eq!(v.code(), Some(0), "{}", v.all_output());
}

#[test]
fn run_on_an_invalid_file_fails_with_the_same_messages_and_writes_nothing() {
    let dir = tempdir();
    let bad = write_bad_props(dir.path());
    let snaps = dir.path().join("snaps");
    let out_file = dir.path().join("out.txt");
    let r = run_cli(
        &args![
            "run",
            &bad,
            "--snapshot-dir",
            &snaps,
            "--output",
            &out_file,
            "--until-idle",
            "1s"
        ],
        &[],
    );
    let out = r.all_output();
    assert!(!r.success(), "run of a bad file must fail; output:\n{out}");
    assert_reports_all_three(&out, "run");
    assert_no_panic(&out, "run");
    assert!(
        snapshot_files(&snaps).is_empty(),
        "a bad config wrote snapshots"
    );
}

#[test]
fn run_file_source_with_missing_file_fails_naming_the_file() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-input.txt");
    let props = write_props(
        &dir.path().join("missing.properties"),
        &[
            ("name", "missing-file"),
            ("connector.class", "FileStreamSource"),
            ("file", missing.to_str().unwrap()),
            ("topic", "t"),
        ],
    );
    // A task that cannot start must end the run with an error, quickly.
    let proc = Proc::spawn(
        "run with a missing input file",
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            dir.path().join("out.txt"),
            "--until-idle",
            "1s",
        ],
        &[],
    );
    let r = proc
        .wait_timeout(Duration::from_secs(20))
        .unwrap_or_else(|f| {
            panic!(
            "`run` did not exit within 20 s after its only task failed to start (killed); the job \
             failed but the process hangs.\nstderr:\n{}",
            stderr_digest(&f.stderr)
        )
        });
    let out = r.all_output();
    assert!(
        !r.success(),
        "run with a missing input file must fail; output:\n{out}"
    );
    assert!(
        out.contains(missing.to_str().unwrap()),
        "the error does not name the file:\n{out}"
    );
    assert!(
        out.contains("missing-file"),
        "the error does not name the connector:\n{out}"
    );
    assert_no_panic(&out, "run");
}

#[test]
fn plugins_lists_file_stream_source_and_datagen() {
    let p = run_ok(&args!["plugins"], &[]);
    assert!(
        p.stdout.lines().any(|l| l.starts_with("FileStreamSource")),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.lines().any(|l| l.starts_with("Datagen")),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("org.apache.kafka.connect.file.FileStreamSourceConnector"),
        "{}",
        p.stdout
    );
    assert_no_panic(&p.all_output(), "plugins");
}

#[test]
fn plugins_markdown_has_a_table_per_connector() {
    let p = run_ok(&args!["plugins", "--markdown"], &[]);
    let md = &p.stdout;
    assert!(md.contains("## FileStreamSource"), "{md}");
    assert!(md.contains("## Datagen"), "{md}");
    let header = md.lines().filter(|l| l.starts_with("| Key |")).count();
    let rule = md.lines().filter(|l| l.starts_with("|---")).count();
    assert!(
        header >= 3 && header == rule,
        "expected Markdown tables (header + rule) for the shared keys and each connector:\n{md}"
    );
    for key in [
        "| `file` |",
        "| `topic` |",
        "| `quickstart` |",
        "| `max.messages` |",
        "| `tasks.max` |",
    ] {
        assert!(md.contains(key), "no table row for {key}:\n{md}");
    }
}

#[test]
fn snapshots_list_and_show_of_a_missing_dir_do_not_create_it() {
    let dir = tempdir();
    let typo = dir.path().join("no-such-snapshot-dir");
    let list = run_cli(&args!["snapshots", "list", "--snapshot-dir", &typo], &[]);
    let show = run_cli(&args!["snapshots", "show", "--snapshot-dir", &typo], &[]);
    assert_no_panic(&list.all_output(), "snapshots list");
    assert_no_panic(&show.all_output(), "snapshots show");
    assert!(
        !show.success(),
        "show with no snapshot must fail:\n{}",
        show.all_output()
    );
    assert!(
        !typo.exists(),
        "the read-only `snapshots list/show` created the directory {} (list exit {:?}, output {:?})",
        typo.display(),
        list.code(),
        list.all_output()
    );
}

#[test]
fn unknown_keys_are_warned_with_the_nearest_known_key_by_validate_and_run() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\n").unwrap();
    let props = write_props(
        &dir.path().join("typo.properties"),
        &[
            ("name", "typos"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "t"),
            ("batch.sise", "10"),
            ("taks.max", "2"),
            ("kafka.topic", "orders"),
            ("value.converter.schemas.enable", "false"),
        ],
    );
    let validated = run_cli(&args!["validate", &props], &[]);
    assert_eq!(validated.code(), Some(0), "{}", validated.stderr);
    assert_mentions(
        &validated.stderr,
        &[
            "unknown key `batch.sise` is ignored; did you mean `batch.size`?",
            "unknown key `taks.max` is ignored; did you mean `tasks.max`?",
            "unknown key `kafka.topic` is ignored",
        ],
    );
    assert!(
        !validated.stderr.contains("schemas.enable"),
        "{}",
        validated.stderr
    );
    assert!(
        validated.stdout.contains("3 warning(s)"),
        "{}",
        validated.stdout
    );

    let ran = run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            dir.path().join("out.txt"),
            "--until-idle",
            "500ms"
        ],
        &[],
    );
    assert!(
        ran.stderr.contains("did you mean `batch.size`?"),
        "run logs the warnings: {}",
        ran.stderr
    );
}

#[test]
#[cfg(feature = "postgres")]
fn a_debezium_mode_this_connector_does_not_implement_is_refused_naming_the_key() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("pg.properties"),
        &[
            ("name", "pg"),
            (
                "connector.class",
                "io.debezium.connector.postgresql.PostgresConnector",
            ),
            ("database.hostname", "127.0.0.1"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "p"),
            ("decimal.handling.mode", "string"),
            ("binary.handling.mode", "hex"),
        ],
    );
    let validated = run_cli(&args!["validate", &props], &[]);
    assert_eq!(validated.code(), Some(2), "{}", validated.stderr);
    assert_mentions(
        &validated.stderr,
        &[
            "decimal.handling.mode",
            "precise",
            "binary.handling.mode",
            "bytes",
        ],
    );
    assert!(
        !validated
            .stderr
            .contains("unknown key `decimal.handling.mode`"),
        "a known key, refused for its value: {}",
        validated.stderr
    );
}

#[test]
fn log_format_json_makes_every_stderr_line_a_json_object() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("gen.properties"),
        &[
            ("name", "jsonlogs"),
            ("connector.class", "Datagen"),
            ("quickstart", "users"),
            ("max.messages", "2000"),
            ("messages.per.second", "1500"),
            ("mystery.key", "1"),
        ],
    );
    let ran = run_ok(
        &args![
            "run",
            &props,
            "--log-format",
            "json",
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            dir.path().join("out.jsonl"),
            "--until-idle",
            "500ms"
        ],
        &[("RUST_LOG", "info")],
    );
    let events: Vec<serde_json::Value> = ran
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let message = |e: &serde_json::Value| e["message"].as_str().unwrap_or("").to_owned();
    assert!(events
        .iter()
        .all(|e| e["level"].is_string() && e["timestamp"].is_string()));
    assert!(
        events
            .iter()
            .any(|e| e["level"] == "WARN" && message(e).contains("mystery.key")),
        "{}",
        ran.stderr
    );
    assert!(
        events.iter().any(|e| message(e).starts_with("records ")),
        "progress: {}",
        ran.stderr
    );
    assert!(
        events
            .iter()
            .any(|e| message(e).starts_with("done: 2000 records")),
        "{}",
        ran.stderr
    );
    assert!(
        events.len() > 5,
        "RUST_LOG=info events are JSON too: {}",
        ran.stderr
    );
}

#[test]
fn config_providers_resolve_at_start_and_their_values_are_never_printed_or_stored() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\nb\n").unwrap();
    let secrets = dir.path().join("secrets.properties");
    std::fs::write(&secrets, "topic=s3cr3t-topic-name\n").unwrap();
    let secret_dir = dir.path().join("secret.d");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("batch"), "s3cr3tbatch").unwrap();
    let props = write_props(
        &dir.path().join("provided.properties"),
        &[
            ("name", "provided"),
            ("connector.class", "FileStreamSource"),
            ("file", "${env:TC_TEST_INPUT}"),
            ("topic", &format!("${{file:{}:topic}}", secrets.display())),
        ],
    );
    let env = [("TC_TEST_INPUT", input.to_str().unwrap())];
    let snaps = dir.path().join("snaps");
    let out = dir.path().join("out.txt");
    let ran = run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--output",
            &out,
            "--until-idle",
            "500ms"
        ],
        &env,
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\n");
    assert!(!ran.stderr.contains("s3cr3t"), "{}", ran.stderr);
    // A restart restores its own snapshot (same references) and goes on.
    std::fs::write(&input, "a\nb\nc\n").unwrap();
    run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--output",
            &out,
            "--until-idle",
            "500ms"
        ],
        &env,
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\nc\n");
    for (_, path) in snapshot_files(&snaps) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("s3cr3t-topic-name"),
            "the snapshot stores the secret"
        );
        assert!(
            text.contains("${file:"),
            "the snapshot stores the reference"
        );
    }
    // Without the variable: a config error naming the key, exit 2.
    let missing = run_cli(&args!["validate", &props], &[]);
    assert_eq!(missing.code(), Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("file") && missing.stderr.contains("TC_TEST_INPUT"),
        "{}",
        missing.stderr
    );
    // A provided value that fails validation is quoted as its reference.
    let bad = write_props(
        &dir.path().join("bad.properties"),
        &[
            ("name", "provided"),
            ("connector.class", "FileStreamSource"),
            ("file", &input.display().to_string()),
            ("topic", "t"),
            (
                "batch.size",
                &format!("${{directory:{}:batch}}", secret_dir.display()),
            ),
        ],
    );
    let refused = run_cli(&args!["validate", &bad], &[]);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("batch.size"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("s3cr3tbatch"),
        "{}",
        refused.stderr
    );
}
