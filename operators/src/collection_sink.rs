//! `exactly_once_changes`: a differential collection's changes written to
//! a file exactly once, and its current contents kept in a file rewritten
//! atomically at each completed epoch.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use differential_dataflow::VecCollection;
use serde::Serialize;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use timely_connect::runtime::sink::{BlockWriter, FileWriter};
use timely_connect::runtime::CheckpointPart;

use crate::job::Job;
use crate::operator_state::OperatorState;

/// Writes a collection's changes exactly once across kill -9 and restarts.
pub trait ExactlyOnceChanges<'scope> {
    /// Sends every update to worker 0, which, once an epoch is complete,
    /// consolidates its updates and appends one JSON line per change,
    /// `{"row":…,"time":epoch,"diff":±n}`, to `path`; fsyncs; and keeps
    /// the collection's current contents (row → count) as
    /// [`crate::OperatorState`] named `name`, so both are in the epoch's
    /// snapshot. On restore the file is truncated to the snapshot's length
    /// and the contents come back; the collection, recomputed from restored
    /// inputs, arrives again at the run's first epoch, and only its
    /// difference from the restored contents is written. So the file,
    /// replayed from the start, sums to the collection, and no change is
    /// in it twice.
    ///
    /// With `current`, that file is rewritten (temp file, fsync, rename) at
    /// every completed epoch with the contents, one `{"row":…,"count":n}`
    /// line per row in row order. It is rewritten after the epoch is
    /// written, before its snapshot is durable: after a crash it may be
    /// ahead of the snapshot until the restored run completes its first
    /// epoch.
    ///
    /// Tie the returned stream to [`crate::Checkpoint::checkpoint`].
    fn exactly_once_changes(
        self,
        job: &Job,
        path: &Path,
        name: &str,
        current: Option<&Path>,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>>;
}

impl<'scope, D> ExactlyOnceChanges<'scope> for VecCollection<'scope, u64, D, isize>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash + Serialize,
{
    fn exactly_once_changes(
        self,
        job: &Job,
        path: &Path,
        name: &str,
        current: Option<&Path>,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>> {
        let render: Render<D> = Box::new(|time, updates, block| {
            for (row, diff) in updates {
                block.extend_from_slice(b"{\"row\":");
                json(block, row)?;
                let _ = writeln!(block, ",\"time\":{time},\"diff\":{diff}}}");
            }
            Ok(())
        });
        changes_sink(self, job, path, name, current, "ExactlyOnceChanges", render)
    }
}

/// Writes a keyed collection's changes as Debezium-style change events,
/// exactly once across kill -9 and restarts.
pub trait ExactlyOnceChangeEvents<'scope> {
    /// As [`ExactlyOnceChanges::exactly_once_changes`], but each line is a
    /// change event of one key in the style of Debezium's envelope:
    /// `{"key":…,"before":…,"after":…,"op":"c"|"u"|"d","time":epoch}`. In
    /// each complete epoch a key whose value was retracted and another
    /// inserted gives a `u` (before: the old value, after: the new one), a
    /// key that only gained a value a `c`, one that only lost it a `d`. A
    /// key with several values (a collection that is not a function of its
    /// key) gives one event per value paired this way. Replaying the events
    /// in order, each `before` is the value the key held.
    ///
    /// Tie the returned stream to [`crate::Checkpoint::checkpoint`].
    fn exactly_once_change_events(
        self,
        job: &Job,
        path: &Path,
        name: &str,
        current: Option<&Path>,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>>;
}

impl<'scope, K, V> ExactlyOnceChangeEvents<'scope> for VecCollection<'scope, u64, (K, V), isize>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash + Serialize,
    V: differential_dataflow::ExchangeData + std::hash::Hash + Serialize,
{
    fn exactly_once_change_events(
        self,
        job: &Job,
        path: &Path,
        name: &str,
        current: Option<&Path>,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>> {
        let render: Render<(K, V)> = Box::new(|time, updates, block| {
            // Consolidated updates are sorted by key: one run per key.
            for run in updates.chunk_by(|a, b| a.0 .0 == b.0 .0) {
                let key = &run[0].0 .0;
                let expand = |sign: isize| {
                    run.iter()
                        .filter(move |(_, d)| d.signum() == sign)
                        .flat_map(|((_, v), d)| std::iter::repeat_n(v, d.unsigned_abs()))
                };
                let mut before = expand(-1);
                let mut after = expand(1);
                loop {
                    let (b, a) = (before.next(), after.next());
                    let op = match (b, a) {
                        (None, None) => break,
                        (Some(_), Some(_)) => "u",
                        (None, Some(_)) => "c",
                        (Some(_), None) => "d",
                    };
                    block.extend_from_slice(b"{\"key\":");
                    json(block, key)?;
                    block.extend_from_slice(b",\"before\":");
                    json(block, &b)?;
                    block.extend_from_slice(b",\"after\":");
                    json(block, &a)?;
                    let _ = writeln!(block, ",\"op\":\"{op}\",\"time\":{time}}}");
                }
            }
            Ok(())
        });
        changes_sink(
            self,
            job,
            path,
            name,
            current,
            "ExactlyOnceChangeEvents",
            render,
        )
    }
}

/// Renders an epoch's consolidated updates (sorted) into a block.
type Render<D> = Box<dyn FnMut(u64, &[(D, isize)], &mut Vec<u8>) -> Result<(), String>>;

fn json<T: Serialize + ?Sized>(block: &mut Vec<u8>, value: &T) -> Result<(), String> {
    serde_json::to_writer(block, value).map_err(|e| format!("a row does not render as JSON: {e}"))
}

/// The operator behind both sinks: updates go to worker 0, which renders
/// each complete epoch's consolidated updates with `render`, commits the
/// file, and keeps the contents as operator state.
fn changes_sink<'scope, D>(
    collection: VecCollection<'scope, u64, D, isize>,
    job: &Job,
    path: &Path,
    name: &str,
    current: Option<&Path>,
    operator: &str,
    render: Render<D>,
) -> Stream<'scope, u64, Vec<CheckpointPart>>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash + Serialize,
{
    let scope = collection.inner.scope();
    let mut builder = OperatorBuilder::new(format!("{operator}({name})"), scope);
    let mut input = builder.new_input(collection.inner, Exchange::new(|_: &(D, u64, isize)| 0u64));
    let (mut parts_out, parts) = builder.new_output::<Vec<CheckpointPart>>();
    let shared = job.spec.shared.clone();
    let start = job.plan.start_epoch;
    let leader = job.index == 0;
    let mut sink = None;
    if leader {
        let opened = FileWriter::open(path, name, job.plan.sinks_map().get(name))
            .map_err(|e| e.to_string())
            .and_then(|w| {
                let contents = OperatorState::<D, isize>::restore(job, name, |_| true)?;
                Ok(Sink {
                    writer: w,
                    contents,
                    current: current.map(Path::to_path_buf),
                    render,
                })
            });
        match opened {
            Ok(s) => sink = Some(s),
            Err(e) => shared.fail(e),
        }
    }
    builder.build(move |mut caps| {
        let mut cap = caps.pop();
        if let Some(c) = cap.as_mut() {
            c.downgrade(&start);
        }
        let mut stash: BTreeMap<u64, Vec<(D, isize)>> = BTreeMap::new();
        // The restored contents are retracted at the first epoch: what
        // arrives then is the whole recomputed collection.
        if let Some(s) = sink.as_ref() {
            let undo: Vec<(D, isize)> = s.contents.iter().map(|(d, n)| (d.clone(), -n)).collect();
            if !undo.is_empty() {
                stash.insert(start, undo);
            }
        }
        let mut written_below = start;
        move |frontiers| {
            input.for_each(|_time, data| {
                if leader {
                    for (d, t, r) in data.drain(..) {
                        stash.entry(t).or_default().push((d, r));
                    }
                }
            });
            if cap.is_none() || shared.failure().is_some() {
                return;
            }
            let frontier = frontiers[0].frontier().iter().next().copied();
            let reached = frontier.unwrap_or(u64::MAX);
            if reached <= written_below {
                return;
            }
            if let Some(s) = sink.as_mut() {
                let epoch = frontier.map_or_else(
                    || {
                        stash
                            .keys()
                            .next_back()
                            .copied()
                            .unwrap_or(written_below)
                            .max(written_below)
                    },
                    |f| f - 1,
                );
                match s.write_epochs(&mut stash, reached, epoch) {
                    Ok(mut out) => {
                        if let Some(c) = cap.as_mut() {
                            if !out.is_empty() {
                                c.downgrade(&epoch.max(*c.time()));
                                parts_out.activate().give(&*c, &mut out);
                            }
                        }
                    }
                    Err(e) => {
                        shared.fail(e);
                        return;
                    }
                }
            } else {
                stash.clear();
            }
            advance(&mut cap, &mut written_below, frontier);
        }
    });
    parts
}

/// Downgrades a sink's parts capability to its input frontier `below`
/// (everything under it is done), or drops it once the input has ended.
pub(crate) fn advance(cap: &mut Option<Capability<u64>>, below: &mut u64, frontier: Option<u64>) {
    match frontier {
        Some(f) => {
            *below = f;
            if let Some(c) = cap.as_mut() {
                c.downgrade(&f);
            }
        }
        None => *cap = None,
    }
}

/// Worker 0's side of the sink.
struct Sink<D> {
    writer: FileWriter,
    contents: OperatorState<D, isize>,
    current: Option<PathBuf>,
    render: Render<D>,
}

impl<D> Sink<D>
where
    D: Ord + Clone + std::hash::Hash + Serialize + serde::de::DeserializeOwned,
{
    /// Writes the changes of the complete epochs (below `reached`) in
    /// order, commits, and returns the parts for snapshot `epoch`.
    fn write_epochs(
        &mut self,
        stash: &mut BTreeMap<u64, Vec<(D, isize)>>,
        reached: u64,
        epoch: u64,
    ) -> Result<Vec<CheckpointPart>, String> {
        let done: Vec<u64> = stash.keys().copied().take_while(|e| *e < reached).collect();
        let mut changed = false;
        for t in done {
            let mut updates = stash.remove(&t).unwrap_or_default();
            differential_dataflow::consolidation::consolidate(&mut updates);
            let mut block = Vec::new();
            (self.render)(t, &updates, &mut block)
                .map_err(|e| format!("sink `{}`: {e}", self.writer.name()))?;
            for (row, diff) in updates {
                self.contents.update(row, |count| {
                    let n = count.unwrap_or(0) + diff;
                    *count = (n != 0).then_some(n);
                });
                changed = true;
            }
            self.writer.write_block(&block).map_err(|e| e.to_string())?;
        }
        let mut parts = Vec::new();
        if let Some(position) = self.writer.commit().map_err(|e| e.to_string())? {
            parts.push(CheckpointPart::Sink(
                self.writer.name().to_owned(),
                position,
            ));
        }
        if let Some(part) = self.contents.checkpoint(epoch)? {
            parts.push(part);
        }
        if changed {
            if let Some(path) = &self.current {
                write_current(path, &self.contents)
                    .map_err(|e| format!("current-result file {}: {e}", path.display()))?;
            }
        }
        Ok(parts)
    }
}

/// Rewrites the current-result file atomically: a temp file beside it,
/// fsynced, renamed over it.
fn write_current<D: Ord + Serialize + Clone + std::hash::Hash + serde::de::DeserializeOwned>(
    path: &Path,
    contents: &OperatorState<D, isize>,
) -> std::io::Result<()> {
    let mut rows: Vec<(&D, &isize)> = contents.iter().collect();
    rows.sort();
    let mut text = Vec::new();
    for (row, count) in rows {
        text.extend_from_slice(b"{\"row\":");
        serde_json::to_writer(&mut text, row)?;
        writeln!(text, ",\"count\":{count}}}")?;
    }
    let tmp = path.with_extension("tmp-current");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
