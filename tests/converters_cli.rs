//! Converters through the real CLI: `--output` written through
//! `value.converter` (and `key.converter` with `--output-key`), in lines or
//! length-prefixed frames; JSON byte-identical to Kafka's JsonConverter;
//! Avro in Confluent's wire format, decoded back in this process; converter
//! config errors from `validate`; conversion failures as dead letters or as
//! a failed job; exactly-once converted output across SIGKILL.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use timely_connect::config::Properties;
use timely_connect::connectors::datagen::Quickstart;
use timely_connect::convert::avro::{AvroConverter, AvroData, EmbeddedRegistry, SchemaRegistry};
use timely_connect::convert::Converter;
use timely_connect::data::Value;

const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTE_ARRAY: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
const AVRO: &str = "io.confluent.connect.avro.AvroConverter";

/// A JSON string as Jackson (and so Kafka's JsonConverter) writes it:
/// `"` and `\` escaped, `\b \t \n \f \r` short, every other control
/// character as `\u00XX` with upper-case hex; `/`, DEL and other
/// characters of the Basic Multilingual Plane as they are; characters
/// beyond it as their UTF-16 surrogate pair, each `\uXXXX` (Jackson's
/// UTF-8 generator does so). Written independently of the crate's escaper
/// on purpose.
fn jackson_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) > 0xFFFF => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04X}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lines that need every kind of escape, as raw bytes (one invalid UTF-8
/// sequence, which FileStreamSource decodes lossily as Kafka's reader does).
fn tricky_input() -> (Vec<u8>, Vec<String>) {
    let mut lines: Vec<Vec<u8>> = [
        "plain",
        "",
        "say \"hi\"",
        "back\\slash \\\" \\\\",
        "tab\there\tand\tthere",
        "ctl \u{1} \u{8} \u{c} \u{1f} \u{7f} mid\rcr",
        "slash / and </script>",
        "δέλτα 日本語 emoji🦀 \u{2028} é",
        "{\"json\":[1,2,{\"x\":null}]}",
        "  leading and trailing spaces  ",
        "1.0E7",
        "null",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    lines.push(b"bad utf-8: \xff\xfe end".to_vec());
    let mut bytes = Vec::new();
    let mut decoded = Vec::new();
    for l in &lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
        decoded.push(String::from_utf8_lossy(l).into_owned());
    }
    // A Windows line ending: the `\r` is not part of the line.
    bytes.extend_from_slice(b"crlf line\r\n");
    decoded.push("crlf line".to_owned());
    (bytes, decoded)
}

fn file_props(dir: &Path, name: &str, input: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let mut entries = vec![
        ("name", name),
        ("connector.class", "FileStreamSource"),
        ("file", input.to_str().expect("utf-8 path")),
        ("topic", "lines"),
    ];
    entries.extend_from_slice(extra);
    write_props(&dir.join(format!("{name}.properties")), &entries)
}

fn run_args(dir: &Path, props: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a = args![
        "run",
        props,
        "--snapshot-dir",
        dir.join("snaps"),
        "--snapshot-interval",
        "50ms",
        "--output",
        dir.join("out"),
        "--until-idle",
        "300ms",
    ];
    a.extend(extra.iter().map(std::ffi::OsString::from));
    a
}

// ------------------------------------------------------------ JSON, strings

#[test]
fn json_converter_writes_file_lines_byte_identical_to_kafka_with_and_without_schemas() {
    let (bytes, lines) = tricky_input();
    for (schemas, envelope) in [
        ("true", true),
        ("false", false),
        // schemas.enable defaults to true, as in Kafka.
        ("", true),
    ] {
        let dir = tempdir();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, &bytes).expect("write input");
        let mut extra = vec![("value.converter", JSON)];
        if !schemas.is_empty() {
            extra.push(("value.converter.schemas.enable", schemas));
        }
        let props = file_props(dir.path(), "json", &input, &extra);
        run_ok(&run_args(dir.path(), &props, &[]), &[]);

        // FileStreamSource's value schema is Kafka's STRING_SCHEMA: required.
        let expected: String = lines
            .iter()
            .map(|l| {
                if envelope {
                    format!(
                        "{{\"schema\":{{\"type\":\"string\",\"optional\":false}},\"payload\":{}}}\n",
                        jackson_string(l)
                    )
                } else {
                    format!("{}\n", jackson_string(l))
                }
            })
            .collect();
        let out = read(&dir.path().join("out"));
        assert_same_bytes(
            expected.as_bytes(),
            &out,
            &format!("schemas.enable={schemas:?}"),
        );
        // And an independent JSON parser reads every line back as the input line.
        let text = String::from_utf8(out).expect("utf-8 output");
        for (line, original) in text.lines().zip(&lines) {
            let json: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            let payload = if envelope { &json["payload"] } else { &json };
            assert_eq!(payload.as_str(), Some(original.as_str()), "{line}");
        }
    }
}

/// One Datagen user, as read back from JSON or Avro.
#[derive(Clone, Debug, PartialEq)]
struct User {
    partition: i64,
    seq: i64,
    user_id: String,
    name: String,
    email: String,
    region: String,
    age: i64,
    registered_date: i64,
    last_login: i64,
    loyalty_points: i64,
    premium: bool,
    referrer: Option<String>,
}

const USERS: u64 = 600;
const USER_PARTITIONS: u32 = 3;

fn datagen_users_props(dir: &Path, name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let max = USERS.to_string();
    let partitions = USER_PARTITIONS.to_string();
    let mut entries = vec![
        ("name", name),
        ("connector.class", "Datagen"),
        ("quickstart", "users"),
        ("topic", "users"),
        ("partitions", partitions.as_str()),
        ("tasks.max", "2"),
        ("max.messages", max.as_str()),
        ("seed", "7"),
    ];
    entries.extend_from_slice(extra);
    write_props(&dir.join(format!("{name}.properties")), &entries)
}

/// Checks what the quickstart documents for every user, that the key is the
/// user id, and that every `(partition, seq)` is there exactly once.
fn check_users(users: &[(String, User)]) {
    assert_eq!(users.len() as u64, USERS, "one record per message");
    let mut seen = BTreeMap::new();
    for (key, u) in users {
        let global = u.seq * i64::from(USER_PARTITIONS) + u.partition;
        assert!(
            (0..i64::from(USER_PARTITIONS)).contains(&u.partition),
            "{u:?}"
        );
        assert_eq!(u.user_id, format!("User_{global}"), "{u:?}");
        assert_eq!(key, &u.user_id, "the key is the user id");
        assert!(u.name.contains(' '), "{u:?}");
        assert!(u.email.ends_with(&format!("{global}@example.com")), "{u:?}");
        assert!(!u.region.is_empty(), "{u:?}");
        assert!((18..=90).contains(&u.age), "{u:?}");
        assert!(
            (19_723 - 3_650..=19_723).contains(&u.registered_date),
            "{u:?}"
        );
        let base = 1_704_067_200_000 + global * 1_000;
        assert!((base..base + 1_000).contains(&u.last_login), "{u:?}");
        assert!((0..=50_000).contains(&u.loyalty_points), "{u:?}");
        if let Some(r) = &u.referrer {
            let n: i64 = r
                .strip_prefix("User_")
                .expect("User_ prefix")
                .parse()
                .expect("id");
            assert!(n < global.max(1), "{u:?}");
        }
        assert!(
            seen.insert((u.partition, u.seq), ()).is_none(),
            "duplicate {u:?}"
        );
    }
    for p in 0..USER_PARTITIONS {
        for s in 0..datagen_partition_len(p, USER_PARTITIONS, USERS) {
            assert!(
                seen.contains_key(&(i64::from(p), s as i64)),
                "missing ({p}, {s})"
            );
        }
    }
}

fn user_from_json(v: &serde_json::Value) -> User {
    let int = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    let string = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .to_owned()
    };
    let object = v.as_object().expect("an object");
    assert_eq!(object.len(), 12, "every field, no more: {v}");
    User {
        partition: int("partition"),
        seq: int("seq"),
        user_id: string("user_id"),
        name: string("name"),
        email: string("email"),
        region: string("region"),
        age: int("age"),
        registered_date: int("registered_date"),
        last_login: int("last_login"),
        loyalty_points: int("loyalty_points"),
        premium: v["premium"].as_bool().expect("premium"),
        referrer: match &v["referrer"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => panic!("referrer {other}"),
        },
    }
}

/// Runs Datagen users with JsonConverter values and StringConverter keys
/// (`--output-key`): `key<TAB>value` lines.
fn users_as_json(dir: &Path, schemas: bool) -> Vec<(String, User)> {
    let schemas_enable = if schemas { "true" } else { "false" };
    let props = datagen_users_props(
        dir,
        "users-json",
        &[
            ("key.converter", "StringConverter"),
            ("value.converter", "JsonConverter"),
            ("value.converter.schemas.enable", schemas_enable),
        ],
    );
    run_ok(&run_args(dir, &props, &["--output-key"]), &[]);
    let text = String::from_utf8(read(&dir.join("out"))).expect("utf-8");
    assert!(text.ends_with('\n'));
    text.lines()
        .map(|line| {
            let (key, value) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("no tab in {line:?}"));
            let json: serde_json::Value =
                serde_json::from_str(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            let payload = if schemas {
                let schema = &json["schema"];
                assert_eq!(schema["type"], "struct");
                assert_eq!(schema["name"], "timely_connect.datagen.User");
                assert_eq!(schema["optional"], false);
                let fields: Vec<(&str, &str, Option<&str>)> = schema["fields"]
                    .as_array()
                    .expect("fields")
                    .iter()
                    .map(|f| {
                        (
                            f["field"].as_str().expect("field"),
                            f["type"].as_str().expect("type"),
                            f["name"].as_str(),
                        )
                    })
                    .collect();
                assert_eq!(
                    fields,
                    [
                        ("partition", "int32", None),
                        ("seq", "int64", None),
                        ("user_id", "string", None),
                        ("name", "string", None),
                        ("email", "string", None),
                        ("region", "string", None),
                        ("age", "int32", None),
                        (
                            "registered_date",
                            "int32",
                            Some("org.apache.kafka.connect.data.Date")
                        ),
                        (
                            "last_login",
                            "int64",
                            Some("org.apache.kafka.connect.data.Timestamp")
                        ),
                        ("loyalty_points", "int64", None),
                        ("premium", "boolean", None),
                        ("referrer", "string", None),
                    ]
                );
                assert_eq!(schema["fields"][11]["optional"], true);
                assert_eq!(json.as_object().map(|o| o.len()), Some(2));
                &json["payload"]
            } else {
                &json
            };
            (key.to_owned(), user_from_json(payload))
        })
        .collect()
}

#[test]
fn datagen_users_as_json_with_string_keys() {
    for schemas in [true, false] {
        let dir = tempdir();
        let users = users_as_json(dir.path(), schemas);
        check_users(&users);
    }
}

// ------------------------------------------------------------ Avro

/// Splits length-prefixed output into fields: 4-byte big-endian length,
/// then that many bytes; -1 is null.
fn frames(bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len_bytes: [u8; 4] = bytes
            .get(at..at + 4)
            .unwrap_or_else(|| panic!("truncated length at byte {at}"))
            .try_into()
            .expect("4 bytes");
        let len = i32::from_be_bytes(len_bytes);
        at += 4;
        if len == -1 {
            out.push(None);
            continue;
        }
        let len = usize::try_from(len).unwrap_or_else(|_| panic!("bad length {len}"));
        let field = bytes
            .get(at..at + len)
            .unwrap_or_else(|| panic!("truncated field at byte {at}"));
        out.push(Some(field.to_vec()));
        at += len;
    }
    out
}

fn user_from_connect(v: &Value) -> User {
    let s = v.as_struct().expect("a struct");
    let int = |k: &str| {
        s.get(k)
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{k} in {s:?}"))
    };
    let string = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{k} in {s:?}"))
            .to_owned()
    };
    assert_eq!(s.values().len(), 12);
    User {
        partition: int("partition"),
        seq: int("seq"),
        user_id: string("user_id"),
        name: string("name"),
        email: string("email"),
        region: string("region"),
        age: int("age"),
        registered_date: int("registered_date"),
        last_login: int("last_login"),
        loyalty_points: int("loyalty_points"),
        premium: s.get("premium").and_then(Value::as_bool).expect("premium"),
        referrer: match s.get("referrer") {
            Some(Value::Null) | None => None,
            Some(Value::String(r)) => Some(r.clone()),
            Some(other) => panic!("referrer {other:?}"),
        },
    }
}

#[test]
fn datagen_users_as_avro_frames_decode_back_with_a_deterministic_schema_id() {
    let dir = tempdir();
    let props = datagen_users_props(
        dir.path(),
        "users-avro",
        &[("key.converter", STRING), ("value.converter", AVRO)],
    );
    run_ok(
        &run_args(
            dir.path(),
            &props,
            &["--output-key", "--output-framing", "length-prefixed"],
        ),
        &[],
    );
    let fields = frames(&read(&dir.path().join("out")));
    assert_eq!(
        fields.len() as u64,
        2 * USERS,
        "a key and a value per record"
    );

    // The writer schema, derived here from the quickstart's public schema:
    // the embedded registry's id is a hash of it, so it is the id the CLI used.
    let value_schema = Quickstart::Users.value_schema();
    let avro = AvroData::default()
        .from_connect_schema(&value_schema)
        .expect("Avro schema");
    let id = EmbeddedRegistry::deterministic_id(&avro).expect("id");
    let registry = Arc::new(EmbeddedRegistry::new());
    assert_eq!(
        registry.register("users-value", &avro).expect("register"),
        id
    );
    let mut converter =
        AvroConverter::with_registry(registry, &Properties::new(), false).expect("configure");

    let mut users = Vec::new();
    for pair in fields.chunks(2) {
        let key = pair[0].as_ref().expect("a key");
        let value = pair[1].as_ref().expect("a value");
        assert_eq!(value[0], 0, "magic byte");
        let frame_id = i32::from_be_bytes(value[1..5].try_into().expect("4 bytes"));
        assert_eq!(frame_id, id, "schema id of every record");
        let back = converter
            .to_connect("users", Some(value))
            .unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(back.schema.as_deref(), Some(&*value_schema));
        users.push((
            String::from_utf8(key.clone()).expect("utf-8 key"),
            user_from_connect(&back.value),
        ));
    }
    check_users(&users);

    // The same job through JsonConverter gives the same users, field for field.
    let json_dir = tempdir();
    let mut from_json = users_as_json(json_dir.path(), false);
    let order = |u: &(String, User)| (u.1.partition, u.1.seq);
    users.sort_by_key(order);
    from_json.sort_by_key(order);
    assert_eq!(users, from_json);
}

// ------------------------------------------------------------ config errors

#[test]
fn validate_lists_every_converter_and_transform_problem_with_its_full_key() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "1\n").expect("write input");
    let props = file_props(
        dir.path(),
        "bad",
        &input,
        &[
            ("value.converter", "com.example.NoSuchConverter"),
            ("key.converter", JSON),
            ("key.converter.decimal.format", "HEX"),
            ("header.converter", "org.example.NoSuchHeaderConverter"),
            ("transforms", "cast"),
            (
                "transforms.cast.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.cast.spec", "int128"),
        ],
    );
    for command in [args!["validate", &props], run_args(dir.path(), &props, &[])] {
        let f = run_cli(&command, &[]);
        assert_eq!(f.code(), Some(2), "{}", f.all_output());
        let err = f.all_output();
        let problems: Vec<&str> = err
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("- "))
            .collect();
        for (key, mentions) in [
            ("value.converter", "com.example.NoSuchConverter"),
            ("key.converter.decimal.format", "HEX"),
            ("header.converter", "org.example.NoSuchHeaderConverter"),
            ("transforms.cast.spec", "int128"),
        ] {
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("{key}:")) && p.contains(mentions)),
                "no problem listed for {key}: {err}"
            );
        }
        assert!(
            !dir.path().join("out").exists(),
            "a bad config runs nothing"
        );
    }
}

// ------------------------------------------------------------ conversion failures

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(read(path))
        .expect("utf-8 dead letters")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn conversion_failures_become_dead_letters_or_fail_the_job() {
    let dir = tempdir();
    let input = dir.path().join("in.txt");
    let lines: Vec<String> = (0..250).map(|i| format!("line {i}")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");

    // Tolerated: every record is a dead letter naming stage and converter;
    // the output holds nothing, and the offsets still advance.
    let props = file_props(
        dir.path(),
        "bytes",
        &input,
        &[("value.converter", BYTE_ARRAY), ("errors.tolerance", "all")],
    );
    let dlq = dir.path().join("dlq.jsonl");
    let dlq_arg = dlq.to_str().expect("utf-8 path");
    run_ok(
        &run_args(dir.path(), &props, &["--dead-letter-output", dlq_arg]),
        &[],
    );
    assert_eq!(read(&dir.path().join("out")), b"", "nothing converts");
    let dead = dead_letters(&dlq);
    let values: Vec<&str> = dead
        .iter()
        .map(|d| d["value"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(values, lines, "every record once, in order");
    let mut end = 0;
    for (d, line) in dead.iter().zip(&lines) {
        end += line.len() + 1;
        let h = &d["headers"];
        assert_eq!(h["__connect.errors.stage"], "VALUE_CONVERTER", "{d}");
        assert_eq!(h["__connect.errors.class.name"], BYTE_ARRAY, "{d}");
        assert_eq!(
            h["__connect.errors.exception.class.name"],
            "org.apache.kafka.connect.errors.DataException"
        );
        assert!(
            h["__connect.errors.exception.message"]
                .as_str()
                .is_some_and(|m| m.contains("BYTES") && m.contains("STRING")),
            "{d}"
        );
        assert_eq!(h["__connect.errors.connector.name"], "bytes");
        assert_eq!(h["__connect.errors.topic"], "lines");
        assert_eq!(
            h["__connect.errors.source.offset"],
            format!("{{\"position\":{end}}}")
        );
    }
    let show = run_ok(
        &args![
            "snapshots",
            "show",
            "--snapshot-dir",
            dir.path().join("snaps")
        ],
        &[],
    );
    assert!(
        show.stdout.contains(&format!("\"position\": {end}")),
        "offsets advance past dead letters: {}",
        show.stdout
    );

    // Not tolerated: the job fails naming the stage and the converter.
    let dir = tempdir();
    let props = file_props(
        dir.path(),
        "bytes-none",
        &input,
        &[
            ("value.converter", BYTE_ARRAY),
            ("errors.tolerance", "none"),
        ],
    );
    let f = run_cli(&run_args(dir.path(), &props, &[]), &[]);
    assert!(!f.success(), "the job must fail: {}", f.all_output());
    assert_ne!(f.code(), Some(2), "not a config error");
    let err = f.all_output();
    assert!(err.contains("VALUE_CONVERTER"), "{}", stderr_digest(&err));
    assert!(err.contains(BYTE_ARRAY), "{}", stderr_digest(&err));
    assert!(
        err.contains("connector `bytes-none`"),
        "{}",
        stderr_digest(&err)
    );
    assert_eq!(
        read(&dir.path().join("out")),
        b"",
        "no converted output from a failed conversion"
    );
}

/// A conversion failure in task 1's record names task 1 in its dead
/// letter, as Kafka's `__connect.errors.task.id` header does; the
/// connector's name and the record's source position come with it.
#[test]
fn converter_dead_letters_name_the_task_whose_record_failed() {
    let dir = tempdir();
    let props = datagen_users_props(
        dir.path(),
        "users-bytes",
        &[("value.converter", BYTE_ARRAY), ("errors.tolerance", "all")],
    );
    let dlq = dir.path().join("dlq.jsonl");
    let dlq_arg = dlq.to_str().expect("utf-8 path");
    run_ok(
        &run_args(
            dir.path(),
            &props,
            &["--dead-letter-output", dlq_arg, "--workers", "1"],
        ),
        &[],
    );
    let dead = dead_letters(&dlq);
    assert_eq!(
        dead.len() as u64,
        USERS,
        "every struct value fails ByteArrayConverter"
    );
    let mut tasks_seen = std::collections::BTreeSet::new();
    for d in &dead {
        let h = &d["headers"];
        assert_eq!(h["__connect.errors.stage"], "VALUE_CONVERTER", "{d}");
        assert_eq!(h["__connect.errors.connector.name"], "users-bytes");
        let partition: serde_json::Value = serde_json::from_str(
            h["__connect.errors.source.partition"]
                .as_str()
                .unwrap_or("null"),
        )
        .expect("source partition JSON");
        // Datagen gives partition p to task p % tasks (2 tasks here).
        let p = partition["partition"].as_u64().expect("partition number");
        let task = h["__connect.errors.task.id"].as_u64().expect("task id");
        assert_eq!(task, p % 2, "task id of a record from partition {p}: {d}");
        tasks_seen.insert(task);
    }
    assert_eq!(tasks_seen.len(), 2, "both tasks' failures are there");
}

// ------------------------------------------------------------ exactly once

#[test]
fn json_output_is_exactly_once_across_sigkill() {
    let seed = Rng::seed_from_env_or_clock();
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let dir = tempdir();
    let bytes = varied_lines(&mut rng, 0, 300_000);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, &bytes).expect("write input");
    let mut expected = Vec::with_capacity(bytes.len() * 11 / 10);
    for line in String::from_utf8(bytes).expect("utf-8").lines() {
        expected.extend_from_slice(jackson_string(line).as_bytes());
        expected.push(b'\n');
    }
    let props = file_props(
        dir.path(),
        "json-kill",
        &input,
        &[
            ("value.converter", JSON),
            ("value.converter.schemas.enable", "false"),
            ("batch.size", "500"),
        ],
    );
    let args = run_args(dir.path(), &props, &[]);
    let kills = 1 + rng.below(2);
    for _ in 0..kills {
        let proc = Proc::spawn("json-kill", &args, &[]);
        std::thread::sleep(Duration::from_millis(rng.range(100, 900)));
        proc.kill();
        let written = std::fs::metadata(dir.path().join("out")).map_or(0, |m| m.len());
        eprintln!("killed with {written} of {} bytes written", expected.len());
    }
    run_ok(&args, &[]);
    assert_same_bytes(
        &expected,
        &read(&dir.path().join("out")),
        &format!("after {kills} SIGKILL(s) (seed {seed})"),
    );
}
