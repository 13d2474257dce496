use super::*;
use crate::convert::avro::tests::everything_schema;
use crate::data::logical::{date_schema, decimal_schema, time_schema, timestamp_schema};
use crate::data::SchemaBuilder;

fn avro(schema: &Schema) -> String {
    AvroData::default()
        .from_connect_schema(schema)
        .expect("to avro")
}

fn connect(avro: &str) -> SchemaRef {
    AvroData::default()
        .to_connect_schema(avro)
        .expect("to connect")
}

#[test]
fn representative_schema_maps_as_confluent_does() {
    let schema = SchemaBuilder::struct_()
        .name("com.example.Order")
        .version(1)
        .doc("an order")
        .field("id", Schema::int64())
        .field("qty", Schema::int16())
        .field("note", Schema::optional_string())
        .field(
            "status",
            SchemaBuilder::string()
                .optional()
                .default_value(Value::from("new"))
                .build(),
        )
        .field("price", decimal_schema(2))
        .field("day", date_schema())
        .field("at", time_schema())
        .field("ts", timestamp_schema())
        .field(
            "by_id",
            SchemaBuilder::map(Schema::int32(), Schema::string()).build(),
        )
        .build();
    let expected = concat!(
        r#"{"type":"record","name":"Order","namespace":"com.example","fields":["#,
        r#"{"name":"id","type":"long"},"#,
        r#"{"name":"qty","type":{"type":"int","connect.type":"int16"}},"#,
        r#"{"name":"note","type":["null","string"],"default":null},"#,
        r#"{"name":"status","type":[{"type":"string","connect.default":"new"},"null"],"default":"new"},"#,
        r#"{"name":"price","type":{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},"#,
        r#"{"name":"day","type":{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}},"#,
        r#"{"name":"at","type":{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}},"#,
        r#"{"name":"ts","type":{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}},"#,
        r#"{"name":"by_id","type":{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}}"#,
        r#"],"connect.doc":"an order","connect.version":1,"connect.name":"com.example.Order"}"#
    );
    assert_eq!(avro(&schema), expected);
    assert_eq!(connect(expected), schema);
}

#[test]
fn unnamed_structs_and_primitives() {
    let unnamed = SchemaBuilder::struct_().field("x", Schema::int8()).build();
    let text = avro(&unnamed);
    assert_eq!(
        text,
        r#"{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"x","type":{"type":"int","connect.type":"int8"}}]}"#
    );
    assert_eq!(connect(&text), unnamed);
    assert_eq!(avro(&Schema::string()), r#""string""#);
    assert_eq!(avro(&Schema::optional_bytes()), r#"["null","bytes"]"#);
    assert_eq!(
        avro(&SchemaBuilder::map(Schema::string(), Schema::float32()).build()),
        r#"{"type":"map","values":"float"}"#
    );
}

#[test]
fn every_schema_survives_the_trip_to_avro_and_back() {
    let schema = everything_schema();
    let text = avro(&schema);
    assert_eq!(connect(&text), schema);
    // The repeated struct is written once, then referenced by name.
    assert_eq!(text.matches(r#""name":"Inner""#).count(), 1, "{text}");
    assert!(text.contains(r#"["null","Inner"]"#), "{text}");
    // A named non-string-key map names its entry record, tagged.
    assert!(
        text.contains(r#""name":"Lookup","fields""#)
            && text.contains(r#""connect.internal.type":"MapEntry""#),
        "{text}"
    );
}

#[test]
fn connect_meta_data_false_writes_no_connect_properties() {
    let data = AvroData {
        connect_meta_data: false,
    };
    let schema = SchemaBuilder::struct_()
        .name("com.example.R")
        .version(3)
        .field("d", decimal_schema(1))
        .field("b", Schema::int8())
        .build();
    let text = data.from_connect_schema(&schema).expect("avro");
    assert_eq!(
        text,
        r#"{"type":"record","name":"R","namespace":"com.example","fields":[{"name":"d","type":{"type":"bytes","scale":1,"precision":64,"logicalType":"decimal"}},{"name":"b","type":"int"}]}"#
    );
    let back = data.to_connect_schema(&text).expect("connect");
    assert_eq!(back.name.as_deref(), Some("com.example.R"));
    assert_eq!(back.version, None);
    assert_eq!(back.fields[1].schema.schema_type, SchemaType::Int32);
}

#[test]
fn avro_types_connect_lacks_map_as_confluent_maps_them() {
    let text = r#"{
      "type": "record", "name": "Foreign", "namespace": "org.other", "doc": "from elsewhere",
      "fields": [
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Md5", "size": 16}},
        {"name": "either", "type": ["null", "int", "string", {"type": "record", "name": "Pt", "fields": [{"name": "x", "type": "int"}]}]},
        {"name": "count", "type": "int", "default": 3, "doc": "how many"},
        {"name": "micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "money", "type": {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}}
      ]
    }"#;
    let (schema, _) = AvroData::default()
        .to_connect_with_decoder(text)
        .expect("connect");
    assert_eq!(schema.name.as_deref(), Some("org.other.Foreign"));
    assert_eq!(schema.parameters[AVRO_RECORD_DOC_PROP], "from elsewhere");
    assert_eq!(
        schema.parameters["io.confluent.connect.avro.field.doc.count"],
        "how many"
    );
    let color = &schema.fields[0].schema;
    assert_eq!(color.schema_type, SchemaType::String);
    assert_eq!(color.parameters[AVRO_TYPE_ENUM], "org.other.Color");
    assert_eq!(
        color.parameters["io.confluent.connect.avro.Enum.GREEN"],
        "GREEN"
    );
    assert_eq!(schema.fields[1].schema.schema_type, SchemaType::Bytes);
    let either = &schema.fields[2].schema;
    assert_eq!(either.name.as_deref(), Some(AVRO_TYPE_UNION));
    assert!(either.optional);
    let names: Vec<&str> = either.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["int", "string", "Pt"]);
    let count = &schema.fields[3].schema;
    assert_eq!(count.default, Some(Value::Int32(3)));
    assert_eq!(count.parameters[AVRO_FIELD_DEFAULT_FLAG_PROP], "true");
    assert_eq!(schema.fields[4].schema.schema_type, SchemaType::Int64);
    let money = &schema.fields[5].schema;
    assert_eq!(money.name.as_deref(), Some(DECIMAL_NAME));
    assert_eq!(money.parameters["scale"], "4");
    assert_eq!(money.parameters[CONNECT_AVRO_DECIMAL_PRECISION_PROP], "18");

    // Written back, the Avro field default stays a field default (no
    // connect.default) and the union becomes a union again.
    let again = avro(&schema);
    assert!(
        again.contains(r#"{"name":"count","type":"int","doc":"how many","default":3}"#),
        "{again}"
    );
    assert!(!again.contains("connect.default"), "{again}");
    assert!(again.contains(r#"["null","int","string",{"type":"record","name":"Pt","fields":[{"name":"x","type":"int"}],"connect.name":"org.other.Pt"}]"#), "{again}");
    assert_eq!(connect(&again), schema);
}

#[test]
fn namespaces_and_references_resolve_as_avro_specifies() {
    let text = r#"{"type":"record","name":"a.Outer","fields":[
        {"name":"first","type":{"type":"record","name":"Point","fields":[{"name":"x","type":"int"}]}},
        {"name":"second","type":"Point"},
        {"name":"third","type":["null","a.Point"]},
        {"name":"other","type":{"type":"record","name":"Point","namespace":"b","fields":[{"name":"y","type":"long"}]}}
    ]}"#;
    let schema = connect(text);
    assert_eq!(schema.fields[0].schema.name.as_deref(), Some("a.Point"));
    assert_eq!(schema.fields[1].schema, schema.fields[0].schema);
    assert!(schema.fields[2].schema.optional);
    assert_eq!(schema.fields[3].schema.name.as_deref(), Some("b.Point"));
    assert_eq!(schema.fields[3].schema.fields[0].name, "y");
}

#[test]
fn impossible_schemas_are_clear_errors() {
    let recursive =
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#;
    let err = AvroData::default()
        .to_connect_schema(recursive)
        .unwrap_err();
    assert!(err.to_string().contains("recursive"), "{err}");
    let err = AvroData::default()
        .to_connect_schema(r#""null""#)
        .unwrap_err();
    assert!(err.to_string().contains("null"), "{err}");
    let err = AvroData::default().to_connect_schema("{").unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");

    let bad_name = SchemaBuilder::struct_()
        .name("my-topic-value")
        .field("a", Schema::int32())
        .build();
    let err = AvroData::default()
        .from_connect_schema(&bad_name)
        .unwrap_err();
    assert!(err.to_string().contains("my-topic-value"), "{err}");

    let one = SchemaBuilder::struct_()
        .name("x.Same")
        .field("a", Schema::int32())
        .build();
    let two = SchemaBuilder::struct_()
        .name("x.Same")
        .field("b", Schema::int32())
        .build();
    let both = SchemaBuilder::struct_()
        .name("x.Both")
        .field("one", one)
        .field("two", two)
        .build();
    let err = AvroData::default().from_connect_schema(&both).unwrap_err();
    assert!(err.to_string().contains("x.Same"), "{err}");

    let nan = SchemaBuilder::float64()
        .default_value(Value::Float64(f64::NAN))
        .build();
    assert!(AvroData::default().from_connect_schema(&nan).is_err());
}

#[test]
fn a_struct_without_namespace_inside_a_namespace() {
    let row = SchemaBuilder::struct_()
        .name("Row")
        .field("a", Schema::int32())
        .build();
    let outer = SchemaBuilder::struct_()
        .name("com.x.Outer")
        .field("one", row.clone())
        .build();
    let text = avro(&outer);
    assert!(text.contains(r#""name":"Row","namespace":"""#), "{text}");
    assert_eq!(connect(&text), outer);
    let twice = SchemaBuilder::struct_()
        .name("com.x.Outer")
        .field("one", row.clone())
        .field("two", row)
        .build();
    // Avro cannot refer to a type without namespace from inside one (a
    // bare name means the enclosing namespace): a clear error, as in Java.
    let err = AvroData::default().from_connect_schema(&twice).unwrap_err();
    assert!(err.to_string().contains("com.x.Row"), "{err}");
}
