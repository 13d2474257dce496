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
        let scope = self.inner.scope();
        let mut builder = OperatorBuilder::new(format!("ExactlyOnceChanges({name})"), scope);
        let mut input = builder.new_input(self.inner, Exchange::new(|_: &(D, u64, isize)| 0u64));
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
                let undo: Vec<(D, isize)> =
                    s.contents.iter().map(|(d, n)| (d.clone(), -n)).collect();
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
}

/// Downgrades the parts capability to the input frontier, or drops it
/// once the input has ended.
fn advance(cap: &mut Option<Capability<u64>>, below: &mut u64, frontier: Option<u64>) {
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
            for (row, diff) in updates {
                block.extend_from_slice(b"{\"row\":");
                serde_json::to_writer(&mut block, &row).map_err(|e| {
                    format!("sink `{}`: a row does not render: {e}", self.writer.name())
                })?;
                let _ = writeln!(block, ",\"time\":{t},\"diff\":{diff}}}");
                let count = {
                    let entry = self.contents.entry(row.clone()).or_insert(0);
                    *entry += diff;
                    *entry
                };
                if count == 0 {
                    self.contents.remove(&row);
                }
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
