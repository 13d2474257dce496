//! The directory of snapshot files: atomic writes, retention, and restore.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Snapshot, SnapshotError};
use crate::storage::{Location, Storage, StorageError};

const NAME_PREFIX: &str = "snapshot-";
const NAME_SUFFIX: &str = ".tcs";
const EPOCH_DIGITS: usize = 20;
const TEMP_PREFIX: &str = ".snapshot-";
const TEMP_SUFFIX: &str = ".tmp";

/// The largest epoch a snapshot may have. Epochs far below `u64::MAX`
/// leave room for a job to keep counting (a snapshot every millisecond
/// reaches it after tens of millions of years); a file whose name claims
/// more is skipped as damaged.
pub const MAX_EPOCH: u64 = 1 << 60;

/// The largest snapshot file restore reads (256 MiB); a larger file is
/// skipped as damaged before anything is read.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// The file name of the snapshot of `epoch`: `snapshot-{epoch:020}.tcs`.
pub fn snapshot_file_name(epoch: u64) -> String {
    format!("{NAME_PREFIX}{epoch:0EPOCH_DIGITS$}{NAME_SUFFIX}")
}

/// The epoch named by a snapshot file name, or `None` for any other name.
fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != EPOCH_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// One snapshot file in a store, as [`SnapshotStore::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The epoch in the file name.
    pub epoch: u64,
    /// The file.
    pub path: PathBuf,
    /// The file's size in bytes.
    pub size: u64,
    /// Why the file cannot be restored from, or `None` if it can.
    pub problem: Option<String>,
}

impl SnapshotEntry {
    /// True if the file decodes and checks out.
    pub fn is_valid(&self) -> bool {
        self.problem.is_none()
    }
}

/// The result of [`SnapshotStore::load_latest`]: the snapshot to restore
/// from and the newer files that were skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    /// The newest snapshot that checks out.
    pub snapshot: Snapshot,
    /// The file it was read from.
    pub path: PathBuf,
    /// Newer snapshot files that were corrupt or truncated, newest first,
    /// each with the reason (a full error message that names the file).
    pub skipped: Vec<(PathBuf, String)>,
}

/// A directory (or an object-store prefix) of snapshot files, one per epoch.
///
/// Snapshots are written atomically and never overwritten; after each write
/// only the `retain` newest files are kept. Restoring takes the newest file
/// that checks out and reports every newer one it had to skip. Files in the
/// directory that are not snapshots are ignored.
///
/// A directory must have one writer at a time (the checkpoint coordinator);
/// any number of readers may look at it meanwhile. The files live in a
/// [`Storage`]: a local directory ([`SnapshotStore::open`]) or an
/// S3-compatible bucket ([`SnapshotStore::open_location`] with an `s3://`
/// location), with the same guarantees.
///
/// ```
/// use timely_connect::data::{SourceOffset, SourcePartition};
/// use timely_connect::snapshot::{Snapshot, SnapshotStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = SnapshotStore::open(dir.path(), 3)?;
///
/// let mut snap = Snapshot { epoch: 7, connector: "file-source".into(), ..Snapshot::default() };
/// snap.offsets.insert(
///     SourcePartition::single("filename", "/tmp/in.txt"),
///     SourceOffset::int(&SourceOffset::key("position"), 1024),
/// );
/// let path = store.write(&snap)?;
/// assert!(path.ends_with("snapshot-00000000000000000007.tcs"));
///
/// let restored = store.load_latest()?.expect("one snapshot was written");
/// assert_eq!(restored.snapshot, snap);
/// assert!(restored.skipped.is_empty());
///
/// // A restored job continues at the next epoch.
/// assert_eq!(store.max_epoch_on_disk()?, Some(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    storage: Arc<dyn Storage>,
    retain: usize,
}

impl SnapshotStore {
    /// Opens (creating it if needed) the directory `dir`, keeping the
    /// `retain` newest snapshots after each write. `retain` must be at
    /// least 1.
    pub fn open(dir: &Path, retain: usize) -> Result<Self, SnapshotError> {
        Self::open_location(
            &Location::Local(dir.to_path_buf()),
            retain,
            &BTreeMap::new(),
        )
    }

    /// Opens the store at `location` (a directory, created if needed, or an
    /// `s3://bucket/prefix`, configured by `options` — the job's
    /// `snapshot.s3.*` properties — over the `AWS_*` environment).
    pub fn open_location(
        location: &Location,
        retain: usize,
        options: &BTreeMap<String, String>,
    ) -> Result<Self, SnapshotError> {
        if retain == 0 {
            return Err(SnapshotError::InvalidRetain {
                dir: PathBuf::from(location.to_string()),
            });
        }
        let storage = location.open(options).map_err(from_storage)?;
        Ok(SnapshotStore { storage, retain })
    }

    /// Opens an existing directory for reading (`snapshots list`, `show`):
    /// a missing directory is an error, and nothing is created.
    pub fn open_existing(dir: &Path) -> Result<Self, SnapshotError> {
        Self::open_existing_location(&Location::Local(dir.to_path_buf()), &BTreeMap::new())
    }

    /// [`SnapshotStore::open_existing`] for any location.
    pub fn open_existing_location(
        location: &Location,
        options: &BTreeMap<String, String>,
    ) -> Result<Self, SnapshotError> {
        let storage = location.open_existing(options).map_err(from_storage)?;
        Ok(SnapshotStore {
            storage,
            retain: usize::MAX,
        })
    }

    /// A store on `storage` (shared with the operators' state).
    pub fn on_storage(storage: Arc<dyn Storage>, retain: usize) -> Self {
        SnapshotStore {
            storage,
            retain: retain.max(1),
        }
    }

    /// Where the files are: the directory, or the `s3://` URL of the prefix.
    pub fn dir(&self) -> &Path {
        self.storage.root()
    }

    /// The storage the files are in.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// How many snapshots are kept after a write.
    pub fn retain(&self) -> usize {
        self.retain
    }

    /// The path (or URL) the snapshot of `epoch` has (or would have).
    pub fn path_for(&self, epoch: u64) -> PathBuf {
        self.storage.location(&snapshot_file_name(epoch))
    }

    /// Writes `snap` atomically as `snapshot-{epoch:020}.tcs` and returns its
    /// path. When this returns `Ok`, the snapshot is durable.
    ///
    /// The bytes go to a temp file in the same directory, which is fsynced
    /// and then given its final name without replacing anything; then the
    /// directory is fsynced. A crash at any point leaves the earlier
    /// snapshots intact.
    ///
    /// Refuses ([`SnapshotError::AlreadyExists`]) if a file for the epoch
    /// exists, valid or not, and ([`SnapshotError::EpochNotAbove`]) if a
    /// higher epoch is on disk: epochs keep rising.
    ///
    /// Afterwards, deletes all but the `retain` newest snapshot files and
    /// any temp files a crashed write left behind. Failures there are
    /// logged, not returned: the new snapshot is already durable.
    pub fn write(&self, snap: &Snapshot) -> Result<PathBuf, SnapshotError> {
        self.write_measured(snap).map(|(path, _)| path)
    }

    /// [`SnapshotStore::write`], also returning the file's size in bytes.
    pub fn write_measured(&self, snap: &Snapshot) -> Result<(PathBuf, u64), SnapshotError> {
        let epoch = snap.epoch;
        let final_path = self.path_for(epoch);
        if epoch > MAX_EPOCH {
            return Err(SnapshotError::EpochOutOfRange {
                path: final_path,
                epoch,
                max: MAX_EPOCH,
            });
        }
        let snapshots = self.scan()?.snapshots;
        if snapshots.iter().any(|(e, _)| *e == epoch) {
            return Err(SnapshotError::AlreadyExists {
                epoch,
                path: final_path,
            });
        }
        // Files named beyond MAX_EPOCH are damaged, not a reason to stop.
        if let Some(&(max, _)) = snapshots.iter().find(|(e, _)| *e <= MAX_EPOCH) {
            if max > epoch {
                return Err(SnapshotError::EpochNotAbove {
                    epoch,
                    max,
                    dir: self.dir().to_path_buf(),
                });
            }
        }

        let bytes = snap.encode()?;
        match self.storage.create(&snapshot_file_name(epoch), &bytes) {
            Ok(()) => {}
            Err(StorageError::AlreadyExists { .. }) => {
                return Err(SnapshotError::AlreadyExists {
                    epoch,
                    path: final_path,
                })
            }
            Err(e) => return Err(from_storage(e)),
        }
        tracing::debug!(
            epoch,
            path = %final_path.display(),
            bytes = bytes.len(),
            "snapshot written"
        );

        self.prune();
        Ok((final_path, bytes.len() as u64))
    }

    /// Every snapshot file in the directory, newest first, with whether it
    /// checks out (and why not). Temp files and unrelated files are left
    /// out. Reads and verifies every file.
    pub fn list(&self) -> Result<Vec<SnapshotEntry>, SnapshotError> {
        let snapshots = self.scan()?.snapshots;
        let mut entries = Vec::with_capacity(snapshots.len());
        for (epoch, path) in snapshots {
            let entry = match self.read_snapshot_file(&path, epoch) {
                Ok(bytes) => SnapshotEntry {
                    epoch,
                    size: bytes.len() as u64,
                    problem: decode_checked(&bytes, &path, epoch)
                        .err()
                        .map(|err| err.to_string()),
                    path,
                },
                // Deleted since the directory was read (retention).
                Err(ReadError::Gone) => continue,
                Err(ReadError::Damaged(err) | ReadError::Failed(err)) => SnapshotEntry {
                    epoch,
                    size: self.storage.size(&snapshot_file_name(epoch)).unwrap_or(0),
                    problem: Some(err.to_string()),
                    path,
                },
            };
            entries.push(entry);
        }
        Ok(entries)
    }

    /// The newest snapshot that checks out, or `None` if the directory holds
    /// no snapshot files (a fresh start).
    ///
    /// Each newer file that is corrupt, truncated or of an unreadable format
    /// is skipped with a warning naming the file and the reason, and listed
    /// in [`Restored::skipped`]. If snapshot files exist but none checks out,
    /// this is an error ([`SnapshotError::NoValidSnapshot`]) rather than a
    /// silent start from scratch. A file that cannot be read at all (e.g.
    /// permission denied) is an I/O error, not a skip: falling back past a
    /// snapshot that may be fine could rewind below what sources were
    /// already told to commit.
    pub fn load_latest(&self) -> Result<Option<Restored>, SnapshotError> {
        let snapshots = self.scan()?.snapshots;
        let mut skipped = Vec::new();
        for (epoch, path) in snapshots {
            let decoded = match self.read_snapshot_file(&path, epoch) {
                Ok(bytes) => decode_checked(&bytes, &path, epoch),
                Err(ReadError::Gone) => continue,
                Err(ReadError::Damaged(err)) => Err(err),
                Err(ReadError::Failed(err)) => return Err(err),
            };
            match decoded {
                Ok(snapshot) => {
                    tracing::info!(
                        epoch,
                        path = %path.display(),
                        skipped = skipped.len(),
                        "restoring from snapshot"
                    );
                    return Ok(Some(Restored {
                        snapshot,
                        path,
                        skipped,
                    }));
                }
                Err(err) => {
                    let reason = err.to_string();
                    tracing::warn!(
                        epoch,
                        path = %path.display(),
                        reason = %reason,
                        "skipping unusable snapshot; trying an older one"
                    );
                    skipped.push((path, reason));
                }
            }
        }
        if skipped.is_empty() {
            Ok(None)
        } else {
            Err(SnapshotError::NoValidSnapshot {
                dir: self.dir().to_path_buf(),
                skipped,
            })
        }
    }

    /// The snapshot of `epoch`, which the user named: a missing or corrupt
    /// file is an error, never a fallback to another epoch.
    pub fn load_epoch(&self, epoch: u64) -> Result<Snapshot, SnapshotError> {
        let path = self.path_for(epoch);
        let bytes = self
            .read_snapshot_file(&path, epoch)
            .map_err(|err| match err {
                ReadError::Gone => SnapshotError::EpochNotFound {
                    epoch,
                    dir: self.dir().to_path_buf(),
                },
                ReadError::Damaged(err) | ReadError::Failed(err) => err,
            })?;
        decode_checked(&bytes, &path, epoch)
    }

    /// The highest epoch with a snapshot file, valid or not. A restored job
    /// starts at this plus one, so epochs keep rising and never reuse the
    /// name of a corrupt file.
    pub fn max_epoch_on_disk(&self) -> Result<Option<u64>, SnapshotError> {
        let snapshots = self.scan()?.snapshots;
        Ok(snapshots
            .iter()
            .map(|(epoch, _)| *epoch)
            .find(|epoch| *epoch <= MAX_EPOCH))
    }

    /// The epochs of the snapshot files in the directory, valid or not,
    /// newest first, without reading them (names beyond [`MAX_EPOCH`] are
    /// left out). What retention left for a restore to choose from.
    pub fn epochs(&self) -> Result<Vec<u64>, SnapshotError> {
        let snapshots = self.scan()?.snapshots;
        Ok(snapshots
            .into_iter()
            .map(|(epoch, _)| epoch)
            .filter(|epoch| *epoch <= MAX_EPOCH)
            .collect())
    }

    /// Snapshot files (newest first) and temp files in the directory.
    fn scan(&self) -> Result<Scan, SnapshotError> {
        let listing = self.storage.list("").map_err(from_storage)?;
        let mut snapshots = Vec::new();
        let mut temps = Vec::new();
        for (name, _) in listing.files {
            if let Some(epoch) = parse_snapshot_name(&name) {
                snapshots.push((epoch, self.storage.location(&name)));
            } else if is_temp_name(&name) {
                temps.push(name);
            }
        }
        snapshots.sort_unstable_by_key(|(epoch, _)| std::cmp::Reverse(*epoch));
        Ok(Scan { snapshots, temps })
    }

    /// Reads a snapshot file without trusting it: the name's epoch must be
    /// in range, and the file a regular one (never a link, a FIFO that
    /// would block, or a device) of at most [`MAX_SNAPSHOT_BYTES`].
    fn read_snapshot_file(&self, path: &Path, epoch: u64) -> Result<Vec<u8>, ReadError> {
        if epoch > MAX_EPOCH {
            return Err(ReadError::Damaged(SnapshotError::EpochOutOfRange {
                path: path.to_path_buf(),
                epoch,
                max: MAX_EPOCH,
            }));
        }
        match self
            .storage
            .read(&snapshot_file_name(epoch), MAX_SNAPSHOT_BYTES)
        {
            Ok(bytes) => Ok(bytes),
            Err(StorageError::NotFound { .. }) => Err(ReadError::Gone),
            Err(e @ (StorageError::NotRegular { .. } | StorageError::TooLarge { .. })) => {
                Err(ReadError::Damaged(from_storage(e)))
            }
            Err(e) => Err(ReadError::Failed(from_storage(e))),
        }
    }

    /// Deletes all but the `retain` newest snapshots and every temp file.
    fn prune(&self) {
        let Scan { snapshots, temps } = match self.scan() {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, "snapshot retention skipped");
                return;
            }
        };
        let in_range = snapshots.iter().filter(|(epoch, _)| *epoch <= MAX_EPOCH);
        for (epoch, path) in in_range.skip(self.retain) {
            match self.storage.delete(&snapshot_file_name(*epoch)) {
                Ok(()) => tracing::debug!(epoch, path = %path.display(), "old snapshot deleted"),
                Err(err) => tracing::warn!(
                    epoch,
                    path = %path.display(),
                    error = %err,
                    "cannot delete old snapshot"
                ),
            }
        }
        for name in temps {
            match self.storage.delete(&name) {
                Ok(()) => {
                    tracing::info!(path = %self.storage.location(&name).display(), "stale snapshot temp file deleted")
                }
                Err(err) => tracing::warn!(
                    path = %self.storage.location(&name).display(),
                    error = %err,
                    "cannot delete stale snapshot temp file"
                ),
            }
        }
    }
}

/// What [`SnapshotStore::scan`] finds in the directory.
struct Scan {
    /// Snapshot files by epoch, newest first.
    snapshots: Vec<(u64, PathBuf)>,
    /// Temp files of interrupted writes (local directories only).
    temps: Vec<String>,
}

/// Why a snapshot file's bytes could not be had.
enum ReadError {
    /// It is gone (deleted by retention since the directory was read).
    Gone,
    /// It is not something restore may read (a link, a FIFO, too large,
    /// an epoch out of range): skipped like a corrupt file.
    Damaged(SnapshotError),
    /// Reading failed (e.g. permission denied): not skipped, since the
    /// file may be a good snapshot that sources were already told to
    /// commit.
    Failed(SnapshotError),
}

/// Decodes a file's bytes and checks the payload's epoch against the name's.
fn decode_checked(bytes: &[u8], path: &Path, epoch: u64) -> Result<Snapshot, SnapshotError> {
    let snapshot = Snapshot::decode(bytes, path)?;
    if snapshot.epoch != epoch {
        return Err(SnapshotError::EpochMismatch {
            path: path.to_path_buf(),
            in_name: epoch,
            in_payload: snapshot.epoch,
        });
    }
    Ok(snapshot)
}

/// A storage error as the snapshot error that says the same.
pub(crate) fn from_storage(e: StorageError) -> SnapshotError {
    match e {
        StorageError::NotRegular { location, kind } => SnapshotError::NotRegularFile {
            path: location,
            kind,
        },
        StorageError::TooLarge {
            location,
            size,
            limit,
        } => SnapshotError::TooLarge {
            path: location,
            size,
            limit,
        },
        StorageError::Io {
            op,
            location,
            source,
        } => SnapshotError::Io {
            op,
            path: location,
            source,
        },
        StorageError::NotFound { location } => SnapshotError::Io {
            op: "read",
            path: location,
            source: io::Error::from(io::ErrorKind::NotFound),
        },
        StorageError::AlreadyExists { location } => SnapshotError::Io {
            op: "create",
            path: location,
            source: io::Error::from(io::ErrorKind::AlreadyExists),
        },
        StorageError::Config { location, reason } => SnapshotError::Io {
            op: "open",
            path: PathBuf::from(location),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::data::{OffsetValue, SourceOffset, SourcePartition};
    use crate::snapshot::HEADER_LEN;

    fn snap(epoch: u64) -> Snapshot {
        let mut s = Snapshot {
            epoch,
            execution: 2,
            workers: 4,
            connector: "local-file-source".into(),
            created_ms: 1_700_000_000_000 + epoch,
            ..Snapshot::default()
        };
        s.config
            .insert("connector.class".into(), "FileStreamSource".into());
        s.config.insert("file".into(), "/tmp/in.txt".into());
        s.offsets.insert(
            SourcePartition::single("filename", "/tmp/in.txt"),
            SourceOffset::int(&SourceOffset::key("position"), 100 * epoch as i64),
        );
        s.offsets.insert(
            SourcePartition::single("filename", "/tmp/other.txt"),
            SourceOffset::from_map(
                [
                    ("position".to_owned(), OffsetValue::Int(5)),
                    ("done".to_owned(), OffsetValue::Bool(true)),
                ]
                .into_iter()
                .collect(),
            ),
        );
        s.sinks
            .insert("file-sink".into(), OffsetValue::Int(4096 * epoch as i64));
        s
    }

    fn store(retain: usize) -> (tempfile::TempDir, SnapshotStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(&dir.path().join("snapshots"), retain).unwrap();
        (dir, store)
    }

    fn names(store: &SnapshotStore) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_then_load_latest_round_trips() {
        let (_dir, store) = store(3);
        assert_eq!(store.load_latest().unwrap(), None);
        store.write(&snap(1)).unwrap();
        let path = store.write(&snap(2)).unwrap();
        assert_eq!(path, store.path_for(2));
        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(2));
        assert_eq!(restored.path, path);
        assert!(restored.skipped.is_empty());
        assert_eq!(store.load_epoch(1).unwrap(), snap(1));
        let listed = store.list().unwrap();
        assert_eq!(
            listed.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert!(listed.iter().all(SnapshotEntry::is_valid));
        assert_eq!(listed[0].size, fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn restore_skips_truncated_snapshot() {
        let (_dir, store) = store(3);
        store.write(&snap(1)).unwrap();
        let newest = store.write(&snap(2)).unwrap();
        let len = fs::metadata(&newest).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(len - 3)
            .unwrap();

        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(1));
        assert_eq!(restored.skipped.len(), 1);
        assert_eq!(restored.skipped[0].0, newest);
        assert!(
            restored.skipped[0].1.contains("truncated"),
            "{}",
            restored.skipped[0].1
        );
        let listed = store.list().unwrap();
        assert!(!listed[0].is_valid());
        assert!(listed[1].is_valid());
    }

    #[test]
    fn restore_skips_flipped_byte() {
        let (_dir, store) = store(3);
        store.write(&snap(1)).unwrap();
        let newest = store.write(&snap(2)).unwrap();
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&newest, &bytes).unwrap();

        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(1));
        assert_eq!(restored.skipped.len(), 1);
        assert_eq!(restored.skipped[0].0, newest);
        assert!(
            restored.skipped[0].1.contains("checksum"),
            "{}",
            restored.skipped[0].1
        );
    }

    #[test]
    fn restore_with_only_corrupt_snapshots_is_an_error() {
        let (_dir, store) = store(3);
        let only = store.write(&snap(1)).unwrap();
        fs::write(&only, b"garbage").unwrap();
        let err = store.load_latest().unwrap_err();
        assert!(
            matches!(&err, SnapshotError::NoValidSnapshot { skipped, .. } if skipped.len() == 1),
            "{err}"
        );
    }

    #[test]
    fn write_refuses_to_overwrite_existing_epoch() {
        let (_dir, store) = store(3);
        let path = store.write(&snap(5)).unwrap();
        let before = fs::read(&path).unwrap();
        let mut other = snap(5);
        other.connector = "someone-else".into();
        let err = store.write(&other).unwrap_err();
        assert!(
            matches!(err, SnapshotError::AlreadyExists { epoch: 5, .. }),
            "{err}"
        );
        assert_eq!(fs::read(&path).unwrap(), before);

        // A corrupt file for the epoch is not overwritten either.
        fs::write(&path, b"corrupt").unwrap();
        assert!(matches!(
            store.write(&snap(5)),
            Err(SnapshotError::AlreadyExists { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"corrupt");

        // Nor may epochs go backwards.
        assert!(matches!(
            store.write(&snap(4)),
            Err(SnapshotError::EpochNotAbove { max: 5, .. })
        ));
        assert_eq!(names(&store), vec![snapshot_file_name(5)]);
    }

    #[test]
    fn retention_keeps_newest_n() {
        let (dir, store) = store(2);
        fs::write(store.dir().join("notes.txt"), b"unrelated").unwrap();
        for epoch in 1..=5 {
            store.write(&snap(epoch)).unwrap();
        }
        assert_eq!(
            names(&store),
            vec![
                "notes.txt".to_owned(),
                snapshot_file_name(4),
                snapshot_file_name(5)
            ]
        );
        assert_eq!(store.load_latest().unwrap().unwrap().snapshot, snap(5));
        assert_eq!(store.epochs().unwrap(), vec![5, 4]);
        assert!(SnapshotStore::open(dir.path(), 0).is_err());
    }

    #[test]
    fn stale_temp_files_are_ignored_and_cleaned() {
        let (_dir, store) = store(3);
        store.write(&snap(1)).unwrap();
        // A crash mid-write of epoch 2 leaves a half-written temp file.
        let stale = store.dir().join(format!(".snapshot-{:020}.12345.tmp", 2));
        fs::write(&stale, b"TCSNAPSH half").unwrap();

        assert_eq!(store.max_epoch_on_disk().unwrap(), Some(1));
        assert_eq!(store.list().unwrap().len(), 1);
        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(1));
        assert!(restored.skipped.is_empty());

        store.write(&snap(2)).unwrap();
        assert!(!stale.exists());
        assert_eq!(
            names(&store),
            vec![snapshot_file_name(1), snapshot_file_name(2)]
        );
    }

    #[test]
    fn named_epoch_corrupt_is_an_error() {
        let (_dir, store) = store(3);
        store.write(&snap(1)).unwrap();
        let second = store.write(&snap(2)).unwrap();
        let mut bytes = fs::read(&second).unwrap();
        bytes[HEADER_LEN + 1] ^= 0xff;
        fs::write(&second, &bytes).unwrap();

        let err = store.load_epoch(2).unwrap_err();
        assert!(
            matches!(err, SnapshotError::ChecksumMismatch { ref path, .. } if *path == second),
            "{err}"
        );
        assert!(err.to_string().contains(&snapshot_file_name(2)), "{err}");
        assert!(matches!(
            store.load_epoch(9),
            Err(SnapshotError::EpochNotFound { epoch: 9, .. })
        ));
        assert_eq!(store.load_epoch(1).unwrap(), snap(1));
    }

    #[test]
    fn max_epoch_counts_corrupt_files() {
        let (_dir, store) = store(3);
        assert_eq!(store.max_epoch_on_disk().unwrap(), None);
        store.write(&snap(3)).unwrap();
        let newest = store.write(&snap(4)).unwrap();
        fs::write(&newest, b"").unwrap();
        fs::write(store.dir().join("snapshot-7.tcs"), b"not our name form").unwrap();

        assert_eq!(store.max_epoch_on_disk().unwrap(), Some(4));
        assert_eq!(store.load_latest().unwrap().unwrap().snapshot.epoch, 3);
        // The next run starts at max + 1 and never reuses the corrupt name.
        assert!(matches!(
            store.write(&snap(4)),
            Err(SnapshotError::AlreadyExists { .. })
        ));
        store.write(&snap(5)).unwrap();
        assert_eq!(store.load_latest().unwrap().unwrap().snapshot, snap(5));
    }

    #[test]
    fn renamed_snapshot_is_detected_by_epoch_mismatch() {
        let (_dir, store) = store(3);
        let path = store.write(&snap(1)).unwrap();
        fs::rename(&path, store.path_for(2)).unwrap();
        let err = store.load_epoch(2).unwrap_err();
        assert!(
            matches!(
                err,
                SnapshotError::EpochMismatch {
                    in_name: 2,
                    in_payload: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn file_names_parse_back() {
        assert_eq!(snapshot_file_name(42), "snapshot-00000000000000000042.tcs");
        assert_eq!(parse_snapshot_name(&snapshot_file_name(42)), Some(42));
        assert_eq!(
            parse_snapshot_name(&snapshot_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_snapshot_name("snapshot-42.tcs"), None);
        assert_eq!(
            parse_snapshot_name("snapshot-99999999999999999999.tcs"),
            None
        );
        assert_eq!(
            parse_snapshot_name("snapshot-0000000000000000004x.tcs"),
            None
        );
    }

    /// Restores from `store` with the newest file replaced by `make`, and
    /// checks that the previous good snapshot is used and the bad file is
    /// reported by path with `says` in the reason.
    fn newest_is_skipped(make: impl FnOnce(&Path), says: &str) {
        let (_dir, store) = store(3);
        store.write(&snap(1)).unwrap();
        let newest = store.path_for(2);
        make(&newest);
        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(1));
        assert_eq!(restored.skipped.len(), 1, "{:?}", restored.skipped);
        assert_eq!(restored.skipped[0].0, newest);
        let reason = &restored.skipped[0].1;
        assert!(reason.contains(says), "{reason}");
        assert!(reason.contains(&newest.display().to_string()), "{reason}");
        let listed = store.list().unwrap();
        assert!(listed[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains(says)));
        // The store goes on: the next snapshot is written above both.
        store.write(&snap(3)).unwrap();
        assert_eq!(store.load_latest().unwrap().unwrap().snapshot, snap(3));
    }

    #[cfg(unix)]
    #[test]
    fn restore_skips_a_symlinked_snapshot_without_following_it() {
        newest_is_skipped(
            |path| {
                let target = path.with_file_name("elsewhere.bin");
                fs::write(&target, snap(2).encode().unwrap()).unwrap();
                std::os::unix::fs::symlink(&target, path).unwrap();
            },
            "symbolic link",
        );
    }

    #[cfg(unix)]
    #[test]
    fn restore_skips_a_fifo_instead_of_hanging() {
        newest_is_skipped(
            |path| {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            },
            "FIFO",
        );
    }

    #[test]
    fn restore_skips_an_oversized_file_without_reading_it() {
        newest_is_skipped(
            |path| {
                // Sparse: nothing is written, the size alone is over the limit.
                let f = fs::File::create(path).unwrap();
                f.set_len(MAX_SNAPSHOT_BYTES + 1).unwrap();
            },
            "more than the limit",
        );
    }

    #[test]
    fn epochs_near_u64_max_are_damaged_not_fatal() {
        let (_dir, store) = store(2);
        store.write(&snap(1)).unwrap();
        let mut huge = snap(1);
        for epoch in [u64::MAX, u64::MAX - 1, MAX_EPOCH + 1] {
            huge.epoch = epoch;
            fs::write(store.path_for(epoch), huge.encode().unwrap()).unwrap();
        }
        // Restore uses the good snapshot; the job continues above it, not
        // above the crafted names (which would overflow).
        let restored = store.load_latest().unwrap().unwrap();
        assert_eq!(restored.snapshot, snap(1));
        assert_eq!(restored.skipped.len(), 3);
        assert!(restored.skipped[0].1.contains("beyond the largest epoch"));
        assert_eq!(store.max_epoch_on_disk().unwrap(), Some(1));
        store.write(&snap(2)).unwrap();
        store.write(&snap(3)).unwrap();
        // Retention counts only real snapshots: 2 and 3 are kept.
        assert_eq!(store.load_latest().unwrap().unwrap().snapshot, snap(3));
        assert!(store.path_for(2).exists());
        assert!(matches!(
            store.write(&huge),
            Err(SnapshotError::EpochOutOfRange { .. })
        ));
        assert!(store.load_epoch(u64::MAX).is_err());
    }
}
