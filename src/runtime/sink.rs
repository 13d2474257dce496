//! Sinks' durable-commit logic, without Timely: a [`BlockWriter`] takes
//! the blocks of an epoch and commits them when the epoch completes; the
//! position it returns goes into that epoch's snapshot. [`FileWriter`] is
//! the exactly-once output file. The Timely operator that feeds them
//! (`timely-connect-operators`' `ExactlyOnceBytesSink`) orders blocks by
//! epoch on worker 0 and emits the position as its checkpoint part.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::data::OffsetValue;
use crate::snapshot::lock_exclusive;

/// Why a sink could not write or commit: names the file and what failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An I/O operation on the output failed.
    #[error("output file {}: {op}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`write`, `fsync`, …).
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The file is shorter than the restored snapshot says it was.
    #[error(
        "output file {}: it holds {holds} bytes but the snapshot recorded {recorded}; it was truncated or replaced since",
        path.display()
    )]
    Shorter {
        /// The file.
        path: PathBuf,
        /// Its length now.
        holds: u64,
        /// The length the snapshot recorded.
        recorded: u64,
    },
    /// Another process holds the output.
    #[error("{0}")]
    Locked(String),
    /// Anything else a sink reports (standard output closed, …).
    #[error("{0}")]
    Other(String),
}

impl SinkError {
    /// An I/O error on `path` while doing `op`.
    pub fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        SinkError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// Where a sink's bytes go: blocks appended in epoch order, committed when
/// an epoch completes. The position a commit returns is what the snapshot
/// of that epoch records for the sink, and what it is opened with on
/// restore.
pub trait BlockWriter {
    /// The sink's name in snapshots.
    fn name(&self) -> &str;
    /// Appends a block.
    fn write_block(&mut self, block: &[u8]) -> Result<(), SinkError>;
    /// Makes everything written durable (or delivered); the new position
    /// to record in the snapshot if it moved.
    fn commit(&mut self) -> Result<Option<OffsetValue>, SinkError>;
}

/// An output file written exactly once across crashes: blocks are
/// appended through a large buffer, a commit flushes and fsyncs and returns
/// `{"path": …, "length": …}`, and opening it with a restored position
/// truncates whatever a crashed run wrote after that position (refusing a
/// file shorter than the position: it was truncated or replaced). The file
/// is locked while open, so a second job cannot interleave its lines.
///
/// ```
/// use timely_connect::runtime::sink::{BlockWriter, FileWriter};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// let mut w = FileWriter::open(&path, "output", None).unwrap();
/// w.write_block(b"a\nb\n").unwrap();
/// let position = w.commit().unwrap().unwrap();   // durable: in the snapshot
/// w.write_block(b"lost\n").unwrap();            // a crash before the commit
/// drop(w);
/// let w = FileWriter::open(&path, "output", Some(&position)).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"a\nb\n");
/// ```
pub struct FileWriter {
    name: String,
    path: PathBuf,
    out: BufWriter<File>,
    position: u64,
    committed: u64,
    /// Where the writeback thread was last told to write up to.
    written_back: u64,
    /// Tells the writeback thread how far the file has been handed to the
    /// kernel; dropped with the writer, which ends the thread.
    writeback: Option<Writeback>,
}

/// The writeback thread's end of a [`FileWriter`].
struct Writeback {
    ranges: std::sync::mpsc::Sender<(u64, u64)>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for FileWriter {
    /// Ends the writeback thread and waits for it: it holds a clone of the
    /// file, and with it the file's lock, which must be free once the
    /// writer is gone.
    fn drop(&mut self) {
        if let Some(Writeback { ranges, thread }) = self.writeback.take() {
            drop(ranges);
            let _ = thread.join();
        }
    }
}

/// Every this many bytes appended, a background thread asks the kernel to
/// write them to disk (Linux `sync_file_range`), so the `fsync` at a
/// commit finds little left to do: the commit's latency follows the bytes
/// of the last few milliseconds, not of the whole epoch, and the worker
/// never waits for the disk in between.
pub const WRITEBACK_STEP: u64 = 8 << 20;

/// Starts the thread that writes `file`'s ranges back as they arrive.
fn writeback_thread(file: &File, path: &Path) -> Option<Writeback> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        let file = file.try_clone().ok()?;
        let path = path.to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel::<(u64, u64)>();
        let thread = std::thread::Builder::new()
            .name("writeback".to_owned())
            .spawn(move || {
                for (from, to) in rx {
                    // SAFETY: a plain syscall on a file descriptor this thread
                    // owns (a clone of the writer's); no memory is passed.
                    let rc = unsafe {
                        libc::sync_file_range(
                            file.as_raw_fd(),
                            from as libc::off64_t,
                            (to - from) as libc::off64_t,
                            libc::SYNC_FILE_RANGE_WRITE,
                        )
                    };
                    if rc != 0 {
                        // Only a hint: the commit's fsync is what counts.
                        tracing::debug!(file = %path.display(), error = %std::io::Error::last_os_error(), "sync_file_range failed");
                    }
                }
            })
            .ok()?;
        Some(Writeback { ranges: tx, thread })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, path);
        None
    }
}

impl FileWriter {
    /// Opens (creating) the file at `path` for the sink `name`, cut back
    /// to `restored`'s length (a fresh file when `None`).
    pub fn open(
        path: &Path,
        name: &str,
        restored: Option<&OffsetValue>,
    ) -> Result<Self, SinkError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(path)
            .map_err(|e| SinkError::io(path, "cannot open", e))?;
        // Held while the file is open: a second job writing here would
        // interleave with this one.
        lock_exclusive(&file, path, "output file").map_err(|e| SinkError::Locked(e.to_string()))?;
        let existing = file
            .metadata()
            .map_err(|e| SinkError::io(path, "metadata", e))?
            .len();
        let restored_len = restored.and_then(|v| match v {
            OffsetValue::Map(m) => m
                .get("length")
                .and_then(|l| l.as_i64())
                .map(|l| (l, m.get("path").cloned())),
            _ => None,
        });
        let keep = match restored_len {
            Some((len, recorded_path)) => {
                let here = OffsetValue::String(path.display().to_string());
                if recorded_path.as_ref() != Some(&here) {
                    warn!(file = %path.display(), "the snapshot's output was another file; continuing this one from its restored length");
                }
                let len = len.max(0) as u64;
                if existing < len {
                    return Err(SinkError::Shorter {
                        path: path.to_path_buf(),
                        holds: existing,
                        recorded: len,
                    });
                }
                len
            }
            None => 0,
        };
        if existing != keep {
            info!(file = %path.display(), from = existing, to = keep, "truncating output to the snapshot's committed length");
        }
        file.set_len(keep)
            .map_err(|e| SinkError::io(path, "cannot truncate", e))?;
        file.sync_all()
            .map_err(|e| SinkError::io(path, "fsync", e))?;
        let writeback = writeback_thread(&file, path);
        let mut out = BufWriter::with_capacity(1 << 20, file);
        use std::io::Seek;
        out.seek(std::io::SeekFrom::Start(keep))
            .map_err(|e| SinkError::io(path, "seek", e))?;
        Ok(FileWriter {
            name: name.to_owned(),
            path: path.to_path_buf(),
            out,
            position: keep,
            committed: keep,
            written_back: keep,
            writeback,
        })
    }
}

impl BlockWriter for FileWriter {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_block(&mut self, block: &[u8]) -> Result<(), SinkError> {
        self.out
            .write_all(block)
            .map_err(|e| SinkError::io(&self.path, "write", e))?;
        self.position += block.len() as u64;
        if self.position - self.written_back >= WRITEBACK_STEP {
            let in_kernel = self.position - self.out.buffer().len() as u64;
            if let Some(w) = &self.writeback {
                if in_kernel > self.written_back
                    && w.ranges.send((self.written_back, in_kernel)).is_ok()
                {
                    self.written_back = in_kernel;
                }
            }
        }
        Ok(())
    }

    /// Flushes and fsyncs; the new committed position if it moved.
    fn commit(&mut self) -> Result<Option<OffsetValue>, SinkError> {
        if self.position == self.committed {
            return Ok(None);
        }
        self.out
            .flush()
            .map_err(|e| SinkError::io(&self.path, "flush", e))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|e| SinkError::io(&self.path, "fsync", e))?;
        self.committed = self.position;
        let mut m = BTreeMap::new();
        m.insert(
            "path".to_owned(),
            OffsetValue::String(self.path.display().to_string()),
        );
        m.insert("length".to_owned(), OffsetValue::Int(self.committed as i64));
        Ok(Some(OffsetValue::Map(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(position: &OffsetValue) -> Option<i64> {
        match position {
            OffsetValue::Map(m) => m.get("length").and_then(OffsetValue::as_i64),
            _ => None,
        }
    }

    #[test]
    fn a_commit_is_durable_and_a_restore_cuts_what_came_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut w = FileWriter::open(&path, "output", None).unwrap();
        assert_eq!(w.name(), "output");
        assert!(
            w.commit().unwrap().is_none(),
            "nothing written, nothing to record"
        );
        w.write_block(b"one\n").unwrap();
        w.write_block(b"two\n").unwrap();
        let first = w.commit().unwrap().expect("moved");
        assert_eq!(length(&first), Some(8));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"one\ntwo\n",
            "on disk at commit"
        );
        w.write_block(b"three\n").unwrap();
        let second = w.commit().unwrap().expect("moved");
        assert_eq!(length(&second), Some(14));
        w.write_block(b"uncommitted\n").unwrap();
        drop(w);

        // Restoring the first snapshot cuts the file back to its length,
        // and writing goes on from there.
        let mut w = FileWriter::open(&path, "output", Some(&first)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        w.write_block(b"again\n").unwrap();
        let third = w.commit().unwrap().expect("moved");
        assert_eq!(length(&third), Some(14));
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\nagain\n");

        // No snapshot: a fresh file.
        drop(FileWriter::open(&path, "output", None).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn a_file_shorter_than_its_snapshot_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut w = FileWriter::open(&path, "output", None).unwrap();
        w.write_block(b"0123456789").unwrap();
        let position = w.commit().unwrap().expect("moved");
        drop(w);
        std::fs::write(&path, b"01234").unwrap();
        let err = FileWriter::open(&path, "output", Some(&position))
            .err()
            .expect("refused");
        assert!(matches!(
            err,
            SinkError::Shorter {
                holds: 5,
                recorded: 10,
                ..
            }
        ));
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), b"01234", "left as it was");
    }

    #[test]
    fn a_second_writer_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let _first = FileWriter::open(&path, "output", None).unwrap();
        let err = FileWriter::open(&path, "output", None)
            .err()
            .expect("locked");
        assert!(matches!(err, SinkError::Locked(_)), "{err}");
    }

    #[test]
    fn after_writeback_the_file_is_free_once_its_writer_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let block = vec![b'x'; 1 << 20];
        for round in 0..5 {
            let mut w = FileWriter::open(&path, "output", None).unwrap();
            // Past a few writeback steps, so the thread has ranges queued.
            for _ in 0..(3 * WRITEBACK_STEP as usize / block.len()) {
                w.write_block(&block).unwrap();
            }
            assert!(w.written_back > 0, "round {round}: writeback was asked for");
            drop(w);
            // The thread's clone of the file, and its lock, are gone too.
            let again = FileWriter::open(&path, "output", None);
            assert!(again.is_ok(), "round {round}: {:?}", again.err());
        }
    }
}
