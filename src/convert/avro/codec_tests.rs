use super::*;
use crate::convert::avro::schema::AvroData;
use crate::convert::avro::tests::{everything_schema, everything_value};
use crate::data::{SchemaBuilder, SchemaRef};
use apache_avro::types::Value as AvroValue;

fn long_bytes(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_long(&mut out, v);
    out
}

#[test]
fn zigzag_varints_match_the_avro_spec() {
    assert_eq!(long_bytes(0), [0x00]);
    assert_eq!(long_bytes(-1), [0x01]);
    assert_eq!(long_bytes(1), [0x02]);
    assert_eq!(long_bytes(-64), [0x7f]);
    assert_eq!(long_bytes(64), [0x80, 0x01]);
    for v in [
        0,
        1,
        -1,
        63,
        -65,
        8191,
        i64::from(i32::MAX),
        i64::MIN,
        i64::MAX,
    ] {
        let bytes = long_bytes(v);
        assert_eq!(Reader::new(&bytes).long().expect("read"), v);
    }
}

fn plan(schema: &Schema) -> (String, Dec) {
    let text = AvroData::default()
        .from_connect_schema(schema)
        .expect("avro");
    let (_, dec) = AvroData::default()
        .to_connect_with_decoder(&text)
        .expect("plan");
    (text, dec)
}

#[test]
fn apache_avro_reads_what_we_write() {
    let schema = everything_schema();
    let (text, _) = plan(&schema);
    let mut bytes = Vec::new();
    encode(&schema, &everything_value(&schema), &mut bytes).expect("encode");
    let parsed = apache_avro::Schema::parse_str(&text).expect("parse");
    let mut slice = bytes.as_slice();
    let value = apache_avro::reader::datum::GenericDatumReader::builder(&parsed)
        .build()
        .and_then(|r| r.read_value(&mut slice))
        .expect("apache decode");
    assert!(slice.is_empty(), "{} bytes unread", slice.len());
    let AvroValue::Record(fields) = value else {
        panic!("not a record: {value:?}");
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("i8"), Some(AvroValue::Int(-8)));
    assert_eq!(get("i64"), Some(AvroValue::Long(i64::MIN)));
    assert_eq!(get("text"), Some(AvroValue::String("héllo".into())));
    assert_eq!(
        get("opt_null"),
        Some(AvroValue::Union(0, Box::new(AvroValue::Null)))
    );
    assert_eq!(
        get("opt_with_default"),
        Some(AvroValue::Union(
            0,
            Box::new(AvroValue::String("given".into()))
        ))
    );
    assert_eq!(get("day"), Some(AvroValue::Date(19782)));
    assert_eq!(
        get("ts"),
        Some(AvroValue::TimestampMillis(1_700_000_000_123))
    );
    assert!(matches!(get("price"), Some(AvroValue::Decimal(_))));
}

#[test]
fn we_read_what_apache_avro_writes() {
    let inner = SchemaBuilder::struct_()
        .name("n.Inner")
        .field("flag", Schema::boolean())
        .build();
    let schema: SchemaRef = SchemaBuilder::struct_()
        .name("n.Rec")
        .field("a", Schema::int32())
        .field("f", Schema::float32())
        .field("d", Schema::float64())
        .field("s", Schema::optional_string())
        .field("b", Schema::bytes())
        .field("list", SchemaBuilder::array(Schema::int64()).build())
        .field(
            "m",
            SchemaBuilder::map(Schema::string(), Schema::string()).build(),
        )
        .field(
            "e",
            SchemaBuilder::map(Schema::int32(), Schema::int32()).build(),
        )
        .field("inner", inner.clone())
        .build();
    let (text, dec) = plan(&schema);
    let parsed = apache_avro::Schema::parse_str(&text).expect("parse");
    let entry = |k: i32, v: i32| {
        AvroValue::Record(vec![
            ("key".into(), AvroValue::Int(k)),
            ("value".into(), AvroValue::Int(v)),
        ])
    };
    let datum = AvroValue::Record(vec![
        ("a".into(), AvroValue::Int(-5)),
        ("f".into(), AvroValue::Float(0.5)),
        ("d".into(), AvroValue::Double(-2.25)),
        (
            "s".into(),
            AvroValue::Union(1, Box::new(AvroValue::String("x".into()))),
        ),
        ("b".into(), AvroValue::Bytes(vec![1, 2])),
        (
            "list".into(),
            AvroValue::Array(vec![AvroValue::Long(1), AvroValue::Long(-1)]),
        ),
        (
            "m".into(),
            AvroValue::Map([("k".to_owned(), AvroValue::String("v".into()))].into()),
        ),
        (
            "e".into(),
            AvroValue::Array(vec![entry(1, 10), entry(2, 20)]),
        ),
        (
            "inner".into(),
            AvroValue::Record(vec![("flag".into(), AvroValue::Boolean(true))]),
        ),
    ]);
    let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(&parsed)
        .build()
        .and_then(|w| w.write_value_to_vec(datum))
        .expect("apache encode");
    let mut reader = Reader::new(&bytes);
    let value = reader.value(&dec).expect("decode");
    assert_eq!(reader.remaining(), 0);
    let expected = Struct::new(schema.clone())
        .with("a", -5)
        .and_then(|s| s.with("f", 0.5f32))
        .and_then(|s| s.with("d", -2.25))
        .and_then(|s| s.with("s", "x"))
        .and_then(|s| s.with("b", vec![1u8, 2]))
        .and_then(|s| {
            s.with(
                "list",
                Value::Array(vec![Value::Int64(1), Value::Int64(-1)]),
            )
        })
        .and_then(|s| s.with("m", Value::Map(vec![("k".into(), "v".into())])))
        .and_then(|s| {
            s.with(
                "e",
                Value::Map(vec![
                    (Value::Int32(1), Value::Int32(10)),
                    (Value::Int32(2), Value::Int32(20)),
                ]),
            )
        })
        .and_then(|s| s.with("inner", Struct::new(inner).with("flag", true)?))
        .expect("expected");
    assert_eq!(value, Value::Struct(expected));
    // And our encoding of it is byte for byte apache-avro's.
    let mut ours = Vec::new();
    encode(&schema, &value, &mut ours).expect("encode");
    assert_eq!(ours, bytes);
}

#[test]
fn blocks_with_byte_sizes_and_several_blocks_are_read() {
    let dec = Dec::Array(Box::new(Dec::Int(SchemaType::Int32)));
    // Block of -2 items (2 bytes), then a block of 1, then the end.
    let bytes = [0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00];
    let value = Reader::new(&bytes).value(&dec).expect("read");
    assert_eq!(
        value,
        Value::Array(vec![Value::Int32(1), Value::Int32(2), Value::Int32(3)])
    );
}

#[test]
fn malformed_data_is_an_error() {
    let cases: Vec<(Dec, Vec<u8>, &str)> = vec![
        (Dec::String, vec![0x0a, b'a'], "bad length"),
        (Dec::String, vec![0x02, 0xff], "UTF-8"),
        (Dec::Boolean, vec![2], "boolean"),
        (Dec::Int(SchemaType::Int8), vec![0x80, 0x02], "out of range"),
        (Dec::Long, vec![0xff; 11], "varint"),
        (
            Dec::Optional {
                null_index: 0,
                inner: Box::new(Dec::Long),
            },
            vec![0x04],
            "union index",
        ),
        (
            Dec::Array(Box::new(Dec::Long)),
            vec![0xfe, 0xff, 0xff, 0xff, 0x0f],
            "block count",
        ),
        (
            Dec::Enum(vec!["A".to_owned()].into()),
            vec![0x02],
            "enum index",
        ),
        (Dec::Double, vec![0; 7], "ends early"),
    ];
    for (dec, bytes, expected) in cases {
        let err = Reader::new(&bytes).value(&dec).unwrap_err();
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}

#[test]
fn values_that_do_not_fit_name_their_path() {
    let schema = SchemaBuilder::struct_()
        .field("list", SchemaBuilder::array(Schema::int32()).build())
        .build();
    let mut s = Struct::new(schema.clone());
    s.put("list", Value::Array(vec![])).expect("put");
    // Swap in a value of the wrong type behind the struct's back.
    let value = Value::Struct(s);
    let wrong_schema = SchemaBuilder::struct_()
        .field("list", SchemaBuilder::array(Schema::string()).build())
        .build();
    let mut out = Vec::new();
    assert!(
        encode(&wrong_schema, &value, &mut out).is_ok(),
        "an empty array fits both"
    );
    let mut s = Struct::new(schema);
    s.put("list", Value::Array(vec![Value::Int32(1)]))
        .expect("put");
    let err = encode(&wrong_schema, &Value::Struct(s), &mut out)
        .unwrap_err()
        .into_data_error("value");
    assert_eq!(
        err.to_string(),
        "field `value.list[0]`: expected STRING, got INT32"
    );
}
