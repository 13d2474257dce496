//! Where snapshots and operator state are kept: a local directory or an
//! S3-compatible object store, behind one small interface.
//!
//! A [`Storage`] holds named objects (`snapshot-….tcs`,
//! `state/<operator>/seg-….tcst`) under a root, and offers only what the
//! snapshot store and the state directory need: create an object that must
//! not exist yet, put one that may replace another, read one whole, list a
//! "directory", delete. Every write is atomic — an object is visible whole
//! or not at all — and durable when the call returns.
//!
//! - [`LocalDir`] keeps objects as files: a temp file written and fsynced,
//!   then linked (create) or renamed (put) to its name, then the directory
//!   fsynced.
//! - `S3Storage` (feature `s3`) keeps them in a bucket under a prefix,
//!   through the `object_store` crate: a single PUT is atomic on S3, and a
//!   create is a conditional PUT (`If-None-Match: *`).
//!
//! A [`Location`] names one or the other: a path, or `s3://bucket/prefix`.
//!
//! ```
//! use timely_connect::storage::{Location, Storage};
//!
//! let dir = tempfile::tempdir()?;
//! let storage = Location::from(dir.path()).open(&Default::default())?;
//! storage.create("a/b.bin", b"hello")?;
//! assert!(storage.create("a/b.bin", b"again").is_err()); // never replaced
//! assert_eq!(storage.read("a/b.bin", 1024)?, b"hello");
//! assert_eq!(storage.list("a")?.files, vec![("b.bin".to_owned(), 5)]);
//! storage.delete("a/b.bin")?;
//! assert!(storage.list("a")?.files.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod local;
#[cfg(feature = "s3")]
mod s3;

pub use local::LocalDir;
#[cfg(feature = "s3")]
pub use s3::{S3Storage, S3_OPTION_KEYS};

/// Why a storage operation failed.
///
/// Every variant names the object (its path, or its `s3://` URL).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("{} does not exist", location.display())]
    NotFound {
        /// The object.
        location: PathBuf,
    },
    /// A create found the object already there.
    #[error("{} already exists", location.display())]
    AlreadyExists {
        /// The object.
        location: PathBuf,
    },
    /// The name is a link, a FIFO, a directory, … (local directories only):
    /// never read, never followed.
    #[error("{} is {kind}, not a regular file", location.display())]
    NotRegular {
        /// The object.
        location: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The object is larger than the reader accepts.
    #[error("{} is {size} bytes, more than the {limit} bytes allowed", location.display())]
    TooLarge {
        /// The object.
        location: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The operation failed (an I/O error, or the object store's answer
    /// after its retries).
    #[error("cannot {op} {}: {source}", location.display())]
    Io {
        /// What was being done ("read", "write", "list", ...).
        op: &'static str,
        /// The object or directory.
        location: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The location or its settings are not usable.
    #[error("snapshot location {location}: {reason}")]
    Config {
        /// The location as given.
        location: String,
        /// What is wrong.
        reason: String,
    },
}

impl StorageError {
    /// The error as an [`io::Error`], its message kept whole.
    pub fn into_io(self) -> io::Error {
        match self {
            StorageError::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, self),
            StorageError::AlreadyExists { .. } => {
                io::Error::new(io::ErrorKind::AlreadyExists, self)
            }
            StorageError::Io { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}

/// What [`Storage::list`] finds directly under a "directory".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects, by their last name component, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
    /// Sub-"directories", by their last name component.
    pub dirs: Vec<String>,
}

/// A place for snapshot files and state segments: named objects under a
/// root, written atomically and durably.
///
/// Names are relative to the root, with `/` between components; a
/// component is never empty, `.` or `..`.
pub trait Storage: Send + Sync + fmt::Debug {
    /// The root, for messages: a directory path or an `s3://` URL.
    fn root(&self) -> &Path;

    /// Where the object `name` is, for messages.
    fn location(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// True for an object store reached over the network.
    fn is_remote(&self) -> bool;

    /// Writes a new object atomically and durably; fails with
    /// [`StorageError::AlreadyExists`] if `name` exists, never replacing it.
    fn create(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError>;

    /// Writes an object atomically and durably, replacing any there.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError>;

    /// Reads the object whole; [`StorageError::TooLarge`] if it is longer
    /// than `limit` bytes (nothing is read then).
    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StorageError>;

    /// The object's size in bytes.
    fn size(&self, name: &str) -> Result<u64, StorageError>;

    /// The objects and sub-"directories" directly under `dir` (`""` for the
    /// root). A missing directory lists empty.
    fn list(&self, dir: &str) -> Result<Listing, StorageError>;

    /// Deletes the object; one already gone is not an error.
    fn delete(&self, name: &str) -> Result<(), StorageError>;
}

/// Where a job keeps its snapshots: a local directory, or a bucket and
/// prefix of an S3-compatible object store (`s3://bucket/prefix`).
///
/// Built from a string or a path: one starting with `s3://` names an
/// object store, anything else a directory.
///
/// ```
/// use timely_connect::storage::Location;
///
/// assert_eq!(Location::from("snapshots/orders").to_string(), "snapshots/orders");
/// let remote = Location::from("s3://backups/jobs/orders");
/// assert!(matches!(&remote, Location::S3 { bucket, prefix } if bucket == "backups" && prefix == "jobs/orders"));
/// assert_eq!(remote.to_string(), "s3://backups/jobs/orders");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Location {
    /// A directory on this machine.
    Local(PathBuf),
    /// A prefix in an S3 bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

/// The URL scheme of an S3 location.
pub const S3_SCHEME: &str = "s3://";

impl Location {
    /// The local directory, if this is one.
    pub fn as_local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::S3 { .. } => None,
        }
    }

    /// A sub-location: `dir/child` or `s3://bucket/prefix/child`.
    pub fn join(&self, child: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(child)),
            Location::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                prefix: if prefix.is_empty() {
                    child.to_owned()
                } else {
                    format!("{prefix}/{child}")
                },
            },
        }
    }

    /// Opens the storage at this location. `options` are the job's
    /// `snapshot.s3.*` properties (see `S3_OPTION_KEYS`), which an S3
    /// location takes over the `AWS_*` environment variables; a directory
    /// ignores them and is created if missing.
    pub fn open(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Storage>, StorageError> {
        match self {
            Location::Local(dir) => Ok(Arc::new(LocalDir::create(dir)?)),
            #[cfg(feature = "s3")]
            Location::S3 { bucket, prefix } => {
                Ok(Arc::new(S3Storage::open(bucket, prefix, options)?))
            }
            #[cfg(not(feature = "s3"))]
            Location::S3 { .. } => {
                let _ = options;
                Err(StorageError::Config {
                    location: self.to_string(),
                    reason: "this build has no S3 support (the `s3` feature is off)".into(),
                })
            }
        }
    }

    /// Opens an existing location for reading: a missing directory is an
    /// error and nothing is created.
    pub fn open_existing(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Storage>, StorageError> {
        match self {
            Location::Local(dir) => Ok(Arc::new(LocalDir::existing(dir)?)),
            Location::S3 { .. } => self.open(options),
        }
    }

    fn parse(text: &str) -> Location {
        match text.strip_prefix(S3_SCHEME) {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                Location::S3 {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                }
            }
            None => Location::Local(PathBuf::from(text)),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "{S3_SCHEME}{bucket}")
            }
            Location::S3 { bucket, prefix } => write!(f, "{S3_SCHEME}{bucket}/{prefix}"),
        }
    }
}

impl From<&str> for Location {
    fn from(text: &str) -> Location {
        Location::parse(text)
    }
}

impl From<String> for Location {
    fn from(text: String) -> Location {
        Location::parse(&text)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        match path.to_str() {
            Some(text) if text.starts_with(S3_SCHEME) => Location::parse(text),
            _ => Location::Local(path.to_path_buf()),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::from(path.as_path())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Location {
        Location::from(path.as_path())
    }
}

/// Checks an object name: non-empty components separated by `/`, none of
/// them `.` or `..`.
pub(crate) fn check_name(root: &Path, name: &str) -> Result<(), StorageError> {
    let bad = name.is_empty()
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\\'));
    if bad {
        return Err(StorageError::Io {
            op: "name",
            location: root.join(name),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a valid object name"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
