//! The checkpoint's bookkeeping, without Timely: what each participant
//! contributes to an epoch ([`CheckpointPart`]), and how the parts of
//! complete epochs become the next [`Snapshot`] ([`Checkpointer`]).
//!
//! The Timely coordinator (`timely-connect-operators`' `Checkpoint`) feeds
//! a `Checkpointer` on worker 0 with every part, tells it how far the
//! parts' frontier has come, writes the snapshot it returns, and only then
//! lets the durable frontier pass.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Plan;
use crate::config::Properties;
use crate::data::{OffsetValue, Offsets};
use crate::snapshot::Snapshot;

/// One entry of a participant's part of epoch `e`: a change since its
/// previous part. Parts are applied in epoch order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckpointPart {
    /// The last offsets a source's records reached, per source partition,
    /// in the epochs since its previous part, up to `e`.
    Offsets(Offsets),
    /// A sink's committed position after every record of epochs `<= e`.
    Sink(String, OffsetValue),
}

/// Gathers checkpoint parts by epoch and, once epochs are complete, folds
/// them into the offsets and sink positions of the next snapshot.
///
/// ```
/// use timely_connect::data::{OffsetValue, Offsets, SourceOffset, SourcePartition};
/// use timely_connect::runtime::{CheckpointPart, Checkpointer, Plan};
///
/// let mut c = Checkpointer::new(&Plan::default(), "files", Default::default(), 2);
/// let p = SourcePartition::single("filename", "in.txt");
/// let at = |n| [(p.clone(), SourceOffset::int(&SourceOffset::key("position"), n))]
///     .into_iter().collect::<Offsets>();
/// c.stash(0, vec![CheckpointPart::Offsets(at(10))]);
/// c.stash(1, vec![CheckpointPart::Offsets(at(20)), CheckpointPart::Sink("out".into(), OffsetValue::Int(7))]);
/// // Epoch 1 is not complete while the frontier is at 1: snapshot 0 only.
/// let snap = c.complete(Some(1)).unwrap();
/// assert_eq!((snap.epoch, snap.offsets[&p].get_i64("position")), (0, Some(10)));
/// c.written();
/// assert!(c.complete(Some(1)).is_none(), "nothing new");
/// // The frontier passes 1 (or the input ends): snapshot 1, with the sink.
/// let snap = c.complete(None).unwrap();
/// assert_eq!((snap.epoch, snap.offsets[&p].get_i64("position")), (1, Some(20)));
/// assert_eq!(snap.sinks["out"], OffsetValue::Int(7));
/// ```
#[derive(Debug)]
pub struct Checkpointer {
    stash: BTreeMap<u64, Vec<CheckpointPart>>,
    offsets: Offsets,
    sinks: BTreeMap<String, OffsetValue>,
    /// The newest epoch applied since the last snapshot was written.
    dirty_epoch: Option<u64>,
    connector: String,
    config: Properties,
    execution: u64,
    workers: usize,
}

impl Checkpointer {
    /// Starts from `plan`'s restored offsets and sink positions; snapshots
    /// name `connector`, store `config` (redacted) and count `workers`.
    pub fn new(plan: &Plan, connector: &str, config: Properties, workers: usize) -> Self {
        Checkpointer {
            stash: BTreeMap::new(),
            offsets: plan.offsets.clone(),
            sinks: plan.sinks_map(),
            dirty_epoch: None,
            connector: connector.to_owned(),
            config,
            execution: plan.execution,
            workers,
        }
    }

    /// Keeps `parts` of `epoch` until the epoch is complete.
    pub fn stash(&mut self, epoch: u64, parts: impl IntoIterator<Item = CheckpointPart>) {
        self.stash.entry(epoch).or_default().extend(parts);
    }

    /// Applies the parts of every epoch below `frontier` (every epoch when
    /// the parts' input has ended: `None`), and returns the snapshot to
    /// write if any epoch was applied since the last one written. Its epoch
    /// is the newest complete one (`frontier - 1`), so a snapshot covers
    /// the epochs in which nothing changed too. Call [`Checkpointer::written`]
    /// once it is durable.
    pub fn complete(&mut self, frontier: Option<u64>) -> Option<Snapshot> {
        let complete: Vec<u64> = self
            .stash
            .keys()
            .copied()
            .take_while(|e| frontier.is_none_or(|f| *e < f))
            .collect();
        for epoch in complete {
            for part in self.stash.remove(&epoch).unwrap_or_default() {
                match part {
                    CheckpointPart::Offsets(offsets) => self.offsets.merge(&offsets),
                    CheckpointPart::Sink(name, position) => {
                        self.sinks.insert(name, position);
                    }
                }
            }
            self.dirty_epoch = Some(self.dirty_epoch.map_or(epoch, |d| d.max(epoch)));
        }
        let applied = self.dirty_epoch?;
        let epoch = frontier.map_or(applied, |f| f.saturating_sub(1).max(applied));
        Some(Snapshot {
            epoch,
            execution: self.execution,
            workers: self.workers,
            connector: self.connector.clone(),
            config: self.config.clone(),
            offsets: self.offsets.clone(),
            sinks: self.sinks.clone(),
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        })
    }

    /// The snapshot [`Checkpointer::complete`] returned is durable (or
    /// there is nowhere to write it): the next one waits for new parts.
    pub fn written(&mut self) {
        self.dirty_epoch = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SourceOffset, SourcePartition};

    fn offsets(pairs: &[(&str, i64)]) -> Offsets {
        pairs
            .iter()
            .map(|(f, n)| {
                (
                    SourcePartition::single("f", *f),
                    SourceOffset::int(&SourceOffset::key("n"), *n),
                )
            })
            .collect()
    }

    #[test]
    fn parts_of_several_workers_merge_by_partition_in_epoch_order() {
        let mut plan = Plan {
            offsets: offsets(&[("restored", 5), ("a", 1)]),
            execution: 4,
            ..Plan::default()
        };
        plan.sinks.push(("out".into(), OffsetValue::Int(100)));
        let mut c = Checkpointer::new(&plan, "job", Properties::new(), 3);
        // Two workers' parts for epoch 7, one for epoch 8, arriving out of order.
        c.stash(8, vec![CheckpointPart::Offsets(offsets(&[("a", 30)]))]);
        c.stash(7, vec![CheckpointPart::Offsets(offsets(&[("a", 10)]))]);
        c.stash(7, vec![CheckpointPart::Offsets(offsets(&[("b", 2)]))]);
        assert!(c.complete(Some(7)).is_none(), "epoch 7 is not complete yet");
        let s = c.complete(Some(8)).expect("epoch 7 complete");
        let n = |s: &Snapshot, f: &str| s.offsets[&SourcePartition::single("f", f)].get_i64("n");
        assert_eq!(s.epoch, 7);
        assert_eq!(
            (n(&s, "a"), n(&s, "b"), n(&s, "restored")),
            (Some(10), Some(2), Some(5))
        );
        assert_eq!(s.sinks["out"], OffsetValue::Int(100), "restored sink kept");
        assert_eq!(
            (s.execution, s.workers, s.connector.as_str()),
            (4, 3, "job")
        );
        c.written();
        // Epochs without parts still move the snapshot's epoch once newer
        // parts complete: here 8, then the frontier jumps to 12.
        let s = c.complete(Some(12)).expect("epoch 8 applied");
        assert_eq!((s.epoch, n(&s, "a")), (11, Some(30)));
        c.written();
        assert!(c.complete(Some(20)).is_none(), "no parts, no new snapshot");
    }
}
