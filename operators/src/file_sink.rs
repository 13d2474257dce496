//! The exactly-once file sink: one line per record, flushed and fsynced per
//! epoch, its committed length part of every snapshot.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use timely_connect::data::json::write_text;
use timely_connect::data::{OffsetValue, SourceRecord};
use timely_connect::runtime::sink::{BlockWriter, FileWriter, SinkError};

use crate::collection_sink::advance;
use crate::job::{Job, Shared};
use timely_connect::runtime::CheckpointPart;

/// Writes records to a file exactly once across crashes and restarts.
pub trait ExactlyOnceFileSink<'scope> {
    /// Renders each record as one line (string values as they are, other
    /// values as JSON) on the worker that holds it, and sends the lines, a
    /// block per batch, to worker 0, which writes them in epoch order,
    /// flushes and fsyncs when an epoch completes, and emits the file's
    /// length as its checkpoint part under `name`. On restore the file is
    /// truncated to the length in the snapshot, so a record is in the file
    /// exactly once whatever instant the previous run died at. A fresh start
    /// (no snapshot) truncates the file to zero.
    ///
    /// Tie the returned stream to [`crate::Checkpoint::checkpoint`]; see its
    /// example.
    fn exactly_once_file(
        self,
        job: &Job,
        path: &Path,
        name: &str,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>>;
}

impl<'scope> ExactlyOnceFileSink<'scope> for Stream<'scope, u64, Vec<SourceRecord>> {
    fn exactly_once_file(
        self,
        job: &Job,
        path: &Path,
        name: &str,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>> {
        render_blocks(self, "RenderLines", |r, block| {
            write_text(block, &r.value, r.value_schema.as_deref());
            block.push(b'\n');
        })
        .exactly_once_bytes(job, path, name)
    }
}

/// A block is cut once it holds this many bytes. Blocks of a few hundred
/// KiB come from the allocator's reused pages; a block of a whole large
/// batch (megabytes) is a fresh mapping that the kernel zeroes each time.
const BLOCK_BYTES: usize = 256 * 1024;

/// Renders records into byte blocks, a block per batch (cut at
/// [`BLOCK_BYTES`]), on the worker that holds them: the work spreads over
/// the workers and only bytes cross to the file's writer, not records with
/// their schemas.
pub fn render_blocks<'scope, T: 'static>(
    records: Stream<'scope, u64, Vec<T>>,
    name: &str,
    mut render: impl FnMut(&T, &mut Vec<u8>) + 'static,
) -> Stream<'scope, u64, Vec<Vec<u8>>> {
    records.unary::<CapacityContainerBuilder<Vec<Vec<u8>>>, _, _, _>(Pipeline, name, |_, _| {
        let mut size_hint = 0usize;
        move |input, output| {
            input.for_each_time(|time, data| {
                let mut session = output.session(&time);
                // A block per batch keeps blocks (and the memory they hold
                // in flight) small however much one activation drained; the
                // last block's size sizes the next, so a block is written
                // without growing.
                for batch in data {
                    let mut block = Vec::with_capacity(size_hint + size_hint / 8);
                    // Each record is dropped as soon as it is rendered, while
                    // its memory is still in cache; dropping a batch of
                    // thousands afterwards reads it all from memory again.
                    for r in batch.drain(..) {
                        render(&r, &mut block);
                        drop(r);
                        if block.len() >= BLOCK_BYTES {
                            size_hint = block.len();
                            session.give(std::mem::replace(
                                &mut block,
                                Vec::with_capacity(size_hint + size_hint / 8),
                            ));
                        }
                    }
                    if !block.is_empty() {
                        size_hint = block.len();
                        session.give(block);
                    }
                }
            });
        }
    })
}

/// Writes byte blocks to a file exactly once across crashes and restarts.
pub trait ExactlyOnceBytesSink<'scope> {
    /// Sends each block to worker 0, which appends the blocks in epoch
    /// order, flushes and fsyncs when an epoch completes, and emits the
    /// file's length as its checkpoint part under `name`; on restore the
    /// file is truncated to the length in the snapshot (see
    /// [`ExactlyOnceFileSink::exactly_once_file`], which is this after
    /// rendering records as lines).
    fn exactly_once_bytes(
        self,
        job: &Job,
        path: &Path,
        name: &str,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>>;

    /// Writes the blocks to standard output, in epoch order from worker 0,
    /// through a large buffer; when an epoch completes the buffer is
    /// flushed, and only then does the sink emit its checkpoint part (the
    /// bytes delivered so far, under `name`). So no snapshot covers a
    /// record that did not reach stdout. A write error fails the job; a
    /// closed pipe (`| head`) too, and [`crate::JobSpec::output_closed`]
    /// then tells the caller, which may exit quietly as Unix tools do.
    /// Not exactly once: what a reader received after the last snapshot is
    /// written again after a restore.
    fn stdout_bytes(self, job: &Job, name: &str) -> Stream<'scope, u64, Vec<CheckpointPart>>;
}

impl<'scope> ExactlyOnceBytesSink<'scope> for Stream<'scope, u64, Vec<Vec<u8>>> {
    fn exactly_once_bytes(
        self,
        job: &Job,
        path: &Path,
        name: &str,
    ) -> Stream<'scope, u64, Vec<CheckpointPart>> {
        let writer = if job.index == 0 {
            match FileWriter::open(path, name, job.plan.sinks_map().get(name)) {
                Ok(w) => Some(Box::new(w) as Box<dyn BlockWriter>),
                Err(e) => {
                    job.spec.shared.fail(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        block_sink(self, job, &format!("ExactlyOnceFile({name})"), writer)
    }

    fn stdout_bytes(self, job: &Job, name: &str) -> Stream<'scope, u64, Vec<CheckpointPart>> {
        let writer = (job.index == 0).then(|| {
            Box::new(StdoutWriter::new(name, job.spec.shared.clone())) as Box<dyn BlockWriter>
        });
        block_sink(self, job, &format!("Stdout({name})"), writer)
    }
}

/// The operator behind [`ExactlyOnceBytesSink`]: sends blocks to worker 0,
/// which writes them in epoch order, commits when an epoch completes, and
/// only then emits its checkpoint part for that epoch.
fn block_sink<'scope>(
    blocks: Stream<'scope, u64, Vec<Vec<u8>>>,
    job: &Job,
    operator: &str,
    mut writer: Option<Box<dyn BlockWriter>>,
) -> Stream<'scope, u64, Vec<CheckpointPart>> {
    let scope = blocks.scope();
    let mut builder = OperatorBuilder::new(operator.to_owned(), scope);
    let mut input = builder.new_input(blocks, Exchange::new(|_: &Vec<u8>| 0u64));
    let (mut output, parts) = builder.new_output::<Vec<CheckpointPart>>();
    let shared = job.spec.shared.clone();
    let start = job.plan.start_epoch;
    builder.build(move |mut caps| {
        let mut cap = caps.pop();
        if let Some(c) = cap.as_mut() {
            c.downgrade(&start);
        }
        // The epoch below which everything is written.
        let mut written_below = start;
        let mut stash: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
        move |frontiers| {
            let shared: &Arc<Shared> = &shared;
            input.for_each(|time, data| {
                let t = *time.time();
                match writer.as_mut() {
                    Some(w) if t == written_below && shared.failure().is_none() => {
                        for block in data.iter() {
                            if let Err(e) = w.write_block(block) {
                                shared.fail(e.to_string());
                            }
                        }
                    }
                    _ => stash.entry(t).or_default().append(data),
                }
            });
            if cap.is_none() || shared.failure().is_some() {
                return; // failed: hold the capability so no snapshot covers what is missing
            }
            let frontier = frontiers[0].frontier().iter().next().copied();
            let reached = frontier.unwrap_or(u64::MAX);
            if reached <= written_below {
                return;
            }
            // Epochs below `reached` are complete: write them in order.
            if let Some(w) = writer.as_mut() {
                let done: Vec<u64> = stash.keys().copied().take_while(|e| *e < reached).collect();
                for epoch in done {
                    for block in stash.remove(&epoch).unwrap_or_default() {
                        if let Err(e) = w.write_block(&block) {
                            shared.fail(e.to_string());
                            return;
                        }
                    }
                }
                match w.commit() {
                    Ok(Some(position)) => {
                        let epoch = frontier.map_or(written_below, |f| f - 1);
                        if let Some(c) = cap.as_mut() {
                            c.downgrade(&epoch.max(*c.time()));
                            output.activate().give(
                                c,
                                &mut vec![CheckpointPart::Sink(w.name().to_owned(), position)],
                            );
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        shared.fail(e.to_string());
                        return;
                    }
                }
                // Records of the new current epoch may be written as they come.
                if let Some(f) = frontier {
                    if let Some(batches) = stash.remove(&f) {
                        for block in batches {
                            if let Err(e) = w.write_block(&block) {
                                shared.fail(e.to_string());
                                return;
                            }
                        }
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

/// Standard output as a sink: one large buffer, flushed per epoch.
struct StdoutWriter {
    name: String,
    out: BufWriter<std::io::Stdout>,
    position: u64,
    committed: u64,
    shared: Arc<Shared>,
}

impl StdoutWriter {
    fn new(name: &str, shared: Arc<Shared>) -> Self {
        StdoutWriter {
            name: name.to_owned(),
            out: BufWriter::with_capacity(1 << 20, std::io::stdout()),
            position: 0,
            committed: 0,
            shared,
        }
    }

    fn error(&self, op: &str, e: std::io::Error) -> SinkError {
        SinkError::Other(if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.shared.mark_output_closed();
            format!("standard output: the reader closed the pipe ({op}); stopping without committing what it did not receive")
        } else {
            format!("standard output: {op}: {e}")
        })
    }
}

impl BlockWriter for StdoutWriter {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_block(&mut self, block: &[u8]) -> Result<(), SinkError> {
        self.out
            .write_all(block)
            .map_err(|e| self.error("write", e))?;
        self.position += block.len() as u64;
        Ok(())
    }

    fn commit(&mut self) -> Result<Option<OffsetValue>, SinkError> {
        if self.position == self.committed {
            return Ok(None);
        }
        self.out.flush().map_err(|e| self.error("flush", e))?;
        self.committed = self.position;
        let mut m = BTreeMap::new();
        m.insert("path".to_owned(), OffsetValue::String("-".to_owned()));
        m.insert("length".to_owned(), OffsetValue::Int(self.committed as i64));
        Ok(Some(OffsetValue::Map(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use timely::dataflow::operators::{Input, Inspect};

    /// A batch larger than [`BLOCK_BYTES`] leaves as several blocks, none
    /// much larger than the limit, that hold every record once, in order.
    #[test]
    fn a_large_batch_is_cut_into_blocks_in_order() {
        let blocks: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let seen = blocks.clone();
        let line = |i: u32| format!("{i:0>99}\n");
        timely::execute(timely::Config::thread(), move |worker| {
            let seen = seen.clone();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, records) = scope.new_input::<Vec<u32>>();
                render_blocks(records, "Render", move |i: &u32, b| {
                    b.extend_from_slice(line(*i).as_bytes())
                })
                .inspect(move |block: &Vec<u8>| seen.lock().unwrap().push(block.clone()));
                input
            });
            // 10,000 lines of 100 bytes: one batch of about 1 MB.
            let mut batch: Vec<u32> = (0..10_000).collect();
            input.send_batch(&mut batch);
        })
        .unwrap();
        let blocks = blocks.lock().unwrap();
        assert!(blocks.len() >= 4, "{} blocks for 1 MB", blocks.len());
        assert!(blocks.iter().all(|b| b.len() < BLOCK_BYTES + 100));
        let all: Vec<u8> = blocks.concat();
        let expected: String = (0..10_000).map(line).collect();
        assert_eq!(all, expected.as_bytes());
    }
}
