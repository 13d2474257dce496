//! Offsets management as Kafka's KIP-875 has it: alter or reset a stopped
//! job's source offsets by writing a new snapshot generation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Properties;
use crate::data::{Offsets, SourceOffset, SourcePartition};
use crate::storage::Location;

use super::{DirLock, LockError, Snapshot, SnapshotError, SnapshotStore};

/// What to do to a job's source offsets.
#[derive(Clone, Debug)]
pub enum OffsetChange {
    /// Set the given partitions' offsets; `None` removes a partition's
    /// offset (its source starts over for it). Other partitions keep theirs.
    Alter(Vec<(SourcePartition, Option<SourceOffset>)>),
    /// Remove every source offset: the connector starts from scratch.
    Reset,
}

/// The connector a new snapshot is for, when the directory has none yet.
#[derive(Clone, Debug)]
pub struct Owner {
    /// The connector's `name`.
    pub connector: String,
    /// Its properties, secrets hidden (as snapshots store them).
    pub config: Properties,
}

/// What [`change_offsets`] wrote.
#[derive(Clone, Debug)]
pub struct Changed {
    /// The new snapshot's epoch.
    pub epoch: u64,
    /// Its file.
    pub path: PathBuf,
    /// The snapshot it was derived from, if any.
    pub from_epoch: Option<u64>,
    /// Source offsets in the new snapshot.
    pub offsets: usize,
}

/// Why offsets could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The job runs (it holds the directory's lock).
    #[error("{0}; offsets can only be changed while the job is stopped")]
    Running(#[from] LockError),
    /// The snapshot store failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The directory holds another connector's snapshots.
    #[error(
        "{} holds snapshots of connector `{stored}`, not `{given}`",
        dir.display()
    )]
    OtherConnector {
        /// The directory.
        dir: PathBuf,
        /// The connector in the newest snapshot.
        stored: String,
        /// The connector named by the caller.
        given: String,
    },
    /// No snapshot to change, and no connector to make one for.
    #[error("{} holds no snapshot; name the connector (its .properties file) to create one", dir.display())]
    NoSnapshot {
        /// The directory.
        dir: PathBuf,
    },
}

/// Applies `change` to the newest valid snapshot in `dir` (or to an empty
/// one for `owner`) and writes the result as a new snapshot generation at
/// the next epoch, atomically, keeping the sink positions and the
/// operators' state (its segment files are shared, not copied). Holds the
/// directory's lock meanwhile, so it is refused while the job runs.
///
/// ```
/// use timely_connect::data::{SourceOffset, SourcePartition};
/// use timely_connect::snapshot::{change_offsets, OffsetChange, Owner, SnapshotStore};
///
/// let dir = tempfile::tempdir()?;
/// let owner = Owner { connector: "files".into(), config: Default::default() };
/// let partition = SourcePartition::single("filename", "in.txt");
/// let offset = SourceOffset::int(&SourceOffset::key("position"), 6);
/// let changed = change_offsets(
///     dir.path(),
///     Some(&owner),
///     OffsetChange::Alter(vec![(partition.clone(), Some(offset.clone()))]),
/// )?;
/// assert_eq!(changed.epoch, 0);
/// let store = SnapshotStore::open_existing(dir.path())?;
/// assert_eq!(store.load_latest()?.unwrap().snapshot.offsets[&partition], offset);
///
/// let reset = change_offsets(dir.path(), None, OffsetChange::Reset)?;
/// assert_eq!((reset.epoch, reset.offsets), (1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn change_offsets(
    dir: &Path,
    owner: Option<&Owner>,
    change: OffsetChange,
) -> Result<Changed, ManageError> {
    change_offsets_at(
        &Location::Local(dir.to_path_buf()),
        &BTreeMap::new(),
        owner,
        change,
    )
}

/// [`change_offsets`] at any snapshot location; `options` are the
/// `snapshot.s3.*` properties of an `s3://` one. A local directory is
/// locked meanwhile, as a running job locks it; an object-store prefix
/// has no lock, so stop the job first (as Kafka Connect requires a
/// stopped connector for its offsets API).
pub fn change_offsets_at(
    location: &Location,
    options: &BTreeMap<String, String>,
    owner: Option<&Owner>,
    change: OffsetChange,
) -> Result<Changed, ManageError> {
    let _lock = location.as_local().map(DirLock::acquire).transpose()?;
    // Retention is the job's business; keep everything here.
    let store = SnapshotStore::open_location(location, usize::MAX, options)?;
    let dir = store.dir().to_path_buf();
    let dir = dir.as_path();
    let base = store.load_latest()?;
    let from_epoch = base.as_ref().map(|r| r.snapshot.epoch);
    let mut snapshot = match (base, owner) {
        (Some(restored), Some(owner)) if restored.snapshot.connector != owner.connector => {
            return Err(ManageError::OtherConnector {
                dir: dir.to_path_buf(),
                stored: restored.snapshot.connector,
                given: owner.connector.clone(),
            })
        }
        (Some(restored), _) => restored.snapshot,
        (None, Some(owner)) => Snapshot {
            connector: owner.connector.clone(),
            config: owner.config.clone(),
            execution: 0,
            workers: 1,
            ..Snapshot::default()
        },
        (None, None) => {
            return Err(ManageError::NoSnapshot {
                dir: dir.to_path_buf(),
            })
        }
    };
    match change {
        OffsetChange::Reset => snapshot.offsets = Offsets::new(),
        OffsetChange::Alter(changes) => {
            for (partition, offset) in changes {
                match offset {
                    Some(offset) => {
                        snapshot.offsets.insert(partition, offset);
                    }
                    None => {
                        snapshot.offsets.remove(&partition);
                    }
                }
            }
        }
    }
    snapshot.epoch = store.max_epoch_on_disk()?.map_or(0, |e| e + 1);
    snapshot.created_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let path = store.write(&snapshot)?;
    tracing::info!(epoch = snapshot.epoch, file = %path.display(), offsets = snapshot.offsets.len(), "offsets changed");
    Ok(Changed {
        epoch: snapshot.epoch,
        path,
        from_epoch,
        offsets: snapshot.offsets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            connector: "files".into(),
            config: Properties::new(),
        }
    }

    fn partition(name: &str) -> SourcePartition {
        SourcePartition::single("filename", name)
    }

    fn position(p: i64) -> SourceOffset {
        SourceOffset::int(&SourceOffset::key("position"), p)
    }

    #[test]
    fn alter_sets_and_removes_partitions_and_keeps_the_rest_and_the_sinks() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 3).unwrap();
        let mut base = Snapshot {
            epoch: 4,
            execution: 2,
            connector: "files".into(),
            ..Snapshot::default()
        };
        base.offsets.insert(partition("a"), position(10));
        base.offsets.insert(partition("b"), position(20));
        base.offsets.insert(partition("c"), position(30));
        base.sinks
            .insert("output".into(), crate::data::OffsetValue::Int(99));
        base.state.insert(
            "rows".into(),
            crate::state::StateManifest {
                segments: vec![crate::state::SegmentRef {
                    file: "base-00000000000000000004-x2.tcst".into(),
                    epoch: 4,
                    entries: 10,
                    bytes: 300,
                    crc: 7,
                    base: true,
                }],
            },
        );
        store.write(&base).unwrap();

        let changed = change_offsets(
            dir.path(),
            Some(&owner()),
            OffsetChange::Alter(vec![
                (partition("a"), Some(position(1))),
                (partition("b"), None),
                (partition("d"), Some(position(4))),
            ]),
        )
        .unwrap();
        assert_eq!((changed.epoch, changed.from_epoch), (5, Some(4)));
        let now = store.load_latest().unwrap().unwrap().snapshot;
        assert_eq!(now.offsets[&partition("a")], position(1));
        assert!(!now.offsets.contains_key(&partition("b")));
        assert_eq!(now.offsets[&partition("c")], position(30));
        assert_eq!(now.offsets[&partition("d")], position(4));
        assert_eq!(now.sinks, base.sinks);
        assert_eq!(now.state, base.state, "operator state kept");
        assert_eq!(now.execution, 2);
        // The previous generation is still there, untouched.
        assert_eq!(store.load_epoch(4).unwrap(), base);
    }

    #[test]
    fn changes_are_refused_while_the_job_holds_the_lock_or_for_another_connector() {
        let dir = tempfile::tempdir().unwrap();
        change_offsets(dir.path(), Some(&owner()), OffsetChange::Reset).unwrap();
        let running = DirLock::acquire(dir.path()).unwrap();
        let err = change_offsets(dir.path(), None, OffsetChange::Reset).unwrap_err();
        assert!(matches!(err, ManageError::Running(_)), "{err}");
        assert!(err.to_string().contains("while the job is stopped"));
        drop(running);
        let other = Owner {
            connector: "other".into(),
            config: Properties::new(),
        };
        let err = change_offsets(dir.path(), Some(&other), OffsetChange::Reset).unwrap_err();
        assert!(err.to_string().contains("not `other`"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = change_offsets(empty.path(), None, OffsetChange::Reset).unwrap_err();
        assert!(matches!(err, ManageError::NoSnapshot { .. }));
    }
}
