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
use crate::state::{SegmentRef, StateManifest};

/// One entry of a participant's part of epoch `e`: a change since its
/// previous part. Parts are applied in epoch order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckpointPart {
    /// The last offsets a source's records reached, per source partition,
    /// in the epochs since its previous part, up to `e`.
    Offsets(Offsets),
    /// A sink's committed position after every record of epochs `<= e`.
    Sink(String, OffsetValue),
    /// A state segment one worker wrote for `operator`: its changes since
    /// its previous segment, up to `e` (see [`crate::state`]). Appended to
    /// the operator's manifest in epoch order; the segments several
    /// workers write for one epoch hold disjoint keys, so their order
    /// among themselves does not matter.
    State {
        /// The operator's name (its directory under `state/`).
        operator: String,
        /// The segment file written.
        segment: SegmentRef,
    },
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
    state: BTreeMap<String, StateManifest>,
    /// The newest epoch applied since the last snapshot was written.
    dirty_epoch: Option<u64>,
    /// A manifest's prefix was replaced by its compacted base since the
    /// last snapshot was written ([`Checkpointer::replace_prefix`]).
    compacted: bool,
    /// The epoch of the snapshot [`Checkpointer::complete`] last returned.
    returned_epoch: Option<u64>,
    /// The newest epoch with a snapshot on disk (written by this run, or
    /// before it: the plan's start epoch minus one).
    written_epoch: Option<u64>,
    connector: String,
    config: Properties,
    execution: u64,
    workers: usize,
}

impl Checkpointer {
    /// Starts from `plan`'s restored offsets, sink positions and operator
    /// state; snapshots
    /// name `connector`, store `config` (redacted) and count `workers`.
    pub fn new(plan: &Plan, connector: &str, config: Properties, workers: usize) -> Self {
        Checkpointer {
            stash: BTreeMap::new(),
            offsets: plan.offsets.clone(),
            sinks: plan.sinks_map(),
            state: plan.state.clone(),
            dirty_epoch: None,
            compacted: false,
            returned_epoch: None,
            written_epoch: plan.start_epoch.checked_sub(1),
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
                    CheckpointPart::State { operator, segment } => {
                        self.state
                            .entry(operator)
                            .or_default()
                            .segments
                            .push(segment);
                    }
                }
            }
            self.dirty_epoch = Some(self.dirty_epoch.map_or(epoch, |d| d.max(epoch)));
        }
        let epoch = match self.dirty_epoch {
            Some(applied) => frontier.map_or(applied, |f| f.saturating_sub(1).max(applied)),
            // Only a compaction changed: worth a snapshot once the frontier
            // allows an epoch above the last one written (snapshot epochs
            // never repeat).
            None if self.compacted => {
                let epoch = frontier?.checked_sub(1)?;
                if self.written_epoch.is_some_and(|w| epoch <= w) {
                    return None;
                }
                epoch
            }
            None => return None,
        };
        self.returned_epoch = Some(epoch);
        Some(Snapshot {
            epoch,
            execution: self.execution,
            workers: self.workers,
            connector: self.connector.clone(),
            config: self.config.clone(),
            offsets: self.offsets.clone(),
            sinks: self.sinks.clone(),
            state: self.state.clone(),
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        })
    }

    /// The snapshot [`Checkpointer::complete`] returned is durable (or
    /// there is nowhere to write it): the next one waits for new parts.
    pub fn written(&mut self) {
        self.dirty_epoch = None;
        self.compacted = false;
        if let Some(epoch) = self.returned_epoch.take() {
            self.written_epoch = Some(self.written_epoch.map_or(epoch, |w| w.max(epoch)));
        }
    }

    /// The operators' state as of the parts applied so far: what the next
    /// snapshot records.
    pub fn state(&self) -> &BTreeMap<String, StateManifest> {
        &self.state
    }

    /// Replaces the first segments of `operator`'s manifest by `base`, their
    /// compaction ([`crate::state::StateDir::compact`]), if the manifest
    /// still starts with exactly `compacted` (compared by file name), and
    /// returns true; otherwise changes nothing and returns false.
    ///
    /// A replacement is a change worth a snapshot of its own: the next
    /// [`Checkpointer::complete`] returns one even without new parts, as
    /// soon as the frontier allows an epoch above the last snapshot
    /// written (snapshot epochs never repeat; without new parts and
    /// without the frontier passing a new epoch it waits). Call it between
    /// snapshots, not between `complete` and `written`.
    pub fn replace_prefix(
        &mut self,
        operator: &str,
        compacted: &[SegmentRef],
        base: SegmentRef,
    ) -> bool {
        let Some(manifest) = self.state.get_mut(operator) else {
            return false;
        };
        let n = compacted.len();
        let matches = n > 0
            && manifest.segments.len() >= n
            && manifest.segments[..n]
                .iter()
                .zip(compacted)
                .all(|(have, done)| have.file == done.file);
        if !matches {
            return false;
        }
        manifest.segments.splice(..n, [base]);
        self.compacted = true;
        true
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

    fn seg(file: &str, epoch: u64) -> SegmentRef {
        SegmentRef {
            file: file.into(),
            epoch,
            entries: 1,
            bytes: 40,
            crc: 0,
            base: false,
        }
    }

    fn files(s: &Snapshot, operator: &str) -> Vec<String> {
        s.state[operator]
            .segments
            .iter()
            .map(|g| g.file.clone())
            .collect()
    }

    #[test]
    fn state_parts_append_segments_in_epoch_order_from_the_plan() {
        let mut plan = Plan {
            start_epoch: 5,
            ..Plan::default()
        };
        plan.state.insert(
            "rows".into(),
            StateManifest {
                segments: vec![seg("base-3", 3)],
            },
        );
        let mut c = Checkpointer::new(&plan, "job", Properties::new(), 2);
        let part = |file: &str, epoch| CheckpointPart::State {
            operator: "rows".into(),
            segment: seg(file, epoch),
        };
        c.stash(6, vec![part("s6w1", 6)]);
        c.stash(5, vec![part("s5w0", 5), part("s5w1", 5)]);
        c.stash(
            5,
            vec![CheckpointPart::State {
                operator: "other".into(),
                segment: seg("o5", 5),
            }],
        );
        let s = c.complete(Some(7)).unwrap();
        assert_eq!(files(&s, "rows"), ["base-3", "s5w0", "s5w1", "s6w1"]);
        assert_eq!(files(&s, "other"), ["o5"]);
        assert_eq!(c.state(), &s.state);
    }

    #[test]
    fn replace_prefix_swaps_exactly_the_compacted_segments_and_is_a_change() {
        let mut plan = Plan {
            start_epoch: 3,
            ..Plan::default()
        };
        plan.state.insert(
            "rows".into(),
            StateManifest {
                segments: vec![seg("a", 1), seg("b", 2)],
            },
        );
        let mut c = Checkpointer::new(&plan, "job", Properties::new(), 1);
        let compacted = [seg("a", 1), seg("b", 2)];
        let base = SegmentRef {
            base: true,
            ..seg("base-2", 2)
        };
        // Meanwhile epoch 3 appended a segment.
        c.stash(
            3,
            vec![CheckpointPart::State {
                operator: "rows".into(),
                segment: seg("c", 3),
            }],
        );
        let s = c.complete(Some(4)).unwrap();
        assert_eq!(s.epoch, 3);
        c.written();
        assert!(c.complete(Some(4)).is_none());

        // Not a prefix, another operator, nothing: refused, nothing changes.
        assert!(!c.replace_prefix("rows", &[seg("b", 2)], base.clone()));
        assert!(!c.replace_prefix("rows", &[seg("a", 1), seg("c", 3)], base.clone()));
        assert!(!c.replace_prefix("nope", &compacted, base.clone()));
        assert!(!c.replace_prefix("rows", &[], base.clone()));
        assert!(c.complete(Some(5)).is_none(), "nothing changed");

        assert!(c.replace_prefix("rows", &compacted, base.clone()));
        assert_eq!(c.state()["rows"].segments, vec![base.clone(), seg("c", 3)]);
        // No epoch above the last snapshot (4 was not written: 3 was,
        // and the frontier is still at 4): wait.
        assert!(c.complete(Some(4)).is_none());
        let s = c.complete(Some(6)).expect("the compaction is snapshotted");
        assert_eq!(
            (s.epoch, files(&s, "rows")),
            (5, vec!["base-2".to_owned(), "c".to_owned()])
        );
        c.written();
        assert!(c.complete(Some(8)).is_none(), "once");
        // Done twice: the prefix is gone.
        assert!(!c.replace_prefix("rows", &compacted, base));
    }
}
