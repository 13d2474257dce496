//! What each participant of a checkpoint contributes for an epoch: the
//! Connect side's [`CheckpointPart`], re-exported here for the operators.

pub use timely_connect::runtime::CheckpointPart;
