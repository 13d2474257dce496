//! Converter tests: round trips through the wire format with the embedded
//! and the HTTP registry, wire bytes, evolution, subject strategies,
//! configuration and registry errors.

use super::test_server::TestRegistry;
use super::*;
use crate::config::test_props;
use crate::data::logical::{
    date_schema, decimal_builder, decimal_schema, time_schema, timestamp_schema, Date, Decimal,
    Time, Timestamp,
};
use crate::data::{SchemaBuilder, Struct};

fn inner_schema() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("com.example.Inner")
        .field("a", Schema::int32())
        .field("tags", SchemaBuilder::array(Schema::string()).build())
        .build()
}

fn optional_inner_schema() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("com.example.Inner")
        .field("a", Schema::int32())
        .field("tags", SchemaBuilder::array(Schema::string()).build())
        .optional()
        .build()
}

/// A struct schema with every Connect type, optionality, defaults,
/// metadata, logical types, nested and repeated structs, both map kinds.
pub(super) fn everything_schema() -> SchemaRef {
    let unnamed = SchemaBuilder::struct_().field("x", Schema::int32()).build();
    SchemaBuilder::struct_()
        .name("com.example.Everything")
        .doc("all the types")
        .version(2)
        .parameter("owner", "team-a")
        .field("i8", Schema::int8())
        .field("i16", Schema::int16())
        .field("i32", Schema::int32())
        .field("i64", Schema::int64())
        .field("f32", Schema::float32())
        .field("f64", Schema::float64())
        .field("flag", Schema::boolean())
        .field(
            "text",
            SchemaBuilder::string()
                .doc("some text")
                .version(3)
                .parameter("k", "v")
                .build(),
        )
        .field("raw", Schema::bytes())
        .field("opt_null", Schema::optional_string())
        .field("opt_set", Schema::optional_int32())
        .field(
            "with_default",
            SchemaBuilder::int32()
                .default_value(Value::Int32(42))
                .build(),
        )
        .field(
            "opt_with_default",
            SchemaBuilder::string()
                .optional()
                .default_value(Value::from("dflt"))
                .build(),
        )
        .field(
            "bytes_default",
            SchemaBuilder::bytes()
                .default_value(Value::Bytes(vec![0, 0x7f, 0xff]))
                .build(),
        )
        .field(
            "array_default",
            SchemaBuilder::array(Schema::int32())
                .default_value(Value::Array(vec![Value::Int32(1), Value::Int32(2)]))
                .build(),
        )
        .field("price", decimal_schema(2))
        .field(
            "precise",
            decimal_builder(3)
                .parameter(schema::CONNECT_AVRO_DECIMAL_PRECISION_PROP, "10")
                .build(),
        )
        .field("day", date_schema())
        .field("at", time_schema())
        .field("ts", timestamp_schema())
        .field(
            "opt_day",
            crate::data::logical::date_builder().optional().build(),
        )
        .field("list", SchemaBuilder::array(Schema::string()).build())
        .field(
            "opt_items",
            SchemaBuilder::array(Schema::optional_int64()).build(),
        )
        .field(
            "smap",
            SchemaBuilder::map(Schema::string(), Schema::int32()).build(),
        )
        .field(
            "imap",
            SchemaBuilder::map(Schema::int32(), Schema::optional_string()).build(),
        )
        .field(
            "imap_default",
            SchemaBuilder::map(Schema::int64(), Schema::string())
                .name("com.example.Lookup")
                .default_value(Value::Map(vec![(Value::Int64(1), Value::from("one"))]))
                .build(),
        )
        .field("nested", inner_schema())
        .field("opt_nested_null", optional_inner_schema())
        .field("opt_nested", optional_inner_schema())
        .field("nested_list", SchemaBuilder::array(inner_schema()).build())
        .field("unnamed", unnamed)
        .build()
}

fn inner(a: i32, tags: &[&str], schema: SchemaRef) -> Value {
    let tags = Value::Array(tags.iter().map(|t| Value::from(*t)).collect());
    let s = Struct::new(schema)
        .with("a", a)
        .and_then(|s| s.with("tags", tags))
        .expect("inner");
    Value::Struct(s)
}

pub(super) fn everything_value(schema: &SchemaRef) -> Value {
    let field_schema = |name: &str| schema.field(name).expect("field").schema.clone();
    let unnamed = Struct::new(field_schema("unnamed"))
        .with("x", 9)
        .expect("unnamed");
    let price = Decimal::new(-12345, 2)
        .to_value_for(&field_schema("price"))
        .expect("price");
    let precise = Decimal::new(1, 3)
        .to_value_for(&field_schema("precise"))
        .expect("precise");
    let s = Struct::new(schema.clone());
    let s = s
        .with("i8", -8i8)
        .and_then(|s| s.with("i16", 1600i16))
        .and_then(|s| s.with("i32", -32i32))
        .and_then(|s| s.with("i64", i64::MIN))
        .and_then(|s| s.with("f32", 1.5f32))
        .and_then(|s| s.with("f64", -0.25f64))
        .and_then(|s| s.with("flag", true))
        .and_then(|s| s.with("text", "héllo"))
        .and_then(|s| s.with("raw", vec![0u8, 1, 254]))
        .and_then(|s| s.with("opt_set", 5i32))
        .and_then(|s| s.with("with_default", 7i32))
        .and_then(|s| s.with("opt_with_default", "given"))
        .and_then(|s| s.with("bytes_default", vec![9u8]))
        .and_then(|s| s.with("array_default", Value::Array(vec![Value::Int32(3)])))
        .and_then(|s| s.with("price", price))
        .and_then(|s| s.with("precise", precise))
        .and_then(|s| s.with("day", Date::new(2024, 2, 29)?.to_value()?))
        .and_then(|s| s.with("at", Time::new(23, 59, 59, 999)?.to_value()?))
        .and_then(|s| s.with("ts", Timestamp::from_millis(1_700_000_000_123).to_value()))
        .and_then(|s| s.with("list", Value::Array(vec!["a".into(), "b".into()])))
        .and_then(|s| {
            s.with(
                "opt_items",
                Value::Array(vec![Value::Int64(1), Value::Null, Value::Int64(-3)]),
            )
        })
        .and_then(|s| {
            s.with(
                "smap",
                Value::Map(vec![
                    ("z".into(), Value::Int32(26)),
                    ("a".into(), Value::Int32(1)),
                ]),
            )
        })
        .and_then(|s| {
            s.with(
                "imap",
                Value::Map(vec![
                    (Value::Int32(2), Value::from("two")),
                    (Value::Int32(1), Value::Null),
                ]),
            )
        })
        .and_then(|s| {
            s.with(
                "imap_default",
                Value::Map(vec![(Value::Int64(7), Value::from("seven"))]),
            )
        })
        .and_then(|s| s.with("nested", inner(1, &["x"], inner_schema())))
        .and_then(|s| s.with("opt_nested", inner(2, &[], optional_inner_schema())))
        .and_then(|s| {
            s.with(
                "nested_list",
                Value::Array(vec![
                    inner(3, &["p", "q"], inner_schema()),
                    inner(4, &[], inner_schema()),
                ]),
            )
        })
        .and_then(|s| s.with("unnamed", unnamed))
        .expect("everything value");
    Value::Struct(s)
}

fn mock(scope: &str) -> Properties {
    test_props(&[("schema.registry.url", &format!("mock://{scope}"))])
}

fn converter(props: &Properties, is_key: bool) -> AvroConverter {
    let mut c = AvroConverter::new();
    c.configure(props, is_key).expect("configure");
    c
}

fn write(c: &mut AvroConverter, topic: &str, schema: &Schema, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(c
        .from_connect(topic, Some(schema), value, &mut out)
        .expect("from_connect"));
    out
}

fn assert_round_trip(c: &mut AvroConverter, schema: &SchemaRef, value: &Value) {
    let bytes = write(c, "topic", schema, value);
    let back = c.to_connect("topic", Some(&bytes)).expect("to_connect");
    assert_eq!(back.schema.as_ref(), Some(schema), "schema of {value:?}");
    assert_eq!(&back.value, value);
}

fn top_level_cases() -> Vec<(SchemaRef, Value)> {
    vec![
        (Schema::int8(), Value::Int8(-128)),
        (Schema::int16(), Value::Int16(i16::MAX)),
        (Schema::int32(), Value::Int32(i32::MIN)),
        (Schema::int64(), Value::Int64(i64::MAX)),
        (Schema::float32(), Value::Float32(f32::MIN_POSITIVE)),
        (Schema::float64(), Value::Float64(1e300)),
        (Schema::boolean(), Value::Boolean(false)),
        (Schema::string(), Value::from("")),
        (Schema::bytes(), Value::Bytes(vec![])),
        (Schema::optional_string(), Value::from("present")),
        (
            SchemaBuilder::array(Schema::optional_string()).build(),
            Value::Array(vec![Value::Null, "x".into()]),
        ),
        (
            SchemaBuilder::map(Schema::string(), Schema::float64()).build(),
            Value::Map(vec![("k".into(), Value::Float64(0.5))]),
        ),
        (
            SchemaBuilder::map(Schema::optional_string(), Schema::boolean()).build(),
            Value::Map(vec![(Value::Null, Value::Boolean(true))]),
        ),
        (decimal_schema(0), Decimal::new(7, 0).to_value()),
        (date_schema(), Value::Int32(-1)),
        (time_schema(), Value::Int32(0)),
        (timestamp_schema(), Value::Int64(-1)),
        (
            SchemaBuilder::int64()
                .name("com.example.Id")
                .version(4)
                .doc("an id")
                .build(),
            Value::Int64(12),
        ),
    ]
}

#[test]
fn every_type_round_trips_through_the_embedded_registry() {
    let mut c = converter(&mock("round-trip"), false);
    let schema = everything_schema();
    assert_round_trip(&mut c, &schema, &everything_value(&schema));
    for (schema, value) in top_level_cases() {
        assert_round_trip(&mut c, &schema, &value);
    }
}

#[test]
fn every_type_round_trips_through_the_http_registry() {
    let server = TestRegistry::start(None);
    let mut c = converter(&test_props(&[("schema.registry.url", &server.url)]), false);
    let schema = everything_schema();
    assert_round_trip(&mut c, &schema, &everything_value(&schema));
    for (schema, value) in top_level_cases() {
        assert_round_trip(&mut c, &schema, &value);
    }
    // A second converter (another worker) reads the ids the first wrote.
    let mut reader = converter(&test_props(&[("schema.registry.url", &server.url)]), false);
    let bytes = write(&mut c, "topic", &schema, &everything_value(&schema));
    let back = reader.to_connect("topic", Some(&bytes)).expect("read");
    assert_eq!(back.value, everything_value(&schema));
}

#[test]
fn wire_format_is_magic_zero_big_endian_id_and_avro_body() {
    let server = TestRegistry::start(None);
    let mut c = converter(&test_props(&[("schema.registry.url", &server.url)]), false);
    let schema = SchemaBuilder::struct_()
        .name("T")
        .field("n", Schema::int32())
        .field("s", Schema::string())
        .build();
    let value = Value::Struct(
        Struct::new(schema.clone())
            .with("n", 1)
            .and_then(|s| s.with("s", "a"))
            .expect("v"),
    );
    // A fresh registry gives the first schema id 1.
    assert_eq!(
        write(&mut c, "t", &schema, &value),
        vec![0, 0, 0, 0, 1, 0x02, 0x02, b'a']
    );

    // The embedded registry's id is the schema's deterministic id.
    let registry = Arc::new(EmbeddedRegistry::new());
    let mut e = AvroConverter::with_registry(registry, &Properties::new(), false).expect("c");
    let bytes = write(&mut e, "t", &schema, &value);
    let avro = AvroData::default()
        .from_connect_schema(&schema)
        .expect("avro");
    let id = EmbeddedRegistry::deterministic_id(&avro).expect("id");
    assert_eq!(bytes[0], 0);
    assert_eq!(bytes[1..5], id.to_be_bytes());
    assert_eq!(bytes[5..], [0x02, 0x02, b'a']);
}

#[test]
fn null_values_are_kafka_null_and_bad_bytes_are_clear_errors() {
    let mut c = converter(&mock("nulls"), false);
    let mut out = vec![7];
    assert!(!c
        .from_connect(
            "t",
            Some(&Schema::optional_string()),
            &Value::Null,
            &mut out
        )
        .expect("null"));
    assert!(!c
        .from_connect("t", None, &Value::Null, &mut out)
        .expect("null"));
    assert_eq!(out, vec![7]);
    let back = c.to_connect("t", None).expect("null");
    assert_eq!(
        back,
        SchemaAndValue {
            schema: None,
            value: Value::Null
        }
    );

    let err = c
        .from_connect("t", Some(&Schema::int32()), &Value::Null, &mut out)
        .unwrap_err();
    assert!(
        matches!(err, ConvertError::Data(DataError::NullForRequired { .. })),
        "{err}"
    );
    let err = c
        .from_connect("t", None, &Value::Int32(1), &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("needs a schema"), "{err}");
    // A value that does not fit leaves `out` untouched and names the field.
    let schema = SchemaBuilder::struct_()
        .field("a", Schema::int32())
        .field("nested", inner_schema())
        .build();
    let bad = Struct::new(schema.clone()).with("a", 1).expect("a");
    let err = c
        .from_connect("t", Some(&schema), &Value::Struct(bad), &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("value.nested"), "{err}");
    assert_eq!(out, vec![7]);

    let err = c.to_connect("t", Some(&[1, 0, 0, 0, 1, 2])).unwrap_err();
    assert!(err.to_string().contains("magic byte 1"), "{err}");
    let err = c.to_connect("t", Some(&[0, 0, 0])).unwrap_err();
    assert!(err.to_string().contains("too few"), "{err}");
}

#[test]
fn truncated_or_trailing_bytes_are_errors_not_panics() {
    let mut c = converter(&mock("truncated"), false);
    let schema = everything_schema();
    let bytes = write(&mut c, "t", &schema, &everything_value(&schema));
    for len in 0..bytes.len() {
        assert!(
            c.to_connect("t", Some(&bytes[..len])).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = c.to_connect("t", Some(&longer)).unwrap_err();
    assert!(err.to_string().contains("left over"), "{err}");
}

fn record_v1() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("com.example.Evolving")
        .field("a", Schema::int32())
        .build()
}

fn record_v2() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("com.example.Evolving")
        .field("a", Schema::int32())
        .field("b", Schema::optional_string())
        .build()
}

fn evolving_value(schema: &SchemaRef) -> Value {
    Value::Struct(Struct::new(schema.clone()).with("a", 1).expect("v"))
}

fn check_evolution(props: &Properties, registry: &dyn SchemaRegistry) {
    let mut c = converter(props, false);
    let (v1, v2) = (record_v1(), record_v2());
    let old = write(&mut c, "evolve", &v1, &evolving_value(&v1));
    let new = write(&mut c, "evolve", &v2, &evolving_value(&v2));
    assert_ne!(old[1..5], new[1..5], "a new version gets a new id");
    let latest = registry
        .latest("evolve-value")
        .expect("latest")
        .expect("some");
    assert_eq!(latest.id.to_be_bytes(), new[1..5]);
    assert_eq!(latest.version, 2);
    // Data written with v1 reads back with v1's schema, by its id.
    let mut reader = converter(props, false);
    let back = reader.to_connect("evolve", Some(&old)).expect("old");
    assert_eq!(back.schema, Some(v1.clone()));
    assert_eq!(back.value, evolving_value(&v1));
    let back = reader.to_connect("evolve", Some(&new)).expect("new");
    assert_eq!(back.schema, Some(v2.clone()));
    // Registering v1 again changes nothing.
    assert_eq!(
        write(
            &mut converter(props, false),
            "evolve",
            &v1,
            &evolving_value(&v1)
        ),
        old
    );
}

#[test]
fn schema_evolution_gives_new_ids_and_old_data_keeps_its_schema() {
    check_evolution(&mock("evolution"), &*EmbeddedRegistry::scoped("evolution"));
    let server = TestRegistry::start(None);
    let props = test_props(&[("schema.registry.url", &server.url)]);
    let client = HttpRegistry::new(&HttpRegistryConfig {
        urls: vec![server.url.clone()],
        user_info: None,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
    })
    .expect("client");
    check_evolution(&props, &client);
}

#[test]
fn subject_name_strategies_pick_the_subject() {
    let schema = record_v1();
    let value = evolving_value(&schema);
    let avro = AvroData::default()
        .from_connect_schema(&schema)
        .expect("avro");
    let cases = [
        (
            "io.confluent.kafka.serializers.subject.TopicNameStrategy",
            false,
            "orders-value",
        ),
        ("TopicNameStrategy", true, "orders-key"),
        (
            "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            false,
            "com.example.Evolving",
        ),
        (
            "TopicRecordNameStrategy",
            true,
            "orders-com.example.Evolving",
        ),
    ];
    for (i, (strategy, is_key, subject)) in cases.into_iter().enumerate() {
        let scope = format!("strategy-{i}");
        let key = if is_key {
            "key.subject.name.strategy"
        } else {
            "value.subject.name.strategy"
        };
        let props = test_props(&[
            ("schema.registry.url", &format!("mock://{scope}")),
            (key, strategy),
        ]);
        write(&mut converter(&props, is_key), "orders", &schema, &value);
        let registry = EmbeddedRegistry::scoped(&scope);
        assert!(
            registry.lookup(subject, &avro).expect("lookup").is_some(),
            "{strategy}: {subject}"
        );
        assert_eq!(
            registry.latest("orders-value").expect("latest").is_some(),
            subject == "orders-value"
        );
    }
}

#[test]
fn configuration_problems_are_reported_together() {
    let props = test_props(&[
        ("schema.registry.url", "ftp://registry"),
        ("key.subject.name.strategy", "com.example.Mine"),
        ("value.subject.name.strategy", "Nope"),
        ("basic.auth.credentials.source", "USER_INFO"),
        ("schemas.cache.config", "0"),
    ]);
    let issues = AvroConverter::new().configure(&props, false).unwrap_err();
    // The ConfigDef's own checks come first, alone.
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].key, "schemas.cache.config");
    let mut props = props;
    props.remove("schemas.cache.config");
    let issues = AvroConverter::new().configure(&props, false).unwrap_err();
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "key.subject.name.strategy",
            "value.subject.name.strategy",
            "basic.auth.user.info",
            "schema.registry.url"
        ],
        "{issues:?}"
    );
    assert!(avro_config_def().key("auto.register.schemas").is_some());
    let err = AvroConverter::new()
        .to_connect("t", Some(&[0, 0, 0, 0, 1]))
        .unwrap_err();
    assert!(err.to_string().contains("before configure"), "{err}");
}

#[test]
fn without_auto_register_the_schema_must_exist() {
    let props = test_props(&[
        ("schema.registry.url", "mock://no-auto"),
        ("auto.register.schemas", "false"),
    ]);
    let schema = record_v1();
    let value = evolving_value(&schema);
    let mut strict = converter(&props, false);
    let mut out = Vec::new();
    let err = strict
        .from_connect("t", Some(&schema), &value, &mut out)
        .unwrap_err();
    assert!(!err.is_retriable());
    assert!(
        err.to_string().contains("auto.register.schemas=false"),
        "{err}"
    );
    let registered = write(
        &mut converter(&mock("no-auto"), false),
        "t",
        &schema,
        &value,
    );
    assert_eq!(write(&mut strict, "t", &schema, &value), registered);

    // use.latest.version: the latest schema's id, if it encodes alike.
    let mut latest = converter(
        &test_props(&[
            ("schema.registry.url", "mock://no-auto"),
            ("auto.register.schemas", "false"),
            ("use.latest.version", "true"),
        ]),
        false,
    );
    assert_eq!(write(&mut latest, "t", &schema, &value), registered);
    let v2 = record_v2();
    let err = latest
        .from_connect("t", Some(&v2), &evolving_value(&v2), &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("does not encode like"), "{err}");
}

#[test]
fn http_basic_auth_success_and_401() {
    let server = TestRegistry::start(Some("alice:s3cret"));
    let schema = record_v1();
    let value = evolving_value(&schema);
    for (props, label) in [
        (
            test_props(&[
                ("schema.registry.url", &server.url),
                ("basic.auth.credentials.source", "USER_INFO"),
                ("basic.auth.user.info", "alice:s3cret"),
            ]),
            "USER_INFO",
        ),
        (
            test_props(&[
                ("schema.registry.url", &server.url),
                ("basic.auth.credentials.source", "USER_INFO"),
                ("schema.registry.basic.auth.user.info", "alice:s3cret"),
            ]),
            "old key",
        ),
        (
            test_props(&[(
                "schema.registry.url",
                &server.url.replace("http://", "http://alice:s3cret@"),
            )]),
            "URL",
        ),
    ] {
        let mut c = converter(&props, false);
        let bytes = write(&mut c, "auth", &schema, &value);
        assert_eq!(
            c.to_connect("auth", Some(&bytes)).expect(label).value,
            value
        );
    }

    let mut wrong = converter(
        &test_props(&[
            ("schema.registry.url", &server.url),
            ("basic.auth.credentials.source", "USER_INFO"),
            ("basic.auth.user.info", "alice:wrong"),
        ]),
        false,
    );
    let err = wrong
        .from_connect("auth", Some(&schema), &value, &mut Vec::new())
        .unwrap_err();
    let text = err.to_string();
    assert!(!err.is_retriable(), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("Unauthorized"), "{text}");
    assert!(text.contains("basic.auth.user.info"), "{text}");
    assert!(!text.contains("wrong"), "{text}");
}

#[test]
fn http_unknown_id_is_a_clear_permanent_error() {
    let server = TestRegistry::start(None);
    let mut c = converter(&test_props(&[("schema.registry.url", &server.url)]), false);
    let err = c.to_connect("t", Some(&[0, 0, 0, 3, 0xe7, 0])).unwrap_err();
    let text = err.to_string();
    assert!(!err.is_retriable(), "{text}");
    assert!(text.contains("fetching schema id 999"), "{text}");
    assert!(text.contains("HTTP 404"), "{text}");
    assert!(text.contains("40403"), "{text}");
}

#[test]
fn http_connection_refused_and_5xx_are_retriable() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let mut c = converter(&test_props(&[("schema.registry.url", &url)]), false);
    let schema = record_v1();
    let err = c
        .from_connect(
            "t",
            Some(&schema),
            &evolving_value(&schema),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(err.is_retriable(), "{err}");
    assert!(
        err.to_string().contains("cannot reach the schema registry"),
        "{err}"
    );
    assert_eq!(
        err.exception_class(),
        "org.apache.kafka.connect.errors.RetriableException"
    );

    // With a second URL that answers, the converter goes on.
    let server = TestRegistry::start(None);
    let both = format!("{url},{}", server.url);
    let mut c = converter(&test_props(&[("schema.registry.url", &both)]), false);
    write(&mut c, "t", &schema, &evolving_value(&schema));

    server
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = c.to_connect("t", Some(&[0, 0, 0, 0, 9, 0])).unwrap_err();
    assert!(err.is_retriable(), "{err}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
}

#[test]
fn http_hot_path_makes_no_calls() {
    let server = TestRegistry::start(None);
    let mut c = converter(&test_props(&[("schema.registry.url", &server.url)]), false);
    let schema = everything_schema();
    let value = everything_value(&schema);
    let bytes = write(&mut c, "hot", &schema, &value);
    c.to_connect("hot", Some(&bytes)).expect("read");
    let calls = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..50 {
        // A schema equal to, but not the same allocation as, the first.
        let copy = Arc::new((*schema).clone());
        let bytes = write(&mut c, "hot", &copy, &value);
        c.to_connect("hot", Some(&bytes)).expect("read");
    }
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        calls
    );
}

#[test]
fn key_and_value_converters_and_workers_share_the_embedded_registry() {
    let schema = record_v1();
    let value = evolving_value(&schema);
    let mut key = converter(&Properties::new(), true);
    let mut val = converter(&Properties::new(), false);
    let k = write(&mut key, "shared", &schema, &value);
    let v = write(&mut val, "shared", &schema, &value);
    assert_eq!(k[1..5], v[1..5], "same schema, same id");
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let v = v.clone();
            std::thread::spawn(move || {
                converter(&Properties::new(), false).to_connect("shared", Some(&v))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("join").expect("read").value, value);
    }
}

#[test]
fn multi_type_unions_round_trip_as_confluent_union_structs() {
    let avro =
        r#"["int","string",{"type":"record","name":"Pt","fields":[{"name":"x","type":"int"}]}]"#;
    let registry = EmbeddedRegistry::scoped("unions");
    let id = registry.register("foreign-value", avro).expect("register");
    let parsed = apache_avro::Schema::parse_str(avro).expect("parse");
    let body = apache_avro::writer::datum::GenericDatumWriter::builder(&parsed)
        .build()
        .and_then(|w| {
            w.write_value_to_vec(apache_avro::types::Value::Union(
                1,
                Box::new(apache_avro::types::Value::String("hi".into())),
            ))
        })
        .expect("encode");
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend_from_slice(&body);

    let mut c = converter(&mock("unions"), false);
    let back = c.to_connect("foreign", Some(&bytes)).expect("read");
    let schema = back.schema.clone().expect("schema");
    assert_eq!(schema.name.as_deref(), Some(schema::AVRO_TYPE_UNION));
    let Value::Struct(s) = &back.value else {
        panic!("not a struct: {:?}", back.value);
    };
    assert_eq!(s.get("string"), Some(&Value::from("hi")));
    assert_eq!(s.get("int"), Some(&Value::Null));

    // Written again, the body is the same union member.
    let again = write(&mut c, "foreign", &schema, &back.value);
    assert_eq!(again[5..], body[..]);
    assert_eq!(c.to_connect("foreign", Some(&again)).expect("read"), back);
}
