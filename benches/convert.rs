//! Converters and transforms: what JSON / Avro conversion and a 3-stage
//! transform chain cost per record, and whether conversion limits the file
//! source's exactly-once output.
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench convert
//! cargo bench -p timely-connect-operators --bench convert -- --records 500000 --reps 5 \
//!     --pipeline-records 2000000 --lines 5000000
//! ```
//!
//! Options (also as environment variables): `--records N` /
//! `TC_BENCH_RECORDS` (micro benchmarks: records per case and repetition,
//! default 1,000,000; 0 skips), `--reps R` / `TC_BENCH_REPS` (default 5, medians
//! reported), `--pipeline-records P` / `TC_BENCH_PIPELINE_RECORDS` (records
//! through `connect_source` with and without transforms, default 4,000,000;
//! 0 skips), `--lines L` / `TC_BENCH_LINES` (lines of 100 bytes through the
//! file source into the exactly-once output, default 10,000,000; 0 skips).
//!
//! Parts:
//!
//! 1. micro, one thread: `JsonConverter::from_connect` / `to_connect`
//!    (`schemas.enable` true and false) and `AvroConverter` (embedded
//!    registry) on a 10-field struct, against `serde_json` writing / reading
//!    the same JSON bytes through a `#[derive(Serialize, Deserialize)]`
//!    struct (checked byte-identical to the schemaless converter's output).
//! 2. micro, one thread: `TransformChain::apply` of 3 SMTs per record.
//! 3. pipeline: an in-bench connector emitting the 10-field struct through
//!    `connect_source` into a counting sink, with the 3 SMTs vs none.
//! 4. pipeline: `FileStreamSource` into the exactly-once byte output, with
//!    the default text rendering vs `value.converter=StringConverter` and
//!    `JsonConverter` (`schemas.enable=false`) as the CLI wires them.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;
use common::{
    generate, load_average, median, process_cpu, thread_cpu, verdict, Counter, LINE_BYTES,
};

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use timely_connect_operators::timely_connect::api::TaskConfig;
use timely_connect_operators::timely_connect::config::{
    ConfigDef, ConfigKey, ConfigType, Importance,
};
use timely_connect_operators::timely_connect::convert::avro::AvroConverter;
use timely_connect_operators::timely_connect::convert::{Converter, JsonConverter};
use timely_connect_operators::timely_connect::data::json::write_text;
use timely_connect_operators::timely_connect::data::logical::{
    date_schema, decimal_schema, timestamp_schema,
};
use timely_connect_operators::timely_connect::data::{
    Decimal, Schema, SchemaBuilder, SchemaRef, SourceOffset, SourcePartition, SourceRecord, Struct,
    Value,
};
use timely_connect_operators::timely_connect::plugins::PluginSet;
use timely_connect_operators::timely_connect::runtime::EncodedRecord;
use timely_connect_operators::timely_connect::transforms::{TransformChain, TransformRegistry};
use timely_connect_operators::timely_connect::{
    ConnectError, Properties, SourceConnector, SourceTask, SourceTaskContext,
};
use timely_connect_operators::{Checkpoint, ConnectSource, ExactlyOnceBytesSink, Job, JobSpec};

/// Distinct records cycled through by the micro benchmarks and the
/// in-bench connector.
const TEMPLATES: usize = 1000;
/// Records per `poll` of the in-bench connector (`batch.size`'s default).
const BATCH: usize = 2000;
/// `--until-idle` of the pipeline runs (generous: on a loaded machine a
/// task thread can be descheduled for a few hundred ms).
const UNTIL_IDLE: Duration = Duration::from_secs(1);
const TOPIC: &str = "orders";

// ---------------------------------------------------------------- records

/// The 10-field value schema: int32, int64, string, string, float64,
/// boolean, Decimal(2), Timestamp, Date, optional string.
fn order_schema() -> SchemaRef {
    SchemaBuilder::struct_()
        .name("bench.Order")
        .field("id", Schema::int32())
        .field("seq", Schema::int64())
        .field("customer", Schema::string())
        .field("email", Schema::string())
        .field("price", Schema::float64())
        .field("paid", Schema::boolean())
        .field("amount", decimal_schema(2))
        .field("created", timestamp_schema())
        .field("ship_date", date_schema())
        .field("note", Schema::optional_string())
        .build()
}

/// Field values of record `i` (deterministic, varied; `note` is null for
/// every third record).
fn order_values(i: usize) -> Vec<Value> {
    let n = i as i64;
    vec![
        Value::Int32(i as i32),
        Value::Int64(1_700_000_000_000 + n * 7919),
        Value::String(format!("customer-{:05}", i * 37 % 100_000)),
        Value::String(format!("user{}@example.com", i * 13 % 10_000)),
        // Two decimals: printed alike by Java's Double.toString and ryu.
        Value::Float64((i % 10_000) as f64 / 4.0 + 0.25),
        Value::Boolean(i.is_multiple_of(2)),
        Decimal::new(i128::from(n * 101 % 1_000_000), 2).to_value(),
        Value::Int64(1_700_000_000_000 + n * 1000),
        Value::Int32(19_000 + (i % 365) as i32),
        if i.is_multiple_of(3) {
            Value::Null
        } else {
            Value::String(format!("note {i}: leave at the door"))
        },
    ]
}

fn order(schema: &SchemaRef, i: usize) -> Value {
    Value::Struct(Struct::from_parts(schema.clone(), order_values(i)).expect("struct"))
}

/// The same record as a plain Rust struct, for the `serde_json` baseline.
/// Decimal is held as the base64 text Kafka's JsonConverter writes
/// (`decimal.format=BASE64`, the default), Timestamp as epoch millis and
/// Date as epoch days, as the schemaless JSON has them.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PlainOrder {
    id: i32,
    seq: i64,
    customer: String,
    email: String,
    price: f64,
    paid: bool,
    amount: String,
    created: i64,
    ship_date: i32,
    note: Option<String>,
}

// ------------------------------------------------------------ measurement

/// One micro case: a name and a closure run once per record index that
/// returns the bytes it produced or consumed.
struct Case<'a> {
    name: &'static str,
    run: Box<dyn FnMut(usize) -> usize + 'a>,
    rates: Vec<f64>,
    mbs: Vec<f64>,
    /// Records per second of this thread's CPU time: per core, and much
    /// less sensitive than wall time to other load on the machine.
    cpu_rates: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, run: impl FnMut(usize) -> usize + 'a) -> Self {
        Case {
            name,
            run: Box::new(run),
            rates: Vec::new(),
            mbs: Vec::new(),
            cpu_rates: Vec::new(),
        }
    }

    fn measure(&mut self, n: usize) {
        let cpu0 = thread_cpu();
        let start = Instant::now();
        let mut bytes = 0usize;
        for i in 0..n {
            bytes += (self.run)(i);
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = (thread_cpu() - cpu0).as_secs_f64().max(0.01);
        self.cpu_rates.push(n as f64 / cpu);
        self.rates.push(n as f64 / secs);
        self.mbs.push(bytes as f64 / secs / 1e6);
    }

    fn rate(&self) -> f64 {
        median(self.rates.clone())
    }

    fn cpu_rate(&self) -> f64 {
        median(self.cpu_rates.clone())
    }
}

/// Runs every case `reps` times, interleaved, after one warm-up pass.
fn run_cases(cases: &mut [Case<'_>], n: usize, reps: usize) {
    for c in cases.iter_mut() {
        let start = Instant::now();
        for i in 0..n.min(100_000) {
            (c.run)(i);
        }
        black_box(start.elapsed());
    }
    for rep in 0..reps {
        for c in cases.iter_mut() {
            c.measure(n);
            println!(
                "  rep {} {:<52} {:>6.3} M rec/s  {:>6.3} M rec/CPU-s",
                rep + 1,
                c.name,
                c.rates.last().copied().unwrap_or(0.0) / 1e6,
                c.cpu_rates.last().copied().unwrap_or(0.0) / 1e6
            );
        }
    }
}

fn print_cases(cases: &[Case<'_>], baseline: usize, title: &str) {
    let base = cases[baseline].rate();
    println!("\n{title}");
    let cpu_base = cases[baseline].cpu_rate();
    println!(
        "| {:<52} | {:>12} | {:>8} | {:>9} | {:>15} | {:>11} | {:>13} | {:>8} |",
        "case",
        "records/s",
        "MB/s",
        "ns/record",
        "min..max M/s",
        "vs baseline",
        "rec/CPU-s",
        "vs base"
    );
    println!(
        "|{:-<54}|{:->14}|{:->10}|{:->11}|{:->17}|{:->13}|{:->15}|{:->10}|",
        "", "", "", "", "", "", "", ""
    );
    for c in cases {
        let r = c.rate();
        let min = c.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.rates.iter().copied().fold(0.0, f64::max);
        println!(
            "| {:<52} | {:>12.0} | {:>8.1} | {:>9.1} | {:>6.3} .. {:>6.3} | {:>11.2} | {:>13.0} | {:>8.2} |",
            c.name,
            r,
            median(c.mbs.clone()),
            1e9 / r,
            min / 1e6,
            max / 1e6,
            r / base,
            c.cpu_rate(),
            c.cpu_rate() / cpu_base
        );
    }
}

// ------------------------------------------------------------ part 1 + 2

fn json_converter(schemas: bool) -> JsonConverter {
    let mut props = Properties::new();
    props.insert("schemas.enable".into(), schemas.to_string());
    JsonConverter::configured(&props, false).expect("json converter")
}

fn avro_converter() -> AvroConverter {
    let mut c = AvroConverter::new();
    // No schema.registry.url: the embedded, in-process registry.
    Converter::configure(&mut c, &Properties::new(), false).expect("avro converter");
    c
}

fn micro_converters(n: usize, reps: usize) {
    let schema = order_schema();
    let values: Vec<Value> = (0..TEMPLATES).map(|i| order(&schema, i)).collect();

    // Pre-encoded inputs for the to_connect cases, and the baseline structs
    // read back from the schemaless converter's own bytes.
    let encode_all = |c: &mut dyn Converter| -> Vec<Vec<u8>> {
        values
            .iter()
            .map(|v| {
                let mut out = Vec::new();
                c.from_connect(TOPIC, Some(&schema), v, &mut out)
                    .expect("encode");
                out
            })
            .collect()
    };
    let json_schema_bytes = encode_all(&mut json_converter(true));
    let json_plain_bytes = encode_all(&mut json_converter(false));
    let avro_bytes = encode_all(&mut avro_converter());
    let plain: Vec<PlainOrder> = json_plain_bytes
        .iter()
        .map(|b| serde_json::from_slice(b).expect("baseline struct from converter JSON"))
        .collect();
    let identical = plain
        .iter()
        .zip(&json_plain_bytes)
        .all(|(p, b)| serde_json::to_vec(p).expect("serde_json") == *b);
    let avg = |v: &[Vec<u8>]| v.iter().map(Vec::len).sum::<usize>() as f64 / v.len() as f64;
    println!(
        "record sizes: JSON with schema {:.0} B, JSON schemaless {:.0} B, Avro {:.0} B \
         (5-byte Confluent header included)",
        avg(&json_schema_bytes),
        avg(&json_plain_bytes),
        avg(&avro_bytes)
    );
    println!(
        "serde_json baseline output byte-identical to JsonConverter (schemas.enable=false): {identical}"
    );
    println!(
        "example schemaless record: {}",
        String::from_utf8_lossy(&json_plain_bytes[1])
    );

    let mut out = Vec::with_capacity(4096);
    let out = std::cell::RefCell::new(&mut out);
    let mut js = json_converter(true);
    let mut jp = json_converter(false);
    let mut js_back = json_converter(true);
    let mut jp_back = json_converter(false);
    let mut av = avro_converter();
    let mut av_back = avro_converter();
    let k = TEMPLATES;
    let mut cases = vec![
        Case::new("baseline: serde_json::to_writer(derive struct)", |i| {
            let mut o = out.borrow_mut();
            o.clear();
            serde_json::to_writer(&mut **o, &plain[i % k]).expect("serde");
            o.len()
        }),
        Case::new("JsonConverter.from_connect schemas.enable=true", |i| {
            let mut o = out.borrow_mut();
            o.clear();
            js.from_connect(TOPIC, Some(&schema), &values[i % k], &mut o)
                .expect("json");
            o.len()
        }),
        Case::new("JsonConverter.from_connect schemas.enable=false", |i| {
            let mut o = out.borrow_mut();
            o.clear();
            jp.from_connect(TOPIC, Some(&schema), &values[i % k], &mut o)
                .expect("json");
            o.len()
        }),
        Case::new("AvroConverter.from_connect (embedded registry)", |i| {
            let mut o = out.borrow_mut();
            o.clear();
            av.from_connect(TOPIC, Some(&schema), &values[i % k], &mut o)
                .expect("avro");
            o.len()
        }),
        Case::new("diagnostic: Value::clone of the struct", |i| {
            black_box(values[i % k].clone());
            0
        }),
        Case::new("baseline: serde_json::from_slice(derive struct)", |i| {
            let b = &json_plain_bytes[i % k];
            black_box(serde_json::from_slice::<PlainOrder>(b).expect("serde"));
            b.len()
        }),
        Case::new("JsonConverter.to_connect schemas.enable=true", |i| {
            let b = &json_schema_bytes[i % k];
            black_box(js_back.to_connect(TOPIC, Some(b)).expect("json back"));
            b.len()
        }),
        Case::new("JsonConverter.to_connect schemas.enable=false", |i| {
            let b = &json_plain_bytes[i % k];
            black_box(jp_back.to_connect(TOPIC, Some(b)).expect("json back"));
            b.len()
        }),
        Case::new("AvroConverter.to_connect (embedded registry)", |i| {
            let b = &avro_bytes[i % k];
            black_box(av_back.to_connect(TOPIC, Some(b)).expect("avro back"));
            b.len()
        }),
    ];
    run_cases(&mut cases, n, reps);
    let rate = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .map_or(f64::NAN, Case::rate)
    };
    let json_schema = rate("JsonConverter.from_connect schemas.enable=true");
    let base_write = rate("baseline: serde_json::to_writer(derive struct)");
    let base_read = rate("baseline: serde_json::from_slice(derive struct)");
    print_cases(
        &cases,
        0,
        &format!(
            "converters, one thread, median of {reps} runs of {n} records \
             (MB = 10^6 bytes of converter output / input; 'vs baseline' = rate / serde_json to_writer rate)"
        ),
    );
    let json_schema_cpu = cases
        .iter()
        .find(|c| c.name == "JsonConverter.from_connect schemas.enable=true")
        .map_or(f64::NAN, Case::cpu_rate);
    println!(
        "from_connect JSON with schemas: {:.2} M rec/s wall, {:.2} M rec/CPU-s (target >= 1.5 M per core: {} by wall, {} by CPU)",
        json_schema / 1e6,
        json_schema_cpu / 1e6,
        verdict(json_schema >= 1.5e6),
        verdict(json_schema_cpu >= 1.5e6)
    );
    println!(
        "parse baseline (serde_json from_slice) rate: {:.2} M rec/s; write baseline {:.2} M rec/s",
        base_read / 1e6,
        base_write / 1e6
    );
}

/// The 3 SMTs of parts 2 and 3: a static field, two renames, a mask.
fn chain_props(props: &mut Properties) {
    for (k, v) in [
        ("transforms", "addOrigin,rename,mask"),
        (
            "transforms.addOrigin.type",
            "org.apache.kafka.connect.transforms.InsertField$Value",
        ),
        ("transforms.addOrigin.static.field", "origin"),
        ("transforms.addOrigin.static.value", "bench"),
        (
            "transforms.rename.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        (
            "transforms.rename.renames",
            "customer:customer_name,ship_date:shipped_on",
        ),
        (
            "transforms.mask.type",
            "org.apache.kafka.connect.transforms.MaskField$Value",
        ),
        ("transforms.mask.fields", "email"),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
}

fn record(schema: &SchemaRef, partition: &SourcePartition, i: usize) -> SourceRecord {
    SourceRecord::new(
        partition.clone(),
        SourceOffset::int(&SourceOffset::key("seq"), i as i64),
        Arc::from(TOPIC),
        Some(schema.clone()),
        order(schema, i),
    )
}

fn micro_chain(n: usize, reps: usize) {
    let schema = order_schema();
    let partition = SourcePartition::single("bench", "orders");
    let records: Vec<SourceRecord> = (0..TEMPLATES)
        .map(|i| record(&schema, &partition, i))
        .collect();
    let mut props = Properties::new();
    chain_props(&mut props);
    let mut chain =
        TransformChain::from_config(&props, &TransformRegistry::builtin()).expect("chain");
    assert_eq!(chain.len(), 3);
    let sample = chain
        .apply(records[1].clone())
        .expect("apply")
        .expect("kept");
    println!(
        "chain output fields: {:?}",
        sample.value_schema.as_ref().map(|s| s
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>())
    );
    let mut empty = TransformChain::default();
    let k = TEMPLATES;
    let mut cases = vec![
        Case::new("baseline: SourceRecord::clone (the apply input)", |i| {
            black_box(records[i % k].clone());
            0
        }),
        Case::new("clone + empty chain.apply", |i| {
            black_box(empty.apply(records[i % k].clone()).expect("apply"));
            0
        }),
        Case::new("clone + 3-SMT chain.apply", |i| {
            black_box(chain.apply(records[i % k].clone()).expect("apply"));
            0
        }),
    ];
    run_cases(&mut cases, n, reps);
    print_cases(
        &cases,
        0,
        &format!(
            "transform chain, one thread, median of {reps} runs of {n} records \
             (InsertField$Value static, ReplaceField$Value 2 renames, MaskField$Value 1 field)"
        ),
    );
    let per = |c: &Case<'_>| 1e9 / c.rate();
    let per_cpu = |c: &Case<'_>| 1e9 / c.cpu_rate();
    println!(
        "3-SMT chain.apply alone: {:.0} ns/record wall (clone+chain {:.0} ns minus clone {:.0} ns), \
         {:.0} ns/record by CPU time",
        per(&cases[2]) - per(&cases[0]),
        per(&cases[2]),
        per(&cases[0]),
        per_cpu(&cases[2]) - per_cpu(&cases[0])
    );
}

// --------------------------------------------------------------- part 3

/// Emits `bench.records` 10-field records, built from templates, as fast
/// as the channel takes them.
#[derive(Default)]
struct Orders {
    props: Properties,
}

impl SourceConnector for Orders {
    fn version(&self) -> String {
        "bench".to_owned()
    }
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new().define(ConfigKey::new(
            "bench.records",
            ConfigType::Long,
            Importance::High,
            "Records to emit.",
        ))
    }
    fn start(&mut self, props: &Properties) -> Result<(), ConnectError> {
        self.props = props.clone();
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Result<Vec<TaskConfig>, ConnectError> {
        Ok(vec![self.props.clone()])
    }
    fn create_task(&self) -> Box<dyn SourceTask> {
        Box::new(OrdersTask::default())
    }
}

#[derive(Default)]
struct OrdersTask {
    total: usize,
    next: usize,
    schema: Option<SchemaRef>,
    templates: Vec<Vec<Value>>,
    context: Option<SourceTaskContext>,
}

impl SourceTask for OrdersTask {
    fn start(&mut self, context: SourceTaskContext) -> Result<(), ConnectError> {
        self.total = context
            .configs()
            .get("bench.records")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ConnectError::Config("bench.records".to_owned()))?;
        self.schema = Some(order_schema());
        self.templates = (0..TEMPLATES).map(order_values).collect();
        self.context = Some(context);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Vec<SourceRecord>>, ConnectError> {
        let (Some(schema), Some(ctx)) = (&self.schema, &self.context) else {
            return Err(ConnectError::fatal("poll before start"));
        };
        if self.next >= self.total {
            ctx.stop_token().sleep(Duration::from_millis(50));
            return Ok(None);
        }
        // Fresh shared parts per batch (as FileStreamSource does), so the
        // task and worker threads do not bounce the same reference counts.
        let schema: SchemaRef = Arc::new((**schema).clone());
        let partition = SourcePartition::single("bench", "orders");
        let topic: Arc<str> = Arc::from(TOPIC);
        let key = SourceOffset::key("seq");
        let end = (self.next + BATCH).min(self.total);
        let batch = (self.next..end)
            .map(|i| {
                let values = self.templates[i % TEMPLATES].clone();
                let value = Struct::from_parts(schema.clone(), values)
                    .map(Value::Struct)
                    .map_err(|e| ConnectError::fatal(e.to_string()))?;
                Ok(SourceRecord::new(
                    partition.clone(),
                    SourceOffset::int(&key, i as i64),
                    topic.clone(),
                    Some(schema.clone()),
                    value,
                ))
            })
            .collect::<Result<Vec<_>, ConnectError>>()?;
        self.next = end;
        Ok(Some(batch))
    }
}

#[derive(Clone, Copy, Debug)]
struct Run {
    to_n: Duration,
    total: Duration,
    cpu: Duration,
}

fn run_orders(records: u64, transforms: bool) -> Run {
    let mut props = Properties::new();
    for (k, v) in [
        ("name", "bench-orders"),
        ("connector.class", "BenchOrders"),
        ("bench.records", &records.to_string()),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
    if transforms {
        chain_props(&mut props);
    }
    let mut registry = PluginSet::builtin();
    registry.register("BenchOrders", &[], "Bench records.", || {
        Box::new(Orders::default())
    });
    let spec = JobSpec::new(props)
        .registry(registry)
        .until_idle(UNTIL_IDLE);
    let counter = Arc::new(Counter::default());
    let sink_counter = counter.clone();
    let job_spec = spec.clone();
    let cpu0 = process_cpu();
    let start = Instant::now();
    timely::execute(timely::Config::thread(), move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare job");
        let c = sink_counter.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            source
                .records
                .sink(Pipeline, "Count", move |(input, _frontier)| {
                    input.for_each(|_time, data| {
                        c.add(data.len(), records);
                        data.clear();
                    });
                });
            scope.checkpoint(&job, vec![source.parts]);
        });
        job.run(worker).expect("job run");
    })
    .expect("timely");
    let total = start.elapsed();
    assert_eq!(counter.n.load(Ordering::Relaxed), records, "sink count");
    Run {
        to_n: counter
            .reached
            .get()
            .expect("reached")
            .duration_since(start),
        total,
        cpu: process_cpu() - cpu0,
    }
}

fn summarize_runs(label: &str, runs: &[Run], n: u64) -> (f64, f64) {
    let rates: Vec<f64> = runs
        .iter()
        .map(|r| n as f64 / r.to_n.as_secs_f64())
        .collect();
    let cpu = median(
        runs.iter()
            .map(|r| r.cpu.as_secs_f64() / (n as f64 / 1e6))
            .collect(),
    );
    let rate = median(rates.clone());
    println!(
        "| {:<58} | {:>10.0} | {:>6.2} .. {:>6.2} | {:>8.3} | {:>9.3} |",
        label,
        rate,
        rates.iter().copied().fold(f64::INFINITY, f64::min) / 1e6,
        rates.iter().copied().fold(0.0, f64::max) / 1e6,
        cpu,
        median(
            runs.iter()
                .map(|r| (r.total - r.to_n).as_secs_f64())
                .collect()
        ),
    );
    (rate, cpu)
}

fn table_header() {
    println!(
        "| {:<58} | {:>10} | {:>16} | {:>8} | {:>9} |",
        "configuration", "records/s", "min..max M/s", "CPU s/M", "tail s"
    );
    println!(
        "|{:-<60}|{:->12}|{:->18}|{:->10}|{:->11}|",
        "", "", "", "", ""
    );
}

fn pipeline_transforms(records: u64, reps: usize) {
    println!("\npipeline: in-bench connector -> connect_source -> counting sink, 1 worker, {records} records");
    run_orders(records.min(200_000), false);
    run_orders(records.min(200_000), true);
    let mut none = Vec::new();
    let mut three = Vec::new();
    for rep in 0..reps {
        for (t, runs) in [(false, &mut none), (true, &mut three)] {
            let r = run_orders(records, t);
            println!(
                "  rep {} transforms {:<5} {:>6.3} M rec/s  cpu {:.2} s",
                rep + 1,
                if t { "3" } else { "none" },
                records as f64 / r.to_n.as_secs_f64() / 1e6,
                r.cpu.as_secs_f64()
            );
            runs.push(r);
        }
    }
    table_header();
    let (r0, c0) = summarize_runs("connect_source, no transforms (baseline)", &none, records);
    let (r3, c3) = summarize_runs(
        "connect_source, 3 SMTs (InsertField, ReplaceField, MaskField)",
        &three,
        records,
    );
    let time_ratio = r0 / r3;
    println!(
        "time with 3 SMTs / without = {time_ratio:.3} (target <= 1.3: {}); CPU ratio {:.3}",
        verdict(time_ratio <= 1.3),
        c3 / c0
    );
}

// --------------------------------------------------------------- part 4

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// `exactly_once_file`'s rendering: `write_text` of the value and `\n`.
    Text,
    /// `value.converter=StringConverter`, CLI's lines framing.
    StringConv,
    /// `value.converter=JsonConverter`, `schemas.enable=false`.
    JsonConv,
}

impl Output {
    fn label(self) -> &'static str {
        match self {
            Output::Text => "default text rendering (exactly_once_file) (baseline)",
            Output::StringConv => "value.converter=StringConverter",
            Output::JsonConv => "value.converter=JsonConverter schemas.enable=false",
        }
    }
}

/// Renders a batch of records into one block and counts them: the body of
/// `render_blocks` (what `exactly_once_file` uses) plus a counter.
fn render_counted<'scope, D: 'static>(
    records: Stream<'scope, u64, Vec<D>>,
    counter: Arc<Counter>,
    target: u64,
    mut render: impl FnMut(&D, &mut Vec<u8>) + 'static,
) -> Stream<'scope, u64, Vec<Vec<u8>>> {
    records.unary::<CapacityContainerBuilder<Vec<Vec<u8>>>, _, _, _>(
        Pipeline,
        "RenderCounted",
        move |_, _| {
            move |input, output| {
                input.for_each_time(|time, data| {
                    let mut block = Vec::new();
                    let mut n = 0;
                    for batch in data {
                        n += batch.len();
                        for r in batch.iter() {
                            render(r, &mut block);
                        }
                    }
                    if !block.is_empty() {
                        output.session(&time).give(block);
                    }
                    counter.add(n, target);
                });
            }
        },
    )
}

fn run_file(input: &Path, out_dir: &Path, lines: u64, output: Output) -> Run {
    let mut props = Properties::new();
    for (k, v) in [
        ("name", "bench-file"),
        ("connector.class", "FileStreamSource"),
        ("topic", "lines"),
        ("file", input.to_str().expect("utf-8 path")),
    ] {
        props.insert(k.to_owned(), v.to_owned());
    }
    match output {
        Output::Text => {}
        Output::StringConv => {
            props.insert(
                "value.converter".into(),
                "org.apache.kafka.connect.storage.StringConverter".into(),
            );
        }
        Output::JsonConv => {
            props.insert(
                "value.converter".into(),
                "org.apache.kafka.connect.json.JsonConverter".into(),
            );
            props.insert("value.converter.schemas.enable".into(), "false".into());
        }
    }
    let out_path = out_dir.join("out.txt");
    let snapshots = out_dir.join("snapshots");
    let _ = std::fs::remove_dir_all(&snapshots);
    let spec = JobSpec::new(props)
        .snapshot_dir(&snapshots)
        .snapshot_interval(Duration::from_secs(1))
        .until_idle(UNTIL_IDLE)
        .encode(output != Output::Text);
    let counter = Arc::new(Counter::default());
    let sink_counter = counter.clone();
    let job_spec = spec.clone();
    let path = out_path.clone();
    let cpu0 = process_cpu();
    let start = Instant::now();
    timely::execute(timely::Config::thread(), move |worker| {
        let job = Job::prepare(worker, &job_spec).expect("prepare job");
        let c = sink_counter.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            let mut parts = vec![source.parts];
            let blocks = if output == Output::Text {
                render_counted(source.records, c, lines, |r: &SourceRecord, block| {
                    write_text(block, &r.value, r.value_schema.as_deref());
                    block.push(b'\n');
                })
            } else {
                // As the CLI does with value.converter set and lines framing:
                // the tasks convert (JobSpec::encode).
                render_counted(source.encoded, c, lines, |r: &EncodedRecord, block| {
                    block.extend_from_slice(r.value.as_deref().unwrap_or_default());
                    block.push(b'\n');
                })
            };
            parts.push(blocks.exactly_once_bytes(&job, &path, "output"));
            scope.checkpoint(&job, parts);
        });
        job.run(worker).expect("job run");
    })
    .expect("timely");
    let total = start.elapsed();
    assert_eq!(counter.n.load(Ordering::Relaxed), lines, "rendered count");
    let expected = lines
        * match output {
            Output::JsonConv => LINE_BYTES as u64 + 2, // quoted
            _ => LINE_BYTES as u64,
        };
    let written = std::fs::metadata(&out_path).map_or(0, |m| m.len());
    assert_eq!(written, expected, "output size for {output:?}");
    std::fs::remove_file(&out_path).ok();
    Run {
        to_n: counter
            .reached
            .get()
            .expect("reached")
            .duration_since(start),
        total,
        cpu: process_cpu() - cpu0,
    }
}

fn pipeline_file(lines: u64, reps: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let started = Instant::now();
    generate(&input, lines);
    println!(
        "\npipeline: FileStreamSource -> [encode in task] -> render -> exactly_once_bytes, \
         1 worker, snapshots 1 s, {lines} lines x {LINE_BYTES} B (generated in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let warm = dir.path().join("warm.txt");
    generate(&warm, lines.min(500_000));
    let outputs = [Output::Text, Output::StringConv, Output::JsonConv];
    for o in outputs {
        run_file(&warm, dir.path(), lines.min(500_000), o);
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); outputs.len()];
    for rep in 0..reps {
        for (i, &o) in outputs.iter().enumerate() {
            let r = run_file(&input, dir.path(), lines, o);
            println!(
                "  rep {} {:<55} {:>6.3} M lines/s  total {:.2} s  cpu {:.2} s",
                rep + 1,
                o.label(),
                lines as f64 / r.to_n.as_secs_f64() / 1e6,
                r.total.as_secs_f64(),
                r.cpu.as_secs_f64()
            );
            runs[i].push(r);
        }
    }
    println!("(records/s = lines/s counted once rendered, before the file write; tail = the rest of the job: last writes, final snapshot, fsync, 300 ms idle)");
    table_header();
    let results: Vec<(f64, f64)> = outputs
        .iter()
        .zip(&runs)
        .map(|(o, r)| summarize_runs(o.label(), r, lines))
        .collect();
    for (o, (rate, cpu)) in outputs.iter().zip(&results).skip(1) {
        println!(
            "{}: {:.3} x the default's lines/s, {:.3} x its CPU",
            o.label(),
            rate / results[0].0,
            cpu / results[0].1
        );
    }
}

// ----------------------------------------------------------------- main

struct Options {
    records: usize,
    reps: usize,
    pipeline_records: u64,
    lines: u64,
}

fn options(args: &[String]) -> Options {
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, var: &str, default: u64| -> u64 {
        flag(name)
            .or_else(|| std::env::var(var).ok())
            .map(|v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
            .unwrap_or(default)
    };
    Options {
        records: num("--records", "TC_BENCH_RECORDS", 1_000_000) as usize,
        reps: num("--reps", "TC_BENCH_REPS", 5).max(1) as usize,
        pipeline_records: num("--pipeline-records", "TC_BENCH_PIPELINE_RECORDS", 4_000_000),
        lines: num("--lines", "TC_BENCH_LINES", 10_000_000),
    }
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let args: Vec<String> = std::env::args().collect();
    let opts = options(&args);
    println!(
        "nproc {}, load average before: {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    if opts.records > 0 {
        micro_converters(opts.records, opts.reps);
        micro_chain(opts.records, opts.reps);
    }
    if opts.pipeline_records > 0 {
        pipeline_transforms(opts.pipeline_records, opts.reps);
    }
    if opts.lines > 0 {
        pipeline_file(opts.lines, opts.reps);
    }
    println!("\nload average after: {}", load_average());
}
