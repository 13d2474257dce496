//! The bridge as a library, on a real JVM: two plugins that ship different
//! versions of the same class run side by side in one process, each in
//! its own class loader; and a record with every part of Kafka Connect's
//! `SourceRecord` crosses JNI intact (key, schemas with names, versions,
//! docs and parameters, headers, timestamp, Kafka partition).

use std::path::Path;
use std::process::Command;

use timely_connect::api::{OffsetStorageReader, SourceTaskContext, StopToken};
use timely_connect::data::{SchemaType, Value};
use timely_connect::plugins::PluginSet;
use timely_connect::Properties;
use timely_connect_jvm::default_java_dir as java_dir;

/// The test plugins of tests/java/plugins, compiled into `root`.
fn compile_plugins(root: &Path) {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/java/plugins");
    for plugin in std::fs::read_dir(&sources).unwrap().flatten() {
        let mut files = Vec::new();
        let mut stack = vec![plugin.path()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "java") {
                    files.push(p);
                }
            }
        }
        let status = Command::new("javac")
            .args(["--release", "17", "-nowarn", "-cp"])
            .arg(java_dir().join("platform/*"))
            .arg("-d")
            .arg(root.join(plugin.file_name()))
            .args(&files)
            .status()
            .expect("javac");
        assert!(status.success());
    }
}

fn props(entries: &[(&str, &str)]) -> Properties {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn first_records(registry: &PluginSet, p: &Properties) -> Vec<timely_connect::data::SourceRecord> {
    let class = &p["connector.class"];
    let plugin = registry.resolve(class, p).expect("resolves");
    let mut connector = plugin.create();
    connector.start(p).expect("start");
    let configs = connector.task_configs(1).expect("taskConfigs");
    // What Kafka's worker adds to each task config.
    assert!(configs[0].contains_key("task.class"), "{configs:?}");
    assert_eq!(configs[0].get("name"), p.get("name"));
    assert!(
        configs[0]["connector.class"].contains('.'),
        "the full class name"
    );
    let mut task = connector.create_task();
    let context = SourceTaskContext::new(
        &p["name"],
        0,
        configs[0].clone(),
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    task.start(context).expect("task start");
    let mut records = Vec::new();
    for _ in 0..100 {
        if let Some(batch) = task.poll().expect("poll") {
            records.extend(batch);
            break;
        }
    }
    task.stop();
    connector.stop();
    records
}

#[test]
fn conflicting_plugins_run_side_by_side_and_records_cross_intact() {
    let root = tempfile::tempdir().unwrap();
    compile_plugins(root.path());
    let mut registry = PluginSet::builtin();
    timely_connect_jvm::install(&mut registry);
    let path = root.path().display().to_string();

    // Both plugins define com.example.iso.Lib; each connector sees its own.
    for (class, lib) in [
        ("IsoA", "lib-A"),
        ("com.example.iso.IsoBConnector", "lib-B"),
    ] {
        let p = props(&[
            ("name", class),
            ("connector.class", class),
            ("plugin.path", &path),
        ]);
        let plugin = registry.resolve(class, &p).unwrap();
        assert_eq!(plugin.create().version(), lib);
        let records = first_records(&registry, &p);
        assert_eq!(records.len(), 1);
        let text = records[0].value.as_str().unwrap().to_owned();
        assert!(text.ends_with(&format!("sees {lib}")), "{text}");
    }

    let expected = root.path().join("expected.jsonl");
    let p = props(&[
        ("name", "types"),
        ("connector.class", "com.example.tc.AllTypesSourceConnector"),
        ("plugin.path", &path),
        ("count", "3"),
        ("expected.file", &expected.display().to_string()),
    ]);
    let records = first_records(&registry, &p);
    assert_eq!(records.len(), 3);
    let r = &records[1];
    assert_eq!(&*r.topic, "all-types");
    assert_eq!(r.kafka_partition, Some(1));
    assert_eq!(r.timestamp, Some(1_700_000_000_001));
    assert_eq!(r.key, Value::Int64(1));
    assert_eq!(
        r.key_schema.as_ref().unwrap().schema_type,
        SchemaType::Int64
    );
    assert_eq!(
        r.source_partition.get("p").and_then(|v| v.as_str()),
        Some("all")
    );
    assert_eq!(r.source_offset.get_i64("seq"), Some(1));
    let headers: Vec<(&str, &Value)> = r
        .headers
        .iter()
        .map(|h| (h.key.as_str(), &h.value))
        .collect();
    assert_eq!(
        headers,
        vec![
            ("source", &Value::from("all-types")),
            ("seq", &Value::Int64(1))
        ]
    );
    let schema = r.value_schema.as_ref().unwrap();
    assert_eq!(schema.name.as_deref(), Some("com.example.AllTypes"));
    assert_eq!(schema.version, Some(7));
    assert_eq!(schema.doc.as_deref(), Some("every type"));
    // Parameters cross in Java's (insertion) order.
    let params: Vec<(&str, &str)> = schema
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("origin", "test"),
            ("zeta", "added second"),
            ("alpha", "added third")
        ]
    );
    let dflt = &schema.field("dflt").unwrap().schema;
    assert_eq!(dflt.default, Some(Value::Int32(42)));
    let inner = &schema.field("inner").unwrap().schema;
    assert_eq!(
        (inner.name.as_deref(), inner.version),
        (Some("com.example.Inner"), Some(2))
    );
    // One schema object in Java is one Arc here: interned across records.
    assert!(std::sync::Arc::ptr_eq(
        records[0].value_schema.as_ref().unwrap(),
        records[2].value_schema.as_ref().unwrap()
    ));
    let v = r.value.as_struct().unwrap();
    assert_eq!(v.get("i8"), Some(&Value::Int8(-99)));
    assert_eq!(
        v.get("text"),
        Some(&Value::from("caf\u{e9} \"1\"\n\u{2603} \u{1F600}"))
    );
    assert_eq!(v.get("blob"), Some(&Value::Bytes(vec![0, 255, 1])));
    assert_eq!(v.get("day"), Some(&Value::Int32(19_001)));
    assert_eq!(v.get("at"), Some(&Value::Int64(1_700_000_000_001)));
    assert_eq!(v.get("dflt"), Some(&Value::Int32(7)));
    assert_eq!(v.get_without_default("maybe"), Some(&Value::from("set")));
    r.validate().expect("the record fits its schemas");
}
