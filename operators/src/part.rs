//! What each participant of a checkpoint contributes for an epoch.

use serde::{Deserialize, Serialize};
use timely_connect::data::{OffsetValue, Offsets};

/// One entry of a participant's part of epoch `e`: a change since its
/// previous part. The coordinator applies parts in epoch order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CheckpointPart {
    /// The last offsets a source's records reached, per source partition,
    /// in the epochs since its previous part, up to `e`.
    Offsets(Offsets),
    /// A sink's committed position after every record of epochs `<= e`.
    Sink(String, OffsetValue),
}
