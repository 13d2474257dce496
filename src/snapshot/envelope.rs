//! The versioned, checksummed envelope around a snapshot's bincode payload.
//!
//! See the [module documentation](super) for the byte layout.

use std::path::Path;

use bincode::Options;

use super::{Snapshot, SnapshotError};

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TCSNAPSH";

/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Length of the header in front of the payload: magic (8), version (4),
/// payload length (8), CRC32 (4).
pub const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// The bincode configuration of format version 1: fixed-width little-endian
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

    payload_options()
        .with_limit(payload_len)
        .deserialize(payload)
        .map_err(|source| SnapshotError::Payload {
            path: path.to_path_buf(),
            source,
        })
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
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        assert_eq!(len as usize, bytes.len() - HEADER_LEN);
        let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&bytes[HEADER_LEN..]));
        assert_eq!(decode(&bytes, &path()).unwrap(), sample());
    }

    #[test]
    fn newer_version_is_a_clear_error() {
        let mut bytes = encode(&sample()).unwrap();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        let err = decode(&bytes, &path()).unwrap_err();
        assert!(matches!(
            err,
            SnapshotError::UnsupportedVersion { version: 2, .. }
        ));
        assert!(err.to_string().contains("newer timely-connect"), "{err}");
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
