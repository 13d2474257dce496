//! Errors of the snapshot store.

use std::path::PathBuf;

/// Why a snapshot could not be written, read or converted.
///
/// Every variant that concerns a file names it; every variant that concerns
/// an epoch names the epoch.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file-system operation failed.
    #[error("snapshot store: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "create directory", "rename", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file does not start with the snapshot magic bytes.
    #[error(
        "{} is not a timely-connect snapshot: bad magic bytes {found:02x?}",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first bytes of the file (up to the magic's length).
        found: Vec<u8>,
    },
    /// The file was written in a format version this build cannot read.
    #[error(
        "snapshot {} has format version {version}, but this build reads versions 1..={supported}{}",
        path.display(),
        if *version > *supported { " (written by a newer timely-connect?)" } else { "" }
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        version: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The file is shorter than its header says.
    #[error(
        "snapshot {} is truncated: expected {expected} bytes, found {actual}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The length the header (or the header itself) requires.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error(
        "snapshot {} has trailing bytes: expected {expected} bytes, found {actual}",
        path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The length the header requires.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// The payload's CRC32 does not match the one in the header.
    #[error(
        "snapshot {} is corrupt: checksum mismatch (header {stored:#010x}, payload {computed:#010x})",
        path.display()
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The CRC32 stored in the header.
        stored: u32,
        /// The CRC32 computed over the payload.
        computed: u32,
    },
    /// The checksum holds but the payload does not decode.
    #[error("snapshot {} has an undecodable payload: {source}", path.display())]
    Payload {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: bincode::Error,
    },
    /// The file's name and its payload disagree about the epoch.
    #[error(
        "snapshot {} is named for epoch {in_name} but holds epoch {in_payload}",
        path.display()
    )]
    EpochMismatch {
        /// The file.
        path: PathBuf,
        /// The epoch in the file name.
        in_name: u64,
        /// The epoch in the payload.
        in_payload: u64,
    },
    /// A snapshot could not be encoded.
    #[error("cannot encode snapshot of epoch {epoch}: {source}")]
    Encode {
        /// The snapshot's epoch.
        epoch: u64,
        /// The encoder's error.
        source: bincode::Error,
    },
    /// A snapshot file for this epoch already exists; snapshots are never
    /// overwritten.
    #[error(
        "snapshot for epoch {epoch} already exists at {}; snapshots are never overwritten",
        path.display()
    )]
    AlreadyExists {
        /// The epoch.
        epoch: u64,
        /// The existing file.
        path: PathBuf,
    },
    /// A snapshot was written with an epoch at or below a snapshot already on
    /// disk: epochs must keep rising (a restored job starts at
    /// [`max_epoch_on_disk`](super::SnapshotStore::max_epoch_on_disk) + 1).
    #[error(
        "cannot write snapshot for epoch {epoch} in {}: epoch {max} is already on disk and epochs must keep rising",
        dir.display()
    )]
    EpochNotAbove {
        /// The epoch that was to be written.
        epoch: u64,
        /// The highest epoch on disk.
        max: u64,
        /// The store's directory.
        dir: PathBuf,
    },
    /// No snapshot file exists for the epoch the user named.
    #[error("no snapshot for epoch {epoch} in {}", dir.display())]
    EpochNotFound {
        /// The epoch.
        epoch: u64,
        /// The store's directory.
        dir: PathBuf,
    },
    /// Snapshot files exist but none of them is readable; restoring from
    /// nothing would silently re-read every source from the start.
    #[error(
        "no valid snapshot in {}: {}",
        dir.display(),
        describe_skipped(skipped)
    )]
    NoValidSnapshot {
        /// The store's directory.
        dir: PathBuf,
        /// Every snapshot file and why it was rejected, newest first.
        skipped: Vec<(PathBuf, String)>,
    },
    /// The snapshot "file" is a symbolic link, a FIFO, a device or a
    /// socket: restore reads only regular files, and never follows links.
    #[error("{} is not a regular file ({kind}); snapshots are regular files", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than any snapshot this build writes or reads.
    #[error(
        "snapshot {} is {size} bytes, more than the limit of {limit} bytes",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// [`super::MAX_SNAPSHOT_BYTES`].
        limit: u64,
    },
    /// The epoch (in a file name, or of a snapshot to write) is beyond
    /// [`super::MAX_EPOCH`]; epochs near `u64::MAX` would overflow.
    #[error(
        "snapshot epoch {epoch} ({}) is beyond the largest epoch {max}",
        path.display()
    )]
    EpochOutOfRange {
        /// The file.
        path: PathBuf,
        /// The epoch.
        epoch: u64,
        /// [`super::MAX_EPOCH`].
        max: u64,
    },
    /// `retain` was zero: a store must keep at least the newest snapshot.
    #[error("snapshot store {}: retain must be at least 1", dir.display())]
    InvalidRetain {
        /// The store's directory.
        dir: PathBuf,
    },
    /// Offsets JSON not in the shape of Kafka Connect's offsets REST API.
    #[error(
        "offsets JSON at {at}: {reason} (expected {{\"offsets\":[{{\"partition\":{{...}},\"offset\":{{...}}}}]}})"
    )]
    ApiJson {
        /// Where in the document (e.g. `offsets[2].partition`).
        at: String,
        /// What is wrong.
        reason: String,
    },
}

fn describe_skipped(skipped: &[(PathBuf, String)]) -> String {
    skipped
        .iter()
        .map(|(_, reason)| reason.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}
