//! Our Avro binary codec against the `apache-avro` crate's, on the same
//! Connect records, both directions, in one run.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench avro_codec
//! cargo bench -p timely-connect-operators --bench avro_codec -- --records 500000 --reps 7
//! ```
//!
//! - **ours**: `AvroConverter::from_connect` / `to_connect` with the
//!   embedded registry (the schema is registered once and cached, so each
//!   record costs the 5-byte header, a cache hit and the codec);
//! - **apache-avro**: what using that crate as the codec would cost — the
//!   Connect value turned into an `apache_avro::types::Value` and written
//!   with `GenericDatumWriter` (encode), and the bytes read with
//!   `GenericDatumReader` and turned back into a Connect value (decode).
//!   Both sides produce and consume the same bytes (checked first).
//!
//! Rate = records per second, median of `--reps` runs, alternating order.

#[path = "common/mod.rs"]
mod common;
use common::{load_average, median};

use std::time::Instant;

use apache_avro::types::Value as AvroValue;
use timely_connect_operators::timely_connect::config::Properties;
use timely_connect_operators::timely_connect::convert::avro::{AvroConverter, AvroData};
use timely_connect_operators::timely_connect::convert::Converter;
use timely_connect_operators::timely_connect::data::logical::{decimal_schema, timestamp_schema};
use timely_connect_operators::timely_connect::data::{
    Schema, SchemaBuilder, SchemaRef, Struct, Value,
};

struct Args {
    records: usize,
    reps: usize,
}

fn args() -> Args {
    let mut a = Args {
        records: 300_000,
        reps: 5,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = argv.get(i + 1).and_then(|v| v.parse().ok());
        match (argv[i].as_str(), next) {
            ("--records", Some(n)) => a.records = n,
            ("--reps", Some(n)) => a.reps = n,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn schema() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("bench.Order")
        .field("id", Schema::int64())
        .field("customer", Schema::string())
        .field("quantity", Schema::int32())
        .field("price", decimal_schema(2))
        .field("at", timestamp_schema())
        .field("tags", SchemaBuilder::array(Schema::string()).build())
        .field("note", Schema::optional_string())
        .build()
}

fn record(schema: &SchemaRef, i: i64) -> Value {
    let price = ((i % 100_000) * 37 + 99) as i128;
    let mut s = Struct::new(schema.clone());
    let fields = [
        ("id", Value::Int64(i)),
        ("customer", Value::from(format!("customer-{}", i % 5000))),
        ("quantity", Value::Int32((i % 17) as i32 + 1)),
        (
            "price",
            Value::Bytes(
                timely_connect_operators::timely_connect::data::Decimal::new(price, 2).to_bytes(),
            ),
        ),
        ("at", Value::Int64(1_700_000_000_000 + i)),
        (
            "tags",
            Value::Array(vec![Value::from("web"), Value::from(format!("t{}", i % 7))]),
        ),
        (
            "note",
            if i % 3 == 0 {
                Value::Null
            } else {
                Value::from("leave at the door")
            },
        ),
    ];
    for (name, v) in fields {
        s.put(name, v).expect("fits the schema");
    }
    Value::Struct(s)
}

/// Connect → apache-avro's value, as a codec built on that crate would do.
fn to_avro(v: &Value) -> AvroValue {
    let Value::Struct(s) = v else {
        unreachable!("records are structs")
    };
    let get = |n: &str| s.get(n).cloned().unwrap_or(Value::Null);
    let string = |v: Value| AvroValue::String(v.as_str().unwrap_or_default().to_owned());
    AvroValue::Record(vec![
        (
            "id".into(),
            AvroValue::Long(get("id").as_i64().unwrap_or(0)),
        ),
        ("customer".into(), string(get("customer"))),
        (
            "quantity".into(),
            AvroValue::Int(get("quantity").as_i64().unwrap_or(0) as i32),
        ),
        (
            "price".into(),
            match get("price") {
                Value::Bytes(b) => AvroValue::Decimal(apache_avro::Decimal::from(b)),
                _ => AvroValue::Null,
            },
        ),
        (
            "at".into(),
            AvroValue::TimestampMillis(get("at").as_i64().unwrap_or(0)),
        ),
        (
            "tags".into(),
            match get("tags") {
                Value::Array(items) => AvroValue::Array(items.into_iter().map(string).collect()),
                _ => AvroValue::Array(Vec::new()),
            },
        ),
        (
            "note".into(),
            match get("note") {
                Value::Null => AvroValue::Union(0, Box::new(AvroValue::Null)),
                v => AvroValue::Union(1, Box::new(string(v))),
            },
        ),
    ])
}

/// apache-avro's value → Connect, as a codec built on that crate would do.
fn from_avro(schema: &SchemaRef, v: AvroValue) -> Value {
    let AvroValue::Record(fields) = v else {
        unreachable!("records are records")
    };
    let mut s = Struct::new(schema.clone());
    for (name, v) in fields {
        let value = match v {
            AvroValue::Long(n) | AvroValue::TimestampMillis(n) => Value::Int64(n),
            AvroValue::Int(n) => Value::Int32(n),
            AvroValue::String(t) => Value::String(t),
            AvroValue::Decimal(d) => Value::Bytes(Vec::<u8>::try_from(d).unwrap_or_default()),
            AvroValue::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        AvroValue::String(t) => Value::String(t),
                        _ => Value::Null,
                    })
                    .collect(),
            ),
            AvroValue::Union(_, inner) => match *inner {
                AvroValue::String(t) => Value::String(t),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        s.put(&name, value).expect("fits the schema");
    }
    Value::Struct(s)
}

fn main() {
    let a = args();
    let schema = schema();
    let values: Vec<Value> = (0..a.records as i64).map(|i| record(&schema, i)).collect();
    let mut props = Properties::new();
    props.insert("schema.registry.url".into(), "mock://bench".into());
    let mut ours = AvroConverter::new();
    ours.configure(&props, false).expect("configure");
    let text = AvroData::default()
        .from_connect_schema(&schema)
        .expect("avro schema");
    let parsed = apache_avro::Schema::parse_str(&text).expect("apache parses our schema");
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&parsed)
        .build()
        .expect("writer");
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&parsed)
        .build()
        .expect("reader");

    // Same bytes both ways (ours after its 5-byte header).
    let mut framed = Vec::new();
    ours.from_connect("orders", Some(&schema), &values[1], &mut framed)
        .expect("encode");
    let theirs = writer
        .write_value_to_vec(to_avro(&values[1]))
        .expect("apache encode");
    assert_eq!(&framed[5..], &theirs[..], "the two codecs disagree");

    let encoded: Vec<Vec<u8>> = values
        .iter()
        .map(|v| {
            let mut out = Vec::new();
            ours.from_connect("orders", Some(&schema), v, &mut out)
                .expect("encode");
            out
        })
        .collect();

    let rate = |secs: f64| a.records as f64 / secs;
    let (mut enc_ours, mut enc_apache, mut dec_ours, mut dec_apache) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..a.reps {
        let mut run_ours_enc = |out: &mut Vec<f64>| {
            let mut buf = Vec::with_capacity(128);
            let t = Instant::now();
            let mut bytes = 0usize;
            for v in &values {
                buf.clear();
                ours.from_connect("orders", Some(&schema), v, &mut buf)
                    .expect("encode");
                bytes += buf.len();
            }
            out.push(rate(t.elapsed().as_secs_f64()));
            bytes
        };
        let run_apache_enc = |out: &mut Vec<f64>| {
            let t = Instant::now();
            let mut bytes = 0usize;
            for v in &values {
                bytes += writer
                    .write_value_to_vec(to_avro(v))
                    .expect("apache encode")
                    .len();
            }
            out.push(rate(t.elapsed().as_secs_f64()));
            bytes
        };
        let mut ours_dec = ours_clone(&props);
        let run_ours_dec = |out: &mut Vec<f64>, c: &mut AvroConverter| {
            let t = Instant::now();
            let mut n = 0usize;
            for b in &encoded {
                let sv = c.to_connect("orders", Some(b)).expect("decode");
                n += usize::from(!sv.value.is_null());
            }
            out.push(rate(t.elapsed().as_secs_f64()));
            n
        };
        let run_apache_dec = |out: &mut Vec<f64>| {
            let t = Instant::now();
            let mut n = 0usize;
            for b in &encoded {
                let mut slice = &b[5..];
                let v = reader.read_value(&mut slice).expect("apache decode");
                n += usize::from(!from_avro(&schema, v).is_null());
            }
            out.push(rate(t.elapsed().as_secs_f64()));
            n
        };
        // Alternate which side goes first.
        if rep % 2 == 0 {
            std::hint::black_box(run_ours_enc(&mut enc_ours));
            std::hint::black_box(run_apache_enc(&mut enc_apache));
            std::hint::black_box(run_ours_dec(&mut dec_ours, &mut ours_dec));
            std::hint::black_box(run_apache_dec(&mut dec_apache));
        } else {
            std::hint::black_box(run_apache_enc(&mut enc_apache));
            std::hint::black_box(run_ours_enc(&mut enc_ours));
            std::hint::black_box(run_apache_dec(&mut dec_apache));
            std::hint::black_box(run_ours_dec(&mut dec_ours, &mut ours_dec));
        }
    }
    println!(
        "avro codec, {} records of {} B (Confluent header included), median of {} runs, load {}",
        a.records,
        encoded[1].len(),
        a.reps,
        load_average()
    );
    println!("| direction | ours (rec/s) | apache-avro (rec/s) | ours / apache-avro |");
    println!("|---|---:|---:|---:|");
    for (name, o, t) in [
        ("encode (Connect → bytes)", enc_ours, enc_apache),
        ("decode (bytes → Connect)", dec_ours, dec_apache),
    ] {
        let (o, t) = (median(o), median(t));
        println!("| {name} | {o:.0} | {t:.0} | {:.2} |", o / t);
    }
}

/// A second converter on the same embedded registry (decoding reads the
/// schema the encoder registered).
fn ours_clone(props: &Properties) -> AvroConverter {
    let mut c = AvroConverter::new();
    c.configure(props, false).expect("configure");
    c
}
