use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::api::OffsetStorageReader;
use crate::data::{Decimal, SchemaType, Value};

fn props(pairs: &[(&str, &str)]) -> Properties {
    let mut p: Properties = [("name", "gen"), ("quickstart", "orders")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (k, v) in pairs {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    p
}

/// Starts every task of the connector for `tasks_max` with `offsets`.
fn start_tasks(
    props: &Properties,
    tasks_max: usize,
    offsets: &HashMap<SourcePartition, SourceOffset>,
) -> Vec<DatagenTask> {
    let mut connector = Datagen::default();
    connector.start(props).unwrap();
    connector
        .task_configs(tasks_max)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, config)| {
            let context = SourceTaskContext::new(
                "gen",
                i,
                config,
                OffsetStorageReader::new(offsets.clone().into_iter().collect()),
                StopToken::new(),
            );
            let mut task = DatagenTask::default();
            task.start(context).unwrap();
            task
        })
        .collect()
}

/// Polls a finite task until it returns nothing.
fn drain(task: &mut DatagenTask) -> Vec<SourceRecord> {
    let mut all = Vec::new();
    while let Some(batch) = task.poll().unwrap() {
        all.extend(batch);
    }
    all
}

/// Every record of every task, by source partition, in emission order.
fn by_partition(tasks: &mut [DatagenTask]) -> BTreeMap<SourcePartition, Vec<SourceRecord>> {
    let mut out: BTreeMap<SourcePartition, Vec<SourceRecord>> = BTreeMap::new();
    for task in tasks {
        for r in drain(task) {
            out.entry(r.source_partition.clone()).or_default().push(r);
        }
    }
    out
}

fn seq_of(r: &SourceRecord) -> i64 {
    r.source_offset.get_i64(SEQ_FIELD).unwrap()
}

fn field<'a>(r: &'a SourceRecord, name: &str) -> &'a Value {
    match &r.value {
        Value::Struct(s) => s.get(name).unwrap(),
        other => panic!("not a struct: {other:?}"),
    }
}

#[test]
fn datagen_resume_reproduces_following_records() {
    for quickstart in ["orders", "users"] {
        let p = props(&[
            ("quickstart", quickstart),
            ("partitions", "3"),
            ("max.messages", "60"),
            ("seed", "9"),
        ]);
        let first = by_partition(&mut start_tasks(&p, 2, &HashMap::new()));
        assert_eq!(first.len(), 3);

        // Restore partition 0 after seq 0, partition 1 after seq 6, partition 2 from nothing.
        let mut offsets = HashMap::new();
        for (records, seq) in first.values().zip([0usize, 6]) {
            offsets.insert(
                records[seq].source_partition.clone(),
                records[seq].source_offset.clone(),
            );
        }
        let resumed = by_partition(&mut start_tasks(&p, 3, &offsets));
        let expected: Vec<&[SourceRecord]> = first
            .values()
            .zip([1usize, 7, 0])
            .map(|(records, from)| &records[from..])
            .collect();
        let got: Vec<&[SourceRecord]> = resumed.values().map(Vec::as_slice).collect();
        assert_eq!(got, expected, "{quickstart}");
    }
}

#[test]
fn datagen_tasks_max_change_keeps_partition_streams() {
    let p = props(&[("partitions", "5"), ("max.messages", "53"), ("seed", "3")]);
    let with_4 = by_partition(&mut start_tasks(&p, 4, &HashMap::new()));
    let with_2 = by_partition(&mut start_tasks(&p, 2, &HashMap::new()));
    let with_1 = by_partition(&mut start_tasks(&p, 1, &HashMap::new()));
    let with_9 = by_partition(&mut start_tasks(&p, 9, &HashMap::new()));
    assert_eq!(with_4.len(), 5);
    assert_eq!(with_4, with_2);
    assert_eq!(with_4, with_1);
    assert_eq!(with_4, with_9);
    for (partition, records) in &with_4 {
        let seqs: Vec<i64> = records.iter().map(seq_of).collect();
        assert_eq!(
            seqs,
            (0..seqs.len() as i64).collect::<Vec<_>>(),
            "{partition}"
        );
    }
}

#[test]
fn datagen_task_configs_split_partitions_round_robin() {
    let mut connector = Datagen::default();
    connector.start(&props(&[("partitions", "5")])).unwrap();
    let lists: Vec<String> = connector
        .task_configs(3)
        .unwrap()
        .iter()
        .map(|c| c[TASK_PARTITIONS_CONFIG].clone())
        .collect();
    assert_eq!(lists, vec!["0,3", "1,4", "2"]);
    assert_eq!(connector.task_configs(8).unwrap().len(), 5);
    assert!(connector.task_configs(0).is_err());
}

#[test]
fn datagen_max_messages_total() {
    let p = props(&[("partitions", "4"), ("max.messages", "10")]);
    let all = by_partition(&mut start_tasks(&p, 3, &HashMap::new()));
    let mut indices: Vec<i64> = all
        .values()
        .flatten()
        .map(|r| match field(r, "order_id") {
            Value::Int64(id) => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..10).collect::<Vec<_>>());
    let counts: Vec<usize> = all.values().map(Vec::len).collect();
    assert_eq!(counts, vec![3, 3, 2, 2]);

    // A finished task waits briefly and returns nothing.
    let mut tasks = start_tasks(&p, 1, &HashMap::new());
    assert_eq!(drain(&mut tasks[0]).len(), 10);
    let started = Instant::now();
    assert!(tasks[0].poll().unwrap().is_none());
    assert!(started.elapsed() >= Duration::from_millis(50));

    // max.messages=0 emits nothing at all.
    let mut none = start_tasks(&props(&[("max.messages", "0")]), 2, &HashMap::new());
    assert!(none.iter_mut().all(|t| drain(t).is_empty()));
}

#[test]
fn datagen_values_match_schema() {
    for quickstart in Quickstart::ALL {
        let p = props(&[
            ("quickstart", quickstart.name()),
            ("partitions", "2"),
            ("max.messages", "400"),
        ]);
        let all = by_partition(&mut start_tasks(&p, 1, &HashMap::new()));
        for (partition, records) in &all {
            for r in records {
                r.validate().unwrap();
                let Value::Struct(s) = &r.value else {
                    panic!("{:?}", r.value)
                };
                s.validate().unwrap();
                assert_eq!(&*r.topic, quickstart.name());
                assert_eq!(
                    partition.get(DATAGEN_FIELD).and_then(|v| v.as_str()),
                    Some(quickstart.name())
                );
                let p = partition
                    .get(PARTITION_FIELD)
                    .and_then(|v| v.as_i64())
                    .unwrap();
                assert_eq!(field(r, "partition"), &Value::Int32(p as i32));
                assert_eq!(field(r, "seq"), &Value::Int64(seq_of(r)));
                assert_eq!(
                    r.key_schema.as_deref().map(|k| k.schema_type),
                    Some(SchemaType::String)
                );
                assert!(matches!(r.key, Value::String(_)));
                if quickstart == Quickstart::Orders {
                    let schema = r.value_schema.as_deref().unwrap();
                    let decimal = |name: &str| {
                        Decimal::from_value(field(r, name), &schema.field(name).unwrap().schema)
                            .unwrap()
                    };
                    let Value::Int32(quantity) = field(r, "quantity") else {
                        panic!()
                    };
                    let (unit, amount) = (decimal("unit_price"), decimal("amount"));
                    assert_eq!((unit.scale, amount.scale), (2, 2));
                    assert_eq!(amount.unscaled, unit.unscaled * i128::from(*quantity));
                }
                // Timestamps come from the seed and index, not the clock: 2024 onwards.
                let ts = r.timestamp.unwrap();
                assert!(
                    (1_704_067_200_000..1_704_067_200_000 + 1_000_000).contains(&ts),
                    "{ts}"
                );
            }
        }
        let schema = quickstart.value_schema();
        let logical: Vec<&str> = schema
            .fields
            .iter()
            .filter_map(|f| f.schema.name.as_deref())
            .collect();
        match quickstart {
            Quickstart::Orders => {
                let amount = schema.field("amount").unwrap();
                assert_eq!(
                    amount.schema.name.as_deref(),
                    Some("org.apache.kafka.connect.data.Decimal")
                );
                assert_eq!(
                    amount.schema.parameters.get("scale").map(String::as_str),
                    Some("2")
                );
                assert!(logical.contains(&"org.apache.kafka.connect.data.Timestamp"));
            }
            Quickstart::Users => {
                assert!(logical.contains(&"org.apache.kafka.connect.data.Date"));
                assert!(logical.contains(&"org.apache.kafka.connect.data.Timestamp"));
            }
        }
    }
}

#[test]
fn datagen_seed_changes_content_not_shape() {
    let a = by_partition(&mut start_tasks(
        &props(&[("max.messages", "20"), ("seed", "1")]),
        1,
        &HashMap::new(),
    ));
    let b = by_partition(&mut start_tasks(
        &props(&[("max.messages", "20"), ("seed", "2")]),
        1,
        &HashMap::new(),
    ));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert_ne!(a, b);
}

#[test]
fn datagen_rate_limit_sleeps_instead_of_bursting() {
    let p = props(&[("partitions", "2"), ("messages.per.second", "100")]);
    let mut tasks = start_tasks(&p, 2, &HashMap::new());
    let task = &mut tasks[0]; // half the partitions: 50 records/s
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < Duration::from_millis(300) {
        count += task.poll().unwrap().map_or(0, |b| b.len());
    }
    // About 15 in 300 ms; generous bounds for a busy machine.
    assert!(
        (5..=30).contains(&count),
        "{count} records in 300ms at 50/s"
    );
}

#[test]
fn datagen_topic_defaults_to_quickstart() {
    let mut tasks = start_tasks(
        &props(&[("quickstart", "users"), ("max.messages", "1")]),
        1,
        &HashMap::new(),
    );
    assert_eq!(&*drain(&mut tasks[0])[0].topic, "users");
    let mut tasks = start_tasks(
        &props(&[("topic", "people"), ("max.messages", "1")]),
        1,
        &HashMap::new(),
    );
    assert_eq!(&*drain(&mut tasks[0])[0].topic, "people");
}

#[test]
fn datagen_config_errors_name_connector_and_keys() {
    let mut p = props(&[
        ("quickstart", "pageviews"),
        ("partitions", "0"),
        ("messages.per.second", "0"),
    ]);
    let issues = Datagen::default().validate(&p);
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    for key in [
        QUICKSTART_CONFIG,
        PARTITIONS_CONFIG,
        MESSAGES_PER_SECOND_CONFIG,
    ] {
        assert!(keys.contains(&key), "{key} missing from {issues:?}");
    }
    let msg = Datagen::default().start(&p).unwrap_err().to_string();
    assert!(msg.contains("Datagen connector `gen`"), "{msg}");
    assert!(
        msg.contains(QUICKSTART_CONFIG) && msg.contains(PARTITIONS_CONFIG),
        "{msg}"
    );

    p.remove(QUICKSTART_CONFIG);
    let issues = Datagen::default().validate(&p);
    assert!(
        issues.iter().any(|i| i.key == QUICKSTART_CONFIG),
        "{issues:?}"
    );

    assert!(Datagen::default().validate(&props(&[])).is_empty());
}

#[test]
fn datagen_task_rejects_foreign_partition() {
    let mut config = props(&[("partitions", "2")]);
    config.insert(TASK_PARTITIONS_CONFIG.to_owned(), "1,2".to_owned());
    let context = SourceTaskContext::new(
        "gen",
        3,
        config,
        OffsetStorageReader::default(),
        StopToken::new(),
    );
    let msg = DatagenTask::default()
        .start(context)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Datagen connector `gen` task 3"), "{msg}");
    assert!(
        msg.contains(TASK_PARTITIONS_CONFIG) && msg.contains('2'),
        "{msg}"
    );
}

#[test]
fn datagen_is_registered_with_confluent_alias() {
    let registry = crate::plugins::PluginSet::builtin();
    assert!(registry.find(CLASS).is_some());
    assert!(registry.find(CONFLUENT_CLASS).is_some());
}
