//! Snapshots of source offsets and sink positions: what a snapshot holds,
//! how it is laid out on disk, and the directory that stores them.
//!
//! A [`Snapshot`] is the checkpoint coordinator's record of epoch `e`: the
//! source offsets of every source partition read up to `e` (merged by
//! partition, never keyed by worker or task) and the positions of the sinks
//! that take part in the snapshot. A [`SnapshotStore`] writes them atomically
//! to a local directory, one file per epoch, and on restore finds the newest
//! one that checks out, skipping corrupt or truncated ones with a clear
//! message. Operators' keyed state is not in the file itself: a snapshot
//! names, per operator, the state segment files to apply
//! ([`Snapshot::state`]; see [`crate::state`]).
//!
//! # File layout (format version 2)
//!
//! A snapshot file is named `snapshot-{epoch:020}.tcs` (the epoch zero-padded
//! to 20 digits, so names sort like epochs) and holds a 24-byte header
//! followed by the payload. All integers are little-endian.
//!
//! | offset | length | content                                             |
//! |-------:|-------:|-----------------------------------------------------|
//! |      0 |      8 | magic bytes `TCSNAPSH`                              |
//! |      8 |      4 | format version, `u32` (currently 2)                 |
//! |     12 |      8 | payload length in bytes, `u64`                      |
//! |     20 |      4 | CRC32 (IEEE, as `crc32fast`) of the payload, `u32`  |
//! |     24 |      n | payload: the [`Snapshot`] in bincode 1.3            |
//!
//! The payload uses bincode's fixed-width little-endian integer encoding
//! (the encoding of `bincode::serialize`), and a file must be exactly
//! `24 + n` bytes long. The magic and the version field are fixed for all
//! future versions; everything after them is defined by the version, so a
//! reader meeting a newer version stops with
//! [`SnapshotError::UnsupportedVersion`] before it looks further.
//!
//! Version 2 added [`Snapshot::state`] as the payload's last field. Version
//! 1 files (the same payload without it) are still read, as snapshots with
//! no operator state; this build writes version 2 only.
//!
//! Reading checks the magic, the version, the length (a shorter file is
//! [`SnapshotError::Truncated`], a longer one
//! [`SnapshotError::TrailingBytes`]), the checksum
//! ([`SnapshotError::ChecksumMismatch`]), the payload, and that the epoch in
//! the payload is the one in the file name.
//!
//! # Writing
//!
//! [`SnapshotStore::write`] writes `.snapshot-{epoch:020}.{pid}.tmp` in the
//! same directory, fsyncs it, links it to its final name (which fails rather
//! than replace an existing file), removes the temp name and fsyncs the
//! directory. A crash at any instant leaves every earlier snapshot intact;
//! at worst it leaves a temp file, which readers ignore and the next write
//! deletes. Offsets import and export in Kafka Connect's offsets REST API
//! shape is in [`offsets_to_api_json`] and [`offsets_from_api_json`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Properties;
use crate::data::{OffsetValue, Offsets};
use crate::state::StateManifest;

mod api_json;
mod envelope;
mod error;
mod lock;
mod manage;
mod store;

pub use api_json::{offset_changes_from_api_json, offsets_from_api_json, offsets_to_api_json};
pub use envelope::{FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use error::SnapshotError;
pub use lock::{lock_exclusive, DirLock, LockError, LOCK_FILE_NAME};
pub use manage::{change_offsets, change_offsets_at, Changed, ManageError, OffsetChange, Owner};
pub use store::{
    snapshot_file_name, Restored, SnapshotEntry, SnapshotStore, MAX_EPOCH, MAX_SNAPSHOT_BYTES,
};

/// The committed state of a job at the end of one epoch: what a restore
/// starts from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The epoch this snapshot completes: every record emitted at an epoch
    /// `<= epoch` has its offset here, none emitted later has.
    pub epoch: u64,
    /// The execution number: how many times the job has been (re)started
    /// from a snapshot, so a restore can tell the runs apart.
    pub execution: u64,
    /// The number of workers that took the snapshot (informational: offsets
    /// restore onto any worker count).
    pub workers: usize,
    /// The connector's name (its `name` property).
    pub connector: String,
    /// The connector configuration the job ran with.
    pub config: Properties,
    /// The last offset read per source partition, merged over all tasks and
    /// workers. Partitions that were idle or finished keep their offset.
    pub offsets: Offsets,
    /// Positions of the sinks that take part in the snapshot, by sink name
    /// (e.g. the exactly-once file sink's committed byte length).
    pub sinks: BTreeMap<String, OffsetValue>,
    /// Wall-clock time the snapshot was made, in milliseconds since the Unix
    /// epoch.
    pub created_ms: u64,
    /// Operators' keyed state, by operator name: the segment files to
    /// apply, in order (format version 2; empty in a version-1 file).
    pub state: BTreeMap<String, StateManifest>,
}

impl Snapshot {
    /// Encodes the snapshot as the complete bytes of a snapshot file (header
    /// and payload; see the [module documentation](self)).
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        envelope::encode(self)
    }

    /// Decodes the complete bytes of a snapshot file; `origin` names the file
    /// in errors. Does not check the epoch against a file name.
    pub fn decode(bytes: &[u8], origin: &std::path::Path) -> Result<Snapshot, SnapshotError> {
        envelope::decode(bytes, origin)
    }
}
