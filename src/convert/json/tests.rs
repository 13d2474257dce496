//! Byte-exact vectors for [`JsonConverter`], written out from Kafka's
//! documented format, plus round-trips and errors.

use super::*;
use crate::data::logical::{date_schema, decimal_schema, time_schema, timestamp_schema, Decimal};

fn conv(pairs: &[(&str, &str)]) -> JsonConverter {
    let props: Properties = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    match JsonConverter::configured(&props, false) {
        Ok(c) => c,
        Err(issues) => panic!("{issues:?}"),
    }
}

fn json_with(c: &mut JsonConverter, schema: Option<&Schema>, value: &Value) -> String {
    let mut out = Vec::new();
    let written = c.from_connect("t", schema, value, &mut out).unwrap();
    assert!(written);
    String::from_utf8(out).unwrap()
}

fn json(schema: &Schema, value: impl Into<Value>) -> String {
    json_with(&mut JsonConverter::new(), Some(schema), &value.into())
}

fn plain(schema: &Schema, value: impl Into<Value>) -> String {
    json_with(
        &mut conv(&[("schemas.enable", "false")]),
        Some(schema),
        &value.into(),
    )
}

fn row_schema() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("com.example.Row")
        .field("id", Schema::int64())
        .field("name", Schema::optional_string())
        .build()
}

#[test]
fn int_types_write_plain_numbers_with_their_schema() {
    assert_eq!(
        json(&Schema::int32(), 42i32),
        r#"{"schema":{"type":"int32","optional":false},"payload":42}"#
    );
    assert_eq!(
        json(&Schema::int8(), -128i8),
        r#"{"schema":{"type":"int8","optional":false},"payload":-128}"#
    );
    assert_eq!(
        json(&Schema::optional_int16(), 300i16),
        r#"{"schema":{"type":"int16","optional":true},"payload":300}"#
    );
    assert_eq!(
        json(&Schema::int64(), i64::MIN),
        r#"{"schema":{"type":"int64","optional":false},"payload":-9223372036854775808}"#
    );
}

#[test]
fn doubles_are_written_as_java_double_to_string() {
    let cases = [
        (1.0e7, "1.0E7"),
        (1.0e-4, "1.0E-4"),
        (1.0e-5, "1.0E-5"),
        (0.001, "0.001"),
        (123.456, "123.456"),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (f64::NAN, "\"NaN\""),
        (f64::INFINITY, "\"Infinity\""),
        (f64::NEG_INFINITY, "\"-Infinity\""),
    ];
    for (v, payload) in cases {
        assert_eq!(
            json(&Schema::float64(), v),
            format!(r#"{{"schema":{{"type":"double","optional":false}},"payload":{payload}}}"#)
        );
    }
}

#[test]
fn floats_are_written_as_java_float_to_string() {
    assert_eq!(
        json(&Schema::float32(), 0.1f32),
        r#"{"schema":{"type":"float","optional":false},"payload":0.1}"#
    );
    assert_eq!(plain(&Schema::float32(), 1.0e10f32), "1.0E10");
    assert_eq!(plain(&Schema::float32(), f32::NAN), "\"NaN\"");
}

#[test]
fn booleans_strings_and_bytes() {
    assert_eq!(
        json(&Schema::boolean(), true),
        r#"{"schema":{"type":"boolean","optional":false},"payload":true}"#
    );
    assert_eq!(
        json(&Schema::string(), "q\"b\\s/l\u{1}\u{1f}\n\té☃"),
        "{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"q\\\"b\\\\s/l\\u0001\\u001F\\n\\té☃\"}"
    );
    assert_eq!(
        json(&Schema::bytes(), vec![1u8, 2, 3, 0xfb, 0xff]),
        r#"{"schema":{"type":"bytes","optional":false},"payload":"AQID+/8="}"#
    );
}

#[test]
fn characters_beyond_the_bmp_are_escaped_surrogate_pairs_as_jackson_writes_them() {
    // 😀 is U+1F600: Jackson writes "\uD83D\uDE00"; é and ☃ (BMP) stay raw.
    assert_eq!(
        plain(&Schema::string(), "a😀é☃🎉z"),
        r#""a\uD83D\uDE00é☃\uD83C\uDF89z""#
    );
    // Field names and map keys are strings too.
    let schema = SchemaBuilder::struct_()
        .field(
            "k😀",
            SchemaBuilder::map(Schema::string(), Schema::string()).build(),
        )
        .build();
    let mut v = Struct::new(schema.clone());
    v.put(
        "k😀",
        Value::Map(vec![(Value::from("𝄞"), Value::from("x"))]),
    )
    .unwrap();
    assert_eq!(
        plain(&schema, v),
        r#"{"k\uD83D\uDE00":{"\uD834\uDD1E":"x"}}"#
    );
    // And they read back as the characters they stand for.
    let mut c = conv(&[("schemas.enable", "false")]);
    let back = read(&mut c, r#""a\uD83D\uDE00""#).unwrap();
    assert_eq!(back.value, Value::from("a😀"));
}

#[test]
fn schema_parameters_keep_insertion_order_as_kafka_does() {
    let s = SchemaBuilder::string()
        .name("n")
        .parameter("zeta", "1")
        .parameter("alpha", "2")
        .parameter("mid", "3")
        .build();
    assert_eq!(
        json(&s, Value::from("y")),
        r#"{"schema":{"type":"string","optional":false,"name":"n","parameters":{"zeta":"1","alpha":"2","mid":"3"}},"payload":"y"}"#
    );
    // Reading keeps the order of the text, so the schema writes back the same.
    let text = r#"{"schema":{"type":"string","optional":false,"name":"n","parameters":{"b":"1","a":"2"}},"payload":"y"}"#;
    let mut c = conv(&[]);
    let back = read(&mut c, text).unwrap();
    assert_eq!(json_with(&mut c, back.schema.as_deref(), &back.value), text);
}

#[test]
fn arrays_and_string_keyed_maps() {
    let arr = SchemaBuilder::array(Schema::int32()).build();
    assert_eq!(
        json(&arr, vec![Value::Int32(1), Value::Int32(2)]),
        r#"{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2]}"#
    );
    let map = SchemaBuilder::map(Schema::string(), Schema::int64()).build();
    let v = Value::Map(vec![
        (Value::from("b"), Value::Int64(2)),
        (Value::from("a"), Value::Int64(1)),
    ]);
    assert_eq!(
        json(&map, v),
        r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":false},"payload":{"b":2,"a":1}}"#
    );
}

#[test]
fn maps_with_non_string_keys_are_pair_arrays() {
    let map = SchemaBuilder::map(Schema::int32(), Schema::optional_string()).build();
    let v = Value::Map(vec![
        (Value::Int32(1), Value::from("a")),
        (Value::Int32(2), Value::Null),
    ]);
    assert_eq!(
        json(&map, v.clone()),
        r#"{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":true},"optional":false},"payload":[[1,"a"],[2,null]]}"#
    );
    assert_eq!(plain(&map, v), r#"[[1,"a"],[2,null]]"#);
}

#[test]
fn nested_struct_writes_fields_in_order_with_field_names_last() {
    let inner = SchemaBuilder::struct_()
        .name("Inner")
        .field("x", Schema::float64())
        .build();
    let outer = SchemaBuilder::struct_()
        .name("Outer")
        .version(3)
        .doc("a row")
        .field("id", Schema::int32())
        .field("inner", inner.clone())
        .field(
            "tags",
            SchemaBuilder::array(Schema::string()).optional().build(),
        )
        .build();
    let v = Struct::new(outer.clone())
        .with("id", 1i32)
        .unwrap()
        .with("inner", Struct::new(inner).with("x", 0.5).unwrap())
        .unwrap()
        .with("tags", vec![Value::from("a")])
        .unwrap();
    assert_eq!(
        json(&outer, v),
        concat!(
            r#"{"schema":{"type":"struct","fields":["#,
            r#"{"type":"int32","optional":false,"field":"id"},"#,
            r#"{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"}],"optional":false,"name":"Inner","field":"inner"},"#,
            r#"{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"tags"}"#,
            r#"],"optional":false,"name":"Outer","version":3,"doc":"a row"},"#,
            r#""payload":{"id":1,"inner":{"x":0.5},"tags":["a"]}}"#
        )
    );
}

#[test]
fn schema_keys_come_in_kafka_order() {
    let s = SchemaBuilder::string()
        .optional()
        .name("n")
        .version(2)
        .doc("d")
        .parameter("k", "v")
        .default_value(Value::from("x"))
        .build();
    assert_eq!(
        json(&s, Value::from("y")),
        r#"{"schema":{"type":"string","optional":true,"name":"n","version":2,"doc":"d","parameters":{"k":"v"},"default":"x"},"payload":"y"}"#
    );
}

#[test]
fn decimal_is_base64_by_default_and_numeric_on_request() {
    let schema = decimal_schema(2);
    let v = Decimal::new(1230, 2).to_value();
    let schema_json = r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}"#;
    assert_eq!(
        json(&schema, v.clone()),
        format!(r#"{{"schema":{schema_json},"payload":"BM4="}}"#)
    );
    let mut numeric = conv(&[("decimal.format", "numeric")]);
    assert_eq!(
        json_with(&mut numeric, Some(&schema), &v),
        format!(r#"{{"schema":{schema_json},"payload":12.30}}"#)
    );
    let tiny = decimal_schema(9);
    let mut numeric = conv(&[("decimal.format", "NUMERIC"), ("schemas.enable", "false")]);
    assert_eq!(
        json_with(&mut numeric, Some(&tiny), &Decimal::new(-5, 9).to_value()),
        "-5E-9"
    );
}

#[test]
fn date_time_and_timestamp_write_their_encodings() {
    assert_eq!(
        json(&date_schema(), Value::Int32(19782)),
        r#"{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":19782}"#
    );
    assert_eq!(
        json(&time_schema(), Value::Int32(3_600_000)),
        r#"{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1},"payload":3600000}"#
    );
    assert_eq!(
        json(&timestamp_schema(), Value::Int64(1_700_000_000_123)),
        r#"{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":1700000000123}"#
    );
}

#[test]
fn optional_null_without_default_is_null() {
    assert_eq!(
        json(&Schema::optional_string(), Value::Null),
        r#"{"schema":{"type":"string","optional":true},"payload":null}"#
    );
    assert_eq!(plain(&Schema::optional_string(), Value::Null), "null");
}

#[test]
fn null_with_default_writes_the_default_unless_told_not_to() {
    let s = SchemaBuilder::int32()
        .optional()
        .default_value(Value::Int32(5))
        .build();
    assert_eq!(
        json(&s, Value::Null),
        r#"{"schema":{"type":"int32","optional":true,"default":5},"payload":5}"#
    );
    let mut keep = conv(&[("replace.null.with.default", "false")]);
    assert_eq!(
        json_with(&mut keep, Some(&s), &Value::Null),
        r#"{"schema":{"type":"int32","optional":true,"default":5},"payload":null}"#
    );
}

#[test]
fn struct_field_null_with_default_follows_replace_setting() {
    let schema = SchemaBuilder::struct_()
        .field(
            "n",
            SchemaBuilder::int32()
                .optional()
                .default_value(Value::Int32(7))
                .build(),
        )
        .build();
    let v = Value::Struct(Struct::new(schema.clone()));
    let mut replace = conv(&[("schemas.enable", "false")]);
    assert_eq!(json_with(&mut replace, Some(&schema), &v), r#"{"n":7}"#);
    let mut keep = conv(&[
        ("schemas.enable", "false"),
        ("replace.null.with.default", "false"),
    ]);
    assert_eq!(json_with(&mut keep, Some(&schema), &v), r#"{"n":null}"#);
}

#[test]
fn schemas_disabled_writes_the_payload_alone() {
    let row = Struct::new(row_schema()).with("id", 1i64).unwrap();
    assert_eq!(plain(&row_schema(), row), r#"{"id":1,"name":null}"#);
}

#[test]
fn schemaless_values_are_inferred_and_null_is_no_bytes() {
    let mut c = JsonConverter::new();
    let mut out = Vec::new();
    assert!(!c.from_connect("t", None, &Value::Null, &mut out).unwrap());
    assert!(out.is_empty());
    let v = Value::Map(vec![(
        Value::from("a"),
        Value::Array(vec![Value::Int64(1), Value::Float64(2.5)]),
    )]);
    assert_eq!(
        json_with(&mut c, None, &v),
        r#"{"schema":null,"payload":{"a":[1,2.5]}}"#
    );
    let pairs = Value::Map(vec![(Value::Int32(1), Value::Boolean(true))]);
    assert_eq!(
        json_with(&mut c, None, &pairs),
        r#"{"schema":null,"payload":[[1,true]]}"#
    );
}

#[test]
fn appends_to_existing_buffer_and_caches_schema() {
    let mut c = JsonConverter::new();
    let schema = row_schema();
    let mut out = b"prefix|".to_vec();
    for id in 0..3i64 {
        let row = Struct::new(schema.clone()).with("id", id).unwrap();
        c.from_connect("t", Some(&schema), &Value::Struct(row), &mut out)
            .unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("prefix|{\"schema\""));
    assert_eq!(text.matches("\"payload\"").count(), 3);
    assert!(
        text.ends_with(r#""payload":{"id":2,"name":null}}"#),
        "{text}"
    );
    assert!(c.from_cache.map.contains_key(&addr(&schema)));
}

#[test]
fn value_not_matching_schema_names_field_and_types() {
    let mut c = JsonConverter::new();
    let mut out = b"keep".to_vec();
    let err = c
        .from_connect("t", Some(&Schema::int32()), &Value::from("x"), &mut out)
        .unwrap_err();
    assert_eq!(err.to_string(), "field `value`: expected INT32, got STRING");
    assert_eq!(out, b"keep", "nothing appended on error");

    let arr = SchemaBuilder::array(Schema::int64()).build();
    let err = c
        .from_connect(
            "t",
            Some(&arr),
            &Value::Array(vec![Value::Int64(1), Value::Int32(2)]),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `value[1]`: expected INT64, got INT32"
    );

    let map = SchemaBuilder::map(Schema::string(), Schema::int64()).build();
    let bad = Value::Map(vec![(Value::from("k"), Value::Boolean(true))]);
    let err = c.from_connect("t", Some(&map), &bad, &mut out).unwrap_err();
    assert!(
        matches!(err, ConvertError::Data(DataError::TypeMismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("k"), "{err}");
}

#[test]
fn required_null_without_default_is_an_error() {
    let mut c = JsonConverter::new();
    let err = c
        .from_connect("t", Some(&Schema::string()), &Value::Null, &mut Vec::new())
        .unwrap_err();
    assert_eq!(
        err,
        ConvertError::Data(DataError::NullForRequired {
            field: "value".into(),
            expected: "STRING".into()
        })
    );
    let mut key = JsonConverter::configured(&Properties::new(), true).unwrap();
    let err = key
        .from_connect("t", Some(&Schema::string()), &Value::Null, &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().starts_with("field `key`"), "{err}");
}

#[test]
fn struct_with_other_schema_is_rejected() {
    let other = SchemaBuilder::struct_().field("z", Schema::int8()).build();
    let v = Value::Struct(Struct::new(other));
    let err = JsonConverter::new()
        .from_connect("t", Some(&row_schema()), &v, &mut Vec::new())
        .unwrap_err();
    assert!(
        matches!(err, ConvertError::Data(DataError::Invalid { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("Mismatching schema"), "{err}");
}

/// For the inputs Kafka's `JsonConverter` rejects too, our message holds
/// Kafka's words, so a user searching for them finds what Kafka users wrote.
#[test]
fn errors_for_inputs_kafka_rejects_carry_kafkas_text() {
    let mut c = JsonConverter::new();
    let mut write_err = |schema: &Schema, value: Value| {
        c.from_connect("t", Some(schema), &value, &mut Vec::new())
            .unwrap_err()
            .to_string()
    };
    let cases_write = [
        (
            write_err(&Schema::string(), Value::Null),
            "null value for field that is required and has no default value",
        ),
        (
            write_err(
                &row_schema(),
                Value::Struct(Struct::new(
                    SchemaBuilder::struct_().field("z", Schema::int8()).build(),
                )),
            ),
            "Mismatching schema",
        ),
    ];
    let mut c = JsonConverter::new();
    let mut read_err = |text: &str| read(&mut c, text).unwrap_err().to_string();
    let cases_read = [
        (read_err("{"), "Converting byte[] to Kafka Connect data failed due to serialization error"),
        (read_err(r#"{"payload":1}"#), "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration."),
        (read_err(r#"{"schema":{"optional":false},"payload":1}"#), "Schema must contain 'type' field"),
        (read_err(r#"{"schema":{"type":"nope"},"payload":1}"#), "Unknown schema type: nope"),
        (read_err(r#"{"schema":{"type":"array"},"payload":[]}"#), "Array schema did not specify the element type"),
        (read_err(r#"{"schema":{"type":"map","values":{"type":"int8"}},"payload":{}}"#), "Map schema did not specify the key type"),
        (read_err(r#"{"schema":{"type":"map","keys":{"type":"int8"}},"payload":{}}"#), "Map schema did not specify the value type"),
        (read_err(r#"{"schema":{"type":"struct","fields":{}},"payload":{}}"#), "Struct schema's \"fields\" argument is not an array."),
        (read_err(r#"{"schema":{"type":"struct","fields":[{"type":"int8"}]},"payload":{}}"#), "Struct schema's field name not specified properly"),
        (read_err(r#"{"schema":{"type":"int8","parameters":{"a":1}},"payload":1}"#), "Schema parameters must have string values."),
        (read_err(r#"{"schema":{"type":"int64","optional":false},"payload":null}"#), "null value for field that is required and has no default value"),
    ];
    for (got, kafka) in cases_write.iter().chain(cases_read.iter()) {
        assert!(got.contains(kafka), "`{got}` lacks Kafka's text `{kafka}`");
    }
}

// ------------------------------------------------------------- reading

fn read(c: &mut JsonConverter, text: &str) -> Result<SchemaAndValue, ConvertError> {
    c.to_connect("t", Some(text.as_bytes()))
}

fn round_trip(c: &mut JsonConverter, schema: &SchemaRef, value: Value) {
    let mut out = Vec::new();
    c.from_connect("t", Some(schema), &value, &mut out).unwrap();
    let back = c.to_connect("t", Some(&out)).unwrap();
    if c.schemas_enabled() {
        assert_eq!(
            back.schema.as_deref(),
            Some(&**schema),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    match (&back.value, &value) {
        (Value::Float64(a), Value::Float64(b)) => assert_eq!(a.to_bits(), b.to_bits()),
        (Value::Float32(a), Value::Float32(b)) => assert_eq!(a.to_bits(), b.to_bits()),
        (a, b) => assert_eq!(a, b, "{}", String::from_utf8_lossy(&out)),
    }
}

fn every_type() -> Vec<(SchemaRef, Value)> {
    let inner = SchemaBuilder::struct_()
        .name("Inner")
        .field("d", decimal_schema(3))
        .field("when", timestamp_schema())
        .build();
    let outer = SchemaBuilder::struct_()
        .name("Outer")
        .doc("doc \"quoted\"")
        .field("i8", Schema::int8())
        .field("s", Schema::optional_string())
        .field("inner", inner.clone())
        .field(
            "m",
            SchemaBuilder::map(
                Schema::int16(),
                SchemaBuilder::array(Schema::float32()).build(),
            )
            .build(),
        )
        .field(
            "opt",
            SchemaBuilder::int64()
                .optional()
                .default_value(Value::Int64(9))
                .build(),
        )
        .build();
    let inner_v = Struct::new(inner)
        .with("d", Decimal::new(-123_456, 3).to_value())
        .unwrap()
        .with("when", Value::Int64(1_700_000_000_000))
        .unwrap();
    let outer_v = Struct::new(outer.clone())
        .with("i8", 5i8)
        .unwrap()
        .with("s", "x\u{0}y")
        .unwrap()
        .with("inner", inner_v)
        .unwrap()
        .with(
            "m",
            Value::Map(vec![(
                Value::Int16(-1),
                Value::Array(vec![Value::Float32(0.1), Value::Float32(f32::INFINITY)]),
            )]),
        )
        .unwrap()
        .with("opt", 3i64)
        .unwrap();
    vec![
        (Schema::int8(), Value::Int8(i8::MIN)),
        (Schema::int16(), Value::Int16(i16::MAX)),
        (Schema::int32(), Value::Int32(-7)),
        (Schema::int64(), Value::Int64(i64::MAX)),
        (Schema::float32(), Value::Float32(3.4028235e38)),
        (Schema::float64(), Value::Float64(1.0e-300)),
        (Schema::float64(), Value::Float64(f64::NEG_INFINITY)),
        (Schema::float64(), Value::Float64(f64::NAN)),
        (Schema::boolean(), Value::Boolean(false)),
        (Schema::string(), Value::from("é\"\\\u{1}")),
        (Schema::bytes(), Value::Bytes(vec![0, 255, 7])),
        (Schema::optional_string(), Value::Null),
        (
            SchemaBuilder::array(Schema::optional_int32()).build(),
            Value::Array(vec![Value::Int32(1), Value::Null]),
        ),
        (
            SchemaBuilder::map(Schema::string(), Schema::boolean()).build(),
            Value::Map(vec![
                (Value::from("z"), Value::Boolean(true)),
                (Value::from("a"), Value::Boolean(false)),
            ]),
        ),
        (decimal_schema(2), Decimal::new(1230, 2).to_value()),
        (date_schema(), Value::Int32(-1)),
        (time_schema(), Value::Int32(86_399_999)),
        (timestamp_schema(), Value::Int64(-5)),
        (outer, Value::Struct(outer_v)),
    ]
}

#[test]
fn every_type_round_trips_with_schemas() {
    let mut c = JsonConverter::new();
    for (schema, value) in every_type() {
        round_trip(&mut c, &schema, value);
    }
}

#[test]
fn every_type_round_trips_with_numeric_decimals() {
    let mut c = conv(&[("decimal.format", "NUMERIC")]);
    for (schema, value) in every_type() {
        round_trip(&mut c, &schema, value);
    }
}

#[test]
fn to_connect_restores_logical_schemas_and_shares_equal_schemas() {
    let mut c = JsonConverter::new();
    let text = r#"{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"BM4="}"#;
    let a = read(&mut c, text).unwrap();
    assert_eq!(a.schema.as_deref(), Some(&*decimal_schema(2)));
    assert_eq!(a.value, Decimal::new(1230, 2).to_value());
    let b = read(&mut c, text).unwrap();
    assert!(Arc::ptr_eq(
        a.schema.as_ref().unwrap(),
        b.schema.as_ref().unwrap()
    ));
    // A number payload is rescaled to the schema's scale.
    let numeric = text.replace("\"BM4=\"", "12.3");
    assert_eq!(
        read(&mut c, &numeric).unwrap().value,
        Decimal::new(1230, 2).to_value()
    );
    let too_fine = text.replace("\"BM4=\"", "12.345");
    assert!(read(&mut c, &too_fine).is_err());
}

#[test]
fn to_connect_fills_missing_fields_with_defaults() {
    let mut c = JsonConverter::new();
    let text = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"default":4,"field":"n"},{"type":"string","optional":true,"field":"s"}],"optional":false},"payload":{}}"#;
    let v = read(&mut c, text).unwrap();
    let Value::Struct(st) = v.value else {
        panic!("not a struct")
    };
    assert_eq!(st.get_without_default("n"), Some(&Value::Int32(4)));
    assert_eq!(st.get("s"), Some(&Value::Null));
    let mut keep = conv(&[("replace.null.with.default", "false")]);
    let v = read(&mut keep, text).unwrap();
    let Value::Struct(st) = v.value else {
        panic!("not a struct")
    };
    assert_eq!(st.get_without_default("n"), Some(&Value::Null));
}

#[test]
fn schemaless_reading_infers_kafka_types() {
    let mut c = conv(&[("schemas.enable", "false")]);
    let v = read(
        &mut c,
        r#" {"a": [1, 2.5, "s", true, null], "b": {"c": -3}} "#,
    )
    .unwrap();
    assert_eq!(v.schema, None);
    assert_eq!(
        v.value,
        Value::Map(vec![
            (
                Value::from("a"),
                Value::Array(vec![
                    Value::Int64(1),
                    Value::Float64(2.5),
                    Value::from("s"),
                    Value::Boolean(true),
                    Value::Null
                ])
            ),
            (
                Value::from("b"),
                Value::Map(vec![(Value::from("c"), Value::Int64(-3))])
            ),
        ])
    );
    assert_eq!(
        read(&mut c, "\"\\u00e9\\n\\ud83d\\ude00\"").unwrap().value,
        Value::from("é\n😀")
    );
    assert_eq!(c.to_connect("t", None).unwrap().value, Value::Null);
    // The envelope's null schema reads the same way.
    let mut env = JsonConverter::new();
    assert_eq!(
        read(&mut env, r#"{"payload":7,"schema":null}"#).unwrap(),
        SchemaAndValue {
            schema: None,
            value: Value::Int64(7)
        }
    );
}

#[test]
fn malformed_json_is_a_serialization_error() {
    let mut c = conv(&[("schemas.enable", "false")]);
    for bad in [
        "{",
        "[1,]",
        "01",
        "{\"a\" 1}",
        "\"\u{1}\"",
        "nul",
        "1 2",
        "\"\\x\"",
        "NaN",
    ] {
        let err = read(&mut c, bad).unwrap_err();
        assert!(
            matches!(err, ConvertError::Serialization(_)),
            "{bad}: {err}"
        );
    }
    let err = c.to_connect("t", Some(&[0xff, 0xfe])).unwrap_err();
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn envelope_missing_schema_or_payload_is_rejected() {
    let mut c = JsonConverter::new();
    for bad in [
        r#"{"payload":1}"#,
        r#"{"schema":null}"#,
        r#"{"schema":null,"payload":1,"extra":2}"#,
        "42",
        "[]",
    ] {
        let err = read(&mut c, bad).unwrap_err();
        assert!(err.to_string().contains("schemas.enable"), "{bad}: {err}");
    }
}

#[test]
fn payload_not_matching_schema_names_field_and_types() {
    let mut c = JsonConverter::new();
    let text = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"n"}],"optional":false},"payload":{"n":"x"}}"#;
    let err = read(&mut c, text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `value.n`: expected INT32, got JSON string"
    );
    let text = r#"{"schema":{"type":"int8","optional":false},"payload":300}"#;
    assert!(read(&mut c, text)
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    let text = r#"{"schema":{"type":"int64","optional":false},"payload":null}"#;
    assert!(matches!(
        read(&mut c, text).unwrap_err(),
        ConvertError::Data(DataError::NullForRequired { .. })
    ));
    let text = r#"{"schema":{"type":"nope","optional":false},"payload":1}"#;
    assert!(read(&mut c, text)
        .unwrap_err()
        .to_string()
        .contains("Unknown schema type"));
}

#[test]
fn config_rejects_bad_options_all_at_once() {
    let props: Properties = [
        ("decimal.format", "HEX"),
        ("schemas.enable", "maybe"),
        ("schemas.cache.size", "-1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let issues = JsonConverter::configured(&props, false).unwrap_err();
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["schemas.enable", "schemas.cache.size", "decimal.format"]
    );
}

#[test]
fn header_converter_writes_like_value_converter() {
    let mut c = JsonConverter::new();
    HeaderConverter::configure(&mut c, &Properties::new()).unwrap();
    let mut out = Vec::new();
    c.from_connect_header("t", "h", Some(&Schema::int32()), &Value::Int32(1), &mut out)
        .unwrap();
    assert_eq!(
        out,
        br#"{"schema":{"type":"int32","optional":false},"payload":1}"#
    );
    let back = c.to_connect_header("t", "h", Some(&out)).unwrap();
    assert_eq!(back.value, Value::Int32(1));
}

#[test]
fn base64_decoding_accepts_padded_and_unpadded() {
    assert_eq!(decode_base64("AQID+/8="), Some(vec![1, 2, 3, 0xfb, 0xff]));
    assert_eq!(decode_base64("AQID+/8"), Some(vec![1, 2, 3, 0xfb, 0xff]));
    assert_eq!(decode_base64(""), Some(vec![]));
    assert_eq!(decode_base64("A"), None);
    assert_eq!(decode_base64("A*=="), None);
}

#[test]
fn numeric_decimals_in_scientific_form_read_back() {
    let mut c = conv(&[("decimal.format", "NUMERIC")]);
    round_trip(&mut c, &decimal_schema(9), Decimal::new(-5, 9).to_value());
    round_trip(&mut c, &decimal_schema(-2), Decimal::new(12, -2).to_value());
    let text = r#"{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"0"}},"payload":1.2E+3}"#;
    assert_eq!(
        read(&mut c, text).unwrap().value,
        Decimal::new(1200, 0).to_value()
    );
}

#[test]
fn equal_schema_in_another_allocation_writes_the_same_bytes() {
    let mut c = JsonConverter::new();
    let a = row_schema();
    let b = row_schema();
    assert!(!Arc::ptr_eq(&a, &b));
    let va = Value::Struct(Struct::new(a.clone()).with("id", 1i64).unwrap());
    let vb = Value::Struct(Struct::new(b.clone()).with("id", 1i64).unwrap());
    let first = json_with(&mut c, Some(&a), &va);
    assert_eq!(json_with(&mut c, Some(&b), &vb), first);
    assert_eq!(json_with(&mut c, Some(&a), &vb), first);
    assert_eq!(json_with(&mut c, Some(&a), &va), first);
}
