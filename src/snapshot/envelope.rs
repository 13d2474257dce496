//! The versioned, checksummed envelope around a snapshot's bincode payload.
//!
//! See the [module documentation](super) for the byte layout.

use std::path::Path;

use bincode::Options;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Snapshot, SnapshotError};
use crate::config::Properties;
use crate::data::{OffsetValue, Offsets};

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TCSNAPSH";

/// The format version this build writes, and the newest it reads.
/// Version 1 (no operator state) is still read, as a snapshot with an
/// empty [`Snapshot::state`].
pub const FORMAT_VERSION: u32 = 2;

/// Length of the header in front of the payload: magic (8), version (4),
/// payload length (8), CRC32 (4).
pub const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// The bincode configuration of format versions 1 and 2: fixed-width little-endian
/// integers, no trailing bytes, and (when decoding) no allocation beyond the
/// payload's own length.
fn payload_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Encodes `snap` as a complete snapshot file: header followed by payload.
pub(super) fn encode(snap: &Snapshot) -> Result<Vec<u8>, SnapshotError> {
    let payload = payload_options()
        .serialize(snap)
        .map_err(|source| SnapshotError::Encode {
            epoch: snap.epoch,
            source,
        })?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a complete snapshot file; `path` names it in errors.
///
/// Checks, in order: magic, version, length (truncation or trailing bytes),
/// checksum, payload.
pub(super) fn decode(bytes: &[u8], path: &Path) -> Result<Snapshot, SnapshotError> {
    let actual = bytes.len() as u64;
    let truncated = |expected: u64| SnapshotError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual,
    };

    let magic_len = MAGIC.len().min(bytes.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(SnapshotError::BadMagic {
            path: path.to_path_buf(),
            found: bytes[..magic_len].to_vec(),
        });
    }
    let (version, rest) =
        split_u32(&bytes[magic_len..]).ok_or_else(|| truncated(HEADER_LEN as u64))?;
    if version == 0 || version > FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    let (payload_len, rest) = split_u64(rest).ok_or_else(|| truncated(HEADER_LEN as u64))?;
    let (stored_crc, payload) = split_u32(rest).ok_or_else(|| truncated(HEADER_LEN as u64))?;

    let expected = (HEADER_LEN as u64).saturating_add(payload_len);
    if actual < expected {
        return Err(truncated(expected));
    }
    if actual > expected {
        return Err(SnapshotError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }

    let computed = crc32fast::hash(payload);
    if computed != stored_crc {
        return Err(SnapshotError::ChecksumMismatch {
            path: path.to_path_buf(),
            stored: stored_crc,
            computed,
        });
    }

    let payload_err = |source| SnapshotError::Payload {
        path: path.to_path_buf(),
        source,
    };
    let options = payload_options().with_limit(payload_len);
    if version == 1 {
        let v1: SnapshotV1 = options.deserialize(payload).map_err(payload_err)?;
        return Ok(v1.into());
    }
    options.deserialize(payload).map_err(payload_err)
}

/// A snapshot's payload in format version 1: [`Snapshot`] before operator
/// state, field for field in the same order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct SnapshotV1 {
    epoch: u64,
    execution: u64,
    workers: usize,
    connector: String,
    config: Properties,
    offsets: Offsets,
    sinks: BTreeMap<String, OffsetValue>,
    created_ms: u64,
}

impl From<SnapshotV1> for Snapshot {
    fn from(v1: SnapshotV1) -> Snapshot {
        Snapshot {
            epoch: v1.epoch,
            execution: v1.execution,
            workers: v1.workers,
            connector: v1.connector,
            config: v1.config,
            offsets: v1.offsets,
            sinks: v1.sinks,
            created_ms: v1.created_ms,
            state: BTreeMap::new(),
        }
    }
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

fn split_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sample() -> Snapshot {
        Snapshot {
            epoch: 3,
            ..Snapshot::default()
        }
    }

    fn path() -> PathBuf {
        PathBuf::from("snapshot-00000000000000000003.tcs")
    }

    #[test]
    fn header_layout_is_as_documented() {
        let bytes = encode(&sample()).unwrap();
        assert_eq!(&bytes[..8], b"TCSNAPSH");
        assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        assert_eq!(len as usize, bytes.len() - HEADER_LEN);
        let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&bytes[HEADER_LEN..]));
        assert_eq!(decode(&bytes, &path()).unwrap(), sample());
    }

    #[test]
    fn newer_version_is_a_clear_error() {
        let mut bytes = encode(&sample()).unwrap();
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        let err = decode(&bytes, &path()).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::UnsupportedVersion { version: 3, .. }
        ));
        assert!(err.to_string().contains("newer timely-connect"), "{err}");
    }

    #[test]
    fn version_1_files_decode_with_empty_state() {
        use crate::data::{SourceOffset, SourcePartition};
        let mut v1 = SnapshotV1 {
            epoch: 9,
            execution: 2,
            workers: 3,
            connector: "files".into(),
            created_ms: 1_700_000_000_000,
            ..SnapshotV1::default()
        };
        v1.config.insert("file".into(), "in.txt".into());
        v1.offsets.insert(
            SourcePartition::single("filename", "in.txt"),
            SourceOffset::int(&SourceOffset::key("position"), 42),
        );
        v1.sinks.insert("out".into(), OffsetValue::Int(7));
        // A version-1 file exactly as a version-1 build wrote it.
        let payload = payload_options().serialize(&v1).unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);

        let snap = decode(&bytes, &path()).unwrap();
        assert!(snap.state.is_empty());
        assert_eq!(snap, Snapshot::from(v1.clone()));
        assert_eq!(
            (
                snap.epoch,
                snap.connector.as_str(),
                snap.sinks["out"].clone()
            ),
            (9, "files", OffsetValue::Int(7))
        );
        // Written again, it is a version-2 file with the same content.
        let again = encode(&snap).unwrap();
        assert_eq!(&again[8..12], &2u32.to_le_bytes());
        assert_eq!(decode(&again, &path()).unwrap(), snap);
    }

    #[test]
    fn state_manifests_round_trip() {
        use crate::state::{SegmentRef, StateManifest};
        let mut snap = sample();
        snap.state.insert(
            "rows".into(),
            StateManifest {
                segments: vec![SegmentRef {
                    file: "seg-00000000000000000003-x1-w0.tcst".into(),
                    epoch: 3,
                    entries: 2,
                    bytes: 60,
                    crc: 0xdead_beef,
                    base: false,
                }],
            },
        );
        let bytes = encode(&snap).unwrap();
        assert_eq!(decode(&bytes, &path()).unwrap(), snap);
    }

    #[test]
    fn bad_magic_truncation_and_trailing_bytes_are_detected() {
        let bytes = encode(&sample()).unwrap();
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert!(matches!(
            decode(&wrong, &path()),
            Err(SnapshotError::BadMagic { .. })
        ));
        for cut in [0, 5, 8, 15, HEADER_LEN, bytes.len() - 1] {
            let err = decode(&bytes[..cut], &path()).unwrap_err();
            assert!(
                matches!(err, SnapshotError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &path()),
            Err(SnapshotError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn every_flipped_payload_byte_is_a_checksum_error() {
        let bytes = encode(&sample()).unwrap();
        for i in HEADER_LEN..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x01;
            let err = decode(&flipped, &path()).unwrap_err();
            assert!(
                matches!(err, SnapshotError::ChecksumMismatch { .. }),
                "byte {i}: {err}"
            );
        }
    }
}
