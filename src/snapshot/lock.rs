//! Exclusive locks on what a job writes: its snapshot directory and its
//! output files.
//!
//! Two jobs that write the same snapshot directory or the same output file
//! corrupt each other silently, so a job takes an OS file lock (`flock`) on
//! each and holds it for its life. The kernel releases the lock when the
//! process ends, however it ends: a job killed with SIGKILL never blocks
//! its own restart. A second job fails at once with an error that names
//! the holder's pid.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The lock file a job keeps in its snapshot directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or another part of this job) holds the lock.
    #[error(
        "{what} {} is in use by {}; stop that job first or choose another {what}",
        path.display(),
        holder_text(*holder)
    )]
    Held {
        /// What the path is ("snapshot directory", "output file").
        what: &'static str,
        /// The locked path.
        path: PathBuf,
        /// The holder's pid, when the system tells it.
        holder: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("{what} {}: cannot lock: {source}", path.display())]
    Io {
        /// What the path is.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) if pid == std::process::id() => {
            format!("this job already (pid {pid}): two of its outputs name the same file")
        }
        Some(pid) => format!("another job (pid {pid})"),
        None => "another job (pid unknown)".to_owned(),
    }
}

/// An exclusive lock held until it is dropped (or the process ends).
///
/// ```
/// use timely_connect::snapshot::{DirLock, LockError};
///
/// let dir = tempfile::tempdir()?;
/// let held = DirLock::acquire(dir.path())?;
/// // A second holder is refused while the first lives, naming its pid.
/// match DirLock::acquire(dir.path()) {
///     Err(LockError::Held { holder, .. }) => assert_eq!(holder, Some(std::process::id())),
///     other => panic!("expected a held lock, got {other:?}"),
/// }
/// drop(held);
/// DirLock::acquire(dir.path())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Locks the snapshot directory `dir` (creating it if needed) through
    /// its [`LOCK_FILE_NAME`] file, and writes this process's pid into it.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let what = "snapshot directory";
        let io_error = |source| LockError::Io {
            what,
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_error)?;
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match lock_exclusive(&file, dir, what) {
            // The kernel's lock table is not readable everywhere (some
            // containers hide or translate it); the holder wrote its pid
            // into the lock file, so name it from there.
            Err(LockError::Held {
                what,
                path,
                holder: None,
            }) => {
                let holder = fs::read_to_string(dir.join(LOCK_FILE_NAME))
                    .ok()
                    .and_then(|text| text.trim().parse::<u32>().ok());
                return Err(LockError::Held { what, path, holder });
            }
            other => other?,
        }
        // Informational: the kernel's lock table is what counts.
        let pid = format!("{}\n", std::process::id());
        let written = file
            .set_len(0)
            .and_then(|()| file.write_all(pid.as_bytes()))
            .and_then(|()| file.flush());
        if let Err(err) = written {
            tracing::debug!(path = %path.display(), error = %err, "cannot record the pid in the lock file");
        }
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes an exclusive lock on an open file (an output file the job
/// writes), held as long as `file` (or a handle cloned from it) is open.
/// `path` and `what` name it in the error.
pub fn lock_exclusive(file: &File, path: &Path, what: &'static str) -> Result<(), LockError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(LockError::Held {
            what,
            path: path.to_path_buf(),
            holder: lock_holder(file),
        }),
        Err(TryLockError::Error(source)) => Err(LockError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The pid holding a `flock` on `file`, from the kernel's lock table
/// (`/proc/locks`, Linux). `None` where the table is not available.
#[cfg(target_os = "linux")]
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let inode = meta.ino();
    // The table is read a page at a time, and locks taken or released
    // between pages can make a line slip past: look again before giving up.
    (0..3).find_map(|_| {
        let locks = fs::read_to_string("/proc/locks").ok()?;
        holder_in_table(&locks, inode)
    })
}

/// The pid of the `flock` on inode `inode` in the text of `/proc/locks`.
#[cfg(target_os = "linux")]
fn holder_in_table(locks: &str, inode: u64) -> Option<u32> {
    // "1: FLOCK  ADVISORY  WRITE 12345 fd:01:393218 0 EOF"
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let flock = fields.iter().position(|f| *f == "FLOCK")?;
        let pid = fields.get(flock + 3)?.parse::<u32>().ok()?;
        let ino = fields
            .get(flock + 4)?
            .rsplit(':')
            .next()?
            .parse::<u64>()
            .ok()?;
        (ino == inode).then_some(pid)
    })
}

#[cfg(not(target_os = "linux"))]
fn lock_holder(_file: &File) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("snapshot directory"), "{text}");
        let recorded = fs::read_to_string(first.path()).unwrap();
        assert_eq!(recorded.trim(), std::process::id().to_string());
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lock_table_lines_are_matched_by_inode() {
        let table = "1: POSIX  ADVISORY  WRITE 10 fe:00:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 11 fe:00:78 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 12 fe:00:78 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 13 fe:00:79 0 EOF\n";
        assert_eq!(holder_in_table(table, 78), Some(11));
        assert_eq!(holder_in_table(table, 79), Some(13));
        // A POSIX lock is not ours; an absent inode has no holder.
        assert_eq!(holder_in_table(table, 77), None);
        assert_eq!(holder_in_table(table, 80), None);
    }

    #[test]
    fn file_lock_names_the_file_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let a = File::create(&path).unwrap();
        lock_exclusive(&a, &path, "output file").unwrap();
        let b = OpenOptions::new().write(true).open(&path).unwrap();
        match lock_exclusive(&b, &path, "output file") {
            Err(LockError::Held { what, holder, .. }) => {
                assert_eq!(what, "output file");
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(a);
        lock_exclusive(&b, &path, "output file").unwrap();
    }
}
