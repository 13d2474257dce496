//! `change_collection`: a stream of change records as a differential
//! collection of `(key, row)`, with retractions, its current rows per key
//! kept in the job's snapshots.

use std::collections::BTreeMap;
use std::hash::Hash;

use differential_dataflow::{AsCollection, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use timely_connect::data::{FromConnect, Schema, SourceRecord, Struct, Value};
use timely_connect::runtime::CheckpointPart;

use crate::collection_sink::advance;
use crate::job::Job;
use crate::operator_state::{OperatorState, Replaced, StateLog};
use timely_connect::state::StateEntry;

/// How change records say what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeFormat {
    /// Debezium's envelope (`before`, `after`, `op`), as the PostgreSQL CDC
    /// connector and Java Debezium connectors write it: `c` and `r` insert
    /// `after`, `u` replaces the key's row with `after`, `d` deletes the
    /// key's row. Tombstones (a null value) and logical decoding messages
    /// (`m`) change nothing. The row a `u` or `d` retracts is the one the
    /// adapter holds for the key, not the event's `before` (which a table
    /// with `REPLICA IDENTITY DEFAULT` sends without its other columns),
    /// so retractions are exact.
    Debezium,
    /// Debezium's envelope from tables whose `before` is the whole old row
    /// (PostgreSQL's `REPLICA IDENTITY FULL`): `c` and `r` insert `after`,
    /// `u` retracts the event's own `before` and inserts `after`, `d`
    /// retracts `before`. The adapter keeps no row per key in memory and
    /// sends nothing between workers: each change is emitted by the worker
    /// that read it, and changes of one epoch apply in any order. With a
    /// snapshot directory each change's new row is still written into the
    /// snapshots, so a restore brings the rows back. A `u` or `d` without
    /// `before` fails the job. The source must deliver each change once
    /// (the project's sources do): a change read twice is applied twice.
    DebeziumFull,
    /// Upsert by key (a compacted topic's meaning): a value is the key's
    /// new row, a null value deletes the key.
    Upsert,
}

/// What [`ChangeCollection::change_collection`] returns.
pub struct Changes<'scope, K: 'static, V: 'static> {
    /// The current rows by key, as a differential collection: each change
    /// retracts the key's old row and inserts its new one at the epoch of
    /// the record. After a restore, the rows held at the snapshot come
    /// first, inserted at the run's first epoch.
    pub collection: VecCollection<'scope, u64, (K, V), isize>,
    /// The adapter's checkpoint parts (its per-key state): tie them to
    /// [`crate::Checkpoint::checkpoint`].
    pub parts: Stream<'scope, u64, Vec<CheckpointPart>>,
}

/// A change, decoded on the worker that holds the record and sent to the
/// worker that owns its key.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Change<K, V> {
    Put(K, V),
    Delete(K),
}

impl<K: Hashable, V> Change<K, V> {
    fn key(&self) -> &K {
        match self {
            Change::Put(k, _) | Change::Delete(k) => k,
        }
    }
}

/// Turns a stream of change records into a differential collection.
pub trait ChangeCollection<'scope> {
    /// Reads each record as a change of the row of its key (see
    /// [`ChangeFormat`]), sends it to the worker that owns the key, and
    /// there keeps the key's current row in [`OperatorState`] named `name`,
    /// so that a `u` or `d` retracts exactly the row the collection holds
    /// and a restore (on any number of workers) brings the rows back
    /// ([`ChangeFormat::DebeziumFull`] keeps no rows: it retracts each
    /// event's own `before`, and only logs the rows into the snapshots). The
    /// key and the row become `K` and `V` through [`FromConnect`]
    /// ([`timely_connect::data::Datum`] takes any value).
    ///
    /// A record the format cannot read fails the job with a message naming
    /// the record's topic, source partition and offset: a null key (a table
    /// without a primary key: give it one, or Debezium's
    /// `message.key.columns`), a value that is not an envelope in
    /// [`ChangeFormat::Debezium`] (filter other topics out first), a
    /// truncate (`t`; Debezium skips them by default), or a `FromConnect`
    /// error.
    ///
    /// ```
    /// use timely_connect::data::Datum;
    /// use timely_connect_operators::{Checkpoint, ChangeCollection, ChangeFormat, ConnectSource, Job, JobSpec};
    ///
    /// let mut props = timely_connect::Properties::new();
    /// for (k, v) in [("name", "g"), ("connector.class", "Datagen"), ("quickstart", "users"),
    ///                ("max.messages", "200")] {
    ///     props.insert(k.into(), v.into());
    /// }
    /// let spec = JobSpec::new(props).until_idle(std::time::Duration::from_millis(300));
    /// let users = std::sync::Arc::new(std::sync::Mutex::new(0isize));
    /// let seen = users.clone();
    /// timely::execute(timely::Config::process(2), move |worker| {
    ///     let job = Job::prepare(worker, &spec).unwrap();
    ///     let seen = seen.clone();
    ///     worker.dataflow::<u64, _, _>(|scope| {
    ///         let source = scope.connect_source(&job);
    ///         // Datagen's users, keyed by user id: each key holds its latest row.
    ///         let changes = source.records.change_collection::<Datum, Datum>(&job, "users", ChangeFormat::Upsert);
    ///         changes.collection
    ///             .inspect(move |(_, _, diff)| *seen.lock().unwrap() += diff);
    ///         scope.checkpoint(&job, vec![source.parts, changes.parts]);
    ///     });
    ///     job.run(worker).unwrap();
    /// }).unwrap();
    /// assert_eq!(*users.lock().unwrap(), 200); // 200 distinct user ids
    /// ```
    fn change_collection<K, V>(
        self,
        job: &Job,
        name: &str,
        format: ChangeFormat,
    ) -> Changes<'scope, K, V>
    where
        K: FromConnect + differential_dataflow::ExchangeData + Hash + Hashable,
        V: FromConnect + differential_dataflow::ExchangeData;
}

impl<'scope> ChangeCollection<'scope> for Stream<'scope, u64, Vec<SourceRecord>> {
    fn change_collection<K, V>(
        self,
        job: &Job,
        name: &str,
        format: ChangeFormat,
    ) -> Changes<'scope, K, V>
    where
        K: FromConnect + differential_dataflow::ExchangeData + Hash + Hashable,
        V: FromConnect + differential_dataflow::ExchangeData,
    {
        if format == ChangeFormat::DebeziumFull {
            return full_changes(self, job, name);
        }
        let shared = job.spec.shared.clone();
        let label = format!("changes `{name}`");
        let decoded = self
            .unary::<timely::container::CapacityContainerBuilder<Vec<Change<K, V>>>, _, _, _>(
                Pipeline,
                &format!("DecodeChanges({name})"),
                move |_, _| {
                    move |input, output| {
                        input.for_each_time(|time, data| {
                            let mut session = output.session(&time);
                            for batch in data {
                                for record in batch.iter() {
                                    match decode::<K, V>(record, format) {
                                        Ok(Some(change)) => session.give(change),
                                        Ok(None) => {}
                                        Err(e) => {
                                            shared.fail(refused(&label, record, &e));
                                            return;
                                        }
                                    }
                                }
                            }
                        });
                    }
                },
            );
        apply_changes(decoded, job, name)
    }
}

/// The job's failure for a record the adapter cannot read.
fn refused(label: &str, record: &SourceRecord, why: &str) -> String {
    format!(
        "{label}: record of topic `{}`, partition {}, offset {}: {why}",
        record.topic, record.source_partition, record.source_offset
    )
}

/// Why a record in [`ChangeFormat::Debezium`] is not a change event.
const NOT_ENVELOPE: &str =
    "the value is not a Debezium envelope (a struct with `op`); filter other topics out first";

/// Reads one record as a change; `None` for records that change nothing.
fn decode<K: FromConnect, V: FromConnect>(
    record: &SourceRecord,
    format: ChangeFormat,
) -> Result<Option<Change<K, V>>, String> {
    let key = || record_key::<K>(record);
    let row =
        |value: &Value, schema| V::from_connect(value, schema).map_err(|e| format!("row: {e}"));
    match format {
        ChangeFormat::Upsert => {
            let k = key()?;
            if record.value.is_null() {
                Ok(Some(Change::Delete(k)))
            } else {
                Ok(Some(Change::Put(
                    k,
                    row(&record.value, record.value_schema.as_deref())?,
                )))
            }
        }
        ChangeFormat::Debezium | ChangeFormat::DebeziumFull => {
            let Some((envelope, op)) = envelope(record)? else {
                return Ok(None);
            };
            match op {
                "c" | "r" | "u" => {
                    let (after, schema) = row_field(envelope, op, "after")?;
                    Ok(Some(Change::Put(key()?, row(after, Some(schema))?)))
                }
                "d" => Ok(Some(Change::Delete(key()?))),
                _ => Ok(None), // `m`: `envelope` refuses the others
            }
        }
    }
}

/// The record's key as `K`; an error for a null key.
fn record_key<K: FromConnect>(record: &SourceRecord) -> Result<K, String> {
    if record.key.is_null() {
        return Err(
            "the record has no key (a table without a primary key?); the adapter needs one".into(),
        );
    }
    K::from_connect(&record.key, record.key_schema.as_deref()).map_err(|e| format!("key: {e}"))
}

/// A Debezium record's envelope and its `op`; `None` for records that
/// change nothing (tombstones, logical decoding messages), an error for
/// values that are not envelopes and for ops the adapter cannot apply.
fn envelope(record: &SourceRecord) -> Result<Option<(&Struct, &str)>, String> {
    let envelope = match &record.value {
        Value::Null => return Ok(None), // tombstone
        Value::Struct(s) => s,
        _ => return Err(NOT_ENVELOPE.into()),
    };
    let op = match envelope.get("op") {
        Some(Value::String(op)) => op.as_str(),
        _ => return Err(NOT_ENVELOPE.into()),
    };
    match op {
        "c" | "r" | "u" | "d" => Ok(Some((envelope, op))),
        "m" => Ok(None),
        "t" => Err("a truncate event (op `t`): the adapter cannot retract a whole table; keep `skipped.operations` at its default `t`".into()),
        other => Err(format!("unknown op `{other}`")),
    }
}

/// The envelope's row field `name` (`before` or `after`) with its schema,
/// which op `op` must have.
fn row_field<'a>(
    envelope: &'a Struct,
    op: &str,
    name: &str,
) -> Result<(&'a Value, &'a Schema), String> {
    // One lookup of the field for its value and schema.
    envelope
        .schema()
        .field(name)
        .and_then(|f| {
            let v = match (envelope.values().get(f.index)?, &f.schema.default) {
                (Value::Null, Some(default)) => default,
                (v, _) => v,
            };
            Some((v, &*f.schema))
        })
        .filter(|(v, _)| !v.is_null())
        .ok_or_else(|| format!("op `{op}` without `{name}`"))
}

/// A change event of [`ChangeFormat::DebeziumFull`]: its key, the row it
/// retracts and the row it inserts.
struct FullChange<K, V> {
    key: K,
    before: Option<V>,
    after: Option<V>,
}

/// Reads one record of [`ChangeFormat::DebeziumFull`]; `None` for records
/// that change nothing.
fn decode_full<K: FromConnect, V: FromConnect>(
    record: &SourceRecord,
) -> Result<Option<FullChange<K, V>>, String> {
    let Some((envelope, op)) = envelope(record)? else {
        return Ok(None);
    };
    let key = record_key::<K>(record)?;
    let row = |field: &str| -> Result<V, String> {
        let (value, schema) = row_field(envelope, op, field).map_err(|e| {
            if field == "before" {
                format!("{e}: ChangeFormat::DebeziumFull needs the whole old row (REPLICA IDENTITY FULL); use ChangeFormat::Debezium for this table")
            } else {
                e
            }
        })?;
        V::from_connect(value, Some(schema)).map_err(|e| format!("{field}: {e}"))
    };
    let (before, after) = match op {
        "c" | "r" => (None, Some(row("after")?)),
        "u" => (Some(row("before")?), Some(row("after")?)),
        _ => (Some(row("before")?), None), // `d`
    };
    Ok(Some(FullChange { key, before, after }))
}

/// [`ChangeFormat::DebeziumFull`]: each record's changes emitted where it
/// was read, each key's new row logged into the snapshots.
fn full_changes<'scope, K, V>(
    records: Stream<'scope, u64, Vec<SourceRecord>>,
    job: &Job,
    name: &str,
) -> Changes<'scope, K, V>
where
    K: FromConnect + differential_dataflow::ExchangeData + Hash + Hashable,
    V: FromConnect + differential_dataflow::ExchangeData,
{
    let scope = records.scope();
    let mut builder = OperatorBuilder::new(format!("FullChanges({name})"), scope);
    let mut input = builder.new_input(records, Pipeline);
    let (mut updates_out, updates) = builder.new_output::<Vec<((K, V), u64, isize)>>();
    let (mut parts_out, parts) = builder.new_output::<Vec<CheckpointPart>>();
    let shared = job.spec.shared.clone();
    let label = format!("changes `{name}`");
    let start = job.plan.start_epoch;
    // The rows held at the snapshot restored from, spread over the workers
    // by key; the map that read them is dropped once they are out.
    let restored = restore_by_key::<K, V>(job, name).map(|state| restored_rows(&state, start));
    let (mut restored, log) = match (restored, StateLog::new(job, name)) {
        (Ok(rows), Ok(log)) => (rows, Some(log)),
        (Err(e), _) | (_, Err(e)) => {
            shared.fail(e);
            (Vec::new(), None)
        }
    };
    builder.build(move |mut caps| {
        let mut parts_cap = caps.pop();
        let mut updates_cap = caps.pop();
        for c in parts_cap.iter_mut().chain(updates_cap.iter_mut()) {
            c.downgrade(&start);
        }
        // Each epoch's logged rows, until the epoch is complete.
        let mut pending: BTreeMap<u64, Vec<StateEntry>> = BTreeMap::new();
        let mut applied_below = start;
        move |frontiers| {
            let Some(log) = log.as_ref() else {
                return; // restore failed: hold every capability
            };
            if let Some(cap) = updates_cap.take() {
                if !restored.is_empty() {
                    updates_out.activate().give(&cap, &mut restored);
                }
            }
            let tracks = log.tracks();
            input.for_each(|time, data| {
                if shared.failure().is_some() {
                    return;
                }
                let epoch = *time.time();
                let mut out = Vec::with_capacity(data.len() * 2);
                let mut logged = tracks.then(|| pending.entry(epoch).or_default());
                for record in data.iter() {
                    let change = match decode_full::<K, V>(record) {
                        Ok(Some(change)) => change,
                        Ok(None) => continue,
                        Err(e) => {
                            shared.fail(refused(&label, record, &e));
                            return;
                        }
                    };
                    if let Some(logged) = logged.as_mut() {
                        match log.entry(&change.key, change.after.as_ref()) {
                            Ok(entry) => logged.push(entry),
                            Err(e) => {
                                shared.fail(e);
                                return;
                            }
                        }
                    }
                    if let Some(before) = change.before {
                        out.push(((change.key.clone(), before), epoch, -1));
                    }
                    if let Some(after) = change.after {
                        out.push(((change.key, after), epoch, 1));
                    }
                }
                if !out.is_empty() {
                    updates_out.activate().give(&time.retain(0), &mut out);
                }
            });
            if shared.failure().is_some() || parts_cap.is_none() {
                return;
            }
            let frontier = frontiers[0].frontier().iter().next().copied();
            let reached = frontier.unwrap_or(u64::MAX);
            if reached <= applied_below {
                return;
            }
            // The complete epochs' rows, in epoch order, go into the
            // snapshot of the newest complete epoch.
            let done: Vec<u64> = pending.range(..reached).map(|(e, _)| *e).collect();
            let mut entries = Vec::new();
            let mut last = None;
            for e in done {
                if let Some(mut rows) = pending.remove(&e) {
                    entries.append(&mut rows);
                }
                last = Some(e);
            }
            let round = end_round(
                (frontier, last),
                &mut applied_below,
                &mut parts_cap,
                |epoch| log.checkpoint(epoch, &entries),
                |c, mut parts| parts_out.activate().give(c, &mut parts),
            );
            if let Err(e) = round {
                shared.fail(e);
            }
        }
    });
    Changes {
        collection: updates.as_collection(),
        parts,
    }
}

/// The adapter's state `name` as of the snapshot restored from, with the
/// keys this worker owns: routed as differential's exchange routes them
/// (`hashed() % peers`), on the current worker count.
fn restore_by_key<K, V>(job: &Job, name: &str) -> Result<OperatorState<K, V>, String>
where
    K: differential_dataflow::ExchangeData + Hash + Hashable,
    V: differential_dataflow::ExchangeData,
{
    let (index, peers) = (job.index, job.peers as u64);
    OperatorState::restore(job, name, |k: &K| {
        (Into::<u64>::into(k.hashed()) % peers) as usize == index
    })
}

/// The rows `state` holds, as insertions at epoch `start`.
fn restored_rows<K, V>(state: &OperatorState<K, V>, start: u64) -> Vec<((K, V), u64, isize)>
where
    K: differential_dataflow::ExchangeData + Hash,
    V: differential_dataflow::ExchangeData,
{
    state
        .iter()
        .map(|(k, v)| ((k.clone(), v.clone()), start, 1))
        .collect()
}

/// Ends an adapter's round once its input `frontier` has moved (`last`:
/// the newest epoch it applied): everything below the frontier is
/// applied, so `checkpoint` writes this worker's changes as the part of
/// the newest complete epoch's snapshot, handed to `give` with the parts
/// capability moved up to that epoch; the capability then follows the
/// frontier.
fn end_round(
    (frontier, last): (Option<u64>, Option<u64>),
    applied_below: &mut u64,
    parts_cap: &mut Option<Capability<u64>>,
    checkpoint: impl FnOnce(u64) -> Result<Option<CheckpointPart>, String>,
    give: impl FnOnce(&Capability<u64>, Vec<CheckpointPart>),
) -> Result<(), String> {
    let epoch = frontier.map_or(last.unwrap_or(*applied_below), |f| f - 1);
    if let (Some(c), Some(part)) = (parts_cap.as_mut(), checkpoint(epoch)?) {
        c.downgrade(&epoch.max(*c.time()));
        give(c, vec![part]);
    }
    advance(parts_cap, applied_below, frontier);
    Ok(())
}

/// An epoch's changes not yet applied, with the capability to emit them.
type Pending<K, V> = (Capability<u64>, Vec<Change<K, V>>);

/// Applies decoded changes on the worker that owns each key, in epoch
/// order, keeping the current row per key.
fn apply_changes<'scope, K, V>(
    changes: Stream<'scope, u64, Vec<Change<K, V>>>,
    job: &Job,
    name: &str,
) -> Changes<'scope, K, V>
where
    K: differential_dataflow::ExchangeData + Hash + Hashable,
    V: differential_dataflow::ExchangeData,
{
    let scope = changes.scope();
    let mut builder = OperatorBuilder::new(format!("ApplyChanges({name})"), scope);
    let mut input = builder.new_input(
        changes,
        Exchange::new(|c: &Change<K, V>| c.key().hashed().into()),
    );
    let (mut updates_out, updates) = builder.new_output::<Vec<((K, V), u64, isize)>>();
    let (mut parts_out, parts) = builder.new_output::<Vec<CheckpointPart>>();
    let shared = job.spec.shared.clone();
    let start = job.plan.start_epoch;
    let mut state = match restore_by_key::<K, V>(job, name) {
        Ok(s) => Some(s),
        Err(e) => {
            shared.fail(e);
            None
        }
    };
    builder.build(move |mut caps| {
        let mut parts_cap = caps.pop();
        let mut updates_cap = caps.pop();
        for c in parts_cap.iter_mut().chain(updates_cap.iter_mut()) {
            c.downgrade(&start);
        }
        let mut stash: BTreeMap<u64, Pending<K, V>> = BTreeMap::new();
        // The epoch below which every change is applied.
        let mut applied_below = start;
        move |frontiers| {
            let Some(state) = state.as_mut() else {
                return; // restore failed: hold every capability
            };
            // The rows held at the snapshot restored from, once, at the first epoch.
            if let Some(cap) = updates_cap.take() {
                let mut rows = restored_rows(state, start);
                if !rows.is_empty() {
                    updates_out.activate().give(&cap, &mut rows);
                }
            }
            input.for_each(|time, data| {
                let epoch = *time.time();
                stash
                    .entry(epoch)
                    .or_insert_with(|| (time.retain(0), Vec::new()))
                    .1
                    .append(data);
            });
            if shared.failure().is_some() || parts_cap.is_none() {
                return;
            }
            let frontier = frontiers[0].frontier().iter().next().copied();
            let reached = frontier.unwrap_or(u64::MAX);
            if reached <= applied_below {
                return;
            }
            let done: Vec<u64> = stash.keys().copied().take_while(|e| *e < reached).collect();
            let mut last = None;
            for epoch in done {
                let Some((cap, batch)) = stash.remove(&epoch) else {
                    continue;
                };
                let mut out = Vec::with_capacity(batch.len() * 2);
                for change in batch {
                    match change {
                        Change::Put(k, v) => match state.replace(k.clone(), v.clone()) {
                            // The same row again: nothing changes.
                            Replaced::Same => {}
                            Replaced::New => out.push(((k, v), epoch, 1)),
                            Replaced::Old(old) => {
                                out.push(((k.clone(), old), epoch, -1));
                                out.push(((k, v), epoch, 1));
                            }
                        },
                        Change::Delete(k) => {
                            if let Some(old) = state.remove(&k) {
                                out.push(((k, old), epoch, -1));
                            }
                        }
                    }
                }
                if !out.is_empty() {
                    updates_out.activate().give(&cap, &mut out);
                }
                last = Some(epoch);
            }
            let round = end_round(
                (frontier, last),
                &mut applied_below,
                &mut parts_cap,
                |epoch| state.checkpoint(epoch),
                |c, mut parts| parts_out.activate().give(c, &mut parts),
            );
            if let Err(e) = round {
                shared.fail(e);
            }
        }
    });
    Changes {
        collection: updates.as_collection(),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use timely_connect::data::{SchemaBuilder, SchemaRef, SourceOffset, SourcePartition, Struct};

    fn row_schema() -> SchemaRef {
        SchemaBuilder::struct_()
            .field("id", SchemaBuilder::int64().build())
            .field("name", SchemaBuilder::string().optional().build())
            .optional()
            .build()
    }

    fn row(id: i64, name: &str) -> Value {
        let mut s = Struct::new(row_schema());
        s.put("id", Value::Int64(id)).unwrap();
        s.put("name", Value::String(name.into())).unwrap();
        Value::Struct(s)
    }

    fn envelope(op: &str, before: Value, after: Value) -> (SchemaRef, Value) {
        let schema = SchemaBuilder::struct_()
            .field("before", row_schema())
            .field("after", row_schema())
            .field("op", SchemaBuilder::string().build())
            .build();
        let mut s = Struct::new(schema.clone());
        s.put("before", before).unwrap();
        s.put("after", after).unwrap();
        s.put("op", Value::String(op.into())).unwrap();
        (schema, Value::Struct(s))
    }

    fn record(key: Value, schema: Option<SchemaRef>, value: Value) -> SourceRecord {
        let mut r = SourceRecord::new(
            SourcePartition::single("table", "t"),
            SourceOffset::int(&SourceOffset::key("lsn"), 1),
            "db.public.t".into(),
            schema,
            value,
        );
        r.key = key;
        r
    }

    fn decoded(r: &SourceRecord, format: ChangeFormat) -> Result<Option<String>, String> {
        decode::<i64, Datum>(r, format).map(|c| {
            c.map(|c| match c {
                Change::Put(k, v) => format!("put {k} {}", serde_json::to_string(&v).unwrap()),
                Change::Delete(k) => format!("delete {k}"),
            })
        })
    }

    use timely_connect::data::Datum;

    #[test]
    fn debezium_ops_become_puts_and_deletes_of_the_key() {
        let key = Value::Int64(7);
        let cases = [
            ("c", Value::Null, row(7, "a"), Some("put 7 [7,\"a\"]")),
            ("r", Value::Null, row(7, "a"), Some("put 7 [7,\"a\"]")),
            ("u", row(7, "a"), row(7, "b"), Some("put 7 [7,\"b\"]")),
            // A key-only `before` does not matter: the held row is retracted.
            ("d", row(7, ""), Value::Null, Some("delete 7")),
            ("m", Value::Null, Value::Null, None),
        ];
        for (op, before, after, want) in cases {
            let (schema, value) = envelope(op, before, after);
            let r = record(key.clone(), Some(schema), value);
            assert_eq!(
                decoded(&r, ChangeFormat::Debezium),
                Ok(want.map(str::to_owned)),
                "op {op}"
            );
        }
        let tombstone = record(key.clone(), None, Value::Null);
        assert_eq!(decoded(&tombstone, ChangeFormat::Debezium), Ok(None));
    }

    fn decoded_full(r: &SourceRecord) -> Result<Option<String>, String> {
        let text = |v: Option<Datum>| v.map(|v| serde_json::to_string(&v).unwrap());
        decode_full::<i64, Datum>(r)
            .map(|c| c.map(|c| format!("{} {:?} {:?}", c.key, text(c.before), text(c.after))))
    }

    #[test]
    fn full_before_ops_retract_the_events_own_before() {
        let key = Value::Int64(7);
        let cases = [
            (
                "c",
                Value::Null,
                row(7, "a"),
                Some(r#"7 None Some("[7,\"a\"]")"#),
            ),
            (
                "r",
                Value::Null,
                row(7, "a"),
                Some(r#"7 None Some("[7,\"a\"]")"#),
            ),
            (
                "u",
                row(7, "a"),
                row(7, "b"),
                Some(r#"7 Some("[7,\"a\"]") Some("[7,\"b\"]")"#),
            ),
            (
                "d",
                row(7, "b"),
                Value::Null,
                Some(r#"7 Some("[7,\"b\"]") None"#),
            ),
            ("m", Value::Null, Value::Null, None),
        ];
        for (op, before, after, want) in cases {
            let (schema, value) = envelope(op, before, after);
            let r = record(key.clone(), Some(schema), value);
            assert_eq!(decoded_full(&r), Ok(want.map(str::to_owned)), "op {op}");
        }
        assert_eq!(decoded_full(&record(key, None, Value::Null)), Ok(None));
    }

    #[test]
    fn full_before_refuses_events_without_their_old_row() {
        for (op, after) in [("u", row(7, "b")), ("d", Value::Null)] {
            let (schema, value) = envelope(op, Value::Null, after);
            let e = decoded_full(&record(Value::Int64(7), Some(schema), value)).unwrap_err();
            assert!(
                e.contains(&format!("op `{op}` without `before`"))
                    && e.contains("REPLICA IDENTITY FULL"),
                "{e}"
            );
        }
        let (schema, value) = envelope("c", Value::Null, row(1, "a"));
        let e = decoded_full(&record(Value::Null, Some(schema), value)).unwrap_err();
        assert!(e.contains("no key"), "{e}");
        let (schema, value) = envelope("t", Value::Null, Value::Null);
        let e = decoded_full(&record(Value::Int64(1), Some(schema), value)).unwrap_err();
        assert!(e.contains("truncate"), "{e}");
    }

    #[test]
    fn upsert_values_replace_and_null_values_delete() {
        let r = record(Value::Int64(3), Some(row_schema()), row(3, "x"));
        assert_eq!(
            decoded(&r, ChangeFormat::Upsert),
            Ok(Some("put 3 [3,\"x\"]".into()))
        );
        let tombstone = record(Value::Int64(3), None, Value::Null);
        assert_eq!(
            decoded(&tombstone, ChangeFormat::Upsert),
            Ok(Some("delete 3".into()))
        );
    }

    #[test]
    fn records_the_adapter_cannot_read_are_errors_that_say_why() {
        let (schema, value) = envelope("c", Value::Null, row(1, "a"));
        let no_key = record(Value::Null, Some(schema), value);
        let e = decoded(&no_key, ChangeFormat::Debezium).unwrap_err();
        assert!(e.contains("no key"), "{e}");
        let e = decoded(
            &record(Value::Null, None, row(1, "a")),
            ChangeFormat::Upsert,
        )
        .unwrap_err();
        assert!(e.contains("no key"), "{e}");

        let (schema, value) = envelope("t", Value::Null, Value::Null);
        let e = decoded(
            &record(Value::Int64(1), Some(schema), value),
            ChangeFormat::Debezium,
        )
        .unwrap_err();
        assert!(e.contains("truncate"), "{e}");

        let plain = record(Value::Int64(1), Some(row_schema()), row(1, "a"));
        let e = decoded(&plain, ChangeFormat::Debezium).unwrap_err();
        assert!(e.contains("not a Debezium envelope"), "{e}");

        let text_key = record(Value::String("k".into()), None, row(1, "a"));
        let e = decoded(&text_key, ChangeFormat::Upsert).unwrap_err();
        assert_eq!(e, "key: expected an integer, got STRING");
    }
}
