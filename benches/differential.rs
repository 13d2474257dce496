//! The differential adapter and operator state (issue 14).
//!
//! ```text
//! cargo bench -p timely-connect-operators --bench differential
//! cargo bench -p timely-connect-operators --bench differential -- --reps 5 --only adapter
//! ```
//!
//! 1. **Adapter against raw input.** A deterministic in-memory workload of
//!    Debezium change events for `customers(id, country)` and
//!    `orders(id, customer_id, amount numeric(12,2))`: an initial load (`r`)
//!    then updates (`u` of an amount, of a customer, of a country; `c` new
//!    orders; `d` deletes), cut into epochs. The same join + count (orders
//!    per customer country) runs on three inputs:
//!    - `adapter`: `SourceRecord`s (key structs, envelopes with `before`,
//!      `after`, `op`, `ts_ms` and their schemas) through
//!      `change_collection` (optionally with a snapshot directory and the
//!      checkpoint coordinator tied to the adapters' parts), in
//!      `ChangeFormat::Debezium` and, as `adapter, full before`, in
//!      `ChangeFormat::DebeziumFull`;
//!    - `raw`: the same changes already decoded into `((key, row), ±1)`
//!      updates, fed to differential `InputSession`s;
//!    - `hand`: the same records decoded by hand (envelope, `FromConnect`,
//!      the event's own `before` retracted) into `InputSession`s;
//!    - `decode only`: the same hand decoding with no dataflow: what
//!      reading the records costs, which bounds every input that starts
//!      from records at `1 / (1/raw + 1/decode)` on one worker.
//!
//!    A rate is changes over the time from the first record sent until the
//!    probe passed the last epoch; records are built before the clock
//!    starts (all of them; with `--warm`, each epoch's just before it is
//!    sent, the clock paused meanwhile, so that they are read while still
//!    in the caches, as a source's are). Each epoch is sent once the one
//!    before the previous is done (one epoch in flight), the same for
//!    every input.
//! 2. **Operator state snapshots.** `OperatorState<i64, Row>` with 1M keys:
//!    the full first `checkpoint`, then rounds that change 1 % of the keys
//!    and checkpoint again; bytes and time per snapshot against the full
//!    write; then `StateDir::compact` and `StateDir::load` of the manifest.
//!
//! Options: `--orders N` (200000), `--customers N` (10000), `--changes N`
//! (1000000, the load included), `--per-epoch N` (10000), `--reps R` (3),
//! `--keys N` (1000000), `--rounds N` (10), `--workers 1,2`,
//! `--only adapter|state`, `--no-snapshots` (skips the adapter run with
//! snapshots), `--input raw|adapter|full|hand|decode|snapshots|full-snapshots`
//! (that input only, to profile it; the table's ratios then need `raw`
//! among them),
//! `--warm` (inputs built per epoch, as above).
//!
//! Files go to a temporary directory under Cargo's `CARGO_TARGET_TMPDIR`
//! (on disk, so that fsync costs what it costs).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mod.rs"]
mod common;
use common::{load_average, median};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::Input as _;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::Input as _;
use timely::dataflow::ProbeHandle;
use timely_connect_operators::timely_connect::data::logical::decimal_builder;
use timely_connect_operators::timely_connect::data::{
    Decimal, FromConnect, Schema, SchemaBuilder, SchemaRef, SourceOffset, SourcePartition,
    SourceRecord, Struct, Value,
};
use timely_connect_operators::timely_connect::state::{StateDir, StateManifest};
use timely_connect_operators::timely_connect::Properties;
use timely_connect_operators::{
    ChangeCollection, ChangeFormat, Checkpoint, CheckpointPart, Job, JobSpec, OperatorState,
};

const COUNTRIES: [&str; 16] = [
    "AT", "BE", "BR", "CA", "CH", "DE", "ES", "FR", "GB", "IN", "IT", "JP", "NL", "PL", "SE", "US",
];

// ---------------------------------------------------------------- options

struct Options {
    orders: usize,
    customers: usize,
    changes: usize,
    per_epoch: usize,
    reps: usize,
    keys: usize,
    rounds: usize,
    workers: Vec<usize>,
    adapter: bool,
    state: bool,
    snapshots: bool,
    /// Only this input (`raw`, `adapter`, `hand`, `snapshots`), to profile one.
    input: Option<String>,
    /// Where snapshot and state files go (default: the target directory).
    tmp_dir: Option<PathBuf>,
    /// Build each epoch's input just before it is sent, with the clock
    /// paused, instead of all of them before the clock starts.
    warm: bool,
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            orders: 200_000,
            customers: 10_000,
            changes: 1_000_000,
            per_epoch: 10_000,
            reps: 3,
            keys: 1_000_000,
            rounds: 10,
            workers: vec![1, 2],
            adapter: true,
            state: true,
            snapshots: true,
            input: None,
            tmp_dir: None,
            warm: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
            let mut number = || -> usize {
                let v = value();
                v.parse().unwrap_or_else(|e| panic!("{a} {v}: {e}"))
            };
            match a.as_str() {
                "--orders" => o.orders = number(),
                "--customers" => o.customers = number(),
                "--changes" => o.changes = number(),
                "--per-epoch" => o.per_epoch = number(),
                "--reps" => o.reps = number(),
                "--keys" => o.keys = number(),
                "--rounds" => o.rounds = number(),
                "--workers" => {
                    o.workers = value()
                        .split(',')
                        .map(|w| w.parse().expect("--workers 1,2"))
                        .collect()
                }
                "--only" => match value().as_str() {
                    "adapter" => o.state = false,
                    "state" => o.adapter = false,
                    other => panic!("--only adapter|state, not {other}"),
                },
                "--no-snapshots" => o.snapshots = false,
                "--warm" => o.warm = true,
                "--input" => o.input = Some(value()),
                "--tmp-dir" => o.tmp_dir = Some(PathBuf::from(value())),
                "--bench" => {} // passed by `cargo bench`
                other => panic!("unknown option {other}"),
            }
        }
        assert!(o.customers > 0 && o.per_epoch > 0 && o.keys >= 100);
        o
    }
}

/// A deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ------------------------------------------------------------------- rows

/// An `orders` row as the join sees it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
struct Order {
    customer_id: i64,
    cents: i64,
}

/// A `customers` row as the join sees it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
struct Customer {
    country: String,
}

impl FromConnect for Order {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        let row = value.as_struct().ok_or("an orders row is a struct")?;
        let Some(Value::Int64(customer_id)) = row.get("customer_id") else {
            return Err("customer_id: not an INT64".into());
        };
        let amount_schema = &row
            .schema()
            .field("amount")
            .ok_or("no field `amount`")?
            .schema;
        let cents = match row.get("amount") {
            None | Some(Value::Null) => 0,
            Some(v) => {
                let d = Decimal::from_value(v, amount_schema).map_err(|e| e.to_string())?;
                if d.scale != 2 {
                    return Err(format!("amount: scale {} (2 expected)", d.scale));
                }
                i64::try_from(d.unscaled).map_err(|_| "amount out of range")?
            }
        };
        Ok(Order {
            customer_id: *customer_id,
            cents,
        })
    }
}

impl FromConnect for Customer {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        let row = value.as_struct().ok_or("a customers row is a struct")?;
        match row.get("country") {
            Some(Value::String(s)) => Ok(Customer { country: s.clone() }),
            None | Some(Value::Null) => Ok(Customer {
                country: String::new(),
            }),
            Some(other) => Err(format!("country: not a STRING: {other:?}")),
        }
    }
}

// --------------------------------------------------------------- workload

/// One change event, with the full rows before and after (as with
/// `REPLICA IDENTITY FULL`).
#[derive(Clone, Debug)]
enum Event {
    Order {
        op: &'static str,
        id: i64,
        before: Option<Order>,
        after: Option<Order>,
    },
    Customer {
        op: &'static str,
        id: i64,
        before: Option<Customer>,
        after: Option<Customer>,
    },
}

struct Workload {
    epochs: Vec<Vec<Event>>,
    /// Orders alive at the end: the sum of the final counts.
    live_orders: i64,
}

fn workload(o: &Options) -> Workload {
    let mut rng = Rng(0x5EED_0014);
    let mut events = Vec::with_capacity(o.changes);
    let mut customers: Vec<Customer> = Vec::with_capacity(o.customers);
    for id in 0..o.customers {
        let c = Customer {
            country: COUNTRIES[rng.below(COUNTRIES.len())].to_owned(),
        };
        customers.push(c.clone());
        events.push(Event::Customer {
            op: "r",
            id: id as i64,
            before: None,
            after: Some(c),
        });
    }
    let mut orders: HashMap<i64, Order> = HashMap::new();
    let mut live: Vec<i64> = Vec::new();
    let mut next_id = 0i64;
    let new_order = |rng: &mut Rng| Order {
        customer_id: rng.below(o.customers) as i64,
        cents: 100 + rng.below(100_000) as i64,
    };
    for _ in 0..o.orders {
        let row = new_order(&mut rng);
        orders.insert(next_id, row.clone());
        live.push(next_id);
        events.push(Event::Order {
            op: "r",
            id: next_id,
            before: None,
            after: Some(row),
        });
        next_id += 1;
    }
    while events.len() < o.changes {
        let dice = rng.below(100);
        if live.is_empty() || (60..80).contains(&dice) {
            let row = new_order(&mut rng);
            orders.insert(next_id, row.clone());
            live.push(next_id);
            events.push(Event::Order {
                op: "c",
                id: next_id,
                before: None,
                after: Some(row),
            });
            next_id += 1;
        } else if dice < 60 {
            let id = live[rng.below(live.len())];
            let old = orders[&id].clone();
            let mut new = old.clone();
            if dice < 45 {
                new.cents = 100 + rng.below(100_000) as i64;
            } else {
                new.customer_id = rng.below(o.customers) as i64;
            }
            orders.insert(id, new.clone());
            events.push(Event::Order {
                op: "u",
                id,
                before: Some(old),
                after: Some(new),
            });
        } else if dice < 90 {
            let id = live.swap_remove(rng.below(live.len()));
            let old = orders.remove(&id);
            events.push(Event::Order {
                op: "d",
                id,
                before: old,
                after: None,
            });
        } else {
            let id = rng.below(o.customers);
            let old = customers[id].clone();
            let new = Customer {
                country: COUNTRIES[rng.below(COUNTRIES.len())].to_owned(),
            };
            customers[id] = new.clone();
            events.push(Event::Customer {
                op: "u",
                id: id as i64,
                before: Some(old),
                after: Some(new),
            });
        }
    }
    let mut epochs = Vec::new();
    let mut it = events.into_iter().peekable();
    while it.peek().is_some() {
        epochs.push(it.by_ref().take(o.per_epoch).collect());
    }
    Workload {
        epochs,
        live_orders: live.len() as i64,
    }
}

/// The schemas a CDC connector would attach, built once.
struct Schemas {
    order_key: SchemaRef,
    order_row: SchemaRef,
    order_envelope: SchemaRef,
    customer_key: SchemaRef,
    customer_row: SchemaRef,
    customer_envelope: SchemaRef,
    amount: SchemaRef,
    partition: SourcePartition,
    lsn: Arc<str>,
    orders_topic: Arc<str>,
    customers_topic: Arc<str>,
}

impl Schemas {
    fn new() -> Schemas {
        let key = |table: &str| {
            SchemaBuilder::struct_()
                .name(&format!("db.public.{table}.Key"))
                .field("id", SchemaBuilder::int64().build())
                .build()
        };
        let envelope = |table: &str, row: &SchemaRef| {
            SchemaBuilder::struct_()
                .name(&format!("db.public.{table}.Envelope"))
                .field("before", row.clone())
                .field("after", row.clone())
                .field("op", SchemaBuilder::string().build())
                .field("ts_ms", SchemaBuilder::int64().optional().build())
                .build()
        };
        let amount = decimal_builder(2).optional().build();
        let order_row = SchemaBuilder::struct_()
            .name("db.public.orders.Value")
            .field("id", SchemaBuilder::int64().build())
            .field("customer_id", SchemaBuilder::int64().build())
            .field("amount", amount.clone())
            .optional()
            .build();
        let customer_row = SchemaBuilder::struct_()
            .name("db.public.customers.Value")
            .field("id", SchemaBuilder::int64().build())
            .field("country", SchemaBuilder::string().optional().build())
            .optional()
            .build();
        Schemas {
            order_key: key("orders"),
            order_envelope: envelope("orders", &order_row),
            order_row,
            customer_key: key("customers"),
            customer_envelope: envelope("customers", &customer_row),
            customer_row,
            amount,
            partition: SourcePartition::single("server", "db"),
            lsn: SourceOffset::key("lsn"),
            orders_topic: "db.public.orders".into(),
            customers_topic: "db.public.customers".into(),
        }
    }

    fn order_value(&self, id: i64, o: &Option<Order>) -> Value {
        let Some(o) = o else { return Value::Null };
        let mut s = Struct::new(self.order_row.clone());
        s.put("id", Value::Int64(id)).unwrap();
        s.put("customer_id", Value::Int64(o.customer_id)).unwrap();
        let amount = Decimal::new(i128::from(o.cents), 2);
        s.put("amount", amount.to_value_for(&self.amount).unwrap())
            .unwrap();
        Value::Struct(s)
    }

    fn customer_value(&self, id: i64, c: &Option<Customer>) -> Value {
        let Some(c) = c else { return Value::Null };
        let mut s = Struct::new(self.customer_row.clone());
        s.put("id", Value::Int64(id)).unwrap();
        s.put("country", Value::String(c.country.clone())).unwrap();
        Value::Struct(s)
    }

    /// The record a Debezium-style connector emits for `event`; `lsn` is
    /// its position.
    fn record(&self, event: &Event, lsn: i64) -> SourceRecord {
        let (topic, key_schema, envelope_schema, id, op, before, after) = match event {
            Event::Order {
                op,
                id,
                before,
                after,
            } => (
                &self.orders_topic,
                &self.order_key,
                &self.order_envelope,
                *id,
                *op,
                self.order_value(*id, before),
                self.order_value(*id, after),
            ),
            Event::Customer {
                op,
                id,
                before,
                after,
            } => (
                &self.customers_topic,
                &self.customer_key,
                &self.customer_envelope,
                *id,
                *op,
                self.customer_value(*id, before),
                self.customer_value(*id, after),
            ),
        };
        let mut key = Struct::new(key_schema.clone());
        key.put("id", Value::Int64(id)).unwrap();
        let mut envelope = Struct::new(envelope_schema.clone());
        envelope.put("before", before).unwrap();
        envelope.put("after", after).unwrap();
        envelope.put("op", Value::String(op.into())).unwrap();
        let ts = 1_700_000_000_000 + lsn;
        envelope.put("ts_ms", Value::Int64(ts)).unwrap();
        SourceRecord::new(
            self.partition.clone(),
            SourceOffset::int(&self.lsn, lsn),
            topic.clone(),
            Some(envelope_schema.clone()),
            Value::Struct(envelope),
        )
        .with_key(Some(key_schema.clone()), Value::Struct(key))
        .with_timestamp(ts)
    }
}

/// The `((key, row), diff)` updates of an event, from its own `before` and
/// `after`.
type Updates<V> = Vec<((i64, V), isize)>;

fn push_updates<V: Clone>(out: &mut Updates<V>, id: i64, before: &Option<V>, after: &Option<V>) {
    if let Some(b) = before {
        out.push(((id, b.clone()), -1));
    }
    if let Some(a) = after {
        out.push(((id, a.clone()), 1));
    }
}

/// Reads a Debezium record by hand, outside the adapter: the envelope's
/// `before` is retracted and its `after` inserted.
fn hand_decode<V: FromConnect>(record: &SourceRecord, out: &mut Updates<V>) {
    let id = i64::from_connect(&record.key, record.key_schema.as_deref()).unwrap();
    let Value::Struct(envelope) = &record.value else {
        return; // a tombstone
    };
    for (field, diff) in [("before", -1), ("after", 1)] {
        match envelope.get(field) {
            None | Some(Value::Null) => {}
            Some(row) => out.push(((id, V::from_connect(row, None).unwrap()), diff)),
        }
    }
}

/// An epoch's orders and customers records, decoded by hand.
fn hand_decode_all(
    orders: &[SourceRecord],
    customers: &[SourceRecord],
) -> (Updates<Order>, Updates<Customer>) {
    let (mut o, mut c) = (Vec::new(), Vec::new());
    orders.iter().for_each(|r| hand_decode(r, &mut o));
    customers.iter().for_each(|r| hand_decode(r, &mut c));
    (o, c)
}

// ------------------------------------------------------------ the adapter

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Input {
    /// `change_collection`, optionally with snapshots.
    /// `full`: `ChangeFormat::DebeziumFull` (the events' own `before`
    /// retracted, no rows kept per key) instead of `ChangeFormat::Debezium`.
    Adapter { snapshots: bool, full: bool },
    /// Decoded updates into `InputSession`s.
    Raw,
    /// Records decoded by hand into `InputSession`s.
    Hand,
    /// Records decoded by hand as for `Hand`, and dropped, with no
    /// dataflow: what reading Connect records costs on its own, which any
    /// input that starts from them pays on top of the raw input's work.
    DecodeOnly,
}

impl Input {
    fn label(self) -> &'static str {
        match self {
            Input::Adapter {
                snapshots: false,
                full: false,
            } => "adapter",
            Input::Adapter {
                snapshots: true,
                full: false,
            } => "adapter + snapshots",
            Input::Adapter {
                snapshots: false,
                full: true,
            } => "adapter, full before",
            Input::Adapter {
                snapshots: true,
                full: true,
            } => "adapter, full before + snapshots",
            Input::Raw => "raw (decoded updates)",
            Input::Hand => "raw (decoded by hand)",
            Input::DecodeOnly => "decode only (no dataflow)",
        }
    }
}

/// One run's result.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// First record sent until the probe passed the last epoch.
    elapsed: Duration,
    /// Until the job's durable frontier passed the last epoch (snapshots).
    durable: Option<Duration>,
    snapshots: u64,
}

/// Orders per customer country, maintained.
fn join_count<'s>(
    orders: VecCollection<'s, u64, (i64, Order), isize>,
    customers: VecCollection<'s, u64, (i64, Customer), isize>,
    total: Arc<AtomicI64>,
    probe: &ProbeHandle<u64>,
) {
    orders
        .map(|(_id, o)| (o.customer_id, ()))
        .join_map(
            customers.map(|(id, c)| (id, c.country)),
            |_customer, (), country| country.clone(),
        )
        .count()
        .inspect(move |((_country, n), _time, diff)| {
            total.fetch_add(*n as i64 * *diff as i64, Ordering::Relaxed);
        })
        .probe_with(probe);
}

fn datagen_props() -> Properties {
    let mut props = Properties::new();
    for (k, v) in [
        ("name", "bench"),
        ("connector.class", "Datagen"),
        ("quickstart", "users"),
        ("max.messages", "0"),
    ] {
        props.insert(k.into(), v.into());
    }
    props
}

/// A worker's share of an epoch, as the input it feeds takes it.
enum Prepared {
    Decoded(Updates<Order>, Updates<Customer>),
    Records(Vec<SourceRecord>, Vec<SourceRecord>),
}

/// The epochs' inputs, all built before the clock starts (cold: a
/// million records of the same age, long out of the caches when they are
/// read), or each built just before it is sent (warm, as a source hands
/// over what it just read), with the clock paused while it is built.
struct Batches<B, F> {
    built: Vec<Option<B>>,
    build: Option<F>,
    /// Time spent building while the clock ran.
    paused: Duration,
}

impl<B, F: FnMut(usize) -> B> Batches<B, F> {
    fn new(warm: bool, epochs: &[Vec<Event>], mut build: F) -> Self {
        if warm {
            return Batches {
                built: Vec::new(),
                build: Some(build),
                paused: Duration::ZERO,
            };
        }
        Batches {
            built: (0..epochs.len()).map(|e| Some(build(e))).collect(),
            build: None,
            paused: Duration::ZERO,
        }
    }

    fn take(&mut self, e: usize) -> B {
        match &mut self.build {
            Some(build) => {
                let t = Instant::now();
                let b = build(e);
                self.paused += t.elapsed();
                b
            }
            None => self.built[e].take().expect("each epoch is taken once"),
        }
    }
}

fn run_adapter(
    input: Input,
    workers: usize,
    work: &Arc<Workload>,
    tmp: &Path,
    rep: usize,
    warm: bool,
) -> Run {
    let snapshot_dir: Option<PathBuf> = match input {
        Input::Adapter {
            snapshots: true, ..
        } => {
            let d = tmp.join(format!("adapter-{workers}w-{rep}"));
            let _ = std::fs::remove_dir_all(&d);
            Some(d)
        }
        _ => None,
    };
    let mut spec = JobSpec::new(datagen_props());
    if let Some(d) = &snapshot_dir {
        spec = spec.snapshot_dir(d);
    }
    let total = Arc::new(AtomicI64::new(0));
    let barrier = Arc::new(Barrier::new(workers));
    // Per worker: until the probe passed the last epoch, and until durable.
    type Times = Vec<(Duration, Option<Duration>)>;
    let times: Arc<Mutex<Times>> = Arc::default();
    let with_snapshots = snapshot_dir.is_some();
    let (work2, total2, times2, spec2) = (work.clone(), total.clone(), times.clone(), spec.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let job = Job::prepare(worker, &spec2).unwrap();
        let probe = ProbeHandle::new();
        let schemas = Schemas::new();
        // This worker's share of every epoch, prepared before the clock
        // starts: the events of the keys `id % peers == index`, as if each
        // worker read its own source partitions. All changes of a key come
        // from one worker, in order: the adapter applies an epoch's changes
        // of a key in the order they arrive, and the order of records from
        // different workers within an epoch is not defined.
        let mine = |e: &Vec<Event>| -> Vec<(usize, Event)> {
            e.iter()
                .enumerate()
                .filter(|(_, ev)| {
                    let (Event::Order { id, .. } | Event::Customer { id, .. }) = ev;
                    *id as usize % peers == index
                })
                .map(|(i, ev)| (i, ev.clone()))
                .collect()
        };
        // The first position of each epoch.
        let firsts: Vec<i64> = work2
            .epochs
            .iter()
            .scan(0i64, |lsn, e| {
                let first = *lsn;
                *lsn += e.len() as i64;
                Some(first)
            })
            .collect();
        // This worker's share of epoch `e`: decoded updates or records.
        let prepare = |e: usize, decoded: bool| -> Prepared {
            let events = mine(&work2.epochs[e]);
            if decoded {
                let (mut o, mut c) = (Vec::new(), Vec::new());
                for (_, ev) in &events {
                    match ev {
                        Event::Order {
                            id, before, after, ..
                        } => push_updates(&mut o, *id, before, after),
                        Event::Customer {
                            id, before, after, ..
                        } => push_updates(&mut c, *id, before, after),
                    }
                }
                Prepared::Decoded(o, c)
            } else {
                let (mut o, mut c) = (Vec::new(), Vec::new());
                for (i, ev) in events {
                    let r = schemas.record(&ev, firsts[e] + i as i64);
                    match ev {
                        Event::Order { .. } => o.push(r),
                        Event::Customer { .. } => c.push(r),
                    }
                }
                Prepared::Records(o, c)
            }
        };
        let start;
        let paused;
        match input {
            Input::Adapter { snapshots, full } => {
                let format = if full {
                    ChangeFormat::DebeziumFull
                } else {
                    ChangeFormat::Debezium
                };
                let (mut oin, mut cin) = worker.dataflow::<u64, _, _>(|scope| {
                    let (oin, orders) = scope.new_input::<Vec<SourceRecord>>();
                    let (cin, customers) = scope.new_input::<Vec<SourceRecord>>();
                    let orders = orders.change_collection::<i64, Order>(&job, "orders", format);
                    let customers =
                        customers.change_collection::<i64, Customer>(&job, "customers", format);
                    join_count(
                        orders.collection,
                        customers.collection,
                        total2.clone(),
                        &probe,
                    );
                    if snapshots {
                        scope.checkpoint(&job, vec![orders.parts, customers.parts]);
                    }
                    (oin, cin)
                });
                let mut batches = Batches::new(warm, &work2.epochs, |e| {
                    let Prepared::Records(o, c) = prepare(e, false) else {
                        unreachable!("records asked for")
                    };
                    (o, c)
                });
                barrier.wait();
                start = Instant::now();
                for e in 0..work2.epochs.len() {
                    let (mut o, mut c) = batches.take(e);
                    let e = e as u64;
                    oin.send_batch(&mut o);
                    cin.send_batch(&mut c);
                    oin.advance_to(e + 1);
                    cin.advance_to(e + 1);
                    while probe.less_than(&e) {
                        worker.step();
                    }
                }
                paused = batches.paused;
            }
            Input::Raw | Input::Hand | Input::DecodeOnly => {
                let (mut oin, mut cin) = worker.dataflow::<u64, _, _>(|scope| {
                    let (oin, orders) = scope.new_collection::<(i64, Order), isize>();
                    let (cin, customers) = scope.new_collection::<(i64, Customer), isize>();
                    join_count(orders, customers, total2.clone(), &probe);
                    (oin, cin)
                });
                let mut batches =
                    Batches::new(warm, &work2.epochs, |e| prepare(e, input == Input::Raw));
                barrier.wait();
                start = Instant::now();
                if input == Input::DecodeOnly {
                    // The decoded updates outlive the clock: the raw input
                    // starts from them, and its time does not count their
                    // drop either.
                    let mut decoded = Vec::with_capacity(work2.epochs.len());
                    for e in 0..work2.epochs.len() {
                        if let Prepared::Records(ro, rc) = batches.take(e) {
                            decoded.push(hand_decode_all(&ro, &rc));
                        }
                    }
                    let elapsed = start.elapsed().saturating_sub(batches.paused);
                    drop(decoded);
                    times2.lock().unwrap().push((elapsed, None));
                    return;
                }
                for e in 0..work2.epochs.len() {
                    let batch = batches.take(e);
                    let e = e as u64;
                    let (o, c) = match batch {
                        Prepared::Decoded(o, c) => (o, c),
                        Prepared::Records(ro, rc) => hand_decode_all(&ro, &rc),
                    };
                    for (d, diff) in o {
                        oin.update(d, diff);
                    }
                    for (d, diff) in c {
                        cin.update(d, diff);
                    }
                    oin.advance_to(e + 1);
                    cin.advance_to(e + 1);
                    oin.flush();
                    cin.flush();
                    while probe.less_than(&e) {
                        worker.step();
                    }
                }
                paused = batches.paused;
            }
        }
        // Close the inputs (dropped with the dataflow's handles above) and
        // wait for the last epoch.
        while !probe.done() {
            worker.step();
        }
        let elapsed = start.elapsed().saturating_sub(paused);
        let durable = if with_snapshots {
            job.run(worker).unwrap();
            Some(start.elapsed().saturating_sub(paused))
        } else {
            None
        };
        times2.lock().unwrap().push((elapsed, durable));
    })
    .unwrap();
    let got = total.load(Ordering::Relaxed);
    assert!(
        input == Input::DecodeOnly || got == work.live_orders,
        "{}: the final counts add up to {got}, not {} live orders",
        input.label(),
        work.live_orders
    );
    let times = times.lock().unwrap();
    let elapsed = times.iter().map(|t| t.0).max().unwrap();
    let durable = times.iter().filter_map(|t| t.1).max();
    let snapshots = if with_snapshots {
        spec.metrics().view().snapshots
    } else {
        0
    };
    Run {
        elapsed,
        durable,
        snapshots,
    }
}

fn adapter_section(o: &Options, tmp: &Path) {
    let started = Instant::now();
    let work = Arc::new(workload(o));
    let changes: usize = work.epochs.iter().map(Vec::len).sum();
    println!(
        "workload: {changes} changes ({} customers and {} orders loaded, then updates) in {} epochs of {}; {} orders live at the end; generated in {:.2} s; inputs built {}",
        o.customers,
        o.orders,
        work.epochs.len(),
        o.per_epoch,
        work.live_orders,
        started.elapsed().as_secs_f64(),
        if o.warm {
            "per epoch, just before it is sent (--warm)"
        } else {
            "before the clock starts"
        }
    );
    let adapter = |snapshots, full| Input::Adapter { snapshots, full };
    let mut inputs = vec![
        Input::Raw,
        adapter(false, false),
        adapter(false, true),
        Input::Hand,
        Input::DecodeOnly,
    ];
    if o.snapshots {
        inputs.push(adapter(true, false));
        inputs.push(adapter(true, true));
    }
    if let Some(only) = &o.input {
        inputs = vec![match only.as_str() {
            "raw" => Input::Raw,
            "adapter" => adapter(false, false),
            "full" => adapter(false, true),
            "hand" => Input::Hand,
            "decode" => Input::DecodeOnly,
            "snapshots" => adapter(true, false),
            "full-snapshots" => adapter(true, true),
            other => {
                panic!("--input raw|adapter|full|hand|decode|snapshots|full-snapshots, not {other}")
            }
        }];
    }
    let mut runs: HashMap<(usize, Input), Vec<Run>> = HashMap::new();
    for rep in 0..o.reps {
        for &w in &o.workers {
            for &input in &inputs {
                let run = run_adapter(input, w, &work, tmp, rep, o.warm);
                let rate = changes as f64 / run.elapsed.as_secs_f64();
                println!(
                    "  rep {rep} {w}w {:<24} {:>7.3} s {:>9.0} changes/s{}",
                    input.label(),
                    run.elapsed.as_secs_f64(),
                    rate,
                    run.durable.map_or(String::new(), |d| format!(
                        "  (durable after {:.3} s, {} snapshots written)",
                        d.as_secs_f64(),
                        run.snapshots
                    ))
                );
                runs.entry((w, input)).or_default().push(run);
            }
        }
    }
    println!();
    println!(
        "| workers | input | changes/s (median of {}) | × raw | reps (s) |",
        o.reps
    );
    println!("|---:|---|---:|---:|---|");
    for &w in &o.workers {
        let rate = |input: Input| {
            median(
                runs.get(&(w, input))
                    .into_iter()
                    .flatten()
                    .map(|r| changes as f64 / r.elapsed.as_secs_f64())
                    .collect(),
            )
        };
        let raw = rate(Input::Raw);
        for &input in &inputs {
            let reps: Vec<String> = runs[&(w, input)]
                .iter()
                .map(|r| format!("{:.2}", r.elapsed.as_secs_f64()))
                .collect();
            println!(
                "| {w} | {} | {:.0} | {:.2} | {} |",
                input.label(),
                rate(input),
                rate(input) / raw,
                reps.join(" / ")
            );
        }
        // One worker does the raw input's work and the decoding one after
        // the other, so no input that reads Connect records can do better
        // than this on one worker (with more, the two can overlap).
        let decode = rate(Input::DecodeOnly);
        if raw > 0.0 && decode > 0.0 {
            println!(
                "| {w} | bound for any input that decodes records: 1 / (1/raw + 1/decode only) | {:.0} | {:.2} | |",
                1.0 / (1.0 / raw + 1.0 / decode),
                1.0 / (1.0 + raw / decode)
            );
        }
        for full in [false, true] {
            let input = adapter(true, full);
            if let Some(durable) = runs.get(&(w, input)).map(|rs| {
                median(
                    rs.iter()
                        .filter_map(|r| r.durable)
                        .map(|d| d.as_secs_f64())
                        .collect(),
                )
            }) {
                println!(
                    "| {w} | {}, until durable | {:.0} | {:.2} | |",
                    input.label(),
                    changes as f64 / durable,
                    changes as f64 / durable / raw
                );
            }
        }
    }
    println!();
}

// ---------------------------------------------------------- operator state

/// A row of the state bench: about what an orders row costs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct StateRow {
    customer_id: i64,
    cents: i64,
    country: String,
}

fn state_row(k: i64, round: usize) -> StateRow {
    StateRow {
        customer_id: k % 10_007,
        cents: k * 31 + round as i64,
        country: COUNTRIES[(k as usize + round) % COUNTRIES.len()].to_owned(),
    }
}

struct StateRun {
    full: (u64, Duration),
    deltas: Vec<(u64, Duration)>,
    compact: (u64, Duration),
    /// The compacted base and the same deltas again: a later compaction.
    recompact: (u64, Duration),
    load_deltas: Duration,
    load_base: Duration,
}

fn run_state(o: &Options, tmp: &Path, rep: usize) -> StateRun {
    let dir = tmp.join(format!("state-{rep}"));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = JobSpec::new(datagen_props()).snapshot_dir(&dir);
    let result: Arc<Mutex<Option<StateRun>>> = Arc::default();
    let result2 = result.clone();
    let (keys, rounds) = (o.keys, o.rounds);
    let dir2 = dir.clone();
    timely::execute(timely::Config::thread(), move |worker| {
        let job = Job::prepare(worker, &spec).unwrap();
        let mut state: OperatorState<i64, StateRow> =
            OperatorState::restore(&job, "rows", |_| true).unwrap();
        let segment = |part: Option<CheckpointPart>| match part {
            Some(CheckpointPart::State { segment, .. }) => segment,
            other => panic!("expected a state part, got {other:?}"),
        };
        for k in 0..keys as i64 {
            state.insert(k, state_row(k, 0));
        }
        let t = Instant::now();
        let base = segment(state.checkpoint(0).unwrap());
        let full = (base.bytes, t.elapsed());
        let mut manifest = StateManifest {
            segments: vec![base],
        };
        let mut deltas = Vec::new();
        let changed = keys / 100;
        for round in 1..=rounds {
            // 1 % of the keys, distinct (7919 is prime to 10^6), a different
            // set every round.
            for j in 0..changed {
                let k = ((j * 7919 + round * 104_729) % keys) as i64;
                state.insert(k, state_row(k, round));
            }
            let t = Instant::now();
            let seg = segment(state.checkpoint(round as u64).unwrap());
            deltas.push((seg.bytes, t.elapsed()));
            manifest.segments.push(seg);
        }
        let store = StateDir::new(&dir2);
        let t = Instant::now();
        let loaded = store.load("rows", &manifest, |_| true).unwrap();
        let load_deltas = t.elapsed();
        assert_eq!(loaded.len(), keys);
        drop(loaded);
        let t = Instant::now();
        let compacted = store.compact("rows", &manifest, 0).unwrap();
        let compact = (compacted.bytes, t.elapsed());
        let mut again = manifest.segments[1..].to_vec();
        again.insert(0, compacted.clone());
        let t = Instant::now();
        let recompacted = store
            .compact("rows", &StateManifest { segments: again }, 1)
            .unwrap();
        let recompact = (recompacted.bytes, t.elapsed());
        assert_eq!(recompacted.entries, keys as u64);
        let base_only = StateManifest {
            segments: vec![compacted],
        };
        let t = Instant::now();
        let loaded = store.load("rows", &base_only, |_| true).unwrap();
        let load_base = t.elapsed();
        assert_eq!(loaded.len(), keys);
        *result2.lock().unwrap() = Some(StateRun {
            full,
            deltas,
            compact,
            recompact,
            load_deltas,
            load_base,
        });
    })
    .unwrap();
    let run = result.lock().unwrap().take().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    run
}

fn state_section(o: &Options, tmp: &Path) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut runs = Vec::new();
    for rep in 0..o.reps {
        let r = run_state(o, tmp, rep);
        let delta_ms: Vec<f64> = r.deltas.iter().map(|d| ms(d.1)).collect();
        println!(
            "  rep {rep}: full {} B in {:.1} ms; deltas {:?} B in {:.1?} ms; compact {:.1} ms, again onto the base {:.1} ms; load base+{} {:.1} ms, base {:.1} ms",
            r.full.0,
            ms(r.full.1),
            r.deltas.iter().map(|d| d.0).collect::<Vec<_>>(),
            delta_ms,
            ms(r.compact.1),
            ms(r.recompact.1),
            o.rounds,
            ms(r.load_deltas),
            ms(r.load_base),
        );
        runs.push(r);
    }
    let med = |f: &dyn Fn(&StateRun) -> f64| median(runs.iter().map(f).collect());
    let full_bytes = med(&|r| r.full.0 as f64);
    let full_ms = med(&|r| ms(r.full.1));
    let delta_bytes = med(&|r| median(r.deltas.iter().map(|d| d.0 as f64).collect()));
    let delta_ms = med(&|r| median(r.deltas.iter().map(|d| ms(d.1)).collect()));
    let delta_max_ms = med(&|r| r.deltas.iter().map(|d| ms(d.1)).fold(0.0, f64::max));
    println!();
    println!(
        "{} keys, {} % changed per snapshot, {} rounds; medians over {} reps",
        o.keys, 1, o.rounds, o.reps
    );
    println!("| what | bytes | ms | bytes / full | ms / full |");
    println!("|---|---:|---:|---:|---:|");
    println!("| full state write (`checkpoint(0)` of {} keys) | {full_bytes:.0} | {full_ms:.1} | 1 | 1 |", o.keys);
    println!(
        "| snapshot after 1 % changed (median round; slowest {delta_max_ms:.1} ms) | {delta_bytes:.0} | {delta_ms:.1} | {:.4} | {:.4} |",
        delta_bytes / full_bytes,
        delta_ms / full_ms
    );
    let compact_bytes = med(&|r| r.compact.0 as f64);
    println!(
        "| `StateDir::compact` of base + {} deltas | {compact_bytes:.0} | {:.1} | {:.3} | {:.2} |",
        o.rounds,
        med(&|r| ms(r.compact.1)),
        compact_bytes / full_bytes,
        med(&|r| ms(r.compact.1)) / full_ms
    );
    println!(
        "| `StateDir::compact` of the compacted base + the {} deltas (a later compaction) | {:.0} | {:.1} | {:.3} | {:.2} |",
        o.rounds,
        med(&|r| r.recompact.0 as f64),
        med(&|r| ms(r.recompact.1)),
        med(&|r| r.recompact.0 as f64) / full_bytes,
        med(&|r| ms(r.recompact.1)) / full_ms
    );
    println!(
        "| `StateDir::load` of base + {} deltas | | {:.1} | | {:.2} |",
        o.rounds,
        med(&|r| ms(r.load_deltas)),
        med(&|r| ms(r.load_deltas)) / full_ms
    );
    println!(
        "| `StateDir::load` of the compacted base | | {:.1} | | {:.2} |",
        med(&|r| ms(r.load_base)),
        med(&|r| ms(r.load_base)) / full_ms
    );
    println!();
}

fn main() {
    timely_connect_operators::disable_transparent_huge_pages();
    let o = Options::parse();
    // Snapshots and state files go under the target directory (a real
    // disk, real fsyncs) unless `--tmp-dir` names another place.
    let under = o
        .tmp_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let tmp = tempfile::tempdir_in(under).unwrap();
    println!(
        "differential bench: load {}; files under {}",
        load_average(),
        tmp.path().display()
    );
    if o.adapter {
        adapter_section(&o, tmp.path());
    }
    if o.state {
        state_section(&o, tmp.path());
    }
}
