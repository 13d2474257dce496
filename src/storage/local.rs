//! A local directory as [`Storage`]: files written through temp files,
//! fsynced, and published by link or rename.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{check_name, Listing, Storage, StorageError};

/// The suffix of the temp files writes go through.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// A directory of files on this machine.
///
/// Writes go to `.{name}.{pid}.tmp` beside the final name, are fsynced,
/// then linked (create: fails rather than replace) or renamed (put) into
/// place, and the directory is fsynced; directories are created as
/// needed. A crash leaves at most a temp file, which callers recognise
/// (a leading `.` and the `.tmp` suffix) and delete.
#[derive(Clone, Debug)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// The directory `root`, created if missing.
    pub fn create(root: &Path) -> Result<LocalDir, StorageError> {
        fs::create_dir_all(root).map_err(io_err("create directory", root))?;
        Ok(LocalDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory `root`, created only when something is written there.
    pub fn at(root: &Path) -> LocalDir {
        LocalDir {
            root: root.to_path_buf(),
        }
    }

    /// The existing directory `root`: a missing one, or a file, is an error.
    pub fn existing(root: &Path) -> Result<LocalDir, StorageError> {
        let meta = fs::metadata(root).map_err(io_err("open directory", root))?;
        if !meta.is_dir() {
            return Err(StorageError::Io {
                op: "open directory",
                location: root.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
            });
        }
        Ok(LocalDir {
            root: root.to_path_buf(),
        })
    }

    /// The path of `name`, its parent directory and its file name.
    fn paths(&self, name: &str) -> Result<(PathBuf, PathBuf, String), StorageError> {
        check_name(&self.root, name)?;
        let path = self.root.join(name);
        let (parent, file) = match name.rsplit_once('/') {
            Some((dir, file)) => (self.root.join(dir), file.to_owned()),
            None => (self.root.clone(), name.to_owned()),
        };
        Ok((path, parent, file))
    }

    /// Creates `parent` (and what is missing above it, up to the root),
    /// fsyncing each new directory's parent.
    fn ensure_dir(&self, parent: &Path) -> Result<(), StorageError> {
        if parent.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut at = parent;
        while !at.is_dir() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(p) => at = p,
                None => break,
            }
        }
        fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        for dir in missing.iter().rev() {
            if let Some(p) = dir.parent() {
                sync_dir(p).map_err(io_err("fsync directory", p))?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` to a fresh temp file beside `file` in `parent`, fsynced.
    fn write_temp(&self, parent: &Path, file: &str, bytes: &[u8]) -> Result<PathBuf, StorageError> {
        self.ensure_dir(parent)?;
        let temp = parent.join(format!(".{file}.{}{TEMP_SUFFIX}", std::process::id()));
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            });
        if let Err(e) = written {
            remove_best_effort(&temp);
            return Err(io_err("write", &temp)(e));
        }
        Ok(temp)
    }
}

impl Storage for LocalDir {
    fn root(&self) -> &Path {
        &self.root
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn create(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let (path, parent, file) = self.paths(name)?;
        let exists = || StorageError::AlreadyExists {
            location: path.clone(),
        };
        if fs::symlink_metadata(&path).is_ok() {
            return Err(exists());
        }
        let temp = self.write_temp(&parent, &file, bytes)?;
        // A hard link fails if the target exists, atomically; where links
        // are not supported, an existence check and a rename (safe with one
        // writer per name).
        let published = match fs::hard_link(&temp, &path) {
            Ok(()) => {
                remove_best_effort(&temp);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists()),
            Err(e) => {
                tracing::debug!(error = %e, "hard link failed; publishing by rename");
                if fs::symlink_metadata(&path).is_ok() {
                    Err(exists())
                } else {
                    fs::rename(&temp, &path).map_err(io_err("rename into", &path))
                }
            }
        };
        if let Err(e) = published {
            remove_best_effort(&temp);
            return Err(e);
        }
        sync_dir(&parent).map_err(io_err("fsync directory", &parent))
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let (path, parent, file) = self.paths(name)?;
        let temp = self.write_temp(&parent, &file, bytes)?;
        if let Err(e) = fs::rename(&temp, &path) {
            remove_best_effort(&temp);
            return Err(io_err("rename into", &path)(e));
        }
        sync_dir(&parent).map_err(io_err("fsync directory", &parent))
    }

    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        let (path, _, _) = self.paths(name)?;
        read_regular(&path, limit)
    }

    fn size(&self, name: &str) -> Result<u64, StorageError> {
        let (path, _, _) = self.paths(name)?;
        fs::symlink_metadata(&path)
            .map(|m| m.len())
            .map_err(not_found_or("read", &path))
    }

    fn list(&self, dir: &str) -> Result<Listing, StorageError> {
        let path = if dir.is_empty() {
            self.root.clone()
        } else {
            check_name(&self.root, dir)?;
            self.root.join(dir)
        };
        let read_dir = match fs::read_dir(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(io_err("read directory", &path)(e)),
        };
        let mut listing = Listing::default();
        for entry in read_dir {
            let entry = entry.map_err(io_err("read directory", &path))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(ty) = entry.file_type() else {
                continue;
            };
            if ty.is_dir() {
                listing.dirs.push(name);
            } else {
                let size = entry.metadata().map_or(0, |m| m.len());
                listing.files.push((name, size));
            }
        }
        listing.files.sort();
        listing.dirs.sort();
        Ok(listing)
    }

    fn delete(&self, name: &str) -> Result<(), StorageError> {
        let (path, _, _) = self.paths(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &path)(e)),
        }
    }
}

/// Reads a file without trusting it: it must be a regular file (never a
/// link, a FIFO that would block, or a device) of at most `limit` bytes.
fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, StorageError> {
    let failed = not_found_or("read", path);
    let not_regular = |kind| StorageError::NotRegular {
        location: path.to_path_buf(),
        kind,
    };
    let meta = fs::symlink_metadata(path).map_err(&failed)?;
    if let Some(kind) = irregular_kind(&meta.file_type()) {
        return Err(not_regular(kind));
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Swapped for a link or a FIFO since the check above: fail, don't block.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|err| {
        #[cfg(unix)]
        if err.raw_os_error() == Some(libc::ELOOP) {
            return not_regular("a symbolic link");
        }
        failed(err)
    })?;
    let meta = file.metadata().map_err(&failed)?;
    if let Some(kind) = irregular_kind(&meta.file_type()) {
        return Err(not_regular(kind));
    }
    let too_large = |size| StorageError::TooLarge {
        location: path.to_path_buf(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(&failed)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a file type is, if it is not a regular file.
fn irregular_kind(ty: &fs::FileType) -> Option<&'static str> {
    if ty.is_file() {
        return None;
    }
    if ty.is_symlink() {
        return Some("a symbolic link");
    }
    if ty.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ty.is_fifo() {
            return Some("a FIFO");
        }
        if ty.is_socket() {
            return Some("a socket");
        }
        if ty.is_block_device() || ty.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

/// Makes the directory's entries (a new or renamed file) durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Directories cannot be opened for fsync on this platform; renames are
/// made durable by the file system itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn remove_best_effort(path: &Path) {
    if let Err(err) = fs::remove_file(path) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %err, "cannot delete temp file");
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        location: path.to_path_buf(),
        source,
    }
}

fn not_found_or<'a>(op: &'static str, path: &'a Path) -> impl Fn(io::Error) -> StorageError + 'a {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            StorageError::NotFound {
                location: path.to_path_buf(),
            }
        } else {
            io_err(op, path)(source)
        }
    }
}
