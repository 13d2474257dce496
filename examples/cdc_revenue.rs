//! Revenue per customer country, maintained incrementally from PostgreSQL
//! change data capture, exactly once across kill -9.
//!
//! Tables `customers (id bigint primary key, country text)` and
//! `orders (id bigint primary key, customer_id bigint, amount numeric(12,2))`
//! are captured by the `PostgresCdc` connector named in a properties file;
//! their change events become differential collections, which are joined
//! and summed per country. The result's changes go to
//! `OUT/revenue_changes.jsonl` (one `{"row":[country,cents],"time":…,"diff":±1}`
//! per change), as Debezium-style change events per country to
//! `OUT/revenue_events.jsonl`, and its current contents to
//! `OUT/revenue_current.jsonl`;
//! snapshots (offsets, the adapters' rows, the result) to `OUT/snapshots`.
//! Run it again after a crash and it continues from its last snapshot.
//!
//! ```text
//! cargo run -p timely-connect-operators --example cdc_revenue -- \
//!     conn.properties OUT [--until-idle-ms 2000] [--interval-ms 500] [--full-before] [-w 2]
//! ```
//!
//! With `--full-before` the tables must have `REPLICA IDENTITY FULL`: the
//! adapters then retract each event's own `before`
//! (`ChangeFormat::DebeziumFull`) instead of keeping every row in memory.

use std::path::PathBuf;
use std::time::Duration;

use timely::dataflow::operators::vec::Filter;
use timely_connect::data::logical::Decimal;
use timely_connect::data::{FromConnect, Schema, Value};
use timely_connect_operators::{
    ChangeCollection, ChangeFormat, Checkpoint, ConnectSource, ExactlyOnceChangeEvents,
    ExactlyOnceChanges, Job, JobSpec,
};

/// An `orders` row: its customer and its amount in cents.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Order {
    /// `customer_id`.
    pub customer_id: i64,
    /// `amount`, in cents.
    pub cents: i64,
}

impl FromConnect for Order {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        let row = value.as_struct().ok_or("an orders row is a struct")?;
        let customer_id = match row.get("customer_id") {
            Some(Value::Int64(n)) => *n,
            other => return Err(format!("customer_id: expected INT64, got {other:?}")),
        };
        let amount = row.get("amount").ok_or("no field `amount`")?;
        let cents = match amount {
            Value::Null => 0,
            v => {
                let schema = row.schema().field("amount").map(|f| f.schema.clone());
                let schema = schema.ok_or("no field `amount`")?;
                let d = Decimal::from_value(v, &schema).map_err(|e| format!("amount: {e}"))?;
                to_cents(d)?
            }
        };
        Ok(Order { customer_id, cents })
    }
}

fn to_cents(d: Decimal) -> Result<i64, String> {
    let scaled = match d.scale {
        2 => d.unscaled,
        s if s < 2 => d.unscaled * 10i128.pow((2 - s) as u32),
        s => d.unscaled / 10i128.pow((s - 2) as u32),
    };
    i64::try_from(scaled).map_err(|_| format!("amount {d} does not fit in cents"))
}

/// A `customers` row: its country.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Customer {
    /// `country` (empty when null).
    pub country: String,
}

impl FromConnect for Customer {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        let row = value.as_struct().ok_or("a customers row is a struct")?;
        match row.get("country") {
            Some(Value::String(s)) => Ok(Customer { country: s.clone() }),
            Some(Value::Null) | None => Ok(Customer {
                country: String::new(),
            }),
            other => Err(format!("country: expected STRING, got {other:?}")),
        }
    }
}

/// What a run needs besides Timely's own arguments.
pub struct Args {
    /// The connector's properties file.
    pub connector: PathBuf,
    /// Where outputs and snapshots go.
    pub out: PathBuf,
    /// Stop after this long without records (runs on otherwise).
    pub until_idle: Option<Duration>,
    /// The snapshot interval.
    pub interval: Duration,
    /// The tables send whole old rows (`REPLICA IDENTITY FULL`).
    pub full_before: bool,
    /// Timely's arguments (`-w`, `-n`, `-p`, `-h`).
    pub timely: Vec<String>,
}

impl Args {
    /// Reads `CONN OUT [--until-idle-ms N] [--interval-ms N] [--full-before]
    /// [timely args]`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let usage = "usage: cdc_revenue CONN.properties OUT_DIR [--until-idle-ms N] [--interval-ms N] [--full-before] [-w N ...]";
        let mut it = args.into_iter();
        let connector = it.next().ok_or(usage)?.into();
        let out = it.next().ok_or(usage)?.into();
        let mut parsed = Args {
            connector,
            out,
            until_idle: None,
            interval: Duration::from_millis(500),
            full_before: false,
            timely: Vec::new(),
        };
        while let Some(a) = it.next() {
            let mut millis = || -> Result<Duration, String> {
                let v = it.next().ok_or(usage)?;
                v.parse()
                    .map(Duration::from_millis)
                    .map_err(|e| format!("{a} {v}: {e}"))
            };
            match a.as_str() {
                "--until-idle-ms" => parsed.until_idle = Some(millis()?),
                "--interval-ms" => parsed.interval = millis()?,
                "--full-before" => parsed.full_before = true,
                _ => parsed.timely.push(a),
            }
        }
        Ok(parsed)
    }
}

/// Runs the pipeline until it is idle (or forever without `until_idle`).
pub fn run(args: Args) -> Result<(), String> {
    let props =
        timely_connect::config::load_properties(&args.connector).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut spec = JobSpec::new(props)
        .snapshot_dir(args.out.join("snapshots"))
        .snapshot_interval(args.interval)
        .restore(timely_connect_operators::RestoreMode::Latest);
    if let Some(idle) = args.until_idle {
        spec = spec.until_idle(idle);
    }
    let changes_path = args.out.join("revenue_changes.jsonl");
    let current_path = args.out.join("revenue_current.jsonl");
    let events_path = args.out.join("revenue_events.jsonl");
    let format = if args.full_before {
        ChangeFormat::DebeziumFull
    } else {
        ChangeFormat::Debezium
    };
    let timely_args = std::iter::once("cdc_revenue".to_owned()).chain(args.timely);
    let guards = timely::execute_from_args(timely_args, move |worker| {
        let job = Job::prepare(worker, &spec).map_err(|e| e.to_string())?;
        worker.dataflow::<u64, _, _>(|scope| {
            let source = scope.connect_source(&job);
            let table = |suffix: &'static str| {
                move |r: &timely_connect::SourceRecord| r.topic.ends_with(suffix)
            };
            let orders = source
                .records
                .clone()
                .filter(table(".orders"))
                .change_collection::<i64, Order>(&job, "orders", format);
            let customers = source
                .records
                .filter(table(".customers"))
                .change_collection::<i64, Customer>(&job, "customers", format);
            let revenue = orders
                .collection
                .map(|(_id, o)| (o.customer_id, o.cents))
                .join_map(customers.collection, |_id, cents, c| {
                    (c.country.clone(), *cents)
                })
                .reduce(|_country, input, output| {
                    let sum: i64 = input.iter().map(|(cents, n)| **cents * *n as i64).sum();
                    output.push((sum, 1isize));
                });
            let events = revenue.clone().exactly_once_change_events(
                &job,
                &events_path,
                "revenue_events",
                None,
            );
            let written = revenue.exactly_once_changes(
                &job,
                &changes_path,
                "revenue",
                Some(current_path.as_path()),
            );
            scope.checkpoint(
                &job,
                vec![source.parts, orders.parts, customers.parts, written, events],
            );
        });
        job.run(worker).map_err(|e| e.to_string())
    })
    .map_err(|e| format!("cannot start timely: {e}"))?;
    for result in guards.join() {
        result.map_err(|e| e.to_string())??;
    }
    Ok(())
}

#[allow(dead_code)] // the tests include this file for `run`, not for `main`
fn main() {
    let result = Args::parse(std::env::args().skip(1)).and_then(run);
    if let Err(e) = result {
        eprintln!("cdc_revenue: {e}");
        std::process::exit(1);
    }
}
