//! Operator state in snapshots: keyed state that operators (a differential
//! adapter keeping the current row per key, say) contribute to each epoch's
//! snapshot and get back on restore, on any number of workers.
//!
//! Snapshot cost follows the change rate, not the state size: at each epoch
//! a worker writes a *segment file* holding only the changes (upserts and
//! deletes of keys) since its previous segment, and sends a [`SegmentRef`]
//! to the checkpoint coordinator. A snapshot records, per operator, the
//! ordered list of segments to apply (a [`StateManifest`]). The coordinator
//! now and then merges a manifest's segments into one *base* segment
//! ([`StateDir::compact`]) and deletes files no snapshot refers to any more
//! ([`StateDir::collect_garbage`]).
//!
//! # Directory layout
//!
//! ```text
//! <snapshot_dir>/state/<operator>/seg-{epoch:020}-x{execution}-w{worker}.tcst
//! <snapshot_dir>/state/<operator>/base-{epoch:020}-x{execution}.tcst
//! <snapshot_dir>/state/<operator>/.<one of the above>.tmp      (a write in progress)
//! ```
//!
//! `epoch` is the newest epoch whose changes the file holds, `execution` the
//! job's execution number, `worker` the writing worker's index. Operator
//! names are 1 to 100 characters of `[A-Za-z0-9_.-]`, not starting with `.`.
//!
//! # File layout (segment format version 1)
//!
//! A segment file holds a 24-byte header followed by the payload. All
//! integers are little-endian.
//!
//! | offset | length | content                                             |
//! |-------:|-------:|-----------------------------------------------------|
//! |      0 |      8 | magic bytes `TCSTATE1`                              |
//! |      8 |      4 | format version, `u32` (currently 1)                 |
//! |     12 |      8 | payload length in bytes, `u64`                      |
//! |     20 |      4 | CRC32 (IEEE, as `crc32fast`) of the payload, `u32`  |
//! |     24 |      n | payload: the entries in bincode 1.3                 |
//!
//! The payload is a `Vec<`[`StateEntry`]`>` in bincode's fixed-width
//! little-endian integer encoding (as snapshot payloads): a `u64` count, then
//! per entry the key (`u64` length, bytes), and `0u8` for a delete or `1u8`
//! followed by the value (`u64` length, bytes). A file must be exactly
//! `24 + n` bytes long. A base segment holds every live key once, sorted by
//! key, and no deletes.
//!
//! Reading checks the magic, the version, the length against the header and
//! against the [`SegmentRef`], the checksum against both, the payload, and
//! the entry count; every error names the operator and the file.
//!
//! # Writing
//!
//! A segment is written to `.<name>.tmp` in its operator's directory,
//! fsynced, renamed to its final name and the directory fsynced, so a file
//! with a final name is always complete. A crash leaves at most a temp file,
//! which [`StateDir::collect_garbage`] deletes once its epoch is snapshotted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(test)]
use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::storage::{LocalDir, Storage, StorageError};

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TCSTATE1";

/// The segment format version this build writes, and the newest it reads.
pub const SEGMENT_VERSION: u32 = 1;

/// Length of a segment file's header: magic (8), version (4), payload
/// length (8), CRC32 (4).
pub const SEGMENT_HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// The name of the directory, inside a snapshot directory, that holds state.
pub const STATE_DIR_NAME: &str = "state";

const SEGMENT_SUFFIX: &str = ".tcst";
const TEMP_SUFFIX: &str = ".tmp";
const EPOCH_DIGITS: usize = 20;
const MAX_OPERATOR_LEN: usize = 100;
/// The smallest encoded entry: key length (8) and the option tag (1).
const MIN_ENTRY_LEN: u64 = 9;

/// One segment file of an operator's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    /// The file's name, relative to `<snapshot_dir>/state/<operator>/`.
    pub file: String,
    /// The newest epoch whose changes the file holds.
    pub epoch: u64,
    /// How many entries it holds.
    pub entries: u64,
    /// The file's length in bytes.
    pub bytes: u64,
    /// CRC32 (`crc32fast`) of the payload.
    pub crc: u32,
    /// True for a compacted base: the full state, no deletes.
    pub base: bool,
}

/// An operator's state as of a snapshot: segments in the order to apply them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateManifest {
    /// The segments, oldest first; later entries override earlier ones.
    pub segments: Vec<SegmentRef>,
}

impl StateManifest {
    /// Entries over all segments (a key changed twice counts twice).
    pub fn entries(&self) -> u64 {
        self.segments.iter().map(|s| s.entries).sum()
    }

    /// Bytes over all segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// A change: key bytes, and the new value bytes or `None` (deleted).
pub type StateEntry = (Vec<u8>, Option<Vec<u8>>);

/// Why operator state could not be written, read, compacted or collected.
///
/// Every variant names the operator; every variant about a file names the
/// file (whose name carries the epoch).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The operator name cannot be a directory name here.
    #[error("state of operator `{operator}`: bad operator name: {reason}")]
    BadOperatorName {
        /// The name as given.
        operator: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A segment reference names a file that is not a segment file name.
    #[error("state of operator `{operator}`: `{file}` is not a state segment file name")]
    BadFileName {
        /// The operator.
        operator: String,
        /// The name in the reference.
        file: String,
    },
    /// A file-system operation failed.
    #[error("state of operator `{operator}`: cannot {op} {}: {source}", path.display())]
    Io {
        /// The operator (empty for the state directory itself).
        operator: String,
        /// What was being done ("read", "rename", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file does not start with the segment magic bytes.
    #[error("state of operator `{operator}`: {} is not a state segment: bad magic bytes {found:02x?}", path.display())]
    BadMagic {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The file's first bytes (up to the magic's length).
        found: Vec<u8>,
    },
    /// The file has a format version this build cannot read.
    #[error("state of operator `{operator}`: {} has segment format version {version}, this build reads 1..={SEGMENT_VERSION}", path.display())]
    UnsupportedVersion {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The version in the file.
        version: u32,
    },
    /// The file is shorter than its header or its reference says.
    #[error("state of operator `{operator}`: {} is truncated: expected {expected} bytes, found {actual}", path.display())]
    Truncated {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The length required.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// The file is longer than its header or its reference says.
    #[error("state of operator `{operator}`: {} has trailing bytes: expected {expected} bytes, found {actual}", path.display())]
    TrailingBytes {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The length required.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// The payload's CRC32 does not match the header's or the reference's.
    #[error("state of operator `{operator}`: {} is corrupt: checksum mismatch (expected {expected:#010x}, payload {computed:#010x})", path.display())]
    ChecksumMismatch {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// The CRC32 in the header or the reference.
        expected: u32,
        /// The payload's CRC32.
        computed: u32,
    },
    /// The payload does not decode, or holds another number of entries
    /// than the reference says.
    #[error("state of operator `{operator}`: cannot decode {}: {reason}", path.display())]
    Decode {
        /// The operator.
        operator: String,
        /// The file.
        path: PathBuf,
        /// What did not decode.
        reason: String,
    },
    /// There is nothing to compact.
    #[error("state of operator `{operator}`: cannot compact an empty manifest")]
    EmptyManifest {
        /// The operator.
        operator: String,
    },
}

/// What a segment file name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileName {
    epoch: u64,
    base: bool,
}

/// The name of a worker's segment of `epoch`.
fn segment_file_name(epoch: u64, execution: u64, worker: usize) -> String {
    format!("seg-{epoch:0EPOCH_DIGITS$}-x{execution}-w{worker}{SEGMENT_SUFFIX}")
}

/// The name of a base segment holding the state as of `epoch`.
fn base_file_name(epoch: u64, execution: u64) -> String {
    format!("base-{epoch:0EPOCH_DIGITS$}-x{execution}{SEGMENT_SUFFIX}")
}

/// The final name a temp file is for, if `name` is one: `.{file}.tmp`, or
/// `.{file}.{pid}.tmp` as a local directory writes them.
fn temp_target(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    Some(match inner.rsplit_once('.') {
        Some((file, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => file,
        _ => inner,
    })
}

fn parse_number(text: &str, prefix: char) -> Option<u64> {
    let digits = text.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Parses a segment or base file name; `None` for anything else.
fn parse_file_name(name: &str) -> Option<FileName> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    let (base, rest) = if let Some(rest) = stem.strip_prefix("seg-") {
        (false, rest)
    } else {
        (true, stem.strip_prefix("base-")?)
    };
    let mut parts = rest.split('-');
    let digits = parts.next()?;
    if digits.len() != EPOCH_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let epoch = digits.parse().ok()?;
    parse_number(parts.next()?, 'x')?;
    if !base {
        parse_number(parts.next()?, 'w')?;
    }
    parts.next().is_none().then_some(FileName { epoch, base })
}

/// The bincode configuration of segment payloads (that of snapshot
/// payloads), which [`SegmentBuf`] and [`PayloadReader`] write and read.
#[cfg(test)]
fn payload_options() -> impl Options + Copy {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

/// A segment file being built: the header's room, then the payload
/// (bincode's encoding of the entries, written by hand: one copy of each
/// key and value instead of a call per byte).
struct SegmentBuf {
    bytes: Vec<u8>,
    count: u64,
}

impl SegmentBuf {
    /// Room for a header and an entry count, and about `capacity` bytes.
    fn with_capacity(capacity: usize) -> SegmentBuf {
        let mut bytes = Vec::with_capacity(SEGMENT_HEADER_LEN + 8 + capacity);
        bytes.resize(SEGMENT_HEADER_LEN + 8, 0);
        SegmentBuf { bytes, count: 0 }
    }

    /// The encoded length of an entry (at most: a delete has no value length).
    fn entry_len(key: &[u8], value: Option<&[u8]>) -> usize {
        17 + key.len() + value.map_or(0, <[u8]>::len)
    }

    /// Appends an entry: the key (`u64` length, bytes), then `0u8` for a
    /// delete or `1u8` and the value (`u64` length, bytes).
    fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.bytes
            .extend_from_slice(&(key.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(key);
        match value {
            None => self.bytes.push(0),
            Some(v) => {
                self.bytes.push(1);
                self.bytes
                    .extend_from_slice(&(v.len() as u64).to_le_bytes());
                self.bytes.extend_from_slice(v);
            }
        }
        self.count += 1;
    }

    /// The file's bytes, with the count and the header filled in, and the
    /// payload's CRC32.
    fn finish(mut self) -> (Vec<u8>, u64, u32) {
        let count = self.count;
        self.bytes[SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + 8]
            .copy_from_slice(&count.to_le_bytes());
        let payload_len = (self.bytes.len() - SEGMENT_HEADER_LEN) as u64;
        let crc = crc32fast::hash(&self.bytes[SEGMENT_HEADER_LEN..]);
        self.bytes[..8].copy_from_slice(&SEGMENT_MAGIC);
        self.bytes[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        self.bytes[12..20].copy_from_slice(&payload_len.to_le_bytes());
        self.bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        (self.bytes, count, crc)
    }
}

/// A payload read in place: the entries' keys and values are slices of it.
struct PayloadReader<'a> {
    rest: &'a [u8],
}

impl<'a> PayloadReader<'a> {
    fn u64(&mut self) -> Result<u64, String> {
        let Some((head, rest)) = self.rest.split_first_chunk::<8>() else {
            return Err(format!(
                "the payload ends {} bytes into a length",
                self.rest.len()
            ));
        };
        self.rest = rest;
        Ok(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u64()?;
        if len > self.rest.len() as u64 {
            return Err(format!(
                "a length of {len} bytes with {} bytes left",
                self.rest.len()
            ));
        }
        let (bytes, rest) = self.rest.split_at(len as usize);
        self.rest = rest;
        Ok(bytes)
    }

    fn entry(&mut self) -> Result<(&'a [u8], Option<&'a [u8]>), String> {
        let key = self.bytes()?;
        let Some((&tag, rest)) = self.rest.split_first() else {
            return Err("the payload ends before an entry's option tag".to_owned());
        };
        self.rest = rest;
        match tag {
            0 => Ok((key, None)),
            1 => Ok((key, Some(self.bytes()?))),
            other => Err(format!("option tag {other} (0 or 1 expected)")),
        }
    }
}

/// The state directory of a snapshot store: `<snapshot_dir>/state/`.
///
/// ```
/// use timely_connect::state::{StateDir, StateManifest};
///
/// let dir = tempfile::tempdir()?;
/// let state = StateDir::new(dir.path());
/// let seg = state.write_segment("rows", 3, 1, 0, &[
///     (b"k1".to_vec(), Some(b"v1".to_vec())),
///     (b"k2".to_vec(), Some(b"v2".to_vec())),
/// ])?;
/// let later = state.write_segment("rows", 4, 1, 0, &[(b"k1".to_vec(), None)])?;
/// let manifest = StateManifest { segments: vec![seg, later] };
/// let rows = state.load("rows", &manifest, |_| true)?;
/// assert_eq!(rows.len(), 1);
/// assert_eq!(rows[&b"k2".to_vec()], b"v2".to_vec());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct StateDir {
    storage: Arc<dyn Storage>,
    root: PathBuf,
}

impl StateDir {
    /// The state directory of the snapshot directory `snapshot_dir`
    /// (nothing is created until a segment is written).
    pub fn new(snapshot_dir: &Path) -> StateDir {
        StateDir::on_storage(Arc::new(LocalDir::at(snapshot_dir)))
    }

    /// The state directory in a snapshot store's storage (a local
    /// directory or an object-store prefix): its `state/` objects.
    pub fn on_storage(storage: Arc<dyn Storage>) -> StateDir {
        let root = storage.location(STATE_DIR_NAME);
        StateDir { storage, root }
    }

    /// `<snapshot_dir>/state/` (or its `s3://` URL).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object name of `file` of `operator`.
    fn object(operator: &str, file: &str) -> String {
        format!("{STATE_DIR_NAME}/{operator}/{file}")
    }

    /// A storage error as the state error that says the same.
    fn storage_err(operator: &str, op: &'static str, e: StorageError) -> StateError {
        let (path, source) = match e {
            StorageError::NotFound { location } => {
                (location, io::Error::from(io::ErrorKind::NotFound))
            }
            StorageError::Io {
                location,
                source,
                op: _,
            } => (location, source),
            other => {
                let location = match &other {
                    StorageError::AlreadyExists { location }
                    | StorageError::NotRegular { location, .. }
                    | StorageError::TooLarge { location, .. } => location.clone(),
                    StorageError::Config { location, .. } => PathBuf::from(location),
                    StorageError::NotFound { .. } | StorageError::Io { .. } => PathBuf::new(),
                };
                (location, io::Error::other(other.to_string()))
            }
        };
        StateError::Io {
            operator: operator.to_owned(),
            op,
            path,
            source,
        }
    }

    /// Checks that `operator` can name a state directory: 1 to 100
    /// characters of `[A-Za-z0-9_.-]`, not starting with `.`.
    pub fn check_operator_name(operator: &str) -> Result<(), StateError> {
        let bad = |reason| {
            Err(StateError::BadOperatorName {
                operator: operator.to_owned(),
                reason,
            })
        };
        if operator.is_empty() {
            return bad("it is empty");
        }
        if operator.len() > MAX_OPERATOR_LEN {
            return bad("it is longer than 100 characters");
        }
        if operator.starts_with('.') {
            return bad("it starts with `.`");
        }
        if !operator
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return bad("only letters, digits, `_`, `.` and `-` are allowed");
        }
        Ok(())
    }

    fn operator_dir(&self, operator: &str) -> Result<PathBuf, StateError> {
        Self::check_operator_name(operator)?;
        Ok(self.root.join(operator))
    }

    /// Writes the changes of `worker` for `operator` up to `epoch` as a new
    /// segment file, in the order given, and returns its reference.
    ///
    /// The file (`seg-{epoch:020}-x{execution}-w{worker}.tcst`) is written
    /// atomically: a temp file, written and fsynced, renamed to its final
    /// name, then the directory fsynced; the directories are created as
    /// needed. Called by each worker's operator at the end of an epoch,
    /// before it sends the reference as its checkpoint part.
    pub fn write_segment(
        &self,
        operator: &str,
        epoch: u64,
        execution: u64,
        worker: usize,
        entries: &[StateEntry],
    ) -> Result<SegmentRef, StateError> {
        let file = segment_file_name(epoch, execution, worker);
        let size = entries
            .iter()
            .map(|(k, v)| SegmentBuf::entry_len(k, v.as_deref()))
            .sum();
        let mut buf = SegmentBuf::with_capacity(size);
        for (k, v) in entries {
            buf.push(k, v.as_deref());
        }
        self.write_file(operator, file, epoch, false, buf)
    }

    /// Writes the segment `buf` as the file `file` atomically.
    fn write_file(
        &self,
        operator: &str,
        file: String,
        epoch: u64,
        base: bool,
        buf: SegmentBuf,
    ) -> Result<SegmentRef, StateError> {
        let path = self.operator_dir(operator)?.join(&file);
        let (bytes, count, crc) = buf.finish();
        self.storage
            .put(&Self::object(operator, &file), &bytes)
            .map_err(|e| Self::storage_err(operator, "write", e))?;
        tracing::debug!(operator, file = %path.display(), epoch, entries = count, bytes = bytes.len(), base, "state segment written");
        Ok(SegmentRef {
            file,
            epoch,
            entries: count,
            bytes: bytes.len() as u64,
            crc,
            base,
        })
    }

    /// Reads a segment's entries in file order, checking magic, version,
    /// length and CRC against the file and against `seg`.
    pub fn read_segment(
        &self,
        operator: &str,
        seg: &SegmentRef,
    ) -> Result<Vec<StateEntry>, StateError> {
        let mut entries = Vec::new();
        self.for_each_entry(operator, seg, |key, value| {
            entries.push((key.to_vec(), value.map(<[u8]>::to_vec)))
        })?;
        Ok(entries)
    }

    /// Reads and checks a segment, and hands its entries to `apply` one at
    /// a time as they are decoded, as slices of the file's bytes.
    fn for_each_entry(
        &self,
        operator: &str,
        seg: &SegmentRef,
        apply: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Result<(), StateError> {
        let bytes = self.read_checked(operator, seg)?;
        self.decode_entries(operator, seg, &bytes, apply)
    }

    /// A segment's file, its magic, version, lengths and CRC checked
    /// against itself and against `seg`.
    fn read_checked(&self, operator: &str, seg: &SegmentRef) -> Result<Vec<u8>, StateError> {
        let dir = self.operator_dir(operator)?;
        if parse_file_name(&seg.file).is_none() {
            return Err(StateError::BadFileName {
                operator: operator.to_owned(),
                file: seg.file.clone(),
            });
        }
        let path = dir.join(&seg.file);
        let operator_s = || operator.to_owned();
        let length_err = |expected: u64, actual: u64| {
            if actual < expected {
                StateError::Truncated {
                    operator: operator_s(),
                    path: path.clone(),
                    expected,
                    actual,
                }
            } else {
                StateError::TrailingBytes {
                    operator: operator_s(),
                    path: path.clone(),
                    expected,
                    actual,
                }
            }
        };
        // A file longer than its reference says is not read at all.
        let bytes = match self
            .storage
            .read(&Self::object(operator, &seg.file), seg.bytes)
        {
            Ok(bytes) => bytes,
            Err(StorageError::TooLarge { size, .. }) => return Err(length_err(seg.bytes, size)),
            Err(e) => return Err(Self::storage_err(operator, "read", e)),
        };
        if bytes.len() as u64 != seg.bytes {
            return Err(length_err(seg.bytes, bytes.len() as u64));
        }
        let actual = bytes.len() as u64;
        let header_truncated = || length_err(SEGMENT_HEADER_LEN as u64, actual);

        let magic_len = SEGMENT_MAGIC.len().min(bytes.len());
        if bytes[..magic_len] != SEGMENT_MAGIC[..magic_len] {
            return Err(StateError::BadMagic {
                operator: operator_s(),
                path: path.clone(),
                found: bytes[..magic_len].to_vec(),
            });
        }
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(header_truncated());
        }
        let (header, payload) = bytes.split_at(SEGMENT_HEADER_LEN);
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let version = u32_at(8);
        if version == 0 || version > SEGMENT_VERSION {
            return Err(StateError::UnsupportedVersion {
                operator: operator_s(),
                path: path.clone(),
                version,
            });
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&header[12..20]);
        let payload_len = u64::from_le_bytes(len_bytes);
        let stored_crc = u32_at(20);
        let expected = (SEGMENT_HEADER_LEN as u64).saturating_add(payload_len);
        if actual != expected {
            return Err(length_err(expected, actual));
        }
        let computed = crc32fast::hash(payload);
        for expected in [stored_crc, seg.crc] {
            if computed != expected {
                return Err(StateError::ChecksumMismatch {
                    operator: operator_s(),
                    path: path.clone(),
                    expected,
                    computed,
                });
            }
        }
        Ok(bytes)
    }

    /// Decodes the entries of `file`, a segment's checked bytes (see
    /// [`StateDir::read_checked`]), handing each to `apply` as slices of it.
    fn decode_entries<'a>(
        &self,
        operator: &str,
        seg: &SegmentRef,
        file: &'a [u8],
        mut apply: impl FnMut(&'a [u8], Option<&'a [u8]>),
    ) -> Result<(), StateError> {
        let decode_err = |reason: String| StateError::Decode {
            operator: operator.to_owned(),
            path: self.root.join(operator).join(&seg.file),
            reason,
        };
        let payload = file.get(SEGMENT_HEADER_LEN..).unwrap_or_default();
        let mut reader = PayloadReader { rest: payload };
        let count = reader
            .u64()
            .map_err(|e| decode_err(format!("entry count: {e}")))?;
        if count != seg.entries {
            return Err(decode_err(format!(
                "it holds {count} entries, its reference says {}",
                seg.entries
            )));
        }
        if count > reader.rest.len() as u64 / MIN_ENTRY_LEN {
            return Err(decode_err(format!(
                "{count} entries cannot fit in {} bytes",
                reader.rest.len()
            )));
        }
        for i in 0..count {
            let (key, value) = reader
                .entry()
                .map_err(|e| decode_err(format!("entry {i}: {e}")))?;
            apply(key, value);
        }
        let rest = reader.rest;
        if !rest.is_empty() {
            return Err(decode_err(format!(
                "{} bytes after the last entry",
                rest.len()
            )));
        }
        Ok(())
    }

    /// Folds the manifest's segments in order: later entries override
    /// earlier ones and `None` deletes. Only keys for which `keep(key)` is
    /// true are kept (a worker's share of the keys, say). Segments are
    /// decoded one at a time, entry by entry, into the result.
    pub fn load(
        &self,
        operator: &str,
        manifest: &StateManifest,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Result<HashMap<Vec<u8>, Vec<u8>>, StateError> {
        Self::check_operator_name(operator)?;
        let mut state: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for seg in &manifest.segments {
            self.for_each_entry(operator, seg, |key, value| match value {
                Some(value) => {
                    if keep(key) {
                        state.insert(key.to_vec(), value.to_vec());
                    }
                }
                None => {
                    state.remove(key);
                }
            })?;
        }
        Ok(state)
    }

    /// Merges all segments of `manifest` into one base segment, sorted by
    /// key and without deletes, named for the newest segment's epoch and
    /// `execution` (`base-{epoch:020}-x{execution}.tcst`), written
    /// atomically like a segment. Returns its reference (`base: true`).
    ///
    /// Runs on the coordinator's background thread; it reads only the
    /// manifest's files, which the snapshot they came from keeps alive.
    pub fn compact(
        &self,
        operator: &str,
        manifest: &StateManifest,
        execution: u64,
    ) -> Result<SegmentRef, StateError> {
        let epoch = manifest
            .segments
            .iter()
            .map(|s| s.epoch)
            .max()
            .ok_or_else(|| StateError::EmptyManifest {
                operator: operator.to_owned(),
            })?;
        // A base is sorted and has no deletes: the changes after it (a
        // small share of it, as the coordinator compacts) are sorted and
        // merged into the base as it streams past.
        let (base, changes) = match manifest.segments.split_first() {
            Some((first, rest)) if first.base => (Some(first), rest),
            _ => (None, &manifest.segments[..]),
        };
        // The changes, in place in their files: sorted by key, stably (a
        // key's changes stay in segment order), then the last of each key.
        let files = changes
            .iter()
            .map(|seg| self.read_checked(operator, seg))
            .collect::<Result<Vec<_>, _>>()?;
        let mut folded: Vec<(&[u8], Option<&[u8]>)> =
            Vec::with_capacity(changes.iter().map(|s| s.entries as usize).sum());
        for (seg, file) in changes.iter().zip(&files) {
            self.decode_entries(operator, seg, file, |k, v| folded.push((k, v)))?;
        }
        folded.sort_by(|a, b| a.0.cmp(b.0));
        // A key's later change replaces the kept one's value, in place.
        folded.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        // The base's bytes less its header are about the payload's size.
        let capacity = base.map_or(0, |b| b.bytes as usize)
            + folded
                .iter()
                .map(|&(k, v)| SegmentBuf::entry_len(k, v))
                .sum::<usize>();
        let mut merged = SegmentBuf::with_capacity(capacity);
        let mut pending = folded.into_iter().peekable();
        let mut out_of_order = false;
        if let Some(base) = base {
            let file = self.read_checked(operator, base)?;
            let mut previous: Option<&[u8]> = None;
            self.decode_entries(operator, base, &file, |key, value| {
                if previous.is_some_and(|p| p >= key) {
                    out_of_order = true;
                }
                previous = Some(key);
                // Changed keys before this one, then this one as changed.
                while let Some((k, _)) = pending.peek() {
                    if *k > key {
                        break;
                    }
                    if let Some((k, v)) = pending.next() {
                        if v.is_some() {
                            merged.push(k, v);
                        }
                        if k == key {
                            return;
                        }
                    }
                }
                if let Some(v) = value {
                    merged.push(key, Some(v));
                }
            })?;
        }
        for (k, v) in pending {
            if v.is_some() {
                merged.push(k, v);
            }
        }
        if let (true, Some(base)) = (out_of_order, base) {
            return Err(StateError::Decode {
                operator: operator.to_owned(),
                path: self.operator_dir(operator)?.join(&base.file),
                reason: "a base segment's keys are not in order".to_owned(),
            });
        }
        let file = base_file_name(epoch, execution);
        self.write_file(operator, file, epoch, true, merged)
    }

    /// The name [`StateDir::compact`] gives the base of `manifest` (to
    /// protect it from [`StateDir::collect_garbage`] while it is written).
    pub fn base_name_for(manifest: &StateManifest, execution: u64) -> Option<String> {
        let epoch = manifest.segments.iter().map(|s| s.epoch).max()?;
        Some(base_file_name(epoch, execution))
    }

    /// Deletes the files under `state/<operator>/`, for every operator
    /// directory present, that no manifest of `referenced` (the state maps
    /// of the snapshots that remain) names, whose epoch (from the file
    /// name) is `<= up_to`, and that are not named in `protect`; also
    /// deletes temp files of writes whose epoch is `<= up_to` (the writer
    /// crashed), unless their final name is protected. Files and
    /// directories whose names it cannot parse are left alone. Returns how
    /// many files were deleted.
    ///
    /// Call it after the snapshot of `up_to` is durable: every segment of
    /// an epoch `<= up_to` is then either in that snapshot or garbage.
    pub fn collect_garbage(
        &self,
        referenced: &[&BTreeMap<String, StateManifest>],
        up_to: u64,
        protect: &[String],
    ) -> Result<usize, StateError> {
        let operators = self
            .storage
            .list(STATE_DIR_NAME)
            .map_err(|e| Self::storage_err("", "read directory", e))?
            .dirs;
        let kept: HashSet<(&str, &str)> = referenced
            .iter()
            .flat_map(|map| map.iter())
            .flat_map(|(op, m)| {
                m.segments
                    .iter()
                    .map(move |s| (op.as_str(), s.file.as_str()))
            })
            .collect();
        let protected: HashSet<&str> = protect.iter().map(String::as_str).collect();
        let mut deleted = 0;
        for operator in operators {
            if Self::check_operator_name(&operator).is_err() {
                continue;
            }
            let files = self
                .storage
                .list(&format!("{STATE_DIR_NAME}/{operator}"))
                .map_err(|e| Self::storage_err(&operator, "read directory", e))?
                .files;
            for (name, _) in files {
                let (target, temp) = match temp_target(&name) {
                    Some(target) => (target, true),
                    None => (name.as_str(), false),
                };
                let Some(parsed) = parse_file_name(target) else {
                    continue;
                };
                if parsed.epoch > up_to
                    || protected.contains(target)
                    || (!temp && kept.contains(&(operator.as_str(), target)))
                {
                    continue;
                }
                let object = Self::object(&operator, &name);
                self.storage
                    .delete(&object)
                    .map_err(|e| Self::storage_err(&operator, "delete", e))?;
                deleted += 1;
                tracing::debug!(operator = %operator, file = %self.storage.location(&object).display(), "unreferenced state file deleted");
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests;
